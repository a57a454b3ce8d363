// SPDX-License-Identifier: MPL-2.0
//! The x264 engine: the system's `x264enc` element (gst-plugins-ugly, GPL) behind [`Engine`].
//!
//! x264 is not linked into this plugin: the element is looked up in the GStreamer registry at
//! run time, so the GPL code stays in its own package. It is driven synchronously, without a
//! pipeline or threads of ours: a private source pad feeds `x264enc`'s sink pad and a private
//! sink pad collects what its source pad pushes. Stream-start, caps and segment go first; the
//! caps query on the private sink pad is answered with `video/x-h264, stream-format=byte-stream,
//! alignment=au, profile=<ours>, level=<ours>`, so x264enc applies our profile (as a ceiling of
//! the tools its preset uses) and our level (`level_idc`, and the level's bitrate and VBV caps).
//!
//! `tune=zerolatency` means no B-frames, no lookahead and sliced threads: each picture comes
//! back inside its own push (checked by the tests), so [`Engine::latency_frames`] is `None`
//! and outputs are mapped to frame ids in FIFO order. The input buffer is passed on as it is
//! (a new reference, no copy; its `VideoMeta` goes with it).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use super::{fps_of, Encoded, Engine, EngineConfig, EngineError, Picture, StreamInfo, CAT};
use crate::rpih264enc::level;
use crate::rpih264enc::nal;
use crate::sync::lock;

/// The element this engine drives.
pub const FACTORY: &str = "x264enc";
/// `x264enc`'s `bitrate` range, kbit/s.
pub const BITRATE_KBPS: (u32, u32) = (1, 2_048_000);
/// `x264enc`'s `quantizer` maximum (H.264 allows 51).
pub const MAX_QP: u8 = 50;
/// `key-int-max` for `iperiod=0` (only the first frame is an IDR): x264's
/// `X264_KEYINT_MAX_INFINITE`.
const KEYINT_INFINITE: u32 = 1 << 30;

/// Whether x264 can run: `Ok` when the `x264enc` factory is registered. `for_auto` also
/// demands a rank above NONE, so `GST_PLUGIN_FEATURE_RANK=x264enc:NONE` keeps the automatic
/// choice on OpenH264 (an explicit `backend=x264` still runs it). The error says why not.
pub fn available(for_auto: bool) -> Result<(), String> {
    match gst::ElementFactory::find(FACTORY) {
        None => {
            Err("x264enc is not installed (Debian/Ubuntu package gstreamer1.0-plugins-ugly)".into())
        }
        Some(f) if for_auto && f.rank() == gst::Rank::NONE => {
            Err("x264enc is ranked NONE (GST_PLUGIN_FEATURE_RANK)".into())
        }
        Some(_) => Ok(()),
    }
}

/// The raw caps the x264 engine takes: OpenH264's (8-bit 4:2:0; x264's 4:2:2, 4:4:4 and
/// 10-bit inputs would give profiles this element does not announce) within `x264enc`'s sink
/// template.
pub fn sink_caps() -> gst::Caps {
    let ours = super::openh264::sink_caps();
    let theirs = gst::ElementFactory::find(FACTORY).and_then(|f| {
        f.static_pad_templates()
            .into_iter()
            .find(|t| t.direction() == gst::PadDirection::Sink)
            .map(|t| t.caps())
    });
    match theirs {
        Some(t) => ours.intersect_with_mode(&t, gst::CapsIntersectMode::First),
        None => ours,
    }
}

/// What the private sink pad has received.
#[derive(Default)]
struct Collected {
    buffers: Vec<gst::Buffer>,
    caps: Option<gst::Caps>,
}

/// x264 as an [`Engine`].
pub struct X264Engine {
    enc: gst::Element,
    bus: gst::Bus,
    src: gst::Pad,
    sink: gst::Pad,
    out: Arc<Mutex<Collected>>,
    /// Frame ids pushed and not yet returned, with their "headers wanted" flag.
    pending: VecDeque<(u32, bool)>,
    stream: StreamInfo,
    inline_headers: bool,
    idr_count: u64,
    /// EOS was sent (drain): the next picture first flushes x264enc.
    drained: bool,
    qp: bool,
    checked_caps: bool,
}

/// `bitrate` (bits/s) in x264enc's kbit/s, rounded and clamped to its range.
fn kbps(bitrate: u32) -> u32 {
    bitrate
        .saturating_add(500)
        .div_euclid(1000)
        .clamp(BITRATE_KBPS.0, BITRATE_KBPS.1)
}

