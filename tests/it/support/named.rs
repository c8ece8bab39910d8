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
        Named::start_as(count, None)
    }

    /// `count` workers under one fresh name, run as `uid` if given.
    pub fn start_as(count: usize, uid: Option<u32>) -> Named {
        let name = format!("wrk{}x{}", std::process::id() % 100_000, unique());
        let dir = std::env::temp_dir().join(format!("attach-named-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fixture-worker"), dir.join(&name)).unwrap();
        let mut named = Named {
            name,
            dir,
            workers: Vec::new(),
        };
        named.more_as(count, uid);
        named
    }

    /// Another `count` workers under this same name, run as `uid` if given.
    pub fn more_as(&mut self, count: usize, uid: Option<u32>) {
        for _ in 0..count {
            let program = self.dir.join(&self.name);
            let worker = match uid {
                Some(uid) => Worker::start_as(uid, program, &[], &[]),
                None => Worker::start(program, &[]),
            };
            assert_eq!(worker.first_line, "ready");
            self.workers.push(worker);
        }
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
