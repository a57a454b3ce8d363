// SPDX-License-Identifier: MPL-2.0
//! Throughput and CPU per frame through the libcamera backend, and through the element.
//!
//! `cargo run --release --features libcamera --example libcamera_bench -- [FRAMES] [CAMERA]`
//! (inside the trixie root: `scripts/trixie-root.sh bench`). Captures FRAMES frames (default
//! 600) at 640x480 and at 1920x1080 NV12 as fast as the camera delivers them (libcamera's
//! virtual camera is not paced to a frame rate), first through the `CameraBackend` trait
//! (returning every buffer at once), then through `rpicamsrc2 ! fakesink`, and prints frames/s
//! and CPU time per frame for the whole process and per thread. On the virtual camera the
//! process CPU includes libcamera drawing the test pattern (the "sensor"), shown per thread.
//! Last, PLAYING to the first buffer of `rpicamsrc2 ! capsfilter ! fakesink` at 1920x1080 NV12
//! 30/1 from a NULL pipeline (the element opens the camera, negotiates, configures and starts
//! it), [`FIRST_BUFFER_RUNS`] times: the same measure as the benchmark suite's row 6 on the
//! simulated camera.

use std::{collections::BTreeMap, fs, sync::Arc, time::Duration, time::Instant};

use gst::prelude::*;
use gstrpicamsrc2::camera::{
    list_cameras, open_camera, CameraBackend, CameraConfiguration, ConfigStatus, ControlList,
    PixelFormat, Size, StreamConfig, StreamRole,
};

/// CPU time of each thread of this process so far, in ns, by thread name.
fn thread_cpu_ns() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let p = task.path();
        let name = fs::read_to_string(p.join("comm"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let ns = fs::read_to_string(p.join("schedstat"))
            .ok()
            .and_then(|s| {
                s.split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0);
        *out.entry(name).or_insert(0) += ns;
    }
    out
}

/// CPU time (user + system) of the whole process so far, in ns.
fn process_cpu_ns() -> u64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `struct rusage` into the pointer it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) } != 0 {
        return 0;
    }
    // SAFETY: initialised by the successful call above.
    let ru = unsafe { ru.assume_init() };
    let ns = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1000;
    ns(ru.ru_utime) + ns(ru.ru_stime)
}

fn run(
    cam: &Arc<dyn CameraBackend>,
    width: u32,
    height: u32,
    frames: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = CameraConfiguration {
        streams: vec![StreamConfig::new(
            StreamRole::Main,
            Size::new(width, height),
            PixelFormat::Nv12,
        )],
        framerate: Some((30, 1)),
        ..Default::default()
    };
    let status = cam.validate(&mut config)?;
    if status != ConfigStatus::Valid {
        return Err(format!("{width}x{height} NV12: {status:?}").into());
    }
    cam.configure(&config)?;
    let buffers = config.streams[0].buffer_count;
    cam.start(&ControlList::new())?;
    // Warm up: the first frames include page faults of fresh buffers.
    for _ in 0..buffers * 2 {
        cam.next_frame(Duration::from_secs(2))?
            .ok_or("no frame during warm-up")?;
    }
    let cpu0 = process_cpu_ns();
    let thr0 = thread_cpu_ns();
    let t0 = Instant::now();
    let mut last_seq = None;
    let mut bytes = 0usize;
    for _ in 0..frames {
        let frame = cam
            .next_frame(Duration::from_secs(2))?
            .ok_or("timeout waiting for a frame")?;
        let seq = frame.metadata.sequence;
        if last_seq.is_some_and(|last| seq <= last) {
            return Err(format!("sequence went from {last_seq:?} to {seq}").into());
        }
        last_seq = Some(seq);
        bytes += frame.buffers.first().map_or(0, |(_, b)| b.as_ref().len());
    }
    let wall = t0.elapsed();
    let cpu = process_cpu_ns() - cpu0;
    let thr1 = thread_cpu_ns();
    cam.stop();
    report(
        &format!("backend {width}x{height} NV12"),
        frames,
        wall,
        cpu,
        &thr0,
        &thr1,
    );
    println!(
        "    {buffers} buffers, {} bytes/frame, no copies",
        bytes / frames as usize
    );
    Ok(())
}

