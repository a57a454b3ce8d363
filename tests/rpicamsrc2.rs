// SPDX-License-Identifier: MPL-2.0
//! rpicamsrc2 through real pipelines, against the simulated cameras.

mod common;

use std::time::Duration;

use common::{run, run_to_end, run_with};
use gst::glib;
use gst::prelude::*;
use gstrpicamsrc2::camera::AeState;

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

#[test]
fn element_lists_controls_with_real_ranges() {
    common::init();
    let e = gst::ElementFactory::make("rpicamsrc2").build().unwrap();
    let p = e.find_property("exposure-time").unwrap();
    let p = p.downcast_ref::<glib::ParamSpecInt>().unwrap();
    assert_eq!(p.minimum(), 0);
    // imx477's 670.74 s is the longest of the known sensors.
    assert_eq!(p.maximum(), 670_740_000);
    assert!(p.flags().contains(gst::PARAM_FLAG_MUTABLE_PLAYING));
    let g = e.find_property("analogue-gain").unwrap();
    let g = g.downcast_ref::<glib::ParamSpecFloat>().unwrap();
    assert!((g.maximum() - 63.9375).abs() < 1e-3, "{}", g.maximum());
    for name in [
        "ae-enable",
        "exposure-time",
        "analogue-gain",
        "ae-metering-mode",
        "ae-constraint-mode",
        "ae-exposure-mode",
        "exposure-value",
        "ae-flicker-period",
        "awb-enable",
        "awb-mode",
        "colour-gains",
        "brightness",
        "contrast",
        "saturation",
        "sharpness",
        "scaler-crop",
        "af-mode",
        "af-range",
        "af-speed",
        "af-metering",
        "af-windows",
        "lens-position",
        "gamma",
        "digital-gain",
        "colour-correction-matrix",
        "exposure-time-mode",
        "analogue-gain-mode",
        "noise-reduction-mode",
        "hdr-mode",
        "hflip",
        "vflip",
        "sensor-mode",
        "buffer-count",
        "camera-name",
    ] {
        let p = e
            .find_property(name)
            .unwrap_or_else(|| panic!("property {name}"));
        assert!(
            !p.blurb().unwrap_or_default().is_empty(),
            "{name} has a blurb"
        );
    }
}

#[test]
fn default_caps_are_1080p30_nv12_rec709_with_metadata() {
    let _serial = common::serial();
    let (frames, bus) = run(
        "rpicamsrc2 camera-name=sim:imx219 num-buffers=5 ! appsink name=sink",
        s(10),
    );
    assert!(bus.errors.is_empty(), "{:?}", bus.errors);
    assert_eq!(frames.len(), 5);
    let st = frames[0].caps.structure(0).unwrap();
    assert_eq!(st.get::<&str>("format").unwrap(), "NV12");
    assert_eq!(st.get::<i32>("width").unwrap(), 1920);
    assert_eq!(st.get::<i32>("height").unwrap(), 1080);
    assert_eq!(
        st.get::<gst::Fraction>("framerate").unwrap(),
        gst::Fraction::new(30, 1)
    );
    assert_eq!(st.get::<&str>("colorimetry").unwrap(), "bt709");
    // Timestamps, durations, sequence offsets.
    for w in frames.windows(2) {
        assert!(w[1].pts.unwrap() > w[0].pts.unwrap());
        assert_eq!(w[1].offset, w[0].offset + 1);
        assert_eq!(w[1].meta.sequence, w[0].meta.sequence + 1);
        let d = (w[1].pts.unwrap() - w[0].pts.unwrap()).mseconds();
        assert!((28..=40).contains(&d), "frame interval {d} ms");
    }
    assert_eq!(
        frames[0].duration,
        Some(gst::ClockTime::from_nseconds(33_333_333))
    );
    assert!(bus.eos);
}

