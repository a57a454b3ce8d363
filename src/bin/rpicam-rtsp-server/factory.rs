// SPDX-License-Identifier: MPL-2.0
//! The shared media factory of `rpicam-rtsp-server`: one capture for every client, and a new
//! capture for a client that arrives while the previous one is being stopped.
//!
//! GStreamer's `RTSPMediaFactory` (1.22) hands a cached shared media to every DESCRIBE/SETUP of
//! its URL until that media's "unprepared" signal has removed it from the cache; the client
//! then calls `gst_rtsp_media_prepare` on it, which fails ("was not unprepared", "can not reuse
//! media") when the media is stopping or stopped, and the client gets 503 Service Unavailable.
//! When the last client leaves, the media unprepares on that client's thread (the pipeline goes
//! to NULL, about 30 ms, more under emulation), while a new client is served on another thread
//! (the server's thread pool starts a new client thread when the old one is winding down).
//! Two races followed (issue 16, defect 3):
//!
//! 1. The lookup found a media that was already stopping (31 of 40 quick reconnects got 503).
//!    So the cache key (`gen_key`) carries a generation number that moves on as soon as the
//!    cached media is no longer usable (status other than preparing, prepared or suspended):
//!    the lookup misses and a fresh media is built while the old one stops on its own.
//! 2. The lookup found a prepared media, and the last client's TEARDOWN stopped it between the
//!    lookup and the new client's own prepare (1 of 20 rounds under qemu-aarch64, CI of
//!    2026-12-02). So `gen_key` also *pins* the media it hands out: it prepares it once more
//!    itself (for a prepared media that only counts a user), which keeps the media up whatever
//!    other clients do, and drops that pin when the client's request has been handled (an idle
//!    source of high priority on the main context that is handling the request, so it runs
//!    right after the request's dispatch, which includes the client's own prepare). If the pin
//!    fails, the media was stopping: the generation moves on as in 1.

use std::sync::Mutex;

use crate::lock;

use gst::glib;
use gst_rtsp_server::prelude::*;
use gst_rtsp_server::subclass::prelude::*;

glib::wrapper! {
    /// A shared `RTSPMediaFactory` whose cache never returns a media that is stopping.
    pub struct SharedFactory(ObjectSubclass<imp::SharedFactory>)
        @extends gst_rtsp_server::RTSPMediaFactory;
}

impl SharedFactory {
    /// A shared factory (set the launch line with `set_launch`).
    pub fn new() -> Self {
        let f: Self = glib::Object::new();
        f.set_shared(true);
        f
    }
}

impl Default for SharedFactory {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a cached media with this status can still be handed to a new client.
pub fn usable(status: gst_rtsp_server::RTSPMediaStatus) -> bool {
    use gst_rtsp_server::RTSPMediaStatus as S;
    matches!(status, S::Preparing | S::Prepared | S::Suspended)
}

/// Keeps `media` prepared until the request being dispatched on this thread has been handled:
/// takes one more prepare count now and schedules its release on the main context of the
/// source being dispatched. False when the media could not be prepared (it is stopping), or
/// when no source is being dispatched (then no release could be tied to the request, and the
/// media is not pinned).
fn pin_for_this_request(media: &gst_rtsp_server::RTSPMedia) -> bool {
    let Some(context) = glib::main_current_source().and_then(|s| s.context()) else {
        return usable(media.status());
    };
    // For a prepared (or suspended) media this only counts one more user; for one still
    // preparing it waits for the preroll, as the client's own prepare would.
    if media.prepare(None).is_err() {
        return false;
    }
    let media = media.clone();
    let release = glib::idle_source_new(
        Some("rpicam-rtsp-server: release the media pin"),
        glib::Priority::HIGH,
        move || {
            // The last user's release stops the capture, as a leaving client's would.
            if let Err(e) = media.unprepare() {
                eprintln!("rpicam-rtsp-server: warning: releasing a media pin: {e}");
            }
            glib::ControlFlow::Break
        },
    );
    release.attach(Some(&context));
    true
}

mod imp {
    use super::*;

    /// The generation of the cache key and the media cached under it.
    #[derive(Default)]
    struct Current {
        generation: u64,
        media: glib::WeakRef<gst_rtsp_server::RTSPMedia>,
    }

    #[derive(Default)]
    pub struct SharedFactory {
        current: Mutex<Current>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for SharedFactory {
        const NAME: &'static str = "RpicamRtspSharedFactory";
        type Type = super::SharedFactory;
        type ParentType = gst_rtsp_server::RTSPMediaFactory;
    }

    impl ObjectImpl for SharedFactory {}

    impl RTSPMediaFactoryImpl for SharedFactory {
        fn gen_key(&self, url: &gst_rtsp_server::gst_rtsp::RTSPUrl) -> Option<glib::GString> {
            let base = self.parent_gen_key(url)?;
            let (generation, media) = {
                let cur = lock(&self.current);
                (cur.generation, cur.media.upgrade())
            };
            // The media is pinned (or found unusable) without the lock held: pinning a media
            // that is still preparing waits for its preroll.
            let keep = media
                .as_ref()
                .is_some_and(|m| usable(m.status()) && pin_for_this_request(m));
            let mut cur = lock(&self.current);
            if media.is_some() && !keep && cur.generation == generation {
                // A media that is stopping (or stopped, or failed) must not be found again.
                cur.generation += 1;
                cur.media = glib::WeakRef::new();
            }
            Some(format!("{base}#{}", cur.generation).into())
        }

        fn configure(&self, media: &gst_rtsp_server::RTSPMedia) {
            self.parent_configure(media);
            lock(&self.current).media.set(Some(media));
        }
    }
}
