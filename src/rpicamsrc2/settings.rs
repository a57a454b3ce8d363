// SPDX-License-Identifier: MPL-2.0
//! The element's own settings (everything but the camera controls and the backends' options,
//! which `props` takes from the camera model's tables): their properties' specs, and how a
//! GValue sets and reads each. Changes apply when the camera next opens or starts, except
//! `post-metadata` and `max-restarts`, which the capture thread reads per frame.

use gst::glib;
use gst::prelude::*;

use crate::camera::config::DEFAULT_BUFFER_COUNT;
use crate::camera::{self, SensorModeSpec};

use super::controls::UserControls;
use super::still;
use super::watchdog;
use super::HdrMode;

const DEFAULT_NUM_BUFFERS: i32 = -1;
const DEFAULT_POST_METADATA: bool = false;
/// The `sensor-mode` property: as the user wrote it, and parsed.
#[derive(Debug, Clone)]
pub(super) struct SensorModeSetting {
    /// The text set, returned by the property.
    pub text: String,
    /// The mode it names.
    pub spec: SensorModeSpec,
}

impl SensorModeSetting {
    /// Parses `text` (the one place the property's text is parsed). Errors: not a mode spec,
    /// naming the forms accepted.
    pub(super) fn parse(text: String) -> Result<Self, String> {
        let spec = text.parse()?;
        Ok(Self { text, spec })
    }
}

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub camera_name: Option<String>,
    pub sensor_mode: Option<SensorModeSetting>,
    /// libcamerasrc's `sensor-config` as set (it also sets `sensor_mode`).
    pub sensor_config: Option<gst::Structure>,
    pub buffer_count: u32,
    pub hflip: bool,
    pub vflip: bool,
    pub hdr_mode: HdrMode,
    pub num_buffers: i32,
    pub post_metadata: bool,
    /// Failed camera restarts after a stall before the stream ends with an error (-1: no limit).
    pub max_restarts: i32,
    /// Every control the user set, replayed when the camera starts.
    pub controls: UserControls,
    /// Longest wait for AE/AWB to settle before a still (or, with start_settled, the first
    /// frame), ms.
    pub settle_timeout_ms: u32,
    /// Withhold frames at start until AE/AWB settle.
    pub start_settled: bool,
    /// Backend options (sim-scene, ...) the user set, applied when the camera opens and on change.
    pub(super) options: camera::OptionValues,
    /// Warnings about values set while the element had no bus (gst-launch-1.0 sets properties
    /// before the element joins its pipeline), posted when it goes to READY.
    pub deferred_warnings: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            camera_name: None,
            sensor_mode: None,
            sensor_config: None,
            buffer_count: DEFAULT_BUFFER_COUNT,
            hflip: false,
            vflip: false,
            hdr_mode: HdrMode::Off,
            num_buffers: DEFAULT_NUM_BUFFERS,
            post_metadata: DEFAULT_POST_METADATA,
            max_restarts: watchdog::DEFAULT_MAX_RESTARTS,
            controls: UserControls::default(),
            settle_timeout_ms: still::DEFAULT_SETTLE_TIMEOUT_MS,
            start_settled: false,
            options: camera::OptionValues::default(),
            deferred_warnings: Vec::new(),
        }
    }
}

