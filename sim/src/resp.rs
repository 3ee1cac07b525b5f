//! A minimal RESP2 client codec: encode a command as a multibulk, decode one
//! reply. Independent of `redsim_core::resp` on purpose: the simulator checks
//! the engine's bytes with its own reader.

use std::fmt;

/// A decoded RESP2 reply.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    /// `$-1` is `Bulk(None)`.
    Bulk(Option<Vec<u8>>),
    /// `*-1` is `Array(None)`.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }
    pub fn nil() -> Reply {
        Reply::Bulk(None)
    }
    pub fn bulk(b: &[u8]) -> Reply {
        Reply::Bulk(Some(b.to_vec()))
    }
    pub fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Simple(s) => write!(f, "+{s}"),
            Reply::Error(s) => write!(f, "-{s}"),
            Reply::Int(n) => write!(f, ":{n}"),
            Reply::Bulk(None) => write!(f, "(nil)"),
            Reply::Bulk(Some(b)) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Reply::Array(None) => write!(f, "(nil-array)"),
            Reply::Array(Some(v)) => f.debug_list().entries(v).finish(),
        }
    }
}

/// `*N\r\n$len\r\narg\r\n...`
pub fn encode_command(argv: &[Vec<u8>], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(at..)?;
    let pos = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..pos], at + pos + 2))
}

fn int_of(b: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| format!("bad integer in reply: {:?}", String::from_utf8_lossy(b)))
}

/// Decode one reply from the start of `buf`: `Ok(None)` if incomplete,
/// `Ok(Some((reply, consumed)))`, or a protocol error.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    parse_at(buf, 0)
}

fn parse_at(buf: &[u8], at: usize) -> Result<Option<(Reply, usize)>, String> {
    let Some(&tag) = buf.get(at) else {
        return Ok(None);
    };
    let Some((body, next)) = line(buf, at + 1) else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(body).into_owned();
    match tag {
        b'+' => Ok(Some((Reply::Simple(text()), next))),
        b'-' => Ok(Some((Reply::Error(text()), next))),
        b':' => Ok(Some((Reply::Int(int_of(body)?), next))),
        b'$' => {
            let n = int_of(body)?;
            if n < 0 {
                return Ok(Some((Reply::Bulk(None), next)));
            }
            let end = next + n as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err("bulk reply not terminated by CRLF".into());
            }
            Ok(Some((Reply::Bulk(Some(buf[next..end].to_vec())), end + 2)))
        }
        b'*' => {
            let n = int_of(body)?;
            if n < 0 {
                return Ok(Some((Reply::Array(None), next)));
            }
            let mut items = Vec::with_capacity(n as usize);
            let mut pos = next;
            for _ in 0..n {
                match parse_at(buf, pos)? {
                    Some((r, p)) => {
                        items.push(r);
                        pos = p;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), pos)))
        }
        other => Err(format!("unexpected reply type byte {other:#04x}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_shapes() {
        let b = b"+OK\r\n-ERR x y\r\n:42\r\n$-1\r\n$3\r\nabc\r\n*2\r\n:1\r\n$0\r\n\r\n";
        let mut at = 0;
        let mut got = Vec::new();
        while let Some((r, n)) = parse_at(b, at).unwrap() {
            got.push(r);
            at = n;
        }
        assert_eq!(
            got,
            vec![
                Reply::ok(),
                Reply::err("ERR x y"),
                Reply::Int(42),
                Reply::nil(),
                Reply::bulk(b"abc"),
                Reply::Array(Some(vec![Reply::Int(1), Reply::bulk(b"")])),
            ]
        );
        assert_eq!(at, b.len());
    }

    #[test]
    fn incomplete() {
        assert_eq!(parse_reply(b"$3\r\nab").unwrap(), None);
        assert_eq!(parse_reply(b"*2\r\n:1\r\n").unwrap(), None);
        assert_eq!(parse_reply(b":1").unwrap(), None);
    }

    #[test]
    fn encode() {
        let mut out = Vec::new();
        encode_command(&[b"GET".to_vec(), b"k".to_vec()], &mut out);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }
}
