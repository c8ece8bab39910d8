//! Reading the host's registered values on behalf of a script or a completion.
//!
//! Every read goes through here so that the same three rules always hold: a lock is
//! waited for only until the command's deadline (then `busy`), a panic in host code
//! is caught, and redacted parts are removed before anything else sees the value.
//! Collections come out as a `ViewRef`, which keeps the same three rules for every
//! piece it reads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::quiet_panic;
use crate::state::live::{Live, ReadError};
use crate::state::redact;
use crate::state::registry::Registry;
use crate::state::view::{Chunk, Cursor, Part, Shape, Stint};

/// Why a registered value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValueError {
    Busy,
    Failed(String),
    Panicked(String),
}

#[derive(Clone)]
struct Entry {
    name: String,
    live: Arc<dyn Live>,
    redactions: Vec<Vec<String>>,
}

impl Entry {
    fn whole_redacted(&self) -> bool {
        self.redactions.iter().any(Vec::is_empty)
    }
}

/// The registered values, by name.
pub(crate) struct Values(Vec<Entry>);

impl Values {
    pub(crate) fn from_registry(registry: &Registry) -> Values {
        Values(
            registry
                .values
                .iter()
                .map(|(name, entry)| Entry {
                    name: name.clone(),
                    live: entry.item.clone(),
                    redactions: registry.redactions_of(name),
                })
                .collect(),
        )
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|entry| entry.name.as_str())
    }

    /// The current value of `name`, redacted; None if nothing has that name.
    pub(crate) fn read(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Option<Result<serde_json::Value, ValueError>> {
        let entry = self.0.iter().find(|entry| entry.name == name)?;
        if entry.whole_redacted() {
            // Nothing of it can be shown: do not even take the host's lock.
            return Some(Ok(Value::String(redact::REDACTED.to_owned())));
        }
        Some(guarded(|| entry.live.read(deadline)).map(|mut json| {
            for keys in &entry.redactions {
                redact::apply(&mut json, keys);
            }
            json
        }))
    }

    /// `name` as a view, when it is a collection that is not redacted as a whole.
    pub(crate) fn view(&self, name: &str) -> Option<ViewRef> {
        let entry = self.0.iter().find(|entry| entry.name == name)?;
        let is_view = catch_unwind(AssertUnwindSafe(|| entry.live.view().is_some()));
        (matches!(is_view, Ok(true)) && !entry.whole_redacted()).then(|| ViewRef(entry.clone()))
    }
}

/// Runs a read of host code: a panic becomes `Panicked`.
fn guarded<T>(read: impl FnOnce() -> Result<T, ReadError>) -> Result<T, ValueError> {
    match catch_unwind(AssertUnwindSafe(read)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(ReadError::Busy)) => Err(ValueError::Busy),
        Ok(Err(ReadError::Failed(why))) => Err(ValueError::Failed(why)),
        Err(payload) => Err(ValueError::Panicked(quiet_panic::message(payload.as_ref()))),
    }
}

/// A registered collection, read a piece at a time with the value's redactions.
#[derive(Clone)]
pub(crate) struct ViewRef(Entry);

impl ViewRef {
    pub(crate) fn name(&self) -> &str {
        &self.0.name
    }

    fn with_view<T>(
        &self,
        read: impl FnOnce(&dyn crate::state::view::View) -> Result<T, ReadError>,
    ) -> Result<T, ValueError> {
        guarded(|| match self.0.live.view() {
            Some(view) => read(view),
            None => Err(ReadError::Failed("the value is no longer a view".into())),
        })
    }

    pub(crate) fn shape(&self) -> Shape {
        self.with_view(|view| Ok(view.shape()))
            .unwrap_or(Shape::List)
    }

    pub(crate) fn len(&self, deadline: Instant) -> Result<usize, ValueError> {
        self.with_view(|view| view.len(deadline))
    }

    /// The element at `key`, redacted; with a `field`, possibly only that field of it
    /// (see `View::get_field`).
    pub(crate) fn get(
        &self,
        key: &Value,
        field: Option<&str>,
        deadline: Instant,
    ) -> Result<Option<Value>, ValueError> {
        let shape = self.shape();
        let found = self.with_view(|view| match field {
            Some(field) => view.get_field(key, field, deadline),
            None => view.get(key, deadline),
        })?;
        Ok(found.map(|mut value| {
            self.redact(shape, key, &mut value);
            value
        }))
    }

    /// The next chunk of a walk, redacted.
    pub(crate) fn chunk(
        &self,
        from: &Cursor,
        part: Part,
        stint: Stint,
        deadline: Instant,
    ) -> Result<Chunk, ValueError> {
        let shape = self.shape();
        // A map's redactions are found by key: read keys along with the values.
        let needs_keys =
            shape == Shape::Map && part == Part::Values && !self.0.redactions.is_empty();
        let asked = if needs_keys { Part::Entries } else { part };
        let mut chunk = self.with_view(|view| view.chunk(from, asked, stint, deadline))?;
        if part != Part::Keys {
            for item in &mut chunk.items {
                self.redact(shape, &item.key, &mut item.value);
                if needs_keys {
                    item.key = Value::Null;
                }
            }
        }
        Ok(chunk)
    }

    /// Applies the redactions to the element at `key`: a map's by key, a list's or a
    /// set's to every element (as for arrays in whole values).
    fn redact(&self, shape: Shape, key: &Value, value: &mut Value) {
        for keys in &self.0.redactions {
            match shape {
                Shape::Map => {
                    let key_text = match key {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    if keys.first() == Some(&key_text) {
                        redact::apply(value, &keys[1..]);
                    }
                }
                Shape::List | Shape::Set => redact::apply(value, keys),
            }
        }
    }
}
