// SPDX-License-Identifier: MPL-2.0
//! The rows of the suite: each measures with its module at the crate root (cost, zerocopy,
//! delivery, ...) and writes its lines, detail section and checks into the report.

pub(crate) mod mem;
pub(crate) mod row1;
pub(crate) mod row2;
pub(crate) mod row3;
pub(crate) mod row4;
pub(crate) mod row5;
pub(crate) mod row6;
pub(crate) mod row7;
pub(crate) mod rtp;
pub(crate) mod vm;

pub(crate) use mem::*;
pub(crate) use row1::*;
pub(crate) use row2::*;
pub(crate) use row3::*;
pub(crate) use row4::*;
pub(crate) use row5::*;
pub(crate) use row6::*;
pub(crate) use row7::*;
pub(crate) use rtp::*;
pub(crate) use vm::*;
