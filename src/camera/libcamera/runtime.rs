// SPDX-License-Identifier: MPL-2.0
//! The libcamera thread.
//!
//! libcamera allows one `CameraManager` per process, and the `libcamera` crate's camera handles
//! are neither `Send` nor `Sync`. So one thread ("rpicamsrc2-lc") owns the manager and
//! every acquired camera; the rest of the plugin talks to it through a channel of [`Cmd`]s.
//! The thread lives while any [`Runtime`] handle does (cameras hold one), and stops the
//! manager when the last goes.
//!
//! Completed requests do not pass through this thread: libcamera's own thread sends them
//! straight to the camera's event channel (see [`Event`]), read by the capture thread. When
//! the capture side is done with a request (its buffers were dropped downstream), the request
//! comes back here as [`Cmd::Requeue`] and is queued again with the controls set since.

use std::{
    collections::HashMap,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{
        mpsc::{channel, Receiver, Sender},
        Arc, Mutex, PoisonError, Weak,
    },
    thread::{self, JoinHandle, ThreadId},
};

use libcamera::{
    camera::{ActiveCamera, Camera, CameraConfiguration},
    camera_manager::CameraManager,
    control::ControlList,
    control_value::ControlValue,
    controls::ControlId,
    framebuffer_allocator::FrameBufferAllocator,
    properties,
    request::{Request, ReuseFlag},
    stream::{Stream, StreamRole},
};

use super::{
    buffers::{buffers_asked, frame_layout, map_allocated, memfd_buffer, BufferKind, Mapping},
    error::LcError,
    inspect::{build_config, controls_of, describe, formats_for},
    spec::{ConfigSpec, LcCameraDesc, LcCameraDetails, LcControlInfo, LcStatus, Validation},
};
use crate::camera::format::FrameLayout;

/// A configured camera: streams with their buffer layout.
#[derive(Debug, Clone)]
pub struct Configured {
    /// Validation of the applied configuration.
    pub validation: Validation,
    /// Layout of each stream's buffers.
    pub layouts: Vec<FrameLayout>,
    /// Stream handles (to find a stream's buffer in a completed request).
    pub streams: Vec<Stream>,
    /// How the buffers were allocated.
    pub kind: BufferKind,
    /// Why libcamera's allocator was not used, when `kind` is [`BufferKind::Memfd`].
    pub allocator_error: Option<String>,
    /// Number of requests (= buffers per stream) in flight at most.
    pub requests: usize,
    /// The mapping of each buffer: `maps[request][stream]`.
    pub maps: Vec<Vec<Arc<Mapping>>>,
    /// Configuration generation, in the high half of each request's cookie.
    pub generation: u32,
}

/// Something happening on a camera, for its capture thread.
pub enum Event {
    /// A request completed (or was cancelled by a stop).
    Completed(Request),
    /// The camera was unplugged.
    Disconnected,
    /// Wake up a waiting `next_frame()`.
    Wake,
}

type Reply<T> = Sender<Result<T, LcError>>;

/// What probing one configuration found: `None` when libcamera does not take it as it is (not
/// a mode), `Some(None)` for a mode without `FrameDurationLimits`, else the limits (min, max)
/// in µs.
pub type Probe = Option<Option<(i64, i64)>>;

/// Commands for the libcamera thread.
pub enum Cmd {
    List {
        reply: Reply<Vec<LcCameraDesc>>,
    },
    Open {
        id: String,
        events: Sender<Event>,
        reply: Reply<(u64, LcCameraDetails)>,
    },
    Validate {
        camera: u64,
        spec: ConfigSpec,
        reply: Reply<Validation>,
    },
    Configure {
        camera: u64,
        spec: ConfigSpec,
        reply: Reply<Configured>,
    },
    Start {
        camera: u64,
        controls: Vec<(u32, ControlValue)>,
        reply: Reply<()>,
    },
    Stop {
        camera: u64,
        reply: Reply<()>,
    },
    /// Configures each spec in turn (no buffers) and reads `FrameDurationLimits` (min, max in
    /// µs) from the camera's controls after each: how rpicam-apps learns a mode's frame rates.
    /// `None`: libcamera does not take the spec as it is (not a mode); `Some(None)`: a mode
    /// without frame-duration limits.
    ProbeFrameDurations {
        camera: u64,
        specs: Vec<ConfigSpec>,
        reply: Reply<Vec<Probe>>,
    },
    /// The camera's controls as they are now (ranges change with the configured mode).
    Controls {
        camera: u64,
        reply: Reply<Vec<LcControlInfo>>,
    },
    SetControls {
        camera: u64,
        controls: Vec<(u32, ControlValue)>,
    },
    Requeue {
        camera: u64,
        req: Request,
    },
    Close {
        camera: u64,
        reply: Reply<()>,
    },
    Shutdown,
}

