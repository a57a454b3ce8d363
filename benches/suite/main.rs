// SPDX-License-Identifier: MPL-2.0
//! The benchmark suite: rpicamsrc2 against its peers, side by side in one run.
//!
//! ```text
//! cargo bench --bench suite                 # full suite (~6 min on 2 cores), writes BENCHMARKS.md
//! cargo bench --bench suite -- --quick      # CI-reduced (~90 s): ratio and invariant checks
//! cargo bench --bench suite -- --only 1,2   # some rows (1-7, rtp, mem, overlay, robust); --out FILE elsewhere
//! ```
//!
//! Rows (methods in docs/benchmarks.md): 1 source path cost (CPU per frame vs videotestsrc,
//! callgrind instructions per frame), 2 zero-copy (bytes copied per frame), 3 frame delivery
//! (drops, PTS jitter at every sensor mode's maximum rate), 4 JPEG dumps (vs videotestsrc, and
//! parallel JPEG paths), 5 H.264 (rpih264enc vs x264enc vs openh264enc), 6 latency, rtp (RTSP
//! server to client latency on loopback, default and --low-latency vs x264enc), 7 the
//! libcamera backend in the trixie root, memory (peak RSS and growth of the main job), and
//! overlays and orientation (added CPU per frame of the overlay and rotation recipes), and
//! robustness (the fuzz, state cycles and soak of tests/robustness.rs, with their figures).
//!
//! Every run evaluates regression checks that hold on a noisy 2-core machine (counts, ratios
//! between runs made back to back, generous bounds) and exits with status 1 naming each failed
//! one. `--quick` writes `target/benchmarks-quick.md` instead of `BENCHMARKS.md`.

mod callgrind;
mod cost;
mod delivery;
mod h264;
mod jpeg;
mod latency;
mod libcamera;
mod memory;
mod overlay;
mod report;
mod robustness;
mod rows;
mod rtp;
mod util;
mod zerocopy;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{ArgAction, Parser};
use report::{Header, Line, Report};
use rows::*;
use util::{ratio, Summary};

/// Bounds of the regression checks. Each is far from what this machine measures (see
/// docs/benchmarks.md), so only a real regression trips it.
mod bounds {
    /// rpicamsrc2 CPU per frame / videotestsrc's at 1920x1080 (row 1).
    pub const SOURCE_CPU_RATIO: f64 = 3.0;
    /// Instructions per frame in the element's own code, 1080p over 640x480: a per-pixel
    /// operation (a copy) would make it ~6.75.
    pub const IR_SIZE_RATIO: f64 = 1.5;
    /// Instructions per frame in the element's own code (row 1, 640x480).
    pub const IR_PER_FRAME: f64 = 60_000.0;
    /// rpicamsrc2 ! jpegenc CPU per frame / videotestsrc ! jpegenc's at 640x480 (row 4).
    pub const JPEG_CPU_RATIO: f64 = 2.0;
    /// rpih264enc's OpenH264 engine CPU per frame / openh264enc's (the same library
    /// underneath; row 5).
    pub const H264_CPU_RATIO: f64 = 2.0;
    /// rpih264enc (x264 engine) CPU per frame / x264enc ultrafast/zerolatency's (row 5): the
    /// goal is 1.0; the margin is the paired ratio's spread between runs on a loaded machine
    /// (docs/benchmarks.md).
    pub const H264_X264_CPU_RATIO: f64 = 1.10;
    /// How far rpih264enc's luma PSNR may fall below x264enc's at the same bitrate, dB (row 5).
    pub const H264_X264_PSNR_DB: f64 = 0.2;
    /// rpih264enc luma PSNR floor at the automatic bitrate (row 5), dB.
    pub const H264_PSNR_DB: f64 = 30.0;
    /// PTS jitter p99, worst simulated mode (row 3), µs: PTS come from sensor timestamps, so
    /// only the clock-offset read adds to the simulation's own ~0.1 µs.
    pub const PTS_JITTER_P99_US: f64 = 250.0;
    /// RSS growth of the main job from settled to the end, kB.
    pub const RSS_GROWTH_KB: i64 = 8 * 1024;
    /// Row rtp: how far capture → sent p50 may exceed 1 frame period + encode p50, ms
    /// (scheduling noise on this loaded 2-core machine; docs/benchmarks.md).
    pub const RTP_MARGIN_MS: f64 = 5.0;
    /// Peak RSS of rpicamsrc2 ! x264enc over videotestsrc ! x264enc (memory row, each child
    /// alone): 1.15x on an idle machine; 1.27x with the two at once and 1.40x with four
    /// children and other rows beside them, where the encoder falls behind and the camera's
    /// queued frames fault in more of its six 3 MiB buffers; 1.65x with the buffers resident
    /// from configure (docs/benchmarks.md, "Memory").
    pub const SOURCE_RSS_RATIO: f64 = 1.5;
    /// Process CPU time from PLAYING to the first buffer on the simulated camera at 1080p30,
    /// median, frame periods (row 6): the goal, 2 frame periods; 0.8 today, 4.4 before the
    /// scene textures were built row by row (docs/benchmarks.md, "6. Latency").
    pub const FIRST_BUFFER_PERIODS: f64 = 2.0;
}

