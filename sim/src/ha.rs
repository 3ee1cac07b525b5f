//! The Sentinel runner (madsim only): Redis's high-availability deployment
//! under faults, and exactly what it loses.
//!
//! Nodes: `1 + replicas` in-memory data nodes (node-0 starts as the master,
//! the others replicate it; every node runs with `min-replicas-to-write 1`
//! and `min-replicas-max-lag` [`MAX_LAG_S`], the setting Redis documents
//! against split-brain loss), `sentinels` redsim Sentinels (the state
//! machine and shell of `redsim-server --sentinel`, without a config file)
//! and `clients` client nodes. Clients find the master by asking the
//! Sentinels (`SENTINEL GET-MASTER-ADDR-BY-NAME`, as redis-py and Jedis do)
//! and ask again after an error, a timeout or a refused connection. Each op
//! is an SADD of an element unique in the run.
//!
//! Faults, one at a time, at random points of the workload: the master
//! partitioned away together with a minority of the clients; the master
//! killed (kept down until the Sentinels promote a replica, then restarted
//! empty: the in-memory deployment); the master paused; a replica's links
//! cut; a replica killed and restarted; latency spikes; packet loss.
//!
//! Checks (runner-level; failures are `Violation` events or liveness):
//! - after the heal every Sentinel names the same master and every other
//!   node replicates it at its offset with its dataset;
//! - every acknowledged write missing from the final dataset is attributed
//!   to a window Redis documents, using the replication history the nodes
//!   report (each write's replid and offset on the master that ran it, each
//!   promotion's branch point): *asynchronous replication* (a promotion
//!   after the write chose a history without it) or *minority master* (the
//!   node that acknowledged it had been superseded by a later promotion).
//!   Anything else is a violation, as is a write inside the final history
//!   but missing from the data, or a rejected write that took effect;
//! - a master partitioned away from every replica acknowledges nothing sent
//!   later than `min-replicas-max-lag` + [`WINDOW_SLACK_MS`] after the cut:
//!   once that window has passed, at most one master accepts writes;
//! - each master loss is timed from the fault to the first write another
//!   node acknowledges (a `Note` event).
//!
//! Invariant: everything random comes from madsim's seeded rng or the seed;
//! ids are distinct across clients (as in the multi-client runner).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::net::NetSim;
use madsim::rand::{thread_rng, Rng};
use madsim::runtime::{Handle, Runtime};
use madsim::task::NodeId;
use madsim::time::{sleep, timeout, TimeHandle};
use redsim_core::Server;
use redsim_server::{Clock, Logger, Shared, SystemClock};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::history::{EventKind, Op};
use crate::jepsen::{fault_event, latency_spike, packet_loss};
use crate::resp::{encode_command, parse_reply, Reply};
use crate::scenario::{
    read_reply, server_main, splitmix64, Client, JumpClock, NodeCfg, Oracle, Recorder, RunOutput,
    PORT, SERVER_IP,
};
use crate::{SelfTest, SimOptions};

const SENTINEL_PORT: u16 = 26379;
const MASTER_NAME: &str = "mymaster";
const DOWN_AFTER_MS: u64 = 1000;
const FAILOVER_TIMEOUT_MS: u64 = 6000;
/// `min-replicas-max-lag` of every data node (seconds).
pub const MAX_LAG_S: i64 = 2;
/// Beyond `min-replicas-max-lag`: the lag is counted in whole seconds (a
/// replica is good while `(now - ack) / 1000 <= lag`, so up to 1 s more),
/// plus 500 ms for an acknowledgement already in flight at the cut (a
/// latency spike, which may have just ended, makes a one-way trip up to
/// 400 ms; found with a spike right before the partition).
pub const WINDOW_SLACK_MS: i64 = 1500;
const CONN_STRIDE: u32 = 1_000_000;
/// Writes each client must get acknowledged after the heal...
const FINAL_OPS: usize = 3;
/// ... within this much simulated time.
const FINAL_DEADLINE_MS: u64 = 30_000;
/// After the clients finish: Sentinels agree and replicas catch up.
const CONVERGE_MS: u64 = 40_000;
/// A killed master stays down until a replica is promoted, at most this long.
const PROMOTION_WAIT_MS: u64 = 30_000;

fn data_ip(n: usize) -> IpAddr {
    if n == 0 {
        SERVER_IP
    } else {
        IpAddr::V4(Ipv4Addr::new(10, 0, 2, n as u8))
    }
}

fn sentinel_ip(s: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 3, (s + 1) as u8))
}

fn client_ip(c: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, (c + 1) as u8))
}

fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// An SADD some node ran as a master: where it sits in the history.
#[derive(Clone, Debug)]
struct Applied {
    node: usize,
    replid: String,
    /// The master's replication offset after the write.
    offset: u64,
    t_ms: i64,
}

/// A node turned master: `new` continues `old` up to `offset`.
#[derive(Clone, Debug)]
struct Promotion {
    node: usize,
    new: String,
    old: String,
    offset: u64,
    t_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Acked,
    Rejected(String),
    Unknown,
}

/// One client write as the client saw it.
#[derive(Clone, Debug)]
struct Ack {
    elem: u64,
    node: usize,
    t_inv: i64,
    t_done: i64,
    outcome: Outcome,
}

