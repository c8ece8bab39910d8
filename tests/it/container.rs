//! A worker in its own pid and mount namespaces, with a private /tmp, attached from
//! the host by its host pid. Needs root and `unshare` (util-linux), as CI has.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use attach_protocol::ProcStatus;

use crate::support::attach;
use crate::support::pod::fixture_pod;

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
