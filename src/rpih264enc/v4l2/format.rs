// SPDX-License-Identifier: MPL-2.0
//! Raw input formats of the bcm2835-codec encoder, their V4L2 fourccs, the `bytesperline`
//! alignment the driver requires, the single-plane buffer layout, and the copy into it.
//!
//! Source of the figures: raspberrypi/linux `drivers/staging/vc04_services/bcm2835-codec/
//! bcm2835-v4l2-codec.c` (`supported_formats[].bytesperline_align` for the encode role,
//! `MIN_W`/`MIN_H` 32, `MAX_W_CODEC`/`MAX_H_CODEC` 1920, single plane per format).

use super::sys::fourcc;

/// Smallest width/height the encoder takes, pixels (`MIN_W`, `MIN_H`).
pub const MIN_DIM: u32 = 32;
/// Largest width and height the encoder takes, pixels (`MAX_W_CODEC`, `MAX_H_CODEC`).
pub const MAX_DIM: u32 = 1920;

/// A raw format the hardware encoder accepts (GStreamer name in the docs of each variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RawFormat {
    /// GStreamer I420, V4L2 `YU12`.
    I420,
    /// GStreamer YV12, V4L2 `YV12`.
    Yv12,
    /// GStreamer NV12, V4L2 `NV12`.
    Nv12,
    /// GStreamer NV21, V4L2 `NV21`.
    Nv21,
    /// GStreamer YUY2, V4L2 `YUYV`.
    Yuy2,
    /// GStreamer YVYU, V4L2 `YVYU`.
    Yvyu,
    /// GStreamer UYVY, V4L2 `UYVY`.
    Uyvy,
    /// GStreamer VYUY, V4L2 `VYUY`.
    Vyuy,
    /// GStreamer RGB16, V4L2 `RGBP` (RGB565).
    Rgb16,
    /// GStreamer RGB, V4L2 `RGB3`.
    Rgb,
    /// GStreamer BGR, V4L2 `BGR3`.
    Bgr,
    /// GStreamer BGRx, V4L2 `BGR4` (BGR32).
    Bgrx,
    /// GStreamer RGBA, V4L2 `AB24` (RGBA32).
    Rgba,
}

/// How a format's planes sit in the single V4L2 plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Y, then U and V at half width and height, chroma stride = luma stride / 2.
    Planar420,
    /// Y, then interleaved chroma at half height with the luma stride.
    SemiPlanar420,
    /// One packed plane of `bpp` bytes per pixel.
    Packed {
        /// Bytes per pixel.
        bpp: u32,
    },
}

/// All formats, in the order offered in caps.
pub const ALL: &[RawFormat] = &[
    RawFormat::I420,
    RawFormat::Nv12,
    RawFormat::Yv12,
    RawFormat::Nv21,
    RawFormat::Yuy2,
    RawFormat::Yvyu,
    RawFormat::Uyvy,
    RawFormat::Vyuy,
    RawFormat::Rgb16,
    RawFormat::Rgb,
    RawFormat::Bgr,
    RawFormat::Bgrx,
    RawFormat::Rgba,
];

