//! A packed sequence of byte strings in one exactly-sized heap buffer: the
//! storage of the small ("listpack") encodings of hashes, zsets and lists,
//! in the spirit of Redis's listpack.
//!
//! Layout: entries back to back, each `[length as LEB128 varint][bytes]`
//! (1 header byte for entries under 128 bytes). The entry count is kept
//! beside the buffer. There is no back-length, so only forward iteration is
//! direct; callers that need the tail walk the (small, bounded) entry list,
//! as Redis's listpack operations are linear too.
//!
//! Invariants: `buf` is exactly the concatenation of `n` well-formed
//! entries (no spare capacity: every edit reallocates to the exact size,
//! which is what keeps small values small); an empty `Packed` owns no
//! allocation. Decoding a malformed buffer would be an internal bug, so it
//! `assert!`s rather than returning errors.

use crate::alloc::charged;

/// A packed sequence of byte strings (24 bytes inline).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Packed {
    buf: Box<[u8]>,
    n: usize,
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Bytes of the varint header for a `len`-byte entry.
#[inline]
pub fn header_bytes(len: usize) -> usize {
    let mut n = 1;
    let mut v = len >> 7;
    while v != 0 {
        n += 1;
        v >>= 7;
    }
    n
}

/// Bytes one entry of `len` bytes occupies in the buffer.
#[inline]
pub fn entry_bytes(len: usize) -> usize {
    header_bytes(len) + len
}

