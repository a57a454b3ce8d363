// SPDX-License-Identifier: MPL-2.0
//! The small part of the kernel's V4L2 ABI (`linux/videodev2.h`, `linux/v4l2-controls.h`)
//! that a stateful M2M encoder needs, declared by hand with `repr(C)` and checked against
//! the kernel's struct sizes in the tests, plus [`Device`], the real `/dev/videoN` behind the
//! [`M2mDevice`] trait.
//!
//! Not verified on hardware: this kernel has no V4L2 at all (see docs/rpih264enc.md).

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use libc::{c_int, c_ulong, c_void};

use super::device::{
    BufferIo, Capability, ControlRange, DequeuedBuffer, FrameSizes, M2mDevice, Memory, PixFormat,
    QueueType,
};

/// `V4L2_CAP_VIDEO_M2M_MPLANE`.
pub const CAP_VIDEO_M2M_MPLANE: u32 = 0x0000_4000;
/// `V4L2_CAP_VIDEO_M2M` (single-planar; vim2m, vicodec without `multiplanar=1`).
pub const CAP_VIDEO_M2M: u32 = 0x0000_8000;
/// `V4L2_CAP_VIDEO_CAPTURE_MPLANE`.
pub const CAP_VIDEO_CAPTURE_MPLANE: u32 = 0x0000_1000;
/// `V4L2_CAP_VIDEO_OUTPUT_MPLANE`.
pub const CAP_VIDEO_OUTPUT_MPLANE: u32 = 0x0000_2000;
/// `V4L2_CAP_STREAMING`.
pub const CAP_STREAMING: u32 = 0x0400_0000;
/// `V4L2_CAP_DEVICE_CAPS`.
pub const CAP_DEVICE_CAPS: u32 = 0x8000_0000;

/// `V4L2_BUF_TYPE_VIDEO_CAPTURE` (single-planar).
pub const BUF_TYPE_CAPTURE: u32 = 1;
/// `V4L2_BUF_TYPE_VIDEO_OUTPUT` (single-planar).
pub const BUF_TYPE_OUTPUT: u32 = 2;
/// `V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE`.
pub const BUF_TYPE_CAPTURE_MPLANE: u32 = 9;
/// `V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE`.
pub const BUF_TYPE_OUTPUT_MPLANE: u32 = 10;
/// `V4L2_MEMORY_MMAP`.
pub const MEMORY_MMAP: u32 = 1;
/// `V4L2_MEMORY_DMABUF`.
pub const MEMORY_DMABUF: u32 = 4;
/// `V4L2_FIELD_NONE`.
pub const FIELD_NONE: u32 = 1;
/// `V4L2_BUF_FLAG_KEYFRAME`.
pub const BUF_FLAG_KEYFRAME: u32 = 0x0000_0008;
/// `V4L2_BUF_FLAG_ERROR`.
pub const BUF_FLAG_ERROR: u32 = 0x0000_0040;
/// `V4L2_BUF_FLAG_TIMESTAMP_COPY`.
pub const BUF_FLAG_TIMESTAMP_COPY: u32 = 0x0000_4000;
/// `V4L2_BUF_FLAG_LAST`.
pub const BUF_FLAG_LAST: u32 = 0x0010_0000;
/// `V4L2_ENC_CMD_STOP`.
pub const ENC_CMD_STOP: u32 = 1;
/// `VIDEO_MAX_PLANES`.
pub const VIDEO_MAX_PLANES: usize = 8;

/// Builds a V4L2 fourcc.
pub const fn fourcc(s: &[u8; 4]) -> u32 {
    (s[0] as u32) | ((s[1] as u32) << 8) | ((s[2] as u32) << 16) | ((s[3] as u32) << 24)
}

/// `struct v4l2_capability`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct v4l2_capability {
    pub driver: [u8; 16],
    pub card: [u8; 32],
    pub bus_info: [u8; 32],
    pub version: u32,
    pub capabilities: u32,
    pub device_caps: u32,
    pub reserved: [u32; 3],
}

/// `struct v4l2_plane_pix_format` (packed in the kernel; naturally aligned anyway).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_plane_pix_format {
    pub sizeimage: u32,
    pub bytesperline: u32,
    pub reserved: [u16; 6],
}

