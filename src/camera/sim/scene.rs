// SPDX-License-Identifier: MPL-2.0
//! The simulated scene and the simulated ISP output: reflectance images, exposure to light,
//! white balance, gamma, noise, colour conversion into every output format, and raw Bayer.
//!
//! Light model (calibrated by the tuning file's `rpi.lux` reference): a surface of reflectance
//! 0.18 lit by `lux_ref` lux and exposed for `shutter_ref` µs at `gain_ref` gives a linear luma of
//! `y_ref / 65536`, and linear signal scales with reflectance, illuminance, exposure time, gain
//! and mode sensitivity. The sensor saturates at 1.0. The ISP applies white-balance gains,
//! digital gain, an sRGB-like gamma, contrast, brightness and saturation, then converts to the
//! output format. Noise is added to luma with a standard deviation that grows with the square
//! root of the signal (shot noise) and with the total gain (read noise).

use std::path::PathBuf;
use std::sync::Arc;

use crate::camera::format::{BayerOrder, ColorSpace, FrameLayout, PixelFormat, Rect, Size};

/// What the simulated camera looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum SceneKind {
    /// 75% colour bars (white, yellow, cyan, green, magenta, red, blue, black).
    Bars,
    /// A synthetic scene of colour patches, gradients and edges that scrolls sideways.
    Moving,
    /// A still image file (JPEG or PNG), stretched over the pixel array.
    Image(String),
}

/// Default scene light, lux (an office).
pub const DEFAULT_LUX: f64 = 400.0;
/// Default colour temperature of the light, K.
pub const DEFAULT_COLOUR_TEMPERATURE: f64 = 5000.0;
/// Default subject distance, dioptres (1 m).
pub const DEFAULT_FOCUS: f64 = 1.0;

/// The scene settings of a simulated camera.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneSettings {
    /// What is in view.
    pub kind: SceneKind,
    /// Scene illuminance, lux (office ~400, overcast daylight ~1000-10000, dim room ~1-10).
    pub lux: f64,
    /// Colour temperature of the light, K.
    pub colour_temperature: f64,
    /// Subject distance for focus simulation, dioptres (1/metres).
    pub focus_dioptres: f64,
    /// Add sensor noise (off makes rendering of a static scene skip unchanged frames).
    pub noise: bool,
}

impl Default for SceneSettings {
    fn default() -> Self {
        Self {
            kind: SceneKind::Moving,
            lux: DEFAULT_LUX,
            colour_temperature: DEFAULT_COLOUR_TEMPERATURE,
            focus_dioptres: DEFAULT_FOCUS,
            noise: true,
        }
    }
}

/// Reflectance (linear, 0..255 = 0..1) of a scene as seen through one stream: `width` x
/// `height` pixels, or `2 * width` wide for scrolling scenes.
///
/// Rows that sample the same scene row are stored once (a synthetic scene has a few dozen
/// distinct rows, a stretched image repeats rows): the imx219's 1080p moving scene takes 11 rows
/// of 3840 texels (0.12 MiB) instead of 1080 (12 MiB), and is built in a millisecond.
#[derive(Debug, Clone)]
pub struct Reflectance {
    /// Texture width, pixels.
    pub tex_width: usize,
    /// Visible width, pixels.
    pub width: usize,
    /// Height, pixels.
    pub height: usize,
    /// For each of the `height` rows, top to bottom, the index of its texels in `texels`.
    rows: Vec<u32>,
    /// The distinct rows' RGB reflectance, `tex_width` texels each.
    texels: Vec<[u8; 3]>,
    /// Whether the view scrolls.
    pub scrolls: bool,
}

impl Reflectance {
    /// Row `y` (0 at the top), `tex_width` texels.
    ///
    /// Panics when `y >= height`.
    pub fn row(&self, y: usize) -> &[[u8; 3]] {
        let i = self.rows[y] as usize * self.tex_width;
        &self.texels[i..i + self.tex_width]
    }

    /// Texel bytes held (each distinct row once), for the memory figures.
    pub fn texel_bytes(&self) -> usize {
        self.texels.len() * 3
    }
}

/// Region statistics of a reflectance image, taken once at configure time (the scene moves by
/// scrolling, which keeps its statistics).
#[derive(Debug, Clone)]
pub struct SceneStats {
    /// 16x12 region means of luma reflectance (0..1), row-major.
    pub regions: Vec<f64>,
    /// 16x12 region means of R, G, B reflectance.
    pub region_rgb: Vec<[f64; 3]>,
    /// Luma reflectance histogram, 256 bins.
    pub histogram: Vec<u32>,
}

