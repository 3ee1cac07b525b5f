//! DUMP and RESTORE (cluster.c's dumpCommand / restoreCommand): values
//! serialized in RDB format with the RDB version and a CRC64 footer, so
//! payloads move between redsim and Redis 7.0 in both directions.

use super::{arg_i64, notify, Ctx};
use crate::db::LRU_CLOCK_MAX;
use crate::error::{CmdError, CmdResult};
use crate::rdb::{self, Limits, RdbErrorKind};
use crate::util::eq_ic;

fn compression(ctx: &Ctx) -> bool {
    ctx.cfg.get("rdbcompression") != Some("no")
}

pub fn dump(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let Some(i) = ctx.ks.lookup_read(ctx.db, argv[1]) else {
        ctx.out.null();
        return Ok(());
    };
    let payload = rdb::dump_payload(&ctx.ks.entry(ctx.db, i).val, compression(ctx));
    ctx.out.bulk(&payload);
    Ok(())
}

pub fn restore(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut replace = false;
    let mut absttl = false;
    let mut idle: Option<i64> = None;
    let mut freq: Option<i64> = None;
    let mut j = 4;
    while j < argv.len() {
        let additional = argv.len() - j - 1;
        if eq_ic(argv[j], "replace") {
            replace = true;
        } else if eq_ic(argv[j], "absttl") {
            absttl = true;
        } else if eq_ic(argv[j], "idletime") && additional >= 1 && freq.is_none() {
            let v = arg_i64(argv[j + 1])?;
            if v < 0 {
                return Err(CmdError::msg("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            j += 1;
        } else if eq_ic(argv[j], "freq") && additional >= 1 && idle.is_none() {
            let v = arg_i64(argv[j + 1])?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::msg(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(v);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let db = ctx.db;
    let key = argv[1];
    if !replace && ctx.ks.lookup_write(db, key).is_some() {
        return Err(CmdError::msg("BUSYKEY Target key name already exists."));
    }
    let mut ttl = arg_i64(argv[2])?;
    if ttl < 0 {
        return Err(CmdError::msg("ERR Invalid TTL value, must be >= 0"));
    }
    let val = match rdb::restore_payload(argv[3], &Limits::from_config(ctx.cfg)) {
        Ok(v) => v,
        Err(e) if e.kind == RdbErrorKind::Checksum => {
            return Err(CmdError::msg(
                "ERR DUMP payload version or checksum are wrong",
            ))
        }
        Err(_) => return Err(CmdError::msg("ERR Bad data format")),
    };
    let deleted = replace && ctx.ks.delete(db, key);
    if ttl != 0 && !absttl {
        ttl = ttl.saturating_add(ctx.now_ms());
    }
    if ttl != 0 && ctx.ks.already_expired(ttl) {
        if deleted {
            ctx.notify(notify::GENERIC, "del", key);
            ctx.propagate_as(&[b"DEL", key]);
        } else {
            ctx.propagate_none();
        }
        ctx.out.ok();
        return Ok(());
    }
    if ttl != 0 && !absttl && ctx.propagating() {
        // Redis's effect form: the absolute expiry, with ABSTTL.
        let abs = crate::util::i64_bytes(ttl);
        let mut p: Vec<&[u8]> = argv.to_vec();
        p[2] = &abs;
        p.push(b"ABSTTL");
        ctx.propagate_as(&p);
    }
    let i = ctx.ks.add(db, key, val);
    if ttl != 0 {
        ctx.ks.set_expire(db, i, ttl);
    }
    // objectSetLRUOrLFU(val, freq, idle, LRU_CLOCK(), 1000).
    if ctx.cfg.is_lfu() {
        if let Some(f) = freq {
            let minutes = ((ctx.ks.now_ms / 1000 / 60) as u64 & 0xFFFF) as u32;
            ctx.ks.entry_mut(db, i).lru = (minutes << 8) | f as u32;
        }
    } else if let Some(idle) = idle {
        let clock = i64::from(ctx.ks.lru_clock());
        let idle = idle.min(i64::from(LRU_CLOCK_MAX));
        let mut abs = clock - idle;
        if abs < 0 {
            abs += i64::from(LRU_CLOCK_MAX) + 1;
        }
        ctx.ks.entry_mut(db, i).lru = abs as u32 & LRU_CLOCK_MAX;
    }
    ctx.notify(notify::GENERIC, "restore", key);
    ctx.out.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::server::TestServer;

    #[test]
    fn dump_restore_roundtrip_and_errors() {
        let mut t = TestServer::new();
        t.run(&["RPUSH", "l", "a", "1", "b"]);
        t.run(&["HSET", "h", "f", "v"]);
        t.run(&["SET", "n", "12345"]);
        for k in ["l", "h", "n"] {
            assert!(t.run(&["DUMP", k]).starts_with('$'));
            let i = t.srv.ks.dbs[0].table.find(k.as_bytes()).expect("key");
            let payload = crate::rdb::dump_payload(&t.srv.ks.entry(0, i).val, true);
            let digest = t.run(&["DEBUG", "DIGEST-VALUE", k]);
            let key2 = format!("{k}2");
            let args: Vec<&[u8]> = vec![b"RESTORE", key2.as_bytes(), b"0", &payload];
            assert_eq!(t.run_bytes(&args), "+OK\r\n");
            assert_eq!(t.run(&["DEBUG", "DIGEST-VALUE", &key2]), digest);
            assert!(t.run_bytes(&args).starts_with("-BUSYKEY"));
            let mut bad = payload.clone();
            let n = bad.len();
            bad[n - 1] ^= 1;
            let args: Vec<&[u8]> = vec![b"RESTORE", b"x", b"0", &bad];
            assert_eq!(
                t.run_bytes(&args),
                "-ERR DUMP payload version or checksum are wrong\r\n"
            );
        }
        assert_eq!(t.run(&["DUMP", "missing"]), "$-1\r\n");
        assert_eq!(
            t.run(&["RESTORE", "k", "-1", "x"]),
            "-ERR Invalid TTL value, must be >= 0\r\n"
        );
        assert_eq!(
            t.run(&["RESTORE", "k", "0", "x", "bogus"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            t.run(&["RESTORE", "k", "0", "x", "FREQ", "300"]),
            "-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n"
        );
    }
}
