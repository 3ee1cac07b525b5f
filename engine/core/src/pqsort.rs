//! Redis's partial quicksort (`pqsort.c`), shared by SORT ... BY ... LIMIT
//! and GEOSEARCH/GEORADIUS ... COUNT, whose tie order depends on it.

use std::cmp::Ordering;

/// Redis's `pqsort`: the NetBSD (Bentley & McIlroy) quicksort that only
/// finishes the partitions overlapping positions `[lrange, rrange]`. Ported
/// index for pointer, without the "no swaps: switch to insertion sort"
/// shortcut (Redis 7.0.15 behaves without it: see geohash's tie test). Not
/// stable: ported exactly so ties come out in Redis's order. The left
/// partition, which C recurses into, runs from an explicit stack (partitions
/// are disjoint, so processing order does not change the result): client
/// data cannot drive the call stack deep.
pub fn pqsort<T>(v: &mut [T], lrange: i64, rrange: i64, cmp: &impl Fn(&T, &T) -> Ordering) {
    let overlaps = |lo: usize, n: usize| {
        let (lo, hi) = (lo as i64, (lo + n) as i64);
        !((lrange < lo && rrange < lo) || (lrange >= hi && rrange >= hi))
    };
    let mut work: Vec<(usize, usize)> = vec![(0, v.len())];
    while let Some((mut a, mut n)) = work.pop() {
        loop {
            if n < 7 {
                insertion(v, a, n, cmp);
                break;
            }
            let mut pm = a + n / 2;
            if n > 7 {
                let mut pl = a;
                let mut pn = a + n - 1;
                if n > 40 {
                    let d = n / 8;
                    pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                    pm = med3(v, pm - d, pm, pm + d, cmp);
                    pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
                }
                pm = med3(v, pl, pm, pn, cmp);
            }
            v.swap(a, pm);
            let (mut pa, mut pb) = (a + 1, a + 1);
            let (mut pc, mut pd) = (a + n - 1, a + n - 1);
            loop {
                while pb <= pc {
                    let c = cmp(&v[pb], &v[a]);
                    if c == Ordering::Greater {
                        break;
                    }
                    if c == Ordering::Equal {
                        v.swap(pa, pb);
                        pa += 1;
                    }
                    pb += 1;
                }
                while pb <= pc {
                    let c = cmp(&v[pc], &v[a]);
                    if c == Ordering::Less {
                        break;
                    }
                    if c == Ordering::Equal {
                        v.swap(pc, pd);
                        pd -= 1;
                    }
                    pc -= 1;
                }
                if pb > pc {
                    break;
                }
                v.swap(pb, pc);
                pb += 1;
                pc -= 1;
            }
            let pn = a + n;
            let r = (pa - a).min(pb - pa);
            vecswap(v, a, pb - r, r);
            let r = (pd - pc).min(pn - pd - 1);
            vecswap(v, pb, pn - r, r);
            let r = pb - pa;
            if r > 1 && overlaps(a, r) {
                work.push((a, r));
            }
            let r = pd - pc;
            if r > 1 {
                a = pn - r;
                n = r;
                if overlaps(a, n) {
                    continue;
                }
            }
            break;
        }
    }
}

fn insertion<T>(v: &mut [T], a: usize, n: usize, cmp: &impl Fn(&T, &T) -> Ordering) {
    for pm in a + 1..a + n {
        let mut pl = pm;
        while pl > a && cmp(&v[pl - 1], &v[pl]) == Ordering::Greater {
            v.swap(pl, pl - 1);
            pl -= 1;
        }
    }
}

fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> Ordering) -> usize {
    let lt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Less;
    let gt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Greater;
    if lt(a, b) {
        if lt(b, c) {
            b
        } else if lt(a, c) {
            c
        } else {
            a
        }
    } else if gt(b, c) {
        b
    } else if lt(a, c) {
        a
    } else {
        c
    }
}

fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}
