//! redsim-sim: the deterministic simulator for redsim.
//!
//! Under `RUSTFLAGS="--cfg madsim"` the real server shell (`redsim-server`'s
//! `accept_loop` + `cron_loop` around the `redsim-core` engine) runs on a
//! madsim node with a simulated network and clock. A client node runs a
//! seeded random workload of string/TTL commands over simulated TCP while a
//! supervisor kills and restarts the server (and optionally partitions it).
//! Every op, reply and fault is recorded with simulated timestamps; the
//! [`checker`] replays the history against a model; a trace hash makes
//! determinism checkable (same seed, same hash).
//!
//! - [`resp`]: the client's own RESP2 encoder/decoder.
//! - [`history`]: ops, events, trace hash.
//! - [`checker`]: the model (strings with TTL intervals, restarts wipe data).
//! - `scenario` (madsim only): nodes, workload, faults.
//! - [`registry`]: the named scenarios (`cargo sim list`) and their promises.
//! - [`cli`]: the command line (parsed in both flavours, so it is unit-tested).
//! - [`shrink`]: smaller option sets that still fail the same way.
//! - [`timeline`]: a failing (or any single) run as a self-contained HTML page.
//!
//! The model, codec and checker are plain Rust and tested in both flavours;
//! running a simulation requires the madsim flavour.

pub mod append;
pub mod checker;
pub mod cli;
#[cfg(madsim)]
pub mod ha;
pub mod history;
#[cfg(madsim)]
pub mod jepsen;
pub mod linearize;
pub mod oracle;
pub mod registry;
pub mod resp;
#[cfg(madsim)]
pub mod scenario;
pub mod shrink;
pub mod timeline;
pub mod workload;

pub use registry::{scenario_by_name, scenarios, Scenario};

use std::fmt;

/// Knobs of one run (the CLI flags of the same names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOptions {
    /// Random ops per seed (plus one final DBSIZE).
    pub ops: usize,
    /// Key space size (`k0`..`k{keys-1}`).
    pub keys: usize,
    /// Server kill+restart faults per seed.
    pub kills: usize,
    /// Server partitions (clog both directions) per seed.
    pub partitions: usize,
    pub max_partition_ms: u64,
    /// Usual think time between ops is `0..=max_think_ms` (plus rare long pauses).
    pub max_think_ms: u64,
    /// Simulated one-way network latency range.
    pub latency_ms: (u64, u64),
    /// Client gives up on a reply after this long (then reconnects).
    pub op_timeout_ms: u64,
    /// Quiet period before the final DBSIZE (active expiry must reclaim).
    pub quiet_ms: u64,
    /// Simulated-time budget for the whole run; `None` = derived from the rest.
    pub budget_ms: Option<u64>,
    /// Server `hz` (active expiry frequency).
    pub hz: u32,
    /// Let the server log at `notice` to stdout.
    pub server_log: bool,
    /// Persist with an AOF on a simulated disk under this `appendfsync`
    /// (kills then crash the disk: unsynced bytes are lost); None = the
    /// in-memory server (a kill wipes the dataset).
    pub appendfsync: Option<String>,
    /// Deliberately break the run to prove a failure class is detected.
    pub selftest: Option<SelfTest>,
    /// Clients of the multi-client (Jepsen-style) runner, each on its own
    /// node; 0 = the strings runner (one client, the model checker).
    pub clients: usize,
    /// Workloads of the multi-client runner, one letter each: r register
    /// (SET/GET), c counter (INCR/GET), s set-add (SADD/SMEMBERS), l
    /// list-append (RPUSH/LRANGE, also inside MULTI/EXEC).
    pub workloads: String,
    /// Swarm testing: each fault kind below (and kills, partitions) is
    /// enabled with probability 1/2 per seed, with a count drawn up to its
    /// knob (see `derive`).
    pub swarm: bool,
    /// Server pauses (SIGSTOP-like: the node freezes, connections stall).
    pub pauses: usize,
    /// Client-side cuts: one client's links to the server clogged both ways.
    pub client_cuts: usize,
    /// One-way faults: the server's replies to one client are dropped.
    pub one_way: usize,
    /// Latency spikes (one-way latency 50..400 ms for a while).
    pub spikes: usize,
    /// Packet-loss periods (TCP retransmits: long, irregular delays).
    pub loss: usize,
    /// Disk-fault periods (fsync/write EIO, with persistence: under
    /// `always` the server exits as Redis does and is restarted).
    pub disk_faults: usize,
    /// Jumps of the server's clock (forward or back by up to 30 s).
    pub clock_jumps: usize,
    /// Replicas of the server (multi-client runner): nodes running
    /// `replicaof` the server, checked for WAIT truthfulness and
    /// convergence after the heal.
    pub replicas: usize,
    /// Replication faults: a replica's link to the master cut for a
    /// while, or the replica killed and restarted (it full-syncs again).
    pub repl_faults: usize,
    /// Coordinated failovers (with replicas): clients paused and cut from
    /// the master, the target caught up, then promoted (REPLICAOF NO ONE)
    /// and every other node pointed at it; clients follow. With failovers,
    /// replication faults only cut links (no replica kills), and every
    /// resync after the initial ones must be partial (PSYNC2).
    pub failovers: usize,
    /// Sentinels (the Sentinel runner, `ha`): this many redsim Sentinels
    /// watch a master and `replicas` replicas; clients find the master
    /// through them; the nemesis partitions, kills and pauses the master.
    pub sentinels: usize,
    /// Sentinel runner: one Sentinel cut off from every node for a while.
    pub sentinel_cuts: usize,
    /// BUGGIFY fault points in the server shell (short reads, slow
    /// fsyncs, late timers).
    pub buggify: bool,
}

