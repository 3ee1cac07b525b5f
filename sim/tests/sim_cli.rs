//! Shrinking and the `redsim-sim` command line, end to end. Runs only in the
//! simulation flavour:
//! `RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target-sim cargo test --release -p redsim-sim`
#![cfg(madsim)]

use std::process::Command;

use redsim_sim::{run_seed, shrink, FailureKind, SelfTest, SimOptions};

fn kind_of(seed: u64, o: &SimOptions) -> Option<FailureKind> {
    run_seed(seed, o, false).result.err().map(|f| f.kind)
}

/// A planted safety bug shrinks to a smaller run that still fails the same way.
#[test]
fn shrinking_keeps_the_failure_with_fewer_ops() {
    let opts = SimOptions {
        selftest: Some(SelfTest::Safety),
        ..SimOptions::default()
    };
    let seed = 3;
    assert_eq!(kind_of(seed, &opts), Some(FailureKind::Safety));
    let s = shrink::shrink(&opts, FailureKind::Safety, 60, |o| kind_of(seed, o));
    assert!(s.runs <= 60, "{} runs", s.runs);
    assert!(
        s.opts.ops < opts.ops,
        "ops not reduced: {:?}",
        s.opts.flags()
    );
    assert!(s.opts.kills <= opts.kills && s.opts.keys <= opts.keys);
    // The result is a real reproducer, not a guess.
    assert_eq!(kind_of(seed, &s.opts), Some(FailureKind::Safety));
}

/// A passing seed never "shrinks" (nothing fails with its kind).
#[test]
fn shrinking_a_passing_run_changes_nothing() {
    let opts = SimOptions {
        ops: 40,
        ..SimOptions::default()
    };
    let s = shrink::shrink(&opts, FailureKind::Safety, 10, |o| kind_of(5, o));
    assert_eq!(s.opts, opts);
    assert_eq!(s.steps, 0);
}

fn sim(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_redsim-sim"))
        .args(args)
        .output()
        .expect("run redsim-sim");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn combined_hash(stdout: &str) -> Option<String> {
    let i = stdout.find("combined trace hash ")?;
    Some(stdout[i + 20..i + 36].to_string())
}

/// `--jobs 2` runs the same seeds as one process: same per-seed traces,
/// same combined hash, exit 0.
#[test]
fn jobs_give_the_same_results_as_one_process() {
    let (c1, o1) = sim(&["strings", "--seeds", "0..8", "--ops", "40", "--jobs", "1"]);
    let (c2, o2) = sim(&["strings", "--seeds", "0..8", "--ops", "40", "--jobs", "2"]);
    assert_eq!((c1, c2), (0, 0), "{o1}\n{o2}");
    assert!(o2.contains("jobs=2"), "{o2}");
    assert_eq!(o1.matches("outcome=ok trace=").count(), 8, "{o1}");
    assert_eq!(o2.matches("outcome=ok trace=").count(), 8, "{o2}");
    let h1 = combined_hash(&o1);
    assert!(h1.is_some(), "{o1}");
    assert_eq!(h1, combined_hash(&o2));
    // Each seed's line (and trace) is the same, whichever process ran it.
    let mut l1: Vec<&str> = o1.lines().filter(|l| l.starts_with("seed=")).collect();
    let mut l2: Vec<&str> = o2.lines().filter(|l| l.starts_with("seed=")).collect();
    l1.sort();
    l2.sort();
    assert_eq!(l1, l2);
}

/// A failing seed: its class's exit code, one `seed=` line, a log, and a
/// reproduce line in the `cargo sim` form with only the non-default knobs.
#[test]
fn a_failing_seed_reports_and_reproduces() {
    let (code, out) = sim(&[
        "--seed",
        "3",
        "--ops",
        "60",
        "--selftest",
        "safety",
        "--no-shrink",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("seed=3 scenario=strings outcome=safety trace=")),
        "{out}"
    );
    assert!(
        out.contains("reproduce: cargo sim strings --seed 3 --ops 60 --selftest safety\n"),
        "{out}"
    );
    assert!(!out.contains("shrunk:"), "{out}");
    let log = out
        .lines()
        .find_map(|l| l.strip_prefix("log: "))
        .expect("a log line");
    let text = std::fs::read_to_string(log).expect("the log file exists");
    assert!(text.contains("SAFETY VIOLATION"), "{text}");
    let html = out
        .lines()
        .find_map(|l| l.strip_prefix("timeline: "))
        .expect("a timeline line");
    let page = std::fs::read_to_string(html).expect("the timeline exists");
    assert!(page.contains("op ok violation") || page.contains("op err violation"));
    // And with shrinking: a smaller reproducer that still fails.
    let (code, out) = sim(&["partitions", "--seed", "3", "--selftest", "safety"]);
    assert_eq!(code, 2, "{out}");
    let shrunk = out
        .lines()
        .find_map(|l| l.strip_prefix("shrunk: "))
        .expect("a shrunk line");
    assert!(
        shrunk.starts_with("cargo sim partitions --seed 3 --ops "),
        "{shrunk}"
    );
}

/// Bad command lines are usage errors (exit 1), never panics.
#[test]
fn usage_errors_exit_1() {
    for bad in [
        &["--seeds", "x"][..],
        &["nosuch"],
        &["--shard", "2/2"],
        &["--latency-ms", "3"],
    ] {
        assert_eq!(sim(bad).0, 1, "{bad:?}");
    }
    let (code, out) = sim(&["list"]);
    assert_eq!(code, 0);
    for name in ["strings", "partitions", "durability-always"] {
        assert!(out.lines().any(|l| l.starts_with(name)), "{out}");
    }
}
