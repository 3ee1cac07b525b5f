//! The keyspace: 16 (configurable) databases, lookups with lazy expiry, the
//! active expiry cycle, LRU/LFU access clocks, and WATCH bookkeeping.
//!
//! Time is a value (`now_ms`, set by the caller before each command); nothing
//! here reads a clock. Invariant: a key whose `expire_ms < now_ms` is never
//! returned by a lookup: it is deleted on the spot (lazy expiry), counted in
//! `expired_keys`, and WATCHers of it are flagged.

pub mod bytes;
pub mod geohash;
pub mod hash;
pub mod hll;
pub mod list;
pub mod packed;
pub mod set;
pub mod slots;
pub mod stream;
pub mod table;
pub mod value;
pub mod zset;

use std::collections::{HashMap, VecDeque};

use crate::rng::Rng;
use table::{Entry, KeyTable, NO_EXPIRE};
pub use value::Value;

/// Redis's LRU clock: seconds, 24 bits.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
pub const LFU_INIT_VAL: u32 = 5;

/// Seconds an LRU-clocked object has been idle at LRU clock `now`
/// (Redis's estimateObjectIdleTime, in seconds).
pub fn lru_idle_secs(now: u32, lru: u32) -> u32 {
    if now >= lru {
        now - lru
    } else {
        (LRU_CLOCK_MAX - lru) + now
    }
}

/// The LFU counter of `lru` decayed to `minutes` (Redis's LFUDecrAndReturn).
pub fn lfu_decayed(lru: u32, minutes: u32, decay_time: u32) -> u32 {
    let ldt = lru >> 8;
    let counter = lru & 255;
    let elapsed = if minutes >= ldt {
        minutes - ldt
    } else {
        65535 - ldt + minutes
    };
    let periods = if decay_time > 0 {
        elapsed / decay_time
    } else {
        0
    };
    counter.saturating_sub(periods)
}

/// Which client handles WATCH a key, and whether it was already expired then.
pub type Watchers = Vec<(usize, bool)>;

pub struct Db {
    pub table: KeyTable,
    pub watched: HashMap<Box<[u8]>, Watchers>,
    pub avg_ttl_ms: i64,
    /// Client handles blocked on each key, in the order they blocked
    /// (BLPOP & co). Maintained by `crate::blocking`.
    pub blocking: FxMap<Box<[u8]>, VecDeque<usize>>,
    /// Keys of this db already queued in `Keyspace::ready` (dedupe).
    pub ready_set: FxMap<Box<[u8]>, ()>,
}

/// Deterministic fast-hash map (iteration order fixed by the seed-free hasher).
pub type FxMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

#[derive(Default, Clone, Debug)]
pub struct KeyStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
    pub evicted: u64,
    pub expired_stale_perc: f64,
    pub expired_time_cap_reached: u64,
}

/// One write in effect form (see `Effects::propagate`).
#[derive(Debug, Clone, PartialEq)]
pub struct Propagated {
    pub db: usize,
    pub argv: Vec<Vec<u8>>,
}

