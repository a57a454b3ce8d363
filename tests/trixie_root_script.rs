// SPDX-License-Identifier: MPL-2.0
//! scripts/trixie-root.sh refuses paths that are not roots it made, and says what to do,
//! without deleting anything; an interrupted build is reported as partial (and rebuilt by
//! `ensure`, which is not run here: it takes minutes and the network).

use std::path::Path;
use std::process::Output;

#[path = "common/script.rs"]
mod script;
use script::{is_root, text};

fn script(root: &Path, cmd: &str) -> Output {
    // Never touch the machine's shared target directory from these tests.
    let target = root.with_extension("target");
    script::run(
        "trixie-root.sh",
        &[cmd],
        &[
            ("RPICAMSRC2_TRIXIE_ROOT", root.as_os_str()),
            ("RPICAMSRC2_TRIXIE_TARGET", target.as_os_str()),
        ],
    )
}

#[test]
fn root_pointing_at_a_file_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-root");
    std::fs::write(&file, b"user data").unwrap();
    for cmd in ["ensure", "destroy", "status"] {
        let out = script(&file, cmd);
        assert!(!out.status.success(), "{cmd}: {}", text(&out));
        if is_root() {
            assert!(
                text(&out).contains("exists and is not a directory"),
                "{cmd}: {}",
                text(&out)
            );
        } else {
            assert!(text(&out).contains("must run as root"), "{}", text(&out));
        }
        assert_eq!(std::fs::read(&file).unwrap(), b"user data");
    }
}

#[test]
fn root_pointing_at_a_foreign_directory_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("photos");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("keep.jpg"), b"jpeg").unwrap();
    for cmd in ["ensure", "destroy", "status"] {
        let out = script(&foreign, cmd);
        assert!(!out.status.success(), "{cmd}: {}", text(&out));
        if is_root() {
            let t = text(&out);
            assert!(t.contains("did not make"), "{cmd}: {t}");
            assert!(t.contains("nothing was deleted"), "{cmd}: {t}");
        }
        assert_eq!(std::fs::read(foreign.join("keep.jpg")).unwrap(), b"jpeg");
    }
}

#[test]
fn a_foreign_dot_new_directory_is_refused_and_kept() {
    if !is_root() {
        return; // the script refuses non-root users first (checked above)
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let new = dir.path().join("root.new");
    std::fs::create_dir(&new).unwrap();
    std::fs::write(new.join("keep"), b"x").unwrap();
    let out = script(&root, "ensure");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("was not made by this script"),
        "{}",
        text(&out)
    );
    assert!(new.join("keep").exists());
}

#[test]
fn an_interrupted_build_is_reported_partial_and_an_empty_directory_missing() {
    if !is_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let new = dir.path().join("root.new");
    std::fs::create_dir(&new).unwrap();
    std::fs::write(new.join(".rpicamsrc2-partial-root"), b"").unwrap();
    let out = script(&root, "status");
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("partial:"), "{t}");
    assert!(t.contains("missing:"), "{t}");

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = script(&empty, "status");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).starts_with("missing:"), "{}", text(&out));
}
