// SPDX-License-Identifier: MPL-2.0
//! The one table of the controls rpicamsrc2 offers: each control's property name (libcamerasrc's),
//! description, unit, value type, range and default, and its libcamera id ([`ControlId`]).
//!
//! Everything else derives from it: the element's properties, the simulated camera's control
//! ranges ([`ControlDef::info`]) and the clamps of its IPA ([`ControlDef::clamp`]). Ranges that
//! depend on the sensor and mode ([`Limits::Camera`]) are the camera's own; their property range
//! is the union over the known sensors (`exposure-time` up to 670.74 s with imx477,
//! `analogue-gain` up to 63.94 with ov5647), with 0 for automatic.

use std::sync::LazyLock;

use super::{ControlId, ControlInfo, ControlValue};
use crate::camera::sensor;

/// One value of an enumerated control (or backend option).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    /// The value (libcamera's).
    pub value: i32,
    /// Its description (`Centre-weighted metering`).
    pub name: &'static str,
    /// Its short name, as written in a pipeline (`centre-weighted`).
    pub nick: &'static str,
}

/// A control's value type, with the range and default of its property.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ControlKind {
    /// On or off.
    Bool {
        /// Default.
        default: bool,
    },
    /// A 32-bit integer within `min..=max`.
    Int {
        /// Smallest value.
        min: i32,
        /// Largest value.
        max: i32,
        /// Default.
        default: i32,
    },
    /// A float within `min..=max`.
    Float {
        /// Smallest value.
        min: f32,
        /// Largest value.
        max: f32,
        /// Default.
        default: f32,
    },
    /// One of `choices` (libcamera's enum values).
    Enum {
        /// Name of the enumeration (`AeMeteringMode`); the element prefixes it to name its type.
        type_name: &'static str,
        /// The values, in order.
        choices: &'static [Choice],
        /// Default value.
        default: i32,
    },
    /// `count` floats, each within `min..=max` (unset by default; `default` is the camera's
    /// default of each element).
    Floats {
        /// Number of elements.
        count: usize,
        /// Smallest element.
        min: f32,
        /// Largest element.
        max: f32,
        /// Default element.
        default: f32,
    },
    /// A rectangle `<x, y, width, height>`, coordinates within `0..=max` (unset by default).
    Rect {
        /// Largest coordinate.
        max: i32,
    },
    /// A list of rectangles (unset by default).
    Rects,
}

/// Where a camera's range of the control comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// The table's range and default (fixed by libcamera and the Raspberry Pi IPA).
    Fixed,
    /// The camera's own (sensor and mode); the table has the property's range.
    Camera,
}

/// One control of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControlDef {
    /// libcamera's control.
    pub id: ControlId,
    /// Property name (libcamerasrc's, `exposure-time`).
    pub name: &'static str,
    /// Short description.
    pub nick: &'static str,
    /// Description.
    pub blurb: &'static str,
    /// Unit of the values (`µs`, `dioptres`, ...; empty for plain numbers and enums).
    pub unit: &'static str,
    /// Type, property range and default.
    pub kind: ControlKind,
    /// Where a camera's range comes from.
    pub limits: Limits,
    /// Only cameras with a focus lens have it.
    pub lens: bool,
}

impl ControlDef {
    /// The control's range and default on a camera, for [`Limits::Fixed`] controls with a
    /// numeric range (`None` for rectangles).
    pub fn info(&self) -> Option<ControlInfo> {
        use ControlValue::{Bool, F32, I32};
        let r = ControlInfo::range;
        match self.kind {
            ControlKind::Bool { default } => Some(r(Bool(false), Bool(true), Bool(default))),
            ControlKind::Int { min, max, default } => Some(r(I32(min), I32(max), I32(default))),
            ControlKind::Float { min, max, default } => Some(r(F32(min), F32(max), F32(default))),
            ControlKind::Enum {
                choices, default, ..
            } => {
                let min = choices.iter().map(|c| c.value).min()?;
                let max = choices.iter().map(|c| c.value).max()?;
                Some(r(I32(min), I32(max), I32(default)))
            }
            ControlKind::Floats {
                min, max, default, ..
            } => Some(r(F32(min), F32(max), F32(default))),
            ControlKind::Rect { .. } | ControlKind::Rects => None,
        }
    }

    /// `v` clamped into the range of a number control (other kinds: `v` unchanged).
    pub fn clamp(&self, v: f64) -> f64 {
        match self.kind {
            ControlKind::Int { min, max, .. } => v.clamp(f64::from(min), f64::from(max)),
            ControlKind::Float { min, max, .. } => v.clamp(f64::from(min), f64::from(max)),
            _ => v,
        }
    }

