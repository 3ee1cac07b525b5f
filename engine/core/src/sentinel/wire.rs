//! Client side of RESP for the Sentinel: encoding commands sent to monitored
//! instances and incrementally parsing their replies (every RESP2 type and the
//! RESP3 ones a server may send).
//!
//! Invariant: the parser never allocates from a declared length before the
//! bytes arrived, and any malformed frame is an `Err` (the caller closes the
//! link), never a panic.

use crate::util::parse_i64;

/// One reply from a monitored instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RVal {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<RVal>),
}

impl RVal {
    /// The text of a status, error or bulk reply.
    pub fn text(&self) -> Option<String> {
        match self {
            RVal::Status(s) | RVal::Error(s) => Some(s.clone()),
            RVal::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// Encode `args` as a multibulk request.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Longest frame accepted from an instance (an INFO reply is a few KB).
const MAX_BULK: i64 = 64 * 1024 * 1024;
const MAX_DEPTH: usize = 32;

/// Parse one reply at the start of `buf`: `Ok(Some((value, consumed)))`,
/// `Ok(None)` when more bytes are needed, `Err` on a protocol violation.
pub fn parse(buf: &[u8]) -> Result<Option<(RVal, usize)>, String> {
    parse_at(buf, 0, 0)
}

fn line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let cr = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..cr], pos + cr + 2))
}

fn parse_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(RVal, usize)>, String> {
    if depth > MAX_DEPTH {
        return Err("reply nested too deeply".into());
    }
    let Some(&t) = buf.get(pos) else {
        return Ok(None);
    };
    let Some((body, next)) = line(buf, pos + 1) else {
        if buf.len() - pos > 64 * 1024 {
            return Err("line too long".into());
        }
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(body).into_owned();
    let num = || parse_i64(body).ok_or_else(|| format!("bad number in reply: {}", text()));
    match t {
        b'+' => Ok(Some((RVal::Status(text()), next))),
        b'-' => Ok(Some((RVal::Error(text()), next))),
        b':' => Ok(Some((RVal::Int(num()?), next))),
        b'_' => Ok(Some((RVal::Nil, next))),
        b'#' => Ok(Some((RVal::Int(i64::from(body == b"t")), next))),
        b',' | b'(' => Ok(Some((RVal::Status(text()), next))),
        b'$' | b'=' | b'!' => {
            let n = num()?;
            if n < 0 {
                return Ok(Some((RVal::Nil, next)));
            }
            if n > MAX_BULK {
                return Err("bulk too long".into());
            }
            let end = next + n as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            let mut data = buf[next..end].to_vec();
            if t == b'=' && data.len() >= 4 {
                data.drain(..4);
            }
            let v = if t == b'!' {
                RVal::Error(String::from_utf8_lossy(&data).into_owned())
            } else {
                RVal::Bulk(data)
            };
            Ok(Some((v, end + 2)))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = num()?;
            if n < 0 {
                return Ok(Some((RVal::Nil, next)));
            }
            let count = if t == b'%' || t == b'|' { n * 2 } else { n };
            let mut items = Vec::new();
            let mut p = next;
            for _ in 0..count {
                match parse_at(buf, p, depth + 1)? {
                    Some((v, np)) => {
                        items.push(v);
                        p = np;
                    }
                    None => return Ok(None),
                }
            }
            if t == b'|' {
                // An attribute: skip it, the real reply follows.
                return parse_at(buf, p, depth + 1);
            }
            Ok(Some((RVal::Array(items), p)))
        }
        _ => Err(format!("unknown reply type byte {t}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_shapes_incrementally() {
        let frame = b"*3\r\n:1\r\n$1\r\n*\r\n:0\r\n";
        for cut in 0..frame.len() {
            assert_eq!(parse(&frame[..cut]), Ok(None), "cut {cut}");
        }
        let (v, n) = parse(frame).unwrap().unwrap();
        assert_eq!(n, frame.len());
        assert_eq!(
            v,
            RVal::Array(vec![RVal::Int(1), RVal::Bulk(b"*".to_vec()), RVal::Int(0)])
        );
        assert_eq!(
            parse(b"+PONG\r\n").unwrap().unwrap().0,
            RVal::Status("PONG".into())
        );
        assert_eq!(parse(b"$-1\r\n").unwrap().unwrap().0, RVal::Nil);
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b":abc\r\n").is_err());
    }

    #[test]
    fn encode_roundtrip() {
        let e = encode(&[b"PING"]);
        assert_eq!(e, b"*1\r\n$4\r\nPING\r\n");
    }
}
