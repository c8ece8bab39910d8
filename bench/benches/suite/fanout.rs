//! Section 7, continued: `attach --all` across 1, 8 and 32 workers.

use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use attach_examples::workspace_bin::workspace_bin;

use crate::{show, start, stop, time_each, Stats};

pub fn run() {
    println!(
        "`attach --all NAME -e 1+1` wall time (one process, parallel sessions) \
         as workers are added.\n"
    );
    println!("| workers | p50 | p99 |");
    println!("| --- | --- | --- |");
    let name = format!("fan{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("attach-bench-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join(&name);
    symlink(env!("CARGO_BIN_EXE_bench-worker"), &program).unwrap();
    let attach = workspace_bin("attach");
    let mut workers = Vec::new();
    for count in [1usize, 8, 32] {
        while workers.len() < count {
            workers.push(start(&PathBuf::from(&program), &[], &[]).0);
        }
        let samples = time_each(40, || {
            let status = Command::new(&attach)
                .args(["--all", &name, "-e", "1+1"])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
        });
        let stats = Stats::of(&samples);
        println!("| {count} | {} | {} |", show(stats.p50), show(stats.p99));
    }
    println!();
    workers.into_iter().for_each(stop);
    let _ = std::fs::remove_dir_all(dir);
}
