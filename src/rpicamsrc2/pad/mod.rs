// SPDX-License-Identifier: MPL-2.0
//! The source pads of `rpicamsrc2` (`src`, `lores`, `raw`): one stream each.
//!
//! A pad owns its stream: the queue the capture thread fills, the negotiated caps, the
//! decimation (which camera frames are this pad's), its streaming task and its statistics.
//! The capture thread hands a pad its frames with [`RpiCamSrcPad::offer`] (one lock of the
//! pad's own state); the pad's task pushes them downstream without taking the element's lock.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::camera::{self, StreamRole};

use super::negotiate::PadNeg;
use super::stats::PadStats;

mod imp;

glib::wrapper! {
    /// A source pad of `rpicamsrc2`, carrying one stream.
    pub struct RpiCamSrcPad(ObjectSubclass<imp::RpiCamSrcPad>) @extends gst::Pad, gst::Object;
}

/// What a pad carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PadKind {
    /// One of the camera's streams.
    Stream(StreamRole),
    /// The `still` pad: copies of chosen frames of the main stream (the `src` pad's caps,
    /// framerate 0/1), queued with [`RpiCamSrcPad::offer_still`].
    Still,
}

impl From<StreamRole> for PadKind {
    fn from(role: StreamRole) -> Self {
        PadKind::Stream(role)
    }
}

/// What a pad's streaming task pushes, in order. Frames stay camera buffers until the pad's
/// own thread wraps them, after its caps are set and downstream's allocation is known. Each
/// queued frame holds one of the stream's camera buffers, so a pad whose downstream is slow
/// ends up holding all of them and the camera then skips that stream (counted per pad) while
/// the other streams go on.
enum Item {
    Event(gst::Event),
    Frame(Box<PendingFrame>),
}

struct PendingFrame {
    buffer: camera::FrameBuffer,
    metadata: camera::FrameMetadata,
    pts: Option<gst::ClockTime>,
    /// The first of this pad's frames after a gap (a camera restart): flagged DISCONT.
    discont: bool,
}

/// What [`RpiCamSrcPad::offer`] did with a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Offer {
    /// The frame was queued on the pad.
    pub delivered: bool,
    /// Frames this pad wanted were lost for the first time since it started: warn once.
    pub first_starved: bool,
}

/// A frame as the capture thread offers it to each pad.
pub(super) struct Frame<'a> {
    /// Camera sequence number.
    pub seq: u64,
    /// Sequence number of the first frame since the camera started.
    pub base_seq: u64,
    /// The frame completed without error.
    pub ok: bool,
    /// The frame's buffers not yet taken, one per stream the camera filled.
    pub buffers: &'a mut Vec<(StreamRole, camera::FrameBuffer)>,
    /// Its metadata.
    pub metadata: &'a camera::FrameMetadata,
    /// Its running time.
    pub pts: Option<gst::ClockTime>,
    /// The camera's counters when the frame was handed out (how many frames each stream has
    /// had no buffer for).
    pub camera: camera::CameraStats,
}

impl RpiCamSrcPad {
    /// A pad of `kind` from `templ`, called `name` (none: named after its role, `src`, `lores`,
    /// `raw`, or `still`); `query` and `event` are the element's handlers.
    pub(super) fn new(
        templ: &gst::PadTemplate,
        kind: impl Into<PadKind>,
        name: Option<&str>,
        query: impl Fn(&Self, Option<&gst::Object>, &mut gst::QueryRef) -> bool + Send + Sync + 'static,
        event: impl Fn(&Self, Option<&gst::Object>, gst::Event) -> bool + Send + Sync + 'static,
    ) -> Self {
        let kind = kind.into();
        let (default_name, role) = match kind {
            PadKind::Stream(role) => (super::negotiate::pad_name(role), role),
            PadKind::Still => (super::still::STILL_PAD, StreamRole::Main),
        };
        let pad = gst::PadBuilder::<Self>::from_template(templ)
            .name(name.unwrap_or(default_name))
            .query_function(query)
            .event_function(event)
            .build();
        pad.set_role(role);
        // Set once, before the pad is shared.
        let _ = pad.imp().still.set(kind == PadKind::Still);
        pad
    }

    /// True for the `still` pad.
    pub fn is_still(&self) -> bool {
        self.imp().still.get().copied().unwrap_or(false)
    }

    /// Queues one frame on the `still` pad: `buffer` (a copy of the main stream's), its
    /// metadata and running time. Returns false when the pad has no negotiated stream.
    pub(super) fn offer_still(
        &self,
        buffer: camera::FrameBuffer,
        metadata: &camera::FrameMetadata,
        pts: Option<gst::ClockTime>,
    ) -> bool {
        self.imp().offer_still(buffer, metadata, pts)
    }

    /// The stream this pad carries.
    pub fn role(&self) -> StreamRole {
        self.imp().role()
    }

    /// Makes the pad carry `role` (a `src_%u` pad whose `stream-role` changed, before
    /// streaming).
    pub(super) fn set_role(&self, role: StreamRole) {
        *crate::sync::lock(&self.imp().role) = role;
    }

    /// libcamerasrc's `stream-role` of the pad.
    pub fn stream_role(&self) -> super::PadStreamRole {
        self.imp().stream_role()
    }

    /// True for libcamerasrc's request pads (`src_%u`), whose stream follows `stream-role`.
    pub(super) fn is_src_n(&self) -> bool {
        self.name().starts_with("src_")
    }

