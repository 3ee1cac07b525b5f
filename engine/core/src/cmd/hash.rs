//! The hash group: HSET HSETNX HGET HMGET HMSET HGETALL HKEYS HVALS HLEN
//! HEXISTS HDEL HSTRLEN HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN. Semantics,
//! error texts and their order follow Redis 7.0's t_hash.c; `server.dirty`
//! is counted the way Redis counts it (HSET: one per pair given, HDEL: one per
//! field removed).

use super::{arg_i64, notify, Ctx};
use crate::db::hash::{HashVal, Limits};
use crate::db::{Keyspace, Value};
use crate::error::{CmdError, CmdResult};
use crate::util::{eq_ic, glob_match};

/// HRANDFIELD with a negative count replies `|count|` elements; Redis would
/// try (and, for giant counts, hang or crash). We refuse beyond this many.
const RANDFIELD_MAX_REPEATS: u64 = 1 << 24;

fn limits(ctx: &Ctx) -> Limits {
    Limits {
        entries: ctx.cfg.hash_max_listpack_entries,
        value: ctx.cfg.hash_max_listpack_value,
    }
}

fn hash_ref(ks: &Keyspace, db: usize, i: u32) -> Result<&HashVal, CmdError> {
    match &ks.entry(db, i).val {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
}

fn hash_mut(ks: &mut Keyspace, db: usize, i: u32) -> Result<&mut HashVal, CmdError> {
    match &mut ks.entry_mut(db, i).val {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
}

/// Look a hash up for reading: None when missing, WRONGTYPE for other types.
fn lookup_read(ctx: &mut Ctx, key: &[u8]) -> Result<Option<u32>, CmdError> {
    super::lookup_typed(ctx, key, false, |v| matches!(v, Value::Hash(_)))
}

/// Redis's hashTypeLookupWriteOrCreate, minus the dirty count `add` adds
/// (Redis counts a hash write per field, not per key creation).
fn lookup_write_or_create(ctx: &mut Ctx, key: &[u8]) -> Result<u32, CmdError> {
    let db = ctx.db;
    match ctx.ks.lookup_write(db, key) {
        Some(i) => hash_ref(ctx.ks, db, i).map(|_| i),
        None => {
            let i = ctx.ks.add(db, key, Value::Hash(Box::new(HashVal::new())));
            ctx.ks.dirty = ctx.ks.dirty.saturating_sub(1);
            Ok(i)
        }
    }
}

/// After a write: signal, count dirty, delete the key when it became empty.
fn written(ctx: &mut Ctx, key: &[u8], i: u32, dirty: u64) {
    let db = ctx.db;
    let empty = hash_ref(ctx.ks, db, i).is_ok_and(HashVal::is_empty);
    if empty {
        ctx.ks.delete(db, key);
        ctx.ks.dirty = ctx.ks.dirty.saturating_sub(1);
    } else {
        ctx.ks.signal_modified(db, key);
    }
    ctx.ks.dirty += dirty;
}

fn hset_generic(ctx: &mut Ctx, argv: &[&[u8]], name: &str) -> CmdResult {
    if argv.len() % 2 == 1 {
        return Err(CmdError::Arity(name.into()));
    }
    let lim = limits(ctx);
    let i = lookup_write_or_create(ctx, argv[1])?;
    let h = hash_mut(ctx.ks, ctx.db, i)?;
    h.try_conversion(&argv[2..], lim);
    let mut created = 0;
    for p in argv[2..].chunks_exact(2) {
        created += i64::from(h.set(p[0], p[1], lim));
    }
    if name == "hset" {
        ctx.out.int(created);
    } else {
        ctx.out.ok();
    }
    written(ctx, argv[1], i, ((argv.len() - 2) / 2) as u64);
    ctx.notify(notify::HASH, "hset", argv[1]);
    Ok(())
}

pub fn hset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    hset_generic(ctx, argv, "hset")
}

pub fn hmset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    hset_generic(ctx, argv, "hmset")
}

pub fn hsetnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let lim = limits(ctx);
    let i = lookup_write_or_create(ctx, argv[1])?;
    let h = hash_mut(ctx.ks, ctx.db, i)?;
    if h.contains(argv[2]) {
        ctx.out.int(0);
        return Ok(());
    }
    h.try_conversion(&argv[2..4], lim);
    h.set(argv[2], argv[3], lim);
    ctx.out.int(1);
    written(ctx, argv[1], i, 1);
    ctx.notify(notify::HASH, "hset", argv[1]);
    Ok(())
}

