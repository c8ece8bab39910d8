//! Redaction: parts of registered values that must never leave the process.
//!
//! A host may register a config map that also holds a password. `AgentBuilder::redact`
//! names such a part (`"config.db_password"`, or `"api_token"` for a whole value); the
//! agent replaces it with `"[redacted]"` right after the live read, before the value
//! reaches the script engine. So no script, reply or log can ever hold the secret:
//! there is nothing left to leak.

use serde_json::Value;

/// What a redacted part reads as.
pub const REDACTED: &str = "[redacted]";

/// A redacted part: the registered value's name and the keys below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedactPath {
    pub(crate) value: String,
    pub(crate) keys: Vec<String>,
}

impl RedactPath {
    /// Parses `name` or `name.key.key...`.
    pub(crate) fn parse(path: &str) -> RedactPath {
        let mut parts = path.split('.').map(str::to_owned);
        RedactPath {
            value: parts.next().unwrap_or_default(),
            keys: parts.collect(),
        }
    }

    /// The path as the host wrote it, for `help()`.
    pub(crate) fn keys_text(&self) -> String {
        self.keys.join(".")
    }
}

/// Replaces the part at `keys` with the marker. Arrays are walked element by element,
/// so `"users.password"` redacts the password of every user in a list.
pub(crate) fn apply(value: &mut Value, keys: &[String]) {
    let Some((first, rest)) = keys.split_first() else {
        *value = Value::String(REDACTED.to_owned());
        return;
    };
    match value {
        Value::Object(map) => {
            if let Some(inner) = map.get_mut(first) {
                apply(inner, rest);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| apply(item, keys)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_nested_fields_whole_values_and_list_members() {
        let mut config = json!({"db": {"password": "hunter2", "host": "db1"}});
        apply(&mut config, &RedactPath::parse("config.db.password").keys);
        assert_eq!(config, json!({"db": {"password": REDACTED, "host": "db1"}}));

        let mut users = json!([{"name": "a", "password": "x"}, {"name": "b"}]);
        apply(&mut users, &RedactPath::parse("users.password").keys);
        assert_eq!(
            users,
            json!([{"name": "a", "password": REDACTED}, {"name": "b"}])
        );

        let mut token = json!("s3cret");
        apply(&mut token, &RedactPath::parse("token").keys);
        assert_eq!(token, json!(REDACTED));
    }
}
