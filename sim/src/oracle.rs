//! The crash oracle: "the recovered state is a prefix of the history".
//!
//! The server hands every command of its effect stream to an observer, in
//! apply order; the simulator keeps that log across incarnations (it lives
//! outside the simulated disk, so a crash cannot touch it). After a restart
//! the recovered dataset's digest must equal the digest of replaying some
//! prefix of the log into a fresh engine: anything else (a lost write
//! followed by a kept later one, a half-applied transaction, a write that
//! never happened) is a safety violation. The log is then cut to that
//! prefix, because the new incarnation builds on it.
//!
//! Together with the per-key checker (no acknowledged write older than the
//! fsync policy's window may be lost) this gives the promise: the
//! recovered state is a prefix of the history that contains every write
//! the policy made durable. Digests cover keys, values and TTLs (DEBUG
//! DIGEST), compared with expired keys still present on both sides (loading
//! never expires; the stream carries the DELs).

use redsim_core::config::Config;
use redsim_core::db::Propagated;
use std::collections::BTreeMap;

use redsim_core::db::Keyspace;
use redsim_core::digest::Digest;
use redsim_core::resp::Reply;
use redsim_core::server::ClientHandle;
use redsim_core::{Server, ServerEnv};

/// A dataset's identity: per key, its DEBUG DIGEST-VALUE-style digest
/// (value and whether it has a TTL) and its exact expiry. Kept per key so
/// the replay updates only the keys a command touches (one SHA1 per key,
/// not per dataset, per step).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Fingerprint(BTreeMap<(usize, Vec<u8>), (Digest, i64)>);

fn key_digest(ks: &Keyspace, db: usize, key: &[u8]) -> Option<(Digest, i64)> {
    let t = &ks.dbs.get(db)?.table;
    let i = t.find(key)?;
    let e = t.entry(i);
    let at = t.expire_of(i);
    let mut d = [0u8; 20];
    redsim_core::digest::mix_digest(&mut d, key);
    redsim_core::digest::object_digest(&mut d, &e.val, at);
    Some((d, at))
}

pub fn fingerprint(ks: &Keyspace) -> Fingerprint {
    let mut m = BTreeMap::new();
    for (j, db) in ks.dbs.iter().enumerate() {
        for e in db.table.iter() {
            if let Some(v) = key_digest(ks, j, &e.key) {
                m.insert((j, e.key.to_vec()), v);
            }
        }
    }
    Fingerprint(m)
}

impl Fingerprint {
    fn refresh(&mut self, ks: &Keyspace, db: usize, key: &[u8]) {
        match key_digest(ks, db, key) {
            Some(v) => {
                self.0.insert((db, key.to_vec()), v);
            }
            None => {
                self.0.remove(&(db, key.to_vec()));
            }
        }
    }
}

/// Replays `log` into a fresh engine in loading mode and returns the
/// largest `p` such that the state after `log[..p]` has digest `target`
/// (None: no prefix matches). Cuts inside MULTI/EXEC are not considered:
/// the AOF never keeps half a transaction.
pub fn matching_prefix(log: &[Propagated], target: &Fingerprint, now_ms: i64) -> Option<usize> {
    let mut r = Replayer::new(now_ms);
    let mut found = None;
    let mut in_multi = false;
    for (i, p) in log.iter().enumerate() {
        if !in_multi && r.fp == *target {
            found = Some(i);
        }
        let first = p.argv.first().map(|a| a.to_ascii_lowercase());
        match first.as_deref() {
            Some(b"multi") => in_multi = true,
            Some(b"exec") => in_multi = false,
            _ => {}
        }
        r.apply(p);
    }
    if !in_multi && r.fp == *target {
        found = Some(log.len());
    }
    found
}

/// A fresh engine fed commands as the AOF loader feeds them.
struct Replayer {
    srv: Server,
    h: ClientHandle,
    db: usize,
    now_ms: i64,
    out: Reply,
    fp: Fingerprint,
    in_multi: bool,
    /// Commands queued since MULTI (their keys change at EXEC).
    queued: Vec<Vec<Vec<u8>>>,
}

impl Replayer {
    fn new(now_ms: i64) -> Replayer {
        let env = ServerEnv {
            start_ms: now_ms,
            version: "7.0.15".into(),
            ..Default::default()
        };
        let mut srv = Server::new(Config::new(), env);
        srv.ks.loading = true;
        srv.ks.now_ms = now_ms;
        let h = srv.new_client("oracle".into(), String::new(), -1, now_ms);
        Replayer {
            srv,
            h,
            db: 0,
            now_ms,
            out: Reply::new(),
            fp: Fingerprint::default(),
            in_multi: false,
            queued: Vec::new(),
        }
    }

