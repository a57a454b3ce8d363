// SPDX-License-Identifier: MPL-2.0
//! Negotiation: from the camera's modes and what downstream accepts on each pad, the camera
//! configuration and each pad's stream (caps, video info, decimation).
//!
//! Pure: it holds no GStreamer object. Downstream is a function answering a pad's caps query
//! (`pad.peer_query_caps(filter)` in the element) and the camera a function validating a
//! configuration ([`crate::camera::CameraBackend::validate`]), so unit tests call
//! [`negotiate`] directly.
//!
//! Order: main first (it decides the camera's rate and the mode's minimum size), then lores
//! (YUV 4:2:0, no larger than main, no faster than main), then raw (the mode main and lores
//! choose is offered first). A pad's rate below the camera's is met by dropping frames: every
//! N-th frame when it divides the camera's rate (the camera then does not even process the
//! others for that stream), else frames picked to keep the average rate.

use crate::camera::format::{ColorSpace, PixelFormat, Size};
use crate::camera::{
    self, CameraConfiguration, CameraError, CameraInfo, ConfigStatus, SensorMode, SensorModeSpec,
    StreamConfig, StreamRole,
};

use super::{caps, CAT};

/// The size chosen when downstream leaves it open, pixels.
pub const DEFAULT_SIZE: Size = Size::new(1920, 1080);
/// The rate chosen when downstream leaves it open, frames/s.
pub const DEFAULT_FPS: i32 = 30;

/// The name of the pad of `role` (`src`, `lores`, `raw`).
pub fn pad_name(role: StreamRole) -> &'static str {
    match role {
        StreamRole::Main => "src",
        StreamRole::Lores => "lores",
        StreamRole::Raw => "raw",
    }
}

/// The role of the pad called `name`.
pub fn role_of(name: &str) -> Option<StreamRole> {
    [StreamRole::Main, StreamRole::Lores, StreamRole::Raw]
        .into_iter()
        .find(|r| pad_name(*r) == name)
}

/// What the element asks for, besides downstream's caps.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The opened camera.
    pub info: &'a CameraInfo,
    /// Use the sensor-HDR mode list (`hdr-mode` not off).
    pub hdr: bool,
    /// An explicit sensor mode (`sensor-mode`).
    pub sensor_mode: Option<SensorModeSpec>,
    /// Camera buffers per stream.
    pub buffer_count: u32,
    /// Horizontal flip (sensor readout).
    pub hflip: bool,
    /// Vertical flip (sensor readout).
    pub vflip: bool,
    /// The lores request pad is present (main is always there).
    pub lores: bool,
    /// The raw request pad is present.
    pub raw: bool,
}

/// One pad's negotiated stream.
#[derive(Debug, Clone)]
pub struct PadNeg {
    /// Fixated caps, colorimetry, pixel-aspect-ratio and interlace-mode set (processed streams).
    pub caps: gst::Caps,
    /// Video info for processed streams (none for raw Bayer).
    pub info: Option<gst_video::VideoInfo>,
    /// Raw Bayer: bytes of one tight row (0 for processed streams).
    pub raw_row_bytes: usize,
    /// This pad's rate over the camera's, as p / q (1/1: every frame).
    pub ratio: (u64, u64),
    /// The pad's frame duration (none for a variable rate, framerate 0/1).
    pub frame_duration: Option<gst::ClockTime>,
}

impl PadNeg {
    /// True when the frame `s` frames after the first one is this pad's: frames are picked so
    /// the pad's average rate is exact (every N-th frame when the rate divides the camera's).
    pub fn wants(&self, s: u64) -> bool {
        let (p, q) = (u128::from(self.ratio.0), u128::from(self.ratio.1));
        if p >= q {
            return true;
        }
        let s = u128::from(s);
        s == 0 || (s * p) / q > ((s - 1) * p) / q
    }
}

/// The outcome: a validated camera configuration (not yet applied) and each pad's stream.
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// Validated; the chosen mode is filled.
    pub config: CameraConfiguration,
    /// One per pad, main first.
    pub pads: Vec<(StreamRole, PadNeg)>,
    /// Changes the camera made that keep the caps (posted as an info message), if any.
    pub adjusted: Option<Vec<String>>,
}

