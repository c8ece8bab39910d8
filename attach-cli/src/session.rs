//! A client session with one agent: connect, evaluate, leave.
//!
//! Order matters for the FIFO race: both FIFOs exist and are open on our side, and
//! `hello` is already waiting in the request FIFO, *before* the doorbell rings. The
//! agent therefore never opens a FIFO with no writer (premature EOF) and never finds
//! the reply FIFO without a reader. Every wait has a deadline and watches the target,
//! so a worker that exits mid-session is reported, not waited on.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use attach_protocol::{
    decode_line, encode_line, write_all_by, ErrorKind, LineReader, Reply, Request, Token,
    WireError, MAX_REPLY_LINE, PROTOCOL_VERSION,
};
use nix::fcntl::{fcntl, FcntlArg};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::claim::{self, CreatedPath, RequestFifo};
use crate::error::ConnectError;
use crate::options::ConnectOptions;
use crate::outcome::Outcome;
use crate::target::Target;

/// How long leaving waits for the agent's `bye`.
const BYE_WAIT: Duration = Duration::from_secs(1);

/// The capacity of a pipe when it cannot be asked (one page).
const PIPE_BUF: usize = 4096;

/// How often a waiting client checks that the target still lives.
const LIVENESS_CHECK: Duration = Duration::from_millis(100);

/// How long the client busy-waits for an in-session reply before sleeping in
/// `poll`: most answers arrive within this window (p50 about 12 µs), and waking a
/// sleeping process costs more than the reply itself. A reply that is later means
/// the agent thread is waiting for a CPU, which a longer spin would only keep from
/// it; for the same reason there is no spin while connecting. The agent never spins.
const SPIN: Duration = Duration::from_micros(50);

/// An open session. Dropping it says `bye` (if not yet said), reads the agent's `bye`
/// (waiting at most 1 s) and removes the FIFOs it made.
pub struct Session {
    target: Target,
    session_id: String,
    agent_version: String,
    timeout: Duration,
    interrupt: Option<&'static AtomicBool>,
    next_id: u64,
    reader: LineReader,
    reply: OwnedFd,
    request: RequestFifo,
    _reply_path: CreatedPath,
    /// How long to busy-wait for a reply: zero until the session is open.
    spin: Duration,
    /// Called about every 100 ms while a reply is awaited, with the time waited.
    on_wait: Option<Box<dyn FnMut(Duration)>>,
    /// True once `bye` is in the request FIFO (a one-shot sends it with its command).
    said_bye: bool,
}

impl Session {
    /// Checks the target, creates the FIFOs, rings the doorbell and waits for welcome.
    pub fn connect(pid: u32, options: &ConnectOptions) -> Result<Session, ConnectError> {
        Session::open(pid, options, None).map(|(session, _)| session)
    }

    /// Connects and evaluates one command with a single wake-up of the agent: the
    /// `eval` and `bye` are queued behind `hello` before the doorbell rings, so the
    /// agent answers all three at once.
    pub fn one_shot(
        pid: u32,
        options: &ConnectOptions,
        code: &str,
    ) -> Result<Outcome, ConnectError> {
        let (_session, outcome) = Session::open(pid, options, Some(code))?;
        Ok(outcome.expect("open answers the queued command"))
    }

