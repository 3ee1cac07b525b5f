//! The `Server`: all engine state, and the two entry points the shells call:
//! [`Server::execute`] (one command from one client, at a given time) and
//! [`Server::cron`] (periodic work: active expiry). Both are plain functions
//! of (state, input, time); I/O the shells must perform is returned as
//! [`Effects`] (close a client, shut down, sleep, log).

use std::collections::BTreeMap;

use crate::cmd::{spec, CommandTable, Ctx};
use crate::config::Config;
use crate::db::{Keyspace, Value};
use crate::error::{error_code, CmdError};
use crate::resp::Reply;

pub type ClientHandle = usize;

/// Facts about the process the engine cannot know itself (set by the shell).
#[derive(Clone, Debug, Default)]
pub struct ServerEnv {
    pub pid: u32,
    pub tcp_port: u16,
    pub executable: String,
    pub config_file: String,
    pub os: String,
    pub arch_bits: u32,
    pub start_ms: i64,
    pub run_id: String,
    pub version: String,
    pub rng_seed: u64,
    /// Live heap bytes (the counting allocator, `alloc::used_bytes`), the
    /// `used_memory` that `maxmemory` is compared with. None (simulator,
    /// unit tests): INFO shows an estimate and eviction is off.
    pub mem_used: Option<fn() -> u64>,
    /// Physical memory of the machine in bytes (INFO total_system_memory);
    /// 0 when unknown (simulator, tests).
    pub total_system_memory: u64,
}

/// CLIENT REPLY state, as Redis's three flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyMode {
    /// CLIENT REPLY OFF: no replies until ON.
    pub off: bool,
    /// CLIENT REPLY SKIP: drop the next command's reply.
    pub skip_next: bool,
    /// Dropping the current command's reply.
    pub skip: bool,
}

#[derive(Debug)]
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub resp3: bool,
    pub name: Vec<u8>,
    pub lib_name: Vec<u8>,
    pub lib_ver: Vec<u8>,
    pub authenticated: bool,
    pub addr: String,
    pub laddr: String,
    pub fd: i64,
    pub created_ms: i64,
    pub last_ms: i64,
    pub multi: Option<Vec<Vec<Vec<u8>>>>,
    /// A command failed to queue: EXEC answers EXECABORT.
    pub multi_error: bool,
    /// A WATCHed key was touched: EXEC answers null.
    pub dirty_cas: bool,
    pub watched: Vec<(usize, Box<[u8]>)>,
    pub reply_mode: ReplyMode,
    pub no_evict: bool,
    pub close_after_reply: bool,
    /// Index of the last command run (CLIENT LIST's cmd=), None before any.
    pub last_cmd: Option<usize>,
    /// Bytes the shell reports for CLIENT LIST (qbuf, omem).
    pub qbuf: usize,
    pub omem: usize,
    /// Output produced for this client outside its own commands (served
    /// blocking pops, timeouts, pub/sub messages). The shell drains it
    /// (`Server::take_pending`) when woken through `Effects::wake`.
    pub pending: Vec<u8>,
    /// Set while the client waits in a blocking command: the shell must not
    /// run its further commands until it is unblocked.
    pub blocked: Option<Box<crate::blocking::Blocked>>,
    /// Pub/Sub subscriptions (channels, patterns, shard channels).
    pub subs: crate::cmd::pubsub::ClientSubs,
    /// Our master's connection (its commands obey no read-only/OOM check).
    pub is_master: bool,
    /// A replica of ours (after PSYNC/SYNC): output is the stream.
    pub is_replica: bool,
    /// What it said with REPLCONF before PSYNC.
    pub announce: crate::repl::Announce,
    /// Replication offset after this client's last write (WAIT).
    pub woff: u64,
    /// Drop this command's reply (REPLCONF ACK, PSYNC write no reply).
    pub no_reply_once: bool,
}

/// A slab of clients: handles are stable for a client's lifetime.
#[derive(Default)]
pub struct Clients {
    slots: Vec<Option<Client>>,
    free: Vec<usize>,
    pub count: usize,
    /// Blocked clients by deadline (ms, handle); deadline 0 is not stored.
    pub timeouts: std::collections::BTreeSet<(i64, ClientHandle)>,
    /// Number of clients in a blocking command (INFO blocked_clients).
    pub blocked: usize,
    /// Clients with new `pending` output since the last drain (may repeat).
    pub wake: Vec<ClientHandle>,
    /// Channel/pattern subscriber registry.
    pub pubsub: crate::cmd::pubsub::PubSub,
    /// Pending output above this many bytes disconnects the client
    /// (`Config::pubsub_out_hard_bytes`, kept here for the delivery path).
    pub pending_bytes_max: usize,
    /// Clients over their output limit, to be disconnected (ids).
    pub kill_asap: Vec<u64>,
}

