// SPDX-License-Identifier: MPL-2.0
//! The pad's state and streaming task.

use std::collections::VecDeque;
use std::sync::{Condvar, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::camera::{self, StreamRole};
use crate::rpicamsrc2::negotiate::PadNeg;
use crate::rpicamsrc2::stats::{PadCounters, PadStats};
use crate::rpicamsrc2::{caps, memory, meta, PadStreamRole, CAT};
use crate::sync::lock;

use super::{Frame, Item, Offer, PendingFrame};

/// How long the streaming task waits for an item before checking whether it must end.
const ITEM_POLL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct State {
    queue: VecDeque<Item>,
    neg: Option<PadNeg>,
    caps_sent: Option<gst::Caps>,
    /// Downstream takes GstVideoMeta (asked after each caps event, from the pad's thread).
    video_meta: bool,
    started: bool,
    last_seq: Option<u64>,
    /// A warning about starved camera buffers was posted for this stream.
    warned_starved: bool,
    /// The task must give up waiting (going to READY, or the pad was released).
    flushing: bool,
    /// The next frame queued follows a gap: flag it DISCONT.
    discont: bool,
}

pub struct RpiCamSrcPad {
    /// The stream the pad carries: fixed for `src`, `lores`, `raw` and `still` (main); for
    /// libcamerasrc's `src_%u` pads, assigned by the element from their `stream-role`.
    pub(super) role: Mutex<StreamRole>,
    /// libcamerasrc's `stream-role` pad property.
    stream_role: Mutex<PadStreamRole>,
    /// Set once for the `still` pad.
    pub(super) still: OnceLock<bool>,
    state: Mutex<State>,
    /// Signalled when the queue gets an item or the pad flushes.
    cond: Condvar,
    counters: PadCounters,
}

impl Default for RpiCamSrcPad {
    fn default() -> Self {
        Self {
            role: Mutex::new(StreamRole::Main),
            stream_role: Mutex::default(),
            still: OnceLock::new(),
            state: Mutex::default(),
            cond: Condvar::new(),
            counters: PadCounters::default(),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RpiCamSrcPad {
    const NAME: &'static str = "GstRpiCamSrc2Pad";
    type Type = super::RpiCamSrcPad;
    type ParentType = gst::Pad;
}

impl ObjectImpl for RpiCamSrcPad {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![glib::ParamSpecEnum::builder_with_default(
                "stream-role",
                PadStreamRole::VideoRecording,
            )
            .nick("Stream role")
            .blurb("libcamerasrc's stream role: raw gives the raw Bayer stream, the others a processed one (src: main; a src_%u pad: lores); see docs/libcamerasrc-dropin.md")
            .mutable_ready()
            .build()]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "stream-role" {
            *lock(&self.stream_role) = value.get().expect("type checked upstream");
            // The element maps the role onto its streams (src_%u pads).
            let pad = self.obj();
            if let Some(el) = pad
                .parent()
                .and_then(|p| p.downcast::<crate::rpicamsrc2::RpiCamSrc2>().ok())
            {
                el.imp().stream_role_changed();
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "stream-role" => lock(&self.stream_role).to_value(),
            _ => pspec.default_value().clone(),
        }
    }
}
impl GstObjectImpl for RpiCamSrcPad {}
impl PadImpl for RpiCamSrcPad {}

impl RpiCamSrcPad {
    pub(super) fn role(&self) -> StreamRole {
        *lock(&self.role)
    }

    pub(super) fn stream_role(&self) -> PadStreamRole {
        *lock(&self.stream_role)
    }

    pub(super) fn stats(&self) -> PadStats {
        self.counters.get()
    }

    pub(super) fn stats_now(&self, camera: &camera::CameraStats) -> PadStats {
        self.counters.now(self.role(), camera)
    }

    pub(super) fn negotiated(&self) -> Option<PadNeg> {
        lock(&self.state).neg.clone()
    }

    pub(super) fn reset(&self) {
        *lock(&self.state) = State::default();
        self.counters.reset();
    }

    pub(super) fn flush(&self) {
        {
            let mut st = lock(&self.state);
            st.flushing = true;
            // Frames captured for the pad and never pushed: lost.
            let queued = st
                .queue
                .iter()
                .filter(|i| matches!(i, Item::Frame(_)))
                .count();
            self.counters.add_dropped(queued as u64);
            st.queue.clear();
            st.neg = None;
        }
        self.cond.notify_all();
    }

    pub(super) fn mark_discont(&self) {
        lock(&self.state).discont = true;
    }

    pub(super) fn unconfigure(&self) {
        let mut p = lock(&self.state);
        p.neg = None;
        p.last_seq = None;
        p.queue.retain(|i| matches!(i, Item::Event(_)));
    }

    pub(super) fn queue(&self, item: Item) {
        if let Item::Event(e) = &item {
            if matches!(e.view(), gst::EventView::Eos(_)) {
                // The stream ends: frames the camera misses from now on are not the pad's.
                self.counters.end_of_stream();
            }
        }
        lock(&self.state).queue.push_back(item);
        self.cond.notify_all();
    }

    pub(super) fn configure(&self, neg: PadNeg, stream_id: &str, group: gst::GroupId) {
        {
            let mut p = lock(&self.state);
            // Frames queued under other caps are stale; a pad whose caps stay keeps its frames.
            if p.caps_sent.as_ref().is_some_and(|c| c != &neg.caps) {
                let before = p.queue.len();
                p.queue.retain(|i| matches!(i, Item::Event(_)));
                self.counters.add_dropped((before - p.queue.len()) as u64);
            }
            if !p.started {
                p.queue.push_back(Item::Event(
                    gst::event::StreamStart::builder(stream_id)
                        .group_id(group)
                        .build(),
                ));
            }
            if p.caps_sent.as_ref() != Some(&neg.caps) {
                p.queue
                    .push_back(Item::Event(gst::event::Caps::new(&neg.caps)));
                p.caps_sent = Some(neg.caps.clone());
            }
            if !p.started {
                let segment = gst::FormattedSegment::<gst::ClockTime>::new();
                p.queue
                    .push_back(Item::Event(gst::event::Segment::new(&segment)));
                p.started = true;
            }
            p.neg = Some(neg);
        }
        self.cond.notify_all();
    }

    pub(super) fn offer(&self, frame: &mut Frame<'_>) -> Offer {
        let role = self.role();
        let mut out = Offer::default();
        let mut p = lock(&self.state);
        let Some(neg) = p.neg.as_ref() else {
            return out;
        };
        self.counters
            .saw_camera_missed(frame.camera.stream_without_buffer[role as usize]);
        let seq = frame.seq;
        let wants = |s: u64| neg.wants(s.saturating_sub(frame.base_seq));
        // Frames this pad wanted since its last one that never came: lost.
        let from = p.last_seq.map(|l| l + 1).unwrap_or(seq);
        let lost = (from..seq).filter(|s| wants(*s)).count() as u64;
        let wanted = wants(seq);
        self.counters.add_dropped(lost);
        if seq > from {
            gst::debug!(CAT, imp = self, "{role}: frames {from}..{seq} lost");
            if !p.warned_starved {
                p.warned_starved = true;
                out.first_starved = true;
            }
        }
        p.last_seq = Some(seq);
        if !wanted {
            return out;
        }
        let Some(i) = frame.buffers.iter().position(|(r, _)| *r == role) else {
            // The camera had no free buffer for this stream (its consumer holds them all),
            // or the frame failed.
            self.counters.add_dropped(1);
            if frame.ok && !p.warned_starved {
                p.warned_starved = true;
                out.first_starved = true;
            }
            return out;
        };
        let (_, fb) = frame.buffers.swap_remove(i);
        self.push_frame(p, fb, frame.metadata, frame.pts);
        out.delivered = true;
        out
    }

    pub(super) fn offer_still(
        &self,
        buffer: camera::FrameBuffer,
        metadata: &camera::FrameMetadata,
        pts: Option<gst::ClockTime>,
    ) -> bool {
        let p = lock(&self.state);
        if p.neg.is_none() {
            return false;
        }
        self.push_frame(p, buffer, metadata, pts);
        true
    }

    /// Queues a frame (flagged DISCONT after a gap) and wakes the task.
    fn push_frame(
        &self,
        mut p: std::sync::MutexGuard<'_, State>,
        buffer: camera::FrameBuffer,
        metadata: &camera::FrameMetadata,
        pts: Option<gst::ClockTime>,
    ) {
        let discont = std::mem::take(&mut p.discont);
        p.queue.push_back(Item::Frame(Box::new(PendingFrame {
            buffer,
            metadata: metadata.clone(),
            pts,
            discont,
        })));
        drop(p);
        self.cond.notify_all();
    }

    /// The next item, with the stream it belongs to; none when the pad flushes.
    fn next_item(&self) -> Option<(Item, Option<PadNeg>, bool)> {
        let mut st = lock(&self.state);
        loop {
            if st.flushing {
                return None;
            }
            if let Some(i) = st.queue.pop_front() {
                return Some((i, st.neg.clone(), st.video_meta));
            }
            st = self
                .cond
                .wait_timeout(st, ITEM_POLL)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    pub(super) fn iterate(&self) -> Option<Result<gst::FlowSuccess, gst::FlowError>> {
        let (item, neg, video_meta) = self.next_item()?;
        let pad = self.obj();
        match item {
            Item::Event(ev) => {
                let is_eos = matches!(ev.view(), gst::EventView::Eos(_));
                let caps = match ev.view() {
                    gst::EventView::Caps(c) => Some(c.caps_owned()),
                    _ => None,
                };
                pad.push_event(ev);
                if let Some(caps) = caps {
                    // Does downstream handle strides and offsets (GstVideoMeta)?
                    let mut q = gst::query::Allocation::new(Some(&caps), true);
                    let vm = pad.peer_query(&mut q)
                        && q.find_allocation_meta::<gst_video::VideoMeta>().is_some();
                    gst::debug!(
                        CAT,
                        imp = self,
                        "{}: downstream video meta: {vm}",
                        pad.name()
                    );
                    lock(&self.state).video_meta = vm;
                }
                if is_eos {
                    let _ = pad.pause_task();
                }
                None
            }
            Item::Frame(f) => {
                let neg = neg?;
                let seq = f.metadata.sequence;
                let mut copied = false;
                let buffer = match wrap(f.buffer, &neg, video_meta, &mut copied) {
                    Ok(mut b) => {
                        let bm = b.make_mut();
                        bm.set_offset(seq);
                        bm.set_offset_end(seq + 1);
                        bm.set_pts(f.pts);
                        if f.discont {
                            bm.set_flags(gst::BufferFlags::DISCONT);
                        }
                        bm.set_duration(neg.frame_duration.or(Some(
                            gst::ClockTime::from_useconds(f.metadata.frame_duration_us),
                        )));
                        if let Err(e) = meta::attach(bm, &f.metadata) {
                            gst::warning!(CAT, imp = self, "cannot attach frame metadata: {e}");
                        }
                        b
                    }
                    Err(e) => {
                        gst::warning!(
                            CAT,
                            imp = self,
                            "{}: cannot wrap frame {seq}: {e}",
                            pad.name()
                        );
                        self.counters.add_dropped(1);
                        return None;
                    }
                };
                // Counted before the push: downstream may read the statistics as soon as it has
                // the buffer.
                if copied {
                    self.counters.add_copied();
                }
                let res = pad.push(buffer);
                if res.is_ok() {
                    self.counters.add_pushed();
                } else {
                    // Not delivered (downstream flushing, not linked, an error): lost.
                    self.counters.add_dropped(1);
                }
                Some(res)
            }
        }
    }
}

/// Wraps a camera buffer for a pad: zero-copy (the camera's memory becomes the GstMemory and
/// returns to the camera when the last reference drops), with GstVideoMeta for the ISP's
/// strides; copied into GStreamer's default layout only for a downstream that cannot take
/// strides (counted in `copied`).
fn wrap(
    fb: camera::FrameBuffer,
    neg: &PadNeg,
    video_meta: bool,
    copied: &mut bool,
) -> Result<gst::Buffer, glib::BoolError> {
    let layout = fb.layout().clone();
    let Some(info) = &neg.info else {
        // Raw Bayer: GStreamer has no way to tell downstream a stride for video/x-bayer, so
        // rows must be tight. The camera's rows are 32-byte aligned: when that differs from
        // the tight row, copy (counted), else wrap.
        let p = layout
            .planes
            .first()
            .copied()
            .unwrap_or(camera::format::PlaneLayout {
                offset: 0,
                stride: 0,
                rows: 0,
            });
        let tight = neg.raw_row_bytes;
        if tight == 0 || p.stride == tight {
            let mut b = gst::Buffer::new();
            b.make_mut().append_memory(memory::camera_memory(fb));
            return Ok(b);
        }
        *copied = true;
        let src = fb.as_ref();
        let mut out = Vec::with_capacity(tight * p.rows);
        for r in 0..p.rows {
            let start = p.offset + r * p.stride;
            out.extend_from_slice(src.get(start..start + tight).unwrap_or(&[]));
        }
        return Ok(gst::Buffer::from_mut_slice(out));
    };
    let matches = caps::layout_matches(info, &layout);
    let mut b = gst::Buffer::new();
    let bm = b.make_mut();
    bm.append_memory(memory::camera_memory(fb));
    if !matches {
        let offsets: Vec<usize> = layout.planes.iter().map(|p| p.offset).collect();
        let strides: Vec<i32> = layout.planes.iter().map(|p| p.stride as i32).collect();
        gst_video::VideoMeta::add_full(
            bm,
            gst_video::VideoFrameFlags::empty(),
            info.format(),
            info.width(),
            info.height(),
            &offsets,
            &strides,
        )?;
        if !video_meta {
            *copied = true;
            return caps::copy_to_default_layout(info, b);
        }
    }
    Ok(b)
}
