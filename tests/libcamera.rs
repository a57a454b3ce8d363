// SPDX-License-Identifier: MPL-2.0
//! The libcamera backend against real libcamera: libcamera 0.4's virtual pipeline handler in the
//! Debian trixie root that `scripts/trixie-root.sh test` builds and runs this suite in. The
//! virtual camera `Virtual0` ("Virtual Video Device") offers NV12 at 640x480 and 1920x1080 with
//! a colour-bar test pattern (see the YAML the script writes).
//!
//! Run with `--test-threads=1`: libcamera lets one user acquire a camera at a time.
#![cfg(feature = "libcamera")]

mod common;

use common::init;

use std::{path::Path, process::Command, sync::Arc, time::Duration};

use gst::prelude::*;
use gst_video::prelude::*;
use gstrpicamsrc2::camera::{
    self,
    backend::{CameraBackend, CameraError, CompletedFrame},
    config::{CameraConfiguration, ConfigStatus, StreamConfig, StreamRole},
    controls::{ControlId, ControlList, ControlValue},
    format::{ColorSpace, PixelFormat, Size},
};

const VIRTUAL: &str = "Virtual0";
const TIMEOUT: Duration = Duration::from_secs(5);

fn open(name: &str) -> Arc<dyn CameraBackend> {
    init();
    camera::open_camera(Some(name)).unwrap_or_else(|e| panic!("open {name}: {e}"))
}

fn config(w: u32, h: u32, format: PixelFormat) -> CameraConfiguration {
    CameraConfiguration {
        streams: vec![StreamConfig::new(StreamRole::Main, Size::new(w, h), format)],
        framerate: Some((30, 1)),
        ..Default::default()
    }
}

fn configure(cam: &Arc<dyn CameraBackend>, w: u32, h: u32) -> CameraConfiguration {
    let mut c = config(w, h, PixelFormat::Nv12);
    let st = cam.validate(&mut c).expect("validate");
    assert_eq!(
        st,
        ConfigStatus::Valid,
        "{w}x{h} NV12 should be valid as asked"
    );
    cam.configure(&c).expect("configure");
    c
}

fn next(cam: &Arc<dyn CameraBackend>) -> CompletedFrame {
    cam.next_frame(TIMEOUT)
        .expect("next_frame")
        .expect("a frame within 5 s")
}

/// Runs of equal luma (within 4) along row `row`: (start, length, mean).
fn runs(y: &[u8], stride: usize, w: usize, row: usize) -> Vec<(usize, usize, f64)> {
    let line = &y[row * stride..row * stride + w];
    let mut out = Vec::new();
    let mut start = 0;
    for x in 1..=w {
        if x == w || line[x].abs_diff(line[x - 1]) > 4 {
            let sum: u64 = line[start..x].iter().map(|&v| u64::from(v)).sum();
            out.push((start, x - start, sum as f64 / (x - start) as f64));
            start = x;
        }
    }
    out
}

/// libcamera's virtual camera draws eight vertical colour bars (white, yellow, cyan, green,
/// magenta, red, blue, black: luma falling from ~235 to ~16) and scrolls them one pixel left
/// per frame. Checks, on three rows, that there are eight bands of w/8 pixels (the one cut by
/// the wrap in two parts) whose luma falls left to right except once (the wrap).
#[track_caller]
fn assert_colour_bars(y: &[u8], stride: usize, w: usize, h: usize) {
    for row in [h / 4, h / 2, 3 * h / 4] {
        let r = runs(y, stride, w, row);
        assert!(
            (8..=9).contains(&r.len()),
            "row {row}: 8 bars (9 runs when one wraps), got {r:?}"
        );
        let bar = w / 8;
        let inner = &r[1..r.len() - 1];
        assert!(
            inner.iter().all(|(_, len, _)| len.abs_diff(bar) <= 1),
            "row {row}: bars of {bar} px: {r:?}"
        );
        let levels: Vec<f64> = r.iter().map(|(_, _, m)| *m).collect();
        let rises = levels.windows(2).filter(|p| p[1] > p[0]).count();
        assert!(
            rises <= 1,
            "row {row}: luma should fall left to right but for the wrap: {levels:?}"
        );
        let (lo, hi) = levels
            .iter()
            .fold((255f64, 0f64), |(a, b), &v| (a.min(v), b.max(v)));
        assert!(
            hi > 200.0 && lo < 40.0,
            "row {row}: white and black bars: {levels:?}"
        );
    }
}