pub struct Keyspace {
    pub dbs: Vec<Db>,
    /// Record writes into `prop` (AOF or replicas are listening).
    pub prop_enabled: bool,
    /// Writes in effect form since the server last drained them.
    pub prop: Vec<Propagated>,
    /// The running command's own effect form, when it differs from its argv
    /// (`Ctx::propagate_as`); `None` = propagate argv if it wrote.
    pub prop_rewrite: Option<Vec<Vec<Vec<u8>>>>,
    /// Replaying an effect stream (AOF load, later a replica's link): keys
    /// are not expired here, because the stream carries the DELs for the
    /// expiries that happened (Redis's `server.loading` / masterhost checks
    /// in expireIfNeeded and checkAlreadyExpired).
    pub loading: bool,
    /// Keep recording the effect stream when the AOF is switched off (a
    /// replication backlog exists).
    pub prop_keep: bool,
    /// We are a read-only replica: keys whose TTL passed are invisible to
    /// clients but not deleted (the master sends the DEL).
    pub replica_hide: bool,
    /// Planted bugs switched on (crate::planted; simulator selftests only).
    pub planted: u32,
    pub planted_calls: u64,
    /// A point-in-time walk in progress (BGSAVE / AOF rewrite).
    pub snapshot: Option<Box<crate::snapshot::Snapshot>>,
    /// lazyfree-lazy-eviction / -expire: propagate those deletions as UNLINK.
    pub lazy_eviction: bool,
    pub lazy_expire: bool,
    pub now_ms: i64,
    pub lfu: bool,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    pub rng: Rng,
    pub stats: KeyStats,
    /// Writes since the last save (Redis's `server.dirty`).
    pub dirty: u64,
    /// Client handles whose WATCHed keys were touched; drained by the server.
    pub touched_clients: Vec<usize>,
    /// DEBUG SET-ACTIVE-EXPIRE turns the active cycle off (lazy expiry stays).
    pub active_expire_enabled: bool,
    expire_db_cursor: usize,
    /// Keys signalled ready for blocked clients, in signal order; the server
    /// serves them after each command (Redis's `server.ready_keys`).
    pub ready: VecDeque<(usize, Box<[u8]>)>,
    /// `notify-keyspace-events` bits (mirrors `Config::notify_flags`).
    pub notify_flags: u32,
    /// Keyspace events raised below the command layer ("expired" from lazy
    /// and active expiry, "new" from `add`), published in order before the
    /// command's own events and after each command / cron run.
    pub events: Vec<(u32, &'static str, usize, Box<[u8]>)>,
    /// maxmemory eviction candidates, kept across commands (see evict.rs).
    pub evict_pool: crate::evict::Pool,
}

impl Keyspace {
    /// Mark `key` ready for clients blocked on it (served after the current
    /// command). Cheap when nobody is blocked in `db`.
    pub fn signal_ready(&mut self, db: usize, key: &[u8]) {
        let d = &mut self.dbs[db];
        if d.blocking.is_empty() || !d.blocking.contains_key(key) || d.ready_set.contains_key(key) {
            return;
        }
        d.ready_set.insert(key.into(), ());
        self.ready.push_back((db, key.into()));
    }

    /// Next ready key, if any (clears its dedupe mark).
    pub fn pop_ready(&mut self) -> Option<(usize, Box<[u8]>)> {
        let (db, key) = self.ready.pop_front()?;
        self.dbs[db].ready_set.remove(&key);
        Some((db, key))
    }

    /// New lists, sorted sets and streams wake clients blocked on their key
    /// (Redis's dbAdd -> signalKeyAsReady).
    #[inline]
    fn signal_if_blockable(&mut self, db: usize, key: &[u8], val: &Value) {
        if !self.dbs[db].blocking.is_empty()
            && matches!(val, Value::List(_) | Value::ZSet(_) | Value::Stream(_))
        {
            self.signal_ready(db, key);
        }
    }

    pub fn new(databases: usize, rng_seed: u64) -> Keyspace {
        let mut rng = Rng::new(rng_seed);
        let hash_seed = rng.next_u64();
        Keyspace {
            dbs: (0..databases)
                .map(|_| Db {
                    table: KeyTable::new(hash_seed),
                    watched: HashMap::new(),
                    avg_ttl_ms: 0,
                    blocking: FxMap::default(),
                    ready_set: FxMap::default(),
                })
                .collect(),
            now_ms: 0,
            prop_keep: false,
            replica_hide: false,
            lfu: false,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            rng,
            stats: KeyStats::default(),
            dirty: 0,
            touched_clients: Vec::new(),
            active_expire_enabled: true,
            expire_db_cursor: 0,
            ready: VecDeque::new(),
            notify_flags: 0,
            events: Vec::new(),
            prop_enabled: false,
            prop: Vec::new(),
            prop_rewrite: None,
            loading: false,
            planted: 0,
            planted_calls: 0,
            snapshot: None,
            lazy_eviction: false,
            lazy_expire: false,
            evict_pool: Default::default(),
        }
    }

    pub fn lru_clock(&self) -> u32 {
        ((self.now_ms / 1000) as u64 & u64::from(LRU_CLOCK_MAX)) as u32
    }

