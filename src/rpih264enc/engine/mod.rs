// SPDX-License-Identifier: MPL-2.0
//! The encoder engines behind `rpih264enc`, and the one trait the element drives them by.
//!
//! [`Engine`] is configured once per input format ([`Engine::configure`]), encodes every
//! picture ([`Engine::encode`]), drains at EOS and before a format change ([`Engine::drain`])
//! and drops what it holds on a flush ([`Engine::flush`]). Three implementations:
//! [`x264::X264Engine`] (software: the system's `x264enc` element, where installed),
//! [`openh264::Openh264Engine`] (software, built in, every machine) and [`v4l2::V4l2Engine`]
//! (the bcm2835-codec M2M encoder of the Pi 0-4). Each owns its input handling: x264 gets the
//! buffer itself (no copy), OpenH264 the frame's mapped planes, the V4L2 one imports the
//! dma-buf or copies into the device's buffers. The element knows only this module's types; which engine runs is a
//! [`Choice`] made when the element opens.

use std::sync::LazyLock;

use super::level::H264Profile;
use super::v4l2::sys::Device;
use super::{Backend, Profile, SpeedPreset};

pub mod openh264;
pub mod v4l2;
pub mod x264;

/// The element's debug category, shared by the engines.
pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rpih264enc",
        gst::DebugColorFlags::empty(),
        Some("Raspberry Pi H.264 encoder"),
    )
});

/// What the element asks of an engine for one input format.
#[derive(Debug, Clone)]
pub struct EngineConfig<'a> {
    /// The input: format, size, frame rate, strides and colorimetry from the sink caps.
    pub info: &'a gst_video::VideoInfo,
    /// Target bitrate, bits/s.
    pub bitrate: u32,
    /// Constant instead of variable bitrate.
    pub cbr: bool,
    /// Frames from one IDR to the next; 0 = only the first frame.
    pub iperiod: u32,
    /// Repeat SPS/PPS before every IDR.
    pub inline_headers: bool,
    /// Profile to write.
    pub profile: H264Profile,
    /// `level_idc` to write (9 = level 1b).
    pub level_idc: u8,
    /// Constant quantiser 1..=51, or 0 for rate control.
    pub qp: u8,
    /// Software encoder threads (`threads` property; 0 = number of CPUs for OpenH264,
    /// x264's automatic count for x264).
    pub threads: u32,
    /// Speed/quality trade-off of the software engines.
    pub preset: SpeedPreset,
    /// V4L2 device node (`device` property).
    pub device: &'a str,
}

/// One picture handed to [`Engine::encode`].
#[derive(Debug)]
pub struct Picture<'a> {
    /// The raw picture, laid out as the configured `VideoInfo` (or its `VideoMeta`) says.
    pub buffer: &'a gst::Buffer,
    /// The codec frame's system frame number; comes back in [`Encoded::frame_id`].
    pub frame_id: u32,
    /// Presentation time (rate control of the software engine).
    pub pts: Option<gst::ClockTime>,
    /// Make this picture an IDR.
    pub force_keyframe: bool,
    /// Put SPS/PPS in front of this picture even when `inline-headers` is off.
    pub want_headers: bool,
}

/// One finished frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The [`Picture::frame_id`] it was encoded from.
    pub frame_id: u32,
    /// Annex B access unit; `None` when the engine skipped the picture.
    pub data: Option<Vec<u8>>,
    /// An IDR picture (sync point).
    pub keyframe: bool,
}

/// The profile and level of the stream an engine writes (for the source caps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamInfo {
    /// Profile.
    pub profile: H264Profile,
    /// Level as named in caps (`"4.1"`, `"1b"`).
    pub level: &'static str,
}

/// Errors of the engines; the element turns each kind into its GStreamer error.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The encoder library could not start (a LIBRARY `Init` error).
    #[error("{0}")]
    Init(String),
    /// This engine cannot take this input or these settings (a negotiation error; at
    /// configure time the element may fall back to the software engine).
    #[error("{0}")]
    Unsupported(String),
    /// The input buffer could not be mapped.
    #[error("Cannot map the input frame")]
    Map,
    /// Encoding or draining failed; the text names the engine and the cause.
    #[error("{0}")]
    Encode(String),
}

