// SPDX-License-Identifier: MPL-2.0
//! Stream and camera configuration, and their validation against the Pi ISP's rules.
//!
//! ISP rules (`docs/sensors.md`, "ISP limits": bcm2835-isp driver, Picamera2 `check_camera_config`,
//! rpicam-apps ConfigureVideo): output sizes from 64x64 (ISP MIN_DIM), even; the low-resolution
//! output is YUV only and no larger than main in either dimension; raw is the sensor mode's own
//! Bayer format and size.

use std::fmt;

use super::format::{ColorSpace, FrameLayout, PixelFormat, Size};
use super::mode::{self, ModeRequest, ModeRule, SensorModeSpec, DEFAULT_BIT_DEPTH};
use super::sensor::{SensorInfo, SensorMode};

/// Smallest ISP output dimension, pixels (bcm2835-isp MIN_DIM).
pub const ISP_MIN_DIM: u32 = 64;

/// The role of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamRole {
    /// The main ISP output.
    Main,
    /// The low-resolution ISP output (YUV, no larger than main).
    Lores,
    /// Raw Bayer frames from the sensor.
    Raw,
}

impl fmt::Display for StreamRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamRole::Main => "main",
            StreamRole::Lores => "lores",
            StreamRole::Raw => "raw",
        })
    }
}

/// One stream's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    /// Role.
    pub role: StreamRole,
    /// Frame size, pixels.
    pub size: Size,
    /// Pixel format.
    pub format: PixelFormat,
    /// Plane layout (strides and offsets, bytes); filled by validation.
    pub layout: Option<FrameLayout>,
    /// Buffers to allocate for the stream.
    pub buffer_count: u32,
    /// Colour space; `None` lets validation choose Picamera2's default.
    pub color_space: Option<ColorSpace>,
    /// The stream takes part in every `decimation`-th frame only (1: every frame), counted
    /// from the first delivered frame; the other frames are not processed for it at all.
    pub decimation: u32,
}

impl StreamConfig {
    /// A stream of `role`, `size` and `format` with default buffer count and colour space.
    pub fn new(role: StreamRole, size: Size, format: PixelFormat) -> Self {
        Self {
            role,
            size,
            format,
            layout: None,
            buffer_count: DEFAULT_BUFFER_COUNT,
            color_space: None,
            decimation: 1,
        }
    }
}

/// Default buffers per stream (rpicam-apps VideoRecording and Picamera2 video configuration: 6).
pub const DEFAULT_BUFFER_COUNT: u32 = 6;

/// The whole camera's configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CameraConfiguration {
    /// Streams, at most one per role.
    pub streams: Vec<StreamConfig>,
    /// An explicit sensor mode, overriding the choice.
    pub sensor_mode: Option<SensorModeSpec>,
    /// Frame rate as a fraction (numerator, denominator); `None`: 30 fps.
    pub framerate: Option<(u32, u32)>,
    /// Horizontal flip.
    pub hflip: bool,
    /// Vertical flip.
    pub vflip: bool,
    /// Use the sensor's HDR mode list (imx708).
    pub sensor_hdr: bool,
    /// Filled by validation: the chosen sensor mode.
    pub chosen_mode: Option<SensorMode>,
}

/// The result of validating a configuration, as libcamera's `CameraConfiguration::validate()`.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigStatus {
    /// Usable as given.
    Valid,
    /// Usable after the listed changes.
    Adjusted(Vec<String>),
}

impl CameraConfiguration {
    /// The stream of `role`, if configured.
    pub fn stream(&self, role: StreamRole) -> Option<&StreamConfig> {
        self.streams.iter().find(|s| s.role == role)
    }

    /// Frame rate, frames/s.
    pub fn fps(&self) -> f64 {
        let (n, d) = self.framerate.unwrap_or((30, 1));
        f64::from(n) / f64::from(d.max(1))
    }

