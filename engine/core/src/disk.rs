//! The disk boundary: every file operation the engine makes goes through the
//! [`Disk`] trait, so persistence code (AOF, RDB) is pure logic that runs the
//! same over the real file system (`redsim_server::disk::RealDisk`) and over
//! [`SimDisk`], a deterministic, seeded, crash-simulating disk for tests and
//! the simulator.
//!
//! The trait is synchronous: the engine is sans-IO and single-threaded, and
//! Redis itself writes and fsyncs the AOF synchronously in its main thread.
//!
//! Paths are `&str`, relative to a root directory (Redis's `dir`), with `/`
//! separators; `""` names the root itself. Absolute paths, empty components,
//! `.` and `..` are rejected with `EINVAL`, so a config value can never make
//! the engine touch files outside the root.
//!
//! Errors are `std::io::Error`s carrying raw OS codes ([`EIO`], [`ENOSPC`],
//! [`ENOENT`], ...), so callers can print Redis's `strerror` texts
//! ([`strerror`]) and tell the kinds apart the way Redis does.
//!
//! [`SimDisk`] model (documented again on the type):
//! - file data: each file (inode) has its current bytes (what reads see: the
//!   page cache) and a durable length; `fsync` makes everything durable. A
//!   crash keeps the durable prefix plus, when `torn_writes` is on, a random
//!   prefix of the unsynced appended bytes (a torn write).
//! - directory entries (create, rename, remove, mkdir) change the directory's
//!   current view at once but become durable only when that directory is
//!   `fsync_dir`ed; a crash reverts every directory to its last synced view.
//!   This is what POSIX promises (and stricter than ext4 in practice, which
//!   commits its whole journal on any fsync): a program that is correct on
//!   SimDisk is correct on ext4 with default options (data=ordered).
//! - faults, all drawn from the disk's own seeded rng: EIO on the next N or a
//!   random fraction of writes / fsyncs, ENOSPC (after a short write) once the
//!   total bytes exceed a quota, a random bit flipped in data returned by
//!   `read`, and `crash_after_ops`: after k counted operations every operation
//!   fails as if the process had died, and the test then calls `crash()`.

use std::collections::BTreeMap;
use std::io;

use crate::rng::Rng;

/// Linux errno values the engine cares about.
pub const ENOENT: i32 = 2;
pub const EIO: i32 = 5;
pub const EBADF: i32 = 9;
pub const EEXIST: i32 = 17;
pub const ENOTDIR: i32 = 20;
pub const EISDIR: i32 = 21;
pub const EINVAL: i32 = 22;
pub const ENOSPC: i32 = 28;

/// Redis prints `strerror(errno)`; these are glibc's texts.
pub fn strerror(errno: i32) -> &'static str {
    match errno {
        ENOENT => "No such file or directory",
        EIO => "Input/output error",
        EBADF => "Bad file descriptor",
        EEXIST => "File exists",
        ENOTDIR => "Not a directory",
        EISDIR => "Is a directory",
        EINVAL => "Invalid argument",
        ENOSPC => "No space left on device",
        13 => "Permission denied",
        30 => "Read-only file system",
        122 => "Disk quota exceeded",
        _ => "Unknown error",
    }
}

