// SPDX-License-Identifier: MPL-2.0
//! Child processes (gst-launch-1.0, examples, the RTSP server, ffprobe): this build's plugin
//! library for their GST_PLUGIN_PATH, and running one with a time limit. Shared by the
//! integration tests and the benchmark suite (both include this file with `#[path]`); it needs
//! only std and libc.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// Makes the child of `cmd` get SIGKILL when the thread that spawned it ends
/// (`prctl(PR_SET_PDEATHSIG)`), so that a test process that dies (an abort in a library, which
/// skips every destructor) leaves no child behind: an emulated RTSP server outlived its aborted
/// test and took a core for 17 minutes of the runs after it.
pub fn dies_with_parent(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec, where it only calls prctl, which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Runs `cmd` for at most `limit`, reading its output as it comes (so a chatty child never
/// blocks on a full pipe): (exit code, or None when killed at the limit or ended by a signal;
/// stdout; stderr).
///
/// Errors: the command cannot be started (the error names it).
pub fn run_limited(
    cmd: &mut Command,
    limit: Duration,
) -> Result<(Option<i32>, String, String), String> {
    let mut child = dies_with_parent(cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let reader = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let t_out = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let t_err = reader(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + limit;
    let code = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s.code(),
            Ok(None) if Instant::now() <= deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    Ok((
        code,
        t_out.join().unwrap_or_default(),
        t_err.join().unwrap_or_default(),
    ))
}
