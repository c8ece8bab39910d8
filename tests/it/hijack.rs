//! Another local user plants or hijacks the FIFOs: the agent opens nothing it should
//! not, evaluates nothing of theirs, writes nothing; the CLI leaves the planted file
//! alone, says so, and meets the agent in its private directory instead.
//!
//! The "other user" is uid 65534 (nobody); the tests run as root, as CI does.

use std::os::fd::OwnedFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::support::{eval, Worker};
use attach_protocol::{encode_line, FifoPaths, Request, Token, PROTOCOL_VERSION};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{chown, mkfifo, Uid};

const NOBODY: u32 = 65534;

/// What a planted FIFO carries: a hello and a command with a visible side effect.
fn lure(token: &Token) -> Vec<u8> {
    let mut bytes = encode_line(&Request::Hello {
        v: PROTOCOL_VERSION,
        token: token.as_str().to_owned(),
        client_pid: std::process::id(),
    });
    bytes.extend(encode_line(&Request::Eval {
        id: 1,
        code: "bump()".into(),
    }));
    bytes
}

/// Makes a FIFO with `mode` owned by `uid`, opened read-write and preloaded with
/// `content`; the descriptor keeps it alive.
fn fifo(path: &Path, mode: u32, uid: u32, content: &[u8]) -> OwnedFd {
    mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    chown(path, Some(Uid::from_raw(uid)), None).unwrap();
    let fd = open(path, OFlag::O_RDWR | OFlag::O_NONBLOCK, Mode::empty()).unwrap();
    nix::unistd::write(&fd, content).unwrap();
    fd
}

/// A file of the test's own, outside the FIFO names, for links to point at.
fn bystander(worker: &Worker, name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("attach-bystander-{}-{name}", worker.pid));
    std::fs::write(&path, b"precious").unwrap();
    path
}

/// Runs `attach -e 1`, which must refuse the planted `path`, say how to remove it,
/// and still get its answer through the agent's private directory (audited as such).
fn cli_goes_around(worker: &mut Worker, path: &Path) {
    let run = eval(worker.pid, "1");
    assert_eq!((run.code, run.stdout.trim()), (0, "1"), "{run:?}");
    let shown = path.display().to_string();
    assert!(
        run.stderr.contains(&format!("refusing to use {shown}"))
            && run.stderr.contains(&format!("rm {shown}"))
            && run.stderr.contains("using the agent's private directory"),
        "{run:?}"
    );
    let opened = worker.wait_log("session opened");
    assert!(opened.contains("rendezvous=\"private\""), "{opened}");
}

/// Rings the agent directly and waits for it to refuse `which` FIFO.
fn agent_refuses(worker: &mut Worker, which: &str) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker.pid as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    worker.wait_log(&format!("refused the {which} FIFO"));
}

/// Nothing of the lure was evaluated: no audit record of it, and `bump()` never ran.
fn nothing_evaluated(worker: &mut Worker) {
    let _ = std::fs::remove_file(FifoPaths::for_pid(worker.pid).request());
    assert!(
        !worker
            .log_so_far()
            .iter()
            .any(|line| line.contains("evaluated") && line.contains("bump()")),
        "{:?}",
        worker.log_seen
    );
    let run = eval(worker.pid, "bumps");
    assert_eq!((run.code, run.stdout.trim()), (0, "0"), "{run:?}");
}

/// A reply FIFO of our own for `token`, so only the request side is wrong.
fn honest_reply(worker: &Worker, token: &Token) -> (OwnedFd, PathBuf) {
    let path = FifoPaths::for_pid(worker.pid).reply(token);
    mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
    let fd = open(&path, OFlag::O_RDONLY | OFlag::O_NONBLOCK, Mode::empty()).unwrap();
    (fd, path)
}

fn planted_request_fifo(mode: u32, uid: u32) {
    let mut worker = Worker::fixture_logged(&[]);
    let token = Token::generate().unwrap();
    let (_reply, reply_path) = honest_reply(&worker, &token);
    let request = FifoPaths::for_pid(worker.pid).request();
    let _held = fifo(&request, mode, uid, &lure(&token));
    cli_goes_around(&mut worker, &request);
    agent_refuses(&mut worker, "request");
    assert!(
        request.exists(),
        "the CLI must not remove what it did not make"
    );
    nothing_evaluated(&mut worker);
    let _ = std::fs::remove_file(reply_path);
}

#[test]
fn a_request_fifo_owned_by_another_user_is_refused() {
    planted_request_fifo(0o600, NOBODY);
}

#[test]
fn a_group_writable_request_fifo_is_refused() {
    planted_request_fifo(0o620, 0);
}

