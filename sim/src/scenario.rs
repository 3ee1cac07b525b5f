//! One seeded simulation run (only under `--cfg madsim`): a redsim server
//! node, a client node running a random workload over simulated TCP, and a
//! supervisor that kills/restarts (and optionally partitions) the server.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::net::NetSim;
use madsim::rand::{thread_rng, Rng};
use madsim::runtime::{Handle, Runtime};
use madsim::task::NodeId;
use madsim::time::{sleep, timeout, TimeHandle};
use redsim_core::config::Config;
use redsim_core::disk::{SharedSimDisk as SharedDisk, SimDisk};
use redsim_core::{Server, ServerEnv};
use redsim_server::{accept_loop, cron_loop, Clock, Logger, Shared, SystemClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::history::{Cond, Event, EventKind, ExpFlag, Op, Ttl};
use crate::resp::{encode_command, parse_reply, Reply};
use crate::{SelfTest, SimOptions};

pub(crate) const SERVER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
pub(crate) const PORT: u16 = 6379;

/// Everything one run produced.
pub struct RunOutput {
    pub events: Vec<Event>,
    /// A liveness failure found by the runner itself (event index, text).
    pub liveness: Option<(usize, String)>,
    /// False if the workload did not finish within the simulated budget.
    pub finished: bool,
    pub sim_elapsed: Duration,
}

/// Every command the server applied, in order, across incarnations (cut to
/// the recovered prefix at each restart): see oracle.rs.
#[derive(Clone, Default)]
pub(crate) struct Oracle(pub Arc<Mutex<Vec<redsim_core::db::Propagated>>>);

/// The shared, append-only history.
/// Events carry the server's clock (`t_ms`): the simulated wall clock plus
/// the skew clock jumps added, so the checker reasons in server time.
#[derive(Clone, Default)]
pub(crate) struct Recorder(Arc<Mutex<Vec<Event>>>, pub(crate) Arc<AtomicI64>);

/// The server's clock: the simulated wall clock plus a skew that clock
/// jumps move.
pub(crate) struct JumpClock {
    pub skew_ms: Arc<AtomicI64>,
}

impl Clock for JumpClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.skew_ms.load(Ordering::SeqCst)
    }
}

