// SPDX-License-Identifier: MPL-2.0
//! What the capture thread renders from: each stream's reflectance texture of the scene, and
//! the key that lets a buffer already holding the same picture skip re-rendering.

use std::sync::Arc;

use crate::camera::backend::CameraError;
use crate::camera::config::{CameraConfiguration, StreamRole};
use crate::camera::format::Rect;
use crate::camera::sensor::{SensorInfo, SensorMode};

use super::ipa::FrameParams;
use super::scene::{self, IspParams, Reflectance, SceneKind};
use super::State;

/// Which frames are rendered identically: used to skip re-rendering a buffer that already holds
/// the same picture (static scene, no noise, same settings).
pub(super) fn render_key(p: &FrameParams, scene_gen: u64, isp: &IspParams, offset: usize) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    scene_gen.hash(&mut h);
    offset.hash(&mut h);
    for v in [
        isp.grey_signal,
        isp.wb[0],
        isp.wb[1],
        isp.digital_gain,
        isp.brightness,
        isp.contrast,
        isp.saturation,
        isp.gamma,
    ] {
        v.to_bits().hash(&mut h);
    }
    p.sensor.exposure_lines.hash(&mut h);
    h.finish() | 1
}

pub(super) fn build_reflectances(
    sensor: &SensorInfo,
    mode: &SensorMode,
    config: &CameraConfiguration,
    st: &mut State,
    scaler_crop: Option<Rect>,
) -> Result<(Vec<Arc<Reflectance>>, scene::SceneStats), CameraError> {
    let img = match &st.scene.kind {
        SceneKind::Image(path) => match st.image.as_mut().filter(|(p, _)| p == path) {
            Some((_, Ok(i))) => Some(i.clone()),
            // Not loadable: said once, then the scene is plain grey.
            Some((_, Err(e))) => match e.take() {
                Some(e) => return Err(CameraError::Config(e)),
                None => None,
            },
            // Still being decoded (`SimCamera::set_scene`): grey until it is ready.
            None => None,
        },
        _ => None,
    };
    let mut crop = mode.crop;
    if let Some(sc) = scaler_crop {
        let c = crop.intersect(&sc);
        if c.width >= 64 && c.height >= 64 {
            crop = c;
        }
    }
    let mut v = Vec::new();
    let mut stats = None;
    for s in &config.streams {
        let size = if s.role == StreamRole::Raw {
            mode.size
        } else {
            s.size
        };
        let view = if s.role == StreamRole::Raw {
            mode.crop
        } else {
            scene::aspect_crop(crop, size)
        };
        let r = scene::reflectance(
            &st.scene.kind,
            img.as_deref(),
            sensor.pixel_array,
            view,
            size,
            scene::Flips {
                hflip: config.hflip,
                vflip: config.vflip,
            },
        );
        if s.role == StreamRole::Main || stats.is_none() {
            stats = Some(r.stats());
        }
        v.push(Arc::new(r));
    }
    let stats = stats.ok_or_else(|| CameraError::Config("no stream to render".into()))?;
    Ok((v, stats))
}
