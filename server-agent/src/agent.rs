//! `Agent::builder()...install()`: registration, signal setup and the agent thread.
//!
//! `install` does, in order: honour `ATTACH_AGENT=off`, refuse a second install in the
//! same process, install the doorbell handler (refusing to replace a host handler),
//! block the doorbell in the calling thread, open the rendezvous directories, and
//! start the one agent thread, which announces itself (with its own tid, the thread
//! clients ring). The agent thread sleeps in `poll` on the self-pipe and uses no CPU
//! until the doorbell rings; it runs until the process exits (no error or idle period
//! ends it).

use std::os::fd::OwnedFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attach_protocol::framing::wait_for;
use attach_protocol::{AgentMarker, FifoPaths, WireError, AGENT_THREAD_NAME};
use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::signal::Signal;
use serde::Serialize;
use tracing::Level;

use crate::error::AgentError;
use crate::eval::Evaluator;
use crate::limits::Limits;
use crate::quiet_panic;
use crate::rendezvous::Rendezvous;
use crate::session::{answer_doorbell, AgentContext};
use crate::signal::choice::DoorbellSignal;
use crate::signal::doorbell::{self, Doorbell};
use crate::state::function::{Function, HostFunction};
use crate::state::live::{Getter, IntoLive};
use crate::state::registry::Registry;

/// The pid that installed the agent (0: none). A forked child has another pid and
/// may install its own agent.
static INSTALLED_IN: Mutex<u32> = Mutex::new(0);

/// Handle to the installed agent. Dropping it does not stop the agent.
#[derive(Debug)]
pub struct Agent {
    enabled: bool,
}

impl Agent {
    /// The environment variable that keeps the agent out of a process: set it to
    /// `off`, `0`, `false` or `no`.
    pub const DISABLE_ENV: &'static str = "ATTACH_AGENT";

    /// Starts describing an agent: register values and functions, then `install`.
    pub fn builder() -> AgentBuilder {
        AgentBuilder {
            signal: DoorbellSignal::USR1,
            limits: Limits::default(),
            registry: Registry::new(crate::builtins::is_builtin),
            command_audit: Level::DEBUG,
        }
    }

    /// Installs an agent with nothing registered but the built-ins.
    pub fn install() -> Result<Agent, AgentError> {
        Agent::builder().install()
    }

    /// False when `ATTACH_AGENT=off` kept the agent out of this process.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Lets `runtime()` report on this tokio runtime. Call it once, after building the
    /// runtime (and after `install`, which must come first).
    #[cfg(feature = "tokio")]
    pub fn watch_runtime(&self, handle: tokio::runtime::Handle) {
        crate::builtins::runtime::watch(handle);
    }
}

/// Collects what the host exposes; see `Agent::builder`.
pub struct AgentBuilder {
    signal: DoorbellSignal,
    limits: Limits,
    registry: Registry,
    command_audit: Level,
}

impl AgentBuilder {
    /// Registered functions accept up to this many arguments.
    pub const MAX_ARITY: usize = crate::state::function::MAX_ARITY;

    /// The doorbell signal (default SIGUSR1), for hosts that already use SIGUSR1.
    pub fn signal(mut self, signal: DoorbellSignal) -> Self {
        self.signal = signal;
        self
    }

    /// Replaces the default evaluation and session limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Registers a live value, read on every access: an `Arc` of an atomic, of a
    /// `Mutex`/`RwLock` (std, or tokio with the `tokio` feature) holding a collection or
    /// any [`Inspect`](crate::Inspect) type, `Arc<T>` of immutable data, `ArcSwap` and
    /// `DashMap` (features `arc-swap`, `dashmap`), or any [`Live`](crate::Live) type of yours.
    /// Collections reach scripts as views: `len()`, `x[key]` and walks touch only what
    /// they need and hold the lock for one short chunk at a time.
    pub fn live<M>(mut self, name: &str, help: &str, value: impl IntoLive<M>) -> Self {
        self.registry.add_value(name, help, value.into_live());
        self
    }

    /// Registers a getter called on every read. It must be quick and must not block.
    pub fn value<T, F>(mut self, name: &str, help: &str, getter: F) -> Self
    where
        T: Serialize + 'static,
        F: Fn() -> T + Send + Sync + 'static,
    {
        self.registry
            .add_value(name, help, Arc::new(Getter(getter)));
        self
    }

