// SPDX-License-Identifier: MPL-2.0
//! Row 7: the libcamera backend in the trixie root. Methods: docs/benchmarks.md.

use crate::*;

pub(crate) fn row7(r: &mut Report, opts: &Opts, repo: &Path) {
    println!("row 7: libcamera backend in the trixie root");
    let peer_note = "libcamerasrc cannot capture here: libcamera's FrameBufferAllocator needs a \
                     dma-buf heap or udmabuf, which this kernel lacks (\"Could not open any \
                     dma-buf provider\"); no number is given for it.";
    match libcamera::run(repo, opts.quick, 300, 3) {
        libcamera::Outcome::NotRun(why) | libcamera::Outcome::Failed(why) => {
            r.line(Line {
                row: "7",
                what: "libcamera backend (trixie root): frames/s, CPU/frame".into(),
                how: "scripts/trixie-root.sh bench".into(),
                ours: why.clone(),
                repeats: "-".into(),
                peer: "libcamerasrc".into(),
                peer_value: "cannot capture here (no dma-buf)".into(),
                ratio: "-".into(),
            });
            r.section(
                "Row 7: libcamera backend in the trixie root",
                format!("{why}\n\n{peer_note}"),
            );
        }
        libcamera::Outcome::Ran {
            script,
            frames,
            lines,
            first,
        } => {
            let mut body = format!(
                "`bash {} bench {frames}` (examples/libcamera_bench.rs in the Debian trixie root: \
                 libcamera 0.4 with its virtual pipeline handler, GStreamer 1.26), {} runs. \
                 The virtual camera is not paced (a request completes as soon as it is queued), \
                 so frames/s is how fast the stack goes, and process CPU includes libcamera \
                 drawing the test pattern (the \"sensor\"). `backend`: the CameraBackend trait \
                 alone; `element`: `rpicamsrc2 ! fakesink`. *Own threads*: the CPU of the \
                 threads named rpicamsrc2* (the backend's request thread, the element's \
                 capture thread and streaming task) from /proc/self/task, per frame; the rest \
                 is mostly libcamera's thread drawing the pattern.\n\n\
                 | what | frames/s | CPU ms/frame (process) | own threads ms/frame |\n|---|---|---|---|\n",
                script.display(),
                lines.first().map(|l| l.fps.len()).unwrap_or(0)
            );
            for l in &lines {
                body += &format!(
                    "| {} | {} | {} | {} |\n",
                    l.what,
                    l.fps().fmt(1),
                    l.cpu().fmt(3),
                    l.own().fmt(3)
                );
                if l.what.starts_with("element") {
                    r.line(Line {
                        row: "7",
                        what: format!("libcamera backend, {}", l.what),
                        how: "trixie root, virtual camera, unpaced".into(),
                        ours: format!(
                            "{} fps, {} ms/frame (own threads {} ms)",
                            l.fps().fmt(1),
                            l.cpu().fmt(3),
                            l.own().fmt(3)
                        ),
                        repeats: format!("{}", l.fps.len()),
                        peer: "libcamerasrc".into(),
                        peer_value: "cannot capture here (no dma-buf)".into(),
                        ratio: "-".into(),
                    });
                }
            }
            if !first.is_empty() {
                let period_ms = 1000.0 / 30.0;
                body += &format!(
                    "\nPLAYING to first buffer through the element (the same measure as row 6 \
                     on the simulated camera): wall time from `set_state(Playing)` on a NULL \
                     `rpicamsrc2 camera-name=<virtual camera> num-buffers=3 ! \
                     video/x-raw,format=NV12,...,framerate=30/1 ! fakesink sync=false` to the \
                     first buffer at the sink, and the process's CPU time over the same span, \
                     in ms and in frame periods at 30 fps ({period_ms:.1} ms). It includes \
                     libcamera's camera acquisition, configuration, buffer allocation (memfd \
                     here), start, and the virtual camera drawing its first frame; the virtual \
                     camera drops no start-up frames (a Pi's IPA hides the first frames while \
                     AE/AWB converge: docs/benchmarks.md).\n\n\
                     | caps | runs | wall ms | wall, frame periods | CPU ms | CPU, frame periods |\n|---|---|---|---|---|---|\n"
                );
                let periods = |v: &[f64]| v.iter().map(|ms| ms / period_ms).collect::<Vec<_>>();
                for f in &first {
                    body += &format!(
                        "| {} | {} | {} | {} | {} | {} |\n",
                        f.what,
                        f.wall_ms.len(),
                        Summary::of(&f.wall_ms).fmt(1),
                        Summary::of(&periods(&f.wall_ms)).fmt(2),
                        Summary::of(&f.cpu_ms).fmt(1),
                        Summary::of(&periods(&f.cpu_ms)).fmt(2)
                    );
                    r.line(Line {
                        row: "7",
                        what: format!("libcamera backend, PLAYING to first buffer, {}", f.what),
                        how: "trixie root, virtual camera".into(),
                        ours: format!(
                            "{} ms = {} frame periods at 30 fps (CPU {} ms)",
                            Summary::of(&f.wall_ms).fmt(1),
                            Summary::of(&periods(&f.wall_ms)).fmt(2),
                            Summary::of(&f.cpu_ms).fmt(1)
                        ),
                        repeats: format!("{}", f.wall_ms.len()),
                        peer: "libcamerasrc".into(),
                        peer_value: "cannot capture here (no dma-buf)".into(),
                        ratio: "-".into(),
                    });
                }
            }
            body += &format!("\n{peer_note}");
            r.section("Row 7: libcamera backend in the trixie root", body);
        }
    }
}
