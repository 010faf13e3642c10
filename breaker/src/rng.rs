//! A small per-thread pseudo-random generator for jitter (xorshift64*, seeded from the
//! standard library's random hasher keys). Not for anything that needs unpredictability.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

thread_local! {
    static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(0x5EED_u64) | 1);
}

/// A uniform number in `[0, 1)`.
pub(crate) fn unit() -> f64 {
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    })
}