impl RawFormat {
    /// The GStreamer video format name.
    pub fn gst_name(self) -> &'static str {
        match self {
            RawFormat::I420 => "I420",
            RawFormat::Yv12 => "YV12",
            RawFormat::Nv12 => "NV12",
            RawFormat::Nv21 => "NV21",
            RawFormat::Yuy2 => "YUY2",
            RawFormat::Yvyu => "YVYU",
            RawFormat::Uyvy => "UYVY",
            RawFormat::Vyuy => "VYUY",
            RawFormat::Rgb16 => "RGB16",
            RawFormat::Rgb => "RGB",
            RawFormat::Bgr => "BGR",
            RawFormat::Bgrx => "BGRx",
            RawFormat::Rgba => "RGBA",
        }
    }

    /// From a GStreamer video format name.
    pub fn from_gst_name(name: &str) -> Option<Self> {
        ALL.iter().copied().find(|f| f.gst_name() == name)
    }

    /// The V4L2 pixel format.
    pub fn fourcc(self) -> u32 {
        fourcc(match self {
            RawFormat::I420 => b"YU12",
            RawFormat::Yv12 => b"YV12",
            RawFormat::Nv12 => b"NV12",
            RawFormat::Nv21 => b"NV21",
            RawFormat::Yuy2 => b"YUYV",
            RawFormat::Yvyu => b"YVYU",
            RawFormat::Uyvy => b"UYVY",
            RawFormat::Vyuy => b"VYUY",
            RawFormat::Rgb16 => b"RGBP",
            RawFormat::Rgb => b"RGB3",
            RawFormat::Bgr => b"BGR3",
            RawFormat::Bgrx => b"BGR4",
            RawFormat::Rgba => b"AB24",
        })
    }

    /// `bytesperline` alignment of the encode role, bytes.
    pub fn stride_align(self) -> u32 {
        match self {
            RawFormat::I420 | RawFormat::Yv12 => 64,
            RawFormat::Nv12 | RawFormat::Nv21 => 32,
            RawFormat::Yuy2 | RawFormat::Yvyu | RawFormat::Uyvy | RawFormat::Vyuy => 64,
            RawFormat::Rgb16 | RawFormat::Rgb | RawFormat::Bgr => 32,
            RawFormat::Bgrx | RawFormat::Rgba => 64,
        }
    }

    /// Plane layout.
    pub fn layout(self) -> Layout {
        match self {
            RawFormat::I420 | RawFormat::Yv12 => Layout::Planar420,
            RawFormat::Nv12 | RawFormat::Nv21 => Layout::SemiPlanar420,
            RawFormat::Yuy2
            | RawFormat::Yvyu
            | RawFormat::Uyvy
            | RawFormat::Vyuy
            | RawFormat::Rgb16 => Layout::Packed { bpp: 2 },
            RawFormat::Rgb | RawFormat::Bgr => Layout::Packed { bpp: 3 },
            RawFormat::Bgrx | RawFormat::Rgba => Layout::Packed { bpp: 4 },
        }
    }

    /// Bytes of one luma (or packed) row of `width` pixels.
    pub fn row_bytes(self, width: u32) -> u32 {
        match self.layout() {
            Layout::Planar420 | Layout::SemiPlanar420 => width,
            Layout::Packed { bpp } => width * bpp,
        }
    }

    /// The smallest `bytesperline` the driver accepts for `width`.
    pub fn min_stride(self, width: u32) -> u32 {
        self.row_bytes(width).next_multiple_of(self.stride_align())
    }
}

/// One plane of a picture inside the encoder's (single-plane) device buffer: where it sits,
/// and which bytes of each row carry pixels, i.e. what to copy there.
///
/// Not the camera model's `camera::format::PlaneLayout` (offset, stride, rows of a frame
/// buffer): this one also has [`DevicePlane::row_bytes`], which the copy and the zero-copy
/// check need and a frame-buffer layout does not, and the encoder takes any raw video, so it
/// does not depend on the camera model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePlane {
    /// Offset from the buffer start, bytes.
    pub offset: usize,
    /// Stride, bytes.
    pub stride: usize,
    /// Meaningful bytes per row.
    pub row_bytes: usize,
    /// Rows.
    pub rows: usize,
}

