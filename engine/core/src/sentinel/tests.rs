//! Unit tests of the Sentinel state machine, driven with simulated time and
//! fake instances (no sockets): SDOWN timing, ODOWN with quorum, vote rules,
//! leader majority, replica selection order, hello processing, INFO parsing,
//! a whole failover, and determinism.

use super::*;
use crate::resp::{Parsed, RequestParser};

/// A fake Redis instance answering the Sentinel's commands.
#[derive(Clone, Debug)]
struct Fake {
    port: u16,
    alive: bool,
    runid: String,
    master: Option<u16>,
    priority: i64,
    offset: u64,
    replicas: Vec<u16>,
}

impl Fake {
    fn info(&self) -> String {
        let mut t = format!("# Server\r\nrun_id:{}\r\n# Replication\r\n", self.runid);
        match self.master {
            None => {
                t.push_str("role:master\r\n");
                for (i, r) in self.replicas.iter().enumerate() {
                    t.push_str(&format!("slave{i}:ip=127.0.0.1,port={r},state=online,offset=0,lag=0\r\n"));
                }
            }
            Some(m) => t.push_str(&format!(
                "role:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:{m}\r\nmaster_link_status:up\r\nslave_repl_offset:{}\r\nslave_priority:{}\r\n",
                self.offset, self.priority
            )),
        }
        t
    }
}

struct Sim {
    s: Sentinel,
    now: i64,
    /// link -> (port, pubsub)
    links: BTreeMap<LinkId, u16>,
    fakes: BTreeMap<u16, Fake>,
    /// Other sentinels' answers to is-master-down-by-addr, by port.
    peers: BTreeMap<u16, (i64, String, i64)>,
    events: Vec<(i64, String)>,
    saved: Vec<String>,
    /// (time, payload) of every hello the sentinel published.
    hellos: Vec<(i64, String)>,
    pending: VecDeque<Input>,
}

fn args_of(bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut p = RequestParser::new();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        match p.parse(&bytes[pos..], 1 << 20, true) {
            Parsed::Command { consumed } => {
                let mut a: Vec<&[u8]> = Vec::new();
                p.args(&bytes[pos..], &mut a);
                out.push(a.iter().map(|x| x.to_vec()).collect());
                pos += consumed;
            }
            _ => break,
        }
    }
    out
}

const MYID: &str = "0000000000000000000000000000000000000001";
const PEER: &str = "0000000000000000000000000000000000000002";

impl Sim {
    fn new(conf: &str, fakes: Vec<Fake>) -> Sim {
        let c = SentinelConf::parse(conf, &[]).expect("conf");
        let (s, acts) = Sentinel::new(c, conf, SentinelEnv::default(), 7, 1_000_000);
        let mut sim = Sim {
            s,
            now: 1_000_000,
            links: BTreeMap::new(),
            fakes: fakes.into_iter().map(|f| (f.port, f)).collect(),
            peers: BTreeMap::new(),
            events: Vec::new(),
            saved: Vec::new(),
            hellos: Vec::new(),
            pending: VecDeque::new(),
        };
        sim.absorb(acts);
        sim
    }

    fn absorb(&mut self, acts: Vec<Action>) {
        for a in acts {
            match a {
                Action::Connect { link, port, .. } => {
                    self.links.insert(link, port);
                    let up = self.fakes.get(&port).is_some_and(|f| f.alive)
                        || self.peers.contains_key(&port);
                    if up {
                        self.pending.push_back(Input::LinkUp {
                            link,
                            local_ip: "127.0.0.1".into(),
                        });
                    } else {
                        self.pending.push_back(Input::LinkDown { link });
                    }
                }
                Action::Send { link, bytes } => {
                    let Some(&port) = self.links.get(&link) else {
                        continue;
                    };
                    for args in args_of(&bytes) {
                        if args[0] == b"PUBLISH" {
                            self.hellos
                                .push((self.now, String::from_utf8_lossy(&args[2]).into_owned()));
                        }
                        if let Some(r) = self.answer(port, &args) {
                            self.pending.push_back(Input::LinkReply { link, reply: r });
                        }
                    }
                }
                Action::Close { link } => {
                    self.links.remove(&link);
                }
                Action::Log { msg, .. } if msg.starts_with('+') || msg.starts_with('-') => {
                    self.events.push((self.now, msg));
                }
                Action::SaveConfig { text } => self.saved.push(text),
                _ => {}
            }
        }
    }

    fn answer(&mut self, port: u16, args: &[Vec<u8>]) -> Option<RVal> {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        if let Some((d, l, e)) = self.peers.get(&port) {
            return match name.as_str() {
                "SENTINEL" => Some(RVal::Array(vec![
                    RVal::Int(*d),
                    RVal::Bulk(l.clone().into_bytes()),
                    RVal::Int(*e),
                ])),
                "PING" => Some(RVal::Status("PONG".into())),
                _ => Some(RVal::Status("OK".into())),
            };
        }
        let me = self.fakes.get(&port)?.clone();
        if !me.alive {
            return None;
        }
        match name.as_str() {
            "PING" => Some(RVal::Status("PONG".into())),
            "INFO" => Some(RVal::Bulk(me.info().into_bytes())),
            "REPLICAOF" => {
                let target = String::from_utf8_lossy(&args[2]).parse::<u16>().ok();
                let old_master = me.master;
                if let Some(f) = self.fakes.get_mut(&port) {
                    f.master = target;
                }
                if let Some(m) = old_master.and_then(|m| self.fakes.get_mut(&m)) {
                    m.replicas.retain(|r| *r != port);
                }
                if let Some(t) = target.and_then(|t| self.fakes.get_mut(&t)) {
                    t.replicas.push(port);
                }
                Some(RVal::Status("OK".into()))
            }
            "SUBSCRIBE" => Some(RVal::Array(vec![
                RVal::Bulk(b"subscribe".to_vec()),
                RVal::Bulk(args[1].clone()),
                RVal::Int(1),
            ])),
            "PUBLISH" => Some(RVal::Int(0)),
            _ => Some(RVal::Status("OK".into())),
        }
    }

