// SPDX-License-Identifier: MPL-2.0
//! [`LibcameraCamera`]: the camera model's [`CameraBackend`] over a libcamera camera.

use std::{
    any::Any,
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use libcamera::{
    camera::Orientation, control_value::ControlValue as LcValue, geometry::Size as LcSize,
    stream::StreamRole as LcRole,
};

use super::{
    convert, BufferKind, ConfigSpec, LcBuffer, LcCamera, LcControlInfo, LcError, LcFormat,
    LcStatus, SensorSpec, StreamSpec,
};
use crate::camera::{
    backend::{
        CameraBackend, CameraError, CameraInfo, CameraStats, CompletedFrame, FrameBuffer,
        FrameData, FrameStatus,
    },
    config::{CameraConfiguration, ConfigStatus, StreamRole},
    controls::{ControlId, ControlInfo, ControlList, ControlValue},
    format::{FrameLayout, PixelFormat, Rect, Size},
    mode::{ModeRequest, ModeRule, DEFAULT_BIT_DEPTH},
    sensor::SensorMode,
};
use crate::sync::lock;

impl From<LcError> for CameraError {
    fn from(e: LcError) -> Self {
        match e {
            LcError::InvalidConfiguration { .. }
            | LcError::RolesUnsupported { .. }
            | LcError::UnknownPixelFormat(_)
            | LcError::Configure { .. }
            | LcError::UnknownControl { .. }
            | LcError::BadControlValue { .. } => CameraError::Config(e.to_string()),
            LcError::NotConfigured | LcError::Closed => CameraError::State(e.to_string()),
            other => CameraError::Io(other.to_string()),
        }
    }
}

/// Line length and pixel rate given to modes made from libcamera's figures: 1 µs per line, so
/// that `min_frame_length` lines are the mode's shortest frame duration in µs as libcamera
/// reports it (libcamera does not expose line timing).
const SYNTH_PIXEL_RATE: u64 = 1_000_000_000;
const SYNTH_LINE_LENGTH: u32 = 1000;

/// A mode of a libcamera camera: the sensor mode (raw format) on cameras with a raw stream, or
/// a processed stream size elsewhere.
#[derive(Debug, Clone)]
struct LcMode {
    mode: SensorMode,
    /// libcamera's raw pixel format of the mode, on cameras with a raw stream.
    raw_format: Option<libcamera::pixel_format::PixelFormat>,
}

fn synth_mode(size: Size, bit_depth: u8, pixel_array: Size, min_frame_us: i64) -> SensorMode {
    SensorMode {
        size,
        bit_depth,
        crop: Rect::new(0, 0, pixel_array.width, pixel_array.height),
        pixel_rate: SYNTH_PIXEL_RATE,
        line_length: SYNTH_LINE_LENGTH,
        min_frame_length: u32::try_from(min_frame_us.max(1)).unwrap_or(u32::MAX),
        min_exposure_lines: 1,
        hdr: false,
        sensitivity: 1.0,
    }
}

struct Active {
    roles: Vec<StreamRole>,
    layouts: Vec<FrameLayout>,
    framerate: Option<(u32, u32)>,
    kind: BufferKind,
}

/// A libcamera camera as a [`CameraBackend`].
pub struct LibcameraCamera {
    cam: LcCamera,
    info: CameraInfo,
    modes: Vec<LcMode>,
    /// libcamera's controls by name, as they are now.
    controls: Mutex<HashMap<String, LcControlInfo>>,
    active: Mutex<Option<Active>>,
    /// Notes for the next completed frame (controls refused or clamped).
    notes: Mutex<Vec<String>>,
    frames: AtomicU64,
}

impl std::fmt::Debug for LibcameraCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibcameraCamera")
            .field("id", &self.info.id)
            .field("model", &self.info.model)
            .finish()
    }
}

fn info_map(list: &[LcControlInfo]) -> HashMap<String, LcControlInfo> {
    list.iter().map(|c| (c.name.clone(), c.clone())).collect()
}

fn model_infos(map: &HashMap<String, LcControlInfo>) -> BTreeMap<ControlId, ControlInfo> {
    ControlId::ALL
        .iter()
        .filter_map(|id| {
            let c = map.get(id.name())?;
            let min = convert::model_value(&c.min)?;
            let max = convert::model_value(&c.max)?;
            let default = convert::model_value(&c.def).unwrap_or_else(|| min.clone());
            Some((*id, ControlInfo { min, max, default }))
        })
        .collect()
}

