//! Views: registered collections read a piece at a time, never copied whole.
//!
//! A script that asks `cache.len()` or `cache["k1"]` of a million-entry map must cost
//! what it asks, not a million conversions, and must never hold the host's lock for
//! more than one bounded chunk. So a collection is reached through a [`View`]: point
//! questions (`len`, `get`, `contains`) are answered under one short lock, and walks
//! (`keys()`, `for`, `filter`) fetch one [`Chunk`] per lock, then release it and
//! resume from a [`Cursor`].
//!
//! What a walk sees when the host changes the collection between chunks:
//! * `BTreeMap` / `BTreeSet` resume after the last key seen: every key present for the
//!   whole walk is seen exactly once, in order; keys added or removed meanwhile may or
//!   may not be seen.
//! * `Vec` / `VecDeque` resume at the next index: inserting or removing before that
//!   index shifts the rest by as many places.
//! * `HashMap` / `HashSet` have no order to resume from, so they resume at a position
//!   in the map's own order (skipping is cheap: the map's control bytes, not its
//!   entries). Values updated in place change nothing; an insert or a removal may
//!   make the walk miss an entry or see one twice, and a resize reorders the map.
//!
//! Nothing here may hold a lock across chunks or block past the command's deadline.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::state::bounded::{self, Capped};
use crate::state::live::ReadError;

/// What kind of collection a view walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Keys with values (`HashMap`, `BTreeMap`, `DashMap`).
    Map,
    /// Keys alone (`HashSet`, `BTreeSet`).
    Set,
    /// Values at indexes 0.. (`Vec`, `VecDeque`).
    List,
}

/// Which half of each entry a walk converts; the other half is left `Null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Keys (indexes for a list, elements for a set).
    Keys,
    /// Values (elements for a set).
    Values,
    /// Both.
    Entries,
}

/// Where the next chunk of a walk starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Cursor {
    /// At the n-th entry in the collection's own order (0 is the start).
    Position(usize),
    /// Just after this key (ordered collections).
    After(Value),
}

/// One entry of a chunk; the part not asked for is `Null`.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The key (a list's index, a set's element).
    pub key: Value,
    /// The value (a set's element).
    pub value: Value,
}

/// A piece of a walk, and where the rest starts (`None`: the walk is over).
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// The entries read, in the collection's order.
    pub items: Vec<Item>,
    /// Where the next chunk starts; `None` when the walk is over.
    pub next: Option<Cursor>,
}

/// How far one chunk may go: at most `max` items, and no longer than `time` (the
/// lock is held about that long at the most).
#[derive(Debug, Clone, Copy)]
pub struct Stint {
    /// Most entries in the chunk.
    pub max: usize,
    /// Longest time spent filling it (checked every 16 entries).
    pub time: Duration,
}

/// A collection read lazily. The agent calls these on its own thread; each call must
/// take any lock it needs only until `deadline` (then `ReadError::Busy`) and release it
/// before returning.
///
/// Implement it (and return `Some(self)` from [`Live::view`](crate::Live::view)) to
/// make a collection of your own walkable the way registered maps are.
pub trait View: Send + Sync {
    /// Map, set or list.
    fn shape(&self) -> Shape;
    /// The number of entries now.
    fn len(&self, deadline: Instant) -> Result<usize, ReadError>;
    /// No entries now.
    fn is_empty(&self, deadline: Instant) -> Result<bool, ReadError> {
        self.len(deadline).map(|len| len == 0)
    }
    /// The value at `key` (a map key, a list index, or a set element, which reads as
    /// itself), converted; `None` when there is none.
    fn get(&self, key: &Value, deadline: Instant) -> Result<Option<Value>, ReadError>;
    /// The value at `key` when the script reads only its `field` next
    /// (`items["k"].name`): an object holding that field is enough, and cheaper when
    /// the value has big fields besides. The value whole is always a right answer.
    fn get_field(
        &self,
        key: &Value,
        _field: &str,
        deadline: Instant,
    ) -> Result<Option<Value>, ReadError> {
        self.get(key, deadline)
    }
    /// The next piece of a walk starting at `from`.
    fn chunk(
        &self,
        from: &Cursor,
        part: Part,
        stint: Stint,
        deadline: Instant,
    ) -> Result<Chunk, ReadError>;
}

/// What a lock (`Mutex`, `RwLock`, `ArcSwap`...) may hold to be registered with
/// `.live`: collections are walked as views, anything else is read whole.
///
/// The collections and the plain scalar types implement it already. For a struct of
/// your own behind a lock, one line reads it whole through `Serialize`:
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Config { greeting: String }
/// impl server_agent::Inspect for Config {}
/// ```
///
/// Every method runs with the host's lock held: keep them short.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot sit behind a lock registered with `.live` yet",
    note = "collections (HashMap, BTreeMap, HashSet, BTreeSet, Vec, VecDeque) and scalars work as they are; for a struct of yours add `impl server_agent::Inspect for {Self} {{}}` (it needs `Serialize`)"
)]
pub trait Inspect: Serialize + Send + 'static {
    /// `Some` for collections, which are then read as views.
    const SHAPE: Option<Shape> = None;

    /// Entries (collections only).
    fn len(&self) -> usize {
        0
    }

    /// No entries (collections only).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `key` (collections only).
    fn get(&self, _key: &Value) -> Result<Option<Value>, ReadError> {
        Ok(None)
    }

    /// The value at `key`, of which only `field` will be read (collections only; see
    /// [`View::get_field`]). The value whole is always a right answer.
    fn get_field(&self, key: &Value, field: &str) -> Result<Option<Value>, ReadError> {
        let _whole_will_do = field;
        self.get(key)
    }

    /// The next piece of a walk (collections only).
    fn chunk(&self, _from: &Cursor, part: Part, stint: Stint) -> Result<Encoded, ReadError> {
        Ok(Encoder::new(part, stint).finish(None))
    }
}

