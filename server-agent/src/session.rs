//! One attach session, from the doorbell to `bye`.
//!
//! The agent trusts nothing it finds in `/tmp`: the request FIFO is opened with the
//! checks in `attach_protocol::fifo`, the client's uid is taken from `fstat` of that
//! opened descriptor, and the reply FIFO name is derived from our pid and the token
//! (never read from the wire), then checked to belong to that same uid. It looks in
//! the shared `/tmp` first, then in its private directory (`crate::rendezvous`); the
//! reply FIFO must be in the directory the request came through.
//!
//! Every wait has a deadline (hello, idle, write), so a client that stalls or vanishes
//! ends its session instead of the agent thread. This module never unlinks anything:
//! the FIFOs belong to the client.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use attach_protocol::fifo::{open_checked, Access, FifoError, FifoOwner};
use attach_protocol::{
    decode_line, Dir, ErrorKind, FifoPaths, LineReader, ProcStatus, Reply, Request, Token,
    WireError, MAX_REQUEST_LINE, PROTOCOL_VERSION,
};
use tracing::{debug, info, warn, Level};

use crate::eval::complete;
use crate::eval::{Evaluator, SessionScope};
use crate::limits::Limits;
use crate::rendezvous::Rendezvous;

mod channel;
use channel::Channel;

/// How much of a command the audit log keeps.
const AUDIT_COMMAND_CHARS: usize = 200;

/// What the agent thread keeps between sessions.
pub(crate) struct AgentContext {
    pub(crate) paths: FifoPaths,
    pub(crate) rendezvous: Rendezvous,
    pub(crate) limits: Limits,
    pub(crate) process_name: String,
    pub(crate) sessions: u64,
    /// The level of each command's audit record.
    pub(crate) command_audit: tracing::Level,
}

/// Who is on the other end, as far as the agent can tell.
struct Client {
    uid: u32,
    /// Claimed in `hello`; only used for the audit log.
    claimed_pid: u32,
    /// The claimed pid exists and runs as `uid` or root, checked at `hello` when the
    /// command audit records (which show it) are collected; a session nobody audits
    /// skips the `/proc` read.
    pid_verified: bool,
    session: String,
    /// Which directory the FIFOs were in: `shared` or `private`.
    rendezvous: &'static str,
}

