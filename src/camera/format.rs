// SPDX-License-Identifier: MPL-2.0
//! Geometry, pixel formats, plane layouts and colour spaces.
//!
//! Stride rules are the Pi 4 (VC4) ISP's, from the bcm2835-isp/bcm2835-codec drivers
//! (`docs/sensors.md`, "Strides", ISP column): planar YUV 4:2:0 luma
//! rows aligned to 64 bytes (so chroma rows are 32-aligned), NV12/NV21 and 24-bit RGB to 32 bytes,
//! packed 4:2:2 and 32-bit RGB to 64 bytes, Bayer to 32 bytes.

use std::fmt;

/// A width and height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Size {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Size {
    /// A size of `width` x `height` pixels.
    pub const fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// Area in pixels.
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// True when `other` fits inside `self` in both dimensions.
    pub fn contains(&self, other: Size) -> bool {
        other.width <= self.width && other.height <= self.height
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// A rectangle in pixels: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    /// Left edge, pixels.
    pub x: i32,
    /// Top edge, pixels.
    pub y: i32,
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
}

impl Rect {
    /// A rectangle at (`x`, `y`) of `width` x `height` pixels.
    pub const fn new(x: i32, y: i32, width: u32, height: u32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    /// The rectangle's size.
    pub fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }

    /// The intersection of two rectangles (empty when they do not overlap).
    pub fn intersect(&self, other: &Rect) -> Rect {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = (self.x + self.width as i32).min(other.x + other.width as i32);
        let y1 = (self.y + self.height as i32).min(other.y + other.height as i32);
        if x1 <= x0 || y1 <= y0 {
            return Rect::new(x0, y0, 0, 0);
        }
        Rect::new(x0, y0, (x1 - x0) as u32, (y1 - y0) as u32)
    }
}

impl fmt::Display for Rect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})/{}x{}", self.x, self.y, self.width, self.height)
    }
}

/// The colour filter array order of a Bayer sensor, as read out with no flips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BayerOrder {
    /// R G / G B
    Rggb,
    /// G R / B G
    Grbg,
    /// G B / R G
    Gbrg,
    /// B G / G R
    Bggr,
}

impl BayerOrder {
    /// The order after horizontal and/or vertical flips (sensors flip their readout, which
    /// changes the order: `docs/sensors.md`, "Bayer order and flips").
    pub fn flipped(self, hflip: bool, vflip: bool) -> BayerOrder {
        use BayerOrder::*;
        let h = |o| match o {
            Rggb => Grbg,
            Grbg => Rggb,
            Gbrg => Bggr,
            Bggr => Gbrg,
        };
        let v = |o| match o {
            Rggb => Gbrg,
            Gbrg => Rggb,
            Grbg => Bggr,
            Bggr => Grbg,
        };
        let mut o = self;
        if hflip {
            o = h(o);
        }
        if vflip {
            o = v(o);
        }
        o
    }

    /// Lower-case name as GStreamer's `video/x-bayer` formats spell it (`rggb`, ...).
    pub fn name(self) -> &'static str {
        match self {
            BayerOrder::Rggb => "rggb",
            BayerOrder::Grbg => "grbg",
            BayerOrder::Gbrg => "gbrg",
            BayerOrder::Bggr => "bggr",
        }
    }

    /// Colour index (0 = R, 1 = G, 2 = B) of the pixel at (`x`, `y`).
    pub fn colour_at(self, x: u32, y: u32) -> usize {
        let (a, b, c, d) = match self {
            BayerOrder::Rggb => (0, 1, 1, 2),
            BayerOrder::Grbg => (1, 0, 2, 1),
            BayerOrder::Gbrg => (1, 2, 0, 1),
            BayerOrder::Bggr => (2, 1, 1, 0),
        };
        match (y & 1, x & 1) {
            (0, 0) => a,
            (0, _) => b,
            (_, 0) => c,
            _ => d,
        }
    }
}

