//! How the async examples serve an axum router: bind, announce the address as the
//! first stdout line, and on SIGTERM stop accepting and let every in-flight request
//! finish (the graceful termination lesson). tokio's own signal handler only writes
//! to a pipe, as async-signal-safety asks.

use anyhow::Context;
use axum::Router;
use tokio::signal::unix::{signal, SignalKind};

/// Serves `app` on `listen` until SIGTERM, then drains.
pub async fn serve_until_sigterm(listen: &str, app: Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    crate::startup::announce_listening(listener.local_addr()?)?;
    let mut terminate = signal(SignalKind::terminate())?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            terminate.recv().await;
        })
        .await?;
    Ok(())
}
