// SPDX-License-Identifier: MPL-2.0
/**
 * SECTION:element-rpicircularsink
 *
 * Pre-trigger circular recording of an encoded stream into fragmented MP4 files (see the
 * module documentation for triggers, repeat triggers and messages).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 rpicamsrc2 ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
 *     rpih264enc iperiod=30 ! h264parse ! \
 *     rpicircularsink pre-duration=5000000000 post-duration=5000000000 location=event%05d.mp4
 * ]|
 * An application emits `trigger` (or sends the custom event `rpicircularsink-trigger`).
 */
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::ring::{Entry, Ring};
use crate::sync::lock;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rpicircularsink",
        gst::DebugColorFlags::empty(),
        Some("Pre-trigger circular recording"),
    )
});

/// Name of the custom event (downstream from upstream, or sent to the element) that triggers.
pub const TRIGGER_EVENT: &str = "rpicircularsink-trigger";

const SECOND: u64 = 1_000_000_000;
const DEFAULT_PRE_NS: u64 = 5 * SECOND;
const DEFAULT_POST_NS: u64 = 5 * SECOND;
/// 64 MiB: 5 s at 25 Mbit/s (the V4L2 encoder's maximum) is about 16 MiB.
const DEFAULT_MAX_BYTES: u64 = 64 << 20;
const DEFAULT_FRAGMENT_MS: u32 = 1000;
const DEFAULT_LOCATION: &str = "circular%05d.mp4";

#[derive(Debug, Clone)]
struct Settings {
    location: String,
    pre_ns: u64,
    post_ns: u64,
    max_bytes: u64,
    fragment_ms: u32,
    /// Index of the next file.
    index: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            location: DEFAULT_LOCATION.into(),
            pre_ns: DEFAULT_PRE_NS,
            post_ns: DEFAULT_POST_NS,
            max_bytes: DEFAULT_MAX_BYTES,
            fragment_ms: DEFAULT_FRAGMENT_MS,
            index: 0,
        }
    }
}

/// One file being written: appsrc ! mp4mux ! filesink inside the bin.
struct Branch {
    location: String,
    appsrc: gst::Element,
    filesink: gst::Element,
    elements: Vec<gst::Element>,
    /// Running time subtracted from every timestamp (the file starts at 0), ns.
    offset: u64,
    /// Running time of the trigger, of the first and of the last buffer written, ns.
    trigger_rt: u64,
    start_rt: u64,
    end_rt: u64,
    /// The file ends with the first buffer at or after this running time, ns.
    until_rt: u64,
    buffers: u64,
}

#[derive(Default)]
struct State {
    ring: Ring,
    segment: gst::FormattedSegment<gst::ClockTime>,
    caps: Option<gst::Caps>,
    recording: Option<Branch>,
    /// Files whose end-of-stream was sent, until their filesink has it.
    closing: Vec<Branch>,
    /// Upstream sent EOS.
    eos: bool,
    /// Running time of the last buffer, ns.
    last_rt: Option<u64>,
    warned_overflow: bool,
}

pub struct RpiCircularSink {
    sinkpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for RpiCircularSink {
    const NAME: &'static str = "GstRpiCircularSink";
    type Type = super::RpiCircularSink;
    type ParentType = gst::Bin;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass.pad_template("sink").expect("sink template");
        let sinkpad = gst::Pad::builder_from_template(&templ)
            .chain_function(|pad, parent, buffer| {
                RpiCircularSink::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                RpiCircularSink::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .build();
        Self {
            sinkpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
        }
    }
}

/// `pattern` with its one printf integer conversion (`%d`, `%5d`, `%05d`) replaced by
/// `index`; a pattern without one is used as it is.
///
/// Errors: a `%` that is not `%%` or such a conversion, or more than one conversion.
fn format_location(pattern: &str, index: u32) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    let mut used = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let mut spec = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            spec.push(*d);
            chars.next();
        }
        if chars.next() != Some('d') || used {
            return Err(format!(
                "location {pattern:?}: one integer conversion (%d, %05d) at most, for the file \
                 index"
            ));
        }
        used = true;
        let width: usize = spec.parse().unwrap_or(0);
        if spec.starts_with('0') {
            out.push_str(&format!("{index:0width$}"));
        } else {
            out.push_str(&format!("{index:width$}"));
        }
    }
    Ok(out)
}

