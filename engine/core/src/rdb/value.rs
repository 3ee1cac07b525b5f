//! One value <-> its RDB type byte and body (rdbSaveObject /
//! rdbLoadObject), with the type Redis 7.0 chooses for each encoding and the
//! conversions it applies on load.

use std::collections::{HashSet, VecDeque};

use super::enc::{put_binary_double, put_int_string, put_len, put_string, Reader, Str};
use super::packed::{intset_decode, intset_encode, lp_decode, zl_decode, Ele, LpBuilder};
use super::*;
use crate::db::hash::HashVal;
use crate::db::list::ListVal;
use crate::db::set::{MemberTable, SetVal};
use crate::db::value::Value;
use crate::db::zset::{self, ZSetVal};

/// The encoding thresholds applied on load (the server's config).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub zset_entries: usize,
    pub zset_value: usize,
    pub set_intset: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // Redis 7.0's built-in defaults (config.c).
        Limits {
            hash_entries: 512,
            hash_value: 64,
            zset_entries: 128,
            zset_value: 64,
            set_intset: 512,
        }
    }
}

impl Limits {
    pub fn from_config(c: &crate::config::Config) -> Limits {
        Limits {
            hash_entries: c.hash_max_listpack_entries,
            hash_value: c.hash_max_listpack_value,
            zset_entries: c.zset_max_listpack_entries,
            zset_value: c.zset_max_listpack_value,
            set_intset: c.set_max_intset_entries,
        }
    }
}

/// list-max-listpack-size -2: 8 KB per quicklist node.
const QUICKLIST_NODE_BYTES: usize = 8192;
/// SIZE_ESTIMATE_OVERHEAD of _quicklistNodeAllowInsert.
const QUICKLIST_OVERHEAD: usize = 8;
const QUICKLIST_NODE_CONTAINER_PLAIN: u64 = 1;
const QUICKLIST_NODE_CONTAINER_PACKED: u64 = 2;

/// Redis's d2string as 7.0 writes listpack zset scores.
pub fn score_text(out: &mut Vec<u8>, s: f64) {
    out.clear();
    if s.is_nan() {
        out.extend_from_slice(b"nan");
    } else if s.is_infinite() {
        out.extend_from_slice(if s > 0.0 { b"inf" } else { b"-inf" });
    } else if s == 0.0 {
        out.extend_from_slice(if s.is_sign_negative() { b"-0" } else { b"0" });
    } else if s > -4_503_599_627_370_495.0 && s < 4_503_599_627_370_496.0 && s == s.trunc() {
        crate::util::push_i64(out, s as i64);
    } else {
        crate::float::push_g17(out, s);
    }
}

/// Append the body of `v` to `out` and return its RDB type (rdbSaveObjectType
/// + rdbSaveObject). `compress` is rdbcompression.
pub fn encode_value(out: &mut Vec<u8>, v: &Value, compress: bool) -> u8 {
    match v {
        Value::Int(i) => {
            put_int_string(out, *i);
            TYPE_STRING
        }
        Value::Small { .. } | Value::Str { .. } | Value::Raw(_) => {
            put_string(out, v.str_data().unwrap_or_default(), compress);
            TYPE_STRING
        }
        Value::List(l) => {
            encode_list(out, l, compress);
            TYPE_LIST_QUICKLIST_2
        }
        Value::Set(s) => match &**s {
            SetVal::Ints(ints) => {
                let v: Vec<i64> = ints.iter().collect();
                put_string(out, &intset_encode(&v), compress);
                TYPE_SET_INTSET
            }
            SetVal::Table(t) => {
                put_len(out, t.len() as u64);
                for m in t.iter() {
                    put_string(out, m, compress);
                }
                TYPE_SET
            }
        },
        Value::ZSet(z) => {
            if z.encoding() == "listpack" {
                let mut b = LpBuilder::new();
                let mut buf = Vec::with_capacity(32);
                for (s, m) in z.iter() {
                    b.str(m);
                    score_text(&mut buf, s);
                    b.str(&buf);
                }
                put_string(out, &b.finish(), compress);
                TYPE_ZSET_LISTPACK
            } else {
                put_len(out, z.len() as u64);
                // Redis walks the skiplist from the tail.
                let items: Vec<(f64, &[u8])> = z.iter().collect();
                for &(s, m) in items.iter().rev() {
                    put_string(out, m, compress);
                    put_binary_double(out, s);
                }
                TYPE_ZSET_2
            }
        }
        Value::Hash(h) => match &**h {
            HashVal::Listpack(_) => {
                let mut b = LpBuilder::new();
                for (f, x) in h.iter() {
                    b.str(f);
                    b.str(x);
                }
                put_string(out, &b.finish(), compress);
                TYPE_HASH_LISTPACK
            }
            HashVal::Table(_) => {
                put_len(out, h.len() as u64);
                for (f, x) in h.iter() {
                    put_string(out, f, compress);
                    put_string(out, x, compress);
                }
                TYPE_HASH
            }
        },
        Value::Stream(s) => {
            super::stream::encode_stream(out, s, compress);
            TYPE_STREAM_LISTPACKS_2
        }
    }
}