/// A handle on the libcamera thread. Cheap to share; the thread stops with the last handle.
pub struct Runtime {
    tx: Sender<Cmd>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: ThreadId,
}

static RUNTIME: Mutex<Weak<Runtime>> = Mutex::new(Weak::new());

/// The libcamera thread, started if no one holds it.
pub fn runtime() -> Result<Arc<Runtime>, LcError> {
    let mut global = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(rt) = global.upgrade() {
        return Ok(rt);
    }
    let (tx, rx) = channel::<Cmd>();
    let (ready_tx, ready_rx) = channel::<Result<(), LcError>>();
    // libcamera's own threads (the camera manager's, which runs the pipeline handlers) take the
    // name of the thread that starts them: "libcamera". This thread renames itself afterwards,
    // so that CPU time per thread tells the two apart.
    let thread = thread::Builder::new()
        .name("libcamera".into())
        .spawn(move || actor_main(rx, ready_tx))
        .map_err(|e| LcError::Internal(format!("cannot spawn the libcamera thread: {e}")))?;
    ready_rx.recv().map_err(|_| LcError::RuntimeGone)??;
    let rt = Arc::new(Runtime {
        tx,
        thread_id: thread.thread().id(),
        thread: Mutex::new(Some(thread)),
    });
    *global = Arc::downgrade(&rt);
    Ok(rt)
}

impl Runtime {
    /// Sends a command that answers, and waits for the answer.
    pub fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Cmd) -> Result<T, LcError> {
        let (reply, answer) = channel();
        self.tx
            .send(make(reply))
            .map_err(|_| LcError::RuntimeGone)?;
        answer.recv().map_err(|_| LcError::RuntimeGone)?
    }

    /// Sends a command that does not answer.
    pub fn send(&self, cmd: Cmd) {
        // Fails only when the thread is gone; then there is nothing left to act on.
        let _ = self.tx.send(cmd);
    }

    /// The cameras libcamera knows.
    pub fn list(&self) -> Result<Vec<LcCameraDesc>, LcError> {
        self.call(|reply| Cmd::List { reply })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Held until the manager has stopped: libcamera allows one `CameraManager` per process,
        // so a `runtime()` racing with this drop waits rather than fails to start its own.
        let _global = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self.tx.send(Cmd::Shutdown);
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            if thread::current().id() != self.thread_id {
                let _ = thread.join();
            }
        }
    }
}

struct Slot {
    // Field order is drop order: requests before the camera.
    idle: Vec<Request>,
    config: Option<CameraConfiguration>,
    cam: ActiveCamera<'static>,
    id: String,
    running: bool,
    generation: u32,
    pending: Vec<(u32, ControlValue)>,
}

struct Actor {
    // Cameras go before the manager.
    cams: HashMap<u64, Slot>,
    next_key: u64,
    mgr: CameraManager,
}

fn actor_main(rx: Receiver<Cmd>, ready: Sender<Result<(), LcError>>) {
    let mut mgr = match CameraManager::new() {
        Ok(mgr) => mgr,
        Err(e) => {
            let _ = ready.send(Err(LcError::ManagerStart(e)));
            return;
        }
    };
    // Hotplug: the registry's camera watches read the list again at once.
    mgr.on_camera_added(|_| crate::camera::backend::notify_cameras_changed());
    mgr.on_camera_removed(|_| crate::camera::backend::notify_cameras_changed());
    // Cosmetic: a failure leaves the thread named "libcamera".
    let _ = rustix::thread::set_name(c"rpicamsrc2-lc");
    let _ = ready.send(Ok(()));
    let mut actor = Actor {
        cams: HashMap::new(),
        next_key: 1,
        mgr,
    };
    while let Ok(cmd) = rx.recv() {
        if matches!(cmd, Cmd::Shutdown) {
            break;
        }
        // A panic in the libcamera crate must not leave callers waiting forever: the reply
        // sender is dropped with the command, so they see `RuntimeGone`, and the thread goes
        // on serving others.
        let _ = catch_unwind(AssertUnwindSafe(|| actor.handle(cmd)));
    }
    // Whatever is still queued (requests returned after the shutdown was sent) is freed while
    // the manager still runs, then the cameras, then the manager.
    while let Ok(cmd) = rx.try_recv() {
        drop(cmd);
    }
    drop(actor);
}

