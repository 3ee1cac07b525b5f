//! Stream commands (XADD ... XINFO) and consumer groups.

use super::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn xadd(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xrange(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xrevrange(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xlen(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xdel(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xtrim(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xread(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xreadgroup(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xack(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xpending(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xclaim(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xautoclaim(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xsetid(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xgroup_create(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xgroup_setid(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xgroup_destroy(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xgroup_createconsumer(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xgroup_delconsumer(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xgroup_help(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xinfo_stream(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xinfo_groups(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xinfo_consumers(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn xinfo_help(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}
