// SPDX-License-Identifier: MPL-2.0
//! Conversions between the camera model and libcamera: roles, pixel formats, colour spaces,
//! control values, per-frame metadata.

use libcamera::{
    color_space::{ColorSpace as LcColorSpace, Primaries, Range, TransferFunction, YcbcrEncoding},
    control_value::{ControlType, ControlValue as LcValue},
    geometry::{Rectangle, Size as LcSize},
    pixel_format::PixelFormat as LcPixelFormat,
    stream::StreamRole as LcRole,
};

use crate::camera::{
    config::StreamRole,
    controls::ControlValue,
    format::{BayerOrder, ColorSpace, PixelFormat, Rect, Size},
    metadata::{AeState, AwbState, FrameMetadata},
};

/// libcamera stream role of a model stream role: main -> VideoRecording (libcamerasrc's
/// default), lores -> ViewFinder, raw -> Raw.
pub fn role(r: StreamRole) -> LcRole {
    match r {
        StreamRole::Main => LcRole::VideoRecording,
        StreamRole::Lores => LcRole::ViewFinder,
        StreamRole::Raw => LcRole::Raw,
    }
}

/// libcamera pixel format of a model format.
pub fn pixel_format(f: PixelFormat) -> Option<LcPixelFormat> {
    LcPixelFormat::parse(&f.libcamera_name())
}

/// Model format of a libcamera format, if the model knows it.
pub fn model_format(f: LcPixelFormat) -> Option<PixelFormat> {
    model_format_by_name(&f.to_string())
}

/// Model format of a libcamera format name (`NV12`, `SRGGB10_CSI2P`, ...).
pub fn model_format_by_name(name: &str) -> Option<PixelFormat> {
    if let Some(f) = PixelFormat::PROCESSED
        .iter()
        .copied()
        .find(|f| f.libcamera_name() == name)
    {
        return Some(f);
    }
    let rest = name.strip_prefix('S')?;
    let (order, rest) = [
        ("RGGB", BayerOrder::Rggb),
        ("GRBG", BayerOrder::Grbg),
        ("GBRG", BayerOrder::Gbrg),
        ("BGGR", BayerOrder::Bggr),
    ]
    .into_iter()
    .find_map(|(p, o)| rest.strip_prefix(p).map(|r| (o, r)))?;
    let (bits, packed) = match rest.strip_suffix("_CSI2P") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let bits: u8 = bits.parse().ok()?;
    Some(PixelFormat::Bayer {
        order,
        bits,
        packed,
    })
}

/// libcamera colour space of a model colour space.
pub fn color_space(c: ColorSpace) -> LcColorSpace {
    match c {
        ColorSpace::Raw => LcColorSpace::raw(),
        ColorSpace::Sycc => LcColorSpace::sycc(),
        ColorSpace::Smpte170m => LcColorSpace::smpte170m(),
        ColorSpace::Rec709 => LcColorSpace::rec709(),
        ColorSpace::Rec2020 => LcColorSpace::rec2020(),
    }
}

/// Model colour space of a libcamera one, when it is one the model names.
pub fn model_color_space(c: LcColorSpace) -> Option<ColorSpace> {
    use Primaries as P;
    use TransferFunction as T;
    use YcbcrEncoding as Y;
    Some(
        match (c.primaries, c.transfer_function, c.ycbcr_encoding, c.range) {
            (P::Raw, T::Linear, Y::None, Range::Full) => ColorSpace::Raw,
            (P::Rec709, T::Srgb, Y::Rec601, Range::Full) => ColorSpace::Sycc,
            (P::Smpte170m, T::Rec709, Y::Rec601, Range::Limited) => ColorSpace::Smpte170m,
            (P::Rec709, T::Rec709, Y::Rec709, Range::Limited) => ColorSpace::Rec709,
            (P::Rec2020, T::Rec709, Y::Rec2020, Range::Limited) => ColorSpace::Rec2020,
            _ => return None,
        },
    )
}

/// libcamera size of a model size.
pub fn size(s: Size) -> LcSize {
    LcSize {
        width: s.width,
        height: s.height,
    }
}

/// Model size of a libcamera size.
pub fn model_size(s: LcSize) -> Size {
    Size::new(s.width, s.height)
}

fn rect(r: Rect) -> Rectangle {
    Rectangle {
        x: r.x,
        y: r.y,
        width: r.width,
        height: r.height,
    }
}

fn model_rect(r: Rectangle) -> Rect {
    Rect::new(r.x, r.y, r.width, r.height)
}

