//! Ctrl-C and friends while waiting for the agent.
//!
//! The handlers only set a flag (async-signal safety, docs/LESSONS.md, applies to the
//! client too); a session polls it every 100 ms while it waits and returns `Interrupted`,
//! so the session still leaves through `Drop` and removes its FIFOs.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: nix::libc::c_int) {
    REQUESTED.store(true, Ordering::Relaxed);
}

/// Routes SIGINT, SIGTERM and SIGHUP to the flag.
pub fn install() {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(signal, &action) };
    }
}

/// The flag the handlers raise, for `ConnectOptions::interrupt`.
pub fn flag() -> &'static AtomicBool {
    &REQUESTED
}

/// True once a stop was requested and not yet taken.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Forgets a request (the interactive shell cancels one command, not the session).
pub fn clear() {
    REQUESTED.store(false, Ordering::Relaxed);
}
