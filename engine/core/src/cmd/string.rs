//! The string group: GET SET (all options) SETNX SETEX PSETEX GETSET GETDEL
//! GETEX MGET MSET MSETNX APPEND STRLEN GETRANGE/SUBSTR SETRANGE INCR DECR
//! INCRBY DECRBY INCRBYFLOAT LCS. Semantics and error texts follow Redis 7's
//! t_string.c, including the order in which errors are detected.

use super::{arg_i64, notify, reply_value, Ctx};
use crate::db::table::NO_EXPIRE;
use crate::db::Value;
use crate::error::{CmdError, CmdResult};
use crate::util::eq_ic;

/// The string bytes of entry `i` (ints formatted into `scratch`), or WRONGTYPE.
pub fn string_of<'a>(ctx: &'a Ctx, i: u32, scratch: &'a mut Vec<u8>) -> Result<&'a [u8], CmdError> {
    ctx.ks
        .entry(ctx.db, i)
        .val
        .str_bytes(scratch)
        .ok_or(CmdError::WrongType)
}

/// Redis's checkStringLength.
pub fn check_len(ctx: &Ctx, size: u64, append: u64) -> CmdResult {
    match size.checked_add(append) {
        Some(t) if t <= ctx.cfg.proto_max_bulk_len as u64 => Ok(()),
        _ => Err(CmdError::msg(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        )),
    }
}

pub fn get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    match ctx.ks.lookup_read(ctx.db, argv[1]) {
        None => ctx.out.null(),
        Some(i) => {
            let v = &ctx.ks.entry(ctx.db, i).val;
            if !v.is_string() {
                return Err(CmdError::WrongType);
            }
            reply_value(ctx.out, v);
        }
    }
    Ok(())
}

const F_NX: u32 = 1;
const F_XX: u32 = 2;
const F_GET: u32 = 4;
const F_KEEPTTL: u32 = 8;
const F_PERSIST: u32 = 16;
const F_EX: u32 = 32;
const F_PX: u32 = 64;
const F_EXAT: u32 = 128;
const F_PXAT: u32 = 256;
const ANY_EXP: u32 = F_EX | F_PX | F_EXAT | F_PXAT;

#[derive(PartialEq)]
enum Kind {
    Set,
    Get,
}

