//! The budget of the command the agent thread is running: its deadline and the memory
//! it may use. Anything that can take long or build something big on a script's
//! behalf (a built-in, a registered function, a view, a conversion) asks here first.
//!
//! Why a thread-local: every caller runs on the agent thread, deep inside Rhai
//! callbacks that cannot carry extra arguments. The evaluator opens a budget with
//! `begin` for each command, `vars` and `complete` request; the returned guard closes
//! it. Outside a command nothing is limited except `deadline()`, which is never more
//! than `FALLBACK` away, so a stray call still cannot wait for long.
//!
//! How memory is counted. A `#[global_allocator]` would count exactly, but a library
//! must not choose its host's allocator, and glibc's statistics are process-wide (they
//! would blame the host's own allocations on the script). So the agent counts what it
//! knows it holds:
//! * `hold` reports what the script's own data weighs now: the evaluator walks its
//!   variables (strings, arrays, maps and their keys) and reports the total.
//! * `charge` adds memory the agent materialises for the script (a registered value
//!   or a view's chunk converted, a built-in's result, the reply). It counts until the
//!   script takes its next step (`settle`): by then the value is a temporary that
//!   Rhai's size limits bound, stored in a variable (which the walk weighs), or gone.
//!   So a loop that calls a built-in a million times is not charged a million
//!   results, and one call that materialises more than the budget stops while it does.
//! * `retain` adds memory kept until the reply (printed output); it is never settled.
//! * The worker's resident memory is the backstop for what neither sees, such as a
//!   native Rhai function collecting what a closure returns (`map`): read at most every
//!   `RESIDENT_EVERY`, it stops the command once the worker grew by more than the
//!   command's budget and `RESIDENT_SLACK` since the command began. It would also count
//!   the host's own growth during the command, which is why it is only the backstop
//!   and its message says so.
//!
//! The command may add `max_command` bytes to what the session kept when it started;
//! the session may hold `max_session` bytes at any moment. A budget that ran out stays
//! out until the command ends, so `try`/`catch` in a script cannot swallow it (the
//! error is Rhai's uncatchable `ErrorTerminated`).
//!
//! Never from here: allocation on the check path, or anything that blocks.

mod exceeded;
mod give_back;
mod resident;
mod units;
mod weight;

use std::cell::Cell;
use std::time::{Duration, Instant};

pub(crate) use exceeded::Exceeded;
pub(crate) use give_back::{give_back_memory, Baseline};
pub(crate) use units::Bytes;
pub(crate) use weight::{measure, variable_overhead, weigh, weigh_string, Weight};

/// How far `deadline()` lies when no command is running.
const FALLBACK: Duration = Duration::from_secs(1);

/// The shortest time between two reads of the worker's resident memory.
const RESIDENT_EVERY: Duration = Duration::from_micros(100);

/// A copy that costs less is within the resident slack: variables this small are
/// not watched for copies, and such a copy is charged without a look at the worker's
/// resident memory.
pub(crate) const BIG_COPY: usize = 64 * 1024;

/// How far past the command's budget the worker's resident memory may grow before the
/// backstop stops the command (allocator slack, the agent's own buffers).
const RESIDENT_SLACK: usize = 4 * 1024 * 1024;

/// What one command may spend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) timeout: Duration,
    pub(crate) max_command: usize,
    pub(crate) max_session: usize,
    /// Bytes the session held when the command started.
    pub(crate) kept: usize,
}

struct Active {
    plan: Plan,
    deadline: Instant,
    /// The worker's resident bytes when the command began, and when last read.
    resident_start: Option<usize>,
    resident_read_at: Instant,
    charged: usize,
    retained: usize,
    held: usize,
    tripped: Option<Exceeded>,
}

thread_local! {
    static CURRENT: Cell<Option<Active>> = const { Cell::new(None) };
}

/// Closes the command's budget when dropped.
pub(crate) struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(None));
    }
}

/// Opens the budget of a command that starts now.
pub(crate) fn begin(plan: Plan) -> Guard {
    let now = Instant::now();
    let active = Active {
        plan,
        deadline: now + plan.timeout,
        resident_start: resident::bytes(),
        resident_read_at: now,
        charged: 0,
        retained: 0,
        held: plan.kept,
        tripped: None,
    };
    CURRENT.with(|current| current.set(Some(active)));
    Guard(())
}

