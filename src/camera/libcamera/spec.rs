// SPDX-License-Identifier: MPL-2.0
//! What the libcamera thread ([`super::runtime`]) is asked and answers, as plain values:
//! camera descriptions and details, configuration requests and their validation.

use libcamera::{
    camera::Orientation,
    color_space::ColorSpace,
    control_value::{ControlType, ControlValue},
    geometry::{Size, SizeRange},
    pixel_format::PixelFormat,
    stream::StreamRole,
};

/// A camera as listed by libcamera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcCameraDesc {
    /// libcamera's camera id (for the virtual camera, `Virtual0`; on a Pi a device-tree path).
    pub id: String,
    /// The `Model` property (sensor name such as `imx708`), if the camera has one.
    pub model: Option<String>,
    /// The `Location` property (front, back, external), if the camera has one.
    pub location: Option<String>,
    /// The `Rotation` property (degrees the camera is mounted rotated by), if the camera has one.
    pub rotation: Option<i32>,
}

/// A control a camera accepts, from its `ControlInfoMap`.
#[derive(Debug, Clone)]
pub struct LcControlInfo {
    /// Numeric control id.
    pub id: u32,
    /// libcamera's control name, e.g. `ExposureTime`.
    pub name: String,
    /// Value type.
    pub ty: ControlType,
    /// Whether the value is an array (e.g. `ColourGains`, `FrameDurationLimits`).
    pub is_array: bool,
    /// Minimum.
    pub min: ControlValue,
    /// Maximum.
    pub max: ControlValue,
    /// Default.
    pub def: ControlValue,
    /// The allowed values, for enumerated controls (empty otherwise).
    pub values: Vec<ControlValue>,
}

/// One pixel format a stream role offers, with its sizes.
#[derive(Debug, Clone)]
pub struct LcFormat {
    /// The pixel format.
    pub pixel_format: PixelFormat,
    /// Discrete sizes (may be empty when only a range is given).
    pub sizes: Vec<Size>,
    /// The range of sizes.
    pub range: SizeRange,
}

/// Everything the backend learns about a camera when it opens it.
#[derive(Debug, Clone)]
pub struct LcCameraDetails {
    /// Id, model, location.
    pub desc: LcCameraDesc,
    /// The controls and their ranges and defaults.
    pub controls: Vec<LcControlInfo>,
    /// Formats of the processed (video-recording role) stream.
    pub stream_formats: Vec<LcFormat>,
    /// Formats of the raw stream; empty where the pipeline handler offers no raw role (the
    /// virtual camera, USB cameras). On a Raspberry Pi these are the sensor modes.
    pub raw_formats: Vec<LcFormat>,
    /// The `PixelArraySize` property, if any.
    pub pixel_array_size: Option<Size>,
}

/// What one stream of a configuration should be; `None` fields keep libcamera's default.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    /// libcamera stream role.
    pub role: StreamRole,
    /// Pixel format.
    pub pixel_format: Option<PixelFormat>,
    /// Size in pixels.
    pub size: Option<Size>,
    /// Colour space.
    pub color_space: Option<ColorSpace>,
    /// Number of buffers.
    pub buffer_count: Option<u32>,
}

/// The sensor mode to use, as libcamera's `SensorConfiguration` (honoured by the Raspberry Pi
/// pipeline handler).
#[derive(Debug, Clone, Copy)]
pub struct SensorSpec {
    /// Sensor output size in pixels.
    pub size: Size,
    /// Bits per pixel of the raw output.
    pub bit_depth: u32,
}

/// A whole configuration request.
#[derive(Debug, Clone, Default)]
pub struct ConfigSpec {
    /// The streams, in order.
    pub streams: Vec<StreamSpec>,
    /// The sensor mode, if chosen.
    pub sensor: Option<SensorSpec>,
    /// Image orientation (flips), if asked for.
    pub orientation: Option<Orientation>,
}

/// One stream as libcamera will deliver it.
#[derive(Debug, Clone, Copy)]
pub struct StreamResult {
    /// Pixel format.
    pub pixel_format: PixelFormat,
    /// Size in pixels.
    pub size: Size,
    /// Bytes per line of the first plane.
    pub stride: u32,
    /// Bytes per frame, as libcamera computes it.
    pub frame_size: u32,
    /// Buffers libcamera wants for the stream.
    pub buffer_count: u32,
    /// Colour space, if the stream has one.
    pub color_space: Option<ColorSpace>,
}

/// Result of `validate()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcStatus {
    /// Accepted as asked.
    Valid,
    /// Accepted with changes (see [`Validation::adjustments`]).
    Adjusted,
    /// Rejected.
    Invalid,
}

/// What libcamera made of a [`ConfigSpec`].
#[derive(Debug, Clone)]
pub struct Validation {
    /// The verdict.
    pub status: LcStatus,
    /// The streams after validation (same order as asked).
    pub streams: Vec<StreamResult>,
    /// Human-readable changes, e.g. `stream 0: size 800x600 -> 640x480`.
    pub adjustments: Vec<String>,
    /// libcamera's rendering of the configuration as asked, for messages.
    pub requested: String,
}
