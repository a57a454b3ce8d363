// SPDX-License-Identifier: MPL-2.0
//! Row 6: latency.
//!
//! * PLAYING to first buffer: wall time from `set_state(Playing)` on a NULL pipeline (the
//!   element opens the camera, negotiates, configures and starts it) to the first buffer
//!   reaching the sink. Peer: videotestsrc is-live=true with the same caps.
//! * Control to metadata: a control is set from the streaming thread as frame k leaves the
//!   source; the first frame whose metadata shows the new value is found. Reported from frame
//!   k (what the application sees) and from the request that carried the control (the frame
//!   the camera was about to capture, read from `frames-captured`): the latter is the sensor's
//!   control delay (what libcamera's DelayedControls gives on a Pi) whatever the load.
//! * Capture to push: for each buffer leaving the source, CLOCK_MONOTONIC now minus its
//!   SensorTimestamp (start of frame), and the same in pipeline running time (now minus PTS),
//!   which also works for the peer videotestsrc (its PTS is the time the frame is due).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::util::{self, quantile};

/// PLAYING to the first buffer at the sink: wall ms, and the process's CPU ms (all threads,
/// getrusage) over the same span, which a busy machine does not inflate.
#[derive(Debug, Clone, Copy)]
pub struct FirstBuffer {
    pub wall_ms: f64,
    pub cpu_ms: f64,
}

/// Wall and CPU ms from PLAYING to the first buffer at the sink.
pub fn first_buffer(source: &str, caps: &str) -> Result<FirstBuffer, String> {
    let p = util::pipeline(&format!(
        "{source} num-buffers=3 ! {caps} ! fakesink name=sink sync=false"
    ));
    let first: Arc<Mutex<Option<(Instant, u64)>>> = Default::default();
    let f = first.clone();
    util::element(&p, "sink")
        .static_pad("sink")
        .expect("sink pad")
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            f.lock()
                .unwrap()
                .get_or_insert_with(|| (Instant::now(), util::process_cpu_ns()));
            gst::PadProbeReturn::Ok
        });
    let cpu0 = util::process_cpu_ns();
    let t0 = Instant::now();
    util::play_to_eos(&p, Duration::from_secs(20))?;
    let (t, cpu) = first.lock().unwrap().ok_or("no buffer")?;
    Ok(FirstBuffer {
        wall_ms: (t - t0).as_secs_f64() * 1e3,
        cpu_ms: cpu.saturating_sub(cpu0) as f64 / 1e6,
    })
}

/// A control, the value set, and how to read it back from the metadata.
#[derive(Debug, Clone, Copy)]
pub enum Control {
    /// exposure-time in µs.
    ExposureTime(i32),
    /// analogue-gain.
    AnalogueGain(f32),
}

impl Control {
    pub fn label(&self) -> String {
        match self {
            Control::ExposureTime(v) => format!("exposure-time={v}"),
            Control::AnalogueGain(v) => format!("analogue-gain={v}"),
        }
    }

    fn set(&self, src: &gst::Element) {
        match *self {
            Control::ExposureTime(v) => src.set_property("exposure-time", v),
            Control::AnalogueGain(v) => src.set_property("analogue-gain", v),
        }
    }

    fn shows(&self, m: &gstrpicamsrc2::camera::FrameMetadata) -> bool {
        match *self {
            // Exposure is quantised to lines (tens of µs).
            Control::ExposureTime(v) => (i64::from(m.exposure_time_us) - i64::from(v)).abs() <= 50,
            // Gain is quantised to the sensor's gain codes.
            Control::AnalogueGain(v) => (m.analogue_gain - v).abs() <= 0.03 * v,
        }
    }

    /// The sensor's delay for this control (frames).
    pub fn sensor_delay(&self, sensor: &str) -> u32 {
        let info = gstrpicamsrc2::camera::sensor::by_model(sensor).expect("known sensor");
        match self {
            Control::ExposureTime(_) => info.exposure_delay,
            Control::AnalogueGain(_) => info.gain_delay,
        }
    }
}

/// A control-delay measurement.
#[derive(Debug, Clone, Copy)]
pub struct ControlDelay {
    /// Frames from the frame leaving the source when the control was set to the first frame
    /// showing it (what an application sees; includes how far capture was ahead of the pad).
    pub from_pad: u64,
    /// Frames from the request that carried the control (the sequence the camera was about to
    /// capture when it was set: `frames-captured` then) to the first frame showing it (the
    /// sensor's delay exactly, whatever the machine load).
    pub from_request: u64,
}

