// SPDX-License-Identifier: MPL-2.0
//! Frame buffers for the libcamera backend: plane layout, memfd buffers the element brings
//! itself, and the zero-copy handle that returns a request to the camera when dropped.

use std::{
    fs::File,
    io,
    os::fd::{AsFd, AsRawFd, OwnedFd, RawFd},
    sync::{mpsc::Sender, Arc, Mutex, PoisonError},
};

use libcamera::{
    framebuffer::{AsFrameBuffer, FrameBufferPlane, OwnedFrameBuffer},
    framebuffer_allocator::FrameBuffer as AllocatedFrameBuffer,
    framebuffer_map::MemoryMappedFrameBuffer,
    geometry::Size,
    pixel_format::PixelFormat,
    request::Request,
    stream::Stream,
};

use super::runtime::Cmd;

/// Where a plane lies within its frame buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneLayout {
    /// Offset of the plane's first byte from the start of the buffer, in bytes.
    pub offset: usize,
    /// Bytes from one line of the plane to the next.
    pub stride: u32,
    /// Length of the plane, in bytes.
    pub len: usize,
}

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

/// Plane layout of a frame of `format` and `size` whose first plane has `stride` bytes per
/// line, following libcamera's `PixelFormatInfo` (planes after the first have a stride scaled
/// by their bytes per pixel group, and `vertical_sub_sampling` lines fewer). Formats without
/// plane information (compressed ones such as MJPEG) get one plane of `frame_size` bytes.
pub fn plane_layout(format: PixelFormat, size: Size, stride: u32, frame_size: u32) -> Vec<PlaneLayout> {
    let planes = format.info().map(|i| i.planes).unwrap_or_default();
    let Some(first_bpg) = planes.first().map(|p| p.bytes_per_group).filter(|b| *b > 0) else {
        return vec![PlaneLayout { offset: 0, stride, len: frame_size as usize }];
    };
    let mut offset = 0usize;
    planes
        .iter()
        .map(|p| {
            let plane_stride = stride * p.bytes_per_group / first_bpg;
            let sub = p.vertical_sub_sampling.max(1);
            let lines = size.height.div_ceil(sub);
            let len = plane_stride as usize * lines as usize;
            let layout = PlaneLayout { offset, stride: plane_stride, len };
            offset += len;
            layout
        })
        .collect()
}

/// Total bytes a buffer with these planes needs (at least `frame_size`, libcamera's figure).
pub fn buffer_len(planes: &[PlaneLayout], frame_size: u32) -> usize {
    planes.iter().map(|p| p.offset + p.len).max().unwrap_or(0).max(frame_size as usize)
}

/// A frame buffer attached to a request: either memfd or allocated by libcamera, and mapped
/// read-only into this process.
pub enum MappedBuffer {
    /// Brought by the element (memfd).
    Memfd(MemoryMappedFrameBuffer<OwnedFrameBuffer>),
    /// From libcamera's `FrameBufferAllocator` (dma-buf).
    DmaBuf(MemoryMappedFrameBuffer<AllocatedFrameBuffer>),
}

/// Makes one memfd frame buffer of `len` bytes holding `planes`, tagged with `cookie`.
pub fn memfd_buffer(planes: &[PlaneLayout], len: usize, cookie: u64) -> io::Result<MemoryMappedFrameBuffer<OwnedFrameBuffer>> {
    let fd: OwnedFd = rustix::fs::memfd_create(c"rpicamsrc2-frame", rustix::fs::MemfdFlags::CLOEXEC)?;
    let file = File::from(fd);
    file.set_len(len as u64)?;
    let to_u32 = |v: usize| {
        u32::try_from(v).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("plane offset or length {v} exceeds 4 GiB")))
    };
    let mut fb_planes = Vec::with_capacity(planes.len());
    for p in planes {
        // Each plane owns a descriptor (libcamera closes them); duplicates of one memfd, which
        // libcamera recognises as one contiguous buffer (same inode).
        let fd: OwnedFd = file.as_fd().try_clone_to_owned()?;
        fb_planes.push(FrameBufferPlane { fd, offset: to_u32(p.offset)?, length: to_u32(p.len)? });
    }
    let fb = OwnedFrameBuffer::new(fb_planes, Some(cookie))?;
    MemoryMappedFrameBuffer::new(fb).map_err(|e| io::Error::other(e.to_string()))
}