/// Converts a host value to data.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Value, ReadError> {
    bounded::to_json(value)
}

/// A chunk as written with the host's lock held: the entries as JSON text, which is
/// cheap to write (no allocation per field) and is turned into a [`Chunk`] only after
/// the lock is released. Only this crate's collections make one.
pub struct Encoded {
    text: Vec<u8>,
    part: Part,
    next: Option<Cursor>,
}

impl Encoded {
    /// The chunk; called once the lock is released.
    pub(crate) fn decode(self) -> Result<Chunk, ReadError> {
        let values: Vec<Value> =
            serde_json::from_slice(&self.text).map_err(|err| ReadError::Failed(err.to_string()))?;
        let items = match self.part {
            Part::Keys => values
                .into_iter()
                .map(|key| Item {
                    key,
                    value: Value::Null,
                })
                .collect(),
            Part::Values => values
                .into_iter()
                .map(|value| Item {
                    key: Value::Null,
                    value,
                })
                .collect(),
            Part::Entries => {
                let mut values = values.into_iter();
                std::iter::from_fn(|| {
                    Some(Item {
                        key: values.next()?,
                        value: values.next()?,
                    })
                })
                .collect()
            }
        };
        Ok(Chunk {
            items,
            next: self.next,
        })
    }
}

/// Writes the entries of one chunk as JSON text, and says when the chunk is full: at
/// `stint.max` entries, or once `stint.time` has passed since it began.
pub(crate) struct Encoder {
    text: Vec<u8>,
    part: Part,
    stint: Stint,
    until: Instant,
    taken: usize,
    /// Most bytes of text: what the command's memory budget allows for the chunk.
    limit: usize,
    /// The last entry offered did not fit and was left for the next chunk.
    left_one: bool,
}

impl Encoder {
    pub(crate) fn new(part: Part, stint: Stint) -> Encoder {
        Encoder {
            text: b"[".to_vec(),
            part,
            stint,
            until: Instant::now() + stint.time,
            taken: 0,
            limit: bounded::text_limit(),
            left_one: false,
        }
    }

    /// Writes the part asked for of one entry; true when the chunk is full. An entry
    /// that would take the text past its limit ends the chunk without it (see
    /// `left_one`); if it is the first, it is too big for the command's budget.
    pub(crate) fn push<K, V>(&mut self, key: &K, value: &V) -> Result<bool, ReadError>
    where
        K: Serialize + ?Sized,
        V: Serialize + ?Sized,
    {
        let mark = self.text.len();
        if self.write_entry(key, value).is_err() {
            self.text.truncate(mark);
            if self.taken == 0 {
                return Err(bounded::refuse());
            }
            self.left_one = true;
            return Ok(true);
        }
        self.taken += 1;
        // Reading the clock every 16 entries keeps its cost out of the walk.
        Ok(self.taken >= self.stint.max || (self.taken % 16 == 0 && Instant::now() >= self.until))
    }

    fn write_entry<K, V>(&mut self, key: &K, value: &V) -> serde_json::Result<()>
    where
        K: Serialize + ?Sized,
        V: Serialize + ?Sized,
    {
        let mut text = Capped {
            text: &mut self.text,
            limit: self.limit,
        };
        if self.taken > 0 {
            text.put(b",")?;
        }
        match self.part {
            Part::Keys => serde_json::to_writer(&mut text, key),
            Part::Values => serde_json::to_writer(&mut text, value),
            Part::Entries => {
                serde_json::to_writer(&mut text, key)?;
                text.put(b",")?;
                serde_json::to_writer(&mut text, value)
            }
        }
    }

    /// The last entry offered was left for the next chunk.
    pub(crate) fn left_one(&self) -> bool {
        self.left_one
    }

    /// Entries written so far.
    pub(crate) fn taken(&self) -> usize {
        self.taken
    }

    pub(crate) fn finish(mut self, next: Option<Cursor>) -> Encoded {
        self.text.push(b']');
        Encoded {
            text: self.text,
            part: self.part,
            next,
        }
    }
}

/// Writes a chunk from `entries` (already positioned at the cursor) within `stint`.
/// `resume` says where the walk goes on after the last entry taken.
pub(crate) fn fill<'a, K, V>(
    entries: impl Iterator<Item = (K, &'a V)>,
    part: Part,
    stint: Stint,
    resume: impl Fn(usize, &K) -> Result<Cursor, ReadError>,
) -> Result<Encoded, ReadError>
where
    K: Serialize,
    V: Serialize + 'a + ?Sized,
{
    let mut encoder = Encoder::new(part, stint);
    let mut last: Option<K> = None;
    let mut entries = entries.peekable();
    for (key, value) in entries.by_ref() {
        let full = encoder.push(&key, value)?;
        if encoder.left_one() {
            break;
        }
        last = Some(key);
        if full {
            break;
        }
    }
    let next = match (last, encoder.left_one() || entries.peek().is_some()) {
        (Some(key), true) => Some(resume(encoder.taken(), &key)?),
        _ => None,
    };
    Ok(encoder.finish(next))
}
