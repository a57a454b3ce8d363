// SPDX-License-Identifier: MPL-2.0
//! The camera controls the user set: what a control property implies, the list replayed when
//! the camera starts, and the checks against the configured camera's ranges.

use std::collections::BTreeSet;

use gst::glib;
use gst::subclass::prelude::*;

use crate::camera::controls::values;
use crate::camera::{
    CameraBackend, CameraConfiguration, ControlId, ControlInfo, ControlList, ControlValue,
};
use crate::sync::lock;

use super::imp::RpiCamSrc2;
use super::props;
use super::CAT;

/// The auto/manual mode controls that a value control implies when the user has not set them.
const MODE_CONTROLS: [ControlId; 3] = [
    ControlId::ExposureTimeMode,
    ControlId::AnalogueGainMode,
    ControlId::AeFlickerMode,
];

/// The mode `id` implies when set (`set`) or unset: a fixed exposure time or gain implies
/// manual mode (rpicam-apps `--shutter`, `--gain`) and unsetting it (0) auto; a flicker
/// period implies manual flicker avoidance.
fn implied_mode(id: ControlId, set: bool) -> Option<(ControlId, ControlValue)> {
    let auto_manual = |mode| {
        let v = if set {
            values::MODE_MANUAL
        } else {
            values::MODE_AUTO
        };
        Some((mode, ControlValue::I32(v)))
    };
    match id {
        ControlId::ExposureTime => auto_manual(ControlId::ExposureTimeMode),
        ControlId::AnalogueGain => auto_manual(ControlId::AnalogueGainMode),
        ControlId::AeFlickerPeriod => Some((
            ControlId::AeFlickerMode,
            ControlValue::I32(values::FLICKER_MANUAL),
        )),
        _ => None,
    }
}

/// Every control the user set, replayed when the camera starts.
#[derive(Debug, Clone, Default)]
pub(super) struct UserControls {
    controls: ControlList,
    /// The mode controls ([`MODE_CONTROLS`]) the user set explicitly: a value control no
    /// longer implies them.
    explicit_modes: BTreeSet<ControlId>,
}

impl UserControls {
    /// The controls set.
    pub fn list(&self) -> &ControlList {
        &self.controls
    }

    /// Sets `id` to `value` (`None`: unset) and returns what changed, the implied mode
    /// included, to send to a streaming camera (an unset control is not sent).
    pub fn set(&mut self, id: ControlId, value: Option<ControlValue>) -> ControlList {
        let mut delta = ControlList::new();
        if MODE_CONTROLS.contains(&id) {
            self.explicit_modes.insert(id);
        } else if let Some((mode, m)) = implied_mode(id, value.is_some()) {
            if !self.explicit_modes.contains(&mode) {
                self.controls.set(mode, m.clone());
                delta.set(mode, m);
            }
        }
        match value {
            Some(v) => {
                self.controls.set(id, v.clone());
                delta.set(id, v);
            }
            None => {
                self.controls.remove(id);
            }
        }
        delta
    }

    /// The controls to start with: the user's plus the frame rate's frame-duration limits
    /// (µs; for a variable rate, from the mode's shortest frame to `max_frame_duration_us`).
    pub fn start_controls(
        &self,
        config: &CameraConfiguration,
        max_frame_duration_us: u64,
    ) -> ControlList {
        let mut c = self.controls.clone();
        let limits = match config.framerate {
            Some(_) => {
                let d = config.frame_duration_us() as i64;
                vec![d, d]
            }
            // framerate=0/1: variable; long exposures may lengthen frames.
            None => {
                let min = config
                    .chosen_mode
                    .as_ref()
                    .map(|m| m.min_frame_duration_us() as i64)
                    .unwrap_or(0);
                vec![min, (max_frame_duration_us as i64).max(min)]
            }
        };
        c.set(
            ControlId::FrameDurationLimits,
            ControlValue::I64Array(limits),
        );
        c
    }
}

/// Warnings for the controls outside the configured camera's ranges (exposure time and gain
/// are reported by the camera itself, with the frame-duration limit that applies).
pub(super) fn out_of_range(cam: &dyn CameraBackend, controls: &ControlList) -> Vec<String> {
    let infos = cam.controls();
    controls
        .iter()
        .filter(|(id, _)| {
            !matches!(
                id,
                ControlId::ExposureTime | ControlId::AnalogueGain | ControlId::FrameDurationLimits
            )
        })
        .filter_map(|(id, v)| match infos.get(id) {
            Some(info) => check(info, *id, v).map(|e| format!("{e}; the camera clamps it")),
            None => Some(format!(
                "{} is not supported by {}; ignored",
                id,
                cam.info().model
            )),
        })
        .collect()
}

fn check(info: &ControlInfo, id: ControlId, v: &ControlValue) -> Option<String> {
    info.check(id, v).err()
}

impl RpiCamSrc2 {
    /// Stores a control the user set and, while streaming, sends it with the next request.
    pub(super) fn set_control(&self, p: &props::ControlProp, value: &glib::Value) {
        let v = match props::to_control(p, value) {
            Ok(v) => v,
            Err(e) => {
                self.warn_setting(format!("{e}; ignored"));
                return;
            }
        };
        let delta = {
            let mut s = lock(&self.settings);
            gst::info!(CAT, imp = self, "{} = {:?}", p.name, v);
            s.controls.set(p.id, v)
        };
        let streaming = lock(&self.state).streaming;
        if let (true, Some(cam)) = (streaming, self.camera()) {
            self.warn_out_of_range(cam.as_ref(), &delta);
            cam.set_controls(&delta);
        }
    }

    /// Posts a warning for each control outside the configured camera's ranges.
    pub(super) fn warn_out_of_range(&self, cam: &dyn CameraBackend, controls: &ControlList) {
        for w in out_of_range(cam, controls) {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", w));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_implies_its_mode_unless_set_explicitly() {
        let mut c = UserControls::default();
        let d = c.set(ControlId::ExposureTime, Some(ControlValue::I32(10_000)));
        assert_eq!(
            d.get(ControlId::ExposureTimeMode),
            Some(&ControlValue::I32(values::MODE_MANUAL))
        );
        let d = c.set(ControlId::ExposureTime, None);
        assert_eq!(
            d.get(ControlId::ExposureTimeMode),
            Some(&ControlValue::I32(values::MODE_AUTO))
        );
        assert!(c.list().get(ControlId::ExposureTime).is_none());
        c.set(
            ControlId::AnalogueGainMode,
            Some(ControlValue::I32(values::MODE_AUTO)),
        );
        let d = c.set(ControlId::AnalogueGain, Some(ControlValue::F32(4.0)));
        assert!(d.get(ControlId::AnalogueGainMode).is_none());
        assert_eq!(
            c.list().get(ControlId::AnalogueGainMode),
            Some(&ControlValue::I32(values::MODE_AUTO))
        );
        let d = c.set(ControlId::AeFlickerPeriod, Some(ControlValue::I32(10_000)));
        assert_eq!(
            d.get(ControlId::AeFlickerMode),
            Some(&ControlValue::I32(values::FLICKER_MANUAL))
        );
    }
}
