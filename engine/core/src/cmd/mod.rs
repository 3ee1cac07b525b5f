//! The command table and dispatch.
//!
//! Policy lives in the table (arity, flags, key positions: generated from
//! Redis 7's own COMMAND INFO), semantics in one function per command in the
//! per-group files. `Server::execute` applies the policy the way Redis's
//! `processCommand` does (lookup, arity, auth, MULTI queueing), then `call`
//! runs the handler and records stats. Adding a command: a line in
//! `gen/commands.txt` (regenerate `spec_gen.rs`), a binding in `BINDINGS`, a
//! function, tests.

pub mod bitmap;
pub mod conn;
pub mod dump;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod keys;
pub mod keyspec;
pub mod list;
pub mod memory;
pub mod persist;
pub mod pubsub;
pub mod server_cmds;
pub mod set;
pub mod sort;
pub mod spec;
mod spec_gen;
pub mod stream;
pub mod string;
pub mod zset;

use std::collections::HashMap as StdHashMap;

/// Command-name maps use a fixed-seed fast hash: deterministic, no SipHash cost.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::FixedState>;

use crate::config::Config;
use crate::db::Keyspace;
use crate::error::{CmdError, CmdResult};
use crate::resp::Reply;
use crate::server::{Clients, Effects, ServerEnv, Stats};
use spec::{flag_bits, Spec};

pub type Handler = fn(&mut Ctx, &[&[u8]]) -> CmdResult;

/// Everything a command may touch, borrowed disjointly from the `Server`.
pub struct Ctx<'a> {
    pub ks: &'a mut Keyspace,
    pub clients: &'a mut Clients,
    pub cfg: &'a mut Config,
    pub env: &'a ServerEnv,
    pub stats: &'a mut Stats,
    pub effects: &'a mut Effects,
    pub table: &'a CommandTable,
    pub config_store: &'a mut Option<Box<dyn crate::server::ConfigStore>>,
    pub persist: &'a mut crate::persist::Persist,
    pub repl: &'a mut crate::repl::Repl,
    pub out: &'a mut Reply,
    /// Handle of the calling client.
    pub h: usize,
    /// The calling client's selected database.
    pub db: usize,
    /// True while running the commands of an EXEC.
    pub in_exec: bool,
    /// Set when a blocked client's command is re-executed because this key
    /// became ready: multi-key blocking pops serve from it first (Redis 7.0
    /// serves the client from the key that was signalled).
    pub ready_key: Option<&'a [u8]>,
}

/// Keyspace-notification classes (Redis's NOTIFY_* bits, `notify-keyspace-events`).
pub mod notify {
    pub const KEYSPACE: u32 = 1 << 0; // K
    pub const KEYEVENT: u32 = 1 << 1; // E
    pub const GENERIC: u32 = 1 << 2; // g
    pub const STRING: u32 = 1 << 3; // $
    pub const LIST: u32 = 1 << 4; // l
    pub const SET: u32 = 1 << 5; // s
    pub const HASH: u32 = 1 << 6; // h
    pub const ZSET: u32 = 1 << 7; // z
    pub const EXPIRED: u32 = 1 << 8; // x
    pub const EVICTED: u32 = 1 << 9; // e
    pub const STREAM: u32 = 1 << 10; // t
    pub const KEY_MISS: u32 = 1 << 11; // m
    pub const LOADED: u32 = 1 << 12; // module only
    pub const MODULE: u32 = 1 << 13; // d
    pub const NEW: u32 = 1 << 14; // n
}

