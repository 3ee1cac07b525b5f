//! Server commands: INFO, CONFIG, TIME, SHUTDOWN, DEBUG, COMMAND. INFO field
//! names and section layout match Redis 7 because monitoring tools parse them.

use std::fmt::Write;

use super::{conn::help, memory::MemFigures, Ctx};
use crate::config::DebugCmd;
use crate::db::Keyspace;
use crate::error::{CmdError, CmdResult};
use crate::util::{eq_ic, glob_match};

/// `used_memory`: the counting allocator when the shell provides it, else
/// (simulator, unit tests) an estimate built from the same figures MEMORY
/// USAGE and MEMORY STATS use: a fixed base for the server itself, each
/// table's overhead (which holds the entry slots) and every key's and
/// value's heap bytes. Walks every key: INFO/MEMORY only.
pub fn used_memory(env: &crate::server::ServerEnv, ks: &Keyspace) -> u64 {
    if let Some(f) = env.mem_used {
        return f();
    }
    const BASE: u64 = 900 * 1024;
    let mut total = BASE;
    for db in &ks.dbs {
        total += db.table.overhead_bytes() as u64;
        for e in db.table.iter() {
            total += e.key.len() as u64 + e.val.heap_bytes() as u64;
        }
    }
    total
}

/// Redis's `bytesToHuman`.
fn human(bytes: u64) -> String {
    const UNITS: [(f64, &str); 5] = [
        (1024.0, "K"),
        (1024.0 * 1024.0, "M"),
        (1024.0 * 1024.0 * 1024.0, "G"),
        (1024.0 * 1024.0 * 1024.0 * 1024.0, "T"),
        (1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0, "P"),
    ];
    let b = bytes as f64;
    if b < 1024.0 {
        return format!("{bytes}B");
    }
    for (unit, name) in UNITS {
        if b < unit * 1024.0 {
            return format!("{:.2}{name}", b / unit);
        }
    }
    format!("{bytes}B")
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

pub fn info_text(ctx: &Ctx, args: &[&[u8]]) -> String {
    let mut want: Vec<String> = Vec::new();
    let mut all = false;
    for a in args {
        let s = String::from_utf8_lossy(a).to_ascii_lowercase();
        match s.as_str() {
            "default" => want.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string())),
            "all" | "everything" => all = true,
            _ => want.push(s),
        }
    }
    if args.is_empty() {
        want.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    let order = [
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "modules",
        "errorstats",
        "cluster",
        "keyspace",
        "commandstats",
    ];
    let mut out = String::new();
    let mut n = 0;
    for sec in order {
        if !(all || want.iter().any(|w| w == sec)) {
            continue;
        }
        if n > 0 {
            out.push_str("\r\n");
        }
        n += 1;
        section(ctx, sec, &mut out);
    }
    out
}

