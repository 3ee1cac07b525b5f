//! Runs only in the simulation flavour:
//! `RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target-sim cargo test --release -p redsim-sim`
#![cfg(madsim)]

use redsim_sim::{run_seed, FailureKind, SelfTest, SimOptions};

fn quick() -> SimOptions {
    SimOptions {
        ops: 150,
        ..SimOptions::default()
    }
}

#[test]
fn fifty_seeds_pass() {
    let opts = quick();
    for seed in 0..50 {
        let r = run_seed(seed, &opts, false);
        if let Err(f) = &r.result {
            panic!(
                "seed {seed} failed (exit code {}):\n{f}",
                f.kind.exit_code()
            );
        }
    }
}

#[test]
fn same_seed_same_trace() {
    let r = run_seed(7, &quick(), true);
    assert_eq!(r.hashes.len(), 2);
    assert!(r.result.is_ok(), "{:?}", r.result);
    assert_eq!(r.hashes[0], r.hashes[1]);
    // A different seed gives a different trace.
    let other = run_seed(8, &quick(), false);
    assert_ne!(other.hashes[0], r.hashes[0]);
}

#[test]
fn partitions_pass() {
    let opts = SimOptions {
        ops: 150,
        partitions: 2,
        ..SimOptions::default()
    };
    for seed in 100..110 {
        let r = run_seed(seed, &opts, false);
        if let Err(f) = &r.result {
            panic!("seed {seed} failed:\n{f}");
        }
    }
}

/// Planted faults must be caught, each with its own failure class.
#[test]
fn planted_faults_are_detected() {
    let cases = [
        (SelfTest::Panic, FailureKind::Panic, 101),
        (SelfTest::Safety, FailureKind::Safety, 2),
        (SelfTest::Liveness, FailureKind::Liveness, 3),
        (SelfTest::Nondeterminism, FailureKind::Nondeterminism, 4),
    ];
    for (t, kind, code) in cases {
        let opts = SimOptions {
            ops: 60,
            selftest: Some(t),
            ..SimOptions::default()
        };
        let r = run_seed(3, &opts, true);
        let f = r.result.expect_err("planted fault went unnoticed");
        assert_eq!(f.kind, kind, "{t:?}: {f}");
        assert_eq!(f.kind.exit_code(), code);
    }
}
