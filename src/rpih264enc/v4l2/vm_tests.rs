// SPDX-License-Identifier: MPL-2.0
//! The VM tier's tests: the state machine of [`super::machine`] and the ioctl layer of
//! [`super::sys`] (the code that drives bcm2835-codec on a Pi 4) against real kernel
//! memory-to-memory drivers: vicodec's stateful FWHT encoder and vim2m. Only the seam of
//! [`M2mConfig`] differs: the coded fourcc, the key-frame control and the controls written.
//!
//! Every test is `#[ignore]`d: a plain `cargo test` lists them as *ignored* (they did not run).
//! `scripts/vm.sh test` boots a kernel with vicodec and vim2m and runs them with `--ignored`;
//! run with `--ignored` anywhere else they fail with "not run: ..." naming what is missing.
//! Environment set by the guest script: `RPICAMSRC2_VM=1`, and `RPICAMSRC2_VM_MPLANE=0|1`, the
//! `multiplanar` parameter vicodec was loaded with (vim2m is single-planar only).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::device::{BufferIo, M2mDevice, Memory, PixFormat, QueueType};
use super::format::{self, RawFormat};
use super::machine::{self, Input, M2mConfig, M2mEncoder, M2mError, M2mOutput};
use super::sys::{self, Device};

/// `V4L2_CID_MPEG_VIDEO_GOP_SIZE`.
const CID_GOP_SIZE: u32 = 0x0099_0900 + 203;
/// `V4L2_CID_FWHT_I_FRAME_QP` (1..31, vicodec's stand-in for a rate control: it has no bitrate
/// control).
const CID_FWHT_I_FRAME_QP: u32 = 0x0099_0900 + 290;
/// `FWHT_MAGIC1` and `FWHT_MAGIC2` of the kernel's `codec-fwht.h`: the first 8 bytes of a frame.
const FWHT_MAGIC: [u8; 8] = [0x4f, 0x4f, 0x4f, 0x4f, 0xff, 0xff, 0xff, 0xff];
/// vicodec's pictures: its smallest size is 640x360 (it changes 320x240 to 640x368).
const W: u32 = 640;
const H: u32 = 480;
/// vim2m's pictures (its largest size is 640x480).
const W2: u32 = 320;
const H2: u32 = 240;

/// The video node whose sysfs name is `name` (`stateful-encoder`, `vim2m`), or a "not run" panic.
fn node(name: &str) -> PathBuf {
    if std::env::var_os("RPICAMSRC2_VM").is_none() {
        panic!("not run: no {name}; this test needs the kernel's test drivers, which only the VM tier loads (scripts/vm.sh test)");
    }
    let dir = std::fs::read_dir("/sys/class/video4linux")
        .unwrap_or_else(|e| panic!("not run: no /sys/class/video4linux ({e}): no V4L2 here"));
    for e in dir.flatten() {
        let n = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
        if n.trim() == name {
            return PathBuf::from("/dev").join(e.file_name());
        }
    }
    panic!("not run: no video device named {name} (modprobe vicodec vim2m; scripts/vm.sh test)");
}

/// vicodec's encoder, checked to have the queue type the module was loaded with.
fn vicodec() -> Device {
    let path = node("stateful-encoder");
    let dev = Device::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let want = std::env::var("RPICAMSRC2_VM_MPLANE")
        .expect("RPICAMSRC2_VM_MPLANE (0 or 1) is set by the VM's test script");
    assert_eq!(
        dev.is_multiplanar(),
        want == "1",
        "vicodec loaded with multiplanar={want}"
    );
    eprintln!(
        "vicodec encoder at {}, {}-planar queues",
        path.display(),
        if dev.is_multiplanar() {
            "multi"
        } else {
            "single"
        }
    );
    dev
}

fn fwht_config(format: RawFormat) -> M2mConfig {
    let mut cfg = M2mConfig::new(format, W, H);
    cfg.coded = sys::fourcc(b"FWHT");
    cfg.force_key_control = None;
    cfg.capture_buffers = 4;
    cfg.output_buffers = 3;
    cfg.timeout_ms = 5000;
    cfg
}