    /// The smallest value of a number control (other kinds: 0).
    pub fn min(&self) -> f64 {
        match self.kind {
            ControlKind::Int { min, .. } => f64::from(min),
            ControlKind::Float { min, .. } => f64::from(min),
            _ => 0.0,
        }
    }

    /// The largest value of a number control (other kinds: 0).
    pub fn max(&self) -> f64 {
        match self.kind {
            ControlKind::Int { max, .. } => f64::from(max),
            ControlKind::Float { max, .. } => f64::from(max),
            _ => 0.0,
        }
    }
}

impl ControlId {
    /// The control's entry in [`CONTROLS`], if the element offers it.
    pub fn def(self) -> Option<&'static ControlDef> {
        CONTROLS.iter().find(|d| d.id == self)
    }
}

/// The control offered as the property `name`.
pub fn by_name(name: &str) -> Option<&'static ControlDef> {
    CONTROLS.iter().find(|d| d.name == name)
}

/// Longest exposure any known sensor allows, µs (its longest frame duration).
fn max_exposure_us() -> i32 {
    sensor::SIMULATED_SENSORS
        .iter()
        .filter_map(|m| sensor::by_model(m))
        .map(|s| s.max_frame_duration_us)
        .max()
        .unwrap_or(1_000_000)
        .min(i32::MAX as u64) as i32
}

/// Highest analogue gain of any known sensor.
fn max_analogue_gain() -> f32 {
    sensor::SIMULATED_SENSORS
        .iter()
        .filter_map(|m| sensor::by_model(m))
        .map(|s| s.analogue_gain.1)
        .fold(1.0, f64::max) as f32
}

const fn c(value: i32, name: &'static str, nick: &'static str) -> Choice {
    Choice { value, name, nick }
}

const AUTO_MANUAL: &[Choice] = &[c(0, "Automatic", "auto"), c(1, "Manual", "manual")];

#[allow(clippy::too_many_arguments)]
const fn def(
    id: ControlId,
    name: &'static str,
    nick: &'static str,
    blurb: &'static str,
    unit: &'static str,
    kind: ControlKind,
    limits: Limits,
    lens: bool,
) -> ControlDef {
    ControlDef {
        id,
        name,
        nick,
        blurb,
        unit,
        kind,
        limits,
        lens,
    }
}

use ControlKind as K;
use Limits::{Camera, Fixed};

