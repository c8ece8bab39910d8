//! What the host registered: named live values and named callable functions.
//!
//! Values are read-only to scripts. Functions are the only way a script can change
//! host state, and only the ones the host chose to register. Names are checked at
//! install time so a typo fails loudly in the host, not silently in a session.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::AgentError;
use crate::logging::LogFilter;
use crate::state::function::Function;
use crate::state::live::Live;
use crate::state::redact::RedactPath;

pub(crate) struct Entry<T: ?Sized> {
    pub(crate) help: String,
    pub(crate) item: Arc<T>,
}

pub(crate) struct Registry {
    /// Names the host may not take (the built-ins'), handed in by the agent.
    reserved: fn(&str) -> bool,
    pub(crate) values: BTreeMap<String, Entry<dyn Live>>,
    pub(crate) functions: BTreeMap<String, Arc<Function>>,
    pub(crate) redactions: Vec<RedactPath>,
    /// What the host says about its build, for `version()`.
    pub(crate) build_info: BTreeMap<String, String>,
    /// The host's log filter, for `log_level()`.
    pub(crate) log_filter: Option<Arc<dyn LogFilter>>,
    pub(crate) problems: Vec<AgentError>,
}

impl Registry {
    pub(crate) fn new(reserved: fn(&str) -> bool) -> Registry {
        Registry {
            reserved,
            values: BTreeMap::new(),
            functions: BTreeMap::new(),
            redactions: Vec::new(),
            build_info: BTreeMap::new(),
            log_filter: None,
            problems: Vec::new(),
        }
    }

    pub(crate) fn add_value(&mut self, name: &str, help: &str, value: Arc<dyn Live>) {
        if self.check_name(name) {
            self.values.insert(
                name.to_owned(),
                Entry {
                    help: help.to_owned(),
                    item: value,
                },
            );
        }
    }

    /// Adds a function, or records why it cannot be (see `Function::new`).
    pub(crate) fn add_function(&mut self, name: &str, function: Result<Function, &'static str>) {
        if !self.check_name(name) {
            return;
        }
        match function {
            Ok(function) => {
                self.functions.insert(name.to_owned(), Arc::new(function));
            }
            Err(reason) => self.problems.push(AgentError::BadName {
                name: name.to_owned(),
                reason,
            }),
        }
    }

    pub(crate) fn add_redaction(&mut self, path: &str) {
        self.redactions.push(RedactPath::parse(path));
    }

    /// The redacted key paths below the value `name`.
    pub(crate) fn redactions_of(&self, name: &str) -> Vec<Vec<String>> {
        self.redactions
            .iter()
            .filter(|path| path.value == name)
            .map(|path| path.keys.clone())
            .collect()
    }

    /// The first registration mistake, if any; checked by `install`.
    pub(crate) fn first_problem(&mut self) -> Option<AgentError> {
        let unknown = self
            .redactions
            .iter()
            .find(|path| !self.values.contains_key(&path.value))
            .map(|path| AgentError::BadName {
                name: path.value.clone(),
                reason: "redact() names a value that is not registered",
            });
        self.problems.drain(..).next().or(unknown)
    }

    fn check_name(&mut self, name: &str) -> bool {
        let reason = if !is_identifier(name) {
            Some("names must be identifiers: a letter or _ followed by letters, digits or _")
        } else if rhai::Engine::new_raw().compile_expression(name).is_err() {
            Some("the name is a Rhai keyword or reserved word")
        } else if (self.reserved)(name) {
            Some("the name belongs to a built-in")
        } else if self.values.contains_key(name) || self.functions.contains_key(name) {
            Some("the name is registered twice")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.problems.push(AgentError::BadName {
                name: name.to_owned(),
                reason,
            });
        }
        reason.is_none()
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_builtins_and_duplicates_are_refused() {
        let mut registry = Registry::new(|name| name == "pid");
        let value: Arc<dyn Live> = Arc::new(crate::state::live::Getter(|| 1));
        for name in ["shared", "fn", "pid", "9lives", "a-b", "ok_name", "ok_name"] {
            registry.add_value(name, "", value.clone());
        }
        assert_eq!(registry.values.keys().collect::<Vec<_>>(), ["ok_name"]);
        assert_eq!(registry.problems.len(), 6);
    }
}
