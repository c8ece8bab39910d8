//! `stacks()`: every thread's stack, read from outside the process by a helper.
//!
//! A process cannot ptrace its own threads, and walking another thread's stack from
//! inside would take a signal to it, which request threads must never see. So the
//! agent starts a helper, the `attach` binary as `attach __stacks <pid> <ms>`, which
//! stops one thread at a time with ptrace, unwinds it with DWARF CFI and names the
//! frames (crate `attach-unwind`). Nothing else is needed: no debugger, no shell, no
//! C library. Re-executing the host's own binary is not possible (its `main` is not
//! ours), hence a separate binary, found in this order:
//! 1. `ATTACH_STACKS_HELPER` in the worker's environment (a path);
//! 2. `attach` in the directory of the worker's executable (ship them side by side);
//! 3. `attach` on the worker's PATH.
//!
//! The helper runs with the worker's privileges and may trace it, so it must be as
//! trustworthy as the worker's own binary: the file and its directory must belong to
//! root or the worker's user and be writable by nobody else (a PATH entry another user
//! can write to would otherwise hand them the worker). Under Yama ptrace scope 1
//! only ancestors may trace, so the helper waits on its stdin until the agent has
//! named it as its tracer (`PR_SET_PTRACER`). The helper gets the time left before
//! the command's deadline and is killed at that deadline; the kernel then detaches
//! any thread it held, so no thread is ever left stopped.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use attach_protocol::framing::wait_for;
use attach_protocol::stacks::{HelperReply, ThreadStack, HELPER_SUBCOMMAND};
use nix::poll::PollFlags;

/// Path of the stack helper (an `attach` binary), when it is not next to the
/// worker's executable or on its PATH.
pub(crate) const STACKS_HELPER_ENV: &str = "ATTACH_STACKS_HELPER";

/// The helper's name beside the executable or on the PATH.
const HELPER_NAME: &str = "attach";

/// More than any real snapshot (64 threads of 256 frames are about 4 MiB).
const MAX_OUTPUT: usize = 32 * 1024 * 1024;

pub(crate) fn stacks(deadline: Instant) -> Result<Vec<ThreadStack>, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(time_is_up());
    }
    let helper = find_helper()?;
    trusted(&helper)?;
    let output = run_helper(&helper, left.as_millis(), deadline)?;
    match serde_json::from_slice(&output) {
        Ok(HelperReply::Threads(threads)) => Ok(threads),
        Ok(HelperReply::Error(why)) => Err(format!("stacks(): {why}")),
        Err(_) => Err(format!(
            "stacks(): the helper {} did not answer with a stack snapshot; is it an `attach` \
             binary of this version? Point {STACKS_HELPER_ENV} at one",
            helper.display()
        )),
    }
}

fn time_is_up() -> String {
    "stacks() ran out of the command's time limit; the helper was stopped and no thread \
     is left paused (raise Limits::command_timeout, or call stacks() less often)"
        .to_owned()
}

fn find_helper() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(STACKS_HELPER_ENV) {
        let path = PathBuf::from(path);
        return is_executable(&path).then_some(path.clone()).ok_or_else(|| {
            format!(
                "{STACKS_HELPER_ENV}={} is not an executable file; point it at the `attach` binary",
                path.display()
            )
        });
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(HELPER_NAME)));
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(HELPER_NAME))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    beside
        .iter()
        .chain(&on_path)
        .find(|path| is_executable(path))
        .cloned()
        .ok_or_else(|| {
            format!(
                "stacks() reads the threads through the `attach` binary and found none: set \
                 {STACKS_HELPER_ENV}=/path/to/attach in the worker's environment, or install \
                 `attach` next to the worker's executable{} or on its PATH",
                beside
                    .as_ref()
                    .and_then(|path| path.parent())
                    .map(|dir| format!(" (in {})", dir.display()))
                    .unwrap_or_default()
            )
        })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The helper and its directory belong to root or this process's user, and nobody
/// else may write to them.
fn trusted(helper: &Path) -> Result<(), String> {
    let real = std::fs::canonicalize(helper).map_err(|err| {
        format!(
            "stacks(): cannot resolve the helper {}: {err}",
            helper.display()
        )
    })?;
    let euid = nix::unistd::geteuid().as_raw();
    for path in [real.as_path(), real.parent().unwrap_or(Path::new("/"))] {
        let meta = std::fs::metadata(path)
            .map_err(|err| format!("stacks(): cannot inspect {}: {err}", path.display()))?;
        if meta.uid() != 0 && meta.uid() != euid {
            return Err(format!(
                "stacks(): refusing the helper {}: {} belongs to uid {}, not to root or this                  worker's user (uid {euid}); install `attach` where only they can write",
                helper.display(),
                path.display(),
                meta.uid()
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!(
                "stacks(): refusing the helper {}: {} can be written by other users                  (mode {:o}); install `attach` where only root or the worker's user can write",
                helper.display(),
                path.display(),
                meta.mode() & 0o7777
            ));
        }
    }
    Ok(())
}

/// Starts the helper, lets it trace us, and returns what it printed.
fn run_helper(helper: &Path, left_ms: u128, deadline: Instant) -> Result<Vec<u8>, String> {
    let mut child = Command::new(helper)
        .arg(HELPER_SUBCOMMAND)
        .arg(std::process::id().to_string())
        .arg(left_ms.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| {
            format!(
                "stacks(): cannot start the helper {}: {err}",
                helper.display()
            )
        })?;
    allow_tracer(child.id());
    // Writing the go-ahead and closing stdin: the helper starts either way.
    if let Some(mut go) = child.stdin.take() {
        let _ = go.write_all(b"g");
    }
    let output = read_until(child.stdout.take(), deadline);
    if output.is_err() {
        let _ = child.kill();
    }
    // The host may reap children itself (a SIGCHLD handler): then there is nothing
    // left to wait for, which is fine.
    let _ = child.wait();
    allow_tracer(0);
    output
}

/// Names `pid` as the process allowed to ptrace us (0: nobody beyond the default).
fn allow_tracer(pid: u32) {
    // SAFETY: prctl(PR_SET_PTRACER) takes two integers and touches no memory of ours.
    // It fails harmlessly (EINVAL) on kernels without Yama.
    unsafe {
        nix::libc::prctl(
            nix::libc::PR_SET_PTRACER,
            pid as nix::libc::c_ulong,
            0,
            0,
            0,
        )
    };
}

fn read_until(
    stdout: Option<std::process::ChildStdout>,
    deadline: Instant,
) -> Result<Vec<u8>, String> {
    let mut stdout = stdout.ok_or("stacks(): the helper has no output pipe")?;
    let mut output = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        wait_for(stdout.as_fd(), PollFlags::POLLIN, deadline).map_err(|_| time_is_up())?;
        match stdout.read(&mut chunk) {
            Ok(0) => return Ok(output),
            Ok(n) if output.len() + n <= MAX_OUTPUT => output.extend_from_slice(&chunk[..n]),
            Ok(_) => return Err("stacks(): the helper printed more than 32 MiB".to_owned()),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(format!("stacks(): cannot read the helper's answer: {err}")),
        }
    }
}
