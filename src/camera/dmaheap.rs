// SPDX-License-Identifier: MPL-2.0
//! dma-bufs from a kernel dma-buf heap (`/dev/dma_heap/system`, ...), mapped for the CPU.
//!
//! On a Pi, libcamera's camera buffers are dma-bufs (the ISP driver's, or the CMA heap's), and
//! the encoder imports them with `V4L2_MEMORY_DMABUF`. The simulated camera allocates its
//! buffers here when asked (`sim-memory=dmabuf`), so the same zero-copy path runs on any
//! kernel with a heap (Debian's has `CONFIG_DMABUF_HEAPS_SYSTEM=y`; the VM tier's guest runs
//! it against vicodec, see `docs/vm.md`).
//!
//! The interface is the kernel's uapi (the numbers are recorded in `docs/vm.md`, section
//! "dma-buf"): `DMA_HEAP_IOCTL_ALLOC` on the heap's device node (`linux/dma-heap.h`) returns a
//! new dma-buf descriptor; `mmap` of that descriptor maps it; `DMA_BUF_IOCTL_SYNC`
//! (`linux/dma-buf.h`) brackets CPU access so that caches are coherent with devices on
//! architectures where they are not by themselves (arm64). No GStreamer here.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

/// The system heap's device node (`CONFIG_DMABUF_HEAPS_SYSTEM`): page-backed, not physically
/// contiguous buffers.
pub const SYSTEM_HEAP: &str = "/dev/dma_heap/system";

/// `struct dma_heap_allocation_data` of `linux/dma-heap.h` (24 bytes).
#[repr(C)]
#[derive(Debug, Default)]
struct AllocationData {
    /// Size of the buffer, bytes.
    len: u64,
    /// The new dma-buf's descriptor (out).
    fd: u32,
    /// Flags of the new descriptor (`O_RDWR | O_CLOEXEC`).
    fd_flags: u32,
    /// Heap flags (none defined).
    heap_flags: u64,
}

/// `DMA_HEAP_IOCTL_ALLOC`: `_IOWR('H', 0x0, struct dma_heap_allocation_data)`, i.e.
/// direction 3 (read and write) << 30 | size 24 << 16 | 'H' (0x48) << 8 | 0.
pub const DMA_HEAP_IOCTL_ALLOC: u64 = 0xc018_4800;
/// `DMA_BUF_IOCTL_SYNC`: `_IOW('b', 0, struct dma_buf_sync)`, i.e. direction 1 (write) << 30 |
/// size 8 << 16 | 'b' (0x62) << 8 | 0. `struct dma_buf_sync` is one `__u64 flags`.
pub const DMA_BUF_IOCTL_SYNC: u64 = 0x4008_6200;
/// `DMA_BUF_SYNC_READ | DMA_BUF_SYNC_WRITE` (1 | 2).
const SYNC_RW: u64 = 3;
/// `DMA_BUF_SYNC_START` (0): CPU access begins.
const SYNC_START: u64 = 0;
/// `DMA_BUF_SYNC_END` (4): CPU access ends.
const SYNC_END: u64 = 4;
/// Pages of the mapping, bytes (every Linux architecture we run on).
const PAGE: usize = 4096;

/// An open dma-buf heap.
#[derive(Debug)]
pub struct DmaHeap {
    file: File,
    path: PathBuf,
}

