//! Live values: state the host registers and every read sees as it is *now*.
//!
//! A read must never stall the agent behind a host lock: locks are taken with
//! `try_lock` in a short backoff loop until the command's deadline, then the read
//! fails as `Busy`. A poisoned lock is still read (inspecting state after a panic is
//! exactly what an operator wants); scripts get a copy, never a reference, so they
//! cannot change host state through a live value.

use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicIsize, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::{Arc, Mutex, RwLock, TryLockError};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Why a live read did not produce a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// A lock stayed held by the host until the deadline.
    Busy,
    /// The value could not be turned into data.
    Failed(String),
}

/// Something the agent can read on demand.
pub trait Live: Send + Sync + 'static {
    /// The current value, waiting at most until `deadline` for any lock.
    fn read(&self, deadline: Instant) -> Result<serde_json::Value, ReadError>;
}

macro_rules! live_atomic {
    ($($atomic:ty),*) => {$(
        impl Live for Arc<$atomic> {
            fn read(&self, _deadline: Instant) -> Result<serde_json::Value, ReadError> {
                Ok(serde_json::json!(self.load(Ordering::Relaxed)))
            }
        }
    )*};
}

live_atomic!(
    AtomicBool,
    AtomicI32,
    AtomicI64,
    AtomicIsize,
    AtomicU32,
    AtomicU64,
    AtomicUsize
);

impl<T: Serialize + Send + Sync + 'static> Live for Arc<Mutex<T>> {
    fn read(&self, deadline: Instant) -> Result<serde_json::Value, ReadError> {
        retry_until(deadline, || match self.try_lock() {
            Ok(guard) => Some(to_json(&*guard)),
            Err(TryLockError::Poisoned(poisoned)) => Some(to_json(&*poisoned.into_inner())),
            Err(TryLockError::WouldBlock) => None,
        })
    }
}

impl<T: Serialize + Send + Sync + 'static> Live for Arc<RwLock<T>> {
    fn read(&self, deadline: Instant) -> Result<serde_json::Value, ReadError> {
        retry_until(deadline, || match self.try_read() {
            Ok(guard) => Some(to_json(&*guard)),
            Err(TryLockError::Poisoned(poisoned)) => Some(to_json(&*poisoned.into_inner())),
            Err(TryLockError::WouldBlock) => None,
        })
    }
}

/// A getter closure: called on every read. It must not block for long; prefer the
/// lock-aware impls above for shared data.
pub(crate) struct Getter<F>(pub(crate) F);

impl<T, F> Live for Getter<F>
where
    T: Serialize,
    F: Fn() -> T + Send + Sync + 'static,
{
    fn read(&self, _deadline: Instant) -> Result<serde_json::Value, ReadError> {
        to_json(&(self.0)())
    }
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<serde_json::Value, ReadError> {
    serde_json::to_value(value).map_err(|err| ReadError::Failed(err.to_string()))
}

fn retry_until(
    deadline: Instant,
    mut attempt: impl FnMut() -> Option<Result<serde_json::Value, ReadError>>,
) -> Result<serde_json::Value, ReadError> {
    let mut pause = Duration::from_micros(20);
    loop {
        if let Some(result) = attempt() {
            return result;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(ReadError::Busy);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_mutex_reads_as_busy_by_the_deadline() {
        let shared = Arc::new(Mutex::new(vec![1, 2]));
        let _held = shared.lock().unwrap();
        let started = Instant::now();
        let result = shared.read(started + Duration::from_millis(30));
        assert_eq!(result, Err(ReadError::Busy));
    }

    #[test]
    fn atomics_and_getters_read_current_values() {
        let counter = Arc::new(AtomicU64::new(3));
        counter.store(5, Ordering::Relaxed);
        assert_eq!(counter.read(Instant::now()), Ok(serde_json::json!(5)));
        assert_eq!(
            Getter(|| "hi").read(Instant::now()),
            Ok(serde_json::json!("hi"))
        );
    }
}
