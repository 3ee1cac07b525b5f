//! MEMORY USAGE / STATS / DOCTOR and INFO memory at the engine level, on a
//! `TestServer` (no counting allocator: `used_memory` is the engine's
//! estimate, which is deterministic, so INFO and MEMORY STATS can be compared
//! figure by figure). Field and key NAMES (not values) were read from Redis
//! 7.0.15's `INFO memory` and `MEMORY STATS`.

use redsim_core::alloc::charged;
use redsim_core::db::table::ENTRY_BYTES;
use redsim_core::db::Value;
use redsim_core::server::TestServer;

/// INFO memory field names of Redis 7.0.15, in its order.
const INFO_MEMORY_FIELDS: &[&str] = &[
    "used_memory",
    "used_memory_human",
    "used_memory_rss",
    "used_memory_rss_human",
    "used_memory_peak",
    "used_memory_peak_human",
    "used_memory_peak_perc",
    "used_memory_overhead",
    "used_memory_startup",
    "used_memory_dataset",
    "used_memory_dataset_perc",
    "allocator_allocated",
    "allocator_active",
    "allocator_resident",
    "total_system_memory",
    "total_system_memory_human",
    "used_memory_lua",
    "used_memory_vm_eval",
    "used_memory_lua_human",
    "used_memory_scripts_eval",
    "number_of_cached_scripts",
    "number_of_functions",
    "number_of_libraries",
    "used_memory_vm_functions",
    "used_memory_vm_total",
    "used_memory_vm_total_human",
    "used_memory_functions",
    "used_memory_scripts",
    "used_memory_scripts_human",
    "maxmemory",
    "maxmemory_human",
    "maxmemory_policy",
    "allocator_frag_ratio",
    "allocator_frag_bytes",
    "allocator_rss_ratio",
    "allocator_rss_bytes",
    "rss_overhead_ratio",
    "rss_overhead_bytes",
    "mem_fragmentation_ratio",
    "mem_fragmentation_bytes",
    "mem_not_counted_for_evict",
    "mem_replication_backlog",
    "mem_total_replication_buffers",
    "mem_clients_slaves",
    "mem_clients_normal",
    "mem_cluster_links",
    "mem_aof_buffer",
    "mem_allocator",
    "active_defrag_running",
    "lazyfree_pending_objects",
    "lazyfreed_objects",
];

/// MEMORY STATS keys of Redis 7.0.15 with keys in db 0, in its order
/// (the db.0 map's own keys follow it, as `db.0/...`).
const STATS_KEYS_DB0: &[&str] = &[
    "peak.allocated",
    "total.allocated",
    "startup.allocated",
    "replication.backlog",
    "clients.slaves",
    "clients.normal",
    "cluster.links",
    "aof.buffer",
    "lua.caches",
    "functions.caches",
    "db.0",
    "db.0/overhead.hashtable.main",
    "db.0/overhead.hashtable.expires",
    "db.0/overhead.hashtable.slot-to-keys",
    "overhead.total",
    "keys.count",
    "keys.bytes-per-key",
    "dataset.bytes",
    "dataset.percentage",
    "peak.percentage",
    "allocator.allocated",
    "allocator.active",
    "allocator.resident",
    "allocator-fragmentation.ratio",
    "allocator-fragmentation.bytes",
    "allocator-rss.ratio",
    "allocator-rss.bytes",
    "rss-overhead.ratio",
    "rss-overhead.bytes",
    "fragmentation",
    "fragmentation.bytes",
];

/// A parsed RESP2 reply (the subset these commands answer with).
#[derive(Debug, Clone, PartialEq)]
enum R {
    Int(i64),
    Bulk(String),
    Nil,
    Arr(Vec<R>),
    Err(String),
    Simple(String),
}

