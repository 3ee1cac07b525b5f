//! Redis Sentinel as a sans-IO state machine (a port of Redis 7's
//! `sentinel.c` algorithm).
//!
//! The shell feeds [`Sentinel::handle`] with the current time and one
//! [`Input`] (a timer tick, a reply or connect/disconnect on an instance link,
//! a command from a Sentinel client) and carries out the returned
//! [`Action`]s (open a link, send bytes, close, reply to a client, write the
//! config file, log).
//!
//! Invariants:
//! - No I/O, no wall clock, no threads: time is the `now_ms` argument, all
//!   randomness (myid, run id, failover start jitter) comes from the seeded
//!   [`Rng`], and every collection iterated is ordered (`BTreeMap`), so the
//!   same inputs give the same outputs.
//! - Nothing a peer, client or config file sends can panic it: replies of
//!   the wrong shape are ignored, numbers are parsed with fallbacks.
//! - Replies on a command link arrive in request order, so each link keeps a
//!   FIFO of what it expects ([`Expect`]); a closed link forgets it.
//! - Algorithm constants, event names and event texts are Redis's.

pub mod commands;
pub mod conf;
pub mod wire;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::rng::Rng;
use crate::server::LogLevel;
pub use conf::{MasterConf, SentinelConf};
use wire::{encode, RVal};

pub const PING_PERIOD: i64 = 1000;
pub const INFO_PERIOD: i64 = 10_000;
pub const ASK_PERIOD: i64 = 1000;
pub const PUBLISH_PERIOD: i64 = 2000;
pub const MAX_PENDING_COMMANDS: i64 = 100;
pub const MIN_LINK_RECONNECT_PERIOD: i64 = 15_000;
pub const ELECTION_TIMEOUT: i64 = 10_000;
pub const MAX_DESYNC: u64 = 1000;
pub const SLAVE_RECONF_TIMEOUT: i64 = 10_000;
pub const TILT_TRIGGER: i64 = 2000;
pub const TILT_PERIOD: i64 = 30_000;
pub const HELLO_CHANNEL: &str = "__sentinel__:hello";

// Instance flags (sentinel.c's SRI_*).
pub const F_MASTER: u32 = 1 << 0;
pub const F_SLAVE: u32 = 1 << 1;
pub const F_SENTINEL: u32 = 1 << 2;
pub const F_S_DOWN: u32 = 1 << 3;
pub const F_O_DOWN: u32 = 1 << 4;
pub const F_MASTER_DOWN: u32 = 1 << 5;
pub const F_FAILOVER_IN_PROGRESS: u32 = 1 << 6;
pub const F_PROMOTED: u32 = 1 << 7;
pub const F_RECONF_SENT: u32 = 1 << 8;
pub const F_RECONF_INPROG: u32 = 1 << 9;
pub const F_RECONF_DONE: u32 = 1 << 10;
pub const F_FORCE_FAILOVER: u32 = 1 << 11;

pub type LinkId = u64;
pub type ClientId = u64;

/// What happened, as seen by the shell.
#[derive(Debug, Clone)]
pub enum Input {
    /// Periodic timer: the shell sends it every `Sentinel::tick_period_ms()`
    /// (50..100 ms: Redis runs the sentinel timer at a random 10..19 Hz).
    Tick,
    /// The TCP connection of a link is established; `local_ip` is the
    /// socket's own address (announced in hello messages).
    LinkUp {
        link: LinkId,
        local_ip: String,
    },
    /// Connection failed or closed (the link id is dead afterwards).
    LinkDown {
        link: LinkId,
    },
    /// One complete reply read from a link.
    LinkReply {
        link: LinkId,
        reply: RVal,
    },
    /// A client connected to the Sentinel port.
    ClientOpen {
        client: ClientId,
        addr: String,
    },
    /// A parsed command from a client.
    ClientCommand {
        client: ClientId,
        args: Vec<Vec<u8>>,
    },
    ClientClosed {
        client: ClientId,
    },
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection for `link` (queue `Send`s until it is up).
    Connect {
        link: LinkId,
        host: String,
        port: u16,
    },
    Send {
        link: LinkId,
        bytes: Vec<u8>,
    },
    /// Close the link; no `LinkDown` is expected for it.
    Close {
        link: LinkId,
    },
    ToClient {
        client: ClientId,
        bytes: Vec<u8>,
    },
    /// Close the client connection after writing what was queued.
    CloseClient {
        client: ClientId,
    },
    /// Write this as the new config file (temp file + rename).
    SaveConfig {
        text: String,
    },
    Log {
        level: LogLevel,
        msg: String,
    },
    /// SHUTDOWN: save the config (already queued) and exit.
    Shutdown,
}

/// Process facts shown by INFO.
#[derive(Clone, Debug, Default)]
pub struct SentinelEnv {
    pub pid: u32,
    pub version: String,
    pub executable: String,
    pub config_file: String,
    pub os: String,
    pub start_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailoverState {
    None,
    WaitStart,
    SelectSlave,
    SendSlaveofNoone,
    WaitPromotion,
    ReconfSlaves,
    UpdateConfig,
}

impl FailoverState {
    pub fn name(self) -> &'static str {
        match self {
            FailoverState::None => "none",
            FailoverState::WaitStart => "wait_start",
            FailoverState::SelectSlave => "select_slave",
            FailoverState::SendSlaveofNoone => "send_slaveof_noone",
            FailoverState::WaitPromotion => "wait_promotion",
            FailoverState::ReconfSlaves => "reconf_slaves",
            FailoverState::UpdateConfig => "update_config",
        }
    }
}

/// What a command link expects as its next reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Ping,
    Info,
    Publish,
    IsMasterDown,
    Discard,
}

/// The connections to one instance (sentinel.c's `instanceLink`).
#[derive(Clone, Debug, Default)]
pub struct Link {
    pub cc: Option<LinkId>,
    pub pc: Option<LinkId>,
    pub cc_conn_time: i64,
    pub pc_conn_time: i64,
    pub pc_last_activity: i64,
    pub last_avail_time: i64,
    pub act_ping_time: i64,
    pub last_ping_time: i64,
    pub last_pong_time: i64,
    pub last_reconn_time: i64,
    pub pending_commands: i64,
    pub expect: VecDeque<Expect>,
    pub local_ip: Option<String>,
}

/// A monitored master, replica or other Sentinel.
#[derive(Clone, Debug)]
pub struct Inst {
    pub flags: u32,
    /// Master name, "ip:port" for replicas, run id for Sentinels.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub runid: Option<String>,
    pub link: Link,
    pub s_down_since_time: i64,
    pub o_down_since_time: i64,
    pub down_after_period: i64,
    pub info_refresh: i64,
    pub info: String,
    pub role_reported: u32,
    pub role_reported_time: i64,
    pub slave_conf_change_time: i64,
    pub last_pub_time: i64,
    pub last_hello_time: i64,
    pub last_master_down_reply_time: i64,
    // Replicas.
    pub master_link_down_time: i64,
    pub slave_priority: i64,
    pub slave_master_host: Option<String>,
    pub slave_master_port: u16,
    pub slave_master_link_up: bool,
    pub slave_repl_offset: u64,
    pub replica_announced: bool,
    pub slave_reconf_sent_time: i64,
    // Sentinels: their vote.
    pub leader: Option<String>,
    pub leader_epoch: u64,
}

impl Inst {
    fn new(kind: u32, name: String, host: &str, port: u16, down_after: i64, now: i64) -> Inst {
        Inst {
            flags: kind,
            name,
            host: host.to_string(),
            port,
            runid: None,
            link: Link {
                act_ping_time: now,
                last_avail_time: now,
                last_pong_time: now,
                ..Default::default()
            },
            s_down_since_time: 0,
            o_down_since_time: 0,
            down_after_period: down_after,
            info_refresh: 0,
            info: String::new(),
            role_reported: kind & (F_MASTER | F_SLAVE),
            role_reported_time: now,
            slave_conf_change_time: now,
            last_pub_time: 0,
            last_hello_time: now,
            last_master_down_reply_time: now,
            master_link_down_time: 0,
            slave_priority: 100,
            slave_master_host: None,
            slave_master_port: 0,
            slave_master_link_up: false,
            slave_repl_offset: 0,
            replica_announced: true,
            slave_reconf_sent_time: 0,
            leader: None,
            leader_epoch: 0,
        }
    }

    /// No command link, or (not a Sentinel) no pub/sub link.
    pub fn disconnected(&self) -> bool {
        self.link.cc.is_none() || (self.flags & F_SENTINEL == 0 && self.link.pc.is_none())
    }

    fn addr_eq(&self, host: &str, port: u16) -> bool {
        self.port == port && self.host.eq_ignore_ascii_case(host)
    }
}

