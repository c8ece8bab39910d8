//! A throwaway OpenSSH server for tests and benchmarks of `attach --ssh`/`--via ssh`.
//!
//! Everything lives in a temporary directory: a fresh host key, a fresh client key
//! authorised for the current user, the sshd config, and an ssh_config in which any
//! host alias leads to this server (`ssh -F <ssh_config> web1`), host key checked
//! against a known_hosts file written here. Nothing outside that directory is read
//! or changed except `/run/sshd`, which sshd insists on. The server runs in the
//! foreground (`-D -e`) and is killed on drop.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running sshd on a loopback port.
pub struct Sshd {
    child: Child,
    dir: PathBuf,
    /// An ssh_config: every alias reaches this server, except those given to `start`
    /// as unreachable, which lead to a closed loopback port.
    pub ssh_config: PathBuf,
    pub port: u16,
}

/// The sshd binary, if installed (Debian: openssh-server).
pub fn sshd_program() -> Option<PathBuf> {
    ["/usr/sbin/sshd", "/usr/bin/sshd", "/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

impl Sshd {
    /// Starts a server in a new directory under `parent`; `unreachable` aliases get a
    /// port nothing listens on. Err says what is missing.
    pub fn start(parent: &Path, unreachable: &[&str]) -> Result<Sshd, String> {
        let program =
            sshd_program().ok_or("sshd is not installed (apt-get install openssh-server)")?;
        let dir = parent.join(format!("sshd-{}-{}", std::process::id(), next()));
        std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        keygen(&dir.join("host_key"))?;
        keygen(&dir.join("id"))?;
        copy(&dir.join("id.pub"), &dir.join("authorized_keys"))?;
        std::fs::create_dir_all("/run/sshd").map_err(|err| format!("/run/sshd: {err}"))?;
        let mut last_error = String::new();
        // A free port can be taken between our probe and sshd's bind: try a few.
        for _ in 0..5 {
            let port = free_port();
            let config = dir.join("sshd_config");
            write(&config, &sshd_config(&dir, port))?;
            let mut child = Command::new(&program)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|err| format!("cannot start {}: {err}", program.display()))?;
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    let ssh_config = dir.join("ssh_config");
                    write(&ssh_config, &ssh_config_text(&dir, port, unreachable)?)?;
                    return Ok(Sshd {
                        child,
                        dir,
                        ssh_config,
                        port,
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let output = child.wait_with_output().map_err(|err| err.to_string())?;
            last_error = String::from_utf8_lossy(&output.stderr).into_owned();
        }
        Err(format!("sshd did not start: {last_error}"))
    }

    /// `ssh -F <ssh_config>`: the transport template prefix for `--via`.
    pub fn via(&self) -> String {
        format!("ssh -F {}", self.ssh_config.display())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn next() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

fn keygen(path: &Path) -> Result<(), String> {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "attach-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .map_err(|err| format!("cannot run ssh-keygen (apt-get install openssh-client): {err}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("ssh-keygen failed: {status}"))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|err| format!("{}: {err}", path.display()))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|err| format!("{}: {err}", from.display()))
}

fn sshd_config(dir: &Path, port: u16) -> String {
    // StrictModes is off because the keys live in a temporary directory, whose
    // parents (/tmp) are world-writable; the files themselves are ours alone.
    format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\n\
         AuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nPidFile none\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
         PermitRootLogin prohibit-password\nUsePAM no\nPrintMotd no\nLogLevel ERROR\n\
         MaxStartups 100:30:200\nMaxSessions 100\n",
        dir = dir.display()
    )
}

fn ssh_config_text(dir: &Path, port: u16, unreachable: &[&str]) -> Result<String, String> {
    let host_key = std::fs::read_to_string(dir.join("host_key.pub"))
        .map_err(|err| format!("host_key.pub: {err}"))?;
    write(
        &dir.join("known_hosts"),
        &format!("[127.0.0.1]:{port} {host_key}"),
    )?;
    let closed = free_port();
    let mut text = String::new();
    for alias in unreachable {
        text.push_str(&format!("Host {alias}\n  Port {closed}\n"));
    }
    text.push_str(&format!(
        "Host *\n  HostName 127.0.0.1\n  Port {port}\n  IdentityFile {dir}/id\n  IdentitiesOnly yes\n  \
         UserKnownHostsFile {dir}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  \
         StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 10\n  LogLevel ERROR\n",
        dir = dir.display()
    ));
    Ok(text)
}
