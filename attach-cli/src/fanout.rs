//! `attach --all NAME -e EXPR`: one expression on many workers at once.
//!
//! Each process gets its own one-shot session on its own thread, bounded by the
//! per-process timeout, so a dead or busy worker becomes an error row, never a hang.

use attach_cli::{ConnectError, ConnectOptions, Outcome, Session};

use crate::discover::AgentProcess;

/// What one process answered.
pub struct Answer {
    pub process: AgentProcess,
    pub result: Result<Outcome, ConnectError>,
}

/// Runs `code` in every process, in parallel; answers come back in the given order.
pub fn run_all(processes: Vec<AgentProcess>, code: &str, options: &ConnectOptions) -> Vec<Answer> {
    std::thread::scope(|scope| {
        let running: Vec<_> = processes
            .into_iter()
            .map(|process| {
                scope.spawn(move || {
                    let result = Session::one_shot(process.pid, options, code);
                    Answer { process, result }
                })
            })
            .collect();
        running
            .into_iter()
            .map(|thread| thread.join().expect("a fan-out thread panicked"))
            .collect()
    })
}
