//! Connection commands: PING ECHO HELLO AUTH SELECT QUIT RESET, CLIENT *, and
//! transactions (MULTI EXEC DISCARD WATCH UNWATCH). Texts from Redis 7's
//! networking.c, multi.c, acl.c.

use super::keys::arg_int;
use super::{arg_i64, Ctx};
use crate::db::Keyspace;
use crate::error::{CmdError, CmdResult};
use crate::server::{Client, Clients, ReplyMode};
use crate::util::eq_ic;

/// The standard HELP reply: the header line, the given lines, then HELP.
pub fn help(ctx: &mut Ctx, name: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

pub fn ping(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 2 {
        return Err(CmdError::Arity("ping".into()));
    }
    let c = ctx.clients.get(ctx.h);
    if !c.resp3 && c.subs.any() {
        // RESP2 subscribed mode: PING answers as a message-shaped array.
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(argv.get(1).copied().unwrap_or(b""));
        return Ok(());
    }
    if argv.len() == 2 {
        ctx.out.bulk(argv[1]);
    } else {
        ctx.out.simple("PONG");
    }
    Ok(())
}

pub fn echo(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(argv[1]);
    Ok(())
}

/// Check a password for `user` against requirepass (the default user only).
fn authenticate(ctx: &mut Ctx, user: &[u8], pass: &[u8]) -> bool {
    let ok = user == b"default"
        && match &ctx.cfg.requirepass {
            None => true,
            Some(p) => p.as_slice() == pass,
        };
    if ok {
        ctx.clients.get_mut(ctx.h).authenticated = true;
    }
    ok
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

pub fn auth(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let (user, pass): (&[u8], &[u8]) = if argv.len() == 2 {
        if ctx.cfg.requirepass.is_none() {
            return Err(CmdError::msg("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
        }
        (b"default", argv[1])
    } else {
        (argv[1], argv[2])
    };
    if authenticate(ctx, user, pass) {
        ctx.out.ok();
        Ok(())
    } else {
        Err(CmdError::msg(WRONGPASS))
    }
}

fn valid_name(n: &[u8]) -> bool {
    n.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

pub fn hello(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut ver = 0;
    let mut j = 1;
    if argv.len() >= 2 {
        ver = crate::util::parse_i64(argv[1]).ok_or_else(|| {
            CmdError::msg("ERR Protocol version is not an integer or out of range")
        })?;
        j = 2;
        if !(2..=3).contains(&ver) {
            return Err(CmdError::msg("NOPROTO unsupported protocol version"));
        }
    }
    let mut creds: Option<(&[u8], &[u8])> = None;
    let mut name: Option<&[u8]> = None;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if eq_ic(argv[j], "auth") && more >= 2 {
            creds = Some((argv[j + 1], argv[j + 2]));
            j += 2;
        } else if eq_ic(argv[j], "setname") && more >= 1 {
            name = Some(argv[j + 1]);
            j += 1;
        } else {
            return Err(CmdError::msg(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(argv[j])
            )));
        }
        j += 1;
    }
    if let Some((u, p)) = creds {
        if !authenticate(ctx, u, p) {
            return Err(CmdError::msg(WRONGPASS));
        }
    }
    if !ctx.clients.get(ctx.h).authenticated {
        return Err(CmdError::msg("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(n) = name {
        set_name(ctx, n)?;
    }
    let c = ctx.clients.get_mut(ctx.h);
    if ver != 0 {
        c.resp3 = ver == 3;
        ctx.out.resp3 = c.resp3;
    }
    let (id, proto) = (c.id, if c.resp3 { 3 } else { 2 });
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(ctx.env.version.as_bytes());
    out.bulk(b"proto");
    out.int(proto);
    out.bulk(b"id");
    out.int(id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

pub fn select(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let id = arg_int(argv[1], None)?;
    if id < 0 || id as usize >= ctx.ks.dbs.len() {
        return Err(CmdError::msg("ERR DB index is out of range"));
    }
    ctx.db = id as usize;
    ctx.clients.get_mut(ctx.h).db = id as usize;
    ctx.out.ok();
    Ok(())
}

pub fn quit(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.clients.get_mut(ctx.h).close_after_reply = true;
    ctx.out.ok();
    Ok(())
}

pub fn reset(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    discard_transaction(ctx.ks, ctx.clients, ctx.h);
    super::pubsub::unsubscribe_all(ctx.clients, ctx.h);
    let auth = ctx.cfg.requirepass.is_none();
    let c = ctx.clients.get_mut(ctx.h);
    c.db = 0;
    c.resp3 = false;
    c.authenticated = auth;
    c.name.clear();
    c.no_evict = false;
    c.reply_mode = ReplyMode::default();
    ctx.db = 0;
    ctx.out.resp3 = false;
    ctx.out.simple("RESET");
    Ok(())
}

pub fn client_id(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let id = ctx.clients.get(ctx.h).id;
    ctx.out.int(id as i64);
    Ok(())
}

fn set_name(ctx: &mut Ctx, n: &[u8]) -> CmdResult {
    if !valid_name(n) {
        return Err(CmdError::msg(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    ctx.clients.get_mut(ctx.h).name = n.to_vec();
    Ok(())
}

pub fn client_setname(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    set_name(ctx, argv[2])?;
    ctx.out.ok();
    Ok(())
}

pub fn client_getname(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = ctx.clients.get(ctx.h);
    if c.name.is_empty() {
        ctx.out.null();
    } else {
        let n = c.name.clone();
        ctx.out.bulk(&n);
    }
    Ok(())
}

pub fn client_setinfo(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let attr = argv[2];
    let val = argv[3];
    let is_name = eq_ic(attr, "lib-name");
    if !is_name && !eq_ic(attr, "lib-ver") {
        return Err(CmdError::msg(format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(attr)
        )));
    }
    if !valid_name(val) {
        return Err(CmdError::msg(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            if is_name { "lib-name" } else { "lib-ver" }
        )));
    }
    let c = ctx.clients.get_mut(ctx.h);
    if is_name {
        c.lib_name = val.to_vec();
    } else {
        c.lib_ver = val.to_vec();
    }
    ctx.out.ok();
    Ok(())
}

/// One CLIENT LIST line, in Redis 7's field order.
pub fn client_line(c: &Client, table: &super::CommandTable, now_ms: i64, out: &mut String) {
    use std::fmt::Write;
    let mut flags = String::new();
    if c.is_replica {
        flags.push('S');
    }
    if c.is_master {
        flags.push('M');
    }
    if c.subs.any() {
        flags.push('P');
    }
    if c.multi.is_some() {
        flags.push('x');
    }
    if c.blocked.is_some() {
        flags.push('b');
    }
    if !c.watched.is_empty() && c.dirty_cas {
        flags.push('d');
    }
    if c.close_after_reply {
        flags.push('c');
    }
    if c.no_evict {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let _ = write!(
        out,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}\n",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        String::from_utf8_lossy(&c.name),
        (now_ms - c.created_ms).max(0) / 1000,
        (now_ms - c.last_ms).max(0) / 1000,
        flags,
        c.db,
        c.subs.channels.len(),
        c.subs.patterns.len(),
        c.subs.shard.len(),
        c.multi.as_ref().map_or(-1, |m| m.len() as i64),
        c.qbuf,
        c.omem,
        c.last_cmd.map_or("NULL", |i| table.cmds[i].fullname.as_str()),
        if c.resp3 { 3 } else { 2 },
        String::from_utf8_lossy(&c.lib_name),
        String::from_utf8_lossy(&c.lib_ver),
    );
}

/// Redis's getClientType: master, replica, pubsub or normal.
fn client_type(c: &Client) -> &'static str {
    if c.is_master {
        "master"
    } else if c.is_replica {
        "replica"
    } else if c.subs.any() {
        "pubsub"
    } else {
        "normal"
    }
}

fn canonical_type(t: &[u8]) -> &'static str {
    if eq_ic(t, "master") {
        "master"
    } else if eq_ic(t, "replica") || eq_ic(t, "slave") {
        "replica"
    } else if eq_ic(t, "pubsub") {
        "pubsub"
    } else {
        "normal"
    }
}

pub fn client_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    if argv.len() == 4 && eq_ic(argv[2], "type") {
        let t = argv[3];
        if !(eq_ic(t, "normal")
            || eq_ic(t, "master")
            || eq_ic(t, "replica")
            || eq_ic(t, "slave")
            || eq_ic(t, "pubsub"))
        {
            return Err(CmdError::msg(format!(
                "ERR Unknown client type '{}'",
                String::from_utf8_lossy(t)
            )));
        }
        let want = canonical_type(t);
        ids = Some(
            ctx.clients
                .iter()
                .filter(|(_, c)| client_type(c) == want)
                .map(|(_, c)| c.id)
                .collect(),
        );
    } else if argv.len() > 3 && eq_ic(argv[2], "id") {
        let mut v = Vec::new();
        for a in &argv[3..] {
            match crate::util::parse_i64(a) {
                Some(n) if n > 0 => v.push(n as u64),
                _ => return Err(CmdError::msg("ERR Invalid client ID")),
            }
        }
        ids = Some(v);
    } else if argv.len() != 2 {
        return Err(CmdError::Syntax);
    }
    let now = ctx.now_ms();
    let mut s = String::new();
    let mut list: Vec<&Client> = ctx.clients.iter().map(|(_, c)| c).collect();
    list.sort_by_key(|c| c.id);
    for c in list {
        if ids.as_ref().is_none_or(|v| v.contains(&c.id)) {
            client_line(c, ctx.table, now, &mut s);
        }
    }
    ctx.out.verbatim(s.as_bytes());
    Ok(())
}

pub fn client_info(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let mut s = String::new();
    client_line(ctx.clients.get(ctx.h), ctx.table, ctx.ks.now_ms, &mut s);
    ctx.out.verbatim(s.as_bytes());
    Ok(())
}

pub fn client_kill(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut id: Option<u64> = None;
    let mut addr: Option<&[u8]> = None;
    let mut laddr: Option<&[u8]> = None;
    let mut ktype: Option<&str> = None;
    let mut skipme = true;
    if argv.len() == 3 {
        addr = Some(argv[2]);
        skipme = false;
    } else if argv.len() > 3 {
        let mut i = 2;
        while i < argv.len() {
            let more = argv.len() > i + 1;
            let (opt, val) = (argv[i], argv.get(i + 1).copied().unwrap_or(b""));
            if eq_ic(opt, "id") && more {
                let v = arg_i64(val).map_err(|_| CmdError::NotInteger)?;
                if v < 1 {
                    return Err(CmdError::msg("ERR client-id should be greater than 0"));
                }
                id = Some(v as u64);
            } else if eq_ic(opt, "type") && more {
                if eq_ic(val, "normal")
                    || eq_ic(val, "master")
                    || eq_ic(val, "replica")
                    || eq_ic(val, "slave")
                    || eq_ic(val, "pubsub")
                {
                    ktype = Some(canonical_type(val));
                } else {
                    return Err(CmdError::msg(format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(val)
                    )));
                }
            } else if eq_ic(opt, "addr") && more {
                addr = Some(val);
            } else if eq_ic(opt, "laddr") && more {
                laddr = Some(val);
            } else if eq_ic(opt, "user") && more {
                if val != b"default" {
                    return Err(CmdError::msg(format!(
                        "ERR No such user '{}'",
                        String::from_utf8_lossy(val)
                    )));
                }
            } else if eq_ic(opt, "skipme") && more {
                if eq_ic(val, "yes") {
                    skipme = true;
                } else if eq_ic(val, "no") {
                    skipme = false;
                } else {
                    return Err(CmdError::Syntax);
                }
            } else {
                return Err(CmdError::Syntax);
            }
            i += 2;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    let me = ctx.h;
    let mut killed = 0;
    let victims: Vec<(usize, u64)> = ctx
        .clients
        .iter()
        .filter(|(h, c)| {
            id.is_none_or(|x| c.id == x)
                && addr.is_none_or(|a| c.addr.as_bytes() == a)
                && laddr.is_none_or(|a| c.laddr.as_bytes() == a)
                && ktype.is_none_or(|t| client_type(c) == t)
                && !(skipme && *h == me)
        })
        .map(|(h, c)| (h, c.id))
        .collect();
    for (h, cid) in victims {
        killed += 1;
        if ctx.clients.get(h).is_master {
            // Our master's link has no connection task: the engine drops it.
            ctx.repl.drop_link = true;
        } else if h == me {
            ctx.clients.get_mut(me).close_after_reply = true;
        } else {
            ctx.effects.kill.push(cid);
        }
    }
    if argv.len() == 3 {
        if killed == 0 {
            return Err(CmdError::msg("ERR No such client"));
        }
        ctx.out.ok();
    } else {
        ctx.out.int(killed);
    }
    Ok(())
}

pub fn client_no_evict(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let on = if eq_ic(argv[2], "on") {
        true
    } else if eq_ic(argv[2], "off") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    ctx.clients.get_mut(ctx.h).no_evict = on;
    ctx.out.ok();
    Ok(())
}

pub fn client_reply(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let c = ctx.clients.get_mut(ctx.h);
    if eq_ic(argv[2], "on") {
        c.reply_mode.off = false;
        c.reply_mode.skip = false;
        ctx.out.ok();
    } else if eq_ic(argv[2], "off") {
        c.reply_mode.off = true;
    } else if eq_ic(argv[2], "skip") {
        if !c.reply_mode.off {
            c.reply_mode.skip_next = true;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

pub fn client_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    help(
        ctx,
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    );
    Ok(())
}

pub fn multi(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let c = ctx.clients.get_mut(ctx.h);
    if c.multi.is_some() {
        return Err(CmdError::msg("ERR MULTI calls can not be nested"));
    }
    c.multi = Some(Vec::new());
    c.multi_error = false;
    ctx.out.ok();
    Ok(())
}

/// Forget every WATCHed key of client `h`.
pub fn unwatch_all(ks: &mut Keyspace, clients: &mut Clients, h: usize) {
    let Some(c) = clients.try_get_mut(h) else {
        return;
    };
    for (db, key) in std::mem::take(&mut c.watched) {
        if let Some(ws) = ks.dbs[db].watched.get_mut(&key) {
            ws.retain(|w| w.0 != h);
            if ws.is_empty() {
                ks.dbs[db].watched.remove(&key);
            }
        }
    }
    c.dirty_cas = false;
}

pub fn discard_transaction(ks: &mut Keyspace, clients: &mut Clients, h: usize) {
    unwatch_all(ks, clients, h);
    let c = clients.get_mut(h);
    c.multi = None;
    c.multi_error = false;
    c.dirty_cas = false;
}

pub fn discard(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    if ctx.clients.get(ctx.h).multi.is_none() {
        return Err(CmdError::msg("ERR DISCARD without MULTI"));
    }
    discard_transaction(ctx.ks, ctx.clients, ctx.h);
    ctx.out.ok();
    Ok(())
}

pub fn exec(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    let h = ctx.h;
    if ctx.clients.get(h).multi.is_none() {
        return Err(CmdError::msg("ERR EXEC without MULTI"));
    }
    // A WATCHed key that expired since WATCH counts as modified.
    let expired_watched = {
        let c = ctx.clients.get(h);
        c.watched.iter().any(|(db, k)| {
            let was_expired = ctx.ks.dbs[*db]
                .watched
                .get(k)
                .and_then(|ws| ws.iter().find(|w| w.0 == h))
                .is_some_and(|w| w.1);
            !was_expired
                && ctx.ks.dbs[*db]
                    .table
                    .find(k)
                    .is_some_and(|i| ctx.ks.is_expired(*db, i))
        })
    };
    let c = ctx.clients.get_mut(h);
    if expired_watched {
        c.dirty_cas = true;
    }
    if c.multi_error || c.dirty_cas {
        let abort = c.multi_error;
        discard_transaction(ctx.ks, ctx.clients, h);
        if abort {
            return Err(CmdError::msg(
                "EXECABORT Transaction discarded because of previous errors.",
            ));
        }
        ctx.out.null_array();
        return Ok(());
    }
    let queued = c.multi.take().unwrap_or_default();
    unwatch_all(ctx.ks, ctx.clients, h);
    ctx.out.array(queued.len());
    let was = ctx.in_exec;
    ctx.in_exec = true;
    for q in &queued {
        let argv: Vec<&[u8]> = q.iter().map(|a| a.as_slice()).collect();
        super::call_in_ctx(ctx, &argv);
    }
    ctx.in_exec = was;
    discard_transaction(ctx.ks, ctx.clients, h);
    Ok(())
}

pub fn watch(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let h = ctx.h;
    if ctx.clients.get(h).multi.is_some() {
        return Err(CmdError::msg("ERR WATCH inside MULTI is not allowed"));
    }
    if ctx.clients.get(h).dirty_cas {
        ctx.out.ok();
        return Ok(());
    }
    let db = ctx.db;
    for k in &argv[1..] {
        let c = ctx.clients.get_mut(h);
        if c.watched.iter().any(|(d, key)| *d == db && &**key == *k) {
            continue;
        }
        c.watched.push((db, (*k).into()));
        let expired = ctx.ks.dbs[db]
            .table
            .find(k)
            .is_some_and(|i| ctx.ks.is_expired(db, i));
        ctx.ks.dbs[db]
            .watched
            .entry((*k).into())
            .or_default()
            .push((h, expired));
    }
    ctx.out.ok();
    Ok(())
}

pub fn unwatch(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    unwatch_all(ctx.ks, ctx.clients, ctx.h);
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: wake a client blocked in a blocking
/// command with its timeout reply or an -UNBLOCKED error.
pub fn client_unblock(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let id = super::arg_i64(argv[2])?;
    let error = match argv.get(3) {
        None => false,
        Some(a) if eq_ic(a, "timeout") => false,
        Some(a) if eq_ic(a, "error") => true,
        Some(_) => {
            return Err(CmdError::msg(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let target = ctx
        .clients
        .iter()
        .find(|(_, c)| c.id as i64 == id)
        .map(|(h, _)| h);
    let done = match target {
        Some(t) => crate::blocking::unblock_with_reply(ctx.ks, ctx.clients, t, error),
        None => false,
    };
    ctx.out.int(i64::from(done));
    Ok(())
}
