//! The generic (keyspace) group: DEL UNLINK EXISTS TYPE KEYS SCAN RANDOMKEY
//! RENAME RENAMENX MOVE COPY SWAPDB FLUSHDB FLUSHALL DBSIZE TOUCH, the EXPIRE
//! family, TTL/PTTL/EXPIRETIME/PEXPIRETIME, PERSIST and OBJECT. Semantics and
//! texts follow Redis 7's db.c, expire.c and object.c.

use super::{arg_i64, notify, Ctx};
use crate::db::table::NO_EXPIRE;
use crate::db::value::SHARED_INTEGERS;
use crate::db::Value;
use crate::error::{CmdError, CmdResult};
use crate::util::{eq_ic, glob_match};

fn same_object() -> CmdError {
    CmdError::msg("ERR source and destination objects are the same")
}

fn db_out_of_range() -> CmdError {
    CmdError::msg("ERR DB index is out of range")
}

/// Redis's getIntFromObjectOrReply: an i64 that fits an int.
pub fn arg_int(a: &[u8], msg: Option<&'static str>) -> Result<i64, CmdError> {
    // Redis's getIntFromObjectOrReply: a long long first, then the int range
    // with its own text (the caller's `msg` replaces both).
    match crate::util::parse_i64(a) {
        Some(v) if i32::try_from(v).is_ok() => Ok(v),
        parsed => Err(match (msg, parsed) {
            (Some(m), _) => CmdError::msg(m),
            (None, None) => CmdError::NotInteger,
            (None, Some(_)) => CmdError::msg(
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            ),
        }),
    }
}

fn db_index(ctx: &Ctx, id: i64) -> Result<usize, CmdError> {
    if id < 0 || id as usize >= ctx.ks.dbs.len() {
        return Err(db_out_of_range());
    }
    Ok(id as usize)
}

