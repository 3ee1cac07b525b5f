//! `RealDisk`: the engine's `Disk` trait over `std::fs`, rooted at Redis's
//! `dir`. Each call is the one syscall Redis makes for it: `write` is one
//! `write(2)` (may be short), `fsync` is `fdatasync` (Redis's `redis_fsync`
//! on Linux), `fsync_dir` opens the directory and fsyncs it
//! (`fsyncFileDir`). Under madsim std::fs still reaches the real file
//! system, which is fine for this shell; simulations use `SimDisk`.
//!
//! Invariant: every path is checked by `redsim_core::disk::components`
//! before it is joined to the root, so nothing outside `dir` is touched.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;

use redsim_core::disk::{components, os_error, Disk, Fd, Stat, EBADF, EINVAL};

pub struct RealDisk {
    root: PathBuf,
    files: HashMap<u64, File>,
    next_fd: u64,
}

impl RealDisk {
    pub fn new(root: impl Into<PathBuf>) -> RealDisk {
        RealDisk {
            root: root.into(),
            files: HashMap::new(),
            next_fd: 1,
        }
    }

    fn path(&self, rel: &str) -> io::Result<PathBuf> {
        let mut p = self.root.clone();
        for c in components(rel)? {
            p.push(c);
        }
        Ok(p)
    }

    fn add(&mut self, f: File) -> Fd {
        let fd = self.next_fd;
        self.next_fd += 1;
        self.files.insert(fd, f);
        Fd(fd)
    }

    fn file(&mut self, fd: Fd) -> io::Result<&mut File> {
        self.files.get_mut(&fd.0).ok_or_else(|| os_error(EBADF))
    }
}

impl Disk for RealDisk {
    fn create(&mut self, path: &str) -> io::Result<Fd> {
        // Write-only + truncate; writes are sequential so they append.
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.path(path)?)?;
        Ok(self.add(f))
    }

    fn open_append(&mut self, path: &str) -> io::Result<Fd> {
        let f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.path(path)?)?;
        Ok(self.add(f))
    }

    fn write(&mut self, fd: Fd, buf: &[u8]) -> io::Result<usize> {
        let f = self.file(fd)?;
        loop {
            match f.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    fn truncate(&mut self, fd: Fd, len_bytes: u64) -> io::Result<()> {
        let f = self.file(fd)?;
        f.set_len(len_bytes)?;
        // Files from `create` are not O_APPEND: move the offset to the end.
        f.seek(SeekFrom::End(0))?;
        Ok(())
    }

    fn fsync(&mut self, fd: Fd) -> io::Result<()> {
        self.file(fd)?.sync_data()
    }

    fn close(&mut self, fd: Fd) {
        self.files.remove(&fd.0);
    }

    fn read(&mut self, path: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path(path)?)
    }

    fn rename(&mut self, from: &str, to: &str) -> io::Result<()> {
        if components(from)?.is_empty() || components(to)?.is_empty() {
            return Err(os_error(EINVAL));
        }
        fs::rename(self.path(from)?, self.path(to)?)
    }

    fn remove(&mut self, path: &str) -> io::Result<()> {
        if components(path)?.is_empty() {
            return Err(os_error(EINVAL));
        }
        fs::remove_file(self.path(path)?)
    }

    fn mkdir(&mut self, dir: &str) -> io::Result<()> {
        let p = self.path(dir)?;
        match fs::create_dir(&p) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => Ok(()),
            r => r,
        }
    }

    fn fsync_dir(&mut self, dir: &str) -> io::Result<()> {
        File::open(self.path(dir)?)?.sync_all()
    }

    fn list(&mut self, dir: &str) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(self.path(dir)?)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn stat(&mut self, path: &str) -> io::Result<Option<Stat>> {
        match fs::metadata(self.path(path)?) {
            Ok(m) => Ok(Some(Stat {
                is_dir: m.is_dir(),
                size_bytes: m.len(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn real_disk_round_trip() {
        let root = std::env::temp_dir().join(format!("redsim-realdisk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        let mut d = RealDisk::new(&root);
        d.mkdir("sub").unwrap();
        d.mkdir("sub").unwrap();
        let fd = d.create("sub/f").unwrap();
        d.write_all(fd, b"hello world").unwrap();
        d.truncate(fd, 5).unwrap();
        d.write_all(fd, b"!").unwrap();
        d.fsync(fd).unwrap();
        d.close(fd);
        d.fsync_dir("sub").unwrap();
        assert_eq!(d.read("sub/f").unwrap(), b"hello!");
        let fd = d.open_append("sub/f").unwrap();
        d.write_all(fd, b"?").unwrap();
        d.close(fd);
        d.rename("sub/f", "sub/g").unwrap();
        assert_eq!(d.list("sub").unwrap(), vec!["g".to_string()]);
        assert_eq!(
            d.stat("sub/g").unwrap(),
            Some(Stat {
                is_dir: false,
                size_bytes: 7
            })
        );
        assert_eq!(d.stat("nope").unwrap(), None);
        assert!(d.read("../etc/passwd").is_err());
        d.remove("sub/g").unwrap();
        assert!(d.remove("sub/g").is_err());
        fs::remove_dir_all(&root).unwrap();
    }
}
