// SPDX-License-Identifier: MPL-2.0
//! H.264 level and profile choice.
//!
//! The limits are those of ITU-T H.264 (08/2021) Annex A, Table A-1 "Level limits", and
//! Table A-2 (`cpbBrVclFactor`: 1000 for Baseline/Main, 1250 for High). The automatic choice
//! is the smallest level whose limits hold for the stream, which gives the same answer as
//! rpicam-apps (`core/options.cpp`: level 4.2 when the macroblock rate exceeds 245760 MB/s)
//! and Picamera2 (`encoders/h264_encoder.py`: 4.2 above 245760 MB/s; 4.1 instead of 4.0 when the
//! bitrate exceeds 10 Mbit/s) for every 1080p case, and a lower, still conforming level for
//! smaller streams (as raspberrypi/linux #4906 asks for VGA).

/// H.264 profiles this element produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum H264Profile {
    /// Constrained Baseline (`profile_idc` 66 with `constraint_set1_flag`): CAVLC, no B-frames.
    ConstrainedBaseline,
    /// Baseline (`profile_idc` 66).
    Baseline,
    /// Main (`profile_idc` 77): CABAC allowed.
    Main,
    /// High (`profile_idc` 100): CABAC and 8x8 transform allowed.
    High,
}

impl H264Profile {
    /// The string GStreamer uses in `video/x-h264` caps (`profile=...`).
    pub fn caps_name(self) -> &'static str {
        match self {
            H264Profile::ConstrainedBaseline => "constrained-baseline",
            H264Profile::Baseline => "baseline",
            H264Profile::Main => "main",
            H264Profile::High => "high",
        }
    }

    /// Parses a caps profile string; `None` for profiles this element cannot produce.
    pub fn from_caps_name(s: &str) -> Option<Self> {
        match s {
            "constrained-baseline" => Some(H264Profile::ConstrainedBaseline),
            "baseline" => Some(H264Profile::Baseline),
            "main" => Some(H264Profile::Main),
            "high" => Some(H264Profile::High),
            _ => None,
        }
    }

    /// From the SPS fields `profile_idc` and `constraint_set1_flag` (H.264 7.4.2.1.1, A.2).
    pub fn from_sps(profile_idc: u8, constraint_set1: bool) -> Option<Self> {
        match profile_idc {
            66 if constraint_set1 => Some(H264Profile::ConstrainedBaseline),
            66 => Some(H264Profile::Baseline),
            77 => Some(H264Profile::Main),
            100 => Some(H264Profile::High),
            _ => None,
        }
    }

    /// `cpbBrVclFactor` of Table A-2: 1250 for High, 1000 otherwise.
    pub fn cpb_br_vcl_factor(self) -> u64 {
        match self {
            H264Profile::High => 1250,
            _ => 1000,
        }
    }

    /// Whether the profile uses CABAC entropy coding (Main and High do here).
    pub fn uses_cabac(self) -> bool {
        matches!(self, H264Profile::Main | H264Profile::High)
    }
}

/// One row of Table A-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelLimits {
    /// `level_idc` as written in the SPS (level 1b is written as 11 with
    /// `constraint_set3_flag` in Baseline/Main; it is kept apart here as 9, as the High profiles do).
    pub level_idc: u8,
    /// Name as used in caps and by rpicam-apps (`"4.1"`).
    pub name: &'static str,
    /// MaxMBPS: maximum macroblock processing rate, macroblocks/s.
    pub max_mbps: u64,
    /// MaxFS: maximum frame size, macroblocks.
    pub max_fs: u64,
    /// MaxBR: maximum video bit rate in units of `cpbBrVclFactor` bits/s.
    pub max_br: u64,
}