#[test]
fn colorimetry_follows_picamera2_rule() {
    let (f, _) = run(
        "rpicamsrc2 camera-name=sim:imx219 num-buffers=1 ! video/x-raw,width=640,height=480 ! appsink name=sink",
        s(10),
    );
    assert_eq!(
        f[0].caps
            .structure(0)
            .unwrap()
            .get::<&str>("colorimetry")
            .unwrap(),
        "bt601"
    );
    let (f, _) = run(
        "rpicamsrc2 camera-name=sim:imx219 num-buffers=1 ! video/x-raw,format=RGB,width=640,height=480 ! appsink name=sink",
        s(10),
    );
    assert_eq!(
        f[0].caps
            .structure(0)
            .unwrap()
            .get::<&str>("colorimetry")
            .unwrap(),
        "sRGB"
    );
}

#[test]
fn impossible_rate_fails_naming_modes() {
    let bus = run_to_end(
        "rpicamsrc2 camera-name=sim:imx477 ! video/x-raw,width=4056,height=3040,framerate=60/1 ! fakesink",
        s(10),
    );
    let e = bus.errors.join("\n");
    assert!(!e.is_empty(), "no error");
    assert!(e.contains("imx477"), "{e}");
    assert!(e.contains("4056x3040 12-bit up to 10.00 fps"), "{e}");
    assert!(e.contains("1332x990 10-bit up to 120.05 fps"), "{e}");
}

#[test]
fn unknown_camera_is_not_found_and_lists_cameras() {
    common::init();
    let p = gst::parse::launch("rpicamsrc2 camera-name=imx999 ! fakesink").unwrap();
    assert!(p.set_state(gst::State::Ready).is_err());
    let bus = p.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(1), &[gst::MessageType::Error])
        .expect("an error message");
    let gst::MessageView::Error(err) = msg.view() else {
        unreachable!()
    };
    assert!(err.error().matches(gst::ResourceError::NotFound));
    let text = err.error().to_string();
    assert!(
        text.contains("imx999") && text.contains("sim:imx219"),
        "{text}"
    );
    let _ = p.set_state(gst::State::Null);
}

#[test]
fn high_rate_jpeg_dump_writes_300_decodable_files_without_drops() {
    let _serial = common::serial();
    common::init();
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().join("f%05d.jpg");
    let p = common::pipeline(&format!(
        "rpicamsrc2 name=src camera-name=sim:imx219 num-buffers=300 ! \
         video/x-raw,width=640,height=480,framerate=90/1 ! jpegenc ! multifilesink location={}",
        loc.display()
    ));
    p.set_state(gst::State::Playing).unwrap();
    let bus = p.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS");
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
    let src = p.by_name("src").unwrap();
    let dropped: u64 = src.property("frames-dropped");
    let stats: gst::Structure = src.property("statistics");
    p.set_state(gst::State::Null).unwrap();
    assert_eq!(dropped, 0, "{stats}");
    let mut n = 0;
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let path = e.unwrap().path();
        let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!((img.width(), img.height()), (640, 480));
        n += 1;
    }
    assert_eq!(n, 300);
    // And one checked by a second, independent decoder.
    let v = common::ffprobe(&dir.path().join("f00150.jpg"), &["-show_streams"]);
    assert_eq!(v["streams"][0]["codec_name"], "mjpeg");
}

