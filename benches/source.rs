// SPDX-License-Identifier: MPL-2.0
//! Source benchmark: rpicamsrc2 on the simulated imx219 into fakesink.
//!
//! For 1920x1080 at 30 fps and 640x480 at the highest imx219 rate (103.33 fps): delivered
//! frames/s, dropped frames, and CPU time per frame split into scene rendering (the simulated
//! sensor and ISP, measured on the capture thread) and everything else in the process (the
//! element's own work: wrapping, metadata, timestamps, pushing; plus GStreamer core and fakesink).
//! Medians over repeats. Run: `cargo bench --bench source` (RPICAMSRC2_BENCH_SECS sets each
//! run's length, default 4 s; RPICAMSRC2_BENCH_REPEATS the repeats, default 3).

use std::time::Instant;

use gst::prelude::*;

fn process_cpu_ns() -> u64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

struct Run {
    fps: f64,
    dropped: u64,
    cpu_per_frame_ms: f64,
    render_per_frame_ms: f64,
}

fn run(caps: &str, secs: f64, noise: bool) -> Run {
    run_with(caps, "", secs, noise).0
}

/// Runs main with `caps` and, when `lores` is not empty, a lores branch with those caps into a
/// fakesink named `l`. Returns the main run and (lores frames/s, lores dropped).
fn run_with(caps: &str, lores: &str, secs: f64, noise: bool) -> (Run, f64, u64) {
    let rate: f64 = caps
        .split("framerate=")
        .nth(1)
        .and_then(|f| {
            let (n, d) = f.split_once('/')?;
            Some(
                n.parse::<f64>().ok()?
                    / d.trim_end_matches(|c: char| !c.is_ascii_digit())
                        .parse::<f64>()
                        .ok()?,
            )
        })
        .unwrap_or(30.0);
    let n = (rate * secs).round() as u64;
    let branch = if lores.is_empty() {
        String::new()
    } else {
        format!(" src.lores ! {lores} ! fakesink name=l")
    };
    let p = gst::parse::launch(&format!(
        "rpicamsrc2 name=src camera-name=sim:imx219 sim-noise={noise} num-buffers={n} src.src ! {caps} ! fakesink{branch}"
    ))
    .expect("pipeline");
    let src = p
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("src")
        .unwrap();
    let bus = p.bus().unwrap();
    // Delivery is timed from the first frame to the last as they leave the source.
    // CPU is counted over the same span, so start-up (negotiation, scene textures) is excluded;
    // the render counter is sampled at the same points.
    type Mark = (Instant, u64, u64);
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new((None::<Mark>, None::<Mark>, 0u64)));
    let a = arrivals.clone();
    let src_weak = src.downgrade();
    src.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let render = src_weak
                .upgrade()
                .map(|s| {
                    s.property::<gst::Structure>("statistics")
                        .get::<u64>("render-cpu-ns")
                        .unwrap_or(0)
                })
                .unwrap_or(0);
            let mark = (Instant::now(), process_cpu_ns(), render);
            let mut a = a.lock().unwrap();
            if a.0.is_none() {
                a.0 = Some(mark);
            } else {
                a.2 += 1;
            }
            a.1 = Some(mark);
            gst::PadProbeReturn::Ok
        });
    p.set_state(gst::State::Playing).expect("playing");
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(secs as u64 * 3 + 10),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS");
    let (first, last, intervals) = *arrivals.lock().unwrap();
    let (Some(first), Some(last)) = (first, last) else {
        panic!("no frames");
    };
    let wall = (last.0 - first.0).as_secs_f64();
    let cpu = last.1 - first.1;
    let render = last.2 - first.2;
    if let gst::MessageView::Error(e) = msg.view() {
        let _ = p.set_state(gst::State::Null);
        panic!("{} ({:?})", e.error(), e.debug());
    }
    let stats: gst::Structure = src.property("statistics");
    p.set_state(gst::State::Null).unwrap();
    let lores_fps = stats.get::<u64>("lores-frames-pushed").unwrap_or(0) as f64 / wall.max(1e-9);
    let lores_dropped = stats.get::<u64>("lores-frames-dropped").unwrap_or(0);
    let n = intervals.max(1) as f64;
    (
        Run {
            fps: n / wall,
            dropped: stats.get::<u64>("frames-dropped").unwrap_or(0),
            cpu_per_frame_ms: cpu as f64 / n / 1e6,
            render_per_frame_ms: render as f64 / n / 1e6,
        },
        lores_fps,
        lores_dropped,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // `cargo test --all-targets` runs this target without `--bench`: building it is the test.
    if !std::env::args().any(|a| a == "--bench") {
        println!("source benchmark: built; run it with `cargo bench --bench source`");
        return;
    }
    gst::init().unwrap();
    gstrpicamsrc2::plugin_register_static().unwrap();
    let secs: f64 = std::env::var("RPICAMSRC2_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    let repeats: usize = std::env::var("RPICAMSRC2_BENCH_REPEATS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    println!(
        "rpicamsrc2 source benchmark: sim:imx219 -> fakesink, {secs} s runs, median of {repeats}"
    );
    println!(
        "| case | noise | delivered fps | dropped | CPU/frame ms | render ms | element+GStreamer ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    // The highest imx219 rate: its 640x480 mode's maximum, exactly as the caps offer it.
    let vga = gstrpicamsrc2::camera::sensor::imx219().modes[0].clone();
    let (n, d) = vga.max_fps_fraction();
    let vga_caps = format!("video/x-raw,format=NV12,width=640,height=480,framerate={n}/{d}");
    let vga_name = format!("640x480@{:.2}", vga.max_fps());
    for (name, caps) in [
        (
            "1920x1080@30",
            "video/x-raw,format=NV12,width=1920,height=1080,framerate=30/1",
        ),
        (vga_name.as_str(), vga_caps.as_str()),
    ] {
        for noise in [true, false] {
            let runs: Vec<Run> = (0..repeats).map(|_| run(caps, secs, noise)).collect();
            let fps = median(runs.iter().map(|r| r.fps).collect());
            let cpu = median(runs.iter().map(|r| r.cpu_per_frame_ms).collect());
            let render = median(runs.iter().map(|r| r.render_per_frame_ms).collect());
            let dropped: u64 = runs.iter().map(|r| r.dropped).max().unwrap_or(0);
            println!(
                "| {name} | {noise} | {fps:.2} | {dropped} | {cpu:.3} | {render:.3} | {:.3} |",
                (cpu - render).max(0.0)
            );
        }
    }
    println!();
    println!("Dual stream: main 1920x1080 at 30 fps + lores 640x360 (CPU per camera frame, both streams)");
    println!("| lores rate | main fps | main dropped | lores fps | lores dropped | CPU/frame ms | render ms | element+GStreamer ms |");
    println!("|---|---|---|---|---|---|---|---|");
    for lrate in ["30/1", "5/1"] {
        let runs: Vec<(Run, f64, u64)> = (0..repeats)
            .map(|_| {
                run_with(
                    "video/x-raw,format=NV12,width=1920,height=1080,framerate=30/1",
                    &format!("video/x-raw,format=NV12,width=640,height=360,framerate={lrate}"),
                    secs,
                    true,
                )
            })
            .collect();
        let fps = median(runs.iter().map(|r| r.0.fps).collect());
        let cpu = median(runs.iter().map(|r| r.0.cpu_per_frame_ms).collect());
        let render = median(runs.iter().map(|r| r.0.render_per_frame_ms).collect());
        let lfps = median(runs.iter().map(|r| r.1).collect());
        let dropped = runs.iter().map(|r| r.0.dropped).max().unwrap_or(0);
        let ldropped = runs.iter().map(|r| r.2).max().unwrap_or(0);
        println!(
            "| {lrate} | {fps:.2} | {dropped} | {lfps:.2} | {ldropped} | {cpu:.3} | {render:.3} | {:.3} |",
            (cpu - render).max(0.0)
        );
    }
}
