// SPDX-License-Identifier: MPL-2.0
//! Errors of the libcamera backend.

use std::io;

/// What went wrong talking to libcamera.
#[derive(Debug, thiserror::Error)]
pub enum LcError {
    /// `CameraManager::start()` failed (libcamera could not enumerate pipeline handlers).
    #[error("could not start the libcamera camera manager: {0}")]
    ManagerStart(#[source] io::Error),
    /// The libcamera thread is gone (it panicked or the process is shutting down).
    #[error("the libcamera thread is not running")]
    RuntimeGone,
    /// No camera of that id is known to libcamera.
    #[error("libcamera has no camera '{id}'")]
    NoSuchCamera {
        /// The id asked for.
        id: String,
    },
    /// `Camera::acquire()` failed, typically because another process uses the camera.
    #[error(
        "could not acquire libcamera camera '{id}' (is it in use by another process?): {source}"
    )]
    Acquire {
        /// Camera id.
        id: String,
        /// Error from libcamera.
        #[source]
        source: io::Error,
    },
    /// The camera handle is no longer open in the libcamera thread.
    #[error("the libcamera camera was closed")]
    Closed,
    /// `generate_configuration()` returned nothing for these roles.
    #[error("libcamera camera '{id}' cannot produce streams for the roles {roles}")]
    RolesUnsupported {
        /// Camera id.
        id: String,
        /// The roles asked for, e.g. `[video-recording, raw]`.
        roles: String,
    },
    /// `validate()` returned Invalid.
    #[error("libcamera rejected the configuration {requested}: invalid")]
    InvalidConfiguration {
        /// The configuration asked for, in libcamera's words.
        requested: String,
    },
    /// A pixel format name libcamera does not know.
    #[error(
        "unknown pixel format '{0}' (libcamera names such as NV12, YUV420, RGB888, SRGGB10_CSI2P)"
    )]
    UnknownPixelFormat(String),
    /// `Camera::configure()` failed.
    #[error("libcamera could not configure camera '{id}': {source}")]
    Configure {
        /// Camera id.
        id: String,
        /// Error from libcamera.
        #[source]
        source: io::Error,
    },
    /// The operation needs a configured camera.
    #[error("the libcamera camera is not configured")]
    NotConfigured,
    /// Allocating or mapping frame buffers failed.
    #[error("could not allocate frame buffers for stream {stream} ({what}): {source}")]
    Buffers {
        /// Stream index.
        stream: usize,
        /// What was tried (memfd, mmap, libcamera framebuffer).
        what: &'static str,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// `create_request()` returned nothing.
    #[error("libcamera could not create a capture request")]
    CreateRequest,
    /// Attaching a buffer to a request failed.
    #[error("libcamera could not attach a buffer to a request: {0}")]
    AddBuffer(#[source] io::Error),
    /// `Camera::start()` failed.
    #[error("libcamera could not start camera '{id}': {source}")]
    Start {
        /// Camera id.
        id: String,
        /// Error from libcamera.
        #[source]
        source: io::Error,
    },
    /// `Camera::queue_request()` failed while starting.
    #[error("libcamera refused a capture request: {0}")]
    Queue(#[source] io::Error),
    /// A control name libcamera does not know for this camera.
    #[error("camera '{camera}' has no control '{name}'; it has: {available}")]
    UnknownControl {
        /// Camera id.
        camera: String,
        /// The control name.
        name: String,
        /// Names of the controls the camera has.
        available: String,
    },
    /// A control value of the wrong type or out of range.
    #[error("bad value {value} for control {name}: {allowed}")]
    BadControlValue {
        /// The control name.
        name: String,
        /// The value given.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// The camera was unplugged (libcamera's `disconnected` signal).
    #[error("the libcamera camera was disconnected")]
    Disconnected,
    /// `RPICAMSRC2_LIBCAMERA_BUFFERS` has a value the backend does not know.
    #[error(
        "{} is '{value}'; allowed: auto (libcamera's allocator, else memfd), dmabuf (libcamera's \
         allocator only), memfd",
        super::buffers::BUFFERS_ENV
    )]
    BuffersEnv {
        /// The value given.
        value: String,
    },
    /// libcamera's allocator failed, and memfd buffers are no way out: the failure was not
    /// "no dma-buf provider" (so the pipeline handler imports its buffers into a V4L2 capture
    /// queue, which refuses memfd), or `RPICAMSRC2_LIBCAMERA_BUFFERS` is `dmabuf`.
    #[error("libcamera's FrameBufferAllocator failed for camera '{id}': {allocator}; {why}")]
    NoDmaBuf {
        /// Camera id.
        id: String,
        /// Why the allocator failed.
        allocator: String,
        /// Why memfd buffers are not used instead.
        why: &'static str,
    },
    /// A request completed with an error status.
    #[error("a libcamera capture request failed (status {0})")]
    RequestFailed(String),
    /// The libcamera crate panicked in the libcamera thread.
    #[error("internal error in the libcamera thread: {0}")]
    Internal(String),
}
