//! Values stored in the keyspace and the encodings Redis reports for them.
//!
//! Strings keep Redis's three encodings because OBJECT ENCODING exposes them:
//! `int` (an i64), `embstr` (<= 44 bytes, set at creation) and `raw` (made by
//! in-place edits such as APPEND/SETRANGE/SETBIT, or long values).

pub const EMBSTR_BYTES_MAX: usize = 44;
/// Redis shares integer objects 0..10000 (OBJECT REFCOUNT shows INT_MAX).
pub const SHARED_INTEGERS: i64 = 10000;
/// Strings this short live inside the `Value` itself (no allocation).
pub const STR_INLINE_MAX: usize = 14;

use super::bytes::ThinBytes;

/// A keyspace value: 16 bytes, so a table entry stays at 56 bytes.
/// Strings have four representations; `encoding()` maps them to Redis's:
/// `Int` is `int`; `Small` (inline, <= 14 bytes) is always `embstr`; `Str`
/// (exact-size heap string) is `embstr` or `raw` as created; `Raw` (a
/// growable buffer made by in-place edits) is always `raw`.
#[derive(Clone, Debug)]
pub enum Value {
    Int(i64),
    Small { len: u8, buf: [u8; STR_INLINE_MAX] },
    Str { data: ThinBytes, embstr: bool },
    Raw(Box<Vec<u8>>),
    Hash(Box<super::hash::HashVal>),
    Set(Box<super::set::SetVal>),
    List(Box<super::list::ListVal>),
    ZSet(Box<super::zset::ZSetVal>),
    Stream(Box<super::stream::StreamVal>),
}

/// Equality as the data (and for strings, the encoding) Redis would show.
impl PartialEq for Value {
    fn eq(&self, o: &Value) -> bool {
        match (self, o) {
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Hash(a), Value::Hash(b)) => a == b,
            (Value::Set(a), Value::Set(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::ZSet(a), Value::ZSet(b)) => a == b,
            (Value::Stream(a), Value::Stream(b)) => a == b,
            (a, b) => match (a.str_data(), b.str_data()) {
                (Some(x), Some(y)) => x == y && a.encoding() == b.encoding(),
                _ => false,
            },
        }
    }
}

impl Value {
    /// Redis's `tryObjectEncoding` for a string set from client input.
    pub fn from_input(b: &[u8]) -> Value {
        if b.len() <= 20 {
            if let Some(v) = crate::util::parse_i64(b) {
                return Value::Int(v);
            }
        }
        Value::string(b, b.len() <= EMBSTR_BYTES_MAX)
    }

    /// A string with the given Redis encoding (embstr or raw), stored in the
    /// most compact representation.
    pub fn string(b: &[u8], embstr: bool) -> Value {
        if embstr && b.len() <= STR_INLINE_MAX {
            let mut buf = [0u8; STR_INLINE_MAX];
            buf[..b.len()].copy_from_slice(b);
            return Value::Small {
                len: b.len() as u8,
                buf,
            };
        }
        match ThinBytes::new(b) {
            Some(data) => Value::Str { data, embstr },
            None => Value::Raw(Box::new(b.to_vec())),
        }
    }

    /// A string created by `createStringObject` (embstr when short, never int).
    pub fn plain_string(b: Vec<u8>) -> Value {
        let embstr = b.len() <= EMBSTR_BYTES_MAX;
        Value::string(&b, embstr)
    }

    /// A raw-encoded string (result of an in-place edit): keeps the buffer
    /// growable so repeated APPEND/SETRANGE stay amortised O(1).
    pub fn raw(b: Vec<u8>) -> Value {
        Value::Raw(Box::new(b))
    }

    /// The bytes of a non-integer string value.
    #[inline]
    pub fn str_data(&self) -> Option<&[u8]> {
        match self {
            Value::Small { len, buf } => Some(&buf[..*len as usize]),
            Value::Str { data, .. } => Some(data),
            Value::Raw(v) => Some(v),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Small { .. } | Value::Str { .. } | Value::Raw(_) => "string",
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
            Value::Int(_) | Value::Small { .. } | Value::Str { .. } | Value::Raw(_) => 0,
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
            Value::Small { .. } | Value::Str { embstr: true, .. } => "embstr",
            Value::Str { embstr: false, .. } | Value::Raw(_) => "raw",
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::List(l) => l.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(x) => x.encoding(),
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(
            self,
            Value::Int(_) | Value::Small { .. } | Value::Str { .. } | Value::Raw(_)
        )
    }

    /// String bytes; ints are formatted into `scratch`.
    pub fn str_bytes<'a>(&'a self, scratch: &'a mut Vec<u8>) -> Option<&'a [u8]> {
        if let Value::Int(v) = self {
            scratch.clear();
            crate::util::push_i64(scratch, *v);
            return Some(scratch);
        }
        self.str_data()
    }

    /// Turn a string value into a raw mutable byte vector (dbUnshareStringValue).
    pub fn make_raw(&mut self) -> Option<&mut Vec<u8>> {
        let bytes = match &*self {
            Value::Raw(_) => None,
            Value::Int(v) => Some(crate::util::i64_bytes(*v)),
            other => Some(other.str_data()?.to_vec()),
        };
        if let Some(b) = bytes {
            *self = Value::raw(b);
        }
        match self {
            Value::Raw(v) => Some(v),
            _ => None,
        }
    }

    /// Heap bytes the value owns, as the allocator charges them for strings
    /// (`alloc::charged`); collections report their own estimates.
    pub fn heap_bytes(&self) -> usize {
        use crate::alloc::charged;
        match self {
            Value::Int(_) | Value::Small { .. } => 0,
            Value::Str { data, .. } => charged(data.alloc_bytes()),
            Value::Raw(v) => {
                charged(24)
                    + if v.capacity() > 0 {
                        charged(v.capacity())
                    } else {
                        0
                    }
            }
            Value::Hash(h) => h.heap_bytes(),
            Value::Set(s) => s.heap_bytes(),
            Value::List(l) => l.heap_bytes(),
            Value::ZSet(z) => z.heap_bytes(),
            Value::Stream(x) => x.heap_bytes(),
        }
    }
}
