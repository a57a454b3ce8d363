// SPDX-License-Identifier: MPL-2.0
//! Settled stills: the `still` request pad, the `capture-still` action signal and the
//! `rpicamsrc2-capture-still` custom event, and the wait for AE and AWB to converge before a
//! frame is taken (`settle-timeout`), also used at start by `start-settled`.
//!
//! A still is a copy of one frame of the main stream (the ISP's output 0) at the `src` pad's
//! size, taken while the video goes on: the camera is never stopped nor reconfigured for it, so
//! the video pads lose no frame and their timestamps have no gap (Picamera2's
//! `capture_request` case). A full-sensor-resolution still needs the main stream at the
//! sensor's full size (its full-resolution mode); the video can then come from the `lores`
//! pad (the ISP's output 1, at most the main size). Picamera2's `switch_mode_and_capture`
//! (stop, reconfigure at full resolution, capture, switch back) gaps the video, so it is not
//! done here.
//!
//! The wait follows libcamera's metadata: AE converged (AeState, or AeLocked before libcamera
//! 0.5) or manual (idle), and AWB converged (AwbLocked / draft AwbState) or off; a camera that
//! does not report AWB is judged by AE alone ([`FrameMetadata::is_settled`]). After
//! `settle-timeout` ms the frame is taken unsettled with a warning naming the wait.

use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::camera::{self, FrameMetadata, StreamRole};
use crate::sync::lock;

use super::imp::RpiCamSrc2;
use super::pad::PadKind;
use super::CAT;

/// Name of the still pad (and of its template).
pub const STILL_PAD: &str = "still";
/// Name of the custom upstream event (on any of the element's pads, or sent to the element)
/// that asks for a still.
pub const CAPTURE_STILL_EVENT: &str = "rpicamsrc2-capture-still";
/// Default `settle-timeout`, ms: rpicam-still's preview before a capture is 5 s
/// (`--timeout`), of which AE/AWB need well under 3 s in ordinary light.
pub const DEFAULT_SETTLE_TIMEOUT_MS: u32 = 3000;

/// The properties `settle-timeout` and `start-settled`.
pub(super) fn pspecs() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecUInt::builder("settle-timeout")
            .nick("Settle timeout")
            .blurb("Longest wait, ms, for AE and AWB to report converged before a still (capture-still) or, with start-settled, the first frame; then the frame is taken as it is, with a warning")
            .maximum(600_000)
            .default_value(DEFAULT_SETTLE_TIMEOUT_MS)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("start-settled")
            .nick("Start settled")
            .blurb("Deliver no frame on any pad until AE and AWB report converged (at most settle-timeout ms), as rpicam-still's preview before a capture: with num-buffers=1, a settled snapshot")
            .default_value(false)
            .mutable_ready()
            .build(),
    ]
}

/// The action signal `capture-still` (no arguments, returns whether a still will come): takes
/// the next settled frame of the main stream onto the still pad.
pub(super) fn signals() -> Vec<glib::subclass::Signal> {
    vec![glib::subclass::Signal::builder("capture-still")
        .action()
        .return_type::<bool>()
        .class_handler(|args| {
            let obj = args[0]
                .get::<super::RpiCamSrc2>()
                .expect("signal emitted on the element");
            Some(obj.imp().request_still().to_value())
        })
        .build()]
}

/// Where one wait for AE/AWB stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Settle {
    /// Not settled yet, within the timeout.
    Wait,
    /// Settled after `frames` frames and `waited`.
    Settled { frames: u32, waited: Duration },
    /// The timeout passed before AE/AWB settled: take this frame anyway.
    TimedOut { frames: u32, waited: Duration },
}

/// One wait for AE and AWB to converge, from the first frame it sees.
#[derive(Debug, Clone, Default)]
pub struct SettleWait {
    since: Option<Instant>,
    frames: u32,
}

impl SettleWait {
    /// Judges the frame `md` seen at `now`: settled, still waiting, or past `timeout`.
    pub fn step(&mut self, now: Instant, md: &FrameMetadata, timeout: Duration) -> Settle {
        let since = *self.since.get_or_insert(now);
        self.frames += 1;
        let waited = now.saturating_duration_since(since);
        if md.is_settled() {
            Settle::Settled {
                frames: self.frames,
                waited,
            }
        } else if waited >= timeout {
            Settle::TimedOut {
                frames: self.frames,
                waited,
            }
        } else {
            Settle::Wait
        }
    }
}

