// SPDX-License-Identifier: MPL-2.0
//! Row `rtp`: latency over RTSP/RTP on loopback (issue 18 §4).
//!
//! An RTSP server runs in this process (gst-rtsp-server on 127.0.0.1, a shared media built
//! from a launch line) and a client pipeline in this process plays it:
//! `rtspsrc latency=0 ! rtph264depay ! avdec_h264 ! fakesink sync=false`. Everything is
//! timed with CLOCK_MONOTONIC (GStreamer's system clock is monotonic too), so for each frame:
//!
//! * *capture*: its `SensorTimestamp` (rpicamsrc2's frame metadata: start of exposure), or
//!   for the peer `videotestsrc is-live=true`, the time the frame is due: base time + running
//!   time of its PTS (the peer's equivalent of a sensor timestamp);
//! * *encode*: the encoder's sink pad to its src pad (per frame, by PTS);
//! * *sent*: the last RTP packet of the frame (marker bit) reaching the server's network sink
//!   (multiudpsink for UDP, appsink for RTP over TCP), matched by RTP timestamp (the
//!   payloader's src pad maps RTP timestamp to PTS, the source's pad PTS to capture time);
//! * *decoded*: the frame leaving the client's decoder, matched by RTP timestamp (the
//!   depayloader pushes an access unit while handling its marker packet, so the decoder's input
//!   carries the RTP timestamp last seen at the depayloader; the decoder keeps PTS).
//!
//! The server's launch lines come from the server binary's own `launch.rs`, so the default and
//! low-latency configurations measured are exactly what `rpicam-rtsp-server` serves.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;

use crate::util::{self, quantile};

/// The server binary's launch lines (one declaration, shared).
#[path = "../../src/bin/rpicam-rtsp-server/launch.rs"]
pub mod server;

/// The configurations the row compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Config {
    /// `rpicam-rtsp-server`'s default pipeline.
    Default,
    /// `rpicam-rtsp-server --low-latency`.
    LowLatency,
    /// `videotestsrc is-live=true ! x264enc tune=zerolatency speed-preset=ultrafast !
    /// rtph264pay`.
    Peer,
}

impl Config {
    pub const ALL: [Config; 3] = [Config::Default, Config::LowLatency, Config::Peer];

    pub fn label(self) -> &'static str {
        match self {
            Config::Default => "rpicam-rtsp-server (default)",
            Config::LowLatency => "rpicam-rtsp-server --low-latency",
            Config::Peer => "videotestsrc ! x264enc tune=zerolatency ! rtph264pay",
        }
    }

    /// The media's launch line at `w`x`h` and `fps`, `bitrate` bits/s (the same for all).
    pub fn launch(self, w: u32, h: u32, fps: u32, bitrate: u32) -> String {
        match self {
            Config::Default | Config::LowLatency => server::launch(&server::Mount {
                camera_name: Some("sim:imx219"),
                width: w,
                height: h,
                framerate: fps,
                bitrate,
                low_latency: self == Config::LowLatency,
            }),
            // Same key-frame interval as the server's default (one a second).
            Config::Peer => format!(
                "videotestsrc is-live=true ! video/x-raw,width={w},height={h},framerate={fps}/1 \
                 ! x264enc name=enc tune=zerolatency speed-preset=ultrafast bitrate={} \
                 key-int-max={fps} ! rtph264pay name=pay0 pt=96 config-interval=-1",
                bitrate / 1000
            ),
        }
    }
}

