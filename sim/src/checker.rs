//! Replays a recorded history against a model of Redis strings with TTLs.
//!
//! The model keeps, per key, the set of states the key may be in ("worlds"),
//! because the client cannot know exactly when the server ran a command:
//! only that the server's clock read some `t` with `send_ms <= t <= recv_ms`.
//! Expiry rule (Redis's): a key with deadline `e` is gone when `t > e`.
//! A deadline set at an unknown `t` is an interval `[lo, hi]`. A key whose
//! deadline interval overlaps the op's window may be alive or expired, and
//! only then are both answers accepted; the reply decides which world
//! survives. Everything else must match exactly.
//!
//! Faults: a kill wipes the dataset (in-memory server) or, with durability
//! (`Checker::durable`, a server persisting to an AOF), the restarted server
//! must hold, per key, a state the key had at some moment in the last
//! `window_ms` before the kill (0 for `appendfsync always`: exactly its
//! state at the kill, or the in-flight op's result); losing an older
//! acknowledged write is a safety violation. Cross-key prefix consistency
//! is the oracle's job (oracle.rs, `EventKind::Recovered`): a `None`
//! prefix there is a safety violation here. An op in flight at
//! the kill ran on the old server or not at all: its reply, if one arrives,
//! is checked against the state before the kill. An op that fails without a
//! kill (timeout) may still run later: its keys become `Unknown` (any reply
//! accepted) until the next kill wipes them.

use std::collections::{BTreeMap, HashMap};

use crate::history::{Cond, Event, EventKind, ExpFlag, Op, Ttl};
use crate::resp::Reply;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KState {
    Absent,
    /// `exp`: the absolute deadline in ms is somewhere in `[lo, hi]`.
    Present {
        val: Vec<u8>,
        exp: Option<(i64, i64)>,
    },
    /// Touched by an op of unknown fate: anything goes.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expect {
    Exact(Reply),
    Any,
}

