// SPDX-License-Identifier: MPL-2.0
//! Shared helpers for the integration tests: plugin registration, running pipelines, reading
//! frames and their metadata from an appsink.
#![allow(dead_code)]

use std::sync::Once;
use std::time::Duration;

use gst::prelude::*;
use gst_video::prelude::*;
use gstrpicamsrc2::camera::FrameMetadata;

/// Held by tests whose assertions depend on timing (frame delivery at the sensor's rate, no
/// dropped frames): they run one at a time, so the 2-core machine is not shared with another
/// test's camera and encoder threads.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstrpicamsrc2::plugin_register_static().expect("plugin registers");
    });
}

/// `launch` parsed into a pipeline (GStreamer and the plugin initialised first); panics with
/// the description when it does not parse or is not a pipeline.
pub fn pipeline(launch: &str) -> gst::Pipeline {
    init();
    gst::parse::launch(launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap_or_else(|_| panic!("{launch}: not a pipeline"))
}

/// The appsink called `name` in `p`.
pub fn appsink(p: &gst::Pipeline, name: &str) -> gst_app::AppSink {
    p.by_name(name)
        .unwrap_or_else(|| panic!("no element {name}"))
        .downcast::<gst_app::AppSink>()
        .unwrap_or_else(|_| panic!("{name} is not an appsink"))
}

/// The first sample of `launch` (which must end in `appsink name=sink`), pulled within
/// `timeout`, after which the pipeline is set to NULL and dropped: the sample (and the camera
/// buffer under it) must outlive its pipeline.
pub fn sample_outliving_pipeline(launch: &str, timeout: Duration) -> gst::Sample {
    let p = pipeline(launch);
    let sink = appsink(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let sample = sink
        .try_pull_sample(gst::ClockTime::try_from(timeout).unwrap())
        .unwrap_or_else(|| panic!("{launch}: no sample within {timeout:?}"));
    p.set_state(gst::State::Null).unwrap();
    drop(sink);
    drop(p);
    sample
}

/// One frame pulled from an appsink.
#[derive(Debug, Clone)]
pub struct Frame {
    pub meta: FrameMetadata,
    pub pts: Option<gst::ClockTime>,
    pub duration: Option<gst::ClockTime>,
    pub offset: u64,
    /// Mean of the first plane's bytes over the visible width (luma for YUV formats).
    pub mean: f64,
    pub caps: gst::Caps,
}

/// Messages seen on the bus.
#[derive(Debug, Default, Clone)]
pub struct Bus {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub elements: Vec<gst::Structure>,
    pub eos: bool,
}

fn mean_of(sample: &gst::Sample) -> f64 {
    let Some(buf) = sample.buffer() else {
        return 0.0;
    };
    let Some(caps) = sample.caps() else {
        return 0.0;
    };
    let Ok(info) = gst_video::VideoInfo::from_caps(caps) else {
        return 0.0;
    };
    let Ok(frame) = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &info) else {
        return 0.0;
    };
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap_or(&[]);
    let w = frame.comp_width(0) as usize * frame.comp_pstride(0).max(1) as usize;
    let h = frame.comp_height(0) as usize;
    let mut s = 0u64;
    for y in 0..h {
        for &v in &data[y * stride..y * stride + w] {
            s += u64::from(v);
        }
    }
    s as f64 / (w * h).max(1) as f64
}

/// Runs `launch` (which must end in `appsink name=sink`) until EOS, an error or `timeout`,
/// calling `on_frame` for each frame with the pipeline (to change properties while PLAYING).
pub fn run_with(
    launch: &str,
    timeout: Duration,
    mut on_frame: impl FnMut(&gst::Pipeline, &Frame),
) -> (Vec<Frame>, Bus) {
    init();
    let pipeline = gst::parse::launch(launch)
        .expect("pipeline parses")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = pipeline
        .by_name("sink")
        .expect("an appsink named sink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    let bus = pipeline.bus().expect("pipeline bus");
    let mut out = Bus::default();
    let mut frames = Vec::new();
    if pipeline.set_state(gst::State::Playing).is_err() {
        collect(&bus, &mut out, Duration::from_millis(100));
        let _ = pipeline.set_state(gst::State::Null);
        return (frames, out);
    }
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(50)) {
            let buf = sample.buffer().expect("sample has a buffer");
            let meta = gstrpicamsrc2::rpicamsrc2::meta::frame_metadata(buf)
                .expect("every buffer carries RpiCamSrc2FrameMeta");
            let f = Frame {
                meta,
                pts: buf.pts(),
                duration: buf.duration(),
                offset: buf.offset(),
                mean: mean_of(&sample),
                caps: sample.caps().expect("sample caps").to_owned(),
            };
            on_frame(&pipeline, &f);
            frames.push(f);
        }
        collect(&bus, &mut out, Duration::ZERO);
        if out.eos || !out.errors.is_empty() || sink.is_eos() {
            break;
        }
    }
    collect(&bus, &mut out, Duration::from_millis(50));
    let _ = pipeline.set_state(gst::State::Null);
    (frames, out)
}

pub fn run(launch: &str, timeout: Duration) -> (Vec<Frame>, Bus) {
    run_with(launch, timeout, |_, _| {})
}

pub fn collect(bus: &gst::Bus, out: &mut Bus, wait: Duration) {
    let mut first = true;
    loop {
        let t = if first {
            gst::ClockTime::from_nseconds(wait.as_nanos() as u64)
        } else {
            gst::ClockTime::ZERO
        };
        first = false;
        let Some(msg) = bus.timed_pop(t) else { break };
        match msg.view() {
            gst::MessageView::Error(e) => {
                out.errors.push(format!("{} ({:?})", e.error(), e.debug()))
            }
            gst::MessageView::Warning(w) => {
                out.warnings
                    .push(format!("{} ({:?})", w.error(), w.debug()))
            }
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure() {
                    out.elements.push(s.to_owned());
                }
            }
            gst::MessageView::Eos(_) => out.eos = true,
            _ => {}
        }
    }
}

/// An environment variable set for as long as this lives (removed on drop, a failing test
/// included). Only for test binaries run with `--test-threads=1`: the environment is the
/// process's.
pub struct EnvVar(&'static str);

impl EnvVar {
    pub fn set(name: &'static str, value: &str) -> Self {
        std::env::set_var(name, value);
        Self(name)
    }
}

impl Drop for EnvVar {
    fn drop(&mut self) {
        std::env::remove_var(self.0);
    }
}

/// Runs a pipeline to EOS or error, returning the bus messages.
pub fn run_to_end(launch: &str, timeout: Duration) -> Bus {
    init();
    let pipeline = gst::parse::launch(launch).expect("pipeline parses");
    let bus = pipeline.bus().expect("bus");
    let mut out = Bus::default();
    if pipeline.set_state(gst::State::Playing).is_ok() {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline && !out.eos && out.errors.is_empty() {
            collect(&bus, &mut out, Duration::from_millis(100));
        }
    } else {
        collect(&bus, &mut out, Duration::from_millis(100));
    }
    let _ = pipeline.set_state(gst::State::Null);
    out
}

/// `ffprobe` JSON for a file.
pub fn ffprobe(path: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe runs (Debian package ffmpeg)");
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe prints JSON")
}
