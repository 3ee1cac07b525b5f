//! The list group (non-blocking): LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LRANGE
//! LINDEX LSET LINSERT LLEN LPOS LREM LTRIM LMOVE RPOPLPUSH LMPOP. Semantics,
//! argument-parsing order, error texts and `server.dirty` accounting follow
//! Redis 7.0's t_list.c (pushes count one per element, pops one per element
//! popped, LMOVE one, LTRIM the number trimmed, LREM the number removed).
//!
//! Blocking family hook: every place where Redis's `dbAdd` would create a
//! list (and so call `signalKeyAsReady`) goes through [`list_created`]; the
//! BLPOP/BLMOVE/BLMPOP task should serve blocked clients from there.

use super::{arg_i64, notify, Ctx};
use crate::db::list::ListVal;
use crate::db::{Keyspace, Value};
use crate::error::{CmdError, CmdResult};
use crate::util::eq_ic;

fn list_ref(ks: &Keyspace, db: usize, i: u32) -> Result<&ListVal, CmdError> {
    match &ks.entry(db, i).val {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

fn list_mut(ks: &mut Keyspace, db: usize, i: u32) -> Result<&mut ListVal, CmdError> {
    match &mut ks.entry_mut(db, i).val {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

/// lookupKeyRead + checkType: None when missing, WRONGTYPE for other types.
fn lookup_read(ctx: &mut Ctx, key: &[u8]) -> Result<Option<u32>, CmdError> {
    super::lookup_typed(ctx, key, false, |v| matches!(v, Value::List(_)))
}

/// lookupKeyWrite + checkType.
fn lookup_write(ctx: &mut Ctx, key: &[u8]) -> Result<Option<u32>, CmdError> {
    super::lookup_typed(ctx, key, true, |v| matches!(v, Value::List(_)))
}

/// Create an empty list at `key` (absent), like Redis's createQuicklistObject
/// + dbAdd. The dirty count `add` adds is taken back: Redis counts list
/// writes per element.
fn create(ctx: &mut Ctx, key: &[u8]) -> u32 {
    let i = ctx
        .ks
        .add(ctx.db, key, Value::List(Box::new(ListVal::new())));
    ctx.ks.dirty = ctx.ks.dirty.saturating_sub(1);
    // (Keyspace::add signals clients blocked on `key`.)
    i
}

/// After a write: delete the key when it became empty, signal, count dirty.
/// Also emits the command's keyspace event (when given) and then "del" if
/// the list was deleted, in Redis's order. Returns whether it was deleted.
fn written(ctx: &mut Ctx, key: &[u8], i: u32, dirty: u64, event: Option<&str>) -> bool {
    let db = ctx.db;
    let empty = list_ref(ctx.ks, db, i).is_ok_and(ListVal::is_empty);
    if empty {
        ctx.ks.delete(db, key);
        ctx.ks.dirty = ctx.ks.dirty.saturating_sub(1);
    } else {
        ctx.ks.signal_modified(db, key);
    }
    ctx.ks.dirty += dirty;
    if let Some(ev) = event {
        ctx.notify(notify::LIST, ev, key);
        if empty {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    empty
}

fn pop_event(left: bool) -> &'static str {
    if left {
        "lpop"
    } else {
        "rpop"
    }
}

fn pop_name(left: bool) -> &'static [u8] {
    if left {
        b"LPOP"
    } else {
        b"RPOP"
    }
}

fn side_name(left: bool) -> &'static [u8] {
    if left {
        b"LEFT"
    } else {
        b"RIGHT"
    }
}

fn push_event(left: bool) -> &'static str {
    if left {
        "lpush"
    } else {
        "rpush"
    }
}

/// Redis's getListPositionFromObjectOrReply: LEFT (true) or RIGHT (false).
fn parse_side(a: &[u8]) -> Result<bool, CmdError> {
    if eq_ic(a, "left") {
        Ok(true)
    } else if eq_ic(a, "right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// getPositiveLongFromObjectOrReply: `msg` (when given) replaces both errors.
fn positive(a: &[u8], msg: Option<&'static str>) -> Result<i64, CmdError> {
    match crate::util::parse_i64(a) {
        Some(v) if v >= 0 => Ok(v),
        Some(_) => Err(CmdError::msg(
            msg.unwrap_or("ERR value is out of range, must be positive"),
        )),
        None => Err(msg.map_or(CmdError::NotInteger, CmdError::msg)),
    }
}

fn push_generic(ctx: &mut Ctx, argv: &[&[u8]], left: bool, xx: bool) -> CmdResult {
    let i = match lookup_write(ctx, argv[1])? {
        Some(i) => i,
        None if xx => {
            ctx.out.int(0);
            return Ok(());
        }
        None => create(ctx, argv[1]),
    };
    let l = list_mut(ctx.ks, ctx.db, i)?;
    for v in &argv[2..] {
        l.push(v, left);
    }
    #[cfg(madsim)]
    if !left && crate::planted::fires(ctx.ks, crate::planted::DUPLICATE_ELEMENT, 5) {
        let l = list_mut(ctx.ks, ctx.db, i)?;
        l.push(argv[argv.len() - 1], false);
    }
    #[cfg(madsim)]
    let l = list_mut(ctx.ks, ctx.db, i)?;
    let n = l.len();
    ctx.out.int(n as i64);
    written(
        ctx,
        argv[1],
        i,
        (argv.len() - 2) as u64,
        Some(push_event(left)),
    );
    Ok(())
}

pub fn lpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push_generic(ctx, argv, true, false)
}

pub fn rpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push_generic(ctx, argv, false, false)
}

pub fn lpushx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push_generic(ctx, argv, true, true)
}

pub fn rpushx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    push_generic(ctx, argv, false, true)
}

