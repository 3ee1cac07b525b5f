//! Streams in RDB: STREAM_LISTPACKS_2 (Redis 7.0) and the older
//! STREAM_LISTPACKS (decode only).
//!
//! Body: the rax of listpack nodes (16-byte big-endian master ID, then the
//! listpack as a string), length, last ID, [v2: first ID, max deleted ID,
//! entries added], consumer groups (name, last ID, [v2: entries read],
//! global PEL of raw IDs with delivery time and count, consumers with seen
//! time and their PEL as raw IDs).
//!
//! A node's listpack: master entry (count, deleted, #fields, fields..., 0),
//! then per entry: flags, ms delta, seq delta, [#fields, field/value pairs |
//! values only when SAMEFIELDS], lp-count. redsim does not keep the
//! contents of deleted entries, so it writes each node with its live
//! entries only and a deleted count of 0 (what Redis's own node would look
//! like after compaction); everything observable through commands is
//! unchanged, only future node-split points may move.

use std::collections::{BTreeMap, BTreeSet};

use super::enc::{put_len, put_ms_time, put_string, Reader};
use super::packed::{lp_decode, Ele, LpBuilder};
use super::RdbError;
use crate::db::stream::{Consumer, Fields, Group, Nack, NodeShape, StreamId, StreamVal};

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

fn id_key(id: &StreamId) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&id.ms.to_be_bytes());
    k[8..].copy_from_slice(&id.seq.to_be_bytes());
    k
}

fn id_from_key(k: &[u8]) -> StreamId {
    let mut ms = [0u8; 8];
    let mut seq = [0u8; 8];
    ms.copy_from_slice(&k[..8]);
    seq.copy_from_slice(&k[8..16]);
    StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
}

pub fn encode_stream(out: &mut Vec<u8>, s: &StreamVal, compress: bool) {
    encode_stream_version(out, s, compress, true);
}

/// The stream body as STREAM_LISTPACKS_2 (`v2`) or as the older
/// STREAM_LISTPACKS (Redis < 7.0: no first/max-deleted IDs, entries added
/// or group entries-read; for tests and downgrade tooling).
pub fn encode_stream_version(out: &mut Vec<u8>, s: &StreamVal, compress: bool, v2: bool) {
    let shapes = s.node_shapes();
    put_len(out, shapes.len() as u64);
    let mut entries = s.range(StreamId::MIN, StreamId::MAX, false).peekable();
    for (k, n) in shapes.iter().enumerate() {
        let next_master = shapes.get(k + 1).map(|x| x.master);
        let mut node: Vec<(&StreamId, &Fields)> = Vec::new();
        while let Some((id, f)) = entries.peek() {
            if next_master.is_some_and(|m| **id >= m) {
                break;
            }
            node.push((*id, *f));
            entries.next();
        }
        put_string(out, &id_key(&n.master), compress);
        let mut lp = LpBuilder::new();
        lp.int(node.len() as i64);
        lp.int(0);
        lp.int(n.master_fields.len() as i64);
        for f in &n.master_fields {
            lp.str(f);
        }
        lp.int(0);
        for (id, f) in node {
            let items: Vec<&[u8]> = f.iter().collect();
            let nf = items.len() / 2;
            let same = nf == n.master_fields.len()
                && n.master_fields
                    .iter()
                    .zip(items.iter().step_by(2))
                    .all(|(a, b)| &**a == *b);
            lp.int(if same { FLAG_SAMEFIELDS } else { 0 });
            lp.int(id.ms.wrapping_sub(n.master.ms) as i64);
            lp.int(id.seq.wrapping_sub(n.master.seq) as i64);
            if same {
                for v in items.iter().skip(1).step_by(2) {
                    lp.str(v);
                }
                lp.int(nf as i64 + 3);
            } else {
                lp.int(nf as i64);
                for x in &items {
                    lp.str(x);
                }
                lp.int(nf as i64 * 2 + 4);
            }
        }
        put_string(out, &lp.finish(), compress);
    }
    put_len(out, s.len() as u64);
    put_len(out, s.last_id.ms);
    put_len(out, s.last_id.seq);
    if v2 {
        put_len(out, s.first_id.ms);
        put_len(out, s.first_id.seq);
        put_len(out, s.max_deleted_id.ms);
        put_len(out, s.max_deleted_id.seq);
        put_len(out, s.entries_added);
    }
    put_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        put_string(out, name, compress);
        put_len(out, g.last_id.ms);
        put_len(out, g.last_id.seq);
        if v2 {
            put_len(out, g.entries_read as u64);
        }
        put_len(out, g.pel.len() as u64);
        for (id, n) in &g.pel {
            out.extend_from_slice(&id_key(id));
            put_ms_time(out, n.delivery_time);
            put_len(out, n.delivery_count);
        }
        put_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            put_string(out, cname, compress);
            put_ms_time(out, c.seen_time);
            put_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id_key(id));
            }
        }
    }
}

