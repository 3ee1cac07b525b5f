//! Property-based differential test of the blocking commands driven from
//! several clients: proptest generates scenarios over a tiny key space (lists
//! q1 q2, sorted set z1, stream s1) played by one writer connection and 2-3
//! blocker connections on one shared Redis/redsim pair (FLUSHALL between
//! cases, RESP2 or RESP3 chosen per connection per case), and shrinks a
//! failing scenario to a minimal one.
//!
//! A scenario is a sequence of steps:
//! - a blocker that is not already waiting sends a blocking command (BLPOP,
//!   BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP, XREAD
//!   BLOCK, XREADGROUP BLOCK) without reading; the step is skipped if that
//!   blocker is still waiting;
//! - the writer runs a write (pushes, pops, ZADD, XADD with increasing
//!   explicit ids, XGROUP CREATE/DESTROY, DEL, SET to make wrong types,
//!   LMOVE, RENAME, COPY, MOVE/SWAPDB, MULTI..EXEC of pushes and pops) or a
//!   CLIENT UNBLOCK (TIMEOUT or ERROR) of a blocker; its reply is compared;
//! - after every writer step each waiting blocker's output is compared byte
//!   for byte: the same client must have been served the same reply on both
//!   servers, or still be waiting on both (serving order, one element per
//!   BLPOP, wake-ups only after EXEC, a key made and emptied inside one EXEC
//!   waking nobody, ...).
//!
//! At the end the remaining waiters are either fed (pushes to every key) or
//! released with CLIENT UNBLOCK (each side's own client id), then every
//! blocker must be idle and in sync (PING), no client blocked, and DEBUG
//! DIGEST must agree.
//!
//! Synchronisation is explicit rather than sleep-based: the number of
//! blocked clients (`INFO clients` blocked_clients, itself compared) tells
//! when a blocking command has been processed (blocked, or answered at once)
//! and how many replies a write must have produced; the test then reads
//! until exactly that many replies arrived (with a generous deadline).
//! Timeouts are the only timing-dependent part: they are either 0 (forever),
//! long (100 s, never reached during a case, but exercising the timeout
//! bookkeeping) or short (0.05 s / BLOCK 50), and a short one is resolved
//! before the next step by waiting for its reply (data at once, or the
//! timeout reply), so nothing races a short deadline.
//!
//! `PROPTEST_CASES` overrides the default of 150 cases (about 25 s).
//!
//! Cross-type scenarios are on by default: commands naming keys of another
//! type than they serve, FLUSHDB, SWAPDB of db 0, SET over a waited-on
//! stream. They found (and now guard) three redsim bugs, fixed since:
//! - a waited-on key signalled ready but holding another type when the
//!   waiters are served (BLPOP q1 then ZADD q1; RENAME of a stream onto a
//!   list key): Redis 7.0 leaves the client blocked; redsim replied -WRONGTYPE;
//! - FLUSHDB, SWAPDB 0 1 or SET s1 dropping or overwriting the stream an
//!   XREADGROUP BLOCK waits on: Redis replies -UNBLOCKED the stream key no
//!   longer exists; redsim kept the client blocked;
//! - SWAPDB 0 1 bringing a list into db 0 where a client waits on that key:
//!   Redis serves the waiter; redsim did not.
//! `PROPTEST_BLOCKING_SAME_TYPES=1` restricts scenarios to same-type keys
//! (list commands q1/q2, zset commands z1, stream commands s1, no FLUSHDB,
//! SWAPDB of dbs 1 and 2 only).

use std::cell::RefCell;
use std::fmt;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use redsim_conformance::conn::{Conn, Reply, ReplyError};
use redsim_conformance::pair::compare;
use redsim_conformance::resp::{self, render_args};
use redsim_conformance::{Compare, ConnPair, Pair};

/// Blocker connections per server (a case uses the first 2 or 3).
const MAX_BLOCKERS: usize = 3;
/// How long any expected reply or state change may take to show up.
const DEADLINE: Duration = Duration::from_secs(3);
/// Placeholder for an XADD id, replaced by an increasing `step-n` id.
const ID: &str = "<ID>";
/// The id the final feed uses (greater than any generated one).
const FEED_ID: &str = "100000-0";

const SIDES: [&str; 2] = ["redis", "redsim"];

#[derive(Clone, Debug)]
struct BlockCmd {
    args: Vec<Vec<u8>>,
    /// A short timeout: the reply (data or timeout) is awaited at once.
    short: bool,
}

#[derive(Clone, Debug)]
enum Step {
    /// Blocker `who % n` sends `cmd` (skipped if it is still waiting).
    Block { who: usize, cmd: BlockCmd },
    /// The writer runs one command.
    Write(Vec<Vec<u8>>),
    /// The writer runs MULTI, the commands, EXEC.
    Multi(Vec<Vec<Vec<u8>>>),
    /// The writer runs CLIENT UNBLOCK <id of blocker who % n> [ERROR].
    Unblock { who: usize, error: bool },
}

