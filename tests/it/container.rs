//! A worker in its own pid and mount namespaces, with a private /tmp, attached from
//! the host by its host pid. Needs root and `unshare` (util-linux), as CI has.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use attach_protocol::ProcStatus;

use crate::support::{attach, Worker, WAIT};

/// The pid (as the host sees it) of the first child of `parent`.
fn child_of(parent: u32) -> u32 {
    let deadline = Instant::now() + WAIT;
    loop {
        let children = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        if let Some(pid) = children
            .split_whitespace()
            .next()
            .and_then(|pid| pid.parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "unshare started no child");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn containerized_fixture() -> (Worker, u32) {
    // The binary may itself live under /tmp (a checkout there): open it before the
    // private /tmp hides it, and exec it through the open descriptor.
    let script = format!(
        "exec 3< '{}' && mount -t tmpfs tmpfs /tmp && exec /proc/self/fd/3",
        env!("CARGO_BIN_EXE_fixture-worker")
    );
    let worker = Worker::start(
        "unshare".into(),
        &[
            "--pid",
            "--mount",
            "--fork",
            "--mount-proc",
            "sh",
            "-c",
            &script,
        ],
    );
    assert_eq!(
        worker.first_line, "ready",
        "the containerized worker did not start"
    );
    let host_pid = child_of(worker.pid);
    (worker, host_pid)
}

#[test]
fn a_worker_in_its_own_namespaces_is_attached_by_its_host_pid() {
    let (_container, host_pid) = containerized_fixture();
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
    let (_container, host_pid) = containerized_fixture();
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
