//! `redsim-sim --seeds N [--start S] [--ops K] [--check-determinism] ...`
//!
//! Runs seeds `S..S+N` of the simulation (see the crate docs and README).
//! Exit codes: 0 ok, 101 panic, 2 safety violation, 3 liveness, 4 nondeterminism,
//! 1 usage error.

use redsim_sim::SimOptions;

struct Cli {
    start: u64,
    seeds: u64,
    check_determinism: bool,
    verbose: bool,
    history: bool,
    opts: SimOptions,
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("redsim-sim: {msg}");
    }
    eprintln!(
        "usage: redsim-sim [--seeds N] [--start S | --seed S] [--ops K] [--check-determinism]\n\
         \x20                 [--keys N] [--kills N] [--partitions N] [--max-partition-ms MS]\n\
         \x20                 [--max-think-ms MS] [--latency-ms LO..HI] [--op-timeout-ms MS]\n\
         \x20                 [--quiet-ms MS] [--budget-ms MS] [--hz N] [--server-log]\n\
         \x20                 [--appendfsync always|everysec|no]\n\
         \x20                 [--selftest panic|safety|liveness|nondeterminism|ack-before-fsync|lost-write]\n\
         \x20                 [--verbose] [--history]"
    );
    std::process::exit(1);
}

fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> T {
    let Some(v) = v else {
        usage(&format!("{flag} needs a value"))
    };
    v.parse()
        .unwrap_or_else(|_| usage(&format!("bad value for {flag}: {v}")))
}