    /// Keeps a secret out of every script, reply and log: `"config.db_password"`
    /// redacts one key of the registered value `config` (in every element, for
    /// lists), `"api_token"` a whole value. It reads as `"[redacted]"`.
    pub fn redact(mut self, path: &str) -> Self {
        self.registry.add_redaction(path);
        self
    }

    /// Adds `key: value` to the build information `version()` shows (a git
    /// revision, a build date...).
    pub fn build_info(mut self, key: &str, value: &str) -> Self {
        self.registry
            .build_info
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// Registers a function scripts may call: a closure of 0 to 6 typed
    /// arguments returning `Result<T, E>` (see [`HostFunction`]). This is the only way
    /// scripts can change host state. Start `help` with the call (`"evict(key): drop
    /// one entry"`) and `help()` shows `evict(key: String)`; a script calling it with
    /// the wrong number or types of arguments gets an error and the closure never runs.
    /// It runs on the agent thread, which cannot interrupt it: keep it quick (its time
    /// counts against the command's limit and is logged in the audit record).
    pub fn function<Args, F: HostFunction<Args>>(
        mut self,
        name: &str,
        help: &str,
        function: F,
    ) -> Self {
        self.registry
            .add_function(name, Function::new(name, help, function));
        self
    }

    /// Lets sessions read and change the host's log filter with `log_level()` /
    /// `log_level("debug")`. Hand over the handle of the `EnvFilter` the host's
    /// subscriber was built with:
    ///
    /// ```
    /// use tracing_subscriber::{prelude::*, reload, EnvFilter};
    ///
    /// let (filter, handle) = reload::Layer::new(EnvFilter::new("warn"));
    /// tracing_subscriber::registry().with(filter).init();
    /// let builder = server_agent::Agent::builder().log_filter(handle);
    /// ```
    pub fn log_filter<S: 'static>(
        mut self,
        handle: tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, S>,
    ) -> Self {
        self.registry.log_filter = Some(Arc::new(handle));
        self
    }

    /// The level of the audit record written for each command (target
    /// `attach::audit`; default DEBUG). Session open and close are always INFO.
    pub fn audit_commands(mut self, level: Level) -> Self {
        self.command_audit = level;
        self
    }

    /// Installs the doorbell and starts the agent thread.
    pub fn install(mut self) -> Result<Agent, AgentError> {
        if let Some(problem) = self.registry.first_problem() {
            return Err(problem);
        }
        if disabled_by_environment() {
            tracing::info!(
                target: "attach::agent",
                "{} is off: the attach agent is not installed",
                Agent::DISABLE_ENV
            );
            return Ok(Agent { enabled: false });
        }
        let mut installed_in = INSTALLED_IN
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let pid = std::process::id();
        if *installed_in == pid {
            return Err(AgentError::AlreadyInstalled);
        }
        if !attach_protocol::is_doorbell(self.signal.number()) {
            return Err(AgentError::NotADoorbell(self.signal));
        }
        let bell = doorbell::install(self.signal)?;
        doorbell::block_in_this_thread();
        warn_about_exposed_threads(
            self.signal.as_nix(),
            crate::signal::exposure::SETTLE_AT_INSTALL,
        );
        quiet_panic::install_hook_once();
        let rendezvous = Rendezvous::prepare(pid);
        let private_dir = rendezvous.private.as_ref().map(|(_, path)| path.clone());
        let ctx = AgentContext {
            paths: FifoPaths::for_pid(pid),
            rendezvous,
            limits: self.limits,
            process_name: crate::builtins::process_name(),
            sessions: 0,
            command_audit: self.command_audit,
        };
        let registry = self.registry;
        let signal = self.signal;
        let (announced, announcement) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(AGENT_THREAD_NAME.into())
            .stack_size(16 * 1024 * 1024)
            .spawn(move || {
                // Held for the life of the agent: closing it would end the announcement.
                // Without one no client can find the agent, but the thread still owns
                // the self-pipe the installed handler writes to, so it stays.
                let (_announcement, outcome) = match announce(signal, private_dir) {
                    Ok(fd) => (Some(fd), Ok(())),
                    Err(err) => (None, Err(err)),
                };
                let _ = announced.send(outcome);
                run(bell, ctx, registry)
            })
            .map_err(AgentError::Thread)?;
        *installed_in = pid;
        announcement.recv().unwrap_or_else(|_| {
            Err(AgentError::Thread(std::io::Error::other(
                "it ended before announcing itself; the worker runs on without an agent \
                     (install again to retry)",
            )))
        })?;
        tracing::debug!(target: "attach::agent", signal = %self.signal, "attach agent installed");
        Ok(Agent { enabled: true })
    }
}

