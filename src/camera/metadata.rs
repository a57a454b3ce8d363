// SPDX-License-Identifier: MPL-2.0
//! Per-frame metadata: what the camera applied to one frame and what it measured.
//!
//! Field names follow libcamera's metadata controls (`ipa_base.cpp` reportMetadata in the
//! Raspberry Pi IPA: ExposureTime, AnalogueGain, DigitalGain, ColourGains, ColourTemperature,
//! Lux, FrameDuration, SensorTimestamp, AeState, LensPosition, FocusFoM, SensorBlackLevels).

/// libcamera's AeState.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AeState {
    /// Exposure time and gain both manual.
    #[default]
    Idle,
    /// The AGC is still moving.
    Searching,
    /// The AGC has been within 10% of its target for 5 frames (`maxLockCount`).
    Converged,
}

impl AeState {
    /// libcamera's name.
    pub fn name(self) -> &'static str {
        match self {
            AeState::Idle => "idle",
            AeState::Searching => "searching",
            AeState::Converged => "converged",
        }
    }
}

/// libcamera's AwbLocked (core) and draft::AwbState, folded into one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AwbState {
    /// AWB is not running (AwbEnable off, or fixed ColourGains).
    #[default]
    Idle,
    /// AWB is still moving (AwbLocked false, AwbStateSearching).
    Searching,
    /// AWB has converged (AwbLocked true, AwbConverged or AwbLocked state).
    Converged,
}

impl AwbState {
    /// The name used in metadata and messages.
    pub fn name(self) -> &'static str {
        match self {
            AwbState::Idle => "idle",
            AwbState::Searching => "searching",
            AwbState::Converged => "converged",
        }
    }

    /// Parses [`AwbState::name`]; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        [AwbState::Idle, AwbState::Searching, AwbState::Converged]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// What one frame was captured with and what the IPA measured on it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FrameMetadata {
    /// Frame sequence number from the sensor (gaps mean dropped frames).
    pub sequence: u64,
    /// Start-of-frame time, ns on CLOCK_MONOTONIC.
    pub sensor_timestamp_ns: u64,
    /// Exposure time applied, µs.
    pub exposure_time_us: u32,
    /// Analogue gain applied.
    pub analogue_gain: f32,
    /// Digital gain applied by the ISP.
    pub digital_gain: f32,
    /// White-balance gains applied, [red, blue].
    pub colour_gains: [f32; 2],
    /// Estimated colour temperature, K.
    pub colour_temperature_k: u32,
    /// Estimated scene illuminance, lux.
    pub lux: f32,
    /// Frame duration, µs.
    pub frame_duration_us: u64,
    /// AE state.
    pub ae_state: AeState,
    /// AWB state; `None` when the camera does not report it (libcamera reports AwbLocked only
    /// where the IPA does; then only the AE state tells whether the frame is settled).
    pub awb_state: Option<AwbState>,
    /// Lens position, dioptres, for cameras with a focus lens.
    pub lens_position: Option<f32>,
    /// Focus figure of merit (higher is sharper), for cameras with a focus lens.
    pub focus_fom: Option<i32>,
    /// AF state (libcamera AfState value), for cameras with a focus lens.
    pub af_state: Option<i32>,
    /// Black levels [R, Gr, Gb, B], 16-bit scale.
    pub sensor_black_levels: [i32; 4],
    /// Sensor temperature, °C, when known.
    pub sensor_temperature: Option<f32>,
}

impl FrameMetadata {
    /// True when neither AE nor AWB is still moving: AE converged or manual (idle), and AWB
    /// converged, off, or not reported. This is what a still waits for (as rpicam-still's
    /// preview before capture and Picamera2's wait for AeState/AeLocked).
    pub fn is_settled(&self) -> bool {
        self.ae_state != AeState::Searching && self.awb_state != Some(AwbState::Searching)
    }

    /// What is still moving, for messages: e.g. `["AE searching", "AWB searching"]`.
    pub fn unsettled(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.ae_state == AeState::Searching {
            v.push("AE searching");
        }
        if self.awb_state == Some(AwbState::Searching) {
            v.push("AWB searching");
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_needs_ae_and_awb() {
        let mut m = FrameMetadata {
            ae_state: AeState::Converged,
            awb_state: Some(AwbState::Searching),
            ..Default::default()
        };
        assert!(!m.is_settled());
        assert_eq!(m.unsettled(), vec!["AWB searching"]);
        m.awb_state = None;
        assert!(m.is_settled(), "AWB not reported: AE alone decides");
        m.ae_state = AeState::Searching;
        assert!(!m.is_settled());
        m.ae_state = AeState::Idle;
        m.awb_state = Some(AwbState::Converged);
        assert!(m.is_settled(), "manual exposure and converged AWB");
        assert_eq!(AwbState::from_name("converged"), Some(AwbState::Converged));
    }
}