/// Pixel formats the Pi ISP outputs, plus raw Bayer.
///
/// Names follow the byte order in memory (as GStreamer's do); [`PixelFormat::libcamera_name`]
/// gives libcamera's (DRM fourcc) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Y plane, then interleaved U/V plane at half resolution (4:2:0).
    Nv12,
    /// Y plane, then interleaved V/U plane at half resolution (4:2:0).
    Nv21,
    /// Y, U, V planes (4:2:0); libcamera YUV420.
    I420,
    /// Y, V, U planes (4:2:0); libcamera YVU420.
    Yv12,
    /// Packed 4:2:2 Y0 U Y1 V (GStreamer YUY2).
    Yuyv,
    /// Packed 4:2:2 Y0 V Y1 U.
    Yvyu,
    /// Packed 4:2:2 U Y0 V Y1.
    Uyvy,
    /// Packed 4:2:2 V Y0 U Y1.
    Vyuy,
    /// 24-bit R, G, B bytes.
    Rgb,
    /// 24-bit B, G, R bytes.
    Bgr,
    /// 32-bit R, G, B, x bytes.
    Rgbx,
    /// 32-bit B, G, R, x bytes.
    Bgrx,
    /// 32-bit x, R, G, B bytes.
    Xrgb,
    /// 32-bit x, B, G, R bytes.
    Xbgr,
    /// Raw Bayer from the sensor: `bits` per sample (8, 10, 12 or 16), CSI-2 packed or
    /// unpacked (16-bit little-endian containers, value in the low bits).
    Bayer {
        /// Colour filter order.
        order: BayerOrder,
        /// Bits per sample.
        bits: u8,
        /// CSI-2 packed (`_CSI2P` in libcamera's names).
        packed: bool,
    },
}

/// One plane of a frame buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneLayout {
    /// Byte offset of the plane in the buffer.
    pub offset: usize,
    /// Bytes from one row to the next.
    pub stride: usize,
    /// Rows in the plane.
    pub rows: usize,
}

impl PlaneLayout {
    /// Bytes the plane spans: `stride` x `rows`.
    pub fn size(&self) -> usize {
        self.stride * self.rows
    }
}

/// The layout of a whole frame: its planes and total size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameLayout {
    /// Planes in memory order.
    pub planes: Vec<PlaneLayout>,
    /// Total bytes.
    pub size: usize,
}

fn align(v: usize, a: usize) -> usize {
    v.div_ceil(a) * a
}

impl PixelFormat {
    /// Every processed (ISP output) format, in order of preference (NV12 first, as libcamera
    /// and the Pi's encoders prefer it).
    pub const PROCESSED: [PixelFormat; 14] = [
        PixelFormat::Nv12,
        PixelFormat::I420,
        PixelFormat::Yv12,
        PixelFormat::Nv21,
        PixelFormat::Yuyv,
        PixelFormat::Yvyu,
        PixelFormat::Uyvy,
        PixelFormat::Vyuy,
        PixelFormat::Rgb,
        PixelFormat::Bgr,
        PixelFormat::Rgbx,
        PixelFormat::Bgrx,
        PixelFormat::Xrgb,
        PixelFormat::Xbgr,
    ];

    /// True for YUV formats (the only ones the low-resolution ISP output can produce on VC4).
    pub fn is_yuv(self) -> bool {
        matches!(
            self,
            PixelFormat::Nv12
                | PixelFormat::Nv21
                | PixelFormat::I420
                | PixelFormat::Yv12
                | PixelFormat::Yuyv
                | PixelFormat::Yvyu
                | PixelFormat::Uyvy
                | PixelFormat::Vyuy
        )
    }

    /// True for the 4:2:0 YUV formats.
    pub fn is_yuv420(self) -> bool {
        matches!(
            self,
            PixelFormat::Nv12 | PixelFormat::Nv21 | PixelFormat::I420 | PixelFormat::Yv12
        )
    }

    /// True for RGB formats.
    pub fn is_rgb(self) -> bool {
        !self.is_yuv() && !self.is_bayer()
    }

    /// True for raw Bayer formats.
    pub fn is_bayer(self) -> bool {
        matches!(self, PixelFormat::Bayer { .. })
    }

