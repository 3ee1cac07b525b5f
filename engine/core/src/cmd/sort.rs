//! SORT and SORT_RO.

use super::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn sort(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn sort_ro(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}