/// `strerror` of an io::Error: the errno text when there is one, else the
/// error's own message (simulated crashes, invalid UTF-8, ...).
pub fn error_text(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) if strerror(code) != "Unknown error" => strerror(code).to_string(),
        _ => {
            // std appends " (os error N)" to OS errors; strip it for Redis-like text.
            let s = err.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

pub fn os_error(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

/// An open file (write-only, appending).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fd(pub u64);

/// What `stat` reports about an existing path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub is_dir: bool,
    pub size_bytes: u64,
}

/// Every file operation of the engine. See the module docs for path rules.
pub trait Disk: Send {
    /// Creates `path` (or truncates it if it exists) for appending writes.
    fn create(&mut self, path: &str) -> io::Result<Fd>;
    /// Opens `path` for appending, creating it empty if missing
    /// (`O_WRONLY|O_APPEND|O_CREAT`).
    fn open_append(&mut self, path: &str) -> io::Result<Fd>;
    /// One `write(2)`: appends a prefix of `buf` and returns its length, which
    /// may be short (e.g. the disk filled up); an error means nothing was
    /// written.
    fn write(&mut self, fd: Fd, buf: &[u8]) -> io::Result<usize>;
    /// `ftruncate(2)`: the file becomes `len_bytes` long; later writes append
    /// at the new end.
    fn truncate(&mut self, fd: Fd, len_bytes: u64) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    fn fsync(&mut self, fd: Fd) -> io::Result<()>;
    /// Closes the file; unsynced data stays unsynced.
    fn close(&mut self, fd: Fd);
    /// The whole current content of a file.
    fn read(&mut self, path: &str) -> io::Result<Vec<u8>>;
    /// Atomically replaces `to` with `from` (files only).
    fn rename(&mut self, from: &str, to: &str) -> io::Result<()>;
    /// Unlinks a file.
    fn remove(&mut self, path: &str) -> io::Result<()>;
    /// Creates a directory whose parent exists; Ok if it already is a
    /// directory (Redis's `dirCreateIfMissing`).
    fn mkdir(&mut self, dir: &str) -> io::Result<()>;
    /// Makes the directory's entries (creates, renames, removes) durable.
    fn fsync_dir(&mut self, dir: &str) -> io::Result<()>;
    /// Names in a directory, sorted.
    fn list(&mut self, dir: &str) -> io::Result<Vec<String>>;
    /// `Ok(None)` when the path does not exist.
    fn stat(&mut self, path: &str) -> io::Result<Option<Stat>>;

    /// Writes all of `buf`, retrying short writes like Redis's `aofWrite`.
    /// On error returns how many bytes did get written before it.
    fn write_all_counted(&mut self, fd: Fd, buf: &[u8]) -> (usize, io::Result<()>) {
        let mut done = 0;
        while done < buf.len() {
            match self.write(fd, &buf[done..]) {
                Ok(0) => return (done, Err(os_error(ENOSPC))),
                Ok(n) => done += n.min(buf.len() - done),
                Err(e) => return (done, Err(e)),
            }
        }
        (done, Ok(()))
    }

    fn write_all(&mut self, fd: Fd, buf: &[u8]) -> io::Result<()> {
        self.write_all_counted(fd, buf).1
    }
}

/// Checks a root-relative path and splits it into components.
pub fn components(path: &str) -> io::Result<Vec<&str>> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    if path.starts_with('/') || path.contains('\0') {
        return Err(os_error(EINVAL));
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(os_error(EINVAL));
    }
    Ok(parts)
}

/// `dir/name`, with `""` as the root.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The directory part of a path (`""` for a name in the root).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    }
}

fn basename(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

// ---------------------------------------------------------------------------
// SimDisk
// ---------------------------------------------------------------------------

/// Faults a [`SimDisk`] injects. All randomness comes from the disk's rng.
#[derive(Clone, Debug, Default)]
pub struct SimFaults {
    /// The next N writes fail with EIO (nothing written).
    pub fail_next_writes: u32,
    /// The next N fsyncs (file or directory) fail with EIO (nothing synced).
    pub fail_next_fsyncs: u32,
    /// The fsync (file or directory) with this 1-based number, counting
    /// `SimStats::fsyncs + fsync_dirs`, fails with EIO.
    pub fail_fsync_number: Option<u64>,
    /// Probability in [0, 1] that a write fails with EIO.
    pub write_fail_prob: f64,
    /// Probability in [0, 1] that an fsync fails with EIO.
    pub fsync_fail_prob: f64,
    /// Total bytes of all files; a write crossing it is cut short at the
    /// quota, the next one fails with ENOSPC.
    pub quota_bytes: Option<u64>,
    /// Probability that `read` returns the data with one random bit flipped
    /// (the stored data stays intact, like a transient media error).
    pub read_bitflip_prob: f64,
    /// After this many counted operations every operation fails as if the
    /// process had died (counted: create, open_append, write, truncate, fsync,
    /// rename, remove, mkdir, fsync_dir). The test then calls `crash()`.
    pub crash_after_ops: Option<u64>,
    /// On `crash()`, keep a random prefix of each file's unsynced appended
    /// bytes (possibly cutting a write in the middle) instead of none.
    pub torn_writes: bool,
    /// The write with this 1-based number (`SimStats::writes`) reports
    /// success but stores nothing: a lying disk, which the simulator's crash
    /// oracle must catch as a hole in the middle of the AOF.
    pub lose_write_number: Option<u64>,
}

/// Operation counters, for tests and for choosing crash points.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    pub creates: u64,
    pub writes: u64,
    pub bytes_written: u64,
    pub truncates: u64,
    pub fsyncs: u64,
    pub fsync_dirs: u64,
    pub renames: u64,
    pub removes: u64,
    pub mkdirs: u64,
    pub reads: u64,
    pub crashes: u64,
    pub injected_eio: u64,
    pub injected_enospc: u64,
    pub injected_bitflips: u64,
}

