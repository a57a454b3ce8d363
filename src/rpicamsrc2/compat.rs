// SPDX-License-Identifier: MPL-2.0
//! libcamerasrc drop-in (docs/libcamerasrc-dropin.md): its request pads `src_%u` with their
//! `stream-role`, its `sensor-config` structure, and the child proxy through which
//! `gst-launch-1.0` sets `src_0::stream-role=raw`.
//!
//! rpicamsrc2 has three streams: main (the `src` pad, always there), lores and raw. A `src_%u`
//! pad carries lores when its `stream-role` is a processed one (`video-recording`, the default,
//! `view-finder`, `still-capture`) and raw when it is `raw`; the assignment follows the pads'
//! order and is redone whenever a role changes ([`assign_roles`]).

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::camera::format::Size;
use crate::camera::{SensorModeSpec, StreamRole};
use crate::sync::lock;

use super::imp::RpiCamSrc2;
use super::settings::SensorModeSetting;
use super::{PadStreamRole, RpiCamSrcPad};

/// The stream a pad with libcamerasrc's `role` asks for.
fn wanted(role: PadStreamRole) -> StreamRole {
    match role {
        PadStreamRole::Raw => StreamRole::Raw,
        _ => StreamRole::Lores,
    }
}

/// The streams of the `src_%u` pads, in their order, given what the other pads hold
/// (`taken`) and each `src_%u` pad's stream role: each gets the stream its role asks for
/// when that is free, else the other one left (a mismatch [`check_roles`] refuses).
pub(super) fn assign_roles(taken: &[StreamRole], roles: &[PadStreamRole]) -> Vec<StreamRole> {
    let mut used: Vec<StreamRole> = taken.to_vec();
    let mut out = vec![None; roles.len()];
    // Pads whose wish can be met first, then the rest with what is left.
    for (i, r) in roles.iter().enumerate() {
        let w = wanted(*r);
        if !used.contains(&w) {
            used.push(w);
            out[i] = Some(w);
        }
    }
    for slot in out.iter_mut().filter(|s| s.is_none()) {
        let left = [StreamRole::Lores, StreamRole::Raw]
            .into_iter()
            .find(|r| !used.contains(r))
            .unwrap_or(StreamRole::Raw);
        used.push(left);
        *slot = Some(left);
    }
    out.into_iter()
        .map(|r| r.unwrap_or(StreamRole::Raw))
        .collect()
}

/// The sensor mode libcamerasrc's `sensor-config` structure names (`width`, `height`, `depth`,
/// all positive; libcamerasrc's optional binning, skipping and analog-crop fields are ignored,
/// as libcamera ignores them).
///
/// Errors: a field missing or not positive, naming the structure and the fields needed.
pub(super) fn sensor_config_mode(s: &gst::StructureRef) -> Result<SensorModeSpec, String> {
    let field = |f: &str| s.get::<i32>(f).ok().filter(|v| *v > 0);
    match (field("width"), field("height"), field("depth")) {
        (Some(w), Some(h), Some(d)) if d <= i32::from(u8::MAX) => Ok(SensorModeSpec {
            size: Size::new(w as u32, h as u32),
            bit_depth: Some(d as u8),
            packed: None,
        }),
        _ => Err(format!(
            "sensor-config {s} needs positive integer fields width, height and depth (e.g. \
             sensor/config,width=2304,height=1296,depth=10)"
        )),
    }
}

impl RpiCamSrc2 {
    /// The stream and name of a new `src_%u` pad: `name` if given (`src_1`), else the next
    /// free `src_N`. None, with an error posted, when lores and raw are both taken.
    pub(super) fn src_n_request(&self, name: Option<&str>) -> Option<(StreamRole, String)> {
        let st = lock(&self.state);
        let taken: Vec<StreamRole> = st.pads.iter().map(|p| p.role()).collect();
        let Some(role) = [StreamRole::Lores, StreamRole::Raw]
            .into_iter()
            .find(|r| !taken.contains(r))
        else {
            drop(st);
            gst::element_imp_error!(
                self,
                gst::CoreError::Pad,
                ("rpicamsrc2 has three streams, src (main), one lores and one raw, and all are \
                  requested; a further src_%u pad cannot be given one")
            );
            return None;
        };
        let name = match name {
            Some(n) if st.pads.iter().any(|p| p.name() == n) => {
                drop(st);
                gst::element_imp_error!(self, gst::CoreError::Pad, ("pad {n} already exists"));
                return None;
            }
            Some(n) => n.to_string(),
            None => (0..)
                .map(|i| format!("src_{i}"))
                .find(|n| !st.pads.iter().any(|p| p.name() == n.as_str()))
                .unwrap_or_default(),
        };
        Some((role, name))
    }