/// Grid of AGC/AWB statistics regions (the PiSP's 16x12).
pub const REGIONS: (usize, usize) = (16, 12);

const BARS: [[u8; 3]; 8] = [
    [191, 191, 191],
    [191, 191, 0],
    [0, 191, 191],
    [0, 191, 0],
    [191, 0, 191],
    [191, 0, 0],
    [0, 0, 191],
    [0, 0, 0],
];

/// The largest scene image file read, bytes (64 MiB).
pub const MAX_IMAGE_FILE_BYTES: u64 = 64 << 20;
/// The most pixels a scene image may have (32 Mpx, 8192x4096 say; 96 MiB decoded as RGB).
/// The largest simulated sensor has 12.3 Mpx, so a larger image adds no detail.
pub const MAX_IMAGE_PIXELS: u64 = 32 << 20;

/// The decoded scene image, by path: the image, or why it could not be loaded (`Some` until
/// the simulated camera has reported it, then `None`). No entry while it is being decoded.
pub type ImageCache = Option<(String, Result<Arc<image::RgbImage>, Option<String>>)>;

fn read_error(path: &str, e: impl std::fmt::Display) -> String {
    format!("cannot read scene image '{path}': {e}")
}

/// Checks that `path` names a scene image within the limits, reading only the file's status
/// and the image's header: bounded and quick, fit for the application's thread. Symbolic
/// links are followed; only a regular file of at most [`MAX_IMAGE_FILE_BYTES`] whose header
/// gives at most [`MAX_IMAGE_PIXELS`] is accepted (a FIFO or a device would block or never
/// end). Returns the resolved path.
///
/// Errors (naming the path and the limit): missing or unreadable, not a regular file, too
/// large a file, not a JPEG or PNG, too many pixels.
pub fn check_image(path: &str) -> Result<PathBuf, String> {
    let real = std::fs::canonicalize(path).map_err(|e| read_error(path, e))?;
    let md = std::fs::metadata(&real).map_err(|e| read_error(path, e))?;
    if !md.is_file() {
        return Err(format!(
            "scene image '{path}' ({}) is not a regular file: only regular JPEG or PNG files \
             are read, not a FIFO, a device or a directory",
            real.display()
        ));
    }
    if md.len() > MAX_IMAGE_FILE_BYTES {
        return Err(format!(
            "scene image '{path}' is {} bytes, above the limit of {MAX_IMAGE_FILE_BYTES} bytes \
             (64 MiB)",
            md.len()
        ));
    }
    let (w, h) = image::ImageReader::open(&real)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| read_error(path, e))?
        .into_dimensions()
        .map_err(|e| read_error(path, e))?;
    if u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS {
        return Err(format!(
            "scene image '{path}' is {w}x{h} ({} pixels), above the limit of \
             {MAX_IMAGE_PIXELS} pixels (8192x4096, say)",
            u64::from(w) * u64::from(h)
        ));
    }
    Ok(real)
}

/// Loads an image file as RGB, after [`check_image`]'s checks; decoding a large image takes
/// long (the simulated camera does it on a thread of its own, never the application's), and
/// allocates no more than the pixel limit needs even if the header lied.
///
/// Errors: as [`check_image`], or the data cannot be decoded; each names the path.
pub fn load_image(path: &str) -> Result<Arc<image::RgbImage>, String> {
    let real = check_image(path)?;
    let mut reader = image::ImageReader::open(&real)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| read_error(path, e))?;
    let mut limits = image::Limits::default();
    // Decoded as RGBA at most, plus the RGB copy.
    limits.max_alloc = Some(MAX_IMAGE_PIXELS * 4);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| read_error(path, e))?;
    Ok(Arc::new(img.to_rgb8()))
}

/// What of the moving scene a row at `v` (0..1 over the pixel array) shows: everything
/// [`moving_pattern`] reads of `v`, so rows with the same value are identical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum MovingRow {
    /// The grey ramp along the top.
    Ramp,
    /// A row of cells `cell_v`: between patches (`Gap`), through patches (`Patch`), or through
    /// their striped corners (`Stripes`).
    Gap(i32),
    Patch(i32),
    Stripes(i32),
}

fn moving_row(v: f64) -> MovingRow {
    if v < 0.12 {
        return MovingRow::Ramp;
    }
    let cell_v = (v * 6.0).floor() as i32;
    let fv = v * 6.0 - f64::from(cell_v);
    if !(0.1..0.9).contains(&fv) {
        MovingRow::Gap(cell_v)
    } else if fv > 0.7 {
        MovingRow::Stripes(cell_v)
    } else {
        MovingRow::Patch(cell_v)
    }
}