/// The same through the element: `rpicamsrc2 ! capsfilter ! fakesink`.
fn run_element(
    id: &str,
    width: u32,
    height: u32,
    frames: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    let desc = format!(
        "rpicamsrc2 camera-name={id} num-buffers={} ! video/x-raw,format=NV12,width={width},height={height} ! \
         fakesink name=sink sync=false",
        frames + 30
    );
    let pipeline = gst::parse::launch(&desc)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let sink = pipeline.by_name("sink").ok_or("no sink")?;
    sink.set_property("signal-handoffs", true);
    let counted = Arc::new(std::sync::Mutex::new((
        0u32,
        None::<(Instant, u64, BTreeMap<String, u64>)>,
    )));
    let c = counted.clone();
    sink.connect("handoff", false, move |_| {
        let mut g = c.lock().unwrap_or_else(|e| e.into_inner());
        g.0 += 1;
        if g.0 == 30 {
            g.1 = Some((Instant::now(), process_cpu_ns(), thread_cpu_ns()));
        }
        None
    });
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().ok_or("no bus")?;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => {
                return Err(format!("{} ({:?})", e.error(), e.debug()).into())
            }
            _ => {}
        }
    }
    let (t1, cpu1, thr1) = (Instant::now(), process_cpu_ns(), thread_cpu_ns());
    pipeline.set_state(gst::State::Null)?;
    let g = counted.lock().unwrap_or_else(|e| e.into_inner());
    let (t0, cpu0, thr0) = g.1.clone().ok_or("fewer than 30 frames")?;
    let n = g.0 - 30;
    report(
        &format!("element {width}x{height} NV12"),
        n,
        t1 - t0,
        cpu1 - cpu0,
        &thr0,
        &thr1,
    );
    Ok(())
}

/// How many times PLAYING to first buffer is measured per run.
const FIRST_BUFFER_RUNS: u32 = 5;

/// PLAYING to the first buffer at `fakesink`: prints
/// `first buffer WxH NV12: wall X ms, CPU Y ms (process)` per run.
fn first_buffer(id: &str, width: u32, height: u32) -> Result<(), Box<dyn std::error::Error>> {
    for _ in 0..FIRST_BUFFER_RUNS {
        let desc = format!(
            "rpicamsrc2 camera-name={id} num-buffers=3 ! \
             video/x-raw,format=NV12,width={width},height={height},framerate=30/1 ! \
             fakesink name=sink sync=false"
        );
        let pipeline = gst::parse::launch(&desc)?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "not a pipeline")?;
        let sink = pipeline.by_name("sink").ok_or("no sink")?;
        let first = Arc::new(std::sync::Mutex::new(None::<(Instant, u64)>));
        let f = first.clone();
        sink.static_pad("sink")
            .ok_or("fakesink has no sink pad")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                f.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert_with(|| (Instant::now(), process_cpu_ns()));
                gst::PadProbeReturn::Ok
            });
        let cpu0 = process_cpu_ns();
        let t0 = Instant::now();
        pipeline.set_state(gst::State::Playing)?;
        let bus = pipeline.bus().ok_or("no bus")?;
        let mut failed = None;
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(20)) {
            match msg.view() {
                gst::MessageView::Eos(..) => break,
                gst::MessageView::Error(e) => {
                    failed = Some(format!("{} ({:?})", e.error(), e.debug()));
                    break;
                }
                _ => {}
            }
        }
        pipeline.set_state(gst::State::Null)?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        let (t, cpu) = first
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ok_or("no buffer within 20 s")?;
        println!(
            "first buffer {width}x{height} NV12: wall {:.1} ms, CPU {:.1} ms (process)",
            (t - t0).as_secs_f64() * 1e3,
            cpu.saturating_sub(cpu0) as f64 / 1e6
        );
    }
    Ok(())
}

fn report(
    what: &str,
    frames: u32,
    wall: Duration,
    cpu: u64,
    thr0: &BTreeMap<String, u64>,
    thr1: &BTreeMap<String, u64>,
) {
    let fps = f64::from(frames) / wall.as_secs_f64();
    println!(
        "{what}: {frames} frames in {:.3} s = {fps:.1} frames/s; CPU {:.3} ms/frame (process, {:.0}% of one core)",
        wall.as_secs_f64(),
        cpu as f64 / 1e6 / f64::from(frames),
        cpu as f64 / 1e9 / wall.as_secs_f64() * 100.0,
    );
    for (name, ns) in thr1 {
        let d = ns.saturating_sub(*thr0.get(name).unwrap_or(&0));
        if d as f64 / 1e6 / f64::from(frames) >= 0.001 {
            println!(
                "    thread {name:<24} {:.3} ms/frame",
                d as f64 / 1e6 / f64::from(frames)
            );
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("LIBCAMERA_LOG_LEVELS").is_none() {
        std::env::set_var("LIBCAMERA_LOG_LEVELS", "*:ERROR");
    }
    gst::init()?;
    gstrpicamsrc2::plugin_register_static()?;
    let mut args = std::env::args().skip(1);
    let frames: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(600);
    let cameras = list_cameras();
    let id = match args.next() {
        Some(id) => id,
        None => cameras
            .iter()
            .find(|c| !c.simulated)
            .ok_or("libcamera lists no camera")?
            .id
            .clone(),
    };
    println!(
        "cameras: {:?}; using {id}",
        cameras.iter().map(|c| c.id.as_str()).collect::<Vec<_>>()
    );
    {
        let cam = open_camera(Some(&id))?;
        run(&cam, 640, 480, frames)?;
        run(&cam, 1920, 1080, frames)?;
    }
    run_element(&id, 640, 480, frames)?;
    run_element(&id, 1920, 1080, frames)?;
    first_buffer(&id, 1920, 1080)?;
    Ok(())
}
