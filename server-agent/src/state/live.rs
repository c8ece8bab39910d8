//! Live values: state the host registers and every read sees as it is *now*.
//!
//! A read must never stall the agent behind a host lock: locks are taken with
//! `try_lock` in a short backoff loop until the command's deadline, then the read
//! fails as `Busy`. A poisoned lock is still read (inspecting state after a panic is
//! exactly what an operator wants); scripts get copies of what they read, never a
//! reference, so they cannot change host state through a live value. Collections
//! behind a lock are read as views (see `view`): one bounded chunk per lock.

use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicIsize, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::{Arc, Mutex, RwLock, TryLockError};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::state::view::{to_json, Chunk, Cursor, Inspect, Part, Shape, Stint, View};

/// Why a live read did not produce a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// A lock stayed held by the host until the deadline.
    Busy,
    /// The value could not be turned into data.
    Failed(String),
}

/// Something the agent can read on demand: what `AgentBuilder::live` registers.
///
/// Implemented for atomics, for `Mutex<T>` and `RwLock<T>` (and the tokio locks with
/// the `tokio` feature) holding a `T: Inspect`, for `ArcSwap` and `DashMap` with the
/// `arc-swap` and `dashmap` features, and for `Arc` of any of these. Plain `Arc<T>`
/// of immutable data registers too (see [`IntoLive`]).
///
/// To make a type of yours live, implement `read` (the whole value, taking any lock
/// only until `deadline`); if it is a large collection, also implement [`View`] and
/// return it from `view` so that scripts read it a piece at a time:
///
/// ```
/// use std::time::Instant;
/// use server_agent::{Live, ReadError};
///
/// struct Uptime(Instant);
///
/// impl Live for Uptime {
///     fn read(&self, _deadline: Instant) -> Result<serde_json::Value, ReadError> {
///         Ok(self.0.elapsed().as_secs().into())
///     }
/// }
///
/// let _agent = server_agent::Agent::builder().live("uptime", "seconds up", Uptime(Instant::now()));
/// ```
pub trait Live: Send + Sync + 'static {
    /// The current value, waiting at most until `deadline` for any lock.
    fn read(&self, deadline: Instant) -> Result<Value, ReadError>;

    /// The value as a view, when it is a collection scripts should read lazily;
    /// `None` (the default) means `read` is used.
    fn view(&self) -> Option<&dyn View> {
        None
    }
}

impl<L: Live + ?Sized> Live for Arc<L> {
    fn read(&self, deadline: Instant) -> Result<Value, ReadError> {
        (**self).read(deadline)
    }

    fn view(&self) -> Option<&dyn View> {
        (**self).view()
    }
}

/// What `AgentBuilder::live` accepts: anything [`Live`], and `Arc<T>` of immutable data
/// (`T: Serialize + Clone`, read whole on every access). The marker type `M` only tells
/// the two apart; it is inferred, never written. (Locks and atomics are not `Clone`,
/// which is how `Arc<Mutex<T>>` and `Arc<Config>` never mean the same thing.)
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be registered with `.live`",
    note = "register atomics, Mutex/RwLock of a collection or an `Inspect` type, `Arc<T>` of immutable `T: Serialize + Clone`, or implement `server_agent::Live`; `.value(name, help, getter)` takes a closure"
)]
pub trait IntoLive<M> {
    /// The value as the agent keeps it.
    fn into_live(self) -> Arc<dyn Live>;
}

/// Markers for [`IntoLive`].
pub mod marker {
    /// A type that implements `Live` itself.
    pub struct Itself;
    /// `Arc<T>` of immutable data.
    pub struct Immutable;
}

impl<L: Live> IntoLive<marker::Itself> for L {
    fn into_live(self) -> Arc<dyn Live> {
        Arc::new(self)
    }
}

impl<T: Serialize + Clone + Send + Sync + 'static> IntoLive<marker::Immutable> for Arc<T> {
    fn into_live(self) -> Arc<dyn Live> {
        Arc::new(Immutable(self))
    }
}

/// `Arc<T>` of data nobody changes: read whole, no lock.
struct Immutable<T>(Arc<T>);

impl<T: Serialize + Send + Sync + 'static> Live for Immutable<T> {
    fn read(&self, _deadline: Instant) -> Result<Value, ReadError> {
        to_json(&*self.0)
    }
}

