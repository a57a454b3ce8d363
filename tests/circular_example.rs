// SPDX-License-Identifier: MPL-2.0
//! Runs examples/circular_record.rs (pre-trigger recording from the command line), sends it
//! SIGUSR1 as rpicam-vid `--circular --signal` users do, and checks the file it wrote with
//! ffprobe: H.264 that decodes end to end, a key frame first, at or before the trigger minus
//! 2 s, reaching the trigger plus 2 s, no gap.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "common/child.rs"]
mod child;

/// target/<profile>/examples/circular_record, which `cargo test` builds.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let ex = profile.join("examples").join("circular_record");
    assert!(
        ex.exists(),
        "{} not built: run `cargo test` without target filters, or `cargo build --examples`",
        ex.display()
    );
    ex
}

fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

#[test]
fn sigusr1_writes_the_ring_and_the_next_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let location = tmp.path().join("ev%05d.mp4");
    let mut child = Command::new(example())
        .args(["--frames", "240", "--location"])
        .arg(&location)
        .env("GST_PLUGIN_PATH", child::plugin_dir(tmp.path()).unwrap())
        .env("GST_REGISTRY", tmp.path().join("registry.bin"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the example starts");
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("example: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let next =
        |deadline: Instant| rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    let mut lines = Vec::new();
    loop {
        let line = next(deadline).expect("the example says ready");
        let ready = line.starts_with("ready pid=");
        lines.push(line);
        if ready {
            break;
        }
    }
    // 3.5 s into the stream the ring holds its 2 s.
    std::thread::sleep(Duration::from_millis(3500));
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR1) }, 0);
    while let Ok(line) = next(deadline) {
        lines.push(line);
    }
    let status = child.wait().expect("the example ends");
    assert!(status.success(), "{status:?}\n{lines:#?}");
    assert!(
        lines.iter().any(|l| l == "trigger accepted=true"),
        "{lines:#?}"
    );
    let started = lines
        .iter()
        .find(|l| l.starts_with("started "))
        .expect("started");
    let done = lines.iter().find(|l| l.starts_with("done ")).expect("done");
    let t = field(started, "trigger").unwrap();
    let (start, end, buffers) = (
        field(done, "start").unwrap(),
        field(done, "end").unwrap(),
        field(done, "buffers").unwrap(),
    );
    assert!(start <= t - 2_000_000_000, "{start} {t}");
    assert!(end >= t + 2_000_000_000, "{end} {t}");
    let file = tmp.path().join("ev00000.mp4");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_frames"])
        .args([
            "-show_entries",
            "frame=key_frame,best_effort_timestamp_time",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&file)
        .output()
        .expect("ffprobe (Debian package ffmpeg) runs");
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    let frames: Vec<(bool, f64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut it = l.split(',');
            let key = it.next() == Some("1");
            let ts = it.next().and_then(|t| t.parse().ok()).unwrap_or(f64::NAN);
            (key, ts)
        })
        .collect();
    assert_eq!(frames.len() as u64, buffers, "every frame written decodes");
    assert!(frames[0].0, "a key frame first");
    let expected = ((end - start) as f64 / (1e9 / 30.0)).round() as u64 + 1;
    assert_eq!(buffers, expected, "no gap between {start} and {end} ns");
}