    fn run(&mut self, argv: &[&[u8]]) {
        self.out.buf.clear();
        self.srv.execute(self.h, argv, self.now_ms, &mut self.out);
    }

    fn apply(&mut self, p: &Propagated) {
        if p.db != self.db {
            let db = p.db.to_string();
            self.run(&[b"SELECT", db.as_bytes()]);
            self.db = p.db;
        }
        let args: Vec<&[u8]> = p.argv.iter().map(|a| a.as_slice()).collect();
        if args.is_empty() {
            return;
        }
        self.run(&args);
        let name = args[0].to_ascii_lowercase();
        match &name[..] {
            b"multi" => {
                self.in_multi = true;
                self.queued.clear();
            }
            b"exec" | b"discard" => {
                // The queued commands ran (or not): refresh their keys.
                self.in_multi = false;
                for q in std::mem::take(&mut self.queued) {
                    let a: Vec<&[u8]> = q.iter().map(|x| x.as_slice()).collect();
                    self.refresh_for(&a);
                }
            }
            _ if self.in_multi => self.queued.push(p.argv.clone()),
            // Touch other databases or everything.
            b"move" | b"copy" | b"swapdb" | b"flushdb" | b"flushall" => {
                self.fp = fingerprint(&self.srv.ks)
            }
            _ => self.refresh_touched(&args),
        }
    }

    /// `refresh_touched`, with the all-keys commands handled.
    fn refresh_for(&mut self, args: &[&[u8]]) {
        let name = args
            .first()
            .map(|a| a.to_ascii_lowercase())
            .unwrap_or_default();
        match &name[..] {
            b"move" | b"copy" | b"swapdb" | b"flushdb" | b"flushall" | b"select" => {
                self.fp = fingerprint(&self.srv.ks)
            }
            _ => self.refresh_touched(args),
        }
    }

    /// Update the fingerprint for the keys `args` names (all keys when the
    /// command's keys cannot be told, e.g. FLUSHALL).
    fn refresh_touched(&mut self, args: &[&[u8]]) {
        let t = &self.srv.table;
        let keys = t.lookup_full(args).and_then(|i| {
            let c = &t.cmds[i];
            redsim_core::cmd::keyspec::key_positions(&c.fullname, &c.key_specs, args, c.arity)
                .filter(|k| !k.is_empty())
        });
        match keys {
            Some(pos) => {
                for p in pos {
                    if let Some(k) = args.get(p) {
                        self.fp.refresh(&self.srv.ks, self.db, k);
                    }
                }
            }
            None => self.fp = fingerprint(&self.srv.ks),
        }
    }

    #[cfg(test)]
    fn digest(&self) -> Fingerprint {
        self.fp.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &[&str]) -> Propagated {
        Propagated {
            db: 0,
            argv: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        }
    }

    fn digest_after(log: &[Propagated]) -> Fingerprint {
        let mut r = Replayer::new(1_700_000_000_000);
        log.iter().for_each(|p| r.apply(p));
        r.digest()
    }

    #[test]
    fn finds_prefixes_and_rejects_non_prefixes() {
        let log = vec![
            cmd(&["SET", "a", "1"]),
            cmd(&["SET", "b", "2"]),
            cmd(&["MULTI"]),
            cmd(&["SET", "a", "3"]),
            cmd(&["DEL", "b"]),
            cmd(&["EXEC"]),
            cmd(&["SET", "c", "4", "PXAT", "1800000000000"]),
        ];
        let now = 1_700_000_000_000;
        for p in [0, 1, 2, 6, 7] {
            let d = digest_after(&log[..p]);
            assert_eq!(matching_prefix(&log, &d, now), Some(p), "prefix {p}");
        }
        // Half a transaction is no prefix.
        let d = digest_after(&[
            cmd(&["SET", "a", "1"]),
            cmd(&["SET", "b", "2"]),
            cmd(&["SET", "a", "3"]),
        ]);
        assert_eq!(matching_prefix(&log, &d, now), None);
        // b lost but a later write kept: not a prefix.
        let d = digest_after(&[cmd(&["SET", "a", "1"])]);
        let mut lost = log.clone();
        lost.insert(1, cmd(&["SET", "z", "9"]));
        assert_eq!(matching_prefix(&lost[2..], &d, now), None);
        // A different TTL is a different state.
        let d = digest_after(&{
            let mut l = log.clone();
            l[6] = cmd(&["SET", "c", "4", "PXAT", "1800000000001"]);
            l
        });
        assert_eq!(matching_prefix(&log, &d, now), None);
    }
}
