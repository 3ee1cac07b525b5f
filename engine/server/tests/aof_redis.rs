#![cfg(not(madsim))]
#![allow(clippy::unwrap_used)]
//! Cross-check of the AOF file layer with a real Redis 7.0 (`redis-server`
//! and `redis-cli` on PATH): Redis must load the files `AofWriter` writes
//! through `RealDisk`, and `aof::load` must load the files Redis writes.
//! Runs in CI (run-tests.sh installs redis-server 7.0).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use redsim_core::aof::{self, AofConfig, AofWriter, FsyncPolicy, LoadEvent, LoadStatus};
use redsim_core::disk::Disk;
use redsim_server::disk::RealDisk;

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn start_redis(dir: &std::path::Path, port: u16) {
    let st = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "yes",
        ])
        .args(["--aof-use-rdb-preamble", "no", "--daemonize", "yes"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .status()
        .unwrap();
    assert!(st.success());
    let t = Instant::now();
    while cli(port, &["ping"]) != "PONG" {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "redis did not start: {}",
            std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop_redis(port: u16) {
    let _ = cli(port, &["shutdown"]);
    let t = Instant::now();
    while cli(port, &["ping"]) == "PONG" && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn set(w: &mut AofWriter, db: usize, k: &str, v: &str) {
    w.feed_command(db, &[b"SET", k.as_bytes(), v.as_bytes()]);
}

/// (db, key) -> value, by executing SELECT/SET.
fn load_kv(
    disk: &mut dyn Disk,
    cfg: &AofConfig,
) -> (LoadStatus, BTreeMap<(usize, String), String>) {
    let mut kv = BTreeMap::new();
    let mut db = 0usize;
    let l = aof::load(
        disk,
        cfg,
        &mut |_| Err("no rdb expected".into()),
        &mut |ev| {
            match ev {
                LoadEvent::File { .. } => db = 0,
                LoadEvent::Command(a) => {
                    let s: Vec<String> = a
                        .iter()
                        .map(|x| String::from_utf8_lossy(x).into())
                        .collect();
                    match s[0].to_ascii_uppercase().as_str() {
                        "SELECT" => db = s[1].parse().map_err(|_| "bad db".to_string())?,
                        "SET" => {
                            kv.insert((db, s[1].clone()), s[2].clone());
                        }
                        _ => {}
                    }
                }
            }
            Ok(())
        },
    )
    .unwrap();
    (l.status, kv)
}

#[test]
fn redis_loads_our_files_and_we_load_redis_files() {
    let dir = std::env::temp_dir().join(format!("redsim-aof-redis-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = AofConfig {
        use_rdb_preamble: false,
        pid: 4242,
        ..AofConfig::default()
    };
    let mut disk = RealDisk::new(&dir);
    let l = aof::load(&mut disk, &cfg, &mut |_| Ok(0), &mut |_| Ok(())).unwrap();
    assert_eq!(l.status, LoadStatus::NotExist);
    let mut w = AofWriter::open(&mut disk, &cfg, FsyncPolicy::Always, l.manifest, b"", 0).unwrap();
    set(&mut w, 0, "a", "1");
    set(&mut w, 5, "c", "3");
    w.flush(&mut disk, 0).unwrap();
    w.start_rewrite(&mut disk, 0).unwrap();
    set(&mut w, 0, "d", "4");
    w.flush(&mut disk, 0).unwrap();
    w.write_base_chunk(
        &mut disk,
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n",
    )
    .unwrap();
    w.write_base_chunk(
        &mut disk,
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n5\r\n*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n",
    )
    .unwrap();
    w.finish_rewrite(&mut disk, 0).unwrap();
    set(&mut w, 0, "e", "5");
    w.close(&mut disk, 0).unwrap();

    let port = 7890;
    start_redis(&dir, port);
    let got = (
        cli(port, &["get", "a"]),
        cli(port, &["get", "d"]),
        cli(port, &["get", "e"]),
        cli(port, &["-n", "5", "get", "c"]),
        cli(port, &["dbsize"]),
    );
    // Redis writes to the incr we left open, then rewrites with its own names.
    cli(port, &["set", "f", "6"]);
    cli(port, &["bgrewriteaof"]);
    let t = Instant::now();
    while cli(port, &["info", "persistence"]).contains("aof_rewrite_in_progress:1")
        || t.elapsed() < Duration::from_millis(300)
    {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    cli(port, &["-n", "5", "set", "g", "7"]);
    stop_redis(port);
    let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
    assert_eq!(
        got,
        ("1".into(), "4".into(), "5".into(), "3".into(), "3".into()),
        "redis log:\n{log}"
    );

    let mut disk = RealDisk::new(&dir);
    let (status, kv) = load_kv(&mut disk, &cfg);
    assert_eq!(status, LoadStatus::Ok);
    let want: BTreeMap<(usize, String), String> = [
        ((0, "a"), "1"),
        ((0, "d"), "4"),
        ((0, "e"), "5"),
        ((0, "f"), "6"),
        ((5, "c"), "3"),
        ((5, "g"), "7"),
    ]
    .into_iter()
    .map(|((db, k), v)| ((db, k.to_string()), v.to_string()))
    .collect();
    assert_eq!(kv, want);
    let manifest =
        std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    assert_eq!(
        manifest,
        "file appendonly.aof.3.base.aof seq 3 type b\nfile appendonly.aof.3.incr.aof seq 3 type i\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
