// SPDX-License-Identifier: MPL-2.0
//! Camera controls and backend options as GObject properties: names (libcamerasrc's for the
//! controls, the backend's for its options), ranges, conversions.
//!
//! Class-wide ranges are the union of the known sensors' limits (`camera::sensor`): e.g.
//! `exposure-time` up to 670.74 s (imx477), `analogue-gain` up to 63.94 (ov5647). Once a camera
//! is configured its own limits apply and values outside them are clamped with a warning that
//! names the value and the range.

use std::sync::Mutex;

use gst::glib;
use gst::glib::translate::{from_glib, from_glib_none, IntoGlib, ToGlibPtr};
use gst::prelude::*;

use crate::camera::format::Rect;
use crate::camera::sensor;
use crate::camera::{self, OptionChoice, OptionKind, OptionSpec, OptionValue};
use crate::camera::{ControlId, ControlValue};

use super::{
    AeConstraintMode, AeExposureMode, AeFlickerMode, AeMeteringMode, AfMetering, AfMode, AfRange,
    AfSpeed, AutoManual, AwbMode, HdrMode, NoiseReductionMode,
};

/// How a property's GValue maps to a control value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Bool,
    Int,
    Float,
    Enum,
    /// A GstValueArray of this many floats.
    Floats(usize),
    /// A GstValueArray of 4 ints: x, y, width, height.
    Rect,
    /// A GstValueArray of rectangles (each a GstValueArray of 4 ints).
    Rects,
}

/// A control exposed as a property.
pub struct ControlProp {
    pub name: &'static str,
    pub id: ControlId,
    pub kind: Kind,
}

macro_rules! p {
    ($name:literal, $id:ident, $kind:expr) => {
        ControlProp {
            name: $name,
            id: ControlId::$id,
            kind: $kind,
        }
    };
}

/// Every control property, in libcamerasrc's order, then ours.
pub static CONTROL_PROPS: &[ControlProp] = &[
    p!("ae-enable", AeEnable, Kind::Bool),
    p!("ae-metering-mode", AeMeteringMode, Kind::Enum),
    p!("ae-constraint-mode", AeConstraintMode, Kind::Enum),
    p!("ae-exposure-mode", AeExposureMode, Kind::Enum),
    p!("exposure-value", ExposureValue, Kind::Float),
    p!("exposure-time", ExposureTime, Kind::Int),
    p!("exposure-time-mode", ExposureTimeMode, Kind::Enum),
    p!("analogue-gain", AnalogueGain, Kind::Float),
    p!("analogue-gain-mode", AnalogueGainMode, Kind::Enum),
    p!("ae-flicker-mode", AeFlickerMode, Kind::Enum),
    p!("ae-flicker-period", AeFlickerPeriod, Kind::Int),
    p!("brightness", Brightness, Kind::Float),
    p!("contrast", Contrast, Kind::Float),
    p!("awb-enable", AwbEnable, Kind::Bool),
    p!("awb-mode", AwbMode, Kind::Enum),
    p!("colour-gains", ColourGains, Kind::Floats(2)),
    p!("saturation", Saturation, Kind::Float),
    p!("sharpness", Sharpness, Kind::Float),
    p!(
        "colour-correction-matrix",
        ColourCorrectionMatrix,
        Kind::Floats(9)
    ),
    p!("scaler-crop", ScalerCrop, Kind::Rect),
    p!("digital-gain", DigitalGain, Kind::Float),
    p!("af-mode", AfMode, Kind::Enum),
    p!("af-range", AfRange, Kind::Enum),
    p!("af-speed", AfSpeed, Kind::Enum),
    p!("af-metering", AfMetering, Kind::Enum),
    p!("af-windows", AfWindows, Kind::Rects),
    p!("lens-position", LensPosition, Kind::Float),
    p!("gamma", Gamma, Kind::Float),
    p!("noise-reduction-mode", NoiseReductionMode, Kind::Enum),
];

/// The control property called `name`.
pub fn find(name: &str) -> Option<&'static ControlProp> {
    CONTROL_PROPS.iter().find(|p| p.name == name)
}

