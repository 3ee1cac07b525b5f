//! Whole RDB files: an incremental writer (for SAVE, a non-forking BGSAVE
//! driven key by key, or an AOF preamble) and the loader.
//!
//! Loading is two-phase so a failed load never leaves a half-loaded
//! dataset, and resumable ([`RdbLoader`]) so the server can answer
//! -LOADING between steps: the whole file is parsed and validated first (magic, version,
//! every value, duplicate keys, SELECTDB bounds, CRC64) into a staging list;
//! only then are the databases emptied and the keys added through
//! `Keyspace::add`/`set_expire`. On error the keyspace is untouched.

use super::enc::{crc64, put_len, put_ms_time, put_string, Reader};
use super::value::{decode_value, encode_value, Limits};
use super::*;
use crate::db::table::NO_EXPIRE;
use crate::db::{Keyspace, Value, LRU_CLOCK_MAX};

/// The auxiliary fields written after the magic (rdbSaveInfoAuxFields).
#[derive(Debug, Clone)]
pub struct Aux {
    pub redis_ver: String,
    pub redis_bits: u32,
    /// Unix time of the save, seconds.
    pub ctime: i64,
    pub used_mem: u64,
    /// True when the file is the base of a multi-part AOF.
    pub aof_base: bool,
    /// Further fields, written as they are (e.g. repl-id, repl-offset).
    pub extra: Vec<(String, String)>,
}

impl Default for Aux {
    fn default() -> Self {
        Aux {
            redis_ver: "7.0.15".into(),
            redis_bits: 64,
            ctime: 0,
            used_mem: 0,
            aof_base: false,
            extra: Vec::new(),
        }
    }
}

/// What is written before a key besides its value.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyMeta {
    /// Absolute expiry in ms.
    pub expire_ms: Option<i64>,
    /// Seconds idle (IDLE opcode): write it when maxmemory-policy is LRU.
    pub idle_secs: Option<u64>,
    /// LFU counter (FREQ opcode): write it when maxmemory-policy is LFU.
    pub freq: Option<u8>,
}

/// Writes an RDB file piece by piece, keeping the CRC64 of everything
/// produced so far. Each method appends to `out` (the caller writes or
/// sends those bytes and may clear `out` between calls).
pub struct RdbWriter {
    crc: u64,
    compress: bool,
    scratch: Vec<u8>,
}

impl RdbWriter {
    /// `compress` is rdbcompression (LZF for strings over 20 bytes).
    pub fn new(compress: bool) -> RdbWriter {
        RdbWriter {
            crc: 0,
            compress,
            scratch: Vec::new(),
        }
    }

    /// CRC64 of the bytes produced so far.
    pub fn crc(&self) -> u64 {
        self.crc
    }

    fn emit(&mut self, out: &[u8], start: usize) {
        self.crc = crc64(self.crc, &out[start..]);
    }

    /// "REDIS0010" and the aux fields.
    pub fn header(&mut self, out: &mut Vec<u8>, aux: &Aux) {
        let start = out.len();
        out.extend_from_slice(format!("REDIS{:04}", RDB_VERSION).as_bytes());
        let c = self.compress;
        let field = |out: &mut Vec<u8>, k: &str, v: &str| {
            out.push(OPCODE_AUX);
            put_string(out, k.as_bytes(), c);
            put_string(out, v.as_bytes(), c);
        };
        field(out, "redis-ver", &aux.redis_ver);
        field(out, "redis-bits", &aux.redis_bits.to_string());
        field(out, "ctime", &aux.ctime.to_string());
        field(out, "used-mem", &aux.used_mem.to_string());
        for (k, v) in &aux.extra {
            field(out, k, v);
        }
        field(out, "aof-base", if aux.aof_base { "1" } else { "0" });
        self.emit(out, start);
    }

    /// SELECTDB and RESIZEDB for a non-empty database.
    pub fn select_db(&mut self, out: &mut Vec<u8>, db: usize, keys: u64, expires: u64) {
        let start = out.len();
        out.push(OPCODE_SELECTDB);
        put_len(out, db as u64);
        out.push(OPCODE_RESIZEDB);
        put_len(out, keys);
        put_len(out, expires);
        self.emit(out, start);
    }

