//! Pub/Sub: channels, patterns and shard channels; RESP2 subscribed mode
//! (enforced in `Server::process`) and RESP3 push frames; keyspace and
//! keyevent notifications (`Ctx::notify`).
//!
//! Messages for other clients are appended to their `Client::pending` and the
//! client is put on the wake list; a message for the publishing client itself
//! goes straight into its reply stream, so it is ordered before the PUBLISH
//! reply, as in Redis. Each message is encoded once per protocol and copied.
//!
//! Invariant: `PubSub` maps and each client's `ClientSubs` mirror each other
//! (a client is in `channels[c]` iff `c` is in its `subs.channels`).

use std::collections::BTreeSet;

use super::Ctx;
use crate::db::FxMap;
use crate::error::CmdResult;
use crate::resp::Reply;
use crate::server::{ClientHandle, Clients};
use crate::util::glob_match;

/// One client's subscriptions (ordered, so UNSUBSCRIBE-all is deterministic).
#[derive(Debug, Default)]
pub struct ClientSubs {
    pub channels: BTreeSet<Box<[u8]>>,
    pub patterns: BTreeSet<Box<[u8]>>,
    pub shard: BTreeSet<Box<[u8]>>,
}

impl ClientSubs {
    /// Redis's clientSubscriptionsCount (channels + patterns).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// In RESP2, a client with any subscription is in subscribed mode.
    pub fn any(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty() || !self.shard.is_empty()
    }
}

/// Server-wide registry: subscribers in subscription order.
#[derive(Debug, Default)]
pub struct PubSub {
    pub channels: FxMap<Box<[u8]>, Vec<ClientHandle>>,
    pub patterns: FxMap<Box<[u8]>, Vec<ClientHandle>>,
    /// Patterns in first-subscription order (delivery order of pmessages).
    pub pattern_order: Vec<Box<[u8]>>,
    pub shard: FxMap<Box<[u8]>, Vec<ClientHandle>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn sub_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }
    fn unsub_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

fn client_set(subs: &mut ClientSubs, k: Kind) -> &mut BTreeSet<Box<[u8]>> {
    match k {
        Kind::Channel => &mut subs.channels,
        Kind::Pattern => &mut subs.patterns,
        Kind::Shard => &mut subs.shard,
    }
}

fn registry(ps: &mut PubSub, k: Kind) -> &mut FxMap<Box<[u8]>, Vec<ClientHandle>> {
    match k {
        Kind::Channel => &mut ps.channels,
        Kind::Pattern => &mut ps.patterns,
        Kind::Shard => &mut ps.shard,
    }
}

/// The count shown in (un)subscribe confirmations.
fn sub_count(subs: &ClientSubs, k: Kind) -> usize {
    match k {
        Kind::Shard => subs.shard.len(),
        _ => subs.count(),
    }
}

fn confirm(out: &mut Reply, name: &[u8], ch: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(name);
    match ch {
        Some(c) => out.bulk(c),
        None => out.null(),
    }
    out.int(count as i64);
}

fn subscribe_one(clients: &mut Clients, h: ClientHandle, k: Kind, ch: &[u8]) -> bool {
    let c = clients.get_mut(h);
    if !client_set(&mut c.subs, k).insert(ch.into()) {
        return false;
    }
    let reg = registry(&mut clients.pubsub, k);
    match reg.get_mut(ch) {
        Some(v) => v.push(h),
        None => {
            reg.insert(ch.into(), vec![h]);
            if k == Kind::Pattern {
                clients.pubsub.pattern_order.push(ch.into());
            }
        }
    }
    true
}

fn unsubscribe_one(clients: &mut Clients, h: ClientHandle, k: Kind, ch: &[u8]) -> bool {
    let Some(c) = clients.try_get_mut(h) else {
        return false;
    };
    if !client_set(&mut c.subs, k).remove(ch) {
        return false;
    }
    let reg = registry(&mut clients.pubsub, k);
    if let Some(v) = reg.get_mut(ch) {
        v.retain(|&x| x != h);
        if v.is_empty() {
            reg.remove(ch);
            if k == Kind::Pattern {
                clients.pubsub.pattern_order.retain(|p| &p[..] != ch);
            }
        }
    }
    true
}

/// Drop every subscription of `h` (disconnect, RESET), without replies.
pub fn unsubscribe_all(clients: &mut Clients, h: ClientHandle) {
    for k in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        let Some(c) = clients.try_get_mut(h) else {
            return;
        };
        let all: Vec<Box<[u8]>> = client_set(&mut c.subs, k).iter().cloned().collect();
        for ch in all {
            unsubscribe_one(clients, h, k, &ch);
        }
    }
}

