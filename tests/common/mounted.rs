//! A tmpfs mounted for a test (as root): a read-only or a full file
//! system on demand.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on `path` with `options`; unmounted when dropped.
pub struct Mounted(PathBuf);

impl Mounted {
    pub fn tmpfs(path: &Path, options: &str) -> Result<Self, String> {
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(path)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs -o {options}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Self(path.to_owned()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
