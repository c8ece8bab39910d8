//! Workers started under a name no other test uses, for `attach <name>` and `--all`.

use std::path::PathBuf;

use super::{unique, Worker};

/// The fixture worker started under a name no other test uses, `count` times.
pub struct Named {
    pub name: String,
    dir: PathBuf,
    pub workers: Vec<Worker>,
}

impl Named {
    pub fn start(count: usize) -> Named {
        let name = format!("wrk{}x{}", std::process::id() % 100_000, unique());
        let dir = std::env::temp_dir().join(format!("attach-named-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fixture-worker"), dir.join(&name)).unwrap();
        let workers = (0..count)
            .map(|_| {
                let worker = Worker::start(dir.join(&name), &[]);
                assert_eq!(worker.first_line, "ready");
                worker
            })
            .collect();
        Named { name, dir, workers }
    }

    pub fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.pid).collect()
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