    pub fn minutes(&self) -> u32 {
        ((self.now_ms / 1000 / 60) as u64 & 0xFFFF) as u32
    }

    /// The `lru` field for a new object (LRU clock, or LFU's initial counter).
    pub fn new_lru(&self) -> u32 {
        if self.lfu {
            (self.minutes() << 8) | LFU_INIT_VAL
        } else {
            self.lru_clock()
        }
    }

    /// Entry `i` of `db` has a TTL that has passed.
    pub fn is_expired(&self, db: usize, i: u32) -> bool {
        let at = self.dbs[db].table.expire_of(i);
        at != NO_EXPIRE && self.now_ms > at && !self.loading
    }

    /// Redis's checkAlreadyExpired: an expiry time at or before now deletes
    /// the key instead of setting it, except while replaying a stream.
    pub fn already_expired(&self, at_ms: i64) -> bool {
        at_ms <= self.now_ms && !self.loading
    }

    /// Absolute expiry of entry `i` of `db` in ms, or NO_EXPIRE.
    #[inline]
    pub fn expire_of(&self, db: usize, i: u32) -> i64 {
        self.dbs[db].table.expire_of(i)
    }

    /// Find `key`, deleting it first if its TTL has passed. No stats.
    pub fn lookup(&mut self, db: usize, key: &[u8]) -> Option<u32> {
        let i = self.dbs[db].table.find(key)?;
        if self.is_expired(db, i) {
            if self.replica_hide {
                return None;
            }
            self.expire_at(db, i);
            return None;
        }
        Some(i)
    }

    fn expire_at(&mut self, db: usize, i: u32) {
        self.cow(db, i);
        let (e, _) = self.dbs[db].table.remove_at(i);
        self.stats.expired += 1;
        self.propagate_deletion(db, &e.key, self.lazy_expire);
        self.dirty += 1;
        self.signal_modified(db, &e.key);
        if self.notify_flags & crate::cmd::notify::EXPIRED != 0 {
            self.events
                .push((crate::cmd::notify::EXPIRED, "expired", db, (*e.key).into()));
        }
    }

    /// Lookup for reading: counts hits/misses and updates the access clock.
    #[inline]
    pub fn lookup_read(&mut self, db: usize, key: &[u8]) -> Option<u32> {
        match self.lookup(db, key) {
            Some(i) => {
                self.stats.hits += 1;
                self.touch_access(db, i);
                Some(i)
            }
            None => {
                self.note_miss(db, key);
                None
            }
        }
    }

    /// A read miss (lookupKeyReadWithFlags): counted in keyspace_misses and
    /// published as a "keymiss" event when the `m` class is on.
    pub fn note_miss(&mut self, db: usize, key: &[u8]) {
        self.stats.misses += 1;
        if self.notify_flags & crate::cmd::notify::KEY_MISS != 0 {
            self.events
                .push((crate::cmd::notify::KEY_MISS, "keymiss", db, key.into()));
        }
    }

    /// Lookup for writing: updates the access clock, no hit/miss stats.
    #[inline]
    pub fn lookup_write(&mut self, db: usize, key: &[u8]) -> Option<u32> {
        let i = self.lookup(db, key)?;
        self.cow(db, i);
        self.touch_access(db, i);
        Some(i)
    }

    /// Copy-on-write for a snapshot in progress: record entry `i` as it is
    /// now if the walk has not reached it (call before changing it).
    #[inline]
    pub fn cow(&mut self, db: usize, i: u32) {
        if self.snapshot.is_some() {
            self.cow_slow(db, i);
        }
    }

    #[cold]
    fn cow_slow(&mut self, db: usize, i: u32) {
        let Some(snap) = self.snapshot.as_mut() else {
            return;
        };
        if !snap.unvisited(db, i) {
            return;
        }
        let t = &self.dbs[db].table;
        let e = t.entry(i);
        if snap.skip[db].contains(&*e.key) {
            return;
        }
        snap.sink
            .record(db, &e.key, &e.val, t.expire_of_entry(e), e.lru);
        snap.early_records += 1;
        snap.records += 1;
        snap.skip[db].insert((*e.key).into());
    }