/// One run's per-frame results (ms) and counts.
#[derive(Debug, Clone, Default)]
pub struct RtpRun {
    /// Capture to the last RTP packet reaching the server's network sink, per frame.
    pub sent: Vec<f64>,
    /// Capture to the decoded frame leaving the client's decoder, per frame.
    pub decoded: Vec<f64>,
    /// Encoder sink pad to src pad, per frame.
    pub encode: Vec<f64>,
    /// Frames that left the source within the measured window but never reached the encoder
    /// (the low-latency configuration's leaky queue drops a frame when the encoder is busy).
    pub dropped: usize,
    /// Frames that reached the encoder within the measured window but never the network.
    pub lost_server: usize,
    /// Frames sent within the measured window that the client never decoded.
    pub lost_client: usize,
    /// The encoder engine (rpih264enc `active-backend`, or the peer's element).
    pub engine: String,
    /// The network sink the packets went through and its `sync` property.
    pub sink: String,
}

/// What the server side sees, keyed by PTS (ns) and RTP timestamp.
#[derive(Default)]
struct ServerSide {
    /// PTS → capture time (monotonic ns).
    capture: HashMap<u64, u64>,
    /// Source PTS in push order.
    pushed: Vec<u64>,
    /// PTS → time the encoder got the frame.
    enc_in: HashMap<u64, u64>,
    /// Input PTS in the encoder's order, not yet out.
    enc_pending: std::collections::VecDeque<u64>,
    /// Output PTS → input PTS (x264enc offsets every PTS by a constant; no reordering in the
    /// configurations measured, so the n-th output is the n-th input).
    enc_out_in: HashMap<u64, u64>,
    /// Input PTS → encode time, ns.
    encode: HashMap<u64, u64>,
    /// RTP timestamp → output PTS (at the payloader's src pad).
    rtp_pts: HashMap<u32, u64>,
    /// (RTP timestamp, time) of each frame's marker packet at the network sink, in order.
    sent: Vec<(u32, u64)>,
    sent_seen: HashSet<u32>,
    sink: Option<String>,
}

/// What the client side sees.
#[derive(Default)]
struct ClientSide {
    /// RTP timestamp of the last marker packet at the depayloader.
    last_marker: Option<u32>,
    /// Client PTS → RTP timestamp (at the decoder's sink pad).
    dec_in: HashMap<u64, u32>,
    /// RTP timestamp → time the decoded frame left the decoder.
    decoded: HashMap<u32, u64>,
}

/// (marker, RTP timestamp) of an RTP packet of payload type 96; `None` for anything else
/// (RTCP, whose second byte is 200-204, or a short buffer).
fn rtp_marker_ts(b: &gst::BufferRef) -> Option<(bool, u32)> {
    let mut h = [0u8; 8];
    b.copy_to_slice(0, &mut h).ok()?;
    (h[0] >> 6 == 2 && h[1] & 0x7f == 96).then(|| {
        (
            h[1] & 0x80 != 0,
            u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        )
    })
}

/// Calls `f` on every buffer of a buffer or buffer-list probe.
fn each_buffer(info: &gst::PadProbeInfo, mut f: impl FnMut(&gst::BufferRef)) {
    if let Some(b) = info.buffer() {
        f(b);
    } else if let Some(l) = info.buffer_list() {
        for b in l.iter() {
            f(b);
        }
    }
}

/// Base time + running time of `pts` on `pad` (monotonic ns): when a live source's frame is
/// due.
fn due_ns(pad: &gst::Pad, pts: gst::ClockTime) -> Option<u64> {
    let base = pad.parent_element()?.base_time()?;
    let ev = pad.sticky_event::<gst::event::Segment>(0)?;
    let seg = ev.segment().downcast_ref::<gst::ClockTime>()?;
    let rt = seg.to_running_time(pts)?;
    Some((base + rt).nseconds())
}

