// SPDX-License-Identifier: MPL-2.0
//! Defects found by trying to break the elements (issue 16), each kept fixed by a test:
//! nested arrays on array properties, a lores pad requested while PLAYING, `sim-image` on a
//! FIFO, a device or a huge image, and frames lost while downstream holds every buffer.

#[path = "common/child.rs"]
mod child;
mod common;

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::prelude::*;

/// The array properties and a nested value for each that GStreamer 1.22's deserializer used to
/// crash on (SIGSEGV in `gst_value_deserialize_with_pspec`).
const NESTED: [(&str, &str); 5] = [
    ("colour-gains", "<<1,2>>"),
    ("scaler-crop", "<<1,2>>"),
    ("colour-correction-matrix", "<<1,2>>"),
    ("af-windows", "<<<1,2>>>"),
    ("af-windows", "<<1,2>>"),
];

#[test]
fn nested_arrays_are_refused_with_a_clear_warning() {
    common::init();
    for (name, value) in NESTED {
        let bus = common::run_to_end(
            &format!(
                "rpicamsrc2 camera-name=sim:imx219 {name}=\"{value}\" num-buffers=3 \
                 ! video/x-raw,width=320,height=240 ! fakesink"
            ),
            Duration::from_secs(20),
        );
        assert!(bus.errors.is_empty(), "{name}={value}: {:?}", bus.errors);
        assert!(bus.eos, "{name}={value}: no EOS");
        let w = bus.warnings.join("\n");
        assert!(
            w.contains(name) && w.contains("ignored"),
            "{name}={value}: {w}"
        );
    }
    // Well-formed values still parse, with numbers written as integers or decimals.
    let p = gst::parse::launch(
        "rpicamsrc2 name=c colour-gains=\"<1.5,2>\" scaler-crop=\"<0,0,640,480>\" \
         af-windows=\"<<1,2,30,40>,<5,6,70,80>>\" ! fakesink",
    )
    .unwrap()
    .downcast::<gst::Bin>()
    .unwrap();
    let c = p.by_name("c").unwrap();
    let g = c.property::<gst::Array>("colour-gains");
    let g: Vec<f32> = g.iter().map(|v| v.get::<f32>().unwrap()).collect();
    assert_eq!(g, vec![1.5, 2.0]);
    let crop = c.property::<gst::Array>("scaler-crop");
    assert_eq!(crop.len(), 4);
    assert_eq!(crop.as_slice()[2].get::<i32>().unwrap(), 640);
    let w = c.property::<gst::Array>("af-windows");
    assert_eq!(w.len(), 2);
    // Out of range: refused, naming the range.
    let bus = common::run_to_end(
        "rpicamsrc2 camera-name=sim:imx219 colour-gains=\"<40,1>\" num-buffers=2 ! fakesink",
        Duration::from_secs(20),
    );
    let w = bus.warnings.join("\n");
    assert!(w.contains("colour-gains") && w.contains("0 to 32"), "{w}");
}

#[test]
fn nested_arrays_do_not_crash_gst_launch() {
    let tmp = tempfile::tempdir().unwrap();
    let plugins = child::plugin_dir(tmp.path()).unwrap();
    for (name, value) in NESTED {
        let (code, out, err) = child::run_limited(
            Command::new("gst-launch-1.0")
                .env("GST_PLUGIN_PATH", &plugins)
                .env("GST_REGISTRY", tmp.path().join("registry.bin"))
                .args([
                    "rpicamsrc2",
                    "camera-name=sim:imx219",
                    &format!("{name}={value}"),
                    "num-buffers=1",
                    "!",
                    "video/x-raw,width=320,height=240",
                    "!",
                    "fakesink",
                ]),
            Duration::from_secs(60),
        )
        .unwrap();
        // Killed by a signal (the crash) or at the time limit gives no exit code.
        assert_eq!(code, Some(0), "{name}={value}: {out}\n{err}");
        let all = format!("{out}{err}");
        assert!(all.contains(name) && all.contains("ignored"), "{all}");
    }
}

/// Counts the buffers reaching the sink pad of `sink`.
fn count(sink: &gst::Element) -> Arc<AtomicU64> {
    let n = Arc::new(AtomicU64::new(0));
    let c = n.clone();
    sink.static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            c.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    n
}

