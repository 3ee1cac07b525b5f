//! Point-in-time snapshots without fork (issue 5: BGSAVE and AOF rewrite
//! must not stop the server nor copy the dataset).
//!
//! A snapshot walks the keyspace a few keys per step (db by db, slab index
//! order) while commands keep running. Consistency as of `begin` comes from
//! key-level copy-on-write: before any write touches a key the walk has not
//! reached yet, the key's current (pre-write) state is recorded right away
//! and the key is put in `skip`, so the walk will not record it again; keys
//! created after `begin` in the unvisited region go in `skip` too. So every
//! key that existed at `begin` is recorded exactly once, with its state at
//! `begin`, and no later key is.
//!
//! Extra memory is bounded by what is written during the save: `skip` holds
//! one key per key written (or created) during it, and the sink's buffer is
//! drained by the shell every step.
//!
//! Invariants (the keyspace keeps them):
//! - slab indices do not move while a snapshot is active (no compaction);
//! - every write path calls `Keyspace::cow` before changing or removing an
//!   existing key, and `Keyspace::note_new` after creating one;
//! - FLUSHDB/FLUSHALL/SWAPDB abort the snapshot (Redis kills its child too).

use std::collections::HashSet;

use crate::db::Value;

/// Where a snapshot's records go (an RDB writer, or a test collector).
pub trait SnapshotSink: Send {
    /// One key with its state at the snapshot's start.
    fn record(&mut self, db: usize, key: &[u8], val: &Value, expire_ms: i64, lru: u32);
    /// Called when database `db` is about to be walked (its size at that
    /// moment, for RESIZEDB-style hints).
    fn begin_db(&mut self, _db: usize, _keys: usize, _volatile: usize) {}
    /// Move the bytes produced so far into `out` (the server writes them).
    fn drain(&mut self, _out: &mut Vec<u8>) {}
    /// The walk is complete: append the trailer (e.g. RDB's EOF + CRC).
    fn finish(&mut self, _out: &mut Vec<u8>) {}
}

type KeySet = HashSet<Box<[u8]>, foldhash::fast::FixedState>;

pub struct Snapshot {
    pub sink: Box<dyn SnapshotSink>,
    /// The db being walked and the next slab index in it.
    pub(crate) db: usize,
    pub(crate) cursor: u32,
    /// Per db: keys recorded early (written during the walk) or created
    /// after `begin` in the unvisited region.
    pub(crate) skip: Vec<KeySet>,
    pub(crate) started_db: bool,
    /// True once every db has been walked.
    pub done: bool,
    /// Set when a FLUSH/SWAPDB made the snapshot impossible to complete.
    pub aborted: bool,
    /// Keys recorded ahead of the walk because a write touched them.
    pub early_records: u64,
    pub records: u64,
}

impl Snapshot {
    pub fn new(sink: Box<dyn SnapshotSink>, dbs: usize) -> Snapshot {
        Snapshot {
            sink,
            db: 0,
            cursor: 0,
            skip: (0..dbs).map(|_| KeySet::default()).collect(),
            started_db: false,
            done: false,
            aborted: false,
            early_records: 0,
            records: 0,
        }
    }

    /// Entry `i` of `db` has not been reached by the walk yet.
    #[inline]
    pub(crate) fn unvisited(&self, db: usize, i: u32) -> bool {
        !self.done && (db > self.db || (db == self.db && i >= self.cursor))
    }

    /// Extra bytes held for consistency (the skip sets' keys).
    pub fn skip_bytes(&self) -> usize {
        self.skip
            .iter()
            .flat_map(|s| s.iter())
            .map(|k| k.len() + 16)
            .sum()
    }
}
