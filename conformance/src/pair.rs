//! The differential core: a `Pair` of servers (real Redis and redsim), a
//! `ConnPair` of connections (one to each) that runs the same command on both
//! and compares the replies under a `Compare` mode — exact bytes, unordered
//! multiset, unordered map, shape only, or integer within a tolerance — and
//! renders the Redis-side reply for transcripts.

use std::collections::BTreeSet;

use crate::conn::{Conn, Reply, ReplyError};
use crate::resp::{self, Value};
use crate::server::{redsim_binary, Flavor, Server, TempDir};

/// How two replies are compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    /// Raw reply bytes must be identical.
    Exact,
    /// Top-level aggregate compared as a multiset of elements (KEYS, SMEMBERS);
    /// maps as a multiset of entries. Non-aggregates (errors) compared exactly.
    Unordered,
    /// Like `Unordered` but a RESP2 flat array is taken as key/value pairs
    /// (CONFIG GET). Entries whose key is in `except` are dropped from the
    /// comparison and their values masked in transcripts (e.g. `port`); keys in
    /// `mask` are compared but masked in transcripts (e.g. `dir`, a temp dir).
    UnorderedMap {
        except: Vec<Vec<u8>>,
        mask: Vec<Vec<u8>>,
    },
    /// Every aggregate at every depth compared as a multiset (COMMAND INFO
    /// of container commands, whose subcommands come in hash-table order).
    UnorderedDeep,
    /// Only the reply's type tree must match (TIME, CLIENT ID, INFO, HELLO).
    Shape,
    /// Integers within +-tolerance (PTTL, EXPIRETIME after a relative expire);
    /// negative integers and anything else compared exactly.
    Approx(i64),
}

impl Compare {
    /// The directive spelling used in scripts and transcripts.
    pub fn tag(&self) -> String {
        match self {
            Compare::Exact => String::new(),
            Compare::Unordered => "@unordered ".into(),
            Compare::UnorderedMap { except, mask } => {
                let list = |v: &[Vec<u8>]| {
                    v.iter()
                        .map(|e| String::from_utf8_lossy(e).into_owned())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let mut s = "@unordered-map ".to_string();
                if !except.is_empty() {
                    s.push_str(&format!("except={} ", list(except)));
                }
                if !mask.is_empty() {
                    s.push_str(&format!("mask={} ", list(mask)));
                }
                s
            }
            Compare::UnorderedDeep => "@unordered-deep ".into(),
            Compare::Shape => "@shape ".into(),
            Compare::Approx(t) => format!("@approx {t} "),
        }
    }
}

/// The result of running one command on both servers.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub redis: Result<Reply, ReplyError>,
    pub redsim: Result<Reply, ReplyError>,
    /// `None` if the replies agree under the compare mode, else an explanation.
    pub mismatch: Option<String>,
}

fn side(r: &Result<Reply, ReplyError>) -> String {
    match r {
        Ok(rep) => resp::escape_bytes(&rep.raw),
        Err(e) => e.to_string(),
    }
}

/// Sort key for multiset comparison: an element's wire encoding.
fn enc(v: &Value) -> Vec<u8> {
    v.encode()
}

/// Recursively sort every aggregate's elements (maps by entry).
pub fn canonical(v: &Value) -> Value {
    let sorted = |items: &[Value]| {
        let mut c: Vec<Value> = items.iter().map(canonical).collect();
        c.sort_by_key(enc);
        c
    };
    let sorted_pairs = |pairs: &[(Value, Value)]| {
        let mut c: Vec<(Value, Value)> = pairs
            .iter()
            .map(|(k, v)| (canonical(k), canonical(v)))
            .collect();
        c.sort_by_key(|(k, v)| [enc(k), enc(v)].concat());
        c
    };
    match v {
        Value::Array(i) => Value::Array(sorted(i)),
        Value::Set(i) => Value::Set(sorted(i)),
        Value::Push(i) => Value::Push(sorted(i)),
        Value::Map(p) => Value::Map(sorted_pairs(p)),
        Value::Attribute(p, inner) => Value::Attribute(sorted_pairs(p), Box::new(canonical(inner))),
        other => other.clone(),
    }
}