/// The suite's options (`cargo bench --bench suite -- OPTIONS`).
#[derive(Debug, Parser)]
#[command(
    name = "suite",
    about = "The rpicamsrc2 benchmark suite (methods in docs/benchmarks.md)",
    override_usage = "cargo bench --bench suite -- [--quick] [--only 1,2,3,4,5,6,7,rtp,mem,overlay,robust] [--out FILE]",
    args_override_self = true
)]
struct Opts {
    /// CI-reduced run (~90 s): ratio and invariant checks; writes target/benchmarks-quick.md.
    #[arg(long)]
    quick: bool,
    /// Write the report to FILE instead of BENCHMARKS.md (target/benchmarks-quick.md with
    /// --quick).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Run only these rows, comma-separated: 1 to 7, rtp, mem, overlay and robust (a second
    /// --only replaces the first).
    #[arg(
        long,
        value_name = "ROWS",
        value_delimiter = ',',
        value_parser = row_name,
        action = ArgAction::Set
    )]
    only: Option<Vec<String>>,
    /// Passed by cargo bench to harness=false targets; without it the suite only says it built
    /// (`main` looks for it before parsing, so that `cargo test`'s arguments pass).
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

/// A row name of `--only`, without surrounding blanks.
fn row_name(s: &str) -> Result<String, String> {
    Ok(s.trim().to_string())
}

impl Opts {
    fn wants(&self, row: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|r| r == row))
    }
}