/// Frame `seed` of an I420 picture: a smooth ramp with faint noise (amplitude 16). The
/// noise is what a fine quantiser keeps (vicodec then stores the plane uncompressed, its
/// fallback when coding would be larger) and a coarse one drops.
fn picture(seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let luma = (W * H) as usize;
    let mut v = Vec::with_capacity(luma * 3 / 2);
    for i in 0..luma as u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let ramp = ((i % W + i / W) / 8 + seed * 3) % 224;
        v.push((ramp + (x >> 28)) as u8);
    }
    v.resize(luma * 3 / 2, 128);
    v
}

/// Encodes picture `id` (I420, tightly packed) by copying it into the device's buffer.
fn encode(enc: &mut M2mEncoder<Device>, id: u32) -> Result<Vec<M2mOutput>, M2mError> {
    let src = picture(id);
    let (w, h) = (W as usize, H as usize);
    let planes = [
        (&src[..w * h], w),
        (&src[w * h..w * h * 5 / 4], w / 2),
        (&src[w * h * 5 / 4..], w / 2),
    ];
    let mut fill = |dst: &mut [u8], stride: u32| {
        format::copy_into(RawFormat::I420, W, H, &planes, dst, stride)
    };
    enc.encode(Input::Copy(&mut fill), id, false)
}

/// The width and height in an FWHT frame header (big-endian words 3 and 4), after its magic.
fn fwht_size(au: &[u8]) -> (u32, u32) {
    assert!(au.len() > 44, "FWHT frame of {} bytes", au.len());
    assert_eq!(au[..8], FWHT_MAGIC, "not an FWHT frame");
    let word = |i: usize| u32::from_be_bytes(au[i * 4..i * 4 + 4].try_into().unwrap());
    (word(3), word(4))
}

#[test]
#[ignore = "needs the VM tier's vicodec: scripts/vm.sh test"]
fn vicodec_every_frame_comes_back_and_eos_drains() {
    let mut enc = M2mEncoder::configure(vicodec(), fwht_config(RawFormat::I420)).unwrap();
    let mut out = Vec::new();
    for id in 0..10 {
        out.extend(encode(&mut enc, id).unwrap());
    }
    let before_drain = out.len();
    out.extend(enc.drain().unwrap());
    let ids: Vec<u32> = out.iter().map(|o| o.frame_id).collect();
    assert_eq!(ids, (0..10).collect::<Vec<_>>(), "every frame, in order");
    for o in &out {
        assert_eq!(fwht_size(&o.data), (W, H), "frame {}", o.frame_id);
    }
    // The drain ended on the buffer flagged LAST (V4L2_ENC_CMD_STOP) and stopped the queues.
    assert_eq!(enc.in_flight(), 0);
    assert_eq!(enc.memory(), None);
    eprintln!(
        "{before_drain} frames back while encoding, {} from the drain",
        out.len() - before_drain
    );
    // After EOS the encoder starts again.
    let mut again = encode(&mut enc, 50).unwrap();
    again.extend(enc.drain().unwrap());
    assert_eq!(
        again.iter().map(|o| o.frame_id).collect::<Vec<_>>(),
        vec![50]
    );
}

#[test]
#[ignore = "needs the VM tier's vicodec: scripts/vm.sh test"]
fn vicodec_flush_mid_stream_recovers() {
    let mut enc = M2mEncoder::configure(vicodec(), fwht_config(RawFormat::I420)).unwrap();
    for id in 0..4 {
        encode(&mut enc, id).unwrap();
    }
    enc.reset().unwrap(); // the flush: STREAMOFF both queues, pending pictures dropped
    let mut out = Vec::new();
    for id in 100..106 {
        out.extend(encode(&mut enc, id).unwrap());
    }
    out.extend(enc.drain().unwrap());
    let ids: Vec<u32> = out.iter().map(|o| o.frame_id).collect();
    assert_eq!(ids, (100..106).collect::<Vec<_>>());
    assert!(out.iter().all(|o| fwht_size(&o.data) == (W, H)));
}

