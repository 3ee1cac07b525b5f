//! HyperLogLog: Redis 7's representation and algorithms (hyperloglog.c), as
//! pure functions over the bytes of a string value, so an HLL moves between
//! Redis and redsim through GET/SET byte for byte and counts agree exactly.
//!
//! Layout: a 16-byte header `HYLL`, encoding (0 dense, 1 sparse), 3 unused
//! bytes, the cached cardinality (8 bytes little endian; its top bit set means
//! "stale"), then the registers. 16384 registers (14-bit index taken from the
//! low bits of MurmurHash64A(seed 0xadc83b19)), each the length of the
//! 0...1 run in the other 50 bits (1..=51).
//!
//! - Dense: 6 bits per register, packed from the LSB up, 12288 bytes.
//! - Sparse: run-length opcodes `00xxxxxx` ZERO (1..64 zero registers),
//!   `01xxxxxx yyyyyyyy` XZERO (1..16384 zero registers), `1vvvvvxx` VAL
//!   (value 1..32 repeated 1..4 times). Promoted to dense when a value above 32
//!   is needed or the string would outgrow `hll-sparse-max-bytes`.
//!
//! Values come from clients (SET, SETRANGE) and are never trusted: every read
//! is bounds-checked, and decoding a sparse HLL rejects any opcode that would
//! run past register 16383 (Redis 7.0.15 as Debian ships it, with the
//! CVE-2025-32023 fix; the unpatched code let a trailing opcode through).
//!
//! An XZERO opcode cut off at the end of the string reads the byte after it:
//! sds's terminator in Redis. [`Editor`] keeps that byte while a command edits
//! the value, so one command behaves exactly like Redis; the read-only
//! functions read 0 there. Known divergence: when such a cut opcode is split
//! (only possible in corrupt input), Redis writes one byte into its terminator
//! and a *later* command on the same value may read it back; redsim does not
//! store bytes past the length, so it reads 0.

/// Register index bits.
pub const P: u32 = 14;
/// Hash bits used for the run length.
pub const Q: u32 = 64 - P;
pub const REGISTERS: usize = 1 << P;
const P_MASK: u64 = (REGISTERS as u64) - 1;
const BITS: usize = 6;
const REGISTER_MAX: u64 = (1 << BITS) - 1;
pub const HDR_SIZE: usize = 16;
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * BITS).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
const MAX_ENCODING: u8 = 1;
const SEED: u32 = 0xadc8_3b19;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7; // 0.5 / ln(2)

const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: u32 = 4;
const SPARSE_ZERO_MAX_LEN: i64 = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;

/// Bytes of slack kept past the length while editing (Redis's sds terminator
/// and the room `sdsMakeRoomFor(3)` guarantees).
const SLACK: usize = 8;

/// The sparse representation does not decode to exactly 16384 registers
/// (Redis's `INVALIDOBJ Corrupted HLL object detected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

// ---------------------------------------------------------------- hashing

