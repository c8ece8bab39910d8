//! Reads the stopped thread's stack with `process_vm_readv`, a page at a time, so a
//! walk costs a few system calls rather than one per word.

use std::collections::HashMap;
use std::io::IoSliceMut;

use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

const PAGE: u64 = 4096;

pub(crate) struct Memory {
    pid: Pid,
    pages: HashMap<u64, Option<Box<[u8]>>>,
}

impl Memory {
    pub(crate) fn new(pid: u32) -> Memory {
        Memory {
            pid: Pid::from_raw(pid as i32),
            pages: HashMap::new(),
        }
    }

    /// The 8 bytes at `address`, or `Err` when any of them is not mapped.
    pub(crate) fn read_u64(&mut self, address: u64) -> Result<u64, ()> {
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
                let remote = [RemoteIoVec {
                    base: base as usize,
                    len: PAGE as usize,
                }];
                let read = process_vm_readv(pid, &mut [IoSliceMut::new(&mut page)], &remote);
                matches!(read, Ok(n) if n == PAGE as usize).then_some(page)
            })
            .as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_words_of_this_process_and_refuses_unmapped_ones() {
        let words: Vec<u64> = (0..1024u64).map(|n| n * 0x0101).collect();
        let mut memory = Memory::new(std::process::id());
        for (index, word) in words.iter().enumerate() {
            assert_eq!(
                memory.read_u64(&words[index] as *const u64 as u64),
                Ok(*word)
            );
        }
        assert_eq!(memory.read_u64(8), Err(()));
    }
}