    /// A key created at index `i`: a running walk must not record it.
    #[inline]
    fn note_new(&mut self, db: usize, i: u32, key: &[u8]) {
        if let Some(snap) = self.snapshot.as_mut() {
            if snap.unvisited(db, i) {
                snap.skip[db].insert(key.into());
            }
        }
    }

    /// Start a snapshot walk into `sink` (replacing any previous one).
    pub fn begin_snapshot(&mut self, sink: Box<dyn crate::snapshot::SnapshotSink>) {
        self.snapshot = Some(Box::new(crate::snapshot::Snapshot::new(
            sink,
            self.dbs.len(),
        )));
    }

    /// Walk up to `budget` entries. Returns true when the walk is complete.
    pub fn snapshot_step(&mut self, mut budget: usize) -> bool {
        let Some(snap) = self.snapshot.as_mut() else {
            return true;
        };
        while !snap.done && budget > 0 {
            if snap.db >= self.dbs.len() {
                snap.done = true;
                break;
            }
            let t = &self.dbs[snap.db].table;
            if !snap.started_db {
                snap.started_db = true;
                if !t.is_empty() {
                    snap.sink.begin_db(snap.db, t.len(), t.volatile_len());
                }
            }
            if snap.cursor as usize >= t.slab_len() {
                snap.db += 1;
                snap.cursor = 0;
                snap.started_db = false;
                continue;
            }
            let i = snap.cursor;
            snap.cursor += 1;
            budget -= 1;
            let Some(e) = t.try_entry(i) else {
                continue;
            };
            if snap.skip[snap.db].remove(&*e.key) {
                continue;
            }
            snap.sink
                .record(snap.db, &e.key, &e.val, t.expire_of_entry(e), e.lru);
            snap.records += 1;
        }
        snap.done
    }

    /// FLUSHDB/FLUSHALL/SWAPDB: the walk cannot stay consistent.
    pub fn abort_snapshot(&mut self) {
        if let Some(s) = self.snapshot.as_mut() {
            s.aborted = true;
            s.done = true;
        }
    }

    pub fn touch_access(&mut self, db: usize, i: u32) {
        if self.lfu {
            let lru = self.dbs[db].table.entry(i).lru;
            let counter = self.lfu_decr_and_return(lru);
            let counter = self.lfu_log_incr(counter);
            let minutes = self.minutes();
            self.dbs[db].table.entry_mut(i).lru = (minutes << 8) | counter;
        } else {
            let c = self.lru_clock();
            self.dbs[db].table.entry_mut(i).lru = c;
        }
    }

    /// Redis's `LFUDecrAndReturn`: the counter decayed by elapsed minutes.
    pub fn lfu_decr_and_return(&self, lru: u32) -> u32 {
        lfu_decayed(lru, self.minutes(), self.lfu_decay_time)
    }

    fn lfu_log_incr(&mut self, counter: u32) -> u32 {
        if counter == 255 {
            return 255;
        }
        let r = self.rng.next_f64();
        let baseval = f64::from(counter.saturating_sub(LFU_INIT_VAL));
        let p = 1.0 / (baseval * f64::from(self.lfu_log_factor) + 1.0);
        if r < p {
            counter + 1
        } else {
            counter
        }
    }

    /// Idle time in ms of an LRU-clocked entry (Redis's estimateObjectIdleTime).
    pub fn idle_ms(&self, lru: u32) -> u64 {
        u64::from(lru_idle_secs(self.lru_clock(), lru)) * 1000
    }

    #[inline]
    pub fn entry(&self, db: usize, i: u32) -> &Entry {
        self.dbs[db].table.entry(i)
    }

    #[inline]
    pub fn entry_mut(&mut self, db: usize, i: u32) -> &mut Entry {
        self.dbs[db].table.entry_mut(i)
    }

