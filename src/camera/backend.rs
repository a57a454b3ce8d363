// SPDX-License-Identifier: MPL-2.0
//! The backend trait every camera implements, completed frames, pooled frame buffers and errors.
//! It knows no backend: opening and listing cameras is [`super::registry`]'s job.
//!
//! A backend is shared between the element's streaming thread (waiting for frames) and the
//! application thread (setting controls), so every method takes `&self`.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::config::{CameraConfiguration, ConfigStatus, StreamRole};
use super::controls::{Choice, ControlId, ControlInfo, ControlList};
use super::format::{BayerOrder, FrameLayout, PixelFormat, Size};
use super::metadata::FrameMetadata;
use super::sensor::SensorMode;

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
    /// The sensor stopped delivering frames for this long (a stall that restarting the camera
    /// did not cure; the element builds it when it gives up).
    #[error("the sensor stalled: no frame for {:.1} s", .0.as_secs_f64())]
    Stalled(Duration),
}

/// Faults a backend can be told to simulate, for reliability tests, through its fault options
/// ([`FAULT_FRAME_ERRORS`], [`FAULT_STALL_MS`], [`FAULT_PANIC`], [`FAULT_CALLER_PANIC`]; see `inject_fault` on
/// `dyn CameraBackend`). Backends without them (real cameras) refuse with [`CameraError::Config`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// The next `count` frames complete with an error status (no usable buffers).
    FrameError {
        /// How many frames.
        count: u32,
    },
    /// From now the sensor delivers nothing for `duration`, restarts of the camera included
    /// (`None`: until a stall of zero ends it; `Some(ZERO)` ends a stall now).
    Stall {
        /// How long; `None` for ever.
        duration: Option<Duration>,
    },
    /// The backend's own capture thread panics at its next frame; `next_frame` then answers
    /// [`CameraError::Io`] naming the panic, until the camera starts again.
    Panic,
    /// The next call of `next_frame` panics in the thread that calls it (the element's capture
    /// thread): the element must turn that into an error message, never a crash or a hang.
    CallerPanic,
}

/// Option of a backend that simulates faults: the next N frames (an [`OptionValue::Int`],
/// 0 to 2^32 - 1) complete with an error status. A test hook, not an element property.
pub const FAULT_FRAME_ERRORS: &str = "fault-frame-errors";
/// Option of a backend that simulates faults: from now the sensor delivers nothing for this
/// many ms, restarts included (an [`OptionValue::Int`], -1 to 2^31 - 1; -1: until set to 0, 0:
/// end a stall now). An element property (`sim-stall-ms`), so that pipelines can stall a
/// simulated camera while PLAYING.
pub const FAULT_STALL_MS: &str = "sim-stall-ms";
/// Option of a backend that simulates faults: its capture thread panics at the next frame (an
/// [`OptionValue::Bool`]; true panics). A test hook, not an element property.
pub const FAULT_PANIC: &str = "fault-panic";
/// Option of a backend that simulates faults: its next `next_frame` call panics in the caller's
/// thread ([`Fault::CallerPanic`]; an [`OptionValue::Bool`], true panics). A test hook, not an
/// element property.
pub const FAULT_CALLER_PANIC: &str = "fault-caller-panic";
/// The longest stall [`FAULT_STALL_MS`] takes, ms (2^31 - 1, about 24.8 days).
pub const STALL_MS_MAX: i64 = i32::MAX as i64;

/// The value of a backend option ([`OptionSpec`]).
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// For [`OptionKind::Bool`].
    Bool(bool),
    /// For [`OptionKind::Int`].
    Int(i64),
    /// For [`OptionKind::Double`].
    Double(f64),
    /// For [`OptionKind::Str`]; `None` is unset.
    Str(Option<String>),
    /// For [`OptionKind::Enum`]: one of its [`Choice::value`]s.
    Enum(i32),
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Bool(v) => write!(f, "{v}"),
            OptionValue::Int(v) => write!(f, "{v}"),
            OptionValue::Double(v) => write!(f, "{v}"),
            OptionValue::Str(Some(v)) => write!(f, "'{v}'"),
            OptionValue::Str(None) => f.write_str("unset"),
            OptionValue::Enum(v) => write!(f, "{v}"),
        }
    }
}

/// An option's type, range and default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptionKind {
    /// On or off.
    Bool {
        /// Default.
        default: bool,
    },
    /// An integer within `min..=max`.
    Int {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
        /// Default.
        default: i64,
    },
    /// A number within `min..=max`.
    Double {
        /// Smallest value.
        min: f64,
        /// Largest value.
        max: f64,
        /// Default.
        default: f64,
    },
    /// A string (a file name, ...); unset by default.
    Str,
    /// One of `choices`.
    Enum {
        /// Name of the enumeration (`SimScene`); the element prefixes it to name its type.
        type_name: &'static str,
        /// The values.
        choices: &'static [Choice],
        /// Default value.
        default: i32,
    },
}

