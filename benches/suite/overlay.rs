// SPDX-License-Identifier: MPL-2.0
//! The overlay row: what the overlay and orientation recipes (pipelines/overlay-*.txt,
//! rotate-*.txt) add per frame at 1080p30. Each variant runs `rpicamsrc2 (static scene) !
//! NV12 1920x1080 30 fps ! [variant] ! fakevideosink allocation-meta-flags=crop` with
//! [`cost::measure_through`] (process
//! CPU between two marked frames, divided by the frames), all variants back to back in each
//! repeat; the added cost is the variant's CPU per frame less the plain pipeline's in the same
//! repeat, and the ratio is taken per repeat, then the median. Not run with --quick.

use crate::cost::{self, STATIC_SCENE};
use crate::report::{Line, Report};
use crate::util::{self, Summary};

/// (label, extra rpicamsrc2 properties, elements after the caps).
const VARIANTS: &[(&str, &str, Option<&str>)] = &[
    ("plain (the reference)", "", None),
    (
        "clockoverlay (overlay-timestamp.txt)",
        "",
        Some(
            "clockoverlay time-format=\"%Y-%m-%d %H:%M:%S\" halignment=right valignment=bottom \
             font-desc=\"Sans 28\"",
        ),
    ),
    (
        "textoverlay (overlay-text.txt)",
        "",
        Some(
            "textoverlay text=\"Front door\" halignment=right valignment=bottom \
             font-desc=\"Sans 28\" shaded-background=true",
        ),
    ),
    (
        "180°, sensor flips (rotate-180.txt)",
        "hflip=true vflip=true",
        None,
    ),
    (
        "180°, videoflip video-direction=180",
        "",
        Some("videoflip video-direction=180"),
    ),
    (
        "90°, videoflip video-direction=90r (rotate-90.txt)",
        "",
        Some("videoflip video-direction=90r"),
    ),
];

const CAPS: &str = "video/x-raw,format=NV12,width=1920,height=1080,framerate=30/1";

/// The sink: it does not offer `GstVideoOverlayCompositionMeta` (fakevideosink does by default),
/// as rpih264enc and other encoders do not, so the overlay elements blend the text into every
/// frame as they do in the recipes, instead of only attaching it.
const SINK: &str = "fakevideosink sync=false allocation-meta-flags=crop";

/// Measures every variant `repeats` times and adds the lines and the section to `r`.
pub fn row(r: &mut Report, quick: bool) {
    println!("row overlay: overlays and orientation at 1080p30");
    let title = "Overlays and orientation: added CPU per frame at 1080p30";
    if quick {
        r.section(title, "not run (--quick)");
        return;
    }
    let (repeats, frames) = (3, 120);
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    for _ in 0..repeats {
        let mut this: Vec<Option<f64>> = Vec::new();
        for (label, props, filter) in VARIANTS {
            let src = format!("rpicamsrc2 camera-name=sim:imx219 {STATIC_SCENE} {props}");
            match cost::measure_through(&src, CAPS, *filter, SINK, 10, frames) {
                Ok(run) => this.push(Some(run.cpu_ms)),
                Err(e) => {
                    eprintln!("row overlay: {label}: {e}");
                    this.push(None);
                }
            }
        }
        // Only whole repeats, so that each variant pairs with the reference of its repeat.
        if this.iter().all(Option::is_some) {
            for (i, v) in this.into_iter().enumerate() {
                cpu[i].push(v.unwrap_or(f64::NAN));
            }
        }
    }
    let mut body = format!(
        "`rpicamsrc2 camera-name=sim:imx219` with a static scene (each camera buffer rendered \
         once, so the camera costs nearly nothing) ! `{CAPS}` ! variant ! `{SINK}` (no \
         overlay composition meta offered, as by an encoder, so overlays blend into each \
         frame); {frames} frames after 10, {repeats} repeats with every variant back to \
         back. Process CPU (getrusage) per frame. Added = variant - plain in the same repeat.\n\n\
         | variant | CPU/frame, ms | added, ms/frame | x plain | added at 30 fps, % of a core |\n\
         |---|---|---|---|---|\n"
    );
    let base = &cpu[0];
    for (i, (label, _, _)) in VARIANTS.iter().enumerate() {
        let v = &cpu[i];
        let s = Summary::of(v);
        let added: Vec<f64> = v.iter().zip(base).map(|(a, b)| a - b).collect();
        let a = Summary::of(&added);
        let ratio = util::paired_ratio(v, base);
        let (ratio_s, added_s) = if i == 0 || s.n == 0 {
            ("1.00x".to_string(), "-".to_string())
        } else {
            (format!("{}x", ratio.fmt(2)), a.fmt(3))
        };
        body += &format!(
            "| {label} | {} | {added_s} | {ratio_s} | {} |\n",
            s.fmt(3),
            if i == 0 || s.n == 0 {
                "-".to_string()
            } else {
                format!("{:.1}", a.median * 30.0 / 10.0)
            }
        );
        if i > 0 {
            r.line(Line {
                row: "overlay",
                what: format!("added CPU/frame at 1080p30: {label}"),
                how: "process CPU per frame, variant - plain, same repeat".into(),
                ours: format!("{added_s} ms"),
                repeats: format!("{}", s.n),
                peer: "the plain pipeline".into(),
                peer_value: format!("{} ms", Summary::of(base).fmt(3)),
                ratio: ratio_s,
            });
        }
    }
    r.section(title, body);
}
