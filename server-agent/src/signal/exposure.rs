//! Finding threads the doorbell can still interrupt.
//!
//! `install` blocks the doorbell in the calling thread, and threads started later
//! inherit that. Threads that already existed (an async runtime built first, a pool
//! started first) keep their old mask, and threads *they* start later inherit it.
//! `attach` rings the agent thread itself, so its doorbell never lands on them, but a
//! signal sent to the whole process (`kill`) may, and interrupt a blocking call with
//! EINTR. The agent cannot change another thread's mask, so it names them: at install
//! and again at each doorbell that finds new ones.
//!
//! A thread caught while `pthread_create` is still starting it shows every signal
//! blocked (glibc blocks all of them around the clone until the new thread restores
//! the mask it inherited). Such a mask is read again until it settles, or the thread
//! would be missed.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use attach_protocol::ProcStatus;
use nix::sys::signal::Signal;

/// How long, at install, a thread may look "still starting" before its mask is taken
/// as is. At a doorbell there is no wait (a session should not pay for it); a thread
/// missed then is named at the next one.
pub(crate) const SETTLE_AT_INSTALL: Duration = Duration::from_millis(200);

/// Every signal but SIGKILL and SIGSTOP, which the kernel never lets a thread block.
const ALL_BLOCKABLE: u64 =
    !((1 << (Signal::SIGKILL as u64 - 1)) | (1 << (Signal::SIGSTOP as u64 - 1)));

/// Threads already named in a warning.
static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// A thread's name and blocked-signal mask, from its `/proc` status.
fn read_status(task: &std::path::Path) -> Option<(String, u64)> {
    let status = ProcStatus::read(task.join("status")).ok()?;
    let blocked = u64::from_str_radix(status.field("SigBlk")?, 16).ok()?;
    Some((status.name()?.to_owned(), blocked))
}

/// Names (`name (tid)`) of the other threads of this process that do not block
/// `signal`, read from `SigBlk` in `/proc/self/task/*/status`, waiting up to `settle`
/// for threads that are still starting.
fn exposed_threads(signal: Signal, settle: Duration) -> Vec<String> {
    let me = nix::unistd::gettid().as_raw().to_string();
    let bit = 1u64 << (signal as i32 - 1);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let settle_by = Instant::now() + settle;
    tasks
        .flatten()
        .filter(|task| task.file_name().to_str() != Some(me.as_str()))
        .filter_map(|task| {
            let path = task.path();
            let (mut name, mut blocked) = read_status(&path)?;
            while blocked & ALL_BLOCKABLE == ALL_BLOCKABLE && Instant::now() < settle_by {
                std::thread::sleep(Duration::from_millis(1));
                (name, blocked) = read_status(&path)?;
            }
            (blocked & bit == 0).then(|| format!("{name} ({})", task.file_name().to_string_lossy()))
        })
        .collect()
}

/// True once a warning named a thread: only then can threads started later be
/// exposed too (they inherit their creator's mask), so only then is it worth
/// looking again at a doorbell.
pub(crate) fn any_warned() -> bool {
    !WARNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .is_empty()
}

/// A warning naming every thread the doorbell can interrupt, if there is one the
/// last warning did not name.
pub(crate) fn new_warning(signal: Signal, settle: Duration) -> Option<String> {
    let exposed = exposed_threads(signal, settle);
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if exposed.iter().all(|thread| warned.contains(thread)) {
        return None;
    }
    warned.extend(exposed.iter().cloned());
    Some(format!(
        "{} thread(s) started before the attach agent was installed do not block {signal:?}: \
         {}. attach rings only the agent thread, but a {signal:?} sent to the whole process \
         may interrupt them (EINTR), and threads they start inherit that. Install the agent \
         first, before starting threads or building an async runtime (see the README, \
         \"Async hosts\")",
        exposed.len(),
        exposed.join(", ")
    ))
}