fn fmt_ratio(s: Summary) -> String {
    if s.n == 0 || s.median.is_nan() {
        "-".into()
    } else {
        format!("{}x", s.fmt(2))
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    gst::init().expect("GStreamer initialises");
    gstrpicamsrc2::plugin_register_static().expect("the plugin registers");
    if argv.first().map(String::as_str) == Some("--child") {
        let res = match argv.get(1).map(String::as_str) {
            Some("callgrind") => callgrind::child(&argv[2..]),
            _ => Err("unknown child".into()),
        };
        if let Err(e) = res {
            eprintln!("child: {e}");
            std::process::exit(1);
        }
        return;
    }
    // `cargo test --all-targets` (the project's test command) builds this target and runs it
    // without `--bench`: that checks it compiles and links; measuring is for `cargo bench`.
    if !argv.iter().any(|a| a == "--bench") {
        println!("benchmark suite: built; run it with `cargo bench --bench suite [-- --quick]`");
        return;
    }
    // Bad options: clap prints the error and exits with status 2; --help prints and exits 0.
    let opts = Opts::parse();
    let started = Instant::now();
    let repo = repo_root();
    let out = opts.out.clone().unwrap_or_else(|| {
        if opts.quick {
            repo.join("target/benchmarks-quick.md")
        } else {
            repo.join("BENCHMARKS.md")
        }
    });
    let command = format!(
        "cargo bench --bench suite{}",
        if argv.iter().any(|a| a != "--bench") {
            format!(
                " -- {}",
                argv.iter()
                    .filter(|a| *a != "--bench")
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        } else {
            String::new()
        }
    );
    println!(
        "rpicamsrc2 benchmark suite ({}), results to {}",
        if opts.quick { "quick" } else { "full" },
        out.display()
    );
    let header_start = Header::collect(&command, &repo, Vec::new());
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mut r = Report::default();

    // Phase A: the rows whose results are counts (callgrind instructions and zero-copy).
    let mut timings: Vec<(String, f64)> = Vec::new();
    let mut timed = |name: &str, f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        let s = t.elapsed().as_secs_f64();
        println!("  ({name}: {s:.0} s)");
        timings.push((name.to_string(), s));
    };
    let mem_secs: u64 = if opts.quick { 15 } else { 60 };
    let phase_a = Instant::now();
    if opts.wants("1") {
        r.current = "1";
        timed("row 1 callgrind", &mut || {
            row1_callgrind(&mut r, &opts, tmp.path())
        });
    }
    if opts.wants("2") {
        r.current = "2";
        timed("row 2", &mut || row2(&mut r, &opts));
    }
    timings.push(("phase A (counts)".into(), phase_a.elapsed().as_secs_f64()));
    // Phase B: timed rows, one at a time.
    type Row<'a> = (&'static str, &'a dyn Fn(&mut Report));
    let mem_dir = tmp.path().join("mem");
    let rows: [Row; 11] = [
        ("mem", &|r| row_mem(r, &mem_dir, mem_secs, opts.quick)),
        ("1", &|r| row1_cpu(r, &opts)),
        ("3", &|r| row3(r, &opts)),
        ("4", &|r| row4(r, &opts)),
        ("5", &|r| row5(r, &opts)),
        ("6", &|r| row6(r, &opts)),
        ("rtp", &|r| row_rtp(r, &opts)),
        ("7", &|r| row7(r, &opts, &repo)),
        ("vm", &|r| row_vm(r)),
        ("overlay", &|r| overlay::row(r, opts.quick)),
        ("robust", &|r| robustness::row(r, opts.quick)),
    ];
    for (row, f) in rows {
        if opts.wants(row) {
            r.current = row;
            let t = Instant::now();
            f(&mut r);
            let s = t.elapsed().as_secs_f64();
            println!("  (row {row}: {s:.0} s)");
            timings.push((format!("row {row}"), s));
        }
    }

    let mut fields = header_start.fields;
    fields.push(("load average at end".into(), report::loadavg()));
    fields.push((
        "suite wall time".into(),
        format!(
            "{:.0} s ({})",
            started.elapsed().as_secs_f64(),
            timings
                .iter()
                .map(|(n, s)| format!("{n} {s:.0} s"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    let header = Header {
        command: header_start.command,
        fields,
    };
    let mut doc = r.render(&header);
    // A run of some rows into the full document replaces those rows and keeps the others
    // (the header says which rows come from which run).
    if let (Some(only), false) = (&opts.only, opts.quick) {
        if let Ok(previous) = std::fs::read_to_string(&out) {
            doc = report::merge(&previous, &doc, only);
        }
    }
    if let Some(d) = out.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    match std::fs::write(&out, &doc) {
        Ok(()) => println!("wrote {}", out.display()),
        Err(e) => eprintln!("cannot write {}: {e}", out.display()),
    }
    let failed = r.failed();
    if !failed.is_empty() {
        eprintln!("\nREGRESSION: {} check(s) failed:", failed.len());
        for c in failed {
            eprintln!("  - {}: {}", c.name, c.detail);
        }
        std::process::exit(1);
    }
    println!(
        "all {} checks pass ({:.0} s)",
        r.checks.len(),
        started.elapsed().as_secs_f64()
    );
}
