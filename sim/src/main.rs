//! `redsim-sim [SCENARIO] [--seed N | --seeds N | --seeds A..B] [--jobs J] ...`
//! (usually through `cargo sim`, see `src/bin/cargo-sim-launch.rs`).
//!
//! Runs seeds of a named scenario (see `cargo sim list`), prints one line per
//! run (`seed=N scenario=... outcome=... trace=...`), logs failing seeds
//! under `target-sim/sim-failures/`, shrinks the first failure to a smaller
//! reproducer and, for a single seed, draws an HTML timeline.
//!
//! Determinism: the wall clock is read here only for progress and throughput
//! figures; everything a seed does is a function of the seed and its options.
//! `--jobs J` re-executes this binary as J child processes (threads are not
//! allowed under madsim), each running every J-th seed and reporting through
//! a file that the parent polls. Exit codes: 0 ok, 1 usage, 2 safety,
//! 3 liveness, 4 nondeterminism, 101 panic (a sweep: the lowest failing seed's).

use redsim_sim::cli::{self, Command};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("redsim-sim: {e}\n{}", cli::usage());
            std::process::exit(1);
        }
    };
    match cmd {
        Command::Help => println!("{}", cli::usage()),
        Command::List => list(),
        Command::Run(r) => sweep::run(*r),
    }
}

/// `cargo sim list`: every scenario with its promise.
fn list() {
    for s in redsim_sim::scenarios() {
        let base = redsim_sim::SimOptions::default();
        let flags = (s.options)().flags_vs(&base);
        println!(
            "{}{}",
            s.name,
            if flags.is_empty() {
                String::new()
            } else {
                format!("  ({flags})")
            }
        );
        // Wrap the promise at ~88 columns, indented.
        let mut line = String::from("   ");
        for w in s.promises.split_whitespace() {
            if line.len() + w.len() > 88 {
                println!("{line}");
                line = String::from("   ");
            }
            line.push(' ');
            line.push_str(w);
        }
        println!("{line}\n");
    }
    println!("run one: cargo sim <scenario> --seed N    sweep: cargo sim <scenario> --seeds A..B --jobs J");
}

#[cfg(not(madsim))]
mod sweep {
    pub fn run(_: redsim_sim::cli::Run) {
        eprintln!(
            "redsim-sim must be built in the simulation flavour; use `cargo sim ...` or\n  \
             RUSTFLAGS=\"--cfg madsim\" CARGO_TARGET_DIR=target-sim cargo run --release -p redsim-sim -- --seeds 100"
        );
        std::process::exit(1);
    }
}

