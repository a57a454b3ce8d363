// SPDX-License-Identifier: MPL-2.0
//! Row `rtp`: capture to the network and to a decoded frame over RTSP on loopback, for the
//! server's default and low-latency configurations and the x264enc peer. Methods:
//! docs/benchmarks.md and docs/latency.md.

use crate::rtp::{self, Config, RtpRun};
use crate::*;

pub(crate) fn row_rtp(r: &mut Report, opts: &Opts) {
    println!("row rtp: RTSP/RTP latency on loopback");
    let fps = 30u32;
    let sizes: &[(u32, u32)] = if opts.quick {
        &[(640, 480)]
    } else {
        &[(1280, 720), (640, 480)]
    };
    let runs = if opts.quick { 2 } else { 3 };
    let (warmup, frames) = if opts.quick { (30, 60) } else { (30, 120) };
    let frame_ms = 1000.0 / f64::from(fps);
    let mut body = format!(
        "An RTSP server (gst-rtsp-server, 127.0.0.1) and the client `rtspsrc latency=0 ! \
         rtph264depay ! avdec_h264 ! fakesink sync=false` in the bench process, all timed with \
         CLOCK_MONOTONIC. Per frame: *capture* = rpicamsrc2's SensorTimestamp (start of \
         exposure; the simulated camera delivers the frame at once, a real sensor after its \
         readout), for videotestsrc the time the frame is due (base time + running time of its \
         PTS, its equivalent of a sensor timestamp); *sent* = the frame's last RTP packet \
         (marker bit) reaching the server's network sink; *decoded* = the frame leaving the \
         client's decoder; *encode* = encoder sink pad to src pad. Frames are matched by RTP \
         timestamp. {frames} frames after {warmup} of start-up, {runs} runs per configuration \
         (interleaved), {fps} fps, the same bitrate for all (rpih264enc's automatic one: 6 \
         Mbit/s at 1080p30 scaled by pixels); p50/p99 over the frames of a run, median \
         (min-max) over runs. *Bound* = 1 frame period + encode p50: the goal for the added \
         latency of our elements (capture to sent). *Dropped*: frames the low-latency \
         configuration's leaky queue dropped because the encoder was still busy (by design: a \
         late frame is skipped, not queued). *Lost*: frames that reached the encoder but never \
         the network / were sent but never decoded, within the measured window, summed over \
         runs. The server configurations are built from \
         `src/bin/rpicam-rtsp-server/launch.rs`, what the binary serves.\n\n\
         | size | configuration | engine | network sink | encode p50 ms | capture → sent p50 / p99 ms | capture → decoded p50 / p99 ms | bound ms | dropped before the encoder | lost (server / client) |\n\
         |---|---|---|---|---|---|---|---|---|---|\n"
    );
    for &(w, h) in sizes {
        let bitrate = (6_000_000u64 * u64::from(w * h) / (1920 * 1080)) as u32;
        let mut res: Vec<Vec<RtpRun>> = vec![Vec::new(); Config::ALL.len()];
        let mut errs: Vec<Option<String>> = vec![None; Config::ALL.len()];
        for _ in 0..runs {
            for (i, c) in Config::ALL.iter().enumerate() {
                match rtp::measure(
                    &c.launch(w, h, fps, bitrate),
                    *c == Config::LowLatency,
                    fps,
                    warmup,
                    frames,
                ) {
                    Ok(x) => res[i].push(x),
                    Err(e) => {
                        eprintln!("row rtp {} {w}x{h}: {e}", c.label());
                        errs[i] = Some(e);
                    }
                }
            }
        }
        let med = |v: &[RtpRun], f: &dyn Fn(&RtpRun) -> f64| {
            Summary::of(&v.iter().map(f).collect::<Vec<_>>())
        };
        let mut sent_p50 = Vec::new();
        // The machine's scheduling delay on the same path, measured interleaved: the peer's
        // capture → sent p50 beyond its own encode time.
        let peer = &res[2];
        let allowance = med(peer, &|x| {
            (rtp::p50_p99(&x.sent).0 - rtp::p50_p99(&x.encode).0).max(0.0)
        })
        .median;
        for (i, c) in Config::ALL.iter().enumerate() {
            let v = &res[i];
            let enc = med(v, &|x| rtp::p50_p99(&x.encode).0);
            let s50 = med(v, &|x| rtp::p50_p99(&x.sent).0);
            let s99 = med(v, &|x| rtp::p50_p99(&x.sent).1);
            let d50 = med(v, &|x| rtp::p50_p99(&x.decoded).0);
            let d99 = med(v, &|x| rtp::p50_p99(&x.decoded).1);
            let dropped: usize = v.iter().map(|x| x.dropped).sum();
            let lost_s: usize = v.iter().map(|x| x.lost_server).sum();
            let lost_c: usize = v.iter().map(|x| x.lost_client).sum();
            let bound = frame_ms + enc.median;
            let first = v.first();
            body += &format!(
                "| {w}x{h} | {} | {} | {} | {} | {} / {} | {} / {} | {:.1} | {dropped} | {lost_s} / {lost_c} |\n",
                c.label(),
                first.map(|x| x.engine.as_str()).unwrap_or("-"),
                first.map(|x| x.sink.as_str()).unwrap_or("-"),
                enc.fmt(2),
                s50.fmt(1),
                s99.fmt(1),
                d50.fmt(1),
                d99.fmt(1),
                bound,
            );
            sent_p50.push(
                v.iter()
                    .map(|x| rtp::p50_p99(&x.sent).0)
                    .collect::<Vec<_>>(),
            );
            if *c == Config::Peer {
                continue;
            }
            // An encoder slower than the frame rate (a starved machine) cannot meet any bound:
            // reported, not checked.
            let keeps_up = enc.median < frame_ms;
            let limit = bound + bounds::RTP_MARGIN_MS + allowance;
            r.check(
                format!(
                    "row rtp: {} {w}x{h} capture → sent p50 within 1 frame + encode",
                    c.label()
                ),
                !v.is_empty() && (!keeps_up || s50.median <= limit),
                format!(
                    "{:.1} ms, bound {:.1} + {:.0} ms margin + {:.1} ms the peer's scheduling                      delay{}{}",
                    s50.median,
                    bound,
                    bounds::RTP_MARGIN_MS,
                    allowance,
                    if keeps_up {
                        String::new()
                    } else {
                        format!(
                            "; not checked: encode p50 {:.1} ms > frame period (machine starved)",
                            enc.median
                        )
                    },
                    errs[i]
                        .as_ref()
                        .map(|e| format!("; {e}"))
                        .unwrap_or_default()
                ),
            );
            r.check(
                format!("row rtp: {} {w}x{h} loses no frame", c.label()),
                !v.is_empty() && lost_s == 0 && lost_c == 0,
                format!(
                    "{lost_s} lost at the server, {lost_c} at the client in {} runs",
                    v.len()
                ),
            );
        }
        let (ll, peer) = (&res[1], &res[2]);
        r.line(Line {
            row: "rtp",
            what: format!("capture → last RTP packet sent p50, {w}x{h}@{fps}, --low-latency"),
            how: "sensor ts → marker packet at the server's udpsink".into(),
            ours: format!("{} ms", med(ll, &|x| rtp::p50_p99(&x.sent).0).fmt(1)),
            repeats: format!("{}", ll.len()),
            peer: "videotestsrc ! x264enc zerolatency".into(),
            peer_value: format!("{} ms", med(peer, &|x| rtp::p50_p99(&x.sent).0).fmt(1)),
            ratio: fmt_ratio(util::paired_ratio(&sent_p50[1], &sent_p50[2])),
        });
        let dec = |v: &[RtpRun]| {
            v.iter()
                .map(|x| rtp::p50_p99(&x.decoded).0)
                .collect::<Vec<_>>()
        };
        r.line(Line {
            row: "rtp",
            what: format!("capture → decoded at the client p50, {w}x{h}@{fps}, --low-latency"),
            how: "rtspsrc latency=0 ! rtph264depay ! avdec_h264".into(),
            ours: format!("{} ms", Summary::of(&dec(ll)).fmt(1)),
            repeats: format!("{}", ll.len()),
            peer: "videotestsrc ! x264enc zerolatency".into(),
            peer_value: format!("{} ms", Summary::of(&dec(peer)).fmt(1)),
            ratio: fmt_ratio(util::paired_ratio(&dec(ll), &dec(peer))),
        });
    }
    r.section("Row rtp: RTSP/RTP latency on loopback", body);
}
