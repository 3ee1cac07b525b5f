//! The I/O shell around `redsim-core`: sockets, clock, timers, logging.
//!
//! Built on `tokio`, which is `madsim-tokio` in the manifest: the same code
//! runs on real tokio (the `redsim-server` binary) and, with
//! `RUSTFLAGS="--cfg madsim"`, on madsim's simulated network and clock (the
//! `sim/` crate). Nothing here spawns OS threads.
//!
//! Model: one task per connection and one cron task share the engine behind
//! one async mutex. A connection locks it once per read, runs every complete
//! command in the buffer, then writes all replies with one write (batching).
//! Invariant: engine state changes only under that lock, so commands are
//! atomic and totally ordered, as in Redis's single thread.

#[cfg(madsim)]
pub mod buggify;
pub mod disk;
pub mod log;
pub mod sentinel;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use redsim_core::resp::{Parsed, Reply, RequestParser};
use redsim_core::Server;
use smallvec::SmallVec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify};

pub use log::Logger;

/// Wall-clock source injected into the engine (the simulator can skew it).
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// `SystemTime` (simulated under madsim, which intercepts `clock_gettime`).
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock offset from another by a fixed skew (per-node skew in simulation).
pub struct SkewedClock {
    pub base: Arc<dyn Clock>,
    pub skew_ms: i64,
}

impl Clock for SkewedClock {
    fn now_ms(&self) -> i64 {
        self.base.now_ms() + self.skew_ms
    }
}

/// Samples process figures for INFO (RSS, CPU). None under simulation.
pub type ProcSampler = fn() -> Option<(u64, f64, f64)>;

