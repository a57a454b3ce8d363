// SPDX-License-Identifier: MPL-2.0
//! Encoder controls: their ids (`linux/v4l2-controls.h`, `V4L2_CID_CODEC_BASE` = 0x00990900),
//! menu values, the bcm2835-codec ranges, and the plan of values set before STREAMON.
//!
//! Ranges from raspberrypi/linux bcm2835-v4l2-codec.c and `v4l2-ctl -L -d /dev/video11`
//! (raspberrypi/linux #4917): bitrate 25000..25000000 step 25000, I-period 0..2^31-1,
//! QP 0..51, level menu up to 4.2 (5.1 on kernels with PR #5084).

use super::super::level::H264Profile;
use super::device::ControlRange;

const CODEC_BASE: u32 = 0x0099_0900;
/// `V4L2_CID_MPEG_VIDEO_BITRATE_MODE` (menu: 0 VBR, 1 CBR).
pub const CID_BITRATE_MODE: u32 = CODEC_BASE + 206;
/// `V4L2_CID_MPEG_VIDEO_BITRATE`, bits/s.
pub const CID_BITRATE: u32 = CODEC_BASE + 207;
/// `V4L2_CID_MPEG_VIDEO_REPEAT_SEQ_HEADER` (bool; must be set before STREAMON,
/// raspberrypi/linux #2780).
pub const CID_REPEAT_SEQ_HEADER: u32 = CODEC_BASE + 226;
/// `V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME` (button).
pub const CID_FORCE_KEY_FRAME: u32 = CODEC_BASE + 229;
/// `V4L2_CID_MPEG_VIDEO_H264_MIN_QP`.
pub const CID_H264_MIN_QP: u32 = CODEC_BASE + 353;
/// `V4L2_CID_MPEG_VIDEO_H264_MAX_QP`.
pub const CID_H264_MAX_QP: u32 = CODEC_BASE + 354;
/// `V4L2_CID_MPEG_VIDEO_H264_I_PERIOD`, frames (also sets the GOP size in bcm2835-codec).
pub const CID_H264_I_PERIOD: u32 = CODEC_BASE + 358;
/// `V4L2_CID_MPEG_VIDEO_H264_LEVEL` (menu, see [`level_menu`]).
pub const CID_H264_LEVEL: u32 = CODEC_BASE + 359;
/// `V4L2_CID_MPEG_VIDEO_H264_PROFILE` (menu, see [`profile_menu`]).
pub const CID_H264_PROFILE: u32 = CODEC_BASE + 363;

/// Fallback bitrate range of bcm2835-codec when QUERYCTRL is not answered, bits/s.
pub const BITRATE_RANGE: ControlRange = ControlRange {
    min: 25_000,
    max: 25_000_000,
    step: 25_000,
    default: 10_000_000,
};

/// The bitrates the Pi 4 encoder handles, bits/s: below about 100 kbit/s it hangs
/// (raspberrypi/rpicam-apps #664), above 25 Mbit/s it fails (the firmware's and the driver's
/// maximum).
pub const SAFE_BITRATE: (i32, i32) = (100_000, 25_000_000);

/// The bitrate range to use: the driver's reported range (QUERYCTRL; [`BITRATE_RANGE`] when it
/// does not answer) narrowed to [`SAFE_BITRATE`].
pub fn bitrate_range(reported: Option<ControlRange>) -> ControlRange {
    let r = reported.unwrap_or(BITRATE_RANGE);
    let step = r.step.max(1);
    // The smallest multiple of the step from the driver's minimum at or above the safe floor.
    let floor = if r.min >= SAFE_BITRATE.0 {
        r.min
    } else {
        r.min + ((SAFE_BITRATE.0 - r.min + step - 1) / step) * step
    };
    ControlRange {
        min: floor,
        max: r.max.min(SAFE_BITRATE.1).max(floor),
        ..r
    }
}

/// `enum v4l2_mpeg_video_h264_level` index for a `level_idc` (9 = level 1b).
pub fn level_menu(level_idc: u8) -> Option<i32> {
    Some(match level_idc {
        10 => 0,
        9 => 1,
        11 => 2,
        12 => 3,
        13 => 4,
        20 => 5,
        21 => 6,
        22 => 7,
        30 => 8,
        31 => 9,
        32 => 10,
        40 => 11,
        41 => 12,
        42 => 13,
        50 => 14,
        51 => 15,
        52 => 16,
        _ => return None,
    })
}

/// `enum v4l2_mpeg_video_h264_profile` value.
pub fn profile_menu(p: H264Profile) -> i32 {
    match p {
        H264Profile::Baseline => 0,
        H264Profile::ConstrainedBaseline => 1,
        H264Profile::Main => 2,
        H264Profile::High => 4,
    }
}

