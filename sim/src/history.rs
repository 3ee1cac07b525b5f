//! What a run records: the client's operations (sent, answered or failed),
//! the faults the supervisor injected, all in one totally ordered log (the
//! simulation is single-threaded, so append order is execution order), with
//! simulated timestamps. The trace hash covers every event.

use std::fmt;

use crate::resp::Reply;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    /// `EX seconds`
    Ex(i64),
    /// `PX milliseconds`
    Px(i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Nx,
    Xx,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpFlag {
    Nx,
    Xx,
    Gt,
    Lt,
}

/// One client operation (the workload's vocabulary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Get {
        key: String,
    },
    Set {
        key: String,
        val: Vec<u8>,
        ttl: Option<Ttl>,
        cond: Option<Cond>,
        keepttl: bool,
        get: bool,
    },
    Incr {
        key: String,
    },
    /// Distinct keys.
    Del {
        keys: Vec<String>,
    },
    /// `EXPIRE key amount` (seconds) or `PEXPIRE key amount` (ms).
    Expire {
        key: String,
        amount: i64,
        millis: bool,
        flag: Option<ExpFlag>,
    },
    /// Distinct keys.
    MSet {
        pairs: Vec<(String, Vec<u8>)>,
    },
    Append {
        key: String,
        val: Vec<u8>,
    },
    /// Only as the final check, after a quiet period.
    DbSize,
    /// RPUSH of an element unique in the run (list-append workload).
    RPush {
        key: String,
        elem: u64,
    },
    /// LRANGE key 0 -1.
    LRange {
        key: String,
    },
    /// SADD of an element unique in the run (set-add workload).
    SAdd {
        key: String,
        elem: u64,
    },
    SMembers {
        key: String,
    },
    /// MULTI, the ops, EXEC, pipelined; the recorded reply is EXEC's.
    Multi {
        ops: Vec<Op>,
    },
    /// MULTI and the ops, then the client disconnects without EXEC: the
    /// server must discard the transaction (no effect at all).
    AbortedMulti {
        ops: Vec<Op>,
    },
    /// LPUSH of an element unique in the run (queue workload).
    LPush {
        key: String,
        elem: u64,
    },
    /// BRPOP key timeout (seconds, e.g. "0.3").
    BRPop {
        key: String,
        timeout_ms: u64,
    },
    /// Writes sent in one pipeline (one read for the server); the
    /// recorded reply is the last one's. Judged by convergence only.
    Pipeline {
        ops: Vec<Op>,
    },
    /// SET key 1 then WAIT num timeout (pipelined; the recorded reply is
    /// WAIT's): the WAIT workload, checked against the replicas' data.
    SetWait {
        key: String,
        num: usize,
        timeout_ms: u64,
    },
}