fn max_exposure_us() -> i32 {
    sensor::SIMULATED_SENSORS
        .iter()
        .filter_map(|m| sensor::by_model(m))
        .map(|s| s.max_frame_duration_us)
        .max()
        .unwrap_or(1_000_000)
        .min(i32::MAX as u64) as i32
}

fn max_analogue_gain() -> f32 {
    sensor::SIMULATED_SENSORS
        .iter()
        .filter_map(|m| sensor::by_model(m))
        .map(|s| s.analogue_gain.1)
        .fold(1.0, f64::max) as f32
}

fn floats(
    name: &'static str,
    nick: &'static str,
    blurb: &'static str,
    lo: f32,
    hi: f32,
) -> glib::ParamSpec {
    gst::ParamSpecArray::builder(name)
        .nick(nick)
        .blurb(blurb)
        .element_spec(
            &glib::ParamSpecFloat::builder("value")
                .minimum(lo)
                .maximum(hi)
                .build(),
        )
        .mutable_playing()
        .build()
}

fn rect_spec() -> glib::ParamSpec {
    gst::ParamSpecArray::builder("rect")
        .element_spec(&glib::ParamSpecInt::builder("coordinate").minimum(0).build())
        .build()
}

/// The control properties' specs.
pub fn pspecs() -> Vec<glib::ParamSpec> {
    let e = |name: &'static str, nick: &'static str, blurb: &'static str| (name, nick, blurb);
    let mut v = vec![
        glib::ParamSpecBoolean::builder("ae-enable")
            .nick("AE enable")
            .blurb("Automatic exposure and gain (libcamera AeEnable). Off freezes the exposure time and gain the AGC has reached")
            .default_value(true)
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("ae-metering-mode", AeMeteringMode::CentreWeighted)
            .nick("AE metering mode")
            .blurb("Which part of the image the AGC meters (libcamera AeMeteringMode)")
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("ae-constraint-mode", AeConstraintMode::Normal)
            .nick("AE constraint mode")
            .blurb("Histogram constraint of the AGC (libcamera AeConstraintMode); shadows is not in every sensor's tuning")
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("ae-exposure-mode", AeExposureMode::Normal)
            .nick("AE exposure mode")
            .blurb("How the AGC divides exposure into time and gain (libcamera AeExposureMode)")
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("exposure-value")
            .nick("Exposure value")
            .blurb("Exposure compensation in stops: the AGC target is scaled by 2^EV (libcamera ExposureValue)")
            .minimum(-8.0)
            .maximum(8.0)
            .default_value(0.0)
            .mutable_playing()
            .build(),
        glib::ParamSpecInt::builder("exposure-time")
            .nick("Exposure time")
            .blurb("Exposure time in µs (libcamera ExposureTime); 0 = automatic. A non-zero value sets exposure-time-mode to manual unless that was set too. Limited by the frame duration (1/framerate, or up to the sensor's maximum with framerate=0/1) and the sensor: imx219 11.77 s, imx477 670.74 s, imx708 112 s, ov5647 3.28 s, imx296 15.5 s")
            .minimum(0)
            .maximum(max_exposure_us())
            .default_value(0)
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("exposure-time-mode", AutoManual::Auto)
            .nick("Exposure time mode")
            .blurb("libcamera ExposureTimeMode: manual without an exposure-time freezes the current exposure")
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("analogue-gain")
            .nick("Analogue gain")
            .blurb("Analogue gain (libcamera AnalogueGain); 0 = automatic. A non-zero value sets analogue-gain-mode to manual unless that was set too. Sensor ranges: imx219 1-10.67, imx477 1-22.26, imx708 1-16, ov5647 1-63.94, imx296 1-15.85")
            .minimum(0.0)
            .maximum(max_analogue_gain())
            .default_value(0.0)
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("analogue-gain-mode", AutoManual::Auto)
            .nick("Analogue gain mode")
            .blurb("libcamera AnalogueGainMode: manual without an analogue-gain freezes the current gain")
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("ae-flicker-mode", AeFlickerMode::Off)
            .nick("AE flicker mode")
            .blurb("Flicker avoidance (libcamera AeFlickerMode); setting ae-flicker-period selects manual")
            .mutable_playing()
            .build(),
        glib::ParamSpecInt::builder("ae-flicker-period")
            .nick("AE flicker period")
            .blurb("Period of the light's flicker in µs (10000 for 50 Hz mains, 8333 for 60 Hz); exposures longer than it are whole multiples (libcamera AeFlickerPeriod)")
            .minimum(100)
            .maximum(1_000_000)
            .default_value(10_000)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("brightness")
            .nick("Brightness")
            .blurb("Brightness offset, -1 (black) to 1 (white), 0 normal (libcamera Brightness)")
            .minimum(-1.0)
            .maximum(1.0)
            .default_value(0.0)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("contrast")
            .nick("Contrast")
            .blurb("Contrast, 1 normal, 0 flat, up to 32 (libcamera Contrast)")
            .minimum(0.0)
            .maximum(32.0)
            .default_value(1.0)
            .mutable_playing()
            .build(),
        glib::ParamSpecBoolean::builder("awb-enable")
            .nick("AWB enable")
            .blurb("Automatic white balance (libcamera AwbEnable); off freezes the current colour gains")
            .default_value(true)
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("awb-mode", AwbMode::Auto)
            .nick("AWB mode")
            .blurb("Colour-temperature range the AWB searches (libcamera AwbMode; ranges from the sensor's tuning file)")
            .mutable_playing()
            .build(),
        floats("colour-gains", "Colour gains", "Manual white-balance gains <red, blue>, 0 to 32 (libcamera ColourGains); <0.0, 0.0> or empty returns to AWB", 0.0, 32.0),
        glib::ParamSpecFloat::builder("saturation")
            .nick("Saturation")
            .blurb("Colour saturation, 1 normal, 0 greyscale, up to 32 (libcamera Saturation)")
            .minimum(0.0)
            .maximum(32.0)
            .default_value(1.0)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("sharpness")
            .nick("Sharpness")
            .blurb("Sharpening strength, 1 normal, 0 none, up to 16 (libcamera Sharpness; the simulated camera accepts it without sharpening)")
            .minimum(0.0)
            .maximum(16.0)
            .default_value(1.0)
            .mutable_playing()
            .build(),
        floats("colour-correction-matrix", "Colour correction matrix", "3x3 matrix, 9 values row-major, -16 to 16 (libcamera ColourCorrectionMatrix; passed to libcamera cameras, not applied by the simulation)", -16.0, 16.0),
        gst::ParamSpecArray::builder("scaler-crop")
            .nick("Scaler crop")
            .blurb("Digital zoom: <x, y, width, height> in pixel-array pixels (libcamera ScalerCrop); empty = the whole field of view of the mode")
            .element_spec(&glib::ParamSpecInt::builder("coordinate").minimum(0).maximum(16384).build())
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("digital-gain")
            .nick("Digital gain")
            .blurb("Digital gain 1 to 4 (libcamera DigitalGain), used when exposure time and gain are both manual; the AGC sets it otherwise")
            .minimum(1.0)
            .maximum(4.0)
            .default_value(1.0)
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("af-mode", AfMode::Manual)
            .nick("AF mode")
            .blurb("Autofocus mode (libcamera AfMode; cameras with a focus lens, e.g. imx708)")
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("af-range", AfRange::Normal)
            .nick("AF range")
            .blurb("Focus range searched (libcamera AfRange); imx708: normal 0-12 dioptres, macro 3-15")
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("af-speed", AfSpeed::Normal)
            .nick("AF speed")
            .blurb("Lens movement speed (libcamera AfSpeed)")
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("af-metering", AfMetering::Auto)
            .nick("AF metering")
            .blurb("Where autofocus measures (libcamera AfMetering)")
            .mutable_playing()
            .build(),
        gst::ParamSpecArray::builder("af-windows")
            .nick("AF windows")
            .blurb("Rectangles <<x, y, width, height>, ...> in scaler-crop coordinates where AF measures with af-metering=windows (libcamera AfWindows)")
            .element_spec(&rect_spec())
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("lens-position")
            .nick("Lens position")
            .blurb("Focus in dioptres (1/distance in m; 0 = infinity) with af-mode=manual (libcamera LensPosition); imx708 0 to 15, default 1")
            .minimum(0.0)
            .maximum(32.0)
            .default_value(1.0)
            .mutable_playing()
            .build(),
        glib::ParamSpecFloat::builder("gamma")
            .nick("Gamma")
            .blurb("Gamma of the output curve, 2.2 normal (libcamera Gamma)")
            .minimum(0.1)
            .maximum(10.0)
            .default_value(2.2)
            .mutable_playing()
            .build(),
        glib::ParamSpecEnum::builder_with_default("noise-reduction-mode", NoiseReductionMode::Fast)
            .nick("Noise reduction mode")
            .blurb("Denoise (libcamera draft NoiseReductionMode; Picamera2 default fast for video)")
            .mutable_playing()
            .build(),
    ];
    let _ = e;
    // Keep CONTROL_PROPS and the specs in step.
    debug_assert_eq!(v.len(), CONTROL_PROPS.len());
    v.sort_by_key(|p| CONTROL_PROPS.iter().position(|c| c.name == p.name()));
    v
}

