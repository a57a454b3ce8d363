// SPDX-License-Identifier: MPL-2.0
//! The simulated image processing algorithms: AGC/AEC, AWB, autofocus, and the sensor's
//! delayed controls, after the Raspberry Pi IPA (`src/ipa/rpi/controller/rpi/agc_channel.cpp`,
//! `awb.cpp`, `common/ipa_base.cpp`, libcamera's DelayedControls), summarised in
//! `docs/sensors.md` ("AGC tuning", "AWB tuning", "IPA control defaults", "Control delays").
//!
//! What is modelled: exposure-mode stage tables, metering modes (centre-weighted, spot, matrix)
//! over 16x12 regions, constraint modes (normal/highlight/shadows bounds on the histogram), EV
//! and base EV, the y_target curve over lux, filter speed with full speed during startup frames,
//! the stable region and the sqrt-speed band, lock after 5 frames within 10%, digital gain up to
//! 4 making up what shutter and gain cannot, exposure and gain quantised to lines and gain
//! codes, frame lengthening for long exposures within the frame-duration limits, flicker
//! avoidance, and the sensor's exposure/gain/vblank delays. Manual exposure time and/or gain
//! follow libcamera's ExposureTimeMode/AnalogueGainMode: switching a mode to manual without a
//! value freezes what the AGC had reached. AWB: grey world over the regions, searching the
//! colour temperature within the AWB mode's range, IIR filtered (speed 0.05, startup 10 frames
//! at full speed). The constraint-mode figures (quantile bounds and targets) are typical Pi
//! tuning values; they are not in sensors.md.

use std::collections::VecDeque;

use crate::camera::controls::{values, ControlId, ControlList, ControlValue};
use crate::camera::metadata::AeState;
use crate::camera::sensor::{SensorInfo, SensorMode};

use super::scene::SceneStats;

/// Red and blue sensor response relative to green under light of colour temperature `ct` K: a
/// smooth model of a Pi sensor's calibrated CT curve (the gains that neutralise a grey surface
/// are the reciprocals).
pub fn raw_response(ct: f64) -> [f64; 2] {
    [1.0 / red_gain_for(ct), 1.0 / blue_gain_for(ct)]
}

fn red_gain_for(ct: f64) -> f64 {
    (1.0 + (ct - 2000.0) / 4500.0).max(0.5)
}

fn blue_gain_for(ct: f64) -> f64 {
    1.0 + 3300.0 / (ct - 1000.0).max(300.0)
}

/// A sensor control whose writes take effect `delay` frames later (libcamera DelayedControls).
#[derive(Debug, Clone)]
pub struct Delayed<T: Copy> {
    delay: u64,
    current: T,
    pending: VecDeque<(u64, T)>,
}

impl<T: Copy> Delayed<T> {
    /// Starts at `v`, applying writes after `delay` frames.
    pub fn new(v: T, delay: u32) -> Self {
        Self {
            delay: u64::from(delay),
            current: v,
            pending: VecDeque::new(),
        }
    }

    /// Writes `v` during frame `frame`; it takes effect at `frame + delay`.
    pub fn write(&mut self, frame: u64, v: T) {
        self.pending.push_back((frame + self.delay, v));
    }

    /// Sets `v` at once (before streaming starts).
    pub fn reset(&mut self, v: T) {
        self.current = v;
        self.pending.clear();
    }

    /// The value in effect for `frame`.
    pub fn at(&mut self, frame: u64) -> T {
        while let Some(&(f, v)) = self.pending.front() {
            if f > frame {
                break;
            }
            self.current = v;
            self.pending.pop_front();
        }
        self.current
    }
}

/// What the sensor used for one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensorFrame {
    /// Exposure, lines.
    pub exposure_lines: u32,
    /// Analogue gain (quantised to a gain code).
    pub analogue_gain: f64,
    /// Frame length, lines.
    pub frame_length: u32,
}

/// Quantises a gain to the sensor's gain codes (cam helper gainCode/gain).
pub fn quantise_gain(model: &str, g: f64, range: (f64, f64)) -> f64 {
    let g = g.clamp(range.0, range.1);
    let q = match model {
        "imx219" => 256.0 / (256.0 - (256.0 - 256.0 / g).round()),
        "imx477" | "imx708" => 1024.0 / (1024.0 - (1024.0 - 1024.0 / g).round()),
        "ov5647" => (g * 16.0).round() / 16.0,
        "imx296" => 10f64.powf((200.0 * g.log10()).round().min(239.0) / 200.0),
        _ => g,
    };
    q.clamp(range.0, range.1)
}