pub fn hget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(i) = lookup_read(ctx, argv[1])? else {
        ctx.out.null();
        return Ok(());
    };
    match hash_ref(ctx.ks, ctx.db, i)?.get(argv[2]) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn hmget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found = lookup_read(ctx, argv[1])?;
    let fields = &argv[2..];
    ctx.out.array(fields.len());
    match found {
        None => fields.iter().for_each(|_| ctx.out.null()),
        Some(i) => {
            let h = hash_ref(ctx.ks, ctx.db, i)?;
            for f in fields {
                match h.get(f) {
                    Some(v) => ctx.out.bulk(v),
                    None => ctx.out.null(),
                }
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Keys,
    Vals,
    Both,
}

fn getall_generic(ctx: &mut Ctx, argv: &[&[u8]], part: Part) -> CmdResult {
    let found = lookup_read(ctx, argv[1])?;
    let Some(i) = found else {
        if part == Part::Both {
            ctx.out.map(0);
        } else {
            ctx.out.array(0);
        }
        return Ok(());
    };
    let h = hash_ref(ctx.ks, ctx.db, i)?;
    let out = &mut *ctx.out;
    if part == Part::Both {
        out.map(h.len());
    } else {
        out.array(h.len());
    }
    for (f, v) in h.iter() {
        if part != Part::Vals {
            out.bulk(f);
        }
        if part != Part::Keys {
            out.bulk(v);
        }
    }
    Ok(())
}

pub fn hgetall(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    getall_generic(ctx, argv, Part::Both)
}

pub fn hkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    getall_generic(ctx, argv, Part::Keys)
}

pub fn hvals(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    getall_generic(ctx, argv, Part::Vals)
}

pub fn hlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = match lookup_read(ctx, argv[1])? {
        None => 0,
        Some(i) => hash_ref(ctx.ks, ctx.db, i)?.len(),
    };
    ctx.out.int(n as i64);
    Ok(())
}

pub fn hexists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let yes = match lookup_read(ctx, argv[1])? {
        None => false,
        Some(i) => hash_ref(ctx.ks, ctx.db, i)?.contains(argv[2]),
    };
    ctx.out.int(i64::from(yes));
    Ok(())
}

pub fn hstrlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = match lookup_read(ctx, argv[1])? {
        None => 0,
        Some(i) => hash_ref(ctx.ks, ctx.db, i)?
            .get(argv[2])
            .map_or(0, <[u8]>::len),
    };
    ctx.out.int(n as i64);
    Ok(())
}

pub fn hdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    let Some(i) = ctx.ks.lookup_write(db, argv[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let h = hash_mut(ctx.ks, db, i)?;
    let mut deleted = 0u64;
    for f in &argv[2..] {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    if deleted > 0 {
        let removed = hash_ref(ctx.ks, db, i).is_ok_and(HashVal::is_empty);
        written(ctx, argv[1], i, deleted);
        ctx.notify(notify::HASH, "hdel", argv[1]);
        if removed {
            ctx.notify(notify::GENERIC, "del", argv[1]);
        }
    }
    // Redis replies after publishing (the order a RESP3 self-subscriber sees).
    ctx.out.int(deleted as i64);
    Ok(())
}

pub fn hincrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let incr = arg_i64(argv[3])?;
    let lim = limits(ctx);
    let db = ctx.db;
    let found = ctx.ks.lookup_write(db, argv[1]);
    let old = match found {
        None => 0,
        Some(i) => match hash_ref(ctx.ks, db, i)?.get(argv[2]) {
            None => 0,
            Some(v) => crate::util::parse_i64(v)
                .ok_or_else(|| CmdError::msg("ERR hash value is not an integer"))?,
        },
    };
    let new = old.checked_add(incr).ok_or(CmdError::Overflow)?;
    let i = match found {
        Some(i) => i,
        None => lookup_write_or_create(ctx, argv[1])?,
    };
    let mut buf = Vec::with_capacity(20);
    crate::util::push_i64(&mut buf, new);
    hash_mut(ctx.ks, db, i)?.set(argv[2], &buf, lim);
    ctx.out.int(new);
    written(ctx, argv[1], i, 1);
    ctx.notify(notify::HASH, "hincrby", argv[1]);
    Ok(())
}

pub fn hincrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    use crate::float::{incr_by_float, IncrFloatError};
    // The increment alone: not a float, or infinite (Redis checks before the key).
    match incr_by_float(b"0", argv[3]) {
        Ok(_) => {}
        Err(IncrFloatError::NanOrInf) => return Err(CmdError::msg("ERR value is NaN or Infinity")),
        Err(_) => return Err(CmdError::NotFloat),
    }
    let lim = limits(ctx);
    let db = ctx.db;
    let found = ctx.ks.lookup_write(db, argv[1]);
    let cur: Vec<u8> = match found {
        None => b"0".to_vec(),
        Some(i) => hash_ref(ctx.ks, db, i)?
            .get(argv[2])
            .map_or_else(|| b"0".to_vec(), <[u8]>::to_vec),
    };
    let new = incr_by_float(&cur, argv[3]).map_err(|e| match e {
        IncrFloatError::ValueNotFloat => CmdError::msg("ERR hash value is not a float"),
        IncrFloatError::IncrNotFloat => CmdError::NotFloat,
        IncrFloatError::NanOrInf => CmdError::msg("ERR increment would produce NaN or Infinity"),
    })?;
    let i = match found {
        Some(i) => i,
        None => lookup_write_or_create(ctx, argv[1])?,
    };
    hash_mut(ctx.ks, db, i)?.set(argv[2], &new, lim);
    ctx.out.bulk(&new);
    written(ctx, argv[1], i, 1);
    ctx.notify(notify::HASH, "hincrbyfloat", argv[1]);
    // Float text must not be recomputed on replay.
    ctx.propagate_as(&[b"HSET", argv[1], argv[2], &new]);
    Ok(())
}