/// Converts a property value to a control value; `Ok(None)` means "unset" (return to auto).
///
/// Errors: a malformed array (wrong length), naming the property and what it needs.
pub fn to_control(p: &ControlProp, value: &glib::Value) -> Result<Option<ControlValue>, String> {
    Ok(match p.kind {
        Kind::Bool => value.get::<bool>().ok().map(ControlValue::Bool),
        Kind::Int => {
            let v = value.get::<i32>().unwrap_or(0);
            match p.id {
                ControlId::ExposureTime if v == 0 => None,
                _ => Some(ControlValue::I32(v)),
            }
        }
        Kind::Float => {
            let v = value.get::<f32>().unwrap_or(0.0);
            match p.id {
                ControlId::AnalogueGain if v == 0.0 => None,
                _ => Some(ControlValue::F32(v)),
            }
        }
        Kind::Enum => value
            .get::<&glib::EnumValue>()
            .ok()
            .map(|e| ControlValue::I32(e.value()))
            .or_else(|| {
                // SAFETY-free fallback: read the enum as an integer through its class.
                glib::EnumValue::from_value(value).map(|(_, e)| ControlValue::I32(e.value()))
            }),
        Kind::Floats(n) => {
            let arr = value.get::<gst::Array>().map_err(|e| e.to_string())?;
            let v: Vec<f32> = arr
                .iter()
                .filter_map(|v| {
                    v.get::<f32>()
                        .ok()
                        .or_else(|| v.get::<f64>().ok().map(|d| d as f32))
                })
                .collect();
            if v.is_empty() {
                if p.id == ControlId::ColourGains {
                    Some(ControlValue::F32Array(vec![0.0, 0.0]))
                } else {
                    None
                }
            } else if v.len() != n {
                return Err(format!(
                    "{} takes {n} numbers, got {} ({v:?})",
                    p.name,
                    v.len()
                ));
            } else {
                Some(ControlValue::F32Array(v))
            }
        }
        Kind::Rect => {
            let arr = value.get::<gst::Array>().map_err(|e| e.to_string())?;
            let v: Vec<i32> = arr.iter().filter_map(|v| v.get::<i32>().ok()).collect();
            match v.len() {
                0 => None,
                4 if v[2] > 0 && v[3] > 0 => Some(ControlValue::Rect(Rect::new(
                    v[0],
                    v[1],
                    v[2] as u32,
                    v[3] as u32,
                ))),
                _ => {
                    return Err(format!(
                        "{} takes <x, y, width, height> with a positive size, got {v:?}",
                        p.name
                    ))
                }
            }
        }
        Kind::Rects => {
            let arr = value.get::<gst::Array>().map_err(|e| e.to_string())?;
            let mut rects = Vec::new();
            for r in arr.iter() {
                let inner = r.get::<gst::Array>().map_err(|e| e.to_string())?;
                let v: Vec<i32> = inner.iter().filter_map(|v| v.get::<i32>().ok()).collect();
                if v.len() != 4 || v[2] <= 0 || v[3] <= 0 {
                    return Err(format!(
                        "{} takes rectangles <x, y, width, height>, got {v:?}",
                        p.name
                    ));
                }
                rects.push(Rect::new(v[0], v[1], v[2] as u32, v[3] as u32));
            }
            (!rects.is_empty()).then_some(ControlValue::Rects(rects))
        }
    })
}

