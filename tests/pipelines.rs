// SPDX-License-Identifier: MPL-2.0
//! Every file in pipelines/ runs here against the simulated camera, and what it produced is
//! checked with real tools: ffprobe (codec, size, frame count, timestamps, key frames), decoders
//! (ffprobe -count_frames, the image crate, avdec_h264), file counts, and for RTP a receiving
//! pipeline on 127.0.0.1.
//!
//! A recipe file is a gst-launch-1.0 pipeline without the `gst-launch-1.0` word; `#` lines are
//! comments. Placeholders: `${OUT}` (output file, printf pattern or directory, as the recipe's
//! comment says), `${NUM_BUFFERS}` (frames the camera sends before EOS; users put -1 and stop
//! with Ctrl-C), `${PORT}` (UDP port of the RTP receiver).
//!
//! `every_recipe_has_a_validation_case` fails when a file in pipelines/ has no case here and is
//! not one of the recording recipes tests/rpih264enc.rs checks ([`COVERED_BY_RPIH264ENC`]), so a
//! new recipe cannot go untested.

#[path = "pipelines/circular.rs"]
mod circular;
mod common;
#[path = "pipelines/stills.rs"]
mod stills;

use circular::case_circular_record;
use stills::case_still_during_video;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstrpicamsrc2::camera::FrameMetadata;

/// Recipes whose output tests/rpih264enc.rs validates (recipes_record_every_frame,
/// sigint_with_eos_leaves_a_complete_mp4, sigkill_fragmented_mp4_plays_up_to_the_cut);
/// `every_recipe_has_a_validation_case` checks that file still names each of them.
const COVERED_BY_RPIH264ENC: &[&str] = &[
    "record-fmp4.txt",
    "record-h264.txt",
    "record-mkv.txt",
    "record-mp4.txt",
    "record-segments.txt",
    "record-ts.txt",
    "v4l2h264enc-dropin.txt",
];

/// Recipes tests/libcamerasrc_dropin.rs runs and checks (its `RECIPES`);
/// `every_recipe_has_a_validation_case` checks that file still names each of them.
const COVERED_BY_DROPIN: &[&str] = &[
    "libcamerasrc-dropin-rtp.txt",
    "libcamerasrc-multi-stream.txt",
    "libcamerasrc-stream-roles.txt",
];

/// The Debian package that provides each element the recipes and their checks use, for the
/// message when one is missing.
const PACKAGES: &[(&str, &str)] = &[
    (
        "rpicamsrc2",
        "this crate: cargo build, then GST_PLUGIN_PATH=target/<profile>",
    ),
    (
        "rpih264enc",
        "this crate: cargo build, then GST_PLUGIN_PATH=target/<profile>",
    ),
    (
        "rpicircularsink",
        "this crate: cargo build, then GST_PLUGIN_PATH=target/<profile>",
    ),
    ("queue", "libgstreamer1.0-0"),
    ("tee", "libgstreamer1.0-0"),
    ("fakesink", "libgstreamer1.0-0"),
    ("filesink", "libgstreamer1.0-0"),
    ("capsfilter", "libgstreamer1.0-0"),
    ("videorate", "gstreamer1.0-plugins-base"),
    ("videoflip", "gstreamer1.0-plugins-good"),
    ("clockoverlay", "gstreamer1.0-x"),
    ("textoverlay", "gstreamer1.0-x"),
    ("appsink", "gstreamer1.0-plugins-base"),
    ("videoconvert", "gstreamer1.0-plugins-base"),
    ("jpegenc", "gstreamer1.0-plugins-good"),
    ("multifilesink", "gstreamer1.0-plugins-good"),
    ("splitmuxsink", "gstreamer1.0-plugins-good"),
    ("mp4mux", "gstreamer1.0-plugins-good"),
    ("matroskamux", "gstreamer1.0-plugins-good"),
    ("rtph264pay", "gstreamer1.0-plugins-good"),
    ("rtph264depay", "gstreamer1.0-plugins-good"),
    ("rtpjitterbuffer", "gstreamer1.0-plugins-good"),
    ("udpsink", "gstreamer1.0-plugins-good"),
    ("udpsrc", "gstreamer1.0-plugins-good"),
    ("h264parse", "gstreamer1.0-plugins-bad"),
    ("mpegtsmux", "gstreamer1.0-plugins-bad"),
    ("hlssink2", "gstreamer1.0-plugins-bad"),
    ("avdec_h264", "gstreamer1.0-libav"),
];

/// Elements the checks themselves need (besides the recipes').
const RTP_RECEIVER: &str = "udpsrc address=127.0.0.1 port={PORT} \
    caps=\"application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96\" \
    ! rtpjitterbuffer latency=200 ! rtph264depay ! h264parse name=parse ! avdec_h264 \
    ! appsink name=sink sync=false";

// ---- recipe files ----

fn pipelines_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines")
}

/// Names of all recipe files (`*.txt`) in pipelines/.
fn recipe_files() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(pipelines_dir())
        .expect("pipelines/ is readable")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    v.sort();
    v
}

/// The raw text of a recipe.
fn recipe_source(name: &str) -> String {
    let path = pipelines_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The pipeline of a recipe: its non-comment lines joined.
fn recipe(name: &str) -> String {
    recipe_source(name)
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Replaces the placeholders; panics if one is left.
fn substitute(desc: &str, vars: &[(&str, String)]) -> String {
    let mut s = desc.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("${{{k}}}"), v);
    }
    assert!(!s.contains("${"), "placeholder left in {s}");
    s
}

/// Replaces `from` (which must occur) by `to`: the test's documented deviations from a recipe
/// (shorter intervals), failing loudly if the recipe changed under it.
#[track_caller]
fn tweak(desc: &str, from: &str, to: &str) -> String {
    assert!(
        desc.contains(from),
        "recipe no longer contains '{from}': {desc}"
    );
    desc.replace(from, to)
}

// ---- missing elements ----

