//! maxmemory eviction with real memory accounting: this test binary installs
//! the counting allocator, so `used_memory` is the live heap, as in the
//! server. One #[test] runs the scenarios in sequence (the counter is
//! process-wide, parallel tests would disturb each other).

use redsim_core::config::Config;
use redsim_core::resp::Reply;
use redsim_core::server::{Server, ServerEnv};

#[global_allocator]
static ALLOC: redsim_core::alloc::Counting = redsim_core::alloc::Counting;

struct T {
    srv: Server,
    h: usize,
    now: i64,
}

impl T {
    fn new() -> T {
        let env = ServerEnv {
            start_ms: 1_700_000_000_000,
            version: "7.0.15".into(),
            rng_seed: 7,
            mem_used: Some(redsim_core::alloc::used_bytes),
            ..Default::default()
        };
        let mut srv = Server::new(Config::new(), env);
        let h = srv.new_client("c".into(), "l".into(), 1, 1_700_000_000_000);
        T {
            srv,
            h,
            now: 1_700_000_000_000,
        }
    }

    fn run(&mut self, argv: &[&str]) -> String {
        let mut out = Reply::new();
        let args: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        self.srv.execute(self.h, &args, self.now, &mut out);
        String::from_utf8_lossy(&out.buf).into_owned()
    }

    fn info(&mut self, field: &str) -> i64 {
        let text = self.run(&["INFO", "everything"]);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1)
    }
}

const VALUE: &str = "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv";

fn fill(t: &mut T, prefix: &str, n: usize, ttl: bool) {
    for i in 0..n {
        let k = format!("{prefix}{i}");
        if ttl {
            // Distinct TTLs: key i expires after i+1000 s.
            let ex = (1000 + i).to_string();
            t.run(&["SET", &k, VALUE, "EX", &ex]);
        } else {
            t.run(&["SET", &k, VALUE]);
        }
    }
}

fn limit_above_now(t: &mut T, extra: u64) -> u64 {
    let max = redsim_core::alloc::used_bytes() + extra;
    t.run(&["CONFIG", "SET", "maxmemory", &max.to_string()]);
    max
}

#[test]
fn eviction_policies_with_real_memory_accounting() {
    // allkeys-*: a write load far above maxmemory stays under the limit.
    for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
        let mut t = T::new();
        t.run(&["CONFIG", "SET", "maxmemory-policy", policy]);
        let max = limit_above_now(&mut t, 2 << 20);
        for i in 0..60_000 {
            let k = format!("k{i}");
            assert_eq!(t.run(&["SET", &k, VALUE]), "+OK\r\n", "{policy}");
        }
        let used = redsim_core::alloc::used_bytes();
        // Redis's tolerance: the last write may overshoot by its own size.
        assert!(used <= max + 64 * 1024, "{policy}: used {used} > max {max}");
        let evicted = t.info("evicted_keys");
        assert!(evicted > 10_000, "{policy}: evicted {evicted}");
        assert!(t.info("used_memory") as u64 <= max + 64 * 1024);
    }

    // volatile-*: keys without a TTL are never evicted.
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let mut t = T::new();
        t.run(&["CONFIG", "SET", "maxmemory-policy", policy]);
        fill(&mut t, "keep", 2000, false);
        limit_above_now(&mut t, 1 << 20);
        fill(&mut t, "tmp", 20_000, true);
        let mut kept = 0;
        for i in 0..2000 {
            if t.run(&["EXISTS", &format!("keep{i}")]) == ":1\r\n" {
                kept += 1;
            }
        }
        assert_eq!(kept, 2000, "{policy} evicted a key without TTL");
        assert!(t.info("evicted_keys") > 1000, "{policy}");
        // Once only persistent keys remain, writes get the OOM error.
        t.run(&["CONFIG", "SET", "maxmemory", "1"]);
        let r = t.run(&["SET", "x", "y"]);
        assert_eq!(
            r,
            "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
        );
        assert_eq!(
            t.run(&["GET", "keep1"]).len(),
            VALUE.len() + 7,
            "reads still work"
        );
    }

    // volatile-ttl takes the nearest expiry first.
    {
        let mut t = T::new();
        t.run(&["CONFIG", "SET", "maxmemory-policy", "volatile-ttl"]);
        t.run(&["CONFIG", "SET", "maxmemory-samples", "10"]);
        fill(&mut t, "t", 5000, true);
        limit_above_now(&mut t, 0);
        t.run(&[
            "CONFIG",
            "SET",
            "maxmemory",
            &(redsim_core::alloc::used_bytes() - 200_000).to_string(),
        ]);
        t.run(&["PING"]);
        let evicted = t.info("evicted_keys");
        assert!(evicted > 100, "evicted {evicted}");
        // Sampling is approximate, as in Redis: the evicted keys are
        // overwhelmingly among the soonest-expiring ones.
        let gone_early = (0..evicted as usize)
            .filter(|i| t.run(&["EXISTS", &format!("t{i}")]) == ":0\r\n")
            .count();
        assert!(
            gone_early as i64 * 10 >= evicted * 7,
            "only {gone_early} of {evicted} evictions among the nearest expiries"
        );
    }

    // noeviction: deny-oom commands are refused, others run; MULTI rules.
    {
        let mut t = T::new();
        fill(&mut t, "n", 100, false);
        t.run(&["CONFIG", "SET", "maxmemory", "1"]);
        let oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
        assert_eq!(t.run(&["SET", "a", "b"]), oom);
        assert_eq!(t.run(&["GET", "n1"]).len(), VALUE.len() + 7);
        assert_eq!(t.run(&["DEL", "n1"]), ":1\r\n");
        assert_eq!(t.run(&["MULTI"]), "+OK\r\n");
        assert_eq!(t.run(&["GET", "n2"]), oom, "queuing is refused under OOM");
        assert_eq!(
            t.run(&["EXEC"]),
            "-EXECABORT Transaction discarded because of previous errors.\r\n"
        );
        assert_eq!(t.info("evicted_keys"), 0);
        t.run(&["CONFIG", "SET", "maxmemory", "0"]);
        assert_eq!(t.run(&["SET", "a", "b"]), "+OK\r\n");
    }
}
