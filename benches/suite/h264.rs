// SPDX-License-Identifier: MPL-2.0
//! Encoder measurement shared by `examples/bench_h264.rs` and the benchmark suite (row 5; the
//! in-memory frames also feed row 4's JPEG throughput).
//!
//! Frames come from the simulated IMX219 of rpicamsrc2 (or videotestsrc), are copied into packed
//! I420 buffers held in memory, and are pushed through `appsrc ! <encoder> ! appsink`, so what
//! is timed is the encoder alone. CPU is the whole process's (user + system, all threads) from
//! getrusage; PSNR is luma PSNR of the stream decoded by avdec_h264 against the input.
//!
//! Included with `#[path]` from both targets, so it depends only on the crates both link.

#![allow(dead_code)]

use std::time::Instant;

use gst::prelude::*;
use gst_video::prelude::*;

/// CPU time (user + system, all threads) of this process so far, in seconds.
pub fn cpu_seconds() -> f64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the caller-owned struct; on failure it stays zeroed.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
    // SAFETY: zero-initialised above, and possibly filled by getrusage.
    let ru = unsafe { ru.assume_init() };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Plays `p` to EOS, collecting every buffer its appsink named `sink` receives (repacked into
/// a tight I420 copy when `repack` is given, so pooled camera buffers go back at once).
pub fn pull_all(
    p: &gst::Element,
    sink: &str,
    repack: Option<&gst_video::VideoInfo>,
) -> Vec<gst::Buffer> {
    let bin = p.clone().dynamic_cast::<gst::Bin>().unwrap();
    let sink = bin
        .by_name(sink)
        .unwrap()
        .dynamic_cast::<gst_app::AppSink>()
        .unwrap();
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let o = out.clone();
    let repack = repack.cloned();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(b) = sample.buffer_owned() {
                    let b = match &repack {
                        Some(info) => packed(&b, info),
                        None => b,
                    };
                    o.lock().unwrap().push(b);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    p.set_state(gst::State::Playing).expect("pipeline plays");
    let bus = p.bus().unwrap();
    for m in bus.iter_timed(gst::ClockTime::NONE) {
        match m.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("pipeline error: {} {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    p.set_state(gst::State::Null).unwrap();
    let v = std::mem::take(&mut *out.lock().unwrap());
    v
}

/// Copies a (possibly padded) I420 frame into a packed one.
pub fn packed(b: &gst::Buffer, info: &gst_video::VideoInfo) -> gst::Buffer {
    let f =
        gst_video::VideoFrameRef::from_buffer_ref_readable(b.as_ref(), info).expect("map frame");
    let (w, h) = (info.width() as usize, info.height() as usize);
    let mut out = Vec::with_capacity(w * h * 3 / 2);
    for (plane, pw, ph) in [(0u32, w, h), (1, w / 2, h / 2), (2, w / 2, h / 2)] {
        let stride = f.plane_stride()[plane as usize] as usize;
        let data = f.plane_data(plane).expect("plane");
        for row in 0..ph {
            out.extend_from_slice(&data[row * stride..row * stride + pw]);
        }
    }
    let mut nb = gst::Buffer::from_mut_slice(out);
    nb.get_mut().unwrap().set_pts(b.pts());
    nb
}

/// `n` packed I420 frames of `w`x`h` at 30 fps from `source` (`rpicamsrc2`: the simulated
/// IMX219's moving scene; `videotestsrc`: SMPTE bars moving 3 px a frame), and their caps.
pub fn capture(source: &str, w: u32, h: u32, n: usize) -> (gst::Caps, Vec<gst::Buffer>) {
    let src = if source == "videotestsrc" {
        "videotestsrc pattern=smpte horizontal-speed=3".to_string()
    } else {
        "rpicamsrc2 camera-name=sim:imx219".to_string()
    };
    let caps = format!("video/x-raw,format=I420,width={w},height={h},framerate=30/1");
    let p = gst::parse::launch(&format!(
        "{src} num-buffers={n} ! {caps} ! queue ! appsink name=s sync=false"
    ))
    .expect("capture pipeline");
    let caps: gst::Caps = caps.parse().unwrap();
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    // Camera buffers come from a fixed pool: copy each into a packed I420 buffer at once.
    let frames = pull_all(&p, "s", Some(&info));
    assert_eq!(frames.len(), n, "captured frames");
    (caps, frames)
}

/// Pushes `frames` (timestamped at 30 fps) through `appsrc ! desc ! appsink` as fast as the
/// pipeline takes them and returns what the appsink received.
pub fn push_through(desc: &str, caps: &gst::Caps, frames: &[gst::Buffer]) -> Vec<gst::Buffer> {
    let p = gst::parse::launch(&format!(
        "appsrc name=src format=time ! {desc} ! appsink name=s sync=false"
    ))
    .expect("pipeline");
    let bin = p.clone().dynamic_cast::<gst::Bin>().unwrap();
    let src = bin
        .by_name("src")
        .unwrap()
        .dynamic_cast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(caps));
    src.set_max_bytes(0);
    for (i, f) in frames.iter().enumerate() {
        let mut b = f.copy();
        {
            let b = b.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_nseconds(i as u64 * 1_000_000_000 / 30));
            b.set_duration(gst::ClockTime::from_nseconds(1_000_000_000 / 30));
        }
        src.push_buffer(b).expect("push");
    }
    src.end_of_stream().expect("eos");
    pull_all(&p, "s", None)
}

/// Mean luma PSNR (dB) of `dec` against `src` (packed I420, `w`x`h`); 100 for identical frames.
pub fn psnr_y(src: &[gst::Buffer], dec: &[gst::Buffer], w: usize, h: usize) -> f64 {
    let n = src.len().min(dec.len());
    let mut sum = 0.0;
    for (a, b) in src.iter().zip(dec).take(n) {
        let (a, b) = (a.map_readable().unwrap(), b.map_readable().unwrap());
        let mse = a[..w * h]
            .iter()
            .zip(&b[..w * h])
            .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
            .sum::<f64>()
            / (w * h) as f64;
        sum += if mse == 0.0 {
            100.0
        } else {
            10.0 * (65025.0 / mse).log10()
        };
    }
    sum / n.max(1) as f64
}

/// The encoders compared, at the same bitrate `bps` and key-frame interval (60), with
/// `extra` properties for rpih264enc: rpih264enc with its automatic engine (the fastest
/// software one installed: x264 where x264enc is), rpih264enc's OpenH264 engine, x264enc
/// ultrafast/zerolatency and openh264enc. The first is the reference of the ratios.
pub fn encoders(bps: u32, extra: &str) -> [(&'static str, String); 4] {
    [
        ("rpih264enc", format!("rpih264enc bitrate={bps} {extra}")),
        (
            "rpih264enc backend=openh264",
            format!("rpih264enc backend=openh264 bitrate={bps} {extra}"),
        ),
        (
            "x264enc",
            format!(
                "x264enc speed-preset=ultrafast tune=zerolatency key-int-max=60 bitrate={}",
                bps / 1000
            ),
        ),
        (
            "openh264enc",
            format!("openh264enc gop-size=60 bitrate={bps}"),
        ),
    ]
}

/// The speed-quality curve's points at `bps`: (series, operating point, pipeline element).
/// rpih264enc's `speed-preset` on its automatic engine and on OpenH264, x264enc's presets
/// (tune=zerolatency, as the engine uses) and openh264enc's complexity.
pub fn curve(bps: u32) -> Vec<(&'static str, String, String)> {
    let presets = ["ultrafast", "superfast", "veryfast", "faster"];
    let mut v = Vec::new();
    for p in presets {
        v.push((
            "rpih264enc",
            format!("speed-preset={p}"),
            format!("rpih264enc bitrate={bps} speed-preset={p}"),
        ));
    }
    for p in ["ultrafast", "veryfast", "fast"] {
        v.push((
            "rpih264enc backend=openh264",
            format!("speed-preset={p}"),
            format!("rpih264enc backend=openh264 bitrate={bps} speed-preset={p}"),
        ));
    }
    for p in presets {
        v.push((
            "x264enc",
            format!("speed-preset={p}"),
            format!(
                "x264enc speed-preset={p} tune=zerolatency key-int-max=60 bitrate={}",
                bps / 1000
            ),
        ));
    }
    for c in ["low", "medium", "high"] {
        v.push((
            "openh264enc",
            format!("complexity={c}"),
            format!("openh264enc gop-size=60 bitrate={bps} complexity={c}"),
        ));
    }
    v
}

/// One timed encode: frames/s (wall clock) and process CPU ms per frame, and the bitstream.
pub fn timed_encode(
    desc: &str,
    caps: &gst::Caps,
    frames: &[gst::Buffer],
) -> (f64, f64, Vec<gst::Buffer>) {
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let bitstream = push_through(desc, caps, frames);
    let (dt, dc) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    (
        frames.len() as f64 / dt,
        dc * 1000.0 / frames.len() as f64,
        bitstream,
    )
}

/// Quality and size of a bitstream: (luma PSNR dB of the decoded stream against `frames`,
/// kbit/s at 30 fps).
pub fn quality(bitstream: &[gst::Buffer], frames: &[gst::Buffer], w: u32, h: u32) -> (f64, f64) {
    let bytes: usize = bitstream.iter().map(|b| b.size()).sum();
    let kbps = bytes as f64 * 8.0 / (frames.len() as f64 / 30.0) / 1000.0;
    let h264caps: gst::Caps = "video/x-h264,stream-format=byte-stream,alignment=au"
        .parse()
        .unwrap();
    let decoded = push_through(
        "h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420",
        &h264caps,
        bitstream,
    );
    (psnr_y(frames, &decoded, w as usize, h as usize), kbps)
}
