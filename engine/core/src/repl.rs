//! Master-replica replication, Redis's protocol (replication.c), sans-IO.
//!
//! Master side: the effect stream (`Effects::propagate`, the same commands
//! the AOF logs) is encoded as RESP, with a SELECT whenever the database
//! changes, and appended to the replication backlog (a ring of the last
//! `repl-backlog-size` bytes) and to every online replica's output. A
//! replica connects as a normal client and sends PSYNC: if its replication
//! id and offset are still covered by the backlog (our id, or our previous
//! id up to `second_repl_offset`, PSYNC2), it gets `+CONTINUE` and the
//! missing bytes; otherwise `+FULLRESYNC <id> <offset>` and an RDB snapshot
//! streamed over its socket (`$EOF:<mark>` framing) by the forkless snapshot
//! walk, so serving continues, followed by the stream produced meanwhile.
//!
//! Replica side: the shell owns one TCP connection to the master and feeds
//! what it reads to [`Server::repl_link_input`]: the handshake (PING, AUTH,
//! REPLCONF listening-port / capa, PSYNC), the RDB payload, then the command
//! stream, which runs through a "master client" in replay mode (no expiry:
//! the master sends the DELs) and is proxied byte for byte into our own
//! backlog, so replicas of this replica (chains) share the master's offsets.
//!
//! Invariants:
//! - `master_repl_offset` is the total bytes ever fed to the stream under
//!   the current history; the backlog holds its last `histlen` bytes, the
//!   first at `master_repl_offset - histlen + 1`.
//! - a replica receives stream bytes only from the offset its sync started
//!   at: `+FULLRESYNC` is sent with the offset at the snapshot's begin, and
//!   stream bytes produced during the walk wait in its `tail`.
//! - on a replica, `master_repl_offset` equals the master client's applied
//!   offset (`reploff`) while connected.

use crate::cmd::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::propagate::encode_resp;
use crate::resp::{Parsed, Reply, RequestParser};
use crate::server::{ClientHandle, LogLevel, Server};

/// Ring buffer of the last bytes of the replication stream.
pub struct Backlog {
    buf: Vec<u8>,
    /// Next write position in `buf`.
    idx: usize,
    pub histlen: usize,
}

impl Backlog {
    pub fn new(size: usize) -> Backlog {
        Backlog {
            buf: vec![0; size.max(16 * 1024)],
            idx: 0,
            histlen: 0,
        }
    }

    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// A new size (CONFIG SET repl-backlog-size), keeping the newest
    /// history that fits.
    pub fn resize(&mut self, size: usize) {
        let size = size.max(16 * 1024);
        if size == self.buf.len() {
            return;
        }
        let keep = self.histlen.min(size);
        let mut data = Vec::with_capacity(keep);
        self.tail(keep, &mut data);
        *self = Backlog::new(size);
        self.feed(&data);
    }