    /// This pad's counters as the pad has seen them (frames lost since its last frame are
    /// counted when the next one arrives).
    pub fn stats(&self) -> PadStats {
        self.imp().stats()
    }

    /// This pad's counters now, for a camera whose counters are `camera`: frames the camera
    /// had no buffer for since the pad's last frame count as dropped at once.
    pub fn stats_now(&self, camera: &camera::CameraStats) -> PadStats {
        self.imp().stats_now(camera)
    }

    /// The negotiated stream, if any.
    pub(super) fn negotiated(&self) -> Option<PadNeg> {
        self.imp().negotiated()
    }

    /// Forgets the stream (going to PAUSED): queue, caps, counters.
    pub(super) fn reset(&self) {
        self.imp().reset()
    }

    /// Ends the stream (going to READY or released): the queue is emptied, the negotiated
    /// stream forgotten and the task stops waiting.
    pub(super) fn flush(&self) {
        self.imp().flush()
    }

    /// Takes a (re)negotiated stream: stale frames are dropped and the stream-start, caps and
    /// segment events queued as needed.
    pub(super) fn configure(&self, neg: PadNeg, stream_id: &str, group: gst::GroupId) {
        self.imp().configure(neg, stream_id, group)
    }

    /// Flags the next frame this pad queues DISCONT (the camera restarted after a stall).
    pub(super) fn mark_discont(&self) {
        self.imp().mark_discont()
    }

    /// Leaves the camera's streams (an unlinked request pad): no frames until the pad is
    /// configured again; the frames queued are discarded, the events kept.
    pub(super) fn unconfigure(&self) {
        self.imp().unconfigure()
    }

    /// Queues an event after what the pad already holds.
    pub(super) fn queue_event(&self, event: gst::Event) {
        self.imp().queue(Item::Event(event))
    }

    /// Offers a frame: counts the frames this pad missed since its last one, and queues this
    /// frame's buffer for the pad when the frame is the pad's (decimation).
    pub(super) fn offer(&self, frame: &mut Frame<'_>) -> Offer {
        self.imp().offer(frame)
    }

    /// Starts the pad's streaming task: each iteration pushes the next item of its queue;
    /// `on_push` gets the result of each buffer push (the element's flow combiner).
    ///
    /// Errors: GStreamer cannot start the task.
    pub(super) fn start(
        &self,
        on_push: impl Fn(&Self, Result<gst::FlowSuccess, gst::FlowError>) + Send + 'static,
    ) -> Result<(), glib::BoolError> {
        let weak = self.downgrade();
        self.start_task(move || {
            let Some(pad) = weak.upgrade() else { return };
            if let Some(res) = pad.imp().iterate() {
                on_push(&pad, res);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::camera::backend::FrameData;
    use crate::camera::format::FrameLayout;

    struct Bytes(Vec<u8>);

    impl FrameData for Bytes {
        fn bytes(&self) -> &[u8] {
            &self.0
        }
        fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
            self
        }
    }

    fn buffer() -> camera::FrameBuffer {
        let layout = FrameLayout {
            planes: vec![],
            size: 4,
        };
        camera::FrameBuffer::new(Box::new(Bytes(vec![0; 4])), layout, |_| {})
    }

    /// A lores pad at a third of the camera's rate.
    fn pad() -> RpiCamSrcPad {
        gst::init().unwrap();
        let templ = gst::PadTemplate::new(
            "lores",
            gst::PadDirection::Src,
            gst::PadPresence::Request,
            &gst::Caps::new_any(),
        )
        .unwrap();
        let pad = RpiCamSrcPad::new(
            &templ,
            StreamRole::Lores,
            None,
            |_, _, _| false,
            |_, _, _| false,
        );
        let neg = PadNeg {
            caps: "video/x-raw,width=64,height=64".parse().unwrap(),
            info: None,
            raw_row_bytes: 0,
            ratio: (1, 3),
            frame_duration: None,
        };
        pad.configure(neg, "test", gst::GroupId::next());
        pad
    }

    #[test]
    fn a_pad_takes_its_frames_and_counts_the_ones_it_missed() {
        let pad = pad();
        assert_eq!(pad.role(), StreamRole::Lores);
        assert_eq!(pad.name(), "lores");
        let metadata = camera::FrameMetadata::default();
        let offer = |seq: u64, with_buffer: bool| {
            let mut buffers = if with_buffer {
                vec![(StreamRole::Lores, buffer())]
            } else {
                vec![]
            };
            let o = pad.offer(&mut Frame {
                seq,
                base_seq: 10,
                ok: true,
                buffers: &mut buffers,
                metadata: &metadata,
                pts: None,
                camera: camera::CameraStats::default(),
            });
            (o, buffers.len())
        };
        // Every third frame from the first one is the pad's; the others stay with the camera.
        let (o, left) = offer(10, true);
        assert!(o.delivered && !o.first_starved && left == 0);
        let (o, left) = offer(11, true);
        assert!(!o.delivered && left == 1);
        // Frame 13, the pad's, came without a buffer: dropped, warned once.
        let (o, _) = offer(12, true);
        assert!(!o.delivered);
        let (o, _) = offer(13, false);
        assert!(!o.delivered && o.first_starved);
        // Frames 14..18 never came: 16 was the pad's.
        let (o, _) = offer(19, true);
        assert!(o.delivered && !o.first_starved);
        assert_eq!(pad.stats().dropped, 2);
        pad.reset();
        assert_eq!(pad.stats(), PadStats::default());
        assert!(pad.negotiated().is_none());
    }
}
