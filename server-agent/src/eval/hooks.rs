//! What the engine is given for every command: its limits, where `print` goes, the
//! registered values and functions, and the per-command state those callbacks share.
//!
//! Never from here: a callback that blocks past the command's deadline, or a panic of
//! host code that reaches the engine (each call is wrapped in `catch_unwind`).

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use attach_protocol::ErrorKind;
use rhai::{Dynamic, Engine, EvalAltResult};

use crate::budget;
use crate::eval::meter::Meter;
use crate::eval::reads::Reads;
use crate::eval::reply::to_json;
use crate::eval::values::{ValueError, Values};
use crate::eval::views::ViewValue;
use crate::limits::Limits;
use crate::quiet_panic;
use crate::state::function::MAX_ARITY;
use crate::state::registry::Registry;

/// Most lines of `print` output kept per command.
const MAX_PRINTED_LINES: usize = 1000;

/// What `print` and `debug` produced during one command, within a budget so that a
/// printing loop cannot fill the host's memory.
#[derive(Default)]
pub(super) struct Printed {
    lines: Vec<String>,
    bytes: usize,
    dropped: usize,
}

impl Printed {
    fn keep(&mut self, line: String, budget: usize) {
        if self.lines.len() < MAX_PRINTED_LINES && self.bytes + line.len() <= budget {
            self.bytes += line.len();
            budget::retain(line.len());
            self.lines.push(line);
        } else {
            self.dropped += 1;
        }
    }

    /// The kept lines, with a note if some were dropped.
    pub(super) fn take(&mut self) -> Vec<String> {
        let mut lines = std::mem::take(&mut self.lines);
        if self.dropped > 0 {
            lines.push(format!(
                "[{} more printed lines dropped: output is capped at {MAX_PRINTED_LINES} lines \
                 and half the reply limit]",
                self.dropped
            ));
        }
        *self = Printed::default();
        lines
    }
}

/// Per-command state shared with the engine's callbacks.
pub(crate) struct CommandState {
    /// Set by callbacks when a failure has a more precise kind than "runtime".
    pub(crate) failure: Cell<Option<ErrorKind>>,
    pub(super) printed: RefCell<Printed>,
    print_budget: usize,
    /// Time spent in the host's registered functions (they run on the agent thread).
    pub(super) host_time: Cell<Duration>,
    /// What the running command's script does with what it reads.
    pub(crate) reads: RefCell<Reads>,
}

impl CommandState {
    pub(super) fn new(print_budget: usize) -> CommandState {
        CommandState {
            failure: Cell::new(None),
            printed: RefCell::new(Printed::default()),
            print_budget,
            host_time: Cell::new(Duration::ZERO),
            reads: RefCell::new(Reads::default()),
        }
    }
}

pub(super) fn apply_limits(engine: &mut Engine, limits: &Limits) {
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_depth);
    engine.set_max_expr_depths(limits.max_expression_depth, limits.max_expression_depth);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
}

pub(super) fn route_output(engine: &mut Engine, state: &Rc<CommandState>) {
    let printed = state.clone();
    engine.on_print(move |text| keep_line(&printed, text.to_owned()));
    let debugged = state.clone();
    engine.on_debug(move |text, _source, _position| keep_line(&debugged, text.to_owned()));
}

fn keep_line(state: &CommandState, line: String) {
    state.printed.borrow_mut().keep(line, state.print_budget);
}

/// Weighs the scope before each variable definition (see `meter`). Refuses a computed
/// `const` at the top level of a command that has functions: Rhai copies its value for
/// them (`global::NAME`) where no callback can count the copies.
pub(super) fn weigh_definitions(engine: &mut Engine, meter: &Rc<Meter>, state: &Rc<CommandState>) {
    let meter = meter.clone();
    let state = state.clone();
    // Volatile in Rhai's terms (not deprecated), like `on_var`.
    #[allow(deprecated)]
    engine.on_def_var(move |at_runtime, info, context| {
        if !at_runtime {
            return Ok(true);
        }
        if info.is_const()
            && info.nesting_level() == 0
            && state.reads.borrow().constant_copied(info.name())
        {
            let name = info.name();
            return Err(format!(
                "`const {name}` at the top level of a session that has functions (`fn`) is \
                 copied for them where the memory budget cannot count it; use `let {name}`"
            )
            .into());
        }
        meter.sample(&context)?;
        Ok(true)
    });
}