    fn feed(&mut self, mut data: &[u8]) {
        let size = self.buf.len();
        self.histlen = (self.histlen + data.len()).min(size);
        if data.len() > size {
            data = &data[data.len() - size..];
        }
        let first = (size - self.idx).min(data.len());
        self.buf[self.idx..self.idx + first].copy_from_slice(&data[..first]);
        let rest = &data[first..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.idx = (self.idx + data.len()) % size;
    }

    /// The last `n` bytes (n <= histlen), oldest first.
    fn tail(&self, n: usize, out: &mut Vec<u8>) {
        assert!(n <= self.histlen, "backlog read beyond its history");
        let size = self.buf.len();
        let start = (self.idx + size - n) % size;
        if start + n <= size {
            out.extend_from_slice(&self.buf[start..start + n]);
        } else {
            out.extend_from_slice(&self.buf[start..]);
            out.extend_from_slice(&self.buf[..n - (size - start)]);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaState {
    /// Full sync asked for; waiting for the snapshot to start.
    WaitBgsave,
    /// The snapshot is being streamed to it.
    SendBulk,
    /// Snapshot sent with an EOF mark: the stream waits for the replica's
    /// first REPLCONF ACK (a replica reading `$EOF:` framing only finds
    /// the mark at the end of a read, so nothing may follow it at once;
    /// Redis's repl_start_cmd_stream_on_ack).
    WaitAck,
    Online,
}

/// One replica connected to us (Redis's slave client fields).
pub struct ReplicaInfo {
    pub h: ClientHandle,
    pub id: u64,
    pub state: ReplicaState,
    pub ack_off: u64,
    pub ack_ms: i64,
    pub listening_port: u16,
    pub ip: String,
    pub capa_eof: bool,
    pub capa_psync2: bool,
    /// Old SYNC (no +FULLRESYNC line, `$<len>` framing).
    pub old_sync: bool,
    /// Stream bytes produced while its snapshot is being sent.
    tail: Vec<u8>,
    /// The whole RDB, for replicas without `capa eof` (`$<len>` framing).
    bulk: Option<Vec<u8>>,
    pub since_ms: i64,
}

/// Capabilities and port a connection announced with REPLCONF before PSYNC.
#[derive(Default, Clone, Debug)]
pub struct Announce {
    pub port: u16,
    pub ip: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Must (re)connect: the shell connects and calls `repl_link_connected`.
    Connect,
    Connecting,
    /// Waiting for the reply to handshake step n.
    Handshake(u8),
    /// Receiving the RDB payload.
    Transfer,
    Connected,
}

/// Our link to our master (we are a replica).
pub struct Link {
    pub host: String,
    pub port: u16,
    /// Bumped whenever the shell must drop its connection and start again.
    pub gen: u64,
    pub state: LinkState,
    inbuf: Vec<u8>,
    rdb: Vec<u8>,
    eof_mark: Option<Vec<u8>>,
    rdb_len: Option<usize>,
    /// The master client running the stream.
    pub master_h: Option<ClientHandle>,
    /// Bytes the shell must send to the master.
    pub out: Vec<u8>,
    pub last_io_ms: i64,
    pub down_since_ms: i64,
    pub state_since_ms: i64,
    /// PSYNC arguments: the history we hold (cached master), or ("?", -1).
    psync_replid: String,
    psync_offset: i64,
    full: Option<(String, u64)>,
    parser: RequestParser,
    last_ack_ms: i64,
    /// Send `PSYNC <id> <offset> FAILOVER` (we are the old master of a
    /// FAILOVER: the target promotes itself on it).
    psync_failover: bool,
}

/// A client blocked in WAIT.
pub struct Waiter {
    pub h: ClientHandle,
    pub woff: u64,
    pub num: usize,
    /// Absolute deadline (ms), 0 = forever.
    pub deadline_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverState {
    /// Writes paused; waiting for the target to acknowledge our offset.
    WaitingForSync,
    /// We are a replica of the target, PSYNC ... FAILOVER sent.
    InProgress,
}

/// A FAILOVER in progress (we are the master handing over).
pub struct Failover {
    /// TO host port (None: the most up-to-date online replica).
    pub target: Option<(String, u16)>,
    pub force: bool,
    /// Absolute deadline (ms), 0 = none.
    pub deadline_ms: i64,
    pub state: FailoverState,
}

pub const NULL_REPLID: &str = "0000000000000000000000000000000000000000";

/// Replication state of one server.
pub struct Repl {
    pub replid: String,
    pub replid2: String,
    pub second_replid_offset: i64,
    pub master_repl_offset: u64,
    pub backlog: Option<Backlog>,
    /// The database the stream last SELECTed (None: emit SELECT next).
    pub seldb: Option<usize>,
    pub replicas: Vec<ReplicaInfo>,
    /// Some: we are a replica of `link.host:link.port`.
    pub link: Option<Link>,
    /// Generation counter for links (survives `link = None`).
    link_gen: u64,
    pub waiters: Vec<Waiter>,
    /// Ask replicas for their offset after this command (WAIT).
    pub get_ack: bool,
    /// Replicas acknowledged something: re-check the WAIT clients.
    pub acks_changed: bool,
    /// CLIENT KILL hit the master client: drop the link after the command.
    pub drop_link: bool,
    /// The master client's commands are running: their effects are not
    /// fed to the stream (the master's bytes are proxied instead).
    pub applying: bool,
    pub last_ping_ms: i64,
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    /// Full syncs this node loaded as a replica (not in INFO; the
    /// simulator's PSYNC2 check: a request on a connection that died
    /// counts in the master's sync_full but loads nothing).
    pub full_syncs_loaded: u64,
    scratch: Vec<u8>,
    /// Planted bugs (crate::planted; the simulator's selftests only).
    pub planted: u32,
    /// FAILOVER in progress: client writes wait in `paused`.
    pub failover: Option<Failover>,
    pub paused: Vec<(ClientHandle, Vec<Vec<u8>>)>,
    /// FAILOVER ABORT (or a failure) asked to stop it after the command.
    pub abort_failover_requested: Option<String>,
    /// Sees every promotion: (new replid, previous replid, offset where
    /// the previous history ends); both ids equal when REPLICAOF NO ONE
    /// finds us a master already. The simulator's loss checker follows
    /// histories with it; never set by the server binary.
    pub promotion_observer: Option<PromotionObserver>,
}

/// See `Repl::promotion_observer`.
pub type PromotionObserver = Box<dyn FnMut(&str, &str, u64) + Send>;

impl Repl {
    pub fn new(replid: String) -> Repl {
        Repl {
            replid,
            replid2: NULL_REPLID.into(),
            second_replid_offset: -1,
            master_repl_offset: 0,
            backlog: None,
            seldb: None,
            replicas: Vec::new(),
            link: None,
            link_gen: 0,
            waiters: Vec::new(),
            get_ack: false,
            acks_changed: false,
            drop_link: false,
            applying: false,
            last_ping_ms: 0,
            sync_full: 0,
            sync_partial_ok: 0,
            sync_partial_err: 0,
            full_syncs_loaded: 0,
            scratch: Vec::new(),
            planted: 0,
            failover: None,
            paused: Vec::new(),
            abort_failover_requested: None,
            promotion_observer: None,
        }
    }

    pub fn is_replica(&self) -> bool {
        self.link.is_some()
    }

    pub fn link_up(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| l.state == LinkState::Connected)
    }

    fn replica_mut(&mut self, h: ClientHandle) -> Option<&mut ReplicaInfo> {
        self.replicas.iter_mut().find(|r| r.h == h)
    }

    /// Backlog offset of its first byte (Redis's repl_backlog->offset).
    pub fn backlog_first_byte(&self) -> u64 {
        match &self.backlog {
            Some(b) => self.master_repl_offset + 1 - b.histlen as u64,
            None => 0,
        }
    }

    /// Replicas good for min-replicas-to-write at `now`: online, and
    /// acknowledged within `max_lag_s` seconds (whole seconds, as Redis
    /// counts the lag).
    pub fn good_replicas_at(&self, now: i64, max_lag_s: i64) -> usize {
        self.replicas
            .iter()
            .filter(|x| x.state == ReplicaState::Online && (now - x.ack_ms) / 1000 <= max_lag_s)
            .count()
    }

    /// Number of replicas whose acknowledged offset reached `off`.
    pub fn acked(&self, off: u64) -> usize {
        #[cfg(madsim)]
        if self.planted & crate::planted::WAIT_EARLY != 0 {
            return self
                .replicas
                .iter()
                .filter(|r| r.state == ReplicaState::Online)
                .count();
        }
        self.replicas
            .iter()
            .filter(|r| r.state == ReplicaState::Online && r.ack_off >= off)
            .count()
    }

    /// A new history: new id, the old one kept as replid2 up to here
    /// (Redis's shiftReplicationId, on promotion).
    fn shift_replid(&mut self, new_id: String) {
        self.replid2 = std::mem::replace(&mut self.replid, new_id);
        self.second_replid_offset = self.master_repl_offset as i64 + 1;
    }

    fn clear_replid2(&mut self) {
        self.replid2 = NULL_REPLID.into();
        self.second_replid_offset = -1;
    }
}

/// Record the effect stream from now on, for good (the backlog exists).
fn enable_prop(ks: &mut crate::db::Keyspace) {
    ks.prop_enabled = true;
    ks.prop_keep = true;
}

fn line_of(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn cmd_bytes(argv: &[&str]) -> Vec<u8> {
    let v: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
    let mut out = Vec::new();
    encode_resp(&mut out, &v);
    out
}

/// Sizes above which a replica is disconnected (client-output-buffer-limit
/// replica hard limit, default 256 MB) and above which a snapshot being
/// sent pauses until the socket drained (flow control).
const REPLICA_OUT_HARD_BYTES: usize = 256 << 20;
const SYNC_PAUSE_BYTES: usize = 8 << 20;

// ---------------------------------------------------------------------------
// Commands.

fn arg_str(a: &[u8]) -> String {
    String::from_utf8_lossy(a).into_owned()
}

/// REPLICAOF / SLAVEOF host port | NO ONE.
pub fn replicaof(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let who = {
        let c = ctx.clients.get(ctx.h);
        format!("id={} addr={}", c.id, c.addr)
    };
    if argv[1].eq_ignore_ascii_case(b"no") && argv[2].eq_ignore_ascii_case(b"one") {
        if ctx.repl.link.is_some() {
            unset_master(ctx);
            ctx.effects.log.push((
                LogLevel::Notice,
                format!("MASTER MODE enabled (user request from '{who}')"),
            ));
        } else if let Some(f) = ctx.repl.promotion_observer.as_mut() {
            // Already a master: the history goes on. Sentinel may still
            // "promote" a stale master it lists as a replica.
            f(
                &ctx.repl.replid,
                &ctx.repl.replid,
                ctx.repl.master_repl_offset,
            );
        }
        ctx.out.ok();
        return Ok(());
    }
    let port = crate::util::parse_i64(argv[2])
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| CmdError::msg("ERR Invalid master port"))?;
    let host = arg_str(argv[1]);
    if let Some(l) = &ctx.repl.link {
        if l.host.eq_ignore_ascii_case(&host) && l.port == port as u16 {
            ctx.out.simple("OK Already connected to specified master");
            return Ok(());
        }
    }
    set_master(ctx, host.clone(), port as u16);
    ctx.effects.log.push((
        LogLevel::Notice,
        format!("REPLICAOF {host}:{port} enabled (user request from '{who}')"),
    ));
    ctx.out.ok();
    Ok(())
}

/// The pieces of server state a role change touches (from a command's
/// `Ctx` or from the `Server` itself, e.g. FAILOVER progressing in cron).
pub struct Parts<'a> {
    pub repl: &'a mut Repl,
    pub ks: &'a mut crate::db::Keyspace,
    pub clients: &'a mut crate::server::Clients,
    pub cfg: &'a crate::config::Config,
    pub effects: &'a mut crate::server::Effects,
}

impl<'a> Parts<'a> {
    fn of_ctx(ctx: &'a mut Ctx<'_>) -> Parts<'a> {
        Parts {
            repl: &mut *ctx.repl,
            ks: &mut *ctx.ks,
            clients: &mut *ctx.clients,
            cfg: &*ctx.cfg,
            effects: &mut *ctx.effects,
        }
    }
}

/// Become a replica of host:port (Redis's replicationSetMaster).
pub fn set_master(ctx: &mut Ctx, host: String, port: u16) {
    set_master_parts(&mut Parts::of_ctx(ctx), host, port);
}

pub fn set_master_parts(ctx: &mut Parts, host: String, port: u16) {
    let r = &mut *ctx.repl;
    let (psync_replid, psync_offset) = match r.link.take() {
        // Switching masters: keep the history we hold, for a PSYNC2
        // partial resync with the new master.
        Some(l) => {
            if let Some(h) = l.master_h {
                ctx.effects.kill.push(ctx.clients.get(h).id);
                ctx.clients.get_mut(h).is_master = false;
            }
            if l.state == LinkState::Connected {
                (r.replid.clone(), r.master_repl_offset as i64)
            } else {
                (l.psync_replid, l.psync_offset)
            }
        }
        // A master turning replica: its own history (Redis's
        // replicationCacheMasterUsingMyself).
        None => (r.replid.clone(), r.master_repl_offset as i64),
    };
    // Clients blocked in WAIT or on keys are released (Redis's
    // disconnectAllBlockedClients): nothing they wait for will come.
    for w in std::mem::take(&mut r.waiters) {
        if let Some(c) = ctx.clients.try_get_mut(w.h) {
            let mut rep = Reply {
                buf: Vec::new(),
                resp3: c.resp3,
            };
            rep.error("UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)");
            c.pending.extend_from_slice(&rep.buf);
            crate::blocking::unblock(ctx.ks, ctx.clients, w.h);
            ctx.clients.wake.push(w.h);
        }
    }
    r.link_gen += 1;
    r.link = Some(Link {
        host,
        port,
        gen: r.link_gen,
        state: LinkState::Connect,
        inbuf: Vec::new(),
        rdb: Vec::new(),
        eof_mark: None,
        rdb_len: None,
        master_h: None,
        out: Vec::new(),
        last_io_ms: ctx.ks.now_ms,
        down_since_ms: ctx.ks.now_ms,
        state_since_ms: ctx.ks.now_ms,
        psync_replid,
        psync_offset,
        full: None,
        parser: RequestParser::new(),
        last_ack_ms: 0,
        psync_failover: false,
    });
    ctx.ks.replica_hide = ctx.cfg.replica_read_only;
    ctx.effects.repl_link = true;
}

/// Stop replicating (REPLICAOF NO ONE): a new history starts here, the
/// master's kept as replid2 so its other replicas can PSYNC to us.
fn unset_master(ctx: &mut Ctx) {
    unset_master_parts(&mut Parts::of_ctx(ctx));
}

fn unset_master_parts(ctx: &mut Parts) {
    let r = &mut *ctx.repl;
    let Some(l) = r.link.take() else {
        return;
    };
    if let Some(h) = l.master_h {
        ctx.effects.kill.push(ctx.clients.get(h).id);
        ctx.clients.get_mut(h).is_master = false;
    }
    if l.state != LinkState::Connected && l.psync_offset >= 0 && l.psync_replid != "?" {
        // Promoted while disconnected: our data is the cached master's.
        r.replid = l.psync_replid.clone();
        r.master_repl_offset = l.psync_offset as u64;
    }
    let id = ctx.ks.rng.hex40();
    r.shift_replid(id);
    if let Some(f) = r.promotion_observer.as_mut() {
        f(&r.replid, &r.replid2, r.master_repl_offset);
    }
    #[cfg(madsim)]
    if r.planted & crate::planted::FORGET_REPLID2 != 0 {
        r.clear_replid2();
    }
    if r.backlog.is_none() {
        r.backlog = Some(Backlog::new(backlog_size(ctx.cfg)));
        enable_prop(ctx.ks);
    }
    // Sub-replicas reconnect and continue from replid2 (PSYNC2).
    for rep in &r.replicas {
        ctx.effects.kill.push(rep.id);
    }
    r.seldb = None;
    r.link_gen += 1;
    ctx.ks.replica_hide = false;
    ctx.effects.repl_link = true;
}

pub fn backlog_size(cfg: &crate::config::Config) -> usize {
    cfg.repl_backlog_size
}

/// REPLCONF <option> <value> ...
pub fn replconf(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() % 2 == 0 {
        return Err(CmdError::msg("ERR syntax error"));
    }
    let h = ctx.h;
    let mut i = 1;
    while i < argv.len() {
        let opt = argv[i].to_ascii_lowercase();
        let val = argv[i + 1];
        match opt.as_slice() {
            b"listening-port" => {
                let p = crate::util::parse_i64(val)
                    .ok_or_else(|| CmdError::msg("ERR value is not an integer or out of range"))?;
                ctx.clients.get_mut(h).announce.port = p.clamp(0, 65535) as u16;
            }
            b"ip-address" => {
                ctx.clients.get_mut(h).announce.ip = Some(arg_str(val));
            }
            b"capa" => {
                let a = &mut ctx.clients.get_mut(h).announce;
                if val.eq_ignore_ascii_case(b"eof") {
                    a.capa_eof = true;
                } else if val.eq_ignore_ascii_case(b"psync2") {
                    a.capa_psync2 = true;
                }
            }
            b"ack" => {
                // From a replica: no reply.
                let off = crate::util::parse_i64(val).unwrap_or(0).max(0) as u64;
                let now = ctx.ks.now_ms;
                if let Some(r) = ctx.repl.replica_mut(h) {
                    if off > r.ack_off {
                        r.ack_off = off;
                    }
                    r.ack_ms = now;
                    if r.state == ReplicaState::WaitAck {
                        // Loaded: the stream since the snapshot follows.
                        r.state = ReplicaState::Online;
                        let tail = std::mem::take(&mut r.tail);
                        let c = ctx.clients.get_mut(h);
                        c.pending.extend_from_slice(&tail);
                        ctx.clients.wake.push(h);
                    }
                    ctx.repl.acks_changed = true;
                }
                ctx.clients.get_mut(h).no_reply_once = true;
                return Ok(());
            }
            b"getack" => {
                // From our master: answer on the link, not as a reply.
                if ctx.clients.get(h).is_master {
                    let off = ctx.repl.master_repl_offset.to_string();
                    if let Some(l) = ctx.repl.link.as_mut() {
                        l.out
                            .extend_from_slice(&cmd_bytes(&["REPLCONF", "ACK", &off]));
                        ctx.effects.repl_link = true;
                    }
                }
                ctx.clients.get_mut(h).no_reply_once = true;
                return Ok(());
            }
            b"rdb-only" | b"rdb-filter-only" => {}
            _ => {
                return Err(CmdError::msg(format!(
                    "ERR Unrecognized REPLCONF option: {}",
                    arg_str(argv[i])
                )))
            }
        }
        i += 2;
    }
    ctx.out.ok();
    Ok(())
}

/// PSYNC replid offset: partial resync from the backlog, or a full sync.
pub fn psync(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        if !argv[3].eq_ignore_ascii_case(b"failover") || argv.len() > 4 {
            return Err(CmdError::Syntax);
        }
        // Our master hands over (its FAILOVER): promote, then serve its
        // PSYNC from the history we share (replid2).
        if !ctx.repl.is_replica() {
            return Err(CmdError::msg(
                "ERR PSYNC FAILOVER can't be sent to a master.",
            ));
        }
        if argv[1] != ctx.repl.replid.as_bytes() {
            return Err(CmdError::msg(
                "ERR PSYNC FAILOVER replid must match my replid.",
            ));
        }
        unset_master(ctx);
        ctx.effects.log.push((
            LogLevel::Notice,
            format!(
                "Failover request received for replid {}.",
                String::from_utf8_lossy(argv[1])
            ),
        ));
    }
    sync_request(ctx, Some((argv[1], argv[2])))
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: hand the master
/// role to a replica without losing writes (Redis 6.2's coordinated
/// failover): client writes pause, the target catches up, we become its
/// replica with `PSYNC ... FAILOVER`, it promotes itself.
pub fn failover(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 2 && argv[1].eq_ignore_ascii_case(b"abort") {
        if ctx.repl.failover.is_none() {
            return Err(CmdError::msg("ERR No failover in progress."));
        }
        ctx.repl.abort_failover_requested = Some("Failover manually aborted".into());
        ctx.out.ok();
        return Ok(());
    }
    let mut to: Option<(String, i64)> = None;
    let mut force = false;
    let mut timeout: Option<i64> = None;
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i];
        if a.eq_ignore_ascii_case(b"timeout") && i + 1 < argv.len() {
            let t = crate::util::parse_i64(argv[i + 1]).ok_or(CmdError::NotInteger)?;
            if t <= 0 {
                return Err(CmdError::msg("ERR FAILOVER timeout must be greater than 0"));
            }
            timeout = Some(t);
            i += 2;
        } else if a.eq_ignore_ascii_case(b"to") && i + 2 < argv.len() {
            let p = crate::util::parse_i64(argv[i + 2]).ok_or(CmdError::NotInteger)?;
            to = Some((arg_str(argv[i + 1]), p));
            i += 3;
        } else if a.eq_ignore_ascii_case(b"force") {
            force = true;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if ctx.repl.failover.is_some() {
        return Err(CmdError::msg("ERR FAILOVER already in progress."));
    }
    if ctx.repl.is_replica() {
        return Err(CmdError::msg(
            "ERR FAILOVER is not valid when server is a replica.",
        ));
    }
    if ctx.repl.replicas.is_empty() {
        return Err(CmdError::msg("ERR FAILOVER requires connected replicas."));
    }
    if force && (timeout.is_none() || to.is_none()) {
        return Err(CmdError::msg(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    let target = match to {
        Some((host, port)) => {
            let r = ctx
                .repl
                .replicas
                .iter()
                .find(|x| x.ip == host && i64::from(x.listening_port) == port)
                .ok_or_else(|| {
                    CmdError::msg("ERR FAILOVER target HOST and PORT is not a replica.")
                })?;
            if r.state != ReplicaState::Online {
                return Err(CmdError::msg("ERR FAILOVER target replica is not online."));
            }
            Some((host, port as u16))
        }
        None => None,
    };
    let deadline_ms = timeout.map_or(0, |t| ctx.ks.now_ms.saturating_add(t));
    let what = target
        .as_ref()
        .map_or("any replica".to_string(), |(h, p)| format!("{h}:{p}"));
    ctx.effects
        .log
        .push((LogLevel::Notice, format!("FAILOVER requested to {what}.")));
    ctx.repl.failover = Some(Failover {
        target,
        force,
        deadline_ms,
        state: FailoverState::WaitingForSync,
    });
    // Paused: reads must not expire keys either (no DEL may enter the
    // stream while the target catches up).
    ctx.ks.replica_hide = true;
    ctx.out.ok();
    Ok(())
}

/// SYNC: the old protocol, always a full sync.
pub fn sync(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    sync_request(ctx, None)
}

fn sync_request(ctx: &mut Ctx, psync: Option<(&[u8], &[u8])>) -> CmdResult {
    let h = ctx.h;
    if ctx.clients.get(h).is_replica {
        return Ok(());
    }
    if ctx.repl.is_replica() && !ctx.repl.link_up() {
        return Err(CmdError::msg(
            "NOMASTERLINK Can't SYNC while not connected with my master",
        ));
    }
    let now = ctx.ks.now_ms;
    let (ann, id, addr) = {
        let c = ctx.clients.get_mut(h);
        c.is_replica = true;
        c.no_reply_once = true;
        (c.announce.clone(), c.id, c.addr.clone())
    };
    let ip = ann.ip.clone().unwrap_or_else(|| {
        addr.rsplit_once(':').map_or(addr.clone(), |(ip, _)| {
            ip.trim_matches(['[', ']']).to_string()
        })
    });
    let mut info = ReplicaInfo {
        h,
        id,
        state: ReplicaState::WaitBgsave,
        ack_off: 0,
        ack_ms: now,
        listening_port: ann.port,
        ip,
        capa_eof: ann.capa_eof,
        capa_psync2: ann.capa_psync2,
        old_sync: psync.is_none(),
        tail: Vec::new(),
        bulk: None,
        since_ms: now,
    };
    let r = &mut *ctx.repl;
    if let Some((id_arg, off_arg)) = psync {
        let off = crate::util::parse_i64(off_arg).unwrap_or(-1);
        let same = id_arg == r.replid.as_bytes()
            || (id_arg == r.replid2.as_bytes() && off <= r.second_replid_offset);
        let first = r.backlog_first_byte() as i64;
        let histlen = r.backlog.as_ref().map_or(0, |b| b.histlen) as i64;
        if same && r.backlog.is_some() && off >= first && off <= first + histlen {
            // +CONTINUE and the bytes it misses.
            let c = ctx.clients.get_mut(h);
            if info.capa_psync2 {
                c.pending
                    .extend_from_slice(format!("+CONTINUE {}\r\n", r.replid).as_bytes());
            } else {
                c.pending.extend_from_slice(b"+CONTINUE\r\n");
            }
            let missing = (r.master_repl_offset as i64 + 1 - off).max(0) as usize;
            if let Some(b) = &r.backlog {
                b.tail(missing, &mut c.pending);
            }
            ctx.clients.wake.push(h);
            info.state = ReplicaState::Online;
            info.ack_off = off.max(1) as u64 - 1;
            r.sync_partial_ok += 1;
            ctx.effects.log.push((
                LogLevel::Notice,
                format!(
                    "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {}.",
                    addr, missing, off
                ),
            ));
            r.replicas.push(info);
            return Ok(());
        }
        // Redis's texts for why the partial resync was refused.
        let why = if id_arg == b"?" {
            format!("Full resync requested by replica {addr}")
        } else if !same {
            format!(
                "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{}', my replication IDs are '{}' and '{}')",
                String::from_utf8_lossy(id_arg),
                r.replid,
                r.replid2
            )
        } else {
            format!(
                "Unable to partial resync with replica {addr} for lack of backlog (Replica request was: {off})."
            )
        };
        if id_arg != b"?" {
            r.sync_partial_err += 1;
        }
        ctx.effects.log.push((LogLevel::Notice, why));
    }
    if r.backlog.is_none() {
        // The first replica ever: a fresh history (Redis does this too, so
        // no replica can claim a history we never had).
        if r.replicas.is_empty() {
            r.replid = ctx.ks.rng.hex40();
            r.clear_replid2();
        }
        r.backlog = Some(Backlog::new(backlog_size(ctx.cfg)));
        enable_prop(ctx.ks);
    }
    r.replicas.push(info);
    r.sync_full += 1;
    ctx.effects.repl_sync = true;
    Ok(())
}

/// WAIT numreplicas timeout.
pub fn wait(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if ctx.repl.is_replica() {
        return Err(CmdError::msg("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let num = crate::util::parse_i64(argv[1])
        .ok_or_else(|| CmdError::msg("ERR value is not an integer or out of range"))?;
    let timeout = crate::util::parse_i64(argv[2])
        .ok_or_else(|| CmdError::msg("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    let woff = ctx.clients.get(ctx.h).woff;
    let acked = ctx.repl.acked(woff);
    if ctx.in_exec || acked as i64 >= num {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    let deadline_ms = if timeout == 0 {
        0
    } else {
        ctx.ks.now_ms.saturating_add(timeout)
    };
    let h = ctx.h;
    let cmd = ctx.clients.get(h).last_cmd.unwrap_or(0);
    let c = ctx.clients.get_mut(h);
    c.blocked = Some(Box::new(crate::blocking::Blocked {
        db: ctx.db,
        keys: Vec::new(),
        timeout_at_ms: 0,
        argv: argv.iter().map(|a| a.to_vec()).collect(),
        cmd,
        reblocked: false,
    }));
    ctx.clients.blocked += 1;
    ctx.repl.waiters.push(Waiter {
        h,
        woff,
        num: num.max(0) as usize,
        deadline_ms,
    });
    ctx.repl.get_ack = true;
    ctx.effects.timers_changed = true;
    Ok(())
}

/// ROLE.
pub fn role(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let r = &*ctx.repl;
    let out = &mut *ctx.out;
    match &r.link {
        None => {
            out.array(3);
            out.bulk(b"master");
            out.int(r.master_repl_offset as i64);
            let online: Vec<&ReplicaInfo> = r
                .replicas
                .iter()
                .filter(|x| x.state == ReplicaState::Online)
                .collect();
            out.array(online.len());
            for x in online {
                out.array(3);
                out.bulk(x.ip.as_bytes());
                out.bulk(x.listening_port.to_string().as_bytes());
                out.bulk(x.ack_off.to_string().as_bytes());
            }
        }
        Some(l) => {
            out.array(5);
            out.bulk(b"slave");
            out.bulk(l.host.as_bytes());
            out.int(i64::from(l.port));
            let st: &[u8] = match l.state {
                LinkState::Connect => b"connect",
                LinkState::Connecting => b"connecting",
                LinkState::Handshake(_) => b"handshake",
                LinkState::Transfer => b"sync",
                LinkState::Connected => b"connected",
            };
            out.bulk(st);
            let off = if l.state == LinkState::Connected {
                r.master_repl_offset as i64
            } else {
                -1
            };
            out.int(off);
        }
    }
    Ok(())
}

/// INFO replication's body (after the "# Replication" header).
pub fn info_fields(srv: &Ctx, out: &mut String) {
    use std::fmt::Write;
    let r = &*srv.repl;
    let now = srv.ks.now_ms;
    let mut f = |s: String| {
        out.push_str(&s);
        out.push_str("\r\n");
    };
    match &r.link {
        None => f("role:master".into()),
        Some(l) => {
            f("role:slave".into());
            f(format!("master_host:{}", l.host));
            f(format!("master_port:{}", l.port));
            let up = l.state == LinkState::Connected;
            f(format!(
                "master_link_status:{}",
                if up { "up" } else { "down" }
            ));
            let io = if up || l.state == LinkState::Transfer {
                (now - l.last_io_ms) / 1000
            } else {
                -1
            };
            f(format!("master_last_io_seconds_ago:{io}"));
            let syncing = l.state == LinkState::Transfer;
            f(format!("master_sync_in_progress:{}", u8::from(syncing)));
            let off = if up {
                r.master_repl_offset as i64
            } else {
                l.psync_offset.max(0)
            };
            f(format!("slave_read_repl_offset:{off}"));
            f(format!("slave_repl_offset:{off}"));
            if syncing {
                let total = l.rdb_len.map_or(-1, |n| n as i64);
                let read = l.rdb.len() as i64;
                f(format!("master_sync_total_bytes:{total}"));
                f(format!("master_sync_read_bytes:{read}"));
                f(format!(
                    "master_sync_left_bytes:{}",
                    if total < 0 { -1 } else { total - read }
                ));
                let perc = if total > 0 {
                    read as f64 * 100.0 / total as f64
                } else {
                    0.0
                };
                f(format!("master_sync_perc:{perc:.2}"));
                f(format!(
                    "master_sync_last_io_seconds_ago:{}",
                    (now - l.last_io_ms) / 1000
                ));
            }
            if !up {
                f(format!(
                    "master_link_down_since_seconds:{}",
                    (now - l.down_since_ms) / 1000
                ));
            }
            f(format!(
                "slave_priority:{}",
                srv.cfg.get("replica-priority").unwrap_or("100")
            ));
            f(format!(
                "slave_read_only:{}",
                u8::from(srv.cfg.replica_read_only)
            ));
            f(format!(
                "replica_announced:{}",
                u8::from(srv.cfg.get("replica-announced") != Some("no"))
            ));
        }
    }
    f(format!("connected_slaves:{}", r.replicas.len()));
    if srv.cfg.min_replicas_to_write > 0 {
        // Counted now, as writes count them (not a cron-refreshed figure).
        let good = r.good_replicas_at(now, srv.cfg.min_replicas_max_lag_s);
        f(format!("min_slaves_good_slaves:{good}"));
    }
    for (i, x) in r.replicas.iter().enumerate() {
        let state = match x.state {
            ReplicaState::WaitBgsave => "wait_bgsave",
            ReplicaState::SendBulk | ReplicaState::WaitAck => "send_bulk",
            ReplicaState::Online => "online",
        };
        let mut s = String::new();
        let _ = write!(
            s,
            "slave{i}:ip={},port={},state={state},offset={},lag={}",
            x.ip,
            x.listening_port,
            x.ack_off,
            (now - x.ack_ms) / 1000
        );
        f(s);
    }
    f(format!(
        "master_failover_state:{}",
        match r.failover.as_ref().map(|f| f.state) {
            None => "no-failover",
            Some(FailoverState::WaitingForSync) => "waiting-for-sync",
            Some(FailoverState::InProgress) => "failover-in-progress",
        }
    ));
    f(format!("master_replid:{}", r.replid));
    f(format!("master_replid2:{}", r.replid2));
    f(format!("master_repl_offset:{}", r.master_repl_offset));
    f(format!("second_repl_offset:{}", r.second_replid_offset));
    f(format!(
        "repl_backlog_active:{}",
        u8::from(r.backlog.is_some())
    ));
    f(format!(
        "repl_backlog_size:{}",
        r.backlog
            .as_ref()
            .map_or(backlog_size(srv.cfg), |b| b.size())
    ));
    f(format!(
        "repl_backlog_first_byte_offset:{}",
        r.backlog_first_byte()
    ));
    f(format!(
        "repl_backlog_histlen:{}",
        r.backlog.as_ref().map_or(0, |b| b.histlen)
    ));
}

// ---------------------------------------------------------------------------
// The server's side: feeding the stream, syncs, the replica link.

impl Server {
    /// Append stream bytes: backlog, online replicas, tails of replicas
    /// being synced.
    fn repl_feed_bytes(&mut self, data: &[u8]) {
        let r = &mut self.repl;
        let Some(b) = r.backlog.as_mut() else {
            return;
        };
        b.feed(data);
        r.master_repl_offset += data.len() as u64;
        for x in &mut r.replicas {
            match x.state {
                ReplicaState::WaitBgsave => {}
                ReplicaState::SendBulk | ReplicaState::WaitAck => {
                    x.tail.extend_from_slice(data);
                    if x.tail.len() > REPLICA_OUT_HARD_BYTES {
                        self.clients.kill_asap.push(x.id);
                    }
                }
                ReplicaState::Online => {
                    if let Some(c) = self.clients.try_get_mut(x.h) {
                        c.pending.extend_from_slice(data);
                        if c.pending.len() > REPLICA_OUT_HARD_BYTES {
                            self.clients.kill_asap.push(x.id);
                        }
                        self.clients.wake.push(x.h);
                    }
                }
            }
        }
    }

    /// Feed one command of the effect stream (SELECT first if needed).
    fn repl_feed_cmd(&mut self, db: usize, argv: &[Vec<u8>]) {
        let mut buf = std::mem::take(&mut self.repl.scratch);
        buf.clear();
        if self.repl.seldb != Some(db) {
            encode_resp(&mut buf, &[b"SELECT".to_vec(), db.to_string().into_bytes()]);
            self.repl.seldb = Some(db);
        }
        encode_resp(&mut buf, argv);
        self.repl_feed_bytes(&buf);
        self.repl.scratch = buf;
    }

    /// The effect stream of the last command(s) into the replication
    /// stream (masters only: a replica proxies its master's bytes).
    /// Only `effects.propagate[start..]` is new: earlier entries of a batch
    /// were fed when their command ran (feeding the whole batch again
    /// duplicated every pipelined write on the replicas).
    pub(crate) fn feed_replication(&mut self, start: usize) {
        if self.repl.backlog.is_none() || self.repl.applying || self.repl.is_replica() {
            return;
        }
        let cmds = std::mem::take(&mut self.effects.propagate);
        for p in &cmds[start..] {
            self.repl_feed_cmd(p.db, &p.argv);
        }
        self.effects.propagate = cmds;
    }

    /// Work handlers asked for, after a command: GETACKs for WAIT, WAIT
    /// replies, sync starts.
    pub(crate) fn repl_after_command(&mut self) {
        if self.repl.get_ack {
            self.repl.get_ack = false;
            if !self.repl.replicas.is_empty() {
                let g = cmd_bytes(&["REPLCONF", "GETACK", "*"]);
                self.repl_feed_bytes(&g);
            }
        }
        if self.repl.acks_changed {
            self.repl.acks_changed = false;
            self.check_waiters();
        }
        if self.repl.drop_link {
            self.repl.drop_link = false;
            self.repl_link_drop("Connection with master lost.");
        }
        if self.effects.repl_sync {
            self.repl_maybe_start_sync();
        }
        if self.repl.failover.is_some() || self.repl.abort_failover_requested.is_some() {
            self.failover_progress();
        }
    }

    /// The state a role change touches (see `Parts`).
    fn parts(&mut self) -> Parts<'_> {
        Parts {
            repl: &mut self.repl,
            ks: &mut self.ks,
            clients: &mut self.clients,
            cfg: &self.cfg,
            effects: &mut self.effects,
        }
    }

    /// Move a FAILOVER along: switch once the target acknowledged our
    /// offset (or its time is up with FORCE), give up at the deadline.
    pub(crate) fn failover_progress(&mut self) {
        if let Some(why) = self.repl.abort_failover_requested.take() {
            self.abort_failover(&why);
            return;
        }
        let now = self.ks.now_ms;
        let Some(f) = self.repl.failover.as_ref() else {
            return;
        };
        let late = f.deadline_ms > 0 && now >= f.deadline_ms;
        match f.state {
            FailoverState::WaitingForSync => {
                let off = self.repl.master_repl_offset;
                let target = match &f.target {
                    Some((h, p)) => self
                        .repl
                        .replicas
                        .iter()
                        .find(|x| &x.ip == h && x.listening_port == *p),
                    None => self
                        .repl
                        .replicas
                        .iter()
                        .filter(|x| x.state == ReplicaState::Online)
                        .max_by_key(|x| x.ack_off),
                };
                let synced =
                    target.is_some_and(|x| x.state == ReplicaState::Online && x.ack_off >= off);
                let addr = target.map(|x| (x.ip.clone(), x.listening_port));
                let force = f.force;
                match addr {
                    Some((host, port)) if synced || (late && force) => {
                        self.effects.log.push((
                            LogLevel::Notice,
                            format!("Failover target {host}:{port} is synced, failing over."),
                        ));
                        set_master_parts(&mut self.parts(), host, port);
                        if let Some(l) = self.repl.link.as_mut() {
                            l.psync_failover = true;
                        }
                        if let Some(f) = self.repl.failover.as_mut() {
                            f.state = FailoverState::InProgress;
                        }
                    }
                    None => self.abort_failover("the target replica is gone"),
                    _ if late => self.abort_failover("Replica never caught up before timeout"),
                    _ => {}
                }
            }
            FailoverState::InProgress => {
                if late {
                    self.abort_failover("Failover target reached timeout");
                }
            }
        }
    }

    /// Give up a FAILOVER: master again (if we had switched), writes resume.
    fn abort_failover(&mut self, why: &str) {
        let Some(f) = self.repl.failover.take() else {
            return;
        };
        self.effects
            .log
            .push((LogLevel::Warning, format!("FAILOVER aborted: {why}")));
        if f.state == FailoverState::InProgress {
            unset_master_parts(&mut self.parts());
        }
        self.ks.replica_hide = self.repl.is_replica() && self.cfg.replica_read_only;
        self.unpause_writes();
    }

    /// Run the writes held during a FAILOVER (after it: on a replica they
    /// fail with -READONLY, as in Redis; after an abort they run).
    fn unpause_writes(&mut self) {
        let now = self.ks.now_ms;
        for (h, argv) in std::mem::take(&mut self.repl.paused) {
            let Some(c) = self.clients.try_get_mut(h) else {
                continue;
            };
            if c.blocked.is_none() {
                continue;
            }
            crate::blocking::unblock(&mut self.ks, &mut self.clients, h);
            let mut out = Reply::new();
            let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
            self.execute(h, &args, now, &mut out);
            if let Some(c) = self.clients.try_get_mut(h) {
                c.pending.extend_from_slice(&out.buf);
                self.clients.wake.push(h);
            }
        }
        self.flush_wakes();
    }

    /// Hold client `h`'s write while a FAILOVER runs (Redis pauses write
    /// clients). True when it was held (no reply now).
    pub(crate) fn pause_write(&mut self, h: ClientHandle, cmd: usize, argv: &[&[u8]]) -> bool {
        if self.repl.failover.is_none() {
            return false;
        }
        let owned: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
        let c = self.clients.get_mut(h);
        c.blocked = Some(Box::new(crate::blocking::Blocked {
            db: c.db,
            keys: Vec::new(),
            timeout_at_ms: 0,
            argv: owned.clone(),
            cmd,
            reblocked: false,
        }));
        self.clients.blocked += 1;
        self.repl.paused.push((h, owned));
        true
    }

    /// Reply to WAIT clients whose replicas caught up or whose time is up.
    pub(crate) fn check_waiters(&mut self) {
        if self.repl.waiters.is_empty() {
            return;
        }
        let now = self.ks.now_ms;
        let waiters = std::mem::take(&mut self.repl.waiters);
        let mut keep = Vec::with_capacity(waiters.len());
        for w in waiters {
            let Some(c) = self.clients.try_get_mut(w.h) else {
                continue;
            };
            if c.blocked.is_none() {
                continue; // unblocked by CLIENT UNBLOCK or gone
            }
            let acked = self.repl.acked(w.woff);
            if acked >= w.num || (w.deadline_ms > 0 && now >= w.deadline_ms) {
                let mut rep = Reply {
                    buf: Vec::new(),
                    resp3: c.resp3,
                };
                rep.int(acked as i64);
                c.pending.extend_from_slice(&rep.buf);
                crate::blocking::unblock(&mut self.ks, &mut self.clients, w.h);
                self.clients.wake.push(w.h);
            } else {
                keep.push(w);
            }
        }
        self.repl.waiters = keep;
    }

    /// Earliest WAIT deadline.
    pub fn next_wait_deadline(&self) -> Option<i64> {
        self.repl
            .waiters
            .iter()
            .filter(|w| w.deadline_ms > 0)
            .map(|w| w.deadline_ms)
            .min()
    }

    /// Start streaming a snapshot to the replicas waiting for one, unless a
    /// background job runs (they wait for it) or the diskless delay has
    /// not passed.
    fn repl_maybe_start_sync(&mut self) {
        self.effects.repl_sync = false;
        if self.persist.busy() {
            return;
        }
        let now = self.ks.now_ms;
        let delay_ms = self.cfg.repl_diskless_sync_delay_s * 1000;
        let oldest = self
            .repl
            .replicas
            .iter()
            .filter(|x| x.state == ReplicaState::WaitBgsave)
            .map(|x| x.since_ms)
            .min();
        let Some(oldest) = oldest else {
            return;
        };
        if now - oldest < delay_ms {
            return;
        }
        let offset = self.repl.master_repl_offset;
        let mark = self.ks.rng.hex40();
        let replid = self.repl.replid.clone();
        let aux_extra = vec![
            ("repl-stream-db".to_string(), "0".to_string()),
            ("repl-id".to_string(), replid.clone()),
            ("repl-offset".to_string(), offset.to_string()),
        ];
        let mut n = 0;
        for x in &mut self.repl.replicas {
            if x.state != ReplicaState::WaitBgsave {
                continue;
            }
            let Some(c) = self.clients.try_get_mut(x.h) else {
                continue;
            };
            if !x.old_sync {
                c.pending
                    .extend_from_slice(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes());
            }
            if x.capa_eof {
                c.pending
                    .extend_from_slice(format!("$EOF:{mark}\r\n").as_bytes());
            } else {
                x.bulk = Some(Vec::new());
            }
            x.state = ReplicaState::SendBulk;
            x.tail.clear();
            self.clients.wake.push(x.h);
            n += 1;
        }
        if n == 0 {
            return;
        }
        self.effects.log.push((
            LogLevel::Notice,
            format!("Starting BGSAVE for SYNC with target: replicas sockets ({n} replicas)"),
        ));
        // The next command goes to every replica after a SELECT.
        self.repl.seldb = None;
        let sink = crate::persist::repl_sink(&self.ks, &self.cfg, &self.env, aux_extra);
        self.ks.begin_snapshot(Box::new(sink));
        self.persist.job = Some(crate::persist::BgJob::new_repl(now, mark));
        // The shell's timer task steps background jobs: wake it now.
        self.effects.timers_changed = true;
    }

    /// True while a snapshot for replicas waits for them to drain their
    /// output (the shell then steps it on a timer, not in a busy loop).
    pub fn repl_sync_stalled(&self) -> bool {
        self.persist.job_kind() == Some(crate::persist::JobKind::ReplSync)
            && self.repl.replicas.iter().any(|x| {
                x.state == ReplicaState::SendBulk
                    && x.bulk.is_none()
                    && self
                        .clients
                        .try_get(x.h)
                        .is_some_and(|c| c.pending.len() > SYNC_PAUSE_BYTES)
            })
    }

    /// One step of a snapshot streamed to replicas. Returns true while the
    /// job runs.
    pub(crate) fn repl_sync_step(&mut self, budget: usize) -> bool {
        if self.repl_sync_stalled() {
            return true;
        }
        let Some(job) = self.persist.job.take() else {
            return false;
        };
        let done = self.ks.snapshot_step(budget);
        let aborted = self.ks.snapshot.as_ref().is_some_and(|s| s.aborted);
        let mut chunk = Vec::new();
        if let Some(s) = self.ks.snapshot.as_mut() {
            if done && !aborted {
                s.sink.finish(&mut chunk);
            } else {
                s.sink.drain(&mut chunk);
            }
        }
        let mark = job.tmp().to_string();
        let now = self.ks.now_ms;
        let mut targets = 0;
        for x in &mut self.repl.replicas {
            if x.state != ReplicaState::SendBulk {
                continue;
            }
            let Some(c) = self.clients.try_get_mut(x.h) else {
                continue;
            };
            targets += 1;
            if aborted {
                // A FLUSHALL/SWAPDB during the walk: start over.
                x.state = ReplicaState::WaitBgsave;
                x.since_ms = i64::MIN / 2;
                self.clients.kill_asap.push(x.id);
                continue;
            }
            match x.bulk.as_mut() {
                Some(b) => b.extend_from_slice(&chunk),
                None => c.pending.extend_from_slice(&chunk),
            }
            if done {
                if let Some(b) = x.bulk.take() {
                    c.pending
                        .extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
                    c.pending.extend_from_slice(&b);
                    c.pending.append(&mut x.tail);
                    x.state = ReplicaState::Online;
                } else {
                    c.pending.extend_from_slice(mark.as_bytes());
                    x.state = ReplicaState::WaitAck;
                }
                x.ack_ms = now;
                self.effects.log.push((
                    LogLevel::Notice,
                    format!(
                        "Synchronization with replica {}:{} succeeded",
                        x.ip, x.listening_port
                    ),
                ));
            }
            self.clients.wake.push(x.h);
        }
        if aborted || done || targets == 0 {
            // Finished, aborted, or nobody left to send it to.
            self.ks.snapshot = None;
            self.effects.repl_sync = true;
            self.flush_wakes();
            return false;
        }
        self.persist.job = Some(job);
        self.flush_wakes();
        true
    }

    /// A client went away: forget it as a replica or WAIT client.
    pub(crate) fn repl_client_gone(&mut self, h: ClientHandle) {
        let before = self.repl.replicas.len();
        self.repl.replicas.retain(|x| x.h != h);
        if self.repl.replicas.len() != before {
            self.repl.acks_changed = true;
        }
        self.repl.waiters.retain(|w| w.h != h);
        if let Some(l) = self.repl.link.as_mut() {
            if l.master_h == Some(h) {
                // The master client was killed (CLIENT KILL TYPE master):
                // the link restarts.
                l.master_h = None;
                self.repl_link_drop("master client killed");
            }
        }
    }

    /// Periodic replication work (from cron).
    pub(crate) fn repl_cron(&mut self) {
        let now = self.ks.now_ms;
        let timeout_ms = self.cfg.repl_timeout_s * 1000;
        // Replica: acknowledge once a second; give up on a silent master.
        let mut drop_reason = None;
        if let Some(l) = self.repl.link.as_mut() {
            match l.state {
                LinkState::Connected => {
                    if now - l.last_ack_ms >= 1000 {
                        l.last_ack_ms = now;
                        let off = self.repl.master_repl_offset.to_string();
                        l.out
                            .extend_from_slice(&cmd_bytes(&["REPLCONF", "ACK", &off]));
                        self.effects.repl_link = true;
                    }
                    if now - l.last_io_ms > timeout_ms {
                        drop_reason = Some("MASTER timeout: no data nor PING received...");
                    }
                }
                LinkState::Connecting | LinkState::Handshake(_) | LinkState::Transfer => {
                    if now - l.last_io_ms > timeout_ms {
                        drop_reason = Some("Timeout connecting to the MASTER...");
                    }
                }
                LinkState::Connect => {}
            }
        }
        if let Some(why) = drop_reason {
            self.repl_link_drop(why);
        }
        // Master: ping replicas, drop silent ones.
        if self.repl.failover.is_some() {
            self.failover_progress();
        }
        // While a FAILOVER waits for the target, the stream stays still.
        if !self.repl.replicas.is_empty() && !self.repl.is_replica() && self.repl.failover.is_none()
        {
            let period_ms = self.cfg.repl_ping_replica_period_s * 1000;
            if now - self.repl.last_ping_ms >= period_ms {
                self.repl.last_ping_ms = now;
                let p = cmd_bytes(&["PING"]);
                self.repl_feed_bytes(&p);
            }
        }
        for x in &self.repl.replicas {
            if x.state == ReplicaState::Online && now - x.ack_ms > timeout_ms {
                self.effects.log.push((
                    LogLevel::Warning,
                    format!(
                        "Disconnecting timedout replica (streaming sync): {}:{}",
                        x.ip, x.listening_port
                    ),
                ));
                self.effects.kill.push(x.id);
            }
        }
        if self
            .repl
            .replicas
            .iter()
            .any(|x| x.state == ReplicaState::WaitBgsave)
        {
            self.repl_maybe_start_sync();
        }
        self.check_waiters();
    }

    /// `replicaof <host> <port>` from the config file or flags: start as a
    /// replica (as REPLICAOF would).
    pub fn replicaof_from_config(&mut self) {
        let Some(v) = self.cfg.get("replicaof").filter(|v| !v.is_empty()) else {
            return;
        };
        let parts: Vec<String> = v.split_whitespace().map(str::to_string).collect();
        if parts.len() != 2 {
            self.effects.log.push((
                LogLevel::Warning,
                format!("Ignoring replicaof '{v}': expected <host> <port>"),
            ));
            return;
        }
        let now = self.ks.now_ms;
        let h = self.new_client("config".into(), String::new(), -1, now);
        self.clients.get_mut(h).authenticated = true;
        let mut out = Reply::new();
        let argv: [&[u8]; 3] = [b"REPLICAOF", parts[0].as_bytes(), parts[1].as_bytes()];
        self.execute(h, &argv, now, &mut out);
        if out.buf.first() == Some(&b'-') {
            self.effects.log.push((
                LogLevel::Warning,
                format!("replicaof: {}", String::from_utf8_lossy(&out.buf).trim()),
            ));
        }
        self.free_client(h);
    }

    // ---- replica side, driven by the shell's link task ----

    /// Where the shell must connect, when it must: (host, port, gen).
    pub fn repl_link_target(&self) -> Option<(String, u16, u64)> {
        let l = self.repl.link.as_ref()?;
        (l.state == LinkState::Connect).then(|| (l.host.clone(), l.port, l.gen))
    }

    /// The link generation the shell's connection belongs to is current.
    pub fn repl_link_current(&self, gen: u64) -> bool {
        self.repl.link.as_ref().is_some_and(|l| l.gen == gen)
    }

    pub fn repl_link_connecting(&mut self, gen: u64) {
        let now = self.ks.now_ms;
        if let Some(l) = self.repl.link.as_mut().filter(|l| l.gen == gen) {
            l.state = LinkState::Connecting;
            l.state_since_ms = now;
            l.last_io_ms = now;
            self.effects.log.push((
                LogLevel::Notice,
                format!("Connecting to MASTER {}:{}", l.host, l.port),
            ));
        }
    }

    /// TCP connect failed: try again later.
    pub fn repl_link_failed(&mut self, gen: u64, why: &str) {
        if let Some(l) = self.repl.link.as_mut().filter(|l| l.gen == gen) {
            l.state = LinkState::Connect;
            self.effects.log.push((
                LogLevel::Warning,
                format!("Error condition on socket for SYNC: {why}"),
            ));
        }
    }

    /// TCP connected: start the handshake (PING).
    pub fn repl_link_connected(&mut self, gen: u64) {
        let now = self.ks.now_ms;
        if let Some(l) = self.repl.link.as_mut().filter(|l| l.gen == gen) {
            self.effects
                .log
                .push((LogLevel::Notice, "MASTER <-> REPLICA sync started".into()));
            l.state = LinkState::Handshake(0);
            l.last_io_ms = now;
            l.inbuf.clear();
            l.rdb.clear();
            l.out.clear();
            l.out.extend_from_slice(&cmd_bytes(&["PING"]));
        }
    }

    /// Move the bytes the link must send into `out`.
    pub fn repl_link_take_out(&mut self, out: &mut Vec<u8>) {
        if let Some(l) = self.repl.link.as_mut() {
            out.append(&mut l.out);
        }
    }

    /// The shell's connection for `gen` ended.
    pub fn repl_link_closed(&mut self, gen: u64) {
        if self.repl.link.as_ref().is_some_and(|l| l.gen == gen) {
            self.repl_link_drop("Connection with master lost.");
        }
    }

    /// Drop the link (the shell reconnects): the history we hold is kept
    /// for a partial resync (Redis's cached master).
    pub fn repl_link_drop(&mut self, why: &str) {
        let now = self.ks.now_ms;
        self.repl.link_gen += 1;
        let gen = self.repl.link_gen;
        let (replid, off) = (self.repl.replid.clone(), self.repl.master_repl_offset);
        let Some(l) = self.repl.link.as_mut() else {
            return;
        };
        if l.state == LinkState::Connected {
            l.psync_replid = replid;
            l.psync_offset = off as i64;
            l.down_since_ms = now;
            self.effects.log.push((LogLevel::Notice, why.to_string()));
            self.effects.log.push((
                LogLevel::Notice,
                "Caching the disconnected master state.".into(),
            ));
        } else if l.state != LinkState::Connect {
            self.effects.log.push((LogLevel::Warning, why.to_string()));
        }
        l.state = LinkState::Connect;
        l.gen = gen;
        l.inbuf.clear();
        l.rdb.clear();
        l.out.clear();
        l.full = None;
        l.parser = RequestParser::new();
        if let Some(h) = l.master_h.take() {
            if let Some(c) = self.clients.try_get_mut(h) {
                c.is_master = false;
                self.effects.kill.push(c.id);
            }
        }
        self.effects.repl_link = true;
    }

    /// Bytes read from the master. Returns false when the shell must close
    /// the connection (the link then reconnects).
    pub fn repl_link_input(&mut self, gen: u64, data: &[u8]) -> bool {
        let now = self.ks.now_ms;
        let Some(l) = self.repl.link.as_mut().filter(|l| l.gen == gen) else {
            return false;
        };
        l.last_io_ms = now;
        l.inbuf.extend_from_slice(data);
        loop {
            let Some(l) = self.repl.link.as_mut().filter(|l| l.gen == gen) else {
                return false;
            };
            match l.state {
                LinkState::Connect | LinkState::Connecting => return true,
                LinkState::Handshake(step) => {
                    let Some(end) = line_of(&l.inbuf) else {
                        return true;
                    };
                    let line = String::from_utf8_lossy(&l.inbuf[..end]).into_owned();
                    l.inbuf.drain(..end + 2);
                    if !self.handshake_reply(step, &line) {
                        self.repl_link_drop("Master handshake failed");
                        return false;
                    }
                }
                LinkState::Transfer => {
                    if !self.transfer_input() {
                        return self.repl.link.as_ref().is_some_and(|l| l.gen == gen);
                    }
                }
                LinkState::Connected => {
                    self.apply_stream();
                    return self.repl.link.as_ref().is_some_and(|l| l.gen == gen);
                }
            }
        }
    }

    /// Handle the reply to handshake step `step`; false = give up.
    fn handshake_reply(&mut self, step: u8, line: &str) -> bool {
        let masterauth = self
            .cfg
            .get("masterauth")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let masteruser = self
            .cfg
            .get("masteruser")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let port = self.cfg.port.to_string();
        let announce_port = self
            .cfg
            .get("replica-announce-port")
            .filter(|p| *p != "0")
            .map(str::to_string);
        let announce_ip = self
            .cfg
            .get("replica-announce-ip")
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let Some(l) = self.repl.link.as_mut() else {
            return false;
        };
        let mut next = step + 1;
        match step {
            0 => {
                // PING: +PONG, or an auth error (AUTH comes next).
                if line.starts_with('-')
                    && !line.starts_with("-NOAUTH")
                    && !line.starts_with("-NOPERM")
                    && !line.starts_with("-ERR operation not permitted")
                {
                    self.effects.log.push((
                        LogLevel::Warning,
                        format!("Error reply to PING from master: '{}'", &line[1..]),
                    ));
                    return false;
                }
                self.effects.log.push((
                    LogLevel::Notice,
                    "Master replied to PING, replication can continue...".into(),
                ));
                if let Some(pw) = masterauth {
                    let cmd = match &masteruser {
                        Some(u) => cmd_bytes(&["AUTH", u, &pw]),
                        None => cmd_bytes(&["AUTH", &pw]),
                    };
                    l.out.extend_from_slice(&cmd);
                } else {
                    next = 2;
                    l.out.extend_from_slice(&cmd_bytes(&[
                        "REPLCONF",
                        "listening-port",
                        announce_port.as_deref().unwrap_or(&port),
                    ]));
                }
            }
            1 => {
                if line.starts_with('-') {
                    self.effects.log.push((
                        LogLevel::Warning,
                        format!("Unable to AUTH to MASTER: {}", &line[1..]),
                    ));
                    return false;
                }
                l.out.extend_from_slice(&cmd_bytes(&[
                    "REPLCONF",
                    "listening-port",
                    announce_port.as_deref().unwrap_or(&port),
                ]));
            }
            2 => {
                // Errors here are not fatal (old masters), as in Redis.
                if let Some(ip) = &announce_ip {
                    l.out
                        .extend_from_slice(&cmd_bytes(&["REPLCONF", "ip-address", ip]));
                } else {
                    next = 4;
                    l.out.extend_from_slice(&cmd_bytes(&[
                        "REPLCONF", "capa", "eof", "capa", "psync2",
                    ]));
                }
            }
            3 => {
                l.out
                    .extend_from_slice(&cmd_bytes(&["REPLCONF", "capa", "eof", "capa", "psync2"]));
            }
            4 => {
                let off = if l.psync_offset >= 0 {
                    (l.psync_offset + 1).to_string()
                } else {
                    "-1".to_string()
                };
                let id = if l.psync_offset >= 0 {
                    l.psync_replid.clone()
                } else {
                    "?".to_string()
                };
                if id != "?" {
                    self.effects.log.push((
                        LogLevel::Notice,
                        format!("Trying a partial resynchronization (request {id}:{off})."),
                    ));
                }
                if l.psync_failover {
                    l.out
                        .extend_from_slice(&cmd_bytes(&["PSYNC", &id, &off, "FAILOVER"]));
                } else {
                    l.out.extend_from_slice(&cmd_bytes(&["PSYNC", &id, &off]));
                }
            }
            5 => return self.psync_reply(line),
            _ => return false,
        }
        if let Some(l) = self.repl.link.as_mut() {
            l.state = LinkState::Handshake(next);
        }
        true
    }

    fn psync_reply(&mut self, line: &str) -> bool {
        let now = self.ks.now_ms;
        if let Some(rest) = line.strip_prefix("+FULLRESYNC ") {
            let mut it = rest.split(' ');
            let id = it.next().unwrap_or("").to_string();
            let off = it.next().and_then(|o| o.parse::<u64>().ok());
            let Some(off) = off.filter(|_| id.len() == 40) else {
                return false;
            };
            self.effects.log.push((
                LogLevel::Notice,
                format!("Full resync from master: {id}:{off}"),
            ));
            let Some(l) = self.repl.link.as_mut() else {
                return false;
            };
            l.full = Some((id, off));
            l.state = LinkState::Transfer;
            l.state_since_ms = now;
            l.rdb.clear();
            l.eof_mark = None;
            l.rdb_len = None;
            return true;
        }
        if let Some(rest) = line.strip_prefix("+CONTINUE") {
            let new_id = rest.trim();
            let Some(l) = self.repl.link.as_mut() else {
                return false;
            };
            let (cached_id, cached_off) = (l.psync_replid.clone(), l.psync_offset);
            if cached_off < 0 {
                return false;
            }
            self.effects.log.push((
                LogLevel::Notice,
                "Successful partial resynchronization with master.".into(),
            ));
            let r = &mut self.repl;
            r.replid = cached_id;
            r.master_repl_offset = cached_off as u64;
            if !new_id.is_empty() && new_id != r.replid {
                // The master's history continues ours under a new id
                // (it was promoted): shift, and make our replicas resync.
                r.shift_replid(new_id.to_string());
                for x in &r.replicas {
                    self.effects.kill.push(x.id);
                }
                self.effects.log.push((
                    LogLevel::Notice,
                    format!("Master replication ID changed to {new_id}"),
                ));
            }
            if r.backlog.is_none() {
                r.backlog = Some(Backlog::new(backlog_size(&self.cfg)));
            }
            enable_prop(&mut self.ks);
            self.link_go_online();
            if self.repl.failover.is_some() {
                self.effects.log.push((
                    LogLevel::Notice,
                    "Failover target accepted the handover: failover complete.".into(),
                ));
                self.repl.failover = None;
                self.ks.replica_hide = self.cfg.replica_read_only;
                self.unpause_writes();
            }
            return true;
        }
        self.effects.log.push((
            LogLevel::Warning,
            format!("Unexpected reply to PSYNC from master: {line}"),
        ));
        if self.repl.failover.is_some() {
            self.repl.abort_failover_requested =
                Some(format!("target refused the handover ({line})"));
        }
        false
    }

    /// RDB payload bytes. Returns true when it moved to another state and
    /// the loop must go on, false to wait for more bytes (or on failure,
    /// after dropping the link).
    fn transfer_input(&mut self) -> bool {
        let Some(l) = self.repl.link.as_mut() else {
            return false;
        };
        if l.eof_mark.is_none() && l.rdb_len.is_none() {
            // Newlines are the master's keepalive before the payload.
            let skip = l.inbuf.iter().take_while(|&&b| b == b'\n').count();
            l.inbuf.drain(..skip);
            let Some(end) = line_of(&l.inbuf) else {
                return false;
            };
            let line = String::from_utf8_lossy(&l.inbuf[..end]).into_owned();
            l.inbuf.drain(..end + 2);
            if let Some(m) = line.strip_prefix("$EOF:") {
                if m.len() != 40 {
                    self.repl_link_drop("Bad EOF mark from master");
                    return false;
                }
                l.eof_mark = Some(m.as_bytes().to_vec());
            } else if let Some(n) = line.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                l.rdb_len = Some(n);
            } else {
                let why = format!("Bad protocol from MASTER, the first byte is not '$' (we received '{line}'), are you sure the host and port are right?");
                self.repl_link_drop(&why);
                return false;
            }
        }
        let complete = if let Some(n) = l.rdb_len {
            let want = n - l.rdb.len();
            let take = want.min(l.inbuf.len());
            l.rdb.extend(l.inbuf.drain(..take));
            l.rdb.len() == n
        } else if let Some(mark) = &l.eof_mark {
            // Only the bytes new since the last look can complete the mark
            // (searching the whole payload every read was quadratic: a
            // 1M-key sync took two minutes).
            let from = l.rdb.len().saturating_sub(39).max(9);
            l.rdb.append(&mut l.inbuf);
            // The mark may be followed by stream bytes in the same read.
            match l.rdb[from.min(l.rdb.len())..]
                .windows(40)
                .position(|w| w == &mark[..])
            {
                Some(p) => {
                    let p = from + p;
                    let rest = l.rdb.split_off(p + 40);
                    l.rdb.truncate(p);
                    l.inbuf = rest;
                    true
                }
                None => false,
            }
        } else {
            false
        };
        if !complete {
            return false;
        }
        self.finish_full_sync()
    }

    /// The RDB arrived: replace the dataset with it and go online.
    fn finish_full_sync(&mut self) -> bool {
        let Some(l) = self.repl.link.as_mut() else {
            return false;
        };
        let rdb = std::mem::take(&mut l.rdb);
        let Some((id, off)) = l.full.take() else {
            return false;
        };
        self.effects.log.push((
            LogLevel::Notice,
            format!(
                "MASTER <-> REPLICA sync: receiving {} bytes from master to disk",
                rdb.len()
            ),
        ));
        // Our replicas hold a history that ends here: they must resync.
        for x in &self.repl.replicas {
            self.effects.kill.push(x.id);
        }
        self.effects.log.push((
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: Flushing old data".into(),
        ));
        for db in 0..self.ks.dbs.len() {
            self.ks.flush_db(db);
        }
        let opts = crate::rdb::file::LoadOpts {
            now_ms: self.ks.now_ms,
            verify_checksum: true,
            skip_expired: false,
            ..Default::default()
        };
        self.effects.log.push((
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: Loading DB in memory".into(),
        ));
        if let Err(e) = crate::rdb::file::load(&rdb, &mut self.ks, &opts) {
            self.effects.log.push((
                LogLevel::Warning,
                format!("Failed trying to load the MASTER synchronization DB from socket: {e}"),
            ));
            for db in 0..self.ks.dbs.len() {
                self.ks.flush_db(db);
            }
            self.repl_link_drop("Full sync failed");
            return false;
        }
        let r = &mut self.repl;
        r.full_syncs_loaded += 1;
        r.replid = id;
        r.clear_replid2();
        r.master_repl_offset = off;
        r.backlog = Some(Backlog::new(backlog_size(&self.cfg)));
        r.seldb = None;
        enable_prop(&mut self.ks);
        self.ks.dirty += 1;
        self.effects.log.push((
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: Finished with success".into(),
        ));
        // The AOF describes the old dataset: start it again from this one.
        if self.persist.aof.is_some() {
            crate::persist::close_aof(&mut self.ks, &mut self.persist);
            if let Err(e) = self.open_aof(true) {
                self.effects.log.push((
                    LogLevel::Warning,
                    format!("Can't restart the AOF after a full sync: {e}"),
                ));
            }
            enable_prop(&mut self.ks);
        }
        self.link_go_online();
        true
    }

    /// Create the master client and start applying the stream.
    fn link_go_online(&mut self) {
        let now = self.ks.now_ms;
        let (host, port) = match self.repl.link.as_ref() {
            Some(l) => (l.host.clone(), l.port),
            None => return,
        };
        let h = self.new_client(format!("{host}:{port}"), String::new(), -1, now);
        {
            let c = self.clients.get_mut(h);
            c.is_master = true;
            c.authenticated = true;
        }
        if let Some(l) = self.repl.link.as_mut() {
            l.master_h = Some(h);
            l.state = LinkState::Connected;
            l.state_since_ms = now;
            l.last_ack_ms = 0;
            l.parser = RequestParser::new();
            let off = self.repl.master_repl_offset.to_string();
            l.out
                .extend_from_slice(&cmd_bytes(&["REPLCONF", "ACK", &off]));
        }
        self.effects.repl_link = true;
    }

    /// Run the complete commands of the master's stream.
    fn apply_stream(&mut self) {
        let now = self.ks.now_ms;
        let Some(mut l) = self.repl.link.take() else {
            return;
        };
        let Some(h) = l.master_h else {
            self.repl.link = Some(l);
            return;
        };
        let gen = l.gen;
        let mut buf = std::mem::take(&mut l.inbuf);
        let mut parser = std::mem::take(&mut l.parser);
        self.repl.link = Some(l);
        let mut start = 0;
        let mut out = Reply::new();
        while self.repl.link.as_ref().is_some_and(|l| l.gen == gen) {
            match parser.parse(&buf[start..], i64::MAX, true) {
                Parsed::Incomplete { .. } => break,
                Parsed::Empty { consumed } => {
                    start += consumed;
                    self.repl_proxy(&buf[start - consumed..start]);
                }
                Parsed::Command { consumed } => {
                    let mut argv: Vec<&[u8]> = Vec::new();
                    parser.args(&buf[start..start + consumed], &mut argv);
                    out.buf.clear();
                    self.repl.applying = true;
                    self.ks.loading = true;
                    self.execute(h, &argv, now, &mut out);
                    self.ks.loading = false;
                    self.repl.applying = false;
                    // Effects of the master's commands are ours to log (the
                    // AOF took them) but not to re-send: proxy the bytes.
                    self.effects.propagate.clear();
                    let bytes = &buf[start..start + consumed];
                    start += consumed;
                    self.repl_proxy(bytes);
                }
                Parsed::Error(msg) => {
                    self.effects.log.push((
                        LogLevel::Warning,
                        format!("Protocol error from master: {msg}"),
                    ));
                    self.repl_link_drop("Protocol error from master");
                    return;
                }
            }
        }
        buf.drain(..start);
        if let Some(l) = self.repl.link.as_mut().filter(|l| l.gen == gen) {
            l.inbuf = buf;
            l.parser = parser;
        }
    }

    /// Applied master bytes: our offset, backlog and replicas (chains).
    fn repl_proxy(&mut self, bytes: &[u8]) {
        if self.repl.backlog.is_none() {
            self.repl.master_repl_offset += bytes.len() as u64;
            return;
        }
        self.repl_feed_bytes(bytes);
        self.flush_wakes();
    }
}

#[cfg(test)]
mod tests {
    use super::Backlog;

    fn all(b: &Backlog) -> Vec<u8> {
        let mut v = Vec::new();
        b.tail(b.histlen, &mut v);
        v
    }

    #[test]
    fn backlog_resize_keeps_the_newest_history() {
        let mut b = Backlog::new(16 * 1024);
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        b.feed(&data);
        assert_eq!(b.histlen, 16 * 1024);
        // Growing keeps everything there was (the ring had wrapped).
        b.resize(64 * 1024);
        assert_eq!(b.size(), 64 * 1024);
        assert_eq!(all(&b), data[data.len() - 16 * 1024..]);
        b.feed(&data[..1000]);
        let mut want = data[data.len() - 16 * 1024..].to_vec();
        want.extend_from_slice(&data[..1000]);
        assert_eq!(all(&b), want);
        // Shrinking keeps the newest bytes; below the floor it stays 16 KiB.
        b.resize(1);
        assert_eq!(b.size(), 16 * 1024);
        assert_eq!(all(&b), want[want.len() - 16 * 1024..]);
    }
}