/// Answers one ring of the doorbell: serves a session if a valid client is waiting.
pub(crate) fn answer_doorbell(ctx: &mut AgentContext, evaluator: &Evaluator) {
    let Some((dir, rendezvous, request, uid)) = open_request(ctx) else {
        return;
    };
    let mut reader = LineReader::new(MAX_REQUEST_LINE);
    let hello = match reader.read_line(request.as_fd(), Instant::now() + ctx.limits.hello_timeout) {
        Ok(Some(line)) => line,
        Ok(None) => {
            return debug!(
                target: "attach::agent",
                "request FIFO had no writer (left by a crashed client?)"
            )
        }
        Err(err) => return warn!(target: "attach::agent", %err, "no hello from the client"),
    };
    let (token, hello) = parse_hello(&hello);
    // Without a well-formed token there is no reply path we may open: nobody to tell.
    let Some(token) = token else {
        let why = hello.err().unwrap_or_default();
        return warn!(
            target: "attach::agent",
            why,
            "no usable token in the first line; session refused unanswered"
        );
    };
    let reply_name = ctx.paths.reply_name(&token);
    let reply = match open_checked(dir, &reply_name, Access::Write, FifoOwner::Uid(uid)) {
        Ok((fd, _)) => fd,
        Err(err) => return warn!(target: "attach::agent", %err, "refused the reply FIFO"),
    };
    let mut channel = Channel::new(reply, &ctx.limits);
    let (version, claimed_pid) = match hello {
        Ok(hello) => hello,
        Err(why) => {
            warn!(target: "attach::agent", why, "bad hello; session refused");
            let message = format!(
                "session refused: {why}. Start with {{\"op\":\"hello\",\"v\":{PROTOCOL_VERSION},\
                 \"token\":\"<32 hex digits>\",\"client_pid\":<your pid>}} (docs/PROTOCOL.md)"
            );
            let _ = channel.send(&Reply::error(None, ErrorKind::Protocol, message));
            return;
        }
    };
    ctx.sessions += 1;
    let client = Client {
        uid,
        claimed_pid,
        pid_verified: audits_commands(ctx.command_audit) && pid_runs_as(claimed_pid, uid),
        session: format!("{}-{}", std::process::id(), ctx.sessions),
        rendezvous,
    };
    if version != PROTOCOL_VERSION {
        let message = format!(
            "this agent speaks protocol v{PROTOCOL_VERSION}, the client v{version}; \
             use an attach build for v{PROTOCOL_VERSION}"
        );
        let _ = channel.send(&Reply::error(None, ErrorKind::Version, message));
        return;
    }
    let welcome = Reply::Welcome {
        v: PROTOCOL_VERSION,
        token: token.as_str().to_owned(),
        session: client.session.clone(),
        pid: std::process::id(),
        process: ctx.process_name.clone(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    // A client that queued its first command behind hello (a one-shot) gets the
    // welcome and that answer in one write: one wake-up instead of two.
    if reader.has_line() {
        channel.hold(&welcome);
    } else if channel.send(&welcome).is_err() {
        return;
    }
    info!(
        target: "attach::audit",
        session = %client.session, uid = client.uid, client_pid = client.claimed_pid,
        rendezvous = client.rendezvous, "session opened"
    );
    let reason = serve(
        &mut channel,
        &mut reader,
        request.as_fd(),
        &client,
        evaluator,
        ctx.command_audit,
    );
    info!(
        target: "attach::audit",
        session = %client.session, uid = client.uid, reason,
        "session closed"
    );
}

/// Reads the first line of a session: the token, whenever one can be found and is
/// well formed (then the refusal can be answered), and the protocol version and
/// claimed client pid, or why the line is not a usable `hello`.
fn parse_hello(line: &[u8]) -> (Option<Token>, Result<(u32, u32), String>) {
    match decode_line::<Request>(line) {
        Ok(Request::Hello {
            v,
            token,
            client_pid,
        }) => match Token::parse(&token) {
            Ok(token) => (Some(token), Ok((v, client_pid))),
            Err(err) => (None, Err(err.to_string())),
        },
        Ok(_) => (
            token_field(line),
            Err("the first message of a session must be hello".into()),
        ),
        Err(err) => (token_field(line), Err(format!("unreadable hello ({err})"))),
    }
}

/// The `token` of a line that is not a valid `hello` but is a JSON object.
fn token_field(line: &[u8]) -> Option<Token> {
    let object: serde_json::Value = serde_json::from_slice(line).ok()?;
    Token::parse(object.get("token")?.as_str()?).ok()
}

/// The first acceptable request FIFO: in which directory, the open read end, and its
/// owner (the client's uid: only that uid, or root, could have created a mode-0600 FIFO
/// and written a hello into it). Refusals are logged and the next directory is tried.
fn open_request(ctx: &AgentContext) -> Option<(&Dir, &'static str, OwnedFd, u32)> {
    let me = nix::unistd::geteuid().as_raw();
    let name = ctx.paths.request_name();
    for (dir, rendezvous) in ctx.rendezvous.each() {
        match open_checked(dir, &name, Access::Read, FifoOwner::UidOrRoot(me)) {
            Ok((fd, stat)) => return Some((dir, rendezvous, fd, stat.st_uid)),
            Err(FifoError::Missing { .. }) => {}
            Err(err) => {
                warn!(target: "attach::agent", %err, rendezvous, "refused the request FIFO")
            }
        }
    }
    debug!(target: "attach::agent", "doorbell rang with no usable request FIFO");
    None
}

/// The request loop. Returns why the session ended.
fn serve(
    channel: &mut Channel<'_>,
    reader: &mut LineReader,
    request: std::os::fd::BorrowedFd<'_>,
    client: &Client,
    evaluator: &Evaluator,
    level: Level,
) -> &'static str {
    let mut scope = SessionScope::new();
    loop {
        let line = match reader.read_line(request, Instant::now() + channel.limits().idle_timeout) {
            Ok(Some(line)) => line,
            Ok(None) => return "client closed the request FIFO",
            Err(WireError::Timeout) => {
                let _ = channel.send(&Reply::Bye {
                    reason: "idle timeout".into(),
                });
                return "idle timeout";
            }
            Err(WireError::LineTooLong { limit }) => {
                let message =
                    format!("request longer than {limit} bytes; session closed, attach again");
                let _ = channel.send(&Reply::error(None, ErrorKind::Protocol, message));
                return "request too long";
            }
            Err(_) => return "request FIFO failed",
        };
        let reply = match decode_line::<Request>(&line) {
            Ok(Request::Eval { id, code }) => {
                evaluate(evaluator, &mut scope, client, level, id, &code)
            }
            Ok(Request::Ping { id }) => Reply::Pong { id },
            Ok(Request::Complete { id, line, pos }) => {
                let _budget = evaluator.budget(&scope);
                let (start, candidates) = complete::complete(evaluator, &scope, &line, pos);
                Reply::Completions {
                    id,
                    start,
                    candidates,
                }
            }
            Ok(Request::Vars { id }) => {
                let _budget = evaluator.budget(&scope);
                match complete::vars(&scope, channel.limits().max_reply_bytes) {
                    Ok(value) => Reply::Value {
                        id,
                        value,
                        elapsed_us: 0,
                        output: Vec::new(),
                    },
                    Err(message) => Reply::error(Some(id), ErrorKind::Limit, message),
                }
            }
            Ok(Request::Bye) => {
                let bye = Reply::Bye {
                    reason: "client said bye".into(),
                };
                if let Err(err) = channel.send(&bye) {
                    debug!(
                        target: "attach::agent",
                        session = %client.session, %err,
                        "the client left without reading bye"
                    );
                }
                return "client said bye";
            }
            Ok(Request::Hello { .. }) => {
                Reply::error(None, ErrorKind::Protocol, "hello sent twice in one session")
            }
            Err(err) => Reply::error(
                None,
                ErrorKind::Protocol,
                format!("{err}; send one JSON request per line (docs/PROTOCOL.md)"),
            ),
        };
        // A client that queued `bye` behind this request (a one-shot) gets the
        // answer and the agent's bye in one write: one wake-up instead of two.
        if reader
            .peek_line()
            .is_some_and(|next| matches!(decode_line::<Request>(next), Ok(Request::Bye)))
        {
            channel.hold(&reply);
            continue;
        }
        if let Err(err) = channel.send(&reply) {
            warn!(
                target: "attach::agent",
                session = %client.session, %err,
                "could not deliver a reply"
            );
            return "client stopped reading";
        }
    }
}

fn evaluate(
    evaluator: &Evaluator,
    scope: &mut SessionScope,
    client: &Client,
    level: Level,
    id: u64,
    code: &str,
) -> Reply {
    let started = Instant::now();
    let reply = evaluator.eval(scope, id, code);
    let failure = match &reply {
        Reply::Error { kind, .. } => Some(*kind),
        _ => None,
    };
    // The command text is the operator's; values never reach the log (redacted
    // parts are removed before a script can see them).
    macro_rules! audit {
        ($level:expr) => {
            tracing::event!(
                target: "attach::audit", $level,
                session = %client.session, uid = client.uid, client_pid = client.claimed_pid,
                client_pid_verified = client.pid_verified,
                command = %shorten(code), ok = failure.is_none(), failure = ?failure,
                elapsed_us = started.elapsed().as_micros() as u64,
                host_fn_us = evaluator.host_time().as_micros() as u64, "evaluated"
            )
        };
    }
    match level {
        Level::ERROR => audit!(Level::ERROR),
        Level::WARN => audit!(Level::WARN),
        Level::INFO => audit!(Level::INFO),
        Level::DEBUG => audit!(Level::DEBUG),
        Level::TRACE => audit!(Level::TRACE),
    }
    reply
}

/// At most `AUDIT_COMMAND_CHARS` characters of a command, for the audit log.
fn shorten(code: &str) -> String {
    match code.char_indices().nth(AUDIT_COMMAND_CHARS) {
        Some((cut, _)) => format!("{}...", &code[..cut]),
        None => code.to_owned(),
    }
}

/// True when a subscriber collects the command audit records at `level`.
fn audits_commands(level: Level) -> bool {
    // A callsite's level must be a constant, hence one check per level.
    match level {
        Level::ERROR => tracing::enabled!(target: "attach::audit", Level::ERROR),
        Level::WARN => tracing::enabled!(target: "attach::audit", Level::WARN),
        Level::INFO => tracing::enabled!(target: "attach::audit", Level::INFO),
        Level::DEBUG => tracing::enabled!(target: "attach::audit", Level::DEBUG),
        Level::TRACE => tracing::enabled!(target: "attach::audit", Level::TRACE),
    }
}

/// True when `pid` exists and runs as `uid` (or root): the `hello` claim is plausible.
fn pid_runs_as(pid: u32, uid: u32) -> bool {
    ProcStatus::of_pid(pid)
        .ok()
        .and_then(|status| status.euid())
        .is_some_and(|euid| euid == uid || euid == 0)
}
