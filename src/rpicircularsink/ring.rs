// SPDX-License-Identifier: MPL-2.0
//! The ring of encoded buffers: the last `pre-duration` of the stream, from a key frame,
//! within `max-size-bytes`. Pure: no element, no clock.

use std::collections::VecDeque;

/// One encoded buffer in the ring.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The buffer (shared with upstream: only its reference is held).
    pub buffer: gst::Buffer,
    /// Running time of its decode order (DTS, else PTS), ns.
    pub running_time: u64,
    /// A key frame (no DELTA_UNIT flag).
    pub key: bool,
    /// Bytes of the buffer.
    pub size: u64,
}

/// What a push did to the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pushed {
    /// The buffer was dropped: the ring is empty and waits for a key frame.
    pub waiting_for_key: bool,
    /// One group of pictures alone was over `max-size-bytes`: the ring was emptied.
    pub overflow: bool,
}

/// The ring: always starts at a key frame; holds the key frame at or before
/// (newest − pre-duration) and everything after it, dropping whole groups of pictures from the
/// front, also while the bytes are over the bound.
#[derive(Debug, Default)]
pub struct Ring {
    entries: VecDeque<Entry>,
    bytes: u64,
}

impl Ring {
    /// Adds `e` and trims to `pre_ns` (ns) and `max_bytes`.
    pub fn push(&mut self, e: Entry, pre_ns: u64, max_bytes: u64) -> Pushed {
        let mut out = Pushed::default();
        if self.entries.is_empty() && !e.key {
            out.waiting_for_key = true;
            return out;
        }
        self.bytes += e.size;
        self.entries.push_back(e);
        let newest = self.entries.back().map_or(0, |e| e.running_time);
        // Drop the first group while the next key frame is old enough to start the ring.
        while let Some(k) = self.second_key() {
            if newest.saturating_sub(self.entries[k].running_time) >= pre_ns
                || self.bytes > max_bytes
            {
                self.drop_front(k);
            } else {
                break;
            }
        }
        if self.bytes > max_bytes {
            // One group alone is over the bound: nothing kept until the next key frame.
            self.clear();
            out.overflow = true;
        }
        out
    }

    fn second_key(&self) -> Option<usize> {
        self.entries
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, e)| e.key)
            .map(|(i, _)| i)
    }

    fn drop_front(&mut self, n: usize) {
        for e in self.entries.drain(..n) {
            self.bytes -= e.size;
        }
    }

    /// Empties the ring.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Running time from the first entry to the last, ns.
    pub fn duration(&self) -> u64 {
        match (self.entries.front(), self.entries.back()) {
            (Some(a), Some(b)) => b.running_time.saturating_sub(a.running_time),
            _ => 0,
        }
    }

    /// The entries, oldest first (a key frame first).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// 30 fps, a key frame every 10 frames, 1000 bytes each.
    fn entry(i: u64) -> Entry {
        Entry {
            buffer: gst::Buffer::new(),
            running_time: i * 33 * MS,
            key: i.is_multiple_of(10),
            size: 1000,
        }
    }

    #[test]
    fn the_ring_keeps_pre_duration_from_a_key_frame() {
        gst::init().unwrap();
        let mut r = Ring::default();
        for i in 0..100 {
            r.push(entry(i), 1000 * MS, u64::MAX);
            let first = r.entries().next().unwrap();
            assert!(first.key, "starts at a key frame");
            let newest = i * 33 * MS;
            // The first key frame is at or before newest − 1 s once the stream is that long.
            if newest >= 1330 * MS {
                assert!(newest - first.running_time >= 1000 * MS);
                assert!(newest - first.running_time < 1000 * MS + 10 * 33 * MS);
            }
        }
        assert_eq!(r.bytes(), r.entries().count() as u64 * 1000);
    }

    #[test]
    fn the_ring_stays_within_max_bytes_and_starts_at_a_key_frame() {
        gst::init().unwrap();
        let mut r = Ring::default();
        // Delta frames before the first key frame are dropped.
        let mut e = entry(1);
        e.key = false;
        assert!(r.push(e, 1000 * MS, 25_000).waiting_for_key);
        for i in 0..100 {
            r.push(entry(i), 10_000 * MS, 25_000);
            assert!(r.bytes() <= 25_000, "{}", r.bytes());
            assert!(r.entries().next().is_none_or(|e| e.key));
        }
        // A group larger than the bound empties the ring.
        let mut r = Ring::default();
        let mut overflow = false;
        for i in 0..20 {
            overflow |= r.push(entry(i), 10_000 * MS, 5_000).overflow;
            assert!(r.bytes() <= 5_000);
        }
        assert!(overflow);
    }
}
