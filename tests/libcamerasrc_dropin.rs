// SPDX-License-Identifier: MPL-2.0
//! rpicamsrc2 as a libcamerasrc drop-in (docs/libcamerasrc-dropin.md): the recipes in
//! pipelines/ taken from the Raspberry Pi documentation and from libcamerasrc's own tests run
//! against the simulated camera, their outputs counted and decoded; and the pieces they rest on
//! (`src_%u` pads with `stream-role`, `sensor-config`, libcamerasrc's control names).

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;

/// The recipes this file runs (tests/pipelines.rs checks each is named here).
const RECIPES: &[&str] = &[
    "libcamerasrc-dropin-rtp.txt",
    "libcamerasrc-multi-stream.txt",
    "libcamerasrc-stream-roles.txt",
];

/// The control properties libcamerasrc 0.7.1 offers (libcamera's
/// utils/codegen/gen-gst-controls.py `exposed_controls`, kebab-cased as it names them).
const LIBCAMERASRC_CONTROLS: &[&str] = &[
    "ae-enable",
    "ae-metering-mode",
    "ae-constraint-mode",
    "ae-exposure-mode",
    "exposure-value",
    "exposure-time",
    "exposure-time-mode",
    "analogue-gain",
    "analogue-gain-mode",
    "ae-flicker-period",
    "brightness",
    "contrast",
    "awb-enable",
    "awb-mode",
    "colour-gains",
    "saturation",
    "sharpness",
    "colour-correction-matrix",
    "scaler-crop",
    "digital-gain",
    "af-mode",
    "af-range",
    "af-speed",
    "af-metering",
    "af-windows",
    "lens-position",
    "gamma",
];

/// A recipe's pipeline: its non-comment lines joined, placeholders replaced.
fn recipe(name: &str, vars: &[(&str, String)]) -> String {
    assert!(RECIPES.contains(&name), "{name} is not listed in RECIPES");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut s = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    for (k, v) in vars {
        s = s.replace(&format!("${{{k}}}"), v);
    }
    assert!(!s.contains("${"), "placeholder left in {s}");
    s
}

#[track_caller]
fn run_ok(desc: &str) {
    let bus = common::run_to_end(desc, Duration::from_secs(120));
    assert!(bus.errors.is_empty(), "{desc}\nerrors: {:?}", bus.errors);
    assert!(bus.eos, "no EOS: {desc}");
}

/// Files in `dir` whose names start with `prefix`, sorted.
fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    v.sort();
    v
}

/// Decodes a JPEG with GStreamer's jpegdec: (width, height).
fn decode_jpeg(path: &Path) -> (u32, u32) {
    common::init();
    let p = common::pipeline(&format!(
        "filesrc location={} ! jpegdec ! appsink name=sink",
        path.display()
    ));
    let sink = common::appsink(&p, "sink");
    p.set_state(gst::State::Playing).unwrap();
    let s = sink
        .try_pull_sample(gst::ClockTime::from_seconds(10))
        .unwrap_or_else(|| panic!("{} does not decode", path.display()));
    let info = gst_video::VideoInfo::from_caps(s.caps().unwrap()).unwrap();
    p.set_state(gst::State::Null).unwrap();
    (info.width(), info.height())
}

/// The Raspberry Pi documentation's libcamerasrc RTP recipe: a receiver on 127.0.0.1 decodes
/// at least 50 of the 60 frames, at 1280x720.
#[test]
fn raspberry_pi_documentation_rtp_recipe() {
    common::init();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap();
    let receiver = common::pipeline(&format!(
        "udpsrc address=127.0.0.1 port={port} \
         caps=\"application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96\" \
         ! rtpjitterbuffer latency=200 ! rtph264depay ! h264parse ! avdec_h264 \
         ! appsink name=sink sync=false"
    ));
    let sink = common::appsink(&receiver, "sink");
    let decoded = Arc::new(Mutex::new(Vec::<(u32, u32)>::new()));
    let d = decoded.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
                d.lock().unwrap().push((info.width(), info.height()));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    receiver.set_state(gst::State::Playing).unwrap();
    run_ok(&recipe(
        "libcamerasrc-dropin-rtp.txt",
        &[("PORT", port.to_string()), ("NUM_BUFFERS", "60".into())],
    ));
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && decoded.lock().unwrap().len() < 60 {
        std::thread::sleep(Duration::from_millis(50));
    }
    receiver.set_state(gst::State::Null).unwrap();
    let decoded = decoded.lock().unwrap();
    assert!(decoded.len() >= 50, "decoded {} of 60", decoded.len());
    assert!(decoded.iter().all(|s| *s == (1280, 720)), "{decoded:?}");
}