/// The property value for a control value (`None`: the spec's default).
pub fn to_value(p: &ControlProp, pspec: &glib::ParamSpec, v: Option<&ControlValue>) -> glib::Value {
    let Some(v) = v else {
        return match p.kind {
            Kind::Floats(_) | Kind::Rect | Kind::Rects => {
                gst::Array::new(Vec::<glib::SendValue>::new()).to_value()
            }
            _ => pspec.default_value().clone(),
        };
    };
    match (p.kind, v) {
        (Kind::Bool, ControlValue::Bool(b)) => b.to_value(),
        (Kind::Int, c) => c.as_i32().unwrap_or(0).to_value(),
        (Kind::Float, c) => c.as_f32().unwrap_or(0.0).to_value(),
        (Kind::Enum, c) => {
            let n = c.as_i32().unwrap_or(0);
            glib::EnumClass::with_type(pspec.value_type())
                .and_then(|k| k.to_value(n))
                .unwrap_or_else(|| pspec.default_value().clone())
        }
        (Kind::Floats(_), ControlValue::F32Array(a)) => {
            gst::Array::new(a.iter().copied()).to_value()
        }
        (Kind::Rect, ControlValue::Rect(r)) => {
            gst::Array::new([r.x, r.y, r.width as i32, r.height as i32]).to_value()
        }
        (Kind::Rects, ControlValue::Rects(rs)) => {
            gst::Array::new(rs.iter().map(|r| {
                gst::Array::new([r.x, r.y, r.width as i32, r.height as i32]).to_send_value()
            }))
            .to_value()
        }
        _ => pspec.default_value().clone(),
    }
}

