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

use crate::camera::controls::values;
use crate::camera::metadata::{AeState, AwbState};
use crate::camera::sensor::{SensorInfo, SensorMode};

use super::scene::SceneStats;

mod agc;
mod controls;

use agc::metering_weights;

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

/// Frames in a row within tolerance before AE or AWB reports converged (the AGC's
/// `maxLockCount`, docs/sensors.md "AGC tuning"; the AWB uses the same count).
const LOCK_FRAMES: u32 = 5;

/// How close (relative) the AWB's filtered colour temperature must be to the frame's own
/// estimate to count towards convergence: 2 %, about 100 K at 5000 K, below what the eye
/// notices on a grey card. The Raspberry Pi IPA reports no AWB lock; this is the simulator's.
const AWB_LOCK_TOLERANCE: f64 = 0.02;

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
    /// Frames in a row the filtered colour temperature was within [`AWB_LOCK_TOLERANCE`] of
    /// the frame's estimate (AWB converged after [`LOCK_FRAMES`], as the AGC's maxLockCount).
    awb_lock_count: u32,
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
    /// AWB state.
    pub awb_state: AwbState,
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
            awb_lock_count: 0,
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
        } else if self.lock_count >= LOCK_FRAMES {
            AeState::Converged
        } else {
            AeState::Searching
        };
        let awb_state = if !self.user.awb_enabled || self.user.colour_gains.is_some() {
            AwbState::Idle
        } else if self.awb_lock_count >= LOCK_FRAMES {
            AwbState::Converged
        } else {
            AwbState::Searching
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
            awb_state,
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

    fn awb(&mut self, stats: &SceneStats, scene_ct: f64) {
        self.awb_frames += 1;
        if !self.user.awb_enabled || self.user.colour_gains.is_some() {
            self.awb_lock_count = 0;
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
        if (self.awb_ct - best.1).abs() <= AWB_LOCK_TOLERANCE * best.1 {
            self.awb_lock_count += 1;
        } else {
            self.awb_lock_count = 0;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::controls::{ControlId, ControlList, ControlValue};
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

    /// A uniformly grey scene.
    fn grey_stats() -> SceneStats {
        SceneStats {
            regions: vec![0.18; 192],
            region_rgb: vec![[0.18; 3]; 192],
            histogram: vec![1; 256],
        }
    }

    #[test]
    fn awb_finds_the_light() {
        let s = sensor::imx219();
        let m = s.modes[0].clone();
        let mut ipa = Ipa::new(s, m, (33333.0, 33333.0));
        let stats = grey_stats();
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

    #[test]
    fn awb_reports_searching_then_converged_and_idle_when_off() {
        let s = sensor::imx219();
        let m = s.modes[0].clone();
        let mut ipa = Ipa::new(s, m, (33333.0, 33333.0));
        let stats = grey_stats();
        // Past the startup frames, a change of light is followed slowly (speed 0.05).
        for _ in 0..30 {
            ipa.awb(&stats, 5000.0);
        }
        assert_eq!(ipa.frame(0).awb_state, AwbState::Converged);
        ipa.awb(&stats, 2800.0);
        assert_eq!(ipa.frame(0).awb_state, AwbState::Searching);
        let mut n = 0;
        while ipa.frame(0).awb_state != AwbState::Converged {
            ipa.awb(&stats, 2800.0);
            n += 1;
            assert!(n < 200, "AWB never converged: {}", ipa.awb_ct);
        }
        assert!(
            (ipa.awb_ct - 2800.0).abs() <= 0.02 * 2800.0 + 10.0,
            "{}",
            ipa.awb_ct
        );
        let mut c = ControlList::new();
        c.set(ControlId::AwbEnable, ControlValue::Bool(false));
        ipa.apply(&c);
        assert_eq!(ipa.frame(0).awb_state, AwbState::Idle);
    }
}