impl Clients {
    pub fn get(&self, h: ClientHandle) -> &Client {
        self.slots[h].as_ref().expect("live client handle")
    }
    pub fn get_mut(&mut self, h: ClientHandle) -> &mut Client {
        self.slots[h].as_mut().expect("live client handle")
    }
    pub fn try_get(&self, h: ClientHandle) -> Option<&Client> {
        self.slots.get(h).and_then(|c| c.as_ref())
    }
    pub fn try_get_mut(&mut self, h: ClientHandle) -> Option<&mut Client> {
        self.slots.get_mut(h).and_then(|c| c.as_mut())
    }
    pub fn iter(&self) -> impl Iterator<Item = (ClientHandle, &Client)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(h, c)| c.as_ref().map(|c| (h, c)))
    }
    fn insert(&mut self, c: Client) -> ClientHandle {
        self.count += 1;
        if let Some(h) = self.free.pop() {
            self.slots[h] = Some(c);
            h
        } else {
            self.slots.push(Some(c));
            self.slots.len() - 1
        }
    }
    fn remove(&mut self, h: ClientHandle) -> Option<Client> {
        let c = self.slots.get_mut(h)?.take()?;
        self.count -= 1;
        self.free.push(h);
        Some(c)
    }
}

#[derive(Default, Clone, Debug)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

/// Where CONFIG REWRITE reads and writes the config file (injected I/O).
pub trait ConfigStore: Send {
    fn read(&self) -> std::io::Result<String>;
    fn write(&mut self, text: &str) -> std::io::Result<()>;
}

#[derive(Default, Clone, Debug)]
pub struct Stats {
    /// Process figures the shell samples (RSS, CPU seconds).
    pub rss_bytes: u64,
    pub cpu_sys: f64,
    pub cpu_user: f64,
    pub total_reads: u64,
    pub total_writes: u64,
    /// Instantaneous ops/sec samples (Redis's 16-sample ring).
    pub ops_samples: [u64; 16],
    pub ops_sample_idx: usize,
    pub ops_last_ms: i64,
    pub ops_last_count: u64,
    pub peak_memory: u64,
    /// Used memory once the server was constructed (`used_memory_startup`):
    /// set by `Server::new`, kept across CONFIG RESETSTAT.
    pub startup_memory: u64,
    pub total_commands: u64,
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
    pub errors: BTreeMap<String, u64>,
    pub cmds: Vec<CmdStat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// What the shell must do after a batch of commands.
/// Push config values the keyspace and client table cache: one place for
/// start-up and CONFIG SET.
pub fn apply_config(ks: &mut Keyspace, clients: &mut Clients, cfg: &Config) {
    ks.lfu = cfg.is_lfu();
    ks.lfu_log_factor = cfg.lfu_log_factor;
    ks.lfu_decay_time = cfg.lfu_decay_time;
    ks.notify_flags = cfg.notify_flags;
    ks.lazy_eviction = cfg.lazyfree_lazy_eviction;
    ks.lazy_expire = cfg.lazyfree_lazy_expire;
    clients.pending_bytes_max = cfg.pubsub_out_hard_bytes;
}

#[derive(Default, Debug)]
pub struct Effects {
    /// Client ids to disconnect (CLIENT KILL).
    pub kill: Vec<u64>,
    /// Stop the server after flushing replies (SHUTDOWN).
    pub shutdown: bool,
    /// Block the event loop this long (DEBUG SLEEP), in ms.
    pub sleep_ms: u64,
    /// CONFIG REWRITE: write this text to `env.config_file`.
    pub rewrite_config: Option<String>,
    pub log: Vec<(LogLevel, String)>,
    /// Client ids with new pending output to write (see `Client::pending`).
    pub wake: Vec<u64>,
    /// A client blocked with a deadline: the shell's timer must re-arm
    /// (`Server::next_timeout_ms`).
    pub timers_changed: bool,
    /// Writes in effect form, in execution order, when propagation is on
    /// (`Server::set_propagation`): the stream the AOF and replicas consume.
    /// Evicted and expired keys appear as DEL (UNLINK with lazyfree-lazy-*).
    pub propagate: Vec<crate::db::Propagated>,
    /// A fatal persistence error outside a command (cron's AOF flush under
    /// `appendfsync always`): the shell must exit, as Redis does.
    pub fatal: Option<String>,
    /// The replica link changed (REPLICAOF) or has bytes to send: the
    /// shell's link task must look again.
    pub repl_link: bool,
    /// Replicas wait for a full sync: start one when possible.
    pub repl_sync: bool,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.kill.is_empty()
            && !self.shutdown
            && self.sleep_ms == 0
            && self.rewrite_config.is_none()
            && self.log.is_empty()
            && self.wake.is_empty()
            && !self.timers_changed
            && self.propagate.is_empty()
            && self.fatal.is_none()
            && !self.repl_link
            && !self.repl_sync
    }
}