/// Reads a mapped buffer of `stream` out of a completed request: (start, length, fd, cookie).
pub(crate) fn mapped_region(req: &Request, stream: &Stream) -> Option<(*const u8, usize, RawFd, u64)> {
    fn region<T: AsFrameBuffer>(mm: &MemoryMappedFrameBuffer<T>) -> Option<(*const u8, usize, RawFd, u64)> {
        let data = mm.data();
        let first = data.first()?;
        let start = first.as_ptr();
        // Planes of one buffer are laid out back to back in one mapping (we made them so, and
        // libcamera's allocator does the same); the region spans from the first plane's start
        // to the end of the last one.
        let end = data.iter().map(|d| d.as_ptr() as usize + d.len()).max()?;
        let len = end.checked_sub(start as usize)?;
        let fd = mm.planes().get(0)?.fd();
        Some((start, len, fd, mm.cookie()))
    }
    if let Some(mm) = req.buffer::<MemoryMappedFrameBuffer<OwnedFrameBuffer>>(stream) {
        return region(mm);
    }
    req.buffer::<MemoryMappedFrameBuffer<AllocatedFrameBuffer>>(stream).and_then(region)
}

/// Keeps a completed request (and so its buffers) alive while any [`LcBuffer`] of it exists;
/// when the last one goes, the request goes back to the libcamera thread to be queued again.
pub(crate) struct RequestHold {
    req: Mutex<Option<Request>>,
    ret: Sender<Cmd>,
    camera: u64,
}

impl RequestHold {
    pub(crate) fn new(req: Request, ret: Sender<Cmd>, camera: u64) -> Arc<Self> {
        Arc::new(Self { req: Mutex::new(Some(req)), ret, camera })
    }
}

impl Drop for RequestHold {
    fn drop(&mut self) {
        let req = self.req.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(req) = req {
            // If the libcamera thread is gone the request is simply freed here.
            let _ = self.ret.send(Cmd::Requeue { camera: self.camera, req });
        }
    }
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
    fd: RawFd,
    ptr: *const u8,
    len: usize,
    _hold: Arc<RequestHold>,
}

// SAFETY: `ptr`/`len` describe a read-only shared mapping (MAP_SHARED, PROT_READ) owned by the
// request in `_hold`, which stays alive (and is not queued to the camera, so nothing writes
// the memory) for as long as this value exists. Reading it from any thread is sound.
unsafe impl Send for LcBuffer {}
// SAFETY: as above; `&LcBuffer` only gives shared read access.
unsafe impl Sync for LcBuffer {}

impl LcBuffer {
    pub(crate) fn new(
        stream_index: usize,
        planes: Vec<PlaneLayout>,
        kind: BufferKind,
        region: (*const u8, usize, RawFd),
        hold: Arc<RequestHold>,
    ) -> Self {
        let (ptr, len, fd) = region;
        Self { stream_index, planes, kind, fd, ptr, len, _hold: hold }
    }

    /// The frame's bytes: all planes, laid out as [`Self::planes`] says.
    pub fn data(&self) -> &[u8] {
        // SAFETY: see the `Send` impl: the mapping outlives `self` and is not written meanwhile.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The file descriptor of the buffer (plane 0), valid while `self` lives; the planes are at
    /// their [`PlaneLayout::offset`] in it. Do not close it.
    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl std::fmt::Debug for LcBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LcBuffer")
            .field("stream_index", &self.stream_index)
            .field("planes", &self.planes)
            .field("kind", &self.kind)
            .field("fd", &self.fd)
            .field("len", &self.len)
            .finish()
    }
}

impl AsRawFd for LcBuffer {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nv12_layout_has_half_height_chroma_plane() {
        let nv12 = PixelFormat::parse("NV12").expect("libcamera knows NV12");
        let size = Size { width: 640, height: 480 };
        let planes = plane_layout(nv12, size, 640, 640 * 480 * 3 / 2);
        assert_eq!(
            planes,
            vec![
                PlaneLayout { offset: 0, stride: 640, len: 640 * 480 },
                PlaneLayout { offset: 640 * 480, stride: 640, len: 640 * 240 },
            ]
        );
        assert_eq!(buffer_len(&planes, 0), 640 * 480 * 3 / 2);
    }

    #[test]
    fn yuv420_layout_has_three_planes_with_half_stride_chroma() {
        let i420 = PixelFormat::parse("YUV420").expect("libcamera knows YUV420");
        let size = Size { width: 64, height: 48 };
        let planes = plane_layout(i420, size, 64, 0);
        assert_eq!(planes.len(), 3);
        assert_eq!(planes[1], PlaneLayout { offset: 64 * 48, stride: 32, len: 32 * 24 });
        assert_eq!(planes[2].offset, 64 * 48 + 32 * 24);
    }
}
