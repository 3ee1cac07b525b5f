//! The set group: SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS SPOP
//! SRANDMEMBER SMOVE SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF
//! SDIFFSTORE SSCAN. Semantics, reply types and error texts follow Redis
//! 7.0's t_set.c (including the order in which errors are detected).

use super::{arg_i64, notify, Ctx};
use crate::db::set::{Member, SetVal};
use crate::db::{Keyspace, Value};
use crate::error::{CmdError, CmdResult};
use crate::resp::Reply;
use crate::util::{eq_ic, glob_match};

fn max_entries(ctx: &Ctx) -> usize {
    ctx.cfg.set_max_intset_entries
}

fn set_ref(ks: &Keyspace, db: usize, i: u32) -> Result<&SetVal, CmdError> {
    match &ks.entry(db, i).val {
        Value::Set(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

fn set_mut<'a>(ctx: &'a mut Ctx, i: u32) -> Option<&'a mut SetVal> {
    match &mut ctx.ks.entry_mut(ctx.db, i).val {
        Value::Set(s) => Some(s),
        _ => None,
    }
}

fn is_set(ctx: &Ctx, i: u32) -> bool {
    matches!(ctx.ks.entry(ctx.db, i).val, Value::Set(_))
}

#[inline]
fn reply_member(out: &mut Reply, m: Member) {
    match m {
        Member::Int(v) => out.bulk_i64(v),
        Member::Bytes(b) => out.bulk(b),
    }
}

/// Delete `key` (known to exist) without counting a dirty write: callers
/// account for dirty themselves, as Redis's dbDelete does not.
fn delete_quiet(ctx: &mut Ctx, key: &[u8]) {
    if ctx.ks.delete(ctx.db, key) {
        ctx.ks.dirty = ctx.ks.dirty.saturating_sub(1);
    }
}

pub fn sadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let max = max_entries(ctx);
    let db = ctx.db;
    let key = argv[1];
    let mut added = 0i64;
    match ctx.ks.lookup_write(db, key) {
        Some(i) => {
            let s = set_mut(ctx, i).ok_or(CmdError::WrongType)?;
            for m in &argv[2..] {
                if s.add(m, max) {
                    added += 1;
                }
            }
            if added > 0 {
                ctx.ks.signal_modified(db, key);
                ctx.ks.dirty += added as u64;
                ctx.notify(notify::SET, "sadd", key);
            }
        }
        None => {
            let mut s = SetVal::create_for(argv[2]);
            for m in &argv[2..] {
                if s.add(m, max) {
                    added += 1;
                }
            }
            ctx.ks.add(db, key, Value::Set(Box::new(s)));
            ctx.ks.dirty += (added as u64).saturating_sub(1);
            ctx.notify(notify::SET, "sadd", key);
        }
    }
    ctx.out.int(added);
    Ok(())
}

pub fn srem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    let key = argv[1];
    let Some(i) = ctx.ks.lookup_write(db, key) else {
        ctx.out.int(0);
        return Ok(());
    };
    let s = set_mut(ctx, i).ok_or(CmdError::WrongType)?;
    let mut deleted = 0i64;
    for m in &argv[2..] {
        if s.remove(m) {
            deleted += 1;
            if s.is_empty() {
                break;
            }
        }
    }
    let empty = s.is_empty();
    if empty {
        delete_quiet(ctx, key);
    }
    if deleted > 0 {
        if !empty {
            ctx.ks.signal_modified(db, key);
        }
        ctx.ks.dirty += deleted as u64;
        ctx.notify(notify::SET, "srem", key);
        if empty {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    ctx.out.int(deleted);
    Ok(())
}

pub fn scard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = match ctx.ks.lookup_read(ctx.db, argv[1]) {
        Some(i) => set_ref(ctx.ks, ctx.db, i)?.len() as i64,
        None => 0,
    };
    ctx.out.int(n);
    Ok(())
}

pub fn sismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = match ctx.ks.lookup_read(ctx.db, argv[1]) {
        Some(i) => set_ref(ctx.ks, ctx.db, i)?.contains(argv[2]),
        None => false,
    };
    ctx.out.int(i64::from(r));
    Ok(())
}