impl Actor {
    fn slot(&mut self, camera: u64) -> Result<&mut Slot, LcError> {
        self.cams.get_mut(&camera).ok_or(LcError::Closed)
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::List { reply } => {
                let list = self.mgr.cameras();
                let _ = reply.send(Ok(list.iter().map(|c| describe(&c)).collect()));
            }
            Cmd::Open { id, events, reply } => {
                let _ = reply.send(self.open(&id, events));
            }
            Cmd::Validate {
                camera,
                spec,
                reply,
            } => {
                let res = self
                    .slot(camera)
                    .and_then(|s| build_config(&s.cam, &s.id, &spec).map(|(_, v)| v));
                let _ = reply.send(res);
            }
            Cmd::Configure {
                camera,
                spec,
                reply,
            } => {
                let res = self.slot(camera).and_then(|s| s.configure(camera, &spec));
                let _ = reply.send(res);
            }
            Cmd::Start {
                camera,
                controls,
                reply,
            } => {
                let res = self.slot(camera).and_then(|s| s.start(&controls));
                let _ = reply.send(res);
            }
            Cmd::Stop { camera, reply } => {
                let res = self.slot(camera).map(|s| s.stop());
                let _ = reply.send(res);
            }
            Cmd::ProbeFrameDurations {
                camera,
                specs,
                reply,
            } => {
                let res = self.slot(camera).map(|s| s.probe(&specs));
                let _ = reply.send(res);
            }
            Cmd::Controls { camera, reply } => {
                let res = self.slot(camera).map(|s| controls_of(&s.cam));
                let _ = reply.send(res);
            }
            Cmd::SetControls { camera, controls } => {
                if let Ok(s) = self.slot(camera) {
                    for (id, v) in controls {
                        s.pending.retain(|(i, _)| *i != id);
                        s.pending.push((id, v));
                    }
                }
            }
            Cmd::Requeue { camera, req } => {
                // A request of a closed camera is simply dropped.
                if let Ok(s) = self.slot(camera) {
                    s.requeue(req);
                }
            }
            Cmd::Close { camera, reply } => {
                if let Some(mut slot) = self.cams.remove(&camera) {
                    slot.stop();
                }
                let _ = reply.send(Ok(()));
            }
            Cmd::Shutdown => {}
        }
    }

    fn open(&mut self, id: &str, events: Sender<Event>) -> Result<(u64, LcCameraDetails), LcError> {
        let cam: Camera<'static> = self
            .mgr
            .get(id)
            .ok_or_else(|| LcError::NoSuchCamera { id: id.to_string() })?;
        let details = LcCameraDetails {
            desc: describe(&cam),
            controls: controls_of(&cam),
            stream_formats: formats_for(&cam, StreamRole::VideoRecording),
            raw_formats: formats_for(&cam, StreamRole::Raw),
            pixel_array_size: cam
                .properties()
                .get::<properties::PixelArraySize>()
                .ok()
                .map(|p| p.0),
        };
        let mut active = cam.acquire().map_err(|source| LcError::Acquire {
            id: id.to_string(),
            source,
        })?;
        let tx = events.clone();
        // Runs in libcamera's thread: only hand the request over.
        active.on_request_completed(move |req| {
            let _ = tx.send(Event::Completed(req));
        });
        active.on_disconnected(move || {
            let _ = events.send(Event::Disconnected);
        });
        let key = self.next_key;
        self.next_key += 1;
        self.cams.insert(
            key,
            Slot {
                idle: Vec::new(),
                config: None,
                cam: active,
                id: id.to_string(),
                running: false,
                generation: 0,
                pending: Vec::new(),
            },
        );
        Ok((key, details))
    }
}

/// Whether memfd buffers replace libcamera's after its allocator failed, given what
/// `BUFFERS_ENV` asked for and whether the failure was "no dma-buf provider" (`ENOBUFS`, what
/// libcamera 0.4's virtual camera returns without a dma-buf heap or udmabuf, as in the trixie
/// root on the host). Only such a pipeline handler writes its buffers with the CPU and so takes
/// memfd. Any other failure comes from a handler that imports its buffers into a V4L2 capture
/// queue, which refuses memfd ("Failed to queue buffer: Invalid argument" on vimc, after which
/// libcamera 0.4 aborts the process when the camera stops: an assertion on its buffer cache in
/// `V4L2VideoDevice::streamOff`, docs/vm.md). `Err` says why not.
fn memfd_instead(asked: Option<BufferKind>, no_provider: bool) -> Result<(), &'static str> {
    match asked {
        Some(BufferKind::DmaBuf) => Err("RPICAMSRC2_LIBCAMERA_BUFFERS is dmabuf"),
        Some(BufferKind::Memfd) => Ok(()),
        None if no_provider => Ok(()),
        None => Err(
            "memfd buffers are used instead only where libcamera has no dma-buf provider \
             (ENOBUFS), and this pipeline handler would refuse them",
        ),
    }
}

