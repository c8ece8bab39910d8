//! Tab completion and `:vars`, answered from the live session.
//!
//! Completion never runs code: a word completes against session variables,
//! session functions, registered names and built-ins; after a dot, the path before it
//! (`config.db`, `x.y`) must be plain names, which are read (registered values with
//! their usual bounded wait and redaction) and their map keys offered. A registered
//! collection offers the keys of its first chunk only: completion never walks it.

use std::time::Duration;

use rhai::Dynamic;

use crate::budget;
use crate::eval::reply;
use crate::eval::values::ViewRef;
use crate::eval::views::key_text;
use crate::eval::{Evaluator, SessionScope};
use crate::state::view::{Cursor, Part, Stint};

/// Keys of a registered collection offered after `name.`.
const COMPLETED_VIEW_KEYS: usize = 1000;

/// Rhai keywords worth completing.
const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "while", "loop", "for", "in", "break", "continue",
    "return", "throw", "try", "catch", "true", "false",
];

/// Most candidates offered, and the longest: completion is for names a person types,
/// and a session may hold a map of many long keys (copying them all once grew the
/// worker by three times what the map holds).
const MAX_CANDIDATES: usize = 1000;
const MAX_CANDIDATE_BYTES: usize = 256;

/// Where the completed word starts, and the candidates for it.
pub(crate) fn complete(
    evaluator: &Evaluator,
    session: &SessionScope,
    line: &str,
    pos: usize,
) -> (usize, Vec<String>) {
    let pos = floor_boundary(line, pos.min(line.len()));
    let before = &line[..pos];
    let start = before
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .map_or(0, |i| i + 1);
    let path = &before[start..];
    let mut candidates = match path.rsplit_once('.') {
        Some((base, partial)) => keys_of(evaluator, session, base, partial),
        None => offer(words(evaluator, session).iter().map(String::as_str), path),
    };
    candidates.sort();
    candidates.dedup();
    let word_start = match path.rsplit_once('.') {
        Some((_, partial)) => pos - partial.len(),
        None => start,
    };
    (word_start, candidates)
}

/// The names that start with `partial`, within the limits above and the budget.
fn offer<'a>(names: impl Iterator<Item = &'a str>, partial: &str) -> Vec<String> {
    budget::within(names)
        .filter(|name| name.len() <= MAX_CANDIDATE_BYTES && name.starts_with(partial))
        .take(MAX_CANDIDATES)
        .map(str::to_owned)
        .collect()
}

/// Every name a word may complete to; functions end with `(`.
fn words(evaluator: &Evaluator, session: &SessionScope) -> Vec<String> {
    let mut words: Vec<String> = session
        .scope
        .iter()
        .map(|(name, ..)| name.to_owned())
        .collect();
    words.extend(
        session
            .functions
            .iter_functions()
            .map(|f| format!("{}(", f.name)),
    );
    words.extend(evaluator.values.names().map(str::to_owned));
    words.extend(evaluator.callable.iter().map(|name| format!("{name}(")));
    words.extend(KEYWORDS.iter().map(|k| k.to_string()));
    words
}

/// The keys starting with `partial` of the map at `path` (`a.b.c`, names only).
fn keys_of(
    evaluator: &Evaluator,
    session: &SessionScope,
    path: &str,
    partial: &str,
) -> Vec<String> {
    let mut parts = path.split('.');
    let Some(first) = parts.next().filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    match session.scope.get(first) {
        Some(value) => keys_in_variable(value, parts, partial),
        None => {
            let values = &evaluator.values;
            let mut value = match values.view(first) {
                Some(view) => match parts.next() {
                    None => {
                        let keys = first_keys(&view);
                        return offer(keys.iter().map(String::as_str), partial);
                    }
                    Some(key) => view
                        .get(
                            &serde_json::Value::String(key.to_owned()),
                            None,
                            budget::deadline(),
                        )
                        .ok()
                        .flatten(),
                },
                None => values.read(first, budget::deadline()).and_then(Result::ok),
            };
            for key in parts {
                value = value.and_then(|v| v.get(key).cloned());
            }
            match value {
                Some(serde_json::Value::Object(map)) => {
                    offer(map.keys().map(String::as_str), partial)
                }
                _ => Vec::new(),
            }
        }
    }
}

/// The first `COMPLETED_VIEW_KEYS` keys of a registered collection (one chunk).
fn first_keys(view: &ViewRef) -> Vec<String> {
    let stint = Stint {
        max: COMPLETED_VIEW_KEYS,
        time: Duration::from_millis(1),
    };
    view.chunk(&Cursor::Position(0), Part::Keys, stint, budget::deadline())
        .map(|chunk| {
            chunk
                .items
                .into_iter()
                .map(|item| key_text(item.key))
                .collect()
        })
        .unwrap_or_default()
}

/// The keys of the map at `path` inside a session variable, read in place (a
/// variable may be large: nothing is copied but the keys).
fn keys_in_variable<'a>(
    value: &Dynamic,
    mut path: impl Iterator<Item = &'a str>,
    partial: &str,
) -> Vec<String> {
    let Some(map) = value.read_lock::<rhai::Map>() else {
        return Vec::new();
    };
    match path.next() {
        Some(key) => map
            .get(key)
            .map_or_else(Vec::new, |inner| keys_in_variable(inner, path, partial)),
        None => offer(map.keys().map(|key| key.as_str()), partial),
    }
}

fn floor_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The session's variables and their values, for `:vars`, within the request's budget
/// and the reply limit (measured before anything is converted); or why not.
pub(crate) fn vars(
    session: &SessionScope,
    max_reply_bytes: usize,
) -> Result<serde_json::Value, String> {
    let mut room = max_reply_bytes;
    let mut map = serde_json::Map::new();
    for (name, _, value) in session.scope.iter_raw() {
        budget::charge(budget::weigh(value)).map_err(|exceeded| exceeded.to_string())?;
        room -= reply::json_size_within(value, room).ok_or_else(|| {
            format!(
                "the session's variables are over the {max_reply_bytes} byte reply limit; \
                 ask for the ones you need by name"
            )
        })?;
        let json = rhai::serde::from_dynamic::<serde_json::Value>(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        map.insert(name.to_owned(), json);
    }
    Ok(serde_json::Value::Object(map))
}
