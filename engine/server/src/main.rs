//! `redsim-server [redis.conf] [--name value ...]`: the tokio server binary.
//! Arguments work like redis-server's: an optional config file, then
//! `--name value` overrides (later ones win). Defaults: in-memory, port 6379,
//! loopback only.

use std::sync::Arc;

use redsim_core::config::Config;
use redsim_core::server::ConfigStore;
use redsim_core::{Server, ServerEnv};
use redsim_server::{accept_loop, cron_loop, Clock, Logger, Shared, SystemClock};

const REDIS_VERSION: &str = "7.0.15";

struct FileStore(String);

impl ConfigStore for FileStore {
    fn read(&self) -> std::io::Result<String> {
        std::fs::read_to_string(&self.0)
    }
    fn write(&mut self, text: &str) -> std::io::Result<()> {
        // Temp file + rename: a crash never leaves a half-written config.
        let tmp = format!("{}.tmp-redsim", self.0);
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.0)
    }
}

fn proc_sample() -> Option<(u64, f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // Fields after ")": state(0) ... utime(11) stime(12) ... rss(21) in pages.
    let ticks = 100.0;
    let user = f.get(11)?.parse::<f64>().ok()? / ticks;
    let sys = f.get(12)?.parse::<f64>().ok()? / ticks;
    let rss = f.get(21)?.parse::<u64>().ok()? * 4096;
    Some((rss, sys, user))
}

/// Physical memory in bytes (INFO total_system_memory), 0 when unknown.
fn system_memory() -> u64 {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else {
        return 0;
    };
    // "MemTotal:       24683656 kB"
    info.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn usage() -> ! {
    eprintln!("Usage: redsim-server [/path/to/redis.conf] [options]");
    eprintln!("       redsim-server -v or --version");
    eprintln!("       redsim-server -h or --help");
    eprintln!("Examples:");
    eprintln!("       redsim-server (run the server with default config)");
    eprintln!("       redsim-server /etc/redis/6379.conf");
    eprintln!("       redsim-server --port 7777");
    eprintln!("       redsim-server /etc/myredis.conf --loglevel verbose");
    std::process::exit(1);
}

/// Counts live heap bytes: INFO used_memory and maxmemory use it.
#[global_allocator]
static ALLOC: redsim_core::alloc::Counting = redsim_core::alloc::Counting;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-v" || a == "--version") {
        println!(
            "redsim-server v={} redis_compat={} bits=64 runtime=tokio",
            env!("CARGO_PKG_VERSION"),
            REDIS_VERSION
        );
        return;
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        usage();
    }
    let sentinel_mode = args.iter().any(|a| a == "--sentinel")
        || std::env::args()
            .next()
            .is_some_and(|a| a.ends_with("redsim-sentinel"));
    if sentinel_mode {
        args.retain(|a| a != "--sentinel");
        return sentinel_main(args);
    }
    let mut config_file = String::new();
    if let Some(first) = args.first() {
        if !first.starts_with("--") {
            config_file = args.remove(0);
        }
    }
    let file_text = if config_file.is_empty() {
        None
    } else {
        match std::fs::read_to_string(&config_file) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("Fatal error, can't open config file '{config_file}': {e}");
                std::process::exit(1);
            }
        }
    };
    if !config_file.is_empty() {
        // Absolute before the chdir below, so CONFIG REWRITE finds it.
        if let Ok(p) = std::fs::canonicalize(&config_file) {
            config_file = p.display().to_string();
        }
    }
    let mut cfg = Config::new();
    if let Err(e) = cfg.load(file_text.as_deref(), &args) {
        eprintln!(
            "\n*** FATAL CONFIG FILE ERROR (redsim {}) ***",
            env!("CARGO_PKG_VERSION")
        );
        eprintln!("{e}");
        std::process::exit(1);
    }
    // Like Redis: chdir to `dir` at startup, then report it as an absolute path.
    let dir = cfg.get("dir").unwrap_or(".").to_string();
    if let Err(e) = std::env::set_current_dir(&dir) {
        eprintln!("Can't chdir to '{dir}': {e}");
        std::process::exit(1);
    }
    if let Ok(cwd) = std::env::current_dir() {
        let _ = cfg.set_startup("dir", &cwd.display().to_string());
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(run(cfg, config_file));
}

