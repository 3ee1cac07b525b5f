//! MEMORY (USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE, HELP) and the memory
//! figures INFO's "memory" section shares with MEMORY STATS and DOCTOR.
//!
//! Every figure comes from one place, [`MemFigures::compute`] (Redis's
//! `getMemoryOverheadData`), so INFO and MEMORY STATS cannot disagree.
//! Invariants of a computed `MemFigures`:
//! - `overhead = startup + clients_normal + sum of dbs[..].main + expires`,
//!   where `dbs` lists only databases holding keys (as Redis does);
//! - `dataset = used - overhead`, saturating at 0 (the overhead is partly an
//!   estimate and may exceed `used` on a nearly empty server);
//! - `peak >= used` (the peak is read as `max(recorded peak, used)`).
//!
//! MEMORY USAGE reports what a key costs in redsim: its table slot
//! (`ENTRY_BYTES`), the key bytes and the value's heap bytes. Collections
//! with more elements than the sample count (default 5, `SAMPLES 0` = all)
//! are estimated like Redis's `objectComputeSize`: the structure's own bytes
//! plus the average of the first `samples` elements times the length; with
//! all elements sampled the answer is exactly `Value::heap_bytes`.
//!
//! redsim runs on the libc allocator (`mem_allocator:libc`), so the
//! allocator-level figures Redis gets from jemalloc are derived: allocated =
//! used, active = resident = the process RSS (or `used` before the shell has
//! sampled RSS).

use super::{conn::help, Ctx};
use crate::db::Value;
use crate::error::{CmdError, CmdResult};
use crate::resp::Reply;
use crate::server::{Clients, ServerEnv, Stats};
use crate::util::eq_ic;

/// Redis's OBJ_COMPUTE_SIZE_DEF_SAMPLES.
pub const DEFAULT_SAMPLES: usize = 5;

/// One database's table overhead (MEMORY STATS `db.N`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbOverhead {
    pub db: usize,
    /// `overhead.hashtable.main`: buckets, entry slab and free list.
    pub main: u64,
    /// `overhead.hashtable.expires`: the TTL index.
    pub expires: u64,
}

/// The memory figures behind INFO memory, MEMORY STATS and MEMORY DOCTOR.
#[derive(Clone, Debug)]
pub struct MemFigures {
    /// `used_memory` / `total.allocated`.
    pub used: u64,
    pub peak: u64,
    /// `used_memory_startup`: used memory when the server was constructed.
    pub startup: u64,
    /// Process resident set size as last sampled by the shell (0: unknown).
    pub rss: u64,
    /// Client buffers: query, output and pending bytes of normal clients.
    pub clients_normal: u64,
    pub dbs: Vec<DbOverhead>,
    /// `used_memory_overhead` / `overhead.total`.
    pub overhead: u64,
    /// `used_memory_dataset` / `dataset.bytes`.
    pub dataset: u64,
    pub keys: u64,
    pub allocator_allocated: u64,
    pub allocator_active: u64,
    pub allocator_resident: u64,
}

/// `a / b` as Redis computes its ratios (in float), 0 when `b` is 0.
fn ratio(a: u64, b: u64) -> f32 {
    if b == 0 {
        0.0
    } else {
        a as f32 / b as f32
    }
}

fn diff(a: u64, b: u64) -> i64 {
    a as i64 - b as i64
}

impl MemFigures {
    pub fn compute(
        env: &ServerEnv,
        ks: &crate::db::Keyspace,
        stats: &Stats,
        clients: &Clients,
    ) -> MemFigures {
        let used = super::server_cmds::used_memory(env, ks);
        let clients_normal: u64 = clients
            .iter()
            .map(|(_, c)| (c.qbuf + c.omem + c.pending.len()) as u64)
            .sum();
        let mut dbs = Vec::new();
        let mut keys = 0u64;
        for (i, db) in ks.dbs.iter().enumerate() {
            if db.table.is_empty() {
                continue;
            }
            keys += db.table.len() as u64;
            let expires = db.table.expires_overhead_bytes() as u64;
            dbs.push(DbOverhead {
                db: i,
                main: db.table.overhead_bytes() as u64 - expires,
                expires,
            });
        }
        let startup = stats.startup_memory;
        let overhead =
            startup + clients_normal + dbs.iter().map(|d| d.main + d.expires).sum::<u64>();
        let rss = stats.rss_bytes;
        let resident = if rss > 0 { rss } else { used };
        MemFigures {
            used,
            peak: stats.peak_memory.max(used),
            startup,
            rss,
            clients_normal,
            dbs,
            overhead,
            dataset: used.saturating_sub(overhead),
            keys,
            allocator_allocated: used,
            allocator_active: resident,
            allocator_resident: resident,
        }
    }