fn moving_pattern(u: f64, row: MovingRow) -> [u8; 3] {
    // u in 0..1 over the pixel array. Periodic in u so the view can scroll.
    let (cell_v, stripes) = match row {
        MovingRow::Ramp => {
            // A grey ramp along the top (reflectance 2%..90%).
            let r = (0.02 + 0.88 * u) * 255.0;
            return [r as u8; 3];
        }
        MovingRow::Gap(_) => return [46, 46, 46],
        MovingRow::Patch(c) => (c, false),
        MovingRow::Stripes(c) => (c, true),
    };
    let cell_u = (u * 8.0).floor() as i32;
    let fu = u * 8.0 - f64::from(cell_u);
    if (0.1..0.9).contains(&fu) {
        // Colour-checker-like patches.
        let palette: [[u8; 3]; 12] = [
            [115, 82, 68],
            [194, 150, 130],
            [98, 122, 157],
            [87, 108, 67],
            [133, 128, 177],
            [103, 189, 170],
            [214, 126, 44],
            [80, 91, 166],
            [193, 90, 99],
            [94, 60, 108],
            [157, 188, 64],
            [224, 163, 46],
        ];
        let idx = (cell_u * 7 + cell_v * 5).rem_euclid(12) as usize;
        let mut c = palette[idx];
        // Fine stripes in one corner of each patch give edges to focus on.
        if stripes && fu > 0.7 && ((u * 400.0) as i32) % 2 == 0 {
            c = [40, 40, 40];
        }
        // The palette is sRGB-encoded (colour-checker-like values): linearise to reflectance.
        return c.map(|x| SRGB_TO_LINEAR[x as usize]);
    }
    [46, 46, 46]
}

/// The largest rectangle of aspect ratio `size` centred in `crop` (the Pi keeps the output's
/// aspect ratio when scaling the sensor crop).
pub fn aspect_crop(crop: Rect, size: Size) -> Rect {
    let (cw, ch) = (f64::from(crop.width), f64::from(crop.height));
    let ar = f64::from(size.width) / f64::from(size.height.max(1));
    let (w, h) = if cw / ch > ar {
        (ch * ar, ch)
    } else {
        (cw, cw / ar)
    };
    Rect::new(
        crop.x + ((cw - w) / 2.0) as i32,
        crop.y + ((ch - h) / 2.0) as i32,
        w as u32,
        h as u32,
    )
}

/// How the sensor reads its pixel array out: mirrored left to right (`hflip`) and/or top to
/// bottom (`vflip`), as the sensors' flip bits do (imx219 register 0x0172, for example; both
/// together are a 180° rotation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flips {
    /// Horizontal mirror.
    pub hflip: bool,
    /// Vertical flip.
    pub vflip: bool,
}

/// Builds the reflectance a stream of `size` sees through `crop` of a `pixel_array`, read out
/// with `flips`.
pub fn reflectance(
    kind: &SceneKind,
    image: Option<&image::RgbImage>,
    pixel_array: Size,
    crop: Rect,
    size: Size,
    flips: Flips,
) -> Reflectance {
    let (w, h) = (size.width as usize, size.height as usize);
    let scrolls = matches!(kind, SceneKind::Moving);
    let tex_width = if scrolls { 2 * w } else { w };
    let (pa_w, pa_h) = (
        f64::from(pixel_array.width.max(1)),
        f64::from(pixel_array.height.max(1)),
    );
    let image = image.filter(|i| i.width() > 0 && i.height() > 0);
    // What of the scene row `y` shows: rows with the same key are the same texels.
    #[derive(PartialEq, Eq, Hash, Clone, Copy)]
    enum Key {
        Bars,
        Moving(MovingRow),
        ImageRow(u32),
        Grey,
    }
    let key_of = |v: f64| match kind {
        SceneKind::Bars => Key::Bars,
        SceneKind::Moving => Key::Moving(moving_row(v)),
        SceneKind::Image(_) => match image {
            Some(img) => {
                Key::ImageRow(((v * f64::from(img.height())) as u32).min(img.height() - 1))
            }
            None => Key::Grey,
        },
    };
    let mut rows = Vec::with_capacity(h);
    let mut texels: Vec<[u8; 3]> = Vec::new();
    let mut seen: std::collections::HashMap<Key, u32> = std::collections::HashMap::new();
    for y in 0..h {
        let v = (f64::from(crop.y) + (y as f64 + 0.5) * f64::from(crop.height) / h as f64) / pa_h;
        let key = key_of(v);
        let next = seen.len() as u32;
        let index = *seen.entry(key).or_insert(next);
        rows.push(index);
        if index != next {
            continue;
        }
        texels.extend((0..tex_width).map(|x| {
            let u =
                (f64::from(crop.x) + (x as f64 + 0.5) * f64::from(crop.width) / w as f64) / pa_w;
            match key {
                Key::Bars => BARS[((u.clamp(0.0, 0.9999)) * 8.0) as usize],
                Key::Moving(row) => moving_pattern(u.fract(), row),
                Key::ImageRow(iy) => match image {
                    Some(img) => {
                        let ix = ((u * f64::from(img.width())) as u32).min(img.width() - 1);
                        // Photographs are gamma-encoded: linearise to reflectance.
                        img.get_pixel(ix, iy).0.map(|c| SRGB_TO_LINEAR[c as usize])
                    }
                    None => [46, 46, 46],
                },
                Key::Grey => [46, 46, 46],
            }
        }));
    }
    if flips.hflip {
        for row in texels.chunks_exact_mut(tex_width.max(1)) {
            row.reverse();
        }
    }
    if flips.vflip {
        rows.reverse();
    }
    Reflectance {
        tex_width,
        width: w,
        height: h,
        rows,
        texels,
        scrolls,
    }
}

