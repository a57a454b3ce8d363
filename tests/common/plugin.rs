// SPDX-License-Identifier: MPL-2.0
//! This build's plugin library, for child processes (gst-launch-1.0, Python) that load it
//! through GST_PLUGIN_PATH. Shared by the integration tests and the benchmark suite (both
//! include this file with `#[path]`); it needs only std.

use std::path::{Path, PathBuf};

/// A directory under `tmp` holding only this crate's plugin library, as a symbolic link.
///
/// `cargo test` and `cargo bench` build the cdylib next to their binaries
/// (target/<profile>/deps) and only `cargo build` copies it to target/<profile>, so the newer of
/// the two is linked (pointing GST_PLUGIN_PATH at deps/ would make GStreamer try every shared
/// object there, and an older copy must never be picked up).
///
/// Errors: no library in either place, or the directory or link cannot be made.
pub fn plugin_dir(tmp: &Path) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let deps = exe.parent().ok_or("the executable has no directory")?;
    let mut candidates = vec![deps.join("libgstrpicamsrc2.so")];
    if let Some(profile) = deps.parent() {
        candidates.push(profile.join("libgstrpicamsrc2.so"));
    }
    let newest = candidates
        .iter()
        .filter_map(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .map(|t| (t, p))
        })
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p.clone())
        .ok_or_else(|| {
            format!(
                "no libgstrpicamsrc2.so in {} or its parent: run `cargo build --release` first",
                deps.display()
            )
        })?;
    let dir = tmp.join("plugin");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let link = dir.join("libgstrpicamsrc2.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&newest, &link).map_err(|e| format!("{}: {e}", link.display()))?;
    Ok(dir)
}
