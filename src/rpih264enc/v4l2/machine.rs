// SPDX-License-Identifier: MPL-2.0
//! The stateful M2M encoder as a state machine over the small [`M2mDevice`] trait, so that a
//! fake device can drive it in unit tests (the real one is [`super::sys::Device`]).
//!
//! Sequence (V4L2 "Memory-to-Memory Stateful Video Encoder Interface" and rpicam-apps
//! `encoder/h264_encoder.cpp`): S_FMT on CAPTURE (H.264) and OUTPUT (raw), S_PARM frame rate,
//! controls, REQBUFS CAPTURE (MMAP) and queue them all; on the first picture REQBUFS OUTPUT
//! as DMABUF (zero-copy) or MMAP (copy), STREAMON both; per picture QBUF OUTPUT with the frame
//! number as timestamp (the driver copies it to the CAPTURE buffer), DQBUF finished buffers;
//! on EOS V4L2_ENC_CMD_STOP and dequeue until a buffer flagged LAST.
//!
//! The seam: what is particular to bcm2835-codec is data in [`M2mConfig`], never a branch
//! here: the coded fourcc on CAPTURE ([`M2mConfig::coded`], H.264), the control that forces a
//! key frame ([`M2mConfig::force_key_control`]) and the controls to write
//! ([`M2mConfig::controls`]). With other values the same machine drives the kernel's test
//! drivers in the VM tier (vicodec: FWHT; vim2m: a raw format; docs/vm.md). Two standard
//! optional parts of the interface are handled for any device: VIDIOC_S_PARM answered with
//! ENOTTY (no frame-rate setting), and VIDIOC_ENCODER_CMD answered with ENOTTY (a converter with
//! no drain command: drained by waiting for every queued picture).

use std::any::Any;
use std::collections::VecDeque;
use std::io;

use super::device::{BufferIo, Capability, M2mDevice, Memory, PixFormat, QueueType};
use super::format::{self, RawFormat};
use super::sys;

/// Errors of the M2M encoder; each names the step.
#[derive(Debug, thiserror::Error)]
pub enum M2mError {
    /// An ioctl failed.
    #[error("{step} failed: {source}")]
    Io {
        /// Which step.
        step: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The device is not an H.264 M2M encoder.
    #[error("{0}")]
    NotEncoder(String),
    /// The device changed the requested format.
    #[error("{0}")]
    Format(String),
    /// A control plan or value was refused.
    #[error("{0}")]
    Control(String),
    /// No buffer came back in time.
    #[error("the encoder returned no buffer within {0} ms")]
    Timeout(u32),
    /// The input does not fit the chosen buffer mode.
    #[error("{0}")]
    Input(String),
}

fn io_err(step: &'static str) -> impl FnOnce(io::Error) -> M2mError {
    move |source| M2mError::Io { step, source }
}

/// Checks that a device is a multi-planar M2M encoder with H.264 output.
pub fn probe<D: M2mDevice>(dev: &mut D, path: &str) -> Result<Capability, M2mError> {
    probe_coded(dev, path, sys::fourcc(b"H264"))
}

/// Checks that a device is a memory-to-memory device (multi-planar, or single-planar, which
/// [`super::sys::Device`] also drives) that produces `coded` (a V4L2 fourcc) on CAPTURE.
pub fn probe_coded<D: M2mDevice>(
    dev: &mut D,
    path: &str,
    coded: u32,
) -> Result<Capability, M2mError> {
    let cap = dev.query_cap().map_err(|e| {
        M2mError::NotEncoder(format!(
            "{path} is not a V4L2 device (VIDIOC_QUERYCAP: {e})"
        ))
    })?;
    let m2m = cap.device_caps & (sys::CAP_VIDEO_M2M_MPLANE | sys::CAP_VIDEO_M2M) != 0;
    if !m2m || cap.device_caps & sys::CAP_STREAMING == 0 {
        return Err(M2mError::NotEncoder(format!(
            "{path} ({}, {}) is not a multi-planar memory-to-memory device, nor a single-planar one (capabilities 0x{:08x})",
            cap.driver, cap.card, cap.device_caps
        )));
    }
    let want = PixFormat {
        width: 640,
        height: 480,
        fourcc: coded,
        sizeimage: 512 * 1024,
        ..Default::default()
    };
    match dev.set_format(QueueType::Capture, &want) {
        Ok(f) if f.fourcc == coded => Ok(cap),
        Ok(_) | Err(_) => Err(M2mError::NotEncoder(format!(
            "{path} ({}, {}) is a memory-to-memory device but not {} encoder",
            cap.driver,
            cap.card,
            coded_name(coded)
        ))),
    }
}

/// How errors name a coded fourcc: "an H.264" for H.264, else "a `FWHT`"-style.
fn coded_name(fourcc: u32) -> String {
    if fourcc == sys::fourcc(b"H264") {
        return "an H.264".into();
    }
    let b = fourcc.to_le_bytes();
    format!("a {}", String::from_utf8_lossy(&b))
}

/// Static configuration of one encode session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct M2mConfig {
    /// Input format.
    pub format: RawFormat,
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// Wanted `bytesperline` of the input (at least the format's minimum stride).
    pub stride: u32,
    /// Frame rate numerator/denominator, frames/s (0/1 = unknown, 30 assumed).
    pub fps: (u32, u32),
    /// `enum v4l2_colorspace` of the input.
    pub colorspace: u32,
    /// Controls to write before STREAMON, in order.
    pub controls: Vec<(u32, i32)>,
    /// The coded format asked for on CAPTURE (V4L2 fourcc; [`M2mConfig::new`]: `H264`). The
    /// test seam: the VM tier sets `FWHT` (vicodec) or a raw fourcc (vim2m).
    pub coded: u32,
    /// The control written with 1 before a picture that must be a key frame
    /// ([`M2mConfig::new`]: `V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME`); None for a device without
    /// one, which then refuses a forced key frame with [`M2mError::Control`].
    pub force_key_control: Option<u32>,
    /// OUTPUT (raw) buffers (rpicam-apps: 6).
    pub output_buffers: u32,
    /// CAPTURE (bitstream) buffers (rpicam-apps: 12).
    pub capture_buffers: u32,
    /// Longest wait for a buffer, ms.
    pub timeout_ms: u32,
}

