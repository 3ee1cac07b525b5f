//! Bitmaps: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.
//!
//! Semantics, error texts and the order in which errors are detected follow
//! Redis 7.0's bitops.c (checked against redis-server 7.0.15). Notably, in 7.0
//! BITCOUNT and BITPOS look the key up *before* parsing their range arguments
//! (so a missing key answers 0 / -1 even with malformed ranges); that changed
//! in 7.2. Bit 0 is the most significant bit of the first byte.
//!
//! Speed: BITCOUNT popcounts 8-byte words (with the CPU's POPCNT/AVX2 when
//! available), BITPOS skips whole words, BITOP combines one source at a time a
//! word at a time, BITFIELD reads/writes a field with one 128-bit load/store.

use super::{arg_i64, Ctx};
use crate::db::{Keyspace, Value};
use crate::error::{CmdError, CmdResult};
use crate::util::{eq_ic, parse_i64};

const ERR_BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const ERR_BIT_VALUE: &str = "ERR bit is not an integer or out of range";
const ERR_BF_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// The bytes before the first NUL: what C's `strcasecmp`/`strlen` see of an argument.
fn cstr(a: &[u8]) -> &[u8] {
    match a.iter().position(|&c| c == 0) {
        Some(n) => &a[..n],
        None => a,
    }
}

/// The string bytes of entry `i` (ints formatted into `scratch`), or WRONGTYPE.
/// Borrows only the keyspace, so replies can be written meanwhile.
fn str_of<'a>(ks: &'a Keyspace, db: usize, i: u32, scratch: &'a mut Vec<u8>) -> Result<&'a [u8], CmdError> {
    ks.entry(db, i).val.str_bytes(scratch).ok_or(CmdError::WrongType)
}

/// `!strcasecmp(arg, s)`.
fn is(a: &[u8], s: &str) -> bool {
    eq_ic(cstr(a), s)
}

/// Redis's getBitOffsetFromArgument. With `hash_bits > 0`, "#N" means N*bits
/// (multiplied with C's wrapping arithmetic, as Redis does).
fn bit_offset(ctx: &Ctx, a: &[u8], hash_bits: u32) -> Result<u64, CmdError> {
    let err = || CmdError::msg(ERR_BIT_OFFSET);
    let usehash = hash_bits > 0 && a.first() == Some(&b'#');
    let digits = if usehash { &a[1..] } else { a };
    let mut off = parse_i64(digits).ok_or_else(err)?;
    if usehash {
        off = off.wrapping_mul(i64::from(hash_bits));
    }
    if off < 0 || (off >> 3) >= ctx.cfg.proto_max_bulk_len {
        return Err(err());
    }
    Ok(off as u64)
}

/// Redis's lookupStringForBitCommand: the entry of `key` as a raw string at
/// least `(maxbit >> 3) + 1` bytes long, creating it if missing.
/// Returns (entry, created, grown). A created key is already counted as one
/// change by `Keyspace::add`; callers account for that.
fn lookup_for_write(ctx: &mut Ctx, key: &[u8], maxbit: u64) -> Result<(u32, bool, bool), CmdError> {
    let db = ctx.db;
    let need = (maxbit >> 3) as usize + 1;
    match ctx.ks.lookup_write(db, key) {
        None => {
            let i = ctx.ks.add(db, key, Value::raw(vec![0u8; need]));
            Ok((i, true, true))
        }
        Some(i) => {
            let data = ctx.ks.entry_mut(db, i).val.make_raw().ok_or(CmdError::WrongType)?;
            let grown = data.len() < need;
            if grown {
                grow_zero(data, need);
            }
            Ok((i, false, grown))
        }
    }
}

/// Zero-pad `data` to `need` bytes, preallocating like sds (double below 1 MB,
/// +1 MB above) so that bitmaps grown bit by bit stay amortized O(1).
fn grow_zero(data: &mut Vec<u8>, need: usize) {
    const MAX_PREALLOC: usize = 1 << 20;
    if need > data.capacity() {
        let target = if need < MAX_PREALLOC { need * 2 } else { need + MAX_PREALLOC };
        data.reserve_exact(target - data.len());
    }
    data.resize(need, 0);
}

// ---------------------------------------------------------------------------
// Word-level helpers.
// ---------------------------------------------------------------------------

#[inline(always)]
fn word_ne(ch: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&ch[..8]);
    u64::from_ne_bytes(b)
}

#[inline(always)]
fn word_be(ch: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&ch[..8]);
    u64::from_be_bytes(b)
}

