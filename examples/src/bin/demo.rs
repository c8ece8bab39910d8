//! `demo`: starts `http-worker`, sends it some traffic and opens `attach` on it.
//!
//! On a terminal you get the interactive shell; without one (CI, a pipe) the demo
//! runs a few commands itself and prints what they return. Either way the worker is
//! stopped with SIGTERM at the end and drains gracefully.

use std::io::{BufRead, BufReader, IsTerminal};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use attach_examples::http_client;
use attach_examples::workspace_bin::workspace_bin;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const TOUR: &str = "\
Try these at the prompt:
  p requests_served                  a live counter (one per request sent above)
  paths                              requests per path, read under the worker's lock
  config                             the worker's configuration map
  set_config(\"greeting\", \"bonjour\")  a function the worker chose to expose
  let n = requests_served; n * 2     variables persist for the session
  loop {}                            cut off by the limits (1 s, 50M operations)
  threads()                          every thread and its CPU time (also stacks(), mem(), fds())
  inflight()                         requests being served right now, with their labels and ages
  help()                             everything registered, and the built-ins (:help: the shell)
  Tab completes names (try `conf<Tab>.gr<Tab>`)
Ctrl-D leaves; the worker is then stopped with SIGTERM and drains.";

const SCRIPTED: &[&str] = &["requests_served", "paths", "config", "threads()", "loop {}"];

fn main() -> anyhow::Result<()> {
    let mut worker = Command::new(workspace_bin("http-worker"))
        .args(["--listen", "127.0.0.1:0", "--threads", "4"])
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start http-worker")?;
    let mut first_line = String::new();
    BufReader::new(worker.stdout.take().context("worker stdout")?).read_line(&mut first_line)?;
    let Some(addr) = first_line.trim().strip_prefix("listening on ") else {
        bail!("http-worker did not start: {first_line:?}");
    };
    let addr: SocketAddr = addr.parse()?;
    let pid = worker.id();
    println!("started http-worker (pid {pid}) on http://{addr}");
    let sent = send_traffic(addr)?;
    println!("sent {sent} requests to it\n");

    let attach = workspace_bin("attach");
    if std::io::stdin().is_terminal() {
        println!("{TOUR}\n");
        Command::new(&attach).arg(pid.to_string()).status()?;
    } else {
        for command in SCRIPTED {
            println!("$ attach {pid} -e '{command}'");
            Command::new(&attach)
                .args([&pid.to_string(), "-e", command])
                .status()?;
        }
        println!("$ printf 'let x = 40\\nx + 2\\n' | attach {pid}");
        let mut session = Command::new(&attach)
            .arg(pid.to_string())
            .stdin(Stdio::piped())
            .spawn()?;
        std::io::Write::write_all(
            session.stdin.as_mut().context("stdin")?,
            b"let x = 40\nx + 2\n",
        )?;
        drop(session.stdin.take());
        session.wait()?;
    }

    println!("\nstopping the worker with SIGTERM (close the listener, drain, exit)");
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM)?;
    let status = worker.wait()?;
    println!("http-worker exited: {status}");
    Ok(())
}

fn send_traffic(addr: SocketAddr) -> anyhow::Result<usize> {
    let timeout = Duration::from_secs(5);
    let paths = ["/"; 40]
        .iter()
        .chain(&["/sleep?ms=5"; 10])
        .chain(&["/missing"; 5]);
    let mut sent = 0;
    for path in paths {
        http_client::get(addr, path, timeout).with_context(|| format!("GET {path}"))?;
        sent += 1;
    }
    Ok(sent)
}
