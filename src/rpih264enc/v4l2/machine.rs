// SPDX-License-Identifier: MPL-2.0
//! The stateful M2M encoder as a state machine over a small device trait, so that a fake
//! device can drive it in unit tests (the real one is [`super::sys::Device`]).
//!
//! Sequence (V4L2 "Memory-to-Memory Stateful Video Encoder Interface" and rpicam-apps
//! `encoder/h264_encoder.cpp`): S_FMT on CAPTURE (H.264) and OUTPUT (raw), S_PARM frame rate,
//! controls, REQBUFS CAPTURE (MMAP) and queue them all; on the first picture REQBUFS OUTPUT
//! as DMABUF (zero-copy) or MMAP (copy), STREAMON both; per picture QBUF OUTPUT with the frame
//! number as timestamp (the driver copies it to the CAPTURE buffer), DQBUF finished buffers;
//! on EOS V4L2_ENC_CMD_STOP and dequeue until a buffer flagged LAST.

use std::any::Any;
use std::collections::VecDeque;
use std::io;

use super::format::{self, RawFormat};
use super::sys;

/// The two queues of an M2M device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    /// Raw pictures into the encoder (V4L2 "OUTPUT").
    Output = 0,
    /// Bitstream out of the encoder (V4L2 "CAPTURE").
    Capture = 1,
}

/// Buffer memory type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    /// Driver-allocated, mapped into this process.
    Mmap,
    /// Imported dma-buf file descriptors.
    DmaBuf,
}

/// A single-plane multi-planar format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PixFormat {
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// V4L2 fourcc.
    pub fourcc: u32,
    /// Bytes per line of the first plane.
    pub bytesperline: u32,
    /// Bytes of one buffer.
    pub sizeimage: u32,
    /// `enum v4l2_colorspace`.
    pub colorspace: u32,
}

/// What VIDIOC_QUERYCAP says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// Driver name (`bcm2835-codec`).
    pub driver: String,
    /// Card name.
    pub card: String,
    /// Device capabilities (`V4L2_CAP_*`).
    pub device_caps: u32,
}

/// A control's range from VIDIOC_QUERYCTRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRange {
    /// Minimum.
    pub min: i32,
    /// Maximum.
    pub max: i32,
    /// Step.
    pub step: i32,
    /// Default.
    pub default: i32,
}

/// How a buffer's data is given at QBUF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferIo {
    /// Data already in the mapped buffer.
    Mmap {
        /// Bytes used.
        bytesused: u32,
    },
    /// A dma-buf to import.
    DmaBuf {
        /// The dma-buf file descriptor (owned by the caller's keep-alive).
        fd: i32,
        /// Bytes used, counted from the start of the dma-buf.
        bytesused: u32,
        /// Size of the dma-buf.
        length: u32,
        /// Offset of the picture in the dma-buf.
        data_offset: u32,
    },
}

/// A buffer back from VIDIOC_DQBUF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DequeuedBuffer {
    /// Buffer index.
    pub index: u32,
    /// Bytes used (including `data_offset`).
    pub bytesused: u32,
    /// Offset of the data.
    pub data_offset: u32,
    /// `V4L2_BUF_FLAG_*`.
    pub flags: u32,
    /// Timestamp, microseconds (copied from the OUTPUT buffer).
    pub timestamp_us: u64,
}