/// The message for elements that are not installed, naming their packages.
fn missing_message(recipe: &str, missing: &[String]) -> String {
    let names: Vec<String> = missing
        .iter()
        .map(|m| {
            let pkg = PACKAGES
                .iter()
                .find(|(e, _)| e == m)
                .map(|(_, p)| *p)
                .unwrap_or("unknown package: see gst-inspect-1.0 on a machine that has it");
            format!("{m} (Debian package: {pkg})")
        })
        .collect();
    format!(
        "{recipe} needs GStreamer elements that are not installed: {}",
        names.join(", ")
    )
}

/// Elements of `desc` that are not installed.
fn missing_elements(desc: &str) -> Vec<String> {
    let mut ctx = gst::ParseContext::new();
    match gst::parse::launch_full(desc, Some(&mut ctx), gst::ParseFlags::FATAL_ERRORS) {
        Ok(p) => {
            let _ = p.set_state(gst::State::Null);
            Vec::new()
        }
        Err(_) => ctx.missing_elements(),
    }
}

/// Fails the test naming the packages if any element of `desc` is missing.
#[track_caller]
fn require_elements(what: &str, desc: &str) {
    let missing = missing_elements(desc);
    assert!(missing.is_empty(), "{}", missing_message(what, &missing));
}

// ---- running ----

/// What one run of a recipe produced besides its files.
#[derive(Debug, Default)]
struct Run {
    errors: Vec<String>,
    warnings: Vec<String>,
    /// Metadata of every buffer rpicamsrc2 pushed, per pad name.
    meta: Vec<(String, FrameMetadata)>,
    /// Running times of the files multifilesink wrote (its post-messages), s.
    file_times: Vec<f64>,
    elapsed: Duration,
}

impl Run {
    fn meta_of(&self, pad: &str) -> Vec<&FrameMetadata> {
        self.meta
            .iter()
            .filter(|(p, _)| p == pad)
            .map(|(_, m)| m)
            .collect()
    }
}

/// Runs `desc` to EOS or error (within `timeout`), after `setup` has seen the pipeline.
/// Records the metadata on every rpicamsrc2 source pad and multifilesink's file messages.
fn run_recipe(desc: &str, timeout: Duration, setup: impl FnOnce(&gst::Pipeline)) -> Run {
    common::init();
    let pipeline = gst::parse::launch(desc)
        .unwrap_or_else(|e| panic!("recipe does not parse: {e}\n{desc}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let meta = Arc::new(Mutex::new(Vec::new()));
    for e in pipeline.iterate_recurse().into_iter().flatten() {
        let factory = e
            .factory()
            .map(|f| f.name().to_string())
            .unwrap_or_default();
        if factory == "rpicamsrc2" {
            for pad in e.src_pads() {
                let meta = meta.clone();
                let name = pad.name().to_string();
                pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    if let Some(buf) = info.buffer() {
                        let m = gstrpicamsrc2::rpicamsrc2::meta::frame_metadata(buf)
                            .expect("every rpicamsrc2 buffer has RpiCamSrc2FrameMeta");
                        meta.lock().unwrap().push((name.clone(), m));
                    }
                    gst::PadProbeReturn::Ok
                });
            }
        }
        if factory == "multifilesink" {
            e.set_property("post-messages", true);
        }
    }
    setup(&pipeline);
    let bus = pipeline.bus().expect("bus");
    let start = Instant::now();
    let mut run = Run::default();
    let _ = pipeline.set_state(gst::State::Playing);
    let deadline = start + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) else {
            run.errors.push(format!("no EOS within {timeout:?}"));
            break;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                run.errors.push(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            gst::MessageView::Warning(w) => {
                run.warnings
                    .push(format!("{} ({:?})", w.error(), w.debug()))
            }
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure() {
                    if s.name() == "GstMultiFileSink" {
                        if let Ok(t) = s.get::<u64>("running-time") {
                            run.file_times.push(t as f64 / 1e9);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    run.elapsed = start.elapsed();
    let _ = pipeline.set_state(gst::State::Null);
    run.meta = std::mem::take(&mut *meta.lock().unwrap());
    run
}

/// Substitutes, checks the elements, runs, and fails on errors.
#[track_caller]
fn run_ok(name: &str, desc: &str, timeout: Duration) -> Run {
    run_ok_with(name, desc, timeout, |_| {})
}

#[track_caller]
fn run_ok_with(
    name: &str,
    desc: &str,
    timeout: Duration,
    setup: impl FnOnce(&gst::Pipeline),
) -> Run {
    common::init();
    require_elements(name, desc);
    let run = run_recipe(desc, timeout, setup);
    assert!(run.errors.is_empty(), "{name}: {:?}\n{desc}", run.errors);
    println!(
        "{name}: ran in {:.2} s, {} camera frames",
        run.elapsed.as_secs_f64(),
        run.meta.len()
    );
    run
}

// ---- checking outputs ----

/// ffprobe's view of the first video stream: codec, size, frames (decoded), their timestamps
/// and key flags.
#[derive(Debug)]
struct Probe {
    codec: String,
    width: i64,
    height: i64,
    /// The stream's frame rate (ffprobe r_frame_rate).
    frame_rate: String,
    /// (timestamp s, key frame)
    frames: Vec<(f64, bool)>,
    duration: Option<f64>,
}

fn probe(path: &Path) -> Probe {
    let v = common::ffprobe(
        path,
        &[
            "-show_streams",
            "-show_frames",
            "-show_format",
            "-select_streams",
            "v:0",
        ],
    );
    let s = &v["streams"][0];
    let frames = v["frames"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    let t = f["best_effort_timestamp_time"]
                        .as_str()
                        .or(f["pts_time"].as_str())
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(f64::NAN);
                    (t, f["key_frame"].as_i64() == Some(1))
                })
                .collect()
        })
        .unwrap_or_default();
    Probe {
        codec: s["codec_name"].as_str().unwrap_or_default().to_string(),
        width: s["width"].as_i64().unwrap_or(0),
        height: s["height"].as_i64().unwrap_or(0),
        frame_rate: s["r_frame_rate"].as_str().unwrap_or_default().to_string(),
        frames,
        duration: v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok()),
    }
}