fn section(ctx: &Ctx, sec: &str, o: &mut String) {
    let now = ctx.ks.now_ms;
    let env = ctx.env;
    let st = &*ctx.stats;
    macro_rules! f {
        ($($arg:tt)*) => {{ let _ = write!(o, $($arg)*); o.push_str("\r\n"); }};
    }
    match sec {
        "server" => {
            let up = ((now - env.start_ms).max(0)) / 1000;
            f!("# Server");
            f!("redis_version:{}", env.version);
            f!("redis_git_sha1:00000000");
            f!("redis_git_dirty:0");
            f!("redis_build_id:0");
            f!("redis_mode:standalone");
            f!("os:{}", env.os);
            f!("arch_bits:{}", env.arch_bits);
            f!("monotonic_clock:injected");
            f!("multiplexing_api:tokio");
            f!("atomicvar_api:none");
            f!("gcc_version:0.0.0");
            f!("process_id:{}", env.pid);
            f!("process_supervised:no");
            f!("run_id:{}", env.run_id);
            f!("tcp_port:{}", env.tcp_port);
            f!("server_time_usec:{}", now * 1000);
            f!("uptime_in_seconds:{up}");
            f!("uptime_in_days:{}", up / 86400);
            f!("hz:{}", ctx.cfg.hz);
            f!("configured_hz:{}", ctx.cfg.hz);
            f!("lru_clock:{}", ctx.ks.lru_clock());
            f!("executable:{}", env.executable);
            f!("config_file:{}", env.config_file);
            f!("io_threads_active:0");
            f!("redsim_version:{}", env!("CARGO_PKG_VERSION"));
        }
        "clients" => {
            f!("# Clients");
            f!("connected_clients:{}", ctx.clients.count);
            f!("cluster_connections:0");
            f!("maxclients:{}", ctx.cfg.maxclients);
            f!("client_recent_max_input_buffer:0");
            f!("client_recent_max_output_buffer:0");
            f!("blocked_clients:{}", ctx.clients.blocked);
            f!("tracking_clients:0");
            f!("clients_in_timeout_table:{}", ctx.clients.timeouts.len());
        }
        "memory" => {
            // Redis 7.0.15's fields in its order. Scripting figures are 0:
            // redsim has no Lua VM or function engine.
            let m = MemFigures::compute(ctx.env, ctx.ks, st, ctx.clients);
            let max = ctx.cfg.maxmemory;
            let sysmem = env.total_system_memory;
            f!("# Memory");
            f!("used_memory:{}", m.used);
            f!("used_memory_human:{}", human(m.used));
            f!("used_memory_rss:{}", m.rss);
            f!("used_memory_rss_human:{}", human(m.rss));
            f!("used_memory_peak:{}", m.peak);
            f!("used_memory_peak_human:{}", human(m.peak));
            f!("used_memory_peak_perc:{:.2}%", m.peak_perc());
            f!("used_memory_overhead:{}", m.overhead);
            f!("used_memory_startup:{}", m.startup);
            f!("used_memory_dataset:{}", m.dataset);
            f!("used_memory_dataset_perc:{:.2}%", m.dataset_perc());
            f!("allocator_allocated:{}", m.allocator_allocated);
            f!("allocator_active:{}", m.allocator_active);
            f!("allocator_resident:{}", m.allocator_resident);
            f!("total_system_memory:{sysmem}");
            f!("total_system_memory_human:{}", human(sysmem));
            f!("used_memory_lua:0");
            f!("used_memory_vm_eval:0");
            f!("used_memory_lua_human:0B");
            f!("used_memory_scripts_eval:0");
            f!("number_of_cached_scripts:0");
            f!("number_of_functions:0");
            f!("number_of_libraries:0");
            f!("used_memory_vm_functions:0");
            f!("used_memory_vm_total:0");
            f!("used_memory_vm_total_human:0B");
            f!("used_memory_functions:0");
            f!("used_memory_scripts:0");
            f!("used_memory_scripts_human:0B");
            f!("maxmemory:{max}");
            f!("maxmemory_human:{}", human(max));
            f!("maxmemory_policy:{}", ctx.cfg.maxmemory_policy);
            let (r, b) = m.allocator_frag();
            f!("allocator_frag_ratio:{r:.2}");
            f!("allocator_frag_bytes:{b}");
            let (r, b) = m.allocator_rss();
            f!("allocator_rss_ratio:{r:.2}");
            f!("allocator_rss_bytes:{b}");
            let (r, b) = m.rss_overhead();
            f!("rss_overhead_ratio:{r:.2}");
            f!("rss_overhead_bytes:{b}");
            let (r, b) = m.total_frag();
            f!("mem_fragmentation_ratio:{r:.2}");
            f!("mem_fragmentation_bytes:{b}");
            f!("mem_not_counted_for_evict:0");
            f!("mem_replication_backlog:0");
            f!("mem_total_replication_buffers:0");
            f!("mem_clients_slaves:0");
            f!("mem_clients_normal:{}", m.clients_normal);
            f!("mem_cluster_links:0");
            f!("mem_aof_buffer:0");
            f!("mem_allocator:libc");
            f!("active_defrag_running:0");
            f!("lazyfree_pending_objects:0");
            f!("lazyfreed_objects:0");
        }
        "persistence" => super::persist::info_section(ctx, o),
        "stats" => {
            let ops: u64 = st.ops_samples.iter().sum::<u64>() / 16;
            let ks = &ctx.ks.stats;
            f!("# Stats");
            f!("total_connections_received:{}", st.total_connections);
            f!("total_commands_processed:{}", st.total_commands);
            f!("instantaneous_ops_per_sec:{ops}");
            f!("total_net_input_bytes:{}", st.net_input_bytes);
            f!("total_net_output_bytes:{}", st.net_output_bytes);
            f!("total_net_repl_input_bytes:0");
            f!("total_net_repl_output_bytes:0");
            f!("instantaneous_input_kbps:0.00");
            f!("instantaneous_output_kbps:0.00");
            f!("instantaneous_input_repl_kbps:0.00");
            f!("instantaneous_output_repl_kbps:0.00");
            f!("rejected_connections:{}", st.rejected_connections);
            f!("sync_full:{}", ctx.repl.sync_full);
            f!("sync_partial_ok:{}", ctx.repl.sync_partial_ok);
            f!("sync_partial_err:{}", ctx.repl.sync_partial_err);
            f!("expired_keys:{}", ks.expired);
            f!("expired_stale_perc:{:.2}", ks.expired_stale_perc * 100.0);
            f!(
                "expired_time_cap_reached_count:{}",
                ks.expired_time_cap_reached
            );
            f!("expire_cycle_cpu_milliseconds:0");
            f!("evicted_keys:{}", ks.evicted);
            f!("evicted_clients:0");
            f!("total_eviction_exceeded_time:0");
            f!("current_eviction_exceeded_time:0");
            f!("keyspace_hits:{}", ks.hits);
            f!("keyspace_misses:{}", ks.misses);
            f!("pubsub_channels:{}", ctx.clients.pubsub.channels.len());
            f!("pubsub_patterns:{}", ctx.clients.pubsub.patterns.len());
            f!("pubsubshard_channels:{}", ctx.clients.pubsub.shard.len());
            f!("latest_fork_usec:0");
            f!("total_forks:0");
            f!("migrate_cached_sockets:0");
            f!("slave_expires_tracked_keys:0");
            f!("active_defrag_hits:0");
            f!("active_defrag_misses:0");
            f!("active_defrag_key_hits:0");
            f!("active_defrag_key_misses:0");
            f!("total_active_defrag_time:0");
            f!("current_active_defrag_time:0");
            f!("tracking_total_keys:0");
            f!("tracking_total_items:0");
            f!("tracking_total_prefixes:0");
            f!("unexpected_error_replies:{}", st.unexpected_error_replies);
            f!("total_error_replies:{}", st.total_error_replies);
            f!("dump_payload_sanitizations:0");
            f!("total_reads_processed:{}", st.total_reads);
            f!("total_writes_processed:{}", st.total_writes);
            f!("io_threaded_reads_processed:0");
            f!("io_threaded_writes_processed:0");
            f!("reply_buffer_shrinks:0");
            f!("reply_buffer_expands:0");
        }
        "replication" => {
            f!("# Replication");
            crate::repl::info_fields(ctx, o);
        }
        "cpu" => {
            f!("# CPU");
            f!("used_cpu_sys:{:.6}", st.cpu_sys);
            f!("used_cpu_user:{:.6}", st.cpu_user);
            f!("used_cpu_sys_children:0.000000");
            f!("used_cpu_user_children:0.000000");
        }
        "modules" => {
            f!("# Modules");
        }
        "errorstats" => {
            f!("# Errorstats");
            for (code, n) in &st.errors {
                f!("errorstat_{code}:count={n}");
            }
        }
        "cluster" => {
            f!("# Cluster");
            f!("cluster_enabled:0");
        }
        "keyspace" => {
            f!("# Keyspace");
            for (i, db) in ctx.ks.dbs.iter().enumerate() {
                if db.table.len() > 0 {
                    f!(
                        "db{i}:keys={},expires={},avg_ttl={}",
                        db.table.len(),
                        db.table.volatile_len(),
                        db.avg_ttl_ms
                    );
                }
            }
        }
        "commandstats" => {
            f!("# Commandstats");
            for c in &ctx.table.cmds {
                let s = &st.cmds[c.id];
                if s.calls == 0 && s.rejected == 0 && s.failed == 0 {
                    continue;
                }
                let per = if s.calls > 0 {
                    s.usec as f64 / s.calls as f64
                } else {
                    0.0
                };
                f!(
                    "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}",
                    c.fullname, s.calls, s.usec, per, s.rejected, s.failed
                );
            }
        }
        _ => {}
    }
}