/// The specs of the properties [`Settings`] holds, in the order gst-inspect-1.0 lists them.
pub(super) fn pspecs() -> Vec<glib::ParamSpec> {
    vec![
                glib::ParamSpecString::builder("camera-name")
                    .nick("Camera name")
                    .blurb("Camera to open: sim:<sensor> for the simulated ones (sim:imx219, sim:imx477, sim:imx708, sim:ov5647, sim:imx296); unset = the first real camera, else sim:imx219")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("sensor-mode")
                    .nick("Sensor mode")
                    .blurb("Force a sensor mode, W:H:bit-depth[:P|U] or WxH[:bit-depth] (e.g. 1332:990:10); unset = chosen from the caps' size and frame rate as rpicam-apps does")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("sensor-config")
                    .nick("Sensor config")
                    .blurb("libcamerasrc's sensor configuration, sensor/config,width=W,height=H,depth=D (e.g. sensor/config,width=2304,height=1296,depth=10): the same as sensor-mode=W:H:D; libcamerasrc's optional binning, skipping and crop fields are ignored, as libcamera ignores them")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("buffer-count")
                    .nick("Buffer count")
                    .blurb("Camera buffers per stream; frames are lost when downstream holds them all")
                    .minimum(1)
                    .maximum(32)
                    .default_value(DEFAULT_BUFFER_COUNT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("hflip")
                    .nick("Horizontal flip")
                    .blurb("Mirror the image (sensor readout; changes the raw Bayer order)")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("vflip")
                    .nick("Vertical flip")
                    .blurb("Flip the image upside down (sensor readout)")
                    .default_value(false)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("hdr-mode", HdrMode::Off)
                    .nick("HDR mode")
                    .blurb("libcamera HdrMode; on imx708 any mode but off selects the sensor's HDR mode (2304x1296 at 30 fps)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("num-buffers")
                    .nick("Number of buffers")
                    .blurb("Frames to send before EOS, -1 = unlimited")
                    .minimum(-1)
                    .default_value(DEFAULT_NUM_BUFFERS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("post-metadata")
                    .nick("Post metadata")
                    .blurb("Post each frame's metadata as an element message 'rpicamsrc2-metadata' (gst-launch-1.0 -m shows it)")
                    .default_value(DEFAULT_POST_METADATA)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecInt::builder("max-restarts")
                    .nick("Maximum restarts")
                    .blurb("Camera restarts after a stall (no frame for max(1 s, 10 frame periods)) that may fail, each given that long to bring a frame, before the stream ends with an error; 0 = a stall is an error at once, -1 = no limit")
                    .minimum(-1)
                    .default_value(watchdog::DEFAULT_MAX_RESTARTS)
                    .mutable_playing()
                    .build(),
    ]
}

impl Settings {
    /// Sets the property `name` from `value` (type-checked by GObject before it reaches the
    /// element). `Ok(false)`: not one of these settings. Errors: a value the setting refuses,
    /// naming it and the forms accepted (the setting keeps its value).
    pub(super) fn set(&mut self, name: &str, value: &glib::Value) -> Result<bool, String> {
        const CHECKED: &str = "type checked upstream";
        match name {
            "camera-name" => self.camera_name = value.get().expect(CHECKED),
            "sensor-mode" => {
                let m: Option<String> = value.get().expect(CHECKED);
                self.sensor_mode = m
                    .filter(|m| !m.trim().is_empty())
                    .map(SensorModeSetting::parse)
                    .transpose()?;
                self.sensor_config = None;
            }
            "buffer-count" => self.buffer_count = value.get().expect(CHECKED),
            "hflip" => self.hflip = value.get().expect(CHECKED),
            "vflip" => self.vflip = value.get().expect(CHECKED),
            "hdr-mode" => self.hdr_mode = value.get().expect(CHECKED),
            "num-buffers" => self.num_buffers = value.get().expect(CHECKED),
            "post-metadata" => self.post_metadata = value.get().expect(CHECKED),
            "max-restarts" => self.max_restarts = value.get().expect(CHECKED),
            "settle-timeout" => self.settle_timeout_ms = value.get().expect(CHECKED),
            "start-settled" => self.start_settled = value.get().expect(CHECKED),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The value of the property `name`, or `None` when it is not one of these settings.
    pub(super) fn get(&self, name: &str) -> Option<glib::Value> {
        Some(match name {
            "camera-name" => self.camera_name.to_value(),
            "sensor-mode" => self.sensor_mode.as_ref().map(|m| m.text.clone()).to_value(),
            "sensor-config" => self.sensor_config.to_value(),
            "buffer-count" => self.buffer_count.to_value(),
            "hflip" => self.hflip.to_value(),
            "vflip" => self.vflip.to_value(),
            "hdr-mode" => self.hdr_mode.to_value(),
            "num-buffers" => self.num_buffers.to_value(),
            "post-metadata" => self.post_metadata.to_value(),
            "max-restarts" => self.max_restarts.to_value(),
            "settle-timeout" => self.settle_timeout_ms.to_value(),
            "start-settled" => self.start_settled.to_value(),
            _ => return None,
        })
    }
}
