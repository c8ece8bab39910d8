//! A label kept in atomics, so a request thread can write it without allocating or
//! locking and the agent thread can read it (inside a seqlock or after a flag).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Labels longer than this are cut (at a character boundary).
pub(crate) const MAX_LABEL_BYTES: usize = 64;
const LABEL_WORDS: usize = MAX_LABEL_BYTES / 8;

/// Up to `MAX_LABEL_BYTES` of text in eight words.
pub(crate) struct LabelWords {
    len: AtomicUsize,
    words: [AtomicU64; LABEL_WORDS],
}

impl LabelWords {
    pub(crate) const fn new() -> LabelWords {
        LabelWords {
            len: AtomicUsize::new(0),
            words: [const { AtomicU64::new(0) }; LABEL_WORDS],
        }
    }

    /// Stores `label` (cut to `MAX_LABEL_BYTES`) and returns a non-zero hash of
    /// what was stored.
    pub(crate) fn store(&self, label: &str) -> u64 {
        const MIX: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut end = label.len().min(MAX_LABEL_BYTES);
        while !label.is_char_boundary(end) {
            end -= 1;
        }
        let bytes = &label.as_bytes()[..end];
        let whole = bytes.chunks_exact(8);
        let tail = whole.remainder();
        let mut hash = (end as u64).wrapping_mul(MIX);
        let mut words = self.words.iter();
        // `whole` first: zip stops on it without taking another word.
        for (chunk, word) in whole.zip(words.by_ref()) {
            // Fixed-size conversions compile to plain loads, not memcpy calls.
            let packed = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            word.store(packed, Ordering::Relaxed);
            hash = (hash.rotate_left(23) ^ packed).wrapping_mul(MIX);
        }
        if let Some(word) = words.next().filter(|_| !tail.is_empty()) {
            let packed = tail
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | b as u64);
            word.store(packed, Ordering::Relaxed);
            hash = (hash.rotate_left(23) ^ packed).wrapping_mul(MIX);
        }
        self.len.store(end, Ordering::Relaxed);
        hash | 1
    }

    /// The stored text; a torn read (racing a `store`) gives mixed bytes, so callers
    /// check a sequence counter or a flag around it.
    pub(crate) fn load(&self) -> String {
        let len = self.len.load(Ordering::Relaxed).min(MAX_LABEL_BYTES);
        let mut bytes: Vec<u8> = self
            .words
            .iter()
            .flat_map(|word| word.load(Ordering::Relaxed).to_le_bytes())
            .collect();
        bytes.truncate(len);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
