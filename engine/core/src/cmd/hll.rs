//! HyperLogLog: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST (Redis's exact sparse/dense representation).

use super::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn pfadd(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn pfcount(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn pfmerge(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn pfdebug(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn pfselftest(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}