/// The user's controls as the IPA holds them.
#[derive(Debug, Clone)]
struct UserControls {
    exposure_manual: bool,
    gain_manual: bool,
    exposure_us: Option<f64>,
    gain: Option<f64>,
    exposure_mode: usize,
    metering: usize,
    constraint: usize,
    ev: f64,
    flicker_period_us: Option<f64>,
    frame_duration_limits: (f64, f64),
    awb_enabled: bool,
    awb_mode: usize,
    colour_gains: Option<[f64; 2]>,
    brightness: f64,
    contrast: f64,
    saturation: f64,
    gamma: f64,
    digital_gain: Option<f64>,
    af_mode: i32,
    af_range_macro: bool,
    af_fast: bool,
    lens_position: Option<f64>,
}

/// The simulated IPA of one configured camera.
pub struct Ipa {
    sensor: SensorInfo,
    mode: SensorMode,
    user: UserControls,
    exposure: Delayed<u32>,
    gain: Delayed<f64>,
    frame_length: Delayed<u32>,
    frame_count: u64,
    /// Filtered total exposure (µs x gain, no digital gain) the AGC is heading for.
    filtered: f64,
    target: f64,
    lock_count: u32,
    awb_ct: f64,
    awb_gains: [f64; 2],
    awb_frames: u64,
    lux: f64,
    lens: f64,
    af_state: i32,
    af_scan_done: bool,
}

/// What the IPA decided for one frame, for the renderer and the metadata.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameParams {
    /// Sensor settings in effect.
    pub sensor: SensorFrame,
    /// Exposure time, µs.
    pub exposure_us: f64,
    /// Frame duration, µs.
    pub frame_duration_us: f64,
    /// Digital gain.
    pub digital_gain: f64,
    /// White-balance gains [red, blue].
    pub wb: [f64; 2],
    /// Colour temperature estimate, K.
    pub colour_temperature: f64,
    /// Brightness, contrast, saturation, gamma (relative to 2.2).
    pub tone: [f64; 4],
    /// AE state.
    pub ae_state: AeState,
    /// Lens position, dioptres.
    pub lens_position: Option<f64>,
    /// AF state.
    pub af_state: Option<i32>,
}

impl Ipa {
    /// An IPA for `sensor` in `mode` with frame-duration limits (µs).
    pub fn new(sensor: SensorInfo, mode: SensorMode, fdl: (f64, f64)) -> Self {
        let line = mode.line_time_ns() / 1000.0;
        let min_fl = f64::from(mode.min_frame_length);
        let fl = (fdl.0 / line).round().max(min_fl) as u32;
        // IPA defaults: exposure 20 ms, gain 1.0 (ipa_base.cpp).
        let e0 = ((20_000.0 / line).round() as u32).max(mode.min_exposure_lines);
        let lens = sensor.lens.map(|l| f64::from(l.default)).unwrap_or(0.0);
        let ct0 = 4500.0;
        Ipa {
            user: UserControls {
                exposure_manual: false,
                gain_manual: false,
                exposure_us: None,
                gain: None,
                exposure_mode: 0,
                metering: 0,
                constraint: 0,
                ev: 0.0,
                flicker_period_us: None,
                frame_duration_limits: fdl,
                awb_enabled: true,
                awb_mode: 0,
                colour_gains: None,
                brightness: 0.0,
                contrast: 1.0,
                saturation: 1.0,
                gamma: 2.2,
                digital_gain: None,
                af_mode: values::AF_MODE_MANUAL,
                af_range_macro: false,
                af_fast: false,
                lens_position: None,
            },
            exposure: Delayed::new(e0, sensor.exposure_delay),
            gain: Delayed::new(1.0, sensor.gain_delay),
            frame_length: Delayed::new(fl, sensor.vblank_delay),
            frame_count: 0,
            filtered: 20_000.0,
            target: 20_000.0,
            lock_count: 0,
            awb_ct: ct0,
            awb_gains: [red_gain_for(ct0), blue_gain_for(ct0)],
            awb_frames: 0,
            lux: 400.0,
            lens,
            af_state: values::AF_STATE_IDLE,
            af_scan_done: false,
            sensor,
            mode,
        }
    }

