// SPDX-License-Identifier: MPL-2.0
//! The V4L2 engine: the M2M state machine ([`M2mEncoder`]) behind [`Engine`], over the real
//! [`Device`] (or, in the tests, the fake one). It imports the input's dma-buf when its layout is the driver's (zero-copy),
//! copies into the device's own buffers otherwise, and keeps the SPS/PPS the hardware wrote
//! to put in front of key units asked for with headers.

use std::collections::HashSet;
use std::path::Path;

use gst_video::prelude::*;

use super::{raw_caps, Encoded, Engine, EngineConfig, EngineError, Note, Picture, StreamInfo, CAT};
use crate::rpih264enc::level::{self, H264Profile};
use crate::rpih264enc::nal;
use crate::rpih264enc::v4l2::controls::{self, HwSettings};
use crate::rpih264enc::v4l2::device::{ControlRange, FrameSizes, M2mDevice, Memory};
use crate::rpih264enc::v4l2::format::{self as hwformat, RawFormat};
use crate::rpih264enc::v4l2::machine::{self, Input, M2mConfig, M2mEncoder, M2mOutput};
use crate::rpih264enc::v4l2::sys::Device;
use crate::rpih264enc::Profile;

/// The raw caps the hardware engine takes (the firmware's known limits, 32..1920 per side).
pub fn sink_caps() -> gst::Caps {
    sink_caps_reported(None)
}

/// The raw caps the hardware engine takes, narrowed to the frame sizes the driver reports
/// (VIDIOC_ENUM_FRAMESIZES) when it reports them.
pub fn sink_caps_reported(sizes: Option<&FrameSizes>) -> gst::Caps {
    let names: Vec<&str> = hwformat::ALL.iter().map(|f| f.gst_name()).collect();
    let (min, max) = (hwformat::MIN_DIM, hwformat::MAX_DIM);
    let Some(r) = sizes else {
        return raw_caps(&names, min as i32, max as i32);
    };
    let clamp = |lo: u32, hi: u32| (lo.max(min) as i32, hi.min(max).max(lo.max(min)) as i32);
    let (w0, w1) = clamp(r.min_width, r.max_width);
    let (h0, h1) = clamp(r.min_height, r.max_height);
    let mut caps = raw_caps(&names, w0, w1);
    for s in caps.make_mut().iter_mut() {
        s.set("height", gst::IntRange::new(h0, h1));
    }
    caps
}

/// Opens `path` and checks that it is an H.264 M2M encoder; returns its card name and the
/// frame sizes it reports for I420 (None when it reports none), or why not.
pub fn probe(path: &str) -> Result<(String, Option<FrameSizes>), String> {
    let mut dev = Device::open(Path::new(path)).map_err(|e| {
        format!(
            "{}",
            machine::M2mError::NotEncoder(format!("cannot open {path}: {e}"))
        )
    })?;
    let cap = machine::probe(&mut dev, path).map_err(|e| e.to_string())?;
    let sizes = dev.frame_sizes(RawFormat::I420.fourcc()).ok();
    Ok((cap.card, sizes))
}

/// The bcm2835 firmware cannot do CBR with CABAC (raspberrypi/firmware #250): with
/// `profile=auto` CBR gets baseline, with Main or High asked for explicitly a warning.
pub fn adjust_profile(
    picked: H264Profile,
    requested: Profile,
    cbr: bool,
) -> (H264Profile, Option<Note>) {
    if !(cbr && picked.uses_cabac()) {
        return (picked, None);
    }
    if requested == Profile::Auto {
        (
            H264Profile::ConstrainedBaseline,
            Some(Note::Info("CBR on bcm2835: using baseline (CBR with CABAC unsupported, raspberrypi/firmware #250)".into())),
        )
    } else {
        (
            picked,
            Some(Note::Warn(format!(
                "bitrate-mode=cbr with profile={} (CABAC) is not supported by the bcm2835 firmware (raspberrypi/firmware #250); the encoder may ignore CBR",
                picked.caps_name()
            ))),
        )
    }
}

