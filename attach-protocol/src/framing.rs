//! Newline-delimited JSON framing over non-blocking descriptors.
//!
//! Every read and write here takes a deadline, so neither side can be stalled forever
//! by a peer that stops reading or writing. Reads are bounded: a line longer than the
//! caller's limit is an error, never an unbounded allocation. Interrupted system calls
//! are retried (the PEP 475 lesson): EINTR is never an error a caller has to see.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What can go wrong on the wire.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The deadline passed.
    #[error("timed out waiting for the peer")]
    Timeout,
    /// A line went over the reader's limit; the rest of the stream is unusable.
    #[error("line longer than {limit} bytes")]
    LineTooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A line held nothing.
    #[error("empty line")]
    EmptyLine,
    /// A line is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A token is not 32 lowercase hex digits.
    #[error("session token is not 32 lowercase hex digits")]
    BadToken,
    /// The other side closed its end (EPIPE).
    #[error("the peer closed its end")]
    PeerGone,
    /// Another system error.
    #[error("I/O error: {0}")]
    Io(#[from] Errno),
}

/// Serializes `message` as one line, newline included.
pub fn encode_line<T: Serialize>(message: &T) -> Vec<u8> {
    // Serializing our own message types cannot fail: no maps with non-string keys.
    let mut line = serde_json::to_vec(message).expect("protocol messages always serialize");
    line.push(b'\n');
    line
}

/// Parses one line (without its newline). Invalid UTF-8, bad JSON, unknown `op` or
/// fields all come back as `Malformed`.
pub fn decode_line<T: DeserializeOwned>(line: &[u8]) -> Result<T, WireError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(WireError::EmptyLine);
    }
    Ok(serde_json::from_slice(line)?)
}

/// How much room a read offers (a FIFO holds 64 KiB by default; a line of a few
/// hundred bytes arrives in one read).
const READ_CHUNK: usize = 16 * 1024;

/// Reads newline-terminated lines from a non-blocking descriptor.
pub struct LineReader {
    buffer: Vec<u8>,
    scanned: usize,
    limit: usize,
}

impl LineReader {
    /// `limit` is the longest accepted line, newline excluded.
    pub fn new(limit: usize) -> LineReader {
        LineReader {
            buffer: Vec::new(),
            scanned: 0,
            limit,
        }
    }

    /// True when a complete line is already buffered (no read needed).
    pub fn has_line(&self) -> bool {
        self.buffer.contains(&b'\n')
    }

    /// The next line, if it is already buffered whole, without taking it.
    pub fn peek_line(&self) -> Option<&[u8]> {
        let end = self.buffer.iter().position(|&b| b == b'\n')?;
        (end <= self.limit).then(|| &self.buffer[..end])
    }

    /// The next line without its newline; `Ok(None)` at end of file (a partial last
    /// line is dropped). After `LineTooLong` the stream is out of step: close it.
    pub fn read_line(
        &mut self,
        fd: BorrowedFd<'_>,
        deadline: Instant,
    ) -> Result<Option<Vec<u8>>, WireError> {
        loop {
            if let Some(pos) = self.buffer[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + pos;
                if end > self.limit {
                    return Err(WireError::LineTooLong { limit: self.limit });
                }
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                self.scanned = 0;
                return Ok(Some(line));
            }
            self.scanned = self.buffer.len();
            if self.buffer.len() > self.limit {
                return Err(WireError::LineTooLong { limit: self.limit });
            }
            wait_for(fd, PollFlags::POLLIN, deadline)?;
            // Read straight into the buffer's spare room: a zeroed chunk on the stack
            // would touch (and fault in) 16 KiB for every read of a short line.
            self.buffer.reserve(READ_CHUNK);
            match rustix::io::read(fd, rustix::buffer::spare_capacity(&mut self.buffer)) {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => continue,
                Err(errno) => return Err(WireError::Io(Errno::from_raw(errno.raw_os_error()))),
            }
        }
    }
}

/// Writes all of `bytes` before `deadline`. A reader that went away is `PeerGone`
/// (EPIPE); the caller must have SIGPIPE blocked or ignored.
pub fn write_all_by(
    fd: BorrowedFd<'_>,
    mut bytes: &[u8],
    deadline: Instant,
) -> Result<(), WireError> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EAGAIN) => wait_for(fd, PollFlags::POLLOUT, deadline)?,
            Err(Errno::EINTR) => continue,
            Err(Errno::EPIPE) => return Err(WireError::PeerGone),
            Err(errno) => return Err(WireError::Io(errno)),
        }
    }
    Ok(())
}

/// Waits until `fd` is ready for `events` (or hung up, which the next read or write
/// reports), retrying on EINTR, failing with `Timeout` at `deadline`.
pub fn wait_for(fd: BorrowedFd<'_>, events: PollFlags, deadline: Instant) -> Result<(), WireError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(WireError::Timeout);
        }
        let mut fds = [PollFd::new(fd.as_fd(), events)];
        match poll(&mut fds, poll_timeout(left)) {
            Ok(0) => continue,
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(WireError::Io(errno)),
        }
    }
}

