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

/// Persistence under crashes: with an AOF on the simulated disk, a kill
/// crashes the disk (unsynced bytes lost, torn tails) and the restarted
/// server must load its files and hold every acknowledged write (always) or
/// all but the last ~2 s of them (everysec), key by key.
#[test]
fn aof_crash_seeds_pass() {
    for policy in ["always", "everysec"] {
        let opts = SimOptions {
            ops: 150,
            kills: 3,
            appendfsync: Some(policy.to_string()),
            ..SimOptions::default()
        };
        for seed in 200..240 {
            let r = run_seed(seed, &opts, false);
            if let Err(f) = &r.result {
                panic!("appendfsync {policy}, seed {seed} failed:\n{f}");
            }
        }
    }
}

/// Acknowledging before the fsync under `always` is caught as a safety
/// violation (acknowledged writes vanish at a crash).
#[test]
fn ack_before_fsync_is_caught() {
    let opts = SimOptions {
        ops: 150,
        kills: 3,
        appendfsync: Some("always".to_string()),
        selftest: Some(SelfTest::AckBeforeFsync),
        ..SimOptions::default()
    };
    let caught = (0..10)
        .filter(|&seed| {
            run_seed(seed, &opts, false)
                .result
                .is_err_and(|f| f.kind == FailureKind::Safety)
        })
        .count();
    assert!(
        caught >= 5,
        "the planted bug was caught in only {caught} of 10 seeds"
    );
}

/// A disk that silently drops one AOF write leaves a hole in the middle of
/// the log: the crash oracle must report that the recovered dataset is no
/// prefix of the applied history (before any read could notice).
#[test]
fn lost_write_is_caught_by_the_prefix_oracle() {
    let opts = SimOptions {
        ops: 150,
        kills: 3,
        // Many keys: with few, a later write to the same key usually
        // overwrites the hole before a crash exposes it (then the state is
        // a prefix again, and rightly accepted).
        keys: 200,
        appendfsync: Some("everysec".to_string()),
        selftest: Some(SelfTest::LostWrite),
        ..SimOptions::default()
    };
    let caught = (0..10)
        .filter(|&seed| {
            run_seed(seed, &opts, false)
                .result
                .is_err_and(|f| f.kind == FailureKind::Safety && f.message.contains("not a prefix"))
        })
        .count();
    assert!(
        caught >= 5,
        "the lost write was caught in only {caught} of 10 seeds"
    );
}

fn jepsen(ops: usize) -> SimOptions {
    SimOptions {
        clients: 4,
        ops,
        op_timeout_ms: 1000,
        swarm: true,
        kills: 3,
        partitions: 3,
        pauses: 3,
        client_cuts: 4,
        one_way: 2,
        spikes: 3,
        loss: 3,
        disk_faults: 2,
        clock_jumps: 2,
        appendfsync: Some("always".into()),
        ..SimOptions::default()
    }
}

/// Four clients, every workload, a swarm of faults, `appendfsync always`:
/// every history is linearizable, list-append clean, recoveries are
/// prefixes, the final dataset is the replay of everything applied.
#[test]
fn multi_client_swarm_seeds_pass() {
    let opts = jepsen(100);
    for seed in 0..30 {
        let r = run_seed(seed, &opts, seed == 0);
        if let Err(f) = &r.result {
            panic!("seed {seed} failed:\n{f}");
        }
        let ok = r.stats.as_ref().map_or(0, |s| s.ops_ok);
        assert!(ok > 100, "seed {seed}: only {ok} ops ok");
    }
}

/// Each planted engine bug is caught by a checker, as a safety violation.
#[test]
fn planted_engine_bugs_are_caught() {
    let cases = [
        (SelfTest::LostIncrement, "not linearizable"),
        (SelfTest::DuplicateElement, "list-append anomaly"),
        (SelfTest::StaleRead, ""),
    ];
    for (bug, what) in cases {
        let opts = SimOptions {
            selftest: Some(bug),
            swarm: false,
            partitions: 0,
            pauses: 0,
            client_cuts: 0,
            one_way: 0,
            spikes: 0,
            loss: 0,
            disk_faults: 0,
            clock_jumps: 0,
            ..jepsen(100)
        };
        let caught = (0..5)
            .filter(|&seed| {
                run_seed(seed, &opts, false)
                    .result
                    .is_err_and(|f| f.kind == FailureKind::Safety && f.message.contains(what))
            })
            .count();
        assert!(caught >= 4, "{bug:?} caught in only {caught} of 5 seeds");
    }
}

/// Replication: a master with two replicas under replication faults
/// passes (WAIT truthful, replicas converge), and the planted WAIT bug
/// (counting replicas that did not acknowledge) is caught as a safety
/// violation by the WAIT checker.
#[test]
fn replication_seeds_pass_and_wait_early_is_caught() {
    let sc = redsim_sim::scenario_by_name("replication").expect("scenario");
    let opts = (sc.options)();
    for seed in 0..10 {
        let r = run_seed(seed, &opts, seed == 0);
        if let Err(f) = &r.result {
            panic!("seed {seed} failed:\n{f}");
        }
    }
    let bad = SimOptions {
        selftest: Some(SelfTest::WaitEarly),
        ..opts
    };
    let caught = (0..5)
        .filter(|&seed| {
            run_seed(seed, &bad, false)
                .result
                .is_err_and(|f| f.kind == FailureKind::Safety && f.message.contains("WAIT replied"))
        })
        .count();
    assert!(caught >= 4, "wait-early caught in only {caught} of 5 seeds");
}