fn parse(s: &str) -> R {
    fn one(b: &[u8], pos: &mut usize) -> R {
        let end = *pos
            + b[*pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("CRLF");
        let line = std::str::from_utf8(&b[*pos + 1..end]).expect("utf8");
        let t = b[*pos];
        *pos = end + 2;
        match t {
            b':' => R::Int(line.parse().expect("int")),
            b'+' => R::Simple(line.into()),
            b'-' => R::Err(line.into()),
            b'$' => {
                let n: i64 = line.parse().expect("len");
                if n < 0 {
                    return R::Nil;
                }
                let n = n as usize;
                let v = String::from_utf8_lossy(&b[*pos..*pos + n]).into_owned();
                *pos += n + 2;
                R::Bulk(v)
            }
            b'*' => {
                let n: usize = line.parse().expect("len");
                R::Arr((0..n).map(|_| one(b, pos)).collect())
            }
            _ => panic!("unexpected reply type in {s:?}", s = line),
        }
    }
    let mut pos = 0;
    let r = one(s.as_bytes(), &mut pos);
    assert_eq!(pos, s.len(), "trailing bytes in {s:?}");
    r
}

fn int(t: &mut TestServer, argv: &[&str]) -> i64 {
    match parse(&t.run(argv)) {
        R::Int(n) => n,
        other => panic!("{argv:?}: expected an integer, got {other:?}"),
    }
}

fn usage(t: &mut TestServer, key: &str, samples: Option<&str>) -> i64 {
    match samples {
        Some(n) => int(t, &["MEMORY", "USAGE", key, "SAMPLES", n]),
        None => int(t, &["MEMORY", "USAGE", key]),
    }
}

/// ENTRY_BYTES + key + `Value::heap_bytes()`, read from the keyspace directly.
fn true_cost(t: &TestServer, key: &str) -> i64 {
    let table = &t.srv.ks.dbs[0].table;
    let i = table.find(key.as_bytes()).expect("key exists");
    (ENTRY_BYTES + key.len() + table.entry(i).val.heap_bytes()) as i64
}

fn value<'a>(t: &'a TestServer, key: &str) -> &'a Value {
    let table = &t.srv.ks.dbs[0].table;
    let i = table.find(key.as_bytes()).expect("key exists");
    &table.entry(i).val
}

