// SPDX-License-Identifier: MPL-2.0
//! Camera enumeration and opening, over every backend built in: the libcamera cameras (cargo
//! feature `libcamera`) first, then the simulated ones.
//!
//! This module sits above the backends: it imports [`super::sim`] and [`super::libcamera`],
//! which import only [`super::backend`] (the trait and its types), never this module or each
//! other.

use std::sync::Arc;

use super::backend::{CameraBackend, CameraDescriptor, CameraError, OptionSpec};
use super::sim;

/// Every camera: real ones first (when a real backend is built in), then the simulated ones.
pub fn list_cameras() -> Vec<CameraDescriptor> {
    let mut v = real_cameras();
    v.extend(sim::descriptors());
    v
}

fn real_cameras() -> Vec<CameraDescriptor> {
    #[cfg(feature = "libcamera")]
    return super::libcamera::descriptors();
    #[cfg(not(feature = "libcamera"))]
    Vec::new()
}

/// Every camera present, as error messages list them: real ones as the backend describes them
/// (libcamera: `id (model, index N)`), then the simulated ones by name.
fn available_cameras() -> Vec<String> {
    #[cfg(feature = "libcamera")]
    let mut v = super::libcamera::describe_available();
    #[cfg(not(feature = "libcamera"))]
    let mut v = Vec::new();
    v.extend(sim::descriptors().into_iter().map(|c| c.id));
    v
}

/// The own options ([`CameraBackend::options`]) of every backend built in, each name once, in
/// table order: what an element offers before it knows which camera it will open. (Only the
/// simulated camera has options; a backend that gets some adds its table here.)
pub fn backend_options() -> Vec<&'static OptionSpec> {
    let mut v: Vec<&'static OptionSpec> = Vec::new();
    for o in sim::options::OPTIONS {
        if !v.iter().any(|x| x.name == o.name) {
            v.push(o);
        }
    }
    v
}

/// Opens the camera called `name`: `sim:<sensor>` for the simulation; unset means the first real
/// camera, or `sim:imx219` when none is present.
///
/// Errors: [`CameraError::NotFound`] listing every camera present.
pub fn open_camera(name: Option<&str>) -> Result<Arc<dyn CameraBackend>, CameraError> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let name = match name {
        Some(n) => n.to_string(),
        None => real_cameras()
            .first()
            .map(|c| c.id.clone())
            .unwrap_or_else(|| "sim:imx219".to_string()),
    };
    if name.starts_with(sim::PREFIX) {
        if let Some(cam) = sim::open_by_name(&name) {
            return Ok(Arc::new(cam));
        }
    } else {
        // A libcamera id, model name or index.
        #[cfg(feature = "libcamera")]
        match super::libcamera::open_by_name(&name) {
            Ok(Some(cam)) => return Ok(cam),
            Ok(None) | Err(CameraError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Err(CameraError::NotFound {
        name,
        available: available_cameras(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_camera_lists_what_is_present() {
        let e = open_camera(Some("imx999")).err().unwrap();
        let s = e.to_string();
        assert!(s.contains("no camera named 'imx999'"), "{s}");
        assert!(s.contains("sim:imx219") && s.contains("sim:imx708"), "{s}");
        assert!(open_camera(Some("sim:nope")).is_err());
        assert!(open_camera(None).is_ok());
    }
}
