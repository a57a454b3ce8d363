// SPDX-License-Identifier: MPL-2.0
//! Defects found by trying to break the elements (issue 16), each kept fixed by a test:
//! nested arrays on array properties, a lores pad requested while PLAYING, `sim-image` on a
//! FIFO, a device or a huge image, and frames lost while downstream holds every buffer.

mod common;
#[path = "common/child.rs"]
mod child;

use std::process::Command;
use std::time::{Duration, Instant};

use gst::prelude::*;

/// The array properties and a nested value for each that GStreamer 1.22's deserializer used to
/// crash on (SIGSEGV in `gst_value_deserialize_with_pspec`).
const NESTED: [(&str, &str); 5] = [
    ("colour-gains", "<<1,2>>"),
    ("scaler-crop", "<<1,2>>"),
    ("colour-correction-matrix", "<<1,2>>"),
    ("af-windows", "<<<1,2>>>"),
    ("af-windows", "<<1,2>>"),
];

#[test]
fn nested_arrays_are_refused_with_a_clear_warning() {
    common::init();
    for (name, value) in NESTED {
        let bus = common::run_to_end(
            &format!(
                "rpicamsrc2 camera-name=sim:imx219 {name}=\"{value}\" num-buffers=3 \
                 ! video/x-raw,width=320,height=240 ! fakesink"
            ),
            Duration::from_secs(20),
        );
        assert!(bus.errors.is_empty(), "{name}={value}: {:?}", bus.errors);
        assert!(bus.eos, "{name}={value}: no EOS");
        let w = bus.warnings.join("\n");
        assert!(
            w.contains(name) && w.contains("ignored"),
            "{name}={value}: {w}"
        );
    }
    // Well-formed values still parse, with numbers written as integers or decimals.
    let p = gst::parse::launch(
        "rpicamsrc2 name=c colour-gains=\"<1.5,2>\" scaler-crop=\"<0,0,640,480>\" \
         af-windows=\"<<1,2,30,40>,<5,6,70,80>>\" ! fakesink",
    )
    .unwrap()
    .downcast::<gst::Bin>()
    .unwrap();
    let c = p.by_name("c").unwrap();
    let g = c.property::<gst::Array>("colour-gains");
    let g: Vec<f32> = g.iter().map(|v| v.get::<f32>().unwrap()).collect();
    assert_eq!(g, vec![1.5, 2.0]);
    let crop = c.property::<gst::Array>("scaler-crop");
    assert_eq!(crop.len(), 4);
    assert_eq!(crop.as_slice()[2].get::<i32>().unwrap(), 640);
    let w = c.property::<gst::Array>("af-windows");
    assert_eq!(w.len(), 2);
    // Out of range: refused, naming the range.
    let bus = common::run_to_end(
        "rpicamsrc2 camera-name=sim:imx219 colour-gains=\"<40,1>\" num-buffers=2 ! fakesink",
        Duration::from_secs(20),
    );
    let w = bus.warnings.join("\n");
    assert!(w.contains("colour-gains") && w.contains("0 to 32"), "{w}");
}

#[test]
fn nested_arrays_do_not_crash_gst_launch() {
    let tmp = tempfile::tempdir().unwrap();
    let plugins = child::plugin_dir(tmp.path()).unwrap();
    for (name, value) in NESTED {
        let (code, out, err) = child::run_limited(
            Command::new("gst-launch-1.0")
                .env("GST_PLUGIN_PATH", &plugins)
                .env("GST_REGISTRY", tmp.path().join("registry.bin"))
                .args([
                    "rpicamsrc2",
                    "camera-name=sim:imx219",
                    &format!("{name}={value}"),
                    "num-buffers=1",
                    "!",
                    "video/x-raw,width=320,height=240",
                    "!",
                    "fakesink",
                ]),
            Duration::from_secs(60),
        )
        .unwrap();
        // Killed by a signal (the crash) or at the time limit gives no exit code.
        assert_eq!(code, Some(0), "{name}={value}: {out}\n{err}");
        let all = format!("{out}{err}");
        assert!(all.contains(name) && all.contains("ignored"), "{all}");
    }
}