/// The pattern of a frame `d` sequence numbers later is this one scrolled `d` pixels left.
#[track_caller]
fn assert_scrolled(earlier: &[u8], later: &[u8], stride: usize, w: usize, row: usize, d: u64) {
    let a = &earlier[row * stride..row * stride + w];
    let b = &later[row * stride..row * stride + w];
    let d = (d % w as u64) as usize;
    let same = (0..w).filter(|&x| b[x] == a[(x + d) % w]).count();
    assert!(
        same >= w - 2,
        "frame {d} later should be scrolled by {d} px ({same}/{w} pixels match)"
    );
}

#[test]
fn enumeration_lists_the_virtual_camera_first_then_the_simulated_ones() {
    init();
    let list = camera::list_cameras();
    let first = list.first().expect("a camera");
    assert_eq!(first.id, VIRTUAL, "{list:?}");
    assert!(!first.simulated);
    assert_eq!(first.model, "Virtual Video Device");
    assert!(
        list.iter().any(|c| c.id == "sim:imx219" && c.simulated),
        "{list:?}"
    );

    // The same camera by libcamera id, model name, index, and by default.
    for name in [VIRTUAL, "Virtual Video Device", "virtual video device", "0"] {
        let cam = open(name);
        assert_eq!(cam.info().id, VIRTUAL, "{name}");
        drop(cam);
    }
    let cam = camera::open_camera(None).expect("default camera");
    let info = cam.info();
    assert_eq!(
        info.id, VIRTUAL,
        "unset camera-name means the first libcamera camera"
    );
    assert!(!info.simulated);
    assert_eq!(info.formats, vec![PixelFormat::Nv12]);
    let sizes: Vec<Size> = info.modes.iter().map(|m| m.size).collect();
    assert!(
        sizes.contains(&Size::new(640, 480)) && sizes.contains(&Size::new(1920, 1080)),
        "{sizes:?}"
    );
}

#[test]
fn a_wrong_name_lists_every_camera_present() {
    init();
    let e = camera::open_camera(Some("imx999"))
        .err()
        .expect("no such camera");
    assert!(matches!(e, CameraError::NotFound { .. }), "{e:?}");
    let s = e.to_string();
    assert!(s.contains("'imx999'"), "{s}");
    assert!(
        s.contains("Virtual0 (Virtual Video Device, index 0)"),
        "{s}"
    );
    assert!(s.contains("sim:imx219") && s.contains("sim:imx708"), "{s}");
    assert!(
        camera::open_camera(Some("7")).is_err(),
        "index out of range"
    );
}

#[test]
fn negotiates_640x480_and_1920x1080_nv12() {
    let cam = open(VIRTUAL);
    for (w, h) in [(640, 480), (1920, 1080)] {
        let c = configure(&cam, w, h);
        let s = &c.streams[0];
        let layout = s.layout.as_ref().expect("layout");
        assert_eq!(layout.planes.len(), 2, "NV12 has two planes");
        assert!(layout.planes[0].stride >= w as usize);
        assert_eq!(
            layout.planes[1].offset,
            layout.planes[0].stride * h as usize
        );
        // libcamera 0.4's virtual camera leaves the colour space as asked (none here).
        assert_eq!(s.color_space, None);
        let m = c.chosen_mode.as_ref().expect("a mode");
        assert_eq!(m.size, Size::new(w, h));
    }
    // A colour space asked for is passed to libcamera and kept.
    let mut c = config(1920, 1080, PixelFormat::Nv12);
    c.streams[0].color_space = Some(ColorSpace::Rec709);
    assert_eq!(cam.validate(&mut c).expect("validate"), ConfigStatus::Valid);
    assert_eq!(c.streams[0].color_space, Some(ColorSpace::Rec709));
}

