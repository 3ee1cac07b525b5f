//! RESP request parsing and reply writing.
//!
//! Parsing is incremental and resumable: [`RequestParser`] keeps its position
//! inside the current command, so a command arriving in many reads is scanned
//! once. It never allocates from a declared length: argument spans point into
//! the caller's buffer, which grows only with bytes that actually arrived.
//! Limits and error texts follow Redis 7's `processMultibulkBuffer` /
//! `processInlineBuffer`.
//!
//! Invariant: between calls the caller's buffer starts at the first byte of the
//! command being parsed (it drains only after `Parsed::Command`/`Empty`).

use crate::util::{parse_i64, split_args};

/// Longest inline request, and longest count line, Redis accepts (64 KB).
pub const INLINE_BYTES_MAX: usize = 64 * 1024;
/// Before AUTH, Redis caps multibulk arity and bulk size.
pub const UNAUTH_ARGS_MAX: i64 = 10;
pub const UNAUTH_BULK_BYTES_MAX: i64 = 16384;

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Need more bytes; do not call again until the buffer has at least `need`.
    Incomplete { need: usize },
    /// Nothing to run (`*0`, blank inline line); drop `consumed` bytes.
    Empty { consumed: usize },
    /// A command: its arguments are in [`RequestParser::args`]; drop `consumed`.
    Command { consumed: usize },
    /// A protocol error: reply `-ERR Protocol error: <text>` and close.
    Error(String),
}

#[derive(Default, Debug)]
pub struct RequestParser {
    /// Parsing position inside the current command (0 = at its start).
    pos: usize,
    /// Multibulk arguments still to read; 0 when not inside a multibulk.
    remaining: usize,
    spans: Vec<(usize, usize)>,
    inline: Vec<Vec<u8>>,
    is_inline: bool,
}

fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..]
        .iter()
        .position(|&c| c == b'\r')
        .map(|i| i + from)
}

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fill `out` with the last parsed command's arguments, borrowed from `buf`
    /// (the same buffer passed to `parse`) or from the parser's inline copy.
    pub fn args<'a>(&'a self, buf: &'a [u8], out: &mut impl Extend<&'a [u8]>) {
        if self.is_inline {
            out.extend(self.inline.iter().map(|a| a.as_slice()));
        } else {
            out.extend(self.spans.iter().map(|&(s, e)| &buf[s..e]));
        }
    }

    pub fn parse(&mut self, buf: &[u8], max_bulk: i64, authenticated: bool) -> Parsed {
        if self.pos == 0 {
            if buf.is_empty() {
                return Parsed::Incomplete { need: 1 };
            }
            if buf[0] != b'*' {
                return self.parse_inline(buf);
            }
            let Some(cr) = find_cr(buf, 1) else {
                if buf.len() > INLINE_BYTES_MAX {
                    return Parsed::Error("too big mbulk count string".into());
                }
                return Parsed::Incomplete {
                    need: buf.len() + 1,
                };
            };
            if cr + 2 > buf.len() {
                return Parsed::Incomplete { need: cr + 2 };
            }
            let n = match parse_i64(&buf[1..cr]) {
                Some(n) if n <= i64::from(i32::MAX) => n,
                _ => return Parsed::Error("invalid multibulk length".into()),
            };
            if n > UNAUTH_ARGS_MAX && !authenticated {
                return Parsed::Error("unauthenticated multibulk length".into());
            }
            if n <= 0 {
                return Parsed::Empty { consumed: cr + 2 };
            }
            self.is_inline = false;
            self.spans.clear();
            self.remaining = n as usize;
            self.pos = cr + 2;
        }
        while self.remaining > 0 {
            let pos = self.pos;
            let Some(cr) = find_cr(buf, pos) else {
                if buf.len() - pos > INLINE_BYTES_MAX {
                    return Parsed::Error("too big bulk count string".into());
                }
                return Parsed::Incomplete {
                    need: buf.len() + 1,
                };
            };
            if cr + 2 > buf.len() {
                return Parsed::Incomplete { need: cr + 2 };
            }
            if buf[pos] != b'$' {
                let got = buf[pos] as char;
                self.reset();
                return Parsed::Error(format!("expected '$', got '{got}'"));
            }
            let len = match parse_i64(&buf[pos + 1..cr]) {
                Some(l) if l >= 0 && l <= max_bulk => l,
                _ => {
                    self.reset();
                    return Parsed::Error("invalid bulk length".into());
                }
            };
            if len > UNAUTH_BULK_BYTES_MAX && !authenticated {
                self.reset();
                return Parsed::Error("unauthenticated bulk length".into());
            }
            let start = cr + 2;
            let end = start + len as usize;
            if end + 2 > buf.len() {
                // Ask for the whole bulk at once: no rescans while it streams in.
                return Parsed::Incomplete { need: end + 2 };
            }
            self.spans.push((start, end));
            // Like Redis, the two bytes after the payload are skipped unchecked.
            self.pos = end + 2;
            self.remaining -= 1;
        }
        let consumed = self.pos;
        self.pos = 0;
        Parsed::Command { consumed }
    }

    fn reset(&mut self) {
        self.pos = 0;
        self.remaining = 0;
        self.spans.clear();
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Parsed {
        let Some(nl) = buf.iter().position(|&c| c == b'\n') else {
            if buf.len() > INLINE_BYTES_MAX {
                return Parsed::Error("too big inline request".into());
            }
            return Parsed::Incomplete {
                need: buf.len() + 1,
            };
        };
        let mut line = &buf[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        let Some(args) = split_args(line) else {
            return Parsed::Error("unbalanced quotes in request".into());
        };
        if args.is_empty() {
            return Parsed::Empty { consumed: nl + 1 };
        }
        self.inline = args;
        self.is_inline = true;
        Parsed::Command { consumed: nl + 1 }
    }
}

/// Reply writer: appends RESP2 or RESP3 encodings to an output buffer.
/// RESP3-only types degrade the way Redis degrades them for RESP2 clients.
pub struct Reply {
    pub buf: Vec<u8>,
    pub resp3: bool,
}

impl Reply {
    pub fn new() -> Reply {
        Reply {
            buf: Vec::with_capacity(16 * 1024),
            resp3: false,
        }
    }

    #[inline]
    fn line(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        crate::util::push_i64(&mut self.buf, n);
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `text` is the full error line without '-', e.g. "ERR syntax error".
    /// CR/LF inside it become spaces, as Redis does, so the frame stays valid.
    pub fn error(&mut self, text: &str) {
        self.buf.push(b'-');
        self.buf.extend(
            text.bytes()
                .map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, v: i64) {
        self.line(b':', v);
    }

    #[inline]
    pub fn bulk(&mut self, b: &[u8]) {
        self.line(b'$', b.len() as i64);
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk_i64(&mut self, v: i64) {
        let mut tmp = Vec::new();
        std::mem::swap(&mut tmp, &mut self.buf);
        // Format the digits at the end, then splice the length header in front.
        let start = tmp.len();
        crate::util::push_i64(&mut tmp, v);
        let n = tmp.len() - start;
        let mut digits = [0u8; 20];
        digits[..n].copy_from_slice(&tmp[start..]);
        tmp.truncate(start);
        std::mem::swap(&mut tmp, &mut self.buf);
        self.bulk(&digits[..n]);
    }

    /// Null bulk string (`$-1` / `_`).
    #[inline]
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// Null array (`*-1` / `_`).
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    #[inline]
    pub fn array(&mut self, n: usize) {
        self.line(b'*', n as i64);
    }

    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.line(b'%', n as i64);
        } else {
            self.line(b'*', 2 * n as i64);
        }
    }

    pub fn set(&mut self, n: usize) {
        if self.resp3 {
            self.line(b'~', n as i64);
        } else {
            self.line(b'*', n as i64);
        }
    }

    pub fn push(&mut self, n: usize) {
        if self.resp3 {
            self.line(b'>', n as i64);
        } else {
            self.line(b'*', n as i64);
        }
    }

    pub fn double(&mut self, v: f64) {
        let mut s = Vec::with_capacity(32);
        crate::float::push_g17(&mut s, v);
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(&s);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(&s);
        }
    }

    pub fn boolean(&mut self, v: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(i64::from(v));
        }
    }

    /// Verbatim string (RESP3 `=`, "txt" format), a bulk string in RESP2.
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp3 {
            self.line(b'=', text.len() as i64 + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// Append frames stored in RESP3 form (the generated COMMAND INFO/DOCS),
    /// converting maps/sets to arrays for RESP2 clients.
    pub fn resp3_frame(&mut self, frame: &[u8]) {
        if self.resp3 {
            self.buf.extend_from_slice(frame);
        } else {
            let mut pos = 0;
            while pos < frame.len() {
                downgrade(frame, &mut pos, &mut self.buf);
            }
        }
    }
}

impl Default for Reply {
    fn default() -> Self {
        Self::new()
    }
}

/// Convert one trusted RESP3 frame (generated at build time) to RESP2.
fn downgrade(f: &[u8], pos: &mut usize, out: &mut Vec<u8>) {
    let t = f[*pos];
    let cr = find_cr(f, *pos).unwrap_or(f.len() - 2);
    let n = parse_i64(&f[*pos + 1..cr]).unwrap_or(0);
    let head_end = cr + 2;
    match t {
        b'%' => {
            out.push(b'*');
            crate::util::push_i64(out, n * 2);
            out.extend_from_slice(b"\r\n");
            *pos = head_end;
            for _ in 0..n * 2 {
                downgrade(f, pos, out);
            }
        }
        b'~' | b'*' => {
            out.push(b'*');
            out.extend_from_slice(&f[*pos + 1..head_end]);
            *pos = head_end;
            for _ in 0..n {
                downgrade(f, pos, out);
            }
        }
        b'$' => {
            let end = head_end + n as usize + 2;
            out.extend_from_slice(&f[*pos..end]);
            *pos = end;
        }
        b'_' => {
            out.extend_from_slice(b"$-1\r\n");
            *pos = head_end;
        }
        _ => {
            out.extend_from_slice(&f[*pos..head_end]);
            *pos = head_end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(p: &mut RequestParser, buf: &[u8]) -> (Parsed, Vec<Vec<u8>>) {
        let r = p.parse(buf, 512 << 20, true);
        let mut v = Vec::new();
        if let Parsed::Command { .. } = r {
            p.args(buf, &mut v);
        }
        (r, v.iter().map(|a| a.to_vec()).collect())
    }

    #[test]
    fn multibulk_incremental() {
        let full = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        let mut p = RequestParser::new();
        for cut in 1..full.len() {
            let r = p.parse(&full[..cut], 512 << 20, true);
            assert!(matches!(r, Parsed::Incomplete { .. }), "cut {cut}: {r:?}");
        }
        let (r, args) = parse_all(&mut p, full);
        assert_eq!(
            r,
            Parsed::Command {
                consumed: full.len()
            }
        );
        assert_eq!(args, vec![b"GET".to_vec(), b"k".to_vec()]);
    }

    #[test]
    fn declared_length_is_not_allocated() {
        let mut p = RequestParser::new();
        let r = p.parse(b"*1\r\n$536870912\r\nab", 512 << 20, true);
        assert_eq!(
            r,
            Parsed::Incomplete {
                need: 16 + 536_870_912 + 2
            }
        );
        let r = p.parse(b"*1\r\n$536870913\r\n", 512 << 20, true);
        assert_eq!(r, Parsed::Error("invalid bulk length".into()));
    }

    #[test]
    fn errors_and_limits() {
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(b"*x\r\n", 1 << 20, true),
            Parsed::Error("invalid multibulk length".into())
        );
        assert_eq!(
            p.parse(b"*11\r\n", 1 << 20, false),
            Parsed::Error("unauthenticated multibulk length".into())
        );
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(b"*1\r\n$16385\r\n", 1 << 20, false),
            Parsed::Error("unauthenticated bulk length".into())
        );
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(b"*1\r\n:1\r\n", 1 << 20, true),
            Parsed::Error("expected '$', got ':'".into())
        );
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(b"set \"a\r\n", 1 << 20, true),
            Parsed::Error("unbalanced quotes in request".into())
        );
        let big = vec![b'a'; INLINE_BYTES_MAX + 1];
        assert_eq!(
            p.parse(&big, 1 << 20, true),
            Parsed::Error("too big inline request".into())
        );
        assert_eq!(
            p.parse(b"*0\r\n", 1 << 20, true),
            Parsed::Empty { consumed: 4 }
        );
    }

    #[test]
    fn inline() {
        let mut p = RequestParser::new();
        let (r, args) = parse_all(&mut p, b"set 'a b' \"c\\n\"\r\n");
        assert!(matches!(r, Parsed::Command { consumed: 17 }));
        assert_eq!(
            args,
            vec![b"set".to_vec(), b"a b".to_vec(), b"c\n".to_vec()]
        );
    }

    #[test]
    fn downgrade_map() {
        let mut r = Reply::new();
        r.resp3_frame(b"%1\r\n$1\r\na\r\n~2\r\n+x\r\n:1\r\n");
        assert_eq!(r.buf, b"*2\r\n$1\r\na\r\n*2\r\n+x\r\n:1\r\n");
    }
}
