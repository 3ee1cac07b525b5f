//! Stream commands (XADD ... XINFO) and consumer groups, following Redis
//! 7.0's t_stream.c: argument parse order (so the same error wins), error
//! texts, reply shapes (RESP3 maps where Redis uses them), entries-read/lag
//! bookkeeping, dirty counts and keyspace events ("xadd", "xdel", "xtrim",
//! "xsetid", "xgroup-*"). Time (auto IDs, delivery and seen times) is
//! `ctx.now_ms()`. Blocking XREAD/XREADGROUP go through `ctx.block_on` with
//! `$` rewritten to the stream's last ID, as Redis does.

use super::{arg_i64, Ctx};
use crate::db::stream::{
    Fields, Group, Nack, NodeLimits, StreamId, StreamVal, Trim, INVALID_ENTRIES_READ,
};
use crate::db::{Keyspace, Value};
use crate::error::{CmdError, CmdResult};
use crate::resp::Reply;
use crate::util::eq_ic;

use super::notify;

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const NO_KEY_XGROUP: &str = "ERR The XGROUP subcommand requires the key to exist. Note that \
    for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

// ---------------------------------------------------------------------------
// ID parsing

/// C `strtoull(s, &end, 10)` over the whole string (as string2ull's
/// fallback uses it): leading whitespace, one optional sign (a '-' negates
/// modulo 2^64), at least one digit, nothing after, no overflow.
fn strtoull(s: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if let Some(&c) = s.get(i) {
        if c == b'+' || c == b'-' {
            neg = c == b'-';
            i += 1;
        }
    }
    let digits = s.get(i..)?;
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Redis's string2ull: string2ll when it parses (negative rejected), else
/// strtoull semantics.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::util::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    strtoull(s)
}

/// Redis's streamGenericParseIDOrReply. Returns the ID and whether the
/// sequence was given (false for "<ms>-*", only accepted when `allow_star`).
fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_star: bool,
) -> Result<(StreamId, bool), CmdError> {
    let bad = || CmdError::msg(INVALID_ID);
    if arg.len() > 127 {
        return Err(bad());
    }
    // The C code works on a NUL-terminated copy.
    let buf = match arg.iter().position(|&c| c == 0) {
        Some(p) => &arg[..p],
        None => arg,
    };
    if buf == b"-" {
        return if strict {
            Err(bad())
        } else {
            Ok((StreamId::MIN, true))
        };
    }
    if buf == b"+" {
        return if strict {
            Err(bad())
        } else {
            Ok((StreamId::MAX, true))
        };
    }
    let (ms_part, seq_part) = match buf.iter().position(|&c| c == b'-') {
        Some(p) => (&buf[..p], Some(&buf[p + 1..])),
        None => (buf, None),
    };
    let ms = string2ull(ms_part).ok_or_else(bad)?;
    match seq_part {
        Some(b"*") if allow_star => Ok((StreamId::new(ms, 0), false)),
        Some(sp) => Ok((StreamId::new(ms, string2ull(sp).ok_or_else(bad)?), true)),
        None => Ok((StreamId::new(ms, missing_seq), true)),
    }
}

/// streamParseStrictIDOrReply ("-" and "+" rejected).
fn parse_strict(arg: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id_full(arg, missing_seq, true, false).map(|r| r.0)
}

/// streamParseIDOrReply ("-" and "+" accepted).
fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id_full(arg, missing_seq, false, false).map(|r| r.0)
}

/// streamParseIntervalIDOrReply: "(" makes the bound exclusive (strict ID).
fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((parse_strict(&arg[1..], missing_seq)?, true))
    } else {
        Ok((parse_id(arg, missing_seq)?, false))
    }
}

/// Start/end of a range with exclusive bounds resolved (XRANGE, XPENDING).
fn parse_range(start: &[u8], end: &[u8]) -> Result<(StreamId, StreamId), CmdError> {
    let (mut s, sx) = parse_interval(start, 0)?;
    if sx {
        s = s
            .incr()
            .ok_or_else(|| CmdError::msg("ERR invalid start ID for the interval"))?;
    }
    let (mut e, ex) = parse_interval(end, u64::MAX)?;
    if ex {
        e = e
            .decr()
            .ok_or_else(|| CmdError::msg("ERR invalid end ID for the interval"))?;
    }
    Ok((s, e))
}

// ---------------------------------------------------------------------------
// Lookups and replies

fn is_stream(v: &Value) -> bool {
    matches!(v, Value::Stream(_))
}

fn sref(ks: &Keyspace, db: usize, i: u32) -> Option<&StreamVal> {
    match &ks.entry(db, i).val {
        Value::Stream(s) => Some(s),
        _ => None,
    }
}

fn smut(ks: &mut Keyspace, db: usize, i: u32) -> Option<&mut StreamVal> {
    match &mut ks.entry_mut(db, i).val {
        Value::Stream(s) => Some(s),
        _ => None,
    }
}

fn lookup_read(ctx: &mut Ctx, key: &[u8]) -> Result<Option<u32>, CmdError> {
    super::lookup_typed(ctx, key, false, is_stream)
}

fn lookup_write(ctx: &mut Ctx, key: &[u8]) -> Result<Option<u32>, CmdError> {
    super::lookup_typed(ctx, key, true, is_stream)
}

fn node_limits(ctx: &Ctx) -> NodeLimits {
    NodeLimits {
        max_entries: ctx.cfg.stream_node_max_entries,
        max_bytes: ctx.cfg.stream_node_max_bytes,
    }
}

fn reply_id(out: &mut Reply, id: &StreamId) {
    let mut buf = [0u8; 41];
    let n = id.format(&mut buf);
    out.bulk(&buf[..n]);
}

fn reply_entry(out: &mut Reply, id: &StreamId, f: &Fields) {
    out.array(2);
    reply_id(out, id);
    out.array(f.len());
    for x in f.iter() {
        out.bulk(x);
    }
}