#[cfg(madsim)]
mod sweep {
    use std::collections::BTreeMap;
    use std::io::{Read, Seek, SeekFrom};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Stdio};
    use std::time::{Duration, Instant};

    use redsim_sim::cli::Run;
    use redsim_sim::history::Event;
    use redsim_sim::{run_seed, run_seed_full, shrink, timeline, FailureKind, SeedReport};

    /// Progress lines at most this often (wall time).
    const PROGRESS_EVERY: Duration = Duration::from_secs(2);

    /// What a sweep keeps of one seed (also the `@seed` record of workers).
    #[derive(Clone, Debug)]
    struct Outcome {
        seed: u64,
        kind: Option<FailureKind>,
        hash: Option<u64>,
        sim_ms: u64,
        events: u64,
    }

    impl Outcome {
        fn record(&self) -> String {
            format!(
                "@seed {} {} {} {} {}",
                self.seed,
                self.kind.map_or("ok", FailureKind::class),
                self.hash.map_or("-".to_string(), |h| format!("{h:016x}")),
                self.sim_ms,
                self.events
            )
        }

        fn parse(line: &str) -> Option<Outcome> {
            let mut w = line.strip_prefix("@seed ")?.split(' ');
            let seed = w.next()?.parse().ok()?;
            let kind = match w.next()? {
                "ok" => None,
                "panic" => Some(FailureKind::Panic),
                "safety" => Some(FailureKind::Safety),
                "liveness" => Some(FailureKind::Liveness),
                "nondeterminism" => Some(FailureKind::Nondeterminism),
                _ => return None,
            };
            let hash = match w.next()? {
                "-" => None,
                h => Some(u64::from_str_radix(h, 16).ok()?),
            };
            Some(Outcome {
                seed,
                kind,
                hash,
                sim_ms: w.next()?.parse().ok()?,
                events: w.next()?.parse().ok()?,
            })
        }
    }

    /// Where failure logs and timelines go: `<target dir>/sim-failures`,
    /// the target dir being the one this binary was built in.
    fn failure_dir() -> PathBuf {
        let from_exe = std::env::current_exe().ok().and_then(|e| {
            let profile = e.parent()?;
            Some(profile.parent()?.join("sim-failures"))
        });
        from_exe.unwrap_or_else(|| PathBuf::from("target-sim/sim-failures"))
    }

    /// A path as the user should read it: relative to the working directory if below it.
    fn show(p: &Path) -> String {
        std::env::current_dir()
            .ok()
            .and_then(|d| p.strip_prefix(d).ok().map(|r| r.display().to_string()))
            .unwrap_or_else(|| p.display().to_string())
    }

    fn one_line(r: &Run, rep: &SeedReport) -> String {
        let outcome = match &rep.result {
            Ok(()) => "ok",
            Err(f) => f.kind.class(),
        };
        let trace = match rep.hashes.as_slice() {
            [] => "none".to_string(),
            [a] => format!("{a:016x}"),
            [a, b, ..] if a == b => format!("{a:016x}"),
            [a, b, ..] => format!("{a:016x} trace2={b:016x}"),
        };
        format!(
            "seed={} scenario={} outcome={outcome} trace={trace} events={} sim-ms={} | {}{}",
            rep.seed,
            r.scenario.name,
            rep.events,
            rep.sim_ms,
            redsim_sim::derived(rep.seed, &r.opts).knobs_line(),
            if r.check_determinism {
                " check-determinism=on"
            } else {
                ""
            }
        )
    }

    fn write_timeline(path: &Path, r: &Run, rep: &SeedReport, events: &[Event]) {
        let (highlight, notes) = match &rep.result {
            Ok(()) => (None, vec![r.opts.knobs_line()]),
            Err(f) => (
                f.event_index,
                vec![
                    r.opts.knobs_line(),
                    format!("{}: {}", f.kind.name(), f.message),
                    format!(
                        "reproduce: {}",
                        r.reproduce(rep.seed, &r.opts, r.check_determinism)
                    ),
                ],
            ),
        };
        let mut tl = timeline::from_history(events, highlight);
        tl.title = format!(
            "redsim-sim {} seed={}: {}",
            r.scenario.name,
            rep.seed,
            rep.result.as_ref().err().map_or("ok", |f| f.kind.class())
        );
        tl.notes = notes;
        if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(d);
        }
        match std::fs::write(path, timeline::render_html(&tl)) {
            Ok(()) => println!("timeline: {}", show(path)),
            Err(e) => eprintln!("redsim-sim: cannot write {}: {e}", path.display()),
        }
    }

    /// Run one seed, print its line(s), log it if it failed.
    fn run_one(r: &Run, seed: u64, per_seed_lines: bool) -> Outcome {
        let (rep, events) = run_seed_full(seed, &r.opts, r.check_determinism);
        if r.history {
            match &events {
                Some(ev) => {
                    for (i, e) in ev.iter().enumerate() {
                        println!("[{i}] {e}");
                    }
                }
                None => println!("(no history: the run panicked)"),
            }
        }
        let line = one_line(r, &rep);
        if let Err(f) = &rep.result {
            let determinism = r.check_determinism || f.kind == FailureKind::Nondeterminism;
            let repro = r.reproduce(seed, &r.opts, determinism);
            println!("{line}");
            if r.single {
                print!("{f}");
            } else {
                println!("  {}: {}", f.kind.name(), f.message);
            }
            let dir = failure_dir();
            let stem = format!("{}-seed-{seed}", r.scenario.name);
            let log = dir.join(format!("{stem}.log"));
            let mut text = format!("{line}\n{f}reproduce: {repro}\n");
            if let Some(ev) = &events {
                text.push_str(&format!("\nfull history ({} events):\n", ev.len()));
                for (i, e) in ev.iter().enumerate() {
                    text.push_str(&format!("[{i}] {e}\n"));
                }
            }
            match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&log, text)) {
                Ok(()) => println!("log: {}", show(&log)),
                Err(e) => eprintln!("redsim-sim: cannot write {}: {e}", log.display()),
            }
            if r.single && r.worker.is_none() {
                if let Some(ev) = &events {
                    write_timeline(&dir.join(format!("{stem}.html")), r, &rep, ev);
                }
            }
            println!("reproduce: {repro}");
        } else if per_seed_lines {
            println!("{line}");
        }
        if let (Some(path), Some(ev)) = (&r.timeline, &events) {
            write_timeline(path, r, &rep, ev);
        }
        Outcome {
            seed,
            kind: rep.result.as_ref().err().map(|f| f.kind),
            hash: rep.hashes.first().copied(),
            sim_ms: rep.sim_ms,
            events: rep.events as u64,
        }
    }

    /// Aggregated results of a sweep, in seed order.
    #[derive(Default)]
    struct Tally {
        done: BTreeMap<u64, Outcome>,
    }

    impl Tally {
        fn failed(&self) -> usize {
            self.done.values().filter(|o| o.kind.is_some()).count()
        }
        fn first_failure(&self) -> Option<&Outcome> {
            self.done.values().find(|o| o.kind.is_some())
        }
    }

    fn progress(t0: Instant, tally: &Tally, total: u64) {
        let n = tally.done.len() as f64;
        let wall = t0.elapsed().as_secs_f64().max(1e-9);
        let rate = n / wall;
        let left = (total as f64 - n).max(0.0);
        println!(
            "progress: {}/{} seeds, {} failed, {:.1} seeds/s, ~{:.0}s left",
            tally.done.len(),
            total,
            tally.failed(),
            rate,
            if rate > 0.0 { left / rate } else { 0.0 }
        );
    }

    pub fn run(r: Run) {
        let seeds = r.seed_list();
        let total = seeds.len() as u64;
        let per_seed_lines = r.verbose || r.sweep_len() <= 20;
        if r.worker.is_some() {
            // A child of --jobs: one record per seed for the parent, which
            // owns progress, the summary, shrinking and the exit code.
            for seed in seeds {
                let o = run_one(&r, seed, per_seed_lines);
                println!("{}", o.record());
            }
            return;
        }
        println!(
            "redsim-sim: scenario={} seeds {}..{}{} ({total} seeds, jobs={}) check-determinism={} budget-ms={} | {}",
            r.scenario.name,
            r.start,
            r.end,
            r.shard
                .map_or(String::new(), |p| format!(" shard {}/{}", p.k, p.n)),
            r.jobs.min(seeds.len().max(1)),
            if r.check_determinism { "on" } else { "off" },
            r.opts.budget_ms(),
            r.opts.knobs_line()
        );
        let t0 = Instant::now();
        let tally = if r.jobs > 1 && seeds.len() > 1 {
            parallel(&r, total, per_seed_lines, t0)
        } else {
            let mut tally = Tally::default();
            let mut last = Instant::now();
            for seed in seeds {
                let o = run_one(&r, seed, per_seed_lines);
                let failed = o.kind.is_some();
                tally.done.insert(seed, o);
                if failed && r.fail_fast {
                    break;
                }
                if total > 1 && last.elapsed() >= PROGRESS_EVERY {
                    progress(t0, &tally, total);
                    last = Instant::now();
                }
            }
            tally
        };
        summary(&r, &tally, total, t0);
    }

    /// Run the sweep in `r.jobs` child processes and aggregate their records.
    fn parallel(r: &Run, total: u64, per_seed_lines: bool, t0: Instant) -> Tally {
        let jobs = (r.jobs as u64).min(total);
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("redsim-sim: cannot find my own executable for --jobs: {e}");
                std::process::exit(1);
            }
        };
        let dir = std::env::temp_dir().join(format!("redsim-sim-{}", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("redsim-sim: cannot create {}: {e}", dir.display());
            std::process::exit(1);
        }
        struct Worker {
            child: Option<Child>,
            out: PathBuf,
            read: u64,
            partial: String,
            status: Option<std::process::ExitStatus>,
        }
        let mut workers = Vec::new();
        for k in 0..jobs {
            let out = dir.join(format!("worker-{k}.out"));
            let file = match std::fs::File::create(&out) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("redsim-sim: cannot create {}: {e}", out.display());
                    std::process::exit(1);
                }
            };
            let child = std::process::Command::new(&exe)
                .args(r.worker_args(k, jobs, per_seed_lines))
                .stdout(Stdio::from(file))
                .stdin(Stdio::null())
                .spawn();
            match child {
                Ok(c) => workers.push(Worker {
                    child: Some(c),
                    out,
                    read: 0,
                    partial: String::new(),
                    status: None,
                }),
                Err(e) => {
                    eprintln!("redsim-sim: cannot start worker {k}: {e}");
                    std::process::exit(1);
                }
            }
        }
        let mut tally = Tally::default();
        let mut last = Instant::now();
        let mut stop = false;
        loop {
            let mut running = 0;
            for w in workers.iter_mut() {
                // Reap first, then read: whatever the worker wrote before it
                // exited is then in the file.
                if let Some(c) = w.child.as_mut() {
                    match c.try_wait() {
                        Ok(Some(st)) => {
                            w.status = Some(st);
                            w.child = None;
                        }
                        Ok(None) => running += 1,
                        Err(_) => running += 1,
                    }
                }
                let mut buf = Vec::new();
                if let Ok(mut f) = std::fs::File::open(&w.out) {
                    if f.seek(SeekFrom::Start(w.read)).is_ok() {
                        let _ = f.read_to_end(&mut buf);
                    }
                }
                w.read += buf.len() as u64;
                w.partial.push_str(&String::from_utf8_lossy(&buf));
                while let Some(nl) = w.partial.find('\n') {
                    let line: String = w.partial.drain(..=nl).collect();
                    let line = line.trim_end_matches('\n');
                    if let Some(o) = Outcome::parse(line) {
                        if o.kind.is_some() && r.fail_fast {
                            stop = true;
                        }
                        tally.done.insert(o.seed, o);
                    } else if line.starts_with("@seed") {
                        eprintln!("redsim-sim: bad worker record {line:?}");
                    } else {
                        println!("{line}");
                    }
                }
            }
            if stop {
                for w in workers.iter_mut() {
                    if let Some(mut c) = w.child.take() {
                        let _ = c.kill();
                        let _ = c.wait();
                    }
                }
                break;
            }
            if running == 0 {
                break;
            }
            if last.elapsed() >= PROGRESS_EVERY {
                progress(t0, &tally, total);
                last = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for (k, w) in workers.iter().enumerate() {
            if let Some(st) = w.status.filter(|s| !s.success()) {
                eprintln!("redsim-sim: worker {k} exited with {st}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        if !stop && (tally.done.len() as u64) < total {
            eprintln!(
                "redsim-sim: only {} of {total} seeds reported (a worker died); failing the sweep",
                tally.done.len()
            );
            summary(r, &tally, total, t0);
            std::process::exit(FailureKind::Panic.exit_code());
        }
        tally
    }

    fn summary(r: &Run, tally: &Tally, total: u64, t0: Instant) {
        let wall = t0.elapsed().as_secs_f64().max(1e-9);
        let n = tally.done.len() as u64;
        let sim_ms: u64 = tally.done.values().map(|o| o.sim_ms).sum();
        let events: u64 = tally.done.values().map(|o| o.events).sum();
        // Folded in seed order: the same for any --jobs.
        let mut combined: u64 = 0xcbf2_9ce4_8422_2325;
        for h in tally.done.values().filter_map(|o| o.hash) {
            combined = (combined ^ h).wrapping_mul(0x0100_0000_01b3);
        }
        let runs = n * if r.check_determinism { 2 } else { 1 };
        let figures = format!(
            "{wall:.2}s wall, {:.1} seeds/s ({runs} runs, jobs={}), {:.1}s simulated ({:.0}x real time), {events} events, combined trace hash {combined:016x}",
            n as f64 / wall,
            r.jobs.min(total.max(1) as usize),
            sim_ms as f64 / 1000.0,
            sim_ms as f64 / 1000.0 / wall,
        );
        let Some(first) = tally.first_failure() else {
            println!("all {n} seeds ok: {figures}");
            return;
        };
        let failing: Vec<String> = tally
            .done
            .values()
            .filter(|o| o.kind.is_some())
            .map(|o| format!("{}({})", o.seed, o.kind.map_or("", FailureKind::class)))
            .collect();
        let shown = failing
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "{} of {n} seeds FAILED{}: {shown}{}\n{figures}",
            failing.len(),
            if n < total {
                format!(" (stopped after {n} of {total})")
            } else {
                String::new()
            },
            if failing.len() > 20 { " ..." } else { "" }
        );
        let kind = first.kind.unwrap_or(FailureKind::Panic);
        if !r.no_shrink {
            shrink_seed(r, first.seed, kind);
        }
        std::process::exit(kind.exit_code());
    }

    /// Shrink the options of a failing seed and print the smallest reproducer.
    fn shrink_seed(r: &Run, seed: u64, kind: FailureKind) {
        let determinism = r.check_determinism || kind == FailureKind::Nondeterminism;
        println!(
            "shrinking seed {seed} ({}, up to {} runs; --no-shrink skips this) ...",
            kind.class(),
            r.shrink_runs
        );
        let t0 = Instant::now();
        // Candidates of a panicking seed panic too; their messages (caught
        // by run_seed) would bury the result, so the hook is muted meanwhile.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        // Start from the knobs the seed derived (swarm off), so every
        // reduction is a real one.
        let start = redsim_sim::derived(seed, &r.opts);
        let s = shrink::shrink(&start, kind, r.shrink_runs, |o| {
            run_seed(seed, o, determinism).result.err().map(|f| f.kind)
        });
        std::panic::set_hook(hook);
        let changed: Vec<String> = r
            .opts
            .knobs()
            .into_iter()
            .zip(s.opts.knobs())
            .filter(|(a, b)| a.1 != b.1)
            .map(|(a, b)| format!("{} {}->{}", a.0, a.1, b.1))
            .collect();
        if changed.is_empty() {
            println!(
                "shrunk: nothing smaller fails the same way ({} runs, {:.1}s)",
                s.runs,
                t0.elapsed().as_secs_f64()
            );
            return;
        }
        println!(
            "shrunk: {}   ({}; {} runs, {:.1}s)",
            r.reproduce(seed, &s.opts, determinism),
            changed.join(", "),
            s.runs,
            t0.elapsed().as_secs_f64()
        );
    }
}