#[derive(Clone, Debug)]
struct Inode {
    /// Current content (what reads see).
    data: Vec<u8>,
    /// `data[..durable_len]` is on stable storage (unless `snapshot` is set).
    durable_len: usize,
    /// Set when a truncate cut into durable bytes: the durable content as of
    /// the last fsync, restored by a crash.
    snapshot: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    File(u64),
    Dir,
}

#[derive(Clone, Debug, Default)]
struct DirState {
    current: BTreeMap<String, Entry>,
    durable: BTreeMap<String, Entry>,
}

/// A deterministic in-memory disk with crash semantics; see the module docs.
///
/// Invariants: `dirs` holds exactly the directories that currently exist
/// (the root `""` always); every `Entry::File` names a live inode; inodes no
/// longer named by any current or durable entry nor open are dropped.
#[derive(Clone, Debug)]
pub struct SimDisk {
    rng: Rng,
    pub faults: SimFaults,
    stats: SimStats,
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    dirs: BTreeMap<String, DirState>,
    fds: BTreeMap<u64, u64>,
    next_fd: u64,
    ops: u64,
    halted: bool,
}

fn halted_error() -> io::Error {
    io::Error::other("simulated crash: the process is dead")
}

impl SimDisk {
    pub fn new(seed: u64) -> SimDisk {
        let mut dirs = BTreeMap::new();
        dirs.insert(String::new(), DirState::default());
        SimDisk {
            rng: Rng::new(seed),
            faults: SimFaults::default(),
            stats: SimStats::default(),
            inodes: BTreeMap::new(),
            next_inode: 1,
            dirs,
            fds: BTreeMap::new(),
            next_fd: 3,
            ops: 0,
            halted: false,
        }
    }

    /// Counted operations so far (see `SimFaults::crash_after_ops`).
    pub fn ops(&self) -> u64 {
        self.ops
    }

    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// True once `crash_after_ops` tripped (until `crash()`).
    pub fn halted(&self) -> bool {
        self.halted
    }

    /// Total bytes of all live files (what the quota counts).
    pub fn used_bytes(&self) -> u64 {
        self.inodes.values().map(|i| i.data.len() as u64).sum()
    }

    /// The power goes out: open files are gone, every directory reverts to its
    /// last fsynced view, every file keeps its durable bytes (plus a random
    /// prefix of its unsynced appends when `faults.torn_writes`). Clears
    /// `crash_after_ops` and the halted state; other faults stay configured.
    pub fn crash(&mut self) {
        self.stats.crashes += 1;
        self.fds.clear();
        self.halted = false;
        self.faults.crash_after_ops = None;
        for d in self.dirs.values_mut() {
            d.current = d.durable.clone();
        }
        // A directory survives only if its own entry in its parent survived.
        let mut paths: Vec<String> = self.dirs.keys().cloned().collect();
        paths.sort_by_key(|p| {
            if p.is_empty() {
                0
            } else {
                p.matches('/').count() + 1
            }
        });
        for p in paths {
            if p.is_empty() {
                continue;
            }
            let linked = self
                .dirs
                .get(parent(&p))
                .map(|d| d.current.get(basename(&p)) == Some(&Entry::Dir))
                .unwrap_or(false);
            if !linked {
                self.dirs.remove(&p);
            }
        }
        let torn = self.faults.torn_writes;
        let ids: Vec<u64> = self.inodes.keys().copied().collect();
        for id in ids {
            let keep_extra = match self.inodes.get(&id) {
                Some(ino) if ino.snapshot.is_none() && torn => {
                    let unsynced = ino.data.len().saturating_sub(ino.durable_len) as u64;
                    if unsynced > 0 {
                        self.rng.below(unsynced + 1) as usize
                    } else {
                        0
                    }
                }
                _ => 0,
            };
            if let Some(ino) = self.inodes.get_mut(&id) {
                if let Some(snap) = ino.snapshot.take() {
                    ino.data = snap;
                } else {
                    let keep = ino.durable_len + keep_extra;
                    ino.data.truncate(keep);
                }
                ino.durable_len = ino.data.len();
            }
        }
        self.gc();
    }

    /// Test helper: the current bytes of a file, without faults or counting.
    pub fn peek(&self, path: &str) -> Option<&[u8]> {
        let (dir, name) = split(path).ok()?;
        match self.dirs.get(dir)?.current.get(name)? {
            Entry::File(id) => self.inodes.get(id).map(|i| i.data.as_slice()),
            Entry::Dir => None,
        }
    }

