//! The worker loop: take a job, run it in a child, wait for it through EINTR, file it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attach_examples::signals::SignalEvents;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use server_agent::Agent;

use crate::queue::Queue;

/// Where the worker is on its way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    Running,
    /// Finish the current job, start no other.
    Warm,
    /// Kill the current job now.
    Cold,
}

impl Shutdown {
    fn name(self) -> &'static str {
        match self {
            Shutdown::Running => "running",
            Shutdown::Warm => "warm shutdown",
            Shutdown::Cold => "cold shutdown",
        }
    }
}

/// The job being run, for `attach`.
struct Current {
    job: String,
    child_pid: u32,
    started: Instant,
}

/// Counters and the current job, shared with the agent.
#[derive(Clone, Default)]
struct Shared {
    current: Arc<Mutex<Option<Current>>>,
    done: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    eintr_retries: Arc<AtomicU64>,
    shutdown: Arc<Mutex<&'static str>>,
}

pub struct Worker {
    queue: Queue,
    poll: Duration,
    events: SignalEvents,
    shutdown: Shutdown,
    shared: Shared,
    _agent: Agent,
}

impl Worker {
    /// Installs the agent (first, so later threads inherit the doorbell block) and
    /// the stop signals without SA_RESTART.
    pub fn start(queue: Queue, poll: Duration) -> anyhow::Result<Worker> {
        let shared = Shared::default();
        *shared.shutdown.lock().unwrap_or_else(|e| e.into_inner()) = Shutdown::Running.name();
        let current = shared.current.clone();
        let agent = Agent::builder()
            .value(
                "current_job",
                "the running job: name, child pid, ms so far",
                move || {
                    let current = current.lock().unwrap_or_else(|e| e.into_inner());
                    current.as_ref().map(|job| {
                        serde_json::json!({
                            "job": job.job,
                            "child_pid": job.child_pid,
                            "running_ms": job.started.elapsed().as_millis() as u64,
                        })
                    })
                },
            )
            .live("jobs_done", "jobs that succeeded", shared.done.clone())
            .live(
                "jobs_failed",
                "jobs that failed or were killed",
                shared.failed.clone(),
            )
            .live(
                "eintr_retries",
                "waitpid calls interrupted by a signal and retried",
                shared.eintr_retries.clone(),
            )
            .live(
                "shutdown",
                "running, warm shutdown or cold shutdown",
                shared.shutdown.clone(),
            )
            .install()?;
        let events =
            SignalEvents::install_interrupting(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])?;
        Ok(Worker {
            queue,
            poll,
            events,
            shutdown: Shutdown::Running,
            shared,
            _agent: agent,
        })
    }

    pub fn run(&mut self) -> anyhow::Result<()> {
        loop {
            self.take_signals();
            if self.shutdown != Shutdown::Running {
                tracing::info!(shutdown = self.shutdown.name(), "no new job; exiting");
                return Ok(());
            }
            match self.queue.take()? {
                Some(job) => self.perform(&job)?,
                None => self.idle(),
            }
        }
    }

    /// Sleeps until the next poll or a signal.
    fn idle(&self) {
        let mut fds = [PollFd::new(self.events.fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(self.poll).unwrap_or(PollTimeout::MAX);
        // EINTR or a timeout both just mean "look again".
        let _ = poll(&mut fds, timeout);
    }

    fn perform(&mut self, job: &Path) -> anyhow::Result<()> {
        let child = Command::new(std::env::current_exe()?)
            .arg("--run-job")
            .arg(job)
            .stdin(Stdio::null())
            .spawn()?;
        let pid = Pid::from_raw(child.id() as i32);
        let name = job_name(job);
        tracing::info!(job = %name, child = child.id(), "job started");
        *self
            .shared
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Current {
            job: name.clone(),
            child_pid: child.id(),
            started: Instant::now(),
        });
        let status = self.wait_through_signals(pid)?;
        *self
            .shared
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        let outcome = match status {
            WaitStatus::Exited(_, 0) => Ok(()),
            _ if self.shutdown == Shutdown::Cold => Err("killed by a cold shutdown".to_owned()),
            other => Err(format!("the job process ended with {other:?}")),
        };
        let counter = if outcome.is_ok() {
            &self.shared.done
        } else {
            &self.shared.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::info!(job = %name, ?outcome, "job finished");
        self.queue.finish(job, outcome)
    }

    /// `waitpid` until the child is gone. A signal makes it fail with EINTR: we act
    /// on what arrived (a second SIGTERM kills the child) and wait again.
    fn wait_through_signals(&mut self, pid: Pid) -> anyhow::Result<WaitStatus> {
        let mut killed = false;
        loop {
            self.take_signals();
            if self.shutdown == Shutdown::Cold && !killed {
                tracing::warn!(child = pid.as_raw(), "cold shutdown: killing the job");
                let _ = kill(pid, Signal::SIGKILL);
                killed = true;
            }
            match waitpid(pid, None) {
                Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                    return Ok(status)
                }
                Ok(_) => continue,
                Err(Errno::EINTR) => {
                    self.shared.eintr_retries.fetch_add(1, Ordering::Relaxed);
                }
                Err(errno) => return Err(errno.into()),
            }
        }
    }

    /// Applies the signals the handlers queued.
    fn take_signals(&mut self) {
        for signal in self.events.take() {
            if matches!(signal, Signal::SIGTERM | Signal::SIGINT) {
                self.shutdown = match self.shutdown {
                    Shutdown::Running => Shutdown::Warm,
                    _ => Shutdown::Cold,
                };
                tracing::info!(shutdown = self.shutdown.name(), "stop requested");
            }
        }
        *self
            .shared
            .shutdown
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = self.shutdown.name();
    }
}

fn job_name(job: &Path) -> String {
    job.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| PathBuf::from(job).display().to_string())
}
