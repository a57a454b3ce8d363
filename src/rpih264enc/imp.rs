// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-rpih264enc
 *
 * H.264 encoder for every Raspberry Pi: the V4L2 M2M hardware encoder (bcm2835-codec,
 * /dev/video11) where present, software elsewhere: the system's x264enc element when it is
 * installed (run time, not linked), else the built-in OpenH264.
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

use super::engine::{self, Choice, Encoded, Engine, EngineConfig, EngineError, Note, Picture, CAT};
use super::extra_controls::{self, Mapped};
use super::level::{self, H264Profile};
use super::{Backend, BitrateMode, Level, Profile, SpeedPreset};
use crate::sync::lock;

/// 0 = automatic (Picamera2 `Quality.MEDIUM` scaling, see `level::auto_bitrate`).
const DEFAULT_BITRATE: u32 = 0;
/// The largest bitrate an engine encodes: level 5.2 MaxBR 240000 (H.264 Table A-1) x
/// OpenH264's CpbBrNalFactor 1200 (`software::bitrate_limits`); the hardware stops at 25 Mbit/s.
const MAX_BITRATE: u32 = 288_000_000;
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
    speed_preset: SpeedPreset,
    /// The last `extra-controls` structure set (already applied to the fields above).
    extra_controls: Option<gst::Structure>,
    /// Warnings about `extra-controls`, posted on the bus when the element opens.
    extra_warnings: Vec<String>,
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
            speed_preset: SpeedPreset::default(),
            extra_controls: None,
            extra_warnings: Vec::new(),
        }
    }
}

struct State {
    engine: Box<dyn Engine>,
    info: gst_video::VideoInfo,
    bitrate: u32,
}

pub struct RpiH264Enc {
    settings: Mutex<Settings>,
    /// The engine picked in open(), with the `backend` property it was picked under.
    chosen: Mutex<Option<(Choice, Backend)>>,
    state: Mutex<Option<State>>,
    active: Mutex<&'static str>,
    bitrate_changed: AtomicBool,
}

impl Default for RpiH264Enc {
    fn default() -> Self {
        RpiH264Enc {
            settings: Mutex::new(Settings::default()),
            chosen: Mutex::new(None),
            state: Mutex::new(None),
            active: Mutex::new("none"),
            bitrate_changed: AtomicBool::new(false),
        }
    }
}

impl RpiH264Enc {
    fn warn(&self, msg: String) {
        gst::warning!(CAT, imp = self, "{msg}");
        gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", msg));
    }

    /// The values of the string field `field` (one string or a list) over downstream's
    /// allowed caps, parsed by `parse` (unknown strings left out); None when downstream accepts
    /// any value (ANY caps, or a structure without the field or with another type).
    fn downstream_values<T>(
        &self,
        field: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<Vec<T>> {
        let allowed = self.obj().src_pad().allowed_caps()?;
        if allowed.is_any() {
            return None;
        }
        let mut out = Vec::new();
        for s in allowed.iter() {
            let v = s.value(field).ok()?;
            if let Ok(one) = v.get::<&str>() {
                out.extend(parse(one));
            } else if let Ok(list) = v.get::<gst::List>() {
                out.extend(
                    list.iter()
                        .filter_map(|x| x.get::<&str>().ok())
                        .filter_map(&parse),
                );
            } else {
                return None;
            }
        }
        Some(out)
    }

    /// Profiles downstream accepts, or None when it accepts any.
    fn downstream_profiles(&self) -> Option<Vec<H264Profile>> {
        self.downstream_values("profile", H264Profile::from_caps_name)
    }

    /// Levels downstream accepts (its caps' `level` field), or None when it accepts any.
    fn downstream_levels(&self) -> Option<Vec<&'static level::LevelLimits>> {
        self.downstream_values("level", level::level_by_name)
    }

