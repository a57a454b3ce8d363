// SPDX-License-Identifier: MPL-2.0
//! Memory: the main job's recording pipeline (rpicamsrc2 at 1920x1080 30 fps, default scene,
//! rpih264enc, h264parse, mp4mux, filesink) run by `gst-launch-1.0 -e` in a child process with
//! GST_PLUGIN_PATH pointing at the plugin this build made, stopped by SIGINT after its duration
//! (so it ends on time even when the machine cannot keep up; the frames it recorded say how
//! well it kept up). VmRSS/VmHWM and the child's CPU time are sampled from /proc/PID every
//! second: peak (VmHWM), RSS once settled and at the end, and the least-squares slope over the
//! settled part (a leak shows as a steady growth). A peer pipeline (videotestsrc is-live +
//! x264enc ultrafast/zerolatency, same caps and muxer) can run at the same time, and so can the
//! source-side pair ([`source_job`]): rpicamsrc2 and videotestsrc each into the same x264enc
//! recording, which isolates what the source costs from what the encoder costs.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../tests/common/child.rs"]
mod child;
pub use child::plugin_dir;

/// The main job's recording pipeline into `out` (runs until interrupted).
pub fn main_job(out: &Path) -> String {
    format!(
        "rpicamsrc2 ! video/x-raw,width=1920,height=1080,framerate=30/1 \
         ! rpih264enc bitrate=8000000 iperiod=30 ! h264parse ! mp4mux ! filesink location={}",
        out.display()
    )
}

/// The peer: the same recording from videotestsrc with x264enc.
pub fn peer_job(out: &Path) -> String {
    format!(
        "{PEER_SOURCE} ! video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 \
         ! x264enc bitrate=8000 key-int-max=30 speed-preset=ultrafast tune=zerolatency \
         ! h264parse ! mp4mux ! filesink location={}",
        out.display()
    )
}

/// The peer's source (what [`peer_job`] records from).
pub const PEER_SOURCE: &str = "videotestsrc is-live=true pattern=smpte horizontal-speed=3";

/// The source-side comparison: `source` at 1920x1080 NV12 30 fps into the peer's encoder and
/// muxer (x264enc ultrafast/zerolatency, h264parse, mp4mux), so two runs differ only in the
/// source.
pub fn source_job(source: &str, out: &Path) -> String {
    format!(
        "{source} ! video/x-raw,format=NV12,width=1920,height=1080,framerate=30/1 \
         ! x264enc bitrate=8000 key-int-max=30 speed-preset=ultrafast tune=zerolatency \
         ! h264parse ! mp4mux ! filesink location={}",
        out.display()
    )
}

/// Builds the private registry the children share (`tmp/registry.bin`, with `plugin_dir` on
/// GST_PLUGIN_PATH) with one `gst-inspect-1.0 rpicamsrc2`, so the children started together
/// do not each scan every plugin at once (which on a busy machine delays their pipelines past
/// the settle point of a short run).
///
/// Errors: gst-inspect-1.0 cannot run, fails, or takes more than 2 minutes.
pub fn warm_registry(plugin_dir: &Path, tmp: &Path) -> Result<(), String> {
    let (code, _, err) = child::run_limited(
        Command::new("gst-inspect-1.0")
            .arg("rpicamsrc2")
            .env("GST_PLUGIN_PATH", plugin_dir)
            .env("GST_REGISTRY", tmp.join("registry.bin")),
        Duration::from_secs(120),
    )?;
    match code {
        Some(0) => Ok(()),
        _ => Err(format!(
            "gst-inspect-1.0 rpicamsrc2 failed ({code:?}): {err}"
        )),
    }
}

/// One sample: (seconds since start, VmRSS kB, VmHWM kB, CPU seconds of the child so far).
type Sample = (f64, u64, u64, f64);

/// A running child, sampled every second by a thread of its own from the moment it starts
/// (so sampling goes on while the suite runs other rows), and sent SIGINT after its duration
/// (`gst-launch-1.0 -e` then sends EOS and the muxer finishes the file).
pub struct Sampler {
    child: Child,
    /// The samples, and when the child was seen gone (seconds since start).
    sampler: Option<std::thread::JoinHandle<(Vec<Sample>, f64)>>,
    started: Instant,
    pub out: PathBuf,
}

impl Drop for Sampler {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn status_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime of `pid`, seconds.
fn cpu_seconds_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some((utime + stime) / tck)
}

