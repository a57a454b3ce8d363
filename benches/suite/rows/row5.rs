// SPDX-License-Identifier: MPL-2.0
//! Row 5: H.264 (rpih264enc against x264enc and openh264enc: CPU, fps, PSNR). Methods: docs/benchmarks.md.

use crate::*;

pub(crate) fn row5(r: &mut Report, opts: &Opts) {
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
