// SPDX-License-Identifier: MPL-2.0
//! The Raspberry Pi camera sensors: mode tables, timing, limits, control delays and tuning.
//!
//! Every figure comes from `docs/sensors.md` ("Sensor modes" to "AWB tuning"), which cites:
//! * mode sizes, crops and frame rates: `rpicam-hello --list-cameras` outputs quoted there and
//!   the Raspberry Pi kernel drivers (`drivers/media/i2c/imx219.c`, `imx477.c`, `imx708.c`,
//!   `ov5647.c`, `imx296.c`): pixel rate, line length (HTS), minimum vertical blanking;
//! * gain ranges, frame-integration difference, startup frames: libcamera's cam helpers
//!   (`src/ipa/rpi/cam_helper/cam_helper_<sensor>.cpp`);
//! * control delays: `src/libcamera/sensor/camera_sensor_properties.cpp`;
//! * maximum exposure: the Raspberry Pi camera hardware documentation table;
//! * AGC/AWB/lux figures: the VC4 (Pi 4) tuning files `src/ipa/rpi/vc4/data/<sensor>.json`.

use super::format::{BayerOrder, Rect, Size};

/// One sensor readout mode.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorMode {
    /// Output size of the sensor in this mode, pixels.
    pub size: Size,
    /// Bits per sample on the CSI-2 bus.
    pub bit_depth: u8,
    /// The part of the pixel array (active-area coordinates) the mode reads, before binning.
    pub crop: Rect,
    /// Pixel rate, Hz.
    pub pixel_rate: u64,
    /// Minimum line length including horizontal blanking, pixels.
    pub line_length: u32,
    /// Minimum frame length (height + minimum vertical blanking), lines.
    pub min_frame_length: u32,
    /// Minimum exposure, lines.
    pub min_exposure_lines: u32,
    /// Sensor HDR mode (imx708's on-sensor HDR: one 2304x1296 mode at 30 fps).
    pub hdr: bool,
    /// Sensitivity relative to the full-resolution mode (imx708 binned modes: 2.0, from its
    /// cam helper); brightness scales with it.
    pub sensitivity: f64,
}

impl SensorMode {
    /// Duration of one line, ns.
    pub fn line_time_ns(&self) -> f64 {
        f64::from(self.line_length) * 1e9 / self.pixel_rate as f64
    }

    /// Minimum frame duration, µs (what libcamera reports as FrameDurationLimits min).
    pub fn min_frame_duration_us(&self) -> u64 {
        (f64::from(self.min_frame_length) * self.line_time_ns() / 1000.0).round() as u64
    }

    /// Highest frame rate, frames/s (1e6 / min frame duration, as rpicam-apps lists it).
    pub fn max_fps(&self) -> f64 {
        1e9 / (f64::from(self.min_frame_length) * self.line_time_ns())
    }

    /// The highest frame rate as an exact fraction (numerator, denominator): 1e9 / the minimum
    /// frame duration in ns, reduced; both fit an i32 (GStreamer fractions).
    pub fn max_fps_fraction(&self) -> (i32, i32) {
        let ns = (f64::from(self.min_frame_length) * self.line_time_ns()).round() as u64;
        let (mut a, mut b) = (1_000_000_000u64, ns.max(1));
        let g = gcd(a, b);
        a /= g;
        b /= g;
        while a > i32::MAX as u64 || b > i32::MAX as u64 {
            a /= 2;
            b /= 2;
        }
        (a as i32, b.max(1) as i32)
    }

    /// Shortest exposure, µs.
    pub fn min_exposure_us(&self) -> u32 {
        (f64::from(self.min_exposure_lines) * self.line_time_ns() / 1000.0).round() as u32
    }

    /// The binning factor (1 for full-resolution readout, 2 for 2x2 binned).
    pub fn binning(&self) -> u32 {
        (self.crop.width / self.size.width.max(1)).max(1)
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Reference figures for the lux estimate (tuning `rpi.lux`): a scene of `lux` lux gave a mean
/// linear luma of `y` (16-bit scale) at `shutter_us` and `gain`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LuxReference {
    /// Exposure time, µs.
    pub shutter_us: f64,
    /// Total gain.
    pub gain: f64,
    /// Scene illuminance, lux.
    pub lux: f64,
    /// Mean luma, 0..65535.
    pub y: f64,
}

/// An AGC exposure-mode stage table (tuning `exposure_modes`): exposure times (µs) and gains,
/// walked in order by the exposure divider.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureStages {
    /// Exposure times, µs.
    pub shutter_us: &'static [f64],
    /// Analogue gains.
    pub gain: &'static [f64],
}

