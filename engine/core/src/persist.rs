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
    pub fn new(compress: bool, aux: &Aux, lru_clock: Option<u32>, lfu: Option<(u32, u32)>) -> RdbSink {
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
        if cfg.stop_writes_on_bgsave_error && !cfg.save_params.is_empty() && !self.rdb.last_bgsave_ok {
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
        _ => FsyncPolicy::EverySec,
    }
}

/// The AOF file-layer configuration from the config table.
pub fn aof_config(cfg: &Config, pid: u32) -> AofConfig {
    AofConfig {
        dirname: cfg.get("appenddirname").unwrap_or("appendonlydir").to_string(),
        filename: cfg.get("appendfilename").unwrap_or("appendonly.aof").to_string(),
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