/// Redis's parseExtendedStringArgumentsOrReply. Returns (flags, expire arg).
fn parse_ext<'a>(
    argv: &[&'a [u8]],
    from: usize,
    kind: Kind,
) -> Result<(u32, Option<&'a [u8]>), CmdError> {
    let mut flags = 0u32;
    let mut expire = None;
    let mut j = from;
    while j < argv.len() {
        let opt = argv[j];
        let next = argv.get(j + 1).copied();
        let set = kind == Kind::Set;
        if eq_ic(opt, "nx") && flags & F_XX == 0 && set {
            flags |= F_NX;
        } else if eq_ic(opt, "xx") && flags & F_NX == 0 && set {
            flags |= F_XX;
        } else if eq_ic(opt, "get") && set {
            flags |= F_GET;
        } else if eq_ic(opt, "keepttl") && flags & (F_PERSIST | ANY_EXP) == 0 && set {
            flags |= F_KEEPTTL;
        } else if eq_ic(opt, "persist") && kind == Kind::Get && flags & (ANY_EXP | F_KEEPTTL) == 0 {
            flags |= F_PERSIST;
        } else if eq_ic(opt, "ex")
            && flags & (F_KEEPTTL | F_PERSIST | F_EXAT | F_PX | F_PXAT) == 0
            && next.is_some()
        {
            flags |= F_EX;
            expire = next;
            j += 1;
        } else if eq_ic(opt, "px")
            && flags & (F_KEEPTTL | F_PERSIST | F_EX | F_EXAT | F_PXAT) == 0
            && next.is_some()
        {
            flags |= F_PX;
            expire = next;
            j += 1;
        } else if eq_ic(opt, "exat")
            && flags & (F_KEEPTTL | F_PERSIST | F_EX | F_PX | F_PXAT) == 0
            && next.is_some()
        {
            flags |= F_EXAT;
            expire = next;
            j += 1;
        } else if eq_ic(opt, "pxat")
            && flags & (F_KEEPTTL | F_PERSIST | F_EX | F_EXAT | F_PX) == 0
            && next.is_some()
        {
            flags |= F_PXAT;
            expire = next;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok((flags, expire))
}

/// Redis's getExpireMillisecondsOrReply: absolute ms, validated.
fn expire_ms(ctx: &Ctx, arg: &[u8], flags: u32, cmd: &str) -> Result<i64, CmdError> {
    let v = arg_i64(arg)?;
    let bad = || CmdError::msg(format!("ERR invalid expire time in '{cmd}' command"));
    let seconds = flags & (F_EX | F_EXAT) != 0;
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(bad());
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if flags & (F_EX | F_PX) != 0 {
        ms = ms.checked_add(ctx.now_ms()).ok_or_else(bad)?;
    }
    if ms <= 0 {
        return Err(bad());
    }
    Ok(ms)
}

/// Redis's setGenericCommand. `replies` = (ok, aborted) integer replies for SETNX.
fn set_generic(
    ctx: &mut Ctx,
    flags: u32,
    key: &[u8],
    val: &[u8],
    expire: Option<&[u8]>,
    cmd: &str,
    int_replies: bool,
) -> CmdResult {
    let when = match expire {
        Some(e) => Some(expire_ms(ctx, e, flags, cmd)?),
        None => None,
    };
    if flags & F_GET != 0 {
        get(ctx, &[b"get", key])?;
    }
    let found = ctx.ks.lookup_write(ctx.db, key).is_some();
    if (flags & F_NX != 0 && found) || (flags & F_XX != 0 && !found) {
        if flags & F_GET == 0 {
            if int_replies {
                ctx.out.int(0);
            } else {
                ctx.out.null();
            }
        }
        return Ok(());
    }
    let i = ctx
        .ks
        .set(ctx.db, key, Value::from_input(val), flags & F_KEEPTTL != 0);
    ctx.notify(notify::STRING, "set", key);
    if let Some(at) = when {
        ctx.ks.set_expire(ctx.db, i, at);
        ctx.notify(notify::GENERIC, "expire", key);
        // Redis propagates any relative or second-based expiry as PXAT.
        if ctx.propagating() {
            ctx.propagate_as(&[b"SET", key, val, b"PXAT", &crate::util::i64_bytes(at)]);
        }
    }
    if flags & F_GET == 0 {
        if int_replies {
            ctx.out.int(1);
        } else {
            ctx.out.ok();
        }
    }
    Ok(())
}

pub fn set(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (flags, expire) = parse_ext(argv, 3, Kind::Set)?;
    set_generic(ctx, flags, argv[1], argv[2], expire, "set", false)
}

pub fn setnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_generic(ctx, F_NX, argv[1], argv[2], None, "setnx", true)
}

pub fn setex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_generic(ctx, F_EX, argv[1], argv[3], Some(argv[2]), "setex", false)
}

pub fn psetex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_generic(ctx, F_PX, argv[1], argv[3], Some(argv[2]), "psetex", false)
}

pub fn getset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    get(ctx, argv)?;
    ctx.ks
        .set(ctx.db, argv[1], Value::from_input(argv[2]), false);
    ctx.notify(notify::STRING, "set", argv[1]);
    ctx.propagate_as(&[b"SET", argv[1], argv[2]]);
    Ok(())
}

pub fn getdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    get(ctx, argv)?;
    if ctx.ks.delete(ctx.db, argv[1]) {
        ctx.notify(notify::GENERIC, "del", argv[1]);
        ctx.propagate_as(&[b"DEL", argv[1]]);
    }
    Ok(())
}

pub fn getex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (flags, expire) = parse_ext(argv, 2, Kind::Get)?;
    let Some(i) = ctx.ks.lookup_read(ctx.db, argv[1]) else {
        ctx.out.null();
        return Ok(());
    };
    if !ctx.ks.entry(ctx.db, i).val.is_string() {
        return Err(CmdError::WrongType);
    }
    let when = match expire {
        Some(e) => Some(expire_ms(ctx, e, flags, "getex")?),
        None => None,
    };
    reply_value(ctx.out, &ctx.ks.entry(ctx.db, i).val);
    if let Some(at) = when {
        if flags & (F_EXAT | F_PXAT) != 0 && ctx.ks.already_expired(at) {
            ctx.ks.delete(ctx.db, argv[1]);
            ctx.notify(notify::GENERIC, "del", argv[1]);
            let del: &[u8] = if ctx.ks.lazy_expire {
                b"UNLINK"
            } else {
                b"DEL"
            };
            ctx.propagate_as(&[del, argv[1]]);
        } else {
            ctx.ks.set_expire(ctx.db, i, at);
            ctx.ks.signal_modified(ctx.db, argv[1]);
            ctx.ks.dirty += 1;
            ctx.notify(notify::GENERIC, "expire", argv[1]);
            ctx.propagate_as(&[b"PEXPIREAT", argv[1], &crate::util::i64_bytes(at)]);
        }
    } else if flags & F_PERSIST != 0 && ctx.ks.expire_of(ctx.db, i) != NO_EXPIRE {
        ctx.ks.set_expire(ctx.db, i, NO_EXPIRE);
        ctx.ks.signal_modified(ctx.db, argv[1]);
        ctx.ks.dirty += 1;
        ctx.notify(notify::GENERIC, "persist", argv[1]);
        ctx.propagate_as(&[b"PERSIST", argv[1]]);
    }
    Ok(())
}

