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

    // Evictions reach the AOF/replica stream as DEL (UNLINK when
    // lazyfree-lazy-eviction is on), one per evicted key, and only evicted
    // keys: Redis's propagateDeletion.
    for (lazy, cmd) in [("no", "DEL"), ("yes", "UNLINK")] {
        let mut t = T::new();
        t.run(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
        t.run(&["CONFIG", "SET", "lazyfree-lazy-eviction", lazy]);
        t.srv.set_propagation(true);
        limit_above_now(&mut t, 1 << 20);
        for i in 0..20_000 {
            t.run(&["SET", &format!("p{i}"), VALUE]);
        }
        let fx = t.srv.take_effects();
        let evicted = t.info("evicted_keys");
        assert!(evicted > 1000, "evicted {evicted}");
        let dels: Vec<_> = fx
            .propagate
            .iter()
            .filter(|p| p.argv[0] == cmd.as_bytes())
            .collect();
        assert_eq!(dels.len() as i64, evicted, "one {cmd} per evicted key");
        for p in dels.iter().take(500) {
            let k = String::from_utf8_lossy(&p.argv[1]).into_owned();
            assert_eq!(p.db, 0);
            assert_eq!(
                t.run(&["EXISTS", &k]),
                ":0\r\n",
                "{k} propagated but present"
            );
        }
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

    // LFU: the logarithmic counter grows as Redis's lfu-log-factor table
    // says (factor 10: ~18 after 1000 hits; factor 0: saturates at 255) and
    // decays by one per lfu-decay-time minutes of idleness.
    {
        let mut t = T::new();
        t.run(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
        let freq = |t: &mut T, k: &str| -> i64 {
            let r = t.run(&["OBJECT", "FREQ", k]);
            r.trim_start_matches(':').trim().parse().unwrap_or(-1)
        };
        t.run(&["SET", "f10", "v"]);
        assert_eq!(freq(&mut t, "f10"), 5, "LFU_INIT_VAL");
        for _ in 0..1000 {
            t.run(&["GET", "f10"]);
        }
        let f = freq(&mut t, "f10");
        assert!((14..=24).contains(&f), "factor 10, 1000 hits: {f}");
        t.now += 10 * 60_000;
        assert_eq!(freq(&mut t, "f10"), f - 10, "decay of 1 per minute");
        t.run(&["CONFIG", "SET", "lfu-decay-time", "0"]);
        t.now += 60 * 60_000;
        // OBJECT FREQ does not store the decayed value (as in Redis): with
        // decay off, the stored counter shows again.
        assert_eq!(freq(&mut t, "f10"), f, "decay-time 0 never decays");
        t.run(&["CONFIG", "SET", "lfu-log-factor", "0"]);
        t.run(&["SET", "f0", "v"]);
        for _ in 0..1000 {
            t.run(&["GET", "f0"]);
        }
        assert_eq!(freq(&mut t, "f0"), 255, "factor 0 saturates");
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
