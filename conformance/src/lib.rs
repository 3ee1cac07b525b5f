//! redsim-conformance: a differential test harness that runs the same
//! commands on a real `redis-server` and on `redsim-server` and compares the
//! reply bytes. It talks to both over TCP only and deliberately does not
//! depend on the redsim crates.
//!
//! Modules:
//! - [`server`]: start/stop a server process on a free loopback port.
//! - [`conn`]: a blocking raw RESP client (one reply at a time, raw bytes + tree).
//! - [`resp`]: RESP2/RESP3 encoding, framing, parsing and rendering.
//! - [`pair`]: run a command on both servers and compare (exact, unordered, shape, approx).
//! - [`dataset`]: every type and encoding as a command list (interop tests).
//! - [`split`]: redis-cli style argument splitting for case files.
//! - [`script`]: case-script parsing and running (transcripts, mismatches, coverage).

pub mod conn;
pub mod dataset;
pub mod pair;
pub mod resp;
pub mod script;
pub mod server;
pub mod split;

pub use conn::{Conn, Reply, ReplyError};
pub use pair::{Compare, ConnPair, Outcome, Pair};
pub use resp::Value;
pub use server::{redsim_binary, workspace_root, Flavor, Server};

/// Directory holding the case scripts (`conformance/cases`).
pub fn cases_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}
