//! `queue-worker`: RQ's fork-per-job worker in Rust.
//!
//! Lessons shown (docs/LESSONS.md: EINTR, retry the interrupted call):
//! * Each job runs in a child process (fork+exec of this binary with `--run-job`);
//!   the worker waits with a blocking `waitpid`.
//! * The stop signals are installed *without* SA_RESTART, so a signal interrupts
//!   that `waitpid` with EINTR. The worker looks at what arrived and calls `waitpid`
//!   again: the retry RQ's comment explains and PEP 475 made automatic in Python.
//!   `eintr_retries` counts them.
//! * SIGTERM (or SIGINT) once: warm shutdown, the current job finishes, no new job
//!   starts, exit 0. Twice: cold shutdown, the child is killed and the job is filed
//!   as failed, never lost. SIGHUP only interrupts the wait (and is counted).
//! * Handlers only write to a self-pipe; all of the above runs in the main loop.
//! * The agent shows the current job, its child pid and how long it has run.
//!
//! Prints `ready` as its first stdout line.
//!
//! A job is a file `<name>.job` in the queue directory holding `ok`, `fail` or
//! `sleep <ms>`.

mod queue;
mod worker;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;

/// Runs jobs from a directory, one child process per job.
#[derive(Parser, Debug)]
struct Args {
    /// The queue directory.
    #[arg(long, value_name = "DIR", required_unless_present = "run_job")]
    queue: Option<PathBuf>,
    /// How often an idle worker looks for new jobs.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    poll_ms: u64,
    /// Internal: run one job file in this process (the child's side).
    #[arg(long, value_name = "FILE", hide = true)]
    run_job: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(job) = args.run_job {
        return run_job(&job);
    }
    attach_examples::startup::init_logging();
    let queue = queue::Queue::open(args.queue.as_deref().expect("clap requires --queue"))?;
    let mut worker = worker::Worker::start(queue, Duration::from_millis(args.poll_ms))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    worker.run()
}

/// The child: do what the job file says.
fn run_job(job: &std::path::Path) -> anyhow::Result<()> {
    let spec = std::fs::read_to_string(job)?;
    let mut words = spec.split_whitespace();
    match (words.next(), words.next()) {
        (Some("ok"), _) => Ok(()),
        (Some("fail"), _) => bail!("the job asked to fail"),
        (Some("sleep"), Some(ms)) => {
            std::thread::sleep(Duration::from_millis(ms.parse()?));
            Ok(())
        }
        _ => bail!("unknown job {spec:?}: expected `ok`, `fail` or `sleep <ms>`"),
    }
}
