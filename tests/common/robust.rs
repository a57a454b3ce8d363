// SPDX-License-Identifier: MPL-2.0
//! Robustness runs through real pipelines, shared by the tests (`tests/robustness.rs`, which
//! assert the bounds) and the benchmark suite (its robustness row, which reports the figures in
//! BENCHMARKS.md): a seeded property and caps fuzz of `rpicamsrc2` and `rpih264enc` with state
//! changes, NULL→PLAYING→NULL cycles with the process's threads, fds and RSS, and a soak with RSS
//! sampled each second. Each returns its figures; a state change that does not finish within
//! [`STATE_TIMEOUT`] panics (the caller's test fails, the suite records a failed check), and a
//! deadlock aborts the process after [`WATCHDOG`] with the last steps printed. The caller has
//! initialised GStreamer and registered the plugin. Needs std, gst and glib only.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;

/// The fuzz seed: `RPICAMSRC2_FUZZ_SEED`, or a fixed default so that runs repeat.
pub fn seed() -> u64 {
    std::env::var("RPICAMSRC2_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_2026_1202)
}

/// What a fuzz run did.
#[derive(Debug, Clone)]
pub struct FuzzFigures {
    pub seed: u64,
    /// Steps on `rpicamsrc2` (a property, a caps change or a state change each).
    pub steps: usize,
    /// Writable `rpicamsrc2` properties fuzzed.
    pub properties: usize,
    pub state_changes: usize,
    /// State changes still pending after 500 ms (legitimate: a sink waiting for a frame).
    pub pending: usize,
    /// Buffers that reached the sink: settings met a running camera.
    pub buffers: u64,
    pub messages: usize,
    pub camera_secs: f64,
    /// Short `rpih264enc` streams with fuzzed properties (steps / 20).
    pub encoder_runs: usize,
    pub encoder_secs: f64,
}

impl std::fmt::Display for FuzzFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {}: {} rpicamsrc2 steps ({} properties, {} state changes ({} left pending), \
             {} buffers, {} bus messages) in {:.1} s; {} rpih264enc runs in {:.1} s",
            self.seed,
            self.steps,
            self.properties,
            self.state_changes,
            self.pending,
            self.buffers,
            self.messages,
            self.camera_secs,
            self.encoder_runs,
            self.encoder_secs
        )
    }
}

/// What the state cycles did to the process: (before, after) pairs taken after 20 warm-up
/// cycles and after the last one.
#[derive(Debug, Clone)]
pub struct CycleFigures {
    pub cycles: usize,
    pub secs: f64,
    pub threads: (usize, usize),
    pub fds: (usize, usize),
    pub rss_kib: (u64, u64),
    /// The C heap in use (KiB): glibc's mallinfo2, bytes allocated from the arenas
    /// (`uordblks`) plus chunks it mmapped (`hblkhd`). Unlike RSS, this counts only what the
    /// process allocated and still holds, not an emulator's own memory (under qemu-user RSS
    /// includes qemu's translated code) nor pages the allocator keeps for reuse.
    pub heap_kib: (u64, u64),
}

impl std::fmt::Display for CycleFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cycles after 20 warm-up in {:.1} s: threads {} -> {}, fds {} -> {}, RSS {} -> {} \
             KiB ({:+} KiB), heap in use {} -> {} KiB ({:+} KiB)",
            self.cycles,
            self.secs,
            self.threads.0,
            self.threads.1,
            self.fds.0,
            self.fds.1,
            self.rss_kib.0,
            self.rss_kib.1,
            self.rss_kib.1 as i64 - self.rss_kib.0 as i64,
            self.heap_kib.0,
            self.heap_kib.1,
            self.heap_kib.1 as i64 - self.heap_kib.0 as i64
        )
    }
}

/// The process's resident memory over a soak, one sample a second once settled.
#[derive(Debug, Clone)]
pub struct SoakFigures {
    pub secs: u64,
    pub frames: u64,
    pub samples: usize,
    pub min_kib: u64,
    pub max_kib: u64,
    pub mean_kib: f64,
}

impl SoakFigures {
    /// (max - min) / mean, %.
    pub fn spread_percent(&self) -> f64 {
        (self.max_kib - self.min_kib) as f64 / self.mean_kib * 100.0
    }
}

impl std::fmt::Display for SoakFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} s, {} frames, RSS over the {} settled samples: min {} KiB, max {} KiB, mean {:.0} \
             KiB, spread {:.2} %",
            self.secs,
            self.frames,
            self.samples,
            self.min_kib,
            self.max_kib,
            self.mean_kib,
            self.spread_percent()
        )
    }
}