impl X264Engine {
    /// The error x264enc posted (on its private bus), or `fallback`.
    fn error_text(&self, fallback: String) -> String {
        let mut texts = Vec::new();
        while let Some(m) = self.bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = m.view() {
                texts.push(match e.debug() {
                    Some(d) => format!("{} ({d})", e.error()),
                    None => e.error().to_string(),
                });
            }
        }
        if texts.is_empty() {
            fallback
        } else {
            format!("{fallback}: x264enc: {}", texts.join("; "))
        }
    }

    /// Sends `event` to x264enc; an error naming `what` when it refuses.
    fn send(&self, event: gst::Event, what: &str) -> Result<(), EngineError> {
        if self.src.push_event(event) {
            Ok(())
        } else {
            Err(EngineError::Encode(
                self.error_text(format!("x264enc refused the {what} event")),
            ))
        }
    }

    /// Flushes x264enc (it drops what it holds and restarts) and opens a new segment.
    fn restart(&mut self) -> Result<(), EngineError> {
        self.send(gst::event::FlushStart::new(), "flush-start")?;
        self.send(gst::event::FlushStop::new(true), "flush-stop")?;
        self.send(
            gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()),
            "segment",
        )?;
        self.pending.clear();
        lock(&self.out).buffers.clear();
        self.drained = false;
        Ok(())
    }

    /// The frames x264enc has pushed since the last call, mapped to frame ids in order.
    fn collect(&mut self) -> Result<Vec<Encoded>, EngineError> {
        let (buffers, caps) = {
            let mut o = lock(&self.out);
            (std::mem::take(&mut o.buffers), o.caps.clone())
        };
        if !self.checked_caps {
            if let Some(caps) = caps {
                self.checked_caps = true;
                gst::debug!(CAT, "x264enc caps {caps}");
                let s = caps.structure(0);
                let level = s.and_then(|s| s.get::<&str>("level").ok());
                if level.is_some_and(|l| l != self.stream.level) {
                    gst::warning!(
                        CAT,
                        "x264enc wrote level {level:?}, the caps say {}",
                        self.stream.level
                    );
                }
            }
        }
        let mut res = Vec::with_capacity(buffers.len());
        for b in buffers {
            let Some((frame_id, want_headers)) = self.pending.pop_front() else {
                return Err(EngineError::Encode(
                    "x264enc returned more frames than it was given".into(),
                ));
            };
            let keyframe = !b.flags().contains(gst::BufferFlags::DELTA_UNIT);
            let map = b
                .map_readable()
                .map_err(|_| EngineError::Encode("Cannot map x264enc's output".into()))?;
            let mut data = map.as_slice().to_vec();
            if keyframe {
                self.idr_count += 1;
                // x264 repeats SPS/PPS before every IDR in byte-stream mode.
                if !self.inline_headers && !want_headers && self.idr_count > 1 {
                    data = nal::strip_parameter_sets(&data);
                }
            }
            res.push(Encoded {
                frame_id,
                data: Some(data),
                keyframe,
            });
        }
        Ok(res)
    }
}

