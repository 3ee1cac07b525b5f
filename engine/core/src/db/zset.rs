//! The zset value type.
//!
//! Encodings mirror Redis 7.0, and both keep (score, member) pairs sorted by
//! score then member bytes (Redis's order):
//!
//! - "listpack": one [`Packed`] buffer of member, score, member, score, ...
//!   (the score as its 8 raw little-endian f64 bytes, so every score reads
//!   back bit-identical). Every operation is a linear walk, as in Redis;
//!   used while the zset is within zset-max-listpack-entries/-value.
//! - "skiplist" (boxed, so small zsets do not pay for it): `items`, the
//!   pairs in an unrolled list of blocks (score/lex range bounds and (score,
//!   member) lookups are binary searches; insert/remove memmove at most
//!   `BLOCK_MAX` entries; index positions walk block lengths), plus a
//!   `MemberIndex`, member -> score, so member lookups are O(1).
//!
//! Conversion listpack -> skiplist is one-way, as in Redis.
//!
//! ZSCAN on a skiplist zset walks the member index's buckets with Redis's
//! reverse-binary cursor (`dictScan` over the zset's dict), not ranks: a
//! member present for the whole iteration is returned at least once even
//! when other members are added or removed (and the index resized) between
//! calls. A rank cursor would skip members whenever earlier ranks vanish.

use std::cmp::Ordering;

use super::packed::{entry_bytes, Packed};
use crate::alloc::charged;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

#[derive(Clone, Debug)]
pub enum ZSetVal {
    Listpack(Packed),
    Skiplist(Box<Skip>),
}

/// The skiplist encoding: ordered items plus the member index.
#[derive(Clone, Debug)]
pub struct Skip {
    items: Items,
    map: MemberIndex,
}

impl Default for ZSetVal {
    fn default() -> Self {
        ZSetVal::Listpack(Packed::new())
    }
}

impl PartialEq for ZSetVal {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|(a, b)| a.0.to_bits() == b.0.to_bits() && a.1 == b.1)
    }
}

/// Integral scores below this magnitude are stored as integers (every such
/// f64 converts to i64 and back exactly).
const INT_SCORE_LIMIT: f64 = 9007199254740992.0; // 2^53

/// The score entry of a packed pair, bit-exact either way: an integral
/// score (not -0) as its minimal little-endian two's-complement bytes (0 to
/// 7 bytes: Redis's listpack likewise stores integral scores as small
/// ints), anything else as the 8 raw bytes of the f64. The entry's length
/// tells the two apart.
#[inline]
fn score_bytes(s: f64, out: &mut [u8; 8]) -> &[u8] {
    if s.fract() == 0.0 && s.abs() < INT_SCORE_LIMIT && !(s == 0.0 && s.is_sign_negative()) {
        let v = s as i64;
        let b = v.to_le_bytes();
        // Fewest bytes whose sign extension gives back v (|v| < 2^53, so
        // 7 bytes always do).
        let sext = |n: usize| {
            if n == 0 {
                0
            } else {
                (v << (64 - 8 * n)) >> (64 - 8 * n)
            }
        };
        let mut n = 0;
        while n < 7 && sext(n) != v {
            n += 1;
        }
        out[..n].copy_from_slice(&b[..n]);
        return &out[..n];
    }
    *out = s.to_bits().to_le_bytes();
    &out[..]
}

#[inline]
fn score_of(b: &[u8]) -> f64 {
    // Entries are written by score_bytes only: 0..=7 bytes int, 8 raw.
    assert!(b.len() <= 8, "zset listpack: bad score entry");
    let mut a = [0u8; 8];
    a[..b.len()].copy_from_slice(b);
    if b.len() == 8 {
        return f64::from_bits(u64::from_le_bytes(a));
    }
    if b.last().is_some_and(|&x| x & 0x80 != 0) {
        a[b.len()..].fill(0xff);
    }
    i64::from_le_bytes(a) as f64
}

/// (score, member) pairs of a packed zset, from pair `from` on.
fn lp_items(p: &Packed, from: usize) -> impl Iterator<Item = (f64, &[u8])> {
    let mut it = p.iter_from(from.saturating_mul(2));
    std::iter::from_fn(move || {
        let m = it.next()?;
        Some((score_of(it.next()?), m))
    })
}

/// The `Box<ZSetVal>` a keyspace value holds (charged to the zset).
const BOX_BYTES: usize = charged(std::mem::size_of::<ZSetVal>());

type Item = (f64, Box<[u8]>);

/// Blocks hold at most this many items (split in half beyond it).
const BLOCK_MAX: usize = 256;

