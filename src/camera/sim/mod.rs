// SPDX-License-Identifier: MPL-2.0
//! The simulated Raspberry Pi camera (`camera-name=sim:<sensor>`).
//!
//! A capture thread runs the sensor live: one frame per frame duration (frame length x line
//! time of the configured mode), sequence numbers that keep counting when a frame is lost,
//! start-of-frame timestamps on CLOCK_MONOTONIC. Each frame needs a free buffer on every
//! configured stream, as a libcamera request does; when downstream holds them all the frame is
//! lost, exactly as on a Pi. Controls queued with [`CameraBackend::set_controls`] go with the
//! next request and reach the sensor after its delays ([`ipa`]). The scene ([`scene`]) is
//! rendered into the camera's own pooled buffers, which travel downstream without a copy.

mod buffer;
mod controls;
pub mod ipa;
pub mod options;
mod render;
pub mod scene;

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::camera::backend::{
    CameraBackend, CameraDescriptor, CameraError, CameraInfo, CameraStats, CompletedFrame, Fault,
    FrameBuffer, FrameData, FrameStatus, OptionSpec, OptionValue,
};
use crate::camera::config::{self, CameraConfiguration, ConfigStatus, StreamConfig};
use crate::camera::controls::{ControlId, ControlInfo, ControlList, ControlValue};
use crate::camera::dmaheap::{self, DmaBuf, DmaHeap};
use crate::camera::format::{PixelFormat, Rect};
use crate::camera::metadata::FrameMetadata;
use crate::camera::sensor::{self, SensorInfo, SensorMode};
use crate::sync::lock;

pub use options::SceneOptions;
pub use scene::{SceneKind, SceneSettings};

use ipa::Ipa;
use render::{build_reflectances, render_key};
use scene::{IspParams, Luts, Reflectance};

fn thread_cpu_ns() -> u64 {
    crate::camera::clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// A pooled buffer of the simulated camera.
struct SimBuf {
    data: SimMemory,
    /// What was last rendered into it (0: nothing), so a static noiseless scene skips work.
    key: u64,
}

/// The memory of a [`SimBuf`] (option `sim-memory`).
enum SimMemory {
    /// Ordinary memory ([`options::MEMORY_HEAP`]), faulted in on first write.
    Heap(buffer::FrameMemory),
    /// A dma-buf of the system heap ([`options::MEMORY_DMABUF`]).
    DmaBuf(DmaBuf),
}

impl SimBuf {
    /// A buffer of `size` bytes: from `heap` when given, else an anonymous mapping.
    ///
    /// Errors: [`CameraError::Io`] naming the heap or the mapping and the size when it cannot
    /// allocate.
    fn new(heap: Option<&DmaHeap>, size: usize) -> Result<Self, CameraError> {
        let data = match heap {
            None => SimMemory::Heap(buffer::FrameMemory::new(size).map_err(|e| {
                CameraError::Io(format!("cannot map {size} bytes for a camera buffer: {e}"))
            })?),
            Some(h) => SimMemory::DmaBuf(
                h.alloc(size)
                    .map_err(|e| CameraError::Io(format!("{} = dmabuf: {e}", options::MEMORY)))?,
            ),
        };
        Ok(Self { data, key: 0 })
    }

    /// The bytes, for rendering into; a dma-buf between `DMA_BUF_IOCTL_SYNC` start and end.
    ///
    /// Errors: the sync ioctl's.
    fn write(&mut self) -> std::io::Result<BufWrite<'_>> {
        Ok(match &mut self.data {
            SimMemory::Heap(b) => BufWrite::Heap(b),
            SimMemory::DmaBuf(d) => BufWrite::DmaBuf(d.write()?),
        })
    }
}

/// Write access to a [`SimBuf`]'s bytes.
enum BufWrite<'a> {
    Heap(&'a mut [u8]),
    DmaBuf(dmaheap::CpuAccess<'a>),
}

impl std::ops::Deref for BufWrite<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            BufWrite::Heap(b) => b,
            BufWrite::DmaBuf(d) => d,
        }
    }
}

impl std::ops::DerefMut for BufWrite<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            BufWrite::Heap(b) => b,
            BufWrite::DmaBuf(d) => d,
        }
    }
}

