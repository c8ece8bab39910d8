//! What the host registered, and how it is read: the registry of names, the `Live`
//! trait every registered value implements, typed host functions, views of
//! collections, and redaction.
//!
//! Nothing here evaluates scripts or knows about sessions; it must never hold a host
//! lock longer than one bounded read.

pub(crate) mod bounded;
mod collections;
mod field;
pub(crate) mod function;
pub(crate) mod live;
pub(crate) mod redact;
pub(crate) mod registry;
mod shared;
pub(crate) mod view;