pub fn smismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found = ctx.ks.lookup_read(ctx.db, argv[1]);
    let s = match found {
        Some(i) => Some(set_ref(ctx.ks, ctx.db, i)?),
        None => None,
    };
    let out = &mut *ctx.out;
    out.array(argv.len() - 2);
    for m in &argv[2..] {
        out.int(i64::from(s.is_some_and(|s| s.contains(m))));
    }
    Ok(())
}

fn reply_whole(out: &mut Reply, s: &SetVal) {
    out.set(s.len());
    for m in s.iter() {
        reply_member(out, m);
    }
}

pub fn smembers(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(i) = ctx.ks.lookup_read(ctx.db, argv[1]) else {
        ctx.out.set(0);
        return Ok(());
    };
    let s = match &ctx.ks.entry(ctx.db, i).val {
        Value::Set(s) => s,
        _ => return Err(CmdError::WrongType),
    };
    reply_whole(ctx.out, s);
    Ok(())
}

/// Redis's getPositiveLongFromObjectOrReply with no custom message.
fn positive_count(a: &[u8]) -> Result<u64, CmdError> {
    match crate::util::parse_i64(a) {
        Some(v) if v >= 0 => Ok(v as u64),
        _ => Err(CmdError::msg("ERR value is out of range, must be positive")),
    }
}

pub fn spop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 3 {
        return spop_count(ctx, argv);
    }
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let db = ctx.db;
    let key = argv[1];
    let Some(i) = ctx.ks.lookup_write(db, key) else {
        ctx.out.null();
        return Ok(());
    };
    if !is_set(ctx, i) {
        return Err(CmdError::WrongType);
    }
    let ks = &mut *ctx.ks;
    let (m, empty) = match &mut ks.dbs[db].table.entry_mut(i).val {
        Value::Set(s) => (s.pop_random(&mut ks.rng), s.is_empty()),
        _ => return Err(CmdError::WrongType),
    };
    ctx.notify(notify::SET, "spop", key);
    ctx.out.bulk(&m);
    // The member was chosen at random: replay removes that member.
    ctx.propagate_as(&[b"SREM", key, &m]);
    if empty {
        delete_quiet(ctx, key);
        ctx.notify(notify::GENERIC, "del", key);
    } else {
        ctx.ks.signal_modified(db, key);
    }
    ctx.ks.dirty += 1;
    Ok(())
}

/// SPOP's remaining*MUL > count threshold: pop one by one, else rebuild.
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;

fn spop_count(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let count = positive_count(argv[2])?;
    let db = ctx.db;
    let key = argv[1];
    let Some(i) = ctx.ks.lookup_write(db, key) else {
        ctx.out.set(0);
        return Ok(());
    };
    if !is_set(ctx, i) {
        return Err(CmdError::WrongType);
    }
    if count == 0 {
        ctx.out.set(0);
        return Ok(());
    }
    ctx.notify(notify::SET, "spop", key);
    let max = max_entries(ctx);
    let ks = &mut *ctx.ks;
    let out = &mut *ctx.out;
    let Value::Set(s) = &mut ks.dbs[db].table.entry_mut(i).val else {
        return Err(CmdError::WrongType);
    };
    let size = s.len() as u64;
    if count >= size {
        // Redis serves this through SUNION's code, whose read lookup counts a hit.
        ks.stats.hits += 1;
        reply_whole(out, s);
        delete_quiet(ctx, key);
        ctx.notify(notify::GENERIC, "del", key);
        ctx.propagate_as(&[b"DEL", key]);
        ctx.ks.dirty += 1;
        return Ok(());
    }
    let remaining = size - count;
    out.set(count as usize);
    let prop = ks.prop_enabled;
    let mut popped: Vec<Vec<u8>> = Vec::new();
    if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        for _ in 0..count {
            let m = s.pop_random(&mut ks.rng);
            out.bulk(&m);
            if prop {
                popped.push(m);
            }
        }
    } else {
        // Keep `remaining` random members in a fresh set (Redis's case 3,
        // which may turn a hashtable back into an intset), reply the rest.
        let mut keep: Vec<Vec<u8>> = Vec::with_capacity(remaining as usize);
        for _ in 0..remaining {
            keep.push(s.pop_random(&mut ks.rng));
        }
        for m in s.iter() {
            reply_member(out, m);
            if prop {
                popped.push(m.to_vec());
            }
        }
        let mut newset = SetVal::create_for(keep.first().map_or(&b""[..], |k| &k[..]));
        for m in &keep {
            newset.add(m, max);
        }
        **s = newset;
    }
    // Redis propagates the random choice as SREMs of up to 1024 members.
    for batch in popped.chunks(1024) {
        let mut argv: Vec<&[u8]> = vec![b"SREM", key];
        argv.extend(batch.iter().map(|m| m.as_slice()));
        ctx.propagate_as(&argv);
    }
    ctx.ks.signal_modified(db, key);
    ctx.ks.dirty += 1;
    Ok(())
}

