// SPDX-License-Identifier: MPL-2.0
//! Runs the embedding examples (examples/metadata.rs and examples/metadata.py) against the
//! built plugin (GST_PLUGIN_PATH=target/<profile>) and checks what they print: one line of
//! metadata per frame, and the manual exposure time and gain they set while PLAYING showing up
//! in the metadata a few frames later.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "common/child.rs"]
mod child;

/// The Debian packages the Python example needs.
const PYTHON_PACKAGES: &str = "python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0";

/// target/<profile>, where the plugin and the examples are built.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>")
        .to_path_buf()
}

/// Runs `cmd` with the plugin path set (and a private registry, so no cached entry of another
/// build is used), 60 s at most: (exit code, stdout, stderr).
fn run(cmd: &mut Command) -> (Option<i32>, String, String) {
    let tmp = tempfile::tempdir().expect("temp dir");
    cmd.env(
        "GST_PLUGIN_PATH",
        child::plugin_dir(tmp.path()).expect("this build's plugin"),
    )
    .env("GST_REGISTRY", tmp.path().join("registry.bin"));
    child::run_limited(cmd, Duration::from_secs(60)).expect("the example starts")
}

/// A `frame key=value ...` line.
#[derive(Debug)]
struct FrameLine {
    seq: u64,
    exposure_time: f64,
    analogue_gain: f64,
    ae_state: String,
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

/// Parses the example's output: frame lines, and the index of the first frame after the
/// "set exposure-time=..." line.
fn parse(out: &str) -> (Vec<FrameLine>, Option<usize>) {
    let mut frames = Vec::new();
    let mut set_at = None;
    for line in out.lines() {
        if line.starts_with("set exposure-time=") {
            set_at = Some(frames.len());
        } else if line.starts_with("frame seq=") {
            let num = |k: &str| -> f64 {
                field(line, k)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("no numeric {k} in '{line}'"))
            };
            frames.push(FrameLine {
                seq: num("seq") as u64,
                exposure_time: num("exposure_time"),
                analogue_gain: num("analogue_gain"),
                ae_state: field(line, "ae_state").unwrap_or_default().to_string(),
            });
        } else if line.starts_with("frame") {
            panic!("unexpected frame line: {line}");
        }
    }
    (frames, set_at)
}

/// What both examples must show with their defaults (45 frames, exposure 10000 µs and gain 4
/// set after frame 15): metadata on every frame, increasing sequence numbers, and the manual
/// values in effect within 6 frames of the change (the sensor's control delay) until the end.
#[track_caller]
fn check_output(who: &str, code: Option<i32>, out: &str, err: &str) {
    assert_eq!(code, Some(0), "{who} failed: {err}\n{out}");
    let (frames, set_at) = parse(out);
    assert_eq!(
        frames.len(),
        45,
        "{who}: one metadata line per frame\n{out}"
    );
    assert!(
        frames.windows(2).all(|w| w[1].seq > w[0].seq),
        "{who}: sequence"
    );
    assert!(frames.iter().all(|f| !f.ae_state.is_empty()));
    let set_at = set_at.unwrap_or_else(|| panic!("{who} did not change the controls"));
    assert_eq!(set_at, 15);
    let applied = frames[set_at..]
        .iter()
        .position(|f| {
            (f.exposure_time - 10_000.0).abs() <= 100.0 && (f.analogue_gain - 4.0).abs() < 0.05
        })
        .unwrap_or_else(|| panic!("{who}: exposure 10000 / gain 4 never in the metadata\n{out}"));
    println!("{who}: manual exposure and gain in the metadata {applied} frames after the change");
    assert!(applied <= 6, "{who}: applied after {applied} frames");
    for f in &frames[set_at + applied..] {
        assert!(
            (f.exposure_time - 10_000.0).abs() <= 100.0 && (f.analogue_gain - 4.0).abs() < 0.05,
            "{who}: manual values did not stay: {f:?}"
        );
    }
    // Before the change the AE ran the camera (different values).
    assert!(
        frames[..set_at]
            .iter()
            .any(|f| (f.exposure_time - 10_000.0).abs() > 100.0
                || (f.analogue_gain - 4.0).abs() >= 0.05),
        "{who}: the values before the change were already the manual ones"
    );
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// target/<profile>/examples/metadata, which `cargo test` (and `cargo build --examples`)
/// builds; refused when it is older than the newest build of the library (a run limited with
/// --test/--all-targets does not rebuild it).
fn rust_example() -> PathBuf {
    let exe = target_dir().join("examples").join("metadata");
    let built = modified(&exe).unwrap_or_else(|| {
        panic!(
            "{} not built: run `cargo test --release` without target filters, or `cargo build \
             --release --examples`",
            exe.display()
        )
    });
    let newest_lib = std::fs::read_dir(target_dir().join("deps"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().map(|n| n.to_string_lossy().into_owned());
                    n.is_some_and(|n| n.starts_with("libgstrpicamsrc2-") && n.ends_with(".rlib"))
                })
                .filter_map(|p| modified(&p))
                .max()
        })
        .ok()
        .flatten();
    if let Some(lib) = newest_lib {
        assert!(
            built >= lib,
            "{} is older than the library it links: run `cargo test --release` without target \
             filters, or `cargo build --release --examples`",
            exe.display()
        );
    }
    exe
}

#[test]
fn rust_example_changes_controls_and_reads_metadata() {
    let (code, out, err) = run(&mut Command::new(rust_example()));
    check_output("examples/metadata.rs", code, &out, &err);
}

#[test]
fn rust_example_fails_for_a_camera_that_does_not_exist() {
    let (code, out, err) = run(Command::new(rust_example()).args(["--camera-name", "sim:imx999"]));
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("metadata: error:") && err.contains("imx999"),
        "{err}"
    );
}

/// A Python 3 with PyGObject's GStreamer bindings: $PYTHON, else python3 on PATH, else
/// /usr/bin/python3 (pyenv and virtualenv interpreters often lack the Debian python3-gi).
fn python() -> String {
    let mut candidates = Vec::new();
    if let Ok(p) = std::env::var("PYTHON") {
        candidates.push(p);
    }
    candidates.push("python3".into());
    candidates.push("/usr/bin/python3".into());
    for p in &candidates {
        let ok = Command::new(p)
            .args([
                "-c",
                "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstApp', '1.0'); \
                 from gi.repository import Gst, GstApp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return p.clone();
        }
    }
    panic!(
        "no Python 3 with GStreamer bindings among {candidates:?}: install the Debian packages \
         {PYTHON_PACKAGES} (or set PYTHON to an interpreter that has them)"
    );
}

fn python_example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join("metadata.py")
}

#[test]
fn python_example_changes_controls_and_reads_metadata() {
    let (code, out, err) = run(Command::new(python()).arg(python_example()));
    check_output("examples/metadata.py", code, &out, &err);
}

#[test]
fn python_example_fails_for_a_camera_that_does_not_exist() {
    let (code, out, err) = run(Command::new(python())
        .arg(python_example())
        .args(["--camera-name", "sim:imx999"]));
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("metadata.py: error:") && err.contains("imx999"),
        "{err}"
    );
}
