// SPDX-License-Identifier: MPL-2.0
//! The backend trait every camera implements, completed frames, pooled frame buffers, errors and
//! camera enumeration.
//!
//! A backend is shared between the element's streaming thread (waiting for frames) and the
//! application thread (setting controls), so every method takes `&self`.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::config::{CameraConfiguration, ConfigStatus, StreamRole};
use super::controls::{ControlId, ControlInfo, ControlList};
use super::format::{BayerOrder, FrameLayout, PixelFormat, Size};
use super::metadata::FrameMetadata;
use super::sensor::{self, SensorMode};
use super::sim::SimCamera;

/// Errors a backend reports. Never a panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CameraError {
    /// No camera of that name; `available` lists what is present.
    #[error("no camera named '{name}'; cameras present: {}", .available.join(", "))]
    NotFound {
        /// The name asked for.
        name: String,
        /// Names that would work.
        available: Vec<String>,
    },
    /// The configuration cannot be honoured; the message says why and names the limits.
    #[error("{0}")]
    Config(String),
    /// The call does not fit the camera's state (e.g. start before configure).
    #[error("camera {0}")]
    State(String),
    /// The device or library failed.
    #[error("camera I/O error: {0}")]
    Io(String),
    /// The sensor stopped delivering frames (injected stall or real timeout).
    #[error("the sensor stalled: no frame for {0:?}")]
    Stalled(Duration),
}

/// Faults a backend can be told to simulate, for reliability tests. Real backends may refuse
/// them with [`CameraError::State`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// The next `count` frames complete with an error status (no usable buffers).
    FrameError {
        /// How many frames.
        count: u32,
    },
    /// The sensor delivers nothing for `duration`.
    Stall {
        /// How long.
        duration: Duration,
    },
}

/// How a frame completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameStatus {
    /// Buffers hold the frame.
    Ok,
    /// The frame failed (libcamera FrameError); buffers must not be used.
    Error,
}

/// The memory behind one frame buffer. Implementations return themselves to their camera when
/// the [`FrameBuffer`] holding them drops.
pub trait FrameData: Send + Sync + 'static {
    /// The buffer's bytes (all planes).
    fn bytes(&self) -> &[u8];
    /// A file descriptor (dma-buf or memfd) for the bytes, if the memory has one.
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
    /// True when [`FrameData::fd`] is a dma-buf (a V4L2 encoder can import it), false for
    /// memfd or no descriptor.
    fn is_dmabuf(&self) -> bool {
        false
    }
    /// For recycling: the concrete type.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

type Recycle = Box<dyn FnOnce(Box<dyn FrameData>) + Send + Sync>;

/// One stream's buffer of one frame, owned by whoever holds it. Dropping it returns the memory
/// to the camera (which can then capture into it again): downstream elements holding frames
/// hold camera buffers, exactly as with libcamera.
pub struct FrameBuffer {
    data: Option<Box<dyn FrameData>>,
    layout: FrameLayout,
    recycle: Option<Recycle>,
}

impl FrameBuffer {
    /// Wraps `data` laid out as `layout`; `recycle` gets the data back on drop.
    pub fn new(
        data: Box<dyn FrameData>,
        layout: FrameLayout,
        recycle: impl FnOnce(Box<dyn FrameData>) + Send + Sync + 'static,
    ) -> Self {
        Self {
            data: Some(data),
            layout,
            recycle: Some(Box::new(recycle)),
        }
    }

    /// Plane layout (offsets and strides, bytes).
    pub fn layout(&self) -> &FrameLayout {
        &self.layout
    }

    /// File descriptor of the memory, if any.
    pub fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.data.as_ref().and_then(|d| d.fd())
    }

    /// True when the descriptor is a dma-buf.
    pub fn is_dmabuf(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.is_dmabuf())
    }
}

impl AsRef<[u8]> for FrameBuffer {
    fn as_ref(&self) -> &[u8] {
        match &self.data {
            Some(d) => &d.bytes()[..self.layout.size.min(d.bytes().len())],
            None => &[],
        }
    }
}