impl Ctx<'_> {
    pub fn now_ms(&self) -> i64 {
        self.ks.now_ms
    }

    /// Redis's `notifyKeyspaceEvent(class, event, key, dbid)`: publishes
    /// `__keyspace@<db>__:<key>` / `__keyevent@<db>__:<event>` when the class
    /// is enabled in `notify-keyspace-events`. Call it after the write, with
    /// Redis's event name ("set", "lpush", "xadd", "del", ...).
    /// True while writes are recorded for the AOF/replicas: build an
    /// effect form only then.
    #[inline]
    pub fn propagating(&self) -> bool {
        self.ks.prop_enabled
    }

    /// Propagate this command as `argv` instead of its own argv (call
    /// several times for several commands). For effects that replaying the
    /// argv would not reproduce: relative times, randomness, float
    /// formatting, blocking. See `crate::propagate`.
    pub fn propagate_as(&mut self, argv: &[&[u8]]) {
        if self.ks.prop_enabled {
            self.ks
                .prop_rewrite
                .get_or_insert_with(Vec::new)
                .push(argv.iter().map(|a| a.to_vec()).collect());
        }
    }

    /// Propagate nothing for this command even though it wrote.
    pub fn propagate_none(&mut self) {
        if self.ks.prop_enabled {
            self.ks.prop_rewrite.get_or_insert_with(Vec::new);
        }
    }

    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        if self.cfg.notify_flags != 0 {
            crate::cmd::pubsub::notify_keyspace_event(self, class, event, key, self.db);
        }
    }

    /// `notify` for a key in another database (MOVE's "move_to", COPY ... DB).
    pub fn notify_in(&mut self, db: usize, class: u32, event: &str, key: &[u8]) {
        if self.cfg.notify_flags != 0 {
            crate::cmd::pubsub::notify_keyspace_event(self, class, event, key, db);
        }
    }

    /// Block the calling client on `keys` (Redis's `blockForKeys`): no reply
    /// is written now. When one of the keys is signalled ready (see
    /// `signal_ready`; list/zset creation signals automatically) the command
    /// `argv` is executed again for this client, in the order clients blocked;
    /// if it still finds nothing it stays blocked. `timeout_at_ms` is an
    /// absolute time on the injected clock, 0 = forever; on timeout the client
    /// gets a null array (RESP2 `*-1`, RESP3 `_`). Pass `argv` rewritten where
    /// re-execution must not re-resolve an argument (XREAD's `$` -> last ID).
    /// Inside MULTI/EXEC the caller must not block (reply as if timed out).
    pub fn block_on(&mut self, keys: &[&[u8]], timeout_at_ms: i64, argv: &[&[u8]]) {
        crate::blocking::block_on(self, keys, timeout_at_ms, argv);
    }

    /// Wake clients blocked on `key` once the current command (or EXEC) ends:
    /// XADD calls this; new lists/zsets signal themselves.
    pub fn signal_ready(&mut self, key: &[u8]) {
        self.ks.signal_ready(self.db, key);
    }

    /// True when the caller may block (not inside MULTI/EXEC).
    pub fn may_block(&self) -> bool {
        !self.in_exec
    }
}

/// Parse a blocking timeout in seconds (BLPOP & co: a float) into an absolute
/// deadline on the engine clock, 0 = forever. Redis's texts.
pub fn parse_timeout_secs(ctx: &Ctx, arg: &[u8]) -> Result<i64, CmdError> {
    let err = || CmdError::msg("ERR timeout is not a float or out of range");
    let secs = crate::float::parse_f64(arg).ok_or_else(err)?;
    if secs.is_nan() {
        return Err(err());
    }
    // Redis truncates to ms first: -0.0001 s is 0 (forever), not negative.
    // Out-of-range values (inf, 1e30) convert to LLONG_MIN on x86 as in C,
    // hence "timeout is negative" (Rust's `as` would saturate instead).
    let scaled = secs * 1000.0;
    let ms = if scaled.is_finite() && scaled.abs() < 9.2e18 {
        scaled as i64
    } else {
        i64::MIN
    };
    deadline(ctx, ms)
}

