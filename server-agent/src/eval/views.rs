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
//! total count; small collections show whole, as they always did.
//!
//! Never from here: holding a lock between chunks, or building more than the
//! engine's array and map limits allow.

use std::rc::Rc;
use std::time::{Duration, Instant};

use rhai::{
    Array, Dynamic, Engine, EvalAltResult, FnPtr, ImmutableString, Map, NativeCallContext,
    Position, INT,
};
use serde_json::Value;

use crate::budget;
use crate::eval::hooks::{read_failure, CommandState};
use crate::eval::values::ViewRef;
use crate::state::view::{Cursor, Item, Part, Shape, Stint};

/// Entries in the first chunk of a walk; each later chunk is four times larger, up to
/// `MAX_CHUNK` (large, so that a hash map's seek to the chunk is paid seldom).
const FIRST_CHUNK: usize = 64;
const MAX_CHUNK: usize = 16_384;
/// The longest one chunk may hold the host's lock (plus the seek to its start).
const CHUNK_TIME: Duration = Duration::from_micros(500);
/// A walk pauses between chunks so that the time since the last chunk is at least
/// this many times what fetching it took: the lock is held at most a third of the time.
const PAUSE_PER_FETCH: u32 = 2;
/// Entries a preview shows.
const PREVIEW: usize = 100;

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

    fn len(&self) -> Fallible<usize> {
        self.view
            .len(budget::deadline())
            .map_err(|err| read_failure(&self.state, self.view.name(), err))
    }

    /// The element at `key`, or `()` when there is none (as for Rhai maps).
    fn get(&self, key: Value) -> Fallible<Dynamic> {
        match self.view.get(&key, budget::deadline()) {
            Ok(Some(value)) => convert(value),
            Ok(None) => Ok(Dynamic::UNIT),
            Err(err) => Err(read_failure(&self.state, self.view.name(), err)),
        }
    }

    fn contains(&self, key: Value) -> Fallible<bool> {
        self.get(key).map(|found| !found.is_unit())
    }

    /// What iterating the view itself yields: a map's keys, a list's values, a set's
    /// elements.
    fn natural_part(&self) -> Part {
        match self.view.shape() {
            Shape::List => Part::Values,
            Shape::Map | Shape::Set => Part::Keys,
        }
    }

    fn walk(&self, part: Part) -> Chunks {
        Chunks {
            source: self.clone(),
            part,
            next: Some(Cursor::Position(0)),
            buffer: Vec::new().into_iter(),
            size: FIRST_CHUNK,
            last: None,
        }
    }

    fn read_only(&self) -> Box<EvalAltResult> {
        format!(
            "`{}` is read-only: registered values change only through the functions help() lists",
            self.view.name()
        )
        .into()
    }
}