fn bit_depth(f: libcamera::pixel_format::PixelFormat) -> u8 {
    match convert::model_format(f) {
        Some(PixelFormat::Bayer { bits, .. }) => bits,
        _ => f
            .info()
            .map_or(8, |i| u8::try_from(i.bits_per_pixel).unwrap_or(8)),
    }
}

fn sizes_of(f: &LcFormat) -> Vec<LcSize> {
    if f.sizes.is_empty() {
        vec![f.range.max]
    } else {
        f.sizes.clone()
    }
}

impl LibcameraCamera {
    /// Acquires the libcamera camera `id` and learns its modes (configuring each once, as
    /// rpicam-apps does, to read its frame-duration limits) and controls.
    pub fn open(id: &str) -> Result<Self, CameraError> {
        let cam = LcCamera::open(id).map_err(|e| match e {
            LcError::NoSuchCamera { id } => CameraError::NotFound {
                name: id,
                available: super::describe_available(),
            },
            other => other.into(),
        })?;
        let d = cam.details().clone();
        let largest = d
            .raw_formats
            .iter()
            .chain(&d.stream_formats)
            .flat_map(sizes_of)
            .max_by_key(|s| u64::from(s.width) * u64::from(s.height))
            .map(convert::model_size)
            .unwrap_or(Size::new(0, 0));
        let pixel_array = d
            .pixel_array_size
            .map(convert::model_size)
            .unwrap_or(largest);

        // Candidate modes: every raw format and size where the pipeline handler has a raw
        // stream (the Raspberry Pi one), else every size of the first processed format.
        let mut candidates: Vec<(
            Size,
            u8,
            Option<libcamera::pixel_format::PixelFormat>,
            ConfigSpec,
        )> = Vec::new();
        if !d.raw_formats.is_empty() {
            for f in &d.raw_formats {
                for s in sizes_of(f) {
                    let bits = bit_depth(f.pixel_format);
                    let spec = ConfigSpec {
                        streams: vec![StreamSpec {
                            role: LcRole::Raw,
                            pixel_format: Some(f.pixel_format),
                            size: Some(s),
                            color_space: None,
                            buffer_count: None,
                        }],
                        sensor: None,
                        orientation: None,
                    };
                    if !candidates
                        .iter()
                        .any(|c| c.0 == convert::model_size(s) && c.1 == bits)
                    {
                        candidates.push((convert::model_size(s), bits, Some(f.pixel_format), spec));
                    }
                }
            }
        } else if let Some(f) = d.stream_formats.first() {
            for s in sizes_of(f) {
                let spec = ConfigSpec {
                    streams: vec![StreamSpec {
                        role: LcRole::VideoRecording,
                        pixel_format: Some(f.pixel_format),
                        size: Some(s),
                        color_space: None,
                        buffer_count: None,
                    }],
                    sensor: None,
                    orientation: None,
                };
                // Processed output: 8 bits per sample (the sensor's depth is not exposed).
                candidates.push((convert::model_size(s), 8, None, spec));
            }
        }
        let durations =
            cam.probe_frame_durations(candidates.iter().map(|c| c.3.clone()).collect())?;
        // Candidates libcamera adjusts are not modes.
        let modes: Vec<LcMode> = candidates
            .into_iter()
            .zip(durations)
            .filter_map(|((size, bits, raw_format, _), fdl)| {
                // Without frame-duration limits, 30 fps is assumed.
                let min_us = fdl?.map_or(33_333, |(min, _)| min);
                Some(LcMode {
                    mode: synth_mode(size, bits, pixel_array, min_us),
                    raw_format,
                })
            })
            .collect();

        let controls = info_map(&cam.controls()?);
        let model_controls = model_infos(&controls);
        let max_frame_duration_us = controls
            .get("FrameDurationLimits")
            .and_then(|c| convert::model_value(&c.max))
            .and_then(|v| v.as_f64())
            .map_or(1_000_000, |v| v as u64);
        let bayer_order =
            d.raw_formats
                .iter()
                .find_map(|f| match convert::model_format(f.pixel_format) {
                    Some(PixelFormat::Bayer { order, .. }) => Some(order),
                    _ => None,
                });
        let info = CameraInfo {
            id: d.desc.id.clone(),
            model: d.desc.model.clone().unwrap_or_else(|| d.desc.id.clone()),
            simulated: false,
            pixel_array,
            bayer_order,
            modes: modes.iter().map(|m| m.mode.clone()).collect(),
            formats: d
                .stream_formats
                .iter()
                .filter_map(|f| convert::model_format(f.pixel_format))
                .collect(),
            max_frame_duration_us,
            controls: model_controls,
        };
        Ok(Self {
            cam,
            info,
            modes,
            controls: Mutex::new(controls),
            active: Mutex::new(None),
            notes: Mutex::new(Vec::new()),
            frames: AtomicU64::new(0),
        })
    }

