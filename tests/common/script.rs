// SPDX-License-Identifier: MPL-2.0
//! Running the project's shell scripts from the tests (bad-input checks of scripts/*.sh).
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs `bash scripts/<name> args...` with `envs` added to the environment.
pub fn run(name: &str, args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR")))
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("bash runs")
}

/// The scripts build roots with debootstrap, chroot and mount: they refuse other users first.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Standard output then standard error, as one text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
