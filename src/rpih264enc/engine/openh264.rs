// SPDX-License-Identifier: MPL-2.0
//! The software engine: [`SoftwareEncoder`] (OpenH264) behind [`Engine`]. It maps each input
//! frame and hands OpenH264 its planes; every picture is finished within its own call.

use gst_video::prelude::*;
use gst_video::VideoFormat;

use super::{
    fps_of, raw_caps, Encoded, Engine, EngineConfig, EngineError, Picture, StreamInfo, CAT,
};
use crate::rpih264enc::level::{self, H264Profile};
use crate::rpih264enc::nal;
use crate::rpih264enc::software::{
    bitrate_limits, check_bitrate, Planes, SoftwareConfig, SoftwareEncoder, MAX_THREADS,
};

/// Raw formats OpenH264 is fed (all 4:2:0; semi-planar ones are split into I420 planes).
pub const FORMATS: &[&str] = &["I420", "NV12", "YV12", "NV21"];
/// OpenH264 limit (codec/encoder: at most 4096 wide/high is accepted here; frames are further
/// limited by H.264 level 5.2, 36864 macroblocks).
pub const MAX_DIM: i32 = 4096;
/// Smallest width/height accepted, pixels (one macroblock).
pub const MIN_DIM: i32 = 16;

/// The raw caps the software engine takes.
pub fn sink_caps() -> gst::Caps {
    raw_caps(FORMATS, MIN_DIM, MAX_DIM)
}

/// Whether the software engine takes `format`.
pub fn accepts(format: VideoFormat) -> bool {
    FORMATS.contains(&format.to_str().as_str())
}

/// VUI colour description (H.264 Table E-3/E-4/E-5 codes) from caps colorimetry.
fn vui_colour(info: &gst_video::VideoInfo) -> Option<(u8, u8, u8, bool)> {
    let c = info.colorimetry();
    let prim = c.primaries().to_iso() as u8;
    let transfer = c.transfer().to_iso() as u8;
    let matrix = c.matrix().to_iso() as u8;
    if prim == 0 && transfer == 0 && matrix == 0 {
        return None;
    }
    let or2 = |v: u8| if v == 0 { 2 } else { v };
    Some((
        or2(prim),
        or2(transfer),
        or2(matrix),
        c.range() == gst_video::VideoColorRange::Range0_255,
    ))
}

/// The profile and level OpenH264 wrote in its SPS, read with GStreamer's codec utilities
/// (`gst_codec_utils_h264_get_profile` / `_get_level`). A profile this element does not make
/// reads as `requested`, a level outside H.264 Table A-1 up to 5.2 as 5.2.
fn stream_of(sps: &[u8], requested: H264Profile) -> StreamInfo {
    let profile = gst_pbutils::codec_utils_h264_get_profile(sps)
        .ok()
        .and_then(|p| H264Profile::from_caps_name(&p))
        .unwrap_or(requested);
    let level = gst_pbutils::codec_utils_h264_get_level(sps)
        .ok()
        .and_then(|l| level::level_by_name(&l))
        .map(|l| l.name)
        .unwrap_or("5.2");
    StreamInfo { profile, level }
}

/// The level to give OpenH264: the one asked for, or the next level up whose bitrate limit
/// under OpenH264's factor (MaxBR x 1200, `software::bitrate_limits`) holds the bitrate when
/// the level was chosen with High's factor 1250 (H.264 Table A-2). The caps follow the SPS.
fn openh264_level(cfg: &EngineConfig<'_>) -> u8 {
    let fps = fps_of(cfg.info) as f32;
    if cfg.qp > 0 || bitrate_limits(fps, cfg.level_idc).1 >= cfg.bitrate {
        return cfg.level_idc;
    }
    let from = level::LEVELS
        .iter()
        .position(|l| l.level_idc == cfg.level_idc)
        .unwrap_or(0);
    level::LEVELS[from..]
        .iter()
        .find(|l| bitrate_limits(fps, l.level_idc).1 >= cfg.bitrate)
        .map_or(cfg.level_idc, |l| {
            gst::debug!(
                CAT,
                "level {} for {} bits/s in OpenH264",
                l.name,
                cfg.bitrate
            );
            l.level_idc
        })
}

/// OpenH264 as an [`Engine`].
pub struct Openh264Engine {
    enc: SoftwareEncoder,
    info: gst_video::VideoInfo,
    stream: StreamInfo,
}

