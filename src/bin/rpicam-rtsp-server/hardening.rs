// SPDX-License-Identifier: MPL-2.0
//! Abuse resistance of `rpicam-rtsp-server` (issue 16, defect 7):
//!
//! - a request with wrong credentials is answered only after a delay: 1 s for an address's first
//!   wrong guess, doubling with each further *different* wrong guess from that address up to
//!   16 s; repeating a guess costs the address's current delay again without raising it (rtspsrc
//!   resends the same wrong password up to 9 times before it reports "Unauthorized", which then
//!   takes 9 s, not minutes). An address is forgotten after 10 minutes without a failure or on
//!   its first success ([`Guard::failed`]);
//! - GET_PARAMETER and SET_PARAMETER need the credentials too when authentication is on (the
//!   GStreamer 1.22 server answers them without), and no response names the server software;
//! - a connection that holds no session and has not completed a request for `request_timeout`
//!   (a half-sent request, "slowloris", or nothing at all) is closed ([`reap_idle`]).
//!
//! The delay sleeps on the thread of the offending client only: each client of the server has
//! its own thread and main context.

use std::collections::HashMap;
use std::ffi::CStr;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::lock;
use gst::glib;
use gst::glib::translate::*;
use gst_rtsp_server::gst_rtsp;
use gst_rtsp_server::prelude::*;
use gst_rtsp_server::subclass::prelude::*;

/// Delay after an address's first failed authentication.
pub const AUTH_DELAY: Duration = Duration::from_secs(1);
/// Longest delay after repeated failures from one address.
pub const AUTH_DELAY_MAX: Duration = Duration::from_secs(16);
/// Failures from an address are forgotten this long after its last one.
const FAILURE_MEMORY: Duration = Duration::from_secs(600);
/// Addresses remembered at most (the oldest is forgotten first), so a flood of addresses
/// cannot grow memory without bound.
const MAX_ADDRESSES: usize = 4096;

/// The delay before answering the `n`-th failure in a row (n >= 1) from one address:
/// AUTH_DELAY * 2^(n-1), at most AUTH_DELAY_MAX.
pub fn failure_delay(n: u32) -> Duration {
    let factor = 1u32 << n.saturating_sub(1).min(16);
    AUTH_DELAY.saturating_mul(factor).min(AUTH_DELAY_MAX)
}

/// Wrong guesses remembered per address; beyond this, every guess counts as new.
const MAX_GUESSES: usize = 32;

/// The failures of one address.
struct Failures {
    /// Hashes of its distinct wrong guesses (at most MAX_GUESSES).
    guesses: Vec<u64>,
    /// Distinct wrong guesses so far (keeps counting past MAX_GUESSES).
    count: u32,
    last: Instant,
}

/// What a request's credentials are worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// No Authorization header: a client's first try, answered 401 at once.
    Missing,
    Wrong,
    Right,
}

/// The authentication state shared by the server's threads.
pub struct Guard {
    /// The Authorization header value that is accepted: "Basic " and base64 of user:password.
    expected: String,
    /// Per address: its distinct wrong guesses and the time of its last failure.
    failures: Mutex<HashMap<IpAddr, Failures>>,
    /// Keys the hashes of wrong guesses (kept instead of the guesses themselves).
    hasher: std::collections::hash_map::RandomState,
    /// Marks a delayed client busy, so that [`reap_idle`] leaves it alone while it waits.
    activity: Arc<Activity>,
}

impl Guard {
    /// A guard accepting `basic` (from `RTSPAuth::make_basic(user, password)`).
    pub fn new(basic: &str, activity: Arc<Activity>) -> Arc<Guard> {
        Arc::new(Guard {
            expected: format!("Basic {basic}"),
            failures: Mutex::default(),
            hasher: Default::default(),
            activity,
        })
    }

    /// Judges the Authorization header of `ctx`'s request (constant time in its length).
    pub fn credentials(&self, ctx: &gst_rtsp_server::RTSPContext) -> (Credentials, String) {
        let Some(given) = ctx
            .request()
            .and_then(|r| header(r, gst_rtsp::RTSPHeaderField::Authorization))
        else {
            return (Credentials::Missing, String::new());
        };
        let (a, b) = (given.trim().as_bytes(), self.expected.as_bytes());
        let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0;
        if same {
            (Credentials::Right, given)
        } else {
            (Credentials::Wrong, given)
        }
    }

