//! Shared pieces of the example workers: a minimal HTTP/1.1 codec, a tiny blocking
//! HTTP client for demos and tests, and the flag-and-self-pipe signal pattern of
//! docs/LESSONS.md (a handler does one async-signal-safe thing; a normal thread acts).

#[cfg(feature = "async")]
pub mod axum_serve;
pub mod config;
pub mod http;
pub mod http_client;
pub mod pod;
pub mod signals;
pub mod sleep;
pub mod sshd;
pub mod startup;
pub mod workspace_bin;