    fn input(&mut self, i: Input) {
        self.pending.push_back(i);
        while let Some(i) = self.pending.pop_front() {
            let acts = self.s.handle(self.now, i);
            self.absorb(acts);
        }
    }

    /// Advance time in 100 ms ticks.
    fn run(&mut self, ms: i64) {
        let end = self.now + ms;
        while self.now < end {
            self.now += 100;
            self.input(Input::Tick);
        }
    }

    fn has(&self, ev: &str) -> bool {
        self.events.iter().any(|(_, e)| e.starts_with(ev))
    }

    fn when(&self, ev: &str) -> Option<i64> {
        self.events
            .iter()
            .find(|(_, e)| e.starts_with(ev))
            .map(|(t, _)| *t)
    }

    fn kill(&mut self, port: u16) {
        if let Some(f) = self.fakes.get_mut(&port) {
            f.alive = false;
        }
        // The kernel closes its connections.
        let dead: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, p)| **p == port)
            .map(|(l, _)| *l)
            .collect();
        for l in dead {
            self.links.remove(&l);
            self.input(Input::LinkDown { link: l });
        }
    }

    fn client(&mut self, args: &[&str]) -> Vec<u8> {
        if !self.s.g.clients.contains_key(&1) {
            self.input(Input::ClientOpen {
                client: 1,
                addr: "127.0.0.1:1".into(),
            });
        }
        let acts = self.s.handle(
            self.now,
            Input::ClientCommand {
                client: 1,
                args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            },
        );
        let mut out = Vec::new();
        for a in &acts {
            if let Action::ToClient { bytes, .. } = a {
                out.extend_from_slice(bytes);
            }
        }
        self.absorb(acts);
        out
    }
}

fn fake(port: u16, master: Option<u16>, replicas: Vec<u16>) -> Fake {
    Fake {
        port,
        alive: true,
        runid: format!("{:040}", port),
        master,
        priority: 100,
        offset: 100,
        replicas,
    }
}

fn three() -> Vec<Fake> {
    vec![
        fake(6379, None, vec![6380, 6381]),
        fake(6380, Some(6379), vec![]),
        fake(6381, Some(6379), vec![]),
    ]
}

fn conf(quorum: u32, extra: &str) -> String {
    format!(
        "port 26379\nsentinel myid {MYID}\nsentinel monitor mymaster 127.0.0.1 6379 {quorum}\nsentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 10000\n{extra}"
    )
}

#[test]
fn discovers_replicas_from_info() {
    let mut sim = Sim::new(&conf(1, ""), three());
    assert!(sim.has("+monitor master mymaster 127.0.0.1 6379 quorum 1"));
    sim.run(500);
    assert!(sim.has("+slave slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379"));
    let m = &sim.s.masters["mymaster"];
    assert_eq!(m.slaves.len(), 2);
    assert_eq!(
        m.inst.runid.as_deref(),
        Some(format!("{:040}", 6379).as_str())
    );
    // The config was rewritten with the known replicas.
    assert!(sim
        .saved
        .last()
        .is_some_and(|t| t.contains("sentinel known-replica mymaster 127.0.0.1 6381")));
}

#[test]
fn sdown_after_down_after_milliseconds_not_before() {
    let mut sim = Sim::new(&conf(2, ""), three());
    sim.run(3000);
    assert!(!sim.has("+sdown"));
    let t0 = sim.now;
    // The master stops answering but keeps its connections (a hang).
    sim.fakes.get_mut(&6379).expect("m").alive = false;
    sim.run(900);
    assert!(
        !sim.has("+sdown master"),
        "sdown too early: {:?}",
        sim.events
    );
    sim.run(2000);
    let t = sim
        .when("+sdown master mymaster 127.0.0.1 6379")
        .expect("sdown");
    // The first unanswered PING goes out within ping_period of t0; SDOWN
    // comes down-after (1000 ms) later, on the next tick.
    assert!(t - t0 > 1000 && t - t0 <= 2200, "sdown at +{} ms", t - t0);
    // Only quorum 2 with no other sentinel: never ODOWN.
    sim.run(5000);
    assert!(!sim.has("+odown"));
    // It answers again: -sdown.
    sim.fakes.get_mut(&6379).expect("m").alive = true;
    sim.kill(6379); // drop the stuck links so they reconnect
    sim.fakes.get_mut(&6379).expect("m").alive = true;
    sim.run(3000);
    assert!(sim.has("-sdown master mymaster 127.0.0.1 6379"));
}

#[test]
fn odown_needs_quorum_of_sentinel_agreement() {
    let peer = format!("sentinel known-sentinel mymaster 127.0.0.1 26380 {PEER}\n");
    // The other sentinel says "up": SDOWN only.
    let mut sim = Sim::new(&conf(2, &peer), three());
    sim.peers.insert(26380, (0, "*".into(), 0));
    sim.run(2000);
    sim.kill(6379);
    sim.run(4000);
    assert!(sim.has("+sdown master"));
    assert!(!sim.has("+odown"), "{:?}", sim.events);
    // It says "down": ODOWN with 2/2.
    let mut sim = Sim::new(&conf(2, &peer), three());
    sim.peers.insert(26380, (1, "*".into(), 0));
    sim.run(2000);
    sim.kill(6379);
    sim.run(4000);
    assert!(
        sim.has("+odown master mymaster 127.0.0.1 6379 #quorum 2/2"),
        "{:?}",
        sim.events
    );
}

