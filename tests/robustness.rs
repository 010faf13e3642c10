//! Cancellation, late results, panics, classification and manual control.

use std::future::pending;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use plexspaces_circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerError, State,
};
use tokio::time::advance;

fn breaker(name: &str, failures: u32, successes: u32) -> CircuitBreaker {
    CircuitBreaker::new(CircuitBreakerConfig {
        name: name.into(),
        failure_threshold: failures,
        success_threshold: successes,
        timeout_secs: 10,
        ..Default::default()
    })
}

async fn trip(b: &CircuitBreaker) {
    while b.state() != State::Open {
        let _ = b.execute(|| async { Err::<(), _>("down") }).await;
    }
}

// ---- cancellation ----------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_dropped_trial_frees_its_slot_and_the_breaker_recovers() {
    let b = breaker("r-dropped-trial", 1, 1);
    trip(&b).await;
    advance(Duration::from_secs(10)).await;

    // The trial hangs; the caller gives up after a second (a select!/timeout drop).
    let gave_up =
        tokio::time::timeout(Duration::from_secs(1), b.execute(pending::<Result<(), ()>>)).await;
    assert!(gave_up.is_err());
    assert_eq!(b.state(), State::HalfOpen);
    let s = b.snapshot();
    assert_eq!(
        s.half_open_in_flight, 0,
        "the dropped trial must free its slot"
    );
    assert_eq!((s.cancelled_calls, s.failed_calls), (1, 1));

    // Not stuck: the next call is admitted as a trial and closes the circuit.
    assert_eq!(b.execute(|| async { Ok::<_, ()>(5) }).await, Ok(5));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_aborted_task_holding_a_trial_does_not_wedge_half_open() {
    let b = breaker("r-aborted-task", 1, 1);
    trip(&b).await;
    advance(Duration::from_secs(10)).await;
    let task = tokio::spawn({
        let b = b.clone();
        async move { b.execute(pending::<Result<(), ()>>).await }
    });
    tokio::task::yield_now().await;
    assert_eq!(b.snapshot().half_open_in_flight, 1);
    assert!(b.try_acquire().is_err(), "the one slot is taken");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(b.snapshot().half_open_in_flight, 0);
    assert!(b.try_acquire().unwrap().is_trial());
}

#[tokio::test(start_paused = true)]
async fn cancellation_while_closed_is_neither_success_nor_failure() {
    let b = breaker("r-cancel-closed", 2, 1);
    b.execute(|| async { Err::<(), _>(()) }).await.unwrap_err();
    for _ in 0..10 {
        let _ = tokio::time::timeout(
            Duration::from_millis(1),
            b.execute(pending::<Result<(), ()>>),
        )
        .await;
    }
    let s = b.snapshot();
    assert_eq!(
        s.consecutive_failures, 1,
        "cancellations do not count as failures…"
    );
    assert_eq!(s.successful_calls, 0, "…nor as successes");
    assert_eq!(s.cancelled_calls, 10);
    drop(b.try_acquire().unwrap());
    assert_eq!(
        b.snapshot().cancelled_calls,
        11,
        "an unreported permit is a cancellation"
    );
}

// ---- late results ----------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_success_begun_while_closed_does_not_close_half_open() {
    let b = breaker("r-late-success", 1, 1);
    let early = b.try_acquire().unwrap();
    trip(&b).await;
    advance(Duration::from_secs(10)).await;
    let trial = b.try_acquire().unwrap();
    assert!(trial.is_trial());
    early.success();
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "a stale success must not close the circuit"
    );
    trial.success();
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_failure_begun_while_closed_does_not_extend_the_open_period() {
    let b = breaker("r-late-failure", 1, 1);
    let early = b.try_acquire().unwrap();
    trip(&b).await;
    advance(Duration::from_secs(6)).await;
    early.failure();
    assert_eq!(b.retry_after(), Some(Duration::from_secs(4)));
    advance(Duration::from_secs(4)).await;
    assert!(b.try_acquire().unwrap().is_trial());
}

