//! Finding threads the doorbell can still interrupt.
//!
//! `install` blocks the doorbell in the calling thread, and threads started later
//! inherit that. Threads that already existed (an async runtime built first, a pool
//! started first) keep their old mask. `attach` rings the agent thread itself, so its
//! doorbell never lands on them, but a signal sent to the whole process (`kill`) may,
//! and interrupt a blocking call with EINTR. The agent cannot change another thread's
//! mask, so it says so, by name, through `tracing`.

use attach_protocol::ProcStatus;
use nix::sys::signal::Signal;

/// Names (`name (tid)`) of the other threads of this process that do not block
/// `signal`, read from `SigBlk` in `/proc/self/task/*/status`.
pub(crate) fn exposed_threads(signal: Signal) -> Vec<String> {
    let me = nix::unistd::gettid().as_raw().to_string();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter(|task| task.file_name().to_str() != Some(me.as_str()))
        .filter_map(|task| {
            let status = ProcStatus::read(task.path().join("status")).ok()?;
            let blocked = status.has_signal("SigBlk", signal as i32)?;
            let name = status.name()?;
            (!blocked).then(|| format!("{name} ({})", task.file_name().to_string_lossy()))
        })
        .collect()
}

/// Warns, by name, about threads that started before the agent and can be interrupted.
pub(crate) fn warn_if_exposed(signal: Signal) {
    let exposed = exposed_threads(signal);
    if !exposed.is_empty() {
        tracing::warn!(
            target: "attach::agent",
            threads = %exposed.join(", "),
            "{} thread(s) started before the attach agent was installed do not block {signal:?}: \
             attach rings only the agent thread, but a {signal:?} sent to the whole process may \
             interrupt them (EINTR). Install the agent first, before starting threads or building \
             an async runtime (see the README, \"Async hosts\")",
            exposed.len()
        );
    }
}
