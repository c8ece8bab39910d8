//! A "pod" for tests and benchmarks: a program alone in its own pid and mount
//! namespaces with a private `/tmp`, as a container runtime would start it. Needs
//! root and `unshare` (util-linux).

use std::path::Path;
use std::time::{Duration, Instant};

/// The `unshare` arguments that run `program` as pid 1 of a new pid namespace, with
/// its own mount namespace, `/proc` and an empty `/tmp`.
pub fn unshare_args(program: &Path) -> Vec<String> {
    unshare_args_then(program, "mount -t tmpfs tmpfs /tmp && exec /proc/self/fd/3")
}

/// The `unshare` arguments that, in a new pid and mount namespace with its own
/// `/proc`, open `program` as fd 3 and then run the shell command `then` (which
/// ends by exec'ing `/proc/self/fd/3`, the way it sees it).
pub fn unshare_args_then(program: &Path, then: &str) -> Vec<String> {
    // The binary may itself live under /tmp (a checkout there): open it before a
    // private /tmp hides it, and exec it through the open descriptor.
    let script = format!("exec 3< '{}' && {then}", program.display());
    [
        "--pid",
        "--mount",
        "--fork",
        "--mount-proc",
        "sh",
        "-c",
        &script,
    ]
    .map(String::from)
    .to_vec()
}

/// The pid (as we see it) of the first child of `parent`: the program `unshare`
/// started. None if none appeared within `wait`.
pub fn child_of(parent: u32, wait: Duration) -> Option<u32> {
    let deadline = Instant::now() + wait;
    loop {
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        if let Some(pid) = children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
        {
            return Some(pid);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
