// SPDX-License-Identifier: MPL-2.0
//! Settled stills: snapshot.txt (start-settled) and still-during-video.txt (the still pad and
//! the `capture-still` action signal) at 20 and 2 lux, their JPEGs decoded and their mean luma
//! compared with the settled value; the video beside the stills checked for lost frames.

use super::*;

/// sim-lux on the recipe's rpicamsrc2.
fn set_lux(p: &gst::Pipeline, lux: f64) {
    let cam = p
        .iterate_recurse()
        .into_iter()
        .flatten()
        .find(|e| e.factory().is_some_and(|f| f.name() == "rpicamsrc2"))
        .expect("the recipe has an rpicamsrc2");
    cam.set_property("sim-lux", lux);
}

/// No warning about the wait for AE/AWB (a loaded machine may make the camera drop frames:
/// those warnings are not the stills', and the sequence checks catch lost video frames).
#[track_caller]
fn assert_no_settle_warning(run: &Run) {
    let w: Vec<_> = run
        .warnings
        .iter()
        .filter(|w| w.contains("settle") || w.contains("still"))
        .collect();
    assert!(w.is_empty(), "{w:?}");
}

#[track_caller]
fn assert_within_10_percent(what: &str, luma: f64, settled: f64) {
    println!("{what}: mean luma {luma:.1}, settled {settled:.1}");
    assert!(
        (luma - settled).abs() <= 0.10 * settled,
        "{what}: mean luma {luma:.1} is not within 10 % of the settled {settled:.1}"
    );
}

/// snapshot.txt at `lux`: its one frame against the settled value, which is the 12th frame of
/// the same pipeline without start-settled (written as a JPEG sequence).
fn snapshot_at(lux: f64) {
    let name = "snapshot.txt";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("still.jpg");
    let desc = substitute(&recipe(name), &[("OUT", out.display().to_string())]);
    let run = run_ok_with(name, &desc, Duration::from_secs(120), |p| set_lux(p, lux));
    assert_no_settle_warning(&run);
    let m = run.meta_of("src");
    assert_eq!(m.len(), 1, "num-buffers=1: one frame");
    assert!(
        m[0].is_settled(),
        "the snapshot's frame is settled: {:?}",
        m[0]
    );
    let (w, h, luma) = decode_jpeg(&out);
    assert_eq!((w, h), (4056, 3040));

    // Reference: the same pipeline, every frame, no waiting.
    let refdesc = tweak(
        &recipe(name),
        "num-buffers=1 start-settled=true",
        "num-buffers=12",
    );
    let refdesc = tweak(&refdesc, "filesink", "multifilesink");
    let pattern = dir.path().join("ref%05d.jpg");
    let refdesc = substitute(&refdesc, &[("OUT", pattern.display().to_string())]);
    let refrun = run_ok_with(name, &refdesc, Duration::from_secs(120), |p| {
        set_lux(p, lux)
    });
    let frames = files(dir.path(), "ref");
    assert_eq!(frames.len(), 12, "{frames:?}");
    let metas = refrun.meta_of("src");
    assert!(metas[11].is_settled(), "{:?}", metas[11]);
    let (_, _, settled) = decode_jpeg(&frames[11]);
    let (_, _, first) = decode_jpeg(&frames[0]);
    println!(
        "{lux} lux: frame 0 ({:?}) mean luma {first:.1}",
        metas[0].ae_state
    );
    assert_within_10_percent(&format!("snapshot at {lux} lux"), luma, settled);
    if lux >= 20.0 {
        // Without the wait the recipe was wrong: frame 0 is far from settled.
        assert!(
            (first - settled).abs() > 0.10 * settled,
            "frame 0 ({first:.1}) should differ from the settled {settled:.1}: the test would \
             not catch an unsettled still"
        );
    }
}

#[test]
fn snapshot_is_settled_at_20_lux() {
    let _s = common::serial();
    snapshot_at(20.0);
}

#[test]
fn snapshot_is_settled_at_2_lux() {
    let _s = common::serial();
    snapshot_at(2.0);
}

/// Frames the video of still-during-video.txt runs for.
const VIDEO_FRAMES: usize = 45;
/// The video frame on which the second still (the settled reference) is asked for.
const LATE_TRIGGER: u64 = 30;

