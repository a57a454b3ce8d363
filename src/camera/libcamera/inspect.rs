// SPDX-License-Identifier: MPL-2.0
//! What the libcamera thread reads from a camera (description, formats, controls), and building
//! and validating a configuration with a report of what libcamera changed. Runs on the
//! libcamera thread only ([`super::runtime`]).

use libcamera::{
    camera::{Camera, CameraConfiguration, CameraConfigurationStatus, SensorConfiguration},
    color_space::ColorSpace,
    controls::ControlId,
    geometry::Size,
    properties,
    stream::StreamRole,
};

use super::error::LcError;
use super::spec::{
    ConfigSpec, LcCameraDesc, LcControlInfo, LcFormat, LcStatus, StreamResult, Validation,
};

/// The camera's id, model and location.
pub(super) fn describe(cam: &Camera<'_>) -> LcCameraDesc {
    let props = cam.properties();
    let model = props.get::<properties::Model>().ok().map(|m| m.0);
    let location = props.get::<properties::Location>().ok().map(|l| {
        match l {
            properties::Location::CameraFront => "front",
            properties::Location::CameraBack => "back",
            properties::Location::CameraExternal => "external",
        }
        .to_string()
    });
    let rotation = props.get::<properties::Rotation>().ok().map(|r| r.0);
    LcCameraDesc {
        id: cam.id().to_string(),
        model,
        location,
        rotation,
    }
}

/// The pixel formats and sizes `role` offers.
pub(super) fn formats_for(cam: &Camera<'_>, role: StreamRole) -> Vec<LcFormat> {
    let Some(cfg) = cam.generate_configuration(&[role]) else {
        return Vec::new();
    };
    let Some(sc) = cfg.get(0) else {
        return Vec::new();
    };
    let formats = sc.formats();
    let pixel_formats = formats.pixel_formats();
    pixel_formats
        .into_iter()
        .map(|pf| LcFormat {
            pixel_format: pf,
            sizes: formats.sizes(pf),
            range: formats.range(pf),
        })
        .collect()
}