/// Planted faults (`--selftest NAME`) that must make a seed fail with the
/// matching class: they check the simulator's own detection and exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfTest {
    /// The client panics halfway through (exit 101).
    Panic,
    /// The client corrupts one reply before recording it (exit 2).
    Safety,
    /// The client stalls forever halfway through (exit 3).
    Liveness,
    /// Think times depend on process-global state that survives between
    /// runs, a classic leak (exit 4 with --check-determinism).
    Nondeterminism,
    /// The server acknowledges writes before they are fsynced while
    /// configured with `appendfsync always` (exit 2 with --appendfsync always:
    /// a kill loses acknowledged writes).
    AckBeforeFsync,
    /// The simulated disk silently drops one AOF write (exit 2 with
    /// --appendfsync: the recovered dataset is no prefix of the history).
    LostWrite,
    /// Planted engine bug: some INCRs are not stored (exit 2: counter
    /// linearizability).
    LostIncrement,
    /// Planted engine bug: some RPUSHes append twice (exit 2: list-append).
    DuplicateElement,
    /// Planted engine bug: the AOF loader drops the last command (exit 2
    /// with --appendfsync always: a read after a restart is stale).
    StaleRead,
    /// Planted engine bug: WAIT counts replicas that have not acknowledged
    /// the write (exit 2 with --replicas: the WAIT checker).
    WaitEarly,
    /// Planted engine bug: a promoted replica forgets the old replication
    /// id (exit 2 with failovers: the PSYNC2 check sees full resyncs).
    ForgetReplid2,
    /// Planted engine bug: masters ignore min-replicas-to-write (exit 2
    /// with --sentinels: a master cut off from its replicas keeps
    /// acknowledging writes after its min-replicas-max-lag window).
    IgnoreMinReplicas,
}

impl SelfTest {
    pub fn parse(s: &str) -> Option<SelfTest> {
        Some(match s {
            "panic" => SelfTest::Panic,
            "safety" => SelfTest::Safety,
            "liveness" => SelfTest::Liveness,
            "nondeterminism" => SelfTest::Nondeterminism,
            "ack-before-fsync" => SelfTest::AckBeforeFsync,
            "lost-write" => SelfTest::LostWrite,
            "lost-increment" => SelfTest::LostIncrement,
            "duplicate-element" => SelfTest::DuplicateElement,
            "stale-read" => SelfTest::StaleRead,
            "wait-early" => SelfTest::WaitEarly,
            "forget-replid2" => SelfTest::ForgetReplid2,
            "ignore-min-replicas" => SelfTest::IgnoreMinReplicas,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            SelfTest::Panic => "panic",
            SelfTest::Safety => "safety",
            SelfTest::Liveness => "liveness",
            SelfTest::Nondeterminism => "nondeterminism",
            SelfTest::AckBeforeFsync => "ack-before-fsync",
            SelfTest::LostWrite => "lost-write",
            SelfTest::LostIncrement => "lost-increment",
            SelfTest::DuplicateElement => "duplicate-element",
            SelfTest::StaleRead => "stale-read",
            SelfTest::WaitEarly => "wait-early",
            SelfTest::ForgetReplid2 => "forget-replid2",
            SelfTest::IgnoreMinReplicas => "ignore-min-replicas",
        }
    }
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            ops: 300,
            keys: 6,
            kills: 2,
            partitions: 0,
            max_partition_ms: 2000,
            max_think_ms: 40,
            latency_ms: (1, 10),
            op_timeout_ms: 10_000,
            quiet_ms: 3000,
            budget_ms: None,
            hz: 10,
            server_log: false,
            appendfsync: None,
            selftest: None,
            clients: 0,
            workloads: "rcsl".into(),
            swarm: false,
            pauses: 0,
            client_cuts: 0,
            one_way: 0,
            spikes: 0,
            loss: 0,
            disk_faults: 0,
            clock_jumps: 0,
            replicas: 0,
            repl_faults: 0,
            failovers: 0,
            sentinels: 0,
            sentinel_cuts: 0,
            buggify: false,
        }
    }
}

