//! The I/O shell of `redsim-server --sentinel`: sockets, the timer (10..19 Hz),
//! the config file. All decisions are in `redsim_core::sentinel`.
//!
//! Model: one core task owns the [`Sentinel`] state machine and receives
//! every event through one channel (timer ticks, link events, client
//! commands), so inputs are totally ordered; it carries out the returned
//! actions. Each instance link and each client connection is a task that
//! only moves bytes: a link task connects, writes what it is handed (queued
//! until the connection is up; flushed after each write), parses replies
//! and forwards them; a client task parses requests and writes replies.
//! Invariants: a link closed by the core never reports back (its channel is
//! dropped); the config file is replaced by temp file + rename; no OS
//! threads (runs under madsim too).

use std::collections::HashMap;

use redsim_core::resp::{Parsed, RequestParser};
use redsim_core::sentinel::wire;
use redsim_core::sentinel::{Action, ClientId, Input, LinkId, Sentinel, SentinelConf, SentinelEnv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::{Clock, Logger};

enum Ev {
    Input(Input),
    /// A client connection: its id and the channel its output goes to.
    NewClient(ClientId, String, UnboundedSender<Out>),
}

enum Out {
    Bytes(Vec<u8>),
    Close,
}

/// The first timer period (then the core's `tick_period_ms`).
const HZ_PERIOD_MS: u64 = 100;
const CONNECT_TIMEOUT_MS: u64 = 3000;
const READ_CHUNK: usize = 16 * 1024;
/// Requests larger than this are a protocol error on the Sentinel port.
const MAX_BULK: i64 = 16 * 1024 * 1024;

/// Run a Sentinel until SHUTDOWN (never returns normally).
pub async fn run(
    conf: SentinelConf,
    original_text: String,
    config_file: String,
    env: SentinelEnv,
    seed: u64,
    clock: std::sync::Arc<dyn Clock>,
    log: Logger,
) {
    let port = conf.port;
    let binds = if conf.bind.is_empty() {
        vec!["127.0.0.1".to_string()]
    } else {
        conf.bind.clone()
    };
    let (tx, mut rx) = unbounded_channel::<Ev>();
    let mut listening = 0;
    for b in &binds {
        let (optional, host) = match b.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, b.as_str()),
        };
        let host = if host == "*" { "0.0.0.0" } else { host };
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        match TcpListener::bind(&addr).await {
            Ok(l) => {
                listening += 1;
                tokio::spawn(accept_loop(l, tx.clone()));
            }
            Err(e) if optional => log.verbose(&format!("Skipping optional bind {addr}: {e}")),
            Err(e) => {
                log.warning(&format!(
                    "Warning: Could not create server TCP listening socket {addr}: {e}"
                ));
                std::process::exit(1);
            }
        }
    }
    if listening == 0 {
        log.warning("Failed listening on any address");
        std::process::exit(1);
    }
    log.notice(&format!("Running mode=sentinel, port={port}."));
    let (mut s, start) = Sentinel::new(conf, &original_text, env, seed, clock.now_ms());
    let mut core = Core {
        links: HashMap::new(),
        clients: HashMap::new(),
        tx: tx.clone(),
        config_file,
        log: log.clone(),
    };
    core.perform(start);
    let mut next_tick =
        tokio::time::Instant::now() + std::time::Duration::from_millis(HZ_PERIOD_MS);
    loop {
        let input = tokio::select! {
            biased;
            ev = rx.recv() => match ev {
                Some(Ev::Input(i)) => i,
                Some(Ev::NewClient(id, addr, out)) => {
                    core.clients.insert(id, out);
                    Input::ClientOpen { client: id, addr }
                }
                None => return,
            },
            _ = tokio::time::sleep_until(next_tick) => {
                // The core picks the next period (10..19 Hz, like Redis).
                next_tick = tokio::time::Instant::now()
                    + std::time::Duration::from_millis(s.tick_period_ms());
                Input::Tick
            }
        };
        if let Input::ClientClosed { client } = &input {
            core.clients.remove(client);
        }
        let actions = s.handle(clock.now_ms(), input);
        core.perform(actions);
    }
}

struct Core {
    links: HashMap<LinkId, UnboundedSender<Vec<u8>>>,
    clients: HashMap<ClientId, UnboundedSender<Out>>,
    tx: UnboundedSender<Ev>,
    config_file: String,
    log: Logger,
}

