// SPDX-License-Identifier: MPL-2.0
//! The device provider and its devices.

use std::sync::{LazyLock, Mutex, OnceLock};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::camera::{self, CameraDescriptor, CameraEvent, CameraWatch};
use crate::rpicamsrc2::caps;
use crate::sync::lock;

use super::{CAT, POLL_INTERVAL};

/// libcamera's `Location` values (`properties::Location`), as libcameraprovider reports them.
fn libcamera_location(name: &str) -> Option<i32> {
    match name {
        "front" => Some(0),
        "back" => Some(1),
        "external" => Some(2),
        _ => None,
    }
}

/// The device for camera `desc`: its caps (the camera opened briefly) and properties.
pub(super) fn device_for(desc: &CameraDescriptor) -> super::RpiCamDevice {
    let caps = match camera::describe_camera(&desc.id) {
        Ok(info) => caps::device_caps(&info),
        Err(e) => {
            gst::warning!(
                CAT,
                "cannot open {} to read its modes ({e}); listing any size and rate",
                desc.id
            );
            caps::template_caps()
        }
    };
    let mut props = gst::Structure::builder("camera-properties")
        .field("camera-name", &desc.id)
        .field("api.libcamera.Model", &desc.model)
        .field("simulated", desc.simulated)
        .build();
    if !desc.simulated {
        props.set("api.libcamera.id", &desc.id);
    }
    if let Some(loc) = &desc.location {
        props.set("location", loc);
        if let Some(n) = libcamera_location(loc) {
            props.set("api.libcamera.Location", n);
        }
    }
    if let Some(r) = desc.rotation {
        props.set("api.libcamera.Rotation", r);
    }
    let display = if desc.simulated {
        format!("{} (simulated, {})", desc.model, desc.id)
    } else {
        format!("{} ({})", desc.model, desc.id)
    };
    let dev: super::RpiCamDevice = glib::Object::builder()
        .property("display-name", display)
        .property("device-class", "Video/Source")
        .property("caps", caps)
        .property("properties", props)
        .build();
    // Set once, before the device is shared.
    let _ = dev.imp().camera_name.set(desc.id.clone());
    dev
}

#[derive(Default)]
pub struct RpiCamDevice {
    pub(super) camera_name: OnceLock<String>,
}

#[glib::object_subclass]
impl ObjectSubclass for RpiCamDevice {
    const NAME: &'static str = "GstRpiCamSrc2Device";
    type Type = super::RpiCamDevice;
    type ParentType = gst::Device;
}

impl RpiCamDevice {
    pub(super) fn camera_name(&self) -> String {
        self.camera_name.get().cloned().unwrap_or_default()
    }
}

impl ObjectImpl for RpiCamDevice {}
impl GstObjectImpl for RpiCamDevice {}

impl DeviceImpl for RpiCamDevice {
    fn create_element(&self, name: Option<&str>) -> Result<gst::Element, gst::LoggableError> {
        let mut b =
            gst::ElementFactory::make("rpicamsrc2").property("camera-name", self.camera_name());
        if let Some(n) = name {
            b = b.name(n);
        }
        b.build()
            .map_err(|e| gst::loggable_error!(CAT, "cannot make rpicamsrc2: {e}"))
    }

    fn reconfigure_element(&self, element: &gst::Element) -> Result<(), gst::LoggableError> {
        if element.factory().is_none_or(|f| f.name() != "rpicamsrc2") {
            return Err(gst::loggable_error!(
                CAT,
                "{} is not an rpicamsrc2",
                element.name()
            ));
        }
        element.set_property("camera-name", self.camera_name());
        Ok(())
    }
}

#[derive(Default)]
pub struct RpiCamDeviceProvider {
    watch: Mutex<Option<CameraWatch>>,
}

#[glib::object_subclass]
impl ObjectSubclass for RpiCamDeviceProvider {
    const NAME: &'static str = "GstRpiCamSrc2DeviceProvider";
    type Type = super::RpiCamDeviceProvider;
    type ParentType = gst::DeviceProvider;
}

impl ObjectImpl for RpiCamDeviceProvider {}
impl GstObjectImpl for RpiCamDeviceProvider {}

impl DeviceProviderImpl for RpiCamDeviceProvider {
    fn metadata() -> Option<&'static gst::subclass::DeviceProviderMetadata> {
        static METADATA: LazyLock<gst::subclass::DeviceProviderMetadata> = LazyLock::new(|| {
            gst::subclass::DeviceProviderMetadata::new(
                "Raspberry Pi camera device provider",
                "Source/Video",
                "Lists the cameras rpicamsrc2 opens (libcamera cameras; the simulated ones \
                 only with RPICAMSRC2_SIM_DEVICES=1) with their sensor modes",
                "rpicamsrc2 developers",
            )
        });
        Some(&*METADATA)
    }

    fn probe(&self) -> Vec<gst::Device> {
        camera::discoverable_cameras()
            .iter()
            .map(|d| device_for(d).upcast())
            .collect()
    }

    fn start(&self) -> Result<(), gst::LoggableError> {
        let obj = self.obj();
        let known = camera::discoverable_cameras();
        for d in &known {
            obj.device_add(&device_for(d));
        }
        let weak = obj.downgrade();
        let watch = camera::watch_cameras(known, POLL_INTERVAL, move |event| {
            let Some(provider) = weak.upgrade() else {
                return;
            };
            match event {
                CameraEvent::Added(d) => {
                    gst::info!(CAT, obj = provider, "camera added: {}", d.id);
                    provider.device_add(&device_for(&d));
                }
                CameraEvent::Removed(d) => {
                    gst::info!(CAT, obj = provider, "camera removed: {}", d.id);
                    let gone = provider.devices().into_iter().find(|dev| {
                        dev.downcast_ref::<super::RpiCamDevice>()
                            .is_some_and(|x| x.camera_name() == d.id)
                    });
                    if let Some(dev) = gone {
                        provider.device_remove(&dev);
                    }
                }
            }
        })
        .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
        *lock(&self.watch) = Some(watch);
        Ok(())
    }

    fn stop(&self) {
        let watch = lock(&self.watch).take();
        if let Some(w) = watch {
            w.stop();
        }
    }
}
