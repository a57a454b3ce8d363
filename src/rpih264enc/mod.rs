// SPDX-License-Identifier: MPL-2.0
//! `rpih264enc`: one H.264 encoder element for every Raspberry Pi.
//!
//! It drives the V4L2 memory-to-memory encoder of the Pi 4 and earlier (bcm2835-codec,
//! `/dev/video11`) where that device exists, and software elsewhere (Pi 5, PCs): the system's
//! `x264enc` element (GPL, gst-plugins-ugly) when it is installed, driven at run time and never
//! linked, else OpenH264. See `docs/rpih264enc.md` for properties, backend choice and muxer
//! advice.
//!
//! The element (`imp`) drives one [`engine::Engine`]: [`engine::x264`], [`engine::openh264`]
//! or [`engine::v4l2`], picked when it opens. The engines own their input handling; below them
//! the pure logic lives in submodules that know nothing of GStreamer: [`level`] (H.264
//! Annex A level choice, from the property and downstream caps), [`nal`] (byte-stream helpers), [`software`] (OpenH264) and [`v4l2`]
//! (formats, strides, controls and the M2M buffer state machine). [`extra_controls`] maps
//! `v4l2h264enc`'s `extra-controls` names onto the element's properties.

use gst::glib;
use gst::prelude::*;

pub mod engine;
pub mod extra_controls;
mod imp;
pub mod level;
pub mod nal;
pub mod software;
pub mod v4l2;

glib::wrapper! {
    /// The `rpih264enc` element (a `GstVideoEncoder`).
    pub struct RpiH264Enc(ObjectSubclass<imp::RpiH264Enc>) @extends gst_video::VideoEncoder, gst::Element, gst::Object;
}

/// Which encoder implementation to use (`backend` property).
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRpiH264EncBackend")]
pub enum Backend {
    /// The V4L2 hardware encoder when `device` is an H.264 M2M encoder and the input fits it,
    /// the fastest installed software engine otherwise (as [`Backend::Software`]).
    #[default]
    #[enum_value(
        name = "Auto: hardware when present, else the fastest software engine",
        nick = "auto"
    )]
    Auto = 0,
    /// The V4L2 M2M hardware encoder only (an error when absent).
    #[enum_value(name = "V4L2 hardware encoder", nick = "v4l2")]
    V4l2 = 1,
    /// The fastest installed software engine: x264 when the `x264enc` element is registered
    /// with a rank above NONE, else OpenH264.
    #[enum_value(
        name = "Software: x264 when installed, else OpenH264",
        nick = "software"
    )]
    Software = 2,
    /// The system's `x264enc` element (an error when it is not installed).
    #[enum_value(name = "x264 (the system's x264enc element)", nick = "x264")]
    X264 = 3,
    /// OpenH264, built into this plugin.
    #[enum_value(name = "OpenH264", nick = "openh264")]
    Openh264 = 4,
}

/// Speed/quality trade-off of the software engines (`speed-preset` property). x264 takes
/// the preset of the same name (always with `tune=zerolatency`); OpenH264 maps the six onto
/// its three complexity modes (`ECOMPLEXITY_MODE`): ultrafast and superfast = low, veryfast
/// and faster = medium, fast and medium = high. The hardware encoder ignores it.
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRpiH264EncSpeedPreset")]
pub enum SpeedPreset {
    /// Fastest, lowest quality per bit.
    #[default]
    #[enum_value(name = "ultrafast", nick = "ultrafast")]
    Ultrafast = 1,
    /// x264 superfast.
    #[enum_value(name = "superfast", nick = "superfast")]
    Superfast = 2,
    /// x264 veryfast.
    #[enum_value(name = "veryfast", nick = "veryfast")]
    Veryfast = 3,
    /// x264 faster.
    #[enum_value(name = "faster", nick = "faster")]
    Faster = 4,
    /// x264 fast.
    #[enum_value(name = "fast", nick = "fast")]
    Fast = 5,
    /// x264 medium (its default): slowest here, best quality per bit.
    #[enum_value(name = "medium", nick = "medium")]
    Medium = 6,
}

impl SpeedPreset {
    /// x264's preset name (`x264enc`'s `speed-preset` nick).
    pub fn x264_name(self) -> &'static str {
        match self {
            SpeedPreset::Ultrafast => "ultrafast",
            SpeedPreset::Superfast => "superfast",
            SpeedPreset::Veryfast => "veryfast",
            SpeedPreset::Faster => "faster",
            SpeedPreset::Fast => "fast",
            SpeedPreset::Medium => "medium",
        }
    }

    /// OpenH264's `ECOMPLEXITY_MODE`: 0 = low, 1 = medium, 2 = high.
    pub fn openh264_complexity(self) -> u8 {
        match self {
            SpeedPreset::Ultrafast | SpeedPreset::Superfast => 0,
            SpeedPreset::Veryfast | SpeedPreset::Faster => 1,
            SpeedPreset::Fast | SpeedPreset::Medium => 2,
        }
    }
}

