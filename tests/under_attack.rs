//! Host impact under attack: while hostile and broken clients go at the agent, a
//! bounded loopback HTTP load on the example worker sees 0 failed requests, and
//! guarded request code sees 0 EINTR.

mod support;

use std::os::unix::fs::symlink;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use attach_examples::http_client::{self, KeepAlive};
use attach_protocol::FifoPaths;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::raw::RawClient;
use support::{attach, eval, Worker};

/// Load: each client alternates keep-alive and one-shot connections until `stop`,
/// at most `MAX_REQUESTS` each.
const MAX_REQUESTS: usize = 2_000;

struct Load {
    failed: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    clients: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: std::net::SocketAddr, clients: usize) -> Load {
        let failed = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let timeout = Duration::from_secs(10);
        let clients = (0..clients)
            .map(|index| {
                let (failed, done, stop) = (failed.clone(), done.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut keep_alive = None;
                    for n in 0..MAX_REQUESTS {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let path = if n % 4 == 0 { "/sleep?ms=2" } else { "/" };
                        let result = if index % 2 == 0 {
                            http_client::get(addr, path, timeout)
                        } else {
                            let connection = match keep_alive.as_mut() {
                                Some(connection) => connection,
                                None => {
                                    keep_alive.insert(KeepAlive::connect(addr, timeout).unwrap())
                                }
                            };
                            connection.get(path)
                        };
                        match result {
                            Ok(response) if response.status == 200 => {
                                done.fetch_add(1, Ordering::Relaxed)
                            }
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                })
            })
            .collect();
        Load {
            failed,
            done,
            stop,
            clients,
        }
    }

    /// Stops the load; returns (done, failed).
    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.join().unwrap();
        }
        (
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

#[test]
fn attacks_on_the_agent_cost_the_http_load_nothing() {
    let (mut worker, addr) = Worker::http(4);
    let load = Load::start(addr, 4);
    let pid = worker.pid;

    // A planted link at the request path: refused by the CLI and by the agent.
    let request = FifoPaths::for_pid(pid).request();
    symlink("/etc/passwd", &request).unwrap();
    assert_eq!(eval(pid, "1").code, 2);
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
    let mut doomed = std::process::Command::new(support::attach_bin())
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

    let (done, failed) = load.finish();
    assert_eq!(failed, 0, "failed requests under attack ({done} succeeded)");
    assert!(done > 0);
    assert!(worker.is_running());
    let run = eval(pid, "eintr_seen");
    assert_eq!((run.code, run.stdout.trim()), (0, "0"), "{run:?}");
}