impl Op {
    pub fn argv(&self) -> Vec<Vec<u8>> {
        let s = |x: &str| x.as_bytes().to_vec();
        match self {
            Op::Get { key } => vec![s("GET"), s(key)],
            Op::Set {
                key,
                val,
                ttl,
                cond,
                keepttl,
                get,
            } => {
                let mut v = vec![s("SET"), s(key), val.clone()];
                match ttl {
                    Some(Ttl::Ex(n)) => v.extend([s("EX"), s(&n.to_string())]),
                    Some(Ttl::Px(n)) => v.extend([s("PX"), s(&n.to_string())]),
                    None => {}
                }
                match cond {
                    Some(Cond::Nx) => v.push(s("NX")),
                    Some(Cond::Xx) => v.push(s("XX")),
                    None => {}
                }
                if *keepttl {
                    v.push(s("KEEPTTL"));
                }
                if *get {
                    v.push(s("GET"));
                }
                v
            }
            Op::Incr { key } => vec![s("INCR"), s(key)],
            Op::Del { keys } => std::iter::once(s("DEL"))
                .chain(keys.iter().map(|k| s(k)))
                .collect(),
            Op::Expire {
                key,
                amount,
                millis,
                flag,
            } => {
                let mut v = vec![
                    s(if *millis { "PEXPIRE" } else { "EXPIRE" }),
                    s(key),
                    s(&amount.to_string()),
                ];
                match flag {
                    Some(ExpFlag::Nx) => v.push(s("NX")),
                    Some(ExpFlag::Xx) => v.push(s("XX")),
                    Some(ExpFlag::Gt) => v.push(s("GT")),
                    Some(ExpFlag::Lt) => v.push(s("LT")),
                    None => {}
                }
                v
            }
            Op::MSet { pairs } => {
                let mut v = vec![s("MSET")];
                for (k, val) in pairs {
                    v.push(s(k));
                    v.push(val.clone());
                }
                v
            }
            Op::Append { key, val } => vec![s("APPEND"), s(key), val.clone()],
            Op::DbSize => vec![s("DBSIZE")],
            Op::RPush { key, elem } => vec![s("RPUSH"), s(key), s(&elem.to_string())],
            Op::LRange { key } => vec![s("LRANGE"), s(key), s("0"), s("-1")],
            Op::SAdd { key, elem } => vec![s("SADD"), s(key), s(&elem.to_string())],
            Op::SMembers { key } => vec![s("SMEMBERS"), s(key)],
            Op::LPush { key, elem } => vec![s("LPUSH"), s(key), s(&elem.to_string())],
            Op::BRPop { key, timeout_ms } => vec![
                s("BRPOP"),
                s(key),
                s(&format!("{}.{:03}", timeout_ms / 1000, timeout_ms % 1000)),
            ],
            Op::SetWait {
                num, timeout_ms, ..
            } => vec![s("WAIT"), s(&num.to_string()), s(&timeout_ms.to_string())],
            // Only for display: the client sends `commands()`.
            Op::Multi { .. } | Op::AbortedMulti { .. } => vec![s("MULTI")],
            Op::Pipeline { ops } => ops.first().map_or_else(Vec::new, |o| o.argv()),
        }
    }

    /// The commands the client sends for this op, in order.
    pub fn commands(&self) -> Vec<Vec<Vec<u8>>> {
        match self {
            Op::Multi { ops } => {
                let mut v = vec![vec![b"MULTI".to_vec()]];
                v.extend(ops.iter().map(|o| o.argv()));
                v.push(vec![b"EXEC".to_vec()]);
                v
            }
            Op::AbortedMulti { ops } => {
                let mut v = vec![vec![b"MULTI".to_vec()]];
                v.extend(ops.iter().map(|o| o.argv()));
                v
            }
            Op::SetWait { key, .. } => vec![
                vec![b"SET".to_vec(), key.as_bytes().to_vec(), b"1".to_vec()],
                self.argv(),
            ],
            Op::Pipeline { ops } => ops.iter().map(|o| o.argv()).collect(),
            other => vec![other.argv()],
        }
    }

