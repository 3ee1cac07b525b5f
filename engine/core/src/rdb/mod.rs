//! Redis 7.0 RDB persistence (RDB version 10): the file format and the
//! DUMP/RESTORE payload format.
//!
//! - [`enc`]: primitives (CRC64, LZF, lengths, strings, doubles, times) and
//!   the [`Reader`](enc::Reader) every decoder reads through: any truncation
//!   or malformed input is an [`RdbError`] carrying the byte offset, never a
//!   panic.
//! - [`packed`]: listpack (encode/decode/validate), intset, ziplist (decode).
//! - [`value`]: one value <-> its RDB type byte and body, with Redis's
//!   choice of type when saving and its encoding-conversion rules on load.
//! - [`stream`]: the stream body (STREAM_LISTPACKS_2 and the older form).
//! - [`file`]: whole files: [`RdbWriter`] (incremental, CRC as it goes) and
//!   [`load`].
//! - [`dump_payload`] / [`restore_payload`]: DUMP / RESTORE payloads.

pub mod enc;
pub mod file;
pub mod packed;
pub mod stream;
pub mod value;

use std::borrow::Cow;

pub use file::{load, save_keyspace, Aux, KeyMeta, LoadInfo, LoadOpts, RdbWriter, SaveOpts};
pub use value::{decode_value, encode_value, Limits};

/// The RDB version Redis 7.0 writes.
pub const RDB_VERSION: u16 = 10;

// Value types (rdb.h).
pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE_PRE_GA: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;

// Opcodes.
pub const OPCODE_FUNCTION2: u8 = 245;
pub const OPCODE_FUNCTION_PRE_GA: u8 = 246;
pub const OPCODE_MODULE_AUX: u8 = 247;
pub const OPCODE_IDLE: u8 = 248;
pub const OPCODE_FREQ: u8 = 249;
pub const OPCODE_AUX: u8 = 250;
pub const OPCODE_RESIZEDB: u8 = 251;
pub const OPCODE_EXPIRETIME_MS: u8 = 252;
pub const OPCODE_EXPIRETIME: u8 = 253;
pub const OPCODE_SELECTDB: u8 = 254;
pub const OPCODE_EOF: u8 = 255;

/// rdbIsObjectType for RDB version 10.
pub fn is_object_type(t: u8) -> bool {
    t <= 7 && t != 6 || (9..=19).contains(&t)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdbErrorKind {
    /// The input ended early.
    Truncated,
    /// Structurally invalid data.
    Corrupt,
    /// A key whose value is empty (Redis skips these when loading a file
    /// and refuses them in RESTORE).
    EmptyKey,
    /// Valid but not supported by redsim (modules, functions).
    Unsupported,
    /// Bad magic or a newer RDB version.
    Version,
    /// CRC64 mismatch.
    Checksum,
}

/// A load error with the absolute byte offset where it was detected.
#[derive(Debug, Clone, PartialEq)]
pub struct RdbError {
    pub offset: usize,
    pub kind: RdbErrorKind,
    pub msg: Cow<'static, str>,
}

impl RdbError {
    pub fn new(kind: RdbErrorKind, offset: usize, msg: impl Into<Cow<'static, str>>) -> RdbError {
        RdbError {
            offset,
            kind,
            msg: msg.into(),
        }
    }

    pub fn corrupt(offset: usize, msg: impl Into<Cow<'static, str>>) -> RdbError {
        RdbError::new(RdbErrorKind::Corrupt, offset, msg)
    }

    pub fn truncated(offset: usize) -> RdbError {
        RdbError::new(
            RdbErrorKind::Truncated,
            offset,
            "Unexpected EOF reading RDB file",
        )
    }
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at offset {})", self.msg, self.offset)
    }
}

impl std::error::Error for RdbError {}

/// DUMP's payload (createDumpPayload): type, value, RDB version (2 bytes
/// LE), CRC64 of all that (8 bytes LE).
pub fn dump_payload(v: &crate::db::Value, compress: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    let t = encode_value(&mut out, v, compress);
    out.insert(0, t);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = enc::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// verifyDumpPayload: footer version <= ours and CRC64 matches.
pub fn verify_payload(p: &[u8]) -> bool {
    if p.len() < 10 {
        return false;
    }
    let footer = &p[p.len() - 10..];
    let ver = u16::from_le_bytes([footer[0], footer[1]]);
    if ver > RDB_VERSION {
        return false;
    }
    let crc = enc::crc64(0, &p[..p.len() - 8]);
    crc.to_le_bytes() == footer[2..10]
}

/// RESTORE's decoding of a verified payload (rdbLoadObjectType +
/// rdbLoadObject). Errors mean "Bad data format".
pub fn restore_payload(p: &[u8], lim: &Limits) -> Result<crate::db::Value, RdbError> {
    if !verify_payload(p) {
        return Err(RdbError::new(
            RdbErrorKind::Checksum,
            0,
            "DUMP payload version or checksum are wrong",
        ));
    }
    // Like Redis, read from the whole payload: the footer is not fenced off
    // (a value that runs into it decodes as Redis would decode it).
    let mut r = enc::Reader::new(p);
    let t = r.u8()?;
    if !is_object_type(t) {
        return Err(RdbError::corrupt(0, format!("Unknown RDB type {t}")));
    }
    decode_value(t, &mut r, lim)
}