#[derive(Clone, Copy, Debug)]
enum Finish {
    /// CLIENT UNBLOCK every remaining waiter (timeout reply).
    Unblock,
    /// CLIENT UNBLOCK ... ERROR every remaining waiter.
    UnblockError,
    /// Push to every key, then CLIENT UNBLOCK whoever is left.
    Feed,
}

#[derive(Clone)]
struct Case {
    writer_resp3: bool,
    /// One entry per blocker used (2 or 3).
    blocker_resp3: Vec<bool>,
    steps: Vec<Step>,
    finish: Finish,
}

fn proto(resp3: bool) -> u8 {
    if resp3 {
        3
    } else {
        2
    }
}

impl Case {
    fn n(&self) -> usize {
        self.blocker_resp3.len()
    }

    fn describe(&self, step: &Step) -> String {
        let n = self.n();
        match step {
            Step::Block { who, cmd } => format!("B{}: {}", who % n, render_args(&cmd.args)),
            Step::Write(a) => format!("W:  {}", render_args(a)),
            Step::Multi(cmds) => format!(
                "W:  MULTI; {}; EXEC",
                cmds.iter()
                    .map(|c| render_args(c))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Step::Unblock { who, error } => format!(
                "W:  CLIENT UNBLOCK <id of B{}>{}",
                who % n,
                if *error { " ERROR" } else { "" }
            ),
        }
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protos: Vec<String> = self
            .blocker_resp3
            .iter()
            .enumerate()
            .map(|(i, r)| format!("B{i} RESP{}", proto(*r)))
            .collect();
        writeln!(
            f,
            "(W RESP{}, {}) {} steps, then {:?}:",
            proto(self.writer_resp3),
            protos.join(", "),
            self.steps.len(),
            self.finish
        )?;
        for s in &self.steps {
            writeln!(f, "    {}", self.describe(s))?;
        }
        Ok(())
    }
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn pick(items: &'static [&'static str]) -> BoxedStrategy<Vec<u8>> {
    prop::sample::select(items).prop_map(b).boxed()
}

fn join(parts: Vec<Vec<Vec<u8>>>) -> Vec<Vec<u8>> {
    parts.into_iter().flatten().collect()
}

/// Whether to generate cross-type scenarios (see the header): commands
/// naming keys of another type, FLUSHDB, SWAPDB of db 0. On by default.
fn known() -> bool {
    static KNOWN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KNOWN.get_or_init(|| !std::env::var("PROPTEST_BLOCKING_SAME_TYPES").is_ok_and(|v| v == "1"))
}

/// Pick from `cross`, or from `same` when restricted to same-type keys.
fn pick2(same: &'static [&'static str], cross: &'static [&'static str]) -> BoxedStrategy<Vec<u8>> {
    pick(if known() { cross } else { same })
}

/// Keys a list command names (mostly lists, sometimes another type).
fn lkey() -> BoxedStrategy<Vec<u8>> {
    pick2(
        &["q1", "q1", "q2"],
        &["q1", "q1", "q1", "q2", "q2", "z1", "s1"],
    )
}
/// Keys a zset command names.
fn zkey() -> BoxedStrategy<Vec<u8>> {
    pick2(&["z1"], &["z1", "z1", "z1", "z1", "q1"])
}
/// Keys a stream command names.
fn skey() -> BoxedStrategy<Vec<u8>> {
    pick2(&["s1"], &["s1", "s1", "s1", "s1", "q1"])
}
/// Keys SET overwrites. With same-type scenarios only (see the
/// header): never the stream, and inside MULTI only a key nobody waits on.
fn set_key(in_multi: bool) -> BoxedStrategy<Vec<u8>> {
    if known() {
        any_key()
    } else if in_multi {
        pick(&["x1"])
    } else {
        pick(&["q1", "q2", "z1", "x1"])
    }
}
/// Keys RENAME and COPY use.
fn mvkey() -> BoxedStrategy<Vec<u8>> {
    pick2(&["q1", "q2"], &["q1", "q2", "z1", "s1"])
}
fn any_key() -> BoxedStrategy<Vec<u8>> {
    pick(&["q1", "q2", "z1", "s1"])
}
fn elem() -> BoxedStrategy<Vec<u8>> {
    pick(&["a", "b", "c", "d", "e"])
}
fn lr() -> BoxedStrategy<Vec<u8>> {
    pick(&["LEFT", "RIGHT"])
}
fn count_opt() -> BoxedStrategy<Vec<Vec<u8>>> {
    prop_oneof![
        2 => Just(vec![]),
        2 => (1u32..4).prop_map(|n| vec![b("COUNT"), b(&n.to_string())]),
    ]
    .boxed()
}