#[allow(dead_code)]
fn _enum_types_used() {
    let _ = (
        HdrMode::Off,
        AeFlickerMode::Off,
        AutoManual::Auto,
        AfSpeed::Normal,
        AfRange::Normal,
        AfMetering::Auto,
        AfMode::Manual,
        AwbMode::Auto,
        NoiseReductionMode::Off,
        AeExposureMode::Normal,
        AeConstraintMode::Normal,
        AeMeteringMode::Spot,
    );
}

/// The backend options the element offers as properties ([`camera::backend_options`] with
/// `property` set): name, nick, blurb, type, range and default as the backend declares them,
/// changeable while PLAYING.
pub fn option_pspecs() -> Vec<glib::ParamSpec> {
    camera::backend_options()
        .into_iter()
        .filter(|o| o.property)
        .map(option_pspec)
        .collect()
}

/// The backend option offered as the property `name`.
pub fn find_option(name: &str) -> Option<&'static OptionSpec> {
    camera::backend_options()
        .into_iter()
        .find(|o| o.property && o.name == name)
}

fn option_pspec(o: &'static OptionSpec) -> glib::ParamSpec {
    match o.kind {
        OptionKind::Bool { default } => glib::ParamSpecBoolean::builder(o.name)
            .nick(o.nick)
            .blurb(o.blurb)
            .default_value(default)
            .mutable_playing()
            .build(),
        OptionKind::Int { min, max, default } => glib::ParamSpecInt64::builder(o.name)
            .nick(o.nick)
            .blurb(o.blurb)
            .minimum(min)
            .maximum(max)
            .default_value(default)
            .mutable_playing()
            .build(),
        OptionKind::Double { min, max, default } => glib::ParamSpecDouble::builder(o.name)
            .nick(o.nick)
            .blurb(o.blurb)
            .minimum(min)
            .maximum(max)
            .default_value(default)
            .mutable_playing()
            .build(),
        OptionKind::Str => glib::ParamSpecString::builder(o.name)
            .nick(o.nick)
            .blurb(o.blurb)
            .mutable_playing()
            .build(),
        OptionKind::Enum {
            type_name,
            choices,
            default,
        } => {
            let t = enum_type(type_name, choices);
            let flags = glib::ParamFlags::READWRITE | gst::PARAM_FLAG_MUTABLE_PLAYING;
            // SAFETY: `t` is a registered enum type holding `default` (the table's default is
            // one of its choices); GLib copies the strings.
            unsafe {
                from_glib_none(glib::gobject_ffi::g_param_spec_enum(
                    o.name.to_glib_none().0,
                    o.nick.to_glib_none().0,
                    o.blurb.to_glib_none().0,
                    t.into_glib(),
                    default,
                    flags.into_glib(),
                ))
            }
        }
    }
}

