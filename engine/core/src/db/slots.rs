//! Cluster hash slots: Redis's CRC16 (XMODEM) `keyHashSlot` with `{hash tags}`,
//! and an optional per-slot index over a [`super::table::KeyTable`] so
//! CLUSTER COUNTKEYSINSLOT / GETKEYSINSLOT are O(1) / O(keys in slot).
//! The index costs nothing unless enabled (cluster mode).

pub const SLOTS: usize = 16384;

fn crc16(buf: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in buf {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Redis's keyHashSlot: hash only the part inside the first non-empty `{...}`.
pub fn key_slot(key: &[u8]) -> u16 {
    if let Some(s) = key.iter().position(|&c| c == b'{') {
        if let Some(len) = key[s + 1..].iter().position(|&c| c == b'}') {
            if len > 0 {
                return crc16(&key[s + 1..s + 1 + len]) & (SLOTS as u16 - 1);
            }
        }
    }
    crc16(key) & (SLOTS as u16 - 1)
}

const NONE: u32 = u32::MAX;

/// Doubly linked lists of entry indices, one per slot.
#[derive(Debug, Clone)]
pub struct SlotIndex {
    heads: Vec<u32>,
    counts: Vec<u32>,
    /// (prev, next, slot) per entry index of the key table.
    links: Vec<(u32, u32, u16)>,
}

impl Default for SlotIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl SlotIndex {
    pub fn new() -> SlotIndex {
        SlotIndex {
            heads: vec![NONE; SLOTS],
            counts: vec![0; SLOTS],
            links: Vec::new(),
        }
    }

    pub fn insert(&mut self, i: u32, key: &[u8]) {
        let slot = key_slot(key);
        let iu = i as usize;
        if self.links.len() <= iu {
            self.links.resize(iu + 1, (NONE, NONE, 0));
        }
        let head = self.heads[slot as usize];
        self.links[iu] = (NONE, head, slot);
        if head != NONE {
            self.links[head as usize].0 = i;
        }
        self.heads[slot as usize] = i;
        self.counts[slot as usize] += 1;
    }

    pub fn remove(&mut self, i: u32) {
        let (prev, next, slot) = self.links[i as usize];
        if prev != NONE {
            self.links[prev as usize].1 = next;
        } else {
            self.heads[slot as usize] = next;
        }
        if next != NONE {
            self.links[next as usize].0 = prev;
        }
        self.counts[slot as usize] -= 1;
    }

    pub fn count(&self, slot: u16) -> u32 {
        self.counts[slot as usize]
    }

    /// Entry indices in `slot`, at most `limit`.
    pub fn entries(&self, slot: u16, limit: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = self.heads[slot as usize];
        while i != NONE && out.len() < limit {
            out.push(i);
            i = self.links[i as usize].1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // Values from Redis's CLUSTER KEYSLOT.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(key_slot(b"123456789"), 12739);
    }
}
