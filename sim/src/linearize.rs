//! A linearizability checker for Jepsen-style histories (pure Rust, no I/O).
//!
//! Job: decide whether a recorded concurrent history of one object (or, with
//! [`check_partitioned`], of many independent objects such as Redis keys) is
//! linearizable against a sequential [`Model`], and when it is not, explain
//! why in a form fit for a report.
//!
//! Algorithm: Wing & Gong's search with Lowe's "just-in-time linearization"
//! and memoisation (the WGL algorithm of Knossos and Porcupine):
//! - every op becomes a call entry at `invoke` and, if it completed, a return
//!   entry at `complete`; entries are sorted by time, calls before returns at
//!   equal times (an op that completed at `t` and one invoked at `t` count as
//!   concurrent: the clock cannot order them, so we must not either);
//! - the search walks the list from the front: a call entry is a candidate
//!   to linearize now (apply `Model::step`); on success both of its entries
//!   are lifted out of the list and the walk restarts from the front; a
//!   return entry means that op's deadline is reached while it is still not
//!   linearized, so the last choice is undone (backtracking);
//! - a (linearized-set, model-state) pair is only explored once: if another
//!   order of the same ops reached the same state, its future is identical.
//!   This cache is what keeps the search polynomial on realistic histories.
//!   It is strengthened for unknown-outcome ops: a node that has linearized
//!   the same completed ops, reached the same state, and used a *subset* of
//!   the unknown ops dominates the other (unknown ops are never required,
//!   so keeping one unused loses nothing), and dominated nodes are pruned.
//!   Without unknown ops this is exactly Lowe's memo; with `k` unknown
//!   register writes pending it keeps about `k` of the `2^k` subsets per
//!   (completed set, state), where a plain memo keeps them all. And
//!   unknown ops with equal inputs (say, timed-out INCRs) that are both
//!   already invoked are interchangeable, so only the earliest unapplied
//!   one is ever tried: `k` of them give `k + 1` choices, not `2^k`.
//!
//! Unknown outcomes (timeouts, lost connections) have no return entry: they
//! may be linearized at any point after their invocation, or never. The
//! search therefore succeeds as soon as every *completed* op is linearized.
//! An unknown-outcome op is stepped with `output = None`, which a model must
//! accept whenever the input can take effect. Unknown-outcome ops the model
//! calls read-only ([`Model::is_read_only`]) are dropped up front: they can
//! neither be observed nor change anything, but they would multiply the
//! search space.
//!
//! Failed ops (an error reply that guarantees no effect) are not passed in.
//!
//! P-compositionality: linearizability is local, so a history over many
//! keys is linearizable iff each key's sub-history is. [`check_partitioned`]
//! splits by a caller-given key and checks each part on its own, which turns
//! one exponential search into many small ones.
//!
//! Invariants: the search is iterative (no recursion depth tied to history
//! size), deterministic (fixed hasher, sorted partitions, stable sort with
//! op index as the final tie-break), and never panics on history data:
//! malformed input is reported as [`Verdict::Malformed`]. The budget bounds
//! the number of distinct (set, state) nodes visited; when it runs out the
//! verdict is [`Verdict::Unknown`], which callers must treat as "not proven"
//! and never as a pass.
//!
//! Model design: `step(state, input, output)` returns the next state, or
//! `None` if `output` is impossible from `state`. One function both applies
//! and validates, so a model cannot forget to check an output it uses; it
//! also lets an op whose effect depends on the state (SET NX, INCR overflow)
//! say what it did without a separate "expected output" type.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::{self, Debug};
use std::hash::{BuildHasherDefault, Hash};

/// A sequential specification. See the module docs for why `step` both
/// applies and validates.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    /// `Eq`: unknown-outcome ops with equal inputs are interchangeable.
    type Input: Debug + Eq;
    type Output: Debug;
    fn init(&self) -> Self::State;
    /// The state after `input` ran on `state` and produced `output`, or
    /// `None` if that output is impossible from `state`. `output = None`
    /// means the output was not observed (unknown outcome): the op must then
    /// be applied without constraint.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;
    /// True if the input never changes the state, so an unknown-outcome
    /// instance of it can be dropped before the search.
    fn is_read_only(&self, _input: &Self::Input) -> bool {
        false
    }
}

/// One operation of a history.
///
/// `complete = None`: unknown outcome (it may take effect at any time after
/// `invoke`, or never); its `output` must then be `None`. A completed op with
/// `output = None` is accepted too: it must be linearized before `complete`,
/// but its output is not constrained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HOp<I, O> {
    pub client: u32,
    pub invoke: u64,
    pub complete: Option<u64>,
    pub input: I,
    pub output: Option<O>,
}

/// Why a history is not linearizable, for reports. Indices are positions in
/// the slice passed to [`check`] / [`check_partitioned`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The partition (key) that failed, `Debug`-formatted; `None` for [`check`].
    pub key: Option<String>,
    /// The longest linearization found (ops in linearization order): every
    /// op in it can be explained.
    pub prefix: Vec<usize>,
    /// The op whose completion deadline was reached while it could not be
    /// linearized after the longest prefix.
    pub op: usize,
    /// The model state after `prefix`, `Debug`-formatted.
    pub state: String,
    /// Search nodes visited in this partition.
    pub visited: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Linearizable. `visited`: search nodes over all partitions.
    Ok {
        visited: usize,
    },
    Violation(Violation),
    /// The search budget ran out in partition `key` before a verdict: NOT a
    /// pass. `visited`: nodes over all partitions so far.
    Unknown {
        key: Option<String>,
        visited: usize,
    },
    /// The history itself is inconsistent (e.g. completed before invoked):
    /// a recording bug, reported rather than guessed around.
    Malformed {
        op: usize,
        reason: String,
    },
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Ok { .. })
    }
    pub fn is_violation(&self) -> bool {
        matches!(self, Verdict::Violation(_))
    }
}

impl Violation {
    /// A human-readable explanation: the prefix, then the op that could not
    /// be linearized. Long prefixes are elided to their last `tail` ops.
    pub fn describe<I: Debug, O: Debug>(&self, ops: &[HOp<I, O>], tail: usize) -> String {
        let mut s = String::new();
        let key = self
            .key
            .as_deref()
            .map(|k| format!(" on key {k}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "not linearizable{key}: {} ops linearized, then op #{} cannot be\n",
            self.prefix.len(),
            self.op
        ));
        let skip = self.prefix.len().saturating_sub(tail);
        if skip > 0 {
            s.push_str(&format!("  ... {skip} earlier ops\n"));
        }
        for &i in &self.prefix[skip..] {
            if let Some(o) = ops.get(i) {
                s.push_str(&format!("  #{i} {}\n", fmt_op(o)));
            }
        }
        s.push_str(&format!("  state: {}\n", self.state));
        if let Some(o) = ops.get(self.op) {
            s.push_str(&format!("  FAILS #{} {}\n", self.op, fmt_op(o)));
        }
        s
    }
}