/// Request cookie: configuration generation in the high half, request index in the low.
fn cookie(generation: u32, index: usize) -> u64 {
    (u64::from(generation) << 32) | index as u64
}

impl Slot {
    fn configure(&mut self, _key: u64, spec: &ConfigSpec) -> Result<Configured, LcError> {
        if self.running {
            self.stop();
        }
        let (mut cfg, validation) = build_config(&self.cam, &self.id, spec)?;
        if validation.status == LcStatus::Invalid {
            return Err(LcError::InvalidConfiguration {
                requested: validation.requested,
            });
        }
        // Old requests belong to the old configuration: drop them, and make those still held
        // downstream be dropped when they come back (their generation no longer matches).
        self.idle.clear();
        self.config = None;
        self.generation = self.generation.wrapping_add(1);
        self.cam
            .configure(&mut cfg)
            .map_err(|source| LcError::Configure {
                id: self.id.clone(),
                source,
            })?;

        let mut streams = Vec::with_capacity(cfg.len());
        let mut layouts = Vec::with_capacity(cfg.len());
        for i in 0..cfg.len() {
            let sc = cfg.get(i).ok_or(LcError::NotConfigured)?;
            let stream = sc.stream().ok_or(LcError::NotConfigured)?;
            layouts.push(frame_layout(
                sc.get_pixel_format(),
                sc.get_size(),
                sc.get_stride(),
                sc.get_frame_size(),
            ));
            streams.push(stream);
        }
        let mut requests = validation
            .streams
            .iter()
            .map(|s| s.buffer_count as usize)
            .min()
            .unwrap_or(0)
            .max(1);

        // libcamera's allocator (dma-buf), or the element's own memfd buffers for every stream
        // (see `memfd_instead`), or as `BUFFERS_ENV` says.
        let asked = buffers_asked()?;
        let mut allocator = FrameBufferAllocator::new(&self.cam);
        let mut allocated = Vec::with_capacity(streams.len());
        let mut allocator_error = None;
        let mut no_provider = false;
        let to_allocate = if asked == Some(BufferKind::Memfd) {
            allocator_error = Some(format!("{}=memfd", super::buffers::BUFFERS_ENV));
            &[][..]
        } else {
            &streams[..]
        };
        for stream in to_allocate {
            match allocator.alloc(stream) {
                // The allocator gives the count the pipeline handler settled on, which may be
                // fewer than asked for (4 of 6 on the virtual camera and vimc in the VM tier,
                // docs/vm.md): run with that many requests rather than fall back to memfd,
                // which a real V4L2 capture queue (vimc) cannot import.
                Ok(bufs) if !bufs.is_empty() => {
                    requests = requests.min(bufs.len());
                    allocated.push(bufs);
                }
                Ok(_) => {
                    allocator_error = Some("allocator gave no buffers".into());
                    break;
                }
                Err(e) => {
                    no_provider =
                        e.raw_os_error() == Some(rustix::io::Errno::NOBUFS.raw_os_error());
                    allocator_error = Some(format!("libcamera FrameBufferAllocator: {e}"));
                    break;
                }
            }
        }
        let kind = match (&allocator_error, memfd_instead(asked, no_provider)) {
            (None, _) => BufferKind::DmaBuf,
            (Some(_), Ok(())) => BufferKind::Memfd,
            (Some(error), Err(why)) => {
                return Err(LcError::NoDmaBuf {
                    id: self.id.clone(),
                    allocator: error.clone(),
                    why,
                })
            }
        };
        let generation = self.generation;
        let mut allocated: Vec<std::vec::IntoIter<_>> =
            allocated.into_iter().map(|v| v.into_iter()).collect();
        let mut maps = Vec::with_capacity(requests);
        for r in 0..requests {
            let mut req = self
                .cam
                .create_request(Some(cookie(generation, r)))
                .ok_or(LcError::CreateRequest)?;
            let mut req_maps = Vec::with_capacity(streams.len());
            for (s, stream) in streams.iter().enumerate() {
                if kind == BufferKind::DmaBuf {
                    let fb = allocated
                        .get_mut(s)
                        .and_then(|it| it.next())
                        .ok_or(LcError::CreateRequest)?;
                    let map = map_allocated(&fb).map_err(|source| LcError::Buffers {
                        stream: s,
                        what: "mmap of a libcamera dma-buf",
                        source,
                    })?;
                    req.add_buffer(stream, fb).map_err(LcError::AddBuffer)?;
                    req_maps.push(Arc::new(map));
                } else {
                    let (fb, map) =
                        memfd_buffer(&layouts[s], cookie(generation, r)).map_err(|source| {
                            LcError::Buffers {
                                stream: s,
                                what: "memfd",
                                source,
                            }
                        })?;
                    req.add_buffer(stream, fb).map_err(LcError::AddBuffer)?;
                    req_maps.push(Arc::new(map));
                }
            }
            maps.push(req_maps);
            self.idle.push(req);
        }
        self.config = Some(cfg);
        Ok(Configured {
            validation,
            layouts,
            streams,
            kind,
            allocator_error,
            requests,
            maps,
            generation,
        })
    }

