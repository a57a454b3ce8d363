// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-rpicamsrc2
 *
 * A live source for Raspberry Pi cameras. Negotiates the sensor mode from the caps (size and
 * frame rate, as rpicam-apps chooses modes), exposes the camera controls as properties that can
 * change while PLAYING, and attaches per-frame metadata (`RpiCamSrc2FrameMeta`) to every buffer.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 rpicamsrc2 camera-name=sim:imx219 num-buffers=300 ! \
 *     video/x-raw,width=640,height=480,framerate=90/1 ! jpegenc ! multifilesink location=f%05d.jpg
 * gst-launch-1.0 -m rpicamsrc2 post-metadata=true exposure-time=6000000 analogue-gain=8 ! \
 *     video/x-raw,framerate=1/6 ! fakesink
 * ]|
 */
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::camera::config::DEFAULT_BUFFER_COUNT;
use crate::camera::controls::values;
use crate::camera::format::{ColorSpace, PixelFormat, Size};
use crate::camera::{
    self, CameraBackend, CameraConfiguration, CameraInfo, CompletedFrame, ConfigStatus, ControlId,
    ControlList, ControlValue, FrameStatus, SensorMode, SensorModeSpec, StreamConfig, StreamRole,
};

use super::caps;
use super::props;
use super::{meta, HdrMode};
use crate::sync::lock;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rpicamsrc2",
        gst::DebugColorFlags::empty(),
        Some("Raspberry Pi camera source"),
    )
});

const DEFAULT_NUM_BUFFERS: i32 = -1;
const DEFAULT_POST_METADATA: bool = false;
/// The size and rate chosen when downstream leaves them open.
const DEFAULT_SIZE: Size = Size::new(1920, 1080);
const DEFAULT_FPS: i32 = 30;
/// How long the streaming thread waits for a frame before checking for EOS and flushing.
const FRAME_POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
struct Settings {
    camera_name: Option<String>,
    sensor_mode: Option<String>,
    buffer_count: u32,
    hflip: bool,
    vflip: bool,
    hdr_mode: HdrMode,
    num_buffers: i32,
    post_metadata: bool,
    /// Every control the user set, replayed when the camera starts.
    controls: ControlList,
    /// exposure-time-mode / analogue-gain-mode / ae-flicker-mode were set explicitly.
    explicit_modes: [bool; 3],
    /// Backend options (sim-scene, ...) the user set, applied when the camera opens and on change.
    options: camera::OptionValues,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            camera_name: None,
            sensor_mode: None,
            buffer_count: DEFAULT_BUFFER_COUNT,
            hflip: false,
            vflip: false,
            hdr_mode: HdrMode::Off,
            num_buffers: DEFAULT_NUM_BUFFERS,
            post_metadata: DEFAULT_POST_METADATA,
            controls: ControlList::new(),
            explicit_modes: [false; 3],
            options: camera::OptionValues::default(),
        }
    }
}

/// What a pad's streaming task pushes, in order. Frames stay camera buffers until the pad's
/// own thread wraps them, after its caps are set and downstream's allocation is known. Each
/// queued frame holds one of the stream's camera buffers, so a pad whose downstream is slow
/// ends up holding all of them and the camera then skips that stream (counted per pad) while
/// the other streams go on.
enum Item {
    Event(gst::Event),
    Frame(Box<PendingFrame>),
}

struct PendingFrame {
    buffer: camera::FrameBuffer,
    metadata: camera::FrameMetadata,
    pts: Option<gst::ClockTime>,
}

/// One pad's negotiated stream.
#[derive(Clone)]
struct PadNeg {
    caps: gst::Caps,
    /// Video info for processed streams (none for raw Bayer).
    info: Option<gst_video::VideoInfo>,
    /// Raw Bayer: bytes of one tight row (0 for processed streams).
    raw_row_bytes: usize,
    /// This pad's rate over the camera's, as p / q (1/1: every frame).
    ratio: (u64, u64),
    frame_duration: Option<gst::ClockTime>,
}

impl PadNeg {
    /// True when the frame `s` frames after the first one is this pad's: frames are picked so
    /// the pad's average rate is exact (every N-th frame when the rate divides the camera's).
    fn wants(&self, s: u64) -> bool {
        let (p, q) = (u128::from(self.ratio.0), u128::from(self.ratio.1));
        if p >= q {
            return true;
        }
        let s = u128::from(s);
        s == 0 || (s * p) / q > ((s - 1) * p) / q
    }
}

struct PadState {
    role: StreamRole,
    pad: gst::Pad,
    queue: std::collections::VecDeque<Item>,
    neg: Option<PadNeg>,
    caps_sent: Option<gst::Caps>,
    /// Downstream takes GstVideoMeta (asked after each caps event, from the pad's thread).
    video_meta: bool,
    started: bool,
    eos: bool,
    pushed: u64,
    dropped: u64,
    copied: u64,
    last_seq: Option<u64>,
    /// A warning about starved camera buffers was posted for this stream.
    warned_starved: bool,
}

impl PadState {
    fn new(role: StreamRole, pad: gst::Pad) -> Self {
        Self {
            role,
            pad,
            queue: Default::default(),
            neg: None,
            caps_sent: None,
            video_meta: false,
            started: false,
            eos: false,
            pushed: 0,
            dropped: 0,
            copied: 0,
            last_seq: None,
            warned_starved: false,
        }
    }

    fn reset(&mut self) {
        self.queue.clear();
        self.neg = None;
        self.caps_sent = None;
        self.video_meta = false;
        self.started = false;
        self.eos = false;
        self.pushed = 0;
        self.dropped = 0;
        self.copied = 0;
        self.last_seq = None;
        self.warned_starved = false;
    }
}

#[derive(Default)]
struct State {
    camera: Option<Arc<dyn CameraBackend>>,
    camera_info: Option<CameraInfo>,
    pads: Vec<PadState>,
    config: Option<CameraConfiguration>,
    /// The element is PLAYING (a live source produces only then).
    playing: bool,
    /// The camera is started.
    streaming: bool,
    /// Downstream asked for other caps, or a pad came or went: reconfigure.
    renegotiate: bool,
    pending_eos: Option<gst::Event>,
    /// The capture thread must end.
    stop_capture: bool,
    /// The pad tasks must give up waiting (going to READY).
    flushing: bool,
    /// Sequence of the first frame since the camera started.
    base_seq: Option<u64>,
    main_frames: u64,
    group_id: Option<gst::GroupId>,
}

impl State {
    fn pad(&self, role: StreamRole) -> Option<&PadState> {
        self.pads.iter().find(|p| p.role == role)
    }

    fn pad_mut(&mut self, role: StreamRole) -> Option<&mut PadState> {
        self.pads.iter_mut().find(|p| p.role == role)
    }
}

pub struct RpiCamSrc2 {
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// Signalled when a pad's queue gets an item or the state changes.
    cond: Condvar,
    capture: Mutex<Option<std::thread::JoinHandle<()>>>,
    combiner: Mutex<gst_base::UniqueFlowCombiner>,
}

