//! Redis's packed encodings as they appear inside RDB strings: listpack
//! (encode + fully validating decode), intset (encode + decode), ziplist
//! (decode only, for files and payloads from Redis < 7).

/// One listpack / ziplist element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ele<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl<'a> Ele<'a> {
    /// The element as bytes (integers in decimal, Redis's rendering).
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Ele::Int(v) => crate::util::i64_bytes(v),
            Ele::Str(s) => s.to_vec(),
        }
    }

    pub fn write_to(self, out: &mut Vec<u8>) {
        out.clear();
        match self {
            Ele::Int(v) => crate::util::push_i64(out, v),
            Ele::Str(s) => out.extend_from_slice(s),
        }
    }

    /// The element as an integer, when it is one (or a string that parses).
    pub fn as_int(self) -> Option<i64> {
        match self {
            Ele::Int(v) => Some(v),
            Ele::Str(s) => crate::util::parse_i64(s),
        }
    }
}

// ---------------------------------------------------------------- listpack

pub const LP_HDR: usize = 6;
const LP_EOF: u8 = 0xff;
/// Header count meaning "unknown, count by walking" (LP_HDR_NUMELE_UNKNOWN).
const LP_COUNT_UNKNOWN: u16 = u16::MAX;

/// Bytes of the backlen for an entry of `l` encoded bytes.
pub fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn put_backlen(out: &mut Vec<u8>, l: usize) {
    let n = backlen_size(l);
    for i in (0..n).rev() {
        let b = ((l >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { b } else { b | 128 });
    }
}

/// Builds a listpack (lpAppend / lpAppendInteger semantics).
impl Default for LpBuilder {
    fn default() -> Self {
        LpBuilder::new()
    }
}

pub struct LpBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl LpBuilder {
    pub fn new() -> LpBuilder {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0u8; LP_HDR]);
        LpBuilder { buf, count: 0 }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the finished listpack so far (header, entries, end byte).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn int(&mut self, v: i64) {
        let start = self.buf.len();
        let b = &mut self.buf;
        if (0..=127).contains(&v) {
            b.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let uv = if v < 0 { (1i64 << 13) + v } else { v } as u16;
            b.push(((uv >> 8) as u8) | 0xc0);
            b.push(uv as u8);
        } else if let Ok(x) = i16::try_from(v) {
            b.push(0xf1);
            b.extend_from_slice(&x.to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            b.push(0xf2);
            b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(x) = i32::try_from(v) {
            b.push(0xf3);
            b.extend_from_slice(&x.to_le_bytes());
        } else {
            b.push(0xf4);
            b.extend_from_slice(&v.to_le_bytes());
        }
        let l = self.buf.len() - start;
        put_backlen(&mut self.buf, l);
        self.count += 1;
    }

    /// A string element: stored as an integer when it is a canonical one.
    pub fn str(&mut self, s: &[u8]) {
        if let Some(v) = crate::util::parse_i64(s) {
            self.int(v);
            return;
        }
        let start = self.buf.len();
        let n = s.len();
        if n < 64 {
            self.buf.push(0x80 | n as u8);
        } else if n < 4096 {
            self.buf.push(0xe0 | (n >> 8) as u8);
            self.buf.push(n as u8);
        } else {
            self.buf.push(0xf0);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        let l = self.buf.len() - start;
        put_backlen(&mut self.buf, l);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count)
            .ok()
            .filter(|&c| c < LP_COUNT_UNKNOWN)
            .unwrap_or(LP_COUNT_UNKNOWN);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x))
}

/// Decode one listpack entry at `p` (before the end byte `end`): the
/// element and the entry's encoded length (without backlen).
fn lp_entry(buf: &[u8], p: usize, end: usize) -> Option<(Ele<'_>, usize)> {
    let b = *buf.get(p)?;
    let need = |n: usize| -> Option<()> { (p + n <= end).then_some(()) };
    let (ele, l) = if b & 0x80 == 0 {
        (Ele::Int(i64::from(b)), 1)
    } else if b & 0xc0 == 0x80 {
        let n = usize::from(b & 0x3f);
        need(1 + n)?;
        (Ele::Str(&buf[p + 1..p + 1 + n]), 1 + n)
    } else if b & 0xe0 == 0xc0 {
        need(2)?;
        let uv = (i64::from(b & 0x1f) << 8) | i64::from(buf[p + 1]);
        let v = if uv >= 1 << 12 { uv - (1 << 13) } else { uv };
        (Ele::Int(v), 2)
    } else if b & 0xf0 == 0xe0 {
        need(2)?;
        let n = (usize::from(b & 0x0f) << 8) | usize::from(buf[p + 1]);
        need(2 + n)?;
        (Ele::Str(&buf[p + 2..p + 2 + n]), 2 + n)
    } else {
        match b {
            0xf0 => {
                need(5)?;
                let n = usize::try_from(le(&buf[p + 1..p + 5])).ok()?;
                need(5usize.checked_add(n)?)?;
                (Ele::Str(&buf[p + 5..p + 5 + n]), 5 + n)
            }
            0xf1 => {
                need(3)?;
                (Ele::Int(i64::from(le(&buf[p + 1..p + 3]) as u16 as i16)), 3)
            }
            0xf2 => {
                need(4)?;
                let u = le(&buf[p + 1..p + 4]) as u32;
                (Ele::Int(i64::from(((u << 8) as i32) >> 8)), 4)
            }
            0xf3 => {
                need(5)?;
                (Ele::Int(i64::from(le(&buf[p + 1..p + 5]) as u32 as i32)), 5)
            }
            0xf4 => {
                need(9)?;
                (Ele::Int(le(&buf[p + 1..p + 9]) as i64), 9)
            }
            _ => return None,
        }
    };
    Some((ele, l))
}

/// Read a backlen ending at `last` (inclusive), scanning backwards.
fn read_backlen(buf: &[u8], last: usize, lower: usize) -> Option<(usize, usize)> {
    let mut v = 0usize;
    let mut shift = 0;
    let mut i = last;
    loop {
        if i < lower || shift > 28 {
            return None;
        }
        let b = buf[i];
        v |= usize::from(b & 127) << shift;
        if b & 128 == 0 {
            return Some((v, last - i + 1));
        }
        shift += 7;
        if i == 0 {
            return None;
        }
        i -= 1;
    }
}

/// Decode and fully validate a listpack (lpValidateIntegrity, deep): header
/// size, end byte, every entry's encoding, bounds and backlen, and the
/// header count. Returns the elements.
pub fn lp_decode(buf: &[u8]) -> Result<Vec<Ele<'_>>, &'static str> {
    if buf.len() < LP_HDR + 1 {
        return Err("listpack too short");
    }
    if le(&buf[..4]) != buf.len() as u64 {
        return Err("listpack size mismatch");
    }
    let end = buf.len() - 1;
    if buf[end] != LP_EOF {
        return Err("listpack without end byte");
    }
    let count = le(&buf[4..6]) as u16;
    let mut out = Vec::with_capacity(if count == LP_COUNT_UNKNOWN {
        16
    } else {
        usize::from(count)
    });
    let mut p = LP_HDR;
    while p < end {
        let (ele, l) = lp_entry(buf, p, end).ok_or("bad listpack entry")?;
        let bl = backlen_size(l);
        if p + l + bl > end {
            return Err("listpack entry out of range");
        }
        let (v, n) = read_backlen(buf, p + l + bl - 1, p + l).ok_or("bad listpack backlen")?;
        if v != l || n != bl {
            return Err("listpack backlen mismatch");
        }
        out.push(ele);
        p += l + bl;
    }
    if count != LP_COUNT_UNKNOWN && usize::from(count) != out.len() {
        return Err("listpack count mismatch");
    }
    Ok(out)
}

/// Bytes a string element takes in a listpack (stream node sizes).
pub fn lp_str_bytes(s: &[u8]) -> usize {
    let mut b = LpBuilder::new();
    b.str(s);
    b.bytes() - LP_HDR - 1
}

// ---------------------------------------------------------------- intset

/// Encode sorted distinct integers as an intset.
pub fn intset_encode(v: &[i64]) -> Vec<u8> {
    let enc: usize = if v.iter().all(|&x| i16::try_from(x).is_ok()) {
        2
    } else if v.iter().all(|&x| i32::try_from(x).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + enc * v.len());
    out.extend_from_slice(&(enc as u32).to_le_bytes());
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for &x in v {
        out.extend_from_slice(&x.to_le_bytes()[..enc]);
    }
    out
}

/// Decode and validate an intset (intsetValidateIntegrity, deep): known
/// encoding, exact size, not empty, strictly ascending.
pub fn intset_decode(buf: &[u8]) -> Result<Vec<i64>, &'static str> {
    if buf.len() < 8 {
        return Err("intset too short");
    }
    let enc = le(&buf[..4]) as usize;
    if !matches!(enc, 2 | 4 | 8) {
        return Err("bad intset encoding");
    }
    let n = le(&buf[4..8]) as usize;
    if n == 0 {
        return Err("empty intset");
    }
    if n.checked_mul(enc).and_then(|x| x.checked_add(8)) != Some(buf.len()) {
        return Err("intset size mismatch");
    }
    let mut out = Vec::with_capacity(n);
    for c in buf[8..].chunks_exact(enc) {
        let v = match enc {
            2 => i64::from(le(c) as u16 as i16),
            4 => i64::from(le(c) as u32 as i32),
            _ => le(c) as i64,
        };
        if out.last().is_some_and(|&p| p >= v) {
            return Err("intset not sorted");
        }
        out.push(v);
    }
    Ok(out)
}