pub fn mget(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.out.array(argv.len() - 1);
    for k in &argv[1..] {
        match ctx.ks.lookup_read(ctx.db, k) {
            Some(i) if ctx.ks.entry(ctx.db, i).val.is_string() => {
                reply_value(ctx.out, &ctx.ks.entry(ctx.db, i).val);
            }
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx, argv: &[&[u8]], nx: bool, name: &str) -> CmdResult {
    if argv.len() % 2 == 0 {
        return Err(CmdError::Arity(name.into()));
    }
    if nx {
        for k in argv[1..].iter().step_by(2) {
            if ctx.ks.lookup_write(ctx.db, k).is_some() {
                ctx.out.int(0);
                return Ok(());
            }
        }
    }
    for kv in argv[1..].chunks(2) {
        ctx.ks.set(ctx.db, kv[0], Value::from_input(kv[1]), false);
        ctx.notify(notify::STRING, "set", kv[0]);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

pub fn mset(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    mset_generic(ctx, argv, false, "mset")
}

pub fn msetnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    mset_generic(ctx, argv, true, "msetnx")
}

pub fn append(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    match ctx.ks.lookup_write(db, argv[1]) {
        None => {
            let v = Value::from_input(argv[2]);
            ctx.ks.add(db, argv[1], v);
            ctx.notify(notify::STRING, "append", argv[1]);
            ctx.out.int(argv[2].len() as i64);
        }
        Some(i) => {
            let cur_len = match &ctx.ks.entry(db, i).val {
                Value::Int(n) => crate::util::i64_bytes(*n).len(),
                v if v.is_string() => v.str_data().map_or(0, <[u8]>::len),
                _ => return Err(CmdError::WrongType),
            };
            check_len(ctx, cur_len as u64, argv[2].len() as u64)?;
            let data = ctx
                .ks
                .entry_mut(db, i)
                .val
                .make_raw()
                .ok_or(CmdError::WrongType)?;
            data.extend_from_slice(argv[2]);
            let n = data.len();
            ctx.ks.signal_modified(db, argv[1]);
            ctx.ks.dirty += 1;
            ctx.notify(notify::STRING, "append", argv[1]);
            ctx.out.int(n as i64);
        }
    }
    Ok(())
}

pub fn strlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = match ctx.ks.lookup_read(ctx.db, argv[1]) {
        None => 0,
        Some(i) => match &ctx.ks.entry(ctx.db, i).val {
            Value::Int(n) => crate::util::i64_bytes(*n).len(),
            v if v.is_string() => v.str_data().map_or(0, <[u8]>::len),
            _ => return Err(CmdError::WrongType),
        },
    };
    ctx.out.int(n as i64);
    Ok(())
}

pub fn getrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut start = arg_i64(argv[2])?;
    let mut end = arg_i64(argv[3])?;
    let Some(i) = ctx.ks.lookup_read(ctx.db, argv[1]) else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let mut scratch = Vec::new();
    let s = string_of(ctx, i, &mut scratch)?;
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start = len.saturating_add(start);
    }
    if end < 0 {
        end = len.saturating_add(end);
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.out.bulk(b"");
    } else {
        let piece = s[start as usize..=end as usize].to_vec();
        ctx.out.bulk(&piece);
    }
    Ok(())
}

