//! The set value type, with Redis 7.0's two encodings:
//!
//! - `intset`: [`IntSet`], sorted integers packed at the narrowest width
//!   (2, 4 or 8 bytes) that holds them all, as Redis's intset, while every
//!   member is an integer (`string2ll`-valid) and the cardinality is <=
//!   set-max-intset-entries. Iteration is ascending numeric order, like
//!   Redis's intset. The width only grows (as in Redis). Small intsets
//!   live inside the struct (no allocation of their own).
//! - `hashtable`: [`MemberTable`], a chained hash table over a dense member
//!   array (fixed-seed foldhash, so fully deterministic). Dense storage gives
//!   O(1) uniform random members (SPOP/SRANDMEMBER); power-of-two bucket
//!   arrays give SSCAN Redis's reverse-binary cursor guarantee. Boxed, so
//!   intsets do not pay for its inline size.
//!
//! Conversion intset -> hashtable is one-way, as in Redis.

use crate::alloc::charged;
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

/// Tables below this many members grow their arrays exactly (no slack).
const EXACT_GROWTH_MAX: usize = 16;

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
            Stored::Heap(b) => charged(b.len()),
        }
    }
}

/// A member's cached hash and the next slot on its bucket chain.
#[derive(Clone, Copy, Debug)]
struct Link {
    hash: u32,
    next: u32,
}

/// Chained hash table of byte-string members. `items[i]` is on the chain of
/// bucket `links[i].hash & mask`, linked through `links[i].next` (hash and
/// link share one array: one allocation, one realloc per growth).
#[derive(Clone, Debug)]
pub struct MemberTable {
    heads: Vec<u32>,
    items: Vec<Stored>,
    links: Vec<Link>,
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
            links: Vec::with_capacity(n),
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
            if self.links[iu].hash == h && self.items[iu].bytes() == m {
                return Some(iu);
            }
            i = self.links[iu].next;
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
        if self.items.len() == self.items.capacity() && self.items.len() < EXACT_GROWTH_MAX {
            // Small sets (the common case) grow their arrays one slot at a
            // time: no doubling slack in each of many small keys.
            self.items.reserve_exact(1);
            self.links.reserve_exact(1);
        }
        let h = hash_of(m) as u32;
        let b = (u64::from(h) & self.mask()) as usize;
        let i = u32::try_from(self.items.len()).unwrap_or(NONE - 1);
        self.items.push(Stored::new(m));
        self.links.push(Link {
            hash: h,
            next: self.heads[b],
        });
        self.heads[b] = i;
    }

    fn resize(&mut self, buckets: usize) {
        self.heads.clear();
        self.heads.resize(buckets, NONE);
        let mask = (buckets - 1) as u64;
        for i in 0..self.items.len() {
            let b = (u64::from(self.links[i].hash) & mask) as usize;
            self.links[i].next = self.heads[b];
            self.heads[b] = i as u32;
        }
    }

    /// Unlink index `i` from its bucket chain.
    fn unlink(&mut self, i: usize) {
        let b = (u64::from(self.links[i].hash) & self.mask()) as usize;
        let nx = self.links[i].next;
        if self.heads[b] == i as u32 {
            self.heads[b] = nx;
            return;
        }
        let mut j = self.heads[b];
        while j != NONE {
            let ju = j as usize;
            if self.links[ju].next == i as u32 {
                self.links[ju].next = nx;
                return;
            }
            j = self.links[ju].next;
        }
    }

    /// Remove the member at dense index `i`, returning it.
    fn remove_at(&mut self, i: usize) -> Vec<u8> {
        self.unlink(i);
        let last = self.items.len() - 1;
        if i != last {
            // The last member moves into slot i: repoint whoever links to it.
            let b = (u64::from(self.links[last].hash) & self.mask()) as usize;
            if self.heads[b] == last as u32 {
                self.heads[b] = i as u32;
            } else {
                let mut j = self.heads[b];
                while j != NONE {
                    let ju = j as usize;
                    if self.links[ju].next == last as u32 {
                        self.links[ju].next = i as u32;
                        break;
                    }
                    j = self.links[ju].next;
                }
            }
        }
        let m = self.items.swap_remove(i).bytes().to_vec();
        self.links.swap_remove(i);
        let n = self.items.len();
        if self.heads.len() > BUCKETS_MIN && n * 8 < self.heads.len() {
            self.resize((n.next_power_of_two() * 2).max(BUCKETS_MIN));
            self.items.shrink_to(n * 2);
            self.links.shrink_to(n * 2);
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
            i = self.links[i as usize].next;
        }
        let mut v = cursor | !mask;
        v = v.reverse_bits();
        v = v.wrapping_add(1);
        v.reverse_bits()
    }

    fn heap_bytes(&self) -> usize {
        self.heads.capacity() * 4
            + self.links.capacity() * std::mem::size_of::<Link>()
            + self.items.capacity() * std::mem::size_of::<Stored>()
            + self.items.iter().map(Stored::heap_len).sum::<usize>()
    }
}