/// Every control the element offers, in libcamerasrc's order, then ours.
#[rustfmt::skip]
pub static CONTROLS: LazyLock<Vec<ControlDef>> = LazyLock::new(|| {
    vec![
        def(ControlId::AeEnable, "ae-enable", "AE enable",
            "Automatic exposure and gain (libcamera AeEnable). Off freezes the exposure time and gain the AGC has reached",
            "", K::Bool { default: true }, Fixed, false),
        def(ControlId::AeMeteringMode, "ae-metering-mode", "AE metering mode",
            "Which part of the image the AGC meters (libcamera AeMeteringMode)",
            "", K::Enum { type_name: "AeMeteringMode", choices: const { &[
                c(0, "Centre-weighted metering", "centre-weighted"),
                c(1, "Spot metering", "spot"),
                c(2, "Matrix metering", "matrix"),
                c(3, "Custom metering", "custom"),
            ] }, default: 0 }, Fixed, false),
        def(ControlId::AeConstraintMode, "ae-constraint-mode", "AE constraint mode",
            "Histogram constraint of the AGC (libcamera AeConstraintMode); shadows is not in every sensor's tuning",
            "", K::Enum { type_name: "AeConstraintMode", choices: const { &[
                c(0, "Normal", "normal"),
                c(1, "Highlight", "highlight"),
                c(2, "Shadows", "shadows"),
                c(3, "Custom", "custom"),
            ] }, default: 0 }, Camera, false),
        def(ControlId::AeExposureMode, "ae-exposure-mode", "AE exposure mode",
            "How the AGC divides exposure into time and gain (libcamera AeExposureMode)",
            "", K::Enum { type_name: "AeExposureMode", choices: const { &[
                c(0, "Normal exposures", "normal"),
                c(1, "Short exposures", "short"),
                c(2, "Long exposures", "long"),
                c(3, "Custom exposures", "custom"),
            ] }, default: 0 }, Fixed, false),
        def(ControlId::ExposureValue, "exposure-value", "Exposure value",
            "Exposure compensation in stops: the AGC target is scaled by 2^EV (libcamera ExposureValue)",
            "stops", K::Float { min: -8.0, max: 8.0, default: 0.0 }, Fixed, false),
        def(ControlId::ExposureTime, "exposure-time", "Exposure time",
            "Exposure time in µs (libcamera ExposureTime); 0 = automatic. A non-zero value sets exposure-time-mode to manual unless that was set too. Limited by the frame duration (1/framerate, or up to the sensor's maximum with framerate=0/1) and the sensor: imx219 11.77 s, imx477 670.74 s, imx708 112 s, ov5647 3.28 s, imx296 15.5 s",
            "µs", K::Int { min: 0, max: max_exposure_us(), default: 0 }, Camera, false),
        def(ControlId::ExposureTimeMode, "exposure-time-mode", "Exposure time mode",
            "libcamera ExposureTimeMode: manual without an exposure-time freezes the current exposure",
            "", K::Enum { type_name: "AutoManual", choices: AUTO_MANUAL, default: 0 }, Fixed, false),
        def(ControlId::AnalogueGain, "analogue-gain", "Analogue gain",
            "Analogue gain (libcamera AnalogueGain); 0 = automatic. A non-zero value sets analogue-gain-mode to manual unless that was set too. Sensor ranges: imx219 1-10.67, imx477 1-22.26, imx708 1-16, ov5647 1-63.94, imx296 1-15.85",
            "", K::Float { min: 0.0, max: max_analogue_gain(), default: 0.0 }, Camera, false),
        def(ControlId::AnalogueGainMode, "analogue-gain-mode", "Analogue gain mode",
            "libcamera AnalogueGainMode: manual without an analogue-gain freezes the current gain",
            "", K::Enum { type_name: "AutoManual", choices: AUTO_MANUAL, default: 0 }, Fixed, false),
        def(ControlId::AeFlickerMode, "ae-flicker-mode", "AE flicker mode",
            "Flicker avoidance (libcamera AeFlickerMode); setting ae-flicker-period selects manual",
            "", K::Enum { type_name: "AeFlickerMode", choices: const { &[
                c(0, "Off", "off"),
                c(1, "Manual period", "manual"),
            ] }, default: 0 }, Fixed, false),
        def(ControlId::AeFlickerPeriod, "ae-flicker-period", "AE flicker period",
            "Period of the light's flicker in µs (10000 for 50 Hz mains, 8333 for 60 Hz); exposures longer than it are whole multiples (libcamera AeFlickerPeriod)",
            "µs", K::Int { min: 100, max: 1_000_000, default: 10_000 }, Fixed, false),
        def(ControlId::Brightness, "brightness", "Brightness",
            "Brightness offset, -1 (black) to 1 (white), 0 normal (libcamera Brightness)",
            "", K::Float { min: -1.0, max: 1.0, default: 0.0 }, Fixed, false),
        def(ControlId::Contrast, "contrast", "Contrast",
            "Contrast, 1 normal, 0 flat, up to 32 (libcamera Contrast)",
            "", K::Float { min: 0.0, max: 32.0, default: 1.0 }, Fixed, false),
        def(ControlId::AwbEnable, "awb-enable", "AWB enable",
            "Automatic white balance (libcamera AwbEnable); off freezes the current colour gains",
            "", K::Bool { default: true }, Fixed, false),
        def(ControlId::AwbMode, "awb-mode", "AWB mode",
            "Colour-temperature range the AWB searches (libcamera AwbMode; ranges from the sensor's tuning file)",
            "", K::Enum { type_name: "AwbMode", choices: const { &[
                c(0, "Auto", "auto"),
                c(1, "Incandescent", "incandescent"),
                c(2, "Tungsten", "tungsten"),
                c(3, "Fluorescent", "fluorescent"),
                c(4, "Indoor", "indoor"),
                c(5, "Daylight", "daylight"),
                c(6, "Cloudy", "cloudy"),
                c(7, "Custom", "custom"),
            ] }, default: 0 }, Fixed, false),
        def(ControlId::ColourGains, "colour-gains", "Colour gains",
            "Manual white-balance gains <red, blue>, 0 to 32 (libcamera ColourGains); <0.0, 0.0> or empty returns to AWB",
            "", K::Floats { count: 2, min: 0.0, max: 32.0, default: 0.0 }, Fixed, false),
        def(ControlId::Saturation, "saturation", "Saturation",
            "Colour saturation, 1 normal, 0 greyscale, up to 32 (libcamera Saturation)",
            "", K::Float { min: 0.0, max: 32.0, default: 1.0 }, Fixed, false),
        def(ControlId::Sharpness, "sharpness", "Sharpness",
            "Sharpening strength, 1 normal, 0 none, up to 16 (libcamera Sharpness; the simulated camera accepts it without sharpening)",
            "", K::Float { min: 0.0, max: 16.0, default: 1.0 }, Fixed, false),
        def(ControlId::ColourCorrectionMatrix, "colour-correction-matrix", "Colour correction matrix",
            "3x3 matrix, 9 values row-major, -16 to 16 (libcamera ColourCorrectionMatrix; passed to libcamera cameras, not applied by the simulation)",
            "", K::Floats { count: 9, min: -16.0, max: 16.0, default: 0.0 }, Fixed, false),
        def(ControlId::ScalerCrop, "scaler-crop", "Scaler crop",
            "Digital zoom: <x, y, width, height> in pixel-array pixels (libcamera ScalerCrop); empty = the whole field of view of the mode",
            "pixels", K::Rect { max: 16384 }, Camera, false),
        def(ControlId::DigitalGain, "digital-gain", "Digital gain",
            "Digital gain 1 to 4 (libcamera DigitalGain), used when exposure time and gain are both manual; the AGC sets it otherwise",
            "", K::Float { min: 1.0, max: 4.0, default: 1.0 }, Fixed, false),
        def(ControlId::AfMode, "af-mode", "AF mode",
            "Autofocus mode (libcamera AfMode; cameras with a focus lens, e.g. imx708)",
            "", K::Enum { type_name: "AfMode", choices: const { &[
                c(0, "Manual", "manual"),
                c(1, "Auto (single scan)", "auto"),
                c(2, "Continuous", "continuous"),
            ] }, default: 0 }, Fixed, true),
        def(ControlId::AfRange, "af-range", "AF range",
            "Focus range searched (libcamera AfRange); imx708: normal 0-12 dioptres, macro 3-15",
            "", K::Enum { type_name: "AfRange", choices: const { &[
                c(0, "Normal", "normal"),
                c(1, "Macro", "macro"),
                c(2, "Full", "full"),
            ] }, default: 0 }, Fixed, true),
        def(ControlId::AfSpeed, "af-speed", "AF speed",
            "Lens movement speed (libcamera AfSpeed)",
            "", K::Enum { type_name: "AfSpeed", choices: const { &[
                c(0, "Normal", "normal"),
                c(1, "Fast", "fast"),
            ] }, default: 0 }, Fixed, true),
        def(ControlId::AfMetering, "af-metering", "AF metering",
            "Where autofocus measures (libcamera AfMetering)",
            "", K::Enum { type_name: "AfMetering", choices: const { &[
                c(0, "Auto", "auto"),
                c(1, "Windows", "windows"),
            ] }, default: 0 }, Fixed, true),
        def(ControlId::AfWindows, "af-windows", "AF windows",
            "Rectangles <<x, y, width, height>, ...> in scaler-crop coordinates where AF measures with af-metering=windows (libcamera AfWindows)",
            "pixels", K::Rects, Camera, true),
        def(ControlId::LensPosition, "lens-position", "Lens position",
            "Focus in dioptres (1/distance in m; 0 = infinity) with af-mode=manual (libcamera LensPosition); imx708 0 to 15, default 1",
            "dioptres", K::Float { min: 0.0, max: 32.0, default: 1.0 }, Camera, true),
        def(ControlId::Gamma, "gamma", "Gamma",
            "Gamma of the output curve, 2.2 normal (libcamera Gamma)",
            "", K::Float { min: 0.1, max: 10.0, default: 2.2 }, Fixed, false),
        def(ControlId::NoiseReductionMode, "noise-reduction-mode", "Noise reduction mode",
            "Denoise (libcamera draft NoiseReductionMode; Picamera2 default fast for video)",
            "", K::Enum { type_name: "NoiseReductionMode", choices: const { &[
                c(0, "Off", "off"),
                c(1, "Fast", "fast"),
                c(2, "High quality", "high-quality"),
                c(3, "Minimal", "minimal"),
                c(4, "ZSL", "zsl"),
            ] }, default: 1 }, Fixed, false),
    ]
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_enum_defaults_are_choices() {
        let mut names: Vec<&str> = CONTROLS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CONTROLS.len());
        for d in CONTROLS.iter() {
            assert_eq!(d.id.def(), Some(d));
            if let ControlKind::Enum {
                choices, default, ..
            } = d.kind
            {
                assert!(choices.iter().any(|c| c.value == default), "{}", d.name);
            }
        }
        assert_eq!(by_name("gamma").map(|d| d.id), Some(ControlId::Gamma));
        assert_eq!(ControlId::Brightness.def().map(|d| d.clamp(2.0)), Some(1.0));
    }
}