/// The ordered items as a list of sorted blocks (an unrolled list): inserts
/// and removes memmove at most BLOCK_MAX entries; locating an index walks
/// block lengths (O(n / BLOCK_MAX)); locating a (score, member) is a binary
/// search over block tails then within the block.
#[derive(Clone, Debug, Default)]
struct Items {
    blocks: Vec<Vec<Item>>,
    len: usize,
}

impl Items {
    fn from_sorted(v: Vec<Item>) -> Items {
        let len = v.len();
        let mut blocks = Vec::with_capacity(len / (BLOCK_MAX / 2) + 1);
        let mut it = v.into_iter().peekable();
        while it.peek().is_some() {
            let b: Vec<Item> = it.by_ref().take(BLOCK_MAX / 2).collect();
            blocks.push(b);
        }
        Items { blocks, len }
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = &Item> + '_ {
        self.blocks.iter().flat_map(|b| b.iter())
    }

    /// (block, offset) of global index i (i < len).
    fn locate(&self, mut i: usize) -> (usize, usize) {
        for (bi, b) in self.blocks.iter().enumerate() {
            if i < b.len() {
                return (bi, i);
            }
            i -= b.len();
        }
        (self.blocks.len(), 0)
    }

    fn get(&self, i: usize) -> &Item {
        let (bi, off) = self.locate(i);
        &self.blocks[bi][off]
    }

    fn before(&self, bi: usize) -> usize {
        self.blocks[..bi].iter().map(Vec::len).sum()
    }

    /// Global partition point of a predicate true on a prefix.
    fn partition_point(&self, pred: impl Fn(&Item) -> bool) -> usize {
        let bi = self.blocks.partition_point(|b| b.last().is_some_and(&pred));
        if bi == self.blocks.len() {
            return self.len;
        }
        self.before(bi) + self.blocks[bi].partition_point(&pred)
    }

    /// Block holding (or that should hold) (s, m).
    fn block_for(&self, s: f64, m: &[u8]) -> usize {
        let bi = self.blocks.partition_point(|b| {
            b.last()
                .is_some_and(|(ks, km)| cmp_item(*ks, km, s, m) == Ordering::Less)
        });
        bi.min(self.blocks.len().saturating_sub(1))
    }

    /// Global index of (s, m) when present.
    fn find(&self, s: f64, m: &[u8]) -> Option<usize> {
        if self.blocks.is_empty() {
            return None;
        }
        let bi = self.block_for(s, m);
        let off = self.blocks[bi]
            .binary_search_by(|(ks, km)| cmp_item(*ks, km, s, m))
            .ok()?;
        Some(self.before(bi) + off)
    }

    fn insert(&mut self, s: f64, m: Box<[u8]>) {
        self.len += 1;
        if self.blocks.is_empty() {
            self.blocks.push(vec![(s, m)]);
            return;
        }
        let bi = self.block_for(s, &m);
        let b = &mut self.blocks[bi];
        let off = b
            .binary_search_by(|(ks, km)| cmp_item(*ks, km, s, &m))
            .unwrap_or_else(|e| e);
        b.insert(off, (s, m));
        if b.len() > BLOCK_MAX {
            let tail = b.split_off(b.len() / 2);
            self.blocks.insert(bi + 1, tail);
        }
    }

    /// Remove (s, m); returns the removed item.
    fn remove(&mut self, s: f64, m: &[u8]) -> Option<Item> {
        if self.blocks.is_empty() {
            return None;
        }
        let bi = self.block_for(s, m);
        let off = self.blocks[bi]
            .binary_search_by(|(ks, km)| cmp_item(*ks, km, s, m))
            .ok()?;
        let it = self.blocks[bi].remove(off);
        self.len -= 1;
        if self.blocks[bi].is_empty() {
            self.blocks.remove(bi);
        }
        Some(it)
    }

    /// Remove global index range [a, b).
    fn drain(&mut self, a: usize, b: usize) -> Vec<Item> {
        let mut out = Vec::with_capacity(b.saturating_sub(a));
        let mut base = 0;
        for blk in &mut self.blocks {
            let n = blk.len();
            let (lo, hi) = (a.max(base), b.min(base + n));
            if lo < hi {
                out.extend(blk.drain(lo - base..hi - base));
            }
            base += n;
            if base >= b {
                break;
            }
        }
        self.blocks.retain(|b| !b.is_empty());
        self.len -= out.len();
        out
    }