pub fn del(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut n = 0;
    for k in &argv[1..] {
        if ctx.ks.delete(ctx.db, k) {
            ctx.notify(notify::GENERIC, "del", k);
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

pub fn exists(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut n = 0;
    for k in &argv[1..] {
        if ctx.ks.lookup(ctx.db, k).is_some() {
            ctx.ks.stats.hits += 1;
            n += 1;
        } else {
            ctx.ks.note_miss(ctx.db, k);
        }
    }
    ctx.out.int(n);
    Ok(())
}

/// Redis's lookupKeyReadWithFlags(LOOKUP_NOTOUCH): stats, no access clock.
fn lookup_notouch(ctx: &mut Ctx, key: &[u8]) -> Option<u32> {
    let i = ctx.ks.lookup(ctx.db, key);
    if i.is_some() {
        ctx.ks.stats.hits += 1;
    } else {
        ctx.ks.note_miss(ctx.db, key);
    }
    i
}

pub fn type_(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let t = match lookup_notouch(ctx, argv[1]) {
        Some(i) => ctx.ks.entry(ctx.db, i).val.type_name(),
        None => "none",
    };
    ctx.out.simple(t);
    Ok(())
}

pub fn keys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let pat = argv[1];
    let all = pat == b"*";
    let db = ctx.db;
    let now = ctx.now_ms();
    let t = &ctx.ks.dbs[db].table;
    let matched: Vec<&[u8]> = t
        .iter()
        .filter(|e| {
            let at = t.expire_of_entry(e);
            at == NO_EXPIRE || now <= at
        })
        .filter(|e| all || glob_match(pat, &e.key, false))
        .map(|e| &*e.key)
        .collect();
    let out = &mut *ctx.out;
    out.array(matched.len());
    for k in matched {
        out.bulk(k);
    }
    Ok(())
}

pub fn scan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(mut cursor) = crate::util::parse_scan_cursor(argv[1]) else {
        return Err(CmdError::msg("ERR invalid cursor"));
    };
    let super::ScanOpts { count, pat, typ } = super::parse_scan_opts(argv, 2, true)?;
    let db = ctx.db;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut maxiter = count.saturating_mul(10);
    loop {
        cursor = ctx.ks.dbs[db]
            .table
            .scan_step(cursor, |_, e| keys.push(e.key.to_vec()));
        maxiter -= 1;
        if cursor == 0 || maxiter <= 0 || keys.len() as i64 >= count {
            break;
        }
    }
    keys.retain(|k| pat.is_none_or(|p| glob_match(p, k, false)));
    let mut out_keys = Vec::with_capacity(keys.len());
    for k in keys {
        let Some(i) = ctx.ks.lookup(db, &k) else {
            continue;
        };
        if let Some(t) = typ {
            if !t.eq_ignore_ascii_case(ctx.ks.entry(db, i).val.type_name().as_bytes()) {
                continue;
            }
        }
        out_keys.push(k);
    }
    ctx.out.array(2);
    let mut c = Vec::new();
    crate::util::push_u64(&mut c, cursor);
    ctx.out.bulk(&c);
    ctx.out.array(out_keys.len());
    for k in out_keys {
        ctx.out.bulk(&k);
    }
    Ok(())
}

pub fn randomkey(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    let mut tries = 100;
    loop {
        let Some(i) = ctx.ks.dbs[db].table.random(&mut ctx.ks.rng) else {
            ctx.out.null();
            return Ok(());
        };
        let e = ctx.ks.entry(db, i);
        let all_volatile = ctx.ks.dbs[db].table.volatile_len() == ctx.ks.dbs[db].table.len();
        if ctx.ks.is_expired(db, i) {
            tries -= 1;
            if all_volatile && tries == 0 {
                // Like Redis: with every key volatile, give up and return one.
                let k = e.key.to_vec();
                ctx.out.bulk(&k);
                return Ok(());
            }
            let k = e.key.to_vec();
            ctx.ks.lookup(db, &k);
            continue;
        }
        let k = e.key.to_vec();
        ctx.out.bulk(&k);
        return Ok(());
    }
}

/// The source of a RENAME/MOVE leaves its database: XREADGROUP clients
/// blocked on it (a stream) must be told it is gone, as Redis's dbDelete
/// does with signalDeletedKeyAsReady (the blocking proptest found MOVE
/// leaving them waiting).
fn signal_stream_gone(ctx: &mut Ctx, db: usize, i: u32, key: &[u8]) {
    if !ctx.ks.dbs[db].blocking.is_empty()
        && matches!(
            ctx.ks.dbs[db].table.entry(i).val,
            crate::db::Value::Stream(_)
        )
    {
        ctx.ks.signal_ready(db, key);
    }
}

fn rename_generic(ctx: &mut Ctx, argv: &[&[u8]], nx: bool) -> CmdResult {
    let db = ctx.db;
    let same = argv[1] == argv[2];
    let Some(i) = ctx.ks.lookup_write(db, argv[1]) else {
        return Err(CmdError::NoSuchKey);
    };
    if same {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if ctx.ks.lookup_write(db, argv[2]).is_some() {
        if nx {
            ctx.out.int(0);
            return Ok(());
        }
        ctx.ks.delete(db, argv[2]);
    }
    // The source index may have moved only if deleting dst shrank the slab.
    let i = ctx.ks.dbs[db].table.find(argv[1]).unwrap_or(i);
    signal_stream_gone(ctx, db, i, argv[1]);
    let (e, expire_ms) = ctx.ks.remove_entry(db, i);
    ctx.ks.signal_modified(db, argv[1]);
    let ni = ctx.ks.add(db, argv[2], e.val);
    ctx.ks.entry_mut(db, ni).lru = e.lru;
    if expire_ms != NO_EXPIRE {
        ctx.ks.set_expire(db, ni, expire_ms);
    }
    ctx.notify(notify::GENERIC, "rename_from", argv[1]);
    ctx.notify(notify::GENERIC, "rename_to", argv[2]);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

pub fn rename(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, false)
}

pub fn renamenx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, true)
}