    /// Test helper: replaces a file's content (creating it and any missing
    /// directories), all durable at once, without faults or counting.
    pub fn put_durable(&mut self, path: &str, bytes: &[u8]) {
        let parts = match components(path) {
            Ok(p) if !p.is_empty() => p,
            _ => return,
        };
        let mut dir = String::new();
        for part in &parts[..parts.len() - 1] {
            let child = join(&dir, part);
            if let Some(d) = self.dirs.get_mut(&dir) {
                d.current.insert((*part).to_string(), Entry::Dir);
                d.durable.insert((*part).to_string(), Entry::Dir);
            }
            self.dirs.entry(child.clone()).or_default();
            dir = child;
        }
        let id = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(
            id,
            Inode {
                data: bytes.to_vec(),
                durable_len: bytes.len(),
                snapshot: None,
            },
        );
        let name = parts[parts.len() - 1].to_string();
        if let Some(d) = self.dirs.get_mut(&dir) {
            d.current.insert(name.clone(), Entry::File(id));
            d.durable.insert(name, Entry::File(id));
        }
        self.gc();
    }

    /// Counts an operation and applies `crash_after_ops`.
    fn count(&mut self) -> io::Result<()> {
        if self.halted {
            return Err(halted_error());
        }
        if let Some(k) = self.faults.crash_after_ops {
            if self.ops >= k {
                self.halted = true;
                return Err(halted_error());
            }
        }
        self.ops += 1;
        Ok(())
    }

    fn live(&self) -> io::Result<()> {
        if self.halted {
            Err(halted_error())
        } else {
            Ok(())
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.next_f64() < p
    }

    fn lookup(&self, path: &str) -> io::Result<Option<Entry>> {
        if path.is_empty() {
            return Ok(Some(Entry::Dir));
        }
        let (dir, name) = split(path)?;
        match self.dirs.get(dir) {
            Some(d) => Ok(d.current.get(name).copied()),
            None => Err(os_error(ENOENT)),
        }
    }

    fn new_inode(&mut self) -> u64 {
        let id = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(
            id,
            Inode {
                data: Vec::new(),
                durable_len: 0,
                snapshot: None,
            },
        );
        id
    }

    fn new_fd(&mut self, inode: u64) -> Fd {
        let fd = self.next_fd;
        self.next_fd += 1;
        self.fds.insert(fd, inode);
        Fd(fd)
    }

    fn inode_of(&self, fd: Fd) -> io::Result<u64> {
        self.fds.get(&fd.0).copied().ok_or_else(|| os_error(EBADF))
    }

    /// Drops inodes nothing refers to any more.
    fn gc(&mut self) {
        let mut used: std::collections::BTreeSet<u64> = self.fds.values().copied().collect();
        for d in self.dirs.values() {
            for e in d.current.values().chain(d.durable.values()) {
                if let Entry::File(id) = e {
                    used.insert(*id);
                }
            }
        }
        self.inodes.retain(|id, _| used.contains(id));
    }

    fn injected_fsync_failure(&mut self) -> bool {
        if self.faults.fail_fsync_number == Some(self.stats.fsyncs + self.stats.fsync_dirs) {
            return true;
        }
        if self.faults.fail_next_fsyncs > 0 {
            self.faults.fail_next_fsyncs -= 1;
            return true;
        }
        let p = self.faults.fsync_fail_prob;
        self.chance(p)
    }
}

/// Splits a non-root path into (parent dir, name), validating it.
fn split(path: &str) -> io::Result<(&str, &str)> {
    let parts = components(path)?;
    if parts.is_empty() {
        return Err(os_error(EINVAL));
    }
    Ok((parent(path), basename(path)))
}

impl Disk for SimDisk {
    fn create(&mut self, path: &str) -> io::Result<Fd> {
        self.count()?;
        self.stats.creates += 1;
        let (dir, name) = split(path)?;
        if self.lookup(path)? == Some(Entry::Dir) {
            return Err(os_error(EISDIR));
        }
        // O_TRUNC is modelled as a fresh inode replacing the entry: until the
        // directory is synced a crash brings back the old content, which is
        // one of the outcomes a real file system allows.
        let id = self.new_inode();
        if let Some(d) = self.dirs.get_mut(dir) {
            d.current.insert(name.to_string(), Entry::File(id));
        }
        let fd = self.new_fd(id);
        self.gc();
        Ok(fd)
    }

    fn open_append(&mut self, path: &str) -> io::Result<Fd> {
        self.count()?;
        let (dir, name) = split(path)?;
        match self.lookup(path)? {
            Some(Entry::Dir) => Err(os_error(EISDIR)),
            Some(Entry::File(id)) => Ok(self.new_fd(id)),
            None => {
                self.stats.creates += 1;
                let id = self.new_inode();
                if let Some(d) = self.dirs.get_mut(dir) {
                    d.current.insert(name.to_string(), Entry::File(id));
                }
                Ok(self.new_fd(id))
            }
        }
    }

