#![cfg(not(madsim))]
//! Start-up loading is observable, as with Redis (issue 5): the server
//! listens before it loads, answers -LOADING to commands without the
//! `loading` flag, reports loading:1 and the loading_* figures in INFO,
//! and serves the full dataset once loading is done. Covers the RDB file
//! and an AOF whose base is an RDB preamble.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

mod common;
use common::{conn, start};

const KEYS: u64 = 1_500_000;

struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    fn new(s: &common::Srv) -> Client {
        let w = conn(s);
        let r = BufReader::new(w.try_clone().expect("clone"));
        Client { w, r }
    }

    /// One command; its reply as text (bulk bodies, or the status/error line).
    fn cmd(&mut self, args: &[&str]) -> String {
        let mut buf = format!("*{}\r\n", args.len());
        for a in args {
            buf.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.w.write_all(buf.as_bytes()).expect("write");
        let mut line = String::new();
        self.r.read_line(&mut line).expect("reply");
        if let Some(n) = line.strip_prefix('$') {
            let n: i64 = n.trim().parse().expect("bulk len");
            if n < 0 {
                return "(nil)".into();
            }
            let mut body = vec![0u8; n as usize + 2];
            self.r.read_exact(&mut body).expect("bulk");
            return String::from_utf8_lossy(&body[..n as usize]).into_owned();
        }
        line.trim_end().to_string()
    }

    fn info_field(&mut self, field: &str) -> Option<String> {
        let text = self.cmd(&["INFO", "persistence"]);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_string())
    }

    fn wait_until(&mut self, what: &str, mut f: impl FnMut(&mut Client) -> bool) {
        let t = Instant::now();
        while !f(self) {
            assert!(t.elapsed() < Duration::from_secs(60), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Restart on `dir` and check the loading window and the loaded data.
fn check_loading(dir: &str, extra: &[&str]) {
    let mut args = vec!["--dir", dir, "--save", ""];
    args.extend_from_slice(extra);
    let s = start(&args);
    let mut c = Client::new(&s);
    // Connected while loading: data commands are refused with Redis's error,
    // commands flagged `loading` (INFO, ECHO; PING is not one) run.
    assert_eq!(c.cmd(&["INFO", "persistence"]).contains("loading:1"), true);
    assert_eq!(
        c.cmd(&["GET", "key:1"]),
        "-LOADING Redis is loading the dataset in memory"
    );
    assert_eq!(
        c.cmd(&["PING"]),
        "-LOADING Redis is loading the dataset in memory"
    );
    assert_eq!(c.cmd(&["ECHO", "hi"]), "hi");
    let total: u64 = c
        .info_field("loading_total_bytes")
        .and_then(|v| v.parse().ok())
        .expect("loading_total_bytes while loading");
    assert!(total > KEYS, "total bytes {total}");
    // A MULTI with a refused command is aborted like any rejected command.
    assert_eq!(c.cmd(&["MULTI"]), "+OK");
    assert_eq!(
        c.cmd(&["SET", "x", "1"]),
        "-LOADING Redis is loading the dataset in memory"
    );
    assert!(c.cmd(&["EXEC"]).starts_with("-EXECABORT"));
    c.wait_until("loading ends", |c| {
        c.info_field("loading").as_deref() == Some("0")
    });
    assert_eq!(c.cmd(&["PING"]), "+PONG");
    assert_eq!(c.cmd(&["DBSIZE"]), format!(":{KEYS}"));
    assert_eq!(c.cmd(&["GET", "key:12345"]), "value:12345");
    assert!(c.info_field("loading_total_bytes").is_none());
}

fn populate(c: &mut Client) {
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", &KEYS.to_string()]), "+OK");
    assert_eq!(c.cmd(&["DBSIZE"]), format!(":{KEYS}"));
}

#[test]
fn rdb_load_is_observable() {
    let dir = tempdir("rdb");
    {
        let s = start(&["--dir", &dir, "--save", "", "--enable-debug-command", "yes"]);
        let mut c = Client::new(&s);
        populate(&mut c);
        assert_eq!(c.cmd(&["SAVE"]), "+OK");
    }
    check_loading(&dir, &[]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn aof_load_is_observable() {
    let dir = tempdir("aof");
    {
        let s = start(&[
            "--dir",
            &dir,
            "--save",
            "",
            "--appendonly",
            "yes",
            "--enable-debug-command",
            "yes",
        ]);
        let mut c = Client::new(&s);
        populate(&mut c);
        // The rewrite makes the keys the base's RDB preamble.
        assert!(c.cmd(&["BGREWRITEAOF"]).starts_with('+'));
        c.wait_until("rewrite ends", |c| {
            c.info_field("aof_rewrite_in_progress").as_deref() == Some("0")
                && c.info_field("aof_rewrites").as_deref() == Some("1")
        });
        // And one command after it, in the incremental file.
        assert_eq!(c.cmd(&["SET", "key:12345", "value:12345"]), "+OK");
    }
    check_loading(&dir, &["--appendonly", "yes"]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir(tag: &str) -> String {
    let d = std::env::temp_dir().join(format!("redsim-loading-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d.display().to_string()
}
