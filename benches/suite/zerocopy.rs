// SPDX-License-Identifier: MPL-2.0
//! Row 2: bytes of pixel data the element copies per frame on src and lores, measured two
//! independent ways: the element's own counters (`frames-copied` per pad, incremented where a
//! copy is made) times the frame size, and memory identity seen downstream (every buffer's
//! memory is the wrapped camera memory, not GStreamer system memory, and the distinct data
//! addresses over many frames are no more than the camera's buffers). A control case that
//! must copy (a downstream without GstVideoMeta and a width whose ISP stride differs) shows
//! the instrumentation does see copies.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gst::prelude::*;

use crate::util;

/// What one pad delivered.
#[derive(Debug, Clone, Default)]
pub struct PadResult {
    pub pad: &'static str,
    pub caps: String,
    pub pushed: u64,
    pub copied: u64,
    pub frame_bytes: usize,
    pub distinct_addresses: usize,
    /// Memory types seen downstream (GstAllocator mem_type) and how often.
    pub mem_types: BTreeMap<String, u64>,
}

impl PadResult {
    /// Pixel bytes the element copied per pushed frame.
    pub fn bytes_per_frame(&self) -> f64 {
        self.copied as f64 * self.frame_bytes as f64 / self.pushed.max(1) as f64
    }

    /// Memory identity: only the camera's wrapped memory, recycled through at most
    /// `buffer_count` addresses.
    pub fn identity_holds(&self, buffer_count: usize) -> bool {
        self.distinct_addresses <= buffer_count
            && self.pushed > 0
            && self.mem_types.keys().all(|t| t != "SystemMemory")
    }
}

/// One case: a launch line and its pads.
pub struct CaseResult {
    pub name: &'static str,
    pub downstream: &'static str,
    pub buffer_count: usize,
    pub pads: Vec<PadResult>,
    /// Whether this case is the control that must copy.
    pub control: bool,
}

type Seen = Arc<Mutex<(BTreeSet<usize>, BTreeMap<String, u64>, Option<gst::Caps>)>>;

fn watch(p: &gst::Pipeline, sink: &str) -> Seen {
    let seen: Seen = Default::default();
    let s = seen.clone();
    let pad = util::element(p, sink).static_pad("sink").expect("sink pad");
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if let Some(b) = info.buffer() {
            let mem = b.peek_memory(0);
            // The element wraps camera memory with gst::Memory::from_slice (the Rust wrapper
            // allocator); its copies are GStreamer system memory.
            let ty = if mem.is_type("RustGlobalAllocatorMemory") {
                "wrapped"
            } else if mem.is_type("SystemMemory") {
                "SystemMemory"
            } else {
                "other"
            }
            .to_string();
            let addr = mem.map_readable().map(|m| m.as_ptr() as usize).unwrap_or(0);
            let mut g = s.lock().unwrap();
            g.0.insert(addr);
            *g.1.entry(ty).or_insert(0) += 1;
            if g.2.is_none() {
                g.2 = pad.current_caps();
            }
        }
        gst::PadProbeReturn::Ok
    });
    seen
}

fn run_case(
    name: &'static str,
    downstream: &'static str,
    main: &str,
    lores: Option<&str>,
    frames: u64,
    control: bool,
) -> Result<CaseResult, String> {
    let buffer_count = 6;
    let lores_branch = lores
        .map(|c| format!(" cam.lores ! {c} ! {downstream} name=l"))
        .unwrap_or_default();
    let p = util::pipeline(&format!(
        "rpicamsrc2 name=cam camera-name=sim:imx219 buffer-count={buffer_count} num-buffers={frames} \
         {} cam.src ! {main} ! {downstream} name=m{lores_branch}",
        crate::cost::STATIC_SCENE
    ));
    let mut watched = vec![("src", "", watch(&p, "m"))];
    if lores.is_some() {
        watched.push(("lores", "lores-", watch(&p, "l")));
    }
    util::play_to_eos(&p, Duration::from_secs(30))?;
    let cam = util::element(&p, "cam");
    let mut pads = Vec::new();
    for (pad, prefix, seen) in watched {
        let g = seen.lock().unwrap();
        let caps = g.2.clone().ok_or(format!("{name}: no caps on {pad}"))?;
        let info = gst_video::VideoInfo::from_caps(&caps).map_err(|e| e.to_string())?;
        pads.push(PadResult {
            pad,
            caps: format!(
                "{} {}x{}",
                info.format().to_str(),
                info.width(),
                info.height()
            ),
            pushed: util::stat(&cam, &format!("{prefix}frames-pushed")),
            copied: util::stat(&cam, &format!("{prefix}frames-copied")),
            frame_bytes: info.size(),
            distinct_addresses: g.0.len(),
            mem_types: g.1.clone(),
        });
    }
    Ok(CaseResult {
        name,
        downstream,
        buffer_count,
        pads,
        control,
    })
}

/// Runs the cases with `frames` main frames each.
pub fn run(frames: u64) -> Vec<Result<CaseResult, String>> {
    vec![
        run_case(
            "1080p main + 640x360 lores, downstream takes GstVideoMeta",
            "fakevideosink",
            "video/x-raw,format=NV12,width=1920,height=1080,framerate=30/1",
            Some("video/x-raw,format=NV12,width=640,height=360"),
            frames,
            false,
        ),
        run_case(
            "640x480 main + 320x240 lores, downstream without GstVideoMeta",
            "fakesink",
            "video/x-raw,format=NV12,width=640,height=480,framerate=60/1",
            Some("video/x-raw,format=NV12,width=320,height=240"),
            frames,
            false,
        ),
        run_case(
            "control: I420 1000x750 (ISP stride 1024), downstream without GstVideoMeta",
            "fakesink",
            "video/x-raw,format=I420,width=1000,height=750,framerate=30/1",
            None,
            frames.min(30),
            true,
        ),
    ]
}