pub fn info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let text = info_text(ctx, &argv[1..]);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

pub fn config_get(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let pairs = ctx.cfg.matching(&argv[2..]);
    ctx.out.map(pairs.len());
    for (n, v) in pairs {
        ctx.out.bulk(&n);
        ctx.out.bulk(v.as_bytes());
    }
    Ok(())
}

pub fn config_set(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() % 2 != 0 {
        return Err(CmdError::Syntax);
    }
    let pairs: Vec<(String, String)> = argv[2..]
        .chunks(2)
        .map(|p| {
            (
                String::from_utf8_lossy(p[0]).into_owned(),
                String::from_utf8_lossy(p[1]).into_owned(),
            )
        })
        .collect();
    if let Err(e) = ctx.cfg.set_runtime(&pairs) {
        if e.reason.is_empty() {
            return Err(CmdError::msg(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                e.name
            )));
        }
        return Err(CmdError::msg(format!(
            "ERR CONFIG SET failed (possibly related to argument '{}') - {}",
            e.name, e.reason
        )));
    }
    crate::server::apply_config(ctx.ks, ctx.clients, ctx.cfg);
    // repl-backlog-size acts at once (Redis's resizeReplicationBacklog).
    if let Some(b) = ctx.repl.backlog.as_mut() {
        b.resize(ctx.cfg.repl_backlog_size);
    }
    // appendonly / appendfsync act at once, as in Redis.
    let want_aof = ctx.cfg.get("appendonly") == Some("yes");
    if want_aof && ctx.persist.aof.is_none() {
        if let Err(e) = crate::persist::open_aof(ctx.ks, ctx.persist, ctx.cfg, ctx.env, true) {
            ctx.effects.log.push((
                crate::server::LogLevel::Warning,
                format!("Redis needs to enable the AOF but can't trigger a background AOF rewrite operation: {e}"),
            ));
            let _ = ctx
                .cfg
                .set_runtime(&[("appendonly".to_string(), "no".to_string())]);
            return Err(CmdError::msg(
                "ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn on AOF. Check server logs.",
            ));
        }
    } else if !want_aof && ctx.persist.aof.is_some() {
        crate::persist::close_aof(ctx.ks, ctx.persist);
    }
    if let Some(w) = ctx.persist.aof.as_mut() {
        w.set_policy(crate::persist::fsync_policy(ctx.cfg));
    }
    ctx.out.ok();
    Ok(())
}