#[test]
fn unsupported_size_and_format_are_explained() {
    let cam = open(VIRTUAL);
    // The virtual camera's stream formats range from 640x480 to 1920x1080.
    let mut c = config(320, 240, PixelFormat::Nv12);
    match cam.validate(&mut c).expect("validate") {
        ConfigStatus::Adjusted(changes) => {
            let all = changes.join("; ");
            assert!(all.contains("size 320x240 -> "), "{all}");
        }
        other => panic!("320x240 should be adjusted, got {other:?}"),
    }
    assert_ne!(c.streams[0].size, Size::new(320, 240));

    let mut c = config(640, 480, PixelFormat::Rgb);
    match cam.validate(&mut c).expect("validate") {
        ConfigStatus::Adjusted(changes) => {
            let all = changes.join("; ");
            assert!(all.contains("pixel format BGR888 -> NV12"), "{all}");
        }
        other => panic!("RGB should be adjusted to NV12, got {other:?}"),
    }
    assert_eq!(c.streams[0].format, PixelFormat::Nv12);
}

#[test]
fn frames_carry_the_colour_bars_with_rising_sequence_and_timestamps() {
    let cam = open(VIRTUAL);
    for (w, h) in [(640usize, 480usize), (1920, 1080)] {
        configure(&cam, w as u32, h as u32);
        cam.start(&ControlList::new()).expect("start");
        let mut last: Option<(u64, u64)> = None;
        let mut previous: Option<(Vec<u8>, u64)> = None;
        for i in 0..30 {
            let f = next(&cam);
            let md = &f.metadata;
            // SensorTimestamp comes from the request, on CLOCK_MONOTONIC (as the element's
            // timestamps assume).
            let age = camera::monotonic_ns().saturating_sub(md.sensor_timestamp_ns);
            assert!(
                md.sensor_timestamp_ns > 0 && age < 1_000_000_000,
                "SensorTimestamp {} is {age} ns old",
                md.sensor_timestamp_ns
            );
            if let Some((seq, ts)) = last {
                assert!(md.sequence > seq, "sequence {} after {seq}", md.sequence);
                assert!(
                    md.sensor_timestamp_ns > ts,
                    "timestamp {} after {ts}",
                    md.sensor_timestamp_ns
                );
            }
            last = Some((md.sequence, md.sensor_timestamp_ns));
            let (role, fb) = f.buffers.first().expect("a buffer");
            assert_eq!(*role, StreamRole::Main);
            assert!(fb.fd().is_some(), "memfd or dma-buf behind every buffer");
            let stride = fb.layout().planes[0].stride;
            let bytes: &[u8] = fb.as_ref();
            assert!(bytes.len() >= stride * h * 3 / 2);
            if let Some((prev, prev_seq)) = &previous {
                assert_scrolled(prev, bytes, stride, w, h / 2, md.sequence - prev_seq);
            }
            previous = Some((bytes[..stride * h].to_vec(), md.sequence));
            if i % 10 == 0 {
                assert_colour_bars(bytes, stride, w, h);
                // Chroma is present (not a grey frame): the UV plane varies.
                let uv = &bytes[fb.layout().planes[1].offset..];
                let (lo, hi) = uv[..stride]
                    .iter()
                    .fold((255u8, 0u8), |(a, b), &v| (a.min(v), b.max(v)));
                assert!(
                    hi - lo > 50,
                    "chroma should vary across the bars: {lo}..{hi}"
                );
            }
        }
        cam.stop();
    }
}

#[test]
fn buffers_return_to_the_camera_when_dropped_and_are_not_copied() {
    let cam = open(VIRTUAL);
    let c = configure(&cam, 640, 480);
    let count = c.streams[0].buffer_count as usize;
    cam.start(&ControlList::new()).expect("start");
    // Hold every buffer: the camera runs dry.
    let mut held = Vec::new();
    for _ in 0..count {
        held.push(next(&cam));
    }
    assert!(
        cam.next_frame(Duration::from_millis(500))
            .expect("next_frame")
            .is_none(),
        "no frame while downstream holds all {count} buffers"
    );
    let addrs: Vec<usize> = held
        .iter()
        .map(|f| f.buffers[0].1.as_ref().as_ptr() as usize)
        .collect();
    drop(held);
    // Released buffers are queued again: frames resume, in the same memory (no copies).
    for _ in 0..3 * count {
        let f = next(&cam);
        let a = f.buffers[0].1.as_ref().as_ptr() as usize;
        assert!(
            addrs.contains(&a),
            "frame memory {a:#x} is one of the camera's {count} buffers"
        );
    }
    cam.stop();
}

