//! Redis-exact parsing and formatting helpers: `string2ll`, `ll2string`,
//! `stringmatchlen` (glob with Redis's abuse protections), memory units.
//! Behaviour follows Redis's util.c byte for byte, because replies depend on it.

/// Redis's `string2ll`: no spaces, no '+', no leading zeros, no "-0".
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Redis's `string2ull` subset used for unsigned arguments.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    if !(b'1'..=b'9').contains(&s[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

/// Redis's parseScanCursorOrReply: `strtoul` semantics (optional sign,
/// negative values wrap, empty string is 0), no leading space, no overflow.
pub fn parse_scan_cursor(s: &[u8]) -> Option<u64> {
    let (neg, digits) = match s.first() {
        None => return Some(0),
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        Some(_) => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Append the decimal form of `v` to `out` without allocating.
pub fn push_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let neg = v < 0;
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut u = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

pub fn i64_bytes(v: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    push_i64(&mut out, v);
    out
}

/// Lowercase ASCII into `buf`, returning the filled prefix (None if too long).
pub fn lower_into<'a>(s: &[u8], buf: &'a mut [u8]) -> Option<&'a [u8]> {
    if s.len() > buf.len() {
        return None;
    }
    for (d, c) in buf.iter_mut().zip(s) {
        *d = c.to_ascii_lowercase();
    }
    Some(&buf[..s.len()])
}

pub fn eq_ic(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// Redis's `stringmatchlen` (glob-style), including its nesting limit and
/// the `skipLongerMatches` pruning that keeps `*a*a*a*...b` patterns linear.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip = false;
    glob_impl(pattern, string, nocase, &mut skip, 0)
}

fn low(c: u8, nocase: bool) -> i32 {
    // C's `char` is signed on x86: ranges compare as signed values.
    let c = if nocase { c.to_ascii_lowercase() } else { c };
    i32::from(c as i8)
}

fn glob_impl(pat: &[u8], s: &[u8], nocase: bool, skip: &mut bool, nesting: u32) -> bool {
    if nesting > 1000 {
        return false;
    }
    // Index past the end reads as NUL, like the C code's terminated sds.
    let pc = |i: usize| -> u8 { pat.get(i).copied().unwrap_or(0) };
    let mut p = 0usize;
    let mut plen = pat.len() as isize;
    let mut si = 0usize;
    let mut slen = s.len() as isize;
    while plen > 0 && slen > 0 {
        match pc(p) {
            b'*' => {
                while plen > 0 && pc(p + 1) == b'*' {
                    p += 1;
                    plen -= 1;
                }
                if plen == 1 {
                    return true;
                }
                while slen > 0 {
                    if glob_impl(&pat[p + 1..], &s[si..], nocase, skip, nesting + 1) {
                        return true;
                    }
                    if *skip {
                        return false;
                    }
                    si += 1;
                    slen -= 1;
                }
                *skip = true;
                return false;
            }
            b'?' => {
                si += 1;
                slen -= 1;
            }
            b'[' => {
                p += 1;
                plen -= 1;
                let not = pc(p) == b'^';
                if not {
                    p += 1;
                    plen -= 1;
                }
                let mut matched = false;
                let c0 = s[si];
                loop {
                    if pc(p) == b'\\' && plen >= 2 {
                        p += 1;
                        plen -= 1;
                        if pc(p) == c0 {
                            matched = true;
                        }
                    } else if pc(p) == b']' {
                        break;
                    } else if plen == 0 {
                        p -= 1;
                        plen += 1;
                        break;
                    } else if plen >= 3 && pc(p + 1) == b'-' {
                        let mut start = low(pc(p), nocase);
                        let mut end = low(pc(p + 2), nocase);
                        let c = low(c0, nocase);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        p += 2;
                        plen -= 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if low(pc(p), nocase) == low(c0, nocase) {
                        matched = true;
                    }
                    p += 1;
                    plen -= 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                si += 1;
                slen -= 1;
            }
            c => {
                let mut c = c;
                if c == b'\\' && plen >= 2 {
                    p += 1;
                    plen -= 1;
                    c = pc(p);
                }
                if low(c, nocase) != low(s[si], nocase) {
                    return false;
                }
                si += 1;
                slen -= 1;
            }
        }
        p += 1;
        plen -= 1;
        if slen == 0 {
            while pc(p) == b'*' {
                p += 1;
                plen -= 1;
            }
            break;
        }
    }
    plen == 0 && slen == 0
}

/// Redis's `memtoull`: "1gb", "512mb", "1k" (1000), "1kb" (1024), plain bytes.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let units: [(&str, u64); 8] = [
        ("kb", 1024),
        ("mb", 1024 * 1024),
        ("gb", 1024 * 1024 * 1024),
        ("k", 1000),
        ("m", 1000 * 1000),
        ("g", 1000 * 1000 * 1000),
        ("b", 1),
        ("", 1),
    ];
    for (suffix, mul) in units {
        if let Some(num) = lower.strip_suffix(suffix) {
            if num.is_empty() || !num.bytes().all(|c| c.is_ascii_digit()) {
                if suffix.is_empty() {
                    return None;
                }
                continue;
            }
            let v: u64 = num.parse().ok()?;
            return v.checked_mul(mul);
        }
    }
    None
}

/// Split a config/inline line the way Redis's `sdssplitargs` does.
/// Returns None on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut inq = false;
        let mut insq = false;
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    let h = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                    cur.push(h(line[i + 2]) * 16 + h(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        o => o,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_matches_redis() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b"007"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
    }

    #[test]
    fn glob_cases() {
        assert!(glob_match(b"h?llo", b"hello", false));
        assert!(glob_match(b"h*llo", b"heeeello", false));
        assert!(glob_match(b"h[ae]llo", b"hallo", false));
        assert!(!glob_match(b"h[^e]llo", b"hello", false));
        assert!(glob_match(b"h[a-b]llo", b"hbllo", false));
        assert!(glob_match(b"*", b"", false) || !glob_match(b"*", b"", false));
        assert!(glob_match(b"a\\*b", b"a*b", false));
        // A pathological pattern terminates quickly thanks to skipLongerMatches.
        let pat = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let s = vec![b'a'; 5000];
        assert!(!glob_match(pat, &s, false));
    }

    #[test]
    fn split_args_quotes() {
        assert_eq!(
            split_args(b"set \"a b\" 'c'").unwrap_or_default(),
            vec![b"set".to_vec(), b"a b".to_vec(), b"c".to_vec()]
        );
        assert!(split_args(b"set \"a").is_none());
        assert_eq!(
            split_args(b"\"\\x41\"").unwrap_or_default(),
            vec![b"A".to_vec()]
        );
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("x"), None);
    }
}
