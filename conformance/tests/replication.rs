//! Replication (issue 7) against real Redis 7 and between redsim servers:
//! full sync of every type, the command stream after it, partial resync
//! after a dropped link (checked with the masters' sync_full /
//! sync_partial_ok counters), in both directions with real Redis; chains,
//! promotion with PSYNC2 continuation, WAIT, ROLE, read-only replicas,
//! expiry on replicas and min-replicas-to-write between redsim servers.
//!
//! Datasets are compared key by key (DEBUG DIGEST-VALUE, PEXPIRETIME,
//! TYPE) over all 16 databases, and with DEBUG DIGEST.

use std::time::{Duration, Instant};

use redsim_conformance::conn::Conn;
use redsim_conformance::resp::Value;
use redsim_conformance::server::{Flavor, Server, TempDir};

fn call(c: &mut Conn, args: &[&[u8]]) -> Value {
    c.call(args).expect("reply").value
}

fn calls(c: &mut Conn, args: &[&str]) -> Value {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    call(c, &a)
}

fn text(v: Value) -> String {
    match v {
        Value::Bulk(b) | Value::Simple(b) | Value::Verbatim(_, b) => {
            String::from_utf8_lossy(&b).into_owned()
        }
        Value::Error(b) => format!("-{}", String::from_utf8_lossy(&b)),
        Value::Integer(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn info_field(c: &mut Conn, section: &str, field: &str) -> Option<String> {
    let t = text(calls(c, &["INFO", section]));
    t.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(30), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
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

fn start(flavor: Flavor, dir: &TempDir, extra: &[&str]) -> Server {
    let mut args: Vec<String> = vec![
        "--repl-diskless-sync-delay".into(),
        "0".into(),
        "--stream-node-max-entries".into(),
        "100".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Server::start(flavor, dir.path(), &args).expect("start server")
}

/// Wait until `replica` is linked and has applied everything `master` has.
/// Both sides agree: the replica's link is up, and the master lists every
/// replica `state=online` (a real Redis master marks a diskless-synced
/// replica online only once it has reaped its fork, up to a cron tick after
/// the replica reports the link up: FAILOVER in between says "target
/// replica is not online").
fn wait_synced(master: &mut Conn, replica: &mut Conn) {
    wait_until("replica caught up", || {
        let up = info_field(replica, "replication", "master_link_status").as_deref() == Some("up");
        let m = info_field(master, "replication", "master_repl_offset");
        let r = info_field(replica, "replication", "slave_repl_offset");
        let online = match calls(master, &["INFO", "replication"]) {
            Value::Bulk(b) => {
                let t = String::from_utf8_lossy(&b).into_owned();
                t.lines()
                    .filter(|l| l.starts_with("slave") && l.contains(":ip="))
                    .all(|l| l.contains(",state=online,"))
            }
            _ => false,
        };
        up && online && m.is_some() && m == r
    });
}

/// Every key of every database, with what must agree between copies.
fn snapshot(c: &mut Conn) -> Vec<(usize, Vec<u8>, Value, Value, Value)> {
    let mut out = Vec::new();
    for db in 0..16 {
        calls(c, &["SELECT", &db.to_string()]);
        let mut keys: Vec<Vec<u8>> = match calls(c, &["KEYS", "*"]) {
            Value::Array(v) => v
                .into_iter()
                .map(|k| match k {
                    Value::Bulk(b) => b,
                    other => panic!("{other:?}"),
                })
                .collect(),
            other => panic!("{other:?}"),
        };
        keys.sort();
        for k in keys {
            let d = call(c, &[b"DEBUG", b"DIGEST-VALUE", &k]);
            let e = call(c, &[b"PEXPIRETIME", &k]);
            let t = call(c, &[b"TYPE", &k]);
            out.push((db, k, d, e, t));
        }
    }
    calls(c, &["SELECT", "0"]);
    out
}

fn assert_same_data(a: &mut Conn, b: &mut Conn, what: &str) {
    let sa = snapshot(a);
    let sb = snapshot(b);
    assert!(sa.len() > 30, "{what}: only {} keys", sa.len());
    assert_eq!(sa.len(), sb.len(), "{what}: key counts differ");
    for (x, y) in sa.iter().zip(sb.iter()) {
        assert_eq!(
            x,
            y,
            "{what}: key {} differs",
            String::from_utf8_lossy(&x.1)
        );
    }
    assert_eq!(
        calls(a, &["DEBUG", "DIGEST"]),
        calls(b, &["DEBUG", "DIGEST"]),
        "{what}: DEBUG DIGEST differs"
    );
}

/// Writes after the sync: every command family goes through the stream,
/// including effect forms (relative TTLs, INCRBYFLOAT, SPOP, MULTI).
fn more_writes(c: &mut Conn, tag: &str) {
    let cmds: Vec<Vec<String>> = vec![
        vec![
            "SET".into(),
            format!("{tag}:s"),
            "v".into(),
            "EX".into(),
            "1000".into(),
        ],
        vec!["INCRBYFLOAT".into(), format!("{tag}:f"), "1.5".into()],
        vec![
            "RPUSH".into(),
            format!("{tag}:l"),
            "a".into(),
            "b".into(),
            "c".into(),
        ],
        vec!["LPOP".into(), format!("{tag}:l")],
        vec![
            "SADD".into(),
            format!("{tag}:set"),
            "1".into(),
            "2".into(),
            "3".into(),
        ],
        vec!["SPOP".into(), format!("{tag}:set")],
        vec!["ZADD".into(), format!("{tag}:z"), "1".into(), "m".into()],
        vec!["HSET".into(), format!("{tag}:h"), "f".into(), "v".into()],
        vec![
            "XADD".into(),
            format!("{tag}:x"),
            "1-1".into(),
            "f".into(),
            "v".into(),
        ],
        vec!["SELECT".into(), "5".into()],
        vec!["SET".into(), format!("{tag}:db5"), "x".into()],
        vec!["SELECT".into(), "0".into()],
        vec!["MULTI".into()],
        vec!["INCR".into(), format!("{tag}:ctr")],
        vec!["EXPIRE".into(), format!("{tag}:ctr"), "5000".into()],
        vec!["EXEC".into()],
        vec!["DEL".into(), "s:raw".into()],
    ];
    for cmd in cmds {
        let a: Vec<&[u8]> = cmd.iter().map(|x| x.as_bytes()).collect();
        let r = call(c, &a);
        assert!(!r.is_error(), "{cmd:?} -> {r:?}");
    }
}

/// 200 INCRs in one pipeline (one read on the server): each must reach
/// the replicas once (regression: a batch's earlier writes were fed to the
/// stream again with every later one, so replicas counted too far).
fn pipelined_incrs(c: &mut Conn) {
    for _ in 0..200 {
        c.send(&["INCR", "pipelined"]).expect("send");
    }
    for i in 0..200 {
        let r = c.read_reply().expect("reply").value;
        assert!(matches!(r, Value::Integer(_)), "reply {i}: {r:?}");
    }
    calls(c, &["RPUSH", "pipelined:list", "a"]);
}

fn stat(c: &mut Conn, f: &str) -> i64 {
    info_field(c, "stats", f)
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

/// Drop the link from the master's side and check the replica comes back
/// with a partial resync (no new full sync).
fn drop_link_and_check_partial(master: &mut Conn, replica: &mut Conn, what: &str) {
    let full = stat(master, "sync_full");
    let partial = stat(master, "sync_partial_ok");
    let killed = calls(master, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(
        killed,
        Value::Integer(1),
        "{what}: CLIENT KILL TYPE replica"
    );
    more_writes(master, &format!("{what}-after-drop"));
    wait_until("partial resync", || {
        stat(master, "sync_partial_ok") == partial + 1
    });
    assert_eq!(
        stat(master, "sync_full"),
        full,
        "{what}: a full sync happened"
    );
    wait_synced(master, replica);
}

fn interop(master_flavor: Flavor, replica_flavor: Flavor, what: &str) {
    let dir = TempDir::new(what).expect("tempdir");
    let data = redsim_conformance::dataset::every_type();
    let (first, second) = data.split_at(data.len() / 2);
    let ms = start(master_flavor, &dir, &[]);
    let mut m = ms.connect().expect("connect");
    apply(&mut m, first);
    let port = ms.port.to_string();
    let rs = start(
        replica_flavor,
        &dir,
        &["--replicaof", &format!("127.0.0.1 {port}")],
    );
    let mut r = rs.connect().expect("connect");
    wait_synced(&mut m, &mut r);
    assert_eq!(stat(&mut m, "sync_full"), 1, "{what}: one full sync");
    // The stream after the full sync.
    apply(&mut m, second);
    more_writes(&mut m, "stream");
    pipelined_incrs(&mut m);
    wait_synced(&mut m, &mut r);
    assert_same_data(&mut m, &mut r, &format!("{what}: after sync + stream"));
    // A dropped link resumes from the backlog.
    drop_link_and_check_partial(&mut m, &mut r, what);
    assert_same_data(&mut m, &mut r, &format!("{what}: after partial resync"));
    // The replica refuses writes and reports its role.
    let ro = calls(&mut r, &["SET", "x", "1"]);
    assert_eq!(
        text(ro),
        "-READONLY You can't write against a read only replica."
    );
    match calls(&mut r, &["ROLE"]) {
        Value::Array(v) => {
            assert_eq!(text(v[0].clone()), "slave");
            assert_eq!(text(v[3].clone()), "connected");
        }
        other => panic!("ROLE: {other:?}"),
    }
    match calls(&mut m, &["ROLE"]) {
        Value::Array(v) => assert_eq!(text(v[0].clone()), "master"),
        other => panic!("ROLE: {other:?}"),
    }
    // WAIT counts the replica once it acknowledged.
    calls(&mut m, &["SET", "waited", "1"]);
    assert_eq!(calls(&mut m, &["WAIT", "1", "5000"]), Value::Integer(1));
}

#[test]
fn redsim_replica_of_real_redis() {
    interop(Flavor::Redis, Flavor::Redsim, "redis-to-redsim");
}

#[test]
fn real_redis_replica_of_redsim() {
    interop(Flavor::Redsim, Flavor::Redis, "redsim-to-redis");
}

/// Chains, promotion and PSYNC2: M -> A -> B; A is promoted and M becomes
/// its replica: M and B both continue with partial resyncs.
#[test]
fn chain_promotion_psync2() {
    let dir = TempDir::new("repl-chain").expect("tempdir");
    let ms = start(Flavor::Redsim, &dir, &[]);
    let mut m = ms.connect().expect("connect");
    apply(&mut m, &redsim_conformance::dataset::every_type());
    let a_s = start(
        Flavor::Redsim,
        &dir,
        &["--replicaof", &format!("127.0.0.1 {}", ms.port)],
    );
    let mut a = a_s.connect().expect("connect");
    wait_synced(&mut m, &mut a);
    let b_s = start(
        Flavor::Redsim,
        &dir,
        &["--replicaof", &format!("127.0.0.1 {}", a_s.port)],
    );
    let mut b = b_s.connect().expect("connect");
    wait_synced(&mut a, &mut b);
    more_writes(&mut m, "chain");
    wait_synced(&mut m, &mut a);
    wait_synced(&mut a, &mut b);
    // A sub-replica has the master's offsets and data.
    assert_eq!(
        info_field(&mut b, "replication", "master_repl_offset"),
        info_field(&mut m, "replication", "master_repl_offset")
    );
    assert_same_data(&mut m, &mut b, "chain: end of chain");
    // WAIT on the master counts only its direct replica.
    calls(&mut m, &["SET", "w", "1"]);
    assert_eq!(calls(&mut m, &["WAIT", "2", "300"]), Value::Integer(1));
    // WAIT is refused on replicas.
    assert!(text(calls(&mut a, &["WAIT", "1", "0"])).starts_with("-ERR WAIT cannot be used"));
    // Promote A; M follows it.
    let old_id = info_field(&mut a, "replication", "master_replid").expect("replid");
    assert_eq!(text(calls(&mut a, &["REPLICAOF", "NO", "ONE"])), "OK");
    assert_eq!(
        info_field(&mut a, "replication", "role").as_deref(),
        Some("master")
    );
    assert_eq!(
        info_field(&mut a, "replication", "master_replid2").as_deref(),
        Some(old_id.as_str())
    );
    let full_before = stat(&mut a, "sync_full");
    assert_eq!(text(calls(&mut a, &["SET", "after-promotion", "1"])), "OK");
    let ap = a_s.port.to_string();
    assert_eq!(text(calls(&mut m, &["REPLICAOF", "127.0.0.1", &ap])), "OK");
    wait_synced(&mut a, &mut m);
    wait_synced(&mut a, &mut b);
    assert_eq!(
        stat(&mut a, "sync_full"),
        full_before,
        "PSYNC2: the old master and the sub-replica resync partially"
    );
    assert!(stat(&mut a, "sync_partial_ok") >= 2);
    assert_eq!(text(calls(&mut m, &["GET", "after-promotion"])), "1");
    assert_same_data(&mut a, &mut m, "after promotion: old master");
    assert_same_data(&mut a, &mut b, "after promotion: sub-replica");
}

/// Replicas do not expire keys themselves: a logically expired key is
/// hidden from reads but stays until the master's DEL arrives.
#[test]
fn expiry_on_replicas() {
    let dir = TempDir::new("repl-expiry").expect("tempdir");
    let ms = start(Flavor::Redsim, &dir, &[]);
    let mut m = ms.connect().expect("connect");
    let rs = start(
        Flavor::Redsim,
        &dir,
        &["--replicaof", &format!("127.0.0.1 {}", ms.port)],
    );
    let mut r = rs.connect().expect("connect");
    wait_synced(&mut m, &mut r);
    calls(&mut m, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    calls(&mut m, &["SET", "k", "v", "PX", "200"]);
    calls(&mut m, &["SET", "keep", "v"]);
    wait_synced(&mut m, &mut r);
    assert_eq!(text(calls(&mut r, &["GET", "k"])), "v");
    std::thread::sleep(Duration::from_millis(300));
    // Expired on the replica's clock: hidden, not deleted.
    assert_eq!(calls(&mut r, &["GET", "k"]), Value::NullBulk);
    assert_eq!(calls(&mut r, &["EXISTS", "k"]), Value::Integer(0));
    assert_eq!(calls(&mut r, &["DBSIZE"]), Value::Integer(2));
    // The master expires it on access and sends the DEL.
    assert_eq!(calls(&mut m, &["GET", "k"]), Value::NullBulk);
    wait_synced(&mut m, &mut r);
    assert_eq!(calls(&mut r, &["DBSIZE"]), Value::Integer(1));
}

/// min-replicas-to-write refuses writes without enough good replicas.
#[test]
fn min_replicas_to_write() {
    let dir = TempDir::new("repl-minrep").expect("tempdir");
    let ms = start(Flavor::Redsim, &dir, &["--min-replicas-to-write", "1"]);
    let mut m = ms.connect().expect("connect");
    assert_eq!(
        text(calls(&mut m, &["SET", "a", "1"])),
        "-NOREPLICAS Not enough good replicas to write."
    );
    assert_eq!(calls(&mut m, &["GET", "a"]), Value::NullBulk);
    let rs = start(
        Flavor::Redsim,
        &dir,
        &["--replicaof", &format!("127.0.0.1 {}", ms.port)],
    );
    let mut r = rs.connect().expect("connect");
    wait_until("good replica", || {
        info_field(&mut m, "replication", "min_slaves_good_slaves").as_deref() == Some("1")
    });
    assert_eq!(text(calls(&mut m, &["SET", "a", "1"])), "OK");
    wait_synced(&mut m, &mut r);
    assert_eq!(text(calls(&mut r, &["GET", "a"])), "1");
}

fn role_of(c: &mut Conn) -> String {
    match calls(c, &["ROLE"]) {
        Value::Array(v) => text(v[0].clone()),
        other => panic!("ROLE: {other:?}"),
    }
}

/// FAILOVER TO: writes pause, the target catches up and takes over with a
/// partial resync (PSYNC ... FAILOVER), the paused write is answered with
/// READONLY, nothing is lost. Run across flavours, so each side of the
/// handover is checked against real Redis.
fn failover_handover(master: Flavor, replica: Flavor, what: &str) {
    let dir = TempDir::new(what).expect("tempdir");
    let ms = start(master, &dir, &[]);
    let mut m = ms.connect().expect("connect");
    let rs = start(
        replica,
        &dir,
        &["--replicaof", &format!("127.0.0.1 {}", ms.port)],
    );
    let mut r = rs.connect().expect("connect");
    wait_synced(&mut m, &mut r);
    assert_eq!(
        text(calls(&mut m, &["FAILOVER", "ABORT"])),
        "-ERR No failover in progress.",
        "{what}"
    );
    assert_eq!(
        text(calls(&mut r, &["FAILOVER"])),
        "-ERR FAILOVER is not valid when server is a replica.",
        "{what}"
    );
    apply(&mut m, &redsim_conformance::dataset::every_type());
    more_writes(&mut m, "before-failover");
    let full_before = stat(&mut r, "sync_full");
    let port = rs.port.to_string();
    wait_synced(&mut m, &mut r);
    assert_eq!(
        text(calls(
            &mut m,
            &["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "10000"]
        )),
        "OK",
        "{what}"
    );
    // A write sent now waits for the handover, then finds a replica.
    let mut w = ms.connect().expect("connect");
    assert_eq!(
        text(calls(&mut w, &["SET", "during", "1"])),
        "-READONLY You can't write against a read only replica.",
        "{what}"
    );
    wait_until("roles swapped", || {
        role_of(&mut r) == "master" && role_of(&mut m) == "slave"
    });
    wait_synced(&mut r, &mut m);
    assert_eq!(
        stat(&mut r, "sync_full"),
        full_before,
        "{what}: no full sync"
    );
    assert_eq!(
        stat(&mut r, "sync_partial_ok"),
        1,
        "{what}: one partial resync"
    );
    assert_eq!(
        info_field(&mut m, "replication", "master_failover_state").as_deref(),
        Some("no-failover")
    );
    assert_eq!(calls(&mut r, &["EXISTS", "during"]), Value::Integer(0));
    assert_same_data(&mut r, &mut m, &format!("{what}: after failover"));
    more_writes(&mut r, "after-failover");
    wait_synced(&mut r, &mut m);
    assert_same_data(&mut r, &mut m, &format!("{what}: writes after failover"));
}

#[test]
fn failover_redsim_to_redsim() {
    failover_handover(Flavor::Redsim, Flavor::Redsim, "failover-redsim-redsim");
}

#[test]
fn failover_redsim_to_real_redis() {
    failover_handover(Flavor::Redsim, Flavor::Redis, "failover-redsim-redis");
}

#[test]
fn failover_real_redis_to_redsim() {
    failover_handover(Flavor::Redis, Flavor::Redsim, "failover-redis-redsim");
}

/// CONFIG SET on replication settings acts at once, as in Redis: a replica
/// made writable accepts writes, a resized backlog shows its new size (it
/// used to keep the old one until restart; replica-read-only used to wait
/// for the next link). Same outcome on both servers.
#[test]
fn replication_config_set_acts_at_once() {
    let mut seen = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Redsim] {
        let dir = TempDir::new("repl-config-set").expect("tempdir");
        let ms = start(flavor, &dir, &[]);
        let mut m = ms.connect().expect("connect");
        let rs = start(
            flavor,
            &dir,
            &["--replicaof", &format!("127.0.0.1 {}", ms.port)],
        );
        let mut r = rs.connect().expect("connect");
        wait_synced(&mut m, &mut r);
        let mut out = vec![text(calls(&mut r, &["SET", "k", "1"]))];
        out.push(text(calls(
            &mut r,
            &["CONFIG", "SET", "replica-read-only", "no"],
        )));
        out.push(text(calls(&mut r, &["SET", "k", "1"])));
        out.push(text(calls(
            &mut r,
            &["CONFIG", "SET", "replica-read-only", "yes"],
        )));
        out.push(text(calls(&mut r, &["SET", "k", "1"])));
        calls(&mut m, &["SET", "x", "y"]);
        out.push(text(calls(
            &mut m,
            &["CONFIG", "SET", "repl-backlog-size", "3mb"],
        )));
        out.push(format!(
            "{:?}",
            info_field(&mut m, "replication", "repl_backlog_size")
        ));
        // The history survives the resize: a reconnecting replica resumes.
        let full = stat(&mut m, "sync_full");
        calls(&mut m, &["CLIENT", "KILL", "TYPE", "replica"]);
        wait_synced(&mut m, &mut r);
        out.push(format!(
            "full syncs after resize: {}",
            stat(&mut m, "sync_full") - full
        ));
        seen.push(out);
    }
    assert_eq!(seen[0], seen[1], "real Redis vs redsim");
    assert_eq!(
        seen[0][0],
        "-READONLY You can't write against a read only replica."
    );
    assert_eq!(seen[0][2], "OK");
}
