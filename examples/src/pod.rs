//! A "pod" for tests and benchmarks: a program alone in its own pid and mount
//! namespaces with a private `/tmp`, as a container runtime would start it. Needs
//! root and `unshare` (util-linux).

use std::path::Path;
use std::time::{Duration, Instant};

/// The `unshare` arguments that run `program` as pid 1 of a new pid namespace, with
/// its own mount namespace, `/proc` and an empty `/tmp` (but for `program`'s own
/// directory, see `private_tmp_keeping`).
pub fn unshare_args(program: &Path) -> Vec<String> {
    let directory = program.parent().unwrap_or(Path::new("/"));
    let then = format!("{} && exec /proc/self/fd/3", private_tmp_keeping(directory));
    unshare_args_then(program, &then)
}

/// A shell command that mounts an empty `/tmp` in the current mount namespace. When
/// `keep` (the directory of the binaries) lies under `/tmp`, as in a checkout there, it
/// is opened first and bound back at the same path, so `attach` next to the worker (the
/// `stacks()` helper) and the binaries run inside the namespace stay where they were.
/// `--no-canonicalize`: mount would otherwise resolve the descriptor's path in the new
/// `/tmp`.
pub fn private_tmp_keeping(keep: &Path) -> String {
    let mount = "mount -t tmpfs tmpfs /tmp";
    if !keep.starts_with("/tmp") {
        return mount.to_owned();
    }
    let keep = keep.display();
    format!(
        "exec 4< '{keep}' && {mount} && mkdir -p '{keep}' \
         && mount --no-canonicalize --bind /proc/self/fd/4 '{keep}' && exec 4<&-"
    )
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
