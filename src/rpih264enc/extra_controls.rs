// SPDX-License-Identifier: MPL-2.0
//! `extra-controls`: `v4l2h264enc`'s control names mapped onto `rpih264enc`'s properties, so
//! that pipelines written for `v4l2h264enc` (the Raspberry Pi documentation's
//! `extra-controls="controls,repeat_sequence_header=1"`) run unchanged.
//!
//! Names are those GStreamer's v4l2 elements derive from the kernel's control names
//! (lower case, other characters as `_`; `v4l2-ctl -L -d /dev/video11` in
//! raspberrypi/linux #4917). Menu values are the kernel's (`enum v4l2_mpeg_video_h264_level`,
//! `enum v4l2_mpeg_video_h264_profile`, `enum v4l2_mpeg_video_bitrate_mode`).

use super::level::{self, H264Profile};
use super::v4l2::controls::{level_menu, profile_menu};
use super::{BitrateMode, Level, Profile};

/// A property value an extra control stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// `bitrate`, bits/s.
    Bitrate(u32),
    /// `iperiod`, frames.
    Iperiod(u32),
    /// `inline-headers`.
    InlineHeaders(bool),
    /// `level`.
    Level(Level),
    /// `profile`.
    Profile(Profile),
    /// `bitrate-mode`.
    BitrateMode(BitrateMode),
}

/// The one table: `v4l2h264enc` control name, the property it sets, what the value means.
pub const CONTROLS: &[(&str, &str, &str)] = &[
    ("video_bitrate", "bitrate", "bits/s"),
    ("h264_i_frame_period", "iperiod", "frames"),
    ("repeat_sequence_header", "inline-headers", "0 or 1"),
    ("h264_level", "level", "V4L2 menu: 0 = 1, 1 = 1b, 2 = 1.1 ... 11 = 4, 12 = 4.1, 13 = 4.2, 14 = 5, 15 = 5.1, 16 = 5.2"),
    ("h264_profile", "profile", "V4L2 menu: 0 = baseline, 1 = constrained baseline, 2 = main, 4 = high"),
    ("video_bitrate_mode", "bitrate-mode", "V4L2 menu: 0 = vbr, 1 = cbr"),
];

/// An integer from a structure field: int, uint, int64, uint64, boolean or a decimal string.
fn integer(v: &gst::glib::SendValue) -> Option<i64> {
    v.get::<i32>()
        .map(i64::from)
        .or_else(|_| v.get::<u32>().map(i64::from))
        .or_else(|_| v.get::<i64>())
        .or_else(|_| v.get::<u64>().map(|x| x.min(i64::MAX as u64) as i64))
        .or_else(|_| v.get::<bool>().map(i64::from))
        .ok()
        .or_else(|| v.get::<&str>().ok().and_then(|s| s.trim().parse().ok()))
}

/// The property value of one control, or a message naming the value and what is allowed.
pub fn map_one(name: &str, value: i64) -> Result<Mapped, String> {
    let bad = |allowed: &str| format!("extra-controls: {name}={value} is outside {allowed}");
    let u32_of = |allowed: &str| u32::try_from(value).map_err(|_| bad(allowed));
    Ok(match name {
        "video_bitrate" => Mapped::Bitrate(u32_of("0..4294967295 bits/s")?),
        "h264_i_frame_period" => {
            Mapped::Iperiod(u32_of("0..2147483647 frames")?.min(i32::MAX as u32))
        }
        "repeat_sequence_header" => match value {
            0 | 1 => Mapped::InlineHeaders(value == 1),
            _ => return Err(bad("0..1")),
        },
        "h264_level" => {
            let level = level::LEVELS
                .iter()
                .find(|l| level_menu(l.level_idc).map(i64::from) == Some(value))
                .ok_or_else(|| bad("the V4L2 level menu 0..16"))?;
            Mapped::Level(level_property(level.level_idc))
        }
        "h264_profile" => Mapped::Profile(
            match [
                (H264Profile::Baseline, Profile::Baseline),
                (H264Profile::ConstrainedBaseline, Profile::Baseline),
                (H264Profile::Main, Profile::Main),
                (H264Profile::High, Profile::High),
            ]
            .into_iter()
            .find(|(p, _)| i64::from(profile_menu(*p)) == value)
            {
                Some((_, p)) => p,
                None => {
                    return Err(bad(
                        "0 (baseline), 1 (constrained baseline), 2 (main), 4 (high)",
                    ))
                }
            },
        ),
        "video_bitrate_mode" => match value {
            0 => Mapped::BitrateMode(BitrateMode::Vbr),
            1 => Mapped::BitrateMode(BitrateMode::Cbr),
            _ => return Err(bad("0 (vbr), 1 (cbr)")),
        },
        _ => {
            return Err(format!(
                "extra-controls: unknown control {name}; known: {}",
                CONTROLS.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
            ))
        }
    })
}