impl M2mConfig {
    /// Defaults of rpicam-apps for the buffer counts; `stride` the format's minimum.
    pub fn new(format: RawFormat, width: u32, height: u32) -> Self {
        M2mConfig {
            format,
            width,
            height,
            stride: format.min_stride(width),
            fps: (30, 1),
            colorspace: format::default_colorspace(width, height),
            controls: Vec::new(),
            coded: sys::fourcc(b"H264"),
            force_key_control: Some(super::controls::CID_FORCE_KEY_FRAME),
            output_buffers: 6,
            capture_buffers: 12,
            timeout_ms: 2000,
        }
    }
}

/// Fills an MMAP picture buffer: gets the buffer and its stride (bytes), returns the bytes used
/// or an error text.
pub type Fill<'a> = dyn FnMut(&mut [u8], u32) -> Result<usize, String> + 'a;

/// The picture handed to [`M2mEncoder::encode`].
pub enum Input<'a> {
    /// Copy into an MMAP buffer.
    Copy(&'a mut Fill<'a>),
    /// Import a dma-buf; `keep` is held until the device is done with it.
    DmaBuf {
        /// dma-buf fd.
        fd: i32,
        /// Offset of the picture in the dma-buf.
        offset: u32,
        /// Size of the dma-buf.
        length: u32,
        /// Keeps the fd (the GStreamer buffer) alive while queued.
        keep: Box<dyn Any + Send>,
    },
}

/// One encoded access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct M2mOutput {
    /// The frame number given to [`M2mEncoder::encode`].
    pub frame_id: u32,
    /// Annex B data.
    pub data: Vec<u8>,
    /// The driver flagged it a key frame.
    pub keyframe: bool,
}

enum Slot {
    Free,
    /// Holds the keep-alive (dropped when the device returns the buffer).
    Queued {
        _keep: Option<Box<dyn Any + Send>>,
    },
}

/// The encoder over a device.
pub struct M2mEncoder<D: M2mDevice> {
    dev: D,
    cfg: M2mConfig,
    out_fmt: PixFormat,
    out_memory: Option<Memory>,
    out_slots: Vec<Slot>,
    capture_count: u32,
    streaming: bool,
    in_flight: usize,
    ready: VecDeque<M2mOutput>,
}