    fn range(&self, a: usize, b: usize) -> Vec<(f64, &[u8])> {
        let mut out = Vec::with_capacity(b.saturating_sub(a));
        if a >= b {
            return out;
        }
        let (bi, off) = self.locate(a);
        let mut need = b - a;
        let mut off = off;
        for blk in &self.blocks[bi.min(self.blocks.len())..] {
            for (s, m) in &blk[off..] {
                if need == 0 {
                    return out;
                }
                out.push((*s, &**m));
                need -= 1;
            }
            off = 0;
        }
        out
    }
}

#[inline]
pub fn cmp_item(sa: f64, ma: &[u8], sb: f64, mb: &[u8]) -> Ordering {
    sa.partial_cmp(&sb)
        .unwrap_or(Ordering::Equal)
        .then_with(|| ma.cmp(mb))
}

/// A score range bound set: min/max with exclusivity.
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    #[inline]
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }
    #[inline]
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// A lex bound: None = "-" (min) / "+" (max) infinities.
#[derive(Clone, Debug)]
pub enum LexBound {
    NegInf,
    PosInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(b) => m >= &b[..],
            LexBound::Excl(b) => m > &b[..],
        }
    }
    pub fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(b) => m <= &b[..],
            LexBound::Excl(b) => m < &b[..],
        }
    }
    /// Redis's zslIsInLexRange early-out for empty ranges.
    pub fn is_empty(&self) -> bool {
        use LexBound::*;
        match (&self.min, &self.max) {
            (PosInf, _) | (_, NegInf) => true,
            (NegInf, _) | (_, PosInf) => false,
            (a, b) => {
                let (av, aex) = match a {
                    Incl(v) => (v, false),
                    Excl(v) => (v, true),
                    _ => return false,
                };
                let (bv, bex) = match b {
                    Incl(v) => (v, false),
                    Excl(v) => (v, true),
                    _ => return false,
                };
                av > bv || (av == bv && (aex || bex))
            }
        }
    }
}

const NONE: u32 = u32::MAX;
const BUCKETS_MIN: usize = 4;
const HASH_SEED: u64 = 0x7a5e_7a5e_7a5e;

#[inline]
fn hash_of(m: &[u8]) -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::fast::FixedState::with_seed(HASH_SEED).build_hasher();
    h.write(m);
    h.finish() as u32
}

/// One member of the index: its bytes, score, cached hash and chain link.
#[derive(Clone, Debug)]
struct Slot {
    member: Box<[u8]>,
    score: f64,
    hash: u32,
    next: u32,
}

/// Member -> score: a chained hash table whose entries live in a slab with a
/// free list (like the hash type's `Table`). Why not `HashMap`: ZSCAN's
/// guarantee needs the reverse-binary cursor over power-of-two bucket
/// arrays, which needs bucket access. Slot `i` is on the chain of bucket
/// `hash & mask`; a removal frees its slot in place (no other entry moves,
/// which keeps ZREM to the cache lines of the removed entry and its chain).
/// Cursors name buckets, not slots, so compacting the slab does not disturb
/// a scan. Grows at load factor 1 and shrinks below 10% fill, like Redis's
/// dict.
#[derive(Clone, Debug)]
struct MemberIndex {
    heads: Vec<u32>,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    len: usize,
}

impl MemberIndex {
    fn with_capacity(n: usize) -> MemberIndex {
        MemberIndex {
            heads: vec![NONE; n.next_power_of_two().max(BUCKETS_MIN)],
            slots: Vec::with_capacity(n),
            free: Vec::new(),
            len: 0,
        }
    }

    #[inline]
    fn mask(&self) -> u32 {
        // heads.len() is a power of two <= 2^32 (slot numbers are u32).
        (self.heads.len() - 1) as u32
    }

    /// The used slot `i` (None ends a chain; chains only hold used slots).
    #[inline]
    fn slot(&self, i: u32) -> Option<&Slot> {
        self.slots.get(i as usize).and_then(Option::as_ref)
    }

    /// Slot number of `m`, whose hash is `h`.
    #[inline]
    fn find(&self, m: &[u8], h: u32) -> Option<u32> {
        let mut i = self.heads[(h & self.mask()) as usize];
        while let Some(e) = self.slot(i) {
            if e.hash == h && &*e.member == m {
                return Some(i);
            }
            i = e.next;
        }
        None
    }

    #[inline]
    fn get(&self, m: &[u8]) -> Option<f64> {
        let i = self.find(m, hash_of(m))?;
        self.slot(i).map(|e| e.score)
    }

    /// Overwrite the score of used slot `i`.
    #[inline]
    fn set_score(&mut self, i: u32, score: f64) {
        if let Some(Some(e)) = self.slots.get_mut(i as usize) {
            e.score = score;
        }
    }

