//! No heap allocation per call, in any state, for any strategy, through `call`, `execute`,
//! `try_acquire` and the attribute; and memory that stays flat across a million state
//! transitions. The counts come from dhat's counting allocator, so they are exact and do not
//! depend on the machine's speed.
//!
//! One `#[test]` only: the allocator counts every thread of the process, and libtest's own
//! threads allocate when a test ends.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use plexspaces_circuit_breaker::{
    circuit_breaker, CircuitBreaker, CircuitBreakerConfig, CircuitBreakerError, FailureStrategy,
    State,
};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const CALLS: u32 = 10_000;

fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

fn config(name: &str, strategy: FailureStrategy, trips_at_once: bool) -> CircuitBreakerConfig {
    let window = strategy != FailureStrategy::FailureStrategyConsecutive;
    CircuitBreakerConfig {
        name: name.into(),
        failure_strategy: strategy as i32,
        failure_threshold: match (window, trips_at_once) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => 1_000_000,
        },
        minimum_calls: match (window, trips_at_once) {
            (false, _) => 0,
            (true, true) => 1,
            (true, false) => 1_000,
        },
        window_size: if strategy == FailureStrategy::FailureStrategyCountWindow {
            1_000
        } else {
            0
        },
        window_secs: if strategy == FailureStrategy::FailureStrategyTimeWindow {
            60
        } else {
            0
        },
        failure_rate_threshold: if window { 100 } else { 0 },
        slow_call_duration_ms: if window { 10_000 } else { 0 },
        timeout_secs: 1,
        half_open_max_calls: 4,
        // Async calls also take the deadline's path (a tokio timer, kept out of line).
        call_timeout_ms: 60_000,
        ..Default::default()
    }
}

#[derive(Debug)]
struct AppError;

impl From<CircuitBreakerError> for AppError {
    fn from(_: CircuitBreakerError) -> Self {
        AppError
    }
}

#[circuit_breaker(name = "alloc-annotated", threshold = 1_000_000)]
async fn annotated(x: u32) -> Result<u32, AppError> {
    Ok(x + 1)
}

/// Runs `calls` of every kind `CALLS` times and returns how many allocations they made.
fn measure(mut calls: impl FnMut(u32)) -> u64 {
    calls(0); // warm-up: thread slots, lazily made windows, capacity reserved once
    let before = allocations();
    for i in 0..CALLS {
        calls(i);
    }
    allocations() - before
}

/// A future that is pending on its first poll and ready on the next.
struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn every_call_shape(rt: &tokio::runtime::Runtime, b: &CircuitBreaker, fail: bool) {
    let _ = b.call(|| if fail { Err(()) } else { Ok(1) });
    let _ = rt.block_on(b.execute(|| async move {
        if fail {
            Err(())
        } else {
            Ok(1)
        }
    }));
    // Pending once, so that the deadline's timer is registered with tokio's wheel and then
    // dropped from it. (Polled by hand: `block_on` itself allocates when a future is pending.)
    let mut pending_once = std::pin::pin!(b.execute(|| async move {
        PendingOnce(false).await;
        if fail {
            Err(())
        } else {
            Ok(2)
        }
    }));
    let mut cx = Context::from_waker(Waker::noop());
    if pending_once.as_mut().poll(&mut cx).is_pending() {
        assert!(pending_once.as_mut().poll(&mut cx).is_ready());
    }
    if let Ok(permit) = b.try_acquire() {
        if fail {
            permit.failure();
        } else {
            permit.success();
        }
    }
    drop(b.try_acquire()); // a cancellation
    let _ = b.call_with(|_: &()| false, || Err::<(), _>(())); // an ignored error
}

