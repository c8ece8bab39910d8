//! `DoorbellSignal`: which signal rings the agent.
//!
//! The crate's own type, so that the public API does not expose `nix` (a `nix`
//! upgrade must not break hosts). It never installs or sends anything itself.

use std::fmt;
use std::str::FromStr;

use nix::sys::signal::Signal;

/// The signal that rings the agent's doorbell (default SIGUSR1).
///
/// ```
/// use server_agent::DoorbellSignal;
/// assert_eq!("usr2".parse(), Ok(DoorbellSignal::USR2));
/// assert_eq!(DoorbellSignal::USR2.to_string(), "SIGUSR2");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DoorbellSignal(Signal);

impl DoorbellSignal {
    /// SIGUSR1, the default.
    pub const USR1: DoorbellSignal = DoorbellSignal(Signal::SIGUSR1);
    /// SIGUSR2, for hosts that already handle SIGUSR1.
    pub const USR2: DoorbellSignal = DoorbellSignal(Signal::SIGUSR2);

    /// The signal with this number (e.g. `libc::SIGUSR2`), if there is one.
    pub fn from_number(number: i32) -> Option<DoorbellSignal> {
        Signal::try_from(number).ok().map(DoorbellSignal)
    }

    /// The signal's number, as `kill(2)` takes it.
    pub fn number(self) -> i32 {
        self.0 as i32
    }

    pub(crate) fn as_nix(self) -> Signal {
        self.0
    }
}

impl Default for DoorbellSignal {
    fn default() -> DoorbellSignal {
        DoorbellSignal::USR1
    }
}

impl fmt::Display for DoorbellSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// A name that is not a signal's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a signal name (try USR1 or USR2)")]
pub struct UnknownSignal(String);

impl FromStr for DoorbellSignal {
    type Err = UnknownSignal;

    /// Accepts `SIGUSR2`, `USR2` or `usr2`.
    fn from_str(text: &str) -> Result<DoorbellSignal, UnknownSignal> {
        attach_protocol::marker::parse_signal(text)
            .map(DoorbellSignal)
            .ok_or_else(|| UnknownSignal(text.to_owned()))
    }
}
