//! RDB interoperability with real Redis 7.0.15 (issue 5): DUMP/RESTORE
//! payloads both ways, whole dump.rdb files both ways, `redis-check-rdb` on
//! files redsim writes, and identical errors for corrupt payloads.
//!
//! Every payload is restored into BOTH servers and the two restored keys are
//! compared (DEBUG DIGEST-VALUE, OBJECT ENCODING, PEXPIRETIME, and XINFO
//! STREAM FULL for streams), and against the key it was dumped from (the
//! digest). So encoding conversions on load (a shrunk hashtable reloading as
//! a listpack, ...) are checked against what Redis itself does.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use redsim_conformance::conn::Conn;
use redsim_conformance::resp::Value;
use redsim_conformance::server::{Flavor, Server, TempDir};
use redsim_core::rdb;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn call(c: &mut Conn, args: &[&[u8]]) -> Value {
    c.call(args).expect("reply").value
}

fn calls(c: &mut Conn, args: &[&str]) -> Value {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    call(c, &a)
}

fn bulk(v: Value) -> Vec<u8> {
    match v {
        Value::Bulk(b) => b,
        other => panic!("expected bulk, got {other:?}"),
    }
}

fn commands() -> Vec<Vec<Vec<u8>>> {
    redsim_conformance::dataset::every_type()
}

fn apply(c: &mut Conn, cmds: &[Vec<Vec<u8>>]) {
    for cmd in cmds {
        let a: Vec<&[u8]> = cmd.iter().map(|x| &x[..]).collect();
        let r = call(c, &a);
        assert!(
            !r.is_error(),
            "{:?} -> {r:?}",
            String::from_utf8_lossy(&cmd[0])
        );
    }
}

fn keys(c: &mut Conn) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = match calls(c, &["KEYS", "*"]) {
        Value::Array(v) => v.into_iter().map(bulk).collect(),
        other => panic!("{other:?}"),
    };
    out.sort();
    out
}

/// What must agree between two copies of a key.
fn key_state(c: &mut Conn, k: &[u8]) -> (Value, Value, Value, Value) {
    let digest = call(c, &[b"DEBUG", b"DIGEST-VALUE", k]);
    let enc = call(c, &[b"OBJECT", b"ENCODING", k]);
    let exp = call(c, &[b"PEXPIRETIME", k]);
    let full = match call(c, &[b"TYPE", k]) {
        Value::Simple(t) if t == b"stream" => call(c, &[b"XINFO", b"STREAM", k, b"FULL"]),
        _ => Value::Null,
    };
    (digest, enc, exp, full)
}

/// Dump every key of `src` (db 0), restore each into db `dst_db` of both
/// servers, compare.
fn dump_and_restore_everywhere(
    src: &mut Conn,
    rd: &mut Conn,
    rs: &mut Conn,
    dst_db: &str,
    what: &str,
) {
    let ks = keys(src);
    assert!(ks.len() > 30, "{what}: only {} keys", ks.len());
    for c in [&mut *rd, &mut *rs] {
        calls(c, &["SELECT", dst_db]);
        calls(c, &["FLUSHDB"]);
    }
    for k in &ks {
        let payload = bulk(call(src, &[b"DUMP", k]));
        let pexp = match call(src, &[b"PEXPIRETIME", k]) {
            Value::Integer(n) if n > 0 => n,
            _ => 0,
        };
        let ttl = pexp.to_string();
        let src_digest = call(src, &[b"DEBUG", b"DIGEST-VALUE", k]);
        for c in [&mut *rd, &mut *rs] {
            let r = call(c, &[b"RESTORE", k, ttl.as_bytes(), &payload, b"ABSTTL"]);
            assert_eq!(
                r,
                Value::Simple(b"OK".to_vec()),
                "{what}: RESTORE {}",
                String::from_utf8_lossy(k)
            );
        }
        let a = key_state(rd, k);
        let b = key_state(rs, k);
        assert_eq!(
            b,
            a,
            "{what}: key {} restored differently (redsim vs redis)",
            String::from_utf8_lossy(k)
        );
        assert_eq!(
            a.0,
            src_digest,
            "{what}: digest changed by dump/restore: {}",
            String::from_utf8_lossy(k)
        );
    }
    for c in [&mut *rd, &mut *rs] {
        calls(c, &["SELECT", "0"]);
    }
}

