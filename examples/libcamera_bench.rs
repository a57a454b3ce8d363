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
//!
//! `... --example libcamera_bench -- peer SOURCE CAMERA WIDTH HEIGHT FRAMES` measures one run of
//! one source element (`rpicamsrc2` or `libcamerasrc`) instead: see [`peer`].

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
    let ended = play(&pipeline, Duration::from_secs(120), None);
    let (t1, cpu1, thr1) = (Instant::now(), process_cpu_ns(), thread_cpu_ns());
    pipeline.set_state(gst::State::Null)?;
    ended?;
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
        let ended = play(&pipeline, Duration::from_secs(20), None);
        pipeline.set_state(gst::State::Null)?;
        ended?;
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

/// Frames left to the source before the peer measurement starts (negotiation, the camera's
/// start and its first requests).
const PEER_WARM_UP: u32 = 2;

/// `peer SOURCE CAMERA WIDTH HEIGHT FRAMES`: one run of `SOURCE camera-name=CAMERA !
/// video/x-raw,width=WIDTH,height=HEIGHT ! fakesink` in this process, where SOURCE is
/// `rpicamsrc2` or `libcamerasrc`, for the side by side of the VM tier (`scripts/vm.sh peers`,
/// docs/vm.md). Neither element is given `num-buffers` (libcamerasrc 0.4 has none): the run
/// stops itself after [`PEER_WARM_UP`] + FRAMES buffers. Prints one line,
/// `peer source=S camera=C caps=CAPS first_ms=X fps=Y cpu_ms=Z dmabuf=D/N copied=K`:
/// PLAYING (from NULL) to the first buffer at the sink in ms, frames/s and process CPU ms per
/// frame over the FRAMES after the warm-up, how many of the N buffers carried a dma-buf
/// (the camera's own memory, so not copied), and `frames-copied` of rpicamsrc2's
/// `statistics` (`-` for libcamerasrc, which has no counter). A crash of the element ends the
/// process; the caller counts those from the exit status.
fn peer(
    source: &str,
    camera: &str,
    width: u32,
    height: u32,
    frames: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make(source)
        .property("camera-name", camera)
        .build()?;
    let filter = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("width", width as i32)
                .field("height", height as i32)
                .build(),
        )
        .build()?;
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .build()?;
    pipeline.add_many([&src, &filter, &sink])?;
    gst::Element::link_many([&src, &filter, &sink])?;

    #[derive(Default)]
    struct Seen {
        count: u32,
        dmabuf: u32,
        first: Option<Instant>,
        start: Option<(Instant, u64)>,
        end: Option<(Instant, u64)>,
    }
    let seen = Arc::new(std::sync::Mutex::new(Seen::default()));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let s = seen.clone();
    let total = PEER_WARM_UP + frames;
    sink.static_pad("sink")
        .ok_or("fakesink has no sink pad")?
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let now = Instant::now();
            let mut g = s.lock().unwrap_or_else(|e| e.into_inner());
            if g.end.is_some() {
                return gst::PadProbeReturn::Ok;
            }
            g.first.get_or_insert(now);
            g.count += 1;
            if let Some(b) = info.buffer() {
                if b.n_memory() > 0
                    && b.peek_memory(0)
                        .is_memory_type::<gst_allocators::DmaBufMemory>()
                {
                    g.dmabuf += 1;
                }
            }
            if g.count == PEER_WARM_UP {
                g.start = Some((now, process_cpu_ns()));
            } else if g.count == total {
                g.end = Some((now, process_cpu_ns()));
                let _ = done_tx.send(());
            }
            gst::PadProbeReturn::Ok
        });
    let t0 = Instant::now();
    let timeout = Duration::from_secs(30 + 10 * u64::from(total));
    let failed = match play(&pipeline, timeout, Some(&done_rx)) {
        Ok(End::Done) => None,
        Ok(End::Eos) => Some(format!(
            "EOS after {} buffers",
            seen.lock().unwrap_or_else(|e| e.into_inner()).count
        )),
        Err(e) => Some(format!("fewer than {total} buffers: {e}")),
    };
    let caps = sink
        .static_pad("sink")
        .and_then(|p| p.current_caps())
        .map(|c| c.to_string().replace(' ', ""))
        .unwrap_or_else(|| "-".into());
    let copied = if source == "rpicamsrc2" {
        src.property::<gst::Structure>("statistics")
            .get::<u64>("frames-copied")
            .map(|c| c.to_string())
            .unwrap_or_else(|_| "-".into())
    } else {
        "-".into()
    };
    pipeline.set_state(gst::State::Null)?;
    if let Some(e) = failed {
        return Err(format!("{source} on {camera}: {e}").into());
    }
    let g = seen.lock().unwrap_or_else(|e| e.into_inner());
    let (Some(first), Some((t1, c1)), Some((t2, c2))) = (g.first, g.start, g.end) else {
        return Err(format!("{source} on {camera}: no measurement").into());
    };
    println!(
        "peer source={source} camera={} caps={caps} first_ms={:.1} fps={:.3} cpu_ms={:.3} dmabuf={}/{} copied={copied}",
        camera.replace(' ', "_"),
        (first - t0).as_secs_f64() * 1e3,
        f64::from(frames) / (t2 - t1).as_secs_f64(),
        c2.saturating_sub(c1) as f64 / 1e6 / f64::from(frames),
        g.dmabuf,
        g.count,
    );
    Ok(())
}

/// How a pipeline run by [`play`] ended.
enum End {
    Eos,
    /// The caller's `done` channel said so.
    Done,
}

/// Sets `pipeline` PLAYING and waits, at most `timeout`, for EOS, a message on `done` (when
/// given) or an error. The caller sets it to NULL, after reading what it needs from it. Err:
/// the error's message and debug string, or the timeout.
fn play(
    pipeline: &gst::Pipeline,
    timeout: Duration,
    done: Option<&std::sync::mpsc::Receiver<()>>,
) -> Result<End, String> {
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("PLAYING: {e}"))?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let deadline = Instant::now() + timeout;
    loop {
        if done.is_some_and(|d| d.try_recv().is_ok()) {
            return Ok(End::Done);
        }
        if Instant::now() > deadline {
            return Err(format!("not done within {timeout:?}"));
        }
        if let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(100),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        ) {
            return match msg.view() {
                gst::MessageView::Error(e) => Err(format!("{} ({:?})", e.error(), e.debug())),
                _ => Ok(End::Eos),
            };
        }
    }
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
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("peer") {
        let a: Vec<String> = args.skip(1).collect();
        let [source, camera, width, height, frames] = a.as_slice() else {
            return Err("usage: libcamera_bench peer SOURCE CAMERA WIDTH HEIGHT FRAMES".into());
        };
        return peer(
            source,
            camera,
            width.parse()?,
            height.parse()?,
            frames.parse()?,
        );
    }
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
