//! Tests of the AOF layer over `SimDisk`: Redis's exact file names and
//! manifest texts, fsync policies across crashes, the rewrite protocol with
//! a crash at every file operation, truncated and corrupt files, and fuzzing
//! (bit flips must give errors, never panics).

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::disk::{SimDisk, EIO};

const DIR: &str = "appendonlydir";

type Kv = BTreeMap<Vec<u8>, Vec<u8>>;

fn resp(argv: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    append_resp(&mut v, argv);
    v
}

fn key(i: u32) -> Vec<u8> {
    format!("k{i}").into_bytes()
}

fn val(i: u32) -> Vec<u8> {
    format!("v{i}").into_bytes()
}

fn feed_set(w: &mut AofWriter, i: u32) {
    w.feed_command(0, &[b"SET", &key(i), &val(i)]);
}

/// A stand-in RDB: "REDIS0010", then `k<i>=v<i>;` per key, then 0xFF.
fn fake_rdb(keys: &BTreeSet<u32>) -> Vec<u8> {
    let mut v = b"REDIS0010".to_vec();
    for i in keys {
        v.extend_from_slice(format!("k{i}=v{i};").as_bytes());
    }
    v.push(0xff);
    v
}

/// The base as commands (aof-use-rdb-preamble no).
fn aof_base(keys: &BTreeSet<u32>) -> Vec<u8> {
    let mut v = resp(&[b"SELECT", b"0"]);
    for i in keys {
        v.extend(resp(&[b"SET", &key(*i), &val(*i)]));
    }
    v
}

fn base_for(cfg: &AofConfig, keys: &BTreeSet<u32>) -> Vec<u8> {
    if cfg.use_rdb_preamble {
        fake_rdb(keys)
    } else {
        aof_base(keys)
    }
}

/// Loads the AOF into a key -> value model, checking what the caller sees.
fn load_model(disk: &mut dyn Disk, cfg: &AofConfig) -> Result<(AofLoad, Kv), AofError> {
    let mut kv = BTreeMap::new();
    let mut rdb_kv = Vec::new();
    let mut rdb = |b: &[u8]| -> Result<usize, String> {
        let end = b.iter().position(|&c| c == 0xff).ok_or("no EOF marker")?;
        let body = b.get(9..end).ok_or("short header")?;
        for item in body.split(|&c| c == b';').filter(|s| !s.is_empty()) {
            let eq = item.iter().position(|&c| c == b'=').ok_or("bad item")?;
            rdb_kv.push((item[..eq].to_vec(), item[eq + 1..].to_vec()));
        }
        Ok(end + 1)
    };
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut on = |ev: LoadEvent<'_>| -> Result<(), String> {
        match ev {
            LoadEvent::File { .. } => cmds.push(vec![b"#FILE".to_vec()]),
            LoadEvent::Command(argv) => cmds.push(argv),
        }
        Ok(())
    };
    let res = load(disk, cfg, &mut rdb, &mut on)?;
    kv.extend(rdb_kv);
    for argv in cmds {
        let name = argv[0].to_ascii_uppercase();
        match name.as_slice() {
            b"SET" => {
                kv.insert(argv[1].clone(), argv[2].clone());
            }
            b"SELECT" | b"MULTI" | b"EXEC" | b"#FILE" => {}
            b"DEL" => {
                kv.remove(&argv[1]);
            }
            other => panic!("unexpected command {:?}", String::from_utf8_lossy(other)),
        }
    }
    Ok((res, kv))
}

fn loaded_keys(kv: &Kv) -> BTreeSet<u32> {
    kv.iter()
        .map(|(k, v)| {
            let i: u32 = std::str::from_utf8(&k[1..]).unwrap().parse().unwrap();
            assert_eq!(v, &val(i), "value of {i}");
            i
        })
        .collect()
}

/// Fresh start: load (nothing) and open the writer with an empty base.
fn fresh(disk: &mut SimDisk, cfg: &AofConfig, policy: FsyncPolicy) -> Result<AofWriter, AofError> {
    let (l, _) = load_model(disk, cfg)?;
    AofWriter::open(
        disk,
        cfg,
        policy,
        l.manifest,
        &base_for(cfg, &BTreeSet::new()),
        0,
    )
}

