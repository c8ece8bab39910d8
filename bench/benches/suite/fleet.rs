//! Section 8: fan-out over many targets through ssh (`attach --via`), against the same
//! ssh commands run one after another, as a shell loop would.
//!
//! One machine stands in for many: a real sshd on a loopback port, and each target a
//! bench-worker in its own pid and mount namespaces (a "pod"), reached over ssh and then
//! `nsenter`, so that no two targets share a worker. Needs root, sshd and nsenter.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use attach_examples::sshd::Sshd;
use attach_examples::{pod, workspace_bin::workspace_bin};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{run_quietly, show, start, stop, time_each, Stats};

pub fn run() {
    println!("## 8. Fan-out through ssh\n");
    let sshd = match Sshd::start(&std::env::temp_dir(), &[]) {
        Ok(sshd) => sshd,
        Err(err) => {
            println!("skipped: {err}\n");
            return;
        }
    };
    let attach = workspace_bin("attach").display().to_string();
    let worker = workspace_bin("bench-worker");
    let pods: Vec<_> = (0..32)
        .map(|_| {
            let args = pod::unshare_args(&worker);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (holder, first) = start(Path::new("unshare"), &args, &[]);
            assert_eq!(first, "ready", "a pod did not start");
            let pid = pod::child_of(holder.id(), Duration::from_secs(20)).expect("pod worker");
            (holder, pid.to_string())
        })
        .collect();
    let template = format!("{} bench nsenter -t {{host}} -p -m --", sshd.via());
    println!(
        "`attach --via '{}' --hosts <pods> 1 -e 1+1`, each target a worker in its own",
        template.replace(&sshd.ssh_config.display().to_string(), "<ssh_config>")
    );
    println!("pid and mount namespaces behind a real sshd on loopback, against the same");
    println!("`ssh … attach --json 1 -e 1+1` commands run one after another.\n");
    println!("| targets | fan-out p50 | fan-out p99 | one after another p50 | speed-up |");
    println!("| --- | --- | --- | --- | --- |");
    for count in [1usize, 8, 32] {
        let hosts: Vec<&str> = pods[..count].iter().map(|(_, pid)| pid.as_str()).collect();
        let list = hosts.join(",");
        let runs = if count == 32 { 5 } else { 10 };
        let parallel = Stats::of(&time_each(runs, || {
            run_quietly(
                Command::new(&attach)
                    .args(["--via", &template, "--hosts", &list, "--parallel", "32"])
                    .args(["--remote-attach", &attach, "1", "-e", "1+1"]),
            )
        }));
        let sequential = Stats::of(&time_each(runs, || {
            for host in &hosts {
                run_quietly(
                    Command::new("ssh")
                        .args(["-F", &sshd.ssh_config.display().to_string(), "bench"])
                        .args(["nsenter", "-t", host, "-p", "-m", "--"])
                        .args([&attach, "--json", "1", "-e", "1+1"]),
                )
            }
        }));
        println!(
            "| {count} | {} | {} | {} | {:.1}x |",
            show(parallel.p50),
            show(parallel.p99),
            show(sequential.p50),
            sequential.p50.as_secs_f64() / parallel.p50.as_secs_f64()
        );
    }
    println!();
    for (holder, pid) in pods {
        // The worker is pid 1 of its namespace: killing it ends the pod.
        let _ = kill(Pid::from_raw(pid.parse().expect("a pid")), Signal::SIGKILL);
        stop(holder);
    }
}