    fn write(&mut self, fd: Fd, buf: &[u8]) -> io::Result<usize> {
        self.count()?;
        self.stats.writes += 1;
        let id = self.inode_of(fd)?;
        if self.faults.fail_next_writes > 0 {
            self.faults.fail_next_writes -= 1;
            self.stats.injected_eio += 1;
            return Err(os_error(EIO));
        }
        let p = self.faults.write_fail_prob;
        if self.chance(p) {
            self.stats.injected_eio += 1;
            return Err(os_error(EIO));
        }
        let mut n = buf.len();
        if let Some(quota) = self.faults.quota_bytes {
            let room = quota.saturating_sub(self.used_bytes());
            if room == 0 && n > 0 {
                self.stats.injected_enospc += 1;
                return Err(os_error(ENOSPC));
            }
            n = n.min(usize::try_from(room).unwrap_or(usize::MAX));
        }
        let ino = self.inodes.get_mut(&id).ok_or_else(|| os_error(EBADF))?;
        if self.faults.lose_write_number == Some(self.stats.writes) {
            return Ok(n);
        }
        ino.data.extend_from_slice(&buf[..n]);
        self.stats.bytes_written += n as u64;
        Ok(n)
    }

    fn truncate(&mut self, fd: Fd, len_bytes: u64) -> io::Result<()> {
        self.count()?;
        self.stats.truncates += 1;
        let id = self.inode_of(fd)?;
        let len = usize::try_from(len_bytes).map_err(|_| os_error(EINVAL))?;
        if let Some(quota) = self.faults.quota_bytes {
            let cur = self.inodes.get(&id).map(|i| i.data.len()).unwrap_or(0);
            if len > cur && self.used_bytes() + (len - cur) as u64 > quota {
                return Err(os_error(ENOSPC));
            }
        }
        let ino = self.inodes.get_mut(&id).ok_or_else(|| os_error(EBADF))?;
        if len < ino.durable_len && ino.snapshot.is_none() {
            ino.snapshot = Some(ino.data[..ino.durable_len].to_vec());
        }
        ino.data.resize(len, 0);
        ino.durable_len = ino.durable_len.min(len);
        Ok(())
    }

    fn fsync(&mut self, fd: Fd) -> io::Result<()> {
        self.count()?;
        self.stats.fsyncs += 1;
        let id = self.inode_of(fd)?;
        if self.injected_fsync_failure() {
            self.stats.injected_eio += 1;
            return Err(os_error(EIO));
        }
        let ino = self.inodes.get_mut(&id).ok_or_else(|| os_error(EBADF))?;
        ino.durable_len = ino.data.len();
        ino.snapshot = None;
        Ok(())
    }

    fn close(&mut self, fd: Fd) {
        self.fds.remove(&fd.0);
        self.gc();
    }

    fn read(&mut self, path: &str) -> io::Result<Vec<u8>> {
        self.live()?;
        self.stats.reads += 1;
        let id = match self.lookup(path)? {
            Some(Entry::File(id)) => id,
            Some(Entry::Dir) => return Err(os_error(EISDIR)),
            None => return Err(os_error(ENOENT)),
        };
        let mut data = self
            .inodes
            .get(&id)
            .map(|i| i.data.clone())
            .unwrap_or_default();
        let p = self.faults.read_bitflip_prob;
        if !data.is_empty() && self.chance(p) {
            let bit = self.rng.below(data.len() as u64 * 8);
            let byte = (bit / 8) as usize;
            if let Some(b) = data.get_mut(byte) {
                *b ^= 1 << (bit % 8);
            }
            self.stats.injected_bitflips += 1;
        }
        Ok(data)
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        self.count()?;
        self.stats.renames += 1;
        let (fdir, fname) = split(from)?;
        let (tdir, tname) = split(to)?;
        let id = match self.lookup(from)? {
            Some(Entry::File(id)) => id,
            Some(Entry::Dir) => return Err(os_error(EISDIR)),
            None => return Err(os_error(ENOENT)),
        };
        if self.lookup(to)? == Some(Entry::Dir) {
            return Err(os_error(EISDIR));
        }
        if from == to {
            return Ok(());
        }
        if let Some(d) = self.dirs.get_mut(fdir) {
            d.current.remove(fname);
        }
        if let Some(d) = self.dirs.get_mut(tdir) {
            d.current.insert(tname.to_string(), Entry::File(id));
        }
        self.gc();
        Ok(())
    }