/// The multiset view of a reply for the unordered modes, or None if the
/// reply is not an aggregate (then it is compared exactly).
fn multiset(v: &Value, as_map: bool, except: &[Vec<u8>]) -> Option<(char, Vec<Vec<u8>>)> {
    let keep = |k: &Value| {
        k.as_bytes()
            .is_none_or(|b| !except.iter().any(|e| e.eq_ignore_ascii_case(b)))
    };
    match v {
        Value::Map(pairs) => {
            let mut items: Vec<Vec<u8>> = pairs
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| [enc(k), enc(v)].concat())
                .collect();
            items.sort();
            Some(('%', items))
        }
        Value::Array(items) if as_map && items.len() % 2 == 0 => {
            let mut out: Vec<Vec<u8>> = items
                .chunks(2)
                .filter(|c| keep(&c[0]))
                .map(|c| [enc(&c[0]), enc(&c[1])].concat())
                .collect();
            out.sort();
            Some(('*', out))
        }
        Value::Array(items) | Value::Set(items) | Value::Push(items) => {
            let mut out: Vec<Vec<u8>> = items.iter().map(enc).collect();
            out.sort();
            let t = match v {
                Value::Array(_) => '*',
                Value::Set(_) => '~',
                _ => '>',
            };
            Some((t, out))
        }
        _ => None,
    }
}

fn multiset_diff(a: &[Vec<u8>], b: &[Vec<u8>]) -> String {
    let (mut i, mut j) = (0, 0);
    let mut only_a = Vec::new();
    let mut only_b = Vec::new();
    while i < a.len() || j < b.len() {
        if j >= b.len() || (i < a.len() && a[i] < b[j]) {
            only_a.push(resp::escape_bytes(&a[i]));
            i += 1;
        } else if i >= a.len() || b[j] < a[i] {
            only_b.push(resp::escape_bytes(&b[j]));
            j += 1;
        } else {
            i += 1;
            j += 1;
        }
    }
    let cap = |v: Vec<String>| {
        let n = v.len();
        let mut s = v.into_iter().take(30).collect::<Vec<_>>().join("\n      ");
        if n > 30 {
            s.push_str(&format!("\n      ... and {} more", n - 30));
        }
        s
    };
    format!(
        "  only in redis ({}):\n      {}\n  only in redsim ({}):\n      {}",
        only_a.len(),
        cap(only_a),
        only_b.len(),
        cap(only_b)
    )
}

/// For long replies, point at the first differing byte with some context.
pub fn first_difference(a: &[u8], b: &[u8]) -> String {
    if a.len() + b.len() < 240 {
        return String::new();
    }
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let lo = i.saturating_sub(80);
    let ctx = |s: &[u8]| resp::quote(&s[lo.min(s.len())..(i + 80).min(s.len())]);
    format!(
        "\n  first difference at byte {i} (of {} vs {}):\n    redis:  ...{}...\n    redsim: ...{}...",
        a.len(),
        b.len(),
        ctx(a),
        ctx(b)
    )
}

