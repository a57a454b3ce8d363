// SPDX-License-Identifier: MPL-2.0
//! Camera controls and backend options as GObject properties: names (libcamerasrc's for the
//! controls, the backend's for its options), ranges, conversions.
//!
//! Both come from the camera model's tables: the control table
//! ([`crate::camera::controls::CONTROLS`]: names, nicks, blurbs, ranges, defaults; class-wide
//! ranges are the union of the known sensors' limits) and the backends' option tables
//! ([`crate::camera::backend_options`]). Once a camera is configured its own limits apply and
//! values outside them are clamped with a warning that names the value and the range.

use std::sync::Mutex;

use gst::glib;
use gst::glib::translate::{from_glib, from_glib_none, IntoGlib, ToGlibPtr};
use gst::prelude::*;

use crate::camera::controls::{self, Choice, ControlDef, ControlKind};
use crate::camera::format::Rect;
use crate::camera::{self, ControlId, ControlValue, OptionKind, OptionSpec, OptionValue};

/// A control offered as a property: its entry in the camera model's control table.
pub use crate::camera::controls::ControlDef as ControlProp;

/// The control property called `name`.
pub fn find(name: &str) -> Option<&'static ControlProp> {
    controls::by_name(name)
}

/// An array property. It carries no element spec, on purpose: GStreamer's deserializer (1.22,
/// `gst_value_deserialize_with_pspec`) casts the element spec of an array nested deeper than
/// the spec says (`colour-gains='<<1,2>>'`) to an array spec and crashes (SIGSEGV in
/// gst-launch-1.0), and an array spec inside an array spec refuses well-formed rectangles.
/// Without one, any nesting parses, and [`to_control`] checks the shape and each number's
/// range and answers a wrong one with an error naming the value.
fn array_pspec(d: &ControlDef) -> glib::ParamSpec {
    gst::ParamSpecArray::builder(d.name)
        .nick(d.nick)
        .blurb(d.blurb)
        .mutable_playing()
        .build()
}

/// The control properties' specs, from the camera model's control table (names, nicks, blurbs,
/// ranges and defaults as declared there), in table order.
pub fn pspecs() -> Vec<glib::ParamSpec> {
    controls::CONTROLS.iter().map(control_pspec).collect()
}

fn control_pspec(d: &ControlDef) -> glib::ParamSpec {
    match d.kind {
        ControlKind::Bool { default } => glib::ParamSpecBoolean::builder(d.name)
            .nick(d.nick)
            .blurb(d.blurb)
            .default_value(default)
            .mutable_playing()
            .build(),
        ControlKind::Int { min, max, default } => glib::ParamSpecInt::builder(d.name)
            .nick(d.nick)
            .blurb(d.blurb)
            .minimum(min)
            .maximum(max)
            .default_value(default)
            .mutable_playing()
            .build(),
        ControlKind::Float { min, max, default } => glib::ParamSpecFloat::builder(d.name)
            .nick(d.nick)
            .blurb(d.blurb)
            .minimum(min)
            .maximum(max)
            .default_value(default)
            .mutable_playing()
            .build(),
        ControlKind::Enum {
            type_name,
            choices,
            default,
        } => enum_pspec(d.name, d.nick, d.blurb, type_name, choices, default),
        ControlKind::Floats { .. } | ControlKind::Rect { .. } | ControlKind::Rects => {
            array_pspec(d)
        }
    }
}

/// The numbers of the array `value` of the property `name`, each as f64.
///
/// Errors: not an array, or an element that is not a number (a nested array such as
/// `<<1,2>>`, a string), naming the property, the value and `shape`.
fn numbers(name: &str, value: &glib::Value, shape: &str) -> Result<Vec<f64>, String> {
    let shown = || {
        value
            .serialize()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| format!("{value:?}"))
    };
    let bad = || format!("{name} takes {shape}, got {}", shown());
    let arr = value.get::<gst::Array>().map_err(|_| bad())?;
    arr.iter()
        .map(|v| {
            v.get::<f32>()
                .map(f64::from)
                .or_else(|_| v.get::<f64>())
                .or_else(|_| v.get::<i32>().map(f64::from))
                .or_else(|_| v.get::<u32>().map(f64::from))
                .or_else(|_| v.get::<i64>().map(|i| i as f64))
                .or_else(|_| v.get::<u64>().map(|i| i as f64))
                .map_err(|_| bad())
        })
        .collect()
}

/// A rectangle from the numbers `v` of the property `name`, coordinates 0 to `max`.
/// Errors: not 4 numbers, a negative or fractional coordinate, an empty size, one above `max`.
fn rect_of(name: &str, v: &[f64], max: i32, shape: &str) -> Result<Rect, String> {
    let ok = v.len() == 4
        && v.iter()
            .all(|c| c.fract() == 0.0 && (0.0..=f64::from(max)).contains(c))
        && v[2] > 0.0
        && v[3] > 0.0;
    if !ok {
        return Err(format!(
            "{name} takes {shape} with whole coordinates 0 to {max} and a positive size, got {v:?}"
        ));
    }
    Ok(Rect::new(
        v[0] as i32,
        v[1] as i32,
        v[2] as u32,
        v[3] as u32,
    ))
}

