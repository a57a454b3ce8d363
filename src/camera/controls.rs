// SPDX-License-Identifier: MPL-2.0
//! libcamera's controls: ids, values, per-camera information and lists.
//!
//! Names and enum values follow libcamera's `control_ids_core.yaml` / `control_ids_draft.yaml`
//! (table in `docs/sensors.md`, "Control IDs").

use std::collections::BTreeMap;
use std::fmt;

use super::format::Rect;

mod table;
pub use table::{by_name, Choice, ControlDef, ControlKind, Limits, CONTROLS};

/// Defines [`ControlId`] from one list of libcamera control names: the enum, its `name()` (the
/// variant's own name, which is libcamera's) and [`ControlId::ALL`], so they cannot disagree.
macro_rules! control_ids {
    ($($id:ident),* $(,)?) => {
        /// The controls rpicamsrc2 sets or reads, by libcamera name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(missing_docs)]
        pub enum ControlId {
            $($id,)*
        }

        impl ControlId {
            /// Every control of the model, in declaration order.
            pub const ALL: &'static [ControlId] = &[$(ControlId::$id,)*];

            /// libcamera's name (`ExposureTime`, ...).
            pub fn name(self) -> &'static str {
                match self {
                    $(ControlId::$id => stringify!($id),)*
                }
            }

            /// The control libcamera calls `name`, if the model has it.
            pub fn from_name(name: &str) -> Option<ControlId> {
                Self::ALL.iter().copied().find(|c| c.name() == name)
            }
        }
    };
}

control_ids! {
    AeEnable,
    AeState,
    AeMeteringMode,
    AeConstraintMode,
    AeExposureMode,
    ExposureValue,
    ExposureTime,
    ExposureTimeMode,
    AnalogueGain,
    AnalogueGainMode,
    AeFlickerMode,
    AeFlickerPeriod,
    Brightness,
    Contrast,
    Lux,
    AwbEnable,
    AwbMode,
    ColourGains,
    ColourTemperature,
    Saturation,
    SensorBlackLevels,
    Sharpness,
    FocusFoM,
    ColourCorrectionMatrix,
    ScalerCrop,
    DigitalGain,
    FrameDuration,
    FrameDurationLimits,
    SensorTimestamp,
    AfMode,
    AfRange,
    AfSpeed,
    AfMetering,
    AfWindows,
    AfTrigger,
    AfState,
    LensPosition,
    HdrMode,
    Gamma,
    NoiseReductionMode,
}

impl fmt::Display for ControlId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A control value. Enumerated controls are `I32` holding libcamera's enum value.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlValue {
    /// A boolean.
    Bool(bool),
    /// A 32-bit integer (also enumerations).
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// A float.
    F32(f32),
    /// An array of floats (ColourGains: [red, blue]; ColourCorrectionMatrix: 9 row-major).
    F32Array(Vec<f32>),
    /// An array of 64-bit integers (FrameDurationLimits: [min, max] µs).
    I64Array(Vec<i64>),
    /// An array of 32-bit integers (SensorBlackLevels).
    I32Array(Vec<i32>),
    /// A rectangle (ScalerCrop).
    Rect(Rect),
    /// Rectangles (AfWindows).
    Rects(Vec<Rect>),
}

impl ControlValue {
    /// The value as f64 when it is a scalar number or bool.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            ControlValue::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            ControlValue::I32(v) => Some(f64::from(v)),
            ControlValue::I64(v) => Some(v as f64),
            ControlValue::F32(v) => Some(f64::from(v)),
            _ => None,
        }
    }

    /// The value as i32, for integer and enum controls.
    pub fn as_i32(&self) -> Option<i32> {
        match *self {
            ControlValue::I32(v) => Some(v),
            ControlValue::I64(v) => i32::try_from(v).ok(),
            ControlValue::Bool(b) => Some(b as i32),
            _ => None,
        }
    }

    /// The value as bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            ControlValue::Bool(b) => Some(b),
            ControlValue::I32(v) => Some(v != 0),
            _ => None,
        }
    }

    /// The value as f32.
    pub fn as_f32(&self) -> Option<f32> {
        self.as_f64().map(|v| v as f32)
    }

    /// The value as a float slice.
    pub fn as_f32_array(&self) -> Option<&[f32]> {
        match self {
            ControlValue::F32Array(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for ControlValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlValue::Bool(v) => write!(f, "{v}"),
            ControlValue::I32(v) => write!(f, "{v}"),
            ControlValue::I64(v) => write!(f, "{v}"),
            ControlValue::F32(v) => write!(f, "{v}"),
            ControlValue::F32Array(v) => write!(f, "{v:?}"),
            ControlValue::I64Array(v) => write!(f, "{v:?}"),
            ControlValue::I32Array(v) => write!(f, "{v:?}"),
            ControlValue::Rect(r) => write!(f, "{r}"),
            ControlValue::Rects(r) => {
                let s: Vec<String> = r.iter().map(|r| r.to_string()).collect();
                write!(f, "[{}]", s.join(", "))
            }
        }
    }
}

/// A control's range and default on a given camera (libcamera's ControlInfo).
#[derive(Debug, Clone, PartialEq)]
pub struct ControlInfo {
    /// Smallest value.
    pub min: ControlValue,
    /// Largest value.
    pub max: ControlValue,
    /// Default value.
    pub default: ControlValue,
}

impl ControlInfo {
    /// A numeric range.
    pub fn range(min: ControlValue, max: ControlValue, default: ControlValue) -> Self {
        Self { min, max, default }
    }

