//! Case scripts: parsing the plain-text case files in `conformance/cases/` and
//! running them on a fresh `Pair` in RESP2 or RESP3, producing the Redis-side
//! transcript (for insta snapshots), every mismatch, and coverage counts.
//!
//! Format: one command per line, arguments split like redis-cli
//! (`split::split_args`). `#` starts a comment line. Leading `@` tokens are
//! directives:
//!
//! | directive | meaning |
//! |---|---|
//! | `@protocol resp2\|resp3\|both` | (header) which protocols the script runs in (default both) |
//! | `@server-args ARGS...` | (header) extra server arguments for this script's pair, e.g. `--requirepass s3cret` |
//! | `@conn N [CMD...]` | switch to connection N (opened lazily, in the run's protocol); optional command runs on it |
//! | `@resp2 CMD` / `@resp3 CMD` | run this line only in that protocol run |
//! | `@unordered CMD` | compare top-level aggregate as a multiset |
//! | `@unordered-map [except=k1,k2] [mask=k3] CMD` | multiset of key/value pairs (flat RESP2 arrays paired); keys in `except` not compared and masked in the transcript, keys in `mask` compared but masked |
//! | `@unordered-deep CMD` | every aggregate at every depth compared as a multiset |
//! | `@shape CMD` | compare only the reply's type tree |
//! | `@approx TOL CMD` | non-negative integers within +-TOL |
//! | `@noreply CMD` | send without reading a reply (CLIENT REPLY OFF/SKIP) |
//! | `@scan [ARGS...]` | full `SCAN cursor ARGS...` iteration, union of keys compared as a set |
//! | `@keyscan CMD KEY [ARGS...]` | full `CMD KEY cursor ARGS...` iteration (HSCAN/SSCAN/ZSCAN); union of elements compared as a set (HSCAN/ZSCAN: as a set of pairs) |
//! | `@sleep MS` | pause |
//! | `@send CMD` | send on the current connection without reading (a blocking command; its reply is read by `@recv`) |
//! | `@recv` | read one reply (or push) on the current connection from both servers and compare (combine with `@unordered` etc.) |
//! | `@quiet MS` | wait MS and check that neither server sent anything on the current connection (still blocked) |
//! | `@blocked N` | wait (up to 5 s) until both servers report `blocked_clients:N` (a sync point after `@send`) |
//! | `@drain MS` | read everything each server sends on the current connection until MS of silence; compare the bytes (pub/sub events) |
//! | `@raw BYTES...` | send the bytes (tokens concatenated, use `"\r\n"` escapes) on a fresh connection; compare everything read until close or 200 ms idle, and whether the server closed |
//! | `@raw-repeat N UNIT [BYTES...]` | like `@raw` with UNIT repeated N times, then BYTES |

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::conn::{Conn, ReplyError};
use crate::pair::{self, Compare, ConnPair, Outcome, Pair};
use crate::resp::{self, Value};
use crate::split::split_args;

/// Idle time after which a raw protocol case stops reading.
pub const RAW_IDLE: Duration = Duration::from_millis(200);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Resp2,
    Resp3,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Resp2 => "resp2",
            Proto::Resp3 => "resp3",
        }
    }
}

/// What one script line does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Cmd {
        args: Vec<Vec<u8>>,
        mode: Compare,
        noreply: bool,
    },
    Scan {
        args: Vec<Vec<u8>>,
    },
    KeyScan {
        cmd: Vec<u8>,
        key: Vec<u8>,
        args: Vec<Vec<u8>>,
    },
    Sleep(u64),
    Raw(Vec<u8>),
    /// Send without reading; the reply is read later by `Recv`.
    Send(Vec<Vec<u8>>),
    Recv(Compare),
    Quiet(u64),
    Drain(u64),
    Blocked(u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub line: usize,
    pub only: Option<Proto>,
    pub conn: usize,
    pub action: Action,
}

#[derive(Clone, Debug)]
pub struct Script {
    pub name: String,
    pub protocols: Vec<Proto>,
    pub server_args: Vec<String>,
    pub steps: Vec<Step>,
}

