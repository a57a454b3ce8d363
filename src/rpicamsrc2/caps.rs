// SPDX-License-Identifier: MPL-2.0
//! Caps for the three pads: what the camera can produce, fixation, and the mapping between
//! GStreamer's formats and the camera model's.
//!
//! Raw Bayer caps are `video/x-bayer` with GStreamer's names where it has one (`rggb`, `bggr`,
//! ... for 8 bits; `rggb10le`, `rggb12le`, `rggb16le` for unpacked samples in 16-bit
//! little-endian words) and, for the CSI-2 packed layouts GStreamer has no name for,
//! `rggb10p` / `rggb12p` (libcamera's `SRGGB10_CSI2P` / `SRGGB12_CSI2P`: 4 pixels in 5 bytes, 2
//! pixels in 3 bytes).

use gst::glib;

use crate::camera::format::{BayerOrder, ColorSpace, FrameLayout, PixelFormat, Size};
use crate::camera::{self, CameraInfo, SensorMode, SensorModeSpec};

/// GStreamer's names of the processed formats `info` offers, preferred first.
fn gst_formats(info: &CameraInfo) -> Vec<&'static str> {
    info.formats
        .iter()
        .filter_map(|f| gst_format(*f))
        .map(|f| f.to_str().as_str())
        .collect()
}

/// The normal (`hdr` false) or sensor-HDR modes of `info`, larger first (then deeper).
fn larger_first(info: &CameraInfo, hdr: bool) -> Vec<&SensorMode> {
    let mut modes: Vec<_> = info.modes_for(hdr).collect();
    modes.sort_by_key(|m| std::cmp::Reverse((m.size.area(), m.bit_depth)));
    modes
}

/// Caps for the processed formats the camera offers: one structure per sensor mode, sizes up to
/// the mode's (the ISP does not upscale) and rates up to the mode's maximum.
pub fn camera_caps(info: &CameraInfo, hdr: bool, mode: Option<&SensorModeSpec>) -> gst::Caps {
    let formats = gst_formats(info);
    let mut caps = gst::Caps::new_empty();
    // Larger modes first: the best field of view wins ties in intersections.
    let modes = larger_first(info, hdr);
    {
        for m in modes {
            if mode.is_some_and(|spec| !spec.matches(m)) {
                continue;
            }
            let (num, den) = m.max_fps_fraction();
            let s = gst::Structure::builder("video/x-raw")
                .field("format", gst::List::new(formats.iter().copied()))
                .field(
                    "width",
                    gst::IntRange::new(camera::config::ISP_MIN_DIM as i32, m.size.width as i32),
                )
                .field(
                    "height",
                    gst::IntRange::new(camera::config::ISP_MIN_DIM as i32, m.size.height as i32),
                )
                .field(
                    "framerate",
                    gst::FractionRange::new(gst::Fraction::new(0, 1), gst::Fraction::new(num, den)),
                )
                .build();
            caps.merge_structure(s);
        }
    }
    caps
}

/// Caps for device discovery: one structure per sensor mode (normal modes, larger first; modes
/// that differ only in bit depth once) at the mode's own size, with the mode's frame-rate range
/// (from the camera's longest frame to the mode's shortest) and the processed formats. The ISP also scales each mode down to any
/// smaller size; [`camera_caps`] is what the element negotiates.
pub fn device_caps(info: &CameraInfo) -> gst::Caps {
    let formats = gst_formats(info);
    let slowest = gst::Fraction::new(
        1_000_000,
        info.max_frame_duration_us.clamp(1, i32::MAX as u64) as i32,
    );
    let modes = larger_first(info, false);
    let mut caps = gst::Caps::new_empty();
    {
        let caps = caps.get_mut().expect("a new caps is writable");
        for m in modes {
            let (num, den) = m.max_fps_fraction();
            let fastest = gst::Fraction::new(num, den);
            let mut s = gst::Structure::builder("video/x-raw")
                .field("format", gst::List::new(formats.iter().copied()))
                .field("width", m.size.width as i32)
                .field("height", m.size.height as i32)
                .build();
            if slowest < fastest {
                s.set("framerate", gst::FractionRange::new(slowest, fastest));
            } else {
                s.set("framerate", fastest);
            }
            // Modes that differ only in bit depth look the same to downstream: listed once.
            if !caps.iter().any(|x| x == s.as_ref()) {
                caps.append_structure(s);
            }
        }
    }
    caps
}

