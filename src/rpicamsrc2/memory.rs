// SPDX-License-Identifier: MPL-2.0
//! Camera buffers as GstMemory, without copies: dma-buf memory for libcamera's dma-buf buffers
//! (a V4L2 encoder downstream can import them), fd memory for the memfd buffers the libcamera
//! backend brings where no dma-buf provider exists, and plain wrapped memory for buffers without
//! a descriptor (the simulated camera). The camera buffer returns to the camera when the
//! memory is freed.

use std::sync::LazyLock;

use gst::glib;
use gst::glib::translate::IntoGlib;
use gst_allocators::prelude::*;

use crate::camera;

static DMABUF: LazyLock<gst_allocators::DmaBufAllocator> =
    LazyLock::new(gst_allocators::DmaBufAllocator::new);
static FD: LazyLock<gst_allocators::FdAllocator> = LazyLock::new(gst_allocators::FdAllocator::new);
static QUARK: LazyLock<glib::Quark> =
    LazyLock::new(|| glib::Quark::from_str("rpicamsrc2-camera-buffer"));

unsafe extern "C" fn drop_frame_buffer(data: glib::ffi::gpointer) {
    // SAFETY: `data` is the `Box<FrameBuffer>` leaked in `camera_memory`, handed back exactly
    // once by GStreamer when the memory is finalized.
    drop(unsafe { Box::from_raw(data.cast::<camera::FrameBuffer>()) });
}

/// The GstMemory for a camera buffer: dma-buf or fd memory over the buffer's descriptor when it
/// has one, else the buffer's bytes wrapped. Falls back to wrapping when the fd allocators fail.
pub(crate) fn camera_memory(fb: camera::FrameBuffer) -> gst::Memory {
    let size = fb.as_ref().len();
    let Some(fd) = fb.fd().filter(|_| size > 0) else {
        return gst::Memory::from_slice(fb);
    };
    // The descriptor stays owned by the camera buffer (DONT_CLOSE), which the memory keeps
    // alive (qdata below); KEEP_MAPPED maps it once per memory, not once per map.
    let flags =
        gst_allocators::FdMemoryFlags::DONT_CLOSE | gst_allocators::FdMemoryFlags::KEEP_MAPPED;
    // SAFETY: `fd` is valid for `size` bytes for as long as `fb` lives, and `fb` lives until the
    // memory is finalized.
    let mem = unsafe {
        if fb.is_dmabuf() {
            DMABUF.alloc_dmabuf_with_flags(fd, size, flags)
        } else {
            FD.alloc_fd(fd, size, flags)
        }
    };
    let Ok(mut mem) = mem else {
        return gst::Memory::from_slice(fb);
    };
    let Some(m) = mem.get_mut() else {
        // A fresh memory has one reference; cannot happen, but wrapping is always correct.
        return gst::Memory::from_slice(fb);
    };
    let data = Box::into_raw(Box::new(fb));
    // SAFETY: `m` is a valid, uniquely held GstMemory (a GstMiniObject); GStreamer calls
    // `drop_frame_buffer` with `data` once, when the memory is finalized.
    unsafe {
        gst::ffi::gst_mini_object_set_qdata(
            m.as_mut_ptr().cast::<gst::ffi::GstMiniObject>(),
            QUARK.into_glib(),
            data.cast(),
            Some(drop_frame_buffer),
        );
    }
    mem
}