#[test]
fn start_stop_twice_and_reopen() {
    for _ in 0..2 {
        let cam = open(VIRTUAL);
        for (w, h) in [(640, 480), (1920, 1080), (640, 480)] {
            configure(&cam, w, h);
            cam.start(&ControlList::new()).expect("start");
            for _ in 0..5 {
                let f = next(&cam);
                assert_eq!(f.buffers[0].1.layout().planes[0].rows, h as usize);
            }
            cam.stop();
        }
    }
}

#[test]
fn controls_the_camera_lacks_are_refused_with_a_note() {
    let cam = open(VIRTUAL);
    configure(&cam, 640, 480);
    let mut c = ControlList::new();
    c.set(ControlId::AfMode, ControlValue::I32(2));
    cam.start(&c).expect("start");
    let f = next(&cam);
    let notes = f.notes.join("; ");
    assert!(
        notes.contains("AfMode ignored") && notes.contains(VIRTUAL),
        "{notes}"
    );
    assert!(cam
        .inject_fault(camera::backend::Fault::FrameError { count: 1 })
        .is_err());
    cam.stop();
}

// ---- the element on real libcamera input ---------------------------------------------------

/// What a test keeps of a sample: samples themselves hold camera buffers, and a test that kept
/// them all would starve the camera.
#[derive(Debug)]
struct Seen {
    width: usize,
    height: usize,
    pts: Option<gst::ClockTime>,
    offset: u64,
    /// Y plane and its stride, copied for every fifth sample.
    luma: Option<(Vec<u8>, usize)>,
    /// The kind of the buffer's memory: "dmabuf", "fd" or "system".
    memory: &'static str,
}

fn seen(s: &gst::Sample, index: usize) -> Seen {
    let info = gst_video::VideoInfo::from_caps(s.caps().expect("caps")).expect("video info");
    let buf = s.buffer().expect("buffer");
    let luma = index.is_multiple_of(5).then(|| {
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buf, &info).unwrap_or_else(|e| {
            panic!(
                "map frame: {e}; buffer of {} bytes in {} memories, video meta {:?}, caps {info:?}",
                buf.size(),
                buf.n_memory(),
                buf.meta::<gst_video::VideoMeta>().map(|m| (m.offset().to_vec(), m.stride().to_vec()))
            )
        });
        (frame.plane_data(0).expect("Y plane").to_vec(), frame.plane_stride()[0] as usize)
    });
    let memory = match buf.peek_memory(0) {
        m if m
            .downcast_memory_ref::<gst_allocators::DmaBufMemory>()
            .is_some() =>
        {
            "dmabuf"
        }
        m if m
            .downcast_memory_ref::<gst_allocators::FdMemory>()
            .is_some() =>
        {
            "fd"
        }
        _ => "system",
    };
    Seen {
        width: info.width() as usize,
        height: info.height() as usize,
        pts: buf.pts(),
        offset: buf.offset(),
        luma,
        memory,
    }
}

/// Sets the pipeline to NULL when dropped, also when a test panics, so that the camera is
/// released for the next test.
struct NullOnDrop(gst::Pipeline);

