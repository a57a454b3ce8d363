// SPDX-License-Identifier: MPL-2.0
//! The AGC/AEC of the simulated IPA: metering, constraint modes, the target over lux, filtering
//! and locking, and the division of the total exposure into time and gains (see [`super`]).

use super::super::scene::SceneStats;
use super::Ipa;

impl Ipa {
    pub(super) fn agc(
        &mut self,
        frame: u64,
        y_of: impl Fn(f64) -> f64,
        stats: &SceneStats,
        k: f64,
        total_applied: f64,
    ) {
        let t = &self.sensor.tuning;
        let manual_e = self.exposure_manual_value();
        let manual_g = self.gain_manual_value();
        if manual_e.is_none() || manual_g.is_none() {
            let y_target = interp(t.y_target, self.lux);
            let target_y = (y_target * 2f64.powf(self.user.ev) * t.base_ev).min(0.9);
            // computeGain: iterate towards the target.
            let mut gain = 1.0;
            for _ in 0..8 {
                let y = y_of(gain);
                let extra = (target_y / y.max(1e-6)).min(10.0);
                gain *= extra;
                if extra < 1.01 {
                    break;
                }
            }
            // Constraint modes on the histogram (applied to the luma quantiles).
            let q = |lo: f64, hi: f64, g: f64| quantile_mean(&stats.histogram, lo, hi, k * g);
            let bounds: &[(bool, f64, f64, f64)] = match self.user.constraint {
                1 => &[(false, 0.98, 1.0, 0.5), (true, 0.98, 1.0, 0.8)],
                2 => &[(false, 0.0, 0.5, 0.17)],
                _ => &[(false, 0.98, 1.0, 0.5)],
            };
            for &(upper, lo, hi, target) in bounds {
                let m = q(lo, hi, gain);
                if m <= 0.0 {
                    continue;
                }
                let g = gain * target / m;
                if (!upper && g > gain) || (upper && g < gain) {
                    gain = g;
                }
            }
            let stages = &t.exposure_modes[self.user.exposure_mode];
            let max_e = manual_e.unwrap_or_else(|| {
                stages
                    .shutter_us
                    .last()
                    .copied()
                    .unwrap_or(66666.0)
                    .min(self.max_exposure_us())
            });
            let max_g = manual_g.unwrap_or_else(|| {
                stages
                    .gain
                    .last()
                    .copied()
                    .unwrap_or(1.0)
                    .min(self.sensor.analogue_gain.1)
            });
            let min_total = f64::from(self.mode.min_exposure_us()) * self.sensor.analogue_gain.0;
            self.target = (total_applied * gain).clamp(min_total, max_e * max_g);
            // filterExposure.
            let startup = self.frame_count <= u64::from(t.startup_frames);
            let ratio = self.target / self.filtered.max(1e-9);
            if startup {
                self.filtered = self.target;
            } else if (ratio - 1.0).abs() > 0.02 {
                let speed = if (0.8..1.2).contains(&ratio) {
                    t.speed.sqrt()
                } else {
                    t.speed
                };
                self.filtered = speed * self.target + (1.0 - speed) * self.filtered;
            }
            let err = (self.target - self.filtered).abs();
            if err < 0.1 * self.target + 200.0 {
                self.lock_count += 1;
            } else {
                self.lock_count = 0;
            }
        } else {
            self.lock_count = 0;
        }
        let (e, g) = match (manual_e, manual_g) {
            (Some(e), Some(g)) => {
                self.filtered = e * g;
                (e, g)
            }
            _ => self.divide(self.filtered),
        };
        let (lines, fl) = self.to_lines(e);
        // Write only changes, as DelayedControls does.
        if lines != self.exposure.current
            || self.exposure.pending.back().is_some_and(|p| p.1 != lines)
        {
            self.exposure.write(frame, lines);
        }
        if (g - self.gain.current).abs() > 1e-6
            || self
                .gain
                .pending
                .back()
                .is_some_and(|p| (p.1 - g).abs() > 1e-6)
        {
            self.gain.write(frame, g);
        }
        if fl != self.frame_length.current
            || self.frame_length.pending.back().is_some_and(|p| p.1 != fl)
        {
            self.frame_length.write(frame, fl);
        }
    }
}

fn interp(curve: &[(f64, f64)], x: f64) -> f64 {
    match curve {
        [] => 0.16,
        [(_, y)] => *y,
        _ => {
            for w in curve.windows(2) {
                let ((x0, y0), (x1, y1)) = (w[0], w[1]);
                if x <= x1 {
                    let t = ((x - x0) / (x1 - x0)).clamp(0.0, 1.0);
                    return y0 + t * (y1 - y0);
                }
            }
            curve.last().map(|c| c.1).unwrap_or(0.16)
        }
    }
}

/// Mean of the luma histogram between quantiles `lo` and `hi`, after scaling by `scale` and
/// clipping at 1.
fn quantile_mean(hist: &[u32], lo: f64, hi: f64, scale: f64) -> f64 {
    let total: u64 = hist.iter().map(|&c| u64::from(c)).sum();
    if total == 0 {
        return 0.0;
    }
    let (a, b) = (lo * total as f64, hi * total as f64);
    let (mut cum, mut s, mut n) = (0.0, 0.0, 0.0);
    for (bin, &c) in hist.iter().enumerate() {
        let c = f64::from(c);
        let (start, end) = (cum, cum + c);
        cum = end;
        let overlap = (end.min(b) - start.max(a)).max(0.0);
        if overlap > 0.0 {
            s += overlap * ((bin as f64 + 0.5) / 255.0 * scale).min(1.0);
            n += overlap;
        }
    }
    if n > 0.0 {
        s / n
    } else {
        0.0
    }
}

/// Region weights over the 16x12 grid for metering modes centre-weighted (0), spot (1) and
/// matrix (2).
pub(super) fn metering_weights(mode: usize) -> Vec<f64> {
    let (w, h) = super::super::scene::REGIONS;
    let mut v = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let dx = (x as f64 + 0.5) / w as f64 - 0.5;
            let dy = (y as f64 + 0.5) / h as f64 - 0.5;
            let r = (dx * dx + dy * dy).sqrt();
            v.push(match mode {
                1 => {
                    if r < 0.12 {
                        1.0
                    } else {
                        0.0
                    }
                }
                2 => 1.0,
                _ => (4.0 - 6.0 * r).max(1.0),
            });
        }
    }
    v
}