/// Table A-1 of ITU-T H.264 (Level limits), levels 1 to 5.2.
pub const LEVELS: &[LevelLimits] = &[
    LevelLimits {
        level_idc: 10,
        name: "1",
        max_mbps: 1485,
        max_fs: 99,
        max_br: 64,
    },
    LevelLimits {
        level_idc: 9,
        name: "1b",
        max_mbps: 1485,
        max_fs: 99,
        max_br: 128,
    },
    LevelLimits {
        level_idc: 11,
        name: "1.1",
        max_mbps: 3000,
        max_fs: 396,
        max_br: 192,
    },
    LevelLimits {
        level_idc: 12,
        name: "1.2",
        max_mbps: 6000,
        max_fs: 396,
        max_br: 384,
    },
    LevelLimits {
        level_idc: 13,
        name: "1.3",
        max_mbps: 11880,
        max_fs: 396,
        max_br: 768,
    },
    LevelLimits {
        level_idc: 20,
        name: "2",
        max_mbps: 11880,
        max_fs: 396,
        max_br: 2000,
    },
    LevelLimits {
        level_idc: 21,
        name: "2.1",
        max_mbps: 19800,
        max_fs: 792,
        max_br: 4000,
    },
    LevelLimits {
        level_idc: 22,
        name: "2.2",
        max_mbps: 20250,
        max_fs: 1620,
        max_br: 4000,
    },
    LevelLimits {
        level_idc: 30,
        name: "3",
        max_mbps: 40500,
        max_fs: 1620,
        max_br: 10000,
    },
    LevelLimits {
        level_idc: 31,
        name: "3.1",
        max_mbps: 108000,
        max_fs: 3600,
        max_br: 14000,
    },
    LevelLimits {
        level_idc: 32,
        name: "3.2",
        max_mbps: 216000,
        max_fs: 5120,
        max_br: 20000,
    },
    LevelLimits {
        level_idc: 40,
        name: "4",
        max_mbps: 245760,
        max_fs: 8192,
        max_br: 20000,
    },
    LevelLimits {
        level_idc: 41,
        name: "4.1",
        max_mbps: 245760,
        max_fs: 8192,
        max_br: 50000,
    },
    LevelLimits {
        level_idc: 42,
        name: "4.2",
        max_mbps: 522240,
        max_fs: 8704,
        max_br: 50000,
    },
    LevelLimits {
        level_idc: 50,
        name: "5",
        max_mbps: 589824,
        max_fs: 22080,
        max_br: 135000,
    },
    LevelLimits {
        level_idc: 51,
        name: "5.1",
        max_mbps: 983040,
        max_fs: 36864,
        max_br: 240000,
    },
    LevelLimits {
        level_idc: 52,
        name: "5.2",
        max_mbps: 2073600,
        max_fs: 36864,
        max_br: 240000,
    },
];

/// Finds a level by `level_idc` (9 = 1b).
pub fn level_by_idc(level_idc: u8) -> Option<&'static LevelLimits> {
    LEVELS.iter().find(|l| l.level_idc == level_idc)
}

/// Finds a level by its caps name (`"4"`, `"4.0"` and `"4.1"` style).
pub fn level_by_name(name: &str) -> Option<&'static LevelLimits> {
    let name = name.strip_suffix(".0").unwrap_or(name);
    LEVELS.iter().find(|l| l.name == name)
}

/// Number of macroblocks (16x16) of a frame, rounding each dimension up, as rpicam-apps does
/// (`((w + 15) >> 4) * ((h + 15) >> 4)`).
pub fn frame_mbs(width: u32, height: u32) -> u64 {
    u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16))
}

/// Why a stream does not fit a level (the first limit that fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LevelError {
    /// Frame too large for every level up to 5.2.
    #[error("frame of {width}x{height} ({mbs} macroblocks) exceeds H.264 level 5.2 (max {max} macroblocks per frame)")]
    FrameTooLarge {
        width: u32,
        height: u32,
        mbs: u64,
        max: u64,
    },
    /// Macroblock rate too high for every level up to 5.2.
    #[error("{mbps} macroblocks/s exceeds H.264 level 5.2 (max {max} macroblocks/s)")]
    RateTooHigh { mbps: u64, max: u64 },
    /// Bitrate too high for every level up to 5.2.
    #[error(
        "bitrate {bitrate} bits/s exceeds H.264 level 5.2 for this profile (max {max} bits/s)"
    )]
    BitrateTooHigh { bitrate: u64, max: u64 },
}

/// Checks a level's limits (Table A-1 MaxFS, MaxMBPS, MaxBR, and A.3.1 item f:
/// each dimension in macroblocks at most sqrt(8 * MaxFS)).
pub fn fits(
    level: &LevelLimits,
    width: u32,
    height: u32,
    fps: f64,
    bitrate: u64,
    profile: H264Profile,
) -> bool {
    let mbs = frame_mbs(width, height);
    let dim_limit = ((8 * level.max_fs) as f64).sqrt();
    let mbps = mbs as f64 * fps;
    mbs <= level.max_fs
        && f64::from(width.div_ceil(16)) <= dim_limit
        && f64::from(height.div_ceil(16)) <= dim_limit
        && mbps <= level.max_mbps as f64
        && bitrate <= level.max_br * profile.cpb_br_vcl_factor()
}