/// Indices of the key frames.
fn key_frames(p: &Probe) -> Vec<usize> {
    p.frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.1)
        .map(|(i, _)| i)
        .collect()
}

#[track_caller]
fn assert_h264(p: &Probe, w: i64, h: i64) {
    assert_eq!(p.codec, "h264", "{p:?}");
    assert_eq!((p.width, p.height), (w, h), "size");
}

/// Frame intervals (s) from timestamps.
fn intervals(ts: &[f64]) -> Vec<f64> {
    ts.windows(2).map(|w| w[1] - w[0]).collect()
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Decodes every JPEG matching `pattern` (a printf `%05d` pattern) with ffmpeg's image2
/// demuxer in one process: (codec, width, height, frames decoded).
fn probe_jpeg_sequence(pattern: &Path) -> (String, i64, i64, i64) {
    let v = common::ffprobe(
        pattern,
        &[
            "-f",
            "image2",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ],
    );
    let s = &v["streams"][0];
    (
        s["codec_name"].as_str().unwrap_or_default().to_string(),
        s["width"].as_i64().unwrap_or(0),
        s["height"].as_i64().unwrap_or(0),
        s["nb_read_frames"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    )
}

/// Files in `dir` whose names start with `prefix`, sorted.
fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .map(|n| n.to_string_lossy().starts_with(prefix))
                        .unwrap_or(false)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Decodes a JPEG file: (width, height, mean luma 0-255).
fn decode_jpeg(path: &Path) -> (u32, u32, f64) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()))
        .into_luma8();
    let (w, h) = img.dimensions();
    let sum: u64 = img.as_raw().iter().map(|&v| u64::from(v)).sum();
    (w, h, sum as f64 / f64::from((w * h).max(1)))
}

// ---- the cases ----

/// Recipes that wait for a feature of rpicamsrc2 still being built: why, checked at run time
/// (the case runs as soon as the feature exists).
fn pending(recipe: &str) -> Option<String> {
    common::init();
    if recipe == "record-with-lores-analysis.txt" {
        let factory = gst::ElementFactory::find("rpicamsrc2")?;
        let has_lores = factory
            .static_pad_templates()
            .iter()
            .any(|t| t.name_template() == "lores");
        if !has_lores {
            return Some(
                "rpicamsrc2 has no 'lores' pad template yet (dual-stream pads are being built on \
                 main); this case runs as soon as the template exists"
                    .into(),
            );
        }
    }
    None
}

/// Checks: MP4 with H.264 1280x720, all 90 frames, key frames exactly every 15 (iperiod),
/// ~3 s duration, and a mean bitrate near the 4 Mbit/s asked for.
fn case_record_mp4_bitrate() {
    let name = "record-mp4-bitrate.txt";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let desc = substitute(
        &recipe(name),
        &[
            ("OUT", out.display().to_string()),
            ("NUM_BUFFERS", "90".into()),
        ],
    );
    run_ok(name, &desc, Duration::from_secs(60));
    let p = probe(&out);
    assert_h264(&p, 1280, 720);
    assert_eq!(p.frames.len(), 90, "every frame recorded");
    let keys = key_frames(&p);
    assert_eq!(keys, (0..90).step_by(15).collect::<Vec<_>>(), "iperiod=15");
    let duration = p.duration.expect("MP4 has a duration");
    assert!((duration - 3.0).abs() < 0.1, "duration {duration}");
    let size = std::fs::metadata(&out).unwrap().len() as f64;
    let bitrate = size * 8.0 / duration;
    println!("{name}: {:.2} Mbit/s for a 4 Mbit/s target", bitrate / 1e6);
    assert!(
        (2.4e6..=5.2e6).contains(&bitrate),
        "mean bitrate {bitrate} not within -40%/+30% of 4 Mbit/s"
    );
}

