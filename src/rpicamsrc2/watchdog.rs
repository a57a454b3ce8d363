// SPDX-License-Identifier: MPL-2.0
//! The capture thread's stall watchdog, as a pure state machine over instants (no GStreamer,
//! no camera): the capture thread tells it when the camera shows life and asks it what to do
//! when no frame came.
//!
//! A stall is no frame for one stall window, max(1 s, 10 frame periods). The frame period is
//! the longest of the one the camera reports (libcamera's `FrameDuration`), the shortest the
//! settings allow, and the pace seen: the shorter of the last two intervals between frames (the
//! wait for the first frame after a start counting as one), so that a camera that reports no
//! frame duration and is slower than the negotiated rate (vimc under emulation, about one frame
//! a second at a negotiated 30/1, docs/vm.md) is slow, not stalled, while one late frame does
//! not widen the window. The watchdog then
//! asks for a restart of the camera. Restart n has 2^(n-1) windows to bring a frame (1, 2, 4,
//! ... windows, at most [`MAX_BACKOFF`]), so that a fault lasting longer than one restart (a
//! sensor link glitch of several seconds) is ridden out by the default `max-restarts` (3
//! restarts at 30 fps cover 1 + 1 + 2 + 4 = 8 s) while a camera that comes back at once is
//! restarted at once. A restart that brings no frame in its time has failed, and another is
//! asked for, up to `max-restarts` failed ones (-1: no limit), after which it gives up.

use std::time::{Duration, Instant};

/// `max-restarts`' default: failed restarts before a stall is an error.
pub(super) const DEFAULT_MAX_RESTARTS: i32 = 3;
/// The shortest stall window.
pub(super) const MIN_WINDOW: Duration = Duration::from_secs(1);
/// The least time the first frame after the camera starts is given (the start of the stream,
/// not a restart, which has its back-off): a camera's start takes longer than a frame period
/// (vimc under emulation took up to about 2 s to its first frame while its frames then came
/// every 1-1.4 s, docs/vm.md).
pub(super) const FIRST_FRAME_WINDOW: Duration = Duration::from_secs(3);
/// Frame periods in a stall window (when that is longer than [`MIN_WINDOW`]).
pub(super) const WINDOW_FRAMES: u32 = 10;
/// The most stall windows a restart is given to bring a frame (the back-off's cap).
pub(super) const MAX_BACKOFF: u32 = 8;

/// The stall windows restart `attempt` (from 1) is given: 2^(attempt-1), at most
/// [`MAX_BACKOFF`].
pub(super) fn backoff(attempt: u32) -> u32 {
    1u32.checked_shl(attempt.saturating_sub(1))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

/// The stall window for frames of `period`: max([`MIN_WINDOW`], [`WINDOW_FRAMES`] periods).
pub(super) fn window(period: Duration) -> Duration {
    period.saturating_mul(WINDOW_FRAMES).max(MIN_WINDOW)
}

/// What the capture thread must do now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Step {
    /// Nothing: frames flow, or the current restart still has time.
    Wait,
    /// A stall begins: nothing came for `since_last` (at least one window). Ask again.
    Stalled {
        /// Time since the last frame (or since the camera started).
        since_last: Duration,
    },
    /// Restart the camera (attempt `attempt`, from 1), then call [`Watchdog::restarted`].
    Restart {
        /// Which attempt for this stall.
        attempt: u32,
    },
    /// Give up: `failed` restarts brought no frame (0 when restarts are off).
    GiveUp {
        /// Failed restarts.
        failed: u32,
        /// Time since the last frame.
        since_last: Duration,
    },
}

/// A stall ended: the first sign of life after a restart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Recovered {
    /// Restarts this stall took.
    pub attempts: u32,
    /// Restarts since the watchdog started (this stall's included).
    pub restarts: u32,
    /// Time from the last frame before the stall to this one.
    pub gap: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Watching,
    Stalled,
    Restarting { attempt: u32, since: Instant },
}

