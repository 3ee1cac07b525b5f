//! The `redsim-sim` / `cargo sim` command line, as a pure function from
//! arguments to a [`Command`] (no exits, no I/O), so that it is unit-tested in
//! the normal flavour and the binary only maps `Err` to a usage error.
//!
//! Invariants:
//! - `parse([<scenario>] + SimOptions::flags_vs(base))` gives back the same
//!   options (tested below): reproduce and shrunk lines are exact.
//! - No positional argument means the first registered scenario (`strings`),
//!   so the historical `redsim-sim --seeds 200 --check-determinism` still works.
//! - Seed selection is deterministic: the range, then `--shard K/N` keeps
//!   seeds with `seed % N == K`, then the hidden `--worker K/J` (set by
//!   `--jobs` for its child processes) keeps every J-th remaining seed from
//!   position K.

use std::path::PathBuf;

use crate::registry::{scenario_by_name, scenarios, Scenario};
use crate::{SelfTest, SimOptions};

/// Default bound on shrink runs per failing seed.
pub const DEFAULT_SHRINK_RUNS: usize = 60;

/// What the command line asks for.
#[derive(Clone, Debug)]
pub enum Command {
    /// `list`: the scenarios and their promises.
    List,
    /// `-h` / `--help` / `help`.
    Help,
    Run(Box<Run>),
}

/// `K/N`: part `K` (0-based) of `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub k: u64,
    pub n: u64,
}

/// A run or a sweep of one scenario.
#[derive(Clone, Debug)]
pub struct Run {
    pub scenario: Scenario,
    /// Half-open seed range before sharding.
    pub start: u64,
    pub end: u64,
    /// Given as `--seed N` (one seed: timeline, history and shrink by default).
    pub single: bool,
    pub shard: Option<Part>,
    /// Set only on the child processes of `--jobs` (hidden flag).
    pub worker: Option<Part>,
    pub jobs: usize,
    pub fail_fast: bool,
    pub no_shrink: bool,
    pub shrink_runs: usize,
    pub check_determinism: bool,
    pub verbose: bool,
    pub history: bool,
    pub timeline: Option<PathBuf>,
    pub opts: SimOptions,
}

impl Run {
    /// The seeds this process runs, ascending (see the module invariants).
    pub fn seed_list(&self) -> Vec<u64> {
        let sharded = (self.start..self.end).filter(|s| match self.shard {
            Some(p) => s % p.n == p.k,
            None => true,
        });
        match self.worker {
            Some(w) => sharded
                .enumerate()
                .filter(|(i, _)| *i as u64 % w.n == w.k)
                .map(|(_, s)| s)
                .collect(),
            None => sharded.collect(),
        }
    }

    /// Number of seeds of the whole sweep (all workers together).
    pub fn sweep_len(&self) -> u64 {
        let Run { shard, .. } = self;
        match shard {
            Some(p) => (self.start..self.end).filter(|s| s % p.n == p.k).count() as u64,
            None => self.end.saturating_sub(self.start),
        }
    }

    /// `cargo sim <scenario> --seed N <knobs that differ from the scenario>`.
    pub fn reproduce(&self, seed: u64, opts: &SimOptions, determinism: bool) -> String {
        reproduce_line(self.scenario.name, seed, opts, determinism)
    }

    /// The argument list of worker `k` of `j` (the `--jobs` child processes):
    /// everything that shapes a seed's run and its output, nothing that
    /// belongs to the parent (jobs, shrinking, timeline, fail-fast).
    pub fn worker_args(&self, k: u64, j: u64, verbose: bool) -> Vec<String> {
        let mut a = vec![
            self.scenario.name.to_string(),
            "--seeds".into(),
            format!("{}..{}", self.start, self.end),
            "--worker".into(),
            format!("{k}/{j}"),
            "--no-shrink".into(),
        ];
        if let Some(p) = self.shard {
            a.extend(["--shard".into(), format!("{}/{}", p.k, p.n)]);
        }
        a.extend(flag_args(&self.opts, &(self.scenario.options)()));
        if self.check_determinism {
            a.push("--check-determinism".into());
        }
        if verbose {
            a.push("--verbose".into());
        }
        if self.history {
            a.push("--history".into());
        }
        a
    }
}