/// Seconds timeout for the list/zset commands: forever, long, or short.
fn secs_timeout() -> BoxedStrategy<(Vec<u8>, bool)> {
    prop_oneof![
        6 => Just((b("0"), false)),
        2 => Just((b("100"), false)),
        1 => Just((b("0.05"), true)),
    ]
    .boxed()
}
/// Milliseconds for XREAD/XREADGROUP BLOCK.
fn ms_timeout() -> BoxedStrategy<(Vec<u8>, bool)> {
    prop_oneof![
        6 => Just((b("0"), false)),
        2 => Just((b("100000"), false)),
        1 => Just((b("50"), true)),
    ]
    .boxed()
}

fn blk(args: Vec<Vec<u8>>, short: bool) -> BlockCmd {
    BlockCmd { args, short }
}

fn block_cmd() -> BoxedStrategy<BlockCmd> {
    let keys = || prop::collection::vec(lkey(), 1..3);
    prop_oneof![
        4 => (pick(&["BLPOP", "BRPOP"]), keys(), secs_timeout())
            .prop_map(|(c, ks, (t, s))| blk(join(vec![vec![c], ks, vec![t]]), s)),
        2 => (lkey(), lkey(), lr(), lr(), secs_timeout())
            .prop_map(|(src, dst, a, w, (t, s))| blk(vec![b("BLMOVE"), src, dst, a, w, t], s)),
        1 => (lkey(), lkey(), secs_timeout())
            .prop_map(|(src, dst, (t, s))| blk(vec![b("BRPOPLPUSH"), src, dst, t], s)),
        2 => (secs_timeout(), keys(), lr(), count_opt()).prop_map(|((t, s), ks, w, c)| {
            let n = b(&ks.len().to_string());
            blk(join(vec![vec![b("BLMPOP"), t, n], ks, vec![w], c]), s)
        }),
        2 => (pick(&["BZPOPMIN", "BZPOPMAX"]), prop::collection::vec(zkey(), 1..3), secs_timeout())
            .prop_map(|(c, ks, (t, s))| blk(join(vec![vec![c], ks, vec![t]]), s)),
        1 => (secs_timeout(), prop::collection::vec(zkey(), 1..3), pick(&["MIN", "MAX"]), count_opt())
            .prop_map(|((t, s), ks, w, c)| {
                let n = b(&ks.len().to_string());
                blk(join(vec![vec![b("BZMPOP"), t, n], ks, vec![w], c]), s)
            }),
        2 => (count_opt(), ms_timeout(), skey(), pick(&["$", "$", "$", "0", "0-0", "3-0"]))
            .prop_map(|(c, (t, s), k, id)| {
                blk(join(vec![vec![b("XREAD")], c, vec![b("BLOCK"), t, b("STREAMS"), k, id]]), s)
            }),
        2 => (
            pick(&["c1", "c2"]),
            count_opt(),
            ms_timeout(),
            prop_oneof![3 => Just(vec![]), 1 => Just(vec![b("NOACK")])],
            pick(&[">", ">", ">", "0"]),
        )
            .prop_map(|(consumer, c, (t, s), noack, id)| {
                blk(
                    join(vec![
                        vec![b("XREADGROUP"), b("GROUP"), b("g"), consumer],
                        c,
                        vec![b("BLOCK"), t],
                        noack,
                        vec![b("STREAMS"), b("s1"), id],
                    ]),
                    s,
                )
            }),
    ]
    .boxed()
}

/// Commands valid both alone and inside MULTI.
fn simple_write(in_multi: bool) -> BoxedStrategy<Vec<Vec<u8>>> {
    prop_oneof![
        8 => (pick(&["RPUSH", "LPUSH"]), lkey(), prop::collection::vec(elem(), 1..4))
            .prop_map(|(c, k, es)| join(vec![vec![c, k], es])),
        3 => (pick(&["LPOP", "RPOP"]), lkey(), prop_oneof![3 => Just(vec![]), 1 => (1u32..3).prop_map(|n| vec![b(&n.to_string())])])
            .prop_map(|(c, k, n)| join(vec![vec![c, k], n])),
        5 => (zkey(), prop::collection::vec((0u32..6, elem()), 1..4)).prop_map(|(k, sm)| {
            join(vec![vec![b("ZADD"), k], sm.into_iter().flat_map(|(s, m)| [b(&s.to_string()), m]).collect()])
        }),
        1 => (pick(&["ZPOPMIN", "ZPOPMAX"]), zkey()).prop_map(|(c, k)| vec![c, k]),
        5 => (skey(), prop_oneof![8 => Just(b(ID)), 1 => Just(b("1-1"))], elem())
            .prop_map(|(k, id, v)| vec![b("XADD"), k, id, b("f"), v]),
        2 => prop::collection::vec(any_key(), 1..3).prop_map(|ks| join(vec![vec![b("DEL")], ks])),
        1 => (set_key(in_multi), elem()).prop_map(|(k, v)| vec![b("SET"), k, v]),
        1 => (lkey(), lkey(), lr(), lr()).prop_map(|(s, d, a, w)| vec![b("LMOVE"), s, d, a, w]),
    ]
    .boxed()
}

