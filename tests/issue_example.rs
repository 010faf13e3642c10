//! The example of the runtime issue, as written there, against a simulated payment client.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use plexspaces_circuit_breaker::*;
// As written in the issue; the runtime re-exports these types too, so this one is redundant.
#[allow(unused_imports)]
use plexspaces_proto::circuitbreaker::prv::*;

#[derive(Debug, PartialEq)]
struct Receipt(u64);

#[derive(Debug, PartialEq)]
struct PaymentError;

/// A payment client that fails while `down` is set, and counts the calls that reach it.
struct PaymentService {
    down: AtomicBool,
    calls: AtomicU32,
}

impl PaymentService {
    async fn process_payment(&self, amount: u64) -> Result<Receipt, PaymentError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        if self.down.load(Ordering::SeqCst) {
            Err(PaymentError)
        } else {
            Ok(Receipt(amount))
        }
    }
}

#[derive(Debug, PartialEq)]
enum Seen {
    Paid(u64),
    FailFast,
    ServiceError,
}

#[tokio::test(start_paused = true)]
async fn the_issue_example_trips_fails_fast_and_recovers() {
    let payment_service = PaymentService {
        down: AtomicBool::new(true),
        calls: AtomicU32::new(0),
    };
    let amount = 125;

    let config = CircuitBreakerConfig {
        name: "payment-service".to_string(),
        failure_strategy: FailureStrategy::FailureStrategyConsecutive as i32,
        failure_threshold: 5, // trip after 5 consecutive failures
        success_threshold: 2, // close after 2 successes in half-open
        timeout_secs: 60,     // stay open for 60 seconds
        ..Default::default()
    };
    let breaker = CircuitBreaker::new(config);

    let attempt = || async {
        match breaker
            .execute(|| async { payment_service.process_payment(amount).await })
            .await
        {
            Ok(receipt) => Seen::Paid(receipt.0),
            Err(CircuitBreakerError::CircuitOpen) => Seen::FailFast,
            Err(_e) => Seen::ServiceError,
        }
    };

    // Five consecutive failures reach the service, then the circuit is open.
    for i in 0..5 {
        assert_eq!(attempt().await, Seen::ServiceError, "call {i}");
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(payment_service.calls.load(Ordering::SeqCst), 5);

    // Open: fail fast without calling the service, for the whole open period.
    assert_eq!(attempt().await, Seen::FailFast);
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(attempt().await, Seen::FailFast);
    assert_eq!(payment_service.calls.load(Ordering::SeqCst), 5);

    // After 60 s the next call is a trial; the service is back.
    payment_service.down.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(attempt().await, Seen::Paid(125));
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(attempt().await, Seen::Paid(125));
    assert_eq!(breaker.state(), State::Closed);

    let snap = breaker.snapshot();
    assert_eq!(snap.successful_calls, 2);
    assert_eq!(snap.failed_calls, 5);
    assert_eq!(snap.rejected_calls, 2);
    assert_eq!(snap.state, CircuitState::CircuitStateClosed as i32);
}