    fn open(
        pid: u32,
        options: &ConnectOptions,
        first: Option<&str>,
    ) -> Result<(Session, Option<Outcome>), ConnectError> {
        let target = Target::inspect(pid, options.signal)?;
        let paths = target.paths;
        let token = Token::generate()
            .map_err(|err| ConnectError::io("cannot draw a random session token", err))?;
        let (dir, request) = claim::publish_request(&target, options)?;
        let (reply, reply_path) = claim::create_reply(&dir, &paths, &token, target.uid)?;
        let mut session = Session {
            target,
            session_id: String::new(),
            agent_version: String::new(),
            timeout: options.timeout,
            interrupt: options.interrupt,
            next_id: 0,
            reader: LineReader::new(MAX_REPLY_LINE),
            reply,
            request,
            _reply_path: reply_path,
            spin: Duration::ZERO,
            on_wait: None,
            said_bye: false,
        };
        let hello = encode_line(&Request::Hello {
            v: PROTOCOL_VERSION,
            token: token.as_str().to_owned(),
            client_pid: std::process::id(),
        });
        let deadline = Instant::now() + options.timeout;
        session.write(&hello, deadline)?;
        // Nobody reads the request FIFO before the doorbell rings: a one-shot's
        // command and `bye` ride behind hello only if the FIFO holds them all unread,
        // else the write would block here forever. Larger ones are sent once the agent
        // is reading.
        let first = first.map(|code| {
            let (id, mut lines) = session.eval_line(code);
            lines.extend(encode_line(&Request::Bye));
            (id, lines)
        });
        let queued = first
            .as_ref()
            .is_some_and(|(_, lines)| hello.len() + lines.len() <= session.request_capacity());
        if let Some((_, lines)) = first.as_ref().filter(|_| queued) {
            session.write(lines, deadline)?;
            session.said_bye = true;
        }
        session.target.ring()?;
        match session.next_reply(deadline)? {
            Reply::Welcome {
                token: echoed,
                session: id,
                agent_version,
                ..
            } if echoed == token.as_str() => {
                session.session_id = id;
                session.agent_version = agent_version;
            }
            Reply::Error {
                kind: ErrorKind::Version,
                message,
                ..
            } => return Err(ConnectError::Version(message)),
            Reply::Error { message, .. } => return Err(ConnectError::Closed { reason: message }),
            other => {
                return Err(ConnectError::BadReply(format!(
                    "expected welcome, got {other:?}"
                )))
            }
        }
        if let Some((_, lines)) = first.as_ref().filter(|_| !queued) {
            session.write(lines, deadline)?;
            session.said_bye = true;
        }
        let outcome = first
            .map(|(id, _)| session.answer_to(id, deadline))
            .transpose()?;
        session.spin = SPIN;
        Ok((session, outcome))
    }

    /// Evaluates `code` in the session and waits for its answer.
    pub fn eval(&mut self, code: &str) -> Result<Outcome, ConnectError> {
        let deadline = Instant::now() + self.timeout;
        let id = self.queue_eval(code, deadline)?;
        self.answer_to(id, deadline)
    }

    fn queue_eval(&mut self, code: &str, deadline: Instant) -> Result<u64, ConnectError> {
        let (id, line) = self.eval_line(code);
        self.write(&line, deadline)?;
        Ok(id)
    }

    /// A new request id and the encoded `eval` line that carries it.
    fn eval_line(&mut self, code: &str) -> (u64, Vec<u8>) {
        let id = self.next_request_id();
        let line = encode_line(&Request::Eval {
            id,
            code: code.to_owned(),
        });
        (id, line)
    }

    fn send(&self, request: &Request, deadline: Instant) -> Result<(), ConnectError> {
        self.write(&encode_line(request), deadline)
    }

    fn write(&self, line: &[u8], deadline: Instant) -> Result<(), ConnectError> {
        write_all_by(self.request.fd.as_fd(), line, deadline).map_err(|err| self.wire_error(err))
    }

    /// How many bytes the request FIFO holds unread (64 KiB usually; one page when
    /// the user is over `pipe-user-pages-soft`).
    fn request_capacity(&self) -> usize {
        fcntl(self.request.fd.as_fd(), FcntlArg::F_GETPIPE_SZ).map_or(PIPE_BUF, |n| n as usize)
    }

    fn answer_to(&mut self, id: u64, deadline: Instant) -> Result<Outcome, ConnectError> {
        let reply = self.reply_to(id, deadline)?;
        Outcome::from_reply(reply)
            .map_err(|other| ConnectError::BadReply(format!("unexpected answer {other:?}")))
    }

    /// The reply to request `id` (or an error about an unreadable request), skipping
    /// late answers to requests we stopped waiting for.
    fn reply_to(&mut self, id: u64, deadline: Instant) -> Result<Reply, ConnectError> {
        loop {
            let reply = self.next_reply(deadline)?;
            let answers = match &reply {
                Reply::Value { id: got, .. }
                | Reply::Pong { id: got }
                | Reply::Completions { id: got, .. } => *got == id,
                Reply::Error { id: got, .. } => *got == Some(id) || got.is_none(),
                Reply::Bye { reason } => {
                    return Err(ConnectError::Closed {
                        reason: reason.clone(),
                    })
                }
                Reply::Welcome { .. } => false,
            };
            if answers {
                return Ok(reply);
            }
        }
    }