impl<D: M2mDevice> M2mEncoder<D> {
    /// Sets formats, frame rate and controls and prepares the CAPTURE queue.
    pub fn configure(mut dev: D, cfg: M2mConfig) -> Result<Self, M2mError> {
        format::check_size(cfg.width, cfg.height).map_err(M2mError::Format)?;
        let coded = cfg.coded;
        let cap_size = if cfg.width * cfg.height > 1280 * 720 {
            768 * 1024
        } else {
            512 * 1024
        };
        let want_cap = PixFormat {
            width: cfg.width,
            height: cfg.height,
            fourcc: coded,
            sizeimage: cap_size,
            ..Default::default()
        };
        let got = dev
            .set_format(QueueType::Capture, &want_cap)
            .map_err(io_err("VIDIOC_S_FMT (CAPTURE, coded format)"))?;
        if got.fourcc != coded {
            return Err(M2mError::NotEncoder(format!(
                "the device does not produce {}",
                if coded == sys::fourcc(b"H264") {
                    "H.264".to_string()
                } else {
                    coded_name(coded)[2..].to_string()
                }
            )));
        }
        let stride = cfg.stride.max(cfg.format.min_stride(cfg.width));
        let want_out = PixFormat {
            width: cfg.width,
            height: cfg.height,
            fourcc: cfg.format.fourcc(),
            bytesperline: stride,
            sizeimage: format::image_size(cfg.format, cfg.width, cfg.height, stride) as u32,
            colorspace: cfg.colorspace,
        };
        let out_fmt = dev
            .set_format(QueueType::Output, &want_out)
            .map_err(io_err("VIDIOC_S_FMT (OUTPUT)"))?;
        if out_fmt.fourcc != want_out.fourcc {
            return Err(M2mError::Format(format!(
                "the encoder does not accept {}",
                cfg.format.gst_name()
            )));
        }
        if out_fmt.width != cfg.width || out_fmt.height != cfg.height {
            return Err(M2mError::Format(format!(
                "the encoder changed {}x{} to {}x{} (its limits: {}..{} pixels)",
                cfg.width,
                cfg.height,
                out_fmt.width,
                out_fmt.height,
                format::MIN_DIM,
                format::MAX_DIM
            )));
        }
        if out_fmt.bytesperline < cfg.format.row_bytes(cfg.width) {
            return Err(M2mError::Format(format!(
                "the encoder returned a stride of {} bytes",
                out_fmt.bytesperline
            )));
        }
        let (num, den) = if cfg.fps.0 == 0 || cfg.fps.1 == 0 {
            (30, 1)
        } else {
            cfg.fps
        };
        match dev.set_frame_rate(num, den) {
            // A device with no frame-rate setting (vim2m): nothing to set.
            Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => {}
            r => r.map_err(io_err("VIDIOC_S_PARM"))?,
        }
        for &(id, value) in &cfg.controls {
            dev.set_control(id, value).map_err(|e| {
                M2mError::Control(format!("VIDIOC_S_CTRL 0x{id:08x}={value} failed: {e}"))
            })?;
        }
        let capture_count = dev
            .request_buffers(QueueType::Capture, Memory::Mmap, cfg.capture_buffers)
            .map_err(io_err("VIDIOC_REQBUFS (CAPTURE)"))?;
        if capture_count == 0 {
            return Err(M2mError::Format(
                "the encoder granted no bitstream buffers".into(),
            ));
        }
        Ok(M2mEncoder {
            dev,
            cfg,
            out_fmt,
            out_memory: None,
            out_slots: Vec::new(),
            capture_count,
            streaming: false,
            in_flight: 0,
            ready: VecDeque::new(),
        })
    }

    /// The `bytesperline` the device uses for input pictures.
    pub fn stride(&self) -> u32 {
        self.out_fmt.bytesperline
    }

    /// The OUTPUT memory type once streaming.
    pub fn memory(&self) -> Option<Memory> {
        self.out_memory
    }

    /// Pictures queued and not yet returned as output.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Writes a control on the running encoder (bitrate changes while PLAYING).
    pub fn set_control(&mut self, id: u32, value: i32) -> Result<(), M2mError> {
        self.dev
            .set_control(id, value)
            .map_err(|e| M2mError::Control(format!("VIDIOC_S_CTRL 0x{id:08x}={value} failed: {e}")))
    }

