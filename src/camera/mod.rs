//! Camera model (placeholder, filled by the foundation work).

#[cfg(feature = "libcamera")]
pub mod libcamera;
