// SPDX-License-Identifier: MPL-2.0
//! The camera model: everything rpicamsrc2 knows about Raspberry Pi cameras, with no GStreamer in it.
//!
//! * [`format`]: sizes, rectangles, pixel formats and their plane layouts (with the Pi ISP's
//!   stride alignment), colour spaces.
//! * [`sensor`]: the sensors' real mode tables, timing, gain and exposure limits, control delays
//!   and tuning figures (sources: `shared/facts/sensors.md`, which cites the Raspberry Pi kernel
//!   drivers, libcamera's cam helpers and tuning files).
//! * [`mode`]: framerate-aware sensor-mode choice, as rpicam-apps does it, and the
//!   `sensor-mode` string syntax.
//! * [`controls`]: libcamera's control ids, values, per-camera control info and control lists.
//! * [`metadata`]: the per-frame metadata every completed frame carries.
//! * [`config`]: stream roles, stream and camera configuration, validation against the ISP rules.
//! * [`backend`]: the backend trait (simulated camera now, libcamera later), completed frames and
//!   pooled frame buffers, typed errors, camera enumeration.
//! * [`sim`]: the simulated Raspberry Pi camera.
//! * `libcamera` (cargo feature `libcamera`): the real backend over libcamera >= 0.4.

pub mod backend;
#[cfg(feature = "libcamera")]
pub mod libcamera;
pub mod config;
pub mod controls;
pub mod format;
pub mod metadata;
pub mod mode;
pub mod sensor;
pub mod sim;

pub use backend::{
    list_cameras, open_camera, CameraBackend, CameraDescriptor, CameraError, CameraInfo,
    CameraStats, CompletedFrame, Fault, FrameBuffer, FrameStatus,
};
pub use config::{CameraConfiguration, ConfigStatus, StreamConfig, StreamRole};
pub use controls::{ControlId, ControlInfo, ControlList, ControlValue};
pub use format::{ColorSpace, PixelFormat, Rect, Size};
pub use metadata::{AeState, FrameMetadata};
pub use mode::{ModeRequest, SensorModeSpec};
pub use sensor::{SensorInfo, SensorMode};
