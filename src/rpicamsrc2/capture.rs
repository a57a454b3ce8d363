// SPDX-License-Identifier: MPL-2.0
//! The capture thread: negotiates, configures and starts the camera, and hands each completed
//! frame's buffers to the pads that want it. It never pushes, so a slow pad cannot stall it or
//! the other pads. When the camera stalls it restarts it ([`super::watchdog`]): messages
//! `rpicamsrc2-stall` and `rpicamsrc2-restarted`, DISCONT on each pad's first buffer after the
//! gap, and an error after `max-restarts` failed restarts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::camera::{
    self, CameraBackend, CameraError, CompletedFrame, ControlId, ControlValue, FrameStatus,
    StreamRole,
};
use crate::sync::lock;

use super::imp::RpiCamSrc2;
use super::meta;
use super::negotiate::{self, Negotiated};
use super::pad::Frame;
use super::watchdog::{Recovered, Step, Watchdog};
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
        RpiCamSrc2::check_roles(&pads)?;
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
        self.configure_still_pad();
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
        for p in st.pads.iter().chain(&st.still_pad) {
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
        let mut wd = Watchdog::new(Instant::now(), Duration::ZERO);
        // Frames the camera captured (with or without a free buffer) when last looked at, and
        // whether frames came since (the count is then only brought up to date).
        let mut captured = 0;
        let mut delivered = false;
        // Sequence numbers continue across restarts: the last one handed out, and what is added
        // to the camera's since the last restart.
        let mut last_seq: Option<u64> = None;
        let mut seq_shift = 0;
        let mut resync = false;
        // Why the last restart failed to start the camera.
        let mut start_error: Option<CameraError> = None;
        'capture: loop {
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
                wd = Watchdog::new(Instant::now(), self.floor_period());
                captured = cam.stats().frames_captured;
                (last_seq, seq_shift, resync) = (None, 0, false);
            }
            match cam.next_frame(FRAME_POLL) {
                Ok(Some(mut f)) => {
                    if let Some(r) = wd.alive(Instant::now()) {
                        self.post_restarted(&cam, r);
                    }
                    wd.set_frame_period(Duration::from_micros(f.metadata.frame_duration_us));
                    delivered = true;
                    if std::mem::take(&mut resync) {
                        seq_shift =
                            last_seq.map_or(0, |l| (l + 1).saturating_sub(f.metadata.sequence));
                    }
                    f.metadata.sequence += seq_shift;
                    last_seq = Some(f.metadata.sequence);
                    if self.dispatch(f) {
                        self.queue_event_all(gst::event::Eos::new());
                        break;
                    }
                }
                Ok(None) => {
                    let now = Instant::now();
                    // Frames captured without a free buffer (downstream holds them all) are
                    // life, not a stall.
                    let c = cam.stats().frames_captured;
                    if std::mem::take(&mut delivered) {
                        captured = c;
                    } else if c != captured {
                        captured = c;
                        if let Some(r) = wd.alive(now) {
                            self.post_restarted(&cam, r);
                        }
                        continue;
                    }
                    wd.set_floor_period(self.floor_period());
                    let max = lock(&self.settings).max_restarts;
                    loop {
                        match wd.poll(now, max) {
                            Step::Wait => break,
                            Step::Stalled { since_last } => {
                                self.post_stall(&cam, last_seq, since_last)
                            }
                            Step::Restart { attempt } => {
                                gst::warning!(
                                    CAT,
                                    imp = self,
                                    "restarting the camera (attempt {attempt})"
                                );
                                start_error = self.restart_camera(&cam).err();
                                if let Some(e) = &start_error {
                                    gst::warning!(CAT, imp = self, "restart {attempt} failed: {e}");
                                }
                                captured = cam.stats().frames_captured;
                                resync = true;
                                wd.restarted(Instant::now());
                                break;
                            }
                            Step::GiveUp { failed, since_last } => {
                                self.give_up(&cam, failed, max, since_last, start_error.take());
                                self.queue_event_all(gst::event::Eos::new());
                                break 'capture;
                            }
                        }
                    }
                }
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

    /// The shortest frame period the settings allow (a fixed frame rate, an exposure time or
    /// minimum frame duration asked for): the stall window is at least 10 of them.
    fn floor_period(&self) -> Duration {
        let fixed = lock(&self.state)
            .config
            .as_ref()
            .filter(|c| c.framerate.is_some())
            .map_or(0, |c| c.frame_duration_us());
        let s = lock(&self.settings);
        let us = |id| match s.controls.list().get(id) {
            Some(ControlValue::I32(v)) => u64::try_from(*v).unwrap_or(0),
            Some(ControlValue::I64(v)) => u64::try_from(*v).unwrap_or(0),
            Some(ControlValue::I64Array(v)) => {
                v.first().map_or(0, |v| u64::try_from(*v).unwrap_or(0))
            }
            _ => 0,
        };
        let longest = fixed
            .max(us(ControlId::ExposureTime))
            .max(us(ControlId::FrameDurationLimits));
        Duration::from_micros(longest)
    }

    /// Stops and starts the camera with the configuration and controls in use: no
    /// renegotiation, no caps event; each pad flags its next buffer DISCONT.
    ///
    /// Errors: the camera's, when it does not start.
    fn restart_camera(&self, cam: &Arc<dyn CameraBackend>) -> Result<(), CameraError> {
        cam.stop();
        let config = {
            let mut st = lock(&self.state);
            for p in st.pads.iter() {
                p.mark_discont();
            }
            // Decimation counts from the first frame after the restart.
            st.base_seq = None;
            st.config.clone()
        };
        let config = config.ok_or_else(|| CameraError::State("is not configured".into()))?;
        let controls = lock(&self.settings)
            .controls
            .start_controls(&config, cam.info().max_frame_duration_us);
        cam.start(&controls)
    }

    /// Posts `s` as an element message.
    fn post_element(&self, s: gst::Structure) {
        let obj = self.obj();
        let _ = obj.post_message(gst::message::Element::builder(s).src(&*obj).build());
    }

    /// Posts `rpicamsrc2-stall`: camera-id, last-sequence (absent before the first frame),
    /// seconds-since-last-frame.
    fn post_stall(&self, cam: &Arc<dyn CameraBackend>, last_seq: Option<u64>, since: Duration) {
        let id = cam.info().id;
        gst::warning!(
            CAT,
            imp = self,
            "camera {id} stalled: no frame for {:.2} s (last sequence {last_seq:?})",
            since.as_secs_f64()
        );
        let s = gst::Structure::builder("rpicamsrc2-stall")
            .field("camera-id", id)
            .field_if_some("last-sequence", last_seq)
            .field("seconds-since-last-frame", since.as_secs_f64())
            .build();
        self.post_element(s);
    }

    /// Posts `rpicamsrc2-restarted`: camera-id, restart-count (since the stream started),
    /// attempts (this stall's), gap-ms (from the last frame before the stall).
    fn post_restarted(&self, cam: &Arc<dyn CameraBackend>, r: Recovered) {
        let id = cam.info().id;
        let gap_ms = u64::try_from(r.gap.as_millis()).unwrap_or(u64::MAX);
        gst::info!(
            CAT,
            imp = self,
            "camera {id} back after {gap_ms} ms ({} restarts, {} in all)",
            r.attempts,
            r.restarts
        );
        let s = gst::Structure::builder("rpicamsrc2-restarted")
            .field("camera-id", id)
            .field("restart-count", r.restarts)
            .field("attempts", r.attempts)
            .field("gap-ms", gap_ms)
            .build();
        self.post_element(s);
    }

    /// Posts the error that ends the stream when restarts did not cure a stall.
    fn give_up(
        &self,
        cam: &Arc<dyn CameraBackend>,
        failed: u32,
        max: i32,
        since: Duration,
        start_error: Option<CameraError>,
    ) {
        let stalled = CameraError::Stalled(since);
        let restarts = if max == 0 {
            "restarts are off (max-restarts=0)".to_string()
        } else {
            format!("{failed} restarts (max-restarts={max}) brought no frame")
        };
        let cause = start_error
            .map(|e| format!("; the last restart failed: {e}"))
            .unwrap_or_default();
        gst::element_imp_error!(
            self,
            gst::ResourceError::Read,
            ("Camera {}: {stalled}, and {restarts}{cause}", cam.info().id)
        );
    }

    /// Turns one completed frame into buffers for the pads that want it. Returns true when
    /// num-buffers is reached.
    fn dispatch(&self, frame: CompletedFrame) -> bool {
        for note in &frame.notes {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", note));
        }
        let md = frame.metadata;
        if self.withhold_unsettled(&md) {
            // start-settled: AE/AWB not settled yet; the frame's buffers go back to the camera.
            return false;
        }
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
        // A still due on this frame: a copy of the main buffer, taken before the pads take it.
        let still = if ok {
            self.still_due(&md, &buffers)
        } else {
            None
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
        if let Some((buffer, step)) = still {
            self.deliver_still(buffer, step, &md, pts);
        }
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
            self.post_element(meta::to_structure("rpicamsrc2-metadata", &md));
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
                if let Err(p) = res {
                    gst::element_imp_error!(
                        imp,
                        gst::CoreError::Failed,
                        (
                            "the capture thread failed unexpectedly: {}",
                            crate::sync::panic_message(p.as_ref())
                        )
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
