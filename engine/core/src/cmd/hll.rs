//! HyperLogLog: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST, following Redis 7.0's
//! hyperloglog.c command by command (lookups, checks, side effects, errors).
//! HLLs are plain string values edited in place; the representation and the
//! estimator are in `db/hll.rs`.

use super::{notify, Ctx};
use crate::db::hll::{self, Editor};
use crate::db::Value;
use crate::error::{CmdError, CmdResult};
use crate::util::eq_ic;

fn invalid_hll() -> CmdError {
    CmdError::msg("INVALIDOBJ Corrupted HLL object detected")
}

/// Redis's isHLLObjectOrReply.
fn check_hll(v: &Value) -> CmdResult {
    match v {
        v if v.str_data().is_some_and(hll::is_valid) => Ok(()),
        v if v.is_string() => Err(CmdError::msg(
            "WRONGTYPE Key is not a valid HyperLogLog string value.",
        )),
        _ => Err(CmdError::WrongType),
    }
}

/// `hll-sparse-max-bytes` (Redis's range is 0..LONG_MAX).
fn sparse_max_bytes(ctx: &Ctx) -> u64 {
    ctx.cfg.hll_sparse_max_bytes
}

/// dbUnshareStringValue + take the bytes out for editing.
fn take_for_edit(ctx: &mut Ctx, i: u32) -> Result<Editor, CmdError> {
    // PFCOUNT edits its cache after a read lookup: a snapshot copies first.
    ctx.ks.cow(ctx.db, i);
    // Callers checked the value is an HLL string; a non-string is WRONGTYPE.
    let data = ctx
        .ks
        .entry_mut(ctx.db, i)
        .val
        .make_raw()
        .ok_or(CmdError::WrongType)?;
    Ok(Editor::new(std::mem::take(data)))
}

fn put_back(ctx: &mut Ctx, i: u32, ed: Editor) {
    ctx.ks.entry_mut(ctx.db, i).val = Value::raw(ed.into_inner());
}

fn hll_bytes<'a>(ctx: &'a Ctx, i: u32) -> &'a [u8] {
    ctx.ks.entry(ctx.db, i).val.str_data().unwrap_or(&[])
}

/// Existing key checked as an HLL, or created empty (sparse). Returns the
/// entry and whether it was created (`add` already counted it and signalled).
fn lookup_or_create(ctx: &mut Ctx, key: &[u8]) -> Result<(u32, bool), CmdError> {
    match ctx.ks.lookup_write(ctx.db, key) {
        Some(i) => {
            check_hll(&ctx.ks.entry(ctx.db, i).val)?;
            Ok((i, false))
        }
        None => Ok((ctx.ks.add(ctx.db, key, Value::raw(hll::new_sparse())), true)),
    }
}

/// PFADD key [element ...]: 1 when a register changed (or the key was created).
pub fn pfadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let (i, created) = lookup_or_create(ctx, key)?;
    let max_bytes = sparse_max_bytes(ctx);
    let mut ed = take_for_edit(ctx, i)?;
    let mut updated = u64::from(created);
    let mut failed = false;
    for ele in &argv[2..] {
        match ed.add(ele, max_bytes) {
            Ok(true) => updated += 1,
            Ok(false) => {}
            Err(hll::Corrupt) => {
                failed = true;
                break;
            }
        }
    }
    if updated > 0 && !failed {
        ed.invalidate_cache();
    }
    put_back(ctx, i, ed);
    if failed {
        return Err(invalid_hll());
    }
    if updated > 0 {
        if !created {
            ctx.ks.signal_modified(ctx.db, key);
        }
        ctx.notify(notify::STRING, "pfadd", key);
        // A created key was already counted once by `add`.
        ctx.ks.dirty += updated - u64::from(created);
    }
    ctx.out.int(i64::from(updated > 0));
    Ok(())
}

