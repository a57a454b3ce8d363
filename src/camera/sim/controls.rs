// SPDX-License-Identifier: MPL-2.0
//! The simulated camera's control ranges and defaults (libcamera's ControlInfoMap of a
//! Raspberry Pi camera with the same sensor).

use std::collections::BTreeMap;

use crate::camera::controls::{ControlId, ControlInfo, ControlValue};
use crate::camera::sensor::{SensorInfo, SensorMode};

/// The control ranges and defaults of a simulated camera with `sensor`: for `mode` when one is
/// configured (exposure limits of the mode), else over all its modes; `fdl_max` is the longest
/// frame duration allowed, µs (the sensor's when `None`).
pub(super) fn control_infos(
    sensor: &SensorInfo,
    mode: Option<&SensorMode>,
    fdl_max: Option<f64>,
) -> BTreeMap<ControlId, ControlInfo> {
    use ControlValue::*;
    let s = sensor;
    let mut m = BTreeMap::new();
    let r = |a, b, c| ControlInfo::range(a, b, c);
    let min_e = mode.map(|m| m.min_exposure_us()).unwrap_or_else(|| {
        s.modes
            .iter()
            .map(|m| m.min_exposure_us())
            .min()
            .unwrap_or(1)
    });
    let max_fd = fdl_max.unwrap_or(s.max_frame_duration_us as f64);
    let line = mode.map(|m| m.line_time_ns() / 1000.0).unwrap_or(0.0);
    let max_e = (max_fd - f64::from(s.frame_integration_diff) * line).max(f64::from(min_e));
    let min_fd = mode.map(|m| m.min_frame_duration_us()).unwrap_or_else(|| {
        s.modes
            .iter()
            .map(|m| m.min_frame_duration_us())
            .min()
            .unwrap_or(1)
    });
    m.insert(ControlId::AeEnable, r(Bool(false), Bool(true), Bool(true)));
    m.insert(ControlId::ExposureTimeMode, r(I32(0), I32(1), I32(0)));
    m.insert(ControlId::AnalogueGainMode, r(I32(0), I32(1), I32(0)));
    m.insert(
        ControlId::ExposureTime,
        r(
            I32(min_e as i32),
            I32(max_e.min(f64::from(i32::MAX)) as i32),
            I32(20000),
        ),
    );
    m.insert(
        ControlId::AnalogueGain,
        r(
            F32(s.analogue_gain.0 as f32),
            F32(s.analogue_gain.1 as f32),
            F32(1.0),
        ),
    );
    m.insert(ControlId::AeMeteringMode, r(I32(0), I32(3), I32(0)));
    m.insert(
        ControlId::AeConstraintMode,
        r(
            I32(0),
            I32(s.tuning.constraint_modes.len() as i32 - 1),
            I32(0),
        ),
    );
    m.insert(ControlId::AeExposureMode, r(I32(0), I32(3), I32(0)));
    m.insert(ControlId::ExposureValue, r(F32(-8.0), F32(8.0), F32(0.0)));
    m.insert(ControlId::AeFlickerMode, r(I32(0), I32(1), I32(0)));
    m.insert(
        ControlId::AeFlickerPeriod,
        r(I32(100), I32(1_000_000), I32(10_000)),
    );
    m.insert(ControlId::Brightness, r(F32(-1.0), F32(1.0), F32(0.0)));
    m.insert(ControlId::Contrast, r(F32(0.0), F32(32.0), F32(1.0)));
    m.insert(ControlId::Saturation, r(F32(0.0), F32(32.0), F32(1.0)));
    m.insert(ControlId::Sharpness, r(F32(0.0), F32(16.0), F32(1.0)));
    m.insert(ControlId::AwbEnable, r(Bool(false), Bool(true), Bool(true)));
    m.insert(ControlId::AwbMode, r(I32(0), I32(7), I32(0)));
    m.insert(ControlId::ColourGains, r(F32(0.0), F32(32.0), F32(0.0)));
    m.insert(
        ControlId::ColourCorrectionMatrix,
        r(F32(-16.0), F32(16.0), F32(0.0)),
    );
    m.insert(ControlId::DigitalGain, r(F32(1.0), F32(4.0), F32(1.0)));
    m.insert(ControlId::Gamma, r(F32(0.1), F32(10.0), F32(2.2)));
    m.insert(ControlId::NoiseReductionMode, r(I32(0), I32(4), I32(1)));
    m.insert(
        ControlId::FrameDurationLimits,
        r(
            I64(min_fd as i64),
            I64(s.max_frame_duration_us as i64),
            I64(33333),
        ),
    );
    let pa = s.pixel_array;
    m.insert(
        ControlId::ScalerCrop,
        r(
            Rect(crate::camera::format::Rect::new(0, 0, 64, 64)),
            Rect(crate::camera::format::Rect::new(0, 0, pa.width, pa.height)),
            Rect(crate::camera::format::Rect::new(0, 0, pa.width, pa.height)),
        ),
    );
    if s.modes.iter().any(|m| m.hdr) {
        m.insert(ControlId::HdrMode, r(I32(0), I32(4), I32(0)));
    }
    if let Some(l) = s.lens {
        m.insert(ControlId::AfMode, r(I32(0), I32(2), I32(0)));
        m.insert(ControlId::AfRange, r(I32(0), I32(2), I32(0)));
        m.insert(ControlId::AfSpeed, r(I32(0), I32(1), I32(0)));
        m.insert(ControlId::AfMetering, r(I32(0), I32(1), I32(0)));
        m.insert(
            ControlId::LensPosition,
            r(F32(0.0), F32(l.max), F32(l.default)),
        );
    }
    m
}
