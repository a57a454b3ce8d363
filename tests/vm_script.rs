// SPDX-License-Identifier: MPL-2.0
//! scripts/vm.sh's bad input, without booting anything: the CI's trixie root is refused as the
//! guest's root, and a root without a kernel, with headers of another version, or a missing
//! qemu each get an error naming what to install.

use std::path::Path;
use std::process::Output;

#[path = "common/script.rs"]
mod script;
use script::{is_root, text};

fn vm(root: &Path, envs: &[(&str, &std::ffi::OsStr)], args: &[&str]) -> Output {
    let logs = root.with_extension("logs");
    let target = root.with_extension("target");
    let mut all = vec![
        ("RPICAMSRC2_VM_ROOT", root.as_os_str()),
        ("RPICAMSRC2_VM_LOGS", logs.as_os_str()),
        ("RPICAMSRC2_TRIXIE_TARGET", target.as_os_str()),
    ];
    all.extend_from_slice(envs);
    script::run("vm.sh", args, &all)
}

/// Asserts the error (as root) or the refusal to run as another user.
fn assert_error(out: &Output, want: &[&str]) {
    let t = text(out);
    assert!(!out.status.success(), "{t}");
    if is_root() {
        assert!(want.iter().all(|w| t.contains(w)), "want {want:?} in: {t}");
    } else {
        assert!(t.contains("must run as root"), "{t}");
    }
}

/// A fake guest root: a kernel image and modules of `image`, headers of `headers`.
fn fake_root(dir: &Path, image: &str, headers: &str) -> std::path::PathBuf {
    let root = dir.join("vm-root");
    std::fs::create_dir_all(root.join("boot")).unwrap();
    std::fs::write(root.join(format!("boot/vmlinuz-{image}")), b"not a kernel").unwrap();
    std::fs::create_dir_all(root.join(format!("usr/lib/modules/{image}/kernel"))).unwrap();
    let h = root.join(format!("usr/src/linux-headers-{headers}"));
    std::fs::create_dir_all(&h).unwrap();
    std::fs::write(h.join("Makefile"), b"").unwrap();
    root
}

#[test]
fn the_ci_trixie_root_is_refused() {
    let out = vm(
        Path::new("/var/cache/rpicamsrc2/trixie-root"),
        &[],
        &["status"],
    );
    assert_error(&out, &["must not be the CI's trixie root"]);
}

#[test]
fn a_root_without_a_kernel_names_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let out = vm(&dir.path().join("vm-root"), &[], &["run", "--", "true"]);
    assert_error(&out, &["no kernel image", "linux-image-amd64"]);
}

#[test]
fn headers_of_another_version_are_a_mismatch_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let root = fake_root(dir.path(), "6.12.1+deb13-amd64", "6.12.2+deb13-amd64");
    let out = vm(&root, &[], &["run", "--", "true"]);
    assert_error(
        &out,
        &[
            "kernel version mismatch",
            "the image is 6.12.1+deb13-amd64",
            "linux-headers-6.12.2+deb13-amd64",
            "install linux-headers-6.12.1+deb13-amd64",
        ],
    );
}

#[test]
fn a_missing_qemu_names_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let root = fake_root(dir.path(), "6.12.1+deb13-amd64", "6.12.1+deb13-amd64");
    let qemu = std::ffi::OsStr::new("/nonexistent/qemu-system-x86_64");
    let out = vm(
        &root,
        &[("RPICAMSRC2_VM_QEMU", qemu)],
        &["run", "--", "true"],
    );
    assert_error(
        &out,
        &[
            "/nonexistent/qemu-system-x86_64 not found",
            "apt-get install qemu-system-x86",
        ],
    );
}
