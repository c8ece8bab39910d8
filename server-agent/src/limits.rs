//! Limits that keep a script from hurting the host. Every one has a default and can
//! be changed by the host through `AgentBuilder::limits`.

use std::time::Duration;

/// Evaluation and session limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of one command, `vars` or completion request; `loop {}` is
    /// stopped when it runs out, and so is a loop of slow built-ins.
    pub command_timeout: Duration,
    /// Rhai operations per command (a deterministic cap next to the clock).
    pub max_operations: u64,
    /// Nested function calls (recursion depth).
    pub max_call_depth: usize,
    /// Nesting depth of expressions.
    pub max_expression_depth: usize,
    /// Bytes in any one string.
    pub max_string_size: usize,
    /// Elements in any one array.
    pub max_array_size: usize,
    /// Entries in any one object map.
    pub max_map_size: usize,
    /// Bytes one command may add: what the script builds (strings, arrays, maps and
    /// their keys), what the agent converts for it, its printed output and its reply.
    pub max_command_bytes: usize,
    /// Bytes one session may hold at once, its variables kept across commands included.
    pub max_session_bytes: usize,
    /// Bytes of one serialized reply.
    pub max_reply_bytes: usize,
    /// How long a client may take to send `hello` after ringing.
    pub hello_timeout: Duration,
    /// How long a session may sit idle between commands.
    pub idle_timeout: Duration,
    /// How long the agent waits for a client to read a reply.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            command_timeout: Duration::from_secs(1),
            max_operations: 50_000_000,
            max_call_depth: 64,
            max_expression_depth: 64,
            max_string_size: 1024 * 1024,
            max_array_size: 100_000,
            max_map_size: 100_000,
            max_command_bytes: 64 * 1024 * 1024,
            max_session_bytes: 128 * 1024 * 1024,
            max_reply_bytes: 4 * 1024 * 1024,
            hello_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(600),
            write_timeout: Duration::from_secs(2),
        }
    }
}

impl Limits {
    /// The limits as a JSON object (for `limits()` and the docs).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "command_timeout_ms": self.command_timeout.as_millis() as u64,
            "max_operations": self.max_operations,
            "max_call_depth": self.max_call_depth,
            "max_expression_depth": self.max_expression_depth,
            "max_string_size": self.max_string_size,
            "max_array_size": self.max_array_size,
            "max_map_size": self.max_map_size,
            "max_command_bytes": self.max_command_bytes,
            "max_session_bytes": self.max_session_bytes,
            "max_reply_bytes": self.max_reply_bytes,
            "hello_timeout_ms": self.hello_timeout.as_millis() as u64,
            "idle_timeout_ms": self.idle_timeout.as_millis() as u64,
            "write_timeout_ms": self.write_timeout.as_millis() as u64,
        })
    }
}
