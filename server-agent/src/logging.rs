//! What the agent logs and how the host's log filter can be changed from a session.
//!
//! Warnings matter most at install time, which is often before the host has set up
//! its `tracing` subscriber, where they would vanish. So every agent warning is also
//! kept (a few, in memory): `help()` and `version()` show them, and the agent thread
//! logs again, at the next doorbell, those raised while no subscriber existed.
//! With a `tracing_subscriber` reload handle from the host, `log_level("debug")`
//! changes the host's filter at run time. Nothing here writes to stdout/stderr.

use std::sync::{Arc, Mutex};

use tracing_subscriber::{reload, EnvFilter};

/// Warnings kept at most; later ones are only logged.
const KEPT_WARNINGS: usize = 16;

struct Kept {
    message: String,
    /// A subscriber existed when it was raised.
    logged: bool,
}

static WARNINGS: Mutex<Vec<Kept>> = Mutex::new(Vec::new());

fn kept() -> std::sync::MutexGuard<'static, Vec<Kept>> {
    WARNINGS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Logs an agent warning (target `attach::agent`) and keeps it for `help()`.
pub(crate) fn warn(message: String) {
    tracing::warn!(target: "attach::agent", "{message}");
    let mut warnings = kept();
    if warnings.len() < KEPT_WARNINGS {
        warnings.push(Kept {
            message,
            logged: tracing::dispatcher::has_been_set(),
        });
    }
}

/// Logs again the warnings raised before the host had a subscriber, once it has one.
pub(crate) fn reemit_unlogged() {
    if !tracing::dispatcher::has_been_set() {
        return;
    }
    for warning in kept().iter_mut().filter(|warning| !warning.logged) {
        warning.logged = true;
        tracing::warn!(target: "attach::agent", "{} (raised before a log subscriber existed)", warning.message);
    }
}

/// The agent's warnings so far, oldest first.
pub(crate) fn warnings() -> Vec<String> {
    kept()
        .iter()
        .map(|warning| warning.message.clone())
        .collect()
}

/// The host's log filter, as the agent may read and change it.
pub(crate) trait LogFilter: Send + Sync {
    fn current(&self) -> Result<String, String>;
    fn set(&self, directives: &str) -> Result<(), String>;
}

impl<S: 'static> LogFilter for reload::Handle<EnvFilter, S> {
    fn current(&self) -> Result<String, String> {
        self.with_current(ToString::to_string)
            .map_err(|err| format!("cannot read the log filter: {err}"))
    }

    fn set(&self, directives: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(directives).map_err(|err| {
            format!("{directives:?} is not a log filter ({err}); e.g. \"debug\" or \"warn,my_crate=debug\"")
        })?;
        self.reload(filter)
            .map_err(|err| format!("cannot change the log filter: {err}"))
    }
}

/// `log_level()`: the current filter, or why it cannot be known exactly.
pub(crate) fn level(filter: Option<&Arc<dyn LogFilter>>) -> Result<String, String> {
    match filter {
        Some(filter) => filter.current(),
        None => Ok(format!(
            "{} (the most verbose level enabled; the host gave the agent no reload handle, \
             so it cannot be changed from here: see the README, \"Logging\")",
            tracing::level_filters::LevelFilter::current()
        )),
    }
}

/// `log_level("debug")`: replaces the host's filter and returns the new one.
pub(crate) fn set_level(
    filter: Option<&Arc<dyn LogFilter>>,
    directives: &str,
) -> Result<String, String> {
    let filter = filter.ok_or(
        "the host gave the agent no reload handle, so the log level is fixed; \
         AgentBuilder::log_filter (README, \"Logging\") enables this",
    )?;
    let before = filter.current()?;
    filter.set(directives)?;
    let after = filter.current()?;
    tracing::info!(target: "attach::audit", from = %before, to = %after, "log filter changed");
    Ok(after)
}
