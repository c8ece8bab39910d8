//! Rhai standard functions that would escape the budget, replaced or turned off.
//!
//! * `eval(text)` compiles text at run time, and no deadline can interrupt Rhai's
//!   compiler: a script that builds 1 MiB of source and evaluates it in a loop ran
//!   60% past its time limit. It is disabled (a script can run the code directly).
//! * `split`, `split_rev` and `to_chars` build their whole array before Rhai checks
//!   it against `max_array_size`: one call on a 1 MiB string held about 64 MiB for a
//!   moment, past the command's memory budget. Here they count the parts first, with
//!   no allocation, and refuse an array over the limit before building it.
//! * Turning an array or a map into text built all of it before Rhai checked
//!   `max_string_size` (+105 MiB for 55 MiB of map keys): `text` stops it just past
//!   the limit on every path; the message of a thrown value is cut at the reply limit.
//! * `keys()` and `values()` copy what a map holds: they are charged to the budget
//!   before they build anything.
//! * `a.pad(n, item)` copies `item` up to n times in one call, and Rhai's size check
//!   counts no map keys: `[].pad(100000, #{<1 MiB key>: 1})` would copy 100 GB. Here
//!   the copies are charged before they are made.
//! * Compiling is not evaluating: Rhai's `on_progress` never runs while it parses,
//!   some shapes parse in quadratic time (a map literal of 100 000 keys took over a
//!   minute), and its optimizer removes statements one at a time (450 000 `1;` took
//!   17 s). The parser checks the budget at every token, and the optimizer is off.
//!
//! Never from here: changing what the replaced functions return within the limits.

use rhai::{
    Array, Dynamic, Engine, EvalAltResult, ImmutableString, LexError, Map, NativeCallContext,
    OptimizationLevel, Token, INT,
};

use crate::budget;

/// Registers a function that only reads its first argument (`&mut` for speed), so
/// that Rhai calls it on constants and views' elements too, as it does its own.
macro_rules! register_pure {
    ($engine:expr, $name:expr, $function:expr $(,)?) => {
        rhai::FuncRegistration::new($name)
            .with_purity(true)
            .register_into_engine($engine, $function)
    };
}

#[cfg(test)]
mod tests;
mod text;

pub(super) use text::text_within;

/// The Rhai keyword turned off.
const EVAL: &str = "eval";

/// `split` and `split_rev`, whole and in at most `parts` pieces, for one type of
/// separator (`&str` or `char`; std's `Pattern` cannot be named on stable Rust).
macro_rules! register_splits {
    ($engine:expr, $by:ty, $whole:ident) => {
        register_pure!(
            $engine,
            "split",
            |ctx: NativeCallContext, text: &mut ImmutableString, by: $by| match $whole(text, by) {
                Some(whole) => Ok(whole),
                None => bounded(&ctx, text.split(by)),
            },
        );
        register_pure!(
            $engine,
            "split_rev",
            |ctx: NativeCallContext, text: &mut ImmutableString, by: $by| match $whole(text, by) {
                Some(whole) => Ok(whole),
                None => bounded(&ctx, text.rsplit(by)),
            },
        );
        register_pure!(
            $engine,
            "split",
            |ctx: NativeCallContext, text: &mut ImmutableString, by: $by, parts: INT| match $whole(
                text, by,
            )
            .or_else(|| one_part(text, parts))
            {
                Some(whole) => Ok(whole),
                None => bounded(&ctx, text.splitn(segments(parts), by)),
            },
        );
        register_pure!(
            $engine,
            "split_rev",
            |ctx: NativeCallContext, text: &mut ImmutableString, by: $by, parts: INT| match $whole(
                text, by,
            )
            .or_else(|| one_part(text, parts))
            {
                Some(whole) => Ok(whole),
                None => bounded(&ctx, text.rsplitn(segments(parts), by)),
            },
        );
    };
}