impl Script {
    pub fn load(path: &Path) -> Result<Script, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Script::parse(&name, &text).map_err(|e| format!("{}:{e}", path.display()))
    }

    /// Parse script text. Errors are `line: message`.
    pub fn parse(name: &str, text: &str) -> Result<Script, String> {
        let mut s = Script {
            name: name.into(),
            protocols: vec![Proto::Resp2, Proto::Resp3],
            server_args: vec![],
            steps: vec![],
        };
        let mut conn = 1usize;
        for (i, line) in text.lines().enumerate() {
            let lineno = i + 1;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let err = |m: &str| format!("{lineno}: {m}: {trimmed}");
            let toks = split_args(trimmed).map_err(|e| err(&e))?;
            let mut it = toks.into_iter().peekable();
            let mut only = None;
            let mut mode = Compare::Exact;
            let mut noreply = false;
            let mut action = None;
            let word = |t: &[u8]| String::from_utf8_lossy(t).into_owned();
            while let Some(t) = it.peek() {
                if !t.starts_with(b"@") {
                    break;
                }
                let d = word(&it.next().unwrap_or_default());
                let mut num = |what: &str| -> Result<u64, String> {
                    it.next()
                        .and_then(|t| String::from_utf8(t).ok())
                        .and_then(|t| t.parse().ok())
                        .ok_or_else(|| err(&format!("{d} needs a numeric {what}")))
                };
                match d.as_str() {
                    "@protocol" => {
                        let p = num_or_word(it.next());
                        s.protocols = match p.as_str() {
                            "resp2" => vec![Proto::Resp2],
                            "resp3" => vec![Proto::Resp3],
                            "both" => vec![Proto::Resp2, Proto::Resp3],
                            _ => return Err(err("@protocol takes resp2, resp3 or both")),
                        };
                        action = Some(None);
                    }
                    "@server-args" => {
                        s.server_args.extend(it.by_ref().map(|t| word(&t)));
                        action = Some(None);
                    }
                    "@conn" => {
                        conn = num("connection number")? as usize;
                        if conn == 0 {
                            return Err(err("connections are numbered from 1"));
                        }
                    }
                    "@resp2" => only = Some(Proto::Resp2),
                    "@resp3" => only = Some(Proto::Resp3),
                    "@unordered" => mode = Compare::Unordered,
                    "@unordered-map" => {
                        let (mut except, mut mask) = (vec![], vec![]);
                        while let Some(t) = it.peek() {
                            let split = |l: &[u8]| {
                                l.split(|&c| c == b',')
                                    .map(<[u8]>::to_vec)
                                    .collect::<Vec<_>>()
                            };
                            if let Some(list) = t.strip_prefix(b"except=") {
                                except = split(list);
                            } else if let Some(list) = t.strip_prefix(b"mask=") {
                                mask = split(list);
                            } else {
                                break;
                            }
                            it.next();
                        }
                        mode = Compare::UnorderedMap { except, mask };
                    }
                    "@shape" => mode = Compare::Shape,
                    "@unordered-deep" => mode = Compare::UnorderedDeep,
                    "@approx" => mode = Compare::Approx(num("tolerance")? as i64),
                    "@noreply" => noreply = true,
                    "@sleep" => action = Some(Some(Action::Sleep(num("milliseconds")?))),
                    "@quiet" => action = Some(Some(Action::Quiet(num("milliseconds")?))),
                    "@drain" => action = Some(Some(Action::Drain(num("milliseconds")?))),
                    "@blocked" => action = Some(Some(Action::Blocked(num("client count")?))),
                    "@recv" => action = Some(Some(Action::Recv(mode.clone()))),
                    "@send" => {
                        let args: Vec<Vec<u8>> = it.by_ref().collect();
                        if args.is_empty() {
                            return Err(err("@send needs a command"));
                        }
                        action = Some(Some(Action::Send(args)))
                    }
                    "@raw" => action = Some(Some(Action::Raw(it.by_ref().flatten().collect()))),
                    "@raw-repeat" => {
                        let n = num("count")? as usize;
                        let unit = it
                            .next()
                            .ok_or_else(|| err("@raw-repeat needs bytes to repeat"))?;
                        let mut bytes = unit.repeat(n);
                        bytes.extend(it.by_ref().flatten());
                        action = Some(Some(Action::Raw(bytes)));
                    }
                    "@keyscan" => {
                        let cmd = it.next().ok_or_else(|| err("@keyscan needs a command"))?;
                        let key = it.next().ok_or_else(|| err("@keyscan needs a key"))?;
                        action = Some(Some(Action::KeyScan {
                            cmd,
                            key,
                            args: it.by_ref().collect(),
                        }))
                    }
                    "@scan" => {
                        action = Some(Some(Action::Scan {
                            args: it.by_ref().collect(),
                        }))
                    }
                    other => return Err(err(&format!("unknown directive {other}"))),
                }
            }
            let action = match action {
                Some(Some(a)) => a,
                Some(None) => continue,
                None => {
                    let args: Vec<Vec<u8>> = it.collect();
                    if args.is_empty() {
                        continue; // a bare `@conn N`
                    }
                    Action::Cmd {
                        args,
                        mode,
                        noreply,
                    }
                }
            };
            s.steps.push(Step {
                line: lineno,
                only,
                conn,
                action,
            });
        }
        Ok(s)
    }

    /// Number of compared steps per protocol run.
    pub fn cases_for(&self, proto: Proto) -> usize {
        self.steps
            .iter()
            .filter(|s| s.only.is_none_or(|p| p == proto))
            .filter(|s| {
                !matches!(
                    s.action,
                    Action::Sleep(_) | Action::Send(_) | Action::Cmd { noreply: true, .. }
                )
            })
            .count()
    }
}

