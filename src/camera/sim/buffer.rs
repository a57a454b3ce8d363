// SPDX-License-Identifier: MPL-2.0
//! The simulated camera's frame memory: one anonymous private mapping per buffer, as a camera
//! buffer is one mapping of a dma-buf on a Pi.
//!
//! Its pages are faulted in when the simulated ISP first writes them, not when the camera is
//! configured. On a Pi the buffers are CMA memory allocated at configure time, but they are
//! device memory outside the process's anonymous memory: they show in its RSS only as far as
//! the CPU touches their mapping. The simulation's buffers are ordinary process memory, so
//! committing every page of every buffer up front would charge the process's RSS (and delay the
//! first frame by a few thousand page faults) for buffers a fast consumer never cycles through:
//! the camera's pool hands out the most recently returned buffer first, so with a consumer that
//! returns each buffer within a frame only one or two of the buffers are ever written.
//! Methods and figures: docs/benchmarks.md ("Memory").

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// `len` bytes of zeroed memory from an anonymous private mapping, unmapped when dropped.
pub(super) struct FrameMemory {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned exclusively by this value (no aliasing pointer escapes except
// through `&self`/`&mut self` borrows), so moving or sharing it across threads is as safe as for
// a `Box<[u8]>`.
unsafe impl Send for FrameMemory {}
// SAFETY: see `Send`; `&FrameMemory` only gives `&[u8]`.
unsafe impl Sync for FrameMemory {}

impl FrameMemory {
    /// A zeroed mapping of `len` bytes (an empty one for 0).
    ///
    /// Errors: the mapping cannot be made (address space or mapping count exhausted), with the
    /// OS error.
    pub(super) fn new(len: usize) -> std::io::Result<Self> {
        if len == 0 {
            return Ok(Self {
                ptr: NonNull::dangling(),
                len: 0,
            });
        }
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no
        // existing memory; the result is checked before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::OutOfMemory, "mmap returned null")
        })?;
        Ok(Self { ptr, len })
    }
}

impl Deref for FrameMemory {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` bytes (a live mapping, or dangling with len 0), read
        // and write, for as long as `self` lives; anonymous mappings start zeroed, so every byte
        // is initialised.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for FrameMemory {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for FrameMemory {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: `ptr`/`len` is exactly the mapping made in `new`, unmapped once.
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_writable_and_sized() {
        let mut m = FrameMemory::new(3 * 4096 + 5).unwrap();
        assert_eq!(m.len(), 3 * 4096 + 5);
        assert!(m.iter().all(|&b| b == 0));
        m[4096 * 3 + 4] = 7;
        assert_eq!(m[4096 * 3 + 4], 7);
        assert!(FrameMemory::new(0).unwrap().is_empty());
    }
}
