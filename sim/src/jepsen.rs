//! The multi-client (Jepsen-style) runner, madsim only: one redsim server
//! node (optionally persisting on a crashing simulated disk), `clients`
//! client nodes running the register / counter / set-add / list-append
//! workloads concurrently, and a nemesis that injects the seed's faults.
//!
//! Phases: (1) workload + faults, (2) heal everything (`Heal` event),
//! (3) liveness: every client must complete `FINAL_OPS` operations within
//! `FINAL_DEADLINE_MS` of simulated time, (4) convergence: the server's
//! dataset must equal the replay of every command it applied (`Final`).
//!
//! Faults (each recorded as a `Fault` start/end event, for the checker
//! context and the timeline): kill+restart (with a disk crash when
//! persisting), pause/resume, server isolation, client-side cuts, one-way
//! loss of replies, latency spikes, packet loss (TCP retransmits), disk
//! EIO periods (under `always` the server exits and is restarted, as
//! systemd would), server clock jumps. The nemesis runs faults one at a
//! time at random points of the workload's progress.
//!
//! With `replicas > 0`, replica nodes run `replicaof` the server; the
//! WAIT workload (`w`: SET then WAIT) is checked when its reply arrives:
//! WAIT may count only replicas that hold the write (or were killed since:
//! their acknowledgement may predate the kill), and after the heal every
//! replica must reach the master's offset with the master's dataset.
//! Replication faults cut a replica's link or kill and restart it.
//!
//! Invariant: everything random comes from madsim's seeded rng or the
//! seed; ids are distinct across clients (client `c` numbers connections
//! from `c * CONN_STRIDE` and requests from `c << 40`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::net::NetSim;
use madsim::rand::{thread_rng, Rng};
use madsim::runtime::{Handle, Runtime};
use madsim::time::{sleep, timeout, TimeHandle};
use redsim_core::disk::{SharedSimDisk as SharedDisk, SimDisk};
use redsim_server::Shared;

use crate::history::{EventKind, Op};
use crate::scenario::{
    server_main, splitmix64, Client, JumpClock, NodeCfg, Oracle, Recorder, RunOutput, PORT,
    SERVER_IP,
};
use crate::{SelfTest, SimOptions};

const CONN_STRIDE: u32 = 1_000_000;
/// Operations each client must complete in the final fault-free phase.
const FINAL_OPS: usize = 3;
/// ... within this much simulated time after the heal.
const FINAL_DEADLINE_MS: u64 = 20_000;

fn replica_ip(r: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 2, (r + 1) as u8))
}

/// Replication settings for every node: sync at once, notice a dead link
/// within seconds (the simulated runs are short).
pub(crate) fn repl_args() -> Vec<String> {
    [
        "--repl-diskless-sync-delay",
        "0",
        "--repl-timeout",
        "3",
        "--repl-ping-replica-period",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn client_ip(c: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, (c + 1) as u8))
}

/// One random op of one of the enabled workloads. Elements and values are
/// unique in the run (`uniq`), as the checkers require.
fn gen_op(rng: &mut impl Rng, workloads: &[char], keys: usize, uniq: u64, multi: bool) -> Op {
    let w = workloads[rng.gen_range(0..workloads.len())];
    let k = rng.gen_range(0..keys.max(1));
    let key = format!("{w}{k}");
    match w {
        'p' => Op::Pipeline {
            ops: vec![
                Op::Incr {
                    key: format!("p{k}"),
                },
                Op::RPush {
                    key: format!("p{k}l"),
                    elem: uniq,
                },
                Op::Incr {
                    key: format!("p{k}"),
                },
                Op::Set {
                    key: format!("p{uniq}"),
                    val: b"1".to_vec(),
                    ttl: None,
                    cond: None,
                    keepttl: false,
                    get: false,
                },
            ],
        },
        'w' => Op::SetWait {
            key: format!("w{uniq}"),
            num: 1 + rng.gen_range(0..2),
            timeout_ms: rng.gen_range(1..300),
        },
        'r' => {
            if rng.gen_bool(0.5) {
                Op::Get { key }
            } else {
                Op::Set {
                    key,
                    val: format!("v{uniq}").into_bytes(),
                    ttl: None,
                    cond: None,
                    keepttl: false,
                    get: false,
                }
            }
        }
        'c' => {
            if rng.gen_bool(0.7) {
                Op::Incr { key }
            } else {
                Op::Get { key }
            }
        }
        's' => {
            if rng.gen_bool(0.7) {
                Op::SAdd { key, elem: uniq }
            } else {
                Op::SMembers { key }
            }
        }
        'q' => {
            if rng.gen_bool(0.5) {
                Op::LPush { key, elem: uniq }
            } else {
                Op::BRPop {
                    key,
                    timeout_ms: rng.gen_range(50..800),
                }
            }
        }
        _ => match rng.gen_range(0..10) {
            0..=2 => Op::RPush { key, elem: uniq },
            3 if multi => Op::AbortedMulti {
                ops: vec![
                    Op::RPush {
                        key: key.clone(),
                        elem: uniq | (1 << 61),
                    },
                    Op::LRange { key },
                ],
            },
            3..=6 => Op::LRange { key },
            _ if multi => {
                // A transaction over two keys: pushes then a read.
                let key2 = format!("l{}", rng.gen_range(0..keys.max(1)));
                Op::Multi {
                    ops: vec![
                        Op::RPush {
                            key: key.clone(),
                            elem: uniq,
                        },
                        Op::RPush {
                            key: key2.clone(),
                            elem: uniq | (1 << 62),
                        },
                        Op::LRange { key },
                        Op::LRange { key: key2 },
                    ],
                }
            }
            _ => Op::LRange { key },
        },
    }
}