fn num_or_word(t: Option<Vec<u8>>) -> String {
    t.map(|t| String::from_utf8_lossy(&t).to_lowercase())
        .unwrap_or_default()
}

/// Commands whose first argument is a subcommand (for coverage counting).
const CONTAINERS: &[&str] = &[
    "CLIENT", "CONFIG", "OBJECT", "COMMAND", "DEBUG", "MEMORY", "ACL", "SCRIPT", "FUNCTION",
    "LATENCY", "SLOWLOG", "PUBSUB", "MODULE", "CLUSTER", "XINFO", "XGROUP",
];

/// Coverage key(s) of a command line: `GET`, and `CONFIG GET` for containers.
pub fn command_names(args: &[Vec<u8>]) -> (Option<String>, Option<String>) {
    let Some(first) = args.first() else {
        return (None, None);
    };
    let top = String::from_utf8_lossy(first).to_uppercase();
    let sub = if CONTAINERS.contains(&top.as_str()) {
        args.get(1)
            .map(|s| format!("{top} {}", String::from_utf8_lossy(s).to_uppercase()))
    } else {
        None
    };
    (Some(top), sub)
}

/// One mismatch between Redis and redsim.
#[derive(Clone, Debug)]
pub struct Mismatch {
    pub script: String,
    pub proto: Proto,
    pub line: usize,
    pub command: String,
    pub detail: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}.txt:{} {}] {}\n{}",
            self.script,
            self.line,
            self.proto.name(),
            self.command,
            self.detail
        )
    }
}

/// The result of running a script in one protocol.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub transcript: String,
    pub mismatches: Vec<Mismatch>,
    pub cases: usize,
    /// Top-level command names Redis recognised.
    pub commands: BTreeSet<String>,
    /// `CONTAINER SUB` names Redis recognised.
    pub subcommands: BTreeSet<String>,
}

fn is_unknown(r: &Result<crate::conn::Reply, ReplyError>, what: &str) -> bool {
    matches!(r, Ok(rep) if matches!(&rep.value, Value::Error(e) if e.starts_with(what.as_bytes())))
}

struct Runner<'a> {
    script: &'a Script,
    proto: Proto,
    pair: Pair,
    conns: HashMap<usize, ConnPair>,
    /// Connections whose previous step was `@noreply` (stray replies likely).
    after_noreply: std::collections::HashSet<usize>,
    report: Report,
}

