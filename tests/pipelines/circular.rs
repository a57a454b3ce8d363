// SPDX-License-Identifier: MPL-2.0
//! Pre-trigger circular recording: circular-record.txt (rpicircularsink) triggered through its
//! action signal; the files probed and decoded with ffprobe.

use super::*;

const S: u64 = 1_000_000_000;
/// The recipe's pre-duration and post-duration.
const PRE: u64 = 2 * S;
const POST: u64 = 2 * S;
/// Frame period at 30/1, ns.
const FRAME: f64 = 1e9 / 30.0;

/// The recipe's messages: (name, structure).
type Messages = Arc<Mutex<Vec<gst::Structure>>>;

/// What one run showed: the run, rpicircularsink's messages, the triggers (running time ns,
/// accepted), and the running time (ns) of every buffer that reached rpicircularsink.
struct Circular {
    run: Run,
    messages: Vec<gst::Structure>,
    triggers: Vec<(u64, bool)>,
    arrived: Vec<u64>,
}

impl Circular {
    /// Warnings of rpicircularsink (a loaded machine may make the camera drop frames: those
    /// are rpicamsrc2's, and the checks below compare the files with what arrived).
    fn ring_warnings(&self) -> Vec<&String> {
        self.run
            .warnings
            .iter()
            .filter(|w| w.contains("GstRpiCircularSink"))
            .collect()
    }
}

/// Runs circular-record.txt for `frames` frames, emitting `trigger` on the first buffer at or
/// after each running time in `at` (ns); `on_buffer` sees the element before each buffer.
fn run_circular(
    out: &str,
    frames: u32,
    at: &[u64],
    tweaks: &[(&str, &str)],
    on_buffer: impl Fn(&gst::Element) + Send + Sync + 'static,
) -> Circular {
    let name = "circular-record.txt";
    let mut desc = recipe(name);
    for (from, to) in tweaks {
        desc = tweak(&desc, from, to);
    }
    let desc = substitute(
        &desc,
        &[("OUT", out.into()), ("NUM_BUFFERS", frames.to_string())],
    );
    let messages: Messages = Arc::new(Mutex::new(Vec::new()));
    let triggers = Arc::new(Mutex::new(Vec::new()));
    let arrived = Arc::new(Mutex::new(Vec::new()));
    let at = at.to_vec();
    let run = run_ok_with(name, &desc, Duration::from_secs(120), |p| {
        let ring = p
            .by_name("ring")
            .expect("the recipe names its rpicircularsink ring");
        let pad = ring.static_pad("sink").expect("sink pad");
        let weak = ring.downgrade();
        let next = Mutex::new(0usize);
        let triggers = triggers.clone();
        let arrived = arrived.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let (Some(ring), Some(pts)) = (weak.upgrade(), info.buffer().and_then(|b| b.pts()))
            else {
                return gst::PadProbeReturn::Ok;
            };
            on_buffer(&ring);
            arrived.lock().unwrap().push(pts.nseconds());
            let mut n = next.lock().unwrap();
            if at.get(*n).is_some_and(|t| pts.nseconds() >= *t) {
                *n += 1;
                let ok = ring.emit_by_name::<bool>("trigger", &[]);
                triggers.lock().unwrap().push((pts.nseconds(), ok));
            }
            gst::PadProbeReturn::Ok
        });
        let messages = messages.clone();
        p.bus().expect("bus").set_sync_handler(move |_, msg| {
            if let Some(s) = msg
                .structure()
                .filter(|s| s.name().starts_with("rpicircularsink-"))
            {
                messages.lock().unwrap().push(s.to_owned());
            }
            gst::BusSyncReply::Pass
        });
    });
    let messages = messages.lock().unwrap().clone();
    let triggers = triggers.lock().unwrap().clone();
    let arrived = arrived.lock().unwrap().clone();
    Circular {
        run,
        messages,
        triggers,
        arrived,
    }
}

fn of<'a>(m: &'a [gst::Structure], name: &str) -> Vec<&'a gst::Structure> {
    m.iter().filter(|s| s.name() == name).collect()
}

/// Checks one file: H.264 640x480 that decodes end to end, starting with a key frame, holding
/// every frame that reached the element from `start` to `end` (running times, ns), with their
/// time steps (no gap).
#[track_caller]
fn check_file(path: &Path, done: &gst::Structure, arrived: &[u64]) -> (u64, u64) {
    let start = done.get::<u64>("start-running-time").unwrap();
    let end = done.get::<u64>("end-running-time").unwrap();
    let buffers = done.get::<u64>("buffers").unwrap();
    let p = probe(path);
    assert_h264(&p, 640, 480);
    assert!(
        p.frames[0].1,
        "the file starts with a key frame: {:?}",
        &p.frames[..3]
    );
    // Every buffer written decodes (ffprobe -show_frames decodes them all).
    assert_eq!(
        p.frames.len() as u64,
        buffers,
        "frames decoded vs buffers written"
    );
    let came: Vec<f64> = arrived
        .iter()
        .filter(|t| (start..=end).contains(*t))
        .map(|t| *t as f64 / 1e9)
        .collect();
    assert_eq!(
        buffers,
        came.len() as u64,
        "a gap: {buffers} frames from {start} to {end} ns"
    );
    let ts: Vec<f64> = p.frames.iter().map(|f| f.0).collect();
    for (i, (f, a)) in intervals(&ts).iter().zip(intervals(&came)).enumerate() {
        assert!(
            (f - a).abs() < 0.002,
            "frame {i}: step {f} s in the file, {a} s upstream"
        );
    }
    (start, end)
}