#[test]
fn low_light_long_exposure_is_bright_and_reported() {
    // A NoIR user's question: 6 s at gain 8 in a dim room (1 lux).
    let (f, bus) = run(
        "rpicamsrc2 camera-name=sim:imx219 sim-lux=1 sim-scene=bars exposure-time=6000000 analogue-gain=8 num-buffers=1 ! \
         video/x-raw,width=640,height=480,framerate=1/6 ! appsink name=sink",
        s(30),
    );
    assert!(bus.errors.is_empty(), "{:?}", bus.errors);
    assert_eq!(f.len(), 1);
    let m = &f[0].meta;
    // 6 s minus the sensor's 4-line integration difference (4 x 18.9 µs).
    assert!(
        (5_999_000..=6_000_000).contains(&m.exposure_time_us),
        "{m:?}"
    );
    assert!((m.analogue_gain - 8.0).abs() < 0.01, "{m:?}");
    assert_eq!(m.ae_state, AeState::Idle);
    assert!(f[0].mean > 90.0, "frame too dark: mean Y {}", f[0].mean);
    // The same exposure at 30 fps: clamped to the frame, with a warning that says so, and dark.
    let (f, bus) = run(
        "rpicamsrc2 camera-name=sim:imx219 sim-lux=1 sim-scene=bars exposure-time=6000000 analogue-gain=8 num-buffers=3 ! \
         video/x-raw,width=640,height=480,framerate=30/1 ! appsink name=sink",
        s(10),
    );
    let w = bus.warnings.join("\n");
    assert!(w.contains("ExposureTime 6000000"), "{w}");
    assert!(w.contains("33333 µs"), "{w}");
    let m = &f[2].meta;
    assert!(
        m.exposure_time_us < 33_333 && m.exposure_time_us > 33_000,
        "{m:?}"
    );
    assert!(
        f[2].mean < 40.0,
        "frame too bright at 1/30 s: {}",
        f[2].mean
    );
}

#[test]
fn variable_framerate_lets_a_long_exposure_lengthen_the_frame() {
    let (f, bus) = run(
        "rpicamsrc2 camera-name=sim:imx219 exposure-time=200000 num-buffers=4 ! \
         video/x-raw,width=640,height=480,framerate=0/1 ! appsink name=sink",
        s(10),
    );
    assert!(bus.errors.is_empty(), "{:?}", bus.errors);
    let m = &f[3].meta;
    assert!((199_000..=200_100).contains(&m.exposure_time_us), "{m:?}");
    assert!(m.frame_duration_us >= 200_000, "{m:?}");
}

#[test]
fn ae_off_before_convergence_freezes_what_it_reached() {
    // Bright scene: the AGC starts at 20 ms and heads down; switch it off on frame 2.
    let (f, _) = run_with(
        "rpicamsrc2 name=src camera-name=sim:imx477 sim-lux=20000 num-buffers=14 ! \
         video/x-raw,width=640,height=480,framerate=30/1 ! appsink name=sink",
        s(10),
        |p, fr| {
            if fr.meta.sequence == 2 {
                p.by_name("src").unwrap().set_property("ae-enable", false);
            }
        },
    );
    assert_eq!(f.len(), 14);
    let last = &f[13].meta;
    assert_eq!(last.ae_state, AeState::Idle);
    // Frozen: the last frames all carry the same exposure and gain...
    for fr in &f[9..] {
        assert_eq!(fr.meta.exposure_time_us, last.exposure_time_us);
        assert_eq!(fr.meta.analogue_gain, last.analogue_gain);
    }
    // ... which is where the AGC was heading, not the 20 ms it started at and not converged.
    assert!(last.exposure_time_us < 20_000, "{last:?}");
}