/// What the element asks of the hardware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HwSettings {
    /// Target bitrate, bits/s.
    pub bitrate: u32,
    /// Constant instead of variable bitrate.
    pub cbr: bool,
    /// Frames between IDRs; 0 = only the first.
    pub iperiod: u32,
    /// Profile.
    pub profile: H264Profile,
    /// `level_idc` (9 = 1b).
    pub level_idc: u8,
    /// SPS/PPS before every IDR.
    pub inline_headers: bool,
    /// Constant QP 1..=51, 0 = rate control.
    pub qp: u8,
}

/// A control write, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlValue {
    /// Control id.
    pub id: u32,
    /// Value.
    pub value: i32,
    /// Name for messages.
    pub name: &'static str,
}

/// Clamps a bitrate into `range` and rounds it to the step; returns the value and a warning
/// naming the value and range when it had to change by more than rounding.
pub fn bitrate_value(bitrate: u32, range: &ControlRange) -> (i32, Option<String>) {
    let b = i64::from(bitrate);
    let (min, max) = (i64::from(range.min), i64::from(range.max));
    let step = i64::from(range.step.max(1));
    let clamped = b.clamp(min, max);
    let rounded = (min + ((clamped - min + step / 2) / step) * step).min(max);
    let warning = (b < min || b > max).then(|| {
        format!(
            "bitrate {bitrate} bits/s is outside the hardware encoder's range {min}..{max} bits/s; using {rounded}"
        )
    });
    (rounded as i32, warning)
}

/// The I-period to write: 1 becomes 2 (every frame an IDR hangs the bcm2835 encoder,
/// raspberrypi/linux #4740), 0 ("first frame only") becomes the largest period, values above
/// 2^31-1 are clamped. Returns the value and a warning when it changed.
pub fn iperiod_value(iperiod: u32) -> (i32, Option<String>) {
    match iperiod {
        0 => (i32::MAX, None),
        1 => (2, Some("iperiod 1 (every frame an IDR) hangs the bcm2835 encoder (raspberrypi/linux #4740); using 2".into())),
        p if p > i32::MAX as u32 => (
            i32::MAX,
            Some(format!("iperiod {p} frames is outside the hardware encoder's range 0..{} frames; using {}", i32::MAX, i32::MAX)),
        ),
        p => (p as i32, None),
    }
}

