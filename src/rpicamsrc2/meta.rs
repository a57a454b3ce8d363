// SPDX-License-Identifier: MPL-2.0
//! Per-frame metadata on every buffer, as a GStreamer custom meta that C, Rust and Python read.
//!
//! The meta is registered under [`META_NAME`] (`RpiCamSrc2FrameMeta`) and carries a
//! GstStructure whose fields use libcamera's metadata names:
//!
//! | field | type | unit |
//! |---|---|---|
//! | `Sequence` | guint64 | frame sequence number |
//! | `SensorTimestamp` | guint64 | ns, CLOCK_MONOTONIC, start of frame |
//! | `ExposureTime` | gint | µs |
//! | `AnalogueGain` | gfloat | |
//! | `DigitalGain` | gfloat | |
//! | `ColourGains` | GstValueArray of 2 gfloat | red, blue |
//! | `ColourTemperature` | gint | K |
//! | `Lux` | gfloat | lux |
//! | `FrameDuration` | gint64 | µs |
//! | `AeState` | string | `idle`, `searching`, `converged` |
//! | `AwbState` | string | `idle`, `searching`, `converged` (absent when the camera does not report it) |
//! | `SensorBlackLevels` | GstValueArray of 4 gint | 16-bit scale |
//! | `LensPosition` | gfloat | dioptres (cameras with a focus lens) |
//! | `FocusFoM` | gint | (cameras with a focus lens) |
//! | `AfState` | gint | libcamera AfState (cameras with a focus lens) |
//!
//! C: `gst_buffer_get_custom_meta (buf, "RpiCamSrc2FrameMeta")` then
//! `gst_custom_meta_get_structure ()`. Python (PyGObject): `buf.get_custom_meta("RpiCamSrc2FrameMeta")
//! .get_structure()`. Rust: [`frame_metadata`].

use gst::glib;

use crate::camera::{AeState, AwbState, FrameMetadata};

/// Name the meta is registered under.
pub const META_NAME: &str = "RpiCamSrc2FrameMeta";

/// Registers the custom meta (idempotent, and safe when the plugin is registered from two
/// threads at once: checking and registering are one step, so GLib never sees the meta's type
/// registered twice).
pub fn register() {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        if !gst::meta::CustomMeta::is_registered(META_NAME) {
            gst::meta::CustomMeta::register(META_NAME, &[]);
        }
    });
}

/// The metadata as a structure named `name` (the meta's fields; element messages use the same).
pub fn to_structure(name: &str, m: &FrameMetadata) -> gst::Structure {
    let mut s = gst::Structure::builder(name)
        .field("Sequence", m.sequence)
        .field("SensorTimestamp", m.sensor_timestamp_ns)
        .field("ExposureTime", m.exposure_time_us as i32)
        .field("AnalogueGain", m.analogue_gain)
        .field("DigitalGain", m.digital_gain)
        .field(
            "ColourGains",
            gst::Array::new([m.colour_gains[0], m.colour_gains[1]]),
        )
        .field("ColourTemperature", m.colour_temperature_k as i32)
        .field("Lux", m.lux)
        .field("FrameDuration", m.frame_duration_us as i64)
        .field("AeState", m.ae_state.name())
        .field("SensorBlackLevels", gst::Array::new(m.sensor_black_levels))
        .build();
    if let Some(a) = m.awb_state {
        s.set("AwbState", a.name());
    }
    if let Some(l) = m.lens_position {
        s.set("LensPosition", l);
    }
    if let Some(f) = m.focus_fom {
        s.set("FocusFoM", f);
    }
    if let Some(a) = m.af_state {
        s.set("AfState", a);
    }
    s
}

/// Attaches `m` to `buffer`.
///
/// Errors: the meta could not be added (not registered).
pub fn attach(buffer: &mut gst::BufferRef, m: &FrameMetadata) -> Result<(), glib::BoolError> {
    let mut meta = gst::meta::CustomMeta::add(buffer, META_NAME)?;
    let s = meta.mut_structure();
    for (k, v) in to_structure(META_NAME, m).iter() {
        s.set_value(k, v.clone());
    }
    Ok(())
}

/// Reads the metadata back from a buffer rpicamsrc2 produced; `None` if it has none.
pub fn frame_metadata(buffer: &gst::BufferRef) -> Option<FrameMetadata> {
    let meta = gst::meta::CustomMeta::from_buffer(buffer, META_NAME).ok()?;
    let s = meta.structure();
    let arr_f = |k: &str| -> Option<Vec<f32>> {
        let a = s.get::<gst::Array>(k).ok()?;
        a.iter().map(|v| v.get::<f32>().ok()).collect()
    };
    let gains = arr_f("ColourGains").unwrap_or_default();
    let black: Vec<i32> = s
        .get::<gst::Array>("SensorBlackLevels")
        .ok()
        .map(|a| a.iter().filter_map(|v| v.get::<i32>().ok()).collect())
        .unwrap_or_default();
    Some(FrameMetadata {
        sequence: s.get("Sequence").ok()?,
        sensor_timestamp_ns: s.get("SensorTimestamp").ok()?,
        exposure_time_us: s.get::<i32>("ExposureTime").ok()?.max(0) as u32,
        analogue_gain: s.get("AnalogueGain").ok()?,
        digital_gain: s.get("DigitalGain").ok()?,
        colour_gains: [
            gains.first().copied().unwrap_or(0.0),
            gains.get(1).copied().unwrap_or(0.0),
        ],
        colour_temperature_k: s.get::<i32>("ColourTemperature").ok()?.max(0) as u32,
        lux: s.get("Lux").ok()?,
        frame_duration_us: s.get::<i64>("FrameDuration").ok()?.max(0) as u64,
        ae_state: match s.get::<&str>("AeState").ok()? {
            "converged" => AeState::Converged,
            "searching" => AeState::Searching,
            _ => AeState::Idle,
        },
        awb_state: s.get::<&str>("AwbState").ok().and_then(AwbState::from_name),
        lens_position: s.get("LensPosition").ok(),
        focus_fom: s.get("FocusFoM").ok(),
        af_state: s.get("AfState").ok(),
        sensor_black_levels: [
            black.first().copied().unwrap_or(0),
            black.get(1).copied().unwrap_or(0),
            black.get(2).copied().unwrap_or(0),
            black.get(3).copied().unwrap_or(0),
        ],
        sensor_temperature: None,
    })
}
