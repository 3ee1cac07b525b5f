//! The effect-form stream (what the AOF and replicas will consume) replays
//! to the same dataset: a random workload over every write command that
//! needs a rewrite (relative expiries, SPOP, float increments, blocking
//! pops served later, XADD `*` and `~` trimming, consumer groups, MULTI)
//! runs on server A with propagation on; its stream is replayed on server B
//! in loading mode 7 s later (so a relative expiry replayed as-is would come
//! out 7 s off); every key must then match: value digest, absolute expiry,
//! and consumer-group state (PEL delivery times and counts).

use redsim_core::digest::object_digest;
use redsim_core::server::TestServer;

mod common;
use common::{command, Rng};

/// Run argv on A as client `h`, collecting A's effect stream with the time
/// each command was emitted.
fn exec(a: &mut TestServer, h: usize, argv: &[String], log: &mut Vec<(i64, usize, Vec<Vec<u8>>)>) {
    let args: Vec<&[u8]> = argv.iter().map(|x| x.as_bytes()).collect();
    let mut out = redsim_core::resp::Reply::new();
    a.srv.execute(h, &args, a.now_ms, &mut out);
    for p in a.srv.take_effects().propagate {
        log.push((a.now_ms, p.db, p.argv));
    }
}

fn compare(a: &TestServer, b: &TestServer, seed: u64) {
    for (db, (da, dbb)) in a.srv.ks.dbs.iter().zip(b.srv.ks.dbs.iter()).enumerate() {
        assert_eq!(
            da.table.len(),
            dbb.table.len(),
            "seed {seed}: db {db} key count"
        );
        for e in da.table.iter() {
            let key = String::from_utf8_lossy(&e.key).into_owned();
            let Some(j) = dbb.table.find(&e.key) else {
                panic!("seed {seed}: {key} missing after replay");
            };
            let f = dbb.table.entry(j);
            let (mut x, mut y) = ([0u8; 20], [0u8; 20]);
            let ea = da.table.expire_of_entry(e);
            let eb = dbb.table.expire_of(j);
            object_digest(&mut x, &e.val, ea);
            object_digest(&mut y, &f.val, eb);
            assert_eq!(x, y, "seed {seed}: value of {key}");
            assert_eq!(ea, eb, "seed {seed}: expiry of {key}");
            if let (redsim_core::db::Value::Stream(sa), redsim_core::db::Value::Stream(sb)) =
                (&e.val, &f.val)
            {
                assert_eq!(sa.last_id, sb.last_id, "seed {seed}: {key} last id");
                let ga: Vec<_> = sa.groups.keys().collect();
                let gb: Vec<_> = sb.groups.keys().collect();
                assert_eq!(ga, gb, "seed {seed}: {key} groups");
                for (name, g) in &sa.groups {
                    let h = &sb.groups[name];
                    assert_eq!(g.last_id, h.last_id, "seed {seed}: group last id");
                    assert_eq!(g.entries_read, h.entries_read, "seed {seed}: entries-read");
                    assert_eq!(g.pel, h.pel, "seed {seed}: PEL of {key}");
                    let ca: Vec<_> = g.consumers.iter().map(|(n, c)| (n, &c.pel)).collect();
                    let cb: Vec<_> = h.consumers.iter().map(|(n, c)| (n, &c.pel)).collect();
                    assert_eq!(ca, cb, "seed {seed}: consumers of {key}");
                }
            }
        }
    }
}