/// Compare two replies under `mode`; `None` if they agree.
pub fn compare(
    mode: &Compare,
    redis: &Result<Reply, ReplyError>,
    redsim: &Result<Reply, ReplyError>,
) -> Option<String> {
    let (a, b) = match (redis, redsim) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(a), Err(b)) if a == b => return None,
        _ => {
            return Some(format!(
                "  redis:  {}\n  redsim: {}",
                side(redis),
                side(redsim)
            ))
        }
    };
    let plain = || {
        Some(format!(
            "  redis:  {}\n  redsim: {}{}",
            resp::escape_bytes(&a.raw),
            resp::escape_bytes(&b.raw),
            first_difference(&a.raw, &b.raw)
        ))
    };
    match mode {
        Compare::Exact => (a.raw != b.raw).then(plain).flatten(),
        Compare::Unordered | Compare::UnorderedMap { .. } => {
            let (as_map, except): (bool, &[Vec<u8>]) = match mode {
                Compare::UnorderedMap { except, .. } => (true, except),
                _ => (false, &[]),
            };
            match (
                multiset(&a.value, as_map, except),
                multiset(&b.value, as_map, except),
            ) {
                (Some((ta, ma)), Some((tb, mb))) => {
                    if ta != tb {
                        Some(format!(
                            "  aggregate type differs: redis {} vs redsim {}\n  redis:  {}\n  redsim: {}",
                            a.value.type_name(),
                            b.value.type_name(),
                            resp::escape_bytes(&a.raw),
                            resp::escape_bytes(&b.raw)
                        ))
                    } else if ma != mb {
                        Some(format!(
                            "  unordered contents differ ({} vs {} elements):\n{}",
                            ma.len(),
                            mb.len(),
                            multiset_diff(&ma, &mb)
                        ))
                    } else {
                        None
                    }
                }
                _ => (a.raw != b.raw).then(plain).flatten(),
            }
        }
        Compare::UnorderedDeep => {
            let (ca, cb) = (canonical(&a.value).encode(), canonical(&b.value).encode());
            (ca != cb).then(|| {
                format!(
                    "  deep-unordered contents differ (canonicalised):\n  redis:  {}\n  redsim: {}",
                    resp::escape_bytes(&ca),
                    resp::escape_bytes(&cb)
                )
            })
        }
        Compare::Shape => {
            let (sa, sb) = (a.value.shape(), b.value.shape());
            (sa != sb).then(|| {
                format!(
                    "  shape differs:\n  redis:  {sa}\n  redsim: {sb}\n  redis bytes:  {}\n  redsim bytes: {}",
                    resp::escape_bytes(&a.raw),
                    resp::escape_bytes(&b.raw)
                )
            })
        }
        Compare::Approx(tol) => match (&a.value, &b.value) {
            (Value::Integer(x), Value::Integer(y)) if *x >= 0 && *y >= 0 => ((x - y).abs() > *tol)
                .then(|| format!("  redis:  {x}\n  redsim: {y}\n  (tolerance {tol})")),
            _ => (a.raw != b.raw).then(plain).flatten(),
        },
    }
}

/// Render the (Redis-side) reply for a transcript under `mode`, so that the
/// text is deterministic across runs.
pub fn render(mode: &Compare, r: &Result<Reply, ReplyError>) -> String {
    let rep = match r {
        Ok(rep) => rep,
        Err(e) => return e.to_string(),
    };
    let v = &rep.value;
    match mode {
        Compare::Exact => v.human(),
        Compare::Shape => format!("(shape) {}", v.shape()),
        Compare::UnorderedDeep => canonical(v).human(),
        Compare::Approx(t) => match v {
            Value::Integer(i) if *i >= 0 => format!("(integer) >= 0 (approx +-{t})"),
            _ => v.human(),
        },
        Compare::Unordered | Compare::UnorderedMap { .. } => {
            let hidden: Vec<Vec<u8>> = match mode {
                Compare::UnorderedMap { except, mask } => {
                    except.iter().chain(mask).cloned().collect()
                }
                _ => vec![],
            };
            let as_map = matches!(mode, Compare::UnorderedMap { .. });
            let mask = |k: &Value, val: &Value| -> Value {
                match k.as_bytes() {
                    Some(b) if hidden.iter().any(|e| e.eq_ignore_ascii_case(b)) => {
                        Value::Simple(b"<masked>".to_vec())
                    }
                    _ => val.clone(),
                }
            };
            let sorted = match v {
                Value::Map(pairs) => {
                    let mut p: Vec<(Value, Value)> = pairs
                        .iter()
                        .map(|(k, val)| (k.clone(), mask(k, val)))
                        .collect();
                    p.sort_by_key(|(k, val)| [enc(k), enc(val)].concat());
                    Value::Map(p)
                }
                Value::Array(items) if as_map && items.len() % 2 == 0 => {
                    let mut p: Vec<(Value, Value)> = items
                        .chunks(2)
                        .map(|c| (c[0].clone(), mask(&c[0], &c[1])))
                        .collect();
                    p.sort_by_key(|(k, val)| [enc(k), enc(val)].concat());
                    Value::Array(p.into_iter().flat_map(|(k, val)| [k, val]).collect())
                }
                Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                    let mut s = items.clone();
                    s.sort_by_key(enc);
                    match v {
                        Value::Array(_) => Value::Array(s),
                        Value::Set(_) => Value::Set(s),
                        _ => Value::Push(s),
                    }
                }
                other => other.clone(),
            };
            sorted.human()
        }
    }
}

