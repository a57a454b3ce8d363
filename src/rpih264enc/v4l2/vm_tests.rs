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

use super::device::M2mDevice;
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
/// through a mapping between DMA_BUF_IOCTL_SYNC start and end; its size, page-rounded.
fn heap_dmabuf(data: &[u8]) -> (std::os::fd::OwnedFd, u32) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    #[repr(C)]
    struct Alloc {
        len: u64,
        fd: u32,
        fd_flags: u32,
        heap_flags: u64,
    }
    /// `DMA_HEAP_IOCTL_ALLOC` (`_IOWR('H', 0, struct dma_heap_allocation_data)`).
    const DMA_HEAP_IOCTL_ALLOC: libc::c_ulong = 0xc018_4800;
    /// `DMA_BUF_IOCTL_SYNC` (`_IOW('b', 0, struct dma_buf_sync)`); flags READ|WRITE = 3, END = 4.
    const DMA_BUF_IOCTL_SYNC: libc::c_ulong = 0x4008_6200;
    let heap = std::fs::File::open("/dev/dma_heap/system")
        .unwrap_or_else(|e| panic!("not run: /dev/dma_heap/system: {e}"));
    let len = data.len().next_multiple_of(4096);
    let mut a = Alloc {
        len: len as u64,
        fd: 0,
        fd_flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
        heap_flags: 0,
    };
    // SAFETY: the ioctl takes a dma_heap_allocation_data, which Alloc mirrors.
    let r = unsafe { libc::ioctl(heap.as_raw_fd(), DMA_HEAP_IOCTL_ALLOC as _, &mut a) };
    assert_eq!(
        r,
        0,
        "DMA_HEAP_IOCTL_ALLOC: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: the heap returned a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(a.fd as i32) };
    // SAFETY: maps the whole dma-buf shared; unmapped below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    assert_ne!(
        p,
        libc::MAP_FAILED,
        "mmap of the dma-buf: {}",
        std::io::Error::last_os_error()
    );
    let sync = |flags: u64| {
        let mut f = flags;
        // SAFETY: struct dma_buf_sync is one u64.
        unsafe { libc::ioctl(fd.as_raw_fd(), DMA_BUF_IOCTL_SYNC as _, &mut f) }
    };
    assert_eq!(sync(3), 0);
    // SAFETY: p maps len >= data.len() bytes.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p.cast::<u8>(), data.len()) };
    assert_eq!(sync(3 | 4), 0);
    // SAFETY: p/len from the mmap above.
    unsafe { libc::munmap(p, len) };
    (fd, len as u32)
}

#[test]
#[ignore = "needs the VM tier's vicodec and dma-buf heap: scripts/vm.sh test"]
fn vicodec_imports_dmabufs_from_the_system_heap() {
    use std::os::fd::AsRawFd;
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
        let (fd, len) = heap_dmabuf(&picture(id));
        let fd = Arc::new(fd);
        let raw = fd.as_raw_fd();
        keeps.push(Arc::downgrade(&fd));
        let input = Input::DmaBuf {
            fd: raw,
            offset: 0,
            length: len,
            keep: Box::new(fd),
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
