//! Evaluating one command with Rhai, inside the limits, without hurting the host.
//!
//! The engine is built once per agent (lazily, at the first session) and reused; each
//! session gets its own `SessionScope`, so `let x = 40` in one line is visible to the
//! next. Functions defined with `fn` are kept for the session too.
//!
//! Never from here: printing (Rhai's `print`/`debug` are routed back to the client),
//! loading modules from disk, or letting a panic escape.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use attach_protocol::{ErrorKind, Reply};
use rhai::{Dynamic, Engine, EvalAltResult, Position, Scope, AST};

use crate::budget::{self, Exceeded, Plan};
use crate::eval::guarded;
use crate::eval::hooks::{
    apply_limits, expose_functions, expose_values, route_output, stop_at_deadline,
    weigh_definitions, CommandState,
};
use crate::eval::meter::{self, Kept, Meter};
use crate::eval::reads::{self, Reads};
use crate::eval::reply::{self};
use crate::eval::values::Values;
use crate::eval::views::{self};
use crate::limits::Limits;
use crate::quiet_panic;
use crate::state::registry::Registry;

/// Bytes of compiled script per byte of source, measured on function-heavy code: what
/// compiling a command costs, and what the functions a session defines keep.
const CODE_WEIGHT: usize = 64;

/// A session's variables and function definitions.
pub(crate) struct SessionScope {
    pub(crate) scope: Scope<'static>,
    pub(crate) functions: AST,
    /// What `scope` weighed after the last command.
    kept: Kept,
    /// An estimate of what `functions` holds.
    functions_bytes: usize,
}

impl SessionScope {
    pub(crate) fn new() -> SessionScope {
        SessionScope {
            scope: Scope::new(),
            functions: AST::empty(),
            kept: Kept::default(),
            functions_bytes: 0,
        }
    }
}

pub(crate) struct Evaluator {
    engine: Engine,
    state: Rc<CommandState>,
    meter: Rc<Meter>,
    timeout: Duration,
    max_command_bytes: usize,
    max_session_bytes: usize,
    max_reply_bytes: usize,
    pub(crate) values: Rc<Values>,
    /// Registered functions and built-ins, for completion.
    pub(crate) callable: Vec<String>,
}

impl Evaluator {
    pub(crate) fn new(registry: &Registry, limits: &Limits, process_name: &str) -> Evaluator {
        let state = Rc::new(CommandState::new(limits.max_reply_bytes / 2));
        let mut engine = Engine::new();
        apply_limits(&mut engine, limits);
        guarded::guard(&mut engine);
        route_output(&mut engine, &state);
        stop_at_deadline(&mut engine);
        let meter = Rc::new(Meter::default());
        weigh_definitions(&mut engine, &meter, &state);
        let values = Rc::new(Values::from_registry(registry));
        expose_values(&mut engine, &values, &state, &meter);
        views::register(&mut engine);
        expose_functions(&mut engine, registry, &state);
        crate::builtins::register(&mut engine, registry, limits, process_name);
        let callable = registry
            .functions
            .keys()
            .cloned()
            .chain(crate::builtins::names().map(str::to_owned))
            .collect();
        Evaluator {
            engine,
            state,
            meter,
            timeout: limits.command_timeout,
            max_command_bytes: limits.max_command_bytes,
            max_session_bytes: limits.max_session_bytes,
            max_reply_bytes: limits.max_reply_bytes,
            values,
            callable,
        }
    }

    /// Time the last command spent in the host's registered functions.
    pub(crate) fn host_time(&self) -> Duration {
        self.state.host_time.get()
    }

    /// Opens the budget of one command, `vars` or `complete` request of `session`;
    /// it closes when the guard drops.
    pub(crate) fn budget(&self, session: &SessionScope) -> budget::Guard {
        self.meter.start(&session.kept, session.functions_bytes);
        budget::begin(Plan {
            timeout: self.timeout,
            max_command: self.max_command_bytes,
            max_session: self.max_session_bytes,
            kept: session.kept.bytes + session.functions_bytes,
        })
    }

