// SPDX-License-Identifier: MPL-2.0
//! Sensor-mode choice, framerate included, as rpicam-apps does it.
//!
//! The score is rpicam-apps' `RPiCamApp::selectMode()` (core/rpicam_app.cpp): for each mode,
//! `scoreFormat(width) + scoreFormat(height) + 1500 * scoreFormat(aspect ratio)
//! + 2000 * |fps - min(mode fps, fps)| + 500 * |bit depth - mode bit depth|`, where
//! `scoreFormat(desired, actual)` is `desired - actual`, or `(actual - desired) / 8` when the mode
//! is larger, doubled when not exact; the lowest score wins and a later mode wins a tie. The
//! requested bit depth defaults to 12, as rpicam-apps' `Mode::update()` sets it.
//!
//! One rule is added so that caps are never honoured silently at a lower rate or detail: a mode
//! is a candidate only when it can deliver the requested size without upscaling and the requested
//! frame rate (libcamerasrc clamps the rate instead, a complaint its users have).

use std::fmt;
use std::str::FromStr;

use super::format::Size;
use super::sensor::{SensorInfo, SensorMode};

/// What a configuration asks of the sensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModeRequest {
    /// Largest output size any stream needs, pixels.
    pub size: Size,
    /// Frame rate, frames/s; `None` when any rate will do.
    pub fps: Option<f64>,
    /// Preferred bit depth (rpicam-apps default 12).
    pub bit_depth: u8,
}

/// The default bit depth of a mode request (rpicam-apps).
pub const DEFAULT_BIT_DEPTH: u8 = 12;

fn score_format(desired: f64, actual: f64) -> f64 {
    let mut score = desired - actual;
    if score < 0.0 {
        score = -score / 8.0;
    }
    if actual != desired {
        score *= 2.0;
    }
    score
}

/// rpicam-apps' score of `mode` for `req` (lower is better).
pub fn score(req: &ModeRequest, mode: &SensorMode) -> f64 {
    let (w, h) = (f64::from(req.size.width), f64::from(req.size.height));
    let (mw, mh) = (f64::from(mode.size.width), f64::from(mode.size.height));
    let mut s = score_format(w, mw) + score_format(h, mh);
    s += 1500.0 * score_format(w / h, mw / mh);
    if let Some(fps) = req.fps {
        s += 2000.0 * (fps - mode.max_fps().min(fps)).abs();
    }
    s += 500.0 * (f64::from(req.bit_depth) - f64::from(mode.bit_depth)).abs();
    s
}

/// True when `mode` can deliver `req` with no upscaling and at the requested rate.
pub fn can_deliver(req: &ModeRequest, mode: &SensorMode) -> bool {
    // Tolerance: a rate exactly at the mode maximum, written as a fraction, may round up by a
    // few parts per million.
    mode.size.contains(req.size) && req.fps.is_none_or(|f| f <= mode.max_fps() * 1.000_01)
}

/// The best mode for `req` among `items` by rpicam-apps' score (the lowest wins, a later one a
/// tie), considering only the modes that can deliver it; `mode_of` gives an item's mode (a
/// backend's modes may carry more, such as libcamera's raw format). `None`: no mode can.
pub fn best<'a, T>(
    items: impl IntoIterator<Item = &'a T>,
    mode_of: impl Fn(&T) -> &SensorMode,
    req: &ModeRequest,
) -> Option<&'a T> {
    let mut best: Option<(&T, f64)> = None;
    for item in items {
        let m = mode_of(item);
        if !can_deliver(req, m) {
            continue;
        }
        let s = score(req, m);
        if best.is_none_or(|(_, b)| s <= b) {
            best = Some((item, s));
        }
    }
    best.map(|(item, _)| item)
}

/// Chooses the mode for `req` among the sensor's modes (`hdr`: the sensor-HDR list).
///
/// Errors: no mode can deliver the size at the rate; the message names every mode with its
/// maximum rate.
pub fn choose<'a>(
    sensor: &'a SensorInfo,
    req: &ModeRequest,
    hdr: bool,
) -> Result<&'a SensorMode, String> {
    best(sensor.modes_for(hdr), |m| m, req).ok_or_else(|| {
        format!(
            "{} has no mode for {}{}; its modes are: {}",
            sensor.model,
            req.size,
            req.fps
                .map(|f| format!(" at {f:.2} fps"))
                .unwrap_or_default(),
            sensor.describe_modes(hdr)
        )
    })
}

/// How a configuration's sensor mode is chosen, the strongest rule that applies first: an
/// explicit `sensor-mode` names it, else a raw stream fixes it (its size and bit depth are the
/// mode's), else rpicam-apps' score for the processed streams picks it. The one mode selector
/// of every backend ([`ModeRule::select`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModeRule {
    /// An explicit mode (`sensor-mode`).
    Explicit(SensorModeSpec),
    /// The raw stream's size, pixels, and bit depth (`None`: any, as for 16-bit containers).
    Raw {
        /// The raw stream's size, pixels.
        size: Size,
        /// The raw stream's bit depth, if it fixes one.
        bit_depth: Option<u8>,
    },
    /// rpicam-apps' score for what the processed streams need.
    Scored(ModeRequest),
}