pub fn hrandfield(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    if argv.len() >= 3 {
        let l = arg_i64(argv[2])?;
        if l == i64::MIN {
            return Err(CmdError::msg(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ));
        }
        let withvalues = argv.len() == 4;
        if argv.len() > 4 || (withvalues && !eq_ic(argv[3], "withvalues")) {
            return Err(CmdError::Syntax);
        }
        if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return Err(CmdError::msg("ERR value is out of range"));
        }
        return hrandfield_count(ctx, argv[1], l, withvalues);
    }
    let Some(i) = lookup_read(ctx, argv[1])? else {
        ctx.out.null();
        return Ok(());
    };
    let ks = &mut *ctx.ks;
    let h = match &ks.dbs[db].table.entry(i).val {
        Value::Hash(h) => h,
        _ => return Err(CmdError::WrongType),
    };
    match h.random(&mut ks.rng) {
        Some((f, _)) => ctx.out.bulk(f),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hrandfield_count(ctx: &mut Ctx, key: &[u8], l: i64, withvalues: bool) -> CmdResult {
    let db = ctx.db;
    let Some(i) = lookup_read(ctx, key)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let (count, uniq) = if l >= 0 {
        (l as u64, true)
    } else {
        (l.unsigned_abs(), false)
    };
    if count == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let ks = &mut *ctx.ks;
    let out = &mut *ctx.out;
    let rng = &mut ks.rng;
    let h = match &ks.dbs[db].table.entry(i).val {
        Value::Hash(h) => h,
        _ => return Err(CmdError::WrongType),
    };
    let size = h.len() as u64;
    let resp3 = out.resp3;
    let header = |out: &mut crate::resp::Reply, n: u64| {
        out.array(if withvalues && !resp3 {
            n as usize * 2
        } else {
            n as usize
        });
    };
    let emit = |out: &mut crate::resp::Reply, f: &[u8], v: &[u8]| {
        if withvalues && resp3 {
            out.array(2);
        }
        out.bulk(f);
        if withvalues {
            out.bulk(v);
        }
    };
    // Case 1: repeats allowed (negative count), or a single element.
    if !uniq || count == 1 {
        if count > RANDFIELD_MAX_REPEATS {
            return Err(CmdError::msg("ERR value is out of range"));
        }
        header(out, count);
        for _ in 0..count {
            if let Some((f, v)) = h.random(rng) {
                emit(out, f, v);
            }
        }
        return Ok(());
    }
    // Case 2: the whole hash.
    if count >= size {
        header(out, size);
        for (f, v) in h.iter() {
            emit(out, f, v);
        }
        return Ok(());
    }
    // Cases 3/4: `count` distinct elements (count < size, so bounded by the hash).
    let count = count as usize;
    header(out, count as u64);
    if count * 3 > size as usize || matches!(**h, HashVal::Listpack(_)) {
        let mut all: Vec<(&[u8], &[u8])> = h.iter().collect();
        for k in 0..count {
            let j = k + rng.below((all.len() - k) as u64) as usize;
            all.swap(k, j);
            emit(out, all[k].0, all[k].1);
        }
    } else {
        let mut seen: std::collections::HashSet<&[u8], foldhash::fast::FixedState> =
            std::collections::HashSet::with_capacity_and_hasher(
                count,
                foldhash::fast::FixedState::default(),
            );
        while seen.len() < count {
            let Some((f, v)) = h.random(rng) else { break };
            if seen.insert(f) {
                emit(out, f, v);
            }
        }
    }
    Ok(())
}

pub fn hscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = crate::util::parse_scan_cursor(argv[2])
        .ok_or_else(|| CmdError::msg("ERR invalid cursor"))?;
    let Some(i) = lookup_read(ctx, argv[1])? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let super::ScanOpts { count, pat, .. } = super::parse_scan_opts(argv, 3, false)?;
    let h = hash_ref(ctx.ks, ctx.db, i)?;
    let mut pairs: Vec<(&[u8], &[u8])> = Vec::new();
    let next = match h {
        HashVal::Listpack(_) => {
            pairs.extend(h.iter());
            0
        }
        HashVal::Table(_) => h.scan_table(
            cursor,
            usize::try_from(count).unwrap_or(usize::MAX),
            |f, v| pairs.push((f, v)),
        ),
    };
    if let Some(p) = pat {
        pairs.retain(|(f, _)| glob_match(p, f, false));
    }
    let out = &mut *ctx.out;
    out.array(2);
    let mut c = Vec::new();
    crate::util::push_u64(&mut c, next);
    out.bulk(&c);
    out.array(pairs.len() * 2);
    for (f, v) in pairs {
        out.bulk(f);
        out.bulk(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::server::TestServer;

    #[test]
    fn basic_set_get_del() {
        let mut t = TestServer::new();
        assert_eq!(t.run(&["HSET", "h", "a", "1", "b", "2"]), ":2\r\n");
        assert_eq!(t.run(&["HSET", "h", "a", "3"]), ":0\r\n");
        assert_eq!(t.run(&["HGET", "h", "a"]), "$1\r\n3\r\n");
        assert_eq!(
            t.run(&["HGETALL", "h"]),
            "*4\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
        assert_eq!(
            t.run(&["HSET", "h", "a"]),
            "-ERR wrong number of arguments for 'hset' command\r\n"
        );
        assert_eq!(
            t.run(&["HMSET", "h", "a", "1", "b"]),
            "-ERR wrong number of arguments for 'hmset' command\r\n"
        );
        assert_eq!(t.run(&["HDEL", "h", "a", "b", "c"]), ":2\r\n");
        assert_eq!(t.run(&["EXISTS", "h"]), ":0\r\n");
    }

    #[test]
    fn incr_errors() {
        let mut t = TestServer::new();
        t.run(&["HSET", "h", "s", "x", "n", "9223372036854775807"]);
        assert_eq!(
            t.run(&["HINCRBY", "h", "s", "1"]),
            "-ERR hash value is not an integer\r\n"
        );
        assert_eq!(
            t.run(&["HINCRBY", "h", "n", "1"]),
            "-ERR increment or decrement would overflow\r\n"
        );
        assert_eq!(
            t.run(&["HINCRBYFLOAT", "h", "s", "1"]),
            "-ERR hash value is not a float\r\n"
        );
        assert_eq!(
            t.run(&["HINCRBYFLOAT", "h", "s", "inf"]),
            "-ERR value is NaN or Infinity\r\n"
        );
        assert_eq!(t.run(&["HINCRBYFLOAT", "h", "f", "1.5"]), "$3\r\n1.5\r\n");
        assert_eq!(
            t.run(&["HINCRBYFLOAT", "new", "f", "abc"]),
            "-ERR value is not a valid float\r\n"
        );
        assert_eq!(t.run(&["EXISTS", "new"]), ":0\r\n");
    }

    #[test]
    fn randfield_limits() {
        let mut t = TestServer::new();
        t.run(&["HSET", "h", "a", "1"]);
        assert_eq!(
            t.run(&["HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"]),
            "-ERR value is out of range\r\n"
        );
        assert!(t
            .run(&["HRANDFIELD", "h", "-9223372036854775808"])
            .starts_with("-ERR value is out of range, value must"));
        assert_eq!(
            t.run(&["HRANDFIELD", "h", "-3"]),
            "*3\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"
        );
        assert_eq!(
            t.run(&["HRANDFIELD", "h", "5", "WITHVALUES"]),
            "*2\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
        assert_eq!(t.run(&["HRANDFIELD", "nokey", "5"]), "*0\r\n");
    }

    #[test]
    fn encoding_and_scan() {
        let mut t = TestServer::new();
        t.run(&["CONFIG", "SET", "hash-max-listpack-entries", "4"]);
        for i in 0..4 {
            t.run(&["HSET", "h", &format!("f{i}"), "v"]);
        }
        assert_eq!(t.run(&["OBJECT", "ENCODING", "h"]), "$8\r\nlistpack\r\n");
        t.run(&["HSET", "h", "f9", "v"]);
        assert_eq!(t.run(&["OBJECT", "ENCODING", "h"]), "$9\r\nhashtable\r\n");
        t.run(&["HDEL", "h", "f9", "f1"]);
        assert_eq!(t.run(&["OBJECT", "ENCODING", "h"]), "$9\r\nhashtable\r\n");
        assert_eq!(
            t.run(&["HSCAN", "h", "0", "COUNT", "100", "MATCH", "f2"]),
            "*2\r\n$1\r\n0\r\n*2\r\n$2\r\nf2\r\n$1\r\nv\r\n"
        );
    }
}
