//! The commands a Sentinel answers on its own port: PING, AUTH, HELLO,
//! QUIT, (P)SUBSCRIBE/(P)UNSUBSCRIBE, PUBLISH (hello messages only), INFO,
//! ROLE, CLIENT, COMMAND stubs, SHUTDOWN and SENTINEL with its subcommands.
//! Reply shapes and error texts are Redis 7.0's sentinel mode.
//!
//! Invariant: every reply is written for the client that asked, through
//! `Action::ToClient`; arguments are never trusted (bad numbers, unknown
//! masters and wrong arities get Redis's errors).

use super::*;
use crate::resp::Reply;

fn lower(a: &[u8]) -> String {
    String::from_utf8_lossy(a).to_ascii_lowercase()
}

fn text(a: &[u8]) -> String {
    String::from_utf8_lossy(a).into_owned()
}

fn reply_for(s: &Sentinel, client: ClientId) -> Reply {
    let mut r = Reply::new();
    r.resp3 = s.g.clients.get(&client).is_some_and(|c| c.resp3);
    r
}

fn send(s: &mut Sentinel, client: ClientId, r: Reply) {
    if !r.buf.is_empty() {
        s.g.out.push(Action::ToClient {
            client,
            bytes: r.buf,
        });
    }
}

fn wrong_arity(r: &mut Reply, name: &str) {
    r.error(&format!(
        "ERR wrong number of arguments for '{name}' command"
    ));
}

const NO_MASTER: &str = "ERR No such master with that name";