impl<'a> Runner<'a> {
    fn mismatch(&mut self, line: usize, command: String, detail: String) {
        self.report.mismatches.push(Mismatch {
            script: self.script.name.clone(),
            proto: self.proto,
            line,
            command,
            detail,
        });
    }

    /// Open a connection to one server in the run's protocol.
    fn open(&self, redsim: bool) -> Result<(Conn, Result<crate::conn::Reply, ReplyError>), String> {
        let server = if redsim {
            &self.pair.redsim
        } else {
            &self.pair.redis
        };
        let mut c = server.connect()?;
        let hello = match self.proto {
            Proto::Resp3 => c.call(&["HELLO", "3"]),
            Proto::Resp2 => Err(ReplyError::Io("no handshake".into())),
        };
        Ok((c, hello))
    }

    fn conn(&mut self, n: usize, line: usize) -> Result<&mut ConnPair, String> {
        if !self.conns.contains_key(&n) {
            let (redis, h1) = self.open(false)?;
            let (redsim, h2) = self.open(true)?;
            if self.proto == Proto::Resp3 {
                if let Some(d) = pair::compare(&Compare::Shape, &h1, &h2) {
                    self.mismatch(line, format!("(handshake HELLO 3 on connection {n})"), d);
                }
            }
            self.conns.insert(n, ConnPair { redis, redsim });
        }
        self.conns
            .get_mut(&n)
            .ok_or_else(|| "connection vanished".to_string())
    }

    /// After a side's read failed its stream is unusable: reopen just that side,
    /// so one server's failure does not change the other's transcript.
    fn heal(&mut self, n: usize, o: &Outcome) -> Result<(), String> {
        let (redis_bad, redsim_bad) = (o.redis.is_err(), o.redsim.is_err());
        if !redis_bad && !redsim_bad {
            return Ok(());
        }
        let fresh_redis = if redis_bad {
            Some(self.open(false)?.0)
        } else {
            None
        };
        let fresh_redsim = if redsim_bad {
            Some(self.open(true)?.0)
        } else {
            None
        };
        if let Some(cp) = self.conns.get_mut(&n) {
            if let Some(c) = fresh_redis {
                cp.redis = c;
            }
            if let Some(c) = fresh_redsim {
                cp.redsim = c;
            }
        }
        self.pair.check_alive()
    }

    /// Detect replies a server sent beyond the one expected (e.g. a reply to a
    /// command that CLIENT REPLY should have silenced) and drain them, so that
    /// one stray reply is reported once instead of shifting every later reply.
    /// Bytes already buffered are always checked; after a mismatch we also wait
    /// briefly for late ones.
    fn resync(&mut self, n: usize, after_mismatch: bool) -> Option<String> {
        let suspicious = after_mismatch || self.after_noreply.remove(&n);
        let cp = self.conns.get_mut(&n)?;
        let wait = if suspicious {
            Duration::from_millis(30)
        } else {
            Duration::ZERO
        };
        let drain = |c: &mut Conn| -> Vec<u8> {
            if wait.is_zero() {
                if c.pending().is_empty() {
                    return Vec::new();
                }
                c.read_until_close_or_idle(Duration::from_millis(1), Duration::from_millis(1))
                    .bytes
            } else {
                c.read_until_close_or_idle(wait, Duration::from_secs(1))
                    .bytes
            }
        };
        let (ra, rb) = (drain(&mut cp.redis), drain(&mut cp.redsim));
        if ra.is_empty() && rb.is_empty() {
            return None;
        }
        Some(format!(
            "\n  extra bytes after this reply (drained): redis {} / redsim {}",
            resp::escape_bytes(&ra),
            resp::escape_bytes(&rb)
        ))
    }

