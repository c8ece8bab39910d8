//! The master's bookkeeping: which workers run, which are draining, what to do on
//! each signal. Everything here runs on the main thread, in response to events the
//! signal handlers queued; nothing here runs inside a handler.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attach_examples::signals::SignalEvents;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::Serialize;
use server_agent::Agent;

/// How long workers told to quit fast may take before SIGKILL.
const FAST_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Settings {
    pub worker_binary: PathBuf,
    pub workers: usize,
    pub threads: usize,
    pub config: Option<PathBuf>,
    pub graceful_timeout: Duration,
}

/// One worker as `attach` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerInfo {
    pid: u32,
    generation: u64,
    state: &'static str,
}

/// What the master exposes to `attach`; updated by the main loop.
#[derive(Clone, Default)]
pub struct MasterView {
    workers: Arc<Mutex<Vec<WorkerInfo>>>,
    generation: Arc<AtomicU64>,
    respawns: Arc<AtomicU64>,
    shutting_down: Arc<AtomicBool>,
    config: Arc<Mutex<BTreeMap<String, String>>>,
}

impl MasterView {
    pub fn install_agent(&self) -> anyhow::Result<Agent> {
        Ok(Agent::builder()
            .live(
                "workers",
                "worker processes: pid, generation, state",
                self.workers.clone(),
            )
            .live(
                "generation",
                "bumped by every SIGHUP reload",
                self.generation.clone(),
            )
            .live(
                "respawns",
                "workers replaced after dying unexpectedly",
                self.respawns.clone(),
            )
            .live(
                "shutting_down",
                "true after SIGTERM, SIGINT or SIGQUIT",
                self.shutting_down.clone(),
            )
            .live(
                "config",
                "the config file as last loaded",
                self.config.clone(),
            )
            .install()?)
    }
}

struct Worker {
    generation: u64,
    /// Set once the worker was told to stop: when to give up and SIGKILL it.
    stop_by: Option<Instant>,
}

pub struct Arbiter {
    settings: Settings,
    listener: Option<TcpListener>,
    workers: BTreeMap<u32, Worker>,
    generation: u64,
    shutting_down: bool,
    view: MasterView,
}

impl Arbiter {
    pub fn new(
        settings: Settings,
        listener: TcpListener,
        view: MasterView,
    ) -> anyhow::Result<Arbiter> {
        // Workers inherit the listener across exec; nothing else of ours.
        fcntl(&listener, FcntlArg::F_SETFD(FdFlag::empty()))?;
        if let Some(path) = &settings.config {
            *view.config.lock().unwrap_or_else(|e| e.into_inner()) =
                attach_examples::config::load(path)?;
        }
        Ok(Arbiter {
            settings,
            listener: Some(listener),
            workers: BTreeMap::new(),
            generation: 1,
            shutting_down: false,
            view,
        })
    }