/// The caps of the `src` pad's template: every processed format at any size and rate.
pub fn template_caps() -> gst::Caps {
    let formats: Vec<&str> = PixelFormat::PROCESSED
        .iter()
        .filter_map(|f| gst_format(*f))
        .map(|f| f.to_str().as_str())
        .collect();
    gst::Caps::builder("video/x-raw")
        .field("format", gst::List::new(formats))
        .field("width", gst::IntRange::new(64, 4608))
        .field("height", gst::IntRange::new(64, 3040))
        .field(
            "framerate",
            gst::FractionRange::new(gst::Fraction::new(0, 1), gst::Fraction::new(i32::MAX, 1)),
        )
        .build()
}

/// GStreamer's name of a processed format.
pub fn gst_format(f: PixelFormat) -> Option<gst_video::VideoFormat> {
    use gst_video::VideoFormat as V;
    Some(match f {
        PixelFormat::Nv12 => V::Nv12,
        PixelFormat::Nv21 => V::Nv21,
        PixelFormat::I420 => V::I420,
        PixelFormat::Yv12 => V::Yv12,
        PixelFormat::Yuyv => V::Yuy2,
        PixelFormat::Yvyu => V::Yvyu,
        PixelFormat::Uyvy => V::Uyvy,
        PixelFormat::Vyuy => V::Vyuy,
        PixelFormat::Rgb => V::Rgb,
        PixelFormat::Bgr => V::Bgr,
        PixelFormat::Rgbx => V::Rgbx,
        PixelFormat::Bgrx => V::Bgrx,
        PixelFormat::Xrgb => V::Xrgb,
        PixelFormat::Xbgr => V::Xbgr,
        PixelFormat::Bayer { .. } => return None,
    })
}

pub fn model_format(f: gst_video::VideoFormat) -> Option<PixelFormat> {
    PixelFormat::PROCESSED
        .iter()
        .copied()
        .find(|p| gst_format(*p) == Some(f))
}

pub fn colorimetry(cs: ColorSpace) -> &'static str {
    match cs {
        ColorSpace::Sycc | ColorSpace::Raw => "sRGB",
        ColorSpace::Smpte170m => "bt601",
        ColorSpace::Rec709 => "bt709",
        ColorSpace::Rec2020 => "bt2020",
    }
}

pub fn color_space(c: &gst_video::VideoColorimetry, rgb: bool) -> Option<ColorSpace> {
    use gst_video::VideoColorMatrix as M;
    if rgb {
        return Some(ColorSpace::Sycc);
    }
    match (c.matrix(), c.range()) {
        (M::Bt601, gst_video::VideoColorRange::Range0_255) => Some(ColorSpace::Sycc),
        (M::Bt601, _) => Some(ColorSpace::Smpte170m),
        (M::Bt709, _) => Some(ColorSpace::Rec709),
        (M::Bt2020, _) => Some(ColorSpace::Rec2020),
        _ => None,
    }
}

/// Fixates `caps` towards `size` at `fps`: the structure that gets closest wins, the first
/// one on a tie (the caps order is the camera's and downstream's preference).
pub fn fixate(caps: gst::Caps, size: Size, fps: i32) -> gst::Caps {
    let mut best: Option<(f64, gst::Structure)> = None;
    for s in caps.iter() {
        let mut s = s.to_owned();
        s.fixate_field_nearest_int("width", size.width as i32);
        s.fixate_field_nearest_int("height", size.height as i32);
        s.fixate_field_nearest_fraction("framerate", gst::Fraction::new(fps, 1));
        s.fixate();
        let w = s.get::<i32>("width").unwrap_or(0);
        let h = s.get::<i32>("height").unwrap_or(0);
        let fr = s
            .get::<gst::Fraction>("framerate")
            .map(|f| f64::from(f.numer()) / f64::from(f.denom().max(1)))
            .unwrap_or(0.0);
        let d = f64::from((w - size.width as i32).abs() + (h - size.height as i32).abs())
            + 1000.0 * (fr - f64::from(fps)).abs();
        if best.as_ref().is_none_or(|(b, _)| d < *b) {
            best = Some((d, s));
        }
    }
    match best {
        Some((_, s)) => gst::Caps::builder_full().structure(s).build(),
        None => caps,
    }
}