    fn line_us(&self) -> f64 {
        self.mode.line_time_ns() / 1000.0
    }

    /// Longest exposure a frame of `frame_length` lines allows, µs.
    fn max_exposure_in_frame(&self, frame_length: u32) -> f64 {
        f64::from(frame_length.saturating_sub(self.sensor.frame_integration_diff)) * self.line_us()
    }

    /// Longest exposure the frame-duration limits allow, µs.
    pub fn max_exposure_us(&self) -> f64 {
        let fl = (self.user.frame_duration_limits.1 / self.line_us()).floor() as u32;
        self.max_exposure_in_frame(fl)
    }

    /// Applies a control list (a request's controls). Returns notes about clamped values.
    pub fn apply(&mut self, c: &ControlList) -> Vec<String> {
        let mut notes = Vec::new();
        let f = |v: &ControlValue| v.as_f64().unwrap_or(0.0);
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
            self.user.ev = f(v).clamp(-8.0, 8.0);
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
            self.user.brightness = f(v).clamp(-1.0, 1.0);
        }
        if let Some(v) = c.get(ControlId::Contrast) {
            self.user.contrast = f(v).clamp(0.0, 32.0);
        }
        if let Some(v) = c.get(ControlId::Saturation) {
            self.user.saturation = f(v).clamp(0.0, 32.0);
        }
        if let Some(v) = c.get(ControlId::Gamma) {
            self.user.gamma = f(v).clamp(0.1, 10.0);
        }
        if let Some(v) = c.get(ControlId::DigitalGain) {
            let g = f(v);
            self.user.digital_gain = (g >= 1.0).then_some(g.min(4.0));
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

    /// Values the camera starts with: the AGC's and the user's, written at once.
    pub fn prime(&mut self) {
        let (e, g) = self.divide(self.filtered);
        let (lines, fl) = self.to_lines(e);
        self.exposure.reset(lines);
        self.gain.reset(g);
        self.frame_length.reset(fl);
    }

    /// The fixed exposure time, when ExposureTimeMode is manual (libcamera ignores
    /// ExposureTime while the mode is auto).
    fn exposure_manual_value(&self) -> Option<f64> {
        if self.user.exposure_manual {
            self.user.exposure_us
        } else {
            None
        }
    }

    fn gain_manual_value(&self) -> Option<f64> {
        if self.user.gain_manual {
            self.user.gain
        } else {
            None
        }
    }

    /// Divides a total exposure (µs x gain) into exposure time and analogue gain along the
    /// exposure-mode stages, honouring manual values (divideUpExposure).
    fn divide(&self, total: f64) -> (f64, f64) {
        let stages = &self.sensor.tuning.exposure_modes[self.user.exposure_mode];
        let max_e = self.max_exposure_us();
        let min_e = f64::from(self.mode.min_exposure_us());
        let (gmin, gmax) = self.sensor.analogue_gain;
        let (e, g) = match (self.exposure_manual_value(), self.gain_manual_value()) {
            (Some(e), Some(g)) => (e, g),
            (Some(e), None) => (e, (total / e).clamp(gmin, gmax)),
            (None, Some(g)) => ((total / g).clamp(min_e, max_e), g),
            (None, None) => {
                let mut e = stages.shutter_us[0].clamp(min_e, max_e);
                let mut g = stages.gain[0];
                let mut done = false;
                for i in 1..stages.shutter_us.len().min(stages.gain.len()) {
                    let se = stages.shutter_us[i].min(max_e);
                    if se * g >= total {
                        e = (total / g).clamp(min_e, max_e);
                        done = true;
                        break;
                    }
                    e = se;
                    let sg = stages.gain[i];
                    if e * sg >= total {
                        g = total / e;
                        done = true;
                        break;
                    }
                    g = sg;
                }
                if !done {
                    // Beyond the last stage: longest exposure, then more gain.
                    e = max_e.max(e);
                    g = total / e;
                }
                // Flicker avoidance: whole periods when the exposure is longer than one.
                if let Some(p) = self.user.flicker_period_us {
                    if e > p {
                        let n = (e / p).floor();
                        let ne = n * p;
                        g *= e / ne;
                        e = ne;
                    }
                }
                (e, g.clamp(gmin, gmax))
            }
        };
        (
            e.clamp(min_e, max_e),
            quantise_gain(self.sensor.model, g, (gmin, gmax)),
        )
    }

    /// Exposure µs -> (exposure lines, frame length lines) per getBlanking.
    fn to_lines(&self, e: f64) -> (u32, u32) {
        let line = self.line_us();
        let diff = self.sensor.frame_integration_diff;
        let lines = ((e / line).round() as u32).max(self.mode.min_exposure_lines);
        let (fd_min, fd_max) = self.user.frame_duration_limits;
        let fl_min = ((fd_min / line).round() as u32).max(self.mode.min_frame_length);
        let fl_max = ((fd_max / line).floor() as u32).max(fl_min);
        let fl = (lines + diff).clamp(fl_min, fl_max);
        (lines.min(fl - diff), fl)
    }

    /// The sensor settings for frame `frame` and the ISP parameters that go with them.
    pub fn frame(&mut self, frame: u64) -> FrameParams {
        let sensor = SensorFrame {
            exposure_lines: self.exposure.at(frame),
            analogue_gain: self.gain.at(frame),
            frame_length: self.frame_length.at(frame),
        };
        // The sensor clips the exposure to the frame it is in.
        let lines = sensor
            .exposure_lines
            .min(sensor.frame_length - self.sensor.frame_integration_diff);
        let exposure_us = f64::from(lines) * self.line_us();
        let frame_duration_us = f64::from(sensor.frame_length) * self.line_us();
        let both_manual =
            self.exposure_manual_value().is_some() && self.gain_manual_value().is_some();
        let digital_gain = if let Some(d) = self.user.digital_gain.filter(|_| both_manual) {
            d
        } else if both_manual {
            1.0
        } else {
            // The ISP's digital gain makes up the difference between what the AGC wants and
            // what the (delayed) sensor settings deliver.
            (self.filtered / (exposure_us * sensor.analogue_gain)).clamp(1.0, 4.0)
        };
        let wb = self.user.colour_gains.unwrap_or(self.awb_gains);
        let ae_state = if both_manual {
            AeState::Idle
        } else if self.lock_count >= 5 {
            AeState::Converged
        } else {
            AeState::Searching
        };
        FrameParams {
            sensor: SensorFrame {
                exposure_lines: lines,
                ..sensor
            },
            exposure_us,
            frame_duration_us,
            digital_gain,
            wb,
            colour_temperature: self.awb_ct,
            tone: [
                self.user.brightness,
                self.user.contrast,
                self.user.saturation,
                self.user.gamma / 2.2,
            ],
            ae_state,
            lens_position: self.sensor.lens.map(|_| self.lens),
            af_state: self.sensor.lens.map(|_| self.af_state),
        }
    }

    /// The linear signal of a 0.18 surface for `lux`, exposure and total analogue gain.
    pub fn grey_signal(&self, lux: f64, exposure_us: f64, gain: f64) -> f64 {
        let r = &self.sensor.tuning.lux;
        r.y / 65536.0 * (lux / r.lux) * (exposure_us * gain * self.mode.sensitivity)
            / (r.shutter_us * r.gain)
    }

    /// Runs AGC, AWB and AF on frame `frame`'s statistics, writing new sensor settings.
    /// `stats` are the scene's reflectance statistics, `grey` the frame's grey signal,
    /// `scene_ct` the light's colour temperature, `focus_d` the subject distance (dioptres).
    pub fn process(
        &mut self,
        frame: u64,
        p: &FrameParams,
        stats: &SceneStats,
        grey: f64,
        scene_ct: f64,
        focus_d: f64,
    ) {
        self.frame_count += 1;
        // Measured mean linear luma of the (pre-digital-gain) statistics.
        let k = grey / 0.18;
        let weights = metering_weights(self.user.metering);
        let y_of = |gain: f64| -> f64 {
            let (mut s, mut n) = (0.0, 0.0);
            for (i, r) in stats.regions.iter().enumerate() {
                let w = weights[i];
                s += w * (r * k * gain).min(1.0);
                n += w;
            }
            s / n.max(1e-9)
        };
        let y = y_of(1.0);
        // Lux estimate (lux.cpp): scale the reference by measured luma and exposure.
        let r = &self.sensor.tuning.lux;
        let total_applied = p.exposure_us * p.sensor.analogue_gain;
        if y > 1e-6 && total_applied > 0.0 {
            let lux = r.lux * (y * 65536.0 / r.y) * (r.shutter_us * r.gain)
                / (total_applied * self.mode.sensitivity);
            self.lux = 0.8 * self.lux + 0.2 * lux;
            if self.frame_count <= 2 {
                self.lux = lux;
            }
        }
        self.agc(frame, y_of, stats, k, total_applied);
        self.awb(stats, scene_ct);
        self.af(focus_d);
    }

    fn agc(
        &mut self,
        frame: u64,
        y_of: impl Fn(f64) -> f64,
        stats: &SceneStats,
        k: f64,
        total_applied: f64,
    ) {
        let t = &self.sensor.tuning;
        let manual_e = self.exposure_manual_value();
        let manual_g = self.gain_manual_value();
        if manual_e.is_none() || manual_g.is_none() {
            let y_target = interp(t.y_target, self.lux);
            let target_y = (y_target * 2f64.powf(self.user.ev) * t.base_ev).min(0.9);
            // computeGain: iterate towards the target.
            let mut gain = 1.0;
            for _ in 0..8 {
                let y = y_of(gain);
                let extra = (target_y / y.max(1e-6)).min(10.0);
                gain *= extra;
                if extra < 1.01 {
                    break;
                }
            }
            // Constraint modes on the histogram (applied to the luma quantiles).
            let q = |lo: f64, hi: f64, g: f64| quantile_mean(&stats.histogram, lo, hi, k * g);
            let bounds: &[(bool, f64, f64, f64)] = match self.user.constraint {
                1 => &[(false, 0.98, 1.0, 0.5), (true, 0.98, 1.0, 0.8)],
                2 => &[(false, 0.0, 0.5, 0.17)],
                _ => &[(false, 0.98, 1.0, 0.5)],
            };
            for &(upper, lo, hi, target) in bounds {
                let m = q(lo, hi, gain);
                if m <= 0.0 {
                    continue;
                }
                let g = gain * target / m;
                if (!upper && g > gain) || (upper && g < gain) {
                    gain = g;
                }
            }
            let stages = &t.exposure_modes[self.user.exposure_mode];
            let max_e = manual_e.unwrap_or_else(|| {
                stages
                    .shutter_us
                    .last()
                    .copied()
                    .unwrap_or(66666.0)
                    .min(self.max_exposure_us())
            });
            let max_g = manual_g.unwrap_or_else(|| {
                stages
                    .gain
                    .last()
                    .copied()
                    .unwrap_or(1.0)
                    .min(self.sensor.analogue_gain.1)
            });
            let min_total = f64::from(self.mode.min_exposure_us()) * self.sensor.analogue_gain.0;
            self.target = (total_applied * gain).clamp(min_total, max_e * max_g);
            // filterExposure.
            let startup = self.frame_count <= u64::from(t.startup_frames);
            let ratio = self.target / self.filtered.max(1e-9);
            if startup {
                self.filtered = self.target;
            } else if (ratio - 1.0).abs() > 0.02 {
                let speed = if (0.8..1.2).contains(&ratio) {
                    t.speed.sqrt()
                } else {
                    t.speed
                };
                self.filtered = speed * self.target + (1.0 - speed) * self.filtered;
            }
            let err = (self.target - self.filtered).abs();
            if err < 0.1 * self.target + 200.0 {
                self.lock_count += 1;
            } else {
                self.lock_count = 0;
            }
        } else {
            self.lock_count = 0;
        }
        let (e, g) = match (manual_e, manual_g) {
            (Some(e), Some(g)) => {
                self.filtered = e * g;
                (e, g)
            }
            _ => self.divide(self.filtered),
        };
        let (lines, fl) = self.to_lines(e);
        // Write only changes, as DelayedControls does.
        if lines != self.exposure.current
            || self.exposure.pending.back().is_some_and(|p| p.1 != lines)
        {
            self.exposure.write(frame, lines);
        }
        if (g - self.gain.current).abs() > 1e-6
            || self
                .gain
                .pending
                .back()
                .is_some_and(|p| (p.1 - g).abs() > 1e-6)
        {
            self.gain.write(frame, g);
        }
        if fl != self.frame_length.current
            || self.frame_length.pending.back().is_some_and(|p| p.1 != fl)
        {
            self.frame_length.write(frame, fl);
        }
    }

    fn awb(&mut self, stats: &SceneStats, scene_ct: f64) {
        self.awb_frames += 1;
        if !self.user.awb_enabled || self.user.colour_gains.is_some() {
            return;
        }
        let (_, lo, hi) = self.sensor.tuning.awb_modes[self.user.awb_mode];
        let resp = raw_response(scene_ct);
        // Grey world on the raw statistics: mean R/G and B/G.
        let (mut r, mut g, mut b) = (0.0, 0.0, 0.0);
        for c in &stats.region_rgb {
            r += c[0] * resp[0];
            g += c[1];
            b += c[2] * resp[1];
        }
        let (rg, bg) = (r / g.max(1e-9), b / g.max(1e-9));
        // Search the mode's CT range for the light that best explains the ratios.
        let mut best = (f64::MAX, f64::from(lo));
        let mut ct = f64::from(lo);
        while ct <= f64::from(hi) {
            let m = raw_response(ct);
            let d = (m[0] - rg).powi(2) + (m[1] - bg).powi(2);
            if d < best.0 {
                best = (d, ct);
            }
            ct += 10.0;
        }
        let speed = if self.awb_frames <= 10 { 1.0 } else { 0.05 };
        self.awb_ct = speed * best.1 + (1.0 - speed) * self.awb_ct;
        self.awb_gains = [red_gain_for(self.awb_ct), blue_gain_for(self.awb_ct)];
    }

    fn af(&mut self, focus_d: f64) {
        let Some(lens) = self.sensor.lens else {
            return;
        };
        let (lo, hi) = if self.user.af_range_macro {
            lens.macro_range
        } else {
            lens.normal
        };
        match self.user.af_mode {
            values::AF_MODE_MANUAL => {
                if let Some(p) = self.user.lens_position {
                    self.lens = p;
                }
                self.af_state = values::AF_STATE_IDLE;
            }
            mode => {
                if mode == values::AF_MODE_AUTO && self.af_scan_done {
                    return;
                }
                let goal = focus_d.clamp(f64::from(lo), f64::from(hi));
                let step = if self.user.af_fast { 1.0 } else { 0.5 };
                let d = goal - self.lens;
                if d.abs() <= step {
                    self.lens = goal;
                    self.af_state = values::AF_STATE_FOCUSED;
                    self.af_scan_done = true;
                } else {
                    self.lens += step * d.signum();
                    self.af_state = values::AF_STATE_SCANNING;
                }
            }
        }
    }

    /// Focus figure of merit for a subject at `focus_d` dioptres (peaks at 1000 in focus).
    pub fn focus_fom(&self, focus_d: f64) -> Option<i32> {
        self.sensor.lens.map(|_| {
            let d = self.lens - focus_d;
            (1000.0 * (-d * d / 0.5).exp()).round() as i32
        })
    }

    /// The current lux estimate.
    pub fn lux(&self) -> f64 {
        self.lux
    }
}

fn interp(curve: &[(f64, f64)], x: f64) -> f64 {
    match curve {
        [] => 0.16,
        [(_, y)] => *y,
        _ => {
            for w in curve.windows(2) {
                let ((x0, y0), (x1, y1)) = (w[0], w[1]);
                if x <= x1 {
                    let t = ((x - x0) / (x1 - x0)).clamp(0.0, 1.0);
                    return y0 + t * (y1 - y0);
                }
            }
            curve.last().map(|c| c.1).unwrap_or(0.16)
        }
    }
}

/// Mean of the luma histogram between quantiles `lo` and `hi`, after scaling by `scale` and
/// clipping at 1.
fn quantile_mean(hist: &[u32], lo: f64, hi: f64, scale: f64) -> f64 {
    let total: u64 = hist.iter().map(|&c| u64::from(c)).sum();
    if total == 0 {
        return 0.0;
    }
    let (a, b) = (lo * total as f64, hi * total as f64);
    let (mut cum, mut s, mut n) = (0.0, 0.0, 0.0);
    for (bin, &c) in hist.iter().enumerate() {
        let c = f64::from(c);
        let (start, end) = (cum, cum + c);
        cum = end;
        let overlap = (end.min(b) - start.max(a)).max(0.0);
        if overlap > 0.0 {
            s += overlap * ((bin as f64 + 0.5) / 255.0 * scale).min(1.0);
            n += overlap;
        }
    }
    if n > 0.0 {
        s / n
    } else {
        0.0
    }
}

/// Region weights over the 16x12 grid for metering modes centre-weighted (0), spot (1) and
/// matrix (2).
fn metering_weights(mode: usize) -> Vec<f64> {
    let (w, h) = super::scene::REGIONS;
    let mut v = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let dx = (x as f64 + 0.5) / w as f64 - 0.5;
            let dy = (y as f64 + 0.5) / h as f64 - 0.5;
            let r = (dx * dx + dy * dy).sqrt();
            v.push(match mode {
                1 => {
                    if r < 0.12 {
                        1.0
                    } else {
                        0.0
                    }
                }
                2 => 1.0,
                _ => (4.0 - 6.0 * r).max(1.0),
            });
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::sensor;

    #[test]
    fn delayed_controls_take_effect_after_the_delay() {
        let mut d = Delayed::new(1u32, 2);
        d.write(10, 5);
        assert_eq!(d.at(11), 1);
        assert_eq!(d.at(12), 5);
    }

    #[test]
    fn gain_codes_quantise() {
        let g = quantise_gain("imx219", 8.0, (1.0, 10.667));
        assert!((g - 8.0).abs() < 0.01);
        let g = quantise_gain("imx219", 9.5, (1.0, 10.667));
        // Codes near the top are coarse: 256/(256-229) = 9.48.
        assert!((g - 9.481).abs() < 0.01, "{g}");
        assert_eq!(quantise_gain("ov5647", 2.03, (1.0, 63.9)), 2.0);
    }

    #[test]
    fn long_exposure_clamped_to_fixed_frame() {
        let s = sensor::imx219();
        let m = s.modes[2].clone(); // 1920x1080 10-bit
        let mut ipa = Ipa::new(s, m, (33333.0, 33333.0));
        let mut c = ControlList::new();
        c.set(
            ControlId::ExposureTimeMode,
            ControlValue::I32(values::MODE_MANUAL),
        );
        c.set(ControlId::ExposureTime, ControlValue::I32(6_000_000));
        let notes = ipa.apply(&c);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("ExposureTime 6000000 µs"), "{notes:?}");
        assert!(ipa.max_exposure_us() < 33333.0);
    }