impl Engine for Openh264Engine {
    fn configure(
        cfg: &EngineConfig<'_>,
        _warn: &mut dyn FnMut(String),
    ) -> Result<Self, EngineError> {
        let threads = if cfg.threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get() as u16)
                .unwrap_or(1)
        } else {
            cfg.threads as u16
        };
        let info = cfg.info;
        let sw = SoftwareConfig {
            width: info.width(),
            height: info.height(),
            fps: fps_of(info) as f32,
            bitrate: cfg.bitrate,
            cbr: cfg.cbr,
            iperiod: cfg.iperiod,
            profile: cfg.profile,
            level_idc: openh264_level(cfg),
            threads: threads.min(MAX_THREADS),
            qp: cfg.qp,
            inline_headers: cfg.inline_headers,
            complexity: cfg.preset.openh264_complexity(),
            colour: vui_colour(info),
        };
        if sw.qp == 0 {
            // `openh264_level` has raised the level where the bitrate needs it, so only the
            // floor and level 5.2's ceiling are left to fail.
            let top = level::LEVELS[level::LEVELS.len() - 1].level_idc;
            check_bitrate(sw.bitrate, sw.fps, top).map_err(EngineError::Unsupported)?;
        }
        gst::debug!(CAT, "software config {sw:?}");
        let enc = SoftwareEncoder::new(sw)
            .map_err(|e| EngineError::Init(format!("OpenH264 could not start: {e}")))?;
        let sps = nal::sps(enc.headers())
            .ok_or_else(|| EngineError::Encode("OpenH264 wrote no SPS".into()))?;
        let stream = stream_of(sps, cfg.profile);
        Ok(Openh264Engine {
            enc,
            info: info.clone(),
            stream,
        })
    }

    fn name(&self) -> &'static str {
        "openh264"
    }

    fn stream(&self) -> StreamInfo {
        self.stream
    }

    fn latency_frames(&self) -> Option<(u64, u64)> {
        None
    }

    fn set_bitrate(&mut self, bitrate: u32, _warn: &mut dyn FnMut(String)) -> Result<(), String> {
        // While running OpenH264 raises the level itself when the new bitrate needs it, up
        // to 5.2.
        check_bitrate(bitrate, self.enc.config().fps, 52)?;
        self.enc.set_bitrate(bitrate).map_err(|e| e.to_string())
    }

    fn encode(&mut self, picture: Picture<'_>) -> Result<Vec<Encoded>, EngineError> {
        let vframe =
            gst_video::VideoFrameRef::from_buffer_ref_readable(picture.buffer.as_ref(), &self.info)
                .map_err(|_| EngineError::Map)?;
        let st = vframe.plane_stride();
        let plane = |i: u32| vframe.plane_data(i).unwrap_or(&[]);
        let planes = match self.info.format() {
            VideoFormat::I420 => Planes::Planar {
                y: (plane(0), st[0] as usize),
                u: (plane(1), st[1] as usize),
                v: (plane(2), st[2] as usize),
            },
            VideoFormat::Yv12 => Planes::Planar {
                y: (plane(0), st[0] as usize),
                u: (plane(2), st[2] as usize),
                v: (plane(1), st[1] as usize),
            },
            VideoFormat::Nv12 => Planes::SemiPlanar {
                y: (plane(0), st[0] as usize),
                uv: (plane(1), st[1] as usize),
                swap: false,
            },
            VideoFormat::Nv21 => Planes::SemiPlanar {
                y: (plane(0), st[0] as usize),
                uv: (plane(1), st[1] as usize),
                swap: true,
            },
            other => {
                return Err(EngineError::Unsupported(format!(
                    "The software encoder does not take {}",
                    other.to_str()
                )))
            }
        };
        let ts_ms = picture.pts.map(|t| t.mseconds() as i64).unwrap_or(0);
        let out = self
            .enc
            .encode(planes, ts_ms, picture.force_keyframe, picture.want_headers)
            .map_err(|e| EngineError::Encode(format!("OpenH264 failed to encode: {e}")))?;
        Ok(vec![match out {
            Some(out) => Encoded {
                frame_id: picture.frame_id,
                data: Some(out.data),
                keyframe: out.keyframe,
            },
            None => Encoded {
                frame_id: picture.frame_id,
                data: None,
                keyframe: false,
            },
        }])
    }

    fn drain(&mut self) -> Result<Vec<Encoded>, EngineError> {
        Ok(Vec::new())
    }

    fn flush(&mut self) -> Result<(), EngineError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(info: &gst_video::VideoInfo) -> EngineConfig<'_> {
        EngineConfig::for_test(info, H264Profile::Main)
    }

    #[test]
    fn encodes_each_picture_in_its_own_call_and_reads_the_sps() {
        gst::init().unwrap();
        let info = gst_video::VideoInfo::builder(VideoFormat::Nv12, 64, 48)
            .fps(gst::Fraction::new(30, 1))
            .build()
            .unwrap();
        let mut e = Openh264Engine::configure(&config(&info), &mut |_| {}).unwrap();
        assert_eq!(
            e.stream(),
            StreamInfo {
                profile: H264Profile::Main,
                level: "3"
            }
        );
        assert_eq!(e.latency_frames(), None);
        let buf = gst::Buffer::with_size(info.size()).unwrap();
        for id in 0..3 {
            let out = e
                .encode(Picture {
                    buffer: &buf,
                    frame_id: id,
                    pts: Some(gst::ClockTime::from_mseconds(33 * u64::from(id))),
                    force_keyframe: false,
                    want_headers: false,
                })
                .unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].frame_id, id);
            assert_eq!(out[0].keyframe, id == 0);
            let data = out[0].data.as_deref().unwrap();
            assert_eq!(nal::has_sps(data), id == 0);
        }
        assert!(e.drain().unwrap().is_empty());
    }

    #[test]
    fn level_is_raised_where_openh264s_bitrate_factor_needs_it() {
        gst::init().unwrap();
        let info = gst_video::VideoInfo::builder(VideoFormat::I420, 1280, 720)
            .fps(gst::Fraction::new(30, 1))
            .build()
            .unwrap();
        // Level 3.1 holds 17 Mbit/s in High by H.264's factor 1250 (17.5 Mbit/s), not by
        // OpenH264's 1200 (16.8 Mbit/s): OpenH264 gets 3.2 and the caps say so.
        let mut cfg = EngineConfig::for_test(&info, H264Profile::High);
        cfg.level_idc = 31;
        cfg.bitrate = 17_000_000;
        let e = Openh264Engine::configure(&cfg, &mut |_| {}).unwrap();
        assert_eq!(e.stream().level, "3.2");
        cfg.bitrate = 16_000_000;
        let e = Openh264Engine::configure(&cfg, &mut |_| {}).unwrap();
        assert_eq!(e.stream().level, "3.1");
        // Below one bit per frame: refused naming the value and the range.
        cfg.bitrate = 29;
        match Openh264Engine::configure(&cfg, &mut |_| {}) {
            Err(EngineError::Unsupported(m)) => {
                assert!(
                    m.contains("bitrate 29 bits/s") && m.contains("30..288000000"),
                    "{m}"
                )
            }
            other => panic!("{:?}", other.err()),
        }
    }

    #[test]
    fn stream_names_come_from_the_sps() {
        gst::init().unwrap();
        // profile_idc 66 + constraint_set1, level_idc 11 + constraint_set3 = level 1b.
        let s = stream_of(&[66, 0x50, 11], H264Profile::High);
        assert_eq!(s.profile, H264Profile::ConstrainedBaseline);
        assert_eq!(s.level, "1b");
        // A profile this element does not make reads as the requested one; an unknown
        // level as 5.2.
        let s = stream_of(&[244, 0, 7], H264Profile::High);
        assert_eq!((s.profile, s.level), (H264Profile::High, "5.2"));
    }

    #[test]
    fn other_formats_are_refused_at_encode() {
        gst::init().unwrap();
        let info = gst_video::VideoInfo::builder(VideoFormat::Yuy2, 64, 48)
            .build()
            .unwrap();
        assert!(!accepts(VideoFormat::Yuy2) && accepts(VideoFormat::Nv21));
        let mut e = Openh264Engine::configure(&config(&info), &mut |_| {}).unwrap();
        let buf = gst::Buffer::with_size(info.size()).unwrap();
        let err = e
            .encode(Picture {
                buffer: &buf,
                frame_id: 0,
                pts: None,
                force_keyframe: false,
                want_headers: false,
            })
            .unwrap_err();
        assert!(
            matches!(&err, EngineError::Unsupported(m) if m.contains("YUY2")),
            "{err}"
        );
    }
}