fn role_of(name: &str) -> Option<StreamRole> {
    match name {
        "src" => Some(StreamRole::Main),
        "lores" => Some(StreamRole::Lores),
        "raw" => Some(StreamRole::Raw),
        _ => None,
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RpiCamSrc2 {
    const NAME: &'static str = "GstRpiCamSrc2";
    type Type = super::RpiCamSrc2;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass
            .pad_template("src")
            .expect("src template is registered in pad_templates()");
        let srcpad = Self::make_pad(&templ, "src");
        Self {
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
            capture: Mutex::new(None),
            combiner: Mutex::new(gst_base::UniqueFlowCombiner::new()),
        }
    }
}

impl RpiCamSrc2 {
    fn make_pad(templ: &gst::PadTemplate, name: &str) -> gst::Pad {
        gst::Pad::builder_from_template(templ)
            .name(name)
            .query_function(|pad, parent, query| {
                RpiCamSrc2::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_query(pad, query),
                )
            })
            .event_function(|pad, parent, event| {
                RpiCamSrc2::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_event(pad, event),
                )
            })
            .build()
    }

    fn camera(&self) -> Option<Arc<dyn CameraBackend>> {
        lock(&self.state).camera.clone()
    }

    fn hdr_and_spec(&self) -> (bool, Option<SensorModeSpec>) {
        let s = lock(&self.settings);
        (
            s.hdr_mode != HdrMode::Off,
            s.sensor_mode.as_deref().and_then(|m| m.parse().ok()),
        )
    }

    /// What a pad could produce now.
    fn possible_caps(&self, role: StreamRole) -> Option<gst::Caps> {
        let st = lock(&self.state);
        let info = st.camera_info.as_ref()?;
        let (hdr, spec) = self.hdr_and_spec();
        match role {
            StreamRole::Main => Some(caps::camera_caps(info, hdr, spec.as_ref())),
            StreamRole::Lores => {
                let main = st.pad(StreamRole::Main)?.neg.as_ref()?;
                let s = main.caps.structure(0)?;
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

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        let Some(role) = role_of(pad.name().as_str()) else {
            return gst::Pad::query_default(pad, Some(&*self.obj()), query);
        };
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let negotiated = lock(&self.state)
                    .pad(role)
                    .and_then(|p| p.neg.as_ref().map(|n| n.caps.clone()));
                let caps = negotiated
                    .or_else(|| self.possible_caps(role))
                    .unwrap_or_else(|| pad.pad_template_caps());
                let caps = match q.filter() {
                    Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                    None => caps,
                };
                q.set_result(&caps);
                true
            }
            gst::QueryViewMut::Latency(q) => {
                let st = lock(&self.state);
                let Some(n) = st.pad(role).and_then(|p| p.neg.as_ref()) else {
                    return false;
                };
                // A frame is ready one frame duration after its exposure starts; the camera can
                // hold as many frames as it has buffers.
                let fd = n
                    .frame_duration
                    .unwrap_or(gst::ClockTime::from_mseconds(33));
                let count = lock(&self.settings).buffer_count;
                q.set(true, fd, Some(fd * u64::from(count)));
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        if let gst::EventView::Reconfigure(_) = event.view() {
            let mut st = lock(&self.state);
            if st.streaming {
                st.renegotiate = true;
                drop(st);
                if let Some(c) = self.camera() {
                    c.unblock();
                }
            }
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    /// Fixated caps for `pad` among `ours`, towards `size` at `fps`.
    fn fixate_pad(
        &self,
        pad: &gst::Pad,
        ours: &gst::Caps,
        size: Size,
        fps: i32,
        what: &str,
        modes: &str,
    ) -> Result<gst::Caps, gst::ErrorMessage> {
        let peer = pad.peer_query_caps(Some(ours));
        gst::debug!(
            CAT,
            imp = self,
            "{}: ours {ours}, downstream accepts {peer}",
            pad.name()
        );
        if peer.is_empty() {
            let downstream = pad.peer_query_caps(None);
            return Err(gst::error_msg!(
                gst::CoreError::Negotiation,
                (
                    "{}: {} cannot produce what downstream asks for ({}); {}",
                    pad.name(),
                    what,
                    downstream,
                    modes
                )
            ));
        }
        Ok(caps::fixate(peer, size, fps))
    }

    /// Negotiates every pad with downstream and configures the camera for all of them.
    fn negotiate(
        &self,
        cam: &Arc<dyn CameraBackend>,
    ) -> Result<(CameraConfiguration, Vec<(StreamRole, PadNeg)>), gst::ErrorMessage> {
        let info = cam.info();
        let settings = lock(&self.settings).clone();
        let hdr = settings.hdr_mode != HdrMode::Off;
        let spec = match settings.sensor_mode.as_deref() {
            Some(m) => Some(
                m.parse::<SensorModeSpec>()
                    .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ("{}", e)))?,
            ),
            None => None,
        };
        let modes_text = format!(
            "its modes and their maximum rates are: {}",
            caps::describe_modes(&info, hdr)
        );
        let (lores_pad, raw_pad) = {
            let st = lock(&self.state);
            (
                st.pad(StreamRole::Lores).map(|p| p.pad.clone()),
                st.pad(StreamRole::Raw).map(|p| p.pad.clone()),
            )
        };
        // Main first: it decides the camera's rate and the mode's minimum size.
        let ours = caps::camera_caps(&info, hdr, spec.as_ref());
        if ours.is_empty() {
            return Err(gst::error_msg!(
                gst::CoreError::Negotiation,
                (
                    "sensor-mode {} is not a mode of {}; {}",
                    settings.sensor_mode.as_deref().unwrap_or(""),
                    info.model,
                    modes_text
                )
            ));
        }
        let main_caps = self.fixate_pad(
            &self.srcpad,
            &ours,
            DEFAULT_SIZE,
            DEFAULT_FPS,
            &info.model,
            &modes_text,
        )?;
        let ms = main_caps
            .structure(0)
            .ok_or_else(|| gst::error_msg!(gst::CoreError::Negotiation, ("no caps to fixate")))?;
        let main_size = Size::new(
            ms.get::<i32>("width").unwrap_or(DEFAULT_SIZE.width as i32) as u32,
            ms.get::<i32>("height")
                .unwrap_or(DEFAULT_SIZE.height as i32) as u32,
        );
        let rate = ms
            .get::<gst::Fraction>("framerate")
            .unwrap_or(gst::Fraction::new(DEFAULT_FPS, 1));
        let vformat = ms
            .get::<&str>("format")
            .ok()
            .map(gst_video::VideoFormat::from_string)
            .unwrap_or(gst_video::VideoFormat::Nv12);
        let format = caps::model_format(vformat).ok_or_else(|| {
            gst::error_msg!(
                gst::CoreError::Negotiation,
                ("format {vformat} is not an ISP output")
            )
        })?;
        let requested_cs =
            |s: &gst::StructureRef, format: PixelFormat| match s.get::<&str>("colorimetry") {
                Ok(c) => {
                    let c: gst_video::VideoColorimetry = c.parse().map_err(|_| {
                        gst::error_msg!(
                            gst::CoreError::Negotiation,
                            ("colorimetry {c} is not valid")
                        )
                    })?;
                    caps::color_space(&c, format.is_rgb())
                        .map(Some)
                        .ok_or_else(|| {
                            gst::error_msg!(
                                gst::CoreError::Negotiation,
                                (
                                    "colorimetry {} is not one the Pi ISP produces (sRGB, bt601, \
                                 bt709, bt2020)",
                                    c
                                )
                            )
                        })
                }
                Err(_) => Ok(None),
            };
        let mut main = StreamConfig::new(StreamRole::Main, main_size, format);
        main.buffer_count = settings.buffer_count;
        main.color_space = requested_cs(ms, format)?;
        let mut config = CameraConfiguration {
            streams: vec![main],
            sensor_mode: spec,
            framerate: (rate.numer() > 0)
                .then(|| (rate.numer() as u32, rate.denom().max(1) as u32)),
            hflip: settings.hflip,
            vflip: settings.vflip,
            sensor_hdr: hdr,
            chosen_mode: None,
        };
        let fps_of = |f: gst::Fraction| f64::from(f.numer()) / f64::from(f.denom().max(1));
        let cam_fps = fps_of(rate);
        let mut pads = vec![(StreamRole::Main, main_caps.clone(), rate)];
        // Lores: YUV, no larger than main, at main's rate or a lower one.
        if let Some(pad) = &lores_pad {
            let default = Size::new(
                640.min(main_size.width),
                ((640.min(main_size.width) * main_size.height / main_size.width.max(1)) & !1)
                    .max(camera::config::ISP_MIN_DIM),
            );
            let lc = self.fixate_pad(
                pad,
                &caps::lores_caps(
                    main_size,
                    if rate.numer() > 0 {
                        rate
                    } else {
                        gst::Fraction::new(i32::MAX, 1)
                    },
                ),
                default,
                cam_fps.round() as i32,
                "the lores stream (YUV 4:2:0, no larger than main, no faster than main)",
                &format!("main is {main_size} at {rate}"),
            )?;
            let s = lc
                .structure(0)
                .ok_or_else(|| gst::error_msg!(gst::CoreError::Negotiation, ("no lores caps")))?;
            let lf = s
                .get::<&str>("format")
                .ok()
                .map(gst_video::VideoFormat::from_string)
                .and_then(caps::model_format)
                .unwrap_or(PixelFormat::Nv12);
            let mut l = StreamConfig::new(
                StreamRole::Lores,
                Size::new(
                    s.get::<i32>("width").unwrap_or(640) as u32,
                    s.get::<i32>("height").unwrap_or(480) as u32,
                ),
                lf,
            );
            l.buffer_count = settings.buffer_count;
            l.color_space = requested_cs(s, lf)?;
            let lr = s.get::<gst::Fraction>("framerate").unwrap_or(rate);
            config.streams.push(l);
            pads.push((StreamRole::Lores, lc.clone(), lr));
        }
        // The mode main (and lores) choose; raw then offers that mode first.
        let mut probe = config.clone();
        cam.validate(&mut probe)
            .map_err(|e| gst::error_msg!(gst::CoreError::Negotiation, ("{}", e)))?;
        if let Some(pad) = &raw_pad {
            let chosen = probe.chosen_mode.clone();
            let req = camera::ModeRequest {
                size: main_size,
                fps: config.framerate.map(|_| config.fps()),
                bit_depth: camera::mode::DEFAULT_BIT_DEPTH,
            };
            let mut modes: Vec<&SensorMode> = info
                .modes_for(hdr)
                .filter(|m| camera::mode::can_deliver(&req, m))
                .filter(|m| {
                    spec.is_none_or(|sp| {
                        sp.size == m.size && sp.bit_depth.is_none_or(|b| b == m.bit_depth)
                    })
                })
                .collect();
            modes.sort_by_key(|m| Some(*m) != chosen.as_ref());
            let order = info
                .bayer_order
                .ok_or_else(|| {
                    gst::error_msg!(
                        gst::CoreError::Negotiation,
                        ("{} offers no raw Bayer stream", info.model)
                    )
                })?
                .flipped(settings.hflip, settings.vflip);
            let rc = self.fixate_pad(
                pad,
                &caps::raw_caps(
                    &modes,
                    order,
                    if rate.numer() > 0 {
                        rate
                    } else {
                        gst::Fraction::new(i32::MAX, 1)
                    },
                ),
                chosen.as_ref().map(|m| m.size).unwrap_or(main_size),
                cam_fps.round() as i32,
                "the raw stream (the sensor mode's own Bayer format and size)",
                &modes_text,
            )?;
            let s = rc
                .structure(0)
                .ok_or_else(|| gst::error_msg!(gst::CoreError::Negotiation, ("no raw caps")))?;
            let name = s.get::<&str>("format").unwrap_or("");
            let rf = caps::bayer_format(name).ok_or_else(|| {
                gst::error_msg!(
                    gst::CoreError::Negotiation,
                    ("raw format {name} is not a Bayer format rpicamsrc2 produces")
                )
            })?;
            let mut r = StreamConfig::new(
                StreamRole::Raw,
                Size::new(
                    s.get::<i32>("width").unwrap_or(0) as u32,
                    s.get::<i32>("height").unwrap_or(0) as u32,
                ),
                rf,
            );
            r.buffer_count = settings.buffer_count;
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
                    return Err(gst::error_msg!(
                        gst::CoreError::Negotiation,
                        ("{role} rate {prate} is above the camera's {rate} (set by main)")
                    ));
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
                    imp = self,
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
        match cam.validate(&mut config) {
            Ok(ConfigStatus::Valid) => {}
            Ok(ConfigStatus::Adjusted(changes))
                if config
                    .streams
                    .iter()
                    .map(|s| (s.role, s.size, s.format))
                    .ne(asked.iter().copied()) =>
            {
                // A camera that cannot deliver the negotiated size or format (libcamera cameras
                // other than the Pi's, whose ISP scales to any size): the caps cannot hold.
                return Err(gst::error_msg!(
                    gst::CoreError::Negotiation,
                    (
                        "{} cannot produce {}: {}; {}",
                        info.model,
                        asked
                            .iter()
                            .map(|(r, sz, f)| format!("{r} {f} {sz}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        changes.join("; "),
                        modes_text
                    )
                ));
            }
            Ok(ConfigStatus::Adjusted(changes)) => {
                gst::element_imp_info!(
                    self,
                    gst::CoreError::Negotiation,
                    ("Camera configuration adjusted: {}", changes.join("; "))
                );
            }
            Err(e) => {
                return Err(gst::error_msg!(gst::CoreError::Negotiation, ("{}", e)));
            }
        }
        cam.configure(&config)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Settings, ("{}", e)))?;
        if let Some(m) = &config.chosen_mode {
            gst::info!(
                CAT,
                imp = self,
                "{} mode {}x{} {}-bit (up to {:.2} fps) for {main_caps}",
                info.model,
                m.size.width,
                m.size.height,
                m.bit_depth,
                m.max_fps()
            );
        }
        let mut out = Vec::new();
        for (role, mut pcaps, ratio, frame_duration) in negs {
            let sc = config.stream(role).cloned().ok_or_else(|| {
                gst::error_msg!(gst::CoreError::Negotiation, ("no {role} stream"))
            })?;
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
                Some(gst_video::VideoInfo::from_caps(&pcaps).map_err(|e| {
                    gst::error_msg!(gst::CoreError::Negotiation, ("invalid caps {pcaps}: {e}"))
                })?)
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
        Ok((config, out))
    }

    /// The controls to start with: the user's plus the frame rate's frame-duration limits.
    fn start_controls(
        &self,
        config: &CameraConfiguration,
        max_frame_duration_us: u64,
    ) -> ControlList {
        let mut c = lock(&self.settings).controls.clone();
        let limits = match config.framerate {
            Some(_) => {
                let d = config.frame_duration_us() as i64;
                vec![d, d]
            }
            // framerate=0/1: variable; long exposures may lengthen frames.
            None => {
                let min = config
                    .chosen_mode
                    .as_ref()
                    .map(|m| m.min_frame_duration_us() as i64)
                    .unwrap_or(0);
                vec![min, (max_frame_duration_us as i64).max(min)]
            }
        };
        c.set(
            ControlId::FrameDurationLimits,
            ControlValue::I64Array(limits),
        );
        c
    }

    /// Warns about controls outside the configured camera's ranges (exposure time and gain are
    /// reported by the camera itself, with the frame-duration limit that applies).
    fn warn_out_of_range(&self, cam: &Arc<dyn CameraBackend>, controls: &ControlList) {
        let infos = cam.controls();
        for (id, v) in controls.iter() {
            if matches!(
                id,
                ControlId::ExposureTime | ControlId::AnalogueGain | ControlId::FrameDurationLimits
            ) {
                continue;
            }
            match infos.get(id) {
                Some(info) => {
                    if let Err(e) = info.check(*id, v) {
                        gst::element_imp_warning!(
                            self,
                            gst::LibraryError::Settings,
                            ("{}; the camera clamps it", e)
                        );
                    }
                }
                None => {
                    gst::element_imp_warning!(
                        self,
                        gst::LibraryError::Settings,
                        ("{} is not supported by {}; ignored", id, cam.info().model)
                    );
                }
            }
        }
    }

    /// (Re)negotiates, configures and starts the camera, and queues each pad's first events.
    fn start_camera(&self, cam: &Arc<dyn CameraBackend>) -> Result<(), gst::ErrorMessage> {
        cam.stop();
        lock(&self.state).streaming = false;
        let (config, negs) = self.negotiate(cam)?;
        let controls = self.start_controls(&config, cam.info().max_frame_duration_us);
        self.warn_out_of_range(cam, &controls);
        {
            let mut st = lock(&self.state);
            let group = *st.group_id.get_or_insert_with(gst::GroupId::next);
            let name = self.obj().name();
            for (role, neg) in negs {
                let Some(p) = st.pad_mut(role) else { continue };
                // Frames queued under other caps are stale; a pad whose caps stay keeps its frames.
                if p.caps_sent.as_ref().is_some_and(|c| c != &neg.caps) {
                    p.queue.retain(|i| matches!(i, Item::Event(_)));
                }
                if !p.started {
                    p.queue.push_back(Item::Event(
                        gst::event::StreamStart::builder(&format!("rpicamsrc2-{name}-{role}"))
                            .group_id(group)
                            .build(),
                    ));
                }
                if p.caps_sent.as_ref() != Some(&neg.caps) {
                    p.queue
                        .push_back(Item::Event(gst::event::Caps::new(&neg.caps)));
                    p.caps_sent = Some(neg.caps.clone());
                }
                if !p.started {
                    let segment = gst::FormattedSegment::<gst::ClockTime>::new();
                    p.queue
                        .push_back(Item::Event(gst::event::Segment::new(&segment)));
                    p.started = true;
                }
                p.neg = Some(neg);
            }
            st.config = Some(config.clone());
            st.renegotiate = false;
            st.base_seq = None;
        }
        self.cond.notify_all();
        cam.start(&controls)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Failed, ("{}", e)))?;
        lock(&self.state).streaming = true;
        // Latency depends on the frame rate.
        let _ = self
            .obj()
            .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        Ok(())
    }

    /// Queues an event on every pad that has not ended.
    fn queue_event_all(&self, ev: gst::Event) {
        let mut st = lock(&self.state);
        for p in st.pads.iter_mut() {
            p.queue.push_back(Item::Event(ev.clone()));
        }
        drop(st);
        self.cond.notify_all();
    }

    /// The capture thread: negotiates, starts the camera, and hands each frame's buffers to the
    /// pads' queues. It never pushes, so a slow pad cannot stall it or the other pads.
    /// Never inlined: the benchmark suite's callgrind row counts instructions from here.
    #[inline(never)]
    fn capture_loop(&self) {
        let Some(cam) = self.camera() else {
            return;
        };
        loop {
            let (stop, eos, reneg, streaming) = {
                let mut st = lock(&self.state);
                (
                    st.stop_capture,
                    st.pending_eos.take(),
                    st.renegotiate,
                    st.streaming,
                )
            };
            if stop {
                break;
            }
            if let Some(ev) = eos {
                gst::debug!(CAT, imp = self, "sending EOS");
                self.queue_event_all(ev);
                break;
            }
            if !streaming || reneg {
                if let Err(e) = self.start_camera(&cam) {
                    self.post_error_message(e);
                    self.queue_event_all(gst::event::Eos::new());
                    break;
                }
            }
            match cam.next_frame(FRAME_POLL) {
                Ok(Some(f)) => {
                    if self.dispatch(f) {
                        self.queue_event_all(gst::event::Eos::new());
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    gst::element_imp_error!(self, gst::ResourceError::Read, ("{}", e));
                    self.queue_event_all(gst::event::Eos::new());
                    break;
                }
            }
        }
        cam.stop();
        lock(&self.state).streaming = false;
    }

    /// Turns one completed frame into buffers for the pads that want it. Returns true when
    /// num-buffers is reached.
    fn dispatch(&self, frame: CompletedFrame) -> bool {
        for note in &frame.notes {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", note));
        }
        let md = frame.metadata;
        let seq = md.sequence;
        let pts = self.running_time_of(md.sensor_timestamp_ns);
        let (post, num_buffers) = {
            let s = lock(&self.settings);
            (s.post_metadata, s.num_buffers)
        };
        let mut buffers: Vec<(StreamRole, camera::FrameBuffer)> = if frame.status == FrameStatus::Ok
        {
            frame.buffers
        } else {
            gst::warning!(
                CAT,
                imp = self,
                "frame {seq} completed with an error; skipped"
            );
            Vec::new()
        };
        let mut starved = Vec::new();
        let mut st = lock(&self.state);
        let base = *st.base_seq.get_or_insert(seq);
        let mut main_delivered = false;
        for p in st.pads.iter_mut() {
            let Some(neg) = p.neg.clone() else { continue };
            // Frames this pad wanted since its last one that never came: lost.
            let from = p.last_seq.map(|l| l + 1).unwrap_or(seq);
            for s in from..seq {
                if neg.wants(s.saturating_sub(base)) {
                    p.dropped += 1;
                }
            }
            if seq > from {
                gst::debug!(CAT, imp = self, "{}: frames {from}..{seq} lost", p.role);
                if !p.warned_starved {
                    p.warned_starved = true;
                    starved.push(p.pad.name().to_string());
                }
            }
            p.last_seq = Some(seq);
            if !neg.wants(seq.saturating_sub(base)) {
                continue;
            }
            let Some(i) = buffers.iter().position(|(r, _)| *r == p.role) else {
                // The camera had no free buffer for this stream (its consumer holds them all),
                // or the frame failed.
                p.dropped += 1;
                if frame.status == FrameStatus::Ok && !p.warned_starved {
                    p.warned_starved = true;
                    starved.push(p.pad.name().to_string());
                }
                continue;
            };
            let (_, fb) = buffers.swap_remove(i);
            p.queue.push_back(Item::Frame(Box::new(PendingFrame {
                buffer: fb,
                metadata: md.clone(),
                pts,
            })));
            if p.role == StreamRole::Main {
                main_delivered = true;
            }
        }
        if main_delivered {
            st.main_frames += 1;
        }
        let done = num_buffers >= 0 && main_delivered && st.main_frames >= num_buffers as u64;
        drop(st);
        self.cond.notify_all();
        for pad in starved {
            let count = lock(&self.settings).buffer_count;
            gst::element_imp_warning!(
                self,
                gst::ResourceError::Busy,
                (
                    "{}: frames are being dropped (counted in statistics). When downstream \
                     holds all {} camera buffers the camera has none to capture into: release \
                     buffers sooner, copy them, or raise buffer-count.",
                    pad,
                    count
                )
            );
        }
        if post {
            let s = meta::to_structure("rpicamsrc2-metadata", &md);
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
        done
    }

    /// One iteration of a pad's streaming task: push what its queue holds.
    fn pad_loop(&self, role: StreamRole) {
        let item = {
            let mut st = lock(&self.state);
            loop {
                if st.flushing {
                    return;
                }
                let Some(p) = st.pad_mut(role) else {
                    return;
                };
                if let Some(i) = p.queue.pop_front() {
                    break i;
                }
                st = self
                    .cond
                    .wait_timeout(st, FRAME_POLL)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
                // Re-check on timeout so a released pad's task ends.
                if st.pad(role).is_none() {
                    return;
                }
            }
        };
        let Some((pad, neg, video_meta)) = lock(&self.state)
            .pad(role)
            .map(|p| (p.pad.clone(), p.neg.clone(), p.video_meta))
        else {
            return;
        };
        match item {
            Item::Event(ev) => {
                let is_eos = matches!(ev.view(), gst::EventView::Eos(_));
                let caps = match ev.view() {
                    gst::EventView::Caps(c) => Some(c.caps_owned()),
                    _ => None,
                };
                pad.push_event(ev);
                if let Some(caps) = caps {
                    // Does downstream handle strides and offsets (GstVideoMeta)?
                    let mut q = gst::query::Allocation::new(Some(&caps), true);
                    let vm = pad.peer_query(&mut q)
                        && q.find_allocation_meta::<gst_video::VideoMeta>().is_some();
                    gst::debug!(
                        CAT,
                        imp = self,
                        "{}: downstream video meta: {vm}",
                        pad.name()
                    );
                    if let Some(p) = lock(&self.state).pad_mut(role) {
                        p.video_meta = vm;
                    }
                }
                if is_eos {
                    if let Some(p) = lock(&self.state).pad_mut(role) {
                        p.eos = true;
                    }
                    let _ = pad.pause_task();
                }
            }
            Item::Frame(f) => {
                let Some(neg) = neg else {
                    return;
                };
                let seq = f.metadata.sequence;
                let mut copied = false;
                let buffer = match wrap(f.buffer, &neg, video_meta, &mut copied) {
                    Ok(mut b) => {
                        let bm = b.make_mut();
                        bm.set_offset(seq);
                        bm.set_offset_end(seq + 1);
                        bm.set_pts(f.pts);
                        bm.set_duration(neg.frame_duration.or(Some(
                            gst::ClockTime::from_useconds(f.metadata.frame_duration_us),
                        )));
                        if let Err(e) = meta::attach(bm, &f.metadata) {
                            gst::warning!(CAT, imp = self, "cannot attach frame metadata: {e}");
                        }
                        b
                    }
                    Err(e) => {
                        gst::warning!(
                            CAT,
                            imp = self,
                            "{}: cannot wrap frame {seq}: {e}",
                            pad.name()
                        );
                        if let Some(p) = lock(&self.state).pad_mut(role) {
                            p.dropped += 1;
                        }
                        return;
                    }
                };
                // Counted before the push: downstream may read the statistics as soon as it has
                // the buffer.
                if copied {
                    if let Some(p) = lock(&self.state).pad_mut(role) {
                        p.copied += 1;
                    }
                }
                let res = pad.push(buffer);
                if res.is_ok() {
                    if let Some(p) = lock(&self.state).pad_mut(role) {
                        p.pushed += 1;
                    }
                }
                let combined = lock(&self.combiner).update_pad_flow(&pad, res);
                match combined {
                    Ok(_) => {}
                    Err(gst::FlowError::Flushing) | Err(gst::FlowError::Eos) => {
                        let _ = pad.pause_task();
                    }
                    Err(flow) => {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Failed,
                            ("Internal data stream error on {}: {flow:?}", pad.name())
                        );
                        lock(&self.state).stop_capture = true;
                        self.queue_event_all(gst::event::Eos::new());
                    }
                }
            }
        }
    }

    fn start_pad_task(&self, pad: &gst::Pad, role: StreamRole) {
        let imp = self.ref_counted();
        if let Err(e) = pad.start_task(move || imp.pad_loop(role)) {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ("cannot start the streaming task of {}: {e}", pad.name())
            );
        }
    }

    fn start_capture(&self) {
        let mut cap = lock(&self.capture);
        if cap.is_some() {
            return;
        }
        lock(&self.state).stop_capture = false;
        let imp = self.ref_counted();
        match std::thread::Builder::new()
            .name(format!("{}-capture", self.obj().name()))
            .spawn(move || {
                // A panic must not leave the pads waiting for ever (nor reach the application).
                let res =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| imp.capture_loop()));
                if res.is_err() {
                    gst::element_imp_error!(
                        imp,
                        gst::CoreError::Failed,
                        ("the capture thread failed unexpectedly")
                    );
                    imp.queue_event_all(gst::event::Eos::new());
                }
            }) {
            Ok(h) => *cap = Some(h),
            Err(e) => gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ("cannot start the capture thread: {e}")
            ),
        }
    }

    fn stop_capture(&self) {
        lock(&self.state).stop_capture = true;
        if let Some(c) = self.camera() {
            c.unblock();
        }
        if let Some(h) = lock(&self.capture).take() {
            let _ = h.join();
        }
        if let Some(c) = self.camera() {
            c.stop();
        }
        lock(&self.state).streaming = false;
    }

    /// The running time of a CLOCK_MONOTONIC instant (a sensor timestamp, ns), through the
    /// pipeline clock (which need not be monotonic: a network clock, say). The two clocks'
    /// offset is read fresh for every frame, between two monotonic reads; a pair of reads that a
    /// preemption split (more than 2 µs apart) is read again, up to three times, keeping the
    /// tightest, so a descheduled thread does not put its delay into the PTS.
    fn running_time_of(&self, mono_ns: u64) -> Option<gst::ClockTime> {
        let obj = self.obj();
        let clock = obj.clock()?;
        let base = obj.base_time()?;
        let mut best: Option<(u64, i128)> = None;
        for _ in 0..3 {
            let m0 = camera::monotonic_ns();
            let c = clock.time().nseconds();
            let m1 = camera::monotonic_ns();
            let gap = m1.saturating_sub(m0);
            let offset = i128::from(c) - i128::from(m0 + gap / 2);
            if best.is_none_or(|(g, _)| gap < g) {
                best = Some((gap, offset));
            }
            if gap <= 2_000 {
                break;
            }
        }
        let (_, offset) = best?;
        let at = u64::try_from(i128::from(mono_ns) + offset).ok()?;
        Some(gst::ClockTime::from_nseconds(
            at.saturating_sub(base.nseconds()),
        ))
    }

    fn open(&self) -> Result<(), gst::ErrorMessage> {
        let settings = lock(&self.settings).clone();
        let cam = camera::open_camera(settings.camera_name.as_deref()).map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::NotFound,
                (
                    "{}. The simulated cameras are named sim:<sensor> (sim:imx219, sim:imx477, \
                     sim:imx708, sim:ov5647, sim:imx296)",
                    e
                )
            )
        })?;
        settings
            .options
            .apply(cam.as_ref())
            .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ("{}", e)))?;
        let info = cam.info();
        gst::info!(
            CAT,
            imp = self,
            "opened {} ({}): modes {}",
            info.id,
            info.model,
            caps::describe_modes(&info, settings.hdr_mode != HdrMode::Off)
        );
        if let Some(m) = &settings.sensor_mode {
            let spec: SensorModeSpec = m
                .parse()
                .map_err(|e: String| gst::error_msg!(gst::LibraryError::Settings, ("{}", e)))?;
            if !info
                .modes_for(settings.hdr_mode != HdrMode::Off)
                .any(|md| md.size == spec.size && spec.bit_depth.is_none_or(|b| b == md.bit_depth))
            {
                return Err(gst::error_msg!(
                    gst::LibraryError::Settings,
                    (
                        "sensor-mode {} is not a mode of {}; its modes are: {}",
                        spec,
                        info.model,
                        caps::describe_modes(&info, settings.hdr_mode != HdrMode::Off)
                    )
                ));
            }
        }
        let mut st = lock(&self.state);
        st.camera = Some(cam);
        st.camera_info = Some(info);
        Ok(())
    }

    fn close(&self) {
        let mut st = lock(&self.state);
        if let Some(c) = st.camera.take() {
            c.stop();
        }
        st.camera_info = None;
        st.config = None;
    }

    /// Stores a control the user set and, while streaming, sends it with the next request.
    fn set_control(&self, p: &props::ControlProp, value: &glib::Value) {
        let v = match props::to_control(p, value) {
            Ok(v) => v,
            Err(e) => {
                gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}; ignored", e));
                return;
            }
        };
        let mut delta = ControlList::new();
        {
            let mut s = lock(&self.settings);
            let manual = ControlValue::I32(values::MODE_MANUAL);
            let auto = ControlValue::I32(values::MODE_AUTO);
            match (p.id, &v) {
                (ControlId::ExposureTimeMode, _) => s.explicit_modes[0] = true,
                (ControlId::AnalogueGainMode, _) => s.explicit_modes[1] = true,
                (ControlId::AeFlickerMode, _) => s.explicit_modes[2] = true,
                // A fixed exposure time or gain implies manual mode (rpicam-apps --shutter,
                // --gain), unless the mode was set explicitly; 0 returns to auto.
                (ControlId::ExposureTime, _) if !s.explicit_modes[0] => {
                    let m = if v.is_some() {
                        manual.clone()
                    } else {
                        auto.clone()
                    };
                    s.controls.set(ControlId::ExposureTimeMode, m.clone());
                    delta.set(ControlId::ExposureTimeMode, m);
                }
                (ControlId::AnalogueGain, _) if !s.explicit_modes[1] => {
                    let m = if v.is_some() {
                        manual.clone()
                    } else {
                        auto.clone()
                    };
                    s.controls.set(ControlId::AnalogueGainMode, m.clone());
                    delta.set(ControlId::AnalogueGainMode, m);
                }
                (ControlId::AeFlickerPeriod, _) if !s.explicit_modes[2] => {
                    s.controls.set(
                        ControlId::AeFlickerMode,
                        ControlValue::I32(values::FLICKER_MANUAL),
                    );
                    delta.set(
                        ControlId::AeFlickerMode,
                        ControlValue::I32(values::FLICKER_MANUAL),
                    );
                }
                _ => {}
            }
            match &v {
                Some(v) => {
                    s.controls.set(p.id, v.clone());
                    delta.set(p.id, v.clone());
                }
                None => {
                    s.controls.remove(p.id);
                }
            }
            gst::info!(CAT, imp = self, "{} = {:?}", p.name, v);
        }
        let streaming = lock(&self.state).streaming;
        if let (true, Some(cam)) = (streaming, self.camera()) {
            self.warn_out_of_range(&cam, &delta);
            cam.set_controls(&delta);
        }
    }

    fn apply_option(&self, name: &str) {
        let options = lock(&self.settings).options.clone();
        if let Some(cam) = self.camera() {
            if let Err(e) = options.apply_one(cam.as_ref(), name) {
                gst::element_imp_warning!(self, gst::ResourceError::OpenRead, ("{}", e));
            }
        }
    }

    fn statistics(&self) -> gst::Structure {
        let st = lock(&self.state);
        let cs = st.camera.as_ref().map(|c| c.stats()).unwrap_or_default();
        let mut b = gst::Structure::builder("rpicamsrc2-statistics")
            .field("frames-captured", cs.frames_captured)
            .field("frames-without-buffer", cs.frames_without_buffer)
            .field("render-cpu-ns", cs.render_cpu_ns)
            .field(
                "sensor-mode",
                st.config
                    .as_ref()
                    .and_then(|c| c.chosen_mode.as_ref())
                    .map(|m| format!("{}:{}:{}", m.size.width, m.size.height, m.bit_depth))
                    .unwrap_or_default(),
            );
        for p in &st.pads {
            let prefix = match p.role {
                StreamRole::Main => String::new(),
                r => format!("{r}-"),
            };
            b = b
                .field(format!("{prefix}frames-pushed"), p.pushed)
                .field(format!("{prefix}frames-dropped"), p.dropped)
                .field(format!("{prefix}frames-copied"), p.copied);
        }
        b.build()
    }

    fn pad_dropped(&self, role: StreamRole) -> u64 {
        lock(&self.state).pad(role).map(|p| p.dropped).unwrap_or(0)
    }
}