pub(super) fn stop_at_deadline(engine: &mut Engine) {
    engine.on_progress(|operations| {
        budget::settle();
        // Checking the clock every 16 operations keeps the cost negligible.
        if operations % 16 != 0 {
            return None;
        }
        budget::check().err().map(Dynamic::from)
    });
}

pub(super) fn expose_values(
    engine: &mut Engine,
    values: &Rc<Values>,
    state: &Rc<CommandState>,
    meter: &Rc<Meter>,
) {
    let values = values.clone();
    let state = state.clone();
    let meter = meter.clone();
    // `on_var` is marked volatile (not deprecated) by Rhai; it is the hook for live reads.
    // It runs before every use of a variable, so it also keeps the memory meter current
    // and charges the copy a read by value is about to make.
    #[allow(deprecated)]
    engine.on_var(move |name, _index, context| {
        meter.sample(&context)?;
        if context.scope().contains(name) {
            if let Some(copied) = state.reads.borrow().copied(name) {
                meter.charge_copy(&context, name, copied)?;
            }
            return Ok(None);
        }
        if let Some(view) = values.view(name) {
            return Ok(Some(Dynamic::from(ViewValue::new(view, state.clone()))));
        }
        let json = match values.read(name, budget::deadline()) {
            None => return Ok(None),
            Some(Ok(json)) => json,
            Some(Err(err)) => return Err(read_failure(&state, name, err)),
        };
        let value = rhai::serde::to_dynamic(json)?;
        budget::charge(budget::weigh(&value))?;
        Ok(Some(value))
    });
}

/// The script error for a registered value that could not be read.
pub(crate) fn read_failure(
    state: &CommandState,
    name: &str,
    err: ValueError,
) -> Box<EvalAltResult> {
    // A conversion too big for the budget: the command ends with a `limit` error.
    if let Err(exceeded) = budget::charge(0) {
        return exceeded.into();
    }
    match err {
        ValueError::Busy => {
            state.failure.set(Some(ErrorKind::Busy));
            format!(
                "`{name}` is locked by the host; gave up at the command's time limit, try again"
            )
            .into()
        }
        ValueError::Failed(why) => format!("cannot read `{name}`: {why}").into(),
        ValueError::Panicked(message) => {
            state.failure.set(Some(ErrorKind::Panic));
            format!("reading `{name}` panicked in host code: {message}").into()
        }
    }
}

pub(super) fn expose_functions(engine: &mut Engine, registry: &Registry, state: &Rc<CommandState>) {
    for (name, function) in &registry.functions {
        // Every arity is registered, so a wrong count gets a message naming the
        // signature instead of Rhai's "function not found".
        for arity in 0..=MAX_ARITY {
            let function = function.clone();
            let state = state.clone();
            let arg_types = vec![std::any::TypeId::of::<Dynamic>(); arity];
            engine.register_raw_fn(name.as_str(), arg_types, move |_context, args| {
                let wanted = function.params.len();
                if args.len() != wanted {
                    let plural = if wanted == 1 { "" } else { "s" };
                    return Err(format!(
                        "{} takes {wanted} argument{plural}, given {}; \
                         help() shows the functions",
                        function.signature(),
                        args.len()
                    )
                    .into());
                }
                budget::check()?;
                // The arguments are converted for the host: a copy, charged first.
                budget::copy(args.iter().map(|arg| budget::weigh(arg)).sum())?;
                let started = Instant::now();
                let json_args: Vec<serde_json::Value> =
                    args.iter().map(|arg| to_json(arg)).collect();
                let outcome = catch_unwind(AssertUnwindSafe(|| (function.call)(&json_args)));
                state
                    .host_time
                    .set(state.host_time.get() + started.elapsed());
                // No look at the clock here: what the host function did is done, and
                // its result is not thrown away (the next step checks the deadline).
                let value = match outcome {
                    Ok(Ok(result)) => rhai::serde::to_dynamic(result),
                    Ok(Err(message)) => Err(format!("{}: {message}", function.signature()).into()),
                    Err(payload) => {
                        state.failure.set(Some(ErrorKind::Panic));
                        Err(format!(
                            "{} panicked in host code: {}",
                            function.name,
                            quiet_panic::message(payload.as_ref())
                        )
                        .into())
                    }
                }?;
                budget::charge(budget::weigh(&value))?;
                Ok(value)
            });
        }
    }
}