struct Ctl {
    progress: AtomicUsize,
    clients_done: AtomicUsize,
    healed: AtomicBool,
    /// Clients done with their final-phase operations.
    final_done: AtomicUsize,
    /// Client ids whose final phase failed, with the reason.
    final_failures: Mutex<Vec<String>>,
    /// The replicas' live incarnations and their kill counters.
    replica_slots: Vec<Arc<Mutex<Option<Arc<Shared>>>>>,
    replica_kills: Vec<AtomicU64>,
    /// The original server's slot (node 0; replica r is node r + 1).
    server_slot: Arc<Mutex<Option<Arc<Shared>>>>,
    /// The node clients write to (changes with failovers).
    master: AtomicUsize,
    /// A failover is switching: clients hold their next op.
    paused: AtomicBool,
    /// Clients with an op on the wire.
    inflight: AtomicUsize,
}

impl Ctl {
    fn node_slot(&self, n: usize) -> Option<Arc<Shared>> {
        let slot = if n == 0 {
            &self.server_slot
        } else {
            self.replica_slots.get(n - 1)?
        };
        slot.lock().ok().and_then(|s| s.clone())
    }

    fn nodes(&self) -> usize {
        1 + self.replica_slots.len()
    }
}

fn node_ip(n: usize) -> IpAddr {
    if n == 0 {
        SERVER_IP
    } else {
        replica_ip(n - 1)
    }
}

/// Run one command on node `n` as an internal client (the nemesis's
/// admin connection), delivering its effects like a connection would.
async fn admin(ctl: &Ctl, n: usize, argv: &[&str]) -> Option<String> {
    let sh = ctl.node_slot(n)?;
    let mut srv = sh.srv.lock().await;
    let now = sh.clock.now_ms();
    let h = srv.new_client("nemesis".into(), String::new(), -1, now);
    srv.clients.get_mut(h).authenticated = true;
    let mut out = redsim_core::resp::Reply::new();
    let args: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
    srv.execute(h, &args, now, &mut out);
    srv.free_client(h);
    let fx = srv.take_effects();
    drop(srv);
    sh.log_effects(&fx);
    sh.after_effects(&fx);
    Some(String::from_utf8_lossy(&out.buf).into_owned())
}

/// (link up or master, offset) of node `n`.
async fn repl_state(ctl: &Ctl, n: usize) -> Option<(bool, u64)> {
    let sh = ctl.node_slot(n)?;
    let srv = sh.srv.lock().await;
    Some((
        !srv.repl.is_replica() || srv.repl.link_up(),
        srv.repl.master_repl_offset,
    ))
}

