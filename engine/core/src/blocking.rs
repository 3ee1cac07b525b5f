//! Blocking commands: BLPOP & co, BZPOPMIN & co, XREAD/XREADGROUP BLOCK.
//!
//! A command that finds nothing calls `Ctx::block_on`: the client is queued
//! on each of its keys (`Db::blocking`, FIFO) and, with a deadline, in
//! `Clients::timeouts`. Writes that make a key servable signal it
//! (`Keyspace::signal_ready`); after the current top-level command (after a
//! whole EXEC) `Server::handle_ready` re-executes each queued client's
//! command in blocking order, so clients are served first come, first served
//! by the same code that serves non-blocking calls. A re-executed command
//! that still finds nothing calls `block_on` again, which only marks it
//! `reblocked`: it keeps its place. Time comes from the engine clock only.
//!
//! Invariant: a client is in a key's queue iff `client.blocked` lists that
//! key, and in `timeouts` iff it is blocked with a non-zero deadline.

use std::collections::VecDeque;

use crate::cmd::Ctx;
use crate::db::Keyspace;
use crate::resp::Reply;
use crate::server::{ClientHandle, Clients};

#[derive(Debug)]
pub struct Blocked {
    pub db: usize,
    pub keys: Vec<Box<[u8]>>,
    /// Absolute deadline on the engine clock, 0 = forever.
    pub timeout_at_ms: i64,
    /// The command to run again when a key is ready.
    pub argv: Vec<Vec<u8>>,
    /// Command-table index (for re-execution and CLIENT LIST's cmd=).
    pub cmd: usize,
    /// Set by `block_on` during a re-execution that found nothing.
    pub reblocked: bool,
}

pub fn block_on(ctx: &mut Ctx, keys: &[&[u8]], timeout_at_ms: i64, argv: &[&[u8]]) {
    let h = ctx.h;
    let db = ctx.db;
    let c = ctx.clients.get_mut(h);
    if let Some(b) = c.blocked.as_mut() {
        b.reblocked = true;
        return;
    }
    let cmd = c.last_cmd.unwrap_or(0);
    let mut uniq: Vec<Box<[u8]>> = Vec::with_capacity(keys.len());
    for k in keys {
        if !uniq.iter().any(|u| &u[..] == *k) {
            uniq.push((*k).into());
        }
    }
    for k in &uniq {
        ctx.ks.dbs[db]
            .blocking
            .entry(k.clone())
            .or_insert_with(VecDeque::new)
            .push_back(h);
    }
    c.blocked = Some(Box::new(Blocked {
        db,
        keys: uniq,
        timeout_at_ms,
        argv: argv.iter().map(|a| a.to_vec()).collect(),
        cmd,
        reblocked: false,
    }));
    if timeout_at_ms > 0 {
        ctx.clients.timeouts.insert((timeout_at_ms, h));
        ctx.effects.timers_changed = true;
    }
    ctx.clients.blocked += 1;
}

/// Remove `h` from every blocking structure (no reply). No-op if not blocked.
pub fn unblock(ks: &mut Keyspace, clients: &mut Clients, h: ClientHandle) {
    let Some(c) = clients.try_get_mut(h) else {
        return;
    };
    let Some(b) = c.blocked.take() else {
        return;
    };
    for k in &b.keys {
        let d = &mut ks.dbs[b.db];
        if let Some(q) = d.blocking.get_mut(k) {
            q.retain(|&x| x != h);
            if q.is_empty() {
                d.blocking.remove(k);
            }
        }
    }
    if b.timeout_at_ms > 0 {
        clients.timeouts.remove(&(b.timeout_at_ms, h));
    }
    clients.blocked -= 1;
}

/// Unblock `h` with the timeout reply (null array) or, for CLIENT UNBLOCK
/// ERROR, an `-UNBLOCKED` error. Returns false if it was not blocked.
pub fn unblock_with_reply(
    ks: &mut Keyspace,
    clients: &mut Clients,
    h: ClientHandle,
    error: bool,
) -> bool {
    let Some(c) = clients.try_get_mut(h) else {
        return false;
    };
    if c.blocked.is_none() {
        return false;
    }
    let mut r = Reply {
        buf: Vec::new(),
        resp3: c.resp3,
    };
    if error {
        r.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    } else {
        r.null_array();
    }
    c.pending.extend_from_slice(&r.buf);
    unblock(ks, clients, h);
    clients.wake.push(h);
    true
}

/// Time out every client whose deadline is <= now.
pub fn expire_timeouts(ks: &mut Keyspace, clients: &mut Clients, now_ms: i64) {
    while let Some(&(t, h)) = clients.timeouts.first() {
        if t > now_ms {
            break;
        }
        if !unblock_with_reply(ks, clients, h, false) {
            clients.timeouts.remove(&(t, h));
        }
    }
}
