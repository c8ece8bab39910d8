//! A fresh directory per test, removed on drop.

use std::path::{Path, PathBuf};

pub struct TempDir(PathBuf);

impl TempDir {
    /// `attach-<what>-<pid>-<n>` under the system's temporary directory.
    pub fn new(what: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "attach-{what}-{}-{}",
            std::process::id(),
            super::unique()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path as an environment value.
    pub fn env(&self) -> &str {
        self.0.to_str().expect("temporary paths are UTF-8")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
