// SPDX-License-Identifier: MPL-2.0
//! Row 1, instruction counts: instructions executed per frame, counted by callgrind
//! (independent of machine load).
//!
//! The suite runs itself under `valgrind --tool=callgrind` as a child (`--child callgrind ...`)
//! that plays `source ! appsink caps=...` at 30 fps (appsink restricts the caps itself, so no
//! capsfilter sits between source and sink: a nested `gst_pad_push` would flip callgrind's
//! toggles back on). Two scopes:
//!
//! * [`Scope::Element`], rpicamsrc2's own code: `--collect-atstart=no` and toggles on in the
//!   element's capture thread (`RpiCamSrc2::capture_loop`: waiting for the camera's next frame
//!   and `dispatch`, one camera frame to the pads' queues) and its pad task (`pad_loop`, inlined
//!   into gstreamer-rs's task trampoline: wrap, timestamps, metadata, push), off again inside
//!   `gst_pad_push`/`gst_pad_push_event` (downstream's work). The simulated camera's own thread
//!   (sensor timing, IPA, rendering) is not the element and is not counted.
//! * [`Scope::Process`]: everything the process executes except the simulated camera's thread
//!   (toggled off in `camera::sim::capture_loop`: it renders and runs the IPA, which a real
//!   camera does in hardware and firmware; its rendering also varies run to run), for
//!   rpicamsrc2 (element, GStreamer, appsink) and for the peer videotestsrc (GstBaseSrc, its
//!   painting of every frame, GStreamer, appsink). Debian strips GStreamer's static functions,
//!   so videotestsrc's own code cannot be isolated like the element's.
//!
//! Two runs of different lengths are subtracted, so start-up (initialisation, negotiation,
//! the first caps event, pool set-up) cancels: instructions/frame = (I(n2) - I(n1)) /
//! (pushed(n2) - pushed(n1)).

use std::path::Path;
use std::process::Command;

use gst::prelude::*;

/// Toggle patterns (demangled names, valgrind wildcards) for rpicamsrc2's own code.
fn toggles() -> Vec<&'static str> {
    vec![
        // dispatch() is inlined into capture_loop() and pad_loop() into the pad task's
        // trampoline (release build), so those are the functions toggled on; capture_loop
        // also waits for the camera's next frame (a condvar wait).
        "gstrpicamsrc2::rpicamsrc2::imp::RpiCamSrc2::capture_loop",
        "gstreamer::pad::PadExtManual::start_task::trampoline_pad_task",
        // ... and off again inside pushes (downstream's work).
        "gst_pad_push",
        "gst_pad_push_event",
    ]
}

/// The child's pipeline: `source` into an appsink restricted to `caps`.
fn child_desc(source: &str, caps: &str, frames: u64) -> String {
    let src = if source == "rpicamsrc2" {
        format!(
            "rpicamsrc2 name=src camera-name=sim:imx219 {}",
            crate::cost::STATIC_SCENE
        )
    } else {
        "videotestsrc name=src is-live=true pattern=black".to_string()
    };
    format!(
        "{src} num-buffers={frames} ! appsink name=sink sync=false max-buffers=1 drop=true wait-on-eos=false caps={caps}"
    )
}

/// The child: plays the pipeline to EOS and prints `pushed=N`.
pub fn child(args: &[String]) -> Result<(), String> {
    let [source, caps, frames] = args else {
        return Err("usage: --child callgrind SOURCE CAPS FRAMES".into());
    };
    let frames: u64 = frames.parse().map_err(|e| format!("frames: {e}"))?;
    let p = crate::util::pipeline(&child_desc(source, caps, frames));
    crate::util::play_to_eos(&p, std::time::Duration::from_secs(600))?;
    let src = crate::util::element(&p, "src");
    let pushed = if src
        .factory()
        .map(|f| f.name() == "rpicamsrc2")
        .unwrap_or(false)
    {
        crate::util::stat(&src, "frames-pushed")
    } else {
        frames
    };
    println!("pushed={pushed}");
    Ok(())
}

/// Whether valgrind is installed.
pub fn available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope {
    /// rpicamsrc2's own per-frame code (toggles).
    Element,
    /// Everything the process executes.
    Process,
}

/// One callgrind run: (instructions collected, frames pushed).
fn one(
    source: &str,
    caps: &str,
    frames: u64,
    scope: Scope,
    dir: &Path,
) -> Result<(u64, u64), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = dir.join(format!("callgrind.{source}.{scope:?}.{frames}.out"));
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()));
    if scope == Scope::Element {
        cmd.arg("--collect-atstart=no");
        for t in toggles() {
            cmd.arg(format!("--toggle-collect={t}"));
        }
    } else {
        // Collecting from the start, this toggles collection off for the simulated camera's
        // thread (its whole life is inside this function). --toggle-collect turns
        // --collect-atstart off, so that must come after it.
        cmd.arg("--toggle-collect=gstrpicamsrc2::camera::sim::capture_loop")
            .arg("--collect-atstart=yes");
    }
    let o = cmd
        .arg(&exe)
        .args(["--child", "callgrind", source, caps, &frames.to_string()])
        .output()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    let stdout = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        return Err(format!(
            "callgrind child failed ({}): {}",
            o.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    let pushed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("pushed="))
        .and_then(|v| v.trim().parse().ok())
        .ok_or("the callgrind child printed no frame count")?;
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let ir = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or("no totals in the callgrind output")?;
    Ok((ir, pushed))
}

/// Instructions per frame at `caps` (see the module doc), of rpicamsrc2's own code or of the
/// whole process:
/// two runs of `n1` and `n2` frames, subtracted. Returns (Ir/frame, Ir of the short run).
pub fn per_frame(
    source: &str,
    caps: &str,
    scope: Scope,
    n1: u64,
    n2: u64,
    dir: &Path,
) -> Result<(f64, u64), String> {
    let (i1, p1) = one(source, caps, n1, scope, dir)?;
    let (i2, p2) = one(source, caps, n2, scope, dir)?;
    if p2 <= p1 {
        return Err(format!("frames pushed {p1} then {p2}"));
    }
    Ok(((i2 as f64 - i1 as f64) / (p2 - p1) as f64, i1))
}

/// Caps for the child, in the form appsink's `caps` property takes on a launch line.
pub fn caps(w: u32, h: u32, fps: u32) -> String {
    format!("video/x-raw,format=NV12,width={w},height={h},framerate={fps}/1")
}
