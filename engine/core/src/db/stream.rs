//! The stream value type: entries keyed by (ms, seq) IDs, consumer groups,
//! pending entry lists (PELs).
//!
//! Storage: `entries`, a BTreeMap from ID to the entry's field/value list
//! packed in one allocation (O(log n) append, lookup, range). Redis keeps entries in a
//! radix tree of listpack "nodes"; commands expose those nodes (XINFO's
//! radix-tree-keys/-nodes, and `~` trimming only ever drops whole nodes), so
//! `nodes` shadows them: one `Node` per listpack with its master ID, live and
//! deleted counts and its listpack byte size (computed with listpack's
//! integer/string encodings, so it is exact for Redis 7.0), opened exactly
//! when Redis's `streamAppendItem` opens one (stream-node-max-entries counted
//! over live + deleted entries, stream-node-max-bytes against the estimated
//! listpack size). Invariants:
//! - `nodes` are in ID order; every live entry lies in the last node whose
//!   master ID is <= its ID, and `Node::live` counts exactly those entries;
//! - a node is dropped when XDEL leaves it without live entries (Redis frees
//!   the listpack), but exact trimming may leave an empty node, as Redis does;
//! - `first_id` is Redis's recorded first ID (0-0 when empty), `last_id` the
//!   last generated ID (XSETID may move it, never below the last entry).
//!
//! Consumer groups: `groups` (ordered by name like Redis's rax), each with a
//! group PEL (ID -> Nack holding the owner's name) and per-consumer PELs (a
//! set of IDs); both always hold the same IDs.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::digest::{mix_digest, Digest};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// Redis's streamIncrID: None when already the maximum.
    pub fn incr(&self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                return None;
            }
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// Redis's streamDecrID: None when already 0-0.
    pub fn decr(&self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                return None;
            }
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// "<ms>-<seq>" appended to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        crate::util::push_u64(out, self.ms);
        out.push(b'-');
        crate::util::push_u64(out, self.seq);
    }

    /// "<ms>-<seq>" into a stack buffer (replies format many IDs);
    /// returns the length used.
    pub fn format(&self, buf: &mut [u8; 41]) -> usize {
        fn digits(mut v: u64, tmp: &mut [u8; 20]) -> &[u8] {
            let mut i = tmp.len();
            loop {
                i -= 1;
                tmp[i] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            &tmp[i..]
        }
        let mut tmp = [0u8; 20];
        let ms = digits(self.ms, &mut tmp);
        let n = ms.len();
        buf[..n].copy_from_slice(ms);
        buf[n] = b'-';
        let seq = digits(self.seq, &mut tmp);
        buf[n + 1..n + 1 + seq.len()].copy_from_slice(seq);
        n + 1 + seq.len()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(41);
        self.write(&mut v);
        v
    }

    /// The 16-byte big-endian form Redis uses as rax key.
    fn encode(&self) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..8].copy_from_slice(&self.ms.to_be_bytes());
        k[8..].copy_from_slice(&self.seq.to_be_bytes());
        k
    }
}

/// An entry's fields and values (f1, v1, f2, v2, ...) packed in one
/// allocation: a u32 item count, then per item a u32 length and its bytes
/// (little endian). One allocation per entry keeps XADD cheap; item sizes
/// fit in u32 because XADD refuses entries over 1 GiB in total.
#[derive(Clone, Debug, PartialEq)]
pub struct Fields(Box<[u8]>);

impl Fields {
    pub fn from_items(items: &[&[u8]]) -> Fields {
        let total: usize = 4 + items.iter().map(|x| 4 + x.len()).sum::<usize>();
        let mut v = Vec::with_capacity(total);
        v.extend_from_slice(&(items.len() as u32).to_le_bytes());
        for x in items {
            v.extend_from_slice(&(x.len() as u32).to_le_bytes());
            v.extend_from_slice(x);
        }
        Fields(v.into_boxed_slice())
    }

    /// Number of items (fields plus values).
    pub fn len(&self) -> usize {
        read_u32(&self.0, 0).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> FieldsIter<'_> {
        FieldsIter {
            buf: &self.0,
            pos: 4,
        }
    }
}

fn read_u32(buf: &[u8], at: usize) -> Option<usize> {
    let b: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b) as usize)
}

pub struct FieldsIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for FieldsIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let n = read_u32(self.buf, self.pos)?;
        let start = self.pos + 4;
        let item = self.buf.get(start..start + n)?;
        self.pos = start + n;
        Some(item)
    }
}

