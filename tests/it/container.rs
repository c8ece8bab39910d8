//! A worker in its own pid and mount namespaces, with a private /tmp, attached from
//! the host by its host pid; a client in a mount namespace of its own that shares
//! only the worker's pid namespace (`kubectl debug --target`); and a chrooted one whose `/tmp` is a symlink to a host
//! directory, which attach must never touch. Needs root, `unshare` and `chroot`
//! (util-linux, coreutils), as CI has.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use attach_protocol::ProcStatus;

use attach_examples::pod;

use crate::support::pod::{fixture_pod, fixture_pod_then};
use crate::support::{attach, attach_bin, run_bounded, unique, OpenSession, Run, Worker};

#[test]
fn a_worker_in_its_own_namespaces_is_attached_by_its_host_pid() {
    let (_container, host_pid) = fixture_pod();
    let status = ProcStatus::of_pid(host_pid).unwrap();
    assert_eq!(status.namespaced_pid(), Some(1), "{status:?}");
    let run = attach(&[&host_pid.to_string()], "pid()\ncounter\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        ["1", "7"],
        "the agent sees itself as pid 1"
    );
    assert!(
        !std::path::Path::new(&format!("/tmp/{host_pid}.pipe")).exists()
            && !std::path::Path::new("/tmp/1.pipe").exists(),
        "the FIFOs live in the container's /tmp"
    );
    let listed = attach(&["--list", "--json"], "");
    assert!(
        listed.stdout.contains(&format!("\"pid\":{host_pid}")),
        "{listed:?}"
    );
}

#[test]
fn a_caller_without_rights_is_told_why() {
    let (_container, host_pid) = fixture_pod();
    let output = Command::new(crate::support::attach_bin())
        .args([&host_pid.to_string(), "-e", "1"])
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("runs as uid 0") && stderr.contains("or as root"),
        "{stderr}"
    );
}

#[test]
fn stacks_inside_the_container_are_read_with_its_own_pids() {
    let (_container, host_pid) = fixture_pod();
    let run = attach(
        &[
            &host_pid.to_string(),
            "--json",
            "-e",
            "stacks().map(|t| t.tid)",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{run:?}");
    let document: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let tids = document["value"].as_array().unwrap();
    assert!(tids.contains(&serde_json::json!(1)), "{run:?}");
}

/// A root directory for `chroot`: the host's /usr bound in, and `tmp` as the test
/// makes it. `victim` is a host directory the container's `tmp` may point at; inside
/// the root, the same absolute path is a sticky directory of the container's own.
struct Jail {
    root: PathBuf,
    victim: PathBuf,
}

impl Jail {
    fn new() -> Jail {
        let tag = format!("{}-{}", std::process::id(), unique());
        let root = std::env::temp_dir().join(format!("attach-jail-{tag}"));
        let victim = PathBuf::from(format!("/var/tmp/attach-victim-{tag}"));
        for dir in ["proc", "usr", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for link in ["lib", "lib64", "bin", "sbin"] {
            if let Ok(target) = std::fs::read_link(Path::new("/").join(link)) {
                symlink(target, root.join(link)).unwrap();
            }
        }
        let inner_victim = root.join(victim.strip_prefix("/").unwrap());
        for dir in [&root.join("tmp"), &inner_victim, &victim] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        }
        Jail { root, victim }
    }

    /// Makes the container's `/tmp` an absolute symlink to the victim's path.
    fn point_tmp_at_the_host(&self) {
        let tmp = self.root.join("tmp");
        if tmp.is_dir() {
            std::fs::rename(&tmp, self.root.join("tmp-before")).unwrap();
        }
        symlink(&self.victim, tmp).unwrap();
    }

    /// Plants what a careless root would remove or use: a request FIFO of the
    /// container's pid 1 that looks stale, one of its reply FIFOs, and a file.
    fn plant_decoys(&self) -> Vec<String> {
        let token = attach_protocol::Token::generate().unwrap();
        let paths = attach_protocol::FifoPaths::for_pid(1);
        for name in [paths.request_name(), paths.reply_name(&token)] {
            nix::unistd::mkfifo(&self.victim.join(name), nix::sys::stat::Mode::S_IRWXU).unwrap();
        }
        std::fs::write(self.victim.join("precious"), b"keep").unwrap();
        self.victim_contents()
    }

    fn victim_contents(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.victim)
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The fixture worker chrooted here, in its own pid and mount namespaces; the
    /// `unshare` process and the worker's host pid.
    fn start(&self) -> (Worker, u32) {
        let root = self.root.display();
        fixture_pod_then(&format!(
            "mount --rbind /usr '{root}/usr' && mount -t proc proc '{root}/proc' \
             && exec chroot '{root}' /proc/self/fd/3"
        ))
    }
}

impl Drop for Jail {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_dir_all(&self.victim);
    }
}

fn refuses_the_symlink(host_pid: u32) {
    let run = attach(&[&host_pid.to_string(), "-e", "1"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!("/proc/{host_pid}/root/tmp"))
            && run.stderr.contains("symbolic link"),
        "{run:?}"
    );
}

#[test]
fn a_container_tmp_that_links_to_the_host_is_refused_and_the_host_dir_untouched() {
    let jail = Jail::new();
    jail.point_tmp_at_the_host();
    let before = jail.plant_decoys();
    let (_worker, host_pid) = jail.start();
    refuses_the_symlink(host_pid);
    assert_eq!(jail.victim_contents(), before);
}

#[test]
fn a_container_tmp_swapped_for_a_link_mid_session_never_redirects_the_session() {
    let jail = Jail::new();
    let (_worker, host_pid) = jail.start();
    let mut session = OpenSession::start(host_pid);
    jail.point_tmp_at_the_host();
    let before = jail.plant_decoys();
    assert_eq!(session.ask("counter").as_deref(), Some("7"));
    assert_eq!(session.finish().and_then(|s| s.code()), Some(0));
    refuses_the_symlink(host_pid);
    assert_eq!(jail.victim_contents(), before);
    let left: Vec<_> = std::fs::read_dir(jail.root.join("tmp-before"))
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("1."))
        .collect();
    assert!(
        left.is_empty(),
        "the session cleaned up where it made its FIFOs: {left:?}"
    );
}