pub fn srandmember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 3 {
        return srandmember_count(ctx, argv);
    }
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let db = ctx.db;
    let Some(i) = ctx.ks.lookup_read(db, argv[1]) else {
        ctx.out.null();
        return Ok(());
    };
    let ks = &mut *ctx.ks;
    let Value::Set(s) = &ks.dbs[db].table.entry(i).val else {
        return Err(CmdError::WrongType);
    };
    let m = s.random(&mut ks.rng);
    reply_member(ctx.out, m);
    Ok(())
}

/// Most replies a negative-count SRANDMEMBER may produce (2^24).
const RANDMEMBER_REPEATS_MAX: u64 = 1 << 24;

fn srandmember_count(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let l = arg_i64(argv[2])?;
    if l == i64::MIN {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let (count, uniq) = if l >= 0 {
        (l as u64, true)
    } else {
        (l.unsigned_abs(), false)
    };
    let db = ctx.db;
    let Some(i) = ctx.ks.lookup_read(db, argv[1]) else {
        ctx.out.array(0);
        return Ok(());
    };
    let ks = &mut *ctx.ks;
    let out = &mut *ctx.out;
    let Value::Set(s) = &ks.dbs[db].table.entry(i).val else {
        return Err(CmdError::WrongType);
    };
    if count == 0 {
        out.array(0);
        return Ok(());
    }
    let size = s.len() as u64;
    if !uniq && count > RANDMEMBER_REPEATS_MAX {
        // Redis would stream this many replies and exhaust memory; refuse
        // (same bound as HRANDFIELD).
        return Err(CmdError::msg("ERR value is out of range"));
    }
    if !uniq || count == 1 {
        // Repeats allowed; streamed like Redis (no allocation beyond the reply).
        out.array(count as usize);
        for _ in 0..count {
            reply_member(out, s.random(&mut ks.rng));
        }
        return Ok(());
    }
    if count >= size {
        out.array(size as usize);
        for m in s.iter() {
            reply_member(out, m);
        }
        return Ok(());
    }
    // count < size: distinct random positions.
    let n = size as usize;
    let count = count as usize;
    out.array(count);
    if count * 3 > n {
        let mut idx: Vec<usize> = (0..n).collect();
        for k in 0..count {
            let j = k + ks.rng.below((n - k) as u64) as usize;
            idx.swap(k, j);
        }
        for &p in &idx[..count] {
            reply_member(out, s.at(p));
        }
    } else {
        let mut seen: std::collections::HashSet<usize, foldhash::fast::FixedState> =
            std::collections::HashSet::with_capacity_and_hasher(
                count,
                foldhash::fast::FixedState::default(),
            );
        while seen.len() < count {
            let p = ks.rng.below(n as u64) as usize;
            if seen.insert(p) {
                reply_member(out, s.at(p));
            }
        }
    }
    Ok(())
}

pub fn smove(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    let (src, dst, ele) = (argv[1], argv[2], argv[3]);
    let si = ctx.ks.lookup_write(db, src);
    let di = ctx.ks.lookup_write(db, dst);
    let Some(si) = si else {
        ctx.out.int(0);
        return Ok(());
    };
    if !is_set(ctx, si) || di.is_some_and(|d| !is_set(ctx, d)) {
        return Err(CmdError::WrongType);
    }
    if src == dst {
        let r = set_ref(ctx.ks, ctx.db, si)?.contains(ele);
        ctx.out.int(i64::from(r));
        return Ok(());
    }
    let max = max_entries(ctx);
    let s = set_mut(ctx, si).ok_or(CmdError::WrongType)?;
    if !s.remove(ele) {
        ctx.out.int(0);
        return Ok(());
    }
    let emptied = s.is_empty();
    ctx.notify(notify::SET, "srem", src);
    if emptied {
        delete_quiet(ctx, src);
        ctx.notify(notify::GENERIC, "del", src);
    }
    ctx.ks.signal_modified(db, src);
    ctx.ks.dirty += 1;
    match di {
        Some(d) => {
            let added = set_mut(ctx, d).is_some_and(|t| t.add(ele, max));
            if added {
                ctx.ks.signal_modified(db, dst);
                ctx.ks.dirty += 1;
                ctx.notify(notify::SET, "sadd", dst);
            }
        }
        None => {
            let mut t = SetVal::create_for(ele);
            t.add(ele, max);
            ctx.ks.add(db, dst, Value::Set(Box::new(t)));
            ctx.notify(notify::SET, "sadd", dst);
        }
    }
    ctx.out.int(1);
    Ok(())
}

/// Look up every source key (read lookups, counting hits/misses, even for
/// the *STORE forms, as Redis 7.0 does), failing on the first one that is
/// not a set. None = missing key.
fn lookup_sets(ctx: &mut Ctx, keys: &[&[u8]]) -> Result<Vec<Option<u32>>, CmdError> {
    let db = ctx.db;
    let mut idx = Vec::with_capacity(keys.len());
    for k in keys {
        let i = ctx.ks.lookup_read(db, k);
        if let Some(i) = i {
            if !is_set(ctx, i) {
                return Err(CmdError::WrongType);
            }
        }
        idx.push(i);
    }
    Ok(idx)
}

fn sets_of<'a>(ks: &'a Keyspace, db: usize, idx: &[Option<u32>]) -> Vec<Option<&'a SetVal>> {
    idx.iter()
        .map(|i| {
            i.and_then(|i| match &ks.entry(db, i).val {
                Value::Set(s) => Some(&**s),
                _ => None,
            })
        })
        .collect()
}