#[test]
#[ignore = "needs the VM tier's vicodec: scripts/vm.sh test"]
fn vicodec_live_quantiser_change_is_applied() {
    // vicodec has no bitrate control: its I-frame quantiser (1 finest .. 31 coarsest) is the
    // nearest rate control, changed while streaming through the same set_control.
    let mut cfg = fwht_config(RawFormat::I420);
    cfg.controls = vec![(CID_GOP_SIZE, 1), (CID_FWHT_I_FRAME_QP, 1)];
    let mut enc = M2mEncoder::configure(vicodec(), cfg).unwrap();
    // Frames back before the change were surely encoded at QP 1.
    let mut fine = Vec::new();
    let mut id = 0;
    while fine.is_empty() {
        assert!(id < 20, "no frame came back in 20 pictures");
        fine.extend(encode(&mut enc, id).unwrap());
        id += 1;
    }
    enc.set_control(CID_FWHT_I_FRAME_QP, 31).unwrap();
    let first_after = id;
    let mut rest = Vec::new();
    for i in first_after..first_after + 4 {
        rest.extend(encode(&mut enc, i).unwrap());
    }
    rest.extend(enc.drain().unwrap());
    let coarse: Vec<&M2mOutput> = rest.iter().filter(|o| o.frame_id >= first_after).collect();
    assert_eq!(coarse.len(), 4);
    let mean = |v: &[&M2mOutput]| v.iter().map(|o| o.data.len()).sum::<usize>() / v.len();
    let (f, c) = (mean(&fine.iter().collect::<Vec<_>>()), mean(&coarse));
    eprintln!("mean FWHT frame: {f} bytes at QP 1, {c} bytes at QP 31");
    assert!(
        c * 2 < f,
        "QP 31 frames ({c} bytes) not much smaller than QP 1 frames ({f} bytes)"
    );
}

#[test]
#[ignore = "needs the VM tier's vicodec: scripts/vm.sh test"]
fn vicodec_refusals_are_clean_errors() {
    // An input format vicodec does not take (it has no RGB565).
    let e = M2mEncoder::configure(vicodec(), fwht_config(RawFormat::Rgb16))
        .err()
        .expect("RGB16 accepted");
    assert!(
        matches!(e, M2mError::Format(_)) && e.to_string().contains("does not accept RGB16"),
        "{e}"
    );
    // Asked for H.264, which it does not produce: the bcm2835 configuration on this device.
    let e = M2mEncoder::configure(vicodec(), M2mConfig::new(RawFormat::I420, W, H))
        .err()
        .expect("H.264 from vicodec");
    assert!(e.to_string().contains("does not produce H.264"), "{e}");
    // A size below vicodec's smallest: the driver changes it, and the error names both.
    let e = M2mEncoder::configure(vicodec(), {
        let mut c = fwht_config(RawFormat::I420);
        (c.width, c.height) = (W2, H2);
        c.stride = W2;
        c
    })
    .err()
    .expect("320x240 accepted");
    assert!(e.to_string().contains("changed 320x240 to 640x368"), "{e}");
    let path = node("stateful-encoder");
    let e = machine::probe(&mut vicodec(), &path.to_string_lossy())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not an H.264 encoder"), "{e}");
    assert!(machine::probe_coded(&mut vicodec(), "vicodec", sys::fourcc(b"FWHT")).is_ok());
}