fn nogroup_key(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn nogroup(group: &[u8], key: &[u8]) -> CmdError {
    CmdError::msg(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

fn subcommand_syntax(argv: &[&[u8]]) -> CmdError {
    let sub = argv.get(1).map_or(&b""[..], |a| a);
    let sub = &sub[..sub.len().min(128)];
    let cmd = argv.first().map_or(&b""[..], |a| a).to_ascii_uppercase();
    CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        String::from_utf8_lossy(&cmd)
    ))
}

// ---------------------------------------------------------------------------
// XADD / XTRIM

struct AddTrim {
    /// Explicit ID and whether its sequence was given (None = "*").
    id: Option<(StreamId, bool)>,
    nomkstream: bool,
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    /// Index of the ID argument (XADD); argv.len() when none was found.
    id_pos: usize,
}

/// Redis's streamParseAddOrTrimArgsOrReply.
fn parse_add_trim(ctx: &Ctx, argv: &[&[u8]], xadd: bool) -> Result<AddTrim, CmdError> {
    let mut a = AddTrim {
        id: None,
        nomkstream: false,
        trim: None,
        approx: false,
        limit: 0,
        id_pos: argv.len(),
    };
    let mut limit_given = false;
    let mut limit: i64 = 0;
    let both = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = argv[i];
        if xadd && opt == b"*" {
            a.id_pos = i;
            break;
        } else if eq_ic(opt, "maxlen") && more > 0 {
            if a.trim.is_some() {
                return Err(CmdError::msg(both));
            }
            a.approx = false;
            let next = argv[i + 1];
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let max = arg_i64(argv[i + 1])?;
            if max < 0 {
                return Err(CmdError::msg("ERR The MAXLEN argument must be >= 0."));
            }
            i += 1;
            a.trim = Some(Trim::MaxLen(max as u64));
        } else if eq_ic(opt, "minid") && more > 0 {
            if a.trim.is_some() {
                return Err(CmdError::msg(both));
            }
            a.approx = false;
            let next = argv[i + 1];
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let id = parse_strict(argv[i + 1], 0)?;
            i += 1;
            a.trim = Some(Trim::MinId(id));
        } else if eq_ic(opt, "limit") && more > 0 {
            limit = arg_i64(argv[i + 1])?;
            if limit < 0 {
                return Err(CmdError::msg("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && eq_ic(opt, "nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some(parse_id_full(opt, 0, true, true)?);
            a.id_pos = i;
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if limit != 0 && a.trim.is_none() {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && a.trim.is_none() {
        return Err(CmdError::msg(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !a.approx {
            return Err(CmdError::msg(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        a.limit = limit as u64;
    } else if a.approx {
        // At most 100 nodes of work, bounded both ways (Redis's clamp).
        let per = node_limits(ctx).max_entries as i64;
        let mut l = per.saturating_mul(100);
        if l <= 0 {
            l = 10000;
        }
        if l > 1_000_000 {
            l = 1_000_000;
        }
        a.limit = l as u64;
    } else {
        a.limit = 0;
    }
    Ok(a)
}

pub fn xadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let a = parse_add_trim(ctx, argv, true)?;
    let field_pos = a.id_pos + 1;
    let nfv = argv.len().saturating_sub(field_pos);
    if field_pos > argv.len() || nfv < 2 || nfv % 2 == 1 {
        return Err(CmdError::Arity("xadd".into()));
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return Err(CmdError::msg(
                "ERR The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let db = ctx.db;
    let key = argv[1];
    let found = lookup_write(ctx, key)?;
    if found.is_none() && a.nomkstream {
        ctx.out.null();
        return Ok(());
    }
    let fv = &argv[field_pos..];
    let totelelen: usize = fv.iter().map(|x| x.len()).sum();
    let lim = node_limits(ctx);
    let now = ctx.now_ms();
    // Work out the ID before creating the key, so a failure leaves no key
    // behind (Redis can't fail on a fresh stream either).
    let (last, created) = match found {
        Some(i) => (
            sref(ctx.ks, db, i).map_or(StreamId::MIN, |s| s.last_id),
            false,
        ),
        None => (StreamId::MIN, true),
    };
    if last == StreamId::MAX {
        return Err(CmdError::msg(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let smaller = || {
        CmdError::msg(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        )
    };
    let id = match a.id {
        Some((id, true)) => id,
        Some((id, false)) => {
            if last.ms == id.ms {
                last.incr().filter(|n| n.ms == id.ms).ok_or_else(smaller)?
            } else {
                id
            }
        }
        None => {
            let ms = u64::try_from(now).unwrap_or(0);
            if ms > last.ms {
                StreamId::new(ms, 0)
            } else {
                last.incr().ok_or_else(smaller)?
            }
        }
    };
    if id <= last {
        return Err(smaller());
    }
    if totelelen > (1 << 30) {
        return Err(CmdError::msg("ERR Elements are too large to be stored"));
    }
    let i = match found {
        Some(i) => i,
        None => ctx
            .ks
            .add(db, key, Value::Stream(Box::new(StreamVal::new()))),
    };
    let Some(s) = smut(ctx.ks, db, i) else {
        return Err(CmdError::WrongType);
    };
    s.append(id, fv, lim);
    let trimmed = match a.trim {
        Some(t) => s.trim(t, a.approx, a.limit),
        None => 0,
    };
    let len_after = s.len();
    if ctx.propagating() && (a.trim.is_some() || !matches!(a.id, Some((_, true)))) {
        // Replay must not depend on the clock (`*`) or on node sizes (`~`):
        // the explicit ID, and any trim as the exact length it left.
        let id_b = id.to_bytes();
        let len_b = crate::util::i64_bytes(len_after as i64);
        let mut p: Vec<&[u8]> = vec![b"XADD", key];
        if a.nomkstream {
            p.push(b"NOMKSTREAM");
        }
        if a.trim.is_some() {
            p.extend_from_slice(&[b"MAXLEN", b"=", &len_b]);
        }
        p.push(&id_b);
        p.extend_from_slice(fv);
        ctx.propagate_as(&p);
    }
    reply_id(ctx.out, &id);
    if !created {
        ctx.ks.signal_modified(db, key);
        ctx.ks.dirty += 1;
    }
    ctx.notify(notify::STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    ctx.signal_ready(key);
    Ok(())
}

pub fn xtrim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    let key = argv[1];
    let a = parse_add_trim(ctx, argv, false)?;
    let Some(i) = lookup_write(ctx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let Some(t) = a.trim else {
        return Err(CmdError::Syntax);
    };
    let Some(s) = smut(ctx.ks, db, i) else {
        return Err(CmdError::WrongType);
    };
    let deleted = s.trim(t, a.approx, a.limit);
    let len_after = s.len();
    if deleted > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
        ctx.ks.signal_modified(db, key);
        ctx.ks.dirty += deleted;
        // Trimming always removes from the head: the exact length left
        // replays the same deletions whatever the node sizes.
        ctx.propagate_as(&[
            b"XTRIM",
            key,
            b"MAXLEN",
            b"=",
            &crate::util::i64_bytes(len_after as i64),
        ]);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// XRANGE / XREVRANGE / XLEN / XDEL / XSETID

fn range_generic(ctx: &mut Ctx, argv: &[&[u8]], rev: bool) -> CmdResult {
    let (sa, ea) = if rev {
        (argv[3], argv[2])
    } else {
        (argv[2], argv[3])
    };
    let (start, end) = parse_range(sa, ea)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if eq_ic(argv[j], "count") && j + 1 < argv.len() {
            count = arg_i64(argv[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let Some(i) = lookup_read(ctx, argv[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count == 0 {
        ctx.out.null_array();
        return Ok(());
    }
    let Some(s) = sref(ctx.ks, ctx.db, i) else {
        return Err(CmdError::WrongType);
    };
    let take = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    let items: Vec<(&StreamId, &Fields)> = s.range(start, end, rev).take(take).collect();
    ctx.out.array(items.len());
    for (id, f) in items {
        reply_entry(ctx.out, id, f);
    }
    Ok(())
}

pub fn xrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, false)
}

pub fn xrevrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, true)
}

pub fn xlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = match lookup_read(ctx, argv[1])? {
        Some(i) => sref(ctx.ks, ctx.db, i).map_or(0, |s| s.len()),
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

pub fn xdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    let key = argv[1];
    let Some(i) = lookup_write(ctx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let ids = argv[2..]
        .iter()
        .map(|a| parse_strict(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(s) = smut(ctx.ks, db, i) else {
        return Err(CmdError::WrongType);
    };
    let mut deleted = 0u64;
    let mut first = false;
    for id in &ids {
        if s.delete(id) {
            if *id == s.first_id {
                first = true;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        if s.is_empty() {
            s.first_id = StreamId::MIN;
        } else if first {
            s.refresh_first_id();
        }
        ctx.ks.signal_modified(db, key);
        ctx.notify(notify::STREAM, "xdel", key);
        ctx.ks.dirty += deleted;
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

pub fn xsetid(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let id = parse_strict(argv[2], 0)?;
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if eq_ic(argv[i], "entriesadded") && more > 0 {
            entries_added = arg_i64(argv[i + 1])?;
            if entries_added < 0 {
                return Err(CmdError::msg("ERR entries_added must be positive"));
            }
        } else if eq_ic(argv[i], "maxdeletedid") && more > 0 {
            max_xdel = parse_strict(argv[i + 1], 0)?;
            if id < max_xdel {
                return Err(CmdError::msg(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let db = ctx.db;
    let key = argv[1];
    let Some(k) = lookup_write(ctx, key)? else {
        return Err(CmdError::NoSuchKey);
    };
    let Some(s) = smut(ctx.ks, db, k) else {
        return Err(CmdError::WrongType);
    };
    if let Some((top, _)) = s.last_entry() {
        if id < *top {
            return Err(CmdError::msg(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.len() as u64 > entries_added as u64 {
            return Err(CmdError::msg(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_id = max_xdel;
    }
    // Redis 7.0's XSETID does not signalModifiedKey (WATCH stays valid).
    ctx.notify(notify::STREAM, "xsetid", key);
    ctx.ks.dirty += 1;
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------
// XREAD / XREADGROUP

/// Entries XREAD sends when it wakes up blocked without COUNT (Redis's
/// XREAD_BLOCKED_DEFAULT_COUNT).
const BLOCKED_DEFAULT_COUNT: &[u8] = b"1000";

/// Special IDs of XREAD/XREADGROUP.
#[derive(Clone, Copy)]
enum ReadId {
    Id(StreamId),
    /// XREADGROUP's ">" (new messages).
    New,
}

fn xread_generic(ctx: &mut Ctx, argv: &[&[u8]], group_cmd: bool) -> CmdResult {
    let mut timeout: Option<i64> = None;
    let mut count: i64 = 0;
    let mut streams_arg = 0usize;
    let mut noack = false;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let o = argv[i];
        if eq_ic(o, "block") && more > 0 {
            i += 1;
            timeout = Some(super::parse_timeout_ms(ctx, argv[i])?);
        } else if eq_ic(o, "count") && more > 0 {
            i += 1;
            count = arg_i64(argv[i])?.max(0);
        } else if eq_ic(o, "streams") && more > 0 {
            streams_arg = i + 1;
            if (argv.len() - streams_arg) % 2 != 0 {
                // 7.0 uses this one text for XREADGROUP too.
                return Err(CmdError::msg(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            break;
        } else if eq_ic(o, "group") && more >= 2 {
            if !group_cmd {
                return Err(CmdError::msg(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some((argv[i + 1], argv[i + 2]));
            i += 2;
        } else if eq_ic(o, "noack") {
            if !group_cmd {
                return Err(CmdError::msg(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if streams_arg == 0 {
        return Err(CmdError::Syntax);
    }
    if group_cmd && group.is_none() {
        return Err(CmdError::msg("ERR Missing GROUP option for XREADGROUP"));
    }
    let nstreams = (argv.len() - streams_arg) / 2;
    let keys = &argv[streams_arg..streams_arg + nstreams];
    let id_args = &argv[streams_arg + nstreams..];
    let db = ctx.db;
    // Re-executed because a key it blocked on was signalled: a reader of a
    // group gets Redis's unblocking errors when the stream or the group is
    // gone (serveClientsBlockedOnStreamKey).
    if let (Some(rk), Some((g, _))) = (ctx.ready_key, group) {
        let stream = match ctx.ks.lookup(db, rk) {
            Some(i) => sref(ctx.ks, db, i),
            None => None,
        };
        match stream {
            None => return Err(CmdError::msg("UNBLOCKED the stream key no longer exists")),
            Some(s) if !s.groups.contains_key(g) => {
                return Err(CmdError::msg(
                    "NOGROUP the consumer group this client was blocked on no longer exists",
                ))
            }
            Some(_) => {}
        }
    }
    let mut ids: Vec<ReadId> = Vec::with_capacity(nstreams);
    for (key, arg) in keys.iter().zip(id_args) {
        let found = lookup_read(ctx, key)?;
        if let Some((g, _)) = group {
            let has = found
                .and_then(|i| sref(ctx.ks, db, i))
                .is_some_and(|s| s.groups.contains_key(g));
            if !has {
                return Err(CmdError::msg(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(g)
                )));
            }
        }
        if *arg == b"$" {
            if group_cmd {
                return Err(CmdError::msg(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ));
            }
            let last = found
                .and_then(|i| sref(ctx.ks, db, i))
                .map_or(StreamId::MIN, |s| s.last_id);
            ids.push(ReadId::Id(last));
        } else if *arg == b">" {
            if !group_cmd {
                return Err(CmdError::msg(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            ids.push(ReadId::New);
        } else {
            ids.push(ReadId::Id(parse_strict(arg, 0)?));
        }
    }

    // Decide which streams are served now (and from where).
    let now = ctx.now_ms();
    let mut served: Vec<(usize, StreamId, bool)> = Vec::new();
    for (n, key) in keys.iter().enumerate() {
        // A second counted lookup, as in Redis (keyspace hits/misses).
        let Some(i) = ctx.ks.lookup_read(db, key) else {
            continue;
        };
        if group.is_some() {
            // XREADGROUP writes group state: a running snapshot copies first.
            ctx.ks.cow(db, i);
        }
        let Some(s) = smut(ctx.ks, db, i) else {
            continue;
        };
        let last_valid = s.last_entry().map(|(id, _)| *id);
        match group {
            Some((g, c)) => {
                let Some(grp) = s.groups.get_mut(g) else {
                    continue;
                };
                let serve = match ids[n] {
                    ReadId::Id(id) => Some((id, true)),
                    ReadId::New => match last_valid {
                        Some(max) if max > grp.last_id => Some((grp.last_id, false)),
                        _ => None,
                    },
                };
                // Redis 7.0 creates (or refreshes) the consumer only for the
                // streams it serves.
                if let Some((gt, hist)) = serve {
                    if ensure_consumer(grp, c, now) {
                        ctx.ks.dirty += 1;
                        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
                    }
                    served.push((n, gt, hist));
                }
            }
            None => {
                if let (ReadId::Id(gt), Some(max)) = (ids[n], last_valid) {
                    if max > gt {
                        served.push((n, gt, false));
                    }
                }
            }
        }
    }

    if !served.is_empty() {
        let mut effects: Vec<Vec<Vec<u8>>> = Vec::new();
        let resp3 = ctx.out.resp3;
        if resp3 {
            ctx.out.map(served.len());
        } else {
            ctx.out.array(served.len());
        }
        for (n, gt, hist) in served {
            let key = keys[n];
            if !resp3 {
                ctx.out.array(2);
            }
            ctx.out.bulk(key);
            let start = gt.incr().unwrap_or(StreamId::MAX);
            let Some(i) = ctx.ks.lookup(db, key) else {
                ctx.out.array(0);
                continue;
            };
            let ks = &mut *ctx.ks;
            let out = &mut *ctx.out;
            let prop = ks.prop_enabled;
            let Some(s) = smut(ks, db, i) else {
                out.array(0);
                continue;
            };
            match group {
                None => {
                    let take = if count == 0 {
                        usize::MAX
                    } else {
                        count as usize
                    };
                    let items: Vec<_> = s.range(start, StreamId::MAX, false).take(take).collect();
                    out.array(items.len());
                    for (id, f) in items {
                        reply_entry(out, id, f);
                    }
                }
                Some((g, c)) => {
                    let pel = serve_group(out, s, g, c, start, count as u64, noack, hist, now);
                    if prop {
                        group_effects(&mut effects, s, key, g, c, &pel, !hist);
                    }
                    ks.dirty += 1;
                }
            }
        }
        if group.is_some() && ctx.propagating() {
            propagate_effects(ctx, &Some(effects));
        }
        return Ok(());
    }

    if let Some(deadline) = timeout {
        if !ctx.may_block() {
            ctx.out.null_array();
            return Ok(());
        }
        // Re-executed on wake-up: pin "$" to the ID resolved now, and bound
        // the batch like Redis does for blocked readers without a COUNT
        // (or COUNT 0): "COUNT 1000" right before STREAMS overrides any
        // earlier COUNT, as the last option wins.
        let mut rewritten: Vec<Vec<u8>> = Vec::with_capacity(argv.len() + 2);
        for (j, a) in argv.iter().enumerate() {
            if j + 1 == streams_arg && count == 0 {
                rewritten.push(b"COUNT".to_vec());
                rewritten.push(BLOCKED_DEFAULT_COUNT.to_vec());
            }
            let is_dollar = j >= streams_arg + nstreams
                && *a == b"$"
                && matches!(ids.get(j - streams_arg - nstreams), Some(ReadId::Id(_)));
            match ids.get(j.wrapping_sub(streams_arg + nstreams)) {
                Some(ReadId::Id(id)) if is_dollar => rewritten.push(id.to_bytes()),
                _ => rewritten.push(a.to_vec()),
            }
        }
        let rargv: Vec<&[u8]> = rewritten.iter().map(|v| v.as_slice()).collect();
        ctx.block_on(keys, deadline, &rargv);
        return Ok(());
    }
    ctx.out.null_array();
    Ok(())
}

/// XREADGROUP's effect form (Redis's streamPropagateXCLAIM and
/// streamPropagateGroupID): the consumer, each delivered entry as an XCLAIM
/// with its delivery time and count, and the group's new last ID.
fn group_effects(
    effects: &mut Vec<Vec<Vec<u8>>>,
    s: &StreamVal,
    key: &[u8],
    gname: &[u8],
    cname: &[u8],
    pel: &[StreamId],
    advanced: bool,
) {
    let Some(g) = s.groups.get(gname) else {
        return;
    };
    let last = g.last_id.to_bytes();
    effects.push(vec![
        b"XGROUP".to_vec(),
        b"CREATECONSUMER".to_vec(),
        key.to_vec(),
        gname.to_vec(),
        cname.to_vec(),
    ]);
    for id in pel {
        let Some(n) = g.pel.get(id) else { continue };
        effects.push(
            [
                &b"XCLAIM"[..],
                key,
                gname,
                cname,
                b"0",
                &id.to_bytes(),
                b"TIME",
                &crate::util::i64_bytes(n.delivery_time),
                b"RETRYCOUNT",
                &crate::util::i64_bytes(n.delivery_count as i64),
                b"FORCE",
                b"JUSTID",
                b"LASTID",
                &last,
            ]
            .iter()
            .map(|a| a.to_vec())
            .collect(),
        );
    }
    if advanced {
        effects.push(vec![
            b"XGROUP".to_vec(),
            b"SETID".to_vec(),
            key.to_vec(),
            gname.to_vec(),
            last,
            b"ENTRIESREAD".to_vec(),
            crate::util::i64_bytes(g.entries_read),
        ]);
    }
}

/// streamReplyWithRange for a consumer group: history (the consumer's own
/// PEL from `start`) or new entries (advancing the group, adding to PELs).
/// Returns the IDs whose PEL entries were created or updated.
#[allow(clippy::too_many_arguments)]
fn serve_group(
    out: &mut Reply,
    s: &mut StreamVal,
    gname: &[u8],
    cname: &[u8],
    start: StreamId,
    count: u64,
    noack: bool,
    history: bool,
    now: i64,
) -> Vec<StreamId> {
    let mut touched = Vec::new();
    let take = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    // Take the group out so the stream can be read while it is updated.
    let Some((gkey, mut g)) = s.groups.remove_entry(gname) else {
        out.array(0);
        return touched;
    };
    if history {
        let ids: Vec<StreamId> = g
            .consumers
            .get(cname)
            .map(|c| c.pel.range(start..).take(take).copied().collect())
            .unwrap_or_default();
        out.array(ids.len());
        for id in ids {
            match s.get(&id) {
                Some(f) => {
                    reply_entry(out, &id, f);
                    if let Some(n) = g.pel.get_mut(&id) {
                        n.delivery_time = now;
                        n.delivery_count += 1;
                        touched.push(id);
                    }
                }
                None => {
                    out.array(2);
                    reply_id(out, &id);
                    out.null_array();
                }
            }
        }
    } else {
        let ids: Vec<StreamId> = s
            .range(start, StreamId::MAX, false)
            .take(take)
            .map(|(id, _)| *id)
            .collect();
        out.array(ids.len());
        for id in ids {
            s.group_deliver(&mut g, id);
            if let Some(f) = s.get(&id) {
                reply_entry(out, &id, f);
            }
            if !noack {
                touched.push(id);
                match g.pel.get_mut(&id) {
                    Some(n) => {
                        n.delivery_time = now;
                        n.delivery_count = 1;
                        g.reassign(id, cname);
                    }
                    None => {
                        g.pel.insert(
                            id,
                            Nack {
                                delivery_time: now,
                                delivery_count: 1,
                                consumer: cname.into(),
                            },
                        );
                        if let Some(c) = g.consumers.get_mut(cname) {
                            c.pel.insert(id);
                        }
                    }
                }
            }
        }
    }
    s.groups.insert(gkey, g);
    touched
}

pub fn xread(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    xread_generic(ctx, argv, false)
}

pub fn xreadgroup(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    xread_generic(ctx, argv, true)
}

// ---------------------------------------------------------------------------
// XACK / XPENDING / XCLAIM / XAUTOCLAIM

pub fn xack(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    let found = lookup_read(ctx, argv[1])?;
    let has_group = found
        .and_then(|i| sref(ctx.ks, db, i))
        .is_some_and(|s| s.groups.contains_key(argv[2]));
    let (Some(i), true) = (found, has_group) else {
        ctx.out.int(0);
        return Ok(());
    };
    ctx.ks.cow(db, i);
    let ids = argv[3..]
        .iter()
        .map(|a| parse_strict(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let mut acked = 0i64;
    if let Some(g) = smut(ctx.ks, db, i).and_then(|s| s.groups.get_mut(argv[2])) {
        for id in &ids {
            if g.ack(id) {
                acked += 1;
            }
        }
    }
    ctx.ks.dirty += acked as u64;
    ctx.out.int(acked);
    Ok(())
}

pub fn xpending(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let argc = argv.len();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::Syntax);
    }
    let mut range = (StreamId::MIN, StreamId::MAX);
    let mut count: i64 = 0;
    let mut minidle: i64 = 0;
    let mut consumer: Option<&[u8]> = None;
    if argc >= 6 {
        let mut si = 3;
        if eq_ic(argv[3], "idle") {
            minidle = arg_i64(argv[4])?;
            if argc < 8 {
                return Err(CmdError::Syntax);
            }
            si += 2;
        }
        count = arg_i64(argv[si + 2])?.max(0);
        range = parse_range(argv[si], argv[si + 1])?;
        consumer = argv.get(si + 3).copied();
    }
    let db = ctx.db;
    let found = lookup_read(ctx, argv[1])?;
    let Some(g) = found
        .and_then(|i| sref(ctx.ks, db, i))
        .and_then(|s| s.groups.get(argv[2]))
    else {
        return Err(nogroup_key(argv[1], argv[2]));
    };
    let out = &mut *ctx.out;
    let now = ctx.ks.now_ms;
    if justinfo {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                reply_id(out, first);
                reply_id(out, last);
                let with: Vec<_> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                out.array(with.len());
                for (name, c) in with {
                    out.array(2);
                    out.bulk(name);
                    out.bulk_i64(c.pel.len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    }
    let (start, end) = range;
    if start > end {
        out.array(0);
        return Ok(());
    }
    let ids: Vec<StreamId> = match consumer {
        Some(c) => match g.consumers.get(c) {
            Some(c) => c.pel.range(start..=end).copied().collect(),
            None => {
                out.array(0);
                return Ok(());
            }
        },
        None => g.pel.range(start..=end).map(|(id, _)| *id).collect(),
    };
    let mut rows: Vec<(StreamId, &Nack)> = Vec::new();
    for id in ids {
        if count == 0 {
            break;
        }
        let Some(n) = g.pel.get(&id) else {
            continue;
        };
        if minidle != 0 && now - n.delivery_time < minidle {
            continue;
        }
        rows.push((id, n));
        count -= 1;
    }
    out.array(rows.len());
    for (id, n) in rows {
        out.array(4);
        reply_id(out, &id);
        out.bulk(&n.consumer);
        out.int((now - n.delivery_time).max(0));
        out.int(n.delivery_count as i64);
    }
    Ok(())
}

/// Reply one claimed entry: its ID (JUSTID) or the entry (null if gone).
fn reply_claimed(out: &mut Reply, s: &StreamVal, id: &StreamId, justid: bool) {
    if justid {
        reply_id(out, id);
    } else {
        match s.get(id) {
            Some(f) => reply_entry(out, id, f),
            None => out.null(),
        }
    }
}

/// Make sure `name` exists in group `g` (refreshing its seen time);
/// returns true when it was created.
fn ensure_consumer(g: &mut Group, name: &[u8], now: i64) -> bool {
    match g.consumers.get_mut(name) {
        Some(c) => {
            c.seen_time = now;
            false
        }
        None => g.create_consumer(name, now),
    }
}

pub fn xclaim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    let key = argv[1];
    let found = lookup_read(ctx, key)?;
    let has = found
        .and_then(|i| sref(ctx.ks, db, i))
        .is_some_and(|s| s.groups.contains_key(argv[2]));
    let (Some(k), true) = (found, has) else {
        return Err(nogroup_key(key, argv[2]));
    };
    let minidle = crate::util::parse_i64(argv[4])
        .ok_or_else(|| CmdError::msg("ERR Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match parse_strict(argv[j], 0) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ctx.now_ms();
    let mut force = false;
    let mut justid = false;
    let mut deliverytime: i64 = -1;
    let mut retrycount: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = argv[j];
        let num = |a: &[u8], what: &str| {
            crate::util::parse_i64(a).ok_or_else(|| {
                CmdError::msg(format!("ERR Invalid {what} option argument for XCLAIM"))
            })
        };
        if eq_ic(opt, "force") {
            force = true;
        } else if eq_ic(opt, "justid") {
            justid = true;
        } else if eq_ic(opt, "idle") && more > 0 {
            j += 1;
            deliverytime = now.wrapping_sub(num(argv[j], "IDLE")?);
        } else if eq_ic(opt, "time") && more > 0 {
            j += 1;
            deliverytime = num(argv[j], "TIME")?;
        } else if eq_ic(opt, "retrycount") && more > 0 {
            j += 1;
            retrycount = num(argv[j], "RETRYCOUNT")?;
        } else if eq_ic(opt, "lastid") && more > 0 {
            j += 1;
            last_id = parse_strict(argv[j], 0)?;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 1;
    }
    if deliverytime == -1 || deliverytime < 0 || deliverytime > now {
        deliverytime = now;
    }
    // A read lookup (Redis's), but the group changes: snapshot copy first.
    ctx.ks.cow(db, k);
    let ks = &mut *ctx.ks;
    let out = &mut *ctx.out;
    let prop = ks.prop_enabled;
    let Some(s) = smut(ks, db, k) else {
        return Err(CmdError::WrongType);
    };
    let Some((gkey, mut g)) = s.groups.remove_entry(argv[2]) else {
        return Err(nogroup_key(key, argv[2]));
    };
    let last_id_moved = last_id > g.last_id;
    if last_id_moved {
        g.last_id = last_id;
    }
    let name = argv[3];
    let mut created = false;
    let mut have_consumer = false;
    let mut dirty = 0u64;
    let mut reply: Vec<StreamId> = Vec::new();
    let mut dropped: Vec<StreamId> = Vec::new();
    for id in ids {
        let exists = s.contains(&id);
        if !exists {
            if g.ack(&id) {
                dirty += 1;
                dropped.push(id);
            }
            continue;
        }
        let mut fresh = false;
        if force && !g.pel.contains_key(&id) {
            fresh = true;
        }
        if !fresh {
            let Some(n) = g.pel.get(&id) else {
                continue;
            };
            if minidle != 0 && now - n.delivery_time < minidle {
                continue;
            }
        }
        if !have_consumer {
            created = ensure_consumer(&mut g, name, now);
            have_consumer = true;
        }
        if fresh {
            g.pel.insert(
                id,
                // streamCreateNACK starts at 1; the claim below counts too.
                Nack {
                    delivery_time: deliverytime,
                    delivery_count: 1,
                    consumer: name.into(),
                },
            );
            if let Some(c) = g.consumers.get_mut(name) {
                c.pel.insert(id);
            }
        } else {
            g.reassign(id, name);
        }
        if let Some(n) = g.pel.get_mut(&id) {
            n.delivery_time = deliverytime;
            if retrycount >= 0 {
                n.delivery_count = retrycount as u64;
            } else if !justid {
                n.delivery_count += 1;
            }
        }
        reply.push(id);
        dirty += 1;
    }
    out.array(reply.len());
    for id in &reply {
        reply_claimed(out, s, id, justid);
    }
    s.groups.insert(gkey, g);
    let effects = claim_effects(prop, s, key, argv[2], name, &reply, &dropped, last_id_moved);
    // Redis propagates (and counts) a LASTID move on its own only when no
    // entry was claimed or dropped.
    let lastid_write = last_id_moved && dirty == 0;
    ks.dirty += dirty + u64::from(created) + u64::from(lastid_write);
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    propagate_effects(ctx, &effects);
    Ok(())
}

/// XCLAIM/XAUTOCLAIM effect form: claims with their absolute delivery time
/// and count (idle times are relative to the clock), dropped entries as XACK.
#[allow(clippy::too_many_arguments)]
fn claim_effects(
    on: bool,
    s: &StreamVal,
    key: &[u8],
    gname: &[u8],
    cname: &[u8],
    claimed: &[StreamId],
    dropped: &[StreamId],
    moved: bool,
) -> Option<Vec<Vec<Vec<u8>>>> {
    if !on {
        return None;
    }
    let mut effects = Vec::new();
    if !claimed.is_empty() || moved {
        group_effects(&mut effects, s, key, gname, cname, claimed, moved);
    }
    if !dropped.is_empty() {
        let mut ack = vec![b"XACK".to_vec(), key.to_vec(), gname.to_vec()];
        ack.extend(dropped.iter().map(|id| id.to_bytes()));
        effects.push(ack);
    }
    Some(effects)
}

/// Replace the command's propagation with `effects` (None: not recording).
fn propagate_effects(ctx: &mut Ctx, effects: &Option<Vec<Vec<Vec<u8>>>>) {
    if let Some(effects) = effects {
        ctx.propagate_none();
        for e in effects {
            let argv: Vec<&[u8]> = e.iter().map(|a| a.as_slice()).collect();
            ctx.propagate_as(&argv);
        }
    }
}

pub fn xautoclaim(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let minidle = crate::util::parse_i64(argv[4])
        .ok_or_else(|| CmdError::msg("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let (mut start, sx) = parse_interval(argv[5], 0)?;
    if sx {
        start = start
            .incr()
            .ok_or_else(|| CmdError::msg("ERR invalid start ID for the interval"))?;
    }
    // LONG_MAX / max(sizeof(streamID), attempts factor 10).
    const MAX_COUNT: i64 = i64::MAX / 16;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if eq_ic(argv[j], "count") && more > 0 {
            count = crate::util::parse_i64(argv[j + 1])
                .filter(|c| (1..=MAX_COUNT).contains(c))
                .ok_or_else(|| CmdError::msg("ERR COUNT must be > 0"))?;
            j += 1;
        } else if eq_ic(argv[j], "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let db = ctx.db;
    let found = lookup_read(ctx, key)?;
    let has = found
        .and_then(|i| sref(ctx.ks, db, i))
        .is_some_and(|s| s.groups.contains_key(argv[2]));
    let (Some(k), true) = (found, has) else {
        return Err(nogroup_key(key, argv[2]));
    };
    let now = ctx.now_ms();
    // A read lookup (Redis's), but the group changes: snapshot copy first.
    ctx.ks.cow(db, k);
    let ks = &mut *ctx.ks;
    let out = &mut *ctx.out;
    let prop = ks.prop_enabled;
    let Some(s) = smut(ks, db, k) else {
        return Err(CmdError::WrongType);
    };
    let Some((gkey, mut g)) = s.groups.remove_entry(argv[2]) else {
        return Err(nogroup_key(key, argv[2]));
    };
    let name = argv[3];
    let mut attempts = count.saturating_mul(10);
    let mut claimed: Vec<StreamId> = Vec::new();
    let mut deleted: Vec<StreamId> = Vec::new();
    let mut created = false;
    let mut have_consumer = false;
    let mut dirty = 0u64;
    let mut cursor = start;
    let mut next: Option<StreamId> = None;
    loop {
        // `attempts-- && count && raxNext`: the next PEL entry (if any) is
        // the cursor when the budget runs out.
        let cand = g.pel.range(cursor..).next().map(|(id, _)| *id);
        if attempts == 0 || count == 0 {
            next = cand;
            break;
        }
        attempts -= 1;
        let Some(id) = cand else {
            break;
        };
        cursor = match id.incr() {
            Some(c) => c,
            None => {
                // Last possible ID: nothing can follow it.
                attempts = 0;
                StreamId::MAX
            }
        };
        if !s.contains(&id) {
            g.ack(&id);
            deleted.push(id);
            dirty += 1;
            count -= 1;
            if id == StreamId::MAX {
                break;
            }
            continue;
        }
        let Some(n) = g.pel.get(&id) else {
            continue;
        };
        if minidle != 0 && now - n.delivery_time < minidle {
            if id == StreamId::MAX {
                break;
            }
            continue;
        }
        if !have_consumer {
            created = ensure_consumer(&mut g, name, now);
            have_consumer = true;
        }
        g.reassign(id, name);
        if let Some(n) = g.pel.get_mut(&id) {
            n.delivery_time = now;
            if !justid {
                n.delivery_count += 1;
            }
        }
        claimed.push(id);
        count -= 1;
        dirty += 1;
        if id == StreamId::MAX {
            break;
        }
    }
    out.array(3);
    reply_id(out, &next.unwrap_or(StreamId::MIN));
    out.array(claimed.len());
    for id in &claimed {
        reply_claimed(out, s, id, justid);
    }
    out.array(deleted.len());
    for id in &deleted {
        reply_id(out, id);
    }
    s.groups.insert(gkey, g);
    let effects = claim_effects(prop, s, key, argv[2], name, &claimed, &deleted, false);
    ks.dirty += dirty + u64::from(created);
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    propagate_effects(ctx, &effects);
    Ok(())
}

// ---------------------------------------------------------------------------
// XGROUP

/// The shared prologue of XGROUP subcommands: key must exist (unless
/// CREATE ... MKSTREAM), returns the key's index if present.
fn xgroup_key(ctx: &mut Ctx, argv: &[&[u8]], mkstream: bool) -> Result<Option<u32>, CmdError> {
    let found = lookup_write(ctx, argv[2])?;
    if found.is_none() && !mkstream {
        return Err(CmdError::msg(NO_KEY_XGROUP));
    }
    Ok(found)
}

fn has_group(ctx: &Ctx, i: u32, g: &[u8]) -> bool {
    sref(ctx.ks, ctx.db, i).is_some_and(|s| s.groups.contains_key(g))
}

fn parse_entries_read(a: &[u8]) -> Result<i64, CmdError> {
    let v = arg_i64(a)?;
    if v < 0 && v != INVALID_ENTRIES_READ {
        return Err(CmdError::msg(
            "ERR value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok(v)
}

pub fn xgroup_create(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < argv.len() {
        if eq_ic(argv[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if eq_ic(argv[i], "entriesread") && i + 1 < argv.len() {
            entries_read = parse_entries_read(argv[i + 1])?;
            i += 2;
        } else {
            return Err(subcommand_syntax(argv));
        }
    }
    let found = xgroup_key(ctx, argv, mkstream)?;
    if argv.len() > 8 {
        return Err(subcommand_syntax(argv));
    }
    let db = ctx.db;
    let key = argv[2];
    let id = if argv[4] == b"$" {
        found
            .and_then(|i| sref(ctx.ks, db, i))
            .map_or(StreamId::MIN, |s| s.last_id)
    } else {
        parse_strict(argv[4], 0)?
    };
    let i = match found {
        Some(i) => i,
        None => {
            let i = ctx
                .ks
                .add(db, key, Value::Stream(Box::new(StreamVal::new())));
            // dbAdd itself is not a dirty write in Redis.
            ctx.ks.dirty = ctx.ks.dirty.saturating_sub(1);
            i
        }
    };
    let Some(s) = smut(ctx.ks, db, i) else {
        return Err(CmdError::WrongType);
    };
    if s.groups.contains_key(argv[3]) {
        return Err(CmdError::msg(
            "BUSYGROUP Consumer Group name already exists",
        ));
    }
    s.groups
        .insert(argv[3].into(), Group::new(id, entries_read));
    ctx.out.ok();
    ctx.ks.dirty += 1;
    ctx.notify(notify::STREAM, "xgroup-create", key);
    Ok(())
}

pub fn xgroup_setid(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < argv.len() {
        if eq_ic(argv[i], "entriesread") && i + 1 < argv.len() {
            entries_read = parse_entries_read(argv[i + 1])?;
            i += 2;
        } else {
            return Err(subcommand_syntax(argv));
        }
    }
    let Some(k) = xgroup_key(ctx, argv, false)? else {
        return Err(CmdError::msg(NO_KEY_XGROUP));
    };
    if !has_group(ctx, k, argv[3]) {
        return Err(nogroup(argv[3], argv[2]));
    }
    if argv.len() != 5 && argv.len() != 7 {
        return Err(subcommand_syntax(argv));
    }
    let db = ctx.db;
    let Some(s) = smut(ctx.ks, db, k) else {
        return Err(CmdError::WrongType);
    };
    let id = if argv[4] == b"$" {
        s.last_id
    } else {
        parse_id(argv[4], 0)?
    };
    if let Some(g) = s.groups.get_mut(argv[3]) {
        g.last_id = id;
        g.entries_read = entries_read;
    }
    ctx.out.ok();
    ctx.ks.dirty += 1;
    ctx.notify(notify::STREAM, "xgroup-setid", argv[2]);
    Ok(())
}

pub fn xgroup_destroy(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(k) = xgroup_key(ctx, argv, false)? else {
        return Err(CmdError::msg(NO_KEY_XGROUP));
    };
    let db = ctx.db;
    let removed = smut(ctx.ks, db, k).is_some_and(|s| s.groups.remove(argv[3]).is_some());
    if removed {
        ctx.out.int(1);
        ctx.ks.dirty += 1;
        ctx.notify(notify::STREAM, "xgroup-destroy", argv[2]);
        // Blocked XREADGROUP readers of this group must wake up (NOGROUP).
        ctx.signal_ready(argv[2]);
    } else {
        ctx.out.int(0);
    }
    Ok(())
}

pub fn xgroup_createconsumer(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(k) = xgroup_key(ctx, argv, false)? else {
        return Err(CmdError::msg(NO_KEY_XGROUP));
    };
    if !has_group(ctx, k, argv[3]) {
        return Err(nogroup(argv[3], argv[2]));
    }
    let db = ctx.db;
    let now = ctx.now_ms();
    let created = smut(ctx.ks, db, k)
        .and_then(|s| s.groups.get_mut(argv[3]))
        .is_some_and(|g| g.create_consumer(argv[4], now));
    if created {
        ctx.ks.dirty += 1;
        ctx.notify(notify::STREAM, "xgroup-createconsumer", argv[2]);
    }
    ctx.out.int(i64::from(created));
    Ok(())
}

pub fn xgroup_delconsumer(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(k) = xgroup_key(ctx, argv, false)? else {
        return Err(CmdError::msg(NO_KEY_XGROUP));
    };
    if !has_group(ctx, k, argv[3]) {
        return Err(nogroup(argv[3], argv[2]));
    }
    let db = ctx.db;
    let pending = smut(ctx.ks, db, k)
        .and_then(|s| s.groups.get_mut(argv[3]))
        .and_then(|g| g.delete_consumer(argv[4]));
    if let Some(n) = pending {
        ctx.ks.dirty += 1;
        ctx.notify(notify::STREAM, "xgroup-delconsumer", argv[2]);
        ctx.out.int(n as i64);
    } else {
        ctx.out.int(0);
    }
    Ok(())
}

pub fn xgroup_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::conn::help(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// XINFO

fn reply_lag(out: &mut Reply, s: &StreamVal, g: &Group) {
    match s.group_lag(g) {
        Some(l) => out.int(l),
        None => out.null(),
    }
}

fn reply_entries_read(out: &mut Reply, g: &Group) {
    if g.entries_read != INVALID_ENTRIES_READ {
        out.int(g.entries_read);
    } else {
        out.null();
    }
}

pub fn xinfo_stream(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Redis looks the key up before it parses the options.
    let Some(i) = lookup_read(ctx, argv[2])? else {
        return Err(CmdError::NoSuchKey);
    };
    let opts = &argv[3..];
    let mut full = false;
    let mut count: i64 = 10;
    if !opts.is_empty() {
        if opts.len() != 1 && opts.len() != 3 {
            return Err(subcommand_syntax(argv));
        }
        if !eq_ic(opts[0], "full") {
            return Err(subcommand_syntax(argv));
        }
        full = true;
        if opts.len() == 3 {
            if !eq_ic(opts[1], "count") {
                return Err(subcommand_syntax(argv));
            }
            count = arg_i64(opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let Some(s) = sref(ctx.ks, ctx.db, i) else {
        return Err(CmdError::WrongType);
    };
    let out = &mut *ctx.out;
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(s.rax_nodes() as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, &s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, &s.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, &s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        out.bulk(b"first-entry");
        match s.first_entry() {
            Some((id, f)) => reply_entry(out, id, f),
            None => out.null(),
        }
        out.bulk(b"last-entry");
        match s.last_entry() {
            Some((id, f)) => reply_entry(out, id, f),
            None => out.null(),
        }
        return Ok(());
    }
    let take = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    out.bulk(b"entries");
    let items: Vec<_> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .take(take)
        .collect();
    out.array(items.len());
    for (id, f) in items {
        reply_entry(out, id, f);
    }
    out.bulk(b"groups");
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, &g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g);
        out.bulk(b"lag");
        reply_lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        out.array(g.pel.len().min(take));
        for (id, n) in g.pel.iter().take(take) {
            out.array(4);
            reply_id(out, id);
            out.bulk(&n.consumer);
            out.int(n.delivery_time);
            out.int(n.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            out.array(c.pel.len().min(take));
            for id in c.pel.iter().take(take) {
                out.array(3);
                reply_id(out, id);
                let (t, n) = g
                    .pel
                    .get(id)
                    .map_or((0, 0), |n| (n.delivery_time, n.delivery_count as i64));
                out.int(t);
                out.int(n);
            }
        }
    }
    Ok(())
}

pub fn xinfo_groups(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(i) = lookup_read(ctx, argv[2])? else {
        return Err(CmdError::NoSuchKey);
    };
    let Some(s) = sref(ctx.ks, ctx.db, i) else {
        return Err(CmdError::WrongType);
    };
    let out = &mut *ctx.out;
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        reply_id(out, &g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g);
        out.bulk(b"lag");
        reply_lag(out, s, g);
    }
    Ok(())
}

pub fn xinfo_consumers(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(i) = lookup_read(ctx, argv[2])? else {
        return Err(CmdError::NoSuchKey);
    };
    let now = ctx.now_ms();
    let Some(s) = sref(ctx.ks, ctx.db, i) else {
        return Err(CmdError::WrongType);
    };
    let Some(g) = s.groups.get(argv[3]) else {
        return Err(nogroup(argv[3], argv[2]));
    };
    let out = &mut *ctx.out;
    out.array(g.consumers.len());
    for (name, c) in &g.consumers {
        out.map(3);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.int(c.pel.len() as i64);
        out.bulk(b"idle");
        out.int((now - c.seen_time).max(0));
    }
    Ok(())
}

pub fn xinfo_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::conn::help(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_parsing() {
        assert_eq!(parse_strict(b"1-2", 0), Ok(StreamId::new(1, 2)));
        assert_eq!(parse_strict(b"5", 7), Ok(StreamId::new(5, 7)));
        assert_eq!(parse_strict(b"+1", 0), Ok(StreamId::new(1, 0)));
        assert_eq!(parse_strict(b"01-01", 0), Ok(StreamId::new(1, 1)));
        assert!(parse_strict(b"-", 0).is_err());
        assert!(parse_strict(b"-1", 0).is_err());
        assert!(parse_strict(b"1-", 0).is_err());
        assert!(parse_strict(b"1-x", 0).is_err());
        assert!(parse_strict(b"18446744073709551616", 0).is_err());
        assert_eq!(parse_id(b"+", 0), Ok(StreamId::MAX));
        assert_eq!(
            parse_id_full(b"3-*", 0, true, true),
            Ok((StreamId::new(3, 0), false))
        );
        assert!(parse_strict(b"3-*", 0).is_err());
        assert_eq!(
            parse_range(b"(1-1", b"(2-0"),
            Ok((StreamId::new(1, 2), StreamId::new(1, u64::MAX)))
        );
    }
}