fn encode_list(out: &mut Vec<u8>, l: &ListVal, compress: bool) {
    let mut nodes: Vec<Vec<u8>> = Vec::new();
    let mut cur = LpBuilder::new();
    for it in l.iter() {
        if !cur.is_empty() && cur.bytes() + it.len() + QUICKLIST_OVERHEAD > QUICKLIST_NODE_BYTES {
            let done = std::mem::take(&mut cur);
            nodes.push(done.finish());
        }
        cur.str(it);
    }
    if !cur.is_empty() {
        nodes.push(cur.finish());
    }
    put_len(out, nodes.len() as u64);
    for n in &nodes {
        put_len(out, QUICKLIST_NODE_CONTAINER_PACKED);
        put_string(out, n, compress);
    }
}

fn corrupt(r: &Reader, at: usize, msg: &'static str) -> RdbError {
    let _ = r;
    RdbError::corrupt(at, msg)
}

fn empty(at: usize) -> RdbError {
    RdbError::new(RdbErrorKind::EmptyKey, at, "Empty key")
}

/// A packed blob (listpack/intset/ziplist) stored as an RDB string.
fn blob<'a>(r: &mut Reader<'a>) -> Result<(usize, std::borrow::Cow<'a, [u8]>), RdbError> {
    let at = r.offset();
    match r.string()? {
        Str::Bytes(b) => Ok((at, b)),
        Str::Int(_) => Err(RdbError::corrupt(at, "packed value stored as integer")),
    }
}