fn run_seed(seed: u64) {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut a = TestServer::new();
    a.srv.ks.active_expire_enabled = false;
    a.srv.set_propagation(true);
    let main = a.h;
    let blocker = a
        .srv
        .new_client("127.0.0.1:9".into(), "l".into(), 9, a.now_ms);
    let mut log = Vec::new();
    for step in 0..300 {
        a.now_ms += r.below(3000) as i64;
        match r.below(20) {
            // A blocking pop from another client, served by later pushes.
            0 if !a.srv.is_blocked(blocker) => {
                let cmd: Vec<String> = match r.below(3) {
                    0 => ["BLPOP", "l0", "l1", "0"]
                        .iter()
                        .map(|x| x.to_string())
                        .collect(),
                    1 => ["BZPOPMIN", "z0", "0"]
                        .iter()
                        .map(|x| x.to_string())
                        .collect(),
                    _ => ["BLMOVE", "l1", "l0", "RIGHT", "LEFT", "0"]
                        .iter()
                        .map(|x| x.to_string())
                        .collect(),
                };
                exec(&mut a, blocker, &cmd, &mut log);
            }
            1 => {
                // A transaction of a few commands.
                exec(&mut a, main, &["MULTI".to_string()], &mut log);
                for _ in 0..2 + r.below(3) {
                    let c = command(&mut r, a.now_ms);
                    exec(&mut a, main, &c, &mut log);
                }
                exec(&mut a, main, &["EXEC".to_string()], &mut log);
            }
            2 => {
                let db = r.below(2).to_string();
                exec(&mut a, main, &["SELECT".to_string(), db], &mut log);
            }
            3 => {
                // Active expiry runs in cron: its DELs are in the stream too.
                a.srv.ks.active_expire_enabled = true;
                a.srv.cron(a.now_ms);
                a.srv.ks.active_expire_enabled = false;
                for p in a.srv.take_effects().propagate {
                    log.push((a.now_ms, p.db, p.argv));
                }
            }
            _ => {
                let c = command(&mut r, a.now_ms);
                exec(&mut a, main, &c, &mut log);
            }
        }
        let _ = step;
    }
    assert!(
        log.len() > 100,
        "seed {seed}: only {} propagated",
        log.len()
    );
    if std::env::var("PROPAGATION_SHOW").is_ok() {
        let mut names = std::collections::BTreeMap::new();
        for (_, _, argv) in &log {
            *names
                .entry(String::from_utf8_lossy(&argv[0]).into_owned())
                .or_insert(0) += 1;
        }
        println!("seed {seed}: {names:?} keys {}", a.srv.dbsize_all());
    }
    // Replay on B, 7 s after each command was emitted, in loading mode.
    let mut b = TestServer::new();
    b.srv.ks.active_expire_enabled = false;
    b.srv.ks.loading = true;
    let mut db = 0usize;
    for (t, pdb, argv) in &log {
        b.now_ms = t + 7000;
        if *pdb != db {
            b.run(&["SELECT", &pdb.to_string()]);
            db = *pdb;
        }
        let args: Vec<&[u8]> = argv.iter().map(|x| x.as_slice()).collect();
        let reply = b.run_bytes(&args);
        assert!(
            !reply.starts_with('-') || args[0] == b"EXEC",
            "seed {seed}: replaying {:?} failed: {reply}",
            argv.iter()
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .collect::<Vec<_>>()
        );
    }
    compare(&a, &b, seed);
}

#[test]
fn effect_stream_replays_to_the_same_dataset() {
    let seeds: u64 = std::env::var("PROPAGATION_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    for seed in 1..=seeds {
        run_seed(seed);
    }
}

/// The checker itself: replaying the raw argv instead of the effect form
/// (what a missing rewrite would do) must be caught.
#[test]
fn raw_argv_replay_is_caught() {
    let mut a = TestServer::new();
    a.srv.set_propagation(true);
    a.run(&["SET", "k", "v"]);
    a.run(&["EXPIRE", "k", "100"]);
    let mut b = TestServer::new();
    b.srv.ks.loading = true;
    b.now_ms = a.now_ms + 7000;
    b.run(&["SET", "k", "v"]);
    b.run(&["EXPIRE", "k", "100"]);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| compare(&a, &b, 0)));
    assert!(r.is_err(), "a relative EXPIRE replayed later must differ");
}

/// RESTORE with a relative TTL replays as the absolute expiry (ABSTTL).
#[test]
fn restore_with_ttl_replays_absolute() {
    let mut a = TestServer::new();
    a.srv.set_propagation(true);
    a.run(&["RPUSH", "src", "a", "b"]);
    let dump = a.run(&["DUMP", "src"]);
    // Bulk reply: $<len>\r\n<payload>\r\n
    let hdr = dump.find("\r\n").unwrap_or(0);
    let payload_len: usize = dump[1..hdr].parse().unwrap_or(0);
    let raw = {
        let mut out = redsim_core::resp::Reply::new();
        a.srv.execute(a.h, &[b"DUMP", b"src"], a.now_ms, &mut out);
        out.buf[hdr + 2..hdr + 2 + payload_len].to_vec()
    };
    let mut out = redsim_core::resp::Reply::new();
    a.srv.execute(
        a.h,
        &[b"RESTORE", b"dst", b"50000", &raw, b"REPLACE"],
        a.now_ms,
        &mut out,
    );
    assert_eq!(out.buf, b"+OK\r\n");
    let log: Vec<_> = a.srv.take_effects().propagate;
    let mut b = TestServer::new();
    b.srv.ks.loading = true;
    b.now_ms = a.now_ms + 7000;
    for p in &log {
        let args: Vec<&[u8]> = p.argv.iter().map(|x| x.as_slice()).collect();
        assert!(!b.run_bytes(&args).starts_with('-'));
    }
    compare(&a, &b, 0);
}
