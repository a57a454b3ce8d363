// SPDX-License-Identifier: MPL-2.0
//! Row 2: zero-copy (bytes copied per frame, memory identity). Methods: docs/benchmarks.md.

use crate::*;

pub(crate) fn row2(r: &mut Report, opts: &Opts) {
    println!("row 2: zero-copy");
    let frames = if opts.quick { 30 } else { 60 };
    let mut body = format!(
        "`rpicamsrc2 camera-name=sim:imx219 buffer-count=6` ({frames} frames). Bytes copied = the \
         element's per-pad `frames-copied` counter (incremented where wrap() copies) x the frame \
         size, per pushed frame. Memory identity: data addresses of every buffer reaching the \
         sink (memory 0), and its memory type (`wrapped`: the camera's own memory wrapped by \
         gst::Memory::from_slice; `SystemMemory`: a copy).\n\n\
         | case | pad | caps | frames pushed | frames copied | bytes copied/frame | distinct addresses (buffer-count 6) | memory types | identity |\n|---|---|---|---|---|---|---|---|---|\n"
    );
    let mut zero = true;
    let mut identity = true;
    let mut control_copies = 0.0;
    let mut any = false;
    for res in zerocopy::run(frames) {
        let c = match res {
            Ok(c) => c,
            Err(e) => {
                body += &format!("| failed: {e} | | | | | | | | |\n");
                zero = false;
                continue;
            }
        };
        for p in &c.pads {
            let types: Vec<String> = p
                .mem_types
                .iter()
                .map(|(k, v)| format!("{k} x{v}"))
                .collect();
            body += &format!(
                "| {} (`{}`) | {} | {} | {} | {} | {:.0} | {} | {} | {} |\n",
                c.name,
                c.downstream,
                p.pad,
                p.caps,
                p.pushed,
                p.copied,
                p.bytes_per_frame(),
                p.distinct_addresses,
                types.join(", "),
                if p.identity_holds(c.buffer_count) {
                    "camera's memory"
                } else {
                    "copies"
                }
            );
            if c.control {
                control_copies = p.bytes_per_frame();
                continue;
            }
            any = true;
            zero &= p.copied == 0 && p.pushed > 0;
            identity &= p.identity_holds(c.buffer_count);
            r.line(Line {
                row: "2",
                what: format!(
                    "bytes copied/frame, {} {} → {}",
                    p.pad, p.caps, c.downstream
                ),
                how: "frames-copied x frame size; data address identity".into(),
                ours: format!(
                    "{:.0} B ({} distinct addresses)",
                    p.bytes_per_frame(),
                    p.distinct_addresses
                ),
                repeats: format!("{} frames", p.pushed),
                peer: "-".into(),
                peer_value: "-".into(),
                ratio: "-".into(),
            });
        }
    }
    body +=
        "\nThe control case must copy (the ISP's 1024-byte I420 rows at 1000 pixels wide, and a \
             sink that cannot take strides): it shows the counter and the memory types do see a \
             copy when one happens.";
    r.section("Row 2: zero-copy", body);
    r.check(
        "row 2: no pixel bytes copied on src and lores, buffers are the camera's memory",
        any && zero && identity,
        format!("zero copies: {zero}, identity: {identity}"),
    );
    r.check(
        "row 2: the control case's copy is seen (instrumentation works)",
        control_copies > 0.0,
        format!("{control_copies:.0} bytes/frame in the control"),
    );
}
