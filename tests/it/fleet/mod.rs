//! Many hosts: `attach` run on the far side through real transports. A real OpenSSH
//! server started here on a free loopback port (its own host key, a key authorised for
//! this test, an ssh_config in which every alias leads to it), and "pods" (workers in
//! their own pid and mount namespaces) reached with `nsenter`. Needs root, `unshare`,
//! `nsenter` and openssh-server, which `.ci/run` installs.

mod pods;
mod ssh;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
pub(super) fn sshd(unreachable: &[&str]) -> Option<Sshd> {
    if sshd_program().is_none() && std::env::var_os("ATTACH_TESTS_ALLOW_NO_SSHD").is_some() {
        eprintln!("SKIPPED: sshd is not installed (apt-get install openssh-server openssh-client)");
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    Some(Sshd::start(&dir, unreachable).unwrap_or_else(|err| panic!("{err}")))
}

/// `attach` on the far side: this build's binary.
pub(super) fn remote() -> String {
    attach_bin().display().to_string()
}

/// `attach --via 'ssh -F <config> {host}' --hosts HOSTS --remote-attach REMOTE REST...`.
pub(super) fn over_ssh(sshd: &Sshd, hosts: &str, remote: &str, rest: &[&str]) -> Run {
    let via = format!("{} {{host}}", sshd.via());
    let mut args = vec!["--via", &via, "--hosts", hosts, "--remote-attach", remote];
    args.extend_from_slice(rest);
    attach(&args, "")
}

pub(super) fn documents(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect()
}

pub(super) fn for_host<'a>(documents: &'a [Value], host: &str) -> Vec<&'a Value> {
    documents.iter().filter(|d| d["host"] == host).collect()
}

/// An executable shell script `name` in `dir`, holding `body`.
pub(super) fn script(dir: &TempDir, name: &str, body: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// `PATH` with `dir` first.
pub(super) fn path_with(dir: &TempDir) -> String {
    format!(
        "{}:{}",
        dir.env(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A `PATH` whose `ssh` runs the real one with the test's ssh_config, for `--ssh`.
pub(super) fn ssh_on_path(sshd: &Sshd, dir: &TempDir) -> String {
    let body = format!(
        "exec /usr/bin/ssh -F '{}' \"$@\"",
        sshd.ssh_config.display()
    );
    script(dir, "ssh", &body);
    path_with(dir)
}