/// The recipe's case: one trigger at 3.5 s; the file starts at a key frame at or before
/// t − 2 s, reaches t + 2 s, decodes end to end without a gap.
pub fn case_circular_record() {
    let _s = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("event%05d.mp4");
    let c = run_circular(
        &out.display().to_string(),
        210,
        &[3_500_000_000],
        &[],
        |_| {},
    );
    assert!(c.ring_warnings().is_empty(), "{:?}", c.ring_warnings());
    let (messages, triggers) = (&c.messages, &c.triggers);
    assert_eq!(triggers.len(), 1);
    assert!(triggers[0].1, "trigger accepted");
    let started = of(messages, "rpicircularsink-started");
    let done = of(messages, "rpicircularsink-done");
    assert_eq!((started.len(), done.len()), (1, 1), "{messages:?}");
    let t = started[0].get::<u64>("trigger-running-time").unwrap();
    let path = dir.path().join("event00000.mp4");
    assert_eq!(
        done[0].get::<String>("location").unwrap(),
        path.display().to_string()
    );
    let (start, end) = check_file(&path, done[0], &c.arrived);
    println!("trigger {t} ns: file {start}..{end} ns");
    assert!(
        start <= t - PRE,
        "starts at {start}, after t − N = {}",
        t - PRE
    );
    assert!(
        end >= t + POST,
        "ends at {end}, before t + M = {}",
        t + POST
    );
    // The ring held no more than a key-frame interval (15 frames) beyond pre-duration.
    assert!(
        t - start <= PRE + 16 * FRAME as u64 + 200_000_000,
        "{start} {t}"
    );
}

/// A second trigger while writing extends the file; one after it closed starts the next.
#[test]
fn repeat_triggers_extend_then_start_the_next_file() {
    let _s = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("event%05d.mp4");
    let at = [3 * S, 4 * S, 7_500_000_000];
    let c = run_circular(&out.display().to_string(), 300, &at, &[], |_| {});
    assert!(c.ring_warnings().is_empty(), "{:?}", c.ring_warnings());
    let (messages, triggers) = (&c.messages, &c.triggers);
    assert!(triggers.iter().all(|t| t.1), "{triggers:?}");
    let started = of(messages, "rpicircularsink-started");
    let done = of(messages, "rpicircularsink-done");
    assert_eq!((started.len(), done.len()), (2, 2), "{messages:?}");
    let (_, end0) = check_file(&dir.path().join("event00000.mp4"), done[0], &c.arrived);
    assert!(
        end0 >= triggers[1].0 + POST,
        "extended to the second trigger + M: {end0}"
    );
    assert!(end0 < triggers[2].0, "closed before the third trigger");
    let (start1, end1) = check_file(&dir.path().join("event00001.mp4"), done[1], &c.arrived);
    let t3 = started[1].get::<u64>("trigger-running-time").unwrap();
    assert!(
        start1 <= t3 - PRE && end1 >= t3 + POST,
        "{start1} {end1} {t3}"
    );
}

/// The ring stays within max-size-bytes (dropping whole groups of pictures, always starting
/// at a key frame), and within pre-duration plus one key-frame interval.
#[test]
fn the_ring_is_memory_bounded() {
    let _s = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("event%05d.mp4");
    let max = 150_000u64;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let c = run_circular(
        &out.display().to_string(),
        150,
        &[4 * S],
        &[("max-size-bytes=4000000", "max-size-bytes=150000")],
        move |ring| {
            let b: u64 = ring.property("ring-bytes");
            let d: u64 = ring.property("ring-duration");
            s2.lock().unwrap().push((b, d));
        },
    );
    let seen = seen.lock().unwrap().clone();
    let most = seen.iter().map(|s| s.0).max().unwrap_or(0);
    println!("ring: at most {most} bytes of {max}");
    assert!(
        seen.iter().all(|(b, _)| *b <= max),
        "over max-size-bytes: {most}"
    );
    assert!(most > max / 2, "the bound was reached: {most}");
    // Bounded by bytes, the ring holds less than pre-duration; the file still starts at a
    // key frame and decodes.
    let done = of(&c.messages, "rpicircularsink-done");
    assert_eq!(done.len(), 1, "{:?}", c.messages);
    check_file(&dir.path().join("event00000.mp4"), done[0], &c.arrived);
    let (_, d) = seen[seen.len() - 1];
    assert!(d < PRE, "{d}");

    // Unbounded by bytes: the duration is what pre-duration asks for.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    run_circular(&out.display().to_string(), 120, &[], &[], move |ring| {
        let d: u64 = ring.property("ring-duration");
        s2.lock().unwrap().push(d);
    });
    let d = *seen.lock().unwrap().last().unwrap();
    assert!(
        d >= PRE - 2 * FRAME as u64 && d <= PRE + 16 * FRAME as u64,
        "ring-duration {d}"
    );
}
