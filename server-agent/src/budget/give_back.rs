//! Giving what a finished session freed back to the operating system, so that the
//! host's RSS returns to where it was (glibc keeps freed memory in its arenas).
//!
//! `malloc_trim` is not free for the host: it walks every arena, the host's included,
//! with that arena locked, and advises the kernel about each free chunk it finds, so a
//! host thread that allocates meanwhile waits (6 ms after a 110 MiB session when the
//! host shares the agent's arena; BENCHMARKS.md §10). So it runs only after a session
//! that left the worker's resident memory grown by more than `TRIM_AFTER`; most
//! sessions leave nothing to give back and cost the host nothing here.
//!
//! Never from here: a trim after a session that did not grow the worker.

use std::time::{Duration, Instant};

use crate::budget::resident;

/// Resident growth across a session past which the agent trims (well within the
/// 16 MiB the worker's RSS may stay above where it was).
const TRIM_AFTER: usize = 8 * 1024 * 1024;

/// The worker's resident memory before a session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Baseline(Option<usize>);

impl Baseline {
    pub(crate) fn now() -> Baseline {
        Baseline(resident::bytes())
    }
}

/// What `give_back_memory` found and did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GivenBack {
    /// How much the worker's resident memory grew across the session.
    pub(crate) grown: usize,
    /// How long the trim took, if there was one.
    pub(crate) trim: Option<Duration>,
}

/// Trims the allocator's arenas if the worker grew by more than `TRIM_AFTER` since
/// `before` (or if its resident memory cannot be read).
pub(crate) fn give_back_memory(before: Baseline) -> GivenBack {
    let grown = match (before.0, resident::bytes()) {
        (Some(before), Some(now)) => now.saturating_sub(before),
        _ => usize::MAX,
    };
    let trim = (grown > TRIM_AFTER).then(|| {
        let started = Instant::now();
        trim();
        started.elapsed()
    });
    GivenBack { grown, trim }
}

fn trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas; it is
    // thread-safe and has no preconditions.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_trim_after_a_session_that_did_not_grow_the_worker() {
        let before = Baseline::now();
        let given = give_back_memory(before);
        assert!(given.trim.is_none(), "{given:?}");
        let unknown = give_back_memory(Baseline(None));
        assert!(unknown.trim.is_some());
    }
}
