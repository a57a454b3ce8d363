// SPDX-License-Identifier: MPL-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! rpicamsrc2: a GStreamer plugin for Raspberry Pi cameras on the libcamera stack.
//!
//! * [`camera`]: the camera model (sensor modes, mode choice, stream configuration,
//!   controls, per-frame metadata, the backend trait and the simulated camera). It knows
//!   nothing of GStreamer.
//! * The elements (`rpicamsrc2`, `rpih264enc`) know nothing of a particular backend.

use gst::glib;

pub mod camera;
pub mod deviceprovider;
pub mod rpicamsrc2;
pub mod rpicircularsink;
pub mod rpih264enc;
pub(crate) mod sync;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    rpicamsrc2::register(plugin)?;
    rpih264enc::register(plugin)?;
    deviceprovider::register(plugin)?;
    rpicircularsink::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    rpicamsrc2,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL-2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
