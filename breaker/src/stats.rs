//! Cumulative call counts, recorded without a shared write on the hot path.
//!
//! Each breaker keeps one cache-line-padded stripe of counters per *thread slot*. A thread
//! slot is owned by exactly one live thread at a time (see [`slot`]), so the owner bumps its
//! stripe with a plain load and store, and no two threads ever write the same cache line. A
//! thread without a slot (more live threads than stripes, or one already tearing down its
//! thread-locals) uses a shared stripe with atomic read-modify-writes instead. Totals are
//! summed only when a snapshot is taken.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Stripes per breaker: the first `STRIPES` concurrently live threads get a private one.
pub(crate) const STRIPES: usize = 16;

/// What a finished admission was counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Success = 0,
    Failure = 1,
    Timeout = 2,
    Rejected = 3,
    Ignored = 4,
    Cancelled = 5,
}

const COUNTERS: usize = 6;

/// Aligns its content to its own cache lines (128 bytes: the adjacent-line prefetcher of x86
/// pairs 64-byte lines).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// One thread's counters, alone on their cache lines.
type Stripe = Padded<[AtomicU64; COUNTERS]>;

/// Totals of every counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) success: u64,
    pub(crate) failure: u64,
    pub(crate) timeout: u64,
    pub(crate) rejected: u64,
    pub(crate) ignored: u64,
    pub(crate) cancelled: u64,
}

impl Counts {
    fn from_array(a: [u64; COUNTERS]) -> Self {
        Counts {
            success: a[Counter::Success as usize],
            failure: a[Counter::Failure as usize],
            timeout: a[Counter::Timeout as usize],
            rejected: a[Counter::Rejected as usize],
            ignored: a[Counter::Ignored as usize],
            cancelled: a[Counter::Cancelled as usize],
        }
    }
}

/// Adds one to a counter only this thread writes; returns its new value.
#[inline]
fn bump(c: &AtomicU64) -> u64 {
    let n = c.load(Relaxed).wrapping_add(1);
    c.store(n, Relaxed);
    n
}

#[derive(Debug)]
pub(crate) struct Stats {
    stripes: Box<[Stripe]>,
    shared: Stripe,
    /// Raw totals at the last reset; reported counts are the raw totals minus these. (The
    /// stripes themselves are never cleared: their owners write them without a lock.)
    baseline: Mutex<[u64; COUNTERS]>,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Stats {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            shared: Stripe::default(),
            baseline: Mutex::new([0; COUNTERS]),
        }
    }

    /// Counts one `counter`; returns this thread's count of it so far (for a thread without
    /// a slot, the shared stripe's), which callers that only count ignore.
    #[inline]
    pub(crate) fn add(&self, counter: Counter) -> u64 {
        // A thread without a slot yet reads as one beyond the stripes: the cold path sorts it.
        match self.stripes.get(slot::current_if_assigned()) {
            // The stripe belongs to this thread alone: no read-modify-write needed.
            Some(stripe) => bump(&stripe.0[counter as usize]),
            None => self.add_unstriped(counter),
        }
    }

    /// [`Self::add`] for a thread that has no slot yet, or none at all.
    #[cold]
    #[inline(never)]
    fn add_unstriped(&self, counter: Counter) -> u64 {
        match self.stripes.get(slot::current()) {
            Some(stripe) => bump(&stripe.0[counter as usize]),
            None => self.shared.0[counter as usize]
                .fetch_add(1, Relaxed)
                .wrapping_add(1),
        }
    }

    /// Takes back one [`Self::add`] of `counter` made by this thread.
    #[cold]
    pub(crate) fn sub(&self, counter: Counter) {
        match self.stripes.get(slot::current()) {
            Some(stripe) => {
                let c = &stripe.0[counter as usize];
                c.store(c.load(Relaxed).wrapping_sub(1), Relaxed);
            }
            None => {
                self.shared.0[counter as usize].fetch_sub(1, Relaxed);
            }
        }
    }

    fn raw(&self) -> [u64; COUNTERS] {
        let mut total = [0u64; COUNTERS];
        for stripe in self.stripes.iter().chain(std::iter::once(&self.shared)) {
            for (t, c) in total.iter_mut().zip(&stripe.0) {
                *t = t.wrapping_add(c.load(Relaxed));
            }
        }
        total
    }

    pub(crate) fn counts(&self) -> Counts {
        let raw = self.raw();
        let base = *self.baseline.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = [0u64; COUNTERS];
        for i in 0..COUNTERS {
            out[i] = raw[i].wrapping_sub(base[i]);
        }
        Counts::from_array(out)
    }

    /// Starts every count again from zero.
    pub(crate) fn reset(&self) {
        let mut base = self.baseline.lock().unwrap_or_else(|p| p.into_inner());
        *base = self.raw();
    }
}