/// A monitored master with its replicas and the other Sentinels watching it.
#[derive(Clone, Debug)]
pub struct Master {
    pub inst: Inst,
    pub quorum: u32,
    pub parallel_syncs: i64,
    pub failover_timeout: i64,
    pub auth_pass: Option<String>,
    pub auth_user: Option<String>,
    pub config_epoch: u64,
    pub leader: Option<String>,
    pub leader_epoch: u64,
    pub failover_epoch: u64,
    pub failover_state: FailoverState,
    pub failover_state_change_time: i64,
    pub failover_start_time: i64,
    pub failover_delay_logged: i64,
    /// Key (in `slaves`) of the replica being promoted.
    pub promoted: Option<String>,
    pub slaves: BTreeMap<String, Inst>,
    pub sentinels: BTreeMap<String, Inst>,
}

/// Which instance of a master a link belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    Master,
    Slave(String),
    Sentinel(String),
}

#[derive(Clone, Debug)]
struct Route {
    master: String,
    who: Who,
    pubsub: bool,
}

/// A client of the Sentinel port.
#[derive(Clone, Debug, Default)]
pub struct Client {
    pub addr: String,
    pub name: String,
    pub resp3: bool,
    pub authed: bool,
    pub channels: BTreeSet<Vec<u8>>,
    pub patterns: BTreeSet<Vec<u8>>,
    pub created_ms: i64,
    pub last_cmd: String,
}

impl Client {
    fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// Global state shared by all masters (sentinel.c's `sentinel` struct plus
/// what the server around it owns).
pub struct Global {
    pub now: i64,
    pub myid: String,
    pub run_id: String,
    pub current_epoch: u64,
    pub rng: Rng,
    pub env: SentinelEnv,
    pub conf: SentinelConf,
    pub original_text: String,
    pub tilt: bool,
    pub tilt_start_time: i64,
    pub previous_time: i64,
    pub clients: BTreeMap<ClientId, Client>,
    pub total_connections: u64,
    pub total_commands: u64,
    /// Timer frequency for the next period: Redis's sentinelTimer picks
    /// 10..19 Hz at random after each run, so sentinels desynchronise.
    pub hz: u64,
    out: Vec<Action>,
    links: BTreeMap<LinkId, Route>,
    next_link: LinkId,
    dirty: bool,
}

impl Global {
    fn log(&mut self, level: LogLevel, msg: String) {
        self.out.push(Action::Log { level, msg });
    }

    /// sentinelEvent: log it, and publish it on the channel named `ty`.
    fn event(&mut self, level: LogLevel, ty: &str, msg: String) {
        self.log(level, format!("{ty} {msg}"));
        if level != LogLevel::Debug {
            self.publish(ty.as_bytes(), msg.as_bytes());
        }
    }

    /// Deliver a message to the subscribers of the Sentinel port.
    pub fn publish(&mut self, channel: &[u8], msg: &[u8]) -> usize {
        let mut n = 0;
        let mut sends = Vec::new();
        for (&id, c) in &self.clients {
            if c.channels.contains(channel) {
                let mut r = crate::resp::Reply::new();
                r.resp3 = c.resp3;
                r.push(3);
                r.bulk(b"message");
                r.bulk(channel);
                r.bulk(msg);
                sends.push((id, r.buf));
                n += 1;
            }
        }
        for (&id, c) in &self.clients {
            for p in &c.patterns {
                if crate::util::glob_match(p, channel, false) {
                    let mut r = crate::resp::Reply::new();
                    r.resp3 = c.resp3;
                    r.push(4);
                    r.bulk(b"pmessage");
                    r.bulk(p);
                    r.bulk(channel);
                    r.bulk(msg);
                    sends.push((id, r.buf));
                    n += 1;
                }
            }
        }
        for (client, bytes) in sends {
            self.out.push(Action::ToClient { client, bytes });
        }
        n
    }

    fn new_link(&mut self, master: &str, who: Who, pubsub: bool) -> LinkId {
        self.next_link += 1;
        let id = self.next_link;
        self.links.insert(
            id,
            Route {
                master: master.to_string(),
                who,
                pubsub,
            },
        );
        id
    }

    fn send(&mut self, link: LinkId, args: &[&[u8]]) {
        self.out.push(Action::Send {
            link,
            bytes: encode(args),
        });
    }

    fn close_link(&mut self, link: LinkId) {
        if self.links.remove(&link).is_some() {
            self.out.push(Action::Close { link });
        }
    }

    fn close_inst_links(&mut self, inst: &mut Inst) {
        if let Some(l) = inst.link.cc.take() {
            self.close_link(l);
        }
        if let Some(l) = inst.link.pc.take() {
            self.close_link(l);
        }
        inst.link.pending_commands = 0;
        inst.link.expect.clear();
        inst.link.local_ip = None;
    }
}

/// The master's name and address, for the "%@" part of events.
#[derive(Clone, Debug)]
struct MRef {
    name: String,
    host: String,
    port: u16,
}

fn mref(m: &Master) -> MRef {
    MRef {
        name: m.inst.name.clone(),
        host: m.inst.host.clone(),
        port: m.inst.port,
    }
}

/// sentinelEvent's "%@": `<type> <name> <ip> <port>[ @ <master> <ip> <port>]`.
fn at(i: &Inst, m: &MRef) -> String {
    let ty = if i.flags & F_MASTER != 0 {
        "master"
    } else if i.flags & F_SLAVE != 0 {
        "slave"
    } else {
        "sentinel"
    };
    if i.flags & F_MASTER != 0 {
        format!("{ty} {} {} {}", i.name, i.host, i.port)
    } else {
        format!(
            "{ty} {} {} {} @ {} {} {}",
            i.name, i.host, i.port, m.name, m.host, m.port
        )
    }
}

fn inst_mut<'a>(m: &'a mut Master, who: &Who) -> Option<&'a mut Inst> {
    match who {
        Who::Master => Some(&mut m.inst),
        Who::Slave(k) => m.slaves.get_mut(k),
        Who::Sentinel(k) => m.sentinels.get_mut(k),
    }
}

