// SPDX-License-Identifier: MPL-2.0
//! The capture thread: negotiates, configures and starts the camera, and hands each completed
//! frame's buffers to the pads that want it. It never pushes, so a slow pad cannot stall it or
//! the other pads.

use std::sync::Arc;
use std::time::Duration;

use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::camera::{self, CameraBackend, CompletedFrame, FrameStatus, StreamRole};
use crate::sync::lock;

use super::imp::RpiCamSrc2;
use super::meta;
use super::negotiate::{self, Negotiated};
use super::pad::Frame;
use super::HdrMode;
use super::CAT;

/// How long the capture thread waits for a frame before checking for EOS and stop requests.
const FRAME_POLL: Duration = Duration::from_millis(100);

impl RpiCamSrc2 {
    /// Negotiates every pad with downstream and validates the camera configuration.
    fn negotiate(&self, cam: &Arc<dyn CameraBackend>) -> Result<Negotiated, gst::ErrorMessage> {
        let info = cam.info();
        let settings = lock(&self.settings).clone();
        // A request pad takes part only while linked (as tee's pads do).
        let pads: Vec<_> = lock(&self.state)
            .pads
            .iter()
            .filter(|p| p.role() == StreamRole::Main || p.is_linked())
            .cloned()
            .collect();
        let has = |role| pads.iter().any(|p| p.role() == role);
        let mut req = negotiate::Request {
            info: &info,
            hdr: settings.hdr_mode != HdrMode::Off,
            sensor_mode: settings.sensor_mode.as_ref().map(|m| m.spec),
            buffer_count: settings.buffer_count,
            hflip: settings.hflip,
            vflip: settings.vflip,
            lores: has(StreamRole::Lores),
            raw: has(StreamRole::Raw),
        };
        let peer = |role: StreamRole, filter: Option<&gst::Caps>| {
            pads.iter()
                .find(|p| p.role() == role)
                .map(|p| p.peer_query_caps(filter))
                .unwrap_or_else(gst::Caps::new_empty)
        };
        let validate = |c: &mut camera::CameraConfiguration| cam.validate(c);
        let n = match negotiate::negotiate(&req, &peer, &validate) {
            Ok(n) => n,
            Err(e) => {
                // A request pad linked while streaming that cannot be negotiated is refused
                // alone: the pads already streaming go on without it.
                let new: Vec<_> = pads
                    .iter()
                    .filter(|p| p.role() != StreamRole::Main && p.negotiated().is_none())
                    .collect();
                let main_streams = pads.iter().any(|p| p.negotiated().is_some());
                if new.is_empty() || !main_streams {
                    return Err(e);
                }
                for p in &new {
                    match p.role() {
                        StreamRole::Lores => req.lores = false,
                        _ => req.raw = false,
                    }
                }
                let n = negotiate::negotiate(&req, &peer, &validate)?;
                let names: Vec<_> = new.iter().map(|p| p.name().to_string()).collect();
                gst::element_imp_warning!(
                    self,
                    gst::CoreError::Negotiation,
                    (
                        "{} refused: downstream asks for caps it cannot have beside the streams \
                         already running; it carries nothing until relinked, the other pads go on",
                        names.join(", ")
                    ),
                    ["{}", e]
                );
                n
            }
        };
        if let Some(changes) = &n.adjusted {
            gst::element_imp_info!(
                self,
                gst::CoreError::Negotiation,
                ("Camera configuration adjusted: {}", changes.join("; "))
            );
        }
        Ok(n)
    }

