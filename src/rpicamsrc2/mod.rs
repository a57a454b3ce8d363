// SPDX-License-Identifier: MPL-2.0
//! `rpicamsrc2`: a live source for Raspberry Pi cameras.
//!
//! Negotiates sensor modes and caps (framerate-aware), exposes every camera control as a
//! property (libcamerasrc's names, real ranges, changeable while PLAYING), and puts per-frame
//! metadata on every buffer ([`meta`]). It talks to cameras only through
//! [`crate::camera::CameraBackend`].

use gst::glib;
use gst::prelude::*;

mod caps;
mod imp;
mod memory;
pub mod meta;
mod props;

glib::wrapper! {
    /// The `rpicamsrc2` element.
    pub struct RpiCamSrc2(ObjectSubclass<imp::RpiCamSrc2>) @extends gst::Element, gst::Object;
}

macro_rules! libcamera_enum {
    ($(#[$m:meta])* $name:ident, $gname:literal, { $($(#[$vm:meta])* $v:ident = $n:literal, $vname:literal, $nick:literal;)* }) => {
        $(#[$m])*
        #[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
        #[repr(i32)]
        #[enum_type(name = $gname)]
        pub enum $name {
            $(
                $(#[$vm])*
                #[enum_value(name = $vname, nick = $nick)]
                $v = $n,
            )*
        }
    };
}

libcamera_enum!(
    /// libcamera AeMeteringMode.
    AeMeteringMode, "GstRpiCamSrc2AeMeteringMode", {
    /// Centre-weighted.
    CentreWeighted = 0, "Centre-weighted metering", "centre-weighted";
    /// Spot.
    Spot = 1, "Spot metering", "spot";
    /// Matrix (whole image).
    Matrix = 2, "Matrix metering", "matrix";
    /// Custom (tuning-defined).
    Custom = 3, "Custom metering", "custom";
});

libcamera_enum!(
    /// libcamera AeConstraintMode.
    AeConstraintMode, "GstRpiCamSrc2AeConstraintMode", {
    /// Normal.
    Normal = 0, "Normal", "normal";
    /// Keep highlights from clipping.
    Highlight = 1, "Highlight", "highlight";
    /// Lift shadows.
    Shadows = 2, "Shadows", "shadows";
    /// Custom.
    Custom = 3, "Custom", "custom";
});

libcamera_enum!(
    /// libcamera AeExposureMode (the AGC's stage table).
    AeExposureMode, "GstRpiCamSrc2AeExposureMode", {
    /// Normal.
    Normal = 0, "Normal exposures", "normal";
    /// Short exposures (sport).
    Short = 1, "Short exposures", "short";
    /// Long exposures.
    Long = 2, "Long exposures", "long";
    /// Custom.
    Custom = 3, "Custom exposures", "custom";
});

libcamera_enum!(
    /// libcamera ExposureTimeMode / AnalogueGainMode.
    AutoManual, "GstRpiCamSrc2AutoManual", {
    /// The AGC sets it.
    Auto = 0, "Automatic", "auto";
    /// The application sets it.
    Manual = 1, "Manual", "manual";
});

libcamera_enum!(
    /// libcamera AeFlickerMode.
    AeFlickerMode, "GstRpiCamSrc2AeFlickerMode", {
    /// No flicker avoidance.
    Off = 0, "Off", "off";
    /// Avoid flicker of ae-flicker-period.
    Manual = 1, "Manual period", "manual";
});

libcamera_enum!(
    /// libcamera AwbMode.
    AwbMode, "GstRpiCamSrc2AwbMode", {
    /// Any light (2500-8000 K on most sensors).
    Auto = 0, "Auto", "auto";
    /// Incandescent (2500-3000 K).
    Incandescent = 1, "Incandescent", "incandescent";
    /// Tungsten (3000-3500 K).
    Tungsten = 2, "Tungsten", "tungsten";
    /// Fluorescent (4000-4700 K).
    Fluorescent = 3, "Fluorescent", "fluorescent";
    /// Indoor (3000-5000 K).
    Indoor = 4, "Indoor", "indoor";
    /// Daylight (5500-6500 K).
    Daylight = 5, "Daylight", "daylight";
    /// Cloudy (7000-8600 K).
    Cloudy = 6, "Cloudy", "cloudy";
    /// Custom.
    Custom = 7, "Custom", "custom";
});

libcamera_enum!(
    /// libcamera AfMode.
    AfMode, "GstRpiCamSrc2AfMode", {
    /// Lens at lens-position.
    Manual = 0, "Manual", "manual";
    /// One focus scan when set.
    Auto = 1, "Auto (single scan)", "auto";
    /// Keep focusing.
    Continuous = 2, "Continuous", "continuous";
});

libcamera_enum!(
    /// libcamera AfRange.
    AfRange, "GstRpiCamSrc2AfRange", {
    /// Normal range.
    Normal = 0, "Normal", "normal";
    /// Close-up.
    Macro = 1, "Macro", "macro";
    /// Everything.
    Full = 2, "Full", "full";
});

libcamera_enum!(
    /// libcamera AfSpeed.
    AfSpeed, "GstRpiCamSrc2AfSpeed", {
    /// Normal.
    Normal = 0, "Normal", "normal";
    /// Fast.
    Fast = 1, "Fast", "fast";
});

libcamera_enum!(
    /// libcamera AfMetering.
    AfMetering, "GstRpiCamSrc2AfMetering", {
    /// The IPA chooses.
    Auto = 0, "Auto", "auto";
    /// af-windows.
    Windows = 1, "Windows", "windows";
});

libcamera_enum!(
    /// libcamera HdrMode.
    HdrMode, "GstRpiCamSrc2HdrMode", {
    /// Off.
    Off = 0, "Off", "off";
    /// Unmerged multi-exposure.
    MultiExposureUnmerged = 1, "Multi-exposure, unmerged", "multi-exposure-unmerged";
    /// Merged multi-exposure.
    MultiExposure = 2, "Multi-exposure", "multi-exposure";
    /// Single exposure (imx708: the sensor's own HDR mode).
    SingleExposure = 3, "Single exposure", "single-exposure";
    /// Night.
    Night = 4, "Night", "night";
});

libcamera_enum!(
    /// libcamera NoiseReductionMode (draft).
    NoiseReductionMode, "GstRpiCamSrc2NoiseReductionMode", {
    /// Off.
    Off = 0, "Off", "off";
    /// Fast.
    Fast = 1, "Fast", "fast";
    /// High quality.
    HighQuality = 2, "High quality", "high-quality";
    /// Minimal.
    Minimal = 3, "Minimal", "minimal";
    /// Zero shutter lag.
    Zsl = 4, "ZSL", "zsl";
});

/// Registers `rpicamsrc2` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    meta::register();
    gst::Element::register(
        Some(plugin),
        "rpicamsrc2",
        // NONE: autovideosrc must not pick the simulated camera on a machine with no camera.
        gst::Rank::NONE,
        RpiCamSrc2::static_type(),
    )
}