pub fn slave_key(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The Sentinel.
pub struct Sentinel {
    pub masters: BTreeMap<String, Master>,
    pub g: Global,
}

impl Sentinel {
    /// Build from a parsed config. `original_text` is the file as read (kept
    /// for rewrites). Returns the start-up actions (+monitor events, the
    /// first config save when a myid had to be generated).
    pub fn new(
        conf: SentinelConf,
        original_text: &str,
        env: SentinelEnv,
        seed: u64,
        now: i64,
    ) -> (Sentinel, Vec<Action>) {
        let mut rng = Rng::new(seed);
        let run_id = rng.hex40();
        let g = Global {
            now,
            myid: String::new(),
            run_id,
            current_epoch: conf.current_epoch,
            rng,
            env,
            conf: conf.clone(),
            original_text: original_text.to_string(),
            tilt: false,
            tilt_start_time: 0,
            previous_time: now,
            clients: BTreeMap::new(),
            total_connections: 0,
            total_commands: 0,
            hz: 10,
            out: Vec::new(),
            links: BTreeMap::new(),
            next_link: 0,
            dirty: false,
        };
        let mut masters = BTreeMap::new();
        for mc in &conf.masters {
            let m = new_master(mc, now);
            masters.insert(mc.name.clone(), m);
        }
        let mut s = Sentinel { masters, g };
        // Known replicas and sentinels from the config.
        for mc in &conf.masters {
            if let Some(m) = s.masters.get_mut(&mc.name) {
                for (h, p) in &mc.known_replicas {
                    let k = slave_key(h, *p);
                    if !m.inst.addr_eq(h, *p) {
                        m.slaves
                            .insert(k.clone(), Inst::new(F_SLAVE, k, h, *p, mc.down_after, now));
                    }
                }
                for (h, p, id) in &mc.known_sentinels {
                    if id.is_empty() {
                        continue;
                    }
                    let mut si = Inst::new(F_SENTINEL, id.clone(), h, *p, mc.down_after, now);
                    si.runid = Some(id.clone());
                    m.sentinels.insert(id.clone(), si);
                }
            }
        }
        match conf.myid.clone() {
            Some(id) => s.g.myid = id,
            None => {
                s.g.myid = s.g.rng.hex40();
                s.g.dirty = true;
            }
        }
        // sentinelIsRunning: save the config first (it must be writable),
        // then log the id and a +monitor per master.
        s.flush_if_dirty();
        s.g.log(LogLevel::Warning, format!("Sentinel ID is {}", s.g.myid));
        let names: Vec<String> = s.masters.keys().cloned().collect();
        for n in names {
            if let Some(m) = s.masters.get(&n) {
                let text = format!("{} quorum {}", at(&m.inst, &mref(m)), m.quorum);
                s.g.event(LogLevel::Warning, "+monitor", text);
            }
        }
        let out = std::mem::take(&mut s.g.out);
        (s, out)
    }

    /// Feed one input; returns the actions to perform, in order.
    pub fn handle(&mut self, now: i64, input: Input) -> Vec<Action> {
        self.g.now = now;
        match input {
            Input::Tick => self.timer(),
            Input::LinkUp { link, local_ip } => {
                if let Some(r) = self.g.links.get(&link).cloned() {
                    if let Some(i) = self
                        .masters
                        .get_mut(&r.master)
                        .and_then(|m| inst_mut(m, &r.who))
                    {
                        if !r.pubsub {
                            i.link.local_ip = Some(local_ip);
                        }
                    }
                }
            }
            Input::LinkDown { link } => self.link_down(link),
            Input::LinkReply { link, reply } => self.link_reply(link, reply),
            Input::ClientOpen { client, addr } => {
                self.g.total_connections += 1;
                let authed = self.g.conf.requirepass.is_none();
                self.g.clients.insert(
                    client,
                    Client {
                        addr,
                        authed,
                        created_ms: now,
                        ..Default::default()
                    },
                );
            }
            Input::ClientCommand { client, args } => commands::command(self, client, &args),
            Input::ClientClosed { client } => {
                self.g.clients.remove(&client);
            }
        }
        self.flush_if_dirty();
        std::mem::take(&mut self.g.out)
    }

    /// The rewritten config text for the current state.
    pub fn config_text(&self) -> String {
        self.current_conf().rewrite(&self.g.original_text)
    }

    pub fn current_conf(&self) -> SentinelConf {
        let mut c = self.g.conf.clone();
        c.myid = Some(self.g.myid.clone());
        c.current_epoch = self.g.current_epoch;
        c.masters = self
            .masters
            .values()
            .map(|m| {
                // The address is the promoted replica's once promotion is seen.
                let (host, port) = current_master_addr(m);
                MasterConf {
                    name: m.inst.name.clone(),
                    host: host.clone(),
                    port,
                    quorum: m.quorum,
                    down_after: m.inst.down_after_period,
                    failover_timeout: m.failover_timeout,
                    parallel_syncs: m.parallel_syncs,
                    auth_pass: m.auth_pass.clone(),
                    auth_user: m.auth_user.clone(),
                    config_epoch: m.config_epoch,
                    leader_epoch: m.leader_epoch,
                    // Mid-failover the promoted replica is the address
                    // above: list the old master in its place (as Redis).
                    known_replicas: m
                        .slaves
                        .values()
                        .map(|s| {
                            if s.addr_eq(&host, port) {
                                (m.inst.host.clone(), m.inst.port)
                            } else {
                                (s.host.clone(), s.port)
                            }
                        })
                        .collect(),
                    known_sentinels: m
                        .sentinels
                        .values()
                        .map(|s| (s.host.clone(), s.port, s.runid.clone().unwrap_or_default()))
                        .collect(),
                }
            })
            .collect();
        c
    }

    fn flush_if_dirty(&mut self) {
        if self.g.dirty {
            self.g.dirty = false;
            let text = self.config_text();
            self.g.out.push(Action::SaveConfig { text });
            self.g.log(
                LogLevel::Notice,
                "Sentinel new configuration saved on disk".into(),
            );
        }
    }

    fn link_down(&mut self, link: LinkId) {
        let Some(r) = self.g.links.remove(&link) else {
            return;
        };
        let Some(i) = self
            .masters
            .get_mut(&r.master)
            .and_then(|m| inst_mut(m, &r.who))
        else {
            return;
        };
        if i.link.cc == Some(link) {
            i.link.cc = None;
            i.link.pending_commands = 0;
            i.link.expect.clear();
            i.link.local_ip = None;
        }
        if i.link.pc == Some(link) {
            i.link.pc = None;
        }
    }

    fn link_reply(&mut self, link: LinkId, reply: RVal) {
        let Some(r) = self.g.links.get(&link).cloned() else {
            return;
        };
        let now = self.g.now;
        if r.pubsub {
            let Some(i) = self
                .masters
                .get_mut(&r.master)
                .and_then(|m| inst_mut(m, &r.who))
            else {
                return;
            };
            i.link.pc_last_activity = now;
            // ["message", "__sentinel__:hello", payload]
            if let RVal::Array(items) = &reply {
                if items.len() == 3
                    && items[0]
                        .text()
                        .is_some_and(|t| t.eq_ignore_ascii_case("message"))
                {
                    if let Some(payload) = items[2].text() {
                        if !payload.contains(&self.g.myid) {
                            self.process_hello(&payload);
                        }
                    }
                }
            }
            return;
        }
        let Some(m) = self.masters.get_mut(&r.master) else {
            return;
        };
        let Some(i) = inst_mut(m, &r.who) else {
            return;
        };
        let exp = i.link.expect.pop_front().unwrap_or(Expect::Discard);
        i.link.pending_commands = (i.link.pending_commands - 1).max(0);
        match exp {
            Expect::Ping => {
                if let RVal::Status(t) | RVal::Error(t) = &reply {
                    if t.starts_with("PONG")
                        || t.starts_with("LOADING")
                        || t.starts_with("MASTERDOWN")
                    {
                        i.link.last_avail_time = now;
                        i.link.act_ping_time = 0;
                    }
                }
                i.link.last_pong_time = now;
            }
            Expect::Info => {
                if let RVal::Bulk(b) = &reply {
                    let text = String::from_utf8_lossy(b).into_owned();
                    refresh_info(&mut self.g, m, &r.who, &text);
                }
            }
            Expect::Publish => {
                if !matches!(reply, RVal::Error(_)) {
                    i.last_pub_time = now;
                }
            }
            Expect::IsMasterDown => {
                if let RVal::Array(e) = &reply {
                    if let (Some(RVal::Int(down)), Some(leader), Some(RVal::Int(ep))) =
                        (e.first(), e.get(1).and_then(|v| v.text()), e.get(2))
                    {
                        if e.len() == 3 {
                            i.last_master_down_reply_time = now;
                            if *down == 1 {
                                i.flags |= F_MASTER_DOWN;
                            } else {
                                i.flags &= !F_MASTER_DOWN;
                            }
                            if leader != "*" {
                                let ep = (*ep).max(0) as u64;
                                if i.leader_epoch != ep {
                                    let msg = format!("{} voted for {} {}", i.name, leader, ep);
                                    self.g.log(LogLevel::Warning, msg);
                                }
                                i.leader = Some(leader);
                                i.leader_epoch = ep;
                            }
                        }
                    }
                }
            }
            Expect::Discard => {}
        }
    }

    /// sentinelProcessHelloMessage.
    pub fn process_hello(&mut self, hello: &str) {
        let t: Vec<&str> = hello.split(',').collect();
        if t.len() != 8 {
            return;
        }
        let now = self.g.now;
        let Some(m) = self.masters.get_mut(t[4]) else {
            return;
        };
        let (Ok(port), Ok(master_port)) = (t[1].parse::<u16>(), t[6].parse::<u16>()) else {
            return;
        };
        let current_epoch = t[3].parse::<u64>().unwrap_or(0);
        let master_config_epoch = t[7].parse::<u64>().unwrap_or(0);
        let (ip, runid) = (t[0], t[2]);
        if runid.is_empty() {
            return;
        }
        let mr = mref(m);
        let exists = m
            .sentinels
            .values()
            .any(|s| s.addr_eq(ip, port) && s.runid.as_deref() == Some(runid));
        if !exists {
            // Same run id at another address: an address switch.
            let removed: Vec<String> = m
                .sentinels
                .iter()
                .filter(|(_, s)| s.runid.as_deref() == Some(runid))
                .map(|(k, _)| k.clone())
                .collect();
            for k in &removed {
                if let Some(mut s) = m.sentinels.remove(k) {
                    self.g.close_inst_links(&mut s);
                }
            }
            if !removed.is_empty() {
                let text = format!("{} ip {} port {} for {}", at(&m.inst, &mr), ip, port, runid);
                self.g
                    .event(LogLevel::Notice, "+sentinel-address-switch", text);
            } else {
                // Another Sentinel claimed this address before: invalidate it.
                let others: Vec<String> = m
                    .sentinels
                    .iter()
                    .filter(|(_, s)| s.addr_eq(ip, port))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in others {
                    if let Some(s) = m.sentinels.get_mut(&k) {
                        let text = at(s, &mr);
                        self.g
                            .event(LogLevel::Notice, "+sentinel-invalid-addr", text);
                        s.port = 0;
                        self.g.close_inst_links(s);
                    }
                }
            }
            let mut si = Inst::new(
                F_SENTINEL,
                runid.to_string(),
                ip,
                port,
                m.inst.down_after_period,
                now,
            );
            si.runid = Some(runid.to_string());
            if removed.is_empty() {
                let text = at(&si, &mr);
                self.g.event(LogLevel::Notice, "+sentinel", text);
            }
            m.sentinels.insert(runid.to_string(), si);
            self.g.dirty = true;
        }
        if current_epoch > self.g.current_epoch {
            self.g.current_epoch = current_epoch;
            self.g.dirty = true;
            let e = self.g.current_epoch.to_string();
            self.g.event(LogLevel::Warning, "+new-epoch", e);
        }
        if m.config_epoch < master_config_epoch {
            m.config_epoch = master_config_epoch;
            let moved = master_port != m.inst.port || !m.inst.host.eq_ignore_ascii_case(t[5]);
            if !moved && m.inst.flags & F_FAILOVER_IN_PROGRESS != 0 {
                // Deliberate difference from Redis: a newer configuration
                // naming the very address we are failing over from (another
                // Sentinel failed the new master back to it) ends our
                // failover. Redis lets it run on and, at its end, switches
                // to its own promoted replica under the newer epoch: the
                // Sentinels then disagree at one epoch, and no hello can
                // reconcile them until another failover (found by the
                // simulator's sentinel scenario). A different address
                // already resets the failover, in Redis as here.
                let text = at(&m.inst, &mr);
                self.g
                    .event(LogLevel::Warning, "-failover-abort-newer-config", text);
                abort_failover(&mut self.g, m);
            }
            if moved {
                if let Some(si) = m.sentinels.get(runid) {
                    let text = at(si, &mr);
                    self.g.event(LogLevel::Warning, "+config-update-from", text);
                }
                let text = format!(
                    "{} {} {} {} {}",
                    mr.name, mr.host, mr.port, t[5], master_port
                );
                self.g.event(LogLevel::Warning, "+switch-master", text);
                reset_master_and_change_address(&mut self.g, m, t[5], master_port);
            }
        }
        if let Some(si) = m.sentinels.get_mut(runid) {
            si.last_hello_time = now;
        }
    }

    /// sentinelTimer: everything periodic.
    fn timer(&mut self) {
        // sentinelCheckTiltCondition
        let now = self.g.now;
        let delta = now - self.g.previous_time;
        if !(0..=TILT_TRIGGER).contains(&delta) {
            self.g.tilt = true;
            self.g.tilt_start_time = now;
            self.g
                .event(LogLevel::Warning, "+tilt", "#tilt mode entered".into());
        }
        self.g.previous_time = now;
        let names: Vec<String> = self.masters.keys().cloned().collect();
        for n in names {
            let Some(m) = self.masters.get_mut(&n) else {
                continue;
            };
            handle_instance(&mut self.g, m, &Who::Master);
            let slaves: Vec<String> = m.slaves.keys().cloned().collect();
            for k in slaves {
                handle_instance(&mut self.g, m, &Who::Slave(k));
            }
            let sentinels: Vec<String> = m.sentinels.keys().cloned().collect();
            for k in sentinels {
                handle_instance(&mut self.g, m, &Who::Sentinel(k));
            }
            if m.failover_state == FailoverState::UpdateConfig {
                switch_to_promoted(&mut self.g, m);
            }
        }
        self.g.hz = 10 + self.g.rng.below(10);
    }

    /// Milliseconds until the shell should send the next `Input::Tick`.
    pub fn tick_period_ms(&self) -> u64 {
        1000 / self.g.hz.max(1)
    }

    /// The address clients should use for `name` (GET-MASTER-ADDR-BY-NAME).
    pub fn master_addr(&self, name: &str) -> Option<(String, u16)> {
        self.masters.get(name).map(current_master_addr)
    }
}

fn new_master(mc: &MasterConf, now: i64) -> Master {
    let mut inst = Inst::new(
        F_MASTER,
        mc.name.clone(),
        &mc.host,
        mc.port,
        mc.down_after,
        now,
    );
    inst.role_reported = F_MASTER;
    Master {
        inst,
        quorum: mc.quorum,
        parallel_syncs: mc.parallel_syncs,
        failover_timeout: mc.failover_timeout,
        auth_pass: mc.auth_pass.clone(),
        auth_user: mc.auth_user.clone(),
        config_epoch: mc.config_epoch,
        leader: None,
        leader_epoch: mc.leader_epoch,
        failover_epoch: 0,
        failover_state: FailoverState::None,
        failover_state_change_time: 0,
        failover_start_time: 0,
        failover_delay_logged: 0,
        promoted: None,
        slaves: BTreeMap::new(),
        sentinels: BTreeMap::new(),
    }
}

/// sentinelGetCurrentMasterAddress: the promoted replica once it is master.
pub fn current_master_addr(m: &Master) -> (String, u16) {
    if m.inst.flags & F_FAILOVER_IN_PROGRESS != 0 && m.failover_state >= FailoverState::ReconfSlaves
    {
        if let Some(p) = m.promoted.as_ref().and_then(|k| m.slaves.get(k)) {
            return (p.host.clone(), p.port);
        }
    }
    (m.inst.host.clone(), m.inst.port)
}

fn handle_instance(g: &mut Global, m: &mut Master, who: &Who) {
    reconnect(g, m, who);
    send_periodic(g, m, who);
    if g.tilt {
        if g.now - g.tilt_start_time < TILT_PERIOD {
            return;
        }
        g.tilt = false;
        g.event(LogLevel::Warning, "-tilt", "#tilt mode exited".into());
    }
    check_sdown(g, m, who);
    if *who == Who::Master {
        check_odown(g, m);
        if start_failover_if_needed(g, m) {
            ask_master_state(g, m, true);
        }
        failover_state_machine(g, m);
        ask_master_state(g, m, false);
    }
}

fn send_auth_and_name(
    g: &mut Global,
    link: LinkId,
    auth: Option<(Option<String>, String)>,
    ty: &str,
) {
    if let Some((user, pass)) = auth {
        match user {
            Some(u) => g.send(link, &[b"AUTH", u.as_bytes(), pass.as_bytes()]),
            None => g.send(link, &[b"AUTH", pass.as_bytes()]),
        }
    }
    let name = format!("sentinel-{}-{}", &g.myid[..8.min(g.myid.len())], ty);
    g.send(link, &[b"CLIENT", b"SETNAME", name.as_bytes()]);
}

/// sentinelReconnectInstance.
fn reconnect(g: &mut Global, m: &mut Master, who: &Who) {
    let mname = m.inst.name.clone();
    let auth = match who {
        Who::Sentinel(_) => g.conf.requirepass.clone().map(|p| (None, p)),
        _ => m.auth_pass.clone().map(|p| (m.auth_user.clone(), p)),
    };
    let Some(i) = inst_mut(m, who) else {
        return;
    };
    if !i.disconnected() || i.port == 0 {
        return;
    }
    let now = g.now;
    if now - i.link.last_reconn_time < PING_PERIOD {
        return;
    }
    i.link.last_reconn_time = now;
    if i.link.cc.is_none() {
        let id = g.new_link(&mname, who.clone(), false);
        g.out.push(Action::Connect {
            link: id,
            host: i.host.clone(),
            port: i.port,
        });
        i.link.cc = Some(id);
        i.link.cc_conn_time = now;
        i.link.pending_commands = 0;
        i.link.expect.clear();
        let n = usize::from(auth.is_some()) + 1;
        send_auth_and_name(g, id, auth.clone(), "cmd");
        for _ in 0..n {
            i.link.expect.push_back(Expect::Discard);
        }
        i.link.pending_commands += n as i64;
        send_ping(g, i);
    }
    if i.flags & F_SENTINEL == 0 && i.link.pc.is_none() {
        let id = g.new_link(&mname, who.clone(), true);
        g.out.push(Action::Connect {
            link: id,
            host: i.host.clone(),
            port: i.port,
        });
        i.link.pc = Some(id);
        i.link.pc_conn_time = now;
        i.link.pc_last_activity = now;
        send_auth_and_name(g, id, auth, "pubsub");
        g.send(id, &[b"SUBSCRIBE", HELLO_CHANNEL.as_bytes()]);
    }
}

fn send_ping(g: &mut Global, i: &mut Inst) -> bool {
    let Some(cc) = i.link.cc else {
        return false;
    };
    g.send(cc, &[b"PING"]);
    i.link.expect.push_back(Expect::Ping);
    i.link.pending_commands += 1;
    i.link.last_ping_time = g.now;
    if i.link.act_ping_time == 0 {
        i.link.act_ping_time = g.now;
    }
    true
}

/// sentinelSendPeriodicCommands.
fn send_periodic(g: &mut Global, m: &mut Master, who: &Who) {
    let master_busy = m.inst.flags & (F_O_DOWN | F_FAILOVER_IN_PROGRESS) != 0;
    let hello = hello_payload(g, m);
    let Some(i) = inst_mut(m, who) else {
        return;
    };
    if i.disconnected() {
        return;
    }
    let Some(cc) = i.link.cc else {
        return;
    };
    if i.link.pending_commands >= MAX_PENDING_COMMANDS {
        return;
    }
    let now = g.now;
    let info_period = if i.flags & F_SLAVE != 0 && (master_busy || i.master_link_down_time != 0) {
        1000
    } else {
        INFO_PERIOD
    };
    let ping_period = i.down_after_period.min(PING_PERIOD);
    if i.flags & F_SENTINEL == 0 && (i.info_refresh == 0 || now - i.info_refresh > info_period) {
        g.send(cc, &[b"INFO"]);
        i.link.expect.push_back(Expect::Info);
        i.link.pending_commands += 1;
    }
    if now - i.link.last_pong_time > ping_period && now - i.link.last_ping_time > ping_period / 2 {
        send_ping(g, i);
    }
    if now - i.last_pub_time > PUBLISH_PERIOD {
        // sentinelSendHello: our address as seen on this link's socket.
        let ip = g
            .conf
            .announce_ip
            .clone()
            .or_else(|| i.link.local_ip.clone());
        if let Some(ip) = ip {
            let port = g.conf.announce_port.unwrap_or(g.conf.port);
            let payload = format!("{ip},{port},{hello}");
            g.send(
                cc,
                &[b"PUBLISH", HELLO_CHANNEL.as_bytes(), payload.as_bytes()],
            );
            i.link.expect.push_back(Expect::Publish);
            i.link.pending_commands += 1;
        }
    }
}

/// The hello fields after our ip,port: runid,epoch,name,ip,port,config_epoch.
fn hello_payload(g: &Global, m: &Master) -> String {
    let (h, p) = current_master_addr(m);
    format!(
        "{},{},{},{},{},{}",
        g.myid, g.current_epoch, m.inst.name, h, p, m.config_epoch
    )
}

/// sentinelCheckSubjectivelyDown.
fn check_sdown(g: &mut Global, m: &mut Master, who: &Who) {
    let mr = mref(m);
    let now = g.now;
    let Some(i) = inst_mut(m, who) else {
        return;
    };
    let mut elapsed = 0;
    if i.link.act_ping_time != 0 {
        elapsed = now - i.link.act_ping_time;
    } else if i.disconnected() {
        elapsed = now - i.link.last_avail_time;
    }
    // A link that looks stuck is closed; the reconnect starts afresh.
    if let Some(cc) = i.link.cc {
        if now - i.link.cc_conn_time > MIN_LINK_RECONNECT_PERIOD
            && i.link.act_ping_time != 0
            && now - i.link.act_ping_time > i.down_after_period / 2
            && now - i.link.last_pong_time > i.down_after_period / 2
        {
            g.close_link(cc);
            i.link.cc = None;
            i.link.pending_commands = 0;
            i.link.expect.clear();
            i.link.local_ip = None;
        }
    }
    if let Some(pc) = i.link.pc {
        if now - i.link.pc_conn_time > MIN_LINK_RECONNECT_PERIOD
            && now - i.link.pc_last_activity > PUBLISH_PERIOD * 3
        {
            g.close_link(pc);
            i.link.pc = None;
        }
    }
    let master_says_slave = i.flags & F_MASTER != 0
        && i.role_reported == F_SLAVE
        && now - i.role_reported_time > i.down_after_period + INFO_PERIOD * 2;
    if elapsed > i.down_after_period || master_says_slave {
        if i.flags & F_S_DOWN == 0 {
            let text = at(i, &mr);
            g.event(LogLevel::Warning, "+sdown", text);
            i.s_down_since_time = now;
            i.flags |= F_S_DOWN;
        }
    } else if i.flags & F_S_DOWN != 0 {
        let text = at(i, &mr);
        g.event(LogLevel::Warning, "-sdown", text);
        i.flags &= !F_S_DOWN;
    }
}

/// sentinelCheckObjectivelyDown.
fn check_odown(g: &mut Global, m: &mut Master) {
    let mut odown = false;
    let mut quorum = 0;
    if m.inst.flags & F_S_DOWN != 0 {
        quorum = 1 + m
            .sentinels
            .values()
            .filter(|s| s.flags & F_MASTER_DOWN != 0)
            .count() as u32;
        odown = quorum >= m.quorum;
    }
    let mr = mref(m);
    if odown {
        if m.inst.flags & F_O_DOWN == 0 {
            let text = format!("{} #quorum {}/{}", at(&m.inst, &mr), quorum, m.quorum);
            g.event(LogLevel::Warning, "+odown", text);
            m.inst.flags |= F_O_DOWN;
            m.inst.o_down_since_time = g.now;
        }
    } else if m.inst.flags & F_O_DOWN != 0 {
        let text = at(&m.inst, &mr);
        g.event(LogLevel::Warning, "-odown", text);
        m.inst.flags &= !F_O_DOWN;
    }
}

/// sentinelAskMasterStateToOtherSentinels.
fn ask_master_state(g: &mut Global, m: &mut Master, forced: bool) {
    let now = g.now;
    let sdown = m.inst.flags & F_S_DOWN != 0;
    let host = m.inst.host.clone();
    let port = m.inst.port.to_string();
    let runid = if m.failover_state > FailoverState::None {
        g.myid.clone()
    } else {
        "*".to_string()
    };
    let epoch = g.current_epoch.to_string();
    for s in m.sentinels.values_mut() {
        let elapsed = now - s.last_master_down_reply_time;
        if elapsed > ASK_PERIOD * 5 {
            s.flags &= !F_MASTER_DOWN;
            s.leader = None;
        }
        if !sdown || s.disconnected() {
            continue;
        }
        if !forced && elapsed < ASK_PERIOD {
            continue;
        }
        let Some(cc) = s.link.cc else {
            continue;
        };
        g.send(
            cc,
            &[
                b"SENTINEL",
                b"is-master-down-by-addr",
                host.as_bytes(),
                port.as_bytes(),
                epoch.as_bytes(),
                runid.as_bytes(),
            ],
        );
        s.link.expect.push_back(Expect::IsMasterDown);
        s.link.pending_commands += 1;
    }
}

/// sentinelVoteLeader: vote for `req_runid` in `req_epoch` unless we
/// already voted in that epoch (or a later one). Returns our vote and its epoch.
pub fn vote_leader(
    g: &mut Global,
    m: &mut Master,
    req_epoch: u64,
    req_runid: &str,
) -> (Option<String>, u64) {
    if req_epoch > g.current_epoch {
        g.current_epoch = req_epoch;
        g.dirty = true;
        let e = g.current_epoch.to_string();
        g.event(LogLevel::Warning, "+new-epoch", e);
    }
    if m.leader_epoch < req_epoch && g.current_epoch <= req_epoch {
        m.leader = Some(req_runid.to_string());
        m.leader_epoch = g.current_epoch;
        g.dirty = true;
        let text = format!("{} {}", req_runid, m.leader_epoch);
        g.event(LogLevel::Warning, "+vote-for-leader", text);
        // Voting for someone else delays our own failover attempt.
        if !req_runid.eq_ignore_ascii_case(&g.myid) {
            m.failover_start_time = g.now + g.rng.below(MAX_DESYNC) as i64;
        }
    }
    (m.leader.clone(), m.leader_epoch)
}

/// sentinelGetLeader: the winner of `epoch` if it has a majority of all
/// known Sentinels (and at least `quorum` votes), voting ourselves too.
pub fn get_leader(g: &mut Global, m: &mut Master, epoch: u64) -> Option<String> {
    let voters = m.sentinels.len() as u64 + 1;
    let mut counters: BTreeMap<String, u64> = BTreeMap::new();
    for s in m.sentinels.values() {
        if let Some(l) = &s.leader {
            if s.leader_epoch == g.current_epoch {
                *counters.entry(l.clone()).or_insert(0) += 1;
            }
        }
    }
    let mut winner: Option<String> = None;
    let mut max_votes = 0;
    for (k, &v) in &counters {
        if v > max_votes {
            max_votes = v;
            winner = Some(k.clone());
        }
    }
    let candidate = winner.clone().unwrap_or_else(|| g.myid.clone());
    let (myvote, leader_epoch) = vote_leader(g, m, epoch, &candidate);
    if let Some(v) = myvote {
        if leader_epoch == epoch {
            let votes = counters.entry(v.clone()).or_insert(0);
            *votes += 1;
            if *votes > max_votes {
                max_votes = *votes;
                winner = Some(v);
            }
        }
    }
    let voters_quorum = voters / 2 + 1;
    if winner.is_some() && (max_votes < voters_quorum || max_votes < u64::from(m.quorum)) {
        winner = None;
    }
    winner
}

/// sentinelStartFailover.
pub fn start_failover(g: &mut Global, m: &mut Master) {
    m.failover_state = FailoverState::WaitStart;
    m.inst.flags |= F_FAILOVER_IN_PROGRESS;
    g.current_epoch += 1;
    m.failover_epoch = g.current_epoch;
    g.dirty = true;
    let e = g.current_epoch.to_string();
    g.event(LogLevel::Warning, "+new-epoch", e);
    let text = at(&m.inst, &mref(m));
    g.event(LogLevel::Warning, "+try-failover", text);
    m.failover_start_time = g.now + g.rng.below(MAX_DESYNC) as i64;
    m.failover_state_change_time = g.now;
}

fn start_failover_if_needed(g: &mut Global, m: &mut Master) -> bool {
    if m.inst.flags & F_O_DOWN == 0 || m.inst.flags & F_FAILOVER_IN_PROGRESS != 0 {
        return false;
    }
    if g.now - m.failover_start_time < m.failover_timeout * 2 {
        if m.failover_delay_logged != m.failover_start_time {
            let at_ms = m.failover_start_time + m.failover_timeout * 2;
            g.log(
                LogLevel::Notice,
                format!(
                    "Next failover delay: I will not start a failover before {}",
                    ctime(at_ms)
                ),
            );
            m.failover_delay_logged = m.failover_start_time;
        }
        return false;
    }
    start_failover(g, m);
    true
}

fn abort_failover(g: &mut Global, m: &mut Master) {
    m.inst.flags &= !(F_FAILOVER_IN_PROGRESS | F_FORCE_FAILOVER);
    m.failover_state = FailoverState::None;
    m.failover_state_change_time = g.now;
    if let Some(k) = m.promoted.take() {
        if let Some(s) = m.slaves.get_mut(&k) {
            s.flags &= !F_PROMOTED;
        }
    }
}

fn failover_state_machine(g: &mut Global, m: &mut Master) {
    if m.inst.flags & F_FAILOVER_IN_PROGRESS == 0 {
        return;
    }
    match m.failover_state {
        FailoverState::WaitStart => failover_wait_start(g, m),
        FailoverState::SelectSlave => failover_select_slave(g, m),
        FailoverState::SendSlaveofNoone => failover_send_slaveof_noone(g, m),
        FailoverState::WaitPromotion => {
            if g.now - m.failover_state_change_time > m.failover_timeout {
                let text = at(&m.inst, &mref(m));
                g.event(LogLevel::Warning, "-failover-abort-slave-timeout", text);
                abort_failover(g, m);
            }
        }
        FailoverState::ReconfSlaves => reconf_next_slave(g, m),
        FailoverState::None | FailoverState::UpdateConfig => {}
    }
}

fn failover_wait_start(g: &mut Global, m: &mut Master) {
    let leader = get_leader(g, m, m.failover_epoch);
    let is_leader = leader
        .as_deref()
        .is_some_and(|l| l.eq_ignore_ascii_case(&g.myid));
    let mr = mref(m);
    if !is_leader && m.inst.flags & F_FORCE_FAILOVER == 0 {
        let election_timeout = ELECTION_TIMEOUT.min(m.failover_timeout);
        if g.now - m.failover_start_time > election_timeout {
            let text = at(&m.inst, &mr);
            g.event(LogLevel::Warning, "-failover-abort-not-elected", text);
            abort_failover(g, m);
        }
        return;
    }
    let text = at(&m.inst, &mr);
    g.event(LogLevel::Warning, "+elected-leader", text.clone());
    m.failover_state = FailoverState::SelectSlave;
    m.failover_state_change_time = g.now;
    g.event(LogLevel::Warning, "+failover-state-select-slave", text);
}

/// sentinelSelectSlave: the replica to promote, or None.
pub fn select_slave(now: i64, m: &Master) -> Option<String> {
    let mut max_master_down_time = 0;
    if m.inst.flags & F_S_DOWN != 0 {
        max_master_down_time += now - m.inst.s_down_since_time;
    }
    max_master_down_time += m.inst.down_after_period * 10;
    let info_validity_time = if m.inst.flags & F_S_DOWN != 0 {
        PING_PERIOD * 5
    } else {
        INFO_PERIOD * 3
    };
    let mut cands: Vec<(&String, &Inst)> = m
        .slaves
        .iter()
        .filter(|(_, s)| {
            s.flags & (F_S_DOWN | F_O_DOWN) == 0
                && !s.disconnected()
                && now - s.link.last_avail_time <= PING_PERIOD * 5
                && s.slave_priority != 0
                && now - s.info_refresh <= info_validity_time
                && s.master_link_down_time <= max_master_down_time
        })
        .collect();
    // Lower priority first, then larger offset, then smaller run id (a
    // replica without a run id sorts last).
    cands.sort_by(|(_, a), (_, b)| {
        a.slave_priority
            .cmp(&b.slave_priority)
            .then(b.slave_repl_offset.cmp(&a.slave_repl_offset))
            .then_with(|| match (&a.runid, &b.runid) {
                (Some(x), Some(y)) => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
    });
    cands.first().map(|(k, _)| (*k).clone())
}

fn failover_select_slave(g: &mut Global, m: &mut Master) {
    let mr = mref(m);
    match select_slave(g.now, m) {
        None => {
            let text = at(&m.inst, &mr);
            g.event(LogLevel::Warning, "-failover-abort-no-good-slave", text);
            abort_failover(g, m);
        }
        Some(k) => {
            if let Some(s) = m.slaves.get_mut(&k) {
                let text = at(s, &mr);
                g.event(LogLevel::Warning, "+selected-slave", text.clone());
                s.flags |= F_PROMOTED;
                m.promoted = Some(k);
                m.failover_state = FailoverState::SendSlaveofNoone;
                m.failover_state_change_time = g.now;
                g.event(LogLevel::Notice, "+failover-state-send-slaveof-noone", text);
            }
        }
    }
}

/// sentinelSendSlaveOf: MULTI, REPLICAOF, CONFIG REWRITE, CLIENT KILL
/// (normal and pubsub clients), EXEC. False when there is no command link.
fn send_slaveof(g: &mut Global, i: &mut Inst, addr: Option<(&str, u16)>) -> bool {
    let Some(cc) = i.link.cc else {
        return false;
    };
    let port;
    let (h, p): (&[u8], &[u8]) = match addr {
        Some((h, pt)) => {
            port = pt.to_string();
            (h.as_bytes(), port.as_bytes())
        }
        None => (b"NO", b"ONE"),
    };
    g.send(cc, &[b"MULTI"]);
    g.send(cc, &[b"REPLICAOF", h, p]);
    g.send(cc, &[b"CONFIG", b"REWRITE"]);
    g.send(cc, &[b"CLIENT", b"KILL", b"TYPE", b"normal"]);
    g.send(cc, &[b"CLIENT", b"KILL", b"TYPE", b"pubsub"]);
    g.send(cc, &[b"EXEC"]);
    for _ in 0..6 {
        i.link.expect.push_back(Expect::Discard);
    }
    i.link.pending_commands += 6;
    true
}

fn failover_send_slaveof_noone(g: &mut Global, m: &mut Master) {
    let mr = mref(m);
    let Some(k) = m.promoted.clone() else {
        return;
    };
    let timeout = g.now - m.failover_state_change_time > m.failover_timeout;
    let Some(s) = m.slaves.get_mut(&k) else {
        return;
    };
    if s.disconnected() {
        if timeout {
            let text = at(&m.inst, &mr);
            g.event(LogLevel::Warning, "-failover-abort-slave-timeout", text);
            abort_failover(g, m);
        }
        return;
    }
    if !send_slaveof(g, s, None) {
        return;
    }
    let text = at(s, &mr);
    g.event(LogLevel::Notice, "+failover-state-wait-promotion", text);
    m.failover_state = FailoverState::WaitPromotion;
    m.failover_state_change_time = g.now;
}

fn reconf_next_slave(g: &mut Global, m: &mut Master) {
    let mr = mref(m);
    let Some(pk) = m.promoted.clone() else {
        return;
    };
    let Some((ph, pp)) = m.slaves.get(&pk).map(|p| (p.host.clone(), p.port)) else {
        return;
    };
    let mut in_progress = m
        .slaves
        .values()
        .filter(|s| s.flags & (F_RECONF_SENT | F_RECONF_INPROG) != 0)
        .count() as i64;
    let now = g.now;
    for s in m.slaves.values_mut() {
        if in_progress >= m.parallel_syncs {
            break;
        }
        if s.flags & (F_PROMOTED | F_RECONF_DONE) != 0 {
            continue;
        }
        if s.flags & F_RECONF_SENT != 0 && now - s.slave_reconf_sent_time > SLAVE_RECONF_TIMEOUT {
            let text = at(s, &mr);
            g.event(LogLevel::Notice, "-slave-reconf-sent-timeout", text);
            s.flags &= !F_RECONF_SENT;
            s.flags |= F_RECONF_DONE;
        }
        if s.flags & (F_RECONF_SENT | F_RECONF_INPROG) != 0 || s.disconnected() {
            continue;
        }
        if send_slaveof(g, s, Some((&ph, pp))) {
            s.flags |= F_RECONF_SENT;
            s.slave_reconf_sent_time = now;
            let text = at(s, &mr);
            g.event(LogLevel::Notice, "+slave-reconf-sent", text);
            in_progress += 1;
        }
    }
    failover_detect_end(g, m, &ph, pp);
}

fn failover_detect_end(g: &mut Global, m: &mut Master, ph: &str, pp: u16) {
    let mr = mref(m);
    let promoted_down = m
        .promoted
        .as_ref()
        .and_then(|k| m.slaves.get(k))
        .is_none_or(|p| p.flags & F_S_DOWN != 0);
    if promoted_down {
        return;
    }
    let mut not_reconfigured = m
        .slaves
        .values()
        .filter(|s| s.flags & (F_PROMOTED | F_RECONF_DONE) == 0 && s.flags & F_S_DOWN == 0)
        .count();
    let mut timeout = false;
    if g.now - m.failover_state_change_time > m.failover_timeout {
        not_reconfigured = 0;
        timeout = true;
        let text = at(&m.inst, &mr);
        g.event(LogLevel::Warning, "+failover-end-for-timeout", text);
    }
    if not_reconfigured == 0 {
        let text = at(&m.inst, &mr);
        g.event(LogLevel::Warning, "+failover-end", text);
        m.failover_state = FailoverState::UpdateConfig;
        m.failover_state_change_time = g.now;
    }
    if timeout {
        for s in m.slaves.values_mut() {
            if s.flags & (F_PROMOTED | F_RECONF_DONE | F_RECONF_SENT) != 0 || s.disconnected() {
                continue;
            }
            if send_slaveof(g, s, Some((ph, pp))) {
                let text = at(s, &mr);
                g.event(LogLevel::Notice, "+slave-reconf-sent-be", text);
                s.flags |= F_RECONF_SENT;
            }
        }
    }
}

fn switch_to_promoted(g: &mut Global, m: &mut Master) {
    let mr = mref(m);
    let (nh, np) = match m.promoted.as_ref().and_then(|k| m.slaves.get(k)) {
        Some(p) => (p.host.clone(), p.port),
        None => (mr.host.clone(), mr.port),
    };
    let text = format!("{} {} {} {} {}", mr.name, mr.host, mr.port, nh, np);
    g.event(LogLevel::Warning, "+switch-master", text);
    reset_master_and_change_address(g, m, &nh, np);
}

/// sentinelResetMaster.
pub fn reset_master(g: &mut Global, m: &mut Master, reset_sentinels: bool, generate_event: bool) {
    let now = g.now;
    for (_, mut s) in std::mem::take(&mut m.slaves) {
        g.close_inst_links(&mut s);
    }
    if reset_sentinels {
        for (_, mut s) in std::mem::take(&mut m.sentinels) {
            g.close_inst_links(&mut s);
        }
    }
    g.close_inst_links(&mut m.inst);
    m.inst.flags &= F_MASTER;
    m.leader = None;
    m.failover_state = FailoverState::None;
    m.failover_state_change_time = 0;
    m.failover_start_time = 0;
    m.promoted = None;
    m.inst.runid = None;
    m.inst.slave_master_host = None;
    m.inst.link.act_ping_time = now;
    m.inst.link.last_ping_time = 0;
    m.inst.link.last_avail_time = now;
    m.inst.link.last_pong_time = now;
    m.inst.role_reported_time = now;
    m.inst.role_reported = F_MASTER;
    if generate_event {
        let text = at(&m.inst, &mref(m));
        g.event(LogLevel::Warning, "+reset-master", text);
    }
}

/// sentinelResetMasterAndChangeAddress: the old master and the other
/// replicas become replicas of the new address.
fn reset_master_and_change_address(g: &mut Global, m: &mut Master, host: &str, port: u16) {
    let mut addrs: Vec<(String, u16)> = m
        .slaves
        .values()
        .filter(|s| !s.addr_eq(host, port))
        .map(|s| (s.host.clone(), s.port))
        .collect();
    if !m.inst.addr_eq(host, port) {
        addrs.push((m.inst.host.clone(), m.inst.port));
    }
    reset_master(g, m, false, false);
    m.inst.host = host.to_string();
    m.inst.port = port;
    m.inst.o_down_since_time = 0;
    m.inst.s_down_since_time = 0;
    // Deliberate deviation from Redis 7.0: connect to the new address on the
    // next timer run (Redis waits out the 1 s reconnect period while the
    // SDOWN clock runs from the switch) and forget the other sentinels'
    // "master down" answers, which were about the old address. Without this
    // a healthy new master can be judged SDOWN + ODOWN at once with a short
    // down-after-milliseconds, and failed over a second time.
    m.inst.link.last_reconn_time = 0;
    for s in m.sentinels.values_mut() {
        s.flags &= !F_MASTER_DOWN;
    }
    let mr = mref(m);
    let now = g.now;
    for (h, p) in addrs {
        let k = slave_key(&h, p);
        if m.slaves.contains_key(&k) {
            continue;
        }
        let s = Inst::new(F_SLAVE, k.clone(), &h, p, m.inst.down_after_period, now);
        let text = at(&s, &mr);
        m.slaves.insert(k, s);
        g.event(LogLevel::Notice, "+slave", text);
    }
    g.dirty = true;
}

/// What an INFO reply says (the fields Sentinel uses).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InfoFacts {
    pub run_id: Option<String>,
    pub role: u32,
    pub slaves: Vec<(String, u16)>,
    pub master_link_down_time: i64,
    pub master_host: Option<String>,
    pub master_port: Option<u16>,
    pub master_link_up: bool,
    pub slave_priority: Option<i64>,
    pub slave_repl_offset: Option<u64>,
    pub replica_announced: Option<bool>,
}

/// Parse the INFO fields Sentinel reads (Redis's `sentinelRefreshInstanceInfo`).
pub fn parse_info(info: &str) -> InfoFacts {
    let mut f = InfoFacts::default();
    for l in info.lines() {
        let l = l.trim_end_matches('\r');
        if let Some(v) = l.strip_prefix("run_id:") {
            if v.len() == 40 {
                f.run_id = Some(v.to_string());
            }
        } else if l.starts_with("slave") && l.as_bytes().get(5).is_some_and(|c| c.is_ascii_digit())
        {
            // slave0:ip=127.0.0.1,port=6380,state=online,offset=...,lag=0
            let Some((_, rest)) = l.split_once(':') else {
                continue;
            };
            let (mut ip, mut port) = (None, None);
            if rest.contains('=') {
                for kv in rest.split(',') {
                    match kv.split_once('=') {
                        Some(("ip", v)) => ip = Some(v.to_string()),
                        Some(("port", v)) => port = v.parse::<u16>().ok(),
                        _ => {}
                    }
                }
            } else {
                // Old format: slave0:<ip>,<port>,<state>
                let mut it = rest.split(',');
                ip = it.next().map(str::to_string);
                port = it.next().and_then(|p| p.parse().ok());
            }
            if let (Some(ip), Some(port)) = (ip, port) {
                if port != 0 {
                    f.slaves.push((ip, port));
                }
            }
        } else if let Some(v) = l.strip_prefix("master_link_down_since_seconds:") {
            f.master_link_down_time = v.trim().parse::<i64>().unwrap_or(0).saturating_mul(1000);
        } else if l == "role:master" {
            f.role = F_MASTER;
        } else if l == "role:slave" {
            f.role = F_SLAVE;
        } else if let Some(v) = l.strip_prefix("master_host:") {
            f.master_host = Some(v.to_string());
        } else if let Some(v) = l.strip_prefix("master_port:") {
            f.master_port = v.parse().ok();
        } else if let Some(v) = l.strip_prefix("master_link_status:") {
            f.master_link_up = v.eq_ignore_ascii_case("up");
        } else if let Some(v) = l.strip_prefix("slave_priority:") {
            f.slave_priority = v.parse().ok();
        } else if let Some(v) = l.strip_prefix("replica_priority:") {
            f.slave_priority = v.parse().ok();
        } else if let Some(v) = l.strip_prefix("slave_repl_offset:") {
            f.slave_repl_offset = v.parse().ok();
        } else if let Some(v) = l.strip_prefix("replica_announced:") {
            f.replica_announced = Some(v == "1");
        }
    }
    f
}

/// sentinelForceHelloUpdateForMaster: announce the new configuration to
/// every related instance on the next timer run instead of within 2 s.
fn force_hello_update(m: &mut Master) {
    let back = |i: &mut Inst| {
        if i.last_pub_time > PUBLISH_PERIOD {
            i.last_pub_time -= PUBLISH_PERIOD + 1;
        }
    };
    back(&mut m.inst);
    m.sentinels.values_mut().for_each(back);
    m.slaves.values_mut().for_each(back);
}

/// sentinelMasterLooksSane.
fn master_looks_sane(now: i64, m: &Master) -> bool {
    m.inst.flags & F_MASTER != 0
        && m.inst.role_reported == F_MASTER
        && m.inst.flags & (F_S_DOWN | F_O_DOWN) == 0
        && now - m.inst.info_refresh < INFO_PERIOD * 2
}

/// sentinelRedisInstanceNoDownFor.
fn no_down_for(now: i64, i: &Inst, ms: i64) -> bool {
    let most_recent = i.s_down_since_time.max(i.o_down_since_time);
    most_recent == 0 || now - most_recent > ms
}

/// sentinelRefreshInstanceInfo.
fn refresh_info(g: &mut Global, m: &mut Master, who: &Who, info: &str) {
    let f = parse_info(info);
    let now = g.now;
    let mr = mref(m);
    let down_after = m.inst.down_after_period;
    // New replicas listed by the master.
    if *who == Who::Master {
        for (h, p) in &f.slaves {
            let k = slave_key(h, *p);
            if let std::collections::btree_map::Entry::Vacant(e) = m.slaves.entry(k.clone()) {
                let s = Inst::new(F_SLAVE, k, h, *p, down_after, now);
                let text = at(&s, &mr);
                e.insert(s);
                g.event(LogLevel::Notice, "+slave", text);
                g.dirty = true;
            }
        }
    }
    let Some(i) = inst_mut(m, who) else {
        return;
    };
    i.info = info.to_string();
    i.master_link_down_time = f.master_link_down_time;
    if let Some(r) = &f.run_id {
        if i.runid.as_deref() != Some(r.as_str()) {
            if i.runid.is_some() {
                let text = at(i, &mr);
                g.event(LogLevel::Notice, "+reboot", text);
            }
            i.runid = Some(r.clone());
        }
    }
    let role = f.role;
    if role == F_SLAVE {
        if let Some(h) = &f.master_host {
            if i.slave_master_host.as_deref() != Some(h.as_str()) {
                i.slave_master_host = Some(h.clone());
                i.slave_conf_change_time = now;
            }
        }
        if let Some(p) = f.master_port {
            if i.slave_master_port != p {
                i.slave_master_port = p;
                i.slave_conf_change_time = now;
            }
        }
        i.slave_master_link_up = f.master_link_up;
        if let Some(p) = f.slave_priority {
            i.slave_priority = p;
        }
        if let Some(o) = f.slave_repl_offset {
            i.slave_repl_offset = o;
        }
        if let Some(a) = f.replica_announced {
            i.replica_announced = a;
        }
    }
    i.info_refresh = now;
    if role != 0 && i.role_reported != role {
        i.role_reported_time = now;
        i.role_reported = role;
        if role == F_SLAVE {
            i.slave_conf_change_time = now;
        }
        let ty = if i.flags & (F_MASTER | F_SLAVE) == role {
            "+role-change"
        } else {
            "-role-change"
        };
        let text = format!(
            "{} new reported role is {}",
            at(i, &mr),
            if role == F_MASTER { "master" } else { "slave" }
        );
        g.event(LogLevel::Verbose, ty, text);
    }
    if g.tilt {
        return;
    }
    let Who::Slave(key) = who else {
        return;
    };
    let key = key.clone();
    let sane = master_looks_sane(now, m);
    let (mh, mp) = (m.inst.host.clone(), m.inst.port);
    let failover_timeout = m.failover_timeout;
    let promoted_addr = m
        .promoted
        .as_ref()
        .and_then(|k| m.slaves.get(k))
        .map(|p| (p.host.clone(), p.port));
    let in_wait_promotion = m.inst.flags & F_FAILOVER_IN_PROGRESS != 0
        && m.failover_state == FailoverState::WaitPromotion;
    let Some(i) = m.slaves.get_mut(&key) else {
        return;
    };
    if role == F_MASTER {
        if i.flags & F_PROMOTED != 0 && in_wait_promotion {
            let text = at(i, &mr);
            m.config_epoch = m.failover_epoch;
            m.failover_state = FailoverState::ReconfSlaves;
            m.failover_state_change_time = now;
            g.dirty = true;
            g.event(LogLevel::Warning, "+promoted-slave", text);
            let text = at(&m.inst, &mr);
            g.event(LogLevel::Warning, "+failover-state-reconf-slaves", text);
            force_hello_update(m);
        } else {
            // A replica that says it is a master: after a while, make it a
            // replica of the master we know (a returning old master).
            let wait_time = PUBLISH_PERIOD * 4;
            if i.flags & F_PROMOTED == 0
                && sane
                && no_down_for(now, i, wait_time)
                && now - i.role_reported_time > wait_time
                && send_slaveof(g, i, Some((&mh, mp)))
            {
                let text = at(i, &mr);
                g.event(LogLevel::Notice, "+convert-to-slave", text);
            }
        }
        return;
    }
    if role != F_SLAVE {
        return;
    }
    let wrong_master = i.slave_master_port != mp
        || !i
            .slave_master_host
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(&mh));
    if wrong_master
        && sane
        && no_down_for(now, i, failover_timeout)
        && now - i.slave_conf_change_time > failover_timeout
        && send_slaveof(g, i, Some((&mh, mp)))
    {
        let text = at(i, &mr);
        g.event(LogLevel::Notice, "+fix-slave-config", text);
    }
    if i.flags & (F_RECONF_SENT | F_RECONF_INPROG) != 0 {
        if i.flags & F_RECONF_SENT != 0 {
            if let (Some((ph, pp)), Some(h)) = (&promoted_addr, &i.slave_master_host) {
                if h.eq_ignore_ascii_case(ph) && i.slave_master_port == *pp {
                    i.flags &= !F_RECONF_SENT;
                    i.flags |= F_RECONF_INPROG;
                    let text = at(i, &mr);
                    g.event(LogLevel::Notice, "+slave-reconf-inprog", text);
                }
            }
        }
        if i.flags & F_RECONF_INPROG != 0 && i.slave_master_link_up {
            i.flags &= !F_RECONF_INPROG;
            i.flags |= F_RECONF_DONE;
            let text = at(i, &mr);
            g.event(LogLevel::Notice, "+slave-reconf-done", text);
        }
    }
}

/// C's `ctime` text for a Unix time in ms (UTC): "Thu Nov 26 23:49:58 2026".
pub fn ctime(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {}{:3} {:02}:{:02}:{:02} {}",
        WD[days.rem_euclid(7) as usize],
        MO[((m - 1).clamp(0, 11)) as usize],
        d,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        y
    )
}

/// Sentinel's flag list ("s_down,master,disconnected", ...).
pub fn flags_text(i: &Inst) -> String {
    let mut v = Vec::new();
    let f = i.flags;
    for (bit, name) in [
        (F_S_DOWN, "s_down"),
        (F_O_DOWN, "o_down"),
        (F_MASTER, "master"),
        (F_SLAVE, "slave"),
        (F_SENTINEL, "sentinel"),
    ] {
        if f & bit != 0 {
            v.push(name);
        }
    }
    if i.disconnected() {
        v.push("disconnected");
    }
    for (bit, name) in [
        (F_MASTER_DOWN, "master_down"),
        (F_FAILOVER_IN_PROGRESS, "failover_in_progress"),
        (F_PROMOTED, "promoted"),
        (F_RECONF_SENT, "reconf_sent"),
        (F_RECONF_INPROG, "reconf_inprog"),
        (F_RECONF_DONE, "reconf_done"),
        (F_FORCE_FAILOVER, "force_failover"),
    ] {
        if f & bit != 0 {
            v.push(name);
        }
    }
    v.join(",")
}