impl Recorder {
    pub(crate) fn log(&self, kind: EventKind) {
        let t_ns = TimeHandle::current().elapsed().as_nanos() as u64;
        let t_ms = SystemClock.now_ms() + self.1.load(Ordering::SeqCst);
        if let Ok(mut v) = self.0.lock() {
            v.push(Event { t_ns, t_ms, kind });
        }
    }
    pub(crate) fn take(&self) -> Vec<Event> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Everything a server node needs, cloned into each incarnation.
#[derive(Clone)]
pub(crate) struct NodeCfg {
    pub seed: u64,
    pub hz: u32,
    pub loglevel: &'static str,
    pub persist: Option<(SharedDisk, String)>,
    pub ack_before_fsync: bool,
    pub oracle: Oracle,
    pub rec: Recorder,
    /// Start BGSAVEs/rewrites at random moments (persisting runs).
    pub bg_jobs: bool,
    /// The live incarnation's shared state, for the supervisor.
    pub slot: Arc<Mutex<Option<Arc<Shared>>>>,
    /// The server's clock (skews and jumps come through it).
    pub clock: Arc<dyn Clock>,
    /// Planted engine bugs (`redsim_core::planted`), for selftests.
    pub planted: u32,
    /// Set when an incarnation could not start (an injected disk error):
    /// the supervisor restarts it.
    pub start_failed: Arc<AtomicBool>,
    /// `replicaof` this address ("ip port"): a replica node.
    pub replicaof: Option<String>,
    /// Extra `--name value` server arguments.
    pub extra_args: Vec<String>,
    /// Not the server under the oracle (replicas): no Recovered events,
    /// no applied-command log.
    pub quiet: bool,
    /// Called on each incarnation's engine before it serves (a runner's
    /// observers: the Sentinel runner records writes and promotions).
    pub setup: Option<Arc<dyn Fn(&mut Server) + Send + Sync>>,
}

/// The server node's init task (re-run by every restart, `epoch` counts them).
pub(crate) async fn server_main(n: NodeCfg, epoch: u64) {
    let NodeCfg {
        seed,
        hz,
        loglevel,
        persist,
        ack_before_fsync,
        oracle,
        rec,
        bg_jobs,
        slot,
        clock,
        planted,
        start_failed,
        replicaof,
        extra_args,
        quiet,
        setup,
    } = n;
    let mut cfg = Config::new();
    let mut args = vec!["--hz".to_string(), hz.to_string()];
    if let Some((_, policy)) = &persist {
        args.extend([
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            policy.clone(),
        ]);
    }
    args.extend(extra_args);
    if let Some(m) = &replicaof {
        args.extend(["--replicaof".to_string(), m.clone()]);
    }
    if let Err(e) = cfg.load(None, &args) {
        panic!("server config: {e}");
    }
    let pid = 1000 + epoch as u32;
    let env = ServerEnv {
        pid,
        tcp_port: PORT,
        executable: "redsim-sim".into(),
        config_file: String::new(),
        os: "madsim".into(),
        arch_bits: 64,
        start_ms: clock.now_ms(),
        run_id: String::new(),
        version: "7.0.15".into(),
        // Derived from the simulation seed, distinct per incarnation.
        rng_seed: splitmix64(seed ^ splitmix64(epoch)),
        // Many nodes share this process: no per-node allocator figure.
        mem_used: None,
        total_system_memory: 0,
    };
    let mut srv = Server::new(cfg, env);
    srv.ks.planted = planted;
    srv.repl.planted = planted;
    let persisting = persist.is_some();
    if let Some((disk, _)) = persist {
        srv.persist.disk = Some(Box::new(disk));
        // A crash must always leave files the server can start from.
        if let Err(e) = srv.load_at_startup() {
            if e.contains("Input/output error") {
                // An injected disk fault at start-up: Redis exits and its
                // supervisor starts it again (the nemesis does).
                rec.log(EventKind::Fault {
                    name: "startup-failed".into(),
                    target: format!("server: {e}"),
                    on: true,
                });
                if let Ok(mut s) = slot.lock() {
                    *s = None;
                }
                start_failed.store(true, Ordering::SeqCst);
                return;
            }
            panic!("restart {epoch}: the server cannot load its files after a crash: {e}");
        }
        if ack_before_fsync {
            // Planted bug (--selftest ack-before-fsync): the config says
            // always, the writer never fsyncs before replies.
            if let Some(w) = srv.persist.aof.as_mut() {
                w.set_policy(redsim_core::aof::FsyncPolicy::No);
            }
        }
    }
    // The recovered dataset (empty for an in-memory server) must be a
    // prefix of everything applied; the log continues from that prefix.
    let fp = crate::oracle::fingerprint(&srv.ks);
    let now = srv.ks.now_ms;
    if quiet {
        // A replica: its dataset comes from the master, not from a log.
    } else if let Ok(mut log) = oracle.0.lock() {
        let prefix = crate::oracle::matching_prefix(&log, &fp, now);
        rec.log(EventKind::Recovered {
            prefix: prefix.map(|p| p as u64),
            applied: log.len() as u64,
        });
        if let Some(p) = prefix {
            if std::env::var("REDSIM_SIM_DEBUG").is_ok() {
                for c in &log[p..] {
                    let a: Vec<String> = c
                        .argv
                        .iter()
                        .map(|x| String::from_utf8_lossy(x).into_owned())
                        .collect();
                    eprintln!("LOST at restart {epoch}: {a:?}");
                }
            }
            log.truncate(p);
        }
    }
    // Every applied command goes to the oracle (final convergence check).
    if !quiet {
        srv.set_propagation(true);
        let o = oracle.clone();
        srv.prop_observer = Some(Box::new(move |p, _| {
            if let Ok(mut log) = o.0.lock() {
                log.push(p.clone());
            }
        }));
    }
    if let Some(f) = &setup {
        f(&mut srv);
    }
    srv.replicaof_from_config();
    let log =
        Logger::new(pid, loglevel, "", clock.clone()).expect("logger without a file cannot fail");
    let shared = Shared::new(srv, clock, log);
    if let Ok(mut s) = slot.lock() {
        *s = Some(shared.clone());
    }
    let listener = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT))
        .await
        .expect("server bind 0.0.0.0:6379");
    tokio::spawn(accept_loop(listener, shared.clone()));
    tokio::spawn(cron_loop(shared.clone()));
    // Every node can be made a replica (failovers): the link task idles
    // until REPLICAOF, as in the server binary.
    tokio::spawn(redsim_server::replica_link_loop(shared.clone()));
    if persisting && bg_jobs {
        tokio::spawn(background_jobs(shared.clone()));
    }
    shared.shutdown.notified().await;
}