    /// One key (rdbSaveKeyValuePair): EXPIRETIME_MS, IDLE / FREQ, type, key,
    /// value.
    pub fn key(&mut self, out: &mut Vec<u8>, key: &[u8], val: &Value, meta: KeyMeta) {
        let start = out.len();
        if let Some(at) = meta.expire_ms {
            out.push(OPCODE_EXPIRETIME_MS);
            put_ms_time(out, at);
        }
        if let Some(idle) = meta.idle_secs {
            out.push(OPCODE_IDLE);
            put_len(out, idle);
        }
        if let Some(f) = meta.freq {
            out.push(OPCODE_FREQ);
            out.push(f);
        }
        self.scratch.clear();
        let t = encode_value(&mut self.scratch, val, self.compress);
        out.push(t);
        put_string(out, key, self.compress);
        out.extend_from_slice(&self.scratch);
        self.emit(out, start);
    }

    /// EOF and the checksum.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(OPCODE_EOF);
        self.emit(out, start);
        out.extend_from_slice(&self.crc.to_le_bytes());
    }
}

/// Options of [`save_keyspace`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SaveOpts {
    pub compress: bool,
    /// maxmemory-policy is an LRU one (write IDLE).
    pub lru: bool,
    /// maxmemory-policy is an LFU one (write FREQ).
    pub lfu: bool,
}

/// The whole keyspace as one RDB file (SAVE), in table order per database.
pub fn save_keyspace(ks: &Keyspace, aux: &Aux, opts: SaveOpts) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = RdbWriter::new(opts.compress);
    w.header(&mut out, aux);
    for (dbi, db) in ks.dbs.iter().enumerate() {
        if db.table.is_empty() {
            continue;
        }
        w.select_db(
            &mut out,
            dbi,
            db.table.len() as u64,
            db.table.volatile_len() as u64,
        );
        for e in db.table.iter() {
            let exp = db.table.expire_of_entry(e);
            let meta = KeyMeta {
                expire_ms: (exp != NO_EXPIRE).then_some(exp),
                idle_secs: opts.lru.then(|| ks.idle_ms(e.lru) / 1000),
                freq: opts
                    .lfu
                    .then(|| ks.lfu_decr_and_return(e.lru).min(255) as u8),
            };
            w.key(&mut out, &e.key, &e.val, meta);
        }
    }
    w.finish(&mut out);
    out
}

/// Options of [`load`].
#[derive(Debug, Clone, Copy)]
pub struct LoadOpts {
    pub limits: Limits,
    /// Current time (ms): keys already expired are skipped (as a master).
    pub now_ms: i64,
    /// Skip keys whose TTL has passed (Redis does unless it is a replica).
    pub skip_expired: bool,
    /// rdbchecksum: verify the CRC64 (a zero checksum always means "none").
    pub verify_checksum: bool,
    /// Keep the keys already there (loaded keys replace same-named ones)
    /// instead of emptying every database first.
    pub merge: bool,
}

impl Default for LoadOpts {
    fn default() -> Self {
        LoadOpts {
            limits: Limits::default(),
            now_ms: 0,
            skip_expired: true,
            verify_checksum: true,
            merge: false,
        }
    }
}

/// What a successful load found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadInfo {
    pub version: u16,
    pub keys_loaded: u64,
    pub expired_skipped: u64,
    pub empty_keys_skipped: u64,
    /// Every aux field, in file order.
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// The file's ctime aux field (seconds), when present.
    pub ctime: Option<i64>,
    pub aof_base: bool,
    /// False when the file's checksum was 0 (saved with rdbchecksum no) or
    /// verification was off.
    pub checksum_verified: bool,
    /// Bytes of `bytes` the RDB took (through its checksum): an old-style
    /// AOF continues with commands after an RDB preamble.
    pub consumed_bytes: usize,
}

struct Staged {
    db: usize,
    key: Vec<u8>,
    val: Value,
    expire_ms: i64,
    idle: Option<u64>,
    freq: Option<u8>,
}

/// Where a resumable load is.
enum Phase {
    /// Nothing read yet.
    Start,
    /// Reading keys; `pos` is the next opcode's offset.
    Parse,
    /// Validated: adding staged keys to the keyspace.
    Apply(std::vec::IntoIter<Staged>),
    Done,
}

/// A resumable RDB load (start-up loading serves clients -LOADING between
/// steps). Two-phase as the module doc says: `step` parses and validates up
/// to `budget` keys per call, and only once the whole file checked out does
/// it empty the databases and add the staged keys, again `budget` per call.
/// Give every call the same `bytes`.
pub struct RdbLoader {
    opts: LoadOpts,
    phase: Phase,
    pos: usize,
    db: usize,
    expire_ms: i64,
    idle: Option<u64>,
    freq: Option<u8>,
    staged: Vec<Staged>,
    info: LoadInfo,
    /// Keyspace state saved by the first apply step, restored by the last.
    saved: Option<(u64, u32)>,
}