/// PFCOUNT key [key ...]: one key uses (and refreshes) the cached cardinality;
/// several are merged into a temporary and counted.
pub fn pfcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    if argv.len() > 2 {
        let mut max = Box::new([0u8; hll::REGISTERS]);
        for key in &argv[1..] {
            let Some(i) = ctx.ks.lookup_read(db, key) else {
                continue;
            };
            check_hll(&ctx.ks.entry(db, i).val)?;
            hll::merge(&mut max, hll_bytes(ctx, i)).map_err(|_| invalid_hll())?;
        }
        let mut h = [0u32; 64];
        hll::raw_histogram(&max, &mut h);
        ctx.out.int(hll::estimate(&h) as i64);
        return Ok(());
    }
    let Some(i) = ctx.ks.lookup_read(db, argv[1]) else {
        ctx.out.int(0);
        return Ok(());
    };
    check_hll(&ctx.ks.entry(db, i).val)?;
    let data = ctx
        .ks
        .entry_mut(db, i)
        .val
        .make_raw()
        .ok_or(CmdError::WrongType)?;
    let card = match hll::cached_card(data) {
        Some(c) => c,
        None => {
            let c = hll::count(data).map_err(|_| invalid_hll())?;
            hll::set_cached_card(data, c);
            // The cache is part of the string: a write, like Redis.
            ctx.ks.signal_modified(db, argv[1]);
            ctx.ks.dirty += 1;
            c
        }
    };
    ctx.out.int(card as i64);
    Ok(())
}

/// PFMERGE destkey [sourcekey ...]: the destination is also a source.
pub fn pfmerge(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    let mut max = Box::new([0u8; hll::REGISTERS]);
    let mut use_dense = false;
    for key in &argv[1..] {
        let Some(i) = ctx.ks.lookup_read(db, key) else {
            continue;
        };
        check_hll(&ctx.ks.entry(db, i).val)?;
        let data = hll_bytes(ctx, i);
        if hll::encoding(data) == hll::DENSE {
            use_dense = true;
        }
        hll::merge(&mut max, data).map_err(|_| invalid_hll())?;
    }
    let key = argv[1];
    // Already checked as a source when it exists.
    let (i, created) = lookup_or_create(ctx, key)?;
    let max_bytes = sparse_max_bytes(ctx);
    let mut ed = take_for_edit(ctx, i)?;
    if use_dense && ed.to_dense().is_err() {
        put_back(ctx, i, ed);
        return Err(invalid_hll());
    }
    for (j, &m) in max.iter().enumerate() {
        if m != 0 {
            // The destination was validated by the merge: cannot fail.
            let _ = ed.set(j, m, max_bytes);
        }
    }
    ed.invalidate_cache();
    put_back(ctx, i, ed);
    if !created {
        ctx.ks.signal_modified(db, key);
        ctx.ks.dirty += 1;
    }
    // Redis 7.0 reports PFMERGE as a "pfadd" event (a mass add).
    ctx.notify(notify::STRING, "pfadd", key);
    ctx.out.ok();
    Ok(())
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key.
pub fn pfdebug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let db = ctx.db;
    let sub = argv[1];
    let Some(i) = ctx.ks.lookup_write(db, argv[2]) else {
        return Err(CmdError::msg("ERR The specified key does not exist"));
    };
    check_hll(&ctx.ks.entry(db, i).val)?;
    // Redis checks each subcommand's argument count, but PFDEBUG's arity in
    // the command table is exactly 3, so this error is never reached there.
    let arity_err = || {
        CmdError::msg(format!(
            "ERR Wrong number of arguments for the '{}' subcommand",
            String::from_utf8_lossy(sub)
        ))
    };
    let mut ed = take_for_edit(ctx, i)?;
    let r = pfdebug_sub(ctx, argv, sub, &mut ed, arity_err);
    put_back(ctx, i, ed);
    r
}