/// Requests `lores` while PLAYING and links `caps ! fakesink` to it `delay` later (linked
/// before its state is synced when `link_first`); returns (main buffers before, main after,
/// lores buffers, bus, the link's refusal if refused) after a second.
fn lores_while_playing(
    caps: &str,
    delay: Duration,
    link_first: bool,
) -> (u64, u64, u64, common::Bus, Option<gst::PadLinkError>) {
    common::init();
    let p = common::pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 \
         ! video/x-raw,width=640,height=480,framerate=30/1 ! fakesink name=m",
    );
    let main = count(&p.by_name("m").unwrap());
    let bus = p.bus().unwrap();
    let mut out = common::Bus::default();
    p.set_state(gst::State::Playing).unwrap();
    common::collect(&bus, &mut out, Duration::from_millis(500));
    let cam = p.by_name("cam").unwrap();
    let lores = cam.request_pad_simple("lores").unwrap();
    std::thread::sleep(delay);
    let filter = gst::ElementFactory::make("capsfilter")
        .property("caps", caps.parse::<gst::Caps>().unwrap())
        .build()
        .unwrap();
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    let got = count(&sink);
    p.add_many([&filter, &sink]).unwrap();
    filter.link(&sink).unwrap();
    let sync = || {
        sink.sync_state_with_parent().unwrap();
        filter.sync_state_with_parent().unwrap();
    };
    if !link_first {
        sync();
    }
    let link = lores.link(&filter.static_pad("sink").unwrap()).err();
    if link_first {
        sync();
    }
    common::collect(&bus, &mut out, Duration::from_millis(300));
    let before = main.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        common::collect(&bus, &mut out, Duration::from_millis(100));
    }
    let after = main.load(Ordering::Relaxed);
    let lores_n = got.load(Ordering::Relaxed);
    if link.is_none() {
        // Unlinked again: the pad leaves the camera's streams; it loses nothing it should have
        // delivered, and main goes on.
        lores.unlink(&filter.static_pad("sink").unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let dropped: u64 = cam.property("lores-frames-dropped");
        let main_before = main.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(700));
        common::collect(&bus, &mut out, Duration::ZERO);
        let dropped_after: u64 = cam.property("lores-frames-dropped");
        assert_eq!(
            dropped, dropped_after,
            "an unlinked lores pad counts no drops"
        );
        assert!(
            main.load(Ordering::Relaxed) >= main_before + 5,
            "main after the unlink"
        );
    }
    p.set_state(gst::State::Null).unwrap();
    (before, after, lores_n, out, link)
}

#[test]
fn lores_requested_while_playing_links_later_and_negotiates() {
    let _serial = common::serial();
    for (delay, link_first) in [(50, true), (50, false), (20, true), (200, true)] {
        let (before, after, lores, bus, link) = lores_while_playing(
            "video/x-raw,width=320,height=240",
            Duration::from_millis(delay),
            link_first,
        );
        let what = format!("linked {delay} ms after the request, link first {link_first}");
        assert_eq!(link, None, "{what}: link refused");
        assert!(bus.errors.is_empty(), "{what}: {:?}", bus.errors);
        assert!(after >= before + 10, "{what}: main {before} -> {after}");
        assert!(lores >= 10, "{what}: lores pushed {lores}");
    }
}

#[test]
fn a_lores_branch_that_cannot_be_negotiated_is_refused_alone() {
    let _serial = common::serial();
    // Larger than main: the link is refused (the pad's caps are no larger than main's), or
    // the pad with a warning naming it; main goes on, no error.
    let (before, after, lores, bus, link) = lores_while_playing(
        "video/x-raw,width=800,height=600",
        Duration::from_millis(50),
        true,
    );
    assert!(bus.errors.is_empty(), "{:?}", bus.errors);
    assert!(after >= before + 10, "main {before} -> {after}");
    assert_eq!(lores, 0);
    if link.is_none() {
        let w = bus.warnings.join("\n");
        assert!(
            w.contains("lores refused") && w.contains("no larger than main"),
            "{w}"
        );
    }
}

#[test]
fn frames_lost_while_downstream_holds_every_buffer_are_dropped() {
    let _serial = common::serial();
    common::init();
    // The appsink keeps every buffer (nobody pulls): after buffer-count frames the camera has
    // no buffer left, and every later frame is lost for the pad.
    let p = common::pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 buffer-count=3 \
         ! video/x-raw,width=320,height=240,framerate=60/1 \
         ! appsink name=sink max-buffers=1000 sync=false",
    );
    let cam = p.by_name("cam").unwrap();
    p.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let dropped: u64 = cam.property("frames-dropped");
    let stats = cam.property::<gst::Structure>("statistics");
    p.set_state(gst::State::Null).unwrap();
    let get = |f: &str| stats.get::<u64>(f).unwrap();
    // Downstream holds the camera's 3 buffers; everything after is lost, and said so now (not
    // only when a frame arrives again).
    assert_eq!(get("frames-pushed"), 3, "{stats}");
    assert!(dropped >= 30, "frames-dropped {dropped}: {stats}");
    // One stream: every frame the camera had no buffer for is the pad's loss, no more.
    assert_eq!(
        get("frames-dropped"),
        get("frames-without-buffer"),
        "{stats}"
    );
    assert!(get("frames-dropped") >= dropped, "{stats}");
}

