//! Events: order, lossy delivery that never blocks calls, call events on request, the
//! registry-wide stream, and `tracing` events.

use std::time::Duration;

use plexspaces_circuit_breaker::events::{CallOutcome, EventKind, Reason, RecvError, TryRecvError};
use plexspaces_circuit_breaker::{registry, CircuitBreaker, CircuitBreakerConfig, State};
use tokio::time::advance;

fn breaker(name: &str) -> CircuitBreaker {
    CircuitBreaker::new(CircuitBreakerConfig {
        name: name.into(),
        failure_threshold: 1,
        timeout_secs: 1,
        ..Default::default()
    })
}

fn transitions(
    events: &mut plexspaces_circuit_breaker::events::Subscription,
) -> Vec<(State, State, Reason)> {
    std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e.kind {
            EventKind::StateChanged { from, to, reason } => Some((from, to, reason)),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn state_changes_arrive_in_order_with_reasons() {
    let b = breaker("e-order");
    let mut events = b.subscribe();
    b.call(|| Err::<(), _>(())).unwrap_err();
    advance(Duration::from_secs(1)).await;
    b.call(|| Err::<(), _>(())).unwrap_err();
    advance(Duration::from_secs(1)).await;
    b.call(|| Ok::<_, ()>(())).unwrap();
    b.force_open();
    b.disable();
    b.reset();
    use State::*;
    assert_eq!(
        transitions(&mut events),
        [
            (Closed, Open, Reason::ConsecutiveFailures),
            (Open, HalfOpen, Reason::OpenPeriodElapsed),
            (HalfOpen, Open, Reason::TrialFailed),
            (Open, HalfOpen, Reason::OpenPeriodElapsed),
            (HalfOpen, Closed, Reason::TrialsSucceeded),
            (Closed, ForcedOpen, Reason::ForcedOpen),
            (ForcedOpen, Disabled, Reason::Disabled),
            (Disabled, Closed, Reason::Reset),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn events_carry_the_breaker_name_and_time() {
    let b = breaker("e-time");
    let mut events = b.subscribe();
    let before = b.snapshot().taken_at_unix_ms;
    advance(Duration::from_secs(3)).await;
    b.call(|| Err::<(), _>(())).unwrap_err();
    let e = events.recv().await.unwrap();
    assert_eq!(&*e.breaker, "e-time");
    assert_eq!(e.at_unix_ms - before, 3_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transitions_are_published_in_the_order_they_happened() {
    let b = breaker("e-concurrent");
    let mut events = b.subscribe();
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move {
                // At most 200 changes in all: within the subscription's buffer of 256.
                for _ in 0..50 {
                    b.force_open();
                    b.reset();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // Whatever the interleaving, each event must start where the previous one ended.
    let seen = transitions(&mut events);
    assert!(
        seen.len() >= 2,
        "at least one force_open and one reset changed the state"
    );
    assert!(
        matches!(events.try_recv(), Err(TryRecvError::Empty)),
        "nothing was lost"
    );
    for pair in seen.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "out of order: {pair:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_never_reads_does_not_block_calls_and_learns_its_lag() {
    let b = breaker("e-lagging");
    let mut idle = b.subscribe();
    let mut idle_all = b.subscribe_all();
    for _ in 0..2_000 {
        b.call(|| Err::<(), _>(())).unwrap_err(); // closed -> open
        b.reset(); // open -> closed
    }
    assert_eq!(b.snapshot().failed_calls, 0, "reset clears the counts");
    // 4,000 state changes against a buffer of 256: the subscriber is told what it missed.
    match idle.recv().await {
        Err(RecvError::Lagged(n)) => assert_eq!(n, 4_000 - 256),
        other => panic!("expected a lag, got {other:?}"),
    }
    let next = idle.recv().await.unwrap();
    assert!(matches!(next.kind, EventKind::StateChanged { .. }));
    assert!(matches!(idle_all.try_recv(), Err(TryRecvError::Lagged(_))));
}

#[tokio::test(start_paused = true)]
async fn subscribe_all_adds_rejections_and_call_outcomes_in_order() {
    let b = breaker("e-all");
    let mut quiet = b.subscribe();
    let mut all = b.subscribe_all();
    b.call(|| Ok::<_, ()>(())).unwrap();
    b.call(|| Err::<(), _>(())).unwrap_err();
    b.call(|| Ok::<_, ()>(())).unwrap_err();
    drop(b.try_acquire());
    let kinds: Vec<EventKind> = std::iter::from_fn(|| all.try_recv().ok())
        .map(|e| e.kind)
        .collect();
    let call = |outcome| EventKind::CallFinished {
        outcome,
        duration: None,
        trial: false,
    };
    assert_eq!(
        kinds,
        [
            call(CallOutcome::Success),
            call(CallOutcome::Failure),
            EventKind::StateChanged {
                from: State::Closed,
                to: State::Open,
                reason: Reason::ConsecutiveFailures
            },
            EventKind::Rejected,
            EventKind::Rejected,
        ]
    );
    assert_eq!(
        transitions(&mut quiet).len(),
        1,
        "subscribe() carries state changes only"
    );

    // Trials are timed and marked.
    advance(Duration::from_secs(1)).await;
    b.execute(|| async {
        tokio::time::sleep(Duration::from_millis(40)).await;
        Ok::<_, ()>(())
    })
    .await
    .unwrap();
    let finished: Vec<EventKind> = std::iter::from_fn(|| all.try_recv().ok())
        .map(|e| e.kind)
        .filter(|k| matches!(k, EventKind::CallFinished { .. }))
        .collect();
    assert_eq!(
        finished,
        [EventKind::CallFinished {
            outcome: CallOutcome::Success,
            duration: Some(Duration::from_millis(40)),
            trial: true
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn the_registry_stream_carries_every_registry_breaker() {
    let mut events = registry().subscribe();
    let config = |name: &str| CircuitBreakerConfig {
        name: name.into(),
        failure_threshold: 1,
        ..Default::default()
    };
    let a = registry().get_or_create(config("e-registry-a"));
    let b = registry().get_or_create(config("e-registry-b"));
    a.call(|| Err::<(), _>(())).unwrap_err();
    b.call(|| Err::<(), _>(())).unwrap_err();
    let names: Vec<String> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| e.breaker.to_string())
        .filter(|n| n.starts_with("e-registry-"))
        .collect();
    assert_eq!(names, ["e-registry-a", "e-registry-b"]);
}