impl ModeRule {
    /// The rule for a configuration: `explicit` if given, else `raw` (size and bit depth) if
    /// there is a raw stream, else the score for `req`.
    pub fn new(
        explicit: Option<SensorModeSpec>,
        raw: Option<(Size, Option<u8>)>,
        req: ModeRequest,
    ) -> Self {
        match (explicit, raw) {
            (Some(spec), _) => ModeRule::Explicit(spec),
            (None, Some((size, bit_depth))) => ModeRule::Raw { size, bit_depth },
            (None, None) => ModeRule::Scored(req),
        }
    }

    /// The item of `items` whose mode (`mode_of`) the rule selects: the explicit mode
    /// ([`SensorModeSpec::pick`]), the first mode of the raw stream's size and depth, or the
    /// best score among the modes that can deliver the request ([`best`]). `None`: no mode
    /// fits; callers name the modes in their error.
    pub fn select<'a, T>(
        &self,
        items: impl IntoIterator<Item = &'a T>,
        mode_of: impl Fn(&T) -> &SensorMode,
    ) -> Option<&'a T> {
        match self {
            ModeRule::Explicit(spec) => spec.pick(items, mode_of),
            ModeRule::Raw { size, bit_depth } => items.into_iter().find(|i| {
                let m = mode_of(i);
                m.size == *size && bit_depth.is_none_or(|b| b == m.bit_depth)
            }),
            ModeRule::Scored(req) => best(items, mode_of, req),
        }
    }
}

/// An explicit sensor mode as users write it: `W:H:bit-depth[:P|U]` (rpicam-apps `--mode`) or
/// `WxH:bit-depth[:P|U]`; the bit depth may be left out (`1332x990`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorModeSpec {
    /// Mode size, pixels.
    pub size: Size,
    /// Bit depth, if given.
    pub bit_depth: Option<u8>,
    /// Packed (`P`) or unpacked (`U`) raw output, if given.
    pub packed: Option<bool>,
}

impl FromStr for SensorModeSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "sensor-mode '{s}' is not of the form W:H:bit-depth[:P|U] or WxH[:bit-depth] \
                 (e.g. 1332:990:10 or 1332x990:10)"
            )
        };
        let t = s.trim();
        let parts: Vec<&str> = if let Some((wh, rest)) = t.split_once(['x', 'X']) {
            let mut v = vec![wh];
            v.extend(rest.split(':'));
            v
        } else {
            t.split(':').collect()
        };
        if parts.len() < 2 || parts.len() > 4 {
            return Err(bad());
        }
        let num = |p: &str| p.trim().parse::<u32>().map_err(|_| bad());
        let size = Size::new(num(parts[0])?, num(parts[1])?);
        if size.width == 0 || size.height == 0 {
            return Err(bad());
        }
        let bit_depth = match parts.get(2) {
            Some(b) => {
                let b = num(b)?;
                if ![8, 10, 12, 16].contains(&b) {
                    return Err(format!(
                        "sensor-mode '{s}': bit depth {b} is not one of 8, 10, 12, 16"
                    ));
                }
                Some(b as u8)
            }
            None => None,
        };
        let packed = match parts.get(3).map(|p| p.trim()) {
            Some("P") | Some("p") => Some(true),
            Some("U") | Some("u") => Some(false),
            Some(_) => return Err(bad()),
            None => None,
        };
        Ok(SensorModeSpec {
            size,
            bit_depth,
            packed,
        })
    }
}

impl fmt::Display for SensorModeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.size.width, self.size.height)?;
        if let Some(b) = self.bit_depth {
            write!(f, ":{b}")?;
        }
        if let Some(p) = self.packed {
            write!(f, ":{}", if p { "P" } else { "U" })?;
        }
        Ok(())
    }
}

impl SensorModeSpec {
    /// True when `mode` is the one this names: same size, and same bit depth if given.
    pub fn matches(&self, mode: &SensorMode) -> bool {
        mode.size == self.size && self.bit_depth.is_none_or(|b| b == mode.bit_depth)
    }

