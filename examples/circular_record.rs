// SPDX-License-Identifier: MPL-2.0
//! Pre-trigger recording from the command line (rpicam-vid `--circular` with `--signal`):
//! the camera is encoded into `rpicircularsink`'s ring, and each SIGUSR1 writes the ring and
//! the following seconds to the next file.
//!
//! ```text
//! cargo run --example circular_record -- [--location event%05d.mp4] [--camera-name sim:imx219]
//!     [--pre-ms 2000] [--post-ms 2000] [--frames -1]
//! kill -USR1 <pid>      # one event; again while writing extends it
//! ```
//!
//! It prints `ready pid=<pid>` once recording into the ring, `trigger accepted=<bool>` for each
//! SIGUSR1, `started location=... trigger=<ns> start=<ns>` and `done location=... start=<ns>
//! end=<ns> buffers=<n>` for each file. SIGINT (Ctrl-C) or `--frames` ends the stream: a file
//! being written is closed first. Exits with status 1 on a pipeline error. Uses the installed
//! plugin (or GST_PLUGIN_PATH); when there is none, it registers the one built into this crate.

use std::process::ExitCode;

use gst::glib;
use gst::prelude::*;

struct Options {
    location: String,
    camera_name: String,
    pre_ms: u64,
    post_ms: u64,
    frames: i64,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        location: "event%05d.mp4".into(),
        camera_name: "sim:imx219".into(),
        pre_ms: 2000,
        post_ms: 2000,
        frames: -1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--location" => o.location = value,
            "--camera-name" => o.camera_name = value,
            "--pre-ms" => o.pre_ms = value.parse().map_err(|e| bad(&e))?,
            "--post-ms" => o.post_ms = value.parse().map_err(|e| bad(&e))?,
            "--frames" => o.frames = value.parse().map_err(|e| bad(&e))?,
            _ => {
                return Err(format!(
                    "unknown option {flag}; options: --location --camera-name --pre-ms \
                     --post-ms --frames"
                ))
            }
        }
    }
    Ok(o)
}

fn run(o: &Options) -> Result<(), String> {
    gst::init().map_err(|e| e.to_string())?;
    if gst::ElementFactory::find("rpicircularsink").is_none() {
        gstrpicamsrc2::plugin_register_static().map_err(|e| e.to_string())?;
    }
    let desc = format!(
        "rpicamsrc2 camera-name={} num-buffers={} \
         ! video/x-raw,width=640,height=480,framerate=30/1 \
         ! rpih264enc bitrate=1000000 iperiod=15 ! h264parse \
         ! rpicircularsink name=ring pre-duration={} post-duration={} fragment-duration=500",
        o.camera_name,
        o.frames,
        o.pre_ms * 1_000_000,
        o.post_ms * 1_000_000
    );
    let pipeline = gst::parse::launch(&desc)
        .map_err(|e| format!("{e}: {desc}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    let ring = pipeline.by_name("ring").ok_or("no ring")?;
    // Set as a property, not in the launch line: the pattern's % would need no quoting there,
    // but a path with spaces would.
    ring.set_property("location", &o.location);
    let main_loop = glib::MainLoop::new(None, false);
    let weak = ring.downgrade();
    let _usr1 = glib_unix::unix_signal_add(libc::SIGUSR1, move || {
        if let Some(ring) = weak.upgrade() {
            let ok = ring.emit_by_name::<bool>("trigger", &[]);
            println!("trigger accepted={ok}");
        }
        glib::ControlFlow::Continue
    });
    let weak = pipeline.downgrade();
    let _int = glib_unix::unix_signal_add(libc::SIGINT, move || {
        if let Some(p) = weak.upgrade() {
            p.send_event(gst::event::Eos::new());
        }
        glib::ControlFlow::Continue
    });
    let failed = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let bus = pipeline.bus().ok_or("no bus")?;
    let l = main_loop.clone();
    let f = failed.clone();
    let _watch = bus
        .add_watch(move |_, msg| {
            match msg.view() {
                gst::MessageView::Eos(_) => l.quit(),
                gst::MessageView::Error(e) => {
                    *f.lock().unwrap() = Some(format!("{} ({:?})", e.error(), e.debug()));
                    l.quit();
                }
                gst::MessageView::Element(e) => {
                    let s = e.structure().expect("element messages have one");
                    let ns = |k: &str| s.get::<u64>(k).unwrap_or(0);
                    let loc = s.get::<String>("location").unwrap_or_default();
                    match s.name().as_str() {
                        "rpicircularsink-started" => println!(
                            "started location={loc} trigger={} start={}",
                            ns("trigger-running-time"),
                            ns("start-running-time")
                        ),
                        "rpicircularsink-done" => println!(
                            "done location={loc} start={} end={} buffers={}",
                            ns("start-running-time"),
                            ns("end-running-time"),
                            ns("buffers")
                        ),
                        _ => {}
                    }
                }
                gst::MessageView::StateChanged(s)
                    if msg.src().is_some_and(|o| o.is::<gst::Pipeline>())
                        && s.current() == gst::State::Playing =>
                {
                    println!("ready pid={}", std::process::id());
                }
                _ => {}
            }
            glib::ControlFlow::Continue
        })
        .map_err(|e| e.to_string())?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start: {e}"))?;
    main_loop.run();
    let _ = pipeline.set_state(gst::State::Null);
    let failed = failed.lock().unwrap().take();
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn main() -> ExitCode {
    let o = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("circular_record: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("circular_record: {e}");
            ExitCode::FAILURE
        }
    }
}