fn deadline(ctx: &Ctx, ms: i64) -> Result<i64, CmdError> {
    if ms < 0 {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    if ms == 0 {
        return Ok(0);
    }
    ms.checked_add(ctx.now_ms())
        .ok_or_else(|| CmdError::msg("ERR timeout is out of range"))
}

/// Parse a blocking timeout in milliseconds (XREAD BLOCK): integer, absolute
/// deadline, 0 = forever.
pub fn parse_timeout_ms(ctx: &Ctx, arg: &[u8]) -> Result<i64, CmdError> {
    let err = || CmdError::msg("ERR timeout is not an integer or out of range");
    let ms = crate::util::parse_i64(arg).ok_or_else(err)?;
    deadline(ctx, ms)
}

pub struct Cmd {
    /// Full name as Redis prints it in errors ("get", "client|kill").
    pub fullname: String,
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub handler: Option<Handler>,
    pub spec: Option<&'static Spec>,
    pub info: &'static [u8],
    pub subs: HashMap<Vec<u8>, usize>,
    pub is_container: bool,
    /// Index into the stats arrays.
    pub id: usize,
    /// Redis 7 key specifications, read from `info` (see keyspec.rs).
    pub key_specs: Vec<keyspec::KeySpec>,
}

pub struct CommandTable {
    pub cmds: Vec<Cmd>,
    top: HashMap<Vec<u8>, usize>,
    /// Top-level command indices in spec order (COMMAND, COMMAND LIST).
    pub toplevel: Vec<usize>,
}

/// Handler bindings: "name" or "container|sub".
const BINDINGS: &[(&str, Handler)] = &[
    ("get", string::get),
    ("replicaof", crate::repl::replicaof),
    ("slaveof", crate::repl::replicaof),
    ("replconf", crate::repl::replconf),
    ("psync", crate::repl::psync),
    ("sync", crate::repl::sync),
    ("wait", crate::repl::wait),
    ("role", crate::repl::role),
    ("failover", crate::repl::failover),
    ("set", string::set),
    ("setnx", string::setnx),
    ("setex", string::setex),
    ("psetex", string::psetex),
    ("getset", string::getset),
    ("getdel", string::getdel),
    ("getex", string::getex),
    ("mget", string::mget),
    ("mset", string::mset),
    ("msetnx", string::msetnx),
    ("append", string::append),
    ("strlen", string::strlen),
    ("getrange", string::getrange),
    ("substr", string::getrange),
    ("setrange", string::setrange),
    ("incr", string::incr),
    ("decr", string::decr),
    ("incrby", string::incrby),
    ("decrby", string::decrby),
    ("incrbyfloat", string::incrbyfloat),
    ("lcs", string::lcs),
    ("setbit", bitmap::setbit),
    ("getbit", bitmap::getbit),
    ("bitcount", bitmap::bitcount),
    ("bitpos", bitmap::bitpos),
    ("bitop", bitmap::bitop),
    ("bitfield", bitmap::bitfield),
    ("bitfield_ro", bitmap::bitfield_ro),
    ("hset", hash::hset),
    ("hsetnx", hash::hsetnx),
    ("hget", hash::hget),
    ("hmget", hash::hmget),
    ("hmset", hash::hmset),
    ("hgetall", hash::hgetall),
    ("hkeys", hash::hkeys),
    ("hvals", hash::hvals),
    ("hlen", hash::hlen),
    ("hexists", hash::hexists),
    ("hdel", hash::hdel),
    ("hstrlen", hash::hstrlen),
    ("hincrby", hash::hincrby),
    ("hincrbyfloat", hash::hincrbyfloat),
    ("hrandfield", hash::hrandfield),
    ("hscan", hash::hscan),
    ("sadd", set::sadd),
    ("srem", set::srem),
    ("scard", set::scard),
    ("sismember", set::sismember),
    ("smismember", set::smismember),
    ("smembers", set::smembers),
    ("spop", set::spop),
    ("srandmember", set::srandmember),
    ("smove", set::smove),
    ("sinter", set::sinter),
    ("sintercard", set::sintercard),
    ("sinterstore", set::sinterstore),
    ("sunion", set::sunion),
    ("sunionstore", set::sunionstore),
    ("sdiff", set::sdiff),
    ("sdiffstore", set::sdiffstore),
    ("sscan", set::sscan),
    ("lpush", list::lpush),
    ("rpush", list::rpush),
    ("lpushx", list::lpushx),
    ("rpushx", list::rpushx),
    ("lpop", list::lpop),
    ("rpop", list::rpop),
    ("lrange", list::lrange),
    ("lindex", list::lindex),
    ("lset", list::lset),
    ("linsert", list::linsert),
    ("llen", list::llen),
    ("lpos", list::lpos),
    ("lrem", list::lrem),
    ("ltrim", list::ltrim),
    ("lmove", list::lmove),
    ("rpoplpush", list::rpoplpush),
    ("lmpop", list::lmpop),
    ("zadd", zset::zadd),
    ("zincrby", zset::zincrby),
    ("zrem", zset::zrem),
    ("zcard", zset::zcard),
    ("zscore", zset::zscore),
    ("zmscore", zset::zmscore),
    ("zrank", zset::zrank),
    ("zrevrank", zset::zrevrank),
    ("zcount", zset::zcount),
    ("zlexcount", zset::zlexcount),
    ("zrange", zset::zrange),
    ("zrangestore", zset::zrangestore),
    ("zrangebyscore", zset::zrangebyscore),
    ("zrevrangebyscore", zset::zrevrangebyscore),
    ("zrangebylex", zset::zrangebylex),
    ("zrevrangebylex", zset::zrevrangebylex),
    ("zrevrange", zset::zrevrange),
    ("zremrangebyrank", zset::zremrangebyrank),
    ("zremrangebyscore", zset::zremrangebyscore),
    ("zremrangebylex", zset::zremrangebylex),
    ("zunion", zset::zunion),
    ("zinter", zset::zinter),
    ("zdiff", zset::zdiff),
    ("zunionstore", zset::zunionstore),
    ("zinterstore", zset::zinterstore),
    ("zdiffstore", zset::zdiffstore),
    ("zintercard", zset::zintercard),
    ("zpopmin", zset::zpopmin),
    ("zpopmax", zset::zpopmax),
    ("zmpop", zset::zmpop),
    ("zrandmember", zset::zrandmember),
    ("zscan", zset::zscan),
    ("del", keys::del),
    ("unlink", keys::del),
    ("exists", keys::exists),
    ("type", keys::type_),
    ("keys", keys::keys),
    ("scan", keys::scan),
    ("randomkey", keys::randomkey),
    ("rename", keys::rename),
    ("renamenx", keys::renamenx),
    ("move", keys::move_),
    ("copy", keys::copy),
    ("dump", dump::dump),
    ("restore", dump::restore),
    ("swapdb", keys::swapdb),
    ("flushdb", keys::flushdb),
    ("flushall", keys::flushall),
    ("dbsize", keys::dbsize),
    ("touch", keys::touch),
    ("expire", keys::expire),
    ("pexpire", keys::pexpire),
    ("expireat", keys::expireat),
    ("pexpireat", keys::pexpireat),
    ("ttl", keys::ttl),
    ("pttl", keys::pttl),
    ("expiretime", keys::expiretime),
    ("pexpiretime", keys::pexpiretime),
    ("persist", keys::persist),
    ("object|encoding", keys::object_encoding),
    ("object|freq", keys::object_freq),
    ("object|idletime", keys::object_idletime),
    ("save", persist::save),
    ("bgsave", persist::bgsave),
    ("lastsave", persist::lastsave),
    ("bgrewriteaof", persist::bgrewriteaof),
    ("object|refcount", keys::object_refcount),
    ("object|help", keys::object_help),
    ("ping", conn::ping),
    ("echo", conn::echo),
    ("hello", conn::hello),
    ("auth", conn::auth),
    ("select", conn::select),
    ("quit", conn::quit),
    ("reset", conn::reset),
    ("client|id", conn::client_id),
    ("client|setname", conn::client_setname),
    ("client|getname", conn::client_getname),
    ("client|list", conn::client_list),
    ("client|info", conn::client_info),
    ("client|kill", conn::client_kill),
    ("client|no-evict", conn::client_no_evict),
    ("client|reply", conn::client_reply),
    ("client|help", conn::client_help),
    ("multi", conn::multi),
    ("exec", conn::exec),
    ("discard", conn::discard),
    ("watch", conn::watch),
    ("unwatch", conn::unwatch),
    ("info", server_cmds::info),
    ("config|get", server_cmds::config_get),
    ("config|set", server_cmds::config_set),
    ("config|resetstat", server_cmds::config_resetstat),
    ("config|rewrite", server_cmds::config_rewrite),
    ("config|help", server_cmds::config_help),
    ("time", server_cmds::time),
    ("shutdown", server_cmds::shutdown),
    ("debug", server_cmds::debug),
    ("command|count", server_cmds::command_count),
    ("command|info", server_cmds::command_info),
    ("command|docs", server_cmds::command_docs),
    ("command|list", server_cmds::command_list),
    ("command|getkeys", server_cmds::command_getkeys),
    ("command|help", server_cmds::command_help),
    // MEMORY (cmd/memory.rs)
    ("memory|usage", memory::memory_usage),
    ("memory|stats", memory::memory_stats),
    ("memory|doctor", memory::memory_doctor),
    ("memory|malloc-stats", memory::memory_malloc_stats),
    ("memory|purge", memory::memory_purge),
    ("memory|help", memory::memory_help),
    ("blpop", list::blpop),
    ("brpop", list::brpop),
    ("blmove", list::blmove),
    ("brpoplpush", list::brpoplpush),
    ("blmpop", list::blmpop),
    ("bzpopmin", zset::bzpopmin),
    ("bzpopmax", zset::bzpopmax),
    ("bzmpop", zset::bzmpop),
    ("client|unblock", conn::client_unblock),
    ("subscribe", pubsub::subscribe),
    ("unsubscribe", pubsub::unsubscribe),
    ("psubscribe", pubsub::psubscribe),
    ("punsubscribe", pubsub::punsubscribe),
    ("ssubscribe", pubsub::ssubscribe),
    ("sunsubscribe", pubsub::sunsubscribe),
    ("publish", pubsub::publish),
    ("spublish", pubsub::spublish),
    ("pubsub|channels", pubsub::pubsub_channels),
    ("pubsub|numsub", pubsub::pubsub_numsub),
    ("pubsub|numpat", pubsub::pubsub_numpat),
    ("pubsub|shardchannels", pubsub::pubsub_shardchannels),
    ("pubsub|shardnumsub", pubsub::pubsub_shardnumsub),
    ("pubsub|help", pubsub::pubsub_help),
    // HyperLogLog (cmd/hll.rs)
    ("pfadd", hll::pfadd),
    ("pfcount", hll::pfcount),
    ("pfmerge", hll::pfmerge),
    ("pfdebug", hll::pfdebug),
    ("pfselftest", hll::pfselftest),
    // Geo (cmd/geo.rs)
    ("geoadd", geo::geoadd),
    ("geodist", geo::geodist),
    ("geohash", geo::geohash),
    ("geopos", geo::geopos),
    ("georadius", geo::georadius),
    ("georadius_ro", geo::georadius_ro),
    ("georadiusbymember", geo::georadiusbymember),
    ("georadiusbymember_ro", geo::georadiusbymember_ro),
    ("geosearch", geo::geosearch),
    ("geosearchstore", geo::geosearchstore),
    // Streams (cmd/stream.rs)
    ("xadd", stream::xadd),
    ("xrange", stream::xrange),
    ("xrevrange", stream::xrevrange),
    ("xlen", stream::xlen),
    ("xdel", stream::xdel),
    ("xtrim", stream::xtrim),
    ("xread", stream::xread),
    ("xreadgroup", stream::xreadgroup),
    ("xack", stream::xack),
    ("xpending", stream::xpending),
    ("xclaim", stream::xclaim),
    ("xautoclaim", stream::xautoclaim),
    ("xsetid", stream::xsetid),
    ("xgroup|create", stream::xgroup_create),
    ("xgroup|setid", stream::xgroup_setid),
    ("xgroup|destroy", stream::xgroup_destroy),
    ("xgroup|createconsumer", stream::xgroup_createconsumer),
    ("xgroup|delconsumer", stream::xgroup_delconsumer),
    ("xgroup|help", stream::xgroup_help),
    ("xinfo|stream", stream::xinfo_stream),
    ("xinfo|groups", stream::xinfo_groups),
    ("xinfo|consumers", stream::xinfo_consumers),
    ("xinfo|help", stream::xinfo_help),
    // SORT (cmd/sort.rs)
    ("sort", sort::sort),
    ("sort_ro", sort::sort_ro),
];

/// CLIENT SETINFO is Redis 7.2 (our reference server is 7.0), so its spec is
/// written by hand rather than generated.
const CLIENT_SETINFO_INFO: &[u8] = b"*10\r\n$14\r\nclient|setinfo\r\n:4\r\n~4\r\n+noscript\r\n+loading\r\n+stale\r\n+allow_busy\r\n:0\r\n:0\r\n:0\r\n~2\r\n+@slow\r\n+@connection\r\n~2\r\n+request_policy:all_nodes\r\n+response_policy:all_succeeded\r\n~0\r\n~0\r\n";

impl CommandTable {
    /// The table, built on first use and shared: parsing the generated
    /// specs is the costliest part of creating a server (the simulator
    /// creates one per restart and per oracle replay).
    pub fn shared() -> std::sync::Arc<CommandTable> {
        static TABLE: std::sync::OnceLock<std::sync::Arc<CommandTable>> =
            std::sync::OnceLock::new();
        TABLE
            .get_or_init(|| std::sync::Arc::new(CommandTable::new()))
            .clone()
    }

    pub fn new() -> CommandTable {
        let bind: StdHashMap<&str, Handler> = BINDINGS.iter().copied().collect();
        let mut t = CommandTable {
            cmds: Vec::new(),
            top: HashMap::default(),
            toplevel: Vec::new(),
        };
        for s in spec_gen::SPECS {
            let id = t.cmds.len();
            let is_container = !s.subs.is_empty();
            t.cmds.push(Cmd {
                fullname: s.name.to_string(),
                arity: s.arity,
                flags: flag_bits(s.flags),
                first_key: s.first_key,
                last_key: s.last_key,
                key_step: s.key_step,
                handler: bind.get(s.name).copied(),
                spec: Some(s),
                info: s.info,
                subs: HashMap::default(),
                is_container,
                id,
                key_specs: keyspec::parse_specs(s.info),
            });
            assert!(
                is_container || bind.contains_key(s.name),
                "no handler for {}",
                s.name
            );
            t.top.insert(s.name.as_bytes().to_vec(), id);
            t.toplevel.push(id);
            for sub in s.subs {
                let full = format!("{}|{}", s.name, sub.name);
                let sid = t.cmds.len();
                let handler = bind.get(full.as_str()).copied();
                assert!(handler.is_some(), "no handler for {full}");
                t.cmds.push(Cmd {
                    fullname: full,
                    arity: sub.arity,
                    flags: flag_bits(sub.flags),
                    first_key: sub.first_key,
                    last_key: sub.last_key,
                    key_step: sub.key_step,
                    handler,
                    spec: None,
                    info: sub.info,
                    subs: HashMap::default(),
                    is_container: false,
                    id: sid,
                    key_specs: keyspec::parse_specs(sub.info),
                });
                t.cmds[id].subs.insert(sub.name.as_bytes().to_vec(), sid);
            }
        }
        if let Some(&client) = t.top.get(b"client".as_slice()) {
            let sid = t.cmds.len();
            t.cmds.push(Cmd {
                fullname: "client|setinfo".into(),
                arity: 4,
                flags: flag_bits(&["noscript", "loading", "stale"]),
                first_key: 0,
                last_key: 0,
                key_step: 0,
                handler: Some(conn::client_setinfo),
                spec: None,
                info: CLIENT_SETINFO_INFO,
                subs: HashMap::default(),
                is_container: false,
                id: sid,
                key_specs: Vec::new(),
            });
            t.cmds[client].subs.insert(b"setinfo".to_vec(), sid);
        }
        t
    }

    /// Case-insensitive lookup of a top-level command.
    #[inline]
    pub fn lookup_top(&self, name: &[u8]) -> Option<usize> {
        let mut buf = [0u8; 32];
        let lower = crate::util::lower_into(name, &mut buf)?;
        self.top.get(lower).copied()
    }

    pub fn lookup_sub(&self, container: usize, name: &[u8]) -> Option<usize> {
        let mut buf = [0u8; 64];
        let lower = crate::util::lower_into(name, &mut buf)?;
        self.cmds[container].subs.get(lower).copied()
    }

    /// Resolve "name" or "container|sub" (COMMAND INFO/DOCS/GETKEYS args).
    pub fn lookup_full(&self, argv: &[&[u8]]) -> Option<usize> {
        let top = self.lookup_top(argv.first()?)?;
        if self.cmds[top].is_container && argv.len() >= 2 {
            return self.lookup_sub(top, argv[1]);
        }
        Some(top)
    }

    /// Key positions of `argv` for `cmd` (first/last/step), like Redis's
    /// legacy key extraction. None when the arguments cannot hold the keys.
    pub fn key_positions(&self, cmd: usize, argc: usize) -> Option<Vec<usize>> {
        let c = &self.cmds[cmd];
        if c.first_key <= 0 {
            return Some(Vec::new());
        }
        let first = c.first_key as usize;
        let last = if c.last_key < 0 {
            argc as i64 + i64::from(c.last_key)
        } else {
            i64::from(c.last_key)
        };
        if last < first as i64 || last as usize >= argc {
            return if argc > first {
                Some(vec![first])
            } else {
                None
            };
        }
        let step = c.key_step.max(1) as usize;
        Some((first..=last as usize).step_by(step).collect())
    }
}

impl Default for CommandTable {
    fn default() -> Self {
        Self::new()
    }
}

/// Parse an integer argument (Redis's `getLongLongFromObjectOrReply`).
pub fn arg_i64(a: &[u8]) -> Result<i64, CmdError> {
    crate::util::parse_i64(a).ok_or(CmdError::NotInteger)
}

/// SCAN-family options after the cursor: COUNT (>= 1, default 10), MATCH
/// ("*" means no filter) and, for SCAN only, TYPE. Redis's parse order/texts.
pub struct ScanOpts<'a> {
    pub count: i64,
    pub pat: Option<&'a [u8]>,
    pub typ: Option<&'a [u8]>,
}