/// Tuning figures the simulated IPA uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// Black level, 16-bit scale (4096 = 64 in 10-bit).
    pub black_level: u16,
    /// Lux reference.
    pub lux: LuxReference,
    /// AWB modes: name and colour-temperature search range in kelvin, in libcamera's AwbMode
    /// order (auto, incandescent, tungsten, fluorescent, indoor, daylight, cloudy).
    pub awb_modes: [(&'static str, u32, u32); 7],
    /// Colour-temperature range of the calibrated CT curve, kelvin.
    pub ct_range: (u32, u32),
    /// Exposure modes normal, short, long.
    pub exposure_modes: [ExposureStages; 3],
    /// Constraint modes the tuning defines (normal, highlight[, shadows]).
    pub constraint_modes: &'static [&'static str],
    /// `y_target` curve: (lux, target mean luma 0..1) points.
    pub y_target: &'static [(f64, f64)],
    /// AGC `base_ev` of channel 0.
    pub base_ev: f64,
    /// AGC filter speed (IIR weight per frame).
    pub speed: f64,
    /// Frames at start during which the AGC converges at full speed.
    pub startup_frames: u32,
    /// Frames libcamera reports as needed to converge (`getConvergenceFrames`).
    pub convergence_frames: u32,
}

/// A lens with a focus motor (camera module 3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LensInfo {
    /// Focus range for AfRange normal, dioptres.
    pub normal: (f32, f32),
    /// Focus range for AfRange macro, dioptres.
    pub macro_range: (f32, f32),
    /// Default lens position, dioptres.
    pub default: f32,
    /// Largest lens position the control accepts, dioptres.
    pub max: f32,
}

/// Everything known about one sensor model.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorInfo {
    /// Model name as libcamera reports it (`imx219`, ...).
    pub model: &'static str,
    /// Active pixel array, pixels.
    pub pixel_array: Size,
    /// Pixel pitch, nm.
    pub unit_cell_nm: u32,
    /// Colour filter order with no flips.
    pub bayer_order: BayerOrder,
    /// Readout modes, smallest first.
    pub modes: Vec<SensorMode>,
    /// Analogue gain range (cam helper gain(code) over the driver's code range).
    pub analogue_gain: (f64, f64),
    /// Lines an exposure must stay below the frame length (cam helper frameIntegrationDiff).
    pub frame_integration_diff: u32,
    /// Frames before a new exposure time takes effect.
    pub exposure_delay: u32,
    /// Frames before a new analogue gain takes effect.
    pub gain_delay: u32,
    /// Frames before a new vertical blanking (frame duration) takes effect.
    pub vblank_delay: u32,
    /// Frames hidden at startup (cam helper hideFramesStartup).
    pub hide_frames_startup: u32,
    /// Longest frame duration (and so exposure) the sensor supports, µs.
    pub max_frame_duration_us: u64,
    /// Focus lens, if the module has one.
    pub lens: Option<LensInfo>,
    /// Tuning figures.
    pub tuning: Tuning,
}

const AWB_VC4: [(&str, u32, u32); 7] = [
    ("auto", 2500, 8000),
    ("incandescent", 2500, 3000),
    ("tungsten", 3000, 3500),
    ("fluorescent", 4000, 4700),
    ("indoor", 3000, 5000),
    ("daylight", 5500, 6500),
    ("cloudy", 7000, 8600),
];

const Y_TARGET: &[(f64, f64)] = &[(0.0, 0.16), (1000.0, 0.165), (10000.0, 0.17)];
const CONSTRAINTS_3: &[&str] = &["normal", "highlight", "shadows"];
const CONSTRAINTS_2: &[&str] = &["normal", "highlight"];