/// An H.264 encoder engine.
pub trait Engine: Send {
    /// Starts an engine for one input format. `warn` receives what the user should hear
    /// about (settings the engine had to change), in order.
    fn configure(cfg: &EngineConfig<'_>, warn: &mut dyn FnMut(String)) -> Result<Self, EngineError>
    where
        Self: Sized;

    /// `"x264"`, `"openh264"` or `"v4l2"` (the `active-backend` property).
    fn name(&self) -> &'static str;

    /// The profile and level written.
    fn stream(&self) -> StreamInfo;

    /// Pictures the engine holds before their output comes back (minimum, maximum), or `None`
    /// when each picture is finished within its own [`Engine::encode`] call.
    fn latency_frames(&self) -> Option<(u64, u64)>;

    /// Changes the target bitrate (bits/s) of the running engine.
    fn set_bitrate(&mut self, bitrate: u32, warn: &mut dyn FnMut(String)) -> Result<(), String>;

    /// Encodes one picture; returns the frames finished by now, in decode order (for the V4L2
    /// engine usually earlier pictures).
    fn encode(&mut self, picture: Picture<'_>) -> Result<Vec<Encoded>, EngineError>;

    /// Finishes every picture still held (EOS, format change).
    fn drain(&mut self) -> Result<Vec<Encoded>, EngineError>;

    /// Drops every picture still held (flushing seek); the engine encodes again afterwards.
    fn flush(&mut self) -> Result<(), EngineError>;
}

/// Something the element should report about a setting it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Informational (debug log).
    Info(String),
    /// A warning for the user (warning message on the bus).
    Warn(String),
}

/// The engine picked when the element opens, from the `backend` property and a probe of
/// the `device`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// OpenH264, built in.
    Openh264,
    /// The system's `x264enc` element.
    X264,
    /// The V4L2 M2M encoder at `path`, whose card name is `card`.
    V4l2 {
        /// Device node.
        path: String,
        /// `VIDIOC_QUERYCAP` card name.
        card: String,
        /// The frame sizes the driver reports (`VIDIOC_ENUM_FRAMESIZES`), if it does.
        sizes: Option<super::v4l2::device::FrameSizes>,
    },
}

impl Choice {
    /// The hardware engine when `device` is an H.264 M2M encoder; the error says why not.
    pub fn probe_hardware(device: &str) -> Result<Choice, String> {
        v4l2::probe(device).map(|(card, sizes)| Choice::V4l2 {
            path: device.to_string(),
            card,
            sizes,
        })
    }

    /// The fastest software engine installed, and why it was picked: x264 when `x264enc` is
    /// registered with a rank above NONE, else OpenH264.
    pub fn fastest_software() -> (Choice, String) {
        match x264::available(true) {
            Ok(()) => (
                Choice::X264,
                "the fastest software engine installed".to_string(),
            ),
            Err(why) => (Choice::Openh264, why),
        }
    }