/// `struct v4l2_pix_format_mplane` (packed in the kernel; naturally aligned anyway).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_pix_format_mplane {
    pub width: u32,
    pub height: u32,
    pub pixelformat: u32,
    pub field: u32,
    pub colorspace: u32,
    pub plane_fmt: [v4l2_plane_pix_format; VIDEO_MAX_PLANES],
    pub num_planes: u8,
    pub flags: u8,
    pub ycbcr_enc: u8,
    pub quantization: u8,
    pub xfer_func: u8,
    pub reserved: [u8; 7],
}

/// `struct v4l2_pix_format` (single-planar; `ycbcr_enc` shares its word with `hsv_enc`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_pix_format {
    pub width: u32,
    pub height: u32,
    pub pixelformat: u32,
    pub field: u32,
    pub bytesperline: u32,
    pub sizeimage: u32,
    pub colorspace: u32,
    pub priv_: u32,
    pub flags: u32,
    pub ycbcr_enc: u32,
    pub quantization: u32,
    pub xfer_func: u32,
}

/// The `fmt` union of `struct v4l2_format` (it holds pointers, hence the alignment member).
#[repr(C)]
#[derive(Clone, Copy)]
pub union v4l2_format_fmt {
    pub pix: v4l2_pix_format,
    pub pix_mp: v4l2_pix_format_mplane,
    pub raw_data: [u8; 200],
    _align: [*mut c_void; 0],
}

/// `struct v4l2_format`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct v4l2_format {
    pub type_: u32,
    pub fmt: v4l2_format_fmt,
}

/// `struct v4l2_requestbuffers`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_requestbuffers {
    pub count: u32,
    pub type_: u32,
    pub memory: u32,
    pub capabilities: u32,
    pub flags: u8,
    pub reserved: [u8; 3],
}

/// The `m` union of `struct v4l2_plane`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union v4l2_plane_m {
    pub mem_offset: u32,
    pub userptr: c_ulong,
    pub fd: i32,
}

/// `struct v4l2_plane`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct v4l2_plane {
    pub bytesused: u32,
    pub length: u32,
    pub m: v4l2_plane_m,
    pub data_offset: u32,
    pub reserved: [u32; 11],
}

/// `struct v4l2_timecode`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_timecode {
    pub type_: u32,
    pub flags: u32,
    pub frames: u8,
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub userbits: [u8; 4],
}

/// The `m` union of `struct v4l2_buffer`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union v4l2_buffer_m {
    pub offset: u32,
    pub userptr: c_ulong,
    pub planes: *mut v4l2_plane,
    pub fd: i32,
}

/// `struct v4l2_buffer`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct v4l2_buffer {
    pub index: u32,
    pub type_: u32,
    pub bytesused: u32,
    pub flags: u32,
    pub field: u32,
    pub timestamp: libc::timeval,
    pub timecode: v4l2_timecode,
    pub sequence: u32,
    pub memory: u32,
    pub m: v4l2_buffer_m,
    pub length: u32,
    pub reserved2: u32,
    pub request_fd: i32,
}

/// `struct v4l2_control`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_control {
    pub id: u32,
    pub value: i32,
}

/// `struct v4l2_queryctrl`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct v4l2_queryctrl {
    pub id: u32,
    pub type_: u32,
    pub name: [u8; 32],
    pub minimum: i32,
    pub maximum: i32,
    pub step: i32,
    pub default_value: i32,
    pub flags: u32,
    pub reserved: [u32; 2],
}

/// `struct v4l2_encoder_cmd`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_encoder_cmd {
    pub cmd: u32,
    pub flags: u32,
    pub data: [u32; 8],
}

/// `struct v4l2_fract`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_fract {
    pub numerator: u32,
    pub denominator: u32,
}

/// `struct v4l2_outputparm`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_outputparm {
    pub capability: u32,
    pub outputmode: u32,
    pub timeperframe: v4l2_fract,
    pub extendedmode: u32,
    pub writebuffers: u32,
    pub reserved: [u32; 4],
}

/// `struct v4l2_streamparm` (output half of the union).
#[repr(C)]
#[derive(Clone, Copy)]
pub union v4l2_streamparm_parm {
    pub output: v4l2_outputparm,
    pub raw_data: [u8; 200],
}

/// `struct v4l2_streamparm`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct v4l2_streamparm {
    pub type_: u32,
    pub parm: v4l2_streamparm_parm,
}

