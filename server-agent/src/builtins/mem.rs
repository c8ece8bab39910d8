//! `mem()`: resident and virtual size from `/proc/self/status`, and the heap figures
//! glibc's allocator exposes.

use attach_protocol::ProcStatus;
use serde::Serialize;

use super::procfs::read_proc;

#[derive(Debug, Serialize)]
pub(crate) struct Memory {
    rss_kib: u64,
    peak_rss_kib: u64,
    virtual_kib: u64,
    heap: Option<Heap>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Heap {
    allocator: &'static str,
    in_use_bytes: u64,
    free_bytes: u64,
    mmapped_bytes: u64,
    arena_bytes: u64,
}

pub(crate) fn mem() -> Result<Memory, String> {
    let status = ProcStatus::from(read_proc("status")?);
    let kib = |key: &str| status.number(key).unwrap_or(0);
    Ok(Memory {
        rss_kib: kib("VmRSS"),
        peak_rss_kib: kib("VmHWM"),
        virtual_kib: kib("VmSize"),
        heap: heap(),
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap() -> Option<Heap> {
    // SAFETY: mallinfo2 takes no pointers and returns a plain struct; it locks the
    // allocator's arenas briefly, which is fine on the agent thread (never in a
    // signal handler).
    let info = unsafe { nix::libc::mallinfo2() };
    Some(Heap {
        allocator: "glibc malloc",
        in_use_bytes: info.uordblks as u64,
        free_bytes: info.fordblks as u64,
        mmapped_bytes: info.hblkhd as u64,
        arena_bytes: info.arena as u64,
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap() -> Option<Heap> {
    None
}