impl Expect {
    fn matches(&self, r: &Reply) -> bool {
        match self {
            Expect::Any => true,
            Expect::Exact(e) => e == r,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// A reply no legal execution could produce.
    Safety,
    /// Something that should eventually happen did not (expired keys not
    /// reclaimed by active expiry).
    Liveness,
}

#[derive(Clone, Debug)]
pub struct Violation {
    pub kind: ViolationKind,
    /// Index in the history of the event that exposed it.
    pub event_index: usize,
    pub message: String,
}

#[derive(Clone, Debug, Default)]
pub struct CheckStats {
    pub ops_ok: u64,
    pub ops_failed: u64,
    /// Failed without a kill: their keys became Unknown.
    pub ops_unknown_fate: u64,
    pub kills: u64,
    /// Times an op straddled a key's expiry moment (both answers possible).
    pub straddles: u64,
    /// Times a key was certainly expired when an op touched it.
    pub expired_seen: u64,
    pub max_worlds: usize,
}

const INCR_NOT_INT: &str = "ERR value is not an integer or out of range";
const INCR_OVERFLOW: &str = "ERR increment or decrement would overflow";
const MAX_COMBOS: usize = 100_000;

/// Redis's `string2ll` (util.c), written independently of the engine's.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let first = *digits.first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut v: i128 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i128::from(c - b'0');
        if v > i128::from(i64::MAX) + 1 {
            return None;
        }
    }
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

fn bulk_of(st: &KState) -> Reply {
    match st {
        KState::Present { val, .. } => Reply::bulk(val),
        _ => Reply::nil(),
    }
}

/// The possible states of `st` at a server time in `[s, r]` (expiry applied).
fn resolve(st: &KState, s: i64, r: i64, stats: &mut CheckStats) -> Vec<KState> {
    match st {
        KState::Present {
            val,
            exp: Some((lo, hi)),
        } => {
            if r <= *lo {
                vec![st.clone()]
            } else if s > *hi {
                stats.expired_seen += 1;
                vec![KState::Absent]
            } else {
                stats.straddles += 1;
                // Alive at t >= s means the deadline is >= s.
                vec![
                    KState::Absent,
                    KState::Present {
                        val: val.clone(),
                        exp: Some(((*lo).max(s), *hi)),
                    },
                ]
            }
        }
        _ => vec![st.clone()],
    }
}

/// The op's semantics on concrete (already expiry-resolved) key states.
fn apply(op: &Op, st: &[KState], s: i64, r: i64) -> Vec<(Expect, Vec<KState>)> {
    use KState::*;
    if st.contains(&Unknown) {
        return vec![(Expect::Any, vec![Unknown; st.len()])];
    }
    let one = |reply: Reply, new: KState| vec![(Expect::Exact(reply), vec![new])];
    match op {
        Op::Get { .. } => one(bulk_of(&st[0]), st[0].clone()),
        Op::Set {
            val,
            ttl,
            cond,
            keepttl,
            get,
            ..
        } => {
            let old = &st[0];
            let exists = matches!(old, Present { .. });
            let pass = match cond {
                None => true,
                Some(Cond::Nx) => !exists,
                Some(Cond::Xx) => exists,
            };
            let new = if pass {
                let exp = match ttl {
                    Some(Ttl::Ex(n)) => Some((s + n * 1000, r + n * 1000)),
                    Some(Ttl::Px(n)) => Some((s + n, r + n)),
                    None => match old {
                        Present { exp, .. } if *keepttl => *exp,
                        _ => None,
                    },
                };
                Present {
                    val: val.clone(),
                    exp,
                }
            } else {
                old.clone()
            };
            let reply = if *get {
                bulk_of(old)
            } else if pass {
                Reply::ok()
            } else {
                Reply::nil()
            };
            one(reply, new)
        }
        Op::Incr { .. } => match &st[0] {
            Present { val, exp } => match string2ll(val) {
                None => one(Reply::err(INCR_NOT_INT), st[0].clone()),
                Some(n) => match n.checked_add(1) {
                    None => one(Reply::err(INCR_OVERFLOW), st[0].clone()),
                    Some(m) => one(
                        Reply::Int(m),
                        Present {
                            val: m.to_string().into_bytes(),
                            exp: *exp,
                        },
                    ),
                },
            },
            _ => one(
                Reply::Int(1),
                Present {
                    val: b"1".to_vec(),
                    exp: None,
                },
            ),
        },
        Op::Del { .. } => {
            let n = st.iter().filter(|x| matches!(x, Present { .. })).count();
            vec![(Expect::Exact(Reply::Int(n as i64)), vec![Absent; st.len()])]
        }
        Op::Expire {
            amount,
            millis,
            flag,
            ..
        } => {
            let Present { val, exp } = &st[0] else {
                return one(Reply::Int(0), Absent);
            };
            let d = if *millis { *amount } else { amount * 1000 };
            let (wlo, whi) = (s + d, r + d);
            // Whether the NX/XX/GT/LT condition holds; both when the new and
            // current deadlines' intervals overlap.
            let passes: Vec<bool> = match (flag, exp) {
                (None, _) => vec![true],
                (Some(ExpFlag::Nx), e) => vec![e.is_none()],
                (Some(ExpFlag::Xx), e) => vec![e.is_some()],
                (Some(ExpFlag::Gt), None) => vec![false],
                (Some(ExpFlag::Gt), Some((lo, hi))) => {
                    if whi <= *lo {
                        vec![false]
                    } else if wlo > *hi {
                        vec![true]
                    } else {
                        vec![false, true]
                    }
                }
                (Some(ExpFlag::Lt), None) => vec![true],
                (Some(ExpFlag::Lt), Some((lo, hi))) => {
                    if wlo >= *hi {
                        vec![false]
                    } else if whi < *lo {
                        vec![true]
                    } else {
                        vec![false, true]
                    }
                }
            };
            passes
                .into_iter()
                .map(|pass| {
                    if !pass {
                        (Expect::Exact(Reply::Int(0)), vec![st[0].clone()])
                    } else if d <= 0 {
                        (Expect::Exact(Reply::Int(1)), vec![Absent])
                    } else {
                        (
                            Expect::Exact(Reply::Int(1)),
                            vec![Present {
                                val: val.clone(),
                                exp: Some((wlo, whi)),
                            }],
                        )
                    }
                })
                .collect()
        }
        Op::MSet { pairs } => {
            let new = pairs
                .iter()
                .map(|(_, v)| Present {
                    val: v.clone(),
                    exp: None,
                })
                .collect();
            vec![(Expect::Exact(Reply::ok()), new)]
        }
        Op::Append { val: suffix, .. } => match &st[0] {
            Present { val, exp } => {
                let mut v = val.clone();
                v.extend_from_slice(suffix);
                one(Reply::Int(v.len() as i64), Present { val: v, exp: *exp })
            }
            _ => one(
                Reply::Int(suffix.len() as i64),
                Present {
                    val: suffix.clone(),
                    exp: None,
                },
            ),
        },
        Op::DbSize => vec![(Expect::Any, Vec::new())],
        // The multi-client workloads have their own checkers (linearize.rs,
        // append.rs); this model does not judge them.
        Op::RPush { .. }
        | Op::LRange { .. }
        | Op::SAdd { .. }
        | Op::SMembers { .. }
        | Op::Multi { .. }
        | Op::Pipeline { .. }
        | Op::AbortedMulti { .. }
        | Op::LPush { .. }
        | Op::BRPop { .. }
        | Op::SetWait { .. } => vec![(Expect::Any, vec![KState::Unknown; st.len()])],
    }
}

struct Pending {
    id: u64,
    op: Op,
    send_ms: i64,
    /// Sent on a connection whose server had already been killed.
    stale: bool,
    /// Epoch of the server the connection was opened to.
    epoch: u32,
    /// The op was in flight at a kill: the replies it may legally carry.
    at_kill: Option<Vec<Expect>>,
}

/// Simulated real time in ms: fsync windows are real time, unlike expiry,
/// which follows the server's (possibly jumped) clock in `t_ms`.
fn real_ms(ev: &Event) -> i64 {
    (ev.t_ns / 1_000_000) as i64
}

pub struct Checker {
    worlds: BTreeMap<String, Vec<KState>>,
    /// Durability mode: acknowledged writes older than this many ms before
    /// a kill must survive it. None: a kill wipes everything.
    durable_window_ms: Option<i64>,
    /// Per key, earlier world sets and the time they were replaced.
    past: BTreeMap<String, Vec<(i64, Vec<KState>)>>,
    epoch: u32,
    alive: bool,
    conns: HashMap<u32, u32>,
    pending: Option<Pending>,
    pub stats: CheckStats,
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

impl Checker {
    pub fn new() -> Checker {
        Checker {
            worlds: BTreeMap::new(),
            durable_window_ms: None,
            past: BTreeMap::new(),
            epoch: 0,
            alive: true,
            conns: HashMap::new(),
            pending: None,
            stats: CheckStats::default(),
        }
    }