impl Drop for FrameBuffer {
    fn drop(&mut self) {
        if let (Some(d), Some(r)) = (self.data.take(), self.recycle.take()) {
            r(d);
        }
    }
}

impl fmt::Debug for FrameBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameBuffer")
            .field("size", &self.layout.size)
            .field("planes", &self.layout.planes.len())
            .finish()
    }
}

/// A completed capture: one frame's buffers for every configured stream, and its metadata.
#[derive(Debug)]
pub struct CompletedFrame {
    /// How it completed.
    pub status: FrameStatus,
    /// Metadata (sequence, sensor timestamp, exposure, gains, ...).
    pub metadata: FrameMetadata,
    /// One buffer per stream that was asked for this frame.
    pub buffers: Vec<(StreamRole, FrameBuffer)>,
    /// What the camera did with the controls of this frame's request that the user should
    /// know (values clamped to the camera's limits, with the value and the range).
    pub notes: Vec<String>,
}

/// Counters a backend keeps while streaming.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CameraStats {
    /// Frames the sensor produced.
    pub frames_captured: u64,
    /// Frames lost for every stream because each stream's buffers were all held downstream.
    pub frames_without_buffer: u64,
    /// Per stream (index: [`StreamRole`] as usize): frames the stream missed because all its
    /// buffers were held downstream.
    pub stream_without_buffer: [u64; 3],
    /// CPU time the simulation spent rendering, ns (0 for real cameras).
    pub render_cpu_ns: u64,
}

/// A camera's static description.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraInfo {
    /// Unique id (libcamera id, or `sim:<sensor>`).
    pub id: String,
    /// Sensor model (`imx708`, ...).
    pub model: String,
    /// True for the simulated camera.
    pub simulated: bool,
    /// Active pixel array, pixels.
    pub pixel_array: Size,
    /// Colour filter order with no flips, for Bayer sensors.
    pub bayer_order: Option<BayerOrder>,
    /// Sensor modes (sensor-HDR ones flagged).
    pub modes: Vec<SensorMode>,
    /// Processed output formats, preferred first.
    pub formats: Vec<PixelFormat>,
    /// Longest frame duration, µs.
    pub max_frame_duration_us: u64,
    /// Control ranges and defaults before any mode is configured.
    pub controls: BTreeMap<ControlId, ControlInfo>,
}

impl CameraInfo {
    /// Modes of the normal (`hdr` false) or sensor-HDR list.
    pub fn modes_for(&self, hdr: bool) -> impl Iterator<Item = &SensorMode> {
        let has_hdr = self.modes.iter().any(|m| m.hdr);
        self.modes
            .iter()
            .filter(move |m| if has_hdr && hdr { m.hdr } else { !m.hdr })
    }
}

/// A camera. Methods take `&self`; implementations lock internally and briefly.
pub trait CameraBackend: Send + Sync {
    /// Static description.
    fn info(&self) -> CameraInfo;
    /// Control ranges for the configured mode (after `configure`), else as in `info()`.
    fn controls(&self) -> BTreeMap<ControlId, ControlInfo>;
    /// Checks and completes `config` (mode choice, layouts, colour spaces).
    fn validate(&self, config: &mut CameraConfiguration) -> Result<ConfigStatus, CameraError>;
    /// Applies a validated configuration and allocates buffers. The camera must be stopped.
    fn configure(&self, config: &CameraConfiguration) -> Result<(), CameraError>;
    /// Starts streaming with `controls` applied from the first frame.
    fn start(&self, controls: &ControlList) -> Result<(), CameraError>;
    /// Stops streaming; buffers still held downstream stay valid until dropped.
    fn stop(&self);
    /// Queues controls for the next request; values out of range are clamped by the IPA.
    fn set_controls(&self, controls: &ControlList);
    /// Waits up to `timeout` for the next completed frame; `Ok(None)` on timeout or
    /// [`CameraBackend::unblock`].
    fn next_frame(&self, timeout: Duration) -> Result<Option<CompletedFrame>, CameraError>;
    /// Wakes a thread blocked in `next_frame`.
    fn unblock(&self);
    /// Simulates a fault (simulated camera only).
    fn inject_fault(&self, fault: Fault) -> Result<(), CameraError>;
    /// Sets the scene of a simulated camera; real cameras ignore it.
    ///
    /// Errors: a scene that cannot be loaded (image file), naming the cause.
    fn set_scene(&self, _scene: &super::sim::SceneSettings) -> Result<(), CameraError> {
        Ok(())
    }
    /// Counters since the last `start`.
    fn stats(&self) -> CameraStats {
        CameraStats::default()
    }
}

