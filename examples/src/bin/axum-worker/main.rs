//! `axum-worker`: an async (tokio + axum) service with the attach agent embedded.
//!
//! Lessons shown (docs/LESSONS.md):
//! * The agent is installed *before* the tokio runtime is built, so every runtime
//!   worker and blocking-pool thread inherits SIGUSR1 blocked: the doorbell only ever
//!   reaches the agent thread. `--late-agent` does it the wrong way round, and the
//!   agent names the exposed runtime threads in a `tracing` warning.
//! * A request is a task, not a thread: `InFlightLayer` tracks each one for
//!   `inflight()` without touching any signal mask. `runtime()` shows the runtime.
//! * SIGTERM is graceful (graceful termination): stop accepting, let every
//!   in-flight request finish, exit 0. tokio's own signal handler only writes to a
//!   pipe, as async-signal safety asks.
//! * `/sleep` sleeps on the blocking pool with raw `nanosleep` and counts EINTR.
//!
//! Prints `listening on <ADDR>` as its first stdout line.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use attach_examples::sleep::sleep_counting_eintr;
use attach_examples::startup::LogFilterHandle;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::Router;
use clap::Parser;
use server_agent::{Agent, InFlightLayer};

/// An axum service you can `attach` to.
#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// tokio worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Install the agent after building the runtime (the mistake the agent warns about).
    #[arg(long)]
    late_agent: bool,
}

/// Shared by the handlers and the agent.
#[derive(Clone, Default)]
struct AppState {
    requests_served: Arc<AtomicU64>,
    eintr_seen: Arc<AtomicU64>,
    config: Arc<Mutex<BTreeMap<String, String>>>,
}

fn install_agent(state: &AppState, log_filter: LogFilterHandle) -> anyhow::Result<Agent> {
    Ok(Agent::builder()
        .log_filter(log_filter)
        .live(
            "requests_served",
            "requests answered since start",
            state.requests_served.clone(),
        )
        .live(
            "eintr_seen",
            "EINTR seen by blocking request code (should stay 0)",
            state.eintr_seen.clone(),
        )
        .live("config", "the configuration map", state.config.clone())
        .install()?)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let log_filter = attach_examples::startup::init_logging();
    let state = AppState::default();
    state
        .config
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert("greeting".into(), "hello from axum".into());
    // First the agent, then the runtime: runtime threads inherit SIGUSR1 blocked.
    let early = if args.late_agent {
        None
    } else {
        Some(install_agent(&state, log_filter.clone())?)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.max(1))
        .enable_all()
        .build()
        .context("cannot build the tokio runtime")?;
    let agent = match early {
        Some(agent) => agent,
        None => {
            // A real host that installs late has its runtime threads up by then.
            runtime.block_on(async {
                let busy: Vec<_> = (0..args.workers * 4)
                    .map(|_| tokio::spawn(tokio::task::yield_now()))
                    .collect();
                for task in busy {
                    let _ = task.await;
                }
            });
            install_agent(&state, log_filter)?
        }
    };
    agent.watch_runtime(runtime.handle().clone());
    runtime.block_on(serve(&args.listen, state))
}

async fn serve(listen: &str, state: AppState) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/", get(root))
        .route("/sleep", get(sleep))
        .layer(InFlightLayer::new())
        .with_state(state);
    attach_examples::axum_serve::serve_until_sigterm(listen, app).await
}

async fn root(State(state): State<AppState>) -> String {
    state.requests_served.fetch_add(1, Ordering::Relaxed);
    let config = state.config.lock().unwrap_or_else(|e| e.into_inner());
    format!("{}\n", config.get("greeting").map_or("", String::as_str))
}

async fn sleep(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> String {
    let ms = query
        .get("ms")
        .and_then(|ms| ms.parse::<u64>().ok())
        .unwrap_or(100)
        .min(10_000);
    let eintr = state.eintr_seen.clone();
    let slept = tokio::task::spawn_blocking(move || {
        sleep_counting_eintr(Duration::from_millis(ms), &eintr)
    })
    .await;
    state.requests_served.fetch_add(1, Ordering::Relaxed);
    match slept {
        Ok(()) => format!("slept {ms} ms\n"),
        Err(err) => format!("sleep failed: {err}\n"),
    }
}