/// `struct v4l2_frmsizeenum` (the union as its stepwise member; a discrete size is its first
/// two words).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct v4l2_frmsizeenum {
    pub index: u32,
    pub pixel_format: u32,
    pub type_: u32,
    pub min_width: u32,
    pub max_width: u32,
    pub step_width: u32,
    pub min_height: u32,
    pub max_height: u32,
    pub step_height: u32,
    pub reserved: [u32; 2],
}

/// `V4L2_FRMSIZE_TYPE_DISCRETE`.
pub const FRMSIZE_TYPE_DISCRETE: u32 = 1;

const IOC_WRITE: c_ulong = 1;
const IOC_READ: c_ulong = 2;

const fn ioc(dir: c_ulong, nr: c_ulong, size: usize) -> c_ulong {
    (dir << 30) | ((size as c_ulong) << 16) | ((b'V' as c_ulong) << 8) | nr
}

/// ioctl request numbers (`_IOR`/`_IOW`/`_IOWR('V', nr, type)`).
pub mod ioctl {
    use super::*;
    use std::mem::size_of;
    pub const VIDIOC_QUERYCAP: c_ulong = ioc(IOC_READ, 0, size_of::<v4l2_capability>());
    pub const VIDIOC_G_FMT: c_ulong = ioc(IOC_READ | IOC_WRITE, 4, size_of::<v4l2_format>());
    pub const VIDIOC_S_FMT: c_ulong = ioc(IOC_READ | IOC_WRITE, 5, size_of::<v4l2_format>());
    pub const VIDIOC_REQBUFS: c_ulong =
        ioc(IOC_READ | IOC_WRITE, 8, size_of::<v4l2_requestbuffers>());
    pub const VIDIOC_QUERYBUF: c_ulong = ioc(IOC_READ | IOC_WRITE, 9, size_of::<v4l2_buffer>());
    pub const VIDIOC_QBUF: c_ulong = ioc(IOC_READ | IOC_WRITE, 15, size_of::<v4l2_buffer>());
    pub const VIDIOC_DQBUF: c_ulong = ioc(IOC_READ | IOC_WRITE, 17, size_of::<v4l2_buffer>());
    pub const VIDIOC_STREAMON: c_ulong = ioc(IOC_WRITE, 18, size_of::<c_int>());
    pub const VIDIOC_STREAMOFF: c_ulong = ioc(IOC_WRITE, 19, size_of::<c_int>());
    pub const VIDIOC_S_PARM: c_ulong = ioc(IOC_READ | IOC_WRITE, 22, size_of::<v4l2_streamparm>());
    pub const VIDIOC_S_CTRL: c_ulong = ioc(IOC_READ | IOC_WRITE, 28, size_of::<v4l2_control>());
    pub const VIDIOC_QUERYCTRL: c_ulong =
        ioc(IOC_READ | IOC_WRITE, 36, size_of::<v4l2_queryctrl>());
    pub const VIDIOC_ENUM_FRAMESIZES: c_ulong =
        ioc(IOC_READ | IOC_WRITE, 74, size_of::<v4l2_frmsizeenum>());
    pub const VIDIOC_ENCODER_CMD: c_ulong =
        ioc(IOC_READ | IOC_WRITE, 77, size_of::<v4l2_encoder_cmd>());
}