#[test]
fn a_world_writable_request_fifo_is_refused() {
    planted_request_fifo(0o602, 0);
}

fn planted_request_link(target: impl FnOnce(&Worker) -> PathBuf) {
    let mut worker = Worker::fixture_logged(&[]);
    let request = FifoPaths::for_pid(worker.pid).request();
    let target = target(&worker);
    // Only regular files are read back: reading a FIFO would wait for a writer.
    let read_file = |path: &Path| path.is_file().then(|| std::fs::read(path).unwrap());
    let before = read_file(&target);
    symlink(&target, &request).unwrap();
    cli_goes_around(&mut worker, &request);
    agent_refuses(&mut worker, "request");
    assert_eq!(read_file(&target), before, "the link's target was touched");
    nothing_evaluated(&mut worker);
    let _ = std::fs::remove_file(target);
}

#[test]
fn a_symlink_to_a_file_is_refused_and_the_file_is_untouched() {
    planted_request_link(|worker| bystander(worker, "file"));
}

#[test]
fn a_symlink_to_a_valid_fifo_is_refused() {
    let token = Token::generate().unwrap();
    let mut held = Vec::new();
    planted_request_link(|worker| {
        let path = std::env::temp_dir().join(format!("attach-link-target-{}", worker.pid));
        held.push(fifo(&path, 0o600, 0, &lure(&token)));
        held.push(honest_reply(worker, &token).0);
        path
    });
}

#[test]
fn a_dangling_symlink_is_refused_and_nothing_is_created() {
    let mut made = None;
    planted_request_link(|worker| {
        let path = std::env::temp_dir().join(format!("attach-nowhere-{}", worker.pid));
        made = Some(path.clone());
        path
    });
    assert!(
        !made.unwrap().exists(),
        "following the link would create it"
    );
}

#[test]
fn a_regular_file_or_a_directory_at_the_request_path_is_refused() {
    let mut worker = Worker::fixture_logged(&[]);
    let request = FifoPaths::for_pid(worker.pid).request();
    let token = Token::generate().unwrap();
    let (_reply, reply_path) = honest_reply(&worker, &token);
    std::fs::write(&request, lure(&token)).unwrap();
    std::fs::set_permissions(&request, std::fs::Permissions::from_mode(0o600)).unwrap();
    cli_goes_around(&mut worker, &request);
    agent_refuses(&mut worker, "request");
    assert_eq!(std::fs::read(&request).unwrap(), lure(&token));
    std::fs::remove_file(&request).unwrap();

    std::fs::create_dir(&request).unwrap();
    cli_goes_around(&mut worker, &request);
    agent_refuses(&mut worker, "request");
    std::fs::remove_dir(&request).unwrap();
    nothing_evaluated(&mut worker);
    let _ = std::fs::remove_file(reply_path);
}

/// A valid request FIFO whose reply path holds what `plant` put there.
fn planted_reply(plant: impl FnOnce(&Path, &Worker) -> Option<OwnedFd>) {
    let mut worker = Worker::fixture_logged(&[]);
    let paths = FifoPaths::for_pid(worker.pid);
    let token = Token::generate().unwrap();
    let reply = paths.reply(&token);
    let _held_reply = plant(&reply, &worker);
    let _held_request = fifo(&paths.request(), 0o600, 0, &lure(&token));
    agent_refuses(&mut worker, "reply");
    nothing_evaluated(&mut worker);
    let _ = std::fs::remove_file(reply);
}

#[test]
fn a_reply_path_linked_to_a_file_is_never_written() {
    let mut target = None;
    planted_reply(|reply, worker| {
        let file = bystander(worker, "reply-target");
        symlink(&file, reply).unwrap();
        target = Some(file);
        None
    });
    let target = target.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    std::fs::remove_file(target).unwrap();
}

#[test]
fn a_regular_file_at_the_reply_path_is_never_written() {
    let mut planted = None;
    planted_reply(|reply, _| {
        std::fs::write(reply, b"precious").unwrap();
        std::fs::set_permissions(reply, std::fs::Permissions::from_mode(0o600)).unwrap();
        planted = Some(std::fs::read(reply).unwrap());
        None
    });
    assert_eq!(planted.unwrap(), b"precious");
}

#[test]
fn a_reply_fifo_of_another_user_is_never_opened() {
    planted_reply(|reply, _| Some(fifo(reply, 0o600, NOBODY, b"")));
}

#[test]
fn a_loosely_permitted_reply_fifo_is_never_opened() {
    planted_reply(|reply, _| Some(fifo(reply, 0o622, 0, b"")));
}

#[test]
fn a_missing_reply_fifo_ends_the_attempt_quietly() {
    planted_reply(|_, _| None);
}