/// MurmurHash2, 64-bit version, as Redis has it (endian neutral).
pub fn murmur64a(key: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let len = key.len();
    // C: `seed ^ (len * m)` with `int len` promoted to uint64_t.
    let mut h = u64::from(seed) ^ (len as i32 as i64 as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// Redis's `hllPatLen`: (register index, length of the 0..01 pattern).
pub fn pat_len(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash & P_MASK) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------- header

/// Redis's `isHLLObjectOrReply` for a string's bytes: header, magic, known
/// encoding, exact dense length. (Sparse opcodes are checked as they are read.)
pub fn is_valid(data: &[u8]) -> bool {
    data.len() >= HDR_SIZE
        && &data[..4] == b"HYLL"
        && data[4] <= MAX_ENCODING
        && (data[4] != DENSE || data.len() == DENSE_SIZE)
}

/// The encoding byte of a valid HLL.
pub fn encoding(data: &[u8]) -> u8 {
    data[4]
}

/// An empty HLL as `createHLLObject` makes it: sparse, one XZERO:16384.
pub fn new_sparse() -> Vec<u8> {
    let mut s = Vec::with_capacity(HDR_SIZE + 2);
    s.extend_from_slice(b"HYLL");
    s.push(SPARSE);
    s.extend_from_slice(&[0; 11]);
    let mut aux = REGISTERS;
    while aux > 0 {
        let xzero = aux.min(SPARSE_XZERO_MAX_LEN);
        let l = xzero - 1;
        s.push((l >> 8) as u8 | 0x40);
        s.push((l & 0xff) as u8);
        aux -= xzero;
    }
    s
}

/// The cached cardinality, if its "stale" bit is clear.
pub fn cached_card(data: &[u8]) -> Option<u64> {
    if data[15] & 0x80 != 0 {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[8..16]);
    Some(u64::from_le_bytes(b))
}

pub fn set_cached_card(data: &mut [u8], card: u64) {
    data[8..16].copy_from_slice(&card.to_le_bytes());
}

// ---------------------------------------------------------------- registers

#[inline]
fn at(data: &[u8], i: usize) -> u8 {
    data.get(i).copied().unwrap_or(0)
}

/// Dense register `idx` of `regs` (the bytes after the header). The last
/// register touches the byte past the array, which contributes nothing.
#[inline]
pub fn dense_get(regs: &[u8], idx: usize) -> u8 {
    let byte = idx * BITS / 8;
    let fb = (idx * BITS) & 7;
    let b0 = u64::from(at(regs, byte));
    let b1 = u64::from(at(regs, byte + 1));
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX) as u8
}

/// Redis's HLL_DENSE_SET_REGISTER; `regs` must extend one byte past the
/// register's last byte (true for every register but the last, whose second
/// byte is left unchanged anyway).
#[inline]
fn dense_put(regs: &mut [u8], idx: usize, val: u8) {
    let byte = idx * BITS / 8;
    let fb = (idx * BITS) & 7;
    let fb8 = 8 - fb;
    let v = u64::from(val);
    regs[byte] &= !(REGISTER_MAX << fb) as u8;
    regs[byte] |= (v << fb) as u8;
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !(REGISTER_MAX >> fb8) as u8;
        *b |= (v >> fb8) as u8;
    }
}

#[inline]
fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}

#[inline]
fn is_xzero(b: u8) -> bool {
    b & 0xc0 == 0x40
}

#[inline]
fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}

#[inline]
fn zero_len(b: u8) -> i64 {
    i64::from(b & 0x3f) + 1
}

#[inline]
fn xzero_len(b0: u8, b1: u8) -> i64 {
    ((i64::from(b0 & 0x3f) << 8) | i64::from(b1)) + 1
}

#[inline]
fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

#[inline]
fn val_len(b: u8) -> i64 {
    i64::from(b & 0x3) + 1
}

/// (registers covered, opcode bytes) of the opcode starting with `b`;
/// `b1` is the byte after it (read only by XZERO).
#[inline]
fn op_span(b: u8, b1: u8) -> (i64, usize) {
    if is_zero(b) {
        (zero_len(b), 1)
    } else if is_xzero(b) {
        (xzero_len(b, b1), 2)
    } else {
        (val_len(b), 1)
    }
}

#[inline]
fn val_op(val: u8, len: u32) -> u8 {
    ((val - 1) << 2 | (len as u8 - 1)) | 0x80
}

/// Writes a ZERO or XZERO opcode for `len` zero registers; returns its size.
fn zero_op(out: &mut [u8], len: i64) -> usize {
    if len > SPARSE_ZERO_MAX_LEN {
        let l = len - 1;
        out[0] = (l >> 8) as u8 | 0x40;
        out[1] = (l & 0xff) as u8;
        2
    } else {
        out[0] = (len - 1) as u8;
        1
    }
}

// ---------------------------------------------------------------- editing

/// An HLL string being modified: the bytes, plus the few bytes past its
/// length that Redis's sds has (the terminator, read by an XZERO opcode cut
/// at the end, and the room an opcode split writes into).
pub struct Editor {
    buf: Vec<u8>,
    len: usize,
}

impl Editor {
    /// Takes a validated HLL string (see [`is_valid`]).
    pub fn new(mut data: Vec<u8>) -> Editor {
        let len = data.len();
        data.resize(len + SLACK, 0);
        Editor { buf: data, len }
    }