/// Rate control mode (`bitrate-mode` property).
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRpiH264EncBitrateMode")]
pub enum BitrateMode {
    /// Variable bitrate around the target (bcm2835 and rpicam-apps default).
    #[default]
    #[enum_value(name = "Variable bitrate", nick = "vbr")]
    Vbr = 0,
    /// Constant bitrate.
    #[enum_value(name = "Constant bitrate", nick = "cbr")]
    Cbr = 1,
}

/// H.264 profile (`profile` property; rpicam-vid `--profile`).
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRpiH264EncProfile")]
pub enum Profile {
    /// From downstream caps; high when downstream accepts any.
    #[default]
    #[enum_value(name = "Auto: from downstream caps, else high", nick = "auto")]
    Auto = 0,
    /// Constrained Baseline (written as baseline with constraint_set1).
    #[enum_value(name = "Baseline", nick = "baseline")]
    Baseline = 1,
    /// Main.
    #[enum_value(name = "Main", nick = "main")]
    Main = 2,
    /// High.
    #[enum_value(name = "High", nick = "high")]
    High = 3,
}

/// H.264 level (`level` property; rpicam-vid `--level`). Nicks are the level numbers.
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRpiH264EncLevel")]
pub enum Level {
    /// Smallest level of H.264 Table A-1 that holds size x frame rate and bitrate.
    #[default]
    #[enum_value(name = "Auto: from size, frame rate and bitrate", nick = "auto")]
    Auto = 0,
    /// H.264 level 1 (Table A-1).
    #[enum_value(name = "Level 1", nick = "1")]
    L1 = 10,
    /// H.264 level 1b (Table A-1).
    #[enum_value(name = "Level 1b", nick = "1b")]
    L1b = 9,
    /// H.264 level 1.1 (Table A-1).
    #[enum_value(name = "Level 1.1", nick = "1.1")]
    L1_1 = 11,
    /// H.264 level 1.2 (Table A-1).
    #[enum_value(name = "Level 1.2", nick = "1.2")]
    L1_2 = 12,
    /// H.264 level 1.3 (Table A-1).
    #[enum_value(name = "Level 1.3", nick = "1.3")]
    L1_3 = 13,
    /// H.264 level 2 (Table A-1).
    #[enum_value(name = "Level 2", nick = "2")]
    L2 = 20,
    /// H.264 level 2.1 (Table A-1).
    #[enum_value(name = "Level 2.1", nick = "2.1")]
    L2_1 = 21,
    /// H.264 level 2.2 (Table A-1).
    #[enum_value(name = "Level 2.2", nick = "2.2")]
    L2_2 = 22,
    /// H.264 level 3 (Table A-1).
    #[enum_value(name = "Level 3", nick = "3")]
    L3 = 30,
    /// H.264 level 3.1 (Table A-1).
    #[enum_value(name = "Level 3.1", nick = "3.1")]
    L3_1 = 31,
    /// H.264 level 3.2 (Table A-1).
    #[enum_value(name = "Level 3.2", nick = "3.2")]
    L3_2 = 32,
    /// H.264 level 4 (Table A-1).
    #[enum_value(name = "Level 4", nick = "4")]
    L4 = 40,
    /// H.264 level 4.1 (Table A-1).
    #[enum_value(name = "Level 4.1", nick = "4.1")]
    L4_1 = 41,
    /// H.264 level 4.2 (Table A-1).
    #[enum_value(name = "Level 4.2", nick = "4.2")]
    L4_2 = 42,
    /// H.264 level 5 (Table A-1).
    #[enum_value(name = "Level 5", nick = "5")]
    L5 = 50,
    /// H.264 level 5.1 (Table A-1).
    #[enum_value(name = "Level 5.1", nick = "5.1")]
    L5_1 = 51,
    /// H.264 level 5.2 (Table A-1).
    #[enum_value(name = "Level 5.2", nick = "5.2")]
    L5_2 = 52,
}

/// Registers `rpih264enc` with rank SECONDARY: it is a good automatic choice (encodebin,
/// autoplugging) on a Pi, but should not win over an encoder a user's system ranks PRIMARY
/// (e.g. a vendor hardware encoder on a PC); it is never a decoder-side autoplug target.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rpih264enc",
        gst::Rank::SECONDARY,
        RpiH264Enc::static_type(),
    )
}
