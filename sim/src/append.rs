//! A list-append anomaly checker ("Elle-lite") for the workload where
//! clients `RPUSH key <unique element>` and read `LRANGE key 0 -1`, alone or
//! several at once inside MULTI/EXEC.
//!
//! Job: given the history (one [`Txn`] per command or MULTI/EXEC block, with
//! unknown outcomes), report typed anomalies per key, each naming the op
//! indices involved. Unlike [`crate::linearize`] it does not search: every
//! element is unique, so each read *is* a version of the list and the checks
//! are direct comparisons, linear-ish in the history size. It finds the
//! concrete symptom (which element, which reads) rather than a yes/no.
//!
//! Per (epoch, key), with `T(e)` = the earliest time element `e` is known to
//! be in the list (its RPUSH's acknowledgement, or the completion of a read
//! that saw it):
//! - [`AnomalyKind::Duplicated`]: `e` twice in one read;
//! - [`AnomalyKind::Phantom`]: `e` in a read but never pushed to this key in
//!   this epoch by an op invoked before the read completed (failed pushes are
//!   not passed in, so seeing one is a phantom too);
//! - [`AnomalyKind::Lost`]: `e` absent from a read invoked after `T(e)`, and
//!   never seen again by any read invoked after that one;
//! - [`AnomalyKind::Stale`]: a read invoked after `T(e)` misses `e`, but a
//!   later read sees it again (the list went back in time);
//! - [`AnomalyKind::Reordered`]: two reads not prefix-compatible (the list
//!   only grows at the tail, so of any two reads one is a prefix of the
//!   other); each read is compared with the longest read of the key;
//! - [`AnomalyKind::Misplaced`]: RPUSH answered length `L` but a read shows
//!   its element at an index other than `L - 1`;
//! - [`AnomalyKind::Internal`]: inside one MULTI/EXEC, a read that does not
//!   end with the block's own earlier pushes to that key (atomicity,
//!   read-your-writes) or shows one of its later pushes;
//! - [`AnomalyKind::NonUnique`] / [`AnomalyKind::Malformed`]: the history
//!   breaks the workload's preconditions (reported, and the affected
//!   elements/ops are left out of the other checks rather than guessed at).
//!
//! Unknown-outcome pushes may appear in reads or not ("unacknowledged
//! visible" is fine); unknown-outcome reads carry nothing and are skipped.
//!
//! Resets (a restart without persistence wipes the dataset): the caller
//! passes `resets`, the times at which the dataset may have been wiped. An
//! op belongs to the epoch of its *invocation* (`r <= invoke` puts it after
//! reset `r`) and can only take effect in that epoch: an op in flight at a
//! restart ran on the old server or not at all, because the restart drops
//! its connection. Ops of different epochs are never compared, so an
//! element surviving a wipe is a phantom. With persistence, pass no resets.
//!
//! Invariants: deterministic (ordered maps only; report order is epoch,
//! key, then check order), no panics on history data, no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::linearize::HOp;

/// One command of a transaction (a lone command is a one-element txn).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mop {
    /// `RPUSH key elem`
    Append { key: String, elem: u64 },
    /// `LRANGE key 0 -1`
    Read { key: String },
}

/// The reply to one [`Mop`], aligned with the inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MopOut {
    /// RPUSH's reply: the list's new length.
    Appended(u64),
    /// LRANGE's reply.
    Read(Vec<u64>),
}