fn no_allocation_per_call_in_every_state(rt: &tokio::runtime::Runtime) {
    let strategies = [
        FailureStrategy::FailureStrategyConsecutive,
        FailureStrategy::FailureStrategyCountWindow,
        FailureStrategy::FailureStrategyTimeWindow,
    ];
    for strategy in strategies {
        let name = strategy.as_str_name();
        // Closed, successes and failures that do not trip it.
        let closed = CircuitBreaker::new(config(&format!("{name}-closed"), strategy, false));
        let n = measure(|i| every_call_shape(rt, &closed, i % 3 == 0));
        assert_eq!(
            n, 0,
            "{name}: {n} allocations in {CALLS} rounds of closed-state calls"
        );
        assert_eq!(closed.state(), State::Closed);

        // Open: every call rejected.
        let open = CircuitBreaker::new(config(&format!("{name}-open"), strategy, true));
        let _ = open.call(|| Err::<(), _>(()));
        assert_eq!(open.state(), State::Open);
        let n = measure(|_| every_call_shape(rt, &open, false));
        assert_eq!(n, 0, "{name}: {n} allocations while open");

        // Half-open: trials admitted, cancelled and ignored, extra calls rejected.
        let half = CircuitBreaker::new(config(&format!("{name}-half-open"), strategy, true));
        let _ = half.call(|| Err::<(), _>(()));
        rt.block_on(tokio::time::advance(Duration::from_secs(1)));
        let held = half.try_acquire().expect("the first trial");
        assert_eq!(half.state(), State::HalfOpen);
        let n = measure(|_| {
            let trial = half.try_acquire().expect("a free trial slot");
            let _ = half.call_with(|_: &()| false, || Err::<(), _>(()));
            drop(trial);
        });
        assert_eq!(n, 0, "{name}: {n} allocations in half-open");
        assert_eq!(half.state(), State::HalfOpen);
        drop(held);

        // Forced open and disabled.
        let manual = CircuitBreaker::new(config(&format!("{name}-manual"), strategy, false));
        manual.force_open();
        let n = measure(|_| every_call_shape(rt, &manual, false));
        assert_eq!(n, 0, "{name}: {n} allocations while forced open");
        manual.disable();
        let n = measure(|i| every_call_shape(rt, &manual, i % 2 == 0));
        assert_eq!(n, 0, "{name}: {n} allocations while disabled");
    }

    // The attribute's expansion.
    let n = measure(|i| {
        rt.block_on(annotated(i)).unwrap();
    });
    assert_eq!(n, 0, "{n} allocations through an annotated fn");
}

fn memory_stays_flat_across_a_million_transitions(rt: &tokio::runtime::Runtime) {
    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: "alloc-transitions".into(),
        failure_threshold: 1,
        timeout_secs: 1,
        ..Default::default()
    });
    // A subscriber that never reads: its buffer is bounded, so it must not grow either.
    let _idle = b.subscribe();
    rt.block_on(async {
        let mut transitions = 0u64;
        let mut before = None;
        let mut cycles = 0u64;
        while transitions < 1_000_000 {
            let _ = b.call(|| Err::<(), _>(())); // closed -> open
            tokio::time::advance(Duration::from_secs(1)).await;
            let _ = b.call(|| Ok::<_, ()>(())); // open -> half-open -> closed
            b.force_open(); // closed -> forced open
            b.reset(); // forced open -> closed
            transitions += 5;
            cycles += 1;
            if cycles == 1_000 {
                // Warmed up: the event buffer has filled to its bound.
                before = Some(dhat::HeapStats::get());
            }
        }
        let before = before.expect("warm-up done");
        let after = dhat::HeapStats::get();
        assert_eq!(b.state(), State::Closed);
        assert_eq!(
            after.curr_bytes,
            before.curr_bytes,
            "live bytes moved by {} over {} transitions",
            after.curr_bytes as i64 - before.curr_bytes as i64,
            transitions
        );
        assert_eq!(
            after.total_blocks, before.total_blocks,
            "transitions allocated"
        );
    });
}

/// The same on the running clock, where the timer thread keeps time for open periods and
/// time windows: calls allocate nothing, and arming the timer at every opening neither
/// allocates nor grows its queue.
fn with_the_timer_thread() {
    let window = CircuitBreaker::new(config(
        "alloc-timer-window",
        FailureStrategy::FailureStrategyTimeWindow,
        false,
    ));
    let n = measure(|i| {
        let _ = window.call(|| if i % 3 == 0 { Err(()) } else { Ok(1) });
    });
    assert_eq!(
        n, 0,
        "{n} allocations in time-window calls on the running clock"
    );

    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: "alloc-timer-transitions".into(),
        failure_threshold: 1,
        ..Default::default()
    });
    let cycle = || {
        let _ = b.call(|| Err::<(), _>(())); // closed -> open: the timer is armed
        assert!(b.call(|| Ok::<_, ()>(())).is_err(), "rejected while open");
        b.force_open(); // open -> forced open
        b.reset(); // forced open -> closed
    };
    for _ in 0..1_000 {
        cycle(); // warm-up: the timer thread starts, its queue gets its slot
    }
    let before = dhat::HeapStats::get();
    let mut transitions = 0u64;
    while transitions < 1_000_000 {
        cycle();
        transitions += 3;
    }
    let after = dhat::HeapStats::get();
    assert_eq!(after.curr_bytes, before.curr_bytes, "live bytes moved");
    assert_eq!(
        after.total_blocks, before.total_blocks,
        "transitions allocated"
    );
}

#[test]
fn allocation_free_calls_and_flat_memory() {
    let _profiler = dhat::Profiler::builder().testing().build();
    {
        let rt = common::paused_runtime();
        let _guard = rt.enter();
        no_allocation_per_call_in_every_state(&rt);
        memory_stays_flat_across_a_million_transitions(&rt);
    }
    // Outside any runtime: the real clock.
    with_the_timer_thread();
}