/// PSYNC2 stress: coordinated failovers with flapping links pass, and a
/// promotion that forgets the previous replication id (planted) is caught
/// by the partial-resync check.
#[test]
fn psync2_seeds_pass_and_forget_replid2_is_caught() {
    let sc = redsim_sim::scenario_by_name("psync2").expect("scenario");
    let opts = (sc.options)();
    for seed in 0..10 {
        let r = run_seed(seed, &opts, seed == 0);
        if let Err(f) = &r.result {
            panic!("seed {seed} failed:\n{f}");
        }
    }
    let bad = SimOptions {
        selftest: Some(SelfTest::ForgetReplid2),
        swarm: false,
        failovers: 4,
        // Quiet network: failovers must not abort for lack of catch-up.
        repl_faults: 0,
        partitions: 0,
        pauses: 0,
        client_cuts: 0,
        one_way: 0,
        spikes: 0,
        loss: 0,
        ..opts
    };
    let caught = (0..5)
        .filter(|&seed| {
            run_seed(seed, &bad, false).result.is_err_and(|f| {
                // A full sync replaces the old master's dataset without
                // commands: its oracle check (earlier in the history) or
                // the PSYNC2 check reports it.
                f.kind == FailureKind::Safety
                    && (f.message.contains("did not resume with PSYNC")
                        || f.message.contains("final dataset is not the result"))
            })
        })
        .count();
    assert!(
        caught >= 4,
        "forget-replid2 caught in only {caught} of 5 seeds"
    );
}

/// The sweep's shrinker reduces a failing planted-bug run (fewer clients,
/// ops and faults) while it keeps failing with the same class.
#[test]
fn planted_bug_failures_shrink() {
    let base = SimOptions {
        selftest: Some(SelfTest::LostIncrement),
        workloads: "rcsl".into(),
        ..jepsen(150)
    };
    let seed = (0..10)
        .find(|&s| run_seed(s, &base, false).result.is_err())
        .unwrap_or_else(|| panic!("the planted bug was never caught"));
    let start = redsim_sim::derived(seed, &base);
    let s = redsim_sim::shrink::shrink(&start, FailureKind::Safety, 60, |o| {
        run_seed(seed, o, false).result.err().map(|f| f.kind)
    });
    assert!(
        s.opts.ops < start.ops || s.opts.clients < start.clients,
        "nothing shrunk: {:?}",
        s.opts
    );
    let again = run_seed(seed, &s.opts, false);
    assert!(again.result.is_err_and(|f| f.kind == FailureKind::Safety));
}

/// Sentinel high availability: seeds pass (every lost acknowledged write
/// attributed to a documented window, no second master after the
/// minority master's window, Sentinels and data converge), and masters
/// that ignore min-replicas-to-write (planted) are caught by the
/// minority-master window check, only with the bug, and shrunk.
#[test]
fn sentinel_seeds_pass_and_ignore_min_replicas_is_caught_and_shrunk() {
    let sc = redsim_sim::scenario_by_name("sentinel").expect("scenario");
    let opts = (sc.options)();
    for seed in 0..10 {
        let r = run_seed(seed, &opts, seed == 0);
        if let Err(f) = &r.result {
            panic!("seed {seed} failed:\n{f}");
        }
    }
    // Partitions only, long enough runs for several of them.
    let clean = SimOptions {
        swarm: false,
        kills: 0,
        pauses: 0,
        spikes: 0,
        loss: 0,
        repl_faults: 0,
        sentinel_cuts: 0,
        partitions: 4,
        ops: 400,
        ..opts
    };
    let bad = SimOptions {
        selftest: Some(SelfTest::IgnoreMinReplicas),
        ..clean.clone()
    };
    let caught: Vec<u64> = (0..10)
        .filter(|&seed| {
            run_seed(seed, &bad, false).result.is_err_and(|f| {
                f.kind == FailureKind::Safety && f.message.contains("two masters accepted writes")
            })
        })
        .collect();
    assert!(
        caught.len() >= 4,
        "ignore-min-replicas caught in only {caught:?} of 10 seeds"
    );
    for &seed in &caught {
        let r = run_seed(seed, &clean, false);
        assert!(r.result.is_ok(), "seed {seed} fails without the bug too");
    }
    let seed = caught[0];
    let start = redsim_sim::derived(seed, &bad);
    let s = redsim_sim::shrink::shrink(&start, FailureKind::Safety, 40, |o| {
        run_seed(seed, o, false).result.err().map(|f| f.kind)
    });
    assert!(
        s.opts.partitions < start.partitions
            || s.opts.ops < start.ops
            || s.opts.clients < start.clients,
        "nothing shrunk: {:?}",
        s.opts
    );
    let again = run_seed(seed, &s.opts, false);
    assert!(again.result.is_err_and(|f| f.kind == FailureKind::Safety));
}