/// Sorted distinct integers, each stored little-endian in `width` bytes
/// (2, 4 or 8: the narrowest that fits every member). Invariants: the
/// member bytes are `len * width` long, ascending, no duplicates. Up to
/// `INLINE_INT_BYTES` of members live inside the struct (so a small intset
/// costs no allocation beyond the keyspace value's box); past that, an
/// exactly-sized heap buffer. Edits rebuild the buffer, as Redis's intset
/// reallocates.
#[derive(Clone, Debug)]
pub struct IntSet {
    d: IntData,
}

/// Member bytes kept inline (10 16-bit, 5 32-bit or 2 64-bit members).
const INLINE_INT_BYTES: usize = 21;

#[derive(Clone, Debug)]
enum IntData {
    Inline {
        len: u8,
        width: u8,
        buf: [u8; INLINE_INT_BYTES],
    },
    Heap {
        data: Box<[u8]>,
        width: u8,
    },
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet {
            d: IntData::Inline {
                len: 0,
                width: 2,
                buf: [0; INLINE_INT_BYTES],
            },
        }
    }
}

/// Bytes needed to store `v`.
fn width_for(v: i64) -> u8 {
    if i64::from(v as i16) == v {
        2
    } else if i64::from(v as i32) == v {
        4
    } else {
        8
    }
}

impl PartialEq for IntSet {
    fn eq(&self, o: &IntSet) -> bool {
        self.len() == o.len() && self.iter().eq(o.iter())
    }
}

impl IntSet {
    pub fn new() -> IntSet {
        IntSet::default()
    }

    #[inline]
    fn w(&self) -> usize {
        usize::from(match &self.d {
            IntData::Inline { width, .. } | IntData::Heap { width, .. } => *width,
        })
    }

    /// The member bytes.
    #[inline]
    fn bytes(&self) -> &[u8] {
        match &self.d {
            IntData::Inline { len, buf, .. } => &buf[..usize::from(*len)],
            IntData::Heap { data, .. } => data,
        }
    }

