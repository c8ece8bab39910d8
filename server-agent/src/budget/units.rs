//! Sizes and durations as people read them, for the messages that name a budget.

use std::fmt;
use std::time::Duration;

/// A byte count as people read it: "64 MiB", "1.5 KiB", "12 bytes".
pub(crate) struct Bytes(pub(crate) usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
        let mut value = self.0 as f64;
        let mut unit = None;
        for next in UNITS {
            if value < 1024.0 {
                break;
            }
            value /= 1024.0;
            unit = Some(next);
        }
        match unit {
            None => write!(f, "{} bytes", self.0),
            Some(unit) if value.fract() == 0.0 => write!(f, "{value} {unit}"),
            Some(unit) => write!(f, "{value:.1} {unit}"),
        }
    }
}

/// A duration as people read it: "1s", "250ms", "1.5s".
pub(crate) struct Span(pub(crate) Duration);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms < 1000 {
            write!(f, "{ms}ms")
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{}s", ms as f64 / 1000.0)
        }
    }
}