    /// Used memory beyond startup (at least 1, Redis's `net_usage`).
    fn net_usage(&self) -> u64 {
        if self.used > self.startup {
            self.used - self.startup
        } else {
            1
        }
    }

    /// `used_memory_dataset_perc` / `dataset.percentage`: dataset * 100 /
    /// (used - startup), in float like Redis.
    pub fn dataset_perc(&self) -> f32 {
        self.dataset as f32 * 100.0 / self.net_usage() as f32
    }

    /// `used_memory_peak_perc` / `peak.percentage`.
    pub fn peak_perc(&self) -> f32 {
        ratio(self.used, self.peak) * 100.0
    }

    pub fn bytes_per_key(&self) -> u64 {
        self.net_usage().checked_div(self.keys).unwrap_or(0)
    }

    pub fn allocator_frag(&self) -> (f32, i64) {
        (
            ratio(self.allocator_active, self.allocator_allocated),
            diff(self.allocator_active, self.allocator_allocated),
        )
    }

    pub fn allocator_rss(&self) -> (f32, i64) {
        (
            ratio(self.allocator_resident, self.allocator_active),
            diff(self.allocator_resident, self.allocator_active),
        )
    }

    pub fn rss_overhead(&self) -> (f32, i64) {
        (
            ratio(self.rss, self.allocator_resident),
            diff(self.rss, self.allocator_resident),
        )
    }

    /// `mem_fragmentation_ratio` / `fragmentation`: RSS over used memory.
    pub fn total_frag(&self) -> (f32, i64) {
        (ratio(self.rss, self.used), diff(self.rss, self.used))
    }
}

fn figures(ctx: &Ctx) -> MemFigures {
    MemFigures::compute(ctx.env, ctx.ks, ctx.stats, ctx.clients)
}

/// Bytes the first `samples` of `len` elements suggest for all of them
/// (exact when `len <= samples`).
fn sampled(len: usize, samples: usize, elems: impl Iterator<Item = usize>) -> usize {
    if len <= samples {
        return elems.sum();
    }
    let (n, sum) = elems
        .take(samples)
        .fold((0usize, 0usize), |(n, s), b| (n + 1, s + b));
    if n == 0 {
        return 0;
    }
    (sum as f64 / n as f64 * len as f64) as usize
}

/// Heap bytes of `v`, sampling at most `samples` elements of a collection
/// (`usize::MAX`: all, which equals `v.heap_bytes()`).
pub fn value_usage(v: &Value, samples: usize) -> usize {
    match v {
        Value::Int(_) | Value::Small { .. } | Value::Str { .. } | Value::Raw(_) => v.heap_bytes(),
        Value::List(l) => l.structure_bytes() + sampled(l.len(), samples, l.element_bytes()),
        Value::Hash(h) => h.structure_bytes() + sampled(h.len(), samples, h.element_bytes()),
        Value::Set(s) => s.structure_bytes() + sampled(s.len(), samples, s.element_bytes()),
        Value::ZSet(z) => z.structure_bytes() + sampled(z.len(), samples, z.element_bytes()),
        Value::Stream(x) => {
            // Redis's stream branch: the last node is often partly filled,
            // so it averages the first nodes over all but the last and adds
            // the last node's real size.
            let n = x.node_count();
            let nodes = if n <= samples {
                x.node_bytes().sum()
            } else {
                let first: usize = x.node_bytes().take(samples).sum();
                let avg = first.checked_div(samples).unwrap_or(0);
                avg * (n - 1) + x.node_bytes().next_back().unwrap_or(0)
            };
            x.structure_bytes() + nodes
        }
    }
}

