//! One process-wide timer thread that tells breakers when the clock matters again.
//!
//! Reading the clock costs ~20 ns on common hardware (more than everything else a rejection
//! does), yet most calls do not need it: a call rejected in the middle of a 30-second open
//! period, or a time-window call in the middle of a bucket, would learn nothing from it. So a
//! breaker marks such stretches as *quiet* (the open period's deadline is far off; the
//! time window's current bucket is known) and asks this thread to wake it shortly before
//! the stretch ends, at which point it drops the mark and calls read the clock again. The
//! deadline itself is always decided by a clock read, so the thread may wake early without
//! harm; it only matters that it is not late by more than [`MARGIN_MS`].
//!
//! The timer never makes a transition: the move to half-open stays lazy (the first call after
//! the period makes it). A breaker whose calls read a clock other than std's (tokio's paused
//! clock in tests; see [`crate::clock::is_std`]), and every breaker should the thread fail
//! to start, simply reads the clock on every call instead.
//!
//! The queue is a binary min-heap of breaker ids indexed by position, so each breaker has at
//! most one entry, rescheduling is `O(log n)`, and the memory held is one slot per live
//! breaker that ever went quiet (no allocation once the vectors have grown).

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Instant;

use crate::core::Inner;

/// How long before a quiet stretch ends the thread wakes the breaker, in ms. Calls in those
/// last milliseconds read the clock; a wake-up later than this (a starved thread) makes the
/// breaker see the end of its stretch up to that much late.
pub(crate) const MARGIN_MS: u64 = 2;

const NONE: u32 = u32::MAX;

#[derive(Debug)]
struct Slot {
    /// When to wake the owner, valid while `pos != NONE`.
    due: Instant,
    /// Index in the heap, or [`NONE`].
    pos: u32,
    owner: Weak<Inner>,
}

/// A min-heap of slot ids by `due`, with each slot knowing its position.
#[derive(Debug, Default)]
struct Queue {
    heap: Vec<u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Queue {
    fn register(&mut self, owner: Weak<Inner>, now: Instant) -> u32 {
        let slot = Slot {
            due: now,
            pos: NONE,
            owner,
        };
        match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = slot;
                id
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn unregister(&mut self, id: u32) {
        self.remove(id);
        self.slots[id as usize].owner = Weak::new();
        self.free.push(id);
    }

    fn due(&self, heap_index: usize) -> Instant {
        self.slots[self.heap[heap_index] as usize].due
    }

    fn place(&mut self, heap_index: usize, id: u32) {
        self.heap[heap_index] = id;
        self.slots[id as usize].pos = heap_index as u32;
    }

    fn sift_up(&mut self, mut i: usize) {
        let id = self.heap[i];
        let due = self.slots[id as usize].due;
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.due(parent) <= due {
                break;
            }
            self.place(i, self.heap[parent]);
            i = parent;
        }
        self.place(i, id);
    }

    fn sift_down(&mut self, mut i: usize) {
        let id = self.heap[i];
        let due = self.slots[id as usize].due;
        loop {
            let left = 2 * i + 1;
            if left >= self.heap.len() {
                break;
            }
            let right = left + 1;
            let child = if right < self.heap.len() && self.due(right) < self.due(left) {
                right
            } else {
                left
            };
            if due <= self.due(child) {
                break;
            }
            self.place(i, self.heap[child]);
            i = child;
        }
        self.place(i, id);
    }

    /// Makes `id` due no later than `at`. Returns whether the earliest due time moved earlier.
    fn schedule(&mut self, id: u32, at: Instant) -> bool {
        let earliest = self.heap.first().map(|&top| self.slots[top as usize].due);
        let slot = &mut self.slots[id as usize];
        if slot.pos == NONE {
            slot.due = at;
            self.heap.push(id);
            self.sift_up(self.heap.len() - 1);
        } else if at < slot.due {
            slot.due = at;
            let pos = slot.pos as usize;
            self.sift_up(pos);
        } else {
            return false;
        }
        earliest.is_none_or(|e| at < e)
    }

    fn remove(&mut self, id: u32) {
        let pos = self.slots[id as usize].pos;
        if pos == NONE {
            return;
        }
        self.slots[id as usize].pos = NONE;
        let last = self.heap.pop().expect("a queued id is in the heap");
        if last != id {
            let pos = pos as usize;
            self.place(pos, last);
            self.sift_down(pos);
            self.sift_up(self.slots[last as usize].pos as usize);
        }
    }

    /// The earliest entry's id if it is due at `now` (the entry is removed), else when the
    /// earliest entry is due.
    fn pop_due(&mut self, now: Instant) -> Result<u32, Option<Instant>> {
        let Some(&top) = self.heap.first() else {
            return Err(None);
        };
        let due = self.slots[top as usize].due;
        if due > now {
            return Err(Some(due));
        }
        self.remove(top);
        Ok(top)
    }
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// The process the thread runs in: a forked child inherits this memory, not the thread.
    pid: u32,
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The thread's shared state, started on first use; `None` if no thread could be started,
/// or in a forked child of the process that started it (which has no such thread: its
/// breakers read the clock, and those quiet at the fork are ended by their own rejections).
fn shared() -> Option<&'static Arc<Shared>> {
    static SHARED: OnceLock<Option<Arc<Shared>>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let shared = Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                wake: Condvar::new(),
                pid: std::process::id(),
            });
            let for_thread = Arc::clone(&shared);
            // Wait until the thread runs, so that its start-up is over when the first
            // breaker that needs it goes on (no allocation happens behind a caller's back).
            let (started, is_running) = std::sync::mpsc::sync_channel(1);
            std::thread::Builder::new()
                .name("plexspaces-circuit-breaker-timer".into())
                .spawn(move || {
                    let _ = started.send(());
                    // Breakers rely on this thread to end their quiet stretches: should
                    // anything in it panic, it carries on with the same queue rather than die.
                    while std::panic::catch_unwind(AssertUnwindSafe(|| run(&for_thread))).is_err() {
                    }
                })
                .ok()?;
            is_running.recv().ok().map(|()| shared)
        })
        .as_ref()
        .filter(|shared| shared.pid == std::process::id())
}

