//! BUGGIFY fault points (FoundationDB style), compiled only under
//! `--cfg madsim`: the shell takes rare, legal but unusual paths (short
//! reads, slow fsyncs, delayed timers) when the simulator switches them on.
//!
//! Invariant: decisions come from one seeded generator the simulator resets
//! at the start of every run (`enable`), so a seed replays exactly; off by
//! default, so other madsim tests see the plain shell. The state is per
//! thread: a madsim runtime runs on the thread that calls it, and parallel
//! test threads must not share a generator (a shared one made seeds
//! nondeterministic when tests ran side by side).

use std::cell::Cell;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// Switch fault points on with `seed` (or off), for the run about to start.
pub fn enable(on: bool, seed: u64) {
    ON.with(|c| c.set(on));
    STATE.with(|c| c.set(seed));
}

fn next() -> u64 {
    let x = STATE.with(|c| {
        let v = c.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        c.set(v);
        v
    });
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// True with probability `percent`/100 when enabled; false when off.
pub fn fire(percent: u64) -> bool {
    ON.with(|c| c.get()) && next() % 100 < percent
}

/// Uniform in `0..n` (`n` > 0).
pub fn below(n: u64) -> u64 {
    next() % n.max(1)
}
