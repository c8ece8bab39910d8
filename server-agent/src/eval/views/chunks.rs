//! A walk of a view, fetched a chunk at a time under the budget, and what a script
//! sees of each entry.
//!
//! Never from here: holding a lock between chunks.

use std::time::{Duration, Instant};

use rhai::Dynamic;
use serde_json::Value;

use super::{Fallible, ViewValue};
use crate::budget;
use crate::eval::hooks::read_failure;
use crate::state::view::{Cursor, Item, Part, Stint};

/// Entries in the first chunk of a walk; each later chunk is four times larger, up to
/// `MAX_CHUNK` (large, so that a hash map's seek to the chunk is paid seldom).
const FIRST_CHUNK: usize = 64;
const MAX_CHUNK: usize = 16_384;
/// The longest one chunk may hold the host's lock (plus the seek to its start).
const CHUNK_TIME: Duration = Duration::from_micros(500);
/// A walk pauses between chunks so that the time since the last chunk is at least
/// this many times what fetching it took: the lock is held at most a third of the time.
const PAUSE_PER_FETCH: u32 = 2;

/// The entries of a walk, fetched a chunk at a time.
pub(super) struct Chunks {
    source: ViewValue,
    pub(super) part: Part,
    next: Option<Cursor>,
    buffer: std::vec::IntoIter<Item>,
    size: usize,
    /// When the last chunk was fetched, and how long fetching it took.
    last: Option<(Instant, Duration)>,
}

impl Chunks {
    /// Waits until the time since the last chunk is at least `PAUSE_PER_FETCH` times
    /// what fetching it took.
    fn pace(&self) {
        if let Some((fetched, took)) = self.last {
            if let Some(rest) = (took * PAUSE_PER_FETCH).checked_sub(fetched.elapsed()) {
                std::thread::sleep(rest);
            }
        }
    }
}

impl Iterator for Chunks {
    type Item = Fallible<Item>;

    fn next(&mut self) -> Option<Fallible<Item>> {
        loop {
            if let Some(item) = self.buffer.next() {
                return Some(Ok(item));
            }
            let from = self.next.take()?;
            if let Err(exceeded) = budget::check() {
                return Some(Err(exceeded.into()));
            }
            self.pace();
            let stint = Stint {
                max: self.size,
                time: CHUNK_TIME,
            };
            let began = Instant::now();
            let fetched = self
                .source
                .view
                .chunk(&from, self.part, stint, budget::deadline());
            self.last = Some((Instant::now(), began.elapsed()));
            match fetched {
                Ok(chunk) => {
                    self.buffer = chunk.items.into_iter();
                    self.next = chunk.next;
                    self.size = (self.size * 4).min(MAX_CHUNK);
                }
                Err(err) => {
                    let name = self.source.view.name();
                    return Some(Err(read_failure(&self.source.state, name, err)));
                }
            }
        }
    }
}

/// A value converted for the script, counted against the command's memory budget.
fn charged(value: Dynamic) -> Fallible<Dynamic> {
    budget::charge(budget::weigh(&value))?;
    Ok(value)
}

/// A walked key or value, converted for the script.
pub(super) fn convert(json: Value) -> Fallible<Dynamic> {
    charged(rhai::serde::to_dynamic(json)?)
}

/// What a script sees of one walked entry.
pub(super) fn pick(item: Item, part: Part) -> Fallible<Dynamic> {
    match part {
        Part::Keys => convert(item.key),
        Part::Values => convert(item.value),
        Part::Entries => Ok(Dynamic::from_array(vec![
            convert(item.key)?,
            convert(item.value)?,
        ])),
    }
}

/// The iterator `for` uses.
pub(crate) struct ForEach(pub(super) Chunks);

impl Iterator for ForEach {
    type Item = Fallible<Dynamic>;

    fn next(&mut self) -> Option<Fallible<Dynamic>> {
        let part = self.0.part;
        self.0
            .next()
            .map(|item| item.and_then(|item| pick(item, part)))
    }
}

impl ViewValue {
    /// A walk of `part` from the start.
    pub(super) fn walk(&self, part: Part) -> Chunks {
        Chunks {
            source: self.clone(),
            part,
            next: Some(Cursor::Position(0)),
            buffer: Vec::new().into_iter(),
            size: FIRST_CHUNK,
            last: None,
        }
    }
}