    /// Add a key known to be absent (after a lookup returned None).
    pub fn add(&mut self, db: usize, key: &[u8], val: Value) -> u32 {
        self.signal_if_blockable(db, key, &val);
        if self.notify_flags & crate::cmd::notify::NEW != 0 {
            self.events
                .push((crate::cmd::notify::NEW, "new", db, key.into()));
        }
        let lru = self.new_lru();
        let i = self.dbs[db].table.insert_new(key, val, lru);
        self.note_new(db, i, key);
        self.signal_modified(db, key);
        self.dirty += 1;
        i
    }

    /// Remove entry `i` (RENAME/MOVE), returning it and its expiry; a
    /// running snapshot records it first.
    pub fn remove_entry(&mut self, db: usize, i: u32) -> (Entry, i64) {
        self.cow(db, i);
        self.dbs[db].table.remove_at(i)
    }

    /// Redis's `setKey`: create or overwrite; drops the TTL unless `keep_ttl`.
    pub fn set(&mut self, db: usize, key: &[u8], val: Value, keep_ttl: bool) -> u32 {
        match self.lookup(db, key) {
            Some(i) => {
                self.cow(db, i);
                // Overwriting a waited-on key: new data may serve waiters, a
                // replaced stream ends XREADGROUP waits (signalDeletedKeyAsReady).
                if self.dbs[db].blocking.contains_key(key) {
                    self.signal_ready(db, key);
                }
                let lru = self.new_lru();
                let e = self.dbs[db].table.entry_mut(i);
                e.val = val;
                e.lru = lru;
                if !keep_ttl {
                    self.dbs[db].table.set_expire(i, NO_EXPIRE);
                }
                self.signal_modified(db, key);
                self.dirty += 1;
                i
            }
            None => self.add(db, key, val),
        }
    }

    /// Delete `key` if present (expired keys count as absent).
    pub fn delete(&mut self, db: usize, key: &[u8]) -> bool {
        match self.lookup(db, key) {
            Some(i) => {
                if !self.dbs[db].blocking.is_empty()
                    && matches!(self.dbs[db].table.entry(i).val, Value::Stream(_))
                {
                    // signalDeletedKeyAsReady: XREADGROUP waiters must learn
                    // the stream is gone (they get an error, not a timeout).
                    self.signal_ready(db, key);
                }
                self.cow(db, i);
                self.dbs[db].table.remove_at(i);
                self.signal_modified(db, key);
                self.dirty += 1;
                true
            }
            None => false,
        }
    }

    pub fn set_expire(&mut self, db: usize, i: u32, at_ms: i64) {
        self.cow(db, i);
        self.dbs[db].table.set_expire(i, at_ms);
    }

    /// Redis's propagateDeletion: an expired or evicted key reaches the AOF
    /// and replicas as DEL (UNLINK when the matching lazyfree option is on),
    /// so they never expire or evict on their own.
    pub fn propagate_deletion(&mut self, db: usize, key: &[u8], lazy: bool) {
        if self.prop_enabled {
            let cmd: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
            self.prop.push(Propagated {
                db,
                argv: vec![cmd.to_vec(), key.to_vec()],
            });
        }
    }

    /// WATCH bookkeeping for a modified key (Redis's `touchWatchedKey`).
    pub fn signal_modified(&mut self, db: usize, key: &[u8]) {
        let d = &mut self.dbs[db];
        if d.watched.is_empty() {
            return;
        }
        let exists = d.table.find(key).is_some();
        if let Some(ws) = d.watched.get_mut(key) {
            for (h, expired) in ws.iter_mut() {
                if *expired {
                    if !exists {
                        // Already expired at WATCH time and now gone: no logical change.
                        *expired = false;
                        continue;
                    }
                }
                self.touched_clients.push(*h);
            }
        }
    }

    /// Flag WATCHers of every key of `db` that exists (FLUSHDB/SWAPDB).
    pub fn touch_all_watched(&mut self, db: usize, also_in: Option<usize>) {
        let keys: Vec<Box<[u8]>> = self.dbs[db].watched.keys().cloned().collect();
        for k in keys {
            let here = self.dbs[db].table.find(&k).is_some();
            let there = also_in.is_some_and(|o| self.dbs[o].table.find(&k).is_some());
            if here || there {
                if let Some(ws) = self.dbs[db].watched.get(&k) {
                    self.touched_clients.extend(ws.iter().map(|w| w.0));
                }
            }
        }
    }