pub fn config_resetstat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let keep = (
        ctx.stats.rss_bytes,
        ctx.stats.cpu_sys,
        ctx.stats.cpu_user,
        ctx.stats.startup_memory,
    );
    let n = ctx.stats.cmds.len();
    *ctx.stats = crate::server::Stats::default();
    ctx.stats.cmds = vec![Default::default(); n];
    (
        ctx.stats.rss_bytes,
        ctx.stats.cpu_sys,
        ctx.stats.cpu_user,
        ctx.stats.startup_memory,
    ) = keep;
    ctx.stats.ops_last_ms = ctx.ks.now_ms;
    ctx.ks.stats = Default::default();
    ctx.out.ok();
    Ok(())
}

pub fn config_rewrite(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let Some(store) = ctx.config_store.as_mut() else {
        return Err(CmdError::msg(
            "ERR The server is running without a config file",
        ));
    };
    let orig = store.read().ok();
    let text = ctx.cfg.rewrite_text(orig.as_deref());
    match store.write(&text) {
        Ok(()) => {
            ctx.effects.log.push((
                crate::server::LogLevel::Notice,
                "CONFIG REWRITE executed with success.".into(),
            ));
            ctx.out.ok();
            Ok(())
        }
        Err(e) => Err(CmdError::msg(format!("ERR Rewriting config file: {e}"))),
    }
}

