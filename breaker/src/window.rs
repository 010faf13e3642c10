//! The failure-rate windows of the count- and time-window strategies.
//!
//! Both are built so that concurrent callers do not fight over one cache line:
//! - the **count window** is one ring of the last `size` outcomes. A thread claims ring
//!   positions in blocks (one shared atomic add per block, not per call) and swaps its
//!   outcomes in; the window's tallies (calls, failures, slow calls) live in one packed word
//!   that is written only when an outcome changes them, so a success replacing a success
//!   writes nothing shared.
//! - the **time window** keeps, per thread slot, 10 buckets of `window / 10`; a thread counts
//!   into its own buckets with plain stores, and the tallies are summed over the slots in use
//!   only when a decision is needed.
//!
//! A window is made fresh (emptied) by bumping its epoch: every entry and bucket is tagged
//! with the epoch it was written in, and entries of another epoch count as empty.

use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};

/// `n / d` through a precomputed reciprocal (a division instruction costs tens of cycles):
/// with `inv = u64::MAX / d` the estimate is exact or one short. The result is checked, and a
/// mismatched `inv` (read while the window was being resized) falls back to dividing.
#[inline]
fn div_by(n: u64, d: u64, inv: u64) -> u64 {
    let mut q = ((u128::from(n) * u128::from(inv)) >> 64) as u64;
    let mut r = n.wrapping_sub(q.wrapping_mul(d));
    if r >= d {
        q += 1;
        r = r.wrapping_sub(d);
    }
    if r < d && q.checked_mul(d).is_some_and(|m| m <= n) {
        q
    } else {
        n / d
    }
}

use crate::config::limits::{MAX_WINDOW_SIZE, TIME_WINDOW_BUCKETS};
use crate::stats::{slot, Padded, STRIPES};

/// Outcome bits of a recorded call.
pub(crate) const FAILED: u8 = 0b001;
pub(crate) const SLOW: u8 = 0b010;
const PRESENT: u8 = 0b100;

/// What a window holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

/// Why a window decided to open the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    FailureRate,
    SlowCallRate,
}

impl Tally {
    /// The rate rule: with at least `minimum_calls` calls, open when the failure rate or the
    /// slow-call rate is at or above its threshold (percent, inclusive).
    pub(crate) fn verdict(
        self,
        minimum_calls: u32,
        failure_pct: u32,
        slow_pct: u32,
    ) -> Option<Verdict> {
        if self.calls == 0 || self.calls < minimum_calls {
            return None;
        }
        let calls = u64::from(self.calls);
        if u64::from(self.failures) * 100 >= u64::from(failure_pct) * calls {
            Some(Verdict::FailureRate)
        } else if slow_pct > 0 && u64::from(self.slow) * 100 >= u64::from(slow_pct) * calls {
            Some(Verdict::SlowCallRate)
        } else {
            None
        }
    }
}

// ---- count window ----------------------------------------------------------------------

/// `[epoch: 32][size: 16][block: 16]`
fn pack_geometry(epoch: u32, size: u32, block: u32) -> u64 {
    (u64::from(epoch) << 32) | (u64::from(size) << 16) | u64::from(block)
}

/// `[epoch: low 16][calls: 16][failures: 16][slow: 16]` (a window holds at most 1,000 calls).
fn pack_tally(epoch: u32, t: Tally) -> u64 {
    (u64::from(epoch & 0xFFFF) << 48)
        | (u64::from(t.calls) << 32)
        | (u64::from(t.failures) << 16)
        | u64::from(t.slow)
}

fn unpack_tally(v: u64) -> (u32, Tally) {
    (
        (v >> 48) as u32,
        Tally {
            calls: (v >> 32) as u32 & 0xFFFF,
            failures: (v >> 16) as u32 & 0xFFFF,
            slow: v as u32 & 0xFFFF,
        },
    )
}

/// A ring entry: `[epoch: low 24][outcome bits: 8]`; 0 is empty.
fn entry(epoch: u32, outcome: u8) -> u32 {
    ((epoch & 0xFF_FFFF) << 8) | u32::from(outcome | PRESENT)
}

/// One thread slot's claimed block of ring positions.
#[derive(Debug, Default)]
struct Cursor {
    epoch: AtomicU32,
    next: AtomicU32,
    left: AtomicU32,
}