    pub fn flush_db(&mut self, db: usize) -> usize {
        if !self.dbs[db].table.is_empty() {
            self.abort_snapshot();
        }
        self.touch_all_watched(db, None);
        let n = self.dbs[db].table.len();
        self.dbs[db].table.clear();
        self.dbs[db].avg_ttl_ms = 0;
        self.dirty += n as u64;
        self.signal_all_blocked(db);
        n
    }

    /// Signal every key clients wait on in `db` after its contents changed
    /// wholesale (FLUSHDB, SWAPDB): waiters whose key now holds data are
    /// served, XREADGROUP waiters whose stream vanished get their error
    /// (Redis's scanDatabaseForReadyKeys / scanDatabaseForDeletedStreams).
    pub fn signal_all_blocked(&mut self, db: usize) {
        if self.dbs[db].blocking.is_empty() {
            return;
        }
        let mut keys: Vec<Box<[u8]>> = self.dbs[db].blocking.keys().cloned().collect();
        keys.sort_unstable(); // deterministic order
        for k in keys {
            self.signal_ready(db, &k);
        }
    }

    /// One run of the active expiry cycle (Redis's `activeExpireCycle`, slow
    /// kind). Bounded by keys examined instead of microseconds, so it is a
    /// pure function of state, time and seed. Returns keys expired.
    pub fn active_expire_cycle(&mut self, effort: u32, hz: u32) -> u64 {
        if self.loading {
            return 0;
        }
        let effort = effort.clamp(1, 10) - 1;
        let keys_per_loop = 20 + 20 / 4 * u64::from(effort);
        let acceptable_stale = 10 - u64::from(effort);
        // Redis spends 25% of a cron tick; we spend a key budget of the same spirit.
        let budget = (200_000 / u64::from(hz.max(1))).max(keys_per_loop * 16);
        let ndbs = self.dbs.len();
        let mut examined = 0u64;
        let mut expired_total = 0u64;
        let mut total_sampled = 0u64;
        let mut total_expired = 0u64;
        for _ in 0..ndbs.min(16) {
            let db = self.expire_db_cursor % ndbs;
            self.expire_db_cursor = self.expire_db_cursor.wrapping_add(1);
            loop {
                let n = self.dbs[db].table.volatile_len() as u64;
                if n == 0 {
                    self.dbs[db].avg_ttl_ms = 0;
                    break;
                }
                let mut sampled = 0;
                let mut expired = 0;
                let mut ttl_sum = 0i64;
                let mut ttl_samples = 0i64;
                for _ in 0..keys_per_loop.min(n) {
                    let Some(i) = self.dbs[db].table.random_volatile(&mut self.rng) else {
                        break;
                    };
                    sampled += 1;
                    if self.is_expired(db, i) {
                        self.expire_at(db, i);
                        expired += 1;
                    } else {
                        ttl_sum += self.expire_of(db, i) - self.now_ms;
                        ttl_samples += 1;
                    }
                }
                examined += sampled;
                total_sampled += sampled;
                total_expired += expired;
                expired_total += expired;
                if ttl_samples > 0 {
                    let avg = ttl_sum / ttl_samples;
                    let d = &mut self.dbs[db];
                    d.avg_ttl_ms = if d.avg_ttl_ms == 0 {
                        avg
                    } else {
                        (d.avg_ttl_ms / 50) * 49 + avg / 50
                    };
                }
                if examined >= budget {
                    self.stats.expired_time_cap_reached += 1;
                    break;
                }
                if sampled == 0 || expired * 100 / sampled <= acceptable_stale {
                    break;
                }
            }
            if examined >= budget {
                break;
            }
        }
        let current = if total_sampled > 0 {
            total_expired as f64 / total_sampled as f64
        } else {
            0.0
        };
        self.stats.expired_stale_perc = current * 0.05 + self.stats.expired_stale_perc * 0.95;
        expired_total
    }
}
