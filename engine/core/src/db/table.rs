//! The key table of one database: a chained hash table whose entries live in
//! a paged slab (no allocation per entry beyond long keys and values).
//!
//! Memory per key (issue 4): an entry is 56 bytes: the key inline when it is
//! at most 22 bytes (`KeyBytes`), a 16-byte `Value` (short strings inline),
//! the LRU/LFU word, a 32-bit hash, the chain link and the TTL-index
//! position. Expiry times live only in the TTL index (`volatile`), so keys
//! without a TTL do not pay for one. The slab grows by fixed pages, never by
//! doubling a whole array, so there is no 2x capacity overshoot.
//!
//! Why not `HashMap`: Redis's SCAN guarantee (a key present for the whole
//! iteration is returned at least once, across resizes) needs the
//! reverse-binary cursor over power-of-two bucket arrays, which needs bucket
//! access. The slab also gives O(1) random sampling for RANDOMKEY, active
//! expiry and eviction, and a dense list of volatile (TTL) entries.
//!
//! Invariants (checked by `check` in tests):
//! - `heads.len()` is a power of two; entry `i` with hash `h` is on the chain of
//!   bucket `h & mask`, and every used slot is on exactly one chain.
//! - `volatile[e.vol_pos].idx == i` for every entry with a TTL, and only those.

use super::bytes::KeyBytes;
use super::value::Value;

pub const NONE: u32 = u32::MAX;
pub const NO_EXPIRE: i64 = -1;
const BUCKETS_MIN: usize = 4;
/// Bytes one key costs in the table itself (its slab slot), before the key's
/// and value's own heap allocations.
pub const ENTRY_BYTES: usize = std::mem::size_of::<Option<Entry>>();

const PAGE_SHIFT: u32 = 8;
const PAGE_LEN: usize = 1 << PAGE_SHIFT;

#[derive(Debug)]
pub struct Entry {
    pub key: KeyBytes,
    pub val: Value,
    /// LRU clock (seconds, 24 bits) or LFU data, as Redis's `robj.lru`.
    pub lru: u32,
    /// Low 32 bits of the key's hash (tables never have 2^32 buckets).
    hash: u32,
    next: u32,
    vol_pos: u32,
}

/// One TTL-index slot: the entry and its absolute expiry (ms since epoch).
#[derive(Debug, Clone, Copy)]
struct Vol {
    idx: u32,
    expire_ms: i64,
}

#[derive(Debug)]
pub struct KeyTable {
    heads: Vec<u32>,
    /// The slab: `PAGE_LEN` slots per page; slot `i` is
    /// `pages[i >> PAGE_SHIFT][i & (PAGE_LEN - 1)]`.
    pages: Vec<Box<[Option<Entry>]>>,
    /// Slots handed out so far (the slab's length).
    high: usize,
    free: Vec<u32>,
    len: usize,
    volatile: Vec<Vol>,
    seed: u64,
    /// Per-slot index, kept only in cluster mode (see `enable_slot_index`).
    slot_index: Option<Box<super::slots::SlotIndex>>,
}

impl KeyTable {
    pub fn new(seed: u64) -> KeyTable {
        KeyTable {
            heads: vec![NONE; BUCKETS_MIN],
            pages: Vec::new(),
            high: 0,
            free: Vec::new(),
            len: 0,
            volatile: Vec::new(),
            seed,
            slot_index: None,
        }
    }

    /// Make room for `n` more keys at once (bulk loads): one bucket resize
    /// instead of one per doubling.
    pub fn reserve(&mut self, n: usize) {
        let want = (self.len + n).next_power_of_two();
        if want > self.heads.len() {
            self.resize(want);
        }
        self.pages.reserve(
            (self.high + n)
                .div_ceil(PAGE_LEN)
                .saturating_sub(self.pages.len()),
        );
    }

    /// Start maintaining per-slot key lists (cluster mode).
    pub fn enable_slot_index(&mut self) {
        let mut idx = super::slots::SlotIndex::new();
        for i in 0..self.high as u32 {
            if let Some(e) = self.slot(i) {
                idx.insert(i, &e.key);
            }
        }
        self.slot_index = Some(Box::new(idx));
    }

    pub fn count_in_slot(&self, slot: u16) -> Option<u32> {
        self.slot_index.as_ref().map(|x| x.count(slot))
    }

    pub fn keys_in_slot(&self, slot: u16, limit: usize) -> Option<Vec<&[u8]>> {
        let idx = self.slot_index.as_ref()?;
        Some(
            idx.entries(slot, limit)
                .into_iter()
                .map(|i| &*self.entry(i).key)
                .collect(),
        )
    }