fn poll_timeout(left: Duration) -> PollTimeout {
    // Round up so a sub-millisecond remainder does not spin.
    let millis = left.as_millis().saturating_add(1);
    PollTimeout::try_from(millis.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Request;
    use std::os::fd::OwnedFd;

    fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC).unwrap()
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(2)
    }

    #[test]
    fn reads_lines_split_across_writes() {
        let (r, w) = pipe();
        let mut reader = LineReader::new(64);
        nix::unistd::write(&w, b"{\"op\":\"by").unwrap();
        nix::unistd::write(&w, b"e\"}\nnext\n").unwrap();
        let line = reader.read_line(r.as_fd(), soon()).unwrap().unwrap();
        assert_eq!(decode_line::<Request>(&line).unwrap(), Request::Bye);
        assert_eq!(
            reader.read_line(r.as_fd(), soon()).unwrap().unwrap(),
            b"next"
        );
        drop(w);
        assert!(reader.read_line(r.as_fd(), soon()).unwrap().is_none());
    }

    #[test]
    fn a_buffered_line_can_be_seen_before_it_is_taken() {
        let (r, w) = pipe();
        let mut reader = LineReader::new(10);
        assert_eq!(reader.peek_line(), None);
        nix::unistd::write(&w, b"first\nbye\nhalf").unwrap();
        assert_eq!(
            reader.read_line(r.as_fd(), soon()).unwrap().unwrap(),
            b"first"
        );
        assert_eq!(reader.peek_line(), Some(&b"bye"[..]));
        assert_eq!(
            reader.read_line(r.as_fd(), soon()).unwrap().unwrap(),
            b"bye"
        );
        assert_eq!(reader.peek_line(), None, "a partial line is not a line");
        nix::unistd::write(&w, b"-too-long-for-ten\n").unwrap();
        let _ = reader.read_line(r.as_fd(), soon());
        assert_eq!(reader.peek_line(), None);
    }

    #[test]
    fn long_lines_are_refused_without_growing_forever() {
        let (r, w) = pipe();
        let mut reader = LineReader::new(10);
        nix::unistd::write(&w, &[b'a'; 100]).unwrap();
        let err = reader.read_line(r.as_fd(), soon()).unwrap_err();
        assert!(matches!(err, WireError::LineTooLong { limit: 10 }));
    }

    #[test]
    fn the_cap_is_exact_even_when_the_newline_arrives_in_the_same_read() {
        let (r, w) = pipe();
        let mut reader = LineReader::new(10);
        nix::unistd::write(&w, b"0123456789\n").unwrap();
        assert_eq!(
            reader.read_line(r.as_fd(), soon()).unwrap().unwrap(),
            b"0123456789"
        );
        nix::unistd::write(&w, b"0123456789A\n").unwrap();
        assert!(matches!(
            reader.read_line(r.as_fd(), soon()),
            Err(WireError::LineTooLong { limit: 10 })
        ));
    }

    #[test]
    fn silent_peer_times_out() {
        let (r, _w) = pipe();
        let mut reader = LineReader::new(10);
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(matches!(
            reader.read_line(r.as_fd(), deadline),
            Err(WireError::Timeout)
        ));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for line in [
            &b"\xff\xfe"[..],
            b"{",
            b"[]",
            b"{\"op\":\"launch\"}",
            b"null",
        ] {
            assert!(matches!(
                decode_line::<Request>(line),
                Err(WireError::Malformed(_))
            ));
        }
        assert!(matches!(
            decode_line::<Request>(b"  "),
            Err(WireError::EmptyLine)
        ));
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::message::{Reply, Request};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        /// Any bytes at all: the decoders answer with a value or an error, never a panic.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(
            line in proptest::collection::vec(any::<u8>(), 0..512)
        ) {
            let _ = decode_line::<Request>(&line);
            let _ = decode_line::<Reply>(&line);
        }

        /// Valid requests with bytes flipped, dropped or inserted.
        #[test]
        fn decoding_mutated_requests_never_panics(
            id in any::<u64>(),
            code in ".{0,64}",
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
        ) {
            let mut line = encode_line(&Request::Eval { id, code });
            line.pop();
            for (at, byte, how) in edits {
                let at = at % (line.len() + 1);
                match how {
                    0 if at < line.len() => line[at] = byte,
                    1 if at < line.len() => { line.remove(at); }
                    _ => line.insert(at, byte),
                }
            }
            let _ = decode_line::<Request>(&line);
        }

        /// What we encode, we decode to the same message.
        #[test]
        fn eval_requests_round_trip(id in any::<u64>(), code in any::<String>()) {
            let request = Request::Eval { id, code };
            let line = encode_line(&request);
            prop_assert_eq!(decode_line::<Request>(&line[..line.len() - 1]).unwrap(), request);
        }
    }
}
