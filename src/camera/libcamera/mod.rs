// SPDX-License-Identifier: MPL-2.0
//! The libcamera backend (cargo feature `libcamera`; needs libcamera >= 0.4).
//!
//! * [`runtime`]: the one thread that owns libcamera's `CameraManager` and the acquired
//!   cameras; `inspect` is what it reads from a camera and how it builds configurations.
//! * [`spec`]: what that thread is asked and answers (descriptions, configuration requests,
//!   validation results).
//! * [`buffers`]: frame layout, memfd buffers, and [`LcBuffer`], the zero-copy view of a
//!   completed request's buffer; with its siblings it holds the request (here, `RequestHold`)
//!   that returns to the camera when the last of them drops.
//! * [`LcCamera`]: an opened camera as the capture thread sees it.
//!
//! Buffers come from libcamera's `FrameBufferAllocator` (dma-buf) where it can allocate, and
//! otherwise (no dma-buf heap or udmabuf, as on machines without a camera) from memfd buffers
//! the backend makes itself.

pub mod buffers;
pub mod camera;
pub mod convert;
pub mod error;
mod inspect;
pub mod runtime;
pub mod spec;

use std::{
    sync::{
        mpsc::{channel, Receiver, RecvTimeoutError, Sender},
        Arc, Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

use libcamera::{
    control_value::ControlValue,
    controls::SensorTimestamp,
    framebuffer::{AsFrameBuffer, FrameMetadataStatus, OwnedFrameBuffer},
    framebuffer_allocator::FrameBuffer as AllocatedFrameBuffer,
    request::{Request, RequestStatus},
    stream::Stream,
};

pub use buffers::{BufferKind, LcBuffer};
pub use camera::LibcameraCamera;
pub use error::LcError;
pub use runtime::Configured;
use runtime::{Cmd, Event, Runtime};
pub use spec::{
    ConfigSpec, LcCameraDesc, LcCameraDetails, LcControlInfo, LcFormat, LcStatus, SensorSpec,
    StreamResult, StreamSpec, Validation,
};

use crate::camera::backend::{CameraBackend, CameraDescriptor, CameraError};
use crate::camera::format::FrameLayout;

/// The cameras libcamera knows, in its order.
pub fn list_cameras() -> Result<Vec<LcCameraDesc>, LcError> {
    runtime::runtime()?.list()
}

/// The libcamera cameras as the camera model lists them (none when libcamera cannot start).
pub fn descriptors() -> Vec<CameraDescriptor> {
    list_cameras()
        .unwrap_or_default()
        .into_iter()
        .map(|c| CameraDescriptor {
            model: c.model.unwrap_or_else(|| c.id.clone()),
            id: c.id,
            simulated: false,
            location: c.location,
            rotation: c.rotation,
        })
        .collect()
}

/// The libcamera cameras for error messages, as `id (model, index N)` (the index
/// `camera-name` takes).
pub fn describe_available() -> Vec<String> {
    descriptors()
        .into_iter()
        .enumerate()
        .map(|(index, c)| format!("{} ({}, index {index})", c.id, c.model))
        .collect()
}

/// The libcamera id `name` designates: a libcamera id (as libcamerasrc's `camera-name`
/// takes), a model name such as `imx708` (case-insensitive; the first camera of that model),
/// or an index into libcamera's list (`0`, `1`). `None` when no libcamera camera matches.
pub fn resolve(name: &str, cameras: &[LcCameraDesc]) -> Option<String> {
    if let Some(c) = cameras.iter().find(|c| c.id == name) {
        return Some(c.id.clone());
    }
    if let Some(c) = cameras.iter().find(|c| {
        c.model
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(name))
    }) {
        return Some(c.id.clone());
    }
    name.parse::<usize>()
        .ok()
        .and_then(|i| cameras.get(i))
        .map(|c| c.id.clone())
}

/// Opens the libcamera camera `name` designates (see [`resolve`]); `Ok(None)` when no
/// libcamera camera matches, so that the caller can try simulated ones.
pub fn open_by_name(name: &str) -> Result<Option<Arc<dyn CameraBackend>>, CameraError> {
    let Ok(cameras) = list_cameras() else {
        return Ok(None);
    };
    match resolve(name, &cameras) {
        Some(id) => Ok(Some(Arc::new(LibcameraCamera::open(&id)?))),
        None => Ok(None),
    }
}

/// A completed request: one buffer per configured stream, and the request's metadata.
#[derive(Debug)]
pub struct LcFrame {
    /// Frame sequence number: the buffer's when libcamera filled it in, else the request's.
    pub sequence: u32,
    /// Start of frame, ns on CLOCK_MONOTONIC (`docs/sensors.md`, "Clock domain"): the buffer
    /// timestamp, else the request's `SensorTimestamp`.
    pub sensor_timestamp_ns: Option<u64>,
    /// The request's metadata (libcamera control id, name, value).
    pub metadata: Vec<(u32, String, ControlValue)>,
    /// One buffer per stream, in configuration order.
    pub buffers: Vec<LcBuffer>,
}

struct Capture {
    streams: Vec<Stream>,
    layouts: Vec<FrameLayout>,
    kind: BufferKind,
    maps: Vec<Vec<Arc<buffers::Mapping>>>,
    generation: u32,
}

/// An acquired libcamera camera. Dropping it releases the camera.
pub struct LcCamera {
    rt: Arc<Runtime>,
    key: u64,
    details: LcCameraDetails,
    events: Mutex<Receiver<Event>>,
    wake: Sender<Event>,
    capture: Mutex<Option<Capture>>,
}

impl std::fmt::Debug for LcCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LcCamera")
            .field("id", &self.details.desc.id)
            .finish()
    }
}

