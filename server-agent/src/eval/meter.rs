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
//! A walk also notes the variables big enough that a copy matters (`BIG_COPY`), with
//! what a copy of each costs: a read by value (see `reads`) is charged that before
//! Rhai copies, without walking the variable again.
//!
//! Never from here: changing a scope, or walking on every sample.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use rhai::EvalContext;

use crate::budget::{self, Exceeded, Weight, BIG_COPY};
use crate::eval::reads::Copied;

/// The shortest time between two walks of the same scope.
const MIN_GAP: Duration = Duration::from_micros(200);

/// The last walk of one call level's scope.
struct Level {
    bytes: usize,
    variables: usize,
    walked_at: Instant,
    cost: Duration,
    /// The variables whose copy costs at least `BIG_COPY`, newest first (the order of
    /// `Scope::iter_raw`).
    big: Vec<(String, Weight)>,
}

impl Level {
    fn unwalked() -> Level {
        Level {
            bytes: 0,
            variables: 0,
            walked_at: Instant::now(),
            cost: Duration::ZERO,
            big: Vec::new(),
        }
    }

    fn walk(&mut self, scope: &rhai::Scope, this: usize) {
        let cpu = thread_cpu();
        self.big.clear();
        let mut bytes = this;
        for (name, _, value) in scope.iter_raw() {
            let weight = budget::measure(value);
            bytes += budget::variable_overhead(name) + weight.held;
            if weight.copied >= BIG_COPY {
                self.big.push((name.to_owned(), weight));
            }
        }
        self.bytes = bytes;
        self.variables = scope.len();
        self.walked_at = Instant::now();
        self.cost = thread_cpu().saturating_sub(cpu);
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
#[derive(Clone, Default)]
pub(crate) struct Kept {
    pub(crate) bytes: usize,
    variables: usize,
    cost: Duration,
    /// Its variables whose copy costs at least `BIG_COPY`.
    big: Vec<(String, Weight)>,
}

impl Meter {
    /// Starts a command on a session whose scope holds `kept`, and `base` besides.
    pub(crate) fn start(&self, kept: &Kept, base: usize) {
        self.base.set(base);
        *self.levels.borrow_mut() = vec![Level {
            bytes: kept.bytes,
            variables: kept.variables,
            walked_at: Instant::now(),
            cost: kept.cost,
            big: kept.big.clone(),
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
        level.walk(scope, context.this_ptr().map_or(0, budget::weigh));
        budget::hold(self.base.get() + levels.iter().map(|level| level.bytes).sum::<usize>())
    }

    /// Charges what reading `name` at the current call level copies, as of the last
    /// walk (a variable too small to be noted costs nothing here).
    pub(crate) fn charge_copy(
        &self,
        context: &EvalContext,
        name: &str,
        copied: Copied,
    ) -> Result<(), Exceeded> {
        let levels = self.levels.borrow();
        let Some(level) = levels.get(context.call_level()) else {
            return Ok(());
        };
        // The newest variable of that name is the one a read finds.
        let Some((_, weight)) = level.big.iter().find(|(big, _)| big == name) else {
            return Ok(());
        };
        if weight.curried >= BIG_COPY {
            return budget::refuse(Exceeded::CurriedCopy {
                bytes: weight.curried,
            });
        }
        let bytes = match copied {
            Copied::Whole | Copied::Bound => weight.copied,
            Copied::Part => weight.largest_part,
        };
        if bytes < BIG_COPY {
            return Ok(());
        }
        if copied == Copied::Bound {
            return budget::refuse(Exceeded::ThisCopy { bytes });
        }
        budget::copy(bytes)
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
    let mut level = Level::unwalked();
    level.walk(scope, 0);
    Kept {
        bytes: level.bytes,
        variables: level.variables,
        cost: level.cost,
        big: level.big,
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
        let one = weigh_kept(&scope).bytes / 3;
        let (kept, dropped) = keep_within(&mut scope, one + one / 2);
        assert_eq!(dropped.len(), 2, "{dropped:?}");
        assert!(dropped[0].starts_with("`new`") && dropped[1].starts_with("`middle`"));
        assert!(scope.contains("old") && kept.bytes <= one + one / 2);
        assert_eq!(keep_within(&mut scope, usize::MAX).1.len(), 0);
    }
}
