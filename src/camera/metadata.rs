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
