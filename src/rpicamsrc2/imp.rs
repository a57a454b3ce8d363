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
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::camera::config::DEFAULT_BUFFER_COUNT;
use crate::camera::controls::values;
use crate::camera::format::{ColorSpace, PixelFormat, Size};
use crate::camera::sim::{SceneKind, SceneSettings};
use crate::camera::{
    self, CameraBackend, CameraConfiguration, CameraInfo, CompletedFrame, ConfigStatus, ControlId,
    ControlList, ControlValue, FrameStatus, SensorModeSpec, StreamConfig, StreamRole,
};

use super::props;
use super::{meta, HdrMode, SimScene};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rpicamsrc2",
        gst::DebugColorFlags::empty(),
        Some("Raspberry Pi camera source"),
    )
});

const DEFAULT_NUM_BUFFERS: i32 = -1;
const DEFAULT_POST_METADATA: bool = false;
const DEFAULT_SIM_LUX: f64 = 400.0;
const DEFAULT_SIM_CT: f64 = 5000.0;
const DEFAULT_SIM_FOCUS: f64 = 1.0;
/// The size and rate chosen when downstream leaves them open.
const DEFAULT_SIZE: Size = Size::new(1920, 1080);
const DEFAULT_FPS: i32 = 30;
/// How long the streaming thread waits for a frame before checking for EOS and flushing.
const FRAME_POLL: Duration = Duration::from_millis(100);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoned only if a panic happened while holding it; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

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
    sim_scene: SimScene,
    sim_image: Option<String>,
    scene: SceneSettings,
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
            sim_scene: SimScene::Moving,
            sim_image: None,
            scene: SceneSettings {
                lux: DEFAULT_SIM_LUX,
                colour_temperature: DEFAULT_SIM_CT,
                focus_dioptres: DEFAULT_SIM_FOCUS,
                ..Default::default()
            },
        }
    }
}

impl Settings {
    fn scene_settings(&self) -> SceneSettings {
        let mut s = self.scene.clone();
        s.kind = match (self.sim_scene, &self.sim_image) {
            (SimScene::Bars, _) => SceneKind::Bars,
            (SimScene::Image, Some(p)) => SceneKind::Image(p.clone()),
            (SimScene::Image, None) | (SimScene::Moving, _) => SceneKind::Moving,
        };
        s
    }
}

struct Negotiated {
    caps: gst::Caps,
    info: gst_video::VideoInfo,
    config: CameraConfiguration,
    video_meta: bool,
    frame_duration: Option<gst::ClockTime>,
}

#[derive(Default)]
struct State {
    camera: Option<Arc<dyn CameraBackend>>,
    camera_info: Option<CameraInfo>,
    negotiated: Option<Negotiated>,
    /// The element is PLAYING (a live source produces only then).
    playing: bool,
    /// The camera is started.
    streaming: bool,
    started_events: bool,
    pending_eos: Option<gst::Event>,
    frames_pushed: u64,
    frames_dropped: u64,
    frames_copied: u64,
    last_sequence: Option<u64>,
}

pub struct RpiCamSrc2 {
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// Signalled when `State::playing` changes.
    play_cond: std::sync::Condvar,
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
        let srcpad = gst::Pad::builder_from_template(&templ)
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
            .build();
        Self {
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            play_cond: std::sync::Condvar::new(),
        }
    }
}

/// Caps for the processed formats the camera offers: one structure per sensor mode, sizes up to
/// the mode's (the ISP does not upscale) and rates up to the mode's maximum.
fn camera_caps(info: &CameraInfo, hdr: bool, mode: Option<&SensorModeSpec>) -> gst::Caps {
    let formats: Vec<&str> = info
        .formats
        .iter()
        .filter_map(|f| gst_format(*f))
        .map(|f| f.to_str().as_str())
        .collect();
    let mut caps = gst::Caps::new_empty();
    let mut modes: Vec<_> = info.modes_for(hdr).collect();
    // Larger modes first: the best field of view wins ties in intersections.
    modes.sort_by_key(|m| std::cmp::Reverse((m.size.area(), m.bit_depth)));
    {
        for m in modes {
            if let Some(spec) = mode {
                if spec.size != m.size || spec.bit_depth.is_some_and(|b| b != m.bit_depth) {
                    continue;
                }
            }
            let fd = m.min_frame_duration_us().max(1);
            let s = gst::Structure::builder("video/x-raw")
                .field("format", gst::List::new(formats.iter().copied()))
                .field(
                    "width",
                    gst::IntRange::new(camera::config::ISP_MIN_DIM as i32, m.size.width as i32),
                )
                .field(
                    "height",
                    gst::IntRange::new(camera::config::ISP_MIN_DIM as i32, m.size.height as i32),
                )
                .field(
                    "framerate",
                    gst::FractionRange::new(
                        gst::Fraction::new(0, 1),
                        gst::Fraction::new(1_000_000, fd.min(i32::MAX as u64) as i32),
                    ),
                )
                .build();
            caps.merge_structure(s);
        }
    }
    caps
}