impl DmaHeap {
    /// Opens the heap at `path` (a node of `/dev/dma_heap/`, read-only is enough to allocate).
    ///
    /// Errors: the `open` error, with the path named in the message (a kernel without
    /// the heap has no such file: `NotFound`).
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open the dma-buf heap {}: {e}", path.display()),
            )
        })?;
        Ok(Self { file, path })
    }

    /// Opens [`SYSTEM_HEAP`].
    ///
    /// Errors: as [`DmaHeap::open`].
    pub fn system() -> io::Result<Self> {
        Self::open(SYSTEM_HEAP)
    }

    /// The heap's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Allocates a dma-buf of at least `len` bytes (rounded up to whole pages, 4096 bytes) and
    /// maps it read-write, shared. Its bytes are zero (the heaps clear what they hand out).
    ///
    /// Errors: `InvalidInput` for `len` 0; the ioctl's error (`ENOTTY` when `path` is not a
    /// heap, `ENOMEM`) or the `mmap`'s, naming the heap and the size.
    pub fn alloc(&self, len: usize) -> io::Result<DmaBuf> {
        let what = |e: io::Error, op: &str| {
            io::Error::new(
                e.kind(),
                format!(
                    "{op} of a {len}-byte dma-buf from {}: {e}",
                    self.path.display()
                ),
            )
        };
        if len == 0 {
            return Err(what(
                io::Error::new(io::ErrorKind::InvalidInput, "size 0"),
                "allocation",
            ));
        }
        let size = len.div_ceil(PAGE) * PAGE;
        let mut a = AllocationData {
            len: size as u64,
            fd_flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
            ..Default::default()
        };
        // SAFETY: DMA_HEAP_IOCTL_ALLOC takes a `struct dma_heap_allocation_data`, which
        // `AllocationData` mirrors field for field; `a` lives across the call.
        let r = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                DMA_HEAP_IOCTL_ALLOC as _,
                &mut a as *mut AllocationData,
            )
        };
        if r != 0 {
            return Err(what(io::Error::last_os_error(), "DMA_HEAP_IOCTL_ALLOC"));
        }
        // SAFETY: the heap returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(a.fd as RawFd) };
        // SAFETY: maps `size` bytes of the dma-buf, shared; unmapped in `Drop`.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(what(io::Error::last_os_error(), "mmap"));
        }
        let ptr = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| what(io::Error::other("mmap returned null"), "mmap"))?;
        Ok(DmaBuf { fd, ptr, len: size })
    }
}

/// A dma-buf from a [`DmaHeap`], mapped read-write for the life of the value. The descriptor
/// closes and the mapping goes on drop; a device that imported the descriptor keeps the
/// buffer alive in the kernel until it is done with it.
#[derive(Debug)]
pub struct DmaBuf {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    /// Mapped size, bytes (whole pages).
    len: usize,
}

// SAFETY: the mapping is owned by the value (like a `Box<[u8]>`): shared access only reads it
// (`bytes`), writes need `&mut self` (`write`).
unsafe impl Send for DmaBuf {}
// SAFETY: as above.
unsafe impl Sync for DmaBuf {}

impl DmaBuf {
    /// Size, bytes (the size asked for, rounded up to whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never empty (a heap allocates at least one page); for symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The descriptor (what a V4L2 device imports with `V4L2_MEMORY_DMABUF`).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The bytes, through the mapping. No `DMA_BUF_IOCTL_SYNC` is made: reads see what the CPU
    /// last wrote through [`DmaBuf::write`] (whose end synced it); after a *device* wrote the
    /// buffer, bracket the reads with [`DmaBuf::write`] instead (it syncs both directions).
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` bytes for the life of `self`; writes need `&mut self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// CPU access for writing (and reading): `DMA_BUF_IOCTL_SYNC` start now, end when the
    /// returned guard drops.
    ///
    /// Errors: the start ioctl's error (a descriptor that is not a dma-buf: `ENOTTY`). An error
    /// of the end ioctl, in the guard's drop, cannot be returned and is ignored (the system
    /// and CMA heaps do not fail it).
    pub fn write(&mut self) -> io::Result<CpuAccess<'_>> {
        sync(self.fd.as_fd(), SYNC_START | SYNC_RW)
            .map_err(|e| io::Error::new(e.kind(), format!("DMA_BUF_IOCTL_SYNC start: {e}")))?;
        Ok(CpuAccess { buf: self })
    }
}

impl AsFd for DmaBuf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for DmaBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are the mapping made in `DmaHeap::alloc`, unmapped once here.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// CPU access to a [`DmaBuf`] between `DMA_BUF_IOCTL_SYNC` start and end (see
/// [`DmaBuf::write`]); dereferences to the buffer's bytes.
#[derive(Debug)]
pub struct CpuAccess<'a> {
    buf: &'a mut DmaBuf,
}

impl std::ops::Deref for CpuAccess<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf.bytes()
    }
}

