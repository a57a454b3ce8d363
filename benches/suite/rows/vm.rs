// SPDX-License-Identifier: MPL-2.0
//! Row vm: rpicamsrc2 and libcamerasrc side by side in the VM tier's guest (a real kernel with
//! dma-buf heaps, libcamera's virtual camera and vimc). The guest is not booted by this suite
//! (minutes under TCG, on demand only): the row reports the last `scripts/vm.sh peers` run on
//! this machine, from the summary that run wrote, and says when it ran. Methods:
//! docs/benchmarks.md and docs/vm.md.

use crate::*;

/// The summary `scripts/vm.sh peers` writes, in its logs directory (`RPICAMSRC2_VM_LOGS`, as
/// the script).
fn summary_path() -> PathBuf {
    std::env::var_os("RPICAMSRC2_VM_LOGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/rpicamsrc2/vm-logs"))
        .join("peers-summary.txt")
}

/// One row of the summary's table: (camera, source, cells after those two).
fn table_rows(summary: &str) -> Vec<(String, String, Vec<String>)> {
    summary
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| camera "))
        .filter_map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect();
            (cells.len() >= 8).then(|| (cells[0].clone(), cells[1].clone(), cells[2..].to_vec()))
        })
        .collect()
}

pub(crate) fn row_vm(r: &mut Report) {
    println!("row vm: libcamerasrc side by side in the VM tier (last scripts/vm.sh peers)");
    let path = summary_path();
    let Ok(summary) = std::fs::read_to_string(&path) else {
        let why = format!(
            "not run on this machine ({} is missing): `bash scripts/test.sh vm` (or \
             `scripts/vm.sh peers`) runs it",
            path.display()
        );
        r.line(Line {
            row: "vm",
            what: "libcamerasrc side by side (VM guest)".into(),
            how: "scripts/vm.sh peers".into(),
            ours: why.clone(),
            repeats: "-".into(),
            peer: "libcamerasrc".into(),
            peer_value: "-".into(),
            ratio: "-".into(),
        });
        r.section("Row vm: libcamerasrc side by side in the VM tier", why);
        return;
    };
    let rows = table_rows(&summary);
    // The ratio lines: "CAMERA: rpicamsrc2 / libcamerasrc: frames/s Ax, ...".
    for l in summary.lines() {
        let Some((camera, ratios)) = l.split_once(": rpicamsrc2 / libcamerasrc: ") else {
            continue;
        };
        let row = |source: &str| {
            rows.iter()
                .find(|(c, s, _)| c == camera && s == source)
                .map(|(_, _, v)| v)
        };
        let cells = |source: &str| {
            row(source)
                .map(|v| {
                    format!(
                        "{} fps, {} ms/frame, first buffer {} ms, {} runs measured, {} crashed",
                        v[3], v[4], v[5], v[0], v[1]
                    )
                })
                .unwrap_or_else(|| "-".into())
        };
        r.line(Line {
            row: "vm",
            what: format!("{camera} 640x480 in the VM guest: frames/s, CPU/frame, first buffer"),
            how: "scripts/vm.sh peers (TCG; medians)".into(),
            ours: cells("rpicamsrc2"),
            repeats: row("rpicamsrc2")
                .map(|v| v[0].clone())
                .unwrap_or_else(|| "-".into()),
            peer: "libcamerasrc".into(),
            peer_value: cells("libcamerasrc"),
            ratio: ratios.into(),
        });
    }
    r.section(
        "Row vm: libcamerasrc side by side in the VM tier",
        format!(
            "Not measured by this run of the suite: the last `scripts/vm.sh peers` on this \
             machine, copied from {} (methods: docs/vm.md, \"Side by side\").\n\n{summary}",
            path.display()
        ),
    );
}