#[test]
#[ignore = "needs the VM tier's vim2m: scripts/vm.sh test"]
fn vim2m_returns_every_frame_unchanged() {
    let path = node("vim2m");
    let mut dev = Device::open(&path).unwrap();
    assert!(!dev.is_multiplanar(), "vim2m has single-planar queues");
    let cap = dev.query_cap().unwrap();
    assert_eq!(cap.driver, "vim2m");
    // vim2m converts RGB24 to RGB24 unchanged: the "coded" format is a raw one here.
    let mut cfg = M2mConfig::new(RawFormat::Rgb, W2, H2);
    cfg.coded = RawFormat::Rgb.fourcc();
    cfg.force_key_control = None;
    cfg.capture_buffers = 4;
    cfg.output_buffers = 3;
    cfg.timeout_ms = 5000;
    let mut enc = M2mEncoder::configure(dev, cfg).unwrap();
    let frame = |id: u32| -> Vec<u8> { (0..W2 * H2 * 3).map(|i| (i / 3 + id * 7) as u8).collect() };
    let mut out = Vec::new();
    for id in 0..6u32 {
        let src = frame(id);
        let planes = [(&src[..], (W2 * 3) as usize)];
        let mut fill = |dst: &mut [u8], stride: u32| {
            format::copy_into(RawFormat::Rgb, W2, H2, &planes, dst, stride)
        };
        out.extend(enc.encode(Input::Copy(&mut fill), id, false).unwrap());
    }
    // vim2m has no VIDIOC_ENCODER_CMD: the drain waits for every queued picture.
    out.extend(enc.drain().unwrap());
    assert_eq!(
        out.iter().map(|o| o.frame_id).collect::<Vec<_>>(),
        (0..6).collect::<Vec<_>>()
    );
    for o in &out {
        assert_eq!(o.data.len(), (W2 * H2 * 3) as usize, "frame {}", o.frame_id);
        assert!(
            o.data == frame(o.frame_id),
            "frame {} changed by vim2m",
            o.frame_id
        );
    }
    // A forced key frame on a device without the control is refused by name.
    let src = frame(9);
    let planes = [(&src[..], (W2 * 3) as usize)];
    let mut fill = |dst: &mut [u8], stride: u32| {
        format::copy_into(RawFormat::Rgb, W2, H2, &planes, dst, stride)
    };
    let e = enc.encode(Input::Copy(&mut fill), 9, true).unwrap_err();
    assert!(
        e.to_string().contains("no control to force a key frame"),
        "{e}"
    );
}

/// Destructive: unbinds vicodec from its platform device while encoding, then binds it again.
/// The guest script runs it alone, after the others.
#[test]
#[ignore = "needs the VM tier's vicodec; destructive (unbinds the driver): scripts/vm.sh test"]
fn vicodec_vanishing_mid_stream_is_a_clean_error() {
    let drv = PathBuf::from("/sys/bus/platform/drivers/vicodec");
    let mut enc = M2mEncoder::configure(vicodec(), fwht_config(RawFormat::I420)).unwrap();
    for id in 0..3 {
        encode(&mut enc, id).unwrap();
    }
    // The module cannot be unloaded while a file is open on it.
    let rmmod = std::process::Command::new("rmmod")
        .arg("vicodec")
        .output()
        .unwrap();
    assert!(
        !rmmod.status.success(),
        "rmmod vicodec succeeded with an open encoder"
    );
    eprintln!(
        "rmmod while open: {}",
        String::from_utf8_lossy(&rmmod.stderr).trim()
    );
    // Unbinding removes the device under the open file.
    let dev_name = std::fs::read_dir(&drv)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("vicodec"))
        .expect("vicodec's platform device in /sys/bus/platform/drivers/vicodec");
    std::fs::write(drv.join("unbind"), &dev_name).unwrap();
    let t0 = Instant::now();
    let mut err = None;
    for id in 3..20 {
        if let Err(e) = encode(&mut enc, id) {
            err = Some(e);
            break;
        }
    }
    let e = err.expect("encoding went on after the device was removed");
    eprintln!("after unbind: {e} (after {:?})", t0.elapsed());
    assert!(
        matches!(e, M2mError::Io { .. } | M2mError::Timeout(_)),
        "{e}"
    );
    assert!(t0.elapsed() < Duration::from_secs(30));
    // Draining and closing a vanished device return, with errors, never hang.
    let _ = enc.drain();
    drop(enc);
    std::fs::write(drv.join("bind"), &dev_name).unwrap();
    // The device is back and works again.
    std::thread::sleep(Duration::from_millis(500));
    let mut enc = M2mEncoder::configure(vicodec(), fwht_config(RawFormat::I420)).unwrap();
    let mut out = encode(&mut enc, 0).unwrap();
    out.extend(enc.drain().unwrap());
    assert_eq!(out.len(), 1);
}

