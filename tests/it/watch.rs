//! `--watch`: a live value with a sparkline and rate, alone or across workers; Ctrl-C
//! leaves cleanly. Plus `attach completions`.

use std::process::{Command, Stdio};

use crate::support::load::Load;
use crate::support::named::Named;
use crate::support::{attach, attach_bin, wait_child, Worker};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Runs `attach args...` until it printed `lines` lines, then sends Ctrl-C (SIGINT).
fn watch(args: &[&str], lines: usize) -> (Vec<String>, i32) {
    let mut child = Command::new(attach_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let receiver = crate::support::lines_of(child.stdout.take().unwrap());
    let seen: Vec<String> = (0..lines)
        .map(|_| {
            receiver
                .recv_timeout(crate::support::WAIT)
                .expect("watch printed in time")
        })
        .collect();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = wait_child(&mut child).expect("watch left after Ctrl-C");
    (seen, status.code().unwrap_or(-1))
}

#[test]
fn a_growing_number_gets_a_sparkline_and_a_positive_rate() {
    let (worker, addr) = Worker::http(2);
    let load = Load::start(addr, 2, &["/"]);
    load.wait_for_done(10);
    let (lines, code) = watch(
        &[
            &worker.pid.to_string(),
            "--watch",
            "requests_served",
            "--interval",
            "100ms",
        ],
        5,
    );
    let outcome = load.finish();
    assert_eq!(outcome.failed, 0);
    assert_eq!(code, 0, "Ctrl-C leaves cleanly");
    let last = lines.last().unwrap();
    let bars = last.chars().filter(|c| ('▁'..='█').contains(c)).count();
    assert_eq!(bars, 5, "one bar per sample: {lines:?}");
    assert!(
        last.contains("/s") && last.contains('+'),
        "a rate of change: {lines:?}"
    );
    assert_eq!(
        worker.leftover_fifos(),
        Vec::<String>::new(),
        "leaving removed the FIFOs"
    );
}

#[test]
fn watch_all_is_a_live_table_of_workers() {
    let named = Named::start(2);
    let (lines, code) = watch(
        &[
            "--all",
            &named.name,
            "--watch",
            "pid()",
            "--interval",
            "100ms",
        ],
        6,
    );
    assert_eq!(code, 0);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("pid") && l.contains("result")),
        "{lines:?}"
    );
    for pid in named.pids() {
        assert!(
            lines.iter().any(|l| l.starts_with(&pid.to_string())),
            "{pid} has a row: {lines:?}"
        );
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_attach()"),
        ("zsh", "#compdef attach"),
        ("fish", "complete -c attach"),
    ] {
        let run = attach(&["completions", shell], "");
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stdout.contains(marker),
            "{shell}: {}",
            &run.stdout[..200.min(run.stdout.len())]
        );
    }
    let run = attach(&["completions", "tcsh"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("usage: attach completions"));
}
