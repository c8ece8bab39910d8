//! `take`, `filter` and `map` of views and walks: arrays and maps built within the
//! engine's size limits as the walk goes.
//!
//! Never from here: building more than `max_array_size` / `max_map_size` allow.

use rhai::{Array, Dynamic, EvalAltResult, FnPtr, Map, NativeCallContext, Position, INT};

use super::chunks::{convert, pick, Chunks};
use super::{key_text, Fallible, ViewValue, Walk};
use crate::state::view::{Item, Part, Shape};

fn too_large(what: &str) -> Box<EvalAltResult> {
    EvalAltResult::ErrorDataTooLarge(what.into(), Position::NONE).into()
}

/// Collects what `keep` returns for each entry (`None`: skip it) into an array, within
/// the engine's array limit.
fn collect_array(
    ctx: &NativeCallContext,
    entries: impl Iterator<Item = Fallible<Item>>,
    mut keep: impl FnMut(Item) -> Fallible<Option<Dynamic>>,
) -> Fallible<Array> {
    let limit = ctx.engine().max_array_size();
    let mut kept = Array::new();
    for item in entries {
        if let Some(value) = keep(item?)? {
            if limit > 0 && kept.len() >= limit {
                return Err(too_large("Size of array"));
            }
            kept.push(value);
        }
    }
    Ok(kept)
}

/// Calls a script function with one or two arguments.
fn call(ctx: &NativeCallContext, function: &FnPtr, args: Vec<Dynamic>) -> Fallible<Dynamic> {
    function.call_raw(ctx, None, args)
}

fn truth(value: Dynamic) -> Fallible<bool> {
    value
        .as_bool()
        .map_err(|_| "the function given to filter must return true or false".into())
}

/// The items of `chunks` for which `function(item)` holds.
fn filter_items(ctx: &NativeCallContext, chunks: Chunks, function: &FnPtr) -> Fallible<Array> {
    let part = chunks.part;
    collect_array(ctx, chunks, |item| {
        let element = pick(item, part)?;
        Ok(truth(call(ctx, function, vec![element.clone()])?)?.then_some(element))
    })
}

/// `function(item)` for each item of `chunks`.
fn map_items(ctx: &NativeCallContext, chunks: Chunks, function: &FnPtr) -> Fallible<Array> {
    let part = chunks.part;
    collect_array(ctx, chunks, |item| {
        call(ctx, function, vec![pick(item, part)?]).map(Some)
    })
}

/// The first `n` items of `chunks`.
fn take_items(ctx: &NativeCallContext, chunks: Chunks, n: INT) -> Fallible<Array> {
    let part = chunks.part;
    let entries = chunks.take(usize::try_from(n).unwrap_or(0));
    collect_array(ctx, entries, |item| pick(item, part).map(Some))
}

/// `view.filter(f)`: a map's entries for which `f(key, value)` holds (as a map), or a
/// list's or set's elements for which `f(element)` holds (as an array).
pub(super) fn filter_view(
    ctx: NativeCallContext,
    view: &mut ViewValue,
    function: FnPtr,
) -> Fallible<Dynamic> {
    if view.view.shape() != Shape::Map {
        let chunks = view.walk(view.natural_part());
        return filter_items(&ctx, chunks, &function).map(Into::into);
    }
    let limit = ctx.engine().max_map_size();
    let mut kept = Map::new();
    for item in view.walk(Part::Entries) {
        let item = item?;
        let value = convert(item.value)?;
        let key = convert(item.key.clone())?;
        if truth(call(&ctx, &function, vec![key, value.clone()])?)? {
            if limit > 0 && kept.len() >= limit {
                return Err(too_large("Size of object map"));
            }
            kept.insert(key_text(item.key).into(), value);
        }
    }
    Ok(kept.into())
}

/// `view.map(f)`: `f(key, value)` for each entry of a map, `f(element)` otherwise.
pub(super) fn map_view(
    ctx: NativeCallContext,
    view: &mut ViewValue,
    function: FnPtr,
) -> Fallible<Array> {
    if view.view.shape() != Shape::Map {
        return map_items(&ctx, view.walk(view.natural_part()), &function);
    }
    collect_array(&ctx, view.walk(Part::Entries), |item| {
        let key = convert(item.key)?;
        let value = convert(item.value)?;
        call(&ctx, &function, vec![key, value]).map(Some)
    })
}

/// `view.take(n)`: the first `n` entries, as a map for a map and an array otherwise.
pub(super) fn take_view(ctx: NativeCallContext, view: &mut ViewValue, n: INT) -> Fallible<Dynamic> {
    if view.view.shape() != Shape::Map {
        return take_items(&ctx, view.walk(view.natural_part()), n).map(Into::into);
    }
    let n = usize::try_from(n).unwrap_or(0);
    let limit = ctx.engine().max_map_size();
    if limit > 0 && n > limit {
        return Err(too_large("Size of object map"));
    }
    let mut taken = Map::new();
    for item in view.walk(Part::Entries).take(n) {
        let item = item?;
        taken.insert(key_text(item.key).into(), convert(item.value)?);
    }
    Ok(taken.into())
}

/// `walk.take(n)`: the first `n` keys or values.
pub(super) fn take_walk(ctx: NativeCallContext, walk: &mut Walk, n: INT) -> Fallible<Array> {
    take_items(&ctx, walk.source.walk(walk.part), n)
}

/// `walk.filter(f)`: the keys or values for which `f(item)` holds.
pub(super) fn filter_walk(
    ctx: NativeCallContext,
    walk: &mut Walk,
    function: FnPtr,
) -> Fallible<Array> {
    filter_items(&ctx, walk.source.walk(walk.part), &function)
}

/// `walk.map(f)`: `f(item)` for each key or value.
pub(super) fn map_walk(
    ctx: NativeCallContext,
    walk: &mut Walk,
    function: FnPtr,
) -> Fallible<Array> {
    map_items(&ctx, walk.source.walk(walk.part), &function)
}
