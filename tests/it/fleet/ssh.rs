//! Fan-out through a real sshd: `--via ssh`, `--ssh`.

use super::*;

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