    /// A checker for a server that persists: see the module header.
    pub fn durable(window_ms: i64) -> Checker {
        Checker {
            durable_window_ms: Some(window_ms),
            ..Checker::new()
        }
    }

    /// Record that `key`'s worlds become `new` at `t_ms` (durability mode
    /// keeps the old ones for the loss window).
    fn set_worlds(&mut self, key: String, new: Vec<KState>, t_ms: i64) {
        if let Some(w) = self.durable_window_ms {
            let old = self.worlds_of(&key);
            if old != new {
                let past = self.past.entry(key.clone()).or_default();
                past.retain(|(t, _)| *t >= t_ms - w - 1000);
                past.push((t_ms, old));
            }
        }
        if new == [KState::Absent] {
            self.worlds.remove(&key);
        } else {
            self.worlds.insert(key, new);
        }
    }

    fn worlds_of(&self, key: &str) -> Vec<KState> {
        self.worlds
            .get(key)
            .cloned()
            .unwrap_or_else(|| vec![KState::Absent])
    }

    /// Every (expected reply, new states of the op's keys) a legal execution
    /// of `op` at a server time in `[s, r]` may produce.
    fn outcomes(&mut self, op: &Op, s: i64, r: i64) -> Result<Vec<(Expect, Vec<KState>)>, String> {
        let keys = op.keys();
        let mut combos: Vec<Vec<KState>> = vec![Vec::new()];
        for k in &keys {
            let mut next = Vec::new();
            for w in self.worlds_of(k) {
                for rw in resolve(&w, s, r, &mut self.stats) {
                    for c in &combos {
                        let mut c = c.clone();
                        c.push(rw.clone());
                        next.push(c);
                    }
                }
            }
            if next.len() > MAX_COMBOS {
                return Err(format!(
                    "model explosion: {} combinations for {}",
                    next.len(),
                    op.display()
                ));
            }
            combos = next;
        }
        let mut out = Vec::new();
        for c in combos {
            out.extend(apply(op, &c, s, r));
        }
        Ok(out)
    }