static SRGB_TO_LINEAR: std::sync::LazyLock<[u8; 256]> = std::sync::LazyLock::new(|| {
    let mut t = [0u8; 256];
    for (i, v) in t.iter_mut().enumerate() {
        let c = i as f64 / 255.0;
        let l = if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        };
        *v = (l * 255.0).round() as u8;
    }
    t
});

fn luma(c: [u8; 3]) -> f64 {
    (0.2126 * f64::from(c[0]) + 0.7152 * f64::from(c[1]) + 0.0722 * f64::from(c[2])) / 255.0
}

impl Reflectance {
    /// Region statistics of the visible part.
    pub fn stats(&self) -> SceneStats {
        let (rw, rh) = REGIONS;
        let mut sums = vec![[0f64; 4]; rw * rh];
        let mut histogram = vec![0u32; 256];
        let step = ((self.width * self.height) / 50_000).max(1);
        let mut i = 0usize;
        for y in 0..self.height {
            for x in 0..self.width {
                i += 1;
                if !i.is_multiple_of(step) {
                    continue;
                }
                let c = self.row(y)[x];
                let l = luma(c);
                let r = (y * rh / self.height.max(1)) * rw + x * rw / self.width.max(1);
                let s = &mut sums[r];
                s[0] += f64::from(c[0]) / 255.0;
                s[1] += f64::from(c[1]) / 255.0;
                s[2] += f64::from(c[2]) / 255.0;
                s[3] += 1.0;
                histogram[(l * 255.0).round().clamp(0.0, 255.0) as usize] += 1;
            }
        }
        let region_rgb: Vec<[f64; 3]> = sums
            .iter()
            .map(|s| {
                let n = s[3].max(1.0);
                [s[0] / n, s[1] / n, s[2] / n]
            })
            .collect();
        let regions = region_rgb
            .iter()
            .map(|c| 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])
            .collect();
        SceneStats {
            regions,
            region_rgb,
            histogram,
        }
    }
}

/// Everything the ISP applies to one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IspParams {
    /// Linear signal of a 0.18-reflectance surface before white balance and digital gain
    /// (1.0 = sensor saturation).
    pub grey_signal: f64,
    /// Sensor response of red and blue relative to green under the scene's light.
    pub raw_rb: [f64; 2],
    /// White-balance gains applied by the ISP, [red, blue].
    pub wb: [f64; 2],
    /// Digital gain.
    pub digital_gain: f64,
    /// Brightness, -1..1.
    pub brightness: f64,
    /// Contrast, 0..32 (1 normal).
    pub contrast: f64,
    /// Saturation, 0..32 (1 normal).
    pub saturation: f64,
    /// Gamma exponent applied on top of the sRGB-like curve (1 normal).
    pub gamma: f64,
    /// Standard deviation of read noise, linear units.
    pub read_noise: f64,
    /// Shot-noise factor: variance = factor * signal, linear units.
    pub shot_noise: f64,
}

fn srgb_encode(l: f64) -> f64 {
    if l <= 0.003_130_8 {
        12.92 * l
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    }
}

/// Per-frame lookup tables: reflectance code (0..255) -> output R, G, B (0..255), and noise.
pub struct Luts {
    rgb: [[u8; 256]; 3],
    noise_sigma: [u8; 256],
}

