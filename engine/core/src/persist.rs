//! Persistence orchestration: RDB snapshots (SAVE, forkless BGSAVE, save
//! points, load at start-up) and the AOF (feeding the effect stream,
//! flushing per `appendfsync`, forkless BGREWRITEAOF), over the `Disk`
//! trait, plus the figures INFO persistence reports and the MISCONF rule.
//!
//! Invariants:
//! - A new RDB file is written to a temp name, fsynced, renamed over
//!   `dbfilename` and the directory fsynced: a crash at any point leaves the
//!   previous file (or the new one) complete.
//! - At most one background job (BGSAVE or AOF rewrite) runs; its snapshot
//!   walk is `Keyspace::snapshot` (see snapshot.rs for its consistency).
//! - With `appendfsync always`, the shell sends no reply before
//!   `Server::before_reply` returned Ok (the write and fsync happened).

use crate::aof::{AofConfig, AofWriter, FsyncPolicy};
use crate::config::Config;
use crate::db::table::NO_EXPIRE;
use crate::db::Value;
use crate::disk::{Disk, Fd};
use crate::rdb::file::{Aux, KeyMeta, RdbWriter};
use crate::snapshot::SnapshotSink;

/// Keys walked per background step: a step is ~1 ms of work, so clients
/// interleave with the save.
pub const BG_STEP_KEYS: usize = 2000;
/// Redis's CONFIG_BGSAVE_RETRY_DELAY: after a failed BGSAVE, save points
/// wait this long before trying again.
const BGSAVE_RETRY_DELAY_MS: i64 = 5000;

/// The RDB encoder as a snapshot sink: records become RDB bytes in `out`,
/// which the server drains to the temp file after every step.
pub struct RdbSink {
    w: RdbWriter,
    out: Vec<u8>,
    cur_db: Option<usize>,
    /// LRU clock (seconds, 24 bits) at the start, for IDLE.
    lru_clock: Option<u32>,
    /// LFU decay (minutes now, decay time), for FREQ.
    lfu: Option<(u32, u32)>,
}

impl RdbSink {
    pub fn new(
        compress: bool,
        aux: &Aux,
        lru_clock: Option<u32>,
        lfu: Option<(u32, u32)>,
    ) -> RdbSink {
        let mut w = RdbWriter::new(compress);
        let mut out = Vec::with_capacity(64 * 1024);
        w.header(&mut out, aux);
        RdbSink {
            w,
            out,
            cur_db: None,
            lru_clock,
            lfu,
        }
    }
}

impl SnapshotSink for RdbSink {
    fn begin_db(&mut self, db: usize, keys: usize, volatile: usize) {
        self.w
            .select_db(&mut self.out, db, keys as u64, volatile as u64);
        self.cur_db = Some(db);
    }

    fn record(&mut self, db: usize, key: &[u8], val: &Value, expire_ms: i64, lru: u32) {
        if self.cur_db != Some(db) {
            // A key copied ahead of the walk, from another db.
            self.w.select_db(&mut self.out, db, 0, 0);
            self.cur_db = Some(db);
        }
        let meta = KeyMeta {
            expire_ms: (expire_ms != NO_EXPIRE).then_some(expire_ms),
            idle_secs: self
                .lru_clock
                .map(|now| u64::from(crate::db::lru_idle_secs(now, lru))),
            freq: self
                .lfu
                .map(|(minutes, decay)| crate::db::lfu_decayed(lru, minutes, decay).min(255) as u8),
        };
        self.w.key(&mut self.out, key, val, meta);
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.w.finish(&mut self.out);
        out.append(&mut self.out);
    }
}

/// What a background job is producing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Rdb,
    AofRewrite,
    /// A snapshot streamed to replicas (crate::repl); `tmp` holds the EOF mark.
    ReplSync,
}

pub struct BgJob {
    pub kind: JobKind,
    /// RDB: the temp file being written (the rewrite writes through AofWriter).
    fd: Option<Fd>,
    tmp: String,
    pub started_ms: i64,
    /// `dirty` when the job began: a successful save subtracts it.
    dirty_at_start: u64,
    /// Bytes drained from the sink, written per step.
    chunk: Vec<u8>,
}

#[derive(Default)]
pub struct RdbStatus {
    /// Unix seconds of the last successful save (LASTSAVE).
    pub lastsave_s: i64,
    pub last_bgsave_ok: bool,
    /// When the last BGSAVE was attempted (retry delay after failure).
    pub last_bgsave_try_ms: i64,
    /// Duration of the last BGSAVE in seconds (-1 before any).
    pub last_bgsave_secs: i64,
    pub saves: u64,
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
    /// A BGSAVE asked for while a rewrite ran (BGSAVE SCHEDULE).
    pub scheduled: bool,
}

#[derive(Default)]
pub struct AofStatus {
    pub rewrites: u64,
    pub last_rewrite_ok: bool,
    pub last_rewrite_secs: i64,
    pub rewrite_scheduled: bool,
    pub consecutive_failures: u64,
}

