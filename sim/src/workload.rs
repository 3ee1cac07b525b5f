//! Judging a multi-client (Jepsen-style) history: the recorded events are
//! turned into operations with invoke/complete times and outcomes, split by
//! workload (the key's first letter), and each workload's checker decides:
//!
//! - `r*` registers (SET/GET) and `c*` counters (INCR/GET) and `s*` sets
//!   (SADD/SMEMBERS): per-key linearizability (linearize.rs);
//! - `l*` lists (RPUSH/LRANGE, alone or inside MULTI/EXEC): list-append
//!   anomalies (append.rs: lost, duplicated, phantom, reordered elements).
//!
//! Outcomes: a reply is "ok"; an error reply means the command did not run
//! (every error these workloads can see, -LOADING, -MISCONF, -EXECABORT,
//! is raised before execution), so the op is dropped; no reply (timeout,
//! broken connection) is "unknown": it may take effect at any later time or
//! never. Each connection is one Jepsen process: after an unknown outcome the
//! client reconnects and continues as a new process.
//!
//! Invariant: a reply whose shape the command cannot produce (GET returning
//! an integer) is a violation by itself, never silently dropped.

use std::collections::HashMap;

use crate::append::{self, Mop, MopOut, Txn};
use crate::checker::{Violation, ViolationKind};
use crate::history::{Event, EventKind, Op};
use crate::linearize::{self, CtrIn, CtrOut, HOp, RegIn, RegOut, SetIn, SetOut, Verdict};
use crate::resp::Reply;

/// Linearizability search budget per key (states visited).
const SEARCH_BUDGET: usize = 2_000_000;

/// What one run's workloads did, for the summary line.
#[derive(Clone, Debug, Default)]
pub struct WorkloadStats {
    pub ops: usize,
    pub ok: usize,
    pub failed: usize,
    pub unknown: usize,
    pub keys_checked: usize,
    /// Keys whose linearizability search ran out of budget (not proven,
    /// not failed: reported in the summary).
    pub undecided: usize,
}

/// One op as invoked, with its outcome.
struct Done<'a> {
    conn: u32,
    op: &'a Op,
    invoke: u64,
    send_idx: usize,
    /// (completion time, reply); None = unknown outcome.
    reply: Option<(u64, &'a Reply)>,
}

fn violation(idx: usize, message: String) -> Violation {
    Violation {
        kind: ViolationKind::Safety,
        event_index: idx,
        message,
    }
}

fn bad_reply(d: &Done<'_>, what: &str) -> Violation {
    violation(
        d.send_idx,
        format!(
            "{} got {:?}, which is not {what}",
            d.op.display(),
            d.reply.map(|r| r.1)
        ),
    )
}