/// The watchdog of one camera start (see the module documentation).
#[derive(Debug, Clone)]
pub(super) struct Watchdog {
    last_alive: Instant,
    /// The last frame's period (as the camera reported it).
    frame_period: Duration,
    /// The shortest period the settings allow (fixed frame rate, exposure time asked for).
    floor_period: Duration,
    /// The pace seen: the shorter of the last two intervals between frames, not across a stall.
    seen_period: Duration,
    /// The last interval between frames (from the start or a restart to the first frame after
    /// it, for the first one), `None` before the first frame after either.
    last_gap: Option<Duration>,
    /// Whether a frame came since the start.
    framed: bool,
    phase: Phase,
    restarts: u32,
}

impl Watchdog {
    /// A watchdog for a camera started at `now`, whose frames are expected every `period` or
    /// sooner.
    pub fn new(now: Instant, period: Duration) -> Self {
        Self {
            last_alive: now,
            frame_period: Duration::ZERO,
            floor_period: period,
            seen_period: Duration::ZERO,
            last_gap: None,
            framed: false,
            phase: Phase::Watching,
            restarts: 0,
        }
    }

    /// The stall window now.
    pub fn window(&self) -> Duration {
        window(
            self.frame_period
                .max(self.floor_period)
                .max(self.seen_period),
        )
    }

    /// The period of the last frame, as the camera reported it.
    pub fn set_frame_period(&mut self, period: Duration) {
        self.frame_period = period;
    }

    /// The shortest period the settings allow (they can change while PLAYING).
    pub fn set_floor_period(&mut self, period: Duration) {
        self.floor_period = period;
    }

    /// The camera showed life at `now` (a frame, or a frame it captured without a free
    /// buffer). Ends a stall: says how, when a restart did it.
    pub fn alive(&mut self, now: Instant) -> Option<Recovered> {
        let gap = now.saturating_duration_since(self.last_alive);
        let phase = std::mem::replace(&mut self.phase, Phase::Watching);
        self.last_alive = now;
        self.framed = true;
        // A gap that ended a stall is the fault's length, not the camera's pace.
        if phase == Phase::Watching {
            self.seen_period = self.last_gap.map_or(gap, |last| last.min(gap));
            self.last_gap = Some(gap);
        } else {
            self.last_gap = None;
        }
        match phase {
            Phase::Restarting { attempt, .. } => Some(Recovered {
                attempts: attempt,
                restarts: self.restarts,
                gap,
            }),
            Phase::Watching | Phase::Stalled => None,
        }
    }

    /// What to do at `now`, the camera having shown no life since the last [`Watchdog::alive`];
    /// `max_restarts` failed restarts are allowed (-1: any number). Call again after anything
    /// but [`Step::Wait`] and [`Step::Restart`].
    pub fn poll(&mut self, now: Instant, max_restarts: i32) -> Step {
        let window = self.window();
        let since_last = now.saturating_duration_since(self.last_alive);
        // Before the first frame of the stream, the camera's start is given longer; restarts
        // have their back-off instead.
        let watch = if self.framed {
            window
        } else {
            window.max(FIRST_FRAME_WINDOW)
        };
        match self.phase {
            Phase::Watching if since_last >= watch => {
                self.phase = Phase::Stalled;
                Step::Stalled { since_last }
            }
            Phase::Watching => Step::Wait,
            Phase::Stalled => self.next_attempt(0, now, max_restarts, since_last),
            Phase::Restarting { attempt, since } => {
                if now.saturating_duration_since(since) < window.saturating_mul(backoff(attempt)) {
                    Step::Wait
                } else {
                    self.next_attempt(attempt, now, max_restarts, since_last)
                }
            }
        }
    }

    fn next_attempt(&mut self, failed: u32, now: Instant, max: i32, since_last: Duration) -> Step {
        if u32::try_from(max).is_ok_and(|max| failed >= max) {
            return Step::GiveUp { failed, since_last };
        }
        let attempt = failed + 1;
        self.restarts = self.restarts.saturating_add(1);
        self.phase = Phase::Restarting {
            attempt,
            since: now,
        };
        Step::Restart { attempt }
    }

