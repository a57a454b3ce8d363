// SPDX-License-Identifier: MPL-2.0
//! Embedding rpicamsrc2 in a Rust application: build a pipeline, change camera controls while
//! it runs, and read each frame's metadata (`RpiCamSrc2FrameMeta`) from the buffers.
//!
//! ```text
//! cargo run --example metadata -- [--camera-name sim:imx219] [--frames 45] [--change-at 15]
//!     [--exposure-time 10000] [--analogue-gain 4.0]
//! ```
//!
//! It prints one line per frame (`frame seq=... exposure_time=... analogue_gain=...`), switches
//! the camera to a manual exposure time and gain at frame `--change-at`, and exits with status 1
//! when a frame has no metadata or the pipeline fails. Uses the installed plugin (or
//! GST_PLUGIN_PATH); when there is none, it registers the one built into this crate.

use std::process::ExitCode;

use gst::prelude::*;

/// Command-line options (kept to std parsing: the point of the example is the GStreamer part).
struct Options {
    camera_name: String,
    frames: u32,
    change_at: u32,
    exposure_time_us: i32,
    analogue_gain: f32,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        camera_name: "sim:imx219".into(),
        frames: 45,
        change_at: 15,
        exposure_time_us: 10_000,
        analogue_gain: 4.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--camera-name" => o.camera_name = value.clone(),
            "--frames" => o.frames = value.parse().map_err(|e| bad(&e))?,
            "--change-at" => o.change_at = value.parse().map_err(|e| bad(&e))?,
            "--exposure-time" => o.exposure_time_us = value.parse().map_err(|e| bad(&e))?,
            "--analogue-gain" => o.analogue_gain = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(o)
}

fn run(o: &Options) -> Result<(), String> {
    gst::init().map_err(|e| format!("GStreamer init: {e}"))?;
    if gst::ElementFactory::find("rpicamsrc2").is_none() {
        eprintln!("metadata: rpicamsrc2 is not installed; using the one built into this crate");
        gstrpicamsrc2::plugin_register_static().map_err(|e| format!("register plugin: {e}"))?;
    }

    // The camera, its main stream at 640x480 30 fps, and an appsink the application reads.
    // sync=false: take frames as they come (the source is live and already paced).
    let desc = format!(
        "rpicamsrc2 name=cam camera-name=\"{}\" \
         ! video/x-raw,width=640,height=480,framerate=30/1 \
         ! appsink name=sink sync=false max-buffers=4",
        o.camera_name
    );
    let pipeline = gst::parse::launch(&desc)
        .map_err(|e| format!("pipeline {desc}: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "the launch line is not a pipeline".to_string())?;
    let cam = pipeline.by_name("cam").ok_or("no element cam")?;
    let sink = pipeline
        .by_name("sink")
        .and_then(|s| s.downcast::<gst_app::AppSink>().ok())
        .ok_or("no appsink sink")?;
    let bus = pipeline.bus().ok_or("pipeline without bus")?;

    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| bus_error(&bus).unwrap_or_else(|| "cannot start the pipeline".into()))?;

    let mut missing = 0u32;
    let mut result = Ok(());
    for n in 0..o.frames {
        if n == o.change_at {
            // Controls can change at any time; they reach the sensor a few frames later
            // (the frame's metadata says when).
            cam.set_property("exposure-time", o.exposure_time_us);
            cam.set_property("analogue-gain", o.analogue_gain);
            println!(
                "set exposure-time={} analogue-gain={} after frame {n}",
                o.exposure_time_us, o.analogue_gain
            );
        }
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) else {
            result = Err(bus_error(&bus)
                .unwrap_or_else(|| format!("no frame after 10 s (frame {n} of {})", o.frames)));
            break;
        };
        let Some(buffer) = sample.buffer() else {
            continue;
        };
        // The typed helper; without this crate, read the GstStructure of
        // gst::meta::CustomMeta::from_buffer(buffer, "RpiCamSrc2FrameMeta") instead.
        match gstrpicamsrc2::rpicamsrc2::meta::frame_metadata(buffer) {
            Some(m) => println!(
                "frame seq={} pts={} exposure_time={} analogue_gain={:.3} digital_gain={:.3} \
                 colour_gains={:.3},{:.3} colour_temperature={} lux={:.1} frame_duration={} \
                 ae_state={}",
                m.sequence,
                buffer.pts().map(|t| t.nseconds()).unwrap_or(0),
                m.exposure_time_us,
                m.analogue_gain,
                m.digital_gain,
                m.colour_gains[0],
                m.colour_gains[1],
                m.colour_temperature_k,
                m.lux,
                m.frame_duration_us,
                m.ae_state.name(),
            ),
            None => {
                missing += 1;
                println!("frame without RpiCamSrc2FrameMeta (pts {:?})", buffer.pts());
            }
        }
    }

    // Stop cleanly: EOS through the pipeline, then NULL.
    pipeline.send_event(gst::event::Eos::new());
    let _ = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(5),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let _ = pipeline.set_state(gst::State::Null);

    result?;
    if missing > 0 {
        return Err(format!("{missing} of {} frames had no metadata", o.frames));
    }
    Ok(())
}

/// The first error message on the bus, if any.
fn bus_error(bus: &gst::Bus) -> Option<String> {
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_mseconds(100),
        &[gst::MessageType::Error],
    )?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(format!("{} ({:?})", e.error(), e.debug())),
        _ => None,
    }
}

fn main() -> ExitCode {
    let result = parse_options().and_then(|o| run(&o));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("metadata: error: {e}");
            ExitCode::FAILURE
        }
    }
}