/// The GEnum type `GstRpiCamSrc2<type_name>` with `choices`, registered on first use (GLib keeps
/// enum types and their value names for the life of the process).
fn enum_type(type_name: &str, choices: &[OptionChoice]) -> glib::Type {
    static REGISTER: Mutex<()> = Mutex::new(());
    let name = format!("GstRpiCamSrc2{type_name}");
    let _guard = crate::sync::lock(&REGISTER);
    if let Some(t) = glib::Type::from_name(&name) {
        return t;
    }
    let leak = |s: &str| -> *const std::ffi::c_char {
        std::ffi::CString::new(s).unwrap_or_default().into_raw()
    };
    let mut values: Vec<glib::gobject_ffi::GEnumValue> = choices
        .iter()
        .map(|c| glib::gobject_ffi::GEnumValue {
            value: c.value,
            value_name: leak(c.name),
            value_nick: leak(c.nick),
        })
        .collect();
    values.push(glib::gobject_ffi::GEnumValue {
        value: 0,
        value_name: std::ptr::null(),
        value_nick: std::ptr::null(),
    });
    let values: &'static [glib::gobject_ffi::GEnumValue] = Vec::leak(values);
    let cname = leak(&name);
    // SAFETY: a type name not registered yet (checked under the lock), and values terminated
    // by an all-zero entry, all leaked so that they live as long as the type.
    unsafe {
        from_glib(glib::gobject_ffi::g_enum_register_static(
            cname,
            values.as_ptr(),
        ))
    }
}

/// Converts a property value to the option's value.
pub fn to_option(o: &OptionSpec, value: &glib::Value) -> OptionValue {
    match o.kind {
        OptionKind::Bool { default } => OptionValue::Bool(value.get().unwrap_or(default)),
        OptionKind::Int { default, .. } => OptionValue::Int(value.get().unwrap_or(default)),
        OptionKind::Double { default, .. } => OptionValue::Double(value.get().unwrap_or(default)),
        OptionKind::Str => OptionValue::Str(value.get::<Option<String>>().unwrap_or(None)),
        OptionKind::Enum { default, .. } => OptionValue::Enum(
            glib::EnumValue::from_value(value).map_or(default, |(_, e)| e.value()),
        ),
    }
}

/// The property value of an option (`None`: its default).
pub fn option_to_value(pspec: &glib::ParamSpec, v: Option<&OptionValue>) -> glib::Value {
    match v {
        Some(OptionValue::Bool(b)) => b.to_value(),
        Some(OptionValue::Int(i)) => i.to_value(),
        Some(OptionValue::Double(d)) => d.to_value(),
        Some(OptionValue::Str(s)) => s.to_value(),
        Some(OptionValue::Enum(n)) => glib::EnumClass::with_type(pspec.value_type())
            .and_then(|k| k.to_value(*n))
            .unwrap_or_else(|| pspec.default_value().clone()),
        None => pspec.default_value().clone(),
    }
}
