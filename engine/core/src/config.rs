//! The one config table. Every setting redsim knows is a row of [`DEFS`]:
//! name (and Redis's alias), type, bounds, default, mutability. The same rows
//! drive redis.conf parsing, `--name value` flags, CONFIG GET/SET/REWRITE and
//! validation texts (copied from Redis 7). Hot values are cached in typed
//! fields of [`Config`] after every change (`refresh`).

use crate::util::{glob_match, parse_memory, split_args};

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool,
    Int(i64, i64),
    /// Accepted in [min,max], then clamped to [lo,hi] (Redis does this for hz).
    Clamped(i64, i64, i64, i64),
    Mem(u64, u64),
    Enum(&'static [&'static str]),
    Str,
}

pub const IMMUTABLE: u8 = 1;
/// Only values that mean "off" are accepted until the feature lands.
pub const OFF_ONLY: u8 = 2;
/// Stored and reported for compatibility; redsim does not act on it yet.
pub const PASSIVE: u8 = 4;
/// Only the default value is accepted (see DEFS).
pub const DEFAULT_ONLY: u8 = 8;

pub struct Def {
    pub name: &'static str,
    pub alias: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub flags: u8,
}

const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const I32: i64 = i32::MAX as i64;

macro_rules! def {
    ($n:expr, $k:expr, $d:expr) => {
        Def {
            name: $n,
            alias: "",
            kind: $k,
            default: $d,
            flags: 0,
        }
    };
    ($n:expr, $k:expr, $d:expr, $f:expr) => {
        Def {
            name: $n,
            alias: "",
            kind: $k,
            default: $d,
            flags: $f,
        }
    };
}

