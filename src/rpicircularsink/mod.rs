// SPDX-License-Identifier: MPL-2.0
//! `rpicircularsink`: pre-trigger circular recording, like rpicam-vid `--circular` and
//! Picamera2's `CircularOutput2`.
//!
//! Placed after an encoder and parser (`rpih264enc ! h264parse ! rpicircularsink`), it keeps
//! the last `pre-duration` of encoded video in memory (a ring that starts at a key frame and
//! never holds more than `max-size-bytes`). On a trigger (the `trigger` action signal, or a
//! custom event `rpicircularsink-trigger` sent downstream from upstream or to the element) it
//! writes the ring and the next `post-duration` to a fragmented MP4 (`mp4mux
//! fragment-duration`, `filesink`, both inside this bin): each fragment is on disk as soon as
//! it is complete, so a power cut loses at most the last fragment.
//!
//! Repeat triggers: a trigger while a file is being written extends that file to the trigger
//! plus `post-duration`; a trigger after the file was closed starts the next file (`location`
//! is a printf pattern with the file index, e.g. `event%05d.mp4`). Each file posts element
//! messages `rpicircularsink-started` (location, trigger-running-time, start-running-time, ns)
//! and `rpicircularsink-done` (location, start-running-time, end-running-time, buffers) once it
//! is closed.
//!
//! Modules: `imp` (the bin: sink pad, properties, the recording branch), `ring` (the ring,
//! pure).

use gst::glib;
use gst::prelude::*;

mod imp;
mod ring;

glib::wrapper! {
    /// The `rpicircularsink` element.
    pub struct RpiCircularSink(ObjectSubclass<imp::RpiCircularSink>) @extends gst::Bin, gst::Element, gst::Object;
}

/// Registers `rpicircularsink` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rpicircularsink",
        gst::Rank::NONE,
        RpiCircularSink::static_type(),
    )
}