pub struct Server {
    pub ks: Keyspace,
    pub clients: Clients,
    pub cfg: Config,
    pub env: ServerEnv,
    pub stats: Stats,
    pub effects: Effects,
    /// Immutable and the same for every server: built once per process.
    pub table: std::sync::Arc<CommandTable>,
    pub config_store: Option<Box<dyn ConfigStore>>,
    /// Disk, RDB/AOF state and background jobs (crate::persist).
    pub persist: crate::persist::Persist,
    /// Sees every command of the effect stream, in apply order, with the
    /// replication position it reached (the simulator's crash oracle and
    /// its loss-attribution checker; never set by the server binary).
    pub prop_observer: Option<PropObserver>,
    /// Replication: our replicas, our master link, the backlog.
    pub repl: crate::repl::Repl,
    next_client_id: u64,
}

/// See `Server::prop_observer`.
pub type PropObserver = Box<dyn FnMut(&crate::db::Propagated, &PropMeta) + Send>;

/// Where a write landed in the replication history (`Server::prop_observer`).
pub struct PropMeta<'a> {
    /// Run by this node as a master (not applied from its master's stream).
    pub master: bool,
    pub replid: &'a str,
    /// `master_repl_offset` after the command's effects were fed.
    pub offset: u64,
}

impl Server {
    pub fn new(cfg: Config, mut env: ServerEnv) -> Server {
        let mut ks = Keyspace::new(cfg.databases, env.rng_seed);
        if env.run_id.is_empty() {
            env.run_id = ks.rng.hex40();
        }
        ks.now_ms = env.start_ms;
        let table = CommandTable::shared();
        let replid = ks.rng.hex40();
        let mut stats = Stats::default();
        stats.cmds = vec![CmdStat::default(); table.cmds.len()];
        let mut s = Server {
            ks,
            clients: Clients::default(),
            cfg,
            env,
            stats,
            effects: Effects::default(),
            table,
            config_store: None,
            persist: crate::persist::Persist::default(),
            prop_observer: None,
            repl: crate::repl::Repl::new(replid),
            next_client_id: 1,
        };
        s.apply_config();
        s.stats.startup_memory = crate::cmd::server_cmds::used_memory(&s.env, &s.ks);
        s
    }

    /// Push config values the keyspace caches (after startup or CONFIG SET).
    pub fn apply_config(&mut self) {
        apply_config(&mut self.ks, &mut self.clients, &self.cfg);
    }

    /// Start (or stop) recording writes in effect form into
    /// `Effects::propagate`, for the AOF and replicas.
    pub fn set_propagation(&mut self, on: bool) {
        self.ks.prop_enabled = on;
        if !on {
            self.ks.prop.clear();
        }
    }

    pub fn new_client(
        &mut self,
        addr: String,
        laddr: String,
        fd: i64,
        now_ms: i64,
    ) -> ClientHandle {
        let id = self.next_client_id;
        self.next_client_id += 1;
        self.stats.total_connections += 1;
        self.clients.insert(Client {
            id,
            db: 0,
            resp3: false,
            name: Vec::new(),
            lib_name: Vec::new(),
            lib_ver: Vec::new(),
            authenticated: self.cfg.requirepass.is_none(),
            addr,
            laddr,
            fd,
            created_ms: now_ms,
            last_ms: now_ms,
            multi: None,
            multi_error: false,
            dirty_cas: false,
            watched: Vec::new(),
            reply_mode: ReplyMode::default(),
            no_evict: false,
            close_after_reply: false,
            last_cmd: None,
            qbuf: 0,
            omem: 0,
            pending: Vec::new(),
            blocked: None,
            subs: Default::default(),
            is_master: false,
            is_replica: false,
            announce: Default::default(),
            woff: 0,
            no_reply_once: false,
        })
    }

    pub fn free_client(&mut self, h: ClientHandle) {
        crate::cmd::conn::unwatch_all(&mut self.ks, &mut self.clients, h);
        crate::blocking::unblock(&mut self.ks, &mut self.clients, h);
        crate::cmd::pubsub::unsubscribe_all(&mut self.clients, h);
        self.clients.remove(h);
        self.repl_client_gone(h);
    }

    /// Move output produced for `h` by others (served blocking command,
    /// pub/sub messages) into `out`, ahead of its next replies.
    pub fn take_pending(&mut self, h: ClientHandle, out: &mut Reply) {
        if let Some(c) = self.clients.try_get_mut(h) {
            if !c.pending.is_empty() {
                out.buf.append(&mut c.pending);
            }
        }
    }

    pub fn is_blocked(&self, h: ClientHandle) -> bool {
        self.clients.get(h).blocked.is_some()
    }

