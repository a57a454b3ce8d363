// SPDX-License-Identifier: MPL-2.0
//! main, lores and raw pads from one capture: negotiation, same-frame metadata, per-pad rates,
//! back-pressure, zero-copy, renegotiation and bad input.

mod common;
use common::pipeline;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstrpicamsrc2::rpicamsrc2::meta::frame_metadata;

/// What a sink saw: per buffer (offset, pts, exposure, data address, size).
type Seen = Arc<Mutex<Vec<(u64, Option<gst::ClockTime>, u32, usize, usize)>>>;

fn watch(p: &gst::Pipeline, sink: &str) -> Seen {
    let seen: Seen = Default::default();
    let s = seen.clone();
    let sink = p.by_name(sink).unwrap();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                let m = frame_metadata(b).expect("metadata on every pad's buffers");
                let addr = b
                    .peek_memory(0)
                    .map_readable()
                    .map(|m| m.as_ptr() as usize)
                    .unwrap_or(0);
                s.lock()
                    .unwrap()
                    .push((b.offset(), b.pts(), m.exposure_time_us, addr, b.size()));
            }
            gst::PadProbeReturn::Ok
        });
    seen
}

fn play_to_eos(p: &gst::Pipeline, secs: u64) -> common::Bus {
    let bus = p.bus().unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let mut out = common::Bus::default();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline && !out.eos && out.errors.is_empty() {
        common::collect(&bus, &mut out, Duration::from_millis(100));
    }
    p.set_state(gst::State::Null).unwrap();
    out
}

#[test]
fn main_lores_raw_share_frames_and_metadata() {
    let _serial = common::serial();
    let p = pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 sim-scene=bars num-buffers=30 \
         cam.src ! video/x-raw,width=1280,height=720,framerate=30/1 ! fakesink name=m \
         cam.lores ! video/x-raw,width=320,height=180 ! fakesink name=l \
         cam.raw ! fakesink name=r",
    );
    let (m, l, r) = (watch(&p, "m"), watch(&p, "l"), watch(&p, "r"));
    let bus = play_to_eos(&p, 20);
    assert!(bus.errors.is_empty(), "{:?}", bus.errors);
    assert!(bus.eos);
    let (m, l, r) = (m.lock().unwrap(), l.lock().unwrap(), r.lock().unwrap());
    assert_eq!(m.len(), 30);
    assert!(
        l.len() >= 28 && r.len() >= 28,
        "lores {} raw {}",
        l.len(),
        r.len()
    );
    let by_off: BTreeMap<u64, _> = m.iter().map(|x| (x.0, x)).collect();
    for x in l.iter().chain(r.iter()) {
        let mm = by_off.get(&x.0).expect("same sequence on main");
        assert_eq!(mm.1, x.1, "same PTS for frame {}", x.0);
        assert_eq!(mm.2, x.2, "same exposure metadata for frame {}", x.0);
    }
    // Raw: the 1920x1080 mode's 10-bit packed frame (1920 * 5 / 4 = 2400-byte rows).
    assert_eq!(r[0].4, 2400 * 1080);
    // Lores: NV12 320x180.
    assert_eq!(l[0].4, 320 * 180 * 3 / 2);
}

#[test]
fn raw_caps_and_content_follow_the_sensor() {
    // raw asks for the 1640x1232 mode, unpacked: it fixes the sensor mode for main too.
    let p = pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 sim-scene=bars num-buffers=3 \
         cam.src ! video/x-raw,width=640,height=480 ! fakesink \
         cam.raw ! video/x-bayer,format=rggb10le,width=1640,height=1232 ! appsink name=sink",
    );
    let sink = common::appsink(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let sample = sink
        .try_pull_sample(gst::ClockTime::from_seconds(5))
        .expect("a raw frame");
    let stats: gst::Structure = p.by_name("cam").unwrap().property("statistics");
    p.set_state(gst::State::Null).unwrap();
    assert_eq!(stats.get::<&str>("sensor-mode").unwrap(), "1640:1232:10");
    let s = sample.caps().unwrap().structure(0).unwrap().to_owned();
    assert_eq!(s.get::<&str>("format").unwrap(), "rggb10le");
    let b = sample.buffer().unwrap();
    let map = b.map_readable().unwrap();
    // Tight rows: the camera's 32-byte aligned rows (3296 bytes) were repacked, and counted.
    assert_eq!(map.len(), 1640 * 2 * 1232);
    assert!(stats.get::<u64>("raw-frames-copied").unwrap() >= 1);
    // 10-bit samples in 16-bit words: the black bar (last eighth) sits at the black level 64
    // (tuning 4096 on the 16-bit scale), plus noise; nothing exceeds 1023; white is bright.
    let row = &map[600 * 3280..601 * 3280];
    let px = |x: usize| u16::from_le_bytes([row[2 * x], row[2 * x + 1]]);
    let mean = |r: std::ops::Range<usize>| {
        let n = r.len() as f64;
        r.map(px).map(f64::from).sum::<f64>() / n
    };
    let black = mean(1500..1600);
    assert!((55.0..75.0).contains(&black), "black bar at {black}");
    assert!((0..1640).map(px).all(|v| v <= 1023));
    let white = mean(10..100);
    assert!(white > 200.0, "white bar at {white}");
}