/// Decode the body of a value of RDB type `t` (rdbLoadObject). The result
/// uses the encoding Redis would pick after loading it under `lim`.
pub fn decode_value(t: u8, r: &mut Reader, lim: &Limits) -> Result<Value, RdbError> {
    let at = r.offset();
    match t {
        TYPE_STRING => {
            let s = r.string()?;
            Ok(match s {
                Str::Int(v) => Value::Int(v),
                Str::Bytes(b) => Value::from_input(&b),
            })
        }
        TYPE_LIST => {
            let n = r.count(1)?;
            if n == 0 {
                return Err(empty(at));
            }
            let mut items = VecDeque::with_capacity(n);
            for _ in 0..n {
                items.push_back(r.string_bytes()?.into_owned().into_boxed_slice());
            }
            Ok(Value::List(Box::new(list_from(items))))
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let n = r.count(1)?;
            let mut items = VecDeque::new();
            for _ in 0..n {
                let container = if t == TYPE_LIST_QUICKLIST_2 {
                    let c = r.len()?;
                    if c != QUICKLIST_NODE_CONTAINER_PACKED && c != QUICKLIST_NODE_CONTAINER_PLAIN {
                        return Err(r.corrupt("Quicklist integrity check failed."));
                    }
                    c
                } else {
                    QUICKLIST_NODE_CONTAINER_PACKED
                };
                let (bat, b) = blob(r)?;
                if container == QUICKLIST_NODE_CONTAINER_PLAIN {
                    items.push_back(b.into_owned().into_boxed_slice());
                    continue;
                }
                let eles = if t == TYPE_LIST_QUICKLIST_2 {
                    lp_decode(&b)
                } else {
                    zl_decode(&b)
                }
                .map_err(|m| corrupt(r, bat, m))?;
                // Redis silently skips empty nodes.
                items.extend(eles.into_iter().map(|e| e.to_vec().into_boxed_slice()));
            }
            if items.is_empty() {
                return Err(empty(at));
            }
            Ok(Value::List(Box::new(list_from(items))))
        }
        TYPE_LIST_ZIPLIST => {
            let (bat, b) = blob(r)?;
            let eles = zl_decode(&b).map_err(|m| corrupt(r, bat, m))?;
            if eles.is_empty() {
                return Err(empty(at));
            }
            let items: Vec<Box<[u8]>> = eles
                .into_iter()
                .map(|e| e.to_vec().into_boxed_slice())
                .collect();
            Ok(Value::List(Box::new(list_from(items))))
        }
        TYPE_SET => {
            let n = r.count(1)?;
            if n == 0 {
                return Err(empty(at));
            }
            let mut members: Vec<Vec<u8>> = Vec::with_capacity(n);
            for _ in 0..n {
                members.push(r.string_bytes()?.into_owned());
            }
            build_set(members.iter().map(|m| &m[..]), n, lim)
                .ok_or_else(|| RdbError::corrupt(at, "Duplicate set members detected"))
        }
        TYPE_SET_INTSET => {
            let (bat, b) = blob(r)?;
            let ints = intset_decode(&b).map_err(|m| corrupt(r, bat, m))?;
            let mut s = SetVal::Ints(intset_from(ints));
            if s.len() > lim.set_intset {
                s = convert_set(s);
            }
            Ok(Value::Set(Box::new(s)))
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = r.count(1)?;
            if n == 0 {
                return Err(empty(at));
            }
            let mut items: Vec<(f64, Box<[u8]>)> = Vec::with_capacity(n);
            let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(n);
            let mut maxlen = 0;
            for _ in 0..n {
                let m = r.string_bytes()?.into_owned();
                let s = if t == TYPE_ZSET_2 {
                    r.binary_double()?
                } else {
                    r.text_double()?
                };
                if s.is_nan() {
                    return Err(r.corrupt("Zset with NAN score detected"));
                }
                if !seen.insert(m.clone()) {
                    return Err(r.corrupt("Duplicate zset fields detected"));
                }
                maxlen = maxlen.max(m.len());
                items.push((s, m.into_boxed_slice()));
            }
            let zl = zset::Limits {
                entries: lim.zset_entries,
                value: lim.zset_value,
            };
            let _ = maxlen;
            Ok(Value::ZSet(Box::new(ZSetVal::from_items(items, zl))))
        }
        TYPE_ZSET_LISTPACK | TYPE_ZSET_ZIPLIST => {
            let (bat, b) = blob(r)?;
            let eles = if t == TYPE_ZSET_LISTPACK {
                lp_decode(&b)
            } else {
                zl_decode(&b)
            }
            .map_err(|m| corrupt(r, bat, m))?;
            if eles.len() % 2 != 0 {
                return Err(RdbError::corrupt(
                    bat,
                    "Zset listpack integrity check failed.",
                ));
            }
            if eles.is_empty() {
                return Err(empty(at));
            }
            let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(eles.len() / 2);
            let mut items = Vec::with_capacity(eles.len() / 2);
            let mut prev: Option<(f64, Vec<u8>)> = None;
            for p in eles.chunks_exact(2) {
                let m = p[0].to_vec();
                let s = match p[1] {
                    Ele::Int(v) => v as f64,
                    Ele::Str(x) => crate::float::parse_f64(x).ok_or_else(|| {
                        RdbError::corrupt(bat, "Zset listpack integrity check failed.")
                    })?,
                };
                if s.is_nan() || !seen.insert(m.clone()) {
                    return Err(RdbError::corrupt(
                        bat,
                        "Zset listpack integrity check failed.",
                    ));
                }
                // A listpack zset is sorted; redsim relies on it.
                if let Some((ps, pm)) = &prev {
                    if zset::cmp_item(*ps, pm, s, &m) != std::cmp::Ordering::Less {
                        return Err(RdbError::corrupt(bat, "Zset listpack not sorted"));
                    }
                }
                prev = Some((s, m.clone()));
                items.push((s, m.into_boxed_slice()));
            }
            // Only the entry count decides (member lengths are not checked).
            let zl = zset::Limits {
                entries: lim.zset_entries,
                value: usize::MAX,
            };
            Ok(Value::ZSet(Box::new(ZSetVal::from_items(items, zl))))
        }
        TYPE_HASH => {
            let n = r.count(2)?;
            if n == 0 {
                return Err(empty(at));
            }
            let mut pairs = Vec::with_capacity(n);
            let mut seen: HashSet<Box<[u8]>> = HashSet::with_capacity(n);
            let mut listpack = n <= lim.hash_entries;
            for _ in 0..n {
                let f: Box<[u8]> = r.string_bytes()?.into_owned().into();
                let v: Box<[u8]> = r.string_bytes()?.into_owned().into();
                if !seen.insert(f.clone()) {
                    return Err(r.corrupt("Duplicate hash fields detected"));
                }
                if f.len() > lim.hash_value || v.len() > lim.hash_value {
                    listpack = false;
                }
                pairs.push((f, v));
            }
            let mut h = hash_from(&pairs);
            if !listpack {
                h.convert();
            }
            Ok(Value::Hash(Box::new(h)))
        }
        TYPE_HASH_LISTPACK | TYPE_HASH_ZIPLIST => {
            let (bat, b) = blob(r)?;
            let eles = if t == TYPE_HASH_LISTPACK {
                lp_decode(&b)
            } else {
                zl_decode(&b)
            }
            .map_err(|m| corrupt(r, bat, m))?;
            if eles.len() % 2 != 0 {
                return Err(RdbError::corrupt(
                    bat,
                    "Hash listpack integrity check failed.",
                ));
            }
            if eles.is_empty() {
                return Err(empty(at));
            }
            let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(eles.len() / 2);
            let mut pairs = Vec::with_capacity(eles.len() / 2);
            for p in eles.chunks_exact(2) {
                let f = p[0].to_vec();
                if !seen.insert(f.clone()) {
                    return Err(RdbError::corrupt(
                        bat,
                        "Hash listpack integrity check failed.",
                    ));
                }
                pairs.push((f.into_boxed_slice(), p[1].to_vec().into_boxed_slice()));
            }
            let mut h = hash_from(&pairs);
            if h.len() > lim.hash_entries {
                h.convert();
            }
            Ok(Value::Hash(Box::new(h)))
        }
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => Ok(Value::Stream(Box::new(
            super::stream::decode_stream(r, t == TYPE_STREAM_LISTPACKS_2)?,
        ))),
        TYPE_HASH_ZIPMAP => {
            let (bat, b) = blob(r)?;
            let pairs = super::packed::zipmap_decode(&b).map_err(|m| corrupt(r, bat, m))?;
            if pairs.is_empty() {
                return Err(empty(at));
            }
            let mut seen: HashSet<&[u8]> = HashSet::with_capacity(pairs.len());
            let mut maxlen = 0;
            let mut out = Vec::with_capacity(pairs.len());
            for (f, v) in pairs {
                if !seen.insert(f) {
                    return Err(RdbError::corrupt(bat, "Hash zipmap with dup records"));
                }
                maxlen = maxlen.max(f.len()).max(v.len());
                out.push((Box::<[u8]>::from(f), Box::<[u8]>::from(v)));
            }
            let mut h = hash_from(&out);
            if h.len() > lim.hash_entries || maxlen > lim.hash_value {
                h.convert();
            }
            Ok(Value::Hash(Box::new(h)))
        }
        TYPE_MODULE_PRE_GA | TYPE_MODULE_2 => Err(RdbError::new(
            RdbErrorKind::Unsupported,
            at,
            "module values are not supported (redsim has no modules)",
        )),
        _ => Err(RdbError::corrupt(
            at,
            format!("Unknown RDB encoding type {t}"),
        )),
    }
}