    /// Earliest blocked-client deadline, for the shell's timer.
    pub fn next_timeout_ms(&self) -> Option<i64> {
        let t = self.clients.timeouts.first().map(|&(t, _)| t);
        match (t, self.next_wait_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time out blocked clients whose deadline passed (call at least at `hz`,
    /// and at `next_timeout_ms`).
    pub fn handle_timeouts(&mut self, now_ms: i64) {
        self.ks.now_ms = now_ms;
        crate::blocking::expire_timeouts(&mut self.ks, &mut self.clients, now_ms);
        self.check_waiters();
        self.flush_wakes();
    }

    /// Serve clients blocked on keys that became ready, then publish the wake
    /// list to the shell. Runs after every top-level command, so a push inside
    /// MULTI/EXEC wakes clients only once the transaction is complete.
    fn handle_ready(&mut self) {
        while let Some((db, key)) = self.ks.pop_ready() {
            let Some(q) = self.ks.dbs[db].blocking.get(&key) else {
                continue;
            };
            let waiting: Vec<ClientHandle> = q.iter().copied().collect();
            for h in waiting {
                let gone = self.ks.dbs[db].table.find(&key).is_none();
                let Some(c) = self.clients.try_get_mut(h) else {
                    continue;
                };
                let Some(b) = c.blocked.as_mut() else {
                    continue;
                };
                // A key that is gone, or holds another type than the one the
                // command pops, serves nobody (the client keeps waiting);
                // XREADGROUP waiters are told their stream is gone instead.
                let name = self.table.cmds[b.cmd].fullname.as_str();
                if name != "xreadgroup" {
                    if gone {
                        continue;
                    }
                    let fits = self.ks.dbs[db].table.find(&key).is_some_and(|i| {
                        let v = &self.ks.dbs[db].table.entry(i).val;
                        match name {
                            "bzpopmin" | "bzpopmax" | "bzmpop" => matches!(v, Value::ZSet(_)),
                            "xread" => matches!(v, Value::Stream(_)),
                            _ => matches!(v, Value::List(_)),
                        }
                    });
                    if !fits {
                        continue;
                    }
                }
                b.reblocked = false;
                let argv_owned = b.argv.clone();
                let cmd = b.cmd;
                let mut out = Reply::new();
                out.resp3 = c.resp3;
                let argv: Vec<&[u8]> = argv_owned.iter().map(|a| a.as_slice()).collect();
                self.call_inner(h, cmd, &argv, db, &mut out, false, Some(&key));
                let Some(c) = self.clients.try_get_mut(h) else {
                    continue;
                };
                if c.blocked.as_ref().is_some_and(|b| b.reblocked) {
                    continue; // found nothing it wants: keeps its place
                }
                crate::blocking::unblock(&mut self.ks, &mut self.clients, h);
                let c = self.clients.get_mut(h);
                c.pending.extend_from_slice(&out.buf);
                self.clients.wake.push(h);
            }
        }
        self.flush_wakes();
    }

    /// Turn `clients.wake` handles into `effects.wake` ids (deduplicated).
    pub(crate) fn flush_wakes(&mut self) {
        for id in std::mem::take(&mut self.clients.kill_asap) {
            self.effects.log.push((
                LogLevel::Warning,
                format!("Client id={id} scheduled to be closed ASAP for overcoming of output buffer limits."),
            ));
            self.effects.kill.push(id);
        }
        if self.clients.wake.is_empty() {
            return;
        }
        let mut hs = std::mem::take(&mut self.clients.wake);
        hs.sort_unstable();
        hs.dedup();
        for h in hs {
            if let Some(c) = self.clients.try_get_mut(h) {
                if !c.pending.is_empty() {
                    self.effects.wake.push(c.id);
                }
            }
        }
    }

    pub fn client(&self, h: ClientHandle) -> &Client {
        self.clients.get(h)
    }

    pub fn client_id(&self, h: ClientHandle) -> u64 {
        self.clients.get(h).id
    }

    pub fn is_authenticated(&self, h: ClientHandle) -> bool {
        self.clients.get(h).authenticated
    }

    pub fn take_effects(&mut self) -> Effects {
        std::mem::take(&mut self.effects)
    }

    /// Periodic work at `hz`: active expiry.
    pub fn cron(&mut self, now_ms: i64) {
        self.ks.now_ms = now_ms;
        if self.persist.loading {
            // No expiry, eviction, compaction or saves over a half-loaded
            // dataset (Redis runs only whileBlockedCron while loading).
            return;
        }
        // Replicas do not expire keys (the master sends the DELs); nor does
        // a master during FAILOVER (its stream must stay still).
        if self.ks.active_expire_enabled && !self.repl.is_replica() && self.repl.failover.is_none()
        {
            self.ks
                .active_expire_cycle(self.cfg.active_expire_effort, self.cfg.hz);
        }
        // Between commands no entry index is held: safe to renumber, unless
        // a snapshot walk is in progress (it walks by slab index).
        if self.ks.snapshot.is_none() {
            for db in &mut self.ks.dbs {
                db.table.compact_if_sparse();
            }
        }
        self.flush_touched();
        if !self.ks.events.is_empty() {
            crate::cmd::pubsub::flush_keyspace_events(
                &mut self.ks,
                &mut self.clients,
                self.cfg.notify_flags,
                None,
            );
            self.flush_wakes();
        }
        self.drain_propagation();
        self.repl_cron();
        self.flush_wakes();
        self.persist_cron();
        // Redis samples ops/sec every 100 ms into a 16-slot ring.
        let st = &mut self.stats;
        if now_ms - st.ops_last_ms >= 100 {
            let dt = (now_ms - st.ops_last_ms) as u64;
            let ops = st.total_commands - st.ops_last_count;
            st.ops_samples[st.ops_sample_idx % 16] = ops * 1000 / dt.max(1);
            st.ops_sample_idx += 1;
            st.ops_last_ms = now_ms;
            st.ops_last_count = st.total_commands;
        }
        // Only the cheap measure here: the estimate walks every key.
        if let Some(f) = self.env.mem_used {
            let used = f();
            if used > self.stats.peak_memory {
                self.stats.peak_memory = used;
            }
        }
    }

    fn flush_touched(&mut self) {
        if self.ks.touched_clients.is_empty() {
            return;
        }
        for h in std::mem::take(&mut self.ks.touched_clients) {
            if let Some(c) = self.clients.try_get_mut(h) {
                c.dirty_cas = true;
            }
        }
    }

    /// Run one command from client `h` at time `now_ms`, appending the reply
    /// to `out`. Redis's `processCommand`: lookup, arity, auth, MULTI queue.
    pub fn execute(
        &mut self,
        h: ClientHandle,
        argv: &[&[u8]],
        now_ms: i64,
        out: &mut Reply,
    ) -> Option<usize> {
        if argv.is_empty() {
            return None;
        }
        self.ks.now_ms = now_ms;
        let (resp3, db) = {
            let c = self.clients.get_mut(h);
            c.last_ms = now_ms;
            if c.reply_mode.skip_next {
                c.reply_mode.skip_next = false;
                c.reply_mode.skip = true;
            }
            (c.resp3, c.db)
        };
        out.resp3 = resp3;
        let mark = out.buf.len();
        let off_before = self.repl.master_repl_offset;
        let ran = self.process(h, argv, db, out);
        if self.persist.pending_loadaof {
            self.debug_loadaof(out);
        }
        if !self.ks.events.is_empty() {
            crate::cmd::pubsub::flush_keyspace_events(
                &mut self.ks,
                &mut self.clients,
                self.cfg.notify_flags,
                Some((h, &mut *out)),
            );
        }
        let c = self.clients.get_mut(h);
        // Like Redis, the flags are read when the reply is produced: CLIENT
        // REPLY ON clears them first, so its +OK gets through.
        if c.reply_mode.off || c.reply_mode.skip {
            out.buf.truncate(mark);
        }
        c.reply_mode.skip = false;
        if c.no_reply_once {
            c.no_reply_once = false;
            out.buf.truncate(mark);
        }
        self.flush_touched();
        if !self.ks.ready.is_empty() {
            self.handle_ready();
        } else if !self.clients.wake.is_empty() || !self.clients.kill_asap.is_empty() {
            self.flush_wakes();
        }
        self.drain_propagation();
        if self.repl.master_repl_offset != off_before {
            if let Some(c) = self.clients.try_get_mut(h) {
                c.woff = self.repl.master_repl_offset;
            }
        }
        if self.repl.get_ack
            || self.repl.acks_changed
            || self.repl.drop_link
            || self.effects.repl_sync
            || self.repl.abort_failover_requested.is_some()
        {
            self.repl_after_command();
        }
        if !self.clients.wake.is_empty() {
            self.flush_wakes();
        }
        ran
    }

    /// Move writes recorded in effect form into `effects.propagate`.
    fn drain_propagation(&mut self) {
        if !self.ks.prop.is_empty() {
            let start = self.effects.propagate.len();
            self.effects.propagate.append(&mut self.ks.prop);
            self.feed_replication(start);
            if let Some(f) = self.prop_observer.as_mut() {
                let meta = PropMeta {
                    master: !self.repl.is_replica() && !self.repl.applying,
                    replid: &self.repl.replid,
                    offset: self.repl.master_repl_offset,
                };
                self.effects.propagate[start..]
                    .iter()
                    .for_each(|p| f(p, &meta));
            }
            self.feed_aof();
        }
    }

    /// Add a measured duration to a command's stats (the shell times calls).
    pub fn record_duration(&mut self, cmd: usize, usec: u64) {
        if let Some(s) = self.stats.cmds.get_mut(cmd) {
            s.usec += usec;
        }
    }

    fn reject(
        &mut self,
        out: &mut Reply,
        cmd: Option<usize>,
        e: &CmdError,
        in_multi: bool,
        h: ClientHandle,
    ) {
        let mut text = e.text();
        if cmd.is_some_and(|c| self.table.cmds[c].fullname == "exec") {
            // Redis's execCommandAbort: the transaction is discarded and the
            // reason is wrapped (formatted rejections carry no "ERR ").
            crate::cmd::conn::discard_transaction(&mut self.ks, &mut self.clients, h);
            let reason = match e {
                CmdError::Arity(_) => text.strip_prefix("ERR ").unwrap_or(&text).to_string(),
                _ => text.to_string(),
            };
            text = format!("EXECABORT Transaction discarded because of: {reason}").into();
            out.error(&text);
            self.count_error(&text);
            self.stats.cmds[cmd.unwrap_or(0)].rejected += 1;
            return;
        }
        out.error(&text);
        self.count_error(&text);
        if let Some(c) = cmd {
            self.stats.cmds[c].rejected += 1;
        }
        if in_multi {
            self.clients.get_mut(h).multi_error = true;
        }
    }

    pub fn count_error(&mut self, text: &str) {
        self.stats.total_error_replies += 1;
        *self
            .stats
            .errors
            .entry(error_code(text).to_string())
            .or_insert(0) += 1;
    }

    /// Some command queued in client `h`'s MULTI has `flag` (EXEC inherits
    /// its commands' deny-oom/write flags in Redis's processCommand).
    fn queued_has_flag(&self, h: ClientHandle, flag: u32) -> bool {
        self.queued_any(h, |flags| flags & flag != 0)
    }

    /// Does any command queued in `h`'s MULTI have flags matching `pred`?
    fn queued_any(&self, h: ClientHandle, pred: impl Fn(u32) -> bool) -> bool {
        self.clients.get(h).multi.as_ref().is_some_and(|q| {
            q.iter().any(|argv| {
                self.table
                    .lookup_full(&[
                        argv[0].as_slice(),
                        argv.get(1).map_or(&[][..], |a| a.as_slice()),
                    ])
                    .is_some_and(|i| pred(self.table.cmds[i].flags))
            })
        })
    }

    /// Returns the index of the command that ran (not rejected or queued).
    fn process(
        &mut self,
        h: ClientHandle,
        argv: &[&[u8]],
        db: usize,
        out: &mut Reply,
    ) -> Option<usize> {
        let in_multi = self.clients.get(h).multi.is_some();
        let Some(top) = self.table.lookup_top(argv[0]) else {
            let e = unknown_command(argv);
            self.reject(out, None, &e, in_multi, h);
            return None;
        };
        let mut cmd = top;
        if self.table.cmds[top].is_container {
            if argv.len() >= 2 {
                match self.table.lookup_sub(top, argv[1]) {
                    Some(s) => cmd = s,
                    None => {
                        let e = CmdError::msg(format!(
                            "ERR unknown subcommand '{}'. Try {} HELP.",
                            trunc128(argv[1]),
                            String::from_utf8_lossy(argv[0]).to_uppercase()
                        ));
                        self.reject(out, None, &e, in_multi, h);
                        return None;
                    }
                }
            }
        }
        let c = &self.table.cmds[cmd];
        let argc = argv.len() as i32;
        if (c.arity > 0 && argc != c.arity) || argc < -c.arity {
            let e = CmdError::Arity(c.fullname.clone());
            self.reject(out, Some(cmd), &e, in_multi, h);
            return None;
        }
        if !self.clients.get(h).authenticated && c.flags & spec::F_NO_AUTH == 0 {
            self.reject(
                out,
                Some(cmd),
                &CmdError::msg("NOAUTH Authentication required."),
                in_multi,
                h,
            );
            return None;
        }
        let obey = self.clients.get(h).is_master;
        let ignore_mm = self.repl.is_replica() && self.cfg.replica_ignore_maxmemory;
        if self.cfg.maxmemory > 0 && !obey && !ignore_mm {
            if let Some(mem) = self.env.mem_used {
                // Redis's processCommand: evict first, then refuse commands
                // that may grow memory (deny-oom, anything queued in MULTI
                // except EXEC/DISCARD/QUIT/RESET, EXEC of deny-oom commands).
                let ok = crate::evict::perform_evictions(
                    &mut self.ks,
                    self.cfg.policy,
                    self.cfg.maxmemory_samples,
                    self.cfg.maxmemory,
                    &mut |_| mem(),
                );
                if !self.ks.events.is_empty() {
                    crate::cmd::pubsub::flush_keyspace_events(
                        &mut self.ks,
                        &mut self.clients,
                        self.cfg.notify_flags,
                        Some((h, &mut *out)),
                    );
                }
                if !ok {
                    let name = c.fullname.as_str();
                    let queued_denyoom = name == "exec" && self.queued_has_flag(h, spec::F_DENYOOM);
                    let reject = c.flags & spec::F_DENYOOM != 0
                        || queued_denyoom
                        || (in_multi && !matches!(name, "exec" | "discard" | "quit" | "reset"));
                    if reject {
                        let e = CmdError::msg(
                            "OOM command not allowed when used memory > 'maxmemory'.",
                        );
                        self.reject(out, Some(cmd), &e, in_multi, h);
                        return None;
                    }
                }
            }
        }
        // Redis's processCommand: writes (and PING) are refused while the
        // last background save or AOF write failed (MISCONF).
        if let Some(e) = self
            .persist
            .denied_by_disk_error(&self.cfg)
            .filter(|_| !obey)
        {
            let c = &self.table.cmds[cmd];
            let exec_writes = c.fullname == "exec" && self.queued_has_flag(h, spec::F_WRITE);
            if c.flags & spec::F_WRITE != 0 || exec_writes || c.fullname == "ping" {
                let e = CmdError::msg(crate::persist::misconf_text(&e));
                self.reject(out, Some(cmd), &e, in_multi, h);
                return None;
            }
        }
        if let Some(e) = self.repl_denied(h, cmd, obey) {
            self.reject(out, Some(cmd), &e, in_multi, h);
            return None;
        }
        let c = &self.table.cmds[cmd];
        {
            let cl = self.clients.get(h);
            if !cl.resp3
                && cl.subs.any()
                && !matches!(
                    c.fullname.as_str(),
                    "ping"
                        | "subscribe"
                        | "ssubscribe"
                        | "unsubscribe"
                        | "sunsubscribe"
                        | "psubscribe"
                        | "punsubscribe"
                        | "quit"
                        | "reset"
                )
            {
                let e = CmdError::msg(format!(
                    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                    c.fullname
                ));
                self.reject(out, Some(cmd), &e, in_multi, h);
                return None;
            }
        }
        // Loading the dataset: only commands flagged `loading` run (EXEC
        // only if every queued command is), as Redis's processCommand.
        if self.persist.loading {
            let deny = c.flags & spec::F_LOADING == 0
                || (c.fullname == "exec" && self.queued_any(h, |f| f & spec::F_LOADING == 0))
                || matches!(
                    c.fullname.as_str(),
                    // Not in Redis (its load blocks the event loop between
                    // client batches): a save or rewrite now would write a
                    // half-loaded dataset over the file being loaded.
                    "save" | "bgsave" | "bgrewriteaof"
                );
            if deny {
                let e = CmdError::msg("LOADING Redis is loading the dataset in memory");
                self.reject(out, Some(cmd), &e, in_multi, h);
                return None;
            }
        }
        // FAILOVER: client writes wait until it ends (Redis pauses them).
        if !in_multi && self.repl.failover.is_some() && !self.clients.get(h).is_master {
            let is_write = c.flags & spec::F_WRITE != 0
                || (c.fullname == "exec" && self.queued_has_flag(h, spec::F_WRITE));
            if is_write && self.pause_write(h, cmd, argv) {
                return None;
            }
        }
        let c = &self.table.cmds[cmd];
        if in_multi && c.flags & spec::F_NO_MULTI != 0 {
            self.reject(
                out,
                Some(cmd),
                &CmdError::msg("ERR Command not allowed inside a transaction"),
                in_multi,
                h,
            );
            return None;
        }
        if in_multi {
            let name = c.fullname.as_str();
            if !matches!(
                name,
                "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
            ) {
                let q = argv.iter().map(|a| a.to_vec()).collect();
                if let Some(m) = self.clients.get_mut(h).multi.as_mut() {
                    m.push(q);
                }
                out.simple("QUEUED");
                return None;
            }
        }
        self.call(h, cmd, argv, db, out, false);
        Some(cmd)
    }

    /// Run a resolved command and record its stats (Redis's `call`).
    pub fn call(
        &mut self,
        h: ClientHandle,
        cmd: usize,
        argv: &[&[u8]],
        db: usize,
        out: &mut Reply,
        in_exec: bool,
    ) {
        self.call_inner(h, cmd, argv, db, out, in_exec, None)
    }

    /// `call`, or (with `ready_key`) the re-execution of a blocked client's
    /// command because `ready_key` became ready: no stats are counted again.
    #[allow(clippy::too_many_arguments)]
    fn call_inner(
        &mut self,
        h: ClientHandle,
        cmd: usize,
        argv: &[&[u8]],
        db: usize,
        out: &mut Reply,
        in_exec: bool,
        ready_key: Option<&[u8]>,
    ) {
        let Some(handler) = self.table.cmds[cmd].handler else {
            // A container called without a subcommand fails arity above.
            return;
        };
        let mut ctx = Ctx {
            ks: &mut self.ks,
            clients: &mut self.clients,
            cfg: &mut self.cfg,
            env: &self.env,
            stats: &mut self.stats,
            effects: &mut self.effects,
            table: &self.table,
            config_store: &mut self.config_store,
            persist: &mut self.persist,
            repl: &mut self.repl,
            out: &mut *out,
            h,
            db,
            in_exec,
            ready_key,
        };
        if let Some(c) = ctx.clients.try_get_mut(h) {
            c.last_cmd = Some(cmd);
        }
        let top = (!in_exec).then(|| ctx.ks.prop.len());
        let mark = crate::propagate::Mark::new(ctx.ks);
        let r = handler(&mut ctx, argv);
        mark.finish(ctx.ks, &ctx.table.cmds[cmd], argv, db);
        if let Some(start) = top {
            crate::propagate::wrap_multi(&mut self.ks, start, db);
        }
        if ready_key.is_some() {
            if let Err(e) = r {
                out.error(&e.text());
            }
            return;
        }
        self.stats.total_commands += 1;
        self.stats.cmds[cmd].calls += 1;
        if let Err(e) = r {
            let text = e.text();
            out.error(&text);
            self.count_error(&text);
            self.stats.cmds[cmd].failed += 1;
        }
    }

    /// Replication's refusals, in Redis's processCommand order: writes on
    /// a read-only replica, stale data, too few good replicas.
    fn repl_denied(&self, h: ClientHandle, cmd: usize, obey: bool) -> Option<CmdError> {
        if obey {
            return None;
        }
        let c = &self.table.cmds[cmd];
        let is_write = c.flags & spec::F_WRITE != 0
            || (c.fullname == "exec" && self.queued_has_flag(h, spec::F_WRITE));
        if let Some(l) = &self.repl.link {
            // The setting itself, not the link's snapshot of it: CONFIG SET
            // replica-read-only acts at once, as in Redis.
            if is_write && self.cfg.replica_read_only {
                return Some(CmdError::msg(
                    "READONLY You can't write against a read only replica.",
                ));
            }
            if l.state != crate::repl::LinkState::Connected
                && !self.cfg.replica_serve_stale_data
                && c.flags & spec::F_STALE == 0
            {
                return Some(CmdError::msg("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."));
            }
            return None;
        }
        if is_write {
            let min = self.cfg.min_replicas_to_write;
            #[cfg(madsim)]
            let min = if self.repl.planted & crate::planted::IGNORE_MIN_REPLICAS != 0 {
                0
            } else {
                min
            };
            // Counted at the write, not from the count the once-a-second
            // cron refreshes (Redis's repl_good_slaves_count): a master
            // resumed after a pause longer than the lag would otherwise
            // acknowledge writes on acks older than min-replicas-max-lag
            // until its next cron (found by the simulator's sentinel
            // scenario; Redis has that window).
            if min > 0
                && self
                    .repl
                    .good_replicas_at(self.ks.now_ms, self.cfg.min_replicas_max_lag_s)
                    < min
            {
                return Some(CmdError::msg(
                    "NOREPLICAS Not enough good replicas to write.",
                ));
            }
        }
        None
    }

    /// Total keys across databases.
    pub fn dbsize_all(&self) -> usize {
        self.ks.dbs.iter().map(|d| d.table.len()).sum()
    }
}

/// A C string view of an argument: up to the first NUL, as Redis's `%s` prints.
pub fn cstr(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

fn trunc128(b: &[u8]) -> String {
    let b = cstr(b);
    String::from_utf8_lossy(&b[..b.len().min(128)]).into_owned()
}

/// Redis's text: "unknown command 'x', with args beginning with: 'a' 'b' ".
fn unknown_command(argv: &[&[u8]]) -> CmdError {
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let a = cstr(a);
        let s = String::from_utf8_lossy(&a[..a.len().min(room)]).into_owned();
        args.push('\'');
        args.push_str(&s);
        args.push_str("' ");
    }
    CmdError::msg(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        trunc128(argv[0]),
        args
    ))
}

/// A server and one client, for unit tests of commands: `t.run(&["SET","k","v"])`
/// returns the raw RESP reply bytes.
pub struct TestServer {
    pub srv: Server,
    pub h: ClientHandle,
    pub now_ms: i64,
    out: Reply,
}

impl TestServer {
    pub fn new() -> TestServer {
        let mut cfg = Config::new();
        let _ = cfg.set_startup("enable-debug-command", "yes");
        let env = ServerEnv {
            start_ms: 1_700_000_000_000,
            version: "7.0.15".into(),
            ..Default::default()
        };
        let mut srv = Server::new(cfg, env);
        let h = srv.new_client(
            "127.0.0.1:1".into(),
            "127.0.0.1:6379".into(),
            1,
            1_700_000_000_000,
        );
        srv.ks.now_ms = 1_700_000_000_000;
        TestServer {
            srv,
            h,
            now_ms: 1_700_000_000_000,
            out: Reply::new(),
        }
    }

    pub fn run(&mut self, argv: &[&str]) -> String {
        let args: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        self.run_bytes(&args)
    }

    pub fn run_bytes(&mut self, argv: &[&[u8]]) -> String {
        self.out.buf.clear();
        self.srv.execute(self.h, argv, self.now_ms, &mut self.out);
        String::from_utf8_lossy(&self.out.buf).into_owned()
    }
}

impl Default for TestServer {
    fn default() -> Self {
        Self::new()
    }
}
