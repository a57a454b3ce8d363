// SPDX-License-Identifier: MPL-2.0
//! Software backend: Cisco's OpenH264 encoder, built from source by the `openh264-sys2` crate
//! (the low-level half of the `openh264` crate, BSD-2-Clause).
//!
//! The raw API is used rather than `openh264::encoder::Encoder` because that wrapper always
//! encodes one slice per picture (so OpenH264's threads, which work per slice, stay idle), lets
//! frames be skipped by rate control, and cannot change the bitrate of a running encoder.

use std::os::raw::{c_int, c_void};
use std::ptr;

use openh264_sys2 as sys;

use super::level::H264Profile;
use super::nal;

/// OpenH264 encodes at most 4 slices in parallel (`MAX_THREADS_NUM` in
/// `codec/encoder/core/inc/wels_const.h`).
pub const MAX_THREADS: u16 = 4;

/// OpenH264's `CpbBrNalFactor` (`codec/common/inc/wels_common_defs.h`): it limits the bitrate
/// at a level to MaxBR (H.264 Table A-1) x 1200 bits/s for every profile.
pub const CPB_BR_NAL_FACTOR: u64 = 1200;

/// The bitrates OpenH264 accepts at `fps` frames/s and level `level_idc`, bits/s (inclusive):
/// at least one bit per frame (`WelsBitRateVerification`: bitrate >= frame rate), at most
/// the level's MaxBR x [`CPB_BR_NAL_FACTOR`] (InitializeExt fails above it; 288000000 at 5.2).
pub fn bitrate_limits(fps: f32, level_idc: u8) -> (u32, u32) {
    let max_br = super::level::level_by_idc(level_idc)
        .unwrap_or(&super::level::LEVELS[super::level::LEVELS.len() - 1])
        .max_br;
    (
        fps.max(1.0).ceil() as u32,
        (max_br * CPB_BR_NAL_FACTOR).min(u64::from(u32::MAX)) as u32,
    )
}

/// Checks `bitrate` against [`bitrate_limits`]; the error names the value and the range.
pub fn check_bitrate(bitrate: u32, fps: f32, level_idc: u8) -> Result<(), String> {
    let (min, max) = bitrate_limits(fps, level_idc);
    if (min..=max).contains(&bitrate) {
        return Ok(());
    }
    let level = super::level::level_by_idc(level_idc).map_or("5.2", |l| l.name);
    Err(format!(
        "bitrate {bitrate} bits/s is outside what OpenH264 encodes at {fps:.2} frames/s and level {level}: {min}..{max} bits/s (at least one bit per frame, at most the level's MaxBR x {CPB_BR_NAL_FACTOR})"
    ))
}

/// Everything the software encoder needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftwareConfig {
    /// Picture width, pixels.
    pub width: u32,
    /// Picture height, pixels.
    pub height: u32,
    /// Frame rate, frames/s (rate control budget per frame).
    pub fps: f32,
    /// Target bitrate, bits/s.
    pub bitrate: u32,
    /// Constant bitrate: OpenH264 `RC_BITRATE_MODE` with the maximum bitrate at the target.
    /// Variable: `RC_BITRATE_MODE` without a maximum (the average follows the target).
    /// `RC_QUALITY_MODE` was measured to overshoot the target by about 50 % on moving test
    /// bars (4.1 Mbit/s for 2.67), so it is not used.
    pub cbr: bool,
    /// Frames from one IDR to the next; 0 = only the first frame.
    pub iperiod: u32,
    /// Profile written in the SPS (Main and High use CABAC).
    pub profile: H264Profile,
    /// `level_idc` to write (OpenH264 raises it if the stream needs more).
    pub level_idc: u8,
    /// Encoder threads (1..=4); more than 1 also splits each picture into as many slices.
    pub threads: u16,
    /// Constant quantiser 1..=51, or 0 for rate control.
    pub qp: u8,
    /// Repeat SPS/PPS before every IDR (OpenH264 always writes them; they are removed from all
    /// IDRs but the first when this is false).
    pub inline_headers: bool,
    /// OpenH264's `ECOMPLEXITY_MODE` (0 = low, its default; 1 = medium; 2 = high): how hard
    /// it searches (`speed-preset`, see `SpeedPreset::openh264_complexity`).
    pub complexity: u8,
    /// VUI colour description: (colour_primaries, transfer_characteristics,
    /// matrix_coefficients, full_range) per H.264 Table E-3/E-4/E-5, or None to leave it out.
    pub colour: Option<(u8, u8, u8, bool)>,
}