/// The planes of a `width` x `height` picture in a device buffer whose first plane has
/// `stride` bytes per line (the driver places the chroma planes right after luma).
pub fn planes(format: RawFormat, width: u32, height: u32, stride: u32) -> Vec<DevicePlane> {
    let (w, h, s) = (width as usize, height as usize, stride as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    match format.layout() {
        Layout::Planar420 => {
            let cs = s / 2;
            vec![
                DevicePlane {
                    offset: 0,
                    stride: s,
                    row_bytes: w,
                    rows: h,
                },
                DevicePlane {
                    offset: s * h,
                    stride: cs,
                    row_bytes: cw,
                    rows: ch,
                },
                DevicePlane {
                    offset: s * h + cs * ch,
                    stride: cs,
                    row_bytes: cw,
                    rows: ch,
                },
            ]
        }
        Layout::SemiPlanar420 => vec![
            DevicePlane {
                offset: 0,
                stride: s,
                row_bytes: w,
                rows: h,
            },
            DevicePlane {
                offset: s * h,
                stride: s,
                row_bytes: 2 * cw,
                rows: ch,
            },
        ],
        Layout::Packed { bpp } => {
            vec![DevicePlane {
                offset: 0,
                stride: s,
                row_bytes: w * bpp as usize,
                rows: h,
            }]
        }
    }
}

/// Total bytes of a picture in the device layout.
pub fn image_size(format: RawFormat, width: u32, height: u32, stride: u32) -> usize {
    planes(format, width, height, stride)
        .iter()
        .map(|p| p.offset + p.stride * p.rows)
        .max()
        .unwrap_or(0)
}

/// Checks the size against the encoder's limits; the error names the limit.
pub fn check_size(width: u32, height: u32) -> Result<(), String> {
    if !(MIN_DIM..=MAX_DIM).contains(&width) || !(MIN_DIM..=MAX_DIM).contains(&height) {
        return Err(format!(
            "{width}x{height} is outside the bcm2835 hardware encoder's limits: width and height \
             {MIN_DIM}..{MAX_DIM} pixels"
        ));
    }
    Ok(())
}

/// Checks a size against what the driver reports (VIDIOC_ENUM_FRAMESIZES), when it reports
/// it; the static limits of [`check_size`] hold in any case (firmware differs: some fail above
/// 1920 pixels wide, others above 2032, so 1920 is kept even when the driver says more).
pub fn check_reported_size(
    width: u32,
    height: u32,
    reported: Option<&super::device::FrameSizes>,
) -> Result<(), String> {
    check_size(width, height)?;
    if let Some(r) = reported {
        if !(r.min_width..=r.max_width).contains(&width)
            || !(r.min_height..=r.max_height).contains(&height)
        {
            return Err(format!(
                "{width}x{height} is outside the sizes the hardware encoder's driver reports: \
                 width {}..{}, height {}..{} pixels",
                r.min_width, r.max_width, r.min_height, r.max_height
            ));
        }
    }
    Ok(())
}

/// Whether a buffer with these plane offsets and strides can be handed to the device as is
/// (zero-copy DMABUF import): its planes must sit exactly where the driver expects them for
/// `stride`, and `stride` must meet the format's alignment.
pub fn zero_copy_layout_ok(
    format: RawFormat,
    width: u32,
    height: u32,
    offsets: &[usize],
    strides: &[usize],
) -> bool {
    let Some(&stride) = strides.first() else {
        return false;
    };
    if !(stride as u32).is_multiple_of(format.stride_align())
        || (stride as u32) < format.row_bytes(width)
    {
        return false;
    }
    let want = planes(format, width, height, stride as u32);
    want.len() == offsets.len()
        && want.len() <= strides.len()
        && want
            .iter()
            .zip(offsets)
            .zip(strides)
            .all(|((p, &o), &s)| p.offset == o && p.stride == s)
}

/// Copies a picture given as source planes `(data, stride)` into a device buffer laid out for
/// `dst_stride`. Returns the bytes used, or an error naming a short plane.
///
/// Written here rather than with `gst_video::VideoFrameRef::copy`: the destination is the
/// driver's mmap()ed buffer, not a `GstBuffer`, and wrapping it in one needs unsafe code that
/// claims a `'static` lifetime the mapping does not have; this stays pure and testable without
/// GStreamer, and each row is one `copy_from_slice` (a memcpy), as in `gst_video_frame_copy`.
pub fn copy_into(
    format: RawFormat,
    width: u32,
    height: u32,
    src: &[(&[u8], usize)],
    dst: &mut [u8],
    dst_stride: u32,
) -> Result<usize, String> {
    let layout = planes(format, width, height, dst_stride);
    if src.len() < layout.len() {
        return Err(format!(
            "{} planes given, {} needed",
            src.len(),
            layout.len()
        ));
    }
    let total = image_size(format, width, height, dst_stride);
    if dst.len() < total {
        return Err(format!(
            "device buffer has {} bytes, needs {total}",
            dst.len()
        ));
    }
    for (i, (p, &(data, stride))) in layout.iter().zip(src).enumerate() {
        let need = stride * (p.rows - 1) + p.row_bytes;
        if data.len() < need || stride < p.row_bytes {
            return Err(format!(
                "input plane {i} has {} bytes, needs {need}",
                data.len()
            ));
        }
        for row in 0..p.rows {
            let s = &data[row * stride..row * stride + p.row_bytes];
            let d = p.offset + row * p.stride;
            dst[d..d + p.row_bytes].copy_from_slice(s);
        }
    }
    Ok(total)
}

/// V4L2 colour spaces (`enum v4l2_colorspace`).
pub mod colorspace {
    /// `V4L2_COLORSPACE_SMPTE170M` (BT.601, SD).
    pub const SMPTE170M: u32 = 1;
    /// `V4L2_COLORSPACE_REC709`.
    pub const REC709: u32 = 3;
    /// `V4L2_COLORSPACE_JPEG` (full-range BT.601).
    pub const JPEG: u32 = 7;
    /// `V4L2_COLORSPACE_SRGB`.
    pub const SRGB: u32 = 8;
}

/// The colour space to give the encoder when the caps do not say: rpicam-apps'
/// `ConfigureVideo` rule, Rec.709 from 1280 wide or 720 high, else SMPTE 170M.
pub fn default_colorspace(width: u32, height: u32) -> u32 {
    if width >= 1280 || height >= 720 {
        colorspace::REC709
    } else {
        colorspace::SMPTE170M
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_follow_driver_alignment() {
        // I420 needs 64 so chroma (stride/2) is 32-aligned: 780 wide -> 832
        // (raspberrypi/rpicam-apps #188).
        assert_eq!(RawFormat::I420.min_stride(780), 832);
        assert_eq!(RawFormat::I420.min_stride(1280), 1280);
        assert_eq!(RawFormat::I420.min_stride(1296), 1344);
        assert_eq!(RawFormat::Nv12.min_stride(1296), 1312);
        assert_eq!(RawFormat::Yuy2.min_stride(640), 1280);
        assert_eq!(RawFormat::Rgb.min_stride(642), 1952);
        assert_eq!(RawFormat::Bgrx.min_stride(100), 448);
        assert_eq!(RawFormat::from_gst_name("NV12"), Some(RawFormat::Nv12));
        assert_eq!(RawFormat::from_gst_name("GRAY8"), None);
        assert_eq!(RawFormat::I420.fourcc(), fourcc(b"YU12"));
    }

    #[test]
    fn layouts() {
        let p = planes(RawFormat::I420, 1920, 1080, 1920);
        assert_eq!(p[1].offset, 1920 * 1080);
        assert_eq!(p[2].offset, 1920 * 1080 + 960 * 540);
        assert_eq!(
            image_size(RawFormat::I420, 1920, 1080, 1920),
            1920 * 1080 * 3 / 2
        );
        let p = planes(RawFormat::Nv12, 64, 33, 64);
        assert_eq!(
            p[1],
            DevicePlane {
                offset: 64 * 33,
                stride: 64,
                row_bytes: 64,
                rows: 17
            }
        );
    }

    #[test]
    fn size_limits_name_the_limit() {
        assert!(check_size(1920, 1080).is_ok());
        assert!(check_size(1920, 1920).is_ok());
        let e = check_size(4056, 3040).unwrap_err();
        assert!(e.contains("4056x3040") && e.contains("32..1920"), "{e}");
        assert!(check_size(16, 16).is_err());
        let reported = super::super::device::FrameSizes {
            min_width: 32,
            max_width: 1280,
            min_height: 32,
            max_height: 1920,
        };
        assert!(check_reported_size(1280, 720, Some(&reported)).is_ok());
        let e = check_reported_size(1920, 1080, Some(&reported)).unwrap_err();
        assert!(
            e.contains("1920x1080") && e.contains("width 32..1280"),
            "{e}"
        );
        // The driver saying more does not lift the firmware's limit.
        let big = super::super::device::FrameSizes {
            max_width: 4096,
            ..reported
        };
        assert!(check_reported_size(2032, 1080, Some(&big))
            .unwrap_err()
            .contains("32..1920"));
    }

    #[test]
    fn zero_copy_needs_exact_layout() {
        // GStreamer's default I420 1280x720 layout equals the driver's.
        let offs = [0, 1280 * 720, 1280 * 720 + 640 * 360];
        assert!(zero_copy_layout_ok(
            RawFormat::I420,
            1280,
            720,
            &offs,
            &[1280, 640, 640]
        ));
        // GStreamer's default I420 for 1296 wide has stride 1296 -> not 64-aligned.
        let offs = [0, 1296 * 720, 1296 * 720 + 648 * 360];
        assert!(!zero_copy_layout_ok(
            RawFormat::I420,
            1296,
            720,
            &offs,
            &[1296, 648, 648]
        ));
        // Padded between planes -> copy.
        let offs = [0, 1280 * 736, 1280 * 736 + 640 * 368];
        assert!(!zero_copy_layout_ok(
            RawFormat::I420,
            1280,
            720,
            &offs,
            &[1280, 640, 640]
        ));
        assert!(zero_copy_layout_ok(
            RawFormat::Nv12,
            640,
            480,
            &[0, 640 * 480],
            &[640, 640]
        ));
    }

    #[test]
    fn copy_restrides() {
        // 4x2 I420 with source stride 5 into device stride 64.
        let y = [1, 2, 3, 4, 9, 5, 6, 7, 8, 9];
        let u = [10, 11];
        let v = [20, 21];
        let mut dst = vec![0u8; image_size(RawFormat::I420, 4, 2, 64)];
        let used = copy_into(
            RawFormat::I420,
            4,
            2,
            &[(&y, 5), (&u, 2), (&v, 2)],
            &mut dst,
            64,
        )
        .unwrap();
        assert_eq!(used, 64 * 2 + 32 + 32);
        assert_eq!(&dst[0..4], &[1, 2, 3, 4]);
        assert_eq!(&dst[64..68], &[5, 6, 7, 8]);
        assert_eq!(&dst[128..130], &[10, 11]);
        assert_eq!(&dst[160..162], &[20, 21]);
        let e = copy_into(
            RawFormat::I420,
            4,
            2,
            &[(&y[..3], 5), (&u, 2), (&v, 2)],
            &mut dst,
            64,
        )
        .unwrap_err();
        assert!(e.contains("plane 0"), "{e}");
    }

    #[test]
    fn colourspace_default_matches_rpicam_apps() {
        assert_eq!(default_colorspace(1280, 720), colorspace::REC709);
        assert_eq!(default_colorspace(640, 480), colorspace::SMPTE170M);
    }
}
