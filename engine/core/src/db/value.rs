//! Values stored in the keyspace and the encodings Redis reports for them.
//!
//! Strings keep Redis's three encodings because OBJECT ENCODING exposes them:
//! `int` (an i64), `embstr` (<= 44 bytes, set at creation) and `raw` (made by
//! in-place edits such as APPEND/SETRANGE/SETBIT, or long values).

pub const EMBSTR_BYTES_MAX: usize = 44;
/// Redis shares integer objects 0..10000 (OBJECT REFCOUNT shows INT_MAX).
pub const SHARED_INTEGERS: i64 = 10000;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    /// `embstr` is true while the value still has Redis's embstr encoding.
    Str {
        data: Vec<u8>,
        embstr: bool,
    },
    Hash(Box<super::hash::HashVal>),
    Set(Box<super::set::SetVal>),
    List(Box<super::list::ListVal>),
    ZSet(Box<super::zset::ZSetVal>),
    Stream(Box<super::stream::StreamVal>),
}

impl Value {
    /// Redis's `tryObjectEncoding` for a string set from client input.
    pub fn from_input(b: &[u8]) -> Value {
        if b.len() <= 20 {
            if let Some(v) = crate::util::parse_i64(b) {
                return Value::Int(v);
            }
        }
        Value::Str {
            data: b.to_vec(),
            embstr: b.len() <= EMBSTR_BYTES_MAX,
        }
    }

    /// A string created by `createStringObject` (embstr when short, never int).
    pub fn plain_string(b: Vec<u8>) -> Value {
        let embstr = b.len() <= EMBSTR_BYTES_MAX;
        Value::Str { data: b, embstr }
    }

    /// A raw-encoded string (result of an in-place edit).
    pub fn raw(b: Vec<u8>) -> Value {
        Value::Str {
            data: b,
            embstr: false,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Str { .. } => "string",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::List(_) => "list",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// Redis's OBJ_* type number, used by DEBUG DIGEST.
    pub fn type_code(&self) -> u32 {
        match self {
            Value::Int(_) | Value::Str { .. } => 0,
            Value::List(_) => 1,
            Value::Set(_) => 2,
            Value::ZSet(_) => 3,
            Value::Stream(_) => 6,
            Value::Hash(_) => 4,
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str { embstr: true, .. } => "embstr",
            Value::Str { embstr: false, .. } => "raw",
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::List(l) => l.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(x) => x.encoding(),
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Str { .. })
    }

    /// String bytes; ints are formatted into `scratch`.
    pub fn str_bytes<'a>(&'a self, scratch: &'a mut Vec<u8>) -> Option<&'a [u8]> {
        match self {
            Value::Str { data, .. } => Some(data),
            Value::Int(v) => {
                scratch.clear();
                crate::util::push_i64(scratch, *v);
                Some(scratch)
            }
            _ => None,
        }
    }

    /// Turn a string value into a raw mutable byte vector (dbUnshareStringValue).
    pub fn make_raw(&mut self) -> Option<&mut Vec<u8>> {
        if let Value::Int(v) = self {
            *self = Value::raw(crate::util::i64_bytes(*v));
        }
        match self {
            Value::Str { data, embstr } => {
                *embstr = false;
                Some(data)
            }
            _ => None,
        }
    }

    /// Approximate heap bytes, for INFO memory and MEMORY-style estimates.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Int(_) => 0,
            Value::Str { data, .. } => data.capacity(),
            Value::Hash(h) => h.heap_bytes(),
            Value::Set(s) => s.heap_bytes(),
            Value::List(l) => l.heap_bytes(),
            Value::ZSet(z) => z.heap_bytes(),
            Value::Stream(x) => x.heap_bytes(),
        }
    }
}