/// Model value of a libcamera value (scalars, arrays of them, rectangles); `None` for types the
/// model has no value for (sizes, points, strings).
pub fn model_value(v: &LcValue) -> Option<ControlValue> {
    Some(match v {
        LcValue::Bool(b) if b.len() == 1 => ControlValue::Bool(b[0]),
        LcValue::Byte(b) if b.len() == 1 => ControlValue::I32(i32::from(b[0])),
        LcValue::Uint16(b) if b.len() == 1 => ControlValue::I32(i32::from(b[0])),
        LcValue::Uint32(b) if b.len() == 1 => ControlValue::I64(i64::from(b[0])),
        LcValue::Int32(v) if v.len() == 1 => ControlValue::I32(v[0]),
        LcValue::Int32(v) => ControlValue::I32Array(v.to_vec()),
        LcValue::Int64(v) if v.len() == 1 => ControlValue::I64(v[0]),
        LcValue::Int64(v) => ControlValue::I64Array(v.to_vec()),
        LcValue::Float(v) if v.len() == 1 => ControlValue::F32(v[0]),
        LcValue::Float(v) => ControlValue::F32Array(v.to_vec()),
        LcValue::Rectangle(r) if r.len() == 1 => ControlValue::Rect(model_rect(r[0])),
        LcValue::Rectangle(r) => ControlValue::Rects(r.iter().map(|r| model_rect(*r)).collect()),
        _ => return None,
    })
}

/// libcamera value of type `ty` (array when `is_array`) for the model value `v`.
///
/// Errors: the value cannot be represented (wrong kind or out of the type's range), with a
/// description of what the control takes.
pub fn lc_value(v: &ControlValue, ty: &ControlType, is_array: bool) -> Result<LcValue, String> {
    let want = || {
        format!(
            "the control takes {}{ty:?}",
            if is_array { "an array of " } else { "a " }
        )
    };
    let int = |x: f64| -> Result<f64, String> {
        if x.fract() == 0.0 {
            Ok(x)
        } else {
            Err(format!("{} (not an integer)", want()))
        }
    };
    let out = match (ty, v) {
        (ControlType::Bool, ControlValue::Bool(b)) => LcValue::from(*b),
        (ControlType::Bool, v) => LcValue::from(v.as_bool().ok_or_else(want)?),
        (ControlType::Int32, ControlValue::I32Array(a)) => LcValue::from(a.clone()),
        (ControlType::Int32, v) => {
            let x = int(v.as_f64().ok_or_else(want)?)?;
            LcValue::from(i32::try_from(x as i64).map_err(|_| want())?)
        }
        (ControlType::Int64, ControlValue::I64Array(a)) => LcValue::from(a.clone()),
        (ControlType::Int64, ControlValue::I32Array(a)) => {
            LcValue::from(a.iter().map(|x| i64::from(*x)).collect::<Vec<_>>())
        }
        (ControlType::Int64, v) => LcValue::from(int(v.as_f64().ok_or_else(want)?)? as i64),
        (ControlType::Float, ControlValue::F32Array(a)) => LcValue::from(a.clone()),
        (ControlType::Float, v) => LcValue::from(v.as_f32().ok_or_else(want)?),
        (ControlType::Byte, v) => {
            let x = int(v.as_f64().ok_or_else(want)?)?;
            LcValue::from(u8::try_from(x as i64).map_err(|_| want())?)
        }
        (ControlType::Rectangle, ControlValue::Rect(r)) if !is_array => LcValue::from(rect(*r)),
        (ControlType::Rectangle, ControlValue::Rect(r)) => LcValue::from(vec![rect(*r)]),
        (ControlType::Rectangle, ControlValue::Rects(r)) => {
            LcValue::from(r.iter().map(|r| rect(*r)).collect::<Vec<_>>())
        }
        _ => return Err(want()),
    };
    Ok(out)
}