async fn client_task(c: usize, opts: SimOptions, rec: Recorder, ctl: Arc<Ctl>) {
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
    let workloads: Vec<char> = opts
        .workloads
        .chars()
        .filter(|w| matches!(w, 'r' | 'c' | 's' | 'l' | 'q' | 'w' | 'p'))
        .collect();
    let workloads = if workloads.is_empty() {
        vec!['r']
    } else {
        workloads
    };
    for i in 0..opts.ops {
        follow_master(&mut cl, &ctl).await;
        let uniq = ((c as u64) << 32) | i as u64;
        let op = gen_op(&mut thread_rng(), &workloads, opts.keys, uniq, true);
        // Blocked clients that hang up: a BRPOP's client sometimes gives up
        // (disconnects) before the server's timeout.
        let give_up = matches!(op, Op::BRPop { .. }) && thread_rng().gen_bool(0.3);
        if give_up {
            cl.op_timeout = Duration::from_millis(thread_rng().gen_range(10..400));
        }
        if let Op::SetWait { key, .. } = &op {
            let key = key.clone();
            let kills: Vec<u64> = ctl
                .replica_kills
                .iter()
                .map(|k| k.load(Ordering::SeqCst))
                .collect();
            let r = cl.exec(op).await;
            if let Some(crate::resp::Reply::Int(n)) = r {
                check_wait(&rec, &ctl, &key, n, &kills).await;
            }
        } else {
            ctl.inflight.fetch_add(1, Ordering::SeqCst);
            cl.exec(op).await;
            ctl.inflight.fetch_sub(1, Ordering::SeqCst);
        }
        cl.op_timeout = Duration::from_millis(opts.op_timeout_ms);
        ctl.progress.fetch_add(1, Ordering::SeqCst);
        let think = thread_rng().gen_range(0..=opts.max_think_ms);
        if think > 0 {
            sleep(Duration::from_millis(think)).await;
        }
    }
    ctl.clients_done.fetch_add(1, Ordering::SeqCst);
    while !ctl.healed.load(Ordering::SeqCst) {
        sleep(Duration::from_millis(50)).await;
    }
    // Final phase: fresh connection, a few ops, each must succeed in time.
    cl.conn = None;
    let deadline = TimeHandle::current().elapsed() + Duration::from_millis(FINAL_DEADLINE_MS);
    let mut ok = 0;
    let mut i = opts.ops;
    while ok < FINAL_OPS {
        if TimeHandle::current().elapsed() > deadline {
            if let Ok(mut f) = ctl.final_failures.lock() {
                f.push(format!(
                    "client {c} completed only {ok} of {FINAL_OPS} operations within {FINAL_DEADLINE_MS} ms after the heal"
                ));
            }
            return;
        }
        let uniq = ((c as u64) << 32) | i as u64;
        i += 1;
        follow_master(&mut cl, &ctl).await;
        // Queues stay untouched now: client 1 drains them at the end.
        let op = match gen_op(&mut thread_rng(), &workloads, opts.keys, uniq, false) {
            Op::LPush { key, .. } | Op::BRPop { key, .. } => Op::LRange { key },
            op => op,
        };
        if let Some(r) = cl.exec(op).await {
            if !matches!(r, crate::resp::Reply::Error(_)) {
                ok += 1;
            }
        } else {
            sleep(Duration::from_millis(100)).await;
        }
    }
    ctl.final_done.fetch_add(1, Ordering::SeqCst);
    if c == 0 && workloads.contains(&'q') {
        // Everyone finished: read what is left in every queue (the queue
        // checker's final state).
        while ctl.final_done.load(Ordering::SeqCst) < opts.clients.max(1) {
            sleep(Duration::from_millis(20)).await;
        }
        for k in 0..opts.keys.max(1) {
            while cl
                .exec(Op::LRange {
                    key: format!("q{k}"),
                })
                .await
                .is_none()
            {
                sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Wait out a failover's switch, then talk to the current master.
async fn follow_master(cl: &mut Client, ctl: &Ctl) {
    while ctl.paused.load(Ordering::SeqCst) {
        sleep(Duration::from_millis(5)).await;
    }
    let want = SocketAddr::new(node_ip(ctl.master.load(Ordering::SeqCst)), PORT);
    if cl.addr != want {
        cl.addr = want;
        cl.conn = None;
    }
}

/// WAIT answered `n`: at least `n` replicas must hold `key` now, not
/// counting those killed since the request (`kills` before it).
async fn check_wait(rec: &Recorder, ctl: &Ctl, key: &str, n: i64, kills: &[u64]) {
    let mut holders = 0;
    for (i, slot) in ctl.replica_slots.iter().enumerate() {
        if ctl.replica_kills[i].load(Ordering::SeqCst) != kills[i] {
            holders += 1;
            continue;
        }
        let sh = slot.lock().ok().and_then(|s| s.clone());
        if let Some(sh) = sh {
            let srv = sh.srv.lock().await;
            if srv.ks.dbs[0].table.find(key.as_bytes()).is_some() {
                holders += 1;
            }
        }
    }
    if n > holders {
        rec.log(EventKind::Violation {
            what: format!(
                "WAIT replied {n} for the write of {key}, but only {holders} replica(s) have it"
            ),
        });
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Kill,
    Partition,
    Pause,
    ClientCut,
    OneWay,
    Spike,
    Loss,
    Disk,
    ClockJump,
    /// A replica's link to the master cut both ways for a while.
    ReplCut,
    /// A replica killed and restarted (in-memory: it full-syncs again).
    ReplKill,
    /// A coordinated failover to another node.
    Failover,
}

/// Log a fault's start (`on`) or end.
pub(crate) fn fault_event(rec: &Recorder, name: &str, target: &str, on: bool) {
    rec.log(EventKind::Fault {
        name: name.into(),
        target: target.into(),
        on,
    });
}

/// One-way latency 50..400 ms on the whole network for `dur_ms`, then
/// back to `base`.
pub(crate) async fn latency_spike(rec: &Recorder, base: std::ops::Range<Duration>, dur_ms: u64) {
    let net = NetSim::current();
    fault_event(rec, "latency-spike", "network", true);
    net.update_config(|c| {
        c.send_latency = Duration::from_millis(50)..Duration::from_millis(400);
    });
    sleep(Duration::from_millis(dur_ms)).await;
    net.update_config(|c| c.send_latency = base);
    fault_event(rec, "latency-spike", "network", false);
}

/// Packet loss at a random rate in 0.05..`max_rate` for `dur_ms` (TCP
/// retransmits: long, irregular delays).
pub(crate) async fn packet_loss(rec: &Recorder, max_rate: f64, dur_ms: u64) {
    let net = NetSim::current();
    let rate = thread_rng().gen_range(0.05..max_rate);
    fault_event(rec, "packet-loss", &format!("network {rate:.2}"), true);
    net.update_config(|c| c.packet_loss_rate = rate);
    sleep(Duration::from_millis(dur_ms)).await;
    net.update_config(|c| c.packet_loss_rate = 0.0);
    fault_event(rec, "packet-loss", "network", false);
}

struct Nemesis {
    opts: SimOptions,
    rec: Recorder,
    server: madsim::task::NodeId,
    clients: Vec<madsim::task::NodeId>,
    disk: Option<SharedDisk>,
    slot: Arc<Mutex<Option<Arc<Shared>>>>,
    skew_ms: Arc<AtomicI64>,
    start_failed: Arc<AtomicBool>,
    ctl: Arc<Ctl>,
    base_latency: std::ops::Range<Duration>,
    replicas: Vec<madsim::task::NodeId>,
}

impl Nemesis {
    /// FAILOVER as Redis's coordinated switch does it: hold the clients,
    /// cut them from the master (late packets must not land), wait for the
    /// replicas to reach the master's offset, promote the target, repoint
    /// everyone.
    /// Gives up (everything restored) if the target does not catch up.
    async fn failover(&self) {
        let ctl = &self.ctl;
        let m = ctl.master.load(Ordering::SeqCst);
        let n = ctl.nodes();
        let t = (m + 1 + thread_rng().gen_range(0..n - 1)) % n;
        let net = NetSim::current();
        let mnode = self.node_id(m);
        let what = format!("node-{m} -> node-{t}");
        self.fault("failover", &what, true);
        ctl.paused.store(true, Ordering::SeqCst);
        for &c in &self.clients {
            net.clog_link(c, mnode);
        }
        let deadline = TimeHandle::current().elapsed() + Duration::from_millis(5000);
        let mut caught_up = false;
        // Every node, not only the target: a node still resyncing with the
        // previous master would ask the new one for a history two ids back
        // (only one previous id is kept, as in Redis) and need a full sync.
        while TimeHandle::current().elapsed() < deadline {
            let mut all = ctl.inflight.load(Ordering::SeqCst) == 0;
            if let Some((_, mo)) = repl_state(ctl, m).await {
                for o in (0..n).filter(|&o| o != m) {
                    all &= repl_state(ctl, o).await == Some((true, mo));
                }
            } else {
                all = false;
            }
            if all {
                caught_up = true;
                break;
            }
            sleep(Duration::from_millis(10)).await;
        }
        if caught_up {
            let tip = node_ip(t).to_string();
            let port = PORT.to_string();
            admin(ctl, t, &["REPLICAOF", "NO", "ONE"]).await;
            for o in 0..n {
                if o != t {
                    admin(ctl, o, &["REPLICAOF", &tip, &port]).await;
                }
            }
            ctl.master.store(t, Ordering::SeqCst);
        }
        for &c in &self.clients {
            net.unclog_link(c, mnode);
        }
        ctl.paused.store(false, Ordering::SeqCst);
        self.fault(
            "failover",
            &format!("{what}{}", if caught_up { "" } else { " (aborted)" }),
            false,
        );
    }

    fn node_id(&self, n: usize) -> madsim::task::NodeId {
        if n == 0 {
            self.server
        } else {
            self.replicas[n - 1]
        }
    }

    fn fault(&self, name: &str, target: &str, on: bool) {
        fault_event(&self.rec, name, target, on);
    }

    fn server_dead(&self) -> bool {
        if self.start_failed.swap(false, Ordering::SeqCst) {
            return true;
        }
        self.slot
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|s| s.is_dead()))
            .unwrap_or(false)
    }

    /// Kill (crashing the disk) and restart the server.
    async fn kill_restart(&self, down_ms: u64) {
        let handle = Handle::current();
        self.rec.log(EventKind::Kill);
        handle.kill(self.server);
        if let Some(d) = &self.disk {
            d.with(|d| {
                d.faults.fail_next_fsyncs = 0;
                d.faults.fsync_fail_prob = 0.0;
                d.faults.write_fail_prob = 0.0;
                d.crash();
            });
        }
        sleep(Duration::from_millis(down_ms)).await;
        handle.restart(self.server);
        self.rec.log(EventKind::Restart);
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
            add(o.client_cuts, Fault::ClientCut);
            add(o.one_way, Fault::OneWay);
            add(o.spikes, Fault::Spike);
            add(o.loss, Fault::Loss);
            add(
                if self.disk.is_some() {
                    o.disk_faults
                } else {
                    0
                },
                Fault::Disk,
            );
            add(o.clock_jumps, Fault::ClockJump);
            if o.replicas > 0 {
                for _ in 0..o.failovers {
                    plan.push((rng.gen_range(0..total), Fault::Failover));
                }
                for _ in 0..o.repl_faults {
                    let f = if o.failovers > 0 || rng.gen_bool(0.5) {
                        Fault::ReplCut
                    } else {
                        Fault::ReplKill
                    };
                    plan.push((rng.gen_range(0..total), f));
                }
            }
        }
        plan.sort();
        let net = NetSim::current();
        let handle = Handle::current();
        let nclients = o.clients.max(1);
        for (at, fault) in plan {
            while self.ctl.progress.load(Ordering::SeqCst) < at
                && self.ctl.clients_done.load(Ordering::SeqCst) < nclients
            {
                sleep(Duration::from_millis(5)).await;
                if self.server_dead() {
                    // A fatal error (e.g. fsync EIO under `always`): restart.
                    self.kill_restart(200).await;
                }
            }
            if self.ctl.clients_done.load(Ordering::SeqCst) >= nclients {
                break;
            }
            let (dur, c) = {
                let mut rng = thread_rng();
                (
                    rng.gen_range(50..o.max_partition_ms.max(51)),
                    rng.gen_range(0..self.clients.len().max(1)),
                )
            };
            let client = self.clients.get(c).copied();
            let cname = format!("client-{}", c + 1);
            match fault {
                Fault::Kill => {
                    let down = thread_rng().gen_range(0..1000);
                    self.kill_restart(down).await;
                }
                Fault::Partition => {
                    self.fault("partition", "server", true);
                    net.clog_node(self.server);
                    sleep(Duration::from_millis(dur)).await;
                    net.unclog_node(self.server);
                    self.fault("partition", "server", false);
                }
                Fault::Pause => {
                    self.fault("pause", "server", true);
                    handle.pause(self.server);
                    sleep(Duration::from_millis(dur)).await;
                    handle.resume(self.server);
                    self.fault("pause", "server", false);
                }
                Fault::ClientCut => {
                    let Some(cl) = client else { continue };
                    self.fault("cut", &cname, true);
                    net.clog_link(cl, self.server);
                    net.clog_link(self.server, cl);
                    sleep(Duration::from_millis(dur)).await;
                    net.unclog_link(cl, self.server);
                    net.unclog_link(self.server, cl);
                    self.fault("cut", &cname, false);
                }
                Fault::OneWay => {
                    let Some(cl) = client else { continue };
                    self.fault("one-way", &format!("server->{cname}"), true);
                    net.clog_link(self.server, cl);
                    sleep(Duration::from_millis(dur)).await;
                    net.unclog_link(self.server, cl);
                    self.fault("one-way", &format!("server->{cname}"), false);
                }
                Fault::Spike => latency_spike(&self.rec, self.base_latency.clone(), dur).await,
                Fault::Loss => packet_loss(&self.rec, 0.4, dur).await,
                Fault::Disk => {
                    let Some(d) = &self.disk else { continue };
                    self.fault("disk-eio", "server", true);
                    d.with(|d| {
                        d.faults.fsync_fail_prob = 0.3;
                        d.faults.write_fail_prob = 0.1;
                    });
                    sleep(Duration::from_millis(dur)).await;
                    d.with(|d| {
                        d.faults.fsync_fail_prob = 0.0;
                        d.faults.write_fail_prob = 0.0;
                    });
                    self.fault("disk-eio", "server", false);
                }
                Fault::ReplCut | Fault::ReplKill => {
                    if self.replicas.is_empty() {
                        continue;
                    }
                    let r = thread_rng().gen_range(0..self.replicas.len());
                    let node = self.replicas[r];
                    let name = format!("replica-{}", r + 1);
                    if fault == Fault::ReplCut {
                        self.fault("repl-cut", &name, true);
                        net.clog_link(node, self.server);
                        net.clog_link(self.server, node);
                        sleep(Duration::from_millis(dur * 4)).await;
                        net.unclog_link(node, self.server);
                        net.unclog_link(self.server, node);
                        self.fault("repl-cut", &name, false);
                    } else {
                        self.fault("replica-kill", &name, true);
                        self.ctl.replica_kills[r].fetch_add(1, Ordering::SeqCst);
                        handle.kill(node);
                        sleep(Duration::from_millis(dur)).await;
                        handle.restart(node);
                        self.fault("replica-kill", &name, false);
                    }
                }
                Fault::Failover => self.failover().await,
                Fault::ClockJump => {
                    let jump = {
                        let mut rng = thread_rng();
                        let ms = rng.gen_range(1_000..30_000);
                        if rng.gen_bool(0.5) {
                            ms
                        } else {
                            -ms
                        }
                    };
                    self.skew_ms.fetch_add(jump, Ordering::SeqCst);
                    self.fault("clock-jump", &format!("server {jump:+}ms"), true);
                }
            }
            if self.server_dead() {
                self.kill_restart(200).await;
            }
        }
        // Heal: wait for the clients, then undo everything.
        while self.ctl.clients_done.load(Ordering::SeqCst) < nclients {
            sleep(Duration::from_millis(20)).await;
            if self.server_dead() {
                self.kill_restart(200).await;
            }
        }
        net.unclog_node(self.server);
        for &r in &self.replicas {
            net.unclog_link(r, self.server);
            net.unclog_link(self.server, r);
        }
        for &c in &self.clients {
            net.unclog_link(c, self.server);
            net.unclog_link(self.server, c);
        }
        let base = self.base_latency.clone();
        net.update_config(|c| {
            c.send_latency = base;
            c.packet_loss_rate = 0.0;
        });
        handle.resume(self.server);
        if let Some(d) = &self.disk {
            d.with(|d| {
                d.faults.fsync_fail_prob = 0.0;
                d.faults.write_fail_prob = 0.0;
            });
        }
        if self.server_dead() {
            self.kill_restart(200).await;
        }
        self.rec.log(EventKind::Heal);
        self.ctl.healed.store(true, Ordering::SeqCst);
    }
}

/// After the heal: every other node must reach the current master's
/// offset (within `FINAL_DEADLINE_MS`, else a liveness failure) and then
/// hold exactly its dataset (else a safety violation, logged). With
/// failovers, every resync after the initial full syncs must have been
/// partial (PSYNC2: the nodes never restart in that mode).
async fn converge_replicas(ctl: &Ctl, rec: &Recorder, failovers: bool) -> Result<(), String> {
    let deadline = TimeHandle::current().elapsed() + Duration::from_millis(FINAL_DEADLINE_MS);
    let m = ctl.master.load(Ordering::SeqCst);
    for i in (0..ctl.nodes()).filter(|&i| i != m) {
        loop {
            if let (Some(ms), Some(rs)) = (ctl.node_slot(m), ctl.node_slot(i)) {
                let ms = ms.srv.lock().await;
                let rs = rs.srv.lock().await;
                if rs.repl.link_up() && rs.repl.master_repl_offset == ms.repl.master_repl_offset {
                    let a = crate::oracle::fingerprint(&ms.ks);
                    let b = crate::oracle::fingerprint(&rs.ks);
                    if a != b {
                        rec.log(EventKind::Violation {
                            what: format!(
                                "node-{i} reached the master's (node-{m}) offset {} with a different dataset",
                                ms.repl.master_repl_offset
                            ),
                        });
                    }
                    break;
                }
            }
            if TimeHandle::current().elapsed() > deadline {
                return Err(format!(
                    "node-{i} did not catch up with the master (node-{m}) within {FINAL_DEADLINE_MS} ms after the heal"
                ));
            }
            sleep(Duration::from_millis(50)).await;
        }
    }
    if failovers {
        let mut full = 0;
        for i in 0..ctl.nodes() {
            if let Some(sh) = ctl.node_slot(i) {
                full += sh.srv.lock().await.repl.full_syncs_loaded;
            }
        }
        let initial = ctl.replica_slots.len() as u64;
        if full != initial {
            rec.log(EventKind::Violation {
                what: format!(
                    "{} full resync(s) loaded after the initial {initial}: a failover or a link flap did not resume with PSYNC",
                    full.saturating_sub(initial)
                ),
            });
        }
    }
    Ok(())
}

/// The options a multi-client run uses: swarm derived, and no kills unless
/// the server persists with `appendfsync always` (only then are the
/// workloads linearizable across a crash; the strings runner judges the
/// other policies with their loss windows).
pub fn effective(seed: u64, opts: &SimOptions) -> SimOptions {
    let mut o = opts.derive(seed);
    // The Sentinel runner kills in-memory masters on purpose (its checker
    // attributes what a failover loses).
    if o.appendfsync.as_deref() != Some("always") && o.sentinels == 0 {
        o.kills = 0;
    }
    if o.appendfsync.is_none() {
        o.disk_faults = 0;
    }
    o
}

/// Run one seed of the multi-client runner. Panics propagate.
pub fn run(seed: u64, opts: &SimOptions) -> RunOutput {
    if opts.sentinels > 0 {
        return crate::ha::run(seed, opts);
    }
    let opts = effective(seed, opts);
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
        let epoch = Arc::new(AtomicU64::new(0));
        let disk = opts.appendfsync.as_ref().map(|_| {
            let mut d = SimDisk::new(splitmix64(seed ^ 0xD15C));
            d.faults.torn_writes = true;
            SharedDisk::new(d)
        });
        let slot = Arc::new(Mutex::new(None));
        // The recorder stamps events with the server's clock.
        let skew_ms = rec2.1.clone();
        let start_failed = Arc::new(AtomicBool::new(false));
        let planted = match opts.selftest {
            Some(SelfTest::LostIncrement) => redsim_core::planted::LOST_INCREMENT,
            Some(SelfTest::DuplicateElement) => redsim_core::planted::DUPLICATE_ELEMENT,
            Some(SelfTest::StaleRead) => redsim_core::planted::STALE_AFTER_RESTART,
            Some(SelfTest::WaitEarly) => redsim_core::planted::WAIT_EARLY,
            Some(SelfTest::ForgetReplid2) => redsim_core::planted::FORGET_REPLID2,
            _ => 0,
        };
        let node = NodeCfg {
            seed,
            hz: opts.hz,
            loglevel: if opts.server_log { "notice" } else { "nothing" },
            persist: disk.clone().zip(opts.appendfsync.clone()),
            ack_before_fsync: opts.selftest == Some(SelfTest::AckBeforeFsync),
            oracle: Oracle::default(),
            rec: rec2.clone(),
            bg_jobs: true,
            slot: slot.clone(),
            clock: Arc::new(JumpClock {
                skew_ms: skew_ms.clone(),
            }),
            planted,
            start_failed: start_failed.clone(),
            replicaof: None,
            extra_args: repl_args(),
            quiet: false,
            setup: None,
        };
        let oracle = node.oracle.clone();
        let node_for_replicas = node.clone();
        let server = handle
            .create_node()
            .name("redsim-1")
            .ip(SERVER_IP)
            .init(move || {
                let e = epoch.fetch_add(1, Ordering::SeqCst);
                server_main(node.clone(), e)
            })
            .build();
        // Replicas: in-memory nodes following the server.
        let mut replica_nodes = Vec::new();
        let mut replica_slots = Vec::new();
        for r in 0..opts.replicas {
            let rslot = Arc::new(Mutex::new(None));
            let mut rcfg = node_for_replicas.clone();
            rcfg.persist = None;
            rcfg.ack_before_fsync = false;
            rcfg.oracle = Oracle::default();
            rcfg.bg_jobs = false;
            rcfg.slot = rslot.clone();
            rcfg.clock = Arc::new(JumpClock {
                skew_ms: Arc::new(AtomicI64::new(0)),
            });
            // Promotions happen on replicas: the replid2 bug goes there too.
            rcfg.planted = planted & redsim_core::planted::FORGET_REPLID2;
            rcfg.start_failed = Arc::new(AtomicBool::new(false));
            rcfg.replicaof = Some(format!("{SERVER_IP} {PORT}"));
            rcfg.quiet = true;
            rcfg.seed = splitmix64(seed ^ (0x5EED_0000 + r as u64));
            let repoch = Arc::new(AtomicU64::new(0));
            let n = handle
                .create_node()
                .name(format!("replica-{}", r + 1))
                .ip(replica_ip(r))
                .init(move || {
                    let e = repoch.fetch_add(1, Ordering::SeqCst);
                    server_main(rcfg.clone(), e)
                })
                .build();
            replica_nodes.push(n.id());
            replica_slots.push(rslot);
        }
        let ctl = Arc::new(Ctl {
            progress: AtomicUsize::new(0),
            clients_done: AtomicUsize::new(0),
            healed: AtomicBool::new(false),
            final_done: AtomicUsize::new(0),
            final_failures: Mutex::new(Vec::new()),
            replica_kills: replica_slots.iter().map(|_| AtomicU64::new(0)).collect(),
            replica_slots,
            server_slot: slot.clone(),
            master: AtomicUsize::new(0),
            paused: AtomicBool::new(false),
            inflight: AtomicUsize::new(0),
        });
        let nclients = opts.clients.max(1);
        let mut client_nodes = Vec::new();
        let mut tasks = Vec::new();
        for c in 0..nclients {
            let n = handle
                .create_node()
                .name(format!("client-{}", c + 1))
                .ip(client_ip(c))
                .build();
            client_nodes.push(n.id());
            tasks.push(n.spawn(client_task(c, opts.clone(), rec2.clone(), ctl.clone())));
        }
        let nemesis = Nemesis {
            opts: opts.clone(),
            rec: rec2.clone(),
            server: server.id(),
            clients: client_nodes,
            disk,
            slot: slot.clone(),
            skew_ms,
            start_failed,
            ctl: ctl.clone(),
            base_latency,
            replicas: replica_nodes,
        };
        let _nem = madsim::task::spawn(nemesis.run());
        let all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        let finished = timeout(budget, all).await.is_ok();
        let mut liveness = ctl
            .final_failures
            .lock()
            .ok()
            .and_then(|f| f.first().cloned());
        if finished && liveness.is_none() {
            // Convergence: the dataset is the replay of everything applied.
            let shared = slot.lock().ok().and_then(|s| s.clone());
            if let Some(sh) = shared {
                let srv = sh.srv.lock().await;
                let fp = crate::oracle::fingerprint(&srv.ks);
                let now = srv.ks.now_ms;
                drop(srv);
                if let Ok(log) = oracle.0.lock() {
                    let prefix = crate::oracle::matching_prefix(&log, &fp, now);
                    rec2.log(EventKind::Final {
                        prefix: prefix.map(|p| p as u64),
                        applied: log.len() as u64,
                    });
                }
            } else {
                liveness = Some("the server never started".into());
            }
        }
        if finished && liveness.is_none() && !ctl.replica_slots.is_empty() {
            if let Err(e) = converge_replicas(&ctl, &rec2, opts.failovers > 0).await {
                liveness = Some(e);
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
