//! The set value type, with Redis 7.0's two encodings:
//!
//! - `intset`: a sorted `Vec<i64>` while every member is an integer
//!   (`string2ll`-valid) and the cardinality is <= set-max-intset-entries.
//!   Iteration is ascending numeric order, like Redis's intset.
//! - `hashtable`: [`MemberTable`], a chained hash table over a dense member
//!   array (fixed-seed foldhash, so fully deterministic). Dense storage gives
//!   O(1) uniform random members (SPOP/SRANDMEMBER); power-of-two bucket
//!   arrays give SSCAN Redis's reverse-binary cursor guarantee.
//!
//! Conversion intset -> hashtable is one-way, as in Redis.

use crate::digest::{xor_digest, Digest};
use crate::util::{parse_i64, push_i64};

const NONE: u32 = u32::MAX;
const BUCKETS_MIN: usize = 4;
const HASH_SEED: u64 = 0x5e7_5e7_5e7;

#[inline]
fn hash_of(m: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::fast::FixedState::with_seed(HASH_SEED).build_hasher();
    h.write(m);
    h.finish()
}

/// Members up to this many bytes live inline (no allocation of their own).
const INLINE: usize = 22;

/// One stored member: 24 bytes, inline when short (most set members are),
/// boxed otherwise.
#[derive(Clone, Debug)]
enum Stored {
    Inline(u8, [u8; INLINE]),
    Heap(Box<[u8]>),
}

impl Stored {
    fn new(m: &[u8]) -> Stored {
        if m.len() <= INLINE {
            let mut a = [0u8; INLINE];
            a[..m.len()].copy_from_slice(m);
            Stored::Inline(m.len() as u8, a)
        } else {
            Stored::Heap(m.into())
        }
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        match self {
            Stored::Inline(n, a) => &a[..usize::from(*n)],
            Stored::Heap(b) => b,
        }
    }

    fn heap_len(&self) -> usize {
        match self {
            Stored::Inline(..) => 0,
            Stored::Heap(b) => b.len(),
        }
    }
}

/// Chained hash table of byte-string members. `items[i]` is on the chain of
/// bucket `hashes[i] & mask`, linked through `next[i]`.
#[derive(Clone, Debug)]
pub struct MemberTable {
    heads: Vec<u32>,
    items: Vec<Stored>,
    hashes: Vec<u32>,
    next: Vec<u32>,
}

impl PartialEq for MemberTable {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.items.iter().all(|m| other.contains(m.bytes()))
    }
}

impl Default for MemberTable {
    fn default() -> Self {
        MemberTable::with_capacity(0)
    }
}

impl MemberTable {
    pub fn with_capacity(n: usize) -> MemberTable {
        let buckets = n.next_power_of_two().max(BUCKETS_MIN);
        MemberTable {
            heads: vec![NONE; buckets],
            items: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
            next: Vec::with_capacity(n),
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    #[inline]
    fn mask(&self) -> u64 {
        (self.heads.len() - 1) as u64
    }

    fn find(&self, m: &[u8]) -> Option<usize> {
        let h = hash_of(m) as u32;
        let mut i = self.heads[(u64::from(h) & self.mask()) as usize];
        while i != NONE {
            let iu = i as usize;
            if self.hashes[iu] == h && self.items[iu].bytes() == m {
                return Some(iu);
            }
            i = self.next[iu];
        }
        None
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        self.find(m).is_some()
    }

    /// Insert; false if already present.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        if self.find(m).is_some() {
            return false;
        }
        self.insert_new(m);
        true
    }

    fn insert_new(&mut self, m: &[u8]) {
        if self.items.len() + 1 > self.heads.len() {
            self.resize(self.heads.len() * 2);
        }
        let h = hash_of(m) as u32;
        let b = (u64::from(h) & self.mask()) as usize;
        let i = u32::try_from(self.items.len()).unwrap_or(NONE - 1);
        self.items.push(Stored::new(m));
        self.hashes.push(h);
        self.next.push(self.heads[b]);
        self.heads[b] = i;
    }