/// Converts a property value to a control value; `Ok(None)` means "unset" (return to auto).
///
/// Errors: a malformed array (wrong length), naming the property and what it needs.
pub fn to_control(p: &ControlProp, value: &glib::Value) -> Result<Option<ControlValue>, String> {
    Ok(match p.kind {
        ControlKind::Bool { .. } => value.get::<bool>().ok().map(ControlValue::Bool),
        ControlKind::Int { .. } => {
            let v = value.get::<i32>().unwrap_or(0);
            match p.id {
                ControlId::ExposureTime if v == 0 => None,
                _ => Some(ControlValue::I32(v)),
            }
        }
        ControlKind::Float { .. } => {
            let v = value.get::<f32>().unwrap_or(0.0);
            match p.id {
                ControlId::AnalogueGain if v == 0.0 => None,
                _ => Some(ControlValue::F32(v)),
            }
        }
        ControlKind::Enum { .. } => value
            .get::<&glib::EnumValue>()
            .ok()
            .map(|e| ControlValue::I32(e.value()))
            .or_else(|| {
                // SAFETY-free fallback: read the enum as an integer through its class.
                glib::EnumValue::from_value(value).map(|(_, e)| ControlValue::I32(e.value()))
            }),
        ControlKind::Floats {
            count: n, min, max, ..
        } => {
            let shape = format!("<{n} numbers> from {min} to {max}");
            let v = numbers(p.name, value, &shape)?;
            if v.is_empty() {
                if p.id == ControlId::ColourGains {
                    Some(ControlValue::F32Array(vec![0.0, 0.0]))
                } else {
                    None
                }
            } else if v.len() != n {
                return Err(format!("{} takes {shape}, got {} ({v:?})", p.name, v.len()));
            } else if let Some(x) = v
                .iter()
                .find(|x| !(f64::from(min)..=f64::from(max)).contains(*x))
            {
                return Err(format!("{} value {x} is outside {min} to {max}", p.name));
            } else {
                Some(ControlValue::F32Array(
                    v.iter().map(|x| *x as f32).collect(),
                ))
            }
        }
        ControlKind::Rect { max } => {
            let shape = "<x, y, width, height>";
            let v = numbers(p.name, value, shape)?;
            if v.is_empty() {
                None
            } else {
                Some(ControlValue::Rect(rect_of(p.name, &v, max, shape)?))
            }
        }
        ControlKind::Rects => {
            let shape = "rectangles <<x, y, width, height>, ...>";
            let arr = value
                .get::<gst::Array>()
                .map_err(|_| format!("{} takes {shape}", p.name))?;
            let mut rects = Vec::new();
            for r in arr.iter() {
                let v = numbers(p.name, r, shape)?;
                rects.push(rect_of(p.name, &v, i32::MAX, shape)?);
            }
            (!rects.is_empty()).then_some(ControlValue::Rects(rects))
        }
    })
}

/// The property value for a control value (`None`: the spec's default).
pub fn to_value(p: &ControlProp, pspec: &glib::ParamSpec, v: Option<&ControlValue>) -> glib::Value {
    let Some(v) = v else {
        return match p.kind {
            ControlKind::Floats { .. } | ControlKind::Rect { .. } | ControlKind::Rects => {
                gst::Array::new(Vec::<glib::SendValue>::new()).to_value()
            }
            _ => pspec.default_value().clone(),
        };
    };
    match (p.kind, v) {
        (ControlKind::Bool { .. }, ControlValue::Bool(b)) => b.to_value(),
        (ControlKind::Int { .. }, c) => c.as_i32().unwrap_or(0).to_value(),
        (ControlKind::Float { .. }, c) => c.as_f32().unwrap_or(0.0).to_value(),
        (ControlKind::Enum { .. }, c) => {
            let n = c.as_i32().unwrap_or(0);
            glib::EnumClass::with_type(pspec.value_type())
                .and_then(|k| k.to_value(n))
                .unwrap_or_else(|| pspec.default_value().clone())
        }
        (ControlKind::Floats { .. }, ControlValue::F32Array(a)) => {
            gst::Array::new(a.iter().copied()).to_value()
        }
        (ControlKind::Rect { .. }, ControlValue::Rect(r)) => {
            gst::Array::new([r.x, r.y, r.width as i32, r.height as i32]).to_value()
        }
        (ControlKind::Rects, ControlValue::Rects(rs)) => {
            gst::Array::new(rs.iter().map(|r| {
                gst::Array::new([r.x, r.y, r.width as i32, r.height as i32]).to_send_value()
            }))
            .to_value()
        }
        _ => pspec.default_value().clone(),
    }
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
        } => enum_pspec(o.name, o.nick, o.blurb, type_name, choices, default),
    }
}

/// A property of the enum type `GstRpiCamSrc2<type_name>` with `choices`, changeable while
/// PLAYING.
fn enum_pspec(
    name: &str,
    nick: &str,
    blurb: &str,
    type_name: &str,
    choices: &[Choice],
    default: i32,
) -> glib::ParamSpec {
    let t = enum_type(type_name, choices);
    let flags = glib::ParamFlags::READWRITE | gst::PARAM_FLAG_MUTABLE_PLAYING;
    // SAFETY: `t` is a registered enum type holding `default` (a table's default is one of its
    // choices); GLib copies the strings.
    unsafe {
        from_glib_none(glib::gobject_ffi::g_param_spec_enum(
            name.to_glib_none().0,
            nick.to_glib_none().0,
            blurb.to_glib_none().0,
            t.into_glib(),
            default,
            flags.into_glib(),
        ))
    }
}

/// The GEnum type `GstRpiCamSrc2<type_name>` with `choices`, registered on first use (GLib keeps
/// enum types and their value names for the life of the process).
fn enum_type(type_name: &str, choices: &[Choice]) -> glib::Type {
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