/// Thread slots: small indices, each owned by at most one live thread.
///
/// A thread takes the lowest free index on its first recorded call and gives it back when
/// it exits, so a pool that keeps spawning threads reuses a few indices. The free list's
/// mutex orders the old owner's last writes before the new owner's first read.
pub(crate) mod slot {
    use std::cell::{Cell, RefCell};
    use std::sync::Mutex;

    use super::STRIPES;

    /// This thread has not asked for a slot yet.
    const UNASSIGNED: usize = usize::MAX;
    /// This thread has no slot (all taken, or its thread-locals are being destroyed).
    pub(crate) const NONE: usize = usize::MAX - 1;

    static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    static NEXT: Mutex<usize> = Mutex::new(0);

    thread_local! {
        static SLOT: Cell<usize> = const { Cell::new(UNASSIGNED) };
        static OWNER: RefCell<Option<Owner>> = const { RefCell::new(None) };
    }

    /// Gives the slot back when the thread's thread-locals are destroyed.
    struct Owner(usize);

    impl Drop for Owner {
        fn drop(&mut self) {
            // Later thread-local destructors that record a call use the shared stripe.
            let _ = SLOT.try_with(|s| s.set(NONE));
            FREE.lock().unwrap_or_else(|p| p.into_inner()).push(self.0);
        }
    }

    /// This thread's slot if it has one; otherwise a number beyond every slot ([`NONE`], or
    /// the one that means "not asked yet").
    #[inline]
    pub(crate) fn current_if_assigned() -> usize {
        SLOT.with(Cell::get)
    }

    /// This thread's slot, or [`NONE`].
    #[inline]
    pub(crate) fn current() -> usize {
        let slot = SLOT.with(Cell::get);
        if slot == UNASSIGNED {
            assign()
        } else {
            slot
        }
    }

    #[cold]
    fn assign() -> usize {
        let taken = {
            let mut free = FREE.lock().unwrap_or_else(|p| p.into_inner());
            match free.iter().enumerate().min_by_key(|(_, s)| **s) {
                Some((i, _)) => Some(free.swap_remove(i)),
                None => {
                    let mut next = NEXT.lock().unwrap_or_else(|p| p.into_inner());
                    (*next < STRIPES).then(|| {
                        *next += 1;
                        *next - 1
                    })
                }
            }
        };
        let slot = match taken {
            Some(index) => {
                let registered = OWNER
                    .try_with(|o| {
                        *o.borrow_mut() = Some(Owner(index));
                    })
                    .is_ok();
                if registered {
                    index
                } else {
                    FREE.lock().unwrap_or_else(|p| p.into_inner()).push(index);
                    NONE
                }
            }
            None => NONE,
        };
        SLOT.with(|s| s.set(slot));
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up_exactly() {
        let stats = Stats::new();
        // More threads than stripes, so the shared stripe is exercised too.
        std::thread::scope(|s| {
            for _ in 0..(STRIPES + 8) {
                s.spawn(|| {
                    for _ in 0..1000 {
                        stats.add(Counter::Success);
                    }
                    stats.add(Counter::Rejected);
                });
            }
        });
        let c = stats.counts();
        assert_eq!(c.success, 1000 * (STRIPES as u64 + 8));
        assert_eq!(c.rejected, STRIPES as u64 + 8);
        assert_eq!(c.failure, 0);
    }

    #[test]
    fn slots_are_reused_after_threads_exit() {
        for _ in 0..(STRIPES * 4) {
            let slot = std::thread::spawn(slot::current).join().unwrap();
            assert!(
                slot < STRIPES,
                "a sequential thread should get a freed slot, got {slot}"
            );
        }
    }

    #[test]
    fn reset_starts_from_zero_and_keeps_counting() {
        let stats = Stats::new();
        stats.add(Counter::Failure);
        stats.add(Counter::Failure);
        stats.reset();
        assert_eq!(stats.counts(), Counts::default());
        stats.add(Counter::Failure);
        assert_eq!(stats.counts().failure, 1);
    }
}