/// The knob flags turning `base` into `opts`, one argument per element.
pub fn flag_args(opts: &SimOptions, base: &SimOptions) -> Vec<String> {
    // Flag values never contain spaces (numbers, ranges, policy names).
    opts.flags_vs(base)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The one-line reproduce command for `seed` of scenario `name`.
pub fn reproduce_line(name: &str, seed: u64, opts: &SimOptions, determinism: bool) -> String {
    let base = scenario_by_name(name).map_or_else(SimOptions::default, |s| (s.options)());
    let mut line = format!("cargo sim {name} --seed {seed}");
    let flags = opts.flags_vs(&base);
    if !flags.is_empty() {
        line.push(' ');
        line.push_str(&flags);
    }
    if determinism {
        line.push_str(" --check-determinism");
    }
    line
}

pub fn usage() -> String {
    let names: Vec<&str> = scenarios().iter().map(|s| s.name).collect();
    format!(
        "usage: cargo sim list\n\
         \x20      cargo sim [SCENARIO] [--seed N | --seeds N | --seeds A..B] [--start S]\n\
         \x20                [--shard K/N] [--jobs J] [--fail-fast] [--no-shrink] [--shrink-runs N]\n\
         \x20                [--check-determinism] [--timeline FILE.html] [--verbose] [--history]\n\
         \x20                [--ops K] [--keys N] [--kills N] [--partitions N] [--max-partition-ms MS]\n\
         \x20                [--max-think-ms MS] [--latency-ms LO..HI] [--op-timeout-ms MS]\n\
         \x20                [--quiet-ms MS] [--budget-ms MS|auto] [--hz N] [--server-log|--no-server-log]\n\
         \x20                [--appendfsync always|everysec|no|none]\n\
         \x20                [--selftest panic|safety|liveness|nondeterminism|ack-before-fsync|\n\
         \x20                            lost-write|lost-increment|duplicate-element|stale-read|wait-early|\n\
         \x20                            forget-replid2|ignore-min-replicas|none]\n\
         \x20                [--clients N] [--workloads rcslq] [--swarm|--no-swarm] [--buggify|--no-buggify]\n\
         \x20                [--pauses N] [--client-cuts N] [--one-way N] [--spikes N] [--loss N]\n\
         \x20                [--disk-faults N] [--clock-jumps N]\n\
         \x20                [--replicas N] [--repl-faults N] [--failovers N] [--sentinels N]\n\
         \x20                [--sentinel-cuts N]\n\
         scenarios: {} (default {}); `cargo sim list` explains them.\n\
         --seeds N runs S..S+N (S = --start, default 0); --seeds A..B runs A..B (B excluded).\n\
         --shard K/N keeps the seeds with seed % N == K (for CI matrices).\n\
         exit codes: 0 ok, 1 usage, 2 safety, 3 liveness, 4 nondeterminism, 101 panic\n\
         (a sweep exits with the class of its lowest failing seed).",
        names.join(", "),
        names[0]
    )
}

fn value<'a>(flag: &str, it: &mut impl Iterator<Item = &'a String>) -> Result<&'a str, String> {
    it.next()
        .map(|s| s.as_str())
        .ok_or_else(|| format!("{flag} needs a value"))
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("bad value for {flag}: {v:?}"))
}

fn part(flag: &str, v: &str) -> Result<Part, String> {
    let (k, n) = v
        .split_once('/')
        .ok_or_else(|| format!("{flag} wants K/N, got {v:?}"))?;
    let (k, n): (u64, u64) = (num(flag, k)?, num(flag, n)?);
    if n == 0 || k >= n {
        return Err(format!("{flag} wants K/N with 0 <= K < N, got {v:?}"));
    }
    Ok(Part { k, n })
}

