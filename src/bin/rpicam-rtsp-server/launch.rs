// SPDX-License-Identifier: MPL-2.0
//! The launch lines of `rpicam-rtsp-server`'s camera mount: the default one and the low-latency
//! one (`--low-latency`). The benchmark suite (row `rtp`) builds its server from this same file,
//! so what it measures is what the server serves.

/// What the camera mount serves.
#[derive(Debug, Clone)]
pub struct Mount<'a> {
    /// rpicamsrc2 `camera-name` (e.g. `sim:imx477`); `None` = the first camera.
    pub camera_name: Option<&'a str>,
    /// Frame size, pixels.
    pub width: u32,
    pub height: u32,
    /// Frames per second.
    pub framerate: u32,
    /// H.264 bitrate, bits/s (0 = rpih264enc's automatic bitrate).
    pub bitrate: u32,
    /// The low-latency configuration (see [`launch`]).
    pub low_latency: bool,
}

/// Key-frame interval of the low-latency configuration, frames: half a second, so that a
/// client that joins or loses a packet shows a picture again within 0.5 s.
pub fn low_latency_iperiod(framerate: u32) -> u32 {
    (framerate / 2).max(1)
}

/// The launch line (without the parentheses the media factory wants), payloader `pay0`.
///
/// Default: camera ! rpih264enc (SPS/PPS with every IDR, one IDR a second) ! h264parse !
/// rtph264pay with SPS/PPS before every IDR.
///
/// Low latency (rpicam-vid `--low-latency`'s goals, docs/latency.md): a leaky one-buffer queue
/// between camera and encoder (a frame the encoder cannot take yet is dropped, the newest one
/// waits: latency never builds up behind a slow encoder), `profile=baseline` (no B-frames, so
/// no frame reordering whatever the engine), an IDR every half second with SPS/PPS inline, no
/// h264parse (the encoder's output is already one access unit per buffer), and
/// `aggregate-mode=zero-latency` on the payloader (SPS/PPS go out in the IDR's STAP-A at once,
/// nothing waits for the next frame).
pub fn launch(m: &Mount) -> String {
    let camera = m
        .camera_name
        .map(|c| format!(" camera-name=\"{}\"", c.replace('"', "")))
        .unwrap_or_default();
    let (w, h, r, b) = (m.width, m.height, m.framerate, m.bitrate);
    if m.low_latency {
        format!(
            "rpicamsrc2{camera} ! video/x-raw,width={w},height={h},framerate={r}/1 \
             ! queue max-size-buffers=1 max-size-bytes=0 max-size-time=0 leaky=downstream \
             ! rpih264enc name=enc profile=baseline inline-headers=true iperiod={i} bitrate={b} \
             ! rtph264pay name=pay0 pt=96 config-interval=-1 aggregate-mode=zero-latency",
            i = low_latency_iperiod(r),
        )
    } else {
        format!(
            "rpicamsrc2{camera} ! video/x-raw,width={w},height={h},framerate={r}/1 \
             ! rpih264enc name=enc inline-headers=true iperiod={r} bitrate={b} ! h264parse \
             ! rtph264pay name=pay0 pt=96 config-interval=-1"
        )
    }
}

/// The low-latency configuration's network sinks: every sink gst-rtsp-server adds to `media`'s
/// pipeline for RTP (`multiudpsink`, `appsink` for RTP over TCP) gets `sync=false`, so a frame's
/// packets leave as soon as it is encoded instead of when the clock reaches its capture time
/// plus the pipeline's declared latency (one frame for rpicamsrc2's readout, plus 2 frames for
/// the V4L2 encoder: 100 ms at 30 fps whatever the real encode time). Call it from the
/// factory's `media-configure` handler (the sinks are added later, when the media is
/// prepared and when clients set up).
pub fn unsync_network_sinks(media: &gst_rtsp_server::RTSPMedia) {
    use gst::prelude::*;
    use gst_rtsp_server::prelude::*;
    let Some(pipeline) = media
        .element()
        .parent()
        .and_then(|p| p.downcast::<gst::Bin>().ok())
    else {
        return;
    };
    pipeline.connect_deep_element_added(|_, _, e| {
        let factory = e.factory().map(|f| f.name()).unwrap_or_default();
        if factory == "multiudpsink" || factory == "appsink" {
            e.set_property("sync", false);
        }
    });
}
