//! The list value type.
//!
//! Redis 7.0 always encodes lists as a quicklist (the listpack list encoding
//! only arrived in 7.2; verified against 7.0.15: `RPUSH l a` then `OBJECT
//! ENCODING l` answers "quicklist"), so the encoding name is constant.
//!
//! Storage has two forms, invisible to clients:
//! - `Packed`: one [`Packed`] buffer while the list is small (at most
//!   `PACKED_ENTRIES_MAX` elements and `PACKED_BYTES_MAX` buffer bytes, the
//!   size of one default quicklist node). One allocation for the whole list;
//!   every operation is a linear walk over the bounded buffer, like a
//!   listpack node.
//! - `Deque`: a boxed `VecDeque` of boxed byte strings once it grows past
//!   that: O(1) push/pop at both ends, O(1) indexing.
//!
//! Conversion is one way (packed -> deque): an emptied list is deleted, so a
//! list that shrinks back does not flip between forms on every push/pop.
//! Integers pushed by clients are kept as their text (Redis's listpack
//! stores canonical integers as ints but renders them back to the same
//! decimal text, so replies match).

use std::collections::VecDeque;

use super::packed::{entry_bytes, Packed};
use crate::alloc::charged;

/// A packed list converts to the deque past this many elements...
pub const PACKED_ENTRIES_MAX: usize = 128;
/// ...or past this many buffer bytes (Redis's default 8 KiB node).
pub const PACKED_BYTES_MAX: usize = 8192;

type Deque = VecDeque<Box<[u8]>>;

#[derive(Clone, Debug)]
enum Repr {
    Packed(Packed),
    Deque(Box<Deque>),
}

#[derive(Clone, Debug)]
pub struct ListVal {
    repr: Repr,
}

impl Default for ListVal {
    fn default() -> Self {
        ListVal::new()
    }
}

impl PartialEq for ListVal {
    fn eq(&self, o: &ListVal) -> bool {
        self.len() == o.len() && self.iter().eq(o.iter())
    }
}

/// The `Box<ListVal>` a keyspace value holds (charged to the list).
const BOX_BYTES: usize = charged(std::mem::size_of::<ListVal>());

/// Charged bytes of a boxed slice (none when empty: no allocation).
fn alloc_len(b: &[u8]) -> usize {
    if b.is_empty() {
        0
    } else {
        charged(b.len())
    }
}

impl ListVal {
    pub fn new() -> ListVal {
        ListVal {
            repr: Repr::Packed(Packed::new()),
        }
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len(),
            Repr::Deque(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while the list is in its packed form.
    pub fn is_packed(&self) -> bool {
        matches!(self.repr, Repr::Packed(_))
    }

    /// Heap bytes owned, counting the keyspace value's box.
    pub fn heap_bytes(&self) -> usize {
        self.structure_bytes() + self.element_bytes().sum::<usize>()
    }

    /// Switch to the deque when the packed buffer outgrew its limits.
    fn grown(&mut self) {
        if let Repr::Packed(p) = &self.repr {
            if p.len() > PACKED_ENTRIES_MAX || p.buf_bytes() > PACKED_BYTES_MAX {
                let d: Deque = p.iter().map(Box::from).collect();
                self.repr = Repr::Deque(Box::new(d));
            }
        }
    }

    /// Push at the head (`left`) or the tail.
    pub fn push(&mut self, v: &[u8], left: bool) {
        match &mut self.repr {
            Repr::Packed(p) => {
                if left {
                    p.insert(0, v);
                } else {
                    p.append(&[v]);
                }
                self.grown();
            }
            Repr::Deque(d) if left => d.push_front(v.into()),
            Repr::Deque(d) => d.push_back(v.into()),
        }
    }

    /// Push an owned element (LMOVE: no copy in the deque form).
    pub fn push_owned(&mut self, v: Box<[u8]>, left: bool) {
        match &mut self.repr {
            Repr::Packed(_) => self.push(&v, left),
            Repr::Deque(d) if left => d.push_front(v),
            Repr::Deque(d) => d.push_back(v),
        }
    }

    pub fn pop(&mut self, left: bool) -> Option<Box<[u8]>> {
        match &mut self.repr {
            Repr::Packed(p) => p.pop(left),
            Repr::Deque(d) if left => d.pop_front(),
            Repr::Deque(d) => d.pop_back(),
        }
    }

    /// Resolve a Redis index (negative counts from the tail).
    pub fn index_of(&self, index: i64) -> Option<usize> {
        let len = self.len() as i64;
        let i = if index < 0 {
            len.checked_add(index)?
        } else {
            index
        };
        if (0..len).contains(&i) {
            Some(i as usize)
        } else {
            None
        }
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed(p) => p.get(i),
            Repr::Deque(d) => d.get(i).map(|b| &**b),
        }
    }

    /// Overwrite element `i` (LSET; no-op when out of range).
    pub fn set(&mut self, i: usize, v: &[u8]) {
        match &mut self.repr {
            Repr::Packed(p) => {
                p.replace(i, v);
                self.grown();
            }
            Repr::Deque(d) => {
                if let Some(e) = d.get_mut(i) {
                    *e = v.into();
                }
            }
        }
    }

    /// Insert `v` before element `i` (`i == len` appends; LINSERT).
    pub fn insert(&mut self, i: usize, v: &[u8]) {
        let i = i.min(self.len());
        match &mut self.repr {
            Repr::Packed(p) => {
                p.insert(i, v);
                self.grown();
            }
            Repr::Deque(d) => d.insert(i, v.into()),
        }
    }

    /// Elements head to tail.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter_from(0)
    }

