//! Walks a captured stack with DWARF CFI from the mapped files' `.eh_frame` (frame
//! pointers where no table covers an address), after the thread runs again.

use framehop::{FrameAddress, Unwinder as _};

use crate::maps::Modules;
use crate::stop::Captured;

/// Deeper stacks are cut here (a runaway recursion must not make a reply huge).
const MAX_FRAMES: usize = 256;

pub(crate) struct Walker<'m> {
    modules: &'m Modules,
    cache: framehop::CacheNative<framehop::MayAllocateDuringUnwind>,
}

impl<'m> Walker<'m> {
    pub(crate) fn new(modules: &'m Modules) -> Walker<'m> {
        Walker {
            modules,
            cache: framehop::CacheNative::new(),
        }
    }

    /// The frames' addresses, innermost first.
    pub(crate) fn walk(&mut self, captured: Captured) -> Vec<FrameAddress> {
        let Captured {
            pc,
            regs,
            mut memory,
            ..
        } = captured;
        let mut read = |address| memory.read_u64(address);
        let mut iter = self
            .modules
            .unwinder
            .iter_frames(pc, regs, &mut self.cache, &mut read);
        let mut frames = Vec::new();
        while let (true, Ok(Some(frame))) = (frames.len() < MAX_FRAMES, iter.next()) {
            frames.push(frame);
        }
        frames
    }
}
