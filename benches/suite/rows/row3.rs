// SPDX-License-Identifier: MPL-2.0
//! Row 3: frame delivery (drops, PTS jitter at every simulated mode's maximum rate). Methods: docs/benchmarks.md.

use crate::*;

pub(crate) fn row3(r: &mut Report, opts: &Opts) {
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
