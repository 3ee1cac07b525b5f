//! The sorted set group (non-blocking commands). Semantics, error texts and
//! their order follow Redis 7.0's t_zset.c; `server.dirty` is counted the way
//! Redis counts it (ZADD: added+updated, ZREM/ZREMRANGE*: removed, STOREs: 1).

use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::{arg_i64, notify, Ctx};
use crate::db::zset::{LexBound, LexRange, Limits, ScoreRange, ZSetVal};
use crate::db::{Keyspace, Value};
use crate::error::{CmdError, CmdResult};
use crate::util::{eq_ic, glob_match};

/// ZRANDMEMBER with a negative count replies `|count|` elements; refused
/// beyond this many (as HRANDFIELD).
const RAND_MAX_REPEATS: u64 = 1 << 24;

fn limits(ctx: &Ctx) -> Limits {
    Limits {
        entries: ctx.cfg.zset_max_listpack_entries,
        value: ctx.cfg.zset_max_listpack_value,
    }
}

fn zref(ks: &Keyspace, db: usize, i: u32) -> Result<&ZSetVal, CmdError> {
    match &ks.entry(db, i).val {
        Value::ZSet(z) => Ok(z),
        _ => Err(CmdError::WrongType),
    }
}

fn zmut(ks: &mut Keyspace, db: usize, i: u32) -> Result<&mut ZSetVal, CmdError> {
    match &mut ks.entry_mut(db, i).val {
        Value::ZSet(z) => Ok(z),
        _ => Err(CmdError::WrongType),
    }
}

fn lookup_read(ctx: &mut Ctx, key: &[u8]) -> Result<Option<u32>, CmdError> {
    super::lookup_typed(ctx, key, false, |v| matches!(v, Value::ZSet(_)))
}

fn lookup_write(ctx: &mut Ctx, key: &[u8]) -> Result<Option<u32>, CmdError> {
    super::lookup_typed(ctx, key, true, |v| matches!(v, Value::ZSet(_)))
}