    /// Keys the op reads or writes, in the order the model expects them.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Op::Get { key }
            | Op::Set { key, .. }
            | Op::Incr { key }
            | Op::Expire { key, .. }
            | Op::Append { key, .. } => vec![key.as_str()],
            Op::Del { keys } => keys.iter().map(|k| k.as_str()).collect(),
            Op::MSet { pairs } => pairs.iter().map(|(k, _)| k.as_str()).collect(),
            Op::DbSize => Vec::new(),
            Op::RPush { key, .. }
            | Op::LRange { key }
            | Op::SAdd { key, .. }
            | Op::SMembers { key }
            | Op::LPush { key, .. }
            | Op::BRPop { key, .. }
            | Op::SetWait { key, .. } => vec![key.as_str()],
            Op::Multi { ops } | Op::AbortedMulti { ops } | Op::Pipeline { ops } => {
                let mut v: Vec<&str> = Vec::new();
                for o in ops {
                    for k in o.keys() {
                        if !v.contains(&k) {
                            v.push(k);
                        }
                    }
                }
                v
            }
        }
    }

    /// The command line as a human reads it: `SET k0 "v1" PX 120`.
    pub fn display(&self) -> String {
        if let Op::Multi { ops } = self {
            let inner: Vec<String> = ops.iter().map(|o| o.display()).collect();
            return format!("MULTI; {}; EXEC", inner.join("; "));
        }
        if let Op::AbortedMulti { ops } = self {
            let inner: Vec<String> = ops.iter().map(|o| o.display()).collect();
            return format!("MULTI; {}; (disconnect)", inner.join("; "));
        }
        self.argv()
            .iter()
            .map(|a| {
                let t = String::from_utf8_lossy(a);
                if t.is_empty() || t.contains(' ') {
                    format!("{t:?}")
                } else {
                    t.into_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// The client opened connection `conn`.
    Connect {
        conn: u32,
    },
    ConnectFailed {
        err: String,
    },
    /// Request `id` written (and flushed) on `conn`.
    Send {
        id: u64,
        conn: u32,
        op: Op,
    },
    Recv {
        id: u64,
        reply: Reply,
    },
    /// No reply: the connection broke or the op timed out.
    Fail {
        id: u64,
        err: String,
    },
    /// Logged just before the supervisor kills the server node.
    Kill,
    /// Logged just after the server node is restarted (empty dataset).
    Restart,
    /// The restarted server finished loading its files: the recovered
    /// dataset equals the first `prefix` of the `applied` commands the
    /// server had applied so far (None: no prefix matches; see oracle.rs).
    Recovered {
        prefix: Option<u64>,
        applied: u64,
    },
    /// After the run: the server's dataset equals the first `prefix` of
    /// the `applied` commands (convergence: must be all of them).
    Final {
        prefix: Option<u64>,
        applied: u64,
    },
    /// A fault of the multi-client runner starts (`on`) or ends.
    Fault {
        name: String,
        target: String,
        on: bool,
    },
    /// Every fault healed; the final fault-free (liveness) phase begins.
    Heal,
    /// The server node is partitioned / healed (incoming and outgoing).
    Clog,
    Unclog,
    /// The client finished the random ops; the final quiet period begins.
    WorkloadDone,
    /// A runner-level check failed at this point (WAIT counted a replica
    /// that did not have the write, a replica did not converge).
    Violation {
        what: String,
    },
    /// What a runner-level checker measured or concluded (a failover's
    /// duration, how the lost writes were attributed), for the reader.
    Note {
        what: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Simulated time since the run started, in ns.
    pub t_ns: u64,
    /// Simulated wall clock (what the server's `SystemClock` reads), in ms.
    pub t_ms: i64,
    pub kind: EventKind,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = format!("{:>10.3}ms", self.t_ns as f64 / 1e6);
        match &self.kind {
            EventKind::Send { id, conn, op } => {
                write!(f, "{t} #{id:<5} c{conn} > {}", op.display())
            }
            EventKind::Recv { id, reply } => write!(f, "{t} #{id:<5}    < {reply:?}"),
            EventKind::Fail { id, err } => write!(f, "{t} #{id:<5}    ! {err}"),
            EventKind::Connect { conn } => write!(f, "{t} connect c{conn}"),
            EventKind::ConnectFailed { err } => write!(f, "{t} connect failed: {err}"),
            EventKind::Kill => write!(f, "{t} === KILL server"),
            EventKind::Restart => write!(f, "{t} === RESTART server (empty dataset)"),
            EventKind::Recovered { prefix, applied } => match prefix {
                Some(p) => write!(
                    f,
                    "{t} === RECOVERED the first {p} of {applied} applied commands"
                ),
                None => write!(
                    f,
                    "{t} === RECOVERED a state that is no prefix of the {applied} applied commands"
                ),
            },
            EventKind::Final { prefix, applied } => match prefix {
                Some(p) if p == applied => {
                    write!(f, "{t} === FINAL dataset = all {applied} applied commands")
                }
                Some(p) => write!(
                    f,
                    "{t} === FINAL dataset = only the first {p} of {applied} applied commands"
                ),
                None => write!(
                    f,
                    "{t} === FINAL dataset is no prefix of the {applied} applied commands"
                ),
            },
            EventKind::Fault { name, target, on } => {
                write!(
                    f,
                    "{t} === {} {name} {target}",
                    if *on { "START" } else { "END" }
                )
            }
            EventKind::Heal => write!(f, "{t} === HEAL everything: final fault-free phase"),
            EventKind::Clog => write!(f, "{t} === PARTITION server"),
            EventKind::Unclog => write!(f, "{t} === HEAL server"),
            EventKind::WorkloadDone => write!(f, "{t} workload done, quiet period"),
            EventKind::Violation { what } => write!(f, "{t} VIOLATION {what}"),
            EventKind::Note { what } => write!(f, "{t} NOTE {what}"),
        }
    }
}

/// FNV-1a over the Debug form of every event: stable for one binary.
pub fn trace_hash(events: &[Event]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for e in events {
        for b in format!("{e:?}").bytes().chain(std::iter::once(b'\n')) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}
