// SPDX-License-Identifier: MPL-2.0
//! Row 7: the libcamera backend against real libcamera (0.4, virtual pipeline handler) inside
//! the Debian trixie root of `scripts/trixie-root.sh`, whose `bench` subcommand runs
//! `examples/libcamera_bench.rs` there: frames/s and CPU per frame at 640x480 and 1920x1080
//! NV12, through the backend alone and through `rpicamsrc2 ! fakesink`.
//!
//! Run only when the root already exists (building it takes minutes and ~0.7 GB), or when
//! `RPICAMSRC2_BENCH_LIBCAMERA=1` asks for it (the script then builds it);
//! `RPICAMSRC2_BENCH_LIBCAMERA=0` skips the row. `RPICAMSRC2_BENCH_TRIXIE_SCRIPT` points at
//! another checkout's script (its repository is the one built and measured).
//! `libcamerasrc` cannot capture there: libcamera's FrameBufferAllocator needs a dma-buf heap
//! or udmabuf, which this kernel lacks, so the peer has no number.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::Summary;

/// One line of the example's output, over the repeats.
#[derive(Debug, Clone)]
pub struct Measured {
    /// e.g. "element 640x480 NV12".
    pub what: String,
    pub fps: Vec<f64>,
    pub cpu_ms: Vec<f64>,
    /// CPU ms/frame of the threads named rpicamsrc2* (the element's and the backend's own
    /// threads; the rest is libcamera drawing the pattern, GStreamer, the sink).
    pub own_ms: Vec<f64>,
}

impl Measured {
    pub fn fps(&self) -> Summary {
        Summary::of(&self.fps)
    }
    pub fn cpu(&self) -> Summary {
        Summary::of(&self.cpu_ms)
    }
    pub fn own(&self) -> Summary {
        Summary::of(&self.own_ms)
    }
}

/// PLAYING to first buffer through the element, over every run and repeat.
#[derive(Debug, Clone, Default)]
pub struct FirstBuffer {
    /// e.g. "1920x1080 NV12".
    pub what: String,
    pub wall_ms: Vec<f64>,
    pub cpu_ms: Vec<f64>,
}

/// Parses `first buffer WHAT: wall X ms, CPU Y ms (process)`.
fn parse_first_buffer(l: &str) -> Option<(String, f64, f64)> {
    let (what, rest) = l.strip_prefix("first buffer ")?.split_once(": ")?;
    let wall = rest
        .strip_prefix("wall ")?
        .split_once(" ms")?
        .0
        .parse()
        .ok()?;
    let cpu = rest
        .split_once("CPU ")?
        .1
        .split_once(" ms")?
        .0
        .parse()
        .ok()?;
    Some((what.to_string(), wall, cpu))
}

/// The row's outcome.
pub enum Outcome {
    /// Why it was not run.
    NotRun(String),
    Failed(String),
    Ran {
        script: PathBuf,
        frames: u32,
        lines: Vec<Measured>,
        first: Vec<FirstBuffer>,
    },
}

/// Parses `what: N frames in X s = Y frames/s; CPU Z ms/frame (...)`.
fn parse_line(l: &str) -> Option<(String, f64, f64)> {
    let (what, rest) = l.split_once(": ")?;
    let fps = rest
        .split_once(" = ")?
        .1
        .split_once(" frames/s")?
        .0
        .trim()
        .parse()
        .ok()?;
    let cpu = rest
        .split_once("CPU ")?
        .1
        .split_once(" ms/frame")?
        .0
        .trim()
        .parse()
        .ok()?;
    Some((what.trim().to_string(), fps, cpu))
}

fn root_dir() -> PathBuf {
    std::env::var_os("RPICAMSRC2_TRIXIE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/rpicamsrc2/trixie-root"))
}

/// Runs the row unless something says not to (see the module doc).
pub fn run(repo: &Path, quick: bool, frames: u32, repeats: usize) -> Outcome {
    let wanted = std::env::var("RPICAMSRC2_BENCH_LIBCAMERA").unwrap_or_default();
    if wanted == "0" {
        return Outcome::NotRun("not run: RPICAMSRC2_BENCH_LIBCAMERA=0".into());
    }
    let forced = wanted == "1";
    if quick && !forced {
        return Outcome::NotRun("not run in --quick".into());
    }
    let script = std::env::var_os("RPICAMSRC2_BENCH_TRIXIE_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("scripts/trixie-root.sh"));
    if !script.exists() {
        return Outcome::NotRun(format!(
            "not run: {} is not in this checkout (the libcamera backend and its script live on \
             branch libcamera until merged; RPICAMSRC2_BENCH_TRIXIE_SCRIPT can point at it)",
            script.display()
        ));
    }
    let root = root_dir();
    if !forced && !root.join("etc/rpicamsrc2-root").exists() {
        return Outcome::NotRun(format!(
            "not run: trixie root absent at {} (run scripts/trixie-root.sh ensure, or set \
             RPICAMSRC2_BENCH_LIBCAMERA=1)",
            root.display()
        ));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Outcome::NotRun("not run: scripts/trixie-root.sh needs root".into());
    }
    let mut lines: Vec<Measured> = Vec::new();
    let mut first: Vec<FirstBuffer> = Vec::new();
    for _ in 0..repeats {
        let o = match Command::new("bash")
            .arg(&script)
            .arg("bench")
            .arg(frames.to_string())
            .output()
        {
            Ok(o) => o,
            Err(e) => return Outcome::Failed(format!("cannot run {}: {e}", script.display())),
        };
        let stdout = String::from_utf8_lossy(&o.stdout);
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            let tail: Vec<&str> = err.lines().rev().take(8).collect();
            return Outcome::Failed(format!(
                "{} bench failed ({}): {}",
                script.display(),
                o.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ));
        }
        // Each measurement line is followed by `    thread NAME  X ms/frame` lines.
        let mut current: Option<usize> = None;
        for l in stdout.lines() {
            if let Some((what, wall, cpu)) = parse_first_buffer(l) {
                let i = match first.iter().position(|f| f.what == what) {
                    Some(i) => i,
                    None => {
                        first.push(FirstBuffer {
                            what,
                            ..Default::default()
                        });
                        first.len() - 1
                    }
                };
                first[i].wall_ms.push(wall);
                first[i].cpu_ms.push(cpu);
                current = None;
            } else if let Some((what, fps, cpu)) = parse_line(l) {
                let i = match lines.iter().position(|m| m.what == what) {
                    Some(i) => i,
                    None => {
                        lines.push(Measured {
                            what,
                            fps: Vec::new(),
                            cpu_ms: Vec::new(),
                            own_ms: Vec::new(),
                        });
                        lines.len() - 1
                    }
                };
                lines[i].fps.push(fps);
                lines[i].cpu_ms.push(cpu);
                lines[i].own_ms.push(0.0);
                current = Some(i);
            } else if let (Some(i), Some(t)) = (current, l.trim().strip_prefix("thread ")) {
                let mut f = t.split_whitespace();
                let name = f.next().unwrap_or_default();
                let ms: f64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
                if name.starts_with("rpicamsrc2") {
                    if let Some(o) = lines[i].own_ms.last_mut() {
                        *o += ms;
                    }
                }
            }
        }
    }
    if lines.is_empty() {
        return Outcome::Failed("the bench printed no measurement".into());
    }
    Outcome::Ran {
        script,
        frames,
        lines,
        first,
    }
}