    fn remove(&mut self, path: &str) -> io::Result<()> {
        self.count()?;
        self.stats.removes += 1;
        let (dir, name) = split(path)?;
        match self.lookup(path)? {
            Some(Entry::File(_)) => {
                if let Some(d) = self.dirs.get_mut(dir) {
                    d.current.remove(name);
                }
                self.gc();
                Ok(())
            }
            Some(Entry::Dir) => Err(os_error(EISDIR)),
            None => Err(os_error(ENOENT)),
        }
    }

    fn mkdir(&mut self, dir: &str) -> io::Result<()> {
        self.count()?;
        self.stats.mkdirs += 1;
        let (pdir, name) = split(dir)?;
        match self.lookup(dir)? {
            Some(Entry::Dir) => Ok(()),
            Some(Entry::File(_)) => Err(os_error(EEXIST)),
            None => {
                if let Some(d) = self.dirs.get_mut(pdir) {
                    d.current.insert(name.to_string(), Entry::Dir);
                }
                self.dirs.insert(dir.to_string(), DirState::default());
                Ok(())
            }
        }
    }

    fn fsync_dir(&mut self, dir: &str) -> io::Result<()> {
        self.count()?;
        self.stats.fsync_dirs += 1;
        components(dir)?;
        if !self.dirs.contains_key(dir) {
            return Err(match self.lookup(dir) {
                Ok(Some(Entry::File(_))) => os_error(ENOTDIR),
                _ => os_error(ENOENT),
            });
        }
        if self.injected_fsync_failure() {
            self.stats.injected_eio += 1;
            return Err(os_error(EIO));
        }
        if let Some(d) = self.dirs.get_mut(dir) {
            d.durable = d.current.clone();
        }
        self.gc();
        Ok(())
    }

    fn list(&mut self, dir: &str) -> io::Result<Vec<String>> {
        self.live()?;
        components(dir)?;
        match self.dirs.get(dir) {
            Some(d) => Ok(d.current.keys().cloned().collect()),
            None => Err(match self.lookup(dir) {
                Ok(Some(Entry::File(_))) => os_error(ENOTDIR),
                _ => os_error(ENOENT),
            }),
        }
    }

    fn stat(&mut self, path: &str) -> io::Result<Option<Stat>> {
        self.live()?;
        let entry = match self.lookup(path) {
            Ok(e) => e,
            // A missing parent directory means the path does not exist.
            Err(e) if e.raw_os_error() == Some(ENOENT) => None,
            Err(e) => return Err(e),
        };
        Ok(match entry {
            None => None,
            Some(Entry::Dir) => Some(Stat {
                is_dir: true,
                size_bytes: 0,
            }),
            Some(Entry::File(id)) => Some(Stat {
                is_dir: false,
                size_bytes: self
                    .inodes
                    .get(&id)
                    .map(|i| i.data.len() as u64)
                    .unwrap_or(0),
            }),
        })
    }
}

/// A `SimDisk` shared by successive server incarnations (the simulator and
/// crash tests): the process dies and restarts, the disk stays.
#[derive(Clone)]
pub struct SharedSimDisk(pub std::sync::Arc<std::sync::Mutex<SimDisk>>);

impl SharedSimDisk {
    pub fn new(d: SimDisk) -> SharedSimDisk {
        SharedSimDisk(std::sync::Arc::new(std::sync::Mutex::new(d)))
    }

