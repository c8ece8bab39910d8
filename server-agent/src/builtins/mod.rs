//! Built-in functions every session has, whatever the host registered: views of the
//! process that need no registration (threads, stacks, memory, file descriptors,
//! requests in flight, the tokio runtime).
//!
//! They run on the agent thread and read only the agent's own process (`/proc/self`,
//! or, for `stacks()`, a helper that reads it from outside). None of them stops the
//! host for longer than a stack snapshot needs, and none of them writes anything.
//! The list of names lives here; the registry is handed it and never imports this.

pub(crate) mod fds;
pub(crate) mod mem;
pub(crate) mod procfs;
#[cfg(feature = "tokio")]
pub(crate) mod runtime;
mod sockets;
pub(crate) mod stacks;
#[cfg(feature = "tokio")]
pub(crate) mod tasks;
pub(crate) mod threads;

use std::time::Instant;

use rhai::{Dynamic, Engine, EvalAltResult};

use crate::budget;
use crate::limits::Limits;
use crate::state::registry::Registry;

/// Name and one-line description of each built-in.
const BUILTINS: &[(&str, &str)] = &[
    (
        "help()",
        "this list: registered values and functions, then built-ins",
    ),
    ("pid()", "the process id of this worker"),
    ("uptime()", "seconds since this process started"),
    (
        "threads()",
        "every thread: tid, name, state, user/system/total CPU ms",
    ),
    (
        "stacks()",
        "every thread's stack: tid, name, frames {function, file, line, inlined, address, module, offset}; \
         pauses one thread at a time, briefly",
    ),
    (
        "mem()",
        "RSS, peak RSS, virtual size (KiB) and heap figures of the allocator",
    ),
    (
        "fds()",
        "open file descriptors: files, pipes, sockets with addresses and state",
    ),
    (
        "inflight()",
        "requests inside a RequestGuard now: thread, label, ms held",
    ),
    (
        "inflight_stats()",
        "latency per label over the last 30-60 s (labelled guards, InFlightLayer, trackers): count, p50_us, p99_us",
    ),
    (
        "limits()",
        "the evaluation limits in force for this session",
    ),
    (
        "version()",
        "agent and protocol versions, process, binary, the host's build info and agent warnings",
    ),
    (
        "log_level()",
        "the host's log filter; log_level(\"debug\") changes it, if the host allows (README, \"Logging\")",
    ),
];

pub(crate) fn is_builtin(name: &str) -> bool {
    names().any(|builtin| builtin == name)
}

/// `runtime()` and `tasks()`, present with the `tokio` feature.
#[cfg(feature = "tokio")]
const RUNTIME_BUILTIN: &[(&str, &str)] = &[
    (
        "runtime()",
        "the tokio runtime: workers, alive tasks, global queue depth, \
         per-worker park count and busy time",
    ),
    (
        "tasks()",
        "async tasks alive now: spawn location, age, polls, busy time \
         (detail needs tokio_unstable)",
    ),
];
#[cfg(not(feature = "tokio"))]
const RUNTIME_BUILTIN: &[(&str, &str)] = &[];

fn all_builtins() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    BUILTINS.iter().chain(RUNTIME_BUILTIN)
}

/// The built-ins' names, without parentheses.
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    all_builtins().filter_map(|(signature, _)| signature.split('(').next())
}

pub(crate) fn register(
    engine: &mut Engine,
    registry: &Registry,
    limits: &Limits,
    process_name: &str,
) {
    let help = help_text(registry);
    register_checked(engine, "help", move || Ok(with_warnings(&help).into()));
    register_checked(engine, "pid", || Ok((std::process::id() as i64).into()));
    let started = Instant::now();
    register_checked(engine, "uptime", move || {
        Ok(procfs::process_uptime()
            .unwrap_or_else(|| started.elapsed().as_secs_f64())
            .into())
    });
    register_checked(engine, "threads", || to_rhai(threads::threads()));
    register_checked(engine, "stacks", || {
        to_rhai(stacks::stacks(budget::deadline()))
    });
    register_checked(engine, "mem", || to_rhai(mem::mem()));
    register_checked(engine, "fds", || to_rhai(fds::fds()));
    #[cfg(feature = "tokio")]
    register_checked(engine, "runtime", || {
        to_rhai(crate::builtins::runtime::runtime())
    });
    #[cfg(feature = "tokio")]
    register_checked(engine, "tasks", || to_rhai(tasks::tasks()));
    register_checked(engine, "inflight", || {
        to_rhai(Ok::<_, String>(crate::inflight::snapshot()))
    });
    register_checked(engine, "inflight_stats", || {
        to_rhai(Ok::<_, String>(crate::inflight::stats()))
    });
    let limits = rhai::serde::to_dynamic(limits.to_json()).unwrap_or(Dynamic::UNIT);
    register_checked(engine, "limits", move || Ok(limits.clone()));
    let version = serde_json::json!({
        "agent": env!("CARGO_PKG_VERSION"),
        "protocol": attach_protocol::PROTOCOL_VERSION,
        "process": process_name,
        "binary": std::env::current_exe()
            .map(|path| path.display().to_string())
            .unwrap_or_default(),
        "build": registry.build_info,
    });
    register_checked(engine, "version", move || {
        let mut version = version.clone();
        version["warnings"] = crate::logging::warnings().into();
        rhai::serde::to_dynamic(version)
    });
    let filter = registry.log_filter.clone();
    register_checked(engine, "log_level", move || {
        to_rhai(crate::logging::level(filter.as_ref()))
    });
    let filter = registry.log_filter.clone();
    engine.register_fn("log_level", move |directives: &str| {
        budget::check()?;
        to_rhai(crate::logging::set_level(filter.as_ref(), directives))
    });
}