macro_rules! live_atomic {
    ($($atomic:ty),*) => {$(
        impl Live for $atomic {
            fn read(&self, _deadline: Instant) -> Result<Value, ReadError> {
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

/// A lock the agent reads through: `locked` runs `read` under the lock, trying until
/// the deadline.
pub(crate) trait Guarded {
    type Inner;
    fn locked<R>(
        &self,
        deadline: Instant,
        read: impl FnOnce(&Self::Inner) -> R,
    ) -> Result<R, ReadError>;
}

impl<T> Guarded for Mutex<T> {
    type Inner = T;
    fn locked<R>(&self, deadline: Instant, read: impl FnOnce(&T) -> R) -> Result<R, ReadError> {
        let guard = retry_until(deadline, || match self.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        })?;
        Ok(read(&guard))
    }
}

impl<T> Guarded for RwLock<T> {
    type Inner = T;
    fn locked<R>(&self, deadline: Instant, read: impl FnOnce(&T) -> R) -> Result<R, ReadError> {
        let guard = retry_until(deadline, || match self.try_read() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        })?;
        Ok(read(&guard))
    }
}

#[cfg(feature = "tokio")]
impl<T> Guarded for tokio::sync::Mutex<T> {
    type Inner = T;
    fn locked<R>(&self, deadline: Instant, read: impl FnOnce(&T) -> R) -> Result<R, ReadError> {
        let guard = retry_until(deadline, || self.try_lock().ok())?;
        Ok(read(&guard))
    }
}

#[cfg(feature = "tokio")]
impl<T> Guarded for tokio::sync::RwLock<T> {
    type Inner = T;
    fn locked<R>(&self, deadline: Instant, read: impl FnOnce(&T) -> R) -> Result<R, ReadError> {
        let guard = retry_until(deadline, || self.try_read().ok())?;
        Ok(read(&guard))
    }
}

/// `Live` and `View` for a lock holding a `T: Inspect`: collections become views.
macro_rules! live_lock {
    ($(#[$attr:meta])* $lock:ident $(+ $bound:ident)?) => {
        $(#[$attr])*
        impl<T: Inspect $(+ $bound)?> Live for $lock<T> {
            fn read(&self, deadline: Instant) -> Result<Value, ReadError> {
                self.locked(deadline, |inner| to_json(inner))?
            }

            fn view(&self) -> Option<&dyn View> {
                T::SHAPE.map(|_| self as &dyn View)
            }
        }

        $(#[$attr])*
        impl<T: Inspect $(+ $bound)?> View for $lock<T> {
            fn shape(&self) -> Shape {
                T::SHAPE.unwrap_or(Shape::List)
            }

            fn len(&self, deadline: Instant) -> Result<usize, ReadError> {
                self.locked(deadline, |inner| inner.len())
            }

            fn get(&self, key: &Value, deadline: Instant) -> Result<Option<Value>, ReadError> {
                self.locked(deadline, |inner| inner.get(key))?
            }

            fn get_field(
                &self,
                key: &Value,
                field: &str,
                deadline: Instant,
            ) -> Result<Option<Value>, ReadError> {
                self.locked(deadline, |inner| inner.get_field(key, field))?
            }

            fn chunk(
                &self,
                from: &Cursor,
                part: Part,
                stint: Stint,
                deadline: Instant,
            ) -> Result<Chunk, ReadError> {
                // Written as text under the lock, turned into values after it.
                self.locked(deadline, |inner| inner.chunk(from, part, stint))??.decode()
            }
        }
    };
}

#[cfg(feature = "tokio")]
use tokio::sync::Mutex as TokioMutex;
#[cfg(feature = "tokio")]
use tokio::sync::RwLock as TokioRwLock;

live_lock!(Mutex);
live_lock!(RwLock + Sync);
live_lock!(
    #[cfg(feature = "tokio")]
    TokioMutex
);
live_lock!(
    #[cfg(feature = "tokio")]
    TokioRwLock
        + Sync
);

/// A getter closure: called on every read. It must not block for long; prefer the
/// lock-aware impls above for shared data.
pub(crate) struct Getter<F>(pub(crate) F);

impl<T, F> Live for Getter<F>
where
    T: Serialize,
    F: Fn() -> T + Send + Sync + 'static,
{
    fn read(&self, _deadline: Instant) -> Result<Value, ReadError> {
        to_json(&(self.0)())
    }
}

/// Calls `attempt` until it yields, pausing a little longer each time (20 µs up to
/// 5 ms), and gives up as `Busy` at `deadline`.
pub(crate) fn retry_until<G>(
    deadline: Instant,
    mut attempt: impl FnMut() -> Option<G>,
) -> Result<G, ReadError> {
    let mut pause = Duration::from_micros(20);
    loop {
        if let Some(got) = attempt() {
            return Ok(got);
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
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn a_held_mutex_reads_as_busy_by_the_deadline() {
        let shared = Arc::new(Mutex::new(vec![1, 2]));
        let _held = shared.lock().unwrap();
        let started = Instant::now();
        let result = shared.read(started + Duration::from_millis(30));
        assert_eq!(result, Err(ReadError::Busy));
        let view = shared.view().expect("a vector is a view");
        assert_eq!(
            view.len(started + Duration::from_millis(30)),
            Err(ReadError::Busy)
        );
    }

    #[test]
    fn atomics_getters_and_immutable_arcs_read_current_values() {
        let counter = Arc::new(AtomicU64::new(3));
        counter.store(5, Ordering::Relaxed);
        assert_eq!(counter.read(Instant::now()), Ok(serde_json::json!(5)));
        assert_eq!(
            Getter(|| "hi").read(Instant::now()),
            Ok(serde_json::json!("hi"))
        );
        let frozen = Arc::new(HashMap::from([("a", 1)])).into_live();
        assert_eq!(frozen.read(Instant::now()), Ok(serde_json::json!({"a": 1})));
    }

    #[test]
    fn scalars_behind_locks_are_read_whole_and_collections_as_views() {
        let name = Arc::new(RwLock::new("idle".to_owned()));
        assert!(name.view().is_none());
        assert_eq!(name.read(Instant::now()), Ok(serde_json::json!("idle")));
        let map = Arc::new(Mutex::new(HashMap::from([("k".to_owned(), 1)])));
        let view = map.view().expect("a map is a view");
        let soon = Instant::now() + Duration::from_secs(1);
        assert_eq!(
            view.get(&serde_json::json!("k"), soon),
            Ok(Some(serde_json::json!(1)))
        );
        assert_eq!(view.len(soon), Ok(1));
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn tokio_locks_are_read_with_try_lock() {
        let map = Arc::new(tokio::sync::RwLock::new(HashMap::from([(1u32, "one")])));
        let soon = Instant::now() + Duration::from_millis(30);
        let view = map.view().expect("a map is a view");
        assert_eq!(
            view.get(&serde_json::json!(1), soon),
            Ok(Some(serde_json::json!("one")))
        );
        let _writing = map.try_write().unwrap();
        assert_eq!(view.len(soon), Err(ReadError::Busy));
    }
}