/// A dma-buf from the kernel's system heap (`/dev/dma_heap/system`) holding `data`, written
/// between DMA_BUF_IOCTL_SYNC start and end ([`crate::camera::dmaheap`]).
fn heap_dmabuf(data: &[u8]) -> crate::camera::dmaheap::DmaBuf {
    let heap = crate::camera::dmaheap::DmaHeap::system().unwrap_or_else(|e| panic!("not run: {e}"));
    let mut buf = heap.alloc(data.len()).unwrap();
    buf.write().unwrap()[..data.len()].copy_from_slice(data);
    buf
}

#[test]
#[ignore = "needs the VM tier's vicodec and dma-buf heap: scripts/vm.sh test"]
fn vicodec_imports_dmabufs_from_the_system_heap() {
    use std::sync::Arc;
    // Reference: the same pictures copied into the device's MMAP buffers.
    let mut enc = M2mEncoder::configure(vicodec(), fwht_config(RawFormat::I420)).unwrap();
    let mut copied = Vec::new();
    for id in 0..4 {
        copied.extend(encode(&mut enc, id).unwrap());
    }
    copied.extend(enc.drain().unwrap());
    drop(enc);
    // Imported: each picture in its own dma-buf, queued with V4L2_MEMORY_DMABUF, no copy by us.
    let mut enc = M2mEncoder::configure(vicodec(), fwht_config(RawFormat::I420)).unwrap();
    let mut imported = Vec::new();
    let mut keeps = Vec::new();
    for id in 0..4 {
        let buf = Arc::new(heap_dmabuf(&picture(id)));
        keeps.push(Arc::downgrade(&buf));
        let input = Input::DmaBuf {
            fd: buf.raw_fd(),
            offset: 0,
            length: buf.len() as u32,
            keep: Box::new(buf),
        };
        imported.extend(enc.encode(input, id, false).unwrap());
        assert_eq!(enc.memory(), Some(super::device::Memory::DmaBuf));
    }
    imported.extend(enc.drain().unwrap());
    assert_eq!(
        imported.iter().map(|o| o.frame_id).collect::<Vec<_>>(),
        (0..4).collect::<Vec<_>>()
    );
    // The driver read our dma-bufs: the bitstream is byte for byte the copied one.
    assert_eq!(
        imported, copied,
        "FWHT from dma-bufs differs from FWHT from copies"
    );
    // Each dma-buf was held while queued and released once the driver returned it.
    assert!(
        keeps.iter().all(|w| w.strong_count() == 0),
        "a dma-buf is still held after the drain"
    );
}

/// What the engine did to vicodec, in order (see [`VicodecAsH264`]), and when the camera
/// buffers were released.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    /// VIDIOC_REQBUFS.
    Reqbufs(QueueType, Memory, u32),
    /// VIDIOC_QBUF on OUTPUT: buffer index, and the imported descriptor (`None`: MMAP, the
    /// engine copied the picture).
    QueueOutput(u32, Option<i32>),
    /// VIDIOC_DQBUF of an OUTPUT buffer: its index.
    DequeueOutput(u32),
    /// A control the engine writes that vicodec lacks (an H.264 one), left out.
    SkippedControl(u32),
    /// The GstMemory over camera buffer of frame N was finalized: the camera buffer went back
    /// to the camera (`rpicamsrc2/memory.rs` drops the `FrameBuffer` then).
    Released(u32),
}