/// A backend's own option: a setting that only that backend has (the simulated scene, ...).
/// Each backend declares a static table of them ([`CameraBackend::options`]); the element
/// offers those with `property` set as properties of the same name, nick and blurb, settable
/// while PLAYING, and passes values through [`CameraBackend::set_option`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptionSpec {
    /// Name (`sim-scene`).
    pub name: &'static str,
    /// Short description.
    pub nick: &'static str,
    /// Description, with units.
    pub blurb: &'static str,
    /// Type, range and default.
    pub kind: OptionKind,
    /// Offered as an element property; false for test hooks (fault injection).
    pub property: bool,
}

impl OptionSpec {
    /// The default value.
    pub fn default_value(&self) -> OptionValue {
        match self.kind {
            OptionKind::Bool { default } => OptionValue::Bool(default),
            OptionKind::Int { default, .. } => OptionValue::Int(default),
            OptionKind::Double { default, .. } => OptionValue::Double(default),
            OptionKind::Str => OptionValue::Str(None),
            OptionKind::Enum { default, .. } => OptionValue::Enum(default),
        }
    }

    /// The value written as `text`: `true`/`false` (or 1/0) for a boolean, a decimal number,
    /// any text for a string, an enum's nick or number, each then checked with
    /// [`OptionSpec::check`].
    ///
    /// Errors: [`CameraError::Config`] naming the option, the text and what it takes.
    pub fn parse(&self, text: &str) -> Result<OptionValue, CameraError> {
        let t = text.trim();
        let value = match self.kind {
            OptionKind::Bool { .. } => match t {
                "true" | "1" | "yes" => Some(OptionValue::Bool(true)),
                "false" | "0" | "no" => Some(OptionValue::Bool(false)),
                _ => None,
            },
            OptionKind::Int { .. } => t.parse().ok().map(OptionValue::Int),
            OptionKind::Double { .. } => t
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(OptionValue::Double),
            OptionKind::Str => Some(OptionValue::Str((!t.is_empty()).then(|| t.to_string()))),
            OptionKind::Enum { choices, .. } => choices
                .iter()
                .find(|c| c.nick == t || c.value.to_string() == t)
                .map(|c| OptionValue::Enum(c.value)),
        };
        // A value of the right type that is out of range gets `check`'s message with the range;
        // text of the wrong shape gets it through a value that cannot match.
        let value = value.unwrap_or(OptionValue::Str(Some(t.to_string())));
        self.check(&value).map(|()| value)
    }

    /// Checks that `value` has the option's type and lies in its range.
    ///
    /// Errors: [`CameraError::Config`] naming the option, the value and what it takes.
    pub fn check(&self, value: &OptionValue) -> Result<(), CameraError> {
        let ok = match (self.kind, value) {
            (OptionKind::Bool { .. }, OptionValue::Bool(_))
            | (OptionKind::Str, OptionValue::Str(_)) => true,
            (OptionKind::Int { min, max, .. }, OptionValue::Int(v)) => (min..=max).contains(v),
            (OptionKind::Double { min, max, .. }, OptionValue::Double(v)) => {
                (min..=max).contains(v)
            }
            (OptionKind::Enum { choices, .. }, OptionValue::Enum(v)) => {
                choices.iter().any(|c| c.value == *v)
            }
            _ => false,
        };
        if ok {
            return Ok(());
        }
        let takes = match self.kind {
            OptionKind::Bool { .. } => "true or false".to_string(),
            OptionKind::Int { min, max, .. } => format!("an integer from {min} to {max}"),
            OptionKind::Double { min, max, .. } => format!("a number from {min} to {max}"),
            OptionKind::Str => "a string".to_string(),
            OptionKind::Enum { choices, .. } => {
                let c: Vec<String> = choices
                    .iter()
                    .map(|c| format!("{} ({})", c.value, c.nick))
                    .collect();
                format!("one of {}", c.join(", "))
            }
        };
        Err(CameraError::Config(format!(
            "option {} takes {takes}, not {value}",
            self.name
        )))
    }
}

/// Backend option values as the user set them, kept by the element and replayed on whichever
/// camera opens: each camera takes those of the options it declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptionValues(BTreeMap<&'static str, OptionValue>);

impl OptionValues {
    /// The value set for option `name`, if any.
    pub fn get(&self, name: &str) -> Option<&OptionValue> {
        self.0.get(name)
    }

    /// Sets option `name` (a name from an option table).
    pub fn set(&mut self, name: &'static str, value: OptionValue) {
        self.0.insert(name, value);
    }

    /// Sets on `camera` every value of an option it declares; the others belong to other
    /// backends and are left out.
    ///
    /// Errors: the first value the camera refuses (e.g. an image file it cannot load).
    pub fn apply(&self, camera: &dyn CameraBackend) -> Result<(), CameraError> {
        let declared = camera.options();
        for (name, value) in &self.0 {
            if declared.iter().any(|o| o.name == *name) {
                camera.set_option(name, value)?;
            }
        }
        Ok(())
    }