    fn describe_worlds(&self, op: &Op) -> String {
        op.keys()
            .iter()
            .map(|k| format!("{k}: {:?}", self.worlds_of(k)))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Feed one event; `idx` is its index in the history (for reports).
    pub fn step(&mut self, idx: usize, ev: &Event) -> Result<(), Violation> {
        let safety = |message: String| Violation {
            kind: ViolationKind::Safety,
            event_index: idx,
            message,
        };
        match &ev.kind {
            EventKind::Connect { conn } => {
                if !self.alive {
                    return Err(safety(format!(
                        "connection c{conn} accepted while the server was down"
                    )));
                }
                self.conns.insert(*conn, self.epoch);
            }
            EventKind::Send { id, conn, op } => {
                let epoch = self.conns.get(conn).copied().unwrap_or(u32::MAX);
                self.pending = Some(Pending {
                    id: *id,
                    op: op.clone(),
                    send_ms: ev.t_ms,
                    stale: epoch != self.epoch || !self.alive,
                    epoch,
                    at_kill: None,
                });
            }
            EventKind::Kill => {
                self.stats.kills += 1;
                let probe = self
                    .pending
                    .as_ref()
                    .filter(|p| {
                        !p.stale
                            && p.at_kill.is_none()
                            && p.epoch == self.epoch
                            && p.op != Op::DbSize
                    })
                    .map(|p| (p.op.clone(), p.send_ms));
                let mut inflight: Vec<(String, KState)> = Vec::new();
                if let Some((op, s)) = probe {
                    let outs = self.outcomes(&op, s, ev.t_ms.max(s)).map_err(safety)?;
                    let keys: Vec<String> = op.keys().iter().map(|k| k.to_string()).collect();
                    for (_, states) in &outs {
                        for (k, st) in keys.iter().zip(states) {
                            inflight.push((k.clone(), st.clone()));
                        }
                    }
                    let mut allowed: Vec<Expect> = outs.into_iter().map(|(e, _)| e).collect();
                    allowed.sort();
                    allowed.dedup();
                    if let Some(p) = self.pending.as_mut() {
                        p.at_kill = Some(allowed);
                    }
                }
                self.epoch += 1;
                self.alive = false;
                match self.durable_window_ms {
                    None => self.worlds.clear(),
                    Some(w) => {
                        // What may survive: each key's current worlds, any it
                        // had within the loss window, and the in-flight op's
                        // results (it may have been logged before the kill).
                        let mut keys: Vec<String> = self.worlds.keys().cloned().collect();
                        keys.extend(self.past.keys().cloned());
                        keys.extend(inflight.iter().map(|(k, _)| k.clone()));
                        keys.sort();
                        keys.dedup();
                        let mut next = BTreeMap::new();
                        for k in keys {
                            let mut ws = self.worlds_of(&k);
                            if let Some(p) = self.past.get(&k) {
                                for (t, old) in p {
                                    if *t >= real_ms(ev) - w {
                                        ws.extend(old.iter().cloned());
                                    }
                                }
                            }
                            ws.extend(
                                inflight
                                    .iter()
                                    .filter(|(ik, _)| *ik == k)
                                    .map(|(_, s)| s.clone()),
                            );
                            ws.sort();
                            ws.dedup();
                            self.stats.max_worlds = self.stats.max_worlds.max(ws.len());
                            if ws != [KState::Absent] {
                                next.insert(k, ws);
                            }
                        }
                        self.worlds = next;
                        self.past.clear();
                    }
                }
            }
            EventKind::Restart => self.alive = true,
            EventKind::Recovered { prefix, applied } => {
                if prefix.is_none() {
                    return Err(safety(format!(
                        "the restarted server recovered a dataset that is not a prefix of the \
                         {applied} commands it had applied (a write was lost while a later one \
                         survived, or a transaction was split)"
                    )));
                }
            }
            EventKind::Recv { id, reply } => {
                let Some(p) = self.pending.take() else {
                    return Err(safety(format!(
                        "reply {reply:?} to #{id} with no request in flight"
                    )));
                };
                if p.id != *id {
                    return Err(safety(format!(
                        "reply to #{id} while #{} was in flight",
                        p.id
                    )));
                }
                if p.stale {
                    return Err(safety(format!(
                        "#{id} {} was sent after its server was killed, yet got reply {reply:?}",
                        p.op.display()
                    )));
                }
                self.stats.ops_ok += 1;
                if let Some(allowed) = &p.at_kill {
                    if !allowed.iter().any(|e| e.matches(reply)) {
                        return Err(safety(format!(
                            "#{id} {} (in flight at a kill) got {reply:?}, expected one of {allowed:?}",
                            p.op.display()
                        )));
                    }
                    return Ok(());
                }
                if p.op == Op::DbSize {
                    return self.check_dbsize(idx, p.send_ms, ev.t_ms, reply);
                }
                let outs = self.outcomes(&p.op, p.send_ms, ev.t_ms).map_err(safety)?;
                let keys: Vec<String> = p.op.keys().iter().map(|k| k.to_string()).collect();
                let mut new: Vec<Vec<KState>> = vec![Vec::new(); keys.len()];
                let mut expected = Vec::new();
                let mut matched = false;
                for (e, states) in outs {
                    if e.matches(reply) {
                        matched = true;
                        for (i, st) in states.into_iter().enumerate() {
                            new[i].push(st);
                        }
                    } else {
                        expected.push(e);
                    }
                }
                if !matched {
                    expected.sort();
                    expected.dedup();
                    return Err(safety(format!(
                        "#{id} {} got {reply:?}; the model allows {expected:?} (sent at {} ms, answered at {} ms; \
                         model before: {})",
                        p.op.display(),
                        p.send_ms,
                        ev.t_ms,
                        self.describe_worlds(&p.op)
                    )));
                }
                for (k, mut ws) in keys.into_iter().zip(new) {
                    ws.sort();
                    ws.dedup();
                    self.stats.max_worlds = self.stats.max_worlds.max(ws.len());
                    self.set_worlds(k, ws, real_ms(ev));
                }
            }
            EventKind::Fail { id, .. } => {
                let Some(p) = self.pending.take() else {
                    return Err(safety(format!(
                        "failure of #{id} with no request in flight"
                    )));
                };
                self.stats.ops_failed += 1;
                let dead = p.stale || p.at_kill.is_some() || p.epoch != self.epoch;
                if !dead {
                    // Timed out on a live server: it may run at any later time.
                    self.stats.ops_unknown_fate += 1;
                    for k in p.op.keys() {
                        self.set_worlds(k.to_string(), vec![KState::Unknown], real_ms(ev));
                    }
                }
            }
            EventKind::Final { prefix, applied } => {
                if *prefix != Some(*applied) {
                    return Err(safety(format!(
                        "the server's final dataset is not the result of the {applied} commands \
                         it applied (best prefix: {prefix:?})"
                    )));
                }
            }
            EventKind::ConnectFailed { .. }
            | EventKind::Fault { .. }
            | EventKind::Heal
            | EventKind::Clog
            | EventKind::Unclog
            | EventKind::WorkloadDone
            | EventKind::Violation { .. }
            | EventKind::Note { .. } => {}
        }
        Ok(())
    }

    /// DBSIZE after a quiet period: at least the keys certainly alive, and
    /// no more than those possibly alive (more means expired keys were not
    /// reclaimed by active expiry).
    fn check_dbsize(&mut self, idx: usize, s: i64, r: i64, reply: &Reply) -> Result<(), Violation> {
        let (mut min, mut max) = (0i64, 0i64);
        let keys: Vec<String> = self.worlds.keys().cloned().collect();
        for k in keys {
            let mut can_live = false;
            let mut can_die = false;
            for w in self.worlds_of(&k) {
                for rw in resolve(&w, s, r, &mut self.stats) {
                    match rw {
                        KState::Absent => can_die = true,
                        KState::Present { .. } => can_live = true,
                        KState::Unknown => {
                            can_live = true;
                            can_die = true;
                        }
                    }
                }
            }
            max += i64::from(can_live);
            min += i64::from(can_live && !can_die);
        }
        let Reply::Int(n) = reply else {
            return Err(Violation {
                kind: ViolationKind::Safety,
                event_index: idx,
                message: format!("DBSIZE answered {reply:?}"),
            });
        };
        if *n < min {
            return Err(Violation {
                kind: ViolationKind::Safety,
                event_index: idx,
                message: format!(
                    "final DBSIZE is {n} but at least {min} keys must exist (model: {:?})",
                    self.worlds
                ),
            });
        }
        if *n > max {
            return Err(Violation {
                kind: ViolationKind::Liveness,
                event_index: idx,
                message: format!(
                    "final DBSIZE is {n} after the quiet period but at most {max} keys are alive: \
                     expired keys were not reclaimed by active expiry (model: {:?})",
                    self.worlds
                ),
            });
        }
        Ok(())
    }
}

/// Check a whole history.
pub fn check(events: &[Event]) -> Result<CheckStats, Violation> {
    check_with(Checker::new(), events)
}

/// Check a history with a configured checker (e.g. `Checker::durable`).
pub fn check_with(mut c: Checker, events: &[Event]) -> Result<CheckStats, Violation> {
    for (i, e) in events.iter().enumerate() {
        c.step(i, e)?;
    }
    Ok(c.stats)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ev(t_ms: i64, kind: EventKind) -> Event {
        Event {
            // No clock jumps here: real time = server time.
            t_ns: (t_ms.max(0) as u64).saturating_mul(1_000_000),
            t_ms,
            kind,
        }
    }

    /// (op, send_ms, recv_ms, reply) on connection 0, no faults.
    fn hist(ops: Vec<(Op, i64, i64, Reply)>) -> Vec<Event> {
        let mut v = vec![ev(0, EventKind::Connect { conn: 0 })];
        for (i, (op, s, r, reply)) in ops.into_iter().enumerate() {
            v.push(ev(
                s,
                EventKind::Send {
                    id: i as u64,
                    conn: 0,
                    op,
                },
            ));
            v.push(ev(
                r,
                EventKind::Recv {
                    id: i as u64,
                    reply,
                },
            ));
        }
        v
    }

    fn set_px(k: &str, v: &str, px: i64) -> Op {
        Op::Set {
            key: k.into(),
            val: v.into(),
            ttl: Some(Ttl::Px(px)),
            cond: None,
            keepttl: false,
            get: false,
        }
    }
    fn get(k: &str) -> Op {
        Op::Get { key: k.into() }
    }

    #[test]
    fn string2ll_matches_redis() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-0"), None);
        assert_eq!(string2ll(b"007"), None);
        assert_eq!(string2ll(b"+1"), None);
        assert_eq!(string2ll(b" 1"), None);
        assert_eq!(string2ll(b"1 "), None);
        assert_eq!(string2ll(b"-"), None);
        assert_eq!(string2ll(b""), None);
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"9223372036854775808"), None);
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(string2ll(b"-9223372036854775809"), None);
        assert_eq!(string2ll(b"123456789012345678901234"), None);
    }