/// Sets `control` as frame `at` leaves the source of `sim:<sensor>` (640x480, 60 fps) and
/// finds the first frame whose metadata shows it. The sensors used have no hidden start-up
/// frames, so `frames-captured` is the sequence of the next request.
pub fn control_delay(sensor: &str, control: Control, at: u64) -> Result<ControlDelay, String> {
    let n = at + 15;
    // sync=false: a syncing sink would hold the streaming thread for a frame.
    let p = util::pipeline(&format!(
        "rpicamsrc2 name=src camera-name=sim:{sensor} num-buffers={n} ! \
         video/x-raw,width=640,height=480,framerate=60/1 ! fakesink name=sink sync=false"
    ));
    let src = util::element(&p, "src");
    type Seen = (Vec<(u64, bool)>, Option<Option<u64>>);
    let seen: Arc<Mutex<Seen>> = Default::default();
    let s = seen.clone();
    let weak = src.downgrade();
    src.static_pad("src")
        .expect("src pad")
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                if let Some(m) = gstrpicamsrc2::rpicamsrc2::meta::frame_metadata(b) {
                    let mut g = s.lock().unwrap();
                    g.0.push((m.sequence, control.shows(&m)));
                    if m.sequence == at {
                        if let Some(src) = weak.upgrade() {
                            // The request the control joins: the camera's next frame. Read
                            // before and after; a frame starting in between makes it
                            // ambiguous (None).
                            let before = util::stat(&src, "frames-captured");
                            control.set(&src);
                            let after = util::stat(&src, "frames-captured");
                            g.1 = Some((before == after).then_some(before));
                        }
                    }
                }
            }
            gst::PadProbeReturn::Ok
        });
    util::play_to_eos(&p, Duration::from_secs(20))?;
    let g = seen.lock().unwrap();
    let v = &g.0;
    if v.iter().any(|(s, shows)| *s <= at && *shows) {
        return Err(format!(
            "{} already showed before it was set",
            control.label()
        ));
    }
    let first = v
        .iter()
        .find(|(s, shows)| *s > at && *shows)
        .map(|(s, _)| *s)
        .ok_or_else(|| format!("{} never showed in {} frames", control.label(), v.len()))?;
    let request =
        g.1.ok_or("frame at never left the source")?
            .ok_or("a frame started while the control was set (ambiguous)")?;
    Ok(ControlDelay {
        from_pad: first - at,
        from_request: first.saturating_sub(request),
    })
}

/// Capture-to-push latency percentiles of one run, ms.
#[derive(Debug, Clone, Copy, Default)]
pub struct PushLatency {
    /// Monotonic now minus SensorTimestamp (rpicamsrc2 only).
    pub sensor_p50: f64,
    pub sensor_p99: f64,
    /// Running time now minus PTS.
    pub pts_p50: f64,
    pub pts_p99: f64,
}

/// Capture-to-push latency of `frames` buffers of `source` (named `src`) at `caps`.
pub fn capture_to_push(source: &str, caps: &str, frames: u64) -> Result<PushLatency, String> {
    let p = util::pipeline(&format!(
        "{source} name=src num-buffers={} ! {caps} ! fakesink sync=false",
        frames + 5
    ));
    let src = util::element(&p, "src");
    /// Per buffer: (SensorTimestamp to push, PTS to push), ms.
    type Seen = Vec<(Option<f64>, Option<f64>)>;
    let seen: Arc<Mutex<Seen>> = Default::default();
    let s = seen.clone();
    let weak = src.downgrade();
    src.static_pad("src")
        .expect("src pad")
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let mono = util::monotonic_ns();
            let rt = weak.upgrade().and_then(|e| e.current_running_time());
            if let Some(b) = info.buffer() {
                let sensor = gstrpicamsrc2::rpicamsrc2::meta::frame_metadata(b)
                    .map(|m| mono.saturating_sub(m.sensor_timestamp_ns) as f64 / 1e6);
                let pts = match (rt, b.pts()) {
                    (Some(rt), Some(pts)) => {
                        Some((rt.nseconds() as f64 - pts.nseconds() as f64) / 1e6)
                    }
                    _ => None,
                };
                s.lock().unwrap().push((sensor, pts));
            }
            gst::PadProbeReturn::Ok
        });
    util::play_to_eos(&p, Duration::from_secs_f64(20.0 + frames as f64 / 5.0))?;
    let v = seen.lock().unwrap();
    // The first frames are start-up.
    let v = &v[5.min(v.len())..];
    let sensor: Vec<f64> = v.iter().filter_map(|x| x.0).collect();
    let pts: Vec<f64> = v.iter().filter_map(|x| x.1).collect();
    Ok(PushLatency {
        sensor_p50: quantile(&sensor, 0.5),
        sensor_p99: quantile(&sensor, 0.99),
        pts_p50: quantile(&pts, 0.5),
        pts_p99: quantile(&pts, 0.99),
    })
}