/// What the capture thread does with the still requests for one frame.
#[derive(Debug, Default)]
pub(super) struct StillState {
    /// Stills asked for and not yet delivered.
    pub pending: u32,
    /// The wait of the oldest pending still.
    pub wait: SettleWait,
    /// The start-settled wait, while frames are withheld at start.
    pub start_wait: Option<SettleWait>,
    /// The still pad sent its first gap event (it prerolls the sinks downstream).
    pub gap_sent: bool,
}

impl RpiCamSrc2 {
    /// `request_new_pad` for the `still` template.
    pub(super) fn request_still_pad(&self, templ: &gst::PadTemplate) -> Option<gst::Pad> {
        let mut st = lock(&self.state);
        if st.still_pad.is_some() {
            drop(st);
            gst::element_imp_error!(
                self,
                gst::CoreError::Pad,
                ("the {STILL_PAD} pad was already requested; there is one")
            );
            return None;
        }
        let pad = Self::new_pad(templ, PadKind::Still, None);
        st.still_pad = Some(pad.clone());
        let running = st.playing;
        drop(st);
        if !self.attach_pad(&pad) {
            lock(&self.state).still_pad = None;
            return None;
        }
        // Streaming already: the still pad takes the main stream's caps at once.
        self.configure_still_pad();
        if running {
            self.start_pad_task(&pad);
        }
        Some(pad.upcast())
    }

    /// `release_pad` for the `still` pad.
    pub(super) fn release_still_pad(&self, pad: &gst::Pad) {
        let released = {
            let mut st = lock(&self.state);
            st.still.pending = 0;
            st.still_pad.take()
        };
        if let Some(p) = released {
            p.flush();
        }
        let _ = pad.stop_task();
        let _ = pad.set_active(false);
        lock(&self.combiner).remove_pad(pad);
        let _ = self.obj().remove_pad(pad);
    }

    /// Gives the still pad the main stream's caps (framerate 0/1: stills come when asked for),
    /// when both exist. Called when the camera is (re)configured and when the pad comes.
    pub(super) fn configure_still_pad(&self) {
        let mut st = lock(&self.state);
        let (Some(still), Some(main), Some(group)) = (
            st.still_pad.as_ref(),
            st.pad(StreamRole::Main).and_then(|p| p.negotiated()),
            st.group_id,
        ) else {
            return;
        };
        let mut neg = main;
        {
            let caps = neg.caps.make_mut();
            if let Some(s) = caps.structure_mut(0) {
                s.set("framerate", gst::Fraction::new(0, 1));
            }
        }
        neg.frame_duration = None;
        neg.ratio = (1, 1);
        let name = format!("rpicamsrc2-{}-{STILL_PAD}", self.obj().name());
        still.configure(neg, &name, group);
        let still = still.clone();
        let first = !std::mem::replace(&mut st.still.gap_sent, true);
        drop(st);
        if first {
            // A sparse stream: a gap lets the sinks downstream preroll before the first still
            // (without it a sink waiting for preroll keeps the pipeline from PLAYING).
            still.queue_event(gst::event::Gap::builder(gst::ClockTime::ZERO).build());
        }
    }

    /// Asks for one still (the `capture-still` action signal, the custom event). Returns false
    /// (with a warning) when there is no linked `still` pad to deliver it on.
    pub(super) fn request_still(&self) -> bool {
        let mut st = lock(&self.state);
        let linked = st.still_pad.as_ref().is_some_and(|p| p.is_linked());
        if !linked {
            drop(st);
            gst::element_imp_warning!(
                self,
                gst::CoreError::Pad,
                (
                    "capture-still: no linked '{}' pad; request it (name.{} ! ...) first",
                    STILL_PAD,
                    STILL_PAD
                )
            );
            return false;
        }
        if st.still.pending == 0 {
            st.still.wait = SettleWait::default();
        }
        st.still.pending += 1;
        gst::debug!(
            CAT,
            imp = self,
            "still requested ({} pending)",
            st.still.pending
        );
        true
    }

    /// start-settled: true when the frame `md` must be withheld from every pad because AE/AWB
    /// have not settled since the stream started (at most settle-timeout).
    pub(super) fn withhold_unsettled(&self, md: &FrameMetadata) -> bool {
        let timeout = self.settle_timeout();
        let mut st = lock(&self.state);
        let Some(w) = st.still.start_wait.as_mut() else {
            return false;
        };
        let step = w.step(Instant::now(), md, timeout);
        if step != Settle::Wait {
            st.still.start_wait = None;
        }
        drop(st);
        match step {
            Settle::Wait => true,
            Settle::Settled { frames, waited } => {
                gst::debug!(
                    CAT,
                    imp = self,
                    "AE/AWB settled after {frames} frames ({} ms)",
                    waited.as_millis()
                );
                false
            }
            Settle::TimedOut { frames, waited } => {
                self.warn_unsettled("the first frame (start-settled)", md, frames, waited);
                false
            }
        }
    }