/// Start AOF rewrites and BGSAVEs at random moments (as auto-aof-rewrite
/// and save points would), so kills also land in the middle of them and at
/// their file operations.
async fn background_jobs(shared: Arc<Shared>) {
    loop {
        let wait = thread_rng().gen_range(200..3000);
        sleep(Duration::from_millis(wait)).await;
        let rewrite = thread_rng().gen_bool(0.6);
        let mut g = shared.srv.lock().await;
        let s = &mut *g;
        if s.persist.busy() {
            continue;
        }
        let r = if rewrite {
            redsim_core::persist::rewrite_start(&mut s.ks, &mut s.persist, &s.cfg, &s.env)
        } else {
            redsim_core::persist::bgsave_start(&mut s.ks, &mut s.persist, &s.cfg, &s.env)
        };
        drop(g);
        // A failure is the engine's to report (it logs it and sets the
        // status INFO shows); disk faults make it expected.
        let _ = r;
    }
}

const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "42",
    "-7",
    "9223372036854775806",
    "9223372036854775807",
    "-9223372036854775808",
    "007",
    "-0",
    "+1",
    " 3",
    "v",
    "hello",
    "",
    "12abc",
];
const SUFFIXES: &[&str] = &["7", "0", "x", "-", "19", ""];

fn gen_value(rng: &mut impl Rng) -> Vec<u8> {
    if rng.gen_bool(0.4) {
        rng.gen_range(-1000i64..1000).to_string().into_bytes()
    } else {
        VALUES[rng.gen_range(0..VALUES.len())].as_bytes().to_vec()
    }
}

fn gen_keys(rng: &mut impl Rng, nkeys: usize, max: usize) -> Vec<String> {
    let n = rng.gen_range(1..=max.min(nkeys));
    let mut ks: Vec<usize> = Vec::with_capacity(n);
    while ks.len() < n {
        let k = rng.gen_range(0..nkeys);
        if !ks.contains(&k) {
            ks.push(k);
        }
    }
    ks.into_iter().map(|k| format!("k{k}")).collect()
}

fn gen_op(rng: &mut impl Rng, nkeys: usize) -> Op {
    let key = format!("k{}", rng.gen_range(0..nkeys));
    match rng.gen_range(0..100) {
        0..=21 => Op::Get { key },
        22..=41 => {
            let ttl = if rng.gen_bool(0.45) {
                Some(if rng.gen_bool(0.75) {
                    Ttl::Px(rng.gen_range(1..=400))
                } else {
                    Ttl::Ex(rng.gen_range(1..=2))
                })
            } else {
                None
            };
            let cond = match rng.gen_range(0..10) {
                0 => Some(Cond::Nx),
                1 => Some(Cond::Xx),
                _ => None,
            };
            let keepttl = ttl.is_none() && rng.gen_bool(0.2);
            let get = rng.gen_bool(0.15);
            Op::Set {
                key,
                val: gen_value(rng),
                ttl,
                cond,
                keepttl,
                get,
            }
        }
        42..=53 => Op::Incr { key },
        54..=60 => Op::Del {
            keys: gen_keys(rng, nkeys, 3),
        },
        61..=74 => {
            let millis = rng.gen_bool(0.6);
            let amount = if rng.gen_bool(0.05) {
                rng.gen_range(-5..=0)
            } else if millis {
                rng.gen_range(1..=500)
            } else {
                rng.gen_range(1..=2)
            };
            let flag = match rng.gen_range(0..12) {
                0 => Some(ExpFlag::Nx),
                1 => Some(ExpFlag::Xx),
                2 => Some(ExpFlag::Gt),
                3 => Some(ExpFlag::Lt),
                _ => None,
            };
            Op::Expire {
                key,
                amount,
                millis,
                flag,
            }
        }
        75..=82 => {
            let pairs = gen_keys(rng, nkeys, 3)
                .into_iter()
                .map(|k| (k, gen_value(rng)))
                .collect();
            Op::MSet { pairs }
        }
        _ => Op::Append {
            key,
            val: SUFFIXES[rng.gen_range(0..SUFFIXES.len())]
                .as_bytes()
                .to_vec(),
        },
    }
}