pub fn command(s: &mut Sentinel, client: ClientId, args: &[Vec<u8>]) {
    let Some(first) = args.first() else {
        return;
    };
    if !s.g.clients.contains_key(&client) {
        return;
    }
    s.g.total_commands += 1;
    let name = lower(first);
    let mut r = reply_for(s, client);
    let (authed, subscribed) = match s.g.clients.get_mut(&client) {
        Some(c) => {
            c.last_cmd = name.clone();
            (c.authed, c.subscriptions() > 0 && !c.resp3)
        }
        None => return,
    };
    if !authed && !matches!(name.as_str(), "auth" | "hello") {
        r.error("NOAUTH Authentication required.");
        return send(s, client, r);
    }
    if subscribed
        && !matches!(
            name.as_str(),
            "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "ping" | "quit" | "reset"
        )
    {
        r.error(&format!(
            "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        ));
        return send(s, client, r);
    }
    match name.as_str() {
        "ping" => {
            if args.len() > 2 {
                wrong_arity(&mut r, "ping");
            } else if subscribed {
                r.array(2);
                r.bulk(b"pong");
                r.bulk(args.get(1).map_or(&b""[..], |a| a.as_slice()));
            } else if let Some(a) = args.get(1) {
                r.bulk(a);
            } else {
                r.simple("PONG");
            }
        }
        "auth" => auth(s, client, args, &mut r),
        "hello" => hello(s, client, args, &mut r),
        "subscribe" | "psubscribe" => {
            if args.len() < 2 {
                wrong_arity(&mut r, &name);
            } else {
                let pat = name == "psubscribe";
                if let Some(c) = s.g.clients.get_mut(&client) {
                    for ch in &args[1..] {
                        if pat {
                            c.patterns.insert(ch.clone());
                        } else {
                            c.channels.insert(ch.clone());
                        }
                        r.push(3);
                        r.bulk(name.as_bytes());
                        r.bulk(ch);
                        r.int(c.subscriptions() as i64);
                    }
                }
            }
        }
        "unsubscribe" | "punsubscribe" => {
            let pat = name == "punsubscribe";
            if let Some(c) = s.g.clients.get_mut(&client) {
                let targets: Vec<Vec<u8>> = if args.len() > 1 {
                    args[1..].to_vec()
                } else if pat {
                    c.patterns.iter().cloned().collect()
                } else {
                    c.channels.iter().cloned().collect()
                };
                if targets.is_empty() {
                    r.push(3);
                    r.bulk(name.as_bytes());
                    r.null();
                    r.int(c.subscriptions() as i64);
                }
                for ch in targets {
                    if pat {
                        c.patterns.remove(&ch);
                    } else {
                        c.channels.remove(&ch);
                    }
                    r.push(3);
                    r.bulk(name.as_bytes());
                    r.bulk(&ch);
                    r.int(c.subscriptions() as i64);
                }
            }
        }
        "publish" => {
            if args.len() != 3 {
                wrong_arity(&mut r, "publish");
            } else if args[1] != HELLO_CHANNEL.as_bytes() {
                r.error("ERR Only HELLO messages are accepted by Sentinel instances.");
            } else {
                let msg = text(&args[2]);
                if !msg.contains(&s.g.myid) {
                    s.process_hello(&msg);
                }
                r.int(1);
            }
        }
        "info" => {
            let section = args
                .get(1)
                .map(|a| lower(a))
                .unwrap_or_else(|| "default".into());
            let t = info(s, &section);
            r.verbatim(t.as_bytes());
        }
        "role" => {
            r.array(2);
            r.bulk(b"sentinel");
            r.array(s.masters.len());
            for n in s.masters.keys() {
                r.bulk(n.as_bytes());
            }
        }
        "client" => client_cmd(s, client, args, &mut r),
        "command" => match args.get(1).map(|a| lower(a)).as_deref() {
            Some("count") => r.int(0),
            _ => r.array(0),
        },
        "shutdown" => {
            // The config is saved before the exit (actions run in order).
            s.g.dirty = true;
            s.flush_if_dirty();
            s.g.out.push(Action::Shutdown);
            return;
        }
        "sentinel" => sentinel_cmd(s, args, &mut r),
        _ => {
            let mut msg = format!(
                "ERR unknown command '{}', with args beginning with: ",
                text(first)
            );
            for a in args.iter().skip(1) {
                msg.push_str(&format!("'{}' ", text(a)));
            }
            r.error(&msg);
        }
    }
    send(s, client, r);
}

fn auth(s: &mut Sentinel, client: ClientId, args: &[Vec<u8>], r: &mut Reply) {
    if args.len() < 2 || args.len() > 3 {
        return wrong_arity(r, "auth");
    }
    let Some(pass) = s.g.conf.requirepass.clone() else {
        r.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        return;
    };
    let user_ok = args.len() == 2 || args[1] == b"default";
    if user_ok && args[args.len() - 1] == pass.as_bytes() {
        if let Some(c) = s.g.clients.get_mut(&client) {
            c.authed = true;
        }
        r.ok();
    } else {
        r.error("WRONGPASS invalid username-password pair or user is disabled.");
    }
}

fn hello(s: &mut Sentinel, client: ClientId, args: &[Vec<u8>], r: &mut Reply) {
    let mut i = 1;
    let mut proto = None;
    if let Some(v) = args.get(1) {
        match std::str::from_utf8(v)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
        {
            Some(p @ 2..=3) => proto = Some(p),
            Some(_) => return r.error("NOPROTO unsupported protocol version"),
            None => return r.error("ERR Protocol version is not an integer or out of range"),
        }
        i = 2;
    }
    let mut setname = None;
    while i < args.len() {
        match lower(&args[i]).as_str() {
            "auth" if i + 2 < args.len() => {
                let ok = s.g.conf.requirepass.as_deref().map(str::as_bytes)
                    == Some(&args[i + 2][..])
                    && args[i + 1] == b"default";
                if !ok {
                    return r
                        .error("WRONGPASS invalid username-password pair or user is disabled.");
                }
                if let Some(c) = s.g.clients.get_mut(&client) {
                    c.authed = true;
                }
                i += 3;
            }
            "setname" if i + 1 < args.len() => {
                setname = Some(text(&args[i + 1]));
                i += 2;
            }
            _ => {
                return r.error(&format!(
                    "ERR Syntax error in HELLO option '{}'",
                    text(&args[i])
                ))
            }
        }
    }
    let Some(c) = s.g.clients.get_mut(&client) else {
        return;
    };
    if !c.authed {
        return r.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(n) = setname {
        c.name = n;
    }
    if let Some(p) = proto {
        c.resp3 = p == 3;
        r.resp3 = c.resp3;
    }
    r.map(6);
    r.bulk(b"server");
    r.bulk(b"redis");
    r.bulk(b"version");
    r.bulk(s.g.env.version.as_bytes());
    r.bulk(b"proto");
    r.int(if r.resp3 { 3 } else { 2 });
    r.bulk(b"id");
    r.int(client as i64);
    r.bulk(b"mode");
    r.bulk(b"sentinel");
    r.bulk(b"modules");
    r.array(0);
}

fn client_cmd(s: &mut Sentinel, client: ClientId, args: &[Vec<u8>], r: &mut Reply) {
    let sub = args.get(1).map(|a| lower(a)).unwrap_or_default();
    let now = s.g.now;
    match sub.as_str() {
        "setname" if args.len() == 3 => {
            if args[2].iter().any(|&c| c <= b' ' || c > b'~') {
                return r.error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            }
            if let Some(c) = s.g.clients.get_mut(&client) {
                c.name = text(&args[2]);
            }
            r.ok();
        }
        "getname" if args.len() == 2 => match s.g.clients.get(&client) {
            Some(c) if !c.name.is_empty() => r.bulk(c.name.as_bytes()),
            _ => r.null(),
        },
        "id" if args.len() == 2 => r.int(client as i64),
        "setinfo" if args.len() == 4 => r.ok(),
        "info" if args.len() == 2 => {
            let line =
                s.g.clients
                    .get(&client)
                    .map(|c| client_line(client, c, now))
                    .unwrap_or_default();
            r.verbatim(line.as_bytes());
        }
        "list" => {
            let mut t = String::new();
            for (id, c) in &s.g.clients {
                t.push_str(&client_line(*id, c, now));
            }
            r.verbatim(t.as_bytes());
        }
        "kill" if args.len() >= 3 => {
            // CLIENT KILL addr | CLIENT KILL ID n | CLIENT KILL ADDR a
            let (by_id, target) = if args.len() == 3 {
                (false, text(&args[2]))
            } else {
                (lower(&args[2]) == "id", text(&args[3]))
            };
            let victims: Vec<ClientId> =
                s.g.clients
                    .iter()
                    .filter(|(id, c)| {
                        if by_id {
                            id.to_string() == target
                        } else {
                            c.addr == target
                        }
                    })
                    .map(|(id, _)| *id)
                    .collect();
            if args.len() == 3 && victims.is_empty() {
                return r.error("ERR No such client");
            }
            for v in &victims {
                s.g.out.push(Action::CloseClient { client: *v });
            }
            if args.len() == 3 {
                r.ok();
            } else {
                r.int(victims.len() as i64);
            }
        }
        _ => r.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            text(args.get(1).map_or(&b""[..], |a| a.as_slice()))
        )),
    }
}

fn client_line(id: ClientId, c: &Client, now: i64) -> String {
    format!(
        "id={id} addr={} laddr= fd=0 name={} age={} idle=0 flags=N db=0 sub={} psub={} ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={}\n",
        c.addr,
        c.name,
        (now - c.created_ms).max(0) / 1000,
        c.channels.len(),
        c.patterns.len(),
        if c.last_cmd.is_empty() { "NULL" } else { &c.last_cmd },
        if c.resp3 { 3 } else { 2 }
    )
}

fn info(s: &Sentinel, section: &str) -> String {
    let all = matches!(section, "all" | "everything" | "default");
    let mut out = String::new();
    let now = s.g.now;
    let mut add = |name: &str, body: String| {
        if all || section == name {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            out.push_str(&format!("# {}\r\n", capitalize(name)));
            out.push_str(&body);
        }
    };
    let e = &s.g.env;
    let uptime = (now - e.start_ms).max(0) / 1000;
    add(
        "server",
        format!(
            "redis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:sentinel\r\nos:{}\r\narch_bits:64\r\nmultiplexing_api:tokio\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\nexecutable:{}\r\nconfig_file:{}\r\n",
            e.version,
            e.os,
            e.pid,
            s.g.run_id,
            s.g.conf.port,
            now.max(0) * 1000,
            uptime,
            uptime / 86400,
            e.executable,
            e.config_file
        ),
    );
    let pubsub_channels: BTreeSet<&Vec<u8>> =
        s.g.clients
            .values()
            .flat_map(|c| c.channels.iter())
            .collect();
    let pubsub_patterns: usize = s.g.clients.values().map(|c| c.patterns.len()).sum();
    add(
        "clients",
        format!(
            "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:10000\r\nblocked_clients:0\r\ntracking_clients:0\r\n",
            s.g.clients.len()
        ),
    );
    add(
        "stats",
        format!(
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\n",
            s.g.total_connections,
            s.g.total_commands,
            pubsub_channels.len(),
            pubsub_patterns
        ),
    );
    let mut body = format!(
        "sentinel_masters:{}\r\nsentinel_tilt:{}\r\nsentinel_tilt_since_seconds:{}\r\nsentinel_running_scripts:0\r\nsentinel_scripts_queue_length:0\r\nsentinel_simulate_failure_flags:0\r\n",
        s.masters.len(),
        u8::from(s.g.tilt),
        if s.g.tilt { (now - s.g.tilt_start_time) / 1000 } else { -1 }
    );
    for (n, m) in s.masters.values().enumerate() {
        let status = if m.inst.flags & F_O_DOWN != 0 {
            "odown"
        } else if m.inst.flags & F_S_DOWN != 0 {
            "sdown"
        } else {
            "ok"
        };
        let (h, p) = current_master_addr(m);
        body.push_str(&format!(
            "master{n}:name={},status={status},address={}:{p},slaves={},sentinels={}\r\n",
            m.inst.name,
            h,
            m.slaves.len(),
            m.sentinels.len() + 1
        ));
    }
    add("sentinel", body);
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// addReplySentinelRedisInstance: the field/value list of one instance.
fn instance_fields(now: i64, i: &Inst, m: Option<&Master>) -> Vec<(&'static str, String)> {
    let mut f: Vec<(&'static str, String)> = vec![
        ("name", i.name.clone()),
        ("ip", i.host.clone()),
        ("port", i.port.to_string()),
        ("runid", i.runid.clone().unwrap_or_default()),
        ("flags", flags_text(i)),
        ("link-pending-commands", i.link.pending_commands.to_string()),
        ("link-refcount", "1".into()),
    ];
    if let Some(m) = m {
        if m.inst.flags & F_FAILOVER_IN_PROGRESS != 0 {
            f.push(("failover-state", m.failover_state.name().into()));
        }
    }
    let since = |t: i64| {
        if t != 0 {
            (now - t).to_string()
        } else {
            "0".into()
        }
    };
    f.push(("last-ping-sent", since(i.link.act_ping_time)));
    f.push((
        "last-ok-ping-reply",
        (now - i.link.last_avail_time).to_string(),
    ));
    f.push(("last-ping-reply", (now - i.link.last_pong_time).to_string()));
    if i.flags & F_S_DOWN != 0 {
        f.push(("s-down-time", (now - i.s_down_since_time).to_string()));
    }
    if i.flags & F_O_DOWN != 0 {
        f.push(("o-down-time", (now - i.o_down_since_time).to_string()));
    }
    f.push(("down-after-milliseconds", i.down_after_period.to_string()));
    if i.flags & (F_MASTER | F_SLAVE) != 0 {
        f.push(("info-refresh", since(i.info_refresh)));
        f.push((
            "role-reported",
            if i.role_reported == F_MASTER {
                "master"
            } else {
                "slave"
            }
            .into(),
        ));
        f.push((
            "role-reported-time",
            (now - i.role_reported_time).to_string(),
        ));
    }
    if let Some(m) = m {
        f.push(("config-epoch", m.config_epoch.to_string()));
        f.push(("num-slaves", m.slaves.len().to_string()));
        f.push(("num-other-sentinels", m.sentinels.len().to_string()));
        f.push(("quorum", m.quorum.to_string()));
        f.push(("failover-timeout", m.failover_timeout.to_string()));
        f.push(("parallel-syncs", m.parallel_syncs.to_string()));
    }
    if i.flags & F_SLAVE != 0 {
        f.push(("master-link-down-time", i.master_link_down_time.to_string()));
        f.push((
            "master-link-status",
            if i.slave_master_link_up { "ok" } else { "err" }.into(),
        ));
        f.push((
            "master-host",
            i.slave_master_host.clone().unwrap_or_else(|| "?".into()),
        ));
        f.push(("master-port", i.slave_master_port.to_string()));
        f.push(("slave-priority", i.slave_priority.to_string()));
        f.push(("slave-repl-offset", i.slave_repl_offset.to_string()));
        f.push((
            "replica-announced",
            u8::from(i.replica_announced).to_string(),
        ));
    }
    if i.flags & F_SENTINEL != 0 {
        f.push(("last-hello-message", (now - i.last_hello_time).to_string()));
        f.push((
            "voted-leader",
            i.leader.clone().unwrap_or_else(|| "?".into()),
        ));
        f.push(("voted-leader-epoch", i.leader_epoch.to_string()));
    }
    f
}

fn write_fields(r: &mut Reply, f: &[(&'static str, String)]) {
    r.map(f.len());
    for (k, v) in f {
        r.bulk(k.as_bytes());
        r.bulk(v.as_bytes());
    }
}

fn parse_num(a: &[u8]) -> Option<i64> {
    crate::util::parse_i64(a)
}

fn sentinel_cmd(s: &mut Sentinel, args: &[Vec<u8>], r: &mut Reply) {
    let Some(sub) = args.get(1).map(|a| lower(a)) else {
        return wrong_arity(r, "sentinel");
    };
    let n = args.len();
    let now = s.g.now;
    let arity_ok = match sub.as_str() {
        "masters" | "myid" | "flushconfig" | "pending-scripts" | "help" => n == 2,
        "master"
        | "replicas"
        | "slaves"
        | "sentinels"
        | "get-master-addr-by-name"
        | "failover"
        | "ckquorum"
        | "reset"
        | "remove" => n == 3,
        "monitor" => n == 6,
        "is-master-down-by-addr" => n == 6,
        "set" => n >= 5 && n % 2 == 1,
        "config" => n >= 4,
        "info-cache" | "simulate-failure" | "debug" => n >= 2,
        _ => true,
    };
    if !arity_ok {
        return wrong_arity(r, &format!("sentinel|{sub}"));
    }
    let master_name = args.get(2).map(|a| text(a)).unwrap_or_default();
    match sub.as_str() {
        "masters" => {
            r.array(s.masters.len());
            for m in s.masters.values() {
                write_fields(r, &instance_fields(now, &m.inst, Some(m)));
            }
        }
        "master" => match s.masters.get(&master_name) {
            Some(m) => write_fields(r, &instance_fields(now, &m.inst, Some(m))),
            None => r.error(NO_MASTER),
        },
        "replicas" | "slaves" => match s.masters.get(&master_name) {
            Some(m) => {
                r.array(m.slaves.len());
                for sl in m.slaves.values() {
                    write_fields(r, &instance_fields(now, sl, None));
                }
            }
            None => r.error(NO_MASTER),
        },
        "sentinels" => match s.masters.get(&master_name) {
            Some(m) => {
                r.array(m.sentinels.len());
                for sl in m.sentinels.values() {
                    write_fields(r, &instance_fields(now, sl, None));
                }
            }
            None => r.error(NO_MASTER),
        },
        "get-master-addr-by-name" => match s.master_addr(&master_name) {
            Some((h, p)) => {
                r.array(2);
                r.bulk(h.as_bytes());
                r.bulk(p.to_string().as_bytes());
            }
            None => r.null_array(),
        },
        "myid" => r.bulk(s.g.myid.as_bytes()),
        "flushconfig" => {
            s.g.dirty = true;
            r.ok();
        }
        "pending-scripts" => r.array(0),
        "simulate-failure" => r.ok(),
        "failover" => {
            let Some(m) = s.masters.get_mut(&master_name) else {
                return r.error(NO_MASTER);
            };
            if m.inst.flags & F_FAILOVER_IN_PROGRESS != 0 {
                return r.error("INPROG Failover already in progress");
            }
            if select_slave(now, m).is_none() {
                return r.error("NOGOODSLAVE No suitable replica to promote");
            }
            s.g.log(
                LogLevel::Warning,
                format!("Executing user requested FAILOVER of '{master_name}'"),
            );
            start_failover(&mut s.g, m);
            m.inst.flags |= F_FORCE_FAILOVER;
            r.ok();
        }
        "ckquorum" => {
            let Some(m) = s.masters.get(&master_name) else {
                return r.error(NO_MASTER);
            };
            let voters = m.sentinels.len() + 1;
            let usable = 1 + m
                .sentinels
                .values()
                .filter(|x| x.flags & (F_S_DOWN | F_O_DOWN) == 0)
                .count();
            let noquorum = usable < m.quorum as usize;
            let noauth = usable < voters / 2 + 1;
            if !noquorum && !noauth {
                r.simple(&format!(
                    "OK {usable} usable Sentinels. Quorum and failover authorization can be reached"
                ));
            } else {
                let mut e = format!("NOQUORUM {usable} usable Sentinels. ");
                if noquorum {
                    e.push_str("Not enough available Sentinels to reach the specified quorum for this master");
                }
                if noauth {
                    if noquorum {
                        e.push_str(". ");
                    }
                    e.push_str("Not enough available Sentinels to reach the majority and authorize a failover");
                }
                r.error(&e);
            }
        }
        "reset" => {
            let pat = args[2].clone();
            let names: Vec<String> = s
                .masters
                .keys()
                .filter(|k| crate::util::glob_match(&pat, k.as_bytes(), false))
                .cloned()
                .collect();
            for k in &names {
                if let Some(m) = s.masters.get_mut(k) {
                    reset_master(&mut s.g, m, true, true);
                }
            }
            if !names.is_empty() {
                s.g.dirty = true;
            }
            r.int(names.len() as i64);
        }
        "monitor" => {
            let host = text(&args[3]);
            let Some(port) = parse_num(&args[4]) else {
                return r.error("ERR value is not an integer or out of range");
            };
            let Some(quorum) = parse_num(&args[5]) else {
                return r.error("ERR value is not an integer or out of range");
            };
            if quorum <= 0 {
                return r.error("ERR Quorum must be 1 or greater.");
            }
            if !(1..=65535).contains(&port) {
                return r.error("ERR Invalid port number");
            }
            if host.is_empty() || host.contains(' ') {
                return r.error("ERR Invalid IP address or hostname specified");
            }
            if s.masters.contains_key(&master_name) {
                return r.error("ERR Duplicate master name.");
            }
            let mc = MasterConf::new(&master_name, &host, port as u16, quorum as u32);
            let m = new_master(&mc, now);
            let text = format!("{} quorum {}", at(&m.inst, &mref(&m)), m.quorum);
            s.masters.insert(master_name.clone(), m);
            s.g.dirty = true;
            s.g.event(LogLevel::Warning, "+monitor", text);
            r.ok();
        }
        "remove" => {
            let Some(mut m) = s.masters.remove(&master_name) else {
                return r.error(NO_MASTER);
            };
            let text = at(&m.inst, &mref(&m));
            s.g.event(LogLevel::Warning, "-monitor", text);
            reset_master(&mut s.g, &mut m, true, false);
            s.g.dirty = true;
            r.ok();
        }
        "set" => sentinel_set(s, args, r),
        "is-master-down-by-addr" => {
            let host = text(&args[2]);
            let (Some(port), Some(req_epoch)) = (parse_num(&args[3]), parse_num(&args[4])) else {
                return r.error("ERR value is not an integer or out of range");
            };
            let runid = text(&args[5]);
            let tilt = s.g.tilt;
            let key = s
                .masters
                .iter()
                .find(|(_, m)| {
                    i64::from(m.inst.port) == port && m.inst.host.eq_ignore_ascii_case(&host)
                })
                .map(|(k, _)| k.clone());
            let mut isdown = false;
            let mut leader = None;
            let mut leader_epoch = 0u64;
            if let Some(m) = key.and_then(|k| s.masters.get_mut(&k)) {
                isdown = !tilt && m.inst.flags & F_S_DOWN != 0;
                if runid != "*" {
                    let (l, e) = vote_leader(&mut s.g, m, req_epoch.max(0) as u64, &runid);
                    leader = l;
                    leader_epoch = e;
                }
            }
            r.array(3);
            r.int(i64::from(isdown));
            r.bulk(leader.as_deref().unwrap_or("*").as_bytes());
            r.int(leader_epoch as i64);
        }
        "info-cache" => {
            let names: Vec<String> = if n > 2 {
                args[2..]
                    .iter()
                    .map(|a| text(a))
                    .filter(|k| s.masters.contains_key(k))
                    .collect()
            } else {
                s.masters.keys().cloned().collect()
            };
            r.array(names.len() * 2);
            for k in names {
                let Some(m) = s.masters.get(&k) else {
                    continue;
                };
                r.bulk(k.as_bytes());
                let insts: Vec<&Inst> = std::iter::once(&m.inst).chain(m.slaves.values()).collect();
                r.array(insts.len());
                for i in insts {
                    r.array(2);
                    r.int(if i.info_refresh == 0 {
                        0
                    } else {
                        now - i.info_refresh
                    });
                    if i.info.is_empty() {
                        r.null();
                    } else {
                        r.bulk(i.info.as_bytes());
                    }
                }
            }
        }
        "config" => {
            let op = lower(&args[2]);
            match op.as_str() {
                "get" if n == 4 => {
                    let pat = args[3].clone();
                    let params: Vec<(&str, String)> = vec![
                        ("resolve-hostnames", "no".into()),
                        ("announce-hostnames", "no".into()),
                        (
                            "announce-ip",
                            s.g.conf.announce_ip.clone().unwrap_or_default(),
                        ),
                        (
                            "announce-port",
                            s.g.conf.announce_port.unwrap_or(0).to_string(),
                        ),
                        ("sentinel-user", String::new()),
                        ("sentinel-pass", String::new()),
                    ];
                    let hits: Vec<_> = params
                        .into_iter()
                        .filter(|(k, _)| crate::util::glob_match(&pat, k.as_bytes(), true))
                        .collect();
                    r.map(hits.len());
                    for (k, v) in hits {
                        r.bulk(k.as_bytes());
                        r.bulk(v.as_bytes());
                    }
                }
                "set" if n == 5 => {
                    let v = text(&args[4]);
                    match lower(&args[3]).as_str() {
                        "announce-ip" => {
                            s.g.conf.announce_ip = if v.is_empty() { None } else { Some(v) };
                            s.g.dirty = true;
                            r.ok();
                        }
                        "announce-port" => match v.parse::<u16>() {
                            Ok(p) => {
                                s.g.conf.announce_port = if p == 0 { None } else { Some(p) };
                                s.g.dirty = true;
                                r.ok();
                            }
                            Err(_) => r.error("ERR Invalid value for announce-port"),
                        },
                        "resolve-hostnames" | "announce-hostnames" => r.ok(),
                        _ => r.error(&format!(
                            "ERR Invalid argument '{}' to SENTINEL CONFIG SET",
                            text(&args[3])
                        )),
                    }
                }
                _ => r.error(
                    "ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported.",
                ),
            }
        }
        "help" => {
            let lines = [
                "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CKQUORUM <master-name>",
                "    Check if the current Sentinel configuration is able to reach the quorum",
                "    needed to failover a master and the majority needed to authorize the",
                "    failover.",
                "CONFIG SET <param> <value>",
                "    Set a global Sentinel configuration parameter.",
                "CONFIG GET <param>",
                "    Get global Sentinel configuration parameter.",
                "DEBUG [<param> <value> ...]",
                "    Show a list of configurable time parameters and their values (milliseconds).",
                "    Or update current configurable parameters values (one or more).",
                "GET-MASTER-ADDR-BY-NAME <master-name>",
                "    Return the ip and port number of the master with that name.",
                "FAILOVER <master-name>",
                "    Manually failover a master node without asking for agreement from other",
                "    Sentinels",
                "FLUSHCONFIG",
                "    Force Sentinel to rewrite its configuration on disk, including the current",
                "    Sentinel state.",
                "INFO-CACHE <master-name>",
                "    Return last cached INFO output from masters and all its replicas.",
                "IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
                "    Check if the master specified by ip:port is down from current Sentinel's",
                "    point of view.",
                "MASTER <master-name>",
                "    Show the state and info of the specified master.",
                "MASTERS",
                "    Show a list of monitored masters and their state.",
                "MONITOR <name> <ip> <port> <quorum>",
                "    Start monitoring a new master with the specified name, ip, port and quorum.",
                "MYID",
                "    Return the ID of the Sentinel instance.",
                "PENDING-SCRIPTS",
                "    Get pending scripts information.",
                "REMOVE <master-name>",
                "    Remove master from Sentinel's monitor list.",
                "REPLICAS <master-name>",
                "    Show a list of replicas for this master and their state.",
                "RESET <pattern>",
                "    Reset masters for specific master name matching this pattern.",
                "SENTINELS <master-name>",
                "    Show a list of Sentinel instances for this master and their state.",
                "SET <master-name> <option> <value> [<option> <value> ...]",
                "    Set configuration parameters for certain masters.",
                "SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP]",
                "    Simulate a Sentinel crash.",
                "HELP",
                "    Prints this help.",
            ];
            r.array(lines.len());
            for l in lines {
                r.simple(l);
            }
        }
        _ => r.error(&format!(
            "ERR unknown subcommand '{}'. Try SENTINEL HELP.",
            text(&args[1])
        )),
    }
}

fn sentinel_set(s: &mut Sentinel, args: &[Vec<u8>], r: &mut Reply) {
    let name = text(&args[2]);
    let Some(m) = s.masters.get_mut(&name) else {
        return r.error(NO_MASTER);
    };
    let mut changes = Vec::new();
    let mut j = 3;
    while j + 1 < args.len() {
        let opt = lower(&args[j]);
        let val = text(&args[j + 1]);
        let num = parse_num(&args[j + 1]);
        let bad = || format!("ERR Invalid argument '{val}' for SENTINEL SET '{opt}'");
        match opt.as_str() {
            "down-after-milliseconds" => match num {
                Some(v) if v > 0 => {
                    m.inst.down_after_period = v;
                    for x in m.slaves.values_mut().chain(m.sentinels.values_mut()) {
                        x.down_after_period = v;
                    }
                }
                _ => return r.error(&bad()),
            },
            "failover-timeout" => match num {
                Some(v) if v > 0 => m.failover_timeout = v,
                _ => return r.error(&bad()),
            },
            "parallel-syncs" => match num {
                Some(v) if v > 0 => m.parallel_syncs = v,
                _ => return r.error(&bad()),
            },
            "quorum" => match num {
                Some(v) if v > 0 && v <= i64::from(u32::MAX) => m.quorum = v as u32,
                _ => return r.error(&bad()),
            },
            "auth-pass" => {
                m.auth_pass = if val.is_empty() {
                    None
                } else {
                    Some(val.clone())
                }
            }
            "auth-user" => {
                m.auth_user = if val.is_empty() {
                    None
                } else {
                    Some(val.clone())
                }
            }
            _ => {
                return r.error(&format!(
                    "ERR Unknown option or number of arguments for SENTINEL SET '{opt}'"
                ))
            }
        }
        changes.push(format!("{} {} {}", at(&m.inst, &mref(m)), opt, val));
        j += 2;
    }
    for c in changes {
        s.g.event(LogLevel::Warning, "+set", c);
    }
    s.g.dirty = true;
    r.ok();
}