const SHUTTER_NORMAL: &[f64] = &[100.0, 10000.0, 30000.0, 60000.0, 66666.0];
const SHUTTER_SHORT: &[f64] = &[100.0, 5000.0, 10000.0, 20000.0, 66666.0];
const SHUTTER_LONG: &[f64] = &[100.0, 10000.0, 30000.0, 60000.0, 120000.0];

fn stages(gains: &'static [f64]) -> [ExposureStages; 3] {
    [
        ExposureStages {
            shutter_us: SHUTTER_NORMAL,
            gain: gains,
        },
        ExposureStages {
            shutter_us: SHUTTER_SHORT,
            gain: gains,
        },
        ExposureStages {
            shutter_us: SHUTTER_LONG,
            gain: gains,
        },
    ]
}

#[allow(clippy::too_many_arguments)]
fn mode(
    w: u32,
    h: u32,
    bits: u8,
    crop: (i32, i32, u32, u32),
    pixel_rate: u64,
    line_length: u32,
    min_frame_length: u32,
    min_exposure_lines: u32,
) -> SensorMode {
    SensorMode {
        size: Size::new(w, h),
        bit_depth: bits,
        crop: Rect::new(crop.0, crop.1, crop.2, crop.3),
        pixel_rate,
        line_length,
        min_frame_length,
        min_exposure_lines,
        hdr: false,
        sensitivity: 1.0,
    }
}

/// Sony IMX219 (camera module v2). Driver: pixel rate 182.4 MHz, line length 3448, vblank min
/// 32, exposure min 4 lines; AG code 0..232 = 1.0..10.667; 10- and 8-bit modes.
/// 640x480 runs at 103.33 fps with current kernels (older ones listed 206.65).
pub fn imx219() -> SensorInfo {
    let pr = 182_400_000;
    let mut modes = Vec::new();
    for bits in [10, 8] {
        modes.push(mode(
            640,
            480,
            bits,
            (1000, 752, 1280, 960),
            pr,
            3448,
            512,
            4,
        ));
        modes.push(mode(
            1640,
            1232,
            bits,
            (0, 0, 3280, 2464),
            pr,
            3448,
            1264,
            4,
        ));
        modes.push(mode(
            1920,
            1080,
            bits,
            (680, 692, 1920, 1080),
            pr,
            3448,
            1112,
            4,
        ));
        modes.push(mode(
            3280,
            2464,
            bits,
            (0, 0, 3280, 2464),
            pr,
            3448,
            2496,
            4,
        ));
    }
    SensorInfo {
        model: "imx219",
        pixel_array: Size::new(3280, 2464),
        unit_cell_nm: 1120,
        bayer_order: BayerOrder::Rggb,
        modes,
        analogue_gain: (1.0, 256.0 / (256.0 - 232.0)),
        frame_integration_diff: 4,
        exposure_delay: 2,
        gain_delay: 1,
        vblank_delay: 2,
        hide_frames_startup: 0,
        max_frame_duration_us: 11_766_829,
        lens: None,
        tuning: Tuning {
            black_level: 4096,
            lux: LuxReference {
                shutter_us: 27685.0,
                gain: 1.0,
                lux: 998.0,
                y: 12744.0,
            },
            awb_modes: AWB_VC4,
            ct_range: (2498, 8575),
            exposure_modes: stages(&[1.0, 2.0, 4.0, 6.0, 10.0]),
            constraint_modes: CONSTRAINTS_3,
            y_target: Y_TARGET,
            base_ev: 1.0,
            speed: 0.2,
            startup_frames: 10,
            convergence_frames: 6,
        },
    }
}

