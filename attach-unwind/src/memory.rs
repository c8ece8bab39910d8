//! The stopped thread's stack: copied in one `process_vm_readv` while the thread is
//! stopped, so that the walk itself runs after the thread is let go. Reads outside
//! the copy (deep stacks) go to the live process a page at a time.

use std::collections::HashMap;
use std::io::IoSliceMut;

use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

const PAGE: u64 = 4096;
/// How much stack above the stack pointer is copied while the thread is stopped.
const COPIED_PAGES: u64 = 32;
/// Bytes below the stack pointer a leaf function may use (x86_64 red zone).
const RED_ZONE: u64 = 128;

pub(crate) struct Memory {
    pid: Pid,
    /// The copied stack: its first address and its bytes.
    stack: (u64, Vec<u8>),
    pages: HashMap<u64, Option<Box<[u8]>>>,
}

impl Memory {
    /// A buffer for `capture`, written once so that no page fault of ours lengthens
    /// a stop. Made before the thread is stopped.
    pub(crate) fn buffer() -> Vec<u8> {
        let mut bytes = Vec::with_capacity((COPIED_PAGES * PAGE) as usize);
        bytes.resize(bytes.capacity(), 1);
        bytes
    }

    /// Copies the stack from just below `sp` up to `top`, the end of its mapping
    /// when known, but at most `COPIED_PAGES` pages, into `bytes` (from `buffer`);
    /// the copy ends at the first page that is not mapped. The thread is stopped
    /// meanwhile, so this is one system call and allocates nothing: a stack's used
    /// part is usually a few pages, and only those are copied.
    pub(crate) fn capture(pid: u32, sp: u64, top: Option<u64>, mut bytes: Vec<u8>) -> Memory {
        let pid = Pid::from_raw(pid as i32);
        let start = sp.saturating_sub(RED_ZONE) & !(PAGE - 1);
        let pages = top.map_or(COPIED_PAGES, |top| {
            top.saturating_sub(start).div_ceil(PAGE).min(COPIED_PAGES)
        });
        // One entry per page, since a read stops at the first entry it cannot read.
        let mut remote = [RemoteIoVec {
            base: 0,
            len: PAGE as usize,
        }; COPIED_PAGES as usize];
        for (page, entry) in (0..pages).zip(remote.iter_mut()) {
            entry.base = (start + page * PAGE) as usize;
        }
        let read = process_vm_readv(
            pid,
            &mut [IoSliceMut::new(&mut bytes)],
            &remote[..pages as usize],
        );
        bytes.truncate(read.unwrap_or(0));
        Memory {
            pid,
            stack: (start, bytes),
            pages: HashMap::new(),
        }
    }

    /// The 8 bytes at `address`, or `Err` when any of them is not mapped.
    pub(crate) fn read_u64(&mut self, address: u64) -> Result<u64, ()> {
        let (start, copied) = &self.stack;
        let copied_word = address
            .checked_sub(*start)
            .and_then(|offset| copied.get(offset as usize..offset as usize + 8));
        if let Some(word) = copied_word {
            return Ok(u64::from_ne_bytes(word.try_into().map_err(|_| ())?));
        }
        let mut bytes = [0u8; 8];
        for (offset, byte) in (0u64..).zip(bytes.iter_mut()) {
            let at = address.checked_add(offset).ok_or(())?;
            *byte = self.page(at & !(PAGE - 1)).ok_or(())?[(at % PAGE) as usize];
        }
        Ok(u64::from_ne_bytes(bytes))
    }

    fn page(&mut self, base: u64) -> Option<&[u8]> {
        let pid = self.pid;
        self.pages
            .entry(base)
            .or_insert_with(|| {
                let mut page = vec![0u8; PAGE as usize].into_boxed_slice();
                read_exact(pid, base, &mut page).then_some(page)
            })
            .as_deref()
    }
}

/// Fills `bytes` from `address` in process `pid`; `false` unless all of it was read.
pub(crate) fn read_exact(pid: Pid, address: u64, bytes: &mut [u8]) -> bool {
    let remote = [RemoteIoVec {
        base: address as usize,
        len: bytes.len(),
    }];
    let wanted = bytes.len();
    let read = process_vm_readv(pid, &mut [IoSliceMut::new(bytes)], &remote);
    matches!(read, Ok(n) if n == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_words_of_this_process_from_the_copy_and_beyond_it() {
        let on_stack = [7u64; 4];
        let words: Vec<u64> = (0..4096u64).map(|n| n * 0x0101).collect();
        let here = on_stack.as_ptr() as u64;
        let mut memory = Memory::capture(std::process::id(), here, None, Memory::buffer());
        assert!(!memory.stack.1.is_empty());
        assert_eq!(memory.read_u64(here + 8), Ok(7));
        for (index, word) in words.iter().enumerate() {
            assert_eq!(
                memory.read_u64(&words[index] as *const u64 as u64),
                Ok(*word)
            );
        }
        assert_eq!(memory.read_u64(8), Err(()));
        let bounded = Memory::capture(std::process::id(), here, Some(here + 16), Memory::buffer());
        assert!(!bounded.stack.1.is_empty() && bounded.stack.1.len() as u64 <= 2 * PAGE);
    }
}