// ---------------------------------------------------------------- ziplist

/// Decode and validate a ziplist (ziplistValidateIntegrity, deep).
pub fn zl_decode(buf: &[u8]) -> Result<Vec<Ele<'_>>, &'static str> {
    const HDR: usize = 10;
    if buf.len() < HDR + 1 {
        return Err("ziplist too short");
    }
    if le(&buf[..4]) != buf.len() as u64 {
        return Err("ziplist size mismatch");
    }
    let tail = le(&buf[4..8]) as usize;
    let count = le(&buf[8..10]) as u16;
    let end = buf.len() - 1;
    if buf[end] != 0xff || tail > end {
        return Err("bad ziplist tail");
    }
    let mut out = Vec::new();
    let mut p = HDR;
    let mut prev_len = 0usize;
    let mut last_start = HDR;
    while p < end {
        let start = p;
        let pl = if buf[p] < 254 {
            p += 1;
            usize::from(buf[start])
        } else if buf[p] == 254 {
            if p + 5 > end {
                return Err("ziplist entry out of range");
            }
            p += 5;
            le(&buf[start + 1..start + 5]) as usize
        } else {
            return Err("bad ziplist prevlen");
        };
        if pl != prev_len {
            return Err("ziplist prevlen mismatch");
        }
        if p >= end {
            return Err("ziplist entry out of range");
        }
        let b = buf[p];
        let need = |h: usize, n: usize| -> Result<(), &'static str> {
            if p + h + n > end {
                Err("ziplist entry out of range")
            } else {
                Ok(())
            }
        };
        let (ele, total) = match b >> 6 {
            0 => {
                let n = usize::from(b & 0x3f);
                need(1, n)?;
                (Ele::Str(&buf[p + 1..p + 1 + n]), 1 + n)
            }
            1 => {
                need(2, 0)?;
                let n = (usize::from(b & 0x3f) << 8) | usize::from(buf[p + 1]);
                need(2, n)?;
                (Ele::Str(&buf[p + 2..p + 2 + n]), 2 + n)
            }
            2 => {
                need(5, 0)?;
                let n =
                    u32::from_be_bytes([buf[p + 1], buf[p + 2], buf[p + 3], buf[p + 4]]) as usize;
                need(5, n)?;
                (Ele::Str(&buf[p + 5..p + 5 + n]), 5 + n)
            }
            _ => {
                let (v, n) = match b {
                    0xc0 => {
                        need(1, 2)?;
                        (i64::from(le(&buf[p + 1..p + 3]) as u16 as i16), 2)
                    }
                    0xd0 => {
                        need(1, 4)?;
                        (i64::from(le(&buf[p + 1..p + 5]) as u32 as i32), 4)
                    }
                    0xe0 => {
                        need(1, 8)?;
                        (le(&buf[p + 1..p + 9]) as i64, 8)
                    }
                    0xf0 => {
                        need(1, 3)?;
                        let u = le(&buf[p + 1..p + 4]) as u32;
                        (i64::from(((u << 8) as i32) >> 8), 3)
                    }
                    0xfe => {
                        need(1, 1)?;
                        (i64::from(buf[p + 1] as i8), 1)
                    }
                    0xf1..=0xfd => (i64::from(b & 0x0f) - 1, 0),
                    _ => return Err("bad ziplist encoding"),
                };
                (Ele::Int(v), 1 + n)
            }
        };
        p += total;
        prev_len = p - start;
        last_start = start;
        out.push(ele);
    }
    let expect_tail = if out.is_empty() { HDR } else { last_start };
    if tail != expect_tail {
        return Err("ziplist tail mismatch");
    }
    if count != u16::MAX && usize::from(count) != out.len() {
        return Err("ziplist count mismatch");
    }
    Ok(out)
}

