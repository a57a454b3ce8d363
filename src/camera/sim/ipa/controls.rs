// SPDX-License-Identifier: MPL-2.0
//! The user's controls as the simulated IPA takes them from each request: clamps to the
//! camera's limits (with a note naming the value and the range) and libcamera's mode semantics
//! (AeEnable, ExposureTimeMode, AnalogueGainMode, AwbEnable, ColourGains (0, 0)).

use crate::camera::controls::{values, ControlId, ControlList, ControlValue};

use super::Ipa;

impl Ipa {
    /// Applies a control list (a request's controls). Returns notes about clamped values.
    pub fn apply(&mut self, c: &ControlList) -> Vec<String> {
        let mut notes = Vec::new();
        let f = |v: &ControlValue| v.as_f64().unwrap_or(0.0);
        // Into the control table's range.
        let clamp = |id: ControlId, v: f64| id.def().map_or(v, |d| d.clamp(v));
        if let Some(ControlValue::I64Array(a)) = c.get(ControlId::FrameDurationLimits) {
            if a.len() == 2 {
                let min = self.mode.min_frame_duration_us() as f64;
                let max = self.sensor.max_frame_duration_us as f64;
                let lo = (a[0] as f64).clamp(min, max);
                let hi = (a[1] as f64).clamp(lo, max);
                self.user.frame_duration_limits = (lo, hi);
            }
        }
        // AeEnable is libcamera's shorthand for both modes (Camera::patchControlList), unless
        // the modes are given in the same request.
        if let Some(v) = c.get(ControlId::AeEnable).and_then(|v| v.as_bool()) {
            if c.get(ControlId::ExposureTimeMode).is_none() {
                self.set_exposure_manual(!v);
            }
            if c.get(ControlId::AnalogueGainMode).is_none() {
                self.set_gain_manual(!v);
            }
        }
        if let Some(v) = c.get(ControlId::ExposureTimeMode).and_then(|v| v.as_i32()) {
            self.set_exposure_manual(v == values::MODE_MANUAL);
        }
        if let Some(v) = c.get(ControlId::AnalogueGainMode).and_then(|v| v.as_i32()) {
            self.set_gain_manual(v == values::MODE_MANUAL);
        }
        if let Some(v) = c.get(ControlId::ExposureTime) {
            let req = f(v);
            let (lo, hi) = (
                f64::from(self.mode.min_exposure_us()),
                self.max_exposure_us(),
            );
            let e = req.clamp(lo, hi);
            if (e - req).abs() > 1.0 {
                notes.push(format!(
                    "ExposureTime {req:.0} µs is outside {lo:.0}..{hi:.0} µs for the {}x{} mode \
                     at frame durations {:.0}..{:.0} µs; using {e:.0} µs",
                    self.mode.size.width,
                    self.mode.size.height,
                    self.user.frame_duration_limits.0,
                    self.user.frame_duration_limits.1
                ));
            }
            self.user.exposure_us = Some(e);
        }
        if let Some(v) = c.get(ControlId::AnalogueGain) {
            let req = f(v);
            let (lo, hi) = self.sensor.analogue_gain;
            let g = req.clamp(lo, hi);
            if (g - req).abs() > 1e-3 {
                notes.push(format!(
                    "AnalogueGain {req} is outside {lo}..{hi:.3} for {}; using {g:.3}",
                    self.sensor.model
                ));
            }
            self.user.gain = Some(g);
        }
        let idx = |v: &ControlValue, n: usize| (v.as_i32().unwrap_or(0).max(0) as usize).min(n);
        if let Some(v) = c.get(ControlId::AeExposureMode) {
            self.user.exposure_mode = idx(v, 2);
        }
        if let Some(v) = c.get(ControlId::AeMeteringMode) {
            self.user.metering = idx(v, 2);
        }
        if let Some(v) = c.get(ControlId::AeConstraintMode) {
            let i = idx(v, 2);
            if i >= self.sensor.tuning.constraint_modes.len() {
                notes.push(format!(
                    "AeConstraintMode {i} is not in {}'s tuning (it has {}); using normal",
                    self.sensor.model,
                    self.sensor.tuning.constraint_modes.join(", ")
                ));
                self.user.constraint = 0;
            } else {
                self.user.constraint = i;
            }
        }
        if let Some(v) = c.get(ControlId::ExposureValue) {
            self.user.ev = clamp(ControlId::ExposureValue, f(v));
        }
        if let Some(v) = c.get(ControlId::AeFlickerPeriod) {
            let p = f(v);
            self.user.flicker_period_us = (p > 0.0).then_some(p);
        }
        if let Some(v) = c.get(ControlId::AeFlickerMode).and_then(|v| v.as_i32()) {
            if v == values::FLICKER_OFF {
                self.user.flicker_period_us = None;
            }
        }
        if let Some(v) = c.get(ControlId::AwbEnable).and_then(|v| v.as_bool()) {
            self.user.awb_enabled = v;
            if v {
                self.user.colour_gains = None;
            } else if self.user.colour_gains.is_none() {
                // Freeze what AWB had reached.
                self.user.colour_gains = Some(self.awb_gains);
            }
        }
        if let Some(v) = c.get(ControlId::AwbMode) {
            self.user.awb_mode = idx(v, 6);
        }
        if let Some(a) = c.get(ControlId::ColourGains).and_then(|v| v.as_f32_array()) {
            if a.len() == 2 {
                if a[0] == 0.0 && a[1] == 0.0 {
                    // (0, 0) returns to auto (awb.cpp).
                    self.user.colour_gains = None;
                    self.user.awb_enabled = true;
                } else {
                    self.user.colour_gains = Some([f64::from(a[0]), f64::from(a[1])]);
                }
            }
        }
        if let Some(v) = c.get(ControlId::Brightness) {
            self.user.brightness = clamp(ControlId::Brightness, f(v));
        }
        if let Some(v) = c.get(ControlId::Contrast) {
            self.user.contrast = clamp(ControlId::Contrast, f(v));
        }
        if let Some(v) = c.get(ControlId::Saturation) {
            self.user.saturation = clamp(ControlId::Saturation, f(v));
        }
        if let Some(v) = c.get(ControlId::Gamma) {
            self.user.gamma = clamp(ControlId::Gamma, f(v));
        }
        if let Some(v) = c.get(ControlId::DigitalGain) {
            let g = f(v);
            // Below the range: the AGC's digital gain again.
            let min = ControlId::DigitalGain.def().map_or(1.0, |d| d.min());
            self.user.digital_gain = (g >= min).then_some(clamp(ControlId::DigitalGain, g));
        }
        if let Some(v) = c.get(ControlId::AfMode).and_then(|v| v.as_i32()) {
            if self.sensor.lens.is_some() {
                self.user.af_mode = v;
                self.af_scan_done = false;
                if v != values::AF_MODE_MANUAL {
                    self.af_state = values::AF_STATE_SCANNING;
                }
            }
        }
        if let Some(v) = c.get(ControlId::AfRange).and_then(|v| v.as_i32()) {
            self.user.af_range_macro = v == 1;
        }
        if let Some(v) = c.get(ControlId::AfSpeed).and_then(|v| v.as_i32()) {
            self.user.af_fast = v == 1;
        }
        if let Some(v) = c.get(ControlId::LensPosition) {
            if let Some(l) = self.sensor.lens {
                self.user.lens_position = Some(f(v).clamp(0.0, f64::from(l.max)));
            }
        }
        notes
    }

    fn set_exposure_manual(&mut self, manual: bool) {
        if manual && !self.user.exposure_manual && self.user.exposure_us.is_none() {
            // Freeze the exposure the AGC had reached (libcamera semantics).
            self.user.exposure_us = Some(f64::from(self.exposure.current) * self.line_us());
        }
        if !manual {
            self.user.exposure_us = None;
        }
        self.user.exposure_manual = manual;
    }

    fn set_gain_manual(&mut self, manual: bool) {
        if manual && !self.user.gain_manual && self.user.gain.is_none() {
            self.user.gain = Some(self.gain.current);
        }
        if !manual {
            self.user.gain = None;
        }
        self.user.gain_manual = manual;
    }
}
