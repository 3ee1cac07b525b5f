//! SORT and SORT_RO (Redis 7.0's sort.c).
//!
//! The pipeline is Redis's: parse the options (errors before the key lookup),
//! load a vector of the elements of the list, set or sorted set, give each a
//! sort weight (the element itself, or a key/hash field named by the BY
//! pattern), sort it with Redis's `sortCompare`, then emit the LIMIT window
//! (or the GET lookups of it) as the reply or as a list stored at STORE.
//!
//! Byte-identical output needs Redis's exact orderings, including for ties:
//! - numeric weights are parsed the way C `strtod` does (leading blanks, hex
//!   floats, "inf"; a NUL ends the string) and equal weights fall back to a
//!   binary comparison of the elements, so that order is total;
//! - ALPHA compares with `strcoll` (the reference server runs in the C /
//!   C.UTF-8 locale, i.e. `strcmp`: bytes up to the first NUL) unless STORE
//!   is given (binary), and ALPHA BY leaves equal weights tied;
//! - ties are resolved the way Redis's sorts resolve them: glibc's `qsort`
//!   is a stable merge sort (Rust's stable `sort_by` gives the same order),
//!   and BY with a LIMIT window uses Redis's `pqsort` (a partial quicksort,
//!   ported below step for step, since its tie order is its own).
//!
//! Other Redis details kept: BY without `*` means "don't sort" (lists and
//! sorted sets keep their order, DESC walks them backwards, LIMIT reads just
//! the window); a set with BY nosort and STORE is sorted ALPHA instead; SORT
//! converts a listpack sorted set to a skiplist (even SORT_RO); STORE of an
//! empty result deletes the destination.
//!
//! Known difference: Redis checks `errno == ERANGE` after `strtod` without
//! clearing errno first, so after one out-of-range weight (e.g. "1e400")
//! later SORTs over non-integer string weights keep failing in Redis until
//! something else (a successful ZADD/INCRBYFLOAT parse, a new connection)
//! resets errno. That process-global state is not modelled: each SORT here
//! judges only its own weights.

use std::cmp::Ordering;

use super::{notify, Ctx};
use crate::db::list::ListVal;
use crate::db::zset::{Limits, ZSetVal};
use crate::db::Value;
use crate::error::{CmdError, CmdResult};
use crate::server::cstr;
use crate::util::eq_ic;

pub fn sort(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, argv, false)
}

pub fn sort_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, argv, true)
}

/// One element of the vector being sorted (Redis's `redisSortObject`).
struct SortObj {
    ele: Vec<u8>,
    /// Numeric weight (0 when the BY key is missing).
    score: f64,
    /// ALPHA BY weight (None when the BY key is missing).
    cmpobj: Option<Vec<u8>>,
}

/// The comparison flags Redis passes through `server.sort_*`.
#[derive(Clone, Copy)]
struct Flags {
    desc: bool,
    alpha: bool,
    bypattern: bool,
    store: bool,
}

/// `strcoll` in the C locale: `strcmp` of the bytes before the first NUL.
fn coll(a: &[u8], b: &[u8]) -> Ordering {
    cstr(a).cmp(cstr(b))
}

/// Redis's `sortCompare`.
fn sort_compare(f: Flags, a: &SortObj, b: &SortObj) -> Ordering {
    let cmp = if !f.alpha {
        if a.score > b.score {
            Ordering::Greater
        } else if a.score < b.score {
            Ordering::Less
        } else {
            // Equal weights: compare the elements so the order is total.
            a.ele.cmp(&b.ele)
        }
    } else if f.bypattern {
        match (&a.cmpobj, &b.cmpobj) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => {
                if f.store {
                    x.cmp(y)
                } else {
                    coll(x, y)
                }
            }
        }
    } else if f.store {
        a.ele.cmp(&b.ele)
    } else {
        coll(&a.ele, &b.ele)
    };
    if f.desc {
        cmp.reverse()
    } else {
        cmp
    }
}

/// What a BY/GET pattern resolved to for one element.
enum Found {
    Missing,
    Bytes(Vec<u8>),
    Int(i64),
}

impl Found {
    fn bytes(self) -> Option<Vec<u8>> {
        match self {
            Found::Missing => None,
            Found::Bytes(b) => Some(b),
            Found::Int(v) => Some(crate::util::i64_bytes(v)),
        }
    }
}