impl SimOptions {
    /// The simulated-time budget: generous for the expected duration (think
    /// time averages well under 250 ms/op including rare long pauses).
    pub fn budget_ms(&self) -> u64 {
        self.budget_ms.unwrap_or_else(|| {
            let per_op = self.max_think_ms + 2 * self.latency_ms.1 + 250;
            60_000
                + 2 * self.ops as u64 * per_op
                + self.kills as u64 * 5_000
                + self.partitions as u64 * (self.max_partition_ms + 5_000)
                + self.quiet_ms
        })
    }

    /// The options a run really uses: with `swarm`, each fault kind is kept
    /// with probability 1/2 and its count drawn in `1..=knob`, from the seed
    /// alone (so `--seed N` reproduces it); the result has `swarm` off, and
    /// its `flags()` reproduce the run without swarm.
    pub fn derive(&self, seed: u64) -> SimOptions {
        let mut o = self.clone();
        if !o.swarm {
            return o;
        }
        o.swarm = false;
        let mut x = seed ^ 0x5a4d_5741_524d;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        for knob in [
            &mut o.kills,
            &mut o.partitions,
            &mut o.pauses,
            &mut o.client_cuts,
            &mut o.one_way,
            &mut o.spikes,
            &mut o.loss,
            &mut o.disk_faults,
            &mut o.clock_jumps,
            &mut o.repl_faults,
            &mut o.failovers,
            &mut o.sentinel_cuts,
        ] {
            let on = next() % 2 == 0;
            let n = 1 + next() % (*knob as u64).max(1);
            *knob = if on && *knob > 0 { n as usize } else { 0 };
        }
        o
    }

    /// The flags that reproduce these options (defaults omitted).
    pub fn flags(&self) -> String {
        self.flags_vs(&SimOptions::default())
    }

    /// The flags that turn `base` (a scenario's options) into these options:
    /// only knobs that differ are listed, so a reproduce line stays short.
    /// `cli::parse` of `<scenario> <flags_vs(base)>` gives back `self`
    /// (unit-tested), which is what makes reproduce lines trustworthy.
    pub fn flags_vs(&self, base: &SimOptions) -> String {
        let mine = self.knobs();
        let theirs = base.knobs();
        let mut f = Vec::new();
        for ((name, v), (_, dv)) in mine.iter().zip(theirs.iter()) {
            if v != dv {
                match (*name, v.as_str()) {
                    ("server-log", "on") => f.push("--server-log".to_string()),
                    ("server-log", _) => f.push("--no-server-log".to_string()),
                    ("swarm", "on") => f.push("--swarm".to_string()),
                    ("swarm", _) => f.push("--no-swarm".to_string()),
                    ("buggify", "on") => f.push("--buggify".to_string()),
                    ("buggify", _) => f.push("--no-buggify".to_string()),
                    _ => f.push(format!("--{name} {v}")),
                }
            }
        }
        f.join(" ")
    }