pub static DEFS: &[Def] = &[
    def!("port", Kind::Int(0, 65535), "6379", IMMUTABLE),
    def!("bind", Kind::Str, "127.0.0.1 -::1", IMMUTABLE),
    def!("protected-mode", Kind::Bool, "yes"),
    def!("tcp-backlog", Kind::Int(0, I32), "511", IMMUTABLE),
    def!("tcp-keepalive", Kind::Int(0, I32), "300"),
    def!("timeout", Kind::Int(0, I32), "0"),
    def!("databases", Kind::Int(1, I32), "16", IMMUTABLE),
    def!("requirepass", Kind::Str, ""),
    def!("maxclients", Kind::Int(1, I32), "10000"),
    def!("hz", Kind::Clamped(0, I32, 1, 500), "10"),
    def!("dynamic-hz", Kind::Bool, "yes"),
    def!("active-expire-effort", Kind::Int(1, 10), "1"),
    def!("maxmemory", Kind::Mem(0, u64::MAX >> 1), "0"),
    def!("maxmemory-policy", Kind::Enum(POLICIES), "noeviction"),
    def!("maxmemory-samples", Kind::Int(1, 64), "5"),
    def!("maxmemory-eviction-tenacity", Kind::Int(0, 100), "10"),
    def!("lfu-log-factor", Kind::Int(0, I32), "10"),
    def!("lfu-decay-time", Kind::Int(0, I32), "1"),
    def!(
        "proto-max-bulk-len",
        Kind::Mem(1024 * 1024, i64::MAX as u64),
        "536870912"
    ),
    def!(
        "client-query-buffer-limit",
        Kind::Mem(1024 * 1024, i64::MAX as u64),
        "1073741824"
    ),
    def!(
        "enable-debug-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
        IMMUTABLE
    ),
    def!(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning", "nothing"]),
        "notice"
    ),
    def!("logfile", Kind::Str, "", IMMUTABLE),
    def!("pidfile", Kind::Str, "", IMMUTABLE),
    def!("daemonize", Kind::Bool, "no", IMMUTABLE | OFF_ONLY),
    def!("dir", Kind::Str, "."),
    def!("dbfilename", Kind::Str, "dump.rdb"),
    // RDB snapshots are not implemented yet: `save` is accepted and logged as ignored.
    def!("save", Kind::Str, ""),
    def!("appendonly", Kind::Bool, "no"),
    def!(
        "appendfsync",
        Kind::Enum(&["always", "everysec", "no"]),
        "everysec"
    ),
    def!("appendfilename", Kind::Str, "appendonly.aof", IMMUTABLE),
    def!("notify-keyspace-events", Kind::Str, ""),
    def!("slowlog-log-slower-than", Kind::Int(-1, i64::MAX), "10000"),
    def!("slowlog-max-len", Kind::Int(0, i64::MAX), "128"),
    def!("latency-monitor-threshold", Kind::Int(0, i64::MAX), "0"),
    def!("io-threads", Kind::Int(1, 128), "1", IMMUTABLE),
    def!("cluster-enabled", Kind::Bool, "no", IMMUTABLE | OFF_ONLY),
    def!(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
        IMMUTABLE
    ),
    def!("always-show-logo", Kind::Bool, "no", IMMUTABLE),
    def!("lazyfree-lazy-user-del", Kind::Bool, "no"),
    def!("lazyfree-lazy-user-flush", Kind::Bool, "no"),
    Def {
        name: "hash-max-listpack-entries",
        alias: "hash-max-ziplist-entries",
        kind: Kind::Int(0, i64::MAX),
        default: "512",
        flags: 0,
    },
    Def {
        name: "hash-max-listpack-value",
        alias: "hash-max-ziplist-value",
        kind: Kind::Int(0, i64::MAX),
        default: "64",
        flags: 0,
    },
    Def {
        name: "list-max-listpack-size",
        alias: "list-max-ziplist-size",
        kind: Kind::Int(i32::MIN as i64, I32),
        default: "-2",
        flags: 0,
    },
    def!("set-max-intset-entries", Kind::Int(0, i64::MAX), "512"),
    Def {
        name: "zset-max-listpack-entries",
        alias: "zset-max-ziplist-entries",
        kind: Kind::Int(0, i64::MAX),
        default: "128",
        flags: 0,
    },
    Def {
        name: "zset-max-listpack-value",
        alias: "zset-max-ziplist-value",
        kind: Kind::Int(0, i64::MAX),
        default: "64",
        flags: 0,
    },
    // Every other Redis 7.0 parameter, so CONFIG GET * and tools see the full
    // set. PASSIVE: stored and reported, no effect in redsim yet.
    // DEFAULT_ONLY: only the default is accepted (the feature is missing and
    // silently ignoring another value would mislead).
    Def {
        name: "acl-pubsub-default",
        alias: "",
        kind: Kind::Str,
        default: "resetchannels",
        flags: PASSIVE,
    },
    Def {
        name: "aclfile",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE | DEFAULT_ONLY,
    },
    Def {
        name: "acllog-max-len",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "128",
        flags: PASSIVE,
    },
    Def {
        name: "active-defrag-cycle-max",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "25",
        flags: PASSIVE,
    },
    Def {
        name: "active-defrag-cycle-min",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "1",
        flags: PASSIVE,
    },
    Def {
        name: "active-defrag-ignore-bytes",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "104857600",
        flags: PASSIVE,
    },
    Def {
        name: "active-defrag-max-scan-fields",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "1000",
        flags: PASSIVE,
    },
    Def {
        name: "active-defrag-threshold-lower",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "10",
        flags: PASSIVE,
    },
    Def {
        name: "active-defrag-threshold-upper",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "100",
        flags: PASSIVE,
    },
    Def {
        name: "activedefrag",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "activerehashing",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "aof-disable-auto-gc",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "aof-load-truncated",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "aof-rewrite-incremental-fsync",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "aof-timestamp-enabled",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: 0,
    },
    Def {
        name: "aof-use-rdb-preamble",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "aof_rewrite_cpulist",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "appenddirname",
        alias: "",
        kind: Kind::Str,
        default: "appendonlydir",
        flags: PASSIVE,
    },
    Def {
        name: "auto-aof-rewrite-min-size",
        alias: "",
        kind: Kind::Mem(0, i64::MAX as u64),
        default: "67108864",
        flags: 0,
    },
    Def {
        name: "auto-aof-rewrite-percentage",
        alias: "",
        kind: Kind::Int(0, i32::MAX as i64),
        default: "100",
        flags: 0,
    },
    Def {
        name: "bgsave_cpulist",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "bind-source-addr",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "bio_cpulist",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "busy-reply-threshold",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "5000",
        flags: PASSIVE,
    },
    Def {
        name: "client-output-buffer-limit",
        alias: "",
        kind: Kind::Str,
        default: "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-allow-pubsubshard-when-down",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-allow-reads-when-down",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-allow-replica-migration",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-announce-bus-port",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "0",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-announce-hostname",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-announce-ip",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-announce-port",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "0",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-announce-tls-port",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "0",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-config-file",
        alias: "",
        kind: Kind::Str,
        default: "nodes.conf",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-link-sendbuf-limit",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "0",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-migration-barrier",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "1",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-node-timeout",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "15000",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-port",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "0",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-preferred-endpoint-type",
        alias: "",
        kind: Kind::Str,
        default: "ip",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-replica-no-failover",
        alias: "cluster-slave-no-failover",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-replica-validity-factor",
        alias: "cluster-slave-validity-factor",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "10",
        flags: PASSIVE,
    },
    Def {
        name: "cluster-require-full-coverage",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "crash-log-enabled",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "crash-memcheck-enabled",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "disable-thp",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "enable-module-command",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "enable-protected-configs",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "hll-sparse-max-bytes",
        alias: "",
        kind: Kind::Mem(0, i64::MAX as u64),
        default: "3000",
        flags: 0,
    },
    Def {
        name: "ignore-warnings",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "io-threads-do-reads",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "jemalloc-bg-thread",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "latency-tracking",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "latency-tracking-info-percentiles",
        alias: "",
        kind: Kind::Str,
        default: "50 99 99.9",
        flags: PASSIVE,
    },
    Def {
        name: "lazyfree-lazy-eviction",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "lazyfree-lazy-expire",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "lazyfree-lazy-server-del",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "list-compress-depth",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "0",
        flags: PASSIVE,
    },
    Def {
        name: "lua-time-limit",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "5000",
        flags: PASSIVE,
    },
    Def {
        name: "masterauth",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: 0,
    },
    Def {
        name: "masteruser",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: 0,
    },
    Def {
        name: "maxmemory-clients",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "0",
        flags: PASSIVE,
    },
    Def {
        name: "min-replicas-max-lag",
        alias: "min-slaves-max-lag",
        kind: Kind::Int(0, I32),
        default: "10",
        flags: 0,
    },
    Def {
        name: "min-replicas-to-write",
        alias: "min-slaves-to-write",
        kind: Kind::Int(0, I32),
        default: "0",
        flags: 0,
    },
    Def {
        name: "no-appendfsync-on-rewrite",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "oom-score-adj",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "oom-score-adj-values",
        alias: "",
        kind: Kind::Str,
        default: "0 200 800",
        flags: PASSIVE,
    },
    Def {
        name: "proc-title-template",
        alias: "",
        kind: Kind::Str,
        default: "{title} {listen-addr} {server-mode}",
        flags: PASSIVE,
    },
    Def {
        name: "propagation-error-behavior",
        alias: "",
        kind: Kind::Str,
        default: "ignore",
        flags: PASSIVE,
    },
    Def {
        name: "rdb-del-sync-files",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "rdb-save-incremental-fsync",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "rdbchecksum",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "rdbcompression",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "repl-backlog-size",
        alias: "",
        kind: Kind::Mem(1, i64::MAX as u64),
        default: "1048576",
        flags: 0,
    },
    Def {
        name: "repl-backlog-ttl",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "3600",
        flags: PASSIVE,
    },
    Def {
        name: "repl-disable-tcp-nodelay",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "repl-diskless-load",
        alias: "",
        kind: Kind::Str,
        default: "disabled",
        flags: PASSIVE,
    },
    Def {
        name: "repl-diskless-sync",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "repl-diskless-sync-delay",
        alias: "",
        kind: Kind::Int(0, I32),
        default: "5",
        flags: 0,
    },
    Def {
        name: "repl-diskless-sync-max-replicas",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "0",
        flags: PASSIVE,
    },
    Def {
        name: "repl-ping-replica-period",
        alias: "repl-ping-slave-period",
        kind: Kind::Int(1, I32),
        default: "10",
        flags: 0,
    },
    Def {
        name: "repl-timeout",
        alias: "",
        kind: Kind::Int(1, I32),
        default: "60",
        flags: 0,
    },
    Def {
        name: "replica-announce-ip",
        alias: "slave-announce-ip",
        kind: Kind::Str,
        default: "",
        flags: 0,
    },
    Def {
        name: "replica-announce-port",
        alias: "slave-announce-port",
        kind: Kind::Int(0, 65535),
        default: "0",
        flags: 0,
    },
    Def {
        name: "replica-announced",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: 0,
    },
    Def {
        name: "replica-ignore-disk-write-errors",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "replica-ignore-maxmemory",
        alias: "slave-ignore-maxmemory",
        kind: Kind::Bool,
        default: "yes",
        flags: 0,
    },
    Def {
        name: "replica-lazy-flush",
        alias: "slave-lazy-flush",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "replica-priority",
        alias: "slave-priority",
        kind: Kind::Int(0, I32),
        default: "100",
        flags: 0,
    },
    Def {
        name: "replica-read-only",
        alias: "slave-read-only",
        kind: Kind::Bool,
        default: "yes",
        flags: 0,
    },
    Def {
        name: "replica-serve-stale-data",
        alias: "slave-serve-stale-data",
        kind: Kind::Bool,
        default: "yes",
        flags: 0,
    },
    Def {
        name: "replicaof",
        alias: "slaveof",
        kind: Kind::Str,
        default: "",
        flags: IMMUTABLE,
    },
    Def {
        name: "sanitize-dump-payload",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "server_cpulist",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "set-proc-title",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "shutdown-on-sigint",
        alias: "",
        kind: Kind::Str,
        default: "default",
        flags: PASSIVE,
    },
    Def {
        name: "shutdown-on-sigterm",
        alias: "",
        kind: Kind::Str,
        default: "default",
        flags: PASSIVE,
    },
    Def {
        name: "shutdown-timeout",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "10",
        flags: PASSIVE,
    },
    Def {
        name: "socket-mark-id",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "0",
        flags: PASSIVE,
    },
    Def {
        name: "stop-writes-on-bgsave-error",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "stream-node-max-bytes",
        alias: "",
        kind: Kind::Mem(0, i64::MAX as u64),
        default: "4096",
        flags: 0,
    },
    Def {
        name: "stream-node-max-entries",
        alias: "",
        kind: Kind::Int(0, i64::MAX),
        default: "100",
        flags: 0,
    },
    Def {
        name: "syslog-enabled",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "syslog-facility",
        alias: "",
        kind: Kind::Str,
        default: "local0",
        flags: PASSIVE,
    },
    Def {
        name: "syslog-ident",
        alias: "",
        kind: Kind::Str,
        default: "redis",
        flags: PASSIVE,
    },
    Def {
        name: "tls-auth-clients",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "tls-ca-cert-dir",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "tls-ca-cert-file",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "tls-cert-file",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "tls-ciphers",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "tls-ciphersuites",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "tls-client-cert-file",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "tls-client-key-file",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "tls-client-key-file-pass",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "tls-cluster",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE | DEFAULT_ONLY,
    },
    Def {
        name: "tls-dh-params-file",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "tls-key-file",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "tls-key-file-pass",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "tls-port",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "0",
        flags: PASSIVE | DEFAULT_ONLY,
    },
    Def {
        name: "tls-prefer-server-ciphers",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE,
    },
    Def {
        name: "tls-protocols",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE,
    },
    Def {
        name: "tls-replication",
        alias: "",
        kind: Kind::Bool,
        default: "no",
        flags: PASSIVE | DEFAULT_ONLY,
    },
    Def {
        name: "tls-session-cache-size",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "20480",
        flags: PASSIVE,
    },
    Def {
        name: "tls-session-cache-timeout",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "300",
        flags: PASSIVE,
    },
    Def {
        name: "tls-session-caching",
        alias: "",
        kind: Kind::Bool,
        default: "yes",
        flags: PASSIVE,
    },
    Def {
        name: "tracking-table-max-keys",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "1000000",
        flags: PASSIVE,
    },
    Def {
        name: "unixsocket",
        alias: "",
        kind: Kind::Str,
        default: "",
        flags: PASSIVE | DEFAULT_ONLY,
    },
    Def {
        name: "unixsocketperm",
        alias: "",
        kind: Kind::Int(i64::MIN, i64::MAX),
        default: "0",
        flags: PASSIVE,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugCmd {
    No,
    Yes,
    Local,
}

#[derive(Clone)]
pub struct Config {
    vals: Vec<String>,
    // Hot values, refreshed after every change.
    pub port: u16,
    pub hz: u32,
    pub databases: usize,
    pub requirepass: Option<Vec<u8>>,
    pub maxclients: usize,
    pub proto_max_bulk_len: i64,
    pub query_buf_bytes_max: usize,
    pub active_expire_effort: u32,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub policy: crate::evict::Policy,
    pub maxmemory_samples: usize,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    pub lazyfree_lazy_eviction: bool,
    /// `save` as (seconds, changes) points; empty = no automatic saves.
    pub save_params: Vec<(u64, u64)>,
    pub stop_writes_on_bgsave_error: bool,
    /// min-replicas-to-write: read by every write on a master (cached: a
    /// table lookup by name per write was on the hot path).
    pub min_replicas_to_write: usize,
    /// min-replicas-max-lag (seconds), read with it.
    pub min_replicas_max_lag_s: i64,
    /// Replication settings, cached: the replica ones are read on every
    /// command a replica runs, the others by the replication cron.
    pub replica_read_only: bool,
    pub replica_serve_stale_data: bool,
    pub replica_ignore_maxmemory: bool,
    pub repl_backlog_size: usize,
    pub repl_timeout_s: i64,
    pub repl_ping_replica_period_s: i64,
    pub repl_diskless_sync_delay_s: i64,
    pub lazyfree_lazy_expire: bool,
    pub enable_debug: DebugCmd,
    /// Encoding thresholds read on every collection write: cached, not looked up.
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    /// `notify-keyspace-events` as `cmd::notify` bits (0 = off: one test per write).
    pub notify_flags: u32,
    /// Sparse HLL representations are promoted to dense above this size.
    pub hll_sparse_max_bytes: u64,
    /// Hard output limit for pub/sub clients (client-output-buffer-limit
    /// pubsub <hard> ...; 0 = none): a subscriber that does not read is
    /// disconnected instead of growing without bound.
    pub pubsub_out_hard_bytes: usize,
    /// Stream radix-tree node limits (they decide `~` trimming granularity).
    pub stream_node_max_bytes: u64,
    pub stream_node_max_entries: u64,
    /// The bits as set. Kept apart from the stored text because Redis's
    /// display form drops `n` when `A` is present ("KEAn" shows "AKE").
    notify_flags_set: u32,
}

/// Redis's keyspaceEventsStringToFlags (None on an unknown character).
pub fn notify_flags_from_str(s: &str) -> Option<u32> {
    use crate::cmd::notify::*;
    let all = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
    let mut f = 0;
    for c in s.chars() {
        f |= match c {
            'A' => all,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return None,
        };
    }
    Some(f)
}

/// Redis's keyspaceEventsFlagsToString (the form CONFIG GET shows).
pub fn notify_flags_to_string(f: u32) -> String {
    use crate::cmd::notify::*;
    let all = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
    let mut r = String::new();
    if f & all == all {
        r.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if f & bit != 0 {
                r.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if f & bit != 0 {
            r.push(c);
        }
    }
    r
}

pub struct SetError {
    pub name: String,
    pub reason: String,
}

fn find_def(name: &str) -> Option<usize> {
    DEFS.iter().position(|d| {
        d.name.eq_ignore_ascii_case(name)
            || (!d.alias.is_empty() && d.alias.eq_ignore_ascii_case(name))
    })
}

/// Validate `v` against `d`, returning the canonical stored form.
fn canonical(d: &Def, v: &str) -> Result<String, String> {
    let between =
        |lo: String, hi: String| format!("argument must be between {lo} and {hi} inclusive");
    let out = match d.kind {
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "yes" => "yes".to_string(),
            "no" => "no".to_string(),
            _ => return Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int(lo, hi) => {
            let n: i64 = v
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < lo || n > hi {
                return Err(between(lo.to_string(), hi.to_string()));
            }
            n.to_string()
        }
        Kind::Clamped(lo, hi, clo, chi) => {
            let n: i64 = v
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < lo || n > hi {
                return Err(between(lo.to_string(), hi.to_string()));
            }
            n.clamp(clo, chi).to_string()
        }
        Kind::Mem(lo, hi) => {
            // Redis's memtoull reads "" as 0.
            let n = if v.is_empty() {
                0
            } else if v.starts_with('-') {
                return Err("argument must be a memory value".into());
            } else {
                parse_memory(v).ok_or_else(|| "argument must be a memory value".to_string())?
            };
            if n < lo || n > hi {
                return Err(between(lo.to_string(), hi.to_string()));
            }
            n.to_string()
        }
        Kind::Enum(opts) => {
            let l = v.to_ascii_lowercase();
            match opts.iter().find(|o| **o == l) {
                Some(o) => (*o).to_string(),
                None => {
                    return Err(format!(
                        "argument(s) must be one of the following: {}",
                        opts.join(", ")
                    ))
                }
            }
        }
        Kind::Str if d.name == "notify-keyspace-events" => {
            notify_flags_to_string(notify_flags_from_str(v).ok_or_else(|| {
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
            })?)
        }
        Kind::Str if d.name == "save" => canonical_save(v)?,
        Kind::Str => v.to_string(),
    };
    if d.flags & DEFAULT_ONLY != 0 && out != d.default {
        return Err(format!("redsim does not support '{}' yet", d.name));
    }
    if d.flags & OFF_ONLY != 0 && out != "no" {
        return Err(format!("redsim does not support '{} {}' yet", d.name, out));
    }
    Ok(out)
}

/// Redis's setConfigSaveOption check: pairs of `seconds >= 1` and
/// `changes >= 0`, or "" for none. Stored as the numbers' plain form.
fn canonical_save(v: &str) -> Result<String, String> {
    let args: Vec<&str> = v.split_whitespace().collect();
    if args.is_empty() {
        return Ok(String::new());
    }
    if args.len() % 2 == 1 {
        return Err("Invalid save parameters".into());
    }
    let mut out = Vec::with_capacity(args.len());
    for (j, a) in args.iter().enumerate() {
        let n: i64 = a
            .parse()
            .map_err(|_| "Invalid save parameters".to_string())?;
        if (j % 2 == 0 && n < 1) || n < 0 {
            return Err("Invalid save parameters".into());
        }
        out.push(n.to_string());
    }
    Ok(out.join(" "))
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// `save "3600 1 300 100"` as (seconds, changes) pairs; malformed pairs
/// are dropped (Redis rejects them at CONFIG SET).
pub fn parse_save_params(v: &str) -> Vec<(u64, u64)> {
    let nums: Vec<Option<u64>> = v.split_whitespace().map(|x| x.parse().ok()).collect();
    nums.chunks(2)
        .filter_map(|c| match c {
            [Some(s), Some(n)] => Some((*s, *n)),
            _ => None,
        })
        .collect()
}

impl Config {
    pub fn new() -> Config {
        let mut c = Config {
            vals: DEFS.iter().map(|d| d.default.to_string()).collect(),
            port: 6379,
            hz: 10,
            databases: 16,
            requirepass: None,
            maxclients: 10000,
            proto_max_bulk_len: 512 << 20,
            query_buf_bytes_max: 1 << 30,
            active_expire_effort: 1,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            policy: crate::evict::Policy::NoEviction,
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            lazyfree_lazy_eviction: false,
            save_params: Vec::new(),
            stop_writes_on_bgsave_error: true,
            min_replicas_to_write: 0,
            min_replicas_max_lag_s: 10,
            replica_read_only: true,
            replica_serve_stale_data: true,
            replica_ignore_maxmemory: true,
            repl_backlog_size: 1 << 20,
            repl_timeout_s: 60,
            repl_ping_replica_period_s: 10,
            repl_diskless_sync_delay_s: 5,
            lazyfree_lazy_expire: false,
            enable_debug: DebugCmd::No,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            set_max_intset_entries: 512,
            notify_flags: 0,
            notify_flags_set: 0,
            hll_sparse_max_bytes: 3000,
            pubsub_out_hard_bytes: 32 << 20,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
        };
        c.refresh();
        c
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        find_def(name).map(|i| self.vals[i].as_str())
    }

    fn num(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    fn refresh(&mut self) {
        self.port = u16::try_from(self.num("port")).unwrap_or(6379);
        self.hz = u32::try_from(self.num("hz")).unwrap_or(10);
        self.databases = usize::try_from(self.num("databases")).unwrap_or(16);
        let pass = self.get("requirepass").unwrap_or("");
        self.requirepass = if pass.is_empty() {
            None
        } else {
            Some(pass.as_bytes().to_vec())
        };
        self.maxclients = usize::try_from(self.num("maxclients")).unwrap_or(10000);
        self.proto_max_bulk_len = self.num("proto-max-bulk-len");
        self.query_buf_bytes_max =
            usize::try_from(self.num("client-query-buffer-limit")).unwrap_or(1 << 30);
        self.active_expire_effort = u32::try_from(self.num("active-expire-effort")).unwrap_or(1);
        self.maxmemory = u64::try_from(self.num("maxmemory")).unwrap_or(0);
        self.maxmemory_policy = self
            .get("maxmemory-policy")
            .unwrap_or("noeviction")
            .to_string();
        self.policy = crate::evict::Policy::parse(&self.maxmemory_policy);
        self.maxmemory_samples = usize::try_from(self.num("maxmemory-samples")).unwrap_or(5);
        self.lfu_log_factor = u32::try_from(self.num("lfu-log-factor")).unwrap_or(10);
        self.lfu_decay_time = u32::try_from(self.num("lfu-decay-time")).unwrap_or(1);
        self.lazyfree_lazy_eviction = self.get("lazyfree-lazy-eviction") == Some("yes");
        self.save_params = parse_save_params(self.get("save").unwrap_or(""));
        self.stop_writes_on_bgsave_error = self.get("stop-writes-on-bgsave-error") != Some("no");
        self.min_replicas_to_write = self.num("min-replicas-to-write").max(0) as usize;
        self.min_replicas_max_lag_s = self.num("min-replicas-max-lag");
        self.lazyfree_lazy_expire = self.get("lazyfree-lazy-expire") == Some("yes");
        let size = |c: &Config, name: &str, def: usize| {
            c.get(name)
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(def, |v| usize::try_from(v).unwrap_or(usize::MAX))
        };
        self.hash_max_listpack_entries = size(self, "hash-max-listpack-entries", 512);
        self.hash_max_listpack_value = size(self, "hash-max-listpack-value", 64);
        self.zset_max_listpack_entries = size(self, "zset-max-listpack-entries", 128);
        self.zset_max_listpack_value = size(self, "zset-max-listpack-value", 64);
        self.replica_read_only = self.get("replica-read-only") != Some("no");
        self.replica_serve_stale_data = self.get("replica-serve-stale-data") != Some("no");
        self.replica_ignore_maxmemory = self.get("replica-ignore-maxmemory") != Some("no");
        self.repl_backlog_size = size(self, "repl-backlog-size", 1 << 20);
        self.repl_timeout_s = self.num("repl-timeout");
        self.repl_ping_replica_period_s = self.num("repl-ping-replica-period").max(1);
        self.repl_diskless_sync_delay_s = self.num("repl-diskless-sync-delay");
        self.set_max_intset_entries =
            crate::db::set::intset_max(self.get("set-max-intset-entries"));
        self.notify_flags = self.notify_flags_set;
        self.pubsub_out_hard_bytes = self
            .get("client-output-buffer-limit")
            .and_then(|v| {
                let w: Vec<&str> = v.split_whitespace().collect();
                let i = w.iter().position(|x| x.eq_ignore_ascii_case("pubsub"))?;
                parse_memory(w.get(i + 1)?)
            })
            .map_or(32 << 20, |b| usize::try_from(b).unwrap_or(usize::MAX));
        self.hll_sparse_max_bytes = u64::try_from(self.num("hll-sparse-max-bytes")).unwrap_or(3000);
        self.stream_node_max_bytes = u64::try_from(self.num("stream-node-max-bytes")).unwrap_or(0);
        self.stream_node_max_entries =
            u64::try_from(self.num("stream-node-max-entries")).unwrap_or(0);
        // Redis: with neither K nor E set, no class is delivered at all.
        if self.notify_flags & (crate::cmd::notify::KEYSPACE | crate::cmd::notify::KEYEVENT) == 0 {
            self.notify_flags = 0;
        }
        self.enable_debug = match self.get("enable-debug-command") {
            Some("yes") => DebugCmd::Yes,
            Some("local") => DebugCmd::Local,
            _ => DebugCmd::No,
        };
    }

    /// Values whose stored text loses information (see `notify_flags_set`).
    fn note_raw(&mut self, i: usize, value: &str) {
        if DEFS[i].name == "notify-keyspace-events" {
            self.notify_flags_set = notify_flags_from_str(value).unwrap_or(0);
        }
    }

    pub fn is_lfu(&self) -> bool {
        self.maxmemory_policy.ends_with("lfu")
    }

    /// Set at startup (config file or flags): immutable settings allowed.
    pub fn set_startup(&mut self, name: &str, value: &str) -> Result<(), String> {
        let Some(i) = find_def(name) else {
            return Err(format!("Bad directive or wrong number of arguments"));
        };
        let v = canonical(&DEFS[i], value)?;
        self.vals[i] = v;
        self.note_raw(i, value);
        self.refresh();
        Ok(())
    }

    /// CONFIG SET with several pairs: all validated, then all applied.
    pub fn set_runtime(&mut self, pairs: &[(String, String)]) -> Result<(), SetError> {
        let mut staged: Vec<(usize, String)> = Vec::new();
        for (name, value) in pairs {
            let Some(i) = find_def(name) else {
                return Err(SetError {
                    name: name.clone(),
                    reason: String::new(),
                });
            };
            let err = |reason: String| SetError {
                name: name.clone(),
                reason,
            };
            if staged.iter().any(|(j, _)| *j == i) {
                return Err(err("duplicate parameter".into()));
            }
            if DEFS[i].flags & IMMUTABLE != 0 {
                return Err(err("can't set immutable config".into()));
            }
            let v = canonical(&DEFS[i], value).map_err(err)?;
            staged.push((i, v));
        }
        for (k, (i, v)) in staged.into_iter().enumerate() {
            self.vals[i] = v;
            self.note_raw(i, &pairs[k].1);
        }
        self.refresh();
        Ok(())
    }

    /// CONFIG GET: (name, value) pairs for every setting matching any pattern.
    /// Like Redis 7.0, a pattern without glob characters is looked up directly
    /// and echoed as typed; a glob lists canonical names and aliases.
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(Vec<u8>, &str)> {
        let mut out: Vec<(Vec<u8>, &str)> = Vec::new();
        for p in patterns {
            if !p.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
                if out.iter().any(|(n, _)| n == p) {
                    continue;
                }
                if let Some(i) = find_def(&String::from_utf8_lossy(p)) {
                    out.push((p.to_vec(), self.vals[i].as_str()));
                }
                continue;
            }
            for (i, d) in DEFS.iter().enumerate() {
                for name in [d.name, d.alias] {
                    if name.is_empty() || !glob_match(p, name.as_bytes(), true) {
                        continue;
                    }
                    if !out.iter().any(|(n, _)| n == name.as_bytes()) {
                        out.push((name.as_bytes().to_vec(), self.vals[i].as_str()));
                    }
                }
            }
        }
        out
    }

    /// Parse redis.conf text plus `--name value ...` flags (flags win).
    pub fn load(&mut self, file_text: Option<&str>, flags: &[String]) -> Result<(), String> {
        let mut text = String::new();
        if let Some(t) = file_text {
            text.push_str(t);
            text.push('\n');
        }
        // Like redis-server: each `--name` starts a line, following words are its args.
        let mut line = String::new();
        for f in flags {
            if let Some(n) = f.strip_prefix("--") {
                if !line.is_empty() {
                    text.push_str(&line);
                    text.push('\n');
                }
                line = n.to_string();
            } else {
                line.push(' ');
                line.push_str(&quote(f));
            }
        }
        if !line.is_empty() {
            text.push_str(&line);
            text.push('\n');
        }
        let mut save_seen = false;
        for (n, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let Some(args) = split_args(l.as_bytes()) else {
                return Err(format!(
                    "line {}: unbalanced quotes in configuration line",
                    n + 1
                ));
            };
            let Some((name, rest)) = args.split_first() else {
                continue;
            };
            let name = String::from_utf8_lossy(name).to_string();
            let value = rest
                .iter()
                .map(|a| String::from_utf8_lossy(a).to_string())
                .collect::<Vec<_>>()
                .join(" ");
            // `save` lines accumulate (the first one replaces the default;
            // `save ""` clears), as Redis reads its config file.
            let value = if name.eq_ignore_ascii_case("save") && save_seen && !value.is_empty() {
                format!("{} {}", self.get("save").unwrap_or(""), value)
            } else {
                value
            };
            if name.eq_ignore_ascii_case("save") {
                save_seen = true;
            }
            self.set_startup(&name, &value)
                .map_err(|e| format!("line {}: '{}': {}", n + 1, l, e))?;
        }
        Ok(())
    }

    /// The text CONFIG REWRITE writes: every non-default setting, one per line.
    pub fn rewrite_text(&self, original: Option<&str>) -> String {
        let mut out = String::new();
        let mut written = vec![false; DEFS.len()];
        if let Some(orig) = original {
            for raw in orig.lines() {
                let l = raw.trim();
                let name = l.split_whitespace().next().unwrap_or("");
                match find_def(name) {
                    Some(i) if !l.starts_with('#') => {
                        if !written[i] {
                            out.push_str(&format!("{} {}\n", DEFS[i].name, quote(&self.vals[i])));
                            written[i] = true;
                        }
                    }
                    _ => {
                        out.push_str(raw);
                        out.push('\n');
                    }
                }
            }
        }
        for (i, d) in DEFS.iter().enumerate() {
            if !written[i] && self.vals[i] != d.default {
                out.push_str(&format!("{} {}\n", d.name, quote(&self.vals[i])));
            }
        }
        out
    }
}

fn quote(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|c| c.is_ascii_graphic() && c != b'"' && c != b'\'' && c != b'\\')
    {
        v.to_string()
    } else {
        let mut s = String::from("\"");
        for c in v.bytes() {
            match c {
                b'"' => s.push_str("\\\""),
                b'\\' => s.push_str("\\\\"),
                b' ' => s.push(' '),
                c if c.is_ascii_graphic() => s.push(c as char),
                c => s.push_str(&format!("\\x{c:02x}")),
            }
        }
        s.push('"');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file() {
        let mut c = Config::new();
        c.load(
            Some("port 7000\nhz 20\n"),
            &["--port".into(), "7001".into(), "--save".into(), "".into()],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.port, 7001);
        assert_eq!(c.hz, 20);
        assert_eq!(c.get("save"), Some(""));
    }

    #[test]
    fn set_errors_match_redis() {
        let mut c = Config::new();
        let e = c
            .set_runtime(&[("hz".into(), "abc".into())])
            .err()
            .map(|e| e.reason);
        assert_eq!(
            e.as_deref(),
            Some("argument couldn't be parsed into an integer")
        );
        c.set_runtime(&[("hz".into(), "1000".into())]).ok();
        assert_eq!(c.hz, 500);
        let e = c
            .set_runtime(&[("databases".into(), "3".into())])
            .err()
            .map(|e| e.reason);
        assert_eq!(e.as_deref(), Some("can't set immutable config"));
    }

    #[test]
    fn rewrite_keeps_comments_and_adds_changes() {
        let mut c = Config::new();
        c.load(Some("# hi\nhz 20\n"), &[]).ok();
        c.set_runtime(&[("maxmemory".into(), "1mb".into())]).ok();
        let t = c.rewrite_text(Some("# hi\nhz 20\n"));
        assert!(t.contains("# hi\nhz 20\n"));
        assert!(t.contains("maxmemory 1048576\n"));
    }
}