/// The controls to write before STREAMON, in order, plus warnings. `bitrate_range` and
/// `level_range` come from QUERYCTRL when the device answers. Fails when the level is beyond
/// what the device offers.
pub fn plan(
    s: &HwSettings,
    bitrate_range: &ControlRange,
    level_range: Option<&ControlRange>,
) -> Result<(Vec<ControlValue>, Vec<String>), String> {
    let mut warnings = Vec::new();
    let mut out = Vec::new();
    let level = level_menu(s.level_idc)
        .ok_or_else(|| format!("level_idc {} has no V4L2 menu entry", s.level_idc))?;
    if let Some(r) = level_range {
        if level > r.max {
            return Err(format!(
                "the stream needs H.264 level menu entry {level} (level_idc {}), the device offers up to entry {}",
                s.level_idc, r.max
            ));
        }
    }
    out.push(ControlValue {
        id: CID_BITRATE_MODE,
        value: i32::from(s.cbr),
        name: "video_bitrate_mode",
    });
    if s.qp == 0 {
        let (b, w) = bitrate_value(s.bitrate, bitrate_range);
        warnings.extend(w);
        out.push(ControlValue {
            id: CID_BITRATE,
            value: b,
            name: "video_bitrate",
        });
    }
    out.push(ControlValue {
        id: CID_H264_PROFILE,
        value: profile_menu(s.profile),
        name: "h264_profile",
    });
    out.push(ControlValue {
        id: CID_H264_LEVEL,
        value: level,
        name: "h264_level",
    });
    let (p, w) = iperiod_value(s.iperiod);
    warnings.extend(w);
    out.push(ControlValue {
        id: CID_H264_I_PERIOD,
        value: p,
        name: "h264_i_frame_period",
    });
    out.push(ControlValue {
        id: CID_REPEAT_SEQ_HEADER,
        value: i32::from(s.inline_headers),
        name: "repeat_sequence_header",
    });
    if s.qp > 0 {
        let qp = i32::from(s.qp.min(51));
        out.push(ControlValue {
            id: CID_H264_MIN_QP,
            value: qp,
            name: "h264_minimum_qp_value",
        });
        out.push(ControlValue {
            id: CID_H264_MAX_QP,
            value: qp,
            name: "h264_maximum_qp_value",
        });
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> HwSettings {
        HwSettings {
            bitrate: 6_000_000,
            cbr: false,
            iperiod: 60,
            profile: H264Profile::High,
            level_idc: 40,
            inline_headers: true,
            qp: 0,
        }
    }

    #[test]
    fn ids_match_v4l2_ctl_listing() {
        // raspberrypi/linux #4917 `v4l2-ctl -L -d /dev/video11`.
        assert_eq!(CID_BITRATE_MODE, 0x009909ce);
        assert_eq!(CID_BITRATE, 0x009909cf);
        assert_eq!(CID_REPEAT_SEQ_HEADER, 0x009909e2);
        assert_eq!(CID_FORCE_KEY_FRAME, 0x009909e5);
        assert_eq!(CID_H264_MIN_QP, 0x00990a61);
        assert_eq!(CID_H264_MAX_QP, 0x00990a62);
        assert_eq!(CID_H264_I_PERIOD, 0x00990a66);
        assert_eq!(CID_H264_LEVEL, 0x00990a67);
        assert_eq!(CID_H264_PROFILE, 0x00990a6b);
        // Menu: 11 = 4, 12 = 4.1, 13 = 4.2; profile 4 = high.
        assert_eq!(level_menu(40), Some(11));
        assert_eq!(level_menu(42), Some(13));
        assert_eq!(level_menu(7), None);
        assert_eq!(profile_menu(H264Profile::High), 4);
    }

    #[test]
    fn bitrate_clamped_with_warning() {
        assert_eq!(bitrate_value(6_000_000, &BITRATE_RANGE), (6_000_000, None));
        assert_eq!(bitrate_value(6_010_000, &BITRATE_RANGE).0, 6_000_000);
        let (v, w) = bitrate_value(30_000_000, &BITRATE_RANGE);
        assert_eq!(v, 25_000_000);
        let w = w.unwrap();
        assert!(
            w.contains("30000000") && w.contains("25000..25000000"),
            "{w}"
        );
        assert_eq!(bitrate_value(1000, &BITRATE_RANGE).0, 25_000);
    }

    #[test]
    fn bitrate_range_is_the_drivers_narrowed_to_what_works() {
        // Not reported: 25000..25000000 narrowed to 100000 (rpicam-apps #664).
        let r = bitrate_range(None);
        assert_eq!((r.min, r.max, r.step), (100_000, 25_000_000, 25_000));
        let (v, w) = bitrate_value(50_000, &r);
        assert_eq!(v, 100_000);
        assert!(w.unwrap().contains("100000..25000000"));
        assert_eq!(bitrate_value(30_000_000, &r).0, 25_000_000);
        // A driver reporting less than the known limits wins.
        let small = ControlRange {
            min: 200_000,
            max: 20_000_000,
            step: 1,
            default: 1_000_000,
        };
        let r = bitrate_range(Some(small));
        assert_eq!((r.min, r.max), (200_000, 20_000_000));
        let (v, w) = bitrate_value(24_000_000, &r);
        assert_eq!(v, 20_000_000);
        assert!(w.unwrap().contains("200000..20000000"));
        // ... and one reporting more is narrowed.
        let big = ControlRange {
            min: 1,
            max: 100_000_000,
            step: 1,
            default: 1,
        };
        assert_eq!(
            (bitrate_range(Some(big)).min, bitrate_range(Some(big)).max),
            (100_000, 25_000_000)
        );
    }

    #[test]
    fn iperiod_rules() {
        assert_eq!(iperiod_value(60), (60, None));
        assert_eq!(iperiod_value(0).0, i32::MAX);
        let (v, w) = iperiod_value(1);
        assert_eq!(v, 2);
        assert!(w.unwrap().contains("#4740"));
    }

    #[test]
    fn plan_order_and_values() {
        let (c, w) = plan(&settings(), &BITRATE_RANGE, None).unwrap();
        assert!(w.is_empty());
        let ids: Vec<u32> = c.iter().map(|c| c.id).collect();
        assert_eq!(
            ids,
            vec![
                CID_BITRATE_MODE,
                CID_BITRATE,
                CID_H264_PROFILE,
                CID_H264_LEVEL,
                CID_H264_I_PERIOD,
                CID_REPEAT_SEQ_HEADER
            ]
        );
        assert_eq!(c[3].value, 11);
        assert_eq!(c[5].value, 1);
        let mut s = settings();
        s.qp = 30;
        let (c, _) = plan(&s, &BITRATE_RANGE, None).unwrap();
        assert!(!c.iter().any(|c| c.id == CID_BITRATE));
        assert_eq!(c.iter().filter(|c| c.value == 30).count(), 2);
        // Level 5 on a kernel whose menu ends at 4.2 (entry 13).
        s.level_idc = 50;
        let old = ControlRange {
            min: 0,
            max: 13,
            step: 1,
            default: 11,
        };
        let e = plan(&s, &BITRATE_RANGE, Some(&old)).unwrap_err();
        assert!(e.contains("up to entry 13"), "{e}");
    }
}
