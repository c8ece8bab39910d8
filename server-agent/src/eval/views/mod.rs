//! Registered collections as script values: the `view` and `walk` types.
//!
//! A `view` is a handle, not a copy: `len()`, `x[key]` and `contains` ask the host's
//! collection one question under one short lock; `keys()` and `values()` give a
//! `walk`, and `for`, `take`, `filter` and `map` fetch chunks as they go (small at
//! first, so a loop that stops early touches little; each chunk bounded in items and
//! in lock time), checking the command's budget before every chunk. A walk whose
//! script is quicker than the chunks pauses between them, so that it holds the host's
//! lock at most a third of the time and a writer woken by the release gets its turn. A view that
//! ends up as a command's result, or is printed, shows a bounded preview with the
//! total count; small collections show whole, as they always did. An element read
//! only for one field (`items["k"].name`, known from the compiled script: `reads`)
//! has only that field converted when it is a struct or a map (`state::field`).
//!
//! Never from here: holding a lock between chunks, or building more than the
//! engine's array and map limits allow.
//!
//! Here: the two types and what scripts can do with them; `chunks` fetches a walk,
//! `collect` builds `take`, `filter` and `map` results, `preview` shows a view.

mod chunks;
mod collect;
mod preview;
#[cfg(test)]
mod tests;

use std::rc::Rc;

use rhai::{
    Dynamic, Engine, EvalAltResult, FuncRegistration, ImmutableString, NativeCallContext, INT,
};
use serde_json::Value;

use crate::budget;
use crate::eval::hooks::{read_failure, CommandState};
use crate::eval::reply::to_json;
use crate::eval::values::ViewRef;
use crate::state::view::{Part, Shape};
use chunks::{convert, ForEach};
use collect::{filter_view, filter_walk, map_view, map_walk, take_view, take_walk};
pub(crate) use preview::settle;
use preview::{preview, preview_walk, text};

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// A registered collection in a script.
#[derive(Clone)]
pub(crate) struct ViewValue {
    view: ViewRef,
    state: Rc<CommandState>,
}

/// The keys or the values of a view, walked lazily.
#[derive(Clone)]
pub(crate) struct Walk {
    source: ViewValue,
    part: Part,
}

impl ViewValue {
    pub(crate) fn new(view: ViewRef, state: Rc<CommandState>) -> ViewValue {
        ViewValue { view, state }
    }

    pub(super) fn len(&self) -> Fallible<usize> {
        self.view
            .len(budget::deadline())
            .map_err(|err| read_failure(&self.state, self.view.name(), err))
    }

    /// `view[key]` in a script: where the script reads one field of the element next
    /// (`items["k"].name`, see `reads`), only that field needs converting.
    pub(super) fn index(&self, ctx: &NativeCallContext, key: Value) -> Fallible<Dynamic> {
        let reads = self.state.reads.borrow();
        self.get(key, reads.field_after(ctx.call_position()))
    }

    /// The element at `key` (or an object with its `field`), or `()` when there is
    /// none (as for Rhai maps).
    pub(super) fn get(&self, key: Value, field: Option<&str>) -> Fallible<Dynamic> {
        match self.read(&key, field)? {
            Some(value) => convert(value),
            None => Ok(Dynamic::UNIT),
        }
    }

    /// True when the view has an entry at `key`, whatever its value (`null` too).
    pub(super) fn contains(&self, key: Value) -> Fallible<bool> {
        // Asking for a field no entry has: a struct or map entry is found without
        // converting any of it.
        self.read(&key, Some("")).map(|found| found.is_some())
    }

    fn read(&self, key: &Value, field: Option<&str>) -> Fallible<Option<Value>> {
        self.view
            .get(key, field, budget::deadline())
            .map_err(|err| read_failure(&self.state, self.view.name(), err))
    }

    /// What iterating the view itself yields: a map's keys, a list's values, a set's
    /// elements.
    pub(super) fn natural_part(&self) -> Part {
        match self.view.shape() {
            Shape::List => Part::Values,
            Shape::Map | Shape::Set => Part::Keys,
        }
    }

