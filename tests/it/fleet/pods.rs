//! Pods reached with `nsenter`, `--kubectl`, and transports that misbehave.

use super::*;

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
    let receiver = crate::support::lines_of(child.stdout.take().unwrap());
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
