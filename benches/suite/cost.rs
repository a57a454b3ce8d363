// SPDX-License-Identifier: MPL-2.0
//! Row 1: what the source path costs per frame. rpicamsrc2 on a simulated camera with a static
//! scene and frozen controls (each camera buffer is rendered once, so the simulated sensor costs
//! nearly nothing after warm-up) against `videotestsrc is-live=true` with the same caps, both
//! into `fakevideosink sync=false` (it takes GstVideoMeta, as encoders and display sinks do; a
//! plain fakesink would make the element copy frames whose ISP stride differs, 4056 wide). CPU is the whole process's (getrusage, all threads) between the
//! buffer ending warm-up and the last buffer, as they leave the source (a pad probe), divided by
//! the frames in between.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::util::{self, Summary};

/// rpicamsrc2 settings that make the simulated camera's pictures static: bars, no noise, and
/// exposure, gain and colour gains fixed so no buffer is rendered twice (the AGC/AWB still run).
pub const STATIC_SCENE: &str = "sim-scene=bars sim-noise=false exposure-time=4000 \
                                analogue-gain=4.0 colour-gains=\"<1.9,1.7>\"";

/// A size the row measures, with the sensor mode that gives it and that mode's highest rate.
#[derive(Debug, Clone)]
pub struct Case {
    pub label: String,
    pub sensor: &'static str,
    pub width: u32,
    pub height: u32,
    /// Highest rate of the mode, exact fraction.
    pub rate: (i32, i32),
}

impl Case {
    /// The mode of `sensor` with exactly `w`x`h`, at its maximum rate.
    pub fn new(sensor: &'static str, w: u32, h: u32) -> Self {
        let info = gstrpicamsrc2::camera::sensor::by_model(sensor).expect("known sensor");
        let m = info
            .modes
            .iter()
            .find(|m| m.size.width == w && m.size.height == h && !m.hdr)
            .unwrap_or_else(|| panic!("{sensor} has no {w}x{h} mode"));
        let rate = m.max_fps_fraction();
        Self {
            label: format!("{w}x{h}@{:.2}", util::fps_of(rate)),
            sensor,
            width: w,
            height: h,
            rate,
        }
    }

    pub fn fps(&self) -> f64 {
        util::fps_of(self.rate)
    }

    /// NV12 caps at the mode's size and maximum rate.
    pub fn caps(&self) -> String {
        format!(
            "video/x-raw,format=NV12,width={},height={},framerate={}/{}",
            self.width, self.height, self.rate.0, self.rate.1
        )
    }

    /// rpicamsrc2 on this case's simulated sensor with the static scene.
    pub fn ours(&self) -> String {
        format!("rpicamsrc2 camera-name=sim:{} {STATIC_SCENE}", self.sensor)
    }
}

/// One measured run.
#[derive(Debug, Clone, Copy)]
pub struct CostRun {
    /// Process CPU per frame, ms.
    pub cpu_ms: f64,
    /// Of which the simulated sensor's rendering (rpicamsrc2 only), ms.
    pub render_ms: f64,
    /// Delivered frames/s over the measured span.
    pub fps: f64,
    /// Frames the element copied (rpicamsrc2 only).
    pub copied: u64,
}

/// Runs `src ! caps ! fakevideosink sync=false`: skips `warmup` frames, then measures `frames`.
/// `src` must accept `num-buffers` and have the name `src`.
pub fn measure(src: &str, caps: &str, warmup: u64, frames: u64) -> Result<CostRun, String> {
    measure_through(src, caps, None, "fakevideosink sync=false", warmup, frames)
}