/// Commands inside MULTI: the simple writes, and blocking pops (which never
/// block inside a transaction).
fn multi_write() -> BoxedStrategy<Vec<Vec<u8>>> {
    prop_oneof![
        12 => simple_write(true),
        1 => (pick(&["BLPOP", "BRPOP"]), pick(&["q1", "q2"])).prop_map(|(c, k)| vec![c, k, b("0")]),
        1 => Just(vec![b("BZPOPMIN"), b("z1"), b("0")]),
    ]
    .boxed()
}

fn step() -> BoxedStrategy<Step> {
    let mut arms: Vec<(u32, BoxedStrategy<Vec<Vec<u8>>>)> = vec![
        (20, simple_write(false)),
        (
            2,
            pick(&["$", "0"])
                .prop_map(|id| vec![b("XGROUP"), b("CREATE"), b("s1"), b("g"), id, b("MKSTREAM")])
                .boxed(),
        ),
        (
            1,
            Just(vec![b("XGROUP"), b("DESTROY"), b("s1"), b("g")]).boxed(),
        ),
        (
            1,
            (mvkey(), mvkey())
                .prop_map(|(s, d)| vec![b("RENAME"), s, d])
                .boxed(),
        ),
        (
            1,
            (
                mvkey(),
                mvkey(),
                prop_oneof![Just(vec![]), Just(vec![b("REPLACE")])],
            )
                .prop_map(|(s, d, r)| join(vec![vec![b("COPY"), s, d], r]))
                .boxed(),
        ),
        (
            1,
            any_key().prop_map(|k| vec![b("MOVE"), k, b("1")]).boxed(),
        ),
        (1, Just(vec![b("SWAPDB"), b("2"), b("1")]).boxed()),
    ];
    if known() {
        // Whole-db operations that drop a stream an XREADGROUP waits on.
        arms.push((1, Just(vec![b("SWAPDB"), b("0"), b("1")]).boxed()));
        arms.push((1, Just(vec![b("FLUSHDB")]).boxed()));
    }
    let write = Union::new_weighted(arms);
    prop_oneof![
        10 => (0..MAX_BLOCKERS, block_cmd()).prop_map(|(who, cmd)| Step::Block { who, cmd }),
        10 => write.prop_map(Step::Write),
        3 => prop::collection::vec(multi_write(), 1..5).prop_map(Step::Multi),
        1 => (0..MAX_BLOCKERS, any::<bool>()).prop_map(|(who, error)| Step::Unblock { who, error }),
    ]
    .boxed()
}

/// Give every XADD placeholder an id that increases along the scenario
/// (`<step>-<n>`), so that shrinking keeps them increasing.
fn assign_ids(steps: &mut [Step]) {
    for (i, s) in steps.iter_mut().enumerate() {
        let mut n = 0;
        let mut fix = |args: &mut Vec<Vec<u8>>| {
            for a in args.iter_mut() {
                if a == ID.as_bytes() {
                    *a = b(&format!("{}-{n}", i + 1));
                    n += 1;
                }
            }
        };
        match s {
            Step::Write(a) => fix(a),
            Step::Multi(cmds) => cmds.iter_mut().for_each(&mut fix),
            _ => {}
        }
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 2..=MAX_BLOCKERS),
        prop::collection::vec(step(), 1..30),
        prop_oneof![
            2 => Just(Finish::Unblock),
            1 => Just(Finish::UnblockError),
            2 => Just(Finish::Feed),
        ],
    )
        .prop_map(|(writer_resp3, blocker_resp3, mut steps, finish)| {
            assign_ids(&mut steps);
            Case {
                writer_resp3,
                blocker_resp3,
                steps,
                finish,
            }
        })
}

fn side_conn(cp: &mut ConnPair, s: usize) -> &mut Conn {
    if s == 0 {
        &mut cp.redis
    } else {
        &mut cp.redsim
    }
}

fn show(r: &Result<Reply, ReplyError>) -> String {
    match r {
        Ok(rep) => resp::escape_bytes(&rep.raw),
        Err(e) => e.to_string(),
    }
}

/// One blocker: a connection to each server, each side's CLIENT ID, the bytes
/// received but not yet taken as replies, and whether it is waiting.
struct Blocker {
    conns: ConnPair,
    ids: [Vec<u8>; 2],
    bufs: [Vec<u8>; 2],
    waiting: bool,
}

