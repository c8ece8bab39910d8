//! What the stack helper (`attach __stacks <pid> <ms>`) hands back to the agent.
//!
//! The agent cannot read its own threads' stacks without signalling them, so a
//! helper process reads them from outside with ptrace. Both sides link this module so
//! that the helper's one JSON document is described once.
//!
//! The exchange: the agent starts the helper with the pid and the milliseconds left
//! before the command's deadline, names it as its tracer, then writes one byte (or
//! closes) the helper's stdin. The helper waits for that before it touches the
//! process, and prints one [`HelperReply`] on stdout:
//!
//! ```
//! use attach_protocol::stacks::HelperReply;
//!
//! let snapshot = r#"{"threads":[{"tid":4242,"name":"http-worker","paused_us":41,"frames":[
//!     {"function":"http_worker::server::serve","file":"/src/server.rs","line":76,
//!      "inlined":false,"address":94625431246257,"module":"http-worker","offset":1029809}]}]}"#;
//! let Ok(HelperReply::Threads(threads)) = serde_json::from_str(snapshot) else { panic!() };
//! assert_eq!(threads[0].frames[0].line, Some(76));
//!
//! let refused = r#"{"error":"the kernel refused to let the stack helper ptrace thread 4242 (EPERM): ..."}"#;
//! assert!(matches!(serde_json::from_str(refused), Ok(HelperReply::Error(_))));
//! ```

use serde::{Deserialize, Serialize};

/// The helper's hidden subcommand: `attach __stacks <pid> <milliseconds>`.
pub const HELPER_SUBCOMMAND: &str = "__stacks";

/// The helper's only output, one JSON document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum HelperReply {
    /// Every thread that was alive and could be read.
    Threads(Vec<ThreadStack>),
    /// Why no snapshot was taken, with what to do about it.
    Error(String),
}

/// One thread's stack, innermost frame first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThreadStack {
    /// The thread id, as the worker sees it.
    pub tid: u32,
    /// The thread's name (`/proc/<pid>/task/<tid>/comm`).
    pub name: String,
    /// How long this thread was stopped for the snapshot, in microseconds.
    pub paused_us: u64,
    /// Innermost first.
    pub frames: Vec<Frame>,
}

/// One frame. An address that inlined code covers gives several frames: the inlined
/// ones (innermost first, `inlined: true`) then the function they were inlined into.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Frame {
    /// Demangled, without the Rust hash suffix; `??` when no symbol covers it.
    pub function: String,
    /// The source file, where the binary has debug info.
    pub file: Option<String>,
    /// The line in `file`.
    pub line: Option<u32>,
    /// Code inlined into the next non-inlined frame.
    pub inlined: bool,
    /// The instruction address in the worker (a return address for outer frames).
    pub address: u64,
    /// The file name of the executable or library that holds the code.
    pub module: String,
    /// `address` as stated in `module`'s file (the address minus where the module was
    /// loaded): what `addr2line -e <module>` or `objdump` take, and how a frame
    /// without a name is told apart. 0 when no module holds the address.
    #[serde(default)]
    pub offset: u64,
}