    /// The message the element posts on open. `backend` and `device` are the properties,
    /// `why` says why a software engine was picked (from [`Choice::fastest_software`]).
    pub fn describe(&self, backend: Backend, device: &str, why: &str) -> String {
        let because = match backend {
            Backend::Auto => format!("; {device} is not an H.264 V4L2 encoder"),
            Backend::V4l2 => String::new(),
            Backend::Software => " (backend=software)".to_string(),
            Backend::X264 => " (backend=x264)".to_string(),
            Backend::Openh264 => " (backend=openh264)".to_string(),
        };
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(": {why}")
        };
        match self {
            Choice::X264 => format!(
                "rpih264enc: using the software encoder x264 (the system's x264enc){why}{because}"
            ),
            Choice::Openh264 => {
                format!("rpih264enc: using the software encoder OpenH264{why}{because}")
            }
            Choice::V4l2 { path, card, .. } => {
                format!("rpih264enc: using the V4L2 hardware encoder {path} ({card})")
            }
        }
    }

    /// How messages name this engine (`"the software encoder"`).
    pub fn label(&self) -> &'static str {
        match self {
            Choice::X264 => "the software encoder x264",
            Choice::Openh264 => "the software encoder OpenH264",
            Choice::V4l2 { .. } => "the V4L2 hardware encoder",
        }
    }

    /// `"x264"`, `"openh264"` or `"v4l2"`, as [`Engine::name`] says.
    pub fn name(&self) -> &'static str {
        match self {
            Choice::X264 => "x264",
            Choice::Openh264 => "openh264",
            Choice::V4l2 { .. } => "v4l2",
        }
    }

    /// The engine to start instead when this one cannot take the input (an
    /// [`EngineError::Unsupported`] from [`Choice::configure`]): with `backend=auto`, the
    /// fastest software engine if it takes `format`; otherwise none.
    pub fn fallback(&self, backend: Backend, format: gst_video::VideoFormat) -> Option<Choice> {
        match self {
            Choice::V4l2 { .. } if backend == Backend::Auto && openh264::accepts(format) => {
                Some(Choice::fastest_software().0)
            }
            _ => None,
        }
    }

    /// Raw caps the chosen engine takes (the hardware's narrowed to the sizes its driver
    /// reports); with `backend=auto` on hardware, also those the software fallback takes.
    pub fn sink_caps(&self, backend: Backend) -> gst::Caps {
        match (self, backend) {
            (Choice::Openh264, _) => openh264::sink_caps(),
            (Choice::X264, _) => x264::sink_caps(),
            (Choice::V4l2 { sizes, .. }, Backend::V4l2) => v4l2::sink_caps_reported(sizes.as_ref()),
            (Choice::V4l2 { sizes, .. }, _) => {
                let mut c = v4l2::sink_caps_reported(sizes.as_ref());
                c.merge(Choice::fastest_software().0.sink_caps(Backend::Software));
                c
            }
        }
    }

    /// Adjusts the profile picked from the property and downstream to what the engine can
    /// honour with these settings (`requested` is the `profile` property).
    pub fn adjust_profile(
        &self,
        picked: H264Profile,
        requested: Profile,
        cbr: bool,
    ) -> (H264Profile, Option<Note>) {
        match self {
            Choice::Openh264 | Choice::X264 => (picked, None),
            Choice::V4l2 { .. } => v4l2::adjust_profile(picked, requested, cbr),
        }
    }

    /// Starts the chosen engine.
    pub fn configure(
        &self,
        cfg: &EngineConfig<'_>,
        warn: &mut dyn FnMut(String),
    ) -> Result<Box<dyn Engine>, EngineError> {
        Ok(match self {
            Choice::Openh264 => Box::new(openh264::Openh264Engine::configure(cfg, warn)?),
            Choice::X264 => Box::new(x264::X264Engine::configure(cfg, warn)?),
            Choice::V4l2 { path, .. } => {
                let cfg = EngineConfig {
                    device: path,
                    ..cfg.clone()
                };
                Box::new(v4l2::V4l2Engine::<Device>::configure(&cfg, warn)?)
            }
        })
    }
}

/// Every raw format either engine takes (the sink pad template).
pub fn all_sink_caps() -> gst::Caps {
    let mut sink = openh264::sink_caps();
    sink.merge(v4l2::sink_caps());
    sink
}

/// Raw video caps of `formats` (GStreamer names), `min..=max` pixels wide and high.
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

/// The frame rate of the caps, frames/s; 30 when they give none (variable rate).
pub fn fps_of(info: &gst_video::VideoInfo) -> f64 {
    let f = info.fps();
    if f.numer() > 0 && f.denom() > 0 {
        f.numer() as f64 / f.denom() as f64
    } else {
        30.0
    }
}

#[cfg(test)]
impl<'a> EngineConfig<'a> {
    /// A configuration for the engines' tests: 1 Mbit/s VBR, IDR every 60 frames, level 3,
    /// one thread, `/dev/video11`.
    pub(crate) fn for_test(info: &'a gst_video::VideoInfo, profile: H264Profile) -> Self {
        EngineConfig {
            info,
            bitrate: 1_000_000,
            cbr: false,
            iperiod: 60,
            inline_headers: false,
            profile,
            level_idc: 30,
            qp: 0,
            threads: 1,
            preset: SpeedPreset::Ultrafast,
            device: "/dev/video11",
        }
    }
}
