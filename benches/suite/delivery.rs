// SPDX-License-Identifier: MPL-2.0
//! Row 3: frame delivery at each simulated sensor mode's maximum rate, main alone and main +
//! lores (640x360 at the same rate, the harder case: two buffers per frame). Static scene so the
//! simulated sensor's rendering does not limit the rate (what is measured is the element).
//!
//! Per pad: frames delivered, frames lost (the element's per-pad `frames-dropped` counter, and
//! gaps in the buffer offsets, which carry the sensor sequence), PTS jitter (|interval - mean
//! interval|, p50/p99, µs), the same over the SensorTimestamp metadata the PTS are mapped from,
//! and the lag of each buffer at the sink (pipeline running time at arrival minus PTS,
//! p50/p99, ms).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

use crate::util::{self, quantile};

/// One sensor mode at its maximum rate.
#[derive(Debug, Clone)]
pub struct Mode {
    pub sensor: &'static str,
    pub width: u32,
    pub height: u32,
    pub bits: u8,
    pub hdr: bool,
    pub rate: (i32, i32),
}

impl Mode {
    pub fn label(&self) -> String {
        format!(
            "{} {}x{} {}-bit{}@{:.2}",
            self.sensor,
            self.width,
            self.height,
            self.bits,
            if self.hdr { " HDR" } else { "" },
            util::fps_of(self.rate)
        )
    }
}

/// Every mode of every simulated sensor (the imx708's sensor-HDR mode included).
pub fn all_modes() -> Vec<Mode> {
    let mut v = Vec::new();
    for s in gstrpicamsrc2::camera::sensor::SIMULATED_SENSORS {
        let info = gstrpicamsrc2::camera::sensor::by_model(s).expect("known sensor");
        for m in &info.modes {
            v.push(Mode {
                sensor: s,
                width: m.size.width,
                height: m.size.height,
                bits: m.bit_depth,
                hdr: m.hdr,
                rate: m.max_fps_fraction(),
            });
        }
    }
    v
}

/// What one pad delivered.
#[derive(Debug, Clone, Default)]
pub struct PadDelivery {
    pub frames: u64,
    pub dropped: u64,
    pub offset_gaps: u64,
    /// Where the first gaps were: (last offset before, first after), and the first and last
    /// offsets seen.
    pub gaps_at: Vec<(u64, u64)>,
    pub first_offset: u64,
    pub last_offset: u64,
    pub fps: f64,
    pub jitter_p50_us: f64,
    pub jitter_p99_us: f64,
    /// The same over the camera's SensorTimestamp (what PTS are mapped from).
    pub sensor_jitter_p99_us: f64,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
}

/// One run of one mode.
#[derive(Debug, Clone)]
pub struct Run {
    pub main: PadDelivery,
    pub lores_pad: Option<PadDelivery>,
}

type Seen = Arc<Mutex<Vec<(u64, u64, Option<u64>, u64)>>>;

/// Records (offset, pts, lag, SensorTimestamp) of every buffer reaching `sink`.
fn watch(p: &gst::Pipeline, sink: &str) -> Seen {
    let seen: Seen = Default::default();
    let s = seen.clone();
    let el = util::element(p, sink);
    let weak = el.downgrade();
    el.static_pad("sink").expect("sink pad").add_probe(
        gst::PadProbeType::BUFFER,
        move |_, info| {
            if let Some(b) = info.buffer() {
                let now = weak.upgrade().and_then(|e| e.current_running_time());
                let pts = b.pts().map(|t| t.nseconds()).unwrap_or(0);
                let lag = now.map(|n| n.nseconds().saturating_sub(pts));
                let sensor = gstrpicamsrc2::rpicamsrc2::meta::frame_metadata(b)
                    .map(|m| m.sensor_timestamp_ns)
                    .unwrap_or(0);
                s.lock().unwrap().push((b.offset(), pts, lag, sensor));
            }
            gst::PadProbeReturn::Ok
        },
    );
    seen
}