/// Sony IMX477 (HQ camera). Driver: pixel rate 840 MHz; line lengths 6664 (1332x990),
/// 12740 (binned), 24000 (full); exposure offset 22 lines; AG code 0..978 = 1.0..22.26.
pub fn imx477() -> SensorInfo {
    let pr = 840_000_000;
    let modes = vec![
        mode(1332, 990, 10, (696, 528, 2664, 1980), pr, 6664, 1050, 4),
        mode(2028, 1080, 12, (0, 440, 4056, 2160), pr, 12740, 1318, 4),
        mode(2028, 1520, 12, (0, 0, 4056, 3040), pr, 12740, 1648, 4),
        mode(4056, 3040, 12, (0, 0, 4056, 3040), pr, 24000, 3500, 4),
    ];
    SensorInfo {
        model: "imx477",
        pixel_array: Size::new(4056, 3040),
        unit_cell_nm: 1550,
        bayer_order: BayerOrder::Rggb,
        modes,
        analogue_gain: (1.0, 1024.0 / (1024.0 - 978.0)),
        frame_integration_diff: 22,
        exposure_delay: 2,
        gain_delay: 2,
        vblank_delay: 3,
        hide_frames_startup: 0,
        max_frame_duration_us: 670_740_000,
        lens: None,
        tuning: Tuning {
            black_level: 4096,
            lux: LuxReference {
                shutter_us: 27242.0,
                gain: 1.0,
                lux: 830.0,
                y: 17755.0,
            },
            awb_modes: AWB_VC4,
            ct_range: (2360, 9505),
            exposure_modes: stages(&[1.0, 2.0, 4.0, 6.0, 16.0]),
            constraint_modes: CONSTRAINTS_3,
            y_target: Y_TARGET,
            base_ev: 1.0,
            speed: 0.2,
            startup_frames: 10,
            convergence_frames: 6,
        },
    }
}

/// Sony IMX708 (camera module 3). Driver: 10-bit only; exposure offset 48 lines; AG 1.0..16;
/// the on-sensor HDR mode is a separate 2304x1296 mode at 30 fps. Binned modes have
/// sensitivity 2.0 (cam helper). Lens: 0..12 dioptres normal, macro 3..15 (AF tuning).
pub fn imx708() -> SensorInfo {
    let binned = |mut m: SensorMode| {
        m.sensitivity = 2.0;
        m
    };
    let mut hdr = mode(
        2304,
        1296,
        10,
        (0, 0, 4608, 2592),
        777_600_000,
        5216,
        4969,
        128,
    );
    hdr.hdr = true;
    hdr.sensitivity = 2.0;
    let modes = vec![
        binned(mode(
            1536,
            864,
            10,
            (768, 432, 3072, 1728),
            566_400_000,
            5216,
            904,
            4,
        )),
        binned(mode(
            2304,
            1296,
            10,
            (0, 0, 4608, 2592),
            585_600_000,
            7824,
            1336,
            4,
        )),
        mode(
            4608,
            2592,
            10,
            (0, 0, 4608, 2592),
            595_200_000,
            15648,
            2650,
            8,
        ),
        hdr,
    ];
    let stage = |s, g| ExposureStages {
        shutter_us: s,
        gain: g,
    };
    SensorInfo {
        model: "imx708",
        pixel_array: Size::new(4608, 2592),
        unit_cell_nm: 1400,
        bayer_order: BayerOrder::Rggb,
        modes,
        analogue_gain: (1.0, 16.0),
        frame_integration_diff: 48,
        exposure_delay: 2,
        gain_delay: 2,
        vblank_delay: 3,
        hide_frames_startup: 0,
        max_frame_duration_us: 112_000_000,
        lens: Some(LensInfo {
            normal: (0.0, 12.0),
            macro_range: (3.0, 15.0),
            default: 1.0,
            max: 15.0,
        }),
        tuning: Tuning {
            black_level: 4096,
            lux: LuxReference {
                shutter_us: 10672.0,
                gain: 1.12,
                lux: 977.0,
                y: 8627.0,
            },
            awb_modes: AWB_VC4,
            ct_range: (2498, 7433),
            exposure_modes: [
                stage(
                    &[100.0, 15000.0, 30000.0, 60000.0, 66666.0],
                    &[1.0, 1.0, 2.0, 4.0, 16.0],
                ),
                stage(SHUTTER_SHORT, &[1.0, 2.0, 4.0, 6.0, 16.0]),
                stage(
                    &[1000.0, 30000.0, 60000.0, 90000.0, 120000.0],
                    &[1.0, 2.0, 4.0, 6.0, 16.0],
                ),
            ],
            constraint_modes: CONSTRAINTS_2,
            y_target: Y_TARGET,
            base_ev: 1.0,
            speed: 0.15,
            startup_frames: 5,
            convergence_frames: 6,
        },
    }
}

