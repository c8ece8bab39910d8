//! The fixture worker in a "pod": its own pid and mount namespaces with a private
//! `/tmp` (see `attach_examples::pod`), reached by its host pid. Needs root and
//! `unshare`, as CI has.

use std::path::PathBuf;

use attach_examples::pod;

use super::{Worker, WAIT};

/// The running pod (the `unshare` process, killed with its group on drop) and the
/// worker's pid as the host sees it.
pub fn fixture_pod() -> (Worker, u32) {
    running(pod::unshare_args(&fixture()))
}

/// A pod whose shell runs `then` (see `pod::unshare_args_then`) instead of mounting a
/// private `/tmp`: for tests that build the worker's root themselves.
pub fn fixture_pod_then(then: &str) -> (Worker, u32) {
    running(pod::unshare_args_then(&fixture(), then))
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fixture-worker"))
}

fn running(args: Vec<String>) -> (Worker, u32) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let holder = Worker::start("unshare".into(), &args);
    assert_eq!(
        holder.first_line, "ready",
        "the worker in the pod did not start"
    );
    let host_pid = pod::child_of(holder.pid, WAIT).expect("unshare started the worker");
    (holder, host_pid)
}
