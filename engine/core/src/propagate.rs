//! Effect-form propagation: the stream of writes the AOF and replicas
//! consume (Redis's `propagate`/`alsoPropagate`), recorded only while
//! `Keyspace::prop_enabled` (so a server without AOF or replicas pays one
//! branch per command).
//!
//! Rules, as Redis 7.0's `call()`:
//! - A write-flagged command that changed the dataset (its own `dirty`
//!   increments, not those of keys expired during it) is propagated as its
//!   argv, unless its handler gave an effect form with `Ctx::propagate_as`
//!   (relative expiries become PEXPIREAT, SPOP becomes SREM, INCRBYFLOAT
//!   becomes SET, blocking pops become plain pops...) or `propagate_none`.
//! - Keys deleted by lazy expiry or eviction are propagated as DEL/UNLINK
//!   where they happen (`Keyspace::propagate_deletion`), before the command.
//! - Everything one top-level command propagates (an EXEC's commands, or a
//!   DEL for an expired key plus the command) is wrapped in MULTI/EXEC when
//!   it is more than one command, so a reader applies it atomically.
//!
//! Invariant: replaying the stream in order on an empty server with the
//! same configuration, at any later time before the keys' TTLs, yields the
//! same dataset (DEBUG DIGEST); `tests/propagation.rs` checks it.

use crate::cmd::{spec, Cmd};
use crate::db::{Keyspace, Propagated};

/// Dataset counters at the start of one command.
pub struct Mark {
    on: bool,
    dirty: u64,
    expired: u64,
}

impl Mark {
    #[inline]
    pub fn new(ks: &mut Keyspace) -> Mark {
        if !ks.prop_enabled {
            return Mark {
                on: false,
                dirty: 0,
                expired: 0,
            };
        }
        ks.prop_rewrite = None;
        Mark {
            on: true,
            dirty: ks.dirty,
            expired: ks.stats.expired,
        }
    }

    /// Record the command's effect form after it ran in `db`.
    #[inline]
    pub fn finish(self, ks: &mut Keyspace, cmd: &Cmd, argv: &[&[u8]], db: usize) {
        if !self.on {
            return;
        }
        match ks.prop_rewrite.take() {
            Some(cmds) => {
                for argv in cmds {
                    ks.prop.push(Propagated { db, argv });
                }
            }
            None => {
                let changes = ks.dirty.wrapping_sub(self.dirty);
                let expiries = ks.stats.expired.wrapping_sub(self.expired);
                if cmd.flags & spec::F_WRITE != 0 && changes > expiries {
                    ks.prop.push(Propagated {
                        db,
                        argv: argv.iter().map(|a| a.to_vec()).collect(),
                    });
                }
            }
        }
    }
}

/// Wrap what one top-level command propagated (from `start`) in MULTI/EXEC
/// when it is more than one command.
pub fn wrap_multi(ks: &mut Keyspace, start: usize, db: usize) {
    if !ks.prop_enabled || ks.prop.len() <= start + 1 {
        return;
    }
    let first_db = ks.prop[start].db;
    ks.prop.insert(
        start,
        Propagated {
            db: first_db,
            argv: vec![b"MULTI".to_vec()],
        },
    );
    let last_db = ks.prop.last().map_or(db, |p| p.db);
    ks.prop.push(Propagated {
        db: last_db,
        argv: vec![b"EXEC".to_vec()],
    });
}

/// Encode a command as a RESP multibulk (the AOF and replication format).
pub fn encode_resp(out: &mut Vec<u8>, argv: &[Vec<u8>]) {
    out.push(b'*');
    crate::util::push_i64(out, argv.len() as i64);
    out.extend_from_slice(b"\r\n");
    for a in argv {
        out.push(b'$');
        crate::util::push_i64(out, a.len() as i64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}
