//! Cache-effectiveness workload for `benches/hitratio.sh` (not a timed test).
//!
//! `hitratio PORT zipf OPS KEYS VALUE_BYTES SEED`: a cache-aside client:
//! GET a Zipf(0.99)-distributed key; on a miss, SET it. GETs are pipelined in
//! batches of 64 and the misses SET right after, the same for every server.
//! Prints `hits misses hit_ratio` over the second half of the run (the first
//! half warms the cache).
//!
//! `hitratio PORT load N VALUE_BYTES [KIND]`: create key:0..N over the wire
//! (pipelined), for the bytes-per-key measurement. KIND (default `string`):
//! `string` (SET key VALUE_BYTES bytes), or a 5-element collection per key
//! (VALUE_BYTES unused): `hash` (HSET f1 value1 .. f5 value5), `zset` (ZADD
//! 0 m0 .. 4 m4), `list` (RPUSH e0 .. e4), `intset` (SADD 0 .. 4) or `set`
//! (SADD m0 .. m4, short strings).
//!
//! A tiny RESP client over std's TcpStream keeps this free of dependencies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn open(port: u16) -> std::io::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    fn encode(buf: &mut Vec<u8>, args: &[&[u8]]) {
        buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
    }

    /// Read one reply; Some(true) for a non-null bulk, Some(false) for null.
    fn read(&mut self) -> std::io::Result<bool> {
        let mut line = String::new();
        self.r.read_line(&mut line)?;
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad reply");
        match line.as_bytes().first() {
            Some(b'$') => {
                let n: i64 = line[1..].trim().parse().map_err(|_| bad())?;
                if n < 0 {
                    return Ok(false);
                }
                let mut body = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut body)?;
                Ok(true)
            }
            Some(b'+') | Some(b':') => Ok(true),
            Some(b'-') => Err(std::io::Error::other(line.trim().to_string())),
            _ => Err(bad()),
        }
    }
}

/// xorshift64*: deterministic, seeded.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf over 0..n by inverse CDF (binary search over the cumulative weights).
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for k in 1..=n {
            acc += 1.0 / (k as f64).powf(s);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.next_f64();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    match args.get(i).and_then(|a| a.parse().ok()) {
        Some(v) => v,
        None => {
            eprintln!("usage: hitratio PORT zipf OPS KEYS VALUE_BYTES SEED | hitratio PORT load N VALUE_BYTES [string|hash|zset|list|intset|set] ({what})");
            std::process::exit(2);
        }
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = arg(&args, 1, "port");
    let mode: String = arg(&args, 2, "mode");
    let mut c = Conn::open(port)?;
    let mut buf = Vec::with_capacity(1 << 16);
    if mode == "load" {
        let n: usize = arg(&args, 3, "n");
        let value = vec![b'v'; arg(&args, 4, "value bytes")];
        let kind = args.get(5).map_or("string", String::as_str);
        // The command for one key, minus the key: (name, arguments after it).
        let five = |f: &dyn Fn(usize) -> Vec<String>| -> Vec<Vec<u8>> {
            (0..5).flat_map(f).map(String::into_bytes).collect()
        };
        let (cmd, rest): (&[u8], Vec<Vec<u8>>) = match kind {
            "string" => (&b"SET"[..], vec![value]),
            "hash" => (
                b"HSET",
                five(&|j| vec![format!("f{}", j + 1), format!("value{}", j + 1)]),
            ),
            "zset" => (b"ZADD", five(&|j| vec![j.to_string(), format!("m{j}")])),
            "list" => (b"RPUSH", five(&|j| vec![format!("e{j}")])),
            "intset" => (b"SADD", five(&|j| vec![j.to_string()])),
            "set" => (b"SADD", five(&|j| vec![format!("m{j}")])),
            _ => {
                eprintln!("unknown kind {kind}: string|hash|zset|list|intset|set");
                std::process::exit(2);
            }
        };
        let mut i = 0;
        while i < n {
            buf.clear();
            let end = (i + 1000).min(n);
            for k in i..end {
                let key = format!("key:{k}");
                let mut argv: Vec<&[u8]> = vec![cmd, key.as_bytes()];
                argv.extend(rest.iter().map(Vec::as_slice));
                Conn::encode(&mut buf, &argv);
            }
            c.w.write_all(&buf)?;
            for _ in i..end {
                c.read()?;
            }
            i = end;
        }
        return Ok(());
    }
    let ops: usize = arg(&args, 3, "ops");
    let keys: usize = arg(&args, 4, "keys");
    let value = vec![b'v'; arg(&args, 5, "value bytes")];
    let mut rng = Rng(arg::<u64>(&args, 6, "seed") | 1);
    let zipf = Zipf::new(keys, 0.99);
    let (mut hits, mut misses) = (0u64, 0u64);
    let mut done = 0;
    while done < ops {
        let batch: Vec<String> = (0..64)
            .map(|_| format!("key:{}", zipf.sample(&mut rng)))
            .collect();
        buf.clear();
        for k in &batch {
            Conn::encode(&mut buf, &[b"GET", k.as_bytes()]);
        }
        c.w.write_all(&buf)?;
        let mut missed = Vec::new();
        for k in &batch {
            if c.read()? {
                if done >= ops / 2 {
                    hits += 1;
                }
            } else {
                if done >= ops / 2 {
                    misses += 1;
                }
                missed.push(k);
            }
        }
        buf.clear();
        for k in &missed {
            Conn::encode(&mut buf, &[b"SET", k.as_bytes(), &value]);
        }
        c.w.write_all(&buf)?;
        for _ in &missed {
            c.read()?;
        }
        done += batch.len();
    }
    let ratio = hits as f64 / (hits + misses).max(1) as f64;
    println!("{hits} {misses} {ratio:.4}");
    Ok(())
}
