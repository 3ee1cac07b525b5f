//! Persistence wired into the server, over the simulated disk: SAVE and
//! BGSAVE files load back to the same dataset (BGSAVE to the dataset as it
//! was when it started, while writes continue), DEBUG RELOAD keeps the
//! digest, failed saves and AOF writes turn writes into MISCONF (reads keep
//! working) until a later success, and an AOF survives a restart.

use redsim_core::config::Config;
use redsim_core::disk::{Disk, SimDisk};
use redsim_core::resp::Reply;
use redsim_core::server::{Server, ServerEnv};

use redsim_core::disk::SharedSimDisk as Shared;

struct T {
    srv: Server,
    h: usize,
    now: i64,
}

const START_MS: i64 = 1_700_000_000_000;

impl T {
    fn start(disk: &Shared, args: &[&str], now: i64) -> T {
        let mut cfg = Config::new();
        let mut a: Vec<String> = vec!["--enable-debug-command".into(), "yes".into()];
        a.extend(args.iter().map(|s| s.to_string()));
        cfg.load(None, &a).unwrap_or_else(|e| panic!("config: {e}"));
        let env = ServerEnv {
            start_ms: now,
            version: "7.0.15".into(),
            rng_seed: 11,
            pid: 42,
            ..Default::default()
        };
        let mut srv = Server::new(cfg, env);
        srv.persist.disk = Some(Box::new(disk.clone()));
        srv.load_at_startup()
            .unwrap_or_else(|e| panic!("load: {e}"));
        let h = srv.new_client("c".into(), "l".into(), 1, now);
        T { srv, h, now }
    }

    fn run(&mut self, argv: &[&str]) -> String {
        let mut out = Reply::new();
        let args: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        self.srv.execute(self.h, &args, self.now, &mut out);
        let r = self.srv.before_reply();
        assert!(r.is_ok(), "before_reply: {r:?}");
        String::from_utf8_lossy(&out.buf).into_owned()
    }

    fn digest(&mut self) -> String {
        self.run(&["DEBUG", "DIGEST"])
    }

    fn fill(&mut self, n: usize) {
        for i in 0..n {
            let k = format!("k{i}");
            match i % 5 {
                0 => self.run(&["SET", &k, &format!("v{i}")]),
                1 => self.run(&["RPUSH", &k, "a", "b", &i.to_string()]),
                2 => self.run(&["HSET", &k, "f", "v", "g", &i.to_string()]),
                3 => self.run(&["ZADD", &k, "1.5", "m", "2", &i.to_string()]),
                _ => self.run(&["SADD", &k, "1", "2", &i.to_string()]),
            };
            if i % 7 == 0 {
                self.run(&["PEXPIRE", &k, "100000000"]);
            }
        }
    }
}

fn disk() -> Shared {
    Shared::new(SimDisk::new(5))
}

#[test]
fn save_and_restart_keep_the_dataset() {
    let d = disk();
    let mut t = T::start(&d, &["--save", ""], START_MS);
    t.fill(500);
    let want = t.digest();
    assert_eq!(t.run(&["SAVE"]), "+OK\r\n");
    assert_eq!(t.run(&["LASTSAVE"]), format!(":{}\r\n", START_MS / 1000));
    // Only what was fsynced survives: SAVE must have made it durable.
    d.with(|d| d.crash());
    let mut t2 = T::start(&d, &["--save", ""], START_MS + 1000);
    assert_eq!(t2.digest(), want);
    assert_eq!(t2.run(&["DBSIZE"]), ":500\r\n");
    // DEBUG RELOAD saves and loads in place: same digest.
    assert_eq!(t2.run(&["DEBUG", "RELOAD"]), "+OK\r\n");
    assert_eq!(t2.digest(), want);
}

