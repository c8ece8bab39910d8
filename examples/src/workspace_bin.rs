//! Finding the workspace's own binaries from a test, bench or demo executable.
//!
//! Cargo puts binaries in `target/<profile>/` and test or bench executables in
//! `target/<profile>/deps/`. We look in both places and, if the binary is not built
//! yet (e.g. `cargo test -p attach-tests` alone), build it once with the same profile.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Path of the workspace binary `name` (`attach`, `http-worker`, ...).
pub fn workspace_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<bool> = OnceLock::new();
    let exe = std::env::current_exe().expect("path of the running executable");
    let profile_dir = match exe.parent() {
        Some(dir) if dir.ends_with("deps") => dir.parent().map(PathBuf::from),
        Some(dir) => Some(dir.to_owned()),
        None => None,
    }
    .expect("the executable lives in a target directory");
    let path = profile_dir.join(name);
    if !path.exists() {
        let built = BUILT.get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = Command::new(cargo);
            build.args([
                "build",
                "--bins",
                "-p",
                "attach-cli",
                "-p",
                "attach-examples",
            ]);
            if profile_dir.ends_with("release") {
                build.arg("--release");
            }
            build.status().is_ok_and(|status| status.success())
        });
        assert!(*built, "building the workspace binaries failed");
    }
    assert!(
        path.exists(),
        "{} is missing; run `cargo build --workspace`",
        path.display()
    );
    path
}