    /// Add a member known to be absent, with hash `h`.
    fn insert_new(&mut self, member: Box<[u8]>, score: f64, h: u32) {
        if self.len + 1 > self.heads.len() {
            self.rebuild_heads(self.heads.len() * 2);
        }
        let b = (h & self.mask()) as usize;
        let e = Slot {
            member,
            score,
            hash: h,
            next: self.heads[b],
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(e);
                i
            }
            None => {
                self.slots.push(Some(e));
                u32::try_from(self.slots.len() - 1).unwrap_or(NONE - 1)
            }
        };
        self.heads[b] = i;
        self.len += 1;
    }

    /// Remove `m`; returns its score.
    fn remove(&mut self, m: &[u8]) -> Option<f64> {
        let h = hash_of(m);
        let b = (h & self.mask()) as usize;
        let mut prev = NONE;
        let mut i = self.heads[b];
        while let Some(e) = self.slot(i) {
            if e.hash == h && &*e.member == m {
                let next = e.next;
                if prev == NONE {
                    self.heads[b] = next;
                } else if let Some(Some(p)) = self.slots.get_mut(prev as usize) {
                    p.next = next;
                }
                let score = self.slots[i as usize].take().map(|e| e.score);
                self.free.push(i);
                self.len -= 1;
                self.after_remove();
                return score;
            }
            prev = i;
            i = e.next;
        }
        None
    }

    fn after_remove(&mut self) {
        // Compact the slab when mostly free, and shrink the bucket array
        // like Redis's dict (htNeedsResize: under 10% fill).
        if self.slots.len() >= 64 && self.len * 4 < self.slots.len() {
            let old = std::mem::take(&mut self.slots);
            self.free = Vec::new();
            self.slots = old.into_iter().flatten().map(Some).collect();
            let buckets = self.heads.len();
            self.rebuild_heads(buckets);
        }
        if self.heads.len() > BUCKETS_MIN && self.len * 10 < self.heads.len() {
            self.rebuild_heads(self.len.next_power_of_two().max(BUCKETS_MIN));
        }
    }

    fn rebuild_heads(&mut self, buckets: usize) {
        self.heads.clear();
        self.heads.resize(buckets, NONE);
        let mask = self.mask();
        for (i, s) in self.slots.iter_mut().enumerate() {
            if let Some(e) = s {
                let b = (e.hash & mask) as usize;
                e.next = self.heads[b];
                self.heads[b] = i as u32;
            }
        }
    }

    /// One step of Redis's `dictScan`: the members of the bucket named by
    /// `cursor`, then the next cursor (0 = done).
    fn scan_step<'a>(&'a self, cursor: u64, f: &mut impl FnMut(&'a [u8], f64)) -> u64 {
        let mask = u64::from(self.mask());
        let mut i = self.heads[(cursor & mask) as usize];
        while let Some(e) = self.slot(i) {
            f(&e.member, e.score);
            i = e.next;
        }
        // Increment the reversed cursor over the mask's bits only.
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }
}

impl ZSetVal {
    pub fn new() -> ZSetVal {
        ZSetVal::default()
    }

    /// Build from unsorted distinct (score, member) pairs; encoding chosen by
    /// contents (Redis's zsetConvertToListpackIfNeeded for STORE variants).
    pub fn from_items(mut items: Vec<(f64, Box<[u8]>)>, lim: Limits) -> ZSetVal {
        items.sort_by(|a, b| cmp_item(a.0, &a.1, b.0, &b.1));
        let skiplist = items.len() > lim.entries || items.iter().any(|(_, m)| m.len() > lim.value);
        if skiplist {
            return ZSetVal::skip_from_sorted(items);
        }
        // A listpack stores scores as text, where "-0" reads back as 0.
        let scores: Vec<([u8; 8], usize)> = items
            .iter()
            .map(|(s, _)| {
                let mut b = [0u8; 8];
                let n = score_bytes(if *s == 0.0 { 0.0 } else { *s }, &mut b).len();
                (b, n)
            })
            .collect();
        ZSetVal::Listpack(Packed::from_entries(
            items
                .iter()
                .zip(&scores)
                .flat_map(|((_, m), (sc, n))| [&m[..], &sc[..*n]]),
        ))
    }

