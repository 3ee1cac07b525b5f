//! Shrinking: given a seed that fails with some [`FailureKind`], look for
//! smaller option sets that make the SAME seed fail with the SAME kind, so
//! the reproduce line a human reads is as small as possible (fewer ops,
//! faults and keys mean a shorter history and timeline).
//!
//! Invariants:
//! - Only candidates that really failed (with the original kind) are kept:
//!   the result is always a reproducer, never a guess. The seed never
//!   changes, so the run stays the same simulation, only smaller.
//! - The number of runs is bounded (`max_runs`), so shrinking terminates.
//! - Shrinking is generic: [`REDUCERS`] is a list of functions proposing
//!   smaller versions of one knob; a new knob is one more line there. The
//!   runner is a closure, so this module is plain Rust (tested in both
//!   flavours) and the binary supplies `run_seed` in the madsim flavour.

use crate::{FailureKind, SimOptions};

/// Proposes smaller values of one knob, most aggressive first; returns no
/// candidate once the knob is at its floor.
pub type Reducer = fn(&SimOptions) -> Vec<SimOptions>;

/// Candidates for a count: 0, half, minus 10 % (at least 1), minus 1 —
/// deduplicated, all below `v` and at least `floor`.
fn smaller(v: usize, floor: usize) -> Vec<usize> {
    let mut c = vec![
        floor,
        v / 2,
        v - (v / 10).max(1).min(v),
        v.saturating_sub(1),
    ];
    c.retain(|&x| x >= floor && x < v);
    c.dedup();
    c
}

fn with(o: &SimOptions, f: impl Fn(&mut SimOptions)) -> SimOptions {
    let mut c = o.clone();
    f(&mut c);
    c
}

fn kills(o: &SimOptions) -> Vec<SimOptions> {
    smaller(o.kills, 0)
        .into_iter()
        .map(|v| with(o, |c| c.kills = v))
        .collect()
}

fn partitions(o: &SimOptions) -> Vec<SimOptions> {
    smaller(o.partitions, 0)
        .into_iter()
        .map(|v| with(o, |c| c.partitions = v))
        .collect()
}

fn ops(o: &SimOptions) -> Vec<SimOptions> {
    // Halve, then -10 %: the spec'd order; the floor 1 keeps a workload.
    let mut c = vec![o.ops / 2, o.ops - (o.ops / 10).max(1).min(o.ops)];
    c.retain(|&x| x >= 1 && x < o.ops);
    c.dedup();
    c.into_iter().map(|v| with(o, |c| c.ops = v)).collect()
}

fn keys(o: &SimOptions) -> Vec<SimOptions> {
    smaller(o.keys, 1)
        .into_iter()
        .map(|v| with(o, |c| c.keys = v))
        .collect()
}

fn max_partition_ms(o: &SimOptions) -> Vec<SimOptions> {
    // Without partitions the knob does nothing: trying it would waste runs.
    // Partitions last at least 50 ms whatever the knob says.
    if o.partitions == 0 || o.max_partition_ms <= 51 {
        return Vec::new();
    }
    vec![with(o, |c| {
        c.max_partition_ms = (o.max_partition_ms / 2).max(51)
    })]
}

/// Smaller values of one fault count (set by `set`).
fn count(o: &SimOptions, n: usize, set: fn(&mut SimOptions, usize)) -> Vec<SimOptions> {
    smaller(n, 0)
        .into_iter()
        .map(|v| with(o, |c| set(c, v)))
        .collect()
}

fn quiet_ms(o: &SimOptions) -> Vec<SimOptions> {
    if o.quiet_ms == 0 {
        return Vec::new();
    }
    vec![with(o, |c| c.quiet_ms = o.quiet_ms / 2)]
}