pub fn parse_scan_opts<'a>(
    argv: &[&'a [u8]],
    from: usize,
    allow_type: bool,
) -> Result<ScanOpts<'a>, CmdError> {
    let mut o = ScanOpts {
        count: 10,
        pat: None,
        typ: None,
    };
    let mut j = from;
    while j < argv.len() {
        let left = argv.len() - j;
        let opt = argv[j];
        if crate::util::eq_ic(opt, "count") && left >= 2 {
            o.count = arg_i64(argv[j + 1])?;
            if o.count < 1 {
                return Err(CmdError::Syntax);
            }
        } else if crate::util::eq_ic(opt, "match") && left >= 2 {
            o.pat = if argv[j + 1] == b"*" {
                None
            } else {
                Some(argv[j + 1])
            };
        } else if allow_type && crate::util::eq_ic(opt, "type") && left >= 2 {
            o.typ = Some(argv[j + 1]);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    Ok(o)
}

/// lookupKeyRead/lookupKeyWrite + checkType: None when missing, WRONGTYPE
/// when `is` rejects the value. The per-type files call this.
pub fn lookup_typed(
    ctx: &mut Ctx,
    key: &[u8],
    write: bool,
    is: fn(&crate::db::Value) -> bool,
) -> Result<Option<u32>, CmdError> {
    let found = if write {
        ctx.ks.lookup_write(ctx.db, key)
    } else {
        ctx.ks.lookup_read(ctx.db, key)
    };
    match found {
        Some(i) if !is(&ctx.ks.entry(ctx.db, i).val) => Err(CmdError::WrongType),
        found => Ok(found),
    }
}

/// Store a reply for a string-valued entry (callers check the type first).
pub fn reply_value(out: &mut Reply, v: &crate::db::Value) {
    match v {
        crate::db::Value::Int(n) => out.bulk_i64(*n),
        v => match v.str_data() {
            Some(data) => out.bulk(data),
            None => out.null(),
        },
    }
}

/// Run one queued command inside EXEC: same table, same stats as `Server::call`.
pub fn call_in_ctx(ctx: &mut Ctx, argv: &[&[u8]]) {
    let Some(top) = ctx.table.lookup_top(argv[0]) else {
        return;
    };
    let cmd = if ctx.table.cmds[top].is_container {
        match argv.get(1).and_then(|a| ctx.table.lookup_sub(top, a)) {
            Some(s) => s,
            None => return,
        }
    } else {
        top
    };
    let Some(handler) = ctx.table.cmds[cmd].handler else {
        return;
    };
    let mark = crate::propagate::Mark::new(ctx.ks);
    let r = handler(ctx, argv);
    mark.finish(ctx.ks, &ctx.table.cmds[cmd], argv, ctx.db);
    ctx.stats.total_commands += 1;
    ctx.stats.cmds[cmd].calls += 1;
    if let Err(e) = r {
        let text = e.text();
        ctx.out.error(&text);
        ctx.stats.total_error_replies += 1;
        *ctx.stats
            .errors
            .entry(crate::error::error_code(&text).to_string())
            .or_insert(0) += 1;
        ctx.stats.cmds[cmd].failed += 1;
    }
}