    #[test]
    fn divide_walks_the_stages() {
        let s = sensor::imx219();
        let m = s.modes[0].clone();
        let ipa = Ipa::new(s, m, (33333.0, 33333.0));
        // 5 ms total: all shutter at gain 1.
        let (e, g) = ipa.divide(5000.0);
        assert!(
            (e - 5000.0).abs() < 1.0 && (g - 1.0).abs() < 1e-6,
            "{e} {g}"
        );
        // 40 ms total: shutter 10 ms then gain up to 2, then shutter up to the 30 fps limit.
        let (e, g) = ipa.divide(40_000.0);
        assert!(
            (e - 20_000.0).abs() < 1.0 && (g - 2.0).abs() < 0.01,
            "{e} {g}"
        );
        let (e, g) = ipa.divide(200_000.0);
        assert!(e > 30_000.0 && e < 33_333.0, "{e}");
        // 200000 / 33271 = 6.01, quantised to gain code 213 = 5.95.
        assert!(g > 5.9 && g <= 10.667, "{g}");
    }

    #[test]
    fn awb_finds_the_light() {
        let s = sensor::imx219();
        let m = s.modes[0].clone();
        let mut ipa = Ipa::new(s, m, (33333.0, 33333.0));
        let stats = SceneStats {
            regions: vec![0.18; 192],
            region_rgb: vec![[0.18; 3]; 192],
            histogram: vec![1; 256],
        };
        for _ in 0..20 {
            ipa.awb(&stats, 3000.0);
        }
        assert!((ipa.awb_ct - 3000.0).abs() < 100.0, "{}", ipa.awb_ct);
        // Daylight mode cannot go below 5500 K.
        let mut c = ControlList::new();
        c.set(ControlId::AwbMode, ControlValue::I32(5));
        ipa.apply(&c);
        for _ in 0..200 {
            ipa.awb(&stats, 3000.0);
        }
        assert!(ipa.awb_ct >= 5499.0, "{}", ipa.awb_ct);
    }
}
