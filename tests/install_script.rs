// SPDX-License-Identifier: MPL-2.0
//! scripts/install.sh for one user, with HOME pointed at a temporary directory: after the
//! install `gst-inspect-1.0 rpicamsrc2` finds the plugin without GST_PLUGIN_PATH (and did not
//! before), `--uninstall` removes exactly what was installed (a file of the user's in the same
//! directory stays), and bad input gets a clear error. The build step is skipped (`--from`
//! with this test's own build of the plugin and the server): it is `cargo build --release`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "common/script.rs"]
mod script;
use script::text;

/// This build's plugin, beside the test binary (target/<profile>/deps) or one level up.
fn built_plugin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps directory");
    [
        deps.to_path_buf(),
        deps.parent().expect("profile directory").to_path_buf(),
    ]
    .iter()
    .map(|d| d.join("libgstrpicamsrc2.so"))
    .filter(|p| p.is_file())
    .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
    .expect("libgstrpicamsrc2.so built beside the tests")
}

/// A directory with the two files install.sh installs, as `--from` takes it.
fn from_dir(tmp: &Path) -> PathBuf {
    let dir = tmp.join("from");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(built_plugin(), dir.join("libgstrpicamsrc2.so")).unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_rpicam-rtsp-server"),
        dir.join("rpicam-rtsp-server"),
    )
    .unwrap();
    dir
}

/// install.sh with only HOME (no XDG_* or GST_* of the caller's).
fn install(home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(format!("{}/scripts/install.sh", env!("CARGO_MANIFEST_DIR")))
        .args(args);
    isolate(&mut cmd, home);
    cmd.output().expect("bash runs")
}

fn isolate(cmd: &mut Command, home: &Path) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("XDG_") || k.starts_with("GST_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("HOME", home);
}

/// `gst-inspect-1.0 rpicamsrc2` as the user whose HOME is `home`.
fn inspect(home: &Path) -> Output {
    let mut cmd = Command::new("gst-inspect-1.0");
    cmd.arg("rpicamsrc2");
    isolate(&mut cmd, home);
    cmd.output().expect("gst-inspect-1.0 runs")
}

/// Every file and directory below `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() {
                walk(base, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

#[test]
fn user_install_is_found_by_gst_inspect_and_uninstall_removes_exactly_it() {
    let tmp = tempfile::tempdir().unwrap();
    let from = from_dir(tmp.path());
    let home = tmp.path().join("home");
    // The user already has another plugin in the plugin directory: it must survive.
    let plugins = home.join(".local/share/gstreamer-1.0/plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("README.txt"), b"mine").unwrap();

    let before = inspect(&home);
    assert!(
        !before.status.success(),
        "found before the install: {}",
        text(&before)
    );
    let local_before = tree(&home.join(".local"));

    let out = install(&home, &["--from", from.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let plugin = plugins.join("libgstrpicamsrc2.so");
    let server = home.join(".local/bin/rpicam-rtsp-server");
    assert!(plugin.is_file() && server.is_file(), "{}", text(&out));
    assert!(
        text(&out).contains("gst-inspect-1.0 rpicamsrc2 finds"),
        "{}",
        text(&out)
    );

    let after = inspect(&home);
    let t = text(&after);
    assert!(after.status.success(), "{t}");
    assert!(
        t.contains(plugin.to_str().unwrap()) && t.contains("rpicamsrc2"),
        "{t}"
    );

    // A second install is refused (the manifest says it is there); nothing changes.
    let again = install(&home, &["--from", from.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already installed"),
        "{}",
        text(&again)
    );

    let out = install(&home, &["--uninstall"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        tree(&home.join(".local")),
        local_before,
        "uninstall leaves ~/.local as it was"
    );
    assert_eq!(std::fs::read(plugins.join("README.txt")).unwrap(), b"mine");
    assert!(
        !inspect(&home).status.success(),
        "still found after uninstall"
    );

    let out = install(&home, &["--uninstall"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("nothing to uninstall"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_file_the_script_did_not_install_is_not_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let from = from_dir(tmp.path());
    let home = tmp.path().join("home");
    let bin = home.join(".local/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("rpicam-rtsp-server"), b"someone else's").unwrap();
    let out = install(&home, &["--from", from.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("this script did not install it"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(bin.join("rpicam-rtsp-server")).unwrap(),
        b"someone else's"
    );
    assert!(!home.join(".local/share").exists(), "nothing installed");
}

#[test]
fn bad_options_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = install(tmp.path(), &["--sytem"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown option '--sytem'"),
        "{}",
        text(&out)
    );
    let out = install(tmp.path(), &["--from", tmp.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no libgstrpicamsrc2.so in"),
        "{}",
        text(&out)
    );
    assert_eq!(tree(tmp.path()), Vec::<String>::new(), "nothing made");
}
