//! Engine-level behaviour that needs several clients, time travel or effects:
//! WATCH/EXEC, expiry (lazy and active), CLIENT REPLY, CLIENT KILL, CONFIG
//! REWRITE through the injected store. Expected replies were checked against
//! Redis 7.0.15 where Redis can show them.

use redsim_core::server::{ConfigStore, TestServer};

fn second_client(t: &mut TestServer) -> usize {
    t.srv
        .new_client("127.0.0.1:2".into(), "127.0.0.1:6379".into(), 2, t.now_ms)
}

fn run_as(t: &mut TestServer, h: usize, argv: &[&str]) -> String {
    let mut out = redsim_core::resp::Reply::new();
    let args: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
    t.srv.execute(h, &args, t.now_ms, &mut out);
    String::from_utf8_lossy(&out.buf).into_owned()
}

#[test]
fn watch_aborts_exec_when_another_client_writes() {
    let mut t = TestServer::new();
    let other = second_client(&mut t);
    t.run(&["SET", "k", "1"]);
    assert_eq!(t.run(&["WATCH", "k"]), "+OK\r\n");
    run_as(&mut t, other, &["SET", "k", "2"]);
    t.run(&["MULTI"]);
    assert_eq!(t.run(&["INCR", "k"]), "+QUEUED\r\n");
    assert_eq!(t.run(&["EXEC"]), "*-1\r\n");
    // The transaction state is gone: a new one runs.
    t.run(&["MULTI"]);
    t.run(&["INCR", "k"]);
    assert_eq!(t.run(&["EXEC"]), "*1\r\n:3\r\n");
}