fn manifest_text(disk: &SimDisk) -> String {
    String::from_utf8(
        disk.peek(&format!("{DIR}/appendonly.aof.manifest"))
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

// --------------------------------------------------------------------------
// Manifest
// --------------------------------------------------------------------------

#[test]
fn manifest_round_trip_of_redis_text() {
    let text = "file appendonly.aof.2.base.rdb seq 2 type b\n\
                file appendonly.aof.1.incr.aof seq 1 type h\n\
                file appendonly.aof.2.incr.aof seq 2 type h\n\
                file appendonly.aof.3.incr.aof seq 3 type h\n\
                file appendonly.aof.4.incr.aof seq 4 type i\n\
                file appendonly.aof.5.incr.aof seq 5 type i\n";
    let m = Manifest::parse(text.as_bytes()).unwrap();
    assert_eq!(m.base.as_ref().unwrap().file_seq, 2);
    assert_eq!(m.history.len(), 3);
    assert_eq!(m.incrs.len(), 2);
    assert_eq!((m.curr_base_seq, m.curr_incr_seq), (2, 5));
    assert_eq!(m.format(), text);

    // Names needing quoting are written with sdscatrepr and read back.
    let m = Manifest {
        base: Some(AofInfo {
            file_name: "my \"odd\"\tname.aof".into(),
            file_seq: 1,
            file_type: AofFileType::Base,
        }),
        ..Manifest::default()
    };
    let s = m.format();
    assert_eq!(s, "file \"my \\\"odd\\\"\\tname.aof\" seq 1 type b\n");
    assert_eq!(Manifest::parse(s.as_bytes()).unwrap(), {
        let mut m2 = m.clone();
        m2.curr_base_seq = 1;
        m2
    });
    // Keys are case-insensitive, order free, unknown pairs ignored,
    // comments skipped, \r\n accepted.
    let m = Manifest::parse(b"# c\nTYPE i SEQ 7 FILE x.aof extra 1\r\n").unwrap();
    assert_eq!(m.incrs[0].file_name, "x.aof");
    assert_eq!(m.curr_incr_seq, 7);
    assert_eq!(
        Manifest::parse(b"# only a comment\n").unwrap(),
        Manifest::default()
    );
}

#[test]
fn manifest_errors_use_redis_texts() {
    let long = format!("file {} seq 1 type b\n", "a".repeat(1100));
    let cases: Vec<(&[u8], &str, Option<usize>)> = vec![
        (b"", "Found an empty AOF manifest", None),
        (
            b"file a seq 1 type b",
            "The AOF manifest file contains too long line",
            None,
        ),
        (
            long.as_bytes(),
            "The AOF manifest file contains too long line",
            None,
        ),
        (b"\n", "Invalid AOF manifest file format", Some(1)),
        (b"   \t\r\n", "Invalid AOF manifest file format", Some(1)),
        (
            b"file a seq 1\n",
            "Invalid AOF manifest file format",
            Some(1),
        ),
        (
            b"file a seq 1 type\n",
            "Invalid AOF manifest file format",
            Some(1),
        ),
        (
            b"file a seq 0 type b\n",
            "Invalid AOF manifest file format",
            Some(1),
        ),
        (
            b"file \"a seq 1 type b\n",
            "Invalid AOF manifest file format",
            Some(1),
        ),
        (
            b"file \"a\"b seq 1 type b\n",
            "Invalid AOF manifest file format",
            Some(1),
        ),
        (
            b"file d/a seq 1 type b\n",
            "File can't be a path, just a filename",
            Some(1),
        ),
        (b"file a seq 1 type x\n", "Unknown AOF file type", Some(1)),
        (
            b"file a seq 1 type b\nfile b seq 2 type b\n",
            "Found duplicate base file information",
            Some(2),
        ),
        (
            b"# x\nfile a seq 2 type i\nfile b seq 2 type i\n",
            "Found a non-monotonic sequence number",
            Some(3),
        ),
    ];
    for (input, msg, line) in cases {
        let e = Manifest::parse(input).unwrap_err();
        assert_eq!(e.msg, msg, "{:?}", String::from_utf8_lossy(input));
        assert_eq!(
            e.line.as_ref().map(|l| l.0),
            line,
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(e.log_lines()[0], "*** FATAL AOF MANIFEST FILE ERROR ***");
        assert_eq!(e.log_lines().last().unwrap(), msg);
    }
}

#[test]
fn split_args_like_sdssplitargs() {
    assert_eq!(
        split_args(b"a \"b c\" 'd\\'e' \"\\x41\\n\"").unwrap(),
        vec![
            b"a".to_vec(),
            b"b c".to_vec(),
            b"d'e".to_vec(),
            b"A\n".to_vec()
        ]
    );
    assert!(split_args(b"'unterminated").is_none());
    assert!(split_args(b"\"x\"y").is_none());
    assert_eq!(split_args(b"   ").unwrap(), Vec::<Vec<u8>>::new());
}

// --------------------------------------------------------------------------
// Layout and writer
// --------------------------------------------------------------------------

#[test]
fn fresh_start_writes_redis_layout() {
    let mut d = SimDisk::new(1);
    let cfg = AofConfig::default();
    let mut w = fresh(&mut d, &cfg, FsyncPolicy::Everysec).unwrap();
    assert_eq!(
        d.list(DIR).unwrap(),
        vec![
            "appendonly.aof.1.base.rdb",
            "appendonly.aof.1.incr.aof",
            "appendonly.aof.manifest"
        ]
    );
    assert_eq!(
        d.list("").unwrap(),
        vec![DIR.to_string()],
        "no temp files left"
    );
    assert_eq!(
        manifest_text(&d),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    let s = w.stats(0);
    assert_eq!((s.aof_current_size, s.aof_base_size), (0, 0));
    // `redis-cli set a b` on a real 7.0.15 gives exactly these 50 bytes.
    w.feed_command(0, &[b"set", b"a", b"b"]);
    assert_eq!(w.stats(0).aof_buffer_length, 50);
    w.flush(&mut d, 10).unwrap();
    assert_eq!(
        d.peek(&format!("{DIR}/appendonly.aof.1.incr.aof")).unwrap(),
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    let s = w.stats(10);
    assert_eq!((s.aof_current_size, s.aof_buffer_length), (50, 0));
    assert!(s.aof_last_write_status_ok);
    // A different db re-selects; the same one does not.
    w.feed_command(3, &[b"del", b"x"]);
    w.feed_command(3, &[b"del", b"y"]);
    w.flush(&mut d, 20).unwrap();
    let text =
        String::from_utf8_lossy(d.peek(&format!("{DIR}/appendonly.aof.1.incr.aof")).unwrap())
            .into_owned();
    assert_eq!(text.matches("SELECT").count(), 2);

    // Restart: the same files are reopened, nothing new created.
    d.crash();
    let (l, kv) = load_model(&mut d, &cfg).unwrap();
    assert_eq!(l.status, LoadStatus::Ok);
    assert_eq!(
        kv.get(&b"a"[..]),
        None,
        "everysec at t<1s: nothing fsynced yet"
    );
    let w = AofWriter::open(
        &mut d,
        &cfg,
        FsyncPolicy::Everysec,
        l.manifest,
        b"unused",
        0,
    )
    .unwrap();
    assert_eq!(w.incr_name(), "appendonly.aof.1.incr.aof");
}

#[test]
fn rewrite_uses_redis_names_and_manifests() {
    for rdb in [true, false] {
        for gc in [true, false] {
            let mut d = SimDisk::new(2);
            let cfg = AofConfig {
                use_rdb_preamble: rdb,
                disable_auto_gc: !gc,
                ..AofConfig::default()
            };
            let mut w = fresh(&mut d, &cfg, FsyncPolicy::Always).unwrap();
            let ext = if rdb { "rdb" } else { "aof" };
            for i in 0..3 {
                feed_set(&mut w, i);
                w.flush(&mut d, 100).unwrap();
            }
            w.start_rewrite(&mut d, 200).unwrap();
            assert!(w.stats(1200).aof_rewrite_in_progress);
            assert_eq!(w.stats(1200).aof_current_rewrite_time_sec, 1);
            assert_eq!(
                manifest_text(&d),
                format!(
                    "file appendonly.aof.1.base.{ext} seq 1 type b\n\
                     file appendonly.aof.1.incr.aof seq 1 type i\n\
                     file appendonly.aof.2.incr.aof seq 2 type i\n"
                )
            );
            assert!(d.stat("temp-rewriteaof-0.aof").unwrap().is_some());
            feed_set(&mut w, 3);
            w.flush(&mut d, 300).unwrap();
            let base = base_for(&cfg, &(0..3).collect());
            w.write_base_chunk(&mut d, &base[..5]).unwrap();
            w.write_base_chunk(&mut d, &base[5..]).unwrap();
            w.finish_rewrite(&mut d, 400).unwrap();
            let expected = if gc {
                format!(
                    "file appendonly.aof.2.base.{ext} seq 2 type b\n\
                     file appendonly.aof.2.incr.aof seq 2 type i\n"
                )
            } else {
                // Real Redis lists the rewritten incr before the old base.
                format!(
                    "file appendonly.aof.2.base.{ext} seq 2 type b\n\
                     file appendonly.aof.1.incr.aof seq 1 type h\n\
                     file appendonly.aof.1.base.{ext} seq 1 type h\n\
                     file appendonly.aof.2.incr.aof seq 2 type i\n"
                )
            };
            assert_eq!(manifest_text(&d), expected);
            let files = d.list(DIR).unwrap();
            assert_eq!(files.len(), if gc { 3 } else { 5 }, "{files:?}");
            assert_eq!(
                d.list("").unwrap(),
                vec![DIR.to_string()],
                "temp files gone"
            );
            let s = w.stats(400);
            assert_eq!(s.aof_rewrites, 1);
            assert!(s.aof_last_bgrewrite_status_ok && !s.aof_rewrite_in_progress);
            let incr2 = d
                .peek(&format!("{DIR}/appendonly.aof.2.incr.aof"))
                .unwrap()
                .len() as u64;
            assert_eq!(s.aof_current_size, base.len() as u64 + incr2);
            assert_eq!(s.aof_base_size, s.aof_current_size);
            // The new incr starts with a SELECT (a fresh fake client loads it).
            assert!(d
                .peek(&format!("{DIR}/appendonly.aof.2.incr.aof"))
                .unwrap()
                .starts_with(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"));
            d.crash();
            let (_, kv) = load_model(&mut d, &cfg).unwrap();
            assert_eq!(loaded_keys(&kv), (0..4).collect());
        }
    }
}

#[test]
fn aborted_rewrite_keeps_both_incrs_and_the_next_rewrite_retires_them() {
    let mut d = SimDisk::new(3);
    let cfg = AofConfig::default();
    let mut w = fresh(&mut d, &cfg, FsyncPolicy::Always).unwrap();
    feed_set(&mut w, 1);
    w.flush(&mut d, 0).unwrap();
    w.start_rewrite(&mut d, 0).unwrap();
    assert!(w.start_rewrite(&mut d, 0).is_err(), "one rewrite at a time");
    feed_set(&mut w, 2);
    w.flush(&mut d, 0).unwrap();
    w.abort_rewrite(&mut d, 0, true);
    let s = w.stats(0);
    assert!(!s.aof_last_bgrewrite_status_ok);
    assert_eq!(s.aof_rewrites_consecutive_failures, 1);
    assert!(w.write_base_chunk(&mut d, b"x").is_err());
    assert_eq!(d.stat("temp-rewriteaof-0.aof").unwrap(), None);
    assert_eq!(w.manifest().incrs.len(), 2);
    w.start_rewrite(&mut d, 0).unwrap();
    w.write_base_chunk(&mut d, &fake_rdb(&[1, 2].into()))
        .unwrap();
    w.finish_rewrite(&mut d, 0).unwrap();
    assert_eq!(
        manifest_text(&d),
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.3.incr.aof seq 3 type i\n"
    );
    assert_eq!(w.stats(0).aof_rewrites_consecutive_failures, 0);
    d.crash();
    let (_, kv) = load_model(&mut d, &cfg).unwrap();
    assert_eq!(loaded_keys(&kv), [1, 2].into());
}

#[test]
fn always_loses_nothing_acknowledged() {
    for seed in 0..30 {
        let mut d = SimDisk::new(seed);
        d.faults.torn_writes = true;
        let cfg = AofConfig::default();
        let mut w = fresh(&mut d, &cfg, FsyncPolicy::Always).unwrap();
        let mut rng = crate::rng::Rng::new(seed);
        d.faults.crash_after_ops = Some(d.ops() + rng.below(60));
        let (mut acked, mut issued) = (BTreeSet::new(), BTreeSet::new());
        for i in 0..40 {
            feed_set(&mut w, i);
            issued.insert(i);
            if w.flush(&mut d, i64::from(i) * 10).is_ok() {
                acked.insert(i);
            }
        }
        d.crash();
        let (_, kv) = load_model(&mut d, &cfg).unwrap();
        let got = loaded_keys(&kv);
        assert!(got.is_superset(&acked), "seed {seed}: lost an acked write");
        assert!(got.is_subset(&issued));
    }
}

#[test]
fn everysec_loses_at_most_the_last_second() {
    for seed in 0..30u64 {
        let mut d = SimDisk::new(seed);
        d.faults.torn_writes = true;
        let cfg = AofConfig::default();
        let mut rng = crate::rng::Rng::new(seed ^ 0xabc);
        let mut t = 5_000 + rng.below(1000) as i64;
        let mut w = fresh(&mut d, &cfg, FsyncPolicy::Everysec).unwrap();
        let steps = 5 + rng.below(60) as u32;
        let mut written_at = Vec::new();
        for i in 0..steps {
            t += 50 + rng.below(100) as i64;
            feed_set(&mut w, i);
            w.flush(&mut d, t).unwrap();
            written_at.push(t);
        }
        assert!(
            (t.div_euclid(1000) - w.stats(t).aof_last_fsync) <= 1,
            "fsync lagging behind"
        );
        d.crash();
        let (_, kv) = load_model(&mut d, &cfg).unwrap();
        let got = loaded_keys(&kv);
        // Loaded keys are a prefix of the written ones ...
        assert_eq!(got, (0..got.len() as u32).collect(), "seed {seed}");
        // ... and only writes of the last second can be missing.
        for i in got.len() as u32..steps {
            assert!(
                written_at[i as usize] > t - 1000,
                "seed {seed}: lost key {i} written at {} (crash at {t})",
                written_at[i as usize]
            );
        }
    }
}

#[test]
fn policy_no_never_fsyncs_but_close_does() {
    let mut d = SimDisk::new(4);
    let cfg = AofConfig::default();
    let mut w = fresh(&mut d, &cfg, FsyncPolicy::No).unwrap();
    for i in 0..10 {
        feed_set(&mut w, i);
        w.flush(&mut d, i64::from(i) * 1000).unwrap();
    }
    let fsyncs = d.stats().fsyncs;
    feed_set(&mut w, 10);
    w.flush(&mut d, 99_000).unwrap();
    assert_eq!(d.stats().fsyncs, fsyncs, "no fsync with appendfsync no");
    let mut d2 = d.clone();
    d2.crash();
    assert!(loaded_keys(&load_model(&mut d2, &cfg).unwrap().1).is_empty());
    w.close(&mut d, 100_000).unwrap();
    d.crash();
    assert_eq!(
        loaded_keys(&load_model(&mut d, &cfg).unwrap().1),
        (0..11).collect()
    );
}

#[test]
fn write_error_keeps_bytes_and_misconf_until_a_write_succeeds() {
    for policy in [FsyncPolicy::Everysec, FsyncPolicy::Always] {
        let mut d = SimDisk::new(5);
        let cfg = AofConfig::default();
        let mut w = fresh(&mut d, &cfg, policy).unwrap();
        feed_set(&mut w, 1);
        d.faults.fail_next_writes = 1;
        let e = w.flush(&mut d, 10).unwrap_err();
        assert_eq!(
            e,
            FlushError {
                fsync: false,
                errno: EIO,
                fatal: policy == FsyncPolicy::Always
            }
        );
        assert_eq!(w.misconf_errno(), Some(EIO));
        let s = w.stats(10);
        assert!(!s.aof_last_write_status_ok);
        assert_eq!(s.aof_current_size, 0);
        assert!(s.aof_buffer_length > 0, "bytes kept for retry");
        assert!(w
            .take_log()
            .iter()
            .any(|l| l.warning && l.text == "Error writing to the AOF file: Input/output error"));
        feed_set(&mut w, 2);
        w.flush(&mut d, 20).unwrap();
        assert_eq!(w.misconf_errno(), None);
        assert!(w
            .take_log()
            .iter()
            .any(|l| l.text == "AOF write error looks solved, Redis can write again."));
        w.close(&mut d, 30).unwrap();
        d.crash();
        assert_eq!(
            loaded_keys(&load_model(&mut d, &cfg).unwrap().1),
            [1, 2].into()
        );
    }
}

#[test]
fn short_write_on_enospc_is_cut_back_and_retried_whole() {
    let mut d = SimDisk::new(6);
    let cfg = AofConfig::default();
    let mut w = fresh(&mut d, &cfg, FsyncPolicy::Everysec).unwrap();
    feed_set(&mut w, 1);
    w.flush(&mut d, 0).unwrap();
    let incr = format!("{DIR}/appendonly.aof.1.incr.aof");
    let before = d.peek(&incr).unwrap().to_vec();
    d.faults.quota_bytes = Some(d.used_bytes() + 10);
    for i in 2..5 {
        feed_set(&mut w, i);
    }
    let e = w.flush(&mut d, 0).unwrap_err();
    assert_eq!((e.errno, e.fsync, e.fatal), (ENOSPC, false, false));
    assert_eq!(
        d.peek(&incr).unwrap(),
        before.as_slice(),
        "partial write removed"
    );
    assert_eq!(w.misconf_errno(), Some(ENOSPC));
    d.faults.quota_bytes = None;
    w.flush(&mut d, 0).unwrap();
    w.close(&mut d, 0).unwrap();
    d.crash();
    let (l, kv) = load_model(&mut d, &cfg).unwrap();
    assert_eq!(l.status, LoadStatus::Ok, "no garbage in the middle");
    assert_eq!(loaded_keys(&kv), (1..5).collect());
}

#[test]
fn fsync_errors_set_the_status_and_are_retried() {
    let mut d = SimDisk::new(7);
    let cfg = AofConfig::default();
    let mut w = fresh(&mut d, &cfg, FsyncPolicy::Everysec).unwrap();
    feed_set(&mut w, 1);
    d.faults.fail_next_fsyncs = 1;
    let e = w.flush(&mut d, 1500).unwrap_err();
    assert_eq!((e.fsync, e.fatal, e.errno), (true, false, EIO));
    assert!(!w.stats(1500).aof_last_write_status_ok);
    assert_eq!(w.misconf_errno(), Some(EIO));
    // Same second: no retry yet; next second: retried with an empty buffer.
    w.flush(&mut d, 1900).unwrap();
    assert!(w.misconf_errno().is_some());
    w.flush(&mut d, 2100).unwrap();
    assert_eq!(w.misconf_errno(), None);
    assert_eq!(w.unsynced_bytes(), 0);
    d.crash();
    assert_eq!(
        loaded_keys(&load_model(&mut d, &cfg).unwrap().1),
        [1].into()
    );

    // always: an fsync failure is what Redis exits on.
    let mut d = SimDisk::new(8);
    let mut w = fresh(&mut d, &cfg, FsyncPolicy::Always).unwrap();
    feed_set(&mut w, 1);
    d.faults.fail_next_fsyncs = 1;
    let e = w.flush(&mut d, 0).unwrap_err();
    assert!(e.fsync && e.fatal);
    assert!(e
        .to_string()
        .starts_with("Can't persist AOF for fsync error"));
    w.flush(&mut d, 0).unwrap();
    assert_eq!(w.unsynced_bytes(), 0);
}

// --------------------------------------------------------------------------
// Crash at every file operation of a rewrite
// --------------------------------------------------------------------------

struct Outcome {
    acked: BTreeSet<u32>,
    issued: BTreeSet<u32>,
}

fn rewrite_scenario(d: &mut SimDisk, cfg: &AofConfig) -> Outcome {
    let mut out = Outcome {
        acked: BTreeSet::new(),
        issued: BTreeSet::new(),
    };
    let mut w = match fresh(d, cfg, FsyncPolicy::Always) {
        Ok(w) => w,
        Err(_) => return out,
    };
    let put = |w: &mut AofWriter, d: &mut SimDisk, out: &mut Outcome, i: u32| {
        feed_set(w, i);
        out.issued.insert(i);
        if w.flush(d, 1000).is_ok() {
            out.acked.insert(i);
        }
    };
    for i in 0..4 {
        put(&mut w, d, &mut out, i);
    }
    let snapshot = out.issued.clone();
    let started = w.start_rewrite(d, 1000).is_ok();
    for i in 4..7 {
        put(&mut w, d, &mut out, i);
    }
    if started {
        let base = base_for(cfg, &snapshot);
        let (a, b) = base.split_at(base.len() / 2);
        let ok = w.write_base_chunk(d, a).is_ok() && w.write_base_chunk(d, b).is_ok();
        if ok {
            let _ = w.finish_rewrite(d, 1000);
        } else {
            w.abort_rewrite(d, 1000, true);
        }
    }
    for i in 7..10 {
        put(&mut w, d, &mut out, i);
    }
    out
}

#[test]
fn rewrite_survives_a_crash_at_every_file_operation() {
    for rdb in [true, false] {
        let cfg = AofConfig {
            use_rdb_preamble: rdb,
            ..AofConfig::default()
        };
        let mut d = SimDisk::new(0);
        let full = rewrite_scenario(&mut d, &cfg);
        assert_eq!(full.acked, (0..10).collect(), "no faults: all acked");
        let total_ops = d.ops();
        assert!(total_ops > 40, "{total_ops}");
        for k in 0..=total_ops {
            for torn in [false, true] {
                let mut d = SimDisk::new(k * 2 + u64::from(torn));
                d.faults.torn_writes = torn;
                d.faults.crash_after_ops = Some(k);
                let out = rewrite_scenario(&mut d, &cfg);
                d.crash();
                let (l, kv) = load_model(&mut d, &cfg)
                    .unwrap_or_else(|e| panic!("rdb={rdb} crash after op {k}: load failed: {e}"));
                let got = loaded_keys(&kv);
                assert!(
                    got.is_superset(&out.acked),
                    "rdb={rdb} k={k}: acked {:?} loaded {:?}",
                    out.acked,
                    got
                );
                assert!(got.is_subset(&out.issued));
                // The server restarts on whatever survived and keeps going.
                let mut w = AofWriter::open(
                    &mut d,
                    &cfg,
                    FsyncPolicy::Always,
                    l.manifest,
                    &base_for(&cfg, &BTreeSet::new()),
                    5000,
                )
                .unwrap_or_else(|e| panic!("k={k}: reopen failed: {e}"));
                feed_set(&mut w, 100);
                w.flush(&mut d, 5000).unwrap();
                d.crash();
                let (_, kv) = load_model(&mut d, &cfg).unwrap();
                let again = loaded_keys(&kv);
                assert!(
                    again.contains(&100) && again.is_superset(&out.acked),
                    "k={k}"
                );
            }
        }
    }
}

// --------------------------------------------------------------------------
// Loading damaged files
// --------------------------------------------------------------------------

/// A set with an empty base and one incr holding `incr`.
fn disk_with_incr(incr: &[u8]) -> SimDisk {
    let mut d = SimDisk::new(9);
    d.put_durable(
        &format!("{DIR}/appendonly.aof.manifest"),
        b"file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
    );
    d.put_durable(
        &format!("{DIR}/appendonly.aof.1.base.aof"),
        &aof_base(&[0].into()),
    );
    d.put_durable(&format!("{DIR}/appendonly.aof.1.incr.aof"), incr);
    d
}

fn sets(keys: std::ops::Range<u32>) -> Vec<u8> {
    let mut v = resp(&[b"SELECT", b"0"]);
    for i in keys {
        v.extend(resp(&[b"SET", &key(i), &val(i)]));
    }
    v
}

#[test]
fn truncated_tail_loads_the_prefix_or_refuses() {
    let full = sets(1..4);
    let last = resp(&[b"SET", &key(3), &val(3)]);
    let good_len = full.len() - last.len();
    for cut in good_len + 1..full.len() {
        // aof-load-truncated yes: loads k0..k2, cuts the file.
        let mut d = disk_with_incr(&full[..cut]);
        let cfg = AofConfig::default();
        let (l, kv) = load_model(&mut d, &cfg).unwrap();
        assert_eq!(l.status, LoadStatus::Truncated);
        assert_eq!(
            l.truncated,
            Some(Truncation {
                file: "appendonly.aof.1.incr.aof".into(),
                offset: good_len as u64
            })
        );
        assert_eq!(loaded_keys(&kv), (0..3).collect());
        assert_eq!(
            d.peek(&format!("{DIR}/appendonly.aof.1.incr.aof")).unwrap(),
            &full[..good_len],
            "cut {cut}: the file is truncated on disk"
        );
        let texts: Vec<_> = l.log.iter().map(|x| x.text.clone()).collect();
        assert!(texts.contains(&format!(
            "!!! Truncating the AOF appendonly.aof.1.incr.aof at offset {good_len} !!!"
        )));
        let base_len = aof_base(&[0].into()).len() as u64;
        assert_eq!(l.current_size_bytes, base_len + good_len as u64);

        // aof-load-truncated no: refuses with Redis's text.
        let mut d = disk_with_incr(&full[..cut]);
        let cfg = AofConfig {
            load_truncated: false,
            ..AofConfig::default()
        };
        let e = load_model(&mut d, &cfg).unwrap_err();
        assert!(
            matches!(e, AofError::Truncated { offset, last_file: true, .. } if offset == good_len as u64)
        );
        assert!(e
            .to_string()
            .starts_with("Unexpected end of file reading the append only file appendonly.aof.1.incr.aof. You can:"));
    }
}

#[test]
fn truncation_in_a_file_that_is_not_the_last_refuses() {
    let mut d = disk_with_incr(&sets(1..3));
    let base = aof_base(&[0].into());
    d.put_durable(
        &format!("{DIR}/appendonly.aof.1.base.aof"),
        &base[..base.len() - 3],
    );
    let e = load_model(&mut d, &AofConfig::default()).unwrap_err();
    assert!(
        matches!(&e, AofError::Truncated { file, last_file: false, .. } if file == "appendonly.aof.1.base.aof")
    );
}

#[test]
fn multi_without_exec_is_dropped_and_with_exec_delivered_whole() {
    let mut incr = sets(1..2);
    let before_multi = incr.len() as u64;
    incr.extend(resp(&[b"MULTI"]));
    incr.extend(resp(&[b"SET", &key(2), &val(2)]));
    let mut complete = incr.clone();
    complete.extend(resp(&[b"EXEC"]));

    let mut d = disk_with_incr(&incr);
    let (l, kv) = load_model(&mut d, &AofConfig::default()).unwrap();
    assert_eq!(loaded_keys(&kv), [0, 1].into());
    assert_eq!(l.truncated.as_ref().map(|t| t.offset), Some(before_multi));
    assert!(l.log.iter().any(|x| x.text
        == "Revert incomplete MULTI/EXEC transaction in AOF file appendonly.aof.1.incr.aof"));
    // Also when the file ends in the middle of a command inside the MULTI.
    let mut d = disk_with_incr(&incr[..incr.len() - 3]);
    let (l, kv) = load_model(&mut d, &AofConfig::default()).unwrap();
    assert_eq!(loaded_keys(&kv), [0, 1].into());
    assert_eq!(l.truncated.map(|t| t.offset), Some(before_multi));

    let mut d = disk_with_incr(&complete);
    let mut seen = Vec::new();
    let l = load(
        &mut d,
        &AofConfig::default(),
        &mut |_| Err("no rdb".into()),
        &mut |ev| {
            if let LoadEvent::Command(a) = ev {
                seen.push(String::from_utf8(a[0].clone()).unwrap());
            }
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(l.status, LoadStatus::Ok);
    assert_eq!(
        seen,
        ["SELECT", "SET", "SELECT", "SET", "MULTI", "SET", "EXEC"]
    );
    assert_eq!(l.commands, 7);
}

#[test]
fn corruption_in_the_middle_refuses_naming_file_and_offset() {
    let good = sets(1..4);
    let second = resp(&[b"SELECT", b"0"]).len() + resp(&[b"SET", &key(1), &val(1)]).len();
    let mut bad = good.clone();
    bad[second] = b'x'; // the '*' of the second SET
    let mut d = disk_with_incr(&bad);
    let e = load_model(&mut d, &AofConfig::default()).unwrap_err();
    match &e {
        AofError::Format { file, offset } => {
            assert_eq!(file, "appendonly.aof.1.incr.aof");
            assert_eq!(*offset, second as u64);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "Bad file format reading the append only file appendonly.aof.1.incr.aof: make a backup of \
         your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
    );
    // A damaged CRLF after a payload, and a bulk length over proto-max-bulk-len.
    let mut bad = good.clone();
    let crlf = resp(&[b"SELECT", b"0"]).len() - 2;
    bad[crlf] = b'!';
    let e = load_model(&mut disk_with_incr(&bad), &AofConfig::default()).unwrap_err();
    assert!(matches!(e, AofError::Format { offset, .. } if offset == crlf as u64));
    let cfg = AofConfig {
        bulk_len_max_bytes: 3,
        ..AofConfig::default()
    };
    let e = load_model(&mut disk_with_incr(&good), &cfg).unwrap_err();
    assert!(matches!(e, AofError::Format { .. }), "{e:?}");
}

#[test]
fn annotations_are_skipped_and_unknown_commands_reported() {
    let mut incr = b"#TS:1700000000\r\n".to_vec();
    incr.extend(sets(1..2));
    incr.extend(b"#TS:1700000001\r\n");
    let (_, kv) = load_model(&mut disk_with_incr(&incr), &AofConfig::default()).unwrap();
    assert_eq!(loaded_keys(&kv), [0, 1].into());

    let mut d = disk_with_incr(&resp(&[b"NOSUCH", b"x"]));
    let e = load(
        &mut d,
        &AofConfig::default(),
        &mut |_| Ok(0),
        &mut |ev| match ev {
            LoadEvent::Command(a) if a[0] == b"NOSUCH" => Err(format!(
                "Unknown command '{}' reading the append only file appendonly.aof.1.incr.aof",
                String::from_utf8_lossy(&a[0])
            )),
            _ => Ok(()),
        },
    )
    .unwrap_err();
    assert!(matches!(e, AofError::Command { offset: 0, .. }));
    assert!(e.to_string().starts_with("Unknown command 'NOSUCH'"));
}

#[test]
fn missing_files_and_empty_sets() {
    let mut d = disk_with_incr(b"");
    d.put_durable(&format!("{DIR}/appendonly.aof.1.base.aof"), b"");
    let (l, _) = load_model(&mut d, &AofConfig::default()).unwrap();
    assert_eq!(l.status, LoadStatus::Empty);

    let mut d = disk_with_incr(&sets(1..2));
    d.remove(&format!("{DIR}/appendonly.aof.1.base.aof"))
        .unwrap();
    let e = load_model(&mut d, &AofConfig::default()).unwrap_err();
    assert!(matches!(&e, AofError::FileMissing { file } if file == "appendonly.aof.1.base.aof"));
    assert_eq!(
        e.to_string(),
        "Unable to obtain the AOF file appendonly.aof.1.base.aof length. stat: No such file or directory"
    );

    let mut d = SimDisk::new(1);
    let (l, _) = load_model(&mut d, &AofConfig::default()).unwrap();
    assert_eq!(l.status, LoadStatus::NotExist);
    d.put_durable(
        &format!("{DIR}/appendonly.aof.manifest"),
        b"file x seq 1 type q\n",
    );
    let e = load_model(&mut d, &AofConfig::default()).unwrap_err();
    assert!(matches!(
        e,
        AofError::Manifest(ManifestError {
            msg: "Unknown AOF file type",
            ..
        })
    ));
}

#[test]
fn old_style_single_file_is_upgraded_into_the_directory() {
    for preamble in [false, true] {
        let mut d = SimDisk::new(10);
        let mut old = if preamble {
            fake_rdb(&[0].into())
        } else {
            aof_base(&[0].into())
        };
        old.extend(sets(1..3));
        d.put_durable("appendonly.aof", &old);
        let cfg = AofConfig::default();
        let (l, kv) = load_model(&mut d, &cfg).unwrap();
        assert!(l.upgraded);
        assert_eq!(l.status, LoadStatus::Ok);
        assert_eq!(loaded_keys(&kv), (0..3).collect());
        assert_eq!(
            manifest_text(&d),
            "file appendonly.aof seq 1 type b\n",
            "Redis's upgrade manifest"
        );
        assert_eq!(d.stat("appendonly.aof").unwrap(), None);
        assert_eq!(
            d.peek(&format!("{DIR}/appendonly.aof")).unwrap(),
            old.as_slice()
        );
        let texts: Vec<_> = l.log.iter().map(|x| x.text.as_str()).collect();
        assert!(texts.contains(
            &"Successfully migrated an old-style AOF file (appendonly.aof) into the AOF directory (appendonlydir)."
        ));
        if preamble {
            assert!(texts.contains(&"Reading RDB preamble from AOF file..."));
            assert!(texts.contains(&"Reading the remaining AOF tail..."));
        }
        // The writer then adds an incr; a restart loads both.
        let mut w = AofWriter::open(&mut d, &cfg, FsyncPolicy::Always, l.manifest, b"", 0).unwrap();
        feed_set(&mut w, 9);
        w.flush(&mut d, 0).unwrap();
        d.crash();
        let (l, kv) = load_model(&mut d, &cfg).unwrap();
        assert!(!l.upgraded);
        assert_eq!(loaded_keys(&kv), [0, 1, 2, 9].into());
    }
}

#[test]
fn rdb_callback_errors_name_the_file() {
    let mut d = disk_with_incr(b"");
    d.put_durable(
        &format!("{DIR}/appendonly.aof.1.base.aof"),
        b"REDIS0010garbage",
    );
    let e = load(
        &mut d,
        &AofConfig::default(),
        &mut |_| Err("bad".into()),
        &mut |_| Ok(()),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Error reading the RDB base file appendonly.aof.1.base.aof, AOF loading aborted"
    );
    let e = load(
        &mut d,
        &AofConfig::default(),
        &mut |b| Ok(b.len() + 1),
        &mut |_| Ok(()),
    )
    .unwrap_err();
    assert!(matches!(e, AofError::Rdb { .. }));
}

// --------------------------------------------------------------------------
// Fuzz: damaged bytes give errors, never panics
// --------------------------------------------------------------------------

#[test]
fn bit_flips_and_mutations_never_panic() {
    let mut rng = crate::rng::Rng::new(99);
    let mut outcomes = BTreeMap::new();
    for seed in 0..300u64 {
        // A realistic set: rewrite with RDB base, history, several incrs.
        let mut d = SimDisk::new(seed);
        let cfg = AofConfig {
            use_rdb_preamble: seed % 2 == 0,
            ..AofConfig::default()
        };
        let _ = rewrite_scenario(&mut d, &cfg);
        if seed % 3 == 0 {
            d.faults.read_bitflip_prob = 1.0;
        } else {
            // Mutate one file at random: flips, cuts, inserted bytes.
            let files = d.list(DIR).unwrap();
            let f = &files[rng.below(files.len() as u64) as usize];
            let path = format!("{DIR}/{f}");
            let mut bytes = d.peek(&path).unwrap().to_vec();
            for _ in 0..1 + rng.below(4) {
                if bytes.is_empty() {
                    break;
                }
                let at = rng.below(bytes.len() as u64) as usize;
                match rng.below(4) {
                    0 => bytes[at] ^= 1 << rng.below(8),
                    1 => bytes.truncate(at),
                    2 => bytes.insert(at, rng.below(256) as u8),
                    _ => bytes[at] = b"*$\r\n0123456789"[rng.below(14) as usize],
                }
            }
            d.put_durable(&path, &bytes);
        }
        let r = load(
            &mut d,
            &cfg,
            &mut |b| {
                // A bounded stand-in RDB parser.
                b.iter()
                    .position(|&c| c == 0xff)
                    .map(|i| i + 1)
                    .ok_or_else(|| "no EOF".to_string())
            },
            &mut |_| Ok(()),
        );
        let tag = match r {
            Ok(l) => format!("{:?}", l.status),
            Err(e) => format!("{:?}", std::mem::discriminant(&e)),
        };
        *outcomes.entry(tag).or_insert(0) += 1;
    }
    // Both successes and typed errors happen.
    assert!(outcomes.len() >= 3, "{outcomes:?}");
}

#[test]
fn random_eio_during_writes_and_rewrites_then_crash_stays_consistent() {
    let mut outcomes = BTreeSet::new();
    for seed in 0..200u64 {
        let cfg = AofConfig {
            use_rdb_preamble: seed % 2 == 0,
            ..AofConfig::default()
        };
        let mut d = SimDisk::new(seed);
        d.faults.torn_writes = true;
        d.faults.fsync_fail_prob = 0.15;
        d.faults.write_fail_prob = 0.1;
        let out = rewrite_scenario(&mut d, &cfg);
        outcomes.insert((out.acked.len(), out.issued.len()));
        d.faults.fsync_fail_prob = 0.0;
        d.faults.write_fail_prob = 0.0;
        d.crash();
        let (_, kv) = load_model(&mut d, &cfg)
            .unwrap_or_else(|e| panic!("seed {seed}: load failed after faults: {e}"));
        let got = loaded_keys(&kv);
        assert!(got.is_superset(&out.acked), "seed {seed}");
        assert!(got.is_subset(&out.issued), "seed {seed}");
    }
    // The faults really hit: some runs lost acks, some did not.
    assert!(outcomes.len() > 3, "{outcomes:?}");
}

#[test]
fn failed_fsync_in_finish_keeps_the_state_usable() {
    // finish_rewrite fsyncs: temp base, temp manifest, directory.
    for k in 1..=3u64 {
        let mut d = SimDisk::new(12);
        let cfg = AofConfig::default();
        let mut w = fresh(&mut d, &cfg, FsyncPolicy::Always).unwrap();
        feed_set(&mut w, 1);
        w.flush(&mut d, 0).unwrap();
        w.start_rewrite(&mut d, 0).unwrap();
        feed_set(&mut w, 2);
        w.flush(&mut d, 0).unwrap();
        w.write_base_chunk(&mut d, &fake_rdb(&[1].into())).unwrap();
        d.faults.fail_fsync_number = Some(d.stats().fsyncs + d.stats().fsync_dirs + k);
        assert!(w.finish_rewrite(&mut d, 0).is_err(), "fsync #{k}");
        assert_eq!(d.stats().injected_eio, 1);
        let s = w.stats(0);
        assert!(!s.aof_last_bgrewrite_status_ok && !s.aof_rewrite_in_progress);
        // The writer keeps working, both before and after a crash ...
        feed_set(&mut w, 3);
        w.flush(&mut d, 0).unwrap();
        let mut crashed = d.clone();
        crashed.crash();
        let (_, kv) = load_model(&mut crashed, &cfg).unwrap();
        assert_eq!(loaded_keys(&kv), [1, 2, 3].into(), "fsync #{k}, crash");
        let (_, kv) = load_model(&mut d.clone(), &cfg).unwrap();
        assert_eq!(loaded_keys(&kv), [1, 2, 3].into(), "fsync #{k}, no crash");
        // ... and a later rewrite succeeds.
        w.start_rewrite(&mut d, 0).unwrap();
        w.write_base_chunk(&mut d, &fake_rdb(&[1, 2, 3].into()))
            .unwrap();
        w.finish_rewrite(&mut d, 0).unwrap();
        feed_set(&mut w, 4);
        w.flush(&mut d, 0).unwrap();
        d.crash();
        let (_, kv) = load_model(&mut d, &cfg).unwrap();
        assert_eq!(loaded_keys(&kv), [1, 2, 3, 4].into(), "fsync #{k}");
    }
}
