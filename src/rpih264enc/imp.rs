// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-rpih264enc
 *
 * H.264 encoder for every Raspberry Pi: the V4L2 M2M hardware encoder (bcm2835-codec,
 * /dev/video11) where present, OpenH264 in software elsewhere.
 *
 * ```text
 * gst-launch-1.0 -e rpicamsrc2 camera-name=sim:imx219 ! video/x-raw,width=1280,height=720,framerate=30/1 \
 *     ! rpih264enc bitrate=4000000 ! h264parse ! mp4mux ! filesink location=out.mp4
 * ```
 */
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use super::level::{self, H264Profile};
use super::software::{Planes, SoftwareConfig, SoftwareEncoder};
use super::v4l2::controls::{self, HwSettings};
use super::v4l2::format::{self as hwformat, RawFormat};
use super::v4l2::machine::{self, Input, M2mConfig, M2mEncoder, M2mOutput};
use super::v4l2::sys::Device;
use super::{Backend, BitrateMode, Level, Profile};
use crate::sync::lock;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rpih264enc",
        gst::DebugColorFlags::empty(),
        Some("Raspberry Pi H.264 encoder"),
    )
});

/// 0 = automatic (Picamera2 `Quality.MEDIUM` scaling, see `level::auto_bitrate`).
const DEFAULT_BITRATE: u32 = 0;
/// Level 5.2 MaxBR for High: 240000 x 1250 bits/s (H.264 Table A-1, A-2).
const MAX_BITRATE: u32 = 300_000_000;
const DEFAULT_IPERIOD: u32 = 60;
const DEFAULT_DEVICE: &str = "/dev/video11";
const DEFAULT_THREADS: u32 = 0;

#[derive(Debug, Clone)]
struct Settings {
    bitrate: u32,
    bitrate_mode: BitrateMode,
    iperiod: u32,
    inline_headers: bool,
    profile: Profile,
    level: Level,
    backend: Backend,
    device: String,
    threads: u32,
    qp: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bitrate: DEFAULT_BITRATE,
            bitrate_mode: BitrateMode::Vbr,
            iperiod: DEFAULT_IPERIOD,
            inline_headers: false,
            profile: Profile::Auto,
            level: Level::Auto,
            backend: Backend::Auto,
            device: DEFAULT_DEVICE.into(),
            threads: DEFAULT_THREADS,
            qp: 0,
        }
    }
}

/// The backend picked in open().
#[derive(Debug, Clone, PartialEq, Eq)]
enum Chosen {
    Software,
    V4l2 { path: String, card: String },
}

enum Engine {
    Software(Box<SoftwareEncoder>),
    V4l2 {
        enc: Box<M2mEncoder<Device>>,
        format: RawFormat,
    },
}

struct State {
    engine: Engine,
    info: gst_video::VideoInfo,
    bitrate: u32,
}

pub struct RpiH264Enc {
    settings: Mutex<Settings>,
    chosen: Mutex<Option<(Chosen, Backend)>>,
    state: Mutex<Option<State>>,
    active: Mutex<&'static str>,
    bitrate_changed: AtomicBool,
    /// SPS/PPS last written by the hardware encoder (Annex B).
    hw_headers: Mutex<Vec<u8>>,
}

impl Default for RpiH264Enc {
    fn default() -> Self {
        RpiH264Enc {
            settings: Mutex::new(Settings::default()),
            chosen: Mutex::new(None),
            state: Mutex::new(None),
            active: Mutex::new("none"),
            bitrate_changed: AtomicBool::new(false),
            hw_headers: Mutex::new(Vec::new()),
        }
    }
}

const SW_FORMATS: &[&str] = &["I420", "NV12", "YV12", "NV21"];
/// OpenH264 limit (codec/encoder: at most 4096 wide/high is accepted here; frames are further
/// limited by H.264 level 5.2, 36864 macroblocks).
const SW_MAX_DIM: i32 = 4096;
const SW_MIN_DIM: i32 = 16;

fn raw_caps(formats: &[&str], min: i32, max: i32) -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .format_list(
            formats
                .iter()
                .filter_map(|f| gst_video::VideoFormat::from_string(f).into())
                .filter(|f: &gst_video::VideoFormat| *f != gst_video::VideoFormat::Unknown),
        )
        .width_range(min..=max)
        .height_range(min..=max)
        .build()
}

