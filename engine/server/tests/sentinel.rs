//! Sentinel end to end: real `redis-server` 7 processes (one master, two
//! replicas) watched by redsim sentinels (`redsim-server --sentinel`).
//! Kill the master, check the failover; check that a minority does not fail
//! over; check interop with a real Redis Sentinel; check redis-py's
//! Sentinel client. Every spawned process is killed by a Drop guard.
//! Real processes: not in the madsim flavour (its binary runs a simulation).
#![cfg(not(madsim))]
//! Skipped (with a message) when `redis-server` is not installed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redsim_core::sentinel::wire::{encode, parse, RVal};

mod common;

/// Kills every process it holds when dropped (also on panic).
#[derive(Default)]
struct Procs(Vec<(String, Child)>);

impl Procs {
    fn add(&mut self, name: &str, c: Child) {
        self.0.push((name.to_string(), c));
    }
    fn kill(&mut self, name: &str) {
        if let Some(i) = self.0.iter().position(|(n, _)| n == name) {
            let (_, mut c) = self.0.remove(i);
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn tmpdir(tag: &str) -> Dir {
    let p = std::env::temp_dir().join(format!(
        "redsim-sentinel-{tag}-{}-{}",
        std::process::id(),
        common::free_port()
    ));
    let _ = std::fs::create_dir_all(&p);
    Dir(p)
}

fn have_redis() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(port: u16) -> Option<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        Some(Conn { s, buf: Vec::new() })
    }
    fn read(&mut self) -> Option<RVal> {
        loop {
            if let Ok(Some((v, n))) = parse(&self.buf) {
                self.buf.drain(..n);
                return Some(v);
            }
            let mut chunk = [0u8; 16384];
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
    fn cmd(&mut self, args: &[&str]) -> Option<RVal> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.s.write_all(&encode(&a)).ok()?;
        self.read()
    }
}

/// One command on a fresh connection (None if the server is unreachable).
fn cmd(port: u16, args: &[&str]) -> Option<RVal> {
    Conn::open(port)?.cmd(args)
}

fn text(v: &RVal) -> String {
    v.text().unwrap_or_default()
}

/// A field/value array (SENTINEL MASTER) as pairs.
fn fields(v: &RVal) -> Vec<(String, String)> {
    match v {
        RVal::Array(a) => a
            .chunks(2)
            .map(|c| (text(&c[0]), c.get(1).map(text).unwrap_or_default()))
            .collect(),
        _ => Vec::new(),
    }
}

fn field(v: &RVal, name: &str) -> String {
    fields(v)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn info_field(port: u16, name: &str) -> String {
    let t = cmd(port, &["INFO", "replication"])
        .map(|v| text(&v))
        .unwrap_or_default();
    t.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or("")
        .trim()
        .to_string()
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if f() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {secs}s waiting for: {what}");
}

/// A data node: real `redis-server`, or (`redsim`) redsim's own server.
fn spawn_redis(
    procs: &mut Procs,
    name: &str,
    dir: &PathBuf,
    port: u16,
    master: Option<u16>,
    redsim: bool,
) {
    if redsim {
        let mut c = Command::new(env!("CARGO_BIN_EXE_redsim-server"));
        c.args([
            "--port",
            &port.to_string(),
            "--repl-diskless-sync-delay",
            "0",
        ])
        .arg("--logfile")
        .arg(dir.join(format!("redsim-{port}.log")));
        if let Some(m) = master {
            c.args(["--replicaof", "127.0.0.1", &m.to_string()]);
        }
        let child = c
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn redsim-server");
        procs.add(name, child);
        wait_until(&format!("redsim {port} up"), 10, || {
            cmd(port, &["PING"]).is_some()
        });
        return;
    }
    let mut c = Command::new("redis-server");
    c.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .args(["--repl-diskless-sync-delay", "0", "--dir"])
    .arg(dir)
    .args([
        "--dbfilename",
        &format!("dump-{port}.rdb"),
        "--logfile",
        &format!("redis-{port}.log"),
    ]);
    if let Some(m) = master {
        c.args(["--replicaof", "127.0.0.1", &m.to_string()]);
    }
    let child = c.stdout(Stdio::null()).spawn().expect("spawn redis-server");
    procs.add(name, child);
    wait_until(&format!("redis {port} up"), 10, || {
        cmd(port, &["PING"]).is_some()
    });
}

fn sentinel_conf(dir: &Path, port: u16, master: u16, quorum: u32) -> PathBuf {
    let p = dir.join(format!("sentinel-{port}.conf"));
    let text = format!(
        "port {port}\nbind 127.0.0.1\nlogfile \"{}\"\nsentinel monitor mymaster 127.0.0.1 {master} {quorum}\nsentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 10000\n",
        dir.join(format!("sentinel-{port}.log")).display()
    );
    std::fs::write(&p, text).expect("write sentinel.conf");
    p
}

fn spawn_sentinel(procs: &mut Procs, name: &str, conf: &PathBuf, port: u16, real: bool) {
    let child = if real {
        Command::new("redis-server")
            .arg(conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .spawn()
    } else {
        Command::new(env!("CARGO_BIN_EXE_redsim-server"))
            .arg(conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .spawn()
    }
    .expect("spawn sentinel");
    procs.add(name, child);
    wait_until(&format!("sentinel {port} up"), 10, || {
        cmd(port, &["PING"]).is_some()
    });
}

fn master_addr(sport: u16) -> Option<u16> {
    match cmd(sport, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"])? {
        RVal::Array(a) if a.len() == 2 => text(&a[1]).parse().ok(),
        _ => None,
    }
}

struct Cluster {
    procs: Procs,
    dir: Dir,
    master: u16,
    replicas: [u16; 2],
    sentinels: Vec<u16>,
    /// The data nodes are redsim servers (else real Redis).
    redsim_data: bool,
}

/// A master, two replicas (real Redis), and sentinels (`kinds[i]` true =
/// real Redis Sentinel, false = redsim).
fn cluster(tag: &str, kinds: &[bool], quorum: u32) -> Cluster {
    cluster_with(tag, kinds, quorum, false)
}

fn cluster_with(tag: &str, kinds: &[bool], quorum: u32, redsim_data: bool) -> Cluster {
    let dir = tmpdir(tag);
    let mut procs = Procs::default();
    let master = common::free_port();
    spawn_redis(&mut procs, "master", &dir.0, master, None, redsim_data);
    let replicas = [common::free_port(), common::free_port()];
    for (i, r) in replicas.iter().enumerate() {
        spawn_redis(
            &mut procs,
            &format!("replica{i}"),
            &dir.0,
            *r,
            Some(master),
            redsim_data,
        );
    }
    wait_until("both replicas attached", 15, || {
        info_field(master, "connected_slaves") == "2"
    });
    let mut sentinels = Vec::new();
    for (i, &real) in kinds.iter().enumerate() {
        let p = common::free_port();
        let conf = sentinel_conf(&dir.0, p, master, quorum);
        spawn_sentinel(&mut procs, &format!("sentinel{i}"), &conf, p, real);
        sentinels.push(p);
    }
    Cluster {
        procs,
        dir,
        master,
        replicas,
        sentinels,
        redsim_data,
    }
}

/// Every sentinel sees the master, both replicas and all other sentinels.
fn wait_discovery(c: &Cluster) -> Duration {
    let n = c.sentinels.len() - 1;
    wait_until("sentinels discover replicas and each other", 20, || {
        c.sentinels.iter().all(|&s| {
            let Some(m) = cmd(s, &["SENTINEL", "MASTER", "mymaster"]) else {
                return false;
            };
            field(&m, "num-slaves") == "2" && field(&m, "num-other-sentinels") == n.to_string()
        })
    })
}

fn python_master_for(sentinels: &[u16]) -> Option<u16> {
    let list: Vec<String> = sentinels
        .iter()
        .map(|p| format!("('127.0.0.1', {p})"))
        .collect();
    let script = format!(
        "from redis.sentinel import Sentinel\ns = Sentinel([{}], socket_timeout=2)\nm = s.master_for('mymaster', socket_timeout=2)\nm.set('pykey', 'v')\nprint(s.discover_master('mymaster')[1])\n",
        list.join(", ")
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn have_redis_py() -> bool {
    Command::new("python3")
        .args(["-c", "import redis"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Kill the master and check the whole failover; returns the new master.
fn kill_master_and_check(c: &mut Cluster, label: &str) -> u16 {
    let mut sub = Conn::open(c.sentinels[0]).expect("subscriber");
    let ack = sub
        .cmd(&["SUBSCRIBE", "+switch-master"])
        .expect("subscribe ack");
    assert_eq!(
        text(&match ack {
            RVal::Array(a) => a[0].clone(),
            other => other,
        }),
        "subscribe"
    );
    sub.s
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let old = c.master;
    c.procs.kill("master");
    let t = wait_until("every sentinel reports a new master", 30, || {
        c.sentinels
            .iter()
            .all(|&s| master_addr(s).is_some_and(|p| p != old))
    });
    let new = master_addr(c.sentinels[0]).expect("addr");
    println!(
        "failover [{label}]: all sentinels switched {:.1}s after SIGKILL (down-after 1000 ms)",
        t.as_secs_f64()
    );
    assert!(
        c.replicas.contains(&new),
        "promoted {new} is one of the replicas {:?}",
        c.replicas
    );
    for &s in &c.sentinels {
        assert_eq!(master_addr(s), Some(new), "sentinel {s} agrees");
    }
    // The subscriber saw +switch-master with Redis's text.
    let msg = sub.read().expect("+switch-master message");
    let RVal::Array(parts) = msg else {
        panic!("bad pubsub message {msg:?}")
    };
    assert_eq!(text(&parts[0]), "message");
    assert_eq!(text(&parts[1]), "+switch-master");
    assert_eq!(
        text(&parts[2]),
        format!("mymaster 127.0.0.1 {old} 127.0.0.1 {new}")
    );
    assert_eq!(info_field(new, "role"), "master");
    // The other replica follows the new master, and writes reach it.
    let other = *c
        .replicas
        .iter()
        .find(|&&r| r != new)
        .expect("other replica");
    wait_until("other replica replicates from the new master", 20, || {
        info_field(other, "master_port") == new.to_string()
            && info_field(other, "master_link_status") == "up"
    });
    assert_eq!(
        cmd(new, &["SET", "after-failover", "yes"]),
        Some(RVal::Status("OK".into()))
    );
    wait_until("write reaches the other replica", 10, || {
        cmd(other, &["GET", "after-failover"]) == Some(RVal::Bulk(b"yes".to_vec()))
    });
    new
}

#[test]
fn sentinel_failover_with_three_redsim_sentinels() {
    if !have_redis() {
        println!("SKIP: redis-server not installed");
        return;
    }
    let mut c = cluster("failover", &[false, false, false], 2);
    let t = wait_discovery(&c);
    println!("discovery: {:.1}s", t.as_secs_f64());
    for &s in &c.sentinels {
        let reps = cmd(s, &["SENTINEL", "REPLICAS", "mymaster"]).expect("replicas");
        let RVal::Array(reps) = reps else {
            panic!("replicas not an array")
        };
        let mut ports: Vec<String> = reps.iter().map(|r| field(r, "port")).collect();
        ports.sort();
        let mut want: Vec<String> = c.replicas.iter().map(|p| p.to_string()).collect();
        want.sort();
        assert_eq!(ports, want);
        for r in &reps {
            assert_eq!(field(r, "flags"), "slave");
            assert_eq!(field(r, "master-link-status"), "ok");
            assert_eq!(field(r, "master-port"), c.master.to_string());
        }
        let sens = cmd(s, &["SENTINEL", "SENTINELS", "mymaster"]).expect("sentinels");
        let RVal::Array(sens) = sens else { panic!() };
        assert_eq!(sens.len(), 2);
        let masters = cmd(s, &["SENTINEL", "MASTERS"]).expect("masters");
        let RVal::Array(ms) = masters else { panic!() };
        assert_eq!(field(&ms[0], "flags"), "master");
        assert_eq!(field(&ms[0], "quorum"), "2");
        assert_eq!(
            cmd(s, &["SENTINEL", "CKQUORUM", "mymaster"]),
            Some(RVal::Status(
                "OK 3 usable Sentinels. Quorum and failover authorization can be reached".into()
            ))
        );
        assert_eq!(master_addr(s), Some(c.master));
    }
    let py = have_redis_py();
    if py {
        assert_eq!(
            python_master_for(&c.sentinels),
            Some(c.master),
            "redis-py before failover"
        );
    } else {
        println!("SKIP (redis-py part): python3 module 'redis' not available");
    }
    let new = kill_master_and_check(&mut c, "3 redsim");
    if py {
        assert_eq!(
            python_master_for(&c.sentinels),
            Some(new),
            "redis-py after failover"
        );
    }
    // Each sentinel rewrote its config with the new master and epoch (the
    // leader does so when the failover ends, after the replica resynced).
    for &s in &c.sentinels {
        let path = c.dir.0.join(format!("sentinel-{s}.conf"));
        let good = |conf: &str| {
            conf.contains(&format!("sentinel monitor mymaster 127.0.0.1 {new} 2"))
                && (conf.contains("sentinel current-epoch 1")
                    || conf.contains("sentinel current-epoch 2"))
                && conf.contains(&format!(
                    "sentinel known-replica mymaster 127.0.0.1 {}",
                    c.master
                ))
                && !conf.contains(&format!(
                    "sentinel known-replica mymaster 127.0.0.1 {new}\n"
                ))
        };
        let ok = (0..100).any(|_| {
            let conf = std::fs::read_to_string(&path).unwrap_or_default();
            good(&conf) || {
                std::thread::sleep(Duration::from_millis(100));
                false
            }
        });
        assert!(ok, "{}", std::fs::read_to_string(&path).unwrap_or_default());
    }
    // The old master comes back as a master: it is converted to a replica.
    let old = c.master;
    let redsim = c.redsim_data;
    spawn_redis(
        &mut c.procs,
        "old-master",
        &c.dir.0.clone(),
        old,
        None,
        redsim,
    );
    let t = wait_until(
        "old master converted to a replica of the new one",
        40,
        || info_field(old, "role") == "slave" && info_field(old, "master_port") == new.to_string(),
    );
    println!(
        "old master reconfigured {:.1}s after restart",
        t.as_secs_f64()
    );
}

#[test]
fn sentinel_minority_does_not_fail_over() {
    if !have_redis() {
        println!("SKIP: redis-server not installed");
        return;
    }
    // Quorum 2 but only one sentinel: SDOWN, never ODOWN, no failover.
    let mut c = cluster("minority", &[false], 2);
    wait_discovery(&c);
    let s = c.sentinels[0];
    let myid = cmd(s, &["SENTINEL", "MYID"])
        .map(|v| text(&v))
        .expect("myid");
    assert_eq!(myid.len(), 40);
    c.procs.kill("master");
    wait_until("sentinel sees the master subjectively down", 10, || {
        cmd(s, &["SENTINEL", "MASTER", "mymaster"])
            .is_some_and(|m| field(&m, "flags").contains("s_down"))
    });
    std::thread::sleep(Duration::from_secs(5));
    let m = cmd(s, &["SENTINEL", "MASTER", "mymaster"]).expect("master");
    let flags = field(&m, "flags");
    assert!(
        flags.contains("s_down") && !flags.contains("o_down"),
        "flags {flags}"
    );
    assert_eq!(master_addr(s), Some(c.master), "no failover without quorum");
    for r in c.replicas {
        assert_eq!(
            info_field(r, "role"),
            "slave",
            "replica {r} was not promoted"
        );
    }
    assert!(matches!(
        cmd(s, &["SENTINEL", "CKQUORUM", "mymaster"]),
        Some(RVal::Error(e)) if e.starts_with("NOQUORUM 1 usable Sentinels")
    ));
    // A restarted sentinel keeps its id and what it learnt (config rewrite).
    c.procs.kill("sentinel0");
    let conf = c.dir.0.join(format!("sentinel-{s}.conf"));
    spawn_sentinel(&mut c.procs, "sentinel0-again", &conf, s, false);
    assert_eq!(cmd(s, &["SENTINEL", "MYID"]).map(|v| text(&v)), Some(myid));
    let m = cmd(s, &["SENTINEL", "MASTER", "mymaster"]).expect("master");
    assert_eq!(
        field(&m, "num-slaves"),
        "2",
        "known replicas restored from the config"
    );
}

#[test]
fn sentinel_interop_with_real_redis_sentinel() {
    if !have_redis() {
        println!("SKIP: redis-server not installed");
        return;
    }
    // One real Redis Sentinel and two redsim ones: they discover each
    // other through hello messages, vote with each other, fail over.
    let mut c = cluster("interop", &[true, false, false], 2);
    wait_discovery(&c);
    let new = kill_master_and_check(&mut c, "1 real + 2 redsim");
    assert_ne!(new, c.master);
}

#[test]
fn sentinel_commands_and_errors() {
    if !have_redis() {
        println!("SKIP: redis-server not installed");
        return;
    }
    let c = cluster("commands", &[false], 1);
    let s = c.sentinels[0];
    wait_discovery(&c);
    assert_eq!(cmd(s, &["PING"]), Some(RVal::Status("PONG".into())));
    let role = cmd(s, &["ROLE"]).expect("role");
    assert_eq!(
        role,
        RVal::Array(vec![
            RVal::Bulk(b"sentinel".to_vec()),
            RVal::Array(vec![RVal::Bulk(b"mymaster".to_vec())])
        ])
    );
    let info = cmd(s, &["INFO"]).map(|v| text(&v)).expect("info");
    assert!(info.contains("redis_mode:sentinel"), "{info}");
    assert!(
        info.contains("sentinel_masters:1\r\nsentinel_tilt:0\r\n"),
        "{info}"
    );
    assert!(
        info.contains(&format!(
            "master0:name=mymaster,status=ok,address=127.0.0.1:{},slaves=2,sentinels=1",
            c.master
        )),
        "{info}"
    );
    assert_eq!(
        cmd(s, &["SENTINEL", "MASTER", "nosuch"]),
        Some(RVal::Error("ERR No such master with that name".into()))
    );
    assert_eq!(
        cmd(s, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nosuch"]),
        Some(RVal::Nil)
    );
    assert_eq!(
        cmd(s, &["SENTINEL", "FOO"]),
        Some(RVal::Error(
            "ERR unknown subcommand 'FOO'. Try SENTINEL HELP.".into()
        ))
    );
    assert_eq!(
        cmd(s, &["GET", "x"]),
        Some(RVal::Error(
            "ERR unknown command 'GET', with args beginning with: 'x' ".into()
        ))
    );
    assert_eq!(
        cmd(
            s,
            &["SENTINEL", "MONITOR", "mymaster", "127.0.0.1", "1", "2"]
        ),
        Some(RVal::Error("ERR Duplicate master name.".into()))
    );
    assert_eq!(
        cmd(s, &["SENTINEL", "SET", "mymaster", "quorum", "0"]),
        Some(RVal::Error(
            "ERR Invalid argument '0' for SENTINEL SET 'quorum'".into()
        ))
    );
    assert_eq!(
        cmd(
            s,
            &[
                "SENTINEL",
                "SET",
                "mymaster",
                "down-after-milliseconds",
                "1500"
            ]
        ),
        Some(RVal::Status("OK".into()))
    );
    let m = cmd(s, &["SENTINEL", "MASTER", "mymaster"]).expect("master");
    assert_eq!(field(&m, "down-after-milliseconds"), "1500");
    let conf = std::fs::read_to_string(c.dir.0.join(format!("sentinel-{s}.conf"))).expect("conf");
    assert!(
        conf.contains("sentinel down-after-milliseconds mymaster 1500"),
        "{conf}"
    );
    // A second master, then remove it.
    assert_eq!(
        cmd(s, &["SENTINEL", "MONITOR", "other", "127.0.0.1", "1", "1"]),
        Some(RVal::Status("OK".into()))
    );
    assert_eq!(
        cmd(s, &["SENTINEL", "REMOVE", "other"]),
        Some(RVal::Status("OK".into()))
    );
    // is-master-down-by-addr: the master is up; a vote request gets our vote.
    let r = cmd(
        s,
        &[
            "SENTINEL",
            "IS-MASTER-DOWN-BY-ADDR",
            "127.0.0.1",
            &c.master.to_string(),
            "5",
            "abcd",
        ],
    );
    assert_eq!(
        r,
        Some(RVal::Array(vec![
            RVal::Int(0),
            RVal::Bulk(b"abcd".to_vec()),
            RVal::Int(5)
        ]))
    );
    // Same epoch, another candidate: the vote stays.
    let r = cmd(
        s,
        &[
            "SENTINEL",
            "IS-MASTER-DOWN-BY-ADDR",
            "127.0.0.1",
            &c.master.to_string(),
            "5",
            "efgh",
        ],
    );
    assert_eq!(
        r,
        Some(RVal::Array(vec![
            RVal::Int(0),
            RVal::Bulk(b"abcd".to_vec()),
            RVal::Int(5)
        ]))
    );
    // Forced failover (no agreement needed). On a loaded machine a stall
    // can make the lone sentinel (quorum 1) start one by itself first:
    // INPROG is then the right answer.
    let mut last = None;
    wait_until("SENTINEL FAILOVER accepted", 10, || {
        last = cmd(s, &["SENTINEL", "FAILOVER", "mymaster"]);
        match &last {
            Some(RVal::Status(ok)) => ok == "OK",
            Some(RVal::Error(e)) if e.starts_with("INPROG") => {
                println!("note: a failover was already in progress");
                true
            }
            other => {
                println!("SENTINEL FAILOVER answered {other:?}, retrying");
                false
            }
        }
    });
    wait_until("forced failover switches the master", 20, || {
        master_addr(s).is_some_and(|p| p != c.master)
    });
    let _ = c.procs.0.len();
}

#[test]
fn same_checks_pass_against_real_redis_sentinels() {
    // The reference: three real Redis Sentinels under the very same checks
    // (so the expectations above are Redis's behaviour, not ours), and the
    // failover time to compare with.
    if !have_redis() {
        println!("SKIP: redis-server not installed");
        return;
    }
    let mut c = cluster("reference", &[true, true, true], 2);
    wait_discovery(&c);
    let new = kill_master_and_check(&mut c, "3 real Redis");
    assert_ne!(new, c.master);
}

#[test]
fn sentinel_failover_of_redsim_replication() {
    // redsim all the way: redsim master and replicas (redsim's own
    // REPLICAOF/PSYNC/INFO replication) watched by three redsim sentinels.
    if !have_redis() {
        println!("SKIP: redis-server not installed");
        return;
    }
    let mut c = cluster_with("redsim-data", &[false, false, false], 2, true);
    wait_discovery(&c);
    assert_eq!(
        cmd(c.master, &["SET", "before", "1"]),
        Some(RVal::Status("OK".into()))
    );
    let new = kill_master_and_check(&mut c, "redsim data nodes");
    // What the old master had replicated survived on the new one.
    wait_until("replicated key on the new master", 5, || {
        cmd(new, &["GET", "before"]) == Some(RVal::Bulk(b"1".to_vec()))
    });
    let old = c.master;
    spawn_redis(
        &mut c.procs,
        "old-master",
        &c.dir.0.clone(),
        old,
        None,
        true,
    );
    let t = wait_until("old redsim master converted to a replica", 40, || {
        info_field(old, "role") == "slave" && info_field(old, "master_port") == new.to_string()
    });
    println!(
        "old redsim master reconfigured {:.1}s after restart",
        t.as_secs_f64()
    );
    wait_until("old master resynced the new data", 10, || {
        cmd(old, &["GET", "after-failover"]) == Some(RVal::Bulk(b"yes".to_vec()))
    });
}
