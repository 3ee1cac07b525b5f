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

pub fn start(extra: &[&str]) -> Srv {
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
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Srv { child, port };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server did not start");
}

pub fn conn(s: &Srv) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c
}
