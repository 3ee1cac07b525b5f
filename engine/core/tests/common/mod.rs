//! A random write workload shared by the propagation and snapshot tests:
//! every command family whose effect form or copy-on-write path matters.
#![allow(dead_code)]

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const SK: &[&str] = &["s0", "s1", "s2"];
const LK: &[&str] = &["l0", "l1"];
const ZK: &[&str] = &["z0", "z1"];

/// One random write (or read that may write) as argv strings.
pub fn command(r: &mut Rng, now_ms: i64) -> Vec<String> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let n = r.below(1000).to_string();
    let sk = r.pick(SK);
    let lk = r.pick(LK);
    let zk = r.pick(ZK);
    let ttl = (10 + r.below(90)).to_string();
    let at_past = (now_ms - 1000).to_string();
    match r.below(44) {
        0 => s(&["SET", sk, &n]),
        1 => s(&["SET", sk, &n, "EX", &ttl]),
        2 => s(&["SET", sk, &n, "PX", &(ttl.clone() + "000"), "GET"]),
        3 => s(&["SET", sk, &n, "NX", "EX", &ttl]),
        4 => s(&["SETEX", sk, &ttl, &n]),
        5 => s(&["PSETEX", sk, &(ttl + "500"), &n]),
        6 => s(&["GETEX", sk, "EX", &ttl]),
        7 => s(&["GETEX", sk, "PERSIST"]),
        8 => s(&["GETEX", sk, "PXAT", &at_past]),
        9 => s(&["GETDEL", sk]),
        10 => s(&["GETSET", sk, &n]),
        11 => s(&["INCR", sk]),
        12 => s(&["INCRBYFLOAT", sk, "0.1"]),
        13 => s(&["EXPIRE", sk, &ttl]),
        14 => s(&["PEXPIRE", sk, &(ttl + "000"), "GT"]),
        15 => s(&["EXPIREAT", sk, "1"]),
        16 => s(&["PERSIST", sk]),
        17 => s(&["APPEND", sk, "x"]),
        18 => s(&["RPUSH", lk, &n, "b"]),
        19 => s(&["LPOP", lk, "2"]),
        20 => s(&["LMOVE", lk, r.pick(LK), "LEFT", "RIGHT"]),
        21 => s(&["LMPOP", "2", "l0", "l1", "RIGHT", "COUNT", "2"]),
        22 => s(&["SADD", "set", &n, "a", "b", "c"]),
        23 => s(&["SPOP", "set"]),
        24 => s(&["SPOP", "set", "3"]),
        25 => s(&["SPOP", "set", "100"]),
        26 => s(&["HSET", "h", "f", &n]),
        27 => s(&["HINCRBYFLOAT", "h", "g", "1.5"]),
        28 => s(&["ZADD", zk, &n, &format!("m{n}")]),
        29 => s(&["ZINCRBY", zk, "0.25", "m1"]),
        30 => s(&["ZPOPMIN", zk, "2"]),
        31 => s(&["ZMPOP", "2", "z0", "z1", "MAX", "COUNT", "2"]),
        32 => s(&["XADD", "x", "*", "f", &n]),
        33 => s(&["XADD", "x", "MAXLEN", "~", "3", "*", "f", &n]),
        34 => s(&["XTRIM", "x", "MAXLEN", "~", "2"]),
        35 => s(&["XGROUP", "CREATE", "x", "g", "0", "MKSTREAM"]),
        36 => s(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "COUNT",
            "2",
            "STREAMS",
            "x",
            ">",
        ]),
        37 => s(&["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "x", "0"]),
        38 => s(&["XAUTOCLAIM", "x", "g", "c2", "10", "0-0", "COUNT", "2"]),
        39 => s(&["XCLAIM", "x", "g", "c3", "0", "1-1", "FORCE"]),
        40 => s(&["RENAME", sk, r.pick(SK)]),
        41 => s(&["DEL", sk]),
        42 => s(&["SETRANGE", sk, "2", "yz"]),
        _ => s(&["XDEL", "x", "1-1"]),
    }
}
