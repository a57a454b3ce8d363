// SPDX-License-Identifier: MPL-2.0
//! The device provider through real GStreamer: `gst::DeviceMonitor` in this process, and the
//! `gst-device-monitor-1.0` tool (Debian package gstreamer1.0-plugins-base-apps) in a child
//! process whose printed launch line is then run with `gst-launch-1.0`.
//!
//! `RPICAMSRC2_SIM_DEVICES` is process-wide: the tests that set it hold [`env_lock`].

#[path = "common/child.rs"]
mod child;
mod common;

use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstrpicamsrc2::camera::{sensor, SIM_DEVICES_ENV};

fn env_lock() -> MutexGuard<'static, ()> {
    static ENV: Mutex<()> = Mutex::new(());
    ENV.lock().unwrap_or_else(|e| e.into_inner())
}

fn set_sim(value: Option<&str>) {
    match value {
        Some(v) => std::env::set_var(SIM_DEVICES_ENV, v),
        None => std::env::remove_var(SIM_DEVICES_ENV),
    }
}

fn camera_name(d: &gst::Device) -> String {
    d.properties()
        .and_then(|p| p.get::<String>("camera-name").ok())
        .unwrap_or_default()
}

fn is_simulated(d: &gst::Device) -> bool {
    d.properties()
        .and_then(|p| p.get::<bool>("simulated").ok())
        .unwrap_or(false)
}

/// The devices a started `Video/Source` monitor lists that come from our provider.
fn ours(monitor: &gst::DeviceMonitor) -> Vec<gst::Device> {
    monitor
        .devices()
        .into_iter()
        .filter(|d| d.type_().name() == "GstRpiCamSrc2Device")
        .collect()
}

fn monitor() -> gst::DeviceMonitor {
    common::init();
    let m = gst::DeviceMonitor::new();
    m.add_filter(Some("Video/Source"), None);
    m
}

#[test]
fn simulated_cameras_are_listed_only_when_asked() {
    let _env = env_lock();
    set_sim(None);
    let m = monitor();
    m.start().expect("the monitor starts");
    let sims: Vec<String> = ours(&m)
        .iter()
        .filter(|d| is_simulated(d))
        .map(camera_name)
        .collect();
    m.stop();
    assert!(sims.is_empty(), "listed without being asked: {sims:?}");
    // Without a real camera (this host), our provider lists nothing at all.
    #[cfg(not(feature = "libcamera"))]
    {
        let m = monitor();
        m.start().unwrap();
        assert!(ours(&m).is_empty());
        m.stop();
    }

    set_sim(Some("1"));
    let m = monitor();
    m.start().unwrap();
    let devices = ours(&m);
    m.stop();
    set_sim(None);
    let names: Vec<String> = devices.iter().map(camera_name).collect();
    let expected: Vec<String> = sensor::SIMULATED_SENSORS
        .iter()
        .map(|s| format!("sim:{s}"))
        .collect();
    for e in &expected {
        assert!(names.contains(e), "{e} missing from {names:?}");
    }
    for d in &devices {
        assert!(d.has_classes("Video/Source"));
        let p = d.properties().expect("properties");
        assert_eq!(p.get::<bool>("simulated").unwrap(), is_simulated(d));
        assert!(p.get::<String>("api.libcamera.Model").is_ok(), "{p}");
        assert!(p.get::<i32>("api.libcamera.Rotation").is_ok(), "{p}");
    }
}

/// For each simulated sensor: one caps structure per mode size, at that size, with that mode's
/// highest frame rate as the top of its range.
#[test]
fn caps_have_one_structure_per_mode_with_its_rate_range() {
    let _env = env_lock();
    set_sim(Some("all"));
    let m = monitor();
    m.start().unwrap();
    let devices = ours(&m);
    m.stop();
    set_sim(None);
    for model in sensor::SIMULATED_SENSORS {
        let d = devices
            .iter()
            .find(|d| camera_name(d) == format!("sim:{model}"))
            .unwrap_or_else(|| panic!("sim:{model} listed"));
        let caps = d.caps().expect("caps");
        let info = sensor::by_model(model).unwrap();
        let mut sizes: Vec<(i32, i32, gst::Fraction)> = Vec::new();
        for m in info.modes.iter().filter(|m| !m.hdr) {
            let (n, dd) = m.max_fps_fraction();
            let t = (
                m.size.width as i32,
                m.size.height as i32,
                gst::Fraction::new(n, dd),
            );
            if !sizes.contains(&t) {
                sizes.push(t);
            }
        }
        assert_eq!(caps.size(), sizes.len(), "{model}: {caps}");
        for (w, h, max) in sizes {
            let s = caps
                .iter()
                .find(|s| s.get::<i32>("width") == Ok(w) && s.get::<i32>("height") == Ok(h))
                .unwrap_or_else(|| panic!("{model}: no {w}x{h} in {caps}"));
            let range = s.get::<gst::FractionRange>("framerate").unwrap();
            assert_eq!(range.max(), max, "{model} {w}x{h}");
            assert!(range.min() < gst::Fraction::new(1, 1), "{model} {w}x{h}");
            assert!(s.get::<gst::List>("format").is_ok());
        }
    }
}