async fn run(cfg: Config, config_file: String) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let pid = std::process::id();
    let log = match Logger::new(
        pid,
        cfg.get("loglevel").unwrap_or("notice"),
        cfg.get("logfile").unwrap_or(""),
        clock.clone(),
    ) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("Can't open the log file: {e}");
            std::process::exit(1);
        }
    };
    log.warning("oO0OoO0OoO0Oo redsim is starting oO0OoO0OoO0Oo");
    log.warning(&format!(
        "redsim version={}, redis compatibility={}, bits=64, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        REDIS_VERSION,
        pid
    ));
    if config_file.is_empty() {
        log.warning("Warning: no config file specified, using the default config. In order to specify a config file use redsim-server /path/to/redis.conf");
    }
    let seed = {
        // The only OS randomness: the engine's seed (printed, so runs can be replayed).
        let mut b = [0u8; 8];
        let ok = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
            .is_ok();
        if ok {
            u64::from_le_bytes(b)
        } else {
            clock.now_ms() as u64 ^ u64::from(pid)
        }
    };
    let env = ServerEnv {
        pid,
        tcp_port: cfg.port,
        executable: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        config_file: if config_file.is_empty() {
            String::new()
        } else {
            config_file.clone()
        },
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        arch_bits: 64,
        start_ms: clock.now_ms(),
        run_id: String::new(),
        version: REDIS_VERSION.into(),
        rng_seed: seed,
        mem_used: Some(redsim_core::alloc::used_bytes),
        total_system_memory: system_memory(),
    };
    let port = cfg.port;
    let binds: Vec<String> = cfg
        .get("bind")
        .unwrap_or("127.0.0.1")
        .split_whitespace()
        .map(String::from)
        .collect();
    let mut srv = Server::new(cfg, env);
    if !config_file.is_empty() {
        srv.config_store = Some(Box::new(FileStore(config_file)));
    }
    // The process already changed into `dir`: files are relative to it.
    srv.persist.disk = Some(Box::new(redsim_server::disk::RealDisk::new(".")));
    // Listen first, then load in steps: clients connecting meanwhile get
    // -LOADING (INFO says loading:1), as with Redis.
    let begun = srv.begin_load();
    for (lvl, msg) in srv.take_effects().log {
        log.log(lvl, &msg);
    }
    if let Err(e) = begun {
        log.warning(&e);
        std::process::exit(1);
    }
    let mut shared = Shared::new(srv, clock, log.clone());
    if let Some(s) = Arc::get_mut(&mut shared) {
        s.proc_sampler = Some(proc_sample);
    }
    let mut listening = 0;
    for b in &binds {
        let (optional, host) = match b.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, b.as_str()),
        };
        let host = if host == "*" { "0.0.0.0" } else { host };
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        match tokio::net::TcpListener::bind(&addr).await {
            Ok(l) => {
                listening += 1;
                tokio::spawn(accept_loop(l, shared.clone()));
            }
            Err(e) if optional => log.verbose(&format!("Skipping optional bind {addr}: {e}")),
            Err(e) => {
                log.warning(&format!(
                    "Warning: Could not create server TCP listening socket {addr}: {e}"
                ));
                std::process::exit(1);
            }
        }
    }
    if listening == 0 {
        log.warning("Failed listening on any address");
        std::process::exit(1);
    }
    log.notice(&format!("Running mode=standalone, port={port}."));
    log.notice("Server initialized");
    if let Err(e) = redsim_server::load_in_steps(&shared).await {
        log.warning(&e);
        std::process::exit(1);
    }
    log.notice("Ready to accept connections tcp");
    {
        let mut srv = shared.srv.lock().await;
        srv.ks.now_ms = shared.clock.now_ms();
        srv.replicaof_from_config();
        let fx = srv.take_effects();
        drop(srv);
        shared.log_effects(&fx);
    }
    tokio::spawn(cron_loop(shared.clone()));
    tokio::spawn(redsim_server::replica_link_loop(shared.clone()));
    #[cfg(not(madsim))]
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            log.warning(&format!("cannot install SIGTERM handler: {e}"));
            std::process::exit(1);
        }
    };
    #[cfg(not(madsim))]
    let sigterm = term.recv();
    // madsim simulates no Unix signals (only ctrl_c): SIGTERM never arrives.
    #[cfg(madsim)]
    let sigterm = std::future::pending::<Option<()>>();
    tokio::select! {
        biased;
        _ = shared.shutdown.notified() => {}
        _ = sigterm => log.warning("Received SIGTERM scheduling shutdown..."),
        _ = tokio::signal::ctrl_c() => log.warning("Received SIGINT scheduling shutdown..."),
    }
    {
        let mut srv = shared.srv.lock().await;
        let r = srv.prepare_for_shutdown();
        for (lvl, msg) in srv.take_effects().log {
            log.log(lvl, &msg);
        }
        if r.is_err() {
            log.warning(
                "Errors trying to shut down the server. Check the logs for more information.",
            );
        }
    }
    log.warning("redsim is now ready to exit, bye bye...");
    std::process::exit(0);
}