#[test]
fn votes_once_per_epoch_and_never_for_older_epochs() {
    let mut sim = Sim::new(&conf(2, ""), three());
    let vote = |sim: &mut Sim, epoch: &str, runid: &str| {
        sim.client(&[
            "SENTINEL",
            "is-master-down-by-addr",
            "127.0.0.1",
            "6379",
            epoch,
            runid,
        ])
    };
    let r = vote(&mut sim, "5", "aaaa");
    assert_eq!(r, b"*3\r\n:0\r\n$4\r\naaaa\r\n:5\r\n");
    assert_eq!(sim.s.g.current_epoch, 5);
    assert!(sim.has("+new-epoch 5"));
    assert!(sim.has("+vote-for-leader aaaa 5"));
    // Same epoch, another candidate: still the first vote.
    assert_eq!(
        vote(&mut sim, "5", "bbbb"),
        b"*3\r\n:0\r\n$4\r\naaaa\r\n:5\r\n"
    );
    // Older epoch: no new vote.
    assert_eq!(
        vote(&mut sim, "4", "cccc"),
        b"*3\r\n:0\r\n$4\r\naaaa\r\n:5\r\n"
    );
    // Newer epoch: a new vote.
    assert_eq!(
        vote(&mut sim, "6", "cccc"),
        b"*3\r\n:0\r\n$4\r\ncccc\r\n:6\r\n"
    );
    // "*" asks only for the master's state; unknown address: down=0, "*".
    assert_eq!(vote(&mut sim, "9", "*"), b"*3\r\n:0\r\n$1\r\n*\r\n:0\r\n");
    assert_eq!(
        sim.client(&[
            "SENTINEL",
            "is-master-down-by-addr",
            "10.0.0.1",
            "1",
            "9",
            "dddd"
        ]),
        b"*3\r\n:0\r\n$1\r\n*\r\n:0\r\n"
    );
    // The votes survive a restart: leader-epoch is in the config.
    assert!(sim
        .saved
        .last()
        .is_some_and(|t| t.contains("sentinel leader-epoch mymaster 6")));
}

#[test]
fn leader_needs_majority_of_all_known_sentinels() {
    let mut extra = String::new();
    for i in 2..=5 {
        extra.push_str(&format!(
            "sentinel known-sentinel mymaster 127.0.0.1 2638{i} {:040}\n",
            i
        ));
    }
    let mut sim = Sim::new(&conf(2, &extra), three());
    let now = sim.now;
    let g = &mut sim.s.g;
    let m = sim.s.masters.get_mut("mymaster").expect("m");
    g.now = now;
    g.current_epoch = 1;
    // One other vote for us + ours = 2 of 5 voters: quorum (2) reached, but
    // no majority (3): no leader.
    let ids: Vec<String> = m.sentinels.keys().cloned().collect();
    m.sentinels.get_mut(&ids[0]).expect("s").leader = Some(MYID.into());
    m.sentinels.get_mut(&ids[0]).expect("s").leader_epoch = 1;
    assert_eq!(get_leader(g, m, 1), None);
    // A second vote: 3 of 5.
    m.sentinels.get_mut(&ids[1]).expect("s").leader = Some(MYID.into());
    m.sentinels.get_mut(&ids[1]).expect("s").leader_epoch = 1;
    assert_eq!(get_leader(g, m, 1).as_deref(), Some(MYID));
    // Votes of an older epoch do not count.
    g.current_epoch = 2;
    m.leader_epoch = 1;
    assert_eq!(get_leader(g, m, 2), None);
}

#[test]
fn best_replica_order() {
    let mut sim = Sim::new(
        &conf(1, ""),
        vec![
            fake(6379, None, vec![6380, 6381, 6382, 6383, 6384]),
            Fake {
                priority: 10,
                offset: 5,
                ..fake(6380, Some(6379), vec![])
            },
            Fake {
                priority: 10,
                offset: 50,
                ..fake(6381, Some(6379), vec![])
            },
            Fake {
                priority: 10,
                offset: 50,
                runid: "f".repeat(40),
                ..fake(6382, Some(6379), vec![])
            },
            Fake {
                priority: 0,
                offset: 999,
                ..fake(6383, Some(6379), vec![])
            },
            Fake {
                priority: 1,
                offset: 0,
                ..fake(6384, Some(6379), vec![])
            },
        ],
    );
    sim.run(2000);
    let pick = |sim: &Sim| select_slave(sim.now, &sim.s.masters["mymaster"]);
    // Lowest priority (not 0) wins, whatever the offset.
    assert_eq!(pick(&sim).as_deref(), Some("127.0.0.1:6384"));
    // Without it: priority 10, largest offset, then smallest run id.
    sim.kill(6384);
    sim.run(3000);
    assert_eq!(pick(&sim).as_deref(), Some("127.0.0.1:6381"));
    // A disconnected replica is never chosen.
    sim.kill(6381);
    sim.run(100);
    assert_eq!(pick(&sim).as_deref(), Some("127.0.0.1:6382"));
    // Stale INFO (no reply for a long time) excludes replicas too.
    sim.fakes.get_mut(&6382).expect("f").alive = false;
    sim.fakes.get_mut(&6380).expect("f").alive = false;
    sim.run(6000);
    assert_eq!(pick(&sim), None, "priority 0 (6383) is never promoted");
}