impl RdbLoader {
    pub fn new(opts: LoadOpts) -> RdbLoader {
        RdbLoader {
            opts,
            phase: Phase::Start,
            pos: 0,
            db: 0,
            expire_ms: NO_EXPIRE,
            idle: None,
            freq: None,
            staged: Vec::new(),
            info: LoadInfo::default(),
            saved: None,
        }
    }

    /// Bytes parsed so far (INFO loading_loaded_bytes).
    pub fn parsed_bytes(&self) -> usize {
        self.pos
    }

    /// Keys added to the keyspace so far.
    pub fn keys_loaded(&self) -> u64 {
        self.info.keys_loaded
    }

    /// One step. `Ok(Some(info))` when the load is complete; `Ok(None)`
    /// when more steps are needed; on `Err` the keyspace is untouched
    /// (errors are only possible before the first key is added).
    pub fn step(
        &mut self,
        bytes: &[u8],
        ks: &mut Keyspace,
        budget: usize,
    ) -> Result<Option<LoadInfo>, RdbError> {
        let budget = budget.max(1);
        match self.phase {
            Phase::Start => {
                self.header(bytes)?;
                self.phase = Phase::Parse;
                return Ok(None);
            }
            Phase::Parse => {
                if self.parse_keys(bytes, ks.dbs.len(), budget)? {
                    self.begin_apply(ks);
                }
                return Ok(None);
            }
            Phase::Done => return Ok(Some(self.info.clone())),
            Phase::Apply(_) => {}
        }
        if let Phase::Apply(it) = &mut self.phase {
            for s in it.by_ref().take(budget) {
                apply_one(ks, s, self.opts.merge);
                self.info.keys_loaded += 1;
            }
            if it.len() > 0 {
                return Ok(None);
            }
        }
        if let Some((dirty, flags)) = self.saved.take() {
            ks.dirty = dirty;
            ks.notify_flags = flags;
        }
        self.phase = Phase::Done;
        Ok(Some(self.info.clone()))
    }

    fn header(&mut self, bytes: &[u8]) -> Result<(), RdbError> {
        let mut r = Reader::new(bytes);
        let magic = r.bytes(9).map_err(|_| {
            RdbError::new(
                RdbErrorKind::Version,
                0,
                "Short read or OOM loading DB. Unrecoverable error, aborting now.",
            )
        })?;
        if &magic[..5] != b"REDIS" {
            return Err(RdbError::new(
                RdbErrorKind::Version,
                0,
                "Wrong signature trying to load DB from file",
            ));
        }
        let version = std::str::from_utf8(&magic[5..9])
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        if !(1..=RDB_VERSION).contains(&version) {
            return Err(RdbError::new(
                RdbErrorKind::Version,
                5,
                format!("Can't handle RDB format version {version}"),
            ));
        }
        self.info.version = version;
        self.pos = r.pos();
        Ok(())
    }