/// Checks (once rpicamsrc2 has a `lores` pad): MP4 of all main frames at 1280x720; the analysis
/// branch gets 320x240 frames at 5/1 (one in six of the 30/1 camera), each with metadata whose
/// sequence is one of the main stream's.
fn case_record_with_lores_analysis() {
    let name = "record-with-lores-analysis.txt";
    if let Some(why) = pending(name) {
        println!("SKIPPED {name}: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("main.mp4");
    let desc = substitute(
        &recipe(name),
        &[
            ("OUT", out.display().to_string()),
            ("NUM_BUFFERS", "60".into()),
        ],
    );
    let lores = Arc::new(Mutex::new(Vec::<(gst::Caps, u64)>::new()));
    let l = lores.clone();
    let run = run_ok_with(name, &desc, Duration::from_secs(60), move |p| {
        let sink = p.by_name("analysis").expect("fakesink name=analysis");
        sink.set_property("signal-handoffs", true);
        sink.connect("handoff", false, move |args| {
            let buf = args[1].get::<gst::Buffer>().expect("buffer");
            let pad = args[2].get::<gst::Pad>().expect("pad");
            let caps = pad.current_caps().expect("negotiated caps");
            let m = gstrpicamsrc2::rpicamsrc2::meta::frame_metadata(&buf)
                .expect("lores buffers carry RpiCamSrc2FrameMeta");
            l.lock().unwrap().push((caps, m.sequence));
            None
        });
    });
    let p = probe(&out);
    assert_h264(&p, 1280, 720);
    let main_seq: BTreeSet<u64> = run.meta_of("src").iter().map(|m| m.sequence).collect();
    assert_eq!(p.frames.len(), main_seq.len(), "every main frame recorded");
    let lores = lores.lock().unwrap();
    let n = lores.len();
    println!(
        "{name}: {} main frames recorded, {n} lores frames analysed",
        p.frames.len()
    );
    assert!(
        (9..=11).contains(&n),
        "{n} lores frames for 60 at 30/1 -> 5/1"
    );
    for (caps, seq) in lores.iter() {
        let s = caps.structure(0).expect("caps structure");
        assert_eq!(s.get::<i32>("width").ok(), Some(320), "{caps}");
        assert_eq!(s.get::<i32>("height").ok(), Some(240), "{caps}");
        assert_eq!(
            s.get::<gst::Fraction>("framerate").ok(),
            Some(gst::Fraction::new(5, 1)),
            "{caps}"
        );
        assert!(
            main_seq.contains(seq),
            "lores sequence {seq} is a main frame"
        );
    }
}

/// Checks: H.264 MP4 with 30 of the 90 camera frames, timestamps 0.1 s apart (videorate kept
/// the camera's times, one camera frame of jitter), frame rate 10/1, ~3 s, key frame every 10 output frames.
fn case_decimate_10fps() {
    let name = "decimate-10fps.txt";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let desc = substitute(
        &recipe(name),
        &[
            ("OUT", out.display().to_string()),
            ("NUM_BUFFERS", "90".into()),
        ],
    );
    let run = run_ok(name, &desc, Duration::from_secs(60));
    assert_eq!(run.meta.len(), 90, "the camera sent 90 frames");
    let p = probe(&out);
    assert_h264(&p, 1280, 720);
    let n = p.frames.len();
    assert!((29..=31).contains(&n), "{n} frames from 90 at 30/1 -> 10/1");
    assert_eq!(p.frame_rate, "10/1");
    let ts: Vec<f64> = p.frames.iter().map(|f| f.0).collect();
    // videorate picks the first camera frame at or after each 0.1 s slot: one camera frame
    // (1/30 s) of jitter at most.
    for d in intervals(&ts) {
        assert!((d - 0.1).abs() < 0.035, "frame interval {d} s in {ts:?}");
    }
    let mean = (ts[n - 1] - ts[0]) / (n - 1) as f64;
    assert!((mean - 0.1).abs() < 0.005, "mean interval {mean} s");
    let duration = p.duration.expect("duration");
    assert!((duration - 3.0).abs() < 0.2, "duration {duration}");
    assert_eq!(key_frames(&p), (0..n).step_by(10).collect::<Vec<_>>());
}

/// Checks, with the interval shortened from 5 s to 1 s (camera at 5/1 for 3.2 s): 4 JPEG stills
/// (at 0, 1, 2, 3 s; 3 accepted if the last falls just past the end) that decode at 2028x1520,
/// written 1 s apart (multifilesink's running times).
fn case_timelapse_jpeg() {
    let name = "timelapse-jpeg.txt";
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("frame%05d.jpg");
    let desc = substitute(
        &tweak(&recipe(name), "framerate=1/5", "framerate=1/1"),
        &[
            ("OUT", pattern.display().to_string()),
            ("NUM_BUFFERS", "16".into()),
        ],
    );
    let run = run_ok(name, &desc, Duration::from_secs(60));
    let stills = files(dir.path(), "frame");
    assert!(
        (3..=4).contains(&stills.len()),
        "{} stills in 3.2 s at one a second: {stills:?}",
        stills.len()
    );
    for s in &stills {
        let (w, h, luma) = decode_jpeg(s);
        assert_eq!((w, h), (2028, 1520), "{}", s.display());
        assert!(
            (16.0..240.0).contains(&luma),
            "{}: mean luma {luma}",
            s.display()
        );
    }
    assert_eq!(run.file_times.len(), stills.len(), "{:?}", run.file_times);
    for d in intervals(&run.file_times) {
        assert!(
            (d - 1.0).abs() < 0.21,
            "stills {d} s apart: {:?}",
            run.file_times
        );
    }
}

/// Checks: 90 JPEG files, all decoding (one ffprobe -count_frames over the sequence) at
/// 640x480; the camera ran at 90 fps (frame duration 11111 µs in the metadata, median file
/// interval 1/90 s); frames lost by the camera are counted and must stay under 10%.
fn case_jpeg_sequence_90fps() {
    let name = "jpeg-sequence-90fps.txt";
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("frame%05d.jpg");
    let desc = substitute(
        &recipe(name),
        &[
            ("OUT", pattern.display().to_string()),
            ("NUM_BUFFERS", "90".into()),
        ],
    );
    let run = run_ok(name, &desc, Duration::from_secs(60));
    assert_eq!(files(dir.path(), "frame").len(), 90, "one file per frame");
    let (codec, w, h, decoded) = probe_jpeg_sequence(&pattern);
    assert_eq!(codec, "mjpeg");
    assert_eq!((w, h), (640, 480));
    assert_eq!(decoded, 90, "every JPEG decodes");
    let m = run.meta_of("src");
    assert_eq!(m.len(), 90);
    for f in &m {
        assert!(
            (f.frame_duration_us as i64 - 11_111).abs() <= 20,
            "frame duration {} µs",
            f.frame_duration_us
        );
    }
    let gap = m.last().unwrap().sequence - m[0].sequence + 1 - m.len() as u64;
    println!("{name}: {gap} camera frames lost in 90");
    assert!(gap <= 9, "{gap} of 90 frames lost");
    let med = median(&intervals(&run.file_times));
    assert!(
        (med - 1.0 / 90.0).abs() < 0.001,
        "median interval {med} s between files"
    );
}

/// Checks (scene at 0.1 lux, 2 frames): 2028x1520 JPEGs that are not dark (mean luma > 40: the
/// 6 s exposure at gain 8 gathered the light); the metadata says the sensor used 6 s (±1%) and
/// gain 8 with 6 s frames, and the second frame started 6 s after the first (1/6 fps).
fn case_long_exposure_stills() {
    let name = "long-exposure-stills.txt";
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("night%05d.jpg");
    let desc = substitute(
        &recipe(name),
        &[
            ("OUT", pattern.display().to_string()),
            ("NUM_BUFFERS", "2".into()),
        ],
    );
    let run = run_ok_with(name, &desc, Duration::from_secs(60), |p| {
        let cam = p
            .iterate_recurse()
            .into_iter()
            .flatten()
            .find(|e| {
                e.factory()
                    .map(|f| f.name() == "rpicamsrc2")
                    .unwrap_or(false)
            })
            .expect("rpicamsrc2 in the recipe");
        cam.set_property("sim-lux", 0.1f64);
    });
    let stills = files(dir.path(), "night");
    assert_eq!(stills.len(), 2, "{stills:?}");
    for s in &stills {
        let (w, h, luma) = decode_jpeg(s);
        assert_eq!((w, h), (2028, 1520));
        println!("{name}: {} mean luma {luma:.1} at 0.1 lux", s.display());
        assert!(luma > 40.0, "mean luma {luma}: too dark for a 6 s exposure");
    }
    let m = run.meta_of("src");
    assert_eq!(m.len(), 2);
    for f in &m {
        assert!(
            (f64::from(f.exposure_time_us) - 6e6).abs() < 6e4,
            "exposure {} µs",
            f.exposure_time_us
        );
        assert!(
            (f.analogue_gain - 8.0).abs() < 0.1,
            "gain {}",
            f.analogue_gain
        );
        assert!(
            (f.frame_duration_us as f64 - 6e6).abs() < 6e4,
            "frame duration {} µs",
            f.frame_duration_us
        );
    }
    let gap = (m[1].sensor_timestamp_ns - m[0].sensor_timestamp_ns) as f64 / 1e9;
    assert!((gap - 6.0).abs() < 0.06, "frames {gap} s apart");
    assert!(
        run.elapsed > Duration::from_secs(5),
        "two 1/6 fps frames arrived after {:?}",
        run.elapsed
    );
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

/// What the RTP receiver got from a recipe: the size of every decoded frame, the H.264
/// profile h264parse read from the SPS, and how many access units were key frames.
#[derive(Debug)]
struct RtpReceived {
    /// Access units that left the recipe's rpih264enc.
    encoded: usize,
    decoded: Vec<(i32, i32)>,
    profile: Option<String>,
    key_frames: usize,
}

/// Runs RTP recipe `name` (60 frames) into a receiving pipeline on 127.0.0.1 (udpsrc !
/// rtpjitterbuffer ! rtph264depay ! h264parse ! avdec_h264 ! appsink) and returns what it got.
fn receive_rtp_recipe(name: &str) -> RtpReceived {
    common::init();
    let port = free_udp_port();
    let recv_desc = RTP_RECEIVER.replace("{PORT}", &port.to_string());
    require_elements("the RTP receiver", &recv_desc);
    let receiver = gst::parse::launch(&recv_desc)
        .expect("receiver parses")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let sink = receiver
        .by_name("sink")
        .and_then(|s| s.downcast::<gst_app::AppSink>().ok())
        .expect("appsink");
    // Key frames and profile as h264parse sees them (before the decoder).
    let parsed = Arc::new(Mutex::new((0usize, None::<String>)));
    let pp = parsed.clone();
    receiver
        .by_name("parse")
        .expect("h264parse named parse")
        .static_pad("src")
        .expect("h264parse src pad")
        .add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let mut g = pp.lock().unwrap();
            if let Some(b) = info.buffer() {
                if !b.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                    g.0 += 1;
                }
            }
            if g.1.is_none() {
                g.1 = pad
                    .current_caps()
                    .and_then(|c| c.structure(0).and_then(|s| s.get::<String>("profile").ok()));
            }
            gst::PadProbeReturn::Ok
        });
    receiver
        .set_state(gst::State::Playing)
        .expect("receiver plays");
    let decoded = Arc::new(Mutex::new(Vec::<(i32, i32)>::new()));
    let d = decoded.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = stop.clone();
    let pull = std::thread::spawn(move || {
        while !st.load(std::sync::atomic::Ordering::SeqCst) {
            if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
                let info = s
                    .caps()
                    .and_then(|c| gst_video::VideoInfo::from_caps(c).ok())
                    .expect("video caps");
                d.lock()
                    .unwrap()
                    .push((info.width() as i32, info.height() as i32));
            }
        }
    });
    let desc = substitute(
        &recipe(name),
        &[("PORT", port.to_string()), ("NUM_BUFFERS", "60".into())],
    );
    let encoded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let enc = encoded.clone();
    run_ok_with(name, &desc, Duration::from_secs(60), move |p| {
        let e = p
            .iterate_recurse()
            .into_iter()
            .flatten()
            .find(|e| e.factory().is_some_and(|f| f.name() == "rpih264enc"))
            .expect("the recipe encodes with rpih264enc");
        e.static_pad("src").expect("encoder src pad").add_probe(
            gst::PadProbeType::BUFFER,
            move |_, _| {
                enc.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                gst::PadProbeReturn::Ok
            },
        );
    });
    let encoded = encoded.load(std::sync::atomic::Ordering::SeqCst);
    // Let the jitterbuffer (200 ms) and the decoder drain.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && decoded.lock().unwrap().len() < 60 {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    pull.join().unwrap();
    let _ = receiver.set_state(gst::State::Null);
    let decoded = std::mem::take(&mut *decoded.lock().unwrap());
    let (key_frames, profile) = parsed.lock().unwrap().clone();
    println!(
        "{name}: {encoded} frames encoded, receiver decoded {} of 60 frames, {key_frames} key \
         frames, profile {profile:?}",
        decoded.len()
    );
    RtpReceived {
        encoded,
        decoded,
        profile,
        key_frames,
    }
}

