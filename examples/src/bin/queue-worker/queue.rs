//! A job queue in a directory: `*.job` files wait in the top directory, move to
//! `running/` when taken, and end in `done/` or `failed/` (with a `.reason` file).
//! A rename is atomic, so a job is always in exactly one place: never lost.

use std::path::{Path, PathBuf};

use anyhow::Context;

pub struct Queue {
    dir: PathBuf,
}

impl Queue {
    pub fn open(dir: &Path) -> anyhow::Result<Queue> {
        for sub in ["running", "done", "failed"] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("cannot prepare {}", dir.join(sub).display()))?;
        }
        Ok(Queue {
            dir: dir.to_owned(),
        })
    }

    /// Takes the oldest waiting job (by name) into `running/`.
    pub fn take(&self) -> anyhow::Result<Option<PathBuf>> {
        let mut waiting: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "job"))
            .collect();
        waiting.sort();
        let Some(job) = waiting.into_iter().next() else {
            return Ok(None);
        };
        let running = self
            .dir
            .join("running")
            .join(job.file_name().expect("a file name"));
        std::fs::rename(&job, &running)?;
        Ok(Some(running))
    }

    /// Files a finished job under `done/`, or under `failed/` with its reason.
    pub fn finish(&self, running: &Path, outcome: Result<(), String>) -> anyhow::Result<()> {
        let name = running.file_name().expect("a file name");
        let place = if outcome.is_ok() { "done" } else { "failed" };
        let filed = self.dir.join(place).join(name);
        std::fs::rename(running, &filed)?;
        if let Err(reason) = outcome {
            std::fs::write(filed.with_extension("reason"), format!("{reason}\n"))?;
        }
        Ok(())
    }
}