/// The entries of a walk, fetched a chunk at a time.
struct Chunks {
    source: ViewValue,
    part: Part,
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
fn convert(json: Value) -> Fallible<Dynamic> {
    charged(rhai::serde::to_dynamic(json)?)
}

/// What a script sees of one walked entry.
fn pick(item: Item, part: Part) -> Fallible<Dynamic> {
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
pub(crate) struct ForEach(Chunks);

impl Iterator for ForEach {
    type Item = Fallible<Dynamic>;

    fn next(&mut self) -> Option<Fallible<Dynamic>> {
        let part = self.0.part;
        self.0
            .next()
            .map(|item| item.and_then(|item| pick(item, part)))
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
fn filter_view(ctx: NativeCallContext, view: &mut ViewValue, function: FnPtr) -> Fallible<Dynamic> {
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
fn map_view(ctx: NativeCallContext, view: &mut ViewValue, function: FnPtr) -> Fallible<Array> {
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
fn take_view(ctx: NativeCallContext, view: &mut ViewValue, n: INT) -> Fallible<Dynamic> {
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

/// A bounded preview of a view: the first `PREVIEW` entries and, when there are more,
/// a note with the total (`"…"` key of a map, last element of a list).
fn preview(view: &ViewValue) -> Fallible<Value> {
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
fn preview_walk(walk: &Walk) -> Fallible<Value> {
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
    if let Some(view) = value.clone().try_cast::<ViewValue>() {
        return rhai::serde::to_dynamic(preview(&view)?);
    }
    if let Some(walk) = value.clone().try_cast::<Walk>() {
        return rhai::serde::to_dynamic(preview_walk(&walk)?);
    }
    Ok(value)
}

fn text(preview: Fallible<Value>) -> String {
    match preview {
        Ok(value) => value.to_string(),
        Err(err) => format!("[{err}]"),
    }
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
    engine.register_indexer_get(|view: &mut ViewValue, key: ImmutableString| {
        view.get(Value::String(key.to_string()))
    });
    engine.register_indexer_get(|view: &mut ViewValue, index: INT| view.get(index.into()));
    engine.register_indexer_set(
        |view: &mut ViewValue, _key: ImmutableString, _value: Dynamic| -> Fallible<()> {
            Err(view.read_only())
        },
    );
    engine.register_indexer_set(
        |view: &mut ViewValue, _index: INT, _value: Dynamic| -> Fallible<()> {
            Err(view.read_only())
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
    engine.register_fn("take", |ctx: NativeCallContext, walk: &mut Walk, n: INT| {
        take_items(&ctx, walk.source.walk(walk.part), n)
    });
    engine.register_fn(
        "filter",
        |ctx: NativeCallContext, walk: &mut Walk, function: FnPtr| {
            filter_items(&ctx, walk.source.walk(walk.part), &function)
        },
    );
    engine.register_fn(
        "map",
        |ctx: NativeCallContext, walk: &mut Walk, function: FnPtr| {
            map_items(&ctx, walk.source.walk(walk.part), &function)
        },
    );
    engine.register_fn("to_string", |view: &mut ViewValue| text(preview(view)));
    engine.register_fn("to_debug", |view: &mut ViewValue| text(preview(view)));
    engine.register_fn("to_string", |walk: &mut Walk| text(preview_walk(walk)));
    engine.register_fn("to_debug", |walk: &mut Walk| text(preview_walk(walk)));
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};
    use std::sync::{Arc, Mutex};

    use attach_protocol::Reply;
    use serde_json::json;

    use crate::eval::{Evaluator, SessionScope};
    use crate::limits::Limits;
    use crate::state::live::IntoLive;
    use crate::state::registry::Registry;

    fn evaluator() -> Evaluator {
        let mut registry = Registry::new(|_| false);
        let map: HashMap<String, serde_json::Value> = (0..1000)
            .map(|i| {
                (
                    format!("k{i}"),
                    json!({"name": format!("n{i}"), "hits": i, "secret": "s"}),
                )
            })
            .collect();
        registry.add_value("items", "", Arc::new(Mutex::new(map)).into_live());
        registry.add_value("small", "", Arc::new(Mutex::new(vec![1, 2, 3])).into_live());
        let tags: BTreeSet<String> = ["a", "b"].map(String::from).into();
        registry.add_value("tags", "", Arc::new(Mutex::new(tags)).into_live());
        registry.add_redaction("items.k1.secret");
        Evaluator::new(&registry, &Limits::default(), "test")
    }

    fn eval(evaluator: &Evaluator, code: &str) -> serde_json::Value {
        match evaluator.eval(&mut SessionScope::new(), 1, code) {
            Reply::Value { value, .. } => value,
            other => panic!("{code}: {other:?}"),
        }
    }

    #[test]
    fn point_questions_and_walks() {
        let e = evaluator();
        assert_eq!(eval(&e, "items.len()"), json!(1000));
        assert_eq!(eval(&e, "items.is_empty()"), json!(false));
        assert_eq!(eval(&e, "items[\"k7\"].hits"), json!(7));
        assert_eq!(eval(&e, "items.k7.name"), json!("n7"));
        assert_eq!(eval(&e, "items[\"nope\"]"), json!(null));
        assert_eq!(eval(&e, "\"k9\" in items"), json!(true));
        assert_eq!(eval(&e, "items.keys().take(10).len()"), json!(10));
        assert_eq!(
            eval(
                &e,
                "let n = 0; for k in items { n += 1; if n == 5 { break } } n"
            ),
            json!(5)
        );
        assert_eq!(
            eval(&e, "let n = 0; for v in items.values() { n += v.hits } n"),
            json!(499500)
        );
        assert_eq!(eval(&e, "items.filter(|k, v| v.hits < 3).len()"), json!(3));
        assert_eq!(
            eval(&e, "items.values().filter(|v| v.hits < 3).len()"),
            json!(3)
        );
        assert_eq!(eval(&e, "items.map(|k, v| v.hits).len()"), json!(1000));
        assert_eq!(eval(&e, "small.map(|x| x * 2)"), json!([2, 4, 6]));
        assert_eq!(eval(&e, "small[-1]"), json!(3));
        assert_eq!(eval(&e, "small"), json!([1, 2, 3]));
        assert_eq!(eval(&e, "tags"), json!(["a", "b"]));
        assert_eq!(eval(&e, "tags.contains(\"b\")"), json!(true));
        assert_eq!(eval(&e, "type_of(items)"), json!("view"));
        let help = eval(&e, "help()");
        assert!(help
            .as_str()
            .unwrap()
            .contains("collections (items, small, tags)"));
    }

    #[test]
    fn previews_are_bounded_and_redactions_hold() {
        let e = evaluator();
        let preview = eval(&e, "items");
        let map = preview.as_object().unwrap();
        assert_eq!(map.len(), 101);
        assert!(map["…"].as_str().unwrap().contains("900 more, 1000 in all"));
        assert_eq!(
            eval(&e, "items.k1.secret"),
            json!(crate::state::redact::REDACTED)
        );
        assert_eq!(eval(&e, "items.k2.secret"), json!("s"));
        let secrets = eval(&e, "items.values().filter(|v| v.secret != \"s\").len()");
        assert_eq!(secrets, json!(1));
        assert_eq!(eval(&e, "items.keys()").as_array().unwrap().len(), 101);
    }

    #[test]
    fn views_are_read_only() {
        let e = evaluator();
        let reply = e.eval(&mut SessionScope::new(), 1, "let c = items; c[\"k1\"] = 1");
        assert!(
            matches!(reply, Reply::Error { ref message, .. } if message.contains("read-only")),
            "{reply:?}"
        );
    }
}