    /// Applies an `extra-controls` structure to the settings, warning about what it cannot.
    fn apply_extra_controls(&self, st: Option<gst::Structure>) {
        let (mapped, warnings) = st
            .as_ref()
            .map(|st| extra_controls::map(st))
            .unwrap_or_default();
        {
            let mut s = lock(&self.settings);
            for m in mapped {
                gst::debug!(CAT, imp = self, "extra-controls: {m:?}");
                match m {
                    Mapped::Bitrate(b) => {
                        s.bitrate = b;
                        self.bitrate_changed.store(true, Ordering::SeqCst);
                    }
                    Mapped::Iperiod(p) => s.iperiod = p,
                    Mapped::InlineHeaders(b) => s.inline_headers = b,
                    Mapped::Level(l) => s.level = l,
                    Mapped::Profile(p) => s.profile = p,
                    Mapped::BitrateMode(m) => s.bitrate_mode = m,
                }
            }
            s.extra_controls = st;
            for w in &warnings {
                gst::warning!(CAT, imp = self, "{w}");
            }
            s.extra_warnings = warnings;
        }
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

    /// The engine for the `backend` property, and why a software one was picked ("" for
    /// the hardware and for an explicit `x264`/`openh264`).
    fn choose_backend(&self, s: &Settings) -> Result<(Choice, String), gst::ErrorMessage> {
        match s.backend {
            Backend::Software => return Ok(Choice::fastest_software()),
            Backend::Openh264 => return Ok((Choice::Openh264, String::new())),
            Backend::X264 => {
                return engine::x264::available(false)
                    .map(|()| (Choice::X264, String::new()))
                    .map_err(|e| {
                        gst::error_msg!(gst::CoreError::MissingPlugin, ["backend=x264 but {}", e])
                    })
            }
            Backend::Auto | Backend::V4l2 => {}
        }
        match (Choice::probe_hardware(&s.device), s.backend) {
            (Ok(choice), _) => Ok((choice, String::new())),
            (Err(e), Backend::V4l2) => Err(gst::error_msg!(
                gst::ResourceError::OpenReadWrite,
                ["backend=v4l2 but device={} is not usable: {}", s.device, e]
            )),
            (Err(e), _) => {
                gst::debug!(CAT, imp = self, "no hardware encoder: {e}");
                Ok(Choice::fastest_software())
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

    /// Posts the element error for an engine error; returns the flow error to give upstream.
    fn engine_error(&self, e: EngineError) -> gst::FlowError {
        match e {
            EngineError::Init(m) => {
                gst::element_imp_error!(self, gst::LibraryError::Init, ["{m}"]);
                gst::FlowError::Error
            }
            EngineError::Unsupported(m) => {
                // The text says which limit: it is the message, not only its debug part.
                gst::element_imp_error!(self, gst::CoreError::Negotiation, ("{}", m));
                gst::FlowError::NotNegotiated
            }
            EngineError::Map => {
                gst::element_imp_error!(
                    self,
                    gst::CoreError::Failed,
                    ["Cannot map the input frame"]
                );
                gst::FlowError::Error
            }
            EngineError::Encode(m) => {
                gst::element_imp_error!(self, gst::StreamError::Encode, ["{m}"]);
                gst::FlowError::Error
            }
        }
    }

    /// Starts the engine for `cfg`: the chosen one, or the one [`Choice::fallback`] names when
    /// the chosen one cannot take this input.
    fn start_engine(
        &self,
        choice: &Choice,
        backend: Backend,
        cfg: &EngineConfig<'_>,
    ) -> Result<Box<dyn Engine>, gst::LoggableError> {
        let mut warn = |w: String| self.warn(w);
        let e = match choice.configure(cfg, &mut warn) {
            Ok(engine) => return Ok(engine),
            Err(e) => e,
        };
        let configure_failed = |e: EngineError| {
            let text = e.to_string();
            // Other errors are only logged (set_format fails as not-negotiated).
            if matches!(e, EngineError::Init(_) | EngineError::Unsupported(_)) {
                let _ = self.engine_error(e);
            }
            gst::loggable_error!(CAT, "{text}")
        };
        if !matches!(e, EngineError::Unsupported(_)) {
            return Err(configure_failed(e));
        }
        if let Some(next) = choice.fallback(backend, cfg.info.format()) {
            self.warn(format!("{e}; falling back to {}", next.label()));
            return next.configure(cfg, &mut warn).map_err(configure_failed);
        }
        if backend == Backend::V4l2 {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["backend=v4l2: {e}"]);
            return Err(gst::loggable_error!(CAT, "{e}"));
        }
        Err(configure_failed(e))
    }

    /// Finishes every frame the engine returns.
    fn push_outputs(&self, outputs: Vec<Encoded>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let obj = self.obj();
        let mut ret = gst::FlowSuccess::Ok;
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
            match out.data {
                Some(data) => {
                    if out.keyframe {
                        frame.set_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
                    }
                    frame.set_output_buffer(gst::Buffer::from_mut_slice(data));
                }
                None => gst::warning!(
                    CAT,
                    imp = self,
                    "{} encoder skipped frame {}",
                    lock(&self.active),
                    out.frame_id
                ),
            }
            ret = obj.finish_frame(frame)?;
        }
        Ok(ret)
    }

    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let outputs = {
            let mut guard = lock(&self.state);
            match guard.as_mut() {
                Some(state) => state.engine.drain().map_err(|e| self.engine_error(e))?,
                None => Vec::new(),
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
                    .blurb("auto = V4L2 hardware encoder when the device is one and the input fits it, else software; software = x264 (the system's x264enc) when installed, else OpenH264")
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
                    .blurb("Software encoder threads (0 = automatic: OpenH264 one per CPU, at most 4, x264 its own count; each OpenH264 thread, and each x264 thread with its zerolatency tuning, encodes one slice)")
                    .minimum(0)
                    .maximum(u32::from(super::software::MAX_THREADS))
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("speed-preset", SpeedPreset::default())
                    .nick("Speed preset")
                    .blurb("Speed/quality trade-off of the software engines: x264's preset of this name (with tune=zerolatency); OpenH264 complexity low (ultrafast, superfast), medium (veryfast, faster), high (fast, medium)")
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
                glib::ParamSpecBoxed::builder::<gst::Structure>("extra-controls")
                    .nick("Extra controls")
                    .blurb("v4l2h264enc's controls, mapped onto this element's properties: video_bitrate, h264_i_frame_period, repeat_sequence_header, h264_level, h264_profile, video_bitrate_mode (e.g. \"controls,repeat_sequence_header=1\")")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("active-backend")
                    .nick("Active backend")
                    .blurb("The engine in use: none, x264, openh264 or v4l2")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "extra-controls" {
            let st = value
                .get::<Option<gst::Structure>>()
                .expect("type checked upstream");
            self.apply_extra_controls(st);
            return;
        }
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
            "speed-preset" => s.speed_preset = value.get().expect("type checked upstream"),
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
            "speed-preset" => s.speed_preset.to_value(),
            "extra-controls" => s.extra_controls.to_value(),
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
                "H.264 encoder using the V4L2 M2M hardware encoder where present, else x264 (the system's x264enc) or OpenH264",
                "rpicamsrc2 developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = engine::all_sink_caps();
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
        for w in std::mem::take(&mut lock(&self.settings).extra_warnings) {
            self.warn(w);
        }
        let (chosen, why) = self.choose_backend(&s)?;
        let msg = chosen.describe(s.backend, &s.device, &why);
        // A debug-log line and an element message, not an INFO message: gst-launch-1.0 prints
        // every INFO message (with our source path), and a run should be quiet unless
        // GST_DEBUG asks (issue 17 item 8). Applications read the element message or the
        // `active-backend` property.
        gst::info!(CAT, imp = self, "{msg}");
        let structure = gst::Structure::builder("rpih264enc-backend")
            .field("backend", chosen.name())
            .field("device", s.device.as_str())
            .field("description", msg.as_str())
            .build();
        let _ = self.obj().post_message(
            gst::message::Element::builder(structure)
                .src(&*self.obj())
                .build(),
        );
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
        Ok(())
    }

    fn caps(&self, filter: Option<&gst::Caps>) -> gst::Caps {
        let tmpl = lock(&self.chosen)
            .as_ref()
            .map(|(choice, backend)| choice.sink_caps(*backend));
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
            .unwrap_or_else(|| (Choice::fastest_software().0, Backend::Software));
        let (w, h, fps) = (info.width(), info.height(), engine::fps_of(&info));
        let bitrate = if s.bitrate == 0 {
            level::auto_bitrate(w, h, fps).min(u64::from(MAX_BITRATE)) as u32
        } else {
            s.bitrate
        };

        let profile = self.pick_profile(s.profile).map_err(|e| {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["{e}"]);
            gst::loggable_error!(CAT, "{e}")
        })?;
        let cbr = s.bitrate_mode == BitrateMode::Cbr;
        let (profile, note) = chosen.adjust_profile(profile, s.profile, cbr);
        match note {
            Some(Note::Info(m)) => gst::info!(CAT, imp = self, "{m}"),
            Some(Note::Warn(m)) => self.warn(m),
            None => {}
        }

        let requested = match s.level {
            Level::Auto => None,
            l => level::level_by_idc(l as u32 as u8),
        };
        let downstream = self.downstream_levels();
        let (chosen_level, warning) = level::pick_level(
            requested,
            downstream.as_deref(),
            w,
            h,
            fps,
            u64::from(bitrate),
            profile,
        )
        .map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ("Cannot encode this input: {}", e)
            );
            gst::loggable_error!(CAT, "{e}")
        })?;
        if let Some(w) = warning {
            self.warn(w);
        }
        let level_idc = chosen_level.level_idc;