pub fn setrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let offset = arg_i64(argv[2])?;
    if offset < 0 {
        return Err(CmdError::msg("ERR offset is out of range"));
    }
    let value = argv[3];
    let db = ctx.db;
    let mut created = false;
    let i = match ctx.ks.lookup_write(db, argv[1]) {
        None => {
            if value.is_empty() {
                ctx.out.int(0);
                return Ok(());
            }
            check_len(ctx, offset as u64, value.len() as u64)?;
            created = true;
            ctx.ks.add(db, argv[1], Value::raw(Vec::new()))
        }
        Some(i) => {
            let olen = match &ctx.ks.entry(db, i).val {
                Value::Int(n) => crate::util::i64_bytes(*n).len(),
                v if v.is_string() => v.str_data().map_or(0, <[u8]>::len),
                _ => return Err(CmdError::WrongType),
            };
            if value.is_empty() {
                ctx.out.int(olen as i64);
                return Ok(());
            }
            check_len(ctx, offset as u64, value.len() as u64)?;
            i
        }
    };
    let data = ctx
        .ks
        .entry_mut(db, i)
        .val
        .make_raw()
        .ok_or(CmdError::WrongType)?;
    let off = offset as usize;
    if data.len() < off + value.len() {
        data.resize(off + value.len(), 0);
    }
    data[off..off + value.len()].copy_from_slice(value);
    let n = data.len();
    if !created {
        // `add` already counted the change and signalled watchers.
        ctx.ks.signal_modified(db, argv[1]);
        ctx.ks.dirty += 1;
    }
    ctx.notify(notify::STRING, "setrange", argv[1]);
    ctx.out.int(n as i64);
    Ok(())
}

fn incr_generic(ctx: &mut Ctx, key: &[u8], incr: i64) -> CmdResult {
    let db = ctx.db;
    let found = ctx.ks.lookup_write(db, key);
    let old = match found {
        None => 0,
        Some(i) => match &ctx.ks.entry(db, i).val {
            Value::Int(n) => *n,
            v => match v.str_data() {
                Some(data) => crate::util::parse_i64(data).ok_or(CmdError::NotInteger)?,
                None => return Err(CmdError::WrongType),
            },
        },
    };
    let new = old.checked_add(incr).ok_or(CmdError::Overflow)?;
    #[cfg(madsim)]
    if crate::planted::fires(ctx.ks, crate::planted::LOST_INCREMENT, 7) {
        ctx.out.int(new);
        return Ok(());
    }
    match found {
        Some(i) => {
            // Overwrite in place: the TTL stays (Redis's dbOverwrite).
            ctx.ks.entry_mut(db, i).val = Value::Int(new);
            ctx.ks.signal_modified(db, key);
            ctx.ks.dirty += 1;
        }
        None => {
            ctx.ks.add(db, key, Value::Int(new));
        }
    }
    ctx.notify(notify::STRING, "incrby", key);
    ctx.out.int(new);
    Ok(())
}

pub fn incr(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    incr_generic(ctx, argv[1], 1)
}

pub fn decr(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    incr_generic(ctx, argv[1], -1)
}

pub fn incrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = arg_i64(argv[2])?;
    incr_generic(ctx, argv[1], n)
}

pub fn decrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = arg_i64(argv[2])?;
    if n == i64::MIN {
        return Err(CmdError::msg("ERR decrement would overflow"));
    }
    incr_generic(ctx, argv[1], -n)
}

pub fn incrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    use crate::float::{incr_by_float, IncrFloatError};
    let db = ctx.db;
    let found = ctx.ks.lookup_write(db, argv[1]);
    let mut scratch = Vec::new();
    let cur: Vec<u8> = match found {
        None => b"0".to_vec(),
        Some(i) => string_of(ctx, i, &mut scratch)?.to_vec(),
    };
    let new = incr_by_float(&cur, argv[2]).map_err(|e| match e {
        IncrFloatError::ValueNotFloat | IncrFloatError::IncrNotFloat => CmdError::NotFloat,
        IncrFloatError::NanOrInf => CmdError::msg("ERR increment would produce NaN or Infinity"),
    })?;
    // Redis replies after the write and its notification.
    let reply = new.clone();
    match found {
        Some(i) => {
            ctx.ks.entry_mut(db, i).val = Value::plain_string(new);
            ctx.ks.signal_modified(db, argv[1]);
            ctx.ks.dirty += 1;
        }
        None => {
            ctx.ks.add(db, argv[1], Value::plain_string(new));
        }
    }
    ctx.notify(notify::STRING, "incrbyfloat", argv[1]);
    // Float text must not be recomputed on replay (precision, locale).
    ctx.propagate_as(&[b"SET", argv[1], &reply, b"KEEPTTL"]);
    ctx.out.bulk(&reply);
    Ok(())
}