    /// Completion candidates for `line` with the cursor at byte `pos`: where the
    /// completed word starts, and what may replace it.
    pub fn complete(
        &mut self,
        line: &str,
        pos: usize,
    ) -> Result<(usize, Vec<String>), ConnectError> {
        let deadline = Instant::now() + self.timeout;
        let id = self.next_request_id();
        self.send(
            &Request::Complete {
                id,
                line: line.to_owned(),
                pos,
            },
            deadline,
        )?;
        match self.reply_to(id, deadline)? {
            Reply::Completions {
                start, candidates, ..
            } => Ok((start, candidates)),
            Reply::Error { message, .. } => Err(ConnectError::BadReply(message)),
            other => Err(ConnectError::BadReply(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    /// The session's variables and their values, as a map.
    pub fn vars(&mut self) -> Result<Outcome, ConnectError> {
        let deadline = Instant::now() + self.timeout;
        let id = self.next_request_id();
        self.send(&Request::Vars { id }, deadline)?;
        self.answer_to(id, deadline)
    }

    fn next_request_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The process this session is attached to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The session's name in the agent's audit log.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The agent's server-agent version.
    pub fn agent_version(&self) -> &str {
        &self.agent_version
    }

    /// Sets what to do while waiting for a slow reply (e.g. draw a spinner).
    pub fn on_wait(&mut self, hook: Option<Box<dyn FnMut(Duration)>>) {
        self.on_wait = hook;
    }

    fn next_reply(&mut self, deadline: Instant) -> Result<Reply, ConnectError> {
        if !self.reader.has_line() && !self.spin.is_zero() {
            spin_until_readable(self.reply.as_fd(), self.spin);
        }
        let waiting_since = Instant::now();
        loop {
            if self
                .interrupt
                .is_some_and(|flag| flag.load(Ordering::Relaxed))
            {
                return Err(ConnectError::Interrupted);
            }
            let slice = deadline.min(Instant::now() + LIVENESS_CHECK);
            match self.reader.read_line(self.reply.as_fd(), slice) {
                Ok(Some(line)) => {
                    return decode_line(&line)
                        .map_err(|err| ConnectError::BadReply(err.to_string()))
                }
                Ok(None) => return Err(self.gone("the agent closed the reply FIFO")),
                Err(WireError::Timeout) if Instant::now() < deadline => {
                    if let Some(hook) = self.on_wait.as_mut() {
                        hook(waiting_since.elapsed());
                    }
                    if !self.target.is_alive() {
                        return Err(ConnectError::Exited {
                            pid: self.target.pid,
                        });
                    }
                }
                Err(err) => return Err(self.wire_error(err)),
            }
        }
    }

    fn wire_error(&self, err: WireError) -> ConnectError {
        match err {
            WireError::Timeout => ConnectError::Timeout {
                pid: self.target.pid,
                after: self.timeout,
            },
            WireError::PeerGone => self.gone("the agent stopped reading"),
            other => ConnectError::BadReply(other.to_string()),
        }
    }

    fn gone(&self, reason: &str) -> ConnectError {
        if self.target.is_alive() {
            ConnectError::Closed {
                reason: reason.to_owned(),
            }
        } else {
            ConnectError::Exited {
                pid: self.target.pid,
            }
        }
    }
}

impl Drop for Session {
    /// Says `bye` (unless a one-shot already did) and reads the agent's `bye`
    /// (skipping late answers), so the session ends as docs/PROTOCOL.md says; gives up
    /// after `BYE_WAIT` or on an interrupt.
    fn drop(&mut self) {
        self.on_wait = None;
        let deadline = Instant::now() + BYE_WAIT;
        if !self.said_bye && self.send(&Request::Bye, deadline).is_err() {
            return;
        }
        while let Ok(reply) = self.next_reply(deadline) {
            if matches!(reply, Reply::Bye { .. }) {
                return;
            }
        }
    }
}

/// Polls `fd` without blocking until it is readable or `budget` has passed.
fn spin_until_readable(fd: std::os::fd::BorrowedFd<'_>, budget: Duration) {
    let until = Instant::now() + budget;
    while Instant::now() < until {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::ZERO).is_ok_and(|ready| ready > 0) {
            return;
        }
        std::hint::spin_loop();
    }
}
