//! The reply side of a session: one JSON line per reply, capped at the reply limit,
//! written with a deadline. It may hold a reply back so that the next one leaves in
//! the same write (one wake-up of the client instead of two); it never writes
//! anything but whole lines.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use attach_protocol::{encode_line, write_all_by, ErrorKind, Reply, WireError};

use crate::limits::Limits;

/// The reply side: one JSON line per reply, size-capped, with a write deadline.
pub(super) struct Channel<'a> {
    reply: OwnedFd,
    limits: &'a Limits,
    /// Lines held back to go out with the next reply.
    held: Vec<u8>,
}

impl<'a> Channel<'a> {
    pub(super) fn new(reply: OwnedFd, limits: &'a Limits) -> Channel<'a> {
        Channel {
            reply,
            limits,
            held: Vec::new(),
        }
    }

    pub(super) fn limits(&self) -> &'a Limits {
        self.limits
    }

    /// Keeps `reply` for the next `send`, which writes both at once.
    pub(super) fn hold(&mut self, reply: &Reply) {
        let line = self.capped_line(reply);
        self.held.extend_from_slice(&line);
    }

    pub(super) fn send(&mut self, reply: &Reply) -> Result<(), WireError> {
        let mut line = std::mem::take(&mut self.held);
        line.extend_from_slice(&self.capped_line(reply));
        write_all_by(
            self.reply.as_fd(),
            &line,
            Instant::now() + self.limits.write_timeout,
        )
    }

    /// `reply` as one line, or a limit error in its place when it is too long.
    fn capped_line(&self, reply: &Reply) -> Vec<u8> {
        let line = encode_line(reply);
        if line.len() > self.limits.max_reply_bytes {
            let id = match reply {
                Reply::Value { id, .. } => Some(*id),
                _ => None,
            };
            let message = format!(
                "the result is {} bytes, over the {} byte reply limit; \
                 select less (e.g. a slice or a few keys)",
                line.len(),
                self.limits.max_reply_bytes
            );
            return encode_line(&Reply::error(id, ErrorKind::Limit, message));
        }
        line
    }
}