/// still-during-video.txt at `lux`: a still asked for on the first video frame (AE/AWB still
/// searching) and one on frame 30 (long settled, the reference). Checks: both full-resolution
/// JPEGs, the first within 10 % of the second, both taken on settled frames, the first after
/// waiting; the lores video loses no frame (every camera sequence, and in the MP4 every frame
/// with the sensor's timestamp steps).
fn still_during_video_at(lux: f64) {
    let name = "still-during-video.txt";
    let dir = tempfile::tempdir().unwrap();
    let desc = substitute(
        &recipe(name),
        &[
            ("OUT", dir.path().display().to_string()),
            ("NUM_BUFFERS", VIDEO_FRAMES.to_string()),
        ],
    );
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let messages = Arc::new(Mutex::new(Vec::new()));
    let run = run_ok_with(name, &desc, Duration::from_secs(180), |p| {
        set_lux(p, lux);
        let cam = p.by_name("cam").expect("cam");
        let lores = cam.static_pad("lores").expect("the recipe links cam.lores");
        let first = Arc::new(Mutex::new(None::<u64>));
        let accepted = accepted.clone();
        let weak = cam.downgrade();
        lores.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(off) = info.buffer().map(|b| b.offset()) else {
                return gst::PadProbeReturn::Ok;
            };
            let first = *first.lock().unwrap().get_or_insert(off);
            if off == first || off == first + LATE_TRIGGER {
                if let Some(cam) = weak.upgrade() {
                    let ok = cam.emit_by_name::<bool>("capture-still", &[]);
                    accepted.lock().unwrap().push((off, ok));
                }
            }
            gst::PadProbeReturn::Ok
        });
        let messages = messages.clone();
        p.bus().expect("bus").set_sync_handler(move |_, msg| {
            if let Some(s) = msg.structure().filter(|s| s.name() == "rpicamsrc2-still") {
                messages.lock().unwrap().push(s.to_owned());
            }
            gst::BusSyncReply::Pass
        });
    });
    assert_no_settle_warning(&run);
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 2, "{accepted:?}");
    assert!(accepted.iter().all(|(_, ok)| *ok), "{accepted:?}");

    // The video: every camera frame, in order, and in the file with the same time steps.
    let video = run.meta_of("lores");
    assert_eq!(video.len(), VIDEO_FRAMES);
    for w in video.windows(2) {
        assert_eq!(w[1].sequence, w[0].sequence + 1, "a video frame was lost");
    }
    assert!(
        !video[0].is_settled(),
        "the first still must have had to wait: frame 0 is {:?}",
        video[0]
    );
    let p = probe(&dir.path().join("video.mp4"));
    assert_h264(&p, 640, 480);
    assert_eq!(
        p.frames.len(),
        VIDEO_FRAMES,
        "every video frame is in the file"
    );
    // The file's timestamps step exactly as the sensor's did: nothing was inserted or lost
    // around the stills (a loaded machine may capture late, and the sensor timestamps show it).
    let ts: Vec<f64> = p.frames.iter().map(|f| f.0).collect();
    let sensor: Vec<f64> = video
        .iter()
        .map(|m| m.sensor_timestamp_ns as f64 / 1e9)
        .collect();
    for (i, (f, c)) in intervals(&ts).iter().zip(intervals(&sensor)).enumerate() {
        assert!(
            (f - c).abs() < 0.002,
            "frame {i}: the video's interval {f:.4} s is not the sensor's {c:.4} s: {ts:?}"
        );
    }

    // The stills: settled frames of the video, full resolution.
    let stills = run.meta_of("still");
    assert_eq!(stills.len(), 2, "{stills:?}");
    for s in &stills {
        assert!(s.is_settled(), "{s:?}");
        assert!(
            video.iter().any(|v| v.sequence == s.sequence),
            "a still is one of the video's frames"
        );
    }
    assert!(
        stills[0].sequence > video[0].sequence,
        "the first still waited"
    );
    let messages = messages.lock().unwrap().clone();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].get::<bool>("settled").unwrap());
    assert!(
        messages[0].get::<u32>("waited-frames").unwrap() > 1,
        "{messages:?}"
    );
    let files = files(dir.path(), "still");
    assert_eq!(files.len(), 2, "{files:?}");
    let (w, h, luma) = decode_jpeg(&files[0]);
    assert_eq!((w, h), (1456, 1088), "a full-resolution still");
    let (_, _, settled) = decode_jpeg(&files[1]);
    assert_within_10_percent(&format!("still during video at {lux} lux"), luma, settled);
}

/// The recipe's case: at 20 lux (dim room).
pub fn case_still_during_video() {
    let _s = common::serial();
    still_during_video_at(20.0);
}

#[test]
fn still_during_video_is_settled_at_2_lux() {
    let _s = common::serial();
    still_during_video_at(2.0);
}

/// Without a still pad the signal is refused with a warning, and nothing else changes.
#[test]
fn capture_still_without_a_still_pad_is_refused() {
    common::init();
    let cam = gst::ElementFactory::make("rpicamsrc2").build().unwrap();
    assert!(!cam.emit_by_name::<bool>("capture-still", &[]));
    let ev = gst::event::CustomUpstream::new(
        gst::Structure::builder("rpicamsrc2-capture-still").build(),
    );
    assert!(!cam.send_event(ev));
}