#[inline(always)]
fn popcount_generic(s: &[u8]) -> u64 {
    let mut chunks = s.chunks_exact(8);
    let mut n = 0u64;
    for ch in &mut chunks {
        n += u64::from(word_ne(ch).count_ones());
    }
    for &b in chunks.remainder() {
        n += u64::from(b.count_ones());
    }
    n
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn popcount_popcnt(s: &[u8]) -> u64 {
    popcount_generic(s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
fn popcount_avx2(s: &[u8]) -> u64 {
    popcount_generic(s)
}

/// Number of set bits in `s` (Redis's redisPopcount).
fn popcount(s: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if s.len() >= 64 {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("popcnt") {
                // SAFETY: the required CPU features were detected at run time.
                return unsafe { popcount_avx2(s) };
            }
            if std::arch::is_x86_feature_detected!("popcnt") {
                // SAFETY: as above.
                return unsafe { popcount_popcnt(s) };
            }
        }
    }
    popcount_generic(s)
}

/// Redis's redisBitpos: position of the first bit equal to `bit` in `s`.
/// Not found: -1 when looking for 1, `len * 8` when looking for 0 (the string
/// is considered zero padded on the right).
fn find_bit(s: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0u64 } else { u64::MAX };
    let mut chunks = s.chunks_exact(8);
    let mut pos = 0i64;
    for ch in &mut chunks {
        let w = word_be(ch);
        if w != skip {
            let lz = if bit { w.leading_zeros() } else { (!w).leading_zeros() };
            return pos + i64::from(lz);
        }
        pos += 64;
    }
    for &b in chunks.remainder() {
        let lz = if bit { b.leading_zeros() } else { (!b).leading_zeros() };
        if lz < 8 {
            return pos + i64::from(lz);
        }
        pos += 8;
    }
    if bit {
        -1
    } else {
        pos
    }
}

/// `dst[i] = f(dst[i], src[i])` over `src.len()` bytes, a word at a time.
#[inline(always)]
fn combine(dst: &mut [u8], src: &[u8], f: impl Fn(u64, u64) -> u64) {
    let n = src.len().min(dst.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (dc, sc) in (&mut d).zip(&mut s) {
        let v = f(word_ne(dc), word_ne(sc));
        dc.copy_from_slice(&v.to_ne_bytes());
    }
    for (db, &sb) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *db = f(u64::from(*db), u64::from(sb)) as u8;
    }
}

/// Flip every bit of `s`, a word at a time.
fn invert(s: &mut [u8]) {
    let mut chunks = s.chunks_exact_mut(8);
    for ch in &mut chunks {
        let v = !word_ne(ch);
        ch.copy_from_slice(&v.to_ne_bytes());
    }
    for b in chunks.into_remainder() {
        *b = !*b;
    }
}

/// Unsigned field of `bits` (1..=64) bits at bit `offset`; bytes past the end
/// of `data` read as zero.
fn get_unsigned(data: &[u8], offset: u64, bits: u32) -> u64 {
    let byte = (offset >> 3) as usize;
    let shift = (offset & 7) as u32;
    let mut buf = [0u8; 16];
    if byte < data.len() {
        let n = (data.len() - byte).min(9);
        buf[..n].copy_from_slice(&data[byte..byte + n]);
    }
    let w = u128::from_be_bytes(buf);
    ((w << shift) >> (128 - bits)) as u64
}

/// Signed (two's complement) field; see `get_unsigned`.
fn get_signed(data: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(data, offset, bits);
    // Sign-extend from `bits` bits.
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

/// Store the low `bits` bits of `value` at bit `offset`. `data` must cover the
/// field (callers grow the string to the highest written bit first).
fn set_bits(data: &mut [u8], offset: u64, bits: u32, value: u64) {
    let byte = (offset >> 3) as usize;
    let shift = (offset & 7) as u32;
    let nbytes = ((shift + bits + 7) / 8) as usize;
    let Some(dst) = data.get_mut(byte..byte + nbytes) else {
        debug_assert!(false, "bitfield write past the grown string");
        return;
    };
    let mut buf = [0u8; 16];
    buf[..nbytes].copy_from_slice(dst);
    let low = 128 - shift - bits;
    let ones = (1u128 << bits) - 1;
    let mut w = u128::from_be_bytes(buf);
    w = (w & !(ones << low)) | ((u128::from(value) & ones) << low);
    dst.copy_from_slice(&w.to_be_bytes()[..nbytes]);
}

// ---------------------------------------------------------------------------
// SETBIT / GETBIT
// ---------------------------------------------------------------------------

pub fn setbit(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let off = bit_offset(ctx, argv[2], 0)?;
    let on = parse_i64(argv[3]).ok_or(CmdError::msg(ERR_BIT_VALUE))?;
    if on & !1 != 0 {
        return Err(CmdError::msg(ERR_BIT_VALUE));
    }
    let db = ctx.db;
    let (i, created, grown) = lookup_for_write(ctx, argv[1], off)?;
    let byte = (off >> 3) as usize;
    let mask = 1u8 << (7 - (off & 7));
    let Value::Str { data, .. } = &mut ctx.ks.entry_mut(db, i).val else {
        return Err(CmdError::WrongType);
    };
    let old = data[byte] & mask != 0;
    if grown || old != (on == 1) {
        if on == 1 {
            data[byte] |= mask;
        } else {
            data[byte] &= !mask;
        }
        // A created key was already signalled and counted by `add`.
        if !created {
            ctx.ks.signal_modified(db, argv[1]);
            ctx.ks.dirty += 1;
        }
    }
    ctx.out.int(i64::from(old));
    Ok(())
}

pub fn getbit(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let off = bit_offset(ctx, argv[2], 0)?;
    let Some(i) = ctx.ks.lookup_read(ctx.db, argv[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut scratch = Vec::new();
    let s = str_of(ctx.ks, ctx.db, i, &mut scratch)?;
    let byte = (off >> 3) as usize;
    let set = s.get(byte).is_some_and(|&b| b & (1 << (7 - (off & 7))) != 0);
    ctx.out.int(i64::from(set));
    Ok(())
}

// ---------------------------------------------------------------------------
// BITCOUNT / BITPOS
// ---------------------------------------------------------------------------

/// BIT|BYTE argument: true for BIT.
fn unit_is_bit(a: &[u8]) -> Result<bool, CmdError> {
    if is(a, "bit") {
        Ok(true)
    } else if is(a, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// A range normalized like Redis: byte indexes `start..=end` plus the masks of
/// the bits outside a BIT range in the first and last byte.
struct Range {
    start: i64,
    end: i64,
    first_neg: u8,
    last_neg: u8,
}

/// Clamp `start`/`end` (bytes, or bits when `isbit`) to a string of `len` bytes.
fn normalize(len: usize, mut start: i64, mut end: i64, isbit: bool) -> Range {
    let mut totlen = len as i64;
    if isbit {
        totlen <<= 3;
    }
    if start < 0 {
        start += totlen;
    }
    if end < 0 {
        end += totlen;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= totlen {
        end = totlen - 1;
    }
    let (mut first_neg, mut last_neg) = (0u8, 0u8);
    if isbit && start <= end {
        first_neg = !((1u32 << (8 - (start & 7))) - 1) as u8;
        last_neg = ((1u32 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    Range { start, end, first_neg, last_neg }
}

pub fn bitcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Redis 7.0 looks the key up first: a missing key is 0 whatever the range.
    let Some(i) = ctx.ks.lookup_read(ctx.db, argv[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut scratch = Vec::new();
    let s = str_of(ctx.ks, ctx.db, i, &mut scratch)?;
    let r = match argv.len() {
        4 | 5 => {
            let start = arg_i64(argv[2])?;
            let end = arg_i64(argv[3])?;
            if start < 0 && end < 0 && start > end {
                ctx.out.int(0);
                return Ok(());
            }
            let isbit = if argv.len() == 5 { unit_is_bit(argv[4])? } else { false };
            normalize(s.len(), start, end, isbit)
        }
        2 => Range { start: 0, end: s.len() as i64 - 1, first_neg: 0, last_neg: 0 },
        _ => return Err(CmdError::Syntax),
    };
    let n = if r.start > r.end {
        0
    } else {
        let (a, b) = (r.start as usize, r.end as usize);
        popcount(&s[a..=b])
            - u64::from((s[a] & r.first_neg).count_ones())
            - u64::from((s[b] & r.last_neg).count_ones())
    };
    ctx.out.int(n as i64);
    Ok(())
}

pub fn bitpos(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let bit = arg_i64(argv[2])?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::msg("ERR The bit argument must be 1 or 0."));
    }
    let bit = bit == 1;
    // Redis 7.0: a missing key is an infinite run of zeros, whatever the range.
    let Some(i) = ctx.ks.lookup_read(ctx.db, argv[1]) else {
        ctx.out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let mut scratch = Vec::new();
    let p = str_of(ctx.ks, ctx.db, i, &mut scratch)?;
    let mut end_given = false;
    let r = match argv.len() {
        4..=6 => {
            let start = arg_i64(argv[3])?;
            let isbit = if argv.len() == 6 { unit_is_bit(argv[5])? } else { false };
            let end = if argv.len() >= 5 {
                end_given = true;
                arg_i64(argv[4])?
            } else if isbit {
                ((p.len() as i64) << 3) + 7
            } else {
                p.len() as i64 - 1
            };
            normalize(p.len(), start, end, isbit)
        }
        3 => Range { start: 0, end: p.len() as i64 - 1, first_neg: 0, last_neg: 0 },
        _ => return Err(CmdError::Syntax),
    };
    let pos = if r.start > r.end { -1 } else { bitpos_range(p, &r, bit, end_given) };
    ctx.out.int(pos);
    Ok(())
}

/// The search of Redis's bitposCommand over a non-empty normalized range.
fn bitpos_range(p: &[u8], r: &Range, bit: bool, end_given: bool) -> i64 {
    let mut start = r.start as usize;
    let end = r.end as usize;
    let mut bytes = end - start + 1;
    let masked = |c: u8, neg: u8| if bit { c & !neg } else { c | neg };
    let pos = 'search: {
        if r.first_neg != 0 {
            let mut c = masked(p[start], r.first_neg);
            if r.last_neg != 0 && bytes == 1 {
                c = masked(c, r.last_neg);
            }
            let pos = find_bit(&[c], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'search pos;
            }
            start += 1;
            bytes -= 1;
        }
        let cur = bytes - usize::from(r.last_neg != 0);
        if cur > 0 {
            let pos = find_bit(&p[start..start + cur], bit);
            if bytes == cur || (pos != -1 && pos != (cur as i64) << 3) {
                break 'search pos;
            }
            start += cur;
            bytes -= cur;
        }
        find_bit(&[masked(p[end], r.last_neg)], bit)
    };
    // With an explicit end, the right of the range is not zero padded.
    if end_given && !bit && pos == (bytes as i64) << 3 {
        return -1;
    }
    if pos == -1 {
        -1
    } else {
        pos + ((start as i64) << 3)
    }
}

// ---------------------------------------------------------------------------
// BITOP
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

pub fn bitop(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let name = argv[1];
    let op = if is(name, "and") {
        BitOp::And
    } else if is(name, "or") {
        BitOp::Or
    } else if is(name, "xor") {
        BitOp::Xor
    } else if is(name, "not") {
        BitOp::Not
    } else {
        return Err(CmdError::Syntax);
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err(CmdError::msg("ERR BITOP NOT must be called with a single source key."));
    }
    let db = ctx.db;
    let keys = &argv[3..];
    let mut found: Vec<Option<u32>> = Vec::with_capacity(keys.len());
    for k in keys {
        let i = ctx.ks.lookup_read(db, k);
        if let Some(i) = i {
            if !ctx.ks.entry(db, i).val.is_string() {
                return Err(CmdError::WrongType);
            }
        }
        found.push(i);
    }
    // Integer-encoded sources are read as their decimal text.
    let mut ints: Vec<Vec<u8>> = Vec::new();
    for i in found.iter().flatten() {
        if let Value::Int(n) = ctx.ks.entry(db, *i).val {
            ints.push(crate::util::i64_bytes(n));
        }
    }
    let mut next_int = ints.iter();
    let mut srcs: Vec<&[u8]> = Vec::with_capacity(keys.len());
    for i in &found {
        let s: &[u8] = match i {
            None => &[],
            Some(i) => match &ctx.ks.entry(db, *i).val {
                Value::Str { data, .. } => data,
                Value::Int(_) => next_int.next().map_or(&[][..], |v| v.as_slice()),
            },
        };
        srcs.push(s);
    }
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let res = if maxlen == 0 {
        None
    } else {
        let mut res = Vec::with_capacity(maxlen);
        res.extend_from_slice(srcs[0]);
        res.resize(maxlen, 0);
        match op {
            BitOp::Not => invert(&mut res),
            BitOp::And => {
                for s in &srcs[1..] {
                    combine(&mut res, s, |d, s| d & s);
                    res[s.len()..].fill(0);
                }
            }
            BitOp::Or => {
                for s in &srcs[1..] {
                    combine(&mut res, s, |d, s| d | s);
                }
            }
            BitOp::Xor => {
                for s in &srcs[1..] {
                    combine(&mut res, s, |d, s| d ^ s);
                }
            }
        }
        Some(res)
    };
    drop(srcs);
    match res {
        Some(res) => {
            ctx.ks.set(db, argv[2], Value::raw(res), false);
        }
        None => {
            ctx.ks.delete(db, argv[2]);
        }
    }
    ctx.out.int(maxlen as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// BITFIELD / BITFIELD_RO
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum BfOp {
    Get,
    Set,
    Incrby,
}

#[derive(Clone, Copy)]
struct FieldOp {
    offset: u64,
    value: i64,
    op: BfOp,
    ow: Overflow,
    bits: u32,
    signed: bool,
}

/// Redis's getBitfieldTypeFromArgument: "i1".."i64" or "u1".."u63".
fn bitfield_type(a: &[u8]) -> Result<(bool, u32), CmdError> {
    let err = || CmdError::msg(ERR_BF_TYPE);
    let signed = match a.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let n = parse_i64(cstr(&a[1..])).ok_or_else(err)?;
    if n < 1 || (signed && n > 64) || (!signed && n > 63) {
        return Err(err());
    }
    Ok((signed, n as u32))
}

/// Redis's checkUnsignedBitfieldOverflow: (1 overflow / -1 underflow / 0, the
/// wrapped or saturated value for WRAP/SAT).
fn check_unsigned(value: u64, incr: i64, bits: u32, ow: Overflow) -> (i32, u64) {
    let max = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || {
        let res = value.wrapping_add(incr as u64);
        if bits < 64 {
            res & !(u64::MAX << bits)
        } else {
            res
        }
    };
    if value > max || (incr > 0 && incr > maxincr) {
        let lim = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        (1, lim)
    } else if incr < 0 && incr < minincr {
        let lim = match ow {
            Overflow::Wrap => wrap(),
            _ => 0,
        };
        (-1, lim)
    } else {
        (0, 0)
    }
}

/// Redis's checkSignedBitfieldOverflow, including its quirks (the range
/// checks use C's wrapping arithmetic).
fn check_signed(value: i64, incr: i64, bits: u32, ow: Overflow) -> (i32, i64) {
    let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        let lim = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        (1, lim)
    } else if value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
        let lim = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => min,
            Overflow::Fail => 0,
        };
        (-1, lim)
    } else {
        (0, 0)
    }
}

fn bitfield_generic(ctx: &mut Ctx, argv: &[&[u8]], readonly_cmd: bool) -> CmdResult {
    let mut ops: Vec<FieldOp> = Vec::new();
    let mut ow = Overflow::Wrap;
    let mut readonly = true;
    let mut highest_write: u64 = 0;
    let mut j = 2;
    while j < argv.len() {
        let remargs = argv.len() - j - 1;
        let sub = argv[j];
        let op = if is(sub, "get") && remargs >= 2 {
            BfOp::Get
        } else if is(sub, "set") && remargs >= 3 {
            BfOp::Set
        } else if is(sub, "incrby") && remargs >= 3 {
            BfOp::Incrby
        } else if is(sub, "overflow") && remargs >= 1 {
            let t = argv[j + 1];
            ow = if is(t, "wrap") {
                Overflow::Wrap
            } else if is(t, "sat") {
                Overflow::Sat
            } else if is(t, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::msg("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = bitfield_type(argv[j + 1])?;
        let offset = bit_offset(ctx, argv[j + 2], bits)?;
        let mut value = 0;
        if op != BfOp::Get {
            readonly = false;
            highest_write = highest_write.max(offset + u64::from(bits) - 1);
            value = arg_i64(argv[j + 3])?;
        }
        ops.push(FieldOp { offset, value, op, ow, bits, signed });
        j += if op == BfOp::Get { 3 } else { 4 };
    }

    let db = ctx.db;
    if readonly {
        let found = ctx.ks.lookup_read(db, argv[1]);
        let mut scratch = Vec::new();
        let data: &[u8] = match found {
            Some(i) => str_of(ctx.ks, ctx.db, i, &mut scratch)?,
            None => &[],
        };
        ctx.out.array(ops.len());
        for op in &ops {
            let v = if op.signed {
                get_signed(data, op.offset, op.bits)
            } else {
                get_unsigned(data, op.offset, op.bits) as i64
            };
            ctx.out.int(v);
        }
        return Ok(());
    }
    if readonly_cmd {
        return Err(CmdError::msg("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    let (i, created, grown) = lookup_for_write(ctx, argv[1], highest_write)?;
    if created {
        // Redis's dbAdd is not a change by itself: only the writes below count.
        ctx.ks.dirty -= 1;
    }
    let Value::Str { data, .. } = &mut ctx.ks.entry_mut(db, i).val else {
        return Err(CmdError::WrongType);
    };
    let out = &mut *ctx.out;
    out.array(ops.len());
    let mut changes: u64 = 0;
    for op in &ops {
        match op.op {
            BfOp::Get => {
                let v = if op.signed {
                    get_signed(data, op.offset, op.bits)
                } else {
                    get_unsigned(data, op.offset, op.bits) as i64
                };
                out.int(v);
            }
            _ if op.signed => {
                let old = get_signed(data, op.offset, op.bits);
                let (overflow, new, ret) = if op.op == BfOp::Incrby {
                    let (ov, lim) = check_signed(old, op.value, op.bits, op.ow);
                    let new = if ov != 0 { lim } else { old.wrapping_add(op.value) };
                    (ov, new, new)
                } else {
                    let (ov, lim) = check_signed(op.value, 0, op.bits, op.ow);
                    (ov, if ov != 0 { lim } else { op.value }, old)
                };
                if overflow != 0 && op.ow == Overflow::Fail {
                    out.null();
                } else {
                    out.int(ret);
                    set_bits(data, op.offset, op.bits, new as u64);
                    if grown || created || old != new {
                        changes += 1;
                    }
                }
            }
            _ => {
                let old = get_unsigned(data, op.offset, op.bits);
                let (overflow, new, ret) = if op.op == BfOp::Incrby {
                    let (ov, lim) = check_unsigned(old, op.value, op.bits, op.ow);
                    let new = if ov != 0 { lim } else { old.wrapping_add(op.value as u64) };
                    (ov, new, new)
                } else {
                    let v = op.value as u64;
                    let (ov, lim) = check_unsigned(v, 0, op.bits, op.ow);
                    (ov, if ov != 0 { lim } else { v }, old)
                };
                if overflow != 0 && op.ow == Overflow::Fail {
                    out.null();
                } else {
                    out.int(ret as i64);
                    set_bits(data, op.offset, op.bits, new);
                    if grown || created || old != new {
                        changes += 1;
                    }
                }
            }
        }
    }
    if changes > 0 {
        if !created {
            ctx.ks.signal_modified(db, argv[1]);
        }
        ctx.ks.dirty += changes;
    }
    Ok(())
}

pub fn bitfield(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, argv, false)
}

pub fn bitfield_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, argv, true)
}

#[cfg(test)]
mod tests {
    use crate::server::TestServer;

    #[test]
    fn smoke() {
        let mut t = TestServer::new();
        assert_eq!(t.run(&["SETBIT", "k", "7", "1"]), ":0\r\n");
        assert_eq!(t.run(&["GETBIT", "k", "7"]), ":1\r\n");
    }

    /// Rough timings on 64 MB bitmaps (not run by default).
    #[test]
    #[ignore]
    fn bench_big() {
        let mut t = TestServer::new();
        let time = |t: &mut TestServer, args: &[&str]| {
            let s = std::time::Instant::now();
            let r = t.run(args);
            eprintln!("{args:?} -> {} in {:?}", r.trim_end(), s.elapsed());
        };
        let last = (64u64 * 8 * 1024 * 1024 - 1).to_string();
        time(&mut t, &["SETBIT", "a", &last, "1"]);
        time(&mut t, &["SETBIT", "b", &last, "1"]);
        time(&mut t, &["BITCOUNT", "a"]);
        time(&mut t, &["BITCOUNT", "a", "1", "-2", "BIT"]);
        time(&mut t, &["BITPOS", "a", "1"]);
        time(&mut t, &["BITCOUNT", "b"]);
        for _ in 0..3 {
            time(&mut t, &["BITOP", "AND", "c", "a", "b"]);
        }
        for _ in 0..3 {
            time(&mut t, &["BITOP", "XOR", "c", "a", "b", "c"]);
        }
        for _ in 0..3 {
            time(&mut t, &["BITOP", "NOT", "c", "a"]);
        }
        time(&mut t, &["BITPOS", "c", "0"]);
    }

    /// Differential fuzz against a real redis-server 7.0 (not run by default):
    /// `REDSIM_DIFF_PORT=7790 cargo test -p redsim-core bitmap -- --ignored`.
    #[test]
    #[ignore]
    fn diff_against_redis() {
        use std::io::{BufRead, BufReader, Read, Write};
        let port: u16 = match std::env::var("REDSIM_DIFF_PORT") {
            Ok(p) => p.parse().expect("port"),
            Err(_) => return,
        };
        let iters: usize = std::env::var("REDSIM_DIFF_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(20000);
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let mut w = stream.try_clone().expect("clone");
        let mut r = BufReader::new(stream);
        fn read_reply(r: &mut BufReader<std::net::TcpStream>, out: &mut Vec<u8>) {
            let mut line = Vec::new();
            r.read_until(b'\n', &mut line).expect("read");
            out.extend_from_slice(&line);
            let n: i64 = std::str::from_utf8(&line[1..line.len() - 2]).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
            match line[0] {
                b'$' if n >= 0 => {
                    let mut b = vec![0u8; n as usize + 2];
                    r.read_exact(&mut b).expect("read");
                    out.extend_from_slice(&b);
                }
                b'*' if n > 0 => {
                    for _ in 0..n {
                        read_reply(r, out);
                    }
                }
                _ => {}
            }
        }
        let mut real = |args: &[Vec<u8>]| -> String {
            let mut req = format!("*{}\r\n", args.len()).into_bytes();
            for a in args {
                req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                req.extend_from_slice(a);
                req.extend_from_slice(b"\r\n");
            }
            w.write_all(&req).expect("write");
            let mut out = Vec::new();
            read_reply(&mut r, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        };
        let mut t = TestServer::new();
        real(&[b"FLUSHALL".to_vec()]);
        let seed = std::cell::Cell::new(
            std::env::var("REDSIM_DIFF_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x9E37_79B9_7F4A_7C15u64),
        );
        let rnd = |n: u64| -> u64 {
            let mut x = seed.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            seed.set(x);
            x % n.max(1)
        };
        let keys = ["a", "b", "c", "d"];
        let mut base = [0i64; 3];
        for it in 0..iters {
            let key = || keys[rnd(4) as usize].as_bytes().to_vec();
            let k = key();
            let num = || -> Vec<u8> {
                match rnd(12) {
                    0 => b"-1".to_vec(),
                    1 => format!("-{}", rnd(40)).into_bytes(),
                    2 => b"x".to_vec(),
                    3 => b"9223372036854775807".to_vec(),
                    4 => b"-9223372036854775808".to_vec(),
                    5 => format!("-{}", rnd(400)).into_bytes(),
                    6 => format!("{}", rnd(400)).into_bytes(),
                    _ => format!("{}", rnd(40)).into_bytes(),
                }
            };
            let mut args: Vec<Vec<u8>>;
            match rnd(14) {
                0 => {
                    let len = rnd(40);
                    let v: Vec<u8> = (0..len)
                        .map(|_| match rnd(4) {
                            0 => 0xff,
                            1 => 0,
                            _ => rnd(256) as u8,
                        })
                        .collect();
                    let v = match rnd(6) {
                        0 => format!("{}", rnd(100000) as i64 - 500).into_bytes(),
                        1 | 2 => {
                            // Long runs of 0x00 / 0xff with rare odd bytes: word paths.
                            let fill = if rnd(2) == 0 { 0u8 } else { 0xff };
                            let mut v = vec![fill; rnd(300) as usize];
                            for _ in 0..rnd(3) {
                                if !v.is_empty() {
                                    let at = rnd(v.len() as u64) as usize;
                                    v[at] = rnd(256) as u8;
                                }
                            }
                            v
                        }
                        _ => v,
                    };
                    args = vec![b"SET".to_vec(), k, v];
                }
                1 => {
                    let off = if rnd(10) == 0 { num() } else { format!("{}", rnd(400)).into_bytes() };
                    let v = match rnd(8) {
                        0 => b"2".to_vec(),
                        1 => b"-1".to_vec(),
                        2 => b"01".to_vec(),
                        _ => format!("{}", rnd(2)).into_bytes(),
                    };
                    args = vec![b"SETBIT".to_vec(), k, off, v];
                }
                2 => {
                    let off = if rnd(10) == 0 { num() } else { format!("{}", rnd(400)).into_bytes() };
                    args = vec![b"GETBIT".to_vec(), k, off];
                }
                3 | 4 => {
                    args = vec![b"BITCOUNT".to_vec(), k];
                    let n = rnd(5);
                    if n >= 1 {
                        args.push(num());
                    }
                    if n >= 2 {
                        args.push(num());
                    }
                    if n >= 3 {
                        args.push([&b"BIT"[..], b"byte", b"bits", b"Bit"][rnd(4) as usize].to_vec());
                    }
                    if n >= 4 && rnd(3) == 0 {
                        args.push(b"x".to_vec());
                    }
                }
                5 | 6 | 7 => {
                    let bit = match rnd(10) {
                        0 => b"2".to_vec(),
                        1 => b"x".to_vec(),
                        _ => format!("{}", rnd(2)).into_bytes(),
                    };
                    args = vec![b"BITPOS".to_vec(), k, bit];
                    let n = rnd(5);
                    if n >= 1 {
                        args.push(num());
                    }
                    if n >= 2 {
                        args.push(num());
                    }
                    if n >= 3 {
                        args.push([&b"BIT"[..], b"byte", b"bits", b"bit"][rnd(4) as usize].to_vec());
                    }
                    if n >= 4 && rnd(3) == 0 {
                        args.push(b"x".to_vec());
                    }
                }
                8 => {
                    let op = [&b"AND"[..], b"or", b"Xor", b"NOT", b"nand", b"not"][rnd(6) as usize];
                    args = vec![b"BITOP".to_vec(), op.to_vec(), key()];
                    for _ in 0..=rnd(3) {
                        args.push(key());
                    }
                }
                9 | 10 | 11 => {
                    let ro = rnd(6) == 0;
                    args = vec![if ro { b"BITFIELD_RO".to_vec() } else { b"BITFIELD".to_vec() }, k];
                    for _ in 0..rnd(4) {
                        let sign = if rnd(2) == 0 { "i" } else { "u" };
                        let ty = match rnd(12) {
                            0 => "u64".to_string(),
                            1 => "i65".to_string(),
                            2 => "x8".to_string(),
                            3 => "i64".to_string(),
                            4 => "u63".to_string(),
                            _ => format!("{sign}{}", 1 + rnd(16)),
                        };
                        let off = match rnd(10) {
                            0 => format!("#{}", rnd(20)),
                            1 => String::from_utf8_lossy(&num()).into_owned(),
                            _ => format!("{}", rnd(300)),
                        };
                        let v = if rnd(3) == 0 { num() } else { format!("{}", rnd(70000) as i64 - 35000).into_bytes() };
                        match rnd(7) {
                            0 | 1 => args.extend([b"GET".to_vec(), ty.into_bytes(), off.into_bytes()]),
                            2 | 3 => args.extend([b"set".to_vec(), ty.into_bytes(), off.into_bytes(), v]),
                            4 | 5 => args.extend([b"INCRBY".to_vec(), ty.into_bytes(), off.into_bytes(), v]),
                            _ => args.extend([
                                b"OVERFLOW".to_vec(),
                                [&b"WRAP"[..], b"sat", b"FAIL", b"bad"][rnd(4) as usize].to_vec(),
                            ]),
                        }
                    }
                    if rnd(20) == 0 {
                        args.push(b"GET".to_vec());
                    }
                }
                12 => args = vec![b"GET".to_vec(), k],
                _ => {
                    args = vec![
                        [&b"OBJECT"[..], b"DEL", b"STRLEN"][rnd(3) as usize].to_vec(),
                        k,
                    ];
                    if args[0] == b"OBJECT" {
                        args.insert(1, b"ENCODING".to_vec());
                    }
                }
            }
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            let got = t.run_bytes(&refs);
            let want = real(&args);
            let shown: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            assert_eq!(got, want, "iteration {it}: {shown:?}");
            // Same counters: changes (server.dirty), keyspace hits and misses.
            let field = |s: &str, name: &str| -> i64 {
                s.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(-1)
            };
            let names = ["rdb_changes_since_last_save:", "keyspace_hits:", "keyspace_misses:"];
            let (g1, w1) = (t.run(&["INFO", "persistence"]), real(&[b"INFO".to_vec(), b"persistence".to_vec()]));
            let (g2, w2) = (t.run(&["INFO", "stats"]), real(&[b"INFO".to_vec(), b"stats".to_vec()]));
            for (n, name) in names.iter().enumerate() {
                let (g, w) = if n == 0 { (&g1, &w1) } else { (&g2, &w2) };
                let (g, w) = (field(g, name), field(w, name));
                // (OBJECT's own hit/miss accounting is not what this test checks.)
                if it == 0 || args[0] == b"OBJECT" {
                    base[n] = w - g;
                }
                assert_eq!(g + base[n], w, "{name} after iteration {it}: {shown:?}");
            }
        }
    }
}