/// One connection to each server of a pair.
pub struct ConnPair {
    pub redis: Conn,
    pub redsim: Conn,
}

impl ConnPair {
    /// Run one command on both servers and compare.
    pub fn run<A: AsRef<[u8]>>(&mut self, args: &[A], mode: &Compare) -> Outcome {
        let redis = self.redis.call(args);
        let redsim = self.redsim.call(args);
        let mismatch = compare(mode, &redis, &redsim);
        Outcome {
            redis,
            redsim,
            mismatch,
        }
    }

    /// Send a command to both servers without reading any reply
    /// (CLIENT REPLY OFF/SKIP and the commands they silence).
    pub fn send_only<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), String> {
        self.redis.send(args).map_err(|e| format!("redis: {e}"))?;
        self.redsim.send(args).map_err(|e| format!("redsim: {e}"))
    }

    /// Iterate `cmd cursor args...` (SCAN-style) to the end on both servers
    /// and compare the union of returned elements as a set. An error reply or
    /// a malformed page ends the iteration and is compared as is.
    pub fn scan_all<A: AsRef<[u8]>>(&mut self, cmd: &[u8], args: &[A]) -> Outcome {
        let redis = scan_side(&mut self.redis, &[cmd], args, 1);
        let redsim = scan_side(&mut self.redsim, &[cmd], args, 1);
        let mismatch = compare(&Compare::Exact, &redis, &redsim);
        Outcome {
            redis,
            redsim,
            mismatch,
        }
    }

    /// Full `CMD key cursor ARGS...` iteration (HSCAN/SSCAN/ZSCAN): the union
    /// of elements, grouped `group` at a time (2 = field/value or
    /// member/score pairs), compared as a set.
    pub fn key_scan_all<A: AsRef<[u8]>>(
        &mut self,
        cmd: &[u8],
        key: &[u8],
        args: &[A],
        group: usize,
    ) -> Outcome {
        let redis = scan_side(&mut self.redis, &[cmd, key], args, group);
        let redsim = scan_side(&mut self.redsim, &[cmd, key], args, group);
        let mismatch = compare(&Compare::Exact, &redis, &redsim);
        Outcome {
            redis,
            redsim,
            mismatch,
        }
    }
}

fn scan_side<A: AsRef<[u8]>>(
    conn: &mut Conn,
    prefix: &[&[u8]],
    args: &[A],
    group: usize,
) -> Result<Reply, ReplyError> {
    let mut cursor = b"0".to_vec();
    let mut all = BTreeSet::new();
    for _ in 0..100_000 {
        let mut full: Vec<Vec<u8>> = prefix.iter().map(|p| p.to_vec()).collect();
        full.push(cursor.clone());
        full.extend(args.iter().map(|a| a.as_ref().to_vec()));
        let rep = conn.call(&full)?;
        let (next, keys) = match rep.value.elements() {
            Some([c, Value::Array(keys)]) => match c.as_bytes() {
                Some(c) => (c.to_vec(), keys.clone()),
                None => return Ok(rep),
            },
            _ => return Ok(rep),
        };
        if group <= 1 {
            all.extend(keys.into_iter().map(|k| k.encode()));
        } else {
            all.extend(
                keys.chunks(group)
                    .map(|g| Value::Array(g.to_vec()).encode()),
            );
        }
        if next == b"0" {
            let items: Vec<Value> = all
                .into_iter()
                .filter_map(|e| resp::parse(&e).ok().flatten().map(|(v, _)| v))
                .collect();
            let value = Value::Array(items);
            return Ok(Reply {
                raw: value.encode(),
                value,
            });
        }
        cursor = next;
    }
    Err(ReplyError::Io(
        "SCAN did not terminate after 100000 pages".into(),
    ))
}

