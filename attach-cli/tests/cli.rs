//! The `attach` binary as a newcomer first meets it: `--help` and `--version`.
//!
//! Being an integration test of this package also makes `cargo test` build the
//! binary with everything else, before the workspace's integration tests run it.

use std::process::Command;

fn attach(arg: &str) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_attach"))
        .arg(arg)
        .output()
        .expect("run attach");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn help_shows_usage_and_examples() {
    let (ok, text) = attach("--help");
    assert!(
        ok && text.contains("Usage: attach ")
            && text.contains("Examples:")
            && text.contains("--watch"),
        "{text}"
    );
}

#[test]
fn version_names_the_wire_protocol() {
    let (ok, text) = attach("--version");
    assert!(ok, "{text}");
    assert_eq!(
        text,
        format!("attach {} (wire protocol v1)\n", env!("CARGO_PKG_VERSION"))
    );
}
