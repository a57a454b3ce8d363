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

fn floats(d: &ControlDef, lo: f32, hi: f32) -> glib::ParamSpec {
    gst::ParamSpecArray::builder(d.name)
        .nick(d.nick)
        .blurb(d.blurb)
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
        ControlKind::Floats { min, max, .. } => floats(d, min, max),
        ControlKind::Rect { max } => gst::ParamSpecArray::builder(d.name)
            .nick(d.nick)
            .blurb(d.blurb)
            .element_spec(
                &glib::ParamSpecInt::builder("coordinate")
                    .minimum(0)
                    .maximum(max)
                    .build(),
            )
            .mutable_playing()
            .build(),
        ControlKind::Rects => gst::ParamSpecArray::builder(d.name)
            .nick(d.nick)
            .blurb(d.blurb)
            .element_spec(&rect_spec())
            .mutable_playing()
            .build(),
    }
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
        ControlKind::Floats { count: n, .. } => {
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
        ControlKind::Rect { .. } => {
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
        ControlKind::Rects => {
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
