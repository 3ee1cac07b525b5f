//! Redis 7.0's multi-part append-only file, as pure logic over a [`Disk`].
//!
//! Layout (exactly what Redis 7.0.15 writes; `dir` is the disk root):
//! - `<appenddirname>/` (default `appendonlydir`) holds every AOF file;
//! - `<appendfilename>.<seq>.base.rdb` (or `.base.aof` with
//!   `aof-use-rdb-preamble no`): the snapshot taken by the last rewrite;
//! - `<appendfilename>.<seq>.incr.aof`: commands since then (several during
//!   or after a failed rewrite);
//! - `<appendfilename>.manifest`: one line per file,
//!   `file appendonly.aof.1.base.rdb seq 1 type b\n`, types `b` (base, first),
//!   `h` (history: rewritten away, deleted soon), `i` (incr, ascending seq).
//!   It is replaced atomically: `temp-<appendfilename>.manifest` is written,
//!   fsynced, renamed over it, and the directory fsynced.
//!
//! Pieces:
//! - [`Manifest`]: parse (Redis's validations and error texts) and format.
//! - [`load`]: manifest, then the base (an RDB when it starts with `REDIS`,
//!   handed to a caller callback) and each incr, yielding commands. Also
//!   upgrades a single old-style `appendonly.aof` like Redis 7 does.
//! - [`AofWriter`]: the open incr file, the in-memory AOF buffer, the
//!   `appendfsync` policies, INFO persistence figures, and the rewrite
//!   protocol (no fork: the caller produces the new base in chunks while new
//!   commands already go to a fresh incr file).
//!
//! Crash invariant: at every instant the durable manifest names a complete,
//! loadable set of files. New files are fully written and fsynced before a
//! manifest naming them is switched in (rename + directory fsync); files are
//! deleted only after a manifest no longer naming them as base/incr is
//! durable. So a crash at any file operation loads either the old or the new
//! state, and with `appendfsync always` never loses an acknowledged write.
//!
//! Deviations from Redis on damaged input: the command parser is strict
//! (`*<digits>\r\n`, `$<digits>\r\n`, payload, `\r\n`) where Redis's
//! `atoi`/`strtol` would silently mis-read garbage; a truncation inside a
//! MULTI truncates before the MULTI (Redis may leave a dangling MULTI that
//! swallows later appends); a truncated file that is not the last one is
//! refused without truncating it on disk; the valid offset after an RDB
//! preamble is the RDB's end, not 0.
//!
//! Deviations for durability (Redis 7.0 is not crash-safe there): creating
//! the AOF directory also fsyncs its parent; the upgrade of an old-style file
//! fsyncs both directories; a new base is kept, not unlinked, when the
//! manifest switch fails (the failure may follow the rename); after a failed
//! fsync the next flush retries it even with an empty buffer.

use std::fmt;
use std::io;

use crate::disk::{self, error_text, Disk, Fd, EIO, ENOENT, ENOSPC};

pub const BASE_FILE_SUFFIX: &str = ".base";
pub const INCR_FILE_SUFFIX: &str = ".incr";
pub const RDB_FORMAT_SUFFIX: &str = ".rdb";
pub const AOF_FORMAT_SUFFIX: &str = ".aof";
pub const MANIFEST_NAME_SUFFIX: &str = ".manifest";
pub const TEMP_FILE_NAME_PREFIX: &str = "temp-";

/// fgets buffer of `aofLoadManifestFromFile` is MANIFEST_MAX_LINE+1 bytes.
const MANIFEST_LINE_MAX_BYTES: usize = 1024;
/// Redis reads AOF header lines with fgets into a 1024-byte buffer.
const AOF_LINE_MAX_BYTES: usize = 1023;
/// REDIS_AUTOSYNC_BYTES: incremental fsync step while writing a rewrite base.
const AUTOSYNC_BYTES: u64 = 4 * 1024 * 1024;
/// Redis logs AOF write errors at most once per this many seconds.
const WRITE_ERROR_LOG_PERIOD_S: i64 = 30;

/// The AOF-related configuration (`appenddirname`, `appendfilename`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofConfig {
    /// `appenddirname`, relative to `dir` (the disk root).
    pub dirname: String,
    /// `appendfilename`.
    pub filename: String,
    /// `aof-use-rdb-preamble`: rewrites produce `.base.rdb` (else `.base.aof`).
    pub use_rdb_preamble: bool,
    /// `aof-load-truncated`.
    pub load_truncated: bool,
    /// `aof-disable-auto-gc`: keep history files.
    pub disable_auto_gc: bool,
    /// `aof-rewrite-incremental-fsync`: fsync the new base every 4 MiB.
    pub rewrite_incremental_fsync: bool,
    /// `no-appendfsync-on-rewrite`: skip fsyncs while a rewrite runs.
    pub no_fsync_on_rewrite: bool,
    /// `proto-max-bulk-len`: longest argument accepted while loading.
    pub bulk_len_max_bytes: u64,
    /// Names the rewrite's temp files (`temp-rewriteaof-bg-<pid>.aof`).
    pub pid: u32,
}

impl Default for AofConfig {
    fn default() -> AofConfig {
        AofConfig {
            dirname: "appendonlydir".to_string(),
            filename: "appendonly.aof".to_string(),
            use_rdb_preamble: true,
            load_truncated: true,
            disable_auto_gc: false,
            rewrite_incremental_fsync: true,
            no_fsync_on_rewrite: false,
            bulk_len_max_bytes: 512 * 1024 * 1024,
            pid: 0,
        }
    }
}

impl AofConfig {
    fn path(&self, name: &str) -> String {
        disk::join(&self.dirname, name)
    }
    pub fn manifest_name(&self) -> String {
        format!("{}{}", self.filename, MANIFEST_NAME_SUFFIX)
    }
    pub fn temp_manifest_name(&self) -> String {
        format!(
            "{}{}{}",
            TEMP_FILE_NAME_PREFIX, self.filename, MANIFEST_NAME_SUFFIX
        )
    }
    /// The file a rewrite writes its base into (in the root, like Redis's
    /// child), before renaming it to `temp-rewriteaof-bg-<pid>.aof`.
    pub fn rewrite_temp_name(&self) -> String {
        format!("temp-rewriteaof-{}.aof", self.pid)
    }
    pub fn rewrite_temp_bg_name(&self) -> String {
        format!("temp-rewriteaof-bg-{}.aof", self.pid)
    }
}

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    Always,
    Everysec,
    No,
}

/// One line Redis would log; the caller prints it with its logger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub warning: bool,
    pub text: String,
}

fn notice(log: &mut Vec<LogLine>, text: String) {
    log.push(LogLine {
        warning: false,
        text,
    });
}

fn warning(log: &mut Vec<LogLine>, text: String) {
    log.push(LogLine {
        warning: true,
        text,
    });
}

// ---------------------------------------------------------------------------
// Manifest
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AofFileType {
    Base,
    History,
    Incr,
}

impl AofFileType {
    pub fn as_char(self) -> char {
        match self {
            AofFileType::Base => 'b',
            AofFileType::History => 'h',
            AofFileType::Incr => 'i',
        }
    }
}

/// One manifest line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofInfo {
    pub file_name: String,
    pub file_seq: i64,
    pub file_type: AofFileType,
}

/// Redis's `aofManifest`. Invariants (checked by `parse`): at most one base;
/// incr seqs strictly ascending; every name is a bare file name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofInfo>,
    pub history: Vec<AofInfo>,
    pub incrs: Vec<AofInfo>,
    pub curr_base_seq: i64,
    pub curr_incr_seq: i64,
}

/// A manifest Redis would refuse, with its log texts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub msg: &'static str,
    /// Line number and the trimmed line, when Redis prints them.
    pub line: Option<(usize, String)>,
}

impl ManifestError {
    /// The lines Redis logs before exiting.
    pub fn log_lines(&self) -> Vec<String> {
        let mut v = vec!["*** FATAL AOF MANIFEST FILE ERROR ***".to_string()];
        if let Some((n, l)) = &self.line {
            v.push(format!("Reading the manifest file, at line {n}"));
            v.push(format!(">>> '{l}'"));
        }
        v.push(self.msg.to_string());
        v
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.msg)
    }
}