/// libcamerasrc's multi-stream test: src and src_0 each deliver every frame; src is main
/// (1920x1080 when open), src_0 lores (640x360).
#[test]
fn libcamerasrc_multi_stream_test() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(&recipe(
        "libcamerasrc-multi-stream.txt",
        &[
            ("OUT", dir.path().display().to_string()),
            ("NUM_BUFFERS", "8".into()),
        ],
    ));
    let main = files(dir.path(), "src-");
    let other = files(dir.path(), "src_0-");
    assert_eq!(main.len(), 8, "{main:?}");
    assert_eq!(other.len(), 8, "{other:?}");
    assert_eq!(decode_jpeg(&main[7]), (1920, 1080));
    assert_eq!(decode_jpeg(&other[7]), (640, 360));
}

/// Stream roles set through the child proxy before the pads exist, and sensor-config: raw on
/// src_0 at the forced mode's 1640x1232, view-finder on src_1 at 320x240, main at 1280x720.
#[test]
fn stream_roles_and_sensor_config() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(&recipe(
        "libcamerasrc-stream-roles.txt",
        &[
            ("OUT", dir.path().display().to_string()),
            ("NUM_BUFFERS", "6".into()),
        ],
    ));
    let main = files(dir.path(), "main-");
    let vf = files(dir.path(), "vf-");
    let raw = files(dir.path(), "raw-");
    assert_eq!((main.len(), vf.len(), raw.len()), (6, 6, 6));
    assert_eq!(decode_jpeg(&main[5]), (1280, 720));
    assert_eq!(decode_jpeg(&vf[5]), (320, 240));
    // 1640x1232 at 10 bits: packed (5 bytes per 4 pixels) or in 16-bit words, rows maybe padded.
    let len = std::fs::metadata(&raw[5]).unwrap().len();
    let packed = 1640 * 1232 * 10 / 8;
    assert!(
        (packed..=1664 * 2 * 1232).contains(&len),
        "raw frame of {len} bytes is not 1640x1232 10-bit"
    );
}

fn element(desc: &str) -> gst::Element {
    common::init();
    gst::parse::launch(desc).unwrap()
}

#[test]
fn src_n_pads_follow_their_stream_role() {
    let e = element("rpicamsrc2 camera-name=sim:imx219");
    let src = e.static_pad("src").unwrap();
    assert_eq!(
        enum_nick(&src.property_value("stream-role")),
        "video-recording"
    );
    let p0 = e.request_pad_simple("src_%u").unwrap();
    let p1 = e.request_pad_simple("src_%u").unwrap();
    assert_eq!((p0.name().as_str(), p1.name().as_str()), ("src_0", "src_1"));
    // A third: lores and raw are both taken.
    assert!(e.request_pad_simple("src_%u").is_none());
    // The child proxy finds the pads by name, as gst-launch-1.0's src_1::stream-role does.
    let cp = e.dynamic_cast_ref::<gst::ChildProxy>().unwrap();
    assert_eq!(cp.children_count(), 3);
    cp.set_child_property(
        "src_0::stream-role",
        gstrpicamsrc2::rpicamsrc2::PadStreamRole::Raw.to_value(),
    );
    let role = |p: &gst::Pad| {
        p.downcast_ref::<gstrpicamsrc2::rpicamsrc2::RpiCamSrcPad>()
            .unwrap()
            .role()
    };
    use gstrpicamsrc2::camera::StreamRole;
    assert_eq!(role(&p0), StreamRole::Raw);
    assert_eq!(role(&p1), StreamRole::Lores);
    assert_eq!(enum_nick(&p0.property_value("stream-role")), "raw");
    e.release_request_pad(&p1);
    assert_eq!(cp.children_count(), 2);
    assert!(e.request_pad_simple("src_%u").is_some());
}

fn enum_nick(v: &glib::Value) -> String {
    glib::EnumValue::from_value(v)
        .map(|(_, e)| e.nick().to_string())
        .unwrap()
}

