//! The window strategies, slow calls, the half-open rate rule, backoff, hung trials and live
//! reconfiguration, on tokio's paused clock.

use std::time::Duration;

use plexspaces_circuit_breaker::events::{EventKind, Reason};
use plexspaces_circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerError, FailureStrategy, State,
};
use tokio::time::advance;

const COUNT: i32 = FailureStrategy::FailureStrategyCountWindow as i32;
const TIME: i32 = FailureStrategy::FailureStrategyTimeWindow as i32;

fn count_window(name: &str, size: u32, minimum: u32, rate: u32) -> CircuitBreaker {
    CircuitBreaker::new(CircuitBreakerConfig {
        name: name.into(),
        failure_strategy: COUNT,
        window_size: size,
        minimum_calls: minimum,
        failure_rate_threshold: rate,
        timeout_secs: 10,
        ..Default::default()
    })
}

fn ok(b: &CircuitBreaker) {
    b.call(|| Ok::<_, ()>(())).unwrap();
}

fn fail(b: &CircuitBreaker) {
    assert_eq!(
        b.call(|| Err::<(), _>(())),
        Err(CircuitBreakerError::Inner(()))
    );
}

fn open_reason(events: &mut plexspaces_circuit_breaker::events::Subscription) -> Option<Reason> {
    while let Ok(e) = events.try_recv() {
        if let EventKind::StateChanged {
            to: State::Open,
            reason,
            ..
        } = e.kind
        {
            return Some(reason);
        }
    }
    None
}

// ---- count window ------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn count_window_trips_exactly_at_the_rate_and_not_one_call_earlier() {
    let b = count_window("s-count-exact", 10, 10, 50);
    let mut events = b.subscribe();
    for _ in 0..5 {
        ok(&b);
    }
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(b.state(), State::Closed, "9 calls: below minimum_calls");
    ok(&b); // 10 calls, 4 failures: 40%
    assert_eq!(b.state(), State::Closed);
    fail(&b); // evicts a success: 10 calls, 5 failures: 50%, inclusive
    assert_eq!(b.state(), State::Open);
    assert_eq!(open_reason(&mut events), Some(Reason::FailureRate));
}

