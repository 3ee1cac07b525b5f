//! Scripted differential cases: one #[test] per case file in
//! `conformance/cases/`, each run in RESP2 and RESP3 on a fresh server pair.
//! Asserts redsim's reply bytes equal Redis's for every line (collecting all
//! mismatches before failing) and snapshots the Redis-side transcript with
//! insta so drift in Redis's own answers shows up in review.

use std::collections::BTreeSet;

use redsim_conformance::cases_dir;
use redsim_conformance::script::{self, Script};

fn run_case(name: &str) {
    let path = cases_dir().join(format!("{name}.txt"));
    let script = Script::load(&path).unwrap_or_else(|e| panic!("bad case file: {e}"));
    let mut mismatches = Vec::new();
    let mut transcripts = Vec::new();
    let (mut cases, mut cmds, mut subs) = (0, BTreeSet::new(), BTreeSet::new());
    for &proto in &script.protocols {
        let report = script::run(&script, proto)
            .unwrap_or_else(|e| panic!("{name} ({}): harness failure: {e}", proto.name()));
        cases += report.cases;
        cmds.extend(report.commands);
        subs.extend(report.subcommands);
        mismatches.extend(report.mismatches);
        transcripts.push((proto, report.transcript));
    }
    println!(
        "summary {name}: {} distinct commands ({} container subcommands), {cases} cases compared, {} mismatches",
        cmds.len(),
        subs.len(),
        mismatches.len()
    );
    for m in &mismatches {
        eprintln!("MISMATCH {m}\n");
    }
    // Check every snapshot (not just the first failing one) before failing.
    let mut snapshot_failures = Vec::new();
    for (proto, t) in transcripts {
        let snap = format!("{name}_{}", proto.name());
        let mut settings = insta::Settings::clone_current();
        settings.set_description(format!(
            "Redis-side transcript of conformance/cases/{name}.txt ({})",
            proto.name()
        ));
        settings.set_omit_expression(true);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_snapshot!(snap.clone(), t))
        }));
        if r.is_err() {
            snapshot_failures.push(snap);
        }
    }
    assert!(
        snapshot_failures.is_empty(),
        "{name}: Redis transcript snapshot(s) changed: {snapshot_failures:?}"
    );
    assert!(
        mismatches.is_empty(),
        "{name}: {} mismatch(es) between redis and redsim (see stderr above)",
        mismatches.len()
    );
}

macro_rules! case_files {
    ($($name:ident),* $(,)?) => {
        $( #[test] fn $name() { run_case(stringify!($name)); } )*
        const ALL: &[&str] = &[$(stringify!($name)),*];
    };
}

case_files!(
    strings,
    numeric,
    bitmaps,
    keys,
    expire,
    connection,
    server,
    transactions,
    protocol,
    sets,
    hashes,
    lists,
    zsets,
    zscan,
    auth,
    blocking,
    pubsub,
    hll,
    geo,
    streams,
    sort,
    notifications,
    keyevents,
    memory
);

/// WRONGTYPE: string commands against lists, hashes and sets.
#[test]
fn wrongtype() {
    run_case("wrongtype");
}

#[test]
fn every_case_file_has_a_test() {
    let dir = std::fs::read_dir(cases_dir()).expect("cases dir");
    for e in dir.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "txt") {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            assert!(
                ALL.contains(&stem.as_str()) || stem == "wrongtype",
                "case file {stem}.txt has no #[test] in tests/scripted.rs"
            );
        }
    }
}

/// Static coverage summary over all case files (run with --nocapture to see it).
#[test]
fn summary() {
    let mut cmds = BTreeSet::new();
    let mut cases = 0;
    for name in ALL.iter().chain(["wrongtype"].iter()) {
        let s = Script::load(&cases_dir().join(format!("{name}.txt")))
            .unwrap_or_else(|e| panic!("{e}"));
        for p in &s.protocols {
            cases += s.cases_for(*p);
        }
        for st in &s.steps {
            if let script::Action::Cmd { args, .. } = &st.action {
                let (top, sub) = script::command_names(args);
                cmds.extend(top);
                cmds.extend(sub);
            }
        }
    }
    println!("case files: {} (+wrongtype); command names incl. subcommands (and deliberate unknown ones): {}; cases: {cases}", ALL.len(), cmds.len());
}
