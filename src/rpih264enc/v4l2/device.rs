// SPDX-License-Identifier: MPL-2.0
//! The device boundary of the M2M encoder: the [`M2mDevice`] trait (the dozen V4L2 operations
//! the state machine in [`super::machine`] needs) and the plain values it passes. The lowest
//! layer of the V4L2 backend: it imports nothing from its siblings. [`super::sys::Device`]
//! implements the trait over a real `/dev/videoN`, and a fake device in the tests.

use std::io;

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

/// The frame sizes the driver reports for a raw format (VIDIOC_ENUM_FRAMESIZES: a stepwise
/// or continuous range, or the largest of its discrete sizes), pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSizes {
    /// Smallest width.
    pub min_width: u32,
    /// Largest width.
    pub max_width: u32,
    /// Smallest height.
    pub min_height: u32,
    /// Largest height.
    pub max_height: u32,
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
    /// VIDIOC_ENUM_FRAMESIZES for the raw (OUTPUT) format `fourcc`; an error when the driver
    /// does not report sizes.
    fn frame_sizes(&mut self, fourcc: u32) -> io::Result<FrameSizes>;
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