/// Persistence state of one server.
pub struct Persist {
    /// Every file operation goes through here (None: no disk, e.g. unit
    /// tests of commands; SAVE then fails).
    pub disk: Option<Box<dyn Disk>>,
    pub rdb: RdbStatus,
    pub aof: Option<AofWriter>,
    pub aof_status: AofStatus,
    pub job: Option<BgJob>,
    /// True while the dataset is being loaded at start-up (INFO loading:1).
    pub loading: bool,
    /// The load in progress (see `Server::load_step`).
    pub load: Option<Box<LoadJob>>,
    pub load_progress: LoadProgress,
    /// The manifest `load` found, waiting for `open_aof`.
    pub aof_manifest: Option<crate::aof::Manifest>,
    /// DEBUG LOADAOF asked for a reload (run by `Server::debug_loadaof`).
    pub pending_loadaof: bool,
    /// The command held back by planted::STALE_AFTER_RESTART.
    pub planted_pending: Option<Vec<Vec<u8>>>,
}

impl Default for Persist {
    fn default() -> Self {
        Persist {
            disk: None,
            rdb: RdbStatus {
                last_bgsave_ok: true,
                last_bgsave_secs: -1,
                ..Default::default()
            },
            aof: None,
            aof_status: AofStatus {
                last_rewrite_ok: true,
                last_rewrite_secs: -1,
                ..Default::default()
            },
            job: None,
            loading: false,
            load: None,
            load_progress: LoadProgress::default(),
            aof_manifest: None,
            pending_loadaof: false,
            planted_pending: None,
        }
    }
}

/// Which persistence failure stops writes (Redis's writeCommandsDeniedByDiskError).
pub enum DiskError {
    Rdb,
    Aof(i32),
}

impl Persist {
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    pub fn job_kind(&self) -> Option<JobKind> {
        self.job.as_ref().map(|j| j.kind)
    }

    /// Redis's writeCommandsDeniedByDiskError.
    pub fn denied_by_disk_error(&self, cfg: &Config) -> Option<DiskError> {
        if cfg.stop_writes_on_bgsave_error
            && !cfg.save_params.is_empty()
            && !self.rdb.last_bgsave_ok
        {
            return Some(DiskError::Rdb);
        }
        if let Some(errno) = self.aof.as_ref().and_then(|a| a.misconf_errno()) {
            return Some(DiskError::Aof(errno));
        }
        None
    }
}

/// The reply text for a write refused by a disk error (MISCONF).
pub fn misconf_text(e: &DiskError) -> String {
    match e {
        DiskError::Rdb => "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.".to_string(),
        DiskError::Aof(errno) => format!(
            "MISCONF Errors writing to the AOF file: {}",
            crate::disk::strerror(*errno)
        ),
    }
}

/// `appendfsync` as the AOF writer's policy.
pub fn fsync_policy(cfg: &Config) -> FsyncPolicy {
    match cfg.get("appendfsync") {
        Some("always") => FsyncPolicy::Always,
        Some("no") => FsyncPolicy::No,
        _ => FsyncPolicy::Everysec,
    }
}

/// The AOF file-layer configuration from the config table.
pub fn aof_config(cfg: &Config, pid: u32) -> AofConfig {
    AofConfig {
        dirname: cfg
            .get("appenddirname")
            .unwrap_or("appendonlydir")
            .to_string(),
        filename: cfg
            .get("appendfilename")
            .unwrap_or("appendonly.aof")
            .to_string(),
        use_rdb_preamble: cfg.get("aof-use-rdb-preamble") != Some("no"),
        load_truncated: cfg.get("aof-load-truncated") != Some("no"),
        disable_auto_gc: cfg.get("aof-disable-auto-gc") == Some("yes"),
        rewrite_incremental_fsync: cfg.get("aof-rewrite-incremental-fsync") != Some("no"),
        no_fsync_on_rewrite: cfg.get("no-appendfsync-on-rewrite") == Some("yes"),
        bulk_len_max_bytes: cfg.proto_max_bulk_len.max(0) as u64,
        pid,
    }
}

/// Temp file name of a BGSAVE (Redis: temp-<pid>.rdb).
pub fn bgsave_temp_name(pid: u32) -> String {
    format!("temp-{pid}.rdb")
}

impl BgJob {
    pub fn new_rdb(fd: Fd, tmp: String, now_ms: i64, dirty: u64) -> BgJob {
        BgJob {
            kind: JobKind::Rdb,
            fd: Some(fd),
            tmp,
            started_ms: now_ms,
            dirty_at_start: dirty,
            chunk: Vec::new(),
        }
    }

    pub fn new_rewrite(now_ms: i64, dirty: u64) -> BgJob {
        BgJob {
            kind: JobKind::AofRewrite,
            fd: None,
            tmp: String::new(),
            started_ms: now_ms,
            dirty_at_start: dirty,
            chunk: Vec::new(),
        }
    }

    pub fn new_repl(now_ms: i64, eof_mark: String) -> BgJob {
        BgJob {
            kind: JobKind::ReplSync,
            fd: None,
            tmp: eof_mark,
            started_ms: now_ms,
            dirty_at_start: 0,
            chunk: Vec::new(),
        }
    }

    pub fn fd(&self) -> Option<Fd> {
        self.fd
    }

    pub fn tmp(&self) -> &str {
        &self.tmp
    }

    pub fn dirty_at_start(&self) -> u64 {
        self.dirty_at_start
    }

    pub fn chunk_mut(&mut self) -> &mut Vec<u8> {
        &mut self.chunk
    }
}