    /// libcamera's name for the format (DRM fourcc naming, little-endian words).
    pub fn libcamera_name(self) -> String {
        match self {
            PixelFormat::Nv12 => "NV12".into(),
            PixelFormat::Nv21 => "NV21".into(),
            PixelFormat::I420 => "YUV420".into(),
            PixelFormat::Yv12 => "YVU420".into(),
            PixelFormat::Yuyv => "YUYV".into(),
            PixelFormat::Yvyu => "YVYU".into(),
            PixelFormat::Uyvy => "UYVY".into(),
            PixelFormat::Vyuy => "VYUY".into(),
            PixelFormat::Rgb => "BGR888".into(),
            PixelFormat::Bgr => "RGB888".into(),
            PixelFormat::Rgbx => "XBGR8888".into(),
            PixelFormat::Bgrx => "XRGB8888".into(),
            PixelFormat::Xrgb => "BGRX8888".into(),
            PixelFormat::Xbgr => "RGBX8888".into(),
            PixelFormat::Bayer {
                order,
                bits,
                packed,
            } => format!(
                "S{}{}{}",
                order.name().to_uppercase(),
                bits,
                if packed && bits != 8 && bits != 16 {
                    "_CSI2P"
                } else {
                    ""
                }
            ),
        }
    }

    /// Bytes per pixel of packed single-plane formats (RGB and 4:2:2), `None` otherwise.
    pub fn bytes_per_pixel(self) -> Option<usize> {
        match self {
            PixelFormat::Rgb | PixelFormat::Bgr => Some(3),
            PixelFormat::Rgbx | PixelFormat::Bgrx | PixelFormat::Xrgb | PixelFormat::Xbgr => {
                Some(4)
            }
            PixelFormat::Yuyv | PixelFormat::Yvyu | PixelFormat::Uyvy | PixelFormat::Vyuy => {
                Some(2)
            }
            _ => None,
        }
    }

    /// The stride alignment in bytes of the first plane on the Pi 4 ISP (see module docs).
    pub fn stride_alignment(self) -> usize {
        match self {
            PixelFormat::I420 | PixelFormat::Yv12 => 64,
            PixelFormat::Nv12 | PixelFormat::Nv21 => 32,
            PixelFormat::Yuyv | PixelFormat::Yvyu | PixelFormat::Uyvy | PixelFormat::Vyuy => 64,
            PixelFormat::Rgb | PixelFormat::Bgr => 32,
            PixelFormat::Rgbx | PixelFormat::Bgrx | PixelFormat::Xrgb | PixelFormat::Xbgr => 64,
            PixelFormat::Bayer { .. } => 32,
        }
    }

    /// Bytes one row of `width` pixels occupies before alignment.
    pub fn min_stride(self, width: u32) -> usize {
        let w = width as usize;
        match self {
            PixelFormat::Bayer { bits, packed, .. } => match (bits, packed) {
                (8, _) => w,
                (10, true) => w.div_ceil(4) * 5,
                (12, true) => w.div_ceil(2) * 3,
                _ => w * 2,
            },
            other => other.bytes_per_pixel().unwrap_or(1) * w,
        }
    }

    /// The plane layout of a `size` frame with the Pi ISP's alignment, or with `stride`
    /// (bytes, first plane) when given and large enough.
    ///
    /// Errors: a stride smaller than a row needs, or an odd size for a 4:2:0 or 4:2:2 format.
    pub fn layout(self, size: Size, stride: Option<usize>) -> Result<FrameLayout, String> {
        let (w, h) = (size.width as usize, size.height as usize);
        if w == 0 || h == 0 {
            return Err(format!("frame size {size} is empty"));
        }
        if (self.is_yuv420() && (w % 2 != 0 || h % 2 != 0)) || (self.is_yuv() && w % 2 != 0) {
            return Err(format!(
                "{} needs an even width{}; {size} is not",
                self.libcamera_name(),
                if self.is_yuv420() { " and height" } else { "" }
            ));
        }
        let min = self.min_stride(size.width);
        let stride = match stride {
            Some(s) if s < min => {
                return Err(format!(
                    "stride {s} bytes is too small for {size} {} (at least {min})",
                    self.libcamera_name()
                ))
            }
            Some(s) => s,
            None => align(min, self.stride_alignment()),
        };
        let planes = match self {
            PixelFormat::Nv12 | PixelFormat::Nv21 => vec![
                PlaneLayout {
                    offset: 0,
                    stride,
                    rows: h,
                },
                PlaneLayout {
                    offset: stride * h,
                    stride,
                    rows: h / 2,
                },
            ],
            PixelFormat::I420 | PixelFormat::Yv12 => {
                let cs = stride / 2;
                vec![
                    PlaneLayout {
                        offset: 0,
                        stride,
                        rows: h,
                    },
                    PlaneLayout {
                        offset: stride * h,
                        stride: cs,
                        rows: h / 2,
                    },
                    PlaneLayout {
                        offset: stride * h + cs * (h / 2),
                        stride: cs,
                        rows: h / 2,
                    },
                ]
            }
            _ => vec![PlaneLayout {
                offset: 0,
                stride,
                rows: h,
            }],
        };
        let size = planes
            .last()
            .map(|p| p.offset + p.stride * p.rows)
            .unwrap_or(0);
        Ok(FrameLayout { planes, size })
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.libcamera_name())
    }
}

