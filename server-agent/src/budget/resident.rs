//! The worker's resident memory, read cheaply and often: the backstop of the memory
//! budget for what no walk can see (a native Rhai function building its result, such
//! as `map` collecting what a closure returns).
//!
//! `/proc/self/statm` is kept open and re-read with `pread`, which costs a system call
//! of about a microsecond; callers space the reads out (see `budget`).
//!
//! Never from here: anything but reading that one file.

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;

thread_local! {
    static STATM: RefCell<Option<File>> = const { RefCell::new(None) };
}

/// Resident bytes of this process now; None if /proc cannot tell.
pub(crate) fn bytes() -> Option<usize> {
    STATM.with(|statm| {
        let mut statm = statm.borrow_mut();
        if statm.is_none() {
            *statm = File::open("/proc/self/statm").ok();
        }
        let mut text = [0u8; 128];
        let read = statm.as_ref()?.read_at(&mut text, 0).ok()?;
        let pages: usize = std::str::from_utf8(&text[..read])
            .ok()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(pages * page_size())
    })
}

fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |size| size as usize)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_plausible_figure_twice() {
        let first = super::bytes().expect("statm");
        assert!(first > 1024 * 1024);
        assert!(super::bytes().is_some());
    }
}