fn template_caps() -> gst::Caps {
    let formats: Vec<&str> = PixelFormat::PROCESSED
        .iter()
        .filter_map(|f| gst_format(*f))
        .map(|f| f.to_str().as_str())
        .collect();
    gst::Caps::builder("video/x-raw")
        .field("format", gst::List::new(formats))
        .field("width", gst::IntRange::new(64, 4608))
        .field("height", gst::IntRange::new(64, 3040))
        .field(
            "framerate",
            gst::FractionRange::new(gst::Fraction::new(0, 1), gst::Fraction::new(i32::MAX, 1)),
        )
        .build()
}

/// GStreamer's name of a processed format.
fn gst_format(f: PixelFormat) -> Option<gst_video::VideoFormat> {
    use gst_video::VideoFormat as V;
    Some(match f {
        PixelFormat::Nv12 => V::Nv12,
        PixelFormat::Nv21 => V::Nv21,
        PixelFormat::I420 => V::I420,
        PixelFormat::Yv12 => V::Yv12,
        PixelFormat::Yuyv => V::Yuy2,
        PixelFormat::Yvyu => V::Yvyu,
        PixelFormat::Uyvy => V::Uyvy,
        PixelFormat::Vyuy => V::Vyuy,
        PixelFormat::Rgb => V::Rgb,
        PixelFormat::Bgr => V::Bgr,
        PixelFormat::Rgbx => V::Rgbx,
        PixelFormat::Bgrx => V::Bgrx,
        PixelFormat::Xrgb => V::Xrgb,
        PixelFormat::Xbgr => V::Xbgr,
        PixelFormat::Bayer { .. } => return None,
    })
}

fn model_format(f: gst_video::VideoFormat) -> Option<PixelFormat> {
    PixelFormat::PROCESSED
        .iter()
        .copied()
        .find(|p| gst_format(*p) == Some(f))
}

fn colorimetry(cs: ColorSpace) -> &'static str {
    match cs {
        ColorSpace::Sycc | ColorSpace::Raw => "sRGB",
        ColorSpace::Smpte170m => "bt601",
        ColorSpace::Rec709 => "bt709",
        ColorSpace::Rec2020 => "bt2020",
    }
}

fn color_space(c: &gst_video::VideoColorimetry, rgb: bool) -> Option<ColorSpace> {
    use gst_video::VideoColorMatrix as M;
    if rgb {
        return Some(ColorSpace::Sycc);
    }
    match (c.matrix(), c.range()) {
        (M::Bt601, gst_video::VideoColorRange::Range0_255) => Some(ColorSpace::Sycc),
        (M::Bt601, _) => Some(ColorSpace::Smpte170m),
        (M::Bt709, _) => Some(ColorSpace::Rec709),
        (M::Bt2020, _) => Some(ColorSpace::Rec2020),
        _ => None,
    }
}

/// Fixates `caps` towards 1920x1080 at 30 fps: the structure that gets closest wins, the first
/// one on a tie (the caps order is the camera's and downstream's preference).
fn fixate(caps: gst::Caps) -> gst::Caps {
    let mut best: Option<(f64, gst::Structure)> = None;
    for s in caps.iter() {
        let mut s = s.to_owned();
        s.fixate_field_nearest_int("width", DEFAULT_SIZE.width as i32);
        s.fixate_field_nearest_int("height", DEFAULT_SIZE.height as i32);
        s.fixate_field_nearest_fraction("framerate", gst::Fraction::new(DEFAULT_FPS, 1));
        s.fixate();
        let w = s.get::<i32>("width").unwrap_or(0);
        let h = s.get::<i32>("height").unwrap_or(0);
        let fr = s
            .get::<gst::Fraction>("framerate")
            .map(|f| f64::from(f.numer()) / f64::from(f.denom().max(1)))
            .unwrap_or(0.0);
        let d = f64::from(
            (w - DEFAULT_SIZE.width as i32).abs() + (h - DEFAULT_SIZE.height as i32).abs(),
        ) + 1000.0 * (fr - f64::from(DEFAULT_FPS)).abs();
        if best.as_ref().is_none_or(|(b, _)| d < *b) {
            best = Some((d, s));
        }
    }
    match best {
        Some((_, s)) => gst::Caps::builder_full().structure(s).build(),
        None => caps,
    }
}

