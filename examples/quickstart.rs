//! A simulated flaky payment service behind a circuit breaker.
//!
//! The service works, goes down for a while, then comes back. Watch the breaker trip after
//! three consecutive failures, fail fast while open (the service is not called), probe with
//! trial calls after the open period, and close again once the service answers.
//!
//! Run: `cargo run --example quickstart` (takes about 6 seconds).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plexspaces_circuit_breaker::events::EventKind;
use plexspaces_circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerError, FailureStrategy, State,
};
use tokio::time::Instant;

/// A payment service that is down between `down_from` and `down_until` after start.
struct PaymentService {
    started: Instant,
    down_from: Duration,
    down_until: Duration,
    calls_received: AtomicU32,
}

#[derive(Debug)]
struct Unavailable;

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("503 service unavailable")
    }
}

impl PaymentService {
    async fn process_payment(&self, amount: u64) -> Result<String, Unavailable> {
        let n = self.calls_received.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t = self.started.elapsed();
        if t >= self.down_from && t < self.down_until {
            Err(Unavailable)
        } else {
            Ok(format!("receipt #{n} for ${amount}"))
        }
    }
}

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let service = PaymentService {
        started,
        down_from: Duration::from_millis(800),
        down_until: Duration::from_millis(3_200),
        calls_received: AtomicU32::new(0),
    };
    let breaker = CircuitBreaker::new(CircuitBreakerConfig {
        name: "payment-service".into(),
        failure_strategy: FailureStrategy::FailureStrategyConsecutive as i32,
        failure_threshold: 3, // trip after 3 consecutive failures
        success_threshold: 2, // close after 2 successful trials
        timeout_secs: 1,      // stay open for 1 second before probing
        call_timeout_ms: 500, // a payment taking longer than this is a failure
        ..Default::default()
    });
    let stamp = || format!("[{:>6.3}s]", started.elapsed().as_secs_f64());

    // Every state change, in order, with its reason and the time it happened.
    let started_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut events = breaker.subscribe();
    let mut print_state_changes = || {
        while let Ok(event) = events.try_recv() {
            if let EventKind::StateChanged { from, to, reason } = event.kind {
                let at = (event.at_unix_ms as i64 - started_unix_ms) as f64 / 1000.0;
                println!("[{at:>6.3}s] *** state change: {from} -> {to} ({reason})");
            }
        }
    };

    println!(
        "{} breaker `{}` starts {}",
        stamp(),
        breaker.name(),
        breaker.state()
    );
    for i in 1..=40u64 {
        let amount = 10 * i;
        let outcome = breaker.execute(|| service.process_payment(amount)).await;
        let line = match outcome {
            Ok(receipt) => format!("ok        {receipt}"),
            Err(CircuitBreakerError::CircuitOpen) => format!(
                "rejected  fail fast, service not called (retry after {} ms)",
                breaker.retry_after().map_or(0, |d| d.as_millis())
            ),
            Err(CircuitBreakerError::Timeout) => "timeout   the payment took too long".to_string(),
            Err(e) => format!(
                "failed    {}",
                e.into_inner().map_or_else(String::new, |u| u.to_string())
            ),
        };
        print_state_changes();
        println!("{} call {i:>2}  {line}", stamp());
        tokio::time::sleep(Duration::from_millis(130)).await;
        if i > 30 && breaker.state() == State::Closed && started.elapsed() > Duration::from_secs(5)
        {
            break;
        }
    }

    let s = breaker.snapshot();
    println!(
        "{} done: {} successful, {} failed, {} rejected; the service saw {} calls",
        stamp(),
        s.successful_calls,
        s.failed_calls,
        s.rejected_calls,
        service.calls_received.load(Ordering::SeqCst)
    );
}