    /// Records a failure from `ip` with the Authorization value `guess` and returns how long
    /// to wait before answering it: `failure_delay` of the address's count of distinct wrong
    /// guesses.
    pub fn failed(&self, ip: Option<IpAddr>, guess: &str) -> Duration {
        let Some(ip) = ip else {
            return AUTH_DELAY;
        };
        let h = std::hash::BuildHasher::hash_one(&self.hasher, guess);
        let now = Instant::now();
        let mut f = lock(&self.failures);
        f.retain(|_, e| now.duration_since(e.last) < FAILURE_MEMORY);
        if f.len() >= MAX_ADDRESSES && !f.contains_key(&ip) {
            if let Some(oldest) = f.iter().min_by_key(|(_, e)| e.last).map(|(k, _)| *k) {
                f.remove(&oldest);
            }
        }
        let e = f.entry(ip).or_insert(Failures {
            guesses: Vec::new(),
            count: 0,
            last: now,
        });
        e.last = now;
        if !e.guesses.contains(&h) {
            e.count = e.count.saturating_add(1);
            if e.guesses.len() < MAX_GUESSES {
                e.guesses.push(h);
            }
        }
        failure_delay(e.count)
    }

    /// Forgets the failures of `ip` after a success.
    pub fn succeeded(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            lock(&self.failures).remove(&ip);
        }
    }

    /// Judges `ctx`'s credentials; on wrong ones, records the failure and sleeps its delay on
    /// the calling (client) thread. Returns the verdict.
    pub fn judge(&self, ctx: &gst_rtsp_server::RTSPContext) -> Credentials {
        let (c, given) = self.credentials(ctx);
        let client = ctx.client();
        let ip = client.and_then(client_ip);
        match c {
            Credentials::Wrong => {
                let d = self.failed(ip, &given);
                if let Some(client) = client {
                    // Busy until answered: the idle clock starts after the delay.
                    lock(&self.activity.0).insert(key(client), Instant::now() + d);
                }
                eprintln!(
                    "rpicam-rtsp-server: wrong credentials from {}; answering in {} ms",
                    ip.map(|i| i.to_string()).unwrap_or_else(|| "?".into()),
                    d.as_millis()
                );
                std::thread::sleep(d);
            }
            Credentials::Right => self.succeeded(ip),
            Credentials::Missing => {}
        }
        c
    }
}

/// The value of header `field` in `msg`, if present.
fn header(
    msg: &gst_rtsp::rtsp_message::RTSPMessage,
    field: gst_rtsp::RTSPHeaderField,
) -> Option<String> {
    let mut value: *mut std::ffi::c_char = std::ptr::null_mut();
    // SAFETY: `msg` is a valid message for the duration of the call; the value points into
    // it and is copied at once.
    unsafe {
        let r = gst_rtsp::ffi::gst_rtsp_message_get_header(
            msg.to_glib_none().0,
            field.into_glib(),
            &mut value,
            0,
        );
        (r == gst_rtsp::ffi::GST_RTSP_OK && !value.is_null())
            .then(|| CStr::from_ptr(value).to_string_lossy().into_owned())
    }
}

/// The peer address of `client`'s connection.
pub fn client_ip(client: &gst_rtsp_server::RTSPClient) -> Option<IpAddr> {
    // SAFETY: the connection belongs to the client, which we hold; the IP string is copied.
    unsafe {
        let conn = gst_rtsp_server::ffi::gst_rtsp_client_get_connection(client.to_glib_none().0);
        if conn.is_null() {
            return None;
        }
        let ip = gst_rtsp::ffi::gst_rtsp_connection_get_ip(conn);
        if ip.is_null() {
            return None;
        }
        CStr::from_ptr(ip).to_str().ok()?.parse().ok()
    }
}

glib::wrapper! {
    /// `RTSPAuth` that delays answers to wrong credentials (see [`Guard`]).
    pub struct Auth(ObjectSubclass<imp::Auth>) @extends gst_rtsp_server::RTSPAuth;
}