/// After a write: signal, count dirty, delete the key when it became empty.
/// Also emits `event` and then "del" when the zset was deleted (Redis's order).
fn written(ctx: &mut Ctx, key: &[u8], i: u32, dirty: u64, event: &str) {
    let db = ctx.db;
    let empty = zref(ctx.ks, db, i).is_ok_and(ZSetVal::is_empty);
    if empty {
        ctx.ks.delete(db, key);
        ctx.ks.dirty = ctx.ks.dirty.saturating_sub(1);
    } else {
        ctx.ks.signal_modified(db, key);
    }
    ctx.ks.dirty += dirty;
    ctx.notify(notify::ZSET, event, key);
    if empty {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

fn parse_score(a: &[u8]) -> Result<f64, CmdError> {
    match crate::float::parse_f64(a) {
        Some(v) if !v.is_nan() => Ok(v),
        _ => Err(CmdError::NotFloat),
    }
}

/// Redis's zslParseRange item (strtod, whole string, not NaN).
fn parse_range_item(a: &[u8]) -> Option<(f64, bool)> {
    let (s, ex) = match a.first() {
        Some(b'(') => (&a[1..], true),
        _ => (a, false),
    };
    if s.is_empty() {
        // strtod("") consumes nothing and leaves eptr at '\0': Redis accepts it as 0.
        return if ex { Some((0.0, true)) } else { None };
    }
    let v = crate::float::parse_f64(s).or_else(|| strtod_like(s))?;
    if v.is_nan() {
        return None;
    }
    Some((v, ex))
}

/// Fallback for inputs strtod accepts but string2d may not (leading spaces).
fn strtod_like(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    let t2 = t.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if t2.len() == t.len() || t2.is_empty() {
        return None;
    }
    crate::float::parse_f64(t2.as_bytes())
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let err = || CmdError::msg("ERR min or max is not a float");
    let (mn, minex) = parse_range_item(min).ok_or_else(err)?;
    let (mx, maxex) = parse_range_item(max).ok_or_else(err)?;
    Ok(ScoreRange {
        min: mn,
        max: mx,
        minex,
        maxex,
    })
}

fn parse_lex_item(a: &[u8]) -> Option<LexBound> {
    match a.first()? {
        b'+' if a.len() == 1 => Some(LexBound::PosInf),
        b'-' if a.len() == 1 => Some(LexBound::NegInf),
        b'(' => Some(LexBound::Excl(a[1..].to_vec())),
        b'[' => Some(LexBound::Incl(a[1..].to_vec())),
        _ => None,
    }
}

fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    let err = || CmdError::msg("ERR min or max not valid string range item");
    let mn = parse_lex_item(min).ok_or_else(err)?;
    let mx = parse_lex_item(max).ok_or_else(err)?;
    Ok(LexRange { min: mn, max: mx })
}

/// Emit (member, score) pairs: RESP3 nested pairs with WITHSCORES, else flat.
fn emit_items<'a>(
    ctx: &mut Ctx,
    n: usize,
    withscores: bool,
    items: impl Iterator<Item = (f64, &'a [u8])>,
) {
    let out = &mut *ctx.out;
    let resp3 = out.resp3;
    out.array(if withscores && !resp3 { n * 2 } else { n });
    for (s, m) in items {
        if withscores && resp3 {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    }
}

// ---------------------------------------------------------------- ZADD

#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

enum AddOutcome {
    Nop,
    Added(f64),
    Updated(f64),
    Same(f64),
}

fn zadd_one(
    z: &mut ZSetVal,
    m: &[u8],
    score: f64,
    f: &AddFlags,
    lim: Limits,
) -> Result<AddOutcome, CmdError> {
    match z.score(m) {
        Some(cur) => {
            if f.nx {
                return Ok(AddOutcome::Nop);
            }
            let mut s = score;
            if f.incr {
                s += cur;
                if s.is_nan() {
                    return Err(CmdError::msg("ERR resulting score is not a number (NaN)"));
                }
            }
            if (f.lt && s >= cur) || (f.gt && s <= cur) {
                return Ok(AddOutcome::Nop);
            }
            if s != cur {
                z.set(m, s, lim);
                Ok(AddOutcome::Updated(z.score(m).unwrap_or(s)))
            } else {
                Ok(AddOutcome::Same(s))
            }
        }
        None => {
            if f.xx {
                return Ok(AddOutcome::Nop);
            }
            z.set(m, score, lim);
            Ok(AddOutcome::Added(score))
        }
    }
}

fn zadd_generic(ctx: &mut Ctx, argv: &[&[u8]], mut f: AddFlags) -> CmdResult {
    let mut idx = 2;
    while idx < argv.len() {
        let a = argv[idx];
        if eq_ic(a, "nx") {
            f.nx = true;
        } else if eq_ic(a, "xx") {
            f.xx = true;
        } else if eq_ic(a, "ch") {
            f.ch = true;
        } else if eq_ic(a, "incr") {
            f.incr = true;
        } else if eq_ic(a, "gt") {
            f.gt = true;
        } else if eq_ic(a, "lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let rest = &argv[idx..];
    if rest.is_empty() || rest.len() % 2 == 1 {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::msg(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.gt && f.nx) || (f.lt && f.nx) || (f.gt && f.lt) {
        return Err(CmdError::msg(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest.len() > 2 {
        return Err(CmdError::msg(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut scores = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks_exact(2) {
        scores.push(parse_score(p[0])?);
    }
    let lim = limits(ctx);
    let db = ctx.db;
    let key = argv[1];
    let i = match lookup_write(ctx, key)? {
        Some(i) => i,
        None => {
            if f.xx {
                if f.incr {
                    ctx.out.null();
                } else {
                    ctx.out.int(0);
                }
                return Ok(());
            }
            let i = ctx.ks.add(db, key, Value::ZSet(Box::new(ZSetVal::new())));
            ctx.ks.dirty = ctx.ks.dirty.saturating_sub(1);
            i
        }
    };
    let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
    let mut last = None;
    let mut err = None;
    {
        let z = zmut(ctx.ks, db, i)?;
        for (p, s) in rest.chunks_exact(2).zip(scores) {
            match zadd_one(z, p[1], s, &f, lim) {
                Err(e) => {
                    err = Some(e);
                    break;
                }
                Ok(AddOutcome::Nop) => {}
                Ok(AddOutcome::Added(v)) => {
                    added += 1;
                    processed += 1;
                    last = Some(v);
                }
                Ok(AddOutcome::Updated(v)) => {
                    updated += 1;
                    processed += 1;
                    last = Some(v);
                }
                Ok(AddOutcome::Same(v)) => {
                    processed += 1;
                    last = Some(v);
                }
            }
        }
    }
    if err.is_none() {
        if f.incr {
            match last {
                Some(v) if processed > 0 => ctx.out.double(v),
                _ => ctx.out.null(),
            }
        } else {
            ctx.out
                .int((if f.ch { added + updated } else { added }) as i64);
        }
    }
    let db = ctx.db;
    let empty = zref(ctx.ks, db, i).is_ok_and(ZSetVal::is_empty);
    if empty {
        ctx.ks.delete(db, key);
        ctx.ks.dirty = ctx.ks.dirty.saturating_sub(1);
    } else if added + updated > 0 {
        ctx.ks.signal_modified(db, key);
    }
    ctx.ks.dirty += added + updated;
    if added + updated > 0 {
        ctx.notify(notify::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub fn zadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zadd_generic(ctx, argv, AddFlags::default())
}

pub fn zincrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // ZINCRBY key incr member == ZADD key INCR incr member
    let v: Vec<&[u8]> = vec![argv[0], argv[1], argv[2], argv[3]];
    zadd_generic(
        ctx,
        &v,
        AddFlags {
            incr: true,
            ..AddFlags::default()
        },
    )
}

pub fn zrem(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(i) = lookup_write(ctx, argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let z = zmut(ctx.ks, ctx.db, i)?;
    let mut n = 0u64;
    for m in &argv[2..] {
        if z.remove(m) {
            n += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    ctx.out.int(n as i64);
    if n > 0 {
        written(ctx, argv[1], i, n, "zrem");
    }
    Ok(())
}

pub fn zcard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = match lookup_read(ctx, argv[1])? {
        Some(i) => zref(ctx.ks, ctx.db, i)?.len(),
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

pub fn zscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let s = match lookup_read(ctx, argv[1])? {
        Some(i) => zref(ctx.ks, ctx.db, i)?.score(argv[2]),
        None => None,
    };
    match s {
        Some(v) => ctx.out.double(v),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn zmscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let found = lookup_read(ctx, argv[1])?;
    let ms = &argv[2..];
    ctx.out.array(ms.len());
    for m in ms {
        let s = match found {
            Some(i) => zref(ctx.ks, ctx.db, i)?.score(m),
            None => None,
        };
        match s {
            Some(v) => ctx.out.double(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn zrank_generic(ctx: &mut Ctx, argv: &[&[u8]], rev: bool) -> CmdResult {
    let r = match lookup_read(ctx, argv[1])? {
        Some(i) => {
            let z = zref(ctx.ks, ctx.db, i)?;
            z.rank(argv[2])
                .map(|r| if rev { z.len() - 1 - r } else { r })
        }
        None => None,
    };
    match r {
        Some(r) => ctx.out.int(r as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn zrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrank_generic(ctx, argv, false)
}

pub fn zrevrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrank_generic(ctx, argv, true)
}

pub fn zcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = parse_score_range(argv[2], argv[3])?;
    let n = match lookup_read(ctx, argv[1])? {
        Some(i) => {
            let (a, b) = zref(ctx.ks, ctx.db, i)?.score_span(&r);
            b - a
        }
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

pub fn zlexcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = parse_lex_range(argv[2], argv[3])?;
    let n = match lookup_read(ctx, argv[1])? {
        Some(i) => {
            let (a, b) = zref(ctx.ks, ctx.db, i)?.lex_span(&r);
            b - a
        }
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------- ZRANGE family

#[derive(Clone, Copy, PartialEq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq)]
enum Dir {
    Auto,
    Fwd,
    Rev,
}

/// Resolve the element index window: returns (indices in emission order as
/// a start/len/reverse triple).
struct Window {
    /// ascending index span [a, b)
    a: usize,
    b: usize,
    rev: bool,
}

impl Window {
    fn len(&self) -> usize {
        self.b - self.a
    }
}

fn apply_limit(a: usize, b: usize, rev: bool, offset: i64, limit: i64) -> Window {
    let n = b - a;
    if offset < 0 {
        return Window { a, b: a, rev };
    }
    let off = usize::try_from(offset).unwrap_or(usize::MAX).min(n);
    let rem = n - off;
    let take = if limit < 0 {
        rem
    } else {
        usize::try_from(limit).unwrap_or(usize::MAX).min(rem)
    };
    if rev {
        Window {
            a: b - off - take,
            b: b - off,
            rev,
        }
    } else {
        Window {
            a: a + off,
            b: a + off + take,
            rev,
        }
    }
}

fn zrange_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    argc_start: usize,
    store: Option<&[u8]>,
    rt: RangeType,
    dir: Dir,
) -> CmdResult {
    let key = argv[argc_start];
    let mut minidx = argc_start + 1;
    let mut maxidx = argc_start + 2;
    let (mut rt, mut dir) = (rt, dir);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = argc_start + 3;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = argv[j];
        if store.is_none() && eq_ic(a, "withscores") {
            withscores = true;
        } else if eq_ic(a, "limit") && left >= 2 {
            offset = arg_i64(argv[j + 1])?;
            limit = arg_i64(argv[j + 2])?;
            j += 2;
        } else if dir == Dir::Auto && eq_ic(a, "rev") {
            dir = Dir::Rev;
        } else if rt == RangeType::Auto && eq_ic(a, "bylex") {
            rt = RangeType::Lex;
        } else if rt == RangeType::Auto && eq_ic(a, "byscore") {
            rt = RangeType::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if dir == Dir::Auto {
        dir = Dir::Fwd;
    }
    if rt == RangeType::Auto {
        rt = RangeType::Rank;
    }
    if limit != -1 && rt == RangeType::Rank {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rt == RangeType::Lex {
        return Err(CmdError::msg(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let rev = dir == Dir::Rev;
    if rev && rt != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    enum Spec {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let spec = match rt {
        RangeType::Score => Spec::Score(parse_score_range(argv[minidx], argv[maxidx])?),
        RangeType::Lex => Spec::Lex(parse_lex_range(argv[minidx], argv[maxidx])?),
        _ => Spec::Rank(arg_i64(argv[minidx])?, arg_i64(argv[maxidx])?),
    };
    let found = if store.is_some() {
        lookup_write(ctx, key)?
    } else {
        lookup_read(ctx, key)?
    };
    let Some(i) = found else {
        match store {
            Some(dst) => store_zset(ctx, dst, Vec::new(), "zrangestore"),
            None => ctx.out.array(0),
        }
        return Ok(());
    };
    let z = zref(ctx.ks, ctx.db, i)?;
    let w = match spec {
        Spec::Rank(mut start, mut end) => {
            let llen = z.len() as i64;
            if start < 0 {
                start = start.saturating_add(llen);
            }
            if end < 0 {
                end = end.saturating_add(llen);
            }
            if start < 0 {
                start = 0;
            }
            if start > end || start >= llen {
                Window { a: 0, b: 0, rev }
            } else {
                if end >= llen {
                    end = llen - 1;
                }
                let (s, e) = (start as usize, end as usize);
                if rev {
                    // ranks counted from the top
                    let n = z.len();
                    Window {
                        a: n - 1 - e,
                        b: n - s,
                        rev,
                    }
                } else {
                    Window {
                        a: s,
                        b: e + 1,
                        rev,
                    }
                }
            }
        }
        Spec::Score(r) => {
            let (a, b) = z.score_span(&r);
            apply_limit(a, b, rev, offset, limit)
        }
        Spec::Lex(r) => {
            let (a, b) = z.lex_span(&r);
            apply_limit(a, b, rev, offset, limit)
        }
    };
    match store {
        Some(dst) => {
            let items: Vec<(f64, Box<[u8]>)> = z
                .range(w.a, w.b)
                .into_iter()
                .map(|(s, m)| (s, m.into()))
                .collect();
            store_zset(ctx, dst, items, "zrangestore");
        }
        None => {
            let ks = &*ctx.ks;
            let z = zref(ks, ctx.db, i)?;
            let n = w.len();
            let mut v = z.range(w.a, w.b);
            if w.rev {
                v.reverse();
            }
            let it = v.into_iter();
            let out = &mut *ctx.out;
            let resp3 = out.resp3;
            out.array(if withscores && !resp3 { n * 2 } else { n });
            for (s, m) in it {
                if withscores && resp3 {
                    out.array(2);
                }
                out.bulk(m);
                if withscores {
                    out.double(s);
                }
            }
        }
    }
    Ok(())
}

/// Store a result zset at `dst` (or delete `dst` when empty); reply the count.
fn store_zset(ctx: &mut Ctx, dst: &[u8], items: Vec<(f64, Box<[u8]>)>, event: &str) {
    let n = items.len();
    if n > 0 {
        let lim = limits(ctx);
        ctx.ks.set(
            ctx.db,
            dst,
            Value::ZSet(Box::new(ZSetVal::from_items(items, lim))),
            false,
        );
        ctx.notify(notify::ZSET, event, dst);
    } else if ctx.ks.delete(ctx.db, dst) {
        ctx.notify(notify::GENERIC, "del", dst);
    }
    ctx.out.int(n as i64);
}

pub fn zrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, None, RangeType::Auto, Dir::Auto)
}

pub fn zrangestore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 2, Some(argv[1]), RangeType::Auto, Dir::Auto)
}

pub fn zrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, None, RangeType::Score, Dir::Fwd)
}

pub fn zrevrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, None, RangeType::Score, Dir::Rev)
}

pub fn zrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, None, RangeType::Lex, Dir::Fwd)
}

pub fn zrevrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, None, RangeType::Lex, Dir::Rev)
}

pub fn zrevrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zrange_generic(ctx, argv, 1, None, RangeType::Rank, Dir::Rev)
}

// ---------------------------------------------------------------- ZREMRANGEBY*

enum RemSpec {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

fn zremrange_generic(ctx: &mut Ctx, argv: &[&[u8]], spec: RemSpec) -> CmdResult {
    let spec_kind = match spec {
        RemSpec::Rank(..) => 0,
        RemSpec::Score(_) => 1,
        RemSpec::Lex(_) => 2,
    };
    let Some(i) = lookup_write(ctx, argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let z = zmut(ctx.ks, ctx.db, i)?;
    let (a, b) = match spec {
        RemSpec::Rank(mut start, mut end) => {
            let llen = z.len() as i64;
            if start < 0 {
                start = start.saturating_add(llen);
            }
            if end < 0 {
                end = end.saturating_add(llen);
            }
            if start < 0 {
                start = 0;
            }
            if start > end || start >= llen {
                (0, 0)
            } else {
                if end >= llen {
                    end = llen - 1;
                }
                (start as usize, end as usize + 1)
            }
        }
        RemSpec::Score(r) => z.score_span(&r),
        RemSpec::Lex(r) => z.lex_span(&r),
    };
    let n = z.remove_range(a, b).len();
    ctx.out.int(n as i64);
    if n > 0 {
        let ev = match spec_kind {
            0 => "zremrangebyrank",
            1 => "zremrangebyscore",
            _ => "zremrangebylex",
        };
        written(ctx, argv[1], i, n as u64, ev);
    }
    Ok(())
}

pub fn zremrangebyrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let s = arg_i64(argv[2])?;
    let e = arg_i64(argv[3])?;
    zremrange_generic(ctx, argv, RemSpec::Rank(s, e))
}

pub fn zremrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = parse_score_range(argv[2], argv[3])?;
    zremrange_generic(ctx, argv, RemSpec::Score(r))
}

pub fn zremrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let r = parse_lex_range(argv[2], argv[3])?;
    zremrange_generic(ctx, argv, RemSpec::Lex(r))
}

// ---------------------------------------------------------------- ZUNION / ZINTER / ZDIFF

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq)]
enum Agg {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, val: f64, agg: Agg) {
    match agg {
        Agg::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Agg::Min => {
            if val < *target {
                *target = val;
            }
        }
        Agg::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// One input: its (member, score) pairs (sets give score 1).
type Src = Vec<(Vec<u8>, f64)>;

fn read_source(ks: &Keyspace, db: usize, i: u32) -> Result<Src, CmdError> {
    match &ks.entry(db, i).val {
        Value::ZSet(z) => Ok(z.iter().map(|(s, m)| (m.to_vec(), s)).collect()),
        Value::Set(s) => Ok(s.iter().map(|m| (m.to_vec(), 1.0)).collect()),
        _ => Err(CmdError::WrongType),
    }
}

enum OpMode<'a> {
    Reply,
    Store(&'a [u8]),
    Card(u64),
}

fn zsetop_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    numkeys_idx: usize,
    op: SetOp,
    mode: OpMode,
    name: &str,
) -> CmdResult {
    let numkeys = arg_i64(argv[numkeys_idx])?;
    if numkeys < 1 {
        return Err(CmdError::msg(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if numkeys as u64 > (argv.len() - numkeys_idx - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    let numkeys = numkeys as usize;
    let db = ctx.db;
    let is_store = matches!(mode, OpMode::Store(_));
    let mut srcs: Vec<Src> = Vec::with_capacity(numkeys);
    let mut j = numkeys_idx + 1;
    for _ in 0..numkeys {
        let k = argv[j];
        let found = if is_store {
            ctx.ks.lookup_write(db, k)
        } else {
            ctx.ks.lookup_read(db, k)
        };
        match found {
            Some(i) => srcs.push(read_source(ctx.ks, db, i)?),
            None => srcs.push(Vec::new()),
        }
        j += 1;
    }
    let mut weights = vec![1.0f64; numkeys];
    let mut agg = Agg::Sum;
    let mut withscores = false;
    let mut mode = mode;
    {
        while j < argv.len() {
            let remaining = argv.len() - j;
            if op != SetOp::Diff
                && !matches!(mode, OpMode::Card(_))
                && remaining > numkeys
                && eq_ic(argv[j], "weights")
            {
                j += 1;
                for w in weights.iter_mut() {
                    *w = match crate::float::parse_f64(argv[j]) {
                        Some(v) if !v.is_nan() => v,
                        _ => return Err(CmdError::msg("ERR weight value is not a float")),
                    };
                    j += 1;
                }
            } else if matches!(mode, OpMode::Card(_)) {
                if remaining >= 2 && eq_ic(argv[j], "limit") {
                    let lim = match crate::util::parse_i64(argv[j + 1]) {
                        Some(n) if n >= 0 => n as u64,
                        _ => return Err(CmdError::msg("ERR LIMIT can't be negative")),
                    };
                    mode = OpMode::Card(lim);
                    j += 2;
                } else {
                    return Err(CmdError::Syntax);
                }
            } else if op != SetOp::Diff && remaining >= 2 && eq_ic(argv[j], "aggregate") {
                let a = argv[j + 1];
                agg = if eq_ic(a, "sum") {
                    Agg::Sum
                } else if eq_ic(a, "min") {
                    Agg::Min
                } else if eq_ic(a, "max") {
                    Agg::Max
                } else {
                    return Err(CmdError::Syntax);
                };
                j += 2;
            } else if remaining >= 1 && !is_store && eq_ic(argv[j], "withscores") {
                withscores = true;
                j += 1;
            } else {
                return Err(CmdError::Syntax);
            }
        }
    }
    let result: Vec<(f64, Box<[u8]>)> = match op {
        SetOp::Union => {
            let mut order: Vec<usize> = (0..numkeys).collect();
            order.sort_by_key(|&k| srcs[k].len());
            let mut acc: HashMap<&[u8], f64, FixedState> =
                HashMap::with_hasher(FixedState::default());
            let mut seq: Vec<&[u8]> = Vec::new();
            for &k in &order {
                for (m, s) in &srcs[k] {
                    let mut v = weights[k] * *s;
                    if v.is_nan() {
                        v = 0.0;
                    }
                    match acc.get_mut(&m[..]) {
                        Some(t) => aggregate(t, v, agg),
                        None => {
                            acc.insert(m, v);
                            seq.push(m);
                        }
                    }
                }
            }
            seq.into_iter()
                .map(|m| (acc.get(m).copied().unwrap_or(0.0), Box::from(m)))
                .collect()
        }
        SetOp::Inter => {
            if srcs.iter().any(|s| s.is_empty()) {
                Vec::new()
            } else {
                let mut order: Vec<usize> = (0..numkeys).collect();
                order.sort_by_key(|&k| srcs[k].len());
                let maps: Vec<HashMap<&[u8], f64, FixedState>> = order[1..]
                    .iter()
                    .map(|&k| {
                        let mut h =
                            HashMap::with_capacity_and_hasher(srcs[k].len(), FixedState::default());
                        for (m, s) in &srcs[k] {
                            h.insert(&m[..], *s);
                        }
                        h
                    })
                    .collect();
                let first = order[0];
                let mut out = Vec::new();
                let mut card = 0u64;
                'outer: for (m, s) in &srcs[first] {
                    let mut score = weights[first] * *s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for (mi, &k) in order[1..].iter().enumerate() {
                        match maps[mi].get(&m[..]) {
                            Some(v) => aggregate(&mut score, *v * weights[k], agg),
                            None => continue 'outer,
                        }
                    }
                    card += 1;
                    if let OpMode::Card(lim) = mode {
                        if lim > 0 && card >= lim {
                            break;
                        }
                        continue;
                    }
                    out.push((score, Box::from(&m[..])));
                }
                if let OpMode::Card(_) = mode {
                    ctx.out.int(card as i64);
                    return Ok(());
                }
                out
            }
        }
        SetOp::Diff => {
            let mut others: Vec<HashMap<&[u8], (), FixedState>> = Vec::new();
            for s in &srcs[1..] {
                let mut h = HashMap::with_capacity_and_hasher(s.len(), FixedState::default());
                for (m, _) in s {
                    h.insert(&m[..], ());
                }
                others.push(h);
            }
            srcs[0]
                .iter()
                .filter(|(m, _)| !others.iter().any(|h| h.contains_key(&m[..])))
                .map(|(m, s)| (*s, Box::from(&m[..])))
                .collect()
        }
    };
    if let OpMode::Card(_) = mode {
        ctx.out.int(0);
        return Ok(());
    }
    match mode {
        OpMode::Store(dst) => {
            let ev = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store_zset(ctx, dst, result, ev)
        }
        _ => {
            let mut r = result;
            r.sort_by(|a, b| crate::db::zset::cmp_item(a.0, &a.1, b.0, &b.1));
            emit_items(
                ctx,
                r.len(),
                withscores,
                r.iter().map(|(s, m)| (*s, &m[..])),
            );
        }
    }
    Ok(())
}

pub fn zunion(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(ctx, argv, 1, SetOp::Union, OpMode::Reply, "zunion")
}

pub fn zinter(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(ctx, argv, 1, SetOp::Inter, OpMode::Reply, "zinter")
}

pub fn zdiff(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(ctx, argv, 1, SetOp::Diff, OpMode::Reply, "zdiff")
}

pub fn zunionstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(
        ctx,
        argv,
        2,
        SetOp::Union,
        OpMode::Store(argv[1]),
        "zunionstore",
    )
}

pub fn zinterstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(
        ctx,
        argv,
        2,
        SetOp::Inter,
        OpMode::Store(argv[1]),
        "zinterstore",
    )
}

pub fn zdiffstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(
        ctx,
        argv,
        2,
        SetOp::Diff,
        OpMode::Store(argv[1]),
        "zdiffstore",
    )
}

pub fn zintercard(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zsetop_generic(ctx, argv, 1, SetOp::Inter, OpMode::Card(0), "zintercard")
}

// ---------------------------------------------------------------- ZPOP / ZMPOP

/// Pop up to `count` from the first non-empty zset among `keys`. Returns
/// false (nothing replied) when none exists.
fn pop_generic(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    max: bool,
    count: u64,
    nested: bool,
    single: bool,
) -> Result<bool, CmdError> {
    let db = ctx.db;
    for &key in keys {
        let Some(i) = lookup_write(ctx, key)? else {
            continue;
        };
        let z = zmut(ctx.ks, db, i)?;
        let n = usize::try_from(count).unwrap_or(usize::MAX).min(z.len());
        let popped = if max {
            let l = z.len();
            let mut v = z.remove_range(l - n, l);
            v.reverse();
            v
        } else {
            z.remove_range(0, n)
        };
        let out = &mut *ctx.out;
        let resp3 = out.resp3;
        if nested {
            out.array(2);
            out.bulk(key);
            out.array(popped.len());
            for (s, m) in &popped {
                out.array(2);
                out.bulk(m);
                out.double(*s);
            }
        } else if single || !resp3 {
            out.array(popped.len() * 2);
            for (s, m) in &popped {
                out.bulk(m);
                out.double(*s);
            }
        } else {
            out.array(popped.len());
            for (s, m) in &popped {
                out.array(2);
                out.bulk(m);
                out.double(*s);
            }
        }
        written(
            ctx,
            key,
            i,
            popped.len() as u64,
            if max { "zpopmax" } else { "zpopmin" },
        );
        // ZMPOP/BZMPOP replay as the ZPOPMIN/ZPOPMAX with count they did.
        if !popped.is_empty() {
            let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            ctx.propagate_as(&[name, key, &crate::util::i64_bytes(popped.len() as i64)]);
        }
        return Ok(true);
    }
    Ok(false)
}

fn zpop_cmd(ctx: &mut Ctx, argv: &[&[u8]], max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let mut count = 1u64;
    let single = argv.len() == 2;
    if !single {
        count = match crate::util::parse_i64(argv[2]) {
            Some(n) if n >= 0 => n as u64,
            _ => return Err(CmdError::msg("ERR value is out of range, must be positive")),
        };
        if count == 0 {
            ctx.out.array(0);
            return Ok(());
        }
    }
    if !pop_generic(ctx, &argv[1..2], max, count, false, single)? {
        ctx.out.array(0);
    }
    Ok(())
}

pub fn zpopmin(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zpop_cmd(ctx, argv, false)
}

pub fn zpopmax(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    zpop_cmd(ctx, argv, true)
}

/// ZMPOP's arguments after the name (BZMPOP: after the timeout):
/// numkeys key... MIN|MAX [COUNT n] -> (keys, max, count).
fn parse_zmpop<'a>(argv: &[&'a [u8]]) -> Result<(Vec<&'a [u8]>, bool, u64), CmdError> {
    let numkeys = match crate::util::parse_i64(argv[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(CmdError::msg("ERR numkeys should be greater than 0")),
    };
    let where_idx = 2u64.saturating_add(numkeys);
    if where_idx >= argv.len() as u64 {
        return Err(CmdError::Syntax);
    }
    let where_idx = where_idx as usize;
    let max = if eq_ic(argv[where_idx], "min") {
        false
    } else if eq_ic(argv[where_idx], "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count: Option<u64> = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if count.is_none() && eq_ic(argv[j], "count") && more > 0 {
            j += 1;
            count = match crate::util::parse_i64(argv[j]) {
                Some(n) if n >= 1 => Some(n as u64),
                _ => return Err(CmdError::msg("ERR count should be greater than 0")),
            };
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok((argv[2..where_idx].to_vec(), max, count.unwrap_or(1)))
}

pub fn zmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (keys, max, count) = parse_zmpop(argv)?;
    if !pop_generic(ctx, &keys, max, count, true, false)? {
        ctx.out.null_array();
    }
    Ok(())
}

// ---------------------------------------------------------------- ZRANDMEMBER

pub fn zrandmember(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    if argv.len() >= 3 {
        let l = arg_i64(argv[2])?;
        if l == i64::MIN {
            return Err(CmdError::msg(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ));
        }
        let withscores = argv.len() == 4;
        if argv.len() > 4 || (withscores && !eq_ic(argv[3], "withscores")) {
            return Err(CmdError::Syntax);
        }
        if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
            return Err(CmdError::msg("ERR value is out of range"));
        }
        return zrandmember_count(ctx, argv[1], l, withscores);
    }
    let Some(i) = lookup_read(ctx, argv[1])? else {
        ctx.out.null();
        return Ok(());
    };
    let ks = &mut *ctx.ks;
    let z = match &ks.dbs[db].table.entry(i).val {
        Value::ZSet(z) => z,
        _ => return Err(CmdError::WrongType),
    };
    if z.is_empty() {
        ctx.out.null();
    } else {
        let k = ks.rng.below(z.len() as u64) as usize;
        ctx.out.bulk(z.get(k).1);
    }
    Ok(())
}

fn zrandmember_count(ctx: &mut Ctx, key: &[u8], l: i64, withscores: bool) -> CmdResult {
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
    let z = match &ks.dbs[db].table.entry(i).val {
        Value::ZSet(z) => z,
        _ => return Err(CmdError::WrongType),
    };
    let size = z.len() as u64;
    if size == 0 {
        out.array(0);
        return Ok(());
    }
    let resp3 = out.resp3;
    let header = |out: &mut crate::resp::Reply, n: u64| {
        out.array(if withscores && !resp3 {
            n as usize * 2
        } else {
            n as usize
        });
    };
    // Random index access walks blocks; for many picks index a flat copy.
    let flat: Option<Vec<(f64, &[u8])>> = if count > 8 {
        Some(z.iter().collect())
    } else {
        None
    };
    let emit = |out: &mut crate::resp::Reply, k: usize| {
        let (s, m) = match &flat {
            Some(f) => f[k],
            None => z.get(k),
        };
        if withscores && resp3 {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    };
    if !uniq || count == 1 {
        if count > RAND_MAX_REPEATS {
            return Err(CmdError::msg("ERR value is out of range"));
        }
        header(out, count);
        for _ in 0..count {
            emit(out, rng.below(size) as usize);
        }
        return Ok(());
    }
    if count >= size {
        header(out, size);
        for k in 0..size as usize {
            emit(out, k);
        }
        return Ok(());
    }
    // count < size: a partial Fisher-Yates over indices (bounded by the zset).
    let count = count as usize;
    header(out, count as u64);
    let mut idx: Vec<usize> = (0..size as usize).collect();
    for k in 0..count {
        let j = k + rng.below((idx.len() - k) as u64) as usize;
        idx.swap(k, j);
        emit(out, idx[k]);
    }
    Ok(())
}

// ---------------------------------------------------------------- ZSCAN

pub fn zscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let cursor = crate::util::parse_scan_cursor(argv[2])
        .ok_or_else(|| CmdError::msg("ERR invalid cursor"))?;
    let Some(i) = lookup_read(ctx, argv[1])? else {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let super::ScanOpts { count, pat, .. } = super::parse_scan_opts(argv, 3, false)?;
    let z = zref(ctx.ks, ctx.db, i)?;
    // listpack: everything in one call, cursor 0; skiplist: Redis's
    // reverse-binary bucket cursor over the member index, so a member present
    // for the whole iteration is returned at least once.
    let mut pairs: Vec<(f64, &[u8])> = Vec::new();
    let next = z.scan(
        cursor,
        usize::try_from(count).unwrap_or(usize::MAX),
        |m, s| pairs.push((s, m)),
    );
    if let Some(p) = pat {
        pairs.retain(|(_, m)| glob_match(p, m, false));
    }
    let out = &mut *ctx.out;
    out.array(2);
    let mut c = Vec::new();
    crate::util::push_u64(&mut c, next);
    out.bulk(&c);
    out.array(pairs.len() * 2);
    let mut buf = Vec::new();
    for (s, m) in pairs {
        out.bulk(m);
        buf.clear();
        crate::float::push_g17(&mut buf, s);
        out.bulk(&buf);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::server::TestServer;

    #[test]
    fn basic() {
        let mut t = TestServer::new();
        assert_eq!(
            t.run(&["ZADD", "z", "1", "a", "2", "b", "1.5", "c"]),
            ":3\r\n"
        );
        assert_eq!(
            t.run(&["ZRANGE", "z", "0", "-1"]),
            "*3\r\n$1\r\na\r\n$1\r\nc\r\n$1\r\nb\r\n"
        );
        assert_eq!(t.run(&["ZRANK", "z", "b"]), ":2\r\n");
        assert_eq!(t.run(&["ZREVRANK", "z", "b"]), ":0\r\n");
        assert_eq!(t.run(&["ZINCRBY", "z", "10", "a"]), "$2\r\n11\r\n");
        assert_eq!(t.run(&["ZCOUNT", "z", "(1.5", "+inf"]), ":2\r\n");
        assert_eq!(t.run(&["ZREM", "z", "a", "b", "c"]), ":3\r\n");
        assert_eq!(t.run(&["EXISTS", "z"]), ":0\r\n");
    }

    #[test]
    fn ranges() {
        let mut t = TestServer::new();
        t.run(&["ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d"]);
        assert_eq!(
            t.run(&["ZRANGEBYLEX", "z", "(a", "[c"]),
            "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(
            t.run(&["ZRANGE", "z", "[c", "-", "BYLEX", "REV", "LIMIT", "1", "5"]),
            "*2\r\n$1\r\nb\r\n$1\r\na\r\n"
        );
        assert_eq!(
            t.run(&["ZREVRANGE", "z", "0", "1"]),
            "*2\r\n$1\r\nd\r\n$1\r\nc\r\n"
        );
        assert_eq!(
            t.run(&["ZPOPMAX", "z", "2"]),
            "*4\r\n$1\r\nd\r\n$1\r\n0\r\n$1\r\nc\r\n$1\r\n0\r\n"
        );
    }
}

/// Keys to try now: all, or only the signalled one when re-executed for a
/// woken client (Redis 7.0 serves it from the ready key).
fn keys_to_try<'k>(ctx: &Ctx, keys: &[&'k [u8]]) -> Vec<&'k [u8]> {
    match ctx.ready_key {
        Some(r) => keys.iter().copied().filter(|k| *k == r).collect(),
        None => keys.to_vec(),
    }
}

/// BZPOPMIN/BZPOPMAX key [key ...] timeout: reply [key, member, score].
fn bzpop(ctx: &mut Ctx, argv: &[&[u8]], max: bool) -> CmdResult {
    let timeout = super::parse_timeout_secs(ctx, argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    let db = ctx.db;
    for key in keys_to_try(ctx, keys) {
        let Some(i) = lookup_write(ctx, key)? else {
            continue;
        };
        let z = zmut(ctx.ks, db, i)?;
        let l = z.len();
        if l == 0 {
            continue;
        }
        let popped = if max {
            z.remove_range(l - 1, l)
        } else {
            z.remove_range(0, 1)
        };
        let Some((score, member)) = popped.into_iter().next() else {
            continue;
        };
        ctx.out.array(3);
        ctx.out.bulk(key);
        ctx.out.bulk(&member);
        ctx.out.double(score);
        written(ctx, key, i, 1, if max { "zpopmax" } else { "zpopmin" });
        let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        ctx.propagate_as(&[name, key]);
        return Ok(());
    }
    if !ctx.may_block() {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.block_on(keys, timeout, argv);
    Ok(())
}

pub fn bzpopmin(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bzpop(ctx, argv, false)
}

pub fn bzpopmax(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bzpop(ctx, argv, true)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count].
pub fn bzmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let timeout = super::parse_timeout_secs(ctx, argv[1])?;
    let (keys, max, count) = parse_zmpop(&argv[1..])?;
    let try_keys = keys_to_try(ctx, &keys);
    if pop_generic(ctx, &try_keys, max, count, true, false)? {
        return Ok(());
    }
    if !ctx.may_block() {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.block_on(&keys, timeout, argv);
    Ok(())
}