#[test]
fn hello_messages() {
    let mut sim = Sim::new(&conf(2, ""), three());
    sim.run(500);
    let hello = format!("127.0.0.1,26380,{PEER},3,mymaster,127.0.0.1,6379,0");
    sim.s.process_hello(&hello);
    let out = std::mem::take(&mut sim.s.g.out);
    sim.absorb(out);
    assert!(sim.has(&format!(
        "+sentinel sentinel {PEER} 127.0.0.1 26380 @ mymaster 127.0.0.1 6379"
    )));
    assert!(sim.has("+new-epoch 3"));
    assert_eq!(sim.s.g.current_epoch, 3);
    // Malformed ones are ignored.
    for bad in [
        "127.0.0.1,26381,xx,3,mymaster,127.0.0.1,6379",
        "127.0.0.1,notaport,xx,3,mymaster,127.0.0.1,6379,0",
        "127.0.0.1,26381,xx,3,unknown,127.0.0.1,6379,0",
        ",,,,,,,",
    ] {
        sim.s.process_hello(bad);
    }
    assert_eq!(sim.s.masters["mymaster"].sentinels.len(), 1);
    // A newer config epoch with another address: switch.
    sim.s.process_hello(&format!(
        "127.0.0.1,26380,{PEER},4,mymaster,127.0.0.1,6380,4"
    ));
    let out = std::mem::take(&mut sim.s.g.out);
    sim.absorb(out);
    assert!(sim.has("+switch-master mymaster 127.0.0.1 6379 127.0.0.1 6380"));
    assert_eq!(
        sim.s.master_addr("mymaster"),
        Some(("127.0.0.1".to_string(), 6380))
    );
    let m = &sim.s.masters["mymaster"];
    assert_eq!(m.config_epoch, 4);
    assert!(
        m.slaves.contains_key("127.0.0.1:6379"),
        "old master listed as a replica"
    );
    // An older config epoch is ignored.
    sim.s.process_hello(&format!(
        "127.0.0.1,26380,{PEER},4,mymaster,127.0.0.1,6381,3"
    ));
    assert_eq!(
        sim.s.master_addr("mymaster"),
        Some(("127.0.0.1".to_string(), 6380))
    );
}

/// Regression: the leader of a failover (still reconfiguring replicas)
/// learns a newer configuration that names the address it is failing over
/// from. It must drop its own failover, not switch to its promoted replica
/// later under the newer epoch (the Sentinels then disagreed at one epoch
/// until another failover: found by the simulator's sentinel scenario).
#[test]
fn newer_config_for_the_same_address_ends_our_failover() {
    let mut sim = Sim::new(&conf(1, ""), three());
    sim.run(3000);
    // The other replica's sync never finishes: the failover stays in
    // reconf-slaves.
    sim.kill(6379);
    let mut ran = 0;
    while !sim.has("+promoted-slave") && ran < 20_000 {
        sim.run(100);
        ran += 100;
    }
    assert!(sim.has("+promoted-slave"), "{:#?}", sim.events);
    assert!(!sim.has("+failover-end"), "{:#?}", sim.events);
    let epoch = sim.s.masters["mymaster"].config_epoch;
    sim.s.process_hello(&format!(
        "127.0.0.1,26380,{PEER},{},mymaster,127.0.0.1,6379,{}",
        epoch + 1,
        epoch + 1
    ));
    let out = std::mem::take(&mut sim.s.g.out);
    sim.absorb(out);
    assert!(sim.has("-failover-abort-newer-config master mymaster 127.0.0.1 6379"));
    let m = &sim.s.masters["mymaster"];
    assert_eq!(m.config_epoch, epoch + 1);
    assert_eq!(m.inst.flags & F_FAILOVER_IN_PROGRESS, 0);
    assert_eq!(
        sim.s.master_addr("mymaster"),
        Some(("127.0.0.1".to_string(), 6379))
    );
    let switches = sim
        .events
        .iter()
        .filter(|(_, e)| e.starts_with("+switch-master"))
        .count();
    sim.run(1000);
    let after = sim
        .events
        .iter()
        .filter(|(_, e)| e.starts_with("+switch-master"))
        .count();
    assert_eq!(switches, after, "{:#?}", sim.events);
}

#[test]
fn info_parsing() {
    let f = parse_info("# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:7000\r\nmaster_link_status:down\r\nmaster_link_down_since_seconds:12\r\nslave_repl_offset:4242\r\nslave_priority:7\r\nreplica_announced:0\r\nrun_id:0123456789012345678901234567890123456789\r\n");
    assert_eq!(f.role, F_SLAVE);
    assert_eq!(f.master_host.as_deref(), Some("10.0.0.1"));
    assert_eq!(f.master_port, Some(7000));
    assert!(!f.master_link_up);
    assert_eq!(f.master_link_down_time, 12_000);
    assert_eq!(f.slave_repl_offset, Some(4242));
    assert_eq!(f.slave_priority, Some(7));
    assert_eq!(f.replica_announced, Some(false));
    assert!(f.run_id.is_some());
    let f = parse_info("role:master\r\nslave0:ip=1.2.3.4,port=5,state=online,offset=1,lag=0\r\nslave1:9.9.9.9,6,online\r\nslave2:garbage\r\nrun_id:short\r\n");
    assert_eq!(f.role, F_MASTER);
    assert_eq!(
        f.slaves,
        vec![("1.2.3.4".to_string(), 5), ("9.9.9.9".to_string(), 6)]
    );
    assert_eq!(f.run_id, None);
}

fn failover_run(seed_events: &mut Vec<String>) -> Sim {
    let mut sim = Sim::new(&conf(1, ""), three());
    sim.run(3000);
    sim.kill(6379);
    sim.run(15_000);
    seed_events.extend(sim.events.iter().map(|(t, e)| format!("{t} {e}")));
    sim
}