    /// A pad's `stream-role` changed: the `src_%u` pads' streams are assigned again (before
    /// streaming; afterwards the change waits for the next start).
    pub(crate) fn stream_role_changed(&self) {
        let st = lock(&self.state);
        if st.streaming {
            drop(st);
            self.warn_setting(
                "stream-role changed while streaming; it applies when the element next goes \
                 to PAUSED"
                    .to_string(),
            );
            return;
        }
        let (fixed, src_n): (Vec<&RpiCamSrcPad>, Vec<&RpiCamSrcPad>) =
            st.pads.iter().partition(|p| !p.is_src_n());
        let taken: Vec<StreamRole> = fixed.iter().map(|p| p.role()).collect();
        let roles: Vec<PadStreamRole> = src_n.iter().map(|p| p.stream_role()).collect();
        for (pad, role) in src_n.iter().zip(assign_roles(&taken, &roles)) {
            pad.set_role(role);
        }
    }

    /// Checks that each pad's stream matches its `stream-role` before negotiation.
    ///
    /// Errors: `src` asked for `raw` (it is always the processed main stream), or a `src_%u`
    /// pad left with a stream its role does not ask for (two processed or two raw ones
    /// requested beside `src`), naming the pads.
    pub(super) fn check_roles(pads: &[RpiCamSrcPad]) -> Result<(), gst::ErrorMessage> {
        for p in pads {
            let asked = p.stream_role();
            let ok = match p.role() {
                StreamRole::Main => asked != PadStreamRole::Raw,
                r if p.is_src_n() => wanted(asked) == r,
                _ => true,
            };
            if !ok {
                let nick = glib::EnumValue::from_value(&asked.to_value())
                    .map(|(_, v)| v.nick().to_string())
                    .unwrap_or_default();
                return Err(gst::error_msg!(
                    gst::CoreError::Negotiation,
                    (
                        "{} asks for stream-role {nick}, but rpicamsrc2 has one processed stream \
                         besides src (main) and one raw stream; it carries {}. Request at most \
                         one processed src_%u pad and one with stream-role=raw \
                         (docs/libcamerasrc-dropin.md)",
                        p.name(),
                        p.role()
                    )
                ));
            }
        }
        Ok(())
    }

    /// Sets the `sensor-config` property: libcamerasrc's sensor configuration as our sensor
    /// mode (`sensor-mode` reads W:H:depth afterwards); a bad structure is refused with a
    /// warning and leaves the setting as it was.
    pub(super) fn set_sensor_config(&self, value: Option<gst::Structure>) {
        let Some(s) = value else {
            let mut st = lock(&self.settings);
            st.sensor_config = None;
            st.sensor_mode = None;
            return;
        };
        match sensor_config_mode(&s) {
            Ok(spec) => {
                let mut st = lock(&self.settings);
                st.sensor_mode = Some(SensorModeSetting {
                    text: spec.to_string(),
                    spec,
                });
                st.sensor_config = Some(s);
            }
            Err(e) => self.warn_setting(format!("{e}; ignored")),
        }
    }
}

impl ChildProxyImpl for RpiCamSrc2 {
    fn child_by_index(&self, index: u32) -> Option<glib::Object> {
        self.obj()
            .src_pads()
            .into_iter()
            .nth(index as usize)
            .map(|p| p.upcast())
    }

    fn children_count(&self) -> u32 {
        self.obj().num_src_pads() as u32
    }

    fn child_by_name(&self, name: &str) -> Option<glib::Object> {
        self.obj().static_pad(name).map(|p| p.upcast())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PadStreamRole as P;
    use StreamRole::{Lores, Main, Raw};

    #[test]
    fn src_n_pads_get_the_stream_their_role_asks_for() {
        // libcamerasrc's multi-stream test: src and one src_%u with the default role.
        assert_eq!(assign_roles(&[Main], &[P::VideoRecording]), vec![Lores]);
        assert_eq!(assign_roles(&[Main], &[P::Raw]), vec![Raw]);
        // Raw first, view-finder second; and the other way round.
        assert_eq!(
            assign_roles(&[Main], &[P::Raw, P::Viewfinder]),
            vec![Raw, Lores]
        );
        assert_eq!(
            assign_roles(&[Main], &[P::StillCapture, P::Raw]),
            vec![Lores, Raw]
        );
        // Two processed ones: the second is left with raw (refused by check_roles).
        assert_eq!(
            assign_roles(&[Main], &[P::VideoRecording, P::Viewfinder]),
            vec![Lores, Raw]
        );
        // Beside a named lores pad, a processed src_%u pad can only be raw.
        assert_eq!(assign_roles(&[Main, Lores], &[P::Viewfinder]), vec![Raw]);
    }

    #[test]
    fn sensor_config_names_a_mode() {
        gst::init().unwrap();
        let s: gst::Structure = "sensor/config,width=2304,height=1296,depth=10"
            .parse()
            .unwrap();
        let m = sensor_config_mode(&s).unwrap();
        assert_eq!(m.to_string(), "2304:1296:10");
        for bad in [
            "sensor/config,width=2304,height=1296",
            "sensor/config,width=0,height=1296,depth=10",
            "sensor/config,width=2304,height=1296,depth=(string)ten",
        ] {
            let s: gst::Structure = bad.parse().unwrap();
            let e = sensor_config_mode(&s).unwrap_err();
            assert!(e.contains("width, height and depth"), "{e}");
        }
    }
}