impl Blocker {
    fn connect(pair: &Pair) -> Result<Blocker, String> {
        let mut conns = pair.connect()?;
        let mut ids = [Vec::new(), Vec::new()];
        for (s, id) in ids.iter_mut().enumerate() {
            let r = side_conn(&mut conns, s)
                .call(&["CLIENT", "ID"])
                .map_err(|e| format!("{} CLIENT ID: {e}", SIDES[s]))?;
            match r.value {
                resp::Value::Integer(i) => *id = b(&i.to_string()),
                _ => {
                    return Err(format!(
                        "{} CLIENT ID replied {}",
                        SIDES[s],
                        resp::escape_bytes(&r.raw)
                    ))
                }
            }
        }
        Ok(Blocker {
            conns,
            ids,
            bufs: [Vec::new(), Vec::new()],
            waiting: false,
        })
    }

    /// Read whatever arrives on side `s` within `wait` (appended to its buffer).
    fn poll(&mut self, s: usize, wait: Duration) -> Result<(), String> {
        let r = side_conn(&mut self.conns, s).read_until_close_or_idle(wait, wait);
        self.bufs[s].extend_from_slice(&r.bytes);
        if r.closed {
            return Err(format!(
                "{} closed a blocker connection (after {})",
                SIDES[s],
                resp::escape_bytes(&self.bufs[s])
            ));
        }
        Ok(())
    }

    /// Take one complete reply off side `s`'s buffer, if there is one.
    fn take(&mut self, s: usize) -> Result<Option<Vec<u8>>, String> {
        match resp::parse(&self.bufs[s]) {
            Ok(Some((_, n))) => Ok(Some(self.bufs[s].drain(..n).collect())),
            Ok(None) => Ok(None),
            Err(e) => Err(format!(
                "{} sent a malformed reply to a blocker ({e}): {}",
                SIDES[s],
                resp::escape_bytes(&self.bufs[s])
            )),
        }
    }
}