/// Probes on the media's elements: source, encoder, payloader, and (as they are added) the
/// network sinks.
fn instrument(media: &gst_rtsp_server::RTSPMedia, s: &Arc<Mutex<ServerSide>>) {
    let bin = media.element();
    let Some(bin) = bin.downcast_ref::<gst::Bin>() else {
        return;
    };
    let buf_probe = gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST;
    for e in bin.iterate_recurse().into_iter().flatten() {
        let factory = e
            .factory()
            .map(|f| f.name().to_string())
            .unwrap_or_default();
        if factory == "rpicamsrc2" || factory == "videotestsrc" {
            let s = s.clone();
            e.static_pad("src").expect("source pad").add_probe(
                gst::PadProbeType::BUFFER,
                move |pad, info| {
                    if let Some(b) = info.buffer() {
                        let capture = gstrpicamsrc2::rpicamsrc2::meta::frame_metadata(b)
                            .map(|m| m.sensor_timestamp_ns)
                            .or_else(|| b.pts().and_then(|p| due_ns(pad, p)));
                        if let (Some(pts), Some(c)) = (b.pts(), capture) {
                            let mut g = s.lock().unwrap();
                            g.capture.insert(pts.nseconds(), c);
                            g.pushed.push(pts.nseconds());
                        }
                    }
                    gst::PadProbeReturn::Ok
                },
            );
        }
    }
    if let Some(enc) = bin.by_name("enc") {
        let si = s.clone();
        enc.static_pad("sink").expect("encoder sink pad").add_probe(
            gst::PadProbeType::BUFFER,
            move |_, info| {
                if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                    let mut g = si.lock().unwrap();
                    g.enc_in.insert(pts.nseconds(), util::monotonic_ns());
                    g.enc_pending.push_back(pts.nseconds());
                }
                gst::PadProbeReturn::Ok
            },
        );
        let so = s.clone();
        enc.static_pad("src")
            .expect("encoder src pad")
            .add_probe(buf_probe, move |_, info| {
                let now = util::monotonic_ns();
                let mut g = so.lock().unwrap();
                each_buffer(info, |b| {
                    if let (Some(pts), Some(input)) = (b.pts(), g.enc_pending.pop_front()) {
                        g.enc_out_in.insert(pts.nseconds(), input);
                        if let Some(t) = g.enc_in.get(&input).copied() {
                            g.encode.insert(input, now.saturating_sub(t));
                        }
                    }
                });
                gst::PadProbeReturn::Ok
            });
    }
    if let Some(pay) = bin.by_name("pay0") {
        let s = s.clone();
        pay.static_pad("src")
            .expect("payloader src pad")
            .add_probe(buf_probe, move |_, info| {
                let mut g = s.lock().unwrap();
                each_buffer(info, |b| {
                    if let (Some((_, ts)), Some(pts)) = (rtp_marker_ts(b), b.pts()) {
                        g.rtp_pts.insert(ts, pts.nseconds());
                    }
                });
                gst::PadProbeReturn::Ok
            });
    }
    // The network sinks are created when the media is prepared (after this signal).
    let Some(pipeline) = bin.parent().and_then(|p| p.downcast::<gst::Bin>().ok()) else {
        return;
    };
    let s = s.clone();
    pipeline.connect_deep_element_added(move |_, _, e| {
        let factory = e
            .factory()
            .map(|f| f.name().to_string())
            .unwrap_or_default();
        if factory != "multiudpsink" && factory != "appsink" {
            return;
        }
        let Some(pad) = e.static_pad("sink") else {
            return;
        };
        let s = s.clone();
        let e = e.downgrade();
        pad.add_probe(buf_probe, move |_, info| {
            let now = util::monotonic_ns();
            let mut g = s.lock().unwrap();
            let mut rtp = false;
            each_buffer(info, |b| {
                if let Some((marker, ts)) = rtp_marker_ts(b) {
                    rtp = true;
                    if marker && g.sent_seen.insert(ts) {
                        g.sent.push((ts, now));
                    }
                }
            });
            if rtp && g.sink.is_none() {
                g.sink = e.upgrade().map(|e| {
                    format!(
                        "{} sync={}",
                        e.factory()
                            .map(|f| f.name().to_string())
                            .unwrap_or_default(),
                        e.property::<bool>("sync")
                    )
                });
            }
            gst::PadProbeReturn::Ok
        });
    });
}