/// Pop up to `count` elements (bounded by the list length) and reply them as
/// an array. Returns how many were popped.
fn pop_range_reply(ctx: &mut Ctx, i: u32, left: bool, count: u64) -> Result<u64, CmdError> {
    let l = list_mut(ctx.ks, ctx.db, i)?;
    let n = count.min(l.len() as u64);
    ctx.out.array(n as usize);
    for _ in 0..n {
        if let Some(v) = l.pop(left) {
            ctx.out.bulk(&v);
        }
    }
    Ok(n)
}

fn pop_generic(ctx: &mut Ctx, argv: &[&[u8]], left: bool, name: &str) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Arity(name.into()));
    }
    let count = if argv.len() == 3 {
        Some(positive(
            argv[2],
            Some("ERR value is out of range, must be positive"),
        )?)
    } else {
        None
    };
    let Some(i) = lookup_write(ctx, argv[1])? else {
        if count.is_some() {
            ctx.out.null_array();
        } else {
            ctx.out.null();
        }
        return Ok(());
    };
    match count {
        Some(0) => ctx.out.array(0),
        Some(c) => {
            let n = pop_range_reply(ctx, i, left, c as u64)?;
            written(ctx, argv[1], i, n, Some(pop_event(left)));
        }
        None => {
            match list_mut(ctx.ks, ctx.db, i)?.pop(left) {
                Some(v) => ctx.out.bulk(&v),
                None => ctx.out.null(),
            }
            written(ctx, argv[1], i, 1, Some(pop_event(left)));
        }
    }
    Ok(())
}

pub fn lpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, argv, true, "lpop")
}

pub fn rpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, argv, false, "rpop")
}

/// Redis's start/end normalisation for LRANGE/LTRIM: Some((start, end))
/// inclusive and in range, or None for an empty range.
fn norm_range(start: i64, end: i64, llen: usize) -> Option<(usize, usize)> {
    let llen = llen as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, end as usize))
}

pub fn lrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let start = arg_i64(argv[2])?;
    let end = arg_i64(argv[3])?;
    let Some(i) = lookup_read(ctx, argv[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    let l = list_ref(ctx.ks, ctx.db, i)?;
    match norm_range(start, end, l.len()) {
        None => ctx.out.array(0),
        Some((s, e)) => {
            ctx.out.array(e - s + 1);
            for v in l.iter_from(s).take(e - s + 1) {
                ctx.out.bulk(v);
            }
        }
    }
    Ok(())
}

pub fn lindex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(i) = lookup_read(ctx, argv[1])? else {
        ctx.out.null();
        return Ok(());
    };
    let index = arg_i64(argv[2])?;
    let l = list_ref(ctx.ks, ctx.db, i)?;
    match l.index_of(index).and_then(|j| l.get(j)) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn lset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(i) = lookup_write(ctx, argv[1])? else {
        return Err(CmdError::NoSuchKey);
    };
    let index = arg_i64(argv[2])?;
    let l = list_mut(ctx.ks, ctx.db, i)?;
    let Some(j) = l.index_of(index) else {
        return Err(CmdError::msg("ERR index out of range"));
    };
    l.set(j, argv[3]);
    ctx.out.ok();
    written(ctx, argv[1], i, 1, Some("lset"));
    Ok(())
}

