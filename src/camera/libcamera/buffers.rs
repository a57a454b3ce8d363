// SPDX-License-Identifier: MPL-2.0
//! Frame buffers for the libcamera backend: frame layout, memfd buffers the element brings
//! itself, mappings, and the zero-copy view of a completed request's buffer. It knows nothing of
//! the libcamera thread: what returns a request to it is handed in by [`super`].

use std::{
    fs::File,
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd},
    ptr::NonNull,
    sync::Arc,
};

use libcamera::{
    framebuffer::{AsFrameBuffer, FrameBufferPlane, OwnedFrameBuffer},
    framebuffer_allocator::FrameBuffer as AllocatedFrameBuffer,
    geometry::Size,
    pixel_format::PixelFormat,
};

use crate::camera::format::{FrameLayout, PlaneLayout};

/// How the buffers of a stream were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferKind {
    /// libcamera's `FrameBufferAllocator`: dma-buf file descriptors (a V4L2 encoder can import
    /// them).
    DmaBuf,
    /// Buffers the element made itself with `memfd_create` because libcamera could not
    /// allocate (no dma-buf heap or udmabuf on the machine). Shareable as fd memory, not as
    /// dma-buf.
    Memfd,
}

/// The environment variable that chooses where the backend's buffers come from (read at each
/// configuration): `auto` (unset or empty: libcamera's `FrameBufferAllocator`, else memfd),
/// `dmabuf` (the allocator or an error, [`LcError::NoDmaBuf`]) or `memfd` (always the
/// element's own memfd buffers: how a machine without a dma-buf provider runs, shown on one
/// that has one). Another value is [`LcError::BuffersEnv`]. For tests and diagnosis
/// (docs/vm.md); the default is right for users.
///
/// [`LcError::NoDmaBuf`]: super::error::LcError::NoDmaBuf
/// [`LcError::BuffersEnv`]: super::error::LcError::BuffersEnv
pub const BUFFERS_ENV: &str = "RPICAMSRC2_LIBCAMERA_BUFFERS";

/// The buffer source [`BUFFERS_ENV`] asks for: `Some(kind)` forces that kind, `None` is
/// `auto`.
pub fn buffers_asked() -> Result<Option<BufferKind>, super::error::LcError> {
    let value = std::env::var(BUFFERS_ENV).unwrap_or_default();
    match value.as_str() {
        "" | "auto" => Ok(None),
        "dmabuf" => Ok(Some(BufferKind::DmaBuf)),
        "memfd" => Ok(Some(BufferKind::Memfd)),
        _ => Err(super::error::LcError::BuffersEnv { value }),
    }
}

/// Layout of a frame of `format` and `size` whose first plane has `stride` bytes per line, in
/// a buffer of at least `frame_size` bytes (libcamera's figure). The planes come from the camera
/// model's format table (the `libcamera` crate 0.7's `PixelFormatInfo` has every plane's
/// bytes-per-group at 0, so it cannot be used); formats the model does not know (compressed ones
/// such as MJPEG) get one plane of `frame_size` bytes (`stride` rows of bytes, or one row of
/// `frame_size` when `stride` is 0).
pub fn frame_layout(format: PixelFormat, size: Size, stride: u32, frame_size: u32) -> FrameLayout {
    let model = super::convert::model_format(format).and_then(|f| {
        f.layout(super::convert::model_size(size), Some(stride as usize))
            .ok()
    });
    let planes = match model {
        Some(l) => l.planes,
        None => {
            let frame_size = frame_size as usize;
            let stride = if stride > 0 {
                stride as usize
            } else {
                frame_size
            };
            vec![PlaneLayout {
                offset: 0,
                stride,
                rows: if stride == 0 {
                    0
                } else {
                    frame_size.div_ceil(stride)
                },
            }]
        }
    };
    let size = planes
        .iter()
        .map(|p| p.offset + p.size())
        .max()
        .unwrap_or(0)
        .max(frame_size as usize);
    FrameLayout { planes, size }
}

/// A read-only shared mapping of a whole frame buffer (all planes), with its own descriptor.
///
/// The backend maps each buffer once, itself: the `libcamera` crate's
/// `MemoryMappedFrameBuffer` maps per file descriptor, so planes with duplicated descriptors
/// land in separate mappings, and it panics when `mmap` fails.
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping is PROT_READ and MAP_SHARED; it is only read through `&self`, and
// unmapped once, in `Drop`. Reading it from several threads is sound.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` from offset 0, read-only.
    pub fn new(fd: BorrowedFd<'_>, len: usize) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an empty buffer",
            ));
        }
        let fd = fd.try_clone_to_owned()?;
        // SAFETY: a fresh mapping (no address hint) of a descriptor we own; nothing else refers
        // to the returned range until it is unmapped in `Drop`.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ,
                rustix::mm::MapFlags::SHARED,
                &fd,
                0,
            )
        }?;
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null address"))?;
        Ok(Self { ptr, len, fd })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live mapping of `len` readable bytes until `self` is dropped.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The descriptor of the mapped buffer (a duplicate owned by the mapping).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the range mapped in `new`; no slice borrowed from `bytes`
        // outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping")
            .field("len", &self.len)
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