    fn start(&mut self, memory: Memory) -> Result<(), M2mError> {
        let n = self
            .dev
            .request_buffers(QueueType::Output, memory, self.cfg.output_buffers)
            .map_err(io_err("VIDIOC_REQBUFS (OUTPUT)"))?;
        if n == 0 {
            return Err(M2mError::Format(
                "the encoder granted no picture buffers".into(),
            ));
        }
        self.out_slots = (0..n).map(|_| Slot::Free).collect();
        for i in 0..self.capture_count {
            self.dev
                .queue(QueueType::Capture, i, BufferIo::Mmap { bytesused: 0 }, 0)
                .map_err(io_err("VIDIOC_QBUF (CAPTURE)"))?;
        }
        self.dev
            .stream(QueueType::Capture, true)
            .map_err(io_err("VIDIOC_STREAMON (CAPTURE)"))?;
        self.dev
            .stream(QueueType::Output, true)
            .map_err(io_err("VIDIOC_STREAMON (OUTPUT)"))?;
        self.out_memory = Some(memory);
        self.streaming = true;
        Ok(())
    }

    /// Dequeues everything ready without waiting; returns whether a LAST buffer came.
    fn collect(&mut self) -> Result<bool, M2mError> {
        let mem = self.out_memory.unwrap_or(Memory::Mmap);
        while let Some(b) = self
            .dev
            .dequeue(QueueType::Output, mem)
            .map_err(io_err("VIDIOC_DQBUF (OUTPUT)"))?
        {
            if let Some(slot) = self.out_slots.get_mut(b.index as usize) {
                *slot = Slot::Free;
            }
        }
        let mut last = false;
        loop {
            let b = match self.dev.dequeue(QueueType::Capture, Memory::Mmap) {
                Ok(Some(b)) => b,
                Ok(None) => break,
                // The stateful interface's answer once the buffer flagged LAST was dequeued
                // (seen on vicodec): the drain is complete.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                    last = true;
                    break;
                }
                Err(e) => return Err(io_err("VIDIOC_DQBUF (CAPTURE)")(e)),
            };
            let is_last = b.flags & sys::BUF_FLAG_LAST != 0;
            let start = b.data_offset as usize;
            let end = b.bytesused as usize;
            if end > start && b.flags & sys::BUF_FLAG_ERROR == 0 {
                let data = self
                    .dev
                    .buffer_mut(QueueType::Capture, b.index)
                    .and_then(|m| m.get(start..end))
                    .map(|s| s.to_vec())
                    .ok_or_else(|| {
                        M2mError::Format(format!(
                            "bitstream buffer {} is smaller than {end} bytes",
                            b.index
                        ))
                    })?;
                self.in_flight = self.in_flight.saturating_sub(1);
                self.ready.push_back(M2mOutput {
                    frame_id: b.timestamp_us as u32,
                    data,
                    keyframe: b.flags & sys::BUF_FLAG_KEYFRAME != 0,
                });
            }
            if is_last {
                // Nothing follows it: a further DQBUF would fail with EPIPE.
                last = true;
                break;
            } else {
                self.dev
                    .queue(
                        QueueType::Capture,
                        b.index,
                        BufferIo::Mmap { bytesused: 0 },
                        0,
                    )
                    .map_err(io_err("VIDIOC_QBUF (CAPTURE)"))?;
            }
        }
        Ok(last)
    }

    fn wait(&mut self) -> Result<(), M2mError> {
        if self
            .dev
            .wait(self.cfg.timeout_ms as i32)
            .map_err(io_err("poll"))?
        {
            Ok(())
        } else {
            Err(M2mError::Timeout(self.cfg.timeout_ms))
        }
    }

    /// Queues one picture and returns the access units that are finished (in decode order;
    /// usually from earlier pictures). `force_key` asks for an IDR at this picture.
    pub fn encode(
        &mut self,
        input: Input<'_>,
        frame_id: u32,
        force_key: bool,
    ) -> Result<Vec<M2mOutput>, M2mError> {
        let memory = match &input {
            Input::Copy(_) => Memory::Mmap,
            Input::DmaBuf { .. } => Memory::DmaBuf,
        };
        if !self.streaming {
            self.start(memory)?;
        } else if self.out_memory != Some(memory) {
            return Err(M2mError::Input(format!(
                "input switched from {:?} to {:?} buffers while streaming",
                self.out_memory, memory
            )));
        }
        let index = loop {
            if let Some(i) = self.out_slots.iter().position(|s| matches!(s, Slot::Free)) {
                break i;
            }
            self.collect()?;
            if let Some(i) = self.out_slots.iter().position(|s| matches!(s, Slot::Free)) {
                break i;
            }
            self.wait()?;
        };
        if force_key {
            let id = self.cfg.force_key_control.ok_or_else(|| {
                M2mError::Control("this device has no control to force a key frame".into())
            })?;
            self.set_control(id, 1)?;
        }
        let (io, keep) = match input {
            Input::Copy(fill) => {
                let stride = self.out_fmt.bytesperline;
                let buf = self
                    .dev
                    .buffer_mut(QueueType::Output, index as u32)
                    .ok_or_else(|| {
                        M2mError::Input(format!("picture buffer {index} is not mapped"))
                    })?;
                let used = fill(buf, stride).map_err(M2mError::Input)?;
                (
                    BufferIo::Mmap {
                        bytesused: used as u32,
                    },
                    None,
                )
            }
            Input::DmaBuf {
                fd,
                offset,
                length,
                keep,
            } => {
                let size = format::image_size(
                    self.cfg.format,
                    self.cfg.width,
                    self.cfg.height,
                    self.out_fmt.bytesperline,
                ) as u32;
                if offset.saturating_add(size) > length {
                    return Err(M2mError::Input(format!("dma-buf of {length} bytes is too small for {size} bytes at offset {offset}")));
                }
                (
                    BufferIo::DmaBuf {
                        fd,
                        bytesused: offset + size,
                        length,
                        data_offset: offset,
                    },
                    Some(keep),
                )
            }
        };
        self.dev
            .queue(QueueType::Output, index as u32, io, u64::from(frame_id))
            .map_err(io_err("VIDIOC_QBUF (OUTPUT)"))?;
        self.out_slots[index] = Slot::Queued { _keep: keep };
        self.in_flight += 1;
        self.collect()?;
        Ok(self.ready.drain(..).collect())
    }

    /// Drains: V4L2_ENC_CMD_STOP, then everything up to the buffer flagged LAST. The encoder
    /// is stopped afterwards (call [`Self::reset`] to encode again).
    pub fn drain(&mut self) -> Result<Vec<M2mOutput>, M2mError> {
        if !self.streaming {
            return Ok(self.ready.drain(..).collect());
        }
        match self.dev.encoder_stop() {
            Ok(()) => loop {
                if self.collect()? {
                    break;
                }
                self.wait()?;
            },
            // No drain command (a converter such as vim2m): every queued picture comes back.
            Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => loop {
                self.collect()?;
                if self.in_flight == 0 {
                    break;
                }
                self.wait()?;
            },
            Err(e) => return Err(io_err("VIDIOC_ENCODER_CMD (STOP)")(e)),
        }
        self.reset()?;
        Ok(self.ready.drain(..).collect())
    }

    /// STREAMOFF both queues and free the picture buffers; pending pictures are dropped.
    /// The next [`Self::encode`] starts streaming again.
    pub fn reset(&mut self) -> Result<(), M2mError> {
        if self.streaming {
            self.dev
                .stream(QueueType::Output, false)
                .map_err(io_err("VIDIOC_STREAMOFF (OUTPUT)"))?;
            self.dev
                .stream(QueueType::Capture, false)
                .map_err(io_err("VIDIOC_STREAMOFF (CAPTURE)"))?;
            if let Some(mem) = self.out_memory {
                self.dev
                    .request_buffers(QueueType::Output, mem, 0)
                    .map_err(io_err("VIDIOC_REQBUFS (OUTPUT, 0)"))?;
            }
        }
        self.out_slots.clear();
        self.out_memory = None;
        self.streaming = false;
        self.in_flight = 0;
        Ok(())
    }

    /// The device, for tests.
    #[cfg(test)]
    pub fn device(&self) -> &D {
        &self.dev
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeDevice;
    use super::*;
    use crate::rpih264enc::v4l2::controls;

    fn copy_input(frame: &[u8]) -> impl FnMut(&mut [u8], u32) -> Result<usize, String> + '_ {
        move |buf, stride| {
            assert_eq!(stride, 64);
            buf[..frame.len()].copy_from_slice(frame);
            Ok(frame.len())
        }
    }

    fn encoder(dev: FakeDevice) -> M2mEncoder<FakeDevice> {
        let mut cfg = M2mConfig::new(RawFormat::I420, 64, 48);
        cfg.controls = vec![
            (controls::CID_BITRATE, 1_000_000),
            (controls::CID_REPEAT_SEQ_HEADER, 1),
            (controls::CID_H264_I_PERIOD, 10),
        ];
        M2mEncoder::configure(dev, cfg).unwrap()
    }

    #[test]
    fn probe_accepts_encoder_and_names_others() {
        let mut d = FakeDevice::new();
        assert_eq!(probe(&mut d, "/dev/video11").unwrap().driver, "fake-codec");
        let mut d = FakeDevice::new();
        d.caps = 0x1; // VIDEO_CAPTURE only
        let e = probe(&mut d, "/dev/video0").unwrap_err().to_string();
        assert!(
            e.contains("/dev/video0") && e.contains("not a multi-planar memory-to-memory"),
            "{e}"
        );
        let mut d = FakeDevice::new();
        d.not_h264 = true;
        let e = probe(&mut d, "/dev/video10").unwrap_err().to_string();
        assert!(e.contains("not an H.264 encoder"), "{e}");
    }

    #[test]
    fn controls_before_streamon_and_order() {
        let mut enc = encoder(FakeDevice::new());
        let frame = vec![7u8; 64 * 48 * 3 / 2];
        let mut fill = copy_input(&frame);
        enc.encode(Input::Copy(&mut fill), 0, false).unwrap();
        let log = &enc.device().log;
        let pos = |p: &str| {
            log.iter()
                .position(|l| l.starts_with(p))
                .unwrap_or_else(|| panic!("{p} not in {log:?}"))
        };
        assert!(pos("S_FMT Capture") < pos("S_FMT Output"));
        assert!(pos("S_FMT Output 64x48 stride 64") < pos("S_PARM 30/1"));
        let last_ctrl = log.iter().rposition(|l| l.starts_with("S_CTRL")).unwrap();
        assert!(last_ctrl < pos("STREAMON"), "{log:?}");
        assert!(pos("REQBUFS Output Mmap 6") < pos("STREAMON Capture"));
        assert!(pos("STREAMON Capture") < pos("STREAMON Output"));
    }

    #[test]
    fn every_frame_comes_back_in_order_with_keyframes() {
        let mut enc = encoder(FakeDevice::new());
        let frame = vec![1u8; 64 * 48 * 3 / 2];
        let mut out = Vec::new();
        for id in 0..25u32 {
            let mut fill = copy_input(&frame);
            out.extend(enc.encode(Input::Copy(&mut fill), id, id == 13).unwrap());
        }
        out.extend(enc.drain().unwrap());
        let ids: Vec<u32> = out.iter().map(|o| o.frame_id).collect();
        assert_eq!(ids, (0..25).collect::<Vec<_>>());
        let keys: Vec<u32> = out
            .iter()
            .filter(|o| o.keyframe)
            .map(|o| o.frame_id)
            .collect();
        assert_eq!(keys, vec![0, 10, 13, 20]);
        assert!(enc.device().log.iter().any(|l| l == "ENCODER_CMD STOP"));
        assert!(enc.device().log.iter().any(|l| l == "STREAMOFF Output"));
        assert_eq!(enc.in_flight(), 0);
        // SPS/PPS came with the first frame.
        assert_eq!(
            crate::rpih264enc::nal::nal_types(&out[0].data),
            vec![7, 8, 5]
        );
    }

    #[test]
    fn waits_when_all_picture_buffers_are_queued() {
        let mut dev = FakeDevice::new();
        dev.out_count = 2;
        let mut enc = encoder(dev);
        let frame = vec![1u8; 64];
        for id in 0..5u32 {
            let mut fill = copy_input(&frame);
            enc.encode(Input::Copy(&mut fill), id, false).unwrap();
        }
        assert_eq!(enc.drain().unwrap().len(), 0); // all returned during encode already
    }

    #[test]
    fn stalled_device_times_out_without_panic() {
        let mut dev = FakeDevice::new();
        dev.out_count = 1;
        dev.stalled = true;
        let mut enc = encoder(dev);
        let frame = vec![1u8; 64];
        let mut fill = copy_input(&frame);
        assert!(enc
            .encode(Input::Copy(&mut fill), 0, false)
            .unwrap()
            .is_empty());
        let mut fill = copy_input(&frame);
        let e = enc.encode(Input::Copy(&mut fill), 1, false).unwrap_err();
        assert!(matches!(e, M2mError::Timeout(2000)), "{e}");
    }

    #[test]
    fn dmabuf_import_keeps_buffer_until_done() {
        use std::sync::Arc;
        let mut enc = encoder(FakeDevice::new());
        let keep = Arc::new(());
        let size = format::image_size(RawFormat::I420, 64, 48, 64) as u32;
        let out = enc
            .encode(
                Input::DmaBuf {
                    fd: 42,
                    offset: 0,
                    length: size,
                    keep: Box::new(keep.clone()),
                },
                7,
                false,
            )
            .unwrap();
        assert_eq!(out.len(), 1);
        assert!(
            enc.device()
                .log
                .iter()
                .any(|l| l.contains("DmaBuf { fd: 42")),
            "{:?}",
            enc.device().log
        );
        assert_eq!(enc.memory(), Some(Memory::DmaBuf));
        // The keep-alive is released once the OUTPUT buffer is dequeued on the next call.
        let out = enc
            .encode(
                Input::DmaBuf {
                    fd: 43,
                    offset: 0,
                    length: size,
                    keep: Box::new(()),
                },
                8,
                false,
            )
            .unwrap();
        assert_eq!(out[0].frame_id, 8);
        assert_eq!(Arc::strong_count(&keep), 1);
        // A dma-buf too small is refused, naming sizes.
        let e = enc
            .encode(
                Input::DmaBuf {
                    fd: 44,
                    offset: 0,
                    length: 10,
                    keep: Box::new(()),
                },
                9,
                false,
            )
            .unwrap_err();
        assert!(e.to_string().contains("too small"), "{e}");
        // Mixing memory types while streaming is refused.
        let frame = vec![1u8; 64];
        let mut fill = copy_input(&frame);
        assert!(matches!(
            enc.encode(Input::Copy(&mut fill), 10, false),
            Err(M2mError::Input(_))
        ));
    }

    #[test]
    fn a_converter_without_frame_rate_or_drain_command_returns_every_frame() {
        let mut dev = FakeDevice::new();
        dev.converter = true;
        dev.out_count = 2;
        let mut cfg = M2mConfig::new(RawFormat::I420, 64, 48);
        cfg.force_key_control = None;
        let mut enc = M2mEncoder::configure(dev, cfg).unwrap();
        let frame = vec![1u8; 64];
        let mut out = Vec::new();
        for id in 0..5u32 {
            let mut fill = copy_input(&frame);
            out.extend(enc.encode(Input::Copy(&mut fill), id, false).unwrap());
        }
        out.extend(enc.drain().unwrap());
        let ids: Vec<u32> = out.iter().map(|o| o.frame_id).collect();
        assert_eq!(ids, (0..5).collect::<Vec<_>>());
        assert_eq!(enc.in_flight(), 0);
        // No key-frame control: a forced key frame is refused by name.
        let mut fill = copy_input(&frame);
        let e = enc.encode(Input::Copy(&mut fill), 5, true).unwrap_err();
        assert!(
            e.to_string().contains("no control to force a key frame"),
            "{e}"
        );
    }

    #[test]
    fn the_coded_format_is_the_seam() {
        let mut cfg = M2mConfig::new(RawFormat::I420, 64, 48);
        cfg.coded = sys::fourcc(b"FWHT");
        let enc = M2mEncoder::configure(FakeDevice::new(), cfg.clone()).unwrap();
        assert!(enc.device().log[0].starts_with("S_FMT Capture"));
        // A device producing something else is named with the fourcc asked for.
        let mut dev = FakeDevice::new();
        dev.not_h264 = true;
        let e = M2mEncoder::configure(dev, cfg).err().unwrap().to_string();
        assert!(e.contains("does not produce FWHT"), "{e}");
        let mut dev = FakeDevice::new();
        dev.not_h264 = true;
        let e = probe_coded(&mut dev, "/dev/video9", sys::fourcc(b"FWHT"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a FWHT encoder"), "{e}");
    }

    #[test]
    fn size_changed_by_driver_is_an_error() {
        let mut dev = FakeDevice::new();
        dev.max_width = 1280;
        let e = M2mEncoder::configure(dev, M2mConfig::new(RawFormat::Nv12, 1920, 1080))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("changed 1920x1080 to 1280x1080"), "{e}");
        let e = M2mEncoder::configure(
            FakeDevice::new(),
            M2mConfig::new(RawFormat::Nv12, 4056, 3040),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("32..1920"), "{e}");
    }
}