fn fmt_op<I: Debug, O: Debug>(o: &HOp<I, O>) -> String {
    let end = o
        .complete
        .map(|c| c.to_string())
        .unwrap_or_else(|| "?".into());
    let out = o
        .output
        .as_ref()
        .map(|x| format!("{x:?}"))
        .unwrap_or_else(|| "?".into());
    format!(
        "c{} [{}, {}] {:?} -> {}",
        o.client, o.invoke, end, o.input, out
    )
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ok { visited } => write!(f, "linearizable ({visited} states)"),
            Verdict::Violation(v) => write!(
                f,
                "NOT linearizable{}: op #{} after a prefix of {} ops (state {})",
                v.key
                    .as_deref()
                    .map(|k| format!(" on key {k}"))
                    .unwrap_or_default(),
                v.op,
                v.prefix.len(),
                v.state
            ),
            Verdict::Unknown { key, visited } => write!(
                f,
                "UNKNOWN: search budget exhausted{} after {visited} states",
                key.as_deref()
                    .map(|k| format!(" on key {k}"))
                    .unwrap_or_default()
            ),
            Verdict::Malformed { op, reason } => {
                write!(f, "malformed history at op #{op}: {reason}")
            }
        }
    }
}

/// Check one object's history. `budget`: the most search nodes to visit.
pub fn check<M: Model>(model: &M, ops: &[HOp<M::Input, M::Output>], budget: usize) -> Verdict {
    if let Some(v) = validate(ops) {
        return v;
    }
    let idx: Vec<usize> = (0..ops.len()).collect();
    match search(model, ops, &idx, budget) {
        Search::Ok(visited) => Verdict::Ok { visited },
        Search::Unknown(visited) => Verdict::Unknown { key: None, visited },
        Search::Violation(v) => Verdict::Violation(v),
    }
}

/// Check a history of independent objects: `key_of(i, op)` names the object
/// op `i` touches (ops touching several objects at once cannot be split this
/// way and need a model over all of them). Partitions are checked in key
/// order; the first violation (or, failing that, the first exhausted budget)
/// is the verdict. `budget` applies to each partition separately.
pub fn check_partitioned<M, K, F>(
    model: &M,
    ops: &[HOp<M::Input, M::Output>],
    key_of: F,
    budget: usize,
) -> Verdict
where
    M: Model,
    K: Ord + Debug,
    F: Fn(usize, &HOp<M::Input, M::Output>) -> K,
{
    if let Some(v) = validate(ops) {
        return v;
    }
    let mut parts: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for (i, o) in ops.iter().enumerate() {
        parts.entry(key_of(i, o)).or_default().push(i);
    }
    let mut visited = 0usize;
    let mut unknown: Option<String> = None;
    for (k, idx) in &parts {
        match search(model, ops, idx, budget) {
            Search::Ok(n) => visited += n,
            Search::Unknown(n) => {
                visited += n;
                if unknown.is_none() {
                    unknown = Some(format!("{k:?}"));
                }
            }
            Search::Violation(mut v) => {
                v.key = Some(format!("{k:?}"));
                return Verdict::Violation(v);
            }
        }
    }
    match unknown {
        Some(key) => Verdict::Unknown {
            key: Some(key),
            visited,
        },
        None => Verdict::Ok { visited },
    }
}

fn validate<I, O>(ops: &[HOp<I, O>]) -> Option<Verdict> {
    for (i, o) in ops.iter().enumerate() {
        match o.complete {
            Some(c) if c < o.invoke => {
                return Some(Verdict::Malformed {
                    op: i,
                    reason: format!("completed at {c} before its invocation at {}", o.invoke),
                })
            }
            None if o.output.is_some() => {
                return Some(Verdict::Malformed {
                    op: i,
                    reason: "unknown outcome but an observed output".into(),
                })
            }
            _ => {}
        }
    }
    None
}

enum Search {
    Ok(usize),
    Unknown(usize),
    Violation(Violation),
}

const NIL: usize = usize::MAX;

/// A fixed-size bitset over the ops of one partition.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn subset_of(&self, other: &Bits) -> bool {
        self.0.iter().zip(&other.0).all(|(a, b)| a & !b == 0)
    }
}

type Memo<S> = HashMap<(Bits, S), Vec<Bits>, BuildHasherDefault<DefaultHasher>>;

/// Record the node (completed ops `done`, unknown ops `opt`, `state`);
/// false if it (or a node dominating it) was already seen. Per (done,
/// state) the memo keeps an antichain of `opt` sets: the minimal ones.
fn remember<S: Eq + Hash>(memo: &mut Memo<S>, done: &Bits, opt: &Bits, state: S) -> bool {
    let sets = memo.entry((done.clone(), state)).or_default();
    if sets.iter().any(|u| u.subset_of(opt)) {
        return false;
    }
    sets.retain(|u| !opt.subset_of(u));
    sets.push(opt.clone());
    true
}

struct Entry {
    /// Local op index (into `local`).
    op: usize,
    is_call: bool,
    /// For a call: its return entry, or NIL for an unknown outcome.
    ret: usize,
}

/// Doubly linked entry lists over shared arrays (head sentinels past the
/// entries), unlinked and relinked in LIFO order (dancing links).
struct List {
    next: Vec<usize>,
    prev: Vec<usize>,
}

impl List {
    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }
    /// Reverse of `unlink`, valid when undone in LIFO order (dancing links).
    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        if n != NIL {
            self.prev[n] = e;
        }
    }
}

/// True if an entry before `entry` in the list starting at `head` matches.
fn twin_before(list: &List, head: usize, entry: usize, same: impl Fn(usize) -> bool) -> bool {
    let mut e = list.next[head];
    while e != NIL && e != entry {
        if same(e) {
            return true;
        }
        e = list.next[e];
    }
    false
}