/// Parse the arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut scenario: Option<Scenario> = None;
    let mut start: u64 = 0;
    // Resolved at the end so that `--start` may come after `--seeds N`.
    let mut count: u64 = 10;
    let mut range: Option<(u64, u64)> = None;
    let mut single = false;
    let mut shard = None;
    let mut worker = None;
    let mut jobs = 1usize;
    let mut fail_fast = false;
    let mut no_shrink = false;
    let mut shrink_runs = DEFAULT_SHRINK_RUNS;
    let mut check_determinism = false;
    let mut verbose = false;
    let mut history = false;
    let mut timeline = None;
    // Knobs are recorded in order and applied to the scenario's base
    // options at the end, so the scenario name may come anywhere.
    let mut knobs: Vec<(String, String)> = Vec::new();

    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "list" if scenario.is_none() => return Ok(Command::List),
            "help" | "-h" | "--help" => return Ok(Command::Help),
            "--seeds" => {
                let v = value(a, &mut it)?;
                single = false;
                if let Some((lo, hi)) = v.split_once("..") {
                    let (lo, hi): (u64, u64) = (num(a, lo)?, num(a, hi)?);
                    if hi < lo {
                        return Err(format!("--seeds {v}: empty range"));
                    }
                    range = Some((lo, hi));
                } else {
                    count = num(a, v)?;
                    range = None;
                }
            }
            "--start" => start = num(a, value(a, &mut it)?)?,
            "--seed" => {
                start = num(a, value(a, &mut it)?)?;
                count = 1;
                range = None;
                single = true;
            }
            "--shard" => shard = Some(part(a, value(a, &mut it)?)?),
            "--worker" => worker = Some(part(a, value(a, &mut it)?)?),
            "--jobs" | "-j" => {
                jobs = num(a, value(a, &mut it)?)?;
                if jobs == 0 {
                    return Err("--jobs wants at least 1".into());
                }
            }
            "--fail-fast" => fail_fast = true,
            "--no-shrink" => no_shrink = true,
            "--shrink-runs" => shrink_runs = num(a, value(a, &mut it)?)?,
            "--check-determinism" => check_determinism = true,
            "--verbose" | "-v" => verbose = true,
            "--history" => history = true,
            "--timeline" => timeline = Some(PathBuf::from(value(a, &mut it)?)),
            "--server-log" | "--no-server-log" | "--swarm" | "--no-swarm" | "--buggify"
            | "--no-buggify" => knobs.push((a.clone(), String::new())),
            "--ops" | "--keys" | "--kills" | "--partitions" | "--max-partition-ms"
            | "--max-think-ms" | "--latency-ms" | "--op-timeout-ms" | "--quiet-ms"
            | "--budget-ms" | "--hz" | "--appendfsync" | "--selftest" | "--clients"
            | "--workloads" | "--pauses" | "--client-cuts" | "--one-way" | "--spikes"
            | "--loss" | "--disk-faults" | "--clock-jumps" | "--replicas" | "--repl-faults"
            | "--failovers" | "--sentinels" | "--sentinel-cuts" => {
                let v = value(a, &mut it)?;
                knobs.push((a.clone(), v.to_string()));
            }
            other if !other.starts_with('-') => {
                if scenario.is_some() {
                    return Err(format!(
                        "unexpected argument {other:?} (one scenario per run)"
                    ));
                }
                scenario = Some(scenario_by_name(other).ok_or_else(|| {
                    let names: Vec<&str> = scenarios().iter().map(|s| s.name).collect();
                    format!(
                        "unknown scenario {other:?}; scenarios: {}",
                        names.join(", ")
                    )
                })?);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let scenario = match scenario {
        Some(s) => s,
        None => scenarios()
            .into_iter()
            .next()
            .ok_or("no scenarios registered")?,
    };
    let mut opts = (scenario.options)();
    for (flag, v) in &knobs {
        apply_knob(&mut opts, flag, v)?;
    }
    let (start, end) = match range {
        Some(r) => r,
        None => (start, start.saturating_add(count)),
    };
    if timeline.is_some() && end - start != 1 {
        return Err("--timeline needs a single seed (--seed N)".into());
    }
    Ok(Command::Run(Box::new(Run {
        scenario,
        start,
        end,
        single: single || end - start == 1,
        shard,
        worker,
        jobs,
        fail_fast,
        no_shrink,
        shrink_runs,
        check_determinism,
        verbose,
        history,
        timeline,
        opts,
    })))
}