#[test]
fn lores_decimation_gives_every_nth_frame() {
    let _serial = common::serial();
    let p = pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 num-buffers=60 \
         cam.src ! video/x-raw,width=640,height=480,framerate=30/1 ! fakesink name=m \
         cam.lores ! video/x-raw,width=320,height=240,framerate=5/1 ! fakesink name=l",
    );
    let l = watch(&p, "l");
    let bus = play_to_eos(&p, 20);
    assert!(bus.errors.is_empty(), "{:?}", bus.errors);
    let l = l.lock().unwrap();
    assert_eq!(
        l.len(),
        10,
        "{:?}",
        l.iter().map(|x| x.0).collect::<Vec<_>>()
    );
    for w in l.windows(2) {
        assert_eq!(w[1].0 - w[0].0, 6);
    }
    let src = p.by_name("cam").unwrap();
    let stats: gst::Structure = src.property("statistics");
    assert_eq!(stats.get::<u64>("lores-frames-dropped").unwrap(), 0);
}

#[test]
fn rate_that_does_not_divide_keeps_the_average() {
    let _serial = common::serial();
    let p = pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 num-buffers=60 \
         cam.src ! video/x-raw,width=640,height=480,framerate=30/1 ! fakesink name=m \
         cam.lores ! video/x-raw,width=320,height=240,framerate=7/1 ! fakesink name=l",
    );
    let l = watch(&p, "l");
    play_to_eos(&p, 20);
    let l = l.lock().unwrap();
    // 60 camera frames at 30 fps = 2 s: 14 frames at 7 fps (15 if a main frame was lost and the
    // camera ran one frame longer), 4 or 5 frames apart.
    assert!((14..=15).contains(&l.len()), "{}", l.len());
    assert!(l.windows(2).all(|w| (4..=5).contains(&(w[1].0 - w[0].0))));
}

#[test]
fn slow_lores_consumer_does_not_stall_main() {
    let _serial = common::serial();
    // lores goes to a sink that takes 150 ms a frame; main records at 30 fps.
    let p = pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 num-buffers=90 \
         cam.src ! video/x-raw,width=1280,height=720,framerate=30/1 ! fakesink name=m \
         cam.lores ! video/x-raw,width=320,height=180 ! identity sleep-time=150000 ! fakesink name=l",
    );
    let m = watch(&p, "m");
    let bus = play_to_eos(&p, 30);
    assert!(bus.errors.is_empty(), "{:?}", bus.errors);
    let src = p.by_name("cam").unwrap();
    let main_dropped: u64 = src.property("frames-dropped");
    let lores_dropped: u64 = src.property("lores-frames-dropped");
    let m = m.lock().unwrap();
    assert_eq!(m.len(), 90);
    assert_eq!(main_dropped, 0);
    assert!(m.windows(2).all(|w| w[1].0 == w[0].0 + 1), "main has gaps");
    assert!(lores_dropped > 50, "lores dropped only {lores_dropped}");
}