impl Drop for NullOnDrop {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

fn run_pipeline(desc: &str) -> Result<Vec<Seen>, String> {
    init();
    let pipeline = gst::parse::launch(desc).map_err(|e| e.to_string())?;
    let pipeline = pipeline
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    let _guard = NullOnDrop(pipeline.clone());
    let sink = pipeline
        .by_name("sink")
        .and_then(|s| s.downcast::<gst_app::AppSink>().ok());
    let bus = pipeline.bus().ok_or("no bus")?;
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        // The element posted why on the bus.
        let why = bus.iter().find_map(|m| match m.view() {
            gst::MessageView::Error(e) => Some(format!("{} ({:?})", e.error(), e.debug())),
            _ => None,
        });
        return Err(why.unwrap_or_else(|| format!("{e:?}")));
    }
    let mut samples = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let result = loop {
        if let Some(sink) = &sink {
            while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(1)) {
                samples.push(seen(&s, samples.len()));
            }
        }
        if std::time::Instant::now() > deadline {
            break Err("timeout".to_string());
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(..) => break Ok(()),
            gst::MessageView::Error(e) => break Err(format!("{} ({:?})", e.error(), e.debug())),
            _ => {}
        }
    };
    if let Some(sink) = &sink {
        while let Some(s) = sink.try_pull_sample(gst::ClockTime::ZERO) {
            samples.push(seen(&s, samples.len()));
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    result.map(|_| samples)
}

#[test]
fn element_captures_num_buffers_then_eos_at_both_sizes() {
    for (w, h) in [(640usize, 480usize), (1920, 1080)] {
        let samples = run_pipeline(&format!(
            "rpicamsrc2 camera-name={VIRTUAL} num-buffers=20 ! video/x-raw,format=NV12,width={w},height={h} ! \
             appsink name=sink sync=false"
        ))
        .expect("pipeline");
        assert_eq!(samples.len(), 20, "num-buffers=20 then EOS");
        // No dma-buf provider here: the backend's memfd buffers travel as fd memory.
        assert!(
            samples.iter().all(|s| s.memory == "fd"),
            "{:?}",
            samples.iter().map(|s| s.memory).collect::<Vec<_>>()
        );
        let mut last: Option<(u64, gst::ClockTime)> = None;
        for s in &samples {
            assert_eq!((s.width, s.height), (w, h));
            let pts = s.pts.expect("pts");
            if let Some((off, t)) = last {
                assert!(s.offset > off, "offsets (sequence) rise");
                assert!(pts > t, "pts rise: {pts} after {t}");
            }
            last = Some((s.offset, pts));
            if let Some((y, stride)) = &s.luma {
                assert_colour_bars(y, *stride, w, h);
            }
        }
    }
}

#[test]
fn element_refuses_an_unsupported_size_with_a_clear_error() {
    let e = run_pipeline(&format!(
        "rpicamsrc2 camera-name={VIRTUAL} num-buffers=5 ! video/x-raw,width=320,height=240 ! fakesink"
    ))
    .expect_err("320x240 cannot be negotiated");
    assert!(e.contains("320") && e.contains("640x480"), "{e}");
    let e = run_pipeline(&format!(
        "rpicamsrc2 camera-name={VIRTUAL} num-buffers=5 ! video/x-raw,format=RGB,width=640,height=480 ! fakesink"
    ))
    .expect_err("RGB cannot be negotiated");
    assert!(e.contains("RGB") || e.contains("BGR888"), "{e}");
}

#[test]
fn element_reports_a_wrong_camera_name_with_the_cameras_present() {
    let e = run_pipeline("rpicamsrc2 camera-name=imx999 num-buffers=5 ! fakesink")
        .expect_err("no such camera");
    assert!(
        e.contains("imx999") && e.contains("Virtual0") && e.contains("sim:imx219"),
        "{e}"
    );
}

#[test]
fn element_playing_null_playing_twice() {
    init();
    let pipeline = gst::parse::launch(&format!(
        "rpicamsrc2 camera-name={VIRTUAL} ! video/x-raw,width=640,height=480 ! appsink name=sink sync=false max-buffers=1 drop=true"
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("pipeline");
    let _guard = NullOnDrop(pipeline.clone());
    let sink = pipeline
        .by_name("sink")
        .expect("sink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    for round in 0..3 {
        pipeline.set_state(gst::State::Playing).expect("PLAYING");
        for _ in 0..10 {
            let s = sink
                .try_pull_sample(gst::ClockTime::from_seconds(5))
                .unwrap_or_else(|| panic!("round {round}: no frame"));
            assert!(s.buffer().is_some());
        }
        pipeline.set_state(gst::State::Null).expect("NULL");
    }
}

fn ffprobe(path: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe runs (ffmpeg is installed in the trixie root)");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn main_job_on_libcamera_jpeg_sequence_and_h264_mp4() {
    init();
    let dir = tempfile::tempdir().expect("tempdir");
    // JPEG sequence.
    let pattern = dir.path().join("frame-%03d.jpg");
    run_pipeline(&format!(
        "rpicamsrc2 camera-name={VIRTUAL} num-buffers=10 ! video/x-raw,width=640,height=480 ! jpegenc ! \
         multifilesink location={}",
        pattern.display()
    ))
    .expect("jpeg pipeline");
    for i in 0..10 {
        let f = dir.path().join(format!("frame-{i:03}.jpg"));
        let dims = ffprobe(
            &f,
            &[
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=codec_name,width,height",
                "-of",
                "csv=p=0",
            ],
        );
        assert_eq!(dims, "mjpeg,640,480", "{}", f.display());
    }
    // H.264 in MP4: rpih264enc once the project has it, x264enc until then.
    let enc = if gst::ElementFactory::find("rpih264enc").is_some() {
        "rpih264enc"
    } else {
        "x264enc tune=zerolatency speed-preset=ultrafast"
    };
    let mp4 = dir.path().join("out.mp4");
    run_pipeline(&format!(
        "rpicamsrc2 camera-name={VIRTUAL} num-buffers=60 ! video/x-raw,width=1920,height=1080,framerate=30/1 ! {enc} ! \
         h264parse ! mp4mux ! filesink location={}",
        mp4.display()
    ))
    .expect("mp4 pipeline");
    // -count_frames decodes every frame; decoding errors would show at -v error.
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&mp4)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "h264,1920,1080,60",
        "{enc}"
    );
}

/// The device provider lists the virtual camera (caps per mode, libcamera's id and model), no
/// simulated camera unless asked, and the launch line it gives (`rpicamsrc2
/// camera-name=Virtual0`) captures.
#[test]
fn device_monitor_lists_the_virtual_camera() {
    init();
    std::env::remove_var(camera::SIM_DEVICES_ENV);
    let m = gst::DeviceMonitor::new();
    m.add_filter(Some("Video/Source"), None);
    m.start().expect("the monitor starts");
    let ours: Vec<gst::Device> = m
        .devices()
        .into_iter()
        .filter(|d| d.type_().name() == "GstRpiCamSrc2Device")
        .collect();
    m.stop();
    let props = |d: &gst::Device| d.properties().expect("properties");
    assert!(
        ours.iter()
            .all(|d| !props(d).get::<bool>("simulated").unwrap()),
        "a simulated camera listed without RPICAMSRC2_SIM_DEVICES"
    );
    let d = ours
        .iter()
        .find(|d| props(d).get::<String>("camera-name").ok().as_deref() == Some(VIRTUAL))
        .expect("the virtual camera is listed");
    let p = props(d);
    assert_eq!(p.get::<String>("api.libcamera.id").unwrap(), VIRTUAL);
    assert_eq!(
        p.get::<String>("api.libcamera.Model").unwrap(),
        "Virtual Video Device"
    );
    let caps = d.caps().expect("caps");
    for (w, h) in [(1920, 1080), (640, 480)] {
        assert!(
            caps.iter()
                .any(|s| s.get::<i32>("width") == Ok(w) && s.get::<i32>("height") == Ok(h)),
            "{w}x{h} missing from {caps}"
        );
    }
    let src = d.create_element(None).expect("an rpicamsrc2");
    assert_eq!(
        src.property::<Option<String>>("camera-name").as_deref(),
        Some(VIRTUAL)
    );
    drop(src);
    let samples = run_pipeline(&format!(
        "rpicamsrc2 camera-name={VIRTUAL} num-buffers=5 ! video/x-raw,width=640,height=480 ! \
         appsink name=sink sync=false"
    ))
    .expect("the device's element captures");
    assert_eq!(samples.len(), 5);
}

/// libcamerasrc's memory-lifetime test on the virtual camera: a sample pulled from appsink
/// stays readable after the pipeline went to NULL and was dropped.
#[test]
fn a_sample_outlives_its_pipeline() {
    let sample = common::sample_outliving_pipeline(
        &format!(
            "rpicamsrc2 camera-name={VIRTUAL} ! video/x-raw,width=640,height=480 ! appsink name=sink"
        ),
        Duration::from_secs(5),
    );
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer().unwrap(), &info)
        .expect("still readable");
    let stride = frame.plane_stride()[0] as usize;
    assert_colour_bars(frame.plane_data(0).unwrap(), stride, 640, 480);
}

