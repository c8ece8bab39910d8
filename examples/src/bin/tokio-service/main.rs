//! `tokio-service`: the service a newcomer writes, with the agent embedded the way
//! the README shows.
//!
//! * `#[tokio::main]`: the runtime exists before `main` runs, so its worker threads
//!   do not block the doorbell; the agent names them in a warning (kept for
//!   `help()`). The split-`main` pattern in `axum-worker` avoids that.
//! * An `Arc<Config>` with a secret (redacted) and a `tokio::sync::RwLock` map of
//!   items, registered with `.value` getters that never wait for a lock.
//! * Typed functions: `evict(key)`, `put_item(key, item)`, `restock(key, add, dry_run)`.
//! * `InFlightLayer` labels requests with the matched route (`PUT /items/{id}`), never
//!   the raw path, and keeps per-route latency for `inflight_stats()`.
//! * Logs at WARN unless `RUST_LOG` says otherwise; `log_level("debug")` works in a
//!   session. `--log-after-agent` sets logging up after the agent, to show that its
//!   early warnings are logged later instead of lost.
//!
//! Prints `listening on <ADDR>` as its first stdout line; SIGTERM drains and exits 0.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::Router;
use clap::Parser;
use serde::{Deserialize, Serialize};
use server_agent::{Agent, AgentBuilder, InFlightLayer};
use tokio::sync::RwLock;

#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Set up logging after installing the agent.
    #[arg(long)]
    log_after_agent: bool,
}

#[derive(Debug, Clone, Serialize)]
struct Config {
    greeting: String,
    api_token: String,
    max_items: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    name: String,
    qty: u32,
}

type Items = Arc<RwLock<HashMap<String, Item>>>;

#[derive(Clone)]
struct AppState {
    config: Arc<Config>,
    items: Items,
}

const STORE_BUSY: &str = "the item store is locked by a request; try again";

/// Registers the service's state and functions.
fn expose(builder: AgentBuilder, state: &AppState) -> AgentBuilder {
    let (config, items) = (state.config.clone(), state.items.clone());
    let (evicting, putting, restocking) = (items.clone(), items.clone(), items.clone());
    builder
        .live("config", "the service configuration", config)
        .redact("config.api_token")
        .live("items", "the item store, read as a view", items)
        .function(
            "evict",
            "evict(key): drop one entry; returns it",
            move |key: String| {
                let mut items = evicting.try_write().map_err(|_| STORE_BUSY)?;
                Ok::<_, &str>(items.remove(&key))
            },
        )
        .function(
            "put_item",
            "put_item(key, item): add or replace an entry ({name, qty})",
            move |key: String, item: Item| {
                let mut items = putting.try_write().map_err(|_| STORE_BUSY)?;
                Ok::<_, &str>(items.insert(key, item))
            },
        )
        .function(
            "restock",
            "restock(key, add, dry_run): add to an entry's quantity; returns the new one",
            move |key: String, add: u32, dry_run: bool| {
                let mut items = restocking.try_write().map_err(|_| STORE_BUSY)?;
                let item = items.get_mut(&key).ok_or(format!("no item {key:?}"))?;
                let qty = item.qty.checked_add(add).ok_or("quantity overflow")?;
                if !dry_run {
                    item.qty = qty;
                }
                Ok::<_, String>(qty)
            },
        )
}

#[tokio::main(worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let log_filter = (!args.log_after_agent).then(attach_examples::startup::init_logging);
    let state = AppState {
        config: Arc::new(Config {
            greeting: "hello from tokio-service".into(),
            api_token: "tok-secret-never-shown".into(),
            max_items: 1000,
        }),
        items: Arc::default(),
    };
    let mut builder = expose(Agent::builder(), &state);
    if let Some(handle) = log_filter {
        builder = builder.log_filter(handle);
    }
    let agent = builder.install()?;
    agent.watch_runtime(tokio::runtime::Handle::current());
    if args.log_after_agent {
        attach_examples::startup::init_logging();
    }
    serve(&args.listen, state).await
}

async fn serve(listen: &str, state: AppState) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/", get(root))
        .route("/items/{id}", get(get_item).put(put_item))
        .layer(InFlightLayer::new())
        .with_state(state);
    attach_examples::axum_serve::serve_until_sigterm(listen, app).await
}

async fn root(State(state): State<AppState>) -> String {
    format!("{}\n", state.config.greeting)
}

#[derive(Deserialize)]
struct Delay {
    delay_ms: Option<u64>,
}

async fn get_item(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(delay): Query<Delay>,
) -> String {
    let ms = delay.delay_ms.unwrap_or(0).min(10_000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    match state.items.read().await.get(&id) {
        Some(item) => format!("{} x{}\n", item.name, item.qty),
        None => "no such item\n".into(),
    }
}

async fn put_item(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(item): Query<Item>,
) -> String {
    let mut items = state.items.write().await;
    if items.len() >= state.config.max_items && !items.contains_key(&id) {
        return "the store is full\n".into();
    }
    items.insert(id, item);
    "stored\n".into()
}