/// Checks: a receiving pipeline on 127.0.0.1 decodes at least 50 of the 60 frames sent, at
/// 1280x720.
fn case_rtp_udp() {
    let got = receive_rtp_recipe("rtp-udp.txt");
    assert!(
        got.decoded.len() >= 50,
        "receiver decoded {} of 60 frames",
        got.decoded.len()
    );
    assert!(
        got.decoded.iter().all(|&s| s == (1280, 720)),
        "{:?}",
        got.decoded
    );
}

/// Checks: the leaky queue lets at least half of the 60 frames reach the encoder (it drops a
/// frame only while the encoder is busy: on a loaded machine), and the receiver decodes all
/// but at most 5 of those encoded, at 1280x720; the stream is Constrained Baseline (no
/// B-frames: no reordering); it has an IDR every 15 encoded frames.
fn case_rtp_low_latency() {
    let got = receive_rtp_recipe("rtp-low-latency.txt");
    assert!(
        got.encoded >= 30,
        "only {} of 60 frames reached the encoder",
        got.encoded
    );
    assert!(
        got.decoded.len() + 5 >= got.encoded,
        "receiver decoded {} of {} frames encoded",
        got.decoded.len(),
        got.encoded
    );
    assert!(
        got.decoded.iter().all(|&s| s == (1280, 720)),
        "{:?}",
        got.decoded
    );
    assert_eq!(
        got.profile.as_deref(),
        Some("constrained-baseline"),
        "no B-frames: the SPS must say (constrained) baseline"
    );
    assert_eq!(
        got.key_frames,
        got.encoded.div_ceil(15),
        "iperiod=15: an IDR at encoded frames 0, 15, 30, ... of {}",
        got.encoded
    );
}

