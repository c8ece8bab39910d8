//! What the worker knows about itself, and how it is exposed to `attach`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use attach_examples::startup::LogFilterHandle;
use server_agent::{requests_in_flight, Agent, AgentBuilder};

/// Shared by the acceptor, the pool threads and the agent.
#[derive(Clone)]
pub struct State {
    pub requests_served: Arc<AtomicU64>,
    pub eintr_seen: Arc<AtomicU64>,
    pub paths: Arc<Mutex<BTreeMap<String, u64>>>,
    pub config: Arc<Mutex<BTreeMap<String, String>>>,
    pub draining: Arc<AtomicBool>,
    pub started_at: u64,
}

impl State {
    /// `settings` (from `--config`) override the defaults.
    pub fn new(threads: usize, settings: BTreeMap<String, String>) -> State {
        let mut config = BTreeMap::from([
            ("greeting".to_owned(), "hello".to_owned()),
            ("threads".to_owned(), threads.to_string()),
        ]);
        config.extend(settings);
        State {
            requests_served: Arc::default(),
            eintr_seen: Arc::default(),
            paths: Arc::default(),
            config: Arc::new(Mutex::new(config)),
            draining: Arc::default(),
            started_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    /// Counts a finished request for `path`.
    pub fn record(&self, path: &str) {
        if let Ok(mut paths) = self.paths.lock() {
            *paths.entry(path.to_owned()).or_default() += 1;
        }
        self.requests_served.fetch_add(1, Ordering::Relaxed);
    }

    pub fn greeting(&self) -> String {
        self.config
            .lock()
            .ok()
            .and_then(|config| config.get("greeting").cloned())
            .unwrap_or_default()
    }

    /// Registers everything worth inspecting with the agent builder.
    pub fn expose(&self, builder: AgentBuilder) -> AgentBuilder {
        let config = self.config.clone();
        let started_at = self.started_at;
        let draining = self.draining.clone();
        builder
            .build_info("example", "http-worker")
            .build_info(
                "profile",
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                },
            )
            .live(
                "requests_served",
                "requests answered since start",
                self.requests_served.clone(),
            )
            .live(
                "eintr_seen",
                "EINTR seen by request code (should stay 0)",
                self.eintr_seen.clone(),
            )
            .live("paths", "requests per path", self.paths.clone())
            .live("config", "the configuration map", self.config.clone())
            .value(
                "in_flight",
                "requests being handled right now",
                requests_in_flight,
            )
            .value("started_at", "unix time the worker started", move || {
                started_at
            })
            .value(
                "draining",
                "true once SIGTERM asked the worker to stop",
                move || draining.load(Ordering::Relaxed),
            )
            .function(
                "set_config",
                "set_config(key, value): change one config entry; returns the old value",
                move |key: String, value: String| {
                    let mut config = config.lock().map_err(|_| "config lock poisoned")?;
                    Ok::<_, &str>(config.insert(key, value))
                },
            )
    }
}

/// Installs the agent with the worker's state registered.
/// `log_filter` lets sessions change the log level (`log_level("debug")`).
pub fn install_agent(state: &State, log_filter: LogFilterHandle) -> anyhow::Result<Agent> {
    Ok(state
        .expose(Agent::builder().log_filter(log_filter))
        .install()?)
}