fn int_of(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn elems(r: &Reply) -> Option<Vec<u64>> {
    match r {
        Reply::Array(Some(items)) => items
            .iter()
            .map(|i| match i {
                Reply::Bulk(Some(b)) => std::str::from_utf8(b).ok()?.parse().ok(),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// One queue's history (LPUSH / BRPOP, and the final LRANGE drain).
#[derive(Default)]
struct Queue {
    /// Element -> acknowledged (false: unknown outcome).
    pushed: std::collections::BTreeMap<u64, bool>,
    /// Elements BRPOP returned, with the event index.
    popped: Vec<(u64, usize)>,
    /// BRPOPs without a reply: each may have taken one element.
    unknown_pops: usize,
    /// The last LRANGE (the final drain after the heal).
    last_read: Option<(Vec<u64>, usize)>,
}

fn elems_of_pop(r: &Reply) -> Option<u64> {
    match r {
        Reply::Array(Some(items)) if items.len() == 2 => match &items[1] {
            Reply::Bulk(Some(b)) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// A queue delivers each element at most once, only elements that were
/// pushed, and loses none that were acknowledged: every acknowledged push is
/// popped, still in the final drain, or one of at most `unknown_pops`
/// elements taken by pops whose replies were lost (client disconnects).
fn check_queue(key: &str, q: &Queue) -> Result<(), Violation> {
    let mut seen = std::collections::BTreeMap::new();
    for &(e, idx) in &q.popped {
        if !q.pushed.contains_key(&e) {
            return Err(violation(
                idx,
                format!("queue {key}: BRPOP returned {e}, never pushed"),
            ));
        }
        if let Some(first) = seen.insert(e, idx) {
            return Err(violation(
                idx,
                format!("queue {key}: element {e} delivered twice (first at event {first})"),
            ));
        }
    }
    let Some((left, read_idx)) = &q.last_read else {
        return Ok(());
    };
    for e in left {
        if !q.pushed.contains_key(e) {
            return Err(violation(
                *read_idx,
                format!("queue {key}: {e} left in the queue, never pushed"),
            ));
        }
        if seen.contains_key(e) {
            return Err(violation(
                *read_idx,
                format!("queue {key}: {e} was popped and is still in the queue"),
            ));
        }
    }
    let left: std::collections::BTreeSet<u64> = left.iter().copied().collect();
    let missing: Vec<u64> = q
        .pushed
        .iter()
        .filter(|&(e, acked)| *acked && !seen.contains_key(e) && !left.contains(e))
        .map(|(e, _)| *e)
        .collect();
    if missing.len() > q.unknown_pops {
        return Err(violation(
            *read_idx,
            format!(
                "queue {key}: {} acknowledged elements lost (e.g. {:?}); only {} pops could have taken them",
                missing.len(),
                &missing[..missing.len().min(5)],
                q.unknown_pops
            ),
        ));
    }
    Ok(())
}

/// Pair sends with replies/failures, in invocation order.
fn collect(events: &[Event]) -> Vec<Done<'_>> {
    let mut open: HashMap<u64, usize> = HashMap::new();
    let mut out: Vec<Done<'_>> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match &e.kind {
            EventKind::Send { id, conn, op } => {
                open.insert(*id, out.len());
                out.push(Done {
                    conn: *conn,
                    op,
                    invoke: e.t_ns,
                    send_idx: i,
                    reply: None,
                });
            }
            EventKind::Recv { id, reply } => {
                if let Some(j) = open.remove(id) {
                    out[j].reply = Some((e.t_ns, reply));
                }
            }
            EventKind::Fail { id, .. } => {
                open.remove(id);
            }
            _ => {}
        }
    }
    out
}

fn workload_of(op: &Op) -> Option<char> {
    op.keys().first().and_then(|k| k.chars().next())
}

/// The oracle's verdicts recorded in the history: every recovery is a
/// prefix of what was applied, and the final dataset is all of it.
pub fn check_oracle(events: &[Event]) -> Result<(), Violation> {
    for (i, e) in events.iter().enumerate() {
        match &e.kind {
            EventKind::Recovered {
                prefix: None,
                applied,
            } => {
                return Err(violation(
                    i,
                    format!(
                        "the restarted server recovered a dataset that is not a prefix of the \
                         {applied} commands it had applied"
                    ),
                ))
            }
            EventKind::Violation { what } => return Err(violation(i, what.clone())),
            EventKind::Final { prefix, applied } if *prefix != Some(*applied) => {
                return Err(violation(
                    i,
                    format!(
                        "the server's final dataset is not the result of the {applied} commands \
                         it applied (best prefix: {prefix:?})"
                    ),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Check every workload's history. Ok: the stats; Err: the first violation.
pub fn check(events: &[Event]) -> Result<WorkloadStats, Violation> {
    let st = check_workloads(events)?;
    // After the workload checkers, so a planted bug is reported by the
    // checker aimed at it when that one sees it too.
    check_oracle(events)?;
    Ok(st)
}

fn check_workloads(events: &[Event]) -> Result<WorkloadStats, Violation> {
    let done = collect(events);
    let mut st = WorkloadStats::default();
    let mut regs: Vec<(HOp<RegIn, RegOut>, String, usize)> = Vec::new();
    let mut ctrs: Vec<(HOp<CtrIn, CtrOut>, String, usize)> = Vec::new();
    let mut sets: Vec<(HOp<SetIn, SetOut>, String, usize)> = Vec::new();
    let mut lists: Vec<(Txn, usize)> = Vec::new();
    let mut queues: std::collections::BTreeMap<String, Queue> = Default::default();
    for d in &done {
        let Some(w) = workload_of(d.op) else { continue };
        if !matches!(w, 'r' | 'c' | 's' | 'l' | 'q') {
            continue;
        }
        if matches!(d.op, Op::AbortedMulti { .. }) {
            // Never EXECed: certainly no effect, so it is left out of the
            // history; an element of it that shows up is a phantom.
            st.ops += 1;
            st.failed += 1;
            continue;
        }
        st.ops += 1;
        let (complete, reply) = match d.reply {
            None => {
                st.unknown += 1;
                (None, None)
            }
            Some((_, Reply::Error(_))) => {
                // Rejected before it ran: no effect, nothing observed.
                st.failed += 1;
                continue;
            }
            Some((t, r)) => {
                st.ok += 1;
                (Some(t), Some(r))
            }
        };
        let key =
            d.op.keys()
                .first()
                .map(|k| k.to_string())
                .unwrap_or_default();
        // A macro, not a closure: the input/output types differ per arm.
        macro_rules! hop {
            ($input:expr, $output:expr) => {
                HOp {
                    client: d.conn,
                    invoke: d.invoke,
                    complete,
                    input: $input,
                    output: $output,
                }
            };
        }
        match (w, d.op) {
            ('r', Op::Set { val, .. }) => {
                let out = match reply {
                    None => None,
                    Some(Reply::Simple(s)) if s == "OK" => Some(RegOut::Ok),
                    Some(_) => return Err(bad_reply(d, "+OK")),
                };
                regs.push((hop!(RegIn::Set(val.clone()), out), key, d.send_idx));
            }
            ('r', Op::Get { .. }) => {
                let out = match reply {
                    None => None,
                    Some(Reply::Bulk(b)) => Some(RegOut::Value(b.clone())),
                    Some(_) => return Err(bad_reply(d, "a bulk string")),
                };
                regs.push((hop!(RegIn::Get, out), key, d.send_idx));
            }
            ('c', Op::Incr { .. }) => {
                let out = match reply {
                    None => None,
                    Some(Reply::Int(n)) => Some(CtrOut::Value(*n)),
                    Some(_) => return Err(bad_reply(d, "an integer")),
                };
                ctrs.push((hop!(CtrIn::Incr, out), key, d.send_idx));
            }
            ('c', Op::Get { .. }) => {
                let out = match reply {
                    None => None,
                    Some(Reply::Bulk(None)) => Some(CtrOut::Read(None)),
                    Some(Reply::Bulk(Some(b))) => match int_of(b) {
                        Some(n) => Some(CtrOut::Read(Some(n))),
                        None => return Err(bad_reply(d, "a counter value")),
                    },
                    Some(_) => return Err(bad_reply(d, "a bulk string")),
                };
                ctrs.push((hop!(CtrIn::Get, out), key, d.send_idx));
            }
            ('s', Op::SAdd { elem, .. }) => {
                let out = match reply {
                    None => None,
                    Some(Reply::Int(n)) if *n >= 0 => Some(SetOut::Added(*n as u64)),
                    Some(_) => return Err(bad_reply(d, "an integer")),
                };
                sets.push((hop!(SetIn::SAdd(*elem), out), key, d.send_idx));
            }
            ('s', Op::SMembers { .. }) => {
                let out = match reply {
                    None => None,
                    Some(r) => match elems(r) {
                        Some(v) => Some(SetOut::Members(v)),
                        None => return Err(bad_reply(d, "an array of members")),
                    },
                };
                sets.push((hop!(SetIn::SMembers, out), key, d.send_idx));
            }
            ('q', Op::LPush { key, elem }) => {
                let q = queues.entry(key.clone()).or_default();
                match reply {
                    None => q.pushed.insert(*elem, false),
                    Some(Reply::Int(_)) => q.pushed.insert(*elem, true),
                    Some(_) => return Err(bad_reply(d, "LPUSH's length")),
                };
            }
            ('q', Op::BRPop { key, .. }) => {
                let q = queues.entry(key.clone()).or_default();
                match reply {
                    None => q.unknown_pops += 1,
                    Some(Reply::Array(None)) => {}
                    Some(r) => match elems_of_pop(r) {
                        Some(e) => q.popped.push((e, d.send_idx)),
                        None => return Err(bad_reply(d, "BRPOP's [key, element]")),
                    },
                }
            }
            ('q', Op::LRange { key }) => {
                if let Some(r) = reply {
                    match elems(r) {
                        Some(v) => {
                            queues.entry(key.clone()).or_default().last_read = Some((v, d.send_idx))
                        }
                        None => return Err(bad_reply(d, "a list of elements")),
                    }
                }
            }
            ('l', op) => {
                let ops: Vec<&Op> = match op {
                    Op::Multi { ops } => ops.iter().collect(),
                    one => vec![one],
                };
                let mut mops = Vec::new();
                for o in &ops {
                    mops.push(match o {
                        Op::RPush { key, elem } => Mop::Append {
                            key: key.clone(),
                            elem: *elem,
                        },
                        Op::LRange { key } => Mop::Read { key: key.clone() },
                        other => {
                            return Err(violation(
                                d.send_idx,
                                format!("list workload cannot check {}", other.display()),
                            ))
                        }
                    });
                }
                let replies: Option<Vec<&Reply>> = match (op, reply) {
                    (_, None) => None,
                    (Op::Multi { .. }, Some(Reply::Array(Some(items)))) => {
                        if items.len() != ops.len() {
                            return Err(bad_reply(d, "one reply per queued command"));
                        }
                        Some(items.iter().collect())
                    }
                    (Op::Multi { .. }, Some(Reply::Array(None))) => {
                        // EXEC aborted (nothing ran).
                        st.failed += 1;
                        st.ok -= 1;
                        continue;
                    }
                    (Op::Multi { .. }, Some(_)) => return Err(bad_reply(d, "EXEC's array")),
                    (_, Some(r)) => Some(vec![r]),
                };
                let output = match replies {
                    None => None,
                    Some(rs) => {
                        let mut outs = Vec::new();
                        for (m, r) in mops.iter().zip(rs) {
                            outs.push(match (m, r) {
                                (Mop::Append { .. }, Reply::Int(n)) if *n >= 0 => {
                                    MopOut::Appended(*n as u64)
                                }
                                (Mop::Read { .. }, r) => match elems(r) {
                                    Some(v) => MopOut::Read(v),
                                    None => return Err(bad_reply(d, "a list of elements")),
                                },
                                _ => return Err(bad_reply(d, "RPUSH's length")),
                            });
                        }
                        Some(outs)
                    }
                };
                lists.push((
                    HOp {
                        client: d.conn,
                        invoke: d.invoke,
                        complete,
                        input: mops,
                        output,
                    },
                    d.send_idx,
                ));
            }
            _ => {
                return Err(violation(
                    d.send_idx,
                    format!("no checker for {}", d.op.display()),
                ))
            }
        }
    }
    for (n, undecided) in [
        lin(&linearize::Register, &regs)?,
        lin(&linearize::Counter, &ctrs)?,
        lin(&linearize::SetAdd, &sets)?,
    ] {
        st.keys_checked += n;
        st.undecided += usize::from(undecided);
    }
    for (key, q) in &queues {
        check_queue(key, q)?;
        st.keys_checked += 1;
    }
    if !lists.is_empty() {
        let txns: Vec<Txn> = lists.iter().map(|(t, _)| t.clone()).collect();
        let report = append::check(&txns, &[]);
        if let Some(a) = report.anomalies.first() {
            let idx = a
                .ops()
                .last()
                .and_then(|&i| lists.get(i))
                .map_or(0, |l| l.1);
            return Err(violation(idx, format!("list-append anomaly: {a}")));
        }
        st.keys_checked += report.groups;
    }
    Ok(st)
}

/// Per-key linearizability of one workload's ops; Ok((keys checked,
/// whether the search budget ran out somewhere)).
fn lin<M>(
    model: &M,
    ops: &[(HOp<M::Input, M::Output>, String, usize)],
) -> Result<(usize, bool), Violation>
where
    M: linearize::Model,
    M::Input: Clone,
    M::Output: Clone,
{
    if ops.is_empty() {
        return Ok((0, false));
    }
    let hops: Vec<HOp<M::Input, M::Output>> = ops
        .iter()
        .map(|(h, _, _)| HOp {
            client: h.client,
            invoke: h.invoke,
            complete: h.complete,
            input: h.input.clone(),
            output: h.output.clone(),
        })
        .collect();
    let keys: std::collections::BTreeSet<&str> = ops.iter().map(|(_, k, _)| k.as_str()).collect();
    match linearize::check_partitioned(model, &hops, |i, _| ops[i].1.clone(), SEARCH_BUDGET) {
        Verdict::Ok { .. } => Ok((keys.len(), false)),
        Verdict::Violation(v) => {
            let idx = ops.get(v.op).map_or(0, |o| o.2);
            Err(violation(idx, v.describe(&hops, 8)))
        }
        Verdict::Unknown { .. } => Ok((keys.len(), true)),
        Verdict::Malformed { op, reason } => {
            let idx = ops.get(op).map_or(0, |o| o.2);
            Err(violation(idx, format!("malformed history: {reason}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(ops: &[(Op, Option<Reply>)]) -> Vec<Event> {
        let mut v = Vec::new();
        for (i, (op, r)) in ops.iter().enumerate() {
            let t = i as u64 * 10;
            v.push(Event {
                t_ns: t,
                t_ms: t as i64,
                kind: EventKind::Send {
                    id: i as u64,
                    conn: i as u32,
                    op: op.clone(),
                },
            });
            let kind = match r {
                Some(r) => EventKind::Recv {
                    id: i as u64,
                    reply: r.clone(),
                },
                None => EventKind::Fail {
                    id: i as u64,
                    err: "timeout".into(),
                },
            };
            v.push(Event {
                t_ns: t + 5,
                t_ms: t as i64 + 5,
                kind,
            });
        }
        v
    }

    fn push(e: u64) -> (Op, Option<Reply>) {
        (
            Op::LPush {
                key: "q0".into(),
                elem: e,
            },
            Some(Reply::Int(1)),
        )
    }

    fn pop(r: Option<u64>) -> (Op, Option<Reply>) {
        let reply = r.map(|e| {
            Reply::Array(Some(vec![
                Reply::bulk(b"q0"),
                Reply::bulk(e.to_string().as_bytes()),
            ]))
        });
        (
            Op::BRPop {
                key: "q0".into(),
                timeout_ms: 100,
            },
            reply,
        )
    }

    fn drain(left: &[u64]) -> (Op, Option<Reply>) {
        let items = left
            .iter()
            .map(|e| Reply::bulk(e.to_string().as_bytes()))
            .collect();
        (
            Op::LRange { key: "q0".into() },
            Some(Reply::Array(Some(items))),
        )
    }

    #[test]
    fn queue_anomalies_are_caught() {
        // Clean: 1 popped, 2 left.
        assert!(check(&hist(&[push(1), push(2), pop(Some(1)), drain(&[2])])).is_ok());
        // Lost: 2 neither popped nor left.
        let e = check(&hist(&[push(1), push(2), pop(Some(1)), drain(&[])])).err();
        assert!(e.is_some_and(|v| v.message.contains("lost")));
        // ... unless a pop without a reply may have taken it.
        assert!(check(&hist(&[
            push(1),
            push(2),
            pop(Some(1)),
            pop(None),
            drain(&[])
        ]))
        .is_ok());
        // Delivered twice.
        let e = check(&hist(&[push(1), pop(Some(1)), pop(Some(1)), drain(&[])])).err();
        assert!(e.is_some_and(|v| v.message.contains("twice")));
        // Phantom.
        let e = check(&hist(&[push(1), pop(Some(7)), drain(&[1])])).err();
        assert!(e.is_some_and(|v| v.message.contains("never pushed")));
        // Popped but still there.
        let e = check(&hist(&[push(1), pop(Some(1)), drain(&[1])])).err();
        assert!(e.is_some_and(|v| v.message.contains("still in the queue")));
    }

    #[test]
    fn an_aborted_transaction_must_leave_no_trace() {
        let aborted = (
            Op::AbortedMulti {
                ops: vec![Op::RPush {
                    key: "l0".into(),
                    elem: 9,
                }],
            },
            None,
        );
        let read = |v: &[u64]| {
            let items = v
                .iter()
                .map(|e| Reply::bulk(e.to_string().as_bytes()))
                .collect();
            (
                Op::LRange { key: "l0".into() },
                Some(Reply::Array(Some(items))),
            )
        };
        assert!(check(&hist(&[aborted.clone(), read(&[])])).is_ok());
        let e = check(&hist(&[aborted, read(&[9])])).err();
        assert!(
            e.is_some_and(|v| v.message.contains("phantom")),
            "phantom expected"
        );
    }
}