/// A command or MULTI/EXEC block. `complete = None`: unknown outcome. A
/// completed txn with `output = None` is taken as acknowledged with replies
/// not recorded. Failed txns (e.g. EXECABORT) are not passed in.
pub type Txn = HOp<Vec<Mop>, Vec<MopOut>>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnomalyKind {
    Duplicated {
        read: usize,
        elem: u64,
    },
    /// `pushed_by`: the op that pushed it, if it exists but was invoked
    /// after the read completed (a read from the future).
    Phantom {
        read: usize,
        elem: u64,
        pushed_by: Option<usize>,
    },
    /// `push`: the acknowledged push, if any; `witness`: the op whose
    /// completion proves `elem` was in the list; `reads`: every read
    /// invoked after that which misses it.
    Lost {
        elem: u64,
        push: Option<usize>,
        witness: usize,
        reads: Vec<usize>,
    },
    /// `read` misses `elems`, known present since `witness` completed, yet
    /// `later` (invoked after `read`) sees `elems[0]` again.
    Stale {
        read: usize,
        elems: Vec<u64>,
        witness: usize,
        later: usize,
    },
    /// `read` is not a prefix of `reference` (the longest read): they first
    /// differ at `index` (`got` / `expected`: the elements there, `None`
    /// past the end).
    Reordered {
        read: usize,
        reference: usize,
        index: usize,
        got: Option<u64>,
        expected: Option<u64>,
    },
    Misplaced {
        push: usize,
        read: usize,
        elem: u64,
        expected_index: u64,
        index: usize,
    },
    Internal {
        txn: usize,
        reason: String,
    },
    NonUnique {
        elem: u64,
        ops: Vec<usize>,
    },
    Malformed {
        op: usize,
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// `None` only for history-wide problems (malformed ops, non-unique
    /// elements).
    pub key: Option<String>,
    pub epoch: usize,
    pub kind: AnomalyKind,
}

impl Anomaly {
    /// The short name of the anomaly type.
    pub fn name(&self) -> &'static str {
        match self.kind {
            AnomalyKind::Duplicated { .. } => "duplicated",
            AnomalyKind::Phantom { .. } => "phantom",
            AnomalyKind::Lost { .. } => "lost",
            AnomalyKind::Stale { .. } => "stale",
            AnomalyKind::Reordered { .. } => "reordered",
            AnomalyKind::Misplaced { .. } => "misplaced",
            AnomalyKind::Internal { .. } => "internal",
            AnomalyKind::NonUnique { .. } => "non-unique",
            AnomalyKind::Malformed { .. } => "malformed",
        }
    }

    /// Every op index the anomaly involves, ascending.
    pub fn ops(&self) -> Vec<usize> {
        let mut v = match &self.kind {
            AnomalyKind::Duplicated { read, .. } => vec![*read],
            AnomalyKind::Phantom {
                read, pushed_by, ..
            } => std::iter::once(*read).chain(*pushed_by).collect(),
            AnomalyKind::Lost {
                push,
                witness,
                reads,
                ..
            } => push.iter().chain([witness]).chain(reads).copied().collect(),
            AnomalyKind::Stale {
                read,
                witness,
                later,
                ..
            } => vec![*read, *witness, *later],
            AnomalyKind::Reordered {
                read, reference, ..
            } => vec![*read, *reference],
            AnomalyKind::Misplaced { push, read, .. } => vec![*push, *read],
            AnomalyKind::Internal { txn, .. } => vec![*txn],
            AnomalyKind::NonUnique { ops, .. } => ops.clone(),
            AnomalyKind::Malformed { op, .. } => vec![*op],
        };
        v.sort_unstable();
        v.dedup();
        v
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(k) = &self.key {
            write!(f, " on {k} (epoch {})", self.epoch)?;
        }
        write!(f, ": ")?;
        match &self.kind {
            AnomalyKind::Duplicated { read, elem } => write!(f, "read #{read} holds {elem} twice"),
            AnomalyKind::Phantom {
                read,
                elem,
                pushed_by: None,
            } => write!(f, "read #{read} holds {elem}, never pushed here"),
            AnomalyKind::Phantom {
                read,
                elem,
                pushed_by: Some(p),
            } => write!(f, "read #{read} holds {elem}, pushed by #{p} invoked after it"),
            AnomalyKind::Lost {
                elem,
                witness,
                reads,
                ..
            } => {
                let shown: Vec<String> = reads.iter().take(5).map(|r| format!("#{r}")).collect();
                let more = if reads.len() > 5 { ", ..." } else { "" };
                write!(
                    f,
                    "{elem} (present since #{witness} completed) missing from {} later reads ({}{more}) and never seen again",
                    reads.len(),
                    shown.join(", ")
                )
            }
            AnomalyKind::Stale {
                read,
                elems,
                witness,
                later,
            } => write!(
                f,
                "read #{read} misses {elems:?} (present since #{witness} completed), seen again by #{later}"
            ),
            AnomalyKind::Reordered {
                read,
                reference,
                index,
                got,
                expected,
            } => write!(
                f,
                "read #{read} is not a prefix of read #{reference}: at index {index} {got:?} vs {expected:?}"
            ),
            AnomalyKind::Misplaced {
                push,
                read,
                elem,
                expected_index,
                index,
            } => write!(
                f,
                "#{push} pushed {elem} as element {expected_index}, read #{read} has it at {index}"
            ),
            AnomalyKind::Internal { txn, reason } => write!(f, "txn #{txn}: {reason}"),
            AnomalyKind::NonUnique { elem, ops } => write!(f, "{elem} pushed by several ops {ops:?}"),
            AnomalyKind::Malformed { op, reason } => write!(f, "op #{op}: {reason}"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub anomalies: Vec<Anomaly>,
    /// Completed reads / pushes (any outcome) considered.
    pub reads: usize,
    pub appends: usize,
    /// (epoch, key) groups checked.
    pub groups: usize,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.anomalies.is_empty()
    }
    /// Anomaly type names, in report order (for tests and summaries).
    pub fn names(&self) -> Vec<&'static str> {
        self.anomalies.iter().map(Anomaly::name).collect()
    }
}

/// One RPUSH of a group.
struct Push {
    op: usize,
    elem: u64,
    invoke: u64,
    /// Acknowledgement time (None: unknown outcome).
    acked: Option<u64>,
    /// The reply: the new length.
    len: Option<u64>,
}

/// One completed LRANGE of a group.
struct Read<'a> {
    op: usize,
    pos: usize,
    invoke: u64,
    complete: u64,
    list: &'a [u64],
}