/// Everything the connection and cron tasks share.
pub struct Shared {
    pub srv: Mutex<Server>,
    pub clock: Arc<dyn Clock>,
    pub log: Logger,
    /// Client id -> its connection task's signals (CLIENT KILL, wakeups).
    conns: std::sync::Mutex<HashMap<u64, Arc<ConnSignal>>>,
    /// Re-arms the timer task when a client blocks with a deadline.
    timer: Notify,
    /// Signalled once when the server must stop.
    pub shutdown: Notify,
    /// Wakes the replica link task (REPLICAOF, bytes to send).
    pub link: Notify,
    pub proc_sampler: Option<ProcSampler>,
    /// Set when the server hit a fatal error (under madsim, where exiting
    /// would end the whole simulation: the node stops serving instead and
    /// its supervisor restarts it, as systemd would restart redis-server).
    pub fatal: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub fn new(srv: Server, clock: Arc<dyn Clock>, log: Logger) -> Arc<Shared> {
        Arc::new(Shared {
            srv: Mutex::new(srv),
            clock,
            log,
            conns: std::sync::Mutex::new(HashMap::new()),
            timer: Notify::new(),
            shutdown: Notify::new(),
            link: Notify::new(),
            proc_sampler: None,
            fatal: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// A fatal error (Redis exits): the process exits; under madsim the
    /// node stops serving (see `fatal`).
    pub fn die(&self) {
        #[cfg(not(madsim))]
        std::process::exit(1);
        #[cfg(madsim)]
        {
            self.fatal.store(true, std::sync::atomic::Ordering::SeqCst);
            self.shutdown.notify_one();
        }
    }

    pub fn is_dead(&self) -> bool {
        self.fatal.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn signal(&self, id: u64) -> Option<Arc<ConnSignal>> {
        self.conns.lock().ok()?.get(&id).cloned()
    }

    /// Deliver what a batch of engine work asked of the other tasks:
    /// kills, wakeups, timer re-arms, the replica link.
    pub fn after_effects(&self, fx: &redsim_core::server::Effects) {
        for victim in &fx.kill {
            if let Some(k) = self.signal(*victim) {
                k.kill.notify_one();
            }
        }
        self.wake(&fx.wake);
        if fx.timers_changed {
            self.timer.notify_one();
        }
        if fx.repl_link {
            self.link.notify_one();
        }
    }

    pub fn log_effects(&self, fx: &redsim_core::server::Effects) {
        for (lvl, msg) in &fx.log {
            self.log.log(*lvl, msg);
        }
    }

    /// Tell connection tasks that output is pending for them.
    fn wake(&self, ids: &[u64]) {
        for id in ids {
            if let Some(s) = self.signal(*id) {
                s.wake.notify_one();
            }
        }
    }
}

/// How other tasks reach one connection task. `Notify` keeps a permit when
/// nobody waits, so a wake sent while the task is busy is not lost.
#[derive(Default)]
pub struct ConnSignal {
    /// Disconnect (CLIENT KILL).
    kill: Notify,
    /// Output is pending (`Client::pending`: a served blocking command, a
    /// timeout, a pub/sub message).
    wake: Notify,
}

/// Accept connections on `listener` until the process ends.
pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut next_fd: i64 = 8;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if shared.is_dead() {
                    return;
                }
                let local = stream.local_addr().ok();
                let _ = stream.set_nodelay(true);
                next_fd += 1;
                let fd = next_fd;
                let sh = shared.clone();
                tokio::spawn(async move {
                    handle_conn(stream, peer, local, fd, sh).await;
                });
            }
            Err(e) => {
                shared.log.warning(&format!("Accept error: {e}"));
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Load the dataset in steps (the server already accepts connections and
/// answers -LOADING between them, INFO shows loading:1). Err: the server
/// must not start.
pub async fn load_in_steps(shared: &Arc<Shared>) -> Result<(), String> {
    loop {
        let mut srv = shared.srv.lock().await;
        let now = shared.clock.now_ms();
        srv.ks.now_ms = now;
        let r = srv.load_step(redsim_core::persist::LOAD_STEP);
        let fx = srv.take_effects();
        drop(srv);
        for (lvl, msg) in &fx.log {
            shared.log.log(*lvl, msg);
        }
        match r {
            Ok(true) => tokio::task::yield_now().await,
            Ok(false) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Periodic work at `hz` (active expiry, ops/sec sampling, process stats),
/// and blocked-client deadlines, which it wakes up for precisely.
pub async fn cron_loop(shared: Arc<Shared>) {
    let mut last_cron = shared.clock.now_ms();
    loop {
        if shared.is_dead() {
            return;
        }
        let (period_ms, next_timeout, bg_busy, stalled) = {
            let srv = shared.srv.lock().await;
            (
                i64::from(1000 / srv.cfg.hz.max(1)),
                srv.next_timeout_ms(),
                srv.persist.busy(),
                srv.repl_sync_stalled(),
            )
        };
        let now = shared.clock.now_ms();
        let mut wait = (last_cron + period_ms - now).clamp(0, period_ms);
        if let Some(t) = next_timeout {
            wait = wait.min((t - now).max(0));
        }
        if bg_busy && stalled {
            // A snapshot for replicas waits for their sockets to drain.
            wait = wait.min(1);
        } else if bg_busy {
            // A background save/rewrite runs in steps between commands:
            // step again as soon as clients had their turn at the lock.
            wait = 0;
            tokio::task::yield_now().await;
        }
        // BUGGIFY: timers fire late (a busy or descheduled server).
        #[cfg(madsim)]
        if buggify::fire(3) {
            wait += 1 + buggify::below(200) as i64;
        }
        tokio::select! {
            biased;
            _ = shared.timer.notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait as u64)) => {}
        }
        let now = shared.clock.now_ms();
        let run_cron = now - last_cron >= period_ms;
        let sample = if run_cron {
            shared.proc_sampler.and_then(|f| f())
        } else {
            None
        };
        let mut srv = shared.srv.lock().await;
        if let Some((rss, sys, user)) = sample {
            srv.stats.rss_bytes = rss;
            srv.stats.cpu_sys = sys;
            srv.stats.cpu_user = user;
        }
        srv.handle_timeouts(now);
        if run_cron {
            srv.cron(now);
            last_cron = now;
        } else if bg_busy {
            srv.bg_step(redsim_core::persist::BG_STEP_KEYS);
        }
        let fx = srv.take_effects();
        drop(srv);
        for (lvl, msg) in &fx.log {
            shared.log.log(*lvl, msg);
        }
        if fx.fatal.is_some() {
            shared
                .log
                .warning("redsim is now ready to exit, bye bye...");
            shared.die();
            return;
        }
        shared.after_effects(&fx);
    }
}

/// The replica side of replication: one connection to our master at a
/// time (`REPLICAOF`), whose bytes go to `Server::repl_link_input` and
/// which sends what the engine queued (handshake, REPLCONF ACK). The
/// protocol lives in the engine (`redsim_core::repl`); this only moves
/// bytes and reconnects (once a second, as Redis's replicationCron).
pub async fn replica_link_loop(shared: Arc<Shared>) {
    loop {
        if shared.is_dead() {
            return;
        }
        let target = shared.srv.lock().await.repl_link_target();
        let Some((host, port, gen)) = target else {
            tokio::select! {
                biased;
                _ = shared.link.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(1000)) => {}
            }
            continue;
        };
        {
            let mut srv = shared.srv.lock().await;
            srv.ks.now_ms = shared.clock.now_ms();
            srv.repl_link_connecting(gen);
            let fx = srv.take_effects();
            drop(srv);
            shared.log_effects(&fx);
        }
        let addr = format!("{host}:{port}");
        let conn = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            TcpStream::connect(addr.as_str()),
        )
        .await;
        let stream = match conn {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                link_failed(&shared, gen, &e.to_string()).await;
                continue;
            }
            Err(_) => {
                link_failed(&shared, gen, "connection timed out").await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        link_session(&shared, stream, gen).await;
        let mut srv = shared.srv.lock().await;
        srv.ks.now_ms = shared.clock.now_ms();
        srv.repl_link_closed(gen);
        let fx = srv.take_effects();
        drop(srv);
        shared.log_effects(&fx);
        shared.after_effects(&fx);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn link_failed(shared: &Arc<Shared>, gen: u64, why: &str) {
    let mut srv = shared.srv.lock().await;
    srv.repl_link_failed(gen, why);
    let fx = srv.take_effects();
    drop(srv);
    shared.log_effects(&fx);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
}

/// One connection to the master, until it breaks or the link changes.
async fn link_session(shared: &Arc<Shared>, mut stream: TcpStream, gen: u64) {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut out: Vec<u8> = Vec::new();
    {
        let mut srv = shared.srv.lock().await;
        srv.ks.now_ms = shared.clock.now_ms();
        srv.repl_link_connected(gen);
        srv.repl_link_take_out(&mut out);
        let fx = srv.take_effects();
        drop(srv);
        shared.log_effects(&fx);
    }
    loop {
        if shared.is_dead() {
            return;
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
                shared.log.verbose("Replication link write error");
                return;
            }
            out.clear();
        }
        buf.clear();
        if buf.capacity() < READ_CHUNK_BYTES {
            buf.reserve(READ_CHUNK_BYTES);
        }
        let got = tokio::select! {
            biased;
            _ = shared.link.notified() => false,
            r = stream.read_buf(&mut buf) => match r {
                Ok(0) => {
                    shared.log.verbose("Master closed the replication link");
                    return;
                }
                Err(e) => {
                    shared.log.verbose(&format!("Replication link read error: {e}"));
                    return;
                }
                Ok(_) => true,
            },
            _ = tokio::time::sleep(std::time::Duration::from_millis(1000)) => false,
        };
        let mut srv = shared.srv.lock().await;
        if !srv.repl_link_current(gen) {
            shared.log.verbose("Replication link replaced");
            return;
        }
        srv.ks.now_ms = shared.clock.now_ms();
        if got {
            srv.stats.net_input_bytes += buf.len() as u64;
            if !srv.repl_link_input(gen, &buf) {
                shared.log.verbose("Replication link input ended the link");
                let fx = srv.take_effects();
                drop(srv);
                shared.log_effects(&fx);
                shared.after_effects(&fx);
                return;
            }
        }
        srv.repl_link_take_out(&mut out);
        let fx = srv.take_effects();
        // Writes the master's stream made go to our AOF (and its fsync
        // policy) like a client's.
        let r = srv.before_reply();
        drop(srv);
        shared.log_effects(&fx);
        shared.after_effects(&fx);
        if let Err(e) = r {
            shared.log.warning(&e);
            shared.die();
            return;
        }
    }
}

fn fmt_addr(a: Option<SocketAddr>) -> String {
    a.map(|a| a.to_string()).unwrap_or_else(|| "?:0".into())
}

const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Replies buffered before they are written out (per connection).
const OUT_BATCH_BYTES_MAX: usize = 1024 * 1024;

async fn handle_conn(
    mut stream: TcpStream,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    fd: i64,
    shared: Arc<Shared>,
) {
    let sig = Arc::new(ConnSignal::default());
    let (h, id) = {
        let mut srv = shared.srv.lock().await;
        if srv.clients.count >= srv.cfg.maxclients {
            srv.stats.rejected_connections += 1;
            drop(srv);
            let _ = stream
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
            let _ = stream.flush().await;
            return;
        }
        let now = shared.clock.now_ms();
        let h = srv.new_client(peer.to_string(), fmt_addr(local), fd, now);
        (h, srv.client_id(h))
    };
    if let Ok(mut k) = shared.conns.lock() {
        k.insert(id, sig.clone());
    }
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut parser = RequestParser::new();
    let mut out = Reply::new();
    let mut need = 1usize;
    let mut more_buffered = false;
    #[cfg(madsim)]
    let mut held: Vec<u8> = Vec::new();
    let mut unaccounted_in = 0u64;
    let mut qbuf_max = usize::MAX;
    // Mirrors `Client::blocked`: while set, input is buffered, not run.
    let mut blocked = false;
    'conn: loop {
        if shared.is_dead() {
            break 'conn;
        }
        if buf.capacity() - buf.len() < READ_CHUNK_BYTES / 2 {
            // Grow with what arrived (doubling), never with what was declared.
            buf.reserve(READ_CHUNK_BYTES.max(buf.len()));
        }
        let mut woken = false;
        #[cfg(madsim)]
        if !held.is_empty() {
            // BUGGIFY: the rest of a short read arrives now.
            buf.extend_from_slice(&held);
            held.clear();
            more_buffered = true;
        }
        if !more_buffered {
            let n = tokio::select! {
                biased;
                _ = sig.kill.notified() => break 'conn,
                _ = sig.wake.notified() => {
                    woken = true;
                    0
                }
                r = stream.read_buf(&mut buf) => match r {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(n) => n,
                },
            };
            unaccounted_in += n as u64;
            // BUGGIFY: a short read (the parser must handle any split).
            #[cfg(madsim)]
            if n > 1 && buggify::fire(10) {
                let keep = 1 + buggify::below(n as u64 - 1) as usize;
                held = buf.split_off(buf.len() - (n - keep));
            }
        }
        more_buffered = false;
        if blocked && !woken {
            // A blocked client's commands wait in the query buffer (bounded).
            if buf.len() > qbuf_max {
                shared
                    .log
                    .warning("Closing client that reached max query buffer length");
                break 'conn;
            }
            continue;
        }
        if buf.len() < need && !woken {
            if buf.len() > qbuf_max {
                shared
                    .log
                    .warning("Closing client that reached max query buffer length");
                break 'conn;
            }
            continue;
        }
        let mut srv = shared.srv.lock().await;
        if shared.is_dead() {
            break 'conn;
        }
        srv.stats.net_input_bytes += unaccounted_in;
        unaccounted_in = 0;
        srv.stats.total_reads += 1;
        // Output produced for us by others goes first (it happened earlier).
        srv.take_pending(h, &mut out);
        blocked = srv.is_blocked(h);
        let now = shared.clock.now_ms();
        let max_bulk = srv.cfg.proto_max_bulk_len;
        let mut start = 0usize;
        let mut close = false;
        while !blocked {
            let authed = srv.is_authenticated(h);
            match parser.parse(&buf[start..], max_bulk, authed) {
                Parsed::Incomplete { need: nd } => {
                    // Relative to buf[start..], which becomes the buffer start.
                    need = nd;
                    break;
                }
                Parsed::Empty { consumed } => {
                    start += consumed;
                    need = 1;
                }
                Parsed::Command { consumed } => {
                    need = 1;
                    let mut argv: SmallVec<[&[u8]; 8]> = SmallVec::new();
                    parser.args(&buf[start..start + consumed], &mut argv);
                    let t0 = tokio::time::Instant::now();
                    if let Some(cmd) = srv.execute(h, &argv, now, &mut out) {
                        srv.record_duration(cmd, t0.elapsed().as_micros() as u64);
                    }
                    start += consumed;
                    if srv.is_blocked(h) {
                        blocked = true;
                        break;
                    }
                    if srv.client(h).close_after_reply {
                        close = true;
                        break;
                    }
                    if srv.effects.shutdown {
                        break;
                    }
                    if out.buf.len() > OUT_BATCH_BYTES_MAX {
                        // Write what we have before running more: a client that
                        // pipelines without reading holds at most this much.
                        more_buffered = true;
                        break;
                    }
                }
                Parsed::Error(msg) => {
                    let text = format!("ERR Protocol error: {msg}");
                    out.error(&text);
                    srv.count_error(&text);
                    shared.log.verbose(&format!(
                        "Protocol error ({msg}) from client: id={id} addr={peer}"
                    ));
                    close = true;
                    break;
                }
            }
        }
        if start > 0 {
            buf.drain(..start);
        }
        qbuf_max = srv.cfg.query_buf_bytes_max;
        if buf.len() > srv.cfg.query_buf_bytes_max {
            shared
                .log
                .warning("Closing client that reached max query buffer length");
            close = true;
        }
        let effects = if srv.effects.is_empty() {
            None
        } else {
            Some(srv.take_effects())
        };
        let mut shutdown = false;
        if let Some(fx) = effects {
            for (lvl, msg) in &fx.log {
                shared.log.log(*lvl, msg);
            }
            shared.after_effects(&fx);
            if fx.sleep_ms > 0 {
                // DEBUG SLEEP blocks the whole server, as in Redis: keep the lock.
                tokio::time::sleep(std::time::Duration::from_millis(fx.sleep_ms)).await;
            }
            shutdown = fx.shutdown;
        }
        // The AOF reaches the disk (and with `always` is fsynced) before any
        // reply of this batch is sent: Redis's beforeSleep order.
        if let Err(e) = srv.before_reply() {
            shared.log.warning(&e);
            shared
                .log
                .warning("redsim is now ready to exit, bye bye...");
            // No reply of this batch may go out: the write is not durable
            // (the simulator caught the tail flush below sending them).
            out.buf.clear();
            shared.die();
            break 'conn;
        }
        if !out.buf.is_empty() {
            srv.stats.net_output_bytes += out.buf.len() as u64;
            srv.stats.total_writes += 1;
        }
        // BUGGIFY: a slow fsync/write stalls the whole server (the lock is
        // held, as Redis's single thread would be).
        #[cfg(madsim)]
        if buggify::fire(2) {
            tokio::time::sleep(std::time::Duration::from_millis(1 + buggify::below(50))).await;
        }
        drop(srv);
        if shutdown {
            shared
                .log
                .warning("Redsim is now ready to exit, bye bye...");
            shared.shutdown.notify_one();
            break 'conn;
        }
        if !out.buf.is_empty() {
            if stream.write_all(&out.buf).await.is_err() || stream.flush().await.is_err() {
                break 'conn;
            }
            out.buf.clear();
            if out.buf.capacity() > 1 << 20 {
                out.buf.shrink_to(64 * 1024);
            }
        }
        if close {
            break 'conn;
        }
    }
    if !out.buf.is_empty() && !shared.is_dead() {
        let _ = stream.write_all(&out.buf).await;
        let _ = stream.flush().await;
    }
    if let Ok(mut k) = shared.conns.lock() {
        k.remove(&id);
    }
    shared.srv.lock().await.free_client(h);
}