fn pfdebug_sub(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    sub: &[u8],
    ed: &mut Editor,
    arity_err: impl Fn() -> CmdError,
) -> CmdResult {
    if eq_ic(sub, "getreg") {
        if argv.len() != 3 {
            return Err(arity_err());
        }
        if ed.encoding() == hll::SPARSE {
            ed.to_dense().map_err(|_| invalid_hll())?;
            ctx.ks.dirty += 1;
        }
        let regs = hll::dense_registers(ed.bytes());
        ctx.out.array(regs.len());
        for r in regs {
            ctx.out.int(i64::from(r));
        }
    } else if eq_ic(sub, "decode") {
        if argv.len() != 3 {
            return Err(arity_err());
        }
        if ed.encoding() != hll::SPARSE {
            return Err(CmdError::msg("ERR HLL encoding is not sparse"));
        }
        let s = hll::decode_sparse(ed.bytes());
        ctx.out.bulk(s.as_bytes());
    } else if eq_ic(sub, "encoding") {
        if argv.len() != 3 {
            return Err(arity_err());
        }
        ctx.out.simple(if ed.encoding() == hll::DENSE {
            "dense"
        } else {
            "sparse"
        });
    } else if eq_ic(sub, "todense") {
        if argv.len() != 3 {
            return Err(arity_err());
        }
        let conv = ed.to_dense().map_err(|_| invalid_hll())?;
        if conv {
            ctx.ks.dirty += 1;
        }
        ctx.out.int(i64::from(conv));
    } else {
        return Err(CmdError::msg(format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

/// PFSELFTEST: Redis's internal self-test of the registers and estimator.
pub fn pfselftest(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    // Deterministic: its own generator, so it does not disturb the engine's.
    let mut rng = crate::rng::Rng::new(0x5046_5345_4c46_5445);
    let max_bytes = sparse_max_bytes(ctx);
    match hll::selftest(|| rng.next_u64(), max_bytes) {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(e) => Err(CmdError::msg(e)),
    }
}

#[cfg(test)]
mod tests {
    use crate::server::TestServer;

    fn bulk(b: &[u8]) -> String {
        let mut s = format!("${}\r\n", b.len()).into_bytes();
        s.extend_from_slice(b);
        s.extend_from_slice(b"\r\n");
        String::from_utf8_lossy(&s).into_owned()
    }

    /// Bytes and counts recorded from Redis 7.0.15.
    #[test]
    fn matches_redis_bytes_and_counts() {
        let mut t = TestServer::new();
        assert_eq!(t.run(&["PFADD", "h", "a", "b", "c"]), ":1\r\n");
        let stale =
            b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80`\xf3\x80P\xb1\x84K\xfb\x80BZ";
        assert_eq!(t.run(&["GET", "h"]), bulk(stale));
        assert_eq!(t.run(&["PFCOUNT", "h"]), ":3\r\n");
        let cached =
            b"HYLL\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00`\xf3\x80P\xb1\x84K\xfb\x80BZ";
        assert_eq!(t.run(&["GET", "h"]), bulk(cached));
        assert_eq!(t.run(&["PFADD", "h", "a", "c"]), ":0\r\n");
        let els: Vec<String> = (0..5000).map(|i| format!("x{i}")).collect();
        let mut argv = vec!["PFADD", "d"];
        argv.extend(els.iter().map(String::as_str));
        assert_eq!(t.run(&argv), ":1\r\n");
        assert_eq!(t.run(&["PFCOUNT", "d"]), ":4970\r\n");
        assert_eq!(t.run(&["STRLEN", "d"]), ":12304\r\n");
        assert_eq!(t.run(&["PFCOUNT", "h", "d"]), ":4974\r\n");
        assert_eq!(t.run(&["PFDEBUG", "ENCODING", "d"]), "+dense\r\n");
        assert_eq!(t.run(&["PFMERGE", "m", "h", "nokey"]), "+OK\r\n");
        assert_eq!(t.run(&["PFCOUNT", "m"]), ":3\r\n");
    }

    #[test]
    fn errors_are_redis_texts() {
        let mut t = TestServer::new();
        t.run(&["SET", "s", "hello"]);
        t.run(&["LPUSH", "l", "x"]);
        let not_hll = "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n";
        assert_eq!(t.run(&["PFADD", "s", "a"]), not_hll);
        assert_eq!(t.run(&["PFCOUNT", "s"]), not_hll);
        assert_eq!(
            t.run(&["PFCOUNT", "l"]),
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        );
        t.run_bytes(&[
            b"SET",
            b"c",
            b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xfe",
        ]);
        let corrupt = "-INVALIDOBJ Corrupted HLL object detected\r\n";
        assert_eq!(t.run(&["PFCOUNT", "c"]), corrupt);
        assert_eq!(t.run(&["PFCOUNT", "c", "c"]), corrupt);
        assert_eq!(t.run(&["PFMERGE", "m", "c"]), corrupt);
        assert_eq!(t.run(&["EXISTS", "m"]), ":0\r\n");
        assert_eq!(t.run(&["PFDEBUG", "TODENSE", "c"]), corrupt);
        assert_eq!(
            t.run(&["PFDEBUG", "GETREG", "nokey"]),
            "-ERR The specified key does not exist\r\n"
        );
        t.run(&["PFADD", "h"]);
        assert_eq!(
            t.run(&["PFDEBUG", "Nope", "h"]),
            "-ERR Unknown PFDEBUG subcommand 'Nope'\r\n"
        );
        assert_eq!(
            t.run(&["PFDEBUG", "decode", "h", "x"]),
            // PFDEBUG's arity is exactly 3 in Redis 7: the table answers.
            "-ERR wrong number of arguments for 'pfdebug' command\r\n"
        );
        assert_eq!(t.run(&["PFDEBUG", "DECODE", "h"]), "$7\r\nZ:16384\r\n");
        assert_eq!(t.run(&["PFDEBUG", "TODENSE", "h"]), ":1\r\n");
        assert_eq!(
            t.run(&["PFDEBUG", "DECODE", "h"]),
            "-ERR HLL encoding is not sparse\r\n"
        );
    }

    #[test]
    fn promotion_follows_the_config() {
        let mut t = TestServer::new();
        assert_eq!(
            t.run(&["CONFIG", "SET", "hll-sparse-max-bytes", "0"]),
            "+OK\r\n"
        );
        t.run(&["PFADD", "z", "a"]);
        assert_eq!(t.run(&["PFDEBUG", "ENCODING", "z"]), "+dense\r\n");
        t.run(&["CONFIG", "SET", "hll-sparse-max-bytes", "3000"]);
        t.run(&["PFADD", "s", "a"]);
        assert_eq!(t.run(&["PFDEBUG", "ENCODING", "s"]), "+sparse\r\n");
    }

    /// Random byte flips (plus truncation and junk at the end) in valid HLLs
    /// of every size, then every HLL command on them: errors, never a panic.
    #[test]
    fn corrupted_values_never_panic() {
        let mut t = TestServer::new();
        let mut bases: Vec<Vec<u8>> = Vec::new();
        for (i, n) in [0usize, 2, 30, 300, 1500, 4000].into_iter().enumerate() {
            let key = format!("base{i}");
            let els: Vec<String> = (0..n).map(|j| format!("b{i}:{j}")).collect();
            let mut argv = vec!["PFADD", key.as_str()];
            argv.extend(els.iter().map(String::as_str));
            t.run(&argv);
            // The raw value (replies are read back as lossy UTF-8).
            let db = t.srv.ks.lookup(0, key.as_bytes()).expect("just added");
            let mut scratch = Vec::new();
            let v = t.srv.ks.entry(0, db).val.str_bytes(&mut scratch);
            bases.push(v.expect("a string").to_vec());
        }
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for seed in 0..1500u64 {
            let mut v = bases[(rnd() % bases.len() as u64) as usize].clone();
            for _ in 0..1 + rnd() % 5 {
                let pos = (rnd() % v.len() as u64) as usize;
                if pos >= 16 || rnd() % 4 == 0 {
                    v[pos] ^= 1 << (rnd() % 8);
                }
            }
            match rnd() % 6 {
                0 => v.truncate(16 + (rnd() as usize % (v.len() - 15))),
                1 => v.extend((0..1 + rnd() % 4).map(|_| rnd() as u8)),
                _ => {}
            }
            let max = ["3000", "40", "0"][(seed % 3) as usize];
            t.run(&["CONFIG", "SET", "hll-sparse-max-bytes", max]);
            t.run_bytes(&[b"SET", b"k", &v]);
            t.run_bytes(&[b"SET", b"k2", &v]);
            let e1 = format!("n{seed}");
            let e2 = format!("m{seed}");
            for argv in [
                vec!["PFCOUNT", "k"],
                vec!["PFCOUNT", "k", "base3"],
                vec!["PFADD", "k", e1.as_str(), e2.as_str(), "a", "b", "c"],
                vec!["PFCOUNT", "k"],
                vec!["PFMERGE", "k2", "base4", "k"],
                vec!["PFMERGE", "dst", "k2"],
                vec!["PFDEBUG", "DECODE", "k"],
                vec!["PFDEBUG", "GETREG", "k2"],
                vec!["PFDEBUG", "TODENSE", "k"],
                vec!["PFADD", "k", e2.as_str(), "z"],
                vec!["PFCOUNT", "k", "k2", "dst"],
            ] {
                let r = t.run(&argv);
                assert!(
                    r.starts_with([':', '+', '-', '$', '*']),
                    "{argv:?} -> {r:?}"
                );
            }
            t.run(&["DEL", "dst"]);
        }
    }
}