    /// The restart asked for was made (successfully or not) at `now`: from then it has its
    /// [`backoff`] of windows to bring a frame.
    pub fn restarted(&mut self, now: Instant) {
        if let Phase::Restarting { attempt, .. } = self.phase {
            self.phase = Phase::Restarting {
                attempt,
                since: now,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_camera_slower_than_its_rate_and_reporting_none_is_not_stalled() {
        // vimc under TCG: 30/1 negotiated (floor 33 ms), no FrameDuration, a frame every
        // 1.2 s.
        let t0 = Instant::now();
        let mut w = Watchdog::new(t0, MS * 33);
        assert_eq!(w.window(), Duration::from_secs(1));
        let mut t = t0 + MS * 900;
        assert_eq!(w.poll(t, 3), Step::Wait);
        assert_eq!(w.alive(t), None);
        assert_eq!(
            w.window(),
            MS * 9_000,
            "ten times the wait for the first frame"
        );
        for i in 0..5 {
            t += MS * 1200;
            assert_eq!(
                w.poll(t - MS, 3),
                Step::Wait,
                "a frame 1.2 s late is not a stall"
            );
            assert_eq!(w.alive(t), None);
            // The shorter of the last two intervals: 0.9 s (the first frame's wait), then 1.2 s.
            let pace = if i == 0 { 900 } else { 1200 };
            assert_eq!(w.window(), MS * 10 * pace);
        }
        // A true stall is still seen, ten of those intervals later, and ends with a restart.
        assert_eq!(w.poll(t + MS * 11_999, 3), Step::Wait);
        assert_eq!(
            w.poll(t + MS * 12_000, 3),
            Step::Stalled {
                since_last: MS * 12_000
            }
        );
        assert_eq!(w.poll(t + MS * 12_000, 3), Step::Restart { attempt: 1 });
        w.restarted(t + MS * 12_000);
        let r = w.alive(t + MS * 13_000).expect("a restart ended the stall");
        assert_eq!(r.gap, MS * 13_000);
        // The stall's gap is not taken as the camera's pace; the next frame's interval is.
        assert_eq!(w.window(), MS * 12_000);
        assert_eq!(w.alive(t + MS * 14_000), None);
        assert_eq!(w.window(), MS * 10_000);
    }

    #[test]
    fn the_first_frame_is_given_three_seconds_then_the_window_applies() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(t0, MS * 33);
        assert_eq!(w.poll(t0 + MS * 2_999, 3), Step::Wait);
        assert_eq!(
            w.poll(t0 + MS * 3_000, 3),
            Step::Stalled {
                since_last: MS * 3_000
            }
        );
        // Once a frame came (here 40 ms after the start), the window is the usual second.
        let mut w = Watchdog::new(t0, MS * 33);
        w.alive(t0 + MS * 40);
        assert_eq!(
            w.poll(t0 + MS * 1_040, 3),
            Step::Stalled {
                since_last: MS * 1_000
            }
        );
    }

    #[test]
    fn one_late_frame_does_not_widen_the_window() {
        // 30 fps, then one frame 600 ms late (a busy machine): the window stays a second, so a
        // stall right after it is still seen after one second.
        let t0 = Instant::now();
        let mut w = Watchdog::new(t0, MS * 33);
        let mut t = t0;
        for _ in 0..10 {
            t += MS * 33;
            w.alive(t);
        }
        t += MS * 600;
        w.alive(t);
        assert_eq!(w.window(), Duration::from_secs(1));
        assert_eq!(
            w.poll(t + MS * 1000, 3),
            Step::Stalled {
                since_last: MS * 1000
            }
        );
    }

    #[test]
    fn the_window_is_a_second_or_ten_frames() {
        assert_eq!(window(MS * 33), Duration::from_secs(1));
        assert_eq!(
            window(Duration::from_millis(250)),
            Duration::from_millis(2500)
        );
        let mut w = Watchdog::new(Instant::now(), MS * 33);
        w.set_frame_period(Duration::from_millis(500));
        assert_eq!(w.window(), Duration::from_secs(5));
    }

    /// Polls every 100 ms (the capture thread's poll) from `from` until a step other than Wait.
    fn poll_until(w: &mut Watchdog, from: Instant, max: i32) -> (Duration, Step) {
        let mut t = from;
        loop {
            t += MS * 100;
            let s = w.poll(t, max);
            if s != Step::Wait {
                return (t - from, s);
            }
            assert!(t - from < Duration::from_secs(100), "never stopped waiting");
        }
    }

    #[test]
    fn a_stall_is_seen_within_two_seconds_and_a_restart_that_brings_a_frame_ends_it() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(t0, MS * 33);
        assert_eq!(w.alive(t0 + MS * 33), None);
        let last = t0 + MS * 33;
        let (after, step) = poll_until(&mut w, last, 3);
        assert!(after <= Duration::from_secs(2), "{after:?}");
        assert!(matches!(step, Step::Stalled { since_last } if since_last >= MIN_WINDOW));
        assert_eq!(w.phase, Phase::Stalled);
        assert_eq!(w.poll(last + after, 3), Step::Restart { attempt: 1 });
        w.restarted(last + after);
        assert_eq!(w.poll(last + after + MS * 100, 3), Step::Wait);
        let r = w.alive(last + after + MS * 200).unwrap();
        assert_eq!((r.attempts, r.restarts), (1, 1));
        assert_eq!(r.gap, after + MS * 200);
        assert_eq!(w.phase, Phase::Watching);
    }

    #[test]
    fn failed_restarts_are_retried_up_to_the_limit_then_given_up() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(t0, MS * 33);
        let (t, step) = poll_until(&mut w, t0, 2);
        assert!(matches!(step, Step::Stalled { .. }));
        let mut now = t0 + t;
        assert_eq!(w.poll(now, 2), Step::Restart { attempt: 1 });
        w.restarted(now);
        let (d, step) = poll_until(&mut w, now, 2);
        assert_eq!(step, Step::Restart { attempt: 2 });
        assert_eq!(
            d,
            Duration::from_secs(1),
            "the first restart has one window"
        );
        now += d;
        w.restarted(now);
        let (d, step) = poll_until(&mut w, now, 2);
        assert_eq!(
            d,
            Duration::from_secs(2),
            "the second restart has two windows"
        );
        now += d;
        assert_eq!(
            step,
            Step::GiveUp {
                failed: 2,
                since_last: now - t0
            }
        );
    }