    /// The libcamera configuration for a model configuration, and the mode it uses.
    fn spec_for(
        &self,
        config: &CameraConfiguration,
    ) -> Result<(ConfigSpec, Option<LcMode>), CameraError> {
        if config.streams.is_empty() {
            return Err(CameraError::Config("no stream to configure".into()));
        }
        let mut streams = Vec::with_capacity(config.streams.len());
        for s in &config.streams {
            let pf = convert::pixel_format(s.format).ok_or_else(|| {
                CameraError::Config(format!(
                    "libcamera does not know the pixel format {}",
                    s.format.libcamera_name()
                ))
            })?;
            streams.push(StreamSpec {
                role: convert::role(s.role),
                pixel_format: Some(pf),
                size: Some(convert::size(s.size)),
                color_space: s.color_space.map(convert::color_space),
                buffer_count: (s.buffer_count > 0).then_some(s.buffer_count),
            });
        }
        let orientation = match (config.hflip, config.vflip) {
            (false, false) => None,
            (true, false) => Some(Orientation::Rotate0Mirror),
            (false, true) => Some(Orientation::Rotate180Mirror),
            (true, true) => Some(Orientation::Rotate180),
        };
        let mode = self.choose_mode(config)?;
        // The sensor mode is passed as libcamera's SensorConfiguration where the camera has raw
        // modes; elsewhere the stream size is the mode.
        let sensor = mode.as_ref().and_then(|m| {
            m.raw_format.map(|_| SensorSpec {
                size: convert::size(m.mode.size),
                bit_depth: u32::from(m.mode.bit_depth),
            })
        });
        Ok((
            ConfigSpec {
                streams,
                sensor,
                orientation,
            },
            mode,
        ))
    }

