//! Finding the workspace's own binaries from a test, bench or demo executable.
//!
//! Cargo puts binaries in `target/<profile>/` and test or bench executables in
//! `target/<profile>/deps/`. The first call in a process runs `cargo build` for the
//! binaries with the same profile (a no-op when they are fresh), so that
//! `cargo test -p attach-tests` alone never runs against a stale `attach`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What `rustc` is given to link `attach` (see "Building" in the README): glibc
/// statically, at a fixed address. Such a binary has no dynamic loader to run and no
/// relocations to apply, so it starts with a third fewer page faults than a
/// static-pie one.
pub const ATTACH_LINK_FLAGS: [&str; 4] = [
    "-C",
    "target-feature=+crt-static",
    "-C",
    "relocation-model=static",
];

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
    let built = BUILT.get_or_init(|| {
        // Only when run from Cargo (tests, benches): a demo started by hand uses
        // what is there.
        let Some(cargo) = std::env::var_os("CARGO") else {
            return true;
        };
        let release = profile_dir.ends_with("release");
        let cargo_run = |command: &str, args: &[&str]| {
            let mut build = Command::new(&cargo);
            build.args([command, "--quiet"]);
            if release {
                build.arg("--release");
            }
            build.args(args).stdout(Stdio::null());
            build.status().is_ok_and(|status| status.success())
        };
        // Tests use the binaries `cargo test` builds (the examples' own integration
        // test makes it build them); benchmarks time `attach` as demo.sh builds it
        // (`ATTACH_LINK_FLAGS`), so that the two never rebuild each other's binary.
        if release {
            cargo_run("build", &["--bins", "-p", "attach-examples"])
                && cargo_run(
                    "rustc",
                    &[
                        &["-p", "attach-cli", "--bin", "attach", "--"],
                        &ATTACH_LINK_FLAGS[..],
                    ]
                    .concat(),
                )
        } else {
            cargo_run(
                "build",
                &["--bins", "-p", "attach-examples", "-p", "attach-cli"],
            )
        }
    });
    assert!(*built, "building the workspace binaries failed");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing; run `cargo build --workspace`",
        path.display()
    );
    path
}