#[derive(Debug)]
pub(crate) struct CountWindow {
    geometry: AtomicU64,
    next_seq: Padded<AtomicU64>,
    tally: Padded<AtomicU64>,
    ring: Box<[AtomicU32]>,
    cursors: Box<[Padded<Cursor>]>,
}

/// Ring positions a thread claims at once: large enough that threads rarely meet on the
/// shared sequence counter or on a ring cache line, small enough that the interleaving of
/// concurrent threads stays a small fraction of the window. One thread sees exact order.
fn block_for(size: u32) -> u32 {
    (size / 16).clamp(1, 64)
}

impl CountWindow {
    pub(crate) fn new(size: u32) -> Self {
        CountWindow {
            geometry: AtomicU64::new(pack_geometry(1, size, block_for(size))),
            next_seq: Padded(AtomicU64::new(0)),
            tally: Padded(AtomicU64::new(pack_tally(1, Tally::default()))),
            ring: (0..MAX_WINDOW_SIZE).map(|_| AtomicU32::new(0)).collect(),
            cursors: (0..STRIPES).map(|_| Padded(Cursor::default())).collect(),
        }
    }

    /// Empties the window and gives it `size` positions.
    pub(crate) fn reset(&self, size: u32) {
        let epoch = (self.geometry.load(Acquire) >> 32) as u32;
        let next = epoch.wrapping_add(1).max(1);
        // The tally first: a writer that still sees the old geometry then fails its update.
        self.tally
            .0
            .store(pack_tally(next, Tally::default()), Release);
        self.geometry
            .store(pack_geometry(next, size, block_for(size)), Release);
    }

    /// Records one outcome; returns the window's tally when the outcome was a failure or a
    /// slow call (the only outcomes that can open the circuit).
    #[inline]
    pub(crate) fn record(&self, outcome: u8) -> Option<Tally> {
        let g = self.geometry.load(Acquire);
        let (epoch, size, block) = (
            (g >> 32) as u32,
            (g >> 16) as u32 & 0xFFFF,
            g as u32 & 0xFFFF,
        );
        let index = match self.cursors.get(slot::current()) {
            // This thread's own cursor: plain loads and stores.
            Some(Padded(c)) => {
                let left = c.left.load(Relaxed);
                let i = if left > 0 && c.epoch.load(Relaxed) == epoch {
                    c.left.store(left - 1, Relaxed);
                    c.next.load(Relaxed)
                } else {
                    c.epoch.store(epoch, Relaxed);
                    c.left.store(block - 1, Relaxed);
                    self.claim(block, size)
                };
                c.next.store(if i + 1 >= size { 0 } else { i + 1 }, Relaxed);
                i
            }
            None => self.claim(1, size),
        };
        let new = entry(epoch, outcome);
        // A position belongs to the thread that claimed it, so a plain load and store replace
        // its entry. (Two threads meet on one position only if one of them held a claim for
        // a whole lap of the ring and writes at the very instant the other does; the tally is
        // then off by one call until the window is next made fresh.)
        let slot = &self.ring[index as usize];
        let old = slot.load(Acquire);
        if old != new {
            // (An entry that stays the same is not rewritten: a steady stream of successes
            // then writes no shared cache line of the ring.)
            slot.store(new, Release);
        }
        let old_outcome = if old >> 8 == epoch & 0xFF_FFFF {
            old as u8
        } else {
            0
        };
        let judged = outcome & (FAILED | SLOW) != 0;
        if old_outcome == outcome | PRESENT {
            // Same outcome replaced: nothing shared changes.
            return judged.then(|| self.tally_of(epoch)).flatten();
        }
        let (mut calls, mut failures, mut slow) = (0i32, 0i32, 0i32);
        if old_outcome & PRESENT == 0 {
            calls += 1;
        }
        failures += i32::from(outcome & FAILED) - i32::from(old_outcome & FAILED);
        slow += i32::from((outcome & SLOW) >> 1) - i32::from((old_outcome & SLOW) >> 1);
        let mut current = self.tally.0.load(Acquire);
        loop {
            let (tagged, t) = unpack_tally(current);
            if tagged != epoch & 0xFFFF {
                return None; // the window was reset meanwhile
            }
            let apply = |v: u32, d: i32| v.saturating_add_signed(d).min(0xFFFF);
            let next = Tally {
                calls: apply(t.calls, calls),
                failures: apply(t.failures, failures),
                slow: apply(t.slow, slow),
            };
            match self.tally.0.compare_exchange_weak(
                current,
                pack_tally(epoch, next),
                AcqRel,
                Acquire,
            ) {
                Ok(_) => return judged.then_some(next),
                Err(actual) => current = actual,
            }
        }
    }

