// SPDX-License-Identifier: MPL-2.0
//! Row 4: high-rate JPEG dumps (against videotestsrc ! jpegenc, and parallel JPEG paths). Methods: docs/benchmarks.md.

use crate::*;

pub(crate) fn row4(r: &mut Report, opts: &Opts) {
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
