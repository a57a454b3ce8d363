// SPDX-License-Identifier: MPL-2.0
//! Memory: peak RSS and growth of the main job, beside the x264enc peer, and the source side
//! alone (rpicamsrc2 vs videotestsrc into the same x264enc recording). Methods:
//! docs/benchmarks.md.

use crate::*;

/// The source-side pair's sources: rpicamsrc2 (default camera and scene) and the peer's.
const SRC_OURS: &str = "rpicamsrc2";

pub(crate) type MemOutcome = Result<(memory::MemResult, Option<u64>), String>;

/// The memory row, run on its own (no other row beside it), one child at a time: the
/// source-side pair (rpicamsrc2 ! x264enc, then videotestsrc ! x264enc; also in --quick, where
/// its ratio is checked), then the main job and (full run only) its peer, each for `secs`.
/// One at a time because a live camera whose consumer falls behind fills more of its camera
/// buffers (3 MiB each at 1080p NV12), which videotestsrc, paced by its consumer, never does:
/// with four children and the callgrind rows at once (1032 of 1800 frames recorded) the ratio
/// was 1.40x, with each pair's two children at once (both kept up) 1.27x, so a crowded run
/// measures the machine's load rather than what the elements hold (docs/benchmarks.md).
pub(crate) fn row_mem(r: &mut Report, dir: &Path, secs: u64, quick: bool) {
    println!("memory: source-side pair, then the main job, {secs} s each, one gst-launch-1.0 child at a time (sampled every second)");
    let _ = std::fs::create_dir_all(dir);
    let plugin = memory::plugin_dir(dir).and_then(|p| {
        memory::warm_registry(&p, dir)?;
        Ok(p)
    });
    let start = |desc: String, out: PathBuf| -> Result<memory::Sampler, String> {
        let p = plugin.clone()?;
        memory::Sampler::start(&desc, &p, dir, out, secs as f64)
    };
    let timeout = Duration::from_secs(secs * 2 + 60);
    let finish = |s: Result<memory::Sampler, String>| -> MemOutcome {
        let s = s?;
        let out = s.out.clone();
        let res = s.finish(timeout)?;
        Ok((res, memory::mp4_frames(&out)))
    };
    let src = |source: &str, name: &str| {
        let out = dir.join(name);
        start(memory::source_job(source, &out), out)
    };
    let src_ours = finish(src(SRC_OURS, "src-ours.mp4"));
    let src_peer = finish(src(memory::PEER_SOURCE, "src-peer.mp4"));
    let ours_out = dir.join("ours.mp4");
    let ours = finish(start(memory::main_job(&ours_out), ours_out));
    let peer = (!quick).then(|| {
        let out = dir.join("peer.mp4");
        finish(start(memory::peer_job(&out), out))
    });
    let mut body = format!(
        "The main job's recording, `gst-launch-1.0 -e {}`, stopped with SIGINT (EOS) after \
         {secs} s, in a child process (GST_PLUGIN_PATH = this build's plugin). VmRSS/VmHWM and \
         the child's CPU time (utime + stime) from /proc/PID every second; settled = the first \
         sample after a sixth of the run (a third in --quick); slope = least squares over the samples after that; \
         frames = packets in the MP4 (ffprobe), against {secs} s x 30 fps. The row runs \
         alone, one child at a time (the source-side pair, then the main job and its peer), \
         so that no pipeline's peak includes camera buffers queued behind an encoder slowed by \
         another child (docs/benchmarks.md, \"Memory\"). Peer (full run only): `{}`.\n\n\
         | pipeline | wall s | frames in the MP4 (of {}) | CPU ms/frame | peak RSS (VmHWM) MiB | RSS settled MiB (at s) | RSS end MiB (at s) | growth MiB | slope MiB/min |\n|---|---|---|---|---|---|---|---|---|\n",
        memory::main_job(Path::new("out.mp4")),
        memory::peer_job(Path::new("peer.mp4")),
        secs * 30
    );
    let row = |label: &str, x: &MemOutcome| {
        match x {
        Ok((res, frames)) => format!(
            "| {label} | {:.1} | {} | {} | {:.1} | {:.1} ({:.0}) | {:.1} ({:.0}) | {:+.2} | {:+.2} |\n",
            res.wall_s,
            frames.map(|f| f.to_string()).unwrap_or("?".into()),
            frames
                .filter(|&f| f > 0)
                .map(|f| format!("{:.1}", res.cpu_s * 1e3 / f as f64))
                .unwrap_or("?".into()),
            res.peak_kb as f64 / 1024.0,
            res.settled_kb as f64 / 1024.0,
            res.settle_s,
            res.end_kb as f64 / 1024.0,
            res.end_s,
            res.growth_kb() as f64 / 1024.0,
            res.slope_kb_per_min / 1024.0
        ),
        Err(e) => format!("| {label} | failed: {e} | | | | | | | |\n"),
    }
    };
    body += &row("rpicamsrc2 ! rpih264enc (main job)", &ours);
    if let Some(p) = &peer {
        body += &row("videotestsrc ! x264enc", p);
    }
    body += &row("source side: rpicamsrc2 ! x264enc", &src_ours);
    body += &row("source side: videotestsrc ! x264enc", &src_peer);
    body += &format!(
        "\nSource side (also in --quick, before the main job): `gst-launch-1.0 -e {}` against the \
         same with `{}` as the source: the same encoder, muxer and caps, so the difference is \
         what the source holds (its buffers, the simulated scene, its threads). Goal: at most \
         1.2x.\n",
        memory::source_job(SRC_OURS, Path::new("src.mp4")),
        memory::PEER_SOURCE
    );
    body += "\nFewer frames than the duration x 30 means the pipeline could not keep up on this \
             (shared) machine: the camera loses the frames it has no free buffer for, the \
             recording stays complete.";
    r.section("Memory: the main job", body);
    let peer_peak = peer
        .as_ref()
        .and_then(|p| p.as_ref().ok())
        .map(|(p, _)| p.peak_kb as f64 / 1024.0);
    let peak = |x: &MemOutcome| x.as_ref().ok().map(|(m, _)| m.peak_kb as f64 / 1024.0);
    match (peak(&src_ours), peak(&src_peer)) {
        (Some(o), Some(p)) => {
            let ratio = o / p;
            r.line(Line {
                row: "mem",
                what: format!("peak RSS, source side 1080p30 {secs} s"),
                how: "VmHWM, rpicamsrc2 ! x264enc".into(),
                ours: format!("{o:.1} MiB"),
                repeats: "1".into(),
                peer: "videotestsrc ! x264enc".into(),
                peer_value: format!("{p:.1} MiB"),
                ratio: format!("{ratio:.2}x"),
            });
            r.check(
                "memory: source side peak RSS within bound of videotestsrc's (same x264enc)",
                ratio <= bounds::SOURCE_RSS_RATIO,
                format!(
                    "{o:.1} MiB / {p:.1} MiB = {ratio:.2}x (bound {:.2}x; goal 1.2x)",
                    bounds::SOURCE_RSS_RATIO
                ),
            );
        }
        _ => {
            let err = |x: &MemOutcome| x.as_ref().err().cloned().unwrap_or_default();
            r.check(
                "memory: source side ran",
                false,
                format!("{} {}", err(&src_ours), err(&src_peer)),
            );
        }
    }
    match &ours {
        Ok((res, frames)) => {
            r.line(Line {
                row: "mem",
                what: format!("peak RSS, main job 1080p30 {secs} s"),
                how: "VmHWM of the gst-launch-1.0 child".into(),
                ours: format!("{:.1} MiB", res.peak_kb as f64 / 1024.0),
                repeats: "1".into(),
                peer: "videotestsrc ! x264enc".into(),
                peer_value: peer_peak
                    .map(|p| format!("{p:.1} MiB"))
                    .unwrap_or("not run".into()),
                ratio: peer_peak
                    .map(|p| format!("{:.2}x", res.peak_kb as f64 / 1024.0 / p))
                    .unwrap_or("-".into()),
            });
            r.line(Line {
                row: "mem",
                what: "RSS growth settled → end (slope)".into(),
                how: "VmRSS sampled every second".into(),
                ours: format!(
                    "{:+.2} MiB ({:+.2} MiB/min)",
                    res.growth_kb() as f64 / 1024.0,
                    res.slope_kb_per_min / 1024.0
                ),
                repeats: format!("{} samples", res.samples),
                peer: "-".into(),
                peer_value: "-".into(),
                ratio: "-".into(),
            });
            r.check(
                "memory: main job RSS does not grow",
                res.samples >= 5 && res.growth_kb() <= bounds::RSS_GROWTH_KB,
                format!(
                    "{:+.2} MiB from {:.0} s to {:.0} s, {} samples (bound {} MiB)",
                    res.growth_kb() as f64 / 1024.0,
                    res.settle_s,
                    res.end_s,
                    res.samples,
                    bounds::RSS_GROWTH_KB / 1024
                ),
            );
            r.check(
                "memory: the main job's MP4 is complete after SIGINT",
                frames.is_none_or(|f| f > 0),
                format!(
                    "{} frames read back by ffprobe",
                    frames
                        .map(|f| f.to_string())
                        .unwrap_or("? (no ffprobe)".into())
                ),
            );
        }
        Err(e) => r.check("memory: main job ran", false, e.clone()),
    }
}
