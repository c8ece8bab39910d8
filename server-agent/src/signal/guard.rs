//! The request guard: no doorbell while a request is in flight.
//!
//! Wrapping each request in a `RequestGuard` blocks the doorbell signal on the current
//! thread with `pthread_sigmask` and restores the previous mask on drop. Guarded code
//! can therefore never be interrupted by the agent's signal: no EINTR from slow system
//! calls, no handler running on top of half-finished work. Guards nest (each restores
//! the mask it found) and cannot be sent to another thread, because a signal mask
//! belongs to a thread. Each guard also shows up in `inflight()`, and labelled ones are
//! timed for `inflight_stats()` (see `inflight`).

use std::marker::PhantomData;

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};

use crate::inflight;
use crate::signal::doorbell::doorbell_set;

/// Blocks the doorbell signal on this thread until dropped.
#[must_use = "the doorbell is only blocked while the guard is alive"]
pub struct RequestGuard {
    previous: SigSet,
    // Raw pointers are neither Send nor Sync: the guard stays on its thread.
    _not_send: PhantomData<*const ()>,
}

impl RequestGuard {
    /// Labels longer than this are cut (at a character boundary).
    pub const MAX_LABEL_BYTES: usize = inflight::MAX_LABEL_BYTES;

    /// Enters a request: blocks the doorbell and shows the request in `inflight()`.
    pub fn enter() -> RequestGuard {
        RequestGuard::enter_inner(None)
    }

    /// Like `enter`, with a label for `inflight()` (e.g. `"GET /orders"`; at most
    /// `MAX_LABEL_BYTES` are kept). Nested guards keep the outermost label. The
    /// outermost labelled guard is also timed for `inflight_stats()`: keep labels few
    /// (a route, not a raw path) and free of secrets.
    pub fn enter_labeled(label: &str) -> RequestGuard {
        RequestGuard::enter_inner(Some(label))
    }

    fn enter_inner(label: Option<&str>) -> RequestGuard {
        let mut previous = SigSet::empty();
        // pthread_sigmask only fails for an invalid `how`, which this is not.
        let _ = pthread_sigmask(
            SigmaskHow::SIG_BLOCK,
            Some(&doorbell_set()),
            Some(&mut previous),
        );
        inflight::enter(label);
        RequestGuard {
            previous,
            _not_send: PhantomData,
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        inflight::leave();
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.previous), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::doorbell::doorbell_signal;

    fn blocked_now() -> bool {
        SigSet::thread_get_mask()
            .unwrap()
            .contains(doorbell_signal())
    }

    #[test]
    fn guards_nest_and_restore_the_mask() {
        std::thread::spawn(|| {
            let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&doorbell_set()), None);
            assert!(!blocked_now());
            {
                let _outer = RequestGuard::enter();
                assert!(blocked_now());
                {
                    let _inner = RequestGuard::enter();
                    assert!(blocked_now());
                }
                assert!(
                    blocked_now(),
                    "inner guard must not unblock for the outer one"
                );
            }
            assert!(!blocked_now());
        })
        .join()
        .unwrap();
    }
}
