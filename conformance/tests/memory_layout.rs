//! INFO memory and MEMORY STATS layout against real Redis: the field names of
//! INFO's "memory" section and the key names of MEMORY STATS (with its
//! nested `db.N` maps) must be the same lists, in the same order, on both
//! servers, in RESP2 and RESP3. The values are each implementation's own
//! figures and are not compared; the byte-exact parts of MEMORY (HELP,
//! errors, DOCTOR on an empty instance) are in cases/memory.txt.

use redsim_conformance::conn::Conn;
use redsim_conformance::resp::Value;
use redsim_conformance::server::{Flavor, Server, TempDir};

fn call(c: &mut Conn, args: &[&str]) -> Value {
    c.call(args)
        .unwrap_or_else(|e| panic!("{args:?}: {e:?}"))
        .value
}

fn text(v: &Value) -> String {
    match v {
        Value::Bulk(b) | Value::Simple(b) | Value::Verbatim(_, b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        other => panic!("expected a string reply, got {other:?}"),
    }
}

/// Field names of `INFO memory`, in order.
fn info_memory_fields(c: &mut Conn) -> Vec<String> {
    let info = text(&call(c, &["INFO", "memory"]));
    info.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').next().unwrap_or_default().to_string())
        .collect()
}

/// (key, value) pairs of a map reply: RESP3 `%` or a RESP2 flat array.
fn pairs(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Map(m) => m.iter().map(|(k, v)| (text(k), v.clone())).collect(),
        Value::Array(a) => {
            assert!(a.len() % 2 == 0, "odd-length map array: {a:?}");
            a.chunks(2).map(|p| (text(&p[0]), p[1].clone())).collect()
        }
        other => panic!("expected a map reply, got {other:?}"),
    }
}

/// Key names of MEMORY STATS in order; nested maps as `db.N/inner`.
fn stats_keys(c: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in pairs(&call(c, &["MEMORY", "STATS"])) {
        if k.starts_with("db.") {
            for (inner, _) in pairs(&v) {
                out.push(format!("{k}/{inner}"));
            }
        }
        out.push(k);
    }
    out
}

/// Keys in databases 0 and 3 (one with a TTL), so MEMORY STATS has `db.N`
/// entries.
fn fill(c: &mut Conn) {
    call(c, &["SET", "a", "1"]);
    call(c, &["RPUSH", "l", "x", "y"]);
    call(c, &["SELECT", "3"]);
    call(c, &["SET", "t", "v", "EX", "100"]);
    call(c, &["SELECT", "0"]);
}

#[test]
fn info_memory_and_memory_stats_names_match_redis() {
    let dir = TempDir::new("memory_layout").expect("tempdir");
    let rd = Server::start(Flavor::Redis, dir.path(), &[]).expect("redis");
    let rs = Server::start(Flavor::Redsim, dir.path(), &[]).expect("redsim");
    for resp3 in [false, true] {
        let mut conns = Vec::new();
        for s in [&rd, &rs] {
            let mut c = s.connect().expect("connect");
            if resp3 {
                call(&mut c, &["HELLO", "3"]);
            }
            conns.push(c);
        }
        let [want_c, got_c] = &mut conns[..] else {
            unreachable!("two connections")
        };
        // Empty servers first (no db.N entries), then with keys.
        for filled in [false, true] {
            for c in [&mut *want_c, &mut *got_c] {
                if filled {
                    fill(c);
                } else {
                    call(c, &["FLUSHALL"]);
                }
            }
            let want = info_memory_fields(want_c);
            assert!(want.contains(&"used_memory".to_string()), "{want:?}");
            assert_eq!(
                info_memory_fields(got_c),
                want,
                "INFO memory fields (resp3={resp3}, filled={filled})"
            );
            let want = stats_keys(want_c);
            if filled {
                assert!(want.contains(&"db.3".to_string()), "{want:?}");
            }
            assert_eq!(
                stats_keys(got_c),
                want,
                "MEMORY STATS keys (resp3={resp3}, filled={filled})"
            );
        }
    }
}