pub fn describe_modes(info: &CameraInfo, hdr: bool) -> String {
    info.modes_for(hdr)
        .map(|m| {
            format!(
                "{}x{} {}-bit{} up to {:.2} fps",
                m.size.width,
                m.size.height,
                m.bit_depth,
                if m.hdr { " HDR" } else { "" },
                m.max_fps()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// True when `layout` is exactly what GStreamer assumes for `info` (no video meta needed).
pub fn layout_matches(info: &gst_video::VideoInfo, layout: &FrameLayout) -> bool {
    layout.planes.len() == info.n_planes() as usize
        && layout.planes.iter().enumerate().all(|(i, p)| {
            info.offset().get(i) == Some(&p.offset)
                && info.stride().get(i) == Some(&(p.stride as i32))
        })
}

/// For downstream elements that cannot take strides: one copy of `frame` (laid out as its
/// GstVideoMeta says) into GStreamer's default layout for `info`, by `gst_video_frame_copy`.
///
/// Errors: the frame or the copy cannot be mapped as `info`.
pub fn copy_to_default_layout(
    info: &gst_video::VideoInfo,
    frame: gst::Buffer,
) -> Result<gst::Buffer, glib::BoolError> {
    let src = gst_video::VideoFrame::from_buffer_readable(frame, info)
        .map_err(|_| glib::bool_error!("cannot map the camera frame as {:?}", info.format()))?;
    let out = gst::Buffer::with_size(info.size())?;
    let mut dst = gst_video::VideoFrame::from_buffer_writable(out, info)
        .map_err(|_| glib::bool_error!("cannot map the copy as {:?}", info.format()))?;
    src.copy(&mut dst)?;
    Ok(dst.into_buffer())
}

/// The YUV 4:2:0 formats the low-resolution output offers (VC4: lores must be YUV;
/// Picamera2 and rpicam-apps use YUV420).
pub const LORES_FORMATS: [PixelFormat; 4] = [
    PixelFormat::Nv12,
    PixelFormat::I420,
    PixelFormat::Yv12,
    PixelFormat::Nv21,
];

fn formats_list(formats: &[PixelFormat]) -> gst::List {
    gst::List::new(
        formats
            .iter()
            .filter_map(|f| gst_format(*f))
            .map(|f| f.to_str().to_string()),
    )
}

/// Caps of the lores pad for a main stream of `main` at up to `rate`: YUV 4:2:0, no larger
/// than main, at main's rate or below.
pub fn lores_caps(main: Size, rate: gst::Fraction) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", formats_list(&LORES_FORMATS))
        .field(
            "width",
            gst::IntRange::new(camera::config::ISP_MIN_DIM as i32, main.width as i32),
        )
        .field(
            "height",
            gst::IntRange::new(camera::config::ISP_MIN_DIM as i32, main.height as i32),
        )
        .field(
            "framerate",
            gst::FractionRange::new(gst::Fraction::new(0, 1), rate),
        )
        .build()
}

/// Template caps of the lores pad.
pub fn lores_template_caps() -> gst::Caps {
    lores_caps(Size::new(4608, 3040), gst::Fraction::new(i32::MAX, 1))
}

/// GStreamer's (or our) `video/x-bayer` format name.
pub fn bayer_name(order: BayerOrder, bits: u8, packed: bool) -> String {
    match (bits, packed) {
        (8, _) => order.name().to_string(),
        (10 | 12, true) => format!("{}{bits}p", order.name()),
        (b, _) => format!("{}{b}le", order.name()),
    }
}

/// The Bayer format a `video/x-bayer` name stands for.
pub fn bayer_format(name: &str) -> Option<PixelFormat> {
    let order = match name.get(..4)? {
        "rggb" => BayerOrder::Rggb,
        "grbg" => BayerOrder::Grbg,
        "gbrg" => BayerOrder::Gbrg,
        "bggr" => BayerOrder::Bggr,
        _ => return None,
    };
    let (bits, packed) = match &name[4..] {
        "" => (8, false),
        "10p" => (10, true),
        "12p" => (12, true),
        "10le" => (10, false),
        "12le" => (12, false),
        "16le" => (16, false),
        _ => return None,
    };
    Some(PixelFormat::Bayer {
        order,
        bits,
        packed,
    })
}

/// Caps of the raw pad: each candidate mode's own size, in its bit depth packed and unpacked
/// (8-bit modes: one format), up to `rate`; `modes` in order of preference.
pub fn raw_caps(modes: &[&SensorMode], order: BayerOrder, rate: gst::Fraction) -> gst::Caps {
    let mut caps = gst::Caps::new_empty();
    for m in modes {
        let names: Vec<String> = if m.bit_depth == 8 {
            vec![bayer_name(order, 8, false)]
        } else {
            vec![
                bayer_name(order, m.bit_depth, true),
                bayer_name(order, m.bit_depth, false),
            ]
        };
        let (n, d) = m.max_fps_fraction();
        let max = if gst::Fraction::new(n, d) < rate {
            gst::Fraction::new(n, d)
        } else {
            rate
        };
        caps.merge_structure(
            gst::Structure::builder("video/x-bayer")
                .field("format", gst::List::new(names))
                .field("width", m.size.width as i32)
                .field("height", m.size.height as i32)
                .field(
                    "framerate",
                    gst::FractionRange::new(gst::Fraction::new(0, 1), max),
                )
                .build(),
        );
    }
    caps
}

/// Template caps of the raw pad.
pub fn raw_template_caps() -> gst::Caps {
    let mut names = Vec::new();
    for o in [
        BayerOrder::Rggb,
        BayerOrder::Grbg,
        BayerOrder::Gbrg,
        BayerOrder::Bggr,
    ] {
        for (b, p) in [
            (8, false),
            (10, true),
            (10, false),
            (12, true),
            (12, false),
            (16, false),
        ] {
            names.push(bayer_name(o, b, p));
        }
    }
    gst::Caps::builder("video/x-bayer")
        .field("format", gst::List::new(names))
        .field("width", gst::IntRange::new(1, 16384))
        .field("height", gst::IntRange::new(1, 16384))
        .field(
            "framerate",
            gst::FractionRange::new(gst::Fraction::new(0, 1), gst::Fraction::new(i32::MAX, 1)),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bayer_names_round_trip() {
        for o in [BayerOrder::Rggb, BayerOrder::Bggr] {
            for (b, p) in [(8, false), (10, true), (10, false), (12, true), (16, false)] {
                let n = bayer_name(o, b, p);
                assert_eq!(
                    bayer_format(&n),
                    Some(PixelFormat::Bayer {
                        order: o,
                        bits: b,
                        packed: p
                    }),
                    "{n}"
                );
            }
        }
        assert_eq!(bayer_name(BayerOrder::Grbg, 10, true), "grbg10p");
        assert!(bayer_format("rggb11le").is_none());
    }

    #[test]
    fn strided_frames_are_copied_into_the_default_layout() {
        gst::init().unwrap();
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, 100, 100)
            .build()
            .unwrap();
        let layout = PixelFormat::I420.layout(Size::new(100, 100), None).unwrap();
        assert!(!layout_matches(&info, &layout));
        // Each row's bytes are its plane and row number; padding is 0xff.
        let mut data = vec![0xffu8; layout.size];
        for (i, p) in layout.planes.iter().enumerate() {
            let width = if i == 0 { 100 } else { 50 };
            for r in 0..p.rows {
                let row = p.offset + r * p.stride;
                data[row..row + width].fill((i * 100 + r) as u8);
            }
        }
        let mut b = gst::Buffer::from_mut_slice(data);
        let offsets: Vec<usize> = layout.planes.iter().map(|p| p.offset).collect();
        let strides: Vec<i32> = layout.planes.iter().map(|p| p.stride as i32).collect();
        gst_video::VideoMeta::add_full(
            b.get_mut().unwrap(),
            gst_video::VideoFrameFlags::empty(),
            info.format(),
            100,
            100,
            &offsets,
            &strides,
        )
        .unwrap();
        let out = copy_to_default_layout(&info, b).unwrap();
        assert_eq!(out.size(), info.size());
        let map = out.map_readable().unwrap();
        for i in 0..3 {
            let (width, rows) = if i == 0 { (100, 100) } else { (50, 50) };
            for r in 0..rows {
                let row = info.offset()[i] + r * info.stride()[i] as usize;
                assert!(
                    map[row..row + width]
                        .iter()
                        .all(|&v| v == (i * 100 + r) as u8),
                    "plane {i} row {r}"
                );
            }
        }
    }
}
