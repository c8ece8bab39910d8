//! The audit trail: every command is recorded with who, which session, how long and
//! whether it failed; redacted secrets appear nowhere, neither in replies nor logs.

use crate::support::{attach, Worker};

const SECRET: &str = "hunter2-not-for-logs";

#[test]
fn every_command_is_audited_and_secrets_never_leave_the_process() {
    let mut worker = Worker::fixture_logged(&[]);
    let run = attach(
        &[&worker.pid.to_string()],
        "config\nconfig.db_password\nlet c = config; c.db_password.len()\nno_such_thing\n",
    );
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("\"db_password\": \"[redacted]\""),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("\"db_host\": \"db1.internal\""),
        "{run:?}"
    );
    assert_eq!(
        run.stdout.lines().filter(|l| *l == "[redacted]").count(),
        1,
        "{run:?}"
    );

    let failed = worker.wait_log("command=no_such_thing");
    for field in [
        "ok=false",
        "failure=Some(Runtime)",
        "uid=0",
        "client_pid=",
        "elapsed_us=",
    ] {
        assert!(failed.contains(field), "{field} missing in {failed}");
    }
    let log = worker.log_so_far();
    let audited: Vec<_> = log
        .iter()
        .filter(|line| line.contains("evaluated"))
        .collect();
    assert_eq!(audited.len(), 4, "one record per command: {log:#?}");
    assert!(audited
        .iter()
        .all(|line| line.contains("session=") && line.contains("client_pid_verified=true")));
    assert!(!log.iter().any(|line| line.contains(SECRET)), "{log:#?}");
}

#[test]
fn help_names_the_redacted_parts() {
    let worker = Worker::fixture(&[]);
    let run = crate::support::eval(worker.pid, "help()");
    assert!(run.stdout.contains("(redacted: db_password)"), "{run:?}");
}
