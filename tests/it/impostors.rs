//! Processes that claim to be agents: another user's workers under the same name,
//! forged or inherited announcements, and threads the doorbell must never reach.
//! Attacks run as root and as uid 65534 (nobody) against live workers; the reused-pid
//! attack also as on kernels without thread pidfds or pidfds.

use std::path::PathBuf;

use attach_cli::{ConnectError, Target};

use crate::support::named::Named;
use crate::support::old_kernel::{without, Missing};
use crate::support::{attach, attach_as, eval, Worker};
use serde_json::Value;

const NOBODY: u32 = 65534;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fixture-worker"))
}

fn listed_pids(run: &crate::support::Run) -> Vec<u64> {
    run.stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok()?["pid"].as_u64())
        .collect()
}

#[test]
fn a_name_picks_the_callers_uid_only_and_root_picks_another_with_uid() {
    let mut named = Named::start_as(1, None);
    named.more_as(1, Some(NOBODY));
    let (mine, theirs) = (named.workers[0].pid, named.workers[1].pid);

    // Root: the name means root's worker; nobody's never receives the expression.
    let run = attach(&[&named.name, "-e", "bump()"], "");
    assert_eq!(run.code, 0, "{run:?}");
    let run = attach(&["--all", &named.name, "-e", "bump()"], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains(&theirs.to_string()), "{run:?}");
    assert_eq!(eval(theirs, "bumps").stdout.trim(), "0");
    assert_eq!(eval(mine, "bumps").stdout.trim(), "2");

    // Root may pick nobody's by --uid, and sees both uids in --list.
    let run = attach(&["--uid", "65534", &named.name, "-e", "pid()"], "");
    assert_eq!(
        (run.code, run.stdout.trim()),
        (0, theirs.to_string().as_str())
    );
    let listed = listed_pids(&attach(&["--list", "--json"], ""));
    assert!(listed.contains(&mine.into()) && listed.contains(&theirs.into()));
    let table = attach(&["--list"], "");
    assert!(
        table.stdout.lines().next().unwrap().contains("uid"),
        "{table:?}"
    );

    // Nobody: sees and picks only its own worker, and may not pick root's.
    let listed = listed_pids(&attach_as(NOBODY, &["--list", "--json"]));
    assert!(listed.contains(&theirs.into()) && !listed.contains(&mine.into()));
    let run = attach_as(NOBODY, &[&named.name, "-e", "pid()"]);
    assert_eq!(
        (run.code, run.stdout.trim()),
        (0, theirs.to_string().as_str())
    );
    let run = attach_as(NOBODY, &["--uid", "0", &named.name, "-e", "bump()"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("only root may pick"), "{run:?}");
    assert_eq!(eval(mine, "bumps").stdout.trim(), "2");
}

/// A wrapper, running as `uid`, leaves an announcement naming SIGTERM and the
/// worker's main thread in the worker it execs.
fn forged(uid: Option<u32>, tid: &str, env: &[(&str, &str)]) -> Worker {
    let forgery = format!("attach-agent agent=0.1.0 protocol=1 signal=15 tid={tid}");
    let args = ["--forge-announcement", forgery.as_str()];
    let worker = match uid {
        Some(uid) => Worker::start_as(uid, fixture(), &args, env),
        None => Worker::start_with_env(fixture(), &args, env),
    };
    assert_eq!(worker.first_line, "ready");
    worker
}

/// `attach -e bump()` as `uid` is refused with `why`, and the worker lives on.
fn refused_and_alive(worker: &mut Worker, uid: u32, why: &str) {
    let run = attach_as(uid, &[&worker.pid.to_string(), "-e", "bump()"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains(why), "{run:?}");
    assert!(
        run.stderr.contains("signal=15") || run.stderr.contains("signal 15"),
        "{run:?}"
    );
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(worker.is_running(), "the worker got SIGTERM: {run:?}");
}

#[test]
fn an_inherited_announcement_that_disagrees_is_refused_and_nothing_is_sent() {
    for uid in [0, NOBODY] {
        let mut worker = forged(Some(uid), "{pid}", &[]);
        refused_and_alive(&mut worker, uid, "announcements that disagree");
        let listed = listed_pids(&attach_as(uid, &["--list", "--json"]));
        assert!(!listed.contains(&worker.pid.into()));
        assert_eq!(eval(worker.pid, "1").code, 2);
    }
}

#[test]
fn a_forged_sigterm_doorbell_alone_is_refused_as_root_and_as_nobody() {
    for uid in [0, NOBODY] {
        let mut worker = forged(Some(uid), "{pid}", &[("ATTACH_AGENT", "off")]);
        refused_and_alive(&mut worker, uid, "names signal 15 as its doorbell");
    }
}

#[test]
fn an_agent_refuses_a_doorbell_that_could_hurt_its_host() {
    let worker = Worker::start(fixture(), &["--signal", "SIGTERM"]);
    assert!(
        worker.first_line.starts_with("install failed")
            && worker.first_line.contains("cannot be a doorbell"),
        "{}",
        worker.first_line
    );
}

#[test]
fn a_stale_announcement_naming_no_thread_of_the_process_is_ignored() {
    let worker = forged(None, "1", &[]);
    let run = eval(worker.pid, "counter");
    assert_eq!((run.code, run.stdout.trim()), (0, "7"), "{run:?}");
}

#[test]
fn threads_started_before_install_never_see_the_doorbell() {
    let worker = Worker::fixture(&["--threads-before-install", "8"]);
    for _ in 0..40 {
        let run = eval(worker.pid, "1");
        assert_eq!(run.code, 0, "{run:?}");
    }
    let run = eval(worker.pid, "early_eintr");
    assert_eq!(run.stdout.trim(), "0", "early threads saw EINTR: {run:?}");
}

/// Starts `sleep` until it gets `pid` (set through `ns_last_pid`; other tests start
/// processes too, so this may take a few tries). None if it never does.
fn sleeper_with_pid(pid: u32) -> Option<std::process::Child> {
    for _ in 0..50 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
        let mut child = std::process::Command::new("sleep").arg("30").spawn().ok()?;
        if child.id() == pid {
            return Some(child);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    None
}

#[test]
fn a_reused_pid_never_gets_the_doorbell_meant_for_the_process_inspected() {
    the_doorbell_reaches_only_the_process_inspected(None);
}

#[test]
fn on_kernels_without_thread_pidfds_or_pidfds_a_reused_pid_is_still_never_signalled() {
    the_doorbell_reaches_only_the_process_inspected(Some(Missing::ThreadPidfds));
    the_doorbell_reaches_only_the_process_inspected(Some(Missing::Pidfds));
}

/// A worker is inspected (on a thread where the kernel looks older, if `missing`
/// says so) and rung, then killed; a process that takes its pid gets nothing.
fn the_doorbell_reaches_only_the_process_inspected(missing: Option<Missing>) {
    let mut worker = Worker::fixture(&[]);
    let pid = worker.pid;
    let inspect_and_ring = || {
        let target = Target::inspect(pid, None).expect("the worker is attachable");
        (target.ring(), target)
    };
    let (first, target) = match missing {
        Some(missing) => without(missing, inspect_and_ring),
        None => inspect_and_ring(),
    };
    assert!(
        first.is_ok(),
        "{missing:?}: the live agent was not rung: {first:?}"
    );
    worker.signal(nix::sys::signal::Signal::SIGKILL);
    worker.wait_exit();
    let Some(mut impostor) = sleeper_with_pid(pid) else {
        panic!("could not start a process with the reused pid {pid}");
    };
    let rung = target.ring();
    assert!(
        matches!(rung, Err(ConnectError::Exited { .. })),
        "{missing:?}: {rung:?}"
    );
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        matches!(impostor.try_wait(), Ok(None)),
        "{missing:?}: the process that reused the pid was signalled"
    );
    impostor.kill().unwrap();
    impostor.wait().unwrap();
}