/// Shadow of one Redis listpack node (see the module doc).
#[derive(Clone, Debug, PartialEq)]
struct Node {
    master: StreamId,
    /// Last ID appended to the node (deleted or not): MINID trimming uses it.
    last: StreamId,
    live: u64,
    deleted: u64,
    master_fields: Box<[Box<[u8]>]>,
    /// Estimated listpack bytes excluding header, end byte, count and deleted.
    bytes: usize,
}

/// Listpack backlen size for an element of `l` encoded bytes.
fn lp_backlen(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn lp_int_size(v: i64) -> usize {
    let enc = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if i16::try_from(v).is_ok() {
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    };
    enc + lp_backlen(enc)
}

fn lp_str_size(s: &[u8]) -> usize {
    if let Some(v) = crate::util::parse_i64(s) {
        return lp_int_size(v);
    }
    let enc = if s.len() < 64 {
        1 + s.len()
    } else if s.len() < 4096 {
        2 + s.len()
    } else {
        5 + s.len()
    };
    enc + lp_backlen(enc)
}

/// Listpack header (total bytes + count) and end byte.
const LP_OVERHEAD: usize = 6 + 1;
/// Redis's STREAM_LISTPACK_MAX_SIZE.
const LP_MAX_SIZE: usize = 1 << 30;

impl Node {
    fn lp_bytes(&self) -> usize {
        LP_OVERHEAD + lp_int_size(self.live as i64) + lp_int_size(self.deleted as i64) + self.bytes
    }
}

/// A pending entry: delivered to `consumer`, not yet acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub struct Nack {
    pub delivery_time: i64,
    pub delivery_count: u64,
    pub consumer: Box<[u8]>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Consumer {
    pub seen_time: i64,
    pub pel: BTreeSet<StreamId>,
}

/// Redis's SCG_INVALID_ENTRIES_READ.
pub const INVALID_ENTRIES_READ: i64 = -1;

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Remove `id` from the group PEL and its owner's PEL.
    pub fn ack(&mut self, id: &StreamId) -> bool {
        match self.pel.remove(id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(id);
                }
                true
            }
            None => false,
        }
    }

    /// Create a consumer; false if it already exists.
    pub fn create_consumer(&mut self, name: &[u8], now: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.into(),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Delete a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Give the pending entry `id` (present in the group PEL) to `consumer`
    /// (which must exist), moving it between consumer PELs.
    pub fn reassign(&mut self, id: StreamId, consumer: &[u8]) {
        let Some(n) = self.pel.get_mut(&id) else {
            return;
        };
        if &*n.consumer == consumer {
            return;
        }
        let old = std::mem::replace(&mut n.consumer, consumer.into());
        if let Some(c) = self.consumers.get_mut(&old) {
            c.pel.remove(&id);
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

/// Trimming strategy for XTRIM / XADD MAXLEN|MINID.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// Node-size limits (stream-node-max-entries / -bytes).
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_entries: u64,
    pub max_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct StreamVal {
    entries: BTreeMap<StreamId, Fields>,
    nodes: VecDeque<Node>,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Box<[u8]>, Group>,
}

impl StreamVal {
    pub fn new() -> StreamVal {
        StreamVal::default()
    }

    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        let nodes: usize = self.nodes.iter().map(Node::lp_bytes).sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(n, g)| n.len() + 64 + g.pel.len() * 48 + g.consumers.len() * 64)
            .sum();
        nodes + groups + self.entries.len() * 16
    }

    /// Redis's DEBUG DIGEST for a stream (debug.c xorObjectDigest,
    /// OBJ_STREAM in 7.0): each entry mixes "<ms>.<seq>" then every field and
    /// value, in ID order. Consumer groups are not part of it.
    pub fn digest(&self, d: &mut Digest) {
        let mut buf = Vec::with_capacity(48);
        for (id, f) in &self.entries {
            buf.clear();
            crate::util::push_u64(&mut buf, id.ms);
            buf.push(b'.');
            crate::util::push_u64(&mut buf, id.seq);
            mix_digest(d, &buf);
            for x in f.iter() {
                mix_digest(d, x);
            }
        }
    }

    pub fn get(&self, id: &StreamId) -> Option<&Fields> {
        self.entries.get(id)
    }

    pub fn contains(&self, id: &StreamId) -> bool {
        self.entries.contains_key(id)
    }

    pub fn first_entry(&self) -> Option<(&StreamId, &Fields)> {
        self.entries.iter().next()
    }

    pub fn last_entry(&self) -> Option<(&StreamId, &Fields)> {
        self.entries.iter().next_back()
    }

    /// Entries with start <= id <= end, forward or reverse.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (&StreamId, &Fields)> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        let r = self.entries.range(start..=end);
        if rev {
            Box::new(r.rev())
        } else {
            Box::new(r)
        }
    }

    /// Number of listpack nodes (XINFO radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Redis's rax node count for the node keys (XINFO radix-tree-nodes):
    /// nodes of the compressed trie over the 16-byte big-endian master IDs
    /// (a chain of single-child bytes is one node, each key ends in a leaf).
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.iter().map(|n| n.master.encode()).collect();
        if keys.is_empty() {
            return 1;
        }
        rax_count(&keys, 0)
    }

    /// Next auto ID (Redis's streamNextID) for clock `now_ms`; None when the
    /// sequence would overflow.
    pub fn next_id(&self, now_ms: i64) -> Option<StreamId> {
        let ms = u64::try_from(now_ms).unwrap_or(0);
        if ms > self.last_id.ms {
            Some(StreamId::new(ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Append an entry with `id` (> last_id, checked by the caller); the
    /// node bookkeeping follows streamAppendItem.
    pub fn append(&mut self, id: StreamId, fv: &[&[u8]], lim: NodeLimits) {
        let numfields = fv.len() / 2;
        let totelelen: usize = fv.iter().map(|x| x.len()).sum();
        let max_bytes = match usize::try_from(lim.max_bytes) {
            Ok(0) | Err(_) => LP_MAX_SIZE,
            Ok(b) if b > LP_MAX_SIZE => LP_MAX_SIZE,
            Ok(b) => b,
        };
        let new_node = match self.nodes.back() {
            None => true,
            Some(n) => {
                n.lp_bytes() + totelelen >= max_bytes
                    || (lim.max_entries > 0 && n.live + n.deleted >= lim.max_entries)
            }
        };
        if new_node {
            let master_fields: Box<[Box<[u8]>]> = fv
                .iter()
                .step_by(2)
                .map(|f| Box::<[u8]>::from(*f))
                .collect();
            let mut bytes = lp_int_size(numfields as i64) + lp_int_size(0);
            bytes += master_fields.iter().map(|f| lp_str_size(f)).sum::<usize>();
            self.nodes.push_back(Node {
                master: id,
                last: id,
                live: 0,
                deleted: 0,
                master_fields,
                bytes,
            });
        }
        let Some(node) = self.nodes.back_mut() else {
            return;
        };
        let same = node.master_fields.len() == numfields
            && node
                .master_fields
                .iter()
                .zip(fv.iter().step_by(2))
                .all(|(a, b)| &**a == *b);
        let flags: i64 = if same { 2 } else { 0 };
        let mut b = lp_int_size(flags)
            + lp_int_size(id.ms.wrapping_sub(node.master.ms) as i64)
            + lp_int_size(id.seq.wrapping_sub(node.master.seq) as i64);
        let lp_count = if same {
            for v in fv.iter().skip(1).step_by(2) {
                b += lp_str_size(v);
            }
            numfields + 3
        } else {
            b += lp_int_size(numfields as i64);
            for x in fv {
                b += lp_str_size(x);
            }
            numfields * 2 + 4
        };
        b += lp_int_size(lp_count as i64);
        node.bytes += b;
        node.live += 1;
        node.last = id;
        self.entries.insert(id, Fields::from_items(fv));
        self.last_id = id;
        self.entries_added += 1;
        if self.entries.len() == 1 {
            self.first_id = id;
        }
    }

    fn node_index(&self, id: &StreamId) -> Option<usize> {
        self.nodes
            .partition_point(|n| n.master <= *id)
            .checked_sub(1)
    }

    /// Delete one entry (XDEL); updates max_deleted_id but not first_id
    /// (the caller does that once, like Redis).
    pub fn delete(&mut self, id: &StreamId) -> bool {
        if self.entries.remove(id).is_none() {
            return false;
        }
        if let Some(i) = self.node_index(id) {
            if let Some(n) = self.nodes.get_mut(i) {
                n.live = n.live.saturating_sub(1);
                n.deleted += 1;
                if n.live == 0 {
                    self.nodes.remove(i);
                }
            }
        }
        if *id > self.max_deleted_id {
            self.max_deleted_id = *id;
        }
        true
    }

    /// Recompute first_id after deletions (streamGetEdgeID).
    pub fn refresh_first_id(&mut self) {
        self.first_id = self.entries.keys().next().copied().unwrap_or(StreamId::MIN);
    }

    /// Redis's streamTrim: returns the number of entries removed. `limit` 0
    /// means unlimited.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        while let Some((entries, node_last)) = self.nodes.front().map(|n| (n.live, n.last)) {
            let len = self.entries.len() as u64;
            if let Trim::MaxLen(max) = how {
                if len <= max {
                    break;
                }
            }
            if limit > 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => len - entries >= max,
                Trim::MinId(min) => node_last < min,
            };
            if remove_node {
                for _ in 0..entries {
                    self.entries.pop_first();
                }
                self.nodes.pop_front();
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            // Mark entries of this (first) node deleted one by one.
            let mut k = 0u64;
            while k < entries {
                let Some((&id, _)) = self.entries.first_key_value() else {
                    break;
                };
                let stop = match how {
                    Trim::MaxLen(max) => self.entries.len() as u64 <= max,
                    Trim::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                self.entries.pop_first();
                k += 1;
            }
            if let Some(n) = self.nodes.front_mut() {
                n.live -= k;
                n.deleted += k;
            }
            deleted += k;
            break;
        }
        if self.entries.is_empty() {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.refresh_first_id();
        }
        deleted
    }

    /// Redis's streamRangeHasTombstones(start, None).
    pub fn has_tombstones_from(&self, start: Option<StreamId>) -> bool {
        if self.entries.is_empty() || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start.unwrap_or(StreamId::MIN) <= self.max_deleted_id
    }

    /// Redis's streamEstimateDistanceFromFirstEverEntry.
    pub fn estimate_distance(&self, id: &StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        let added = self.entries_added as i64;
        if self.entries.is_empty() && *id <= self.last_id {
            return added;
        }
        if *id == self.last_id {
            return added;
        }
        if *id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if *id < self.first_id {
                return added - self.entries.len() as i64;
            }
            if *id == self.first_id {
                return added - self.entries.len() as i64 + 1;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// Redis's streamReplyWithCGLag value: None is a null reply.
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let added = self.entries_added as i64;
        if g.entries_read != INVALID_ENTRIES_READ && !self.has_tombstones_from(Some(g.last_id)) {
            return Some(added - g.entries_read);
        }
        let er = self.estimate_distance(&g.last_id);
        if er != INVALID_ENTRIES_READ {
            Some(added - er)
        } else {
            None
        }
    }

    /// Advance `group`'s last ID to `id` as delivering it does (the
    /// entries_read bookkeeping of streamReplyWithRange).
    pub fn group_deliver(&self, g: &mut Group, id: StreamId) {
        if id > g.last_id {
            if g.entries_read != INVALID_ENTRIES_READ && !self.has_tombstones_from(Some(id)) {
                g.entries_read += 1;
            } else if self.entries_added > 0 {
                g.entries_read = self.estimate_distance(&id);
            }
            g.last_id = id;
        }
    }
}

/// One listpack node as RDB persistence sees it (`crate::rdb::stream`).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeShape {
    pub master: StreamId,
    /// Last ID in the node's listpack, deleted entries included.
    pub last: StreamId,
    pub live: u64,
    pub deleted: u64,
    pub master_fields: Vec<Box<[u8]>>,
    /// The listpack's total size in bytes.
    pub lp_bytes: usize,
}

impl StreamVal {
    /// The listpack nodes, in ID order.
    pub fn node_shapes(&self) -> Vec<NodeShape> {
        self.nodes
            .iter()
            .map(|n| NodeShape {
                master: n.master,
                last: n.last,
                live: n.live,
                deleted: n.deleted,
                master_fields: n.master_fields.to_vec(),
                lp_bytes: n.lp_bytes(),
            })
            .collect()
    }

    /// Rebuild the entries and node shadow of a loaded stream. `entries`
    /// in ascending ID order; every entry lies in the last node whose
    /// master is <= its ID and `live` counts them (checked by the loader).
    /// Metadata (IDs, counters, groups) is set by the caller.
    pub fn from_parts(entries: Vec<(StreamId, Fields)>, nodes: Vec<NodeShape>) -> StreamVal {
        let nodes = nodes
            .into_iter()
            .map(|n| {
                let fixed =
                    LP_OVERHEAD + lp_int_size(n.live as i64) + lp_int_size(n.deleted as i64);
                Node {
                    master: n.master,
                    last: n.last,
                    live: n.live,
                    deleted: n.deleted,
                    master_fields: n.master_fields.into_boxed_slice(),
                    bytes: n.lp_bytes.saturating_sub(fixed),
                }
            })
            .collect();
        StreamVal {
            entries: entries.into_iter().collect(),
            nodes,
            ..StreamVal::default()
        }
    }
}

/// Node count of a rax holding `keys` (sorted, distinct, equal length),
/// all sharing their first `depth` bytes, rooted at a fresh node.
fn rax_count(keys: &[[u8; 16]], depth: usize) -> usize {
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
        return 0;
    };
    if keys.len() == 1 {
        // A compressed node with the remaining bytes (if any), then the leaf.
        return if depth < 16 { 2 } else { 1 };
    }
    let mut l = depth;
    while l < 16 && first[l] == last[l] {
        l += 1;
    }
    let mut count = if l > depth { 1 } else { 0 };
    if l >= 16 {
        // Equal keys (never stored: master IDs are distinct); one leaf.
        return count + 1;
    }
    count += 1; // the branching node at byte l
    let mut i = 0;
    while i < keys.len() {
        let b = keys[i][l];
        let mut j = i + 1;
        while j < keys.len() && keys[j][l] == b {
            j += 1;
        }
        count += rax_count(&keys[i..j], l + 1);
        i = j;
    }
    count
}

/// MEMORY USAGE's split of `heap_bytes()` (cmd/memory.rs samples the
/// listpack nodes, as Redis's objectComputeSize does): always
/// `heap_bytes() == structure_bytes() + node_bytes().sum()`.
impl StreamVal {
    /// Everything but the nodes: the ID index and the consumer groups.
    pub fn structure_bytes(&self) -> usize {
        let groups: usize = self
            .groups
            .iter()
            .map(|(n, g)| n.len() + 64 + g.pel.len() * 48 + g.consumers.len() * 64)
            .sum();
        groups + self.entries.len() * 16
    }

    /// Listpack bytes of each node, in ID order (`node_count` of them).
    pub fn node_bytes(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        self.nodes.iter().map(Node::lp_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: NodeLimits = NodeLimits {
        max_entries: 100,
        max_bytes: 4096,
    };

    fn filled(n: u64) -> StreamVal {
        let mut s = StreamVal::new();
        for i in 1..=n {
            s.append(StreamId::new(i, 0), &[b"f", b"v"], LIM);
        }
        s
    }

    #[test]
    fn nodes_every_100_entries() {
        let s = filled(250);
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.len(), 250);
    }

    #[test]
    fn approx_trim_drops_whole_nodes() {
        let mut s = filled(250);
        assert_eq!(s.trim(Trim::MaxLen(120), true, 10000), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.first_id, StreamId::new(101, 0));
        assert_eq!(s.trim(Trim::MaxLen(10), false, 0), 140);
        assert_eq!(s.len(), 10);
        assert_eq!(s.first_id, StreamId::new(241, 0));
    }

    #[test]
    fn minid_trim_and_delete() {
        let mut s = filled(10);
        assert!(s.delete(&StreamId::new(3, 0)));
        assert!(!s.delete(&StreamId::new(3, 0)));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(6, 0)), false, 0), 4);
        s.refresh_first_id();
        assert_eq!(s.first_id, StreamId::new(6, 0));
        assert_eq!(s.max_deleted_id, StreamId::new(3, 0));
    }

    #[test]
    fn rax_counts() {
        let mut s = StreamVal::new();
        assert_eq!(s.rax_nodes(), 1);
        s.append(StreamId::new(1, 1), &[b"a", b"1"], LIM);
        assert_eq!(s.rax_nodes(), 2);
    }

    #[test]
    fn fields_roundtrip() {
        let items: [&[u8]; 4] = [b"f", b"", b"value", b"\x00\xff"];
        let f = Fields::from_items(&items);
        assert_eq!(f.len(), 4);
        assert_eq!(f.iter().collect::<Vec<_>>(), items.to_vec());
    }

    #[test]
    fn id_format() {
        for id in [
            StreamId::MIN,
            StreamId::MAX,
            StreamId::new(1526919030474, 55),
        ] {
            let mut buf = [0u8; 41];
            let n = id.format(&mut buf);
            assert_eq!(&buf[..n], &id.to_bytes()[..]);
        }
    }

    #[test]
    fn id_incr_decr() {
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::MIN.decr(), None);
        assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::new(2, 0).decr(), Some(StreamId::new(1, u64::MAX)));
    }
}