/// When the running command must stop (a short while from now outside a command).
pub(crate) fn deadline() -> Instant {
    with_active(|active| active.deadline).unwrap_or_else(|| Instant::now() + FALLBACK)
}

/// Fails once the command has run out of time or memory.
pub(crate) fn check() -> Result<(), Exceeded> {
    with_active(|active| active.verdict(true)).unwrap_or(Ok(()))
}

/// Counts `bytes` the agent materialises for the command; fails if that is past a
/// memory budget (or one ran out before). It does not look at the clock, so work that
/// is already done (a registered function's result, the reply) is not thrown away.
pub(crate) fn charge(bytes: usize) -> Result<(), Exceeded> {
    with_active(|active| {
        active.charged = active.charged.saturating_add(bytes);
        active.verdict(false)
    })
    .unwrap_or(Ok(()))
}

/// Counts a copy of `bytes` Rhai is about to make (a variable read by value) before it
/// is made: it must fit the command's memory budget, and so must the worker's resident
/// memory grown since the command began plus the copy (the copies of one expression
/// live in no variable, so only the resident memory sees them pile up).
pub(crate) fn copy(bytes: usize) -> Result<(), Exceeded> {
    with_active(|active| {
        active.charged = active.charged.saturating_add(bytes);
        active.verdict(false)?;
        if bytes < BIG_COPY {
            return Ok(());
        }
        active.tripped = active.resident_over(bytes);
        active.verdict(false)
    })
    .unwrap_or(Ok(()))
}

/// Bytes the command may still materialise before a memory budget runs out (all of
/// memory outside a command): what a conversion of host data checks before it starts.
pub(crate) fn room() -> usize {
    with_active(|active| {
        if active.tripped.is_some() {
            return 0;
        }
        let (command, session) = active.used();
        let plan = active.plan;
        plan.max_command
            .saturating_sub(command)
            .min(plan.max_session.saturating_sub(session))
    })
    .unwrap_or(usize::MAX)
}

/// Refuses a copy the budget cannot count (see `Exceeded::ThisCopy`); it stays refused
/// until the command ends.
pub(crate) fn refuse(exceeded: Exceeded) -> Result<(), Exceeded> {
    with_active(|active| {
        active.tripped.get_or_insert(exceeded);
        active.verdict(false)
    })
    .unwrap_or(Ok(()))
}

/// Counts `bytes` from inside a long loop that stops through `within`: once over
/// budget, the next check fails, so the result of this call is not needed here.
pub(crate) fn charge_lazily(bytes: usize) {
    let _over_budget_is_sticky = charge(bytes);
}

/// The items of `items` until the command runs out of time or memory: long
/// built-ins loop through this so they stop at the budget, not after it.
pub(crate) fn within<I: IntoIterator>(items: I) -> impl Iterator<Item = I::Item> {
    items.into_iter().take_while(|_| check().is_ok())
}

/// Counts `bytes` kept until the reply is sent (printed output).
pub(crate) fn retain(bytes: usize) {
    with_active(|active| active.retained = active.retained.saturating_add(bytes));
}

/// Reports what the script's data (including the session's variables) weighs now;
/// what was charged before is inside it or gone.
pub(crate) fn hold(bytes: usize) -> Result<(), Exceeded> {
    with_active(|active| {
        active.held = bytes;
        active.charged = 0;
        active.verdict(false)
    })
    .unwrap_or(Ok(()))
}

/// The script takes its next step: what was charged is a bounded temporary, stored
/// (and weighed at the next walk) or gone.
pub(crate) fn settle() {
    with_active(|active| active.charged = 0);
}

impl Active {
    /// The budget that ran out, if any; `clock` also looks at the time and at the
    /// worker's resident memory.
    fn verdict(&mut self, clock: bool) -> Result<(), Exceeded> {
        if self.tripped.is_none() {
            self.tripped = self.judge(clock);
        }
        self.tripped.map_or(Ok(()), Err)
    }

    /// Bytes counted against the command's budget and against the session's.
    fn used(&self) -> (usize, usize) {
        let plan = self.plan;
        let extra = self.charged.saturating_add(self.retained);
        (
            self.held.saturating_sub(plan.kept).saturating_add(extra),
            self.held.max(plan.kept).saturating_add(extra),
        )
    }