pub fn move_(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let src = ctx.db;
    let id = arg_int(argv[2], None)?;
    let dst = db_index(ctx, id)?;
    if src == dst {
        return Err(same_object());
    }
    let Some(i) = ctx.ks.lookup_write(src, argv[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    if ctx.ks.lookup_write(dst, argv[1]).is_some() {
        ctx.out.int(0);
        return Ok(());
    }
    signal_stream_gone(ctx, src, i, argv[1]);
    let (e, expire_ms) = ctx.ks.remove_entry(src, i);
    ctx.ks.signal_modified(src, argv[1]);
    let ni = ctx.ks.add(dst, argv[1], e.val);
    if expire_ms != NO_EXPIRE {
        ctx.ks.set_expire(dst, ni, expire_ms);
    }
    ctx.notify_in(src, notify::GENERIC, "move_from", argv[1]);
    ctx.notify_in(dst, notify::GENERIC, "move_to", argv[1]);
    ctx.out.int(1);
    Ok(())
}

pub fn copy(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let src = ctx.db;
    let mut dst = src;
    let mut replace = false;
    let mut j = 3;
    while j < argv.len() {
        let additional = argv.len() - j - 1;
        if eq_ic(argv[j], "replace") {
            replace = true;
        } else if eq_ic(argv[j], "db") && additional > 0 {
            let id = arg_int(argv[j + 1], None)?;
            dst = db_index(ctx, id)?;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if src == dst && argv[1] == argv[2] {
        return Err(same_object());
    }
    let Some(i) = ctx.ks.lookup_read(src, argv[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let val = ctx.ks.entry(src, i).val.clone();
    let expire = ctx.ks.expire_of(src, i);
    if ctx.ks.lookup_write(dst, argv[2]).is_some() {
        if !replace {
            ctx.out.int(0);
            return Ok(());
        }
        ctx.ks.delete(dst, argv[2]);
    }
    let ni = ctx.ks.add(dst, argv[2], val);
    if expire != NO_EXPIRE {
        ctx.ks.set_expire(dst, ni, expire);
    }
    ctx.notify_in(dst, notify::GENERIC, "copy_to", argv[2]);
    ctx.out.int(1);
    Ok(())
}

pub fn swapdb(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let a = arg_int(argv[1], Some("ERR invalid first DB index"))?;
    let b = arg_int(argv[2], Some("ERR invalid second DB index"))?;
    let n = ctx.ks.dbs.len() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return Err(db_out_of_range());
    }
    let (a, b) = (a as usize, b as usize);
    if a != b {
        ctx.ks.abort_snapshot();
        ctx.ks.touch_all_watched(a, Some(b));
        ctx.ks.touch_all_watched(b, Some(a));
        let ta = std::mem::replace(&mut ctx.ks.dbs[a].table, crate::db::table::KeyTable::new(0));
        let tb = std::mem::replace(&mut ctx.ks.dbs[b].table, ta);
        ctx.ks.dbs[a].table = tb;
        let (x, y) = (ctx.ks.dbs[a].avg_ttl_ms, ctx.ks.dbs[b].avg_ttl_ms);
        ctx.ks.dbs[a].avg_ttl_ms = y;
        ctx.ks.dbs[b].avg_ttl_ms = x;
        ctx.ks.signal_all_blocked(a);
        ctx.ks.signal_all_blocked(b);
        ctx.ks.dirty += 1;
    }
    ctx.out.ok();
    Ok(())
}

fn flush_flags(argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 1 || (argv.len() == 2 && (eq_ic(argv[1], "sync") || eq_ic(argv[1], "async"))) {
        Ok(())
    } else {
        Err(CmdError::Syntax)
    }
}

pub fn flushdb(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    flush_flags(argv)?;
    ctx.ks.flush_db(ctx.db);
    ctx.out.ok();
    Ok(())
}

pub fn flushall(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    flush_flags(argv)?;
    for db in 0..ctx.ks.dbs.len() {
        ctx.ks.flush_db(db);
    }
    ctx.out.ok();
    Ok(())
}

pub fn dbsize(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let n = ctx.ks.dbs[ctx.db].table.len();
    ctx.out.int(n as i64);
    Ok(())
}

pub fn touch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut n = 0;
    for k in &argv[1..] {
        if ctx.ks.lookup_read(ctx.db, k).is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

const E_NX: u32 = 1;
const E_XX: u32 = 2;
const E_GT: u32 = 4;
const E_LT: u32 = 8;

fn expire_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    basetime: i64,
    seconds: bool,
    name: &str,
) -> CmdResult {
    let mut flags = 0;
    for opt in &argv[3..] {
        flags |= if eq_ic(opt, "nx") {
            E_NX
        } else if eq_ic(opt, "xx") {
            E_XX
        } else if eq_ic(opt, "gt") {
            E_GT
        } else if eq_ic(opt, "lt") {
            E_LT
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            )));
        };
    }
    if flags & E_NX != 0 && flags & (E_XX | E_GT | E_LT) != 0 {
        return Err(CmdError::msg(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if flags & E_GT != 0 && flags & E_LT != 0 {
        return Err(CmdError::msg(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let mut when = arg_i64(argv[2])?;
    let bad = || CmdError::msg(format!("ERR invalid expire time in '{name}' command"));
    if seconds {
        when = when.checked_mul(1000).ok_or_else(bad)?;
    }
    when = when.checked_add(basetime).ok_or_else(bad)?;
    let db = ctx.db;
    let Some(i) = ctx.ks.lookup_write(db, argv[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    if flags != 0 {
        let cur = ctx.ks.expire_of(db, i);
        let fail = (flags & E_NX != 0 && cur != NO_EXPIRE)
            || (flags & E_XX != 0 && cur == NO_EXPIRE)
            || (flags & E_GT != 0 && (cur == NO_EXPIRE || when <= cur))
            || (flags & E_LT != 0 && cur != NO_EXPIRE && when >= cur);
        if fail {
            ctx.out.int(0);
            return Ok(());
        }
    }
    if ctx.ks.already_expired(when) {
        ctx.ks.delete(db, argv[1]);
        ctx.notify(notify::GENERIC, "del", argv[1]);
        let del: &[u8] = if ctx.ks.lazy_expire {
            b"UNLINK"
        } else {
            b"DEL"
        };
        ctx.propagate_as(&[del, argv[1]]);
        ctx.out.int(1);
    } else {
        ctx.ks.set_expire(db, i, when);
        // Redis replies before publishing "expire" (the order a RESP3
        // client subscribed to its own keys sees).
        ctx.out.int(1);
        ctx.ks.signal_modified(db, argv[1]);
        ctx.ks.dirty += 1;
        ctx.notify(notify::GENERIC, "expire", argv[1]);
        // The options were decided here; replay sets the absolute time.
        ctx.propagate_as(&[b"PEXPIREAT", argv[1], &crate::util::i64_bytes(when)]);
    }
    Ok(())
}

pub fn expire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms();
    expire_generic(ctx, argv, now, true, "expire")
}

pub fn pexpire(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms();
    expire_generic(ctx, argv, now, false, "pexpire")
}

pub fn expireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, 0, true, "expireat")
}

pub fn pexpireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, 0, false, "pexpireat")
}

fn ttl_generic(ctx: &mut Ctx, key: &[u8], ms: bool, abs: bool) -> CmdResult {
    let Some(i) = ctx.ks.lookup(ctx.db, key) else {
        ctx.ks.note_miss(ctx.db, key);
        ctx.out.int(-2);
        return Ok(());
    };
    ctx.ks.stats.hits += 1;
    let exp = ctx.ks.expire_of(ctx.db, i);
    if exp == NO_EXPIRE {
        ctx.out.int(-1);
        return Ok(());
    }
    let ttl = if abs {
        exp
    } else {
        (exp - ctx.now_ms()).max(0)
    };
    // i128: EXPIRETIME of a PEXPIREAT near i64::MAX must not overflow.
    ctx.out.int(if ms {
        ttl
    } else {
        ((i128::from(ttl) + 500) / 1000) as i64
    });
    Ok(())
}

pub fn ttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], false, false)
}

pub fn pttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], true, false)
}

