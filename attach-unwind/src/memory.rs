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

    /// Copies up to `COPIED_PAGES` pages from just below `sp` into `bytes` (from
    /// `buffer`), stopping at the first page that is not mapped (the top of the stack).
    pub(crate) fn capture(pid: u32, sp: u64, mut bytes: Vec<u8>) -> Memory {
        let pid = Pid::from_raw(pid as i32);
        let start = sp.saturating_sub(RED_ZONE) & !(PAGE - 1);
        let remote: Vec<RemoteIoVec> = (0..COPIED_PAGES)
            .map(|page| RemoteIoVec {
                base: (start + page * PAGE) as usize,
                len: PAGE as usize,
            })
            .collect();
        let read = process_vm_readv(pid, &mut [IoSliceMut::new(&mut bytes)], &remote);
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
        let mut memory = Memory::capture(std::process::id(), here, Memory::buffer());
        assert!(!memory.stack.1.is_empty());
        assert_eq!(memory.read_u64(here + 8), Ok(7));
        for (index, word) in words.iter().enumerate() {
            assert_eq!(
                memory.read_u64(&words[index] as *const u64 as u64),
                Ok(*word)
            );
        }
        assert_eq!(memory.read_u64(8), Err(()));
    }
}
