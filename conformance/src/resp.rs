//! RESP2/RESP3 wire format for the harness: encoding a command as a multibulk
//! request, framing and parsing exactly one reply out of a byte buffer (every
//! RESP2/RESP3 type: `+ - : $ * _ , # ! = ( % ~ > |`), re-encoding a parsed
//! value, and rendering replies as redis-cli-like text (transcripts), as a
//! type "shape" (nondeterministic replies) and as escaped bytes (diffs).

use std::fmt::Write as _;

/// A parsed RESP2/RESP3 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `+...`
    Simple(Vec<u8>),
    /// `-...`
    Error(Vec<u8>),
    /// `:...`
    Integer(i64),
    /// `$n`
    Bulk(Vec<u8>),
    /// `$-1`
    NullBulk,
    /// `*n`
    Array(Vec<Value>),
    /// `*-1`
    NullArray,
    /// `_` (RESP3 null)
    Null,
    /// `,...` (kept as the server's text: `inf`, `1.5`, ...)
    Double(Vec<u8>),
    /// `#t` / `#f`
    Boolean(bool),
    /// `!n` blob error
    BlobError(Vec<u8>),
    /// `=n` verbatim string: (3-byte format, body)
    Verbatim(Vec<u8>, Vec<u8>),
    /// `(...` big number (kept as text)
    BigNumber(Vec<u8>),
    /// `%n`
    Map(Vec<(Value, Value)>),
    /// `~n`
    Set(Vec<Value>),
    /// `>n`
    Push(Vec<Value>),
    /// `|n` attribute map, followed by the actual reply
    Attribute(Vec<(Value, Value)>, Box<Value>),
}

impl Value {
    /// Re-encode to wire bytes. For anything a server sends this reproduces
    /// the original frame byte for byte.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        fn line(out: &mut Vec<u8>, prefix: u8, body: &[u8]) {
            out.push(prefix);
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        fn blob(out: &mut Vec<u8>, prefix: u8, body: &[u8]) {
            out.push(prefix);
            out.extend_from_slice(body.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        match self {
            Value::Simple(s) => line(out, b'+', s),
            Value::Error(s) => line(out, b'-', s),
            Value::Integer(i) => line(out, b':', i.to_string().as_bytes()),
            Value::Bulk(b) => blob(out, b'$', b),
            Value::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Value::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Value::Null => out.extend_from_slice(b"_\r\n"),
            Value::Double(d) => line(out, b',', d),
            Value::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Value::BlobError(b) => blob(out, b'!', b),
            Value::Verbatim(fmt, body) => {
                let mut all = fmt.clone();
                all.push(b':');
                all.extend_from_slice(body);
                blob(out, b'=', &all)
            }
            Value::BigNumber(n) => line(out, b'(', n),
            Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                let p = match self {
                    Value::Array(_) => b'*',
                    Value::Set(_) => b'~',
                    _ => b'>',
                };
                line(out, p, items.len().to_string().as_bytes());
                for it in items {
                    it.encode_into(out);
                }
            }
            Value::Map(pairs) => {
                line(out, b'%', pairs.len().to_string().as_bytes());
                for (k, v) in pairs {
                    k.encode_into(out);
                    v.encode_into(out);
                }
            }
            Value::Attribute(pairs, inner) => {
                line(out, b'|', pairs.len().to_string().as_bytes());
                for (k, v) in pairs {
                    k.encode_into(out);
                    v.encode_into(out);
                }
                inner.encode_into(out);
            }
        }
    }

