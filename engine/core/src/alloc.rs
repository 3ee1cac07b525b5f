//! A counting global allocator: live heap bytes held by the process, the
//! figure Redis reports as `used_memory` (zmalloc_used_memory) and compares
//! with `maxmemory`. The `redsim-server` binary installs it with
//! `#[global_allocator]`; the engine reads it through `Server::mem_used`.
//! (The simulator runs many nodes in one process, so it does not use it.)
//!
//! Cost: one relaxed atomic add per allocation and free.
//!
//! What is counted is what the allocator really hands out, not the requested
//! size: glibc malloc adds an 8-byte header and rounds chunks to 16 bytes
//! (32 at least), and maps large blocks in whole pages. Redis likewise counts
//! jemalloc's usable sizes. Counting requested sizes would let RSS run well
//! past `maxmemory` on small keys.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

pub struct Counting;

static USED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            USED.fetch_add(charged(l.size()), Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            USED.fetch_add(charged(l.size()), Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) };
        USED.fetch_sub(charged(l.size()), Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let q = unsafe { System.realloc(p, l, new_size) };
        if !q.is_null() {
            USED.fetch_add(charged(new_size), Relaxed);
            USED.fetch_sub(charged(l.size()), Relaxed);
        }
        q
    }
}

/// glibc's mmap threshold (its default; it adapts upward at run time, which
/// this model ignores: large blocks are rare and page rounding is small).
const MMAP_THRESHOLD_BYTES: usize = 128 * 1024;

/// Bytes a `size`-byte allocation really occupies under glibc malloc on a
/// 64-bit target.
#[inline]
pub const fn charged(size: usize) -> usize {
    if size >= MMAP_THRESHOLD_BYTES {
        (size + 16 + 4095) & !4095
    } else {
        let c = (size + 8 + 15) & !15;
        if c < 32 {
            32
        } else {
            c
        }
    }
}

/// Live heap bytes (meaningful only where `Counting` is the global allocator).
pub fn used_bytes() -> u64 {
    USED.load(Relaxed) as u64
}