    fn skip_from_sorted(items: Vec<Item>) -> ZSetVal {
        let mut map = MemberIndex::with_capacity(items.len());
        for (s, k) in &items {
            map.insert_new(k.clone(), *s, hash_of(k));
        }
        ZSetVal::Skiplist(Box::new(Skip {
            items: Items::from_sorted(items),
            map,
        }))
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSetVal::Listpack(_) => "listpack",
            ZSetVal::Skiplist(_) => "skiplist",
        }
    }

    /// Heap bytes owned, counting the keyspace value's box of this enum.
    pub fn heap_bytes(&self) -> usize {
        self.structure_bytes() + self.element_bytes().sum::<usize>()
    }

    /// Redis's xorObjectDigest contribution for this type.
    pub fn digest(&self, d: &mut crate::digest::Digest) {
        use crate::digest::{mix_digest, xor_digest};
        let mut buf = Vec::with_capacity(32);
        for (s, m) in self.iter() {
            let mut ele = [0u8; 20];
            mix_digest(&mut ele, m);
            buf.clear();
            crate::float::push_g17(&mut buf, s);
            mix_digest(&mut ele, &buf);
            xor_digest(d, &ele);
        }
    }

    fn convert(&mut self) {
        if let ZSetVal::Listpack(p) = self {
            let items: Vec<Item> = lp_items(p, 0).map(|(s, m)| (s, Box::from(m))).collect();
            *self = ZSetVal::skip_from_sorted(items);
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        match self {
            ZSetVal::Listpack(p) => p.len() / 2,
            ZSetVal::Skiplist(k) => k.items.len,
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item at ascending index i (i < len); O(n / BLOCK_MAX) for skiplist,
    /// O(n) for listpack. Out of range answers (0, "") (callers never ask).
    pub fn get(&self, i: usize) -> (f64, &[u8]) {
        match self {
            ZSetVal::Listpack(p) => lp_items(p, i).next().unwrap_or((0.0, &[])),
            ZSetVal::Skiplist(k) if i < k.items.len => {
                let (s, m) = k.items.get(i);
                (*s, m)
            }
            ZSetVal::Skiplist(_) => (0.0, &[]),
        }
    }

    /// Items at ascending indices [a, b).
    pub fn range(&self, a: usize, b: usize) -> Vec<(f64, &[u8])> {
        let b = b.min(self.len());
        match self {
            ZSetVal::Listpack(p) => lp_items(p, a).take(b.saturating_sub(a)).collect(),
            ZSetVal::Skiplist(k) => k.items.range(a, b),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (f64, &[u8])> + '_ {
        let (a, b) = match self {
            ZSetVal::Listpack(p) => (Some(lp_items(p, 0)), None),
            ZSetVal::Skiplist(k) => (None, Some(k.items.iter().map(|(s, m)| (*s, &**m)))),
        };
        a.into_iter().flatten().chain(b.into_iter().flatten())
    }

    /// Pair index of member `m` in a packed zset.
    fn lp_find(p: &Packed, m: &[u8]) -> Option<usize> {
        p.find(m, 0, 2).map(|i| i / 2)
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            ZSetVal::Listpack(p) => p.find_next(m, 0, 2).map(|(_, s)| score_of(s)),
            ZSetVal::Skiplist(k) => k.map.get(m),
        }
    }

    /// 0-based ascending rank.
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        match self {
            ZSetVal::Listpack(p) => Self::lp_find(p, m),
            ZSetVal::Skiplist(k) => {
                let s = k.map.get(m)?;
                k.items.find(s, m)
            }
        }
    }

    /// Insert (s, m), known absent, at its sorted place in a packed zset.
    fn lp_insert(p: &mut Packed, m: &[u8], s: f64) {
        let at = lp_items(p, 0)
            .position(|(ks, km)| cmp_item(ks, km, s, m) == Ordering::Greater)
            .unwrap_or(p.len() / 2);
        let mut b = [0u8; 8];
        p.insert_many(at * 2, &[m, score_bytes(s, &mut b)]);
    }

    /// Insert or update. Returns the previous score (None if newly added).
    pub fn set(&mut self, m: &[u8], s: f64, lim: Limits) -> Option<f64> {
        if let ZSetVal::Listpack(p) = self {
            let n = p.len() / 2;
            // A listpack stores scores as text, where Redis's "-0" reads back as 0.
            let s = if s == 0.0 && !(n + 1 > lim.entries || m.len() > lim.value) {
                0.0
            } else {
                s
            };
            if let Some((i, old)) = p.find_next(m, 0, 2) {
                let old = score_of(old);
                if old.to_bits() != s.to_bits() {
                    p.remove_range(i, 2); // i: the member entry
                    Self::lp_insert(p, m, s);
                }
                return Some(old);
            }
            if n < lim.entries && m.len() <= lim.value {
                Self::lp_insert(p, m, s);
                return None;
            }
            self.convert();
        }
        let ZSetVal::Skiplist(k) = self else {
            return None;
        };
        let Skip { items, map } = &mut **k;
        // One hash for the lookup and, when new, the insert.
        let h = hash_of(m);
        match map.find(m, h) {
            Some(i) => {
                let old = map.slot(i).map_or(s, |e| e.score);
                if old.to_bits() != s.to_bits() {
                    map.set_score(i, s);
                    if let Some(item) = items.remove(old, m) {
                        items.insert(s, item.1);
                    }
                }
                Some(old)
            }
            None => {
                let b: Box<[u8]> = m.into();
                map.insert_new(b.clone(), s, h);
                items.insert(s, b);
                None
            }
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            ZSetVal::Listpack(p) => match Self::lp_find(p, m) {
                Some(i) => {
                    p.remove_range(i * 2, 2);
                    true
                }
                None => false,
            },
            ZSetVal::Skiplist(k) => {
                let Some(s) = k.map.remove(m) else {
                    return false;
                };
                k.items.remove(s, m);
                true
            }
        }
    }

    /// Remove items in index range [start, end) and return them.
    pub fn remove_range(&mut self, start: usize, end: usize) -> Vec<(f64, Box<[u8]>)> {
        let end = end.min(self.len());
        let start = start.min(end);
        match self {
            ZSetVal::Listpack(p) => {
                let v: Vec<(f64, Box<[u8]>)> = lp_items(p, start)
                    .take(end - start)
                    .map(|(s, m)| (s, Box::from(m)))
                    .collect();
                p.remove_range(start * 2, (end - start) * 2);
                v
            }
            ZSetVal::Skiplist(k) => {
                let v = k.items.drain(start, end);
                for (_, m) in &v {
                    k.map.remove(m);
                }
                v
            }
        }
    }

    /// One ZSCAN page (Redis's scanGenericCommand loop): calls `f` with
    /// (member, score) pairs and returns the next cursor (0 = done).
    /// Listpack zsets return everything in score order with cursor 0;
    /// skiplist zsets visit index buckets until `count` members are found,
    /// the cursor wraps, or count*20 buckets (Redis doubles COUNT for
    /// key/value types, then allows 10 times that many steps) came up short.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(&'a [u8], f64)) -> u64 {
        let ZSetVal::Skiplist(k) = self else {
            for (s, m) in self.iter() {
                f(m, s);
            }
            return 0;
        };
        let map = &k.map;
        let mut got = 0usize;
        let mut maxiter = count.saturating_mul(20);
        let mut cursor = cursor;
        loop {
            cursor = map.scan_step(cursor, &mut |m, s| {
                got += 1;
                f(m, s)
            });
            if cursor == 0 || maxiter == 0 || got >= count {
                return cursor;
            }
            maxiter -= 1;
        }
    }

    /// Partition point of a predicate true on a prefix (binary search).
    fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            // The same search as a one-block `Items` (lex predicates are not
            // monotone when scores differ, where Redis leaves the answer
            // unspecified; this keeps redsim's answer as it was).
            ZSetVal::Listpack(p) => {
                let v: Vec<(f64, &[u8])> = lp_items(p, 0).collect();
                match v.last() {
                    Some((s, m)) if pred(*s, m) => v.len(),
                    _ => v.partition_point(|(s, m)| pred(*s, m)),
                }
            }
            ZSetVal::Skiplist(k) => k.items.partition_point(|(s, m)| pred(*s, m)),
        }
    }

    /// Index range [a, b) of items within a score range.
    pub fn score_span(&self, r: &ScoreRange) -> (usize, usize) {
        if r.is_empty() {
            return (0, 0);
        }
        let a = self.partition_point(|s, _| !r.gte_min(s));
        let b = self.partition_point(|s, _| r.lte_max(s));
        (a, b.max(a))
    }

    /// Index range [a, b) of items within a lex range (meaningful when all
    /// scores are equal, as in Redis).
    pub fn lex_span(&self, r: &LexRange) -> (usize, usize) {
        if r.is_empty() {
            return (0, 0);
        }
        let a = self.partition_point(|_, m| !r.gte_min(m));
        let b = self.partition_point(|_, m| r.lte_max(m));
        (a, b.max(a))
    }
}

