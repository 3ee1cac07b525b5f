//! Forkless snapshots are point-in-time: while a snapshot walk runs a few
//! keys per step, a random write workload (every command family, MULTI,
//! blocking pops served later, expiry, renames) keeps changing the dataset;
//! the walk must still record every key that existed at its start exactly
//! once, with its value and expiry as they were at the start, and nothing
//! created later.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use redsim_core::db::Value;
use redsim_core::server::TestServer;
use redsim_core::snapshot::SnapshotSink;

mod common;
use common::{command, Rng};

type Records = Arc<Mutex<Vec<(usize, Vec<u8>, Value, i64)>>>;

struct Collect(Records);

impl SnapshotSink for Collect {
    fn record(&mut self, db: usize, key: &[u8], val: &Value, expire_ms: i64, _lru: u32) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push((
            db,
            key.to_vec(),
            val.clone(),
            expire_ms,
        ));
    }
}

fn run(t: &mut TestServer, argv: &[String]) {
    let args: Vec<&str> = argv.iter().map(|s| s.as_str()).collect();
    t.run(&args);
}

fn state(t: &TestServer) -> BTreeMap<(usize, Vec<u8>), (Value, i64)> {
    let mut m = BTreeMap::new();
    for (db, d) in t.srv.ks.dbs.iter().enumerate() {
        for e in d.table.iter() {
            m.insert(
                (db, e.key.to_vec()),
                (e.val.clone(), d.table.expire_of_entry(e)),
            );
        }
    }
    m
}

fn run_seed(seed: u64) -> (u64, u64) {
    let mut r = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
    let mut t = TestServer::new();
    t.srv.ks.active_expire_enabled = false;
    for _ in 0..150 {
        t.now_ms += r.below(2000) as i64;
        if r.below(10) == 0 {
            let db = r.below(3).to_string();
            t.run(&["SELECT", &db]);
        }
        let c = command(&mut r, t.now_ms);
        run(&mut t, &c);
    }
    let before = state(&t);
    let recs: Records = Arc::default();
    t.srv.ks.begin_snapshot(Box::new(Collect(recs.clone())));
    let mut steps = 0;
    while !t.srv.ks.snapshot_step(1 + r.below(3) as usize) {
        steps += 1;
        for _ in 0..r.below(4) {
            t.now_ms += r.below(1500) as i64;
            match r.below(12) {
                0 => {
                    let db = r.below(3).to_string();
                    t.run(&["SELECT", &db]);
                }
                1 => {
                    t.srv.ks.active_expire_enabled = true;
                    t.srv.cron(t.now_ms);
                    t.srv.ks.active_expire_enabled = false;
                }
                2 => {
                    t.run(&["MULTI"]);
                    for _ in 0..3 {
                        let c = command(&mut r, t.now_ms);
                        run(&mut t, &c);
                    }
                    t.run(&["EXEC"]);
                }
                _ => {
                    let c = command(&mut r, t.now_ms);
                    run(&mut t, &c);
                }
            }
        }
        assert!(steps < 100_000, "seed {seed}: walk does not finish");
    }
    let snap = t.srv.ks.snapshot.take().expect("snapshot");
    assert!(!snap.aborted, "seed {seed}: no flush ran");
    let mut got = BTreeMap::new();
    for (db, k, v, exp) in recs.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let dup = got.insert((*db, k.clone()), (v.clone(), *exp));
        assert!(
            dup.is_none(),
            "seed {seed}: {} recorded twice",
            String::from_utf8_lossy(k)
        );
    }
    assert_eq!(got.len(), before.len(), "seed {seed}: key count");
    for (k, want) in &before {
        let Some(have) = got.get(k) else {
            panic!("seed {seed}: {:?} missing", String::from_utf8_lossy(&k.1));
        };
        assert_eq!(
            have,
            want,
            "seed {seed}: {:?} differs",
            String::from_utf8_lossy(&k.1)
        );
    }
    (snap.early_records, snap.records)
}

#[test]
fn snapshot_is_point_in_time_under_writes() {
    let (mut early, mut total) = (0, 0);
    for seed in 1..=300 {
        let (e, n) = run_seed(seed);
        early += e;
        total += n;
    }
    // The workload must really race the walk, or this test proves nothing.
    assert!(
        early * 10 > total,
        "only {early} of {total} records were copy-on-write"
    );
}

#[test]
fn flush_aborts_the_walk() {
    let mut t = TestServer::new();
    t.run(&["SET", "a", "1"]);
    t.run(&["SET", "b", "1"]);
    let recs: Records = Arc::default();
    t.srv.ks.begin_snapshot(Box::new(Collect(recs)));
    t.run(&["FLUSHALL"]);
    assert!(t.srv.ks.snapshot_step(10));
    assert!(t.srv.ks.snapshot.as_ref().is_some_and(|s| s.aborted));
}