// ---------------------------------------------------------------- zipmap

/// One zipmap field and its value.
pub type ZipmapPair<'a> = (&'a [u8], &'a [u8]);

/// Decode and validate a zipmap (RDB < 4 hashes; zipmapValidateIntegrity,
/// deep): field/value pairs in order.
pub fn zipmap_decode(buf: &[u8]) -> Result<Vec<ZipmapPair<'_>>, &'static str> {
    const BIGLEN: u8 = 254;
    const END: u8 = 255;
    if buf.len() < 2 || buf[buf.len() - 1] != END {
        return Err("bad zipmap");
    }
    let declared = buf[0];
    let end = buf.len() - 1;
    let len_at = |p: usize| -> Result<(usize, usize), &'static str> {
        match buf.get(p) {
            Some(&b) if b < BIGLEN => Ok((usize::from(b), 1)),
            Some(&BIGLEN) if p + 5 <= end => Ok((le(&buf[p + 1..p + 5]) as usize, 5)),
            _ => Err("bad zipmap length"),
        }
    };
    let mut out = Vec::new();
    let mut p = 1;
    while p < end {
        let (kl, n) = len_at(p)?;
        p += n;
        if p + kl > end {
            return Err("zipmap key out of range");
        }
        let k = &buf[p..p + kl];
        p += kl;
        let (vl, n) = len_at(p)?;
        p += n;
        let free = usize::from(*buf.get(p).ok_or("zipmap truncated")?);
        p += 1;
        if p + vl + free > end {
            return Err("zipmap value out of range");
        }
        out.push((k, &buf[p..p + vl]));
        p += vl + free;
    }
    if declared != BIGLEN && usize::from(declared) != out.len() {
        return Err("zipmap count mismatch");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_every_encoding_roundtrips() {
        let ints = [
            0i64,
            1,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            i32::MAX as i64,
            i32::MIN as i64,
            1 << 40,
            i64::MAX,
            i64::MIN,
        ];
        let strs: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"a".to_vec(),
            vec![b'x'; 63],
            vec![b'y'; 64],
            vec![b'z'; 4095],
            vec![b'w'; 4096],
            vec![b'v'; 70000],
            b"007".to_vec(),
            b"-0".to_vec(),
        ];
        let mut b = LpBuilder::new();
        for &i in &ints {
            b.int(i);
        }
        for s in &strs {
            b.str(s);
        }
        b.str(b"12345");
        let lp = b.finish();
        let got = lp_decode(&lp).expect("valid");
        assert_eq!(got.len(), ints.len() + strs.len() + 1);
        for (k, &i) in ints.iter().enumerate() {
            assert_eq!(got[k], Ele::Int(i));
        }
        for (k, s) in strs.iter().enumerate() {
            assert_eq!(got[ints.len() + k], Ele::Str(s));
        }
        assert_eq!(got[got.len() - 1], Ele::Int(12345));
        // Every truncation and most byte flips are rejected, none panics.
        for cut in 0..lp.len() {
            assert!(lp_decode(&lp[..cut]).is_err());
        }
        for i in 0..lp.len().min(3000) {
            let mut c = lp.clone();
            c[i] ^= 0x5a;
            let _ = lp_decode(&c);
        }
    }

    #[test]
    fn known_listpack_bytes() {
        // Redis: RPUSH l a 1 -> listpack of "a" and int 1.
        let mut b = LpBuilder::new();
        b.str(b"a");
        b.str(b"1");
        assert_eq!(
            b.finish(),
            vec![12, 0, 0, 0, 2, 0, 0x81, b'a', 2, 1, 1, 0xff]
        );
    }

    #[test]
    fn intset_roundtrip_and_validation() {
        for v in [
            vec![1i64, 2, 3],
            vec![-70000, 5],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            let e = intset_encode(&v);
            assert_eq!(intset_decode(&e).expect("ok"), v);
            for cut in 0..e.len() {
                assert!(intset_decode(&e[..cut]).is_err());
            }
        }
        assert!(intset_decode(&intset_encode(&[])).is_err());
        assert!(intset_decode(&[2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 3, 0]).is_err()); // unsorted
        assert!(intset_decode(&[2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 5, 0]).is_err()); // duplicate
    }

    #[test]
    fn zipmap_decode_known() {
        // zmlen 2, "foo" -> "bar" (1 free byte), "k" -> "" .
        let z = [
            2, 3, b'f', b'o', b'o', 3, 1, b'b', b'a', b'r', 0, 1, b'k', 0, 0, 255,
        ];
        let got = zipmap_decode(&z).expect("ok");
        assert_eq!(got, vec![(&b"foo"[..], &b"bar"[..]), (&b"k"[..], &b""[..])]);
        for cut in 0..z.len() {
            assert!(zipmap_decode(&z[..cut]).is_err());
        }
        let mut bad = z;
        bad[0] = 3;
        assert!(zipmap_decode(&bad).is_err());
    }

    #[test]
    fn ziplist_decode_known() {
        // ziplist of "a" and int 5 (immediate) built by hand.
        let mut z = vec![0u8; 10];
        z.extend_from_slice(&[0, 0x01, b'a']); // prevlen 0, str len 1
        z.extend_from_slice(&[3, 0xf6]); // prevlen 3, imm 5
        z.push(0xff);
        let n = z.len() as u32;
        z[..4].copy_from_slice(&n.to_le_bytes());
        z[4..8].copy_from_slice(&13u32.to_le_bytes());
        z[8..10].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(
            zl_decode(&z).expect("ok"),
            vec![Ele::Str(b"a"), Ele::Int(5)]
        );
        for cut in 0..z.len() {
            assert!(zl_decode(&z[..cut]).is_err());
        }
        let mut bad = z.clone();
        bad[13] = 4;
        assert!(zl_decode(&bad).is_err());
    }
}