/// Set one knob from its flag (`v` is empty for the valueless flags).
fn apply_knob(o: &mut SimOptions, flag: &str, v: &str) -> Result<(), String> {
    match flag {
        "--ops" => o.ops = num(flag, v)?,
        // An empty key space cannot generate ops.
        "--keys" => o.keys = num::<usize>(flag, v)?.max(1),
        "--kills" => o.kills = num(flag, v)?,
        "--partitions" => o.partitions = num(flag, v)?,
        "--max-partition-ms" => o.max_partition_ms = num(flag, v)?,
        "--max-think-ms" => o.max_think_ms = num(flag, v)?,
        "--latency-ms" => {
            let (lo, hi) = v.split_once("..").ok_or("--latency-ms wants LO..HI")?;
            o.latency_ms = (num(flag, lo)?, num(flag, hi)?);
        }
        "--op-timeout-ms" => o.op_timeout_ms = num(flag, v)?,
        "--quiet-ms" => o.quiet_ms = num(flag, v)?,
        "--budget-ms" => {
            o.budget_ms = if v == "auto" {
                None
            } else {
                Some(num(flag, v)?)
            }
        }
        "--hz" => o.hz = num(flag, v)?,
        "--server-log" => o.server_log = true,
        "--no-server-log" => o.server_log = false,
        "--appendfsync" => {
            o.appendfsync = match v {
                "always" | "everysec" | "no" => Some(v.to_string()),
                "none" => None,
                _ => return Err("--appendfsync wants always|everysec|no|none".into()),
            }
        }
        "--selftest" => {
            o.selftest = if v == "none" {
                None
            } else {
                Some(SelfTest::parse(v).ok_or(
                    "--selftest wants panic|safety|liveness|nondeterminism|ack-before-fsync|\
                     lost-write|lost-increment|duplicate-element|stale-read|wait-early|\
                     forget-replid2|ignore-min-replicas|none",
                )?)
            }
        }
        "--clients" => o.clients = num(flag, v)?,
        "--workloads" => {
            if v.is_empty() || !v.chars().all(|c| "rcslq".contains(c)) {
                return Err("--workloads wants letters of rcslq".into());
            }
            o.workloads = v.to_string();
        }
        "--swarm" => o.swarm = true,
        "--no-swarm" => o.swarm = false,
        "--buggify" => o.buggify = true,
        "--no-buggify" => o.buggify = false,
        "--pauses" => o.pauses = num(flag, v)?,
        "--client-cuts" => o.client_cuts = num(flag, v)?,
        "--one-way" => o.one_way = num(flag, v)?,
        "--spikes" => o.spikes = num(flag, v)?,
        "--loss" => o.loss = num(flag, v)?,
        "--disk-faults" => o.disk_faults = num(flag, v)?,
        "--clock-jumps" => o.clock_jumps = num(flag, v)?,
        "--replicas" => o.replicas = num(flag, v)?,
        "--repl-faults" => o.repl_faults = num(flag, v)?,
        "--failovers" => o.failovers = num(flag, v)?,
        "--sentinels" => o.sentinels = num(flag, v)?,
        "--sentinel-cuts" => o.sentinel_cuts = num(flag, v)?,
        _ => return Err(format!("unknown knob {flag}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn run(s: &str) -> Run {
        match parse(&args(s)) {
            Ok(Command::Run(r)) => *r,
            other => panic!("{s:?} parsed to {other:?}"),
        }
    }

    #[test]
    fn flags_round_trip_through_the_parser() {
        let sets = [
            SimOptions::default(),
            SimOptions {
                ops: 17,
                keys: 2,
                kills: 0,
                partitions: 4,
                max_partition_ms: 333,
                max_think_ms: 0,
                latency_ms: (0, 1),
                op_timeout_ms: 150,
                quiet_ms: 0,
                budget_ms: Some(99_000),
                hz: 100,
                server_log: true,
                appendfsync: Some("everysec".into()),
                selftest: Some(SelfTest::AckBeforeFsync),
                clients: 3,
                workloads: "lq".into(),
                swarm: true,
                pauses: 1,
                client_cuts: 2,
                one_way: 3,
                spikes: 4,
                loss: 5,
                disk_faults: 6,
                clock_jumps: 7,
                replicas: 2,
                repl_faults: 8,
                failovers: 9,
                sentinels: 3,
                sentinel_cuts: 4,
                buggify: true,
            },
            SimOptions {
                kills: 9,
                selftest: Some(SelfTest::Safety),
                ..SimOptions::default()
            },
        ];
        for sc in scenarios() {
            let base = (sc.options)();
            for o in sets.iter().chain(std::iter::once(&base)) {
                let line = format!("{} --seed 5 {}", sc.name, o.flags_vs(&base));
                let r = run(&line);
                assert_eq!(&r.opts, o, "{line}");
                assert_eq!(r.scenario.name, sc.name);
                assert_eq!((r.start, r.end, r.single), (5, 6, true));
            }
        }
        // Moving off a scenario's persistence needs an explicit `none`.
        let o = SimOptions::default();
        let base =
            (scenario_by_name("durability-always").map(|s| s.options)).expect("registered")();
        let f = o.flags_vs(&base);
        assert!(f.contains("--appendfsync none"), "{f}");
        assert_eq!(run(&format!("durability-always {f}")).opts, o);
    }

    #[test]
    fn reproduce_lines_parse_back() {
        let o = SimOptions {
            ops: 40,
            selftest: Some(SelfTest::Safety),
            ..(scenario_by_name("partitions").map(|s| s.options)).expect("registered")()
        };
        let line = reproduce_line("partitions", 12, &o, true);
        assert_eq!(
            line,
            "cargo sim partitions --seed 12 --ops 40 --selftest safety --check-determinism"
        );
        let r = run(line.trim_start_matches("cargo sim "));
        assert_eq!(r.opts, o);
        assert!(r.check_determinism);
    }

    #[test]
    fn seed_ranges_shards_and_workers() {
        assert_eq!(run("").seed_list(), (0..10).collect::<Vec<_>>());
        assert_eq!(run("--seeds 3 --start 7").seed_list(), vec![7, 8, 9]);
        assert_eq!(run("--start 7 --seeds 3").seed_list(), vec![7, 8, 9]);
        assert_eq!(run("strings --seeds 5..9").seed_list(), vec![5, 6, 7, 8]);
        let r = run("--seeds 0..10 --shard 1/3");
        assert_eq!(r.seed_list(), vec![1, 4, 7]);
        assert_eq!(r.sweep_len(), 3);
        // Workers split a shard without overlap and cover all of it.
        let mut all = Vec::new();
        for k in 0..2 {
            let w = run(&format!("--seeds 0..20 --shard 1/3 --worker {k}/2"));
            all.extend(w.seed_list());
        }
        all.sort();
        assert_eq!(all, run("--seeds 0..20 --shard 1/3").seed_list());
        // The worker command line reproduces the parent's options.
        let p = run("durability-everysec --seeds 0..20 --ops 50 --no-server-log --jobs 2");
        let w = match parse(&p.worker_args(1, 2, false)) {
            Ok(Command::Run(w)) => *w,
            other => panic!("{other:?}"),
        };
        assert_eq!(w.opts, p.opts);
        assert_eq!(w.worker, Some(Part { k: 1, n: 2 }));
        assert!(w.no_shrink);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            "--seeds",
            "--seeds x",
            "--seeds 9..3",
            "--shard 3/3",
            "--shard 1",
            "--jobs 0",
            "--latency-ms 5",
            "--appendfsync sometimes",
            "--selftest nope",
            "nosuchscenario",
            "strings partitions",
            "--frobnicate",
            "--seeds 0..5 --timeline x.html",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?} was accepted");
        }
        assert!(matches!(parse(&args("list")), Ok(Command::List)));
        assert!(matches!(parse(&args("--help")), Ok(Command::Help)));
    }
}