fn push_entry(out: &mut Vec<u8>, v: &[u8]) {
    let mut len = v.len();
    loop {
        let b = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(v);
}

/// Decode the entry at byte offset `at`: (data start, data end).
#[inline]
fn decode(buf: &[u8], at: usize) -> (usize, usize) {
    // Fast path: entries under 128 bytes (one header byte) are the norm.
    if let Some(&b) = buf.get(at) {
        if b < 0x80 {
            let end = at + 1 + usize::from(b);
            assert!(end <= buf.len(), "packed: entry past the end");
            return (at + 1, end);
        }
    }
    decode_long(buf, at)
}

#[cold]
fn decode_long(buf: &[u8], at: usize) -> (usize, usize) {
    let mut len = 0usize;
    let mut shift = 0u32;
    let mut p = at;
    loop {
        assert!(p < buf.len() && shift < usize::BITS, "packed: bad header");
        let b = buf[p];
        p += 1;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let end = p.checked_add(len).filter(|&e| e <= buf.len());
    assert!(end.is_some(), "packed: entry past the end");
    (p, end.unwrap_or(p))
}

/// Forward iterator over the entries.
#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    at: usize,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let (s, e) = decode(self.buf, self.at);
        self.at = e;
        self.left -= 1;
        Some(&self.buf[s..e])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl Packed {
    pub fn new() -> Packed {
        Packed::default()
    }

    /// Build from entries in order (one allocation).
    pub fn from_entries<'a>(it: impl IntoIterator<Item = &'a [u8]>) -> Packed {
        let mut out = Vec::new();
        let mut n = 0;
        for v in it {
            push_entry(&mut out, v);
            n += 1;
        }
        Packed {
            buf: out.into_boxed_slice(),
            n,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.n
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Size of the buffer in bytes (headers included).
    #[inline]
    pub fn buf_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes the buffer really occupies (`alloc::charged`).
    pub fn heap_bytes(&self) -> usize {
        if self.buf.is_empty() {
            0
        } else {
            charged(self.buf.len())
        }
    }

    #[inline]
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            at: 0,
            left: self.n,
        }
    }

    /// Entries from index `i` on.
    pub fn iter_from(&self, i: usize) -> Iter<'_> {
        let i = i.min(self.n);
        Iter {
            buf: &self.buf,
            at: self.offset(i),
            left: self.n - i,
        }
    }

    /// Byte offset of entry `i` (the buffer length for `i == len`).
    fn offset(&self, i: usize) -> usize {
        assert!(i <= self.n, "packed: index past the end");
        let buf = &self.buf[..];
        let mut at = 0;
        for _ in 0..i {
            at = decode(buf, at).1;
        }
        at
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.n {
            return None;
        }
        let (s, e) = decode(&self.buf, self.offset(i));
        Some(&self.buf[s..e])
    }

    pub fn last(&self) -> Option<&[u8]> {
        self.n.checked_sub(1).and_then(|i| self.get(i))
    }

    /// Index of the first entry equal to `v`, looking only at indices
    /// `start, start + step, ...` (step 2 finds hash fields / zset members).
    pub fn find(&self, v: &[u8], start: usize, step: usize) -> Option<usize> {
        self.find_at(v, start, step).map(|(i, _)| i)
    }

    /// Like `find`, also giving the entry's byte offset.
    fn find_at(&self, v: &[u8], start: usize, step: usize) -> Option<(usize, usize)> {
        let step = step.max(1);
        let buf = &self.buf[..];
        let mut at = 0;
        let mut i = 0;
        while i < self.n {
            let (s, e) = decode(buf, at);
            if i >= start && (i - start) % step == 0 && &buf[s..e] == v {
                return Some((i, at));
            }
            at = e;
            i += 1;
        }
        None
    }

    /// The entry after the first match of `find(v, start, step)`: with
    /// step 2 over field/value pairs, the value of field `v` (one walk).
    pub fn find_next(&self, v: &[u8], start: usize, step: usize) -> Option<(usize, &[u8])> {
        let (i, at) = self.find_at(v, start, step)?;
        if i + 1 >= self.n {
            return None;
        }
        let (s, e) = decode(&self.buf, decode(&self.buf, at).1);
        Some((i, &self.buf[s..e]))
    }

    /// Overwrite the entry after the first match of `find(v, start, step)`
    /// (one walk). Returns the match's index, or None when `v` is absent
    /// (or is the last entry).
    pub fn replace_next(
        &mut self,
        v: &[u8],
        start: usize,
        step: usize,
        new: &[u8],
    ) -> Option<usize> {
        let (i, at) = self.find_at(v, start, step)?;
        if i + 1 >= self.n {
            return None;
        }
        let a = decode(&self.buf, at).1;
        self.replace_at_offset(a, new);
        Some(i)
    }

    /// Append `vs` (in order) without walking the entries.
    pub fn append(&mut self, vs: &[&[u8]]) {
        let at = self.buf.len();
        self.insert_at_offset(at, vs);
    }

    /// Remove and return the first (`front`) or last entry.
    pub fn pop(&mut self, front: bool) -> Option<Box<[u8]>> {
        if self.n == 0 {
            return None;
        }
        let (a, s, e) = if front {
            let (s, e) = decode(&self.buf, 0);
            (0, s, e)
        } else {
            let a = self.offset(self.n - 1);
            let (s, e) = decode(&self.buf, a);
            (a, s, e)
        };
        let v: Box<[u8]> = self.buf[s..e].into();
        self.splice(a, e, &[]);
        self.n -= 1;
        Some(v)
    }

    /// Replace the byte range [a, b) of the buffer with `mid`, keeping the
    /// allocation exactly sized (realloc, which glibc often does in place).
    fn splice(&mut self, a: usize, b: usize, mid: &[u8]) {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        if mid.len() > b - a {
            v.reserve_exact(mid.len() - (b - a));
        }
        v.splice(a..b, mid.iter().copied());
        self.buf = v.into_boxed_slice();
    }

    /// Insert `vs` (in order) before entry `i` (`i == len` appends).
    pub fn insert_many(&mut self, i: usize, vs: &[&[u8]]) {
        let at = self.offset(i);
        self.insert_at_offset(at, vs);
    }

    fn insert_at_offset(&mut self, at: usize, vs: &[&[u8]]) {
        let add: usize = vs.iter().map(|v| entry_bytes(v.len())).sum();
        let mut buf = std::mem::take(&mut self.buf).into_vec();
        let old = buf.len();
        buf.reserve_exact(add);
        for v in vs {
            push_entry(&mut buf, v);
        }
        if at < old {
            // Written at the end, then rotated into place (one memmove).
            buf[at..].rotate_right(add);
        }
        self.buf = buf.into_boxed_slice();
        self.n += vs.len();
    }

    pub fn insert(&mut self, i: usize, v: &[u8]) {
        self.insert_many(i, &[v]);
    }

    pub fn push(&mut self, v: &[u8]) {
        self.insert(self.n, v);
    }

    /// Remove `count` entries starting at `i` (clamped to the end).
    pub fn remove_range(&mut self, i: usize, count: usize) {
        let i = i.min(self.n);
        let count = count.min(self.n - i);
        if count == 0 {
            return;
        }
        let a = self.offset(i);
        let mut b = a;
        for _ in 0..count {
            b = decode(&self.buf, b).1;
        }
        self.splice(a, b, &[]);
        self.n -= count;
    }

    pub fn remove(&mut self, i: usize) {
        self.remove_range(i, 1);
    }

    /// Overwrite entry `i` (no-op when out of range).
    pub fn replace(&mut self, i: usize, v: &[u8]) {
        if i >= self.n {
            return;
        }
        let a = self.offset(i);
        self.replace_at_offset(a, v);
    }

    /// Overwrite the entry starting at byte offset `a`.
    fn replace_at_offset(&mut self, a: usize, v: &[u8]) {
        let (s, e) = decode(&self.buf, a);
        if e - s == v.len() {
            // Same length: edit in place, no reallocation.
            self.buf[s..e].copy_from_slice(v);
            return;
        }
        let mut mid = Vec::with_capacity(entry_bytes(v.len()));
        push_entry(&mut mid, v);
        self.splice(a, e, &mid);
    }

    /// Keep only the entries for which `keep(index, entry)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(usize, &[u8]) -> bool) {
        let mut out = Vec::with_capacity(self.buf.len());
        let mut n = 0;
        for (i, e) in self.iter().enumerate() {
            if keep(i, e) {
                push_entry(&mut out, e);
                n += 1;
            }
        }
        if n != self.n {
            self.buf = out.into_boxed_slice();
            self.n = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn check(p: &Packed, model: &[Vec<u8>]) {
        assert_eq!(p.len(), model.len());
        let got: Vec<&[u8]> = p.iter().collect();
        let want: Vec<&[u8]> = model.iter().map(|v| &v[..]).collect();
        assert_eq!(got, want);
        let bytes: usize = model.iter().map(|v| entry_bytes(v.len())).sum();
        assert_eq!(p.buf_bytes(), bytes);
        for (i, v) in model.iter().enumerate() {
            assert_eq!(p.get(i), Some(&v[..]));
        }
        assert_eq!(p.get(model.len()), None);
        assert_eq!(p.last(), model.last().map(|v| &v[..]));
    }

    /// Entry lengths around the varint boundaries (127/128, 16383/16384).
    fn random_entry(rng: &mut Rng) -> Vec<u8> {
        let len = match rng.below(6) {
            0 => 0,
            1 => rng.below(5) as usize,
            2 => 126 + rng.below(4) as usize,
            3 => 16382 + rng.below(4) as usize,
            _ => rng.below(40) as usize,
        };
        (0..len).map(|_| b'a' + rng.below(3) as u8).collect()
    }

    #[test]
    fn random_operations_match_a_vec_model() {
        let mut rng = Rng::new(7);
        for _round in 0..40 {
            let mut p = Packed::new();
            let mut model: Vec<Vec<u8>> = Vec::new();
            for _ in 0..200 {
                let n = model.len();
                match rng.below(9) {
                    0 | 1 => {
                        let i = rng.below(n as u64 + 1) as usize;
                        let v = random_entry(&mut rng);
                        p.insert(i, &v);
                        model.insert(i, v);
                    }
                    2 if n > 0 => {
                        let i = rng.below(n as u64) as usize;
                        let c = rng.below(3) as usize;
                        p.remove_range(i, c);
                        model.drain(i..(i + c).min(n));
                    }
                    3 if n > 0 => {
                        let i = rng.below(n as u64) as usize;
                        let v = random_entry(&mut rng);
                        p.replace(i, &v);
                        model[i] = v;
                    }
                    4 => {
                        let v = random_entry(&mut rng);
                        let start = rng.below(2) as usize;
                        let want = model
                            .iter()
                            .enumerate()
                            .skip(start)
                            .step_by(2)
                            .find(|(_, e)| **e == v)
                            .map(|(i, _)| i);
                        assert_eq!(p.find(&v, start, 2), want);
                        let any = model.iter().position(|e| *e == v);
                        assert_eq!(p.find(&v, 0, 1), any);
                        let next = want.filter(|&i| i + 1 < n).map(|i| (i, &model[i + 1][..]));
                        assert_eq!(p.find_next(&v, start, 2), next);
                        if rng.below(2) == 0 {
                            let new = random_entry(&mut rng);
                            let got = p.replace_next(&v, start, 2, &new);
                            assert_eq!(got, next.map(|(i, _)| i));
                            if let Some(i) = got {
                                model[i + 1] = new;
                            }
                        }
                    }
                    7 => {
                        let front = rng.below(2) == 0;
                        let want = if model.is_empty() {
                            None
                        } else if front {
                            Some(model.remove(0))
                        } else {
                            model.pop()
                        };
                        assert_eq!(p.pop(front).map(|b| b.to_vec()), want);
                    }
                    8 => {
                        let a = random_entry(&mut rng);
                        let b = random_entry(&mut rng);
                        p.append(&[&a, &b]);
                        model.push(a);
                        model.push(b);
                    }
                    5 => {
                        let a = random_entry(&mut rng);
                        let b = random_entry(&mut rng);
                        let i = rng.below(n as u64 + 1) as usize;
                        p.insert_many(i, &[&a, &b]);
                        model.insert(i, b);
                        model.insert(i, a);
                    }
                    _ => {
                        let k = rng.below(4);
                        p.retain(|i, e| (i as u64 + e.len() as u64) % 4 != k);
                        let mut i = 0;
                        model.retain(|e| {
                            let keep = (i as u64 + e.len() as u64) % 4 != k;
                            i += 1;
                            keep
                        });
                    }
                }
                check(&p, &model);
                let from = rng.below(model.len() as u64 + 2) as usize;
                let tail: Vec<&[u8]> = p.iter_from(from).collect();
                let want: Vec<&[u8]> = model.iter().skip(from).map(|v| &v[..]).collect();
                assert_eq!(tail, want);
            }
            let rebuilt = Packed::from_entries(model.iter().map(|v| &v[..]));
            assert_eq!(rebuilt, p);
        }
    }

    #[test]
    fn varint_boundaries_and_empty_entries() {
        for len in [0usize, 1, 127, 128, 129, 16383, 16384, 16385, 2_097_152] {
            assert_eq!(
                header_bytes(len),
                match len {
                    0..=127 => 1,
                    128..=16383 => 2,
                    16384..=2_097_151 => 3,
                    _ => 4,
                }
            );
            let v = vec![b'x'; len];
            let mut p = Packed::new();
            p.push(b"");
            p.push(&v);
            p.push(b"");
            assert_eq!(p.len(), 3);
            assert_eq!(p.buf_bytes(), 2 + header_bytes(len) + len);
            assert_eq!(p.get(0), Some(&b""[..]));
            assert_eq!(p.get(1), Some(&v[..]));
            assert_eq!(p.get(2), Some(&b""[..]));
            assert_eq!(p.find(b"", 1, 1), Some(if len == 0 { 1 } else { 2 }));
            p.replace(1, b"y");
            assert_eq!(p.buf_bytes(), 2 + 2);
            p.remove(0);
            assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b"y"[..], b""]);
        }
        let p = Packed::new();
        assert_eq!(p.heap_bytes(), 0);
        assert_eq!(p.iter().count(), 0);
        // Empty entries still occupy (and are charged) their header.
        let p = Packed::from_entries([&b""[..]; 3]);
        assert_eq!(p.len(), 3);
        assert_eq!(p.buf_bytes(), 3);
        assert_eq!(p.heap_bytes(), charged(3));
    }
}

#[cfg(test)]
mod size_tests {
    /// The boxed enums a keyspace value points at stay small: the big table
    /// forms are boxed, so a small collection's box is one 32-byte chunk.
    #[test]
    fn small_forms_fit_one_small_chunk() {
        use crate::alloc::charged;
        use std::mem::size_of;
        assert_eq!(size_of::<super::Packed>(), 24);
        assert_eq!(charged(size_of::<crate::db::hash::HashVal>()), 32);
        assert_eq!(charged(size_of::<crate::db::set::SetVal>()), 32);
        assert_eq!(charged(size_of::<crate::db::zset::ZSetVal>()), 32);
        assert_eq!(charged(size_of::<crate::db::list::ListVal>()), 32);
    }
}
