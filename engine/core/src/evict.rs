//! maxmemory eviction, as Redis's evict.c: before a command runs, while used
//! memory is above `maxmemory`, delete keys chosen by `maxmemory-policy`.
//! LRU, LFU and TTL policies sample `maxmemory-samples` keys per database into
//! a persistent 16-entry pool ordered by "idleness" (LRU idle time, 255 minus
//! the decayed LFU counter, or the inverse of the expiry time) and evict the
//! best candidate that still exists; random policies pick a random key
//! (volatile-*: among keys with a TTL), rotating over databases.
//!
//! Invariants: volatile-* policies never touch a key without a TTL; an
//! evicted key is deleted through the keyspace (WATCH is signalled) and an
//! "evicted" keyspace event is queued; `evicted_keys` counts each one.

use crate::db::table::NO_EXPIRE;
use crate::db::Keyspace;

pub const POOL_SIZE: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    VolatileLru,
    AllKeysLfu,
    VolatileLfu,
    AllKeysRandom,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub fn parse(name: &str) -> Policy {
        match name {
            "allkeys-lru" => Policy::AllKeysLru,
            "volatile-lru" => Policy::VolatileLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "volatile-lfu" => Policy::VolatileLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }
}

/// Redis's EvictionPoolLRU: candidates in ascending idleness.
#[derive(Default, Debug)]
pub struct Pool {
    entries: Vec<(u64, usize, Box<[u8]>)>,
    next_db: usize,
}

impl Pool {
    fn insert(&mut self, idle: u64, db: usize, key: &[u8]) {
        if self
            .entries
            .iter()
            .any(|(_, d, k)| *d == db && &k[..] == key)
        {
            return;
        }
        let pos = self.entries.partition_point(|(i, _, _)| *i < idle);
        if self.entries.len() >= POOL_SIZE {
            if pos == 0 {
                return; // worse than every candidate we hold
            }
            // Drop the least idle (front) and place the new one: one shift.
            self.entries[..pos].rotate_left(1);
            self.entries[pos - 1] = (idle, db, key.into());
        } else {
            self.entries.insert(pos, (idle, db, key.into()));
        }
    }
}

/// Sample keys of `db` into the pool (evictionPoolPopulate).
fn populate(ks: &mut Keyspace, pool: &mut Pool, db: usize, policy: Policy, samples: usize) {
    for _ in 0..samples {
        let table = &ks.dbs[db].table;
        let pick = if policy.volatile() {
            table.random_volatile(&mut ks.rng)
        } else {
            table.random(&mut ks.rng)
        };
        let Some(i) = pick else {
            return;
        };
        let e = table.entry(i);
        let idle = match policy {
            Policy::AllKeysLru | Policy::VolatileLru => ks.idle_ms(e.lru),
            Policy::AllKeysLfu | Policy::VolatileLfu => {
                255 - u64::from(ks.lfu_decr_and_return(e.lru))
            }
            // Sooner expiry = better candidate.
            Policy::VolatileTtl => u64::MAX - table.expire_of_entry(e).max(0) as u64,
            _ => 0,
        };
        // Most samples lose to a warm pool: decide before copying the key.
        if pool.entries.len() >= POOL_SIZE && pool.entries.first().is_some_and(|f| idle <= f.0) {
            continue;
        }
        let key: Box<[u8]> = (*e.key).into();
        pool.insert(idle, db, &key);
    }
}

/// Choose one key to evict, or None when no key qualifies.
pub fn pick_victim(
    ks: &mut Keyspace,
    policy: Policy,
    samples: usize,
) -> Option<(usize, Box<[u8]>)> {
    let mut pool = std::mem::take(&mut ks.evict_pool);
    let ndb = ks.dbs.len();
    let found = match policy {
        Policy::NoEviction => None,
        Policy::AllKeysRandom | Policy::VolatileRandom => {
            let mut found = None;
            for _ in 0..ndb {
                pool.next_db = (pool.next_db + 1) % ndb;
                let db = pool.next_db;
                let t = &ks.dbs[db].table;
                let pick = if policy.volatile() {
                    t.random_volatile(&mut ks.rng)
                } else {
                    t.random(&mut ks.rng)
                };
                if let Some(i) = pick {
                    found = Some((db, (*t.entry(i).key).into()));
                    break;
                }
            }
            found
        }
        _ => {
            let mut found = None;
            // A few rounds: the pool may only hold keys deleted meanwhile.
            for _ in 0..4 {
                for db in 0..ndb {
                    populate(ks, &mut pool, db, policy, samples);
                }
                while let Some((_, db, key)) = pool.entries.pop() {
                    let Some(i) = ks.dbs[db].table.find(&key) else {
                        continue; // a ghost: deleted since it was sampled
                    };
                    if policy.volatile() && ks.dbs[db].table.expire_of(i) == NO_EXPIRE {
                        continue; // TTL removed since sampling
                    }
                    found = Some((db, key));
                    break;
                }
                if found.is_some() || ks.dbs.iter().all(|d| d.table.is_empty()) {
                    break;
                }
            }
            found
        }
    };
    ks.evict_pool = pool;
    found
}

/// Evict until `used()` is at most `max` (performEvictions). Returns false
/// when memory is still above the limit and nothing more can be evicted.
pub fn perform_evictions(
    ks: &mut Keyspace,
    policy: Policy,
    samples: usize,
    max: u64,
    used: &mut dyn FnMut(&Keyspace) -> u64,
) -> bool {
    // Bounded per call, like Redis's eviction time limit: a huge overshoot is
    // worked off over the following commands instead of stalling this one.
    for _ in 0..100_000 {
        if used(ks) <= max {
            return true;
        }
        let Some((db, key)) = pick_victim(ks, policy, samples) else {
            return false;
        };
        if ks.delete(db, &key) {
            ks.dirty = ks.dirty.saturating_sub(1);
            ks.stats.evicted += 1;
            ks.propagate_deletion(db, &key, ks.lazy_eviction);
            if ks.notify_flags & crate::cmd::notify::EVICTED != 0 {
                ks.events
                    .push((crate::cmd::notify::EVICTED, "evicted", db, key));
            }
        }
    }
    used(ks) <= max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keeps_the_most_idle_candidates_sorted() {
        let mut p = Pool::default();
        for i in 0..40u64 {
            let k = format!("k{i}");
            p.insert((i * 7919) % 101, 0, k.as_bytes());
        }
        assert_eq!(p.entries.len(), POOL_SIZE);
        let idles: Vec<u64> = p.entries.iter().map(|e| e.0).collect();
        let mut sorted = idles.clone();
        sorted.sort_unstable();
        assert_eq!(idles, sorted);
        let mut all: Vec<u64> = (0..40u64).map(|i| (i * 7919) % 101).collect();
        all.sort_unstable();
        assert_eq!(
            idles,
            all[all.len() - POOL_SIZE..].to_vec(),
            "the 16 largest"
        );
    }
}