/// A real Redis and a redsim server started with the same extra arguments,
/// sharing one working directory (so `CONFIG GET dir` agrees).
pub struct Pair {
    pub redis: Server,
    pub redsim: Server,
    pub extra_args: Vec<String>,
    // Declared last: dropped after the servers are killed.
    dir: TempDir,
}

impl Pair {
    pub fn start() -> Result<Pair, String> {
        Self::start_with(&[])
    }

    /// Start both servers with `extra` appended to their command lines.
    /// Fails (rather than skips) if the redsim binary is missing.
    pub fn start_with(extra: &[String]) -> Result<Pair, String> {
        redsim_binary()?;
        let dir = TempDir::new("pair")?;
        let redis = Server::start(Flavor::Redis, dir.path(), extra)?;
        let redsim = Server::start(Flavor::Redsim, dir.path(), extra)?;
        Ok(Pair {
            redis,
            redsim,
            extra_args: extra.to_vec(),
            dir,
        })
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Open one new connection to each server.
    pub fn connect(&self) -> Result<ConnPair, String> {
        Ok(ConnPair {
            redis: self.redis.connect()?,
            redsim: self.redsim.connect()?,
        })
    }

    /// `Err` with the log tail if either server process has exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        if let Some(e) = self.redis.exited() {
            return Err(e);
        }
        if let Some(e) = self.redsim.exited() {
            return Err(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(raw: &[u8]) -> Result<Reply, ReplyError> {
        let (value, _) = resp::parse(raw).expect("valid").expect("complete");
        Ok(Reply {
            raw: raw.to_vec(),
            value,
        })
    }

    #[test]
    fn unordered_ignores_order_but_not_content() {
        let a = rep(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n");
        let b = rep(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n");
        let c = rep(b"*2\r\n$1\r\nb\r\n$1\r\nb\r\n");
        assert!(compare(&Compare::Unordered, &a, &b).is_none());
        assert!(compare(&Compare::Unordered, &a, &c).is_some());
        assert!(compare(&Compare::Exact, &a, &b).is_some());
    }

    #[test]
    fn unordered_map_pairs_and_except() {
        let a = rep(b"*4\r\n$4\r\nport\r\n$1\r\n1\r\n$2\r\nhz\r\n$2\r\n10\r\n");
        let b = rep(b"*4\r\n$2\r\nhz\r\n$2\r\n10\r\n$4\r\nport\r\n$1\r\n2\r\n");
        let except = Compare::UnorderedMap {
            except: vec![b"port".to_vec()],
            mask: vec![],
        };
        assert!(compare(&except, &a, &b).is_none());
        assert!(compare(
            &Compare::UnorderedMap {
                except: vec![],
                mask: vec![b"port".to_vec()]
            },
            &a,
            &b
        )
        .is_some());
        assert_eq!(render(&except, &a), render(&except, &b));
    }

    #[test]
    fn shape_and_approx() {
        let a = rep(b"*2\r\n$3\r\n123\r\n$1\r\n4\r\n");
        let b = rep(b"*2\r\n$3\r\n999\r\n$2\r\n55\r\n");
        assert!(compare(&Compare::Shape, &a, &b).is_none());
        assert!(compare(&Compare::Shape, &a, &rep(b"*1\r\n$1\r\n1\r\n")).is_some());
        assert!(compare(&Compare::Approx(5), &rep(b":100\r\n"), &rep(b":97\r\n")).is_none());
        assert!(compare(&Compare::Approx(5), &rep(b":100\r\n"), &rep(b":90\r\n")).is_some());
        assert!(compare(&Compare::Approx(5), &rep(b":-1\r\n"), &rep(b":-2\r\n")).is_some());
    }
}