fn xioctl<T>(fd: RawFd, req: c_ulong, arg: &mut T) -> io::Result<()> {
    loop {
        // SAFETY: `arg` is the struct type that `req` encodes (sizes checked in tests).
        let r = unsafe { libc::ioctl(fd, req as _, arg as *mut T as *mut c_void) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn zeroed<T: Copy>() -> T {
    // SAFETY: only used for the plain-old-data V4L2 structs above, for which all-zero is valid.
    unsafe { std::mem::zeroed() }
}

fn queue_type(q: QueueType, mplane: bool) -> u32 {
    match (q, mplane) {
        (QueueType::Output, true) => BUF_TYPE_OUTPUT_MPLANE,
        (QueueType::Capture, true) => BUF_TYPE_CAPTURE_MPLANE,
        (QueueType::Output, false) => BUF_TYPE_OUTPUT,
        (QueueType::Capture, false) => BUF_TYPE_CAPTURE,
    }
}

fn memory_type(m: Memory) -> u32 {
    match m {
        Memory::Mmap => MEMORY_MMAP,
        Memory::DmaBuf => MEMORY_DMABUF,
    }
}

struct Mapping {
    ptr: *mut c_void,
    len: usize,
}

/// An opened V4L2 device node, driven through its multi-planar queues (bcm2835-codec) or,
/// when the device has only single-planar ones (vim2m; vicodec by default), through those.
pub struct Device {
    file: File,
    maps: [Vec<Mapping>; 2],
    /// The queues are multi-planar (`*_MPLANE` buffer types); decided at open.
    mplane: bool,
}

// SAFETY: the mappings are owned by the device and only touched through &mut self.
unsafe impl Send for Device {}

impl Device {
    /// Opens a device node read/write, non-blocking (dequeue waits in `poll`).
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)?;
        let mut dev = Device {
            file,
            maps: [Vec::new(), Vec::new()],
            mplane: true,
        };
        // Single-planar only when the device says so; a node that answers no QUERYCAP keeps
        // the multi-planar default (and fails at the first ioctl the caller makes).
        if let Ok(cap) = dev.query_cap() {
            let mplane = CAP_VIDEO_M2M_MPLANE | CAP_VIDEO_CAPTURE_MPLANE | CAP_VIDEO_OUTPUT_MPLANE;
            dev.mplane = cap.device_caps & mplane != 0 || cap.device_caps & CAP_VIDEO_M2M == 0;
        }
        Ok(dev)
    }

    /// Whether the queues are driven as multi-planar ones.
    pub fn is_multiplanar(&self) -> bool {
        self.mplane
    }

    fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    fn qtype(&self, q: QueueType) -> u32 {
        queue_type(q, self.mplane)
    }

    fn unmap(&mut self, q: QueueType) {
        for m in self.maps[q as usize].drain(..) {
            // SAFETY: ptr/len come from a successful mmap.
            unsafe { libc::munmap(m.ptr, m.len) };
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.unmap(QueueType::Output);
        self.unmap(QueueType::Capture);
    }
}

fn cstr(bytes: &[u8]) -> String {
    CStr::from_bytes_until_nul(bytes)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned())
}

impl M2mDevice for Device {
    fn query_cap(&mut self) -> io::Result<Capability> {
        let mut cap: v4l2_capability = zeroed();
        xioctl(self.fd(), ioctl::VIDIOC_QUERYCAP, &mut cap)?;
        let caps = if cap.capabilities & CAP_DEVICE_CAPS != 0 {
            cap.device_caps
        } else {
            cap.capabilities
        };
        Ok(Capability {
            driver: cstr(&cap.driver),
            card: cstr(&cap.card),
            device_caps: caps,
        })
    }

    fn set_format(&mut self, q: QueueType, f: &PixFormat) -> io::Result<PixFormat> {
        let mut fmt: v4l2_format = zeroed();
        fmt.type_ = self.qtype(q);
        if !self.mplane {
            fmt.fmt.pix = v4l2_pix_format {
                width: f.width,
                height: f.height,
                pixelformat: f.fourcc,
                field: FIELD_NONE,
                bytesperline: f.bytesperline,
                sizeimage: f.sizeimage,
                colorspace: f.colorspace,
                ..Default::default()
            };
            xioctl(self.fd(), ioctl::VIDIOC_S_FMT, &mut fmt)?;
            // SAFETY: the driver filled pix for a single-planar type.
            let pix = unsafe { fmt.fmt.pix };
            return Ok(PixFormat {
                width: pix.width,
                height: pix.height,
                fourcc: pix.pixelformat,
                bytesperline: pix.bytesperline,
                sizeimage: pix.sizeimage,
                colorspace: pix.colorspace,
            });
        }
        let mut pix: v4l2_pix_format_mplane = zeroed();
        pix.width = f.width;
        pix.height = f.height;
        pix.pixelformat = f.fourcc;
        pix.field = FIELD_NONE;
        pix.colorspace = f.colorspace;
        pix.num_planes = 1;
        pix.plane_fmt[0].bytesperline = f.bytesperline;
        pix.plane_fmt[0].sizeimage = f.sizeimage;
        fmt.fmt.pix_mp = pix;
        xioctl(self.fd(), ioctl::VIDIOC_S_FMT, &mut fmt)?;
        // SAFETY: the driver filled pix_mp for an MPLANE type.
        let pix = unsafe { fmt.fmt.pix_mp };
        Ok(PixFormat {
            width: pix.width,
            height: pix.height,
            fourcc: pix.pixelformat,
            bytesperline: pix.plane_fmt[0].bytesperline,
            sizeimage: pix.plane_fmt[0].sizeimage,
            colorspace: pix.colorspace,
        })
    }

    fn set_frame_rate(&mut self, num: u32, den: u32) -> io::Result<()> {
        let mut parm: v4l2_streamparm = zeroed();
        parm.type_ = self.qtype(QueueType::Output);
        let mut out: v4l2_outputparm = zeroed();
        // timeperframe is the inverse of the frame rate.
        out.timeperframe = v4l2_fract {
            numerator: den,
            denominator: num,
        };
        parm.parm.output = out;
        xioctl(self.fd(), ioctl::VIDIOC_S_PARM, &mut parm)
    }

    fn query_control(&mut self, id: u32) -> io::Result<ControlRange> {
        let mut q: v4l2_queryctrl = zeroed();
        q.id = id;
        xioctl(self.fd(), ioctl::VIDIOC_QUERYCTRL, &mut q)?;
        Ok(ControlRange {
            min: q.minimum,
            max: q.maximum,
            step: q.step,
            default: q.default_value,
        })
    }

    fn frame_sizes(&mut self, fourcc: u32) -> io::Result<FrameSizes> {
        let mut sizes: Option<FrameSizes> = None;
        for index in 0..64 {
            let mut f: v4l2_frmsizeenum = zeroed();
            f.index = index;
            f.pixel_format = fourcc;
            if let Err(e) = xioctl(self.fd(), ioctl::VIDIOC_ENUM_FRAMESIZES, &mut f) {
                return sizes.ok_or(e);
            }
            if f.type_ != FRMSIZE_TYPE_DISCRETE {
                // Stepwise or continuous: one entry holds the whole range.
                return Ok(FrameSizes {
                    min_width: f.min_width,
                    max_width: f.max_width,
                    min_height: f.min_height,
                    max_height: f.max_height,
                });
            }
            // Discrete: width and height are the union's first two words.
            let (w, h) = (f.min_width, f.max_width);
            sizes = Some(match sizes {
                None => FrameSizes {
                    min_width: w,
                    max_width: w,
                    min_height: h,
                    max_height: h,
                },
                Some(s) => FrameSizes {
                    min_width: s.min_width.min(w),
                    max_width: s.max_width.max(w),
                    min_height: s.min_height.min(h),
                    max_height: s.max_height.max(h),
                },
            });
        }
        sizes.ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
    }

    fn set_control(&mut self, id: u32, value: i32) -> io::Result<()> {
        let mut c = v4l2_control { id, value };
        xioctl(self.fd(), ioctl::VIDIOC_S_CTRL, &mut c)
    }

    fn request_buffers(&mut self, q: QueueType, memory: Memory, count: u32) -> io::Result<u32> {
        if count == 0 {
            self.unmap(q);
        }
        let mut req = v4l2_requestbuffers {
            count,
            type_: self.qtype(q),
            memory: memory_type(memory),
            ..Default::default()
        };
        xioctl(self.fd(), ioctl::VIDIOC_REQBUFS, &mut req)?;
        if memory == Memory::Mmap && req.count > 0 {
            self.unmap(q);
            for index in 0..req.count {
                let mut plane: v4l2_plane = zeroed();
                let mut buf: v4l2_buffer = zeroed();
                buf.index = index;
                buf.type_ = self.qtype(q);
                buf.memory = MEMORY_MMAP;
                if self.mplane {
                    buf.length = 1;
                    buf.m.planes = &mut plane;
                }
                xioctl(self.fd(), ioctl::VIDIOC_QUERYBUF, &mut buf)?;
                // SAFETY: QUERYBUF filled mem_offset (multi-planar) or offset for MMAP.
                let (offset, len) = if self.mplane {
                    (unsafe { plane.m.mem_offset }, plane.length as usize)
                } else {
                    (unsafe { buf.m.offset }, buf.length as usize)
                };
                // SAFETY: maps the driver's buffer as the V4L2 MMAP API prescribes.
                let ptr = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_SHARED,
                        self.fd(),
                        offset as libc::off_t,
                    )
                };
                if ptr == libc::MAP_FAILED {
                    return Err(io::Error::last_os_error());
                }
                self.maps[q as usize].push(Mapping { ptr, len });
            }
        }
        Ok(req.count)
    }

    fn buffer_mut(&mut self, q: QueueType, index: u32) -> Option<&mut [u8]> {
        let m = self.maps[q as usize].get(index as usize)?;
        // SAFETY: the mapping lives until unmap; &mut self guarantees exclusive access here.
        Some(unsafe { std::slice::from_raw_parts_mut(m.ptr.cast::<u8>(), m.len) })
    }

    fn queue(
        &mut self,
        q: QueueType,
        index: u32,
        io: BufferIo,
        timestamp_us: u64,
    ) -> io::Result<()> {
        let mut plane: v4l2_plane = zeroed();
        let mut buf: v4l2_buffer = zeroed();
        buf.index = index;
        buf.type_ = self.qtype(q);
        buf.field = FIELD_NONE;
        buf.length = 1;
        // Field by field, each cast to the field's own type: libc's `timeval` differs between
        // targets (32- or 64-bit `time_t` and `suseconds_t`, padding on armhf's 64-bit time).
        buf.timestamp.tv_sec = (timestamp_us / 1_000_000) as _;
        buf.timestamp.tv_usec = (timestamp_us % 1_000_000) as _;
        match io {
            BufferIo::Mmap { bytesused } => {
                buf.memory = MEMORY_MMAP;
                plane.bytesused = bytesused;
            }
            BufferIo::DmaBuf {
                fd,
                bytesused,
                length,
                data_offset,
            } => {
                buf.memory = MEMORY_DMABUF;
                plane.bytesused = bytesused;
                plane.length = length;
                plane.data_offset = data_offset;
                plane.m.fd = fd;
            }
        }
        if !self.mplane {
            // The same fields, in the buffer itself; a single-planar buffer has no data offset.
            if plane.data_offset != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "a single-planar queue cannot take a picture at offset {} of its dma-buf",
                        plane.data_offset
                    ),
                ));
            }
            buf.bytesused = plane.bytesused;
            buf.length = if buf.memory == MEMORY_DMABUF {
                plane.length
            } else {
                0
            };
            if buf.memory == MEMORY_DMABUF {
                // SAFETY: plain integer union member.
                buf.m.fd = unsafe { plane.m.fd };
            }
            return xioctl(self.fd(), ioctl::VIDIOC_QBUF, &mut buf);
        }
        buf.m.planes = &mut plane;
        xioctl(self.fd(), ioctl::VIDIOC_QBUF, &mut buf)
    }

    fn dequeue(&mut self, q: QueueType, memory: Memory) -> io::Result<Option<DequeuedBuffer>> {
        let mut plane: v4l2_plane = zeroed();
        let mut buf: v4l2_buffer = zeroed();
        buf.type_ = self.qtype(q);
        buf.memory = memory_type(memory);
        if self.mplane {
            buf.length = 1;
            buf.m.planes = &mut plane;
        }
        match xioctl(self.fd(), ioctl::VIDIOC_DQBUF, &mut buf) {
            Ok(()) => Ok(Some(DequeuedBuffer {
                index: buf.index,
                bytesused: if self.mplane {
                    plane.bytesused
                } else {
                    buf.bytesused
                },
                data_offset: plane.data_offset,
                flags: buf.flags,
                timestamp_us: buf.timestamp.tv_sec as u64 * 1_000_000
                    + buf.timestamp.tv_usec as u64,
            })),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn stream(&mut self, q: QueueType, on: bool) -> io::Result<()> {
        let mut t: c_int = self.qtype(q) as c_int;
        xioctl(
            self.fd(),
            if on {
                ioctl::VIDIOC_STREAMON
            } else {
                ioctl::VIDIOC_STREAMOFF
            },
            &mut t,
        )
    }

    fn encoder_stop(&mut self) -> io::Result<()> {
        let mut cmd = v4l2_encoder_cmd {
            cmd: ENC_CMD_STOP,
            ..Default::default()
        };
        xioctl(self.fd(), ioctl::VIDIOC_ENCODER_CMD, &mut cmd)
    }

    fn wait(&mut self, timeout_ms: i32) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN | libc::POLLOUT | libc::POLLPRI,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            if r >= 0 {
                if pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0
                    && pfd.revents & (libc::POLLIN | libc::POLLOUT) == 0
                {
                    return Err(io::Error::other(
                        "poll reported an error on the V4L2 device",
                    ));
                }
                return Ok(r > 0);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn struct_sizes_match_kernel_64bit() {
        // Sizes of the kernel UAPI structs on LP64 (x86-64, arm64), from pahole/sizeof on
        // linux/videodev2.h.
        assert_eq!(size_of::<v4l2_capability>(), 104);
        assert_eq!(size_of::<v4l2_pix_format>(), 48);
        assert_eq!(size_of::<v4l2_pix_format_mplane>(), 192);
        assert_eq!(size_of::<v4l2_format>(), 208);
        assert_eq!(size_of::<v4l2_requestbuffers>(), 20);
        assert_eq!(size_of::<v4l2_plane>(), 64);
        assert_eq!(size_of::<v4l2_buffer>(), 88);
        assert_eq!(size_of::<v4l2_control>(), 8);
        assert_eq!(size_of::<v4l2_queryctrl>(), 68);
        assert_eq!(size_of::<v4l2_encoder_cmd>(), 40);
        assert_eq!(size_of::<v4l2_streamparm>(), 204);
        assert_eq!(size_of::<v4l2_frmsizeenum>(), 44);
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn ioctl_numbers_match_kernel_64bit() {
        // Values of the VIDIOC_* macros on LP64 Linux.
        assert_eq!(ioctl::VIDIOC_QUERYCAP, 0x8068_5600);
        assert_eq!(ioctl::VIDIOC_S_FMT, 0xc0d0_5605);
        assert_eq!(ioctl::VIDIOC_REQBUFS, 0xc014_5608);
        assert_eq!(ioctl::VIDIOC_QUERYBUF, 0xc058_5609);
        assert_eq!(ioctl::VIDIOC_QBUF, 0xc058_560f);
        assert_eq!(ioctl::VIDIOC_DQBUF, 0xc058_5611);
        assert_eq!(ioctl::VIDIOC_STREAMON, 0x4004_5612);
        assert_eq!(ioctl::VIDIOC_STREAMOFF, 0x4004_5613);
        assert_eq!(ioctl::VIDIOC_S_PARM, 0xc0cc_5616);
        assert_eq!(ioctl::VIDIOC_S_CTRL, 0xc008_561c);
        assert_eq!(ioctl::VIDIOC_QUERYCTRL, 0xc044_5624);
        assert_eq!(ioctl::VIDIOC_ENCODER_CMD, 0xc028_564d);
        assert_eq!(ioctl::VIDIOC_ENUM_FRAMESIZES, 0xc02c_564a);
    }

    /// The ABI of this target (sizes of `v4l2_buffer`, `v4l2_plane`, `v4l2_format`, then
    /// VIDIOC_QBUF), as the kernel's <linux/videodev2.h> gives it for the three Raspberry Pi
    /// ABIs (docs/arm.md, "V4L2 ABI per target"). On 32-bit targets `time_t` in
    /// `v4l2_buffer.timestamp` decides: Rust's libc uses 32 bits on armv7 gnueabihf unless
    /// built with `--cfg libc_unstable_gnu_time_bits="64"`.
    #[test]
    fn buffer_layout_matches_the_abi_of_this_target() {
        let expected: (usize, usize, usize, u64) =
            match (size_of::<usize>(), size_of::<libc::time_t>()) {
                (8, _) => (88, 64, 208, 0xc058_560f),
                (4, 4) => (68, 60, 204, 0xc044_560f),
                (4, 8) => (80, 60, 204, 0xc050_560f),
                other => panic!("no V4L2 ABI figures for (pointer, time_t) sizes {other:?}"),
            };
        let got = (
            size_of::<v4l2_buffer>(),
            size_of::<v4l2_plane>(),
            size_of::<v4l2_format>(),
            // The request number's type is c_ulong: u32 on armhf, u64 on 64-bit targets.
            #[allow(clippy::unnecessary_cast)]
            (ioctl::VIDIOC_QBUF as u64),
        );
        assert_eq!(
            got, expected,
            "(v4l2_buffer, v4l2_plane, v4l2_format, QBUF)"
        );
    }

    /// Every size, offset and ioctl number of scripts/v4l2-abi-probe.c, computed from the Rust
    /// declarations, as "kind name" keys.
    fn rust_abi() -> Vec<(String, u64)> {
        use std::mem::offset_of;
        let mut v = Vec::new();
        macro_rules! size {
            ($($t:ident),*) => { $(v.push((format!("size {}", stringify!($t)), size_of::<$t>() as u64));)* };
        }
        macro_rules! off {
            ($t:ident: $($f:ident),*) => { $(v.push((
                format!("offset {}.{}", stringify!($t), stringify!($f)),
                offset_of!($t, $f) as u64,
            ));)* };
        }
        macro_rules! num {
            ($($n:ident),*) => { $(v.push((format!("ioctl {}", stringify!($n)), ioctl::$n as u64));)* };
        }
        size!(
            v4l2_capability,
            v4l2_pix_format_mplane,
            v4l2_format,
            v4l2_requestbuffers,
            v4l2_plane,
            v4l2_buffer,
            v4l2_control,
            v4l2_queryctrl,
            v4l2_encoder_cmd,
            v4l2_streamparm
        );
        off!(v4l2_buffer: index, bytesused, field, timestamp, timecode, sequence, memory, m, length, request_fd);
        off!(v4l2_plane: bytesused, length, m, data_offset, reserved);
        off!(v4l2_format: fmt);
        off!(v4l2_pix_format_mplane: plane_fmt, num_planes);
        off!(v4l2_streamparm: parm);
        num!(
            VIDIOC_QUERYCAP,
            VIDIOC_G_FMT,
            VIDIOC_S_FMT,
            VIDIOC_REQBUFS,
            VIDIOC_QUERYBUF,
            VIDIOC_QBUF,
            VIDIOC_DQBUF,
            VIDIOC_STREAMON,
            VIDIOC_STREAMOFF,
            VIDIOC_S_PARM,
            VIDIOC_S_CTRL,
            VIDIOC_QUERYCTRL,
            VIDIOC_ENCODER_CMD
        );
        v
    }

    /// Compares the Rust declarations with the output of scripts/v4l2-abi-probe.c, compiled for
    /// this target against its kernel headers (file named by RPICAMSRC2_V4L2_ABI_PROBE).
    /// `scripts/arm.sh ARCH abi` runs it for arm64 and both armhf ABIs; on the host:
    /// `cc -o probe scripts/v4l2-abi-probe.c && ./probe >abi.txt`, then
    /// `RPICAMSRC2_V4L2_ABI_PROBE=abi.txt cargo test --lib -- --ignored v4l2::sys`.
    #[test]
    #[ignore = "needs the C probe's output in RPICAMSRC2_V4L2_ABI_PROBE (scripts/arm.sh ARCH abi)"]
    fn layout_matches_c_probe_of_kernel_headers() {
        let path = std::env::var("RPICAMSRC2_V4L2_ABI_PROBE")
            .expect("RPICAMSRC2_V4L2_ABI_PROBE names the probe's output file");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let probe: std::collections::HashMap<String, u64> = text
            .lines()
            .map(|l| {
                let (key, value) = l
                    .rsplit_once(' ')
                    .unwrap_or_else(|| panic!("bad line {l:?}"));
                let value = match value.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => value.parse(),
                }
                .unwrap_or_else(|e| panic!("bad value in {l:?}: {e}"));
                (key.to_string(), value)
            })
            .collect();
        let rust = rust_abi();
        let diffs: Vec<String> = rust
            .iter()
            .filter(|(k, v)| probe.get(k) != Some(v))
            .map(|(k, v)| {
                format!(
                    "{k}: Rust {v:#x}, C {:?}",
                    probe.get(k).map(|c| format!("{c:#x}"))
                )
            })
            .collect();
        assert!(
            diffs.is_empty(),
            "V4L2 ABI differs from {path}:\n{}",
            diffs.join("\n")
        );
        assert_eq!(
            probe.len(),
            rust.len(),
            "the probe and rust_abi() list the same keys"
        );
    }

    #[test]
    fn fourccs() {
        assert_eq!(fourcc(b"H264"), 0x3436_3248);
        assert_eq!(fourcc(b"NV12"), 0x3231_564e);
    }

    #[test]
    fn regular_files_are_not_devices() {
        // /dev/null opens but answers no V4L2 ioctl.
        let mut d = Device::open(Path::new("/dev/null")).unwrap();
        assert!(d.query_cap().is_err());
        let tmp =
            std::env::temp_dir().join(format!("rpih264enc-notadevice-{}", std::process::id()));
        std::fs::write(&tmp, b"x").unwrap();
        let mut d = Device::open(&tmp).unwrap();
        assert!(d.query_cap().is_err());
        let _ = std::fs::remove_file(&tmp);
    }
}