    fn resize(&mut self, buckets: usize) {
        self.heads.clear();
        self.heads.resize(buckets, NONE);
        let mask = (buckets - 1) as u64;
        for i in 0..self.items.len() {
            let b = (u64::from(self.hashes[i]) & mask) as usize;
            self.next[i] = self.heads[b];
            self.heads[b] = i as u32;
        }
    }

    /// Unlink index `i` from its bucket chain.
    fn unlink(&mut self, i: usize) {
        let b = (u64::from(self.hashes[i]) & self.mask()) as usize;
        let nx = self.next[i];
        if self.heads[b] == i as u32 {
            self.heads[b] = nx;
            return;
        }
        let mut j = self.heads[b];
        while j != NONE {
            let ju = j as usize;
            if self.next[ju] == i as u32 {
                self.next[ju] = nx;
                return;
            }
            j = self.next[ju];
        }
    }

    /// Remove the member at dense index `i`, returning it.
    fn remove_at(&mut self, i: usize) -> Vec<u8> {
        self.unlink(i);
        let last = self.items.len() - 1;
        if i != last {
            // The last member moves into slot i: repoint whoever links to it.
            let b = (u64::from(self.hashes[last]) & self.mask()) as usize;
            if self.heads[b] == last as u32 {
                self.heads[b] = i as u32;
            } else {
                let mut j = self.heads[b];
                while j != NONE {
                    let ju = j as usize;
                    if self.next[ju] == last as u32 {
                        self.next[ju] = i as u32;
                        break;
                    }
                    j = self.next[ju];
                }
            }
        }
        let m = self.items.swap_remove(i).bytes().to_vec();
        self.hashes.swap_remove(i);
        self.next.swap_remove(i);
        let n = self.items.len();
        if self.heads.len() > BUCKETS_MIN && n * 8 < self.heads.len() {
            self.resize((n.next_power_of_two() * 2).max(BUCKETS_MIN));
            self.items.shrink_to(n * 2);
            self.hashes.shrink_to(n * 2);
            self.next.shrink_to(n * 2);
        }
        m
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self.find(m) {
            Some(i) => {
                self.remove_at(i);
                true
            }
            None => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.items.iter().map(Stored::bytes)
    }

    /// One step of Redis's `dictScan`: members of the bucket named by
    /// `cursor`, then the next cursor (0 = done).
    pub fn scan_step<'a>(&'a self, cursor: u64, mut f: impl FnMut(&'a [u8])) -> u64 {
        let mask = self.mask();
        let mut i = self.heads[(cursor & mask) as usize];
        while i != NONE {
            f(self.items[i as usize].bytes());
            i = self.next[i as usize];
        }
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    fn heap_bytes(&self) -> usize {
        self.heads.capacity() * 4
            + self.hashes.capacity() * 4
            + self.next.capacity() * 4
            + self.items.capacity() * std::mem::size_of::<Stored>()
            + self.items.iter().map(Stored::heap_len).sum::<usize>()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SetVal {
    /// Sorted, distinct.
    Ints(Vec<i64>),
    Table(MemberTable),
}

impl Default for SetVal {
    fn default() -> Self {
        SetVal::Ints(Vec::new())
    }
}

/// Decimal text of `v` in a stack buffer.
fn int_text(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let neg = v < 0;
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 || i == 0 {
            break;
        }
    }
    if neg && i > 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// One member, borrowed or as an integer (intset members).
#[derive(Clone, Copy, Debug)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Member::Int(v) => crate::util::i64_bytes(v),
            Member::Bytes(b) => b.to_vec(),
        }
    }

    pub fn write_to(self, out: &mut Vec<u8>) {
        out.clear();
        match self {
            Member::Int(v) => push_i64(out, v),
            Member::Bytes(b) => out.extend_from_slice(b),
        }
    }
}

/// Redis caps intset entries at 1<<30 whatever the config says.
pub fn intset_max(cfg_value: Option<&str>) -> usize {
    let v = cfg_value.and_then(|s| s.parse::<u64>().ok()).unwrap_or(512);
    v.min(1 << 30) as usize
}

impl SetVal {
    /// Redis's `setTypeCreate(value)`: an intset when the first member is an
    /// integer, a hashtable otherwise.
    pub fn create_for(first: &[u8]) -> SetVal {
        if parse_i64(first).is_some() {
            SetVal::Ints(Vec::new())
        } else {
            SetVal::Table(MemberTable::default())
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            SetVal::Ints(_) => "intset",
            SetVal::Table(_) => "hashtable",
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            SetVal::Ints(v) => v.capacity() * 8,
            SetVal::Table(t) => t.heap_bytes(),
        }
    }