/// Save points due now (Redis's serverCron check): some `save <secs>
/// <changes>` with enough changes and time since the last save, and not
/// within the retry delay of a failed attempt.
pub fn save_point_due(cfg: &Config, st: &RdbStatus, dirty: u64, now_ms: i64) -> bool {
    let since_save_s = now_ms / 1000 - st.lastsave_s;
    let retry_ok = st.last_bgsave_ok || now_ms - st.last_bgsave_try_ms > BGSAVE_RETRY_DELAY_MS;
    retry_ok
        && cfg
            .save_params
            .iter()
            .any(|&(secs, changes)| dirty >= changes && since_save_s >= secs as i64)
}

// ---------------------------------------------------------------------------
// Operations. Free functions over the pieces of the server they touch, so
// both `Server` methods and command handlers (through `Ctx`) can call them.

use crate::db::Keyspace;
use crate::server::{Effects, LogLevel, ServerEnv};

fn dbfilename(cfg: &Config) -> String {
    cfg.get("dbfilename").unwrap_or("dump.rdb").to_string()
}

fn aux_for(ks: &Keyspace, env: &ServerEnv, aof_base: bool) -> Aux {
    Aux {
        ctime: ks.now_ms / 1000,
        used_mem: env.mem_used.map_or(0, |f| f()),
        aof_base,
        ..Aux::default()
    }
}

/// A sink for a snapshot of `ks` as it is now.
fn new_sink(ks: &Keyspace, cfg: &Config, env: &ServerEnv, aof_base: bool) -> RdbSink {
    let lru = cfg.maxmemory_policy.ends_with("lru");
    let lfu = cfg.is_lfu();
    RdbSink::new(
        cfg.get("rdbcompression") != Some("no"),
        &aux_for(ks, env, aof_base),
        lru.then(|| ks.lru_clock()),
        lfu.then(|| (ks.minutes(), ks.lfu_decay_time)),
    )
}

/// The sink of a snapshot streamed to replicas (aux fields carry the
/// replication id and offset, as Redis's rdbSaveInfo).
pub fn repl_sink(
    ks: &Keyspace,
    cfg: &Config,
    env: &ServerEnv,
    extra: Vec<(String, String)>,
) -> RdbSink {
    let mut aux = aux_for(ks, env, false);
    aux.extra = extra;
    let lru = cfg.maxmemory_policy.ends_with("lru");
    let lfu = cfg.is_lfu();
    RdbSink::new(
        cfg.get("rdbcompression") != Some("no"),
        &aux,
        lru.then(|| ks.lru_clock()),
        lfu.then(|| (ks.minutes(), ks.lfu_decay_time)),
    )
}

/// The whole dataset as RDB bytes, synchronously (SAVE, an AOF base at
/// start-up or when `appendonly` is switched on).
fn dataset_rdb(ks: &Keyspace, cfg: &Config, env: &ServerEnv, aof_base: bool) -> Vec<u8> {
    let mut sink = new_sink(ks, cfg, env, aof_base);
    for (dbi, db) in ks.dbs.iter().enumerate() {
        if db.table.is_empty() {
            continue;
        }
        sink.begin_db(dbi, db.table.len(), db.table.volatile_len());
        for e in db.table.iter() {
            sink.record(dbi, &e.key, &e.val, db.table.expire_of_entry(e), e.lru);
        }
    }
    let mut bytes = Vec::new();
    sink.finish(&mut bytes);
    bytes
}

fn io_text(e: &std::io::Error) -> String {
    crate::disk::error_text(e)
}

/// Write `bytes` to `fd`, then fsync, close, rename `tmp` over `dst` and
/// fsync the directory: the atomic-replace sequence.
fn write_out_and_publish(
    disk: &mut dyn Disk,
    fd: Fd,
    bytes: &[u8],
    tmp: &str,
    dst: &str,
) -> Result<(), String> {
    let r = (|| {
        disk.write_all(fd, bytes)?;
        disk.fsync(fd)
    })();
    disk.close(fd);
    r.map_err(|e| io_text(&e))?;
    disk.rename(tmp, dst).map_err(|e| io_text(&e))?;
    disk.fsync_dir(crate::disk::parent(dst))
        .map_err(|e| io_text(&e))
}

/// SAVE (and SHUTDOWN's save, FLUSHALL's save, DEBUG RELOAD): the whole
/// dataset now, synchronously.
pub fn rdb_save(
    ks: &mut Keyspace,
    p: &mut Persist,
    cfg: &Config,
    env: &ServerEnv,
) -> Result<(), String> {
    let Some(disk) = p.disk.as_mut() else {
        return Err("no disk configured".into());
    };
    let tmp = bgsave_temp_name(env.pid);
    let fd = disk.create(&tmp).map_err(|e| io_text(&e))?;
    let bytes = dataset_rdb(ks, cfg, env, false);
    if let Err(e) = write_out_and_publish(&mut **disk, fd, &bytes, &tmp, &dbfilename(cfg)) {
        let _ = disk.remove(&tmp);
        p.rdb.last_bgsave_ok = false;
        return Err(e);
    }
    ks.dirty = 0;
    p.rdb.lastsave_s = ks.now_ms / 1000;
    p.rdb.last_bgsave_ok = true;
    p.rdb.saves += 1;
    Ok(())
}