/// Runs `f` on a thread of its own and waits at most `limit` for it: a hang fails the test
/// instead of blocking it.
fn bounded<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("finished in time (a blocking read of the image would hang here)")
}

/// A PNG file whose header claims `w`x`h` pixels and that holds almost no image data.
fn png_claiming(path: &std::path::Path, w: u32, h: u32) {
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for b in data {
            c ^= u32::from(*b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    let chunk = |out: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(data);
        out.extend(&body);
        out.extend(crc32(&body).to_be_bytes());
    };
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut png, b"IHDR", &ihdr);
    // A zlib stream of nothing: far too little data for the size claimed.
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    std::fs::write(path, png).unwrap();
}

/// A FIFO, a symbolic link to /dev/urandom and a PNG claiming 12000x12000 pixels, in `dir`,
/// each with what the error must say.
fn bad_images(dir: &std::path::Path) -> Vec<(String, &'static str)> {
    let fifo = dir.join("fifo.png");
    let ok = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(ok.success());
    let random = dir.join("random.png");
    std::os::unix::fs::symlink("/dev/urandom", &random).unwrap();
    let huge = dir.join("huge.png");
    png_claiming(&huge, 12000, 12000);
    vec![
        (fifo.display().to_string(), "not a regular file"),
        (random.display().to_string(), "not a regular file"),
        (
            huge.display().to_string(),
            "above the limit of 33554432 pixels",
        ),
    ]
}

#[test]
fn a_bad_scene_image_at_start_is_a_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    for (path, says) in bad_images(dir.path()) {
        let launch = format!(
            "rpicamsrc2 camera-name=sim:imx219 sim-scene=image sim-image={path} num-buffers=5 \
             ! fakesink"
        );
        let bus = bounded(Duration::from_secs(30), move || {
            common::run_to_end(&launch, Duration::from_secs(10))
        });
        let e = bus.errors.join("\n");
        assert!(e.contains(&path) && e.contains(says), "{path}: {e}");
    }
}

#[test]
fn a_bad_scene_image_set_while_playing_is_a_warning_and_frames_go_on() {
    let _serial = common::serial();
    common::init();
    let dir = tempfile::tempdir().unwrap();
    let p = common::pipeline(
        "rpicamsrc2 name=cam camera-name=sim:imx219 sim-scene=image \
         ! video/x-raw,width=320,height=240 ! fakesink name=sink",
    );
    let frames = count(&p.by_name("sink").unwrap());
    let bus = p.bus().unwrap();
    let mut out = common::Bus::default();
    p.set_state(gst::State::Playing).unwrap();
    common::collect(&bus, &mut out, Duration::from_millis(500));
    let cam = p.by_name("cam").unwrap();
    for (path, says) in bad_images(dir.path()) {
        let c = cam.clone();
        let v = path.clone();
        bounded(Duration::from_secs(10), move || {
            c.set_property("sim-image", v.as_str())
        });
        let before = frames.load(Ordering::Relaxed);
        let mut seen = common::Bus::default();
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            common::collect(&bus, &mut seen, Duration::from_millis(100));
        }
        let after = frames.load(Ordering::Relaxed);
        assert!(seen.errors.is_empty(), "{path}: {:?}", seen.errors);
        let w = seen.warnings.join("\n");
        assert!(w.contains(&path) && w.contains(says), "{path}: {w}");
        assert!(
            after > before + 5,
            "{path}: frames stopped: {before} -> {after}"
        );
    }
    // A good image decodes off the application's thread and is shown.
    let good = dir.path().join("good.png");
    image::RgbImage::from_pixel(64, 48, image::Rgb([200, 200, 200]))
        .save(&good)
        .unwrap();
    cam.set_property("sim-image", good.display().to_string());
    let mut seen = common::Bus::default();
    common::collect(&bus, &mut seen, Duration::from_millis(500));
    p.set_state(gst::State::Null).unwrap();
    assert!(
        seen.errors.is_empty() && seen.warnings.is_empty(),
        "{seen:?}"
    );
}