/// Wraps a camera buffer for a pad: zero-copy (the camera's memory becomes the GstMemory and
/// returns to the camera when the last reference drops), with GstVideoMeta for the ISP's
/// strides; copied into GStreamer's default layout only for a downstream that cannot take
/// strides (counted in `copied`).
fn wrap(
    fb: camera::FrameBuffer,
    neg: &PadNeg,
    video_meta: bool,
    copied: &mut bool,
) -> Result<gst::Buffer, glib::BoolError> {
    let layout = fb.layout().clone();
    let Some(info) = &neg.info else {
        // Raw Bayer: GStreamer has no way to tell downstream a stride for video/x-bayer, so
        // rows must be tight. The camera's rows are 32-byte aligned: when that differs from
        // the tight row, copy (counted), else wrap.
        let p = layout
            .planes
            .first()
            .copied()
            .unwrap_or(camera::format::PlaneLayout {
                offset: 0,
                stride: 0,
                rows: 0,
            });
        let tight = neg.raw_row_bytes;
        if tight == 0 || p.stride == tight {
            let mut b = gst::Buffer::new();
            b.make_mut().append_memory(super::memory::camera_memory(fb));
            return Ok(b);
        }
        *copied = true;
        let src = fb.as_ref();
        let mut out = Vec::with_capacity(tight * p.rows);
        for r in 0..p.rows {
            let start = p.offset + r * p.stride;
            out.extend_from_slice(src.get(start..start + tight).unwrap_or(&[]));
        }
        return Ok(gst::Buffer::from_mut_slice(out));
    };
    let matches = caps::layout_matches(info, &layout);
    if !matches && !video_meta {
        *copied = true;
        return caps::copy_to_default_layout(info, &fb, &layout)
            .map_err(|_| glib::bool_error!("copy failed"));
    }
    let mut b = gst::Buffer::new();
    let bm = b.make_mut();
    bm.append_memory(super::memory::camera_memory(fb));
    if !matches {
        let offsets: Vec<usize> = layout.planes.iter().map(|p| p.offset).collect();
        let strides: Vec<i32> = layout.planes.iter().map(|p| p.stride as i32).collect();
        gst_video::VideoMeta::add_full(
            bm,
            gst_video::VideoFrameFlags::empty(),
            info.format(),
            info.width(),
            info.height(),
            &offsets,
            &strides,
        )?;
    }
    Ok(b)
}