/// MEMORY USAGE key [SAMPLES count]: options are parsed before the key is
/// looked up, as Redis does; the lookup does not expire or touch the key
/// (Redis's `dictFind`).
pub fn memory_usage(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut samples = DEFAULT_SAMPLES;
    let mut j = 3;
    while j < argv.len() {
        if eq_ic(argv[j], "samples") && j + 1 < argv.len() {
            let n = super::arg_i64(argv[j + 1])?;
            if n < 0 {
                return Err(CmdError::Syntax);
            }
            samples = if n == 0 {
                usize::MAX
            } else {
                usize::try_from(n).unwrap_or(usize::MAX)
            };
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let t = &ctx.ks.dbs[ctx.db].table;
    let Some(i) = t.find(argv[2]) else {
        ctx.out.null();
        return Ok(());
    };
    let e = t.entry(i);
    let usage = crate::db::table::ENTRY_BYTES + e.key.len() + value_usage(&e.val, samples);
    ctx.out.int(usage as i64);
    Ok(())
}

fn int(o: &mut Reply, key: &str, v: i64) {
    o.bulk(key.as_bytes());
    o.int(v);
}

/// A double as Redis's `addReplyDouble` of a C float.
fn dbl(o: &mut Reply, key: &str, v: f32) {
    o.bulk(key.as_bytes());
    o.double(f64::from(v));
}

/// MEMORY STATS: Redis 7.0's keys in Redis's order (a map; RESP2 flat array).
pub fn memory_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let m = figures(ctx);
    let o = &mut *ctx.out;
    o.map(27 + m.dbs.len());
    int(o, "peak.allocated", m.peak as i64);
    int(o, "total.allocated", m.used as i64);
    int(o, "startup.allocated", m.startup as i64);
    int(o, "replication.backlog", 0);
    int(o, "clients.slaves", 0);
    int(o, "clients.normal", m.clients_normal as i64);
    int(o, "cluster.links", 0);
    int(o, "aof.buffer", 0);
    int(o, "lua.caches", 0);
    int(o, "functions.caches", 0);
    for d in &m.dbs {
        o.bulk(format!("db.{}", d.db).as_bytes());
        o.map(3);
        int(o, "overhead.hashtable.main", d.main as i64);
        int(o, "overhead.hashtable.expires", d.expires as i64);
        int(o, "overhead.hashtable.slot-to-keys", 0);
    }
    int(o, "overhead.total", m.overhead as i64);
    int(o, "keys.count", m.keys as i64);
    int(o, "keys.bytes-per-key", m.bytes_per_key() as i64);
    int(o, "dataset.bytes", m.dataset as i64);
    dbl(o, "dataset.percentage", m.dataset_perc());
    dbl(o, "peak.percentage", m.peak_perc());
    int(o, "allocator.allocated", m.allocator_allocated as i64);
    int(o, "allocator.active", m.allocator_active as i64);
    int(o, "allocator.resident", m.allocator_resident as i64);
    let (r, b) = m.allocator_frag();
    dbl(o, "allocator-fragmentation.ratio", r);
    int(o, "allocator-fragmentation.bytes", b);
    let (r, b) = m.allocator_rss();
    dbl(o, "allocator-rss.ratio", r);
    int(o, "allocator-rss.bytes", b);
    let (r, b) = m.rss_overhead();
    dbl(o, "rss-overhead.ratio", r);
    int(o, "rss-overhead.bytes", b);
    let (r, b) = m.total_frag();
    dbl(o, "fragmentation", r);
    int(o, "fragmentation.bytes", b);
    Ok(())
}

const DOCTOR_NO_ISSUES: &str = "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n";
const DOCTOR_EMPTY: &str = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n";
const DOCTOR_BIG_PEAK: &str = " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n";
const DOCTOR_HIGH_FRAG: &str = " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"libc\".\n\n";
const DOCTOR_HIGH_ALLOC_FRAG: &str = " * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n";
const DOCTOR_HIGH_ALLOC_RSS: &str = " * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n";
const DOCTOR_HIGH_PROC_RSS: &str = " * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n";
const DOCTOR_BIG_CLIENT_BUF: &str = " * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n";

/// Redis's `getMemoryDoctorReport`, over the checks that apply to redsim
/// (no replicas, no script cache: those two never fire).
pub fn doctor_report(m: &MemFigures, clients: usize) -> String {
    const MB: i64 = 1 << 20;
    if m.used < 5 * MB as u64 {
        return DOCTOR_EMPTY.to_string();
    }
    let mut issues: Vec<&str> = Vec::new();
    if ratio(m.peak, m.used) > 1.5 {
        issues.push(DOCTOR_BIG_PEAK);
    }
    let hit = |(r, b): (f32, i64), limit: f32| r > limit && b > 10 * MB;
    if hit(m.total_frag(), 1.4) {
        issues.push(DOCTOR_HIGH_FRAG);
    }
    if hit(m.allocator_frag(), 1.1) {
        issues.push(DOCTOR_HIGH_ALLOC_FRAG);
    }
    if hit(m.allocator_rss(), 1.1) {
        issues.push(DOCTOR_HIGH_ALLOC_RSS);
    }
    if hit(m.rss_overhead(), 1.1) {
        issues.push(DOCTOR_HIGH_PROC_RSS);
    }
    if clients > 0 && m.clients_normal / clients as u64 > 200 * 1024 {
        issues.push(DOCTOR_BIG_CLIENT_BUF);
    }
    if issues.is_empty() {
        return DOCTOR_NO_ISSUES.to_string();
    }
    let mut s =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    for i in issues {
        s.push_str(i);
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

pub fn memory_doctor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let report = doctor_report(&figures(ctx), ctx.clients.count);
    ctx.out.verbatim(report.as_bytes());
    Ok(())
}

/// Redis built without jemalloc answers this; redsim uses the libc allocator.
pub fn memory_malloc_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out
        .bulk(b"Stats not supported for the current allocator");
    Ok(())
}

/// Nothing to purge with the libc allocator: Redis's answer when the purge
/// succeeds.
pub fn memory_purge(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.ok();
    Ok(())
}

pub fn memory_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}