/// `name -> value` of INFO memory, in order.
fn info_memory(t: &mut TestServer) -> Vec<(String, String)> {
    let R::Bulk(text) = parse(&t.run(&["INFO", "memory"])) else {
        panic!("INFO is a bulk string in RESP2");
    };
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once(':').expect("name:value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn info_u64(info: &[(String, String)], name: &str) -> u64 {
    info.iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

/// MEMORY STATS as ordered (name, value) pairs; a db.N map's entries follow
/// it as `db.N/inner`.
fn memory_stats(t: &mut TestServer) -> Vec<(String, R)> {
    fn pairs(r: R) -> Vec<(String, R)> {
        let R::Arr(items) = r else {
            panic!("a map is a flat array in RESP2: {r:?}");
        };
        assert!(items.len() % 2 == 0);
        items
            .chunks(2)
            .map(|p| match &p[0] {
                R::Bulk(k) => (k.clone(), p[1].clone()),
                other => panic!("map key {other:?}"),
            })
            .collect()
    }
    let mut out = Vec::new();
    for (k, v) in pairs(parse(&t.run(&["MEMORY", "STATS"]))) {
        if k.starts_with("db.") {
            out.push((k.clone(), R::Nil));
            for (inner, iv) in pairs(v) {
                out.push((format!("{k}/{inner}"), iv));
            }
        } else {
            out.push((k, v));
        }
    }
    out
}

fn stat_int(stats: &[(String, R)], name: &str) -> i64 {
    match stats.iter().find(|(k, _)| k == name) {
        Some((_, R::Int(n))) => *n,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn usage_of_missing_key_is_nil_and_options_are_checked_first() {
    let mut t = TestServer::new();
    assert_eq!(t.run(&["MEMORY", "USAGE", "nokey"]), "$-1\r\n");
    assert_eq!(
        t.run(&["MEMORY", "USAGE", "nokey", "SAMPLES", "-1"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        t.run(&["MEMORY", "USAGE", "nokey", "SAMPLES", "x"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        t.run(&["MEMORY", "USAGE", "nokey", "SAMPLES"]),
        "-ERR syntax error\r\n"
    );
}

#[test]
fn usage_grows_with_value_size_and_element_count() {
    let mut t = TestServer::new();
    t.run(&["SET", "s", "x"]);
    let small = usage(&mut t, "s", None);
    t.run(&["SET", "s", &"x".repeat(1000)]);
    let big = usage(&mut t, "s", None);
    assert!(big >= small + 999, "{small} -> {big}");
    assert_eq!(big, true_cost(&t, "s"));
    // A longer key costs its extra bytes.
    t.run(&["SET", "a-much-longer-key-name", &"x".repeat(1000)]);
    assert_eq!(
        usage(&mut t, "a-much-longer-key-name", None) - big,
        ("a-much-longer-key-name".len() - 1) as i64
    );

    for (kind, add) in [
        ("list", "RPUSH"),
        ("set", "SADD"),
        ("zset", "ZADD"),
        ("hash", "HSET"),
    ] {
        let mut last = 0;
        for n in [1usize, 10, 100, 1000] {
            t.run(&["DEL", kind]);
            for i in 0..n {
                let member = format!("member-{i:06}-of-{kind}");
                match add {
                    "ZADD" => t.run(&[add, kind, &i.to_string(), &member]),
                    "HSET" => t.run(&[add, kind, &member, "value"]),
                    _ => t.run(&[add, kind, &member]),
                };
            }
            let u = usage(&mut t, kind, Some("0"));
            assert!(u > last, "{kind}: {n} elements use {u}, fewer used {last}");
            assert_eq!(u, true_cost(&t, kind), "{kind} with {n} elements");
            last = u;
        }
    }
}

#[test]
fn samples_estimate_from_the_first_elements_and_zero_means_exact() {
    let mut t = TestServer::new();
    // 5 one-byte elements first, then 200 of 100 bytes: the default sample
    // (the first 5) sees only the small ones.
    for i in 0..5 {
        t.run(&["RPUSH", "l", &i.to_string()]);
    }
    for _ in 0..200 {
        t.run(&["RPUSH", "l", &"y".repeat(100)]);
    }
    let sampled = usage(&mut t, "l", None);
    let exact = usage(&mut t, "l", Some("0"));
    let Value::List(l) = value(&t, "l") else {
        panic!("a list")
    };
    // Independently: the list's structure (box, ring of element pointers)
    // plus every element's own allocation as glibc charges it. 205 elements
    // are past the packed form's limits, so each element is allocated.
    assert!(!l.is_packed());
    let (c1, c100) = (charged(1), charged(100));
    let elems: usize = l.element_bytes().sum();
    assert_eq!(elems, 5 * c1 + 200 * c100);
    let base = (ENTRY_BYTES + 1 + l.structure_bytes()) as i64;
    assert_eq!(exact, base + elems as i64);
    assert_eq!(exact, true_cost(&t, "l"));
    // Sampled: the first 5 elements average one 1-byte chunk, times 205.
    assert_eq!(sampled, base + (205 * c1) as i64);
    // Sampling more than there are elements is exact too.
    assert_eq!(usage(&mut t, "l", Some("1000")), exact);
    // SAMPLES 6 sees one big element: (5 * c1 + c100) / 6 * 205.
    assert_eq!(
        usage(&mut t, "l", Some("6")),
        base + ((5 * c1 + c100) as f64 / 6.0 * 205.0) as i64
    );

    // Other collections (hashtable encodings, uneven members): exact equals
    // the true cost and the default sample differs from it.
    for i in 0..300 {
        let m = if i < 5 {
            i.to_string()
        } else {
            format!("{i}{}", "z".repeat(i % 97 + 30))
        };
        t.run(&["SADD", "set", &m]);
        t.run(&["HSET", "hash", &m, &m]);
        t.run(&["ZADD", "zset", &i.to_string(), &m]);
    }
    for k in ["set", "hash", "zset"] {
        let exact = usage(&mut t, k, Some("0"));
        assert_eq!(exact, true_cost(&t, k), "{k}");
        assert_ne!(usage(&mut t, k, None), exact, "{k}");
    }
    assert_eq!(value(&t, "set").encoding(), "hashtable");
    assert_eq!(value(&t, "hash").encoding(), "hashtable");
    assert_eq!(value(&t, "zset").encoding(), "skiplist");
}

#[test]
fn stream_usage_samples_nodes() {
    let mut t = TestServer::new();
    // The first node fills with 100 small entries (stream-node-max-entries),
    // later nodes with large ones (cut by stream-node-max-bytes).
    for i in 1..=350 {
        let v = if i <= 100 {
            "s".to_string()
        } else {
            "L".repeat(200)
        };
        t.run(&["XADD", "st", &format!("{i}-1"), "f", &v]);
    }
    let Value::Stream(x) = value(&t, "st") else {
        panic!("a stream")
    };
    let n = x.node_count();
    assert!(n > 3, "{n} nodes");
    let nodes: Vec<usize> = x.node_bytes().collect();
    assert_eq!(nodes.len(), n);
    let structure = x.structure_bytes();
    let exact = usage(&mut t, "st", Some("0"));
    assert_eq!(exact, true_cost(&t, "st"));
    assert_eq!(
        exact,
        (ENTRY_BYTES + 2 + structure + nodes.iter().sum::<usize>()) as i64
    );
    // Redis's estimate: the average of the sampled nodes (integer division)
    // for all but the last node, plus the last node's real size.
    let avg = (nodes[0] + nodes[1]) / 2;
    assert_eq!(
        usage(&mut t, "st", Some("2")),
        (ENTRY_BYTES + 2 + structure + avg * (n - 1) + nodes[n - 1]) as i64
    );
    assert_ne!(usage(&mut t, "st", Some("2")), exact);
}

#[test]
fn heap_bytes_split_into_structure_and_elements() {
    let mut t = TestServer::new();
    let setups: &[&[&str]] = &[
        &["RPUSH", "list", "a", "bb", "ccc"],
        &["HSET", "lphash", "f", "v", "ff", "vv"],
        &["SADD", "intset", "1", "2", "300"],
        &[
            "SADD",
            "tset",
            "short",
            "a-member-longer-than-22-bytes-lives-on-heap",
        ],
        &["ZADD", "lpz", "1", "a", "2", "bb"],
        &["XADD", "st", "1-1", "f", "v"],
    ];
    for s in setups {
        t.run(s);
    }
    for i in 0..200 {
        let m = format!("m{i}");
        t.run(&["HSET", "thash", &m, "v"]);
        t.run(&["ZADD", "slz", &i.to_string(), &m]);
    }
    t.run(&["XGROUP", "CREATE", "st", "g", "0"]);
    for k in [
        "list", "lphash", "thash", "intset", "tset", "lpz", "slz", "st",
    ] {
        let v = value(&t, k);
        let (structure, elems) = match v {
            Value::List(l) => (l.structure_bytes(), l.element_bytes().sum::<usize>()),
            Value::Hash(h) => (h.structure_bytes(), h.element_bytes().sum()),
            Value::Set(s) => (s.structure_bytes(), s.element_bytes().sum()),
            Value::ZSet(z) => (z.structure_bytes(), z.element_bytes().sum()),
            Value::Stream(x) => (x.structure_bytes(), x.node_bytes().sum()),
            other => panic!("{other:?}"),
        };
        assert_eq!(structure + elems, v.heap_bytes(), "{k} ({})", v.encoding());
    }
}

#[test]
fn info_memory_fields_in_redis_order_and_consistent() {
    let mut t = TestServer::new();
    let info = info_memory(&mut t);
    let names: Vec<&str> = info.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, INFO_MEMORY_FIELDS);
    let startup = info_u64(&info, "used_memory_startup");
    assert!(startup > 0);

    for i in 0..500 {
        t.run(&["SET", &format!("key:{i}"), &"v".repeat(100)]);
    }
    t.run(&["SET", "ttl", "v", "EX", "100"]);
    let info = info_memory(&mut t);
    let used = info_u64(&info, "used_memory");
    let overhead = info_u64(&info, "used_memory_overhead");
    let dataset = info_u64(&info, "used_memory_dataset");
    assert!(overhead <= used, "overhead {overhead} > used {used}");
    assert_eq!(dataset + overhead, used);
    // The 500 values alone are 50 000 bytes of dataset; the table's slots
    // are overhead beyond startup.
    assert!(dataset >= 500 * 100, "{dataset}");
    assert!(overhead >= startup + 501 * ENTRY_BYTES as u64);
    assert_eq!(info_u64(&info, "used_memory_startup"), startup);
    assert!(info_u64(&info, "used_memory_peak") >= used);

    // MEMORY STATS shows the same figures (one computation for both).
    let stats = memory_stats(&mut t);
    assert_eq!(stat_int(&stats, "total.allocated") as u64, used);
    assert_eq!(stat_int(&stats, "overhead.total") as u64, overhead);
    assert_eq!(stat_int(&stats, "dataset.bytes") as u64, dataset);
    assert_eq!(stat_int(&stats, "startup.allocated") as u64, startup);
    assert_eq!(stat_int(&stats, "keys.count"), 501);
    assert_eq!(
        stat_int(&stats, "keys.bytes-per-key") as u64,
        (used - startup) / 501
    );
    assert_eq!(
        startup as i64
            + stat_int(&stats, "clients.normal")
            + stat_int(&stats, "db.0/overhead.hashtable.main")
            + stat_int(&stats, "db.0/overhead.hashtable.expires"),
        overhead as i64
    );
    assert!(stat_int(&stats, "db.0/overhead.hashtable.expires") > 0);

    // Startup memory survives CONFIG RESETSTAT.
    t.run(&["CONFIG", "RESETSTAT"]);
    assert_eq!(
        info_u64(&info_memory(&mut t), "used_memory_startup"),
        startup
    );
}

#[test]
fn memory_stats_keys_in_redis_order() {
    let mut t = TestServer::new();
    // Empty: no db.N entries.
    let names: Vec<String> = memory_stats(&mut t).into_iter().map(|(k, _)| k).collect();
    let without_db: Vec<&str> = STATS_KEYS_DB0
        .iter()
        .copied()
        .filter(|k| !k.starts_with("db."))
        .collect();
    assert_eq!(names, without_db);
    t.run(&["SET", "k", "v"]);
    let names: Vec<String> = memory_stats(&mut t).into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, STATS_KEYS_DB0);
    // A key in another database adds its own entry, in database order.
    t.run(&["SELECT", "5"]);
    t.run(&["SET", "k", "v"]);
    let names: Vec<String> = memory_stats(&mut t).into_iter().map(|(k, _)| k).collect();
    let at = names.iter().position(|k| k == "db.5").expect("db.5");
    assert_eq!(names[at - 1], "db.0/overhead.hashtable.slot-to-keys");
    assert_eq!(names[at + 4], "overhead.total");
    // RESP3: a map of 27 + 2 databases.
    t.run(&["HELLO", "3"]);
    assert!(t.run(&["MEMORY", "STATS"]).starts_with("%29\r\n"));
}

#[test]
fn doctor_reports_empty_healthy_and_peak() {
    let mut t = TestServer::new();
    let empty = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n";
    assert_eq!(parse(&t.run(&["MEMORY", "DOCTOR"])), R::Bulk(empty.into()));
    // Over 5 MB used (the estimate counts the value's bytes): no issue.
    t.run(&["SET", "big", &"x".repeat(6 << 20)]);
    assert_eq!(
        parse(&t.run(&["MEMORY", "DOCTOR"])),
        R::Bulk("Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into())
    );
    // A recorded peak over 150% of the current use is reported.
    let used = info_u64(&info_memory(&mut t), "used_memory");
    t.srv.stats.peak_memory = used * 2;
    let R::Bulk(report) = parse(&t.run(&["MEMORY", "DOCTOR"])) else {
        panic!("bulk")
    };
    assert!(report.starts_with(
        "Sam, I detected a few issues in this Redis instance memory implants:\n\n * Peak memory:"
    ));
    assert!(report.ends_with("I'm here to keep you safe, Sam. I want to help you.\n"));
    // RESP3: a verbatim string.
    t.run(&["HELLO", "3"]);
    assert!(t.run(&["MEMORY", "DOCTOR"]).starts_with('='));
}

#[test]
fn malloc_stats_purge_and_help() {
    let mut t = TestServer::new();
    assert_eq!(
        t.run(&["MEMORY", "MALLOC-STATS"]),
        "$45\r\nStats not supported for the current allocator\r\n"
    );
    assert_eq!(t.run(&["MEMORY", "PURGE"]), "+OK\r\n");
    let R::Arr(help) = parse(&t.run(&["MEMORY", "HELP"])) else {
        panic!("array")
    };
    assert_eq!(help.len(), 14);
    assert_eq!(
        help[0],
        R::Simple("MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into())
    );
}
