//! Many hosts: `attach` run on the far side through real transports. A real OpenSSH
//! server started here on a free loopback port (its own host key, a key authorised for
//! this test, an ssh_config in which every alias leads to it), and "pods" (workers in
//! their own pid and mount namespaces) reached with `nsenter`. Needs root, `unshare`,
//! `nsenter` and openssh-server, which `.ci/run` installs.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use attach_examples::pod;
use attach_examples::sshd::{sshd_program, Sshd};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::named::Named;
use crate::support::pod::fixture_pod;
use crate::support::pty::Pty;
use crate::support::tempdir::TempDir;
use crate::support::{attach, attach_bin, eval, run_bounded, wait_child, Run, Worker, WAIT};

/// The test's sshd. Without sshd the test fails in CI (which installs it) and, only
/// when `ATTACH_TESTS_ALLOW_NO_SSHD` is set, skips with a loud message.
fn sshd(unreachable: &[&str]) -> Option<Sshd> {
    if sshd_program().is_none() && std::env::var_os("ATTACH_TESTS_ALLOW_NO_SSHD").is_some() {
        eprintln!("SKIPPED: sshd is not installed (apt-get install openssh-server openssh-client)");
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    Some(Sshd::start(&dir, unreachable).unwrap_or_else(|err| panic!("{err}")))
}

/// `attach` on the far side: this build's binary.
fn remote() -> String {
    attach_bin().display().to_string()
}

/// `attach --via 'ssh -F <config> {host}' --hosts HOSTS --remote-attach REMOTE REST...`.
fn over_ssh(sshd: &Sshd, hosts: &str, remote: &str, rest: &[&str]) -> Run {
    let via = format!("{} {{host}}", sshd.via());
    let mut args = vec!["--via", &via, "--hosts", hosts, "--remote-attach", remote];
    args.extend_from_slice(rest);
    attach(&args, "")
}

fn documents(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect()
}

fn for_host<'a>(documents: &'a [Value], host: &str) -> Vec<&'a Value> {
    documents.iter().filter(|d| d["host"] == host).collect()
}

#[test]
fn ssh_fan_out_is_one_table_with_a_row_per_host_and_worker() {
    let Some(sshd) = sshd(&["down"]) else { return };
    let workers = Named::start(2);
    let via = format!("{} {{host}}", sshd.via());
    let remote = remote();
    // One machine behind every alias: the hosts go one at a time, or their sessions
    // would meet at the same workers.
    let args = [
        "--via",
        &via,
        "--hosts",
        "web1,web2,down",
        "--parallel",
        "1",
        "--remote-attach",
        &remote,
        "--all",
        &workers.name,
        "-e",
        "counter + 1",
    ];
    let table = attach(&args, "");
    assert_eq!(
        table.code, 2,
        "the unreachable host sets the status: {table:?}"
    );
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("host  pid"), "{table:?}");
    for host in ["web1", "web2"] {
        for pid in workers.pids() {
            assert!(
                lines.iter().any(|l| l.starts_with(host)
                    && l.contains(&format!(" {pid} "))
                    && l.ends_with(" 8")),
                "no row for {host} pid {pid}: {table:?}"
            );
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("down") && l.contains("ssh cannot reach it (exit 255)")),
        "{table:?}"
    );
    assert!(
        table.stderr.contains(
            "attach: down: ssh cannot reach it (exit 255): ssh: connect to host 127.0.0.1 port"
        ),
        "the full reason, under the table: {table:?}"
    );
    assert!(
        !table.stderr.contains("protocol"),
        "same attach on both sides: {table:?}"
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let run = attach(&json_args, "");
    let all = documents(&run);
    assert_eq!(all.len(), 5, "{run:?}");
    for document in for_host(&all, "web1")
        .into_iter()
        .chain(for_host(&all, "web2"))
    {
        assert_eq!(document["ok"], true, "{document}");
        assert_eq!(document["value"], 8);
        assert_eq!(
            document["attach_protocol"],
            attach_protocol::PROTOCOL_VERSION
        );
    }
    let down = for_host(&all, "down");
    assert_eq!(down[0]["error"]["kind"], "transport", "{run:?}");
}

