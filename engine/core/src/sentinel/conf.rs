//! sentinel.conf: parsing the directives a Sentinel understands and
//! rewriting the file with the current state, the way Redis's
//! `sentinelFlushConfig` does (the shell writes it to a temp file and renames).
//!
//! Invariants: parsing never panics on any input (errors name the line, like
//! Redis's "FATAL CONFIG FILE ERROR"); `rewrite` keeps every non-`sentinel`
//! line of the original file and regenerates all `sentinel` lines, so
//! parse(rewrite(x)) describes the same state as x (round trip).

use crate::util::split_args;

pub const DEFAULT_PORT: u16 = 26379;
pub const DEFAULT_DOWN_AFTER: i64 = 30_000;
pub const DEFAULT_FAILOVER_TIMEOUT: i64 = 180_000;
pub const DEFAULT_PARALLEL_SYNCS: i64 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MasterConf {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub quorum: u32,
    pub down_after: i64,
    pub failover_timeout: i64,
    pub parallel_syncs: i64,
    pub auth_pass: Option<String>,
    pub auth_user: Option<String>,
    pub config_epoch: u64,
    pub leader_epoch: u64,
    pub known_replicas: Vec<(String, u16)>,
    pub known_sentinels: Vec<(String, u16, String)>,
}

impl MasterConf {
    pub fn new(name: &str, host: &str, port: u16, quorum: u32) -> MasterConf {
        MasterConf {
            name: name.into(),
            host: host.into(),
            port,
            quorum,
            down_after: DEFAULT_DOWN_AFTER,
            failover_timeout: DEFAULT_FAILOVER_TIMEOUT,
            parallel_syncs: DEFAULT_PARALLEL_SYNCS,
            ..Default::default()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelConf {
    pub port: u16,
    pub bind: Vec<String>,
    pub myid: Option<String>,
    pub current_epoch: u64,
    pub masters: Vec<MasterConf>,
    pub requirepass: Option<String>,
    pub logfile: String,
    pub loglevel: String,
    pub dir: String,
    pub announce_ip: Option<String>,
    pub announce_port: Option<u16>,
}

impl Default for SentinelConf {
    fn default() -> Self {
        SentinelConf {
            port: DEFAULT_PORT,
            bind: Vec::new(),
            myid: None,
            current_epoch: 0,
            masters: Vec::new(),
            requirepass: None,
            logfile: String::new(),
            loglevel: "notice".into(),
            dir: String::new(),
            announce_ip: None,
            announce_port: None,
        }
    }
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn num<T: std::str::FromStr>(b: &[u8]) -> Result<T, String> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|t| t.parse::<T>().ok())
        .ok_or_else(|| format!("Invalid number '{}'", s(b)))
}

fn is_hex40(id: &str) -> bool {
    id.len() == 40 && id.bytes().all(|c| c.is_ascii_hexdigit())
}

impl SentinelConf {
    /// Parse a config file's text followed by `--name value` command-line
    /// overrides (already joined into `name value` lines).
    pub fn parse(text: &str, extra: &[String]) -> Result<SentinelConf, String> {
        let mut c = SentinelConf::default();
        let lines = text
            .lines()
            .map(str::to_string)
            .chain(extra.iter().cloned());
        for (i, raw) in lines.enumerate() {
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let args = split_args(l.as_bytes())
                .ok_or("Unbalanced quotes in configuration line")
                .map_err(|e| {
                    format!(
                        "Reading the configuration file, at line {}\n>>> '{l}'\n{e}",
                        i + 1
                    )
                })?;
            c.apply(&args).map_err(|e| {
                format!(
                    "Reading the configuration file, at line {}\n>>> '{l}'\n{e}",
                    i + 1
                )
            })?;
        }
        Ok(c)
    }

    fn master(&mut self, name: &[u8]) -> Result<&mut MasterConf, String> {
        let name = s(name);
        self.masters
            .iter_mut()
            .find(|m| m.name == name)
            .ok_or_else(|| "No such master with specified name.".to_string())
    }

    fn apply(&mut self, a: &[Vec<u8>]) -> Result<(), String> {
        let Some(first) = a.first() else {
            return Ok(());
        };
        let d = s(first).to_ascii_lowercase();
        let arg = |i: usize| {
            a.get(i)
                .map(|v| v.as_slice())
                .ok_or_else(|| "wrong number of arguments".to_string())
        };
        match d.as_str() {
            "port" => self.port = num(arg(1)?)?,
            "bind" => self.bind = a[1..].iter().map(|b| s(b)).collect(),
            "requirepass" => {
                let p = s(arg(1)?);
                self.requirepass = if p.is_empty() { None } else { Some(p) };
            }
            "logfile" => self.logfile = s(arg(1)?),
            "loglevel" => self.loglevel = s(arg(1)?),
            "dir" => self.dir = s(arg(1)?),
            "sentinel" => return self.apply_sentinel(&a[1..]),
            // Everything else a redis.conf may hold is accepted and kept.
            _ => {}
        }
        Ok(())
    }

    fn apply_sentinel(&mut self, a: &[Vec<u8>]) -> Result<(), String> {
        let arg = |i: usize| {
            a.get(i)
                .map(|v| v.as_slice())
                .ok_or_else(|| "Unrecognized sentinel configuration statement.".to_string())
        };
        let sub = s(arg(0)?).to_ascii_lowercase();
        match (sub.as_str(), a.len()) {
            ("monitor", 5) => {
                let name = s(arg(1)?);
                if self.masters.iter().any(|m| m.name == name) {
                    return Err("Duplicate master name.".into());
                }
                let quorum: u32 = num(arg(4)?)?;
                if quorum == 0 {
                    return Err("Quorum must be 1 or greater.".into());
                }
                let port: u16 = num(arg(3)?)?;
                if port == 0 {
                    return Err("Invalid port number".into());
                }
                self.masters
                    .push(MasterConf::new(&name, &s(arg(2)?), port, quorum));
            }
            ("down-after-milliseconds", 3) => {
                let v: i64 = num(arg(2)?)?;
                if v <= 0 {
                    return Err("negative or zero time parameter.".into());
                }
                self.master(arg(1)?)?.down_after = v;
            }
            ("failover-timeout", 3) => {
                let v: i64 = num(arg(2)?)?;
                if v <= 0 {
                    return Err("negative or zero time parameter.".into());
                }
                self.master(arg(1)?)?.failover_timeout = v;
            }
            ("parallel-syncs", 3) => {
                let v: i64 = num(arg(2)?)?;
                self.master(arg(1)?)?.parallel_syncs = v.max(1);
            }
            ("auth-pass", 3) => {
                let p = s(arg(2)?);
                self.master(arg(1)?)?.auth_pass = Some(p);
            }
            ("auth-user", 3) => {
                let p = s(arg(2)?);
                self.master(arg(1)?)?.auth_user = Some(p);
            }
            ("config-epoch", 3) => {
                let v: u64 = num(arg(2)?)?;
                self.master(arg(1)?)?.config_epoch = v;
            }
            ("leader-epoch", 3) => {
                let v: u64 = num(arg(2)?)?;
                self.master(arg(1)?)?.leader_epoch = v;
            }
            ("known-replica" | "known-slave", 4) => {
                let host = s(arg(2)?);
                let port: u16 = num(arg(3)?)?;
                let m = self.master(arg(1)?)?;
                if !m.known_replicas.contains(&(host.clone(), port)) {
                    m.known_replicas.push((host, port));
                }
            }
            ("known-sentinel", 4 | 5) => {
                let host = s(arg(2)?);
                let port: u16 = num(arg(3)?)?;
                let runid = a.get(4).map(|r| s(r)).unwrap_or_default();
                let m = self.master(arg(1)?)?;
                m.known_sentinels.push((host, port, runid));
            }
            ("myid", 2) => {
                let id = s(arg(1)?);
                if !is_hex40(&id) {
                    return Err("Malformed Sentinel id in myid option.".into());
                }
                self.myid = Some(id);
            }
            ("current-epoch", 2) => self.current_epoch = num(arg(1)?)?,
            ("announce-ip", 2) => {
                let ip = s(arg(1)?);
                self.announce_ip = if ip.is_empty() { None } else { Some(ip) };
            }
            ("announce-port", 2) => {
                let p: u16 = num(arg(1)?)?;
                self.announce_port = if p == 0 { None } else { Some(p) };
            }
            // Accepted and ignored: scripts, hostnames, deny-scripts-reconfig, rename-command...
            (
                "notification-script"
                | "client-reconfig-script"
                | "deny-scripts-reconfig"
                | "resolve-hostnames"
                | "announce-hostnames"
                | "rename-command"
                | "master-reboot-down-after-period"
                | "sentinel-user"
                | "sentinel-pass",
                _,
            ) => {}
            _ => return Err("Unrecognized sentinel configuration statement.".into()),
        }
        Ok(())
    }

    /// The `sentinel ...` lines describing this state.
    pub fn sentinel_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(id) = &self.myid {
            out.push(format!("sentinel myid {id}"));
        }
        for m in &self.masters {
            out.push(format!(
                "sentinel monitor {} {} {} {}",
                m.name, m.host, m.port, m.quorum
            ));
            if m.down_after != DEFAULT_DOWN_AFTER {
                out.push(format!(
                    "sentinel down-after-milliseconds {} {}",
                    m.name, m.down_after
                ));
            }
            if m.failover_timeout != DEFAULT_FAILOVER_TIMEOUT {
                out.push(format!(
                    "sentinel failover-timeout {} {}",
                    m.name, m.failover_timeout
                ));
            }
            if m.parallel_syncs != DEFAULT_PARALLEL_SYNCS {
                out.push(format!(
                    "sentinel parallel-syncs {} {}",
                    m.name, m.parallel_syncs
                ));
            }
            if let Some(p) = &m.auth_pass {
                out.push(format!("sentinel auth-pass {} {}", m.name, quote(p)));
            }
            if let Some(u) = &m.auth_user {
                out.push(format!("sentinel auth-user {} {}", m.name, quote(u)));
            }
            out.push(format!(
                "sentinel config-epoch {} {}",
                m.name, m.config_epoch
            ));
            out.push(format!(
                "sentinel leader-epoch {} {}",
                m.name, m.leader_epoch
            ));
            for (h, p) in &m.known_replicas {
                out.push(format!("sentinel known-replica {} {h} {p}", m.name));
            }
            for (h, p, id) in &m.known_sentinels {
                out.push(format!("sentinel known-sentinel {} {h} {p} {id}", m.name));
            }
        }
        out.push(format!("sentinel current-epoch {}", self.current_epoch));
        if let Some(ip) = &self.announce_ip {
            out.push(format!("sentinel announce-ip {}", quote(ip)));
        }
        if let Some(p) = self.announce_port {
            out.push(format!("sentinel announce-port {p}"));
        }
        out
    }

    /// The new file text: the original's non-sentinel lines, then the
    /// regenerated sentinel state under Redis's "Generated by CONFIG REWRITE".
    pub fn rewrite(&self, original: &str) -> String {
        let mut kept: Vec<&str> = original
            .lines()
            .filter(|l| {
                let t = l.trim_start();
                let first = t.split_whitespace().next().unwrap_or("");
                !first.eq_ignore_ascii_case("sentinel") && t != "# Generated by CONFIG REWRITE"
            })
            .collect();
        while kept.last().is_some_and(|l| l.trim().is_empty()) {
            kept.pop();
        }
        let has_port = kept.iter().any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("port"))
        });
        let mut out = String::new();
        for l in kept {
            // The effective port (a --port override wins), as Redis rewrites it.
            let is_port = l
                .split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("port"));
            if is_port {
                out.push_str(&format!("port {}", self.port));
            } else {
                out.push_str(l);
            }
            out.push('\n');
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("# Generated by CONFIG REWRITE\n");
        if !has_port {
            out.push_str(&format!("port {}\n", self.port));
        }
        for l in self.sentinel_lines() {
            out.push_str(&l);
            out.push('\n');
        }
        out
    }
}

