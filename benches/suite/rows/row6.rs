// SPDX-License-Identifier: MPL-2.0
//! Row 6: latency (PLAYING to first buffer, control to metadata, capture to push). Methods: docs/benchmarks.md.

use crate::*;

pub(crate) fn row6(r: &mut Report, opts: &Opts) {
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
    let mut first_cpu: Vec<Vec<f64>> = vec![Vec::new(); sources.len()];
    for _ in 0..repeats {
        for (i, (_, s)) in sources.iter().enumerate() {
            if opts.quick && i == 2 {
                continue;
            }
            match latency::first_buffer(s, hd_caps) {
                Ok(fb) => {
                    first[i].push(fb.wall_ms);
                    first_cpu[i].push(fb.cpu_ms);
                }
                Err(e) => eprintln!("row 6 first buffer {s}: {e}"),
            }
        }
    }
    // The frame period at hd_caps' 30 fps, ms.
    let period_ms = 1000.0 / 30.0;
    let periods = |v: &[f64]| v.iter().map(|ms| ms / period_ms).collect::<Vec<_>>();
    let cell = |i: usize| {
        format!(
            "{} | {} | {} | {}",
            Summary::of(&first[i]).fmt(1),
            Summary::of(&periods(&first[i])).fmt(2),
            Summary::of(&first_cpu[i]).fmt(1),
            Summary::of(&periods(&first_cpu[i])).fmt(2)
        )
    };
    body += &format!(
        "PLAYING to first buffer: wall time from `set_state(Playing)` on a NULL pipeline to the \
         first buffer at `fakesink sync=false`, {hd_caps}, {repeats} repeats, in ms and in frame \
         periods ({period_ms:.1} ms), and the process's CPU time (getrusage, all threads) over \
         the same span: the work start-up needs, which a busy machine does not inflate (the \
         wall time is that plus waiting for a core). rpicamsrc2 opens the simulated camera, \
         negotiates, configures and starts it; the simulation builds its scene textures (each \
         distinct row once) and renders the first frame, which it delivers at the frame's start \
         (a real sensor's first frame comes after its exposure and readout, about one frame \
         period, and on a first start libcamera on a Pi drops 7 frames while AE/AWB converge: \
         docs/benchmarks.md). Goal: at most 2 frame periods.\n\n\
         | source | wall ms | wall, frame periods | CPU ms | CPU, frame periods |\n|---|---|---|---|---|\n\
         | rpicamsrc2 (default scene: moving, noise) | {} |\n\
         | rpicamsrc2 (static scene) | {} |\n\
         | videotestsrc is-live=true | {} |\n",
        cell(0),
        cell(2),
        cell(1),
    );
    let (wall, cpu) = (
        Summary::of(&periods(&first[0])),
        Summary::of(&periods(&first_cpu[0])),
    );
    r.line(Line {
        row: "6",
        what: "PLAYING to first buffer, 1080p30".into(),
        how: "set_state → first buffer at the sink".into(),
        ours: format!(
            "{} ms = {} frame periods (CPU {} periods)",
            Summary::of(&first[0]).fmt(1),
            wall.fmt(2),
            cpu.fmt(2)
        ),
        repeats: format!("{}", first[0].len()),
        peer: "videotestsrc is-live".into(),
        peer_value: format!("{} ms", Summary::of(&first[1]).fmt(1)),
        ratio: fmt_ratio(util::paired_ratio(&first[0], &first[1])),
    });
    r.check(
        "row 6: PLAYING to first buffer needs at most 2 frame periods of CPU (simulated camera, 1080p30)",
        !first_cpu[0].is_empty() && cpu.median <= bounds::FIRST_BUFFER_PERIODS,
        format!(
            "median {} frame periods of CPU ({} of wall time) over {} runs (bound {})",
            cpu.fmt(2),
            wall.fmt(2),
            first_cpu[0].len(),
            bounds::FIRST_BUFFER_PERIODS
        ),
    );
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
