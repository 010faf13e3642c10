//! A tight loop of closed-state `execute` calls on a current-thread runtime, for profilers.
//! `cargo run --release -p plexspaces-circuit-breaker-bench --example profile_execute`
use std::hint::black_box;

use plexspaces_circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};

#[inline(never)]
fn work(x: u64) -> Result<u64, ()> {
    Ok(black_box(x).wrapping_add(1))
}

async fn work_async(x: u64) -> Result<u64, ()> {
    work(x)
}

fn main() {
    let calls: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000_000);
    let cb = CircuitBreaker::new(CircuitBreakerConfig {
        name: "profile".into(),
        ..Default::default()
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let elapsed = rt.block_on(async {
        let start = std::time::Instant::now();
        for i in 0..calls {
            black_box(cb.execute(move || work_async(i)).await.unwrap_or(u64::MAX));
        }
        start.elapsed()
    });
    eprintln!(
        "execute: {:.2} ns/call",
        elapsed.as_nanos() as f64 / calls as f64
    );
}