    /// Every knob as (flag name, value as the flag takes it), in flag order.
    /// `budget-ms` is `auto` when derived, `appendfsync`/`selftest` are
    /// `none` when off. One list feeds both the reproduce flags and the
    /// one-line run summary, so they cannot drift apart.
    pub fn knobs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ops", self.ops.to_string()),
            ("keys", self.keys.to_string()),
            ("kills", self.kills.to_string()),
            ("partitions", self.partitions.to_string()),
            ("max-partition-ms", self.max_partition_ms.to_string()),
            ("max-think-ms", self.max_think_ms.to_string()),
            (
                "latency-ms",
                format!("{}..{}", self.latency_ms.0, self.latency_ms.1),
            ),
            ("op-timeout-ms", self.op_timeout_ms.to_string()),
            ("quiet-ms", self.quiet_ms.to_string()),
            (
                "budget-ms",
                self.budget_ms
                    .map_or_else(|| "auto".to_string(), |b| b.to_string()),
            ),
            ("hz", self.hz.to_string()),
            (
                "server-log",
                if self.server_log { "on" } else { "off" }.to_string(),
            ),
            (
                "appendfsync",
                self.appendfsync.clone().unwrap_or_else(|| "none".into()),
            ),
            (
                "selftest",
                self.selftest.map_or("none", |t| t.name()).to_string(),
            ),
            ("clients", self.clients.to_string()),
            ("workloads", self.workloads.clone()),
            ("swarm", if self.swarm { "on" } else { "off" }.to_string()),
            ("pauses", self.pauses.to_string()),
            ("client-cuts", self.client_cuts.to_string()),
            ("one-way", self.one_way.to_string()),
            ("spikes", self.spikes.to_string()),
            ("loss", self.loss.to_string()),
            ("disk-faults", self.disk_faults.to_string()),
            ("clock-jumps", self.clock_jumps.to_string()),
            ("replicas", self.replicas.to_string()),
            ("repl-faults", self.repl_faults.to_string()),
            ("failovers", self.failovers.to_string()),
            ("sentinels", self.sentinels.to_string()),
            ("sentinel-cuts", self.sentinel_cuts.to_string()),
            (
                "buggify",
                if self.buggify { "on" } else { "off" }.to_string(),
            ),
        ]
    }

    /// All knobs as `name=value` pairs (the one-line run summary).
    pub fn knobs_line(&self) -> String {
        self.knobs()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Failure classes, each with its own exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// A Rust panic inside the simulation (server, client or simulator).
    Panic,
    /// The checker found a reply no legal execution could produce.
    Safety,
    /// The workload did not finish within the simulated-time budget, or
    /// expired keys were never reclaimed.
    Liveness,
    /// Two runs of one seed produced different traces.
    Nondeterminism,
}

impl FailureKind {
    pub fn exit_code(self) -> i32 {
        match self {
            FailureKind::Panic => 101,
            FailureKind::Safety => 2,
            FailureKind::Liveness => 3,
            FailureKind::Nondeterminism => 4,
        }
    }
    /// The short lower-case class name used in one-line summaries.
    pub fn class(self) -> &'static str {
        match self {
            FailureKind::Panic => "panic",
            FailureKind::Safety => "safety",
            FailureKind::Liveness => "liveness",
            FailureKind::Nondeterminism => "nondeterminism",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Panic => "PANIC",
            FailureKind::Safety => "SAFETY VIOLATION",
            FailureKind::Liveness => "LIVENESS FAILURE",
            FailureKind::Nondeterminism => "NONDETERMINISM",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    /// The tail of the history leading to the failure, formatted.
    pub context: Vec<String>,
    /// The history event that exposed the failure (the checker's
    /// `Violation::event_index`, or the first differing event for
    /// nondeterminism), for the timeline's highlight.
    pub event_index: Option<usize>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.kind.name(), self.message)?;
        for l in &self.context {
            writeln!(f, "  {l}")?;
        }
        Ok(())
    }
}

/// The outcome of one seed.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub seed: u64,
    /// One hash per run (two with the determinism check).
    pub hashes: Vec<u64>,
    pub events: usize,
    pub sim_ms: u64,
    pub stats: Option<checker::CheckStats>,
    pub result: Result<(), Failure>,
}

/// Lines of history around event `idx` (the last `n` up to and including it).
pub fn history_tail(events: &[history::Event], idx: usize, n: usize) -> Vec<String> {
    let end = (idx + 1).min(events.len());
    let start = end.saturating_sub(n);
    events[start..end]
        .iter()
        .enumerate()
        .map(|(i, e)| format!("[{}] {e}", start + i))
        .collect()
}

#[cfg(madsim)]
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

/// The knobs a run of `seed` really uses: swarm derived (and, for the
/// multi-client runner, no kills unless `appendfsync always`). Shown in the
/// one-line summary; shrinking starts from it.
#[cfg(madsim)]
pub fn derived(seed: u64, opts: &SimOptions) -> SimOptions {
    if opts.clients > 0 {
        jepsen::effective(seed, opts)
    } else {
        opts.derive(seed)
    }
}

/// One run of `seed` with the runner `opts` select (multi-client when
/// `clients > 0`), unchecked.
#[cfg(madsim)]
pub fn run_once(seed: u64, opts: &SimOptions) -> scenario::RunOutput {
    // Reset per run: same seed, same fault-point decisions.
    redsim_server::buggify::enable(opts.buggify, seed ^ 0xB066_1F7);
    if opts.clients > 0 {
        jepsen::run(seed, opts)
    } else {
        scenario::run(seed, opts)
    }
}

