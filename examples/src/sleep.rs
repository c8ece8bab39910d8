//! A sleep that reports interruptions instead of hiding them.
//!
//! `nanosleep(2)` is one of the calls SA_RESTART does *not* restart (docs/LESSONS.md,
//! "SA_RESTART does not restart everything"): a handled signal makes it fail with
//! EINTR. We resume with the remaining time (the PEP 475 retry) and count every EINTR,
//! so a test can prove that guarded request code sees none.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::libc;

/// Sleeps for `duration`, retrying after EINTR; each EINTR increments `eintr_seen`.
pub fn sleep_counting_eintr(duration: Duration, eintr_seen: &AtomicU64) {
    let mut request = libc::timespec {
        tv_sec: duration.as_secs() as libc::time_t,
        tv_nsec: duration.subsec_nanos() as libc::c_long,
    };
    loop {
        let mut remaining = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: both pointers are to live, initialized timespecs on this stack.
        let rc = unsafe { libc::nanosleep(&request, &mut remaining) };
        if rc == 0 {
            return;
        }
        if nix::errno::Errno::last() != nix::errno::Errno::EINTR {
            return;
        }
        eintr_seen.fetch_add(1, Ordering::Relaxed);
        request = remaining;
    }
}