/// Walks the elements of one node listpack.
struct Walk<'e, 'a> {
    e: &'e [Ele<'a>],
    i: usize,
}

impl<'a> Walk<'_, 'a> {
    fn next(&mut self) -> Option<Ele<'a>> {
        let x = self.e.get(self.i).copied();
        self.i += 1;
        x
    }
    fn int(&mut self) -> Option<i64> {
        match self.next()? {
            Ele::Int(v) => Some(v),
            Ele::Str(_) => None,
        }
    }
}

struct Node {
    shape: NodeShape,
    entries: Vec<(StreamId, Fields)>,
}

/// Decode one node listpack (streamValidateListpackIntegrity, deep, plus
/// the entry decoding of the stream iterator).
fn decode_node(master: StreamId, lp: &[u8]) -> Option<Node> {
    let e = lp_decode(lp).ok()?;
    if e.is_empty() {
        return None;
    }
    let mut w = Walk { e: &e, i: 0 };
    let count = w.int()?;
    let deleted = w.int()?;
    let nf = w.int()?;
    if count < 0 || deleted < 0 || nf < 0 || nf as usize > e.len() {
        return None;
    }
    let mut master_fields = Vec::with_capacity(nf as usize);
    for _ in 0..nf {
        master_fields.push(w.next()?.to_vec().into_boxed_slice());
    }
    if w.int()? != 0 {
        return None;
    }
    let total = count.checked_add(deleted)?;
    if total as usize > e.len() {
        return None;
    }
    let mut entries = Vec::with_capacity(count as usize);
    let mut last = master;
    let mut live = 0u64;
    for _ in 0..total {
        let flags = w.int()?;
        let id = StreamId::new(
            master.ms.wrapping_add(w.int()? as u64),
            master.seq.wrapping_add(w.int()? as u64),
        );
        let mut items: Vec<Vec<u8>> = Vec::new();
        let (fields, extra) = if flags & FLAG_SAMEFIELDS != 0 {
            for f in &master_fields {
                items.push(f.to_vec());
                items.push(w.next()?.to_vec());
            }
            (nf, 3)
        } else {
            let n = w.int()?;
            if n < 0 || n as usize > e.len() {
                return None;
            }
            for _ in 0..n * 2 {
                items.push(w.next()?.to_vec());
            }
            (n, n + 1 + 3)
        };
        if w.int()? != fields + extra {
            return None;
        }
        if id < master {
            return None;
        }
        last = id;
        if flags & FLAG_DELETED == 0 {
            if entries
                .last()
                .is_some_and(|(p, _): &(StreamId, Fields)| *p >= id)
            {
                return None;
            }
            let refs: Vec<&[u8]> = items.iter().map(|x| &x[..]).collect();
            entries.push((id, Fields::from_items(&refs)));
            live += 1;
        }
    }
    if w.i != e.len() || live != count as u64 {
        return None;
    }
    Some(Node {
        shape: NodeShape {
            master,
            last,
            live,
            deleted: deleted as u64,
            master_fields,
            lp_bytes: lp.len(),
        },
        entries,
    })
}

