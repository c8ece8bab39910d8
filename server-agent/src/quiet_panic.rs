//! Keeps panics on the agent thread off the host's stderr.
//!
//! A panic in a registered getter is caught and answered as an error, but Rust's
//! default panic hook would still print it to stderr, which belongs to the host. We
//! wrap the hook once: on the agent thread the panic goes to `tracing`; on every other
//! thread the host's own hook runs unchanged.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    static ON_AGENT_THREAD: Cell<bool> = const { Cell::new(false) };
}

pub(crate) fn install_hook_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let host_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ON_AGENT_THREAD.try_with(Cell::get).unwrap_or(false) {
                tracing::error!(
                    target: "attach::agent",
                    panic = %info,
                    "contained a panic on the agent thread"
                );
            } else {
                host_hook(info);
            }
        }));
    });
}

pub(crate) fn mark_agent_thread() {
    ON_AGENT_THREAD.with(|flag| flag.set(true));
}

/// The message of a caught panic payload.
pub(crate) fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}
