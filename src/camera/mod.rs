// SPDX-License-Identifier: MPL-2.0
//! The camera model: everything rpicamsrc2 knows about Raspberry Pi cameras, with no GStreamer in it.
//!
//! * [`format`]: sizes, rectangles, pixel formats and their plane layouts (with the Pi ISP's
//!   stride alignment), colour spaces.
//! * [`sensor`]: the sensors' real mode tables, timing, gain and exposure limits, control delays
//!   and tuning figures (sources: `docs/sensors.md`, which cites the Raspberry Pi kernel
//!   drivers, libcamera's cam helpers and tuning files).
//! * [`mode`]: framerate-aware sensor-mode choice, as rpicam-apps does it, and the
//!   `sensor-mode` string syntax.
//! * [`controls`]: libcamera's control ids, values, per-camera control info and control lists,
//!   and the one table of the controls offered (name, unit, range, default, libcamera id).
//! * [`metadata`]: the per-frame metadata every completed frame carries.
//! * [`config`]: stream roles, stream and camera configuration, validation against the ISP rules.
//! * [`backend`]: the backend trait (simulated camera and libcamera), completed frames and
//!   pooled frame buffers, typed errors. It imports no backend.
//! * [`registry`]: camera enumeration and opening over every backend built in.
//! * [`sim`]: the simulated Raspberry Pi camera.
//! * [`dmaheap`]: dma-bufs from a kernel dma-buf heap (the simulated camera's `sim-memory=dmabuf`).
//! * `libcamera` (cargo feature `libcamera`): the real backend over libcamera >= 0.4.

pub mod backend;
pub mod config;
pub mod controls;
pub mod dmaheap;
pub mod format;
#[cfg(feature = "libcamera")]
pub mod libcamera;
pub mod metadata;
pub mod mode;
pub mod registry;
pub mod sensor;
pub mod sim;

pub use backend::{
    CameraBackend, CameraDescriptor, CameraError, CameraInfo, CameraStats, CompletedFrame, Fault,
    FrameBuffer, FrameStatus, OptionKind, OptionSpec, OptionValue, OptionValues,
};
pub use config::{CameraConfiguration, ConfigStatus, StreamConfig, StreamRole};
pub use controls::{Choice, ControlDef, ControlId, ControlInfo, ControlList, ControlValue};
pub use format::{ColorSpace, PixelFormat, Rect, Size};
pub use metadata::{AeState, AwbState, FrameMetadata};
pub use mode::{ModeRequest, ModeRule, SensorModeSpec};
pub use registry::{
    backend_options, describe_camera, discoverable_cameras, list_cameras, open_camera,
    watch_cameras, CameraEvent, CameraWatch, SIM_DEVICES_ENV,
};
pub use sensor::{SensorInfo, SensorMode};

/// Nanoseconds on CLOCK_MONOTONIC: the clock of libcamera's SensorTimestamp and of GStreamer's
/// default system clock.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

pub(crate) fn clock_ns(clock: libc::clockid_t) -> u64 {
    // Zeroed rather than a struct literal: with 64-bit time_t on 32-bit targets (armhf built
    // with libc's gnu_time_bits=64) timespec has private padding fields.
    // SAFETY: timespec is plain integers, valid all-zero; clock_gettime only writes into the
    // timespec we own; the clocks used here (MONOTONIC, THREAD_CPUTIME_ID) always exist on Linux.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
