//! The hash value type, with Redis's two encodings:
//!
//! - `Listpack`: a [`Packed`] buffer of field, value, field, value, ... in
//!   insertion order, which is exactly the order Redis's listpack keeps (new
//!   fields are appended, an update rewrites in place, a delete closes the
//!   gap). One allocation for the whole hash; linear lookups, like Redis;
//!   used while `len <= hash-max-listpack-entries` and every field and value
//!   is `<= hash-max-listpack-value` bytes. Invariant: the buffer holds an
//!   even number of entries.
//! - `Table`: a chained hash table whose entries live in a slab (field and
//!   value stored once, no per-entry allocation beyond them), with a
//!   power-of-two bucket array. HSCAN walks buckets with Redis's
//!   reverse-binary cursor (`dictScan`), so an element present for the whole
//!   scan is returned at least once even across grows/shrinks; the slab can
//!   be compacted freely because cursors name buckets, not slots. Random
//!   sampling (HRANDFIELD) picks slab slots (kept at least 1/4 full). Boxed,
//!   so small hashes do not pay for its inline size.
//!
//! Conversion is one way (listpack -> table), as in Redis. The hasher is
//! foldhash with a fixed seed: deterministic across runs.

use std::hash::BuildHasher;

use super::packed::{entry_bytes, Packed};
use crate::alloc::charged;

const NONE: u32 = u32::MAX;
const BUCKETS_MIN: usize = 4;
const HASH_SEED: u64 = 0x6861_7368_7661_6c31;

#[derive(Clone, Debug, PartialEq)]
pub struct TEntry {
    pub field: Box<[u8]>,
    pub value: Box<[u8]>,
    next: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    heads: Vec<u32>,
    slots: Vec<Option<TEntry>>,
    free: Vec<u32>,
    len: usize,
}

fn hash_of(field: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(HASH_SEED).hash_one(field)
}

impl Table {
    fn with_capacity(n: usize) -> Table {
        let buckets = n.max(BUCKETS_MIN).next_power_of_two();
        Table {
            heads: vec![NONE; buckets],
            slots: Vec::with_capacity(n),
            free: Vec::new(),
            len: 0,
        }
    }

    fn mask(&self) -> u64 {
        (self.heads.len() - 1) as u64
    }

    fn entry(&self, i: u32) -> Option<&TEntry> {
        self.slots.get(i as usize).and_then(|s| s.as_ref())
    }

    fn find(&self, field: &[u8]) -> Option<u32> {
        let mut i = self.heads[(hash_of(field) & self.mask()) as usize];
        while let Some(e) = self.entry(i) {
            if &*e.field == field {
                return Some(i);
            }
            i = e.next;
        }
        None
    }

    fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.find(field)
            .and_then(|i| self.entry(i))
            .map(|e| &*e.value)
    }

    /// Insert or update. True when the field is new.
    fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Some(i) = self.find(field) {
            if let Some(Some(e)) = self.slots.get_mut(i as usize) {
                e.value = value.into();
            }
            return false;
        }
        self.insert_new(field.into(), value.into());
        true
    }

    fn insert_new(&mut self, field: Box<[u8]>, value: Box<[u8]>) {
        if self.len + 1 > self.heads.len() {
            self.rebuild_heads(self.heads.len() * 2);
        }
        let b = (hash_of(&field) & self.mask()) as usize;
        let e = TEntry {
            field,
            value,
            next: self.heads[b],
        };
        let i = if let Some(i) = self.free.pop() {
            self.slots[i as usize] = Some(e);
            i
        } else {
            self.slots.push(Some(e));
            (self.slots.len() - 1) as u32
        };
        self.heads[b] = i;
        self.len += 1;
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let b = (hash_of(field) & self.mask()) as usize;
        let mut prev = NONE;
        let mut i = self.heads[b];
        while let Some(e) = self.entry(i) {
            if &*e.field == field {
                let next = e.next;
                if prev == NONE {
                    self.heads[b] = next;
                } else if let Some(Some(p)) = self.slots.get_mut(prev as usize) {
                    p.next = next;
                }
                self.slots[i as usize] = None;
                self.free.push(i);
                self.len -= 1;
                self.after_remove();
                return true;
            }
            prev = i;
            i = e.next;
        }
        false
    }

    fn after_remove(&mut self) {
        // Compact the slab when mostly empty (cursors name buckets, so this
        // does not disturb HSCAN), and shrink the bucket array like Redis.
        if self.slots.len() >= 64 && self.len * 4 < self.slots.len() {
            let old = std::mem::take(&mut self.slots);
            self.free.clear();
            self.slots = old.into_iter().flatten().map(Some).collect();
            let buckets = self.heads.len();
            self.rebuild_heads(buckets);
        }
        if self.heads.len() > BUCKETS_MIN && self.len * 8 < self.heads.len() {
            self.rebuild_heads((self.len.next_power_of_two() * 2).max(BUCKETS_MIN));
        }
    }

    fn rebuild_heads(&mut self, buckets: usize) {
        self.heads.clear();
        self.heads.resize(buckets, NONE);
        let mask = (buckets - 1) as u64;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if let Some(e) = s {
                let b = (hash_of(&e.field) & mask) as usize;
                e.next = self.heads[b];
                self.heads[b] = i as u32;
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.slots.iter().flatten().map(|e| (&*e.field, &*e.value))
    }

    /// One step of Redis's `dictScan`: visit the bucket named by `cursor`,
    /// return the next cursor (0 = done).
    fn scan_step<'a>(&'a self, cursor: u64, mut f: impl FnMut(&'a [u8], &'a [u8])) -> u64 {
        let mask = self.mask();
        let mut i = self.heads[(cursor & mask) as usize];
        while let Some(e) = self.entry(i) {
            f(&e.field, &e.value);
            i = e.next;
        }
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    fn random(&self, rng: &mut crate::rng::Rng) -> Option<(&[u8], &[u8])> {
        if self.len == 0 {
            return None;
        }
        let n = self.slots.len() as u64;
        for _ in 0..64 {
            if let Some(e) = self.entry(rng.below(n) as u32) {
                return Some((&e.field, &e.value));
            }
        }
        let start = rng.below(n) as usize;
        let n = n as usize;
        (0..n)
            .find_map(|k| self.slots[(start + k) % n].as_ref())
            .map(|e| (&*e.field, &*e.value))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum HashVal {
    Listpack(Packed),
    Table(Box<Table>),
}

impl Default for HashVal {
    fn default() -> Self {
        HashVal::Listpack(Packed::new())
    }
}

/// The encoding limits (hash-max-listpack-entries / -value).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

/// Field/value pairs of a packed hash, in order.
fn pairs(p: &Packed) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut it = p.iter();
    std::iter::from_fn(move || Some((it.next()?, it.next()?)))
}

/// The `Box<HashVal>` a keyspace value holds (charged to the hash).
const BOX_BYTES: usize = charged(std::mem::size_of::<HashVal>());

impl HashVal {
    pub fn new() -> HashVal {
        HashVal::default()
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            HashVal::Listpack(_) => "listpack",
            HashVal::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            HashVal::Listpack(p) => p.len() / 2,
            HashVal::Table(t) => t.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned, counting the keyspace value's box of this enum.
    pub fn heap_bytes(&self) -> usize {
        self.structure_bytes() + self.element_bytes().sum::<usize>()
    }

    /// Redis's xorObjectDigest contribution for this type.
    pub fn digest(&self, d: &mut crate::digest::Digest) {
        use crate::digest::{mix_digest, xor_digest};
        for (f, v) in self.iter() {
            let mut ele = [0u8; 20];
            mix_digest(&mut ele, f);
            mix_digest(&mut ele, v);
            xor_digest(d, &ele);
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashVal::Listpack(p) => p.find_next(field, 0, 2).map(|(_, x)| x),
            HashVal::Table(t) => t.get(field),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Convert to the table encoding (one way).
    pub fn convert(&mut self) {
        if let HashVal::Listpack(p) = self {
            let mut t = Table::with_capacity(p.len() / 2);
            for (f, x) in pairs(p) {
                t.insert_new(f.into(), x.into());
            }
            *self = HashVal::Table(Box::new(t));
        }
    }

    /// Redis's hashTypeTryConversion: convert before a write whose arguments
    /// exceed the value limit.
    pub fn try_conversion(&mut self, args: &[&[u8]], lim: Limits) {
        if matches!(self, HashVal::Listpack(_)) && args.iter().any(|a| a.len() > lim.value) {
            self.convert();
        }
    }

    /// Redis's hashTypeSet: insert or update; converts when the pair is too
    /// long or the entry count passes the limit. True when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: Limits) -> bool {
        if matches!(self, HashVal::Listpack(_))
            && (field.len() > lim.value || value.len() > lim.value)
        {
            self.convert();
        }
        match self {
            HashVal::Listpack(p) => {
                if p.replace_next(field, 0, 2, value).is_some() {
                    return false;
                }
                p.append(&[field, value]);
                if p.len() / 2 > lim.entries {
                    self.convert();
                }
                true
            }
            HashVal::Table(t) => t.set(field, value),
        }
    }

    /// Remove a field. True when it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashVal::Listpack(p) => match p.find(field, 0, 2) {
                Some(i) => {
                    p.remove_range(i, 2);
                    true
                }
                None => false,
            },
            HashVal::Table(t) => t.remove(field),
        }
    }

    /// All pairs: insertion order for listpack, slab order for the table.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            HashVal::Listpack(p) => Box::new(pairs(p)),
            HashVal::Table(t) => Box::new(t.iter()),
        }
    }

    /// Pair number `i` in listpack order (listpack only).
    pub fn listpack_at(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            HashVal::Listpack(p) => {
                let mut it = p.iter_from(i.checked_mul(2)?);
                Some((it.next()?, it.next()?))
            }
            HashVal::Table(_) => None,
        }
    }

    /// A uniformly random pair.
    pub fn random(&self, rng: &mut crate::rng::Rng) -> Option<(&[u8], &[u8])> {
        match self {
            HashVal::Listpack(p) => {
                let n = p.len() / 2;
                if n == 0 {
                    return None;
                }
                self.listpack_at(rng.below(n as u64) as usize)
            }
            HashVal::Table(t) => t.random(rng),
        }
    }

    /// One HSCAN page over the table encoding (Redis's scanGenericCommand
    /// loop): returns the next cursor. Listpack hashes are returned whole by
    /// the caller.
    pub fn scan_table<'a>(
        &'a self,
        mut cursor: u64,
        count: usize,
        mut f: impl FnMut(&'a [u8], &'a [u8]),
    ) -> u64 {
        let HashVal::Table(t) = self else { return 0 };
        let mut got = 0usize;
        let mut maxiter = count.saturating_mul(10);
        loop {
            cursor = t.scan_step(cursor, |k, v| {
                got += 1;
                f(k, v)
            });
            maxiter = maxiter.saturating_sub(1);
            if cursor == 0 || maxiter == 0 || got >= count {
                return cursor;
            }
        }
    }
}