fn software_caps() -> gst::Caps {
    raw_caps(SW_FORMATS, SW_MIN_DIM, SW_MAX_DIM)
}

fn hardware_caps() -> gst::Caps {
    let names: Vec<&str> = hwformat::ALL.iter().map(|f| f.gst_name()).collect();
    raw_caps(&names, hwformat::MIN_DIM as i32, hwformat::MAX_DIM as i32)
}

fn fps_of(info: &gst_video::VideoInfo) -> f64 {
    let f = info.fps();
    if f.numer() > 0 && f.denom() > 0 {
        f.numer() as f64 / f.denom() as f64
    } else {
        30.0
    }
}

/// VUI colour description (H.264 Table E-3/E-4/E-5 codes) from caps colorimetry.
fn vui_colour(info: &gst_video::VideoInfo) -> Option<(u8, u8, u8, bool)> {
    let c = info.colorimetry();
    let prim = c.primaries().to_iso() as u8;
    let transfer = c.transfer().to_iso() as u8;
    let matrix = c.matrix().to_iso() as u8;
    if prim == 0 && transfer == 0 && matrix == 0 {
        return None;
    }
    let or2 = |v: u8| if v == 0 { 2 } else { v };
    Some((
        or2(prim),
        or2(transfer),
        or2(matrix),
        c.range() == gst_video::VideoColorRange::Range0_255,
    ))
}

fn v4l2_colorspace(info: &gst_video::VideoInfo) -> u32 {
    use gst_video::VideoColorMatrix as M;
    let c = info.colorimetry();
    if info.format_info().is_rgb() {
        return hwformat::colorspace::SRGB;
    }
    match (c.matrix(), c.range()) {
        (M::Bt601, gst_video::VideoColorRange::Range0_255) => hwformat::colorspace::JPEG,
        (M::Bt601, _) => hwformat::colorspace::SMPTE170M,
        (M::Bt709, _) => hwformat::colorspace::REC709,
        _ => hwformat::default_colorspace(info.width(), info.height()),
    }
}

impl RpiH264Enc {
    fn warn(&self, msg: String) {
        gst::warning!(CAT, imp = self, "{msg}");
        gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", msg));
    }

    /// Profiles downstream accepts, or None when it accepts any.
    fn downstream_profiles(&self) -> Option<Vec<H264Profile>> {
        let allowed = self.obj().src_pad().allowed_caps()?;
        if allowed.is_any() {
            return None;
        }
        let mut out = Vec::new();
        for s in allowed.iter() {
            match s.value("profile") {
                Err(_) => return None,
                Ok(v) => {
                    if let Ok(p) = v.get::<&str>() {
                        out.extend(H264Profile::from_caps_name(p));
                    } else if let Ok(list) = v.get::<gst::List>() {
                        out.extend(
                            list.iter()
                                .filter_map(|x| x.get::<&str>().ok())
                                .filter_map(H264Profile::from_caps_name),
                        );
                    }
                }
            }
        }
        Some(out)
    }

    fn pick_profile(&self, prop: Profile) -> Result<H264Profile, String> {
        let down = self.downstream_profiles();
        let accepts = |p: H264Profile| match &down {
            None => true,
            Some(list) => {
                list.contains(&p)
                    || (p == H264Profile::ConstrainedBaseline
                        && list.contains(&H264Profile::Baseline))
            }
        };
        let wanted = match prop {
            Profile::Auto => None,
            Profile::Baseline => Some(H264Profile::ConstrainedBaseline),
            Profile::Main => Some(H264Profile::Main),
            Profile::High => Some(H264Profile::High),
        };
        match wanted {
            Some(p) if accepts(p) => Ok(p),
            Some(p) => Err(format!(
                "profile={} was asked for but downstream accepts only {:?}",
                p.caps_name(),
                down.unwrap_or_default()
                    .iter()
                    .map(|p| p.caps_name())
                    .collect::<Vec<_>>()
            )),
            None => [
                H264Profile::High,
                H264Profile::Main,
                H264Profile::ConstrainedBaseline,
            ]
            .into_iter()
            .find(|&p| accepts(p))
            .ok_or_else(|| {
                format!(
                    "downstream accepts no profile this encoder makes (baseline, main, high): {:?}",
                    down.unwrap_or_default()
                        .iter()
                        .map(|p| p.caps_name())
                        .collect::<Vec<_>>()
                )
            }),
        }
    }