/// The `level` property value of a `level_idc` (9 = 1b).
fn level_property(level_idc: u8) -> Level {
    match level_idc {
        10 => Level::L1,
        9 => Level::L1b,
        11 => Level::L1_1,
        12 => Level::L1_2,
        13 => Level::L1_3,
        20 => Level::L2,
        21 => Level::L2_1,
        22 => Level::L2_2,
        30 => Level::L3,
        31 => Level::L3_1,
        32 => Level::L3_2,
        40 => Level::L4,
        41 => Level::L4_1,
        42 => Level::L4_2,
        50 => Level::L5,
        51 => Level::L5_1,
        52 => Level::L5_2,
        _ => Level::Auto,
    }
}

/// Maps every field of an `extra-controls` structure; returns the property values in field
/// order and a warning for each field that is unknown or out of range (naming the known
/// controls or the allowed values).
pub fn map(s: &gst::StructureRef) -> (Vec<Mapped>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (name, value) in s.iter() {
        let name = name.as_str();
        let known = CONTROLS.iter().any(|c| c.0 == name);
        let result = match integer(value) {
            Some(v) => map_one(name, v),
            None if known => Err(format!(
                "extra-controls: {name} has a {} value, an integer is needed",
                value.type_()
            )),
            None => map_one(name, 0),
        };
        match result {
            Ok(m) => out.push(m),
            Err(w) => warnings.push(w),
        }
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raspberry_pi_recipe_and_every_control() {
        gst::init().unwrap();
        let s: gst::Structure = "controls,repeat_sequence_header=1".parse().unwrap();
        assert_eq!(map(&s), (vec![Mapped::InlineHeaders(true)], vec![]));
        let s: gst::Structure = "controls,video_bitrate=4000000,h264_i_frame_period=30,h264_level=12,h264_profile=4,video_bitrate_mode=1,repeat_sequence_header=0"
            .parse()
            .unwrap();
        let (m, w) = map(&s);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            m,
            vec![
                Mapped::Bitrate(4_000_000),
                Mapped::Iperiod(30),
                Mapped::Level(Level::L4_1),
                Mapped::Profile(Profile::High),
                Mapped::BitrateMode(BitrateMode::Cbr),
                Mapped::InlineHeaders(false),
            ]
        );
        assert_eq!(map_one("h264_level", 1), Ok(Mapped::Level(Level::L1b)));
        assert_eq!(map_one("h264_level", 16), Ok(Mapped::Level(Level::L5_2)));
        assert_eq!(
            map_one("h264_profile", 1),
            Ok(Mapped::Profile(Profile::Baseline))
        );
    }

    #[test]
    fn unknown_and_out_of_range_warn_naming_what_is_allowed() {
        gst::init().unwrap();
        let s: gst::Structure =
            "controls,h264_8x8_transform_enable=1,h264_level=40,video_bitrate_mode=cbr"
                .parse()
                .unwrap();
        let (m, w) = map(&s);
        assert!(m.is_empty());
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].contains("h264_8x8_transform_enable")
                && w[0].contains("video_bitrate, h264_i_frame_period"),
            "{}",
            w[0]
        );
        assert!(
            w[1].contains("h264_level=40") && w[1].contains("0..16"),
            "{}",
            w[1]
        );
        assert!(
            w[2].contains("video_bitrate_mode") && w[2].contains("integer"),
            "{}",
            w[2]
        );
        assert!(map_one("video_bitrate", -1).unwrap_err().contains("-1"));
    }
}
