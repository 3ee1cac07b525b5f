//! Geo commands over sorted sets with Redis's 52-bit geohash scores.

use super::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn geoadd(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn geodist(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn geohash(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn geopos(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn georadius(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn georadius_ro(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn georadiusbymember(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn georadiusbymember_ro(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn geosearch(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn geosearchstore(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}
