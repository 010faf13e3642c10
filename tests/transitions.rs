//! Every state transition of the consecutive strategy, on tokio's paused clock.

use std::time::Duration;

use plexspaces_circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerError, CircuitState, State,
};
use tokio::time::advance;

fn breaker(name: &str, failures: u32, successes: u32, timeout_secs: u32) -> CircuitBreaker {
    CircuitBreaker::new(CircuitBreakerConfig {
        name: name.into(),
        failure_threshold: failures,
        success_threshold: successes,
        timeout_secs,
        ..Default::default()
    })
}

async fn ok(b: &CircuitBreaker) -> Result<u32, CircuitBreakerError<&'static str>> {
    b.execute(|| async { Ok(1) }).await
}

async fn fail(b: &CircuitBreaker) -> Result<u32, CircuitBreakerError<&'static str>> {
    b.execute(|| async { Err("boom") }).await
}

#[tokio::test(start_paused = true)]
async fn opens_exactly_at_the_failure_threshold() {
    let b = breaker("t-threshold", 3, 1, 10);
    assert_eq!(fail(&b).await, Err(CircuitBreakerError::Inner("boom")));
    assert_eq!(fail(&b).await, Err(CircuitBreakerError::Inner("boom")));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.snapshot().consecutive_failures, 2);
    assert_eq!(fail(&b).await, Err(CircuitBreakerError::Inner("boom")));
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_consecutive_count() {
    let b = breaker("t-reset-count", 3, 1, 10);
    for _ in 0..5 {
        fail(&b).await.unwrap_err();
        fail(&b).await.unwrap_err();
        assert_eq!(ok(&b).await, Ok(1));
        assert_eq!(b.snapshot().consecutive_failures, 0);
    }
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn open_rejects_without_calling_until_the_period_elapses() {
    let b = breaker("t-open", 1, 1, 30);
    fail(&b).await.unwrap_err();
    let mut called = false;
    let r = b
        .execute(|| {
            called = true;
            async { Ok::<_, ()>(()) }
        })
        .await;
    assert_eq!(r, Err(CircuitBreakerError::CircuitOpen));
    assert!(
        !called,
        "the wrapped function must not be called while open"
    );
    assert_eq!(b.retry_after(), Some(Duration::from_secs(30)));

    advance(Duration::from_millis(29_999)).await;
    assert_eq!(ok(&b).await, Err(CircuitBreakerError::CircuitOpen));
    assert_eq!(b.retry_after(), Some(Duration::from_millis(1)));
    advance(Duration::from_millis(1)).await;
    assert_eq!(b.retry_after(), Some(Duration::ZERO));
    assert_eq!(b.state(), State::Open, "open -> half-open is lazy");
    assert_eq!(ok(&b).await, Ok(1));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_needs_success_threshold_trials_to_close() {
    let b = breaker("t-half-open-close", 1, 3, 5);
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(5)).await;
    assert_eq!(ok(&b).await, Ok(1));
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.snapshot().half_open_successes, 1);
    assert_eq!(ok(&b).await, Ok(1));
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(ok(&b).await, Ok(1));
    assert_eq!(b.state(), State::Closed);
    // Counters cleared: it takes a full threshold of failures to open again.
    assert_eq!(b.snapshot().consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_reopens_for_a_new_full_period() {
    let b = breaker("t-half-open-fail", 2, 2, 10);
    fail(&b).await.unwrap_err();
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(10)).await;
    assert_eq!(ok(&b).await, Ok(1));
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(fail(&b).await, Err(CircuitBreakerError::Inner("boom")));
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.retry_after(), Some(Duration::from_secs(10)));
    advance(Duration::from_millis(9_999)).await;
    assert_eq!(ok(&b).await, Err(CircuitBreakerError::CircuitOpen));
    advance(Duration::from_millis(1)).await;
    assert_eq!(ok(&b).await, Ok(1));
    assert_eq!(ok(&b).await, Ok(1));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_at_most_half_open_max_calls_at_once() {
    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: "t-half-open-max".into(),
        failure_threshold: 1,
        success_threshold: 5,
        half_open_max_calls: 2,
        timeout_secs: 1,
        ..Default::default()
    });
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(1)).await;
    let first = b.try_acquire().expect("first trial");
    let second = b.try_acquire().expect("second trial");
    assert!(first.is_trial() && second.is_trial());
    assert_eq!(
        b.try_acquire().unwrap_err(),
        CircuitBreakerError::CircuitOpen
    );
    assert_eq!(b.snapshot().half_open_in_flight, 2);
    first.success();
    let third = b.try_acquire().expect("a finished trial frees its slot");
    third.success();
    second.success();
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.snapshot().half_open_successes, 3);
}