    /// `Exceeded::Resident` if the worker's resident memory, grown since the command
    /// began, plus `extra` bytes about to be allocated is past the command's budget.
    fn resident_over(&self, extra: usize) -> Option<Exceeded> {
        let grown = resident::bytes()?.saturating_sub(self.resident_start?);
        (grown.saturating_add(extra) > self.plan.max_command + RESIDENT_SLACK).then_some(
            Exceeded::Resident {
                limit: self.plan.max_command,
            },
        )
    }

    fn judge(&mut self, clock: bool) -> Option<Exceeded> {
        let plan = self.plan;
        let (command, session) = self.used();
        if command > plan.max_command {
            Some(Exceeded::Command {
                limit: plan.max_command,
            })
        } else if session > plan.max_session {
            Some(Exceeded::Session {
                limit: plan.max_session,
            })
        } else if clock {
            self.judge_clock()
        } else {
            None
        }
    }

    fn judge_clock(&mut self) -> Option<Exceeded> {
        let now = Instant::now();
        if now >= self.deadline {
            return Some(Exceeded::Time {
                timeout: self.plan.timeout,
            });
        }
        if now - self.resident_read_at < RESIDENT_EVERY {
            return None;
        }
        self.resident_read_at = now;
        self.resident_over(0)
    }
}

fn with_active<T>(f: impl FnOnce(&mut Active) -> T) -> Option<T> {
    CURRENT.with(|current| {
        let mut active = current.take()?;
        let result = f(&mut active);
        current.set(Some(active));
        Some(result)
    })
}

#[cfg(test)]
mod tests {
    use rhai::EvalAltResult;

    use super::units::Span;
    use super::*;

    fn plan(timeout_ms: u64) -> Plan {
        Plan {
            timeout: Duration::from_millis(timeout_ms),
            max_command: 1000,
            max_session: 1500,
            kept: 600,
        }
    }

    #[test]
    fn nothing_is_limited_outside_a_command() {
        assert_eq!(check(), Ok(()));
        assert_eq!(charge(usize::MAX), Ok(()));
        assert!(deadline() <= Instant::now() + FALLBACK);
    }

    #[test]
    fn the_deadline_ends_the_command_and_the_guard_ends_the_budget() {
        let guard = begin(plan(0));
        assert_eq!(
            check(),
            Err(Exceeded::Time {
                timeout: Duration::ZERO
            })
        );
        drop(guard);
        assert_eq!(check(), Ok(()));
    }

    #[test]
    fn memory_counts_against_the_command_then_the_session() {
        let _guard = begin(plan(60_000));
        assert_eq!(hold(1500), Ok(()));
        assert_eq!(charge(1), Err(Exceeded::Session { limit: 1500 }));
        let _guard = begin(plan(60_000));
        assert_eq!(charge(1001), Err(Exceeded::Command { limit: 1000 }));
        assert_eq!(hold(0), Err(Exceeded::Command { limit: 1000 }), "sticky");
    }

    #[test]
    fn charges_count_until_settled_and_retained_bytes_until_the_end() {
        let _guard = begin(plan(60_000));
        for _ in 0..10 {
            assert_eq!(charge(900), Ok(()));
            settle();
        }
        retain(600);
        settle();
        assert_eq!(charge(401), Err(Exceeded::Command { limit: 1000 }));
    }

    #[test]
    fn a_copy_over_the_budget_is_refused_before_it_is_made() {
        let _guard = begin(plan(60_000));
        assert_eq!(copy(1001), Err(Exceeded::Command { limit: 1000 }));
    }

    #[test]
    fn messages_name_the_limit() {
        let time = Exceeded::Time {
            timeout: Duration::from_secs(1),
        };
        assert!(time.to_string().starts_with(
            "stopped: the command's time limit (Limits::command_timeout = 1s) ran out"
        ));
        let memory = Exceeded::Command { limit: 64 << 20 };
        assert!(memory
            .to_string()
            .contains("memory budget (Limits::max_command_bytes = 64 MiB)"));
        assert_eq!(Bytes(1536).to_string(), "1.5 KiB");
        assert_eq!(Span(Duration::from_millis(250)).to_string(), "250ms");
    }

    #[test]
    fn the_rhai_error_carries_the_budget_and_cannot_be_caught() {
        let exceeded = Exceeded::Session { limit: 5 };
        let err: Box<EvalAltResult> = exceeded.into();
        assert!(!err.is_catchable());
        match *err {
            EvalAltResult::ErrorTerminated(token, _) => {
                assert_eq!(Exceeded::from_token(&token), Some(exceeded))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
