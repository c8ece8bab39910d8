//! `cache-worker`: an in-memory cache of `--entries` entries behind one `Mutex`, with
//! a writer thread that updates a random entry every millisecond.
//!
//! Lessons shown:
//! * A large registered collection is read as a view: `cache.len()`, `cache["k42"]`,
//!   `cache.keys().take(1000)` and `for` loops hold the cache's lock for one short
//!   chunk at a time, so the host's writer barely notices an operator reading it.
//! * The host measures what it pays: the writer records the longest time it waited
//!   for the lock in `writer_max_wait_us`; `reset_writer_stats()` starts a new
//!   measurement (and returns the old maximum).
//! * With `--listen`, `GET /<key>` answers an entry as JSON and counts a hit.
//!
//! Prints `listening on <ADDR>` (or `ready` without `--listen`) as its first stdout line.

mod cache;

use std::io::{BufReader, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use clap::Parser;
use server_agent::{Agent, RequestGuard};

use crate::cache::Cache;

/// A cache you can `attach` to while it is being written.
#[derive(Parser, Debug)]
struct Args {
    /// Entries in the cache, keyed `k0` … `k{N-1}`.
    #[arg(long, default_value_t = 1000)]
    entries: usize,
    /// Serve `GET /<key>` on this address (port 0 picks a free port).
    #[arg(long)]
    listen: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    attach_examples::startup::init_logging();
    let cache = Arc::new(Cache::filled(args.entries));
    let reset = cache.clone();
    let _agent = Agent::builder()
        .live(
            "cache",
            "the cache: key -> {name, size_bytes, hits, updated_ms}",
            cache.entries.clone(),
        )
        .live(
            "writer_max_wait_us",
            "longest wait of the writer thread for the cache lock, µs",
            cache.writer_max_wait_us.clone(),
        )
        .live(
            "writer_writes",
            "updates the writer thread made",
            cache.writer_writes.clone(),
        )
        .function(
            "reset_writer_stats",
            "reset_writer_stats(): restart the writer's wait measurement; returns the old maximum",
            move || Ok::<_, String>(reset.reset_writer_stats()),
        )
        .install()?;
    cache.clone().start_writer();
    match args.listen {
        Some(addr) => serve(&TcpListener::bind(addr)?, &cache),
        None => {
            let mut stdout = std::io::stdout();
            writeln!(stdout, "ready")?;
            stdout.flush()?;
            loop {
                std::thread::park();
            }
        }
    }
}

fn serve(listener: &TcpListener, cache: &Arc<Cache>) -> anyhow::Result<()> {
    attach_examples::startup::announce_listening(listener.local_addr()?)?;
    for stream in listener.incoming().flatten() {
        let cache = cache.clone();
        std::thread::spawn(move || answer(stream, &cache));
    }
    Ok(())
}

/// Serves one keep-alive connection.
fn answer(stream: TcpStream, cache: &Cache) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = BufWriter::new(stream);
    while let Ok(Some(request)) = attach_examples::http::read_request(&mut reader) {
        let _guard = RequestGuard::enter();
        let key = request.path.trim_start_matches('/');
        let (status, body) = match cache.hit(key) {
            Some(entry) => (200, entry),
            None => (404, format!("no entry {key}\n")),
        };
        let written = attach_examples::http::write_response(
            &mut writer,
            status,
            "application/json",
            body.as_bytes(),
            request.keep_alive,
        );
        if written.is_err() || !request.keep_alive {
            return;
        }
    }
}
