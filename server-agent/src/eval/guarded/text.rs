//! Values turned into text within `max_string_size`: Rhai built all of an array's or a
//! map's text before checking its length (55 MiB of map keys grew the worker by 105
//! MiB in `m.to_string()`). Every way a script turns a value into text reaches these:
//! `to_string`, `print`, `debug` and `to_debug` themselves, and `${m}`, `"" + m`,
//! `m + ""`, `s += m` and `s.append(m)`, which call `to_string`. `to_json` is measured
//! into nothing first and refused over the limit.
//!
//! Never from here: text that differs from Rhai's within the limit, or more than the
//! limit (and a little) built.

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, NativeCallContext};

use super::too_large;
use crate::eval::reply::json_size_within;

/// The names under which Rhai turns a value into text.
const TEXT_OF: [&str; 4] = ["print", "to_string", "debug", "to_debug"];

/// Registers the capped versions for arrays and maps, and `to_json`.
pub(super) fn register(engine: &mut Engine) {
    for name in TEXT_OF {
        register_pure!(engine, name, |ctx: NativeCallContext, array: &mut Array| {
            let mut text = Capped::new(&ctx, "[");
            for (i, item) in array.iter_mut().enumerate() {
                if text.full() {
                    break;
                }
                text.push(if i == 0 { "" } else { ", " });
                text.push(&debug_text(&ctx, item));
            }
            text.finish("]")
        });
        register_pure!(engine, name, |ctx: NativeCallContext, map: &mut Map| {
            let mut text = Capped::new(&ctx, "#{");
            for (i, (key, item)) in map.iter_mut().enumerate() {
                if text.full() {
                    break;
                }
                text.push(if i == 0 { "" } else { ", " });
                text.push(&format!("{key:?}: "));
                text.push(&debug_text(&ctx, item));
            }
            text.finish("}")
        });
    }
    register_pure!(engine, "to_json", bounded_json);
}

/// A map as JSON (Rhai's own format), refused before it is built if it would be
/// longer than `max_string_size`.
fn bounded_json(ctx: NativeCallContext, map: &mut Map) -> Result<String, Box<EvalAltResult>> {
    let max = ctx.engine().max_string_size();
    if max > 0 && json_size_within(&AsJson(map), max).is_none() {
        return Err(too_large(&ctx, "Length of string"));
    }
    Ok(rhai::format_map_as_json(map))
}

/// A map as serde sees it (its keys are not serde strings).
struct AsJson<'a>(&'a Map);

impl serde::Serialize for AsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(key, value)| (key.as_str(), value)))
    }
}

/// An item as Rhai's `to_debug` shows it (the versions above, for arrays and maps).
fn debug_text(ctx: &NativeCallContext, item: &mut Dynamic) -> ImmutableString {
    match ctx.call_native_fn_raw("to_debug", true, &mut [item]) {
        Ok(text) if text.is_string() => text.into_immutable_string().unwrap_or_default(),
        _ => text_within(item, ctx.engine().max_string_size()).into(),
    }
}

/// `value` as Rust displays it, cut just past `cap` bytes (0: no cap) without
/// building the rest.
pub(crate) fn text_within(value: &Dynamic, cap: usize) -> String {
    let mut text = Capped {
        text: String::new(),
        cap: if cap == 0 { usize::MAX } else { cap + 1 },
    };
    // A full text ends the formatting early with an error, which is the point.
    let _cut_short = std::fmt::Write::write_fmt(&mut text, format_args!("{value}"));
    text.text
}

/// Text that stops growing just past `max_string_size`, so that Rhai's own check
/// refuses it instead of the whole text being built first.
struct Capped {
    text: String,
    cap: usize,
}

impl Capped {
    fn new(ctx: &NativeCallContext, open: &str) -> Capped {
        let cap = match ctx.engine().max_string_size() {
            0 => usize::MAX,
            max => max + 1,
        };
        let mut capped = Capped {
            text: String::new(),
            cap,
        };
        capped.push(open);
        capped
    }

    fn full(&self) -> bool {
        self.text.len() >= self.cap
    }

    fn push(&mut self, piece: &str) {
        let room = self.cap.saturating_sub(self.text.len());
        let mut end = piece.len().min(room);
        while !piece.is_char_boundary(end) {
            end += 1;
        }
        self.text.push_str(&piece[..end]);
    }

    fn finish(mut self, close: &str) -> ImmutableString {
        self.push(close);
        self.text.into()
    }
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, piece: &str) -> std::fmt::Result {
        self.push(piece);
        if self.full() {
            Err(std::fmt::Error)
        } else {
            Ok(())
        }
    }
}