pub fn lcs(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    let ia = ctx.ks.lookup_read(db, argv[1]);
    let ib = ctx.ks.lookup_read(db, argv[2]);
    let not_str =
        |i: Option<u32>, ctx: &Ctx| i.is_some_and(|i| !ctx.ks.entry(db, i).val.is_string());
    if not_str(ia, ctx) || not_str(ib, ctx) {
        return Err(CmdError::msg(
            "ERR The specified keys must contain string values",
        ));
    }
    let mut sa = Vec::new();
    let mut sb = Vec::new();
    let a: Vec<u8> = match ia {
        Some(i) => string_of(ctx, i, &mut sa)?.to_vec(),
        None => Vec::new(),
    };
    let b: Vec<u8> = match ib {
        Some(i) => string_of(ctx, i, &mut sb)?.to_vec(),
        None => Vec::new(),
    };
    let (mut getidx, mut getlen, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let opt = argv[j];
        let more = argv.len() - 1 - j;
        if eq_ic(opt, "idx") {
            getidx = true;
        } else if eq_ic(opt, "len") {
            getlen = true;
        } else if eq_ic(opt, "withmatchlen") {
            withmatchlen = true;
        } else if eq_ic(opt, "minmatchlen") && more > 0 {
            minmatchlen = arg_i64(argv[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if getidx && getlen {
        return Err(CmdError::msg(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    if a.len() as u64 >= u64::from(u32::MAX) - 1 || b.len() as u64 >= u64::from(u32::MAX) - 1 {
        return Err(CmdError::msg("ERR String too long for LCS"));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > ctx.cfg.proto_max_bulk_len as u64 {
        return Err(CmdError::msg(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let w = blen + 1;
    let mut t = vec![0u32; cells as usize];
    for i in 1..=alen {
        for jj in 1..=blen {
            t[i * w + jj] = if a[i - 1] == b[jj - 1] {
                t[(i - 1) * w + jj - 1] + 1
            } else {
                t[(i - 1) * w + jj].max(t[i * w + jj - 1])
            };
        }
    }
    let total = t[alen * w + blen];
    let mut idx = total as usize;
    let computelcs = getidx || !getlen;
    let mut result = vec![0u8; if computelcs { idx } else { 0 }];
    let mut ranges: Vec<(usize, usize, usize, usize, usize)> = Vec::new();
    let (mut ars, mut are, mut brs, mut bre) = (alen, 0usize, 0usize, 0usize);
    let (mut i, mut jj) = (alen, blen);
    while computelcs && i > 0 && jj > 0 {
        let mut emit = false;
        if a[i - 1] == b[jj - 1] {
            result[idx - 1] = a[i - 1];
            if ars == alen {
                ars = i - 1;
                are = i - 1;
                brs = jj - 1;
                bre = jj - 1;
            } else if ars == i && brs == jj {
                ars -= 1;
                brs -= 1;
            } else {
                emit = true;
            }
            if ars == 0 || brs == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            if t[(i - 1) * w + jj] > t[i * w + jj - 1] {
                i -= 1;
            } else {
                jj -= 1;
            }
            if ars != alen {
                emit = true;
            }
        }
        let match_len = are.wrapping_sub(ars).wrapping_add(1);
        if emit {
            if minmatchlen == 0 || match_len as i64 >= minmatchlen {
                ranges.push((ars, are, brs, bre, match_len));
            }
            ars = alen;
        }
    }
    if getidx {
        ctx.out.map(2);
        ctx.out.bulk(b"matches");
        ctx.out.array(ranges.len());
        for (a0, a1, b0, b1, ml) in ranges {
            ctx.out.array(if withmatchlen { 3 } else { 2 });
            ctx.out.array(2);
            ctx.out.int(a0 as i64);
            ctx.out.int(a1 as i64);
            ctx.out.array(2);
            ctx.out.int(b0 as i64);
            ctx.out.int(b1 as i64);
            if withmatchlen {
                ctx.out.int(ml as i64);
            }
        }
        ctx.out.bulk(b"len");
        ctx.out.int(i64::from(total));
    } else if getlen {
        ctx.out.int(idx as i64);
    } else {
        ctx.out.bulk(&result);
    }
    Ok(())
}