fn parse() -> Cli {
    let mut cli = Cli {
        start: 0,
        seeds: 10,
        check_determinism: false,
        verbose: false,
        history: false,
        opts: SimOptions::default(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let o = &mut cli.opts;
        match a.as_str() {
            "--seeds" => cli.seeds = num(&a, args.next()),
            "--start" => cli.start = num(&a, args.next()),
            "--seed" => {
                cli.start = num(&a, args.next());
                cli.seeds = 1;
            }
            "--ops" => o.ops = num(&a, args.next()),
            "--keys" => o.keys = num::<usize>(&a, args.next()).max(1),
            "--kills" => o.kills = num(&a, args.next()),
            "--partitions" => o.partitions = num(&a, args.next()),
            "--max-partition-ms" => o.max_partition_ms = num(&a, args.next()),
            "--max-think-ms" => o.max_think_ms = num(&a, args.next()),
            "--latency-ms" => {
                let v: String = num(&a, args.next());
                let (lo, hi) = v
                    .split_once("..")
                    .unwrap_or_else(|| usage("--latency-ms wants LO..HI"));
                o.latency_ms = (num(&a, Some(lo.to_string())), num(&a, Some(hi.to_string())));
            }
            "--op-timeout-ms" => o.op_timeout_ms = num(&a, args.next()),
            "--quiet-ms" => o.quiet_ms = num(&a, args.next()),
            "--budget-ms" => o.budget_ms = Some(num(&a, args.next())),
            "--hz" => o.hz = num(&a, args.next()),
            "--server-log" => o.server_log = true,
            "--appendfsync" => {
                let v: String = num(&a, args.next());
                if !matches!(v.as_str(), "always" | "everysec" | "no") {
                    usage("--appendfsync wants always|everysec|no");
                }
                o.appendfsync = Some(v);
            }
            "--selftest" => {
                let v: String = num(&a, args.next());
                o.selftest = Some(redsim_sim::SelfTest::parse(&v).unwrap_or_else(|| {
                    usage("--selftest wants panic|safety|liveness|nondeterminism|ack-before-fsync|lost-write|lost-increment|duplicate-element|stale-read")
                }));
            }
            "--clients" => o.clients = num(&a, args.next()),
            "--workloads" => o.workloads = num(&a, args.next()),
            "--swarm" => o.swarm = true,
            "--buggify" => o.buggify = true,
            "--pauses" => o.pauses = num(&a, args.next()),
            "--client-cuts" => o.client_cuts = num(&a, args.next()),
            "--one-way" => o.one_way = num(&a, args.next()),
            "--spikes" => o.spikes = num(&a, args.next()),
            "--loss" => o.loss = num(&a, args.next()),
            "--disk-faults" => o.disk_faults = num(&a, args.next()),
            "--clock-jumps" => o.clock_jumps = num(&a, args.next()),
            "--check-determinism" => cli.check_determinism = true,
            "--verbose" | "-v" => cli.verbose = true,
            "--history" => cli.history = true,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    cli
}

#[cfg(not(madsim))]
fn main() {
    let _ = parse();
    eprintln!(
        "redsim-sim must be built in the simulation flavour:\n  \
         RUSTFLAGS=\"--cfg madsim\" CARGO_TARGET_DIR=target-sim cargo run --release -p redsim-sim -- --seeds 100"
    );
    std::process::exit(1);
}

#[cfg(madsim)]
fn main() {
    let cli = parse();
    let o = &cli.opts;
    let end = cli.start.saturating_add(cli.seeds);
    println!(
        "redsim-sim: seeds {}..{} ({}), ops={} keys={} kills={} partitions={} max-think-ms={} latency-ms={}..{} \
         op-timeout-ms={} quiet-ms={} hz={} budget-ms={} check-determinism={}",
        cli.start,
        end,
        cli.seeds,
        o.ops,
        o.keys,
        o.kills,
        o.partitions,
        o.max_think_ms,
        o.latency_ms.0,
        o.latency_ms.1,
        o.op_timeout_ms,
        o.quiet_ms,
        o.hz,
        o.budget_ms(),
        if cli.check_determinism { "yes" } else { "no" }
    );
    let t0 = std::time::Instant::now();
    let mut sim_ms_total: u64 = 0;
    let mut events_total: u64 = 0;
    let mut combined: u64 = 0xcbf2_9ce4_8422_2325;
    let per_seed_lines = cli.verbose || cli.seeds <= 20;
    for seed in cli.start..end {
        let r = redsim_sim::run_seed(seed, &cli.opts, cli.check_determinism);
        sim_ms_total += r.sim_ms;
        if let Some(h) = r.hashes.first() {
            combined = (combined ^ h).wrapping_mul(0x0100_0000_01b3);
        }
        events_total += r.events as u64;
        let mut hashes = r
            .hashes
            .iter()
            .map(|h| format!("{h:016x}"))
            .collect::<Vec<_>>()
            .join(" ");
        if hashes.is_empty() {
            hashes = "(none)".into();
        }
        if cli.history {
            // Re-run to print the history (runs are deterministic).
            let out = redsim_sim::run_once(seed, &cli.opts);
            for (i, e) in out.events.iter().enumerate() {
                println!("[{i}] {e}");
            }
        }
        match &r.result {
            Ok(()) => {
                if per_seed_lines {
                    let s = r.stats.clone().unwrap_or_default();
                    println!(
                        "seed {seed}: ok  trace {hashes}  events={} sim={}ms ok-ops={} failed-ops={} kills={} \
                         unknown-fate={} straddles={} expired-seen={}",
                        r.events,
                        r.sim_ms,
                        s.ops_ok,
                        s.ops_failed,
                        s.kills,
                        s.ops_unknown_fate,
                        s.straddles,
                        s.expired_seen
                    );
                } else if (seed - cli.start + 1).is_multiple_of(100) {
                    println!(
                        "... {} seeds ok ({:.1}s)",
                        seed - cli.start + 1,
                        t0.elapsed().as_secs_f64()
                    );
                }
            }
            Err(f) => {
                println!("\nseed {seed}: FAILED  trace {hashes}");
                print!("{f}");
                let det =
                    if cli.check_determinism || f.kind == redsim_sim::FailureKind::Nondeterminism {
                        " --check-determinism"
                    } else {
                        ""
                    };
                let flags = cli.opts.flags();
                let flags = if flags.is_empty() {
                    String::new()
                } else {
                    format!(" {flags}")
                };
                println!("seed: {seed}");
                println!(
                    "reproduce: RUSTFLAGS=\"--cfg madsim\" CARGO_TARGET_DIR=target-sim cargo run --release -p redsim-sim -- \
                     --seed {seed}{flags}{det} --history"
                );
                std::process::exit(f.kind.exit_code());
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let runs = cli.seeds * if cli.check_determinism { 2 } else { 1 };
    println!(
        "all {} seeds ok: {:.2}s wall, {:.1} seeds/s ({} runs), {:.1}s simulated ({:.0}x real time), {} events, combined trace hash {:016x}",
        cli.seeds,
        wall,
        cli.seeds as f64 / wall.max(1e-9),
        runs,
        sim_ms_total as f64 / 1000.0,
        sim_ms_total as f64 / 1000.0 / wall.max(1e-9),
        events_total,
        combined
    );
}