/// Bound on any single state change or wait in these tests.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(10);

/// xorshift64*: a tiny deterministic PRNG, so a failing run is repeated from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Aborts the process (failing the test with the last steps printed) when no step completes for
/// `WATCHDOG`: a deadlocked `set_state` or property set never returns, so only another thread
/// can tell.
pub const WATCHDOG: Duration = Duration::from_secs(30);

struct Watchdog {
    progress: std::sync::Arc<std::sync::Mutex<(Instant, std::collections::VecDeque<String>, bool)>>,
}

impl Watchdog {
    fn start(what: &'static str) -> Self {
        let progress = std::sync::Arc::new(std::sync::Mutex::new((
            Instant::now(),
            std::collections::VecDeque::new(),
            false,
        )));
        let shared = progress.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let g = shared.lock().unwrap_or_else(|e| e.into_inner());
            if g.2 {
                return;
            }
            if g.0.elapsed() > WATCHDOG {
                eprintln!("{what}: no progress for {WATCHDOG:?} (deadlock); last steps:");
                for step in &g.1 {
                    eprintln!("  {step}");
                }
                std::process::abort();
            }
        });
        Watchdog { progress }
    }
    /// Records a step about to run and marks progress.
    fn step(&self, what: String) {
        let mut g = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = Instant::now();
        if g.1.len() == 40 {
            g.1.pop_front();
        }
        g.1.push_back(what);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).2 = true;
    }
}

/// Sets a property from its string form as gst-launch does (`gst_util_set_object_arg`): a value
/// that does not parse or is out of range is refused by GLib with a warning, and the element's
/// own checks see every value that GLib lets through. Unlike `set_property_from_str` this does
/// not panic in the test on a refused value.
fn set_from_str(obj: &gst::Element, name: &str, value: &str) {
    let name = std::ffi::CString::new(name).unwrap();
    let value = std::ffi::CString::new(value).unwrap();
    unsafe {
        gst::ffi::gst_util_set_object_arg(
            obj.as_ptr() as *mut glib::gobject_ffi::GObject,
            name.as_ptr(),
            value.as_ptr(),
        );
    }
}

/// A random value for `pspec` as a string: in range, at or past the bounds, or of the wrong
/// shape (bad enum nicks, malformed arrays).
fn value_for(rng: &mut Rng, pspec: &glib::ParamSpec) -> String {
    const JUNK: &[&str] = &["", "junk", "<<1,2>>", "-1", "1e300", "<>", "{1,2}", "NaN"];
    if rng.below(8) == 0 {
        return rng.pick(JUNK).to_string();
    }
    macro_rules! numeric {
        ($ps:ty, $t:ty) => {
            if let Some(p) = pspec.downcast_ref::<$ps>() {
                let (lo, hi) = (p.minimum(), p.maximum());
                return match rng.below(6) {
                    0 => lo.to_string(),
                    1 => hi.to_string(),
                    2 => format!("{}", (lo as f64) - 1.0 - rng.unit() * 1e6),
                    3 => format!("{}", (hi as f64) + 1.0 + rng.unit() * 1e6),
                    _ => {
                        let v = lo as f64 + (hi as f64 - lo as f64) * rng.unit();
                        // Small values most of the time: the range's top is often absurd.
                        let v = if rng.below(2) == 0 {
                            v.min(lo as f64 + 100.0)
                        } else {
                            v
                        };
                        format!("{}", v as $t)
                    }
                };
            }
        };
    }
    numeric!(glib::ParamSpecInt, i32);
    numeric!(glib::ParamSpecUInt, u32);
    numeric!(glib::ParamSpecInt64, i64);
    numeric!(glib::ParamSpecUInt64, u64);
    numeric!(glib::ParamSpecFloat, f32);
    numeric!(glib::ParamSpecDouble, f64);
    if pspec.value_type() == glib::Type::BOOL {
        return rng.pick(&["true", "false", "maybe"]).to_string();
    }
    if let Some(p) = pspec.downcast_ref::<glib::ParamSpecEnum>() {
        let class = p.enum_class();
        let values = class.values();
        return match rng.below(5) {
            0 => "no-such-nick".to_string(),
            1 => "9999".to_string(),
            _ => rng.pick(values).nick().to_string(),
        };
    }
    if let Some(p) = pspec.downcast_ref::<glib::ParamSpecFlags>() {
        let class = p.flags_class();
        let values = class.values();
        return match rng.below(4) {
            0 => "no-such-flag".to_string(),
            _ => rng.pick(values).nick().to_string(),
        };
    }
    if pspec.value_type() == glib::Type::STRING {
        return rng
            .pick(&[
                "sim:imx219",
                "sim:imx477",
                "sim:ov5647",
                "sim:nope",
                "1332:990:10",
                "640x480",
                "99999:1:8",
                "/nonexistent/file.png",
                "/dev/null",
                "controls,repeat_sequence_header=1,video_bitrate=1000000",
                "controls,h264_level=99,h264_profile=-3",
                "controls,",
                "<<1,2>>",
                "\u{1F4F7}",
            ])
            .to_string();
    }
    if pspec.value_type() == gst::Array::static_type() {
        return rng
            .pick(&[
                "<>",
                "<1.0, 1.5>",
                "<0.0, 0.0>",
                "<100, 100, 200, 200>",
                "<0, 0, 1, 1>",
                "<-5, -5, 99999, 99999>",
                "<<0, 0, 100, 100>, <10, 10, 50, 50>>",
                "<<1,2>>",
                "<1, 0, 0, 0, 1, 0, 0, 0, 1>",
                "<99, -99, 0, 0, 0, 0, 0, 0, 0>",
                "<1, 2, 3>",
                "<\"a\", \"b\">",
            ])
            .to_string();
    }
    rng.pick(JUNK).to_string()
}