/// The `enum v4l2_colorspace` of the input caps.
fn v4l2_colorspace(info: &gst_video::VideoInfo) -> u32 {
    use gst_video::VideoColorMatrix as M;
    let c = info.colorimetry();
    if info.format_info().is_rgb() {
        return hwformat::colorspace::SRGB;
    }
    match (c.matrix(), c.range()) {
        (M::Bt601, gst_video::VideoColorRange::Range0_255) => hwformat::colorspace::JPEG,
        (M::Bt601, _) => hwformat::colorspace::SMPTE170M,
        (M::Bt709, _) => hwformat::colorspace::REC709,
        _ => hwformat::default_colorspace(info.width(), info.height()),
    }
}

/// A V4L2 device the engine can open by path: the real [`Device`], or a fake in the tests.
pub trait OpenDevice: M2mDevice + Sized + 'static {
    /// Opens the device node at `path`.
    fn open(path: &Path) -> std::io::Result<Self>;
}

impl OpenDevice for Device {
    fn open(path: &Path) -> std::io::Result<Self> {
        Device::open(path)
    }
}

/// The bcm2835-codec M2M encoder as an [`Engine`], over the device `D`.
pub struct V4l2Engine<D: M2mDevice = Device> {
    enc: M2mEncoder<D>,
    format: RawFormat,
    /// The bitrate range in use ([`controls::bitrate_range`]), bits/s.
    brange: ControlRange,
    info: gst_video::VideoInfo,
    stream: StreamInfo,
    /// SPS/PPS last written by the hardware (Annex B).
    headers: Vec<u8>,
    /// Frames queued with [`Picture::want_headers`], until their output comes back.
    want_headers: HashSet<u32>,
}

impl<D: M2mDevice> V4l2Engine<D> {
    /// Turns the state machine's outputs into finished frames: remembers the SPS/PPS the
    /// hardware writes, and puts them in front of a key unit asked for with all headers (the
    /// hardware repeats them only with REPEAT_SEQ_HEADER).
    fn finish(&mut self, outputs: Vec<M2mOutput>) -> Vec<Encoded> {
        outputs
            .into_iter()
            .map(|out| {
                let wanted = self.want_headers.remove(&out.frame_id);
                let mut data = out.data;
                if nal::has_sps(&data) {
                    self.headers = nal::parameter_sets(&data);
                } else if out.keyframe && wanted {
                    let mut with = self.headers.clone();
                    with.extend_from_slice(&data);
                    data = with;
                }
                Encoded {
                    frame_id: out.frame_id,
                    data: Some(data),
                    keyframe: out.keyframe,
                }
            })
            .collect()
    }
}

impl<D: OpenDevice> Engine for V4l2Engine<D> {
    fn configure(
        cfg: &EngineConfig<'_>,
        warn: &mut dyn FnMut(String),
    ) -> Result<Self, EngineError> {
        let info = cfg.info;
        let format = RawFormat::from_gst_name(info.format().to_str()).ok_or_else(|| {
            EngineError::Unsupported(format!(
                "the hardware encoder does not take {}",
                info.format().to_str()
            ))
        })?;
        hwformat::check_size(info.width(), info.height()).map_err(EngineError::Unsupported)?;
        let path = cfg.device;
        let mut dev = D::open(Path::new(path))
            .map_err(|e| EngineError::Unsupported(format!("cannot open {path}: {e}")))?;
        let sizes = dev.frame_sizes(format.fourcc()).ok();
        hwformat::check_reported_size(info.width(), info.height(), sizes.as_ref())
            .map_err(EngineError::Unsupported)?;
        let brange = controls::bitrate_range(dev.query_control(controls::CID_BITRATE).ok());
        let lrange = dev.query_control(controls::CID_H264_LEVEL).ok();
        let hw = HwSettings {
            bitrate: cfg.bitrate,
            cbr: cfg.cbr,
            iperiod: cfg.iperiod,
            profile: cfg.profile,
            level_idc: cfg.level_idc,
            inline_headers: cfg.inline_headers,
            qp: cfg.qp,
        };
        let (plan, warnings) =
            controls::plan(&hw, &brange, lrange.as_ref()).map_err(EngineError::Unsupported)?;
        for w in warnings {
            warn(w);
        }
        let mut m2m = M2mConfig::new(format, info.width(), info.height());
        let stride = info.stride()[0].max(0) as u32;
        if stride.is_multiple_of(format.stride_align()) && stride >= format.min_stride(info.width())
        {
            m2m.stride = stride;
        }
        m2m.fps = (
            info.fps().numer().max(0) as u32,
            info.fps().denom().max(0) as u32,
        );
        m2m.colorspace = v4l2_colorspace(info);
        m2m.controls = plan.iter().map(|c| (c.id, c.value)).collect();
        for c in &plan {
            gst::debug!(CAT, "control {} = {}", c.name, c.value);
        }
        let enc =
            M2mEncoder::configure(dev, m2m).map_err(|e| EngineError::Unsupported(e.to_string()))?;
        let level = level::level_by_idc(cfg.level_idc)
            .map(|l| l.name)
            .unwrap_or("4");
        Ok(V4l2Engine {
            enc,
            format,
            brange,
            info: info.clone(),
            stream: StreamInfo {
                profile: cfg.profile,
                level,
            },
            headers: Vec::new(),
            want_headers: HashSet::new(),
        })
    }