/// `--name v1 v2 --other v` to config lines `name v1 v2`, `other v`.
fn args_to_lines(args: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for a in args {
        if let Some(name) = a.strip_prefix("--") {
            lines.push(name.to_string());
        } else if let Some(last) = lines.last_mut() {
            last.push(' ');
            if a.is_empty() || a.contains(char::is_whitespace) {
                last.push_str(&format!("\"{a}\""));
            } else {
                last.push_str(a);
            }
        }
    }
    lines
}

/// `redsim-server sentinel.conf --sentinel [--port N ...]`.
fn sentinel_main(mut args: Vec<String>) {
    let config_file = match args.first() {
        Some(f) if !f.starts_with("--") => args.remove(0),
        _ => {
            eprintln!("Sentinel needs config file on disk to save state. Exiting...");
            std::process::exit(1);
        }
    };
    let text = match std::fs::read_to_string(&config_file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("Fatal error, can't open config file '{config_file}': {e}");
            std::process::exit(1);
        }
    };
    let config_file = std::fs::canonicalize(&config_file)
        .map(|p| p.display().to_string())
        .unwrap_or(config_file);
    if std::fs::OpenOptions::new()
        .append(true)
        .open(&config_file)
        .is_err()
    {
        eprintln!(
            "Sentinel config file {config_file} is not writable: Permission denied. Exiting..."
        );
        std::process::exit(1);
    }
    let conf = match redsim_core::sentinel::SentinelConf::parse(&text, &args_to_lines(&args)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "\n*** FATAL CONFIG FILE ERROR (redsim {}) ***",
                env!("CARGO_PKG_VERSION")
            );
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if !conf.dir.is_empty() {
        if let Err(e) = std::env::set_current_dir(&conf.dir) {
            eprintln!("Can't chdir to '{}': {e}", conf.dir);
            std::process::exit(1);
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(async move {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let pid = std::process::id();
        let log = match Logger::with_role(pid, 'X', &conf.loglevel, &conf.logfile, clock.clone()) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("Can't open the log file: {e}");
                std::process::exit(1);
            }
        };
        log.warning("oO0OoO0OoO0Oo redsim is starting oO0OoO0OoO0Oo");
        log.warning(&format!(
            "redsim version={}, redis compatibility={}, bits=64, pid={}, just started",
            env!("CARGO_PKG_VERSION"),
            REDIS_VERSION,
            pid
        ));
        log.warning("Configuration loaded");
        let seed = {
            let mut b = [0u8; 8];
            let ok = std::fs::File::open("/dev/urandom")
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
                .is_ok();
            if ok {
                u64::from_le_bytes(b)
            } else {
                clock.now_ms() as u64 ^ u64::from(pid)
            }
        };
        log.verbose(&format!("Sentinel rng seed {seed}"));
        let env = redsim_core::sentinel::SentinelEnv {
            pid,
            version: REDIS_VERSION.into(),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            config_file: config_file.clone(),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            start_ms: clock.now_ms(),
        };
        redsim_server::sentinel::run(conf, text, config_file, env, seed, clock, log).await;
    });
}
