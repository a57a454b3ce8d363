// SPDX-License-Identifier: MPL-2.0
//! Benchmark: rpih264enc (software backend) vs x264enc (ultrafast, zerolatency) vs openh264enc,
//! same input frames and same bitrate, at 1280x720 and 1920x1080.
//!
//! ```text
//! cargo run --release --example bench_h264 [-- --frames N --repeats R --source videotestsrc]
//! ```
//!
//! Frames come from the simulated IMX219 of rpicamsrc2 and from videotestsrc pattern=smpte
//! moving 3 pixels per frame (harder to encode), are held in memory, and are pushed through
//! `appsrc ! <encoder> ! appsink`, so the measurement is the encoder's. Reported per encoder: frames/s (wall clock), CPU ms per frame
//! (getrusage of the whole process: user + system, all threads), luma PSNR of the decoded
//! stream (avdec_h264) against the input, and the bitrate reached; medians over the repeats,
//! and ratios against rpih264enc.

use std::time::Instant;

use gst::prelude::*;
use gst_video::prelude::*;

struct Args {
    frames: usize,
    repeats: usize,
    source: String,
    extra: String,
}

fn parse_args() -> Args {
    let mut a = Args {
        frames: 90,
        repeats: 3,
        source: "both".into(),
        extra: String::new(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--frames" => a.frames = v.parse().unwrap_or(a.frames),
            "--repeats" => a.repeats = v.parse().unwrap_or(a.repeats),
            "--source" => a.source = v,
            "--rpih264enc-props" => a.extra = v,
            _ => {
                eprintln!("usage: bench_h264 [--frames N] [--repeats R] [--source both|rpicamsrc2|videotestsrc] [--rpih264enc-props \"threads=1 ...\"]");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    a
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills a caller-owned struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn pull_all(
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
fn packed(b: &gst::Buffer, info: &gst_video::VideoInfo) -> gst::Buffer {
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

fn capture(source: &str, w: u32, h: u32, n: usize) -> (gst::Caps, Vec<gst::Buffer>) {
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

fn push_through(desc: &str, caps: &gst::Caps, frames: &[gst::Buffer]) -> Vec<gst::Buffer> {
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

fn psnr_y(src: &[gst::Buffer], dec: &[gst::Buffer], w: usize, h: usize) -> f64 {
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
    sum / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Result {
    name: &'static str,
    fps: f64,
    cpu_ms: f64,
    psnr: f64,
    kbps: f64,
}

fn main() {
    gst::init().expect("GStreamer");
    gstrpicamsrc2::plugin_register_static().expect("plugin");
    let args = parse_args();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "bench_h264: {} frames, median of {} runs, {cores} cores, source {}",
        args.frames, args.repeats, args.source
    );
    let sources: Vec<&str> = match args.source.as_str() {
        "both" => vec!["rpicamsrc2", "videotestsrc"],
        s => vec![s],
    };
    for (source, (w, h)) in sources
        .iter()
        .flat_map(|s| [(*s, (1280u32, 720u32)), (*s, (1920, 1080))])
    {
        // The same bitrate for all three: rpih264enc's automatic one (6 Mbit/s at 1080p30,
        // scaled by pixels).
        let bps = gstrpicamsrc2::rpih264enc::level::auto_bitrate(w, h, 30.0) as u32;
        let (caps, frames) = capture(source, w, h, args.frames);
        let encoders: [(&'static str, String); 3] = [
            (
                "rpih264enc",
                format!("rpih264enc backend=software bitrate={bps} {}", args.extra),
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
        ];
        let what = if source == "videotestsrc" {
            "videotestsrc smpte bars moving 3 px/frame"
        } else {
            "rpicamsrc2 sim:imx219"
        };
        println!(
            "\n{w}x{h} {what}, {:.2} Mbit/s target, {} frames",
            f64::from(bps) / 1e6,
            frames.len()
        );
        println!(
            "{:<12} {:>8} {:>12} {:>9} {:>9}",
            "encoder", "fps", "CPU ms/frm", "PSNR-Y", "kbit/s"
        );
        let mut results = Vec::new();
        for (name, desc) in &encoders {
            let (mut fps, mut cpu) = (Vec::new(), Vec::new());
            let mut bitstream = Vec::new();
            for _ in 0..args.repeats {
                let (t0, c0) = (Instant::now(), cpu_seconds());
                bitstream = push_through(desc, &caps, &frames);
                let (dt, dc) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
                fps.push(frames.len() as f64 / dt);
                cpu.push(dc * 1000.0 / frames.len() as f64);
            }
            let bytes: usize = bitstream.iter().map(|b| b.size()).sum();
            let kbps = bytes as f64 * 8.0 / (frames.len() as f64 / 30.0) / 1000.0;
            let h264caps: gst::Caps = "video/x-h264,stream-format=byte-stream,alignment=au"
                .parse()
                .unwrap();
            let decoded = push_through(
                "h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=I420",
                &h264caps,
                &bitstream,
            );
            let psnr = psnr_y(&frames, &decoded, w as usize, h as usize);
            let r = Result {
                name,
                fps: median(fps),
                cpu_ms: median(cpu),
                psnr,
                kbps,
            };
            println!(
                "{:<12} {:>8.1} {:>12.2} {:>9.2} {:>9.0}",
                r.name, r.fps, r.cpu_ms, r.psnr, r.kbps
            );
            results.push(r);
        }
        let base = &results[0];
        for r in &results[1..] {
            println!(
                "  {} / rpih264enc: speed x{:.2}, CPU per frame x{:.2}, PSNR {:+.2} dB, bitrate x{:.2}",
                r.name,
                r.fps / base.fps,
                r.cpu_ms / base.cpu_ms,
                r.psnr - base.psnr,
                r.kbps / base.kbps
            );
        }
    }
}