/// Redis's `lookupKeyByPattern`: "#" is the element itself; otherwise the
/// first `*` is replaced by the element and the key read (a string), or,
/// with `->field` after the `*`, that field of the hash at the key. The
/// pattern's `*`/`->`/"#" are found C-string style (a NUL ends the search),
/// the copies use the full lengths, as in Redis.
fn lookup_by_pattern(ctx: &mut Ctx, pattern: &[u8], subst: &[u8]) -> Found {
    let cpat = cstr(pattern);
    if cpat == b"#" {
        return Found::Bytes(subst.to_vec());
    }
    let Some(p) = cpat.iter().position(|&c| c == b'*') else {
        return Found::Missing;
    };
    let after = &cpat[p + 1..];
    // `->` after the star, followed by at least one (C-string) byte.
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| p + 1 + i)
        .filter(|&f| f + 2 < cpat.len());
    let (postfix_end, field) = match arrow {
        Some(f) => (f, Some(&pattern[f + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(p + subst.len() + (postfix_end - p - 1));
    key.extend_from_slice(&pattern[..p]);
    key.extend_from_slice(subst);
    key.extend_from_slice(&pattern[p + 1..postfix_end]);
    let db = ctx.db;
    let Some(i) = ctx.ks.lookup_read(db, &key) else {
        return Found::Missing;
    };
    match (&ctx.ks.entry(db, i).val, field) {
        (Value::Hash(h), Some(f)) => match h.get(f) {
            Some(v) => Found::Bytes(v.to_vec()),
            None => Found::Missing,
        },
        (Value::Int(v), None) => Found::Int(*v),
        (v, None) => match v.str_data() {
            Some(data) => Found::Bytes(data.to_vec()),
            None => Found::Missing,
        },
        _ => Found::Missing,
    }
}

/// The numeric weight of a value as SORT reads it: C `strtod` on the bytes
/// (up to the first NUL), rejected when not all consumed, on ERANGE
/// (overflow, or an inexact result below DBL_MIN) and for NaN. An empty
/// string is 0: strtod converts nothing and stops at the terminating NUL.
fn strtod_score(s: &[u8]) -> Option<f64> {
    let s = cstr(s);
    if s.is_empty() {
        return Some(0.0);
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let num_start = i;
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = &s[i..];
    let starts_ic = |word: &str| {
        rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word.as_bytes())
    };
    if starts_ic("inf") {
        let n = if starts_ic("infinity") { 8 } else { 3 };
        if i + n != s.len() {
            return None;
        }
        return Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if starts_ic("nan") {
        return None;
    }
    let is_hex = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_hexdigit());
    if rest.len() >= 2
        && rest[0] == b'0'
        && (rest[1] | 0x20) == b'x'
        && (is_hex(rest.get(2)) || (rest.get(2) == Some(&b'.') && is_hex(rest.get(3))))
    {
        let v = parse_hex_float(&rest[2..])?;
        return Some(if neg { -v } else { v });
    }
    // Decimal: digits [. digits] (at least one digit), optional exponent.
    let mut j = i;
    let mut nonzero = false;
    let mut digits = 0;
    while j < s.len() && s[j].is_ascii_digit() {
        nonzero |= s[j] != b'0';
        digits += 1;
        j += 1;
    }
    if j < s.len() && s[j] == b'.' {
        j += 1;
        while j < s.len() && s[j].is_ascii_digit() {
            nonzero |= s[j] != b'0';
            digits += 1;
            j += 1;
        }
    }
    if digits == 0 {
        // No conversion: strtod's end pointer is the start of the string.
        return None;
    }
    if j < s.len() && (s[j] | 0x20) == b'e' {
        let mut k = j + 1;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            k += 1;
        }
        if k < s.len() && s[k].is_ascii_digit() {
            while k < s.len() && s[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    if j != s.len() {
        return None;
    }
    let text = std::str::from_utf8(&s[num_start..j]).ok()?;
    let v: f64 = text.parse().ok()?;
    if v.is_infinite() || (v == 0.0 && nonzero) || (v != 0.0 && v.abs() < f64::MIN_POSITIVE) {
        // ERANGE. A decimal that lands on a subnormal is practically never
        // exact (that takes hundreds of digits), and glibc flags inexact ones.
        return None;
    }
    Some(v)
}

/// The part of a C hex float after "0x" (the caller checked a digit is
/// there), correctly rounded (ties to even). None when bytes are left over
/// or on ERANGE (overflow, inexact subnormal or zero).
fn parse_hex_float(s: &[u8]) -> Option<f64> {
    let mut m: u64 = 0;
    let mut bexp: i64 = 0;
    let mut sticky = false;
    let mut j = 0;
    let mut frac = false;
    loop {
        match s.get(j) {
            Some(&c) if c.is_ascii_hexdigit() => {
                let d = u64::from((c as char).to_digit(16).unwrap_or(0));
                if m < (1u64 << 59) {
                    m = m * 16 + d;
                    if frac {
                        bexp -= 4;
                    }
                } else {
                    sticky |= d != 0;
                    if !frac {
                        bexp += 4;
                    }
                }
            }
            Some(b'.') if !frac => frac = true,
            _ => break,
        }
        j += 1;
    }
    if j < s.len() && (s[j] | 0x20) == b'p' {
        let mut k = j + 1;
        let eneg = match s.get(k) {
            Some(b'-') => {
                k += 1;
                true
            }
            Some(b'+') => {
                k += 1;
                false
            }
            _ => false,
        };
        if k < s.len() && s[k].is_ascii_digit() {
            let mut e: i64 = 0;
            while k < s.len() && s[k].is_ascii_digit() {
                e = (e * 10 + i64::from(s[k] - b'0')).min(1 << 40);
                k += 1;
            }
            bexp = bexp.saturating_add(if eneg { -e } else { e });
            j = k;
        }
    }
    if j != s.len() {
        return None;
    }
    if m == 0 {
        return Some(0.0);
    }
    // Normalize so bit 63 is the leading one: value = m * 2^bexp.
    let lz = m.leading_zeros();
    m <<= lz;
    let x = bexp - i64::from(lz) + 63; // exponent of the leading bit
                                       // Keep 53 bits for normals, fewer below 2^-1022.
    let shift: i64 = if x >= -1022 { 11 } else { 11 + (-1022 - x) };
    let (mut q, rem_nonzero, round_up) = if shift >= 64 {
        // Everything is below the last subnormal bit.
        let half = shift == 64 && (m >> 63) == 1;
        let above_half = half && ((m << 1) != 0 || sticky);
        (0u64, true, above_half)
    } else {
        let sh = shift as u32;
        let q = m >> sh;
        let rem = m & ((1u64 << sh) - 1);
        let half = 1u64 << (sh - 1);
        let up = rem > half || (rem == half && (sticky || q & 1 == 1));
        (q, rem != 0 || sticky, up)
    };
    if round_up {
        q += 1;
    }
    let inexact = rem_nonzero;
    // Value = q * 2^(x - 52) for normals, q * 2^-1074 below.
    let scale = if x >= -1022 { x - 52 } else { -1074 };
    // Scale in exact power-of-two steps that stay normal: every product is
    // exact (q already has the target precision) until it overflows.
    let pow2 = |k: i64| f64::from_bits(((k + 1023) as u64) << 52);
    let mut v = q as f64;
    let mut k = scale;
    while k != 0 && v.is_finite() {
        let step = k.clamp(-1000, 1000);
        v *= pow2(step);
        k -= step;
    }
    if v.is_infinite() || (inexact && v < f64::MIN_POSITIVE) {
        return None;
    }
    Some(v)
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    List,
    Set,
    ZSet,
}

fn sort_generic(ctx: &mut Ctx, argv: &[&[u8]], readonly: bool) -> CmdResult {
    let mut desc = false;
    let mut alpha = false;
    let mut limit_start: i64 = 0;
    let mut limit_count: i64 = -1;
    let mut dontsort = false;
    let mut sortby: Option<&[u8]> = None;
    let mut storekey: Option<&[u8]> = None;
    let mut gets: Vec<&[u8]> = Vec::new();

    // Options are matched with strcasecmp: a NUL ends the argument.
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let opt = cstr(argv[j]);
        if eq_ic(opt, "asc") {
            desc = false;
        } else if eq_ic(opt, "desc") {
            desc = true;
        } else if eq_ic(opt, "alpha") {
            alpha = true;
        } else if eq_ic(opt, "limit") && left >= 2 {
            limit_start = super::arg_i64(argv[j + 1])?;
            limit_count = super::arg_i64(argv[j + 2])?;
            j += 2;
        } else if !readonly && eq_ic(opt, "store") && left >= 1 {
            storekey = Some(argv[j + 1]);
            j += 1;
        } else if eq_ic(opt, "by") && left >= 1 {
            sortby = Some(argv[j + 1]);
            // A constant BY pattern: nothing to sort by (sticky, as in Redis).
            if !cstr(argv[j + 1]).contains(&b'*') {
                dontsort = true;
            }
            j += 1;
        } else if eq_ic(opt, "get") && left >= 1 {
            gets.push(argv[j + 1]);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }

    let db = ctx.db;
    let key = argv[1];
    let found = ctx.ks.lookup_read(db, key);
    let kind = match found.map(|i| &ctx.ks.entry(db, i).val) {
        None | Some(Value::List(_)) => Kind::List,
        Some(Value::Set(_)) => Kind::Set,
        Some(Value::ZSet(_)) => Kind::ZSet,
        Some(_) => return Err(CmdError::WrongType),
    };

    // A set has no order of its own: when storing, sort it (ALPHA) so the
    // stored list does not depend on the set's internal layout.
    if dontsort && kind == Kind::Set && storekey.is_some() {
        dontsort = false;
        alpha = true;
        sortby = None;
    }

    // Redis converts a listpack sorted set to a skiplist for SORT.
    if let Some(i) = found {
        ctx.ks.cow(db, i);
        if let Value::ZSet(z) = &mut ctx.ks.entry_mut(db, i).val {
            if z.encoding() == "listpack" {
                let items: Vec<(f64, Box<[u8]>)> = z.iter().map(|(s, m)| (s, m.into())).collect();
                **z = ZSetVal::from_items(
                    items,
                    Limits {
                        entries: 0,
                        value: 0,
                    },
                );
            }
        }
    }

    let total = match found.map(|i| &ctx.ks.entry(db, i).val) {
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        _ => 0,
    } as i64;

    // LIMIT sanity checks, clamped to the object size (Redis's arithmetic).
    let mut start = limit_start.max(0).min(total);
    let limit_count = limit_count.max(-1).min(total);
    let mut end = if limit_count < 0 {
        total - 1
    } else {
        start + limit_count - 1
    };
    if start >= total {
        start = total - 1;
        end = total - 2;
    }
    if end >= total {
        end = total - 1;
    }

    // Lists and sorted sets with nothing to sort load just the window.
    let mut vectorlen = total;
    if kind != Kind::Set && dontsort && (start != 0 || end != total - 1) {
        vectorlen = end - start + 1;
    }

    let mut vector: Vec<SortObj> = Vec::with_capacity(vectorlen.max(0) as usize);
    let obj = |ele: Vec<u8>| SortObj {
        ele,
        score: 0.0,
        cmpobj: None,
    };
    if let Some(i) = found {
        match &ctx.ks.entry(db, i).val {
            Value::List(l) if dontsort => {
                if end >= start {
                    let n = vectorlen as usize;
                    let s = start as usize;
                    if desc {
                        let it = l.iter_rev().skip(s).take(n);
                        vector.extend(it.map(|e| obj(e.to_vec())));
                    } else {
                        let it = l.iter_from(s).take(n);
                        vector.extend(it.map(|e| obj(e.to_vec())));
                    }
                    end -= start;
                    start = 0;
                }
            }
            Value::List(l) => vector.extend(l.iter().map(|e| obj(e.to_vec()))),
            Value::Set(s) => vector.extend(s.iter().map(|m| obj(m.to_vec()))),
            Value::ZSet(z) if dontsort => {
                let n = vectorlen.max(0) as usize;
                let s = start.max(0) as usize;
                let len = z.len();
                if desc {
                    let hi = len.saturating_sub(s);
                    let lo = hi.saturating_sub(n);
                    let r = z.range(lo, hi);
                    vector.extend(r.iter().rev().map(|(_, m)| obj(m.to_vec())));
                } else {
                    let r = z.range(s, s + n);
                    vector.extend(r.iter().map(|(_, m)| obj(m.to_vec())));
                }
                end -= start;
                start = 0;
            }
            Value::ZSet(z) => vector.extend(z.iter().map(|(_, m)| obj(m.to_vec()))),
            _ => {}
        }
    }

    // Weights.
    let mut conversion_error = false;
    if !dontsort {
        for so in vector.iter_mut() {
            let by = match sortby {
                Some(pat) => match lookup_by_pattern(ctx, pat, &so.ele) {
                    Found::Missing => continue,
                    f => f,
                },
                None => Found::Missing,
            };
            if alpha {
                if sortby.is_some() {
                    so.cmpobj = by.bytes();
                }
            } else {
                let score = match &by {
                    Found::Int(v) => Some(*v as f64),
                    Found::Bytes(b) => strtod_score(b),
                    Found::Missing => strtod_score(&so.ele),
                };
                match score {
                    Some(s) => so.score = s,
                    None => conversion_error = true,
                }
            }
        }
        let flags = Flags {
            desc,
            alpha,
            bypattern: sortby.is_some(),
            store: storekey.is_some(),
        };
        let cmp = |a: &SortObj, b: &SortObj| sort_compare(flags, a, b);
        if sortby.is_some() && (start != 0 || end != vectorlen - 1) {
            crate::pqsort::pqsort(&mut vector, start, end, &cmp);
        } else {
            // glibc's qsort is a stable merge sort.
            vector.sort_by(cmp);
        }
    }

    let window = (end - start + 1).max(0) as usize;
    let outputlen = if gets.is_empty() {
        window
    } else {
        gets.len().saturating_mul(window)
    };
    if conversion_error {
        return Err(CmdError::msg(
            "ERR One or more scores can't be converted into double",
        ));
    }
    let first = start.max(0) as usize;
    let window_objs = vector.get(first..first + window).unwrap_or(&[]);
    match storekey {
        None => {
            ctx.out.array(outputlen);
            for so in window_objs {
                if gets.is_empty() {
                    ctx.out.bulk(&so.ele);
                }
                for pat in &gets {
                    match lookup_by_pattern(ctx, pat, &so.ele) {
                        Found::Missing => ctx.out.null(),
                        Found::Bytes(b) => ctx.out.bulk(&b),
                        Found::Int(v) => ctx.out.bulk_i64(v),
                    }
                }
            }
        }
        Some(dst) => {
            let mut list = ListVal::new();
            for so in window_objs {
                if gets.is_empty() {
                    list.push(&so.ele, false);
                }
                for pat in &gets {
                    let v = lookup_by_pattern(ctx, pat, &so.ele).bytes();
                    list.push(v.as_deref().unwrap_or(b""), false);
                }
            }
            if outputlen > 0 {
                // (`set` wakes clients blocked on a new list, as dbAdd does.)
                ctx.ks.set(db, dst, Value::List(Box::new(list)), false);
                ctx.notify(notify::LIST, "sortstore", dst);
                // `set` counted one write; Redis counts one per element.
                ctx.ks.dirty += outputlen as u64 - 1;
            } else if ctx.ks.delete(db, dst) {
                ctx.notify(notify::GENERIC, "del", dst);
            }
            ctx.out.int(outputlen as i64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pqsort::pqsort;
    use crate::server::TestServer;

    #[test]
    fn strtod_like_c() {
        assert_eq!(strtod_score(b""), Some(0.0));
        assert_eq!(strtod_score(b" 5"), Some(5.0));
        assert_eq!(strtod_score(b"5 "), None);
        assert_eq!(strtod_score(b"   "), None);
        assert_eq!(strtod_score(b"-"), None);
        assert_eq!(strtod_score(b"."), None);
        assert_eq!(strtod_score(b"1."), Some(1.0));
        assert_eq!(strtod_score(b".5"), Some(0.5));
        assert_eq!(strtod_score(b"+3"), Some(3.0));
        assert_eq!(strtod_score(b"1e"), None);
        assert_eq!(strtod_score(b"1e+"), None);
        assert_eq!(strtod_score(b"1E3"), Some(1000.0));
        assert_eq!(strtod_score(b"12\0abc"), Some(12.0));
        assert_eq!(strtod_score(b"inf"), Some(f64::INFINITY));
        assert_eq!(strtod_score(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod_score(b"infinit"), None);
        assert_eq!(strtod_score(b"nan"), None);
        assert_eq!(strtod_score(b"1e400"), None);
        assert_eq!(strtod_score(b"1e-400"), None);
        assert_eq!(strtod_score(b"0e-400"), Some(0.0));
        assert_eq!(strtod_score(b"1e-310"), None);
        assert_eq!(
            strtod_score(b"2.2250738585072014e-308"),
            Some(f64::MIN_POSITIVE)
        );
        assert_eq!(strtod_score(b"0x10"), Some(16.0));
        assert_eq!(strtod_score(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(strtod_score(b"0x.8"), Some(0.5));
        assert_eq!(strtod_score(b"0x"), None);
        assert_eq!(strtod_score(b"0xg"), None);
        assert_eq!(strtod_score(b"0x1p"), None);
        assert_eq!(strtod_score(b"0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(strtod_score(b"0x1.8p-1074"), None);
        assert_eq!(strtod_score(b"0x1p1024"), None);
        assert_eq!(strtod_score(b"0x1fffffffffffff"), Some(9007199254740991.0));
        // 2^53 + 1 rounds to even, 2^53 + 3 rounds up.
        assert_eq!(strtod_score(b"0x20000000000001"), Some(9007199254740992.0));
        assert_eq!(strtod_score(b"0x20000000000003"), Some(9007199254740996.0));
        assert_eq!(
            strtod_score(b"0x100000000000000000001"),
            Some(2f64.powi(80))
        );
    }

    #[test]
    fn pqsort_sorts_the_window() {
        let mut rng = crate::rng::Rng::new(7);
        for n in [0usize, 1, 2, 5, 6, 7, 8, 9, 40, 41, 200, 1000] {
            for _ in 0..20 {
                let v: Vec<u64> = (0..n).map(|_| rng.below(10)).collect();
                let mut sorted = v.clone();
                sorted.sort();
                let (l, r) = if n == 0 {
                    (0, -1)
                } else {
                    let a = rng.below(n as u64) as i64;
                    let b = rng.below(n as u64) as i64;
                    (a.min(b), a.max(b))
                };
                let mut p = v.clone();
                pqsort(&mut p, l, r, &|a: &u64, b: &u64| a.cmp(b));
                for k in l.max(0)..=r {
                    assert_eq!(p[k as usize], sorted[k as usize]);
                }
                let mut full = v.clone();
                pqsort(&mut full, 0, n as i64 - 1, &|a: &u64, b: &u64| a.cmp(b));
                assert_eq!(full, sorted);
            }
        }
    }

    #[test]
    fn basics() {
        let mut t = TestServer::new();
        t.run(&["RPUSH", "l", "3", "1", "2"]);
        assert_eq!(
            t.run(&["SORT", "l"]),
            "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        assert_eq!(
            t.run(&["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "1"]),
            "*1\r\n$1\r\n1\r\n"
        );
        t.run(&["SET", "w_1", "30"]);
        t.run(&["HSET", "h_2", "f", "x"]);
        assert_eq!(
            t.run(&["SORT", "l", "BY", "w_*", "GET", "#", "GET", "h_*->f"]),
            "*6\r\n$1\r\n2\r\n$1\r\nx\r\n$1\r\n3\r\n$-1\r\n$1\r\n1\r\n$-1\r\n"
        );
        assert_eq!(t.run(&["SORT", "l", "STORE", "d"]), ":3\r\n");
        assert_eq!(
            t.run(&["LRANGE", "d", "0", "-1"]),
            "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"
        );
        assert_eq!(t.run(&["SORT", "nokey", "STORE", "d"]), ":0\r\n");
        assert_eq!(t.run(&["EXISTS", "d"]), ":0\r\n");
        assert_eq!(
            t.run(&["SORT_RO", "l", "STORE", "d"]),
            "-ERR syntax error\r\n"
        );
        t.run(&["RPUSH", "bad", "a"]);
        assert_eq!(
            t.run(&["SORT", "bad"]),
            "-ERR One or more scores can't be converted into double\r\n"
        );
        t.run(&["ZADD", "z", "1", "a"]);
        t.run(&["SORT", "z", "ALPHA"]);
        assert_eq!(t.run(&["OBJECT", "ENCODING", "z"]), "$8\r\nskiplist\r\n");
    }
}