    fn name(&self) -> &'static str {
        "v4l2"
    }

    fn stream(&self) -> StreamInfo {
        self.stream
    }

    fn latency_frames(&self) -> Option<(u64, u64)> {
        Some((2, 6))
    }

    fn set_bitrate(&mut self, bitrate: u32, warn: &mut dyn FnMut(String)) -> Result<(), String> {
        let (v, w) = controls::bitrate_value(bitrate, &self.brange);
        if let Some(w) = w {
            warn(w);
        }
        self.enc
            .set_control(controls::CID_BITRATE, v)
            .map_err(|e| e.to_string())
    }

    fn encode(&mut self, picture: Picture<'_>) -> Result<Vec<Encoded>, EngineError> {
        let (input, info, format) = (picture.buffer, &self.info, self.format);
        let (id, force) = (picture.frame_id, picture.force_keyframe);
        if picture.want_headers {
            self.want_headers.insert(id);
        }
        let stride = self.enc.stride();
        let dmabuf = (input.n_memory() == 1)
            .then(|| input.peek_memory(0))
            .and_then(|m| m.downcast_memory_ref::<gst_allocators::DmaBufMemory>())
            .map(|m| (m.fd(), m.offset(), m.maxsize()));
        let (offsets, strides): (Vec<usize>, Vec<usize>) =
            match input.meta::<gst_video::VideoMeta>() {
                Some(m) => (
                    m.offset().to_vec(),
                    m.stride().iter().map(|&s| s.max(0) as usize).collect(),
                ),
                None => (
                    info.offset().to_vec(),
                    info.stride().iter().map(|&s| s.max(0) as usize).collect(),
                ),
            };
        let zero_copy = dmabuf.is_some()
            && self.enc.memory() != Some(Memory::Mmap)
            && strides.first() == Some(&(stride as usize))
            && hwformat::zero_copy_layout_ok(
                format,
                info.width(),
                info.height(),
                &offsets,
                &strides,
            );
        let outputs = if let (true, Some((fd, offset, maxsize))) = (zero_copy, dmabuf) {
            let keep: Box<dyn std::any::Any + Send> = Box::new(input.clone());
            self.enc.encode(
                Input::DmaBuf {
                    fd,
                    offset: offset as u32,
                    length: (offset + maxsize) as u32,
                    keep,
                },
                id,
                force,
            )
        } else {
            let vframe = gst_video::VideoFrameRef::from_buffer_ref_readable(input.as_ref(), info)
                .map_err(|_| EngineError::Map)?;
            let src: Vec<(&[u8], usize)> = (0..vframe.n_planes())
                .map(|i| {
                    (
                        vframe.plane_data(i).unwrap_or(&[]),
                        vframe.plane_stride()[i as usize].max(0) as usize,
                    )
                })
                .collect();
            let (width, height) = (info.width(), info.height());
            let mut fill = |dst: &mut [u8], dst_stride: u32| {
                hwformat::copy_into(format, width, height, &src, dst, dst_stride)
            };
            self.enc.encode(Input::Copy(&mut fill), id, force)
        };
        let outputs = outputs.map_err(|e| EngineError::Encode(format!("hardware encoder: {e}")))?;
        Ok(self.finish(outputs))
    }

    fn drain(&mut self) -> Result<Vec<Encoded>, EngineError> {
        let outputs = self.enc.drain().map_err(|e| {
            EngineError::Encode(format!("draining the hardware encoder failed: {e}"))
        })?;
        Ok(self.finish(outputs))
    }

    fn flush(&mut self) -> Result<(), EngineError> {
        self.want_headers.clear();
        self.enc
            .reset()
            .map_err(|e| EngineError::Encode(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpih264enc::v4l2::fake::FakeDevice;

    thread_local! {
        /// Whether the next fake devices opened report ranges (a bitrate range of
        /// 25000..20000000 bits/s and widths up to 1280).
        static REPORTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    impl OpenDevice for FakeDevice {
        fn open(_path: &Path) -> std::io::Result<Self> {
            let mut d = FakeDevice::new();
            if REPORTING.get() {
                d.ranges.push((
                    controls::CID_BITRATE,
                    ControlRange {
                        min: 25_000,
                        max: 20_000_000,
                        step: 25_000,
                        default: 10_000_000,
                    },
                ));
                d.frame_sizes = Some(crate::rpih264enc::v4l2::device::FrameSizes {
                    min_width: 32,
                    max_width: 1280,
                    min_height: 32,
                    max_height: 1920,
                });
            }
            Ok(d)
        }
    }

    fn config(info: &gst_video::VideoInfo) -> EngineConfig<'_> {
        EngineConfig::for_test(info, H264Profile::High)
    }

    fn picture(buffer: &gst::Buffer, id: u32, force: bool, headers: bool) -> Picture<'_> {
        Picture {
            buffer,
            frame_id: id,
            pts: None,
            force_keyframe: force,
            want_headers: headers,
        }
    }

    #[test]
    fn copies_input_and_puts_headers_before_key_units_asked_with_them() {
        gst::init().unwrap();
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, 64, 48)
            .fps(gst::Fraction::new(30, 1))
            .build()
            .unwrap();
        let mut warnings = Vec::new();
        let mut e =
            V4l2Engine::<FakeDevice>::configure(&config(&info), &mut |w| warnings.push(w)).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            e.stream(),
            StreamInfo {
                profile: H264Profile::High,
                level: "3"
            }
        );
        assert_eq!(e.latency_frames(), Some((2, 6)));
        let buf = gst::Buffer::with_size(info.size()).unwrap();
        let mut out = Vec::new();
        out.extend(e.encode(picture(&buf, 0, false, false)).unwrap());
        out.extend(e.encode(picture(&buf, 1, true, true)).unwrap());
        out.extend(e.encode(picture(&buf, 2, true, false)).unwrap());
        out.extend(e.drain().unwrap());
        let ids: Vec<u32> = out.iter().map(|o| o.frame_id).collect();
        assert_eq!(ids, vec![0, 1, 2]);
        assert!(out.iter().all(|o| o.keyframe));
        let types: Vec<Vec<u8>> = out
            .iter()
            .map(|o| nal::nal_types(o.data.as_deref().unwrap()))
            .collect();
        // The hardware wrote SPS/PPS on the first frame only; the key unit asked with headers
        // gets them in front, the other does not.
        assert_eq!(types, vec![vec![7, 8, 5], vec![7, 8, 5], vec![5]]);
        assert!(e
            .enc
            .device()
            .log
            .iter()
            .any(|l| l.starts_with("QBUF Output 0 ts 0 Mmap")));

        // After a flush the engine starts streaming again.
        e.flush().unwrap();
        let out = e.encode(picture(&buf, 3, false, false)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].frame_id, 3);
    }

    #[test]
    fn refuses_what_the_hardware_does_not_take() {
        gst::init().unwrap();
        let refusal = |format, width, height| {
            let info = gst_video::VideoInfo::builder(format, width, height)
                .build()
                .unwrap();
            match V4l2Engine::<FakeDevice>::configure(&config(&info), &mut |_| {}) {
                Err(EngineError::Unsupported(m)) => m,
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("{format:?} {width}x{height} accepted"),
            }
        };
        let e = refusal(gst_video::VideoFormat::Gray8, 64, 48);
        assert!(e.contains("GRAY8"), "{e}");
        let e = refusal(gst_video::VideoFormat::Nv12, 4056, 3040);
        assert!(e.contains("32..1920"), "{e}");
    }

    #[test]
    fn guards_the_pi4_limits_against_what_the_driver_reports() {
        gst::init().unwrap();
        let info = |w, h| {
            gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, w, h)
                .fps(gst::Fraction::new(30, 1))
                .build()
                .unwrap()
        };
        let small = info(640, 480);
        REPORTING.set(true);
        // Below 100 kbit/s (hangs, rpicam-apps #664): raised to 100000 with a warning.
        let mut cfg = config(&small);
        cfg.bitrate = 50_000;
        let mut warnings = Vec::new();
        let mut e = V4l2Engine::<FakeDevice>::configure(&cfg, &mut |w| warnings.push(w)).unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("50000") && w.contains("100000..20000000")),
            "{warnings:?}"
        );
        assert!(e
            .enc
            .device()
            .controls
            .contains(&(controls::CID_BITRATE, 100_000)));
        // Above what the driver reports (20 Mbit/s here, under the 25 Mbit/s limit), also
        // while running.
        let mut warnings = Vec::new();
        e.set_bitrate(24_000_000, &mut |w| warnings.push(w))
            .unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("100000..20000000")),
            "{warnings:?}"
        );
        assert_eq!(
            e.enc.device().controls.last(),
            Some(&(controls::CID_BITRATE, 20_000_000))
        );
        // Wider than the driver reports: refused naming the reported range.
        let wide = info(1920, 1080);
        match V4l2Engine::<FakeDevice>::configure(&config(&wide), &mut |_| {}) {
            Err(EngineError::Unsupported(m)) => {
                assert!(
                    m.contains("1920x1080") && m.contains("width 32..1280"),
                    "{m}"
                )
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("1920x1080 accepted by a driver reporting 1280"),
        }
        // Without reported ranges: the known limits (25 Mbit/s at most).
        REPORTING.set(false);
        let mut cfg = config(&small);
        cfg.bitrate = 30_000_000;
        let mut warnings = Vec::new();
        let e = V4l2Engine::<FakeDevice>::configure(&cfg, &mut |w| warnings.push(w)).unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("100000..25000000")),
            "{warnings:?}"
        );
        assert!(e
            .enc
            .device()
            .controls
            .contains(&(controls::CID_BITRATE, 25_000_000)));
    }

    #[test]
    fn sink_caps_follow_the_reported_sizes() {
        gst::init().unwrap();
        let caps = |s: &str| s.parse::<gst::Caps>().unwrap();
        let s = sink_caps();
        assert!(s.can_intersect(&caps("video/x-raw,format=I420,width=1920,height=1080")));
        let r = FrameSizes {
            min_width: 32,
            max_width: 1280,
            min_height: 32,
            max_height: 4096,
        };
        let s = sink_caps_reported(Some(&r));
        assert!(s.can_intersect(&caps("video/x-raw,format=I420,width=1280,height=1920")));
        assert!(!s.can_intersect(&caps("video/x-raw,format=I420,width=1281,height=720")));
        assert!(!s.can_intersect(&caps("video/x-raw,format=I420,width=640,height=1921")));
    }

    #[test]
    fn cbr_with_cabac_gets_baseline_or_a_warning() {
        assert_eq!(
            adjust_profile(H264Profile::High, Profile::Auto, false),
            (H264Profile::High, None)
        );
        let (p, note) = adjust_profile(H264Profile::High, Profile::Auto, true);
        assert_eq!(p, H264Profile::ConstrainedBaseline);
        assert!(matches!(note, Some(Note::Info(_))));
        let (p, note) = adjust_profile(H264Profile::Main, Profile::Main, true);
        assert_eq!(p, H264Profile::Main);
        assert!(matches!(note, Some(Note::Warn(m)) if m.contains("firmware #250")));
    }
}