    fn choose_backend(&self, s: &Settings) -> Result<Chosen, gst::ErrorMessage> {
        if s.backend == Backend::Software {
            return Ok(Chosen::Software);
        }
        let probe = Device::open(std::path::Path::new(&s.device))
            .map_err(|e| machine::M2mError::NotEncoder(format!("cannot open {}: {e}", s.device)))
            .and_then(|mut d| machine::probe(&mut d, &s.device));
        match (probe, s.backend) {
            (Ok(cap), _) => Ok(Chosen::V4l2 {
                path: s.device.clone(),
                card: cap.card,
            }),
            (Err(e), Backend::V4l2) => Err(gst::error_msg!(
                gst::ResourceError::OpenReadWrite,
                ["backend=v4l2 but device={} is not usable: {}", s.device, e]
            )),
            (Err(e), _) => {
                gst::debug!(CAT, imp = self, "no hardware encoder: {e}");
                Ok(Chosen::Software)
            }
        }
    }

    fn output_caps(&self, profile: H264Profile, level: &str) -> gst::Caps {
        let mut caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .field("profile", profile.caps_name())
            .field("level", level)
            .build();
        if profile == H264Profile::ConstrainedBaseline {
            if let Some(allowed) = self.obj().src_pad().allowed_caps() {
                if !allowed.can_intersect(&caps) {
                    caps.make_mut().set("profile", "baseline");
                }
            }
        }
        caps
    }