/// Run `seed` once (twice with `check_determinism`), check it, classify.
/// Panics are caught here.
#[cfg(madsim)]
pub fn run_seed(seed: u64, opts: &SimOptions, check_determinism: bool) -> SeedReport {
    run_seed_full(seed, opts, check_determinism).0
}

/// [`run_seed`] plus the history of the (first) run, for failure logs and
/// timelines without re-running; `None` only when the first run panicked
/// (the recorder dies with the runtime).
#[cfg(madsim)]
pub fn run_seed_full(
    seed: u64,
    opts: &SimOptions,
    check_determinism: bool,
) -> (SeedReport, Option<Vec<history::Event>>) {
    let mut report = SeedReport {
        seed,
        hashes: Vec::new(),
        events: 0,
        sim_ms: 0,
        stats: None,
        result: Ok(()),
    };
    let runs = if check_determinism { 2 } else { 1 };
    let mut first: Option<Vec<history::Event>> = None;
    for _ in 0..runs {
        let out =
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_once(seed, opts))) {
                Ok(o) => o,
                Err(p) => {
                    report.result = Err(Failure {
                        kind: FailureKind::Panic,
                        message: panic_text(p.as_ref()),
                        context: Vec::new(),
                        event_index: None,
                    });
                    return (report, first);
                }
            };
        report.hashes.push(history::trace_hash(&out.events));
        report.events = out.events.len();
        report.sim_ms = out.sim_elapsed.as_millis() as u64;
        match &first {
            None => {
                // Safety first: a wrong reply explains a stall better than the stall.
                // What a kill may lose: nothing acknowledged (always), the
                // last ~2 s (everysec, Redis's documented bound), anything
                // not fsynced (no).
                let checker = match opts.appendfsync.as_deref() {
                    None => checker::Checker::new(),
                    Some("always") => checker::Checker::durable(0),
                    Some("everysec") => checker::Checker::durable(2000),
                    Some(_) => checker::Checker::durable(i64::MAX / 4),
                };
                let verdict = if opts.clients > 0 {
                    workload::check(&out.events).map(|w| checker::CheckStats {
                        ops_ok: w.ok as u64,
                        ops_failed: w.failed as u64,
                        ops_unknown_fate: w.unknown as u64,
                        ..Default::default()
                    })
                } else {
                    checker::check_with(checker, &out.events)
                };
                if let (Ok(_), Some((idx, msg))) = (&verdict, &out.liveness) {
                    report.result = Err(Failure {
                        kind: FailureKind::Liveness,
                        message: msg.clone(),
                        context: history_tail(&out.events, *idx, 25),
                        event_index: Some(*idx),
                    });
                    return (report, Some(out.events));
                }
                match verdict {
                    Err(v) => {
                        let kind = match v.kind {
                            checker::ViolationKind::Safety => FailureKind::Safety,
                            checker::ViolationKind::Liveness => FailureKind::Liveness,
                        };
                        report.result = Err(Failure {
                            kind,
                            message: v.message,
                            context: history_tail(&out.events, v.event_index, 25),
                            event_index: Some(v.event_index),
                        });
                        return (report, Some(out.events));
                    }
                    Ok(stats) => report.stats = Some(stats),
                }
                if !out.finished {
                    report.result = Err(Failure {
                        kind: FailureKind::Liveness,
                        message: format!(
                            "the workload did not finish within the simulated-time budget of {} ms",
                            opts.budget_ms()
                        ),
                        context: history_tail(&out.events, out.events.len().saturating_sub(1), 25),
                        event_index: out.events.len().checked_sub(1),
                    });
                    return (report, Some(out.events));
                }
                first = Some(out.events);
            }
            Some(a) => {
                let b = &out.events;
                if report.hashes[0] != report.hashes[1] {
                    let i = a
                        .iter()
                        .zip(b.iter())
                        .position(|(x, y)| x != y)
                        .unwrap_or(a.len().min(b.len()));
                    let mut context = vec![format!(
                        "first difference at event {i} (run 1 has {}, run 2 has {} events)",
                        a.len(),
                        b.len()
                    )];
                    context.extend(
                        history_tail(a, i, 5)
                            .into_iter()
                            .map(|l| format!("run1 {l}")),
                    );
                    context.extend(
                        history_tail(b, i, 5)
                            .into_iter()
                            .map(|l| format!("run2 {l}")),
                    );
                    report.result = Err(Failure {
                        kind: FailureKind::Nondeterminism,
                        message: format!(
                            "trace hashes differ: {:016x} vs {:016x}",
                            report.hashes[0], report.hashes[1]
                        ),
                        context,
                        event_index: Some(i),
                    });
                    return (report, first);
                }
            }
        }
    }
    (report, first)
}