    fn claim(&self, n: u32, size: u32) -> u32 {
        let seq = self.next_seq.0.fetch_add(u64::from(n), Relaxed);
        (seq % u64::from(size)) as u32
    }

    fn tally_of(&self, epoch: u32) -> Option<Tally> {
        let (tagged, t) = unpack_tally(self.tally.0.load(Acquire));
        (tagged == epoch & 0xFFFF).then_some(t)
    }

    /// What the window holds now.
    pub(crate) fn tally(&self) -> Tally {
        let epoch = (self.geometry.load(Acquire) >> 32) as u32;
        self.tally_of(epoch).unwrap_or_default()
    }
}

// ---- time window -----------------------------------------------------------------------

const BUCKETS: usize = TIME_WINDOW_BUCKETS as usize;
const ABS_BITS: u32 = 40;
const ABS_MASK: u64 = (1 << ABS_BITS) - 1;

#[derive(Debug, Default)]
struct Bucket {
    /// `[epoch: 24][absolute bucket number: 40]`
    tag: AtomicU64,
    calls: AtomicU32,
    failures: AtomicU32,
    slow: AtomicU32,
}

#[derive(Debug, Default)]
struct Shard([Bucket; BUCKETS]);

#[derive(Debug)]
pub(crate) struct TimeWindow {
    /// `[epoch: 32][bucket width in ms: 32]`
    geometry: AtomicU64,
    /// `u64::MAX / width`, for [`div_by`].
    inverse: AtomicU64,
    shards: Box<[Padded<Shard>]>,
    /// For threads without a slot: counted with atomic read-modify-writes.
    shared: Padded<Shard>,
    /// Bit `i`: shard `i` has been written (bit `STRIPES`: the shared one).
    used: AtomicU32,
    /// The current bucket, kept by the timer thread so that calls need not read the clock:
    /// `[epoch: 24][absolute bucket number + 1: 40]`, valid while the epoch is the window's
    /// and the bucket number is not 0. See [`TimeWindow::set_hint`].
    hint: AtomicU64,
}

fn bucket_tag(epoch: u32, abs: u64) -> u64 {
    (u64::from(epoch & 0xFF_FFFF) << ABS_BITS) | (abs & ABS_MASK)
}

impl TimeWindow {
    pub(crate) fn new(window_ms: u64) -> Self {
        let geometry = Self::geometry(1, window_ms);
        TimeWindow {
            inverse: AtomicU64::new(u64::MAX / (geometry & 0xFFFF_FFFF)),
            geometry: AtomicU64::new(geometry),
            shards: (0..STRIPES).map(|_| Padded(Shard::default())).collect(),
            shared: Padded(Shard::default()),
            used: AtomicU32::new(0),
            hint: AtomicU64::new(0),
        }
    }

    fn geometry(epoch: u32, window_ms: u64) -> u64 {
        let width = (window_ms / BUCKETS as u64).max(1);
        (u64::from(epoch) << 32) | width
    }

    /// Empties the window and gives it a new length.
    pub(crate) fn reset(&self, window_ms: u64) {
        let epoch = (self.geometry.load(Acquire) >> 32) as u32;
        self.geometry.store(
            Self::geometry(epoch.wrapping_add(1).max(1), window_ms),
            Release,
        );
    }

    /// Keeps the current bucket for calls, at `now_ms`: valid until [`timer::MARGIN_MS`]
    /// before the bucket ends. Returns when to call again: at that point (to withdraw the
    /// hint), or at the next bucket's start (to give it).
    ///
    /// [`timer::MARGIN_MS`]: crate::timer::MARGIN_MS
    pub(crate) fn set_hint(&self, now_ms: u64) -> u64 {
        let g = self.geometry.load(Acquire);
        let (epoch, width) = ((g >> 32) as u32, g & 0xFFFF_FFFF);
        let abs = now_ms / width;
        let next = (abs + 1).saturating_mul(width);
        let margin = crate::timer::MARGIN_MS;
        if next - now_ms > margin && abs < ABS_MASK {
            self.hint.store(bucket_tag(epoch, abs + 1), Release);
            next - margin
        } else {
            self.hint.store(0, Release);
            next
        }
    }

    /// The bucket the hint gives, whatever its epoch.
    #[cfg(test)]
    pub(crate) fn hinted_bucket(&self) -> Option<u64> {
        (self.hint.load(Acquire) & ABS_MASK).checked_sub(1)
    }