/// Turns off `eval` and the optimizer, stops the parser at the budget, and puts
/// bounded versions of the splitting functions first.
pub(super) fn guard(engine: &mut Engine) {
    engine.disable_symbol(EVAL);
    engine.set_optimization_level(OptimizationLevel::None);
    // Volatile in Rhai's terms (not deprecated); its only hook into the parser.
    #[allow(deprecated)]
    engine.on_parse_token(|token, _, _| match budget::check() {
        Ok(()) => token,
        Err(exceeded) => Token::LexError(LexError::Runtime(exceeded.to_string()).into()),
    });
    engine.register_fn("to_chars", |ctx: NativeCallContext, text: &str| {
        bounded(&ctx, text.chars())
    });
    register_pure!(
        engine,
        "split",
        |ctx: NativeCallContext, text: &mut ImmutableString| {
            if text.is_empty() {
                return Ok(vec![text.clone().into()]);
            }
            bounded(&ctx, text.split_whitespace())
        },
    );
    register_splits!(engine, &str, whole);
    register_splits!(engine, char, whole_char);
    text::register(engine);
    engine.register_fn("pad", pad);
    register_pure!(
        engine,
        "keys",
        |map: &mut Map| -> Result<Array, Box<EvalAltResult>> {
            budget::charge(map.keys().map(|key| budget::weigh_string(key.len())).sum())?;
            Ok(map.keys().map(|key| key.as_str().into()).collect())
        },
    );
    register_pure!(
        engine,
        "values",
        |map: &mut Map| -> Result<Array, Box<EvalAltResult>> {
            budget::charge(map.values().map(budget::weigh).sum())?;
            Ok(map.values().cloned().collect())
        },
    );
}

/// `array.pad(len, item)`: Rhai's, with the copies of `item` charged first.
fn pad(
    ctx: NativeCallContext,
    array: &mut Array,
    len: INT,
    item: Dynamic,
) -> Result<(), Box<EvalAltResult>> {
    let Some(added) = usize::try_from(len)
        .ok()
        .and_then(|len| len.checked_sub(array.len()))
        .filter(|&added| added > 0)
    else {
        return Ok(());
    };
    let max = ctx.engine().max_array_size();
    if max > 0 && array.len() + added > max {
        return Err(too_large(&ctx, "Size of array"));
    }
    let each = std::mem::size_of::<Dynamic>() + budget::measure(&item).copied;
    budget::copy(each.saturating_mul(added))?;
    let before = array.len();
    array.resize(before + added, item);
    let padded = Dynamic::from_array(std::mem::take(array));
    let within = ctx.engine().ensure_data_size_within_limits(&padded);
    *array = padded.into_array().unwrap_or_default();
    within.inspect_err(|_| array.truncate(before))
}

/// Rhai's error for a value over one of its size limits.
pub(super) fn too_large(ctx: &NativeCallContext, what: &str) -> Box<EvalAltResult> {
    EvalAltResult::ErrorDataTooLarge(what.into(), ctx.call_position()).into()
}

/// Rhai's answer when the text is empty or the separator absent: the text, whole.
fn whole(text: &ImmutableString, by: &str) -> Option<Array> {
    (text.is_empty() || (!by.is_empty() && !text.contains(by))).then(|| vec![text.clone().into()])
}

fn whole_char(text: &ImmutableString, by: char) -> Option<Array> {
    (text.is_empty() || !text.contains(by)).then(|| vec![text.clone().into()])
}

/// Rhai's answer when at most one part is asked for.
fn one_part(text: &ImmutableString, parts: INT) -> Option<Array> {
    (parts <= 1).then(|| vec![text.clone().into()])
}

fn segments(parts: INT) -> usize {
    usize::try_from(parts).unwrap_or(usize::MAX)
}

/// The parts as an array, or Rhai's size error if there are more than
/// `max_array_size` of them (counted without building anything).
fn bounded<'a, T: Into<rhai::Dynamic>>(
    ctx: &NativeCallContext,
    parts: impl Iterator<Item = T> + Clone + 'a,
) -> Result<Array, Box<EvalAltResult>> {
    let max = ctx.engine().max_array_size();
    if max > 0 && parts.clone().take(max + 1).count() > max {
        return Err(too_large(ctx, "Size of array"));
    }
    Ok(parts.map(Into::into).collect())
}