static EVENTS: std::sync::Mutex<Vec<Event>> = std::sync::Mutex::new(Vec::new());

fn event(e: Event) {
    EVENTS.lock().unwrap_or_else(|p| p.into_inner()).push(e);
}

/// vicodec's encoder behind the face of an H.264 encoder, so that the V4L2 *engine* (which
/// asks for H.264 and writes H.264 controls; the machine's [`M2mConfig::coded`] seam is not
/// reachable through it) runs on it unchanged: `H264` on CAPTURE is asked of vicodec as `FWHT`
/// and reported back as `H264`, and a control vicodec does not have is left out (recorded).
/// Everything else goes to the real device as is, and the buffer traffic is recorded in
/// [`EVENTS`].
struct VicodecAsH264(Device);

impl crate::rpih264enc::engine::v4l2::OpenDevice for VicodecAsH264 {
    fn open(path: &std::path::Path) -> std::io::Result<Self> {
        Device::open(path).map(VicodecAsH264)
    }
}

impl M2mDevice for VicodecAsH264 {
    fn query_cap(&mut self) -> std::io::Result<super::device::Capability> {
        self.0.query_cap()
    }
    fn set_format(&mut self, q: QueueType, f: &PixFormat) -> std::io::Result<PixFormat> {
        let (h264, fwht) = (sys::fourcc(b"H264"), sys::fourcc(b"FWHT"));
        let mut asked = *f;
        if q == QueueType::Capture && f.fourcc == h264 {
            asked.fourcc = fwht;
        }
        let mut got = self.0.set_format(q, &asked)?;
        if q == QueueType::Capture && got.fourcc == fwht {
            got.fourcc = h264;
        }
        Ok(got)
    }
    fn set_frame_rate(&mut self, num: u32, den: u32) -> std::io::Result<()> {
        self.0.set_frame_rate(num, den)
    }
    fn query_control(&mut self, id: u32) -> std::io::Result<super::device::ControlRange> {
        self.0.query_control(id)
    }
    fn frame_sizes(&mut self, fourcc: u32) -> std::io::Result<super::device::FrameSizes> {
        self.0.frame_sizes(fourcc)
    }
    fn set_control(&mut self, id: u32, value: i32) -> std::io::Result<()> {
        if self.0.query_control(id).is_err() {
            event(Event::SkippedControl(id));
            return Ok(());
        }
        self.0.set_control(id, value)
    }
    fn request_buffers(
        &mut self,
        q: QueueType,
        memory: Memory,
        count: u32,
    ) -> std::io::Result<u32> {
        let n = self.0.request_buffers(q, memory, count)?;
        event(Event::Reqbufs(q, memory, n));
        Ok(n)
    }
    fn buffer_mut(&mut self, q: QueueType, index: u32) -> Option<&mut [u8]> {
        self.0.buffer_mut(q, index)
    }
    fn queue(
        &mut self,
        q: QueueType,
        index: u32,
        io: BufferIo,
        timestamp_us: u64,
    ) -> std::io::Result<()> {
        if q == QueueType::Output {
            let fd = match io {
                BufferIo::DmaBuf { fd, .. } => Some(fd),
                BufferIo::Mmap { .. } => None,
            };
            event(Event::QueueOutput(index, fd));
        }
        self.0.queue(q, index, io, timestamp_us)
    }
    fn dequeue(
        &mut self,
        q: QueueType,
        memory: Memory,
    ) -> std::io::Result<Option<super::device::DequeuedBuffer>> {
        let b = self.0.dequeue(q, memory)?;
        if let (QueueType::Output, Some(b)) = (q, &b) {
            event(Event::DequeueOutput(b.index));
        }
        Ok(b)
    }
    fn stream(&mut self, q: QueueType, on: bool) -> std::io::Result<()> {
        self.0.stream(q, on)
    }
    fn encoder_stop(&mut self) -> std::io::Result<()> {
        self.0.encoder_stop()
    }
    fn wait(&mut self, timeout_ms: i32) -> std::io::Result<bool> {
        self.0.wait(timeout_ms)
    }
}