    fn settle_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(lock(&self.settings).settle_timeout_ms))
    }

    fn warn_unsettled(&self, what: &str, md: &FrameMetadata, frames: u32, waited: Duration) {
        gst::element_imp_warning!(
            self,
            gst::ResourceError::Busy,
            (
                "{what}: AE/AWB did not settle within settle-timeout ({} ms, {frames} frames: {}); \
                 frame {} taken as it is",
                waited.as_millis(),
                md.unsettled().join(", "),
                md.sequence
            )
        );
    }

    /// A copy of this frame's main buffer when a still is due on it (settled, or timed out),
    /// with what the wait came to.
    pub(super) fn still_due(
        &self,
        md: &FrameMetadata,
        buffers: &[(StreamRole, camera::FrameBuffer)],
    ) -> Option<(camera::FrameBuffer, Settle)> {
        let timeout = self.settle_timeout();
        let mut st = lock(&self.state);
        if st.still.pending == 0 || st.still_pad.is_none() {
            return None;
        }
        let step = st.still.wait.step(Instant::now(), md, timeout);
        if step == Settle::Wait {
            return None;
        }
        drop(st);
        // No main buffer (the camera had none free): the next frame will do.
        let copy = buffers
            .iter()
            .find(|(r, _)| *r == StreamRole::Main)
            .map(|(_, b)| b.copied())?;
        Some((copy, step))
    }

    /// Queues the still on the `still` pad and posts `rpicamsrc2-still` (sequence, settled,
    /// waited-frames, waited-ms, AeState, AwbState), or a warning when the wait timed out.
    pub(super) fn deliver_still(
        &self,
        buffer: camera::FrameBuffer,
        step: Settle,
        md: &FrameMetadata,
        pts: Option<gst::ClockTime>,
    ) {
        let pad = {
            let mut st = lock(&self.state);
            st.still.pending = st.still.pending.saturating_sub(1);
            st.still.wait = SettleWait::default();
            st.still_pad.clone()
        };
        let Some(pad) = pad else { return };
        if !pad.offer_still(buffer, md, pts) {
            gst::element_imp_warning!(
                self,
                gst::CoreError::Negotiation,
                (
                    "the still pad is not negotiated; still of frame {} lost",
                    md.sequence
                )
            );
            return;
        }
        let (settled, frames, waited) = match step {
            Settle::Settled { frames, waited } => (true, frames, waited),
            Settle::TimedOut { frames, waited } => {
                self.warn_unsettled("capture-still", md, frames, waited);
                (false, frames, waited)
            }
            Settle::Wait => (false, 0, Duration::ZERO),
        };
        let mut s = gst::Structure::builder("rpicamsrc2-still")
            .field("sequence", md.sequence)
            .field("settled", settled)
            .field("waited-frames", frames)
            .field(
                "waited-ms",
                u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            )
            .field("AeState", md.ae_state.name())
            .field_if_some("running-time", pts)
            .build();
        if let Some(a) = md.awb_state {
            s.set("AwbState", a.name());
        }
        let obj = self.obj();
        let _ = obj.post_message(gst::message::Element::builder(s).src(&*obj).build());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::{AeState, AwbState};

    fn md(ae: AeState, awb: Option<AwbState>) -> FrameMetadata {
        FrameMetadata {
            ae_state: ae,
            awb_state: awb,
            ..Default::default()
        }
    }

    #[test]
    fn a_wait_ends_when_settled_or_timed_out() {
        let t0 = Instant::now();
        let timeout = Duration::from_millis(100);
        let mut w = SettleWait::default();
        let searching = md(AeState::Searching, Some(AwbState::Converged));
        assert_eq!(w.step(t0, &searching, timeout), Settle::Wait);
        let awb = md(AeState::Converged, Some(AwbState::Searching));
        assert_eq!(
            w.step(t0 + Duration::from_millis(50), &awb, timeout),
            Settle::Wait
        );
        let ok = md(AeState::Converged, Some(AwbState::Converged));
        assert_eq!(
            w.step(t0 + Duration::from_millis(60), &ok, timeout),
            Settle::Settled {
                frames: 3,
                waited: Duration::from_millis(60)
            }
        );
        let mut w = SettleWait::default();
        w.step(t0, &searching, timeout);
        assert_eq!(
            w.step(t0 + timeout, &searching, timeout),
            Settle::TimedOut {
                frames: 2,
                waited: timeout
            }
        );
    }
}
