//! Shared test helpers: start the real `redsim-server` binary on a free
//! port and connect to it.
#![allow(dead_code)]

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Srv {
    pub child: Child,
    pub port: u16,
}

impl Drop for Srv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Start the server on a free port. Retries on a new port when the child
/// exits at start-up: a parallel test's server can take the port between
/// `free_port` and our bind, and then the probe below reaches that other
/// server (found: a test failed with "connection refused" after it).
pub fn start(extra: &[&str]) -> Srv {
    for _ in 0..4 {
        if let Some(s) = start_once(extra) {
            return s;
        }
    }
    panic!("server did not start");
}

fn start_once(extra: &[&str]) -> Option<Srv> {
    let port = free_port();
    let mut args = vec![
        "--port".to_string(),
        port.to_string(),
        "--loglevel".into(),
        "warning".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = Command::new(env!("CARGO_BIN_EXE_redsim-server"))
        .args(&args)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn redsim-server");
    let mut s = Srv { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !matches!(s.child.try_wait(), Ok(None)) {
            return None;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // A bind failure exits at once: still alive a moment later
            // means the port is ours.
            std::thread::sleep(Duration::from_millis(100));
            if matches!(s.child.try_wait(), Ok(None)) {
                return Some(s);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = s.child.kill();
    panic!("server did not start");
}

pub fn conn(s: &Srv) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c
}