    /// Checks a scalar (or each element of a float array) against the range.
    ///
    /// Errors: a message naming the value and the allowed range.
    pub fn check(&self, id: ControlId, value: &ControlValue) -> Result<(), String> {
        let (Some(lo), Some(hi)) = (self.min.as_f64(), self.max.as_f64()) else {
            return Ok(());
        };
        let out = |v: f64| v < lo - 1e-9 || v > hi + 1e-9;
        let bad = match value {
            ControlValue::F32Array(a) => a.iter().any(|&v| out(f64::from(v))),
            v => v.as_f64().is_some_and(out),
        };
        if bad {
            Err(format!(
                "{id} value {value} is outside the camera's range {} to {}",
                self.min, self.max
            ))
        } else {
            Ok(())
        }
    }

    /// Clamps a scalar value into the range (arrays element-wise); other values pass through.
    pub fn clamp(&self, value: &ControlValue) -> ControlValue {
        let (Some(lo), Some(hi)) = (self.min.as_f64(), self.max.as_f64()) else {
            return value.clone();
        };
        match value {
            ControlValue::I32(v) => ControlValue::I32((f64::from(*v)).clamp(lo, hi) as i32),
            ControlValue::I64(v) => ControlValue::I64((*v as f64).clamp(lo, hi) as i64),
            ControlValue::F32(v) => ControlValue::F32(f64::from(*v).clamp(lo, hi) as f32),
            ControlValue::F32Array(a) => ControlValue::F32Array(
                a.iter()
                    .map(|v| f64::from(*v).clamp(lo, hi) as f32)
                    .collect(),
            ),
            v => v.clone(),
        }
    }
}

/// A set of control values, keyed by id (libcamera's ControlList).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ControlList(BTreeMap<ControlId, ControlValue>);

impl ControlList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a control, replacing any earlier value.
    pub fn set(&mut self, id: ControlId, value: ControlValue) {
        self.0.insert(id, value);
    }

    /// The value of a control, if set.
    pub fn get(&self, id: ControlId) -> Option<&ControlValue> {
        self.0.get(&id)
    }

    /// Removes a control.
    pub fn remove(&mut self, id: ControlId) -> Option<ControlValue> {
        self.0.remove(&id)
    }

    /// Copies every control of `other` into `self`, `other` winning.
    pub fn merge(&mut self, other: &ControlList) {
        for (k, v) in &other.0 {
            self.0.insert(*k, v.clone());
        }
    }

    /// Iterates over (id, value) pairs in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&ControlId, &ControlValue)> {
        self.0.iter()
    }

    /// True when no control is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes every control out, leaving the list empty.
    pub fn take(&mut self) -> ControlList {
        std::mem::take(self)
    }
}

/// libcamera enum values used by the model (`control_ids_core.yaml`).
pub mod values {
    /// AeState: Idle (both exposure and gain manual).
    pub const AE_STATE_IDLE: i32 = 0;
    /// AeState: Searching.
    pub const AE_STATE_SEARCHING: i32 = 1;
    /// AeState: Converged.
    pub const AE_STATE_CONVERGED: i32 = 2;
    /// ExposureTimeMode / AnalogueGainMode: Auto.
    pub const MODE_AUTO: i32 = 0;
    /// ExposureTimeMode / AnalogueGainMode: Manual.
    pub const MODE_MANUAL: i32 = 1;
    /// AfMode: Manual.
    pub const AF_MODE_MANUAL: i32 = 0;
    /// AfMode: Auto (scan on AfTrigger).
    pub const AF_MODE_AUTO: i32 = 1;
    /// AfMode: Continuous.
    pub const AF_MODE_CONTINUOUS: i32 = 2;
    /// AfState: Idle.
    pub const AF_STATE_IDLE: i32 = 0;
    /// AfState: Scanning.
    pub const AF_STATE_SCANNING: i32 = 1;
    /// AfState: Focused.
    pub const AF_STATE_FOCUSED: i32 = 2;
    /// AeFlickerMode: Off.
    pub const FLICKER_OFF: i32 = 0;
    /// AeFlickerMode: Manual.
    pub const FLICKER_MANUAL: i32 = 1;
    /// HdrMode: Off.
    pub const HDR_OFF: i32 = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_has_a_distinct_libcamera_name() {
        let mut names: Vec<&str> = ControlId::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ControlId::ALL.len());
        assert_eq!(ControlId::ExposureTime.name(), "ExposureTime");
        assert_eq!(ControlId::from_name("FocusFoM"), Some(ControlId::FocusFoM));
        assert_eq!(ControlId::from_name("exposure-time"), None);
    }

    #[test]
    fn check_names_value_and_range() {
        let info = ControlInfo::range(
            ControlValue::F32(1.0),
            ControlValue::F32(10.667),
            ControlValue::F32(1.0),
        );
        let e = info
            .check(ControlId::AnalogueGain, &ControlValue::F32(16.0))
            .unwrap_err();
        assert!(e.contains("AnalogueGain value 16"), "{e}");
        assert!(e.contains("1 to 10.667"), "{e}");
        assert_eq!(
            info.clamp(&ControlValue::F32(16.0)),
            ControlValue::F32(10.667)
        );
        assert!(info
            .check(ControlId::AnalogueGain, &ControlValue::F32(8.0))
            .is_ok());
    }

    #[test]
    fn list_merge_and_take() {
        let mut a = ControlList::new();
        a.set(ControlId::ExposureTime, ControlValue::I32(100));
        let mut b = ControlList::new();
        b.set(ControlId::ExposureTime, ControlValue::I32(200));
        b.set(ControlId::AeEnable, ControlValue::Bool(false));
        a.merge(&b);
        assert_eq!(
            a.get(ControlId::ExposureTime),
            Some(&ControlValue::I32(200))
        );
        let t = a.take();
        assert!(a.is_empty());
        assert_eq!(t.iter().count(), 2);
    }
}
