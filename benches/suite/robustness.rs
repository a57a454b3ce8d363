// SPDX-License-Identifier: MPL-2.0
//! The robustness row: the fuzz, state cycles and soak of `tests/robustness.rs` (the same code,
//! `tests/common/robust.rs`), run in this process with the figures reported and the tests'
//! bounds checked. Full run: 2000 fuzz steps, 500 cycles, a 120 s soak (as the tests); quick
//! run: 300 steps, 100 cycles, a 20 s soak.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::report::{Line, Report};

#[path = "../../tests/common/robust.rs"]
mod robust;

/// Runs `f`; a panic (a state change past its bound) becomes `Err` with its message.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into())
    })
}

fn line(r: &mut Report, what: &str, how: &str, ours: String) {
    r.line(Line {
        row: "robust",
        what: what.into(),
        how: how.into(),
        ours,
        repeats: "1".into(),
        peer: "-".into(),
        peer_value: "-".into(),
        ratio: "-".into(),
    });
}

/// Runs the three and adds their lines, section and checks to `r`.
pub fn row(r: &mut Report, quick: bool) {
    println!("row robust: fuzz, state cycles, soak");
    let (steps, n, secs) = if quick {
        (300, 100, 20)
    } else {
        (2000, 500, 120)
    };
    let seed = robust::seed();
    let mut body = format!(
        "The code of `tests/robustness.rs` (`tests/common/robust.rs`), in the suite's process. \
         Fuzz: seed {seed} (`RPICAMSRC2_FUZZ_SEED`), {steps} steps on `rpicamsrc2 ! capsfilter ! \
         fakesink` (a random writable property set from a string in range, at or past its \
         bounds or malformed; random caps; random state changes; a new pipeline every 100 \
         steps), then {} short `rpih264enc` streams with fuzzed properties; a watchdog aborts \
         on {} s without progress. Cycles: {n} NULL→PLAYING→NULL of a 320x240 pipeline, each \
         waiting for a buffer, after 20 warm-up ones. Soak: 640x480 at 30 fps for {secs} s, RSS \
         sampled each second once settled.\n\n| run | figures |\n|---|---|\n",
        steps / 20,
        robust::WATCHDOG.as_secs()
    );

    match guarded(|| robust::fuzz(seed, steps)) {
        Ok(f) => {
            body += &format!("| fuzz | {f} |\n");
            line(
                r,
                &format!("fuzz, {steps} steps + {} encoder runs", f.encoder_runs),
                "seeded property/caps/state fuzz, bounded state changes",
                format!(
                    "no panic, crash or deadlock; {} buffers; {:.1} s + {:.1} s",
                    f.buffers, f.camera_secs, f.encoder_secs
                ),
            );
            r.check(
                "robust: the fuzz streamed",
                f.buffers > 0,
                format!("{} buffers reached the sink", f.buffers),
            );
        }
        Err(e) => {
            body += &format!("| fuzz | failed: {e} |\n");
            r.check("robust: fuzz", false, e);
        }
    }

    match guarded(|| robust::cycles(n)) {
        Ok(c) => {
            body += &format!("| cycles | {c} |\n");
            let ((t0, t1), (f0, f1), (r0, r1)) = (c.threads, c.fds, c.rss_kib);
            let (h0, h1) = c.heap_kib;
            line(
                r,
                &format!("{n} NULL→PLAYING→NULL cycles"),
                "threads, fds, RSS, C heap in use after 20 warm-up cycles and at the end",
                format!(
                    "threads {t0}→{t1}, fds {f0}→{f1}, RSS {:+} KiB, heap {:+} KiB; {:.1} s",
                    r1 as i64 - r0 as i64,
                    h1 as i64 - h0 as i64,
                    c.secs
                ),
            );
            r.check(
                "robust: cycles release threads, fds and memory",
                t1 <= t0 + 2 && f1 <= f0 + 2 && r1 < r0 + 8 * 1024 && h1 < h0 + 8 * 1024,
                format!(
                    "threads {t0}→{t1}, fds {f0}→{f1} (bound +2 each), RSS {r0}→{r1} KiB, \
                     heap {h0}→{h1} KiB (bound +8 MiB each)"
                ),
            );
        }
        Err(e) => {
            body += &format!("| cycles | failed: {e} |\n");
            r.check("robust: cycles", false, e);
        }
    }

    match guarded(|| robust::soak(secs)) {
        Ok(s) => {
            body += &format!("| soak | {s} |\n");
            line(
                r,
                &format!("soak, {secs} s at 640x480 30 fps"),
                "VmRSS each second once settled: (max-min)/mean",
                format!(
                    "{:.2} % ({} to {} KiB), {} frames",
                    s.spread_percent(),
                    s.min_kib,
                    s.max_kib,
                    s.frames
                ),
            );
            r.check(
                "robust: soak RSS flat",
                s.frames > 0 && s.spread_percent() <= 5.0,
                format!(
                    "{} frames, spread {:.2} % (bound 5 %)",
                    s.frames,
                    s.spread_percent()
                ),
            );
        }
        Err(e) => {
            body += &format!("| soak | failed: {e} |\n");
            r.check("robust: soak", false, e);
        }
    }
    r.section("Robustness: fuzz, state cycles, soak", body);
}
