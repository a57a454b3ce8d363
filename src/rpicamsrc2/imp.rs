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
use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::camera::{self, CameraBackend, CameraConfiguration, CameraInfo, StreamRole};

use super::caps;
use super::negotiate::role_of;
use super::pad::{PadKind, RpiCamSrcPad};
use super::props;
use super::settings::{self, SensorModeSetting, Settings};
use super::stats;
use super::still::{self, StillState, STILL_PAD};
use super::{HdrMode, CAT};
use crate::sync::lock;

#[derive(Default)]
pub(super) struct State {
    pub camera: Option<Arc<dyn CameraBackend>>,
    pub camera_info: Option<CameraInfo>,
    /// The pads, main first.
    pub pads: Vec<RpiCamSrcPad>,
    pub config: Option<CameraConfiguration>,
    /// The element is PLAYING (a live source produces only then).
    pub playing: bool,
    /// The camera is started.
    pub streaming: bool,
    /// Downstream asked for other caps, or a pad came or went: reconfigure.
    pub renegotiate: bool,
    pub pending_eos: Option<gst::Event>,
    /// The capture thread must end.
    pub stop_capture: bool,
    /// Sequence of the first frame since the camera started.
    pub base_seq: Option<u64>,
    pub main_frames: u64,
    pub group_id: Option<gst::GroupId>,
    /// The `still` request pad (not a camera stream: it is not in `pads`).
    pub still_pad: Option<RpiCamSrcPad>,
    /// Still requests and the waits for AE/AWB.
    pub still: StillState,
}

impl State {
    pub fn pad(&self, role: StreamRole) -> Option<&RpiCamSrcPad> {
        self.pads.iter().find(|p| p.role() == role)
    }

    /// Every source pad: the camera streams' and the still pad.
    pub fn all_pads(&self) -> Vec<RpiCamSrcPad> {
        self.pads.iter().chain(&self.still_pad).cloned().collect()
    }
}

pub struct RpiCamSrc2 {
    srcpad: RpiCamSrcPad,
    pub(super) settings: Mutex<Settings>,
    pub(super) state: Mutex<State>,
    pub(super) capture: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(super) combiner: Mutex<gst_base::UniqueFlowCombiner>,
}

#[glib::object_subclass]
impl ObjectSubclass for RpiCamSrc2 {
    const NAME: &'static str = "GstRpiCamSrc2";
    type Type = super::RpiCamSrc2;
    type ParentType = gst::Element;
    type Interfaces = (gst::ChildProxy,);

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass
            .pad_template("src")
            .expect("src template is registered in pad_templates()");
        let srcpad = Self::make_pad(&templ, StreamRole::Main, None);
        Self {
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            capture: Mutex::new(None),
            combiner: Mutex::new(gst_base::UniqueFlowCombiner::new()),
        }
    }
}

impl RpiCamSrc2 {
    fn make_pad(templ: &gst::PadTemplate, role: StreamRole, name: Option<&str>) -> RpiCamSrcPad {
        let pad = Self::new_pad(templ, role, name);
        if role != StreamRole::Main {
            // A request pad takes part in negotiation only while linked (as tee's pads do):
            // requested while PLAYING, it is negotiated when it is linked, however late.
            let relink = |pad: &RpiCamSrcPad, _: &gst::Pad| {
                if let Some(imp) = pad
                    .parent()
                    .and_then(|p| p.downcast::<super::RpiCamSrc2>().ok())
                {
                    imp.imp().pad_link_changed(pad);
                }
            };
            pad.connect_linked(relink);
            pad.connect_unlinked(relink);
        }
        pad
    }

    /// A request pad was linked or unlinked: while streaming, renegotiate with it (linked) or
    /// without it (unlinked); the other pads keep their caps.
    fn pad_link_changed(&self, pad: &RpiCamSrcPad) {
        gst::debug!(
            CAT,
            imp = self,
            "{} linked: {}",
            pad.name(),
            pad.is_linked()
        );
        let mut st = lock(&self.state);
        if !st.streaming && !st.playing {
            return;
        }
        st.renegotiate = true;
        drop(st);
        if let Some(c) = self.camera() {
            c.unblock();
        }
    }