impl std::ops::DerefMut for CpuAccess<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` maps `len` bytes for the life of the buffer, borrowed mutably here.
        unsafe { std::slice::from_raw_parts_mut(self.buf.ptr.as_ptr(), self.buf.len) }
    }
}

impl Drop for CpuAccess<'_> {
    fn drop(&mut self) {
        let _ = sync(self.buf.fd.as_fd(), SYNC_END | SYNC_RW);
    }
}

/// `DMA_BUF_IOCTL_SYNC` with `flags` on `fd`.
fn sync(fd: BorrowedFd<'_>, flags: u64) -> io::Result<()> {
    let mut f = flags;
    // SAFETY: `struct dma_buf_sync` is one `__u64`; `f` lives across the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), DMA_BUF_IOCTL_SYNC as _, &mut f as *mut u64) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The (device, inode) of a descriptor: two descriptors of one dma-buf have the same, two
/// dma-bufs never do.
///
/// Errors: `fstat`'s.
pub fn identity(fd: RawFd) -> io::Result<(u64, u64)> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid `stat` for the call to fill.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.st_dev as u64, st.st_ino as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_heap_is_an_error_naming_it() {
        let e = DmaHeap::open("/nonexistent/dma_heap/system").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(
            e.to_string()
                .contains("cannot open the dma-buf heap /nonexistent/dma_heap/system"),
            "{e}"
        );
    }

    #[test]
    fn a_node_that_is_not_a_heap_refuses_the_allocation() {
        // /dev/null opens, but it has no DMA_HEAP_IOCTL_ALLOC: ENOTTY, named.
        let heap = DmaHeap::open("/dev/null").unwrap();
        let e = heap.alloc(100).unwrap_err();
        assert!(
            e.to_string()
                .contains("DMA_HEAP_IOCTL_ALLOC of a 100-byte dma-buf from /dev/null"),
            "{e}"
        );
        assert_eq!(e.raw_os_error(), None, "wrapped with the context");
        let e = heap.alloc(0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }

    /// The uapi numbers, recomputed from the `_IOC` encoding (`asm-generic/ioctl.h`) and the
    /// structure's size.
    #[test]
    fn ioctl_numbers_follow_the_uapi_encoding() {
        let ioc = |dir: u64, ty: u8, nr: u64, size: usize| {
            (dir << 30) | ((size as u64) << 16) | (u64::from(ty) << 8) | nr
        };
        assert_eq!(std::mem::size_of::<AllocationData>(), 24);
        assert_eq!(
            DMA_HEAP_IOCTL_ALLOC,
            ioc(3, b'H', 0, std::mem::size_of::<AllocationData>())
        );
        assert_eq!(
            DMA_BUF_IOCTL_SYNC,
            ioc(1, b'b', 0, std::mem::size_of::<u64>())
        );
    }

    /// Needs a kernel with the system heap: the VM tier runs it (`scripts/vm.sh test`); the
    /// project's host kernels have none, where it fails with "not run".
    #[test]
    #[ignore = "needs /dev/dma_heap/system (the VM tier: scripts/vm.sh test)"]
    fn system_heap_buffers_map_write_and_read_back() {
        let heap = DmaHeap::system()
            .unwrap_or_else(|e| panic!("not run: {e} (this kernel has no system heap)"));
        let mut a = heap.alloc(460_800).unwrap();
        let b = heap.alloc(1).unwrap();
        assert_eq!((a.len(), b.len()), (462_848, 4096), "whole pages");
        assert!(a.bytes().iter().all(|&x| x == 0), "a new dma-buf is zeroed");
        {
            let mut w = a.write().unwrap();
            for (i, x) in w.iter_mut().enumerate() {
                *x = (i % 251) as u8;
            }
        }
        assert!(a
            .bytes()
            .iter()
            .enumerate()
            .all(|(i, &x)| x == (i % 251) as u8));
        // Two buffers are two dma-bufs; the fdinfo names the exporter.
        assert_ne!(identity(a.raw_fd()).unwrap(), identity(b.raw_fd()).unwrap());
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", a.raw_fd())).unwrap();
        assert!(info.contains("exp_name:\tsystem"), "{info}");
        // A duplicated descriptor is the same dma-buf (what fd identity checks rely on).
        let dup = a.fd.try_clone().unwrap();
        assert_eq!(
            identity(dup.as_raw_fd()).unwrap(),
            identity(a.raw_fd()).unwrap()
        );
        eprintln!("system heap: 2 dma-bufs, {} and {} bytes", a.len(), b.len());
    }
}