    /// Parse up to `budget` keys; true once the file (checksum included)
    /// has been read and validated.
    fn parse_keys(&mut self, bytes: &[u8], ndbs: usize, budget: usize) -> Result<bool, RdbError> {
        let opts = self.opts;
        let Some(rest) = bytes.get(self.pos..) else {
            return Err(RdbError::corrupt(
                self.pos,
                "RDB loader position past the end",
            ));
        };
        let mut r = Reader::with_base(rest, self.pos);
        let mut keys = 0usize;
        loop {
            // Resume point: always at an opcode boundary.
            self.pos = r.offset();
            if keys >= budget {
                return Ok(false);
            }
            let at = r.offset();
            let t = r.u8()?;
            match t {
                OPCODE_EXPIRETIME => {
                    self.expire_ms = i64::from(r.secs_time()?) * 1000;
                    continue;
                }
                OPCODE_EXPIRETIME_MS => {
                    self.expire_ms = r.ms_time()?;
                    continue;
                }
                OPCODE_FREQ => {
                    self.freq = Some(r.u8()?);
                    continue;
                }
                OPCODE_IDLE => {
                    self.idle = Some(r.len()?);
                    continue;
                }
                OPCODE_EOF => break,
                OPCODE_SELECTDB => {
                    let id = r.len()?;
                    if id >= ndbs as u64 {
                        return Err(RdbError::corrupt(
                            at,
                            format!(
                                "FATAL: Data file was created with a Redis server configured to handle more than {ndbs} databases. Exiting"
                            ),
                        ));
                    }
                    self.db = id as usize;
                    continue;
                }
                OPCODE_RESIZEDB => {
                    r.len()?;
                    r.len()?;
                    continue;
                }
                OPCODE_AUX => {
                    let k = r.string_bytes()?.into_owned();
                    let v = r.string_bytes()?.into_owned();
                    match &k[..] {
                        b"ctime" => self.info.ctime = crate::util::parse_i64(&v),
                        b"aof-base" | b"aof-preamble" => self.info.aof_base = &v[..] == b"1",
                        _ => {}
                    }
                    self.info.aux.push((k, v));
                    continue;
                }
                OPCODE_MODULE_AUX => {
                    return Err(RdbError::new(
                        RdbErrorKind::Unsupported,
                        at,
                        "The RDB file contains AUX module data, but redsim has no modules",
                    ))
                }
                OPCODE_FUNCTION_PRE_GA => {
                    return Err(RdbError::new(
                        RdbErrorKind::Unsupported,
                        at,
                        "Pre-release function format not supported.",
                    ))
                }
                OPCODE_FUNCTION2 => {
                    return Err(RdbError::new(
                        RdbErrorKind::Unsupported,
                        at,
                        "The RDB file contains functions, but redsim does not support functions",
                    ))
                }
                _ => {}
            }
            if !is_object_type(t) {
                return Err(RdbError::corrupt(
                    at,
                    format!("Unknown RDB object type {t}"),
                ));
            }
            let key = r.string_bytes()?.into_owned();
            let val = match decode_value(t, &mut r, &opts.limits) {
                Ok(v) => Some(v),
                Err(e) if e.kind == RdbErrorKind::EmptyKey => {
                    self.info.empty_keys_skipped += 1;
                    None
                }
                Err(e) => return Err(e),
            };
            keys += 1;
            let exp = std::mem::replace(&mut self.expire_ms, NO_EXPIRE);
            let (idl, frq) = (self.idle.take(), self.freq.take());
            let Some(val) = val else { continue };
            if opts.skip_expired && exp != NO_EXPIRE && exp < opts.now_ms {
                self.info.expired_skipped += 1;
                continue;
            }
            self.staged.push(Staged {
                db: self.db,
                key,
                val,
                expire_ms: exp,
                idle: idl,
                freq: frq,
            });
        }
        // Duplicate keys (a corrupt file): one sort over borrowed keys instead
        // of a hash set with a copy of every key (that was a third of load time).
        {
            let mut keys: Vec<(usize, &[u8])> = self
                .staged
                .iter()
                .map(|s| (s.db, s.key.as_slice()))
                .collect();
            keys.sort_unstable();
            if keys.windows(2).any(|w| w[0] == w[1]) {
                return Err(RdbError::corrupt(
                    r.offset(),
                    "Duplicated key found in RDB file",
                ));
            }
        }
        let body_end = r.offset();
        if self.info.version >= 5 {
            let at = r.offset();
            let sum = u64::from_le_bytes(r.array()?);
            if sum != 0 && opts.verify_checksum {
                let want = crc64(0, &bytes[..body_end]);
                if want != sum {
                    return Err(RdbError::new(
                        RdbErrorKind::Checksum,
                        at,
                        format!(
                            "Wrong RDB checksum expected: ({want:x}) got: ({sum:x}). Aborting now."
                        ),
                    ));
                }
                self.info.checksum_verified = true;
            }
        }
        self.pos = r.offset();
        self.info.consumed_bytes = r.offset();
        Ok(true)
    }

    /// Validation passed: empty the databases (unless merging), size the
    /// tables once, and start adding keys.
    fn begin_apply(&mut self, ks: &mut Keyspace) {
        self.saved = Some((ks.dirty, ks.notify_flags));
        ks.notify_flags = 0;
        if !self.opts.merge {
            for db in 0..ks.dbs.len() {
                ks.flush_db(db);
            }
        }
        let mut per_db = vec![0usize; ks.dbs.len()];
        for s in &self.staged {
            if let Some(n) = per_db.get_mut(s.db) {
                *n += 1;
            }
        }
        for (db, n) in per_db.into_iter().enumerate() {
            ks.dbs[db].table.reserve(n);
        }
        self.phase = Phase::Apply(std::mem::take(&mut self.staged).into_iter());
    }
}