    #[test]
    fn ttl_boundaries() {
        // Deadline in [100+50, 102+50] = [150, 152].
        let ok = hist(vec![
            (set_px("k", "v", 50), 100, 102, Reply::ok()),
            (get("k"), 140, 150, Reply::bulk(b"v")), // certainly alive (150 <= 150)
            (get("k"), 151, 153, Reply::nil()),      // straddles: either is fine
        ]);
        assert!(check(&ok).is_ok());
        let ok2 = hist(vec![
            (set_px("k", "v", 50), 100, 102, Reply::ok()),
            (get("k"), 151, 153, Reply::bulk(b"v")),
        ]);
        assert!(check(&ok2).is_ok());
        // Certainly expired (153 > 152).
        let bad = hist(vec![
            (set_px("k", "v", 50), 100, 102, Reply::ok()),
            (get("k"), 153, 160, Reply::bulk(b"v")),
        ]);
        assert_eq!(check(&bad).unwrap_err().kind, ViolationKind::Safety);
        // Certainly alive but answered nil.
        let bad2 = hist(vec![
            (set_px("k", "v", 50), 100, 102, Reply::ok()),
            (get("k"), 120, 150, Reply::nil()),
        ]);
        assert!(check(&bad2).is_err());
        // Once seen expired, it stays expired.
        let bad3 = hist(vec![
            (set_px("k", "v", 50), 100, 102, Reply::ok()),
            (get("k"), 151, 151, Reply::nil()),
            (get("k"), 151, 151, Reply::bulk(b"v")),
        ]);
        assert!(check(&bad3).is_err());
    }