/// A still beside the video on the libcamera backend (the `still` pad and `capture-still`):
/// libcamera's virtual camera reports neither AeState nor AwbLocked, so nothing is searching
/// and the still is the next frame; it is a copy of a video frame (same sequence), at the main
/// stream's size, and the video still has all its frames.
#[test]
fn a_still_is_taken_beside_the_video() {
    init();
    let pipeline = gst::parse::launch(&format!(
        "rpicamsrc2 name=cam camera-name={VIRTUAL} num-buffers=20 \
         ! video/x-raw,format=NV12,width=640,height=480 ! appsink name=sink sync=false \
         cam.still ! appsink name=still sync=false"
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    let _guard = NullOnDrop(pipeline.clone());
    let app = |n: &str| {
        pipeline
            .by_name(n)
            .and_then(|s| s.downcast::<gst_app::AppSink>().ok())
            .expect("appsink")
    };
    let (sink, still) = (app("sink"), app("still"));
    let cam = pipeline.by_name("cam").expect("cam");
    pipeline.set_state(gst::State::Playing).expect("playing");
    let mut offsets = Vec::new();
    let bus = pipeline.bus().expect("bus");
    let Some(first) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) else {
        let msgs: Vec<String> = bus
            .iter()
            .filter(|m| {
                matches!(
                    m.type_(),
                    gst::MessageType::Error | gst::MessageType::Warning
                )
            })
            .map(|m| format!("{m:?}"))
            .collect();
        panic!("no first video frame: {msgs:#?}");
    };
    offsets.push(first.buffer().expect("buffer").offset());
    assert!(cam.emit_by_name::<bool>("capture-still", &[]));
    while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        offsets.push(s.buffer().expect("buffer").offset());
    }
    assert_eq!(
        offsets.len(),
        20,
        "the video keeps every frame: {offsets:?}"
    );
    assert!(offsets.windows(2).all(|w| w[1] > w[0]), "{offsets:?}");
    let s = still
        .try_pull_sample(gst::ClockTime::from_seconds(5))
        .expect("a still");
    let caps = s
        .caps()
        .expect("caps")
        .structure(0)
        .expect("structure")
        .to_owned();
    assert_eq!(caps.get::<i32>("width").unwrap(), 640);
    assert_eq!(caps.get::<i32>("height").unwrap(), 480);
    let off = s.buffer().expect("buffer").offset();
    assert!(
        offsets.contains(&off),
        "the still is video frame {off}: {offsets:?}"
    );
    let msg = bus
        .iter()
        .find_map(|m| {
            m.structure()
                .filter(|s| s.name() == "rpicamsrc2-still")
                .map(|s| s.to_owned())
        })
        .expect("an rpicamsrc2-still message");
    assert!(msg.get::<bool>("settled").unwrap(), "{msg}");
}