/// WGL + JIT linearization over the ops `idx` of `ops`.
///
/// Two dancing-links lists share the entry arrays: the main list holds the
/// calls and returns of completed ops, the side list the calls of
/// unknown-outcome ops (they have no return, so they never bound the
/// walk). At each node, candidates are the main-list calls before the first
/// pending return, then the side-list calls invoked before that return:
/// completed ops are tried first, so unknown ops are applied as late as
/// possible and small `opt` sets are met first, which makes the dominance
/// memo prune the larger ones.
fn search<M: Model>(
    model: &M,
    ops: &[HOp<M::Input, M::Output>],
    idx: &[usize],
    budget: usize,
) -> Search {
    // Unknown-outcome reads can never matter (see module docs).
    let local: Vec<usize> = idx
        .iter()
        .copied()
        .filter(|&i| ops[i].complete.is_some() || !model.is_read_only(&ops[i].input))
        .collect();
    let m = local.len();

    // Build and sort the entries: (time, calls first, op) is a total order,
    // so the result does not depend on the sort's stability. An entry's
    // index is its rank in time.
    let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * m);
    for (j, &i) in local.iter().enumerate() {
        order.push((ops[i].invoke, 0, j));
        if let Some(c) = ops[i].complete {
            order.push((c, 1, j));
        }
    }
    order.sort_unstable();
    let n = order.len();
    let (head, side) = (n, n + 1);
    let mut entries: Vec<Entry> = order
        .iter()
        .map(|&(_, kind, op)| Entry {
            op,
            is_call: kind == 0,
            ret: NIL,
        })
        .collect();
    let mut call_of = vec![NIL; m];
    for e in 0..n {
        if entries[e].is_call {
            call_of[entries[e].op] = e;
        }
    }
    for e in 0..n {
        if !entries[e].is_call {
            let c = call_of[entries[e].op];
            // Calls sort before their own return (invoke <= complete was validated).
            assert!(c != NIL && c < e, "return entry before its call");
            entries[c].ret = e;
        }
    }
    let unknown = |e: &Entry| e.is_call && e.ret == NIL;
    let mut list = List {
        next: vec![NIL; n + 2],
        prev: vec![NIL; n + 2],
    };
    let (mut tail_main, mut tail_side) = (head, side);
    for (e, entry) in entries.iter().enumerate() {
        let tail = if unknown(entry) {
            &mut tail_side
        } else {
            &mut tail_main
        };
        list.next[*tail] = e;
        list.prev[e] = *tail;
        *tail = e;
    }
    let first_return = |list: &List, entries: &[Entry]| {
        let mut e = list.next[head];
        while e != NIL && entries[e].is_call {
            e = list.next[e];
        }
        e
    };

    let mut pending_returns = entries.iter().filter(|e| !e.is_call).count();
    let mut state = model.init();
    // Linearized ops: completed ones in `done`, unknown-outcome ones in `opt`.
    let mut done = Bits::new(m);
    let mut opt = Bits::new(m);
    let mut memo: Memo<M::State> = HashMap::default();
    // The linearization so far: (call entry, state before it).
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut visited = 0usize;
    let mut best: Option<(Vec<usize>, usize, String)> = None;
    // The walk's cursor: `entry` in the main list, or in the side list
    // (`in_side`) where candidates must rank before `limit`, the first
    // pending return.
    let mut entry = list.next[head];
    let mut in_side = false;
    let mut limit = NIL;

    while pending_returns > 0 {
        let candidate = entry != NIL
            && if in_side {
                entry < limit
            } else {
                entries[entry].is_call
            };
        if !candidate {
            if !in_side {
                // Main-list candidates exhausted: try the unknown ops.
                limit = first_return(&list, &entries);
                assert!(limit != NIL, "a pending return is always linked");
                in_side = true;
                entry = list.next[side];
                continue;
            }
            // The deadline `limit` is reached and no choice remains here.
            if best.as_ref().is_none_or(|b| stack.len() > b.0.len()) {
                best = Some((
                    stack.iter().map(|&(c, _)| local[entries[c].op]).collect(),
                    local[entries[limit].op],
                    format!("{state:?}"),
                ));
            }
            let Some((c, s)) = stack.pop() else {
                let (prefix, op, state) = best.unwrap_or_default();
                return Search::Violation(Violation {
                    key: None,
                    prefix,
                    op,
                    state,
                    visited,
                });
            };
            state = s;
            let r = entries[c].ret;
            if r == NIL {
                opt.clear(entries[c].op);
            } else {
                done.clear(entries[c].op);
                list.relink(r);
                pending_returns += 1;
            }
            list.relink(c);
            // Resume after `c` in its own list.
            entry = list.next[c];
            in_side = r == NIL;
            if in_side {
                limit = first_return(&list, &entries);
            }
            continue;
        }
        let j = entries[entry].op;
        let o = &ops[local[j]];
        let is_opt = entries[entry].ret == NIL;
        if is_opt
            && twin_before(&list, side, entry, |e| {
                ops[local[entries[e].op]].input == o.input
            })
        {
            // Symmetry: an unapplied unknown op with the same input was
            // invoked earlier, so both are available from now on, and
            // applying this one instead of it reaches a mirror node.
            entry = list.next[entry];
            continue;
        }
        if let Some(next) = model.step(&state, &o.input, o.output.as_ref()) {
            let bits = if is_opt { &mut opt } else { &mut done };
            bits.set(j);
            if remember(&mut memo, &done, &opt, next.clone()) {
                visited += 1;
                if visited > budget {
                    return Search::Unknown(visited);
                }
                stack.push((entry, std::mem::replace(&mut state, next)));
                list.unlink(entry);
                let r = entries[entry].ret;
                if r != NIL {
                    list.unlink(r);
                    pending_returns -= 1;
                }
                entry = list.next[head];
                in_side = false;
                continue;
            }
            let bits = if is_opt { &mut opt } else { &mut done };
            bits.clear(j);
        }
        entry = list.next[entry];
    }
    Search::Ok(visited)
}

// ---------------------------------------------------------------- models