/// MEMORY USAGE's split of `heap_bytes()` (cmd/memory.rs samples the
/// per-element part): always `heap_bytes() == structure_bytes() +
/// element_bytes().sum()`.
impl HashVal {
    /// The keyspace value's box, plus: for listpack, the buffer's charged
    /// size minus its pairs' bytes (allocator rounding); for the table, its
    /// box, buckets, slab and free list.
    pub fn structure_bytes(&self) -> usize {
        BOX_BYTES
            + match self {
                HashVal::Listpack(p) => p.heap_bytes() - p.buf_bytes(),
                HashVal::Table(t) => {
                    charged(std::mem::size_of::<Table>())
                        + t.heads.capacity() * 4
                        + t.slots.capacity() * std::mem::size_of::<Option<TEntry>>()
                        + t.free.capacity() * 4
                }
            }
    }

    /// Bytes of each pair, in `iter` order: for listpack the two packed
    /// entries (headers included), for the table the field and value
    /// allocations.
    pub fn element_bytes(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match self {
            HashVal::Listpack(p) => {
                Box::new(pairs(p).map(|(f, v)| entry_bytes(f.len()) + entry_bytes(v.len())))
            }
            HashVal::Table(t) => Box::new(t.iter().map(|(f, v)| alloc_len(f) + alloc_len(v))),
        }
    }
}

/// Charged bytes of a boxed slice (none when empty: no allocation).
fn alloc_len(b: &[u8]) -> usize {
    if b.is_empty() {
        0
    } else {
        charged(b.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const LIM: Limits = Limits {
        entries: 4,
        value: 8,
    };

    #[test]
    fn listpack_order_and_conversion() {
        let mut h = HashVal::new();
        assert!(h.set(b"b", b"1", LIM));
        assert!(h.set(b"a", b"2", LIM));
        assert!(!h.set(b"b", b"3", LIM));
        let order: Vec<&[u8]> = h.iter().map(|p| p.0).collect();
        assert_eq!(order, vec![b"b".as_slice(), b"a"]);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"long-field-name", b"x", LIM);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"b"), Some(b"3".as_slice()));
        assert_eq!(h.len(), 3);
        let mut g = HashVal::new();
        for i in 0..5 {
            g.set(format!("f{i}").as_bytes(), b"v", LIM);
        }
        assert_eq!(g.encoding(), "hashtable");
    }

    #[test]
    fn table_scan_guarantee_across_resizes() {
        let lim = Limits {
            entries: 0,
            value: 64,
        };
        let mut h = HashVal::new();
        for i in 0..2000 {
            h.set(format!("k{i}").as_bytes(), b"v", lim);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = h.scan_table(cursor, 10, |k, _| {
                seen.insert(k.to_vec());
            });
            step += 1;
            if step == 20 {
                for i in 1000..2000 {
                    assert!(h.remove(format!("k{i}").as_bytes()));
                }
            }
            if step == 40 {
                for i in 0..5000 {
                    h.set(format!("n{i}").as_bytes(), b"v", lim);
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
        }
        for i in 0..1000 {
            assert_eq!(h.get(format!("k{i}").as_bytes()), Some(b"v".as_slice()));
        }
        assert_eq!(h.len(), 6000);
        for i in 0..5000 {
            assert!(h.remove(format!("n{i}").as_bytes()));
        }
        assert_eq!(h.len(), 1000);
        assert_eq!(h.iter().count(), 1000);
    }
}