    /// Elements of an aggregate reply (array, set, push), if it is one.
    pub fn elements(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) | Value::Set(v) | Value::Push(v) => Some(v),
            _ => None,
        }
    }

    /// The bytes of a string-like scalar (bulk, simple, verbatim body).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) | Value::Simple(b) | Value::Verbatim(_, b) => Some(b),
            _ => None,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_) | Value::BlobError(_))
    }

    /// A one-word name for the reply type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Simple(_) => "simple",
            Value::Error(_) => "error",
            Value::Integer(_) => "integer",
            Value::Bulk(_) => "bulk",
            Value::NullBulk => "nil",
            Value::Array(_) => "array",
            Value::NullArray => "nil-array",
            Value::Null => "null",
            Value::Double(_) => "double",
            Value::Boolean(_) => "boolean",
            Value::BlobError(_) => "blob-error",
            Value::Verbatim(..) => "verbatim",
            Value::BigNumber(_) => "big-number",
            Value::Map(_) => "map",
            Value::Set(_) => "set",
            Value::Push(_) => "push",
            Value::Attribute(..) => "attribute",
        }
    }

    /// The reply's shape: its type tree with aggregate sizes, leaf types
    /// only (no contents) except map keys, which are kept literally, and the
    /// error code (first word) of errors.
    pub fn shape(&self) -> String {
        let mut s = String::new();
        self.shape_into(&mut s);
        s
    }

    fn shape_into(&self, s: &mut String) {
        match self {
            Value::Error(e) | Value::BlobError(e) => {
                let code = e.split(|&b| b == b' ').next().unwrap_or(&[]);
                let _ = write!(s, "{}({})", self.type_name(), String::from_utf8_lossy(code));
            }
            Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                let _ = write!(s, "{}[{}](", self.type_name(), items.len());
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    it.shape_into(s);
                }
                s.push(')');
            }
            Value::Map(pairs) | Value::Attribute(pairs, _) => {
                let _ = write!(s, "{}[{}]{{", self.type_name(), pairs.len());
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    match k.as_bytes() {
                        Some(b) => s.push_str(&quote(b)),
                        None => k.shape_into(s),
                    }
                    s.push(':');
                    v.shape_into(s);
                }
                s.push('}');
                if let Value::Attribute(_, inner) = self {
                    inner.shape_into(s);
                }
            }
            _ => s.push_str(self.type_name()),
        }
    }

    /// redis-cli-like rendering (with RESP3 types made visible).
    pub fn human(&self) -> String {
        match self {
            Value::Simple(s) => String::from_utf8_lossy(s).into_owned(),
            Value::Error(e) => format!("(error) {}", String::from_utf8_lossy(e)),
            Value::Integer(i) => format!("(integer) {i}"),
            Value::Bulk(b) => quote_capped(b),
            Value::NullBulk => "(nil)".into(),
            Value::NullArray => "(nil array)".into(),
            Value::Null => "(null)".into(),
            Value::Double(d) => format!("(double) {}", String::from_utf8_lossy(d)),
            Value::Boolean(b) => format!("({b})"),
            Value::BlobError(e) => format!("(blob error) {}", quote_capped(e)),
            Value::Verbatim(f, b) => format!(
                "(verbatim {}) {}",
                String::from_utf8_lossy(f),
                quote_capped(b)
            ),
            Value::BigNumber(n) => format!("(big number) {}", String::from_utf8_lossy(n)),
            Value::Array(items) => human_list(items, ")", "(empty array)"),
            Value::Set(items) => human_list(items, "~", "(empty set)"),
            Value::Push(items) => human_list(items, ">", "(empty push)"),
            Value::Map(pairs) => human_map(pairs, "#", "(empty map)"),
            Value::Attribute(pairs, inner) => {
                format!(
                    "(attributes) {}\n{}",
                    human_map(pairs, "|", "(empty)"),
                    inner.human()
                )
            }
        }
    }
}

fn indent_rest(text: &str, width: usize) -> String {
    let pad = " ".repeat(width);
    let mut out = String::new();
    for (i, l) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(&pad);
        }
        out.push_str(l);
    }
    out
}

fn human_list(items: &[Value], mark: &str, empty: &str) -> String {
    if items.is_empty() {
        return empty.to_string();
    }
    let w = items.len().to_string().len();
    let mut out = String::new();
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let prefix = format!("{:>w$}{mark} ", i + 1);
        out.push_str(&prefix);
        out.push_str(&indent_rest(&it.human(), prefix.len()));
    }
    out
}

fn human_map(pairs: &[(Value, Value)], mark: &str, empty: &str) -> String {
    if pairs.is_empty() {
        return empty.to_string();
    }
    let w = pairs.len().to_string().len();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let prefix = format!("{:>w$}{mark} ", i + 1);
        let key = k.human();
        out.push_str(&prefix);
        out.push_str(&key);
        out.push_str(" => ");
        let width = prefix.len() + key.chars().count() + 4;
        out.push_str(&indent_rest(&v.human(), width));
    }
    out
}