/// Runs `rpicamsrc2` on the virtual camera with `RPICAMSRC2_LIBCAMERA_BUFFERS=value`; the
/// errors posted.
fn errors_with_buffers(value: &str) -> Vec<String> {
    let _env = common::EnvVar::set("RPICAMSRC2_LIBCAMERA_BUFFERS", value);
    common::run_to_end(
        &format!("rpicamsrc2 camera-name={VIRTUAL} num-buffers=3 ! fakesink"),
        Duration::from_secs(20),
    )
    .errors
}

/// Asserts that the run with `RPICAMSRC2_LIBCAMERA_BUFFERS=value` ends in an error whose text
/// holds each of `parts`.
fn assert_buffers_error(value: &str, parts: &[&str]) {
    let errors = errors_with_buffers(value);
    let err = errors.first().expect("an error");
    for part in parts {
        assert!(err.contains(part), "'{part}' in the error: {err}");
    }
}

#[test]
fn without_a_dma_buf_provider_asking_for_dma_bufs_only_is_a_clear_error() {
    // No dma-buf heap nor udmabuf here: libcamera's allocator fails with ENOBUFS, which the
    // backend answers with memfd buffers unless told `dmabuf`.
    assert_buffers_error(
        "dmabuf",
        &[
            "FrameBufferAllocator failed for camera 'Virtual0'",
            "No buffer space available",
            "RPICAMSRC2_LIBCAMERA_BUFFERS is dmabuf",
        ],
    );
    // `auto` (the default) and `memfd` run on memfd.
    for value in ["auto", "memfd"] {
        assert_eq!(errors_with_buffers(value), Vec::<String>::new(), "{value}");
    }
}

#[test]
fn an_unknown_buffer_source_is_named_with_the_allowed_ones() {
    assert_buffers_error(
        "cma",
        &[
            "RPICAMSRC2_LIBCAMERA_BUFFERS is 'cma'",
            "auto",
            "dmabuf",
            "memfd",
        ],
    );
}