    pub(super) fn read_only(&self) -> Box<EvalAltResult> {
        format!(
            "`{}` is read-only: registered values change only through the functions help() lists",
            self.view.name()
        )
        .into()
    }
}

impl IntoIterator for ViewValue {
    type Item = Fallible<Dynamic>;
    type IntoIter = ForEach;

    fn into_iter(self) -> ForEach {
        ForEach(self.walk(self.natural_part()))
    }
}

impl IntoIterator for Walk {
    type Item = Fallible<Dynamic>;
    type IntoIter = ForEach;

    fn into_iter(self) -> ForEach {
        ForEach(self.source.walk(self.part))
    }
}

/// A map key as an object key.
pub(crate) fn key_text(key: Value) -> String {
    match key {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// `view[key] = value`, or Rhai writing an element back after a method was called on
/// it (`items["k"].keys()`). A view is read-only: an element written back unchanged is
/// declined as an unavailable indexer, which Rhai ignores after a method call; any
/// change is refused.
fn write_back(
    ctx: &NativeCallContext,
    view: &ViewValue,
    key: Value,
    value: &Dynamic,
) -> Fallible<()> {
    let current = view.index(ctx, key)?;
    if to_json(&current) != to_json(value) {
        return Err(view.read_only());
    }
    let message = view.read_only().to_string();
    Err(EvalAltResult::ErrorIndexingType(message, ctx.call_position()).into())
}

/// Registers the `view` and `walk` types and what scripts can do with them.
pub(crate) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<ViewValue>("view");
    engine.register_type_with_name::<Walk>("walk");
    engine.register_iterator_result::<ViewValue, Dynamic>();
    engine.register_iterator_result::<Walk, Dynamic>();

    engine.register_fn("len", |view: &mut ViewValue| view.len().map(|n| n as INT));
    engine.register_fn("is_empty", |view: &mut ViewValue| {
        view.len().map(|n| n == 0)
    });
    engine.register_fn("len", |walk: &mut Walk| walk.source.len().map(|n| n as INT));
    engine.register_indexer_get(
        |ctx: NativeCallContext, view: &mut ViewValue, key: ImmutableString| {
            view.index(&ctx, Value::String(key.to_string()))
        },
    );
    engine.register_indexer_get(|ctx: NativeCallContext, view: &mut ViewValue, index: INT| {
        view.index(&ctx, index.into())
    });
    // Rhai's name for an indexer setter; registered as pure so that Rhai calls it on a
    // registered value (a constant) too, where `write_back` decides.
    const INDEXER_SET: &str = "index$set$";
    FuncRegistration::new(INDEXER_SET)
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext, view: &mut ViewValue, key: ImmutableString, value: Dynamic| {
                write_back(&ctx, view, Value::String(key.to_string()), &value)
            },
        );
    FuncRegistration::new(INDEXER_SET)
        .with_purity(true)
        .register_into_engine(
            engine,
            |ctx: NativeCallContext, view: &mut ViewValue, index: INT, value: Dynamic| {
                write_back(&ctx, view, index.into(), &value)
            },
        );
    engine.register_fn("contains", |view: &mut ViewValue, key: ImmutableString| {
        view.contains(Value::String(key.to_string()))
    });
    engine.register_fn("contains", |view: &mut ViewValue, index: INT| {
        view.contains(index.into())
    });
    engine.register_fn("keys", |view: &mut ViewValue| Walk {
        source: view.clone(),
        part: Part::Keys,
    });
    engine.register_fn("values", |view: &mut ViewValue| Walk {
        source: view.clone(),
        part: Part::Values,
    });
    engine.register_fn("take", take_view);
    engine.register_fn("filter", filter_view);
    engine.register_fn("map", map_view);
    engine.register_fn("take", take_walk);
    engine.register_fn("filter", filter_walk);
    engine.register_fn("map", map_walk);
    engine.register_fn("to_string", |view: &mut ViewValue| text(preview(view)));
    engine.register_fn("to_debug", |view: &mut ViewValue| text(preview(view)));
    engine.register_fn("to_string", |walk: &mut Walk| text(preview_walk(walk)));
    engine.register_fn("to_debug", |walk: &mut Walk| text(preview_walk(walk)));
}