    /// Evaluates `code` and answers with a `value` or `error` reply for `id`.
    pub(crate) fn eval(&self, session: &mut SessionScope, id: u64, code: &str) -> Reply {
        let started = Instant::now();
        let _budget = self.budget(session);
        self.state.failure.set(None);
        self.state.host_time.set(Duration::ZERO);
        self.state.printed.borrow_mut().take();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.run(session, code)
                .and_then(|value| self.reply_value(&value))
        }));
        if let Some(message) = self.keep_within_budget(session) {
            return Reply::error(Some(id), ErrorKind::Limit, message);
        }
        let elapsed_us = started.elapsed().as_micros() as u64;
        match outcome {
            Ok(Ok(value)) => Reply::Value {
                id,
                value,
                elapsed_us,
                output: self.state.printed.borrow_mut().take(),
            },
            Ok(Err(failure)) => failure.into_reply(id),
            Err(payload) => Reply::error(
                Some(id),
                ErrorKind::Panic,
                format!(
                    "host code panicked: {}; the worker is unaffected",
                    quiet_panic::message(payload.as_ref())
                ),
            ),
        }
    }

    fn run(&self, session: &mut SessionScope, code: &str) -> Result<Dynamic, Failure> {
        let compiled_bytes = code.len() * CODE_WEIGHT;
        budget::charge(compiled_bytes).map_err(|exceeded| {
            Failure::new(ErrorKind::Limit, exceeded.to_string(), Position::NONE)
        })?;
        let ast = self
            .engine
            .compile_with_scope(&session.scope, code)
            .map_err(|err| match budget::check() {
                // The parser stopped at the budget (see `guarded`).
                Err(exceeded) => Failure::new(ErrorKind::Limit, exceeded.to_string(), err.1),
                Ok(()) => Failure::new(ErrorKind::Syntax, err.0.to_string(), err.1),
            })?;
        let runnable = session.functions.merge(&ast);
        let reads = Reads::of(&runnable);
        if let Some(position) = reads.unsized_receiver() {
            let refusal = reads::UNSIZED_RECEIVER.to_owned();
            return Err(Failure::new(ErrorKind::Limit, refusal, position));
        }
        *self.state.reads.borrow_mut() = reads;
        match self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut session.scope, &runnable)
        {
            Ok(value) => {
                let functions = ast.clone_functions_only();
                if functions.iter_functions().next().is_some() {
                    session.functions = session.functions.merge(&functions);
                    session.functions_bytes += compiled_bytes;
                }
                views::settle(value).map_err(|err| self.classify(*err))
            }
            Err(err) => Err(self.classify(*err)),
        }
    }

    /// The result as JSON, within the reply limit and the command's budget.
    fn reply_value(&self, value: &Dynamic) -> Result<serde_json::Value, Failure> {
        reply::to_reply_json(value, self.max_reply_bytes)
            .map_err(|message| Failure::new(ErrorKind::Limit, message, Position::NONE))
    }

    /// Brings the session back under its memory budget by dropping its newest
    /// variables (and its functions, if they alone are over); says what it dropped.
    fn keep_within_budget(&self, session: &mut SessionScope) -> Option<String> {
        let mut dropped = Vec::new();
        if session.functions_bytes > self.max_session_bytes {
            session.functions = AST::empty();
            session.functions_bytes = 0;
            dropped.push("its functions (`fn`)".to_owned());
        }
        let room = self.max_session_bytes - session.functions_bytes;
        let (kept, variables) = meter::keep_within(&mut session.scope, room);
        session.kept = kept;
        dropped.extend(variables);
        (!dropped.is_empty()).then(|| {
            format!(
                "{}; to get back under it, the session dropped {}",
                Exceeded::Session {
                    limit: self.max_session_bytes
                },
                dropped.join(", ")
            )
        })
    }

    fn classify(&self, mut err: EvalAltResult) -> Failure {
        let position = err.take_position();
        let root = innermost(&err);
        let limit = |message: String| Failure::new(ErrorKind::Limit, message, position);
        match root {
            EvalAltResult::ErrorTerminated(token, _) => limit(
                Exceeded::from_token(token)
                    .unwrap_or(Exceeded::Time {
                        timeout: self.timeout,
                    })
                    .to_string(),
            ),
            EvalAltResult::ErrorTooManyOperations(..) => {
                limit("stopped: too many operations (Limits::max_operations)".to_owned())
            }
            EvalAltResult::ErrorStackOverflow(..) => {
                limit("stopped: calls nested too deeply (Limits::max_call_depth)".to_owned())
            }
            EvalAltResult::ErrorDataTooLarge(what, ..) => limit(format!(
                "stopped: {what} grew past its limit (see limits())"
            )),
            other => {
                let kind = self.state.failure.get().unwrap_or(ErrorKind::Runtime);
                let message = match other {
                    // Our own errors (and `throw`): the message without Rhai's prefix.
                    EvalAltResult::ErrorRuntime(value, _) => {
                        guarded::text_within(value, self.max_reply_bytes)
                    }
                    EvalAltResult::ErrorVariableNotFound(name, _) => format!(
                        "no variable or registered value named `{name}`; \
                         help() lists what this worker exposes"
                    ),
                    EvalAltResult::ErrorFunctionNotFound(signature, _) => format!(
                        "no function {signature}; help() lists the functions and their arguments"
                    ),
                    _ => err.to_string(),
                };
                Failure::new(kind, message, position)
            }
        }
    }
}