/// OmniVision OV5647 (camera module v1). Driver: 10-bit, vblank min 24; pixel rates 55 MHz
/// (640x480), 81.67 MHz (1296x972, 1920x1080), 87.5 MHz (full); gain code/16 over 16..1023;
/// libcamera reports GBRG order because of the default flips; hides 2 frames at startup.
pub fn ov5647() -> SensorInfo {
    let modes = vec![
        mode(640, 480, 10, (16, 0, 2560, 1920), 55_000_000, 1852, 504, 4),
        mode(1296, 972, 10, (0, 0, 2592, 1944), 81_666_700, 1896, 996, 4),
        mode(
            1920,
            1080,
            10,
            (348, 434, 1928, 1080),
            81_666_700,
            2416,
            1104,
            4,
        ),
        mode(
            2592,
            1944,
            10,
            (0, 0, 2592, 1944),
            87_500_000,
            2844,
            1968,
            4,
        ),
    ];
    SensorInfo {
        model: "ov5647",
        pixel_array: Size::new(2592, 1944),
        unit_cell_nm: 1400,
        bayer_order: BayerOrder::Gbrg,
        modes,
        analogue_gain: (1.0, 1023.0 / 16.0),
        frame_integration_diff: 4,
        exposure_delay: 2,
        gain_delay: 2,
        vblank_delay: 2,
        hide_frames_startup: 2,
        max_frame_duration_us: 3_280_000,
        lens: None,
        tuning: Tuning {
            black_level: 1024,
            lux: LuxReference {
                shutter_us: 21663.0,
                gain: 1.0,
                lux: 987.0,
                y: 8961.0,
            },
            awb_modes: AWB_VC4,
            ct_range: (2500, 8625),
            exposure_modes: stages(&[1.0, 2.0, 4.0, 6.0, 8.0]),
            constraint_modes: CONSTRAINTS_3,
            y_target: Y_TARGET,
            base_ev: 1.25,
            speed: 0.2,
            startup_frames: 10,
            convergence_frames: 6,
        },
    }
}

/// Sony IMX296 (global shutter camera). Driver: 1456x1088, line 14.815 µs (HMAX 1100 at
/// 74.25 MHz), vblank min 30; cam helper caps the gain code at 239 (15.85x); exposure from
/// 29 µs.
pub fn imx296() -> SensorInfo {
    let m = mode(
        1456,
        1088,
        10,
        (0, 0, 1456, 1088),
        74_250_000,
        1100,
        1118,
        2,
    );
    let stage = |s, g| ExposureStages {
        shutter_us: s,
        gain: g,
    };
    let mut awb = AWB_VC4;
    awb[0].2 = 7600;
    awb[6] = ("cloudy", 7000, 7600);
    SensorInfo {
        model: "imx296",
        pixel_array: Size::new(1456, 1088),
        unit_cell_nm: 3450,
        bayer_order: BayerOrder::Rggb,
        modes: vec![m],
        analogue_gain: (1.0, 10f64.powf(239.0 / 200.0)),
        frame_integration_diff: 4,
        exposure_delay: 2,
        gain_delay: 2,
        vblank_delay: 2,
        hide_frames_startup: 0,
        max_frame_duration_us: 15_500_000,
        lens: None,
        tuning: Tuning {
            black_level: 3840,
            lux: LuxReference {
                shutter_us: 7598.0,
                gain: 1.0,
                lux: 800.0,
                y: 14028.0,
            },
            awb_modes: awb,
            ct_range: (2500, 7400),
            exposure_modes: [
                stage(
                    &[100.0, 30000.0, 45000.0, 60000.0, 66666.0],
                    &[1.0, 1.0, 2.0, 4.0, 16.0],
                ),
                stage(SHUTTER_SHORT, &[1.0, 2.0, 4.0, 8.0, 16.0]),
                stage(
                    &[1000.0, 30000.0, 60000.0, 90000.0, 120000.0],
                    &[1.0, 2.0, 4.0, 6.0, 16.0],
                ),
            ],
            constraint_modes: CONSTRAINTS_2,
            y_target: Y_TARGET,
            base_ev: 1.0,
            speed: 0.2,
            startup_frames: 10,
            convergence_frames: 6,
        },
    }
}