impl Sampler {
    /// Starts `gst-launch-1.0 -e desc` with the plugin directory and a private registry, and
    /// its sampling thread; after `secs` the child gets SIGINT.
    pub fn start(
        desc: &str,
        plugin_dir: &Path,
        tmp: &Path,
        out: PathBuf,
        secs: f64,
    ) -> Result<Self, String> {
        let child = Command::new("gst-launch-1.0")
            .arg("-e")
            .args(desc.split_whitespace())
            .env("GST_PLUGIN_PATH", plugin_dir)
            .env("GST_REGISTRY", tmp.join("registry.bin"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run gst-launch-1.0: {e}"))?;
        let started = Instant::now();
        let pid = child.id();
        let sampler = std::thread::spawn(move || {
            let mut samples = Vec::new();
            let mut interrupted = false;
            while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                // An exited child not yet reaped has no VmRSS.
                let (Some(rss), Some(hwm)) =
                    (status_kb(&status, "VmRSS:"), status_kb(&status, "VmHWM:"))
                else {
                    break;
                };
                let t = started.elapsed().as_secs_f64();
                samples.push((t, rss, hwm, cpu_seconds_of(pid).unwrap_or(0.0)));
                if !interrupted && t >= secs {
                    // SAFETY: kill has no memory-safety preconditions; pid is our child's.
                    unsafe { libc::kill(pid as i32, libc::SIGINT) };
                    interrupted = true;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            (samples, started.elapsed().as_secs_f64())
        });
        Ok(Self {
            child,
            sampler: Some(sampler),
            started,
            out,
        })
    }

    /// Waits for the child (at most `timeout` from its start) and its samples. The wall time
    /// is when the sampling thread saw the child gone (within a second), not when this is
    /// called.
    pub fn finish(mut self, timeout: Duration) -> Result<MemResult, String> {
        let deadline = self.started + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() > deadline => {
                    return Err(format!("still running after {timeout:?}"));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(200)),
                Err(e) => return Err(e.to_string()),
            }
        };
        let (samples, wall) = self
            .sampler
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_else(|| (Vec::new(), self.started.elapsed().as_secs_f64()));
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        if !status.success() {
            return Err(format!("gst-launch-1.0 failed ({status}): {err}"));
        }
        Ok(MemResult::from_samples(&samples, wall))
    }
}

/// What the sampling showed.
#[derive(Debug, Clone, Default)]
pub struct MemResult {
    pub wall_s: f64,
    pub peak_kb: u64,
    /// RSS at the first sample at or after `settle_s`.
    pub settled_kb: u64,
    pub settle_s: f64,
    pub end_kb: u64,
    pub end_s: f64,
    /// Least-squares slope of RSS over the samples after settling, kB per minute.
    pub slope_kb_per_min: f64,
    pub samples: usize,
    /// CPU seconds the child used (last sample).
    pub cpu_s: f64,
}

impl MemResult {
    fn from_samples(s: &[Sample], wall_s: f64) -> Self {
        let mut r = MemResult {
            wall_s,
            samples: s.len(),
            ..Default::default()
        };
        let Some(last) = s.last() else { return r };
        r.peak_kb = s.iter().map(|x| x.2).max().unwrap_or(0);
        r.end_kb = last.1;
        r.end_s = last.0;
        r.cpu_s = last.3;
        // Settled: after a sixth of a long run (10 s of 60), a third of a short one (5 s of
        // 15): start-up allocations (encoder, muxer, camera buffers) take a few seconds on a
        // busy machine.
        let settle = if last.0 >= 30.0 {
            last.0 / 6.0
        } else {
            last.0 / 3.0
        };
        let steady: Vec<&Sample> = s.iter().filter(|x| x.0 >= settle).collect();
        if let Some(first) = steady.first() {
            r.settled_kb = first.1;
            r.settle_s = first.0;
        }
        if steady.len() >= 3 {
            let n = steady.len() as f64;
            let mx = steady.iter().map(|x| x.0).sum::<f64>() / n;
            let my = steady.iter().map(|x| x.1 as f64).sum::<f64>() / n;
            let sxy: f64 = steady.iter().map(|x| (x.0 - mx) * (x.1 as f64 - my)).sum();
            let sxx: f64 = steady.iter().map(|x| (x.0 - mx).powi(2)).sum();
            if sxx > 0.0 {
                r.slope_kb_per_min = sxy / sxx * 60.0;
            }
        }
        r
    }

    /// RSS growth from settled to the end, kB.
    pub fn growth_kb(&self) -> i64 {
        self.end_kb as i64 - self.settled_kb as i64
    }
}

/// Frames in an MP4 (ffprobe packet count), when ffprobe is there.
pub fn mp4_frames(path: &Path) -> Option<u64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
