// SPDX-License-Identifier: MPL-2.0
//! Camera enumeration and opening, over every backend built in: the libcamera cameras (cargo
//! feature `libcamera`) first, then the simulated ones.
//!
//! This module sits above the backends: it imports [`super::sim`] and [`super::libcamera`],
//! which import only [`super::backend`] (the trait and its types), never this module or each
//! other.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::backend::{self, CameraBackend, CameraDescriptor, CameraError, CameraInfo, OptionSpec};
use super::sim;

/// The environment variable that makes device discovery ([`discoverable_cameras`]) list the
/// simulated cameras: `1` or `all` for every simulated sensor, or a comma-separated list of
/// sensor names (`imx219,imx708`); unset, empty or `0` for none. Opening a simulated camera by
/// name (`camera-name=sim:imx219`) works either way.
pub const SIM_DEVICES_ENV: &str = "RPICAMSRC2_SIM_DEVICES";

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

/// The simulated cameras [`SIM_DEVICES_ENV`] asks device discovery to list (none when unset).
fn requested_sim_cameras() -> Vec<CameraDescriptor> {
    let asked = std::env::var(SIM_DEVICES_ENV).unwrap_or_default();
    let asked = asked.trim();
    if asked.is_empty() || asked == "0" {
        return Vec::new();
    }
    let all = asked == "1" || asked.eq_ignore_ascii_case("all");
    let names: Vec<&str> = asked.split(',').map(str::trim).collect();
    sim::descriptors()
        .into_iter()
        .filter(|c| all || names.iter().any(|n| n.eq_ignore_ascii_case(&c.model)))
        .collect()
}

/// The cameras device discovery (the device provider, `gst-device-monitor-1.0`) lists: every
/// real camera, then the simulated ones only when [`SIM_DEVICES_ENV`] asks for them, so that a
/// machine without a camera shows none.
pub fn discoverable_cameras() -> Vec<CameraDescriptor> {
    let mut v = real_cameras();
    v.extend(requested_sim_cameras());
    v
}

/// The description of the camera `id` (its modes, formats, controls): the camera is opened
/// and closed again.
///
/// Errors: as [`open_camera`]; a real camera another process holds cannot be opened.
pub fn describe_camera(id: &str) -> Result<CameraInfo, CameraError> {
    Ok(open_camera(Some(id))?.info())
}

/// A change in the cameras [`discoverable_cameras`] lists.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraEvent {
    /// A camera appeared.
    Added(CameraDescriptor),
    /// A camera went away.
    Removed(CameraDescriptor),
}

/// The cameras of `new` not in `old` (added) and of `old` not in `new` (removed), by id.
fn changes(old: &[CameraDescriptor], new: &[CameraDescriptor]) -> Vec<CameraEvent> {
    let mut v: Vec<CameraEvent> = old
        .iter()
        .filter(|o| !new.iter().any(|n| n.id == o.id))
        .cloned()
        .map(CameraEvent::Removed)
        .collect();
    v.extend(
        new.iter()
            .filter(|n| !old.iter().any(|o| o.id == n.id))
            .cloned()
            .map(CameraEvent::Added),
    );
    v
}

/// A running watch over the cameras ([`watch_cameras`]); dropping it (or [`CameraWatch::stop`])
/// ends it.
pub struct CameraWatch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CameraWatch {
    /// Ends the watch and waits for its thread.
    pub fn stop(mut self) {
        self.end();
    }

    fn end(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        backend::wake_camera_watches();
        if let Some(t) = self.thread.take() {
            // Dropped by its own callback (the last reference to what it reports to): the
            // thread ends by itself once the callback returns.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for CameraWatch {
    fn drop(&mut self) {
        self.end();
    }
}

/// Watches the cameras [`discoverable_cameras`] lists, starting from `known`: the list is read
/// again when a backend announces a change ([`backend::notify_cameras_changed`]: libcamera's
/// hotplug signals) and at least every `interval` (backends without such signals, and the
/// simulated cameras, which follow [`SIM_DEVICES_ENV`] as it is at each read); `on_event` gets
/// each camera that came or went, on the watch's own thread.
///
/// This is the one hotplug hook of every backend. While the watch runs each real backend is kept
/// started (libcamera's `CameraManager`, which follows hotplug itself), so a read is a cheap look
/// at its current list.
///
/// Errors: the thread cannot be started (the message says why).
pub fn watch_cameras(
    known: Vec<CameraDescriptor>,
    interval: Duration,
    on_event: impl Fn(CameraEvent) + Send + 'static,
) -> Result<CameraWatch, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    // Changes announced from now on are seen, even before the thread runs.
    let mut seen = backend::camera_changes();
    let thread = std::thread::Builder::new()
        .name("rpicamsrc2-watch".into())
        .spawn(move || {
            #[cfg(feature = "libcamera")]
            let _keep = super::libcamera::runtime::runtime().ok();
            let mut known = known;
            loop {
                seen = backend::wait_camera_changes(seen, interval, &stop2);
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let now = discoverable_cameras();
                for e in changes(&known, &now) {
                    on_event(e);
                }
                known = now;
            }
        })
        .map_err(|e| format!("cannot start the camera watch thread: {e}"))?;
    Ok(CameraWatch {
        stop,
        thread: Some(thread),
    })
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

    /// A change a backend announces is read at once, without waiting for the poll interval.
    #[test]
    fn an_announced_change_is_read_at_once() {
        let gone = CameraDescriptor {
            id: "gone".into(),
            model: "gone".into(),
            simulated: false,
            location: None,
            rotation: None,
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let watch = watch_cameras(vec![gone.clone()], Duration::from_secs(3600), move |e| {
            let _ = tx.send(e);
        })
        .unwrap();
        backend::notify_cameras_changed();
        let mut events = Vec::new();
        while let Ok(e) = rx.recv_timeout(Duration::from_secs(20)) {
            let removed = e == CameraEvent::Removed(gone.clone());
            events.push(e);
            if removed {
                break;
            }
        }
        watch.stop();
        assert!(events.contains(&CameraEvent::Removed(gone)), "{events:?}");
    }

    #[test]
    fn changes_name_what_came_and_went() {
        let d = |id: &str| CameraDescriptor {
            id: id.into(),
            model: id.into(),
            simulated: true,
            location: None,
            rotation: None,
        };
        let e = changes(&[d("a"), d("b")], &[d("b"), d("c")]);
        assert_eq!(
            e,
            vec![CameraEvent::Removed(d("a")), CameraEvent::Added(d("c"))]
        );
        assert!(changes(&[d("a")], &[d("a")]).is_empty());
    }
}