#[test]
fn control_changes_while_playing_show_within_the_sensor_delay() {
    let _serial = common::serial();
    common::init();
    let p = common::pipeline(
        // sync=false: a syncing sink holds the streaming thread for the pipeline latency (one
        // frame), which would add that frame to what this test measures.
        "rpicamsrc2 name=src camera-name=sim:imx219 num-buffers=20 ! \
         video/x-raw,width=640,height=480,framerate=60/1 ! appsink name=sink sync=false",
    );
    let src = p.by_name("src").unwrap();
    // Set the control from the streaming thread once frame 8 has left the source. The request
    // it joins is the camera's next one, whose sequence is the element's `frames-captured`
    // count at that moment (read before and after; a frame starting in between makes it
    // ambiguous, and the next buffer tries again). Under emulation the streaming thread can be
    // frames behind the camera, so the request is read, not assumed to be 9.
    let request = std::sync::Arc::new(std::sync::Mutex::new(None::<u64>));
    let r = request.clone();
    let src2 = src.clone();
    let captured = |e: &gst::Element| -> u64 {
        e.property::<gst::Structure>("statistics")
            .get::<u64>("frames-captured")
            .expect("statistics carry frames-captured")
    };
    src.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let due = info.buffer().is_some_and(|b| b.offset() >= 8);
            if due && r.lock().unwrap().is_none() {
                let before = captured(&src2);
                src2.set_property("exposure-time", 5000i32);
                if captured(&src2) == before {
                    *r.lock().unwrap() = Some(before);
                }
            }
            gst::PadProbeReturn::Ok
        });
    let sink = common::appsink(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let mut exposures = Vec::new();
    while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_seconds(2)) {
        let m = gstrpicamsrc2::rpicamsrc2::meta::frame_metadata(s.buffer().unwrap()).unwrap();
        exposures.push((m.sequence, m.exposure_time_us));
        if exposures.len() == 20 {
            break;
        }
    }
    p.set_state(gst::State::Null).unwrap();
    let request = request
        .lock()
        .unwrap()
        .unwrap_or_else(|| panic!("no unambiguous request from frame 8 on: {exposures:?}"));
    let first = exposures
        .iter()
        .find(|(_, e)| (4_950..=5_050).contains(e))
        .unwrap_or_else(|| panic!("5 ms never applied: {exposures:?}"));
    // imx219's exposure delay is 2 frames: the request's frame + 2 is the first at 5 ms.
    assert_eq!(first.0, request + 2, "request {request}: {exposures:?}");
    // Frames before that show the AGC's exposure, not 5 ms.
    assert!(exposures
        .iter()
        .filter(|(s, _)| *s < request + 2)
        .all(|(_, e)| !(4_950..=5_050).contains(e)));
}

#[test]
fn out_of_range_gain_warns_with_value_and_range() {
    let (f, bus) = run(
        "rpicamsrc2 camera-name=sim:imx219 analogue-gain=16 num-buffers=4 ! \
         video/x-raw,width=640,height=480 ! appsink name=sink",
        s(10),
    );
    let w = bus.warnings.join("\n");
    assert!(w.contains("AnalogueGain 16") && w.contains("10.667"), "{w}");
    assert!((f[3].meta.analogue_gain - 10.667).abs() < 0.01);
}

#[test]
fn post_metadata_posts_element_messages() {
    let (_, bus) = run(
        "rpicamsrc2 camera-name=sim:imx708 post-metadata=true num-buffers=3 ! \
         video/x-raw,width=640,height=480 ! appsink name=sink",
        s(10),
    );
    let md: Vec<_> = bus
        .elements
        .iter()
        .filter(|s| s.name() == "rpicamsrc2-metadata")
        .collect();
    assert_eq!(md.len(), 3);
    assert!(md[0].get::<i32>("ExposureTime").unwrap() > 0);
    assert!(md[0].has_field("LensPosition"), "imx708 has a lens");
    assert!(md[0].get::<f32>("Lux").unwrap() > 0.0);
}

#[test]
fn explicit_sensor_mode_overrides_choice() {
    // 640x480 at 30 would take the 1332x990 mode by score anyway on imx477; force the full mode.
    let (f, bus) = run(
        "rpicamsrc2 camera-name=sim:imx477 sensor-mode=4056:3040:12 num-buffers=2 ! \
         video/x-raw,width=640,height=480,framerate=10/1 ! appsink name=sink",
        s(10),
    );
    assert!(bus.errors.is_empty(), "{:?}", bus.errors);
    assert_eq!(f.len(), 2);
    let bus = run_to_end(
        "rpicamsrc2 camera-name=sim:imx477 sensor-mode=4056:3040:12 ! \
         video/x-raw,width=640,height=480,framerate=30/1 ! fakesink",
        s(10),
    );
    assert!(
        !bus.errors.is_empty(),
        "30 fps must not be possible in the full mode"
    );
}