#[derive(Default)]
struct Group<'a> {
    pushes: Vec<Push>,
    reads: Vec<Read<'a>>,
}

/// Check `ops`, the dataset possibly wiped at the times in `resets` (any
/// order; see the module docs for the epoch rule).
pub fn check(ops: &[Txn], resets: &[u64]) -> Report {
    let mut resets = resets.to_vec();
    resets.sort_unstable();
    resets.dedup();
    let epoch_of = |t: u64| resets.partition_point(|&r| r <= t);

    let mut report = Report::default();
    let mut groups: BTreeMap<(usize, &str), Group> = BTreeMap::new();
    let mut pushers: BTreeMap<u64, Vec<usize>> = BTreeMap::new();

    for (i, t) in ops.iter().enumerate() {
        if let Some(reason) = malformed(t) {
            report.anomalies.push(Anomaly {
                key: None,
                epoch: epoch_of(t.invoke),
                kind: AnomalyKind::Malformed { op: i, reason },
            });
            continue;
        }
        let epoch = epoch_of(t.invoke);
        for (pos, m) in t.input.iter().enumerate() {
            let out = t.output.as_ref().and_then(|o| o.get(pos));
            match m {
                Mop::Append { key, elem } => {
                    report.appends += 1;
                    // Twice in one txn also counts: it makes the entry non-unique.
                    pushers.entry(*elem).or_default().push(i);
                    let len = match out {
                        Some(MopOut::Appended(n)) => Some(*n),
                        _ => None,
                    };
                    groups.entry((epoch, key)).or_default().pushes.push(Push {
                        op: i,
                        elem: *elem,
                        invoke: t.invoke,
                        acked: t.complete,
                        len,
                    });
                }
                Mop::Read { key } => {
                    if let (Some(c), Some(MopOut::Read(list))) = (t.complete, out) {
                        report.reads += 1;
                        groups.entry((epoch, key)).or_default().reads.push(Read {
                            op: i,
                            pos,
                            invoke: t.invoke,
                            complete: c,
                            list,
                        });
                    }
                }
            }
        }
    }

    // Elements pushed more than once cannot be attributed: report and skip.
    let mut ambiguous = BTreeSet::new();
    for (elem, who) in &pushers {
        if who.len() > 1 {
            ambiguous.insert(*elem);
            let mut who = who.clone();
            who.dedup();
            report.anomalies.push(Anomaly {
                key: None,
                epoch: 0,
                kind: AnomalyKind::NonUnique {
                    elem: *elem,
                    ops: who,
                },
            });
        }
    }

    report.groups = groups.len();
    for ((epoch, key), g) in &groups {
        let mut found = Vec::new();
        check_group(ops, g, &ambiguous, &mut found);
        report
            .anomalies
            .extend(found.into_iter().map(|kind| Anomaly {
                key: Some(key.to_string()),
                epoch: *epoch,
                kind,
            }));
    }
    report
}

fn malformed(t: &Txn) -> Option<String> {
    match (t.complete, &t.output) {
        (Some(c), _) if c < t.invoke => Some(format!(
            "completed at {c} before its invocation at {}",
            t.invoke
        )),
        (None, Some(_)) => Some("unknown outcome but observed replies".into()),
        (Some(_), Some(out)) => {
            if out.len() != t.input.len() {
                return Some(format!(
                    "{} commands but {} replies",
                    t.input.len(),
                    out.len()
                ));
            }
            for (pos, (m, o)) in t.input.iter().zip(out).enumerate() {
                let fits = matches!(
                    (m, o),
                    (Mop::Append { .. }, MopOut::Appended(_)) | (Mop::Read { .. }, MopOut::Read(_))
                );
                if !fits {
                    return Some(format!("reply {pos} does not fit its command"));
                }
            }
            None
        }
        _ => None,
    }
}