#[test]
fn buffers_are_the_cameras_own_memory() {
    let _serial = common::serial();
    // 640x480 NV12/I420 need no video meta: downstream sees the camera's buffers themselves.
    for fmt in ["NV12", "I420"] {
        let p = pipeline(&format!(
            "rpicamsrc2 name=cam camera-name=sim:imx219 buffer-count=4 num-buffers=40 \
             cam.src ! video/x-raw,format={fmt},width=640,height=480,framerate=60/1 ! fakesink name=m \
             cam.lores ! video/x-raw,width=320,height=240 ! fakesink name=l"
        ));
        let (m, l) = (watch(&p, "m"), watch(&p, "l"));
        play_to_eos(&p, 20);
        let stats: gst::Structure = p.by_name("cam").unwrap().property("statistics");
        assert_eq!(stats.get::<u64>("frames-copied").unwrap(), 0);
        assert_eq!(stats.get::<u64>("lores-frames-copied").unwrap(), 0);
        for seen in [m, l] {
            let seen = seen.lock().unwrap();
            let addrs: HashSet<usize> = seen.iter().map(|x| x.3).collect();
            // 40 frames through 4 camera buffers: the same 4 addresses again and again.
            assert!(seen.len() >= 38);
            assert!(addrs.len() <= 4, "{} distinct addresses", addrs.len());
        }
    }
}

#[test]
fn strided_frames_carry_video_meta_or_are_copied_and_counted() {
    // 100 pixels wide I420: the ISP's 128-byte luma rows differ from GStreamer's 100.
    let p = pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 num-buffers=5 \
         ! video/x-raw,format=I420,width=100,height=100 ! videoconvert ! video/x-raw,format=RGB ! fakesink",
    );
    play_to_eos(&p, 10);
    let stats: gst::Structure = p.by_name("cam").unwrap().property("statistics");
    // videoconvert takes video meta: still no copy.
    assert_eq!(stats.get::<u64>("frames-copied").unwrap(), 0);
    assert_eq!(stats.get::<u64>("frames-pushed").unwrap(), 5);
    // jpegenc (through GstVideoEncoder) does not advertise video meta: the element copies,
    // and says so.
    let p = pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 num-buffers=5 \
         ! video/x-raw,format=I420,width=100,height=100 ! appsink name=sink",
    );
    let sink = p.by_name("sink").unwrap();
    let _ = sink;
    play_to_eos(&p, 10);
    let stats: gst::Structure = p.by_name("cam").unwrap().property("statistics");
    assert_eq!(
        stats.get::<u64>("frames-copied").unwrap(),
        stats.get::<u64>("frames-pushed").unwrap()
    );
}

#[test]
fn lores_renegotiates_while_main_keeps_going() {
    let _serial = common::serial();
    let p = pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 num-buffers=60 \
         cam.src ! video/x-raw,width=640,height=480,framerate=30/1 ! fakesink name=m \
         cam.lores ! capsfilter name=lf caps=video/x-raw,width=320,height=240 ! fakesink name=l",
    );
    let (m, l) = (watch(&p, "m"), watch(&p, "l"));
    let lsink = p.by_name("l").unwrap();
    let sizes: Arc<Mutex<Vec<usize>>> = Default::default();
    let s2 = sizes.clone();
    let lf = p.by_name("lf").unwrap();
    let switched = Arc::new(Mutex::new(false));
    let sw = switched.clone();
    lsink
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                s2.lock().unwrap().push(b.size());
                if b.offset() >= 20 && !*sw.lock().unwrap() {
                    *sw.lock().unwrap() = true;
                    lf.set_property(
                        "caps",
                        gst::Caps::builder("video/x-raw")
                            .field("width", 160)
                            .field("height", 120)
                            .build(),
                    );
                }
            }
            gst::PadProbeReturn::Ok
        });
    let bus = play_to_eos(&p, 30);
    assert!(bus.errors.is_empty(), "{:?}", bus.errors);
    let sizes = sizes.lock().unwrap();
    assert_eq!(sizes[0], 320 * 240 * 3 / 2);
    assert_eq!(
        *sizes.last().unwrap(),
        160 * 120 * 3 / 2,
        "lores never renegotiated"
    );
    assert_eq!(m.lock().unwrap().len(), 60, "main lost its stream");
    assert!(l.lock().unwrap().len() > 30);
}