fn innermost(err: &EvalAltResult) -> &EvalAltResult {
    match err {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => innermost(inner),
        other => other,
    }
}

struct Failure {
    kind: ErrorKind,
    message: String,
    position: Position,
}

impl Failure {
    fn new(kind: ErrorKind, message: String, position: Position) -> Failure {
        Failure {
            kind,
            message,
            position,
        }
    }

    fn into_reply(self, id: u64) -> Reply {
        Reply::Error {
            id: Some(id),
            kind: self.kind,
            message: self.message,
            line: self.position.line(),
            column: self.position.position(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(evaluator: &Evaluator, session: &mut SessionScope, code: &str) -> Reply {
        evaluator.eval(session, 1, code)
    }

    #[test]
    fn a_copy_of_a_kept_variable_is_charged_from_the_first_step() {
        let limits = Limits {
            max_command_bytes: 1 << 20,
            ..Limits::default()
        };
        let evaluator = Evaluator::new(&Registry::new(|_| false), &limits, "test");
        let mut session = SessionScope::new();
        // 1.2 MB of map keys, kept by the session, built in two commands.
        for build in [
            r#"let k = "k"; k.pad(100000, "x"); let v = #{}; for i in 0..6 { v[k + i] = i }; 0"#,
            "for i in 6..12 { v[k + i] = i }; k = (); 0",
        ] {
            let built = reply(&evaluator, &mut session, build);
            assert!(matches!(built, Reply::Value { .. }), "{build}: {built:?}");
        }
        for by_reference in ["v.len()", "len(v)", "\"k\" in v"] {
            let answer = reply(&evaluator, &mut session, by_reference);
            assert!(
                matches!(answer, Reply::Value { .. }),
                "{by_reference}: {answer:?}"
            );
        }
        match reply(&evaluator, &mut session, "[v].len()") {
            Reply::Error {
                kind: ErrorKind::Limit,
                message,
                ..
            } => assert!(message.contains("max_command_bytes"), "{message}"),
            // `[v]` keeps its copy in no variable: only the charge can see it.
            other => panic!("a copy of 1.2 MB fit a 1 MiB budget: {other:?}"),
        }
    }
}
