//! Another local user plants names in /tmp to lock the owner out: the owner (root, or
//! uid 65534 who cannot remove another user's file from a sticky /tmp) still attaches,
//! through the agent's private directory; and a watcher of /tmp never learns a session
//! token in time to plant its reply FIFO first.

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use attach_protocol::FifoPaths;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::stat::Mode;
use nix::unistd::{chown, mkfifo, Uid};

use crate::support::{attach_as, eval, Worker};

const NOBODY: u32 = 65534;
/// The attacker: a third local user.
const MALLORY: u32 = 65533;

/// A FIFO at `path` owned by `uid`, as that user could make it.
fn plant_fifo(path: &Path, uid: u32) {
    mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR).unwrap();
    chown(path, Some(Uid::from_raw(uid)), None).unwrap();
}

#[test]
fn the_owner_attaches_around_a_request_pipe_planted_by_another_user() {
    let mut worker = Worker::start_as(
        NOBODY,
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_fixture-worker")),
        &[],
        &[("RUST_LOG", "attach=info")],
    );
    assert_eq!(worker.first_line, "ready");
    let request = FifoPaths::for_pid(worker.pid).request();
    plant_fifo(&request, MALLORY);
    for caller in [NOBODY, 0] {
        let run = attach_as(caller, &[&worker.pid.to_string(), "-e", "counter"]);
        assert_eq!((run.code, run.stdout.trim()), (0, "7"), "{run:?}");
        assert!(
            run.stderr
                .contains(&format!("refusing to use {}", request.display()))
                && run.stderr.contains("using the agent's private directory"),
            "{run:?}"
        );
        let opened = worker.wait_log("session opened");
        assert!(opened.contains("rendezvous=\"private\""), "{opened}");
    }
    let planted = std::fs::symlink_metadata(&request).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&planted), MALLORY);
    std::fs::remove_file(request).unwrap();
}

/// Every run of 32 lowercase hex digits in `name`.
fn hex_runs(name: &str) -> Vec<String> {
    let bytes = name.as_bytes();
    let is_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    (0..bytes.len().saturating_sub(31))
        .filter(|&at| bytes[at..at + 32].iter().all(is_hex))
        .filter(|&at| at == 0 || !is_hex(&bytes[at - 1]))
        .map(|at| name[at..at + 32].to_owned())
        .collect()
}

/// What a watcher of /tmp saw: hex runs seen outside a reply name first, and
/// tokens whose reply FIFO the client made itself.
#[derive(Default)]
struct Sightings {
    early: HashSet<String>,
    replies: HashSet<String>,
    planted: HashSet<String>,
}

/// Watches /tmp and, for every hex run it sees, plants the reply FIFO of `pid` with
/// that token (owned by MALLORY) as fast as it can.
fn watch_and_plant(pid: u32, stop: Arc<AtomicBool>, seen: Arc<Mutex<Sightings>>) {
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).unwrap();
    inotify
        .add_watch(
            "/tmp",
            AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
        )
        .unwrap();
    let paths = FifoPaths::for_pid(pid);
    loop {
        // Stopping still drains what is queued.
        let stopping = stop.load(Ordering::Relaxed);
        let Ok(events) = inotify.read_events() else {
            if stopping {
                return;
            }
            let mut ready = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut ready, PollTimeout::from(10u8));
            continue;
        };
        let mut seen = seen.lock().unwrap();
        for name in events.iter().filter_map(|e| e.name.as_ref()?.to_str()) {
            if paths.is_reply_name(name) {
                if !seen.planted.contains(name) {
                    seen.replies.extend(hex_runs(name));
                }
                continue;
            }
            for token in hex_runs(name) {
                if seen.early.insert(token.clone()) {
                    let reply = format!("{pid}.{token}.reply");
                    if mkfifo(
                        &Path::new("/tmp").join(&reply),
                        Mode::S_IRUSR | Mode::S_IWUSR,
                    )
                    .is_ok()
                    {
                        let _ = chown(
                            &Path::new("/tmp").join(&reply),
                            Some(Uid::from_raw(MALLORY)),
                            None,
                        );
                        seen.planted.insert(reply);
                    }
                }
            }
        }
    }
}

#[test]
fn a_watcher_of_tmp_never_sees_a_token_before_its_reply_fifo_exists() {
    let worker = Worker::fixture(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Sightings::default()));
    let watcher = {
        let (stop, seen) = (stop.clone(), seen.clone());
        let pid = worker.pid;
        std::thread::spawn(move || watch_and_plant(pid, stop, seen))
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let failed = (0..30)
        .map(|_| eval(worker.pid, "1"))
        .filter(|run| run.code != 0)
        .count();
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(failed, 0, "the watcher planted a reply FIFO first");
    assert_eq!(seen.replies.len(), 30, "the watcher saw every session");
    let leaked: Vec<_> = seen.replies.intersection(&seen.early).collect();
    assert!(
        leaked.is_empty(),
        "tokens seen before their reply FIFO: {leaked:?}"
    );
}