#[test]
fn dim_and_bright_scenes_converge_to_sensible_exposures() {
    let converge = |lux: u32| {
        let (f, _) = run(
            &format!(
                "rpicamsrc2 camera-name=sim:imx219 sim-lux={lux} num-buffers=40 ! \
                 video/x-raw,width=640,height=480,framerate=60/1 ! appsink name=sink"
            ),
            s(10),
        );
        f.last().cloned().unwrap()
    };
    // 150 lux is within the AGC's reach at 60 fps (16.7 ms x gain 10); 20 lux is not.
    let dim = converge(150);
    let bright = converge(5000);
    let total = |m: &gstrpicamsrc2::camera::FrameMetadata| {
        m.exposure_time_us as f64 * f64::from(m.analogue_gain) * f64::from(m.digital_gain)
    };
    assert!(total(&dim.meta) > 15.0 * total(&bright.meta));
    // Both land at a similar picture brightness.
    assert!(
        (dim.mean - bright.mean).abs() < 35.0,
        "{} vs {}",
        dim.mean,
        bright.mean
    );
    assert!(
        dim.meta.lux < 400.0 && bright.meta.lux > 1000.0,
        "{} {}",
        dim.meta.lux,
        bright.meta.lux
    );
}

#[test]
fn harness_pulls_timestamped_buffers_and_answers_latency() {
    let _serial = common::serial();
    common::init();
    let mut h = gst_check::Harness::new_parse(
        "rpicamsrc2 camera-name=sim:ov5647 num-buffers=6 ! capsfilter caps=video/x-raw,width=640,height=480,framerate=30/1",
    );
    h.use_systemclock();
    h.play();
    let mut last = None;
    for _ in 0..6 {
        let b = h.pull().expect("a buffer");
        let pts = b.pts().unwrap();
        if let Some(l) = last {
            assert!(pts > l);
        }
        last = Some(pts);
        assert!(gstrpicamsrc2::rpicamsrc2::meta::frame_metadata(&b).is_some());
    }
    let mut q = gst::query::Latency::new();
    assert!(h.element().unwrap().src_pads()[0].query(&mut q));
    let (live, min, _) = q.result();
    assert!(live);
    assert_eq!(min.mseconds(), 33);
}

#[test]
fn restart_twice_and_eos_by_event() {
    common::init();
    let p = common::pipeline(
        "rpicamsrc2 camera-name=sim:imx296 ! video/x-raw,width=640,height=480 ! appsink name=sink",
    );
    let sink = common::appsink(&p, "sink");
    for _ in 0..2 {
        p.set_state(gst::State::Playing).unwrap();
        for _ in 0..3 {
            assert!(sink
                .try_pull_sample(gst::ClockTime::from_seconds(2))
                .is_some());
        }
        p.set_state(gst::State::Null).unwrap();
    }
    p.set_state(gst::State::Playing).unwrap();
    assert!(sink
        .try_pull_sample(gst::ClockTime::from_seconds(2))
        .is_some());
    assert!(p.send_event(gst::event::Eos::new()));
    // appsink holds EOS until its queued samples are taken.
    let mut n = 0;
    while sink
        .try_pull_sample(gst::ClockTime::from_seconds(2))
        .is_some()
    {
        n += 1;
        assert!(n < 50, "frames keep coming after EOS");
    }
    assert!(sink.is_eos());
    let msg = p
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Eos])
        .expect("EOS after the application's EOS event");
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)));
    p.set_state(gst::State::Null).unwrap();
}

#[test]
fn readme_documents_every_property() {
    common::init();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let e = gst::ElementFactory::make("rpicamsrc2").build().unwrap();
    for p in e.list_properties() {
        if p.owner_type() != e.type_() {
            continue;
        }
        assert!(
            readme.contains(&format!("`{}`", p.name())),
            "README.md does not document property {}",
            p.name()
        );
    }
}

