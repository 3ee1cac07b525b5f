//! Starting and stopping the servers under test: a real `redis-server` and a
//! `redsim-server` (found via `REDSIM_SERVER_BIN`, else the workspace's
//! target/release or target/debug), each on a free loopback port, output to a
//! temp log, waited on until it answers PING, and killed on Drop.

use std::collections::HashSet;
use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::conn::Conn;

/// How long a server may take to answer its first PING.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Which implementation a server is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Redis,
    Redsim,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Redis => "redis",
            Flavor::Redsim => "redsim",
        }
    }
}

/// The cargo workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

/// Locate the redsim-server binary, or explain why it cannot be found.
pub fn redsim_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("REDSIM_SERVER_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "REDSIM_SERVER_BIN={} does not exist or is not a file",
                p.display()
            ))
        };
    }
    let root = workspace_root();
    let candidates = [
        root.join("target/release/redsim-server"),
        root.join("target/debug/redsim-server"),
    ];
    for c in &candidates {
        if c.is_file() {
            return Ok(c.clone());
        }
    }
    Err(format!(
        "redsim-server binary not found (looked at $REDSIM_SERVER_BIN, {}, {}). \
         Build it first: `cargo build --release -p redsim-server`, or point REDSIM_SERVER_BIN at a binary.",
        candidates[0].display(),
        candidates[1].display()
    ))
}

static PORTS_IN_USE: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A free loopback port not handed out before by this process.
pub fn free_port() -> Result<u16, String> {
    for _ in 0..100 {
        let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
        let port = l.local_addr().map_err(|e| e.to_string())?.port();
        drop(l);
        if port == 7777 {
            continue;
        }
        let mut g = PORTS_IN_USE.lock().unwrap_or_else(|p| p.into_inner());
        if g.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
    Err("could not find a free port".into())
}

/// A fresh, uniquely named directory under the system temp dir, removed on Drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "redsim-conformance-{tag}-{}-{}-{nanos}",
            std::process::id(),
            UNIQUE.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&p).map_err(|e| format!("create {}: {e}", p.display()))?;
        Ok(TempDir(p))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A running server process.
pub struct Server {
    pub flavor: Flavor,
    pub port: u16,
    pub log_path: PathBuf,
    pub args: Vec<String>,
    child: Child,
}

impl Server {
    /// Start a server of `flavor` in working directory `dir` with `extra`
    /// arguments appended (e.g. `--requirepass x`). Retries on a new port if
    /// the process dies at startup (port races between parallel tests).
    pub fn start(flavor: Flavor, dir: &Path, extra: &[String]) -> Result<Server, String> {
        let mut last_err = String::new();
        for attempt in 0..4 {
            match Self::start_once(flavor, dir, extra, attempt) {
                Ok(s) => return Ok(s),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    fn start_once(
        flavor: Flavor,
        dir: &Path,
        extra: &[String],
        attempt: u32,
    ) -> Result<Server, String> {
        let port = free_port()?;
        let (program, mut args): (PathBuf, Vec<String>) = match flavor {
            Flavor::Redis => (
                PathBuf::from("redis-server"),
                [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--enable-debug-command",
                    "yes",
                    "--daemonize",
                    "no",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ),
            Flavor::Redsim => (
                redsim_binary()?,
                [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--enable-debug-command",
                    "yes",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ),
        };
        args.extend(extra.iter().cloned());
        let log_path = dir.join(format!("{}-{port}-{attempt}.log", flavor.name()));
        let log =
            File::create(&log_path).map_err(|e| format!("create {}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&program)
            .args(&args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .map_err(|e| format!("spawn {} {:?}: {e}", program.display(), args))?;
        let mut server = Server {
            flavor,
            port,
            log_path,
            args,
            child,
        };
        server.wait_ready(&program)?;
        Ok(server)
    }

    fn wait_ready(&mut self, program: &Path) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} ({} {:?}) exited at startup with {status}; log:\n{}",
                    self.flavor.name(),
                    program.display(),
                    self.args,
                    self.log_tail()
                ));
            }
            if let Ok(mut c) = Conn::connect(self.port) {
                c.set_read_timeout(Duration::from_secs(2));
                // Any complete reply (PONG, or NOAUTH with requirepass) means up.
                if c.call(&["PING"]).is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} on port {} did not answer PING within {:?}; log:\n{}",
                    self.flavor.name(),
                    self.port,
                    STARTUP_TIMEOUT,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Open a new client connection.
    pub fn connect(&self) -> Result<Conn, String> {
        Conn::connect(self.port)
            .map_err(|e| format!("connect to {} on {}: {e}", self.flavor.name(), self.port))
    }

    /// `Some(description)` if the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(format!(
                "{} exited with {st}; log tail:\n{}",
                self.flavor.name(),
                self.log_tail()
            )),
            _ => None,
        }
    }

    /// The last ~40 lines of the server's output.
    pub fn log_tail(&self) -> String {
        let text = fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