/// Fills the model's per-frame metadata from a request's metadata (libcamera names).
pub fn metadata(
    sequence: u32,
    timestamp_ns: Option<u64>,
    items: &[(u32, String, LcValue)],
) -> FrameMetadata {
    let mut m = FrameMetadata {
        sequence: u64::from(sequence),
        sensor_timestamp_ns: timestamp_ns.unwrap_or(0),
        ..Default::default()
    };
    let f32s = |v: &LcValue| match v {
        LcValue::Float(a) => a.to_vec(),
        _ => Vec::new(),
    };
    for (_, name, v) in items {
        let scalar = model_value(v);
        let as_f32 = scalar.as_ref().and_then(|s| s.as_f32());
        let as_i64 = scalar.as_ref().and_then(|s| s.as_f64()).map(|x| x as i64);
        match name.as_str() {
            "ExposureTime" => {
                m.exposure_time_us = as_i64.and_then(|x| u32::try_from(x).ok()).unwrap_or(0)
            }
            "AnalogueGain" => m.analogue_gain = as_f32.unwrap_or(0.0),
            "DigitalGain" => m.digital_gain = as_f32.unwrap_or(0.0),
            "ColourGains" => {
                if let [r, b] = f32s(v)[..] {
                    m.colour_gains = [r, b];
                }
            }
            "ColourTemperature" => {
                m.colour_temperature_k = as_i64.and_then(|x| u32::try_from(x).ok()).unwrap_or(0)
            }
            "Lux" => m.lux = as_f32.unwrap_or(0.0),
            "FrameDuration" => {
                m.frame_duration_us = as_i64.and_then(|x| u64::try_from(x).ok()).unwrap_or(0)
            }
            "AeState" => {
                m.ae_state = match as_i64 {
                    Some(1) => AeState::Searching,
                    Some(2) => AeState::Converged,
                    _ => AeState::Idle,
                }
            }
            // libcamera < 0.5 reports AeLocked instead of AeState.
            "AeLocked" => {
                m.ae_state = if as_i64 == Some(1) {
                    AeState::Converged
                } else {
                    AeState::Searching
                }
            }
            // Reported only while AWB runs, by the IPAs that know it (core AwbLocked, or the
            // draft AwbState: 0 inactive, 1 searching, 2 converged, 3 locked).
            "AwbLocked" => {
                m.awb_state = Some(if as_i64 == Some(1) {
                    AwbState::Converged
                } else {
                    AwbState::Searching
                })
            }
            "AwbState" => {
                m.awb_state = match as_i64 {
                    Some(1) => Some(AwbState::Searching),
                    Some(2) | Some(3) => Some(AwbState::Converged),
                    _ => Some(AwbState::Idle),
                }
            }
            "LensPosition" => m.lens_position = as_f32,
            "FocusFoM" => m.focus_fom = as_i64.and_then(|x| i32::try_from(x).ok()),
            "AfState" => m.af_state = as_i64.and_then(|x| i32::try_from(x).ok()),
            "SensorBlackLevels" => {
                if let LcValue::Int32(a) = v {
                    if let [a0, a1, a2, a3] = a[..] {
                        m.sensor_black_levels = [a0, a1, a2, a3];
                    }
                }
            }
            "SensorTemperature" => m.sensor_temperature = as_f32,
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_through_libcamera_names() {
        for f in PixelFormat::PROCESSED {
            assert_eq!(model_format_by_name(&f.libcamera_name()), Some(f), "{f}");
        }
        let b = PixelFormat::Bayer {
            order: BayerOrder::Gbrg,
            bits: 10,
            packed: true,
        };
        assert_eq!(model_format_by_name("SGBRG10_CSI2P"), Some(b));
        assert_eq!(
            model_format_by_name("SBGGR16"),
            Some(PixelFormat::Bayer {
                order: BayerOrder::Bggr,
                bits: 16,
                packed: false
            })
        );
        assert_eq!(model_format_by_name("MJPEG"), None);
    }

    #[test]
    fn colour_spaces_round_trip() {
        for c in [
            ColorSpace::Raw,
            ColorSpace::Sycc,
            ColorSpace::Smpte170m,
            ColorSpace::Rec709,
            ColorSpace::Rec2020,
        ] {
            assert_eq!(model_color_space(color_space(c)), Some(c), "{c:?}");
        }
    }

    #[test]
    fn values_convert_to_the_control_type() {
        let v = lc_value(&ControlValue::I32(20000), &ControlType::Int32, false).expect("int");
        assert!(matches!(v, LcValue::Int32(ref a) if a[..] == [20000]));
        let v = lc_value(
            &ControlValue::F32Array(vec![1.5, 2.0]),
            &ControlType::Float,
            true,
        )
        .expect("gains");
        assert!(matches!(v, LcValue::Float(ref a) if a[..] == [1.5, 2.0]));
        let e = lc_value(&ControlValue::F32(1.5), &ControlType::Int32, false).unwrap_err();
        assert!(e.contains("Int32"), "{e}");
        assert!(lc_value(&ControlValue::Bool(true), &ControlType::Rectangle, false).is_err());
    }

    #[test]
    fn metadata_takes_libcamera_names() {
        let items = vec![
            (1, "ExposureTime".to_string(), LcValue::from(10000i32)),
            (
                2,
                "ColourGains".to_string(),
                LcValue::from(vec![1.5f32, 2.5]),
            ),
            (3, "AeState".to_string(), LcValue::from(2i32)),
            (4, "AwbLocked".to_string(), LcValue::from(true)),
        ];
        let m = metadata(7, Some(123), &items);
        assert_eq!(
            (m.sequence, m.sensor_timestamp_ns, m.exposure_time_us),
            (7, 123, 10000)
        );
        assert_eq!(m.colour_gains, [1.5, 2.5]);
        assert_eq!(m.ae_state, AeState::Converged);
        assert_eq!(m.awb_state, Some(AwbState::Converged));
        // Not reported: unknown, not idle.
        assert_eq!(metadata(1, None, &[]).awb_state, None);
    }
}