    #[test]
    fn incr_append_del_expire() {
        let k = || "k".to_string();
        let h = hist(vec![
            (Op::Incr { key: k() }, 0, 1, Reply::Int(1)),
            (
                Op::Append {
                    key: k(),
                    val: b"7".to_vec(),
                },
                1,
                2,
                Reply::Int(2),
            ),
            (Op::Incr { key: k() }, 2, 3, Reply::Int(18)),
            (
                Op::Append {
                    key: k(),
                    val: b"x".to_vec(),
                },
                3,
                4,
                Reply::Int(3),
            ),
            (Op::Incr { key: k() }, 4, 5, Reply::err(INCR_NOT_INT)),
            (
                Op::Expire {
                    key: k(),
                    amount: 10,
                    millis: false,
                    flag: Some(ExpFlag::Nx),
                },
                5,
                6,
                Reply::Int(1),
            ),
            (
                Op::Expire {
                    key: k(),
                    amount: 10,
                    millis: false,
                    flag: Some(ExpFlag::Nx),
                },
                6,
                7,
                Reply::Int(0),
            ),
            (
                Op::Expire {
                    key: k(),
                    amount: 20_000,
                    millis: true,
                    flag: Some(ExpFlag::Gt),
                },
                7,
                8,
                Reply::Int(1),
            ),
            (
                Op::Expire {
                    key: k(),
                    amount: 1,
                    millis: false,
                    flag: Some(ExpFlag::Gt),
                },
                8,
                9,
                Reply::Int(0),
            ),
            (
                Op::Del {
                    keys: vec![k(), "other".into()],
                },
                9,
                10,
                Reply::Int(1),
            ),
            (
                Op::Expire {
                    key: k(),
                    amount: 10,
                    millis: false,
                    flag: None,
                },
                10,
                11,
                Reply::Int(0),
            ),
            (
                Op::Set {
                    key: k(),
                    val: b"a".to_vec(),
                    ttl: None,
                    cond: Some(Cond::Xx),
                    keepttl: false,
                    get: false,
                },
                11,
                12,
                Reply::nil(),
            ),
            (
                Op::Set {
                    key: k(),
                    val: b"a".to_vec(),
                    ttl: None,
                    cond: Some(Cond::Nx),
                    keepttl: false,
                    get: true,
                },
                12,
                13,
                Reply::nil(),
            ),
            (
                Op::Set {
                    key: k(),
                    val: b"b".to_vec(),
                    ttl: None,
                    cond: None,
                    keepttl: false,
                    get: true,
                },
                13,
                14,
                Reply::bulk(b"a"),
            ),
            (
                Op::Expire {
                    key: k(),
                    amount: 0,
                    millis: true,
                    flag: None,
                },
                14,
                15,
                Reply::Int(1),
            ),
            (get("k"), 15, 16, Reply::nil()),
        ]);
        check(&h).unwrap();
    }