#[test]
fn watch_notices_expiry_and_flush() {
    let mut t = TestServer::new();
    t.run(&["SET", "k", "1", "PX", "100"]);
    t.run(&["WATCH", "k"]);
    t.now_ms += 200; // expires, nobody touches it
    t.run(&["MULTI"]);
    t.run(&["GET", "x"]);
    assert_eq!(
        t.run(&["EXEC"]),
        "*-1\r\n",
        "a WATCHed key that expired aborts EXEC"
    );

    t.run(&["SET", "k", "1"]);
    t.run(&["WATCH", "k"]);
    let other = second_client(&mut t);
    run_as(&mut t, other, &["FLUSHALL"]);
    t.run(&["MULTI"]);
    t.run(&["PING"]);
    assert_eq!(t.run(&["EXEC"]), "*-1\r\n", "FLUSHALL touches watched keys");

    // A key already expired at WATCH time and then deleted is no change.
    t.srv.ks.active_expire_enabled = false;
    t.run(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    t.run(&["SET", "e", "1", "PX", "10"]);
    t.now_ms += 50;
    t.run(&["WATCH", "e"]);
    t.run(&["GET", "e"]); // lazily deletes it
    t.run(&["MULTI"]);
    t.run(&["PING"]);
    assert_eq!(t.run(&["EXEC"]), "*1\r\n+PONG\r\n");
}

#[test]
fn queue_errors_abort_with_execabort() {
    let mut t = TestServer::new();
    t.run(&["MULTI"]);
    assert!(t
        .run(&["GET"])
        .starts_with("-ERR wrong number of arguments for 'get'"));
    assert!(t.run(&["NOPE"]).starts_with("-ERR unknown command 'NOPE'"));
    assert_eq!(t.run(&["SET", "a", "1"]), "+QUEUED\r\n");
    assert_eq!(
        t.run(&["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(t.run(&["GET", "a"]), "$-1\r\n");
    // Runtime errors inside EXEC are per-command replies.
    t.run(&["SET", "s", "x"]);
    t.run(&["MULTI"]);
    t.run(&["INCR", "s"]);
    t.run(&["SET", "b", "2"]);
    assert_eq!(
        t.run(&["EXEC"]),
        "*2\r\n-ERR value is not an integer or out of range\r\n+OK\r\n"
    );
    assert_eq!(t.run(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    assert_eq!(t.run(&["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
}

#[test]
fn lazy_and_active_expiry() {
    let mut t = TestServer::new();
    for i in 0..1000 {
        t.run(&["SET", &format!("k{i}"), "v", "PX", "1000"]);
    }
    t.run(&["SET", "keep", "v"]);
    assert_eq!(t.run(&["DBSIZE"]), ":1001\r\n");
    t.now_ms += 1000;
    assert_eq!(
        t.run(&["GET", "k1"]),
        "$1\r\nv\r\n",
        "expire == now is not expired yet"
    );
    t.now_ms += 1;
    assert_eq!(t.run(&["GET", "k1"]), "$-1\r\n");
    assert_eq!(t.run(&["DBSIZE"]), ":1000\r\n", "lazy expiry deleted k1");
    // Active expiry, driven by cron at the injected time, reclaims the rest.
    for _ in 0..100 {
        t.srv.cron(t.now_ms);
    }
    assert_eq!(t.run(&["DBSIZE"]), ":1\r\n");
    let info = t.run(&["INFO", "stats"]);
    assert!(info.contains("expired_keys:1000\r\n"), "{info}");
}

#[test]
fn client_reply_off_skip_on() {
    let mut t = TestServer::new();
    assert_eq!(t.run(&["CLIENT", "REPLY", "OFF"]), "");
    assert_eq!(t.run(&["SET", "a", "1"]), "");
    assert_eq!(t.run(&["CLIENT", "REPLY", "ON"]), "+OK\r\n");
    assert_eq!(t.run(&["CLIENT", "REPLY", "SKIP"]), "");
    assert_eq!(t.run(&["GET", "a"]), "");
    assert_eq!(t.run(&["GET", "a"]), "$1\r\n1\r\n");
}

#[test]
fn client_kill_reports_effects() {
    let mut t = TestServer::new();
    let other = second_client(&mut t);
    let id = t.srv.client_id(other);
    assert_eq!(t.run(&["CLIENT", "KILL", "ID", &id.to_string()]), ":1\r\n");
    assert_eq!(t.srv.take_effects().kill, vec![id]);
    assert_eq!(
        t.run(&["CLIENT", "KILL", "1.2.3.4:5"]),
        "-ERR No such client\r\n"
    );
}

struct MemStore(std::sync::Arc<std::sync::Mutex<String>>);

impl ConfigStore for MemStore {
    fn read(&self) -> std::io::Result<String> {
        Ok(self.0.lock().map(|s| s.clone()).unwrap_or_default())
    }
    fn write(&mut self, text: &str) -> std::io::Result<()> {
        if let Ok(mut s) = self.0.lock() {
            *s = text.to_string();
        }
        Ok(())
    }
}

#[test]
fn config_rewrite_through_injected_store() {
    let mut t = TestServer::new();
    assert_eq!(
        t.run(&["CONFIG", "REWRITE"]),
        "-ERR The server is running without a config file\r\n"
    );
    let file = std::sync::Arc::new(std::sync::Mutex::new(
        "# my conf\nport 6379\nhz 10\n".to_string(),
    ));
    t.srv.config_store = Some(Box::new(MemStore(file.clone())));
    t.run(&["CONFIG", "SET", "hz", "25", "maxmemory", "10mb"]);
    assert_eq!(t.run(&["CONFIG", "REWRITE"]), "+OK\r\n");
    let text = file.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(text.starts_with("# my conf\nport 6379\nhz 25\n"), "{text}");
    assert!(text.contains("maxmemory 10485760\n"), "{text}");
}

#[test]
fn hello_switches_protocol_and_null_encodings() {
    let mut t = TestServer::new();
    assert_eq!(t.run(&["GET", "nope"]), "$-1\r\n");
    let hello = t.run(&["HELLO", "3"]);
    assert!(hello.starts_with("%7\r\n$6\r\nserver\r\n"), "{hello}");
    assert_eq!(t.run(&["GET", "nope"]), "_\r\n");
    assert_eq!(
        t.run(&["HELLO", "4"]),
        "-NOPROTO unsupported protocol version\r\n"
    );
    assert!(t.run(&["CONFIG", "GET", "hz"]).starts_with("%1\r\n"));
    t.run(&["RESET"]);
    assert_eq!(t.run(&["GET", "nope"]), "$-1\r\n");
}

#[test]
fn scan_returns_every_stable_key_across_writes() {
    let mut t = TestServer::new();
    for i in 0..500 {
        t.run(&["SET", &format!("stable{i}"), "v"]);
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    let mut round = 0;
    loop {
        let r = t.run(&["SCAN", &cursor, "COUNT", "7"]);
        let lines: Vec<&str> = r.split("\r\n").collect();
        cursor = lines[2].to_string();
        for w in lines.windows(2) {
            if w[0].starts_with('$') && w[1].starts_with("stable") {
                seen.insert(w[1].to_string());
            }
        }
        // Churn between calls: the table grows and shrinks.
        round += 1;
        for j in 0..50 {
            t.run(&["SET", &format!("churn{round}-{j}"), "x"]);
        }
        if round % 3 == 0 {
            t.run(&["FLUSHDB"]);
            for i in 0..500 {
                t.run(&["SET", &format!("stable{i}"), "v"]);
            }
        }
        if cursor == "0" {
            break;
        }
    }
    // FLUSHDB re-creates the stable keys, so they were present throughout.
    assert_eq!(seen.len(), 500);
}

#[test]
fn client_setinfo_is_redis_7_2_compatible() {
    // Redis 7.2 semantics (the 7.0 reference server lacks SETINFO, so no diff test).
    let mut t = TestServer::new();
    assert_eq!(
        t.run(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]),
        "+OK\r\n"
    );
    assert_eq!(t.run(&["CLIENT", "SETINFO", "lib-ver", "5.0.1"]), "+OK\r\n");
    assert_eq!(
        t.run(&["CLIENT", "SETINFO", "lib-name", "a b"]),
        "-ERR lib-name cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(
        t.run(&["CLIENT", "SETINFO", "color", "red"]),
        "-ERR Unrecognized option 'color'\r\n"
    );
    let info = t.run(&["CLIENT", "INFO"]);
    assert!(
        info.contains(" lib-name=redis-py lib-ver=5.0.1\n"),
        "{info}"
    );
    assert!(info.contains(" cmd=client|info "), "{info}");
}

#[test]
fn scan_cursor_parses_like_strtoul() {
    // Redis 7.0.15 accepts these (checked on the real server); regression: SCAN refused them.
    let mut t = TestServer::new();
    assert_eq!(t.run(&["SCAN", ""]), "*2\r\n$1\r\n0\r\n*0\r\n");
    assert_eq!(t.run(&["SCAN", "+0"]), "*2\r\n$1\r\n0\r\n*0\r\n");
    assert!(t.run(&["SCAN", "-1"]).starts_with("*2\r\n"));
    assert_eq!(t.run(&["SCAN", " 1"]), "-ERR invalid cursor\r\n");
    assert_eq!(
        t.run(&["SCAN", "18446744073709551616"]),
        "-ERR invalid cursor\r\n"
    );
}

#[test]
fn random_member_repeats_are_bounded() {
    // Redis would stream 2^63 replies; redsim refuses counts past 2^24.
    let mut t = TestServer::new();
    t.run(&["SADD", "s", "a", "b"]);
    t.run(&["HSET", "h", "f", "v"]);
    assert_eq!(
        t.run(&["SRANDMEMBER", "s", "-16777217"]),
        "-ERR value is out of range\r\n"
    );
    assert_eq!(
        t.run(&["HRANDFIELD", "h", "-16777217"]),
        "-ERR value is out of range\r\n"
    );
    assert!(t.run(&["SRANDMEMBER", "s", "-3"]).starts_with("*3\r\n"));
}

fn pending(t: &mut TestServer, h: usize) -> String {
    let mut out = redsim_core::resp::Reply::new();
    t.srv.take_pending(h, &mut out);
    String::from_utf8_lossy(&out.buf).into_owned()
}

fn client_id(t: &TestServer, h: usize) -> u64 {
    t.srv.client_id(h)
}

#[test]
fn blocked_clients_time_out_on_the_engine_clock() {
    let mut t = TestServer::new();
    let b = second_client(&mut t);
    // No reply while blocked; the deadline is absolute on the engine clock.
    assert_eq!(run_as(&mut t, b, &["BLPOP", "q", "1.5"]), "");
    assert!(t.srv.is_blocked(b));
    assert_eq!(t.srv.next_timeout_ms(), Some(t.now_ms + 1500));
    t.srv.handle_timeouts(t.now_ms + 1499);
    assert!(t.srv.is_blocked(b), "not yet due");
    assert_eq!(pending(&mut t, b), "");
    t.srv.handle_timeouts(t.now_ms + 1500);
    assert!(!t.srv.is_blocked(b));
    assert_eq!(pending(&mut t, b), "*-1\r\n");
    assert_eq!(t.srv.next_timeout_ms(), None);
    let fx = t.srv.take_effects();
    assert_eq!(
        fx.wake,
        vec![client_id(&t, b)],
        "the shell is told to write"
    );
    // Timeout 0 blocks forever: no deadline is registered.
    assert_eq!(run_as(&mut t, b, &["BRPOP", "q", "0"]), "");
    assert_eq!(t.srv.next_timeout_ms(), None);
    t.srv.handle_timeouts(i64::MAX / 2);
    assert!(t.srv.is_blocked(b));
    assert!(t.run(&["INFO", "clients"]).contains("blocked_clients:1"));
}

#[test]
fn blocked_clients_are_served_in_blocking_order_after_exec() {
    let mut t = TestServer::new();
    let b1 = second_client(&mut t);
    let b2 = second_client(&mut t);
    run_as(&mut t, b1, &["BLPOP", "q", "0"]);
    run_as(&mut t, b2, &["BLPOP", "other", "q", "0"]);
    t.run(&["MULTI"]);
    t.run(&["RPUSH", "q", "a"]);
    t.run(&["RPUSH", "q", "b", "c"]);
    // Nobody is served while the transaction is only queued.
    assert_eq!(pending(&mut t, b1), "");
    assert_eq!(t.run(&["EXEC"]), "*2\r\n:1\r\n:3\r\n");
    assert_eq!(pending(&mut t, b1), "*2\r\n$1\r\nq\r\n$1\r\na\r\n");
    assert_eq!(pending(&mut t, b2), "*2\r\n$1\r\nq\r\n$1\r\nb\r\n");
    assert_eq!(t.run(&["LRANGE", "q", "0", "-1"]), "*1\r\n$1\r\nc\r\n");
    // b2 was blocked on two keys: it is gone from both queues.
    assert_eq!(t.run(&["RPUSH", "other", "x"]), ":1\r\n");
    assert_eq!(pending(&mut t, b2), "");
    assert!(t.run(&["INFO", "clients"]).contains("blocked_clients:0"));
}

#[test]
fn client_unblock_timeout_and_error() {
    let mut t = TestServer::new();
    let b = second_client(&mut t);
    let id = client_id(&t, b).to_string();
    assert_eq!(t.run(&["CLIENT", "UNBLOCK", &id]), ":0\r\n", "not blocked");
    run_as(&mut t, b, &["BZPOPMIN", "z", "0"]);
    assert_eq!(t.run(&["CLIENT", "UNBLOCK", &id]), ":1\r\n");
    assert_eq!(pending(&mut t, b), "*-1\r\n");
    run_as(&mut t, b, &["BLMOVE", "s", "d", "LEFT", "LEFT", "10"]);
    assert_eq!(t.run(&["CLIENT", "UNBLOCK", &id, "ERROR"]), ":1\r\n");
    assert_eq!(
        pending(&mut t, b),
        "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    assert_eq!(t.srv.next_timeout_ms(), None, "deadline dropped");
    // A freed blocked client leaves no trace in the key queues.
    run_as(&mut t, b, &["BLPOP", "gone", "0"]);
    t.srv.free_client(b);
    assert_eq!(t.run(&["RPUSH", "gone", "x"]), ":1\r\n");
    assert_eq!(t.run(&["LLEN", "gone"]), ":1\r\n");
}

/// Regression (found by the blocking proptest): a stream moved away by
/// MOVE or RENAME ends XREADGROUP waits with Redis's error, as DEL does.
#[test]
fn xreadgroup_waiters_learn_their_stream_moved_away() {
    let mut t = TestServer::new();
    let b = second_client(&mut t);
    for (mv, name) in [
        (vec!["MOVE", "s1", "1"], "s1"),
        (vec!["RENAME", "s2", "s3"], "s2"),
    ] {
        assert_eq!(
            t.run(&["XGROUP", "CREATE", name, "g", "$", "MKSTREAM"]),
            "+OK\r\n"
        );
        run_as(
            &mut t,
            b,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                name,
                ">",
            ],
        );
        assert_eq!(pending(&mut t, b), "", "{name}: blocked");
        t.run(&mv);
        assert_eq!(
            pending(&mut t, b),
            "-UNBLOCKED the stream key no longer exists\r\n",
            "{mv:?}"
        );
    }
}

#[test]
fn publish_reaches_other_clients_through_pending_output() {
    let mut t = TestServer::new();
    let s = second_client(&mut t);
    run_as(&mut t, s, &["SUBSCRIBE", "ch"]);
    assert_eq!(t.run(&["PUBLISH", "ch", "hi"]), ":1\r\n");
    assert_eq!(
        pending(&mut t, s),
        "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
    );
    assert_eq!(t.srv.take_effects().wake, vec![client_id(&t, s)]);
    // Keyspace notifications use the same path.
    t.run(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    run_as(&mut t, s, &["PSUBSCRIBE", "__keyevent@0__:*"]);
    t.run(&["RPUSH", "l", "a"]);
    assert!(pending(&mut t, s).ends_with(
        "$8\r\npmessage\r\n$16\r\n__keyevent@0__:*\r\n$20\r\n__keyevent@0__:rpush\r\n$1\r\nl\r\n"
    ));
    t.srv.free_client(s);
    assert_eq!(t.run(&["PUBLISH", "ch", "hi"]), ":0\r\n");
}

#[test]
fn a_subscriber_that_never_reads_is_disconnected_at_the_pubsub_limit() {
    let mut t = TestServer::new();
    let s = second_client(&mut t);
    t.run(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "pubsub 1mb 512kb 60",
    ]);
    run_as(&mut t, s, &["SUBSCRIBE", "ch"]);
    let msg = "x".repeat(64 * 1024);
    for _ in 0..15 {
        assert_eq!(t.run(&["PUBLISH", "ch", &msg]), ":1\r\n");
    }
    assert!(t.srv.take_effects().kill.is_empty(), "under the limit");
    t.run(&["PUBLISH", "ch", &msg]);
    t.run(&["PUBLISH", "ch", &msg]);
    let fx = t.srv.take_effects();
    assert_eq!(fx.kill, vec![client_id(&t, s)]);
    // Its buffered output was dropped, not kept growing.
    assert_eq!(pending(&mut t, s), "");
}

/// Expired keys reach the AOF/replica stream as DEL (UNLINK with
/// lazyfree-lazy-expire), whether found by a lookup or by the active cycle.
#[test]
fn expirations_propagate_as_del() {
    let mut t = TestServer::new();
    t.srv.ks.active_expire_enabled = false;
    t.srv.set_propagation(true);
    t.run(&["SET", "lazy", "v", "PX", "100"]);
    t.run(&["SET", "active", "v", "PX", "100"]);
    t.run(&["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]);
    t.run(&["SET", "unlinked", "v", "PX", "100"]);
    t.srv.take_effects();
    t.now_ms += 200;
    t.run(&["CONFIG", "SET", "lazyfree-lazy-expire", "no"]);
    assert_eq!(t.run(&["GET", "lazy"]), "$-1\r\n");
    let fx = t.srv.take_effects();
    let got: Vec<Vec<Vec<u8>>> = fx.propagate.into_iter().map(|p| p.argv).collect();
    assert_eq!(got, vec![vec![b"DEL".to_vec(), b"lazy".to_vec()]]);
    t.srv.ks.active_expire_enabled = true;
    t.run(&["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]);
    for _ in 0..20 {
        t.srv.cron(t.now_ms);
    }
    let mut got: Vec<Vec<Vec<u8>>> = t
        .srv
        .take_effects()
        .propagate
        .into_iter()
        .map(|p| p.argv)
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            vec![b"UNLINK".to_vec(), b"active".to_vec()],
            vec![b"UNLINK".to_vec(), b"unlinked".to_vec()]
        ]
    );
    // Off: nothing is recorded.
    t.srv.set_propagation(false);
    t.run(&["SET", "x", "v", "PX", "1"]);
    t.now_ms += 10;
    t.run(&["GET", "x"]);
    assert!(t.srv.take_effects().propagate.is_empty());
}