    fn step(&mut self, step: &Step) -> Result<(), String> {
        let prefix = if step.conn == 1 {
            "> ".to_string()
        } else {
            format!("[conn {}]> ", step.conn)
        };
        match &step.action {
            Action::Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                let _ = writeln!(self.report.transcript, "@sleep {ms}");
            }
            Action::Send(args) => {
                let shown = resp::render_args(args);
                self.conn(step.conn, step.line)?.send_only(args)?;
                let (top, sub) = command_names(args);
                self.report.commands.extend(top);
                self.report.subcommands.extend(sub);
                let _ = writeln!(self.report.transcript, "{prefix}@send {shown}");
            }
            Action::Recv(mode) => {
                let cp = self.conn(step.conn, step.line)?;
                let redis = cp.redis.read_reply();
                let redsim = cp.redsim.read_reply();
                let mismatch = pair::compare(mode, &redis, &redsim);
                let o = Outcome {
                    redis,
                    redsim,
                    mismatch,
                };
                self.report.cases += 1;
                let shown = format!("{}@recv", mode.tag());
                let _ = writeln!(
                    self.report.transcript,
                    "{prefix}{shown}\n{}",
                    pair::render(mode, &o.redis)
                );
                if let Some(d) = o.mismatch.clone() {
                    self.mismatch(step.line, shown, d);
                }
                self.heal(step.conn, &o)?;
            }
            Action::Blocked(n) => {
                let mut ctl = self.pair.connect()?;
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                let count = |c: &mut Conn| -> Option<u64> {
                    let r = c.call(&["INFO", "clients"]).ok()?;
                    let text = match r.value {
                        Value::Bulk(b) | Value::Verbatim(_, b) => b,
                        _ => return None,
                    };
                    String::from_utf8_lossy(&text).lines().find_map(|l| {
                        l.strip_prefix("blocked_clients:")
                            .and_then(|v| v.trim().parse().ok())
                    })
                };
                let (a, b) = loop {
                    let a = count(&mut ctl.redis);
                    let b = count(&mut ctl.redsim);
                    if (a == Some(*n) && b == Some(*n)) || std::time::Instant::now() > deadline {
                        break (a, b);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                };
                self.report.cases += 1;
                let _ = writeln!(self.report.transcript, "@blocked {n}");
                if a != Some(*n) || b != Some(*n) {
                    self.mismatch(
                        step.line,
                        format!("@blocked {n}"),
                        format!("  blocked_clients after 5 s: redis {a:?} / redsim {b:?}"),
                    );
                }
            }
            Action::Quiet(ms) | Action::Drain(ms) => {
                let drain = matches!(step.action, Action::Drain(_));
                let cp = self.conn(step.conn, step.line)?;
                let wait = Duration::from_millis(*ms);
                let (ra, rb) = std::thread::scope(|s| {
                    let h = s.spawn(|| cp.redsim.read_until_close_or_idle(wait, wait));
                    let ra = cp.redis.read_until_close_or_idle(wait, wait);
                    (ra, h.join().ok())
                });
                self.report.cases += 1;
                let what = if drain { "drain" } else { "quiet" };
                let _ = writeln!(
                    self.report.transcript,
                    "{prefix}@{what} {ms}\n{}",
                    resp::quote_capped(&ra.bytes)
                );
                let rb_bytes = rb.as_ref().map(|r| r.bytes.clone()).unwrap_or_default();
                if drain && ra.bytes != rb_bytes {
                    self.mismatch(
                        step.line,
                        format!("@drain {ms}"),
                        format!(
                            "  redis:  {}\n  redsim: {}",
                            resp::escape_bytes(&ra.bytes),
                            resp::escape_bytes(&rb_bytes)
                        ),
                    );
                } else if !drain && (!ra.bytes.is_empty() || !rb_bytes.is_empty()) {
                    self.mismatch(
                        step.line,
                        format!("@quiet {ms}"),
                        format!(
                            "  expected silence: redis {} / redsim {}",
                            resp::escape_bytes(&ra.bytes),
                            resp::escape_bytes(&rb_bytes)
                        ),
                    );
                }
            }
            Action::Cmd {
                args,
                noreply: true,
                ..
            } => {
                let shown = resp::render_args(args);
                self.conn(step.conn, step.line)?.send_only(args)?;
                self.after_noreply.insert(step.conn);
                let _ = writeln!(
                    self.report.transcript,
                    "{prefix}@noreply {shown}\n(no reply read)"
                );
            }
            Action::Cmd {
                args,
                mode,
                noreply: false,
            } => {
                let shown = format!("{}{}", mode.tag(), resp::render_args(args));
                let o = self.conn(step.conn, step.line)?.run(args, mode);
                self.report.cases += 1;
                let (top, sub) = command_names(args);
                if !is_unknown(&o.redis, "ERR unknown command") {
                    self.report.commands.extend(top);
                    if !is_unknown(&o.redis, "ERR unknown subcommand") {
                        self.report.subcommands.extend(sub);
                    }
                }
                let _ = writeln!(
                    self.report.transcript,
                    "{prefix}{shown}\n{}",
                    pair::render(mode, &o.redis)
                );
                let extra = self.resync(step.conn, o.mismatch.is_some());
                match (o.mismatch.clone(), extra) {
                    (Some(d), e) => self.mismatch(step.line, shown, d + &e.unwrap_or_default()),
                    (None, Some(e)) => {
                        self.mismatch(step.line, shown, format!("  replies matched, but{e}"))
                    }
                    (None, None) => {}
                }
                self.heal(step.conn, &o)?;
            }
            Action::Scan { args } => {
                let shown = format!("@scan {}", resp::render_args(args));
                let o = self.conn(step.conn, step.line)?.scan_all(b"SCAN", args);
                self.report.cases += 1;
                self.report.commands.insert("SCAN".into());
                let _ = writeln!(
                    self.report.transcript,
                    "{prefix}{shown}\n{}",
                    pair::render(&Compare::Exact, &o.redis)
                );
                if let Some(d) = o.mismatch.clone() {
                    self.mismatch(step.line, shown, d);
                }
                self.heal(step.conn, &o)?;
            }
            Action::KeyScan { cmd, key, args } => {
                let mut all = vec![cmd.clone(), key.clone()];
                all.extend(args.iter().cloned());
                let shown = format!("@keyscan {}", resp::render_args(&all));
                let group =
                    if cmd.eq_ignore_ascii_case(b"HSCAN") || cmd.eq_ignore_ascii_case(b"ZSCAN") {
                        2
                    } else {
                        1
                    };
                let o = self
                    .conn(step.conn, step.line)?
                    .key_scan_all(cmd, key, args, group);
                self.report.cases += 1;
                let (top, _) = command_names(&all);
                self.report.commands.extend(top);
                let _ = writeln!(
                    self.report.transcript,
                    "{prefix}{shown}\n{}",
                    pair::render(&Compare::Exact, &o.redis)
                );
                if let Some(d) = o.mismatch.clone() {
                    self.mismatch(step.line, shown, d);
                }
                self.heal(step.conn, &o)?;
            }
            Action::Raw(bytes) => {
                let mut a = self.pair.redis.connect()?;
                let mut b = self.pair.redsim.connect()?;
                let sa = a.send_raw(bytes);
                let sb = b.send_raw(bytes);
                // Read both sides concurrently: each may wait out the idle time.
                let (ra, rb) = std::thread::scope(|s| {
                    let h =
                        s.spawn(|| b.read_until_close_or_idle(RAW_IDLE, Duration::from_secs(5)));
                    let ra = a.read_until_close_or_idle(RAW_IDLE, Duration::from_secs(5));
                    (
                        ra,
                        h.join().unwrap_or(crate::conn::RawRead {
                            bytes: b"<reader thread panicked>".to_vec(),
                            closed: true,
                        }),
                    )
                });
                self.report.cases += 1;
                let state = |closed: bool| if closed { "[closed]" } else { "[open]" };
                let _ = writeln!(
                    self.report.transcript,
                    "raw> {}\n{} {}",
                    resp::quote_capped(bytes),
                    resp::quote_capped(&ra.bytes),
                    state(ra.closed)
                );
                if ra != rb || sa.is_ok() != sb.is_ok() {
                    self.mismatch(
                        step.line,
                        format!("@raw {}", resp::escape_bytes(bytes)),
                        format!(
                            "  redis:  {} {}\n  redsim: {} {}",
                            resp::escape_bytes(&ra.bytes),
                            state(ra.closed),
                            resp::escape_bytes(&rb.bytes),
                            state(rb.closed)
                        ),
                    );
                }
                self.pair.check_alive()?;
            }
        }
        Ok(())
    }
}