#[tokio::test(start_paused = true)]
async fn count_window_is_truly_sliding() {
    // After 1000 successes, with window 10 and threshold 50%, five failures in a row trip it.
    let b = count_window("s-count-sliding", 10, 10, 50);
    for _ in 0..1000 {
        ok(&b);
    }
    for i in 0..4 {
        fail(&b);
        assert_eq!(b.state(), State::Closed, "failure {}", i + 1);
    }
    assert_eq!(b.snapshot().window_failed_calls, 4);
    assert_eq!(b.snapshot().window_calls, 10);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn minimum_calls_is_respected_and_can_open_before_the_window_is_full() {
    let b = count_window("s-count-minimum", 100, 10, 50);
    for i in 0..9 {
        fail(&b);
        assert_eq!(
            b.state(),
            State::Closed,
            "{} calls are below minimum_calls",
            i + 1
        );
    }
    fail(&b);
    assert_eq!(
        b.state(),
        State::Open,
        "opens at the minimum, long before 100 calls"
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_never_opens_the_circuit() {
    // 5 failures among 9 calls are below the minimum; the 10th call, a success, brings the
    // window to the minimum at 50% failures, but only a failure or a slow call can open it.
    let b = count_window("s-count-success", 20, 10, 50);
    for _ in 0..5 {
        fail(&b);
    }
    for _ in 0..5 {
        ok(&b);
    }
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_close_starts_a_fresh_window() {
    let b = count_window("s-count-fresh", 4, 4, 50);
    for _ in 0..2 {
        ok(&b);
    }
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    advance(Duration::from_secs(10)).await;
    for _ in 0..10 {
        ok(&b); // the trials close it
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        b.snapshot().window_calls,
        0,
        "trials do not count in the new window"
    );
    fail(&b);
    fail(&b);
    fail(&b);
    assert_eq!(
        b.state(),
        State::Closed,
        "3 calls are below the minimum of a fresh window"
    );
}

// ---- time window -------------------------------------------------------------------------

fn time_window(name: &str, secs: u32, minimum: u32, rate: u32) -> CircuitBreaker {
    CircuitBreaker::new(CircuitBreakerConfig {
        name: name.into(),
        failure_strategy: TIME,
        window_secs: secs,
        minimum_calls: minimum,
        failure_rate_threshold: rate,
        timeout_secs: 10,
        ..Default::default()
    })
}

#[tokio::test(start_paused = true)]
async fn time_window_trips_exactly_at_the_rate() {
    let b = time_window("s-time-exact", 10, 4, 60);
    ok(&b);
    fail(&b);
    advance(Duration::from_secs(3)).await;
    ok(&b);
    fail(&b); // 2 of 4: 50%
    assert_eq!(b.state(), State::Closed);
    fail(&b); // 3 of 5: 60%
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn time_window_buckets_expire_with_or_without_calls() {
    // 10 s window: 10 buckets of 1 s. A call counts in the bucket of the moment it ends.
    let b = time_window("s-time-expiry", 10, 4, 50);
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(b.snapshot().window_calls, 3);
    advance(Duration::from_millis(9_999)).await;
    assert_eq!(b.snapshot().window_calls, 3, "still inside the window");
    advance(Duration::from_millis(1)).await;
    assert_eq!(b.snapshot().window_calls, 0, "expired without any call");
    fail(&b);
    assert_eq!(b.state(), State::Closed, "the old failures no longer count");
    for _ in 0..2 {
        ok(&b);
    }
    fail(&b); // 2 of 4 in the window
    assert_eq!(b.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn time_window_old_buckets_leave_while_calls_go_on() {
    let b = time_window("s-time-rolling", 10, 5, 50);
    // One failure per second for 20 s, with three successes each second: 25% failures.
    for _ in 0..20 {
        fail(&b);
        ok(&b);
        ok(&b);
        ok(&b);
        advance(Duration::from_secs(1)).await;
    }
    assert_eq!(b.state(), State::Closed);
    let s = b.snapshot();
    assert_eq!(
        (s.window_calls, s.window_failed_calls),
        (36, 9),
        "the last 9 whole buckets"
    );
}

// ---- slow calls --------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn slow_calls_open_the_circuit_in_both_window_strategies() {
    for (name, strategy) in [("s-slow-count", COUNT), ("s-slow-time", TIME)] {
        let b = CircuitBreaker::new(CircuitBreakerConfig {
            name: name.into(),
            failure_strategy: strategy,
            minimum_calls: 4,
            slow_call_duration_ms: 100,
            slow_call_rate_threshold: 50,
            ..Default::default()
        });
        let mut events = b.subscribe();
        let call = |ms: u64| {
            b.execute(move || async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, ()>(ms)
            })
        };
        call(10).await.unwrap();
        call(99).await.unwrap();
        call(100).await.unwrap(); // at least slow_call_duration_ms: slow
        assert_eq!(
            b.state(),
            State::Closed,
            "{name}: 3 calls, below the minimum"
        );
        call(250).await.unwrap(); // 2 slow of 4: 50%
        assert_eq!(b.state(), State::Open, "{name}");
        assert_eq!(
            open_reason(&mut events),
            Some(Reason::SlowCallRate),
            "{name}"
        );
        assert_eq!(b.snapshot().successful_calls, 4, "slow calls still succeed");
    }
}

// ---- half-open under a rate strategy -----------------------------------------------------

async fn tripped_count_window(name: &str, trials: u32) -> CircuitBreaker {
    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: name.into(),
        failure_strategy: COUNT,
        window_size: 4,
        minimum_calls: 2,
        failure_rate_threshold: 50,
        half_open_max_calls: trials,
        timeout_secs: 10,
        ..Default::default()
    });
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    advance(Duration::from_secs(10)).await;
    b
}

#[tokio::test(start_paused = true)]
async fn half_open_trials_close_when_their_failure_rate_is_below_the_threshold() {
    let b = tripped_count_window("s-half-open-close", 4).await;
    let trials: Vec<_> = (0..4).map(|_| b.try_acquire().expect("4 trials")).collect();
    assert!(b.try_acquire().is_err(), "only half_open_max_calls trials");
    let mut trials = trials.into_iter();
    trials.next().unwrap().failure(); // 1 of 4 failed: 25%
    for t in trials {
        assert_eq!(
            b.state(),
            State::HalfOpen,
            "decided only when all trials are in"
        );
        t.success();
    }
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_trials_reopen_as_soon_as_the_rate_is_reached() {
    let b = tripped_count_window("s-half-open-reopen", 4).await;
    let mut trials: Vec<_> = (0..4).map(|_| b.try_acquire().unwrap()).collect();
    trials.pop().unwrap().success();
    trials.pop().unwrap().failure();
    assert_eq!(b.state(), State::HalfOpen);
    trials.pop().unwrap().failure(); // 2 of the 4 planned trials failed: 50%
    assert_eq!(
        b.state(),
        State::Open,
        "reopens without waiting for the last trial"
    );
    trials.pop().unwrap().success();
    assert_eq!(b.state(), State::Open, "the late trial decides nothing");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_trial_gives_its_place_to_another_call() {
    let b = tripped_count_window("s-half-open-cancel", 2).await;
    let first = b.try_acquire().unwrap();
    let second = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop(second);
    let third = b.try_acquire().expect("the cancelled trial's place");
    first.success();
    third.success();
    assert_eq!(b.state(), State::Closed);
}

// ---- backoff -----------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn backoff_grows_the_open_period_caps_it_and_resets_after_a_close() {
    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: "s-backoff".into(),
        failure_threshold: 1,
        timeout_secs: 10,
        backoff_multiplier: 2.0,
        max_timeout_secs: 35,
        ..Default::default()
    });
    fail(&b);
    let mut periods = vec![b.retry_after().unwrap().as_secs()];
    for _ in 0..4 {
        advance(b.retry_after().unwrap()).await;
        fail(&b); // the trial fails: reopen
        assert_eq!(b.state(), State::Open);
        periods.push(b.retry_after().unwrap().as_secs());
    }
    assert_eq!(periods, [10, 20, 35, 35, 35]);
    assert_eq!(b.snapshot().consecutive_reopens, 4);
    assert_eq!(b.snapshot().open_period_ms, 35_000);
    advance(Duration::from_secs(35)).await;
    ok(&b);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        b.snapshot().open_period_ms,
        10_000,
        "the next opening uses timeout_secs"
    );
    fail(&b);
    assert_eq!(b.retry_after(), Some(Duration::from_secs(10)));
}

#[tokio::test(start_paused = true)]
async fn jitter_spreads_the_open_period_within_its_bounds() {
    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: "s-jitter".into(),
        failure_threshold: 1,
        timeout_secs: 10,
        jitter_percent: 20,
        ..Default::default()
    });
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        fail(&b);
        let period = b.retry_after().unwrap().as_millis();
        assert!(
            (8_000..=12_000).contains(&period),
            "{period} ms is outside 10 s +/- 20%"
        );
        assert_eq!(u128::from(b.snapshot().open_period_ms), period);
        seen.insert(period);
        b.reset();
    }
    assert!(
        seen.len() > 50,
        "jitter should spread the periods, saw {} values",
        seen.len()
    );
}