/// The knobs shrinking tries, in order (faults first: they make the
/// history hardest to read).
pub const REDUCERS: &[(&str, Reducer)] = &[
    ("kills", kills),
    ("partitions", partitions),
    ("pauses", |o| count(o, o.pauses, |c, v| c.pauses = v)),
    ("client-cuts", |o| {
        count(o, o.client_cuts, |c, v| c.client_cuts = v)
    }),
    ("one-way", |o| count(o, o.one_way, |c, v| c.one_way = v)),
    ("spikes", |o| count(o, o.spikes, |c, v| c.spikes = v)),
    ("loss", |o| count(o, o.loss, |c, v| c.loss = v)),
    ("disk-faults", |o| {
        count(o, o.disk_faults, |c, v| c.disk_faults = v)
    }),
    ("clock-jumps", |o| {
        count(o, o.clock_jumps, |c, v| c.clock_jumps = v)
    }),
    ("repl-faults", |o| {
        count(o, o.repl_faults, |c, v| c.repl_faults = v)
    }),
    ("failovers", |o| {
        count(o, o.failovers, |c, v| c.failovers = v)
    }),
    ("sentinel-cuts", |o| {
        count(o, o.sentinel_cuts, |c, v| c.sentinel_cuts = v)
    }),
    ("buggify", |o| {
        if o.buggify {
            vec![with(o, |c| c.buggify = false)]
        } else {
            Vec::new()
        }
    }),
    ("clients", |o| {
        if o.clients > 1 {
            vec![with(o, |c| c.clients = o.clients - 1)]
        } else {
            Vec::new()
        }
    }),
    ("ops", ops),
    ("keys", keys),
    ("max-partition-ms", max_partition_ms),
    ("quiet-ms", quiet_ms),
];

/// What shrinking found.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The smallest failing options found (the original if nothing smaller failed).
    pub opts: SimOptions,
    /// Runs spent (each candidate is one `fails` call).
    pub runs: usize,
    /// Candidates that still failed and were adopted.
    pub steps: usize,
}

/// Shrink `start` (which fails with `kind`) with at most `max_runs` calls of
/// `fails`, which runs the same seed with candidate options and returns the
/// failure kind, if any. Greedy per knob: adopt the first candidate that
/// fails with `kind` and keep shrinking that knob; then the next knob. Knobs
/// interact (fewer ops can make a kill land elsewhere), so passes repeat
/// while one adopted something, until a pass adopts nothing or the budget
/// is spent.
pub fn shrink(
    start: &SimOptions,
    kind: FailureKind,
    max_runs: usize,
    mut fails: impl FnMut(&SimOptions) -> Option<FailureKind>,
) -> Shrunk {
    let mut best = start.clone();
    let mut runs = 0;
    let mut steps = 0;
    'pass: loop {
        let mut adopted = false;
        for (_, reduce) in REDUCERS {
            'knob: loop {
                for cand in reduce(&best) {
                    if runs >= max_runs {
                        break 'pass;
                    }
                    runs += 1;
                    if fails(&cand) == Some(kind) {
                        best = cand;
                        steps += 1;
                        adopted = true;
                        continue 'knob;
                    }
                }
                break;
            }
        }
        if !adopted {
            break;
        }
    }
    Shrunk {
        opts: best,
        runs,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake "bug": fails with Safety when ops >= 37 and kills >= 1.
    fn fake(o: &SimOptions) -> Option<FailureKind> {
        (o.ops >= 37 && o.kills >= 1).then_some(FailureKind::Safety)
    }

    #[test]
    fn finds_the_threshold_and_keeps_failing() {
        let start = SimOptions {
            ops: 300,
            kills: 4,
            keys: 6,
            ..SimOptions::default()
        };
        let s = shrink(&start, FailureKind::Safety, 200, fake);
        assert_eq!(fake(&s.opts), Some(FailureKind::Safety));
        assert_eq!(s.opts.kills, 1);
        assert_eq!(s.opts.ops, 37);
        assert_eq!(s.opts.keys, 1);
        assert_eq!(s.opts.quiet_ms, 0);
        assert!(s.runs <= 200 && s.steps > 0);
    }

    #[test]
    fn respects_the_budget_and_the_kind() {
        let start = SimOptions::default();
        let mut calls = 0;
        let s = shrink(&start, FailureKind::Safety, 5, |o| {
            calls += 1;
            fake(o)
        });
        assert_eq!((s.runs, calls), (5, 5));
        // A different kind is not "still failing".
        let s = shrink(&start, FailureKind::Liveness, 50, fake);
        assert_eq!(s.opts, start);
        assert_eq!(s.steps, 0);
    }

    #[test]
    fn reducers_only_propose_smaller_options() {
        let o = SimOptions {
            partitions: 3,
            ..SimOptions::default()
        };
        for (name, r) in REDUCERS {
            for c in r(&o) {
                assert_ne!(c, o, "{name} proposed the same options");
                assert!(
                    c.ops <= o.ops
                        && c.kills <= o.kills
                        && c.keys <= o.keys
                        && c.partitions <= o.partitions
                        && c.max_partition_ms <= o.max_partition_ms
                        && c.quiet_ms <= o.quiet_ms,
                    "{name}"
                );
            }
        }
    }
}