impl Negotiated {
    /// The stream of `role`, if its pad is present.
    pub fn pad(&self, role: StreamRole) -> Option<&PadNeg> {
        self.pads.iter().find(|(r, _)| *r == role).map(|(_, n)| n)
    }
}

/// What the pad of `role` could produce before it is negotiated: main, any size and rate of
/// the camera's modes (only the explicit `spec`'s if set); lores, YUV 4:2:0 no larger and no
/// faster than main's negotiated caps `main` (none before main is negotiated); raw, each mode's
/// own Bayer formats and size. None when the camera offers no raw stream.
pub fn possible_caps(
    info: &CameraInfo,
    hdr: bool,
    spec: Option<&SensorModeSpec>,
    role: StreamRole,
    main: Option<&gst::Caps>,
) -> Option<gst::Caps> {
    match role {
        StreamRole::Main => Some(caps::camera_caps(info, hdr, spec)),
        StreamRole::Lores => {
            let s = main?.structure(0)?;
            Some(caps::lores_caps(
                Size::new(
                    s.get::<i32>("width").ok()? as u32,
                    s.get::<i32>("height").ok()? as u32,
                ),
                s.get::<gst::Fraction>("framerate").ok()?,
            ))
        }
        StreamRole::Raw => {
            let modes: Vec<_> = info.modes_for(hdr).collect();
            Some(caps::raw_caps(
                &modes,
                info.bayer_order?,
                gst::Fraction::new(i32::MAX, 1),
            ))
        }
    }
}

fn neg_error(msg: String) -> gst::ErrorMessage {
    gst::error_msg!(gst::CoreError::Negotiation, ("{}", msg))
}

fn fps_of(f: gst::Fraction) -> f64 {
    f64::from(f.numer()) / f64::from(f.denom().max(1))
}

/// `rate` when it is a rate, else no limit (framerate 0/1: variable).
fn rate_or_unlimited(rate: gst::Fraction) -> gst::Fraction {
    if rate.numer() > 0 {
        rate
    } else {
        gst::Fraction::new(i32::MAX, 1)
    }
}

/// Fixated caps for the pad of `role` among `ours`, towards `size` at `fps`; `peer` answers
/// the pad's peer caps query. Errors: downstream accepts none of `ours`, naming `what` the pad
/// produces, what downstream accepts and `modes`.
fn fixate_pad(
    peer: &dyn Fn(StreamRole, Option<&gst::Caps>) -> gst::Caps,
    role: StreamRole,
    ours: &gst::Caps,
    size: Size,
    fps: i32,
    what: &str,
    modes: &str,
) -> Result<gst::Caps, gst::ErrorMessage> {
    let accepted = peer(role, Some(ours));
    gst::debug!(
        CAT,
        "{}: ours {ours}, downstream accepts {accepted}",
        pad_name(role)
    );
    if accepted.is_empty() {
        let downstream = peer(role, None);
        return Err(neg_error(format!(
            "{}: {what} cannot produce what downstream asks for ({downstream}); {modes}",
            pad_name(role)
        )));
    }
    Ok(caps::fixate(accepted, size, fps))
}

/// The colour space `s` asks for (`colorimetry`), if any. Errors: one the ISP does not produce.
fn requested_color_space(
    s: &gst::StructureRef,
    format: PixelFormat,
) -> Result<Option<ColorSpace>, gst::ErrorMessage> {
    let Ok(c) = s.get::<&str>("colorimetry") else {
        return Ok(None);
    };
    let c: gst_video::VideoColorimetry = c
        .parse()
        .map_err(|_| neg_error(format!("colorimetry {c} is not valid")))?;
    caps::color_space(&c, format.is_rgb())
        .map(Some)
        .ok_or_else(|| {
            neg_error(format!(
                "colorimetry {c} is not one the Pi ISP produces (sRGB, bt601, bt709, bt2020)"
            ))
        })
}

fn size_of(s: &gst::StructureRef, default: Size) -> Size {
    Size::new(
        s.get::<i32>("width").unwrap_or(default.width as i32) as u32,
        s.get::<i32>("height").unwrap_or(default.height as i32) as u32,
    )
}