/// The help text, then the agent's warnings, if any.
fn with_warnings(help: &str) -> String {
    let warnings = crate::logging::warnings();
    if warnings.is_empty() {
        return help.to_owned();
    }
    let mut text = help.to_owned();
    text.push_str("\nagent warnings:\n");
    for warning in warnings {
        text.push_str(&format!("  ! {warning}\n"));
    }
    text
}

/// Registers a built-in that runs only within the command's budget: checked before
/// the call (long built-ins also check inside), its result charged.
fn register_checked(
    engine: &mut Engine,
    name: &str,
    builtin: impl Fn() -> Result<Dynamic, Box<EvalAltResult>> + 'static,
) {
    engine.register_fn(name, move || -> Result<Dynamic, Box<EvalAltResult>> {
        budget::check()?;
        // A finished result is kept even if the clock ran out meanwhile (the next step
        // stops the command); a failure caused by the budget reports the budget.
        let value = builtin().map_err(|err| match budget::check() {
            Ok(()) => err,
            Err(exceeded) => exceeded.into(),
        })?;
        budget::charge(budget::weigh(&value))?;
        Ok(value)
    });
}

/// A diagnostic's result as a script value, or a runtime error with its message.
fn to_rhai<T: serde::Serialize>(result: Result<T, String>) -> Result<Dynamic, Box<EvalAltResult>> {
    let value = result.map_err(|message| -> Box<EvalAltResult> { message.into() })?;
    rhai::serde::to_dynamic(value)
}

/// What scripts can do with a registered collection (see `eval::views`).
const VIEW_METHODS: &[(&str, &str)] = &[
    (
        "x.len(), x.is_empty()",
        "how many entries now (one short lock)",
    ),
    (
        "x[key], x.key, x[i]",
        "one entry, converted when read; () when absent; x[-1] is a list's last",
    ),
    (
        "x[key].field",
        "converts only that field of a struct or map entry",
    ),
    ("key in x, x.contains(key)", "membership"),
    (
        "x.keys(), x.values()",
        "lazy walks; `for k in x` walks a map's keys, a list's values",
    ),
    (
        "x.take(n)",
        "the first n entries (a map for maps, else an array)",
    ),
    (
        "x.filter(f), x.map(f)",
        "f(key, value) for maps, f(item) otherwise; also on keys()/values()",
    ),
    (
        "p x",
        "a preview: the first 100 entries and the total count",
    ),
];

fn help_text(registry: &Registry) -> String {
    let mut text = String::new();
    let mut section = |title: &str, rows: Vec<(String, String)>| {
        if rows.is_empty() {
            return;
        }
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        text.push_str(title);
        text.push('\n');
        for (name, help) in rows {
            text.push_str(&format!("  {name:width$}  {help}\n"));
        }
    };
    section(
        "values (live, read-only):",
        registry
            .values
            .iter()
            .map(|(name, entry)| (name.clone(), with_redactions(registry, name, &entry.help)))
            .collect(),
    );
    let collections: Vec<&str> = registry
        .values
        .iter()
        .filter(|(_, entry)| entry.item.view().is_some())
        .map(|(name, _)| name.as_str())
        .collect();
    if !collections.is_empty() {
        section(
            &format!(
                "collections ({}): views, read a piece at a time",
                collections.join(", ")
            ),
            VIEW_METHODS
                .iter()
                .map(|(call, help)| (call.to_string(), help.to_string()))
                .collect(),
        );
    }
    section(
        "functions:",
        registry
            .functions
            .values()
            .map(|function| (function.signature(), function.description.clone()))
            .collect(),
    );
    section(
        "built-ins:",
        all_builtins()
            .map(|(name, help)| (name.to_string(), help.to_string()))
            .collect(),
    );
    text.push_str(
        "language: Rhai (https://rhai.rs/book); `let x = 1` persists for the session; \
         `eval` is off (run the code directly)",
    );
    text
}

/// A value's help line, naming its redacted parts.
fn with_redactions(registry: &Registry, name: &str, help: &str) -> String {
    let parts: Vec<String> = registry
        .redactions
        .iter()
        .filter(|path| path.value == name)
        .map(|path| match path.keys_text() {
            keys if keys.is_empty() => "all of it".to_owned(),
            keys => keys,
        })
        .collect();
    if parts.is_empty() {
        help.to_owned()
    } else {
        format!("{help} (redacted: {})", parts.join(", "))
    }
}

/// `/proc/self/comm`: the name `ps` shows.
pub(crate) fn process_name() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .map(|name| name.trim_end().to_owned())
        .unwrap_or_default()
}