/// Two processed src_%u pads beside src: refused naming the pad and the streams there are.
#[test]
fn two_processed_request_pads_are_refused_by_name() {
    let bus = common::run_to_end(
        "rpicamsrc2 name=c camera-name=sim:imx219 num-buffers=2 c.src ! fakesink \
         c.src_0 ! fakesink c.src_1 ! fakesink",
        Duration::from_secs(30),
    );
    let e = bus.errors.join("\n");
    assert!(
        e.contains("src_1 asks for stream-role video-recording") && e.contains("one raw stream"),
        "{e}"
    );
}

#[test]
fn sensor_config_is_the_sensor_mode() {
    let e = element("rpicamsrc2 sensor-config=\"sensor/config,width=1332,height=990,depth=10\"");
    assert_eq!(
        e.property::<Option<String>>("sensor-mode").as_deref(),
        Some("1332:990:10")
    );
    let s = e
        .property::<Option<gst::Structure>>("sensor-config")
        .unwrap();
    assert_eq!(s.get::<i32>("width").unwrap(), 1332);
    // Used by the camera: imx477's 1332x990 mode.
    let bus = common::run_to_end(
        "rpicamsrc2 name=c camera-name=sim:imx477 num-buffers=3 \
         sensor-config=\"sensor/config,width=1332,height=990,depth=10\" \
         ! video/x-raw,width=640,height=480 ! fakesink",
        Duration::from_secs(30),
    );
    assert!(bus.errors.is_empty(), "{:?}", bus.errors);
    // A mode the sensor does not have: refused at start naming the modes.
    let bus = common::run_to_end(
        "rpicamsrc2 camera-name=sim:imx477 num-buffers=3 \
         sensor-config=\"sensor/config,width=1000,height=1000,depth=10\" ! fakesink",
        Duration::from_secs(30),
    );
    let err = bus.errors.join("\n");
    assert!(
        err.contains("1000:1000:10 is not a mode of imx477"),
        "{err}"
    );
    // Missing fields: warned, ignored.
    let bus = common::run_to_end(
        "rpicamsrc2 camera-name=sim:imx219 num-buffers=2 \
         sensor-config=\"sensor/config,width=1640\" ! fakesink",
        Duration::from_secs(30),
    );
    assert!(bus.errors.is_empty(), "{:?}", bus.errors);
    let w = bus.warnings.join("\n");
    assert!(w.contains("width, height and depth"), "{w}");
}

/// Every control property libcamerasrc has, rpicamsrc2 has under the same name, with a value
/// type a libcamerasrc pipeline can set the same way.
#[test]
fn libcamerasrc_control_names_are_properties() {
    let e = element("rpicamsrc2");
    for name in LIBCAMERASRC_CONTROLS {
        let p = e
            .find_property(name)
            .unwrap_or_else(|| panic!("no property {name}"));
        assert!(p.flags().contains(glib::ParamFlags::WRITABLE), "{name}");
    }
    // Values as libcamerasrc pipelines write them.
    let e = element(
        "rpicamsrc2 ae-metering-mode=spot awb-mode=daylight af-mode=continuous \
         exposure-time-mode=manual colour-gains=\"<1.5,2.0>\" scaler-crop=\"<0,0,1640,1232>\"",
    );
    assert_eq!(enum_nick(&e.property_value("awb-mode")), "daylight");
    assert_eq!(enum_nick(&e.property_value("ae-metering-mode")), "spot");
    assert_eq!(e.property::<gst::Array>("colour-gains").len(), 2);
}

/// libcamerasrc's single-stream test (`libcamerasrc ! fakesink`) and memory-lifetime test: a
/// sample pulled from appsink stays readable after the pipeline went to NULL and was dropped
/// (the camera's buffer outlives the element).
#[test]
fn libcamerasrc_single_stream_and_memory_lifetime_tests() {
    run_ok("rpicamsrc2 num-buffers=5 ! fakesink");
    let sample = common::sample_outliving_pipeline(
        "rpicamsrc2 ! video/x-raw,width=640,height=480 ! appsink name=sink",
        Duration::from_secs(5),
    );
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let buf = sample.buffer().unwrap();
    let map = buf.map_readable().expect("still readable");
    assert!(map.len() >= info.size());
    let luma = map[..640 * 480].iter().map(|&v| u64::from(v)).sum::<u64>() / (640 * 480);
    assert!((5..250).contains(&luma), "mean luma {luma}");
}