    /// The item of `items` whose mode (`mode_of`) this names: where the bit depth is left out,
    /// the deepest; the first of equals. `None`: no such mode.
    pub fn pick<'a, T>(
        &self,
        items: impl IntoIterator<Item = &'a T>,
        mode_of: impl Fn(&T) -> &SensorMode,
    ) -> Option<&'a T> {
        let mut found: Option<&T> = None;
        for item in items.into_iter().filter(|i| self.matches(mode_of(i))) {
            if found.is_none_or(|f| mode_of(item).bit_depth > mode_of(f).bit_depth) {
                found = Some(item);
            }
        }
        found
    }

    /// The sensor mode this names. Errors name the sensor's modes.
    pub fn find<'a>(&self, sensor: &'a SensorInfo, hdr: bool) -> Result<&'a SensorMode, String> {
        self.pick(sensor.modes_for(hdr), |m| m).ok_or_else(|| {
            format!(
                "sensor-mode {self} is not a mode of {}; its modes are: {}",
                sensor.model,
                sensor.describe_modes(hdr)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::sensor;

    fn req(w: u32, h: u32, fps: f64) -> ModeRequest {
        ModeRequest {
            size: Size::new(w, h),
            fps: Some(fps),
            bit_depth: DEFAULT_BIT_DEPTH,
        }
    }

    #[test]
    fn vga_at_90_fps_on_imx219_takes_the_binned_high_rate_mode() {
        let s = sensor::imx219();
        let m = choose(&s, &req(640, 480, 90.0), false).unwrap();
        assert_eq!(m.size, Size::new(640, 480));
        assert_eq!(m.bit_depth, 10);
        assert_eq!(m.binning(), 2);
    }

    #[test]
    fn full_hd_at_30_on_imx219_takes_the_1080p_mode_by_score() {
        let s = sensor::imx219();
        let r = req(1920, 1080, 30.0);
        let m = choose(&s, &r, false).unwrap();
        assert_eq!(m.size, Size::new(1920, 1080));
        // The full mode scores worse: AR and size penalties outweigh bit depth.
        let full = s.modes.iter().find(|m| m.size.width == 3280).unwrap();
        assert!(score(&r, full) > score(&r, m));
    }

    #[test]
    fn imx477_full_resolution_at_60_has_no_mode() {
        let s = sensor::imx477();
        let e = choose(&s, &req(4056, 3040, 60.0), false).unwrap_err();
        assert!(e.contains("4056x3040 12-bit [10.00 fps"), "{e}");
        assert!(e.contains("1332x990 10-bit [120.05 fps"), "{e}");
    }

    #[test]
    fn rate_forces_a_smaller_mode() {
        let s = sensor::imx477();
        let m = choose(&s, &req(1280, 720, 100.0), false).unwrap();
        assert_eq!(m.size, Size::new(1332, 990));
        let m = choose(&s, &req(1920, 1080, 30.0), false).unwrap();
        assert_eq!(m.size, Size::new(2028, 1080));
    }

    #[test]
    fn explicit_mode_syntax() {
        let a: SensorModeSpec = "1332:990:10".parse().unwrap();
        let b: SensorModeSpec = "1332x990:10".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.bit_depth, Some(10));
        let c: SensorModeSpec = "2028:1520:12:U".parse().unwrap();
        assert_eq!(c.packed, Some(false));
        assert!("1332".parse::<SensorModeSpec>().is_err());
        assert!("1332:990:11".parse::<SensorModeSpec>().is_err());
        assert!("axb".parse::<SensorModeSpec>().is_err());
        let s = sensor::imx477();
        assert_eq!(a.find(&s, false).unwrap().max_fps().round(), 120.0);
        assert!("640:480"
            .parse::<SensorModeSpec>()
            .unwrap()
            .find(&s, false)
            .is_err());
    }

    #[test]
    fn one_selector_for_every_rule() {
        // Items carrying a mode, as a backend's modes do (libcamera's carry a raw format).
        struct Item {
            mode: SensorMode,
            raw: bool,
        }
        let s = sensor::imx219();
        let items: Vec<Item> = s
            .modes
            .iter()
            .map(|m| Item {
                mode: m.clone(),
                raw: m.size.width != 640,
            })
            .collect();
        // Explicit, no depth given: the deepest of that size.
        let spec: SensorModeSpec = "640:480".parse().unwrap();
        let rule = ModeRule::new(
            Some(spec),
            Some((Size::new(3280, 2464), None)),
            req(64, 64, 1.0),
        );
        let m = &rule.select(&items, |i| &i.mode).unwrap().mode;
        assert_eq!((m.size, m.bit_depth), (Size::new(640, 480), 10));
        // Raw of any depth: the first of its size; of a depth: that one.
        let size = Size::new(1640, 1232);
        let rule = ModeRule::new(None, Some((size, None)), req(64, 64, 1.0));
        let with_raw = items.iter().filter(|i| i.raw);
        let first = s.modes.iter().find(|m| m.size == size).unwrap();
        assert_eq!(&rule.select(with_raw, |i| &i.mode).unwrap().mode, first);
        let rule = ModeRule::Raw {
            size,
            bit_depth: Some(8),
        };
        assert_eq!(rule.select(&items, |i| &i.mode).unwrap().mode.bit_depth, 8);
        let rule = ModeRule::Raw {
            size: Size::new(640, 480),
            bit_depth: None,
        };
        assert!(rule
            .select(items.iter().filter(|i| i.raw), |i| &i.mode)
            .is_none());
        // Scored: as choose().
        let r = req(640, 480, 90.0);
        let rule = ModeRule::new(None, None, r);
        assert_eq!(
            &rule.select(&items, |i| &i.mode).unwrap().mode,
            choose(&s, &r, false).unwrap()
        );
    }

    #[test]
    fn hdr_list_on_imx708() {
        let s = sensor::imx708();
        let m = choose(&s, &req(1920, 1080, 30.0), true).unwrap();
        assert!(m.hdr);
        assert!(choose(&s, &req(1920, 1080, 50.0), true).is_err());
    }
}
