//! Scratch directories for unit tests.

use std::fs;
use std::path::{Path, PathBuf};

/// A directory under the system temporary directory, unique to this test
/// process and `name`, removed with its contents on drop.
pub(crate) struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates an empty directory `hospes-NAME-PID` in the temporary directory.
    pub(crate) fn new(name: &str) -> ScratchDir {
        let path = std::env::temp_dir().join(format!("hospes-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create scratch directory");
        ScratchDir { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