impl RpiCircularSink {
    /// Running times (ns) of a buffer: (decode order, presentation).
    fn running_times(
        seg: &gst::FormattedSegment<gst::ClockTime>,
        buf: &gst::BufferRef,
    ) -> Option<(u64, u64)> {
        let rt = |t: Option<gst::ClockTime>| t.and_then(|t| seg.to_running_time(t));
        let pts = rt(buf.pts());
        let dts = rt(buf.dts()).or(pts)?;
        Some((dts.nseconds(), pts.unwrap_or(dts).nseconds()))
    }

    fn chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (pre, max) = {
            let s = lock(&self.settings);
            (s.pre_ns, s.max_bytes)
        };
        let mut st = lock(&self.state);
        let Some((dts, pts)) = Self::running_times(&st.segment, &buffer) else {
            gst::debug!(CAT, imp = self, "buffer without timestamp dropped");
            return Ok(gst::FlowSuccess::Ok);
        };
        // The ring holds buffers stamped in running time.
        let mut rtbuf = buffer.copy();
        {
            let b = rtbuf.make_mut();
            b.set_dts(gst::ClockTime::from_nseconds(dts));
            b.set_pts(gst::ClockTime::from_nseconds(pts));
        }
        let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let entry = Entry {
            buffer: rtbuf.clone(),
            running_time: dts,
            key,
            size: buffer.size() as u64,
        };
        st.last_rt = Some(pts);
        let pushed = st.ring.push(entry, pre, max);
        let warn = pushed.overflow && !std::mem::replace(&mut st.warned_overflow, true);
        let mut done = false;
        if let Some(b) = st.recording.as_mut() {
            b.end_rt = pts;
            b.buffers += 1;
            let _ = b
                .appsrc
                .emit_by_name::<gst::FlowReturn>("push-buffer", &[&rebase(&rtbuf, b.offset)]);
            if pts >= b.until_rt {
                let _ = b
                    .appsrc
                    .emit_by_name::<gst::FlowReturn>("end-of-stream", &[]);
                done = true;
            }
        }
        if done {
            if let Some(b) = st.recording.take() {
                gst::info!(CAT, imp = self, "closing {}", b.location);
                st.closing.push(b);
            }
        }
        drop(st);
        if warn {
            gst::element_imp_warning!(
                self,
                gst::ResourceError::NoSpaceLeft,
                (
                    "max-size-bytes {} holds less than one group of pictures: the ring was \
                     emptied and waits for the next key frame; raise max-size-bytes or lower the \
                     encoder's key-frame interval",
                    max
                )
            );
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Caps(c) => {
                let caps = c.caps_owned();
                let mut st = lock(&self.state);
                if let Some(b) = &st.recording {
                    b.appsrc.set_property("caps", &caps);
                }
                st.caps = Some(caps);
                true
            }
            gst::EventView::Segment(s) => {
                match s.segment().clone().downcast::<gst::ClockTime>() {
                    Ok(seg) => lock(&self.state).segment = seg,
                    Err(_) => {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Format,
                            ("rpicircularsink needs a TIME segment")
                        );
                        return false;
                    }
                }
                true
            }
            gst::EventView::CustomDownstream(e)
                if e.structure().is_some_and(|s| s.name() == TRIGGER_EVENT) =>
            {
                self.trigger();
                true
            }
            gst::EventView::Eos(_) => {
                let post_now = {
                    let mut st = lock(&self.state);
                    st.eos = true;
                    if let Some(b) = st.recording.take() {
                        let _ = b
                            .appsrc
                            .emit_by_name::<gst::FlowReturn>("end-of-stream", &[]);
                        st.closing.push(b);
                    }
                    st.closing.is_empty()
                };
                if post_now {
                    self.post_eos();
                }
                true
            }
            gst::EventView::FlushStop(_) => {
                lock(&self.state).ring.clear();
                true
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    fn post_eos(&self) {
        let obj = self.obj();
        let _ = obj.post_message(gst::message::Eos::builder().src(&*obj).build());
    }

    /// Starts a file with the ring, or extends the one being written. Returns false (with a
    /// warning) when there is nothing to record yet, or the stream ended.
    fn trigger(&self) -> bool {
        let obj = self.obj();
        let settings = lock(&self.settings).clone();
        let mut st = lock(&self.state);
        let now = obj
            .current_running_time()
            .map(|t| t.nseconds())
            .or(st.last_rt)
            .unwrap_or(0);
        if st.eos {
            return false;
        }
        if let Some(b) = st.recording.as_mut() {
            b.until_rt = b.until_rt.max(now + settings.post_ns);
            gst::info!(
                CAT,
                imp = self,
                "trigger at {now} ns: {} extended to {} ns",
                b.location,
                b.until_rt
            );
            return true;
        }
        let (Some(caps), Some(first)) = (st.caps.clone(), st.ring.entries().next().cloned()) else {
            drop(st);
            gst::element_imp_warning!(
                self,
                gst::StreamError::Failed,
                ("trigger: nothing to record yet (no key frame received)")
            );
            return false;
        };
        let location = match format_location(&settings.location, settings.index) {
            Ok(l) => l,
            Err(e) => {
                drop(st);
                gst::element_imp_error!(self, gst::ResourceError::Settings, ("{}", e));
                return false;
            }
        };
        let branch = match self.make_branch(&caps, &location, settings.fragment_ms) {
            Ok(b) => b,
            Err(e) => {
                drop(st);
                gst::element_imp_error!(
                    self,
                    gst::CoreError::MissingPlugin,
                    ("cannot make the recording branch for {location}: {e}")
                );
                return false;
            }
        };
        let (appsrc, filesink, elements) = branch;
        let offset = first.running_time;
        let mut b = Branch {
            location: location.clone(),
            appsrc,
            filesink,
            elements,
            offset,
            trigger_rt: now,
            start_rt: first.running_time,
            end_rt: first.running_time,
            until_rt: now + settings.post_ns,
            buffers: 0,
        };
        for e in st.ring.entries() {
            let _ = b
                .appsrc
                .emit_by_name::<gst::FlowReturn>("push-buffer", &[&rebase(&e.buffer, offset)]);
            b.buffers += 1;
            b.end_rt = e.buffer.pts().map_or(e.running_time, |t| t.nseconds());
        }
        let ring_bytes = st.ring.bytes();
        gst::info!(
            CAT,
            imp = self,
            "trigger at {now} ns: {location} from {offset} ns ({} buffers, {ring_bytes} bytes)",
            b.buffers
        );
        st.recording = Some(b);
        drop(st);
        lock(&self.settings).index = settings.index + 1;
        let s = gst::Structure::builder("rpicircularsink-started")
            .field("location", &location)
            .field("trigger-running-time", now)
            .field("start-running-time", offset)
            .field("ring-bytes", ring_bytes)
            .build();
        let _ = obj.post_message(gst::message::Element::builder(s).src(&*obj).build());
        true
    }

    /// appsrc ! mp4mux fragment-duration ! filesink, added to the bin and started.
    fn make_branch(
        &self,
        caps: &gst::Caps,
        location: &str,
        fragment_ms: u32,
    ) -> Result<(gst::Element, gst::Element, Vec<gst::Element>), glib::BoolError> {
        let appsrc = gst::ElementFactory::make("appsrc")
            .property("caps", caps)
            .property_from_str("format", "time")
            .property("is-live", false)
            .property("max-bytes", 0u64)
            .property("block", false)
            .build()?;
        let mux = gst::ElementFactory::make("mp4mux")
            .property("fragment-duration", fragment_ms)
            .build()?;
        let filesink = gst::ElementFactory::make("filesink")
            .property("location", location)
            // Added while PLAYING: no preroll, no clock.
            .property("async", false)
            .property("sync", false)
            .build()?;
        let elements = vec![appsrc.clone(), mux.clone(), filesink.clone()];
        let obj = self.obj();
        obj.add_many(&elements)?;
        // The video pad explicitly: a plain link could pick mp4mux's audio pad.
        let video = mux
            .request_pad_simple("video_%u")
            .ok_or_else(|| glib::bool_error!("mp4mux gives no video pad"))?;
        let src = appsrc
            .static_pad("src")
            .ok_or_else(|| glib::bool_error!("appsrc has no src pad"))?;
        src.link(&video)
            .map_err(|e| glib::bool_error!("appsrc ! mp4mux: {e:?}"))?;
        mux.link(&filesink)?;
        for e in &elements {
            e.sync_state_with_parent()?;
        }
        Ok((appsrc, filesink, elements))
    }

    /// A closing file's filesink has EOS: the file is complete. Removes its branch (from
    /// another thread: the message comes on the branch's own streaming thread), posts
    /// `rpicircularsink-done`, and EOS once upstream ended and no file is open.
    fn file_closed(&self, filesink: &gst::Object) {
        let obj = self.obj();
        let filesink = filesink.clone();
        obj.call_async(move |obj| {
            let imp = obj.imp();
            let (branch, post_eos) = {
                let mut st = lock(&imp.state);
                let Some(i) = st
                    .closing
                    .iter()
                    .position(|b| b.filesink.upcast_ref::<gst::Object>() == &filesink)
                else {
                    return;
                };
                let b = st.closing.remove(i);
                let eos = st.eos && st.recording.is_none() && st.closing.is_empty();
                (b, eos)
            };
            for e in &branch.elements {
                let _ = e.set_state(gst::State::Null);
            }
            let _ = obj.remove_many(&branch.elements);
            // The bin drops its sink flag with its last sink child; it is a sink all the same.
            obj.set_element_flags(gst::ElementFlags::SINK);
            gst::info!(CAT, imp = imp, "{} closed", branch.location);
            let s = gst::Structure::builder("rpicircularsink-done")
                .field("location", &branch.location)
                .field("trigger-running-time", branch.trigger_rt)
                .field("start-running-time", branch.start_rt)
                .field("end-running-time", branch.end_rt)
                .field("buffers", branch.buffers)
                .build();
            let _ = obj.post_message(gst::message::Element::builder(s).src(obj).build());
            if post_eos {
                imp.post_eos();
            }
        });
    }

    /// Stops and removes every branch (going to READY): files are left as written so far.
    fn teardown(&self) {
        let branches: Vec<Branch> = {
            let mut st = lock(&self.state);
            let mut v: Vec<Branch> = st.closing.drain(..).collect();
            v.extend(st.recording.take());
            v
        };
        let obj = self.obj();
        for b in branches {
            for e in &b.elements {
                let _ = e.set_state(gst::State::Null);
            }
            let _ = obj.remove_many(&b.elements);
        }
        obj.set_element_flags(gst::ElementFlags::SINK);
    }
}

/// A buffer of the ring with its running times moved so the file starts at 0.
fn rebase(buf: &gst::Buffer, offset: u64) -> gst::Buffer {
    let mut b = buf.copy();
    {
        let m = b.make_mut();
        let sub = |t: Option<gst::ClockTime>| {
            t.map(|t| gst::ClockTime::from_nseconds(t.nseconds().saturating_sub(offset)))
        };
        let (pts, dts) = (sub(buf.pts()), sub(buf.dts()));
        m.set_pts(pts);
        m.set_dts(dts);
    }
    b
}

impl ObjectImpl for RpiCircularSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("File to write on each trigger: a printf pattern with the file index (%d, %05d), e.g. event%05d.mp4")
                    .default_value(Some(DEFAULT_LOCATION))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("pre-duration")
                    .nick("Pre-trigger duration")
                    .blurb("Video kept before a trigger, ns: the file starts at the key frame at or before the trigger minus this (rpicam-vid --circular, Picamera2 CircularOutput2 buffer_duration_ms)")
                    .default_value(DEFAULT_PRE_NS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("post-duration")
                    .nick("Post-trigger duration")
                    .blurb("Video written after the last trigger, ns")
                    .default_value(DEFAULT_POST_NS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("max-size-bytes")
                    .nick("Maximum ring size")
                    .blurb("Bytes the ring may hold; over it, whole groups of pictures are dropped from its start (the memory bound)")
                    .minimum(1)
                    .default_value(DEFAULT_MAX_BYTES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("fragment-duration")
                    .nick("Fragment duration")
                    .blurb("mp4mux fragment-duration of the files, ms: a power cut loses at most the last fragment")
                    .minimum(1)
                    .maximum(600_000)
                    .default_value(DEFAULT_FRAGMENT_MS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("index")
                    .nick("File index")
                    .blurb("Index of the next file in location")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("ring-bytes")
                    .nick("Ring bytes")
                    .blurb("Bytes the ring holds now (at most max-size-bytes)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("ring-duration")
                    .nick("Ring duration")
                    .blurb("Running time from the ring's first buffer (a key frame) to its last, ns")
                    .read_only()
                    .build(),
                glib::ParamSpecBoolean::builder("recording")
                    .nick("Recording")
                    .blurb("A file is being written (a trigger now extends it)")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                // Writes the ring and the next post-duration to a file (or extends the file
                // being written); false when there is nothing to record yet.
                glib::subclass::Signal::builder("trigger")
                    .action()
                    .return_type::<bool>()
                    .class_handler(|args| {
                        let obj = args[0]
                            .get::<super::RpiCircularSink>()
                            .expect("signal emitted on the element");
                        Some(obj.imp().trigger().to_value())
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = lock(&self.settings);
        match pspec.name() {
            "location" => {
                let l: Option<String> = value.get().expect("type checked upstream");
                let l = l.unwrap_or_else(|| DEFAULT_LOCATION.into());
                if let Err(e) = format_location(&l, 0) {
                    drop(s);
                    gst::element_imp_warning!(
                        self,
                        gst::LibraryError::Settings,
                        ("{}; ignored", e)
                    );
                    return;
                }
                s.location = l;
            }
            "pre-duration" => s.pre_ns = value.get().expect("type checked upstream"),
            "post-duration" => s.post_ns = value.get().expect("type checked upstream"),
            "max-size-bytes" => s.max_bytes = value.get().expect("type checked upstream"),
            "fragment-duration" => s.fragment_ms = value.get().expect("type checked upstream"),
            "index" => s.index = value.get().expect("type checked upstream"),
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "ring-bytes" => lock(&self.state).ring.bytes().to_value(),
            "ring-duration" => lock(&self.state).ring.duration().to_value(),
            "recording" => lock(&self.state).recording.is_some().to_value(),
            name => {
                let s = lock(&self.settings);
                match name {
                    "location" => s.location.to_value(),
                    "pre-duration" => s.pre_ns.to_value(),
                    "post-duration" => s.post_ns.to_value(),
                    "max-size-bytes" => s.max_bytes.to_value(),
                    "fragment-duration" => s.fragment_ms.to_value(),
                    "index" => s.index.to_value(),
                    _ => pspec.default_value().clone(),
                }
            }
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        if let Err(e) = obj.add_pad(&self.sinkpad) {
            gst::error!(CAT, imp = self, "cannot add the sink pad: {e}");
        }
        obj.set_element_flags(gst::ElementFlags::SINK);
    }
}

impl GstObjectImpl for RpiCircularSink {}

impl ElementImpl for RpiCircularSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Pre-trigger circular recorder",
                "Sink/Video",
                "Keeps the last seconds of encoded video in a memory-bounded ring and, on a \
                 trigger, writes them and the following seconds to a fragmented MP4 \
                 (rpicam-vid --circular, Picamera2 CircularOutput2)",
                "rpicamsrc2 developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::builder("video/x-h264")
                .field("stream-format", gst::List::new(["avc", "avc3"]))
                .field("alignment", "au")
                .build();
            vec![gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &caps,
            )
            .expect("static template caps are valid")]
        });
        PAD_TEMPLATES.as_ref()
    }

    fn send_event(&self, event: gst::Event) -> bool {
        let is_trigger = event.structure().is_some_and(|s| s.name() == TRIGGER_EVENT);
        if is_trigger {
            return self.trigger();
        }
        self.parent_send_event(event)
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            *lock(&self.state) = State::default();
        }
        let res = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            self.teardown();
            *lock(&self.state) = State::default();
        }
        Ok(res)
    }
}

impl BinImpl for RpiCircularSink {
    fn handle_message(&self, msg: gst::Message) {
        if let gst::MessageView::Eos(_) = msg.view() {
            if let Some(src) = msg.src() {
                let ours = lock(&self.state)
                    .closing
                    .iter()
                    .any(|b| b.filesink.upcast_ref::<gst::Object>() == src);
                if ours {
                    // A file is complete; not the end of the stream.
                    self.file_closed(src);
                    return;
                }
            }
        }
        self.parent_handle_message(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::format_location;

    #[test]
    fn locations_take_the_index() {
        assert_eq!(format_location("ev%05d.mp4", 3).unwrap(), "ev00003.mp4");
        assert_eq!(format_location("ev%d.mp4", 12).unwrap(), "ev12.mp4");
        assert_eq!(format_location("100%%-%d.mp4", 1).unwrap(), "100%-1.mp4");
        assert_eq!(format_location("fixed.mp4", 7).unwrap(), "fixed.mp4");
        let e = format_location("ev%s.mp4", 1).unwrap_err();
        assert!(e.contains("ev%s.mp4"), "{e}");
        assert!(format_location("%d-%d", 1).is_err());
    }
}
