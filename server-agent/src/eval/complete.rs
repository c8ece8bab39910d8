//! Tab completion and `:vars`, answered from the live session.
//!
//! Completion never runs code: a word completes against session variables,
//! session functions, registered names and built-ins; after a dot, the path before it
//! (`config.db`, `x.y`) must be plain names, which are read (registered values with
//! their usual bounded wait and redaction) and their map keys offered.

use rhai::Dynamic;

use crate::budget;
use crate::eval::{Evaluator, SessionScope};

/// Rhai keywords worth completing.
const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "while", "loop", "for", "in", "break", "continue",
    "return", "throw", "try", "catch", "true", "false",
];

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
        Some((base, partial)) => keys_of(evaluator, session, base)
            .into_iter()
            .filter(|key| key.starts_with(partial))
            .collect(),
        None => words(evaluator, session)
            .into_iter()
            .filter(|word| word.starts_with(path))
            .collect::<Vec<_>>(),
    };
    candidates.sort();
    candidates.dedup();
    let word_start = match path.rsplit_once('.') {
        Some((_, partial)) => pos - partial.len(),
        None => start,
    };
    (word_start, candidates)
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

/// The keys of the map at `path` (`a.b.c`, names only), or nothing.
fn keys_of(evaluator: &Evaluator, session: &SessionScope, path: &str) -> Vec<String> {
    let mut parts = path.split('.');
    let Some(first) = parts.next().filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    match session.scope.get(first) {
        Some(value) => keys_in_variable(value, parts),
        None => {
            let mut value = evaluator
                .values
                .read(first, budget::deadline())
                .and_then(Result::ok);
            for key in parts {
                value = value.and_then(|v| v.get(key).cloned());
            }
            match value {
                Some(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
                _ => Vec::new(),
            }
        }
    }
}

/// The keys of the map at `path` inside a session variable, read in place (a
/// variable may be large: nothing is copied but the keys).
fn keys_in_variable<'a>(value: &Dynamic, mut path: impl Iterator<Item = &'a str>) -> Vec<String> {
    let Some(map) = value.read_lock::<rhai::Map>() else {
        return Vec::new();
    };
    match path.next() {
        Some(key) => map
            .get(key)
            .map_or_else(Vec::new, |inner| keys_in_variable(inner, path)),
        None => budget::within(map.keys())
            .map(|key| key.to_string())
            .collect(),
    }
}

fn floor_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The session's variables and their values, for `:vars`, within the request's budget.
pub(crate) fn vars(session: &SessionScope) -> Result<serde_json::Value, budget::Exceeded> {
    let mut map = serde_json::Map::new();
    for (name, _, value) in session.scope.iter_raw() {
        budget::charge(budget::weigh(value))?;
        let json = rhai::serde::from_dynamic::<serde_json::Value>(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        map.insert(name.to_owned(), json);
    }
    Ok(serde_json::Value::Object(map))
}