    /// Withdraws the hint: calls read the clock.
    pub(crate) fn clear_hint(&self) {
        self.hint.store(0, Release);
    }

    /// Records one outcome, now (the timer thread's hint, or `now_ms()` when there is none);
    /// returns the window's tally when the outcome was a failure or a slow call.
    #[inline]
    pub(crate) fn record(&self, now_ms: impl FnOnce() -> u64, outcome: u8) -> Option<Tally> {
        let g = self.geometry.load(Acquire);
        let (epoch, width) = ((g >> 32) as u32, g & 0xFFFF_FFFF);
        let hint = self.hint.load(Acquire);
        let abs = if hint >> ABS_BITS == u64::from(epoch & 0xFF_FFFF) && hint & ABS_MASK != 0 {
            (hint & ABS_MASK) - 1
        } else {
            div_by(now_ms(), width, self.inverse.load(Relaxed))
        };
        let tag = bucket_tag(epoch, abs);
        let i = (abs % BUCKETS as u64) as usize;
        let failed = u32::from(outcome & FAILED);
        let slow = u32::from((outcome & SLOW) >> 1);
        let slot = slot::current();
        match self.shards.get(slot) {
            Some(Padded(shard)) => {
                // This thread's own buckets: plain loads and stores.
                let b = &shard.0[i];
                if b.tag.load(Relaxed) != tag {
                    b.calls.store(0, Relaxed);
                    b.failures.store(0, Relaxed);
                    b.slow.store(0, Relaxed);
                    b.tag.store(tag, Release);
                    self.mark_used(slot);
                }
                b.calls.store(b.calls.load(Relaxed) + 1, Relaxed);
                if failed != 0 {
                    b.failures.store(b.failures.load(Relaxed) + 1, Relaxed);
                }
                if slow != 0 {
                    b.slow.store(b.slow.load(Relaxed) + 1, Relaxed);
                }
            }
            None => {
                let b = &self.shared.0 .0[i];
                let seen = b.tag.load(Acquire);
                if seen != tag && b.tag.compare_exchange(seen, tag, AcqRel, Acquire).is_ok() {
                    b.calls.store(0, Relaxed);
                    b.failures.store(0, Relaxed);
                    b.slow.store(0, Relaxed);
                    self.mark_used(STRIPES);
                }
                b.calls.fetch_add(1, Relaxed);
                b.failures.fetch_add(failed, Relaxed);
                b.slow.fetch_add(slow, Relaxed);
            }
        }
        (outcome & (FAILED | SLOW) != 0).then(|| self.tally_at(g, abs))
    }

    fn mark_used(&self, shard: usize) {
        let bit = 1 << shard;
        if self.used.load(Relaxed) & bit == 0 {
            self.used.fetch_or(bit, Relaxed);
        }
    }

    /// What the window holds at `now_ms`: the current bucket and the 9 before it.
    pub(crate) fn tally(&self, now_ms: u64) -> Tally {
        let g = self.geometry.load(Acquire);
        self.tally_at(g, now_ms / (g & 0xFFFF_FFFF))
    }