    /// Redis's xorObjectDigest contribution for this type.
    pub fn digest(&self, d: &mut Digest) {
        match self {
            SetVal::Ints(v) => {
                let mut buf = Vec::with_capacity(20);
                for &x in v {
                    buf.clear();
                    push_i64(&mut buf, x);
                    xor_digest(d, &buf);
                }
            }
            SetVal::Table(t) => {
                for m in t.iter() {
                    xor_digest(d, m);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetVal::Ints(v) => v.len(),
            SetVal::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            SetVal::Ints(v) => parse_i64(m).is_some_and(|x| v.binary_search(&x).is_ok()),
            SetVal::Table(t) => t.contains(m),
        }
    }

    pub fn contains_member(&self, m: Member) -> bool {
        match (self, m) {
            (SetVal::Ints(v), Member::Int(x)) => v.binary_search(&x).is_ok(),
            (SetVal::Ints(_), Member::Bytes(b)) => self.contains(b),
            (SetVal::Table(t), Member::Bytes(b)) => t.contains(b),
            (SetVal::Table(t), Member::Int(x)) => {
                let mut buf = [0u8; 20];
                t.contains(int_text(x, &mut buf))
            }
        }
    }

    fn convert(&mut self, extra: usize) {
        if let SetVal::Ints(v) = self {
            let mut t = MemberTable::with_capacity(v.len() + extra);
            let mut buf = Vec::with_capacity(20);
            for &x in v.iter() {
                buf.clear();
                push_i64(&mut buf, x);
                t.insert_new(&buf);
            }
            *self = SetVal::Table(t);
        }
    }

    /// Redis's `setTypeAdd`: true if added. `max` is the intset entry limit.
    pub fn add(&mut self, m: &[u8], max: usize) -> bool {
        if let SetVal::Ints(v) = self {
            match parse_i64(m) {
                Some(x) => {
                    return match v.binary_search(&x) {
                        Ok(_) => false,
                        Err(pos) => {
                            v.insert(pos, x);
                            if v.len() > max {
                                self.convert(0);
                            }
                            true
                        }
                    };
                }
                None => self.convert(1),
            }
        }
        match self {
            SetVal::Table(t) => t.insert(m),
            SetVal::Ints(_) => false,
        }
    }

    pub fn add_member(&mut self, m: Member, max: usize) -> bool {
        match (&mut *self, m) {
            (SetVal::Ints(v), Member::Int(x)) => match v.binary_search(&x) {
                Ok(_) => false,
                Err(pos) => {
                    v.insert(pos, x);
                    if v.len() > max {
                        self.convert(0);
                    }
                    true
                }
            },
            (_, Member::Bytes(b)) => self.add(b, max),
            (SetVal::Table(t), Member::Int(x)) => {
                let mut buf = Vec::with_capacity(20);
                push_i64(&mut buf, x);
                t.insert(&buf)
            }
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            SetVal::Ints(v) => match parse_i64(m).map(|x| v.binary_search(&x)) {
                Some(Ok(pos)) => {
                    v.remove(pos);
                    true
                }
                _ => false,
            },
            SetVal::Table(t) => t.remove(m),
        }
    }

    /// Member at position `i` (0..len) of the internal order.
    pub fn at(&self, i: usize) -> Member<'_> {
        match self {
            SetVal::Ints(v) => Member::Int(v[i]),
            SetVal::Table(t) => Member::Bytes(t.items[i].bytes()),
        }
    }

    /// A uniformly random member (the set must not be empty).
    pub fn random(&self, rng: &mut crate::rng::Rng) -> Member<'_> {
        let i = rng.below(self.len() as u64) as usize;
        self.at(i)
    }

