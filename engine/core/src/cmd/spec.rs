//! Static command specs (generated from Redis 7 into `spec_gen.rs`) and the
//! runtime command table built from them plus the handler bindings.

pub struct Spec {
    pub name: &'static str,
    pub arity: i32,
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub flags: &'static [&'static str],
    /// COMMAND INFO entry, RESP3 bytes as Redis sends them.
    pub info: &'static [u8],
    /// COMMAND DOCS entry (a one-pair map), RESP3 bytes.
    pub docs: &'static [u8],
    pub subs: &'static [SubSpec],
}

pub struct SubSpec {
    pub name: &'static str,
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub info: &'static [u8],
}

pub const F_WRITE: u32 = 1;
pub const F_READONLY: u32 = 1 << 1;
pub const F_DENYOOM: u32 = 1 << 2;
pub const F_ADMIN: u32 = 1 << 3;
pub const F_NOSCRIPT: u32 = 1 << 4;
pub const F_LOADING: u32 = 1 << 5;
pub const F_STALE: u32 = 1 << 6;
pub const F_FAST: u32 = 1 << 7;
pub const F_NO_AUTH: u32 = 1 << 8;
pub const F_NO_MULTI: u32 = 1 << 9;
pub const F_MOVABLE_KEYS: u32 = 1 << 10;
pub const F_BLOCKING: u32 = 1 << 11;
pub const F_PUBSUB: u32 = 1 << 12;

pub fn flag_bits(flags: &[&str]) -> u32 {
    flags
        .iter()
        .map(|f| match *f {
            "write" => F_WRITE,
            "readonly" => F_READONLY,
            "denyoom" => F_DENYOOM,
            "admin" => F_ADMIN,
            "noscript" => F_NOSCRIPT,
            "loading" => F_LOADING,
            "stale" => F_STALE,
            "fast" => F_FAST,
            "no_auth" => F_NO_AUTH,
            "no_multi" => F_NO_MULTI,
            "movablekeys" => F_MOVABLE_KEYS,
            "blocking" => F_BLOCKING,
            "pubsub" => F_PUBSUB,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}
