//! A minimal blocking RESP client over `std::net::TcpStream` (no tokio): send a
//! command as multibulk (any bytes) or raw bytes, read exactly one reply as
//! its raw frame bytes plus a parsed tree, with a read timeout so a server
//! that hangs makes the case fail instead of blocking the suite.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::resp::{self, Value};

/// Default time to wait for one reply.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One complete reply: the exact bytes of its frame and the parsed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub raw: Vec<u8>,
    pub value: Value,
}

/// Why no reply could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// No complete reply within the read timeout (bytes received so far).
    Timeout { partial: Vec<u8> },
    /// The server closed the connection (bytes received before the close).
    Closed { partial: Vec<u8> },
    /// The bytes received are not valid RESP.
    Protocol { msg: String, partial: Vec<u8> },
    /// Any other socket error.
    Io(String),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Timeout { partial } => {
                write!(
                    f,
                    "<timeout waiting for reply; got {}>",
                    resp::escape_bytes(partial)
                )
            }
            ReplyError::Closed { partial } => {
                write!(
                    f,
                    "<connection closed; got {}>",
                    resp::escape_bytes(partial)
                )
            }
            ReplyError::Protocol { msg, partial } => {
                write!(
                    f,
                    "<malformed reply: {msg}; bytes {}>",
                    resp::escape_bytes(partial)
                )
            }
            ReplyError::Io(e) => write!(f, "<io error: {e}>"),
        }
    }
}

/// What `read_until_close_or_idle` saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRead {
    pub bytes: Vec<u8>,
    /// true if the server closed (or reset) the connection.
    pub closed: bool,
}

/// A connection to one server.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    read_timeout: Duration,
}

impl Conn {
    pub fn connect(port: u16) -> io::Result<Conn> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
            read_timeout: DEFAULT_READ_TIMEOUT,
        })
    }

    pub fn set_read_timeout(&mut self, t: Duration) {
        self.read_timeout = t;
    }

    /// Send one command as a RESP multibulk request.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.stream.write_all(&resp::encode_command(args))
    }

    /// Send arbitrary bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Close our write half (the server sees EOF).
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// Bytes received but not yet consumed by `read_reply`.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Read exactly one reply (any bytes after it stay buffered).
    pub fn read_reply(&mut self) -> Result<Reply, ReplyError> {
        let deadline = Instant::now() + self.read_timeout;
        let mut chunk = [0u8; 16384];
        loop {
            if !self.buf.is_empty() {
                match resp::parse(&self.buf) {
                    Ok(Some((value, n))) => {
                        let raw: Vec<u8> = self.buf.drain(..n).collect();
                        return Ok(Reply { raw, value });
                    }
                    Ok(None) => {}
                    Err(msg) => {
                        return Err(ReplyError::Protocol {
                            msg,
                            partial: std::mem::take(&mut self.buf),
                        })
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ReplyError::Timeout {
                    partial: std::mem::take(&mut self.buf),
                });
            }
            if let Err(e) = self.stream.set_read_timeout(Some(deadline - now)) {
                return Err(ReplyError::Io(e.to_string()));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(ReplyError::Closed {
                        partial: std::mem::take(&mut self.buf),
                    })
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(ReplyError::Timeout {
                        partial: std::mem::take(&mut self.buf),
                    })
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_reset(&e) => {
                    return Err(ReplyError::Closed {
                        partial: std::mem::take(&mut self.buf),
                    })
                }
                Err(e) => return Err(ReplyError::Io(e.to_string())),
            }
        }
    }

    /// Send a command and read its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply, ReplyError> {
        self.send(args).map_err(|e| {
            if is_reset(&e) {
                ReplyError::Closed {
                    partial: Vec::new(),
                }
            } else {
                ReplyError::Io(e.to_string())
            }
        })?;
        self.read_reply()
    }

    /// Read everything until the server closes the connection, or until no
    /// byte arrived for `idle`, or until `max` elapsed. Used for raw protocol
    /// cases where the number of replies is the thing under test.
    pub fn read_until_close_or_idle(&mut self, idle: Duration, max: Duration) -> RawRead {
        let start = Instant::now();
        let mut bytes = std::mem::take(&mut self.buf);
        let mut last = Instant::now();
        let mut chunk = [0u8; 16384];
        loop {
            let now = Instant::now();
            let until_idle = (last + idle).saturating_duration_since(now);
            let until_max = (start + max).saturating_duration_since(now);
            let wait = until_idle.min(until_max);
            if wait.is_zero() {
                return RawRead {
                    bytes,
                    closed: false,
                };
            }
            if self.stream.set_read_timeout(Some(wait)).is_err() {
                return RawRead {
                    bytes,
                    closed: true,
                };
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return RawRead {
                        bytes,
                        closed: true,
                    }
                }
                Ok(n) => {
                    bytes.extend_from_slice(&chunk[..n]);
                    last = Instant::now();
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return RawRead {
                        bytes,
                        closed: false,
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    return RawRead {
                        bytes,
                        closed: true,
                    }
                }
            }
        }
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
    )
}