/// BGSAVE: open the temp file and start the snapshot walk; `bg_step` does
/// the rest between commands.
pub fn bgsave_start(
    ks: &mut Keyspace,
    p: &mut Persist,
    cfg: &Config,
    env: &ServerEnv,
) -> Result<(), String> {
    if p.job.is_some() {
        return Err("a background job is running".into());
    }
    let Some(disk) = p.disk.as_mut() else {
        return Err("no disk configured".into());
    };
    p.rdb.last_bgsave_try_ms = ks.now_ms;
    let tmp = bgsave_temp_name(env.pid);
    let fd = match disk.create(&tmp) {
        Ok(fd) => fd,
        Err(e) => {
            p.rdb.last_bgsave_ok = false;
            return Err(io_text(&e));
        }
    };
    let sink = new_sink(ks, cfg, env, false);
    ks.begin_snapshot(Box::new(sink));
    p.job = Some(BgJob::new_rdb(fd, tmp, ks.now_ms, ks.dirty));
    Ok(())
}

/// BGREWRITEAOF: switch the AOF to a new incr file now (commands from here
/// on land there) and start the walk that writes the new base.
pub fn rewrite_start(
    ks: &mut Keyspace,
    p: &mut Persist,
    cfg: &Config,
    env: &ServerEnv,
) -> Result<(), String> {
    if p.job.is_some() {
        return Err("a background job is running".into());
    }
    let (Some(disk), Some(aof)) = (p.disk.as_mut(), p.aof.as_mut()) else {
        return Err("append only file is off".into());
    };
    aof.start_rewrite(&mut **disk, ks.now_ms)
        .map_err(|e| e.to_string())?;
    let sink = new_sink(ks, cfg, env, true);
    ks.begin_snapshot(Box::new(sink));
    p.job = Some(BgJob::new_rewrite(ks.now_ms, ks.dirty));
    Ok(())
}

/// One step of the running background job: walk up to `budget` keys and
/// write what they produced. Returns true while a job is still running.
pub fn bg_step(
    ks: &mut Keyspace,
    p: &mut Persist,
    cfg: &Config,
    fx: &mut Effects,
    budget: usize,
) -> bool {
    let Some(mut job) = p.job.take() else {
        return false;
    };
    if job.kind == JobKind::ReplSync {
        // Stepped by `Server::repl_sync_step`; here only dropped (shutdown).
        ks.snapshot = None;
        return false;
    }
    let done = ks.snapshot_step(budget);
    let aborted = ks.snapshot.as_ref().is_some_and(|s| s.aborted);
    let mut chunk = std::mem::take(job.chunk_mut());
    chunk.clear();
    if let Some(s) = ks.snapshot.as_mut() {
        if done && !aborted {
            s.sink.finish(&mut chunk);
        } else {
            s.sink.drain(&mut chunk);
        }
    }
    let now = ks.now_ms;
    let secs = (now - job.started_ms) / 1000;
    let Some(disk) = p.disk.as_mut() else {
        ks.snapshot = None;
        return false;
    };
    let disk: &mut dyn Disk = &mut **disk;
    match job.kind {
        JobKind::Rdb => {
            let fd = job.fd().expect("an RDB job has a file");
            let res = if aborted {
                disk.close(fd);
                let _ = disk.remove(job.tmp());
                fx.log.push((
                    LogLevel::Notice,
                    "Background saving terminated by a flush".into(),
                ));
                Ok(true)
            } else if done {
                write_out_and_publish(disk, fd, &chunk, job.tmp(), &dbfilename(cfg)).map(|_| true)
            } else {
                disk.write_all(fd, &chunk)
                    .map(|_| false)
                    .map_err(|e| io_text(&e))
            };
            match res {
                Ok(false) => {
                    *job.chunk_mut() = chunk;
                    p.job = Some(job);
                    return true;
                }
                Ok(true) => {
                    if !aborted {
                        ks.dirty = ks.dirty.saturating_sub(job.dirty_at_start());
                        p.rdb.lastsave_s = now / 1000;
                        p.rdb.last_bgsave_ok = true;
                        p.rdb.saves += 1;
                        fx.log.push((
                            LogLevel::Notice,
                            "Background saving terminated with success".into(),
                        ));
                    }
                }
                Err(e) => {
                    if !done {
                        disk.close(fd);
                    }
                    let _ = disk.remove(job.tmp());
                    p.rdb.last_bgsave_ok = false;
                    fx.log.push((
                        LogLevel::Warning,
                        format!("Write error saving DB on disk: {e}"),
                    ));
                    fx.log
                        .push((LogLevel::Warning, "Background saving error".into()));
                }
            }
            p.rdb.last_bgsave_secs = secs;
        }
        JobKind::AofRewrite => {
            let Some(aof) = p.aof.as_mut() else {
                ks.snapshot = None;
                return false;
            };
            let res = if aborted {
                aof.abort_rewrite(disk, now, false);
                // A flush during a rewrite: Redis restarts the rewrite.
                p.aof_status.rewrite_scheduled = true;
                Ok(true)
            } else {
                aof.write_base_chunk(disk, &chunk)
                    .and_then(|_| {
                        if done {
                            aof.finish_rewrite(disk, now).map(|_| true)
                        } else {
                            Ok(false)
                        }
                    })
                    .map_err(|e| e.to_string())
            };
            match res {
                Ok(false) => {
                    *job.chunk_mut() = chunk;
                    p.job = Some(job);
                    return true;
                }
                Ok(true) => {
                    if !aborted {
                        p.aof_status.rewrites += 1;
                        p.aof_status.last_rewrite_ok = true;
                        p.aof_status.consecutive_failures = 0;
                        fx.log.push((
                            LogLevel::Notice,
                            "Background AOF rewrite finished successfully".into(),
                        ));
                    }
                }
                Err(e) => {
                    aof.abort_rewrite(disk, now, true);
                    p.aof_status.last_rewrite_ok = false;
                    p.aof_status.consecutive_failures += 1;
                    fx.log.push((
                        LogLevel::Warning,
                        format!("Background AOF rewrite failed: {e}"),
                    ));
                }
            }
            p.aof_status.last_rewrite_secs = secs;
        }
        JobKind::ReplSync => {}
    }
    ks.snapshot = None;
    false
}

