//! Reading the host's registered values on behalf of a script or a completion.
//!
//! Every read goes through here so that the same three rules always hold: a lock is
//! waited for only until the command's deadline (then `busy`), a panic in host code
//! is caught, and redacted parts are removed before anything else sees the value.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use crate::quiet_panic;
use crate::state::live::{Live, ReadError};
use crate::state::redact;
use crate::state::registry::Registry;

/// Why a registered value could not be read.
pub(crate) enum ValueError {
    Busy,
    Failed(String),
    Panicked(String),
}

struct Entry {
    name: String,
    live: Arc<dyn Live>,
    redactions: Vec<Vec<String>>,
}

/// The registered values, by name.
pub(crate) struct Values(Vec<Entry>);

impl Values {
    pub(crate) fn from_registry(registry: &Registry) -> Values {
        Values(
            registry
                .values
                .iter()
                .map(|(name, entry)| Entry {
                    name: name.clone(),
                    live: entry.item.clone(),
                    redactions: registry.redactions_of(name),
                })
                .collect(),
        )
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|entry| entry.name.as_str())
    }

    /// The current value of `name`, redacted; None if nothing has that name.
    pub(crate) fn read(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Option<Result<serde_json::Value, ValueError>> {
        let entry = self.0.iter().find(|entry| entry.name == name)?;
        let read = catch_unwind(AssertUnwindSafe(|| entry.live.read(deadline)));
        Some(match read {
            Ok(Ok(mut json)) => {
                for keys in &entry.redactions {
                    redact::apply(&mut json, keys);
                }
                Ok(json)
            }
            Ok(Err(ReadError::Busy)) => Err(ValueError::Busy),
            Ok(Err(ReadError::Failed(why))) => Err(ValueError::Failed(why)),
            Err(payload) => Err(ValueError::Panicked(quiet_panic::message(payload.as_ref()))),
        })
    }
}
