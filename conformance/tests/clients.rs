//! A real client library against redsim, unchanged: the `redis` crate (sync
//! API) speaking RESP2 and RESP3 — connection setup, pipelines, MULTI/EXEC
//! with WATCH via `redis::transaction`, SCAN iterators, INFO and CONFIG.
//! Each value is also read back from real Redis running the same calls, so
//! the test asserts what Redis does, not what we expect.

use redis::{Commands, Connection, RedisResult};
use redsim_conformance::server::{Flavor, Server, TempDir};

fn both() -> (TempDir, Server, Server) {
    let dir = TempDir::new("clients").expect("tempdir");
    let rd = Server::start(Flavor::Redis, dir.path(), &[]).expect("redis");
    let rs = Server::start(Flavor::Redsim, dir.path(), &[]).expect("redsim");
    (dir, rd, rs)
}

fn client(port: u16, resp3: bool) -> Connection {
    let url = if resp3 {
        format!("redis://127.0.0.1:{port}/?protocol=resp3")
    } else {
        format!("redis://127.0.0.1:{port}/")
    };
    redis::Client::open(url)
        .expect("url")
        .get_connection()
        .expect("connect")
}

/// Everything a typical application does, returned as plain values.
fn workload(c: &mut Connection) -> RedisResult<Vec<String>> {
    let mut out = Vec::new();
    redis::cmd("FLUSHALL").query::<()>(c)?;
    c.set::<_, _, ()>("user:1", "alice")?;
    out.push(c.get::<_, String>("user:1")?);
    out.push(format!("{:?}", c.get::<_, Option<String>>("nope")?));
    out.push(c.incr::<_, _, i64>("hits", 5)?.to_string());
    out.push(format!(
        "{:?}",
        c.mget::<_, Vec<Option<String>>>(&["user:1", "nope", "hits"])?
    ));
    c.set_ex::<_, _, ()>("session", "s", 100)?;
    out.push(c.ttl::<_, i64>("session")?.to_string());
    let (a, b): (String, i64) = redis::pipe()
        .set("p", "q")
        .ignore()
        .get("p")
        .incr("hits", 1)
        .query(c)?;
    out.push(format!("{a} {b}"));
    // Optimistic locking: WATCH + MULTI/EXEC retried by the library.
    let v: (i64,) = redis::transaction(c, &["hits"], |con, pipe| {
        let cur: i64 = con.get("hits")?;
        pipe.set("hits", cur * 2).ignore().get("hits").query(con)
    })?;
    out.push(v.0.to_string());
    for i in 0..50 {
        c.set::<_, _, ()>(format!("k:{i}"), i)?;
    }
    let mut keys: Vec<String> = c.scan_match("k:*")?.collect();
    keys.sort();
    out.push(format!("{} {:?}", keys.len(), &keys[..3]));
    out.push(c.append::<_, _, i64>("user:1", "!")?.to_string());
    out.push(c.getrange::<_, String>("user:1", 0, 2)?);
    out.push(c.setbit::<_, bool>("bits", 7, true)?.to_string());
    out.push(c.bitcount::<_, i64>("bits")?.to_string());
    let cfg: std::collections::HashMap<String, String> =
        redis::cmd("CONFIG").arg("GET").arg("maxmemory").query(c)?;
    out.push(format!("{cfg:?}"));
    let info: redis::InfoDict = redis::cmd("INFO").query(c)?;
    out.push(format!("{:?}", info.get::<i64>("connected_clients")));
    out.push(format!("{:?}", info.get::<String>("role")));
    out.push(c.del::<_, i64>(&["p", "nope"])?.to_string());
    out.push(c.exists::<_, i64>("p")?.to_string());
    let err = redis::cmd("INCR")
        .arg("user:1")
        .query::<i64>(c)
        .err()
        .map(|e| e.to_string());
    out.push(format!("{err:?}"));
    Ok(out)
}

#[test]
fn redis_crate_works_unchanged_resp2_and_resp3() {
    let (_dir, rd, rs) = both();
    for resp3 in [false, true] {
        let want = workload(&mut client(rd.port, resp3)).expect("workload on redis");
        let got = workload(&mut client(rs.port, resp3)).expect("workload on redsim");
        assert_eq!(got, want, "resp3={resp3}");
    }
}

/// Pub/Sub and a blocking pop through the crate's own APIs (`as_pubsub`,
/// `blpop`), with the publisher/pusher on a second connection.
fn async_workload(port: u16) -> RedisResult<Vec<String>> {
    let mut out = Vec::new();
    let mut sub = client(port, false);
    let mut other = client(port, false);
    redis::cmd("FLUSHALL").query::<()>(&mut other)?;
    {
        let mut ps = sub.as_pubsub();
        ps.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
        ps.subscribe("news")?;
        ps.psubscribe("n*")?;
        let receivers: i64 = other.publish("news", "hello")?;
        out.push(format!("receivers={receivers}"));
        for _ in 0..2 {
            let m = ps.get_message()?;
            let pattern: Option<String> = m.get_pattern().ok();
            out.push(format!(
                "{} {:?} {}",
                m.get_channel_name(),
                pattern,
                m.get_payload::<String>()?
            ));
        }
        ps.unsubscribe("news")?;
        ps.punsubscribe("n*")?;
    }
    // Back to normal commands on the same connection after unsubscribing.
    let pong: String = redis::cmd("PING").query(&mut sub)?;
    out.push(pong);
    let pusher = std::thread::spawn(move || -> RedisResult<i64> {
        std::thread::sleep(std::time::Duration::from_millis(100));
        other.rpush("jobs", "job-1")
    });
    let popped: Option<(String, String)> = sub.blpop("jobs", 5.0)?;
    out.push(format!("{popped:?}"));
    let pushed = pusher.join().map_err(|_| {
        redis::RedisError::from((redis::ErrorKind::ClientError, "pusher thread panicked"))
    })??;
    out.push(format!("pushed={pushed}"));
    let timed_out: Option<(String, String)> = sub.blpop("nothing", 0.1)?;
    out.push(format!("{timed_out:?}"));
    Ok(out)
}

#[test]
fn redis_crate_pubsub_and_blocking_pop() {
    let (_dir, rd, rs) = both();
    let want = async_workload(rd.port).expect("workload on redis");
    let got = async_workload(rs.port).expect("workload on redsim");
    assert_eq!(got, want);
    assert!(want.iter().any(|l| l.contains("job-1")), "{want:?}");
}