fn summarise(seen: &Seen, dropped: u64) -> PadDelivery {
    let v = seen.lock().unwrap();
    let n = v.len();
    let mut d = PadDelivery {
        frames: n as u64,
        dropped,
        ..Default::default()
    };
    if n < 3 {
        return d;
    }
    d.offset_gaps = v
        .windows(2)
        .map(|w| w[1].0.saturating_sub(w[0].0 + 1))
        .sum();
    d.gaps_at = v
        .windows(2)
        .filter(|w| w[1].0 > w[0].0 + 1)
        .map(|w| (w[0].0, w[1].0))
        .take(3)
        .collect();
    d.first_offset = v[0].0;
    d.last_offset = v[n - 1].0;
    // The first intervals are start-up (a pad may start a frame later than another); the rest
    // is steady state, and its mean interval is the reference of the jitter.
    let skip = 3.min(n - 2);
    let span = (v[n - 1].1 - v[skip].1) as f64;
    let mean = span / (n - 1 - skip) as f64;
    d.fps = 1e9 / mean;
    let jit: Vec<f64> = v[skip..]
        .windows(2)
        .map(|w| ((w[1].1 as f64 - w[0].1 as f64) - mean).abs() / 1e3)
        .collect();
    d.jitter_p50_us = quantile(&jit, 0.5);
    d.jitter_p99_us = quantile(&jit, 0.99);
    let smean = (v[n - 1].3 as f64 - v[skip].3 as f64) / (n - 1 - skip) as f64;
    let sjit: Vec<f64> = v[skip..]
        .windows(2)
        .map(|w| ((w[1].3 as f64 - w[0].3 as f64) - smean).abs() / 1e3)
        .collect();
    d.sensor_jitter_p99_us = quantile(&sjit, 0.99);
    let lags: Vec<f64> = v[skip..]
        .iter()
        .filter_map(|x| x.2.map(|l| l as f64 / 1e6))
        .collect();
    d.lag_p50_ms = quantile(&lags, 0.5);
    d.lag_p99_ms = quantile(&lags, 0.99);
    d
}

/// Runs `mode` at its maximum rate for `secs`, with a lores stream when `lores`.
pub fn run_mode(mode: &Mode, lores: bool, secs: f64) -> Result<Run, String> {
    let fps = util::fps_of(mode.rate);
    let n = (fps * secs).round().max(15.0) as u64;
    let hdr = if mode.hdr {
        "hdr-mode=single-exposure"
    } else {
        ""
    };
    // The lores rate is given exactly: left open it fixates to a whole number below the
    // mode's fractional maximum, and the element then (rightly) skips frames to keep that
    // average rate.
    let lores_branch = if lores {
        format!(
            " cam.lores ! video/x-raw,format=NV12,width=640,height=360,framerate={}/{} ! fakesink name=l sync=false",
            mode.rate.0, mode.rate.1
        )
    } else {
        String::new()
    };
    let p = util::pipeline(&format!(
        "rpicamsrc2 name=cam camera-name=sim:{} sensor-mode={}:{}:{} {hdr} num-buffers={n} {} \
         cam.src ! video/x-raw,format=NV12,width={},height={},framerate={}/{} ! fakesink name=m sync=false{lores_branch}",
        mode.sensor,
        mode.width,
        mode.height,
        mode.bits,
        crate::cost::STATIC_SCENE,
        mode.width,
        mode.height,
        mode.rate.0,
        mode.rate.1
    ));
    let m = watch(&p, "m");
    let l = lores.then(|| watch(&p, "l"));
    util::play_to_eos(&p, Duration::from_secs_f64(secs * 4.0 + 20.0))?;
    let cam = util::element(&p, "cam");
    Ok(Run {
        main: summarise(&m, util::stat(&cam, "frames-dropped")),
        lores_pad: l.map(|l| summarise(&l, util::stat(&cam, "lores-frames-dropped"))),
    })
}