/// MEMORY USAGE's split of `heap_bytes()` (cmd/memory.rs samples the
/// per-element part): always `heap_bytes() == structure_bytes() +
/// element_bytes().sum()`.
impl ZSetVal {
    /// The keyspace value's box, plus: for listpack, the buffer's charged
    /// size minus its entries' bytes (allocator rounding); for skiplist, its
    /// box, the item blocks and the member index's buckets, slab and free
    /// list.
    pub fn structure_bytes(&self) -> usize {
        BOX_BYTES
            + match self {
                ZSetVal::Listpack(p) => p.heap_bytes() - p.buf_bytes(),
                ZSetVal::Skiplist(k) => {
                    let items: usize = k
                        .items
                        .blocks
                        .iter()
                        .map(|b| b.capacity() * std::mem::size_of::<Item>())
                        .sum();
                    let m = &k.map;
                    charged(std::mem::size_of::<Skip>())
                        + items
                        + m.heads.capacity() * 4
                        + m.slots.capacity() * std::mem::size_of::<Option<Slot>>()
                        + m.free.capacity() * 4
                }
            }
    }

    /// Bytes of each element in score order: for listpack its member and
    /// score entries; for skiplist its member allocation, twice (the member
    /// index holds its own copy).
    pub fn element_bytes(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match self {
            ZSetVal::Listpack(p) => {
                let mut it = p.iter();
                Box::new(std::iter::from_fn(move || {
                    Some(entry_bytes(it.next()?.len()) + entry_bytes(it.next()?.len()))
                }))
            }
            ZSetVal::Skiplist(k) => Box::new(k.items.iter().map(|(_, m)| {
                if m.is_empty() {
                    0
                } else {
                    2 * charged(m.len())
                }
            })),
        }
    }