/// Colour spaces libcamera names, with the ones the Pi uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColorSpace {
    /// Raw sensor data.
    Raw,
    /// sYCC: sRGB primaries and transfer, full-range BT.601 matrix (JPEG, RGB outputs).
    Sycc,
    /// SMPTE 170M (BT.601 limited range): the Pi's choice below 1280x720.
    Smpte170m,
    /// Rec. 709 limited range: the Pi's choice at 1280x720 and above.
    Rec709,
    /// Rec. 2020 limited range.
    Rec2020,
}

impl ColorSpace {
    /// The colour space Picamera2 and rpicam-apps choose for a processed stream: sYCC for RGB,
    /// SMPTE 170M below 1280x720, else Rec.709 (`docs/sensors.md`, "Colour spaces": rpicam-apps
    /// ConfigureVideo and Picamera2's video configuration).
    pub fn default_for(format: PixelFormat, size: Size) -> ColorSpace {
        if format.is_bayer() {
            ColorSpace::Raw
        } else if format.is_rgb() {
            ColorSpace::Sycc
        } else if size.width >= 1280 || size.height >= 720 {
            ColorSpace::Rec709
        } else {
            ColorSpace::Smpte170m
        }
    }

    /// True when luma and chroma use the full 0..255 range.
    pub fn full_range(self) -> bool {
        matches!(self, ColorSpace::Sycc | ColorSpace::Raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nv12_layout_uses_32_byte_rows() {
        let l = PixelFormat::Nv12
            .layout(Size::new(1000, 480), None)
            .unwrap();
        assert_eq!(l.planes[0].stride, 1024);
        assert_eq!(l.planes[1].offset, 1024 * 480);
        assert_eq!(l.size, 1024 * 480 * 3 / 2);
    }

    #[test]
    fn i420_luma_rows_align_to_64_so_chroma_aligns_to_32() {
        // rpicam-apps #188: 780 wide -> 832 stride.
        let l = PixelFormat::I420.layout(Size::new(780, 480), None).unwrap();
        assert_eq!(l.planes[0].stride, 832);
        assert_eq!(l.planes[1].stride, 416);
        assert_eq!(l.planes[2].offset, 832 * 480 + 416 * 240);
    }

    #[test]
    fn packed_bayer_strides() {
        let p10 = PixelFormat::Bayer {
            order: BayerOrder::Rggb,
            bits: 10,
            packed: true,
        };
        assert_eq!(p10.min_stride(640), 800);
        let p12 = PixelFormat::Bayer {
            order: BayerOrder::Rggb,
            bits: 12,
            packed: true,
        };
        assert_eq!(p12.min_stride(4056), 6084);
        assert_eq!(p12.libcamera_name(), "SRGGB12_CSI2P");
    }

    #[test]
    fn odd_sizes_and_small_strides_are_refused() {
        assert!(PixelFormat::Nv12.layout(Size::new(641, 480), None).is_err());
        assert!(PixelFormat::Rgb
            .layout(Size::new(640, 480), Some(100))
            .is_err());
    }

    #[test]
    fn bayer_order_flips() {
        assert_eq!(BayerOrder::Rggb.flipped(true, true), BayerOrder::Bggr);
        assert_eq!(BayerOrder::Gbrg.flipped(true, false), BayerOrder::Bggr);
    }
}