/// Makes one memfd frame buffer of `layout.size` bytes holding `layout.planes`, tagged with
/// `cookie`, and its mapping.
pub fn memfd_buffer(layout: &FrameLayout, cookie: u64) -> io::Result<(OwnedFrameBuffer, Mapping)> {
    let len = layout.size;
    let fd: OwnedFd =
        rustix::fs::memfd_create(c"rpicamsrc2-frame", rustix::fs::MemfdFlags::CLOEXEC)?;
    let file = File::from(fd);
    file.set_len(len as u64)?;
    let to_u32 = |v: usize| {
        u32::try_from(v).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("plane offset or length {v} exceeds 4 GiB"),
            )
        })
    };
    let mut fb_planes = Vec::with_capacity(layout.planes.len());
    for p in &layout.planes {
        // Each plane owns a descriptor (libcamera closes them); duplicates of one memfd, which
        // libcamera recognises as one contiguous buffer (same inode).
        let fd: OwnedFd = file.as_fd().try_clone_to_owned()?;
        fb_planes.push(FrameBufferPlane {
            fd,
            offset: to_u32(p.offset)?,
            length: to_u32(p.size())?,
        });
    }
    let map = Mapping::new(file.as_fd(), len)?;
    let fb = OwnedFrameBuffer::new(fb_planes, Some(cookie))?;
    Ok((fb, map))
}

/// Maps a buffer from libcamera's allocator. Its planes must share one dma-buf (as libcamera's
/// allocators lay them out); the mapping covers them all.
pub fn map_allocated(fb: &AllocatedFrameBuffer) -> io::Result<Mapping> {
    let planes = fb.planes();
    let first = planes
        .get(0)
        .ok_or_else(|| io::Error::other("frame buffer without planes"))?;
    let fd0 = first.fd();
    let mut end = 0usize;
    for i in 0..planes.len() {
        let p = planes
            .get(i)
            .ok_or_else(|| io::Error::other("plane index out of range"))?;
        if p.fd() != fd0 {
            return Err(io::Error::other(
                "frame buffer planes in separate dma-bufs are not supported",
            ));
        }
        end = end.max(p.offset().unwrap_or(0) + p.len());
    }
    // SAFETY: `fd0` belongs to the frame buffer, which outlives this call; `Mapping::new`
    // duplicates it before returning.
    let fd = unsafe { BorrowedFd::borrow_raw(fd0) };
    Mapping::new(fd, end)
}

/// One stream's buffer of a completed request, readable without copying. Dropping it (with
/// its siblings of the same request) returns the request to the camera.
pub struct LcBuffer {
    /// Index of the stream in the configuration.
    pub stream_index: usize,
    /// Plane layout within [`Self::data`].
    pub planes: Vec<PlaneLayout>,
    /// How the buffer was allocated.
    pub kind: BufferKind,
    map: Arc<Mapping>,
    /// What keeps the request out of the camera's queue while this buffer lives (the backend's
    /// request holder, which requeues the request when its last buffer drops).
    _hold: Arc<dyn Send + Sync>,
}

impl LcBuffer {
    pub(crate) fn new(
        stream_index: usize,
        planes: Vec<PlaneLayout>,
        kind: BufferKind,
        map: Arc<Mapping>,
        hold: Arc<dyn Send + Sync>,
    ) -> Self {
        Self {
            stream_index,
            planes,
            kind,
            map,
            _hold: hold,
        }
    }

    /// The frame's bytes: all planes, laid out as [`Self::planes`] says. While this value
    /// lives the request is not queued, so libcamera does not write them.
    pub fn data(&self) -> &[u8] {
        self.map.bytes()
    }

    /// The file descriptor of the buffer (memfd or dma-buf); the planes are at their
    /// [`PlaneLayout::offset`] in it. Valid while `self` lives; do not close it.
    pub fn fd(&self) -> RawFd {
        self.map.fd()
    }
}

impl std::fmt::Debug for LcBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LcBuffer")
            .field("stream_index", &self.stream_index)
            .field("planes", &self.planes)
            .field("kind", &self.kind)
            .field("map", &self.map)
            .finish()
    }
}

impl AsRawFd for LcBuffer {
    fn as_raw_fd(&self) -> RawFd {
        self.fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nv12_layout_has_half_height_chroma_plane() {
        let nv12 = PixelFormat::parse("NV12").expect("libcamera knows NV12");
        let size = Size {
            width: 640,
            height: 480,
        };
        let layout = frame_layout(nv12, size, 640, 640 * 480 * 3 / 2);
        assert_eq!(
            layout.planes,
            vec![
                PlaneLayout {
                    offset: 0,
                    stride: 640,
                    rows: 480
                },
                PlaneLayout {
                    offset: 640 * 480,
                    stride: 640,
                    rows: 240
                },
            ]
        );
        assert_eq!(frame_layout(nv12, size, 640, 0).size, 640 * 480 * 3 / 2);
    }

    #[test]
    fn yuv420_layout_has_three_planes_with_half_stride_chroma() {
        let i420 = PixelFormat::parse("YUV420").expect("libcamera knows YUV420");
        let size = Size {
            width: 64,
            height: 48,
        };
        let planes = frame_layout(i420, size, 64, 0).planes;
        assert_eq!(planes.len(), 3);
        assert_eq!(
            planes[1],
            PlaneLayout {
                offset: 64 * 48,
                stride: 32,
                rows: 24
            }
        );
        assert_eq!(planes[2].offset, 64 * 48 + 32 * 24);
    }

    #[test]
    fn unknown_formats_get_one_plane_of_the_frame_size() {
        let mjpeg = PixelFormat::parse("MJPEG").expect("libcamera knows MJPEG");
        let layout = frame_layout(
            mjpeg,
            Size {
                width: 64,
                height: 48,
            },
            0,
            5000,
        );
        assert_eq!(
            layout.planes,
            vec![PlaneLayout {
                offset: 0,
                stride: 5000,
                rows: 1
            }]
        );
        assert_eq!(layout.size, 5000);
    }
}