fn start_both(dir: &Path) -> (Server, Server) {
    let cfg: Vec<String> = ["--stream-node-max-entries", "100"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rd = Server::start(Flavor::Redis, dir, &cfg).expect("redis");
    let rs = Server::start(Flavor::Redsim, dir, &cfg).expect("redsim");
    (rd, rs)
}

#[test]
fn dump_restore_both_ways() {
    let dir = TempDir::new("rdb-dump").expect("tempdir");
    let (rd, rs) = start_both(dir.path());
    let mut a = connect_loaded(rd.port);
    let mut b = connect_loaded(rs.port);
    let cmds = commands();
    apply(&mut a, &cmds);
    apply(&mut b, &cmds);
    // The same commands gave the same data.
    assert_eq!(keys(&mut a), keys(&mut b));
    // (a) payloads written by Redis.
    let mut src = connect_loaded(rd.port);
    dump_and_restore_everywhere(&mut src, &mut a, &mut b, "9", "redis payloads");
    // (b) payloads written by redsim.
    let mut src = connect_loaded(rs.port);
    dump_and_restore_everywhere(&mut src, &mut a, &mut b, "10", "redsim payloads");
    // TTL 0 = no expiry; a relative TTL; an expired ABSTTL creates nothing.
    for c in [&mut a, &mut b] {
        let p = bulk(calls(c, &["DUMP", "s:int"]));
        assert_eq!(
            call(c, &[b"RESTORE", b"r1", b"0", &p]),
            Value::Simple(b"OK".to_vec())
        );
        assert_eq!(calls(c, &["PTTL", "r1"]), Value::Integer(-1));
        assert_eq!(
            call(c, &[b"RESTORE", b"r2", b"100000", &p]),
            Value::Simple(b"OK".to_vec())
        );
        assert!(matches!(calls(c, &["PTTL", "r2"]), Value::Integer(n) if n > 90_000));
        assert_eq!(
            call(c, &[b"RESTORE", b"r3", b"1000", &p, b"ABSTTL"]),
            Value::Simple(b"OK".to_vec())
        );
        assert_eq!(calls(c, &["EXISTS", "r3"]), Value::Integer(0));
        assert_eq!(
            call(c, &[b"RESTORE", b"r1", b"1000", &p, b"ABSTTL", b"REPLACE"]),
            Value::Simple(b"OK".to_vec())
        );
        assert_eq!(calls(c, &["EXISTS", "r1"]), Value::Integer(0));
    }
}

/// Re-checksum a payload body (type + value) with version `ver`.
fn payload(body: &[u8], ver: u16) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&ver.to_le_bytes());
    let crc = rdb::enc::crc64(0, &p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn corrupt_payloads_same_errors() {
    let dir = TempDir::new("rdb-corrupt").expect("tempdir");
    let (rd, rs) = start_both(dir.path());
    let mut a = connect_loaded(rd.port);
    let mut b = connect_loaded(rs.port);
    for c in [&mut a, &mut b] {
        calls(c, &["HSET", "h", "f1", "v1", "f2", "v2"]);
        calls(c, &["RPUSH", "l", "a", "b", "c"]);
        calls(c, &["SADD", "s", "1", "2", "3"]);
        calls(c, &["SET", "str", "hello"]);
    }
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for k in ["h", "l", "s", "str"] {
        let good = bulk(calls(&mut a, &["DUMP", k]));
        let n = good.len();
        let body = &good[..n - 10];
        let mut bad_crc = good.clone();
        bad_crc[n - 1] ^= 0x11;
        cases.push((format!("{k}: bad checksum"), bad_crc));
        cases.push((format!("{k}: too short"), good[..5].to_vec()));
        cases.push((format!("{k}: newer version"), payload(body, 11)));
        cases.push((format!("{k}: older version"), payload(body, 9)));
        for cut in [1, 2, body.len() / 2, body.len() - 1] {
            cases.push((
                format!("{k}: truncated at {cut}"),
                payload(&body[..cut], 10),
            ));
        }
        let mut t = body.to_vec();
        t[0] = 8;
        cases.push((format!("{k}: unknown type"), payload(&t, 10)));
    }
    // A listpack hash whose listpack header size is wrong, and one without
    // its end byte, both inside a valid checksum.
    let good = bulk(calls(&mut a, &["DUMP", "h"]));
    let body = good[..good.len() - 10].to_vec();
    assert_eq!(body[0], 16, "hash listpack type");
    let mut lp_size = body.clone();
    lp_size[2] ^= 0x01; // low byte of the listpack's total-bytes header
    cases.push(("hash: listpack size header".into(), payload(&lp_size, 10)));
    let mut lp_end = body.clone();
    let last = lp_end.len() - 1;
    lp_end[last] = 0x00;
    cases.push(("hash: listpack end byte".into(), payload(&lp_end, 10)));
    // Empty set, duplicate set members, empty list.
    cases.push(("empty set".into(), payload(&[2, 0], 10)));
    cases.push(("dup set".into(), payload(&[2, 2, 1, b'a', 1, b'a'], 10)));
    cases.push(("empty quicklist".into(), payload(&[18, 0], 10)));
    cases.push((
        "zset NaN".into(),
        payload(&[5, 1, 1, b'a', 0, 0, 0, 0, 0, 0, 0xf8, 0x7f], 10),
    ));
    for (what, p) in &cases {
        let x = call(&mut a, &[b"RESTORE", b"new", b"0", p, b"REPLACE"]);
        let y = call(&mut b, &[b"RESTORE", b"new", b"0", p, b"REPLACE"]);
        assert_eq!(y, x, "{what}");
        // Truncations may still decode (Redis reads on into the footer).
        let must_fail = [
            "checksum", "short", "newer", "type", "listpack", "empty", "dup", "NaN",
        ];
        if must_fail.iter().any(|m| what.contains(m)) {
            assert!(x.is_error(), "{what}: {x:?}");
        }
    }
    // Option errors.
    let good = bulk(calls(&mut a, &["DUMP", "str"]));
    let arg_cases: Vec<Vec<&[u8]>> = vec![
        vec![b"RESTORE", b"h", b"0", &good],
        vec![b"RESTORE", b"new", b"-1", &good],
        vec![b"RESTORE", b"new", b"x", &good],
        vec![b"RESTORE", b"new", b"0", &good, b"IDLETIME", b"-1"],
        vec![b"RESTORE", b"new", b"0", &good, b"IDLETIME", b"x"],
        vec![b"RESTORE", b"new", b"0", &good, b"FREQ", b"256"],
        vec![
            b"RESTORE",
            b"new",
            b"0",
            &good,
            b"FREQ",
            b"1",
            b"IDLETIME",
            b"1",
        ],
        vec![b"RESTORE", b"new", b"0", &good, b"IDLETIME"],
        vec![b"RESTORE", b"new", b"0", &good, b"BOGUS"],
        vec![b"RESTORE", b"h", b"-1", &good],
        vec![b"RESTORE", b"h", b"x", b"junk"],
        vec![b"RESTORE", b"new", b"x", b"junk"],
        vec![b"RESTORE", b"new", b"0", b"junk"],
        vec![b"RESTORE", b"h", b"0", b"junk", b"BOGUS"],
        vec![b"RESTORE", b"new", b"0"],
        vec![b"DUMP", b"missing"],
        vec![
            b"RESTORE",
            b"n2",
            b"0",
            &good,
            b"IDLETIME",
            b"100",
            b"REPLACE",
        ],
        vec![b"OBJECT", b"IDLETIME", b"n2"],
    ];
    for args in &arg_cases {
        let x = call(&mut a, args);
        let y = call(&mut b, args);
        assert_eq!(y, x, "{:?}", String::from_utf8_lossy(args[args.len() - 1]));
    }
    // Keyspace events: "restore" (and "del" when an expired ABSTTL replaces).
    for (srv, c) in [(rd.port, &mut a), (rs.port, &mut b)] {
        calls(c, &["CONFIG", "SET", "notify-keyspace-events", "KEg"]);
        let mut sub = Conn::connect(srv).expect("connect");
        calls(&mut sub, &["PSUBSCRIBE", "__key*__:*"]);
        call(c, &[b"RESTORE", b"ev", b"0", &good, b"REPLACE"]);
        call(c, &[b"RESTORE", b"ev", b"1", &good, b"REPLACE", b"ABSTTL"]);
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(sub.read_reply().expect("event").value);
        }
        match got.last() {
            Some(Value::Array(v)) => assert_eq!(v[3], Value::Bulk(b"ev".to_vec())),
            other => panic!("{other:?}"),
        }
        let want: Vec<&[u8]> = vec![b"restore", b"restore", b"del", b"del"];
        let names: Vec<Vec<u8>> = got
            .iter()
            .map(|v| match v {
                Value::Array(x) => match (&x[2], &x[3]) {
                    (Value::Bulk(ch), Value::Bulk(msg)) => {
                        if ch.starts_with(b"__keyspace") {
                            msg.clone()
                        } else {
                            ch.rsplit(|&c| c == b':')
                                .next()
                                .unwrap_or_default()
                                .to_vec()
                        }
                    }
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            })
            .collect();
        let names_ref: Vec<&[u8]> = names.iter().map(|x| &x[..]).collect();
        assert_eq!(names_ref, want, "port {srv}");
        calls(c, &["CONFIG", "SET", "notify-keyspace-events", ""]);
    }
    // FREQ under an LFU policy; IDLETIME is then a syntax-valid no-op.
    let lfu_cases: Vec<Vec<&[u8]>> = vec![
        vec![b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lfu"],
        vec![b"RESTORE", b"n3", b"0", &good, b"FREQ", b"77"],
        vec![b"OBJECT", b"FREQ", b"n3"],
        vec![b"RESTORE", b"n4", b"0", &good, b"IDLETIME", b"5"],
        vec![b"OBJECT", b"FREQ", b"n4"],
        vec![b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction"],
    ];
    for args in &lfu_cases {
        let x = call(&mut a, args);
        let y = call(&mut b, args);
        assert_eq!(y, x, "{:?}", String::from_utf8_lossy(args[1]));
    }
}

fn redis_file(c: &mut Conn) -> Vec<u8> {
    assert_eq!(calls(c, &["SAVE"]), Value::Simple(b"OK".to_vec()));
    let get = |c: &mut Conn, name: &str| -> String {
        match calls(c, &["CONFIG", "GET", name]) {
            Value::Array(v) => String::from_utf8(bulk(v[1].clone())).expect("utf8"),
            other => panic!("{other:?}"),
        }
    };
    let d = get(c, "dir");
    let f = get(c, "dbfilename");
    std::fs::read(Path::new(&d).join(f)).expect("read dump.rdb")
}

fn digest(c: &mut Conn) -> String {
    String::from_utf8(match calls(c, &["DEBUG", "DIGEST"]) {
        Value::Simple(s) | Value::Bulk(s) => s,
        other => panic!("{other:?}"),
    })
    .expect("utf8")
}

fn check_rdb(path: &Path) {
    let out = Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("redis-check-rdb");
    assert!(
        out.status.success(),
        "redis-check-rdb failed on {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn load_opts(t: &redsim_core::server::TestServer) -> rdb::LoadOpts {
    rdb::LoadOpts {
        now_ms: now_ms(),
        limits: rdb::Limits::from_config(&t.srv.cfg),
        ..rdb::LoadOpts::default()
    }
}

#[test]
fn whole_files_both_ways() {
    let dir = TempDir::new("rdb-files").expect("tempdir");
    // An LRU policy makes Redis write IDLE opcodes.
    let cfg: Vec<String> = [
        "--stream-node-max-entries",
        "100",
        "--maxmemory-policy",
        "allkeys-lru",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rd = Server::start(Flavor::Redis, dir.path(), &cfg).expect("redis");
    let mut a = connect_loaded(rd.port);
    let cmds = commands();
    apply(&mut a, &cmds);
    let want = digest(&mut a);
    // (c1) Redis's dump.rdb loaded by redsim.
    let file = redis_file(&mut a);
    let mut t = redsim_core::server::TestServer::new();
    t.now_ms = now_ms();
    t.srv.ks.now_ms = t.now_ms;
    let o = load_opts(&t);
    let info = rdb::load(&file, &mut t.srv.ks, &o).expect("redsim loads Redis's file");
    assert!(info.checksum_verified);
    assert_eq!(t.run(&["DEBUG", "DIGEST"]), format!("+{want}\r\n"));
    // Encodings after load match Redis's (its keys were loaded the same way
    // only after a restart; compare with a Redis restarted on the file).
    let dir2 = TempDir::new("rdb-files-redis2").expect("tempdir");
    std::fs::write(dir2.path().join("dump.rdb"), &file).expect("write");
    let rd2 = Server::start(
        Flavor::Redis,
        dir2.path(),
        &["--dir".to_string(), dir2.path().display().to_string()],
    )
    .expect("redis on the file");
    let mut a2 = connect_loaded(rd2.port);
    assert_eq!(digest(&mut a2), want);
    for db in ["0", "3", "15"] {
        calls(&mut a2, &["SELECT", db]);
        t.run(&["SELECT", db]);
        for k in keys(&mut a2) {
            let ks = String::from_utf8_lossy(&k).into_owned();
            let enc = bulk(calls(&mut a2, &["OBJECT", "ENCODING", &ks]));
            let got = t.run(&["OBJECT", "ENCODING", &ks]);
            assert_eq!(
                got,
                format!("${}\r\n{}\r\n", enc.len(), String::from_utf8_lossy(&enc)),
                "key {ks}"
            );
        }
    }
    // (c2) The same dataset written by redsim, read by Redis.
    let aux = rdb::Aux {
        ctime: now_ms() / 1000,
        ..rdb::Aux::default()
    };
    let mine = rdb::save_keyspace(
        &t.srv.ks,
        &aux,
        rdb::SaveOpts {
            compress: true,
            lru: true,
            lfu: false,
        },
    );
    let dir3 = TempDir::new("rdb-files-redis3").expect("tempdir");
    let path = dir3.path().join("redsim.rdb");
    std::fs::write(&path, &mine).expect("write");
    check_rdb(&path);
    let rd3 = Server::start(
        Flavor::Redis,
        dir3.path(),
        &[
            "--dir".to_string(),
            dir3.path().display().to_string(),
            "--dbfilename".to_string(),
            "redsim.rdb".to_string(),
        ],
    )
    .expect("redis on redsim's file");
    let mut a3 = connect_loaded(rd3.port);
    assert_eq!(digest(&mut a3), want);
    // (c3) A dataset built by redsim's own commands, saved by redsim.
    let mut u = redsim_core::server::TestServer::new();
    u.now_ms = now_ms();
    u.srv.ks.now_ms = u.now_ms;
    for cmd in &cmds {
        let args: Vec<&[u8]> = cmd.iter().map(|x| &x[..]).collect();
        let r = u.run_bytes(&args);
        assert!(!r.starts_with('-'), "{r}");
    }
    let native = u.run(&["DEBUG", "DIGEST"]);
    assert_eq!(native, format!("+{want}\r\n"));
    let mine = rdb::save_keyspace(
        &u.srv.ks,
        &aux,
        rdb::SaveOpts {
            compress: true,
            lru: false,
            lfu: true,
        },
    );
    let dir4 = TempDir::new("rdb-files-redis4").expect("tempdir");
    let path = dir4.path().join("native.rdb");
    std::fs::write(&path, &mine).expect("write");
    check_rdb(&path);
    let rd4 = Server::start(
        Flavor::Redis,
        dir4.path(),
        &[
            "--dir".to_string(),
            dir4.path().display().to_string(),
            "--dbfilename".to_string(),
            "native.rdb".to_string(),
            "--maxmemory-policy".to_string(),
            "allkeys-lfu".to_string(),
        ],
    )
    .expect("redis on redsim's native file");
    let mut a4 = connect_loaded(rd4.port);
    assert_eq!(digest(&mut a4), want);
    // And redsim reads its own file back to the same state.
    let mut v = redsim_core::server::TestServer::new();
    v.now_ms = now_ms();
    v.srv.ks.now_ms = v.now_ms;
    let o = load_opts(&v);
    rdb::load(&mine, &mut v.srv.ks, &o).expect("own file");
    assert_eq!(v.run(&["DEBUG", "DIGEST"]), native);
    // Stream metadata survives the file round trip through Redis.
    calls(&mut a4, &["SELECT", "0"]);
    let x = calls(&mut a4, &["XINFO", "STREAM", "st", "FULL"]);
    let y = calls(&mut a2, &["SELECT", "0"]);
    let _ = y;
    let z = calls(&mut a2, &["XINFO", "STREAM", "st", "FULL"]);
    assert_eq!(strip_times(x), strip_times(z));
}

/// XINFO STREAM FULL without delivery / seen times (set by each server's
/// clock when the commands ran).
fn strip_times(v: Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut skip_next = false;
            for it in items {
                if skip_next {
                    skip_next = false;
                    out.push(Value::Null);
                    continue;
                }
                if let Value::Bulk(b) = &it {
                    if b == b"seen-time" {
                        skip_next = true;
                    }
                }
                out.push(strip_times(it));
            }
            // A pending entry: [id, consumer, delivery-time, count].
            if out.len() == 4
                && matches!(out[2], Value::Integer(_))
                && matches!(out[0], Value::Bulk(_))
            {
                out[2] = Value::Null;
            }
            // A consumer's pending entry: [id, delivery-time, count].
            if out.len() == 3
                && matches!(out[0], Value::Bulk(_))
                && matches!(out[1], Value::Integer(_))
                && matches!(out[2], Value::Integer(_))
            {
                out[1] = Value::Null;
            }
            Value::Array(out)
        }
        other => other,
    }
}

/// DUMP payloads are byte-identical to Redis's wherever the encoding's
/// element order is deterministic (everything but hashtable-encoded hashes
/// and sets, whose order is the dict's, and streams holding deleted
/// entries, whose tombstones redsim does not keep): same listpack bytes,
/// same intsets, same LZF output, same quicklist node splits.
#[test]
fn dump_payloads_byte_identical() {
    let dir = TempDir::new("rdb-bytes").expect("tempdir");
    let (rd, rs) = start_both(dir.path());
    let mut a = connect_loaded(rd.port);
    let mut b = connect_loaded(rs.port);
    let cmds = commands();
    apply(&mut a, &cmds);
    apply(&mut b, &cmds);
    let unordered = [
        &b"h:big"[..],
        b"h:longval",
        b"h:shrunk",
        b"set:str",
        b"set:bigint",
        b"set:shrunk",
        b"st",
        b"st:empty",
        b"st:trim",
    ];
    let mut differ = Vec::new();
    for k in keys(&mut a) {
        let x = bulk(call(&mut a, &[b"DUMP", &k]));
        let y = bulk(call(&mut b, &[b"DUMP", &k]));
        if x != y && !unordered.contains(&&k[..]) {
            differ.push(String::from_utf8_lossy(&k).into_owned());
        }
    }
    assert!(
        differ.is_empty(),
        "DUMP bytes differ from Redis for {differ:?}"
    );
}

/// A ziplist entry for hand-built old-format payloads.
enum Z<'a> {
    S(&'a [u8]),
    I(i64),
}

/// Build a ziplist (Redis < 7 encoding) of `items`.
fn ziplist(items: &[Z]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    let mut tail = 10usize;
    for it in items {
        let start = body.len();
        tail = 10 + start;
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(0xfe);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match it {
            Z::S(s) => {
                let n = s.len();
                if n < 64 {
                    body.push(n as u8);
                } else if n < 16384 {
                    body.push(0x40 | (n >> 8) as u8);
                    body.push(n as u8);
                } else {
                    body.push(0x80);
                    body.extend_from_slice(&(n as u32).to_be_bytes());
                }
                body.extend_from_slice(s);
            }
            Z::I(v) => {
                let v = *v;
                if (0..=12).contains(&v) {
                    body.push(0xf1 + v as u8);
                } else if let Ok(x) = i8::try_from(v) {
                    body.push(0xfe);
                    body.push(x as u8);
                } else if let Ok(x) = i16::try_from(v) {
                    body.push(0xc0);
                    body.extend_from_slice(&x.to_le_bytes());
                } else if (-8_388_608..=8_388_607).contains(&v) {
                    body.push(0xf0);
                    body.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                } else if let Ok(x) = i32::try_from(v) {
                    body.push(0xd0);
                    body.extend_from_slice(&x.to_le_bytes());
                } else {
                    body.push(0xe0);
                    body.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        prev = body.len() - start;
    }
    let mut z = Vec::new();
    z.extend_from_slice(&((body.len() + 11) as u32).to_le_bytes());
    z.extend_from_slice(&(tail as u32).to_le_bytes());
    z.extend_from_slice(&(items.len() as u16).to_le_bytes());
    z.extend_from_slice(&body);
    z.push(0xff);
    z
}

fn rdb_string(out: &mut Vec<u8>, s: &[u8]) {
    rdb::enc::put_string(out, s, false);
}

/// Payloads in the encodings older Redis versions wrote (ziplists, the
/// first quicklist, plain lists, text-double zsets) restore the same way in
/// both servers (same conversions, same digests).
#[test]
fn old_format_payloads() {
    let dir = TempDir::new("rdb-old").expect("tempdir");
    let (rd, rs) = start_both(dir.path());
    let mut a = connect_loaded(rd.port);
    let mut b = connect_loaded(rs.port);
    let long = vec![b'L'; 300];
    let mixed = [
        Z::S(b"a"),
        Z::I(5),
        Z::I(-100),
        Z::I(1000),
        Z::I(100_000),
        Z::I(-3_000_000_000),
        Z::I(1 << 40),
        Z::S(&long),
        Z::S(b"007"),
        Z::I(12),
        Z::I(0),
    ];
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // List ziplist (type 10).
    let mut body = vec![10u8];
    rdb_string(&mut body, &ziplist(&mixed));
    cases.push(("list ziplist", body));
    // Quicklist of ziplists (type 14).
    let mut body = vec![14u8];
    rdb::enc::put_len(&mut body, 2);
    rdb_string(&mut body, &ziplist(&mixed));
    rdb_string(&mut body, &ziplist(&[Z::S(b"x"), Z::S(b"y")]));
    cases.push(("quicklist", body));
    // Hash ziplist (type 13), small and over hash-max-listpack-entries.
    let mut body = vec![13u8];
    rdb_string(
        &mut body,
        &ziplist(&[
            Z::S(b"f1"),
            Z::S(b"v1"),
            Z::S(b"n"),
            Z::I(42),
            Z::I(7),
            Z::S(&long),
        ]),
    );
    cases.push(("hash ziplist", body));
    let names: Vec<Vec<u8>> = (0..600).map(|i| format!("field{i}").into_bytes()).collect();
    let items: Vec<Z> = names.iter().flat_map(|n| [Z::S(n), Z::I(1)]).collect();
    let mut body = vec![13u8];
    rdb_string(&mut body, &ziplist(&items));
    cases.push(("big hash ziplist", body));
    // Zset ziplist (type 12): scores as ints and text.
    let mut body = vec![12u8];
    rdb_string(
        &mut body,
        &ziplist(&[
            Z::S(b"a"),
            Z::I(-2),
            Z::S(b"b"),
            Z::S(b"1.5"),
            Z::S(b"c"),
            Z::I(3),
            Z::S(b"d"),
            Z::S(b"inf"),
        ]),
    );
    cases.push(("zset ziplist", body));
    // Plain list (type 1) and text-double zset (type 3).
    let mut body = vec![1u8];
    rdb::enc::put_len(&mut body, 3);
    for s in [&b"p"[..], b"12", b"q"] {
        rdb_string(&mut body, s);
    }
    cases.push(("plain list", body));
    let mut body = vec![3u8];
    rdb::enc::put_len(&mut body, 3);
    for (m, s) in [(&b"x"[..], &b"1.25"[..]), (b"y", b"-7"), (b"z", b"1e+20")] {
        rdb_string(&mut body, m);
        body.push(s.len() as u8);
        body.extend_from_slice(s);
    }
    body.extend_from_slice(&[]);
    cases.push(("text zset", body));
    let mut body = vec![3u8];
    rdb::enc::put_len(&mut body, 2);
    rdb_string(&mut body, b"pinf");
    body.push(254);
    rdb_string(&mut body, b"ninf");
    body.push(255);
    cases.push(("text zset infinities", body));
    // Zipmap hashes (type 9, RDB < 4): small, one long value, a dup field.
    let zipmap = |pairs: &[(&[u8], &[u8])]| -> Vec<u8> {
        let mut z = vec![pairs.len() as u8];
        for (k, v) in pairs {
            for (x, free) in [(k, None), (v, Some(1u8))] {
                if x.len() < 254 {
                    z.push(x.len() as u8);
                } else {
                    z.push(254);
                    z.extend_from_slice(&(x.len() as u32).to_le_bytes());
                }
                if let Some(f) = free {
                    z.push(f);
                }
                z.extend_from_slice(x);
                if let Some(f) = free {
                    z.extend(std::iter::repeat_n(0u8, usize::from(f)));
                }
            }
        }
        z.push(255);
        z
    };
    for (what, pairs) in [
        ("zipmap", vec![(&b"a"[..], &b"1"[..]), (b"bb", b"hello")]),
        ("zipmap long", vec![(&b"a"[..], &long[..]), (b"b", b"x")]),
        ("zipmap dup", vec![(&b"a"[..], &b"1"[..]), (b"a", b"2")]),
    ] {
        let mut body = vec![9u8];
        rdb_string(&mut body, &zipmap(&pairs));
        cases.push((what, body));
    }
    // Corrupt ziplists: wrong prevlen, wrong tail, wrong count.
    let mut z = ziplist(&[Z::S(b"a"), Z::S(b"b")]);
    z[13] = 9;
    let mut body = vec![10u8];
    rdb_string(&mut body, &z);
    cases.push(("bad prevlen", body));
    let mut z = ziplist(&[Z::S(b"a"), Z::S(b"b")]);
    z[8] = 3;
    let mut body = vec![10u8];
    rdb_string(&mut body, &z);
    cases.push(("bad count", body));
    // Duplicate hash field in a ziplist.
    let mut body = vec![13u8];
    rdb_string(
        &mut body,
        &ziplist(&[Z::S(b"f"), Z::S(b"1"), Z::S(b"f"), Z::S(b"2")]),
    );
    cases.push(("dup hash field", body));
    for (what, body) in &cases {
        let p = payload(body, 10);
        let x = call(&mut a, &[b"RESTORE", b"old", b"0", &p, b"REPLACE"]);
        let y = call(&mut b, &[b"RESTORE", b"old", b"0", &p, b"REPLACE"]);
        assert_eq!(y, x, "{what}");
        let corrupt = what.contains("bad") || what.contains("dup");
        assert_eq!(x.is_error(), corrupt, "{what}: {x:?}");
        if x.is_error() {
            continue;
        }
        let sa = key_state(&mut a, b"old");
        let sb = key_state(&mut b, b"old");
        assert_eq!(sb, sa, "{what}");
    }
}

/// A stream in the pre-7.0 format (STREAM_LISTPACKS, type 15): Redis and
/// redsim derive the same first ID, entries-added and group entries-read.
#[test]
fn stream_v1_payload() {
    let dir = TempDir::new("rdb-stream1").expect("tempdir");
    let (rd, rs) = start_both(dir.path());
    let mut a = connect_loaded(rd.port);
    let mut b = connect_loaded(rs.port);
    let mut t = redsim_core::server::TestServer::new();
    t.run(&["CONFIG", "SET", "stream-node-max-entries", "100"]);
    for cmd in commands() {
        let args: Vec<&[u8]> = cmd.iter().map(|x| &x[..]).collect();
        t.run_bytes(&args);
    }
    t.run(&["XGROUP", "CREATE", "st:trim", "late", "0"]);
    for key in [&b"st"[..], b"st:empty", b"st:trim"] {
        let i = t.srv.ks.dbs[0].table.find(key).expect("stream key");
        let redsim_core::db::Value::Stream(s) = &t.srv.ks.entry(0, i).val else {
            panic!("not a stream")
        };
        let mut body = vec![15u8];
        rdb::stream::encode_stream_version(&mut body, s, true, false);
        let p = payload(&body, 10);
        let x = call(&mut a, &[b"RESTORE", key, b"0", &p, b"REPLACE"]);
        let y = call(&mut b, &[b"RESTORE", key, b"0", &p, b"REPLACE"]);
        assert_eq!(y, x);
        assert_eq!(x, Value::Simple(b"OK".to_vec()));
        assert_eq!(
            key_state(&mut b, key),
            key_state(&mut a, key),
            "{}",
            String::from_utf8_lossy(key)
        );
    }
}

fn arg(s: &str) -> String {
    s.to_string()
}

/// Connect once the server has loaded its files: both accept connections
/// while loading and answer -LOADING until done.
fn connect_loaded(port: u16) -> Conn {
    let mut c = Conn::connect(port).expect("connect");
    for _ in 0..2000 {
        if calls(&mut c, &["PING"]) == Value::Simple(b"PONG".to_vec()) {
            return c;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("server on port {port} still loading after 20 s");
}

/// The servers themselves, not just the codec: redsim's SAVE/BGSAVE files
/// start a real Redis with the same dataset and the reverse, and so do AOF
/// directories (multi-part, RDB preamble, after BGREWRITEAOF), both ways.
#[test]
fn server_files_and_aof_dirs_cross_both_ways() {
    let cmds = commands();
    let dir = TempDir::new("persist-cross").expect("tempdir");
    let d = dir.path().display().to_string();
    let stream_cfg = [arg("--stream-node-max-entries"), arg("100")];

    // redsim BGSAVE -> Redis loads dump.rdb.
    let mut cfg = vec![arg("--dir"), d.clone()];
    cfg.extend(stream_cfg.iter().cloned());
    let rs = Server::start(Flavor::Redsim, dir.path(), &cfg).expect("redsim");
    let mut s = connect_loaded(rs.port);
    apply(&mut s, &cmds);
    let want = digest(&mut s);
    assert_eq!(
        calls(&mut s, &["BGSAVE"]),
        Value::Simple(b"Background saving started".to_vec())
    );
    let mut waited = 0;
    loop {
        let info = bulk(calls(&mut s, &["INFO", "persistence"]));
        if String::from_utf8_lossy(&info).contains("rdb_bgsave_in_progress:0") {
            assert!(String::from_utf8_lossy(&info).contains("rdb_last_bgsave_status:ok"));
            break;
        }
        waited += 1;
        assert!(waited < 500, "BGSAVE did not finish");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(rs);
    check_rdb(&dir.path().join("dump.rdb"));
    let rd = Server::start(Flavor::Redis, dir.path(), &cfg).expect("redis on redsim's dump");
    let mut r = connect_loaded(rd.port);
    assert_eq!(digest(&mut r), want, "Redis loads redsim's BGSAVE file");
    // Redis SAVE -> redsim loads it at start-up.
    calls(&mut r, &["SET", "from-redis", "1"]);
    let want2 = digest(&mut r);
    assert_eq!(calls(&mut r, &["SAVE"]), Value::Simple(b"OK".to_vec()));
    drop(rd);
    let rs2 = Server::start(Flavor::Redsim, dir.path(), &cfg).expect("redsim on Redis's dump");
    let mut s2 = connect_loaded(rs2.port);
    assert_eq!(digest(&mut s2), want2, "redsim loads Redis's SAVE file");
    drop(rs2);

    // AOF: redsim writes (with a rewrite in the middle), Redis loads the dir.
    let adir = TempDir::new("persist-aof").expect("tempdir");
    let ad = adir.path().display().to_string();
    let mut acfg = vec![arg("--dir"), ad, arg("--appendonly"), arg("yes")];
    acfg.extend(stream_cfg.iter().cloned());
    let rs3 = Server::start(Flavor::Redsim, adir.path(), &acfg).expect("redsim aof");
    let mut s3 = connect_loaded(rs3.port);
    let half = cmds.len() / 2;
    apply(&mut s3, &cmds[..half]);
    calls(&mut s3, &["BGREWRITEAOF"]);
    apply(&mut s3, &cmds[half..]);
    calls(&mut s3, &["INCRBYFLOAT", "float", "1.5"]);
    calls(&mut s3, &["SET", "ttl", "v", "EX", "1000"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let want3 = digest(&mut s3);
    let _ = s3.call(&["SHUTDOWN"]);
    drop(rs3);
    let rd3 = Server::start(Flavor::Redis, adir.path(), &acfg).expect("redis on redsim's AOF");
    let mut r3 = connect_loaded(rd3.port);
    assert_eq!(digest(&mut r3), want3, "Redis loads redsim's AOF directory");
    // Redis appends and rewrites; redsim loads Redis's AOF.
    calls(&mut r3, &["RPUSH", "redis-list", "a", "b"]);
    calls(&mut r3, &["BGREWRITEAOF"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    calls(&mut r3, &["SET", "after-rewrite", "1"]);
    let want4 = digest(&mut r3);
    let _ = r3.call(&["SHUTDOWN"]);
    drop(rd3);
    let rs4 = Server::start(Flavor::Redsim, adir.path(), &acfg).expect("redsim on Redis's AOF");
    let mut s4 = connect_loaded(rs4.port);
    assert_eq!(digest(&mut s4), want4, "redsim loads Redis's AOF directory");
}