impl FrameData for SimBuf {
    fn bytes(&self) -> &[u8] {
        match &self.data {
            SimMemory::Heap(b) => b,
            SimMemory::DmaBuf(d) => d.bytes(),
        }
    }
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        match &self.data {
            SimMemory::Heap(_) => None,
            SimMemory::DmaBuf(d) => Some(d.raw_fd()),
        }
    }
    fn is_dmabuf(&self) -> bool {
        matches!(self.data, SimMemory::DmaBuf(_))
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

type Pool = Arc<Mutex<Vec<SimBuf>>>;

struct Stream {
    cfg: StreamConfig,
    pool: Pool,
}

struct Configured {
    config: CameraConfiguration,
    mode: SensorMode,
    streams: Vec<Stream>,
}

#[derive(Default)]
struct State {
    configured: Option<Configured>,
    running: bool,
    generation: u64,
    pending: ControlList,
    scene: SceneSettings,
    options: SceneOptions,
    scene_generation: u64,
    image: scene::ImageCache,
    frame_errors: u32,
    stall: Stall,
    /// The capture thread panics at its next frame (fault injection).
    panic: bool,
    /// `sim-memory` for the next configuration.
    memory: i32,
    /// Options from [`options::ENV_OPTIONS`] still to apply, read at the first start (`None`
    /// before it).
    env_options: Option<Vec<options::TimedOption>>,
    stats: CameraStats,
}

/// A stalled sensor (fault injection): it delivers nothing until then. It outlives restarts,
/// as a glitch in the sensor or its link would.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
enum Stall {
    #[default]
    None,
    /// Until this instant.
    Until(Instant),
    /// Until the stall is ended.
    Forever,
}

/// Completed frames waiting for [`CameraBackend::next_frame`].
#[derive(Default)]
struct Frames {
    queue: VecDeque<CompletedFrame>,
    /// [`CameraBackend::unblock`] was called.
    unblocked: bool,
    /// The capture thread panicked with this message: `next_frame` fails until a restart.
    failed: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    /// The next `next_frame` panics in its caller's thread (fault injection).
    caller_panic: AtomicBool,
    /// Entries of [`options::ENV_OPTIONS`] wait for a frame (checked without the state lock).
    env_pending: AtomicBool,
    wake: Condvar,
    frames: Mutex<Frames>,
    frame_ready: Condvar,
}

/// The prefix of every simulated camera's name (`sim:imx219`, ...).
pub const PREFIX: &str = "sim:";

/// The simulated cameras, one per simulated sensor, in [`sensor::SIMULATED_SENSORS`] order.
pub fn descriptors() -> Vec<CameraDescriptor> {
    sensor::SIMULATED_SENSORS
        .iter()
        .map(|m| CameraDescriptor {
            id: format!("{PREFIX}{m}"),
            model: (*m).to_string(),
            simulated: true,
            location: None,
            rotation: Some(0),
        })
        .collect()
}

/// The simulated camera called `name` (`sim:<sensor>`), or `None` when no simulated sensor has
/// that name.
pub fn open_by_name(name: &str) -> Option<SimCamera> {
    let model = name.strip_prefix(PREFIX)?;
    sensor::by_model(model).map(SimCamera::new)
}

/// A simulated Raspberry Pi camera with one of the real sensors.
pub struct SimCamera {
    sensor: SensorInfo,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl SimCamera {
    /// A camera with `sensor`, showing the default scene.
    pub fn new(sensor: SensorInfo) -> Self {
        Self {
            sensor,
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                caller_panic: AtomicBool::new(false),
                env_pending: AtomicBool::new(false),
                wake: Condvar::new(),
                frames: Mutex::new(Frames::default()),
                frame_ready: Condvar::new(),
            }),
            thread: Mutex::new(None),
        }
    }

    /// Simulates `fault` (also reachable through the fault options, see [`options`]).
    pub fn inject_fault(&self, fault: Fault) {
        let mut st = lock(&self.shared.state);
        match fault {
            Fault::FrameError { count } => st.frame_errors += count,
            Fault::Stall { duration } => {
                st.stall = match duration {
                    None => Stall::Forever,
                    Some(d) if d.is_zero() => Stall::None,
                    Some(d) => Stall::Until(Instant::now() + d),
                }
            }
            Fault::Panic => st.panic = true,
            Fault::CallerPanic => self.shared.caller_panic.store(true, Ordering::Relaxed),
        }
        self.shared.wake.notify_all();
    }

    /// Waits until `deadline` for the next completed frame (`None`: none came, or
    /// [`CameraBackend::unblock`] was called).
    ///
    /// Errors: [`CameraError::Io`] after the capture thread panicked, naming the panic.
    fn wait_frame(&self, deadline: Instant) -> Result<Option<CompletedFrame>, CameraError> {
        let mut f = lock(&self.shared.frames);
        loop {
            if let Some(msg) = &f.failed {
                return Err(CameraError::Io(format!(
                    "the simulated camera's capture thread panicked: {msg}"
                )));
            }
            if f.unblocked {
                f.unblocked = false;
                return Ok(None);
            }
            if let Some(fr) = f.queue.pop_front() {
                return Ok(Some(fr));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            f = self
                .shared
                .frame_ready
                .wait_timeout(f, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Applies the [`options::ENV_OPTIONS`] entries due: those without a frame at the start
    /// (`delivered` is `None`), those whose frame is at most `delivered` once frames come.
    ///
    /// Errors: what [`CameraBackend::set_option`] answers for an entry.
    fn apply_env_options(&self, delivered: Option<u64>) -> Result<(), CameraError> {
        let due: Vec<options::TimedOption> = {
            let mut st = lock(&self.shared.state);
            let Some(pending) = st.env_options.as_mut() else {
                return Ok(());
            };
            if pending.is_empty() {
                return Ok(());
            }
            let is_due = |at: &Option<u64>| match (at, delivered) {
                (None, _) => true,
                (Some(a), Some(d)) => *a <= d,
                (Some(_), None) => false,
            };
            let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(pending)
                .into_iter()
                .partition(|(at, _, _)| is_due(at));
            self.shared
                .env_pending
                .store(!keep.is_empty(), Ordering::Relaxed);
            *pending = keep;
            due
        };
        for (_, name, value) in due {
            self.set_option(name, &value)?;
        }
        Ok(())
    }

    /// Sets the scene, also while streaming (the scene options, see [`options`], set it too).
    ///
    /// Errors: [`CameraError::Config`] for an image file that cannot be loaded, naming the
    /// cause.
    pub fn set_scene(&self, scene: &SceneSettings) -> Result<(), CameraError> {
        if let SceneKind::Image(p) = &scene.kind {
            // Fail early and clearly on a bad file (status and header only), then decode on a
            // thread of the camera's own, never the caller's.
            scene::check_image(p).map_err(CameraError::Config)?;
            self.decode_image(p);
        }
        let mut st = lock(&self.shared.state);
        if st.scene.kind != scene.kind {
            st.scene_generation += 1;
        }
        st.scene = scene.clone();
        Ok(())
    }

    /// Decodes the scene image `path` on a thread of its own; the scene is rebuilt with it
    /// when it is ready (grey until then), or the error is reported with the next frame.
    fn decode_image(&self, path: &str) {
        {
            let mut st = lock(&self.shared.state);
            if st
                .image
                .as_ref()
                .is_some_and(|(p, i)| p == path && i.is_ok())
            {
                // Already decoded (another scene option changed).
                return;
            }
            st.image = None;
        }
        let shared = Arc::downgrade(&self.shared);
        let path = path.to_string();
        let key = path.clone();
        let spawned = std::thread::Builder::new()
            .name("sim-image".into())
            .spawn(move || {
                let r = scene::load_image(&path).map_err(Some);
                if let Some(shared) = shared.upgrade() {
                    let mut st = lock(&shared.state);
                    st.image = Some((path, r));
                    st.scene_generation += 1;
                }
            });
        if let Err(e) = spawned {
            lock(&self.shared.state).image = Some((
                key,
                Err(Some(format!("cannot decode the scene image: {e}"))),
            ));
        }
    }

    fn control_infos(
        &self,
        mode: Option<&SensorMode>,
        fdl_max: Option<f64>,
    ) -> BTreeMap<ControlId, ControlInfo> {
        controls::control_infos(&self.sensor, mode, fdl_max)
    }

    fn stop_thread(&self) {
        {
            let mut st = lock(&self.shared.state);
            st.running = false;
            self.shared.wake.notify_all();
        }
        if let Some(h) = lock(&self.thread).take() {
            let _ = h.join();
        }
    }
}

impl Drop for SimCamera {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

impl CameraBackend for SimCamera {
    fn info(&self) -> CameraInfo {
        CameraInfo {
            id: format!("sim:{}", self.sensor.model),
            model: self.sensor.model.to_string(),
            simulated: true,
            pixel_array: self.sensor.pixel_array,
            bayer_order: Some(self.sensor.bayer_order),
            modes: self.sensor.modes.clone(),
            formats: PixelFormat::PROCESSED.to_vec(),
            max_frame_duration_us: self.sensor.max_frame_duration_us,
            controls: self.control_infos(None, None),
        }
    }

    fn controls(&self) -> BTreeMap<ControlId, ControlInfo> {
        let st = lock(&self.shared.state);
        match &st.configured {
            Some(c) => {
                let fd = c.config.frame_duration_us() as f64;
                self.control_infos(Some(&c.mode), (fd > 0.0).then_some(fd))
            }
            None => self.control_infos(None, None),
        }
    }

    fn validate(&self, config: &mut CameraConfiguration) -> Result<ConfigStatus, CameraError> {
        config::validate_pi(&self.sensor, config).map_err(CameraError::Config)
    }

    fn configure(&self, config: &CameraConfiguration) -> Result<(), CameraError> {
        let mut config = config.clone();
        self.validate(&mut config)?;
        let mode = config
            .chosen_mode
            .clone()
            .ok_or_else(|| CameraError::Config("no sensor mode chosen".into()))?;
        let mut st = lock(&self.shared.state);
        if st.running {
            return Err(CameraError::State(
                "is streaming; stop it before configuring".into(),
            ));
        }
        // `sim-memory` from the environment must be known before the buffers exist: taken
        // here, not at the start with the other entries.
        load_env_options(&mut st)?;
        if let Some(pending) = st.env_options.as_mut() {
            let mut memory = None;
            pending.retain(|(at, name, value)| match (at, *name, value) {
                (None, options::MEMORY, OptionValue::Enum(v)) => {
                    memory = Some(*v);
                    false
                }
                _ => true,
            });
            if let Some(m) = memory {
                st.memory = m;
            }
        }
        let heap = if st.memory == options::MEMORY_DMABUF {
            Some(DmaHeap::system().map_err(|e| {
                CameraError::Io(format!(
                    "{} = dmabuf: {e}; the kernel needs CONFIG_DMABUF_HEAPS_SYSTEM \
                     (or use {} = heap, ordinary memory)",
                    options::MEMORY,
                    options::MEMORY
                ))
            })?)
        } else {
            None
        };
        let mut streams = Vec::new();
        for cfg in &config.streams {
            let layout = cfg
                .layout
                .clone()
                .ok_or_else(|| CameraError::Config(format!("{} has no layout", cfg.role)))?;
            let pool = (0..cfg.buffer_count.max(1))
                .map(|_| SimBuf::new(heap.as_ref(), layout.size))
                .collect::<Result<Vec<SimBuf>, CameraError>>()?;
            streams.push(Stream {
                cfg: cfg.clone(),
                pool: Arc::new(Mutex::new(pool)),
            });
        }
        st.configured = Some(Configured {
            config,
            mode,
            streams,
        });
        Ok(())
    }

    fn start(&self, controls: &ControlList) -> Result<(), CameraError> {
        self.stop_thread();
        let mut st = lock(&self.shared.state);
        if st.configured.is_none() {
            return Err(CameraError::State("is not configured".into()));
        }
        load_env_options(&mut st)?;
        let Some(c) = &st.configured else {
            return Err(CameraError::State("is not configured".into()));
        };
        let fd = c.config.frame_duration_us() as f64;
        let fdl = if fd > 0.0 {
            (fd, fd)
        } else {
            (
                c.mode.min_frame_duration_us() as f64,
                self.sensor.max_frame_duration_us as f64,
            )
        };
        let mut ipa = Ipa::new(self.sensor.clone(), c.mode.clone(), fdl);
        let notes = ipa.apply(controls);
        ipa.prime();
        st.pending = ControlList::new();
        st.running = true;
        st.generation += 1;
        st.stats = CameraStats::default();
        st.frame_errors = 0;
        st.panic = false;
        self.shared.caller_panic.store(false, Ordering::Relaxed);
        // A stall outlives the restart (see `Stall`).
        *lock(&self.shared.frames) = Frames::default();
        let shared = self.shared.clone();
        let sensor = self.sensor.clone();
        let generation = st.generation;
        drop(st);
        let h = std::thread::Builder::new()
            .name(format!("sim-{}", self.sensor.model))
            .spawn(move || {
                // A panic ends the stream with an error, never the process nor a silent hang.
                let s = shared.clone();
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    capture_loop(s, sensor, ipa, generation, notes)
                }));
                if let Err(p) = r {
                    let mut f = lock(&shared.frames);
                    f.failed = Some(crate::sync::panic_message(p.as_ref()));
                    shared.frame_ready.notify_all();
                }
            })
            .map_err(|e| CameraError::Io(format!("cannot start the capture thread: {e}")))?;
        *lock(&self.thread) = Some(h);
        self.apply_env_options(None)
    }

    fn stop(&self) {
        self.stop_thread();
        lock(&self.shared.frames).queue.clear();
    }

    fn set_controls(&self, controls: &ControlList) {
        let mut st = lock(&self.shared.state);
        st.pending.merge(controls);
    }

    fn next_frame(&self, timeout: Duration) -> Result<Option<CompletedFrame>, CameraError> {
        let deadline = Instant::now() + timeout;
        if self.shared.caller_panic.swap(false, Ordering::Relaxed) {
            panic!("injected fault (fault-caller-panic) in the caller of next_frame");
        }
        let frame = self.wait_frame(deadline)?;
        if let Some(fr) = &frame {
            if self.shared.env_pending.load(Ordering::Relaxed) {
                self.apply_env_options(Some(fr.metadata.sequence))?;
            }
        }
        Ok(frame)
    }

    fn unblock(&self) {
        let mut f = lock(&self.shared.frames);
        f.unblocked = true;
        self.shared.frame_ready.notify_all();
    }

    fn options(&self) -> &'static [OptionSpec] {
        options::OPTIONS
    }

    fn set_option(&self, name: &str, value: &OptionValue) -> Result<(), CameraError> {
        let current = lock(&self.shared.state).options.clone();
        match options::change(&current, name, value)? {
            options::Change::Fault(f) => self.inject_fault(f),
            options::Change::Memory(m) => lock(&self.shared.state).memory = m,
            options::Change::Scene(o) => {
                self.set_scene(&o.settings())?;
                lock(&self.shared.state).options = o;
            }
        }
        Ok(())
    }

    fn stats(&self) -> CameraStats {
        lock(&self.shared.state).stats
    }
}

/// Reads [`options::ENV_OPTIONS`] into `st` once per camera (at its first configuration).
///
/// Errors: [`options::parse_env`]'s.
fn load_env_options(st: &mut State) -> Result<(), CameraError> {
    if st.env_options.is_none() {
        let entries = match std::env::var(options::ENV_OPTIONS) {
            Ok(text) => options::parse_env(&text)?,
            Err(_) => Vec::new(),
        };
        st.env_options = Some(entries);
    }
    Ok(())
}

// Never inlined: the benchmark suite's callgrind row names this function to leave the
// simulated camera's thread (the stand-in for the sensor, ISP and firmware) out of its counts.
#[inline(never)]
fn capture_loop(
    shared: Arc<Shared>,
    sensor: SensorInfo,
    mut ipa: Ipa,
    generation: u64,
    mut notes: Vec<String>,
) {
    let mut sequence: u64 = 0;
    let mut scene_gen_seen = u64::MAX;
    let mut scaler_crop: Option<Rect> = None;
    let mut refls: Vec<Arc<Reflectance>> = Vec::new();
    let mut stats = None;
    let hide = u64::from(sensor.hide_frames_startup);
    // Scene textures are built before the first frame (configure-time work), so the first
    // frame is not late.
    {
        let mut st = lock(&shared.state);
        if let Some(c) = st.configured.as_ref() {
            let (mode, config) = (c.mode.clone(), c.config.clone());
            match build_reflectances(&sensor, &mode, &config, &mut st, None) {
                Ok((r, s)) => {
                    refls = r;
                    stats = Some(s);
                    scene_gen_seen = st.scene_generation;
                }
                Err(e) => notes.push(e.to_string()),
            }
        }
    }
    let mut next_start = Instant::now();
    loop {
        let p = ipa.frame(sequence);
        // Wait for this frame's start; a stop wakes us.
        let mut st = lock(&shared.state);
        loop {
            if !st.running || st.generation != generation {
                return;
            }
            if st.panic {
                st.panic = false;
                drop(st);
                panic!("injected fault (fault-panic) at frame {sequence}");
            }
            // A stalled sensor: nothing before the stall ends.
            let start = match st.stall {
                Stall::None => next_start,
                Stall::Until(t) => next_start.max(t),
                Stall::Forever => {
                    st = shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
                    continue;
                }
            };
            let now = Instant::now();
            if now >= start {
                next_start = start;
                break;
            }
            st = shared
                .wake
                .wait_timeout(st, start - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        let frame_start = next_start;
        let timestamp =
            crate::camera::monotonic_ns().saturating_sub(frame_start.elapsed().as_nanos() as u64);
        next_start = frame_start + Duration::from_nanos((p.frame_duration_us * 1000.0) as u64);
        // A late thread (machine busy) re-times instead of bursting.
        if Instant::now() > next_start + Duration::from_millis(200) {
            next_start = Instant::now();
        }
        // The next request's controls.
        let controls = st.pending.take();
        if let Some(ControlValue::Rect(r)) = controls.get(ControlId::ScalerCrop) {
            scaler_crop = Some(*r);
            scene_gen_seen = u64::MAX;
        }
        let scene = st.scene.clone();
        let Some(c) = st.configured.as_ref() else {
            return;
        };
        if scene_gen_seen != st.scene_generation || refls.is_empty() {
            let sg = st.scene_generation;
            let mode = c.mode.clone();
            let config = c.config.clone();
            match build_reflectances(&sensor, &mode, &config, &mut st, scaler_crop) {
                Ok((r, s)) => {
                    refls = r;
                    stats = Some(s);
                }
                Err(e) => notes.push(e.to_string()),
            }
            scene_gen_seen = sg;
        }
        let Some(c) = st.configured.as_ref() else {
            return;
        };
        let streams: Vec<(StreamConfig, Pool)> = c
            .streams
            .iter()
            .map(|s| (s.cfg.clone(), s.pool.clone()))
            .collect();
        let error_frame = if st.frame_errors > 0 {
            st.frame_errors -= 1;
            true
        } else {
            false
        };
        st.stats.frames_captured += 1;
        drop(st);
        notes.extend(ipa.apply(&controls));
        let seq = sequence;
        sequence += 1;
        let Some(scene_stats) = stats.as_ref() else {
            continue;
        };
        // Frames hidden at startup (cam helper) are captured but never delivered; delivered
        // frames are numbered from 0.
        let grey = ipa.grey_signal(scene.lux, p.exposure_us, p.sensor.analogue_gain);
        // The IPA sees every frame's statistics, delivered or not.
        let process = |ipa: &mut Ipa| {
            ipa.process(
                seq,
                &p,
                scene_stats,
                grey,
                scene.colour_temperature,
                scene.focus_dioptres,
            )
        };
        let Some(dseq) = seq.checked_sub(hide) else {
            process(&mut ipa);
            continue;
        };
        // Each stream takes part in every `decimation`-th request, and only when one of its
        // buffers is free: a stream whose consumer holds every buffer misses the frame, the
        // others do not (a libcamera request may carry any subset of the streams).
        let mut bufs: Vec<Option<SimBuf>> = Vec::with_capacity(streams.len());
        let mut wanted = 0;
        for (cfg, pool) in &streams {
            if dseq % u64::from(cfg.decimation.max(1)) != 0 {
                bufs.push(None);
                continue;
            }
            wanted += 1;
            let b = lock(pool).pop();
            if b.is_none() {
                lock(&shared.state).stats.stream_without_buffer[cfg.role as usize] += 1;
            }
            bufs.push(b);
        }
        if wanted > 0 && bufs.iter().all(Option::is_none) {
            lock(&shared.state).stats.frames_without_buffer += 1;
            process(&mut ipa);
            continue;
        }
        let t0 = thread_cpu_ns();
        let isp = IspParams {
            grey_signal: grey,
            raw_rb: ipa::raw_response(scene.colour_temperature),
            wb: p.wb,
            digital_gain: p.digital_gain,
            brightness: p.tone[0],
            contrast: p.tone[1],
            saturation: p.tone[2],
            gamma: p.tone[3],
            // Read noise 0.1% of full scale at unity gain, growing with total gain; shot noise
            // variance 2e-4 x signal x gain (a small-pixel sensor's character).
            read_noise: 0.001 * p.sensor.analogue_gain * p.digital_gain,
            shot_noise: 2e-4 * p.sensor.analogue_gain,
        };
        let luts = Luts::new(&isp);
        let offset = if matches!(scene.kind, SceneKind::Moving) {
            (seq as usize) * 4
        } else {
            0
        };
        let key = render_key(&p, scene_gen_seen, &isp, offset);
        let mut out = Vec::with_capacity(streams.len());
        for ((cfg, pool), (b, refl)) in streams.iter().zip(bufs.into_iter().zip(refls.iter())) {
            let (Some(mut b), Some(layout)) = (b, cfg.layout.clone()) else {
                continue;
            };
            let noise = scene
                .noise
                .then_some(seq.wrapping_mul(31).wrapping_add(cfg.role as u64));
            if noise.is_some() || b.key != key {
                let failed = match b.write() {
                    Err(e) => Some(e),
                    Ok(mut w) => {
                        let data = &mut w[..layout.size];
                        match cfg.format {
                            PixelFormat::Bayer {
                                order,
                                bits,
                                packed,
                            } => scene::render_raw(
                                refl,
                                offset,
                                &isp,
                                order,
                                bits,
                                packed,
                                sensor.tuning.black_level,
                                &layout,
                                data,
                                noise,
                            ),
                            f => scene::render(
                                refl,
                                offset * refl.width / refls[0].width.max(1),
                                &luts,
                                p.tone[2],
                                f,
                                cfg.color_space
                                    .unwrap_or(crate::camera::format::ColorSpace::Smpte170m),
                                &layout,
                                data,
                                noise,
                            ),
                        }
                        None
                    }
                };
                if let Some(e) = failed {
                    // This stream misses the frame; the buffer goes back to its pool.
                    notes.push(format!("cannot write the camera buffer: {e}"));
                    lock(pool).push(b);
                    continue;
                }
                b.key = if noise.is_some() { 0 } else { key };
            }
            let pool = pool.clone();
            let fb = FrameBuffer::new(Box::new(b), layout, move |d| {
                if let Ok(b) = d.into_any().downcast::<SimBuf>() {
                    lock(&pool).push(*b);
                }
            });
            out.push((cfg.role, fb));
        }
        let render_ns = thread_cpu_ns().saturating_sub(t0);
        process(&mut ipa);
        lock(&shared.state).stats.render_cpu_ns += render_ns;
        let bl = i32::from(sensor.tuning.black_level);
        let metadata = FrameMetadata {
            sequence: dseq,
            sensor_timestamp_ns: timestamp,
            exposure_time_us: p.exposure_us.round() as u32,
            analogue_gain: p.sensor.analogue_gain as f32,
            digital_gain: p.digital_gain as f32,
            colour_gains: [p.wb[0] as f32, p.wb[1] as f32],
            colour_temperature_k: p.colour_temperature.round() as u32,
            lux: ipa.lux() as f32,
            frame_duration_us: p.frame_duration_us.round() as u64,
            ae_state: p.ae_state,
            awb_state: Some(p.awb_state),
            lens_position: p.lens_position.map(|l| l as f32),
            focus_fom: ipa.focus_fom(scene.focus_dioptres),
            af_state: p.af_state,
            sensor_black_levels: [bl; 4],
            sensor_temperature: None,
        };
        let frame = CompletedFrame {
            status: if error_frame {
                FrameStatus::Error
            } else {
                FrameStatus::Ok
            },
            metadata,
            buffers: if error_frame { Vec::new() } else { out },
            notes: std::mem::take(&mut notes),
        };
        let mut f = lock(&shared.frames);
        f.queue.push_back(frame);
        shared.frame_ready.notify_all();
    }
}

#[cfg(test)]
mod tests;
