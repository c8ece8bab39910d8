//! The lines of a piped stdin, read without blocking past the worker's life.
//!
//! `BufRead::lines` would sleep in `read` for as long as the writer keeps the pipe
//! open, however long ago the worker died. Here every wait for input also watches
//! the target (`liveness`) and the Ctrl-C flag.

use std::os::fd::AsFd;

use attach_cli::ConnectError;
use nix::errno::Errno;

use crate::liveness::{ExitWatch, Woken};

/// Bytes asked of stdin at a time.
const CHUNK: usize = 64 * 1024;

pub struct InputLines {
    watch: ExitWatch,
    /// Bytes read; those before `taken` were handed out already.
    pending: Vec<u8>,
    taken: usize,
    ended: bool,
}

impl InputLines {
    pub fn new(watch: ExitWatch) -> InputLines {
        InputLines {
            watch,
            pending: Vec::new(),
            taken: 0,
            ended: false,
        }
    }

    /// The next line without its line ending; None at the end of the input.
    pub fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        loop {
            let rest = &self.pending[self.taken..];
            if let Some(length) = rest.iter().position(|&b| b == b'\n') {
                let line = rest[..length].to_vec();
                self.taken += length + 1;
                return decode(line).map(Some);
            }
            if self.ended {
                let line = rest.to_vec();
                self.taken = self.pending.len();
                return match line.is_empty() {
                    true => Ok(None),
                    false => decode(line).map(Some),
                };
            }
            self.pending.drain(..self.taken);
            self.taken = 0;
            self.fill()?;
        }
    }

    fn fill(&mut self) -> anyhow::Result<()> {
        let stdin = std::io::stdin();
        match self.watch.wait_for_input(stdin.as_fd()) {
            Woken::Input => {}
            Woken::Exited => {
                return Err(ConnectError::Exited {
                    pid: self.watch.pid(),
                }
                .into())
            }
            Woken::Interrupted => return Err(ConnectError::Interrupted.into()),
        }
        let mut chunk = vec![0u8; CHUNK];
        match nix::unistd::read(stdin.as_fd(), &mut chunk) {
            Ok(0) => self.ended = true,
            Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(errno) => return Err(anyhow::Error::new(errno).context("cannot read stdin")),
        }
        Ok(())
    }
}

fn decode(mut line: Vec<u8>) -> anyhow::Result<String> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map_err(|_| anyhow::anyhow!("cannot read stdin: a line is not valid UTF-8"))
}