/// Called when a watched GstMemory is finalized; `data` is the frame id.
unsafe extern "C" fn memory_released(
    data: gst::glib::ffi::gpointer,
    _obj: *mut gst::ffi::GstMiniObject,
) {
    event(Event::Released(data as usize as u32));
}

/// The "dma-buf, for real": the simulated camera's buffers are dma-bufs of the system
/// heap (`sim-memory=dmabuf`); a real `rpicamsrc2` pipeline delivers them (appsink) to the V4L2
/// engine, which queues them on vicodec's OUTPUT with V4L2_MEMORY_DMABUF. Proven: the fd the
/// engine queued is the camera buffer's (same descriptor, same dma-buf inode, exporter
/// `system`), the camera's pool recycles its own dma-bufs, neither the element nor the engine
/// copied a frame, every frame comes back encoded, and each camera buffer went back to the
/// camera only after VIDIOC_DQBUF returned the OUTPUT buffer that carried it.
#[test]
#[ignore = "needs the VM tier's vicodec and dma-buf heap: scripts/vm.sh test"]
fn camera_dmabufs_reach_vicodec_without_a_copy() {
    use crate::camera::dmaheap;
    use crate::rpih264enc::engine::{Engine, EngineConfig, Picture};
    use crate::rpih264enc::level::H264Profile;
    use gst::prelude::*;

    const FRAMES: u32 = 12;
    let path = node("stateful-encoder");
    if !std::path::Path::new(dmaheap::SYSTEM_HEAP).exists() {
        panic!("not run: no {} in this kernel", dmaheap::SYSTEM_HEAP);
    }
    drop(vicodec()); // checks the queue type the module was loaded with
    gst::init().unwrap();
    crate::plugin_register_static().unwrap();
    EVENTS.lock().unwrap().clear();
    let pipeline = gst::parse::launch(&format!(
        "rpicamsrc2 name=src camera-name=sim:imx219 sim-memory=dmabuf \
         ! video/x-raw,format=I420,width={W},height={H},framerate=30/1 \
         ! appsink name=sink sync=false enable-last-sample=false max-buffers=1"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sample = sink
        .try_pull_sample(gst::ClockTime::from_seconds(60))
        .expect("no first frame from rpicamsrc2 within 60 s");
    let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let cfg = EngineConfig {
        device: &path.to_string_lossy(),
        ..EngineConfig::for_test(&info, H264Profile::High)
    };
    let mut engine =
        crate::rpih264enc::engine::v4l2::V4l2Engine::<VicodecAsH264>::configure(&cfg, &mut |w| {
            eprintln!("engine: {w}")
        })
        .unwrap();
    let mut out = Vec::new();
    let mut camera = Vec::new(); // (frame, fd, dma-buf identity)
    let mut sample = Some(sample);
    for id in 0..FRAMES {
        let s = match sample.take() {
            Some(s) => s,
            None => sink
                .try_pull_sample(gst::ClockTime::from_seconds(30))
                .unwrap_or_else(|| panic!("frame {id} did not come within 30 s")),
        };
        let buf = s.buffer_owned().unwrap();
        drop(s);
        assert_eq!(buf.n_memory(), 1);
        let mem = buf.peek_memory(0);
        let dmabuf = mem
            .downcast_memory_ref::<gst_allocators::DmaBufMemory>()
            .unwrap_or_else(|| panic!("frame {id}: not dma-buf memory ({mem:?})"));
        let fd = dmabuf.fd();
        let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
        assert!(
            fdinfo.contains("exp_name:\tsystem"),
            "frame {id}: fd {fd} is not a system-heap dma-buf: {fdinfo}"
        );
        camera.push((id, fd, dmaheap::identity(fd).unwrap()));
        // SAFETY: a weak reference on a live GstMemory; the notify only records the event.
        unsafe {
            gst::ffi::gst_mini_object_weak_ref(
                mem.as_ptr() as *mut gst::ffi::GstMiniObject,
                Some(memory_released),
                id as usize as gst::glib::ffi::gpointer,
            );
        }
        let picture = Picture {
            buffer: &buf,
            frame_id: id,
            pts: buf.pts(),
            force_keyframe: false,
            want_headers: false,
        };
        out.extend(engine.encode(picture).unwrap());
        drop(buf); // from now on only the engine holds the camera buffer
    }
    out.extend(engine.drain().unwrap());
    drop(engine);
    let stats = pipeline
        .by_name("src")
        .unwrap()
        .property::<gst::Structure>("statistics");
    pipeline.set_state(gst::State::Null).unwrap();
    let events = EVENTS.lock().unwrap().clone();
    eprintln!("statistics: {stats}");

    // Every frame came back encoded, in order.
    assert_eq!(
        out.iter().map(|e| e.frame_id).collect::<Vec<_>>(),
        (0..FRAMES).collect::<Vec<_>>()
    );
    for e in &out {
        let data = e.data.as_deref().unwrap();
        assert_eq!(fwht_size(data), (W, H), "frame {}", e.frame_id);
    }
    // OUTPUT imported dma-bufs; no picture was copied, by the element or by the engine.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Reqbufs(QueueType::Output, Memory::DmaBuf, _))),
        "OUTPUT never had DMABUF buffers: {events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Reqbufs(QueueType::Output, Memory::Mmap, _))),
        "OUTPUT had MMAP buffers: {events:?}"
    );
    let queued: Vec<(u32, Option<i32>, usize)> = events
        .iter()
        .enumerate()
        .filter_map(|(at, e)| match e {
            Event::QueueOutput(i, fd) => Some((*i, *fd, at)),
            _ => None,
        })
        .collect();
    assert_eq!(queued.len(), FRAMES as usize, "{events:?}");
    assert_eq!(stats.get::<u64>("frames-copied").unwrap(), 0, "{stats}");
    // Fd identity: frame N was queued with the camera buffer's own descriptor.
    let mut inodes = std::collections::BTreeSet::new();
    for ((index, fd, at), (id, cam_fd, cam_ident)) in queued.iter().zip(&camera) {
        let fd = fd.unwrap_or_else(|| panic!("frame {id} copied into an MMAP buffer"));
        assert_eq!(
            fd, *cam_fd,
            "frame {id}: queued fd {fd}, camera fd {cam_fd}"
        );
        inodes.insert(*cam_ident);
        // Released only after the DQBUF of the OUTPUT buffer that carried it.
        let dq = events[at + 1..]
            .iter()
            .position(|e| *e == Event::DequeueOutput(*index))
            .map(|p| p + at + 1)
            .unwrap_or_else(|| panic!("frame {id}: OUTPUT buffer {index} never dequeued"));
        let rel = events
            .iter()
            .position(|e| *e == Event::Released(*id))
            .unwrap_or_else(|| panic!("frame {id}: camera buffer never released"));
        assert!(
            rel > dq,
            "frame {id}: camera buffer released (event {rel}) before the DQBUF of OUTPUT buffer {index} (event {dq})"
        );
    }
    // The camera's pool recycles its own dma-bufs: fewer dma-bufs than frames.
    assert!(
        inodes.len() < FRAMES as usize,
        "{} distinct dma-bufs for {FRAMES} frames",
        inodes.len()
    );
    let skipped: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::SkippedControl(_)))
        .collect();
    eprintln!(
        "{FRAMES} camera dma-bufs imported ({} distinct), 0 copied (element frames-copied 0, \
         engine 0 MMAP OUTPUT buffers), {} FWHT frames back, each camera buffer released \
         after its DQBUF; H.264 controls left out on vicodec: {skipped:?}",
        inodes.len(),
        out.len()
    );
}