fn do_subscribe(ctx: &mut Ctx, argv: &[&[u8]], k: Kind) -> CmdResult {
    for ch in &argv[1..] {
        subscribe_one(ctx.clients, ctx.h, k, ch);
        let n = sub_count(&ctx.clients.get(ctx.h).subs, k);
        confirm(ctx.out, k.sub_name(), Some(ch), n);
    }
    Ok(())
}

fn do_unsubscribe(ctx: &mut Ctx, argv: &[&[u8]], k: Kind) -> CmdResult {
    let h = ctx.h;
    let targets: Vec<Box<[u8]>> = if argv.len() > 1 {
        argv[1..].iter().map(|a| Box::<[u8]>::from(*a)).collect()
    } else {
        client_set(&mut ctx.clients.get_mut(h).subs, k)
            .iter()
            .cloned()
            .collect()
    };
    if targets.is_empty() {
        let n = sub_count(&ctx.clients.get(h).subs, k);
        confirm(ctx.out, k.unsub_name(), None, n);
        return Ok(());
    }
    for ch in targets {
        unsubscribe_one(ctx.clients, h, k, &ch);
        let n = sub_count(&ctx.clients.get(h).subs, k);
        confirm(ctx.out, k.unsub_name(), Some(&ch), n);
    }
    Ok(())
}

pub fn subscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    do_subscribe(ctx, argv, Kind::Channel)
}

pub fn unsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    do_unsubscribe(ctx, argv, Kind::Channel)
}

pub fn psubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    do_subscribe(ctx, argv, Kind::Pattern)
}

pub fn punsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    do_unsubscribe(ctx, argv, Kind::Pattern)
}

pub fn ssubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    do_subscribe(ctx, argv, Kind::Shard)
}

pub fn sunsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    do_unsubscribe(ctx, argv, Kind::Shard)
}

/// A message encoded lazily once per protocol, then copied to each receiver.
struct Encoded<'a> {
    parts: &'a [&'a [u8]],
    resp2: Option<Vec<u8>>,
    resp3: Option<Vec<u8>>,
}

impl<'a> Encoded<'a> {
    fn new(parts: &'a [&'a [u8]]) -> Self {
        Encoded {
            parts,
            resp2: None,
            resp3: None,
        }
    }

    fn bytes(&mut self, resp3: bool) -> &[u8] {
        let slot = if resp3 {
            &mut self.resp3
        } else {
            &mut self.resp2
        };
        slot.get_or_insert_with(|| {
            let mut r = Reply {
                buf: Vec::with_capacity(64),
                resp3,
            };
            r.push(self.parts.len());
            for p in self.parts {
                r.bulk(p);
            }
            r.buf
        })
    }
}

/// The running client, if any: its messages go into its reply stream.
type Current<'a> = Option<(ClientHandle, &'a mut Reply)>;

/// Append a message to client `t`'s stream: the caller's own reply buffer,
/// or its pending output (woken by the shell).
fn deliver(clients: &mut Clients, cur: &mut Current, t: ClientHandle, msg: &mut Encoded) {
    if let Some((h, out)) = cur {
        if *h == t {
            let resp3 = out.resp3;
            out.buf.extend_from_slice(msg.bytes(resp3));
            return;
        }
    }
    let Some(c) = clients.try_get_mut(t) else {
        return;
    };
    if c.close_after_reply {
        return; // already over its limit, being disconnected
    }
    let resp3 = c.resp3;
    c.pending.extend_from_slice(msg.bytes(resp3));
    let max = clients.pending_bytes_max;
    let c = clients.get_mut(t);
    if max > 0 && c.pending.len() > max {
        // client-output-buffer-limit pubsub hard limit: drop, disconnect.
        c.pending = Vec::new();
        c.close_after_reply = true;
        let id = c.id;
        clients.kill_asap.push(id);
        return;
    }
    clients.wake.push(t);
}

pub fn publish_message(ctx: &mut Ctx, channel: &[u8], message: &[u8]) -> usize {
    let mut cur = Some((ctx.h, &mut *ctx.out));
    publish_with(ctx.clients, &mut cur, channel, message)
}

/// Redis's pubsubPublishMessage: channel subscribers, then pattern
/// subscribers. Returns the number of receivers.
fn publish_with(clients: &mut Clients, cur: &mut Current, channel: &[u8], message: &[u8]) -> usize {
    let mut n = 0;
    if let Some(subs) = clients.pubsub.channels.get(channel) {
        let subs = subs.clone();
        let parts: [&[u8]; 3] = [b"message", channel, message];
        let mut m = Encoded::new(&parts);
        for t in subs {
            deliver(clients, cur, t, &mut m);
            n += 1;
        }
    }
    if !clients.pubsub.pattern_order.is_empty() {
        let matching: Vec<Box<[u8]>> = clients
            .pubsub
            .pattern_order
            .iter()
            .filter(|p| glob_match(p, channel, false))
            .cloned()
            .collect();
        for pat in matching {
            let subs = clients
                .pubsub
                .patterns
                .get(&pat)
                .cloned()
                .unwrap_or_default();
            let parts: [&[u8]; 4] = [b"pmessage", &pat, channel, message];
            let mut m = Encoded::new(&parts);
            for t in subs {
                deliver(clients, cur, t, &mut m);
                n += 1;
            }
        }
    }
    n
}