    /// Elements from index `i` on, head to tail.
    pub fn iter_from(&self, i: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (a, b) = match &self.repr {
            Repr::Packed(p) => (Some(p.iter_from(i)), None),
            Repr::Deque(d) => (None, Some(d.iter().skip(i).map(|b| &**b))),
        };
        a.into_iter().flatten().chain(b.into_iter().flatten())
    }

    /// Elements tail to head (the packed form has no back links, so it
    /// gathers its bounded entry list first).
    pub fn iter_rev(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match &self.repr {
            Repr::Packed(p) => Box::new(p.iter().collect::<Vec<_>>().into_iter().rev()),
            Repr::Deque(d) => Box::new(d.iter().rev().map(|b| &**b)),
        }
    }

    /// Keep only the elements for which `keep` is true, in order (LREM).
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        match &mut self.repr {
            Repr::Packed(p) => p.retain(|_, e| keep(e)),
            Repr::Deque(d) => d.retain(|e| keep(e)),
        }
    }

    /// Drop `head` elements from the head and `tail` from the tail (LTRIM).
    pub fn trim(&mut self, head: usize, tail: usize) {
        let n = self.len();
        let tail = tail.min(n);
        let head = head.min(n - tail);
        match &mut self.repr {
            Repr::Packed(p) => {
                p.remove_range(n - tail, tail);
                p.remove_range(0, head);
            }
            Repr::Deque(d) => {
                d.truncate(n - tail);
                d.drain(..head);
            }
        }
    }

    /// Redis's xorObjectDigest contribution: mixDigest of each element in order.
    pub fn digest(&self, d: &mut crate::digest::Digest) {
        for e in self.iter() {
            crate::digest::mix_digest(d, e);
        }
    }
}

/// MEMORY USAGE's split of `heap_bytes()` (cmd/memory.rs samples the
/// per-element part): always `heap_bytes() == structure_bytes() +
/// element_bytes().sum()`.
impl ListVal {
    /// The keyspace value's box, plus: packed, the buffer's charged size
    /// minus its entries' bytes (allocator rounding); deque, its box and the
    /// ring buffer of element pointers.
    pub fn structure_bytes(&self) -> usize {
        BOX_BYTES
            + match &self.repr {
                Repr::Packed(p) => p.heap_bytes() - p.buf_bytes(),
                Repr::Deque(d) => {
                    charged(std::mem::size_of::<Deque>())
                        + if d.capacity() == 0 {
                            0
                        } else {
                            charged(d.capacity() * std::mem::size_of::<Box<[u8]>>())
                        }
                }
            }
    }