    pub fn into_inner(mut self) -> Vec<u8> {
        self.buf.truncate(self.len);
        self.buf
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn encoding(&self) -> u8 {
        self.buf[4]
    }

    /// HLL_INVALIDATE_CACHE.
    pub fn invalidate_cache(&mut self) {
        self.buf[15] |= 0x80;
    }

    /// Redis's `hllAdd`: true when a register changed.
    pub fn add(&mut self, ele: &[u8], max_bytes: u64) -> Result<bool, Corrupt> {
        let (index, count) = pat_len(ele);
        self.set(index, count, max_bytes)
    }

    /// Raise register `index` to `count` (no-op if already >= count).
    pub fn set(&mut self, index: usize, count: u8, max_bytes: u64) -> Result<bool, Corrupt> {
        match self.encoding() {
            DENSE => Ok(self.dense_set(index, count)),
            SPARSE => self.sparse_set(index, count, max_bytes),
            _ => Err(Corrupt),
        }
    }

    fn dense_set(&mut self, index: usize, count: u8) -> bool {
        let regs = &mut self.buf[HDR_SIZE..];
        if count > dense_get(regs, index) {
            dense_put(regs, index, count);
            true
        } else {
            false
        }
    }

    /// sdsIncrLen: the new length gets a terminator.
    fn incr_len(&mut self, delta: i64) {
        self.len = (self.len as i64 + delta) as usize;
        if self.buf.len() < self.len + SLACK {
            self.buf.resize(self.len + SLACK, 0);
        }
        self.buf[self.len] = 0;
    }

    /// Redis's `hllSparseToDense`. Ok(true) when converted, Ok(false) when
    /// already dense. Keeps magic, unused bytes and cached cardinality.
    pub fn to_dense(&mut self) -> Result<bool, Corrupt> {
        if self.encoding() == DENSE {
            return Ok(false);
        }
        let mut dense = vec![0u8; DENSE_SIZE + SLACK];
        dense[..HDR_SIZE].copy_from_slice(&self.buf[..HDR_SIZE]);
        dense[4] = DENSE;
        let mut idx: i64 = 0;
        let mut p = HDR_SIZE;
        let end = self.len;
        let regs = &mut dense[HDR_SIZE..];
        while p < end {
            let b = self.buf[p];
            let (runlen, oplen) = op_span(b, self.buf[p + 1]);
            if runlen + idx > REGISTERS as i64 {
                return Err(Corrupt);
            }
            if is_val(b) {
                for _ in 0..runlen {
                    dense_put(regs, idx as usize, val_value(b));
                    idx += 1;
                }
            } else {
                idx += runlen;
            }
            p += oplen;
        }
        if idx != REGISTERS as i64 {
            return Err(Corrupt);
        }
        self.buf = dense;
        self.len = DENSE_SIZE;
        Ok(true)
    }

    /// Redis's `hllSparseSet`, step for step (the same opcode splits and
    /// merges, so the bytes match), promoting to dense when `count` > 32 or
    /// the string would grow past `max_bytes`.
    pub fn sparse_set(&mut self, index: usize, count: u8, max_bytes: u64) -> Result<bool, Corrupt> {
        if count == 0 {
            return Ok(false);
        }
        if count > SPARSE_VAL_MAX_VALUE {
            return self.promote(index, count);
        }
        if self.buf.len() < self.len + SLACK {
            self.buf.resize(self.len + SLACK, 0);
        }
        let index = index as i64;
        let sparse = HDR_SIZE;
        let mut end = self.len;
        let mut p = sparse;

        // Step 1: find the opcode covering `index`.
        let mut first: i64 = 0;
        let mut prev: Option<usize> = None;
        let mut span: i64 = 0;
        while p < end {
            let b = self.buf[p];
            let mut oplen = 1;
            if is_zero(b) {
                span = zero_len(b);
            } else if is_val(b) {
                span = val_len(b);
            } else {
                span = xzero_len(b, self.buf[p + 1]);
                oplen = 2;
            }
            if index < first + span {
                break;
            }
            prev = Some(p);
            p += oplen;
            first += span;
        }
        if span == 0 || p >= end {
            return Err(Corrupt);
        }
        let op = self.buf[p];
        let next = if is_xzero(op) { p + 2 } else { p + 1 };
        let next = if next >= end { None } else { Some(next) };
        let (zero, xzero) = (is_zero(op), is_xzero(op));
        let runlen = if zero {
            zero_len(op)
        } else if xzero {
            xzero_len(op, self.buf[p + 1])
        } else {
            val_len(op)
        };

        // Step 2: the trivial cases, else the split sequence.
        let mut done = false;
        if !zero && !xzero {
            if val_value(op) >= count {
                return Ok(false);
            }
            if runlen == 1 {
                self.buf[p] = val_op(count, 1);
                done = true;
            }
        }
        if !done && zero && runlen == 1 {
            self.buf[p] = val_op(count, 1);
            done = true;
        }
        if !done {
            let mut seq = [0u8; 5];
            let mut n = 0;
            let last = first + span - 1;
            if zero || xzero {
                if index != first {
                    n += zero_op(&mut seq[n..], index - first);
                }
                seq[n] = val_op(count, 1);
                n += 1;
                if index != last {
                    n += zero_op(&mut seq[n..], last - index);
                }
            } else {
                let curval = val_value(op);
                if index != first {
                    seq[n] = val_op(curval, (index - first) as u32);
                    n += 1;
                }
                seq[n] = val_op(count, 1);
                n += 1;
                if index != last {
                    seq[n] = val_op(curval, (last - index) as u32);
                    n += 1;
                }
            }

            // Step 3: put the sequence in place of the opcode.
            let oldlen = if xzero { 2 } else { 1 };
            let delta = n as i64 - oldlen;
            if delta > 0 && (self.len as u64).saturating_add(delta as u64) > max_bytes {
                return self.promote(index as usize, count);
            }
            if delta != 0 {
                if let Some(nx) = next {
                    let to = (nx as i64 + delta) as usize;
                    if self.buf.len() < to + (end - nx) + SLACK {
                        self.buf.resize(to + (end - nx) + SLACK, 0);
                    }
                    self.buf.copy_within(nx..end, to);
                }
            }
            self.incr_len(delta);
            // An XZERO cut at the end (corrupt input) makes this write one
            // byte past the new length, into the terminator, as in Redis
            // (kept until the command ends: see the module docs).
            self.buf[p..p + n].copy_from_slice(&seq[..n]);
            end = (end as i64 + delta) as usize;
        }

        // Step 4: merge adjacent VAL opcodes of equal value (up to 5 opcodes
        // from the one before the change).
        let mut p = prev.unwrap_or(sparse);
        let mut scanlen = 5;
        while p < end && scanlen > 0 {
            scanlen -= 1;
            let b = self.buf[p];
            if is_xzero(b) {
                p += 2;
                continue;
            } else if is_zero(b) {
                p += 1;
                continue;
            }
            if p + 1 < end && is_val(self.buf[p + 1]) {
                let v1 = val_value(b);
                let v2 = val_value(self.buf[p + 1]);
                if v1 == v2 {
                    let len = val_len(b) + val_len(self.buf[p + 1]);
                    if len <= i64::from(SPARSE_VAL_MAX_LEN) {
                        self.buf[p + 1] = val_op(v1, len as u32);
                        // memmove(p, p+1, end-p): the byte at `end` moves too.
                        self.buf.copy_within(p + 1..end + 1, p);
                        self.incr_len(-1);
                        end -= 1;
                        continue;
                    }
                }
            }
            p += 1;
        }
        self.invalidate_cache();
        Ok(true)
    }

    /// The `promote:` label of hllSparseSet: convert, then set densely.
    fn promote(&mut self, index: usize, count: u8) -> Result<bool, Corrupt> {
        self.to_dense()?;
        // Always a change: sparse registers hold at most 32 and the opcode
        // covering `index` held less than `count`.
        Ok(self.dense_set(index, count))
    }
}

// ---------------------------------------------------------------- counting

/// Register-value histogram. Sparse: Err when the opcodes do not cover
/// exactly 16384 registers (the histogram is still filled, like Redis).
pub fn histogram(data: &[u8], h: &mut [u32; 64]) -> Result<(), Corrupt> {
    let regs = &data[HDR_SIZE..];
    if encoding(data) == DENSE {
        for chunk in regs.chunks_exact(12).take(REGISTERS / 16) {
            let r = |i: usize| u32::from(chunk[i]);
            let vals = [
                r(0) & 63,
                (r(0) >> 6 | r(1) << 2) & 63,
                (r(1) >> 4 | r(2) << 4) & 63,
                (r(2) >> 2) & 63,
                r(3) & 63,
                (r(3) >> 6 | r(4) << 2) & 63,
                (r(4) >> 4 | r(5) << 4) & 63,
                (r(5) >> 2) & 63,
                r(6) & 63,
                (r(6) >> 6 | r(7) << 2) & 63,
                (r(7) >> 4 | r(8) << 4) & 63,
                (r(8) >> 2) & 63,
                r(9) & 63,
                (r(9) >> 6 | r(10) << 2) & 63,
                (r(10) >> 4 | r(11) << 4) & 63,
                (r(11) >> 2) & 63,
            ];
            for v in vals {
                h[v as usize] += 1;
            }
        }
        return Ok(());
    }
    let mut idx: i64 = 0;
    let mut p = 0;
    while p < regs.len() {
        let b = regs[p];
        let (n, oplen) = op_span(b, at(regs, p + 1));
        if n + idx > REGISTERS as i64 {
            return Err(Corrupt);
        }
        idx += n;
        let v = if is_val(b) { val_value(b) as usize } else { 0 };
        h[v] += n as u32;
        p += oplen;
    }
    if idx != REGISTERS as i64 {
        return Err(Corrupt);
    }
    Ok(())
}

/// Histogram of raw byte registers (PFCOUNT over several keys).
pub fn raw_histogram(max: &[u8; REGISTERS], h: &mut [u32; 64]) {
    for &v in max {
        h[v as usize & 63] += 1;
    }
}

/// Ertl's sigma (hllSigma).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_prime = z;
        z += x * y;
        y += y;
        if z_prime == z {
            return z;
        }
    }
}

