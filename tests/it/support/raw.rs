//! A hand-made client for attacks and fuzzing: it makes the FIFOs itself, writes raw
//! bytes, and reads replies with the protocol crate's own framing.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use attach_protocol::{
    decode_line, encode_line, write_all_by, FifoPaths, LineReader, Reply, Request, Token,
    WireError, MAX_REPLY_LINE, PROTOCOL_VERSION,
};
use nix::fcntl::{open, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::unistd::{mkfifo, Pid};

use super::WAIT;

pub struct RawClient {
    pub pid: u32,
    pub token: Token,
    request: OwnedFd,
    reply: Option<OwnedFd>,
    reader: LineReader,
    made: Vec<PathBuf>,
}

impl RawClient {
    /// Makes `/tmp/<pid>.pipe` and the reply FIFO (0600, ours) and opens them, but
    /// says nothing and rings nothing yet.
    pub fn prepare(pid: u32) -> RawClient {
        let paths = FifoPaths::for_pid(pid);
        let token = Token::generate().expect("token");
        let (request_path, reply_path) = (paths.request(), paths.reply(&token));
        for path in [&request_path, &reply_path] {
            mkfifo(path, Mode::S_IRUSR | Mode::S_IWUSR)
                .unwrap_or_else(|err| panic!("mkfifo {}: {err}", path.display()));
        }
        let nonblocking = OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let request = open(&request_path, OFlag::O_RDWR | nonblocking, Mode::empty()).unwrap();
        let reply = open(&reply_path, OFlag::O_RDONLY | nonblocking, Mode::empty()).unwrap();
        RawClient {
            pid,
            token,
            request,
            reply: Some(reply),
            reader: LineReader::new(MAX_REPLY_LINE),
            made: vec![request_path, reply_path],
        }
    }

    /// Prepares, says hello with protocol version `v`, rings, and returns the client
    /// with the agent's first answer.
    pub fn hello_with_version(pid: u32, v: u32) -> (RawClient, Reply) {
        let mut client = RawClient::prepare(pid);
        let hello = Request::Hello {
            v,
            token: client.token.as_str().to_owned(),
            client_pid: std::process::id(),
        };
        client.send(&encode_line(&hello));
        client.ring();
        let first = client.reply().expect("an answer to hello");
        (client, first)
    }

    /// A session that the agent welcomed.
    pub fn connect(pid: u32) -> RawClient {
        let (client, first) = RawClient::hello_with_version(pid, PROTOCOL_VERSION);
        assert!(matches!(first, Reply::Welcome { .. }), "{first:?}");
        client
    }

    pub fn ring(&self) {
        kill(Pid::from_raw(self.pid as i32), Signal::SIGUSR1).expect("ring the worker");
    }

    /// Writes bytes as they are (bounded by `WAIT`); false if they did not all go.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.send_within(bytes, WAIT)
    }

    /// Like `send`, giving up after `patience` (for a peer expected to stop reading).
    pub fn send_within(&mut self, bytes: &[u8], patience: Duration) -> bool {
        write_all_by(self.request.as_fd(), bytes, Instant::now() + patience).is_ok()
    }

    /// Sends `code` as an `eval` with `id`.
    pub fn eval(&mut self, id: u64, code: &str) {
        let request = Request::Eval {
            id,
            code: code.to_owned(),
        };
        assert!(self.send(&encode_line(&request)));
    }

    /// The next reply; `None` when the agent closed the reply FIFO.
    pub fn reply(&mut self) -> Option<Reply> {
        let reply = self.reply.as_ref().expect("reply FIFO still open");
        match self.reader.read_line(reply.as_fd(), Instant::now() + WAIT) {
            Ok(Some(line)) => Some(decode_line(&line).expect("the agent sends valid replies")),
            Ok(None) => None,
            Err(WireError::Timeout) => panic!("no reply within {WAIT:?}"),
            Err(err) => panic!("reading the reply FIFO: {err}"),
        }
    }

    /// Unlinks the reply FIFO (the agent then has nowhere to answer).
    pub fn unlink_reply(&self) {
        std::fs::remove_file(&self.made[1]).expect("unlink the reply FIFO");
    }

    /// Drops the read end of the reply FIFO, as a client that vanished would.
    pub fn close_reply(&mut self) {
        self.reply = None;
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        for path in &self.made {
            let _ = std::fs::remove_file(path);
        }
    }
}