impl Engine for X264Engine {
    fn configure(
        cfg: &EngineConfig<'_>,
        warn: &mut dyn FnMut(String),
    ) -> Result<Self, EngineError> {
        available(false).map_err(EngineError::Init)?;
        let enc = gst::ElementFactory::make(FACTORY)
            .name("rpih264enc-x264enc")
            .build()
            .map_err(|e| EngineError::Init(format!("x264enc could not be created: {e}")))?;
        enc.set_property_from_str("speed-preset", cfg.preset.x264_name());
        enc.set_property_from_str("tune", "zerolatency");
        enc.set_property("threads", cfg.threads);
        enc.set_property(
            "key-int-max",
            if cfg.iperiod == 0 {
                KEYINT_INFINITE
            } else {
                cfg.iperiod
            },
        );
        enc.set_property("byte-stream", true);
        enc.set_property("aud", false);
        // iperiod is the IDR distance: no extra IDRs on scene cuts. Both bitrate modes are
        // x264enc's pass=cbr (average bitrate, VBV capped at the target): x264's true CBR
        // (nal-hrd=cbr, filler data) refuses every later bitrate change (x264_encoder_reconfig
        // fails "VBV parameters cannot be changed when NAL HRD is in use"; measured: a change
        // from 200 kbit/s to 2 Mbit/s had no effect).
        let options = ["scenecut=0"];
        if cfg.qp > 0 {
            enc.set_property_from_str("pass", "quant");
            if cfg.qp > MAX_QP {
                warn(format!(
                    "qp {} is above what x264enc takes (0..{MAX_QP}); using {MAX_QP}",
                    cfg.qp
                ));
            }
            enc.set_property("quantizer", u32::from(cfg.qp.min(MAX_QP)));
        } else {
            enc.set_property_from_str("pass", "cbr");
            if cfg.bitrate < 1000 {
                warn(format!(
                    "bitrate {} bits/s is below what x264enc takes (1..{} kbit/s); using 1 kbit/s",
                    cfg.bitrate, BITRATE_KBPS.1
                ));
            }
            enc.set_property("bitrate", kbps(cfg.bitrate));
        }
        enc.set_property("option-string", options.join(":"));

        let level = level::level_by_idc(cfg.level_idc)
            .map(|l| l.name)
            .ok_or_else(|| {
                EngineError::Unsupported(format!(
                    "level_idc {} is not an H.264 level",
                    cfg.level_idc
                ))
            })?;
        let answer = gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .field("profile", cfg.profile.caps_name())
            .field("level", level)
            .build();
        let out = Arc::new(Mutex::new(Collected::default()));
        let (o_chain, o_event) = (out.clone(), out.clone());
        let sink = gst::Pad::builder(gst::PadDirection::Sink)
            .name("rpih264enc-x264-sink")
            .chain_function(move |_, _, buffer| {
                lock(&o_chain).buffers.push(buffer);
                Ok(gst::FlowSuccess::Ok)
            })
            .event_function(move |_, _, event| {
                if let gst::EventView::Caps(c) = event.view() {
                    lock(&o_event).caps = Some(c.caps_owned());
                }
                true
            })
            .query_function(move |pad, parent, query| match query.view_mut() {
                gst::QueryViewMut::Caps(q) => {
                    let caps = match q.filter() {
                        Some(f) => f.intersect_with_mode(&answer, gst::CapsIntersectMode::First),
                        None => answer.clone(),
                    };
                    q.set_result(&caps);
                    true
                }
                gst::QueryViewMut::AcceptCaps(q) => {
                    let ok = q.caps().can_intersect(&answer);
                    q.set_result(ok);
                    true
                }
                _ => gst::Pad::query_default(pad, parent, query),
            })
            .build();
        let src = gst::Pad::builder(gst::PadDirection::Src)
            .name("rpih264enc-x264-src")
            .build();
        let (enc_sink, enc_src) = match (enc.static_pad("sink"), enc.static_pad("src")) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(EngineError::Init("x264enc has no sink or src pad".into())),
        };
        src.link(&enc_sink)
            .and_then(|_| enc_src.link(&sink))
            .map_err(|e| EngineError::Init(format!("cannot link to x264enc: {e:?}")))?;
        // Its messages (errors) come to a private bus; everything else is dropped at once.
        let bus = gst::Bus::new();
        bus.set_sync_handler(|_, m| match m.type_() {
            gst::MessageType::Error => gst::BusSyncReply::Pass,
            _ => gst::BusSyncReply::Drop,
        });
        enc.set_bus(Some(&bus));
        src.set_active(true)
            .and_then(|_| sink.set_active(true))
            .map_err(|e| EngineError::Init(format!("cannot activate the pads: {e}")))?;
        let engine = X264Engine {
            enc,
            bus,
            src,
            sink,
            out,
            pending: VecDeque::new(),
            stream: StreamInfo {
                profile: cfg.profile,
                level,
            },
            inline_headers: cfg.inline_headers,
            idr_count: 0,
            drained: false,
            qp: cfg.qp > 0,
            checked_caps: false,
        };
        if engine.enc.set_state(gst::State::Playing).is_err() {
            return Err(EngineError::Init(
                engine.error_text("x264enc could not start".into()),
            ));
        }
        let mut caps = cfg.info.to_caps().map_err(|e| {
            EngineError::Unsupported(format!("cannot describe the input as caps: {e}"))
        })?;
        if fps_of(cfg.info) == 30.0 && cfg.info.fps().numer() == 0 {
            // x264 with zerolatency needs a constant rate: the one the element assumes.
            caps.make_mut().set("framerate", gst::Fraction::new(30, 1));
        }
        engine.send(
            gst::event::StreamStart::new("rpih264enc-x264"),
            "stream-start",
        )?;
        if !engine.src.push_event(gst::event::Caps::new(&caps)) {
            return Err(EngineError::Unsupported(
                engine.error_text(format!("x264enc does not take {caps}")),
            ));
        }
        engine.send(
            gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()),
            "segment",
        )?;
        gst::debug!(
            CAT,
            "x264enc: speed-preset={} tune=zerolatency threads={} key-int-max={} options {:?}; caps {caps}",
            cfg.preset.x264_name(),
            cfg.threads,
            cfg.iperiod,
            options
        );
        Ok(engine)
    }

    fn name(&self) -> &'static str {
        "x264"
    }

    fn stream(&self) -> StreamInfo {
        self.stream
    }

    fn latency_frames(&self) -> Option<(u64, u64)> {
        None
    }

    fn set_bitrate(&mut self, bitrate: u32, warn: &mut dyn FnMut(String)) -> Result<(), String> {
        if self.qp {
            return Err("qp is set: x264 encodes at a constant quantiser".into());
        }
        if bitrate < 1000 {
            warn(format!(
                "bitrate {bitrate} bits/s is below what x264enc takes (1..{} kbit/s); using 1 kbit/s",
                BITRATE_KBPS.1
            ));
        }
        // x264enc reconfigures x264 before its next picture.
        self.enc.set_property("bitrate", kbps(bitrate));
        Ok(())
    }

    fn encode(&mut self, picture: Picture<'_>) -> Result<Vec<Encoded>, EngineError> {
        if self.drained {
            self.restart()?;
        }
        if picture.force_keyframe {
            let event = gst_video::DownstreamForceKeyUnitEvent::builder()
                .all_headers(picture.want_headers)
                .build();
            self.send(event, "force-key-unit")?;
        }
        self.pending
            .push_back((picture.frame_id, picture.want_headers));
        if let Err(flow) = self.src.push(picture.buffer.clone()) {
            return Err(EngineError::Encode(
                self.error_text(format!("x264enc failed to encode ({flow:?})")),
            ));
        }
        let out = self.collect()?;
        if out.is_empty() {
            gst::debug!(CAT, "x264enc holds frame {}", picture.frame_id);
        }
        Ok(out)
    }

    fn drain(&mut self) -> Result<Vec<Encoded>, EngineError> {
        if !self.drained {
            self.send(gst::event::Eos::new(), "EOS")?;
            self.drained = true;
        }
        let out = self.collect()?;
        if let Some((id, _)) = self.pending.front() {
            return Err(EngineError::Encode(format!(
                "x264enc did not return frame {id} and {} more at EOS",
                self.pending.len() - 1
            )));
        }
        Ok(out)
    }

    fn flush(&mut self) -> Result<(), EngineError> {
        self.restart()
    }
}

