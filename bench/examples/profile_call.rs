//! A tight loop of calls, for profilers (`perf record`, `valgrind --tool=callgrind`):
//! `cargo run --release -p plexspaces-circuit-breaker-bench --example profile_call -- MODE [CALLS]`
//! with MODE one of `bare`, `consecutive`, `count_window`, `time_window`, `open` (rejections).
use std::hint::black_box;

use plexspaces_circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, FailureStrategy};

#[inline(never)]
fn work(x: u64) -> Result<u64, ()> {
    Ok(black_box(x).wrapping_add(1))
}

fn main() {
    let strategy = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "consecutive".into());
    let calls: u64 = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    let (s, window_size, window_secs) = match strategy.as_str() {
        "count_window" => (FailureStrategy::FailureStrategyCountWindow, 100, 0),
        "time_window" => (FailureStrategy::FailureStrategyTimeWindow, 0, 60),
        _ => (FailureStrategy::FailureStrategyConsecutive, 0, 0),
    };
    let cb = CircuitBreaker::new(CircuitBreakerConfig {
        name: "profile".into(),
        failure_strategy: s as i32,
        window_size,
        window_secs,
        ..Default::default()
    });
    if strategy == "open" {
        cb.reconfigure(CircuitBreakerConfig {
            failure_threshold: 1,
            ..cb.config()
        })
        .unwrap();
        cb.call(|| Err::<(), _>(())).unwrap_err();
    }
    // One call, then a pause, so that the timer thread has begun keeping the time window's
    // bucket before the loop (under valgrind, which runs one thread at a time, it could
    // otherwise lag behind, and the counts would include clock reads it would have saved).
    black_box(cb.call(|| work(0)).unwrap_or(u64::MAX));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let start = std::time::Instant::now();
    if strategy == "bare" {
        for i in 0..calls {
            black_box(work(i).unwrap_or(u64::MAX));
        }
    } else {
        for i in 0..calls {
            black_box(cb.call(|| work(i)).unwrap_or(u64::MAX));
        }
    }
    eprintln!(
        "{strategy}: {:.2} ns/call",
        start.elapsed().as_nanos() as f64 / calls as f64
    );
}