    /// What the window of geometry `g` holds when bucket `now_abs` is the current one.
    fn tally_at(&self, g: u64, now_abs: u64) -> Tally {
        let epoch = (g >> 32) as u32;
        let oldest = now_abs.saturating_sub(BUCKETS as u64 - 1);
        let mut t = Tally::default();
        let used = self.used.load(Relaxed);
        let shards = self.shards.iter().chain(std::iter::once(&self.shared));
        for (n, Padded(shard)) in shards.enumerate() {
            if used & (1 << n) == 0 {
                continue;
            }
            for b in &shard.0 {
                let tag = b.tag.load(Acquire);
                let abs = tag & ABS_MASK;
                if (tag >> ABS_BITS) as u32 == epoch & 0xFF_FFFF && abs >= oldest && abs <= now_abs
                {
                    t.calls += b.calls.load(Relaxed);
                    t.failures += b.failures.load(Relaxed);
                    t.slow += b.slow.load(Relaxed);
                }
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(calls: u32, failures: u32, slow: u32) -> Tally {
        Tally {
            calls,
            failures,
            slow,
        }
    }

    #[test]
    fn count_window_slides_and_resets() {
        let w = CountWindow::new(4);
        for _ in 0..10 {
            assert_eq!(w.record(0), None);
        }
        assert_eq!(w.tally(), t(4, 0, 0));
        w.record(FAILED);
        w.record(FAILED | SLOW);
        assert_eq!(w.tally(), t(4, 2, 1));
        for _ in 0..4 {
            w.record(0);
        }
        assert_eq!(w.tally(), t(4, 0, 0));
        w.reset(2);
        assert_eq!(w.tally(), Tally::default());
        w.record(FAILED);
        assert_eq!(w.record(FAILED), Some(t(2, 2, 0)));
        assert_eq!(w.record(0), None);
        assert_eq!(w.tally(), t(2, 1, 0));
    }

    #[test]
    fn time_window_expires_old_buckets() {
        let w = TimeWindow::new(10_000); // 10 buckets of 1 s
        w.record(|| 0, 0);
        w.record(|| 500, FAILED);
        assert_eq!(w.record(|| 4_200, FAILED), Some(t(3, 2, 0)));
        assert_eq!(w.tally(4_200), t(3, 2, 0));
        // At 10.0 s the bucket [0, 1 s) has left the window.
        assert_eq!(w.tally(9_999), t(3, 2, 0));
        assert_eq!(w.tally(10_000), t(1, 1, 0));
        assert_eq!(w.tally(13_999), t(1, 1, 0));
        assert_eq!(w.tally(14_000), Tally::default());
        w.reset(10_000);
        assert_eq!(w.tally(4_200), Tally::default());
    }

    #[test]
    fn time_window_hint_replaces_the_clock_until_the_margin() {
        let w = TimeWindow::new(10_000); // 10 buckets of 1 s
        let no_clock = || -> u64 { panic!("the clock was read while a hint was valid") };
        // At 2.3 s: bucket 2, valid until 2 ms before 3 s.
        assert_eq!(w.set_hint(2_300), 3_000 - crate::timer::MARGIN_MS);
        w.record(no_clock, 0);
        assert_eq!(w.record(no_clock, FAILED), Some(t(2, 1, 0)));
        assert_eq!(w.tally(2_999), t(2, 1, 0));
        // Within the margin: no hint until the next bucket starts; calls read the clock.
        assert_eq!(w.set_hint(2_999), 3_000);
        assert_eq!(w.record(|| 3_000, FAILED), Some(t(3, 2, 0)));
        assert_eq!(w.set_hint(3_000), 4_000 - crate::timer::MARGIN_MS);
        w.record(no_clock, 0);
        assert_eq!(w.tally(3_500), t(4, 2, 0));
        assert_eq!(w.tally(12_999), t(2, 1, 0), "bucket 3 alone is left");
        // A new window (new epoch) makes the hint stale at once.
        w.reset(10_000);
        assert_eq!(w.record(|| 3_100, FAILED), Some(t(1, 1, 0)));
        w.set_hint(3_100);
        w.clear_hint();
        assert_eq!(w.record(|| 3_200, 0), None);
        assert_eq!(w.tally(3_200), t(2, 1, 0));
    }

    #[test]
    fn division_by_reciprocal_is_exact() {
        for d in [
            1u64,
            3,
            7,
            10,
            100,
            999,
            6_000,
            360_000,
            u64::from(u32::MAX),
        ] {
            let inv = u64::MAX / d;
            for n in [
                0u64,
                1,
                d - 1,
                d,
                d + 1,
                12_345_678,
                1 << 40,
                (1 << 40) + 7,
                u64::MAX / 2,
            ] {
                assert_eq!(div_by(n, d, inv), n / d, "{n} / {d}");
                // A reciprocal of another width is caught and falls back to dividing.
                assert_eq!(
                    div_by(n, d, u64::MAX / (d + 5)),
                    n / d,
                    "{n} / {d}, wrong inverse"
                );
            }
        }
    }

    #[test]
    fn verdict_is_inclusive_and_waits_for_minimum_calls() {
        let t = |calls, failures, slow| Tally {
            calls,
            failures,
            slow,
        };
        assert_eq!(t(9, 9, 0).verdict(10, 50, 100), None);
        assert_eq!(t(10, 5, 0).verdict(10, 50, 100), Some(Verdict::FailureRate));
        assert_eq!(t(10, 4, 0).verdict(10, 50, 100), None);
        assert_eq!(t(10, 0, 8).verdict(10, 50, 80), Some(Verdict::SlowCallRate));
        assert_eq!(t(10, 0, 7).verdict(10, 50, 80), None);
    }
}