#[tokio::test(start_paused = true)]
async fn half_open_max_calls_defaults_to_success_threshold() {
    let b = breaker("t-half-open-default", 1, 2, 1);
    assert_eq!(b.config().half_open_max_calls, 2);
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(1)).await;
    let _a = b.try_acquire().unwrap();
    let _b = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
}

#[tokio::test(start_paused = true)]
async fn snapshot_reports_the_open_period_in_wall_clock_time() {
    let b = breaker("t-snapshot", 1, 1, 60);
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(15)).await;
    let s = b.snapshot();
    assert_eq!(s.state, CircuitState::CircuitStateOpen as i32);
    assert_eq!(s.retry_after_ms, 45_000);
    assert_eq!(s.next_attempt_at_unix_ms - s.opened_at_unix_ms, 60_000);
    assert_eq!(s.taken_at_unix_ms - s.opened_at_unix_ms, 15_000);
    assert_eq!(s.failed_calls, 1);
    let config = s.config.expect("the config in force");
    assert_eq!(config.timeout_secs, 60);
    assert_eq!(config.name, "t-snapshot");
}

#[tokio::test(start_paused = true)]
async fn call_timeout_counts_as_failure_and_returns_timeout() {
    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: "t-call-timeout".into(),
        failure_threshold: 2,
        call_timeout_ms: 100,
        ..Default::default()
    });
    let slow = || async {
        tokio::time::sleep(Duration::from_millis(101)).await;
        Ok::<_, ()>("late")
    };
    let quick = || async {
        tokio::time::sleep(Duration::from_millis(99)).await;
        Ok::<_, ()>("quick")
    };
    assert_eq!(b.execute(quick).await, Ok("quick"));
    assert_eq!(b.execute(slow).await, Err(CircuitBreakerError::Timeout));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.execute(slow).await, Err(CircuitBreakerError::Timeout));
    assert_eq!(b.state(), State::Open);
    let s = b.snapshot();
    assert_eq!(
        (s.failed_calls, s.timed_out_calls, s.successful_calls),
        (2, 2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_trial_with_a_call_timeout_reopens_instead_of_wedging() {
    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: "t-hung-trial".into(),
        failure_threshold: 1,
        timeout_secs: 1,
        call_timeout_ms: 500,
        ..Default::default()
    });
    fail(&b).await.unwrap_err();
    advance(Duration::from_secs(1)).await;
    let hung = b.execute(std::future::pending::<Result<(), ()>>).await;
    assert_eq!(hung, Err(CircuitBreakerError::Timeout));
    assert_eq!(b.state(), State::Open);
}

#[test]
fn sync_call_goes_through_the_same_state_machine() {
    let b = breaker("t-sync", 2, 1, 60);
    assert_eq!(b.call(|| Ok::<_, &str>(7)), Ok(7));
    assert_eq!(
        b.call(|| Err::<u8, _>("no")),
        Err(CircuitBreakerError::Inner("no"))
    );
    assert_eq!(
        b.call(|| Err::<u8, _>("no")),
        Err(CircuitBreakerError::Inner("no"))
    );
    assert_eq!(b.state(), State::Open);
    let mut called = false;
    let r = b.call(|| {
        called = true;
        Ok::<_, ()>(())
    });
    assert_eq!(r, Err(CircuitBreakerError::CircuitOpen));
    assert!(!called);
}
