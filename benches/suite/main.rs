// SPDX-License-Identifier: MPL-2.0
//! The benchmark suite: rpicamsrc2 against its peers, side by side in one run.
//!
//! ```text
//! cargo bench --bench suite                 # full suite (~6 min on 2 cores), writes BENCHMARKS.md
//! cargo bench --bench suite -- --quick      # CI-reduced (~90 s): ratio and invariant checks
//! cargo bench --bench suite -- --only 1,2   # some rows (1-7, mem, overlay, robust); --out FILE elsewhere
//! ```
//!
//! Rows (methods in docs/benchmarks.md): 1 source path cost (CPU per frame vs videotestsrc,
//! callgrind instructions per frame), 2 zero-copy (bytes copied per frame), 3 frame delivery
//! (drops, PTS jitter at every sensor mode's maximum rate), 4 JPEG dumps (vs videotestsrc, and
//! parallel JPEG paths), 5 H.264 (rpih264enc vs x264enc vs openh264enc), 6 latency, 7 the
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
mod util;
mod zerocopy;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{ArgAction, Parser};
use report::{Header, Line, Report};
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
    /// rpih264enc CPU per frame / openh264enc's (the same library underneath; row 5).
    pub const H264_CPU_RATIO: f64 = 2.0;
    /// rpih264enc luma PSNR floor at the automatic bitrate (row 5), dB.
    pub const H264_PSNR_DB: f64 = 30.0;
    /// PTS jitter p99, worst simulated mode (row 3), µs: PTS come from sensor timestamps, so
    /// only the clock-offset read adds to the simulation's own ~0.1 µs.
    pub const PTS_JITTER_P99_US: f64 = 250.0;
    /// RSS growth of the main job from settled to the end, kB.
    pub const RSS_GROWTH_KB: i64 = 8 * 1024;
}

