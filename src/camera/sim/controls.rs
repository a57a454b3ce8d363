// SPDX-License-Identifier: MPL-2.0
//! The simulated camera's control ranges and defaults (libcamera's ControlInfoMap of a
//! Raspberry Pi camera with the same sensor): the control table's fixed ranges, and the
//! sensor's and mode's limits for the others.

use std::collections::BTreeMap;

use crate::camera::controls::{ControlId, ControlInfo, ControlValue, Limits, CONTROLS};
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
    let min_e = least(s, mode, SensorMode::min_exposure_us);
    let max_fd = fdl_max.unwrap_or(s.max_frame_duration_us as f64);
    let line = mode.map(|m| m.line_time_ns() / 1000.0).unwrap_or(0.0);
    let max_e = (max_fd - f64::from(s.frame_integration_diff) * line).max(f64::from(min_e));
    let min_fd = least(s, mode, SensorMode::min_frame_duration_us);
    // Fixed ranges: the control table's (the lens's controls only with a lens).
    for d in CONTROLS
        .iter()
        .filter(|d| d.limits == Limits::Fixed && (!d.lens || s.lens.is_some()))
    {
        if let Some(info) = d.info() {
            m.insert(d.id, info);
        }
    }
    // The sensor's and mode's. Default exposure 20 ms and gain 1.0: the IPA's (ipa_base.cpp).
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
    if let Some(info) = ControlId::AeConstraintMode.def().and_then(|d| d.info()) {
        // The modes of the sensor's tuning file.
        let max = I32(s.tuning.constraint_modes.len() as i32 - 1);
        m.insert(ControlId::AeConstraintMode, r(info.min, max, info.default));
    }
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
        m.insert(
            ControlId::LensPosition,
            r(F32(0.0), F32(l.max), F32(l.default)),
        );
    }
    m
}

/// `f` of `mode`, or with no mode the smallest over the sensor's modes (1 with none).
fn least<T: Ord + From<u8>>(
    sensor: &SensorInfo,
    mode: Option<&SensorMode>,
    f: impl Fn(&SensorMode) -> T,
) -> T {
    mode.map(&f)
        .unwrap_or_else(|| sensor.modes.iter().map(&f).min().unwrap_or(T::from(1)))
}