#[test]
fn awb_follows_the_light_within_the_mode_range_and_manual_gains_apply() {
    let ct = |extra: &str| {
        let (f, bus) = run(
            &format!(
                // Colour bars average to grey, so grey-world AWB can find the light.
                "rpicamsrc2 camera-name=sim:imx477 sim-scene=bars sim-colour-temperature=3000 {extra} num-buffers=25 ! \
                 video/x-raw,width=640,height=480,framerate=60/1 ! appsink name=sink"
            ),
            s(10),
        );
        assert!(bus.errors.is_empty(), "{:?}", bus.errors);
        f.last().unwrap().meta.clone()
    };
    let auto = ct("");
    assert!(
        (2700..=3300).contains(&auto.colour_temperature_k),
        "{auto:?}"
    );
    let daylight = ct("awb-mode=daylight");
    assert!(daylight.colour_temperature_k >= 5500, "{daylight:?}");
    let manual = ct("colour-gains=\"<2.5,1.25>\"");
    assert_eq!(manual.colour_gains, [2.5, 1.25]);
}

#[test]
fn still_image_scene_shows_the_photograph() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.png");
    // Left half dark, right half bright.
    let img = image::RgbImage::from_fn(320, 240, |x, _| {
        if x < 160 {
            image::Rgb([20, 20, 20])
        } else {
            image::Rgb([230, 230, 230])
        }
    });
    img.save(&path).unwrap();
    common::init();
    let p = common::pipeline(&format!(
        "rpicamsrc2 camera-name=sim:imx296 sim-scene=image sim-image={} num-buffers=20 ! \
         video/x-raw,format=RGB,width=640,height=480 ! appsink name=sink",
        path.display()
    ));
    let sink = common::appsink(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let mut last = None;
    while let Some(smp) = sink.try_pull_sample(gst::ClockTime::from_seconds(3)) {
        last = Some(smp);
    }
    p.set_state(gst::State::Null).unwrap();
    let smp = last.expect("frames");
    let b = smp.buffer().unwrap().map_readable().unwrap();
    // RGB 640 wide: 1920-byte rows (32-aligned), no meta needed.
    let mean = |x0: usize, x1: usize| {
        let mut sum = 0u64;
        for y in 100..380 {
            for x in x0..x1 {
                sum += u64::from(b[y * 1920 + x * 3 + 1]);
            }
        }
        sum as f64 / ((x1 - x0) * 280) as f64
    };
    let (left, right) = (mean(40, 280), mean(360, 600));
    assert!(right > left + 80.0, "left {left} right {right}");
    // A bad path is an error naming the file.
    let bus = run_to_end(
        "rpicamsrc2 camera-name=sim:imx296 sim-scene=image sim-image=/nonexistent/x.png ! fakesink",
        s(5),
    );
    let e = bus.errors.join("\n");
    assert!(e.contains("/nonexistent/x.png"), "{e}");
}

#[test]
fn every_camera_buffer_holds_a_rendered_frame_from_its_first_use() {
    // The simulated camera's buffers are mapped lazily (pages faulted in on first write): the
    // first frame, and each of the six buffers' first frame, must still be a whole rendered
    // picture with its metadata. The test thread pulls nothing for the first 400 ms, so the
    // appsink's queue holds every camera buffer and each is used.
    let _serial = common::serial();
    let mut waited = false;
    let (frames, bus) = run_with(
        "rpicamsrc2 camera-name=sim:imx219 num-buffers=12 ! \
         video/x-raw,width=1920,height=1080,framerate=30/1 ! appsink name=sink",
        s(20),
        |_, _| {
            if !std::mem::replace(&mut waited, true) {
                std::thread::sleep(Duration::from_millis(400));
            }
        },
    );
    assert!(bus.errors.is_empty(), "{:?}", bus.errors);
    assert_eq!(frames.len(), 12);
    assert_eq!(frames[0].offset, frames[0].meta.sequence);
    assert!(frames[0].pts.is_some());
    assert!(frames[0].meta.sensor_timestamp_ns > 0);
    assert!(frames[0].meta.exposure_time_us > 0);
    for f in &frames {
        // Zeroed memory would have a mean luma of 0; the default scene's is far above black
        // (16).
        assert!(
            f.mean > 40.0,
            "frame {}: mean luma {:.1}",
            f.meta.sequence,
            f.mean
        );
    }
}