/// The automatic level: the smallest level of Table A-1 that holds the stream (1b skipped, as
/// encoders write it only on request), then Picamera2's rule that a bitrate above 10 Mbit/s at
/// level 4.0 is signalled as 4.1.
///
/// `fps` is the frame rate in frames/s (use 30 when the caps have a variable rate),
/// `bitrate` the target in bits/s.
pub fn choose_level(
    width: u32,
    height: u32,
    fps: f64,
    bitrate: u64,
    profile: H264Profile,
) -> Result<&'static LevelLimits, LevelError> {
    let chosen = LEVELS
        .iter()
        .filter(|l| l.level_idc != 9)
        .find(|l| fits(l, width, height, fps, bitrate, profile));
    match chosen {
        Some(l) if l.level_idc == 40 && bitrate > 10_000_000 => {
            // Picamera2 h264_encoder.py: "if bitrate > 10 Mbps and level 4.0 -> level 4.1".
            Ok(level_by_idc(41).unwrap_or(l))
        }
        Some(l) => Ok(l),
        None => {
            let top = &LEVELS[LEVELS.len() - 1];
            let mbs = frame_mbs(width, height);
            let mbps = (mbs as f64 * fps) as u64;
            if mbs > top.max_fs || !fits(top, width, height, 1.0, 0, profile) {
                Err(LevelError::FrameTooLarge {
                    width,
                    height,
                    mbs,
                    max: top.max_fs,
                })
            } else if mbps > top.max_mbps {
                Err(LevelError::RateTooHigh {
                    mbps,
                    max: top.max_mbps,
                })
            } else {
                Err(LevelError::BitrateTooHigh {
                    bitrate,
                    max: top.max_br * profile.cpb_br_vcl_factor(),
                })
            }
        }
    }
}

/// Position of a level in [`LEVELS`] (1 < 1b < 1.1 < ... < 5.2).
fn rank(l: &LevelLimits) -> usize {
    LEVELS
        .iter()
        .position(|x| x.level_idc == l.level_idc)
        .unwrap_or(usize::MAX)
}

/// The limits of `l` as a user reads them: "level 3 allows at most 40500 macroblocks/s,
/// 1620 macroblocks per frame and 12500000 bits/s" (bits/s for `profile`).
pub fn describe_limits(l: &LevelLimits, profile: H264Profile) -> String {
    format!(
        "level {} allows at most {} macroblocks/s, {} macroblocks per frame and {} bits/s",
        l.name,
        l.max_mbps,
        l.max_fs,
        l.max_br * profile.cpb_br_vcl_factor()
    )
}