impl Luts {
    /// Builds the tables for `p`.
    pub fn new(p: &IspParams) -> Luts {
        let mut rgb = [[0u8; 256]; 3];
        let mut noise_sigma = [0u8; 256];
        let resp = [p.raw_rb[0], 1.0, p.raw_rb[1]];
        let wb = [p.wb[0], 1.0, p.wb[1]];
        for v in 0..256 {
            let refl = v as f64 / 255.0;
            // Sensor signal per channel (saturates at 1.0), then white balance and digital
            // gain in the ISP (which clips again), then gamma, contrast and brightness.
            let sensor = (refl / 0.18 * p.grey_signal).min(1.0);
            for c in 0..3 {
                let raw_c = (refl / 0.18 * p.grey_signal * resp[c]).min(1.0);
                let lin = (raw_c * wb[c] * p.digital_gain).min(1.0);
                let mut o = srgb_encode(lin).powf(1.0 / p.gamma.max(0.1));
                o = (o - 0.5) * p.contrast + 0.5 + p.brightness;
                rgb[c][v] = (o.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
            let sig = sensor;
            let sigma_lin = (p.shot_noise * sig + p.read_noise * p.read_noise).sqrt();
            // Through the gamma curve's slope at this level, into 8-bit codes, times 8 for
            // sub-code precision.
            let l = (sig * p.digital_gain).clamp(1e-4, 1.0);
            let slope = (srgb_encode((l + 1e-3).min(1.0)) - srgb_encode(l)) / 1e-3;
            noise_sigma[v] = (sigma_lin * p.digital_gain * slope * p.contrast * 255.0 * 8.0)
                .clamp(0.0, 255.0) as u8;
        }
        Luts { rgb, noise_sigma }
    }
}

/// Gaussian noise samples (N(0,1) x 32), shared by every frame.
static NOISE: std::sync::LazyLock<Vec<i8>> = std::sync::LazyLock::new(|| {
    let mut v = Vec::with_capacity(1 << 16);
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    while v.len() < (1 << 16) {
        // Box-Muller.
        let (u1, u2) = (next().max(1e-12), next());
        let r = (-2.0 * u1.ln()).sqrt();
        let z = r * (2.0 * std::f64::consts::PI * u2).cos();
        v.push((z * 32.0).clamp(-127.0, 127.0) as i8);
    }
    v
});

/// YUV conversion coefficients (8.8 fixed point) for a colour space.
#[derive(Debug, Clone, Copy)]
struct Matrix {
    y: [i32; 3],
    u: [i32; 3],
    v: [i32; 3],
    y_off: i32,
}

fn matrix(cs: ColorSpace) -> Matrix {
    match cs {
        ColorSpace::Rec709 | ColorSpace::Rec2020 => Matrix {
            y: [47, 157, 16],
            u: [-26, -87, 112],
            v: [112, -102, -10],
            y_off: 16,
        },
        ColorSpace::Sycc | ColorSpace::Raw => Matrix {
            y: [77, 150, 29],
            u: [-43, -85, 128],
            v: [128, -107, -21],
            y_off: 0,
        },
        ColorSpace::Smpte170m => Matrix {
            y: [66, 129, 25],
            u: [-38, -74, 112],
            v: [112, -94, -18],
            y_off: 16,
        },
    }
}

/// Renders one frame of `format` into `out` (laid out as `layout`) from `refl`, scrolled by
/// `offset` pixels, with `luts`. `noise_seed` picks the noise; `None` renders without noise.
#[allow(clippy::too_many_arguments)]
pub fn render(
    refl: &Reflectance,
    offset: usize,
    luts: &Luts,
    saturation: f64,
    format: PixelFormat,
    cs: ColorSpace,
    layout: &FrameLayout,
    out: &mut [u8],
    noise_seed: Option<u64>,
) {
    let (w, h) = (refl.width, refl.height);
    let m = matrix(cs);
    let sat = (saturation * 256.0).round() as i32;
    let noise = &*NOISE;
    let mut nidx = noise_seed.map(|s| (s.wrapping_mul(0x9E37_79B9)) as usize);
    let off = if refl.scrolls { offset % w.max(1) } else { 0 };
    let mut rgb_row = vec![[0u8; 3]; w];
    let mut y_row = vec![0u8; w];
    let mut uv_row = vec![[0i32; 2]; w];
    let bpp = format.bytes_per_pixel().unwrap_or(1);
    for y in 0..h {
        let src = &refl.row(y)[off..off + w];
        // Noise is added to luma for YUV output (chroma is left clean, as a denoising ISP
        // leaves it), to each channel for RGB.
        let mut noise_at = |g: u8| -> i32 {
            match nidx.as_mut() {
                Some(n) => {
                    *n = n.wrapping_add(7919);
                    (i32::from(noise[*n & 0xffff]) * i32::from(luts.noise_sigma[g as usize])) >> 8
                }
                None => 0,
            }
        };
        if format.is_rgb() {
            for (x, c) in src.iter().enumerate() {
                let d = noise_at(c[1]);
                rgb_row[x] = [0, 1, 2]
                    .map(|i| (i32::from(luts.rgb[i][c[i] as usize]) + d).clamp(0, 255) as u8);
            }
            let row = &mut out[layout.planes[0].offset + y * layout.planes[0].stride..];
            for (x, p) in rgb_row.iter().enumerate() {
                let o = &mut row[x * bpp..x * bpp + bpp];
                let apply_sat = |p: [u8; 3]| -> [u8; 3] {
                    if sat == 256 {
                        return p;
                    }
                    let l =
                        (77 * i32::from(p[0]) + 150 * i32::from(p[1]) + 29 * i32::from(p[2])) >> 8;
                    p.map(|c| (l + (((i32::from(c) - l) * sat) >> 8)).clamp(0, 255) as u8)
                };
                let [r, g, b] = apply_sat(*p);
                match format {
                    PixelFormat::Rgb => o.copy_from_slice(&[r, g, b]),
                    PixelFormat::Bgr => o.copy_from_slice(&[b, g, r]),
                    PixelFormat::Rgbx => o.copy_from_slice(&[r, g, b, 255]),
                    PixelFormat::Bgrx => o.copy_from_slice(&[b, g, r, 255]),
                    PixelFormat::Xrgb => o.copy_from_slice(&[255, r, g, b]),
                    PixelFormat::Xbgr => o.copy_from_slice(&[255, b, g, r]),
                    _ => {}
                }
            }
            continue;
        }
        // Chroma: every other pixel, and every other row for 4:2:0.
        let chroma_row = !format.is_yuv420() || y % 2 == 0;
        for (x, c) in src.iter().enumerate() {
            let (r, g, b) = (
                i32::from(luts.rgb[0][c[0] as usize]),
                i32::from(luts.rgb[1][c[1] as usize]),
                i32::from(luts.rgb[2][c[2] as usize]),
            );
            let yy = ((m.y[0] * r + m.y[1] * g + m.y[2] * b + 128) >> 8) + m.y_off + noise_at(c[1]);
            y_row[x] = yy.clamp(0, 255) as u8;
            if chroma_row && x % 2 == 0 {
                let u = (m.u[0] * r + m.u[1] * g + m.u[2] * b + 128) >> 8;
                let v = (m.v[0] * r + m.v[1] * g + m.v[2] * b + 128) >> 8;
                uv_row[x] = [
                    (128 + ((u * sat) >> 8)).clamp(0, 255),
                    (128 + ((v * sat) >> 8)).clamp(0, 255),
                ];
            }
        }
        let p0 = layout.planes[0];
        match format {
            PixelFormat::Nv12 | PixelFormat::Nv21 | PixelFormat::I420 | PixelFormat::Yv12 => {
                out[p0.offset + y * p0.stride..p0.offset + y * p0.stride + w]
                    .copy_from_slice(&y_row);
                if y % 2 == 0 {
                    let cy = y / 2;
                    match format {
                        PixelFormat::Nv12 | PixelFormat::Nv21 => {
                            let p1 = layout.planes[1];
                            let row = &mut out[p1.offset + cy * p1.stride..];
                            let (a, b) = if format == PixelFormat::Nv12 {
                                (0, 1)
                            } else {
                                (1, 0)
                            };
                            for x in 0..w / 2 {
                                let c = uv_row[2 * x];
                                row[2 * x] = c[a] as u8;
                                row[2 * x + 1] = c[b] as u8;
                            }
                        }
                        _ => {
                            let (pu, pv) = if format == PixelFormat::I420 {
                                (layout.planes[1], layout.planes[2])
                            } else {
                                (layout.planes[2], layout.planes[1])
                            };
                            for x in 0..w / 2 {
                                let c = uv_row[2 * x];
                                out[pu.offset + cy * pu.stride + x] = c[0] as u8;
                                out[pv.offset + cy * pv.stride + x] = c[1] as u8;
                            }
                        }
                    }
                }
            }
            PixelFormat::Yuyv | PixelFormat::Yvyu | PixelFormat::Uyvy | PixelFormat::Vyuy => {
                let row = &mut out[p0.offset + y * p0.stride..];
                for x in 0..w / 2 {
                    let (y0, y1) = (y_row[2 * x], y_row[2 * x + 1]);
                    let [u, v] = uv_row[2 * x].map(|c| c as u8);
                    let q = match format {
                        PixelFormat::Yuyv => [y0, u, y1, v],
                        PixelFormat::Yvyu => [y0, v, y1, u],
                        PixelFormat::Uyvy => [u, y0, v, y1],
                        _ => [v, y0, u, y1],
                    };
                    row[4 * x..4 * x + 4].copy_from_slice(&q);
                }
            }
            _ => {}
        }
    }
}

/// Renders a raw Bayer frame: linear sensor signal (no white balance, no gamma, no digital
/// gain) plus the black level, in `bits` bits, packed or unpacked.
#[allow(clippy::too_many_arguments)]
pub fn render_raw(
    refl: &Reflectance,
    offset: usize,
    p: &IspParams,
    order: BayerOrder,
    bits: u8,
    packed: bool,
    black_level_16: u16,
    layout: &FrameLayout,
    out: &mut [u8],
    noise_seed: Option<u64>,
) {
    let (w, h) = (refl.width, refl.height);
    let max = (1u32 << bits) - 1;
    let black = u32::from(black_level_16) >> (16 - u32::from(bits));
    let span = f64::from(max - black);
    let resp = [p.raw_rb[0], 1.0, p.raw_rb[1]];
    // Per colour channel LUT: reflectance code -> raw value.
    let mut lut = [[0u16; 256]; 3];
    for (c, l) in lut.iter_mut().enumerate() {
        for (v, e) in l.iter_mut().enumerate() {
            let s = (v as f64 / 255.0 / 0.18 * p.grey_signal * resp[c]).min(1.0);
            *e = (f64::from(black) + s * span).round() as u16;
        }
    }
    let off = if refl.scrolls { offset % w.max(1) } else { 0 };
    let noise = &*NOISE;
    let mut n = noise_seed.map(|s| s as usize);
    let sigma = (p.read_noise * span / 32.0).max(0.0);
    let stride = layout.planes[0].stride;
    let mut vals = vec![0u16; w];
    for y in 0..h {
        let src = &refl.row(y)[off..off + w];
        for (x, c) in src.iter().enumerate() {
            let ch = order.colour_at(x as u32, y as u32);
            let mut v = i32::from(lut[ch][c[ch] as usize]);
            if let Some(k) = n.as_mut() {
                *k = k.wrapping_add(104_729);
                v += (f64::from(noise[*k & 0xffff]) * sigma) as i32;
            }
            vals[x] = v.clamp(0, max as i32) as u16;
        }
        let row = &mut out[y * stride..(y + 1) * stride];
        match (bits, packed) {
            (8, _) => {
                for (o, v) in row.iter_mut().zip(vals.iter()) {
                    *o = *v as u8;
                }
            }
            (10, true) => {
                for (q, ch) in vals.chunks(4).enumerate() {
                    let mut lo = 0u8;
                    for (i, v) in ch.iter().enumerate() {
                        row[q * 5 + i] = (v >> 2) as u8;
                        lo |= ((v & 3) as u8) << (2 * i);
                    }
                    row[q * 5 + 4] = lo;
                }
            }
            (12, true) => {
                for (q, ch) in vals.chunks(2).enumerate() {
                    let a = ch[0];
                    let b = ch.get(1).copied().unwrap_or(0);
                    row[q * 3] = (a >> 4) as u8;
                    row[q * 3 + 1] = (b >> 4) as u8;
                    row[q * 3 + 2] = ((a & 15) | ((b & 15) << 4)) as u8;
                }
            }
            _ => {
                // Unpacked: each sample in a 16-bit little-endian word, value in the low bits.
                for (x, v) in vals.iter().enumerate() {
                    row[2 * x..2 * x + 2].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(grey: f64) -> IspParams {
        IspParams {
            grey_signal: grey,
            raw_rb: [0.5, 0.6],
            wb: [2.0, 1.0 / 0.6],
            digital_gain: 1.0,
            brightness: 0.0,
            contrast: 1.0,
            saturation: 1.0,
            gamma: 1.0,
            read_noise: 0.0,
            shot_noise: 0.0,
        }
    }

    #[test]
    fn brighter_light_gives_brighter_pixels_and_grey_stays_grey() {
        let dim = Luts::new(&params(0.01));
        let bright = Luts::new(&params(0.16));
        let grey = 46; // 0.18 reflectance
        assert!(dim.rgb[1][grey] < 60, "{}", dim.rgb[1][grey]);
        assert!(bright.rgb[1][grey] > 100, "{}", bright.rgb[1][grey]);
        // White balanced: R, G, B equal.
        assert!((i32::from(bright.rgb[0][grey]) - i32::from(bright.rgb[1][grey])).abs() <= 1);
        assert!((i32::from(bright.rgb[2][grey]) - i32::from(bright.rgb[1][grey])).abs() <= 1);
    }

    #[test]
    fn flips_mirror_the_readout() {
        let read = |hflip, vflip| {
            reflectance(
                &SceneKind::Moving,
                None,
                Size::new(640, 480),
                Rect::new(0, 0, 640, 480),
                Size::new(32, 8),
                Flips { hflip, vflip },
            )
        };
        let (plain, both) = (read(false, false), read(true, true));
        let (tw, h) = (plain.tex_width, plain.height);
        for y in 0..h {
            for x in 0..tw {
                assert_eq!(
                    both.row(h - 1 - y)[tw - 1 - x],
                    plain.row(y)[x],
                    "180 degrees at ({x}, {y})"
                );
                assert_eq!(read(false, true).row(h - 1 - y)[x], plain.row(y)[x]);
            }
        }
        let all = |r: &Reflectance| (0..h).flat_map(|y| r.row(y).to_vec()).collect::<Vec<_>>();
        assert_ne!(all(&plain), all(&both), "the scene is not symmetric");
    }

    #[test]
    fn rows_are_stored_once_each() {
        let r = reflectance(
            &SceneKind::Moving,
            None,
            Size::new(3280, 2464),
            Rect::new(680, 692, 1920, 1080),
            Size::new(1920, 1080),
            Flips::default(),
        );
        let distinct: std::collections::HashSet<Vec<[u8; 3]>> =
            (0..r.height).map(|y| r.row(y).to_vec()).collect();
        // Rows are keyed by what of the scene they sample (the ramp, then per row of cells the
        // gaps, patches or striped corners): at most 1 + 6 x 3 kinds, never fewer than the
        // distinct contents.
        let stored = r.texel_bytes() / (r.tex_width * 3);
        assert!(
            (distinct.len()..=19).contains(&stored),
            "{stored} rows stored"
        );
        // 12 MiB if every row were stored.
        assert!(r.texel_bytes() < 1 << 20, "{} bytes", r.texel_bytes());
        // The scene still has its rows: the ramp, patches, stripes and gaps.
        assert!(distinct.len() >= 4, "{} distinct rows", distinct.len());
    }

    #[test]
    fn a_stretched_image_samples_its_pixels() {
        let mut img = image::RgbImage::new(4, 2);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 60) as u8, (y * 200) as u8, 7]);
        }
        let r = reflectance(
            &SceneKind::Image("unused".into()),
            Some(&img),
            Size::new(8, 4),
            Rect::new(0, 0, 8, 4),
            Size::new(8, 4),
            Flips::default(),
        );
        for y in 0..4 {
            for x in 0..8 {
                let want = img
                    .get_pixel(x as u32 / 2, y as u32 / 2)
                    .0
                    .map(|c| SRGB_TO_LINEAR[c as usize]);
                assert_eq!(r.row(y)[x], want, "({x}, {y})");
            }
        }
        // Two image rows, four output rows: each stored once.
        assert_eq!(r.texel_bytes(), 2 * 8 * 3);
    }

    #[test]
    fn nv12_bars_have_the_expected_luma_order() {
        let refl = reflectance(
            &SceneKind::Bars,
            None,
            Size::new(640, 480),
            Rect::new(0, 0, 640, 480),
            Size::new(64, 4),
            Flips::default(),
        );
        let layout = PixelFormat::Nv12.layout(Size::new(64, 4), None).unwrap();
        let mut out = vec![0u8; layout.size];
        let luts = Luts::new(&params(0.5));
        render(
            &refl,
            0,
            &luts,
            1.0,
            PixelFormat::Nv12,
            ColorSpace::Smpte170m,
            &layout,
            &mut out,
            None,
        );
        // White bar brighter than yellow > cyan > green > magenta > red > blue > black.
        let ys: Vec<u8> = (0..8).map(|i| out[i * 8 + 4]).collect();
        assert!(ys.windows(2).all(|p| p[0] > p[1]), "{ys:?}");
        assert_eq!(ys[7], 16);
    }

    #[test]
    fn raw_10_bit_packed_sits_on_the_black_level() {
        let refl = reflectance(
            &SceneKind::Bars,
            None,
            Size::new(640, 480),
            Rect::new(0, 0, 640, 480),
            Size::new(64, 2),
            Flips::default(),
        );
        let f = PixelFormat::Bayer {
            order: BayerOrder::Rggb,
            bits: 10,
            packed: true,
        };
        let layout = f.layout(Size::new(64, 2), None).unwrap();
        let mut out = vec![0u8; layout.size];
        render_raw(
            &refl,
            0,
            &params(0.2),
            BayerOrder::Rggb,
            10,
            true,
            4096,
            &layout,
            &mut out,
            None,
        );
        // Last bar is black: 64 in 10 bits -> high byte 16.
        let last = 60 / 4 * 5;
        assert_eq!(out[last], 16);
    }
}