    fn probe(&mut self, specs: &[ConfigSpec]) -> Vec<Probe> {
        if self.running {
            return vec![None; specs.len()];
        }
        // Probing replaces the configuration: the buffers of the current one go.
        self.idle.clear();
        self.config = None;
        self.generation = self.generation.wrapping_add(1);
        specs
            .iter()
            .map(|spec| {
                let (mut cfg, v) = build_config(&self.cam, &self.id, spec).ok()?;
                // Only configurations libcamera takes as they are count as modes (StreamFormats
                // may list sizes from a range that the pipeline handler then adjusts).
                if v.status != LcStatus::Valid {
                    return None;
                }
                self.cam.configure(&mut cfg).ok()?;
                let fdl = ControlId::FrameDurationLimits as u32;
                let Ok(info) = self.cam.controls().find(fdl) else {
                    return Some(None);
                };
                Some(match (info.min(), info.max()) {
                    (ControlValue::Int64(a), ControlValue::Int64(b)) => {
                        a.first().copied().zip(b.first().copied())
                    }
                    _ => None,
                })
            })
            .collect()
    }

    fn start(&mut self, controls: &[(u32, ControlValue)]) -> Result<(), LcError> {
        if self.config.is_none() {
            return Err(LcError::NotConfigured);
        }
        if self.running {
            return Ok(());
        }
        let mut list = ControlList::new();
        for (id, v) in controls {
            // `set_raw` cannot fail for a list without an info map.
            let _ = list.set_raw(*id, v.clone());
        }
        self.cam
            .start(Some(&list))
            .map_err(|source| LcError::Start {
                id: self.id.clone(),
                source,
            })?;
        self.running = true;
        for req in std::mem::take(&mut self.idle) {
            if let Err(e) = self.queue(req) {
                self.stop();
                return Err(e);
            }
        }
        Ok(())
    }

    fn stop(&mut self) {
        if self.running {
            // Cancels queued requests; libcamera hands them to the completion callback before
            // returning, so they are all in the event channel afterwards.
            let _ = self.cam.stop();
            self.running = false;
        }
    }

    /// Queues `req` with the controls changed since the last request.
    fn queue(&mut self, mut req: Request) -> Result<(), LcError> {
        req.reuse(ReuseFlag::REUSE_BUFFERS);
        for (id, v) in self.pending.drain(..) {
            // The request's list validates ids against the camera; unknown ones were refused
            // before they got here.
            let _ = req.controls_mut().set_raw(id, v);
        }
        match self.cam.queue_request(req) {
            Ok(()) => Ok(()),
            Err((req, e)) => {
                self.idle.push(req);
                Err(LcError::Queue(e))
            }
        }
    }

    fn requeue(&mut self, req: Request) {
        if (req.cookie() >> 32) as u32 != self.generation || self.config.is_none() {
            return; // from an older configuration: drop it
        }
        if self.running {
            // A failure leaves the request idle; it is queued again at the next start.
            let _ = self.queue(req);
        } else {
            self.idle.push(req);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memfd_replaces_the_allocator_only_without_a_dma_buf_provider_or_when_asked() {
        assert_eq!(memfd_instead(None, true), Ok(()));
        assert!(memfd_instead(None, false)
            .unwrap_err()
            .contains("would refuse them"));
        assert_eq!(memfd_instead(Some(BufferKind::Memfd), false), Ok(()));
        assert!(memfd_instead(Some(BufferKind::DmaBuf), true)
            .unwrap_err()
            .contains("is dmabuf"));
    }
}
