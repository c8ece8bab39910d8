//! A bounded loopback HTTP load for the tests: some clients open a connection per
//! request, others keep one alive (and reconnect when the server says `close`).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use attach_examples::http_client::{self, KeepAlive};

/// No client sends more than this many requests, whatever happens.
const MAX_REQUESTS_PER_CLIENT: usize = 5_000;

#[derive(Default)]
struct Counts {
    done: AtomicUsize,
    failed: AtomicUsize,
    refused: AtomicUsize,
}

/// What the load saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Answered with 200.
    pub done: usize,
    /// Any other answer, or an error on a connection the server had accepted.
    pub failed: usize,
    /// New connections refused (nobody listening).
    pub refused: usize,
}

pub struct Load {
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    no_new_connections: Arc<AtomicBool>,
    clients: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts `clients` clients cycling through `paths`.
    pub fn start(addr: SocketAddr, clients: usize, paths: &'static [&'static str]) -> Load {
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let no_new_connections = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|index| {
                let client = Client {
                    addr,
                    keep_alive: index % 2 == 1,
                    counts: counts.clone(),
                    stop: stop.clone(),
                    no_new_connections: no_new_connections.clone(),
                };
                std::thread::spawn(move || client.run(paths))
            })
            .collect();
        Load {
            counts,
            stop,
            no_new_connections,
            clients,
        }
    }

    /// From now on no client opens a connection; open keep-alive connections go on
    /// until the server closes them.
    pub fn stop_connecting(&self) {
        self.no_new_connections.store(true, Ordering::SeqCst);
    }

    /// Requests answered so far.
    pub fn done(&self) -> usize {
        self.counts.done.load(Ordering::Relaxed)
    }

    /// Waits until at least `n` requests were answered (bounded by `WAIT`).
    pub fn wait_for_done(&self, n: usize) {
        let deadline = std::time::Instant::now() + super::WAIT;
        while self.done() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "the load stalled at {}",
                self.done()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops every client and returns what they saw.
    pub fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients {
            client.join().expect("a load client panicked");
        }
        Outcome {
            done: self.counts.done.load(Ordering::Relaxed),
            failed: self.counts.failed.load(Ordering::Relaxed),
            refused: self.counts.refused.load(Ordering::Relaxed),
        }
    }
}

struct Client {
    addr: SocketAddr,
    keep_alive: bool,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    no_new_connections: Arc<AtomicBool>,
}

impl Client {
    fn run(self, paths: &[&str]) {
        let timeout = Duration::from_secs(10);
        let mut connection: Option<KeepAlive> = None;
        for n in 0..MAX_REQUESTS_PER_CLIENT {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let path = paths[n % paths.len()];
            let needs_connection = !self.keep_alive || connection.is_none();
            if needs_connection && self.no_new_connections.load(Ordering::SeqCst) {
                return;
            }
            let result = if self.keep_alive {
                let open = match connection.take() {
                    Some(open) => Ok(open),
                    None => KeepAlive::connect(self.addr, timeout),
                };
                open.and_then(|mut open| {
                    let response = open.get(path)?;
                    if !response.closes {
                        connection = Some(open);
                    }
                    Ok(response)
                })
            } else {
                http_client::get(self.addr, path, timeout)
            };
            let counter = match result {
                Ok(response) if response.status == 200 => &self.counts.done,
                Err(err) if needs_connection && err.kind() == ErrorKind::ConnectionRefused => {
                    &self.counts.refused
                }
                _ => &self.counts.failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}