fn quote(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|c| c.is_ascii_graphic() && c != b'"' && c != b'\'' && c != b'\\')
    {
        v.to_string()
    } else {
        let mut o = String::from("\"");
        for c in v.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                '\n' => o.push_str("\\n"),
                '\r' => o.push_str("\\r"),
                c => o.push(c),
            }
        }
        o.push('"');
        o
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TEXT: &str = "port 26380\nbind 127.0.0.1\n# a comment\nsentinel monitor mymaster 127.0.0.1 6379 2\nsentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\nsentinel parallel-syncs mymaster 2\nsentinel auth-pass mymaster \"p w\"\nsentinel myid 0123456789abcdef0123456789abcdef01234567\nsentinel config-epoch mymaster 3\nsentinel leader-epoch mymaster 4\nsentinel known-replica mymaster 127.0.0.1 6380\nsentinel known-sentinel mymaster 127.0.0.1 26381 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nsentinel current-epoch 4\n";

    #[test]
    fn parse_all_directives() {
        let c = SentinelConf::parse(TEXT, &[]).unwrap();
        assert_eq!(c.port, 26380);
        assert_eq!(c.bind, vec!["127.0.0.1".to_string()]);
        assert_eq!(c.current_epoch, 4);
        assert_eq!(
            c.myid.as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        let m = &c.masters[0];
        assert_eq!(
            (m.name.as_str(), m.host.as_str(), m.port, m.quorum),
            ("mymaster", "127.0.0.1", 6379, 2)
        );
        assert_eq!(
            (m.down_after, m.failover_timeout, m.parallel_syncs),
            (1000, 5000, 2)
        );
        assert_eq!(m.auth_pass.as_deref(), Some("p w"));
        assert_eq!((m.config_epoch, m.leader_epoch), (3, 4));
        assert_eq!(m.known_replicas, vec![("127.0.0.1".to_string(), 6380)]);
        assert_eq!(m.known_sentinels.len(), 1);
    }

    #[test]
    fn rewrite_round_trip() {
        let c = SentinelConf::parse(TEXT, &[]).unwrap();
        let text = c.rewrite(TEXT);
        assert!(text.contains("# a comment\n"));
        assert!(text.contains("# Generated by CONFIG REWRITE\n"));
        let c2 = SentinelConf::parse(&text, &[]).unwrap();
        assert_eq!(c, c2);
        // Rewriting again is stable.
        assert_eq!(c2.rewrite(&text), text);
    }

    #[test]
    fn errors_name_the_line() {
        let e = SentinelConf::parse("port 1\nsentinel down-after-milliseconds nope 10\n", &[])
            .unwrap_err();
        assert!(e.contains("at line 2"), "{e}");
        assert!(e.contains("No such master"), "{e}");
        assert!(SentinelConf::parse("sentinel monitor m h 1 0\n", &[]).is_err());
        assert!(SentinelConf::parse("sentinel monitor m h x 2\n", &[]).is_err());
        assert!(SentinelConf::parse("sentinel myid short\n", &[]).is_err());
        assert!(SentinelConf::parse("sentinel \"unbalanced\n", &[]).is_err());
        // Overrides from the command line come after the file, and stick.
        let c = SentinelConf::parse("port 1\n", &["port 2".into()]).unwrap();
        assert_eq!(c.port, 2);
        assert!(c.rewrite("port 1\n").starts_with("port 2\n"));
    }
}
