#![cfg(not(madsim))]
//! Hostile input against the real `redsim-server` binary over TCP: each case
//! must get Redis's error text (or be disconnected, as Redis does), never
//! crash the server, and never make it allocate what a client only declared.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{conn, start, Srv};

/// Send bytes, then read until the server closes the connection.
fn send_until_close(s: &Srv, data: &[u8]) -> Vec<u8> {
    let mut c = conn(s);
    let _ = c.write_all(data);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

fn roundtrip(c: &mut TcpStream, data: &[u8], expect_len: usize) -> Vec<u8> {
    c.write_all(data).expect("write");
    let mut out = vec![0u8; expect_len];
    c.read_exact(&mut out).expect("read reply");
    out
}

fn alive(s: &Srv) {
    let mut c = conn(s);
    assert_eq!(
        roundtrip(&mut c, b"PING\r\n", 7),
        b"+PONG\r\n",
        "server must stay up"
    );
}

fn rss_kb(pid: u32) -> u64 {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    st.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn protocol_errors_reply_and_close() {
    let s = start(&[]);
    let cases: &[(&[u8], &[u8])] = &[
        (
            b"*1\r\n$536870913\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$abc\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*3000000000\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*x\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n:5\r\n",
            b"-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"SET \"a b\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"PING\r\n*1\r\n$x\r\n",
            b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n",
        ),
    ];
    for (input, want) in cases {
        let got = send_until_close(&s, input);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let big_inline = vec![b'a'; 70 * 1024];
    assert_eq!(
        send_until_close(&s, &big_inline),
        b"-ERR Protocol error: too big inline request\r\n"
    );
    let mut big_count = b"*".to_vec();
    big_count.extend(vec![b'1'; 70 * 1024]);
    assert_eq!(
        send_until_close(&s, &big_count),
        b"-ERR Protocol error: too big mbulk count string\r\n"
    );
    alive(&s);
}

#[test]
fn declared_sizes_are_not_allocated() {
    let s = start(&[]);
    let before = rss_kb(s.child.id());
    // 20 connections each declaring a 512 MB bulk but sending 10 bytes.
    let mut conns = Vec::new();
    for _ in 0..20 {
        let mut c = conn(&s);
        c.write_all(b"*2\r\n$3\r\nSET\r\n$536870912\r\n0123456789")
            .expect("write");
        conns.push(c);
    }
    std::thread::sleep(Duration::from_millis(300));
    alive(&s);
    let after = rss_kb(s.child.id());
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
}

#[test]
fn query_buffer_limit_closes_only_that_client() {
    let s = start(&["--client-query-buffer-limit", "1mb"]);
    let mut keep = conn(&s);
    assert_eq!(roundtrip(&mut keep, b"SET k v\r\n", 5), b"+OK\r\n");
    let mut data = b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$3000000\r\n".to_vec();
    data.extend(vec![b'z'; 1_500_000]);
    let got = send_until_close(&s, &data);
    assert!(
        got.is_empty(),
        "expected a silent close, got {:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(roundtrip(&mut keep, b"GET k\r\n", 7), b"$1\r\nv\r\n");
    alive(&s);
}

#[test]
fn unauthenticated_limits_are_tighter() {
    let s = start(&["--requirepass", "secret"]);
    assert_eq!(
        send_until_close(&s, b"*11\r\n"),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert_eq!(
        send_until_close(&s, b"*1\r\n$16385\r\n"),
        b"-ERR Protocol error: unauthenticated bulk length\r\n"
    );
    let mut c = conn(&s);
    assert_eq!(
        roundtrip(&mut c, b"GET k\r\n", 32),
        b"-NOAUTH Authentication required.\r\n"[..32]
    );
    let mut rest = [0u8; 2];
    c.read_exact(&mut rest).expect("rest");
    assert_eq!(roundtrip(&mut c, b"AUTH secret\r\n", 5), b"+OK\r\n");
    // After AUTH, the normal limits apply.
    let mut args = b"*12\r\n$4\r\nMSET\r\n".to_vec();
    for i in 0..11 {
        let a = format!("a{i:02}");
        args.extend_from_slice(format!("${}\r\n{}\r\n", a.len(), a).as_bytes());
    }
    let got = roundtrip(&mut c, &args, 48);
    assert!(
        got.starts_with(b"-ERR wrong number of arguments for 'mset'"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn pipelined_commands_all_answered_in_order() {
    let s = start(&[]);
    let mut c = conn(&s);
    let mut req = Vec::new();
    let mut want = Vec::new();
    for i in 0..2000 {
        req.extend_from_slice(format!("*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n").as_bytes());
        want.extend_from_slice(format!(":{}\r\n", i + 1).as_bytes());
    }
    assert_eq!(roundtrip(&mut c, &req, want.len()), want);
}

#[test]
fn huge_offsets_and_counts_are_errors() {
    let s = start(&[]);
    let mut c = conn(&s);
    let cases: &[(&[u8], &[u8])] = &[
        (
            b"SETRANGE k 536870912 x\r\n",
            b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n",
        ),
        (b"SETRANGE k -1 x\r\n", b"-ERR offset is out of range\r\n"),
        (
            b"INCRBY k 9223372036854775808\r\n",
            b"-ERR value is not an integer or out of range\r\n",
        ),
        (
            b"EXPIRE k 9223372036854775807\r\n",
            b"-ERR invalid expire time in 'expire' command\r\n",
        ),
        (
            b"SET k v EX 9223372036854775807\r\n",
            b"-ERR invalid expire time in 'set' command\r\n",
        ),
        (b"SCAN 0 COUNT -1\r\n", b"-ERR syntax error\r\n"),
        (b"SELECT 16\r\n", b"-ERR DB index is out of range\r\n"),
    ];
    roundtrip(&mut c, b"SET k 1\r\n", 5);
    for (input, want) in cases {
        let got = roundtrip(&mut c, input, want.len());
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    }
    alive(&s);
}

#[test]
fn version_flag_and_shutdown() {
    let out = Command::new(env!("CARGO_BIN_EXE_redsim-server"))
        .arg("--version")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("redsim-server v="));
    let mut s = start(&[]);
    let mut c = conn(&s);
    c.write_all(b"SHUTDOWN NOSAVE\r\n").expect("write");
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(Some(st)) = s.child.try_wait() {
            assert!(st.success());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit after SHUTDOWN"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pipelining_without_reading_keeps_memory_bounded() {
    let s = start(&[]);
    let mut c = conn(&s);
    // A 1 MB value, then 300 GETs of it sent without reading any reply.
    let mut set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n".to_vec();
    set.extend(vec![b'v'; 1 << 20]);
    set.extend_from_slice(b"\r\n");
    roundtrip(&mut c, &set, 5);
    let before = rss_kb(s.child.id());
    let gets = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".repeat(300);
    c.set_nonblocking(true).expect("nonblocking");
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(2);
    while sent < gets.len() && Instant::now() < deadline {
        match c.write(&gets[sent..]) {
            Ok(n) => sent += n,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = rss_kb(s.child.id());
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
    // Now read everything: every reply arrives intact.
    c.set_nonblocking(false).expect("blocking");
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    let want = 300 * (1 + 7 + 2 + (1 << 20) + 2);
    while total < want {
        let n = c.read(&mut buf).expect("read");
        assert!(n > 0, "closed early at {total}");
        total += n;
    }
    assert_eq!(total, want);
    alive(&s);
}

#[test]
fn sigterm_exits_cleanly() {
    let mut s = start(&[]);
    alive(&s);
    let st = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(Some(st)) = s.child.try_wait() {
            assert!(st.success(), "exit status {st:?}");
            break;
        }
        assert!(Instant::now() < deadline, "server did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn info_field(s: &Srv, field: &str) -> String {
    let mut c = conn(s);
    c.write_all(b"INFO clients\r\n").expect("write");
    let mut buf = vec![0u8; 4096];
    let n = c.read(&mut buf).expect("read");
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn blocked_clients_that_vanish_or_pipeline_leave_no_trace() {
    let s = start(&[]);
    // Blocked clients that disconnect are forgotten (no leak, no later serve).
    for _ in 0..20 {
        let mut c = conn(&s);
        c.write_all(b"BLPOP q 0\r\n").expect("write");
        drop(c);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_field(&s, "blocked_clients") != "0" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(info_field(&s, "blocked_clients"), "0");
    let mut w = conn(&s);
    assert_eq!(roundtrip(&mut w, b"RPUSH q a\r\n", 4), b":1\r\n");
    // Commands pipelined behind a blocking one wait until it is served, then
    // run in order.
    let mut b = conn(&s);
    b.write_all(b"BLPOP q2 0\r\nSET after 1\r\nGET after\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(roundtrip(&mut w, b"GET after\r\n", 5), b"$-1\r\n");
    assert_eq!(roundtrip(&mut w, b"RPUSH q2 x\r\n", 4), b":1\r\n");
    let want = b"*2\r\n$2\r\nq2\r\n$1\r\nx\r\n+OK\r\n$1\r\n1\r\n";
    let mut got = vec![0u8; want.len()];
    b.read_exact(&mut got).expect("read");
    assert_eq!(&got[..], &want[..]);
    alive(&s);
}
