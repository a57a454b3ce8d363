// SPDX-License-Identifier: MPL-2.0
//! The libcamera backend on a real kernel: the VM tier's guest (`scripts/vm.sh test`, which
//! builds this file with `--features libcamera` and runs it there; docs/vm.md). The guest has
//! the system dma-buf heap and udmabuf, so libcamera's FrameBufferAllocator has a provider, and
//! it has vimc, a V4L2 capture path through the media controller (sensor, debayer, scaler
//! subdevices) with libcamera's vimc pipeline handler and IPA. vimc delivers about one frame a
//! second under TCG: these tests count frames and check behaviour, never rate.
//!
//! Each test is `#[ignore]`d; outside the guest (no `RPICAMSRC2_VM`) `--ignored` makes each fail
//! with "not run: ...". Run with `--test-threads=1`: one user can acquire a camera at a time.
#![cfg(feature = "libcamera")]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use gst::prelude::*;
use gstrpicamsrc2::rpicamsrc2::meta::frame_metadata;

/// libcamera's name for vimc's camera (its sensor entity "Sensor B").
const VIMC: &str = "platform/vimc.0 Sensor B";
/// libcamera's virtual camera, as in tests/libcamera.rs.
const VIRTUAL: &str = "Virtual0";
/// Per sample: vimc under TCG takes 1 to 3 s a frame, and its first comes after the start.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(30);

fn in_guest() {
    if std::env::var_os("RPICAMSRC2_VM").is_none() {
        panic!(
            "not run: needs the VM tier's guest (dma-buf heap, vimc), which scripts/vm.sh test \
             boots"
        );
    }
}

/// `n` samples of `src` (an `rpicamsrc2` description) through `caps` into an appsink, the
/// pipeline set to NULL afterwards; also the element's `frames-copied`. The samples are all
/// held until the end: `n` must be fewer than the camera's buffers (libcamera's allocator gives
/// 4 on the virtual camera and vimc), or the camera has none left to fill.
fn samples(src: &str, caps: &str, n: usize) -> (Vec<gst::Sample>, u64) {
    let desc = format!("{src} name=src ! {caps} ! appsink name=sink sync=false");
    let p = common::pipeline(&desc);
    let sink = common::appsink(&p, "sink");
    p.set_state(gst::State::Playing)
        .unwrap_or_else(|e| panic!("{desc}: PLAYING: {e}"));
    let mut out = Vec::new();
    while out.len() < n {
        match sink.try_pull_sample(gst::ClockTime::try_from(SAMPLE_TIMEOUT).unwrap()) {
            Some(s) => out.push(s),
            None => {
                let err = p
                    .bus()
                    .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
                    .map(|m| format!("{m:?}"))
                    .unwrap_or_default();
                panic!(
                    "{desc}: {} of {n} samples, then none within {SAMPLE_TIMEOUT:?} {err}",
                    out.len()
                );
            }
        }
    }
    let copied = p
        .by_name("src")
        .expect("src")
        .property::<gst::Structure>("statistics")
        .get::<u64>("frames-copied")
        .expect("frames-copied");
    p.set_state(gst::State::Null).unwrap();
    (out, copied)
}

fn is_dmabuf(s: &gst::Sample) -> bool {
    let b = s.buffer().expect("a buffer");
    b.n_memory() > 0
        && b.peek_memory(0)
            .is_memory_type::<gst_allocators::DmaBufMemory>()
}

/// The V4L2 sub-device whose sysfs name is `name`.
fn subdev(name: &str) -> PathBuf {
    for e in std::fs::read_dir("/sys/class/video4linux")
        .expect("/sys/class/video4linux")
        .flatten()
    {
        let n = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
        let file = e.file_name();
        if n.trim() == name && file.to_string_lossy().starts_with("v4l-subdev") {
            return PathBuf::from("/dev").join(file);
        }
    }
    panic!("no V4L2 sub-device named {name} (is vimc loaded?)");
}