/// Add one validated key with its TTL and access data (Redis's
/// objectSetLRUOrLFU for IDLE/FREQ).
fn apply_one(ks: &mut Keyspace, s: Staged, merge: bool) {
    let i = if merge {
        // DEBUG RELOAD MERGE: a loaded key replaces an existing one.
        ks.set(s.db, &s.key, s.val, false)
    } else {
        ks.add(s.db, &s.key, s.val)
    };
    if s.expire_ms != NO_EXPIRE {
        ks.set_expire(s.db, i, s.expire_ms);
    }
    if ks.lfu {
        if let Some(f) = s.freq {
            let minutes = ((ks.now_ms / 1000 / 60) as u64 & 0xFFFF) as u32;
            ks.entry_mut(s.db, i).lru = (minutes << 8) | u32::from(f);
        }
    } else if let Some(idle) = s.idle {
        let clock = ks.lru_clock();
        let idle = (idle.min(u64::from(LRU_CLOCK_MAX))) as u32;
        let lru = if idle <= clock {
            clock - idle
        } else {
            LRU_CLOCK_MAX - (idle - clock) + 1
        };
        ks.entry_mut(s.db, i).lru = lru & LRU_CLOCK_MAX;
    }
}

/// Load a whole RDB file into `ks`, replacing every database's contents.
/// Validates everything before touching `ks` (see the module doc). Keys are
/// added with `Keyspace::add` (watchers and blocked clients are signalled,
/// no keyspace events are raised, `dirty` is left as it was), then TTLs and
/// IDLE/FREQ access data are applied as Redis's objectSetLRUOrLFU does.
pub fn load(bytes: &[u8], ks: &mut Keyspace, opts: &LoadOpts) -> Result<LoadInfo, RdbError> {
    let mut l = RdbLoader::new(*opts);
    loop {
        if let Some(info) = l.step(bytes, ks, usize::MAX)? {
            return Ok(info);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled() -> Keyspace {
        let mut ks = Keyspace::new(16, 7);
        ks.now_ms = 1_700_000_000_000;
        for v in super::super::value::tests::samples() {
            let k = format!("k{}", ks.dbs[0].table.len());
            ks.add(0, k.as_bytes(), v);
        }
        let i = ks.add(3, b"ttl", Value::from_input(b"v"));
        ks.set_expire(3, i, 1_700_000_100_000);
        let i = ks.add(3, b"gone", Value::from_input(b"v"));
        ks.set_expire(3, i, 1_600_000_000_000);
        ks.add(
            5,
            b"stream",
            Value::Stream(Box::new(super::super::stream::tests::sample())),
        );
        ks
    }

    fn aux() -> Aux {
        Aux {
            ctime: 1_700_000_000,
            ..Aux::default()
        }
    }

    #[test]
    fn file_roundtrip() {
        let ks = filled();
        let bytes = save_keyspace(&ks, &aux(), SaveOpts::default());
        assert_eq!(&bytes[..9], b"REDIS0010");
        let mut ks2 = Keyspace::new(16, 9);
        ks2.now_ms = ks.now_ms;
        ks2.add(1, b"old", Value::Int(1));
        let opts = LoadOpts {
            now_ms: ks.now_ms,
            ..LoadOpts::default()
        };
        let info = load(&bytes, &mut ks2, &opts).expect("loads");
        assert!(info.checksum_verified);
        assert_eq!(info.expired_skipped, 1);
        assert_eq!(info.ctime, Some(1_700_000_000));
        assert!(ks2.dbs[1].table.is_empty());
        assert_eq!(
            crate::digest::dataset_digest(&ks2),
            crate::digest::dataset_digest(&{
                let mut k = filled();
                k.delete(3, b"gone");
                k
            })
        );
        // Corruption anywhere: error, keyspace untouched.
        let mut ks3 = Keyspace::new(16, 9);
        ks3.add(1, b"old", Value::Int(1));
        let step = (bytes.len() / 400).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            assert!(load(&bytes[..cut], &mut ks3, &opts).is_err());
        }
        for i in (9..bytes.len()).step_by(step) {
            let mut c = bytes.clone();
            c[i] ^= 0x40;
            assert!(load(&c, &mut ks3, &opts).is_err(), "flip at {i}");
        }
        assert_eq!(ks3.dbs[1].table.len(), 1);
        // Too few databases.
        let mut small = Keyspace::new(4, 1);
        let e = load(&bytes, &mut small, &opts).expect_err("db 5");
        assert!(e.msg.contains("more than 4 databases"), "{e}");
        // Zero checksum: not verified.
        let mut z = bytes.clone();
        let n = z.len();
        z[n - 8..].copy_from_slice(&[0; 8]);
        let info = load(&z, &mut ks3, &opts).expect("no checksum");
        assert!(!info.checksum_verified);
        // Newer version refused.
        let mut v = bytes.clone();
        v[5..9].copy_from_slice(b"0011");
        let e = load(&v, &mut ks3, &opts).expect_err("version");
        assert_eq!(e.msg, "Can't handle RDB format version 11");
    }

    /// Mutated files with checksum verification off: the parser alone
    /// must reject or load them, never panic; a loaded dataset is usable.
    #[test]
    fn file_mutation_fuzz() {
        let iters: usize = std::env::var("RDB_FUZZ_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200);
        let bytes = save_keyspace(&filled(), &aux(), SaveOpts::default());
        let opts = LoadOpts {
            verify_checksum: false,
            now_ms: 1_700_000_000_000,
            ..LoadOpts::default()
        };
        let mut rng = crate::rng::Rng::new(42);
        let mut ks = Keyspace::new(16, 1);
        for _ in 0..iters {
            let mut m = bytes.clone();
            for _ in 0..1 + rng.below(3) {
                let i = 9 + rng.below((m.len() - 9) as u64) as usize;
                if rng.below(5) == 0 {
                    m.truncate(i);
                } else {
                    m[i] ^= 1 << rng.below(8);
                }
            }
            if load(&m, &mut ks, &opts).is_ok() {
                let _ = crate::digest::dataset_digest(&ks);
            }
        }
    }

    /// A file naming the same key twice in one db is corrupt (and the
    /// keyspace is left untouched); the same key in two dbs is fine.
    #[test]
    fn duplicate_keys_rejected() {
        let val = Value::from_input(b"v");
        let write = |dbs: &[usize]| {
            let mut w = RdbWriter::new(false);
            let mut out = Vec::new();
            w.header(&mut out, &aux());
            for &db in dbs {
                w.select_db(&mut out, db, 1, 0);
                w.key(&mut out, b"dup", &val, KeyMeta::default());
            }
            w.finish(&mut out);
            out
        };
        let mut ks = Keyspace::new(16, 1);
        ks.add(0, b"keep", Value::from_input(b"x"));
        let opts = LoadOpts::default();
        let e = load(&write(&[0, 0]), &mut ks, &opts).err();
        assert!(e.is_some_and(|e| e.to_string().contains("Duplicated key")));
        assert!(
            ks.dbs[0].table.find(b"keep").is_some(),
            "untouched on error"
        );
        let info = load(&write(&[0, 1]), &mut ks, &opts).map(|i| i.keys_loaded);
        assert_eq!(info.ok(), Some(2));
    }

    /// Loading in steps of one key gives the same dataset as one call, and
    /// a corrupt file still fails before any key is added.
    #[test]
    fn stepped_load_matches_whole_load() {
        let ks = filled();
        let bytes = save_keyspace(&ks, &aux(), SaveOpts::default());
        let opts = LoadOpts {
            now_ms: ks.now_ms,
            ..LoadOpts::default()
        };
        let mut whole = Keyspace::new(16, 3);
        let info = load(&bytes, &mut whole, &opts).expect("loads");
        let mut stepped = Keyspace::new(16, 3);
        let mut l = RdbLoader::new(opts);
        let mut steps = 0;
        let info2 = loop {
            steps += 1;
            match l.step(&bytes, &mut stepped, 1) {
                Ok(Some(i)) => break i,
                Ok(None) => assert!(l.parsed_bytes() <= bytes.len()),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(info, info2);
        assert!(steps as u64 > 2 * info.keys_loaded, "{steps} steps");
        assert_eq!(
            crate::digest::dataset_digest(&whole),
            crate::digest::dataset_digest(&stepped)
        );
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n - 20] ^= 0xff;
        let mut ks3 = Keyspace::new(16, 3);
        ks3.add(0, b"keep", Value::Int(1));
        let mut l = RdbLoader::new(opts);
        let r = loop {
            match l.step(&bad, &mut ks3, 1) {
                Ok(None) => assert_eq!(ks3.dbs[0].table.len(), 1, "untouched while parsing"),
                other => break other,
            }
        };
        assert!(r.is_err());
    }

    #[test]
    fn incremental_crc_matches() {
        let ks = filled();
        let whole = save_keyspace(&ks, &aux(), SaveOpts::default());
        let n = whole.len();
        assert_eq!(crc64(0, &whole[..n - 8]).to_le_bytes(), whole[n - 8..]);
    }
}