#[tokio::test(start_paused = true)]
async fn a_failure_begun_while_closed_does_not_reopen_half_open() {
    let b = breaker("r-late-failure-half-open", 1, 2);
    let early = b.try_acquire().unwrap();
    trip(&b).await;
    advance(Duration::from_secs(10)).await;
    let trial = b.try_acquire().unwrap();
    early.failure();
    assert_eq!(b.state(), State::HalfOpen);
    trial.success();
    assert_eq!(b.snapshot().half_open_successes, 1);
}

#[tokio::test(start_paused = true)]
async fn a_trial_from_an_earlier_half_open_period_decides_nothing() {
    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: "r-late-trial".into(),
        failure_threshold: 1,
        half_open_max_calls: 2,
        timeout_secs: 10,
        ..Default::default()
    });
    trip(&b).await;
    advance(Duration::from_secs(10)).await;
    let slow_trial = b.try_acquire().unwrap();
    let failing_trial = b.try_acquire().unwrap();
    failing_trial.failure();
    assert_eq!(b.state(), State::Open);
    slow_trial.success();
    assert_eq!(
        b.state(),
        State::Open,
        "a trial of the previous period must not close it"
    );
}

// ---- panics ----------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_future_counts_as_failure_and_reaches_the_caller() {
    let b = breaker("r-panic-async", 2, 1);
    for _ in 0..2 {
        let task = tokio::spawn({
            let b = b.clone();
            async move {
                b.execute(|| async {
                    tokio::task::yield_now().await;
                    if true {
                        panic!("handler bug");
                    }
                    Ok::<(), ()>(())
                })
                .await
            }
        });
        let err = task.await.unwrap_err();
        assert!(err.is_panic(), "the panic continues to the caller");
    }
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.snapshot().failed_calls, 2);
}

#[test]
fn a_panic_in_a_sync_call_or_in_making_the_future_counts_as_failure() {
    let b = breaker("r-panic-sync", 2, 1);
    let r = catch_unwind(AssertUnwindSafe(|| {
        b.call(|| -> Result<(), ()> { panic!("sync bug") })
    }));
    assert!(r.is_err());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(b.execute(|| -> std::future::Ready<Result<(), ()>> { panic!("factory bug") }))
    }));
    assert!(r.is_err());
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.snapshot().failed_calls, 2);
}

// ---- classification --------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum HttpError {
    NotFound,
    Unavailable,
}

