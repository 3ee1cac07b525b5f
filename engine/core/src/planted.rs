//! Planted bugs: deliberately broken engine variants that the simulator's
//! selftests switch on, to prove its checkers catch real bugs (a lost
//! increment, a duplicated list element, a stale read after a restart).
//!
//! Invariant: `Keyspace::planted` is 0 unless the simulator sets it, and the
//! hooks are compiled only under `--cfg madsim`: the server binary cannot
//! run a planted bug.

use crate::db::Keyspace;

/// Every few INCRs reply with the new value but do not store it.
pub const LOST_INCREMENT: u32 = 1;
/// Every few RPUSHes append their last element twice.
pub const DUPLICATE_ELEMENT: u32 = 2;
/// The AOF loader drops the last command it reads (an off-by-one in the
/// tail handling): after a restart, the newest acknowledged write is gone.
pub const STALE_AFTER_RESTART: u32 = 4;
/// WAIT counts every online replica, acknowledged or not (replies early).
pub const WAIT_EARLY: u32 = 8;
/// A promotion forgets the previous replication id (no replid2): replicas
/// of the old master cannot continue, every failover costs full syncs.
pub const FORGET_REPLID2: u32 = 16;
/// The master ignores min-replicas-to-write: a master cut off from its
/// replicas keeps acknowledging writes for as long as the partition lasts.
pub const IGNORE_MIN_REPLICAS: u32 = 32;

/// Does planted `bug` fire on this call? (On every `every`-th call.)
pub fn fires(ks: &mut Keyspace, bug: u32, every: u64) -> bool {
    if ks.planted & bug == 0 {
        return false;
    }
    ks.planted_calls += 1;
    ks.planted_calls % every.max(1) == 0
}
