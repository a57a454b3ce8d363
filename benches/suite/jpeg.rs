// SPDX-License-Identifier: MPL-2.0
//! Row 4: high-rate JPEG dumps.
//!
//! Live: `src ! I420 caps ! <JPEG path> ! multifilesink` with rpicamsrc2 (simulated imx219,
//! static 75 % bars, at the mode's maximum rate) and with `videotestsrc is-live=true
//! pattern=smpte75` (75 % bars too, JPEGs of about the same size) at the same caps: frames/s
//! reaching the files, frames the camera lost, CPU per frame. JPEG paths: one `jpegenc` (what
//! `gst-launch` users write); a parallel variant built only from stock elements:
//! `output-selector` dealing frames round-robin (the active pad is switched by a pad probe, a
//! few lines of application code) to N `queue ! jpegenc ! multifilesink` branches, as
//! Picamera2's multi-threaded JpegEncoder deals frames to threads; and `avenc_mjpeg threads=0
//! pass=quant quantizer=2` (FFmpeg's frame-threaded MJPEG encoder, at a constant quantiser
//! giving about jpegenc quality=85's sizes).
//!
//! In memory: the same JPEG paths fed from frames held in memory (appsrc, captured from the
//! simulated camera's moving scene) as fast as they go: the encoders' ceiling.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::util;

/// A JPEG path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Path {
    /// One jpegenc.
    Single,
    /// output-selector round-robin over this many `queue ! jpegenc` branches.
    RoundRobin(usize),
    /// avenc_mjpeg with automatic threads.
    Libav,
}

impl Path {
    pub fn label(&self) -> String {
        match self {
            Path::Single => "jpegenc".into(),
            Path::RoundRobin(n) => format!("round-robin {n}x jpegenc"),
            Path::Libav => "avenc_mjpeg threads=0 (q 2)".into(),
        }
    }

    /// The launch-line tail after the caps, with sinks named out0, out1, ... writing into
    /// `dir` (or fakesinks when `dir` is None).
    fn desc(&self, dir: Option<&std::path::Path>) -> String {
        let sink = |i: usize| match dir {
            Some(d) => format!(
                "multifilesink name=out{i} location={}/b{i}-%05d.jpg",
                d.display()
            ),
            None => format!("fakesink name=out{i} sync=false"),
        };
        match self {
            Path::Single => format!("jpegenc ! {}", sink(0)),
            // Constant quantiser 2: about jpegenc quality=85's size on the same pictures.
            Path::Libav => format!("avenc_mjpeg threads=0 pass=quant quantizer=2 ! {}", sink(0)),
            Path::RoundRobin(n) => {
                let mut s = "output-selector name=os pad-negotiation-mode=all".to_string();
                for i in 0..*n {
                    s += &format!(
                        " os.src_{i} ! queue max-size-buffers=2 ! jpegenc ! {}",
                        sink(i)
                    );
                }
                s
            }
        }
    }

    fn branches(&self) -> usize {
        match self {
            Path::RoundRobin(n) => *n,
            _ => 1,
        }
    }
}

/// Switches output-selector `os` to its next source pad before each buffer.
fn deal_round_robin(p: &gst::Pipeline) {
    let Some(os) = p.by_name("os") else { return };
    let pads = os.src_pads();
    let next = AtomicUsize::new(0);
    let weak = os.downgrade();
    os.static_pad("sink")
        .expect("output-selector sink")
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if let Some(os) = weak.upgrade() {
                let i = next.fetch_add(1, Ordering::Relaxed) % pads.len().max(1);
                os.set_property("active-pad", &pads[i]);
            }
            gst::PadProbeReturn::Ok
        });
}

/// (frames, bytes, first arrival, last arrival, cpu at first, cpu at last) at the sinks.
type Count = Arc<Mutex<(u64, u64, Option<(Instant, u64)>, Option<(Instant, u64)>)>>;