/// ssh hands the remote shell one line: every word must arrive as it was typed.
#[test]
fn remote_words_survive_the_remote_shell() {
    let Some(sshd) = sshd(&[]) else { return };
    let worker = Worker::fixture(&[]);
    let text = "it's $HOME `id`; x \\ \"q\" | *";
    let expr = serde_json::to_string(text).unwrap();
    let pid = worker.pid.to_string();
    let run = over_ssh(&sshd, "web1", &remote(), &[&pid, "-e", &expr, "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(documents(&run)[0]["value"], text, "{run:?}");
}

#[test]
fn a_missing_remote_binary_and_a_refused_attach_are_error_rows() {
    let Some(sshd) = sshd(&[]) else { return };
    let missing = over_ssh(
        &sshd,
        "web1",
        "/nonexistent/attach",
        &["1", "-e", "1", "--json"],
    );
    assert_eq!(missing.code, 2, "{missing:?}");
    let message = &documents(&missing)[0]["error"]["message"];
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("is not installed there (exit 127 through ssh)"),
        "{missing:?}"
    );
    // This test process runs no agent: the remote attach refuses it and says why.
    let me = std::process::id().to_string();
    let refused = over_ssh(&sshd, "web1", &remote(), &[&me, "-e", "1", "--json"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    let document = &documents(&refused)[0];
    assert_eq!(document["host"], "web1");
    assert_eq!(document["error"]["kind"], "connect", "{refused:?}");
    assert!(
        document["error"]["message"].as_str().unwrap().contains(&me),
        "{refused:?}"
    );
}

#[test]
fn a_worker_killed_during_fan_out_is_an_error_row() {
    let Some(sshd) = sshd(&[]) else { return };
    let workers = Named::start(2);
    let doomed = &workers.workers[1];
    // Stopped, it cannot answer: the remote attach waits with its FIFO published
    // until the test kills the worker, so the kill lands mid-session every time.
    // The agent thread names itself after `ready`: one command first proves that
    // discovery can see it before the worker is frozen.
    assert_eq!(eval(doomed.pid, "1").code, 0);
    doomed.signal(Signal::SIGSTOP);
    let via = format!("{} {{host}}", sshd.via());
    let mut child = Command::new(attach_bin())
        .args([
            "--via",
            &via,
            "--hosts",
            "web1",
            "--remote-attach",
            &remote(),
        ])
        .args([
            "--timeout",
            "15",
            "--all",
            &workers.name,
            "-e",
            "counter",
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = PathBuf::from(format!("/tmp/{}.pipe", doomed.pid));
    let deadline = Instant::now() + WAIT;
    while !pipe.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stdout = String::new();
            std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
            panic!("the fan-out ended before the kill ({status}): {stdout}");
        }
        assert!(
            Instant::now() < deadline,
            "the remote attach never reached the worker"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    doomed.signal(Signal::SIGKILL);
    let status = wait_child(&mut child).expect("the fan-out finished");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert_eq!(status.code(), Some(2), "{stdout}");
    let run = Run {
        code: 2,
        stdout,
        stderr: String::new(),
    };
    let all = documents(&run);
    let row = |pid: u32| {
        all.iter()
            .find(|d| d["pid"] == pid)
            .unwrap_or_else(|| panic!("{all:?}"))
    };
    assert_eq!(row(workers.workers[0].pid)["value"], 7);
    assert_eq!(row(doomed.pid)["ok"], false);
    assert_eq!(row(doomed.pid)["host"], "web1");
}

/// An executable shell script `name` in `dir`, holding `body`.
fn script(dir: &TempDir, name: &str, body: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// `PATH` with `dir` first.
fn path_with(dir: &TempDir) -> String {
    format!(
        "{}:{}",
        dir.env(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A `PATH` whose `ssh` runs the real one with the test's ssh_config, for `--ssh`.
fn ssh_on_path(sshd: &Sshd, dir: &TempDir) -> String {
    let body = format!(
        "exec /usr/bin/ssh -F '{}' \"$@\"",
        sshd.ssh_config.display()
    );
    script(dir, "ssh", &body);
    path_with(dir)
}

#[test]
fn ssh_preset_opens_the_remote_shell_with_completion() {
    let Some(sshd) = sshd(&[]) else { return };
    let dir = TempDir::new("ssh-path");
    let worker = Worker::fixture(&[]);
    let pid = worker.pid.to_string();
    let path = ssh_on_path(&sshd, &dir);
    let remote = remote();
    let mut pty = Pty::spawn(
        &attach_bin(),
        &["--ssh", "web1", "--remote-attach", &remote, &pid],
        &[("PATH", &path)],
    );
    pty.expect("attached to pid");
    pty.expect(")> ");
    pty.send("guarded_l\t");
    pty.expect("guarded_list");
    pty.send(".len() * 1111\r");
    pty.expect("3333");
    pty.expect(")> ");
    pty.send("\x04");
    assert_eq!(pty.wait_exit().code(), Some(0));
}

#[test]
fn pods_in_their_own_namespaces_are_reached_through_nsenter() {
    let pods = [fixture_pod(), fixture_pod()];
    // The pod list comes on stdin, one per line, as from `kubectl get pods -o name`.
    let hosts: String = pods.iter().map(|(_, pid)| format!("{pid}\n")).collect();
    let remote = remote();
    let via = ["--via", "nsenter -t {host} -p -m --", "--hosts", "-"];
    let mut args = via.to_vec();
    args.extend([
        "--remote-attach",
        &remote,
        "1",
        "-e",
        "pid() * 100 + counter",
        "--json",
    ]);
    let run = attach(&args, &hosts);
    assert_eq!(run.code, 0, "{run:?}");
    let all = documents(&run);
    assert_eq!(all.len(), 2, "{run:?}");
    for (_, host_pid) in &pods {
        let answer = for_host(&all, &host_pid.to_string());
        assert_eq!(
            answer[0]["value"], 107,
            "each pod's agent sees itself as pid 1: {run:?}"
        );
    }
    let mut list = via.to_vec();
    list.extend(["--remote-attach", &remote, "--list"]);
    let table = attach(&list, &hosts);
    assert_eq!(table.code, 0, "{table:?}");
    for (_, host_pid) in &pods {
        assert!(
            table
                .stdout
                .lines()
                .any(|l| l.starts_with(&format!("{host_pid} ")) && l.contains(" 1 ")),
            "every pod lists its worker as pid 1: {table:?}"
        );
    }
}

#[test]
fn watch_over_several_pods_is_one_live_table_that_outlives_a_dead_pod() {
    let pods = [fixture_pod(), fixture_pod()];
    let hosts: Vec<String> = pods.iter().map(|(_, pid)| pid.to_string()).collect();
    let dir = TempDir::new("pods");
    let file = dir.path().join("pods");
    std::fs::write(&file, format!("# the pods\n{}\n", hosts.join("\n"))).unwrap();
    let mut child = Command::new(attach_bin())
        .args([
            "--via",
            "nsenter -t {host} -p -m --",
            "--remote-attach",
            &remote(),
        ])
        .arg("--hosts")
        .arg(format!("@{}", file.display()))
        .args(["1", "--watch", "counter", "--interval", "100ms", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, receiver) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut seen: Vec<String> = Vec::new();
    while !hosts.iter().all(|host| seen.contains(host)) {
        let line = receiver
            .recv_timeout(WAIT)
            .expect("the watch printed in time");
        let document: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(document["value"], 7, "{line}");
        seen.push(document["host"].as_str().unwrap().to_owned());
    }
    // A pod that dies mid-watch becomes an error row; the other keeps going.
    let (_, dying) = &pods[1];
    kill(Pid::from_raw(*dying as i32), Signal::SIGKILL).unwrap();
    let deadline = Instant::now() + WAIT;
    let ended = loop {
        let line = receiver
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the dead pod was reported in time");
        let document: Value = serde_json::from_str(&line).unwrap();
        if document["host"] == hosts[1] && document["ok"] == false {
            break document;
        }
    };
    assert_eq!(ended["error"]["kind"], "transport", "{ended}");
    let line = receiver.recv_timeout(WAIT).expect("the live pod goes on");
    assert!(
        line.contains(&format!("\"host\":\"{}\"", hosts[0])),
        "{line}"
    );
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = wait_child(&mut child).expect("the watch left after Ctrl-C");
    assert_eq!(status.code(), Some(0));
}

/// As uid 65534 (nobody), with no capabilities.
const AS_NOBODY: [&str; 4] = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"];

/// Runs attach in a mount namespace (and /tmp) of its own, in our pid namespace: what
/// `kubectl debug --target` gives; through `setpriv ARGS` when `setpriv` is not empty.
fn attach_from_own_mount_namespace(pid: u32, setpriv: &[&str]) -> Run {
    let drop = if setpriv.is_empty() {
        String::new()
    } else {
        format!("setpriv {}", setpriv.join(" "))
    };
    let attach = attach_bin();
    let private_tmp = pod::private_tmp_keeping(attach.parent().unwrap());
    let script = format!(
        "{private_tmp} && exec {drop} '{}' {pid} -e 'counter * 3'",
        attach.display()
    );
    let mut command = Command::new("unshare");
    command.args(["--mount", "sh", "-c", &script]);
    run_bounded(command, "")
}

#[test]
fn a_client_sharing_only_the_pid_namespace_attaches_by_pid() {
    let worker = Worker::fixture(&[]);
    let run = attach_from_own_mount_namespace(worker.pid, &[]);
    assert_eq!((run.code, run.stdout.trim()), (0, "21"), "{run:?}");
    assert!(
        worker.leftover_fifos().is_empty(),
        "{:?}",
        worker.leftover_fifos()
    );
}

/// The same client under the `restricted` Pod Security level: the worker's own uid,
/// not root, no capabilities (so no CAP_SYS_PTRACE): still allowed, as docs/FLEET.md says.
#[test]
fn a_client_sharing_only_the_pid_namespace_needs_only_the_workers_uid() {
    let mut args = AS_NOBODY.to_vec();
    args.push(env!("CARGO_BIN_EXE_fixture-worker"));
    let worker = Worker::start("setpriv".into(), &args);
    assert_eq!(worker.first_line, "ready");
    let run = attach_from_own_mount_namespace(worker.pid, &AS_NOBODY);
    assert_eq!((run.code, run.stdout.trim()), (0, "21"), "{run:?}");
    assert!(worker.leftover_fifos().is_empty());
    // Root without CAP_SYS_PTRACE (a debug container's default) is kept out by the
    // kernel, and told what would let it in.
    let no_ptrace = ["--bounding-set=-sys_ptrace", "--"];
    let run = attach_from_own_mount_namespace(worker.pid, &no_ptrace);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("CAP_SYS_PTRACE") && run.stderr.contains("worker's uid"),
        "{run:?}"
    );
}

/// A transport that never answers, and forks: at --host-timeout the whole process
/// group goes, grandchild included, and the host is an error row.
#[test]
fn a_silent_host_is_stopped_at_the_host_timeout() {
    let dir = TempDir::new("silent");
    let file = dir.path().join("sleeper");
    let via = format!(
        "sh -c 'sleep 600 & echo $! > {}; wait' {{host}}",
        file.display()
    );
    let run = attach(
        &[
            "--via",
            &via,
            "--hosts",
            "stuck",
            "--host-timeout",
            "1",
            "1",
            "-e",
            "1",
            "--json",
        ],
        "",
    );
    assert_eq!(run.code, 2, "{run:?}");
    let message = documents(&run)[0]["error"]["message"].to_string();
    assert!(message.contains("no answer within 1s"), "{run:?}");
    let sleeper = std::fs::read_to_string(&file).unwrap();
    let deadline = Instant::now() + WAIT;
    while PathBuf::from(format!("/proc/{}", sleeper.trim())).exists() {
        assert!(
            Instant::now() < deadline,
            "the transport's child outlived it"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A remote attach that speaks another wire protocol is named on stderr and in a note.
#[test]
fn another_remote_protocol_is_reported() {
    let dir = TempDir::new("future");
    let future = script(
        &dir,
        "attach",
        r#"echo '{"pid":1,"ok":true,"value":5,"attach_protocol":99}'"#,
    );
    let remote = future.display().to_string();
    let run = attach(
        &[
            "--via",
            "env HOST={host}",
            "--hosts",
            "next",
            "--remote-attach",
            &remote,
            "1",
            "-e",
            "1",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("next: remote attach speaks wire protocol v99"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("note") && run.stdout.contains("v99"),
        "{run:?}"
    );
}

/// `--kubectl` runs `kubectl exec -i POD -- attach …` with the remote words as argv,
/// unquoted. No cluster here: a `kubectl` on PATH that checks that shape and carries
/// the words into the pod with nsenter, as kubectl carries them into a container.
#[test]
fn kubectl_preset_passes_argv_into_the_pod() {
    let (_pod, pod_pid) = fixture_pod();
    let dir = TempDir::new("kubectl");
    script(
        &dir,
        "kubectl",
        r#"[ "$1 $2 $4" = "exec -i --" ] || { echo "unexpected kubectl $*" >&2; exit 99; }
pod=$3; shift 4
exec nsenter -t "$pod" -p -m -- "$@""#,
    );
    let path = path_with(&dir);
    let pod = pod_pid.to_string();
    let text = "two words, 'quoted' $NOT_EXPANDED";
    let expr = serde_json::to_string(text).unwrap();
    let mut command = Command::new(attach_bin());
    command
        .args([
            "--kubectl",
            &pod,
            "--remote-attach",
            &remote(),
            "1",
            "-e",
            &expr,
            "--json",
        ])
        .env("PATH", path);
    let run = run_bounded(command, "");
    assert_eq!(run.code, 0, "{run:?}");
    let document = &documents(&run)[0];
    assert_eq!(document["host"], pod.as_str());
    assert_eq!(document["value"], text, "{run:?}");
}
