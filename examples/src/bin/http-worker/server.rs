//! Accept loop and worker pool.
//!
//! Graceful shutdown follows docs/LESSONS.md (graceful termination). On SIGTERM the
//! worker stops accepting, takes the connections the kernel already completed (they
//! sit in the backlog and their clients are waiting), and closes the listener, so
//! new clients get a refusal instead of being accepted and dropped. Then every
//! connection already accepted is served to the end of its current request; idle
//! keep-alive connections are closed after a second of silence. SIGINT and SIGQUIT
//! skip all of that.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use attach_examples::http::{read_request, write_response, Request};
use attach_examples::signals::SignalEvents;
use attach_examples::sleep::sleep_counting_eintr;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use server_agent::RequestGuard;

use crate::state::State;

/// Longest `/sleep` or `/spin` a client may ask for.
const MAX_SLEEP_MS: u64 = 10_000;

/// How long a keep-alive connection may wait for its next request.
const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(5);

/// How often an idle keep-alive connection checks whether the worker is draining.
const DRAIN_CHECK: Duration = Duration::from_millis(50);

/// While draining, a keep-alive connection idle this long is closed. Not at once: a
/// client may be sending its next request right now, and closing under it would fail
/// that request (the keep-alive race). One that does send gets `Connection: close`.
const DRAIN_IDLE: Duration = Duration::from_secs(1);

/// How the worker stopped.
pub enum Stop {
    /// SIGTERM: everything accepted was served.
    Drained,
    /// SIGINT or SIGQUIT: exit now.
    Fast,
}

/// Serves until a stop signal, then drains (SIGTERM) or returns at once. `ready` runs
/// once every pool thread has started (and so carries its name).
pub fn serve(
    listener: TcpListener,
    threads: usize,
    state: &State,
    events: &SignalEvents,
    ready: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<Stop> {
    listener.set_nonblocking(true)?;
    let (sender, receiver) = mpsc::channel::<TcpStream>();
    let receiver = Arc::new(Mutex::new(receiver));
    let started = Arc::new(Barrier::new(threads + 1));
    let pool: Vec<JoinHandle<()>> = (0..threads)
        .map(|index| {
            let receiver = receiver.clone();
            let state = state.clone();
            let started = started.clone();
            std::thread::Builder::new()
                .name(format!("http-{index}"))
                .spawn(move || {
                    started.wait();
                    work(&receiver, &state)
                })
        })
        .collect::<Result<_, _>>()?;
    started.wait();
    ready()?;
    let stop = loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(events.fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
        let signals = events.take();
        if signals
            .iter()
            .any(|s| matches!(s, Signal::SIGINT | Signal::SIGQUIT))
        {
            break Stop::Fast;
        }
        if signals.contains(&Signal::SIGTERM) {
            break Stop::Drained;
        }
        accept_pending(&listener, &sender)?;
    };
    if let Stop::Fast = stop {
        return Ok(stop);
    }
    state.draining.store(true, Ordering::Relaxed);
    accept_pending(&listener, &sender)?;
    drop(listener);
    drop(sender);
    for thread in pool {
        let _ = thread.join();
    }
    Ok(Stop::Drained)
}

/// Accepts every connection the kernel has completed, without blocking.
fn accept_pending(listener: &TcpListener, pool: &Sender<TcpStream>) -> anyhow::Result<()> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => pool.send(stream)?,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                return Ok(());
            }
        }
    }
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
    while next_request_arrives(&mut reader, state)? {
        let Some(request) = read_request(&mut reader)? else {
            break;
        };
        let mut label = [0u8; server_agent::RequestGuard::MAX_LABEL_BYTES];
        let _guard = RequestGuard::enter_labeled(request_label(&request, &mut label));
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

/// Waits for the first byte of the next request. False when the connection should
/// close: idle too long, or the worker is draining and the client stays silent.
fn next_request_arrives(reader: &mut BufReader<TcpStream>, state: &State) -> std::io::Result<bool> {
    if !reader.buffer().is_empty() {
        return Ok(true);
    }
    let idle_since = Instant::now();
    loop {
        let mut fds = [PollFd::new(reader.get_ref().as_fd(), PollFlags::POLLIN)];
        let slice = PollTimeout::try_from(DRAIN_CHECK).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, slice) {
            Ok(0) | Err(Errno::EINTR) => {}
            Ok(_) => return Ok(!reader.fill_buf()?.is_empty()),
            Err(errno) => return Err(errno.into()),
        }
        let idle = idle_since.elapsed();
        if idle > KEEP_ALIVE_IDLE || (idle > DRAIN_IDLE && state.draining.load(Ordering::Relaxed)) {
            return Ok(false);
        }
    }
}

/// `METHOD /path` in `buffer`, without allocating, for `inflight()`.
fn request_label<'a>(request: &Request, buffer: &'a mut [u8]) -> &'a str {
    let mut cursor = std::io::Cursor::new(&mut *buffer);
    // A full buffer cuts the label short, which is fine.
    let _ = write!(cursor, "{} {}", request.method, request.path);
    let written = cursor.position() as usize;
    match std::str::from_utf8(&buffer[..written]) {
        Ok(label) => label,
        Err(err) => std::str::from_utf8(&buffer[..err.valid_up_to()]).unwrap_or_default(),
    }
}

fn route(request: &Request, state: &State) -> (u16, &'static str, String) {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/") => (200, "text/plain", format!("{}\n", state.greeting())),
        ("GET", path) if path == "/sleep" || path.starts_with("/sleep/") => {
            let ms = millis(request);
            sleep_counting_eintr(Duration::from_millis(ms), &state.eintr_seen);
            (200, "text/plain", format!("slept {ms} ms\n"))
        }
        ("GET", "/spin") => {
            let ms = millis(request);
            let reads = spin_on_clock(Duration::from_millis(ms));
            (
                200,
                "text/plain",
                format!("spun {ms} ms, {reads} clock reads\n"),
            )
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

/// The `ms` a `/sleep` or `/spin` asks for: 100 unless given, at most `MAX_SLEEP_MS`.
fn millis(request: &Request) -> u64 {
    request
        .query_param("ms")
        .and_then(|ms| ms.parse::<u64>().ok())
        .unwrap_or(100)
        .min(MAX_SLEEP_MS)
}

/// Busy for `duration`, reading the clock all the while: a CPU-bound request, whose
/// thread is mostly inside the vDSO's `clock_gettime`. Returns the number of reads.
#[inline(never)]
fn spin_on_clock(duration: Duration) -> u64 {
    let started = Instant::now();
    let mut reads = 1;
    while started.elapsed() < duration {
        reads += 1;
    }
    reads
}
