//! redsim-core: the sans-IO engine of redsim, a Redis-compatible server.
//!
//! Nothing in this crate performs I/O, reads the wall clock, spawns threads or
//! draws unseeded randomness. The shells (tokio server in `engine/server`,
//! madsim simulator in `sim/`) feed it bytes and the current time and carry
//! out the effects it returns.
//!
//! Module map:
//! - [`resp`]: RESP2/RESP3 request parser (multibulk + inline, Redis's limits
//!   and error texts) and the reply writer.
//! - [`cmd`]: the command table (generated from Redis 7's own COMMAND INFO /
//!   COMMAND DOCS) and dispatch (`processCommand`: lookup, arity, auth, MULTI
//!   queueing), then one file per command group.
//! - [`db`]: keyspace (16 databases, own hash table with Redis's reverse-binary
//!   SCAN cursor), values and their encodings, lazy and active expiry.
//! - [`config`]: the one config table behind redis.conf, `--flags`, CONFIG.
//! - [`server`]: the `Server` state, clients, stats, `execute` and `cron`.
//! - [`util`]: Redis-exact number parsing/formatting and glob matching.
//! - [`sentinel`]: Redis Sentinel (monitoring, agreement, failover) as a
//!   sans-IO state machine the `--sentinel` shell drives.
//! - [`rng`], [`digest`]: seeded randomness, DEBUG DIGEST (Redis's algorithm).
//! - [`disk`]: the `Disk` trait every file operation goes through, and
//!   `SimDisk`, a seeded crash-simulating disk.
//! - [`aof`]: Redis 7's multi-part AOF (manifest, loading, writer, rewrite).
//! - [`rdb`]: Redis 7.0's RDB format (version 10): DUMP/RESTORE payloads,
//!   whole-file writer and loader (listpack, intset, ziplist, LZF, CRC64).

pub mod alloc;
pub mod aof;
pub mod blocking;
pub mod cmd;
pub mod config;
pub mod db;
pub mod digest;
pub mod disk;
pub mod error;
pub mod evict;
pub mod float;
pub mod persist;
pub mod planted;
pub mod pqsort;
pub mod propagate;
pub mod rdb;
pub mod repl;
pub mod resp;
pub mod rng;
pub mod sentinel;
pub mod server;
pub mod snapshot;
pub mod util;

pub use server::{ClientHandle, Effects, Server, ServerEnv};