pub fn linsert(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let after = if eq_ic(argv[2], "after") {
        true
    } else if eq_ic(argv[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let Some(i) = lookup_write(ctx, argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let l = list_mut(ctx.ks, ctx.db, i)?;
    let Some(p) = l.iter().position(|e| e == argv[3]) else {
        ctx.out.int(-1);
        return Ok(());
    };
    l.insert(if after { p + 1 } else { p }, argv[4]);
    let n = l.len();
    ctx.out.int(n as i64);
    written(ctx, argv[1], i, 1, Some("linsert"));
    Ok(())
}

pub fn llen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = match lookup_read(ctx, argv[1])? {
        None => 0,
        Some(i) => list_ref(ctx.ks, ctx.db, i)?.len(),
    };
    ctx.out.int(n as i64);
    Ok(())
}

pub fn lpos(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let ele = argv[2];
    let (mut rank, mut count, mut maxlen): (i64, i64, i64) = (1, -1, 0);
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if eq_ic(argv[j], "rank") && more {
            j += 1;
            rank = arg_i64(argv[j])?;
            if rank == 0 {
                return Err(CmdError::msg(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if eq_ic(argv[j], "count") && more {
            j += 1;
            count = positive(argv[j], Some("ERR COUNT can't be negative"))?;
        } else if eq_ic(argv[j], "maxlen") && more {
            j += 1;
            maxlen = positive(argv[j], Some("ERR MAXLEN can't be negative"))?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    // A negative rank searches from the tail. Like Redis's C (where -LLONG_MIN
    // wraps to itself), LLONG_MIN stays negative and then matches everything.
    let from_tail = rank < 0;
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let Some(i) = lookup_read(ctx, argv[1])? else {
        if count != -1 {
            ctx.out.array(0);
        } else {
            ctx.out.null();
        }
        return Ok(());
    };
    let l = list_ref(ctx.ks, ctx.db, i)?;
    let llen = l.len() as i64;
    let mut found: Vec<i64> = Vec::new();
    let mut matches: i64 = 0;
    let mut index: i64 = 0;
    let mut it: Box<dyn Iterator<Item = &[u8]>> = if from_tail {
        l.iter_rev()
    } else {
        Box::new(l.iter())
    };
    while maxlen == 0 || index < maxlen {
        let Some(e) = it.next() else { break };
        if e == ele {
            matches += 1;
            let matchindex = if from_tail { llen - index - 1 } else { index };
            if matches >= rank {
                found.push(matchindex);
                if count == -1 {
                    break;
                }
                if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                    break;
                }
            }
        }
        index += 1;
    }
    if count != -1 {
        ctx.out.array(found.len());
        for m in found {
            ctx.out.int(m);
        }
    } else {
        match found.first() {
            Some(&m) => ctx.out.int(m),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

pub fn lrem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let toremove = arg_i64(argv[2])?;
    let Some(i) = lookup_write(ctx, argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let ele = argv[3];
    let l = list_mut(ctx.ks, ctx.db, i)?;
    let limit = toremove.unsigned_abs();
    let mut removed: u64 = 0;
    if toremove >= 0 {
        l.retain(|e| {
            if (limit == 0 || removed < limit) && e == ele {
                removed += 1;
                false
            } else {
                true
            }
        });
    } else {
        // From the tail: find the first index (from the head) still removed.
        let mut seen = 0u64;
        let mut lowest = l.len();
        for (k, e) in l.iter_rev().enumerate() {
            let k = l.len() - 1 - k;
            if e == ele {
                seen += 1;
                lowest = k;
                if seen == limit {
                    break;
                }
            }
        }
        let mut k = 0usize;
        l.retain(|e| {
            let keep = k < lowest || e != ele;
            k += 1;
            if !keep {
                removed += 1;
            }
            keep
        });
    }
    ctx.out.int(removed as i64);
    let empty = l.is_empty();
    if removed > 0 || empty {
        written(ctx, argv[1], i, removed, (removed > 0).then_some("lrem"));
    }
    Ok(())
}

pub fn ltrim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let start = arg_i64(argv[2])?;
    let end = arg_i64(argv[3])?;
    let Some(i) = lookup_write(ctx, argv[1])? else {
        ctx.out.ok();
        return Ok(());
    };
    let l = list_mut(ctx.ks, ctx.db, i)?;
    let llen = l.len();
    let (ltrim, rtrim) = match norm_range(start, end, llen) {
        None => (llen, 0),
        Some((s, e)) => (s, llen - e - 1),
    };
    l.trim(ltrim, rtrim);
    ctx.out.ok();
    written(ctx, argv[1], i, (ltrim + rtrim) as u64, Some("ltrim"));
    Ok(())
}

fn lmove_generic(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> CmdResult {
    let db = ctx.db;
    let Some(si) = lookup_write(ctx, src)? else {
        ctx.out.null();
        return Ok(());
    };
    if src == dst {
        let l = list_mut(ctx.ks, db, si)?;
        let Some(v) = l.pop(from_left) else {
            ctx.out.null();
            return Ok(());
        };
        ctx.out.bulk(&v);
        l.push_owned(v, to_left);
        written(ctx, src, si, 1, None);
        ctx.notify(notify::LIST, push_event(to_left), dst);
        ctx.notify(notify::LIST, pop_event(from_left), src);
        return Ok(());
    }
    let dst_exists = lookup_write(ctx, dst)?.is_some();
    let Some(v) = list_mut(ctx.ks, db, si)?.pop(from_left) else {
        ctx.out.null();
        return Ok(());
    };
    let src_deleted = written(ctx, src, si, 1, None);
    // Re-find dst (the src removal may have moved table slots); it was just
    // looked up, so a plain lookup (no access-clock update) finds it again.
    let di = match ctx.ks.lookup(db, dst) {
        Some(di) if dst_exists => {
            ctx.ks.cow(db, di);
            di
        }
        _ => create(ctx, dst),
    };
    ctx.out.bulk(&v);
    let l = list_mut(ctx.ks, db, di)?;
    l.push_owned(v, to_left);
    ctx.ks.signal_modified(db, dst);
    // Redis's order: the push on dst, then the pop on src, then its "del".
    ctx.notify(notify::LIST, push_event(to_left), dst);
    ctx.notify(notify::LIST, pop_event(from_left), src);
    if src_deleted {
        ctx.notify(notify::GENERIC, "del", src);
    }
    Ok(())
}

pub fn lmove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let from_left = parse_side(argv[3])?;
    let to_left = parse_side(argv[4])?;
    lmove_generic(ctx, argv[1], argv[2], from_left, to_left)
}

pub fn rpoplpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    lmove_generic(ctx, argv[1], argv[2], false, true)
}

/// LMPOP's arguments after the command name (BLMPOP: after the timeout):
/// numkeys key... LEFT|RIGHT [COUNT n] -> (keys, left, count).
fn parse_mpop<'a>(argv: &[&'a [u8]]) -> Result<(Vec<&'a [u8]>, bool, u64), CmdError> {
    let numkeys = match crate::util::parse_i64(argv[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(CmdError::msg("ERR numkeys should be greater than 0")),
    };
    if numkeys >= (argv.len() - 2) as u64 {
        return Err(CmdError::Syntax);
    }
    let numkeys = numkeys as usize;
    let where_idx = numkeys + 2;
    let left = parse_side(argv[where_idx])?;
    let mut count: i64 = -1;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count == -1 && eq_ic(argv[j], "count") && j + 1 < argv.len() {
            j += 1;
            count = match crate::util::parse_i64(argv[j]) {
                Some(n) if n >= 1 => n,
                _ => return Err(CmdError::msg("ERR count should be greater than 0")),
            };
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let count = if count == -1 { 1 } else { count as u64 };
    Ok((argv[2..2 + numkeys].to_vec(), left, count))
}

pub fn lmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (keys, left, count) = parse_mpop(argv)?;
    for key in keys {
        let Some(i) = lookup_write(ctx, key)? else {
            continue;
        };
        if list_ref(ctx.ks, ctx.db, i)?.is_empty() {
            continue;
        }
        ctx.out.array(2);
        ctx.out.bulk(key);
        let n = pop_range_reply(ctx, i, left, count)?;
        written(ctx, key, i, n, Some(pop_event(left)));
        // Redis propagates [B]LMPOP as the LPOP/RPOP with count it did.
        ctx.propagate_as(&[pop_name(left), key, &crate::util::i64_bytes(n as i64)]);
        return Ok(());
    }
    ctx.out.null_array();
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::server::TestServer;

    #[test]
    fn push_pop_range() {
        let mut t = TestServer::new();
        assert_eq!(t.run(&["RPUSH", "l", "a", "b", "c"]), ":3\r\n");
        assert_eq!(t.run(&["LPUSH", "l", "z"]), ":4\r\n");
        assert_eq!(
            t.run(&["LRANGE", "l", "0", "-1"]),
            "*4\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(
            t.run(&["LRANGE", "l", "-100", "1"]),
            "*2\r\n$1\r\nz\r\n$1\r\na\r\n"
        );
        assert_eq!(
            t.run(&["LRANGE", "l", "5", "9223372036854775807"]),
            "*0\r\n"
        );
        assert_eq!(t.run(&["OBJECT", "ENCODING", "l"]), "$9\r\nquicklist\r\n");
        assert_eq!(t.run(&["LPOP", "l", "2"]), "*2\r\n$1\r\nz\r\n$1\r\na\r\n");
        assert_eq!(t.run(&["RPOP", "l"]), "$1\r\nc\r\n");
        assert_eq!(
            t.run(&["LPOP", "l", "9223372036854775807"]),
            "*1\r\n$1\r\nb\r\n"
        );
        assert_eq!(t.run(&["EXISTS", "l"]), ":0\r\n");
        assert_eq!(t.run(&["LPOP", "l"]), "$-1\r\n");
        assert_eq!(t.run(&["LPOP", "l", "1"]), "*-1\r\n");
        assert_eq!(
            t.run(&["LPOP", "l", "-1"]),
            "-ERR value is out of range, must be positive\r\n"
        );
        assert_eq!(
            t.run(&["LPOP", "l", "x"]),
            "-ERR value is out of range, must be positive\r\n"
        );
        assert_eq!(
            t.run(&["LPOP", "l", "1", "2"]),
            "-ERR wrong number of arguments for 'lpop' command\r\n"
        );
        assert_eq!(t.run(&["LPUSHX", "l", "a"]), ":0\r\n");
        assert_eq!(t.run(&["EXISTS", "l"]), ":0\r\n");
    }

    #[test]
    fn edit_commands() {
        let mut t = TestServer::new();
        t.run(&["RPUSH", "l", "a", "b", "a", "c", "a"]);
        assert_eq!(t.run(&["LREM", "l", "-2", "a"]), ":2\r\n");
        assert_eq!(
            t.run(&["LRANGE", "l", "0", "-1"]),
            "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(t.run(&["LINSERT", "l", "AFTER", "b", "x"]), ":4\r\n");
        assert_eq!(t.run(&["LINSERT", "l", "before", "nope", "x"]), ":-1\r\n");
        assert_eq!(t.run(&["LSET", "l", "-1", "z"]), "+OK\r\n");
        assert_eq!(
            t.run(&["LSET", "l", "9", "z"]),
            "-ERR index out of range\r\n"
        );
        assert_eq!(t.run(&["LSET", "nokey", "0", "z"]), "-ERR no such key\r\n");
        assert_eq!(t.run(&["LINDEX", "l", "-1"]), "$1\r\nz\r\n");
        assert_eq!(t.run(&["LTRIM", "l", "1", "2"]), "+OK\r\n");
        assert_eq!(
            t.run(&["LRANGE", "l", "0", "-1"]),
            "*2\r\n$1\r\nb\r\n$1\r\nx\r\n"
        );
        assert_eq!(t.run(&["LTRIM", "l", "5", "2"]), "+OK\r\n");
        assert_eq!(t.run(&["EXISTS", "l"]), ":0\r\n");
    }

    #[test]
    fn lpos_lmove_lmpop() {
        let mut t = TestServer::new();
        t.run(&["RPUSH", "l", "a", "b", "a", "c", "a"]);
        assert_eq!(t.run(&["LPOS", "l", "a", "RANK", "-1"]), ":4\r\n");
        assert_eq!(
            t.run(&["LPOS", "l", "a", "COUNT", "0"]),
            "*3\r\n:0\r\n:2\r\n:4\r\n"
        );
        assert_eq!(
            t.run(&["LPOS", "l", "a", "RANK", "2", "COUNT", "1"]),
            "*1\r\n:2\r\n"
        );
        assert_eq!(
            t.run(&["LPOS", "l", "a", "MAXLEN", "1", "RANK", "2"]),
            "$-1\r\n"
        );
        assert_eq!(
            t.run(&[
                "LPOS",
                "l",
                "a",
                "RANK",
                "-9223372036854775808",
                "COUNT",
                "1"
            ]),
            "*3\r\n:4\r\n:2\r\n:0\r\n"
        );
        assert_eq!(t.run(&["LMOVE", "l", "l", "LEFT", "RIGHT"]), "$1\r\na\r\n");
        assert_eq!(t.run(&["RPOPLPUSH", "l", "d"]), "$1\r\na\r\n");
        assert_eq!(t.run(&["LRANGE", "d", "0", "-1"]), "*1\r\n$1\r\na\r\n");
        assert_eq!(
            t.run(&["LMPOP", "2", "x", "d", "LEFT", "COUNT", "5"]),
            "*2\r\n$1\r\nd\r\n*1\r\n$1\r\na\r\n"
        );
        assert_eq!(t.run(&["LMPOP", "1", "d", "LEFT"]), "*-1\r\n");
        assert_eq!(t.run(&["LMPOP", "3", "d", "LEFT"]), "-ERR syntax error\r\n");
        t.run(&["SET", "s", "v"]);
        assert!(t
            .run(&["LMPOP", "2", "x", "s", "RIGHT"])
            .starts_with("-WRONGTYPE"));
        assert!(t
            .run(&["LMOVE", "l", "s", "LEFT", "RIGHT"])
            .starts_with("-WRONGTYPE"));
    }
}

/// Keys a blocking command should try now: all of them in argument order,
/// or only the key that became ready when re-executed for a blocked client
/// (Redis 7.0 serves a woken client from the signalled key).
fn keys_to_try<'k>(ctx: &Ctx, keys: &[&'k [u8]]) -> Vec<&'k [u8]> {
    match ctx.ready_key {
        Some(r) => keys.iter().copied().filter(|k| *k == r).collect(),
        None => keys.to_vec(),
    }
}

/// BLPOP/BRPOP key [key ...] timeout.
fn bpop_generic(ctx: &mut Ctx, argv: &[&[u8]], left: bool) -> CmdResult {
    let timeout = super::parse_timeout_secs(ctx, argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    for key in keys_to_try(ctx, keys) {
        let Some(i) = lookup_write(ctx, key)? else {
            continue;
        };
        let Some(v) = list_mut(ctx.ks, ctx.db, i)?.pop(left) else {
            continue;
        };
        ctx.out.array(2);
        ctx.out.bulk(key);
        ctx.out.bulk(&v);
        written(ctx, key, i, 1, Some(pop_event(left)));
        // A blocking pop replays as the plain pop it turned into.
        ctx.propagate_as(&[pop_name(left), key]);
        return Ok(());
    }
    if !ctx.may_block() {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.block_on(keys, timeout, argv);
    Ok(())
}

pub fn blpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bpop_generic(ctx, argv, true)
}

pub fn brpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bpop_generic(ctx, argv, false)
}

/// BLMOVE / BRPOPLPUSH: LMOVE when the source has elements, else block.
fn blmove_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    from_left: bool,
    to_left: bool,
    timeout_arg: &[u8],
) -> CmdResult {
    let timeout = super::parse_timeout_secs(ctx, timeout_arg)?;
    let (src, dst) = (argv[1], argv[2]);
    if lookup_write(ctx, src)?.is_some() {
        lmove_generic(ctx, src, dst, from_left, to_left)?;
        ctx.propagate_as(&[b"LMOVE", src, dst, side_name(from_left), side_name(to_left)]);
        return Ok(());
    }
    if !ctx.may_block() {
        ctx.out.null(); // Redis: addReplyNull inside MULTI, null array on timeout
        return Ok(());
    }
    ctx.block_on(&[src], timeout, argv);
    Ok(())
}

pub fn blmove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let from_left = parse_side(argv[3])?;
    let to_left = parse_side(argv[4])?;
    blmove_generic(ctx, argv, from_left, to_left, argv[5])
}

pub fn brpoplpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    blmove_generic(ctx, argv, false, true, argv[3])
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count].
pub fn blmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let timeout = super::parse_timeout_secs(ctx, argv[1])?;
    let (keys, left, count) = parse_mpop(&argv[1..])?;
    for key in keys_to_try(ctx, &keys) {
        let Some(i) = lookup_write(ctx, key)? else {
            continue;
        };
        if list_ref(ctx.ks, ctx.db, i)?.is_empty() {
            continue;
        }
        ctx.out.array(2);
        ctx.out.bulk(key);
        let n = pop_range_reply(ctx, i, left, count)?;
        written(ctx, key, i, n, Some(pop_event(left)));
        ctx.propagate_as(&[pop_name(left), key, &crate::util::i64_bytes(n as i64)]);
        return Ok(());
    }
    if !ctx.may_block() {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.block_on(&keys, timeout, argv);
    Ok(())
}