#[test]
fn bgsave_is_the_dataset_at_its_start_while_writes_continue() {
    let d = disk();
    let mut t = T::start(&d, &["--save", ""], START_MS);
    t.fill(3000);
    let want = t.digest();
    assert_eq!(t.run(&["BGSAVE"]), "+Background saving started\r\n");
    assert_eq!(
        t.run(&["BGSAVE"]),
        "-ERR Background save already in progress\r\n"
    );
    // Writes between steps: overwrite, delete, create, expire, rename.
    let mut i = 0;
    while t.srv.bg_step(100) {
        t.run(&["SET", &format!("k{}", i * 5), "changed"]);
        t.run(&["DEL", &format!("k{}", i * 5 + 1)]);
        t.run(&["SET", &format!("new{i}"), "x"]);
        t.run(&["HSET", &format!("k{}", i * 5 + 2), "f", "changed"]);
        t.run(&["RENAME", &format!("k{}", i * 5 + 3), &format!("moved{i}")]);
        i += 1;
    }
    assert!(i > 10, "the save should span many steps ({i})");
    let info = t.run(&["INFO", "persistence"]);
    assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
    assert!(info.contains("rdb_saves:1"), "{info}");
    let now_digest = t.digest();
    assert_ne!(now_digest, want);
    d.with(|d| d.crash());
    let mut t2 = T::start(&d, &["--save", ""], START_MS + 1000);
    assert_eq!(t2.digest(), want, "the file is the dataset as of BGSAVE");
}