/// Writable properties that may be set after construction, but for `name` and `parent` (the
/// bin's, not the element's).
fn fuzzable(el: &gst::Element) -> Vec<glib::ParamSpec> {
    el.list_properties()
        .iter()
        .filter(|p| {
            p.flags().contains(glib::ParamFlags::WRITABLE)
                && !p.flags().contains(glib::ParamFlags::CONSTRUCT_ONLY)
                && !matches!(p.name(), "name" | "parent")
        })
        .cloned()
        .collect()
}

/// Drops every pending bus message (errors and warnings are expected in a fuzz).
fn drain(bus: &gst::Bus) -> usize {
    let mut n = 0;
    while bus.pop().is_some() {
        n += 1;
    }
    n
}

/// Changes state and waits for it at most `wait`; returns whether it is still pending then.
/// Failed changes are fine (bad settings); a change may stay pending legitimately (a sink waiting
/// for a first frame that a frozen or failed camera never sends), and NULL must still be reached.
fn try_state(p: &gst::Pipeline, state: gst::State, wait: Duration) -> bool {
    let _ = p.set_state(state);
    let (res, _, _) = p.state(gst::ClockTime::from_nseconds(wait.as_nanos() as u64));
    matches!(res, Ok(gst::StateChangeSuccess::Async))
}

/// Changes state and waits for it at most `STATE_TIMEOUT`; a change still pending after that
/// fails the test.
fn bounded_state(p: &gst::Pipeline, state: gst::State, ctx: &str) {
    assert!(
        !try_state(p, state, STATE_TIMEOUT),
        "{ctx}: state change to {state:?} still pending after {STATE_TIMEOUT:?}"
    );
}

/// Sets the pipeline to NULL and checks it got there within the bound.
fn to_null(p: &gst::Pipeline, ctx: &str) {
    let start = Instant::now();
    let _ = p.set_state(gst::State::Null);
    assert!(
        start.elapsed() < STATE_TIMEOUT,
        "{ctx}: NULL took {:?}",
        start.elapsed()
    );
    assert_eq!(p.current_state(), gst::State::Null, "{ctx}: not in NULL");
}

const CAPS: &[&str] = &[
    "video/x-raw,width=320,height=240",
    "video/x-raw,width=640,height=480,framerate=30/1",
    "video/x-raw,format=NV12,width=1280,height=720,framerate=30/1",
    "video/x-raw,format=I420,width=640,height=480",
    "video/x-raw,format=RGBx,width=320,height=240,framerate=15/1",
    "video/x-raw,format=YUY2,width=320,height=240",
    "video/x-raw,width=[16,4096],height=[16,4096]",
    "video/x-raw,framerate=1000/1",
    "video/x-raw,width=1,height=1",
    "video/x-raw,width=100000,height=100000",
    "video/x-raw,format=GRAY16_LE",
    "video/x-h264",
    "audio/x-raw",
    "video/x-raw,width=322,height=242,framerate=7/3",
    "ANY",
];

/// Threads, open fds and resident memory (KiB) of this process.
fn process_figures() -> (usize, usize, u64) {
    let count = |dir| std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    (count("/proc/self/task"), count("/proc/self/fd"), rss)
}