/// Store `result` at `dst` (or delete `dst` when empty) and reply the count;
/// `event` is the command's keyspace event ("sinterstore", ...).
fn store_result(ctx: &mut Ctx, dst: &[u8], result: SetVal, event: &str) {
    let n = result.len();
    // Redis replies before publishing here (the order a RESP3 client
    // subscribed to its own keys sees).
    ctx.out.int(n as i64);
    if n > 0 {
        ctx.ks.set(ctx.db, dst, Value::Set(Box::new(result)), false);
        ctx.notify(notify::SET, event, dst);
    } else if ctx.ks.delete(ctx.db, dst) {
        ctx.notify(notify::GENERIC, "del", dst);
    }
}

enum InterMode<'a> {
    Reply,
    Card(u64),
    Store(&'a [u8]),
}

fn sinter_generic(ctx: &mut Ctx, keys: &[&[u8]], mode: InterMode) -> CmdResult {
    let idx = lookup_sets(ctx, keys)?;
    if idx.iter().any(|i| i.is_none()) {
        match mode {
            InterMode::Store(dst) => {
                if ctx.ks.delete(ctx.db, dst) {
                    ctx.notify(notify::GENERIC, "del", dst);
                }
                ctx.out.int(0);
            }
            InterMode::Card(_) => ctx.out.int(0),
            InterMode::Reply => ctx.out.set(0),
        }
        return Ok(());
    }
    let max = max_entries(ctx);
    let mut sets: Vec<&SetVal> = sets_of(ctx.ks, ctx.db, &idx)
        .into_iter()
        .flatten()
        .collect();
    sets.sort_by_key(|s| s.len());
    let Some((first, rest)) = sets.split_first() else {
        ctx.out.set(0);
        return Ok(());
    };
    let members = first
        .iter()
        .filter(|&m| rest.iter().all(|s| s.contains_member(m)));
    match mode {
        InterMode::Card(limit) => {
            let mut n = 0u64;
            for _ in members {
                n += 1;
                if limit != 0 && n >= limit {
                    break;
                }
            }
            ctx.out.int(n as i64);
        }
        InterMode::Reply => {
            let found: Vec<Member> = members.collect();
            ctx.out.set(found.len());
            for m in found {
                reply_member(ctx.out, m);
            }
        }
        InterMode::Store(dst) => {
            let mut result = SetVal::default();
            for m in members {
                result.add_member(m, max);
            }
            store_result(ctx, dst, result, "sinterstore");
        }
    }
    Ok(())
}

