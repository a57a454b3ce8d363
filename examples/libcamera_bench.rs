// SPDX-License-Identifier: MPL-2.0
//! Throughput and CPU per frame through the libcamera backend.
//!
//! `cargo run --release --features libcamera --example libcamera_bench -- [FRAMES] [CAMERA-ID]`
//! (run inside the trixie root: `scripts/trixie-root.sh bench`). Captures FRAMES frames
//! (default 600) at 640x480 and at 1920x1080 NV12 as fast as the camera delivers them
//! (libcamera's virtual camera is not paced to a frame rate), returning every buffer at once,
//! and prints frames/s and CPU time per frame for the whole process and per thread.

use std::{collections::BTreeMap, fs, time::Duration, time::Instant};

use gstrpicamsrc2::camera::libcamera::{list_cameras, ConfigSpec, LcCamera, StreamSpec};
use libcamera::{geometry::Size, pixel_format::PixelFormat, stream::StreamRole};

/// CPU time of each thread of this process so far, in ns, by thread name.
fn thread_cpu_ns() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = fs::read_dir("/proc/self/task") else { return out };
    for task in tasks.flatten() {
        let p = task.path();
        let name = fs::read_to_string(p.join("comm")).unwrap_or_default().trim().to_string();
        let ns = fs::read_to_string(p.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
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

fn run(cam: &LcCamera, width: u32, height: u32, frames: u32) -> Result<(), Box<dyn std::error::Error>> {
    let nv12 = PixelFormat::parse("NV12").ok_or("libcamera does not know NV12")?;
    let spec = ConfigSpec {
        streams: vec![StreamSpec {
            role: StreamRole::VideoRecording,
            pixel_format: Some(nv12),
            size: Some(Size { width, height }),
            color_space: None,
            buffer_count: None,
        }],
        sensor: None,
    };
    let configured = cam.configure(&spec)?;
    cam.start(Vec::new())?;
    // Warm up: the first frames include page faults of fresh buffers.
    for _ in 0..configured.requests * 2 {
        cam.next_frame(Duration::from_secs(2))?.ok_or("no frame during warm-up")?;
    }
    let cpu0 = process_cpu_ns();
    let thr0 = thread_cpu_ns();
    let t0 = Instant::now();
    let mut last_seq = None;
    let mut bytes = 0usize;
    for _ in 0..frames {
        let frame = cam.next_frame(Duration::from_secs(2))?.ok_or("timeout waiting for a frame")?;
        if let Some(last) = last_seq {
            if frame.sequence <= last {
                return Err(format!("sequence went from {last} to {}", frame.sequence).into());
            }
        }
        last_seq = Some(frame.sequence);
        bytes += frame.buffers.first().map_or(0, |b| b.data().len());
    }
    let wall = t0.elapsed();
    let cpu = process_cpu_ns() - cpu0;
    let thr1 = thread_cpu_ns();
    cam.stop();
    let fps = f64::from(frames) / wall.as_secs_f64();
    println!(
        "{width}x{height} NV12: {frames} frames in {:.3} s = {fps:.1} frames/s; CPU {:.3} ms/frame \
         (process, {:.0}% of one core); buffers: {:?}, {} in flight, {} bytes/frame",
        wall.as_secs_f64(),
        cpu as f64 / 1e6 / f64::from(frames),
        cpu as f64 / 1e9 / wall.as_secs_f64() * 100.0,
        configured.kind,
        configured.requests,
        bytes / frames as usize,
    );
    for (name, ns) in &thr1 {
        let d = ns.saturating_sub(*thr0.get(name).unwrap_or(&0));
        if d > 0 {
            println!("    thread {name:<24} {:.3} ms/frame", d as f64 / 1e6 / f64::from(frames));
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let frames: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(600);
    let cameras = list_cameras()?;
    let id = match args.next() {
        Some(id) => id,
        None => cameras.first().ok_or("libcamera lists no camera")?.id.clone(),
    };
    println!("libcamera cameras: {cameras:?}; using {id}");
    let cam = LcCamera::open(&id)?;
    run(&cam, 640, 480, frames)?;
    run(&cam, 1920, 1080, frames)?;
    Ok(())
}