/// The C heap in use, KiB (see `CycleFigures::heap_kib`).
fn heap_in_use_kib() -> u64 {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let m = unsafe { libc::mallinfo2() };
    (m.uordblks as u64 + m.hblkhd as u64) / 1024
}

/// One NULL→PLAYING→NULL cycle that waits for the first buffer at the sink.
fn cycle(p: &gst::Pipeline, rx: &std::sync::mpsc::Receiver<()>, i: usize) {
    while rx.try_recv().is_ok() {}
    bounded_state(p, gst::State::Playing, &format!("cycle {i}"));
    rx.recv_timeout(STATE_TIMEOUT)
        .unwrap_or_else(|_| panic!("cycle {i}: no buffer within {STATE_TIMEOUT:?}"));
    to_null(p, &format!("cycle {i}"));
    if let Some(bus) = p.bus() {
        while let Some(m) = bus.pop() {
            if let gst::MessageView::Error(e) = m.view() {
                panic!("cycle {i}: error {}", e.error());
            }
        }
    }
}

/// Fuzzes `rpicamsrc2` for `iterations` steps from `seed` (a fresh pipeline every 100 steps),
/// then runs `iterations / 20` short `rpih264enc` streams with fuzzed properties.
pub fn fuzz(seed: u64, iterations: usize) -> FuzzFigures {
    let mut rng = Rng(seed);
    let start = Instant::now();

    let buffers = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    // A fresh pipeline every `PER_PIPELINE` steps, so that settings that stop the camera for
    // good (an unknown camera, a sensor mode it lacks) do not end streaming for the whole run.
    const PER_PIPELINE: usize = 100;
    let make = || {
        let p = gst::parse::launch(
            "rpicamsrc2 name=src ! capsfilter name=cf caps=video/x-raw,width=320,height=240 \
             ! fakesink name=sink sync=false signal-handoffs=true",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let counter = buffers.clone();
        p.by_name("sink")
            .unwrap()
            .connect("handoff", false, move |_| {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                None
            });
        let src = p.by_name("src").unwrap();
        let cf = p.by_name("cf").unwrap();
        let bus = p.bus().unwrap();
        (p, src, cf, bus)
    };
    // Each pipeline starts streaming with the default settings, so that the settings fuzzed
    // next meet a running camera whatever the seed.
    let stream = |p: &gst::Pipeline| {
        let _ = try_state(p, gst::State::Playing, Duration::from_millis(500));
        std::thread::sleep(Duration::from_millis(100));
    };
    let (mut p, mut src, mut cf, mut bus) = make();
    stream(&p);
    let props = fuzzable(&src);
    let states = [
        gst::State::Null,
        gst::State::Ready,
        gst::State::Paused,
        gst::State::Playing,
    ];
    let mut messages = 0;
    let mut changes = 0;
    let mut pending = 0;
    let dog = Watchdog::start("rpicamsrc2 fuzz");
    for i in 0..iterations {
        let ctx = format!("seed {seed}, iteration {i}");
        if i > 0 && i % PER_PIPELINE == 0 {
            dog.step(format!("{ctx}: NULL, new pipeline"));
            to_null(&p, &ctx);
            messages += drain(&bus);
            (p, src, cf, bus) = make();
            stream(&p);
        }
        match rng.below(10) {
            0 => {
                let caps = *rng.pick(CAPS);
                dog.step(format!("{ctx}: caps {caps}"));
                cf.set_property("caps", caps.parse::<gst::Caps>().expect("caps parse"));
            }
            1 => {
                let state = *rng.pick(&states);
                dog.step(format!("{ctx}: state {state:?}"));
                if try_state(&p, state, Duration::from_millis(500)) {
                    pending += 1;
                }
                if state == gst::State::Playing {
                    std::thread::sleep(Duration::from_millis(100));
                }
                changes += 1;
            }
            _ => {
                let pspec = rng.pick(&props);
                let value = value_for(&mut rng, pspec);
                dog.step(format!("{ctx}: {}={value}", pspec.name()));
                set_from_str(&src, pspec.name(), &value);
                // Every readable property reads back without a panic.
                if pspec.flags().contains(glib::ParamFlags::READABLE) {
                    let _ = src.property_value(pspec.name());
                }
            }
        }
        messages += drain(&bus);
        // Now and then let it stream, so that settings land on a running camera.
        if rng.below(10) == 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    dog.step(format!("seed {seed}: NULL at the end"));
    to_null(&p, &format!("seed {seed}, end of rpicamsrc2 fuzz"));
    messages += drain(&bus);
    let cam_time = start.elapsed();

    // rpih264enc: fewer iterations, each a short stream of 5 frames.
    let enc_start = Instant::now();
    let mut enc_runs = 0;
    for i in 0..iterations / 20 {
        let ctx = format!("seed {seed}, encoder run {i}");
        let p = gst::parse::launch(
            "videotestsrc num-buffers=5 ! video/x-raw,width=320,height=240 \
             ! rpih264enc name=enc ! fakesink sync=false",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let enc = p.by_name("enc").unwrap();
        let props = fuzzable(&enc);
        for _ in 0..rng.below(6) + 1 {
            let pspec = rng.pick(&props);
            let value = value_for(&mut rng, pspec);
            dog.step(format!("{ctx}: {}={value}", pspec.name()));
            set_from_str(&enc, pspec.name(), &value);
        }
        dog.step(format!("{ctx}: PLAYING"));
        if try_state(&p, gst::State::Playing, STATE_TIMEOUT) {
            pending += 1;
        }
        // Until EOS or error, bounded.
        let bus = p.bus().unwrap();
        let _ = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(STATE_TIMEOUT.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        // Properties changed while it runs or after the end.
        for _ in 0..rng.below(3) {
            let pspec = rng.pick(&props);
            let value = value_for(&mut rng, pspec);
            dog.step(format!("{ctx}: {}={value} after the end", pspec.name()));
            set_from_str(&enc, pspec.name(), &value);
        }
        dog.step(format!("{ctx}: NULL"));
        to_null(&p, &ctx);
        drain(&bus);
        enc_runs += 1;
    }
    drop(dog);
    FuzzFigures {
        seed,
        steps: iterations,
        properties: props.len(),
        state_changes: changes,
        pending,
        buffers: buffers.load(std::sync::atomic::Ordering::Relaxed),
        messages,
        camera_secs: cam_time.as_secs_f64(),
        encoder_runs: enc_runs,
        encoder_secs: enc_start.elapsed().as_secs_f64(),
    }
}

/// `n` NULL→PLAYING→NULL cycles of a 320x240 camera pipeline, each waiting for a buffer at the
/// sink, after 20 warm-up cycles.
pub fn cycles(n: usize) -> CycleFigures {
    let p = gst::parse::launch(
        "rpicamsrc2 ! video/x-raw,width=320,height=240 ! fakesink name=sink sync=false \
         signal-handoffs=true",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    p.by_name("sink")
        .unwrap()
        .connect("handoff", false, move |_| {
            let _ = tx.try_send(());
            None
        });
    let start = Instant::now();
    for i in 0..20 {
        cycle(&p, &rx, i);
    }
    let ((t0, f0, r0), h0) = (process_figures(), heap_in_use_kib());
    for i in 20..20 + n {
        cycle(&p, &rx, i);
    }
    let ((t1, f1, r1), h1) = (process_figures(), heap_in_use_kib());
    CycleFigures {
        cycles: n,
        secs: start.elapsed().as_secs_f64(),
        threads: (t0, t1),
        fds: (f0, f1),
        rss_kib: (r0, r1),
        heap_kib: (h0, h1),
    }
}

/// Streams 640x480 at 30 fps for `secs` seconds, sampling RSS each second once settled (after
/// 10 s, or half the run when shorter).
pub fn soak(secs: u64) -> SoakFigures {
    const SETTLE: u64 = 10;
    let p = gst::parse::launch(
        "rpicamsrc2 name=src ! video/x-raw,width=640,height=480,framerate=30/1 \
         ! fakesink sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let bus = p.bus().unwrap();
    bounded_state(&p, gst::State::Playing, "soak");
    let mut samples = Vec::new();
    let start = Instant::now();
    for s in 1..=secs {
        let until = start + Duration::from_secs(s);
        while let Some(m) = bus.timed_pop(gst::ClockTime::from_nseconds(
            until.saturating_duration_since(Instant::now()).as_nanos() as u64,
        )) {
            if let gst::MessageView::Error(e) = m.view() {
                panic!("soak: error after {s} s: {}", e.error());
            }
        }
        if s > SETTLE.min(secs / 2) {
            samples.push(process_figures().2);
        }
    }
    let frames: u64 = p
        .by_name("src")
        .unwrap()
        .property::<gst::Structure>("statistics")
        .get::<u64>("frames-pushed")
        .unwrap_or(0);
    to_null(&p, "soak end");
    let min = *samples.iter().min().expect("settled samples");
    let max = *samples.iter().max().expect("settled samples");
    let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64;
    SoakFigures {
        secs,
        frames,
        samples: samples.len(),
        min_kib: min,
        max_kib: max,
        mean_kib: mean,
    }
}