fn convert_set(s: SetVal) -> SetVal {
    let mut t = MemberTable::with_capacity(s.len());
    for m in s.iter() {
        t.insert(&m.to_vec());
    }
    SetVal::Table(Box::new(t))
}

/// A list in load order.
fn list_from(items: impl IntoIterator<Item = Box<[u8]>>) -> ListVal {
    let mut l = ListVal::new();
    for it in items {
        l.push_owned(it, false);
    }
    l
}

/// An intset from sorted, distinct integers.
fn intset_from(v: Vec<i64>) -> crate::db::set::IntSet {
    let mut s = crate::db::set::IntSet::new();
    for x in v {
        s.insert(x);
    }
    s
}

/// A listpack-encoded hash from field/value pairs in load order.
fn hash_from(pairs: &[(Box<[u8]>, Box<[u8]>)]) -> HashVal {
    HashVal::Listpack(crate::db::packed::Packed::from_entries(
        pairs.iter().flat_map(|(f, v)| [&f[..], &v[..]]),
    ))
}

/// A set from `n` members in load order (RDB_TYPE_SET): an intset while
/// every member is an integer and n <= set-max-intset-entries. None on a
/// duplicate.
fn build_set<'a>(
    members: impl Iterator<Item = &'a [u8]> + Clone,
    n: usize,
    lim: &Limits,
) -> Option<Value> {
    if n <= lim.set_intset {
        let ints: Option<Vec<i64>> = members.clone().map(crate::util::parse_i64).collect();
        if let Some(mut v) = ints {
            v.sort_unstable();
            if v.windows(2).any(|w| w[0] == w[1]) {
                return None;
            }
            return Some(Value::Set(Box::new(SetVal::Ints(intset_from(v)))));
        }
    }
    let mut t = MemberTable::with_capacity(n);
    for m in members {
        if !t.insert(m) {
            return None;
        }
    }
    Some(Value::Set(Box::new(SetVal::Table(Box::new(t)))))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::db::hash;

    fn roundtrip(v: &Value, lim: &Limits) -> Value {
        let mut out = Vec::new();
        let t = encode_value(&mut out, v, true);
        let mut r = Reader::new(&out);
        let got = decode_value(t, &mut r, lim).expect("decodes");
        assert!(r.is_empty(), "trailing bytes for {t}");
        got
    }

    /// Truncations and byte flips never panic; results are Err or a value.
    fn fuzz(v: &Value, lim: &Limits) {
        let mut out = Vec::new();
        let t = encode_value(&mut out, v, true);
        let step = (out.len() / 2000).max(1);
        for cut in (0..out.len()).step_by(step) {
            assert!(decode_value(t, &mut Reader::new(&out[..cut]), lim).is_err());
        }
        for i in (0..out.len()).step_by(step) {
            for x in [0x01u8, 0x80, 0xff, 0x3c] {
                let mut c = out.clone();
                c[i] ^= x;
                let _ = decode_value(t, &mut Reader::new(&c), lim);
            }
        }
    }

    pub(crate) fn samples() -> Vec<Value> {
        let lim = hash::Limits {
            entries: 128,
            value: 64,
        };
        let mut v = vec![
            Value::Int(42),
            Value::Int(-1 << 40),
            Value::from_input(b"hello"),
            Value::plain_string(b"a".repeat(100)),
            Value::raw(b"xyz".to_vec()),
        ];
        let mut h = HashVal::new();
        h.set(b"f", b"v", lim);
        h.set(b"n", b"12", lim);
        v.push(Value::Hash(Box::new(h.clone())));
        for i in 0..600 {
            h.set(
                format!("field{i}").as_bytes(),
                format!("{i}").as_bytes(),
                lim,
            );
        }
        v.push(Value::Hash(Box::new(h)));
        let mut s = SetVal::create_for(b"1");
        for i in [5i64, -3, 70000, 1 << 40] {
            s.add(i.to_string().as_bytes(), 512);
        }
        v.push(Value::Set(Box::new(s.clone())));
        s.add(b"str", 512);
        v.push(Value::Set(Box::new(s)));
        let mut l = ListVal::new();
        for i in 0..3000 {
            l.push(format!("item-{i}").as_bytes(), false);
            l.push(i.to_string().as_bytes(), true);
        }
        v.push(Value::List(Box::new(l)));
        let zl = zset::Limits {
            entries: 128,
            value: 64,
        };
        let items: Vec<(f64, Box<[u8]>)> = (0..10)
            .map(|i| {
                (
                    f64::from(i) * 1.5 - 3.0,
                    format!("m{i}").into_bytes().into(),
                )
            })
            .collect();
        v.push(Value::ZSet(Box::new(ZSetVal::from_items(items, zl))));
        let items: Vec<(f64, Box<[u8]>)> = (0..500)
            .map(|i| (f64::from(i) / 7.0, format!("m{i}").into_bytes().into()))
            .collect();
        v.push(Value::ZSet(Box::new(ZSetVal::from_items(items, zl))));
        v
    }

    #[test]
    fn every_type_roundtrips() {
        let lim = Limits::default();
        for v in samples() {
            let got = roundtrip(&v, &lim);
            match v.str_data() {
                // Strings load as tryObjectEncoding makes them.
                Some(b) => assert_eq!(got, Value::from_input(b)),
                None => {
                    assert_eq!(got.encoding(), v.encoding());
                    assert_eq!(got, v);
                }
            }
            fuzz(&v, &lim);
        }
    }

    /// Random multi-byte mutations (flips, truncations, insertions) of every
    /// sample payload, run through RESTORE's decoder: an error or a value,
    /// never a panic. `RDB_FUZZ_ITERS` raises the count.
    #[test]
    fn payload_mutation_fuzz() {
        let iters: usize = std::env::var("RDB_FUZZ_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let lim = Limits::default();
        let mut rng = crate::rng::Rng::new(0x5eed);
        let mut vals = samples();
        vals.push(Value::Stream(Box::new(
            super::super::stream::tests::sample(),
        )));
        for v in &vals {
            let p = super::super::dump_payload(v, true);
            for _ in 0..iters {
                let mut m = p[..p.len() - 10].to_vec();
                for _ in 0..1 + rng.below(4) {
                    if m.is_empty() {
                        break;
                    }
                    let i = rng.below(m.len() as u64) as usize;
                    match rng.below(4) {
                        0 => m[i] ^= 1 << rng.below(8),
                        1 => m[i] = rng.below(256) as u8,
                        2 => m.truncate(i),
                        _ => m.insert(i, rng.below(256) as u8),
                    }
                }
                m.extend_from_slice(&RDB_VERSION.to_le_bytes());
                let crc = super::super::enc::crc64(0, &m);
                m.extend_from_slice(&crc.to_le_bytes());
                let _ = super::super::restore_payload(&m, &lim);
            }
        }
    }

    #[test]
    fn load_conversions() {
        // A table set of small integers reloads as an intset; a large
        // intset becomes a table.
        let mut t = MemberTable::with_capacity(2);
        t.insert(b"2");
        t.insert(b"1");
        let got = roundtrip(
            &Value::Set(Box::new(SetVal::Table(Box::new(t)))),
            &Limits::default(),
        );
        assert_eq!(got.encoding(), "intset");
        let s = SetVal::Ints(intset_from((0..10).collect()));
        let lim = Limits {
            set_intset: 5,
            ..Limits::default()
        };
        assert_eq!(
            roundtrip(&Value::Set(Box::new(s)), &lim).encoding(),
            "hashtable"
        );
        // Duplicate members are corruption.
        let mut out = Vec::new();
        put_len(&mut out, 2);
        put_string(&mut out, b"a", false);
        put_string(&mut out, b"a", false);
        assert!(decode_value(TYPE_SET, &mut Reader::new(&out), &Limits::default()).is_err());
        // Empty collections are empty keys.
        let e = decode_value(TYPE_SET, &mut Reader::new(&[0]), &Limits::default());
        assert_eq!(e.map_err(|e| e.kind).err(), Some(RdbErrorKind::EmptyKey));
    }
}