/// A Redis string as a register: SET (plain, NX, XX), GET, DEL of one key.
#[derive(Clone, Copy, Debug, Default)]
pub struct Register;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegIn {
    Set(Vec<u8>),
    /// `SET key v NX` (only if absent).
    SetNx(Vec<u8>),
    /// `SET key v XX` (only if present).
    SetXx(Vec<u8>),
    Get,
    Del,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegOut {
    /// Plain SET's `+OK`.
    Ok,
    /// SET NX/XX: whether it set (`+OK`) or not (nil).
    Set(bool),
    /// GET's reply.
    Value(Option<Vec<u8>>),
    /// DEL's count (0 or 1).
    Deleted(u64),
}

impl Model for Register {
    type State = Option<Vec<u8>>;
    type Input = RegIn;
    type Output = RegOut;
    fn init(&self) -> Self::State {
        None
    }
    fn step(&self, s: &Self::State, i: &RegIn, o: Option<&RegOut>) -> Option<Self::State> {
        match i {
            RegIn::Set(v) => match o {
                None | Some(RegOut::Ok) => Some(Some(v.clone())),
                _ => None,
            },
            RegIn::SetNx(v) | RegIn::SetXx(v) => {
                let sets = matches!(i, RegIn::SetNx(_)) == s.is_none();
                match o {
                    None => {}
                    Some(RegOut::Set(b)) if *b == sets => {}
                    _ => return None,
                }
                Some(if sets { Some(v.clone()) } else { s.clone() })
            }
            RegIn::Get => match o {
                None => Some(s.clone()),
                Some(RegOut::Value(v)) if v == s => Some(s.clone()),
                _ => None,
            },
            RegIn::Del => match o {
                None => Some(None),
                Some(RegOut::Deleted(n)) if *n == u64::from(s.is_some()) => Some(None),
                _ => None,
            },
        }
    }
    fn is_read_only(&self, i: &RegIn) -> bool {
        matches!(i, RegIn::Get)
    }
}

/// A Redis integer: INCR, INCRBY, GET, SET. INCR on an absent key starts
/// from 0; an overflowing INCR is an error with no effect (so an `Ok` reply
/// to it is impossible, and an unknown-outcome one changes nothing).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counter;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtrIn {
    Incr,
    IncrBy(i64),
    Get,
    Set(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtrOut {
    /// SET's `+OK`.
    Ok,
    /// INCR/INCRBY's new value.
    Value(i64),
    /// GET's reply.
    Read(Option<i64>),
}

impl Model for Counter {
    type State = Option<i64>;
    type Input = CtrIn;
    type Output = CtrOut;
    fn init(&self) -> Self::State {
        None
    }
    fn step(&self, s: &Self::State, i: &CtrIn, o: Option<&CtrOut>) -> Option<Self::State> {
        match i {
            CtrIn::Incr | CtrIn::IncrBy(_) => {
                let by = if let CtrIn::IncrBy(n) = i { *n } else { 1 };
                match (s.unwrap_or(0).checked_add(by), o) {
                    (None, None) => Some(*s),
                    (Some(v), None) => Some(Some(v)),
                    (Some(v), Some(CtrOut::Value(r))) if *r == v => Some(Some(v)),
                    _ => None,
                }
            }
            CtrIn::Get => match o {
                None => Some(*s),
                Some(CtrOut::Read(v)) if v == s => Some(*s),
                _ => None,
            },
            CtrIn::Set(n) => match o {
                None | Some(CtrOut::Ok) => Some(Some(*n)),
                _ => None,
            },
        }
    }
    fn is_read_only(&self, i: &CtrIn) -> bool {
        matches!(i, CtrIn::Get)
    }
}

/// A Redis set of integers: SADD of one member, SMEMBERS.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAdd;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetIn {
    SAdd(u64),
    SMembers,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetOut {
    /// SADD's count of added members (0 or 1).
    Added(u64),
    /// SMEMBERS's reply, in any order (Redis does not order it).
    Members(Vec<u64>),
}

impl Model for SetAdd {
    type State = BTreeSet<u64>;
    type Input = SetIn;
    type Output = SetOut;
    fn init(&self) -> Self::State {
        BTreeSet::new()
    }
    fn step(&self, s: &Self::State, i: &SetIn, o: Option<&SetOut>) -> Option<Self::State> {
        match i {
            SetIn::SAdd(e) => {
                let added = u64::from(!s.contains(e));
                match o {
                    None => {}
                    Some(SetOut::Added(n)) if *n == added => {}
                    _ => return None,
                }
                let mut s = s.clone();
                s.insert(*e);
                Some(s)
            }
            SetIn::SMembers => match o {
                None => Some(s.clone()),
                Some(SetOut::Members(m)) => {
                    // Compare as multisets: a duplicated member is an error.
                    let mut m = m.clone();
                    m.sort_unstable();
                    (m.len() == s.len() && m.iter().eq(s.iter())).then(|| s.clone())
                }
                _ => None,
            },
        }
    }
    fn is_read_only(&self, i: &SetIn) -> bool {
        matches!(i, SetIn::SMembers)
    }
}

/// A Redis list grown at the tail: RPUSH of one element, LRANGE 0 -1.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListAppend;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListIn {
    RPush(u64),
    LRange,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListOut {
    /// RPUSH's new length.
    Len(u64),
    /// LRANGE 0 -1's reply.
    List(Vec<u64>),
}

impl Model for ListAppend {
    type State = Vec<u64>;
    type Input = ListIn;
    type Output = ListOut;
    fn init(&self) -> Self::State {
        Vec::new()
    }
    fn step(&self, s: &Self::State, i: &ListIn, o: Option<&ListOut>) -> Option<Self::State> {
        match i {
            ListIn::RPush(e) => {
                let len = s.len() as u64 + 1;
                match o {
                    None => {}
                    Some(ListOut::Len(n)) if *n == len => {}
                    _ => return None,
                }
                let mut s = s.clone();
                s.push(*e);
                Some(s)
            }
            ListIn::LRange => match o {
                None => Some(s.clone()),
                Some(ListOut::List(l)) if l == s => Some(s.clone()),
                _ => None,
            },
        }
    }
    fn is_read_only(&self, i: &ListIn) -> bool {
        matches!(i, ListIn::LRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: usize = 1_000_000;

    fn op<I, O>(client: u32, invoke: u64, complete: u64, input: I, output: O) -> HOp<I, O> {
        HOp {
            client,
            invoke,
            complete: Some(complete),
            input,
            output: Some(output),
        }
    }
    fn unknown<I, O>(client: u32, invoke: u64, input: I) -> HOp<I, O> {
        HOp {
            client,
            invoke,
            complete: None,
            input,
            output: None,
        }
    }
    fn set(v: &str) -> RegIn {
        RegIn::Set(v.as_bytes().to_vec())
    }
    fn val(v: Option<&str>) -> RegOut {
        RegOut::Value(v.map(|v| v.as_bytes().to_vec()))
    }
    fn violation(v: &Verdict) -> &Violation {
        match v {
            Verdict::Violation(x) => x,
            other => panic!("expected a violation, got {other}"),
        }
    }

    // ------------------------------------------------ register

    #[test]
    fn concurrent_writes_read_may_see_either_but_not_nothing() {
        for (seen, ok) in [(Some("a"), true), (Some("b"), true), (None, false)] {
            let h = vec![
                op(1, 0, 10, set("a"), RegOut::Ok),
                op(2, 0, 10, set("b"), RegOut::Ok),
                op(3, 20, 30, RegIn::Get, val(seen)),
            ];
            let v = check(&Register, &h, BUDGET);
            assert_eq!(v.is_ok(), ok, "read {seen:?}: {v}");
            if !ok {
                assert_eq!(violation(&v).op, 2);
            }
        }
    }

    #[test]
    fn read_overlapping_a_write_may_see_old_or_new() {
        for seen in ["a", "b"] {
            let h = vec![
                op(1, 0, 5, set("a"), RegOut::Ok),
                op(1, 10, 30, set("b"), RegOut::Ok),
                op(2, 12, 14, RegIn::Get, val(Some(seen))),
            ];
            assert!(check(&Register, &h, BUDGET).is_ok(), "{seen}");
        }
    }

    #[test]
    fn stale_read_after_completed_write_is_a_violation_with_explanation() {
        let h = vec![
            op(1, 0, 5, set("a"), RegOut::Ok),
            op(1, 10, 15, set("b"), RegOut::Ok),
            op(2, 20, 25, RegIn::Get, val(Some("a"))),
        ];
        let v = check(&Register, &h, BUDGET);
        let x = violation(&v);
        assert_eq!(x.prefix, vec![0, 1]);
        assert_eq!(x.op, 2);
        assert_eq!(x.state, format!("{:?}", Some(b"b".to_vec())));
        let text = x.describe(&h, 10);
        assert!(text.contains("FAILS #2"), "{text}");
    }

    #[test]
    fn read_of_a_value_never_written_is_a_violation() {
        let h = vec![
            op(1, 0, 5, set("a"), RegOut::Ok),
            op(2, 1, 8, RegIn::Get, val(Some("zzz"))),
        ];
        assert_eq!(violation(&check(&Register, &h, BUDGET)).op, 1);
    }

    #[test]
    fn new_then_old_read_inversion_is_a_violation() {
        // b's write is still in flight; once a read saw b, a later read
        // (invoked after that one completed) cannot see a again.
        let h = vec![
            op(1, 0, 5, set("a"), RegOut::Ok),
            op(1, 10, 100, set("b"), RegOut::Ok),
            op(2, 20, 30, RegIn::Get, val(Some("b"))),
            op(3, 40, 50, RegIn::Get, val(Some("a"))),
        ];
        assert_eq!(violation(&check(&Register, &h, BUDGET)).op, 3);
        // Concurrent reads may disagree.
        let h2 = vec![
            op(1, 0, 5, set("a"), RegOut::Ok),
            op(1, 10, 100, set("b"), RegOut::Ok),
            op(2, 20, 50, RegIn::Get, val(Some("b"))),
            op(3, 40, 60, RegIn::Get, val(Some("a"))),
        ];
        assert!(check(&Register, &h2, BUDGET).is_ok());
    }

    #[test]
    fn unknown_write_observed_much_later_is_fine() {
        let h = vec![
            unknown(1, 0, set("a")),
            op(2, 100, 110, RegIn::Get, val(None)),
            op(2, 1000, 1010, RegIn::Get, val(Some("a"))),
        ];
        assert!(check(&Register, &h, BUDGET).is_ok());
        // ...but not observed before it was invoked.
        let h = vec![
            op(2, 100, 110, RegIn::Get, val(Some("a"))),
            unknown(1, 200, set("a")),
        ];
        assert!(check(&Register, &h, BUDGET).is_violation());
    }

    #[test]
    fn unknown_write_observed_then_unobserved_is_a_violation() {
        let h = vec![
            unknown(1, 0, set("a")),
            op(2, 10, 20, RegIn::Get, val(Some("a"))),
            op(2, 30, 40, RegIn::Get, val(None)),
        ];
        let v = check(&Register, &h, BUDGET);
        assert_eq!(violation(&v).op, 2);
        // An unknown write may also simply never happen.
        let h = vec![
            unknown(1, 0, set("a")),
            op(2, 30, 40, RegIn::Get, val(None)),
        ];
        assert!(check(&Register, &h, BUDGET).is_ok());
    }

    #[test]
    fn set_nx_xx_and_del() {
        let nx = |v: &str| RegIn::SetNx(v.as_bytes().to_vec());
        let xx = |v: &str| RegIn::SetXx(v.as_bytes().to_vec());
        // Two concurrent SET NX cannot both win.
        let h = vec![
            op(1, 0, 10, nx("a"), RegOut::Set(true)),
            op(2, 0, 10, nx("b"), RegOut::Set(true)),
        ];
        assert!(check(&Register, &h, BUDGET).is_violation());
        // One wins, the loser did not change the value.
        let h = vec![
            op(1, 0, 10, nx("a"), RegOut::Set(false)),
            op(2, 0, 10, nx("b"), RegOut::Set(true)),
            op(3, 20, 30, RegIn::Get, val(Some("b"))),
        ];
        assert!(check(&Register, &h, BUDGET).is_ok());
        let h = vec![
            op(1, 0, 10, nx("a"), RegOut::Set(false)),
            op(2, 0, 10, nx("b"), RegOut::Set(true)),
            op(3, 20, 30, RegIn::Get, val(Some("a"))),
        ];
        assert!(check(&Register, &h, BUDGET).is_violation());
        // XX on an absent key cannot set.
        let h = vec![op(1, 0, 10, xx("a"), RegOut::Set(true))];
        assert!(check(&Register, &h, BUDGET).is_violation());
        let h = vec![
            op(1, 0, 10, set("a"), RegOut::Ok),
            op(1, 20, 30, xx("b"), RegOut::Set(true)),
            op(1, 40, 50, RegIn::Del, RegOut::Deleted(1)),
            op(1, 60, 70, RegIn::Del, RegOut::Deleted(0)),
            op(1, 80, 90, RegIn::Get, val(None)),
        ];
        assert!(check(&Register, &h, BUDGET).is_ok());
        let h = vec![op(1, 0, 10, RegIn::Del, RegOut::Deleted(1))];
        assert!(check(&Register, &h, BUDGET).is_violation());
        // A reply of the wrong type is impossible, not ignored.
        let h = vec![op(1, 0, 10, set("a"), RegOut::Deleted(1))];
        assert!(check(&Register, &h, BUDGET).is_violation());
    }

    // ------------------------------------------------ counter

    #[test]
    fn two_concurrent_incrs_cannot_both_return_one() {
        let h = vec![
            op(1, 0, 10, CtrIn::Incr, CtrOut::Value(1)),
            op(2, 0, 10, CtrIn::Incr, CtrOut::Value(1)),
        ];
        assert!(check(&Counter, &h, BUDGET).is_violation());
        let h = vec![
            op(1, 0, 10, CtrIn::Incr, CtrOut::Value(2)),
            op(2, 0, 10, CtrIn::Incr, CtrOut::Value(1)),
            op(3, 20, 30, CtrIn::Get, CtrOut::Read(Some(2))),
        ];
        assert!(check(&Counter, &h, BUDGET).is_ok());
    }

    #[test]
    fn lost_increment_is_a_violation() {
        let h = vec![
            op(1, 0, 10, CtrIn::Incr, CtrOut::Value(2)),
            op(2, 0, 10, CtrIn::Incr, CtrOut::Value(1)),
            op(3, 20, 30, CtrIn::Get, CtrOut::Read(Some(1))),
        ];
        assert_eq!(violation(&check(&Counter, &h, BUDGET)).op, 2);
    }

    #[test]
    fn duplicated_increment_is_a_violation() {
        let h = vec![
            op(1, 0, 10, CtrIn::Incr, CtrOut::Value(1)),
            op(2, 20, 30, CtrIn::Get, CtrOut::Read(Some(2))),
        ];
        assert!(check(&Counter, &h, BUDGET).is_violation());
        let h = vec![
            op(1, 0, 10, CtrIn::Incr, CtrOut::Value(1)),
            op(1, 20, 30, CtrIn::Incr, CtrOut::Value(3)),
        ];
        assert!(check(&Counter, &h, BUDGET).is_violation());
    }

    #[test]
    fn unknown_incr_may_apply_before_after_or_never() {
        for (incr, get, ok) in [
            (1, Some(1), true),
            (1, Some(2), true),
            (2, Some(2), true),
            (2, Some(1), false),
            (1, Some(3), false),
            (1, None, false),
        ] {
            let h = vec![
                unknown(1, 0, CtrIn::Incr),
                op(2, 10, 20, CtrIn::Incr, CtrOut::Value(incr)),
                op(2, 30, 40, CtrIn::Get, CtrOut::Read(get)),
            ];
            assert_eq!(check(&Counter, &h, BUDGET).is_ok(), ok, "{incr} {get:?}");
        }
    }

    #[test]
    fn incrby_set_and_overflow() {
        let h = vec![
            op(1, 0, 10, CtrIn::Set(10), CtrOut::Ok),
            op(1, 20, 30, CtrIn::IncrBy(-15), CtrOut::Value(-5)),
            op(1, 40, 50, CtrIn::Get, CtrOut::Read(Some(-5))),
        ];
        assert!(check(&Counter, &h, BUDGET).is_ok());
        // INCR past i64::MAX is an error in Redis: no Ok reply is possible...
        let h = vec![
            op(1, 0, 10, CtrIn::Set(i64::MAX), CtrOut::Ok),
            op(1, 20, 30, CtrIn::Incr, CtrOut::Value(i64::MIN)),
        ];
        assert!(check(&Counter, &h, BUDGET).is_violation());
        // ...and an unknown-outcome one has no effect.
        let h = vec![
            op(1, 0, 10, CtrIn::Set(i64::MAX), CtrOut::Ok),
            unknown(2, 20, CtrIn::Incr),
            op(1, 40, 50, CtrIn::Get, CtrOut::Read(Some(i64::MAX))),
        ];
        assert!(check(&Counter, &h, BUDGET).is_ok());
    }

    // ------------------------------------------------ set, list

    #[test]
    fn set_add_models_membership() {
        let h = vec![
            op(1, 0, 10, SetIn::SAdd(7), SetOut::Added(1)),
            op(2, 0, 10, SetIn::SAdd(7), SetOut::Added(1)),
        ];
        assert!(check(&SetAdd, &h, BUDGET).is_violation());
        let h = vec![
            op(1, 0, 10, SetIn::SAdd(7), SetOut::Added(1)),
            op(2, 0, 10, SetIn::SAdd(3), SetOut::Added(1)),
            op(2, 5, 12, SetIn::SAdd(7), SetOut::Added(0)),
            // Any order is accepted...
            op(3, 20, 30, SetIn::SMembers, SetOut::Members(vec![7, 3])),
        ];
        assert!(check(&SetAdd, &h, BUDGET).is_ok());
        // ...but not a missing acknowledged member, nor a duplicated one.
        for bad in [vec![7], vec![7, 3, 3]] {
            let h = vec![
                op(1, 0, 10, SetIn::SAdd(7), SetOut::Added(1)),
                op(2, 0, 10, SetIn::SAdd(3), SetOut::Added(1)),
                op(3, 20, 30, SetIn::SMembers, SetOut::Members(bad.clone())),
            ];
            assert!(check(&SetAdd, &h, BUDGET).is_violation(), "{bad:?}");
        }
    }

    #[test]
    fn list_append_models_order_and_length() {
        let h = vec![
            op(1, 0, 10, ListIn::RPush(1), ListOut::Len(1)),
            op(2, 0, 10, ListIn::RPush(2), ListOut::Len(1)),
        ];
        assert!(check(&ListAppend, &h, BUDGET).is_violation());
        let h = vec![
            op(1, 0, 10, ListIn::RPush(1), ListOut::Len(2)),
            op(2, 0, 10, ListIn::RPush(2), ListOut::Len(1)),
            op(3, 20, 30, ListIn::LRange, ListOut::List(vec![2, 1])),
        ];
        assert!(check(&ListAppend, &h, BUDGET).is_ok());
        let h = vec![
            op(1, 0, 10, ListIn::RPush(1), ListOut::Len(2)),
            op(2, 0, 10, ListIn::RPush(2), ListOut::Len(1)),
            op(3, 20, 30, ListIn::LRange, ListOut::List(vec![1, 2])),
        ];
        assert!(check(&ListAppend, &h, BUDGET).is_violation());
    }

    // ------------------------------------------------ harness behaviour

    #[test]
    fn partitions_are_checked_independently_and_indices_map_back() {
        // Key "a" alone is fine; key "b" has a stale read at input index 4.
        let h = vec![
            op(1, 0, 5, set("x"), RegOut::Ok),
            op(2, 0, 5, set("y"), RegOut::Ok),
            op(1, 10, 15, RegIn::Get, val(Some("x"))),
            op(2, 10, 15, set("z"), RegOut::Ok),
            op(3, 20, 25, RegIn::Get, val(Some("y"))),
        ];
        let keys = ["a", "b", "a", "b", "b"];
        let v = check_partitioned(&Register, &h, |i, _| keys[i], BUDGET);
        let x = violation(&v);
        assert_eq!(x.key.as_deref(), Some("\"b\""));
        assert_eq!(x.op, 4);
        assert_eq!(x.prefix, vec![1, 3]);
        // As one object the same history is also wrong (z then x).
        assert!(check(&Register, &h, BUDGET).is_violation());
        // Without the stale read, per-key it is linearizable even though as
        // a single register it would not be (x read after y was written).
        let v = check_partitioned(&Register, &h[..4], |i, _| keys[i], BUDGET);
        assert!(v.is_ok(), "{v}");
    }

    #[test]
    fn budget_exhaustion_is_unknown_not_a_verdict() {
        // 16 concurrent unknown increments and an impossible final read:
        // the search must try every subset before giving up.
        let mut h: Vec<HOp<CtrIn, CtrOut>> = (0..16)
            .map(|c| unknown(c, 0, CtrIn::IncrBy(1 << c)))
            .collect();
        h.push(op(99, 10, 20, CtrIn::Get, CtrOut::Read(Some(-1))));
        let v = check(&Counter, &h, 1000);
        assert!(
            matches!(v, Verdict::Unknown { visited, .. } if visited > 1000),
            "{v}"
        );
        let v = check(&Counter, &h, BUDGET);
        assert!(v.is_violation(), "{v}");
    }

    #[test]
    fn malformed_histories_are_reported_not_guessed() {
        let h = vec![op(1, 10, 5, set("a"), RegOut::Ok)];
        assert!(matches!(
            check(&Register, &h, BUDGET),
            Verdict::Malformed { op: 0, .. }
        ));
        let mut h = vec![unknown(1, 10, set("a"))];
        h[0].output = Some(RegOut::Ok);
        assert!(matches!(
            check(&Register, &h, BUDGET),
            Verdict::Malformed { op: 0, .. }
        ));
    }

    #[test]
    fn empty_and_only_unknown_histories_are_linearizable() {
        let h: Vec<HOp<RegIn, RegOut>> = Vec::new();
        assert!(check(&Register, &h, BUDGET).is_ok());
        let h = vec![unknown(1, 0, set("a")), unknown(2, 0, RegIn::Get)];
        assert!(check(&Register, &h, BUDGET).is_ok());
    }

    // ------------------------------------------------ randomized

    struct SplitMix(u64);
    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A generated history over `keys` keys: ops with a key, an input, and
    /// (for the simulation) a linearization point inside [invoke, complete].
    struct Gen<I, O> {
        ops: Vec<HOp<I, O>>,
        keys: Vec<u64>,
    }

    /// Simulate `clients` sequential clients running `n` ops against a real
    /// sequential object per key (`apply` = the real implementation). Each
    /// op takes effect at a random point inside its interval; about 1 in 20
    /// ops times out (unknown outcome): it takes effect at a random later
    /// point (possibly much later) or never, and the client continues as a
    /// new process, as Jepsen does.
    #[allow(clippy::too_many_arguments)] // a test helper: named knobs read better than a struct
    fn generate<S: Clone, I: Clone, O>(
        seed: u64,
        n: usize,
        clients: u32,
        keys: u64,
        timeouts: bool,
        init: S,
        mut input: impl FnMut(&mut SplitMix) -> I,
        apply: impl Fn(&mut S, &I) -> O,
    ) -> Gen<I, O> {
        let mut rng = SplitMix(seed);
        // (lin point or None, key, client, invoke, complete or None, input)
        let mut plan = Vec::new();
        let mut next_free: Vec<u64> = (0..clients).map(|_| rng.below(10)).collect();
        let mut pid: Vec<u32> = (0..clients).collect();
        for _ in 0..n {
            let c = (0..clients as usize)
                .min_by_key(|&c| next_free[c])
                .unwrap_or(0);
            let invoke = next_free[c];
            let key = rng.below(keys);
            let inp = input(&mut rng);
            if timeouts && rng.below(20) == 0 {
                let lin = (rng.below(2) == 0).then(|| invoke + rng.below(500));
                plan.push((lin, key, pid[c], invoke, None, inp));
                pid[c] += clients;
                next_free[c] = invoke + 50 + rng.below(20);
            } else {
                let lin = invoke + rng.below(30);
                let complete = lin + rng.below(30);
                plan.push((Some(lin), key, pid[c], invoke, Some(complete), inp));
                next_free[c] = complete + rng.below(10);
            }
        }
        // Execute in linearization order (ties: plan order, a valid order).
        let mut order: Vec<usize> = (0..plan.len()).filter(|&i| plan[i].0.is_some()).collect();
        order.sort_by_key(|&i| (plan[i].0, i));
        let mut states: Vec<S> = (0..keys).map(|_| init.clone()).collect();
        let mut outs: Vec<Option<O>> = (0..plan.len()).map(|_| None).collect();
        for i in order {
            let k = plan[i].1 as usize;
            outs[i] = Some(apply(&mut states[k], &plan[i].5));
        }
        let mut g = Gen {
            ops: Vec::new(),
            keys: Vec::new(),
        };
        for (i, (_, key, client, invoke, complete, inp)) in plan.into_iter().enumerate() {
            let output = if complete.is_some() {
                outs[i].take()
            } else {
                None
            };
            g.ops.push(HOp {
                client,
                invoke,
                complete,
                input: inp,
                output,
            });
            g.keys.push(key);
        }
        g
    }

    fn register_history(seed: u64, n: usize, clients: u32, keys: u64) -> Gen<RegIn, RegOut> {
        let mut next_val = 0u64;
        generate(
            seed,
            n,
            clients,
            keys,
            true,
            None::<Vec<u8>>,
            move |r| match r.below(10) {
                0..=3 => RegIn::Get,
                4..=6 => {
                    next_val += 1;
                    RegIn::Set(next_val.to_string().into_bytes())
                }
                7 => {
                    next_val += 1;
                    RegIn::SetNx(next_val.to_string().into_bytes())
                }
                8 => {
                    next_val += 1;
                    RegIn::SetXx(next_val.to_string().into_bytes())
                }
                _ => RegIn::Del,
            },
            |s, i| match i {
                RegIn::Set(v) => {
                    *s = Some(v.clone());
                    RegOut::Ok
                }
                RegIn::SetNx(v) => {
                    let b = s.is_none();
                    if b {
                        *s = Some(v.clone());
                    }
                    RegOut::Set(b)
                }
                RegIn::SetXx(v) => {
                    let b = s.is_some();
                    if b {
                        *s = Some(v.clone());
                    }
                    RegOut::Set(b)
                }
                RegIn::Get => RegOut::Value(s.clone()),
                RegIn::Del => RegOut::Deleted(u64::from(s.take().is_some())),
            },
        )
    }

    fn counter_history(seed: u64, n: usize, clients: u32, keys: u64) -> Gen<CtrIn, CtrOut> {
        generate(
            seed,
            n,
            clients,
            keys,
            true,
            None::<i64>,
            |r| match r.below(10) {
                0..=3 => CtrIn::Get,
                4..=7 => CtrIn::Incr,
                8 => CtrIn::IncrBy(r.below(7) as i64 - 3),
                _ => CtrIn::Set(r.below(5) as i64),
            },
            |s, i| match i {
                CtrIn::Incr => {
                    let v = s.unwrap_or(0) + 1;
                    *s = Some(v);
                    CtrOut::Value(v)
                }
                CtrIn::IncrBy(n) => {
                    let v = s.unwrap_or(0) + n;
                    *s = Some(v);
                    CtrOut::Value(v)
                }
                CtrIn::Get => CtrOut::Read(*s),
                CtrIn::Set(n) => {
                    *s = Some(*n);
                    CtrOut::Ok
                }
            },
        )
    }

    /// The index of a completed read to corrupt, chosen by the seed.
    fn pick_read<I, O>(g: &Gen<I, O>, seed: u64, is_read: impl Fn(&I) -> bool) -> Option<usize> {
        let reads: Vec<usize> = (0..g.ops.len())
            .filter(|&i| g.ops[i].complete.is_some() && is_read(&g.ops[i].input))
            .collect();
        (!reads.is_empty())
            .then(|| reads[(SplitMix(seed ^ 0xabcd).next() % reads.len() as u64) as usize])
    }

    #[test]
    fn random_register_histories_are_linearizable_and_corruption_is_caught() {
        for seed in 0..60 {
            let mut g = register_history(seed, 300, 2 + (seed % 4) as u32, 1 + seed % 3);
            let keys = g.keys.clone();
            let v = check_partitioned(&Register, &g.ops, |i, _| keys[i], BUDGET);
            assert!(v.is_ok(), "seed {seed}: {v}");
            let r = pick_read(&g, seed, |i| matches!(i, RegIn::Get)).expect("some read");
            g.ops[r].output = Some(RegOut::Value(Some(b"never written".to_vec())));
            let v = check_partitioned(&Register, &g.ops, |i, _| keys[i], BUDGET);
            match &v {
                Verdict::Violation(x) => {
                    assert_eq!(x.key, Some(format!("{:?}", keys[r])), "seed {seed}");
                    // The blamed op is the corrupted read or an op it made
                    // impossible to place; it is on the corrupted key.
                    assert_eq!(keys[x.op], keys[r]);
                }
                other => panic!("seed {seed}: corrupted read {r} not caught: {other}"),
            }
        }
    }

    #[test]
    fn random_counter_histories_are_linearizable_and_corruption_is_caught() {
        for seed in 0..60 {
            let mut g = counter_history(seed, 300, 2 + (seed % 4) as u32, 1 + seed % 3);
            let keys = g.keys.clone();
            let v = check_partitioned(&Counter, &g.ops, |i, _| keys[i], BUDGET);
            assert!(v.is_ok(), "seed {seed}: {v}");
            let r = pick_read(&g, seed, |i| matches!(i, CtrIn::Get)).expect("some read");
            // Far beyond any value 300 small increments can reach.
            g.ops[r].output = Some(CtrOut::Read(Some(1_000_000)));
            let v = check_partitioned(&Counter, &g.ops, |i, _| keys[i], BUDGET);
            assert!(
                v.is_violation(),
                "seed {seed}: corrupted read {r} not caught: {v}"
            );
        }
    }

    #[test]
    fn random_counter_final_read_off_by_one_is_caught() {
        // No timeouts here: with unknown increments, "one less" could be an
        // increment that never happened, which is legal.
        for seed in 100..130 {
            let mut g = generate(
                seed,
                200,
                3,
                1,
                false,
                None::<i64>,
                |r| {
                    if r.below(3) == 0 {
                        CtrIn::Get
                    } else {
                        CtrIn::Incr
                    }
                },
                |s, i| match i {
                    CtrIn::Get => CtrOut::Read(*s),
                    _ => {
                        let v = s.unwrap_or(0) + 1;
                        *s = Some(v);
                        CtrOut::Value(v)
                    }
                },
            );
            let incrs = g.ops.iter().filter(|o| o.input == CtrIn::Incr).count() as i64;
            let end = g.ops.iter().filter_map(|o| o.complete).max().unwrap_or(0);
            g.ops.push(op(
                99,
                end + 1,
                end + 2,
                CtrIn::Get,
                CtrOut::Read(Some(incrs)),
            ));
            assert!(check(&Counter, &g.ops, BUDGET).is_ok(), "seed {seed}");
            for wrong in [incrs - 1, incrs + 1] {
                let last = g.ops.len() - 1;
                g.ops[last].output = Some(CtrOut::Read(Some(wrong)));
                let v = check(&Counter, &g.ops, BUDGET);
                assert_eq!(violation(&v).op, last, "seed {seed} read {wrong}");
            }
        }
    }

    /// Reference semantics by brute force: try every order of every subset
    /// of the unknown ops (all completed ops included) that respects real
    /// time (`a.complete < b.invoke` puts `a` first).
    fn brute<M: Model>(model: &M, ops: &[HOp<M::Input, M::Output>]) -> bool {
        fn go<M: Model>(
            model: &M,
            ops: &[HOp<M::Input, M::Output>],
            used: &mut Vec<bool>,
            s: &M::State,
        ) -> bool {
            let left: Vec<usize> = (0..ops.len()).filter(|&i| !used[i]).collect();
            if left.iter().all(|&i| ops[i].complete.is_none()) {
                return true;
            }
            for &i in &left {
                let blocked = left
                    .iter()
                    .any(|&p| ops[p].complete.is_some_and(|c| c < ops[i].invoke));
                if blocked {
                    continue;
                }
                if let Some(next) = model.step(s, &ops[i].input, ops[i].output.as_ref()) {
                    used[i] = true;
                    let ok = go(model, ops, used, &next);
                    used[i] = false;
                    if ok {
                        return true;
                    }
                }
            }
            false
        }
        go(model, ops, &mut vec![false; ops.len()], &model.init())
    }

    fn tiny<I, O>(
        r: &mut SplitMix,
        input: impl Fn(&mut SplitMix) -> I,
        output: impl Fn(&mut SplitMix, &I) -> O,
    ) -> Vec<HOp<I, O>> {
        (0..1 + r.below(7))
            .map(|c| {
                let invoke = r.below(20);
                let inp = input(r);
                if r.below(5) == 0 {
                    unknown(c as u32, invoke, inp)
                } else {
                    let out = output(r, &inp);
                    op(c as u32, invoke, invoke + r.below(12), inp, out)
                }
            })
            .collect()
    }

    #[test]
    fn agrees_with_brute_force_on_tiny_random_histories() {
        let mut r = SplitMix(42);
        let (mut yes, mut no) = (0, 0);
        let v = |r: &mut SplitMix| (r.below(3)).to_string().into_bytes();
        for round in 0..4000 {
            let h = tiny(
                &mut r,
                |r| match r.below(6) {
                    0 | 1 => RegIn::Get,
                    2 | 3 => RegIn::Set(v(r)),
                    4 => RegIn::SetNx(v(r)),
                    _ => RegIn::Del,
                },
                |r, i| match i {
                    RegIn::Get => RegOut::Value((r.below(4) > 0).then(|| v(r))),
                    RegIn::Set(_) => RegOut::Ok,
                    RegIn::SetNx(_) | RegIn::SetXx(_) => RegOut::Set(r.below(2) == 0),
                    RegIn::Del => RegOut::Deleted(r.below(2)),
                },
            );
            let want = brute(&Register, &h);
            assert_eq!(
                check(&Register, &h, BUDGET).is_ok(),
                want,
                "round {round}: {h:?}"
            );
            if want {
                yes += 1
            } else {
                no += 1
            }

            let h = tiny(
                &mut r,
                |r| match r.below(6) {
                    0 | 1 => CtrIn::Get,
                    2 | 3 => CtrIn::Incr,
                    4 => CtrIn::IncrBy(r.below(3) as i64 - 1),
                    _ => CtrIn::Set(r.below(3) as i64),
                },
                |r, i| match i {
                    CtrIn::Get => CtrOut::Read((r.below(4) > 0).then(|| r.below(4) as i64)),
                    CtrIn::Set(_) => CtrOut::Ok,
                    _ => CtrOut::Value(r.below(4) as i64),
                },
            );
            let want = brute(&Counter, &h);
            assert_eq!(
                check(&Counter, &h, BUDGET).is_ok(),
                want,
                "round {round}: {h:?}"
            );
            if want {
                yes += 1
            } else {
                no += 1
            }
        }
        // Both verdicts must be well represented for the comparison to mean anything.
        assert!(yes > 1000 && no > 1000, "{yes} linearizable, {no} not");
    }

    #[test]
    fn perf_2000_ops_10_keys_4_clients() {
        // Timed from outside (no wall clock in the crate); see the report.
        let mut total = 0;
        for seed in 0..5 {
            let mut g = register_history(1000 + seed, 2000, 4, 10);
            let keys = g.keys.clone();
            let v = check_partitioned(&Register, &g.ops, |i, _| keys[i], BUDGET);
            let Verdict::Ok { visited } = v else {
                panic!("seed {seed}: {v}")
            };
            total += visited;
            // A violation must be proven (exhaustively) just as fast.
            let r = pick_read(&g, seed, |i| matches!(i, RegIn::Get)).expect("some read");
            g.ops[r].output = Some(RegOut::Value(Some(b"never written".to_vec())));
            let v = check_partitioned(&Register, &g.ops, |i, _| keys[i], BUDGET);
            let Verdict::Violation(x) = v else {
                panic!("seed {seed}: {v}")
            };
            total += x.visited;
            let g = counter_history(2000 + seed, 2000, 4, 10);
            let keys = g.keys.clone();
            let v = check_partitioned(&Counter, &g.ops, |i, _| keys[i], BUDGET);
            let Verdict::Ok { visited } = v else {
                panic!("seed {seed}: {v}")
            };
            total += visited;
        }
        // The memo keeps it near-linear: a few states per op, not 2^n.
        assert!(total < 10 * 3 * 5 * 2000, "visited {total}");
    }

    #[test]
    fn perf_single_key_2000_ops_4_clients() {
        let g = register_history(77, 2000, 4, 1);
        let v = check(&Register, &g.ops, BUDGET);
        assert!(v.is_ok(), "{v}");
        let g = counter_history(78, 2000, 4, 1);
        let v = check(&Counter, &g.ops, BUDGET);
        assert!(v.is_ok(), "{v}");
    }
}