/// A loaded NACK: delivery time, count, owner once a consumer claims it.
type PendingLoad = (i64, u64, Option<Box<[u8]>>);

fn read_id(r: &mut Reader) -> Result<StreamId, RdbError> {
    let ms = r.len()?;
    let seq = r.len()?;
    Ok(StreamId::new(ms, seq))
}

pub fn decode_stream(r: &mut Reader, v2: bool) -> Result<StreamVal, RdbError> {
    let nnodes = r.count(2)?;
    let mut shapes = Vec::with_capacity(nnodes);
    let mut entries: Vec<(StreamId, Fields)> = Vec::new();
    let mut prev_max: Option<StreamId> = None;
    for _ in 0..nnodes {
        let at = r.offset();
        let key = r.string_bytes()?;
        if key.len() != 16 {
            return Err(RdbError::corrupt(
                at,
                "Stream node key entry is not the size of a stream ID",
            ));
        }
        let master = id_from_key(&key);
        if prev_max.is_some_and(|p| p >= master) {
            return Err(RdbError::corrupt(at, "Listpack re-added with existing key"));
        }
        let at = r.offset();
        let lp = r.string_bytes()?;
        let node = decode_node(master, &lp)
            .ok_or_else(|| RdbError::corrupt(at, "Stream listpack integrity check failed."))?;
        prev_max = Some(node.shape.last.max(master));
        entries.extend(node.entries);
        shapes.push(node.shape);
    }
    let at = r.offset();
    let length = r.len()?;
    let last_id = read_id(r)?;
    let (first_id, max_deleted_id, entries_added) = if v2 {
        (read_id(r)?, read_id(r)?, r.len()?)
    } else {
        // streamGetEdgeID(first): the maximum ID when there are no entries.
        (
            entries.first().map_or(StreamId::MAX, |e| e.0),
            StreamId::MIN,
            length,
        )
    };
    if length != entries.len() as u64 {
        return Err(RdbError::corrupt(
            at,
            "Stream length inconsistent with its entries",
        ));
    }
    if entries.last().is_some_and(|e| e.0 > last_id) {
        return Err(RdbError::corrupt(at, "Stream last ID below its last entry"));
    }
    let mut s = StreamVal::from_parts(entries, shapes);
    s.last_id = last_id;
    s.first_id = first_id;
    s.max_deleted_id = max_deleted_id;
    s.entries_added = entries_added;
    let ngroups = r.count(1)?;
    for _ in 0..ngroups {
        let at = r.offset();
        let name: Box<[u8]> = r.string_bytes()?.into_owned().into();
        let cg_id = read_id(r)?;
        let entries_read = if v2 {
            r.len()? as i64
        } else {
            s.estimate_distance(&cg_id)
        };
        if s.groups.contains_key(&name) {
            return Err(RdbError::corrupt(at, "Duplicated consumer group name"));
        }
        let mut g = Group::new(cg_id, entries_read);
        let npel = r.count(16 + 8 + 1)?;
        let mut pel: BTreeMap<StreamId, PendingLoad> = BTreeMap::new();
        for _ in 0..npel {
            let at = r.offset();
            let id = id_from_key(&r.array::<16>()?);
            let t = r.ms_time()?;
            let c = r.len()?;
            if pel.insert(id, (t, c, None)).is_some() {
                return Err(RdbError::corrupt(
                    at,
                    "Duplicated global PEL entry loading stream consumer group",
                ));
            }
        }
        let ncons = r.count(1 + 8 + 1)?;
        for _ in 0..ncons {
            let at = r.offset();
            let cname: Box<[u8]> = r.string_bytes()?.into_owned().into();
            if g.consumers.contains_key(&cname) {
                return Err(RdbError::corrupt(at, "Duplicate stream consumer detected."));
            }
            let seen_time = r.ms_time()?;
            let n = r.count(16)?;
            let mut cpel = BTreeSet::new();
            for _ in 0..n {
                let at = r.offset();
                let id = id_from_key(&r.array::<16>()?);
                match pel.get_mut(&id) {
                    None => {
                        return Err(RdbError::corrupt(
                            at,
                            "Consumer entry not found in group global PEL",
                        ))
                    }
                    Some(x) if x.2.is_some() => {
                        return Err(RdbError::corrupt(at, "Duplicated consumer PEL entry"))
                    }
                    Some(x) => x.2 = Some(cname.clone()),
                }
                cpel.insert(id);
            }
            g.consumers.insert(
                cname,
                Consumer {
                    seen_time,
                    pel: cpel,
                },
            );
        }
        for (id, (t, c, owner)) in pel {
            let Some(consumer) = owner else {
                return Err(RdbError::corrupt(
                    at,
                    "Stream CG PEL entry without consumer",
                ));
            };
            g.pel.insert(
                id,
                Nack {
                    delivery_time: t,
                    delivery_count: c,
                    consumer,
                },
            );
        }
        s.groups.insert(name, g);
    }
    Ok(s)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::db::stream::NodeLimits;

    pub(crate) fn sample() -> StreamVal {
        let lim = NodeLimits {
            max_entries: 10,
            max_bytes: 4096,
        };
        let mut s = StreamVal::new();
        for i in 1..=35u64 {
            let v = i.to_string();
            if i % 7 == 0 {
                s.append(
                    StreamId::new(1000 + i, i),
                    &[b"other", v.as_bytes(), b"x", b"y"],
                    lim,
                );
            } else {
                s.append(
                    StreamId::new(1000 + i, 0),
                    &[b"f", v.as_bytes(), b"g", b"text"],
                    lim,
                );
            }
        }
        s.delete(&StreamId::new(1003, 0));
        s.refresh_first_id();
        let mut g = Group::new(StreamId::new(1010, 0), 10);
        g.create_consumer(b"alice", 5);
        g.create_consumer(b"bob", 6);
        for (i, c) in [(1001u64, &b"alice"[..]), (1002, b"bob"), (1004, b"alice")] {
            let id = StreamId::new(i, 0);
            g.pel.insert(
                id,
                Nack {
                    delivery_time: 77,
                    delivery_count: 2,
                    consumer: c.into(),
                },
            );
            g.consumers.get_mut(c).map(|x| x.pel.insert(id));
        }
        s.groups.insert((*b"grp").into(), g);
        s.groups
            .insert((*b"empty").into(), Group::new(StreamId::MIN, -1));
        s
    }

    #[test]
    fn stream_roundtrip_and_fuzz() {
        let s = sample();
        let mut out = Vec::new();
        encode_stream(&mut out, &s, true);
        let got = decode_stream(&mut Reader::new(&out), true).expect("decodes");
        assert_eq!(got.len(), s.len());
        assert_eq!(got.groups, s.groups);
        assert_eq!(got.last_id, s.last_id);
        assert_eq!(got.first_id, s.first_id);
        assert_eq!(got.entries_added, s.entries_added);
        let a: Vec<_> = got.range(StreamId::MIN, StreamId::MAX, false).collect();
        let b: Vec<_> = s.range(StreamId::MIN, StreamId::MAX, false).collect();
        assert_eq!(a, b);
        assert_eq!(got.node_count(), s.node_count());
        for cut in 0..out.len() {
            assert!(decode_stream(&mut Reader::new(&out[..cut]), true).is_err());
        }
        for i in 0..out.len() {
            let mut c = out.clone();
            c[i] ^= 0x21;
            let _ = decode_stream(&mut Reader::new(&c), true);
        }
    }
}