impl ObjectImpl for RpiCamSrc2 {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut v = vec![
                glib::ParamSpecString::builder("camera-name")
                    .nick("Camera name")
                    .blurb("Camera to open: sim:<sensor> for the simulated ones (sim:imx219, sim:imx477, sim:imx708, sim:ov5647, sim:imx296); unset = the first real camera, else sim:imx219")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("sensor-mode")
                    .nick("Sensor mode")
                    .blurb("Force a sensor mode, W:H:bit-depth[:P|U] or WxH[:bit-depth] (e.g. 1332:990:10); unset = chosen from the caps' size and frame rate as rpicam-apps does")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("buffer-count")
                    .nick("Buffer count")
                    .blurb("Camera buffers per stream; frames are lost when downstream holds them all")
                    .minimum(1)
                    .maximum(32)
                    .default_value(DEFAULT_BUFFER_COUNT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("hflip")
                    .nick("Horizontal flip")
                    .blurb("Mirror the image (sensor readout; changes the raw Bayer order)")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("vflip")
                    .nick("Vertical flip")
                    .blurb("Flip the image upside down (sensor readout)")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("hdr-mode", HdrMode::Off)
                    .nick("HDR mode")
                    .blurb("libcamera HdrMode; on imx708 any mode but off selects the sensor's HDR mode (2304x1296 at 30 fps)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("num-buffers")
                    .nick("Number of buffers")
                    .blurb("Frames to send before EOS, -1 = unlimited")
                    .minimum(-1)
                    .default_value(DEFAULT_NUM_BUFFERS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("post-metadata")
                    .nick("Post metadata")
                    .blurb("Post each frame's metadata as an element message 'rpicamsrc2-metadata' (gst-launch-1.0 -m shows it)")
                    .default_value(DEFAULT_POST_METADATA)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("frames-dropped")
                    .nick("Frames dropped")
                    .blurb("Main-stream frames lost since the stream started: sequence gaps, failed frames, no free camera buffer (downstream holds them all), or a full queue (downstream too slow)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("lores-frames-dropped")
                    .nick("Lores frames dropped")
                    .blurb("Frames the lores pad should have had and did not (same causes as frames-dropped); the other pads are not affected")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("raw-frames-dropped")
                    .nick("Raw frames dropped")
                    .blurb("Frames the raw pad should have had and did not (same causes as frames-dropped)")
                    .read_only()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("statistics")
                    .nick("Statistics")
                    .blurb("Per pad ([lores-|raw-]frames-pushed, -dropped, -copied: copies for a downstream without video meta), and frames-captured, frames-without-buffer, render-cpu-ns (simulation), sensor-mode (W:H:bit-depth in use)")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("sensor-modes")
                    .nick("Sensor modes")
                    .blurb("The opened camera's sensor modes with their maximum frame rates (READY and above)")
                    .read_only()
                    .build(),
            ];
            v.extend(props::option_pspecs());
            v.extend(props::pspecs());
            v
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if let Some(p) = props::find(pspec.name()) {
            self.set_control(p, value);
            return;
        }
        if let Some(o) = props::find_option(pspec.name()) {
            let v = props::to_option(o, value);
            lock(&self.settings).options.set(o.name, v);
            self.apply_option(o.name);
            return;
        }
        let mut s = lock(&self.settings);
        // GValues are type-checked by GObject before they reach us.
        match pspec.name() {
            "camera-name" => s.camera_name = value.get().expect("type checked upstream"),
            "sensor-mode" => {
                let m: Option<String> = value.get().expect("type checked upstream");
                if let Some(m) = m.as_deref().filter(|m| !m.trim().is_empty()) {
                    if let Err(e) = m.parse::<SensorModeSpec>() {
                        drop(s);
                        gst::element_imp_warning!(
                            self,
                            gst::LibraryError::Settings,
                            ("{}; ignored", e)
                        );
                        return;
                    }
                    s.sensor_mode = Some(m.to_string());
                } else {
                    s.sensor_mode = None;
                }
            }
            "buffer-count" => s.buffer_count = value.get().expect("type checked upstream"),
            "hflip" => s.hflip = value.get().expect("type checked upstream"),
            "vflip" => s.vflip = value.get().expect("type checked upstream"),
            "hdr-mode" => s.hdr_mode = value.get().expect("type checked upstream"),
            "num-buffers" => s.num_buffers = value.get().expect("type checked upstream"),
            "post-metadata" => s.post_metadata = value.get().expect("type checked upstream"),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(p) = props::find(pspec.name()) {
            let s = lock(&self.settings);
            return props::to_value(p, pspec, s.controls.get(p.id));
        }
        if let Some(o) = props::find_option(pspec.name()) {
            return props::option_to_value(pspec, lock(&self.settings).options.get(o.name));
        }
        match pspec.name() {
            "frames-dropped" => self.pad_dropped(StreamRole::Main).to_value(),
            "lores-frames-dropped" => self.pad_dropped(StreamRole::Lores).to_value(),
            "raw-frames-dropped" => self.pad_dropped(StreamRole::Raw).to_value(),
            "statistics" => self.statistics().to_value(),
            "sensor-modes" => {
                let hdr = lock(&self.settings).hdr_mode != HdrMode::Off;
                lock(&self.state)
                    .camera_info
                    .as_ref()
                    .map(|i| caps::describe_modes(i, hdr))
                    .to_value()
            }
            name => {
                let s = lock(&self.settings);
                match name {
                    "camera-name" => s.camera_name.to_value(),
                    "sensor-mode" => s.sensor_mode.to_value(),
                    "buffer-count" => s.buffer_count.to_value(),
                    "hflip" => s.hflip.to_value(),
                    "vflip" => s.vflip.to_value(),
                    "hdr-mode" => s.hdr_mode.to_value(),
                    "num-buffers" => s.num_buffers.to_value(),
                    "post-metadata" => s.post_metadata.to_value(),
                    _ => pspec.default_value().clone(),
                }
            }
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        if let Err(e) = obj.add_pad(&self.srcpad) {
            gst::error!(CAT, imp = self, "cannot add the src pad: {e}");
        }
        lock(&self.combiner).add_pad(&self.srcpad);
        lock(&self.state)
            .pads
            .push(PadState::new(StreamRole::Main, self.srcpad.clone()));
        obj.set_element_flags(gst::ElementFlags::SOURCE);
    }
}

impl GstObjectImpl for RpiCamSrc2 {}

impl ElementImpl for RpiCamSrc2 {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Raspberry Pi camera source",
                "Source/Video",
                "Raspberry Pi camera (libcamera stack or simulated) with sensor-mode negotiation, \
                 controls as properties, per-frame metadata, and main, lores and raw streams \
                 from one capture",
                "rpicamsrc2 developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let t = |name, presence, caps: &gst::Caps| {
                gst::PadTemplate::new(name, gst::PadDirection::Src, presence, caps)
                    .expect("static template caps are valid")
            };
            vec![
                t("src", gst::PadPresence::Always, &caps::template_caps()),
                t(
                    "lores",
                    gst::PadPresence::Request,
                    &caps::lores_template_caps(),
                ),
                t("raw", gst::PadPresence::Request, &caps::raw_template_caps()),
            ]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        let tname = templ.name_template();
        let Some(role) = role_of(tname).filter(|r| *r != StreamRole::Main) else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Pad,
                ("rpicamsrc2 has request pads lores and raw only, not {tname}")
            );
            return None;
        };
        if let Some(n) = name.filter(|n| *n != &*tname) {
            gst::element_imp_warning!(
                self,
                gst::CoreError::Pad,
                ("the {tname} pad is always called {tname}; name {n} ignored")
            );
        }
        let mut st = lock(&self.state);
        if st.pad(role).is_some() {
            drop(st);
            gst::element_imp_error!(
                self,
                gst::CoreError::Pad,
                ("the {role} pad was already requested; there is one {role} stream")
            );
            return None;
        }
        let pad = Self::make_pad(templ, tname);
        st.pads.push(PadState::new(role, pad.clone()));
        let running = st.playing;
        if st.streaming {
            st.renegotiate = true;
        }
        drop(st);
        lock(&self.combiner).add_pad(&pad);
        let obj = self.obj();
        if obj.current_state() > gst::State::Ready {
            let _ = pad.set_active(true);
        }
        if let Err(e) = obj.add_pad(&pad) {
            gst::element_imp_error!(self, gst::CoreError::Pad, ("cannot add {tname}: {e}"));
            lock(&self.state).pads.retain(|p| p.role != role);
            return None;
        }
        if running {
            self.start_pad_task(&pad, role);
            if let Some(c) = self.camera() {
                c.unblock();
            }
        }
        Some(pad)
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let Some(role) = role_of(pad.name().as_str()).filter(|r| *r != StreamRole::Main) else {
            return;
        };
        {
            let mut st = lock(&self.state);
            st.pads.retain(|p| p.role != role);
            if st.streaming {
                st.renegotiate = true;
            }
        }
        self.cond.notify_all();
        let _ = pad.stop_task();
        let _ = pad.set_active(false);
        lock(&self.combiner).remove_pad(pad);
        let _ = self.obj().remove_pad(pad);
        if let Some(c) = self.camera() {
            c.unblock();
        }
    }

    fn send_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Eos(_) => {
                // Sent by the application (gst-launch-1.0 -e): the capture thread ends every
                // pad's stream after the frames already queued, so nothing recorded is lost.
                gst::debug!(CAT, imp = self, "EOS requested");
                let running = {
                    let mut st = lock(&self.state);
                    st.pending_eos = Some(event.clone());
                    st.playing
                };
                if let Some(c) = self.camera() {
                    c.unblock();
                }
                if !running {
                    // Not producing: end the pads' streams now.
                    lock(&self.state).pending_eos = None;
                    self.queue_event_all(event);
                }
                true
            }
            _ => self.parent_send_event(event),
        }
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        gst::debug!(CAT, imp = self, "{transition:?}");
        match transition {
            gst::StateChange::NullToReady => {
                if let Err(e) = self.open() {
                    self.post_error_message(e);
                    return Err(gst::StateChangeError);
                }
            }
            gst::StateChange::ReadyToPaused => {
                let mut st = lock(&self.state);
                for p in st.pads.iter_mut() {
                    p.reset();
                }
                st.flushing = false;
                st.pending_eos = None;
                st.main_frames = 0;
                st.group_id = None;
                st.config = None;
                drop(st);
                lock(&self.combiner).reset();
            }
            gst::StateChange::PlayingToPaused => {
                // Pad tasks may be blocked in a sink waiting for preroll, holding their stream
                // lock: leave them; the capture thread stops producing.
                lock(&self.state).playing = false;
                self.stop_capture();
                self.cond.notify_all();
            }
            gst::StateChange::PausedToReady => {
                self.stop_capture();
                lock(&self.state).flushing = true;
                self.cond.notify_all();
                let pads: Vec<gst::Pad> = lock(&self.state)
                    .pads
                    .iter()
                    .map(|p| p.pad.clone())
                    .collect();
                for p in pads {
                    let _ = p.stop_task();
                }
            }
            _ => {}
        }
        let mut success = self.parent_change_state(transition)?;
        match transition {
            gst::StateChange::ReadyToPaused | gst::StateChange::PlayingToPaused => {
                success = gst::StateChangeSuccess::NoPreroll;
            }
            gst::StateChange::PausedToPlaying => {
                lock(&self.state).playing = true;
                let pads: Vec<(gst::Pad, StreamRole)> = lock(&self.state)
                    .pads
                    .iter()
                    .map(|p| (p.pad.clone(), p.role))
                    .collect();
                for (pad, role) in pads {
                    self.start_pad_task(&pad, role);
                }
                self.start_capture();
            }
            gst::StateChange::PausedToReady => {
                let mut st = lock(&self.state);
                st.config = None;
                for p in st.pads.iter_mut() {
                    p.queue.clear();
                    p.neg = None;
                }
            }
            gst::StateChange::ReadyToNull => self.close(),
            _ => {}
        }
        Ok(success)
    }
}