    #[inline]
    pub fn hash(&self, key: &[u8]) -> u32 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = foldhash::fast::FixedState::with_seed(self.seed).build_hasher();
        h.write(key);
        h.finish() as u32
    }

    #[inline]
    fn slot(&self, i: u32) -> Option<&Entry> {
        self.pages[(i >> PAGE_SHIFT) as usize][i as usize & (PAGE_LEN - 1)].as_ref()
    }

    #[inline]
    fn slot_mut(&mut self, i: u32) -> &mut Option<Entry> {
        &mut self.pages[(i >> PAGE_SHIFT) as usize][i as usize & (PAGE_LEN - 1)]
    }

    /// Append a slot to the slab, adding a page when the last one is full.
    fn push_slot(&mut self, e: Entry) -> u32 {
        let i = u32::try_from(self.high).expect("fewer than 2^32 keys per db");
        if self.high == self.pages.len() * PAGE_LEN {
            self.pages.push((0..PAGE_LEN).map(|_| None).collect());
        }
        self.high += 1;
        *self.slot_mut(i) = Some(e);
        i
    }

    /// Absolute expiry of entry `i` in ms, or NO_EXPIRE.
    #[inline]
    pub fn expire_of(&self, i: u32) -> i64 {
        self.expire_of_entry(self.entry(i))
    }

    /// Absolute expiry of an entry of this table, or NO_EXPIRE.
    #[inline]
    pub fn expire_of_entry(&self, e: &Entry) -> i64 {
        if e.vol_pos == NONE {
            NO_EXPIRE
        } else {
            self.volatile[e.vol_pos as usize].expire_ms
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes of the table's own structures (buckets, slab, TTL index):
    /// Redis's `overhead.hashtable.main` + `overhead.hashtable.expires`.
    pub fn overhead_bytes(&self) -> usize {
        use crate::alloc::charged;
        let vec = |bytes: usize| if bytes == 0 { 0 } else { charged(bytes) };
        vec(self.heads.capacity() * 4)
            + self.pages.len() * charged(PAGE_LEN * ENTRY_BYTES)
            + vec(self.pages.capacity() * 16)
            + vec(self.free.capacity() * 4)
            + self.expires_overhead_bytes()
    }

    /// Heap bytes of the TTL index alone (`overhead.hashtable.expires`).
    pub fn expires_overhead_bytes(&self) -> usize {
        let b = self.volatile.capacity() * std::mem::size_of::<Vol>();
        if b == 0 {
            0
        } else {
            crate::alloc::charged(b)
        }
    }

    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    fn mask(&self) -> u64 {
        (self.heads.len() - 1) as u64
    }

    /// Index of the entry holding `key`.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        let h = self.hash(key);
        let mut i = self.heads[(u64::from(h) & self.mask()) as usize];
        while i != NONE {
            let e = self.slot(i).expect("chain points at used slot");
            if e.hash == h && &*e.key == key {
                return Some(i);
            }
            i = e.next;
        }
        None
    }

    /// Slots handed out so far: live indices are below this.
    pub fn slab_len(&self) -> usize {
        self.high
    }

    /// The entry at slab index `i`, if that slot is live.
    #[inline]
    pub fn try_entry(&self, i: u32) -> Option<&Entry> {
        if (i as usize) < self.high {
            self.slot(i)
        } else {
            None
        }
    }

    #[inline]
    pub fn entry(&self, i: u32) -> &Entry {
        self.slot(i).expect("live entry index")
    }

    #[inline]
    pub fn entry_mut(&mut self, i: u32) -> &mut Entry {
        self.slot_mut(i).as_mut().expect("live entry index")
    }

    /// Insert a key that is known to be absent. Returns its index.
    pub fn insert_new(&mut self, key: &[u8], val: Value, lru: u32) -> u32 {
        debug_assert!(self.find(key).is_none());
        if self.len + 1 > self.heads.len() {
            self.resize(self.heads.len() * 2);
        }
        let h = self.hash(key);
        let b = (u64::from(h) & self.mask()) as usize;
        let e = Entry {
            key: KeyBytes::new(key),
            val,
            lru,
            hash: h,
            next: self.heads[b],
            vol_pos: NONE,
        };
        let i = if let Some(i) = self.free.pop() {
            *self.slot_mut(i) = Some(e);
            i
        } else {
            self.push_slot(e)
        };
        self.heads[b] = i;
        self.len += 1;
        if let Some(idx) = self.slot_index.as_mut() {
            idx.insert(i, key);
        }
        i
    }

    pub fn set_expire(&mut self, i: u32, at_ms: i64) {
        let vol_len = self.volatile.len() as u32;
        let e = self.entry_mut(i);
        let pos = e.vol_pos;
        if at_ms == NO_EXPIRE {
            if pos != NONE {
                e.vol_pos = NONE;
                let pos = pos as usize;
                self.volatile.swap_remove(pos);
                if pos < self.volatile.len() {
                    let moved = self.volatile[pos].idx;
                    self.entry_mut(moved).vol_pos = pos as u32;
                }
            }
        } else if pos == NONE {
            e.vol_pos = vol_len;
            self.volatile.push(Vol {
                idx: i,
                expire_ms: at_ms,
            });
        } else {
            self.volatile[pos as usize].expire_ms = at_ms;
        }
    }

    /// Remove entry `i`, returning it with its expiry (NO_EXPIRE if none):
    /// RENAME/MOVE carry the TTL over.
    pub fn remove_at(&mut self, i: u32) -> (Entry, i64) {
        let expire_ms = self.expire_of(i);
        self.set_expire(i, NO_EXPIRE);
        let h = self.entry(i).hash;
        let b = (u64::from(h) & self.mask()) as usize;
        let next = self.entry(i).next;
        if self.heads[b] == i {
            self.heads[b] = next;
        } else {
            let mut j = self.heads[b];
            loop {
                assert!(j != NONE, "entry missing from its chain");
                let ej = self.entry_mut(j);
                if ej.next == i {
                    ej.next = next;
                    break;
                }
                j = ej.next;
            }
        }
        if let Some(idx) = self.slot_index.as_mut() {
            idx.remove(i);
        }
        let e = self.slot_mut(i).take().expect("live entry index");
        // Indices stay stable inside a command: freed slots are reused, and the
        // slab is compacted only between commands (`compact_if_sparse`).
        self.free.push(i);
        self.len -= 1;
        if self.heads.len() > BUCKETS_MIN && self.len * 8 < self.heads.len() {
            self.resize((self.len.next_power_of_two() * 2).max(BUCKETS_MIN));
        }
        (e, expire_ms)
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<(Entry, i64)> {
        let i = self.find(key)?;
        Some(self.remove_at(i))
    }

    fn resize(&mut self, buckets: usize) {
        assert!(buckets.is_power_of_two());
        self.heads.clear();
        self.heads.resize(buckets, NONE);
        let mask = (buckets - 1) as u64;
        for i in 0..self.high as u32 {
            let head = &mut self.heads;
            if let Some(e) =
                self.pages[(i >> PAGE_SHIFT) as usize][i as usize & (PAGE_LEN - 1)].as_mut()
            {
                let b = (u64::from(e.hash) & mask) as usize;
                e.next = head[b];
                head[b] = i;
            }
        }
    }

    /// Rebuild the slab densely when most slots are free (keeps random
    /// sampling O(1)). Renumbers entries: call only between commands (cron).
    pub fn compact_if_sparse(&mut self) -> bool {
        if self.high < 64 || self.len * 4 > self.high {
            return false;
        }
        let old = std::mem::take(&mut self.pages);
        let old_vol = std::mem::take(&mut self.volatile);
        self.free = Vec::new();
        self.high = 0;
        for mut e in old.into_iter().flat_map(|p| p.into_vec()).flatten() {
            let expire_ms = if e.vol_pos == NONE {
                NO_EXPIRE
            } else {
                old_vol[e.vol_pos as usize].expire_ms
            };
            e.vol_pos = NONE;
            let i = self.push_slot(e);
            if expire_ms != NO_EXPIRE {
                self.set_expire(i, expire_ms);
            }
        }
        let buckets = self.heads.len();
        self.resize(buckets);
        if self.slot_index.is_some() {
            self.enable_slot_index();
        }
        true
    }

    pub fn clear(&mut self) {
        let indexed = self.slot_index.is_some();
        *self = KeyTable::new(self.seed);
        if indexed {
            self.enable_slot_index();
        }
    }

    /// One step of Redis's `dictScan`: call `f` for each entry in the bucket
    /// named by `cursor`, return the next cursor (0 = done).
    pub fn scan_step(&self, cursor: u64, mut f: impl FnMut(u32, &Entry)) -> u64 {
        let mask = self.mask();
        let mut i = self.heads[(cursor & mask) as usize];
        while i != NONE {
            let e = self.entry(i);
            f(i, e);
            i = e.next;
        }
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    /// A uniformly random live entry index.
    pub fn random(&self, rng: &mut crate::rng::Rng) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        // Slots are at least a quarter full (compaction); bounded tries, then a walk.
        for _ in 0..64 {
            let i = rng.below(self.high as u64) as u32;
            if self.slot(i).is_some() {
                return Some(i);
            }
        }
        let start = rng.below(self.high as u64) as usize;
        (0..self.high)
            .map(|k| ((start + k) % self.high) as u32)
            .find(|&i| self.slot(i).is_some())
    }

    /// A random entry index among those with a TTL.
    pub fn random_volatile(&self, rng: &mut crate::rng::Rng) -> Option<u32> {
        if self.volatile.is_empty() {
            return None;
        }
        Some(self.volatile[rng.below(self.volatile.len() as u64) as usize].idx)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.pages
            .iter()
            .flat_map(|p| p.iter())
            .filter_map(|s| s.as_ref())
    }

    pub fn indices(&self) -> Vec<u32> {
        (0..self.high as u32)
            .filter(|&i| self.slot(i).is_some())
            .collect()
    }

    #[cfg(test)]
    fn check(&self) {
        let mut seen = 0;
        for (b, &h) in self.heads.iter().enumerate() {
            let mut i = h;
            while i != NONE {
                let e = self.entry(i);
                assert_eq!((u64::from(e.hash) & self.mask()) as usize, b);
                seen += 1;
                i = e.next;
            }
        }
        assert_eq!(seen, self.len);
        for (p, v) in self.volatile.iter().enumerate() {
            assert_eq!(self.entry(v.idx).vol_pos as usize, p);
            assert_ne!(v.expire_ms, NO_EXPIRE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn insert_remove_scan_guarantee() {
        let mut t = KeyTable::new(7);
        for i in 0..1000u32 {
            t.insert_new(format!("k{i}").as_bytes(), Value::Int(i64::from(i)), 0);
        }
        t.check();
        // Scan while the table shrinks and grows: keys present throughout are seen.
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = t.scan_step(cursor, |_, e| {
                seen.insert(e.key.to_vec());
            });
            step += 1;
            if step == 100 {
                for i in 500..1000u32 {
                    t.remove(format!("k{i}").as_bytes());
                }
                t.check();
            }
            if step == 200 {
                for i in 0..3000u32 {
                    t.insert_new(format!("n{i}").as_bytes(), Value::Int(0), 0);
                }
                t.check();
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500u32 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
        }
    }

    #[test]
    fn slot_index_counts_and_lists() {
        let mut t = KeyTable::new(3);
        t.insert_new(b"{a}1", Value::Int(1), 0);
        t.enable_slot_index();
        t.insert_new(b"{a}2", Value::Int(1), 0);
        t.insert_new(b"other", Value::Int(1), 0);
        let s = crate::db::slots::key_slot(b"a");
        assert_eq!(t.count_in_slot(s), Some(2));
        t.remove(b"{a}1");
        assert_eq!(t.count_in_slot(s), Some(1));
        assert_eq!(t.keys_in_slot(s, 10), Some(vec![b"{a}2".as_slice()]));
    }

    #[test]
    fn compaction_keeps_every_entry_and_ttl() {
        let mut t = KeyTable::new(9);
        for i in 0..1000u32 {
            let idx = t.insert_new(format!("k{i}").as_bytes(), Value::Int(i64::from(i)), 0);
            if i % 3 == 0 {
                t.set_expire(idx, 1000 + i64::from(i));
            }
        }
        for i in 0..1000u32 {
            if i % 10 != 0 {
                t.remove(format!("k{i}").as_bytes());
            }
        }
        assert!(t.compact_if_sparse());
        t.check();
        assert_eq!(t.len(), 100);
        assert_eq!(t.high, 100);
        for i in (0..1000u32).step_by(10) {
            let idx = t.find(format!("k{i}").as_bytes()).unwrap_or(NONE);
            assert_ne!(idx, NONE);
            let want = if i % 3 == 0 {
                1000 + i64::from(i)
            } else {
                NO_EXPIRE
            };
            assert_eq!(t.expire_of(idx), want);
        }
    }

    #[test]
    fn volatile_tracking() {
        let mut t = KeyTable::new(1);
        let a = t.insert_new(b"a", Value::Int(1), 0);
        let b = t.insert_new(b"b", Value::Int(1), 0);
        t.set_expire(a, 10);
        t.set_expire(b, 20);
        t.check();
        t.remove(b"a");
        t.check();
        assert_eq!(t.volatile_len(), 1);
        t.set_expire(t.find(b"b").unwrap_or(NONE), NO_EXPIRE);
        t.check();
        assert_eq!(t.volatile_len(), 0);
    }
}