impl Drop for X264Engine {
    fn drop(&mut self) {
        let _ = self.enc.set_state(gst::State::Null);
        let _ = self.src.set_active(false);
        let _ = self.sink.set_active(false);
        self.enc.set_bus(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpih264enc::level::H264Profile;
    use gst_video::VideoFormat;

    #[test]
    fn bitrate_in_kbits_is_rounded_and_clamped() {
        assert_eq!(kbps(0), 1);
        assert_eq!(kbps(2_666_667), 2667);
        assert_eq!(kbps(1499), 1);
        assert_eq!(kbps(1500), 2);
        assert_eq!(kbps(u32::MAX), 2_048_000);
    }

    #[test]
    fn each_picture_comes_back_in_its_own_call() {
        gst::init().unwrap();
        if available(false).is_err() {
            eprintln!("x264enc not installed: skipped");
            return;
        }
        let info = gst_video::VideoInfo::builder(VideoFormat::I420, 64, 48)
            .fps(gst::Fraction::new(30, 1))
            .build()
            .unwrap();
        let mut cfg = EngineConfig::for_test(&info, H264Profile::Main);
        cfg.iperiod = 4;
        let mut e = X264Engine::configure(&cfg, &mut |_| {}).unwrap();
        assert_eq!(e.latency_frames(), None);
        let buf = gst::Buffer::with_size(info.size()).unwrap();
        for id in 0..9 {
            let out = e
                .encode(Picture {
                    buffer: &buf,
                    frame_id: id,
                    pts: Some(gst::ClockTime::from_mseconds(33 * u64::from(id))),
                    force_keyframe: id == 6,
                    want_headers: false,
                })
                .unwrap();
            assert_eq!(out.len(), 1, "frame {id}");
            assert_eq!(out[0].frame_id, id);
            assert_eq!(out[0].keyframe, [0, 4, 6].contains(&id), "frame {id}");
            let data = out[0].data.as_deref().unwrap();
            assert_eq!(nal::has_sps(data), id == 0, "frame {id}");
        }
        assert!(e.drain().unwrap().is_empty());
        // After a drain the engine encodes again, from an IDR.
        let out = e
            .encode(Picture {
                buffer: &buf,
                frame_id: 9,
                pts: Some(gst::ClockTime::from_mseconds(300)),
                force_keyframe: false,
                want_headers: false,
            })
            .unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].keyframe);
    }
}