/// `create_element` gives an rpicamsrc2 for that camera, which runs.
#[test]
fn the_device_element_captures() {
    let _env = env_lock();
    set_sim(Some("imx477"));
    let m = monitor();
    m.start().unwrap();
    let devices = ours(&m);
    m.stop();
    set_sim(None);
    let d = devices
        .iter()
        .find(|d| camera_name(d) == "sim:imx477")
        .expect("sim:imx477 listed");
    assert!(!devices.iter().any(|d| camera_name(d) == "sim:imx219"));
    let src = d.create_element(Some("cam")).unwrap();
    assert_eq!(src.factory().unwrap().name(), "rpicamsrc2");
    assert_eq!(
        src.property::<Option<String>>("camera-name").unwrap(),
        "sim:imx477"
    );
    src.set_property("num-buffers", 8i32);
    let pipeline = gst::Pipeline::new();
    let caps = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            "video/x-raw,width=1332,height=990"
                .parse::<gst::Caps>()
                .unwrap(),
        )
        .build()
        .unwrap();
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline.add_many([&src, &caps, sink.upcast_ref()]).unwrap();
    gst::Element::link_many([&src, &caps, sink.upcast_ref()]).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = 0;
    while let Ok(s) = sink
        .try_pull_sample(gst::ClockTime::from_seconds(10))
        .ok_or(())
    {
        let info = gst_video::VideoInfo::from_caps(s.caps().unwrap()).unwrap();
        assert_eq!((info.width(), info.height()), (1332, 990));
        frames += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(frames, 8);
}

/// Cameras that come and go while the monitor runs are reported as added and removed.
#[test]
fn cameras_added_and_removed_while_monitoring_are_reported() {
    let _env = env_lock();
    set_sim(Some("imx219"));
    let m = monitor();
    let bus = m.bus();
    m.start().unwrap();
    let names: Vec<String> = ours(&m).iter().map(camera_name).collect();
    assert!(names.contains(&"sim:imx219".to_string()), "{names:?}");
    assert!(!names.contains(&"sim:imx708".to_string()), "{names:?}");
    // Waits for a device message about sim:imx708.
    let wait = |added: bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) else {
                continue;
            };
            let dev = match msg.view() {
                gst::MessageView::DeviceAdded(a) if added => a.device(),
                gst::MessageView::DeviceRemoved(r) if !added => r.device(),
                _ => continue,
            };
            if camera_name(&dev) == "sim:imx708" {
                return true;
            }
        }
        false
    };
    set_sim(Some("imx219,imx708"));
    let plugged = wait(true);
    set_sim(Some("imx219"));
    let unplugged = wait(false);
    let left: Vec<String> = ours(&m).iter().map(camera_name).collect();
    m.stop();
    set_sim(None);
    assert!(plugged, "no device-added for sim:imx708");
    assert!(unplugged, "no device-removed for sim:imx708");
    assert!(!left.contains(&"sim:imx708".to_string()), "{left:?}");
}

/// The provider is below libcamera's own (PRIMARY), and the element stays out of
/// autovideosrc's choice (rank NONE).
#[test]
fn ranks_keep_fake_cameras_away() {
    common::init();
    let f = gst::DeviceProviderFactory::find("rpicamsrc2deviceprovider").expect("registered");
    assert_eq!(f.rank(), gst::Rank::MARGINAL);
    assert!(f.rank() < gst::Rank::PRIMARY);
    let e = gst::ElementFactory::find("rpicamsrc2").unwrap();
    assert_eq!(e.rank(), gst::Rank::NONE);
}