        let cfg = EngineConfig {
            info: &info,
            bitrate,
            cbr,
            iperiod: s.iperiod,
            inline_headers: s.inline_headers,
            profile,
            level_idc,
            qp: s.qp as u8,
            threads: s.threads,
            preset: s.speed_preset,
            device: &s.device,
        };
        let engine = self.start_engine(&chosen, backend_prop, &cfg)?;
        let stream = engine.stream();
        let caps = self.output_caps(stream.profile, stream.level);
        let name = engine.name();
        gst::info!(
            CAT,
            imp = self,
            "{name} encoder for {w}x{h} {} at {fps:.2} frames/s, {bitrate} bits/s: {caps}",
            info.format().to_str()
        );
        *lock(&self.active) = name;
        self.bitrate_changed.store(false, Ordering::SeqCst);

        let obj = self.obj();
        if let Some((min, max)) = engine.latency_frames() {
            let frame = gst::ClockTime::SECOND
                .mul_div_floor(1, fps.round().max(1.0) as u64)
                .unwrap_or(gst::ClockTime::ZERO);
            obj.set_latency(frame * min, Some(frame * max));
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
                level::auto_bitrate(
                    state.info.width(),
                    state.info.height(),
                    engine::fps_of(&state.info),
                ) as u32
            } else {
                b
            };
            if b != state.bitrate {
                state.bitrate = b;
                match state.engine.set_bitrate(b, &mut |w| self.warn(w)) {
                    Ok(()) => gst::info!(CAT, imp = self, "bitrate now {b} bits/s"),
                    Err(e) => self.warn(format!("could not change the bitrate to {b} bits/s: {e}")),
                }
            }
        }
        let flags = frame.flags();
        let Some(input) = frame.input_buffer_owned() else {
            gst::element_imp_error!(self, gst::CoreError::Failed, ["Frame without input buffer"]);
            return Err(gst::FlowError::Error);
        };
        let picture = Picture {
            buffer: &input,
            frame_id: frame.system_frame_number(),
            pts: frame.pts(),
            force_keyframe: flags.contains(gst_video::VideoCodecFrameFlags::FORCE_KEYFRAME),
            want_headers: flags.contains(gst_video::VideoCodecFrameFlags::FORCE_KEYFRAME_HEADERS),
        };
        // The encoder keeps the frame; push_outputs finds it again by its number.
        drop(frame);
        let outputs = state
            .engine
            .encode(picture)
            .map_err(|e| self.engine_error(e))?;
        drop(guard);
        self.push_outputs(outputs)
    }

    fn finish(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.drain()
    }

    fn flush(&self) -> bool {
        if let Some(state) = lock(&self.state).as_mut() {
            if let Err(e) = state.engine.flush() {
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