    /// Mode choice: an explicit `sensor_mode`, else the raw stream's size and depth, else
    /// rpicam-apps' scoring over the camera's modes.
    fn choose_mode(&self, config: &CameraConfiguration) -> Result<Option<LcMode>, CameraError> {
        if self.modes.is_empty() {
            return Ok(None);
        }
        let describe = || {
            self.modes
                .iter()
                .map(|m| {
                    format!(
                        "{}x{} {}-bit {:.2} fps",
                        m.mode.size.width,
                        m.mode.size.height,
                        m.mode.bit_depth,
                        m.mode.max_fps()
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(spec) = config.sensor_mode {
            return ModeRule::Explicit(spec)
                .select(&self.modes, |m| &m.mode)
                .cloned()
                .map(Some)
                .ok_or_else(|| {
                    CameraError::Config(format!(
                        "sensor-mode {spec} is not a mode of {}; its modes are: {}",
                        self.info.model,
                        describe()
                    ))
                });
        }
        if let Some(raw) = config.stream(StreamRole::Raw) {
            let rule = ModeRule::Raw {
                size: raw.size,
                bit_depth: None,
            };
            let with_raw = self.modes.iter().filter(|m| m.raw_format.is_some());
            if let Some(m) = rule.select(with_raw, |m| &m.mode) {
                return Ok(Some(m.clone()));
            }
        }
        let need = config
            .streams
            .iter()
            .filter(|s| s.role != StreamRole::Raw)
            .map(|s| s.size)
            .fold(Size::new(0, 0), |a, b| {
                Size::new(a.width.max(b.width), a.height.max(b.height))
            });
        let req = ModeRequest {
            size: need,
            fps: config.framerate.map(|_| config.fps()),
            bit_depth: DEFAULT_BIT_DEPTH,
        };
        if self.modes.iter().all(|m| m.raw_format.is_none()) {
            // Processed sizes only (no sensor modes): the stream size is the mode, if offered.
            return Ok(self.modes.iter().find(|m| m.mode.size == need).cloned());
        }
        ModeRule::Scored(req)
            .select(&self.modes, |m| &m.mode)
            .map(|m| Some(m.clone()))
            .ok_or_else(|| {
                CameraError::Config(format!(
                    "{} has no mode for {need}{}; its modes are: {}",
                    self.info.model,
                    req.fps
                        .map(|f| format!(" at {f:.2} fps"))
                        .unwrap_or_default(),
                    describe()
                ))
            })
    }

    /// libcamera (id, value) pairs for a model control list; refused ones become notes.
    fn lc_controls(&self, controls: &ControlList) -> (Vec<(u32, LcValue)>, Vec<String>) {
        let map = lock(&self.controls);
        let mut out = Vec::new();
        let mut notes = Vec::new();
        for (id, value) in controls.iter() {
            let Some(info) = map.get(id.name()) else {
                if *id == ControlId::FrameDurationLimits {
                    // The element always sends the caps' frame duration; a camera without the
                    // control runs at its own pace, which is no news to the user.
                    continue;
                }
                let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
                names.sort_unstable();
                notes.push(format!(
                    "control {id} ignored: camera {} does not have it (it has: {})",
                    self.info.id,
                    names.join(", ")
                ));
                continue;
            };
            // Clamp numbers into libcamera's range, as the Raspberry Pi IPA would.
            let mut value = value.clone();
            if let (Some(min), Some(max)) = (
                convert::model_value(&info.min),
                convert::model_value(&info.max),
            ) {
                let range = ControlInfo {
                    min,
                    max,
                    default: value.clone(),
                };
                if let Err(why) = range.check(*id, &value) {
                    value = range.clamp(&value);
                    notes.push(format!("{why}; clamped to {value}"));
                }
            }
            match convert::lc_value(&value, &info.ty, info.is_array) {
                Ok(v) => out.push((info.id, v)),
                Err(why) => notes.push(format!("control {id} value {value} ignored: {why}")),
            }
        }
        (out, notes)
    }

    fn frame_buffer(&self, buf: LcBuffer, layout: FrameLayout) -> FrameBuffer {
        // Dropping the data drops the request's last reference, which queues it again.
        FrameBuffer::new(Box::new(LcData(buf)), layout, drop)
    }
}

/// [`FrameData`] over a completed request's buffer (zero-copy).
struct LcData(LcBuffer);

impl FrameData for LcData {
    fn bytes(&self) -> &[u8] {
        self.0.data()
    }
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.0.fd())
    }
    fn is_dmabuf(&self) -> bool {
        self.0.kind == BufferKind::DmaBuf
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(self.0)
    }
}

fn given_config_streams(c: &CameraConfiguration) -> Vec<(StreamRole, Size, PixelFormat)> {
    c.streams
        .iter()
        .map(|s| (s.role, s.size, s.format))
        .collect()
}

impl CameraBackend for LibcameraCamera {
    fn info(&self) -> CameraInfo {
        self.info.clone()
    }

    fn controls(&self) -> BTreeMap<ControlId, ControlInfo> {
        model_infos(&lock(&self.controls))
    }

    fn validate(&self, config: &mut CameraConfiguration) -> Result<ConfigStatus, CameraError> {
        let (spec, mode) = self.spec_for(config)?;
        let v = self.cam.validate(&spec)?;
        if v.status == LcStatus::Invalid {
            return Err(CameraError::Config(format!(
                "libcamera rejected the configuration {}; camera {} offers {}",
                v.requested,
                self.info.id,
                self.describe_formats()
            )));
        }
        let mut changes = v.adjustments.clone();
        if (config.hflip || config.vflip) && changes.iter().any(|c| c.starts_with("orientation")) {
            config.hflip = false;
            config.vflip = false;
        }
        for (s, r) in config.streams.iter_mut().zip(&v.streams) {
            if let Some(f) = convert::model_format(r.pixel_format) {
                s.format = f;
            } else {
                return Err(CameraError::Config(format!(
                    "libcamera changed the {} stream to {}, a format rpicamsrc2 does not handle",
                    s.role, r.pixel_format
                )));
            }
            s.size = convert::model_size(r.size);
            s.buffer_count = r.buffer_count;
            s.color_space = r
                .color_space
                .and_then(convert::model_color_space)
                .or(s.color_space);
            s.layout = Some(super::buffers::frame_layout(
                r.pixel_format,
                r.size,
                r.stride,
                r.frame_size,
            ));
        }
        config.chosen_mode = mode.map(|m| m.mode).or_else(|| {
            config
                .streams
                .first()
                .map(|s| synth_mode(s.size, 8, self.info.pixel_array, 33_333))
        });
        if v.status == LcStatus::Valid {
            changes.clear();
        }
        Ok(if changes.is_empty() {
            ConfigStatus::Valid
        } else {
            ConfigStatus::Adjusted(changes)
        })
    }

    fn configure(&self, given: &CameraConfiguration) -> Result<(), CameraError> {
        let mut config = given.clone();
        if let ConfigStatus::Adjusted(changes) = self.validate(&mut config)? {
            // The caller validated already. Changes to what the frames look like (roles, sizes,
            // formats) mean this is not the configuration the caller negotiated; others (such
            // as a colour space the caller left open) are only noted.
            if given_config_streams(&config) != given_config_streams(given) {
                return Err(CameraError::Config(format!(
                    "libcamera adjusted the configuration: {}",
                    changes.join("; ")
                )));
            }
            lock(&self.notes).push(format!(
                "libcamera adjusted the configuration: {}",
                changes.join("; ")
            ));
        }
        let (spec, _) = self.spec_for(&config)?;
        let configured = self.cam.configure(&spec)?;
        let layouts = configured.layouts.clone();
        *lock(&self.active) = Some(Active {
            roles: config.streams.iter().map(|s| s.role).collect(),
            layouts,
            framerate: config.framerate,
            kind: configured.kind,
        });
        if let Ok(list) = self.cam.controls() {
            *lock(&self.controls) = info_map(&list);
        }
        if let Some(why) = configured.allocator_error {
            lock(&self.notes).push(format!("buffers are memfd, not dma-buf: {why}"));
        }
        Ok(())
    }

    fn start(&self, controls: &ControlList) -> Result<(), CameraError> {
        let mut controls = controls.clone();
        let framerate = lock(&self.active)
            .as_ref()
            .map(|a| a.framerate)
            .ok_or_else(|| CameraError::State("is not configured".into()))?;
        // The caps' frame rate becomes a fixed frame duration, as libcamerasrc does, unless the
        // user set FrameDurationLimits.
        if controls.get(ControlId::FrameDurationLimits).is_none()
            && lock(&self.controls).contains_key("FrameDurationLimits")
        {
            if let Some((n, d)) = framerate.filter(|(n, d)| *n > 0 && *d > 0) {
                let us = (1_000_000i64 * i64::from(d)) / i64::from(n);
                controls.set(
                    ControlId::FrameDurationLimits,
                    ControlValue::I64Array(vec![us, us]),
                );
            }
        }
        let (list, notes) = self.lc_controls(&controls);
        lock(&self.notes).extend(notes);
        self.frames.store(0, Ordering::Relaxed);
        self.cam.start(list)?;
        Ok(())
    }

    fn stop(&self) {
        self.cam.stop();
    }

    fn set_controls(&self, controls: &ControlList) {
        let (list, notes) = self.lc_controls(controls);
        lock(&self.notes).extend(notes);
        self.cam.set_controls(list);
    }

    fn next_frame(&self, timeout: Duration) -> Result<Option<CompletedFrame>, CameraError> {
        let Some(frame) = self.cam.next_frame(timeout)? else {
            return Ok(None);
        };
        self.frames.fetch_add(1, Ordering::Relaxed);
        let metadata =
            convert::metadata(frame.sequence, frame.sensor_timestamp_ns, &frame.metadata);
        let (roles, layouts) = {
            let active = lock(&self.active);
            let a = active
                .as_ref()
                .ok_or_else(|| CameraError::State("is not configured".into()))?;
            (a.roles.clone(), a.layouts.clone())
        };
        let buffers = frame
            .buffers
            .into_iter()
            .filter_map(|b| {
                let i = b.stream_index;
                let role = *roles.get(i)?;
                let layout = layouts.get(i)?.clone();
                Some((role, self.frame_buffer(b, layout)))
            })
            .collect();
        let notes = std::mem::take(&mut *lock(&self.notes));
        Ok(Some(CompletedFrame {
            status: FrameStatus::Ok,
            metadata,
            buffers,
            notes,
        }))
    }

    fn unblock(&self) {
        self.cam.unblock();
    }

    fn stats(&self) -> CameraStats {
        CameraStats {
            frames_captured: self.frames.load(Ordering::Relaxed),
            ..Default::default()
        }
    }
}

impl LibcameraCamera {
    /// What the camera offers, for messages: `NV12 640x480, 1920x1080`.
    fn describe_formats(&self) -> String {
        self.cam
            .details()
            .stream_formats
            .iter()
            .map(|f| {
                let sizes: Vec<String> = sizes_of(f)
                    .iter()
                    .map(|s| format!("{}x{}", s.width, s.height))
                    .collect();
                format!("{} {}", f.pixel_format, sizes.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Whether the buffers of the current configuration are dma-buf (importable by a V4L2
    /// encoder) or memfd.
    pub fn buffer_kind(&self) -> Option<BufferKind> {
        lock(&self.active).as_ref().map(|a| a.kind)
    }
}