impl LcCamera {
    /// Acquires the camera of libcamera id `id`.
    pub fn open(id: &str) -> Result<Self, LcError> {
        let rt = runtime::runtime()?;
        let (tx, rx) = channel();
        let wake = tx.clone();
        let (key, details) = rt.call(|reply| Cmd::Open {
            id: id.to_string(),
            events: tx,
            reply,
        })?;
        Ok(Self {
            rt,
            key,
            details,
            events: Mutex::new(rx),
            wake,
            capture: Mutex::new(None),
        })
    }

    /// What libcamera says about the camera: controls, formats, properties.
    pub fn details(&self) -> &LcCameraDetails {
        &self.details
    }

    /// Configures each spec in turn, without buffers, and returns the `FrameDurationLimits`
    /// (min, max in µs) libcamera reports for each. Leaves the camera unconfigured for capture.
    ///
    /// Per spec: `None` when libcamera adjusts it (not a mode), `Some(None)` when the camera
    /// has no `FrameDurationLimits`.
    pub fn probe_frame_durations(
        &self,
        specs: Vec<ConfigSpec>,
    ) -> Result<Vec<runtime::Probe>, LcError> {
        *self.capture.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.rt.call(|reply| Cmd::ProbeFrameDurations {
            camera: self.key,
            specs,
            reply,
        })
    }

    /// The camera's controls as they are now (after `configure`, for the configured mode).
    pub fn controls(&self) -> Result<Vec<LcControlInfo>, LcError> {
        self.rt.call(|reply| Cmd::Controls {
            camera: self.key,
            reply,
        })
    }

    /// Validates `spec` without applying it.
    pub fn validate(&self, spec: &ConfigSpec) -> Result<Validation, LcError> {
        self.rt.call(|reply| Cmd::Validate {
            camera: self.key,
            spec: spec.clone(),
            reply,
        })
    }

    /// Applies `spec` (stopping the camera if it runs) and allocates buffers.
    pub fn configure(&self, spec: &ConfigSpec) -> Result<Configured, LcError> {
        let configured = self.rt.call(|reply| Cmd::Configure {
            camera: self.key,
            spec: spec.clone(),
            reply,
        })?;
        *self.capture.lock().unwrap_or_else(PoisonError::into_inner) = Some(Capture {
            streams: configured.streams.clone(),
            layouts: configured.layouts.clone(),
            kind: configured.kind,
            maps: configured.maps.clone(),
            generation: configured.generation,
        });
        self.drain();
        Ok(configured)
    }

    /// Starts capture with `controls` (libcamera control id, value) applied from the first frame.
    pub fn start(&self, controls: Vec<(u32, ControlValue)>) -> Result<(), LcError> {
        self.rt.call(|reply| Cmd::Start {
            camera: self.key,
            controls,
            reply,
        })
    }

    /// Stops capture. Frames still held downstream return to the camera when dropped.
    pub fn stop(&self) {
        let _ = self.rt.call(|reply| Cmd::Stop {
            camera: self.key,
            reply,
        });
        self.unblock();
        self.drain();
    }

    /// Controls (libcamera control id, value) for the next request queued.
    pub fn set_controls(&self, controls: Vec<(u32, ControlValue)>) {
        if !controls.is_empty() {
            self.rt.send(Cmd::SetControls {
                camera: self.key,
                controls,
            });
        }
    }

    /// Wakes a `next_frame()` waiting in another thread; it returns `Ok(None)`.
    pub fn unblock(&self) {
        let _ = self.wake.send(Event::Wake);
    }

    /// Returns cancelled and unread requests to the camera.
    fn drain(&self) {
        let rx = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        while let Ok(ev) = rx.try_recv() {
            if let Event::Completed(req) = ev {
                self.rt.send(Cmd::Requeue {
                    camera: self.key,
                    req,
                });
            }
        }
    }

