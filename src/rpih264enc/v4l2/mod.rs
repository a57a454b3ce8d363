// SPDX-License-Identifier: MPL-2.0
//! V4L2 backend: the stateful memory-to-memory H.264 encoder (bcm2835-codec on Pi 0-4,
//! `/dev/video11`).
//!
//! A hand-written ioctl layer ([`sys`]) is used instead of the `v4l` crate (no multi-planar
//! DMABUF streaming) or `v4l2r` (pre-1.0 API, generates its bindings with bindgen at build
//! time, and brings its own queue/threading model): the encoder needs about a dozen ioctls,
//! and keeping them behind the [`device::M2mDevice`] trait lets a fake device drive the
//! whole buffer state machine in unit tests.
//!
//! Layers, lowest first (each imports only those before it): [`device`] (the trait and its
//! values), [`sys`] (kernel ABI and the real device), [`format`](mod@format) and [`controls`] (what the
//! bcm2835-codec accepts), [`machine`] (the buffer state machine); the fake device of the
//! tests sits in `fake`; `vm_tests` drives the kernel's vicodec and vim2m in the VM tier
//! (docs/vm.md).
//!
//! NOT VERIFIED ON HARDWARE: the machines this was written on have no V4L2 in the kernel.

pub mod controls;
pub mod device;
#[cfg(test)]
pub(crate) mod fake;
pub mod format;
pub mod machine;
pub mod sys;
#[cfg(test)]
mod vm_tests;
