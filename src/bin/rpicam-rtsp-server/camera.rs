// SPDX-License-Identifier: MPL-2.0
//! One camera pipeline feeding several mounts (`--lores-mount`) and a recording (`--record`).
//!
//! Design: GStreamer's RTSP server builds one pipeline per shared media, and a media belongs
//! to one mount; two mounts cannot share one `rpicamsrc2`. So the camera lives in a pipeline of
//! its own, built once at start and run until the server stops (the camera is opened exactly
//! once): `rpicamsrc2` with its `src` pad (main) and `lores` request pad, each encoded by
//! `rpih264enc` and parsed, ends in an appsink; the main branch may also tee into a fragmented
//! MP4 file. Each mount's media is `appsrc ! h264parse ! rtph264pay`: when a media is
//! configured, its appsrc is registered with the stream it serves, and every encoded buffer of
//! that stream is pushed to each registered appsrc (timestamps cleared, so the appsrc stamps
//! them with its own pipeline's running time). Fragmented MP4 keeps the recording readable up
//! to its last fragment even if the server is killed; on SIGINT/SIGTERM the camera pipeline gets
//! EOS so the file is finished properly.

use std::sync::{Arc, Mutex};

use crate::lock;
use gst::glib;
use gst::prelude::*;

/// The appsrcs of the medias that currently serve one encoded stream. (The appsink and
/// appsrc are driven through their signals and properties: the crate depends on no
/// gstreamer-app bindings.)
#[derive(Default)]
pub struct Fanout(Mutex<Vec<glib::WeakRef<gst::Element>>>);

impl Fanout {
    /// Adds the appsrc of a newly configured media.
    pub fn attach(&self, src: &gst::Element) {
        lock(&self.0).push(src.downgrade());
    }

    /// Pushes `sample` to every live appsrc, forgetting the ones that are gone or refuse.
    fn push(&self, sample: &gst::Sample) {
        let (Some(buffer), caps) = (sample.buffer(), sample.caps_owned()) else {
            return;
        };
        let mut buf = buffer.copy();
        {
            let b = buf.make_mut();
            b.set_pts(gst::ClockTime::NONE);
            b.set_dts(gst::ClockTime::NONE);
        }
        lock(&self.0).retain(|w| {
            let Some(src) = w.upgrade() else {
                return false;
            };
            if src.property::<Option<gst::Caps>>("caps") != caps {
                src.set_property("caps", caps.as_ref());
            }
            src.emit_by_name::<gst::FlowReturn>("push-buffer", &[&buf]) == gst::FlowReturn::Ok
        });
    }
}

/// The launch line of a mount served from a [`Fanout`].
pub const MOUNT_LAUNCH: &str = "( appsrc name=src is-live=true do-timestamp=true format=time \
     ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )";

/// What the camera pipeline makes.
pub struct Spec<'a> {
    pub camera_name: Option<&'a str>,
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    pub bitrate: u32,
    /// Lores size, when a lores mount is served.
    pub lores: Option<(u32, u32)>,
    /// Fragmented MP4 recording of the main stream.
    pub record: Option<&'a std::path::Path>,
}

/// The launch line of the camera pipeline for `spec`.
pub fn launch(spec: &Spec) -> String {
    let camera = spec
        .camera_name
        .map(|c| format!(" camera-name=\"{}\"", c.replace('"', "")))
        .unwrap_or_default();
    let r = spec.framerate;
    let mut l = format!(
        "rpicamsrc2 name=cam{camera} cam.src ! video/x-raw,width={w},height={h},framerate={r}/1 \
         ! queue ! rpih264enc inline-headers=true iperiod={r} bitrate={b} ! h264parse \
         ! tee name=main ! queue ! appsink name=main_sink sync=false",
        w = spec.width,
        h = spec.height,
        b = spec.bitrate,
    );
    if let Some(path) = spec.record {
        l.push_str(&format!(
            " main. ! queue ! mp4mux fragment-duration=1000 ! filesink location=\"{}\"",
            path.display().to_string().replace('"', "")
        ));
    }
    if let Some((w, h)) = spec.lores {
        l.push_str(&format!(
            " cam.lores ! video/x-raw,width={w},height={h},framerate={r}/1 ! queue \
             ! rpih264enc inline-headers=true iperiod={r} ! h264parse \
             ! appsink name=lores_sink sync=false"
        ));
    }
    l
}

/// The running camera pipeline and the fan-outs of its streams.
pub struct Camera {
    pub pipeline: gst::Pipeline,
    /// Its launch line.
    pub launch: String,
    pub main: Arc<Fanout>,
    pub lores: Arc<Fanout>,
}

impl Camera {
    /// Builds and starts the camera pipeline.
    ///
    /// Errors: the launch line does not parse, or the pipeline cannot start (the message
    /// names the reason).
    pub fn start(spec: &Spec) -> Result<Camera, String> {
        let desc = launch(spec);
        let pipeline = gst::parse::launch(&desc)
            .map_err(|e| format!("camera pipeline does not parse: {e}\n  launch: {desc}"))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "camera pipeline is not a pipeline".to_string())?;
        let main = Arc::new(Fanout::default());
        let lores = Arc::new(Fanout::default());
        for (name, fan) in [("main_sink", &main), ("lores_sink", &lores)] {
            let Some(sink) = pipeline.by_name(name) else {
                continue;
            };
            let fan = fan.clone();
            sink.set_property("emit-signals", true);
            sink.connect("new-sample", false, move |values| {
                let sink = values[0].get::<gst::Element>().ok()?;
                if let Some(sample) = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[]) {
                    fan.push(&sample);
                }
                Some(gst::FlowReturn::Ok.to_value())
            });
        }
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            // The element's error message says why (e.g. no such camera).
            let why = pipeline
                .bus()
                .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
                .and_then(|m| match m.view() {
                    gst::MessageView::Error(err) => Some(err.error().to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| e.to_string());
            let _ = pipeline.set_state(gst::State::Null);
            return Err(format!(
                "camera pipeline cannot start: {why}\n  launch: {desc}"
            ));
        }
        eprintln!("rpicam-rtsp-server: camera opened (one pipeline for every mount)");
        Ok(Camera {
            pipeline,
            launch: desc,
            main,
            lores,
        })
    }

    /// Sends EOS and waits (5 s at most) for it to reach the sinks, so that a recording is
    /// finished; then stops the pipeline.
    pub fn stop(&self) {
        self.pipeline.send_event(gst::event::Eos::new());
        if let Some(bus) = self.pipeline.bus() {
            let _ = bus.timed_pop_filtered(
                gst::ClockTime::from_seconds(5),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            );
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        eprintln!("rpicam-rtsp-server: camera closed");
    }
}