/// Checks: a playlist with #EXTM3U, TARGETDURATION 2 and #EXTINF entries naming segment files
/// that exist; every segment is H.264 1280x720 starting with a key frame, and together they hold
/// all 120 frames; ffprobe reads the playlist itself.
fn case_hls() {
    let name = "hls.txt";
    let dir = tempfile::tempdir().unwrap();
    let desc = substitute(
        &recipe(name),
        &[
            ("OUT", dir.path().display().to_string()),
            ("NUM_BUFFERS", "120".into()),
        ],
    );
    run_ok(name, &desc, Duration::from_secs(60));
    let playlist = dir.path().join("playlist.m3u8");
    let text = std::fs::read_to_string(&playlist).expect("playlist.m3u8 written");
    assert!(text.starts_with("#EXTM3U"), "{text}");
    assert!(text.contains("#EXT-X-TARGETDURATION:2"), "{text}");
    let segments: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(
        segments.len(),
        text.lines().filter(|l| l.starts_with("#EXTINF")).count()
    );
    assert!(segments.len() >= 2, "{text}");
    let mut total = 0;
    for seg in &segments {
        let path = dir.path().join(seg.trim());
        assert!(path.exists(), "{seg} listed but missing");
        let p = probe(&path);
        assert_h264(&p, 1280, 720);
        assert!(
            p.frames.first().map(|f| f.1).unwrap_or(false),
            "{seg} starts with a key frame"
        );
        total += p.frames.len();
    }
    assert_eq!(total, 120, "segments hold every frame");
    let v = common::ffprobe(&playlist, &["-show_streams"]);
    assert_eq!(
        v["streams"][0]["codec_name"], "h264",
        "ffprobe reads the playlist"
    );
}

/// Checks: exactly one frame; a JPEG that decodes at the sensor's full 4056x3040 (so the
/// full-resolution mode was used: the ISP does not upscale) and is neither black nor white.
fn case_snapshot() {
    let name = "snapshot.txt";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("still.jpg");
    let desc = substitute(&recipe(name), &[("OUT", out.display().to_string())]);
    let run = run_ok(name, &desc, Duration::from_secs(60));
    assert_eq!(run.meta.len(), 1, "num-buffers=1: one frame");
    let p = probe(&out);
    assert_eq!(p.codec, "mjpeg");
    assert_eq!(p.frames.len(), 1);
    let (w, h, luma) = decode_jpeg(&out);
    assert_eq!((w, h), (4056, 3040));
    println!("{name}: mean luma {luma:.1}");
    assert!((20.0..235.0).contains(&luma), "mean luma {luma}");
}

/// Checks: video.mp4 with all 75 frames (H.264 1280x720) and, from the same 2.5 s, 3 JPEG stills
/// (0, 1, 2 s) that decode at 1280x720, 1 s apart.
fn case_record_and_jpegs() {
    let name = "record-and-jpegs.txt";
    let dir = tempfile::tempdir().unwrap();
    let desc = substitute(
        &recipe(name),
        &[
            ("OUT", dir.path().display().to_string()),
            ("NUM_BUFFERS", "75".into()),
        ],
    );
    let run = run_ok(name, &desc, Duration::from_secs(60));
    let p = probe(&dir.path().join("video.mp4"));
    assert_h264(&p, 1280, 720);
    assert_eq!(p.frames.len(), 75);
    let stills = files(dir.path(), "frame");
    assert_eq!(stills.len(), 3, "{stills:?}");
    for s in &stills {
        let (w, h, _) = decode_jpeg(s);
        assert_eq!((w, h), (1280, 720));
    }
    // One camera frame (1/30 s) of jitter.
    for d in intervals(&run.file_times) {
        assert!((d - 1.0).abs() < 0.035, "{:?}", run.file_times);
    }
}

// ---- overlays and orientation ----

/// A 640x360 PNG scene for the simulated camera: the top-left quadrant white, the rest a flat
/// dark grey, so that where the white lands tells the picture's orientation and a flat grey
/// region shows whether something was drawn on it.
fn quadrant_scene(dir: &Path) -> PathBuf {
    let img = image::RgbImage::from_fn(640, 360, |x, y| {
        if x < 320 && y < 180 {
            image::Rgb([255, 255, 255])
        } else {
            image::Rgb([60, 60, 60])
        }
    });
    let path = dir.join("quadrants.png");
    img.save(&path).expect("the scene PNG is written");
    path
}

