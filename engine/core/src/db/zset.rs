//! The zset value type.
//!
//! Storage: `items`, a Vec of (score, member) kept sorted by score then member
//! bytes (Redis's order). Ranks, index ranges and score/lex range bounds are
//! binary searches (O(log n)); insert/remove are O(n) memmoves (fast in
//! practice; a skiplist/B-tree would make them O(log n)).
//!
//! Encodings mirror Redis 7.0: "listpack" (no member index: member lookups
//! scan linearly, which is fine for <= 128 entries) and "skiplist" (adds a
//! member -> score hash map with a fixed-seed hasher, so lookups are O(1)).
//! Conversion listpack -> skiplist is one-way, as in Redis.

use std::cmp::Ordering;
use std::collections::HashMap;

use foldhash::fast::FixedState;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

#[derive(Clone, Debug, Default)]
pub struct ZSetVal {
    items: Items,
    map: Option<HashMap<Box<[u8]>, f64, FixedState>>,
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

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Item> + '_ {
        self.blocks.iter_mut().flat_map(|b| b.iter_mut())
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

    fn heap_bytes(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| {
                b.capacity() * std::mem::size_of::<Item>()
                    + b.iter().map(|(_, m)| m.len()).sum::<usize>()
            })
            .sum()
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

impl ZSetVal {
    pub fn new() -> ZSetVal {
        ZSetVal::default()
    }

    /// Build from unsorted distinct (score, member) pairs; encoding chosen by
    /// contents (Redis's zsetConvertToListpackIfNeeded for STORE variants).
    pub fn from_items(mut items: Vec<(f64, Box<[u8]>)>, lim: Limits) -> ZSetVal {
        items.sort_by(|a, b| cmp_item(a.0, &a.1, b.0, &b.1));
        let skiplist = items.len() > lim.entries || items.iter().any(|(_, m)| m.len() > lim.value);
        let mut z = ZSetVal {
            items: Items::from_sorted(items),
            map: None,
        };
        if skiplist {
            z.convert();
        } else {
            for it in z.items.iter_mut() {
                if it.0 == 0.0 {
                    it.0 = 0.0;
                }
            }
        }
        z
    }

    pub fn encoding(&self) -> &'static str {
        if self.map.is_some() {
            "skiplist"
        } else {
            "listpack"
        }
    }

    pub fn heap_bytes(&self) -> usize {
        let base = self.items.heap_bytes();
        match &self.map {
            None => base,
            Some(m) => base * 2 + m.capacity() * 32,
        }
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
        if self.map.is_none() {
            let mut m = HashMap::with_capacity_and_hasher(self.items.len, FixedState::default());
            for (s, k) in self.items.iter() {
                m.insert(k.clone(), *s);
            }
            self.map = Some(m);
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.items.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.len == 0
    }

    /// Item at ascending index i (i < len); O(n / BLOCK_MAX).
    pub fn get(&self, i: usize) -> (f64, &[u8]) {
        let (s, m) = self.items.get(i);
        (*s, m)
    }

    /// Items at ascending indices [a, b).
    pub fn range(&self, a: usize, b: usize) -> Vec<(f64, &[u8])> {
        self.items.range(a, b.min(self.len()))
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (f64, &[u8])> + '_ {
        self.items.iter().map(|(s, m)| (*s, &**m))
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match &self.map {
            Some(map) => map.get(m).copied(),
            None => self.items.iter().find(|(_, k)| &**k == m).map(|(s, _)| *s),
        }
    }

    /// 0-based ascending rank.
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        let s = self.score(m)?;
        self.items.find(s, m)
    }

    /// Insert or update. Returns the previous score (None if newly added).
    pub fn set(&mut self, m: &[u8], s: f64, lim: Limits) -> Option<f64> {
        // A listpack stores scores as text, where Redis's "-0" reads back as 0.
        let s = if s == 0.0
            && self.map.is_none()
            && !(self.items.len + 1 > lim.entries || m.len() > lim.value)
        {
            0.0
        } else {
            s
        };
        match self.score(m) {
            Some(old) => {
                if old.to_bits() != s.to_bits() {
                    if let Some(item) = self.items.remove(old, m) {
                        self.items.insert(s, item.1);
                    }
                    if let Some(map) = &mut self.map {
                        if let Some(v) = map.get_mut(m) {
                            *v = s;
                        }
                    }
                }
                Some(old)
            }
            None => {
                if self.map.is_none() && (self.items.len + 1 > lim.entries || m.len() > lim.value) {
                    self.convert();
                }
                let b: Box<[u8]> = m.into();
                if let Some(map) = &mut self.map {
                    map.insert(b.clone(), s);
                }
                self.items.insert(s, b);
                None
            }
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        let Some(s) = self.score(m) else { return false };
        self.items.remove(s, m);
        if let Some(map) = &mut self.map {
            map.remove(m);
        }
        true
    }

    /// Remove items in index range [start, end) and return them.
    pub fn remove_range(&mut self, start: usize, end: usize) -> Vec<(f64, Box<[u8]>)> {
        let end = end.min(self.items.len);
        let start = start.min(end);
        let v = self.items.drain(start, end);
        if let Some(map) = &mut self.map {
            for (_, m) in &v {
                map.remove(m);
            }
        }
        v
    }

    /// Index range [a, b) of items within a score range.
    pub fn score_span(&self, r: &ScoreRange) -> (usize, usize) {
        if r.is_empty() {
            return (0, 0);
        }
        let a = self.items.partition_point(|(s, _)| !r.gte_min(*s));
        let b = self.items.partition_point(|(s, _)| r.lte_max(*s));
        (a, b.max(a))
    }

    /// Index range [a, b) of items within a lex range (meaningful when all
    /// scores are equal, as in Redis).
    pub fn lex_span(&self, r: &LexRange) -> (usize, usize) {
        if r.is_empty() {
            return (0, 0);
        }
        let a = self.items.partition_point(|(_, m)| !r.gte_min(m));
        let b = self.items.partition_point(|(_, m)| r.lte_max(m));
        (a, b.max(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