pub fn expiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], false, true)
}

pub fn pexpiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], true, true)
}

pub fn persist(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    let Some(i) = ctx.ks.lookup_write(db, argv[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    if ctx.ks.expire_of(db, i) == NO_EXPIRE {
        ctx.out.int(0);
    } else {
        ctx.ks.set_expire(db, i, NO_EXPIRE);
        ctx.ks.signal_modified(db, argv[1]);
        ctx.ks.dirty += 1;
        ctx.notify(notify::GENERIC, "persist", argv[1]);
        ctx.out.int(1);
    }
    Ok(())
}

/// OBJECT's lookup: no access-clock update, null reply when missing.
fn object_lookup(ctx: &mut Ctx, key: &[u8]) -> Option<u32> {
    let i = lookup_notouch(ctx, key);
    if i.is_none() {
        ctx.out.null();
    }
    i
}

pub fn object_encoding(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if let Some(i) = object_lookup(ctx, argv[2]) {
        let enc = ctx.ks.entry(ctx.db, i).val.encoding();
        ctx.out.bulk(enc.as_bytes());
    }
    Ok(())
}

pub fn object_refcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if let Some(i) = object_lookup(ctx, argv[2]) {
        let shared_ok = ctx.cfg.maxmemory == 0
            || !(ctx.cfg.maxmemory_policy.ends_with("lru")
                || ctx.cfg.maxmemory_policy.ends_with("lfu"));
        let rc = match ctx.ks.entry(ctx.db, i).val {
            Value::Int(n) if (0..SHARED_INTEGERS).contains(&n) && shared_ok => i64::from(i32::MAX),
            _ => 1,
        };
        ctx.out.int(rc);
    }
    Ok(())
}

pub fn object_idletime(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(i) = object_lookup(ctx, argv[2]) else {
        return Ok(());
    };
    if ctx.cfg.is_lfu() {
        return Err(CmdError::msg("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let lru = ctx.ks.entry(ctx.db, i).lru;
    ctx.out.int((ctx.ks.idle_ms(lru) / 1000) as i64);
    Ok(())
}

pub fn object_freq(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(i) = object_lookup(ctx, argv[2]) else {
        return Ok(());
    };
    if !ctx.cfg.is_lfu() {
        return Err(CmdError::msg("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let lru = ctx.ks.entry(ctx.db, i).lru;
    ctx.out.int(i64::from(ctx.ks.lfu_decr_and_return(lru)));
    Ok(())
}

pub fn object_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::conn::help(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}