/// `INFO clients` blocked_clients on `conn`.
fn blocked_clients(conn: &mut Conn, side: &str) -> Result<u64, String> {
    let r = conn
        .call(&["INFO", "clients"])
        .map_err(|e| format!("{side} INFO clients: {e}"))?;
    let tag = b"blocked_clients:";
    let at = r
        .raw
        .windows(tag.len())
        .position(|w| w == tag)
        .ok_or_else(|| {
            format!(
                "{side} INFO clients has no blocked_clients: {}",
                resp::escape_bytes(&r.raw)
            )
        })?;
    let digits: Vec<u8> = r.raw[at + tag.len()..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    String::from_utf8_lossy(&digits).parse().map_err(|_| {
        format!(
            "{side} blocked_clients unreadable: {}",
            resp::escape_bytes(&r.raw)
        )
    })
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

/// What the scenarios exercised (printed at the end).
#[derive(Default)]
struct Stats {
    /// Blocking commands that blocked.
    blocked: u64,
    /// Blocking commands answered at once.
    immediate: u64,
    /// Waiters later served, or unblocked by CLIENT UNBLOCK, by a step.
    released: u64,
    /// Waiters left at the end of a scenario.
    left: u64,
}

struct Harness {
    stats: Stats,
    pair: Pair,
    writer: ConnPair,
    blockers: Vec<Blocker>,
}

impl Harness {
    fn start() -> Harness {
        let pair = Pair::start().unwrap_or_else(|e| panic!("cannot start the server pair: {e}"));
        Self::connect(pair).unwrap_or_else(|e| panic!("cannot connect: {e}"))
    }

    fn connect(pair: Pair) -> Result<Harness, String> {
        let writer = Self::writer(&pair)?;
        let blockers = (0..MAX_BLOCKERS)
            .map(|_| Blocker::connect(&pair))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Harness {
            stats: Stats::default(),
            pair,
            writer,
            blockers,
        })
    }

    /// The writer never blocks: a reply later than `DEADLINE` is a failure.
    fn writer(pair: &Pair) -> Result<ConnPair, String> {
        let mut w = pair.connect()?;
        w.redis.set_read_timeout(DEADLINE);
        w.redsim.set_read_timeout(DEADLINE);
        Ok(w)
    }

    /// Fresh connections (and fresh servers if one died or reconnecting fails).
    fn recover(&mut self) -> Option<String> {
        let died = self.pair.check_alive().err();
        if died.is_none() {
            let fresh = Self::writer(&self.pair).and_then(|writer| {
                let blockers = (0..MAX_BLOCKERS)
                    .map(|_| Blocker::connect(&self.pair))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((writer, blockers))
            });
            if let Ok((writer, blockers)) = fresh {
                self.writer = writer;
                self.blockers = blockers;
                return None;
            }
        }
        let stats = std::mem::take(&mut self.stats);
        *self = Harness::start();
        self.stats = stats;
        died
    }

    fn run(&mut self, case: &Case) -> Result<(), TestCaseError> {
        let r = self.run_inner(case);
        if r.is_err() {
            if let Some(died) = self.recover() {
                return Err(fail(format!("a server died: {died}")));
            }
        }
        r
    }

    /// Run one writer command on both servers and compare the replies.
    fn write(&mut self, what: &str, args: &[Vec<u8>], cmp: &Compare) -> Result<(), TestCaseError> {
        let o = self.writer.run(args, cmp);
        if let Some(d) = o.mismatch {
            return Err(fail(format!("{what}: {}\n{d}", render_args(args))));
        }
        if let Err(e) = o.redis.as_ref().and(o.redsim.as_ref()) {
            return Err(fail(format!(
                "{what}: {}: connection failed: {e}",
                render_args(args)
            )));
        }
        Ok(())
    }

    /// CLIENT UNBLOCK of blocker `who` (each side's own id), compared.
    fn unblock(&mut self, what: &str, who: usize, error: bool) -> Result<(), TestCaseError> {
        let mut replies = Vec::new();
        for s in 0..2 {
            let mut args = vec![b("CLIENT"), b("UNBLOCK"), self.blockers[who].ids[s].clone()];
            if error {
                args.push(b("ERROR"));
            }
            replies.push(side_conn(&mut self.writer, s).call(&args));
        }
        if let Some(d) = compare(&Compare::Exact, &replies[0], &replies[1]) {
            return Err(fail(format!(
                "{what}: CLIENT UNBLOCK <id of B{who}>{}\n{d}",
                if error { " ERROR" } else { "" }
            )));
        }
        if let Err(e) = &replies[0] {
            return Err(fail(format!("{what}: CLIENT UNBLOCK: {e}")));
        }
        Ok(())
    }

    fn blocked_both(&mut self) -> Result<[u64; 2], String> {
        Ok([
            blocked_clients(&mut self.writer.redis, "redis")?,
            blocked_clients(&mut self.writer.redsim, "redsim")?,
        ])
    }

    fn waiting_count(&self, n: usize) -> u64 {
        self.blockers[..n].iter().filter(|b| b.waiting).count() as u64
    }

    /// After a writer step: every waiting blocker must have been served the
    /// same reply on both servers, or be still waiting on both.
    fn collect(&mut self, what: &str, n: usize) -> Result<(), TestCaseError> {
        let before = self.waiting_count(n);
        let counts = self
            .blocked_both()
            .map_err(|e| fail(format!("{what}: {e}")))?;
        // Replies taken per blocker per side (None = still waiting).
        let mut got: Vec<[Option<Vec<u8>>; 2]> = vec![[None, None]; n];
        let mut trouble = Vec::new();
        for s in 0..2 {
            let expect = before.saturating_sub(counts[s]);
            if counts[s] > before {
                trouble.push(format!(
                    "{} reports {} blocked clients, {before} were waiting",
                    SIDES[s], counts[s]
                ));
            }
            let deadline = Instant::now() + DEADLINE;
            let mut have = 0u64;
            loop {
                for (i, bl) in self.blockers[..n].iter_mut().enumerate() {
                    if !bl.waiting || got[i][s].is_some() {
                        continue;
                    }
                    if let Some(r) = bl.take(s).map_err(|e| fail(format!("{what}: {e}")))? {
                        got[i][s] = Some(r);
                        have += 1;
                    }
                }
                if have >= expect {
                    break;
                }
                if Instant::now() > deadline {
                    trouble.push(format!(
                        "{}: blocked_clients says {expect} waiter(s) were served, only {have} repl(y/ies) arrived within {DEADLINE:?}",
                        SIDES[s]
                    ));
                    break;
                }
                for (i, bl) in self.blockers[..n].iter_mut().enumerate() {
                    if bl.waiting && got[i][s].is_none() {
                        bl.poll(s, Duration::from_millis(1))
                            .map_err(|e| fail(format!("{what}: {e}")))?;
                    }
                }
            }
        }
        if counts[0] != counts[1] {
            trouble.push(format!(
                "blocked_clients differs: redis {} vs redsim {}",
                counts[0], counts[1]
            ));
        }
        let differs = got.iter().any(|g| g[0] != g[1]);
        if differs || !trouble.is_empty() {
            let mut msg = format!("{what}: blocked clients' replies differ\n");
            for t in &trouble {
                msg.push_str(&format!("  {t}\n"));
            }
            for (i, g) in got.iter().enumerate() {
                if !self.blockers[i].waiting {
                    continue;
                }
                let sh = |o: &Option<Vec<u8>>| match o {
                    Some(r) => resp::escape_bytes(r),
                    None => "(still waiting)".into(),
                };
                msg.push_str(&format!(
                    "  B{i}{}\n    redis:  {}\n    redsim: {}\n",
                    if g[0] != g[1] { " DIFFERS" } else { "" },
                    sh(&g[0]),
                    sh(&g[1])
                ));
            }
            return Err(fail(msg));
        }
        for (i, g) in got.iter().enumerate() {
            if g[0].is_some() {
                self.blockers[i].waiting = false;
                self.stats.released += 1;
            }
        }
        Ok(())
    }

    /// Blocker `who` sends `cmd`; find out on each side whether it was
    /// answered at once or is now blocked, and compare; then check the other
    /// waiters (an immediate BLMOVE pushes to its destination).
    fn block(
        &mut self,
        what: &str,
        who: usize,
        cmd: &BlockCmd,
        n: usize,
    ) -> Result<(), TestCaseError> {
        let before = self.waiting_count(n);
        for s in 0..2 {
            side_conn(&mut self.blockers[who].conns, s)
                .send(&cmd.args)
                .map_err(|e| fail(format!("{what}: send to {}: {e}", SIDES[s])))?;
        }
        let mut out: [Option<Vec<u8>>; 2] = [None, None];
        for s in 0..2 {
            let deadline = Instant::now() + DEADLINE;
            loop {
                let bl = &mut self.blockers[who];
                if let Some(r) = bl.take(s).map_err(|e| fail(format!("{what}: {e}")))? {
                    out[s] = Some(r);
                    break;
                }
                // A short timeout always produces a reply: wait for it.
                if !cmd.short {
                    let conn = side_conn(&mut self.writer, s);
                    let c = blocked_clients(conn, SIDES[s])
                        .map_err(|e| fail(format!("{what}: {e}")))?;
                    if c == before + 1 {
                        break; // blocked
                    }
                    // Fewer: answered at once and (BLMOVE) served others
                    // too; its own reply is still on the way.
                    if c > before + 1 {
                        return Err(fail(format!(
                            "{what}: {}: {}\n  {} reports {c} blocked clients, expected at most {}",
                            format!("B{who}"),
                            render_args(&cmd.args),
                            SIDES[s],
                            before + 1
                        )));
                    }
                }
                if Instant::now() > deadline {
                    return Err(fail(format!(
                        "{what}: {}: {} neither replied nor blocked the client within {DEADLINE:?}",
                        format!("B{who}"),
                        SIDES[s]
                    )));
                }
                let bl = &mut self.blockers[who];
                bl.poll(s, Duration::from_millis(if cmd.short { 20 } else { 1 }))
                    .map_err(|e| fail(format!("{what}: {e}")))?;
            }
        }
        if out[0] != out[1] {
            let sh = |o: &Option<Vec<u8>>| match o {
                Some(r) => resp::escape_bytes(r),
                None => "(blocked)".into(),
            };
            return Err(fail(format!(
                "{what}: B{who}: {}\n  redis:  {}\n  redsim: {}",
                render_args(&cmd.args),
                sh(&out[0]),
                sh(&out[1])
            )));
        }
        self.blockers[who].waiting = out[0].is_none();
        if out[0].is_none() {
            self.stats.blocked += 1;
        } else {
            self.stats.immediate += 1;
        }
        // Answered at once, a BLMOVE/BRPOPLPUSH may have served others.
        self.collect(what, n)
    }

    fn run_inner(&mut self, case: &Case) -> Result<(), TestCaseError> {
        let n = case.n();
        self.write("setup", &[b("FLUSHALL")], &Compare::Exact)?;
        self.write("setup", &[b("SELECT"), b("0")], &Compare::Exact)?;
        let wp = proto(case.writer_resp3).to_string();
        self.write("setup", &[b("HELLO"), b(&wp)], &Compare::Shape)?;
        for (i, r3) in case.blocker_resp3.iter().enumerate() {
            let bl = &mut self.blockers[i];
            bl.waiting = false;
            bl.bufs = [Vec::new(), Vec::new()];
            let p = proto(*r3).to_string();
            let o = bl.conns.run(&[b("HELLO"), b(&p)], &Compare::Shape);
            if let Some(d) = o.mismatch {
                return Err(fail(format!("setup: B{i}: HELLO {p}\n{d}")));
            }
            if let Err(e) = o.redis.as_ref().and(o.redsim.as_ref()) {
                return Err(fail(format!("setup: B{i}: HELLO {p}: {e}")));
            }
        }
        // Clients of a previous (failed) case may still be being torn down.
        let deadline = Instant::now() + DEADLINE;
        loop {
            let c = self
                .blocked_both()
                .map_err(|e| fail(format!("setup: {e}")))?;
            if c == [0, 0] {
                break;
            }
            if Instant::now() > deadline {
                return Err(fail(format!("setup: blocked_clients stays at {c:?}")));
            }
            std::thread::sleep(Duration::from_millis(5));
        }

        for (i, st) in case.steps.iter().enumerate() {
            let what = format!(
                "step {} of {} ({})",
                i + 1,
                case.steps.len(),
                case.describe(st)
            );
            match st {
                Step::Block { who, cmd } => {
                    let who = who % n;
                    if !self.blockers[who].waiting {
                        self.block(&what, who, cmd, n)?;
                    }
                }
                Step::Write(args) => {
                    self.write(&what, args, &Compare::Exact)?;
                    self.collect(&what, n)?;
                }
                Step::Multi(cmds) => {
                    self.write(&what, &[b("MULTI")], &Compare::Exact)?;
                    for c in cmds {
                        self.write(&what, c, &Compare::Exact)?;
                    }
                    self.write(&what, &[b("EXEC")], &Compare::Exact)?;
                    self.collect(&what, n)?;
                }
                Step::Unblock { who, error } => {
                    self.unblock(&what, who % n, *error)?;
                    self.collect(&what, n)?;
                }
            }
        }

        self.stats.left += self.waiting_count(n);
        if let Finish::Feed = case.finish {
            let feed: [&[&str]; 5] = [
                &["DEL", "s1", "z1", "q1", "q2"],
                &["RPUSH", "q1", "f1", "f2", "f3", "f4", "f5", "f6"],
                &["RPUSH", "q2", "f1", "f2", "f3", "f4", "f5", "f6"],
                &[
                    "ZADD", "z1", "1", "f1", "2", "f2", "3", "f3", "4", "f4", "5", "f5", "6", "f6",
                ],
                &["XADD", "s1", FEED_ID, "f", "v"],
            ];
            for args in feed {
                let args: Vec<Vec<u8>> = args.iter().map(|a| b(a)).collect();
                let what = format!("finish (feed): {}", render_args(&args));
                self.write(&what, &args, &Compare::Exact)?;
                self.collect(&what, n)?;
            }
        }
        let error = matches!(case.finish, Finish::UnblockError);
        for who in 0..n {
            if self.blockers[who].waiting {
                let what = format!("finish: CLIENT UNBLOCK <id of B{who}>");
                self.unblock(&what, who, error)?;
                self.collect(&what, n)?;
            }
        }
        // Nothing more may arrive on any blocker, and each must be in sync.
        for who in 0..n {
            let bl = &mut self.blockers[who];
            for s in 0..2 {
                bl.poll(s, Duration::from_millis(2))
                    .map_err(|e| fail(format!("finish: {e}")))?;
            }
            if !bl.bufs[0].is_empty() || !bl.bufs[1].is_empty() || bl.waiting {
                return Err(fail(format!(
                    "finish: B{who} has unexpected output (waiting: {})\n  redis:  {}\n  redsim: {}",
                    bl.waiting,
                    resp::escape_bytes(&bl.bufs[0]),
                    resp::escape_bytes(&bl.bufs[1])
                )));
            }
            let o = bl.conns.run(&[b("PING")], &Compare::Exact);
            if let Some(d) = o.mismatch {
                return Err(fail(format!("finish: B{who}: PING\n{d}")));
            }
            if let Err(e) = o.redis.as_ref().and(o.redsim.as_ref()) {
                return Err(fail(format!(
                    "finish: B{who}: PING: {e} (redis {}, redsim {})",
                    show(&o.redis),
                    show(&o.redsim)
                )));
            }
        }
        let c = self
            .blocked_both()
            .map_err(|e| fail(format!("finish: {e}")))?;
        if c != [0, 0] {
            return Err(fail(format!(
                "finish: blocked_clients should be 0: redis {} redsim {}",
                c[0], c[1]
            )));
        }
        self.write(
            "final dataset digest",
            &[b("DEBUG"), b("DIGEST")],
            &Compare::Exact,
        )
    }
}

#[test]
fn blocking_scenarios_match_redis() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let config = Config {
        cases,
        max_shrink_iters: 2048,
        max_shrink_time: 120_000,
        // No regression file: failures are reported in full by the panic.
        failure_persistence: None,
        ..Config::default()
    };
    let harness = RefCell::new(Harness::start());
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |c| harness.borrow_mut().run(&c));
    match result {
        Ok(()) => {
            let st = &harness.borrow().stats;
            println!(
                "proptest blocking: {cases} random scenarios matched ({} commands blocked, {} answered at once; \
                 {} waiters released, {} of them at the end of a scenario)",
                st.blocked, st.immediate, st.released, st.left
            );
        }
        Err(TestError::Fail(reason, minimal)) => {
            // Re-run the minimal case to print the mismatch once more.
            let again = harness
                .borrow_mut()
                .run(&minimal)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            panic!(
                "redsim diverges from Redis.\nMinimal failing scenario {minimal:?}\nReason: {reason}\n(re-run: {again})"
            );
        }
        Err(TestError::Abort(reason)) => panic!("proptest aborted: {reason}"),
    }
}