/// The recipe with its simulated camera looking at `scene` without noise, `frames` frames, into
/// `out`.
fn on_scene(name: &str, scene: &Path, frames: u32, out: &Path) -> String {
    let desc = substitute(
        &recipe(name),
        &[
            ("OUT", out.display().to_string()),
            ("NUM_BUFFERS", frames.to_string()),
        ],
    );
    tweak(
        &desc,
        "rpicamsrc2 camera-name=sim:imx219",
        &format!(
            "rpicamsrc2 camera-name=sim:imx219 sim-scene=image sim-image={} sim-noise=false",
            scene.display()
        ),
    )
}

/// Frame `n` of a video file decoded to 8-bit grey by ffmpeg: (width, height, pixels).
fn grey_frame(path: &Path, n: usize) -> (usize, usize, Vec<u8>) {
    let p = probe(path);
    let (w, h) = (p.width as usize, p.height as usize);
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-vf",
            &format!("select=eq(n\\,{n})"),
            "-vsync",
            "0",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .output()
        .expect("ffmpeg runs (Debian package ffmpeg)");
    assert!(
        out.status.success() && out.stdout.len() == w * h,
        "frame {n} of {} does not decode to {w}x{h} grey: {} bytes, {}",
        path.display(),
        out.stdout.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    (w, h, out.stdout)
}

/// (mean, standard deviation) of the grey pixels in the box given as fractions of the frame
/// (x0, y0, x1, y1).
fn region(frame: &(usize, usize, Vec<u8>), b: (f64, f64, f64, f64)) -> (f64, f64) {
    let (w, h, px) = frame;
    let (x0, x1) = ((b.0 * *w as f64) as usize, (b.2 * *w as f64) as usize);
    let (y0, y1) = ((b.1 * *h as f64) as usize, (b.3 * *h as f64) as usize);
    let vals: Vec<f64> = (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| f64::from(px[y * w + x])))
        .collect();
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
    (mean, var.sqrt())
}

/// Inner boxes of the four quadrants: top-left, top-right, bottom-left, bottom-right.
const QUADRANTS: [(f64, f64, f64, f64); 4] = [
    (0.1, 0.1, 0.4, 0.4),
    (0.6, 0.1, 0.9, 0.4),
    (0.1, 0.6, 0.4, 0.9),
    (0.6, 0.6, 0.9, 0.9),
];

/// Runs an orientation recipe on the quadrant scene and checks that the white quadrant ends up
/// in quadrant `white` (index into [`QUADRANTS`]) of a `w`x`h` H.264 file, every frame there.
fn check_orientation(
    name: &str,
    desc: impl Fn(&Path, &Path) -> String,
    w: i64,
    h: i64,
    white: usize,
) {
    let dir = tempfile::tempdir().unwrap();
    let scene = quadrant_scene(dir.path());
    let out = dir.path().join("rotated.mp4");
    run_ok(name, &desc(&scene, &out), Duration::from_secs(90));
    let p = probe(&out);
    assert_h264(&p, w, h);
    assert_eq!(p.frames.len(), 30, "{name}: every frame recorded");
    let f = grey_frame(&out, 29);
    let means: Vec<f64> = QUADRANTS.iter().map(|&b| region(&f, b).0).collect();
    println!("{name}: quadrant means {means:.0?}");
    for (i, m) in means.iter().enumerate() {
        if i == white {
            continue;
        }
        assert!(
            means[white] > m + 80.0,
            "{name}: quadrant {white} should hold the scene's white corner: means {means:.0?}"
        );
    }
}

/// Checks: the sensor's flips turn the picture by 180°: the scene's top-left white corner is
/// bottom-right in a 1920x1080 H.264 file of all 30 frames.
fn case_rotate_180() {
    let name = "rotate-180.txt";
    check_orientation(
        name,
        |scene, out| on_scene(name, scene, 30, out),
        1920,
        1080,
        3,
    );
}

/// Checks: videoflip 90r makes a 1080x1920 file with the scene's top-left corner top-right
/// (a quarter turn clockwise); with 90l (270) it is bottom-left.
fn case_rotate_90() {
    let name = "rotate-90.txt";
    check_orientation(
        name,
        |scene, out| on_scene(name, scene, 30, out),
        1080,
        1920,
        1,
    );
    check_orientation(
        "rotate-90.txt as 270",
        |scene, out| {
            tweak(
                &on_scene(name, scene, 30, out),
                "video-direction=90r",
                "video-direction=90l",
            )
        },
        1080,
        1920,
        2,
    );
}

/// Runs an overlay recipe on the quadrant scene (flat grey where the overlay goes, bottom
/// right) and checks 30 frames of 1920x1080 H.264, with drawn text in the bottom-right corner
/// (the flat grey there now varies strongly) and nothing drawn bottom-left.
fn check_overlay(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let scene = quadrant_scene(dir.path());
    let out = dir.path().join("overlay.mp4");
    run_ok(
        name,
        &on_scene(name, &scene, 30, &out),
        Duration::from_secs(90),
    );
    let p = probe(&out);
    assert_h264(&p, 1920, 1080);
    assert_eq!(p.frames.len(), 30, "{name}: every frame recorded");
    for n in [0, 29] {
        let f = grey_frame(&out, n);
        let (_, text) = region(&f, (0.7, 0.9, 1.0, 1.0));
        let (_, plain) = region(&f, (0.0, 0.9, 0.3, 1.0));
        println!("{name}: frame {n}: std dev {text:.1} under the text, {plain:.1} elsewhere");
        assert!(
            text > 20.0 && plain < 8.0,
            "{name}: frame {n}: no text drawn bottom-right (std dev {text:.1}) or something \
             drawn bottom-left ({plain:.1})"
        );
    }
}

/// Checks: see [`check_overlay`] (the wall-clock time, bottom right).
fn case_overlay_timestamp() {
    check_overlay("overlay-timestamp.txt");
}

/// Checks: see [`check_overlay`] (a caption on a shaded box, bottom right).
fn case_overlay_text() {
    check_overlay("overlay-text.txt");
}