#[derive(PartialEq, Clone, Copy)]
enum Op {
    Union,
    Diff,
}

fn sunion_diff_generic(ctx: &mut Ctx, keys: &[&[u8]], dst: Option<&[u8]>, op: Op) -> CmdResult {
    let idx = lookup_sets(ctx, keys)?;
    let max = max_entries(ctx);
    let sets = sets_of(ctx.ks, ctx.db, &idx);
    let mut result = SetVal::default();
    match op {
        Op::Union => {
            for s in sets.iter().flatten() {
                for m in s.iter() {
                    result.add_member(m, max);
                }
            }
        }
        Op::Diff => {
            if let Some(Some(first)) = sets.first() {
                let others: Vec<&SetVal> = sets[1..].iter().flatten().copied().collect();
                if !others.iter().any(|o| std::ptr::eq(*o, *first)) {
                    for m in first.iter() {
                        if !others.iter().any(|o| o.contains_member(m)) {
                            result.add_member(m, max);
                        }
                    }
                }
            }
        }
    }
    match dst {
        Some(d) => {
            let event = if op == Op::Union {
                "sunionstore"
            } else {
                "sdiffstore"
            };
            store_result(ctx, d, result, event)
        }
        None => reply_whole(ctx.out, &result),
    }
    Ok(())
}

pub fn sinter(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sinter_generic(ctx, &argv[1..], InterMode::Reply)
}