/// Quote bytes like redis-cli / sdscatrepr: `"..."` with `\n \r \t \a \b \" \\`
/// escapes and `\xHH` for anything non-printable.
pub fn quote(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            7 => s.push_str("\\a"),
            8 => s.push_str("\\b"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push('"');
    s
}

/// `quote`, but strings over 2 KiB are shown as their head and tail with the
/// total length, so a huge value cannot blow up a transcript.
pub fn quote_capped(b: &[u8]) -> String {
    const MAX: usize = 2048;
    if b.len() <= MAX {
        quote(b)
    } else {
        format!(
            "{} ...[{} bytes total]... {}",
            quote(&b[..64]),
            b.len(),
            quote(&b[b.len() - 64..])
        )
    }
}

/// Escape raw protocol bytes for diagnostics (no surrounding quotes added
/// beyond `quote`'s; long inputs are truncated in the middle).
pub fn escape_bytes(b: &[u8]) -> String {
    const MAX: usize = 4000;
    if b.len() <= MAX {
        quote(b)
    } else {
        format!(
            "{} ...[{} bytes elided]... {}",
            quote(&b[..MAX / 2]),
            b.len() - MAX,
            quote(&b[b.len() - MAX / 2..])
        )
    }
}

/// Render a command's arguments for a transcript: bare words when safe,
/// quoted otherwise.
pub fn render_args(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| {
            let bare = !a.is_empty()
                && a.iter()
                    .all(|&c| c.is_ascii_graphic() && c != b'"' && c != b'\'' && c != b'\\');
            if bare {
                String::from_utf8_lossy(a).into_owned()
            } else {
                quote(a)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Encode a command as a RESP multibulk request.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Try to parse one complete reply at the start of `buf`.
/// `Ok(None)` means "incomplete, read more"; `Ok(Some((value, len)))` gives
/// the value and the length of its frame; `Err` is a malformed frame.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, String> {
    let mut p = Parser { buf, pos: 0 };
    match p.value(0) {
        Ok(v) => Ok(Some((v, p.pos))),
        Err(Incomplete::More) => Ok(None),
        Err(Incomplete::Bad(e)) => Err(e),
    }
}

enum Incomplete {
    More,
    Bad(String),
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn line(&mut self) -> Result<&'a [u8], Incomplete> {
        let rest = &self.buf[self.pos..];
        match rest.windows(2).position(|w| w == b"\r\n") {
            Some(i) => {
                self.pos += i + 2;
                Ok(&rest[..i])
            }
            None => Err(Incomplete::More),
        }
    }

    fn int(&mut self) -> Result<i64, Incomplete> {
        let l = self.line()?;
        std::str::from_utf8(l)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| Incomplete::Bad(format!("bad integer line {}", quote(l))))
    }

    fn blob(&mut self, len: i64) -> Result<Vec<u8>, Incomplete> {
        let len = usize::try_from(len).map_err(|_| Incomplete::Bad(format!("bad length {len}")))?;
        if self.buf.len() < self.pos + len + 2 {
            return Err(Incomplete::More);
        }
        let body = self.buf[self.pos..self.pos + len].to_vec();
        if &self.buf[self.pos + len..self.pos + len + 2] != b"\r\n" {
            return Err(Incomplete::Bad("blob not terminated by CRLF".into()));
        }
        self.pos += len + 2;
        Ok(body)
    }

    fn items(&mut self, n: i64, depth: usize) -> Result<Vec<Value>, Incomplete> {
        let n = usize::try_from(n).map_err(|_| Incomplete::Bad(format!("bad count {n}")))?;
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            v.push(self.value(depth + 1)?);
        }
        Ok(v)
    }

    fn pairs(&mut self, n: i64, depth: usize) -> Result<Vec<(Value, Value)>, Incomplete> {
        let n = usize::try_from(n).map_err(|_| Incomplete::Bad(format!("bad count {n}")))?;
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let k = self.value(depth + 1)?;
            let val = self.value(depth + 1)?;
            v.push((k, val));
        }
        Ok(v)
    }

    fn value(&mut self, depth: usize) -> Result<Value, Incomplete> {
        if depth > 128 {
            return Err(Incomplete::Bad("nesting too deep".into()));
        }
        let Some(&t) = self.buf.get(self.pos) else {
            return Err(Incomplete::More);
        };
        self.pos += 1;
        Ok(match t {
            b'+' => Value::Simple(self.line()?.to_vec()),
            b'-' => Value::Error(self.line()?.to_vec()),
            b':' => Value::Integer(self.int()?),
            b'$' => match self.int()? {
                -1 => Value::NullBulk,
                n => Value::Bulk(self.blob(n)?),
            },
            b'*' => match self.int()? {
                -1 => Value::NullArray,
                n => Value::Array(self.items(n, depth)?),
            },
            b'_' => {
                let l = self.line()?;
                if !l.is_empty() {
                    return Err(Incomplete::Bad("garbage after _".into()));
                }
                Value::Null
            }
            b',' => Value::Double(self.line()?.to_vec()),
            b'#' => match self.line()? {
                b"t" => Value::Boolean(true),
                b"f" => Value::Boolean(false),
                other => return Err(Incomplete::Bad(format!("bad boolean {}", quote(other)))),
            },
            b'!' => {
                let n = self.int()?;
                Value::BlobError(self.blob(n)?)
            }
            b'=' => {
                let n = self.int()?;
                let body = self.blob(n)?;
                if body.len() < 4 || body[3] != b':' {
                    return Err(Incomplete::Bad("verbatim string without fmt:".into()));
                }
                Value::Verbatim(body[..3].to_vec(), body[4..].to_vec())
            }
            b'(' => Value::BigNumber(self.line()?.to_vec()),
            b'%' => {
                let n = self.int()?;
                Value::Map(self.pairs(n, depth)?)
            }
            b'~' => {
                let n = self.int()?;
                Value::Set(self.items(n, depth)?)
            }
            b'>' => {
                let n = self.int()?;
                Value::Push(self.items(n, depth)?)
            }
            b'|' => {
                let n = self.int()?;
                let attrs = self.pairs(n, depth)?;
                let inner = self.value(depth + 1)?;
                Value::Attribute(attrs, Box::new(inner))
            }
            other => {
                return Err(Incomplete::Bad(format!(
                    "unknown RESP type byte {} at offset {}",
                    quote(&[other]),
                    self.pos - 1
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(raw: &[u8]) -> Value {
        let (v, n) = parse(raw).expect("valid").expect("complete");
        assert_eq!(n, raw.len(), "consumed whole frame");
        assert_eq!(v.encode(), raw, "re-encoding is byte-exact");
        // Every strict prefix is incomplete.
        for i in 0..raw.len() {
            assert!(
                matches!(parse(&raw[..i]), Ok(None)),
                "prefix {i} should be incomplete"
            );
        }
        v
    }

    #[test]
    fn all_types_roundtrip() {
        roundtrip(b"+OK\r\n");
        roundtrip(b"-ERR x y\r\n");
        roundtrip(b":-42\r\n");
        roundtrip(b"$5\r\na\r\nbc\r\n");
        roundtrip(b"$0\r\n\r\n");
        roundtrip(b"$-1\r\n");
        roundtrip(b"*-1\r\n");
        roundtrip(b"*0\r\n");
        roundtrip(b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n");
        roundtrip(b"_\r\n");
        roundtrip(b",1.5\r\n");
        roundtrip(b",inf\r\n");
        roundtrip(b"#t\r\n");
        roundtrip(b"!3\r\nERR\r\n");
        roundtrip(b"=7\r\ntxt:abc\r\n");
        roundtrip(b"(123456789012345678901234567890\r\n");
        roundtrip(b"%1\r\n+k\r\n:1\r\n");
        roundtrip(b"~2\r\n:1\r\n:2\r\n");
        roundtrip(b">2\r\n+message\r\n$1\r\nx\r\n");
        roundtrip(b"|1\r\n+a\r\n:1\r\n+OK\r\n");
    }

    #[test]
    fn trailing_bytes_not_consumed() {
        let (_, n) = parse(b"+OK\r\n+PONG\r\n").expect("ok").expect("complete");
        assert_eq!(n, 5);
    }

    #[test]
    fn malformed() {
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b"$3\r\nabcd\r\n").is_err());
        assert!(parse(b":x\r\n").is_err());
    }

    #[test]
    fn human_nested() {
        let v = roundtrip(b"*2\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n");
        assert_eq!(v.human(), "1) \"a\"\n2) 1) (integer) 1\n   2) (nil)");
        let m = roundtrip(b"%1\r\n$1\r\nk\r\n*1\r\n+x\r\n");
        assert_eq!(m.human(), "1# \"k\" => 1) x");
        assert_eq!(m.shape(), "map[1]{\"k\":array[1](simple)}");
    }
}