/// A camera that can be opened.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraDescriptor {
    /// The name `camera-name` takes.
    pub id: String,
    /// Sensor model.
    pub model: String,
    /// True for simulated cameras.
    pub simulated: bool,
}

/// Every camera: real ones first (when a real backend is built in), then the simulated ones.
pub fn list_cameras() -> Vec<CameraDescriptor> {
    let mut v = real_cameras();
    v.extend(sensor::SIMULATED_SENSORS.iter().map(|m| CameraDescriptor {
        id: format!("sim:{m}"),
        model: (*m).to_string(),
        simulated: true,
    }));
    v
}

fn real_cameras() -> Vec<CameraDescriptor> {
    #[cfg(feature = "libcamera")]
    return super::libcamera::descriptors();
    #[cfg(not(feature = "libcamera"))]
    Vec::new()
}

/// Every camera present, as error messages list them.
fn available_cameras() -> Vec<String> {
    #[cfg(feature = "libcamera")]
    return super::libcamera::describe_available();
    #[cfg(not(feature = "libcamera"))]
    list_cameras().into_iter().map(|c| c.id).collect()
}

/// Opens the camera called `name`: `sim:<sensor>` for the simulation; unset means the first real
/// camera, or `sim:imx219` when none is present.
///
/// Errors: [`CameraError::NotFound`] listing every camera present.
pub fn open_camera(name: Option<&str>) -> Result<Arc<dyn CameraBackend>, CameraError> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let name = match name {
        Some(n) => n.to_string(),
        None => real_cameras()
            .first()
            .map(|c| c.id.clone())
            .unwrap_or_else(|| "sim:imx219".to_string()),
    };
    if let Some(model) = name.strip_prefix("sim:") {
        if let Some(s) = sensor::by_model(model) {
            return Ok(Arc::new(SimCamera::new(s)));
        }
    } else {
        // A libcamera id, model name or index.
        #[cfg(feature = "libcamera")]
        if let Some(cam) = super::libcamera::open_by_name(&name)? {
            return Ok(cam);
        }
    }
    Err(CameraError::NotFound {
        name,
        available: available_cameras(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_camera_lists_what_is_present() {
        let e = open_camera(Some("imx999")).err().unwrap();
        let s = e.to_string();
        assert!(s.contains("no camera named 'imx999'"), "{s}");
        assert!(s.contains("sim:imx219") && s.contains("sim:imx708"), "{s}");
        assert!(open_camera(Some("sim:nope")).is_err());
        assert!(open_camera(None).is_ok());
    }

    #[test]
    fn frame_buffer_returns_on_drop() {
        struct D(Vec<u8>);
        impl FrameData for D {
            fn bytes(&self) -> &[u8] {
                &self.0
            }
            fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
                self
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let fb = FrameBuffer::new(
            Box::new(D(vec![1, 2, 3, 4])),
            FrameLayout {
                planes: vec![],
                size: 3,
            },
            move |d| {
                let _ = tx.send(d.bytes().len());
            },
        );
        assert_eq!(fb.as_ref(), &[1, 2, 3]);
        drop(fb);
        assert_eq!(rx.recv().unwrap(), 4);
    }
}