    /// The member index (skiplist only), for tests.
    #[cfg(test)]
    fn index(&self) -> Option<&MemberIndex> {
        match self {
            ZSetVal::Skiplist(k) => Some(&k.map),
            ZSetVal::Listpack(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_scores_round_trip_bit_exact() {
        let mut rng = crate::rng::Rng::new(5);
        let mut cases = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            127.0,
            128.0,
            -128.0,
            -129.0,
            255.0,
            256.0,
            32767.0,
            -32768.0,
            1e15,
            -1e15,
            9007199254740991.0,
            -9007199254740991.0,
            9007199254740992.0,
            1e20,
            1.5,
            -2.25,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
        ];
        for _ in 0..2000 {
            let bits = 1u64 << rng.below(60);
            let v = (rng.below(bits) as i64 - (bits / 2) as i64) as f64;
            cases.push(v);
            cases.push(f64::from_bits(rng.next_u64()));
        }
        for s in cases {
            if s.is_nan() {
                continue;
            }
            let mut b = [0u8; 8];
            let e = score_bytes(s, &mut b).to_vec();
            assert_eq!(score_of(&e).to_bits(), s.to_bits(), "{s:e} as {e:?}");
            if s.fract() == 0.0 && s.abs() < 32768.0 && s.to_bits() != (-0.0f64).to_bits() {
                assert!(e.len() <= 2, "{s} took {} bytes", e.len());
            }
        }
        assert!(score_bytes(0.0, &mut [0; 8]).is_empty());
        assert_eq!(score_bytes(-0.0, &mut [0; 8]).len(), 8);
    }

    #[test]
    fn blocks_stay_ordered() {
        let lim = Limits {
            entries: 128,
            value: 64,
        };
        let mut z = ZSetVal::new();
        let mut x: u64 = 12345;
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        for k in 0..5000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let m = format!("m{}", x % 3000).into_bytes();
            let s = ((x >> 33) % 100) as f64;
            if k % 7 == 0 {
                z.remove(&m);
                model.retain(|(_, mm)| *mm != m);
            } else {
                z.set(&m, s, lim);
                model.retain(|(_, mm)| *mm != m);
                model.push((s, m));
            }
        }
        model.sort_by(|a, b| cmp_item(a.0, &a.1, b.0, &b.1));
        let got: Vec<(f64, Vec<u8>)> = z.iter().map(|(s, m)| (s, m.to_vec())).collect();
        assert_eq!(got, model);
        for (i, (s, m)) in model.iter().enumerate().step_by(37) {
            assert_eq!(z.rank(m), Some(i));
            assert_eq!(z.get(i), (*s, &m[..]));
        }
        let r = ScoreRange {
            min: 10.0,
            max: 20.0,
            minex: true,
            maxex: false,
        };
        let (a, b) = z.score_span(&r);
        assert_eq!(
            b - a,
            model
                .iter()
                .filter(|(s, _)| *s > 10.0 && *s <= 20.0)
                .count()
        );
        let n = z.len();
        let removed = z.remove_range(100, 900);
        assert_eq!(removed.len(), 800);
        assert_eq!(z.len(), n - 800);
        assert_eq!(z.iter().count(), n - 800);
        assert_eq!(z.range(0, 5).len(), 5);
    }
    /// ZSCAN's guarantee: a member present from the start to the end of a
    /// full iteration is returned at least once, even when other members are
    /// removed and added between steps (shifting ranks, growing and
    /// shrinking the index).
    #[test]
    fn scan_guarantee_under_churn() {
        use std::collections::HashSet;
        let lim = Limits {
            entries: 128,
            value: 64,
        };
        let mut z = ZSetVal::new();
        // "k*" members stay for the whole scan; "x*" members come and go.
        // Scores interleave them so removals shift the ranks of k members.
        for i in 0..3000u32 {
            z.set(format!("k{i}").as_bytes(), f64::from(i * 2), lim);
            z.set(format!("x{i}").as_bytes(), f64::from(i * 2 + 1), lim);
        }
        assert_eq!(z.encoding(), "skiplist");
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        let mut cursor = 0u64;
        let mut step = 0u32;
        let buckets = |z: &ZSetVal| z.index().map_or(0, |m| m.heads.len());
        let mut sizes = vec![buckets(&z)];
        loop {
            cursor = z.scan(cursor, 10, |m, _| {
                seen.insert(m.to_vec());
            });
            step += 1;
            match step {
                // Remove every x member: ranks of k members halve; the
                // index shrinks.
                5 => {
                    for i in 0..3000u32 {
                        assert!(z.remove(format!("x{i}").as_bytes()));
                    }
                }
                // Many new members: the index grows (several doublings).
                20 => {
                    for i in 0..20000u32 {
                        z.set(format!("y{i}").as_bytes(), -f64::from(i) - 1.0, lim);
                    }
                }
                // Remove them again (shrinks), and re-add some x members.
                60 => {
                    for i in 0..20000u32 {
                        assert!(z.remove(format!("y{i}").as_bytes()));
                    }
                    for i in 0..500u32 {
                        z.set(format!("x{i}").as_bytes(), f64::from(i), lim);
                    }
                }
                _ => {}
            }
            if sizes.last() != Some(&buckets(&z)) {
                sizes.push(buckets(&z));
            }
            if cursor == 0 {
                break;
            }
        }
        let missed: Vec<String> = (0..3000u32)
            .map(|i| format!("k{i}"))
            .filter(|k| !seen.contains(k.as_bytes()))
            .collect();
        assert!(
            missed.is_empty(),
            "{} k members missed, e.g. {:?}",
            missed.len(),
            missed.first()
        );
        for i in 0..3000u32 {
            assert_eq!(z.score(format!("k{i}").as_bytes()), Some(f64::from(i * 2)));
        }
        assert_eq!(z.len(), 3500);
        // The index both grew and shrank while the scan was under way.
        assert!(sizes.windows(2).any(|w| w[1] > w[0]), "{sizes:?}");
        assert!(sizes.windows(2).any(|w| w[1] < w[0]), "{sizes:?}");
        assert_eq!(
            z.index().map(|m| m.slots.iter().flatten().count()),
            Some(z.len())
        );
        for (s, m) in z.iter() {
            assert_eq!(z.score(m).map(f64::to_bits), Some(s.to_bits()));
        }
    }

    /// Timing of the member-index hot path (ZADD/ZSCORE/ZREM shapes). Run
    /// by hand: `cargo test --release -p redsim-core zset_hot_path -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn zset_hot_path_timing() {
        let lim = Limits {
            entries: 128,
            value: 64,
        };
        let n = 200_000u64;
        let keys: Vec<Vec<u8>> = (0..n).map(|i| format!("member:{i}").into_bytes()).collect();
        let mut best = [f64::MAX; 3];
        for _ in 0..5 {
            let mut z = ZSetVal::new();
            let t = std::time::Instant::now();
            for (i, k) in keys.iter().enumerate() {
                z.set(k, (i % 1000) as f64, lim);
            }
            best[0] = best[0].min(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            let mut hit = 0u64;
            for _ in 0..5 {
                for k in &keys {
                    hit += u64::from(z.score(k).is_some());
                }
            }
            best[1] = best[1].min(t.elapsed().as_secs_f64());
            assert_eq!(hit, 5 * n);
            let t = std::time::Instant::now();
            for k in &keys {
                assert!(z.remove(k));
            }
            best[2] = best[2].min(t.elapsed().as_secs_f64());
        }
        println!(
            "zadd {:.1} ns/op, zscore {:.1} ns/op, zrem {:.1} ns/op",
            best[0] * 1e9 / n as f64,
            best[1] * 1e9 / (5 * n) as f64,
            best[2] * 1e9 / n as f64
        );
    }
}
