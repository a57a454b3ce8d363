// SPDX-License-Identifier: MPL-2.0
//! scripts/arm.sh names what to do on bad input: an unknown architecture or command, a sysroot
//! path it did not make (refused, nothing deleted), a half-built sysroot (reported as partial).
//! Building a sysroot takes many minutes and the network, so it is not run here; see
//! docs/arm.md.

use std::path::Path;
use std::process::Output;

#[path = "common/script.rs"]
mod script;
use script::{is_root, text};

fn script(cache: &Path, args: &[&str]) -> Output {
    script::run(
        "arm.sh",
        args,
        &[("RPICAMSRC2_ARM_CACHE", cache.as_os_str())],
    )
}

#[test]
fn unknown_architecture_is_named_with_the_allowed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = script(dir.path(), &["riscv64", "build"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("unknown architecture 'riscv64'"), "{t}");
    assert!(t.contains("arm64") && t.contains("armhf"), "{t}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing made"
    );
}

#[test]
fn unknown_command_is_named_with_the_allowed_ones() {
    if !is_root() {
        return eprintln!("not root: the script refuses before reading the command");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = script(dir.path(), &["arm64", "deploy"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("unknown command 'deploy'") && t.contains("sysroot, build, test"),
        "{t}"
    );
}

#[test]
fn foreign_sysroot_directory_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("sysroot-arm64");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("photo.jpg"), b"user data").unwrap();
    for cmd in ["sysroot", "build", "test", "status", "destroy"] {
        let out = script(dir.path(), &["arm64", cmd]);
        assert!(!out.status.success(), "{cmd}: {}", text(&out));
        let want = if is_root() {
            "did not make"
        } else {
            "must run as root"
        };
        assert!(text(&out).contains(want), "{cmd}: {}", text(&out));
        assert_eq!(
            std::fs::read(foreign.join("photo.jpg")).unwrap(),
            b"user data"
        );
    }
}

#[test]
fn foreign_new_directory_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("sysroot-armhf.new");
    std::fs::create_dir(&new).unwrap();
    std::fs::write(new.join("notes.txt"), b"user data").unwrap();
    for cmd in ["sysroot", "status", "destroy"] {
        let out = script(dir.path(), &["armhf", cmd]);
        assert!(!out.status.success(), "{cmd}: {}", text(&out));
        if is_root() {
            assert!(
                text(&out).contains("was not made by this script"),
                "{cmd}: {}",
                text(&out)
            );
        }
        assert_eq!(std::fs::read(new.join("notes.txt")).unwrap(), b"user data");
    }
}

#[test]
fn half_built_sysroot_is_reported_as_partial() {
    if !is_root() {
        return eprintln!("not root: status refuses before looking");
    }
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("sysroot-arm64.new");
    std::fs::create_dir(&new).unwrap();
    std::fs::write(new.join(".rpicamsrc2-partial-sysroot"), b"").unwrap();
    let out = script(dir.path(), &["arm64", "status"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("partial") && t.contains("'sysroot' rebuilds it"),
        "{t}"
    );
    assert!(t.contains("missing"), "{t}");
    // destroy removes the half-built sysroot (ours), and only that.
    let out = script(dir.path(), &["arm64", "destroy"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!new.exists());
}

#[test]
fn cache_inside_the_repository_is_refused() {
    if !is_root() {
        return eprintln!("not root: the script refuses before looking");
    }
    let inside = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/arm-cache-test");
    let out = script(&inside, &["arm64", "status"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("inside the repository"),
        "{}",
        text(&out)
    );
    assert!(!inside.exists());
}