fn check_group(ops: &[Txn], g: &Group, ambiguous: &BTreeSet<u64>, out: &mut Vec<AnomalyKind>) {
    let push_of: BTreeMap<u64, &Push> = g
        .pushes
        .iter()
        .filter(|p| !ambiguous.contains(&p.elem))
        .map(|p| (p.elem, p))
        .collect();

    // Duplicated, Phantom, Misplaced, Internal: one read at a time.
    for r in &g.reads {
        let mut seen = BTreeSet::new();
        for (idx, &e) in r.list.iter().enumerate() {
            if ambiguous.contains(&e) {
                continue;
            }
            if !seen.insert(e) {
                out.push(AnomalyKind::Duplicated {
                    read: r.op,
                    elem: e,
                });
                continue;
            }
            match push_of.get(&e) {
                None => out.push(AnomalyKind::Phantom {
                    read: r.op,
                    elem: e,
                    pushed_by: None,
                }),
                Some(p) if p.invoke > r.complete => out.push(AnomalyKind::Phantom {
                    read: r.op,
                    elem: e,
                    pushed_by: Some(p.op),
                }),
                Some(p) => {
                    if let Some(len) = p.len {
                        if len.checked_sub(1) != Some(idx as u64) {
                            out.push(AnomalyKind::Misplaced {
                                push: p.op,
                                read: r.op,
                                elem: e,
                                expected_index: len.saturating_sub(1),
                                index: idx,
                            });
                        }
                    }
                }
            }
        }
        internal(ops, r, out);
    }

    // Reordered: every read must be a prefix of the longest one.
    if let Some(reference) = g
        .reads
        .iter()
        .enumerate()
        .max_by_key(|(i, r)| (r.list.len(), std::cmp::Reverse(*i)))
        .map(|(_, r)| r)
    {
        for r in &g.reads {
            if let Some(index) = r.list.iter().zip(reference.list).position(|(a, b)| a != b) {
                out.push(AnomalyKind::Reordered {
                    read: r.op,
                    reference: reference.op,
                    index,
                    got: r.list.get(index).copied(),
                    expected: reference.list.get(index).copied(),
                });
            }
        }
    }

    lost_and_stale(g, &push_of, ambiguous, out);
}

/// Inside one MULTI/EXEC: a read must end with the block's own earlier
/// pushes to the key, in order (nothing can interleave), and must not show
/// its own later pushes.
fn internal(ops: &[Txn], r: &Read, out: &mut Vec<AnomalyKind>) {
    let Some(t) = ops.get(r.op) else { return };
    let Some(Mop::Read { key }) = t.input.get(r.pos) else {
        return;
    };
    let mut before = Vec::new();
    let mut after = Vec::new();
    for (pos, m) in t.input.iter().enumerate() {
        if let Mop::Append { key: k, elem } = m {
            if k == key {
                if pos < r.pos {
                    before.push(*elem);
                } else {
                    after.push(*elem);
                }
            }
        }
    }
    if !r.list.ends_with(&before) {
        out.push(AnomalyKind::Internal {
            txn: r.op,
            reason: format!(
                "read {} does not end with the block's own pushes {before:?}: {:?}",
                r.pos, r.list
            ),
        });
    }
    if let Some(e) = after.iter().find(|e| r.list.contains(e)) {
        out.push(AnomalyKind::Internal {
            txn: r.op,
            reason: format!("read {} shows {e}, pushed later in the same block", r.pos),
        });
    }
}

