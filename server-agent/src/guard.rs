//! The request guard: no doorbell while a request is in flight.
//!
//! Wrapping each request in a `RequestGuard` blocks the doorbell signal on the current
//! thread with `pthread_sigmask` and restores the previous mask on drop. Guarded code
//! can therefore never be interrupted by the agent's signal: no EINTR from slow system
//! calls, no handler running on top of half-finished work. Guards nest (each restores
//! the mask it found) and cannot be sent to another thread, because a signal mask
//! belongs to a thread.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};

use crate::doorbell::doorbell_set;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Blocks the doorbell signal on this thread until dropped.
#[must_use = "the doorbell is only blocked while the guard is alive"]
pub struct RequestGuard {
    previous: SigSet,
    // Raw pointers are neither Send nor Sync: the guard stays on its thread.
    _not_send: PhantomData<*const ()>,
}

impl RequestGuard {
    /// Enters a request: blocks the doorbell and counts the request as in flight.
    pub fn enter() -> RequestGuard {
        let mut previous = SigSet::empty();
        // pthread_sigmask only fails for an invalid `how`, which this is not.
        let _ = pthread_sigmask(
            SigmaskHow::SIG_BLOCK,
            Some(&doorbell_set()),
            Some(&mut previous),
        );
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        RequestGuard {
            previous,
            _not_send: PhantomData,
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.previous), None);
    }
}

/// How many request guards are alive right now, across all threads.
pub fn requests_in_flight() -> usize {
    IN_FLIGHT.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doorbell::doorbell_signal;

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
