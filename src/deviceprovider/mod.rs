// SPDX-License-Identifier: MPL-2.0
//! `rpicamsrc2deviceprovider`: device discovery for `gst-device-monitor-1.0 Video/Source`,
//! `GstDeviceMonitor` and the applications built on it.
//!
//! Each camera the registry lists for discovery ([`crate::camera::discoverable_cameras`]) is a
//! [`RpiCamDevice`]:
//! * caps: one structure per sensor mode at the mode's size with its frame-rate range
//!   (the camera is opened briefly to read them; a camera another process holds shows the
//!   element's template caps instead);
//! * properties (`camera-properties`): `camera-name` (what `rpicamsrc2` takes),
//!   `api.libcamera.id` (real cameras), `api.libcamera.Model`, `api.libcamera.Location` and
//!   `location`, `api.libcamera.Rotation` (degrees), `simulated`;
//! * `create_element`: an `rpicamsrc2` with `camera-name` set, so the launch line
//!   `gst-device-monitor-1.0` prints runs as printed.
//!
//! While started, the provider reports cameras that come and go (the registry's
//! [`crate::camera::watch_cameras`]: at once when libcamera signals hotplug, and a read of the
//! list every [`POLL_INTERVAL`]). The simulated cameras are listed only when
//! `RPICAMSRC2_SIM_DEVICES` asks for them ([`crate::camera::SIM_DEVICES_ENV`]), so a machine
//! without a camera shows nothing. Rank MARGINAL: below libcamera's own provider (PRIMARY), and
//! the lowest rank `GstDeviceMonitor` still asks.

use std::sync::LazyLock;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;

mod imp;

/// How often the provider, while started, reads the camera list again to report cameras that
/// came or went, besides the backends' own hotplug signals.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The provider's debug category (`GST_DEBUG=rpicamsrc2deviceprovider:5`).
static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rpicamsrc2deviceprovider",
        gst::DebugColorFlags::empty(),
        Some("Raspberry Pi camera device provider"),
    )
});

glib::wrapper! {
    /// The device provider listing the cameras for `rpicamsrc2`.
    pub struct RpiCamDeviceProvider(ObjectSubclass<imp::RpiCamDeviceProvider>)
        @extends gst::DeviceProvider, gst::Object;
}

glib::wrapper! {
    /// One camera, as the device provider lists it.
    pub struct RpiCamDevice(ObjectSubclass<imp::RpiCamDevice>) @extends gst::Device, gst::Object;
}

impl RpiCamDevice {
    /// The `camera-name` that opens this camera in `rpicamsrc2`.
    pub fn camera_name(&self) -> String {
        use gst::subclass::prelude::*;
        self.imp().camera_name()
    }
}

/// Registers `rpicamsrc2deviceprovider` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::DeviceProvider::register(
        Some(plugin),
        "rpicamsrc2deviceprovider",
        gst::Rank::MARGINAL,
        RpiCamDeviceProvider::static_type(),
    )
}
