//! `runtime()` for tokio hosts (cargo feature `tokio`): the runtime's stable metrics.
//!
//! The runtime is built after the agent is installed (so its threads inherit the
//! doorbell block), so the host hands its handle over afterwards with
//! `Agent::watch_runtime`.

use std::sync::OnceLock;

use serde_json::{json, Value};
use tokio::runtime::Handle;

static RUNTIME: OnceLock<Handle> = OnceLock::new();

/// The runtime `runtime()` reports on; the first one handed over stays.
pub(crate) fn watch(handle: Handle) {
    let _ = RUNTIME.set(handle);
}

/// The runtime handed over, or what the host must do.
pub(crate) fn handle() -> Result<&'static Handle, String> {
    RUNTIME.get().ok_or_else(|| {
        "no tokio runtime to report on: the host must call Agent::watch_runtime(handle) \
         after building it (or with Handle::current() inside #[tokio::main])"
            .to_owned()
    })
}

/// The metrics tokio exposes without `tokio_unstable`.
pub(crate) fn runtime() -> Result<Value, String> {
    let handle = handle()?;
    let metrics = handle.metrics();
    let workers: Vec<Value> = (0..metrics.num_workers())
        .map(|worker| {
            json!({
                "worker": worker,
                "park_count": metrics.worker_park_count(worker),
                "busy_ms": metrics.worker_total_busy_duration(worker).as_millis() as u64,
            })
        })
        .collect();
    Ok(json!({
        "flavor": format!("{:?}", handle.runtime_flavor()),
        "workers": metrics.num_workers(),
        "alive_tasks": metrics.num_alive_tasks(),
        "global_queue_depth": metrics.global_queue_depth(),
        "per_worker": workers,
    }))
}