/// `gst-device-monitor-1.0 Video/Source` prints each camera asked for, and its launch line,
/// completed with num-buffers and a JPEG encoder, runs in `gst-launch-1.0`.
#[test]
fn gst_device_monitor_prints_a_launch_line_that_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let plugins = child::plugin_dir(tmp.path()).unwrap();
    let tool = |sim: Option<&str>| {
        let mut c = Command::new("gst-device-monitor-1.0");
        c.env("GST_PLUGIN_PATH", &plugins)
            .env("GST_REGISTRY", tmp.path().join("registry.bin"))
            .env_remove(SIM_DEVICES_ENV)
            .arg("Video/Source");
        if let Some(s) = sim {
            c.env(SIM_DEVICES_ENV, s);
        }
        let (code, out, err) =
            child::run_limited(&mut c, Duration::from_secs(120)).unwrap_or_else(|e| {
                panic!(
                    "{e} (gst-device-monitor-1.0: Debian package gstreamer1.0-plugins-base-apps)"
                )
            });
        assert_eq!(code, Some(0), "{out}\n{err}");
        out
    };
    let none = tool(None);
    assert!(!none.contains("sim:"), "{none}");
    let out = tool(Some("imx708"));
    assert!(out.contains("class : Video/Source"), "{out}");
    assert!(out.contains("width=4608, height=2592"), "{out}");
    assert!(out.contains("api.libcamera.Model = imx708"), "{out}");
    let line = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("gst-launch-1.0 rpicamsrc2") && l.contains("sim:imx708"))
        .unwrap_or_else(|| panic!("no launch line for sim:imx708 in {out}"));
    assert_eq!(
        line,
        "gst-launch-1.0 rpicamsrc2 camera-name=sim:imx708 ! ..."
    );
    let head = line.strip_suffix("! ...").expect("ends with '! ...'");
    let mut args: Vec<String> = head.split_whitespace().skip(1).map(String::from).collect();
    let pattern = tmp.path().join("f%02d.jpg");
    args.extend(
        [
            "num-buffers=6",
            "!",
            "video/x-raw,width=640,height=360",
            "!",
            "jpegenc",
            "!",
            "multifilesink",
        ]
        .map(String::from),
    );
    args.push(format!("location={}", pattern.display()));
    let (code, out, err) = child::run_limited(
        Command::new("gst-launch-1.0")
            .env("GST_PLUGIN_PATH", &plugins)
            .env("GST_REGISTRY", tmp.path().join("registry.bin"))
            .args(&args),
        Duration::from_secs(120),
    )
    .unwrap();
    assert_eq!(code, Some(0), "{args:?}\n{out}\n{err}");
    let jpegs: Vec<_> = (0..6)
        .map(|i| tmp.path().join(format!("f{i:02}.jpg")))
        .collect();
    for j in &jpegs {
        let data = std::fs::read(j).unwrap_or_else(|e| panic!("{}: {e}", j.display()));
        // A decodable JPEG: start and end markers, decoded by GStreamer's own decoder.
        assert_eq!(&data[..2], &[0xff, 0xd8]);
        assert_eq!(&data[data.len() - 2..], &[0xff, 0xd9]);
    }
    assert!(!tmp.path().join("f06.jpg").exists());
    common::init();
    let dec = common::pipeline(&format!(
        "filesrc location={} ! jpegdec ! appsink name=sink",
        jpegs[5].display()
    ));
    let sink = common::appsink(&dec, "sink");
    dec.set_state(gst::State::Playing).unwrap();
    let s = sink
        .try_pull_sample(gst::ClockTime::from_seconds(10))
        .expect("the JPEG decodes");
    let info = gst_video::VideoInfo::from_caps(s.caps().unwrap()).unwrap();
    assert_eq!((info.width(), info.height()), (640, 360));
    dec.set_state(gst::State::Null).unwrap();
}

/// examples/device_monitor.py: lists the camera asked for, with one caps structure per mode,
/// and captures 10 frames from the element its device makes; with nothing asked, it finds no
/// camera and says so.
#[test]
fn python_device_monitor_example() {
    let tmp = tempfile::tempdir().unwrap();
    let plugins = child::plugin_dir(tmp.path()).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/device_monitor.py");
    let run = |sim: Option<&str>| {
        let mut c = Command::new("/usr/bin/python3");
        c.arg(&script)
            .env("GST_PLUGIN_PATH", &plugins)
            .env("GST_REGISTRY", tmp.path().join("registry.bin"))
            .env_remove(SIM_DEVICES_ENV);
        if let Some(s) = sim {
            c.env(SIM_DEVICES_ENV, s);
        }
        child::run_limited(&mut c, Duration::from_secs(120)).unwrap()
    };
    #[cfg(not(feature = "libcamera"))]
    {
        let (code, out, err) = run(None);
        assert_eq!(code, Some(1), "{out}\n{err}");
        assert!(out.contains("no camera found"), "{out}");
    }
    let (code, out, err) = run(Some("imx296"));
    assert_eq!(code, Some(0), "{out}\n{err}");
    let modes = sensor::by_model("imx296")
        .unwrap()
        .modes
        .iter()
        .filter(|m| !m.hdr)
        .count();
    assert!(
        out.contains(&format!(
            "device camera-name=sim:imx296 model=imx296 modes={modes}"
        )),
        "{out}"
    );
    assert!(out.contains("captured 10 frames from sim:imx296"), "{out}");
}