/// As uid 65534 (nobody), with no capabilities.
const AS_NOBODY: [&str; 4] = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"];

/// Runs attach in a mount namespace (and /tmp) of its own, in our pid namespace: what
/// `kubectl debug --target` gives; through `setpriv ARGS` when `setpriv` is not empty.
fn attach_from_own_mount_namespace(pid: u32, setpriv: &[&str]) -> Run {
    let drop = if setpriv.is_empty() {
        String::new()
    } else {
        format!("setpriv {}", setpriv.join(" "))
    };
    let attach = attach_bin();
    let private_tmp = pod::private_tmp_keeping(attach.parent().unwrap());
    let script = format!(
        "{private_tmp} && exec {drop} '{}' {pid} -e 'counter * 3'",
        attach.display()
    );
    let mut command = Command::new("unshare");
    command.args(["--mount", "sh", "-c", &script]);
    run_bounded(command, "")
}

#[test]
fn a_client_sharing_only_the_pid_namespace_attaches_by_pid() {
    let worker = Worker::fixture(&[]);
    let run = attach_from_own_mount_namespace(worker.pid, &[]);
    assert_eq!((run.code, run.stdout.trim()), (0, "21"), "{run:?}");
    assert!(
        worker.leftover_fifos().is_empty(),
        "{:?}",
        worker.leftover_fifos()
    );
}

/// The same client under the `restricted` Pod Security level: the worker's own uid,
/// not root, no capabilities (so no CAP_SYS_PTRACE): still allowed, as docs/FLEET.md says.
#[test]
fn a_client_sharing_only_the_pid_namespace_needs_only_the_workers_uid() {
    let mut args = AS_NOBODY.to_vec();
    args.push(env!("CARGO_BIN_EXE_fixture-worker"));
    let worker = Worker::start("setpriv".into(), &args);
    assert_eq!(worker.first_line, "ready");
    let run = attach_from_own_mount_namespace(worker.pid, &AS_NOBODY);
    assert_eq!((run.code, run.stdout.trim()), (0, "21"), "{run:?}");
    assert!(worker.leftover_fifos().is_empty());
    // Root without CAP_SYS_PTRACE (a debug container's default) is kept out by the
    // kernel, and told what would let it in.
    let no_ptrace = ["--bounding-set=-sys_ptrace", "--"];
    let run = attach_from_own_mount_namespace(worker.pid, &no_ptrace);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("CAP_SYS_PTRACE") && run.stderr.contains("worker's uid"),
        "{run:?}"
    );
}
