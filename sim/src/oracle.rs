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
use redsim_core::digest::Digest;
use redsim_core::resp::Reply;
use redsim_core::server::ClientHandle;
use redsim_core::{Server, ServerEnv};

/// A dataset's identity: DEBUG DIGEST (which marks only that a key has a
/// TTL) plus every key's exact expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    digest: Digest,
    ttls: Vec<(usize, Vec<u8>, i64)>,
}

pub fn fingerprint(ks: &redsim_core::db::Keyspace) -> Fingerprint {
    let mut ttls = Vec::new();
    for (j, db) in ks.dbs.iter().enumerate() {
        for e in db.table.iter() {
            let at = db.table.expire_of_entry(e);
            if at != redsim_core::db::table::NO_EXPIRE {
                ttls.push((j, e.key.to_vec(), at));
            }
        }
    }
    ttls.sort();
    Fingerprint {
        digest: redsim_core::digest::dataset_digest(ks),
        ttls,
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
        if !in_multi && r.digest() == *target {
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
    if !in_multi && r.digest() == *target {
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
        if !args.is_empty() {
            self.run(&args);
        }
    }

    fn digest(&self) -> Fingerprint {
        fingerprint(&self.srv.ks)
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