/// The controls the camera accepts, by name.
pub(super) fn controls_of(cam: &Camera<'_>) -> Vec<LcControlInfo> {
    let mut out: Vec<LcControlInfo> = cam
        .controls()
        .into_iter()
        .filter_map(|(id, info)| {
            // Ids the crate's generated tables do not know (vendor controls of a newer
            // libcamera) are left out: their names and types are unknown.
            let cid = ControlId::try_from(id).ok()?;
            Some(LcControlInfo {
                id,
                name: cid.name(),
                ty: cid.control_type(),
                is_array: cid.is_array(),
                min: info.min(),
                max: info.max(),
                def: info.def(),
                values: info.values(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn size_str(s: Size) -> String {
    format!("{}x{}", s.width, s.height)
}

fn cs_str(cs: Option<ColorSpace>) -> String {
    cs.map_or_else(|| "none".to_string(), |c| c.to_repr())
}

/// Builds and validates a configuration; returns it with its [`Validation`].
pub(super) fn build_config(
    cam: &Camera<'_>,
    id: &str,
    spec: &ConfigSpec,
) -> Result<(CameraConfiguration, Validation), LcError> {
    let roles: Vec<StreamRole> = spec.streams.iter().map(|s| s.role).collect();
    let roles_str = || format!("{:?}", roles);
    let mut cfg = cam
        .generate_configuration(&roles)
        .ok_or_else(|| LcError::RolesUnsupported {
            id: id.to_string(),
            roles: roles_str(),
        })?;
    for (i, s) in spec.streams.iter().enumerate() {
        let Some(mut sc) = cfg.get_mut(i) else {
            return Err(LcError::RolesUnsupported {
                id: id.to_string(),
                roles: roles_str(),
            });
        };
        if let Some(pf) = s.pixel_format {
            sc.set_pixel_format(pf);
        }
        if let Some(size) = s.size {
            sc.set_size(size);
        }
        if s.color_space.is_some() {
            sc.set_color_space(s.color_space);
        }
        if let Some(n) = s.buffer_count {
            sc.set_buffer_count(n);
        }
    }
    if let Some(o) = spec.orientation {
        cfg.set_orientation(o);
    }
    if let Some(sensor) = spec.sensor {
        let mut sc = SensorConfiguration::new();
        sc.set_bit_depth(sensor.bit_depth);
        sc.set_output_size(sensor.size.width, sensor.size.height);
        cfg.set_sensor_configuration(sc);
    }
    let requested = cfg.to_string_repr();
    let orientation_before = cfg.orientation();
    let before: Vec<StreamResult> = (0..cfg.len())
        .filter_map(|i| cfg.get(i).map(|sc| stream_result(&sc)))
        .collect();
    let status = match cfg.validate() {
        CameraConfigurationStatus::Valid => LcStatus::Valid,
        CameraConfigurationStatus::Adjusted => LcStatus::Adjusted,
        CameraConfigurationStatus::Invalid => LcStatus::Invalid,
    };
    // libcamera's buffer count is what the pipeline handler needs at least; an application may
    // bring more (downstream elements hold buffers), so a larger request stands.
    for (i, s) in spec.streams.iter().enumerate() {
        if let (Some(want), Some(mut sc)) = (s.buffer_count, cfg.get_mut(i)) {
            if want > sc.get_buffer_count() {
                sc.set_buffer_count(want);
            }
        }
    }
    let streams: Vec<StreamResult> = (0..cfg.len())
        .filter_map(|i| cfg.get(i).map(|sc| stream_result(&sc)))
        .collect();
    let mut adjustments = Vec::new();
    if streams.len() != spec.streams.len() {
        adjustments.push(format!(
            "{} streams asked, {} given",
            spec.streams.len(),
            streams.len()
        ));
    }
    for (i, ((want, was), got)) in spec.streams.iter().zip(&before).zip(&streams).enumerate() {
        let role = format!("stream {i} ({:?})", want.role);
        if was.pixel_format != got.pixel_format {
            adjustments.push(format!(
                "{role}: pixel format {} -> {}",
                was.pixel_format, got.pixel_format
            ));
        }
        if (was.size.width, was.size.height) != (got.size.width, got.size.height) {
            adjustments.push(format!(
                "{role}: size {} -> {}",
                size_str(was.size),
                size_str(got.size)
            ));
        }
        if want.color_space.is_some() && was.color_space != got.color_space {
            adjustments.push(format!(
                "{role}: colour space {} -> {}",
                cs_str(was.color_space),
                cs_str(got.color_space)
            ));
        }
        if want.buffer_count.is_some() && was.buffer_count != got.buffer_count {
            adjustments.push(format!(
                "{role}: buffer count {} -> {}",
                was.buffer_count, got.buffer_count
            ));
        }
    }
    if spec.orientation.is_some() && cfg.orientation() != orientation_before {
        adjustments.push(format!(
            "orientation {:?} -> {:?} (flips not supported)",
            orientation_before,
            cfg.orientation()
        ));
    }
    if status == LcStatus::Adjusted && adjustments.is_empty() {
        adjustments.push("libcamera adjusted fields this backend does not set (stride, frame size or sensor mode)".into());
    }
    Ok((
        cfg,
        Validation {
            status,
            streams,
            adjustments,
            requested,
        },
    ))
}

fn stream_result(sc: &libcamera::stream::StreamConfigurationRef<'_>) -> StreamResult {
    StreamResult {
        pixel_format: sc.get_pixel_format(),
        size: sc.get_size(),
        stride: sc.get_stride(),
        frame_size: sc.get_frame_size(),
        buffer_count: sc.get_buffer_count(),
        color_space: sc.get_color_space(),
    }
}