    /// Remove and return a uniformly random member (set must not be empty).
    pub fn pop_random(&mut self, rng: &mut crate::rng::Rng) -> Vec<u8> {
        let i = rng.below(self.len() as u64) as usize;
        match self {
            SetVal::Ints(v) => crate::util::i64_bytes(v.remove(i)),
            SetVal::Table(t) => t.remove_at(i),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Member<'_>> {
        let (a, b) = match self {
            SetVal::Ints(v) => (Some(v.iter().map(|&x| Member::Int(x))), None),
            SetVal::Table(t) => (None, Some(t.iter().map(Member::Bytes))),
        };
        a.into_iter().flatten().chain(b.into_iter().flatten())
    }

    /// The hashtable, when that is the encoding (SSCAN).
    pub fn table(&self) -> Option<&MemberTable> {
        match self {
            SetVal::Table(t) => Some(t),
            SetVal::Ints(_) => None,
        }
    }
}

/// MEMORY USAGE's split of `heap_bytes()` (cmd/memory.rs samples the
/// per-element part): always `heap_bytes() == structure_bytes() +
/// element_bytes().sum()`.
impl SetVal {
    /// The intset array, or the table's buckets, hash/link arrays and member
    /// slots (short members live inside their slot).
    pub fn structure_bytes(&self) -> usize {
        match self {
            SetVal::Ints(v) => v.capacity() * 8,
            SetVal::Table(t) => {
                t.heads.capacity() * 4
                    + t.hashes.capacity() * 4
                    + t.next.capacity() * 4
                    + t.items.capacity() * std::mem::size_of::<Stored>()
            }
        }
    }

    /// Heap bytes of each member outside its slot (0 for ints and inline
    /// members), in `iter` order.
    pub fn element_bytes(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match self {
            SetVal::Ints(v) => Box::new(v.iter().map(|_| 0)),
            SetVal::Table(t) => Box::new(t.items.iter().map(Stored::heap_len)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn table_insert_remove_scan_guarantee() {
        let mut t = MemberTable::default();
        for i in 0..1000u32 {
            assert!(t.insert(format!("k{i}").as_bytes()));
        }
        assert!(!t.insert(b"k5"));
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = t.scan_step(cursor, |m| {
                seen.insert(m.to_vec());
            });
            step += 1;
            if step == 100 {
                for i in 500..1000u32 {
                    assert!(t.remove(format!("k{i}").as_bytes()));
                }
            }
            if step == 200 {
                for i in 0..3000u32 {
                    t.insert(format!("n{i}").as_bytes());
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500u32 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missed");
        }
        assert_eq!(t.len(), 3500);
        for i in 0..500u32 {
            assert!(t.contains(format!("k{i}").as_bytes()));
        }
        let mut rng = crate::rng::Rng::new(1);
        let mut s = SetVal::Table(t);
        while !s.is_empty() {
            let m = s.pop_random(&mut rng);
            assert!(!s.contains(&m));
        }
    }

    #[test]
    fn stored_member_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Stored>(), 24);
        for n in [0, 1, 21, 22, 23, 100] {
            let m: Vec<u8> = (0..n).map(|i| i as u8).collect();
            assert_eq!(Stored::new(&m).bytes(), &m[..]);
        }
    }

    #[test]
    fn intset_conversion() {
        let mut s = SetVal::create_for(b"1");
        assert!(s.add(b"3", 3));
        assert!(s.add(b"1", 3));
        assert!(!s.add(b"1", 3));
        assert!(s.add(b"2", 3));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(s, SetVal::Ints(vec![1, 2, 3]));
        assert!(s.add(b"4", 3));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"4") && s.contains(b"1"));
        let mut s = SetVal::create_for(b"1");
        s.add(b"1", 10);
        s.add(b"x", 10);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 2);
    }
}
