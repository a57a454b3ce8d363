// SPDX-License-Identifier: MPL-2.0
//! Test support: a fake encoder device. It "encodes" an OUTPUT buffer into a CAPTURE buffer
//! whenever the state machine dequeues, copying the timestamp and flagging key frames like
//! bcm2835-codec (the first frame, every `iperiod`-th, and after FORCE_KEY_FRAME); the first
//! access unit carries SPS and PPS. Every call is logged for the tests to check the order.

use std::collections::VecDeque;
use std::io;

use super::controls;
use super::device::{
    BufferIo, Capability, ControlRange, DequeuedBuffer, FrameSizes, M2mDevice, Memory, PixFormat,
    QueueType,
};
use super::sys;

/// Fake device state and a log of calls.
#[derive(Default)]
pub struct FakeDevice {
    pub log: Vec<String>,
    pub caps: u32,
    pub not_h264: bool,
    pub max_width: u32,
    pub out_count: u32,
    pub cap_bufs: Vec<Vec<u8>>,
    pub out_bufs: Vec<Vec<u8>>,
    pub out_queued: VecDeque<(u32, u64, Option<i32>)>,
    pub out_done: VecDeque<u32>,
    pub cap_free: VecDeque<u32>,
    pub cap_done: VecDeque<DequeuedBuffer>,
    pub streaming: [bool; 2],
    pub force_next: bool,
    pub iperiod: i32,
    pub frames: u32,
    pub stopping: bool,
    pub stalled: bool,
    pub controls: Vec<(u32, i32)>,
    /// What VIDIOC_QUERYCTRL reports, by control id (others: EINVAL).
    pub ranges: Vec<(u32, ControlRange)>,
    /// What VIDIOC_ENUM_FRAMESIZES reports (None: ENOTTY).
    pub frame_sizes: Option<FrameSizes>,
    /// Answers VIDIOC_S_PARM and VIDIOC_ENCODER_CMD with ENOTTY, as a converter does (vim2m).
    pub converter: bool,
    /// The buffer flagged LAST was dequeued: CAPTURE's DQBUF fails with EPIPE until STREAMOFF,
    /// as the kernel's M2M core does.
    pub last_dequeued: bool,
}

impl FakeDevice {
    pub fn new() -> Self {
        FakeDevice {
            caps: sys::CAP_VIDEO_M2M_MPLANE | sys::CAP_STREAMING,
            max_width: 1920,
            out_count: 6,
            iperiod: 60,
            ..Default::default()
        }
    }

    fn process(&mut self) {
        if self.stalled || !self.streaming[0] || !self.streaming[1] {
            return;
        }
        while !self.cap_free.is_empty() {
            let Some((idx, ts, _fd)) = self.out_queued.pop_front() else {
                break;
            };
            let Some(cap) = self.cap_free.pop_front() else {
                break;
            };
            let key = self.frames == 0
                || self.force_next
                || (self.iperiod > 0 && self.frames.is_multiple_of(self.iperiod as u32));
            self.force_next = false;
            let mut au = Vec::new();
            if self.frames == 0 {
                au.extend_from_slice(&[0, 0, 0, 1, 0x67, 100, 0, 40, 0, 0, 0, 1, 0x68, 0xee]);
            }
            au.extend_from_slice(&[0, 0, 0, 1, if key { 0x65 } else { 0x41 }, ts as u8]);
            self.cap_bufs[cap as usize][..au.len()].copy_from_slice(&au);
            self.cap_done.push_back(DequeuedBuffer {
                index: cap,
                bytesused: au.len() as u32,
                data_offset: 0,
                flags: if key { sys::BUF_FLAG_KEYFRAME } else { 0 },
                timestamp_us: ts,
            });
            self.out_done.push_back(idx);
            self.frames += 1;
        }
        if self.stopping && self.out_queued.is_empty() {
            if let Some(cap) = self.cap_free.pop_front() {
                self.cap_done.push_back(DequeuedBuffer {
                    index: cap,
                    bytesused: 0,
                    data_offset: 0,
                    flags: sys::BUF_FLAG_LAST,
                    timestamp_us: 0,
                });
                self.stopping = false;
            }
        }
    }
}