/// Ertl's tau (hllTau). `pow(1 - x, 2)` is the exact product, as compilers
/// emit it.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_prime = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if z_prime == z {
            return z / 3.0;
        }
    }
}

/// Redis 7's `hllCount` estimator (Ertl's improved raw estimator) over a
/// histogram. Registers above Q+1 (only in corrupt dense values) count for
/// nothing, as in Redis; an estimate that does not fit an i64 comes out as
/// `llroundl`'s overflow value, 1<<63, as Redis's does on x86-64.
pub fn estimate(h: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(h[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(h[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(h[0]) / m);
    let e = ALPHA_INF * m * m / z;
    let r = e.round();
    if r.is_nan() || r.abs() >= 9_223_372_036_854_775_808.0 {
        1 << 63
    } else {
        r as i64 as u64
    }
}

/// Redis's `hllCount` of a valid HLL string: Err for a corrupt sparse one.
pub fn count(data: &[u8]) -> Result<u64, Corrupt> {
    let mut h = [0u32; 64];
    histogram(data, &mut h)?;
    Ok(estimate(&h))
}

/// Redis's `hllMerge`: max[i] = MAX(max[i], register i).
pub fn merge(max: &mut [u8; REGISTERS], data: &[u8]) -> Result<(), Corrupt> {
    let regs = &data[HDR_SIZE..];
    if encoding(data) == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            let v = dense_get(regs, i);
            if v > *m {
                *m = v;
            }
        }
        return Ok(());
    }
    let mut i: i64 = 0;
    let mut p = 0;
    while p < regs.len() {
        let b = regs[p];
        let (runlen, oplen) = op_span(b, at(regs, p + 1));
        if runlen + i > REGISTERS as i64 {
            return Err(Corrupt);
        }
        if is_val(b) {
            let regval = val_value(b);
            for _ in 0..runlen {
                let m = &mut max[i as usize];
                if regval > *m {
                    *m = regval;
                }
                i += 1;
            }
        } else {
            i += runlen;
        }
        p += oplen;
    }
    if i != REGISTERS as i64 {
        return Err(Corrupt);
    }
    Ok(())
}

/// PFDEBUG DECODE of a sparse HLL: "Z:16384", "z:3 v:2,1 ...".
pub fn decode_sparse(data: &[u8]) -> String {
    use std::fmt::Write as _;
    let regs = &data[HDR_SIZE..];
    let mut s = String::new();
    let mut p = 0;
    while p < regs.len() {
        let b = regs[p];
        if is_zero(b) {
            let _ = write!(s, "z:{} ", zero_len(b));
            p += 1;
        } else if is_xzero(b) {
            let _ = write!(s, "Z:{} ", xzero_len(b, at(regs, p + 1)));
            p += 2;
        } else {
            let _ = write!(s, "v:{},{} ", val_value(b), val_len(b));
            p += 1;
        }
    }
    s.trim_matches(' ').to_string()
}

/// The 16384 registers of a dense HLL string.
pub fn dense_registers(data: &[u8]) -> Vec<u8> {
    let regs = &data[HDR_SIZE..];
    (0..REGISTERS).map(|i| dense_get(regs, i)).collect()
}

/// PFSELFTEST: Redis's two checks. Register access (1000 rounds of random
/// values set and read back), then 10 million elements added to a dense and
/// a sparse HLL side by side, checking at 1, 10, 100... that small ones stay
/// sparse, that both agree, and that the error is within 6 standard errors.
/// `rand` supplies randomness.
pub fn selftest(mut rand: impl FnMut() -> u64, max_bytes: u64) -> Result<(), String> {
    let mut dense = vec![0u8; DENSE_SIZE + SLACK];
    let mut bytes = [0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, b) in bytes.iter_mut().enumerate() {
            let r = (rand() & REGISTER_MAX) as u8;
            *b = r;
            dense_put(&mut dense[HDR_SIZE..], i, r);
        }
        for (i, &b) in bytes.iter().enumerate() {
            let v = dense_get(&dense[HDR_SIZE..], i);
            if v != b {
                return Err(format!("TESTFAILED Register {i} should be {b} but is {v}"));
            }
        }
    }

    dense.fill(0);
    dense[..4].copy_from_slice(b"HYLL");
    dense[4] = DENSE;
    let mut dense = Editor {
        buf: dense,
        len: DENSE_SIZE,
    };
    let mut sparse = Editor::new(new_sparse());
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint: u64 = 1;
    let seed = rand();
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        dense
            .add(&ele, max_bytes)
            .map_err(|_| "TESTFAILED dense add")?;
        sparse
            .add(&ele, max_bytes)
            .map_err(|_| "TESTFAILED sparse add")?;
        if j != checkpoint {
            continue;
        }
        if j < max_bytes / 2 && sparse.encoding() != SPARSE {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let dc = count(dense.bytes()).map_err(|_| "TESTFAILED dense count")?;
        let sc = count(sparse.bytes()).map_err(|_| "TESTFAILED sparse count")?;
        if dc != sc {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = (checkpoint as i64 - dc as i64).unsigned_abs();
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add_all(ed: &mut Editor, els: impl IntoIterator<Item = Vec<u8>>, max: u64) -> u64 {
        let mut n = 0;
        for e in els {
            if ed.add(&e, max).expect("valid HLL") {
                n += 1;
            }
        }
        n
    }

    #[test]
    fn murmur_known_values() {
        // Values produced by Redis's MurmurHash64A.
        assert_eq!(murmur64a(b"", 0), 0);
        let h = murmur64a(b"hello", SEED);
        assert_eq!(murmur64a(b"hello", SEED), h);
        assert_ne!(murmur64a(b"hello", 0), h);
    }

    #[test]
    fn empty_hll_layout() {
        let s = new_sparse();
        assert_eq!(s, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
        assert!(is_valid(&s));
        assert_eq!(count(&s), Ok(0));
        assert_eq!(decode_sparse(&s), "Z:16384");
    }

    #[test]
    fn dense_register_roundtrip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR_SIZE];
        for i in 0..REGISTERS {
            dense_put(&mut regs, i, (i * 7 % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i * 7 % 64) as u8);
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sp = Editor::new(new_sparse());
        let mut de = Editor::new(new_sparse());
        de.to_dense().expect("valid HLL");
        for n in 0..5000u32 {
            let e = format!("ele:{n}").into_bytes();
            let a = sp.add(&e, 1 << 30).expect("valid HLL");
            let b = de.add(&e, 1 << 30).expect("valid HLL");
            assert_eq!(a, b);
            if n % 97 == 0 {
                assert_eq!(count(sp.bytes()), count(de.bytes()));
            }
        }
        assert_eq!(sp.encoding(), SPARSE);
        let mut conv = Editor::new(sp.bytes().to_vec());
        conv.to_dense().expect("valid HLL");
        assert_eq!(&conv.bytes()[HDR_SIZE..], &de.bytes()[HDR_SIZE..]);
        let c = count(de.bytes()).expect("valid HLL");
        assert!((4800..5200).contains(&c), "{c}");
    }

    #[test]
    fn promotion_at_max_bytes() {
        let mut ed = Editor::new(new_sparse());
        let mut i = 0;
        while ed.encoding() == SPARSE {
            assert!(ed.bytes().len() <= 300);
            ed.add(format!("{i}").as_bytes(), 300).expect("valid HLL");
            i += 1;
        }
        assert_eq!(ed.bytes().len(), DENSE_SIZE);
    }

    #[test]
    fn merge_and_raw_count() {
        let mut a = Editor::new(new_sparse());
        let mut b = Editor::new(new_sparse());
        add_all(
            &mut a,
            (0..1000).map(|i| format!("a{i}").into_bytes()),
            3000,
        );
        add_all(
            &mut b,
            (0..1000).map(|i| format!("b{i}").into_bytes()),
            3000,
        );
        let mut max = [0u8; REGISTERS];
        merge(&mut max, a.bytes()).expect("valid HLL");
        merge(&mut max, b.bytes()).expect("valid HLL");
        let mut h = [0u32; 64];
        raw_histogram(&max, &mut h);
        let c = estimate(&h);
        assert!((1900..2100).contains(&c), "{c}");
    }

    #[test]
    fn corrupt_sparse_detected() {
        let mut s = new_sparse();
        s[16] = 0x7f;
        s[17] = 0xfe; // XZERO:16383
        assert_eq!(count(&s), Err(Corrupt));
        let mut max = [0u8; REGISTERS];
        assert_eq!(merge(&mut max, &s), Err(Corrupt));
        let mut ed = Editor::new(s.clone());
        assert_eq!(ed.to_dense(), Err(Corrupt));
    }

    #[test]
    fn estimator_extremes() {
        let mut h = [0u32; 64];
        h[0] = REGISTERS as u32;
        assert_eq!(estimate(&h), 0);
        let mut h = [0u32; 64];
        h[63] = REGISTERS as u32; // corrupt dense: z == 0
        assert_eq!(estimate(&h), 1 << 63);
    }

    /// Deterministic xorshift for the fuzz tests.
    fn xs(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    /// Random byte flips (and truncations/extensions) of valid HLLs, then
    /// every operation: never a panic, lengths stay consistent.
    #[test]
    fn fuzz_corrupted_hlls_never_panic() {
        let mut bases = Vec::new();
        for (n, max) in [
            (0u32, 3000u64),
            (3, 3000),
            (40, 3000),
            (400, 3000),
            (3000, 3000),
            (50, 20),
        ] {
            let mut ed = Editor::new(new_sparse());
            for i in 0..n {
                ed.add(format!("x{i}").as_bytes(), max).expect("valid HLL");
            }
            bases.push(ed.into_inner());
        }
        for seed in 1..=3000u64 {
            let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let base = &bases[(xs(&mut s) % bases.len() as u64) as usize];
            let mut v = base.clone();
            let flips = 1 + xs(&mut s) % 6;
            for _ in 0..flips {
                let pos = (xs(&mut s) % v.len() as u64) as usize;
                // Keep the header valid most of the time so the body is reached.
                if pos >= HDR_SIZE || xs(&mut s).is_multiple_of(4) {
                    v[pos] ^= 1 << (xs(&mut s) % 8);
                }
            }
            match xs(&mut s) % 8 {
                0 => v.truncate(HDR_SIZE + (xs(&mut s) as usize % (v.len() - HDR_SIZE + 1))),
                1 => v.extend((0..xs(&mut s) % 5).map(|_| xs(&mut s) as u8)),
                _ => {}
            }
            if !is_valid(&v) {
                continue;
            }
            let _ = count(&v);
            let mut max = [0u8; REGISTERS];
            let _ = merge(&mut max, &v);
            let _ = decode_sparse(&v);
            if encoding(&v) == DENSE {
                let _ = dense_registers(&v);
            }
            let maxb = [3000u64, 40, 0][(seed % 3) as usize];
            let mut ed = Editor::new(v.clone());
            for i in 0..20 {
                let e = format!("y{seed}:{i}");
                if ed.add(e.as_bytes(), maxb).is_err() {
                    break;
                }
                if ed.encoding() == SPARSE {
                    assert!(ed.bytes().len() as u64 <= maxb.max(v.len() as u64));
                }
            }
            let _ = ed.set((xs(&mut s) % REGISTERS as u64) as usize, 40, maxb);
            let out = ed.into_inner();
            let _ = count(&out);
            let mut ed = Editor::new(out);
            let _ = ed.to_dense();
            let mut ed2 = Editor::new(v);
            for (j, &m) in max.iter().enumerate() {
                if m != 0 && ed2.set(j, m, maxb).is_err() {
                    break;
                }
            }
        }
    }

    #[test]
    fn selftest_passes() {
        let mut s = 42u64;
        if cfg!(debug_assertions) {
            // 10M adds is slow unoptimised: the release build runs it fully.
            return;
        }
        assert_eq!(selftest(|| xs(&mut s), 3000), Ok(()));
    }
}
