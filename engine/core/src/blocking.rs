//! Blocking commands (BLPOP & co, BZPOPMIN & co, XREAD/XREADGROUP BLOCK).
//! (Being implemented.)

use crate::cmd::Ctx;

pub fn block_on(ctx: &mut Ctx, _keys: &[&[u8]], _timeout_at_ms: i64, _argv: &[&[u8]]) {
    ctx.out.null_array();
}