/// Process-global state for `--selftest nondeterminism`.
static LEAK: AtomicU64 = AtomicU64::new(0);

/// Make a reply certainly wrong (for `--selftest safety`).
fn corrupt(r: Reply) -> Reply {
    match r {
        Reply::Int(n) => Reply::Int(n.wrapping_add(1000)),
        Reply::Bulk(Some(mut b)) => {
            b.extend_from_slice(b"!corrupt");
            Reply::Bulk(Some(b))
        }
        Reply::Bulk(None) => Reply::bulk(b"!corrupt"),
        Reply::Simple(_) => Reply::Simple("CORRUPT".into()),
        other => Reply::Error(format!("{other:?}!corrupt")),
    }
}

/// The client's connection state.
pub(crate) struct Client {
    pub rec: Recorder,
    pub addr: SocketAddr,
    pub conn: Option<(TcpStream, u32)>,
    pub rbuf: Vec<u8>,
    /// Connection and request ids: distinct across clients (each client
    /// starts from its own base).
    pub next_conn: u32,
    pub next_id: u64,
    pub op_timeout: Duration,
    pub corrupt_next: bool,
    pub corrupted: bool,
}

pub(crate) async fn read_reply(
    stream: &mut TcpStream,
    rbuf: &mut Vec<u8>,
) -> std::io::Result<Reply> {
    loop {
        match parse_reply(rbuf) {
            Ok(Some((r, n))) => {
                rbuf.drain(..n);
                return Ok(r);
            }
            Ok(None) => {}
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
        if stream.read_buf(rbuf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

impl Client {
    pub(crate) async fn connect(&mut self) {
        while self.conn.is_none() {
            match timeout(Duration::from_secs(1), TcpStream::connect(self.addr)).await {
                Ok(Ok(s)) => {
                    let id = self.next_conn;
                    self.next_conn += 1;
                    self.rec.log(EventKind::Connect { conn: id });
                    self.rbuf.clear();
                    self.conn = Some((s, id));
                }
                Ok(Err(e)) => {
                    self.rec.log(EventKind::ConnectFailed {
                        err: e.kind().to_string(),
                    });
                    sleep(Duration::from_millis(thread_rng().gen_range(20..200))).await;
                }
                Err(_) => self.rec.log(EventKind::ConnectFailed {
                    err: "connect timeout".into(),
                }),
            }
        }
    }

    /// Run one op; `Some(reply)` or `None` if it failed (connection dropped).
    pub(crate) async fn exec(&mut self, op: Op) -> Option<Reply> {
        self.connect().await;
        let (stream, conn) = self.conn.as_mut()?;
        let id = self.next_id;
        self.next_id += 1;
        let mut bytes = Vec::new();
        let cmds = op.commands();
        for c in &cmds {
            encode_command(c, &mut bytes);
        }
        // MULTI ... EXEC: one reply per command; the op's is the last (EXEC's).
        let replies = cmds.len();
        let aborted = matches!(op, Op::AbortedMulti { .. });
        self.rec.log(EventKind::Send {
            id,
            conn: *conn,
            op,
        });
        let rbuf = &mut self.rbuf;
        let res = timeout(self.op_timeout, async {
            stream.write_all(&bytes).await?;
            stream.flush().await?;
            let mut last = read_reply(stream, rbuf).await?;
            for _ in 1..replies {
                last = read_reply(stream, rbuf).await?;
            }
            Ok::<Reply, std::io::Error>(last)
        })
        .await;
        match res {
            Ok(Ok(_)) if aborted => {
                // The transaction is queued: hang up without EXEC.
                self.conn = None;
                self.rec.log(EventKind::Fail {
                    id,
                    err: "client disconnected before EXEC".into(),
                });
                None
            }
            Ok(Ok(reply)) => {
                let reply = if std::mem::take(&mut self.corrupt_next) {
                    self.corrupted = true;
                    corrupt(reply)
                } else {
                    reply
                };
                self.rec.log(EventKind::Recv {
                    id,
                    reply: reply.clone(),
                });
                Some(reply)
            }
            Ok(Err(e)) => {
                self.rec.log(EventKind::Fail {
                    id,
                    err: e.kind().to_string(),
                });
                self.conn = None;
                None
            }
            Err(_) => {
                self.rec.log(EventKind::Fail {
                    id,
                    err: "timeout".into(),
                });
                self.conn = None;
                None
            }
        }
    }
}

async fn workload(
    opts: SimOptions,
    rec: Recorder,
    progress: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
) {
    let mut c = Client {
        rec: rec.clone(),
        addr: SocketAddr::new(SERVER_IP, PORT),
        conn: None,
        rbuf: Vec::new(),
        next_conn: 0,
        next_id: 0,
        op_timeout: Duration::from_millis(opts.op_timeout_ms),
        corrupt_next: false,
        corrupted: false,
    };
    let half = opts.ops / 2;
    // Alternates between runs in one process: 0, 1, 0, ...
    let leak = match opts.selftest {
        Some(SelfTest::Nondeterminism) => LEAK.fetch_add(1, Ordering::Relaxed) % 2,
        _ => 0,
    };
    for i in 0..opts.ops {
        progress.store(i, Ordering::SeqCst);
        let op = gen_op(&mut thread_rng(), opts.keys);
        match opts.selftest {
            Some(SelfTest::Panic) if i == half => {
                panic!("selftest: planted panic in the client at op {i}")
            }
            Some(SelfTest::Liveness) if i == half => std::future::pending::<()>().await,
            Some(SelfTest::Safety) if i >= half && !c.corrupted => c.corrupt_next = true,
            _ => {}
        }
        c.exec(op).await;
        let think = {
            let mut rng = thread_rng();
            match rng.gen_range(0..100) {
                0..=84 => rng.gen_range(0..=opts.max_think_ms),
                85..=94 => rng.gen_range(100..600),
                _ => rng.gen_range(800..2500),
            }
        };
        let think = think + leak;
        if think > 0 {
            sleep(Duration::from_millis(think)).await;
        }
    }
    progress.store(opts.ops, Ordering::SeqCst);
    done.store(true, Ordering::SeqCst);
    rec.log(EventKind::WorkloadDone);
    // Quiet period: only active expiry can reclaim keys now.
    sleep(Duration::from_millis(opts.quiet_ms)).await;
    while c.exec(Op::DbSize).await.is_none() {
        sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Fault {
    Kill,
    Partition,
    /// The server's clock steps forward (expiry follows the server clock;
    /// backward steps are exercised by the multi-client runner, whose
    /// workloads have no TTLs).
    ClockJump,
}

async fn chaos(
    opts: SimOptions,
    server: NodeId,
    disk: Option<SharedDisk>,
    rec: Recorder,
    progress: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
) {
    let handle = Handle::current();
    let mut plan: Vec<(usize, Fault)> = {
        let mut rng = thread_rng();
        let n = opts.ops.max(1);
        let mut v: Vec<(usize, Fault)> = (0..opts.kills)
            .map(|_| (rng.gen_range(0..n), Fault::Kill))
            .collect();
        v.extend((0..opts.partitions).map(|_| (rng.gen_range(0..n), Fault::Partition)));
        v.extend((0..opts.clock_jumps).map(|_| (rng.gen_range(0..n), Fault::ClockJump)));
        v
    };
    plan.sort();
    for (at, fault) in plan {
        while progress.load(Ordering::SeqCst) < at && !done.load(Ordering::SeqCst) {
            sleep(Duration::from_millis(5)).await;
        }
        // Land anywhere around that op, including while it is in flight.
        let jitter = thread_rng().gen_range(0..30);
        sleep(Duration::from_millis(jitter)).await;
        if done.load(Ordering::SeqCst) {
            break;
        }
        match fault {
            Fault::Kill => {
                rec.log(EventKind::Kill);
                handle.kill(server);
                if let Some(d) = &disk {
                    d.with(|d| d.crash());
                }
                let down = thread_rng().gen_range(0..1500);
                sleep(Duration::from_millis(down)).await;
                handle.restart(server);
                rec.log(EventKind::Restart);
            }
            Fault::Partition => {
                let net = NetSim::current();
                rec.log(EventKind::Clog);
                net.clog_node(server);
                let len = thread_rng().gen_range(50..opts.max_partition_ms.max(51));
                sleep(Duration::from_millis(len)).await;
                net.unclog_node(server);
                rec.log(EventKind::Unclog);
            }
            Fault::ClockJump => {
                let ms = thread_rng().gen_range(500..20_000);
                rec.1.fetch_add(ms, Ordering::SeqCst);
                rec.log(EventKind::Fault {
                    name: "clock-jump".into(),
                    target: format!("server +{ms}ms"),
                    on: true,
                });
            }
        }
    }
}

/// Run one seed. Panics inside the simulation propagate (the caller catches).
pub fn run(seed: u64, opts: &SimOptions) -> RunOutput {
    let mut config = madsim::Config::default();
    config.net.send_latency = Duration::from_millis(opts.latency_ms.0)
        ..Duration::from_millis(opts.latency_ms.1.max(opts.latency_ms.0 + 1));
    let rt = Runtime::with_seed_and_config(seed, config);
    let rec = Recorder::default();
    let budget = Duration::from_millis(opts.budget_ms());
    let opts = opts.clone();
    let rec2 = rec.clone();
    let (finished, sim_elapsed) = rt.block_on(async move {
        let handle = Handle::current();
        let epoch = Arc::new(AtomicU64::new(0));
        let hz = opts.hz;
        let loglevel = if opts.server_log { "notice" } else { "nothing" };
        let disk = opts.appendfsync.as_ref().map(|_| {
            let mut d = SimDisk::new(splitmix64(seed ^ 0xD15C));
            // A crash keeps a random prefix of unsynced appends (torn tails).
            d.faults.torn_writes = true;
            if opts.selftest == Some(SelfTest::LostWrite) {
                d.faults.lose_write_number = Some(40 + splitmix64(seed) % 40);
            }
            SharedDisk::new(d)
        });
        let persist = disk.clone().zip(opts.appendfsync.clone());
        let ack_before_fsync = opts.selftest == Some(SelfTest::AckBeforeFsync);
        let oracle = Oracle::default();
        // --selftest lost-write: no rewrites, which would heal the hole
        // (they rebuild the AOF from memory) before a crash exposes it.
        let bg_jobs = opts.selftest != Some(SelfTest::LostWrite);
        let rec3 = rec2.clone();
        let node = NodeCfg {
            seed,
            hz,
            loglevel,
            persist,
            ack_before_fsync,
            oracle,
            rec: rec3,
            bg_jobs,
            slot: Arc::new(Mutex::new(None)),
            clock: Arc::new(JumpClock {
                skew_ms: rec2.1.clone(),
            }),
            planted: 0,
            start_failed: Arc::new(AtomicBool::new(false)),
            replicaof: None,
            extra_args: Vec::new(),
            quiet: false,
            setup: None,
        };
        let server = handle
            .create_node()
            .name("redsim-1")
            .ip(SERVER_IP)
            .init(move || {
                let e = epoch.fetch_add(1, Ordering::SeqCst);
                server_main(node.clone(), e)
            })
            .build();
        let client = handle.create_node().name("client-1").ip(CLIENT_IP).build();
        let progress = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let _chaos = madsim::task::spawn(chaos(
            opts.clone(),
            server.id(),
            disk,
            rec2.clone(),
            progress.clone(),
            done.clone(),
        ));
        let w = client.spawn(workload(opts.clone(), rec2.clone(), progress, done));
        let finished = matches!(timeout(budget, w).await, Ok(Ok(())));
        (finished, TimeHandle::current().elapsed())
    });
    drop(rt);
    RunOutput {
        events: rec.take(),
        liveness: None,
        finished,
        sim_elapsed,
    }
}