/// Lost and Stale, from `T(e)` (see the module docs).
fn lost_and_stale(
    g: &Group,
    push_of: &BTreeMap<u64, &Push>,
    ambiguous: &BTreeSet<u64>,
    out: &mut Vec<AnomalyKind>,
) {
    // T(e) and the op that establishes it.
    let mut known: BTreeMap<u64, (u64, usize)> = BTreeMap::new();
    let mut note = |e: u64, t: u64, op: usize| {
        let k = known.entry(e).or_insert((t, op));
        if t < k.0 {
            *k = (t, op);
        }
    };
    for p in push_of.values() {
        if let Some(a) = p.acked {
            note(p.elem, a, p.op);
        }
    }
    let sets: Vec<BTreeSet<u64>> = g
        .reads
        .iter()
        .map(|r| r.list.iter().copied().collect())
        .collect();
    for r in &g.reads {
        for &e in r.list {
            // Only elements that legitimately belong here: a phantom is
            // already reported and must not make other reads look stale.
            if push_of.contains_key(&e) && !ambiguous.contains(&e) {
                note(e, r.complete, r.op);
            }
        }
    }

    // Reads by invocation time (ties: op order) for "later" questions.
    let mut by_invoke: Vec<usize> = (0..g.reads.len()).collect();
    by_invoke.sort_by_key(|&i| (g.reads[i].invoke, g.reads[i].op, g.reads[i].pos));

    // Stale reads, grouped by read: read index -> (elems, witness, later).
    let mut stale: BTreeMap<usize, (Vec<u64>, usize, usize)> = BTreeMap::new();
    for (&e, &(t, witness)) in &known {
        let missing: Vec<usize> = by_invoke
            .iter()
            .copied()
            .filter(|&i| g.reads[i].invoke > t && !sets[i].contains(&e))
            .collect();
        let Some(&first) = missing.first() else {
            continue;
        };
        let later = by_invoke
            .iter()
            .copied()
            .find(|&i| g.reads[i].invoke > g.reads[first].invoke && sets[i].contains(&e));
        match later {
            None => out.push(AnomalyKind::Lost {
                elem: e,
                push: push_of.get(&e).filter(|p| p.acked.is_some()).map(|p| p.op),
                witness,
                reads: missing.iter().map(|&i| g.reads[i].op).collect(),
            }),
            Some(l) => {
                for &i in &missing {
                    // Only the reads the element came back after are stale.
                    if g.reads[i].invoke < g.reads[l].invoke {
                        let s = stale
                            .entry(i)
                            .or_insert((Vec::new(), witness, g.reads[l].op));
                        s.0.push(e);
                    }
                }
            }
        }
    }
    for (i, (elems, witness, later)) in stale {
        out.push(AnomalyKind::Stale {
            read: g.reads[i].op,
            elems,
            witness,
            later,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(key: &str, elem: u64) -> Mop {
        Mop::Append {
            key: key.into(),
            elem,
        }
    }
    fn read(key: &str) -> Mop {
        Mop::Read { key: key.into() }
    }
    fn txn(client: u32, invoke: u64, complete: u64, input: Vec<Mop>, output: Vec<MopOut>) -> Txn {
        HOp {
            client,
            invoke,
            complete: Some(complete),
            input,
            output: Some(output),
        }
    }
    /// A lone acknowledged RPUSH returning `len`.
    fn p(client: u32, invoke: u64, complete: u64, elem: u64, len: u64) -> Txn {
        txn(
            client,
            invoke,
            complete,
            vec![push("k", elem)],
            vec![MopOut::Appended(len)],
        )
    }
    /// A lone LRANGE.
    fn r(client: u32, invoke: u64, complete: u64, list: &[u64]) -> Txn {
        txn(
            client,
            invoke,
            complete,
            vec![read("k")],
            vec![MopOut::Read(list.to_vec())],
        )
    }
    fn unknown(client: u32, invoke: u64, input: Vec<Mop>) -> Txn {
        HOp {
            client,
            invoke,
            complete: None,
            input,
            output: None,
        }
    }

    #[test]
    fn clean_history_with_concurrency_and_unknown_pushes() {
        let h = vec![
            p(1, 0, 10, 1, 1),
            p(2, 5, 20, 2, 2),
            r(3, 6, 8, &[1]), // concurrent with both pushes
            unknown(4, 7, vec![push("k", 3)]),
            r(3, 25, 30, &[1, 2]),    // the unknown push not yet visible
            r(3, 40, 50, &[1, 2, 3]), // ... now it is: fine
        ];
        let rep = check(&h, &[]);
        assert!(rep.is_clean(), "{:?}", rep.anomalies);
        assert_eq!((rep.reads, rep.appends, rep.groups), (3, 3, 1));
    }

    #[test]
    fn duplicated() {
        let h = vec![p(1, 0, 10, 1, 1), r(2, 20, 30, &[1, 1])];
        let rep = check(&h, &[]);
        assert!(rep.names().contains(&"duplicated"), "{:?}", rep.anomalies);
        let a = rep
            .anomalies
            .iter()
            .find(|a| a.name() == "duplicated")
            .expect("dup");
        assert_eq!(a.kind, AnomalyKind::Duplicated { read: 1, elem: 1 });
        assert_eq!(a.key.as_deref(), Some("k"));
    }

    #[test]
    fn phantom_never_pushed_failed_or_from_the_future() {
        // 9 was never pushed (e.g. its push failed and was left out).
        let h = vec![p(1, 0, 10, 1, 1), r(2, 20, 30, &[1, 9])];
        let rep = check(&h, &[]);
        assert_eq!(
            rep.anomalies
                .iter()
                .map(|a| a.kind.clone())
                .collect::<Vec<_>>(),
            vec![AnomalyKind::Phantom {
                read: 1,
                elem: 9,
                pushed_by: None
            }]
        );
        // Pushed to another key.
        let h = vec![
            txn(1, 0, 10, vec![push("other", 1)], vec![MopOut::Appended(1)]),
            r(2, 20, 30, &[1]),
        ];
        assert_eq!(check(&h, &[]).names(), vec!["phantom"]);
        // Pushed only after the read completed.
        let h = vec![r(2, 0, 10, &[1]), p(1, 20, 30, 1, 1)];
        let rep = check(&h, &[]);
        assert!(rep.anomalies.iter().any(|a| a.kind
            == AnomalyKind::Phantom {
                read: 0,
                elem: 1,
                pushed_by: Some(1)
            }));
    }

    #[test]
    fn lost_acknowledged_push() {
        let h = vec![
            p(1, 0, 10, 1, 1),
            p(1, 20, 30, 2, 2),
            r(2, 40, 50, &[1]),
            r(2, 60, 70, &[1]),
        ];
        let rep = check(&h, &[]);
        let lost: Vec<_> = rep
            .anomalies
            .iter()
            .filter(|a| a.name() == "lost")
            .collect();
        assert_eq!(lost.len(), 1, "{:?}", rep.anomalies);
        assert_eq!(
            lost[0].kind,
            AnomalyKind::Lost {
                elem: 2,
                push: Some(1),
                witness: 1,
                reads: vec![2, 3]
            }
        );
        assert_eq!(lost[0].ops(), vec![1, 2, 3]);
        let text = lost[0].to_string();
        assert!(
            text.starts_with("lost on k") && text.contains("#2, #3"),
            "{text}"
        );
        // A read that began before the push completed may miss it.
        let h = vec![p(1, 0, 10, 1, 1), p(1, 20, 30, 2, 2), r(2, 25, 50, &[1])];
        assert!(check(&h, &[]).is_clean());
    }

    #[test]
    fn unknown_push_seen_then_unseen_is_lost() {
        let h = vec![
            unknown(1, 0, vec![push("k", 7)]),
            r(2, 10, 20, &[7]),
            r(2, 30, 40, &[]),
        ];
        let rep = check(&h, &[]);
        assert_eq!(
            rep.anomalies
                .iter()
                .map(|a| a.kind.clone())
                .collect::<Vec<_>>(),
            vec![AnomalyKind::Lost {
                elem: 7,
                push: None,
                witness: 1,
                reads: vec![2]
            }]
        );
    }

    #[test]
    fn stale_read_between_fresh_ones() {
        let h = vec![
            p(1, 0, 10, 1, 1),
            p(1, 20, 30, 2, 2),
            r(2, 40, 50, &[1]), // misses 2, acknowledged at 30
            r(2, 60, 70, &[1, 2]),
        ];
        let rep = check(&h, &[]);
        assert_eq!(
            rep.anomalies
                .iter()
                .map(|a| a.kind.clone())
                .collect::<Vec<_>>(),
            vec![AnomalyKind::Stale {
                read: 2,
                elems: vec![2],
                witness: 1,
                later: 3
            }]
        );
    }

    #[test]
    fn reordered() {
        // Both pushes concurrent and unanswered-length: order is free, but
        // two reads must agree on it.
        let h = vec![
            unknown(1, 0, vec![push("k", 1)]),
            unknown(2, 0, vec![push("k", 2)]),
            r(3, 10, 20, &[1, 2]),
            r(3, 30, 40, &[2, 1]),
        ];
        let rep = check(&h, &[]);
        assert_eq!(rep.names(), vec!["reordered"], "{:?}", rep.anomalies);
        assert_eq!(
            rep.anomalies[0].kind,
            AnomalyKind::Reordered {
                read: 3,
                reference: 2,
                index: 0,
                got: Some(2),
                expected: Some(1)
            }
        );
        // A gap in the middle is not a prefix either.
        let h = vec![
            unknown(1, 0, vec![push("k", 1)]),
            unknown(2, 0, vec![push("k", 2)]),
            unknown(2, 0, vec![push("k", 3)]),
            r(3, 10, 20, &[1, 2, 3]),
            r(3, 30, 40, &[1, 3]),
        ];
        assert!(check(&h, &[]).names().contains(&"reordered"));
    }

    #[test]
    fn misplaced_by_rpush_length() {
        let h = vec![p(1, 0, 10, 1, 2), r(2, 20, 30, &[1])];
        let rep = check(&h, &[]);
        assert_eq!(
            rep.anomalies
                .iter()
                .map(|a| a.kind.clone())
                .collect::<Vec<_>>(),
            vec![AnomalyKind::Misplaced {
                push: 0,
                read: 1,
                elem: 1,
                expected_index: 1,
                index: 0
            }]
        );
    }

    #[test]
    fn multi_exec_blocks() {
        // Atomic block: push then read sees it at the end.
        let ok = txn(
            1,
            0,
            10,
            vec![
                push("k", 1),
                push("k", 2),
                read("k"),
                push("j", 3),
                read("j"),
            ],
            vec![
                MopOut::Appended(1),
                MopOut::Appended(2),
                MopOut::Read(vec![1, 2]),
                MopOut::Appended(1),
                MopOut::Read(vec![3]),
            ],
        );
        let rep = check(&[ok.clone(), r(2, 20, 30, &[1, 2])], &[]);
        assert!(rep.is_clean(), "{:?}", rep.anomalies);
        assert_eq!(rep.groups, 2);
        // Another client's element interleaved inside the block.
        let bad = vec![
            unknown(2, 0, vec![push("k", 9)]),
            txn(
                1,
                0,
                10,
                vec![push("k", 1), push("k", 2), read("k")],
                vec![
                    MopOut::Appended(1),
                    MopOut::Appended(3),
                    MopOut::Read(vec![1, 9, 2]),
                ],
            ),
        ];
        let rep = check(&bad, &[]);
        assert!(rep.names().contains(&"internal"), "{:?}", rep.anomalies);
        // A read showing the block's own later push.
        let bad = vec![txn(
            1,
            0,
            10,
            vec![read("k"), push("k", 1)],
            vec![MopOut::Read(vec![1]), MopOut::Appended(1)],
        )];
        assert_eq!(check(&bad, &[]).names(), vec!["internal"]);
    }

    #[test]
    fn resets_start_a_new_epoch() {
        // A wipe at 100: the post-restart read may (must) miss everything.
        let h = vec![p(1, 0, 10, 1, 1), r(2, 20, 30, &[1]), r(2, 150, 160, &[])];
        assert!(check(&h, &[100]).is_clean());
        // Without the reset, that is a lost element.
        assert_eq!(check(&h, &[]).names(), vec!["lost"]);
        // An element surviving the wipe is a phantom in the new epoch, and
        // lengths restart.
        let h = vec![
            p(1, 0, 10, 1, 1),
            p(1, 150, 160, 2, 1),
            r(2, 170, 180, &[1, 2]),
        ];
        let names = check(&h, &[100]).names();
        assert!(names.contains(&"phantom"), "{names:?}");
        let h = vec![
            p(1, 0, 10, 1, 1),
            p(1, 150, 160, 2, 1),
            r(2, 170, 180, &[2]),
        ];
        assert!(check(&h, &[100]).is_clean());
    }

    #[test]
    fn broken_preconditions_are_reported() {
        let h = vec![p(1, 0, 10, 1, 1), p(2, 0, 10, 1, 2), r(3, 20, 30, &[1, 1])];
        let rep = check(&h, &[]);
        // Reported once as non-unique, not as a duplicate read.
        assert_eq!(rep.names(), vec!["non-unique"]);
        let mut bad = r(1, 0, 10, &[1]);
        bad.output = Some(vec![]);
        let mut bad2 = r(1, 20, 10, &[]);
        bad2.output = Some(vec![MopOut::Read(vec![])]);
        let bad3 = txn(1, 0, 10, vec![read("k")], vec![MopOut::Appended(1)]);
        let rep = check(&[bad, bad2, bad3], &[]);
        assert_eq!(rep.names(), vec!["malformed"; 3]);
        assert_eq!(rep.reads, 0);
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

    /// Simulate clients against real lists: each txn (1-4 commands, a
    /// MULTI/EXEC if several) takes effect atomically at a random point in
    /// its interval; ~1 in 15 times out (unknown: takes effect later or
    /// never). Resets wipe every list; an op in flight at a reset runs
    /// before it or not at all (and then has an unknown outcome).
    fn generate(seed: u64, n: usize, clients: u64, keys: u64) -> (Vec<Txn>, Vec<u64>) {
        let mut rng = SplitMix(seed);
        let resets: Vec<u64> = (0..rng.below(3)).map(|_| 100 + rng.below(5000)).collect();
        let epoch_end = |t: u64| resets.iter().copied().filter(|&r| r > t).min();
        let mut next_free: Vec<u64> = (0..clients).map(|_| rng.below(10)).collect();
        let mut next_elem = 1u64;
        // (lin point, txn)
        let mut plan: Vec<(Option<u64>, Txn)> = Vec::new();
        for _ in 0..n {
            let c = (0..clients as usize)
                .min_by_key(|&c| next_free[c])
                .unwrap_or(0);
            let invoke = next_free[c];
            // One command in 3 of 4 txns, else a MULTI/EXEC of 2-4.
            let n_mops = if rng.below(4) == 0 {
                2 + rng.below(3)
            } else {
                1
            };
            let input: Vec<Mop> = (0..n_mops)
                .map(|_| {
                    let key = format!("k{}", rng.below(keys));
                    if rng.below(2) == 0 {
                        next_elem += 1;
                        Mop::Append {
                            key,
                            elem: next_elem,
                        }
                    } else {
                        Mop::Read { key }
                    }
                })
                .collect();
            let (mut lin, mut complete) = if rng.below(15) == 0 {
                ((rng.below(2) == 0).then(|| invoke + rng.below(400)), None)
            } else {
                let l = invoke + rng.below(30);
                (Some(l), Some(l + rng.below(30)))
            };
            // Crossing a reset: ran before it, or not at all (unknown).
            if let Some(end) = epoch_end(invoke) {
                if complete.is_some_and(|c| c >= end) {
                    complete = None;
                    if lin.is_some_and(|l| l >= end) || rng.below(2) == 0 {
                        lin = None;
                    }
                }
                if lin.is_some_and(|l| l >= end) {
                    lin = None;
                }
            }
            next_free[c] = complete.unwrap_or(invoke + 60) + rng.below(10);
            plan.push((
                lin,
                HOp {
                    client: c as u32,
                    invoke,
                    complete,
                    input,
                    output: None,
                },
            ));
        }
        // Execute in linearization order, wiping at resets.
        let mut order: Vec<usize> = (0..plan.len()).filter(|&i| plan[i].0.is_some()).collect();
        order.sort_by_key(|&i| (plan[i].0, i));
        let mut lists: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut epoch = 0;
        let mut sorted_resets = resets.clone();
        sorted_resets.sort_unstable();
        for i in order {
            let l = plan[i].0.unwrap_or(0);
            let e = sorted_resets.partition_point(|&r| r <= l);
            if e != epoch {
                lists.clear();
                epoch = e;
            }
            let outs: Vec<MopOut> = plan[i]
                .1
                .input
                .iter()
                .map(|m| match m {
                    Mop::Append { key, elem } => {
                        let list = lists.entry(key.clone()).or_default();
                        list.push(*elem);
                        MopOut::Appended(list.len() as u64)
                    }
                    Mop::Read { key } => MopOut::Read(lists.get(key).cloned().unwrap_or_default()),
                })
                .collect();
            if plan[i].1.complete.is_some() {
                plan[i].1.output = Some(outs);
            }
        }
        // Completed but never linearized cannot happen; unknown ones keep None.
        (plan.into_iter().map(|(_, t)| t).collect(), resets)
    }

    #[test]
    fn random_valid_histories_are_clean_and_mutations_are_caught() {
        for seed in 0..100 {
            let (mut h, resets) = generate(seed, 400, 1 + seed % 5, 1 + seed % 3);
            let rep = check(&h, &resets);
            assert!(
                rep.is_clean(),
                "seed {seed}: {:?}",
                &rep.anomalies[..rep.anomalies.len().min(5)]
            );
            assert!(rep.reads > 50 && rep.appends > 50, "seed {seed}: {rep:?}");

            // Pick a completed read with a non-empty list.
            let reads: Vec<(usize, usize)> = h
                .iter()
                .enumerate()
                .flat_map(|(i, t)| {
                    t.output
                        .iter()
                        .flatten()
                        .enumerate()
                        .filter_map(move |(pos, o)| {
                            matches!(o, MopOut::Read(l) if l.len() >= 2).then_some((i, pos))
                        })
                })
                .collect();
            let (i, pos) = reads[(SplitMix(seed).next() % reads.len() as u64) as usize];
            let mutate = |h: &mut Vec<Txn>, f: &dyn Fn(&mut Vec<u64>)| {
                if let Some(Some(MopOut::Read(l))) = h[i].output.as_mut().map(|o| o.get_mut(pos)) {
                    f(l);
                }
            };
            let orig = h.clone();
            mutate(&mut h, &|l| l.push(u64::MAX));
            assert!(
                check(&h, &resets).names().contains(&"phantom"),
                "seed {seed}"
            );
            h = orig.clone();
            mutate(&mut h, &|l| {
                let x = l[0];
                l.push(x)
            });
            assert!(
                check(&h, &resets).names().contains(&"duplicated"),
                "seed {seed}"
            );
            h = orig.clone();
            // Dropping the first element shifts the rest: caught by the
            // prefix check against the longest read or by positions.
            mutate(&mut h, &|l| {
                l.remove(0);
            });
            let names = check(&h, &resets).names();
            assert!(!names.is_empty(), "seed {seed}: dropped element not caught");
        }
    }

    #[test]
    fn random_lost_suffix_is_caught() {
        // Truncate every read invoked after some acknowledged push's
        // completion to exclude it (a server that forgot it): Lost.
        let mut caught = 0;
        for seed in 200..320 {
            let (mut h, resets) = generate(seed, 300, 3, 1);
            if !resets.is_empty() {
                continue;
            }
            // The first acknowledged lone push.
            let Some(pi) = h.iter().position(|t| {
                t.complete.is_some() && matches!(t.input.as_slice(), [Mop::Append { .. }])
            }) else {
                continue;
            };
            let (Some(done), Mop::Append { elem, .. }) = (h[pi].complete, h[pi].input[0].clone())
            else {
                continue;
            };
            let mut touched = 0;
            for t in h.iter_mut().filter(|t| t.invoke > done) {
                for o in t.output.iter_mut().flatten() {
                    if let MopOut::Read(l) = o {
                        let before = l.len();
                        l.retain(|&e| e != elem);
                        touched += usize::from(l.len() != before);
                    }
                }
            }
            if touched == 0 {
                continue;
            }
            let rep = check(&h, &resets);
            assert!(
                rep.anomalies.iter().any(|a| matches!(
                    a.kind,
                    AnomalyKind::Lost { elem: e, push: Some(p), .. } if e == elem && p == pi
                )),
                "seed {seed}: {:?}",
                rep.names()
            );
            caught += 1;
        }
        assert!(caught > 10, "only {caught} seeds exercised the mutation");
    }
}
