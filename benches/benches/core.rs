//! criterion benches of the sans-IO engine: no sockets, so these measure the
//! core's own cost per command (parse + dispatch + keyspace + reply encode).

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use redsim_core::config::Config;
use redsim_core::resp::{Parsed, Reply, RequestParser};
use redsim_core::{Server, ServerEnv};

fn server() -> (Server, usize) {
    let env = ServerEnv {
        start_ms: 1_700_000_000_000,
        rng_seed: 1,
        version: "7.0.15".into(),
        ..Default::default()
    };
    let mut srv = Server::new(Config::new(), env);
    let h = srv.new_client("127.0.0.1:1".into(), "127.0.0.1:6379".into(), 1, 0);
    (srv, h)
}

fn pipeline(cmds: &[Vec<&[u8]>]) -> Vec<u8> {
    let mut b = Vec::new();
    for c in cmds {
        b.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
        for a in c {
            b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            b.extend_from_slice(a);
            b.extend_from_slice(b"\r\n");
        }
    }
    b
}

fn bench_parse(c: &mut Criterion) {
    let cmds: Vec<Vec<&[u8]>> = (0..16)
        .map(|_| vec![b"SET".as_slice(), b"key:000123456", b"xxx"])
        .collect();
    let buf = pipeline(&cmds);
    let mut g = c.benchmark_group("resp");
    g.throughput(Throughput::Elements(16));
    g.bench_function("parse_16_set", |b| {
        let mut p = RequestParser::new();
        b.iter(|| {
            let mut start = 0;
            while let Parsed::Command { consumed } = p.parse(&buf[start..], 512 << 20, true) {
                let mut argv: smallvec::SmallVec<[&[u8]; 8]> = smallvec::SmallVec::new();
                p.args(&buf[start..start + consumed], &mut argv);
                black_box(&argv);
                start += consumed;
            }
        })
    });
    g.finish();
}

fn bench_commands(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(1));
    let keys: Vec<Vec<u8>> = (0..100_000)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect();
    g.bench_function("set_100k_keys", |b| {
        let (mut srv, h) = server();
        let mut out = Reply::new();
        let mut i = 0usize;
        b.iter(|| {
            let k = &keys[i % keys.len()];
            i += 1;
            out.buf.clear();
            srv.execute(h, &[b"SET", k, b"xxx"], 1_700_000_000_000, &mut out);
        })
    });
    g.bench_function("get_hit_100k_keys", |b| {
        let (mut srv, h) = server();
        let mut out = Reply::new();
        for k in &keys {
            srv.execute(h, &[b"SET", k, b"xxx"], 1_700_000_000_000, &mut out);
        }
        let mut i = 0usize;
        b.iter(|| {
            let k = &keys[i % keys.len()];
            i += 1;
            out.buf.clear();
            srv.execute(h, &[b"GET", k], 1_700_000_000_000, &mut out);
        })
    });
    g.bench_function("incr", |b| {
        let (mut srv, h) = server();
        let mut out = Reply::new();
        b.iter(|| {
            out.buf.clear();
            srv.execute(h, &[b"INCR", b"counter"], 1_700_000_000_000, &mut out);
        })
    });
    g.bench_function("ping", |b| {
        let (mut srv, h) = server();
        let mut out = Reply::new();
        b.iter(|| {
            out.buf.clear();
            srv.execute(h, &[b"PING"], 1_700_000_000_000, &mut out);
        })
    });
    g.bench_function("set_fresh_keyspace_1m", |b| {
        b.iter_batched(
            server,
            |(mut srv, h)| {
                let mut out = Reply::new();
                for k in keys.iter().take(10_000) {
                    out.buf.clear();
                    srv.execute(h, &[b"SET", k, b"v"], 0, &mut out);
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_parse, bench_commands);
criterion_main!(benches);