/// Declares each case as a test and lists them for the discovery test.
macro_rules! cases {
    ($($test:ident => $file:literal, $case:ident;)*) => {
        $(
            #[test]
            fn $test() {
                $case();
            }
        )*
        /// (recipe file, test name) of every case in this file.
        const CASES: &[(&str, &str)] = &[$(($file, stringify!($test)),)*];
    };
}

cases! {
    recipe_record_mp4_bitrate => "record-mp4-bitrate.txt", case_record_mp4_bitrate;
    recipe_record_with_lores_analysis => "record-with-lores-analysis.txt", case_record_with_lores_analysis;
    recipe_decimate_10fps => "decimate-10fps.txt", case_decimate_10fps;
    recipe_timelapse_jpeg => "timelapse-jpeg.txt", case_timelapse_jpeg;
    recipe_jpeg_sequence_90fps => "jpeg-sequence-90fps.txt", case_jpeg_sequence_90fps;
    recipe_long_exposure_stills => "long-exposure-stills.txt", case_long_exposure_stills;
    recipe_rtp_udp => "rtp-udp.txt", case_rtp_udp;
    recipe_rtp_low_latency => "rtp-low-latency.txt", case_rtp_low_latency;
    recipe_hls => "hls.txt", case_hls;
    recipe_snapshot => "snapshot.txt", case_snapshot;
    recipe_record_and_jpegs => "record-and-jpegs.txt", case_record_and_jpegs;
    recipe_rotate_180 => "rotate-180.txt", case_rotate_180;
    recipe_rotate_90 => "rotate-90.txt", case_rotate_90;
    recipe_overlay_timestamp => "overlay-timestamp.txt", case_overlay_timestamp;
    recipe_overlay_text => "overlay-text.txt", case_overlay_text;
    recipe_still_during_video => "still-during-video.txt", case_still_during_video;
    recipe_circular_record => "circular-record.txt", case_circular_record;
}

// ---- discovery and format ----

#[test]
fn every_recipe_has_a_validation_case() {
    let enc_tests = include_str!("rpih264enc.rs");
    let mut untested = Vec::new();
    for f in recipe_files() {
        let here = CASES.iter().any(|(c, _)| *c == f);
        let mut enc = COVERED_BY_RPIH264ENC.contains(&f.as_str());
        if enc {
            assert!(
                enc_tests.contains(&format!("\"{f}\"")),
                "{f} is listed as covered by tests/rpih264enc.rs, which no longer names it"
            );
        }
        if COVERED_BY_DROPIN.contains(&f.as_str()) {
            assert!(
                include_str!("libcamerasrc_dropin.rs").contains(&format!("\"{f}\"")),
                "{f} is listed as covered by tests/libcamerasrc_dropin.rs, which no longer names it"
            );
            enc = true;
        }
        assert!(!(here && enc), "{f} has cases in two places");
        if !here && !enc {
            untested.push(f);
        }
    }
    assert!(
        untested.is_empty(),
        "pipelines/ files without a validation case in tests/pipelines.rs: {untested:?}"
    );
    for (f, test) in CASES {
        assert!(
            pipelines_dir().join(f).exists(),
            "{test} checks {f}, which is not in pipelines/"
        );
    }
    for (name, test) in CASES {
        println!("{name}: {test}");
    }
}

/// Every recipe documents itself (comment lines, "Properties that matter") and, with its
/// placeholders filled, parses into a pipeline whose elements all have a package in PACKAGES
/// (so a missing one is reported with its package).
#[test]
fn every_recipe_is_documented_and_parses() {
    common::init();
    let known: BTreeSet<&str> = PACKAGES.iter().map(|(e, _)| *e).collect();
    for f in recipe_files() {
        let src = recipe_source(&f);
        let comments: Vec<&str> = src.lines().filter(|l| l.starts_with('#')).collect();
        assert!(comments.len() >= 2, "{f}: say what it is for in # comments");
        assert!(
            src.contains("Properties that matter"),
            "{f}: name the properties that matter"
        );
        assert!(
            !recipe(&f).trim_start().starts_with("gst-launch"),
            "{f}: no gst-launch-1.0 word"
        );
        let desc = substitute(
            &recipe(&f),
            &[
                ("OUT", "/tmp/rpicamsrc2-parse-check/out%05d".into()),
                ("NUM_BUFFERS", "1".into()),
                ("PORT", "5000".into()),
            ],
        );
        if let Some(why) = pending(&f) {
            println!("SKIPPED parsing {f}: {why}");
            continue;
        }
        require_elements(&f, &desc);
        let p = gst::parse::launch(&desc)
            .unwrap_or_else(|e| panic!("{f} does not parse: {e}"))
            .downcast::<gst::Bin>()
            .expect("a bin");
        for e in p.iterate_recurse().into_iter().flatten() {
            if let Some(factory) = e.factory() {
                // Elements inside a sink bin (e.g. hlssink2's splitmuxsink) are not the
                // recipe's; only check top-level ones.
                if e.parent().as_ref() == Some(p.upcast_ref::<gst::Object>()) {
                    assert!(
                        known.contains(factory.name().as_str()),
                        "{f}: element {} has no package in PACKAGES",
                        factory.name()
                    );
                }
            }
        }
    }
}

#[test]
fn missing_elements_are_reported_with_their_package() {
    common::init();
    let missing =
        missing_elements("rpicamsrc2 num-buffers=1 ! rpicamsrc2-no-such-element ! fakesink");
    assert_eq!(missing, vec!["rpicamsrc2-no-such-element".to_string()]);
    let msg = missing_message(
        "hls.txt",
        &["hlssink2".to_string(), "avdec_h264".to_string()],
    );
    assert!(
        msg.contains("hlssink2 (Debian package: gstreamer1.0-plugins-bad)"),
        "{msg}"
    );
    assert!(
        msg.contains("avdec_h264 (Debian package: gstreamer1.0-libav)"),
        "{msg}"
    );
}