    /// Run `f` on the disk (e.g. `crash()`, fault settings).
    pub fn with<T>(&self, f: impl FnOnce(&mut SimDisk) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Disk for SharedSimDisk {
    fn create(&mut self, path: &str) -> io::Result<Fd> {
        self.with(|d| d.create(path))
    }
    fn open_append(&mut self, path: &str) -> io::Result<Fd> {
        self.with(|d| d.open_append(path))
    }
    fn write(&mut self, fd: Fd, buf: &[u8]) -> io::Result<usize> {
        self.with(|d| d.write(fd, buf))
    }
    fn truncate(&mut self, fd: Fd, len_bytes: u64) -> io::Result<()> {
        self.with(|d| d.truncate(fd, len_bytes))
    }
    fn fsync(&mut self, fd: Fd) -> io::Result<()> {
        self.with(|d| d.fsync(fd))
    }
    fn close(&mut self, fd: Fd) {
        self.with(|d| d.close(fd))
    }
    fn read(&mut self, path: &str) -> io::Result<Vec<u8>> {
        self.with(|d| d.read(path))
    }
    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        self.with(|d| d.rename(from, to))
    }
    fn remove(&mut self, path: &str) -> io::Result<()> {
        self.with(|d| d.remove(path))
    }
    fn mkdir(&mut self, dir: &str) -> io::Result<()> {
        self.with(|d| d.mkdir(dir))
    }
    fn fsync_dir(&mut self, dir: &str) -> io::Result<()> {
        self.with(|d| d.fsync_dir(dir))
    }
    fn list(&mut self, dir: &str) -> io::Result<Vec<String>> {
        self.with(|d| d.list(dir))
    }
    fn stat(&mut self, path: &str) -> io::Result<Option<Stat>> {
        self.with(|d| d.stat(path))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn errno(r: io::Result<impl std::fmt::Debug>) -> Option<i32> {
        r.err().and_then(|e| e.raw_os_error())
    }

    #[test]
    fn paths_are_validated() {
        assert!(components("a/b").is_ok());
        for bad in ["/a", "a//b", "a/../b", "./a", "a/", "a\0b"] {
            assert_eq!(errno(components(bad)), Some(EINVAL), "{bad}");
        }
        let mut d = SimDisk::new(1);
        assert_eq!(errno(d.create("../x")), Some(EINVAL));
        assert_eq!(errno(d.create("nodir/x")), Some(ENOENT));
    }

    #[test]
    fn unsynced_data_is_lost_on_crash_and_fsynced_data_kept() {
        let mut d = SimDisk::new(7);
        let fd = d.create("f").unwrap();
        d.fsync_dir("").unwrap();
        d.write(fd, b"hello ").unwrap();
        d.fsync(fd).unwrap();
        d.write(fd, b"world").unwrap();
        assert_eq!(d.read("f").unwrap(), b"hello world");
        d.crash();
        assert_eq!(d.read("f").unwrap(), b"hello ");
        // The fd died with the process.
        assert_eq!(errno(d.write(fd, b"x")), Some(EBADF));
    }

    #[test]
    fn new_file_without_dir_fsync_disappears_even_if_data_fsynced() {
        let mut d = SimDisk::new(7);
        let fd = d.create("f").unwrap();
        d.write(fd, b"data").unwrap();
        d.fsync(fd).unwrap();
        d.crash();
        assert_eq!(d.stat("f").unwrap(), None);
    }

    #[test]
    fn rename_without_dir_fsync_is_reverted() {
        let mut d = SimDisk::new(7);
        d.put_durable("m", b"old");
        let fd = d.create("tmp").unwrap();
        d.write(fd, b"new").unwrap();
        d.fsync(fd).unwrap();
        d.close(fd);
        d.rename("tmp", "m").unwrap();
        assert_eq!(d.read("m").unwrap(), b"new");
        d.crash();
        assert_eq!(d.read("m").unwrap(), b"old");
        assert_eq!(d.stat("tmp").unwrap(), None);

        // With the directory synced the rename survives.
        let fd = d.create("tmp").unwrap();
        d.write(fd, b"new").unwrap();
        d.fsync(fd).unwrap();
        d.close(fd);
        d.rename("tmp", "m").unwrap();
        d.fsync_dir("").unwrap();
        d.crash();
        assert_eq!(d.read("m").unwrap(), b"new");
        assert_eq!(d.list("").unwrap(), vec!["m".to_string()]);
    }

    #[test]
    fn remove_and_mkdir_need_dir_fsync() {
        let mut d = SimDisk::new(3);
        d.put_durable("gone", b"x");
        d.remove("gone").unwrap();
        d.mkdir("sub").unwrap();
        let fd = d.create("sub/f").unwrap();
        d.fsync(fd).unwrap();
        d.fsync_dir("sub").unwrap();
        d.crash();
        // The removal was not synced; the directory's own entry was not either,
        // so the synced file inside it is unreachable.
        assert_eq!(d.read("gone").unwrap(), b"x");
        assert_eq!(d.stat("sub").unwrap(), None);
        assert_eq!(errno(d.list("sub")), Some(ENOENT));
    }

    #[test]
    fn torn_write_keeps_a_prefix_of_the_unsynced_bytes() {
        let payload: Vec<u8> = (0..200u8).collect();
        let mut lengths = std::collections::BTreeSet::new();
        for seed in 0..40 {
            let mut d = SimDisk::new(seed);
            d.faults.torn_writes = true;
            d.put_durable("f", b"base");
            let fd = d.open_append("f").unwrap();
            d.write(fd, &payload).unwrap();
            d.crash();
            let got = d.read("f").unwrap();
            assert!(got.len() >= 4 && got.len() <= 204);
            assert_eq!(&got[..4], b"base");
            assert_eq!(&got[4..], &payload[..got.len() - 4], "must be a prefix");
            lengths.insert(got.len());
        }
        // Different seeds tear at different places.
        assert!(lengths.len() > 5, "{lengths:?}");
    }

    #[test]
    fn truncate_of_durable_bytes_reverts_on_crash_unless_synced() {
        let mut d = SimDisk::new(1);
        d.put_durable("f", b"0123456789");
        let fd = d.open_append("f").unwrap();
        d.truncate(fd, 4).unwrap();
        d.write(fd, b"ab").unwrap();
        assert_eq!(d.read("f").unwrap(), b"0123ab");
        d.crash();
        assert_eq!(d.read("f").unwrap(), b"0123456789");
        let fd = d.open_append("f").unwrap();
        d.truncate(fd, 4).unwrap();
        d.fsync(fd).unwrap();
        d.crash();
        assert_eq!(d.read("f").unwrap(), b"0123");
    }

    #[test]
    fn enospc_after_quota_with_short_write_first() {
        let mut d = SimDisk::new(1);
        d.faults.quota_bytes = Some(10);
        let fd = d.create("f").unwrap();
        assert_eq!(d.write(fd, b"123456").unwrap(), 6);
        assert_eq!(
            d.write(fd, b"abcdef").unwrap(),
            4,
            "short write up to the quota"
        );
        assert_eq!(errno(d.write(fd, b"x")), Some(ENOSPC));
        let (n, r) = d.write_all_counted(fd, b"zz");
        assert_eq!((n, errno(r)), (0, Some(ENOSPC)));
        assert_eq!(d.read("f").unwrap(), b"123456abcd");
        // Freeing space makes writes work again.
        d.truncate(fd, 2).unwrap();
        assert_eq!(d.write(fd, b"xy").unwrap(), 2);
    }

    #[test]
    fn eio_on_next_writes_and_fsyncs_and_by_probability() {
        let mut d = SimDisk::new(5);
        let fd = d.create("f").unwrap();
        d.faults.fail_next_writes = 2;
        assert_eq!(errno(d.write(fd, b"a")), Some(EIO));
        assert_eq!(errno(d.write(fd, b"a")), Some(EIO));
        assert_eq!(d.write(fd, b"b").unwrap(), 1);
        assert_eq!(d.read("f").unwrap(), b"b", "failed writes wrote nothing");
        d.faults.fail_next_fsyncs = 1;
        assert_eq!(errno(d.fsync(fd)), Some(EIO));
        d.fsync_dir("").unwrap();
        d.crash();
        assert_eq!(d.read("f").unwrap(), b"", "the failed fsync synced nothing");

        let mut d = SimDisk::new(9);
        d.faults.write_fail_prob = 0.5;
        let fd = d.create("g").unwrap();
        let fails = (0..400).filter(|_| d.write(fd, b"x").is_err()).count();
        assert!((120..280).contains(&fails), "{fails}");
        assert_eq!(d.stats().injected_eio, fails as u64);
    }

    #[test]
    fn bit_flip_on_read_changes_exactly_one_bit_and_not_the_file() {
        let mut d = SimDisk::new(11);
        let data: Vec<u8> = (0..64u8).collect();
        d.put_durable("f", &data);
        d.faults.read_bitflip_prob = 1.0;
        for _ in 0..20 {
            let got = d.read("f").unwrap();
            let diff: u32 = got
                .iter()
                .zip(&data)
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            assert_eq!(diff, 1);
        }
        assert_eq!(d.peek("f").unwrap(), data.as_slice());
    }

    #[test]
    fn crash_after_ops_stops_everything_then_crash_recovers() {
        let mut d = SimDisk::new(1);
        d.faults.crash_after_ops = Some(3);
        let fd = d.create("f").unwrap(); // 1
        d.write(fd, b"a").unwrap(); // 2
        d.fsync(fd).unwrap(); // 3
        assert!(d.fsync_dir("").is_err());
        assert!(d.halted());
        assert!(d.write(fd, b"b").is_err());
        assert!(d.read("f").is_err());
        assert_eq!(d.ops(), 3);
        d.crash();
        assert!(!d.halted());
        // The dir was never synced, so the file is gone.
        assert_eq!(d.stat("f").unwrap(), None);
        assert!(d.create("g").is_ok());
    }

    #[test]
    fn same_seed_same_faults() {
        let run = |seed| {
            let mut d = SimDisk::new(seed);
            d.faults.write_fail_prob = 0.3;
            d.faults.torn_writes = true;
            let fd = d.create("f").unwrap();
            d.fsync_dir("").unwrap();
            let mut ok = Vec::new();
            for i in 0..50u8 {
                ok.push(d.write(fd, &[i; 7]).is_ok());
            }
            d.crash();
            (ok, d.read("f").unwrap())
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }
}