    #[test]
    fn restarts_back_off_doubling_up_to_the_cap() {
        let b: Vec<u32> = (1..=6).map(backoff).collect();
        assert_eq!(b, [1, 2, 4, 8, 8, 8]);
        assert_eq!(backoff(0), 1);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
        // A 5 s fault at 30 fps is ridden out by the default three restarts: the stall is seen
        // after 1 s, the restarts wait 1, 2 and 4 s, and the frame at 5 s ends the third wait.
        // The fault starts after a frame at t0.
        let t0 = Instant::now() + MS * 33;
        let mut w = Watchdog::new(t0 - MS * 33, MS * 33);
        w.alive(t0);
        let (d, _) = poll_until(&mut w, t0, 3);
        let mut now = t0 + d;
        let mut attempts = 0;
        while now < t0 + Duration::from_secs(5) {
            match w.poll(now, 3) {
                Step::Restart { attempt } => {
                    attempts = attempt;
                    w.restarted(now);
                }
                Step::Wait => {}
                other => panic!("{other:?} at {:?}", now - t0),
            }
            now += MS * 100;
        }
        let r = w.alive(t0 + Duration::from_secs(5)).unwrap();
        assert_eq!((attempts, r.attempts), (3, 3));
    }

    #[test]
    fn no_restarts_gives_up_at_once_and_minus_one_never_does() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(t0, MS * 33);
        let (d, _) = poll_until(&mut w, t0, 0);
        assert!(matches!(w.poll(t0 + d, 0), Step::GiveUp { failed: 0, .. }));
        let mut w = Watchdog::new(t0, MS * 33);
        let (mut d, _) = poll_until(&mut w, t0, -1);
        for attempt in 1..50 {
            let s = w.poll(t0 + d, -1);
            assert_eq!(s, Step::Restart { attempt });
            w.restarted(t0 + d);
            d += Duration::from_secs(backoff(attempt).into());
        }
        let r = w.alive(t0 + d).unwrap();
        assert_eq!((r.attempts, r.restarts), (49, 49));
    }
}