/// Negotiates every pad of `req` with downstream (`peer(role, filter)`: the pad's peer caps
/// query) and validates the camera configuration for all of them with `validate`.
///
/// Errors (`CoreError::Negotiation`): the explicit sensor mode is not one of the camera's,
/// downstream accepts nothing a pad can produce, a pad's rate is above the camera's, the
/// camera cannot produce the negotiated sizes or formats; each message names the camera's
/// modes with their maximum rates or what constrains the pad.
pub fn negotiate(
    req: &Request<'_>,
    peer: &dyn Fn(StreamRole, Option<&gst::Caps>) -> gst::Caps,
    validate: &dyn Fn(&mut CameraConfiguration) -> Result<ConfigStatus, CameraError>,
) -> Result<Negotiated, gst::ErrorMessage> {
    let info = req.info;
    let (hdr, spec) = (req.hdr, req.sensor_mode);
    let modes_text = format!(
        "its modes and their maximum rates are: {}",
        caps::describe_modes(info, hdr)
    );
    // Main first: it decides the camera's rate and the mode's minimum size.
    let ours = caps::camera_caps(info, hdr, spec.as_ref());
    if ours.is_empty() {
        return Err(neg_error(format!(
            "sensor-mode {} is not a mode of {}; {}",
            spec.map(|s| s.to_string()).unwrap_or_default(),
            info.model,
            modes_text
        )));
    }
    let main_caps = fixate_pad(
        peer,
        StreamRole::Main,
        &ours,
        DEFAULT_SIZE,
        DEFAULT_FPS,
        &info.model,
        &modes_text,
    )?;
    let ms = main_caps
        .structure(0)
        .ok_or_else(|| neg_error("no caps to fixate".into()))?;
    let main_size = size_of(ms, DEFAULT_SIZE);
    let rate = ms
        .get::<gst::Fraction>("framerate")
        .unwrap_or(gst::Fraction::new(DEFAULT_FPS, 1));
    let vformat = ms
        .get::<&str>("format")
        .ok()
        .map(gst_video::VideoFormat::from_string)
        .unwrap_or(gst_video::VideoFormat::Nv12);
    let format = caps::model_format(vformat)
        .ok_or_else(|| neg_error(format!("format {vformat} is not an ISP output")))?;
    let mut main = StreamConfig::new(StreamRole::Main, main_size, format);
    main.buffer_count = req.buffer_count;
    main.color_space = requested_color_space(ms, format)?;
    let mut config = CameraConfiguration {
        streams: vec![main],
        sensor_mode: spec,
        framerate: (rate.numer() > 0).then(|| (rate.numer() as u32, rate.denom().max(1) as u32)),
        hflip: req.hflip,
        vflip: req.vflip,
        sensor_hdr: hdr,
        chosen_mode: None,
    };
    let cam_fps = fps_of(rate);
    let mut pads = vec![(StreamRole::Main, main_caps.clone(), rate)];
    // Lores: YUV, no larger than main, at main's rate or a lower one.
    if req.lores {
        let width = 640.min(main_size.width);
        let default = Size::new(
            width,
            ((width * main_size.height / main_size.width.max(1)) & !1)
                .max(camera::config::ISP_MIN_DIM),
        );
        let lc = fixate_pad(
            peer,
            StreamRole::Lores,
            &caps::lores_caps(main_size, rate_or_unlimited(rate)),
            default,
            cam_fps.round() as i32,
            "the lores stream (YUV 4:2:0, no larger than main, no faster than main)",
            &format!("main is {main_size} at {rate}"),
        )?;
        let s = lc
            .structure(0)
            .ok_or_else(|| neg_error("no lores caps".into()))?;
        let lf = s
            .get::<&str>("format")
            .ok()
            .map(gst_video::VideoFormat::from_string)
            .and_then(caps::model_format)
            .unwrap_or(PixelFormat::Nv12);
        let mut l = StreamConfig::new(StreamRole::Lores, size_of(s, Size::new(640, 480)), lf);
        l.buffer_count = req.buffer_count;
        l.color_space = requested_color_space(s, lf)?;
        let lr = s.get::<gst::Fraction>("framerate").unwrap_or(rate);
        config.streams.push(l);
        pads.push((StreamRole::Lores, lc.clone(), lr));
    }
    if req.raw {
        // The mode main (and lores) choose; raw then offers that mode first.
        let mut probe = config.clone();
        validate(&mut probe).map_err(|e| neg_error(e.to_string()))?;
        let chosen = probe.chosen_mode.clone();
        let mode_req = camera::ModeRequest {
            size: main_size,
            fps: config.framerate.map(|_| config.fps()),
            bit_depth: camera::mode::DEFAULT_BIT_DEPTH,
        };
        let mut modes: Vec<&SensorMode> = info
            .modes_for(hdr)
            .filter(|m| camera::mode::can_deliver(&mode_req, m))
            .filter(|m| spec.is_none_or(|sp| sp.matches(m)))
            .collect();
        modes.sort_by_key(|m| Some(*m) != chosen.as_ref());
        let order = info
            .bayer_order
            .ok_or_else(|| neg_error(format!("{} offers no raw Bayer stream", info.model)))?
            .flipped(req.hflip, req.vflip);
        let rc = fixate_pad(
            peer,
            StreamRole::Raw,
            &caps::raw_caps(&modes, order, rate_or_unlimited(rate)),
            chosen.as_ref().map(|m| m.size).unwrap_or(main_size),
            cam_fps.round() as i32,
            "the raw stream (the sensor mode's own Bayer format and size)",
            &modes_text,
        )?;
        let s = rc
            .structure(0)
            .ok_or_else(|| neg_error("no raw caps".into()))?;
        let name = s.get::<&str>("format").unwrap_or("");
        let rf = caps::bayer_format(name).ok_or_else(|| {
            neg_error(format!(
                "raw format {name} is not a Bayer format rpicamsrc2 produces"
            ))
        })?;
        let mut r = StreamConfig::new(StreamRole::Raw, size_of(s, Size::new(0, 0)), rf);
        r.buffer_count = req.buffer_count;
        let rr = s.get::<gst::Fraction>("framerate").unwrap_or(rate);
        config.streams.push(r);
        pads.push((StreamRole::Raw, rc.clone(), rr));
    }
    // Per-pad rates: every N-th frame where the rate divides the camera's (the camera then
    // does not even process the others for that stream).
    let mut negs = Vec::new();
    for (role, pcaps, prate) in pads {
        let ratio = if rate.numer() > 0 && prate.numer() > 0 {
            let p = prate.numer() as u64 * rate.denom() as u64;
            let q = prate.denom() as u64 * rate.numer() as u64;
            if p > q {
                return Err(neg_error(format!(
                    "{role} rate {prate} is above the camera's {rate} (set by main)"
                )));
            }
            (p, q)
        } else {
            (1, 1)
        };
        if ratio.1 % ratio.0 == 0 {
            if let Some(sc) = config.streams.iter_mut().find(|s| s.role == role) {
                sc.decimation = (ratio.1 / ratio.0) as u32;
            }
        } else {
            gst::info!(
                CAT,
                "{role} at {prate} does not divide the camera's {rate}: frames are picked to \
                 keep the average rate, with up to one camera frame of jitter"
            );
        }
        let frame_duration = (prate.numer() > 0).then(|| {
            gst::ClockTime::from_nseconds(
                1_000_000_000u64 * prate.denom() as u64 / prate.numer().max(1) as u64,
            )
        });
        negs.push((role, pcaps, ratio, frame_duration));
    }
    let asked: Vec<(StreamRole, Size, PixelFormat)> = config
        .streams
        .iter()
        .map(|s| (s.role, s.size, s.format))
        .collect();
    let adjusted = match validate(&mut config) {
        Ok(ConfigStatus::Valid) => None,
        Ok(ConfigStatus::Adjusted(changes))
            if config
                .streams
                .iter()
                .map(|s| (s.role, s.size, s.format))
                .ne(asked.iter().copied()) =>
        {
            // A camera that cannot deliver the negotiated size or format (libcamera cameras
            // other than the Pi's, whose ISP scales to any size): the caps cannot hold.
            return Err(neg_error(format!(
                "{} cannot produce {}: {}; {}",
                info.model,
                asked
                    .iter()
                    .map(|(r, sz, f)| format!("{r} {f} {sz}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                changes.join("; "),
                modes_text
            )));
        }
        Ok(ConfigStatus::Adjusted(changes)) => Some(changes),
        Err(e) => return Err(neg_error(e.to_string())),
    };
    let mut out = Vec::new();
    for (role, mut pcaps, ratio, frame_duration) in negs {
        let sc = config
            .stream(role)
            .cloned()
            .ok_or_else(|| neg_error(format!("no {role} stream")))?;
        let vinfo = if role == StreamRole::Raw {
            None
        } else {
            let cs = sc
                .color_space
                .unwrap_or(ColorSpace::default_for(sc.format, sc.size));
            if let Some(s) = pcaps.make_mut().structure_mut(0) {
                s.set("colorimetry", caps::colorimetry(cs));
                s.set("pixel-aspect-ratio", gst::Fraction::new(1, 1));
                s.set("interlace-mode", "progressive");
            }
            Some(
                gst_video::VideoInfo::from_caps(&pcaps)
                    .map_err(|e| neg_error(format!("invalid caps {pcaps}: {e}")))?,
            )
        };
        out.push((
            role,
            PadNeg {
                caps: pcaps,
                info: vinfo,
                raw_row_bytes: if role == StreamRole::Raw {
                    sc.format.min_stride(sc.size.width)
                } else {
                    0
                },
                ratio,
                frame_duration,
            },
        ));
    }
    Ok(Negotiated {
        config,
        pads: out,
        adjusted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::CameraBackend;
    use std::sync::Arc;

    /// The simulated camera `name` and its description.
    fn camera(name: &str) -> (Arc<dyn CameraBackend>, CameraInfo) {
        gst::init().unwrap();
        let cam = camera::open_camera(Some(name)).unwrap();
        let info = cam.info();
        (cam, info)
    }

    /// A request with the lores and raw pads as given.
    fn request(info: &CameraInfo, lores: bool, raw: bool) -> Request<'_> {
        Request {
            info,
            hdr: false,
            sensor_mode: None,
            buffer_count: 4,
            hflip: false,
            vflip: false,
            lores,
            raw,
        }
    }

    /// Downstream accepting `main`, `lores`, `raw` (caps strings; `ANY` for anything).
    fn run(
        cam: &Arc<dyn CameraBackend>,
        req: &Request<'_>,
        downstream: [&str; 3],
    ) -> Result<Negotiated, gst::ErrorMessage> {
        let [m, l, r] = downstream.map(|s| s.parse::<gst::Caps>().unwrap());
        let peer = |role: StreamRole, filter: Option<&gst::Caps>| {
            let d = match role {
                StreamRole::Main => &m,
                StreamRole::Lores => &l,
                StreamRole::Raw => &r,
            };
            match filter {
                Some(f) => f.intersect_with_mode(d, gst::CapsIntersectMode::First),
                None => d.clone(),
            }
        };
        negotiate(req, &peer, &|c| cam.validate(c))
    }

    fn field<'a, T: gst::glib::value::FromValue<'a>>(n: &'a PadNeg, f: &str) -> T {
        n.caps.structure(0).unwrap().get::<T>(f).unwrap()
    }

    /// Main alone on the simulated `sensor`, downstream accepting `main`.
    fn main_only(sensor: &str, main: &str) -> Result<Negotiated, gst::ErrorMessage> {
        let (cam, info) = camera(sensor);
        run(&cam, &request(&info, false, false), [main, "ANY", "ANY"])
    }

    /// 1280x720 at 30 fps.
    const HD30: &str = "video/x-raw,width=1280,height=720,framerate=30/1";

    fn mode(n: &Negotiated) -> &SensorMode {
        n.config.chosen_mode.as_ref().unwrap()
    }

    #[test]
    fn open_caps_give_1080p30_nv12() {
        let n = main_only("sim:imx219", "ANY").unwrap();
        let main = n.pad(StreamRole::Main).unwrap();
        assert_eq!(field::<i32>(main, "width"), 1920);
        assert_eq!(field::<i32>(main, "height"), 1080);
        assert_eq!(field::<&str>(main, "format"), "NV12");
        assert_eq!(field::<&str>(main, "colorimetry"), "bt709");
        assert_eq!(
            field::<gst::Fraction>(main, "framerate"),
            gst::Fraction::new(30, 1)
        );
        assert_eq!(main.ratio, (30, 30));
        assert_eq!(n.config.framerate, Some((30, 1)));
        assert_eq!(n.config.streams[0].buffer_count, 4);
        assert_eq!(mode(&n).size, Size::new(1920, 1080));
        assert_eq!(n.pads.len(), 1);
    }

    #[test]
    fn vga_at_90_picks_the_binned_mode() {
        let n = main_only(
            "sim:imx219",
            "video/x-raw,width=640,height=480,framerate=90/1",
        )
        .unwrap();
        assert_eq!(mode(&n).size, Size::new(640, 480));
        assert_eq!(mode(&n).binning(), 2);
        assert_eq!(
            n.pad(StreamRole::Main).unwrap().frame_duration,
            Some(gst::ClockTime::from_nseconds(11_111_111))
        );
    }

    #[test]
    fn lores_is_yuv_no_larger_and_decimated() {
        let (cam, info) = camera("sim:imx219");
        let req = request(&info, true, false);
        // Open lores caps: 640 wide at main's aspect ratio and main's rate.
        let n = run(
            &cam,
            &req,
            ["video/x-raw,width=1280,height=720", "ANY", "ANY"],
        )
        .unwrap();
        let l = n.pad(StreamRole::Lores).unwrap();
        assert_eq!(
            (field::<i32>(l, "width"), field::<i32>(l, "height")),
            (640, 360)
        );
        assert_eq!(n.config.stream(StreamRole::Lores).unwrap().decimation, 1);
        // A divisor of main's rate: every 3rd frame, done by the camera.
        let n = run(&cam, &req, [HD30, "video/x-raw,framerate=10/1", "ANY"]).unwrap();
        assert_eq!(n.config.stream(StreamRole::Lores).unwrap().decimation, 3);
        let l = n.pad(StreamRole::Lores).unwrap();
        assert!(l.wants(0) && !l.wants(1) && !l.wants(2) && l.wants(3));
        // Larger than main, RGB, or faster than main: downstream's caps cannot be met.
        for lores in [
            "video/x-raw,width=1920,height=1080",
            "video/x-raw,format=RGB",
            "video/x-raw,framerate=60/1",
        ] {
            let e = run(&cam, &req, [HD30, lores, "ANY"]).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("\"lores: the lores stream"), "{msg}");
            assert!(msg.contains("main is 1280x720 at 30\""), "{msg}");
        }
    }

    #[test]
    fn raw_picks_the_mode() {
        let (cam, info) = camera("sim:imx477");
        let req = request(&info, false, true);
        // Raw open: the mode main chose, in its own size.
        let n = run(&cam, &req, [HD30, "ANY", "ANY"]).unwrap();
        let chosen = n.config.chosen_mode.clone().unwrap();
        let r = n.pad(StreamRole::Raw).unwrap();
        assert_eq!(field::<i32>(r, "width") as u32, chosen.size.width);
        assert!(r.info.is_none() && r.raw_row_bytes > 0);
        // Raw asks for the full-resolution mode: it fixes the mode.
        let n = run(
            &cam,
            &req,
            [
                "video/x-raw,width=1280,height=720,framerate=10/1",
                "ANY",
                "video/x-bayer,width=4056,height=3040",
            ],
        )
        .unwrap();
        assert_eq!(mode(&n).size, Size::new(4056, 3040));
    }

    #[test]
    fn impossible_caps_name_the_modes() {
        let e = main_only(
            "sim:imx477",
            "video/x-raw,width=4056,height=3040,framerate=60/1",
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("\"src: imx477 cannot produce"), "{msg}");
        assert!(msg.contains("1332x990 10-bit up to 120.05 fps"), "{msg}");
        // An explicit mode the sensor does not have.
        let (cam, info) = camera("sim:imx477");
        let req = Request {
            sensor_mode: Some("640:480".parse().unwrap()),
            ..request(&info, false, false)
        };
        let e = run(&cam, &req, ["ANY", "ANY", "ANY"]).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("\"sensor-mode 640:480 is not a mode of imx477"),
            "{msg}"
        );
    }
}