/// The planes of one input picture in 4:2:0.
#[derive(Debug, Clone, Copy)]
pub enum Planes<'a> {
    /// Three planes (I420; pass V as `u` and U as `v` for YV12).
    Planar {
        /// Luma plane and its stride in bytes.
        y: (&'a [u8], usize),
        /// Cb plane and its stride.
        u: (&'a [u8], usize),
        /// Cr plane and its stride.
        v: (&'a [u8], usize),
    },
    /// Two planes (NV12; `swap` for NV21 where Cr comes first).
    SemiPlanar {
        /// Luma plane and its stride in bytes.
        y: (&'a [u8], usize),
        /// Interleaved chroma plane and its stride in bytes.
        uv: (&'a [u8], usize),
        /// True when the chroma pairs are CrCb (NV21).
        swap: bool,
    },
}

/// One encoded access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Annex B byte stream, 4-byte start codes.
    pub data: Vec<u8>,
    /// Whether this is an IDR picture.
    pub keyframe: bool,
}

/// Errors of the software backend.
#[derive(Debug, thiserror::Error)]
pub enum SoftwareError {
    /// OpenH264 refused a call; `what` names it, `code` is its return value.
    #[error("OpenH264 {what} failed (code {code})")]
    Call { what: &'static str, code: c_int },
    /// OpenH264 returned a vtable without the function.
    #[error("OpenH264 encoder has no {0} function")]
    MissingFunction(&'static str),
    /// An input plane is smaller than width/height/stride imply.
    #[error("input plane {plane} has {len} bytes, needs {need}")]
    ShortPlane {
        plane: &'static str,
        len: usize,
        need: usize,
    },
}

type EncPtr = *mut sys::ISVCEncoder;

struct Vtable {
    initialize_ext: unsafe extern "C" fn(EncPtr, *const sys::SEncParamExt) -> c_int,
    get_default_params: unsafe extern "C" fn(EncPtr, *mut sys::SEncParamExt) -> c_int,
    uninitialize: unsafe extern "C" fn(EncPtr) -> c_int,
    encode_frame:
        unsafe extern "C" fn(EncPtr, *const sys::SSourcePicture, *mut sys::SFrameBSInfo) -> c_int,
    encode_parameter_sets: unsafe extern "C" fn(EncPtr, *mut sys::SFrameBSInfo) -> c_int,
    force_intra_frame: unsafe extern "C" fn(EncPtr, bool) -> c_int,
    set_option: unsafe extern "C" fn(EncPtr, sys::ENCODER_OPTION, *mut c_void) -> c_int,
}

/// A running OpenH264 encoder for one picture size.
pub struct SoftwareEncoder {
    enc: EncPtr,
    vt: Vtable,
    initialized: bool,
    config: SoftwareConfig,
    info: Box<sys::SFrameBSInfo>,
    // I420 scratch for semi-planar input.
    u: Vec<u8>,
    v: Vec<u8>,
    idr_count: u64,
    headers: Vec<u8>,
}

// SAFETY: the encoder object is owned exclusively by this struct and OpenH264 keeps no
// thread-affine state; all access goes through &mut self.
unsafe impl Send for SoftwareEncoder {}

fn check(what: &'static str, code: c_int) -> Result<(), SoftwareError> {
    if code == 0 {
        Ok(())
    } else {
        Err(SoftwareError::Call { what, code })
    }
}

fn frame_bytes(info: &sys::SFrameBSInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(info.iFrameSizeInBytes.max(0) as usize);
    let layers = info.iLayerNum.clamp(0, info.sLayerInfo.len() as c_int) as usize;
    for layer in &info.sLayerInfo[..layers] {
        if layer.pNalLengthInByte.is_null() || layer.pBsBuf.is_null() {
            continue;
        }
        // SAFETY: OpenH264 documents pNalLengthInByte as iNalCount entries and pBsBuf as their
        // concatenation; both stay valid until the next call on the encoder.
        unsafe {
            let lens =
                std::slice::from_raw_parts(layer.pNalLengthInByte, layer.iNalCount.max(0) as usize);
            let total: usize = lens.iter().map(|&l| l.max(0) as usize).sum();
            out.extend_from_slice(std::slice::from_raw_parts(layer.pBsBuf, total));
        }
    }
    out
}

impl SoftwareEncoder {
    /// Creates and initialises an encoder.
    pub fn new(config: SoftwareConfig) -> Result<Self, SoftwareError> {
        let mut enc: EncPtr = ptr::null_mut();
        // SAFETY: WelsCreateSVCEncoder writes an encoder pointer or returns non-zero.
        check("WelsCreateSVCEncoder", unsafe {
            sys::source::APILoader::WelsCreateSVCEncoder(&mut enc)
        })?;
        if enc.is_null() {
            return Err(SoftwareError::Call {
                what: "WelsCreateSVCEncoder",
                code: -1,
            });
        }
        // SAFETY: enc points to a vtable pointer written by WelsCreateSVCEncoder.
        let raw = unsafe { **enc };
        let vt = Vtable {
            initialize_ext: raw
                .InitializeExt
                .ok_or(SoftwareError::MissingFunction("InitializeExt"))?,
            get_default_params: raw
                .GetDefaultParams
                .ok_or(SoftwareError::MissingFunction("GetDefaultParams"))?,
            uninitialize: raw
                .Uninitialize
                .ok_or(SoftwareError::MissingFunction("Uninitialize"))?,
            encode_frame: raw
                .EncodeFrame
                .ok_or(SoftwareError::MissingFunction("EncodeFrame"))?,
            encode_parameter_sets: raw
                .EncodeParameterSets
                .ok_or(SoftwareError::MissingFunction("EncodeParameterSets"))?,
            force_intra_frame: raw
                .ForceIntraFrame
                .ok_or(SoftwareError::MissingFunction("ForceIntraFrame"))?,
            set_option: raw
                .SetOption
                .ok_or(SoftwareError::MissingFunction("SetOption"))?,
        };
        let chroma = (config.width.div_ceil(2) * config.height.div_ceil(2)) as usize;
        let mut this = SoftwareEncoder {
            enc,
            vt,
            initialized: false,
            config,
            info: Box::default(),
            u: vec![0; chroma],
            v: vec![0; chroma],
            idr_count: 0,
            headers: Vec::new(),
        };
        this.init()?;
        Ok(this)
    }

    fn params(&self) -> Result<sys::SEncParamExt, SoftwareError> {
        let c = &self.config;
        let mut p = sys::SEncParamExt::default();
        // SAFETY: fills a caller-owned struct.
        check("GetDefaultParams", unsafe {
            (self.vt.get_default_params)(self.enc, &mut p)
        })?;
        p.iUsageType = sys::CAMERA_VIDEO_REAL_TIME;
        p.iPicWidth = c.width as c_int;
        p.iPicHeight = c.height as c_int;
        p.fMaxFrameRate = c.fps;
        p.iTargetBitrate = c.bitrate.min(i32::MAX as u32) as c_int;
        if c.qp > 0 {
            p.iRCMode = sys::RC_OFF_MODE;
            p.iMinQp = c_int::from(c.qp);
            p.iMaxQp = c_int::from(c.qp);
        } else if c.cbr {
            p.iRCMode = sys::RC_BITRATE_MODE;
            p.iMaxBitrate = p.iTargetBitrate;
        } else {
            p.iRCMode = sys::RC_BITRATE_MODE;
            p.iMaxBitrate = sys::UNSPECIFIED_BIT_RATE as c_int;
        }
        // Never drop frames: every input frame gives an output frame.
        p.bEnableFrameSkip = false;
        p.uiIntraPeriod = c.iperiod;
        p.eSpsPpsIdStrategy = sys::CONSTANT_ID;
        p.iEntropyCodingModeFlag = c_int::from(c.profile.uses_cabac());
        p.iTemporalLayerNum = 1;
        p.iSpatialLayerNum = 1;
        let threads = c.threads.clamp(1, MAX_THREADS);
        p.iMultipleThreadIdc = threads;
        p.iLoopFilterDisableIdc = 0;
        p.iComplexityMode = match c.complexity {
            0 => sys::LOW_COMPLEXITY,
            1 => sys::MEDIUM_COMPLEXITY,
            _ => sys::HIGH_COMPLEXITY,
        };
        let l = &mut p.sSpatialLayers[0];
        l.iVideoWidth = c.width as c_int;
        l.iVideoHeight = c.height as c_int;
        l.fFrameRate = c.fps;
        l.iSpatialBitrate = p.iTargetBitrate;
        l.iMaxSpatialBitrate = p.iMaxBitrate;
        l.uiProfileIdc = match c.profile {
            H264Profile::ConstrainedBaseline | H264Profile::Baseline => sys::PRO_BASELINE,
            H264Profile::Main => sys::PRO_MAIN,
            H264Profile::High => sys::PRO_HIGH,
        };
        l.uiLevelIdc = c_int::from(c.level_idc);
        if c.qp > 0 {
            l.iDLayerQp = c_int::from(c.qp);
        }
        let mb_rows = c.height.div_ceil(16);
        if threads > 1 && mb_rows >= u32::from(threads) {
            l.sSliceArgument.uiSliceMode = sys::SM_FIXEDSLCNUM_SLICE;
            l.sSliceArgument.uiSliceNum = u32::from(threads);
        } else {
            l.sSliceArgument.uiSliceMode = sys::SM_SINGLE_SLICE;
            l.sSliceArgument.uiSliceNum = 1;
        }
        if let Some((prim, transfer, matrix, full)) = c.colour {
            l.bVideoSignalTypePresent = true;
            l.uiVideoFormat = sys::VF_UNDEF as _;
            l.bFullRange = full;
            l.bColorDescriptionPresent = true;
            l.uiColorPrimaries = prim;
            l.uiTransferCharacteristics = transfer;
            l.uiColorMatrix = matrix;
        }
        Ok(p)
    }

    fn init(&mut self) -> Result<(), SoftwareError> {
        let p = self.params()?;
        // Quiet before InitializeExt, which otherwise prints its parameter warnings to stderr.
        let mut level: c_int = sys::WELS_LOG_QUIET as c_int;
        // SAFETY: TRACE_LEVEL takes a pointer to an int.
        check("SetOption(TRACE_LEVEL)", unsafe {
            (self.vt.set_option)(
                self.enc,
                sys::ENCODER_OPTION_TRACE_LEVEL,
                (&mut level as *mut c_int).cast(),
            )
        })?;
        // SAFETY: p is a fully initialised parameter struct.
        check("InitializeExt", unsafe {
            (self.vt.initialize_ext)(self.enc, &p)
        })?;
        self.initialized = true;
        let mut fmt: c_int = sys::videoFormatI420 as c_int;
        // SAFETY: DATAFORMAT takes a pointer to an int.
        check("SetOption(DATAFORMAT)", unsafe {
            (self.vt.set_option)(
                self.enc,
                sys::ENCODER_OPTION_DATAFORMAT,
                (&mut fmt as *mut c_int).cast(),
            )
        })?;
        // SAFETY: fills self.info, which we own.
        check("EncodeParameterSets", unsafe {
            (self.vt.encode_parameter_sets)(self.enc, &mut *self.info)
        })?;
        self.headers = nal::parameter_sets(&frame_bytes(&self.info));
        Ok(())
    }

    /// The SPS and PPS this encoder writes (Annex B).
    pub fn headers(&self) -> &[u8] {
        &self.headers
    }

    /// The configuration in use.
    pub fn config(&self) -> &SoftwareConfig {
        &self.config
    }

    /// Changes the target bitrate (bits/s) of the running encoder.
    pub fn set_bitrate(&mut self, bitrate: u32) -> Result<(), SoftwareError> {
        self.config.bitrate = bitrate;
        let bps = bitrate.min(i32::MAX as u32) as c_int;
        if self.config.cbr {
            let mut max = sys::SBitrateInfo {
                iLayer: sys::SPATIAL_LAYER_ALL,
                iBitrate: bps,
            };
            // SAFETY: MAX_BITRATE takes a pointer to SBitrateInfo.
            check("SetOption(MAX_BITRATE)", unsafe {
                (self.vt.set_option)(
                    self.enc,
                    sys::ENCODER_OPTION_MAX_BITRATE,
                    (&mut max as *mut sys::SBitrateInfo).cast(),
                )
            })?;
        }
        let mut info = sys::SBitrateInfo {
            iLayer: sys::SPATIAL_LAYER_ALL,
            iBitrate: bps,
        };
        // SAFETY: BITRATE takes a pointer to SBitrateInfo.
        check("SetOption(BITRATE)", unsafe {
            (self.vt.set_option)(
                self.enc,
                sys::ENCODER_OPTION_BITRATE,
                (&mut info as *mut sys::SBitrateInfo).cast(),
            )
        })
    }

    /// Encodes one picture. `timestamp_ms` feeds OpenH264's rate control; `force_idr` makes this
    /// picture an IDR; `want_headers` keeps SPS/PPS on it even when `inline_headers` is off.
    /// Returns `None` only if OpenH264 skipped the picture (frame skipping is disabled).
    pub fn encode(
        &mut self,
        planes: Planes<'_>,
        timestamp_ms: i64,
        force_idr: bool,
        want_headers: bool,
    ) -> Result<Option<Encoded>, SoftwareError> {
        let (w, h) = (self.config.width as usize, self.config.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let need = |plane: &'static str, buf: &[u8], stride: usize, cols: usize, rows: usize| {
            let need = stride * (rows - 1) + cols;
            if buf.len() < need || stride < cols {
                Err(SoftwareError::ShortPlane {
                    plane,
                    len: buf.len(),
                    need,
                })
            } else {
                Ok(())
            }
        };
        let (yp, up, vp) = match planes {
            Planes::Planar { y, u, v } => {
                need("Y", y.0, y.1, w, h)?;
                need("U", u.0, u.1, cw, ch)?;
                need("V", v.0, v.1, cw, ch)?;
                (y, u, v)
            }
            Planes::SemiPlanar { y, uv, swap } => {
                need("Y", y.0, y.1, w, h)?;
                need("UV", uv.0, uv.1, 2 * cw, ch)?;
                deinterleave(uv.0, uv.1, cw, ch, &mut self.u, &mut self.v, swap);
                (y, (&self.u[..], cw), (&self.v[..], cw))
            }
        };
        let pic = sys::SSourcePicture {
            iColorFormat: sys::videoFormatI420 as c_int,
            iStride: [yp.1 as c_int, up.1 as c_int, vp.1 as c_int, 0],
            // OpenH264 only reads the source planes.
            pData: [
                yp.0.as_ptr().cast_mut(),
                up.0.as_ptr().cast_mut(),
                vp.0.as_ptr().cast_mut(),
                ptr::null_mut(),
            ],
            iPicWidth: w as c_int,
            iPicHeight: h as c_int,
            uiTimeStamp: timestamp_ms,
            bPsnrY: false,
            bPsnrU: false,
            bPsnrV: false,
        };
        if force_idr {
            // SAFETY: initialised encoder.
            check("ForceIntraFrame", unsafe {
                (self.vt.force_intra_frame)(self.enc, true)
            })?;
        }
        // SAFETY: pic points at planes checked above, self.info is ours.
        check("EncodeFrame", unsafe {
            (self.vt.encode_frame)(self.enc, &pic, &mut *self.info)
        })?;
        if self.info.eFrameType == sys::videoFrameTypeSkip
            || self.info.eFrameType == sys::videoFrameTypeInvalid
        {
            return Ok(None);
        }
        let keyframe = self.info.eFrameType == sys::videoFrameTypeIDR;
        let mut data = frame_bytes(&self.info);
        if keyframe {
            self.idr_count += 1;
            if !self.config.inline_headers && !want_headers && self.idr_count > 1 {
                data = nal::strip_parameter_sets(&data);
            } else if !nal::has_sps(&data) {
                let mut with = self.headers.clone();
                with.extend_from_slice(&data);
                data = with;
            }
        }
        Ok(Some(Encoded { data, keyframe }))
    }
}

impl Drop for SoftwareEncoder {
    fn drop(&mut self) {
        // SAFETY: enc was created by WelsCreateSVCEncoder and is destroyed exactly once here.
        unsafe {
            if self.initialized {
                (self.vt.uninitialize)(self.enc);
            }
            sys::source::APILoader::WelsDestroySVCEncoder(self.enc);
        }
    }
}

/// Splits interleaved chroma (`cw` pairs per row, `ch` rows, `stride` bytes per row) into two
/// packed planes of `cw` x `ch`; `swap` for CrCb order (NV21).
pub fn deinterleave(
    uv: &[u8],
    stride: usize,
    cw: usize,
    ch: usize,
    u: &mut [u8],
    v: &mut [u8],
    swap: bool,
) {
    let (u, v) = if swap { (v, u) } else { (u, v) };
    for row in 0..ch {
        let src = &uv[row * stride..row * stride + 2 * cw];
        let (ud, vd) = (
            &mut u[row * cw..(row + 1) * cw],
            &mut v[row * cw..(row + 1) * cw],
        );
        for (i, pair) in src.chunks_exact(2).enumerate() {
            ud[i] = pair[0];
            vd[i] = pair[1];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(w: u32, h: u32) -> SoftwareConfig {
        SoftwareConfig {
            width: w,
            height: h,
            fps: 30.0,
            bitrate: 1_000_000,
            cbr: false,
            iperiod: 10,
            profile: H264Profile::High,
            level_idc: 30,
            threads: 2,
            qp: 0,
            inline_headers: false,
            complexity: 0,
            colour: Some((1, 1, 1, false)),
        }
    }

    #[test]
    fn bitrate_limits_are_openh264s() {
        assert_eq!(bitrate_limits(30.0, 52), (30, 288_000_000));
        assert_eq!(bitrate_limits(29.97, 31), (30, 16_800_000));
        let e = check_bitrate(1, 30.0, 52).unwrap_err();
        assert!(
            e.contains("bitrate 1 bits/s") && e.contains("30..288000000"),
            "{e}"
        );
        assert!(check_bitrate(288_000_001, 30.0, 52).is_err());
        // The limits are OpenH264's own: just inside starts, just outside does not.
        for (bitrate, ok) in [
            (30, true),
            (29, false),
            (288_000_000, true),
            (288_000_001, false),
        ] {
            let mut c = config(64, 48);
            c.level_idc = 52;
            c.bitrate = bitrate;
            assert_eq!(SoftwareEncoder::new(c).is_ok(), ok, "{bitrate}");
            assert_eq!(check_bitrate(bitrate, 30.0, 52).is_ok(), ok, "{bitrate}");
        }
    }

    #[test]
    fn deinterleave_nv12_nv21() {
        let uv = [1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 0];
        let (mut u, mut v) = ([0; 4], [0; 4]);
        deinterleave(&uv, 6, 2, 2, &mut u, &mut v, false);
        assert_eq!((u, v), ([1, 3, 5, 7], [2, 4, 6, 8]));
        deinterleave(&uv, 6, 2, 2, &mut u, &mut v, true);
        assert_eq!((u, v), ([2, 4, 6, 8], [1, 3, 5, 7]));
    }

    #[test]
    fn encodes_idr_period_and_headers() {
        let mut enc = SoftwareEncoder::new(config(64, 48)).unwrap();
        assert_eq!(
            nal::sps_profile_level(enc.headers()).map(|p| p.0),
            Some(100)
        );
        let y = vec![128u8; 64 * 48];
        let c = vec![128u8; 32 * 24];
        let mut kinds = Vec::new();
        for i in 0..21 {
            let planes = Planes::Planar {
                y: (&y, 64),
                u: (&c, 32),
                v: (&c, 32),
            };
            let out = enc.encode(planes, i * 33, i == 5, false).unwrap().unwrap();
            assert_eq!(out.keyframe, nal::has_idr(&out.data));
            kinds.push((out.keyframe, nal::has_sps(&out.data)));
        }
        // IDR at 0 (with headers), forced at 5, then every 10 frames from there on; headers
        // only on the first.
        let idrs: Vec<usize> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| k.0)
            .map(|(i, _)| i)
            .collect();
        assert!(idrs.contains(&0) && idrs.contains(&5), "{idrs:?}");
        assert_eq!(kinds[0], (true, true));
        assert!(kinds[1..].iter().all(|k| !k.1), "{kinds:?}");
    }

    #[test]
    fn short_plane_is_an_error() {
        let mut enc = SoftwareEncoder::new(config(64, 48)).unwrap();
        let y = vec![0u8; 100];
        let c = vec![0u8; 32 * 24];
        let e = enc
            .encode(
                Planes::Planar {
                    y: (&y, 64),
                    u: (&c, 32),
                    v: (&c, 32),
                },
                0,
                false,
                false,
            )
            .unwrap_err();
        assert!(e.to_string().contains("plane Y"), "{e}");
    }
}