/// The device operations the encoder needs.
pub trait M2mDevice: Send {
    /// VIDIOC_QUERYCAP.
    fn query_cap(&mut self) -> io::Result<Capability>;
    /// VIDIOC_S_FMT; returns what the driver made of it.
    fn set_format(&mut self, q: QueueType, f: &PixFormat) -> io::Result<PixFormat>;
    /// VIDIOC_S_PARM on OUTPUT: frame rate `num/den` frames/s.
    fn set_frame_rate(&mut self, num: u32, den: u32) -> io::Result<()>;
    /// VIDIOC_QUERYCTRL.
    fn query_control(&mut self, id: u32) -> io::Result<ControlRange>;
    /// VIDIOC_S_CTRL.
    fn set_control(&mut self, id: u32, value: i32) -> io::Result<()>;
    /// VIDIOC_REQBUFS (and mapping for MMAP); returns the count granted.
    fn request_buffers(&mut self, q: QueueType, memory: Memory, count: u32) -> io::Result<u32>;
    /// The mapped memory of an MMAP buffer.
    fn buffer_mut(&mut self, q: QueueType, index: u32) -> Option<&mut [u8]>;
    /// VIDIOC_QBUF.
    fn queue(
        &mut self,
        q: QueueType,
        index: u32,
        io: BufferIo,
        timestamp_us: u64,
    ) -> io::Result<()>;
    /// VIDIOC_DQBUF, non-blocking: `None` when nothing is ready.
    fn dequeue(&mut self, q: QueueType, memory: Memory) -> io::Result<Option<DequeuedBuffer>>;
    /// VIDIOC_STREAMON / STREAMOFF.
    fn stream(&mut self, q: QueueType, on: bool) -> io::Result<()>;
    /// VIDIOC_ENCODER_CMD with V4L2_ENC_CMD_STOP.
    fn encoder_stop(&mut self) -> io::Result<()>;
    /// Waits up to `timeout_ms` for a buffer to be ready; false on timeout.
    fn wait(&mut self, timeout_ms: i32) -> io::Result<bool>;
}

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
    let cap = dev.query_cap().map_err(|e| {
        M2mError::NotEncoder(format!(
            "{path} is not a V4L2 device (VIDIOC_QUERYCAP: {e})"
        ))
    })?;
    let need = sys::CAP_VIDEO_M2M_MPLANE | sys::CAP_STREAMING;
    if cap.device_caps & need != need {
        return Err(M2mError::NotEncoder(format!(
            "{path} ({}, {}) is not a multi-planar memory-to-memory device (capabilities 0x{:08x})",
            cap.driver, cap.card, cap.device_caps
        )));
    }
    let h264 = sys::fourcc(b"H264");
    let want = PixFormat {
        width: 640,
        height: 480,
        fourcc: h264,
        sizeimage: 512 * 1024,
        ..Default::default()
    };
    match dev.set_format(QueueType::Capture, &want) {
        Ok(f) if f.fourcc == h264 => Ok(cap),
        Ok(_) | Err(_) => Err(M2mError::NotEncoder(format!(
            "{path} ({}, {}) is a memory-to-memory device but not an H.264 encoder",
            cap.driver, cap.card
        ))),
    }
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
        let h264 = sys::fourcc(b"H264");
        let cap_size = if cfg.width * cfg.height > 1280 * 720 {
            768 * 1024
        } else {
            512 * 1024
        };
        let want_cap = PixFormat {
            width: cfg.width,
            height: cfg.height,
            fourcc: h264,
            sizeimage: cap_size,
            ..Default::default()
        };
        let got = dev
            .set_format(QueueType::Capture, &want_cap)
            .map_err(io_err("VIDIOC_S_FMT (CAPTURE, H.264)"))?;
        if got.fourcc != h264 {
            return Err(M2mError::NotEncoder(
                "the device does not produce H.264".into(),
            ));
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
        dev.set_frame_rate(num, den)
            .map_err(io_err("VIDIOC_S_PARM"))?;
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
        while let Some(b) = self
            .dev
            .dequeue(QueueType::Capture, Memory::Mmap)
            .map_err(io_err("VIDIOC_DQBUF (CAPTURE)"))?
        {
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
                last = true;
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
            self.set_control(super::controls::CID_FORCE_KEY_FRAME, 1)?;
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
        self.dev
            .encoder_stop()
            .map_err(io_err("VIDIOC_ENCODER_CMD (STOP)"))?;
        loop {
            if self.collect()? {
                break;
            }
            self.wait()?;
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
pub mod fake {
    //! A fake encoder device: it "encodes" an OUTPUT buffer into a CAPTURE buffer whenever the
    //! state machine dequeues, copying the timestamp, flagging key frames like bcm2835-codec.
    use super::*;
    use std::collections::VecDeque;

    /// Fake device state and a log of calls.
    #[derive(Default)]
    pub struct FakeDevice {
        pub log: Vec<String>,
        pub caps: u32,
        pub not_h264: bool,
        pub max_width: u32,
        pub out_count: u32,
        pub cap_bufs: Vec<Vec<u8>>,
        pub out_bufs: Vec<Vec<u8>>,
        pub out_queued: VecDeque<(u32, u64, Option<i32>)>,
        pub out_done: VecDeque<u32>,
        pub cap_free: VecDeque<u32>,
        pub cap_done: VecDeque<DequeuedBuffer>,
        pub streaming: [bool; 2],
        pub force_next: bool,
        pub iperiod: i32,
        pub frames: u32,
        pub stopping: bool,
        pub stalled: bool,
        pub controls: Vec<(u32, i32)>,
    }

    impl FakeDevice {
        pub fn new() -> Self {
            FakeDevice {
                caps: sys::CAP_VIDEO_M2M_MPLANE | sys::CAP_STREAMING,
                max_width: 1920,
                out_count: 6,
                iperiod: 60,
                ..Default::default()
            }
        }

        fn process(&mut self) {
            if self.stalled || !self.streaming[0] || !self.streaming[1] {
                return;
            }
            while !self.out_queued.is_empty() && !self.cap_free.is_empty() {
                let (idx, ts, _fd) = self.out_queued.pop_front().unwrap();
                let cap = self.cap_free.pop_front().unwrap();
                let key = self.frames == 0
                    || self.force_next
                    || (self.iperiod > 0 && self.frames.is_multiple_of(self.iperiod as u32));
                self.force_next = false;
                let mut au = Vec::new();
                if self.frames == 0 {
                    au.extend_from_slice(&[0, 0, 0, 1, 0x67, 100, 0, 40, 0, 0, 0, 1, 0x68, 0xee]);
                }
                au.extend_from_slice(&[0, 0, 0, 1, if key { 0x65 } else { 0x41 }, ts as u8]);
                self.cap_bufs[cap as usize][..au.len()].copy_from_slice(&au);
                self.cap_done.push_back(DequeuedBuffer {
                    index: cap,
                    bytesused: au.len() as u32,
                    data_offset: 0,
                    flags: if key { sys::BUF_FLAG_KEYFRAME } else { 0 },
                    timestamp_us: ts,
                });
                self.out_done.push_back(idx);
                self.frames += 1;
            }
            if self.stopping && self.out_queued.is_empty() {
                if let Some(cap) = self.cap_free.pop_front() {
                    self.cap_done.push_back(DequeuedBuffer {
                        index: cap,
                        bytesused: 0,
                        data_offset: 0,
                        flags: sys::BUF_FLAG_LAST,
                        timestamp_us: 0,
                    });
                    self.stopping = false;
                }
            }
        }
    }

    impl M2mDevice for FakeDevice {
        fn query_cap(&mut self) -> io::Result<Capability> {
            self.log.push("QUERYCAP".into());
            Ok(Capability {
                driver: "fake-codec".into(),
                card: "fake".into(),
                device_caps: self.caps,
            })
        }
        fn set_format(&mut self, q: QueueType, f: &PixFormat) -> io::Result<PixFormat> {
            self.log.push(format!(
                "S_FMT {q:?} {}x{} stride {}",
                f.width, f.height, f.bytesperline
            ));
            let mut g = *f;
            if q == QueueType::Capture && self.not_h264 {
                g.fourcc = sys::fourcc(b"MJPG");
            }
            g.width = g.width.min(self.max_width);
            Ok(g)
        }
        fn set_frame_rate(&mut self, num: u32, den: u32) -> io::Result<()> {
            self.log.push(format!("S_PARM {num}/{den}"));
            Ok(())
        }
        fn query_control(&mut self, _id: u32) -> io::Result<ControlRange> {
            Err(io::Error::from_raw_os_error(libc::EINVAL))
        }
        fn set_control(&mut self, id: u32, value: i32) -> io::Result<()> {
            self.log.push(format!("S_CTRL 0x{id:08x}={value}"));
            if id == super::super::controls::CID_FORCE_KEY_FRAME {
                self.force_next = true;
            } else if id == super::super::controls::CID_H264_I_PERIOD {
                self.iperiod = value;
            }
            self.controls.push((id, value));
            Ok(())
        }
        fn request_buffers(&mut self, q: QueueType, memory: Memory, count: u32) -> io::Result<u32> {
            self.log.push(format!("REQBUFS {q:?} {memory:?} {count}"));
            let n = if q == QueueType::Output {
                count.min(self.out_count)
            } else {
                count
            };
            let bufs = (0..n).map(|_| vec![0u8; 1 << 16]).collect();
            match q {
                QueueType::Output => self.out_bufs = bufs,
                QueueType::Capture => self.cap_bufs = bufs,
            }
            Ok(n)
        }
        fn buffer_mut(&mut self, q: QueueType, index: u32) -> Option<&mut [u8]> {
            match q {
                QueueType::Output => self
                    .out_bufs
                    .get_mut(index as usize)
                    .map(|v| v.as_mut_slice()),
                QueueType::Capture => self
                    .cap_bufs
                    .get_mut(index as usize)
                    .map(|v| v.as_mut_slice()),
            }
        }
        fn queue(&mut self, q: QueueType, index: u32, io: BufferIo, ts: u64) -> io::Result<()> {
            match q {
                QueueType::Output => {
                    self.log.push(format!("QBUF Output {index} ts {ts} {io:?}"));
                    let fd = match io {
                        BufferIo::DmaBuf { fd, .. } => Some(fd),
                        BufferIo::Mmap { .. } => None,
                    };
                    self.out_queued.push_back((index, ts, fd));
                }
                QueueType::Capture => self.cap_free.push_back(index),
            }
            Ok(())
        }
        fn dequeue(&mut self, q: QueueType, _memory: Memory) -> io::Result<Option<DequeuedBuffer>> {
            self.process();
            Ok(match q {
                QueueType::Output => self.out_done.pop_front().map(|index| DequeuedBuffer {
                    index,
                    bytesused: 0,
                    data_offset: 0,
                    flags: 0,
                    timestamp_us: 0,
                }),
                QueueType::Capture => self.cap_done.pop_front(),
            })
        }
        fn stream(&mut self, q: QueueType, on: bool) -> io::Result<()> {
            self.log
                .push(format!("STREAM{} {q:?}", if on { "ON" } else { "OFF" }));
            self.streaming[q as usize] = on;
            if !on {
                self.out_queued.clear();
                self.cap_free.clear();
                self.cap_done.clear();
                self.out_done.clear();
            }
            Ok(())
        }
        fn encoder_stop(&mut self) -> io::Result<()> {
            self.log.push("ENCODER_CMD STOP".into());
            self.stopping = true;
            Ok(())
        }
        fn wait(&mut self, _timeout_ms: i32) -> io::Result<bool> {
            self.process();
            Ok(!self.cap_done.is_empty() || !self.out_done.is_empty())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeDevice;
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
