//! Bitmaps: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.
//! (Being written: see the helper task.)

use super::Ctx;
use crate::error::{CmdError, CmdResult};

fn todo() -> CmdResult {
    Err(CmdError::msg("ERR not yet implemented in redsim"))
}

pub fn setbit(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    todo()
}
pub fn getbit(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    todo()
}
pub fn bitcount(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    todo()
}
pub fn bitpos(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    todo()
}
pub fn bitop(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    todo()
}
pub fn bitfield(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    todo()
}
pub fn bitfield_ro(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    todo()
}
