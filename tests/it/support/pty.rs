//! Drives a program through a real pseudo-terminal, as a person at a keyboard would.
//!
//! The program gets the PTY as its controlling terminal. A reader thread collects
//! everything it writes and answers the cursor-position query line editors send
//! (`ESC [6n`), as a terminal emulator would.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::pty::{openpty, Winsize};

use super::{wait_child, WAIT};

pub struct Pty {
    child: Child,
    input: File,
    screen: Arc<Mutex<Vec<u8>>>,
    /// How much of `screen` earlier `expect` calls have consumed.
    cursor: usize,
}

impl Pty {
    pub fn spawn(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Pty {
        let size = Winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(&size, None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let mut command = Command::new(program);
        command
            .args(args)
            .env("TERM", "xterm")
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: between fork and exec the child only calls setsid(2) and ioctl(2),
        // both async-signal-safe, to make the PTY its controlling terminal.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid()?;
                if nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("start the program on a PTY");
        let master = File::from(pty.master);
        let input = master.try_clone().unwrap();
        let screen = Arc::new(Mutex::new(Vec::new()));
        let collected = screen.clone();
        std::thread::spawn(move || collect(master, collected));
        Pty {
            child,
            input,
            screen,
            cursor: 0,
        }
    }

    /// Types `keys` (use `\r` for Enter, `\t` for Tab, `\x03` Ctrl-C, `\x04` Ctrl-D).
    pub fn send(&mut self, keys: &str) {
        self.input
            .write_all(keys.as_bytes())
            .expect("type into the PTY");
    }

    /// Waits until `needle` appears after what earlier calls consumed; returns the
    /// text up to and including it.
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen =
                String::from_utf8_lossy(&self.screen.lock().unwrap()[self.cursor..]).into_owned();
            if let Some(at) = screen.find(needle) {
                let end = at + needle.len();
                self.cursor += screen[..end].len();
                return screen[..end].to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} did not appear within {WAIT:?}; \
                 the screen after the last match:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// True while the terminal is in a line editor's raw mode (no canonical input).
    pub fn is_raw(&self) -> bool {
        let settings = nix::sys::termios::tcgetattr(&self.input).expect("terminal settings");
        !settings
            .local_flags
            .contains(nix::sys::termios::LocalFlags::ICANON)
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_child(&mut self.child).expect("the program exited in time")
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(mut master: File, screen: Arc<Mutex<Vec<u8>>>) {
    let mut answer = master.try_clone().ok();
    let mut chunk = [0u8; 4096];
    // Reading fails with EIO once the program has exited and closed the terminal.
    while let Ok(n @ 1..) = master.read(&mut chunk) {
        screen.lock().unwrap().extend_from_slice(&chunk[..n]);
        let asks = chunk[..n].windows(4).filter(|w| w == b"\x1b[6n").count();
        for _ in 0..asks {
            if let Some(terminal) = answer.as_mut() {
                let _ = terminal.write_all(b"\x1b[1;1R");
            }
        }
    }
}