    /// Bytes of each element, head to tail: its packed entry (header
    /// included), or its own allocation in the deque.
    pub fn element_bytes(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match &self.repr {
            Repr::Packed(p) => Box::new(p.iter().map(|e| entry_bytes(e.len()))),
            Repr::Deque(d) => Box::new(d.iter().map(|e| alloc_len(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Random pushes/pops/sets/inserts/trims/removes through both forms,
    /// checked against a VecDeque model.
    #[test]
    fn both_forms_match_a_deque_model() {
        let mut rng = Rng::new(11);
        // Rounds that ended up converted, by kind (short / big elements).
        let mut converted = [0, 0];
        for round in 0..30 {
            let mut l = ListVal::new();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            let big = round % 3 == 0;
            for _ in 0..800 {
                let n = model.len();
                let len = if big { rng.below(300) } else { rng.below(6) } as usize;
                let v: Vec<u8> = (0..len).map(|_| b'a' + rng.below(3) as u8).collect();
                match rng.below(9) {
                    0..=2 => {
                        let left = rng.below(2) == 0;
                        l.push(&v, left);
                        if left {
                            model.push_front(v);
                        } else {
                            model.push_back(v);
                        }
                    }
                    3 => {
                        let left = rng.below(2) == 0;
                        let want = if left {
                            model.pop_front()
                        } else {
                            model.pop_back()
                        };
                        assert_eq!(l.pop(left).map(|b| b.to_vec()), want);
                    }
                    4 if n > 0 => {
                        let i = rng.below(n as u64) as usize;
                        l.set(i, &v);
                        model[i] = v;
                    }
                    5 => {
                        let i = rng.below(n as u64 + 1) as usize;
                        l.insert(i, &v);
                        model.insert(i, v);
                    }
                    6 if n > 0 && rng.below(4) == 0 => {
                        let h = rng.below(3) as usize;
                        let t = rng.below(3) as usize;
                        l.trim(h, t);
                        let t = t.min(n);
                        let h = h.min(n - t);
                        model.truncate(n - t);
                        model.drain(..h);
                    }
                    7 if rng.below(20) == 0 => {
                        let x = v.first().copied();
                        l.retain(|e| e.first().copied() != x);
                        model.retain(|e| e.first().copied() != x);
                    }
                    _ => {
                        let i = rng.below(n as u64 + 2) as usize;
                        let want: Vec<&[u8]> = model.iter().skip(i).map(|v| &v[..]).collect();
                        assert!(l.iter_from(i).eq(want.into_iter()));
                    }
                }
                assert_eq!(l.len(), model.len());
                assert!(l.iter().eq(model.iter().map(|v| &v[..])));
                assert!(l.iter_rev().eq(model.iter().rev().map(|v| &v[..])));
                for (i, v) in model.iter().enumerate().step_by(7) {
                    assert_eq!(l.get(i), Some(&v[..]));
                }
                assert_eq!(l.get(model.len()), None);
                assert_eq!(
                    l.heap_bytes(),
                    l.structure_bytes() + l.element_bytes().sum::<usize>()
                );
                if l.is_packed() {
                    assert!(l.len() <= PACKED_ENTRIES_MAX);
                }
            }
            converted[usize::from(big)] += usize::from(!l.is_packed());
        }
        // Both conversion triggers (entry count, buffer bytes) were exercised.
        assert!(converted[0] > 0 && converted[1] > 0, "{converted:?}");
    }

    #[test]
    fn converts_past_the_limits() {
        let mut l = ListVal::new();
        for _ in 0..PACKED_ENTRIES_MAX {
            l.push(b"x", false);
        }
        assert!(l.is_packed());
        l.push(b"x", true);
        assert!(!l.is_packed());
        let mut l = ListVal::new();
        l.push(&vec![b'y'; PACKED_BYTES_MAX], false);
        assert!(!l.is_packed());
        assert_eq!(l.get(0).map(<[u8]>::len), Some(PACKED_BYTES_MAX));
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    /// Per-operation cost of the packed form against a deque-of-boxes (the
    /// former representation) on a 100-element list. Run by hand:
    /// `cargo test -p redsim-core list_small_ops_timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn list_small_ops_timing() {
        const N: usize = 100;
        const ROUNDS: usize = 20_000;
        let elem = b"element-xx";
        let mut best = [[f64::MAX; 2]; 4];
        for _ in 0..3 {
            let mut l = ListVal::new();
            let mut d: VecDeque<Box<[u8]>> = VecDeque::new();
            for _ in 0..N {
                l.push(elem, false);
                d.push_back(elem[..].into());
            }
            assert!(l.is_packed());
            let time = |f: &mut dyn FnMut()| {
                let t = std::time::Instant::now();
                for _ in 0..ROUNDS {
                    f();
                }
                t.elapsed().as_secs_f64() * 1e9 / ROUNDS as f64
            };
            let r = [
                time(&mut || {
                    l.push(elem, false);
                    std::hint::black_box(l.pop(true));
                }),
                time(&mut || {
                    l.push(elem, true);
                    std::hint::black_box(l.pop(false));
                }),
                time(&mut || {
                    std::hint::black_box(l.get(N - 3));
                }),
                time(&mut || {
                    std::hint::black_box(l.iter().map(<[u8]>::len).sum::<usize>());
                }),
            ];
            let q = [
                time(&mut || {
                    d.push_back(elem[..].into());
                    std::hint::black_box(d.pop_front());
                }),
                time(&mut || {
                    d.push_front(elem[..].into());
                    std::hint::black_box(d.pop_back());
                }),
                time(&mut || {
                    std::hint::black_box(d.get(N - 3));
                }),
                time(&mut || {
                    std::hint::black_box(d.iter().map(|e| e.len()).sum::<usize>());
                }),
            ];
            for k in 0..4 {
                best[k][0] = best[k][0].min(r[k]);
                best[k][1] = best[k][1].min(q[k]);
            }
        }
        for (name, [p, d]) in ["rpush+lpop", "lpush+rpop", "lindex -3", "lrange all"]
            .iter()
            .zip(best)
        {
            println!("{name}: packed {p:.0} ns, deque {d:.0} ns");
        }
    }
}