#[test]
fn whole_failover_with_one_sentinel_quorum_one() {
    let mut ev = Vec::new();
    let sim = failover_run(&mut ev);
    let order = [
        "+sdown master",
        "+odown master mymaster 127.0.0.1 6379 #quorum 1/1",
        "+new-epoch 1",
        "+try-failover master",
        "+vote-for-leader 0000000000000000000000000000000000000001 1",
        "+elected-leader master",
        "+failover-state-select-slave master",
        "+selected-slave slave",
        "+failover-state-send-slaveof-noone slave",
        "+failover-state-wait-promotion slave",
        "+promoted-slave slave",
        "+failover-state-reconf-slaves master",
        "+slave-reconf-sent slave",
        "+slave-reconf-inprog slave",
        "+slave-reconf-done slave",
        "+failover-end master",
        "+switch-master mymaster 127.0.0.1 6379 127.0.0.1 638",
    ];
    let mut last = 0;
    for o in order {
        let t = sim.events.iter().position(|(_, e)| e.starts_with(o));
        let Some(t) = t else {
            panic!("missing {o}: {ev:#?}")
        };
        assert!(t >= last, "{o} out of order: {ev:#?}");
        last = t;
    }
    let (_, new) = sim.s.master_addr("mymaster").expect("addr");
    assert!(new == 6380 || new == 6381);
    let other = if new == 6380 { 6381 } else { 6380 };
    assert_eq!(sim.fakes[&new].master, None, "promoted");
    assert_eq!(sim.fakes[&other].master, Some(new), "reconfigured");
    assert_eq!(sim.s.masters["mymaster"].config_epoch, 1);
    // No saved config ever lists the monitored address as a replica too
    // (mid-failover the old master is listed in the promoted one's place).
    for t in &sim.saved {
        let monitor = t
            .lines()
            .find(|l| l.starts_with("sentinel monitor"))
            .expect("monitor");
        let port = monitor.split(' ').nth(4).expect("port");
        assert!(
            !t.contains(&format!("known-replica mymaster 127.0.0.1 {port}\n")),
            "{t}"
        );
    }
    // The new configuration is announced right after the promotion (the
    // forced hello update), not up to 2 s later.
    let promoted_at = sim.when("+promoted-slave").expect("promoted");
    let first = sim
        .hellos
        .iter()
        .find(|(_, h)| h.ends_with(&format!(",mymaster,127.0.0.1,{new},1")))
        .expect("hello with the new config");
    assert!(
        first.0 - promoted_at <= 100,
        "hello {} ms after promotion",
        first.0 - promoted_at
    );
    assert!(
        first.1.starts_with(&format!("127.0.0.1,26379,{MYID},1,")),
        "{}",
        first.1
    );
    // The switch was saved.
    assert!(sim
        .saved
        .last()
        .is_some_and(|t| t.contains(&format!("sentinel monitor mymaster 127.0.0.1 {new} 1"))));
}

#[test]
fn returning_old_master_is_converted() {
    let mut ev = Vec::new();
    let mut sim = failover_run(&mut ev);
    let (_, new) = sim.s.master_addr("mymaster").expect("addr");
    // The old master restarts as an empty master.
    let f = sim.fakes.get_mut(&6379).expect("f");
    f.alive = true;
    f.replicas.clear();
    f.runid = "9".repeat(40);
    sim.run(20_000);
    assert!(
        sim.has("+convert-to-slave slave 127.0.0.1:6379 127.0.0.1 6379"),
        "{:#?}",
        sim.events
    );
    assert_eq!(sim.fakes[&6379].master, Some(new));
}

#[test]
fn same_seed_same_actions() {
    let mut a = Vec::new();
    let mut b = Vec::new();
    failover_run(&mut a);
    failover_run(&mut b);
    assert_eq!(a, b);
}

#[test]
fn forced_failover_and_errors() {
    let mut sim = Sim::new(&conf(2, ""), three());
    sim.run(3000);
    assert_eq!(
        sim.client(&["SENTINEL", "FAILOVER", "nope"]),
        b"-ERR No such master with that name\r\n"
    );
    assert_eq!(
        sim.client(&["SENTINEL", "FAILOVER", "mymaster"]),
        b"+OK\r\n"
    );
    assert_eq!(
        sim.client(&["SENTINEL", "FAILOVER", "mymaster"]),
        b"-INPROG Failover already in progress\r\n"
    );
    sim.run(5000);
    assert!(
        sim.has("+switch-master mymaster 127.0.0.1 6379"),
        "{:#?}",
        sim.events
    );
    assert_eq!(
        sim.client(&["SENTINEL", "MASTER"]),
        b"-ERR wrong number of arguments for 'sentinel|master' command\r\n"
    );
    assert_eq!(
        sim.client(&["PUBLISH", "x", "y"]),
        b"-ERR Only HELLO messages are accepted by Sentinel instances.\r\n"
    );
    // SHUTDOWN saves the config first.
    let acts = sim.s.handle(
        sim.now,
        Input::ClientCommand {
            client: 1,
            args: vec![b"SHUTDOWN".to_vec()],
        },
    );
    let save = acts
        .iter()
        .position(|a| matches!(a, Action::SaveConfig { .. }));
    let stop = acts.iter().position(|a| matches!(a, Action::Shutdown));
    assert!(save.is_some() && save < stop, "{acts:?}");
}

#[test]
fn ctime_matches_c() {
    // date -u -d @1795735798 => Thu Nov 26 23:29:58 UTC 2026
    assert_eq!(ctime(1_795_735_798_000), "Thu Nov 26 23:29:58 2026");
    assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
    assert_eq!(ctime(951_782_400_000), "Tue Feb 29 00:00:00 2000");
}

