//! Pub/Sub: channels, patterns, shard channels; RESP2 subscribed mode and RESP3 push frames.

use super::Ctx;
use crate::error::{CmdError, CmdResult};

pub fn subscribe(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn unsubscribe(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn psubscribe(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn punsubscribe(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn ssubscribe(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn sunsubscribe(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn publish(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn spublish(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn pubsub_channels(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn pubsub_numsub(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn pubsub_numpat(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn pubsub_shardchannels(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn pubsub_shardnumsub(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

pub fn pubsub_help(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    Err(CmdError::msg("ERR not implemented yet"))
}

/// See `Ctx::notify`.
pub fn notify_keyspace_event(_ctx: &mut Ctx, _class: u32, _event: &str, _key: &[u8]) {}