    #[test]
    fn kill_wipes_and_in_flight_checked_against_old_state() {
        let op = |id, o| EventKind::Send { id, conn: 0, op: o };
        let h = vec![
            ev(0, EventKind::Connect { conn: 0 }),
            ev(0, op(0, Op::Incr { key: "k".into() })),
            ev(
                1,
                EventKind::Recv {
                    id: 0,
                    reply: Reply::Int(1),
                },
            ),
            ev(2, op(1, Op::Incr { key: "k".into() })),
            ev(3, EventKind::Kill),
            ev(
                4,
                EventKind::Recv {
                    id: 1,
                    reply: Reply::Int(2),
                },
            ),
            ev(5, EventKind::Restart),
            ev(6, EventKind::Connect { conn: 1 }),
            ev(
                7,
                EventKind::Send {
                    id: 2,
                    conn: 1,
                    op: get("k"),
                },
            ),
            ev(
                8,
                EventKind::Recv {
                    id: 2,
                    reply: Reply::nil(),
                },
            ),
        ];
        check(&h).unwrap();
        let mut bad = h.clone();
        bad[9] = ev(
            8,
            EventKind::Recv {
                id: 2,
                reply: Reply::bulk(b"2"),
            },
        );
        assert!(check(&bad).is_err());
        let mut bad2 = h.clone();
        bad2[5] = ev(
            4,
            EventKind::Recv {
                id: 1,
                reply: Reply::Int(7),
            },
        );
        assert!(check(&bad2).is_err());
    }