fn is_failure(e: &HttpError) -> bool {
    matches!(e, HttpError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn classified_errors_pass_through_without_counting() {
    let b = breaker("r-classifier", 2, 1);
    for _ in 0..10 {
        let r = b
            .execute_with(is_failure, || async { Err::<(), _>(HttpError::NotFound) })
            .await;
        assert_eq!(r, Err(CircuitBreakerError::Inner(HttpError::NotFound)));
    }
    assert_eq!(b.state(), State::Closed);
    let r = b.call_with(is_failure, || Err::<(), _>(HttpError::Unavailable));
    assert_eq!(r, Err(CircuitBreakerError::Inner(HttpError::Unavailable)));
    assert_eq!(b.snapshot().consecutive_failures, 1);
    let s = b.snapshot();
    assert_eq!((s.ignored_calls, s.failed_calls), (10, 1));
}

#[tokio::test(start_paused = true)]
async fn an_ignored_trial_frees_its_slot_without_deciding() {
    let b = breaker("r-classifier-trial", 1, 1);
    trip(&b).await;
    advance(Duration::from_secs(10)).await;
    let r = b
        .execute_with(is_failure, || async { Err::<(), _>(HttpError::NotFound) })
        .await;
    assert!(r.is_err());
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.snapshot().half_open_in_flight, 0);
    assert_eq!(b.execute(|| async { Ok::<_, ()>(()) }).await, Ok(()));
    assert_eq!(b.state(), State::Closed);
}

// ---- manual control --------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn force_open_rejects_everything_until_reset() {
    let b = breaker("r-force-open", 5, 1);
    b.force_open();
    assert_eq!(b.state(), State::ForcedOpen);
    advance(Duration::from_secs(3600)).await;
    assert_eq!(
        b.execute(|| async { Ok::<_, ()>(()) }).await,
        Err(CircuitBreakerError::CircuitOpen)
    );
    assert_eq!(b.retry_after(), None);
    b.reset();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.execute(|| async { Ok::<_, ()>(()) }).await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn disable_lets_everything_through_and_records_nothing() {
    let b = breaker("r-disable", 1, 1);
    b.disable();
    for _ in 0..20 {
        assert_eq!(
            b.execute(|| async { Err::<(), _>("down") }).await,
            Err(CircuitBreakerError::Inner("down"))
        );
    }
    assert_eq!(b.state(), State::Disabled);
    let s = b.snapshot();
    assert_eq!(
        (s.failed_calls, s.successful_calls, s.rejected_calls),
        (0, 0, 0)
    );
    b.reset();
    b.execute(|| async { Err::<(), _>("down") })
        .await
        .unwrap_err();
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn reset_closes_clears_counts_and_outdates_earlier_permits() {
    let b = breaker("r-reset", 2, 1);
    let before = b.try_acquire().unwrap();
    trip(&b).await;
    b.reset();
    assert_eq!(b.state(), State::Closed);
    let s = b.snapshot();
    assert_eq!(
        (s.failed_calls, s.rejected_calls, s.consecutive_failures),
        (0, 0, 0)
    );
    before.failure();
    before_reset_failure_changed_nothing(&b);
    // Resetting a closed breaker also outdates permits taken before it.
    let p = b.try_acquire().unwrap();
    b.reset();
    p.failure();
    assert_eq!(b.snapshot().consecutive_failures, 0);
}

fn before_reset_failure_changed_nothing(b: &CircuitBreaker) {
    assert_eq!(b.snapshot().consecutive_failures, 0);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn reconfigure_changes_thresholds_in_place_and_keeps_state() {
    let b = breaker("r-reconfigure", 3, 1);
    let clone = b.clone();
    b.execute(|| async { Err::<(), _>(()) }).await.unwrap_err();
    b.reconfigure(CircuitBreakerConfig {
        name: "r-reconfigure".into(),
        failure_threshold: 2,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(b.snapshot().consecutive_failures, 1, "state is kept");
    clone
        .execute(|| async { Err::<(), _>(()) })
        .await
        .unwrap_err();
    assert_eq!(
        b.state(),
        State::Open,
        "the new threshold applies from the next decision"
    );

    let err = b
        .reconfigure(CircuitBreakerConfig {
            name: "another".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.field(), "name");
    let err = b
        .reconfigure(CircuitBreakerConfig {
            name: "r-reconfigure".into(),
            failure_threshold: 5_000_000,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.field(), "failure_threshold");
    assert_eq!(b.config().failure_threshold, 2, "the old config stays");
}

#[tokio::test(start_paused = true)]
async fn a_call_with_a_deadline_given_up_by_its_caller_is_cancelled_and_its_timer_dropped() {
    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: "r-deadline-dropped".into(),
        failure_threshold: 1,
        call_timeout_ms: 500,
        ..Default::default()
    });
    // The caller gives up at 100 ms, while the call waits on its 500 ms deadline: the
    // call's future, timer included, is dropped mid-flight.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        b.execute(pending::<Result<(), ()>>),
    )
    .await;
    assert!(gave_up.is_err());
    // Past the dropped deadline nothing fires: no timeout, no failure, still closed.
    advance(Duration::from_secs(1)).await;
    let s = b.snapshot();
    assert_eq!(
        (s.cancelled_calls, s.timed_out_calls, s.failed_calls),
        (1, 0, 0)
    );
    assert_eq!(b.state(), State::Closed);
    // The same deadline still works for the next call.
    assert_eq!(
        b.execute(pending::<Result<(), ()>>).await,
        Err(CircuitBreakerError::Timeout)
    );
    assert_eq!(b.state(), State::Open);
}
