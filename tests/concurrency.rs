//! Many tasks and threads on one breaker: exact accounting and bounded half-open admission.

mod common;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use plexspaces_circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerError, State,
};

const TASKS: u64 = 8;
const CALLS: u64 = 5_000;

#[derive(Default)]
struct Seen {
    ok: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_many_calls_are_accounted_exactly() {
    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: "c-accounting".into(),
        failure_threshold: 3,
        // Long enough that an opened circuit stays open for the rest of the test.
        timeout_secs: 3600,
        ..Default::default()
    });
    let seen = Arc::new(Seen::default());
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let b = b.clone();
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..CALLS {
                // Mostly successes, with runs of failures that grow late in the run.
                let fail = (i + t) % 7 == 0 || (i > CALLS / 2 && i % 3 != 0);
                let r = b
                    .execute(|| async move {
                        tokio::task::yield_now().await;
                        if fail {
                            Err(())
                        } else {
                            Ok(())
                        }
                    })
                    .await;
                match r {
                    Ok(()) => seen.ok.fetch_add(1, SeqCst),
                    Err(CircuitBreakerError::Inner(())) => seen.failed.fetch_add(1, SeqCst),
                    Err(CircuitBreakerError::CircuitOpen) => seen.rejected.fetch_add(1, SeqCst),
                    Err(e) => panic!("unexpected {e:?}"),
                };
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let s = b.snapshot();
    assert_eq!(s.successful_calls, seen.ok.load(SeqCst));
    assert_eq!(s.failed_calls, seen.failed.load(SeqCst));
    assert_eq!(s.rejected_calls, seen.rejected.load(SeqCst));
    assert_eq!(
        s.successful_calls + s.failed_calls + s.rejected_calls,
        TASKS * CALLS
    );
    assert_eq!(s.cancelled_calls + s.ignored_calls + s.timed_out_calls, 0);
    // The long runs of failures in the second half must have tripped it.
    assert_eq!(b.state(), State::Open);
    assert!(s.rejected_calls > 0);
}

#[test]
fn threads_racing_for_half_open_never_exceed_the_limit() {
    const LIMIT: u32 = 3;
    const THREADS: usize = 16;
    let rt = common::paused_runtime();
    // The breaker reads tokio's clock: create and trip it inside the paused runtime.
    let _guard = rt.enter();
    for round in 0..50 {
        let b = CircuitBreaker::new(CircuitBreakerConfig {
            name: format!("c-half-open-race-{round}"),
            failure_threshold: 1,
            success_threshold: 100,
            half_open_max_calls: LIMIT,
            timeout_secs: 1,
            ..Default::default()
        });
        // Trip it and let the open period pass on the paused clock; the first call after
        // it moves the breaker to half-open and holds one trial slot.
        b.call(|| Err::<(), _>(())).unwrap_err();
        rt.block_on(tokio::time::advance(Duration::from_secs(1)));
        let first = b.try_acquire().expect("first trial");
        assert_eq!(b.state(), State::HalfOpen);

        let admitted = AtomicU32::new(1);
        let barrier = Barrier::new(THREADS);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    barrier.wait();
                    if let Ok(permit) = b.try_acquire() {
                        admitted.fetch_add(1, SeqCst);
                        // Hold the slot until every thread has tried.
                        barrier.wait();
                        drop(permit);
                    } else {
                        barrier.wait();
                    }
                });
            }
        });
        assert_eq!(admitted.load(SeqCst), LIMIT, "round {round}");
        let s = b.snapshot();
        assert_eq!(s.rejected_calls, (THREADS as u64) - u64::from(LIMIT - 1));
        assert_eq!(
            s.half_open_in_flight, 1,
            "the dropped permits freed their slots"
        );
        drop(first);
        assert_eq!(b.snapshot().half_open_in_flight, 0);
    }
}

#[test]
fn breaker_handles_are_send_sync_and_clone() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync_clone::<CircuitBreaker>();
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<plexspaces_circuit_breaker::Permit<'static>>();
    assert_send_sync::<CircuitBreakerError<std::io::Error>>();
}