// ---- hung trials -------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_hung_trial_past_its_deadline_reopens_the_circuit() {
    let b = CircuitBreaker::new(CircuitBreakerConfig {
        name: "s-hung".into(),
        failure_threshold: 1,
        timeout_secs: 5,
        half_open_max_wait_ms: 1_000,
        ..Default::default()
    });
    let mut events = b.subscribe();
    fail(&b);
    advance(Duration::from_secs(5)).await;
    let hung = b.try_acquire().expect("the trial");
    advance(Duration::from_millis(999)).await;
    assert!(b.try_acquire().is_err(), "the slot is taken");
    assert_eq!(b.state(), State::HalfOpen);
    advance(Duration::from_millis(1)).await;
    assert!(b.try_acquire().is_err());
    assert_eq!(b.state(), State::Open, "the hung trial counted as failed");
    assert_eq!(b.retry_after(), Some(Duration::from_secs(5)));
    hung.success();
    assert_eq!(b.state(), State::Open, "its late success decides nothing");
    let reasons: Vec<Reason> = std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e.kind {
            EventKind::StateChanged { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [
            Reason::ConsecutiveFailures,
            Reason::OpenPeriodElapsed,
            Reason::TrialHung
        ]
    );
}

// ---- late results ------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn window_results_from_an_earlier_generation_decide_nothing() {
    let b = count_window("s-late-window", 4, 2, 50);
    let early = b.try_acquire().unwrap();
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    advance(Duration::from_secs(10)).await;
    for _ in 0..10 {
        ok(&b);
    }
    assert_eq!(b.state(), State::Closed);
    early.failure();
    assert_eq!(
        b.snapshot().window_calls,
        0,
        "a failure begun before the open period"
    );
    assert_eq!(b.state(), State::Closed);
}

// ---- live reconfiguration ----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn reconfiguring_keeps_state_and_window_unless_the_window_changes() {
    let b = count_window("s-reconfigure", 10, 4, 80);
    let mut events = b.subscribe();
    let config = b.config();
    ok(&b);
    fail(&b);
    fail(&b);
    fail(&b); // 3 of 4: 75%, below 80%
    assert_eq!(b.state(), State::Closed);

    // A new threshold applies at the next decision; the window is kept.
    b.reconfigure(CircuitBreakerConfig {
        failure_rate_threshold: 60,
        ..config.clone()
    })
    .unwrap();
    assert_eq!(
        b.snapshot().window_calls,
        4,
        "same window size: the window is kept"
    );
    fail(&b);
    assert_eq!(b.state(), State::Open);

    // A new window size starts a fresh window, and keeps the state.
    b.reconfigure(CircuitBreakerConfig {
        window_size: 20,
        failure_rate_threshold: 60,
        ..config.clone()
    })
    .unwrap();
    assert_eq!(b.state(), State::Open, "the state is kept");
    advance(Duration::from_secs(10)).await;
    for _ in 0..10 {
        ok(&b);
    }
    assert_eq!(b.state(), State::Closed);

    // A change of strategy: the consecutive count starts from nothing.
    b.reconfigure(CircuitBreakerConfig {
        name: config.name.clone(),
        failure_threshold: 2,
        ..Default::default()
    })
    .unwrap();
    fail(&b);
    assert_eq!(b.state(), State::Closed);
    fail(&b);
    assert_eq!(b.state(), State::Open);
    assert_eq!(
        open_reason(&mut events),
        Some(Reason::FailureRate),
        "the subscriber kept receiving across reconfigurations"
    );
    assert_eq!(open_reason(&mut events), Some(Reason::ConsecutiveFailures));

    let err = b
        .reconfigure(CircuitBreakerConfig {
            failure_strategy: COUNT,
            window_size: 5_000,
            ..config
        })
        .unwrap_err();
    assert_eq!(err.field(), "window_size");
    assert_eq!(b.config().failure_threshold, 2, "the old config stays");
}