/// Probes on the client: the depayloader's input (marker packets), the decoder's input and
/// output.
fn instrument_client(p: &gst::Pipeline, c: &Arc<Mutex<ClientSide>>) {
    let buf_probe = gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST;
    let cd = c.clone();
    util::element(p, "depay")
        .static_pad("sink")
        .expect("depayloader sink pad")
        .add_probe(buf_probe, move |_, info| {
            let mut g = cd.lock().unwrap();
            each_buffer(info, |b| {
                if let Some((true, ts)) = rtp_marker_ts(b) {
                    g.last_marker = Some(ts);
                }
            });
            gst::PadProbeReturn::Ok
        });
    let dec = util::element(p, "dec");
    let ci = c.clone();
    dec.static_pad("sink").expect("decoder sink pad").add_probe(
        gst::PadProbeType::BUFFER,
        move |_, info| {
            if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                let mut g = ci.lock().unwrap();
                if let Some(ts) = g.last_marker {
                    g.dec_in.insert(pts.nseconds(), ts);
                }
            }
            gst::PadProbeReturn::Ok
        },
    );
    let co = c.clone();
    dec.static_pad("src").expect("decoder src pad").add_probe(
        gst::PadProbeType::BUFFER,
        move |_, info| {
            let now = util::monotonic_ns();
            if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                let mut g = co.lock().unwrap();
                if let Some(ts) = g.dec_in.get(&pts.nseconds()).copied() {
                    g.decoded.entry(ts).or_insert(now);
                }
            }
            gst::PadProbeReturn::Ok
        },
    );
}