    /// Waits up to `timeout` for the next frame. `Ok(None)` on timeout or [`Self::unblock`].
    pub fn next_frame(&self, timeout: Duration) -> Result<Option<LcFrame>, LcError> {
        let deadline = Instant::now() + timeout;
        let rx = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let req = match rx.recv_timeout(left) {
                Ok(Event::Completed(req)) => req,
                Ok(Event::Wake) | Err(RecvTimeoutError::Timeout) => return Ok(None),
                Ok(Event::Disconnected) => return Err(LcError::Disconnected),
                Err(RecvTimeoutError::Disconnected) => return Err(LcError::Closed),
            };
            if let Some(frame) = self.frame_of(req) {
                return Ok(Some(frame));
            }
        }
    }

    /// Turns a completed request into a frame; gives it back (and `None`) when it was
    /// cancelled, failed, or belongs to an older configuration.
    fn frame_of(&self, req: Request) -> Option<LcFrame> {
        let capture = self.capture.lock().unwrap_or_else(PoisonError::into_inner);
        let give_back = |req| {
            self.rt.send(Cmd::Requeue {
                camera: self.key,
                req,
            });
            None
        };
        let Some(cap) = capture.as_ref() else {
            return give_back(req);
        };
        if !matches!(req.status(), RequestStatus::Complete) {
            return give_back(req);
        }
        let cookie = req.cookie();
        // Requests of an older configuration (cancelled by a reconfiguration) are not frames.
        let Some(maps) = ((cookie >> 32) as u32 == cap.generation)
            .then(|| cap.maps.get((cookie & 0xffff_ffff) as usize))
            .flatten()
        else {
            return give_back(req);
        };
        let mut buf_meta = None;
        for stream in &cap.streams {
            let meta = buffer_metadata(&req, stream);
            if meta.is_some_and(|(status, _, _)| status == FrameMetadataStatus::Error) {
                return give_back(req);
            }
            if buf_meta.is_none() {
                buf_meta = meta.map(|(_, seq, ts)| (seq, ts));
            }
        }
        let maps = maps.clone();
        let metadata: Vec<(u32, String, ControlValue)> = req
            .metadata()
            .into_iter()
            .map(|(id, v)| {
                let name = libcamera::controls::ControlId::try_from(id)
                    .map_or_else(|_| format!("control-{id}"), |c| c.name());
                (id, name, v)
            })
            .collect();
        // libcamera 0.4's virtual pipeline handler never fills in the buffer's metadata; the
        // request carries the sequence and SensorTimestamp then.
        let (sequence, sensor_timestamp_ns) = match buf_meta {
            Some((seq, ts)) => (seq, Some(ts)),
            None => (
                req.sequence(),
                req.metadata()
                    .get::<SensorTimestamp>()
                    .ok()
                    .and_then(|t| u64::try_from(t.0).ok()),
            ),
        };
        let hold = RequestHold::new(req, Arc::clone(&self.rt), self.key);
        let buffers = maps
            .into_iter()
            .enumerate()
            .map(|(i, map)| {
                let planes = cap
                    .layouts
                    .get(i)
                    .map(|l| l.planes.clone())
                    .unwrap_or_default();
                LcBuffer::new(i, planes, cap.kind, map, hold.clone())
            })
            .collect();
        Some(LcFrame {
            sequence,
            sensor_timestamp_ns,
            metadata,
            buffers,
        })
    }
}

/// Keeps a completed request (and so its buffers) alive while any [`LcBuffer`] of it exists;
/// when the last one goes, the request goes back to the libcamera thread to be queued again.
///
/// It holds the [`Runtime`], not just its channel: buffers from libcamera's allocator keep the
/// allocator, and so the `Camera` and its pipeline handler, alive, and must be freed before the
/// camera manager stops. A buffer kept downstream after its element went to NULL (an appsink's
/// sample, a sink's last sample) otherwise outlived the manager, and freeing it crashed the
/// process (SIGSEGV on vimc in the VM tier, after libcamera's "Removing media device ... while
/// still in use").
struct RequestHold {
    req: Mutex<Option<Request>>,
    rt: Arc<Runtime>,
    camera: u64,
}

impl RequestHold {
    fn new(req: Request, rt: Arc<Runtime>, camera: u64) -> Arc<Self> {
        Arc::new(Self {
            req: Mutex::new(Some(req)),
            rt,
            camera,
        })
    }
}

impl Drop for RequestHold {
    fn drop(&mut self) {
        let req = self
            .req
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(req) = req {
            // The libcamera thread frees it if its camera was closed meanwhile; this message
            // goes before the `Shutdown` that dropping `rt` may send.
            self.rt.send(Cmd::Requeue {
                camera: self.camera,
                req,
            });
        }
    }
}

/// The buffer's own metadata (status, sequence, timestamp in ns), when libcamera set it.
fn buffer_metadata(req: &Request, stream: &Stream) -> Option<(FrameMetadataStatus, u32, u64)> {
    fn of<T: AsFrameBuffer>(fb: &T) -> Option<(FrameMetadataStatus, u32, u64)> {
        fb.metadata()
            .map(|m| (m.status(), m.sequence(), m.timestamp()))
    }
    if let Some(fb) = req.buffer::<OwnedFrameBuffer>(stream) {
        return of(fb);
    }
    req.buffer::<AllocatedFrameBuffer>(stream).and_then(of)
}

impl Drop for LcCamera {
    fn drop(&mut self) {
        let _ = self.rt.call(|reply| Cmd::Close {
            camera: self.key,
            reply,
        });
        // The requests the close cancelled are in the event channel: hand them to the
        // libcamera thread to free before this handle on it goes (see [`RequestHold`]).
        self.drain();
    }
}