impl Auth {
    pub fn new(guard: Arc<Guard>) -> Self {
        let a: Self = glib::Object::new();
        let _ = a.imp().guard.set(guard);
        a
    }
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct Auth {
        pub guard: OnceLock<Arc<Guard>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Auth {
        const NAME: &'static str = "RpicamRtspAuth";
        type Type = super::Auth;
        type ParentType = gst_rtsp_server::RTSPAuth;
    }

    impl ObjectImpl for Auth {}

    impl RTSPAuthImpl for Auth {
        fn authenticate(&self, ctx: &gst_rtsp_server::RTSPContext) -> bool {
            if let Some(g) = self.guard.get() {
                g.judge(ctx);
            }
            self.parent_authenticate(ctx)
        }
    }
}

/// Time of the last completed (answered) request of each client, by client; a time in the
/// future while an answer is being delayed.
#[derive(Default)]
pub struct Activity(Mutex<HashMap<usize, Instant>>);

fn key(client: &gst_rtsp_server::RTSPClient) -> usize {
    client.as_ptr() as usize
}

/// Hooks a new client: GET_PARAMETER/SET_PARAMETER checked against `guard` (when auth is on),
/// no Server header in responses, and its activity recorded for [`reap_idle`].
pub fn watch_client(
    client: &gst_rtsp_server::RTSPClient,
    guard: Option<Arc<Guard>>,
    activity: Arc<Activity>,
) {
    lock(&activity.0).insert(key(client), Instant::now());
    if let Some(guard) = guard {
        let check = move |_: &gst_rtsp_server::RTSPClient, ctx: &gst_rtsp_server::RTSPContext| {
            if guard.judge(ctx) == Credentials::Right {
                gst_rtsp::RTSPStatusCode::Ok
            } else {
                gst_rtsp::RTSPStatusCode::Unauthorized
            }
        };
        client.connect_pre_get_parameter_request(check.clone());
        client.connect_pre_set_parameter_request(check);
    }
    let act = activity.clone();
    client.connect("send-message", false, move |values| {
        if let (Ok(client), Ok(msg)) = (
            values[0].get::<gst_rtsp_server::RTSPClient>(),
            values[2].get::<glib::Pointer>(),
        ) {
            lock(&act.0).insert(key(&client), Instant::now());
            if !msg.is_null() {
                // SAFETY: the signal's message is valid and writable while it is emitted,
                // before it is serialised.
                unsafe {
                    gst_rtsp::ffi::gst_rtsp_message_remove_header(
                        msg as *mut gst_rtsp::ffi::GstRTSPMessage,
                        gst_rtsp::RTSPHeaderField::Server.into_glib(),
                        -1,
                    );
                }
            }
        }
        None
    });
    client.connect_closed(move |c| {
        lock(&activity.0).remove(&key(c));
    });
}

/// Closes every client that holds no session and has completed no request for `timeout`.
/// Returns how many were closed.
pub fn reap_idle(
    server: &gst_rtsp_server::RTSPServer,
    activity: &Activity,
    timeout: Duration,
) -> usize {
    let now = Instant::now();
    let stale: Vec<_> = server
        .client_filter(None)
        .into_iter()
        .filter(|c| {
            let idle = lock(&activity.0)
                .get(&key(c))
                .is_some_and(|t| now.saturating_duration_since(*t) >= timeout);
            idle && c.session_filter(None).is_empty()
        })
        .collect();
    for c in &stale {
        lock(&activity.0).remove(&key(c));
        c.close();
    }
    stale.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_up_to_the_bound() {
        assert_eq!(failure_delay(1), Duration::from_secs(1));
        assert_eq!(failure_delay(2), Duration::from_secs(2));
        assert_eq!(failure_delay(4), Duration::from_secs(8));
        assert_eq!(failure_delay(5), AUTH_DELAY_MAX);
        assert_eq!(failure_delay(u32::MAX), AUTH_DELAY_MAX);
    }

    #[test]
    fn failures_count_distinct_guesses_per_address_and_reset_on_success() {
        let g = Guard::new("dTpw", Arc::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s = Duration::from_secs;
        assert_eq!(g.failed(Some(a), "Basic x1"), s(1));
        assert_eq!(
            g.failed(Some(a), "Basic x1"),
            s(1),
            "a repeat does not raise"
        );
        assert_eq!(g.failed(Some(a), "Basic x2"), s(2));
        assert_eq!(g.failed(Some(a), "Basic x3"), s(4));
        assert_eq!(
            g.failed(Some(a), "Basic x1"),
            s(4),
            "a repeat costs the current delay"
        );
        assert_eq!(g.failed(Some(b), "Basic x1"), s(1), "per address");
        g.succeeded(Some(a));
        assert_eq!(g.failed(Some(a), "Basic x2"), s(1));
        for i in 0..100 {
            assert!(g.failed(Some(b), &format!("Basic y{i}")) <= AUTH_DELAY_MAX);
        }
    }
}