    fn make_software(
        &self,
        info: &gst_video::VideoInfo,
        s: &Settings,
        bitrate: u32,
        profile: H264Profile,
        level_idc: u8,
    ) -> Result<(Engine, gst::Caps), gst::LoggableError> {
        let threads = if s.threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get() as u16)
                .unwrap_or(1)
        } else {
            s.threads as u16
        };
        let cfg = SoftwareConfig {
            width: info.width(),
            height: info.height(),
            fps: fps_of(info) as f32,
            bitrate,
            cbr: s.bitrate_mode == BitrateMode::Cbr,
            iperiod: s.iperiod,
            profile,
            level_idc,
            threads: threads.min(super::software::MAX_THREADS),
            qp: s.qp as u8,
            inline_headers: s.inline_headers,
            colour: vui_colour(info),
        };
        gst::debug!(CAT, imp = self, "software config {cfg:?}");
        let enc = SoftwareEncoder::new(cfg).map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::LibraryError::Init,
                ["OpenH264 could not start: {e}"]
            );
            gst::loggable_error!(CAT, "OpenH264 init: {e}")
        })?;
        let (p_idc, set1, l_idc) = super::nal::sps_profile_level(enc.headers())
            .ok_or_else(|| gst::loggable_error!(CAT, "OpenH264 wrote no SPS"))?;
        let p = H264Profile::from_sps(p_idc, set1).unwrap_or(profile);
        let lname = level::level_by_idc(l_idc).map(|l| l.name).unwrap_or("5.2");
        Ok((Engine::Software(Box::new(enc)), self.output_caps(p, lname)))
    }

    #[allow(clippy::too_many_arguments)]
    fn make_v4l2(
        &self,
        info: &gst_video::VideoInfo,
        s: &Settings,
        path: &str,
        format: RawFormat,
        bitrate: u32,
        profile: H264Profile,
        level_idc: u8,
    ) -> Result<(Engine, gst::Caps), String> {
        hwformat::check_size(info.width(), info.height())?;
        let mut dev = Device::open(std::path::Path::new(path))
            .map_err(|e| format!("cannot open {path}: {e}"))?;
        let brange = machine::M2mDevice::query_control(&mut dev, controls::CID_BITRATE)
            .unwrap_or(controls::BITRATE_RANGE);
        let lrange = machine::M2mDevice::query_control(&mut dev, controls::CID_H264_LEVEL).ok();
        let hw = HwSettings {
            bitrate,
            cbr: s.bitrate_mode == BitrateMode::Cbr,
            iperiod: s.iperiod,
            profile,
            level_idc,
            inline_headers: s.inline_headers,
            qp: s.qp as u8,
        };
        let (plan, warnings) = controls::plan(&hw, &brange, lrange.as_ref())?;
        for w in warnings {
            self.warn(w);
        }
        let mut cfg = M2mConfig::new(format, info.width(), info.height());
        let stride = info.stride()[0].max(0) as u32;
        if stride.is_multiple_of(format.stride_align()) && stride >= format.min_stride(info.width())
        {
            cfg.stride = stride;
        }
        cfg.fps = (
            info.fps().numer().max(0) as u32,
            info.fps().denom().max(0) as u32,
        );
        cfg.colorspace = v4l2_colorspace(info);
        cfg.controls = plan.iter().map(|c| (c.id, c.value)).collect();
        for c in &plan {
            gst::debug!(CAT, imp = self, "control {} = {}", c.name, c.value);
        }
        let enc = M2mEncoder::configure(dev, cfg).map_err(|e| e.to_string())?;
        let lname = level::level_by_idc(level_idc)
            .map(|l| l.name)
            .unwrap_or("4");
        Ok((
            Engine::V4l2 {
                enc: Box::new(enc),
                format,
            },
            self.output_caps(profile, lname),
        ))
    }

    /// Finishes every frame the engine returns.
    fn push_outputs(&self, outputs: Vec<M2mOutput>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let obj = self.obj();
        for out in outputs {
            let Some(mut frame) = obj.frame(out.frame_id as i32) else {
                gst::warning!(
                    CAT,
                    imp = self,
                    "encoder returned unknown frame {}",
                    out.frame_id
                );
                continue;
            };
            let mut data = out.data;
            if super::nal::has_sps(&data) {
                *lock(&self.hw_headers) = super::nal::parameter_sets(&data);
            } else if out.keyframe
                && frame
                    .flags()
                    .contains(gst_video::VideoCodecFrameFlags::FORCE_KEYFRAME_HEADERS)
            {
                // A key unit asked with all headers: the hardware repeats SPS/PPS only with
                // REPEAT_SEQ_HEADER, so put the ones it wrote first in front.
                let mut with = lock(&self.hw_headers).clone();
                with.extend_from_slice(&data);
                data = with;
            }
            if out.keyframe {
                frame.set_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
            }
            frame.set_output_buffer(gst::Buffer::from_mut_slice(data));
            obj.finish_frame(frame)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let outputs = {
            let mut guard = lock(&self.state);
            match guard.as_mut().map(|s| &mut s.engine) {
                Some(Engine::V4l2 { enc, .. }) => enc.drain().map_err(|e| {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Encode,
                        ["draining the hardware encoder failed: {e}"]
                    );
                    gst::FlowError::Error
                })?,
                _ => Vec::new(),
            }
        };
        self.push_outputs(outputs)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RpiH264Enc {
    const NAME: &'static str = "GstRpiH264Enc";
    type Type = super::RpiH264Enc;
    type ParentType = gst_video::VideoEncoder;
}

impl ObjectImpl for RpiH264Enc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("bitrate")
                    .nick("Bitrate")
                    .blurb("Target bitrate in bits/s (0 = automatic: 6 Mbit/s at 1080p30 scaled by pixels x frame rate; hardware range 25000..25000000)")
                    .minimum(0)
                    .maximum(MAX_BITRATE)
                    .default_value(DEFAULT_BITRATE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("bitrate-mode", BitrateMode::Vbr)
                    .nick("Bitrate mode")
                    .blurb("Rate control: variable or constant bitrate")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("iperiod")
                    .nick("I-frame period")
                    .blurb("Frames from one IDR frame to the next (rpicam-vid --intra); 0 = only the first frame")
                    .minimum(0)
                    .maximum(i32::MAX as u32)
                    .default_value(DEFAULT_IPERIOD)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("inline-headers")
                    .nick("Inline headers")
                    .blurb("Repeat SPS/PPS before every IDR frame, for clients that join late (rpicam-vid --inline)")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("profile", Profile::Auto)
                    .nick("Profile")
                    .blurb("H.264 profile (rpicam-vid --profile); auto = from downstream caps, else high")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("level", Level::Auto)
                    .nick("Level")
                    .blurb("H.264 level (rpicam-vid --level); auto = smallest level of H.264 Table A-1 for size x frame rate and bitrate")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("backend", Backend::Auto)
                    .nick("Backend")
                    .blurb("auto = V4L2 hardware encoder when the device is one and the input fits it, else software (OpenH264)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("device")
                    .nick("Device")
                    .blurb("V4L2 M2M H.264 encoder device node")
                    .default_value(Some(DEFAULT_DEVICE))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("Software encoder threads (0 = number of CPUs, at most 4; each thread encodes one slice)")
                    .minimum(0)
                    .maximum(u32::from(super::software::MAX_THREADS))
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("qp")
                    .nick("Constant QP")
                    .blurb("Fixed quantiser 1..51 instead of rate control (Picamera2 qp); 0 = rate control")
                    .minimum(0)
                    .maximum(51)
                    .default_value(0)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("active-backend")
                    .nick("Active backend")
                    .blurb("The backend in use: none, software or v4l2")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        // `expect`s below: GLib has checked the value type against the pspec.
        match pspec.name() {
            "bitrate" => {
                let v = value.get().expect("type checked upstream");
                gst::info!(CAT, imp = self, "bitrate {} -> {v} bits/s", s.bitrate);
                s.bitrate = v;
                self.bitrate_changed.store(true, Ordering::SeqCst);
            }
            "bitrate-mode" => s.bitrate_mode = value.get().expect("type checked upstream"),
            "iperiod" => s.iperiod = value.get().expect("type checked upstream"),
            "inline-headers" => s.inline_headers = value.get().expect("type checked upstream"),
            "profile" => s.profile = value.get().expect("type checked upstream"),
            "level" => s.level = value.get().expect("type checked upstream"),
            "backend" => s.backend = value.get().expect("type checked upstream"),
            "device" => {
                s.device = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_else(|| DEFAULT_DEVICE.into())
            }
            "threads" => s.threads = value.get().expect("type checked upstream"),
            "qp" => s.qp = value.get().expect("type checked upstream"),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings);
        match pspec.name() {
            "bitrate" => s.bitrate.to_value(),
            "bitrate-mode" => s.bitrate_mode.to_value(),
            "iperiod" => s.iperiod.to_value(),
            "inline-headers" => s.inline_headers.to_value(),
            "profile" => s.profile.to_value(),
            "level" => s.level.to_value(),
            "backend" => s.backend.to_value(),
            "device" => s.device.to_value(),
            "threads" => s.threads.to_value(),
            "qp" => s.qp.to_value(),
            "active-backend" => lock(&self.active).to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for RpiH264Enc {}

impl ElementImpl for RpiH264Enc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Raspberry Pi H.264 encoder",
                "Codec/Encoder/Video/Hardware",
                "H.264 encoder using the V4L2 M2M hardware encoder where present, OpenH264 elsewhere",
                "rpicamsrc2 developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let mut sink = software_caps();
            sink.merge(hardware_caps());
            let src = gst::Caps::builder("video/x-h264")
                .field("stream-format", "byte-stream")
                .field("alignment", "au")
                .field(
                    "profile",
                    gst::List::new(["constrained-baseline", "baseline", "main", "high"]),
                )
                .build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &sink,
                )
                .expect("valid static template"),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &src,
                )
                .expect("valid static template"),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl VideoEncoderImpl for RpiH264Enc {
    fn open(&self) -> Result<(), gst::ErrorMessage> {
        let s = lock(&self.settings).clone();
        let chosen = self.choose_backend(&s)?;
        let msg = match &chosen {
            Chosen::Software => format!(
                "rpih264enc: using the software encoder (OpenH264){}",
                if s.backend == Backend::Software {
                    " (backend=software)".to_string()
                } else {
                    format!("; {} is not an H.264 V4L2 encoder", s.device)
                }
            ),
            Chosen::V4l2 { path, card } => {
                format!("rpih264enc: using the V4L2 hardware encoder {path} ({card})")
            }
        };
        gst::info!(CAT, imp = self, "{msg}");
        gst::element_imp_info!(self, gst::LibraryError::Settings, ("{}", msg));
        *lock(&self.chosen) = Some((chosen, s.backend));
        Ok(())
    }

    fn close(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.chosen) = None;
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *lock(&self.state) = None;
        *lock(&self.active) = "none";
        lock(&self.hw_headers).clear();
        Ok(())
    }

    fn caps(&self, filter: Option<&gst::Caps>) -> gst::Caps {
        let tmpl = match lock(&self.chosen).clone() {
            None => None,
            Some((Chosen::Software, _)) => Some(software_caps()),
            Some((Chosen::V4l2 { .. }, Backend::V4l2)) => Some(hardware_caps()),
            Some((Chosen::V4l2 { .. }, _)) => {
                let mut c = hardware_caps();
                c.merge(software_caps());
                Some(c)
            }
        };
        self.obj().proxy_getcaps(tmpl.as_ref(), filter)
    }

    fn set_format(
        &self,
        state: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
    ) -> Result<(), gst::LoggableError> {
        // Finish what the previous format still holds.
        let _ = self.drain();
        *lock(&self.state) = None;

        let info = state.info().clone();
        let s = lock(&self.settings).clone();
        let (chosen, backend_prop) = lock(&self.chosen)
            .clone()
            .unwrap_or((Chosen::Software, Backend::Software));
        let (w, h, fps) = (info.width(), info.height(), fps_of(&info));
        let bitrate = if s.bitrate == 0 {
            level::auto_bitrate(w, h, fps).min(u64::from(MAX_BITRATE)) as u32
        } else {
            s.bitrate
        };

        let mut profile = self.pick_profile(s.profile).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["{e}"]);
            gst::loggable_error!(CAT, "{e}")
        })?;
        let on_hw = matches!(chosen, Chosen::V4l2 { .. });
        if on_hw && s.bitrate_mode == BitrateMode::Cbr && profile.uses_cabac() {
            if s.profile == Profile::Auto {
                profile = H264Profile::ConstrainedBaseline;
                gst::info!(CAT, imp = self, "CBR on bcm2835: using baseline (CBR with CABAC unsupported, raspberrypi/firmware #250)");
            } else {
                self.warn(format!(
                    "bitrate-mode=cbr with profile={} (CABAC) is not supported by the bcm2835 firmware (raspberrypi/firmware #250); the encoder may ignore CBR",
                    profile.caps_name()
                ));
            }
        }

        let auto_level =
            level::choose_level(w, h, fps, u64::from(bitrate), profile).map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Negotiation,
                    ["Cannot encode this input: {e}"]
                );
                gst::loggable_error!(CAT, "{e}")
            })?;
        let level_idc = match s.level {
            Level::Auto => auto_level.level_idc,
            l => {
                let want = l as u32 as u8;
                let wl = level::level_by_idc(want).unwrap_or(auto_level);
                if !level::fits(wl, w, h, fps, u64::from(bitrate), profile) {
                    self.warn(format!(
                        "level={} is too low for {w}x{h} at {fps:.2} frames/s and {bitrate} bits/s (level {} allows at most {} macroblocks/s, {} macroblocks per frame and {} bits/s); using level {}",
                        wl.name, wl.name, wl.max_mbps, wl.max_fs, wl.max_br * profile.cpb_br_vcl_factor(), auto_level.name
                    ));
                    auto_level.level_idc
                } else {
                    want
                }
            }
        };

        let mut engine = None;
        if let Chosen::V4l2 { path, .. } = &chosen {
            let fmt = RawFormat::from_gst_name(info.format().to_str());
            let res = match fmt {
                Some(f) => self.make_v4l2(&info, &s, path, f, bitrate, profile, level_idc),
                None => Err(format!(
                    "the hardware encoder does not take {}",
                    info.format().to_str()
                )),
            };
            match res {
                Ok(e) => engine = Some(e),
                Err(e) if backend_prop == Backend::V4l2 => {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Negotiation,
                        ["backend=v4l2: {e}"]
                    );
                    return Err(gst::loggable_error!(CAT, "{e}"));
                }
                Err(e) => {
                    if SW_FORMATS.contains(&info.format().to_str().as_str()) {
                        self.warn(format!("{e}; falling back to the software encoder"));
                    } else {
                        gst::element_imp_error!(self, gst::CoreError::Negotiation, ["{e}"]);
                        return Err(gst::loggable_error!(CAT, "{e}"));
                    }
                }
            }
        }
        let (engine, caps) = match engine {
            Some(e) => e,
            None => self.make_software(&info, &s, bitrate, profile, level_idc)?,
        };
        let name = match engine {
            Engine::Software(_) => "software",
            Engine::V4l2 { .. } => "v4l2",
        };
        gst::info!(
            CAT,
            imp = self,
            "{name} encoder for {w}x{h} {} at {fps:.2} frames/s, {bitrate} bits/s: {caps}",
            info.format().to_str()
        );
        *lock(&self.active) = name;
        self.bitrate_changed.store(false, Ordering::SeqCst);

        let obj = self.obj();
        if let Engine::V4l2 { .. } = engine {
            let frame = gst::ClockTime::SECOND
                .mul_div_floor(1, fps.round().max(1.0) as u64)
                .unwrap_or(gst::ClockTime::ZERO);
            obj.set_latency(frame * 2, Some(frame * 6));
        }
        *lock(&self.state) = Some(State {
            engine,
            info,
            bitrate,
        });
        let out = obj
            .set_output_state(caps.clone(), Some(state))
            .map_err(|_| gst::loggable_error!(CAT, "cannot set output state {caps}"))?;
        obj.negotiate(out).map_err(|_| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["downstream refused {caps}"]
            );
            gst::loggable_error!(CAT, "downstream refused {caps}")
        })?;
        Ok(())
    }

    fn handle_frame(
        &self,
        frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.state);
        let Some(state) = guard.as_mut() else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["No caps set before the first buffer"]
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        if self.bitrate_changed.swap(false, Ordering::SeqCst) {
            let b = lock(&self.settings).bitrate;
            let b = if b == 0 {
                level::auto_bitrate(state.info.width(), state.info.height(), fps_of(&state.info))
                    as u32
            } else {
                b
            };
            if b != state.bitrate {
                state.bitrate = b;
                let r = match &mut state.engine {
                    Engine::Software(enc) => enc.set_bitrate(b).map_err(|e| e.to_string()),
                    Engine::V4l2 { enc, .. } => {
                        let (v, w) = controls::bitrate_value(b, &controls::BITRATE_RANGE);
                        if let Some(w) = w {
                            self.warn(w);
                        }
                        enc.set_control(controls::CID_BITRATE, v)
                            .map_err(|e| e.to_string())
                    }
                };
                match r {
                    Ok(()) => gst::info!(CAT, imp = self, "bitrate now {b} bits/s"),
                    Err(e) => self.warn(format!("could not change the bitrate to {b} bits/s: {e}")),
                }
            }
        }
        let flags = frame.flags();
        let force = flags.contains(gst_video::VideoCodecFrameFlags::FORCE_KEYFRAME);
        let want_headers = flags.contains(gst_video::VideoCodecFrameFlags::FORCE_KEYFRAME_HEADERS);
        let Some(input) = frame.input_buffer_owned() else {
            gst::element_imp_error!(self, gst::CoreError::Failed, ["Frame without input buffer"]);
            return Err(gst::FlowError::Error);
        };
        let info = state.info.clone();
        match &mut state.engine {
            Engine::Software(enc) => {
                let vframe =
                    gst_video::VideoFrameRef::from_buffer_ref_readable(input.as_ref(), &info)
                        .map_err(|_| {
                            gst::element_imp_error!(
                                self,
                                gst::CoreError::Failed,
                                ["Cannot map the input frame"]
                            );
                            gst::FlowError::Error
                        })?;
                let st = vframe.plane_stride();
                let plane = |i: u32| vframe.plane_data(i).unwrap_or(&[]);
                let planes = match info.format() {
                    gst_video::VideoFormat::I420 => Planes::Planar {
                        y: (plane(0), st[0] as usize),
                        u: (plane(1), st[1] as usize),
                        v: (plane(2), st[2] as usize),
                    },
                    gst_video::VideoFormat::Yv12 => Planes::Planar {
                        y: (plane(0), st[0] as usize),
                        u: (plane(2), st[2] as usize),
                        v: (plane(1), st[1] as usize),
                    },
                    gst_video::VideoFormat::Nv12 => Planes::SemiPlanar {
                        y: (plane(0), st[0] as usize),
                        uv: (plane(1), st[1] as usize),
                        swap: false,
                    },
                    gst_video::VideoFormat::Nv21 => Planes::SemiPlanar {
                        y: (plane(0), st[0] as usize),
                        uv: (plane(1), st[1] as usize),
                        swap: true,
                    },
                    other => {
                        gst::element_imp_error!(
                            self,
                            gst::CoreError::Negotiation,
                            ["The software encoder does not take {}", other.to_str()]
                        );
                        return Err(gst::FlowError::NotNegotiated);
                    }
                };
                let ts_ms = frame.pts().map(|t| t.mseconds() as i64).unwrap_or(0);
                let out = enc
                    .encode(planes, ts_ms, force, want_headers)
                    .map_err(|e| {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Encode,
                            ["OpenH264 failed to encode: {e}"]
                        );
                        gst::FlowError::Error
                    })?;
                drop(vframe);
                drop(guard);
                let mut frame = frame;
                match out {
                    Some(out) => {
                        if out.keyframe {
                            frame.set_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
                        }
                        frame.set_output_buffer(gst::Buffer::from_mut_slice(out.data));
                    }
                    None => gst::warning!(
                        CAT,
                        imp = self,
                        "OpenH264 skipped frame {}",
                        frame.system_frame_number()
                    ),
                }
                self.obj().finish_frame(frame)
            }
            Engine::V4l2 { enc, format } => {
                let format = *format;
                let id = frame.system_frame_number();
                drop(frame);
                let stride = enc.stride();
                let dmabuf = (input.n_memory() == 1)
                    .then(|| input.peek_memory(0))
                    .and_then(|m| m.downcast_memory_ref::<gst_allocators::DmaBufMemory>())
                    .map(|m| (m.fd(), m.offset(), m.maxsize()));
                let (offsets, strides): (Vec<usize>, Vec<usize>) =
                    match input.meta::<gst_video::VideoMeta>() {
                        Some(m) => (
                            m.offset().to_vec(),
                            m.stride().iter().map(|&s| s.max(0) as usize).collect(),
                        ),
                        None => (
                            info.offset().to_vec(),
                            info.stride().iter().map(|&s| s.max(0) as usize).collect(),
                        ),
                    };
                let zero_copy = dmabuf.is_some()
                    && enc.memory() != Some(machine::Memory::Mmap)
                    && strides.first() == Some(&(stride as usize))
                    && hwformat::zero_copy_layout_ok(
                        format,
                        info.width(),
                        info.height(),
                        &offsets,
                        &strides,
                    );
                let outputs = if let (true, Some((fd, offset, maxsize))) = (zero_copy, dmabuf) {
                    let keep: Box<dyn std::any::Any + Send> = Box::new(input.clone());
                    enc.encode(
                        Input::DmaBuf {
                            fd,
                            offset: offset as u32,
                            length: (offset + maxsize) as u32,
                            keep,
                        },
                        id,
                        force,
                    )
                } else {
                    let vframe =
                        gst_video::VideoFrameRef::from_buffer_ref_readable(input.as_ref(), &info)
                            .map_err(|_| {
                            gst::element_imp_error!(
                                self,
                                gst::CoreError::Failed,
                                ["Cannot map the input frame"]
                            );
                            gst::FlowError::Error
                        })?;
                    let n = vframe.n_planes();
                    let src: Vec<(&[u8], usize)> = (0..n)
                        .map(|i| {
                            (
                                vframe.plane_data(i).unwrap_or(&[]),
                                vframe.plane_stride()[i as usize].max(0) as usize,
                            )
                        })
                        .collect();
                    let mut fill = |dst: &mut [u8], dst_stride: u32| {
                        hwformat::copy_into(
                            format,
                            info.width(),
                            info.height(),
                            &src,
                            dst,
                            dst_stride,
                        )
                    };
                    enc.encode(Input::Copy(&mut fill), id, force)
                };
                let outputs = outputs.map_err(|e| {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Encode,
                        ["hardware encoder: {e}"]
                    );
                    gst::FlowError::Error
                })?;
                drop(guard);
                self.push_outputs(outputs)
            }
        }
    }

    fn finish(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.drain()
    }

    fn flush(&self) -> bool {
        if let Some(State {
            engine: Engine::V4l2 { enc, .. },
            ..
        }) = lock(&self.state).as_mut()
        {
            if let Err(e) = enc.reset() {
                gst::warning!(CAT, imp = self, "reset after flush: {e}");
            }
        }
        true
    }

    fn propose_allocation(
        &self,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        query.add_allocation_meta::<gst_video::VideoMeta>(None);
        self.parent_propose_allocation(query)
    }
}