/// Everything the nodes, clients and nemesis share.
struct Ha {
    slots: Vec<Arc<Mutex<Option<Arc<Shared>>>>>,
    /// `replicaof` each data node restarts with: what Sentinel's CONFIG
    /// REWRITE would have left in its config file (None: a master).
    conf_replicaof: Vec<Mutex<Option<String>>>,
    applied: Mutex<BTreeMap<u64, Applied>>,
    promotions: Mutex<Vec<Promotion>>,
    /// (node, time) of each restart that came up as a master.
    master_restarts: Mutex<Vec<(usize, i64)>>,
    acks: Mutex<Vec<Ack>>,
    /// (master, start, end) of partitions that cut it from every replica.
    isolations: Mutex<Vec<(usize, i64, i64)>>,
    /// (master, time, how) of every fault that took the master away.
    losses: Mutex<Vec<(usize, i64, &'static str)>>,
    /// Warm-up done: the Sentinels know every replica.
    ready: AtomicBool,
    progress: AtomicUsize,
    clients_done: AtomicUsize,
    healed: AtomicBool,
    final_failures: Mutex<Vec<String>>,
    /// A liveness failure found by the nemesis (no promotion in time).
    nemesis_failure: Mutex<Option<String>>,
    /// The run's start (times in notes are relative to it).
    t0: i64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere, which fails the run anyway.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ha {
    fn node(&self, n: usize) -> Option<Arc<Shared>> {
        lock(&self.slots[n]).clone()
    }

    fn nodes(&self) -> usize {
        self.slots.len()
    }
}

fn node_of(addr: IpAddr, nodes: usize) -> Option<usize> {
    (0..nodes).find(|&n| data_ip(n) == addr)
}

/// The data node serving as master: not a replica, most online replicas
/// (lowest index on ties).
async fn current_master(ha: &Ha) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for n in 0..ha.nodes() {
        let Some(sh) = ha.node(n) else { continue };
        let srv = sh.srv.lock().await;
        if srv.repl.is_replica() {
            continue;
        }
        let r = srv.repl.replicas.len();
        if best.is_none_or(|(_, b)| r > b) {
            best = Some((n, r));
        }
    }
    best.map(|(n, _)| n)
}

/// One `SENTINEL <sub> mymaster` request to Sentinel `s` on a fresh
/// connection (what clients do); None if it cannot be reached in time.
async fn sentinel_call(s: usize, sub: &str) -> Option<Reply> {
    let addr = SocketAddr::new(sentinel_ip(s), SENTINEL_PORT);
    let mut st = timeout(Duration::from_millis(500), TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let mut b = Vec::new();
    encode_command(
        &[
            b"SENTINEL".to_vec(),
            sub.as_bytes().to_vec(),
            MASTER_NAME.as_bytes().to_vec(),
        ],
        &mut b,
    );
    let mut rbuf = Vec::new();
    timeout(Duration::from_millis(500), async {
        st.write_all(&b).await?;
        st.flush().await?;
        read_reply(&mut st, &mut rbuf).await
    })
    .await
    .ok()?
    .ok()
}

/// Ask Sentinel `s` for the master's address; the data node it names.
async fn ask_sentinel(s: usize, nodes: usize) -> Option<usize> {
    let Reply::Array(Some(v)) = sentinel_call(s, "GET-MASTER-ADDR-BY-NAME").await? else {
        return None;
    };
    let Some(Reply::Bulk(Some(ip))) = v.first() else {
        return None;
    };
    let ip: IpAddr = std::str::from_utf8(ip).ok()?.parse().ok()?;
    node_of(ip, nodes)
}

/// What each of `sentinels` Sentinels names as the master, in order.
async fn sentinel_answers(sentinels: usize, nodes: usize) -> Vec<Option<usize>> {
    let mut names = Vec::with_capacity(sentinels);
    for s in 0..sentinels {
        names.push(ask_sentinel(s, nodes).await);
    }
    names
}

/// How many replicas Sentinel `s` knows for the master (SENTINEL REPLICAS).
async fn sentinel_replicas(s: usize) -> Option<usize> {
    match sentinel_call(s, "REPLICAS").await? {
        Reply::Array(Some(v)) => Some(v.len()),
        _ => None,
    }
}

/// Warm-up: every Sentinel knows every replica (they learn them from the
/// master's INFO, refreshed every 10 s). A master lost before that cannot
/// be failed over, in Redis as here; faults and clients wait for it.
async fn warm_up(ha: &Ha, sentinels: usize) {
    let want = ha.nodes() - 1;
    loop {
        let mut all = true;
        for s in 0..sentinels {
            all &= sentinel_replicas(s).await == Some(want);
        }
        if all {
            ha.ready.store(true, Ordering::SeqCst);
            return;
        }
        sleep(Duration::from_millis(200)).await;
    }
}

/// Run one command on a node as an internal client; the raw reply.
async fn exec_on(sh: &Arc<Shared>, argv: &[&[u8]]) -> Vec<u8> {
    let mut srv = sh.srv.lock().await;
    let now = sh.clock.now_ms();
    let h = srv.new_client("checker".into(), String::new(), -1, now);
    srv.clients.get_mut(h).authenticated = true;
    let mut out = redsim_core::resp::Reply::new();
    srv.execute(h, argv, now, &mut out);
    srv.free_client(h);
    let fx = srv.take_effects();
    drop(srv);
    sh.after_effects(&fx);
    out.buf.to_vec()
}

fn set_add_elem(argv: &[Vec<u8>]) -> Option<u64> {
    if argv.len() != 3 || !argv[0].eq_ignore_ascii_case(b"sadd") || !argv[1].starts_with(b"a") {
        return None;
    }
    std::str::from_utf8(&argv[2]).ok()?.parse().ok()
}

/// The observers each incarnation of data node `n` gets.
fn observe(ha: Arc<Ha>, n: usize) -> Arc<dyn Fn(&mut Server) + Send + Sync> {
    Arc::new(move |srv: &mut Server| {
        let h = ha.clone();
        srv.prop_observer = Some(Box::new(move |p, meta| {
            if !meta.master {
                return;
            }
            if let Some(elem) = set_add_elem(&p.argv) {
                lock(&h.applied).insert(
                    elem,
                    Applied {
                        node: n,
                        replid: meta.replid.to_string(),
                        offset: meta.offset,
                        t_ms: now_ms(),
                    },
                );
            }
        }));
        let h = ha.clone();
        srv.repl.promotion_observer = Some(Box::new(move |new, old, offset| {
            lock(&h.promotions).push(Promotion {
                node: n,
                new: new.to_string(),
                old: old.to_string(),
                offset,
                t_ms: now_ms(),
            });
        }));
    })
}

/// Open the client's connection once (no retry loop: a refused
/// connection sends the client back to the Sentinels).
async fn connect_once(cl: &mut Client) -> bool {
    if cl.conn.is_some() {
        return true;
    }
    match timeout(Duration::from_secs(1), TcpStream::connect(cl.addr)).await {
        Ok(Ok(s)) => {
            let id = cl.next_conn;
            cl.next_conn += 1;
            cl.rec.log(EventKind::Connect { conn: id });
            cl.rbuf.clear();
            cl.conn = Some((s, id));
            true
        }
        Ok(Err(e)) => {
            cl.rec.log(EventKind::ConnectFailed {
                err: e.kind().to_string(),
            });
            false
        }
        Err(_) => {
            cl.rec.log(EventKind::ConnectFailed {
                err: "connect timeout".into(),
            });
            false
        }
    }
}

/// Ask the Sentinels (from this client's favourite on) until one names
/// the master; point the client at it.
async fn discover(cl: &mut Client, c: usize, sentinels: usize, nodes: usize) {
    loop {
        for j in 0..sentinels {
            let s = (c + j) % sentinels;
            if let Some(n) = ask_sentinel(s, nodes).await {
                let want = SocketAddr::new(data_ip(n), PORT);
                if cl.addr != want {
                    cl.rec.log(EventKind::Note {
                        what: format!("client-{}: sentinel-{} names node-{n}", c + 1, s + 1),
                    });
                    cl.addr = want;
                    cl.conn = None;
                }
                return;
            }
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// One SADD through the current connection; records the client's view.
async fn write_once(cl: &mut Client, ha: &Ha, c: usize, i: usize, keys: usize) -> Outcome {
    let elem = ((c as u64) << 32) | i as u64;
    let key = format!("a{}", thread_rng().gen_range(0..keys.max(1)));
    let node = node_of(cl.addr.ip(), ha.nodes()).unwrap_or(usize::MAX);
    let t_inv = now_ms();
    let r = cl.exec(Op::SAdd { key, elem }).await;
    let outcome = match r {
        Some(Reply::Int(1)) => Outcome::Acked,
        Some(Reply::Error(e)) => Outcome::Rejected(e),
        // Any other reply to SADD of a new element is wrong; the write's
        // fate is unknown (the final checks still see the element).
        Some(other) => {
            cl.rec.log(EventKind::Violation {
                what: format!("SADD of a new element answered {other:?}"),
            });
            Outcome::Unknown
        }
        None => Outcome::Unknown,
    };
    lock(&ha.acks).push(Ack {
        elem,
        node,
        t_inv,
        t_done: now_ms(),
        outcome: outcome.clone(),
    });
    outcome
}

async fn client_task(c: usize, opts: SimOptions, rec: Recorder, ha: Arc<Ha>) {
    let mut cl = Client {
        rec: rec.clone(),
        addr: SocketAddr::new(SERVER_IP, PORT),
        conn: None,
        rbuf: Vec::new(),
        next_conn: c as u32 * CONN_STRIDE,
        next_id: (c as u64) << 40,
        op_timeout: Duration::from_millis(opts.op_timeout_ms),
        corrupt_next: false,
        corrupted: false,
    };
    let nodes = ha.nodes();
    while !ha.ready.load(Ordering::SeqCst) {
        sleep(Duration::from_millis(50)).await;
    }
    let mut known = false;
    let mut i = 0;
    let mut done = 0;
    while done < opts.ops {
        if !known {
            discover(&mut cl, c, opts.sentinels, nodes).await;
            known = true;
        }
        if !connect_once(&mut cl).await {
            known = false;
            sleep(Duration::from_millis(thread_rng().gen_range(50..150))).await;
            continue;
        }
        let o = write_once(&mut cl, &ha, c, i, opts.keys).await;
        i += 1;
        done += 1;
        ha.progress.fetch_add(1, Ordering::SeqCst);
        if o != Outcome::Acked {
            // READONLY, NOREPLICAS, a timeout: the master may have moved.
            cl.conn = None;
            known = false;
            sleep(Duration::from_millis(thread_rng().gen_range(20..100))).await;
        }
        let think = thread_rng().gen_range(0..=opts.max_think_ms);
        if think > 0 {
            sleep(Duration::from_millis(think)).await;
        }
    }
    ha.clients_done.fetch_add(1, Ordering::SeqCst);
    while !ha.healed.load(Ordering::SeqCst) {
        sleep(Duration::from_millis(50)).await;
    }
    // Final phase: a few acknowledged writes, in time, after the heal.
    let deadline = TimeHandle::current().elapsed() + Duration::from_millis(FINAL_DEADLINE_MS);
    let mut ok = 0;
    known = false;
    cl.conn = None;
    while ok < FINAL_OPS {
        if TimeHandle::current().elapsed() > deadline {
            lock(&ha.final_failures).push(format!(
                "client {c} got only {ok} of {FINAL_OPS} writes acknowledged within \
                 {FINAL_DEADLINE_MS} ms after the heal"
            ));
            return;
        }
        if !known {
            discover(&mut cl, c, opts.sentinels, nodes).await;
            known = true;
        }
        if !connect_once(&mut cl).await {
            known = false;
            sleep(Duration::from_millis(100)).await;
            continue;
        }
        let o = write_once(&mut cl, &ha, c, i, opts.keys).await;
        i += 1;
        if o == Outcome::Acked {
            ok += 1;
        } else {
            cl.conn = None;
            known = false;
            sleep(Duration::from_millis(100)).await;
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Kill,
    Partition,
    Pause,
    ReplCut,
    ReplKill,
    /// One Sentinel cut off from every node (both ways) for a while.
    SentinelCut,
    Spike,
    Loss,
}

struct Nemesis {
    opts: SimOptions,
    rec: Recorder,
    ha: Arc<Ha>,
    data: Vec<NodeId>,
    sentinels: Vec<NodeId>,
    clients: Vec<NodeId>,
    base_latency: std::ops::Range<Duration>,
}

impl Nemesis {
    fn fault(&self, name: &str, target: &str, on: bool) {
        fault_event(&self.rec, name, target, on);
    }

    /// Every data node some Sentinel names as the master.
    async fn named_masters(&self) -> Vec<usize> {
        let mut v = Vec::new();
        for n in sentinel_answers(self.sentinels.len(), self.ha.nodes())
            .await
            .into_iter()
            .flatten()
        {
            if !v.contains(&n) {
                v.push(n);
            }
        }
        v
    }

    /// The master the clients use: the node most Sentinels name (the
    /// engines' view when none answers).
    async fn master(&self) -> Option<usize> {
        let mut votes = vec![0usize; self.ha.nodes()];
        for n in sentinel_answers(self.sentinels.len(), self.ha.nodes())
            .await
            .into_iter()
            .flatten()
        {
            votes[n] += 1;
        }
        let best = (0..votes.len()).max_by_key(|&n| (votes[n], std::cmp::Reverse(n)));
        match best {
            Some(n) if votes[n] > 0 => Some(n),
            _ => current_master(&self.ha).await,
        }
    }

    /// Remember what node `n` restarts with (its current role), then kill it.
    async fn kill(&self, n: usize) {
        if let Some(sh) = self.ha.node(n) {
            let srv = sh.srv.lock().await;
            let conf = srv
                .repl
                .link
                .as_ref()
                .map(|l| format!("{} {}", l.host, l.port));
            *lock(&self.ha.conf_replicaof[n]) = conf;
        }
        *lock(&self.ha.slots[n]) = None;
        Handle::current().kill(self.data[n]);
    }

    fn all_nodes(&self) -> Vec<NodeId> {
        self.data
            .iter()
            .chain(&self.sentinels)
            .chain(&self.clients)
            .copied()
            .collect()
    }

    async fn run(self) {
        let o = &self.opts;
        let mut plan: Vec<(usize, Fault)> = Vec::new();
        {
            let mut rng = thread_rng();
            let total = (o.ops * o.clients.max(1)).max(1);
            let mut add = |n: usize, f: Fault| {
                for _ in 0..n {
                    plan.push((rng.gen_range(0..total), f));
                }
            };
            add(o.kills, Fault::Kill);
            add(o.partitions, Fault::Partition);
            add(o.pauses, Fault::Pause);
            add(o.spikes, Fault::Spike);
            add(o.loss, Fault::Loss);
            add(
                if self.sentinels.is_empty() {
                    0
                } else {
                    o.sentinel_cuts
                },
                Fault::SentinelCut,
            );
            for _ in 0..o.repl_faults {
                let f = if rng.gen_bool(0.5) {
                    Fault::ReplCut
                } else {
                    Fault::ReplKill
                };
                plan.push((rng.gen_range(0..total), f));
            }
        }
        plan.sort();
        let net = NetSim::current();
        let handle = Handle::current();
        let nclients = o.clients.max(1);
        while !self.ha.ready.load(Ordering::SeqCst) {
            sleep(Duration::from_millis(50)).await;
        }
        for (at, fault) in plan {
            while self.ha.progress.load(Ordering::SeqCst) < at
                && self.ha.clients_done.load(Ordering::SeqCst) < nclients
            {
                sleep(Duration::from_millis(5)).await;
            }
            if self.ha.clients_done.load(Ordering::SeqCst) >= nclients {
                break;
            }
            // Faults other than master partitions last up to half as long:
            // they run one at a time, and long ones crowded out the rest
            // of a run's plan.
            let dur = thread_rng().gen_range(50..(o.max_partition_ms / 2).max(51));
            match fault {
                Fault::Partition => {
                    let Some(x) = self.master().await else {
                        continue;
                    };
                    // The master and a minority of the clients (fewer than
                    // half; none one time in five) on one side; everyone
                    // else on the other.
                    let most = (nclients - 1) / 2;
                    let k = if most == 0 || thread_rng().gen_bool(0.2) {
                        0
                    } else {
                        thread_rng().gen_range(1..=most)
                    };
                    let mut side: Vec<usize> = Vec::new();
                    while side.len() < k {
                        let c = thread_rng().gen_range(0..nclients);
                        if !side.contains(&c) {
                            side.push(c);
                        }
                    }
                    side.sort();
                    let a: Vec<NodeId> = std::iter::once(self.data[x])
                        .chain(side.iter().map(|&c| self.clients[c]))
                        .collect();
                    let b: Vec<NodeId> = self
                        .all_nodes()
                        .into_iter()
                        .filter(|n| !a.contains(n))
                        .collect();
                    let names: Vec<String> = std::iter::once(format!("node-{x}"))
                        .chain(side.iter().map(|c| format!("client-{}", c + 1)))
                        .collect();
                    let what = names.join(" + ");
                    let start = now_ms();
                    lock(&self.ha.losses).push((x, start, "partition"));
                    self.fault("partition", &what, true);
                    for &p in &a {
                        for &q in &b {
                            net.clog_link(p, q);
                            net.clog_link(q, p);
                        }
                    }
                    let dur = thread_rng().gen_range(500..o.max_partition_ms.max(501));
                    sleep(Duration::from_millis(dur)).await;
                    for &p in &a {
                        for &q in &b {
                            net.unclog_link(p, q);
                            net.unclog_link(q, p);
                        }
                    }
                    lock(&self.ha.isolations).push((x, start, now_ms()));
                    self.fault("partition", &what, false);
                }
                Fault::Kill => {
                    let Some(x) = self.master().await else {
                        continue;
                    };
                    let what = format!("node-{x}");
                    lock(&self.ha.losses).push((x, now_ms(), "kill"));
                    self.fault("master-kill", &what, true);
                    self.kill(x).await;
                    // In-memory: a restart before every Sentinel has moved
                    // on would let them keep the empty node as the master
                    // and resync the replicas from it (Redis's docs: no
                    // auto-restart without persistence). Wait until they
                    // all name another node. (Another node merely being a
                    // master is not enough: found with a stale old master
                    // that a timed-out failover then switched away from.)
                    let deadline =
                        TimeHandle::current().elapsed() + Duration::from_millis(PROMOTION_WAIT_MS);
                    loop {
                        let names = sentinel_answers(self.sentinels.len(), self.ha.nodes()).await;
                        if names
                            .iter()
                            .all(|n| n.is_some_and(|m| m != x) && *n == names[0])
                        {
                            break;
                        }
                        if TimeHandle::current().elapsed() > deadline {
                            *lock(&self.ha.nemesis_failure) = Some(format!(
                                "the Sentinels did not all move to another master within \
                                 {PROMOTION_WAIT_MS} ms of the master's (node-{x}) kill"
                            ));
                            break;
                        }
                        sleep(Duration::from_millis(50)).await;
                    }
                    sleep(Duration::from_millis(thread_rng().gen_range(0..2000))).await;
                    handle.restart(self.data[x]);
                    self.fault("master-kill", &what, false);
                }
                Fault::Pause => {
                    let Some(x) = self.master().await else {
                        continue;
                    };
                    let what = format!("node-{x}");
                    lock(&self.ha.losses).push((x, now_ms(), "pause"));
                    self.fault("pause", &what, true);
                    handle.pause(self.data[x]);
                    sleep(Duration::from_millis(dur.max(200))).await;
                    handle.resume(self.data[x]);
                    self.fault("pause", &what, false);
                }
                Fault::ReplCut | Fault::ReplKill => {
                    // Never a node a Sentinel names as the master: killing
                    // that one is the master-kill fault (which waits for the
                    // failover); an empty restart of it would be taken back
                    // as the master (found: a stale master was mistaken for
                    // the master and the real one "replica-killed").
                    // Nor a node that is a master by its own account: one
                    // just promoted is not named yet (found: a promoted
                    // replica killed and restarted empty was then taken as
                    // the promotion's result).
                    let named = self.named_masters().await;
                    let mut others: Vec<usize> = Vec::new();
                    for n in (0..self.ha.nodes()).filter(|n| !named.contains(n)) {
                        if let Some(sh) = self.ha.node(n) {
                            if sh.srv.lock().await.repl.is_replica() {
                                others.push(n);
                            }
                        }
                    }
                    if others.is_empty() {
                        continue;
                    }
                    let r = others[thread_rng().gen_range(0..others.len())];
                    let what = format!("node-{r}");
                    if fault == Fault::ReplCut {
                        self.fault("repl-cut", &what, true);
                        for n in (0..self.ha.nodes()).filter(|&n| n != r) {
                            net.clog_link(self.data[r], self.data[n]);
                            net.clog_link(self.data[n], self.data[r]);
                        }
                        sleep(Duration::from_millis(dur)).await;
                        for n in (0..self.ha.nodes()).filter(|&n| n != r) {
                            net.unclog_link(self.data[r], self.data[n]);
                            net.unclog_link(self.data[n], self.data[r]);
                        }
                        self.fault("repl-cut", &what, false);
                    } else {
                        self.fault("replica-kill", &what, true);
                        self.kill(r).await;
                        sleep(Duration::from_millis(dur)).await;
                        handle.restart(self.data[r]);
                        self.fault("replica-kill", &what, false);
                    }
                }
                Fault::SentinelCut => {
                    let s = thread_rng().gen_range(0..self.sentinels.len());
                    let me = self.sentinels[s];
                    let what = format!("sentinel-{}", s + 1);
                    let rest: Vec<NodeId> =
                        self.all_nodes().into_iter().filter(|&n| n != me).collect();
                    self.fault("sentinel-cut", &what, true);
                    for &q in &rest {
                        net.clog_link(me, q);
                        net.clog_link(q, me);
                    }
                    sleep(Duration::from_millis(dur.max(500))).await;
                    for &q in &rest {
                        net.unclog_link(me, q);
                        net.unclog_link(q, me);
                    }
                    self.fault("sentinel-cut", &what, false);
                }
                Fault::Spike => latency_spike(&self.rec, self.base_latency.clone(), dur).await,
                Fault::Loss => packet_loss(&self.rec, 0.3, dur).await,
            }
        }
        while self.ha.clients_done.load(Ordering::SeqCst) < nclients {
            sleep(Duration::from_millis(20)).await;
        }
        let all = self.all_nodes();
        for &p in &all {
            for &q in &all {
                net.unclog_link(p, q);
            }
        }
        let base = self.base_latency.clone();
        net.update_config(|c| {
            c.send_latency = base;
            c.packet_loss_rate = 0.0;
        });
        self.rec.log(EventKind::Heal);
        self.ha.healed.store(true, Ordering::SeqCst);
    }
}

/// Is write `w` (replid, offset) part of the history that reaches
/// `offset` under `replid`? Walks back through the promotions' branch
/// points (each replid has at most one parent).
fn contains<'a>(
    parents: &HashMap<&'a str, (&'a str, u64)>,
    mut replid: &'a str,
    mut offset: u64,
    w: &Applied,
) -> bool {
    for _ in 0..=parents.len() {
        if replid == w.replid {
            return w.offset <= offset;
        }
        match parents.get(replid) {
            Some(&(old, at)) => {
                replid = old;
                offset = offset.min(at);
            }
            None => return false,
        }
    }
    false
}

/// After the heal: the Sentinels agree on a master and every other node
/// replicates it with the same data. Ok(master) or a liveness failure.
async fn converge(ha: &Ha, rec: &Recorder, sentinels: usize) -> Result<usize, String> {
    let deadline = TimeHandle::current().elapsed() + Duration::from_millis(CONVERGE_MS);
    let nodes = ha.nodes();
    loop {
        let last;
        let names = sentinel_answers(sentinels, nodes).await;
        if let Some(Some(m)) = names.first().copied() {
            if names.iter().all(|n| *n == Some(m)) {
                match caught_up(ha, m).await {
                    Ok(()) => {
                        let Some(msh) = ha.node(m) else {
                            return Err(format!("the master node-{m} is down"));
                        };
                        let mfp = crate::oracle::fingerprint(&msh.srv.lock().await.ks);
                        for o in (0..nodes).filter(|&o| o != m) {
                            if let Some(sh) = ha.node(o) {
                                let fp = crate::oracle::fingerprint(&sh.srv.lock().await.ks);
                                if fp != mfp {
                                    rec.log(EventKind::Violation {
                                        what: format!(
                                            "node-{o} reached the master's (node-{m}) offset with a different dataset"
                                        ),
                                    });
                                }
                            }
                        }
                        return Ok(m);
                    }
                    Err(e) => last = e,
                }
            } else {
                last = format!("the Sentinels name different masters: {names:?}");
            }
        } else {
            last = format!("Sentinel answers: {names:?}");
        }
        if TimeHandle::current().elapsed() > deadline {
            return Err(format!(
                "no agreed, caught-up master within {CONVERGE_MS} ms after the workload: {last}"
            ));
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// Node `m` is a master and every other node replicates it at its offset.
async fn caught_up(ha: &Ha, m: usize) -> Result<(), String> {
    let msh = ha.node(m).ok_or(format!("node-{m} is down"))?;
    let (is_replica, moff) = {
        let s = msh.srv.lock().await;
        (s.repl.is_replica(), s.repl.master_repl_offset)
    };
    if is_replica {
        return Err(format!("the Sentinels' master node-{m} is a replica"));
    }
    let mhost = data_ip(m).to_string();
    for o in (0..ha.nodes()).filter(|&o| o != m) {
        let sh = ha.node(o).ok_or(format!("node-{o} is down"))?;
        let s = sh.srv.lock().await;
        let follows = s
            .repl
            .link
            .as_ref()
            .is_some_and(|l| l.host == mhost && l.port == PORT);
        if !follows || !s.repl.link_up() || s.repl.master_repl_offset != moff {
            return Err(format!(
                "node-{o} is not caught up with node-{m} (follows {follows}, link up {}, offset {} vs {moff})",
                s.repl.link_up(),
                s.repl.master_repl_offset
            ));
        }
    }
    Ok(())
}

/// The final dataset's elements (every `a{k}` set of the master).
async fn final_elems(sh: &Arc<Shared>, keys: usize) -> BTreeSet<u64> {
    let mut all = BTreeSet::new();
    for k in 0..keys.max(1) {
        let key = format!("a{k}");
        let raw = exec_on(sh, &[b"SMEMBERS", key.as_bytes()]).await;
        if let Ok(Some((Reply::Array(Some(v)), _))) = parse_reply(&raw) {
            for r in v {
                if let Reply::Bulk(Some(b)) = r {
                    if let Some(e) = std::str::from_utf8(&b).ok().and_then(|s| s.parse().ok()) {
                        all.insert(e);
                    }
                }
            }
        }
    }
    all
}

/// The loss, window and failover-time checks over what the run recorded:
/// violations and a summary are logged as events.
fn judge(ha: &Ha, rec: &Recorder, fin: &BTreeSet<u64>, final_replid: &str, final_off: u64) {
    let applied = lock(&ha.applied);
    let promotions = lock(&ha.promotions);
    let restarts = lock(&ha.master_restarts);
    let acks = lock(&ha.acks);
    // REPLICAOF NO ONE on a master keeps its history (new == old).
    let parents: HashMap<&str, (&str, u64)> = promotions
        .iter()
        .filter(|p| p.new != p.old)
        .map(|p| (p.new.as_str(), (p.old.as_str(), p.offset)))
        .collect();
    // When node x's current mastership (at time t) began: its last
    // promotion or restart as a master; node-0 is the first master.
    let master_since = |x: usize, t: i64| -> i64 {
        let p = promotions
            .iter()
            .filter(|p| p.node == x && p.t_ms <= t)
            .map(|p| p.t_ms)
            .max();
        let r = restarts
            .iter()
            .filter(|r| r.0 == x && r.1 <= t)
            .map(|r| r.1)
            .max();
        p.max(r).unwrap_or(i64::MIN)
    };
    let mut async_lost = 0;
    // Of those: lost because Sentinel promoted a node that was a master
    // already (an old master it lists as a replica, not yet converted).
    let mut stale_promoted = 0;
    let mut minority_lost = 0;
    let mut violations = 0;
    let mut violate = |what: String| {
        violations += 1;
        if violations <= 5 {
            rec.log(EventKind::Violation { what });
        }
    };
    let mut acked = 0;
    let debug = std::env::var("REDSIM_SIM_DEBUG").is_ok();
    if debug {
        eprintln!("FINAL {final_replid} at {final_off}");
        for p in promotions.iter() {
            eprintln!(
                "PROMOTION node-{} at {} ms: {} continues {} up to {}",
                p.node,
                p.t_ms - ha.t0,
                p.new,
                p.old,
                p.offset
            );
        }
    }
    for a in acks.iter() {
        if debug && a.outcome == Outcome::Acked && !fin.contains(&a.elem) {
            eprintln!(
                "LOST {} acked by node-{} sent {} ms done {} ms: {:?}",
                a.elem,
                a.node,
                a.t_inv - ha.t0,
                a.t_done - ha.t0,
                applied
                    .get(&a.elem)
                    .map(|w| (w.node, w.t_ms - ha.t0, &w.replid, w.offset))
            );
        }
        match &a.outcome {
            Outcome::Acked => {
                acked += 1;
                if fin.contains(&a.elem) {
                    continue;
                }
                let Some(w) = applied.get(&a.elem) else {
                    violate(format!(
                        "element {} acknowledged by node-{} is lost and no master ever ran it",
                        a.elem, a.node
                    ));
                    continue;
                };
                if contains(&parents, final_replid, final_off, w) {
                    violate(format!(
                        "element {} acknowledged by node-{} at offset {} of {} is in the final \
                         history (up to offset {final_off}) but not in the final dataset",
                        a.elem, w.node, w.offset, w.replid
                    ));
                } else if promotions.iter().any(|p| {
                    p.node != w.node && p.t_ms <= w.t_ms && p.t_ms > master_since(w.node, w.t_ms)
                }) {
                    minority_lost += 1;
                } else if let Some(p) = promotions
                    .iter()
                    .find(|p| p.t_ms >= w.t_ms && !contains(&parents, &p.old, p.offset, w))
                {
                    async_lost += 1;
                    if p.new == p.old {
                        stale_promoted += 1;
                    }
                } else {
                    violate(format!(
                        "element {} acknowledged by node-{} (offset {} of {}) is lost outside \
                         any documented window: no later promotion left it behind and node-{} \
                         had not been superseded",
                        a.elem, w.node, w.offset, w.replid, w.node
                    ));
                }
            }
            Outcome::Rejected(e) => {
                if fin.contains(&a.elem) || applied.contains_key(&a.elem) {
                    violate(format!(
                        "element {} was rejected by node-{} ({e}) but took effect",
                        a.elem, a.node
                    ));
                }
            }
            Outcome::Unknown => {}
        }
    }
    // The minority master's window: nothing sent to a master cut off from
    // every replica is acknowledged once min-replicas-max-lag has passed.
    for &(x, start, end) in lock(&ha.isolations).iter() {
        let close = start + MAX_LAG_S * 1000 + WINDOW_SLACK_MS;
        for a in acks.iter() {
            if a.node == x && a.outcome == Outcome::Acked && a.t_inv >= close && a.t_inv < end {
                violate(format!(
                    "node-{x}, cut off from its replicas at {} ms, acknowledged element {} \
                     sent at {} ms: after its min-replicas-max-lag window ({MAX_LAG_S} s + \
                     {WINDOW_SLACK_MS} ms) two masters accepted writes",
                    start - ha.t0,
                    a.elem,
                    a.t_inv - ha.t0
                ));
            }
        }
    }
    // Failover time: from each master loss to the first write another
    // node acknowledged (sent after the loss, before the next one).
    let losses = lock(&ha.losses);
    for (i, &(x, t, how)) in losses.iter().enumerate() {
        let until = losses.get(i + 1).map_or(i64::MAX, |l| l.1);
        let acked_in = |other: bool| {
            acks.iter()
                .filter(|a| a.outcome == Outcome::Acked && a.t_inv >= t && a.t_inv < until)
                .filter(|a| (a.node != x) == other)
                .min_by_key(|a| a.t_done)
        };
        let at = t - ha.t0;
        let what = match (acked_in(true), acked_in(false)) {
            (Some(a), _) => {
                let ms = a.t_done - t;
                format!(
                    "master node-{x} lost ({how}) at {at} ms: failover, writes resumed on \
                     node-{} after {ms} ms",
                    a.node
                )
            }
            (None, Some(a)) => format!(
                "master node-{x} lost ({how}) at {at} ms: no failover, writes resumed on it \
                 after {} ms",
                a.t_done - t
            ),
            (None, None) => {
                format!("master node-{x} lost ({how}) at {at} ms: no write acknowledged since")
            }
        };
        rec.log(EventKind::Note { what });
    }
    rec.log(EventKind::Note {
        what: format!(
            "{acked} writes acknowledged, {} lost: {async_lost} in asynchronous-replication \
             windows ({stale_promoted} of them to the promotion of a stale master), \
             {minority_lost} in minority-master windows; {violations} violation(s); \
             {} promotions",
            async_lost + minority_lost,
            promotions.len()
        ),
    });
}

async fn sentinel_main(text: String, seed: u64, loglevel: &'static str, s: usize, epoch: u64) {
    let conf = match redsim_core::sentinel::SentinelConf::parse(&text, &[]) {
        Ok(c) => c,
        Err(e) => panic!("sentinel config: {e}"),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Sentinel s logs as pid 26s0 + restarts.
    let pid = 2600 + 10 * (s as u32 + 1) + epoch as u32;
    let log =
        Logger::new(pid, loglevel, "", clock.clone()).expect("logger without a file cannot fail");
    let env = redsim_core::sentinel::SentinelEnv {
        pid,
        version: "7.0.15".into(),
        executable: "redsim-sim".into(),
        config_file: String::new(),
        os: "madsim".into(),
        start_ms: clock.now_ms(),
    };
    redsim_server::sentinel::run(conf, text, String::new(), env, seed, clock, log).await;
}

/// Run one seed of the Sentinel runner. Panics propagate.
pub fn run(seed: u64, opts: &SimOptions) -> RunOutput {
    let opts = crate::jepsen::effective(seed, opts);
    let mut config = madsim::Config::default();
    let base_latency = Duration::from_millis(opts.latency_ms.0)
        ..Duration::from_millis(opts.latency_ms.1.max(opts.latency_ms.0 + 1));
    config.net.send_latency = base_latency.clone();
    let rt = Runtime::with_seed_and_config(seed, config);
    let rec = Recorder::default();
    let budget = Duration::from_millis(opts.budget_ms());
    let rec2 = rec.clone();
    let (finished, sim_elapsed, liveness) = rt.block_on(async move {
        let handle = Handle::current();
        let nodes = 1 + opts.replicas;
        let ha = Arc::new(Ha {
            slots: (0..nodes).map(|_| Arc::new(Mutex::new(None))).collect(),
            conf_replicaof: (0..nodes)
                .map(|n| Mutex::new((n > 0).then(|| format!("{SERVER_IP} {PORT}"))))
                .collect(),
            applied: Mutex::new(BTreeMap::new()),
            promotions: Mutex::new(Vec::new()),
            master_restarts: Mutex::new(Vec::new()),
            acks: Mutex::new(Vec::new()),
            isolations: Mutex::new(Vec::new()),
            losses: Mutex::new(Vec::new()),
            ready: AtomicBool::new(false),
            progress: AtomicUsize::new(0),
            clients_done: AtomicUsize::new(0),
            healed: AtomicBool::new(false),
            final_failures: Mutex::new(Vec::new()),
            nemesis_failure: Mutex::new(None),
            t0: now_ms(),
        });
        let planted = match opts.selftest {
            Some(SelfTest::IgnoreMinReplicas) => redsim_core::planted::IGNORE_MIN_REPLICAS,
            _ => 0,
        };
        let loglevel = if opts.server_log { "notice" } else { "nothing" };
        let mut extra = crate::jepsen::repl_args();
        extra.extend(
            [
                "--min-replicas-to-write".to_string(),
                "1".to_string(),
                "--min-replicas-max-lag".to_string(),
                MAX_LAG_S.to_string(),
            ]
            .into_iter(),
        );
        let mut data = Vec::new();
        for n in 0..nodes {
            let base = NodeCfg {
                seed: splitmix64(seed ^ (0xDA7A_0000 + n as u64)),
                hz: opts.hz,
                loglevel,
                persist: None,
                ack_before_fsync: false,
                oracle: Oracle::default(),
                rec: rec2.clone(),
                bg_jobs: false,
                slot: ha.slots[n].clone(),
                clock: Arc::new(JumpClock {
                    skew_ms: Arc::new(AtomicI64::new(0)),
                }),
                planted,
                start_failed: Arc::new(AtomicBool::new(false)),
                replicaof: None,
                extra_args: extra.clone(),
                quiet: true,
                setup: Some(observe(ha.clone(), n)),
            };
            let epoch = Arc::new(AtomicU64::new(0));
            let ha2 = ha.clone();
            let id = handle
                .create_node()
                .name(format!("node-{n}"))
                .ip(data_ip(n))
                .init(move || {
                    let e = epoch.fetch_add(1, Ordering::SeqCst);
                    let mut cfg = base.clone();
                    cfg.replicaof = lock(&ha2.conf_replicaof[n]).clone();
                    if e > 0 && cfg.replicaof.is_none() {
                        lock(&ha2.master_restarts).push((n, now_ms()));
                    }
                    server_main(cfg, e)
                })
                .build();
            data.push(id.id());
        }
        let quorum = opts.sentinels / 2 + 1;
        let mut sentinels = Vec::new();
        for s in 0..opts.sentinels {
            let text = format!(
                "port {SENTINEL_PORT}\nbind 0.0.0.0\n\
                 sentinel monitor {MASTER_NAME} {SERVER_IP} {PORT} {quorum}\n\
                 sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n\
                 sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n\
                 sentinel parallel-syncs {MASTER_NAME} 1\n"
            );
            let sseed = splitmix64(seed ^ (0x5E47_0000 + s as u64));
            let epoch = Arc::new(AtomicU64::new(0));
            let id = handle
                .create_node()
                .name(format!("sentinel-{}", s + 1))
                .ip(sentinel_ip(s))
                .init(move || {
                    let e = epoch.fetch_add(1, Ordering::SeqCst);
                    sentinel_main(text.clone(), splitmix64(sseed ^ e), loglevel, s, e)
                })
                .build();
            sentinels.push(id.id());
        }
        // The warm-up and the final checks talk to the Sentinels: from a
        // node of their own.
        let checker = handle
            .create_node()
            .name("checker")
            .ip(IpAddr::V4(Ipv4Addr::new(10, 0, 9, 1)))
            .build();
        let (ha4, ns) = (ha.clone(), opts.sentinels);
        let _warm = checker.spawn(async move { warm_up(&ha4, ns).await });
        let nclients = opts.clients.max(1);
        let mut clients = Vec::new();
        let mut tasks = Vec::new();
        for c in 0..nclients {
            let n = handle
                .create_node()
                .name(format!("client-{}", c + 1))
                .ip(client_ip(c))
                .build();
            clients.push(n.id());
            tasks.push(n.spawn(client_task(c, opts.clone(), rec2.clone(), ha.clone())));
        }
        let nemesis = Nemesis {
            opts: opts.clone(),
            rec: rec2.clone(),
            ha: ha.clone(),
            data,
            sentinels,
            clients,
            base_latency,
        };
        // On the checker's node: it asks the Sentinels, and no partition
        // touches that node.
        let _nem = checker.spawn(nemesis.run());
        let all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        let finished = timeout(budget, all).await.is_ok();
        let mut liveness = lock(&ha.final_failures).first().cloned();
        if liveness.is_none() {
            liveness = lock(&ha.nemesis_failure).clone();
        }
        if finished && liveness.is_none() {
            let (ha3, rec3, ns, keys) = (ha.clone(), rec2.clone(), opts.sentinels, opts.keys);
            let verdict = checker
                .spawn(async move {
                    let m = converge(&ha3, &rec3, ns).await?;
                    let sh = ha3.node(m).ok_or("the master went down")?;
                    let (replid, off) = {
                        let s = sh.srv.lock().await;
                        (s.repl.replid.clone(), s.repl.master_repl_offset)
                    };
                    let fin = final_elems(&sh, keys).await;
                    judge(&ha3, &rec3, &fin, &replid, off);
                    Ok::<(), String>(())
                })
                .await;
            match verdict {
                Ok(Err(e)) => liveness = Some(e),
                Err(e) => liveness = Some(format!("the checker task failed: {e}")),
                Ok(Ok(())) => {}
            }
        }
        (finished, TimeHandle::current().elapsed(), liveness)
    });
    drop(rt);
    let events = rec.take();
    let n = events.len().saturating_sub(1);
    RunOutput {
        events,
        liveness: liveness.map(|l| (n, l)),
        finished,
        sim_elapsed,
    }
}
