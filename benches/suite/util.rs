// SPDX-License-Identifier: MPL-2.0
//! Measuring helpers shared by the suite's rows: process CPU time, medians and spreads,
//! percentiles, running pipelines to EOS, reading the element's statistics.

use std::time::{Duration, Instant};

use gst::prelude::*;

/// CPU time (user + system, all threads) of this process so far, in ns.
pub fn process_cpu_ns() -> u64 {
    (crate::h264::cpu_seconds() * 1e9) as u64
}

/// CLOCK_MONOTONIC now, ns (the clock of the camera's SensorTimestamp).
pub fn monotonic_ns() -> u64 {
    gstrpicamsrc2::camera::monotonic_ns()
}

/// Median and spread of repeated measurements.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Summary {
    /// The median, minimum and maximum of `v` (all zero when empty).
    pub fn of(v: &[f64]) -> Self {
        if v.is_empty() {
            return Self::default();
        }
        let mut s = v.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Self {
            median,
            min: s[0],
            max: s[n - 1],
            n,
        }
    }

    /// `median (min-max)` with `prec` decimals.
    pub fn fmt(&self, prec: usize) -> String {
        if self.n == 0 {
            return "-".into();
        }
        if self.n == 1 {
            return format!("{:.prec$}", self.median);
        }
        format!(
            "{:.prec$} ({:.prec$}-{:.prec$})",
            self.median, self.min, self.max
        )
    }
}

/// The `q` quantile (0..=1) of `v` by nearest rank; 0 when empty.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let i = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    s[i]
}

/// Parses a launch line into a pipeline.
pub fn pipeline(desc: &str) -> gst::Pipeline {
    gst::parse::launch(desc)
        .unwrap_or_else(|e| panic!("cannot build `{desc}`: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline")
}

/// Plays `p` until EOS (Ok) or an error or `timeout` (Err with the reason), then sets it to
/// NULL.
pub fn play_to_eos(p: &gst::Pipeline, timeout: Duration) -> Result<(), String> {
    let bus = p.bus().expect("bus");
    if let Err(e) = p.set_state(gst::State::Playing) {
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_mseconds(200),
                &[gst::MessageType::Error],
            )
            .map(|m| match m.view() {
                gst::MessageView::Error(e) => e.error().to_string(),
                _ => String::new(),
            })
            .unwrap_or_default();
        let _ = p.set_state(gst::State::Null);
        return Err(format!("cannot play: {e} {msg}"));
    }
    let deadline = Instant::now() + timeout;
    let res = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(format!("no EOS within {timeout:?}"));
        }
        let Some(m) = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(left.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) else {
            continue;
        };
        match m.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                break Err(format!("{} ({:?})", e.error(), e.debug()));
            }
            _ => {}
        }
    };
    let _ = p.set_state(gst::State::Null);
    res
}

/// The element named `name` in `p`.
pub fn element(p: &gst::Pipeline, name: &str) -> gst::Element {
    p.by_name(name)
        .unwrap_or_else(|| panic!("no element named {name}"))
}

/// A u64 field of rpicamsrc2's `statistics` (0 when absent).
pub fn stat(src: &gst::Element, field: &str) -> u64 {
    src.property::<gst::Structure>("statistics")
        .get::<u64>(field)
        .unwrap_or(0)
}

/// `n/d` of a GStreamer fraction as f64.
pub fn fps_of((n, d): (i32, i32)) -> f64 {
    f64::from(n) / f64::from(d.max(1))
}

/// The ratio a/b, or NaN when b is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

/// Medians of element-wise ratios of two equally long series (each repeat's pair measured
/// back to back, so both saw the same machine load).
pub fn paired_ratio(a: &[f64], b: &[f64]) -> Summary {
    let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| ratio(*x, *y)).collect();
    Summary::of(&r)
}