/// Names the threads the doorbell can still reach, in a kept warning.
fn warn_about_exposed_threads(signal: Signal, settle: Duration) {
    if let Some(warning) = crate::signal::exposure::new_warning(signal, settle) {
        crate::logging::warn(warning);
    }
}

/// The memfd whose name tells `attach --list` that an agent runs here (see
/// `attach_protocol::marker`). Called on the agent thread: it announces its own tid.
fn announce(signal: DoorbellSignal, dir: Option<String>) -> Result<OwnedFd, AgentError> {
    let marker = AgentMarker {
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol: attach_protocol::PROTOCOL_VERSION,
        signal: signal.number(),
        tid: nix::unistd::gettid().as_raw() as u32,
        dir,
    };
    memfd_create(marker.to_string().as_str(), MFdFlags::MFD_CLOEXEC).map_err(AgentError::setup)
}

fn disabled_by_environment() -> bool {
    std::env::var(Agent::DISABLE_ENV)
        .map(|value| {
            matches!(
                value.to_ascii_lowercase().as_str(),
                "off" | "0" | "false" | "no"
            )
        })
        .unwrap_or(false)
}

/// How long one wait for the doorbell lasts before it is simply started again.
const WAIT_ROUND: Duration = Duration::from_secs(3600);

/// The pause after a failed wait, so a persistent failure cannot spin.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// The agent thread: sleep until the doorbell rings, then answer it. Nothing here
/// ends the loop: an idle hour, a failed wait or a panicking session are followed by
/// the next wait.
fn run(bell: Doorbell, mut ctx: AgentContext, registry: Registry) {
    doorbell::mask_for_agent_thread();
    quiet_panic::mark_agent_thread();
    let mut evaluator: Option<Evaluator> = None;
    loop {
        match wait_for(bell.read, PollFlags::POLLIN, Instant::now() + WAIT_ROUND) {
            Ok(()) => {}
            Err(WireError::Timeout) => continue,
            Err(err) => {
                tracing::warn!(target: "attach::agent", %err, "doorbell wait failed; waiting again");
                std::thread::sleep(RETRY_PAUSE);
                continue;
            }
        }
        drain(&bell);
        crate::logging::reemit_unlogged();
        if crate::signal::exposure::any_warned() {
            warn_about_exposed_threads(doorbell::doorbell_signal(), Duration::ZERO);
        }
        let baseline = crate::budget::Baseline::now();
        let served = catch_unwind(AssertUnwindSafe(|| {
            let evaluator = evaluator
                .get_or_insert_with(|| Evaluator::new(&registry, &ctx.limits, &ctx.process_name));
            answer_doorbell(&mut ctx, evaluator);
        }));
        if served.is_err() {
            tracing::error!(
                target: "attach::agent",
                "a session panicked; it was closed and the agent goes on"
            );
        }
        let given = crate::budget::give_back_memory(baseline);
        let grown_kib = given.grown / 1024;
        match given.trim {
            Some(took) => {
                tracing::debug!(target: "attach::agent", grown_kib, trim_us = took.as_micros() as u64, "after the session: its memory went back to the system")
            }
            None => {
                tracing::debug!(target: "attach::agent", grown_kib, "after the session: the worker did not grow, nothing to give back")
            }
        }
    }
}

/// Empties the self-pipe: any number of rings mean one look at the FIFO.
fn drain(bell: &Doorbell) {
    let mut sink = [0u8; 256];
    loop {
        match nix::unistd::read(bell.read, &mut sink) {
            Ok(n) if n == sink.len() => continue,
            Err(Errno::EINTR) => continue,
            _ => return,
        }
    }
}