fn count_sinks(p: &gst::Pipeline, n: usize) -> Count {
    let c: Count = Default::default();
    for i in 0..n {
        let c = c.clone();
        util::element(p, &format!("out{i}"))
            .static_pad("sink")
            .expect("sink pad")
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                let size = info.buffer().map(|b| b.size()).unwrap_or(0) as u64;
                let mark = (Instant::now(), util::process_cpu_ns());
                let mut g = c.lock().unwrap();
                g.0 += 1;
                g.1 += size;
                if g.2.is_none() {
                    g.2 = Some(mark);
                }
                g.3 = Some(mark);
                gst::PadProbeReturn::Ok
            });
    }
    c
}

/// One run.
#[derive(Debug, Clone, Copy, Default)]
pub struct JpegRun {
    /// JPEG frames per second reaching the sinks (first to last).
    pub fps: f64,
    /// Process CPU per JPEG frame, ms.
    pub cpu_ms: f64,
    /// Mean JPEG size, bytes.
    pub bytes: f64,
    /// Frames the camera lost (rpicamsrc2) and frames it had to copy.
    pub dropped: u64,
    pub copied: u64,
    pub frames: u64,
}

fn finish(c: &Count) -> Result<JpegRun, String> {
    let g = c.lock().unwrap();
    let (Some(a), Some(b)) = (g.2, g.3) else {
        return Err("no JPEG frame arrived".into());
    };
    let n = g.0.saturating_sub(1).max(1) as f64;
    Ok(JpegRun {
        fps: n / (b.0 - a.0).as_secs_f64().max(1e-9),
        cpu_ms: (b.1 - a.1) as f64 / 1e6 / n,
        bytes: g.1 as f64 / g.0.max(1) as f64,
        frames: g.0,
        ..Default::default()
    })
}

/// Live: `source` (a launch fragment naming the source `src`) at `caps`, `frames` frames,
/// through `path`, writing files into a fresh directory.
pub fn live(source: &str, caps: &str, frames: u64, path: Path) -> Result<JpegRun, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let p = util::pipeline(&format!(
        "{source} name=src num-buffers={frames} ! {caps} ! {}",
        path.desc(Some(dir.path()))
    ));
    deal_round_robin(&p);
    let c = count_sinks(&p, path.branches());
    util::play_to_eos(&p, Duration::from_secs(60))?;
    let mut r = finish(&c)?;
    let src = util::element(&p, "src");
    if src
        .factory()
        .map(|f| f.name() == "rpicamsrc2")
        .unwrap_or(false)
    {
        r.dropped = util::stat(&src, "frames-dropped");
        r.copied = util::stat(&src, "frames-copied");
    }
    let files = std::fs::read_dir(dir.path())
        .map(|d| d.count())
        .unwrap_or(0) as u64;
    if files != r.frames {
        return Err(format!("{} frames but {files} files", r.frames));
    }
    Ok(r)
}

/// In memory: `frames` pushed through `appsrc ! path` as fast as it takes them.
pub fn in_memory(caps: &gst::Caps, frames: &[gst::Buffer], path: Path) -> Result<JpegRun, String> {
    let p = util::pipeline(&format!(
        "appsrc name=src format=time max-bytes=0 ! {}",
        path.desc(None)
    ));
    deal_round_robin(&p);
    let c = count_sinks(&p, path.branches());
    let src = util::element(&p, "src")
        .dynamic_cast::<gst_app::AppSrc>()
        .expect("appsrc");
    src.set_caps(Some(caps));
    for (i, f) in frames.iter().enumerate() {
        let mut b = f.clone();
        {
            let b = b.make_mut();
            b.set_pts(gst::ClockTime::from_nseconds(i as u64 * 1_000_000_000 / 30));
            b.set_duration(gst::ClockTime::from_nseconds(1_000_000_000 / 30));
        }
        src.push_buffer(b).map_err(|e| format!("{e:?}"))?;
    }
    src.end_of_stream().map_err(|e| format!("{e:?}"))?;
    util::play_to_eos(&p, Duration::from_secs(120))?;
    finish(&c)
}
