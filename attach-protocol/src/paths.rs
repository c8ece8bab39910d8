//! Where the FIFOs live and how a session token is made.
//!
//! The agent never takes a path from the wire: it derives both FIFO paths from its
//! own pid and the session token, and the token must be 32 lowercase hex digits, so
//! a client cannot steer the agent at `../../etc/passwd` or anywhere else.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::framing::WireError;

/// The directory both sides use. Fixed (not `$TMPDIR`) so that client and agent
/// always agree, whatever their environments say.
pub const FIFO_DIR: &str = "/tmp";

const TOKEN_BYTES: usize = 16;

/// Prefix of the agent's private directory in `/tmp`: `.attach-<pid>.<random>`.
const PRIVATE_DIR_PREFIX: &str = ".attach-";

/// The name of a private directory for `pid`, made unpredictable by `nonce`.
pub fn private_dir_name(pid: u32, nonce: &Token) -> String {
    format!("{PRIVATE_DIR_PREFIX}{pid}.{}", nonce.as_str())
}

/// The pid a private directory name was made for, if `name` is one.
pub fn private_dir_pid(name: &str) -> Option<u32> {
    let (pid, nonce) = name.strip_prefix(PRIVATE_DIR_PREFIX)?.split_once('.')?;
    Token::parse(nonce).ok()?;
    pid.parse().ok()
}

/// A fresh, unguessable session token (128 bits from the kernel's CSPRNG).
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// 16 bytes from `getrandom(2)`: one system call, no file to open.
    pub fn generate() -> std::io::Result<Token> {
        let mut bytes = [0u8; TOKEN_BYTES];
        let mut filled = 0;
        while filled < bytes.len() {
            match rustix::rand::getrandom(
                &mut bytes[filled..],
                rustix::rand::GetRandomFlags::empty(),
            ) {
                Ok(n) => filled += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let text = bytes
            .iter()
            .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
            .map(char::from)
            .collect();
        Ok(Token(text))
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

/// The FIFO names of one target process, as the target sees itself (its namespaced
/// pid, if any). Which directory they live in is the session's `crate::dir::Dir`.
#[derive(Debug, Clone, Copy)]
pub struct FifoPaths {
    pid: u32,
}

impl FifoPaths {
    /// The names for `pid`, the pid the target sees itself as.
    pub fn for_pid(pid: u32) -> FifoPaths {
        FifoPaths { pid }
    }

    /// `<pid>.pipe`: the client writes requests here.
    pub fn request_name(&self) -> String {
        format!("{}.pipe", self.pid)
    }

    /// `<pid>.<token>.reply`: the agent writes replies here.
    pub fn reply_name(&self, token: &Token) -> String {
        format!("{}.{}.reply", self.pid, token.as_str())
    }

    /// `/tmp/<pid>.pipe`, the request FIFO in the shared directory.
    pub fn request(&self) -> PathBuf {
        Path::new(FIFO_DIR).join(self.request_name())
    }

    /// `/tmp/<pid>.<token>.reply`, a reply FIFO in the shared directory.
    pub fn reply(&self, token: &Token) -> PathBuf {
        Path::new(FIFO_DIR).join(self.reply_name(token))
    }

    /// True for names that look like a reply FIFO of this pid (used to sweep the
    /// leftovers of crashed clients).
    pub fn is_reply_name(&self, file_name: &str) -> bool {
        file_name
            .strip_prefix(&format!("{}.", self.pid))
            .and_then(|rest| rest.strip_suffix(".reply"))
            .is_some_and(|token| Token::parse(token).is_ok())
    }

    /// The pid as the target sees it.
    pub fn pid(&self) -> u32 {
        self.pid
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
    fn private_dir_names_round_trip() {
        let nonce = Token::generate().unwrap();
        assert_eq!(private_dir_pid(&private_dir_name(42, &nonce)), Some(42));
        assert_eq!(private_dir_pid(".attach-42.nothex"), None);
        assert_eq!(private_dir_pid("42.pipe"), None);
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