/// Run `script` in `proto` on a freshly started pair. `Err` only for harness
/// failures (a server that cannot start); redsim crashing mid-script is
/// recorded as a mismatch and ends the run.
pub fn run(script: &Script, proto: Proto) -> Result<Report, String> {
    let pair = Pair::start_with(&script.server_args)?;
    let mut r = Runner {
        script,
        proto,
        pair,
        conns: HashMap::new(),
        after_noreply: Default::default(),
        report: Report::default(),
    };
    let _ = writeln!(r.report.transcript, "# {} ({})", script.name, proto.name());
    // Start from an empty dataset (ignored when a password is required).
    {
        let mut setup = r.pair.connect()?;
        let o = setup.run(&["FLUSHALL"], &Compare::Exact);
        if let Some(d) = o.mismatch {
            r.mismatch(0, "(setup) FLUSHALL".into(), d);
        }
    }
    for step in &script.steps {
        if step.only.is_some_and(|p| p != proto) {
            continue;
        }
        if let Err(e) = r.step(step) {
            let cmd = format!("{:?}", step.action);
            r.mismatch(step.line, cmd, format!("  run aborted: {e}"));
            return Ok(r.report);
        }
    }
    // Sync check: every connection must be in step (no stray replies).
    let mut ids: Vec<usize> = r.conns.keys().copied().collect();
    ids.sort();
    for n in ids {
        if let Some(cp) = r.conns.get_mut(&n) {
            let o = cp.run(&["PING", "sync-check"], &Compare::Exact);
            if let Some(d) = o.mismatch {
                r.mismatch(
                    0,
                    format!("(end-of-script sync check on connection {n}: PING sync-check)"),
                    d,
                );
            }
        }
    }
    if let Err(e) = r.pair.check_alive() {
        r.mismatch(0, "(server process check)".into(), e);
    }
    Ok(r.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_directives() {
        let s = Script::parse(
            "t",
            "@protocol resp2\n@server-args --requirepass x\n# c\nSET a \"b c\"\n@unordered KEYS *\n@conn 2\nGET a\n\
             @unordered-map except=port,dir CONFIG GET *\n@resp3 @shape HELLO\n@approx 5 PTTL a\n@sleep 3\n@raw \"PING\\r\\n\"\n@scan MATCH *\n@noreply CLIENT REPLY OFF\n@conn 1 PING\n",
        )
        .expect("parses");
        assert_eq!(s.protocols, vec![Proto::Resp2]);
        assert_eq!(s.server_args, vec!["--requirepass", "x"]);
        let acts: Vec<_> = s.steps.iter().map(|s| (s.conn, s.action.clone())).collect();
        assert_eq!(acts.len(), 11);
        assert_eq!(
            acts[0],
            (
                1,
                Action::Cmd {
                    args: vec![b"SET".to_vec(), b"a".to_vec(), b"b c".to_vec()],
                    mode: Compare::Exact,
                    noreply: false
                }
            )
        );
        assert!(matches!(
            &acts[1].1,
            Action::Cmd {
                mode: Compare::Unordered,
                ..
            }
        ));
        assert_eq!(acts[2].0, 2);
        assert!(
            matches!(&acts[3].1, Action::Cmd { mode: Compare::UnorderedMap { except, .. }, .. } if except.len() == 2)
        );
        assert_eq!(s.steps[4].only, Some(Proto::Resp3));
        assert!(matches!(
            &acts[5].1,
            Action::Cmd {
                mode: Compare::Approx(5),
                ..
            }
        ));
        assert_eq!(acts[6].1, Action::Sleep(3));
        assert_eq!(acts[7].1, Action::Raw(b"PING\r\n".to_vec()));
        assert!(matches!(&acts[8].1, Action::Scan { args } if args.len() == 2));
        assert!(matches!(&acts[9].1, Action::Cmd { noreply: true, .. }));
        assert_eq!(acts[10].0, 1);
        assert!(Script::parse("t", "@bogus x").is_err());
        assert!(Script::parse("t", "SET \"a").is_err());
    }
}
