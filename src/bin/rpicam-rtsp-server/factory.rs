// SPDX-License-Identifier: MPL-2.0
//! The shared media factory of `rpicam-rtsp-server`: one capture for every client, and a new
//! capture for a client that arrives while the previous one is being stopped.
//!
//! GStreamer 1.22's `RTSPMediaFactory` hands a cached shared media to every DESCRIBE/SETUP of
//! its URL until that media's "unprepared" signal has removed it from the cache. When the last
//! client leaves, the media unprepares on that client's thread (the pipeline goes to NULL, about
//! 30 ms); a DESCRIBE arriving meanwhile got the dying media, whose `prepare` fails ("was not
//! unprepared" or "can not reuse media"), and the client got 503 Service Unavailable (issue 16,
//! defect 3: 31 of 40 quick reconnects).
//!
//! The fix is in `gen_key`, the factory's cache key: the key carries a generation number that
//! moves on as soon as the cached media is no longer usable (status other than preparing or
//! prepared), so the lookup misses and a fresh media is built, while the old one finishes
//! stopping on its own.

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
            let mut cur = lock(&self.current);
            // A media that is stopping (or stopped, or failed) must not be found again.
            if let Some(media) = cur.media.upgrade() {
                if !usable(media.status()) {
                    cur.generation += 1;
                    cur.media = glib::WeakRef::new();
                }
            }
            Some(format!("{base}#{}", cur.generation).into())
        }

        fn configure(&self, media: &gst_rtsp_server::RTSPMedia) {
            self.parent_configure(media);
            lock(&self.current).media.set(Some(media));
        }
    }
}