pub fn config_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

pub fn time(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now_ms();
    ctx.out.array(2);
    ctx.out.bulk_i64(now / 1000);
    ctx.out.bulk_i64((now % 1000) * 1000);
    Ok(())
}

pub fn shutdown(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    // Redis saves on shutdown when save points are configured, unless NOSAVE.
    let mut save = !ctx.cfg.save_params.is_empty();
    let mut abort = false;
    let mut force = false;
    for a in &argv[1..] {
        if eq_ic(a, "nosave") {
            save = false;
        } else if eq_ic(a, "save") {
            save = true;
        } else if eq_ic(a, "now") {
        } else if eq_ic(a, "force") {
            force = true;
        } else if eq_ic(a, "abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if abort {
        if argv.len() != 2 {
            return Err(CmdError::Syntax);
        }
        return Err(CmdError::msg("ERR No shutdown in progress."));
    }
    ctx.effects.log.push((
        crate::server::LogLevel::Warning,
        "User requested shutdown...".into(),
    ));
    if crate::persist::prepare_for_shutdown(
        ctx.ks,
        ctx.persist,
        ctx.cfg,
        ctx.env,
        ctx.effects,
        save,
    )
    .is_err()
        && !force
    {
        return Err(CmdError::msg("ERR Errors trying to SHUTDOWN. Check logs."));
    }
    ctx.effects.shutdown = true;
    Ok(())
}

/// Keys one DEBUG POPULATE may create (Redis is bounded by dictTryExpand).
const POPULATE_KEYS_MAX: i64 = 1 << 32;
/// Bytes of one DEBUG POPULATE value (Redis's proto-max-bulk-len default).
const POPULATE_VALUE_BYTES_MAX: i64 = 512 << 20;

/// DEBUG POPULATE count [prefix] [size]: keys `prefix:N` (default `key`)
/// holding `value:N`, cut or zero-padded to `size` bytes; existing keys are
/// skipped. Not a write command: nothing is propagated, `dirty` unchanged.
fn debug_populate(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let positive = |a: &[u8]| {
        crate::util::parse_i64(a)
            .filter(|n| *n >= 0)
            .ok_or_else(|| CmdError::msg("ERR value is out of range, must be positive"))
    };
    let keys = positive(argv[2])?;
    if keys > POPULATE_KEYS_MAX {
        return Err(CmdError::msg("ERR OOM in dictTryExpand"));
    }
    let size = match argv.get(4) {
        Some(a) => positive(a)?,
        None => 0,
    };
    if size > POPULATE_VALUE_BYTES_MAX {
        return Err(CmdError::msg("ERR value is out of range, must be positive"));
    }
    let prefix: &[u8] = argv.get(3).copied().unwrap_or(b"key");
    // Redis formats into a 128-byte buffer: longer names are cut.
    let prefix = &prefix[..prefix.len().min(100)];
    let db = ctx.db;
    ctx.ks.dbs[db].table.reserve(keys as usize);
    let mut key = Vec::with_capacity(prefix.len() + 21);
    for j in 0..keys {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(j.to_string().as_bytes());
        if ctx.ks.lookup(db, &key).is_some() {
            continue;
        }
        let text = format!("value:{j}");
        let val = if size == 0 {
            crate::db::Value::from_input(text.as_bytes())
        } else {
            let mut v = vec![0u8; size as usize];
            let n = text.len().min(v.len());
            v[..n].copy_from_slice(&text.as_bytes()[..n]);
            crate::db::Value::from_input(&v)
        };
        ctx.ks.add(db, &key, val);
    }
    ctx.out.ok();
    Ok(())
}

fn debug_allowed(ctx: &Ctx) -> bool {
    match ctx.cfg.enable_debug {
        DebugCmd::Yes => true,
        DebugCmd::No => false,
        DebugCmd::Local => {
            let a = &ctx.clients.get(ctx.h).addr;
            a.starts_with("127.") || a.starts_with("[::1]") || a.starts_with("::1")
        }
    }
}

pub fn debug(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if !debug_allowed(ctx) {
        return Err(CmdError::msg("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."));
    }
    let sub = argv[1];
    let argc = argv.len();
    if eq_ic(sub, "help") {
        help(
            ctx,
            "DEBUG",
            &[
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "ERROR <string>",
                "    Return a Redis protocol error with <string> as message. Useful for clients",
                "    unit tests to simulate Redis errors.",
                "LOG <message>",
                "    Write <message> to the server log.",
                "OBJECT <key>",
                "    Show low level info about `key` and associated value.",
                "PROTOCOL <type>",
                "    Reply with a test value of the specified type. <type> can be: string,",
                "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
                "    true, false.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
        return Ok(());
    }
    if eq_ic(sub, "sleep") && argc == 3 {
        let secs = crate::float::parse_f64(argv[2]).unwrap_or(0.0);
        ctx.effects.sleep_ms += (secs * 1000.0).max(0.0) as u64;
        ctx.out.ok();
    } else if eq_ic(sub, "reload") {
        let (mut save, mut flush, mut merge) = (true, true, false);
        for a in &argv[2..] {
            if eq_ic(a, "nosave") {
                save = false;
            } else if eq_ic(a, "noflush") {
                flush = false;
            } else if eq_ic(a, "merge") {
                merge = true;
            } else {
                return Err(CmdError::msg(
                    "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                ));
            }
        }
        if save && crate::persist::rdb_save(ctx.ks, ctx.persist, ctx.cfg, ctx.env).is_err() {
            return Err(CmdError::msg("ERR Error trying to save the DB"));
        }
        if let Err(e) = crate::persist::reload_rdb(ctx.ks, ctx.persist, ctx.cfg, flush, merge) {
            ctx.effects.log.push((crate::server::LogLevel::Warning, e));
            return Err(CmdError::msg(
                "ERR Error trying to load the RDB dump, check server logs.",
            ));
        }
        ctx.effects.log.push((
            crate::server::LogLevel::Notice,
            "DB reloaded by DEBUG RELOAD".into(),
        ));
        ctx.out.ok();
    } else if eq_ic(sub, "loadaof") {
        if ctx.persist.aof.is_none() {
            return Err(CmdError::msg("ERR AOF is disabled (appendonly no)"));
        }
        // Needs the whole server (a fake client replays the AOF): the
        // server runs it right after this handler and writes the reply.
        ctx.persist.pending_loadaof = true;
    } else if eq_ic(sub, "populate") && (3..=5).contains(&argc) {
        debug_populate(ctx, argv)?;
    } else if eq_ic(sub, "set-active-expire") && argc == 3 {
        ctx.ks.active_expire_enabled = argv[2] != b"0";
        ctx.out.ok();
    } else if eq_ic(sub, "log") && argc == 3 {
        ctx.effects.log.push((
            crate::server::LogLevel::Warning,
            format!("DEBUG LOG: {}", String::from_utf8_lossy(argv[2])),
        ));
        ctx.out.ok();
    } else if eq_ic(sub, "error") && argc == 3 {
        return Err(CmdError::msg(String::from_utf8_lossy(argv[2]).into_owned()));
    } else if eq_ic(sub, "object") && argc == 3 {
        let Some(i) = ctx.ks.lookup(ctx.db, argv[2]) else {
            return Err(CmdError::NoSuchKey);
        };
        let e = ctx.ks.entry(ctx.db, i);
        let len = match &e.val {
            crate::db::Value::Int(_) => 5,
            v => match v.str_data() {
                Some(data) => data.len() + 1,
                None => v.heap_bytes(),
            },
        };
        let s = format!(
            "Value at:{:#x} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
            0x7f00_0000_0000u64 + u64::from(i) * 64,
            e.val.encoding(),
            len,
            e.lru,
            ctx.ks.idle_ms(e.lru) / 1000
        );
        ctx.out.simple(&s);
    } else if eq_ic(sub, "protocol") && argc == 3 {
        debug_protocol(ctx, argv[2])?;
    } else if eq_ic(sub, "digest") && argc == 2 {
        let d = crate::digest::dataset_digest(ctx.ks);
        ctx.out.simple(&crate::digest::hex(&d));
    } else if eq_ic(sub, "digest-value") && argc >= 2 {
        ctx.out.array(argc - 2);
        for k in &argv[2..] {
            let mut d = [0u8; 20];
            if let Some(i) = ctx.ks.lookup(ctx.db, k) {
                crate::digest::object_digest(
                    &mut d,
                    &ctx.ks.entry(ctx.db, i).val,
                    ctx.ks.expire_of(ctx.db, i),
                );
            }
            ctx.out.simple(&crate::digest::hex(&d));
        }
    } else {
        let sub = crate::server::cstr(sub);
        return Err(CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&sub[..sub.len().min(128)])
        )));
    }
    Ok(())
}

fn debug_protocol(ctx: &mut Ctx, name: &[u8]) -> CmdResult {
    let o = &mut *ctx.out;
    if eq_ic(name, "string") {
        o.bulk(b"Hello World");
    } else if eq_ic(name, "integer") {
        o.int(12345);
    } else if eq_ic(name, "double") {
        #[allow(clippy::approx_constant)] // Redis sends exactly 3.141
        o.double(3.141);
    } else if eq_ic(name, "bignum") {
        if o.resp3 {
            o.buf
                .extend_from_slice(b"(1234567999999999999999999999999999999\r\n");
        } else {
            o.bulk(b"1234567999999999999999999999999999999");
        }
    } else if eq_ic(name, "null") {
        o.null();
    } else if eq_ic(name, "array") {
        o.array(3);
        (0..3).for_each(|j| o.int(j));
    } else if eq_ic(name, "set") {
        o.set(3);
        (0..3).for_each(|j| o.int(j));
    } else if eq_ic(name, "map") {
        o.map(3);
        for j in 0..3 {
            o.int(j);
            o.boolean(j == 1);
        }
    } else if eq_ic(name, "attrib") {
        if o.resp3 {
            o.buf.extend_from_slice(b"|1\r\n");
            o.bulk(b"key-popularity");
            o.array(2);
            o.bulk(b"key:123");
            o.int(90);
        }
        o.bulk(b"Some real reply following the attribute");
    } else if eq_ic(name, "push") {
        if !o.resp3 {
            return Err(CmdError::msg("ERR RESP2 is not supported by this command"));
        }
        o.push(2);
        o.bulk(b"server-cpu-usage");
        o.int(42);
        o.bulk(b"Some real reply following the push reply");
    } else if eq_ic(name, "true") {
        o.boolean(true);
    } else if eq_ic(name, "false") {
        o.boolean(false);
    } else if eq_ic(name, "verbatim") {
        o.verbatim(b"This is a verbatim\nstring");
    } else {
        return Err(CmdError::msg("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"));
    }
    Ok(())
}

pub fn command_count(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.table.toplevel.len() as i64);
    Ok(())
}

fn command_all(ctx: &mut Ctx) {
    ctx.out.array(ctx.table.toplevel.len());
    for &i in &ctx.table.toplevel {
        ctx.out.resp3_frame(ctx.table.cmds[i].info);
    }
}

pub fn command_info(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 2 {
        command_all(ctx);
        return Ok(());
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match lookup_by_fullname(ctx, name) {
            Some(i) => ctx.out.resp3_frame(ctx.table.cmds[i].info),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// "get" or "client|kill" (Redis's lookupCommandBySds).
fn lookup_by_fullname(ctx: &Ctx, name: &[u8]) -> Option<usize> {
    let parts: Vec<&[u8]> = name.splitn(2, |&c| c == b'|').collect();
    let top = ctx.table.lookup_top(parts[0])?;
    if parts.len() == 2 {
        if !ctx.table.cmds[top].is_container {
            return None;
        }
        return ctx.table.lookup_sub(top, parts[1]);
    }
    Some(top)
}

pub fn command_docs(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let ids: Vec<usize> = if argv.len() == 2 {
        ctx.table.toplevel.clone()
    } else {
        argv[2..]
            .iter()
            .filter_map(|n| lookup_by_fullname(ctx, n))
            .filter(|&i| ctx.table.cmds[i].spec.is_some())
            .collect()
    };
    ctx.out.map(ids.len());
    for i in ids {
        if let Some(spec) = ctx.table.cmds[i].spec {
            // Stored as a one-pair map "%1\r\n<name><docs>": emit the pair.
            ctx.out.resp3_frame(&spec.docs[4..]);
        }
    }
    Ok(())
}

pub fn command_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut filter: Option<(&[u8], &[u8])> = None;
    if argv.len() == 5 && eq_ic(argv[2], "filterby") {
        filter = Some((argv[3], argv[4]));
    } else if argv.len() != 2 {
        return Err(CmdError::Syntax);
    }
    let names: Vec<&str> = ctx
        .table
        .cmds
        .iter()
        .filter(|c| match filter {
            None => true,
            Some((kind, v)) if eq_ic(kind, "pattern") => glob_match(v, c.fullname.as_bytes(), true),
            Some((kind, v)) if eq_ic(kind, "aclcat") => {
                let mut needle = b"+@".to_vec();
                needle.extend(v.iter().map(|c| c.to_ascii_lowercase()));
                needle.extend_from_slice(b"\r\n");
                c.info.windows(needle.len()).any(|w| w == needle.as_slice())
            }
            Some(_) => false,
        })
        .map(|c| c.fullname.as_str())
        .collect();
    if let Some((kind, _)) = filter {
        if !(eq_ic(kind, "pattern") || eq_ic(kind, "aclcat") || eq_ic(kind, "module")) {
            return Err(CmdError::Syntax);
        }
    }
    let out = &mut *ctx.out;
    out.array(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
    Ok(())
}

/// COMMAND GETKEYS (Redis's getKeysSubcommandImpl), driven by key specs.
pub fn command_getkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let args = &argv[2..];
    let Some(cmd) = ctx.table.lookup_full(args) else {
        return Err(CmdError::msg("ERR Invalid command specified"));
    };
    let c = &ctx.table.cmds[cmd];
    if !super::keyspec::has_keys(&c.fullname, &c.key_specs) {
        return Err(CmdError::msg("ERR The command has no key arguments"));
    }
    let argc = args.len() as i32;
    if (c.arity > 0 && c.arity != argc) || argc < -c.arity {
        return Err(CmdError::msg(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let pos =
        super::keyspec::key_positions(&c.fullname, &c.key_specs, args, c.arity).unwrap_or_default();
    if pos.is_empty() {
        let no_mandatory = c.info.windows(20).any(|w| w == b"+no_mandatory_keys\r\n");
        if no_mandatory {
            ctx.out.array(0);
            return Ok(());
        }
        return Err(CmdError::msg("ERR Invalid arguments specified for command"));
    }
    ctx.out.array(pos.len());
    for p in pos {
        ctx.out.bulk(args[p]);
    }
    Ok(())
}

pub fn command_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
        ],
    );
    Ok(())
}