pub fn sintercard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let numkeys = match crate::util::parse_i64(argv[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(CmdError::msg("ERR numkeys should be greater than 0")),
    };
    if numkeys > (argv.len() - 2) as u64 {
        return Err(CmdError::msg(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let nk = numkeys as usize;
    let mut limit = 0u64;
    let mut j = 2 + nk;
    while j < argv.len() {
        let moreargs = argv.len() - 1 - j;
        if eq_ic(argv[j], "limit") && moreargs > 0 {
            j += 1;
            limit = match crate::util::parse_i64(argv[j]) {
                Some(v) if v >= 0 => v as u64,
                _ => return Err(CmdError::msg("ERR LIMIT can't be negative")),
            };
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    sinter_generic(ctx, &argv[2..2 + nk], InterMode::Card(limit))
}

pub fn sinterstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sinter_generic(ctx, &argv[2..], InterMode::Store(argv[1]))
}

pub fn sunion(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sunion_diff_generic(ctx, &argv[1..], None, Op::Union)
}

pub fn sunionstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sunion_diff_generic(ctx, &argv[2..], Some(argv[1]), Op::Union)
}

pub fn sdiff(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sunion_diff_generic(ctx, &argv[1..], None, Op::Diff)
}

pub fn sdiffstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sunion_diff_generic(ctx, &argv[2..], Some(argv[1]), Op::Diff)
}

pub fn sscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(mut cursor) = crate::util::parse_scan_cursor(argv[2]) else {
        return Err(CmdError::msg("ERR invalid cursor"));
    };
    let Some(i) = ctx.ks.lookup_read(ctx.db, argv[1]) else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    if !is_set(ctx, i) {
        return Err(CmdError::WrongType);
    }
    let super::ScanOpts { count, pat, .. } = super::parse_scan_opts(argv, 3, false)?;
    let s = set_ref(ctx.ks, ctx.db, i)?;
    let mut found: Vec<Member> = Vec::new();
    match s.table() {
        None => {
            found.extend(s.iter());
            cursor = 0;
        }
        Some(t) => {
            let mut maxiter = count.saturating_mul(10);
            loop {
                cursor = t.scan_step(cursor, |m| found.push(Member::Bytes(m)));
                maxiter -= 1;
                if cursor == 0 || maxiter <= 0 || found.len() as i64 >= count {
                    break;
                }
            }
        }
    }
    if let Some(p) = pat {
        let mut buf = Vec::with_capacity(24);
        found.retain(|m| match *m {
            Member::Bytes(b) => glob_match(p, b, false),
            Member::Int(_) => {
                m.write_to(&mut buf);
                glob_match(p, &buf, false)
            }
        });
    }
    let out = &mut *ctx.out;
    out.array(2);
    let mut c = Vec::with_capacity(20);
    crate::util::push_u64(&mut c, cursor);
    out.bulk(&c);
    out.array(found.len());
    for m in found {
        reply_member(out, m);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::server::TestServer;

    #[test]
    fn basics() {
        let mut t = TestServer::new();
        assert_eq!(t.run(&["SADD", "s", "3", "1", "2", "1"]), ":3\r\n");
        assert_eq!(t.run(&["OBJECT", "ENCODING", "s"]), "$6\r\nintset\r\n");
        assert_eq!(
            t.run(&["SMEMBERS", "s"]),
            "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        assert_eq!(t.run(&["SADD", "s", "a"]), ":1\r\n");
        assert_eq!(t.run(&["OBJECT", "ENCODING", "s"]), "$9\r\nhashtable\r\n");
        assert_eq!(t.run(&["SCARD", "s"]), ":4\r\n");
        assert_eq!(t.run(&["SREM", "s", "a", "1", "2", "3", "x"]), ":4\r\n");
        assert_eq!(t.run(&["EXISTS", "s"]), ":0\r\n");
        assert_eq!(t.run(&["SADD", "s", "1", "2"]), ":2\r\n");
        assert_eq!(t.run(&["SPOP", "s", "5"]), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
        assert_eq!(t.run(&["EXISTS", "s"]), ":0\r\n");
    }

    #[test]
    fn spop_srandmember_counts() {
        let mut t = TestServer::new();
        let mut args = vec!["SADD".to_string(), "s".into()];
        for i in 0..600 {
            args.push(i.to_string());
        }
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        assert_eq!(t.run(&a), ":600\r\n");
        assert_eq!(t.run(&["OBJECT", "ENCODING", "s"]), "$9\r\nhashtable\r\n");
        assert!(t
            .run(&["SRANDMEMBER", "s", "-1000"])
            .starts_with("*1000\r\n"));
        assert!(t.run(&["SRANDMEMBER", "s", "500"]).starts_with("*500\r\n"));
        assert!(t.run(&["SRANDMEMBER", "s", "50"]).starts_with("*50\r\n"));
        assert!(t.run(&["SPOP", "s", "10"]).starts_with("*10\r\n"));
        assert_eq!(t.run(&["SCARD", "s"]), ":590\r\n");
        assert!(t.run(&["SPOP", "s", "500"]).starts_with("*500\r\n"));
        assert_eq!(t.run(&["SCARD", "s"]), ":90\r\n");
        // Redis's case 3 rebuilds the remaining members: back to an intset.
        assert_eq!(t.run(&["OBJECT", "ENCODING", "s"]), "$6\r\nintset\r\n");
        assert_eq!(
            t.run(&["SRANDMEMBER", "s", "-9223372036854775808"])
                .starts_with("-ERR value is out of range"),
            true
        );
    }

    #[test]
    fn store_sources_count_keyspace_hits() {
        let mut t = TestServer::new();
        t.run(&["SADD", "a", "1", "2"]);
        t.run(&["SADD", "b", "2", "-9223372036854775808", "x"]);
        let h0 = t.srv.ks.stats.hits;
        assert_eq!(t.run(&["SINTERSTORE", "d", "a", "b"]), ":1\r\n");
        assert_eq!(t.srv.ks.stats.hits, h0 + 2);
        assert_eq!(t.run(&["SADD", "a", "-9223372036854775808"]), ":1\r\n");
        assert_eq!(t.run(&["SINTERCARD", "2", "a", "b"]), ":2\r\n");
        let h1 = t.srv.ks.stats.hits;
        t.run(&["SMOVE", "a", "b", "1"]);
        assert_eq!(t.srv.ks.stats.hits, h1);
        t.run(&["SPOP", "a", "10"]);
        assert_eq!(t.srv.ks.stats.hits, h1 + 1);
    }

    #[test]
    fn sscan_full_iteration() {
        let mut t = TestServer::new();
        for i in 0..200 {
            t.run(&["SADD", "s", &format!("m{i}")]);
        }
        let mut cursor = "0".to_string();
        let mut n = 0;
        loop {
            let r = t.run(&["SSCAN", "s", &cursor, "COUNT", "7"]);
            let mut lines = r.split("\r\n");
            lines.next();
            lines.next();
            cursor = lines.next().unwrap_or("0").to_string();
            n += r.matches("$").count() - 1;
            if cursor == "0" {
                break;
            }
        }
        assert!(n >= 200);
    }
}
