// SPDX-License-Identifier: MPL-2.0
//! Statistics: each pad's counters and the `statistics` property's structure.
//!
//! The structure `rpicamsrc2-statistics` has, per pad, `frames-pushed`, `frames-dropped` and
//! `frames-copied` (prefixed `lores-` and `raw-` for those pads; copies are made for a
//! downstream without video meta), and the camera's `frames-captured`,
//! `frames-without-buffer`, `render-cpu-ns` (simulation) and `sensor-mode` (`W:H:bit-depth`
//! in use, empty before the camera is configured).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::camera::{CameraStats, SensorMode, StreamRole};

/// One pad's counters since its stream started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PadStats {
    /// Buffers pushed downstream.
    pub pushed: u64,
    /// Frames the pad should have had and did not: sequence gaps, failed frames, no free camera
    /// buffer, a buffer that could not be wrapped.
    pub dropped: u64,
    /// Frames copied for a downstream that cannot take the camera's strides.
    pub copied: u64,
}

/// A pad's counters, updated by the capture thread and the pad's task without a lock.
#[derive(Debug, Default)]
pub(super) struct PadCounters {
    pushed: AtomicU64,
    dropped: AtomicU64,
    copied: AtomicU64,
}

impl PadCounters {
    /// The counters now.
    pub fn get(&self) -> PadStats {
        PadStats {
            pushed: self.pushed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            copied: self.copied.load(Ordering::Relaxed),
        }
    }

    /// Back to zero (a new stream).
    pub fn reset(&self) {
        for c in [&self.pushed, &self.dropped, &self.copied] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// One buffer pushed.
    pub fn add_pushed(&self) {
        self.pushed.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` frames lost.
    pub fn add_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// One frame copied.
    pub fn add_copied(&self) {
        self.copied.fetch_add(1, Ordering::Relaxed);
    }
}

/// The `statistics` structure for the camera's counters `camera`, the `mode` in use and each
/// pad's counters, main first.
pub(super) fn structure(
    camera: CameraStats,
    mode: Option<&SensorMode>,
    pads: impl IntoIterator<Item = (StreamRole, PadStats)>,
) -> gst::Structure {
    let mut b = gst::Structure::builder("rpicamsrc2-statistics")
        .field("frames-captured", camera.frames_captured)
        .field("frames-without-buffer", camera.frames_without_buffer)
        .field("render-cpu-ns", camera.render_cpu_ns)
        .field(
            "sensor-mode",
            mode.map(|m| format!("{}:{}:{}", m.size.width, m.size.height, m.bit_depth))
                .unwrap_or_default(),
        );
    for (role, p) in pads {
        let prefix = match role {
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