    /// (Re)negotiates, configures and starts the camera, and queues each pad's first events.
    fn start_camera(&self, cam: &Arc<dyn CameraBackend>) -> Result<(), gst::ErrorMessage> {
        cam.stop();
        lock(&self.state).streaming = false;
        let n = self.negotiate(cam)?;
        let main_caps = n.pad(StreamRole::Main).map(|m| m.caps.to_string());
        let Negotiated { config, pads, .. } = n;
        cam.configure(&config)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{}", e)))?;
        let info = cam.info();
        if let Some(m) = &config.chosen_mode {
            gst::info!(
                CAT,
                imp = self,
                "{} mode {}x{} {}-bit (up to {:.2} fps) for {}",
                info.model,
                m.size.width,
                m.size.height,
                m.bit_depth,
                m.max_fps(),
                main_caps.unwrap_or_default()
            );
        }
        let controls = lock(&self.settings)
            .controls
            .start_controls(&config, info.max_frame_duration_us);
        self.warn_out_of_range(cam.as_ref(), &controls);
        {
            let mut st = lock(&self.state);
            let group = *st.group_id.get_or_insert_with(gst::GroupId::next);
            let name = self.obj().name();
            for p in st.pads.iter() {
                // A pad left out (an unlinked request pad) carries nothing until negotiated.
                if !pads.iter().any(|(r, _)| *r == p.role()) {
                    p.unconfigure();
                }
            }
            for (role, neg) in pads {
                let Some(p) = st.pad(role) else { continue };
                p.configure(neg, &format!("rpicamsrc2-{name}-{role}"), group);
            }
            st.config = Some(config);
            st.renegotiate = false;
            st.base_seq = None;
        }
        cam.start(&controls)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Failed, ("{}", e)))?;
        lock(&self.state).streaming = true;
        // Latency depends on the frame rate.
        let _ = self
            .obj()
            .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        Ok(())
    }

    /// Queues an event on every pad that has not ended.
    pub(super) fn queue_event_all(&self, ev: gst::Event) {
        let st = lock(&self.state);
        for p in st.pads.iter() {
            p.queue_event(ev.clone());
        }
    }

    /// The capture thread: negotiates, starts the camera, and hands each frame's buffers to the
    /// pads' queues. It never pushes, so a slow pad cannot stall it or the other pads.
    /// Never inlined: the benchmark suite's callgrind row counts instructions from here.
    #[inline(never)]
    fn capture_loop(&self) {
        let Some(cam) = self.camera() else {
            return;
        };
        loop {
            let (stop, eos, reneg, streaming) = {
                let mut st = lock(&self.state);
                (
                    st.stop_capture,
                    st.pending_eos.take(),
                    st.renegotiate,
                    st.streaming,
                )
            };
            if stop {
                break;
            }
            if let Some(ev) = eos {
                gst::debug!(CAT, imp = self, "sending EOS");
                self.queue_event_all(ev);
                break;
            }
            if !streaming || reneg {
                if let Err(e) = self.start_camera(&cam) {
                    self.post_error_message(e);
                    self.queue_event_all(gst::event::Eos::new());
                    break;
                }
            }
            match cam.next_frame(FRAME_POLL) {
                Ok(Some(f)) => {
                    if self.dispatch(f) {
                        self.queue_event_all(gst::event::Eos::new());
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    gst::element_imp_error!(self, gst::ResourceError::Read, ("{}", e));
                    self.queue_event_all(gst::event::Eos::new());
                    break;
                }
            }
        }
        cam.stop();
        lock(&self.state).streaming = false;
    }

    /// Turns one completed frame into buffers for the pads that want it. Returns true when
    /// num-buffers is reached.
    fn dispatch(&self, frame: CompletedFrame) -> bool {
        for note in &frame.notes {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", note));
        }
        let md = frame.metadata;
        let seq = md.sequence;
        let pts = self.running_time_of(md.sensor_timestamp_ns);
        let (post, num_buffers) = {
            let s = lock(&self.settings);
            (s.post_metadata, s.num_buffers)
        };
        let ok = frame.status == FrameStatus::Ok;
        let mut buffers = if ok {
            frame.buffers
        } else {
            gst::warning!(
                CAT,
                imp = self,
                "frame {seq} completed with an error; skipped"
            );
            Vec::new()
        };
        let mut starved = Vec::new();
        let camera_stats = self.camera().map(|c| c.stats()).unwrap_or_default();
        let mut st = lock(&self.state);
        let base_seq = *st.base_seq.get_or_insert(seq);
        let mut f = Frame {
            seq,
            base_seq,
            ok,
            buffers: &mut buffers,
            metadata: &md,
            pts,
            camera: camera_stats,
        };
        let mut main_delivered = false;
        for p in st.pads.iter() {
            let offer = p.offer(&mut f);
            if offer.first_starved {
                starved.push(p.name().to_string());
            }
            main_delivered |= offer.delivered && p.role() == StreamRole::Main;
        }
        if main_delivered {
            st.main_frames += 1;
        }
        let done = num_buffers >= 0 && main_delivered && st.main_frames >= num_buffers as u64;
        drop(st);
        for pad in starved {
            let count = lock(&self.settings).buffer_count;
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Busy,
                (
                    "{}: frames are being dropped (counted in statistics). When downstream \
                     holds all {} camera buffers the camera has none to capture into: release \
                     buffers sooner, copy them, or raise buffer-count.",
                    pad,
                    count
                )
            );
        }
        if post {
            let s = meta::to_structure("rpicamsrc2-metadata", &md);
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
        done
    }

    /// Starts the capture thread, if not running.
    pub(super) fn start_capture(&self) {
        let mut cap = lock(&self.capture);
        if cap.is_some() {
            return;
        }
        lock(&self.state).stop_capture = false;
        let imp = self.ref_counted();
        match std::thread::Builder::new()
            .name(format!("{}-capture", self.obj().name()))
            .spawn(move || {
                // A panic must not leave the pads waiting for ever (nor reach the application).
                let res =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| imp.capture_loop()));
                if res.is_err() {
                    gst::element_imp_error!(
                        imp,
                        gst::CoreError::Failed,
                        ("the capture thread failed unexpectedly")
                    );
                    imp.queue_event_all(gst::event::Eos::new());
                }
            }) {
            Ok(h) => *cap = Some(h),
            Err(e) => gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ("cannot start the capture thread: {e}")
            ),
        }
    }

    /// Stops the capture thread and the camera.
    pub(super) fn stop_capture(&self) {
        lock(&self.state).stop_capture = true;
        if let Some(c) = self.camera() {
            c.unblock();
        }
        if let Some(h) = lock(&self.capture).take() {
            let _ = h.join();
        }
        if let Some(c) = self.camera() {
            c.stop();
        }
        lock(&self.state).streaming = false;
    }

    /// The running time of a CLOCK_MONOTONIC instant (a sensor timestamp, ns), through the
    /// pipeline clock (which need not be monotonic: a network clock, say). The two clocks'
    /// offset is read fresh for every frame, between two monotonic reads; a pair of reads that a
    /// preemption split (more than 2 µs apart) is read again, up to three times, keeping the
    /// tightest, so a descheduled thread does not put its delay into the PTS.
    fn running_time_of(&self, mono_ns: u64) -> Option<gst::ClockTime> {
        let obj = self.obj();
        let clock = obj.clock()?;
        let base = obj.base_time()?;
        let mut best: Option<(u64, i128)> = None;
        for _ in 0..3 {
            let m0 = camera::monotonic_ns();
            let c = clock.time().nseconds();
            let m1 = camera::monotonic_ns();
            let gap = m1.saturating_sub(m0);
            let offset = i128::from(c) - i128::from(m0 + gap / 2);
            if best.is_none_or(|(g, _)| gap < g) {
                best = Some((gap, offset));
            }
            if gap <= 2_000 {
                break;
            }
        }
        let (_, offset) = best?;
        let at = u64::try_from(i128::from(mono_ns) + offset).ok()?;
        Some(gst::ClockTime::from_nseconds(
            at.saturating_sub(base.nseconds()),
        ))
    }
}