#[test]
fn auth_hello3_and_pubsub_push() {
    let mut sim = Sim::new(&(conf(1, "") + "requirepass secret\n"), three());
    assert_eq!(
        sim.client(&["PING"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        sim.client(&["AUTH", "wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    let h = sim.client(&["HELLO", "3", "AUTH", "default", "secret"]);
    assert!(
        h.starts_with(b"%6\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{}",
        String::from_utf8_lossy(&h)
    );
    assert!(String::from_utf8_lossy(&h).contains("$4\r\nmode\r\n$8\r\nsentinel\r\n"));
    assert_eq!(
        sim.client(&["PSUBSCRIBE", "*"]),
        b">3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n"
    );
    // Events reach the subscriber as RESP3 pushes.
    let acts = sim.s.handle(
        sim.now,
        Input::ClientCommand {
            client: 1,
            args: vec![
                b"SENTINEL".to_vec(),
                b"SET".to_vec(),
                b"mymaster".to_vec(),
                b"quorum".to_vec(),
                b"2".to_vec(),
            ],
        },
    );
    let pushed: Vec<u8> = acts
        .iter()
        .filter_map(|a| match a {
            Action::ToClient { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let t = String::from_utf8_lossy(&pushed);
    assert!(
        t.starts_with(">4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$4\r\n+set\r\n"),
        "{t}"
    );
    assert!(t.contains("master mymaster 127.0.0.1 6379 quorum 2"), "{t}");
    assert!(t.ends_with("+OK\r\n"), "{t}");
    assert_eq!(sim.s.masters["mymaster"].quorum, 2);
}

/// Several Sentinel state machines talking to each other and to fake
/// instances through a simulated network (no sockets), with partitions.
struct Net {
    ss: Vec<Sentinel>,
    now: i64,
    /// (sentinel, link) -> port
    links: BTreeMap<(usize, LinkId), u16>,
    fakes: BTreeMap<u16, Fake>,
    /// Hello subscribers per fake port: (sentinel, pubsub link).
    subs: BTreeMap<u16, Vec<(usize, LinkId)>>,
    /// The partition: true when sentinel i cannot reach port p.
    blocked: fn(usize, u16) -> bool,
    events: Vec<(usize, i64, String)>,
    queue: VecDeque<(usize, Input)>,
    /// When each sentinel's timer fires next (its own 10..19 Hz).
    next_tick: Vec<i64>,
}

const SPORT: u16 = 26379;

impl Net {
    fn new(n: usize, quorum: u32, fakes: Vec<Fake>) -> Net {
        Net::with_seed(n, quorum, fakes, 100)
    }

    fn with_seed(n: usize, quorum: u32, fakes: Vec<Fake>, seed: u64) -> Net {
        let seeds: Vec<u64> = (0..n as u64).map(|i| seed * 1000 + i).collect();
        Net::with_seeds(quorum, fakes, &seeds)
    }

    fn with_seeds(quorum: u32, fakes: Vec<Fake>, seeds: &[u64]) -> Net {
        let mut net = Net {
            ss: Vec::new(),
            now: 1_000_000,
            links: BTreeMap::new(),
            fakes: fakes.into_iter().map(|f| (f.port, f)).collect(),
            subs: BTreeMap::new(),
            blocked: |_, _| false,
            events: Vec::new(),
            queue: VecDeque::new(),
            next_tick: Vec::new(),
        };
        for (i, &seed) in seeds.iter().enumerate() {
            let text = format!(
                "port {}\nsentinel myid {:040}\nsentinel monitor mymaster 127.0.0.1 6379 {quorum}\nsentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 10000\n",
                SPORT + i as u16,
                i + 1
            );
            let c = SentinelConf::parse(&text, &[]).expect("conf");
            let (s, acts) = Sentinel::new(c, &text, SentinelEnv::default(), seed, net.now);
            net.ss.push(s);
            net.next_tick.push(net.now + 100);
            net.absorb(i, acts);
        }
        net
    }

    fn reachable(&self, i: usize, port: u16) -> bool {
        if (self.blocked)(i, port) {
            return false;
        }
        if port >= SPORT {
            return ((port - SPORT) as usize) < self.ss.len();
        }
        self.fakes.get(&port).is_some_and(|f| f.alive)
    }

    fn client_id(i: usize, link: LinkId) -> ClientId {
        (i as u64 + 1) * 1_000_000 + link
    }

    fn absorb(&mut self, i: usize, acts: Vec<Action>) {
        for a in acts {
            match a {
                Action::Connect { link, port, .. } => {
                    if self.reachable(i, port) {
                        self.links.insert((i, link), port);
                        if port >= SPORT {
                            let j = (port - SPORT) as usize;
                            self.queue.push_back((
                                j,
                                Input::ClientOpen {
                                    client: Net::client_id(i, link),
                                    addr: format!("127.0.0.1:{link}"),
                                },
                            ));
                        }
                        self.queue.push_back((
                            i,
                            Input::LinkUp {
                                link,
                                local_ip: "127.0.0.1".into(),
                            },
                        ));
                    } else {
                        self.queue.push_back((i, Input::LinkDown { link }));
                    }
                }
                Action::Send { link, bytes } => {
                    let Some(&port) = self.links.get(&(i, link)) else {
                        continue;
                    };
                    if !self.reachable(i, port) {
                        continue; // lost in the partition
                    }
                    for args in args_of(&bytes) {
                        self.deliver(i, link, port, args);
                    }
                }
                Action::Close { link } => {
                    self.links.remove(&(i, link));
                    for v in self.subs.values_mut() {
                        v.retain(|s| *s != (i, link));
                    }
                }
                Action::ToClient { client, bytes } => {
                    // A reply from sentinel i to sentinel (client / 1e6 - 1).
                    let from = (client / 1_000_000) as usize;
                    if from == 0 {
                        continue;
                    }
                    let link = client % 1_000_000;
                    let mut pos = 0;
                    while let Ok(Some((v, n))) = wire::parse(&bytes[pos..]) {
                        pos += n;
                        self.queue
                            .push_back((from - 1, Input::LinkReply { link, reply: v }));
                    }
                }
                Action::Log { msg, .. } if msg.starts_with('+') || msg.starts_with('-') => {
                    self.events.push((i, self.now, msg));
                }
                _ => {}
            }
        }
    }

    fn deliver(&mut self, i: usize, link: LinkId, port: u16, args: Vec<Vec<u8>>) {
        if port >= SPORT {
            let j = (port - SPORT) as usize;
            self.queue.push_back((
                j,
                Input::ClientCommand {
                    client: Net::client_id(i, link),
                    args,
                },
            ));
            return;
        }
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        let reply = match name.as_str() {
            "SUBSCRIBE" => {
                self.subs.entry(port).or_default().push((i, link));
                RVal::Array(vec![
                    RVal::Bulk(b"subscribe".to_vec()),
                    RVal::Bulk(args[1].clone()),
                    RVal::Int(1),
                ])
            }
            "PUBLISH" => {
                let subs = self.subs.get(&port).cloned().unwrap_or_default();
                for (k, l) in &subs {
                    if (self.blocked)(*k, port) {
                        continue;
                    }
                    let msg = RVal::Array(vec![
                        RVal::Bulk(b"message".to_vec()),
                        RVal::Bulk(args[1].clone()),
                        RVal::Bulk(args[2].clone()),
                    ]);
                    self.queue.push_back((
                        *k,
                        Input::LinkReply {
                            link: *l,
                            reply: msg,
                        },
                    ));
                }
                RVal::Int(subs.len() as i64)
            }
            _ => {
                // The single-sentinel fake logic (PING, INFO, REPLICAOF...).
                let mut one = Sim {
                    s: Sentinel::new(SentinelConf::default(), "", SentinelEnv::default(), 0, 0).0,
                    now: self.now,
                    links: BTreeMap::new(),
                    fakes: std::mem::take(&mut self.fakes),
                    peers: BTreeMap::new(),
                    events: Vec::new(),
                    saved: Vec::new(),
                    hellos: Vec::new(),
                    pending: VecDeque::new(),
                };
                let r = one.answer(port, &args);
                self.fakes = std::mem::take(&mut one.fakes);
                match r {
                    Some(r) => r,
                    None => return,
                }
            }
        };
        self.queue.push_back((i, Input::LinkReply { link, reply }));
    }

    fn drain(&mut self) {
        while let Some((i, input)) = self.queue.pop_front() {
            let acts = self.ss[i].handle(self.now, input);
            self.absorb(i, acts);
        }
    }

    /// Advance in 10 ms steps; each sentinel ticks at the period its core
    /// chose (so seeds change who acts first).
    fn run(&mut self, ms: i64) {
        let end = self.now + ms;
        while self.now < end {
            self.now += 10;
            for i in 0..self.ss.len() {
                if self.now >= self.next_tick[i] {
                    self.next_tick[i] = self.now + self.ss[i].tick_period_ms() as i64;
                    self.queue.push_back((i, Input::Tick));
                    self.drain();
                }
            }
        }
    }

    /// Drop every connection touching `port` (a crash) or sentinel `i`.
    fn drop_links(&mut self, pred: impl Fn(usize, u16) -> bool) {
        let dead: Vec<(usize, LinkId)> = self
            .links
            .iter()
            .filter(|((i, _), p)| pred(*i, **p))
            .map(|(k, _)| *k)
            .collect();
        for (i, l) in dead {
            self.links.remove(&(i, l));
            self.queue.push_back((i, Input::LinkDown { link: l }));
        }
        self.drain();
    }

    fn addr(&self, i: usize) -> u16 {
        self.ss[i].master_addr("mymaster").map(|a| a.1).unwrap_or(0)
    }
}

#[test]
fn three_sentinels_agree_and_fail_over() {
    let mut net = Net::new(3, 2, three());
    net.run(5000);
    for s in &net.ss {
        let m = &s.masters["mymaster"];
        assert_eq!((m.slaves.len(), m.sentinels.len()), (2, 2), "discovery");
    }
    net.fakes.get_mut(&6379).expect("m").alive = false;
    net.drop_links(|_, p| p == 6379);
    net.run(10_000);
    let new = net.addr(0);
    assert!(new == 6380 || new == 6381, "{:#?}", net.events);
    assert!((0..3).all(|i| net.addr(i) == new), "all agree");
    // Exactly one sentinel was elected and promoted.
    let leaders: BTreeSet<usize> = net
        .events
        .iter()
        .filter(|(_, _, e)| e.starts_with("+elected-leader"))
        .map(|(i, _, _)| *i)
        .collect();
    assert_eq!(leaders.len(), 1, "{:#?}", net.events);
    let promotions = net
        .events
        .iter()
        .filter(|(_, _, e)| e.starts_with("+promoted-slave"))
        .count();
    assert_eq!(promotions, 1);
    let other = if new == 6380 { 6381 } else { 6380 };
    assert_eq!(net.fakes[&other].master, Some(new));
    // Everyone moved to the same epoch, and the non-leaders learnt the
    // switch from hello messages.
    assert!(net
        .ss
        .iter()
        .all(|s| s.masters["mymaster"].config_epoch >= 1));
    assert!(net
        .events
        .iter()
        .any(|(i, _, e)| !leaders.contains(i) && e.starts_with("+config-update-from")));
}

#[test]
fn isolated_sentinel_cannot_fail_over_alone() {
    // Five sentinels, quorum 2. Sentinel 0 is partitioned away from the
    // others and sees the master "down" by itself: it must not get ODOWN
    // (the others cannot answer) and must never promote.
    let mut net = Net::new(5, 2, three());
    net.run(5000);
    net.blocked = |i, p| i == 0 || p == SPORT;
    net.drop_links(|i, p| i == 0 || p == SPORT);
    net.run(20_000);
    assert!(net
        .events
        .iter()
        .any(|(i, _, e)| *i == 0 && e.starts_with("+sdown master")));
    assert!(
        !net.events
            .iter()
            .any(|(i, _, e)| *i == 0 && e.starts_with("+odown")),
        "{:#?}",
        net.events
    );
    assert!(!net
        .events
        .iter()
        .any(|(_, _, e)| e.starts_with("+promoted-slave")));
    assert_eq!(net.fakes[&6380].master, Some(6379));
    // The majority side never saw the master down.
    assert!((1..5).all(|i| net.addr(i) == 6379));
}

#[test]
fn minority_with_quorum_gets_odown_but_no_authorization() {
    // Five sentinels, quorum 2: sentinels 0 and 1 lose the master (and the
    // other three sentinels); the master is fine for 2, 3, 4. 0 and 1 agree
    // on ODOWN (quorum 2) but a leader needs 3 of 5 votes: no failover.
    let mut net = Net::new(5, 2, three());
    net.run(5000);
    // 0 and 1 reach only each other; 2, 3, 4 everything but 0 and 1.
    fn side(i: usize, p: u16) -> bool {
        (i <= 1) != (p == SPORT || p == SPORT + 1)
    }
    net.blocked = side;
    net.drop_links(side);
    net.run(20_000);
    let odown_minority = net
        .events
        .iter()
        .any(|(i, _, e)| *i <= 1 && e.starts_with("+odown"));
    assert!(odown_minority, "{:#?}", net.events);
    assert!(net
        .events
        .iter()
        .any(|(i, _, e)| *i <= 1 && e.starts_with("+try-failover")));
    assert!(
        !net.events
            .iter()
            .any(|(_, _, e)| e.starts_with("+elected-leader")),
        "{:#?}",
        net.events
    );
    assert!(net
        .events
        .iter()
        .any(|(_, _, e)| e.starts_with("-failover-abort-not-elected")));
    assert_eq!(net.fakes[&6380].master, Some(6379));
}

/// No two sentinels were elected leader in the same epoch.
fn one_leader_per_epoch(net: &Net) -> BTreeMap<u64, usize> {
    let mut epoch = vec![0u64; net.ss.len()];
    let mut leaders: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, _, e) in &net.events {
        if let Some(n) = e.strip_prefix("+new-epoch ") {
            epoch[*i] = n.parse().expect("epoch");
        }
        if e.starts_with("+elected-leader") {
            let prev = leaders.insert(epoch[*i], *i);
            assert!(
                prev.is_none_or(|p| p == *i),
                "two leaders in epoch {}: {:#?}",
                epoch[*i],
                net.events
            );
        }
    }
    leaders
}

#[test]
fn failover_converges_for_many_seeds() {
    // Different seeds give different timer phases and election jitter
    // (split votes are possible). Every run must end with one master that
    // all sentinels agree on and every other instance replicating from it,
    // with at most one leader per epoch; the same seed gives the same run.
    //
    // With down-after-milliseconds 1000, Redis's algorithm can fail over a
    // second time: after the switch the new master's link reconnects up to
    // 1 s later (the reconnect period), its PING clock started at the
    // switch, and the other sentinels' "master down" answers are still
    // fresh (5 s), so a sentinel may see the new master SDOWN and ODOWN at
    // once. Real Sentinel behaves the same; such runs are counted, and
    // still must converge.
    let mut seen = BTreeSet::new();
    let mut double = 0;
    for seed in 0..40 {
        let run = |seed| {
            let mut net = Net::with_seed(3, 2, three(), seed);
            // The crash lands at a different phase of the PING cycles.
            net.run(5000 + (seed as i64 * 370) % 1000);
            net.fakes.get_mut(&6379).expect("m").alive = false;
            net.drop_links(|_, p| p == 6379);
            net.run(60_000);
            net
        };
        let net = run(seed);
        let new = net.addr(0);
        assert!(new == 6380 || new == 6381, "seed {seed}: {:#?}", net.events);
        assert!((0..3).all(|i| net.addr(i) == new), "seed {seed}: all agree");
        let masters: Vec<u16> = net
            .fakes
            .values()
            .filter(|f| f.alive && f.master.is_none())
            .map(|f| f.port)
            .collect();
        assert_eq!(masters, vec![new], "seed {seed}: one master");
        let other = if new == 6380 { 6381 } else { 6380 };
        assert_eq!(net.fakes[&other].master, Some(new), "seed {seed}");
        let leaders = one_leader_per_epoch(&net);
        if leaders.len() > 1 {
            double += 1;
        }
        let again = run(seed);
        assert_eq!(net.events, again.events, "seed {seed}: deterministic");
        seen.insert(leaders.values().next().copied());
    }
    println!("{double} of 40 runs failed over twice");
    assert!(double < 10, "{double} of 40 runs failed over twice");
    // The seed matters: different sentinels win across seeds.
    assert!(seen.len() > 1, "{seen:?}");
}

#[test]
fn no_second_failover_right_after_the_switch() {
    // A run found by the seed sweep: a sentinel learns the switch from a
    // hello just after a reconnect attempt to the dead master. With Redis's
    // rules it would reach the new master only ~1 s later (reconnect
    // period) while the SDOWN clock started at the switch, and count the
    // other sentinels' fresh "down" answers about the OLD address: SDOWN
    // and ODOWN of a healthy new master, and a second failover. The same
    // race happened with real processes (redsim data nodes, down-after
    // 1000 ms). redsim reconnects to a switched master at once and forgets
    // answers about the old address.
    let mut net = Net::with_seeds(2, three(), &[100, 101, 102]);
    net.run(5880);
    net.fakes.get_mut(&6379).expect("m").alive = false;
    net.drop_links(|_, p| p == 6379);
    net.run(30_000);
    let leaders = one_leader_per_epoch(&net);
    assert_eq!(leaders.len(), 1, "{:#?}", net.events);
    let new = net.addr(0);
    assert!((0..3).all(|i| net.addr(i) == new));
    assert!(
        !net.events
            .iter()
            .any(|(_, _, e)| e.starts_with(&format!("+sdown master mymaster 127.0.0.1 {new}"))),
        "{:#?}",
        net.events
    );
}