    /// Storage holding the concatenation of `parts` (inline when it fits,
    /// so small edits allocate nothing).
    fn from_parts(width: usize, parts: &[&[u8]]) -> IntData {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let width = width as u8;
        if total <= INLINE_INT_BYTES {
            let mut buf = [0; INLINE_INT_BYTES];
            let mut at = 0;
            for p in parts {
                buf[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
            IntData::Inline {
                len: total as u8,
                width,
                buf,
            }
        } else {
            let mut data = Vec::with_capacity(total);
            for p in parts {
                data.extend_from_slice(p);
            }
            IntData::Heap {
                data: data.into_boxed_slice(),
                width,
            }
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.bytes().len() / self.w()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// Bytes per member (2, 4 or 8).
    pub fn width(&self) -> usize {
        self.w()
    }

    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        let w = self.w();
        let b = &self.bytes()[i * w..(i + 1) * w];
        match w {
            2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }

    /// Ok(index) when present, Err(insertion point) otherwise.
    pub fn search(&self, x: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(&x) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, x: i64) -> bool {
        self.search(x).is_ok()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = i64> + ExactSizeIterator + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Insert; false when already present.
    pub fn insert(&mut self, x: i64) -> bool {
        let pos = match self.search(x) {
            Ok(_) => return false,
            Err(p) => p,
        };
        let w = self.w().max(usize::from(width_for(x)));
        let xb = x.to_le_bytes();
        if let IntData::Heap { data, width } = &mut self.d {
            if usize::from(*width) == w {
                // Grow the exact-size buffer with realloc (in place while
                // the glibc chunk has room, which is most inserts).
                let mut v = std::mem::take(data).into_vec();
                v.reserve_exact(w);
                v.extend_from_slice(&xb[..w]);
                v[pos * w..].rotate_right(w);
                *data = v.into_boxed_slice();
                return true;
            }
        }
        self.d = if w == self.w() {
            let b = self.bytes();
            Self::from_parts(w, &[&b[..pos * w], &xb[..w], &b[pos * w..]])
        } else {
            // Width upgrade: re-encode every member.
            let mut out = Vec::with_capacity((self.len() + 1) * w);
            for v in self.iter().take(pos) {
                out.extend_from_slice(&v.to_le_bytes()[..w]);
            }
            out.extend_from_slice(&xb[..w]);
            for v in self.iter().skip(pos) {
                out.extend_from_slice(&v.to_le_bytes()[..w]);
            }
            Self::from_parts(w, &[&out])
        };
        true
    }

    /// Remove and return the member at index `i`.
    pub fn remove_at(&mut self, i: usize) -> i64 {
        let v = self.get(i);
        let w = self.w();
        if let IntData::Heap { data, .. } = &mut self.d {
            if data.len() - w > INLINE_INT_BYTES {
                // Shrink in place (realloc).
                let mut d = std::mem::take(data).into_vec();
                d.drain(i * w..(i + 1) * w);
                *data = d.into_boxed_slice();
                return v;
            }
        }
        let b = self.bytes();
        self.d = Self::from_parts(w, &[&b[..i * w], &b[(i + 1) * w..]]);
        v
    }

    pub fn remove(&mut self, x: i64) -> bool {
        match self.search(x) {
            Ok(i) => {
                self.remove_at(i);
                true
            }
            Err(_) => false,
        }
    }

    fn heap_bytes(&self) -> usize {
        match &self.d {
            IntData::Inline { .. } => 0,
            IntData::Heap { data, .. } => charged(data.len()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SetVal {
    Ints(IntSet),
    Table(Box<MemberTable>),
}

impl Default for SetVal {
    fn default() -> Self {
        SetVal::Ints(IntSet::new())
    }
}

/// The `Box<SetVal>` a keyspace value holds (charged to the set).
const BOX_BYTES: usize = charged(std::mem::size_of::<SetVal>());

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
            SetVal::Ints(IntSet::new())
        } else {
            SetVal::Table(Box::default())
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            SetVal::Ints(_) => "intset",
            SetVal::Table(_) => "hashtable",
        }
    }

    /// Heap bytes owned, counting the keyspace value's box of this enum.
    pub fn heap_bytes(&self) -> usize {
        BOX_BYTES
            + match self {
                SetVal::Ints(v) => v.heap_bytes(),
                SetVal::Table(t) => charged(std::mem::size_of::<MemberTable>()) + t.heap_bytes(),
            }
    }

    /// Redis's xorObjectDigest contribution for this type.
    pub fn digest(&self, d: &mut Digest) {
        match self {
            SetVal::Ints(v) => {
                let mut buf = Vec::with_capacity(20);
                for x in v.iter() {
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
            SetVal::Ints(v) => parse_i64(m).is_some_and(|x| v.contains(x)),
            SetVal::Table(t) => t.contains(m),
        }
    }

    pub fn contains_member(&self, m: Member) -> bool {
        match (self, m) {
            (SetVal::Ints(v), Member::Int(x)) => v.contains(x),
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
            for x in v.iter() {
                buf.clear();
                push_i64(&mut buf, x);
                t.insert_new(&buf);
            }
            *self = SetVal::Table(Box::new(t));
        }
    }

    /// Redis's `setTypeAdd`: true if added. `max` is the intset entry limit.
    pub fn add(&mut self, m: &[u8], max: usize) -> bool {
        if let SetVal::Ints(v) = self {
            match parse_i64(m) {
                Some(x) => {
                    if !v.insert(x) {
                        return false;
                    }
                    if v.len() > max {
                        self.convert(0);
                    }
                    return true;
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
            (SetVal::Ints(v), Member::Int(x)) => {
                if !v.insert(x) {
                    return false;
                }
                if v.len() > max {
                    self.convert(0);
                }
                true
            }
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
            SetVal::Ints(v) => parse_i64(m).is_some_and(|x| v.remove(x)),
            SetVal::Table(t) => t.remove(m),
        }
    }

    /// Member at position `i` (0..len) of the internal order.
    pub fn at(&self, i: usize) -> Member<'_> {
        match self {
            SetVal::Ints(v) => Member::Int(v.get(i)),
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
            SetVal::Ints(v) => crate::util::i64_bytes(v.remove_at(i)),
            SetVal::Table(t) => t.remove_at(i),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Member<'_>> {
        let (a, b) = match self {
            SetVal::Ints(v) => (Some(v.iter().map(Member::Int)), None),
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
    /// The keyspace value's box, plus the intset array, or the table's box,
    /// buckets, hash/link arrays and member slots (short members live inside
    /// their slot).
    pub fn structure_bytes(&self) -> usize {
        BOX_BYTES
            + match self {
                SetVal::Ints(v) => v.heap_bytes(),
                SetVal::Table(t) => {
                    charged(std::mem::size_of::<MemberTable>())
                        + t.heads.capacity() * 4
                        + t.links.capacity() * std::mem::size_of::<Link>()
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
        let mut s = SetVal::Table(Box::new(t));
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
    fn intset_widths_upgrade_and_stay_sorted() {
        let mut s = IntSet::new();
        let mut model = std::collections::BTreeSet::new();
        let mut rng = crate::rng::Rng::new(3);
        assert_eq!(s.heap_bytes(), 0);
        for k in 0..600 {
            let x = match k % 5 {
                0 => rng.below(100) as i64 - 50,
                1 => i64::from(i16::MAX) + 1 - rng.below(3) as i64,
                2 if k > 200 => i64::from(i32::MIN) + rng.below(3) as i64 - 1,
                3 if k > 400 => i64::MAX - rng.below(2) as i64,
                4 if k > 400 => i64::MIN + rng.below(2) as i64,
                _ => rng.below(1000) as i64,
            };
            if rng.below(4) == 0 {
                assert_eq!(s.remove(x), model.remove(&x));
            } else {
                assert_eq!(s.insert(x), model.insert(x));
            }
            assert!(s.iter().eq(model.iter().copied()));
            let need = model.iter().map(|&v| width_for(v)).max().unwrap_or(2);
            // The width fits every member and never shrinks below what was needed.
            assert!(s.width() >= usize::from(need));
            assert_eq!(s.bytes().len(), s.len() * s.width());
        }
        assert_eq!(s.width(), 8);
        assert!(s.contains(i64::MAX) || !model.contains(&i64::MAX));
        // Start narrow: 2 bytes each.
        let mut t = IntSet::new();
        for x in [3i64, -7, 1000] {
            t.insert(x);
        }
        assert_eq!((t.width(), t.bytes().len(), t.heap_bytes()), (2, 6, 0));
        t.insert(70000);
        assert_eq!((t.width(), t.bytes().len(), t.heap_bytes()), (4, 16, 0));
        t.insert(1);
        assert_eq!((t.width(), t.bytes().len()), (4, 20));
        t.insert(2);
        assert_eq!((t.width(), t.heap_bytes()), (4, charged(24)));
        t.remove(2);
        assert_eq!(t.heap_bytes(), 0);
        assert!(t.iter().eq([-7i64, 1, 3, 1000, 70000]));
    }

    #[test]
    fn intset_conversion() {
        let mut s = SetVal::create_for(b"1");
        assert!(s.add(b"3", 3));
        assert!(s.add(b"1", 3));
        assert!(!s.add(b"1", 3));
        assert!(s.add(b"2", 3));
        assert_eq!(s.encoding(), "intset");
        let want: Vec<i64> = vec![1, 2, 3];
        assert!(matches!(&s, SetVal::Ints(v) if v.iter().eq(want.iter().copied())));
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

#[cfg(test)]
mod timing {
    use super::*;

    /// SADD-shaped cost on many small intsets against a sorted `Vec<i64>`
    /// (the former representation). Run by hand:
    /// `cargo test -p redsim-core small_intset_timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn small_intset_timing() {
        const KEYS: usize = 20_000;
        const OPS: usize = 300_000;
        let mut rng = crate::rng::Rng::new(9);
        let ops: Vec<(usize, i64)> = (0..OPS)
            .map(|_| (rng.below(KEYS as u64) as usize, rng.below(20_000) as i64))
            .collect();
        let t = std::time::Instant::now();
        let mut sets: Vec<Box<SetVal>> = (0..KEYS).map(|_| Box::default()).collect();
        for &(k, x) in &ops {
            sets[k].add_member(Member::Int(x), 512);
        }
        let packed = t.elapsed().as_secs_f64() * 1e9 / OPS as f64;
        let t = std::time::Instant::now();
        let mut vecs: Vec<Box<Vec<i64>>> = (0..KEYS).map(|_| Box::default()).collect();
        for &(k, x) in &ops {
            if let Err(p) = vecs[k].binary_search(&x) {
                vecs[k].insert(p, x);
            }
        }
        let vec = t.elapsed().as_secs_f64() * 1e9 / OPS as f64;
        let n: usize = sets.iter().map(|s| s.len()).sum();
        assert_eq!(n, vecs.iter().map(|v| v.len()).sum::<usize>());
        println!("intset add: {packed:.0} ns/op, Vec<i64>: {vec:.0} ns/op");
        // redis-benchmark's members (12 zero-padded digits: not integers).
        let t = std::time::Instant::now();
        let mut sets: Vec<Box<SetVal>> = (0..KEYS)
            .map(|_| Box::new(SetVal::create_for(b"x")))
            .collect();
        for &(k, x) in &ops {
            sets[k].add(format!("{x:012}").as_bytes(), 512);
        }
        let table = t.elapsed().as_secs_f64() * 1e9 / OPS as f64;
        println!("small hashtable add: {table:.0} ns/op");
    }
}
