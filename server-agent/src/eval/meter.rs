//! Weighing what a running script holds, often enough that the memory budget holds.
//!
//! A script's data lives in scopes: the session's (its variables and the command's
//! own) and one per script function being called. Rhai calls `sample` before every
//! variable is read, written or defined, so every change to a variable is preceded by
//! a sample; a sample walks the current scope when the scope gained a variable since
//! its last walk or when enough time has passed. "Enough" is at least `MIN_GAP` and
//! four times the CPU time the last walk of that scope took, so walking costs at most
//! a fifth of the command's time however much the script holds, and what a script can
//! build between two walks stays within a few MiB (one Rhai value is capped by the
//! size limits, and building a MiB takes longer than `MIN_GAP`).
//!
//! Never from here: changing a scope, or walking on every sample.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use rhai::EvalContext;

use crate::budget::{self, Exceeded};

/// The shortest time between two walks of the same scope.
const MIN_GAP: Duration = Duration::from_micros(200);

/// The last walk of one call level's scope.
#[derive(Clone, Copy)]
struct Level {
    bytes: usize,
    variables: usize,
    walked_at: Instant,
    cost: Duration,
}

impl Level {
    fn unwalked() -> Level {
        Level {
            bytes: 0,
            variables: 0,
            walked_at: Instant::now(),
            cost: Duration::ZERO,
        }
    }

    fn stale(&self, variables: usize, now: Instant) -> bool {
        variables > self.variables || now - self.walked_at >= MIN_GAP.max(self.cost * 4)
    }
}

/// The weight of every call level's scope, level 0 being the session's.
#[derive(Default)]
pub(crate) struct Meter {
    levels: RefCell<Vec<Level>>,
    /// What the session holds outside any scope (its functions).
    base: Cell<usize>,
}

/// What the session's scope weighed when it was last walked.
#[derive(Clone, Copy, Default)]
pub(crate) struct Kept {
    pub(crate) bytes: usize,
    pub(crate) variables: usize,
    pub(crate) cost: Duration,
}

impl Meter {
    /// Starts a command on a session whose scope holds `kept`, and `base` besides.
    pub(crate) fn start(&self, kept: Kept, base: usize) {
        self.base.set(base);
        *self.levels.borrow_mut() = vec![Level {
            bytes: kept.bytes,
            variables: kept.variables,
            walked_at: Instant::now(),
            cost: kept.cost,
        }];
    }

    /// Weighs the current scope if it is due, and reports the total to the budget.
    pub(crate) fn sample(&self, context: &EvalContext) -> Result<(), Exceeded> {
        let depth = context.call_level();
        let scope = context.scope();
        let now = Instant::now();
        let mut levels = self.levels.borrow_mut();
        // Deeper levels have returned; a new one starts unwalked.
        levels.resize_with(depth + 1, Level::unwalked);
        let level = &mut levels[depth];
        if !level.stale(scope.len(), now) {
            return budget::check();
        }
        let cpu = thread_cpu();
        let this = context.this_ptr().map_or(0, budget::weigh);
        level.bytes = budget::weigh_scope(scope) + this;
        level.variables = scope.len();
        level.walked_at = Instant::now();
        level.cost = thread_cpu().saturating_sub(cpu);
        budget::hold(self.base.get() + levels.iter().map(|level| level.bytes).sum::<usize>())
    }
}

/// Brings a session's scope back under `max_bytes` by dropping its newest variables
/// (those of the command that went over first). Returns what the scope then weighs
/// and what was dropped (`name` and weight, for a message).
pub(crate) fn keep_within(scope: &mut rhai::Scope, max_bytes: usize) -> (Kept, Vec<String>) {
    let mut kept = weigh_kept(scope);
    let mut dropped = Vec::new();
    while kept.bytes > max_bytes {
        let Some((name, _, value)) = scope.iter_raw().next() else {
            break;
        };
        dropped.push(format!(
            "`{name}` ({})",
            budget::Bytes(budget::weigh(value))
        ));
        scope.rewind(scope.len() - 1);
        kept = weigh_kept(scope);
    }
    (kept, dropped)
}

/// Walks a session's scope: what it keeps between commands.
pub(crate) fn weigh_kept(scope: &rhai::Scope) -> Kept {
    let cpu = thread_cpu();
    Kept {
        bytes: budget::weigh_scope(scope),
        variables: scope.len(),
        cost: thread_cpu().saturating_sub(cpu),
    }
}

/// CPU time of this thread. A walk's cost is measured with it, not the wall clock: a
/// walk the scheduler interrupted must not space out the next ones.
fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map_or(Duration::ZERO, Duration::from)
}

#[cfg(test)]
mod tests {
    use rhai::{Dynamic, Scope};

    use super::*;

    #[test]
    fn the_newest_variables_go_first_until_the_scope_fits() {
        let mut scope = Scope::new();
        for name in ["old", "middle", "new"] {
            scope.push_dynamic(name, Dynamic::from("x".repeat(10_000)));
        }
        let one = budget::weigh_scope(&scope) / 3;
        let (kept, dropped) = keep_within(&mut scope, one + one / 2);
        assert_eq!(dropped.len(), 2, "{dropped:?}");
        assert!(dropped[0].starts_with("`new`") && dropped[1].starts_with("`middle`"));
        assert!(scope.contains("old") && kept.bytes <= one + one / 2);
        assert_eq!(keep_within(&mut scope, usize::MAX).1.len(), 0);
    }
}
