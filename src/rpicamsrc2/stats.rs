// SPDX-License-Identifier: MPL-2.0
//! Statistics: each pad's counters and the `statistics` property's structure.
//!
//! The structure `rpicamsrc2-statistics` has, per pad (prefixed `lores-` and `raw-` for those
//! pads, none for `src`):
//!
//! - `frames-pushed`: buffers pushed downstream successfully.
//! - `frames-dropped`: frames the camera captured that this pad should have delivered (each
//!   frame at the pad's rate, see the decimation in `negotiate.rs`) and did not, for any
//!   reason: the camera had no free buffer for the stream (downstream holds them all; counted
//!   as it happens, not only when the next frame arrives), a frame that failed, a gap in the
//!   sensor's sequence, a buffer that could not be wrapped, a push that failed (downstream
//!   flushing, not linked, an error), a frame queued on the pad and discarded (caps changed,
//!   the stream stopped). While streaming, `frames-pushed + frames-dropped` is the number of
//!   frames the pad wanted, less those still queued on it. Frames hidden at the camera's start
//!   (the sensor's settling frames) are never the pad's. A real camera (libcamera) reports a
//!   frame lost for want of a buffer only when the next frame shows the gap in the sequence.
//! - `frames-copied`: frames copied for a downstream that cannot take the camera's strides
//!   (no video meta); they are also counted in `frames-pushed`.
//!
//! and the camera's, over all its streams:
//!
//! - `frames-captured`: frames the sensor produced since the camera started, hidden ones
//!   included.
//! - `frames-without-buffer`: frames lost for every stream at once because each stream's
//!   buffers were all held downstream (a subset of each such pad's `frames-dropped`).
//! - `render-cpu-ns`: CPU time the simulation spent rendering, ns (0 for real cameras).
//! - `sensor-mode`: `W:H:bit-depth` in use, empty before the camera is configured.
//!
//! The properties `frames-dropped`, `lores-frames-dropped` and `raw-frames-dropped` are the
//! pads' `frames-dropped`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::camera::{CameraStats, SensorMode, StreamRole};

/// One pad's counters since its stream started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PadStats {
    /// Buffers pushed downstream.
    pub pushed: u64,
    /// Frames the pad should have delivered and did not, for any reason (see the module
    /// documentation).
    pub dropped: u64,
    /// Frames copied for a downstream that cannot take the camera's strides.
    pub copied: u64,
}

/// A pad's counters, updated by the capture thread and the pad's task without a lock.
#[derive(Debug)]
pub(super) struct PadCounters {
    pushed: AtomicU64,
    dropped: AtomicU64,
    copied: AtomicU64,
    /// The camera's count of frames this stream had no buffer for
    /// ([`CameraStats::stream_without_buffer`]) when the pad was last offered a frame
    /// (`u64::MAX`: not yet). The frames the camera counts after it are lost too, although the
    /// pad learns of them only from the next frame's sequence.
    camera_missed_seen: AtomicU64,
}

impl Default for PadCounters {
    fn default() -> Self {
        Self {
            pushed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            copied: AtomicU64::new(0),
            camera_missed_seen: AtomicU64::new(u64::MAX),
        }
    }
}

impl PadCounters {
    /// The counters the pad has seen (frames lost since its last frame not included).
    pub fn get(&self) -> PadStats {
        PadStats {
            pushed: self.pushed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            copied: self.copied.load(Ordering::Relaxed),
        }
    }

    /// The counters now, for the stream `role` of a camera whose counters are `camera`: the
    /// frames the camera had no buffer for since the pad's last frame are dropped too.
    pub fn now(&self, role: StreamRole, camera: &CameraStats) -> PadStats {
        let mut s = self.get();
        let seen = self.camera_missed_seen.load(Ordering::Relaxed);
        if seen != u64::MAX {
            s.dropped += camera.stream_without_buffer[role as usize].saturating_sub(seen);
        }
        s
    }

    /// The camera's count of frames without a buffer for this stream, `missed`, read when the
    /// pad was offered its latest frame: the frames it counts later are not yet the pad's.
    pub fn saw_camera_missed(&self, missed: u64) {
        self.camera_missed_seen.store(missed, Ordering::Relaxed);
    }

    /// The pad's stream ended (EOS): the frames the camera misses after the pad's last frame
    /// are no longer the pad's.
    pub fn end_of_stream(&self) {
        self.camera_missed_seen.store(u64::MAX, Ordering::Relaxed);
    }

    /// Back to zero (a new stream).
    pub fn reset(&self) {
        for c in [&self.pushed, &self.dropped, &self.copied] {
            c.store(0, Ordering::Relaxed);
        }
        self.camera_missed_seen.store(u64::MAX, Ordering::Relaxed);
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
/// pad's counters (read with the same `camera`, see [`PadCounters::now`]), main first.
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
