//! Float arithmetic and formatting that must match Redis's bytes exactly.
//! Redis uses C `long double` for INCRBYFLOAT and `%.17g` for doubles; the
//! tiny C shim in `csrc/float.c` reproduces both (Rust has no f80).

use std::os::raw::{c_char, c_int};

extern "C" {
    fn redsim_ld_incr(
        a: *const c_char,
        alen: usize,
        b: *const c_char,
        blen: usize,
        out: *mut c_char,
        outcap: usize,
        outlen: *mut usize,
    ) -> c_int;
    fn redsim_fmt_g17(v: f64, out: *mut c_char, outcap: usize) -> c_int;
    fn redsim_string2d(s: *const c_char, slen: usize, d: *mut f64) -> c_int;
}

#[derive(Debug, PartialEq, Eq)]
pub enum IncrFloatError {
    ValueNotFloat,
    IncrNotFloat,
    NanOrInf,
}

/// `current + incr` in long double, formatted as Redis stores and replies it.
pub fn incr_by_float(current: &[u8], incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    let mut out = vec![0u8; 5 * 1024 + 64];
    let mut outlen = 0usize;
    // SAFETY: pointers and lengths come from live slices; the C side writes at
    // most `outcap` bytes and never retains the pointers.
    let rc = unsafe {
        redsim_ld_incr(
            current.as_ptr().cast(),
            current.len(),
            incr.as_ptr().cast(),
            incr.len(),
            out.as_mut_ptr().cast(),
            out.len(),
            &mut outlen,
        )
    };
    match rc {
        0 => {
            out.truncate(outlen);
            Ok(out)
        }
        1 => Err(IncrFloatError::ValueNotFloat),
        2 => Err(IncrFloatError::IncrNotFloat),
        3 => Err(IncrFloatError::NanOrInf),
        _ => Err(IncrFloatError::NanOrInf),
    }
}

/// Append `%.17g` of `v` (Redis's double reply format).
pub fn push_g17(out: &mut Vec<u8>, v: f64) {
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    let mut buf = [0u8; 64];
    // SAFETY: buf is 64 bytes; %.17g never needs more than ~25.
    let n = unsafe { redsim_fmt_g17(v, buf.as_mut_ptr().cast(), buf.len()) };
    let n = usize::try_from(n).unwrap_or(0).min(buf.len());
    out.extend_from_slice(&buf[..n]);
}

/// Redis's `string2d`.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let mut d = 0f64;
    // SAFETY: slice pointer/len are valid; the C side copies into its own buffer.
    let ok = unsafe { redsim_string2d(s.as_ptr().cast(), s.len(), &mut d) };
    (ok == 1).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_double_like_redis() {
        assert_eq!(incr_by_float(b"10.5", b"0.1"), Ok(b"10.6".to_vec()));
        assert_eq!(incr_by_float(b"0", b"3.0e3"), Ok(b"3000".to_vec()));
        assert_eq!(
            incr_by_float(b"abc", b"1"),
            Err(IncrFloatError::ValueNotFloat)
        );
        assert_eq!(
            incr_by_float(b"1", b" 1"),
            Err(IncrFloatError::IncrNotFloat)
        );
        assert_eq!(incr_by_float(b"1", b"inf"), Err(IncrFloatError::NanOrInf));
    }

    #[test]
    fn g17() {
        let mut v = Vec::new();
        push_g17(&mut v, 0.1);
        assert_eq!(v, b"0.10000000000000001");
    }
}
