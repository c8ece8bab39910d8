//! Every worker example explains itself: `--help` prints its usage and exits 0.
//!
//! Being an integration test of this package also makes `cargo test` build the
//! example binaries with everything else, in parallel, before the workspace's
//! integration tests start them.

use std::process::Command;

fn explains_itself(program: &str, name: &str) {
    let output = Command::new(program)
        .arg("--help")
        .output()
        .unwrap_or_else(|err| panic!("{program}: {err}"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{name} --help: {output:?}");
    assert!(
        text.contains(&format!("Usage: {name} ")),
        "{name} --help: {text}"
    );
}

#[test]
fn threaded_workers_print_their_usage() {
    explains_itself(env!("CARGO_BIN_EXE_http-worker"), "http-worker");
    explains_itself(env!("CARGO_BIN_EXE_prefork"), "prefork");
    explains_itself(env!("CARGO_BIN_EXE_queue-worker"), "queue-worker");
    explains_itself(env!("CARGO_BIN_EXE_cache-worker"), "cache-worker");
}

#[cfg(feature = "async")]
#[test]
fn async_workers_print_their_usage() {
    explains_itself(env!("CARGO_BIN_EXE_axum-worker"), "axum-worker");
    explains_itself(env!("CARGO_BIN_EXE_tokio-service"), "tokio-service");
}
