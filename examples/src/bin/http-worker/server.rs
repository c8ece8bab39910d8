//! Accept loop and worker pool.
//!
//! Graceful shutdown follows the seed on graceful termination: on SIGTERM the
//! listener is closed *first*, so the kernel stops completing handshakes for us and
//! new clients get a refusal instead of being accepted and dropped; then every
//! connection already accepted is served to the end of its current request.

use std::io::{BufReader, BufWriter};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use attach_examples::http::{read_request, write_response, Request};
use attach_examples::signals::SignalEvents;
use attach_examples::sleep::sleep_counting_eintr;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use server_agent::RequestGuard;

use crate::state::State;

/// Longest `/sleep` a client may ask for.
const MAX_SLEEP_MS: u64 = 10_000;

/// Serves until SIGTERM or SIGINT, then drains and returns.
pub fn serve(
    listener: TcpListener,
    threads: usize,
    state: &State,
    events: &SignalEvents,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let (sender, receiver) = mpsc::channel::<TcpStream>();
    let receiver = Arc::new(Mutex::new(receiver));
    let pool: Vec<JoinHandle<()>> = (0..threads)
        .map(|index| {
            let receiver = receiver.clone();
            let state = state.clone();
            std::thread::Builder::new()
                .name(format!("http-{index}"))
                .spawn(move || work(&receiver, &state))
        })
        .collect::<Result<_, _>>()?;
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(events.fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
        if events
            .take()
            .iter()
            .any(|s| matches!(s, Signal::SIGTERM | Signal::SIGINT))
        {
            break;
        }
        loop {
            match listener.accept() {
                Ok((stream, _)) => sender.send(stream)?,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    break;
                }
            }
        }
    }
    state.draining.store(true, Ordering::Relaxed);
    drop(listener);
    drop(sender);
    for thread in pool {
        let _ = thread.join();
    }
    Ok(())
}

fn work(receiver: &Mutex<Receiver<TcpStream>>, state: &State) {
    loop {
        let next = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(stream) = next else { return };
        if let Err(err) = handle_connection(stream, state) {
            tracing::debug!(%err, "connection ended with an error");
        }
    }
}

fn handle_connection(stream: TcpStream, state: &State) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::new(stream);
    while let Some(request) = read_request(&mut reader)? {
        let _guard = RequestGuard::enter();
        let keep_alive = request.keep_alive && !state.draining.load(Ordering::Relaxed);
        let (status, content_type, body) = route(&request, state);
        state.record(&request.path);
        write_response(
            &mut writer,
            status,
            content_type,
            body.as_bytes(),
            keep_alive,
        )?;
        if !keep_alive {
            break;
        }
    }
    Ok(())
}

fn route(request: &Request, state: &State) -> (u16, &'static str, String) {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/") => (200, "text/plain", format!("{}\n", state.greeting())),
        ("GET", "/sleep") => {
            let ms = request
                .query_param("ms")
                .and_then(|ms| ms.parse::<u64>().ok())
                .unwrap_or(100);
            sleep_counting_eintr(
                Duration::from_millis(ms.min(MAX_SLEEP_MS)),
                &state.eintr_seen,
            );
            (200, "text/plain", format!("slept {ms} ms\n"))
        }
        ("GET", "/stats") => {
            let stats = serde_json::json!({
                "requests_served": state.requests_served.load(Ordering::Relaxed),
                "eintr_seen": state.eintr_seen.load(Ordering::Relaxed),
            });
            (200, "application/json", stats.to_string())
        }
        _ => (404, "text/plain", "not found\n".to_owned()),
    }
}