impl Core {
    fn perform(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Connect { link, host, port } => {
                    let (ltx, lrx) = unbounded_channel();
                    self.links.insert(link, ltx);
                    tokio::spawn(link_task(link, host, port, lrx, self.tx.clone()));
                }
                Action::Send { link, bytes } => {
                    if let Some(l) = self.links.get(&link) {
                        let _ = l.send(bytes);
                    }
                }
                Action::Close { link } => {
                    // Dropping the sender ends the task silently.
                    self.links.remove(&link);
                }
                Action::ToClient { client, bytes } => {
                    if let Some(c) = self.clients.get(&client) {
                        let _ = c.send(Out::Bytes(bytes));
                    }
                }
                Action::CloseClient { client } => {
                    if let Some(c) = self.clients.get(&client) {
                        let _ = c.send(Out::Close);
                    }
                }
                // No file: a simulated Sentinel keeps its state in memory
                // (the binary refuses to start without one, as Redis does).
                Action::SaveConfig { .. } if self.config_file.is_empty() => {}
                Action::SaveConfig { text } => {
                    if let Err(e) = save_config(&self.config_file, &text) {
                        self.log.warning(&format!(
                            "WARNING: Sentinel was not able to save the new configuration on disk!!!: {e}"
                        ));
                    }
                }
                Action::Log { level, msg } => self.log.log(level, &msg),
                Action::Shutdown => {
                    self.log.warning("User requested shutdown...");
                    self.log
                        .warning("Sentinel is now ready to exit, bye bye...");
                    std::process::exit(0);
                }
            }
        }
    }
}

/// Temp file + rename: a crash never leaves a half-written config.
fn save_config(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp-redsim");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

async fn accept_loop(listener: TcpListener, tx: UnboundedSender<Ev>) {
    let mut next_id: ClientId = 2;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                next_id += 1;
                let _ = stream.set_nodelay(true);
                let (otx, orx) = unbounded_channel();
                if tx
                    .send(Ev::NewClient(next_id, peer.to_string(), otx))
                    .is_err()
                {
                    return;
                }
                tokio::spawn(client_task(next_id, stream, orx, tx.clone()));
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

async fn client_task(
    id: ClientId,
    stream: TcpStream,
    mut out: UnboundedReceiver<Out>,
    tx: UnboundedSender<Ev>,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut parser = RequestParser::new();
    'conn: loop {
        tokio::select! {
            biased;
            o = out.recv() => match o {
                Some(Out::Bytes(b)) => {
                    if wr.write_all(&b).await.is_err() || wr.flush().await.is_err() {
                        break 'conn;
                    }
                }
                Some(Out::Close) | None => break 'conn,
            },
            r = rd.read_buf(&mut buf) => {
                match r {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(_) => {}
                }
                loop {
                    match parser.parse(&buf, MAX_BULK, true) {
                        Parsed::Incomplete { .. } => break,
                        Parsed::Empty { consumed } => {
                            buf.drain(..consumed);
                        }
                        Parsed::Command { consumed } => {
                            let mut args: Vec<&[u8]> = Vec::new();
                            parser.args(&buf, &mut args);
                            let args: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
                            buf.drain(..consumed);
                            if tx.send(Ev::Input(Input::ClientCommand { client: id, args })).is_err() {
                                break 'conn;
                            }
                        }
                        Parsed::Error(e) => {
                            let msg = format!("-ERR Protocol error: {e}\r\n");
                            let _ = wr.write_all(msg.as_bytes()).await;
                            let _ = wr.flush().await;
                            break 'conn;
                        }
                    }
                }
            }
        }
    }
    let _ = tx.send(Ev::Input(Input::ClientClosed { client: id }));
}

/// One link to an instance: connect, then forward writes and replies.
async fn link_task(
    link: LinkId,
    host: String,
    port: u16,
    mut rx: UnboundedReceiver<Vec<u8>>,
    tx: UnboundedSender<Ev>,
) {
    let down = |tx: &UnboundedSender<Ev>| {
        let _ = tx.send(Ev::Input(Input::LinkDown { link }));
    };
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let connect = tokio::time::timeout(
        std::time::Duration::from_millis(CONNECT_TIMEOUT_MS),
        TcpStream::connect(addr),
    );
    // A link closed by the core while connecting ends at its first recv.
    let stream = match connect.await {
        Ok(Ok(s)) => s,
        _ => return down(&tx),
    };
    let _ = stream.set_nodelay(true);
    let local_ip = stream
        .local_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".to_string());
    if tx
        .send(Ev::Input(Input::LinkUp { link, local_ip }))
        .is_err()
    {
        return;
    }
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    loop {
        tokio::select! {
            biased;
            m = rx.recv() => match m {
                Some(bytes) => {
                    let mut all = bytes;
                    // Batch whatever else is queued into one write.
                    while let Ok(more) = rx.try_recv() {
                        all.extend_from_slice(&more);
                    }
                    if wr.write_all(&all).await.is_err() || wr.flush().await.is_err() {
                        return down(&tx);
                    }
                }
                None => return,
            },
            r = rd.read_buf(&mut buf) => {
                match r {
                    Ok(0) | Err(_) => return down(&tx),
                    Ok(_) => {}
                }
                let mut pos = 0;
                loop {
                    match wire::parse(&buf[pos..]) {
                        Ok(Some((reply, n))) => {
                            pos += n;
                            if tx.send(Ev::Input(Input::LinkReply { link, reply })).is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => return down(&tx),
                    }
                }
                buf.drain(..pos);
            }
        }
    }
}
