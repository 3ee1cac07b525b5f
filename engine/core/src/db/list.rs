//! The list value type.
//!
//! Redis 7.0 always encodes lists as a quicklist (the listpack list encoding
//! only arrived in 7.2; verified against 7.0.15: `RPUSH l a` then `OBJECT
//! ENCODING l` answers "quicklist"), so the encoding name is constant. The
//! storage is a `VecDeque` of boxed byte strings: O(1) push/pop at both ends,
//! O(1) indexing, and element bytes stored once. Integers pushed by clients
//! are kept as their text (Redis's listpack stores canonical integers as
//! ints but renders them back to the same decimal text, so replies match).

use std::collections::VecDeque;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ListVal {
    pub items: VecDeque<Box<[u8]>>,
}

impl ListVal {
    pub fn new() -> ListVal {
        ListVal {
            items: VecDeque::new(),
        }
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<Box<[u8]>>()
            + self.items.iter().map(|i| i.len()).sum::<usize>()
    }

    /// Push at the head (`left`) or the tail.
    pub fn push(&mut self, v: &[u8], left: bool) {
        if left {
            self.items.push_front(v.into());
        } else {
            self.items.push_back(v.into());
        }
    }

    pub fn pop(&mut self, left: bool) -> Option<Box<[u8]>> {
        if left {
            self.items.pop_front()
        } else {
            self.items.pop_back()
        }
    }

    /// Resolve a Redis index (negative counts from the tail).
    pub fn index_of(&self, index: i64) -> Option<usize> {
        let len = self.items.len() as i64;
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
        self.items.get(i).map(|b| &**b)
    }

    /// Redis's xorObjectDigest contribution: mixDigest of each element in order.
    pub fn digest(&self, d: &mut crate::digest::Digest) {
        for e in &self.items {
            crate::digest::mix_digest(d, e);
        }
    }
}

/// MEMORY USAGE's split of `heap_bytes()` (cmd/memory.rs samples the
/// per-element part): always `heap_bytes() == structure_bytes() +
/// element_bytes().sum()`.
impl ListVal {
    /// The ring buffer of element pointers.
    pub fn structure_bytes(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<Box<[u8]>>()
    }

    /// Bytes of each element, head to tail.
    pub fn element_bytes(&self) -> impl Iterator<Item = usize> + '_ {
        self.items.iter().map(|i| i.len())
    }
}