/// Whether the timer thread runs in this process (starting it if need be).
pub(crate) fn available() -> bool {
    shared().is_some()
}

fn run(shared: &Shared) -> ! {
    let mut queue = lock(&shared.queue);
    loop {
        match queue.pop_due(Instant::now()) {
            Ok(id) => {
                let owner = queue.slots[id as usize].owner.clone();
                drop(queue);
                if let Some(inner) = owner.upgrade() {
                    if std::panic::catch_unwind(AssertUnwindSafe(|| inner.on_timer())).is_err() {
                        // Never leave a breaker quiet with nobody to wake it.
                        inner.stop_quiet();
                    }
                }
                // `inner` is dropped here, with no lock held: it may be the last handle.
                queue = lock(&shared.queue);
            }
            Err(Some(due)) => {
                let wait = due.saturating_duration_since(Instant::now());
                queue = shared
                    .wake
                    .wait_timeout(queue, wait)
                    .map_or_else(|p| p.into_inner().0, |(q, _)| q);
            }
            Err(None) => {
                queue = shared.wake.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
        }
    }
}

/// A breaker's place in the timer's queue; leaves the queue when dropped.
#[derive(Debug)]
pub(crate) struct Entry {
    id: u32,
}

impl Entry {
    /// A place for `owner`, or `None` if the timer thread cannot run here.
    pub(crate) fn new(owner: Weak<Inner>) -> Option<Entry> {
        let shared = shared()?;
        let id = lock(&shared.queue).register(owner, Instant::now());
        Some(Entry { id })
    }

    /// Asks for [`Inner::on_timer`] to run at `at` or earlier. Never postpones an earlier
    /// request: a wake-up that comes early costs one check, one that is lost would leave a
    /// breaker quiet past its stretch.
    pub(crate) fn wake_at(&self, at: Instant) {
        let Some(shared) = shared() else { return };
        if lock(&shared.queue).schedule(self.id, at) {
            shared.wake.notify_one();
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(shared) = shared() {
            lock(&shared.queue).unregister(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ids_in_order(q: &mut Queue, now: Instant) -> Vec<u32> {
        std::iter::from_fn(|| q.pop_due(now).ok()).collect()
    }

    #[test]
    fn heap_orders_by_due_time_and_only_moves_earlier() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut q = Queue::default();
        let ids: Vec<u32> = (0..6).map(|_| q.register(Weak::new(), t0)).collect();
        let moved_earliest: Vec<bool> = ids
            .iter()
            .zip([50, 10, 40, 30, 20, 60])
            .map(|(id, ms)| q.schedule(*id, at(ms)))
            .collect();
        assert_eq!(moved_earliest, [true, true, false, false, false, false]);
        // A later request does not postpone; an earlier one moves the entry up.
        assert!(!q.schedule(ids[1], at(100)));
        assert!(q.schedule(ids[5], at(5)));
        assert_eq!(q.pop_due(at(1)).err(), Some(Some(at(5))));
        q.remove(ids[3]);
        q.remove(ids[3]); // removing twice is harmless
        assert_eq!(ids_in_order(&mut q, at(1_000)), vec![5, 1, 4, 2, 0]);
        assert_eq!(q.pop_due(at(1_000)).err(), Some(None));
    }

    #[test]
    fn slots_are_reused_and_the_heap_stays_consistent() {
        let t0 = Instant::now();
        let mut q = Queue::default();
        let mut live: Vec<u32> = Vec::new();
        // A deterministic mix of registrations, schedules, removals and unregistrations.
        let mut x = 0x2545_f491_u64;
        for step in 0..5_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 4 {
                0..=1 if live.len() < 64 => live.push(q.register(Weak::new(), t0)),
                0..=2 if !live.is_empty() => {
                    let id = live[(x >> 8) as usize % live.len()];
                    q.schedule(id, t0 + Duration::from_micros((x >> 16) % 10_000 + step));
                }
                _ if !live.is_empty() => {
                    let i = (x >> 8) as usize % live.len();
                    q.unregister(live.swap_remove(i));
                }
                _ => {}
            }
            for (i, &id) in q.heap.iter().enumerate() {
                assert_eq!(q.slots[id as usize].pos as usize, i);
                if i > 0 {
                    assert!(q.due((i - 1) / 2) <= q.due(i), "heap order at {i}");
                }
            }
        }
        assert!(
            q.slots.len() <= 64,
            "ids are reused: {} slots",
            q.slots.len()
        );
    }
}