fn c_isspace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn c_isprint(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Redis's `sdssplitargs`: space-separated words, "double quotes" with
/// C escapes and \xHH, 'single quotes' with \'. None on unbalanced quotes or
/// a closing quote not followed by a space.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut p = 0;
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    loop {
        while p < line.len() && c_isspace(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(out);
        }
        let (mut inq, mut insq, mut done) = (false, false, false);
        let mut cur = Vec::new();
        while !done {
            let c = at(p);
            if inq {
                if c == b'\\' && at(p + 1) == b'x' && hex_val(at(p + 2)).is_some() {
                    match (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        (Some(h), Some(l)) => {
                            cur.push(h * 16 + l);
                            p += 3;
                        }
                        _ => cur.push(c),
                    }
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !c_isspace(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !c_isspace(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    other => cur.push(other),
                }
            }
            if p < line.len() {
                p += 1;
            }
        }
        out.push(cur);
    }
}

/// Redis's `sdsneedsrepr`.
fn needs_repr(s: &str) -> bool {
    s.bytes().any(|b| {
        matches!(b, b'\\' | b'"' | b'\n' | b'\r' | b'\t' | 0x07 | 0x08)
            || !c_isprint(b)
            || c_isspace(b)
    })
}

/// Redis's `sdscatrepr`.
fn repr(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'\\' | b'"' => {
                out.push('\\');
                out.push(b as char);
            }
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            _ if c_isprint(b) => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// C's `atoll`: leading spaces, sign, digits; saturates instead of UB.
fn atoll(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && c_isspace(s[i]) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    while let Some(d) = s.get(i).filter(|c| c.is_ascii_digit()) {
        let digit = i64::from(d - b'0');
        v = if neg {
            v.saturating_mul(10).saturating_sub(digit)
        } else {
            v.saturating_mul(10).saturating_add(digit)
        };
        i += 1;
    }
    v
}

fn trim_bytes<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|b| !set.contains(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !set.contains(b))
        .map(|i| i + 1)
        .unwrap_or(start);
    &s[start..end.max(start)]
}

impl Manifest {
    /// `aofLoadManifestFromFile`'s parser, reading lines like its fgets.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let mut am = Manifest::default();
        let mut pos = 0;
        let mut linenum = 0usize;
        let mut maxseq = 0i64;
        let fail = |msg, line: Option<(usize, &[u8])>| ManifestError {
            msg,
            line: line.map(|(n, l)| (n, String::from_utf8_lossy(l).into_owned())),
        };
        loop {
            if pos >= bytes.len() {
                if linenum == 0 {
                    return Err(fail("Found an empty AOF manifest", None));
                }
                break;
            }
            let limit = (pos + MANIFEST_LINE_MAX_BYTES).min(bytes.len());
            let end = match bytes[pos..limit].iter().position(|&b| b == b'\n') {
                Some(i) => pos + i + 1,
                None => limit,
            };
            let chunk = &bytes[pos..end];
            pos = end;
            linenum += 1;
            // The C code sees a NUL-terminated string.
            let cstr = match chunk.iter().position(|&b| b == 0) {
                Some(i) => &chunk[..i],
                None => chunk,
            };
            if cstr.first() == Some(&b'#') {
                continue;
            }
            if !cstr.contains(&b'\n') {
                return Err(fail("The AOF manifest file contains too long line", None));
            }
            let line = trim_bytes(cstr, b" \t\r\n");
            let at = Some((linenum, line));
            if line.is_empty() {
                return Err(fail("Invalid AOF manifest file format", at));
            }
            let argv = match split_args(line) {
                Some(a) if a.len() >= 6 && a.len() % 2 == 0 => a,
                _ => return Err(fail("Invalid AOF manifest file format", at)),
            };
            let (mut name, mut seq, mut ty) = (None, 0i64, 0u8);
            for kv in argv.chunks(2) {
                let (k, v) = (&kv[0], &kv[1]);
                if k.eq_ignore_ascii_case(b"file") {
                    if v.contains(&b'/') || v.contains(&b'\\') {
                        return Err(fail("File can't be a path, just a filename", at));
                    }
                    // C strings stop at NUL; names must be UTF-8 here.
                    let v = match v.iter().position(|&b| b == 0) {
                        Some(i) => &v[..i],
                        None => &v[..],
                    };
                    match std::str::from_utf8(v) {
                        Ok(s) => name = Some(s.to_string()),
                        Err(_) => return Err(fail("Invalid AOF manifest file format", at)),
                    }
                } else if k.eq_ignore_ascii_case(b"seq") {
                    seq = atoll(v);
                } else if k.eq_ignore_ascii_case(b"type") {
                    ty = v.first().copied().unwrap_or(0);
                }
            }
            let name = match name {
                Some(n) if !n.is_empty() && seq != 0 && ty != 0 => n,
                _ => return Err(fail("Invalid AOF manifest file format", at)),
            };
            match ty {
                b'b' => {
                    if am.base.is_some() {
                        return Err(fail("Found duplicate base file information", at));
                    }
                    am.base = Some(AofInfo {
                        file_name: name,
                        file_seq: seq,
                        file_type: AofFileType::Base,
                    });
                    am.curr_base_seq = seq;
                }
                b'h' => am.history.push(AofInfo {
                    file_name: name,
                    file_seq: seq,
                    file_type: AofFileType::History,
                }),
                b'i' => {
                    if seq <= maxseq {
                        return Err(fail("Found a non-monotonic sequence number", at));
                    }
                    am.incrs.push(AofInfo {
                        file_name: name,
                        file_seq: seq,
                        file_type: AofFileType::Incr,
                    });
                    am.curr_incr_seq = seq;
                    maxseq = seq;
                }
                _ => return Err(fail("Unknown AOF file type", at)),
            }
        }
        Ok(am)
    }

    /// `getAofManifestAsString`: base, then history, then incrs.
    pub fn format(&self) -> String {
        let mut s = String::new();
        for ai in self.base.iter().chain(&self.history).chain(&self.incrs) {
            let name = if needs_repr(&ai.file_name) {
                repr(&ai.file_name)
            } else {
                ai.file_name.clone()
            };
            s.push_str(&format!(
                "file {} seq {} type {}\n",
                name,
                ai.file_seq,
                ai.file_type.as_char()
            ));
        }
        s
    }

    /// `getNewBaseFileNameAndMarkPreAsHistory`.
    pub fn new_base(&mut self, cfg: &AofConfig, rdb: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.file_type = AofFileType::History;
            self.history.insert(0, old);
        }
        self.curr_base_seq += 1;
        let name = format!(
            "{}.{}{}{}",
            cfg.filename,
            self.curr_base_seq,
            BASE_FILE_SUFFIX,
            if rdb {
                RDB_FORMAT_SUFFIX
            } else {
                AOF_FORMAT_SUFFIX
            }
        );
        self.base = Some(AofInfo {
            file_name: name.clone(),
            file_seq: self.curr_base_seq,
            file_type: AofFileType::Base,
        });
        name
    }

    /// `getNewIncrAofName`.
    pub fn new_incr(&mut self, cfg: &AofConfig) -> String {
        self.curr_incr_seq += 1;
        let name = format!(
            "{}.{}{}{}",
            cfg.filename, self.curr_incr_seq, INCR_FILE_SUFFIX, AOF_FORMAT_SUFFIX
        );
        self.incrs.push(AofInfo {
            file_name: name.clone(),
            file_seq: self.curr_incr_seq,
            file_type: AofFileType::Incr,
        });
        name
    }

    /// `markRewrittenIncrAofAsHistory` with the AOF enabled: every incr but
    /// the last (the one being written) becomes history, in Redis's order.
    pub fn mark_rewritten_incrs_as_history(&mut self) {
        let keep = self.incrs.pop();
        for mut ai in self.incrs.drain(..).rev() {
            ai.file_type = AofFileType::History;
            self.history.insert(0, ai);
        }
        self.incrs.extend(keep);
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why an AOF operation failed. Display gives Redis's log wording.
#[derive(Debug)]
pub enum AofError {
    Manifest(ManifestError),
    /// A file operation failed; `msg` is the full Redis log line.
    Io {
        msg: String,
        errno: i32,
    },
    /// The manifest names a base/incr file that does not exist.
    FileMissing {
        file: String,
    },
    /// Unexpected end of file (with `aof-load-truncated no`, or in a file
    /// that is not the last one). `offset` is the end of the last complete
    /// command.
    Truncated {
        file: String,
        offset: u64,
        last_file: bool,
    },
    /// A byte that cannot start/continue a command, at `offset`.
    Format {
        file: String,
        offset: u64,
    },
    /// The RDB loader callback refused the base / preamble.
    Rdb {
        file: String,
        old_style: bool,
        msg: String,
    },
    /// The command callback refused a command (e.g. unknown command).
    Command {
        file: String,
        offset: u64,
        msg: String,
    },
    /// The writer is not in the state the call needs.
    State(&'static str),
}

impl fmt::Display for AofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AofError::Manifest(e) => write!(f, "{e}"),
            AofError::Io { msg, .. } => f.write_str(msg),
            AofError::FileMissing { file } => write!(
                f,
                "Unable to obtain the AOF file {file} length. stat: No such file or directory"
            ),
            AofError::Truncated {
                file,
                last_file: true,
                ..
            } => write!(
                f,
                "Unexpected end of file reading the append only file {file}. You can: \
                 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. \
                 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
            ),
            AofError::Truncated { file, offset, .. } => write!(
                f,
                "Unexpected end of file reading the append only file {file} at offset {offset}, \
                 which is not the last AOF file: refusing to load"
            ),
            AofError::Format { file, .. } => write!(
                f,
                "Bad file format reading the append only file {file}: make a backup of your AOF file, \
                 then use ./redis-check-aof --fix <filename.manifest>"
            ),
            AofError::Rdb {
                file,
                old_style: true,
                ..
            } => write!(
                f,
                "Error reading the RDB preamble of the AOF file {file}, AOF loading aborted"
            ),
            AofError::Rdb { file, .. } => {
                write!(f, "Error reading the RDB base file {file}, AOF loading aborted")
            }
            AofError::Command { msg, .. } => f.write_str(msg),
            AofError::State(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for AofError {}

fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(EIO)
}

fn io_err(msg: String, e: &io::Error) -> AofError {
    AofError::Io {
        msg,
        errno: errno_of(e),
    }
}

// ---------------------------------------------------------------------------
// Manifest persistence
// ---------------------------------------------------------------------------

/// `aofLoadManifestFromDisk`: an empty manifest when the directory or the
/// manifest file is missing (first start, or upgrade from Redis < 7).
pub fn load_manifest(disk: &mut dyn Disk, cfg: &AofConfig) -> Result<Manifest, AofError> {
    match disk.stat(&cfg.dirname) {
        Ok(Some(s)) if s.is_dir => {}
        Ok(_) => return Ok(Manifest::default()),
        Err(e) => {
            return Err(io_err(
                format!("Can't stat {}: {}", cfg.dirname, error_text(&e)),
                &e,
            ))
        }
    }
    let path = cfg.path(&cfg.manifest_name());
    match disk.stat(&path) {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(Manifest::default()),
        Err(e) => return Err(io_err(format!("Can't stat {path}: {}", error_text(&e)), &e)),
    }
    let bytes = disk.read(&path).map_err(|e| {
        io_err(
            format!(
                "Fatal error: can't open the AOF manifest file {path} for reading: {}",
                error_text(&e)
            ),
            &e,
        )
    })?;
    Manifest::parse(&bytes).map_err(AofError::Manifest)
}

/// `writeAofManifestFile`: temp file, fsync, rename, fsync the directory.
pub fn persist_manifest(
    disk: &mut dyn Disk,
    cfg: &AofConfig,
    am: &Manifest,
) -> Result<(), AofError> {
    let tmp_name = cfg.temp_manifest_name();
    let name = cfg.manifest_name();
    let tmp = cfg.path(&tmp_name);
    let fd = disk.create(&tmp).map_err(|e| {
        io_err(
            format!(
                "Can't open the AOF manifest file {tmp_name}: {}",
                error_text(&e)
            ),
            &e,
        )
    })?;
    let r = (|| {
        disk.write_all(fd, am.format().as_bytes()).map_err(|e| {
            io_err(
                format!(
                    "Error trying to write the temporary AOF manifest file {tmp_name}: {}",
                    error_text(&e)
                ),
                &e,
            )
        })?;
        disk.fsync(fd).map_err(|e| {
            io_err(
                format!(
                    "Fail to fsync the temp AOF file {tmp_name}: {}.",
                    error_text(&e)
                ),
                &e,
            )
        })
    })();
    disk.close(fd);
    r?;
    let path = cfg.path(&name);
    disk.rename(&tmp, &path).map_err(|e| {
        io_err(
            format!(
                "Error trying to rename the temporary AOF manifest file {tmp_name} into {name}: {}",
                error_text(&e)
            ),
            &e,
        )
    })?;
    disk.fsync_dir(&cfg.dirname).map_err(|e| {
        io_err(
            format!("Fail to fsync AOF directory {path}: {}.", error_text(&e)),
            &e,
        )
    })
}

fn mkdir_aof_dir(disk: &mut dyn Disk, cfg: &AofConfig) -> Result<(), AofError> {
    let err = |e: io::Error| {
        io_err(
            format!(
                "Can't open or create append-only dir {}: {}",
                cfg.dirname,
                error_text(&e)
            ),
            &e,
        )
    };
    if let Ok(Some(s)) = disk.stat(&cfg.dirname) {
        if s.is_dir {
            return Ok(());
        }
    }
    disk.mkdir(&cfg.dirname).map_err(err)?;
    // Redis's dirCreateIfMissing does not sync the parent; without it a
    // crash may lose the new directory together with every file in it
    // (POSIX; ext4 usually commits it with the next fsync anyway).
    disk.fsync_dir(disk::parent(&cfg.dirname)).map_err(err)
}

fn file_size(disk: &mut dyn Disk, path: &str) -> u64 {
    match disk.stat(path) {
        Ok(Some(s)) => s.size_bytes,
        _ => 0,
    }
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// What `load` hands to the caller, in file order.
#[derive(Debug, PartialEq, Eq)]
pub enum LoadEvent<'a> {
    /// A new file starts: like Redis's fresh fake client, the caller resets
    /// the selected database to 0 (and any transaction state).
    File {
        name: &'a str,
        file_type: AofFileType,
    },
    /// One command's argv. A MULTI ... EXEC block is delivered only once its
    /// EXEC has been read, so an incomplete transaction is never executed.
    Command(Vec<Vec<u8>>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStatus {
    /// Everything loaded.
    Ok,
    /// The last file had a truncated tail; it was cut at `truncated.offset`.
    Truncated,
    /// The manifest names files but they are all empty.
    Empty,
    /// No AOF at all (no manifest entries, no old-style file).
    NotExist,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    pub file: String,
    pub offset: u64,
}

/// The result of [`load`]; `manifest` goes to [`AofWriter::open`].
#[derive(Clone, Debug)]
pub struct AofLoad {
    pub status: LoadStatus,
    pub manifest: Manifest,
    pub truncated: Option<Truncation>,
    /// `aof_current_size` after loading: base + incr sizes.
    pub current_size_bytes: u64,
    /// Size of the base file (`aof_rewrite_base_size` after a restart).
    pub base_size_bytes: u64,
    /// Commands delivered (transactions count each command).
    pub commands: u64,
    /// An old-style `appendonly.aof` was migrated into the directory.
    pub upgraded: bool,
    pub log: Vec<LogLine>,
}

enum FileOutcome {
    Empty,
    Loaded,
    Truncated { valid_up_to: u64 },
}

enum Header {
    Num(u64),
    /// The file ends inside the line.
    Eof,
    Bad,
}

/// Reads `<prefix><digits>\r\n` at `*pos`, advancing past it.
fn read_header(bytes: &[u8], pos: &mut usize, prefix: u8) -> Header {
    let start = *pos;
    if bytes.get(start) != Some(&prefix) {
        return Header::Bad;
    }
    let limit = (start + AOF_LINE_MAX_BYTES).min(bytes.len());
    let nl = match bytes[start..limit].iter().position(|&b| b == b'\n') {
        Some(i) => start + i,
        None if limit == bytes.len() => return Header::Eof,
        None => return Header::Bad,
    };
    let line = &bytes[start + 1..nl];
    let digits = match line.split_last() {
        Some((b'\r', d)) => d,
        _ => return Header::Bad,
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return Header::Bad;
    }
    let n = digits
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    *pos = nl + 1;
    Header::Num(n)
}

/// `loadSingleAppendOnlyFile` over one file's bytes, resumable: `step`
/// delivers at most `budget` commands per call and returns to the caller
/// (which serves clients -LOADING in between). State is kept only at
/// command boundaries.
struct FileLoad {
    /// Next unread byte.
    pos: usize,
    /// The File event was delivered and the RDB preamble check done.
    started: bool,
    /// The RDB preamble is being loaded (the `rdb` callback said "more").
    in_rdb: bool,
    /// Offsets to truncate to: after the last complete command, and before
    /// the MULTI of an open transaction.
    valid_up_to: u64,
    valid_before_multi: u64,
    multi: Option<Vec<Vec<Vec<u8>>>>,
}

/// Where a file is after one [`FileLoad::step`].
enum FileStep {
    More,
    Done(FileOutcome),
}

/// The fixed facts about the file being loaded.
struct FileCtx<'a> {
    bytes: &'a [u8],
    name: &'a str,
    file_type: AofFileType,
    old_style: bool,
}

impl FileLoad {
    fn new() -> FileLoad {
        FileLoad {
            pos: 0,
            started: false,
            in_rdb: false,
            valid_up_to: 0,
            valid_before_multi: 0,
            multi: None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        f: &FileCtx<'_>,
        cfg: &AofConfig,
        rdb: &mut dyn FnMut(&[u8]) -> Result<Option<usize>, String>,
        on: &mut dyn FnMut(LoadEvent<'_>) -> Result<(), String>,
        log: &mut Vec<LogLine>,
        commands: &mut u64,
        budget: usize,
    ) -> Result<FileStep, AofError> {
        let (bytes, name) = (f.bytes, f.name);
        if bytes.is_empty() {
            return Ok(FileStep::Done(FileOutcome::Empty));
        }
        if !self.started {
            self.started = true;
            on(LoadEvent::File {
                name,
                file_type: f.file_type,
            })
            .map_err(|msg| AofError::Command {
                file: name.to_string(),
                offset: 0,
                msg,
            })?;
            if bytes.starts_with(b"REDIS") {
                notice(
                    log,
                    if f.old_style {
                        "Reading RDB preamble from AOF file...".to_string()
                    } else {
                        "Reading RDB base file on AOF loading...".to_string()
                    },
                );
                self.in_rdb = true;
            }
        }
        if self.in_rdb {
            let rdb_err = |msg| AofError::Rdb {
                file: name.to_string(),
                old_style: f.old_style,
                msg,
            };
            let Some(used) = rdb(bytes).map_err(rdb_err)? else {
                return Ok(FileStep::More);
            };
            if used > bytes.len() {
                return Err(rdb_err(format!(
                    "RDB loader consumed {used} bytes of a {} byte file",
                    bytes.len()
                )));
            }
            self.in_rdb = false;
            self.pos = used;
            self.valid_up_to = used as u64;
            self.valid_before_multi = used as u64;
            if f.old_style {
                notice(log, "Reading the remaining AOF tail...".to_string());
            }
            return Ok(FileStep::More);
        }
        let mut pos = self.pos;
        let fmt_err = |offset: usize| AofError::Format {
            file: name.to_string(),
            offset: offset as u64,
        };
        let mut delivered = 0usize;
        let truncated = 'parse: loop {
            self.pos = pos;
            if pos >= bytes.len() {
                break 'parse false;
            }
            if delivered >= budget {
                return Ok(FileStep::More);
            }
            if bytes[pos] == b'#' {
                // Annotations (#TS:...) are skipped, even unterminated at EOF.
                pos = match bytes[pos..].iter().position(|&b| b == b'\n') {
                    Some(i) => pos + i + 1,
                    None => bytes.len(),
                };
                continue;
            }
            let cmd_start = pos;
            let argc = match read_header(bytes, &mut pos, b'*') {
                Header::Num(n) if (1..=i32::MAX as u64).contains(&n) => n,
                Header::Num(_) | Header::Bad => return Err(fmt_err(cmd_start)),
                Header::Eof => break 'parse true,
            };
            // Never trust argc for allocation: each argument takes >= 6 bytes.
            let mut argv: Vec<Vec<u8>> =
                Vec::with_capacity((argc as usize).min((bytes.len() - pos) / 6 + 1));
            for _ in 0..argc {
                if pos >= bytes.len() {
                    break 'parse true;
                }
                let hdr_at = pos;
                let len = match read_header(bytes, &mut pos, b'$') {
                    Header::Num(n) if n <= cfg.bulk_len_max_bytes => n,
                    Header::Num(_) | Header::Bad => return Err(fmt_err(hdr_at)),
                    Header::Eof => break 'parse true,
                };
                let avail = (bytes.len() - pos) as u64;
                if len.saturating_add(2) > avail {
                    break 'parse true;
                }
                let end = pos + len as usize;
                if &bytes[end..end + 2] != b"\r\n" {
                    return Err(fmt_err(end));
                }
                argv.push(bytes[pos..end].to_vec());
                pos = end + 2;
            }
            let first: &[u8] = argv.first().map(|a| a.as_slice()).unwrap_or(b"");
            let is_multi = first.eq_ignore_ascii_case(b"multi");
            let is_exec = first.eq_ignore_ascii_case(b"exec");
            let cmd_err = |msg| AofError::Command {
                file: name.to_string(),
                offset: cmd_start as u64,
                msg,
            };
            match self.multi.as_mut() {
                None if is_multi => {
                    self.valid_before_multi = self.valid_up_to;
                    self.multi = Some(vec![argv]);
                }
                None => {
                    *commands += 1;
                    delivered += 1;
                    on(LoadEvent::Command(argv)).map_err(cmd_err)?;
                }
                Some(queue) => {
                    queue.push(argv);
                    if is_exec {
                        for c in queue.drain(..) {
                            *commands += 1;
                            delivered += 1;
                            on(LoadEvent::Command(c)).map_err(cmd_err)?;
                        }
                        self.multi = None;
                    }
                }
            }
            self.valid_up_to = pos as u64;
        };
        if self.multi.is_some() {
            // Redis reverts an incomplete transaction at EOF; on a mid-command
            // EOF inside one we also cut before the MULTI, so that later appends
            // cannot be swallowed into the dangling transaction.
            warning(
                log,
                format!("Revert incomplete MULTI/EXEC transaction in AOF file {name}"),
            );
            self.valid_up_to = self.valid_before_multi;
        } else if !truncated {
            return Ok(FileStep::Done(FileOutcome::Loaded));
        }
        Ok(FileStep::Done(FileOutcome::Truncated {
            valid_up_to: self.valid_up_to,
        }))
    }
}

/// `aofUpgradePrepare`: adopt an old single-file `appendonly.aof` as base.
fn upgrade_prepare(
    disk: &mut dyn Disk,
    cfg: &AofConfig,
    am: &mut Manifest,
    log: &mut Vec<LogLine>,
) -> Result<(), AofError> {
    mkdir_aof_dir(disk, cfg)?;
    am.base = Some(AofInfo {
        file_name: cfg.filename.clone(),
        file_seq: 1,
        file_type: AofFileType::Base,
    });
    am.curr_base_seq = 1;
    persist_manifest(disk, cfg, am)?;
    // A crash before this rename is durable leaves the file in `dir` and a
    // manifest naming it: the next start retries the upgrade (condition 3).
    disk.rename(&cfg.filename, &cfg.path(&cfg.filename))
        .map_err(|e| {
            io_err(
                format!(
                    "Error trying to move the old AOF file {} into dir {}: {}",
                    cfg.filename,
                    cfg.dirname,
                    error_text(&e)
                ),
                &e,
            )
        })?;
    // Not in Redis: make the move durable on both sides, so a crash cannot
    // leave a stale copy in `dir` (harmless, but confusing).
    let _ = disk.fsync_dir(&cfg.dirname);
    let _ = disk.fsync_dir(disk::parent(&cfg.filename));
    notice(
        log,
        format!(
            "Successfully migrated an old-style AOF file ({}) into the AOF directory ({}).",
            cfg.filename, cfg.dirname
        ),
    );
    Ok(())
}

/// `aofLoadManifestFromDisk` + `loadAppendOnlyFiles`. `rdb` loads an RDB
/// base/preamble and returns the bytes it consumed; `on` executes commands.
/// A truncated tail of the last file (with `aof-load-truncated yes`) is cut
/// off on disk, as Redis does, and reported in `truncated`.
pub fn load(
    disk: &mut dyn Disk,
    cfg: &AofConfig,
    rdb: &mut dyn FnMut(&[u8]) -> Result<usize, String>,
    on: &mut dyn FnMut(LoadEvent<'_>) -> Result<(), String>,
) -> Result<AofLoad, AofError> {
    let mut l = AofLoader::begin(disk, cfg)?;
    let mut rdb = |b: &[u8]| rdb(b).map(Some);
    loop {
        if let Some(r) = l.step(disk, cfg, &mut rdb, on, usize::MAX)? {
            return Ok(r);
        }
    }
}

/// A resumable [`load`]: `begin` reads the manifest (and migrates an
/// old-style file); each `step` delivers at most `budget` commands, and
/// the `rdb` callback may answer `Ok(None)` ("call me again") to load a
/// base file in steps too. The server answers -LOADING between steps.
pub struct AofLoader {
    files: Vec<AofInfo>,
    total: u64,
    /// Index of the file being loaded.
    idx: usize,
    current: Option<(Vec<u8>, FileLoad)>,
    /// Bytes of the files already finished (progress).
    done_bytes: u64,
    result: AofLoad,
    log: Vec<LogLine>,
}

impl AofLoader {
    fn finished(result: AofLoad) -> AofLoader {
        AofLoader {
            files: Vec::new(),
            total: 0,
            idx: 0,
            current: None,
            done_bytes: 0,
            result,
            log: Vec::new(),
        }
    }

    pub fn begin(disk: &mut dyn Disk, cfg: &AofConfig) -> Result<AofLoader, AofError> {
        let mut log = Vec::new();
        let mut am = load_manifest(disk, cfg)?;
        let mut upgraded = false;
        let stat_err =
            |p: &str, e: io::Error| io_err(format!("Can't stat {p}: {}", error_text(&e)), &e);
        let root_file = matches!(
            disk.stat(&cfg.filename).map_err(|e| stat_err(&cfg.filename, e))?,
            Some(s) if !s.is_dir
        );
        if root_file {
            let dir_exists = matches!(
                disk.stat(&cfg.dirname).map_err(|e| stat_err(&cfg.dirname, e))?,
                Some(s) if s.is_dir
            );
            let in_dir = disk
                .stat(&cfg.path(&cfg.filename))
                .map_err(|e| stat_err(&cfg.filename, e))?
                .is_some();
            let only_old_base = am.incrs.is_empty()
                && am.base.as_ref().map(|b| b.file_name == cfg.filename) == Some(true)
                && !in_dir;
            if !dir_exists || (am.base.is_none() && am.incrs.is_empty()) || only_old_base {
                upgrade_prepare(disk, cfg, &mut am, &mut log)?;
                upgraded = true;
            }
        }
        let mut result = AofLoad {
            status: LoadStatus::NotExist,
            manifest: am.clone(),
            truncated: None,
            current_size_bytes: 0,
            base_size_bytes: 0,
            commands: 0,
            upgraded,
            log: Vec::new(),
        };
        let files: Vec<AofInfo> = am.base.iter().chain(&am.incrs).cloned().collect();
        if files.is_empty() {
            result.log = log;
            return Ok(AofLoader::finished(result));
        }
        let mut total = 0u64;
        for f in &files {
            match disk.stat(&cfg.path(&f.file_name)) {
                Ok(Some(s)) if !s.is_dir => {
                    total += s.size_bytes;
                    if f.file_type == AofFileType::Base {
                        result.base_size_bytes = s.size_bytes;
                    }
                }
                Ok(_) => {
                    return Err(AofError::FileMissing {
                        file: f.file_name.clone(),
                    })
                }
                Err(e) => {
                    return Err(io_err(
                        format!(
                            "Unable to obtain the AOF file {} length. stat: {}",
                            f.file_name,
                            error_text(&e)
                        ),
                        &e,
                    ))
                }
            }
        }
        if total == 0 {
            result.status = LoadStatus::Empty;
            result.log = log;
            return Ok(AofLoader::finished(result));
        }
        result.status = LoadStatus::Ok;
        Ok(AofLoader {
            files,
            total,
            idx: 0,
            current: None,
            done_bytes: 0,
            result,
            log,
        })
    }

    /// (bytes loaded, total bytes) for INFO's loading_* fields.
    pub fn progress(&self) -> (u64, u64) {
        let cur = self.current.as_ref().map_or(0, |(_, f)| f.pos as u64);
        (self.done_bytes + cur, self.total)
    }

    /// One step; `Ok(Some(result))` once every file is loaded.
    pub fn step(
        &mut self,
        disk: &mut dyn Disk,
        cfg: &AofConfig,
        rdb: &mut dyn FnMut(&[u8]) -> Result<Option<usize>, String>,
        on: &mut dyn FnMut(LoadEvent<'_>) -> Result<(), String>,
        budget: usize,
    ) -> Result<Option<AofLoad>, AofError> {
        let budget = budget.max(1);
        let Some(f) = self.files.get(self.idx).cloned() else {
            if self.result.truncated.is_none() {
                self.result.current_size_bytes = self.total;
            }
            self.result.log = std::mem::take(&mut self.log);
            return Ok(Some(self.result.clone()));
        };
        let last_file = self.idx + 1 == self.files.len();
        let path = cfg.path(&f.file_name);
        if self.current.is_none() {
            let bytes = disk.read(&path).map_err(|e| {
                let msg = if e.raw_os_error() == Some(ENOENT) {
                    format!(
                        "The append log file {} doesn't exist: {}",
                        f.file_name,
                        error_text(&e)
                    )
                } else {
                    format!(
                        "Fatal error: can't open the append log file {} for reading: {}",
                        f.file_name,
                        error_text(&e)
                    )
                };
                io_err(msg, &e)
            })?;
            self.current = Some((bytes, FileLoad::new()));
        }
        let Some((bytes, fl)) = self.current.as_mut() else {
            return Ok(None);
        };
        let ctx = FileCtx {
            bytes,
            name: &f.file_name,
            file_type: f.file_type,
            old_style: f.file_name == cfg.filename,
        };
        let outcome = match fl.step(
            &ctx,
            cfg,
            rdb,
            on,
            &mut self.log,
            &mut self.result.commands,
            budget,
        )? {
            FileStep::More => return Ok(None),
            FileStep::Done(o) => o,
        };
        let bytes_len = bytes.len();
        self.current = None;
        self.idx += 1;
        self.done_bytes += bytes_len as u64;
        let (log, result, total) = (&mut self.log, &mut self.result, self.total);
        match outcome {
            FileOutcome::Empty | FileOutcome::Loaded => {}
            FileOutcome::Truncated { valid_up_to } => {
                if !cfg.load_truncated || !last_file {
                    return Err(AofError::Truncated {
                        file: f.file_name.clone(),
                        offset: valid_up_to,
                        last_file,
                    });
                }
                warning(
                    log,
                    format!(
                        "!!! Warning: short read while loading the AOF file {}!!!",
                        f.file_name
                    ),
                );
                warning(
                    log,
                    format!(
                        "!!! Truncating the AOF {} at offset {} !!!",
                        f.file_name, valid_up_to
                    ),
                );
                truncate_file(disk, &path, valid_up_to).map_err(|e| {
                    io_err(
                        format!(
                            "Error truncating the AOF file {}: {}",
                            f.file_name,
                            error_text(&e)
                        ),
                        &e,
                    )
                })?;
                warning(
                    log,
                    format!(
                        "AOF {} loaded anyway because aof-load-truncated is enabled",
                        f.file_name
                    ),
                );
                result.current_size_bytes =
                    total.saturating_sub((bytes_len as u64).saturating_sub(valid_up_to));
                result.status = LoadStatus::Truncated;
                result.truncated = Some(Truncation {
                    file: f.file_name.clone(),
                    offset: valid_up_to,
                });
            }
        }
        Ok(None)
    }
}

fn truncate_file(disk: &mut dyn Disk, path: &str, len: u64) -> io::Result<()> {
    let fd = disk.open_append(path)?;
    let r = disk.truncate(fd, len).and_then(|()| disk.fsync(fd));
    disk.close(fd);
    r
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

/// A failed `flush`. The unwritten bytes stay buffered for the next flush.
/// `fsync && !fatal` (everysec): the bytes were written, only not synced;
/// Redis still replies to the clients and refuses later writes (MISCONF)
/// until an fsync succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlushError {
    pub fsync: bool,
    pub errno: i32,
    /// Redis exits here (`appendfsync always`: the reply may already be
    /// promised and the write cannot be rolled back).
    pub fatal: bool,
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let err = disk::strerror(self.errno);
        match (self.fsync, self.fatal) {
            (false, false) => write!(f, "Error writing to the AOF file: {err}"),
            (false, true) => f.write_str(
                "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...",
            ),
            (true, false) => write!(f, "Fail to fsync the AOF file: {err}"),
            (true, true) => write!(
                f,
                "Can't persist AOF for fsync error when the AOF fsync policy is 'always': {err}. Exiting..."
            ),
        }
    }
}

/// INFO persistence figures of the AOF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofStats {
    pub aof_rewrite_in_progress: bool,
    pub aof_last_rewrite_time_sec: i64,
    pub aof_current_rewrite_time_sec: i64,
    pub aof_last_bgrewrite_status_ok: bool,
    pub aof_rewrites: u64,
    pub aof_rewrites_consecutive_failures: u64,
    /// `ok` unless the last write failed or the last fsync failed.
    pub aof_last_write_status_ok: bool,
    pub aof_current_size: u64,
    pub aof_base_size: u64,
    pub aof_buffer_length: u64,
    /// Always 0: fsyncs run inline, never in a background thread.
    pub aof_pending_bio_fsync: u64,
    /// Always 0 for the same reason (Redis counts writes that did not wait
    /// for a slow background fsync).
    pub aof_delayed_fsync: u64,
    /// Unix seconds of the last successful fsync.
    pub aof_last_fsync: i64,
}

struct Rewrite {
    fd: Fd,
    rdb: bool,
    bytes: u64,
    synced_bytes: u64,
    started_ms: i64,
}

/// The AOF while the server runs: one open incr file, the buffer of
/// commands not yet written, fsync bookkeeping and the rewrite protocol.
///
/// Invariants: `current_size` = size of base at the last rewrite/start +
/// everything written to incr files since; `fsync_offset <= current_size`
/// is how much of it is known durable; `fd` is the last incr of `manifest`.
pub struct AofWriter {
    cfg: AofConfig,
    policy: FsyncPolicy,
    manifest: Manifest,
    fd: Fd,
    incr_name: String,
    buf: Vec<u8>,
    selected_db: Option<usize>,
    current_size: u64,
    base_size: u64,
    last_incr_size: u64,
    fsync_offset: u64,
    last_fsync_s: i64,
    write_errno: Option<i32>,
    fsync_errno: Option<i32>,
    /// When a write error was last logged (None: never).
    last_write_error_log_s: Option<i64>,
    rewrite: Option<Rewrite>,
    rewrites: u64,
    rewrite_failures: u64,
    last_bgrewrite_ok: bool,
    last_rewrite_time_s: i64,
    /// Unix seconds of the last `#TS:` annotation (aof-timestamp-enabled).
    annotated_s: i64,
    log: Vec<LogLine>,
}

/// `<prefix><n>\r\n` without a temporary String (this runs per command).
fn put_header(buf: &mut Vec<u8>, prefix: u8, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.push(prefix);
    buf.extend_from_slice(&digits[i..]);
    buf.extend_from_slice(b"\r\n");
}

fn append_resp(buf: &mut Vec<u8>, argv: &[&[u8]]) {
    put_header(buf, b'*', argv.len());
    for a in argv {
        put_header(buf, b'$', a.len());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// Writes a complete file through a temp name (Redis's
/// `rewriteAppendOnlyFile`): temp in the root, fsync, rename into place.
fn write_file_atomically(
    disk: &mut dyn Disk,
    tmp: &str,
    dest: &str,
    bytes: &[u8],
) -> Result<(), AofError> {
    let fd = disk.create(tmp).map_err(|e| {
        io_err(
            format!(
                "Opening the temp file for AOF rewrite in rewriteAppendOnlyFile(): {}",
                error_text(&e)
            ),
            &e,
        )
    })?;
    let r = disk.write_all(fd, bytes).and_then(|()| disk.fsync(fd));
    disk.close(fd);
    if let Err(e) = r {
        let _ = disk.remove(tmp);
        return Err(io_err(
            format!(
                "Write error writing append only file on disk: {}",
                error_text(&e)
            ),
            &e,
        ));
    }
    if let Err(e) = disk.rename(tmp, dest) {
        let _ = disk.remove(tmp);
        return Err(io_err(
            format!(
                "Error moving temp append only file on the final destination: {}",
                error_text(&e)
            ),
            &e,
        ));
    }
    Ok(())
}

impl AofWriter {
    /// `aofOpenIfNeededOnServerStart` + `aofDelHistoryFiles`, after [`load`].
    /// With no base and no incr (first start), `base_bytes` (the snapshot
    /// of the current, normally empty, dataset: RDB or commands per
    /// `aof-use-rdb-preamble`) becomes base 1. Then the last incr is opened
    /// for appending (or incr 1 created) and the manifest persisted.
    pub fn open(
        disk: &mut dyn Disk,
        cfg: &AofConfig,
        policy: FsyncPolicy,
        manifest: Manifest,
        base_bytes: &[u8],
        now_ms: i64,
    ) -> Result<AofWriter, AofError> {
        let mut log = Vec::new();
        let mut am = manifest;
        let before = am.clone();
        mkdir_aof_dir(disk, cfg)?;
        let fresh = am.base.is_none() && am.incrs.is_empty();
        if fresh {
            let name = am.new_base(cfg, cfg.use_rdb_preamble);
            write_file_atomically(disk, &cfg.rewrite_temp_name(), &cfg.path(&name), base_bytes)?;
            notice(
                &mut log,
                format!("Creating AOF base file {name} on server start"),
            );
        }
        let had_incr = !am.incrs.is_empty();
        let incr_name = match am.incrs.last() {
            Some(ai) => ai.file_name.clone(),
            None => am.new_incr(cfg),
        };
        let fd = disk.open_append(&cfg.path(&incr_name)).map_err(|e| {
            io_err(
                format!(
                    "Can't open the append-only file {incr_name}: {}",
                    error_text(&e)
                ),
                &e,
            )
        })?;
        if am != before {
            if let Err(e) = persist_manifest(disk, cfg, &am) {
                disk.close(fd);
                return Err(e);
            }
        }
        let last_incr_size = file_size(disk, &cfg.path(&incr_name));
        notice(
            &mut log,
            if had_incr {
                format!("Opening AOF incr file {incr_name} on server start")
            } else {
                format!("Creating AOF incr file {incr_name} on server start")
            },
        );
        // Like Redis, the sizes come from loading: a base created just now
        // on an empty start is not counted.
        let (current_size, base_size) = if fresh {
            (0, 0)
        } else {
            let base = am
                .base
                .as_ref()
                .map(|b| file_size(disk, &cfg.path(&b.file_name)))
                .unwrap_or(0);
            let incrs: u64 = am
                .incrs
                .iter()
                .map(|i| file_size(disk, &cfg.path(&i.file_name)))
                .sum();
            (base + incrs, base)
        };
        let mut w = AofWriter {
            cfg: cfg.clone(),
            policy,
            manifest: am,
            fd,
            incr_name,
            buf: Vec::new(),
            selected_db: None,
            current_size,
            base_size,
            last_incr_size,
            fsync_offset: current_size,
            last_fsync_s: now_ms.div_euclid(1000),
            write_errno: None,
            fsync_errno: None,
            last_write_error_log_s: None,
            rewrite: None,
            rewrites: 0,
            rewrite_failures: 0,
            last_bgrewrite_ok: true,
            last_rewrite_time_s: -1,
            annotated_s: 0,
            log,
        };
        w.del_history_files(disk);
        Ok(w)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    pub fn config(&self) -> &AofConfig {
        &self.cfg
    }
    pub fn policy(&self) -> FsyncPolicy {
        self.policy
    }
    pub fn set_policy(&mut self, policy: FsyncPolicy) {
        self.policy = policy;
    }
    /// Config changes that apply to later operations (gc, preamble, ...);
    /// the directory and file names are fixed while the writer is open.
    pub fn set_config(&mut self, cfg: &AofConfig) {
        let (dirname, filename) = (self.cfg.dirname.clone(), self.cfg.filename.clone());
        self.cfg = cfg.clone();
        self.cfg.dirname = dirname;
        self.cfg.filename = filename;
    }
    /// The incr file being appended to.
    pub fn incr_name(&self) -> &str {
        &self.incr_name
    }
    pub fn rewrite_in_progress(&self) -> bool {
        self.rewrite.is_some()
    }
    /// Log lines produced since the last call.
    pub fn take_log(&mut self) -> Vec<LogLine> {
        std::mem::take(&mut self.log)
    }

    /// Appends raw RESP bytes (already in effect form) to the AOF buffer.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// `feedAppendOnlyFile`: appends one command, preceded by a SELECT when
    /// the database differs from the last one fed to the current file.
    pub fn feed_command(&mut self, db: usize, argv: &[&[u8]]) {
        if self.selected_db != Some(db) {
            let d = db.to_string();
            append_resp(&mut self.buf, &[b"SELECT", d.as_bytes()]);
            self.selected_db = Some(db);
        }
        append_resp(&mut self.buf, argv);
    }

    /// aof-timestamp-enabled: a `#TS:<unix seconds>` line before the next
    /// command when the second changed (Redis's
    /// genAofTimestampAnnotationIfNeeded); loaders skip `#` lines.
    pub fn annotate_timestamp(&mut self, unix_s: i64) {
        if self.annotated_s < unix_s {
            self.annotated_s = unix_s;
            self.buf
                .extend_from_slice(format!("#TS:{unix_s}\r\n").as_bytes());
        }
    }

    /// Forces the next `feed_command` to emit SELECT (Redis's
    /// `aof_selected_db = -1`). Done automatically when the incr changes.
    pub fn reset_selected_db(&mut self) {
        self.selected_db = None;
    }

    /// `MISCONF` state: the errno to report while writes must be refused
    /// (`-MISCONF Errors writing to the AOF file: <strerror>`).
    pub fn misconf_errno(&self) -> Option<i32> {
        self.write_errno.or(self.fsync_errno)
    }

    pub fn stats(&self, now_ms: i64) -> AofStats {
        AofStats {
            aof_rewrite_in_progress: self.rewrite.is_some(),
            aof_last_rewrite_time_sec: self.last_rewrite_time_s,
            aof_current_rewrite_time_sec: self
                .rewrite
                .as_ref()
                .map(|r| (now_ms - r.started_ms).div_euclid(1000))
                .unwrap_or(-1),
            aof_last_bgrewrite_status_ok: self.last_bgrewrite_ok,
            aof_rewrites: self.rewrites,
            aof_rewrites_consecutive_failures: self.rewrite_failures,
            aof_last_write_status_ok: self.misconf_errno().is_none(),
            aof_current_size: self.current_size,
            aof_base_size: self.base_size,
            aof_buffer_length: self.buf.len() as u64,
            aof_pending_bio_fsync: 0,
            aof_delayed_fsync: 0,
            aof_last_fsync: self.last_fsync_s,
        }
    }

    /// Bytes written to the files but not known durable.
    pub fn unsynced_bytes(&self) -> u64 {
        self.current_size.saturating_sub(self.fsync_offset)
    }

    /// `flushAppendOnlyFile`: writes the buffer to the incr file, then
    /// fsyncs per policy: `always` every time (call before sending replies:
    /// on Ok, every fed command is durable), `everysec` when the unix second
    /// changed since the last fsync (Redis's `unixtime > aof_last_fsync`, so
    /// at most ~1 s of writes is ever unsynced), `no` never.
    ///
    /// A write error keeps the unwritten bytes (a short write is first cut
    /// back with ftruncate, like Redis) and sets the MISCONF state until a
    /// later flush succeeds. `FlushError::fatal` marks what Redis exits on.
    /// Deviation: after a failed `everysec`/`always` fsync the next flush
    /// retries the fsync even with an empty buffer (Redis 7.0 would stay in
    /// MISCONF until a new write, which MISCONF itself refuses).
    pub fn flush(&mut self, disk: &mut dyn Disk, now_ms: i64) -> Result<(), FlushError> {
        let now_s = now_ms.div_euclid(1000);
        if !self.buf.is_empty() {
            self.write_buffer(disk, now_s)?;
        }
        if self.fsync_offset == self.current_size && self.fsync_errno.is_none() {
            return Ok(());
        }
        if self.cfg.no_fsync_on_rewrite && self.rewrite.is_some() {
            return Ok(());
        }
        match self.policy {
            FsyncPolicy::No => Ok(()),
            FsyncPolicy::Always => self.fsync_now(disk, now_s, true),
            FsyncPolicy::Everysec if now_s > self.last_fsync_s => {
                let r = self.fsync_now(disk, now_s, false);
                // Redis moves aof_last_fsync even when the job fails.
                self.last_fsync_s = now_s;
                r
            }
            FsyncPolicy::Everysec => Ok(()),
        }
    }

    /// Write everything buffered and fsync it now, whatever the policy
    /// (shutdown: Redis's flushAppendOnlyFile(1) + fsync).
    pub fn flush_and_fsync(&mut self, disk: &mut dyn Disk, now_ms: i64) -> Result<(), FlushError> {
        let now_s = now_ms.div_euclid(1000);
        if !self.buf.is_empty() {
            self.write_buffer(disk, now_s)?;
        }
        if self.fsync_offset == self.current_size && self.fsync_errno.is_none() {
            return Ok(());
        }
        self.fsync_now(disk, now_s, false)
    }

    fn write_buffer(&mut self, disk: &mut dyn Disk, now_s: i64) -> Result<(), FlushError> {
        let (n, res) = disk.write_all_counted(self.fd, &self.buf);
        match res {
            Ok(()) => {
                if self.write_errno.take().is_some() {
                    warning(
                        &mut self.log,
                        "AOF write error looks solved, Redis can write again.".to_string(),
                    );
                }
                self.current_size += n as u64;
                self.last_incr_size += n as u64;
                self.buf.clear();
                Ok(())
            }
            Err(e) => {
                let can_log = self
                    .last_write_error_log_s
                    .is_none_or(|t| now_s - t > WRITE_ERROR_LOG_PERIOD_S);
                if can_log {
                    self.last_write_error_log_s = Some(now_s);
                }
                let mut written = n;
                let errno = if n == 0 {
                    if can_log {
                        warning(
                            &mut self.log,
                            format!("Error writing to the AOF file: {}", error_text(&e)),
                        );
                    }
                    errno_of(&e)
                } else {
                    if can_log {
                        warning(
                            &mut self.log,
                            format!(
                                "Short write while writing to the AOF file: (nwritten={}, expected={})",
                                n,
                                self.buf.len()
                            ),
                        );
                    }
                    match disk.truncate(self.fd, self.last_incr_size) {
                        Ok(()) => written = 0,
                        Err(te) => {
                            if can_log {
                                warning(
                                    &mut self.log,
                                    format!(
                                        "Could not remove short write from the append-only file.  \
                                         Redis may refuse to load the AOF the next time it starts.  \
                                         ftruncate: {}",
                                        error_text(&te)
                                    ),
                                );
                            }
                        }
                    }
                    ENOSPC
                };
                self.write_errno = Some(errno);
                if written > 0 {
                    self.current_size += written as u64;
                    self.last_incr_size += written as u64;
                    self.buf.drain(..written);
                }
                Err(FlushError {
                    fsync: false,
                    errno,
                    fatal: self.policy == FsyncPolicy::Always,
                })
            }
        }
    }

    fn fsync_now(
        &mut self,
        disk: &mut dyn Disk,
        now_s: i64,
        fatal: bool,
    ) -> Result<(), FlushError> {
        match disk.fsync(self.fd) {
            Ok(()) => {
                self.fsync_offset = self.current_size;
                self.last_fsync_s = now_s;
                self.fsync_errno = None;
                Ok(())
            }
            Err(e) => {
                let errno = errno_of(&e);
                if self.fsync_errno.is_none() || fatal {
                    warning(
                        &mut self.log,
                        format!("Fail to fsync the AOF file: {}", error_text(&e)),
                    );
                }
                self.fsync_errno = Some(errno);
                Err(FlushError {
                    fsync: true,
                    errno,
                    fatal,
                })
            }
        }
    }

    /// Starts a rewrite (`rewriteAppendOnlyFileBackground` without the fork):
    /// flushes the buffer into the current incr, creates the next incr,
    /// persists a manifest listing it (old base + all incrs), fsyncs and
    /// closes the old incr and switches to the new one, so every command fed
    /// from now on lands in the new incr. Then the caller writes the new base
    /// (a snapshot of the dataset as of this call) with `write_base_chunk`
    /// and calls `finish_rewrite` (or `abort_rewrite`).
    ///
    /// If the new incr cannot be set up nothing changes and Err is returned.
    pub fn start_rewrite(&mut self, disk: &mut dyn Disk, now_ms: i64) -> Result<(), AofError> {
        if self.rewrite.is_some() {
            return Err(AofError::State(
                "Background append only file rewriting already in progress",
            ));
        }
        if let Err(e) = mkdir_aof_dir(disk, &self.cfg) {
            self.last_bgrewrite_ok = false;
            return Err(e);
        }
        self.selected_db = None;
        // flushAppendOnlyFile(1): errors leave the bytes buffered; they then
        // go to the new incr, which keeps the order.
        let _ = self.flush(disk, now_ms);

        let mut am = self.manifest.clone();
        let name = am.new_incr(&self.cfg);
        let path = self.cfg.path(&name);
        let newfd = match disk.create(&path) {
            Ok(fd) => fd,
            Err(e) => {
                self.last_bgrewrite_ok = false;
                let msg = format!("Can't open the append-only file {name}: {}", error_text(&e));
                warning(&mut self.log, msg.clone());
                return Err(io_err(msg, &e));
            }
        };
        if let Err(e) = persist_manifest(disk, &self.cfg, &am) {
            disk.close(newfd);
            self.last_bgrewrite_ok = false;
            warning(&mut self.log, e.to_string());
            return Err(e);
        }
        notice(
            &mut self.log,
            format!("Creating AOF incr file {name} on background rewrite"),
        );
        // Redis hands the old fd to a background fsync+close; here inline.
        let now_s = now_ms.div_euclid(1000);
        match disk.fsync(self.fd) {
            Ok(()) => {
                self.fsync_offset = self.current_size;
                self.last_fsync_s = now_s;
                self.fsync_errno = None;
            }
            Err(e) => {
                warning(
                    &mut self.log,
                    format!("Fail to fsync the AOF file: {}", error_text(&e)),
                );
                self.fsync_errno = Some(errno_of(&e));
            }
        }
        disk.close(self.fd);
        self.fd = newfd;
        self.incr_name = name;
        self.last_incr_size = 0;
        self.manifest = am;
        self.rewrites += 1;

        let tmp = self.cfg.rewrite_temp_name();
        match disk.create(&tmp) {
            Ok(fd) => {
                self.rewrite = Some(Rewrite {
                    fd,
                    rdb: self.cfg.use_rdb_preamble,
                    bytes: 0,
                    synced_bytes: 0,
                    started_ms: now_ms,
                });
                Ok(())
            }
            Err(e) => {
                self.last_bgrewrite_ok = false;
                self.rewrite_failures += 1;
                let msg = format!(
                    "Opening the temp file for AOF rewrite in rewriteAppendOnlyFile(): {}",
                    error_text(&e)
                );
                warning(&mut self.log, msg.clone());
                Err(io_err(msg, &e))
            }
        }
    }

    /// Appends bytes of the new base (RDB with preamble, or commands). On
    /// error the caller calls `abort_rewrite`.
    pub fn write_base_chunk(&mut self, disk: &mut dyn Disk, bytes: &[u8]) -> Result<(), AofError> {
        let incremental = self.cfg.rewrite_incremental_fsync;
        let rw = self
            .rewrite
            .as_mut()
            .ok_or(AofError::State("No AOF rewrite in progress"))?;
        let werr = |e: io::Error| {
            io_err(
                format!(
                    "Write error writing append only file on disk: {}",
                    error_text(&e)
                ),
                &e,
            )
        };
        disk.write_all(rw.fd, bytes).map_err(werr)?;
        rw.bytes += bytes.len() as u64;
        if incremental && rw.bytes - rw.synced_bytes >= AUTOSYNC_BYTES {
            disk.fsync(rw.fd).map_err(werr)?;
            rw.synced_bytes = rw.bytes;
        }
        Ok(())
    }

    /// Completes a rewrite (`backgroundRewriteDoneHandler`): fsyncs the new
    /// base, renames it into the directory as base seq+1, persists a manifest
    /// with the new base, the old base and old incrs as history, and the
    /// current incr; then deletes the history files and persists again.
    ///
    /// Crash safety: until the manifest rename is durable the old manifest
    /// (old base + all incrs, the current one included) is complete; after
    /// it the new one is. On Err the rewrite is over (failed) and the old
    /// manifest stays in force.
    pub fn finish_rewrite(&mut self, disk: &mut dyn Disk, now_ms: i64) -> Result<(), AofError> {
        let rw = self
            .rewrite
            .take()
            .ok_or(AofError::State("No AOF rewrite in progress"))?;
        let r = self.finish_inner(disk, &rw);
        self.last_rewrite_time_s = (now_ms - rw.started_ms).div_euclid(1000);
        match &r {
            Ok(()) => {
                self.last_bgrewrite_ok = true;
                self.rewrite_failures = 0;
                notice(
                    &mut self.log,
                    "Background AOF rewrite finished successfully".to_string(),
                );
            }
            Err(e) => {
                self.last_bgrewrite_ok = false;
                self.rewrite_failures += 1;
                warning(&mut self.log, e.to_string());
                let _ = disk.remove(&self.cfg.rewrite_temp_name());
                let _ = disk.remove(&self.cfg.rewrite_temp_bg_name());
            }
        }
        r
    }

    fn finish_inner(&mut self, disk: &mut dyn Disk, rw: &Rewrite) -> Result<(), AofError> {
        let cfg = self.cfg.clone();
        let synced = disk.fsync(rw.fd);
        disk.close(rw.fd);
        synced.map_err(|e| {
            io_err(
                format!(
                    "Write error writing append only file on disk: {}",
                    error_text(&e)
                ),
                &e,
            )
        })?;
        let tmp = cfg.rewrite_temp_name();
        let tmp_bg = cfg.rewrite_temp_bg_name();
        disk.rename(&tmp, &tmp_bg).map_err(|e| {
            io_err(
                format!(
                    "Error moving temp append only file on the final destination: {}",
                    error_text(&e)
                ),
                &e,
            )
        })?;
        notice(
            &mut self.log,
            format!("Successfully created the temporary AOF base file {tmp_bg}"),
        );
        let mut am = self.manifest.clone();
        let base_name = am.new_base(&cfg, rw.rdb);
        let base_path = cfg.path(&base_name);
        disk.rename(&tmp_bg, &base_path).map_err(|e| {
            io_err(
                format!(
                    "Error trying to rename the temporary AOF base file {tmp_bg} into {base_path}: {}",
                    error_text(&e)
                ),
                &e,
            )
        })?;
        notice(
            &mut self.log,
            format!("Successfully renamed the temporary AOF base file {tmp_bg} into {base_name}"),
        );
        am.mark_rewritten_incrs_as_history();
        // Unlike Redis, the new base is not unlinked when persisting fails:
        // the failure may come after the manifest rename (at the directory
        // fsync), and that manifest names this base. Left alone it is either
        // in use or garbage that the next rewrite's rename replaces.
        persist_manifest(disk, &cfg, &am)?;
        self.manifest = am;
        self.selected_db = None;
        let unsynced = self.unsynced_bytes();
        self.current_size = file_size(disk, &base_path) + self.last_incr_size;
        self.base_size = self.current_size;
        self.fsync_offset = self.current_size.saturating_sub(unsynced);
        self.del_history_files(disk);
        Ok(())
    }

    /// Ends a rewrite without switching (`failed`: the rewrite errored, which
    /// counts in INFO; else a deliberate stop, like Redis's SIGUSR1 kill).
    /// The incr opened by `start_rewrite` stays listed, as in Redis.
    pub fn abort_rewrite(&mut self, disk: &mut dyn Disk, now_ms: i64, failed: bool) {
        if let Some(rw) = self.rewrite.take() {
            disk.close(rw.fd);
            let _ = disk.remove(&self.cfg.rewrite_temp_name());
            self.last_rewrite_time_s = (now_ms - rw.started_ms).div_euclid(1000);
            if failed {
                self.last_bgrewrite_ok = false;
                self.rewrite_failures += 1;
                warning(
                    &mut self.log,
                    "Background AOF rewrite terminated with error".to_string(),
                );
            }
        }
    }

    /// `aofDelHistoryFiles`: unlinks history files and persists the manifest
    /// without them. Failures are harmless (history is never loaded).
    pub fn del_history_files(&mut self, disk: &mut dyn Disk) {
        if self.cfg.disable_auto_gc || self.manifest.history.is_empty() {
            return;
        }
        for h in std::mem::take(&mut self.manifest.history) {
            notice(
                &mut self.log,
                format!(
                    "Removing the history file {} in the background",
                    h.file_name
                ),
            );
            let _ = disk.remove(&self.cfg.path(&h.file_name));
        }
        if let Err(e) = persist_manifest(disk, &self.cfg, &self.manifest) {
            warning(&mut self.log, e.to_string());
        }
    }

    /// Shutdown / `appendonly no`: stops a rewrite, writes the buffer, fsyncs
    /// and closes the incr file.
    pub fn close(mut self, disk: &mut dyn Disk, now_ms: i64) -> Result<(), FlushError> {
        self.abort_rewrite(disk, now_ms, false);
        let w = if self.buf.is_empty() {
            Ok(())
        } else {
            self.write_buffer(disk, now_ms.div_euclid(1000))
        };
        let s = disk.fsync(self.fd).map_err(|e| FlushError {
            fsync: true,
            errno: errno_of(&e),
            fatal: false,
        });
        disk.close(self.fd);
        w.and(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
