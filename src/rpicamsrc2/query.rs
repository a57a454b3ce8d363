// SPDX-License-Identifier: MPL-2.0
//! The source pads' queries and events: caps (negotiated, else what the camera could
//! produce), latency (one frame, up to the camera's buffers), reconfigure (renegotiate).

use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::camera::StreamRole;
use crate::sync::lock;

use super::imp::RpiCamSrc2;
use super::negotiate;
use super::pad::RpiCamSrcPad;
use super::HdrMode;

impl RpiCamSrc2 {
    /// What a pad could produce now.
    fn possible_caps(&self, role: StreamRole) -> Option<gst::Caps> {
        let (hdr, spec) = {
            let s = lock(&self.settings);
            (
                s.hdr_mode != HdrMode::Off,
                s.sensor_mode.as_ref().map(|m| m.spec),
            )
        };
        let st = lock(&self.state);
        let main = st
            .pad(StreamRole::Main)
            .and_then(|p| p.negotiated())
            .map(|n| n.caps);
        negotiate::possible_caps(
            st.camera_info.as_ref()?,
            hdr,
            spec.as_ref(),
            role,
            main.as_ref(),
        )
    }

    pub(super) fn src_query(&self, pad: &RpiCamSrcPad, query: &mut gst::QueryRef) -> bool {
        let role = pad.role();
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let negotiated = pad.negotiated().map(|n| n.caps);
                let caps = negotiated
                    .or_else(|| self.possible_caps(role))
                    .unwrap_or_else(|| pad.pad_template_caps());
                let caps = match q.filter() {
                    Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                    None => caps,
                };
                q.set_result(&caps);
                true
            }
            gst::QueryViewMut::Latency(q) => {
                let Some(n) = pad.negotiated() else {
                    return false;
                };
                // A frame is ready one frame duration after its exposure starts; the camera can
                // hold as many frames as it has buffers.
                let fd = n
                    .frame_duration
                    .unwrap_or(gst::ClockTime::from_mseconds(33));
                let count = lock(&self.settings).buffer_count;
                q.set(true, fd, Some(fd * u64::from(count)));
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    pub(super) fn src_event(&self, pad: &RpiCamSrcPad, event: gst::Event) -> bool {
        if let gst::EventView::CustomUpstream(e) = event.view() {
            if e.structure()
                .is_some_and(|s| s.name() == super::still::CAPTURE_STILL_EVENT)
            {
                return self.request_still();
            }
        }
        if pad.is_still() {
            // The still pad follows the main stream's caps: it never reconfigures the camera.
            if let gst::EventView::Reconfigure(_) = event.view() {
                self.configure_still_pad();
                return true;
            }
            return gst::Pad::event_default(pad, Some(&*self.obj()), event);
        }
        if let gst::EventView::Reconfigure(_) = event.view() {
            let mut st = lock(&self.state);
            if st.streaming {
                st.renegotiate = true;
                drop(st);
                if let Some(c) = self.camera() {
                    c.unblock();
                }
            }
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }
}
