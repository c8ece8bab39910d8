//! What a view looks like printed or as a command's result: a bounded preview with
//! the total count.
//!
//! Never from here: walking more than `PREVIEW` entries.

use rhai::Dynamic;
use serde_json::Value;

use super::{key_text, Fallible, ViewValue, Walk};
use crate::state::view::{Item, Part, Shape};

/// Entries a preview shows.
const PREVIEW: usize = 100;

/// A bounded preview of a view: the first `PREVIEW` entries and, when there are more,
/// a note with the total (`"…"` key of a map, last element of a list).
pub(super) fn preview(view: &ViewValue) -> Fallible<Value> {
    let len = view.len()?;
    let shape = view.view.shape();
    let part = match shape {
        Shape::Map => Part::Entries,
        Shape::List | Shape::Set => view.natural_part(),
    };
    let items = view
        .walk(part)
        .take(PREVIEW)
        .collect::<Fallible<Vec<Item>>>()?;
    let more = len.saturating_sub(items.len());
    let note =
        format!("… {more} more, {len} in all: use len(), x[key], keys(), take(n), filter(f)");
    Ok(match shape {
        Shape::Map => {
            let mut map: serde_json::Map<String, Value> = items
                .into_iter()
                .map(|item| (key_text(item.key), item.value))
                .collect();
            if more > 0 {
                map.insert("…".to_owned(), Value::String(note));
            }
            Value::Object(map)
        }
        Shape::List | Shape::Set => {
            let mut list: Vec<Value> = items
                .into_iter()
                .map(|item| {
                    if part == Part::Keys {
                        item.key
                    } else {
                        item.value
                    }
                })
                .collect();
            if more > 0 {
                list.push(Value::String(note));
            }
            Value::Array(list)
        }
    })
}

/// A bounded preview of a walk: its first `PREVIEW` items, then a note if it goes on.
pub(super) fn preview_walk(walk: &Walk) -> Fallible<Value> {
    let mut chunks = walk.source.walk(walk.part);
    let mut list = Vec::new();
    for item in chunks.by_ref().take(PREVIEW) {
        let item = item?;
        list.push(if walk.part == Part::Keys {
            item.key
        } else {
            item.value
        });
    }
    if chunks.next().is_some() {
        let len = walk.source.len()?;
        list.push(Value::String(format!(
            "… {} more, {len} in all: use take(n) or a for loop",
            len.saturating_sub(PREVIEW)
        )));
    }
    Ok(Value::Array(list))
}

/// A command's result as plain data: views and walks become their previews.
pub(crate) fn settle(value: Dynamic) -> Fallible<Dynamic> {
    // Asked by type first: a clone to try a cast would copy a big result whole.
    if value.is::<ViewValue>() {
        return rhai::serde::to_dynamic(preview(&value.cast::<ViewValue>())?);
    }
    if value.is::<Walk>() {
        return rhai::serde::to_dynamic(preview_walk(&value.cast::<Walk>())?);
    }
    Ok(value)
}

pub(super) fn text(preview: Fallible<Value>) -> String {
    match preview {
        Ok(value) => value.to_string(),
        Err(err) => format!("[{err}]"),
    }
}