/// As [`measure`], with `filter` (elements, e.g. `textoverlay text=x`) between the caps and
/// `sink`: the filter's work runs in the source's streaming thread, so the process CPU per
/// frame counts it.
pub fn measure_through(
    src: &str,
    caps: &str,
    filter: Option<&str>,
    sink: &str,
    warmup: u64,
    frames: u64,
) -> Result<CostRun, String> {
    let filter = filter.map(|f| format!(" ! {f}")).unwrap_or_default();
    let p = util::pipeline(&format!(
        "{src} name=src num-buffers={} ! {caps}{filter} ! {sink}",
        warmup + frames + 1
    ));
    let el = util::element(&p, "src");
    let is_ours = el
        .factory()
        .map(|f| f.name() == "rpicamsrc2")
        .unwrap_or(false);
    /// (when, process CPU ns, simulated rendering ns) at a buffer.
    type Mark = (Instant, u64, u64);
    /// (buffers seen, mark at the first counted one, mark at the last).
    type Marks = (u64, Option<Mark>, Option<Mark>);
    let marks: Arc<Mutex<Marks>> = Default::default();
    let m = marks.clone();
    let weak = el.downgrade();
    el.static_pad("src")
        .expect("src pad")
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let mut g = m.lock().unwrap();
            let n = g.0;
            g.0 += 1;
            if n == warmup || n == warmup + frames {
                let render = match (is_ours, weak.upgrade()) {
                    (true, Some(s)) => util::stat(&s, "render-cpu-ns"),
                    _ => 0,
                };
                let mark = (Instant::now(), util::process_cpu_ns(), render);
                if n == warmup {
                    g.1 = Some(mark);
                } else {
                    g.2 = Some(mark);
                }
            }
            gst::PadProbeReturn::Ok
        });
    let timeout = Duration::from_secs_f64(10.0 + (warmup + frames) as f64 / 5.0);
    util::play_to_eos(&p, timeout)?;
    let g = marks.lock().unwrap();
    let (Some(a), Some(b)) = (g.1, g.2) else {
        return Err(format!("only {} frames arrived", g.0));
    };
    let n = frames as f64;
    Ok(CostRun {
        cpu_ms: (b.1 - a.1) as f64 / 1e6 / n,
        render_ms: (b.2 - a.2) as f64 / 1e6 / n,
        fps: n / (b.0 - a.0).as_secs_f64(),
        copied: if is_ours {
            util::stat(&el, "frames-copied")
        } else {
            0
        },
    })
}

/// The peer: videotestsrc producing the same caps live (pattern=black: its cheapest picture,
/// still painted every frame).
pub fn peer() -> &'static str {
    "videotestsrc is-live=true pattern=black"
}

/// Results for one case over the repeats.
pub struct CaseResult {
    pub case: Case,
    pub ours: Vec<CostRun>,
    pub peer: Vec<CostRun>,
}

impl CaseResult {
    pub fn ours_cpu(&self) -> Vec<f64> {
        self.ours.iter().map(|r| r.cpu_ms).collect()
    }
    pub fn peer_cpu(&self) -> Vec<f64> {
        self.peer.iter().map(|r| r.cpu_ms).collect()
    }
    pub fn render(&self) -> Summary {
        Summary::of(&self.ours.iter().map(|r| r.render_ms).collect::<Vec<_>>())
    }
    pub fn ratio(&self) -> Summary {
        util::paired_ratio(&self.ours_cpu(), &self.peer_cpu())
    }
}

/// Measures every case `repeats` times, ours and the peer back to back in each repeat.
pub fn run(cases: &[Case], repeats: usize, secs: f64) -> Vec<CaseResult> {
    let mut out: Vec<CaseResult> = cases
        .iter()
        .map(|c| CaseResult {
            case: c.clone(),
            ours: Vec::new(),
            peer: Vec::new(),
        })
        .collect();
    for _ in 0..repeats {
        for r in out.iter_mut() {
            let c = &r.case;
            // Warm-up: every camera buffer (6) rendered once, plus the AGC's first frames.
            let warmup = 10;
            let frames = ((c.fps() * secs).round() as u64).max(10);
            match measure(&c.ours(), &c.caps(), warmup, frames) {
                Ok(x) => r.ours.push(x),
                Err(e) => eprintln!("row 1: rpicamsrc2 {}: {e}", c.label),
            }
            match measure(peer(), &c.caps(), warmup, frames) {
                Ok(x) => r.peer.push(x),
                Err(e) => eprintln!("row 1: videotestsrc {}: {e}", c.label),
            }
        }
    }
    out
}