    /// Supervises until every worker is gone after a stop signal.
    pub fn run(&mut self, events: &SignalEvents) -> anyhow::Result<()> {
        self.view
            .generation
            .store(self.generation, Ordering::Relaxed);
        for _ in 0..self.settings.workers {
            self.spawn()?;
        }
        loop {
            self.publish();
            let mut fds = [PollFd::new(events.fd(), PollFlags::POLLIN)];
            match poll(&mut fds, self.next_timeout()) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(errno.into()),
            }
            for signal in events.take() {
                match signal {
                    Signal::SIGTERM => {
                        self.stop_all(Signal::SIGTERM, self.settings.graceful_timeout)
                    }
                    Signal::SIGINT | Signal::SIGQUIT => {
                        self.stop_all(Signal::SIGQUIT, FAST_TIMEOUT)
                    }
                    Signal::SIGHUP if !self.shutting_down => self.reload()?,
                    _ => {}
                }
            }
            self.reap()?;
            self.kill_overdue();
            if self.shutting_down && self.workers.is_empty() {
                tracing::info!("all workers are gone; master exits");
                return Ok(());
            }
        }
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let listener = self
            .listener
            .as_ref()
            .expect("spawning only while listening");
        let mut command = Command::new(&self.settings.worker_binary);
        command
            .arg("--listen-fd")
            .arg(listener.as_fd().as_raw_fd().to_string())
            .arg("--threads")
            .arg(self.settings.threads.to_string())
            .stdin(Stdio::null());
        if let Some(config) = &self.settings.config {
            command.arg("--config").arg(config);
        }
        let child = command.spawn()?;
        tracing::info!(
            pid = child.id(),
            generation = self.generation,
            "worker started"
        );
        self.workers.insert(
            child.id(),
            Worker {
                generation: self.generation,
                stop_by: None,
            },
        );
        Ok(())
    }

    /// SIGHUP: re-read the config, start a new generation, then drain the old one.
    fn reload(&mut self) -> anyhow::Result<()> {
        if let Some(path) = &self.settings.config {
            match attach_examples::config::load(path) {
                Ok(config) => *self.view.config.lock().unwrap_or_else(|e| e.into_inner()) = config,
                Err(err) => {
                    tracing::error!(%err, "reload refused: the old workers keep running");
                    return Ok(());
                }
            }
        }
        self.generation += 1;
        self.view
            .generation
            .store(self.generation, Ordering::Relaxed);
        for _ in 0..self.settings.workers {
            self.spawn()?;
        }
        let deadline = Instant::now() + self.settings.graceful_timeout;
        let current = self.generation;
        for (&pid, worker) in &mut self.workers {
            if worker.generation < current && worker.stop_by.is_none() {
                signal(pid, Signal::SIGTERM);
                worker.stop_by = Some(deadline);
            }
        }
        Ok(())
    }

    /// Closes the listener first, then tells every worker to stop with `how`.
    fn stop_all(&mut self, how: Signal, patience: Duration) {
        self.shutting_down = true;
        self.view.shutting_down.store(true, Ordering::Relaxed);
        self.listener = None;
        let deadline = Instant::now() + patience;
        for (&pid, worker) in &mut self.workers {
            signal(pid, how);
            worker.stop_by = Some(worker.stop_by.map_or(deadline, |by| by.min(deadline)));
        }
    }

    /// Collects every exited worker; replaces those that died unexpectedly.
    fn reap(&mut self) -> anyhow::Result<()> {
        loop {
            let status = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno.into()),
                Ok(status) => status,
            };
            let Some(pid) = status.pid().map(|pid| pid.as_raw() as u32) else {
                continue;
            };
            let Some(worker) = self.workers.remove(&pid) else {
                continue;
            };
            if worker.stop_by.is_none() && !self.shutting_down {
                tracing::warn!(pid, ?status, "worker died unexpectedly; starting a new one");
                self.view.respawns.fetch_add(1, Ordering::Relaxed);
                self.spawn()?;
            } else {
                tracing::info!(pid, ?status, "worker stopped");
            }
        }
    }

    fn kill_overdue(&mut self) {
        let now = Instant::now();
        for (&pid, worker) in &mut self.workers {
            if worker.stop_by.is_some_and(|by| by <= now) {
                tracing::warn!(pid, "worker did not stop in time; SIGKILL");
                signal(pid, Signal::SIGKILL);
                worker.stop_by = Some(now + Duration::from_secs(3600));
            }
        }
    }

    /// Sleep until the next signal, or the next stop deadline.
    fn next_timeout(&self) -> PollTimeout {
        let next = self
            .workers
            .values()
            .filter_map(|worker| worker.stop_by)
            .min();
        match next {
            None => PollTimeout::NONE,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now()) + Duration::from_millis(1);
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            }
        }
    }

    fn publish(&self) {
        let workers = self
            .workers
            .iter()
            .map(|(&pid, worker)| WorkerInfo {
                pid,
                generation: worker.generation,
                state: if worker.stop_by.is_some() {
                    "stopping"
                } else {
                    "running"
                },
            })
            .collect();
        *self.view.workers.lock().unwrap_or_else(|e| e.into_inner()) = workers;
    }
}

fn signal(pid: u32, signal: Signal) {
    if let Err(errno) = kill(Pid::from_raw(pid as i32), signal) {
        tracing::warn!(pid, ?signal, %errno, "could not signal a worker");
    }
}
