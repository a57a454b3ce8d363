// SPDX-License-Identifier: MPL-2.0
//! Row 1: what the source path costs per frame (CPU against videotestsrc; callgrind instructions). Methods: docs/benchmarks.md.

use crate::*;

pub(crate) fn row1_callgrind(r: &mut Report, opts: &Opts, tmp: &Path) {
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

pub(crate) fn row1_cpu(r: &mut Report, opts: &Opts) {
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