    /// Frame duration the rate asks for, µs (rounded down, so the rate is never below the
    /// one asked for: 30 fps -> 33333 µs, as libcamera applications write it).
    pub fn frame_duration_us(&self) -> u64 {
        let (n, d) = self.framerate.unwrap_or((30, 1));
        if n == 0 {
            return 0;
        }
        1_000_000u64 * u64::from(d) / u64::from(n)
    }
}

/// Validates `config` for a Pi camera with `sensor`: chooses the sensor mode, fills layouts and
/// colour spaces, enforces the ISP rules.
///
/// Errors: a message naming the broken rule and the values involved.
pub fn validate_pi(
    sensor: &SensorInfo,
    config: &mut CameraConfiguration,
) -> Result<ConfigStatus, String> {
    let mut changes = Vec::new();
    if config.streams.is_empty() {
        return Err("no stream to configure".into());
    }
    for role in [StreamRole::Main, StreamRole::Lores, StreamRole::Raw] {
        if config.streams.iter().filter(|s| s.role == role).count() > 1 {
            return Err(format!("the {role} stream is configured twice"));
        }
    }
    if let Some((n, d)) = config.framerate {
        if n == 0 || d == 0 {
            return Err(format!("framerate {n}/{d} is not a rate"));
        }
    }
    let main = config.stream(StreamRole::Main).cloned();
    let lores = config.stream(StreamRole::Lores).cloned();
    if let (Some(l), Some(m)) = (&lores, &main) {
        if !l.format.is_yuv() {
            return Err(format!(
                "lores must be YUV (NV12, I420, YV12, NV21) on the Pi ISP; {} is not",
                l.format
            ));
        }
        if !m.size.contains(l.size) {
            return Err(format!(
                "lores {} is larger than main {} (the ISP's low-resolution output must fit in \
                 main in both dimensions)",
                l.size, m.size
            ));
        }
    }
    // The processed size the sensor must cover.
    let need = config
        .streams
        .iter()
        .filter(|s| s.role != StreamRole::Raw)
        .map(|s| s.size)
        .fold(Size::new(0, 0), |a, b| {
            Size::new(a.width.max(b.width), a.height.max(b.height))
        });
    let raw = config.stream(StreamRole::Raw).cloned();
    let fps = config.framerate.map(|_| config.fps());
    let chosen = if let Some(spec) = config.sensor_mode {
        let m = spec.find(sensor, config.sensor_hdr)?.clone();
        if !m.size.contains(need) {
            return Err(format!(
                "sensor-mode {spec} ({}) is smaller than the requested output {need}; the ISP \
                 does not upscale",
                m.size
            ));
        }
        if let Some(f) = fps {
            if !mode::can_deliver(
                &ModeRequest {
                    size: need,
                    fps: Some(f),
                    bit_depth: m.bit_depth,
                },
                &m,
            ) {
                return Err(format!(
                    "sensor-mode {spec} reaches {:.2} fps at most; {f:.2} fps was requested",
                    m.max_fps()
                ));
            }
        }
        m
    } else if let Some(r) = &raw {
        // Raw fixes the mode: its size and bit depth are the mode's.
        let bits = match r.format {
            PixelFormat::Bayer { bits, .. } => bits,
            other => return Err(format!("the raw stream must be Bayer; {other} is not")),
        };
        let rule = ModeRule::Raw {
            size: r.size,
            bit_depth: (bits != 16).then_some(bits),
        };
        let m = rule
            .select(sensor.modes_for(config.sensor_hdr), |m| m)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "raw {} {}-bit is not a mode of {}; its modes are: {}",
                    r.size,
                    bits,
                    sensor.model,
                    sensor.describe_modes(config.sensor_hdr)
                )
            })?;
        if !m.size.contains(need) {
            return Err(format!(
                "raw {} fixes the sensor mode, which is smaller than the processed output {need};                  the ISP does not upscale",
                r.size
            ));
        }
        m
    } else {
        mode::choose(
            sensor,
            &ModeRequest {
                size: need,
                fps,
                bit_depth: DEFAULT_BIT_DEPTH,
            },
            config.sensor_hdr,
        )?
        .clone()
    };
    if let Some(f) = fps {
        if f > chosen.max_fps() * 1.000_01 {
            return Err(format!(
                "{} mode {}x{} reaches {:.2} fps at most; {f:.2} fps was requested",
                sensor.model,
                chosen.size.width,
                chosen.size.height,
                chosen.max_fps()
            ));
        }
        let min_fps = 1e6 / sensor.max_frame_duration_us as f64;
        if f < min_fps {
            return Err(format!(
                "{f} fps is below the slowest rate {} supports ({min_fps:.4} fps, frames of \
                 {} s at most)",
                sensor.model,
                sensor.max_frame_duration_us as f64 / 1e6
            ));
        }
    }
    let bayer = sensor.bayer_order.flipped(config.hflip, config.vflip);
    // The ISP's outputs share main's colour space (rpicam-apps gives lores main's).
    let main_cs = config.stream(StreamRole::Main).map(|m| {
        m.color_space
            .unwrap_or(ColorSpace::default_for(m.format, m.size))
    });
    if let (Some(cs), Some(l)) = (
        main_cs,
        config
            .streams
            .iter_mut()
            .find(|s| s.role == StreamRole::Lores),
    ) {
        if l.color_space.is_some_and(|c| c != cs) {
            return Err(format!(
                "lores colour space {:?} differs from main's {:?}; the ISP outputs share one",
                l.color_space.unwrap_or(cs),
                cs
            ));
        }
        l.color_space = Some(cs);
    }
    for s in config.streams.iter_mut() {
        match s.role {
            StreamRole::Raw => {
                if let PixelFormat::Bayer {
                    order,
                    bits,
                    packed,
                } = s.format
                {
                    if s.size != chosen.size {
                        return Err(format!(
                            "raw size {} is not the sensor mode's size {}",
                            s.size, chosen.size
                        ));
                    }
                    if bits != chosen.bit_depth && bits != 16 {
                        return Err(format!(
                            "raw {bits}-bit does not match the {}-bit sensor mode",
                            chosen.bit_depth
                        ));
                    }
                    if order != bayer {
                        changes.push(format!(
                            "raw Bayer order {} -> {} (sensor order with flips)",
                            order.name(),
                            bayer.name()
                        ));
                        s.format = PixelFormat::Bayer {
                            order: bayer,
                            bits,
                            packed,
                        };
                    }
                } else {
                    return Err(format!("the raw stream must be Bayer; {} is not", s.format));
                }
            }
            _ => {
                if s.format.is_bayer() {
                    return Err(format!(
                        "the {} stream is processed by the ISP and cannot be Bayer",
                        s.role
                    ));
                }
                if s.size.width < ISP_MIN_DIM || s.size.height < ISP_MIN_DIM {
                    return Err(format!(
                        "{} size {} is below the ISP minimum {ISP_MIN_DIM}x{ISP_MIN_DIM}",
                        s.role, s.size
                    ));
                }
                if s.size.width % 2 != 0 || s.size.height % 2 != 0 {
                    let even = Size::new(s.size.width & !1, s.size.height & !1);
                    changes.push(format!(
                        "{} size {} -> {even} (must be even)",
                        s.role, s.size
                    ));
                    s.size = even;
                }
            }
        }
        if s.color_space.is_none() {
            s.color_space = Some(ColorSpace::default_for(s.format, s.size));
        }
        if s.buffer_count == 0 {
            changes.push(format!(
                "{} buffer count 0 -> {DEFAULT_BUFFER_COUNT}",
                s.role
            ));
            s.buffer_count = DEFAULT_BUFFER_COUNT;
        }
        let stride = s
            .layout
            .as_ref()
            .and_then(|l| l.planes.first())
            .map(|p| p.stride);
        let layout = s.format.layout(s.size, None)?;
        if let Some(st) = stride {
            if st != layout.planes[0].stride {
                changes.push(format!(
                    "{} stride {st} -> {} bytes (ISP alignment)",
                    s.role, layout.planes[0].stride
                ));
            }
        }
        s.layout = Some(layout);
    }
    config.chosen_mode = Some(chosen);
    Ok(if changes.is_empty() {
        ConfigStatus::Valid
    } else {
        ConfigStatus::Adjusted(changes)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::format::BayerOrder;
    use crate::camera::sensor;

    fn cfg(streams: Vec<StreamConfig>, fps: (u32, u32)) -> CameraConfiguration {
        CameraConfiguration {
            streams,
            framerate: Some(fps),
            ..Default::default()
        }
    }

    #[test]
    fn lores_rules() {
        let s = sensor::imx219();
        let main = StreamConfig::new(StreamRole::Main, Size::new(640, 480), PixelFormat::Nv12);
        let big = StreamConfig::new(StreamRole::Lores, Size::new(800, 600), PixelFormat::Nv12);
        let e = validate_pi(&s, &mut cfg(vec![main.clone(), big], (30, 1))).unwrap_err();
        assert!(e.contains("larger than main"), "{e}");
        let rgb = StreamConfig::new(StreamRole::Lores, Size::new(320, 240), PixelFormat::Rgb);
        let e = validate_pi(&s, &mut cfg(vec![main.clone(), rgb], (30, 1))).unwrap_err();
        assert!(e.contains("must be YUV"), "{e}");
    }

    #[test]
    fn raw_fixes_the_mode_and_order_follows_flips() {
        let s = sensor::imx219();
        let main = StreamConfig::new(StreamRole::Main, Size::new(640, 480), PixelFormat::Nv12);
        let raw = StreamConfig::new(
            StreamRole::Raw,
            Size::new(1640, 1232),
            PixelFormat::Bayer {
                order: BayerOrder::Rggb,
                bits: 10,
                packed: true,
            },
        );
        let mut c = cfg(vec![main, raw], (30, 1));
        c.hflip = true;
        c.vflip = true;
        let st = validate_pi(&s, &mut c).unwrap();
        assert!(matches!(st, ConfigStatus::Adjusted(_)));
        assert_eq!(c.chosen_mode.as_ref().unwrap().size, Size::new(1640, 1232));
        assert!(matches!(
            c.stream(StreamRole::Raw).unwrap().format,
            PixelFormat::Bayer {
                order: BayerOrder::Bggr,
                ..
            }
        ));
    }

    #[test]
    fn colour_space_follows_picamera2() {
        let s = sensor::imx219();
        let mut c = cfg(
            vec![StreamConfig::new(
                StreamRole::Main,
                Size::new(640, 480),
                PixelFormat::Nv12,
            )],
            (30, 1),
        );
        validate_pi(&s, &mut c).unwrap();
        assert_eq!(c.streams[0].color_space, Some(ColorSpace::Smpte170m));
        let mut c = cfg(
            vec![StreamConfig::new(
                StreamRole::Main,
                Size::new(1920, 1080),
                PixelFormat::Nv12,
            )],
            (30, 1),
        );
        validate_pi(&s, &mut c).unwrap();
        assert_eq!(c.streams[0].color_space, Some(ColorSpace::Rec709));
    }

    #[test]
    fn too_slow_a_rate_is_refused() {
        let s = sensor::ov5647();
        let mut c = cfg(
            vec![StreamConfig::new(
                StreamRole::Main,
                Size::new(640, 480),
                PixelFormat::Nv12,
            )],
            (1, 10),
        );
        let e = validate_pi(&s, &mut c).unwrap_err();
        assert!(e.contains("slowest rate"), "{e}");
    }
}