#[test]
fn bad_lores_and_raw_requests_fail_clearly() {
    // lores larger than main.
    let bus = common::run_to_end(
        "rpicamsrc2 name=cam camera-name=sim:imx219 \
         cam.src ! video/x-raw,width=640,height=480 ! fakesink \
         cam.lores ! video/x-raw,width=800,height=600 ! fakesink",
        Duration::from_secs(10),
    );
    let e = bus.errors.join("\n");
    assert!(
        e.contains("lores") && e.contains("no larger than main"),
        "{e}"
    );
    // RGB lores: the pad's caps are YUV only, so GStreamer refuses the link itself.
    common::init();
    let e = gst::parse::launch(
        "rpicamsrc2 name=cam camera-name=sim:imx219 \
         cam.src ! video/x-raw,width=640,height=480 ! fakesink \
         cam.lores ! video/x-raw,format=RGB,width=320,height=240 ! fakesink",
    )
    .expect_err("an RGB lores cannot link")
    .to_string();
    assert!(e.contains("could not link cam") && e.contains("RGB"), "{e}");
    // ... and from code, linking the lores pad to an RGB-only sink fails.
    let cam = gst::ElementFactory::make("rpicamsrc2").build().unwrap();
    let lores = cam.request_pad_simple("lores").unwrap();
    let f = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("format", "RGB")
                .build(),
        )
        .build()
        .unwrap();
    assert!(
        lores.link(&f.static_pad("sink").unwrap()).is_err()
            || !lores.can_link(&f.static_pad("sink").unwrap())
            || lores
                .query_caps(Some(
                    &gst::Caps::builder("video/x-raw")
                        .field("format", "RGB")
                        .build()
                ))
                .is_empty()
    );
    // raw in a size the sensor has no mode for.
    let bus = common::run_to_end(
        "rpicamsrc2 name=cam camera-name=sim:imx219 \
         cam.src ! video/x-raw,width=640,height=480 ! fakesink \
         cam.raw ! video/x-bayer,width=1000,height=1000 ! fakesink",
        Duration::from_secs(10),
    );
    let e = bus.errors.join("\n");
    assert!(e.contains("raw") && e.contains("3280x2464"), "{e}");
}

#[test]
fn a_pad_cannot_be_requested_twice() {
    common::init();
    let e = gst::ElementFactory::make("rpicamsrc2").build().unwrap();
    assert!(e.request_pad_simple("lores").is_some());
    assert!(e.request_pad_simple("lores").is_none());
    assert!(e.request_pad_simple("raw").is_some());
    assert!(e.request_pad_simple("raw").is_none());
    assert!(e.request_pad_simple("src_%u").is_none());
}

#[test]
fn pads_linked_and_released_while_playing() {
    common::init();
    let p = pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 \
         cam.src ! video/x-raw,width=640,height=480,framerate=30/1 ! fakesink name=m",
    );
    let m = watch(&p, "m");
    p.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let cam = p.by_name("cam").unwrap();
    let sink = gst::ElementFactory::make("fakesink")
        .name("l")
        .build()
        .unwrap();
    p.add(&sink).unwrap();
    sink.sync_state_with_parent().unwrap();
    let l = watch(&p, "l");
    let lores = cam.request_pad_simple("lores").unwrap();
    lores.link(&sink.static_pad("sink").unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let got_lores = l.lock().unwrap().len();
    // Release it again while playing.
    lores.unlink(&sink.static_pad("sink").unwrap()).unwrap();
    cam.release_request_pad(&lores);
    let before = m.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(400));
    let after = m.lock().unwrap().len();
    p.set_state(gst::State::Null).unwrap();
    assert!(got_lores > 5, "lores got {got_lores} frames");
    assert!(
        after > before + 5,
        "main stopped after the release: {before} -> {after}"
    );
    assert!(cam.static_pad("lores").is_none());
}

#[test]
fn holding_every_buffer_is_reported() {
    // An application that keeps every sample starves the camera: frames are lost, and the
    // element says why once.
    common::init();
    let p = pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 buffer-count=3 \
         ! video/x-raw,width=640,height=480,framerate=60/1 ! appsink name=sink",
    );
    let sink = common::appsink(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let mut held = Vec::new();
    while held.len() < 3 {
        if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_seconds(2)) {
            held.push(s);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    held.clear();
    let _ = sink.try_pull_sample(gst::ClockTime::from_seconds(2));
    let _ = sink.try_pull_sample(gst::ClockTime::from_seconds(2));
    let mut out = common::Bus::default();
    common::collect(&p.bus().unwrap(), &mut out, Duration::from_millis(200));
    let dropped: u64 = p.by_name("cam").unwrap().property("frames-dropped");
    p.set_state(gst::State::Null).unwrap();
    assert!(dropped >= 10, "dropped {dropped}");
    let w = out.warnings.join("\n");
    assert!(
        w.contains("camera buffers") && w.contains("buffer-count"),
        "{w}"
    );
    assert_eq!(
        out.warnings
            .iter()
            .filter(|w| w.contains("camera buffers"))
            .count(),
        1
    );
}
