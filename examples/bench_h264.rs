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
//! and ratios against rpih264enc. The measuring code is shared with the benchmark suite
//! (`benches/suite/h264.rs`, row 5 of `cargo bench --bench suite`).

#[path = "../benches/suite/h264.rs"]
mod h264;

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
        let (caps, frames) = h264::capture(source, w, h, args.frames);
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
        for (name, desc) in &h264::encoders(bps, &args.extra) {
            let (mut fps, mut cpu) = (Vec::new(), Vec::new());
            let mut bitstream = Vec::new();
            for _ in 0..args.repeats {
                let (f, c, b) = h264::timed_encode(desc, &caps, &frames);
                fps.push(f);
                cpu.push(c);
                bitstream = b;
            }
            let (psnr, kbps) = h264::quality(&bitstream, &frames, w, h);
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