pub fn publish(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let n = publish_message(ctx, argv[1], argv[2]);
    ctx.out.int(n as i64);
    Ok(())
}

pub fn spublish(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let mut n = 0;
    if let Some(subs) = ctx.clients.pubsub.shard.get(argv[1]) {
        let subs = subs.clone();
        let parts: [&[u8]; 3] = [b"smessage", argv[1], argv[2]];
        let mut m = Encoded::new(&parts);
        let mut cur = Some((ctx.h, &mut *ctx.out));
        for t in subs {
            deliver(ctx.clients, &mut cur, t, &mut m);
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

fn list_channels(ctx: &mut Ctx, argv: &[&[u8]], shard: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(crate::error::CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(argv[1])
        )));
    }
    let pat = argv.get(2).copied();
    let reg = if shard {
        &ctx.clients.pubsub.shard
    } else {
        &ctx.clients.pubsub.channels
    };
    let mut names: Vec<&[u8]> = reg
        .keys()
        .filter(|c| pat.is_none_or(|p| glob_match(p, c, false)))
        .map(|c| &c[..])
        .collect();
    names.sort_unstable();
    ctx.out.array(names.len());
    for c in names {
        ctx.out.bulk(c);
    }
    Ok(())
}

fn numsub(ctx: &mut Ctx, argv: &[&[u8]], shard: bool) {
    ctx.out.array((argv.len() - 2) * 2);
    for ch in &argv[2..] {
        let reg = if shard {
            &ctx.clients.pubsub.shard
        } else {
            &ctx.clients.pubsub.channels
        };
        let n = reg.get(*ch).map_or(0, Vec::len);
        ctx.out.bulk(ch);
        ctx.out.int(n as i64);
    }
}

pub fn pubsub_channels(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    list_channels(ctx, argv, false)
}

pub fn pubsub_numsub(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    numsub(ctx, argv, false);
    Ok(())
}

pub fn pubsub_numpat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.clients.pubsub.patterns.len() as i64);
    Ok(())
}

pub fn pubsub_shardchannels(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    list_channels(ctx, argv, true)
}

pub fn pubsub_shardnumsub(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    numsub(ctx, argv, true);
    Ok(())
}

pub fn pubsub_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    super::conn::help(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}

/// See `Ctx::notify`. Redis's notifyKeyspaceEvent. Events queued by the
/// keyspace (expired, new) happened first, so they are published first.
pub fn notify_keyspace_event(ctx: &mut Ctx, class: u32, event: &str, key: &[u8], db: usize) {
    let flags = ctx.cfg.notify_flags;
    if flags == 0 {
        return;
    }
    let mut cur = Some((ctx.h, &mut *ctx.out));
    if !ctx.ks.events.is_empty() {
        flush_keyspace_events(ctx.ks, ctx.clients, flags, cur.take());
        cur = Some((ctx.h, &mut *ctx.out));
    }
    if flags & class != 0 {
        publish_event(ctx.clients, &mut cur, flags, event, key, db);
    }
}

/// Publish the keyspace's queued events (see `Keyspace::events`).
pub fn flush_keyspace_events(
    ks: &mut crate::db::Keyspace,
    clients: &mut Clients,
    flags: u32,
    mut cur: Current,
) {
    for (class, event, db, key) in std::mem::take(&mut ks.events) {
        if flags & class != 0 {
            publish_event(clients, &mut cur, flags, event, &key, db);
        }
    }
}

fn publish_event(
    clients: &mut Clients,
    cur: &mut Current,
    flags: u32,
    event: &str,
    key: &[u8],
    db: usize,
) {
    if flags & super::notify::KEYSPACE != 0 {
        let mut ch = Vec::with_capacity(20 + key.len());
        ch.extend_from_slice(b"__keyspace@");
        crate::util::push_i64(&mut ch, db as i64);
        ch.extend_from_slice(b"__:");
        ch.extend_from_slice(key);
        publish_with(clients, cur, &ch, event.as_bytes());
    }
    if flags & super::notify::KEYEVENT != 0 {
        let mut ch = Vec::with_capacity(20 + event.len());
        ch.extend_from_slice(b"__keyevent@");
        crate::util::push_i64(&mut ch, db as i64);
        ch.extend_from_slice(b"__:");
        ch.extend_from_slice(event.as_bytes());
        publish_with(clients, cur, &ch, key);
    }
}