impl RpiCamSrc2 {
    fn camera(&self) -> Option<Arc<dyn CameraBackend>> {
        lock(&self.state).camera.clone()
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let st = lock(&self.state);
                let caps = match &st.negotiated {
                    Some(n) => n.caps.clone(),
                    None => match &st.camera_info {
                        Some(info) => {
                            let s = lock(&self.settings);
                            let spec = s.sensor_mode.as_deref().and_then(|m| m.parse().ok());
                            camera_caps(info, s.hdr_mode != HdrMode::Off, spec.as_ref())
                        }
                        None => pad.pad_template_caps(),
                    },
                };
                drop(st);
                let caps = match q.filter() {
                    Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
                    None => caps,
                };
                q.set_result(&caps);
                true
            }
            gst::QueryViewMut::Latency(q) => {
                let st = lock(&self.state);
                let Some(n) = &st.negotiated else {
                    return false;
                };
                // A frame is ready one frame duration after its exposure starts; the camera can
                // hold as many frames as it has buffers.
                let fd = n
                    .frame_duration
                    .unwrap_or(gst::ClockTime::from_mseconds(33));
                let count = n
                    .config
                    .stream(StreamRole::Main)
                    .map(|s| s.buffer_count)
                    .unwrap_or(DEFAULT_BUFFER_COUNT);
                q.set(true, fd, Some(fd * u64::from(count)));
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Reconfigure(_) => {
                // The streaming thread checks the flag.
                if let Some(c) = self.camera() {
                    c.unblock();
                }
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    /// Negotiates caps with downstream and configures the camera for them.
    fn negotiate(&self, cam: &Arc<dyn CameraBackend>) -> Result<Negotiated, gst::ErrorMessage> {
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
        let ours = camera_caps(&info, hdr, spec.as_ref());
        if ours.is_empty() {
            return Err(gst::error_msg!(
                gst::CoreError::Negotiation,
                (
                    "sensor-mode {} is not a mode of {}; its modes are: {}",
                    settings.sensor_mode.as_deref().unwrap_or(""),
                    info.model,
                    describe_modes(&info, hdr)
                )
            ));
        }
        let peer = self.srcpad.peer_query_caps(Some(&ours));
        gst::debug!(CAT, imp = self, "ours {ours}, downstream accepts {peer}");
        if peer.is_empty() {
            let downstream = self.srcpad.peer_query_caps(None);
            return Err(gst::error_msg!(
                gst::CoreError::Negotiation,
                (
                    "{} cannot produce what downstream asks for ({}); its modes and their \
                     maximum rates are: {}",
                    info.model,
                    downstream,
                    describe_modes(&info, hdr)
                )
            ));
        }
        let mut caps = fixate(peer);
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::error_msg!(gst::CoreError::Negotiation, ("no caps to fixate")))?;
        let width = s.get::<i32>("width").unwrap_or(DEFAULT_SIZE.width as i32) as u32;
        let height = s.get::<i32>("height").unwrap_or(DEFAULT_SIZE.height as i32) as u32;
        let fr = s
            .get::<gst::Fraction>("framerate")
            .unwrap_or(gst::Fraction::new(DEFAULT_FPS, 1));
        let vformat = s
            .get::<&str>("format")
            .ok()
            .map(gst_video::VideoFormat::from_string)
            .unwrap_or(gst_video::VideoFormat::Nv12);
        let format = model_format(vformat).ok_or_else(|| {
            gst::error_msg!(
                gst::CoreError::Negotiation,
                ("format {vformat} is not an ISP output")
            )
        })?;
        let size = Size::new(width, height);
        let requested_cs = match s.get::<&str>("colorimetry") {
            Ok(c) => {
                let c: gst_video::VideoColorimetry = c.parse().map_err(|_| {
                    gst::error_msg!(
                        gst::CoreError::Negotiation,
                        ("colorimetry {c} is not valid")
                    )
                })?;
                Some(color_space(&c, format.is_rgb()).ok_or_else(|| {
                    gst::error_msg!(
                        gst::CoreError::Negotiation,
                        (
                            "colorimetry {} is not one the Pi ISP produces (sRGB, bt601, bt709, \
                             bt2020)",
                            c
                        )
                    )
                })?)
            }
            Err(_) => None,
        };
        let mut stream = StreamConfig::new(StreamRole::Main, size, format);
        stream.buffer_count = settings.buffer_count;
        stream.color_space = requested_cs;
        let mut config = CameraConfiguration {
            streams: vec![stream],
            sensor_mode: spec,
            framerate: (fr.numer() > 0).then(|| (fr.numer() as u32, fr.denom().max(1) as u32)),
            hflip: settings.hflip,
            vflip: settings.vflip,
            sensor_hdr: hdr,
            chosen_mode: None,
        };
        match cam.validate(&mut config) {
            Ok(ConfigStatus::Valid) => {}
            Ok(ConfigStatus::Adjusted(changes)) => {
                let main = config.stream(StreamRole::Main);
                if main.is_some_and(|m| m.size != size || m.format != format) {
                    return Err(gst::error_msg!(
                        gst::CoreError::Negotiation,
                        ("the camera cannot produce {caps}: {}", changes.join("; "))
                    ));
                }
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
        let main = config
            .stream(StreamRole::Main)
            .cloned()
            .ok_or_else(|| gst::error_msg!(gst::CoreError::Negotiation, ("no main stream")))?;
        let cs = main
            .color_space
            .unwrap_or(ColorSpace::default_for(format, size));
        {
            let caps = caps.make_mut();
            if let Some(s) = caps.structure_mut(0) {
                s.set("colorimetry", colorimetry(cs));
                s.set("pixel-aspect-ratio", gst::Fraction::new(1, 1));
                s.set("interlace-mode", "progressive");
            }
        }
        let vinfo = gst_video::VideoInfo::from_caps(&caps).map_err(|e| {
            gst::error_msg!(gst::CoreError::Negotiation, ("invalid caps {caps}: {e}"))
        })?;
        if let Some(m) = &config.chosen_mode {
            gst::info!(
                CAT,
                imp = self,
                "{} mode {}x{} {}-bit (up to {:.2} fps) for {caps}",
                info.model,
                m.size.width,
                m.size.height,
                m.bit_depth,
                m.max_fps()
            );
        }
        // Does downstream handle strides and offsets (GstVideoMeta)?
        let mut q = gst::query::Allocation::new(Some(&caps), true);
        let video_meta = self.srcpad.peer_query(&mut q)
            && q.find_allocation_meta::<gst_video::VideoMeta>().is_some();
        let frame_duration = config.framerate.map(|(n, d)| {
            gst::ClockTime::from_nseconds(1_000_000_000u64 * u64::from(d) / u64::from(n.max(1)))
        });
        Ok(Negotiated {
            caps,
            info: vinfo,
            config,
            video_meta,
            frame_duration,
        })
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

    /// Negotiates, configures and starts the camera, and sends the stream's first events.
    fn start_streaming(&self, cam: &Arc<dyn CameraBackend>) -> Result<(), gst::ErrorMessage> {
        cam.stop();
        let n = self.negotiate(cam)?;
        let controls = self.start_controls(&n.config, cam.info().max_frame_duration_us);
        self.warn_out_of_range(cam, &controls);
        let caps = n.caps.clone();
        let send_start = {
            let mut st = lock(&self.state);
            let first = !st.started_events;
            st.started_events = true;
            first
        };
        if send_start {
            let id = gst::GroupId::next();
            self.srcpad.push_event(
                gst::event::StreamStart::builder(&format!("rpicamsrc2-{}", self.obj().name()))
                    .group_id(id)
                    .build(),
            );
        }
        if !self.srcpad.push_event(gst::event::Caps::new(&caps)) {
            return Err(gst::error_msg!(
                gst::CoreError::Negotiation,
                ("downstream refused caps {caps}")
            ));
        }
        if send_start {
            let segment = gst::FormattedSegment::<gst::ClockTime>::new();
            self.srcpad.push_event(gst::event::Segment::new(&segment));
        }
        cam.start(&controls)
            .map_err(|e| gst::error_msg!(gst::ResourceError::Failed, ("{}", e)))?;
        {
            let mut st = lock(&self.state);
            st.negotiated = Some(n);
            st.streaming = true;
            st.last_sequence = None;
        }
        // Latency depends on the frame rate.
        let _ = self
            .obj()
            .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        Ok(())
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

    fn stop_streaming(&self) {
        if let Some(cam) = self.camera() {
            cam.unblock();
            cam.stop();
        }
        let mut st = lock(&self.state);
        st.streaming = false;
    }

    /// One iteration of the streaming task: at most one frame.
    fn loop_fn(&self) {
        let Some(cam) = self.camera() else {
            gst::element_imp_error!(self, gst::CoreError::StateChange, ("no camera open"));
            let _ = self.srcpad.pause_task();
            return;
        };
        let eos = lock(&self.state).pending_eos.take();
        if let Some(ev) = eos {
            gst::debug!(CAT, imp = self, "sending EOS");
            self.srcpad.push_event(ev);
            let _ = self.srcpad.pause_task();
            return;
        }
        let (streaming, negotiated) = {
            let st = lock(&self.state);
            if !st.playing {
                // PAUSED: a live source produces nothing; wait to be played or stopped.
                let _ = self.play_cond.wait_timeout(st, FRAME_POLL);
                return;
            }
            (st.streaming, st.negotiated.is_some())
        };
        let reconfigure = self.srcpad.check_reconfigure();
        if !streaming && negotiated && !reconfigure {
            // Back from PAUSED: same configuration, camera restarted.
            let config = lock(&self.state)
                .negotiated
                .as_ref()
                .map(|n| n.config.clone());
            let max_fd = cam.info().max_frame_duration_us;
            let res = config.map(|c| cam.start(&self.start_controls(&c, max_fd)));
            match res {
                Some(Ok(())) => lock(&self.state).streaming = true,
                Some(Err(e)) => {
                    gst::element_imp_error!(self, gst::ResourceError::Failed, ("{}", e));
                    self.srcpad.push_event(gst::event::Eos::new());
                    let _ = self.srcpad.pause_task();
                    return;
                }
                None => {}
            }
        } else if !streaming || !negotiated || (reconfigure && self.caps_changed(&cam)) {
            if let Err(e) = self.start_streaming(&cam) {
                self.post_error_message(e);
                self.srcpad.push_event(gst::event::Eos::new());
                let _ = self.srcpad.pause_task();
                return;
            }
        }
        let frame = match cam.next_frame(FRAME_POLL) {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(e) => {
                gst::element_imp_error!(self, gst::ResourceError::Read, ("{}", e));
                self.srcpad.push_event(gst::event::Eos::new());
                let _ = self.srcpad.pause_task();
                return;
            }
        };
        match self.handle_frame(frame) {
            Ok(_) => {}
            Err(gst::FlowError::Flushing) => {
                gst::debug!(CAT, imp = self, "flushing, pausing");
                let _ = self.srcpad.pause_task();
            }
            Err(gst::FlowError::Eos) => {
                gst::debug!(CAT, imp = self, "EOS, pausing");
                let _ = self.srcpad.pause_task();
            }
            Err(flow) => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("Internal data stream error: {flow:?}")
                );
                self.srcpad.push_event(gst::event::Eos::new());
                let _ = self.srcpad.pause_task();
            }
        }
    }

    /// True when downstream now wants other caps than the current ones.
    fn caps_changed(&self, cam: &Arc<dyn CameraBackend>) -> bool {
        let current = lock(&self.state)
            .negotiated
            .as_ref()
            .map(|n| n.caps.clone());
        let Some(current) = current else {
            return true;
        };
        let s = lock(&self.settings);
        let spec = s.sensor_mode.as_deref().and_then(|m| m.parse().ok());
        let ours = camera_caps(&cam.info(), s.hdr_mode != HdrMode::Off, spec.as_ref());
        drop(s);
        let peer = self.srcpad.peer_query_caps(Some(&ours));
        let changed = !peer.can_intersect(&current);
        if changed {
            gst::info!(
                CAT,
                imp = self,
                "downstream caps changed to {peer}, renegotiating"
            );
        }
        changed
    }

    fn handle_frame(&self, frame: CompletedFrame) -> Result<gst::FlowSuccess, gst::FlowError> {
        for note in &frame.notes {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", note));
        }
        let seq = frame.metadata.sequence;
        let (video_meta, info, frame_duration, post, num_buffers) = {
            let mut st = lock(&self.state);
            if let Some(last) = st.last_sequence {
                if seq > last + 1 {
                    let lost = seq - last - 1;
                    st.frames_dropped += lost;
                    gst::warning!(
                        CAT,
                        imp = self,
                        "{lost} frame(s) lost before sequence {seq} (downstream held every buffer \
                         or the sensor skipped)"
                    );
                }
            }
            st.last_sequence = Some(seq);
            let Some(n) = &st.negotiated else {
                return Err(gst::FlowError::NotNegotiated);
            };
            let settings = lock(&self.settings);
            (
                n.video_meta,
                n.info.clone(),
                n.frame_duration,
                settings.post_metadata,
                settings.num_buffers,
            )
        };
        if frame.status == FrameStatus::Error {
            lock(&self.state).frames_dropped += 1;
            gst::warning!(
                CAT,
                imp = self,
                "frame {seq} completed with an error; skipped"
            );
            return Ok(gst::FlowSuccess::Ok);
        }
        let Some((_, fb)) = frame
            .buffers
            .into_iter()
            .find(|(r, _)| *r == StreamRole::Main)
        else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let layout = fb.layout().clone();
        let mut buffer = if video_meta || layout_matches(&info, &layout) {
            // Zero-copy: the camera's own buffer becomes the GstMemory; it returns to the
            // camera when the last reference drops.
            let mut b = gst::Buffer::new();
            b.get_mut()
                .ok_or(gst::FlowError::Error)?
                .append_memory(gst::Memory::from_slice(fb));
            if !layout_matches(&info, &layout) {
                let offsets: Vec<usize> = layout.planes.iter().map(|p| p.offset).collect();
                let strides: Vec<i32> = layout.planes.iter().map(|p| p.stride as i32).collect();
                gst_video::VideoMeta::add_full(
                    b.get_mut().ok_or(gst::FlowError::Error)?,
                    gst_video::VideoFrameFlags::empty(),
                    info.format(),
                    info.width(),
                    info.height(),
                    &offsets,
                    &strides,
                )
                .map_err(|_| gst::FlowError::Error)?;
            }
            b
        } else {
            lock(&self.state).frames_copied += 1;
            copy_to_default_layout(&info, &fb, &layout)?
        };
        let md = frame.metadata;
        {
            let b = buffer.get_mut().ok_or(gst::FlowError::Error)?;
            b.set_offset(seq);
            b.set_offset_end(seq + 1);
            b.set_pts(self.running_time_of(md.sensor_timestamp_ns));
            b.set_duration(
                frame_duration.or(Some(gst::ClockTime::from_useconds(md.frame_duration_us))),
            );
            if let Err(e) = meta::attach(b, &md) {
                gst::warning!(CAT, imp = self, "cannot attach frame metadata: {e}");
            }
        }
        if post {
            let s = meta::to_structure("rpicamsrc2-metadata", &md);
            let _ = self
                .obj()
                .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
        gst::trace!(
            CAT,
            imp = self,
            "pushing frame {seq} pts {:?}",
            buffer.pts()
        );
        self.srcpad.push(buffer)?;
        let pushed = {
            let mut st = lock(&self.state);
            st.frames_pushed += 1;
            st.frames_pushed
        };
        if num_buffers >= 0 && pushed >= num_buffers as u64 {
            gst::debug!(CAT, imp = self, "num-buffers {num_buffers} reached");
            self.srcpad.push_event(gst::event::Eos::new());
            return Err(gst::FlowError::Eos);
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// The running time of a CLOCK_MONOTONIC timestamp, through the pipeline clock.
    fn running_time_of(&self, mono_ns: u64) -> Option<gst::ClockTime> {
        let obj = self.obj();
        let clock = obj.clock()?;
        let base = obj.base_time()?;
        let now = clock.time();
        let age = camera::monotonic_ns().saturating_sub(mono_ns);
        let at = now.nseconds().checked_sub(age)?;
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
        cam.set_scene(&settings.scene_settings())
            .map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ("{}", e)))?;
        let info = cam.info();
        gst::info!(
            CAT,
            imp = self,
            "opened {} ({}): modes {}",
            info.id,
            info.model,
            describe_modes(&info, settings.hdr_mode != HdrMode::Off)
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
                        describe_modes(&info, settings.hdr_mode != HdrMode::Off)
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
        *st = State::default();
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

    fn update_scene(&self) {
        let scene = lock(&self.settings).scene_settings();
        if let Some(cam) = self.camera() {
            if let Err(e) = cam.set_scene(&scene) {
                gst::element_imp_warning!(self, gst::ResourceError::OpenRead, ("{}", e));
            }
        }
    }

    fn statistics(&self) -> gst::Structure {
        let st = lock(&self.state);
        let cs = st.camera.as_ref().map(|c| c.stats()).unwrap_or_default();
        gst::Structure::builder("rpicamsrc2-statistics")
            .field("frames-pushed", st.frames_pushed)
            .field("frames-dropped", st.frames_dropped)
            .field("frames-copied", st.frames_copied)
            .field("frames-captured", cs.frames_captured)
            .field("frames-without-buffer", cs.frames_without_buffer)
            .field("render-cpu-ns", cs.render_cpu_ns)
            .build()
    }
}

fn describe_modes(info: &CameraInfo, hdr: bool) -> String {
    info.modes_for(hdr)
        .map(|m| {
            format!(
                "{}x{} {}-bit{} up to {:.2} fps",
                m.size.width,
                m.size.height,
                m.bit_depth,
                if m.hdr { " HDR" } else { "" },
                m.max_fps()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// True when `layout` is exactly what GStreamer assumes for `info` (no video meta needed).
fn layout_matches(info: &gst_video::VideoInfo, layout: &camera::format::FrameLayout) -> bool {
    layout.planes.len() == info.n_planes() as usize
        && layout.planes.iter().enumerate().all(|(i, p)| {
            info.offset().get(i) == Some(&p.offset)
                && info.stride().get(i) == Some(&(p.stride as i32))
        })
}

/// For downstream elements that cannot take strides: one copy into GStreamer's default layout.
fn copy_to_default_layout(
    info: &gst_video::VideoInfo,
    fb: &camera::FrameBuffer,
    layout: &camera::format::FrameLayout,
) -> Result<gst::Buffer, gst::FlowError> {
    let mut out = gst::Buffer::with_size(info.size()).map_err(|_| gst::FlowError::Error)?;
    {
        let b = out.get_mut().ok_or(gst::FlowError::Error)?;
        let mut map = b.map_writable().map_err(|_| gst::FlowError::Error)?;
        let src = fb.as_ref();
        for (i, p) in layout.planes.iter().enumerate() {
            let (Some(&doff), Some(&dstride)) = (info.offset().get(i), info.stride().get(i)) else {
                continue;
            };
            let row = (dstride as usize).min(p.stride);
            for r in 0..p.rows {
                let s = p.offset + r * p.stride;
                let d = doff + r * dstride as usize;
                if s + row <= src.len() && d + row <= map.len() {
                    map[d..d + row].copy_from_slice(&src[s..s + row]);
                }
            }
        }
    }
    Ok(out)
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
                    .blurb("Frames lost (sequence gaps and failed frames) since the stream started")
                    .read_only()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("statistics")
                    .nick("Statistics")
                    .blurb("frames-pushed, frames-dropped, frames-copied (downstream without video meta), frames-captured, frames-without-buffer, render-cpu-ns (simulation)")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("sensor-modes")
                    .nick("Sensor modes")
                    .blurb("The opened camera's sensor modes with their maximum frame rates (READY and above)")
                    .read_only()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("sim-scene", SimScene::Moving)
                    .nick("Simulated scene")
                    .blurb("What a simulated camera looks at")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("sim-image")
                    .nick("Simulated scene image")
                    .blurb("JPEG or PNG file a simulated camera looks at with sim-scene=image")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("sim-lux")
                    .nick("Simulated scene illuminance")
                    .blurb("Light on the simulated scene, lux (1 dim room, 400 office, 10000 daylight)")
                    .minimum(0.001)
                    .maximum(200_000.0)
                    .default_value(DEFAULT_SIM_LUX)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("sim-colour-temperature")
                    .nick("Simulated light colour temperature")
                    .blurb("Colour temperature of the simulated light, K")
                    .minimum(1500.0)
                    .maximum(15000.0)
                    .default_value(DEFAULT_SIM_CT)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("sim-focus")
                    .nick("Simulated subject distance")
                    .blurb("Subject distance for the simulated focus lens, dioptres (1/m)")
                    .minimum(0.0)
                    .maximum(15.0)
                    .default_value(DEFAULT_SIM_FOCUS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("sim-noise")
                    .nick("Simulated sensor noise")
                    .blurb("Add sensor noise that grows with gain (off lets a static scene skip re-rendering)")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
            ];
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
            "sim-scene" => {
                s.sim_scene = value.get().expect("type checked upstream");
                drop(s);
                self.update_scene();
            }
            "sim-image" => {
                s.sim_image = value.get().expect("type checked upstream");
                drop(s);
                self.update_scene();
            }
            "sim-lux" => {
                s.scene.lux = value.get().expect("type checked upstream");
                drop(s);
                self.update_scene();
            }
            "sim-colour-temperature" => {
                s.scene.colour_temperature = value.get().expect("type checked upstream");
                drop(s);
                self.update_scene();
            }
            "sim-focus" => {
                s.scene.focus_dioptres = value.get().expect("type checked upstream");
                drop(s);
                self.update_scene();
            }
            "sim-noise" => {
                s.scene.noise = value.get().expect("type checked upstream");
                drop(s);
                self.update_scene();
            }
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(p) = props::find(pspec.name()) {
            let s = lock(&self.settings);
            return props::to_value(p, pspec, s.controls.get(p.id));
        }
        match pspec.name() {
            "frames-dropped" => lock(&self.state).frames_dropped.to_value(),
            "statistics" => self.statistics().to_value(),
            "sensor-modes" => {
                let hdr = lock(&self.settings).hdr_mode != HdrMode::Off;
                lock(&self.state)
                    .camera_info
                    .as_ref()
                    .map(|i| describe_modes(i, hdr))
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
                    "sim-scene" => s.sim_scene.to_value(),
                    "sim-image" => s.sim_image.to_value(),
                    "sim-lux" => s.scene.lux.to_value(),
                    "sim-colour-temperature" => s.scene.colour_temperature.to_value(),
                    "sim-focus" => s.scene.focus_dioptres.to_value(),
                    "sim-noise" => s.scene.noise.to_value(),
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
                 controls as properties and per-frame metadata",
                "rpicamsrc2 developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &template_caps(),
            )
            .expect("static template caps are valid")]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn send_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Eos(_) => {
                // Sent by the application (gst-launch-1.0 -e): finish the stream from the
                // streaming thread so nothing recorded is lost.
                gst::debug!(CAT, imp = self, "EOS requested");
                lock(&self.state).pending_eos = Some(event);
                if let Some(c) = self.camera() {
                    c.unblock();
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
            gst::StateChange::PlayingToPaused => {
                // The streaming thread may be blocked in a sink waiting for preroll, holding the
                // stream lock: do not pause the task, tell it to stop producing.
                lock(&self.state).playing = false;
                self.play_cond.notify_all();
                self.stop_streaming();
            }
            gst::StateChange::PausedToReady => {
                if let Some(c) = self.camera() {
                    c.unblock();
                }
                let _ = self.srcpad.stop_task();
                self.stop_streaming();
            }
            _ => {}
        }
        let mut success = self.parent_change_state(transition)?;
        match transition {
            gst::StateChange::ReadyToPaused => {
                let mut st = lock(&self.state);
                st.frames_pushed = 0;
                st.frames_dropped = 0;
                st.frames_copied = 0;
                st.started_events = false;
                st.negotiated = None;
                st.pending_eos = None;
                success = gst::StateChangeSuccess::NoPreroll;
            }
            gst::StateChange::PausedToPlaying => {
                lock(&self.state).playing = true;
                self.play_cond.notify_all();
                let imp = self.ref_counted();
                if let Err(e) = self.srcpad.start_task(move || imp.loop_fn()) {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Failed,
                        ("cannot start the streaming task: {e}")
                    );
                    return Err(gst::StateChangeError);
                }
            }
            gst::StateChange::PlayingToPaused => success = gst::StateChangeSuccess::NoPreroll,
            gst::StateChange::PausedToReady => {
                let mut st = lock(&self.state);
                st.negotiated = None;
            }
            gst::StateChange::ReadyToNull => self.close(),
            _ => {}
        }
        Ok(success)
    }
}