/// The suite's options (`cargo bench --bench suite -- OPTIONS`).
#[derive(Debug, Parser)]
#[command(
    name = "suite",
    about = "The rpicamsrc2 benchmark suite (methods in docs/benchmarks.md)",
    override_usage = "cargo bench --bench suite -- [--quick] [--only 1,2,3,4,5,6,7,mem,overlay,robust] [--out FILE]",
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
    /// Run only these rows, comma-separated: 1 to 7, mem, overlay and robust (a second --only
    /// replaces the first).
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

    // Phase A: the memory children run (a minute, or 15 s in --quick) while the rows whose
    // results are counts that load cannot change run: callgrind instructions and zero-copy.
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
    let mem = opts
        .wants("mem")
        .then(|| start_memory(&tmp.path().join("mem"), mem_secs, opts.quick));
    if opts.wants("1") {
        timed("row 1 callgrind", &mut || {
            row1_callgrind(&mut r, &opts, tmp.path())
        });
    }
    if opts.wants("2") {
        timed("row 2", &mut || row2(&mut r, &opts));
    }
    if let Some(m) = mem {
        finish_memory(&mut r, m, mem_secs);
    }
    timings.push((
        "phase A (memory alongside)".into(),
        phase_a.elapsed().as_secs_f64(),
    ));
    // Phase B: timed rows, one at a time.
    type Row<'a> = (&'a str, &'a dyn Fn(&mut Report));
    let rows: [Row; 8] = [
        ("1", &|r| row1_cpu(r, &opts)),
        ("3", &|r| row3(r, &opts)),
        ("4", &|r| row4(r, &opts)),
        ("5", &|r| row5(r, &opts)),
        ("6", &|r| row6(r, &opts)),
        ("7", &|r| row7(r, &opts, &repo)),
        ("overlay", &|r| overlay::row(r, opts.quick)),
        ("robust", &|r| robustness::row(r, opts.quick)),
    ];
    for (row, f) in rows {
        if opts.wants(row) {
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
    let doc = r.render(&header);
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

// ---------------------------------------------------------------------------------------------
// Row 1

fn row1_callgrind(r: &mut Report, opts: &Opts, tmp: &Path) {
    println!("row 1: callgrind instructions per frame");
    let title = "Row 1b: instructions per frame (callgrind)";
    if !callgrind::available() {
        r.section(
            title,
            "not run: valgrind is not installed (apt-get install valgrind)",
        );
        r.check(
            "row 1: callgrind available",
            false,
            "valgrind not installed",
        );
        return;
    }
    let (n1, n2) = if opts.quick { (20, 50) } else { (30, 90) };
    let sizes: &[(u32, u32)] = &[(640, 480), (1920, 1080)];
    let mut body = format!(
        "Instructions executed per frame under callgrind (release build with line tables), \
         from two runs of {n1} and {n2} frames subtracted (start-up cancels), 30 fps NV12 into \
         an appsink restricted to the caps. *Element's own code*: rpicamsrc2's capture thread \
         (`capture_loop` with `dispatch` inlined) and pad task (`pad_loop`), not counting what \
         runs inside `gst_pad_push`/`gst_pad_push_event` (downstream) nor the simulated \
         camera's thread. *Process*: everything but the simulated camera's thread (which \
         renders and runs the IPA: the Pi's ISP and firmware work), so element + GStreamer + \
         appsink; for the peer videotestsrc is-live=true pattern=black, everything (GStreamer's \
         static functions are stripped on Debian, so its own code cannot be isolated; its \
         count includes painting every frame, which a camera does not need). A count, not a \
         time: machine load does not change it.\n\n\
         | size | rpicamsrc2 element's own code | rpicamsrc2 process (without the simulated camera) | videotestsrc process | process ratio |\n|---|---|---|---|---|\n"
    );
    let mut own = Vec::new();
    let mut process = Vec::new();
    for &(w, h) in sizes {
        let caps = callgrind::caps(w, h, 30);
        let count = |src: &str, scope| match callgrind::per_frame(src, &caps, scope, n1, n2, tmp) {
            Ok((ir, _)) => (ir, format!("{ir:.0}")),
            Err(e) => {
                eprintln!("row 1 callgrind {src} {w}x{h}: {e}");
                (f64::NAN, format!("failed: {e}"))
            }
        };
        let (e, es) = count("rpicamsrc2", callgrind::Scope::Element);
        own.push(e);
        // The process-wide counts (and the peer) only in the full run.
        let ((p, ps), (v, vs)) = if opts.quick {
            (
                (f64::NAN, "not run (--quick)".to_string()),
                (f64::NAN, "not run (--quick)".to_string()),
            )
        } else {
            (
                count("rpicamsrc2", callgrind::Scope::Process),
                count("videotestsrc", callgrind::Scope::Process),
            )
        };
        process.push(p);
        body += &format!("| {w}x{h} | {es} | {ps} | {vs} | {:.2}x |\n", ratio(p, v));
        r.line(Line {
            row: "1",
            what: format!("instructions/frame, element's own code, {w}x{h}"),
            how: "callgrind toggles, (I(n2)-I(n1))/(n2-n1)".into(),
            ours: es,
            repeats: "1 (a count)".into(),
            peer: "-".into(),
            peer_value: "-".into(),
            ratio: "-".into(),
        });
        if !opts.quick {
            r.line(Line {
                row: "1",
                what: format!("instructions/frame, process without the simulated camera, {w}x{h}"),
                how: "callgrind, (I(n2)-I(n1))/(n2-n1)".into(),
                ours: ps,
                repeats: "1 (a count)".into(),
                peer: "videotestsrc (paints)".into(),
                peer_value: vs,
                ratio: format!("{:.2}x", ratio(p, v)),
            });
        }
    }
    r.section(title, body);
    let size_ratio = ratio(own[1], own[0]);
    r.check(
        "row 1: element instructions/frame do not grow with frame size",
        size_ratio.is_finite() && size_ratio <= bounds::IR_SIZE_RATIO,
        format!(
            "1080p/640x480 = {size_ratio:.3} (bound {}; a per-pixel copy gives ~6.75)",
            bounds::IR_SIZE_RATIO
        ),
    );
    if !opts.quick {
        // Without the simulated camera's thread nothing left touches pixels: the count must be
        // positive and the same at both sizes. (A camera thread that escaped the toggle, e.g.
        // by inlining, shows up here as a count that is negative or grows with the size.)
        let process_ratio = ratio(process[1], process[0]);
        r.check(
            "row 1: process instructions/frame (without the camera) do not grow with frame size",
            process[0] > 0.0 && process_ratio.is_finite() && process_ratio <= bounds::IR_SIZE_RATIO,
            format!(
                "{:.0} at 640x480, 1080p/640x480 = {process_ratio:.3} (bound {})",
                process[0],
                bounds::IR_SIZE_RATIO
            ),
        );
    }
    r.check(
        "row 1: element instructions/frame",
        own[0].is_finite() && own[0] <= bounds::IR_PER_FRAME,
        format!(
            "{:.0} at 640x480 (bound {:.0})",
            own[0],
            bounds::IR_PER_FRAME
        ),
    );
}

fn row1_cpu(r: &mut Report, opts: &Opts) {
    println!("row 1: source path CPU per frame");
    let (cases, repeats, secs) = if opts.quick {
        (
            vec![
                cost::Case::new("imx219", 640, 480),
                cost::Case::new("imx219", 1920, 1080),
            ],
            3,
            1.0,
        )
    } else {
        (
            vec![
                cost::Case::new("imx219", 640, 480),
                cost::Case::new("imx219", 1920, 1080),
                cost::Case::new("imx477", 4056, 3040),
            ],
            5,
            1.0,
        )
    };
    let res = cost::run(&cases, repeats, secs);
    let mut body = format!(
        "Process CPU time (getrusage, all threads) per frame between frame 10 and the last \
         frame, {secs} s of frames per run, NV12 at the sensor mode's maximum rate into \
         `fakevideosink sync=false` (takes GstVideoMeta, as encoders and display sinks do). rpicamsrc2: `{}` (each camera buffer rendered once, then reused \
         unchanged; the AGC/AWB still run every frame). Peer: `{}` with the same caps (paints \
         every frame). Repeats interleaved (ours, peer, next size, ...).\n\n\
         | case | rpicamsrc2 ms/frame | of which simulated rendering (render-cpu-ns) | rpicamsrc2 fps | frames copied | videotestsrc ms/frame | videotestsrc fps | ratio |\n|---|---|---|---|---|---|---|---|\n",
        cases[0].ours(),
        cost::peer()
    );
    for c in &res {
        let o = Summary::of(&c.ours_cpu());
        let p = Summary::of(&c.peer_cpu());
        let ofps = Summary::of(&c.ours.iter().map(|x| x.fps).collect::<Vec<_>>());
        let pfps = Summary::of(&c.peer.iter().map(|x| x.fps).collect::<Vec<_>>());
        let copied: u64 = c.ours.iter().map(|x| x.copied).sum();
        body += &format!(
            "| {} {} | {} | {} | {} | {copied} | {} | {} | {} |\n",
            c.case.sensor,
            c.case.label,
            o.fmt(3),
            c.render().fmt(3),
            ofps.fmt(1),
            p.fmt(3),
            pfps.fmt(1),
            fmt_ratio(c.ratio())
        );
        r.line(Line {
            row: "1",
            what: format!("CPU/frame, {} NV12", c.case.label),
            how: "getrusage over frames 10..N, fakevideosink".into(),
            ours: format!("{} ms", o.fmt(3)),
            repeats: format!("{}", o.n),
            peer: "videotestsrc is-live".into(),
            peer_value: format!("{} ms", p.fmt(3)),
            ratio: fmt_ratio(c.ratio()),
        });
    }
    r.section("Row 1a: source path CPU per frame", body);
    if let Some(c) = res.iter().find(|c| c.case.width == 1920) {
        let q = c.ratio();
        r.check(
            "row 1: rpicamsrc2 CPU/frame within bound of videotestsrc's at 1080p",
            q.n > 0 && q.median <= bounds::SOURCE_CPU_RATIO,
            format!(
                "median ratio {:.2} over {} repeats (bound {})",
                q.median,
                q.n,
                bounds::SOURCE_CPU_RATIO
            ),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Row 2

fn row2(r: &mut Report, opts: &Opts) {
    println!("row 2: zero-copy");
    let frames = if opts.quick { 30 } else { 60 };
    let mut body = format!(
        "`rpicamsrc2 camera-name=sim:imx219 buffer-count=6` ({frames} frames). Bytes copied = the \
         element's per-pad `frames-copied` counter (incremented where wrap() copies) x the frame \
         size, per pushed frame. Memory identity: data addresses of every buffer reaching the \
         sink (memory 0), and its memory type (`wrapped`: the camera's own memory wrapped by \
         gst::Memory::from_slice; `SystemMemory`: a copy).\n\n\
         | case | pad | caps | frames pushed | frames copied | bytes copied/frame | distinct addresses (buffer-count 6) | memory types | identity |\n|---|---|---|---|---|---|---|---|---|\n"
    );
    let mut zero = true;
    let mut identity = true;
    let mut control_copies = 0.0;
    let mut any = false;
    for res in zerocopy::run(frames) {
        let c = match res {
            Ok(c) => c,
            Err(e) => {
                body += &format!("| failed: {e} | | | | | | | | |\n");
                zero = false;
                continue;
            }
        };
        for p in &c.pads {
            let types: Vec<String> = p
                .mem_types
                .iter()
                .map(|(k, v)| format!("{k} x{v}"))
                .collect();
            body += &format!(
                "| {} (`{}`) | {} | {} | {} | {} | {:.0} | {} | {} | {} |\n",
                c.name,
                c.downstream,
                p.pad,
                p.caps,
                p.pushed,
                p.copied,
                p.bytes_per_frame(),
                p.distinct_addresses,
                types.join(", "),
                if p.identity_holds(c.buffer_count) {
                    "camera's memory"
                } else {
                    "copies"
                }
            );
            if c.control {
                control_copies = p.bytes_per_frame();
                continue;
            }
            any = true;
            zero &= p.copied == 0 && p.pushed > 0;
            identity &= p.identity_holds(c.buffer_count);
            r.line(Line {
                row: "2",
                what: format!(
                    "bytes copied/frame, {} {} → {}",
                    p.pad, p.caps, c.downstream
                ),
                how: "frames-copied x frame size; data address identity".into(),
                ours: format!(
                    "{:.0} B ({} distinct addresses)",
                    p.bytes_per_frame(),
                    p.distinct_addresses
                ),
                repeats: format!("{} frames", p.pushed),
                peer: "-".into(),
                peer_value: "-".into(),
                ratio: "-".into(),
            });
        }
    }
    body +=
        "\nThe control case must copy (the ISP's 1024-byte I420 rows at 1000 pixels wide, and a \
             sink that cannot take strides): it shows the counter and the memory types do see a \
             copy when one happens.";
    r.section("Row 2: zero-copy", body);
    r.check(
        "row 2: no pixel bytes copied on src and lores, buffers are the camera's memory",
        any && zero && identity,
        format!("zero copies: {zero}, identity: {identity}"),
    );
    r.check(
        "row 2: the control case's copy is seen (instrumentation works)",
        control_copies > 0.0,
        format!("{control_copies:.0} bytes/frame in the control"),
    );
}

// ---------------------------------------------------------------------------------------------
// Row 3

fn row3(r: &mut Report, opts: &Opts) {
    println!("row 3: frame delivery");
    let (modes, secs): (Vec<delivery::Mode>, f64) = if opts.quick {
        // A modest rate: 640x480 at 30 fps.
        let mut m = delivery::all_modes()
            .into_iter()
            .find(|m| m.sensor == "imx219" && m.width == 640)
            .expect("imx219 VGA mode");
        m.rate = (30, 1);
        (vec![m], 3.0)
    } else {
        (delivery::all_modes(), 1.0)
    };
    let mut body = format!(
        "Each simulated sensor mode forced (`sensor-mode=W:H:bits`) at its maximum rate, NV12 at \
         the mode's size, {secs} s per run, static scene (`{}`), into `fakesink sync=false`; \
         with lores: 640x360 NV12 at the same rate (every frame) as well. Dropped = the element's per-pad \
         `frames-dropped`; gaps = missing buffer offsets (sensor sequence) at the sink. Jitter = \
         |interval - mean interval| after 3 start-up intervals, of PTS and of the \
         SensorTimestamp metadata the PTS are mapped from; lag = running time at the sink minus \
         PTS. No peer can \
         run here: libcamerasrc cannot capture without dma-buf (row 7).\n\n\
         | mode | streams | main frames | main fps | main dropped | gaps | PTS jitter p50/p99 µs | SensorTimestamp jitter p99 µs | lag p50/p99 ms | lores frames | lores dropped / gaps | lores jitter p50/p99 µs |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        cost::STATIC_SCENE
    );
    let mut total_drops = 0;
    let mut main_alone_drops = 0;
    let mut runs = 0;
    let mut worst_p99: f64 = 0.0;
    let mut worst_mode = String::new();
    for m in &modes {
        for lores in [false, true] {
            match delivery::run_mode(m, lores, secs) {
                Ok(run) => {
                    runs += 1;
                    let d = &run.main;
                    total_drops += d.dropped
                        + d.offset_gaps
                        + run
                            .lores_pad
                            .as_ref()
                            .map_or(0, |l| l.dropped + l.offset_gaps);
                    if !lores {
                        main_alone_drops += d.dropped + d.offset_gaps;
                    }
                    if d.jitter_p99_us > worst_p99 {
                        worst_p99 = d.jitter_p99_us;
                        worst_mode = format!(
                            "{}, SensorTimestamp p99 {:.1} µs",
                            m.label(),
                            d.sensor_jitter_p99_us
                        );
                    }
                    let (lf, ld, lj) = match &run.lores_pad {
                        Some(l) => (
                            l.frames.to_string(),
                            format!(
                                "{} / {}{}",
                                l.dropped,
                                l.offset_gaps,
                                l.gaps_at
                                    .iter()
                                    .map(|(a, b)| format!(" ({a}→{b})"))
                                    .collect::<String>()
                            ),
                            format!("{:.1} / {:.1}", l.jitter_p50_us, l.jitter_p99_us),
                        ),
                        None => ("-".into(), "-".into(), "-".into()),
                    };
                    body += &format!(
                        "| {} | {} | {} | {:.2} | {} | {} | {:.1} / {:.1} | {:.1} | {:.2} / {:.2} | {lf} | {ld} | {lj} |\n",
                        m.label(),
                        if lores { "main + lores" } else { "main" },
                        d.frames,
                        d.fps,
                        d.dropped,
                        d.offset_gaps,
                        d.jitter_p50_us,
                        d.jitter_p99_us,
                        d.sensor_jitter_p99_us,
                        d.lag_p50_ms,
                        d.lag_p99_ms
                    );
                }
                Err(e) => {
                    body += &format!(
                        "| {} | {} | failed: {e} | | | | | | | | | |\n",
                        m.label(),
                        if lores { "main + lores" } else { "main" }
                    );
                }
            }
        }
    }
    r.line(Line {
        row: "3",
        what: format!(
            "frames dropped, {} runs ({} modes x main / main + lores)",
            runs,
            modes.len()
        ),
        how: format!("per-pad frames-dropped + offset gaps, {secs} s at max rate"),
        ours: format!("{total_drops} lost in total (main and lores)"),
        repeats: "1 per mode".into(),
        peer: "libcamerasrc".into(),
        peer_value: "cannot capture here".into(),
        ratio: "-".into(),
    });
    r.line(Line {
        row: "3",
        what: "PTS jitter p99, worst mode (main)".into(),
        how: "|interval - mean interval|".into(),
        ours: format!("{worst_p99:.1} µs ({worst_mode})"),
        repeats: "1 per mode".into(),
        peer: "libcamerasrc".into(),
        peer_value: "cannot capture here".into(),
        ratio: "-".into(),
    });
    r.section("Row 3: frame delivery", body);
    r.check(
        "row 3: no frame lost on main alone",
        runs > 0 && main_alone_drops == 0,
        format!(
            "{main_alone_drops} lost over {} mode(s){}",
            modes.len(),
            if opts.quick {
                " (640x480 at 30 fps)"
            } else {
                " at maximum rates"
            }
        ),
    );
    r.check(
        "row 3: PTS follow the sensor timestamps (jitter p99, worst mode)",
        runs > 0 && worst_p99 <= bounds::PTS_JITTER_P99_US,
        format!(
            "{worst_p99:.1} µs (bound {} µs; PTS taken from the time of pushing would show the \
             scheduling lag, milliseconds on a busy machine)",
            bounds::PTS_JITTER_P99_US
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// Row 4

fn row4(r: &mut Report, opts: &Opts) {
    println!("row 4: JPEG dumps");
    let (repeats, secs) = if opts.quick { (3, 1.0) } else { (3, 1.5) };
    let vga = cost::Case::new("imx219", 640, 480);
    let hd = cost::Case::new("imx219", 1920, 1080);
    let i420 = |c: &cost::Case| c.caps().replace("NV12", "I420");
    let ours = |c: &cost::Case| c.ours();
    // 75 % bars like the simulation's: JPEGs of about the same size (content sets the cost).
    let peer = "videotestsrc is-live=true pattern=smpte75";
    // (case, source label, source, path)
    let mut variants: Vec<(&cost::Case, &str, String, jpeg::Path)> = vec![
        (&vga, "rpicamsrc2", ours(&vga), jpeg::Path::Single),
        (&vga, "videotestsrc", peer.to_string(), jpeg::Path::Single),
    ];
    if !opts.quick {
        variants.extend([
            (&hd, "rpicamsrc2", ours(&hd), jpeg::Path::Single),
            (&hd, "videotestsrc", peer.to_string(), jpeg::Path::Single),
            (&hd, "rpicamsrc2", ours(&hd), jpeg::Path::RoundRobin(2)),
            (&hd, "rpicamsrc2", ours(&hd), jpeg::Path::Libav),
        ]);
    }
    let mut results: Vec<Vec<jpeg::JpegRun>> = vec![Vec::new(); variants.len()];
    let mut errors: Vec<Option<String>> = vec![None; variants.len()];
    for _ in 0..repeats {
        for (i, (case, _, src, path)) in variants.iter().enumerate() {
            let frames = (case.fps() * secs).round() as u64;
            match jpeg::live(src, &i420(case), frames, *path) {
                Ok(x) => results[i].push(x),
                Err(e) => errors[i] = Some(e),
            }
        }
    }
    let mut body = format!(
        "Live: `SOURCE ! I420 caps ! PATH ! multifilesink` (files in a temporary directory on \
         disk), {secs} s of frames per run at the imx219 mode's maximum rate, {repeats} \
         repeats interleaved. rpicamsrc2: static 75 % bars (`{}`); videotestsrc: `{peer}` \
         (75 % bars too; JPEG cost depends on content, compare bytes/JPEG). fps = JPEG files per second (first to last); CPU = process CPU per JPEG. \
         Round-robin: `output-selector` with a pad probe switching `active-pad` every buffer, \
         each branch `queue max-size-buffers=2 ! jpegenc ! multifilesink` (stock elements, a \
         few lines of application code). avenc_mjpeg: FFmpeg's MJPEG encoder, `threads=0` \
         (automatic: frame threads), `pass=quant quantizer=2` (about jpegenc quality=85's \
         sizes).\n\n\
         | size | source | JPEG path | fps | CPU ms/JPEG | bytes/JPEG | camera frames lost | frames copied |\n|---|---|---|---|---|---|---|---|\n",
        cost::STATIC_SCENE
    );
    for (i, (case, label, _, path)) in variants.iter().enumerate() {
        let v = &results[i];
        if v.is_empty() {
            body += &format!(
                "| {} | {label} | {} | failed: {} | | | | |\n",
                case.label,
                path.label(),
                errors[i].clone().unwrap_or_default()
            );
            continue;
        }
        let f = Summary::of(&v.iter().map(|x| x.fps).collect::<Vec<_>>());
        let c = Summary::of(&v.iter().map(|x| x.cpu_ms).collect::<Vec<_>>());
        let b = Summary::of(&v.iter().map(|x| x.bytes).collect::<Vec<_>>());
        let d: u64 = v.iter().map(|x| x.dropped).sum();
        let cp: u64 = v.iter().map(|x| x.copied).sum();
        let is_ours = *label == "rpicamsrc2";
        body += &format!(
            "| {} | {label} | {} | {} | {} | {:.0} | {} | {} |\n",
            case.label,
            path.label(),
            f.fmt(1),
            c.fmt(2),
            b.median,
            if is_ours { d.to_string() } else { "-".into() },
            if is_ours { cp.to_string() } else { "-".into() },
        );
    }
    // Summary lines: ours vs videotestsrc with one jpegenc, per size.
    for case in [&vga, &hd] {
        let find = |label: &str, path: jpeg::Path| {
            variants
                .iter()
                .position(|v| v.0.label == case.label && v.1 == label && v.3 == path)
        };
        let (Some(o), Some(p)) = (
            find("rpicamsrc2", jpeg::Path::Single),
            find("videotestsrc", jpeg::Path::Single),
        ) else {
            continue;
        };
        let of: Vec<f64> = results[o].iter().map(|x| x.fps).collect();
        let pf: Vec<f64> = results[p].iter().map(|x| x.fps).collect();
        let oc: Vec<f64> = results[o].iter().map(|x| x.cpu_ms).collect();
        let pc: Vec<f64> = results[p].iter().map(|x| x.cpu_ms).collect();
        r.line(Line {
            row: "4",
            what: format!("JPEG files/s, {} → jpegenc", case.label),
            how: "files/s first to last, live".into(),
            ours: Summary::of(&of).fmt(1),
            repeats: format!("{}", of.len()),
            peer: "videotestsrc ! jpegenc".into(),
            peer_value: Summary::of(&pf).fmt(1),
            ratio: fmt_ratio(util::paired_ratio(&of, &pf)),
        });
        let cr = util::paired_ratio(&oc, &pc);
        r.line(Line {
            row: "4",
            what: format!("CPU/JPEG, {} → jpegenc", case.label),
            how: "getrusage per JPEG".into(),
            ours: format!("{} ms", Summary::of(&oc).fmt(2)),
            repeats: format!("{}", oc.len()),
            peer: "videotestsrc ! jpegenc".into(),
            peer_value: format!("{} ms", Summary::of(&pc).fmt(2)),
            ratio: fmt_ratio(cr),
        });
        if case.width == 640 {
            r.check(
                "row 4: rpicamsrc2 ! jpegenc CPU/JPEG within bound of videotestsrc's (640x480)",
                cr.n > 0 && cr.median <= bounds::JPEG_CPU_RATIO,
                format!(
                    "median ratio {:.2} (bound {})",
                    cr.median,
                    bounds::JPEG_CPU_RATIO
                ),
            );
        }
    }
    for path in [jpeg::Path::RoundRobin(2), jpeg::Path::Libav] {
        let (Some(o), Some(s)) = (
            variants
                .iter()
                .position(|v| v.0.width == 1920 && v.1 == "rpicamsrc2" && v.3 == path),
            variants.iter().position(|v| {
                v.0.width == 1920 && v.1 == "rpicamsrc2" && v.3 == jpeg::Path::Single
            }),
        ) else {
            continue;
        };
        let of: Vec<f64> = results[o].iter().map(|x| x.fps).collect();
        let sf: Vec<f64> = results[s].iter().map(|x| x.fps).collect();
        r.line(Line {
            row: "4",
            what: format!("JPEG files/s, {} → {}", hd.label, path.label()),
            how: "live, parallel JPEG from stock elements".into(),
            ours: Summary::of(&of).fmt(1),
            repeats: format!("{}", of.len()),
            peer: "rpicamsrc2 → one jpegenc".into(),
            peer_value: Summary::of(&sf).fmt(1),
            ratio: fmt_ratio(util::paired_ratio(&of, &sf)),
        });
    }
    // The encoders' ceiling, from frames in memory.
    if !opts.quick {
        let n = 60;
        let (caps, frames) = h264::capture("rpicamsrc2", 1920, 1080, n);
        body += &format!(
            "\nIn memory (the encoders' ceiling): {n} frames of 1920x1080 I420 captured from \
             `rpicamsrc2 camera-name=sim:imx219` (moving scene, noise) pushed through `appsrc ! \
             PATH ! fakesink` as fast as they go, {repeats} repeats.\n\n\
             | JPEG path | JPEG/s | CPU ms/JPEG | bytes/JPEG | speed vs one jpegenc |\n|---|---|---|---|---|\n"
        );
        let paths = [
            jpeg::Path::Single,
            jpeg::Path::RoundRobin(2),
            jpeg::Path::Libav,
        ];
        let mut res: Vec<Vec<jpeg::JpegRun>> = vec![Vec::new(); paths.len()];
        for _ in 0..repeats {
            for (i, p) in paths.iter().enumerate() {
                match jpeg::in_memory(&caps, &frames, *p) {
                    Ok(x) => res[i].push(x),
                    Err(e) => eprintln!("row 4 in memory {}: {e}", p.label()),
                }
            }
        }
        let single: Vec<f64> = res[0].iter().map(|x| x.fps).collect();
        for (i, p) in paths.iter().enumerate() {
            let f: Vec<f64> = res[i].iter().map(|x| x.fps).collect();
            let c: Vec<f64> = res[i].iter().map(|x| x.cpu_ms).collect();
            let b: Vec<f64> = res[i].iter().map(|x| x.bytes).collect();
            body += &format!(
                "| {} | {} | {} | {:.0} | {} |\n",
                p.label(),
                Summary::of(&f).fmt(1),
                Summary::of(&c).fmt(2),
                Summary::of(&b).median,
                fmt_ratio(util::paired_ratio(&f, &single))
            );
        }
    }
    body += "\nWhat a JPEG element of our own could add over these: Picamera2's JpegEncoder deals \
             whole frames to threads, which is what the round-robin pipeline does with stock \
             elements. A dedicated element would only save the per-branch queues and keep output \
             order in one sink; measure it against these rows before writing it.";
    r.section("Row 4: JPEG dumps", body);
}

// ---------------------------------------------------------------------------------------------
// Row 5

fn row5(r: &mut Report, opts: &Opts) {
    println!("row 5: H.264");
    let (sizes, frames, repeats): (&[(u32, u32)], usize, usize) = if opts.quick {
        (&[(1280, 720)], 30, 2)
    } else {
        (&[(1280, 720), (1920, 1080)], 90, 3)
    };
    let mut body = format!(
        "`examples/bench_h264.rs`'s method (shared code: benches/suite/h264.rs): {frames} frames \
         from `rpicamsrc2 camera-name=sim:imx219` (moving scene, noise) copied to packed I420 \
         in memory, pushed through `appsrc ! ENCODER ! appsink` as fast as it goes; the same \
         bitrate for all (rpih264enc's automatic one: 6 Mbit/s at 1080p30 scaled by pixels), \
         key frame every 60; {repeats} repeats interleaved. CPU = process CPU per frame (all \
         threads). PSNR = luma PSNR of the avdec_h264-decoded stream against the input.\n\n\
         | size | encoder | fps | CPU ms/frame | PSNR-Y dB | kbit/s | fps ratio | CPU ratio |\n|---|---|---|---|---|---|---|---|\n"
    );
    for &(w, h) in sizes {
        let bps = gstrpicamsrc2::rpih264enc::level::auto_bitrate(w, h, 30.0) as u32;
        let (caps, input) = h264::capture("rpicamsrc2", w, h, frames);
        let encs = h264::encoders(bps, "");
        let mut fps = vec![Vec::new(); encs.len()];
        let mut cpu = vec![Vec::new(); encs.len()];
        let mut streams = vec![Vec::new(); encs.len()];
        for _ in 0..repeats {
            for (i, (_, desc)) in encs.iter().enumerate() {
                let (f, c, b) = h264::timed_encode(desc, &caps, &input);
                fps[i].push(f);
                cpu[i].push(c);
                streams[i] = b;
            }
        }
        let q: Vec<(f64, f64)> = streams
            .iter()
            .map(|s| h264::quality(s, &input, w, h))
            .collect();
        for (i, (name, _)) in encs.iter().enumerate() {
            let fr = util::paired_ratio(&fps[0], &fps[i]);
            let cr = util::paired_ratio(&cpu[0], &cpu[i]);
            body += &format!(
                "| {w}x{h} | {name} | {} | {} | {:.2} | {:.0} | {} | {} |\n",
                Summary::of(&fps[i]).fmt(1),
                Summary::of(&cpu[i]).fmt(2),
                q[i].0,
                q[i].1,
                if i == 0 { "-".into() } else { fmt_ratio(fr) },
                if i == 0 { "-".into() } else { fmt_ratio(cr) },
            );
            if i == 0 {
                continue;
            }
            r.line(Line {
                row: "5",
                what: format!("H.264 {w}x{h} CPU/frame (PSNR dB)"),
                how: format!("appsrc ! enc ! appsink, {:.2} Mbit/s", f64::from(bps) / 1e6),
                ours: format!(
                    "rpih264enc {} ms ({:.2} dB, {:.1} fps)",
                    Summary::of(&cpu[0]).fmt(2),
                    q[0].0,
                    Summary::of(&fps[0]).median
                ),
                repeats: format!("{}", cpu[0].len()),
                peer: name.to_string(),
                peer_value: format!(
                    "{} ms ({:.2} dB, {:.1} fps)",
                    Summary::of(&cpu[i]).fmt(2),
                    q[i].0,
                    Summary::of(&fps[i]).median
                ),
                ratio: format!("CPU {}", fmt_ratio(cr)),
            });
            if *name == "openh264enc" {
                r.check(
                    format!("row 5: rpih264enc CPU/frame within bound of openh264enc's ({w}x{h})"),
                    cr.n > 0 && cr.median <= bounds::H264_CPU_RATIO,
                    format!(
                        "median ratio {:.2} (bound {})",
                        cr.median,
                        bounds::H264_CPU_RATIO
                    ),
                );
            }
        }
        r.check(
            format!("row 5: rpih264enc PSNR floor ({w}x{h})"),
            q[0].0 >= bounds::H264_PSNR_DB,
            format!("{:.2} dB (floor {})", q[0].0, bounds::H264_PSNR_DB),
        );
    }
    r.section("Row 5: H.264", body);
}

// ---------------------------------------------------------------------------------------------
// Row 6

fn row6(r: &mut Report, opts: &Opts) {
    println!("row 6: latency");
    let repeats = if opts.quick { 3 } else { 5 };
    let hd_caps = "video/x-raw,format=NV12,width=1920,height=1080,framerate=30/1";
    let mut body = String::new();
    // 6a
    let static_src = format!("rpicamsrc2 camera-name=sim:imx219 {}", cost::STATIC_SCENE);
    let sources = [
        ("rpicamsrc2", "rpicamsrc2 camera-name=sim:imx219"),
        ("videotestsrc", "videotestsrc is-live=true"),
        ("rpicamsrc2 static", static_src.as_str()),
    ];
    let mut first: Vec<Vec<f64>> = vec![Vec::new(); sources.len()];
    for _ in 0..repeats {
        for (i, (_, s)) in sources.iter().enumerate() {
            if opts.quick && i == 2 {
                continue;
            }
            match latency::first_buffer(s, hd_caps) {
                Ok(ms) => first[i].push(ms),
                Err(e) => eprintln!("row 6 first buffer {s}: {e}"),
            }
        }
    }
    body += &format!(
        "PLAYING to first buffer: wall time from `set_state(Playing)` on a NULL pipeline to the \
         first buffer at `fakesink sync=false`, {hd_caps}, {repeats} repeats. rpicamsrc2 opens \
         the simulated camera, negotiates, configures and starts it; the simulation then builds \
         its scene textures (configure-time work standing in for a real sensor's start-up) and \
         renders the first frame.\n\n| source | ms |\n|---|---|\n| rpicamsrc2 (default scene: moving, noise) | {} |\n| rpicamsrc2 (static scene) | {} |\n| videotestsrc is-live=true | {} |\n",
        Summary::of(&first[0]).fmt(1),
        Summary::of(&first[2]).fmt(1),
        Summary::of(&first[1]).fmt(1)
    );
    r.line(Line {
        row: "6",
        what: "PLAYING to first buffer, 1080p30".into(),
        how: "set_state → first buffer at the sink".into(),
        ours: format!("{} ms", Summary::of(&first[0]).fmt(1)),
        repeats: format!("{}", first[0].len()),
        peer: "videotestsrc is-live".into(),
        peer_value: format!("{} ms", Summary::of(&first[1]).fmt(1)),
        ratio: fmt_ratio(util::paired_ratio(&first[0], &first[1])),
    });
    // 6b
    body += "\nControl to metadata: set while PLAYING from the source pad's streaming thread as \
             frame 8 leaves; the first frame whose metadata shows the value. *From the pad*: \
             frames after frame 8 (what an application sees: it includes how far the capture \
             thread is ahead of the pad, which grows when the machine is busy). *From the \
             request*: frames after the request that carried the control (the frame the camera \
             was about to start, `frames-captured` read just before and after setting it): the \
             sensor's delay, which libcamera's DelayedControls applies on a Pi.\n\n\
             | sensor | control | frames from the pad | frames from the request | sensor delay |\n|---|---|---|---|---|\n";
    let ctl_repeats = if opts.quick { 2 } else { 3 };
    for sensor in ["imx219", "imx477"] {
        for control in [
            latency::Control::ExposureTime(5000),
            latency::Control::AnalogueGain(7.0),
        ] {
            let (mut pad, mut req) = (Vec::new(), Vec::new());
            let mut err = None;
            for _ in 0..ctl_repeats + 2 {
                if pad.len() == ctl_repeats {
                    break;
                }
                match latency::control_delay(sensor, control, 8) {
                    Ok(d) => {
                        pad.push(d.from_pad as f64);
                        req.push(d.from_request as f64);
                    }
                    Err(e) => err = Some(e),
                }
            }
            let (sp, sr) = (Summary::of(&pad), Summary::of(&req));
            let expected = control.sensor_delay(sensor);
            body += &format!(
                "| {sensor} | {} | {} | {} | {expected} |\n",
                control.label(),
                if pad.is_empty() {
                    format!("failed: {}", err.clone().unwrap_or_default())
                } else {
                    sp.fmt(0)
                },
                sr.fmt(0)
            );
            r.line(Line {
                row: "6",
                what: format!("control → metadata, {sensor} {}", control.label()),
                how: "set as frame 8 leaves; first frame showing it".into(),
                ours: format!(
                    "{} frames from the pad, {} from the request",
                    sp.fmt(0),
                    sr.fmt(0)
                ),
                repeats: format!("{}", pad.len()),
                peer: "sensor delay (DelayedControls)".into(),
                peer_value: format!("{expected} frames"),
                ratio: "-".into(),
            });
            r.check(
                format!(
                    "row 6: {sensor} {} takes effect after exactly the sensor delay",
                    control.label()
                ),
                !req.is_empty() && req.iter().all(|&d| d == f64::from(expected)),
                format!(
                    "{} frames from the request (sensor delay {expected}){}",
                    sr.fmt(0),
                    err.map(|e| format!("; {e}")).unwrap_or_default()
                ),
            );
        }
    }
    // 6c
    let frames = if opts.quick { 30 } else { 60 };
    let push_runs = if opts.quick { 2 } else { 3 };
    body += &format!(
        "\nCapture to push: for each buffer leaving the source (pad probe), CLOCK_MONOTONIC now \
         minus its SensorTimestamp (start of frame), and running time now minus PTS; {frames} \
         frames of {hd_caps} after 5 of start-up, {} runs, p50/p99 of all buffers \
         (median over runs). The simulation delivers a frame at its start (a real sensor adds \
         its readout, about one frame time); with the default scene the capture thread's \
         rendering of the moving, noisy scene is included (the Pi's ISP does that in hardware).\n\n\
         | source | SensorTimestamp → push p50 / p99 ms | PTS → push p50 / p99 ms |\n|---|---|---|\n",
        push_runs
    );
    let srcs = [
        (
            "rpicamsrc2, static scene",
            format!("rpicamsrc2 camera-name=sim:imx219 {}", cost::STATIC_SCENE),
        ),
        (
            "rpicamsrc2, default scene (moving, noise)",
            "rpicamsrc2 camera-name=sim:imx219".to_string(),
        ),
        (
            "videotestsrc is-live=true",
            "videotestsrc is-live=true".to_string(),
        ),
    ];
    let mut lat: Vec<Vec<latency::PushLatency>> = vec![Vec::new(); srcs.len()];
    for _ in 0..push_runs {
        for (i, (_, s)) in srcs.iter().enumerate() {
            // --quick: the moving scene only adds the simulator's rendering.
            if opts.quick && i == 1 {
                continue;
            }
            match latency::capture_to_push(s, hd_caps, frames) {
                Ok(x) => lat[i].push(x),
                Err(e) => eprintln!("row 6 capture to push {s}: {e}"),
            }
        }
    }
    let med = |v: &[latency::PushLatency], f: fn(&latency::PushLatency) -> f64| {
        Summary::of(&v.iter().map(f).collect::<Vec<_>>())
    };
    for (i, (label, _)) in srcs.iter().enumerate() {
        let v = &lat[i];
        let sensor = if i < 2 {
            format!(
                "{} / {}",
                med(v, |x| x.sensor_p50).fmt(2),
                med(v, |x| x.sensor_p99).fmt(2)
            )
        } else {
            "- (no sensor timestamp)".into()
        };
        body += &format!(
            "| {label} | {sensor} | {} / {} |\n",
            med(v, |x| x.pts_p50).fmt(2),
            med(v, |x| x.pts_p99).fmt(2)
        );
    }
    let o: Vec<f64> = lat[0].iter().map(|x| x.pts_p50).collect();
    let p: Vec<f64> = lat[2].iter().map(|x| x.pts_p50).collect();
    r.line(Line {
        row: "6",
        what: "capture → push p50, 1080p30 static scene".into(),
        how: "running time at src pad - PTS".into(),
        ours: format!(
            "{} ms (sensor ts: {} ms)",
            Summary::of(&o).fmt(2),
            med(&lat[0], |x| x.sensor_p50).fmt(2)
        ),
        repeats: format!("{}", o.len()),
        peer: "videotestsrc is-live".into(),
        peer_value: format!("{} ms", Summary::of(&p).fmt(2)),
        ratio: fmt_ratio(util::paired_ratio(&o, &p)),
    });
    r.section("Row 6: latency", body);
}

// ---------------------------------------------------------------------------------------------
// Row 7

fn row7(r: &mut Report, opts: &Opts, repo: &Path) {
    println!("row 7: libcamera backend in the trixie root");
    let peer_note = "libcamerasrc cannot capture here: libcamera's FrameBufferAllocator needs a \
                     dma-buf heap or udmabuf, which this kernel lacks (\"Could not open any \
                     dma-buf provider\"); no number is given for it.";
    match libcamera::run(repo, opts.quick, 300, 3) {
        libcamera::Outcome::NotRun(why) | libcamera::Outcome::Failed(why) => {
            r.line(Line {
                row: "7",
                what: "libcamera backend (trixie root): frames/s, CPU/frame".into(),
                how: "scripts/trixie-root.sh bench".into(),
                ours: why.clone(),
                repeats: "-".into(),
                peer: "libcamerasrc".into(),
                peer_value: "cannot capture here (no dma-buf)".into(),
                ratio: "-".into(),
            });
            r.section(
                "Row 7: libcamera backend in the trixie root",
                format!("{why}\n\n{peer_note}"),
            );
        }
        libcamera::Outcome::Ran {
            script,
            frames,
            lines,
        } => {
            let mut body = format!(
                "`bash {} bench {frames}` (examples/libcamera_bench.rs in the Debian trixie root: \
                 libcamera 0.4 with its virtual pipeline handler, GStreamer 1.26), {} runs. \
                 The virtual camera is not paced (a request completes as soon as it is queued), \
                 so frames/s is how fast the stack goes, and process CPU includes libcamera \
                 drawing the test pattern (the \"sensor\"). `backend`: the CameraBackend trait \
                 alone; `element`: `rpicamsrc2 ! fakesink`. *Own threads*: the CPU of the \
                 threads named rpicamsrc2* (the backend's request thread, the element's \
                 capture thread and streaming task) from /proc/self/task, per frame; the rest \
                 is mostly libcamera's thread drawing the pattern.\n\n\
                 | what | frames/s | CPU ms/frame (process) | own threads ms/frame |\n|---|---|---|---|\n",
                script.display(),
                lines.first().map(|l| l.fps.len()).unwrap_or(0)
            );
            for l in &lines {
                body += &format!(
                    "| {} | {} | {} | {} |\n",
                    l.what,
                    l.fps().fmt(1),
                    l.cpu().fmt(3),
                    l.own().fmt(3)
                );
                if l.what.starts_with("element") {
                    r.line(Line {
                        row: "7",
                        what: format!("libcamera backend, {}", l.what),
                        how: "trixie root, virtual camera, unpaced".into(),
                        ours: format!(
                            "{} fps, {} ms/frame (own threads {} ms)",
                            l.fps().fmt(1),
                            l.cpu().fmt(3),
                            l.own().fmt(3)
                        ),
                        repeats: format!("{}", l.fps.len()),
                        peer: "libcamerasrc".into(),
                        peer_value: "cannot capture here (no dma-buf)".into(),
                        ratio: "-".into(),
                    });
                }
            }
            body += &format!("\n{peer_note}");
            r.section("Row 7: libcamera backend in the trixie root", body);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Memory

struct MemRun {
    ours: Result<memory::Sampler, String>,
    peer: Option<Result<memory::Sampler, String>>,
}

fn start_memory(dir: &Path, secs: u64, quick: bool) -> MemRun {
    println!("memory: main job for {secs} s in a gst-launch-1.0 child (sampled every second)");
    let _ = std::fs::create_dir_all(dir);
    let plugin = memory::plugin_dir(dir);
    let start = |desc: String, out: PathBuf| -> Result<memory::Sampler, String> {
        let p = plugin.clone()?;
        memory::Sampler::start(&desc, &p, dir, out, secs as f64)
    };
    let ours_out = dir.join("ours.mp4");
    let ours = start(memory::main_job(&ours_out), ours_out);
    let peer = (!quick).then(|| {
        let out = dir.join("peer.mp4");
        start(memory::peer_job(&out), out)
    });
    MemRun { ours, peer }
}

type MemOutcome = Result<(memory::MemResult, Option<u64>), String>;

fn finish_memory(r: &mut Report, m: MemRun, secs: u64) {
    let timeout = Duration::from_secs(secs * 2 + 60);
    let finish = |s: Result<memory::Sampler, String>| -> MemOutcome {
        let s = s?;
        let out = s.out.clone();
        let res = s.finish(timeout)?;
        Ok((res, memory::mp4_frames(&out)))
    };
    let ours = finish(m.ours);
    let peer = m.peer.map(finish);
    let mut body = format!(
        "The main job's recording, `gst-launch-1.0 -e {}`, stopped with SIGINT (EOS) after \
         {secs} s, in a child process (GST_PLUGIN_PATH = this build's plugin). VmRSS/VmHWM and \
         the child's CPU time (utime + stime) from /proc/PID every second; settled = the first \
         sample after a sixth of the run (a third in --quick); slope = least squares over the samples after that; \
         frames = packets in the MP4 (ffprobe), against {secs} s x 30 fps. It runs while the \
         callgrind and zero-copy rows run (their results are counts), so the machine is busier \
         than usual. Peer (full run only, at the same time): `{}`.\n\n\
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
    body += "\nFewer frames than the duration x 30 means the pipeline could not keep up on this \
             (shared) machine: the camera loses the frames it has no free buffer for, the \
             recording stays complete.";
    r.section("Memory: the main job", body);
    let peer_peak = peer
        .as_ref()
        .and_then(|p| p.as_ref().ok())
        .map(|(p, _)| p.peak_kb as f64 / 1024.0);
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