/// The level to encode at, from the `level` property (`requested`, `None` = auto) and the
/// levels downstream caps accept (`allowed`, `None` = any), for a stream of
/// `width` x `height` pixels at `fps` frames/s and `bitrate` bits/s.
///
/// - Auto, any level downstream: [`choose_level`].
/// - Auto, levels from downstream: the automatic level if downstream accepts it, else the
///   lowest accepted level that holds the stream (a higher level than needed is still
///   conforming; it is what `v4l2h264enc ! video/x-h264,level=(string)4.1` does).
/// - Requested: that level when it holds the stream. Too low: with any level downstream a
///   warning (second value) and the automatic level; with levels from downstream an error.
///
/// Errors name the stream, the level and its limits.
pub fn pick_level(
    requested: Option<&'static LevelLimits>,
    allowed: Option<&[&'static LevelLimits]>,
    width: u32,
    height: u32,
    fps: f64,
    bitrate: u64,
    profile: H264Profile,
) -> Result<(&'static LevelLimits, Option<String>), String> {
    let stream = format!("{width}x{height} at {fps:.2} frames/s and {bitrate} bits/s");
    let auto = choose_level(width, height, fps, bitrate, profile).map_err(|e| e.to_string())?;
    let accepted =
        |l: &LevelLimits| allowed.is_none_or(|a| a.iter().any(|x| x.level_idc == l.level_idc));
    let names = |a: &[&LevelLimits]| a.iter().map(|l| l.name).collect::<Vec<_>>().join(", ");
    if let Some(want) = requested {
        if !accepted(want) {
            return Err(format!(
                "level={} was asked for but downstream accepts only level {}",
                want.name,
                names(allowed.unwrap_or_default())
            ));
        }
        if fits(want, width, height, fps, bitrate, profile) {
            return Ok((want, None));
        }
        let why = format!(
            "level={} is too low for {stream} ({}); it needs level {}",
            want.name,
            describe_limits(want, profile),
            auto.name
        );
        return match allowed {
            None => Ok((auto, Some(format!("{why}; using level {}", auto.name)))),
            Some(_) => Err(why),
        };
    }
    let Some(list) = allowed else {
        return Ok((auto, None));
    };
    if accepted(auto) {
        return Ok((auto, None));
    }
    let mut sorted: Vec<&'static LevelLimits> = list.to_vec();
    sorted.sort_by_key(|l| rank(l));
    if let Some(l) = sorted
        .iter()
        .find(|l| rank(l) >= rank(auto) && fits(l, width, height, fps, bitrate, profile))
    {
        return Ok((l, None));
    }
    let top = sorted.last().copied().unwrap_or(auto);
    Err(format!(
        "downstream caps ask for level {} but {stream} needs level {} ({})",
        names(&sorted),
        auto.name,
        describe_limits(top, profile)
    ))
}

/// The automatic bitrate when the `bitrate` property is 0: Picamera2's `Quality.MEDIUM`
/// (6 Mbit/s at 1920x1080 and 30 frames/s, `encoders/encoder.py`), scaled by
/// width x height x frame rate, at least 25 kbit/s. Returns bits/s.
pub fn auto_bitrate(width: u32, height: u32, fps: f64) -> u64 {
    const REFERENCE: f64 = 1920.0 * 1080.0 * 30.0;
    let bps = 6_000_000.0 * (f64::from(width) * f64::from(height) * fps) / REFERENCE;
    (bps.round() as u64).max(25_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpicam_apps_cases() {
        // 1080p30: 8160 MB * 30 = 244800 MB/s <= 245760 -> 4.0 (rpicam-apps keeps its level).
        let l = choose_level(1920, 1080, 30.0, 6_000_000, H264Profile::High).unwrap();
        assert_eq!(l.name, "4");
        // 1080p50 -> 408000 MB/s -> 4.2 (rpicam-apps "Overriding H.264 level 4.2").
        let l = choose_level(1920, 1080, 50.0, 6_000_000, H264Profile::High).unwrap();
        assert_eq!(l.name, "4.2");
        // Picamera2: 1080p30 at 15 Mbit/s -> 4.1.
        let l = choose_level(1920, 1080, 30.0, 15_000_000, H264Profile::High).unwrap();
        assert_eq!(l.name, "4.1");
    }

    #[test]
    fn small_streams_get_small_levels() {
        // VGA30: 1200 MB, 36000 MB/s -> 3.0 (raspberrypi/linux #4906: "level 3 needed for VGA30").
        assert_eq!(
            choose_level(640, 480, 30.0, 1_000_000, H264Profile::Main)
                .unwrap()
                .name,
            "3"
        );
        // VGA60 -> 3.1.
        assert_eq!(
            choose_level(640, 480, 60.0, 1_000_000, H264Profile::Main)
                .unwrap()
                .name,
            "3.1"
        );
        // 720p30: 3600 MB -> 3.1.
        assert_eq!(
            choose_level(1280, 720, 30.0, 4_000_000, H264Profile::High)
                .unwrap()
                .name,
            "3.1"
        );
        // Bitrate pushes the level: 720p30 at 16 Mbit/s in Main (MaxBR 14000) -> 3.2.
        assert_eq!(
            choose_level(1280, 720, 30.0, 16_000_000, H264Profile::Main)
                .unwrap()
                .name,
            "3.2"
        );
        // ... but High's factor 1.25 keeps it at 3.1 (17.5 Mbit/s).
        assert_eq!(
            choose_level(1280, 720, 30.0, 16_000_000, H264Profile::High)
                .unwrap()
                .name,
            "3.1"
        );
    }

    #[test]
    fn large_and_impossible() {
        // 4056x3040: 254*190 = 48260 MB > 36864 -> no level.
        let e = choose_level(4056, 3040, 10.0, 10_000_000, H264Profile::High).unwrap_err();
        assert!(
            matches!(e, LevelError::FrameTooLarge { mbs: 48260, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("4056x3040"));
        // 4K30 -> 5.1.
        assert_eq!(
            choose_level(3840, 2160, 30.0, 20_000_000, H264Profile::High)
                .unwrap()
                .name,
            "5.1"
        );
        // 1920x1920 (bcm2835 maximum): 14400 MB > 8704 -> 5.
        assert_eq!(
            choose_level(1920, 1920, 30.0, 10_000_000, H264Profile::High)
                .unwrap()
                .name,
            "5"
        );
        let e = choose_level(1280, 720, 30.0, 400_000_000, H264Profile::High).unwrap_err();
        assert!(matches!(e, LevelError::BitrateTooHigh { .. }));
        let e = choose_level(1920, 1080, 1000.0, 1_000_000, H264Profile::High).unwrap_err();
        assert!(matches!(e, LevelError::RateTooHigh { .. }));
    }

    #[test]
    fn names_and_sps() {
        assert_eq!(level_by_name("4.0").unwrap().level_idc, 40);
        assert_eq!(level_by_name("4").unwrap().level_idc, 40);
        assert_eq!(level_by_name("1b").unwrap().level_idc, 9);
        assert!(level_by_name("7").is_none());
        assert_eq!(
            H264Profile::from_sps(66, true),
            Some(H264Profile::ConstrainedBaseline)
        );
        assert_eq!(H264Profile::from_sps(100, false), Some(H264Profile::High));
        assert_eq!(H264Profile::from_caps_name("main"), Some(H264Profile::Main));
    }

    #[test]
    fn level_from_property_and_downstream() {
        let l = |n| level_by_name(n).unwrap();
        let hp = H264Profile::High;
        // Auto, downstream any: the automatic level.
        let (got, w) = pick_level(None, None, 1280, 720, 30.0, 2_000_000, hp).unwrap();
        assert_eq!((got.name, w), ("3.1", None));
        // Auto, downstream 4.1 (the Raspberry Pi documentation's v4l2h264enc recipe): 4.1.
        let (got, _) = pick_level(None, Some(&[l("4.1")]), 1280, 720, 30.0, 2_000_000, hp).unwrap();
        assert_eq!(got.name, "4.1");
        // A list: the automatic level when listed, else the lowest listed that holds.
        let (got, _) = pick_level(
            None,
            Some(&[l("4"), l("3.1")]),
            1280,
            720,
            30.0,
            2_000_000,
            hp,
        )
        .unwrap();
        assert_eq!(got.name, "3.1");
        let (got, _) = pick_level(
            None,
            Some(&[l("5"), l("3"), l("4")]),
            1280,
            720,
            30.0,
            2_000_000,
            hp,
        )
        .unwrap();
        assert_eq!(got.name, "4");
        // Too low downstream: an error naming the level, its limit and the level needed.
        let e = pick_level(None, Some(&[l("3")]), 1280, 720, 30.0, 2_000_000, hp).unwrap_err();
        assert!(
            e.contains("level 3")
                && e.contains("40500 macroblocks/s")
                && e.contains("needs level 3.1"),
            "{e}"
        );
        // Property too low: warning and the automatic level, or an error if downstream insists.
        let (got, w) = pick_level(Some(l("3")), None, 1280, 720, 30.0, 2_000_000, hp).unwrap();
        assert_eq!(got.name, "3.1");
        assert!(w.unwrap().contains("level=3 is too low"));
        let e = pick_level(
            Some(l("3")),
            Some(&[l("3")]),
            1280,
            720,
            30.0,
            2_000_000,
            hp,
        )
        .unwrap_err();
        assert!(e.contains("level=3 is too low"), "{e}");
        // Property not accepted downstream.
        let e = pick_level(
            Some(l("4")),
            Some(&[l("4.1")]),
            640,
            480,
            30.0,
            1_000_000,
            hp,
        )
        .unwrap_err();
        assert!(e.contains("level=4") && e.contains("only level 4.1"), "{e}");
    }

    #[test]
    fn auto_bitrate_scales() {
        assert_eq!(auto_bitrate(1920, 1080, 30.0), 6_000_000);
        assert_eq!(auto_bitrate(1280, 720, 30.0), 2_666_667);
        assert_eq!(auto_bitrate(32, 32, 1.0), 25_000);
    }
}