#[test]
fn failed_bgsave_means_misconf_until_a_save_succeeds() {
    let d = disk();
    let mut t = T::start(&d, &["--save", "3600 1"], START_MS);
    t.run(&["SET", "a", "1"]);
    d.with(|d| d.faults.fail_next_fsyncs = 1);
    assert_eq!(t.run(&["BGSAVE"]), "+Background saving started\r\n");
    while t.srv.bg_step(1000) {}
    let info = t.run(&["INFO", "persistence"]);
    assert!(info.contains("rdb_last_bgsave_status:err"), "{info}");
    let misconf = "-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.\r\n";
    assert_eq!(t.run(&["SET", "b", "2"]), misconf);
    assert_eq!(t.run(&["PING"]), misconf, "Redis refuses PING too");
    assert_eq!(t.run(&["GET", "a"]), "$1\r\n1\r\n", "reads keep working");
    t.run(&["MULTI"]);
    assert_eq!(t.run(&["INCR", "a"]), misconf);
    t.run(&["DISCARD"]);
    // With the option off, writes go through.
    t.run(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"]);
    assert_eq!(t.run(&["SET", "b", "2"]), "+OK\r\n");
    t.run(&["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"]);
    assert_eq!(t.run(&["SET", "b", "3"]), misconf);
    // A successful save clears it.
    assert_eq!(t.run(&["BGSAVE"]), "+Background saving started\r\n");
    while t.srv.bg_step(1000) {}
    assert_eq!(t.run(&["SET", "b", "4"]), "+OK\r\n");
}

#[test]
fn save_points_trigger_bgsave() {
    let d = disk();
    let mut t = T::start(&d, &["--save", "10 3"], START_MS);
    t.run(&["SET", "a", "1"]);
    t.run(&["SET", "b", "1"]);
    t.now += 20_000;
    t.srv.cron(t.now);
    while t.srv.bg_step(1000) {}
    assert!(
        t.run(&["INFO", "persistence"]).contains("rdb_saves:0"),
        "2 changes < 3"
    );
    t.run(&["SET", "c", "1"]);
    t.srv.cron(t.now);
    while t.srv.bg_step(1000) {}
    let info = t.run(&["INFO", "persistence"]);
    assert!(info.contains("rdb_saves:1"), "{info}");
    assert!(info.contains("rdb_changes_since_last_save:0"), "{info}");
}

#[test]
fn aof_always_survives_a_crash_and_write_errors_are_misconf() {
    let d = disk();
    let args = [
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let mut t = T::start(&d, &args, START_MS);
    t.fill(200);
    t.run(&["INCRBYFLOAT", "f", "1.1"]);
    t.run(&["SET", "ttl", "v", "EX", "1000"]);
    let want = t.digest();
    d.with(|d| d.crash());
    let mut t2 = T::start(&d, &args, START_MS + 5000);
    assert_eq!(t2.digest(), want, "every acknowledged write is in the AOF");
    // everysec: a failed write is not fatal; writes get MISCONF until the
    // AOF can be written again.
    t2.run(&["CONFIG", "SET", "appendfsync", "everysec"]);
    d.with(|d| d.faults.fail_next_writes = 1);
    assert_eq!(t2.run(&["SET", "x", "1"]), "+OK\r\n");
    assert_eq!(
        t2.run(&["SET", "y", "1"]),
        "-MISCONF Errors writing to the AOF file: Input/output error\r\n"
    );
    assert_eq!(t2.run(&["GET", "x"]), "$1\r\n1\r\n");
    t2.now += 1000;
    t2.srv.cron(t2.now); // retries the buffered write
    assert_eq!(t2.run(&["SET", "y", "2"]), "+OK\r\n");
    // BGREWRITEAOF while writing, then a crash: everything is there.
    assert_eq!(
        t2.run(&["BGREWRITEAOF"]),
        "+Background append only file rewriting started\r\n"
    );
    let mut i = 0;
    while t2.srv.bg_step(50) {
        t2.run(&["SET", &format!("during{i}"), "v"]);
        i += 1;
    }
    t2.run(&["CONFIG", "SET", "appendfsync", "always"]);
    t2.run(&["SET", "last", "v"]);
    let want2 = t2.digest();
    d.with(|d| d.crash());
    let mut t3 = T::start(&d, &args, START_MS + 9000);
    assert_eq!(t3.digest(), want2);
}

#[test]
fn appendonly_switched_on_at_run_time_starts_from_the_dataset() {
    let d = disk();
    let mut t = T::start(&d, &["--save", ""], START_MS);
    t.fill(100);
    assert_eq!(t.run(&["CONFIG", "SET", "appendonly", "yes"]), "+OK\r\n");
    t.run(&["CONFIG", "SET", "appendfsync", "always"]);
    t.run(&["SET", "after", "1"]);
    let want = t.digest();
    d.with(|d| d.crash());
    let mut t2 = T::start(&d, &["--save", "", "--appendonly", "yes"], START_MS + 1000);
    assert_eq!(t2.digest(), want);
}

#[test]
fn shutdown_during_a_rewrite_keeps_everything() {
    let d = disk();
    let args = ["--save", "", "--appendonly", "yes"];
    let mut t = T::start(&d, &args, START_MS);
    t.fill(2000);
    assert_eq!(
        t.run(&["BGREWRITEAOF"]),
        "+Background append only file rewriting started\r\n"
    );
    assert!(t.srv.bg_step(100), "still running");
    t.run(&["SET", "during", "1"]);
    t.run(&["INCRBYFLOAT", "float", "1.5"]);
    let want = t.digest();
    t.run(&["SHUTDOWN"]);
    let mut t2 = T::start(&d, &args, START_MS + 1000);
    assert_eq!(t2.digest(), want);
}

#[test]
fn debug_loadaof_keeps_the_digest() {
    let d = disk();
    let args = ["--save", "", "--appendonly", "yes"];
    let mut t = T::start(&d, &args, START_MS);
    t.fill(300);
    t.run(&["SPOP", "k4"]);
    t.run(&["INCRBYFLOAT", "f", "2.5"]);
    let want = t.digest();
    assert_eq!(t.run(&["DEBUG", "LOADAOF"]), "+OK\r\n");
    assert_eq!(t.digest(), want);
    t.run(&["SET", "after", "1"]);
    let want2 = t.digest();
    d.with(|d| d.crash());
    let mut t2 = T::start(&d, &args, START_MS + 3000);
    // everysec: the last second may be lost, but here before_reply wrote
    // it and a crash keeps only fsynced bytes; LOADAOF fsynced everything
    // before it, so at least the reloaded state is there.
    let got = t2.digest();
    assert!(got == want2 || got == want, "state after crash is neither");
}

fn info(t: &mut T, field: &str) -> String {
    let text = t.run(&["INFO", "persistence"]);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {field} in INFO"))
}

/// auto-aof-rewrite-*: cron starts a rewrite once the AOF outgrew the
/// minimum size and doubled (100%) since the last rewrite, not before.
#[test]
fn aof_rewrites_automatically_on_growth() {
    let d = disk();
    let args = [
        "--save",
        "",
        "--appendonly",
        "yes",
        "--auto-aof-rewrite-min-size",
        "20kb",
    ];
    let mut t = T::start(&d, &args, START_MS);
    let mut rewrites_seen_at = None;
    for i in 0..400 {
        t.run(&["SET", &format!("key:{i}"), &"x".repeat(100)]);
        t.now += 10;
        t.srv.cron(t.now);
        while t.srv.bg_step(10_000) {}
        let size: u64 = info(&mut t, "aof_current_size").parse().unwrap_or(0);
        if info(&mut t, "aof_rewrites") == "1" && rewrites_seen_at.is_none() {
            rewrites_seen_at = Some(size);
        }
    }
    let Some(_) = rewrites_seen_at else {
        panic!(
            "no automatic rewrite; aof_current_size {}",
            info(&mut t, "aof_current_size")
        );
    };
    // ~120 bytes per SET: 20 KB is ~170 commands; after the first rewrite the
    // base holds them all, and the next one waits until it doubled again.
    let base: u64 = info(&mut t, "aof_base_size").parse().unwrap_or(0);
    let cur: u64 = info(&mut t, "aof_current_size").parse().unwrap_or(0);
    assert!(
        cur < 2 * base + 200,
        "current {cur} vs base {base}: should have rewritten"
    );
    let n: u64 = info(&mut t, "aof_rewrites").parse().unwrap_or(0);
    assert!((1..=3).contains(&n), "{n} rewrites");
    // Turned off: no more rewrites however large it gets.
    t.run(&["CONFIG", "SET", "auto-aof-rewrite-percentage", "0"]);
    for i in 0..600 {
        t.run(&["SET", &format!("more:{i}"), &"y".repeat(100)]);
        t.now += 10;
        t.srv.cron(t.now);
    }
    assert_eq!(info(&mut t, "aof_rewrites"), n.to_string());
    let want = t.digest();
    d.with(|d| d.crash());
    let mut t2 = T::start(&d, &args, t.now + 2000);
    assert_eq!(t2.digest(), want);
}

/// aof-timestamp-enabled: `#TS:` annotations once per second before the
/// commands; loading skips them (the dataset comes back intact).
#[test]
fn aof_timestamps_are_written_and_skipped_on_load() {
    let d = disk();
    let args = [
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--aof-timestamp-enabled",
        "yes",
    ];
    let mut t = T::start(&d, &args, START_MS);
    for i in 0..10 {
        t.run(&["SET", &format!("k{i}"), "v"]);
        t.now += 400;
    }
    let want = t.digest();
    let incr = d.with(|d| {
        let names = d.list("appendonlydir").unwrap_or_default();
        let name = names
            .iter()
            .find(|n| n.ends_with(".incr.aof"))
            .cloned()
            .unwrap_or_default();
        d.read(&format!("appendonlydir/{name}")).unwrap_or_default()
    });
    let text = String::from_utf8_lossy(&incr);
    let stamps: Vec<&str> = text.lines().filter(|l| l.starts_with("#TS:")).collect();
    // 10 commands over 3.6 s starting on a whole second: 4 distinct seconds.
    assert_eq!(stamps.len(), 4, "{text}");
    assert_eq!(stamps[0], format!("#TS:{}", START_MS / 1000));
    d.with(|d| d.crash());
    let mut t2 = T::start(&d, &args, t.now + 1000);
    assert_eq!(t2.digest(), want);
}

/// Redis reads several `save` lines of a config file as one list.
#[test]
fn save_lines_accumulate_in_a_config_file() {
    let mut cfg = Config::new();
    let text = "save 3600 1\nsave 300 100\nsave 60 10000\n";
    cfg.load(Some(text), &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.get("save"), Some("3600 1 300 100 60 10000"));
    assert_eq!(cfg.save_params, vec![(3600, 1), (300, 100), (60, 10000)]);
    let mut cfg = Config::new();
    cfg.load(Some("save 3600 1\nsave \"\"\n"), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.get("save"), Some(""));
    let mut cfg = Config::new();
    let e = cfg.load(Some("save 0 1\n"), &[]).err().unwrap_or_default();
    assert!(e.contains("Invalid save parameters"), "{e}");
}
