//! Host impact under attack: while hostile and broken clients go at the agent, a
//! bounded loopback HTTP load on the example worker sees 0 failed requests, and
//! guarded request code sees 0 EINTR.

use std::os::unix::fs::symlink;
use std::time::Duration;

use crate::support::load::Load;
use crate::support::raw::RawClient;
use crate::support::{attach, eval, Worker};
use attach_protocol::FifoPaths;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

#[test]
fn attacks_on_the_agent_cost_the_http_load_nothing() {
    let (mut worker, addr) = Worker::http(4);
    let load = Load::start(addr, 4, &["/", "/", "/", "/sleep?ms=2"]);
    let pid = worker.pid;

    // A planted link at the request path: the CLI refuses it and goes through the
    // agent's private directory, and the doorbell rings while it is there (hijack.rs
    // checks what the agent does with it).
    let request = FifoPaths::for_pid(pid).request();
    symlink("/etc/passwd", &request).unwrap();
    let run = eval(pid, "1");
    assert_eq!((run.code, run.stdout.trim()), (0, "1"), "{run:?}");
    kill(Pid::from_raw(pid as i32), Signal::SIGUSR1).unwrap();
    std::fs::remove_file(&request).unwrap();

    // Garbage, then a line that never ends.
    let mut client = RawClient::connect(pid);
    for line in [&b"\xff\xfe\x00garbage\n"[..], b"{\"op\":\n", b"\n"] {
        assert!(client.send(line));
        assert!(client.reply().is_some());
    }
    let chunk = vec![b'z'; 1024 * 1024];
    while client.send_within(&chunk, Duration::from_millis(500)) {}
    drop(client);

    // Runaway scripts, a client killed mid-command, a doorbell storm.
    let run = attach(
        &[&pid.to_string()],
        "loop {}\nlet s = \"x\"; loop { s += s }\n1\n",
    );
    assert_eq!(run.stdout.trim(), "1", "{run:?}");
    let mut doomed = std::process::Command::new(crate::support::attach_bin())
        .arg(pid.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(doomed.stdin.as_mut().unwrap(), b"loop {}\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    for _ in 0..20_000 {
        kill(Pid::from_raw(pid as i32), Signal::SIGUSR1).unwrap();
    }

    let outcome = load.finish();
    assert_eq!((outcome.failed, outcome.refused), (0, 0), "{outcome:?}");
    assert!(outcome.done > 0);
    assert!(worker.is_running());
    let run = eval(pid, "eintr_seen");
    assert_eq!((run.code, run.stdout.trim()), (0, "0"), "{run:?}");
}
