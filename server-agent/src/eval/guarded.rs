//! Rhai standard functions that would escape the budget, replaced or turned off.
//!
//! * `eval(text)` compiles text at run time, and no deadline can interrupt Rhai's
//!   compiler: a script that builds 1 MiB of source and evaluates it in a loop ran
//!   60% past its time limit. It is disabled (a script can run the code directly).
//! * `split`, `split_rev` and `to_chars` build their whole array before Rhai checks
//!   it against `max_array_size`: one call on a 1 MiB string held about 64 MiB for a
//!   moment, past the command's memory budget. Here they count the parts first, with
//!   no allocation, and refuse an array over the limit before building it.
//! * Turning an array or a map into text (`to_string`, `print`, `debug`) built all of
//!   it before Rhai checked `max_string_size`: a map holding 55 MiB of keys grew the
//!   worker by 105 MiB in `m.to_string()`. Here the text stops just past the limit,
//!   so Rhai's check still refuses it. Every other way a value becomes text goes
//!   through these: `${m}`, `"" + m`, `m + ""`, `s += m` and `s.append(m)` call
//!   `to_string`; `to_json` is measured into nothing first and refused over the
//!   limit; the message of a thrown value is cut at the reply limit (`text_within`).
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
use crate::eval::reply::json_size_within;

/// Registers a function that only reads its first argument (`&mut` for speed), so
/// that Rhai calls it on constants and views' elements too, as it does its own.
macro_rules! register_pure {
    ($engine:expr, $name:expr, $function:expr $(,)?) => {
        rhai::FuncRegistration::new($name)
            .with_purity(true)
            .register_into_engine($engine, $function)
    };
}

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
    register_text(engine);
    register_pure!(engine, "to_json", bounded_json);
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

/// The names under which Rhai turns a value into text.
const TEXT_OF: [&str; 4] = ["print", "to_string", "debug", "to_debug"];

fn register_text(engine: &mut Engine) {
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
fn too_large(ctx: &NativeCallContext, what: &str) -> Box<EvalAltResult> {
    EvalAltResult::ErrorDataTooLarge(what.into(), ctx.call_position()).into()
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
pub(super) fn text_within(value: &Dynamic, cap: usize) -> String {
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

#[cfg(test)]
mod tests {
    use rhai::{Dynamic, Engine};

    fn engine(max_array: usize) -> Engine {
        let mut engine = Engine::new();
        engine.set_max_array_size(max_array);
        super::guard(&mut engine);
        engine
    }

    fn strings(engine: &Engine, code: &str) -> Vec<String> {
        engine
            .eval::<rhai::Array>(code)
            .unwrap()
            .into_iter()
            .map(Dynamic::into_string)
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn splits_as_rhai_does_within_the_limit() {
        let engine = engine(100);
        assert_eq!(strings(&engine, r#""a,b,c".split(",")"#), ["a", "b", "c"]);
        assert_eq!(
            strings(&engine, r#""a,b,c".split_rev(',')"#),
            ["c", "b", "a"]
        );
        assert_eq!(strings(&engine, r#""a,b,c".split(",", 2)"#), ["a", "b,c"]);
        assert_eq!(strings(&engine, r#""a b  c".split()"#), ["a", "b", "c"]);
        assert_eq!(strings(&engine, r#""abc".split("x")"#), ["abc"]);
        assert_eq!(strings(&engine, r#""abc".split("b", 1)"#), ["abc"]);
        assert_eq!(strings(&engine, r#""abcdef".split(2)"#), ["ab", "cdef"]);
        assert_eq!(
            engine
                .eval::<rhai::Array>(r#""ab".to_chars()"#)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn refuses_an_array_over_the_limit_before_building_it() {
        let engine = engine(10);
        for code in [
            r#"s.split("")"#,
            r#"s.split('a')"#,
            r#"s.split()"#,
            r#"s.split_rev("a", 40)"#,
            r#"s.to_chars()"#,
        ] {
            let code = format!(r#"let s = "a"; s.pad(50, " a"); {code}"#);
            let err = engine.eval::<rhai::Array>(&code).unwrap_err();
            assert!(
                matches!(*err, rhai::EvalAltResult::ErrorDataTooLarge(..)),
                "{code}: {err}"
            );
        }
    }

    #[test]
    fn text_of_a_big_map_stops_past_the_string_limit() {
        let mut engine = engine(100);
        engine.set_max_string_size(1000);
        for code in [
            "m.to_string()",
            "print(m)",
            "[m].to_string()",
            "`${m}`",
            "\"\" + m",
            "m + \"\"",
            "let s = \"\"; s += m",
            "let s = \"\"; s.append(m)",
            "m.to_json()",
            "`${[m]}`",
        ] {
            let code = format!(
                r#"let k = "k"; k.pad(400, "x"); let m = #{{}}; for i in 0..50 {{ m[k + i] = [k] }}; {code}"#
            );
            let err = engine.eval::<rhai::Dynamic>(&code).unwrap_err();
            assert!(
                matches!(*err, rhai::EvalAltResult::ErrorDataTooLarge(..)),
                "{code}: {err}"
            );
        }
        assert_eq!(
            engine
                .eval::<String>(r#"let m = #{a: [1, "b"]}; `${m}`"#)
                .unwrap(),
            r#"#{"a": [1, "b"]}"#
        );
        assert_eq!(
            engine.eval::<String>("[1, [2], #{}].to_string()").unwrap(),
            "[1, [2], #{}]"
        );
        assert_eq!(
            engine
                .eval::<String>(r#"#{a: [1, "b"]}.to_json()"#)
                .unwrap(),
            r#"{"a":[1,"b"]}"#
        );
    }

    #[test]
    fn text_within_stops_past_its_cap() {
        let long = Dynamic::from_array(vec![Dynamic::from("x".repeat(10_000)); 10]);
        assert_eq!(super::text_within(&long, 100).len(), 101);
        assert_eq!(super::text_within(&Dynamic::from(12_i64), 100), "12");
    }

    #[test]
    fn the_replacements_work_on_constants_as_rhai_own_do() {
        let engine = engine(100);
        let code = r#"const M = #{a: "x,y"}; M.keys().len() + M.values().len() + M.to_json().len() + M.a.split(",").len()"#;
        assert_eq!(engine.eval::<i64>(code).unwrap(), 1 + 1 + 11 + 2);
    }

    #[test]
    fn pad_pads_as_rhai_does_within_the_limits() {
        let engine = engine(100);
        let padded = engine
            .eval::<rhai::Array>("let a = [1]; a.pad(3, [0]); a")
            .unwrap();
        assert_eq!(padded.len(), 3);
        assert!(engine.eval::<()>("let a = []; a.pad(101, 0)").is_err());
        // Nested elements count toward the array limit, as in Rhai's own `pad`.
        assert!(engine.eval::<()>("let a = [1]; a.pad(60, [1, 2])").is_err());
    }

    #[test]
    fn eval_is_off() {
        assert!(engine(10).eval::<i64>(r#"eval("1 + 1")"#).is_err());
    }
}
