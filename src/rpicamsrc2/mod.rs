// SPDX-License-Identifier: MPL-2.0
//! `rpicamsrc2`: a live source for Raspberry Pi cameras.
//!
//! Negotiates sensor modes and caps (framerate-aware), exposes every camera control as a
//! property (libcamerasrc's names, real ranges, changeable while PLAYING), and puts per-frame
//! metadata on every buffer ([`meta`]). It talks to cameras only through
//! [`crate::camera::CameraBackend`].
//!
//! Modules: `imp` (the element: camera open/close, pads, state changes), `settings` (its own
//! settings and their properties), `props` (controls and backend options as properties),
//! `negotiate` (pure: modes and downstream caps to a camera configuration and each pad's
//! stream), `pad` ([`RpiCamSrcPad`]: one stream's queue, decimation, task and counters),
//! `capture` (the capture thread), `still` (the still pad and the wait for AE/AWB),
//! `watchdog` (its stall watchdog), `controls` (the controls
//! the user set), `query` (the pads' queries and events), `stats` (the `statistics`
//! structure), `caps` (caps and format mapping), `memory` (camera buffers as GstMemory).

use std::sync::LazyLock;

use gst::glib;
use gst::prelude::*;

pub(crate) mod caps;
mod capture;
mod compat;
mod controls;
mod imp;
mod memory;
pub mod meta;
mod negotiate;
mod pad;
mod props;
mod query;
mod settings;
mod stats;
mod still;
mod watchdog;

pub use pad::RpiCamSrcPad;
pub use stats::PadStats;

/// The element's debug category (`GST_DEBUG=rpicamsrc2:5`), shared by its modules.
static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rpicamsrc2",
        gst::DebugColorFlags::empty(),
        Some("Raspberry Pi camera source"),
    )
});

glib::wrapper! {
    /// The `rpicamsrc2` element.
    pub struct RpiCamSrc2(ObjectSubclass<imp::RpiCamSrc2>)
        @extends gst::Element, gst::Object, @implements gst::ChildProxy;
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
    /// libcamerasrc's `stream-role` pad property (libcamera StreamRole, same values and nicks):
    /// `raw` is the raw Bayer stream, the others a processed one.
    #[derive(Default)]
    PadStreamRole, "GstRpiCamSrc2StreamRole", {
    /// Raw Bayer from the sensor.
    Raw = 0, "libcamera::Raw", "raw";
    /// Still capture.
    StillCapture = 1, "libcamera::StillCapture", "still-capture";
    /// Video recording (libcamerasrc's default).
    #[default]
    VideoRecording = 2, "libcamera::VideoRecording", "video-recording";
    /// Viewfinder.
    Viewfinder = 3, "libcamera::Viewfinder", "view-finder";
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
