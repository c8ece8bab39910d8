//! Where the FIFOs live and how a session token is made.
//!
//! The agent never takes a path from the wire: it derives both FIFO paths from its
//! own pid and the session token, and the token must be 32 lowercase hex digits, so
//! a client cannot steer the agent at `../../etc/passwd` or anywhere else.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::framing::WireError;

/// The directory both sides use. Fixed (not `$TMPDIR`) so that client and agent
/// always agree, whatever their environments say.
pub const FIFO_DIR: &str = "/tmp";

const TOKEN_BYTES: usize = 16;

/// A fresh, unguessable session token (128 bits from the kernel's CSPRNG).
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Reads 16 bytes from `/dev/urandom`.
    pub fn generate() -> std::io::Result<Token> {
        let mut bytes = [0u8; TOKEN_BYTES];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        Ok(Token(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// Accepts exactly 32 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Token, WireError> {
        let well_formed = text.len() == TOKEN_BYTES * 2
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if well_formed {
            Ok(Token(text.to_owned()))
        } else {
            Err(WireError::BadToken)
        }
    }

    /// The 32 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    // Tokens are short-lived secrets: keep them out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

/// The FIFO paths of one target process, as seen from the caller's mount namespace.
#[derive(Debug, Clone)]
pub struct FifoPaths {
    dir: PathBuf,
    pid: u32,
}

impl FifoPaths {
    /// Paths for `pid` under the standard directory.
    pub fn for_pid(pid: u32) -> FifoPaths {
        FifoPaths::in_dir(Path::new(FIFO_DIR), pid)
    }

    /// Paths for `pid` under another directory (e.g. `/proc/<host pid>/root/tmp`
    /// for a process in its own mount namespace, with `pid` its namespaced pid).
    pub fn in_dir(dir: &Path, pid: u32) -> FifoPaths {
        FifoPaths {
            dir: dir.to_owned(),
            pid,
        }
    }

    /// `/tmp/<pid>.pipe`: the client writes requests here.
    pub fn request(&self) -> PathBuf {
        self.dir.join(format!("{}.pipe", self.pid))
    }

    /// `/tmp/<pid>.<token>.reply`: the agent writes replies here.
    pub fn reply(&self, token: &Token) -> PathBuf {
        self.dir
            .join(format!("{}.{}.reply", self.pid, token.as_str()))
    }

    /// True for names that look like a reply FIFO of this pid (used to sweep the
    /// leftovers of crashed clients).
    pub fn is_reply_name(&self, file_name: &str) -> bool {
        file_name
            .strip_prefix(&format!("{}.", self.pid))
            .and_then(|rest| rest.strip_suffix(".reply"))
            .is_some_and(|token| Token::parse(token).is_ok())
    }

    /// The pid as the target sees it (its namespaced pid, if any).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The directory that holds the FIFOs (`/tmp`, or a container's `/tmp`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert!(Token::parse(a.as_str()).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn tokens_with_path_characters_are_rejected() {
        for bad in [
            "",
            "../../etc/passwd",
            &"A".repeat(32),
            &"0".repeat(31),
            &"0".repeat(33),
        ] {
            assert!(Token::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_follow_the_documented_names() {
        let paths = FifoPaths::for_pid(42);
        let token = Token::parse(&"ab".repeat(16)).unwrap();
        assert_eq!(paths.request(), Path::new("/tmp/42.pipe"));
        assert_eq!(
            paths.reply(&token),
            PathBuf::from(format!("/tmp/42.{}.reply", "ab".repeat(16)))
        );
        assert!(paths.is_reply_name(&format!("42.{}.reply", "ab".repeat(16))));
        assert!(!paths.is_reply_name(&format!("421.{}.reply", "ab".repeat(16))));
        assert!(!paths.is_reply_name("42.pipe"));
    }
}
