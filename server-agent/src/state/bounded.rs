//! Host data turned into JSON within the command's memory budget.
//!
//! A registered value or one element of a collection can be of any size: a record
//! with a 30 MiB field once grew the worker by 87 MiB for one `records.r0.body`, and
//! a walk of such records by 175 MiB, all before any size limit looked. So the size of
//! a conversion is learnt before it is made: serializing to a counting sink allocates
//! nothing, stops as soon as the count passes what the command has left, and what the
//! conversion will hold is charged first. The same count, in bytes, measures a reply or
//! a value's text against a cap (`json_size_within`).
//!
//! Never from here: an allocation sized by the host's data before its cost is charged.

use std::io;

use serde::Serialize;
use serde_json::Value;

use crate::budget;
use crate::state::live::ReadError;

/// What converting JSON text of one byte holds at its peak: the text's byte in the
/// parsed value, again in the script's value, and once more while one becomes the other.
const PER_BYTE: usize = 3;
/// What one token of the text holds beyond its bytes (a value's node, a map entry).
const PER_TOKEN: usize = 64;

/// `value` as data, once its conversion's cost is charged to the command.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Value, ReadError> {
    let cost = Cost::of(value, (PER_BYTE, PER_TOKEN), budget::room());
    if let Some(why) = cost.failed {
        return Err(ReadError::Failed(why));
    }
    charge(cost.spent)?;
    serde_json::to_value(value).map_err(|err| ReadError::Failed(err.to_string()))
}

/// The size of `value` as JSON text, or None once it is past `cap` (measured into
/// nothing, and no further than `cap`).
pub(crate) fn json_size_within<T: Serialize + ?Sized>(value: &T, cap: usize) -> Option<usize> {
    let cost = Cost::of(value, (1, 0), cap);
    (!cost.over).then_some(cost.spent)
}

/// Most bytes of JSON text a chunk may hold: decoded, it is held twice more.
pub(crate) fn text_limit() -> usize {
    budget::room() / PER_BYTE
}

/// The error for data too big for what the command has left; the budget stays out.
pub(crate) fn refuse() -> ReadError {
    match budget::charge(budget::room().saturating_add(1)) {
        Err(exceeded) => ReadError::Failed(exceeded.to_string()),
        Ok(()) => ReadError::Failed("the data is larger than memory allows".to_owned()),
    }
}

/// Charges `bytes`; a budget that ran out fails the read (and stays out, so the
/// command ends with a `limit` error at its next step).
fn charge(bytes: usize) -> Result<(), ReadError> {
    budget::charge(bytes).map_err(|exceeded| ReadError::Failed(exceeded.to_string()))
}

/// What writing a value as JSON text costs, counted into nothing (a sink that stops
/// the writing once the count passes `room`).
struct Cost {
    spent: usize,
    room: usize,
    /// What one byte of text and one write cost.
    rate: (usize, usize),
    over: bool,
    /// Why the value could not be written, if not for the room.
    failed: Option<String>,
}

impl Cost {
    fn of<T: Serialize + ?Sized>(value: &T, rate: (usize, usize), room: usize) -> Cost {
        let mut cost = Cost {
            spent: 0,
            room,
            rate,
            over: false,
            failed: None,
        };
        if let Err(err) = serde_json::to_writer(&mut cost, value) {
            if !cost.over {
                cost.failed = Some(err.to_string());
            }
        }
        cost
    }
}

impl io::Write for Cost {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (per_byte, per_write) = self.rate;
        self.spent = (self.spent)
            .saturating_add(buf.len().saturating_mul(per_byte))
            .saturating_add(per_write);
        if self.spent > self.room {
            self.over = true;
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A text buffer that refuses to grow past `limit` bytes: a chunk of a walk written
/// under the host's lock.
pub(crate) struct Capped<'a> {
    pub(crate) text: &'a mut Vec<u8>,
    pub(crate) limit: usize,
}

impl Capped<'_> {
    /// Writes `bytes` whole or not at all.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> serde_json::Result<()> {
        io::Write::write_all(self, bytes).map_err(serde_json::Error::io)
    }
}

impl io::Write for Capped<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let need = self.text.len() + buf.len();
        if need > self.limit {
            return Err(io::Error::other("past the command's memory budget"));
        }
        // Grow as a Vec would, but never to a capacity past the limit.
        if need > self.text.capacity() {
            let grown = need.max(2 * self.text.capacity()).min(self.limit);
            self.text.reserve_exact(grown - self.text.len());
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_past_the_budget_is_refused_before_it_is_converted() {
        let _budget = budget::begin(budget::Plan {
            timeout: std::time::Duration::from_secs(60),
            max_command: 1 << 20,
            max_session: 2 << 20,
            kept: 0,
        });
        assert_eq!(
            to_json(&"x".repeat(1000)),
            Ok(Value::from("x".repeat(1000)))
        );
        let refused = to_json(&"x".repeat(1 << 20));
        assert!(
            matches!(&refused, Err(ReadError::Failed(why)) if why.contains("max_command_bytes")),
            "{refused:?}"
        );
        assert!(budget::check().is_err(), "the budget stays out");
    }
}