/// A control of a V4L2 (sub-)device, read with `v4l2-ctl --get-ctrl` (v4l-utils).
fn v4l2_control(dev: &PathBuf, ctrl: &str) -> i64 {
    let out = Command::new("v4l2-ctl")
        .arg("-d")
        .arg(dev)
        .arg(format!("--get-ctrl={ctrl}"))
        .output()
        .expect("v4l2-ctl (v4l-utils) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.rsplit(':')
        .next()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "v4l2-ctl -d {} --get-ctrl={ctrl}: {text} {}",
                dev.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// Mean of the first plane's bytes over the picture (RGB or BGR, 3 bytes a pixel).
fn mean(s: &gst::Sample) -> f64 {
    let b = s.buffer().expect("a buffer");
    let map = b.map_readable().expect("mappable");
    map.iter().map(|&v| f64::from(v)).sum::<f64>() / map.len().max(1) as f64
}

#[test]
#[ignore = "VM tier: scripts/vm.sh test"]
fn vimc_negotiates_and_hands_on_libcamera_dmabufs_with_metadata() {
    in_guest();
    let (s, copied) = samples(
        &format!("rpicamsrc2 camera-name=\"{VIMC}\""),
        "video/x-raw,width=640,height=480",
        3,
    );
    let caps = s[0]
        .caps()
        .expect("caps")
        .structure(0)
        .expect("a structure")
        .to_owned();
    println!("vimc caps: {caps}");
    assert_eq!(caps.get::<i32>("width").unwrap(), 640);
    assert_eq!(caps.get::<i32>("height").unwrap(), 480);
    let format = caps.get::<String>("format").unwrap();
    assert!(
        format == "RGB" || format == "BGR",
        "vimc's processed stream is RGB888 or BGR888, got {format}"
    );
    // libcamera's allocator found a dma-buf provider: its buffers are handed on as they are.
    assert!(s.iter().all(is_dmabuf), "every buffer a dma-buf");
    assert_eq!(copied, 0, "frames-copied");
    let meta: Vec<_> = s
        .iter()
        .map(|x| frame_metadata(x.buffer().unwrap()).expect("frame metadata on every buffer"))
        .collect();
    for w in meta.windows(2) {
        assert!(w[1].sequence > w[0].sequence, "sequence rises: {meta:?}");
        assert!(
            w[1].sensor_timestamp_ns > w[0].sensor_timestamp_ns,
            "sensor timestamps rise: {meta:?}"
        );
    }
    println!(
        "vimc: {} frames {format} 640x480, dma-bufs, 0 copied; sequences {:?}",
        s.len(),
        meta.iter().map(|m| m.sequence).collect::<Vec<_>>()
    );
}

#[test]
#[ignore = "VM tier: scripts/vm.sh test"]
fn vimc_brightness_set_while_playing_reaches_the_sensor_subdevice() {
    in_guest();
    let sensor = subdev("Sensor B");
    // Both values are set while PLAYING: libcamera's vimc handler applies controls per request
    // (its start ignores the controls it is given), and the sensor keeps whatever an earlier
    // run left.
    let desc = format!(
        "rpicamsrc2 name=src camera-name=\"{VIMC}\" ! video/x-raw,width=640,height=480 ! \
         appsink name=sink sync=false"
    );
    let p = common::pipeline(&desc);
    let src = p.by_name("src").unwrap();
    let sink = common::appsink(&p, "sink");
    // The last of `n` samples; the backend's queued requests still carry the old value, and
    // 6 frames pass them.
    let settle = |what: &str, n: usize| {
        let mut last = None;
        for i in 0..n {
            last = Some(
                sink.try_pull_sample(gst::ClockTime::try_from(SAMPLE_TIMEOUT).unwrap())
                    .unwrap_or_else(|| panic!("no sample {i} {what} within {SAMPLE_TIMEOUT:?}")),
            );
        }
        last.expect("n > 0")
    };
    p.set_state(gst::State::Playing).unwrap();
    settle("after PLAYING", 1);
    // libcamera's vimc handler writes Brightness b as round(128 b + 128), clamped to 0..255.
    src.set_property("brightness", -0.5f32);
    let dark = settle("after brightness -0.5", 6);
    let v0 = v4l2_control(&sensor, "brightness");
    src.set_property("brightness", 0.5f32);
    let light = settle("after brightness 0.5", 6);
    let v1 = v4l2_control(&sensor, "brightness");
    p.set_state(gst::State::Null).unwrap();
    assert_eq!(v0, 64, "the sensor's brightness after Brightness -0.5");
    assert_eq!(v1, 192, "the sensor's brightness after Brightness 0.5");
    // vimc's sensor draws its test pattern with that brightness: the picture is lighter.
    let (m0, m1) = (mean(&dark), mean(&light));
    println!(
        "vimc Sensor B brightness {v0} -> {v1} ({}); mean byte {m0:.1} -> {m1:.1}",
        sensor.display()
    );
    assert!(m1 > m0 + 10.0, "mean byte {m0:.1} -> {m1:.1}");
}

#[test]
#[ignore = "VM tier: scripts/vm.sh test"]
fn vimc_restarts_after_stop() {
    in_guest();
    let desc = format!(
        "rpicamsrc2 camera-name=\"{VIMC}\" num-buffers=2 ! video/x-raw,width=640,height=480 ! \
         fakesink sync=false"
    );
    for round in 1..=2 {
        let bus = common::run_to_end(&desc, Duration::from_secs(90));
        assert!(
            bus.eos && bus.errors.is_empty(),
            "round {round}: EOS, no error: {:?}",
            bus.errors
        );
    }
}

#[test]
#[ignore = "VM tier: scripts/vm.sh test"]
fn virtual_camera_buffers_come_from_libcameras_dmabuf_allocator() {
    in_guest();
    // In the trixie root on the host (no dma-buf heap) the same camera's buffers are memfd
    // (tests/libcamera.rs); here libcamera's allocator has a provider and the backend uses it.
    let (s, copied) = samples(
        &format!("rpicamsrc2 camera-name={VIRTUAL}"),
        "video/x-raw,format=NV12,width=640,height=480",
        3,
    );
    assert!(s.iter().all(is_dmabuf), "every buffer a dma-buf");
    assert_eq!(copied, 0, "frames-copied");
    println!("{VIRTUAL}: 3 frames, all dma-bufs, 0 copied");
}

#[test]
#[ignore = "VM tier: scripts/vm.sh test"]
fn a_buffer_kept_after_null_is_freed_safely_and_the_camera_opens_again() {
    in_guest();
    // A buffer from libcamera's allocator keeps the allocator, and so the camera and its
    // pipeline handler, alive. Kept after its pipeline is gone (as an application keeps the
    // last sample), it must not outlive the camera manager: freeing it then crashed the process.
    let desc = format!("rpicamsrc2 camera-name={VIRTUAL}");
    let caps = "video/x-raw,format=NV12,width=640,height=480";
    let (mut kept, _) = samples(&desc, caps, 2);
    assert!(kept.iter().all(is_dmabuf), "libcamera's dma-bufs");
    // The camera opens again (another pipeline) while the old buffers are still held ...
    let (again, copied) = samples(&desc, caps, 3);
    assert!(again.iter().all(is_dmabuf), "libcamera's dma-bufs");
    assert_eq!(copied, 0, "frames-copied");
    // ... and the old ones are freed after it closed, then the new ones.
    kept.clear();
    drop(again);
    // Still alive: a third run from a clean state.
    let (last, _) = samples(&desc, caps, 2);
    assert_eq!(last.len(), 2);
    println!("{VIRTUAL}: buffers kept past NULL freed after their camera closed, no crash");
}

#[test]
#[ignore = "VM tier: scripts/vm.sh test"]
fn virtual_camera_runs_on_memfd_buffers_when_asked() {
    in_guest();
    // The path a machine without a dma-buf provider takes (the trixie root on the host), shown
    // here beside the allocator's: the element's own memfd buffers, not dma-bufs, no copy.
    let _env = common::EnvVar::set("RPICAMSRC2_LIBCAMERA_BUFFERS", "memfd");
    let (s, copied) = samples(
        &format!("rpicamsrc2 camera-name={VIRTUAL}"),
        "video/x-raw,format=NV12,width=640,height=480",
        3,
    );
    assert!(!s.iter().any(is_dmabuf), "memfd buffers are not dma-bufs");
    assert_eq!(copied, 0, "frames-copied");
    println!("{VIRTUAL}: 3 frames on memfd buffers (RPICAMSRC2_LIBCAMERA_BUFFERS=memfd), 0 copied");
}