impl M2mDevice for FakeDevice {
    fn query_cap(&mut self) -> io::Result<Capability> {
        self.log.push("QUERYCAP".into());
        Ok(Capability {
            driver: "fake-codec".into(),
            card: "fake".into(),
            device_caps: self.caps,
        })
    }
    fn set_format(&mut self, q: QueueType, f: &PixFormat) -> io::Result<PixFormat> {
        self.log.push(format!(
            "S_FMT {q:?} {}x{} stride {}",
            f.width, f.height, f.bytesperline
        ));
        let mut g = *f;
        if q == QueueType::Capture && self.not_h264 {
            g.fourcc = sys::fourcc(b"MJPG");
        }
        g.width = g.width.min(self.max_width);
        Ok(g)
    }
    fn set_frame_rate(&mut self, num: u32, den: u32) -> io::Result<()> {
        self.log.push(format!("S_PARM {num}/{den}"));
        if self.converter {
            return Err(io::Error::from_raw_os_error(libc::ENOTTY));
        }
        Ok(())
    }
    fn query_control(&mut self, id: u32) -> io::Result<ControlRange> {
        self.ranges
            .iter()
            .find(|r| r.0 == id)
            .map(|r| r.1)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
    }
    fn frame_sizes(&mut self, _fourcc: u32) -> io::Result<FrameSizes> {
        self.frame_sizes
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOTTY))
    }
    fn set_control(&mut self, id: u32, value: i32) -> io::Result<()> {
        self.log.push(format!("S_CTRL 0x{id:08x}={value}"));
        if id == controls::CID_FORCE_KEY_FRAME {
            self.force_next = true;
        } else if id == controls::CID_H264_I_PERIOD {
            self.iperiod = value;
        }
        self.controls.push((id, value));
        Ok(())
    }
    fn request_buffers(&mut self, q: QueueType, memory: Memory, count: u32) -> io::Result<u32> {
        self.log.push(format!("REQBUFS {q:?} {memory:?} {count}"));
        let n = if q == QueueType::Output {
            count.min(self.out_count)
        } else {
            count
        };
        let bufs = (0..n).map(|_| vec![0u8; 1 << 16]).collect();
        match q {
            QueueType::Output => self.out_bufs = bufs,
            QueueType::Capture => self.cap_bufs = bufs,
        }
        Ok(n)
    }
    fn buffer_mut(&mut self, q: QueueType, index: u32) -> Option<&mut [u8]> {
        match q {
            QueueType::Output => self
                .out_bufs
                .get_mut(index as usize)
                .map(|v| v.as_mut_slice()),
            QueueType::Capture => self
                .cap_bufs
                .get_mut(index as usize)
                .map(|v| v.as_mut_slice()),
        }
    }
    fn queue(&mut self, q: QueueType, index: u32, io: BufferIo, ts: u64) -> io::Result<()> {
        match q {
            QueueType::Output => {
                self.log.push(format!("QBUF Output {index} ts {ts} {io:?}"));
                let fd = match io {
                    BufferIo::DmaBuf { fd, .. } => Some(fd),
                    BufferIo::Mmap { .. } => None,
                };
                self.out_queued.push_back((index, ts, fd));
            }
            QueueType::Capture => self.cap_free.push_back(index),
        }
        Ok(())
    }
    fn dequeue(&mut self, q: QueueType, _memory: Memory) -> io::Result<Option<DequeuedBuffer>> {
        self.process();
        Ok(match q {
            QueueType::Output => self.out_done.pop_front().map(|index| DequeuedBuffer {
                index,
                bytesused: 0,
                data_offset: 0,
                flags: 0,
                timestamp_us: 0,
            }),
            QueueType::Capture => {
                if self.last_dequeued {
                    return Err(io::Error::from_raw_os_error(libc::EPIPE));
                }
                let b = self.cap_done.pop_front();
                self.last_dequeued = b.is_some_and(|b| b.flags & sys::BUF_FLAG_LAST != 0);
                b
            }
        })
    }
    fn stream(&mut self, q: QueueType, on: bool) -> io::Result<()> {
        self.log
            .push(format!("STREAM{} {q:?}", if on { "ON" } else { "OFF" }));
        self.streaming[q as usize] = on;
        if !on && q == QueueType::Capture {
            self.last_dequeued = false;
        }
        if !on {
            self.out_queued.clear();
            self.cap_free.clear();
            self.cap_done.clear();
            self.out_done.clear();
        }
        Ok(())
    }
    fn encoder_stop(&mut self) -> io::Result<()> {
        self.log.push("ENCODER_CMD STOP".into());
        if self.converter {
            return Err(io::Error::from_raw_os_error(libc::ENOTTY));
        }
        self.stopping = true;
        Ok(())
    }
    fn wait(&mut self, _timeout_ms: i32) -> io::Result<bool> {
        self.process();
        Ok(!self.cap_done.is_empty() || !self.out_done.is_empty())
    }
}
