// SPDX-License-Identifier: MPL-2.0
//! Annex B byte-stream helpers: split an access unit into NAL units, find the SPS, drop or
//! detect parameter sets. The SPS's profile and level are read by GStreamer's codec utilities
//! (`gst_codec_utils_h264_get_profile` / `_get_level`, in the engine); `sps_profile_level`
//! stays only as the tests' independent reading of the same bytes.

/// NAL unit types used here (H.264 Table 7-1).
pub const NAL_SLICE_IDR: u8 = 5;
/// Sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// Picture parameter set.
pub const NAL_PPS: u8 = 8;
/// Access unit delimiter.
pub const NAL_AUD: u8 = 9;

/// One NAL unit inside a byte-stream buffer: `start` is the offset of its start code,
/// `payload` the offset of its header byte, `end` one past its last byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalRange {
    /// Offset of the start code (`00 00 01` or `00 00 00 01`).
    pub start: usize,
    /// Offset of the NAL header byte.
    pub payload: usize,
    /// One past the last byte.
    pub end: usize,
}

impl NalRange {
    /// `nal_unit_type` of this unit in `data`.
    pub fn nal_type(&self, data: &[u8]) -> u8 {
        data.get(self.payload).map(|b| b & 0x1f).unwrap_or(0)
    }
}

/// Splits Annex B data into NAL units. Bytes before the first start code are ignored.
pub fn split(data: &[u8]) -> Vec<NalRange> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let start = if i > 0 && data[i - 1] == 0 { i - 1 } else { i };
            starts.push((start, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(starts.len());
    for (k, &(start, payload)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map(|s| s.0).unwrap_or(data.len());
        out.push(NalRange {
            start,
            payload,
            end,
        });
    }
    out
}

/// The NAL unit types of `data`, in order.
pub fn nal_types(data: &[u8]) -> Vec<u8> {
    split(data).iter().map(|n| n.nal_type(data)).collect()
}

/// The first SPS in `data` from the byte after its NAL header (`profile_idc`, the constraint
/// flags, `level_idc`, ...; H.264 7.3.2.1.1) to its end, as GStreamer's codec utilities take
/// it; `None` when there is no SPS or it is shorter than those three bytes.
pub fn sps(data: &[u8]) -> Option<&[u8]> {
    let sps = split(data)
        .into_iter()
        .find(|n| n.nal_type(data) == NAL_SPS)?;
    data.get(sps.payload + 1..sps.end)
        .filter(|body| body.len() >= 3)
}

/// `profile_idc`, `constraint_set1_flag` and `level_idc` of the first SPS in `data`
/// (the three bytes after the SPS NAL header, H.264 7.3.2.1.1). Level 1b written as
/// `level_idc` 11 with `constraint_set3_flag` in Baseline/Main is reported as 9.
/// Test oracle only: the element reads these with `gstreamer-pbutils`.
#[cfg(test)]
pub fn sps_profile_level(data: &[u8]) -> Option<(u8, bool, u8)> {
    let bytes = sps(data)?;
    let (profile_idc, flags, level_idc) = (bytes[0], bytes[1], bytes[2]);
    let set1 = flags & 0x40 != 0;
    let set3 = flags & 0x10 != 0;
    let level = if level_idc == 11 && set3 && matches!(profile_idc, 66 | 77 | 88) {
        9
    } else {
        level_idc
    };
    Some((profile_idc, set1, level))
}

/// Whether `data` holds an SPS.
pub fn has_sps(data: &[u8]) -> bool {
    nal_types(data).contains(&NAL_SPS)
}

/// Whether `data` holds an IDR slice.
pub fn has_idr(data: &[u8]) -> bool {
    nal_types(data).contains(&NAL_SLICE_IDR)
}

/// Copy of `data` without SPS and PPS NAL units.
pub fn strip_parameter_sets(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for n in split(data) {
        let t = n.nal_type(data);
        if t != NAL_SPS && t != NAL_PPS {
            out.extend_from_slice(&data[n.start..n.end]);
        }
    }
    out
}

/// The SPS and PPS NAL units of `data` (with their start codes), concatenated.
pub fn parameter_sets(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in split(data) {
        let t = n.nal_type(data);
        if t == NAL_SPS || t == NAL_PPS {
            out.extend_from_slice(&data[n.start..n.end]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPS: High (100), flags 0, level 40; PPS; IDR slice.
    const AU: &[u8] = &[
        0, 0, 0, 1, 0x67, 100, 0x00, 40, 0xAC, //
        0, 0, 1, 0x68, 0xEE, 0x3C, 0x80, //
        0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00,
    ];

    #[test]
    fn split_and_types() {
        let n = split(AU);
        assert_eq!(n.len(), 3);
        assert_eq!(
            n[0],
            NalRange {
                start: 0,
                payload: 4,
                end: 9
            }
        );
        assert_eq!(
            n[1],
            NalRange {
                start: 9,
                payload: 12,
                end: 16
            }
        );
        assert_eq!(nal_types(AU), vec![7, 8, 5]);
        assert!(has_sps(AU) && has_idr(AU));
        assert!(split(&[1, 2, 3]).is_empty());
    }

    #[test]
    fn sps_fields() {
        assert_eq!(sps_profile_level(AU), Some((100, false, 40)));
        let cb = [0, 0, 1, 0x67, 66, 0xC0, 31];
        assert_eq!(sps_profile_level(&cb), Some((66, true, 31)));
        let l1b = [0, 0, 1, 0x67, 66, 0x50, 11];
        assert_eq!(sps_profile_level(&l1b), Some((66, true, 9)));
        assert_eq!(sps_profile_level(&[0, 0, 1, 0x67, 66]), None);
    }

    #[test]
    fn strip_and_keep() {
        let s = strip_parameter_sets(AU);
        assert_eq!(nal_types(&s), vec![5]);
        assert_eq!(s, &AU[16..]);
        let ps = parameter_sets(AU);
        assert_eq!(nal_types(&ps), vec![7, 8]);
        assert_eq!(ps, &AU[..16]);
    }
}