/// Serves `launch` on 127.0.0.1, plays it with the client pipeline, and measures `frames`
/// frames after `warmup` frames of start-up.
/// `unsync`: the low-latency configuration's network sinks ([`server::unsync_network_sinks`]).
pub fn measure(
    launch: &str,
    unsync: bool,
    fps: u32,
    warmup: usize,
    frames: usize,
) -> Result<RtpRun, String> {
    let ctx = glib::MainContext::new();
    let main_loop = glib::MainLoop::new(Some(&ctx), false);
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service("0");
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(&format!("( {launch} )"));
    factory.set_shared(true);
    let side: Arc<Mutex<ServerSide>> = Default::default();
    let media_ref: Arc<Mutex<Option<gst_rtsp_server::RTSPMedia>>> = Default::default();
    let enc_ref: Arc<Mutex<Option<gst::Element>>> = Default::default();
    {
        let (side, media_ref, enc_ref) = (side.clone(), media_ref.clone(), enc_ref.clone());
        factory.connect_media_configure(move |_, media| {
            if unsync {
                server::unsync_network_sinks(media);
            }
            instrument(media, &side);
            *enc_ref.lock().unwrap() = media
                .element()
                .downcast_ref::<gst::Bin>()
                .and_then(|b| b.by_name("enc"));
            *media_ref.lock().unwrap() = Some(media.clone());
        });
    }
    server
        .mount_points()
        .ok_or("no mount points")?
        .add_factory("/cam", factory);
    let source = server
        .attach(Some(&ctx))
        .map_err(|e| format!("RTSP server: {e}"))?;
    let port = server.bound_port();
    let ml = main_loop.clone();
    let c2 = ctx.clone();
    let thread = std::thread::spawn(move || {
        c2.with_thread_default(|| ml.run())
            .expect("the server's main context is free");
    });

    let client = util::pipeline(&format!(
        "rtspsrc location=rtsp://127.0.0.1:{port}/cam latency=0 ! rtph264depay name=depay \
         ! avdec_h264 name=dec ! fakesink sync=false"
    ));
    let cside: Arc<Mutex<ClientSide>> = Default::default();
    instrument_client(&client, &cside);
    let bus = client.bus().expect("bus");
    let mut result = client
        .set_state(gst::State::Playing)
        .map(|_| ())
        .map_err(|e| format!("client cannot play: {e}"));
    let need = warmup + frames + 3;
    let deadline = Instant::now() + Duration::from_secs(20 + (need as u64) * 3 / u64::from(fps));
    while result.is_ok() {
        if let Some(m) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(50),
            &[gst::MessageType::Error],
        ) {
            if let gst::MessageView::Error(e) = m.view() {
                result = Err(format!("client: {} ({:?})", e.error(), e.debug()));
            }
        }
        if side.lock().unwrap().sent.len() >= need {
            break;
        }
        if Instant::now() > deadline {
            result = Err(format!(
                "{} of {need} frames sent in time",
                side.lock().unwrap().sent.len()
            ));
        }
    }
    // Let the last frames decode.
    std::thread::sleep(Duration::from_millis(300));
    let engine = enc_ref
        .lock()
        .unwrap()
        .as_ref()
        .map(|e| {
            if e.find_property("active-backend").is_some() {
                format!("rpih264enc {}", e.property::<String>("active-backend"))
            } else {
                e.factory()
                    .map(|f| f.name().to_string())
                    .unwrap_or_default()
            }
        })
        .unwrap_or_default();
    let _ = client.set_state(gst::State::Null);
    // The client's TEARDOWN unprepares the media; wait for it so that the camera is closed
    // before the next run opens it.
    let media = media_ref.lock().unwrap().take();
    if let Some(media) = media {
        let until = Instant::now() + Duration::from_secs(5);
        while media.status() != gst_rtsp_server::RTSPMediaStatus::Unprepared
            && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        if media.status() != gst_rtsp_server::RTSPMediaStatus::Unprepared {
            let _ = media.unprepare();
        }
    }
    server.client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
    // The source is in this run's context (SourceId::remove would look in the default one).
    if let Some(src) = ctx.find_source_by_id(&source) {
        src.destroy();
    }
    main_loop.quit();
    let _ = thread.join();
    result?;

    let s = side.lock().unwrap();
    let c = cside.lock().unwrap();
    let window = &s.sent[warmup.min(s.sent.len())..(warmup + frames).min(s.sent.len())];
    let mut run = RtpRun {
        engine,
        sink: s.sink.clone().unwrap_or_default(),
        ..Default::default()
    };
    // Input PTS (the source's) of the frames sent in the window.
    let mut window_pts = HashSet::new();
    for &(ts, t) in window {
        let Some(pts) = s
            .rtp_pts
            .get(&ts)
            .and_then(|o| s.enc_out_in.get(o))
            .copied()
        else {
            continue;
        };
        window_pts.insert(pts);
        let Some(&cap) = s.capture.get(&pts) else {
            continue;
        };
        run.sent.push(t.saturating_sub(cap) as f64 / 1e6);
        match c.decoded.get(&ts) {
            Some(&d) => run.decoded.push(d.saturating_sub(cap) as f64 / 1e6),
            None => run.lost_client += 1,
        }
        if let Some(&e) = s.encode.get(&pts) {
            run.encode.push(e as f64 / 1e6);
        }
    }
    if let (Some(lo), Some(hi)) = (window_pts.iter().min(), window_pts.iter().max()) {
        for p in s.pushed.iter().filter(|p| (*lo..=*hi).contains(*p)) {
            if !s.enc_in.contains_key(p) {
                run.dropped += 1;
            } else if !window_pts.contains(p) {
                run.lost_server += 1;
            }
        }
    }
    if run.sent.len() < frames / 2 {
        return Err(format!(
            "only {} of {frames} frames matched (sent {}, RTP timestamps {}, captured {})",
            run.sent.len(),
            s.sent.len(),
            s.rtp_pts.len(),
            s.capture.len()
        ));
    }
    Ok(run)
}

/// p50 and p99 of `v`.
pub fn p50_p99(v: &[f64]) -> (f64, f64) {
    (quantile(v, 0.5), quantile(v, 0.99))
}