/// Keys (RDB) or commands (AOF) loaded per step while the server answers
/// -LOADING between steps: a step is ~1 ms of work.
pub const LOAD_STEP: usize = 2000;

/// A start-up (or DEBUG LOADAOF) load in progress; `Server::load_step`
/// advances it.
pub enum LoadJob {
    Rdb {
        name: String,
        bytes: Vec<u8>,
        loader: crate::rdb::file::RdbLoader,
    },
    Aof {
        loader: crate::aof::AofLoader,
        /// The RDB base/preamble being loaded, between steps.
        base: Option<crate::rdb::file::RdbLoader>,
        client: crate::server::ClientHandle,
        /// Commands that replied with an error.
        errors: u64,
        /// `prop_enabled` before loading (the replay is not re-propagated).
        prop: bool,
    },
}

/// INFO's loading_* figures.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadProgress {
    pub start_ms: i64,
    pub loaded_bytes: u64,
    pub total_bytes: u64,
}

impl LoadJob {
    pub fn progress(&self) -> (u64, u64) {
        match self {
            LoadJob::Rdb { bytes, loader, .. } => {
                (loader.parsed_bytes() as u64, bytes.len() as u64)
            }
            LoadJob::Aof { loader, .. } => loader.progress(),
        }
    }
}

fn rdb_load_opts(cfg: &Config, now_ms: i64, skip_expired: bool) -> crate::rdb::file::LoadOpts {
    crate::rdb::file::LoadOpts {
        now_ms,
        verify_checksum: cfg.get("rdbchecksum") != Some("no"),
        skip_expired,
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------
// The server's side: start-up load, AOF feeding and flushing, background
// steps, runtime `appendonly` switches.

use crate::server::Server;
use std::cell::RefCell;

impl Server {
    /// Start-up, after the shell put a disk in `persist.disk`: load the AOF
    /// (appendonly yes) or the RDB file to the end, then open the AOF for
    /// appending. An error means the server must not start (Redis exits).
    /// The tokio shell uses `begin_load` + `load_step` instead, to answer
    /// clients while it loads.
    pub fn load_at_startup(&mut self) -> Result<(), String> {
        self.begin_load()?;
        while self.load_step(usize::MAX)? {}
        Ok(())
    }

    /// Start loading (INFO loading:1 from now on; commands without the
    /// `loading` flag answer -LOADING until `load_step` returns false).
    pub fn begin_load(&mut self) -> Result<(), String> {
        let Some(disk) = self.persist.disk.as_mut() else {
            return Ok(());
        };
        let now = self.ks.now_ms;
        let job = if self.cfg.get("appendonly") == Some("yes") {
            let acfg = aof_config(&self.cfg, self.env.pid);
            let loader =
                crate::aof::AofLoader::begin(&mut **disk, &acfg).map_err(|e| e.to_string())?;
            let client = self.new_client("aof-loader".into(), String::new(), -1, now);
            let prop = self.ks.prop_enabled;
            self.ks.prop_enabled = false;
            self.ks.loading = true;
            LoadJob::Aof {
                loader,
                base: None,
                client,
                errors: 0,
                prop,
            }
        } else {
            let name = dbfilename(&self.cfg);
            let bytes = match disk.read(&name) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.ks.dirty = 0;
                    return Ok(());
                }
                Err(e) => {
                    return Err(format!(
                        "Fatal error loading the DB: {}. Exiting.",
                        io_text(&e)
                    ))
                }
            };
            let opts = rdb_load_opts(&self.cfg, now, true);
            LoadJob::Rdb {
                name,
                bytes,
                loader: crate::rdb::file::RdbLoader::new(opts),
            }
        };
        let (_, total) = job.progress();
        self.persist.loading = true;
        self.persist.load_progress = LoadProgress {
            start_ms: now,
            loaded_bytes: 0,
            total_bytes: total,
        };
        self.persist.load = Some(Box::new(job));
        Ok(())
    }

    /// Advance the load by up to `budget` keys or commands. Ok(true) while
    /// more steps are needed; on Err the server must not start.
    pub fn load_step(&mut self, budget: usize) -> Result<bool, String> {
        let Some(mut job) = self.persist.load.take() else {
            return Ok(false);
        };
        let r = match &mut *job {
            LoadJob::Rdb {
                name,
                bytes,
                loader,
            } => match loader.step(bytes, &mut self.ks, budget) {
                Ok(None) => Ok(None),
                Ok(Some(info)) => {
                    self.persist.rdb.last_load_keys_loaded = info.keys_loaded;
                    self.persist.rdb.last_load_keys_expired = info.expired_skipped;
                    self.persist.rdb.lastsave_s = self.ks.now_ms / 1000;
                    self.effects.log.push((
                        LogLevel::Notice,
                        format!(
                            "Done loading RDB, keys loaded: {}, keys expired: {}.",
                            info.keys_loaded, info.expired_skipped
                        ),
                    ));
                    Ok(Some(()))
                }
                Err(e) => Err(format!("Short read or corrupt DB loading {name}: {e}")),
            },
            LoadJob::Aof {
                loader,
                base,
                client,
                errors,
                ..
            } => self.aof_load_step(loader, base, *client, errors, budget),
        };
        let (loaded, _) = job.progress();
        self.persist.load_progress.loaded_bytes = loaded;
        let done = match r {
            Ok(None) => {
                self.persist.load = Some(job);
                return Ok(true);
            }
            Ok(Some(())) => Ok(()),
            Err(e) => Err(e),
        };
        // Finished (or failed): leave loading mode.
        if let LoadJob::Aof {
            client,
            prop,
            errors,
            ..
        } = *job
        {
            self.free_client(client);
            self.ks.loading = false;
            self.ks.prop_enabled = prop;
            if errors > 0 && done.is_ok() {
                self.effects.log.push((
                    LogLevel::Warning,
                    format!("{errors} commands in the AOF replied with an error while loading"),
                ));
            }
            if done.is_ok() {
                done.clone()?;
                self.persist.loading = false;
                self.open_aof(false)?;
            }
        }
        self.persist.loading = false;
        self.ks.dirty = 0;
        done.map(|()| false)
    }

    /// One step of an AOF replay through the fake client, in loading mode
    /// (no expiry: the stream carries the DELs), not fed back to the AOF.
    fn aof_load_step(
        &mut self,
        loader: &mut crate::aof::AofLoader,
        base: &mut Option<crate::rdb::file::RdbLoader>,
        h: crate::server::ClientHandle,
        errors: &mut u64,
        budget: usize,
    ) -> Result<Option<()>, String> {
        let acfg = aof_config(&self.cfg, self.env.pid);
        let Some(mut disk) = self.persist.disk.take() else {
            return Err("no disk".into());
        };
        let now = self.ks.now_ms;
        let opts = rdb_load_opts(&self.cfg, now, false);
        let errs = RefCell::new(0u64);
        let srv = RefCell::new(&mut *self);
        let mut rdb_cb = |bytes: &[u8]| -> Result<Option<usize>, String> {
            let mut s = srv.borrow_mut();
            let l = base.get_or_insert_with(|| crate::rdb::file::RdbLoader::new(opts));
            match l.step(bytes, &mut s.ks, budget) {
                Ok(None) => Ok(None),
                Ok(Some(info)) => {
                    *base = None;
                    Ok(Some(info.consumed_bytes))
                }
                Err(e) => Err(e.to_string()),
            }
        };
        let mut cmd_cb = |ev: crate::aof::LoadEvent<'_>| -> Result<(), String> {
            let mut s = srv.borrow_mut();
            match ev {
                crate::aof::LoadEvent::File { .. } => {
                    let c = s.clients.get_mut(h);
                    c.db = 0;
                    c.multi = None;
                }
                crate::aof::LoadEvent::Command(argv) => {
                    // Planted bug: run each command one step late, so the
                    // last one never runs.
                    #[cfg(madsim)]
                    let argv = if s.ks.planted & crate::planted::STALE_AFTER_RESTART != 0 {
                        match s.persist.planted_pending.replace(argv) {
                            Some(prev) => prev,
                            None => return Ok(()),
                        }
                    } else {
                        argv
                    };
                    let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
                    if args.is_empty() {
                        return Ok(());
                    }
                    if s.table.lookup_top(args[0]).is_none() {
                        return Err(format!(
                            "Unknown command '{}' reading the append only file",
                            String::from_utf8_lossy(args[0])
                        ));
                    }
                    let mut out = crate::resp::Reply::new();
                    s.execute(h, &args, now, &mut out);
                    if out.buf.first() == Some(&b'-') {
                        *errs.borrow_mut() += 1;
                    }
                }
            }
            Ok(())
        };
        // The replay runs through `process`, which answers -LOADING while
        // `persist.loading`: lift it for the fake client's step (no other
        // client runs during a step).
        srv.borrow_mut().persist.loading = false;
        let r = loader.step(&mut *disk, &acfg, &mut rdb_cb, &mut cmd_cb, budget);
        self.persist.loading = true;
        self.persist.disk = Some(disk);
        *errors += errs.into_inner();
        let Some(loaded) = r.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        if let Some(t) = &loaded.truncated {
            self.effects.log.push((
                LogLevel::Warning,
                format!(
                    "AOF {} loaded anyway because aof-load-truncated is enabled (truncated at offset {})",
                    t.file, t.offset
                ),
            ));
        }
        self.persist.aof_manifest = Some(loaded.manifest);
        Ok(Some(()))
    }

    /// Load the AOF to the end (DEBUG LOADAOF), then open it for appending.
    fn load_aof_and_open(&mut self) -> Result<(), String> {
        let appendonly = self.cfg.get("appendonly") == Some("yes");
        if !appendonly {
            return Err("AOF is disabled".into());
        }
        self.begin_load()?;
        while self.load_step(usize::MAX)? {}
        Ok(())
    }

    /// DEBUG LOADAOF: flush and fsync the AOF, empty the dataset, load the
    /// AOF back (the digest must not change), and reply.
    pub(crate) fn debug_loadaof(&mut self, out: &mut crate::resp::Reply) {
        self.persist.pending_loadaof = false;
        let now = self.ks.now_ms;
        if let (Some(w), Some(disk)) = (self.persist.aof.as_mut(), self.persist.disk.as_mut()) {
            if let Err(e) = w.flush_and_fsync(&mut **disk, now) {
                out.error(&format!("ERR Error flushing the AOF: {e}"));
                return;
            }
        }
        let Some(w) = self.persist.aof.take() else {
            out.error("ERR AOF is disabled (appendonly no)");
            return;
        };
        if let Some(disk) = self.persist.disk.as_mut() {
            let _ = w.close(&mut **disk, now);
        }
        for db in 0..self.ks.dbs.len() {
            self.ks.flush_db(db);
        }
        let r = self.load_aof_and_open();
        self.ks.dirty = 0;
        match r {
            Ok(()) => out.ok(),
            Err(e) => {
                self.effects.log.push((LogLevel::Warning, e));
                out.error("ERR Error loading the AOF, check server logs.");
            }
        }
    }

    /// Open the AOF writer (see the free function `open_aof`).
    pub fn open_aof(&mut self, snapshot_now: bool) -> Result<(), String> {
        open_aof(
            &mut self.ks,
            &mut self.persist,
            &self.cfg,
            &self.env,
            snapshot_now,
        )
    }

    /// Hand the effect stream to the AOF (called after every command and
    /// cron run). Replicas will read the same stream.
    pub(crate) fn feed_aof(&mut self) {
        if let Some(w) = self.persist.aof.as_mut() {
            if self.cfg.get("aof-timestamp-enabled") == Some("yes")
                && !self.effects.propagate.is_empty()
            {
                w.annotate_timestamp(self.ks.now_ms.div_euclid(1000));
            }
            for p in &self.effects.propagate {
                let args: Vec<&[u8]> = p.argv.iter().map(|a| a.as_slice()).collect();
                w.feed_command(p.db, &args);
            }
            // No replicas yet: nobody else reads the stream.
            self.effects.propagate.clear();
        }
    }

    /// Before replies go out (Redis's beforeSleep): write the AOF buffer,
    /// fsync per policy. Err = `appendfsync always` could not persist: the
    /// shell must not send the replies and must exit, as Redis does.
    pub fn before_reply(&mut self) -> Result<(), String> {
        let now = self.ks.now_ms;
        let (Some(w), Some(disk)) = (self.persist.aof.as_mut(), self.persist.disk.as_mut()) else {
            return Ok(());
        };
        match w.flush(&mut **disk, now) {
            Ok(()) => Ok(()),
            Err(e) => {
                let text = e.to_string();
                self.effects.log.push((LogLevel::Warning, text.clone()));
                if e.fatal {
                    Err(text)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Run one step of a background job (the shell calls this often while
    /// `persist.busy()`; cron calls it too). Returns true while one runs.
    pub fn bg_step(&mut self, budget: usize) -> bool {
        if self.persist.job_kind() == Some(JobKind::ReplSync) {
            if self.repl_sync_step(budget) {
                return true;
            }
        }
        let running = bg_step(
            &mut self.ks,
            &mut self.persist,
            &self.cfg,
            &mut self.effects,
            budget,
        );
        if !running {
            if self.persist.rdb.scheduled {
                self.persist.rdb.scheduled = false;
                let _ = bgsave_start(&mut self.ks, &mut self.persist, &self.cfg, &self.env);
            } else if self.persist.aof_status.rewrite_scheduled && self.persist.aof.is_some() {
                self.persist.aof_status.rewrite_scheduled = false;
                let _ = rewrite_start(&mut self.ks, &mut self.persist, &self.cfg, &self.env);
            }
        }
        self.persist.busy()
    }

    /// Cron part of persistence: save points, AOF fsync for everysec,
    /// background steps.
    pub(crate) fn persist_cron(&mut self) {
        if self.persist.disk.is_none() {
            return;
        }
        let now = self.ks.now_ms;
        if !self.persist.busy() && save_point_due(&self.cfg, &self.persist.rdb, self.ks.dirty, now)
        {
            self.effects.log.push((
                LogLevel::Notice,
                format!("{} changes in the last period. Saving...", self.ks.dirty),
            ));
            if let Err(e) = bgsave_start(&mut self.ks, &mut self.persist, &self.cfg, &self.env) {
                self.effects
                    .log
                    .push((LogLevel::Warning, format!("Can't save in background: {e}")));
            }
        }
        if !self.persist.busy() {
            if let Some(growth) = auto_rewrite_due(&self.cfg, &self.persist) {
                self.effects.log.push((
                    LogLevel::Notice,
                    format!("Starting automatic rewriting of AOF on {growth}% growth"),
                ));
                if let Err(e) = rewrite_start(&mut self.ks, &mut self.persist, &self.cfg, &self.env)
                {
                    self.effects.log.push((
                        LogLevel::Warning,
                        format!("Can't rewrite append only file in background: {e}"),
                    ));
                }
            }
        }
        if self.persist.busy() {
            self.bg_step(BG_STEP_KEYS);
        }
        if self.persist.aof.is_some() {
            if let Err(e) = self.before_reply() {
                // Redis exits from serverCron's flushAppendOnlyFile too:
                // swallowing this let later replies go out for writes whose
                // fsync had failed (found by the simulator, seed 0 of the
                // disk-fault swarm).
                self.effects.fatal = Some(e);
            }
        }
    }
}

/// Redis's serverCron rule: rewrite when the AOF outgrew
/// `auto-aof-rewrite-min-size` and grew by `auto-aof-rewrite-percentage`
/// over its size after the last rewrite. Returns the growth in percent.
fn auto_rewrite_due(cfg: &Config, p: &Persist) -> Option<i64> {
    let w = p.aof.as_ref()?;
    let perc: i64 = cfg.get("auto-aof-rewrite-percentage")?.parse().ok()?;
    let min: u64 = cfg.get("auto-aof-rewrite-min-size")?.parse().ok()?;
    let st = w.stats(0);
    if perc <= 0 || st.aof_current_size <= min {
        return None;
    }
    let base = st.aof_base_size.max(1) as i128;
    let growth = (i128::from(st.aof_current_size) * 100 / base - 100) as i64;
    (growth >= perc).then_some(growth)
}

/// DEBUG RELOAD's load half: read `dbfilename` back into the keyspace
/// (after emptying it unless `!flush`; `merge` keeps existing keys).
pub fn reload_rdb(
    ks: &mut Keyspace,
    p: &mut Persist,
    cfg: &Config,
    flush: bool,
    merge: bool,
) -> Result<(), String> {
    let Some(disk) = p.disk.as_mut() else {
        return Err("no disk configured".into());
    };
    let bytes = disk.read(&dbfilename(cfg)).map_err(|e| io_text(&e))?;
    if flush {
        for db in 0..ks.dbs.len() {
            ks.flush_db(db);
        }
    }
    let opts = crate::rdb::file::LoadOpts {
        now_ms: ks.now_ms,
        verify_checksum: cfg.get("rdbchecksum") != Some("no"),
        skip_expired: false,
        merge,
        ..Default::default()
    };
    crate::rdb::file::load(&bytes, ks, &opts)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Redis's prepareForShutdown (SHUTDOWN, SIGTERM): drop a running background
/// job (its temp file removed), flush and fsync the AOF, then save if asked.
pub fn prepare_for_shutdown(
    ks: &mut Keyspace,
    p: &mut Persist,
    cfg: &Config,
    env: &ServerEnv,
    fx: &mut Effects,
    save: bool,
) -> Result<(), String> {
    // Redis: a shutdown while loading never saves (the dataset is partial).
    let save = save && !p.loading;
    if p.busy() {
        ks.abort_snapshot();
        bg_step(ks, p, cfg, fx, 0);
    }
    if let (Some(w), Some(disk)) = (p.aof.as_mut(), p.disk.as_mut()) {
        if let Err(e) = w.flush_and_fsync(&mut **disk, ks.now_ms) {
            let text = e.to_string();
            fx.log.push((LogLevel::Warning, text.clone()));
            return Err(text);
        }
    }
    if save {
        fx.log.push((
            LogLevel::Notice,
            "Saving the final RDB snapshot before exiting.".into(),
        ));
        if let Err(e) = rdb_save(ks, p, cfg, env) {
            let text = format!("Error trying to save the DB, can't exit: {e}");
            fx.log.push((LogLevel::Warning, text.clone()));
            return Err(text);
        }
        fx.log.push((LogLevel::Notice, "DB saved on disk".into()));
    }
    Ok(())
}

impl Server {
    /// SIGTERM/SIGINT: the same preparation as SHUTDOWN (save if save points
    /// are configured).
    pub fn prepare_for_shutdown(&mut self) -> Result<(), String> {
        let save = !self.cfg.save_params.is_empty();
        prepare_for_shutdown(
            &mut self.ks,
            &mut self.persist,
            &self.cfg,
            &self.env,
            &mut self.effects,
            save,
        )
    }
}

/// Open the AOF writer: after loading at start-up (continuing the loaded
/// manifest), or when `appendonly` is switched on at run time
/// (`snapshot_now`: the current dataset becomes the new base).
pub fn open_aof(
    ks: &mut Keyspace,
    p: &mut Persist,
    cfg: &Config,
    env: &ServerEnv,
    snapshot_now: bool,
) -> Result<(), String> {
    let acfg = aof_config(cfg, env.pid);
    let policy = fsync_policy(cfg);
    let Some(disk) = p.disk.as_mut() else {
        return Err("no disk configured".into());
    };
    let manifest = match p.aof_manifest.take() {
        Some(m) if !snapshot_now => m,
        _ => crate::aof::Manifest::default(),
    };
    // The base for a first start (or a run-time switch): the dataset now.
    let base = dataset_rdb(ks, cfg, env, true);
    let w = AofWriter::open(&mut **disk, &acfg, policy, manifest, &base, ks.now_ms)
        .map_err(|e| e.to_string())?;
    p.aof = Some(w);
    ks.prop_enabled = true;
    Ok(())
}

/// `appendonly no` at run time: flush, close, stop recording.
pub fn close_aof(ks: &mut Keyspace, p: &mut Persist) {
    if let (Some(w), Some(disk)) = (p.aof.take(), p.disk.as_mut()) {
        let _ = w.close(&mut **disk, ks.now_ms);
    }
    ks.prop_enabled = ks.prop_keep;
    if !ks.prop_enabled {
        ks.prop.clear();
    }
}