/// Names of the sensors the simulation knows.
pub const SIMULATED_SENSORS: [&str; 5] = ["imx219", "imx477", "imx708", "ov5647", "imx296"];

/// The sensor called `model`, if known.
pub fn by_model(model: &str) -> Option<SensorInfo> {
    match model {
        "imx219" => Some(imx219()),
        "imx477" => Some(imx477()),
        "imx708" => Some(imx708()),
        "ov5647" => Some(ov5647()),
        "imx296" => Some(imx296()),
        _ => None,
    }
}

impl SensorInfo {
    /// The modes a configuration may use: sensor-HDR modes only when `hdr`, the others only
    /// when not (on the imx708 HDR is a sensor setting that replaces the mode list).
    pub fn modes_for(&self, hdr: bool) -> impl Iterator<Item = &SensorMode> {
        let has_hdr = self.modes.iter().any(|m| m.hdr);
        self.modes
            .iter()
            .filter(move |m| if has_hdr && hdr { m.hdr } else { !m.hdr })
    }

    /// The mode list as `rpicam-hello --list-cameras` prints it, one mode a line.
    pub fn describe_modes(&self, hdr: bool) -> String {
        self.modes_for(hdr)
            .map(|m| {
                format!(
                    "{}x{} {}-bit{} [{:.2} fps - {} crop]",
                    m.size.width,
                    m.size.height,
                    m.bit_depth,
                    if m.hdr { " HDR" } else { "" },
                    m.max_fps(),
                    m.crop
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Maximum analogue gain the AGC may use: the mode limit (cam helper), µs-free.
    pub fn max_analogue_gain(&self) -> f64 {
        self.analogue_gain.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fps(s: &SensorInfo, w: u32, h: u32, bits: u8) -> f64 {
        s.modes
            .iter()
            .find(|m| m.size == Size::new(w, h) && m.bit_depth == bits)
            .unwrap()
            .max_fps()
    }

    #[test]
    fn frame_rates_match_list_cameras() {
        // rpicam-hello --list-cameras figures quoted in sensors.md.
        let close = |a: f64, b: f64| (a - b).abs() < 0.02;
        let s = imx219();
        assert!(close(fps(&s, 640, 480, 10), 103.33));
        assert!(close(fps(&s, 1640, 1232, 10), 41.85));
        assert!(close(fps(&s, 1920, 1080, 10), 47.57));
        assert!(close(fps(&s, 3280, 2464, 10), 21.19));
        let s = imx477();
        assert!(close(fps(&s, 1332, 990, 10), 120.05));
        assert!(close(fps(&s, 2028, 1080, 12), 50.03));
        assert!(close(fps(&s, 2028, 1520, 12), 40.01));
        assert!(close(fps(&s, 4056, 3040, 12), 10.00));
        let s = imx708();
        assert!(close(fps(&s, 1536, 864, 10), 120.13));
        assert!(close(fps(&s, 4608, 2592, 10), 14.35));
        assert!(s
            .modes
            .iter()
            .any(|m| m.hdr && (m.max_fps() - 30.0).abs() < 0.05));
        let s = ov5647();
        assert!(close(fps(&s, 640, 480, 10), 58.92));
        assert!(close(fps(&s, 1296, 972, 10), 43.25));
        assert!(close(fps(&s, 1920, 1080, 10), 30.62));
        assert!(close(fps(&s, 2592, 1944, 10), 15.63));
        assert!(close(fps(&imx296(), 1456, 1088, 10), 60.38));
    }

    #[test]
    fn exposure_minimum_matches_picamera2() {
        // Picamera2 issue #683: imx219 exposure_limits min 75 µs.
        let s = imx219();
        assert_eq!(s.modes[0].min_exposure_us(), 76);
        assert!((s.analogue_gain.1 - 10.667).abs() < 0.001);
    }

    #[test]
    fn hdr_modes_are_separate() {
        let s = imx708();
        assert_eq!(s.modes_for(true).count(), 1);
        assert_eq!(s.modes_for(false).count(), 3);
        assert_eq!(imx219().modes_for(true).count(), 8);
    }
}