    /// INCR k three times (acked at 1000, 2000, 3000 ms), kill at 3500,
    /// restart, GET k answers `got`.
    fn durable_hist(got: Option<&[u8]>) -> Vec<Event> {
        let op = |id, o| EventKind::Send { id, conn: 0, op: o };
        let mut h = vec![ev(0, EventKind::Connect { conn: 0 })];
        for i in 0..3u64 {
            let t = 1000 * (i as i64 + 1);
            h.push(ev(t - 1, op(i, Op::Incr { key: "k".into() })));
            h.push(ev(
                t,
                EventKind::Recv {
                    id: i,
                    reply: Reply::Int(i as i64 + 1),
                },
            ));
        }
        h.push(ev(3500, EventKind::Kill));
        h.push(ev(3600, EventKind::Restart));
        h.push(ev(3700, EventKind::Connect { conn: 1 }));
        h.push(ev(
            3800,
            EventKind::Send {
                id: 9,
                conn: 1,
                op: get("k"),
            },
        ));
        h.push(ev(
            3801,
            EventKind::Recv {
                id: 9,
                reply: match got {
                    Some(b) => Reply::bulk(b),
                    None => Reply::nil(),
                },
            },
        ));
        h
    }

    #[test]
    fn durable_mode_allows_only_the_loss_window() {
        // always (window 0): only the last acknowledged value survives.
        check_with(Checker::durable(0), &durable_hist(Some(b"3"))).unwrap();
        assert!(check_with(Checker::durable(0), &durable_hist(Some(b"2"))).is_err());
        assert!(check_with(Checker::durable(0), &durable_hist(None)).is_err());
        // everysec-like window of 2 s: the state as of 1500 ms ("1") or any
        // later one may be recovered, not the one before the write acked
        // 2.5 s before the crash.
        for ok in [&b"1"[..], b"2", b"3"] {
            check_with(Checker::durable(2000), &durable_hist(Some(ok))).unwrap();
        }
        assert!(
            check_with(Checker::durable(2000), &durable_hist(None)).is_err(),
            "a write acknowledged 2.5 s before the crash was lost"
        );
        assert!(check_with(Checker::durable(1000), &durable_hist(Some(b"1"))).is_err());
        // In-memory mode: the kill wipes.
        check(&durable_hist(None)).unwrap();
    }

    #[test]
    fn dbsize_liveness() {
        let h = hist(vec![
            (set_px("a", "v", 10), 0, 1, Reply::ok()),
            (Op::Incr { key: "b".into() }, 1, 2, Reply::Int(1)),
            (Op::DbSize, 5000, 5001, Reply::Int(2)),
        ]);
        assert_eq!(check(&h).unwrap_err().kind, ViolationKind::Liveness);
        let h = hist(vec![
            (set_px("a", "v", 10), 0, 1, Reply::ok()),
            (Op::Incr { key: "b".into() }, 1, 2, Reply::Int(1)),
            (Op::DbSize, 5000, 5001, Reply::Int(1)),
        ]);
        check(&h).unwrap();
    }
}