    /// A pad of `kind` called `name` (none: after its kind) with the element's query and event
    /// handlers.
    pub(super) fn new_pad(
        templ: &gst::PadTemplate,
        kind: impl Into<PadKind>,
        name: Option<&str>,
    ) -> RpiCamSrcPad {
        RpiCamSrcPad::new(
            templ,
            kind,
            name,
            |pad, parent, query| {
                RpiCamSrc2::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_query(pad, query),
                )
            },
            |pad, parent, event| {
                RpiCamSrc2::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.src_event(pad, event),
                )
            },
        )
    }

    pub(super) fn camera(&self) -> Option<Arc<dyn CameraBackend>> {
        lock(&self.state).camera.clone()
    }

    /// Handles the result of a buffer push on `pad`: the flow combined over the pads pauses
    /// the task (flushing, EOS) or ends the stream with an error.
    fn handle_flow(&self, pad: &RpiCamSrcPad, res: Result<gst::FlowSuccess, gst::FlowError>) {
        let combined = lock(&self.combiner).update_pad_flow(pad, res);
        match combined {
            Ok(_) => {}
            Err(gst::FlowError::Flushing)
                if res == Err(gst::FlowError::Flushing)
                    && !pad.pad_flags().contains(gst::PadFlags::FLUSHING) =>
            {
                // Downstream of this pad is flushing (a branch linked before its state was
                // synced, say), not the pad: the frame is lost, the stream goes on.
                gst::debug!(CAT, imp = self, "{}: downstream flushing", pad.name());
            }
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

    pub(super) fn start_pad_task(&self, pad: &RpiCamSrcPad) {
        let imp = self.ref_counted();
        if let Err(e) = pad.start(move |pad, res| imp.handle_flow(pad, res)) {
            gst::element_imp_error!(
                self,
                gst::CoreError::Failed,
                ("cannot start the streaming task of {}: {e}", pad.name())
            );
        }
    }

    /// Adds a request pad of `role` called `name` (none: after the role), activated and
    /// started as the element's state needs; it is negotiated once linked.
    pub(super) fn add_request_pad(
        &self,
        templ: &gst::PadTemplate,
        role: StreamRole,
        name: Option<&str>,
    ) -> Option<gst::Pad> {
        let mut st = lock(&self.state);
        let pad = Self::make_pad(templ, role, name);
        st.pads.push(pad.clone());
        // Not renegotiated now: the pad takes part once it is linked (`pad_link_changed`).
        let running = st.playing;
        drop(st);
        if !self.attach_pad(&pad) {
            lock(&self.state).pads.retain(|p| p != &pad);
            return None;
        }
        self.obj().child_added(&pad, &pad.name());
        if running {
            self.start_pad_task(&pad);
            if let Some(c) = self.camera() {
                c.unblock();
            }
        }
        Some(pad.upcast())
    }

    /// Adds a newly requested `pad` to the flow combiner and the element, active when the
    /// element is past READY; false (with an error posted) when the element refuses it.
    pub(super) fn attach_pad(&self, pad: &RpiCamSrcPad) -> bool {
        lock(&self.combiner).add_pad(pad);
        let obj = self.obj();
        if obj.current_state() > gst::State::Ready {
            let _ = pad.set_active(true);
        }
        if let Err(e) = obj.add_pad(pad) {
            lock(&self.combiner).remove_pad(pad);
            gst::element_imp_error!(
                self,
                gst::CoreError::Pad,
                ("cannot add {}: {e}", pad.name())
            );
            return false;
        }
        true
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
        let hdr = settings.hdr_mode != HdrMode::Off;
        gst::info!(
            CAT,
            imp = self,
            "opened {} ({}): modes {}",
            info.id,
            info.model,
            caps::describe_modes(&info, hdr)
        );
        if let Some(SensorModeSetting { spec, .. }) = &settings.sensor_mode {
            if spec.pick(info.modes_for(hdr), |m| m).is_none() {
                return Err(gst::error_msg!(
                    gst::LibraryError::Settings,
                    (
                        "sensor-mode {} is not a mode of {}; its modes are: {}",
                        spec,
                        info.model,
                        caps::describe_modes(&info, hdr)
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

    fn apply_option(&self, name: &str) {
        let options = lock(&self.settings).options.clone();
        if let Some(cam) = self.camera() {
            if let Err(e) = options.apply_one(cam.as_ref(), name) {
                gst::element_imp_warning!(self, gst::ResourceError::OpenRead, ("{}", e));
            }
        }
    }

    /// Warns that a value set was refused (`text` names it): at once when the element is in a
    /// pipeline, else when it goes to READY (a message posted without a bus is lost).
    pub(super) fn warn_setting(&self, text: String) {
        if self.obj().parent().is_none() {
            gst::warning!(CAT, imp = self, "{text}");
            lock(&self.settings).deferred_warnings.push(text);
        } else {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", text));
        }
    }

    fn statistics(&self) -> gst::Structure {
        let st = lock(&self.state);
        let camera = st.camera.as_ref().map(|c| c.stats()).unwrap_or_default();
        stats::structure(
            camera,
            st.config.as_ref().and_then(|c| c.chosen_mode.as_ref()),
            st.pads.iter().map(|p| (p.role(), p.stats_now(&camera))),
        )
    }

    fn pad_dropped(&self, role: StreamRole) -> u64 {
        let st = lock(&self.state);
        let camera = st.camera.as_ref().map(|c| c.stats()).unwrap_or_default();
        st.pad(role)
            .map(|p| p.stats_now(&camera).dropped)
            .unwrap_or(0)
    }
}

impl ObjectImpl for RpiCamSrc2 {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut v = settings::pspecs();
            v.extend([
                glib::ParamSpecUInt64::builder("frames-dropped")
                    .nick("Frames dropped")
                    .blurb("Frames the camera captured that the src pad should have delivered and did not, for any reason: no free camera buffer (downstream holds them all; counted as it happens), failed frames, sequence gaps, failed pushes, frames discarded on a caps change or stop")
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
            ]);
            v.extend(still::pspecs());
            v.extend(props::option_pspecs());
            v.extend(props::pspecs());
            v
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(still::signals);
        SIGNALS.as_ref()
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
        if pspec.name() == "sensor-config" {
            self.set_sensor_config(value.get().expect("type checked upstream"));
            return;
        }
        let res = lock(&self.settings).set(pspec.name(), value);
        match res {
            Ok(true) => {}
            Ok(false) => gst::warning!(CAT, imp = self, "unknown property {}", pspec.name()),
            Err(e) => {
                gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}; ignored", e))
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(p) = props::find(pspec.name()) {
            let s = lock(&self.settings);
            return props::to_value(p, pspec, s.controls.list().get(p.id));
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
            name => lock(&self.settings)
                .get(name)
                .unwrap_or_else(|| pspec.default_value().clone()),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        if let Err(e) = obj.add_pad(&self.srcpad) {
            gst::error!(CAT, imp = self, "cannot add the src pad: {e}");
        }
        obj.child_added(&self.srcpad, &self.srcpad.name());
        lock(&self.combiner).add_pad(&self.srcpad);
        lock(&self.state).pads.push(self.srcpad.clone());
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
                // libcamerasrc's request pads: processed or raw, as their stream-role says.
                t("src_%u", gst::PadPresence::Request, &{
                    let mut c = caps::template_caps();
                    c.merge(caps::raw_template_caps());
                    c
                }),
                t(STILL_PAD, gst::PadPresence::Request, &caps::template_caps()),
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
        if tname == "src_%u" {
            // libcamerasrc's request pads: the stream follows the pad's stream-role.
            let (role, name) = self.src_n_request(name)?;
            return self.add_request_pad(templ, role, Some(&name));
        }
        if tname == STILL_PAD {
            return self.request_still_pad(templ);
        }
        let Some(role) = role_of(tname).filter(|r| *r != StreamRole::Main) else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Pad,
                ("rpicamsrc2 has request pads lores, raw, still and src_%u only, not {tname}")
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
        if lock(&self.state).pad(role).is_some() {
            gst::element_imp_error!(
                self,
                gst::CoreError::Pad,
                ("the {role} pad was already requested; there is one {role} stream")
            );
            return None;
        }
        self.add_request_pad(templ, role, None)
    }

    fn release_pad(&self, pad: &gst::Pad) {
        if pad.name() == STILL_PAD {
            self.release_still_pad(pad);
            return;
        }
        let Some(ours) = pad
            .downcast_ref::<RpiCamSrcPad>()
            .filter(|p| p.role() != StreamRole::Main)
        else {
            return;
        };
        let released = {
            let mut st = lock(&self.state);
            let released = st.pads.iter().find(|p| *p == ours).cloned();
            st.pads.retain(|p| p != ours);
            if st.streaming {
                st.renegotiate = true;
            }
            released
        };
        if let Some(p) = released {
            p.flush();
        }
        let _ = pad.stop_task();
        let _ = pad.set_active(false);
        lock(&self.combiner).remove_pad(pad);
        self.obj().child_removed(pad, &pad.name());
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
            gst::EventView::CustomUpstream(e)
                if e.structure()
                    .is_some_and(|s| s.name() == still::CAPTURE_STILL_EVENT) =>
            {
                self.request_still()
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
                let deferred = std::mem::take(&mut lock(&self.settings).deferred_warnings);
                for text in deferred {
                    gst::element_imp_warning!(self, gst::LibraryError::Settings, ("{}", text));
                }
                if let Err(e) = self.open() {
                    self.post_error_message(e);
                    return Err(gst::StateChangeError);
                }
            }
            gst::StateChange::ReadyToPaused => {
                let start_settled = lock(&self.settings).start_settled;
                let mut st = lock(&self.state);
                for p in st.all_pads() {
                    p.reset();
                }
                st.still = StillState {
                    start_wait: start_settled.then(still::SettleWait::default),
                    ..StillState::default()
                };
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
            }
            gst::StateChange::PausedToReady => {
                self.stop_capture();
                let pads = lock(&self.state).all_pads();
                for p in &pads {
                    p.flush();
                }
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
                let pads = lock(&self.state).all_pads();
                for pad in pads {
                    self.start_pad_task(&pad);
                }
                self.start_capture();
            }
            gst::StateChange::PausedToReady => {
                lock(&self.state).config = None;
            }
            gst::StateChange::ReadyToNull => self.close(),
            _ => {}
        }
        Ok(success)
    }
}