    /// Sets on `camera` the value of option `name`, when one is set and the camera declares
    /// the option (a change while the camera is open).
    ///
    /// Errors: the camera's refusal, as for [`OptionValues::apply`].
    pub fn apply_one(&self, camera: &dyn CameraBackend, name: &str) -> Result<(), CameraError> {
        match self.0.get(name) {
            Some(value) if camera.options().iter().any(|o| o.name == name) => {
                camera.set_option(name, value)
            }
            _ => Ok(()),
        }
    }
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

    /// A copy of the bytes in ordinary memory, with the same layout: it holds no camera
    /// buffer (a still taken from a stream that goes on).
    pub fn copied(&self) -> FrameBuffer {
        FrameBuffer::new(
            Box::new(CopiedData(self.as_ref().to_vec())),
            self.layout.clone(),
            |_| {},
        )
    }
}

/// The bytes of [`FrameBuffer::copied`].
struct CopiedData(Vec<u8>);

impl FrameData for CopiedData {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
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
    /// The backend's own options (e.g. the simulated scene), with their types, ranges and
    /// defaults; none by default.
    fn options(&self) -> &'static [OptionSpec] {
        &[]
    }
    /// Sets one of [`CameraBackend::options`], also while streaming.
    ///
    /// Errors: [`CameraError::Config`] for an option the backend does not have, a value of the
    /// wrong type or out of range (naming the option, the value and the range), or a value
    /// the backend cannot use (an image file that cannot be loaded, naming the cause).
    fn set_option(&self, name: &str, value: &OptionValue) -> Result<(), CameraError> {
        let _ = value;
        Err(CameraError::Config(format!(
            "camera {} has no option {name}",
            self.info().id
        )))
    }
    /// Counters since the last `start`.
    fn stats(&self) -> CameraStats {
        CameraStats::default()
    }
}

impl dyn CameraBackend {
    /// Simulates `fault` through the camera's fault options ([`FAULT_FRAME_ERRORS`],
    /// [`FAULT_STALL_MS`], [`FAULT_PANIC`]).
    ///
    /// Errors: [`CameraError::Config`] from a camera without them (real cameras).
    pub fn inject_fault(&self, fault: Fault) -> Result<(), CameraError> {
        match fault {
            Fault::FrameError { count } => {
                self.set_option(FAULT_FRAME_ERRORS, &OptionValue::Int(i64::from(count)))
            }
            Fault::Stall { duration } => self.set_option(
                FAULT_STALL_MS,
                &OptionValue::Int(duration.map_or(-1, |d| {
                    i64::try_from(d.as_millis())
                        .unwrap_or(i64::MAX)
                        .min(STALL_MS_MAX)
                })),
            ),
            Fault::Panic => self.set_option(FAULT_PANIC, &OptionValue::Bool(true)),
            Fault::CallerPanic => self.set_option(FAULT_CALLER_PANIC, &OptionValue::Bool(true)),
        }
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
    /// Where the camera is mounted, as libcamera's `Location` property names it (`front`,
    /// `back`, `external`); `None` when the camera does not say (the simulated ones).
    pub location: Option<String>,
    /// libcamera's `Rotation` property: degrees (0, 90, 180, 270) the camera is mounted
    /// rotated by; `None` when the camera does not say. The simulated cameras say 0.
    pub rotation: Option<i32>,
}

/// Changes of the camera list that backends announce (libcamera's `CameraManager` hotplug
/// signals): a count that rises with each, and the condition variable camera watches
/// ([`crate::camera::watch_cameras`]) wait on. Backends without such signals are polled.
static LIST_CHANGES: (Mutex<u64>, Condvar) = (Mutex::new(0), Condvar::new());

/// Tells the camera watches that the camera list changed (a camera came or went), so that they
/// read it at once. Backends call it from their hotplug signals, from any thread.
pub fn notify_cameras_changed() {
    *crate::sync::lock(&LIST_CHANGES.0) += 1;
    LIST_CHANGES.1.notify_all();
}

/// The number of camera-list changes announced so far.
pub(crate) fn camera_changes() -> u64 {
    *crate::sync::lock(&LIST_CHANGES.0)
}

/// Waits until a change after `seen` (a count from [`camera_changes`] or from this) is
/// announced, `stop` is set (see [`wake_camera_watches`]) or `timeout` passes; returns the
/// count then.
pub(crate) fn wait_camera_changes(seen: u64, timeout: Duration, stop: &AtomicBool) -> u64 {
    let g = crate::sync::lock(&LIST_CHANGES.0);
    let (g, _) = LIST_CHANGES
        .1
        .wait_timeout_while(g, timeout, |n| *n == seen && !stop.load(Ordering::SeqCst))
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *g
}

/// Wakes every waiting camera watch so that it checks its stop flag (set before calling).
pub(crate) fn wake_camera_watches() {
    let _g = crate::sync::lock(&LIST_CHANGES.0);
    LIST_CHANGES.1.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

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
