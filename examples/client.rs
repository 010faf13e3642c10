//! A client whose methods are protected by `#[circuit_breaker]`.
//!
//! `InventoryClient::stock` is protected by the breaker `inventory`: 404s do not count
//! against the service (`is_failure`), and while the circuit is open the client answers
//! from its last known stock (`fallback`). `InventoryClient::reserve` shares the same breaker by
//! name, so a failing `stock` endpoint also stops reservations from piling onto it.
//!
//! Run: `cargo run --example client` (takes about 2 seconds).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use plexspaces_circuit_breaker::{circuit_breaker, registry, CircuitBreakerError};

#[derive(Debug)]
enum InventoryError {
    NotFound(String),
    Unavailable,
    Breaker(CircuitBreakerError),
}

impl From<CircuitBreakerError> for InventoryError {
    fn from(e: CircuitBreakerError) -> Self {
        InventoryError::Breaker(e)
    }
}

impl std::fmt::Display for InventoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InventoryError::NotFound(sku) => write!(f, "404 no such sku {sku}"),
            InventoryError::Unavailable => f.write_str("503 inventory unavailable"),
            InventoryError::Breaker(e) => write!(f, "not attempted: {e}"),
        }
    }
}

/// Only server-side errors say the service is unhealthy.
fn is_failure(e: &InventoryError) -> bool {
    matches!(e, InventoryError::Unavailable)
}

struct InventoryClient {
    healthy: AtomicBool,
    last_known: Mutex<HashMap<String, u32>>,
}

impl InventoryClient {
    /// What the (simulated) remote service answers.
    async fn remote_stock(&self, sku: &str) -> Result<u32, InventoryError> {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if !self.healthy.load(Ordering::SeqCst) {
            return Err(InventoryError::Unavailable);
        }
        match sku {
            "apple" => Ok(12),
            "pear" => Ok(3),
            other => Err(InventoryError::NotFound(other.to_string())),
        }
    }

    /// The fallback: the last stock seen, while the breaker keeps calls away.
    async fn cached_stock(&self, sku: &str) -> Result<u32, InventoryError> {
        let cache = self.last_known.lock().unwrap();
        cache
            .get(sku)
            .copied()
            .ok_or(InventoryError::Breaker(CircuitBreakerError::CircuitOpen))
    }

    #[circuit_breaker(
        name = "inventory",
        threshold = 3,
        timeout_secs = 1,
        call_timeout_ms = 200,
        is_failure = is_failure,
        fallback = Self::cached_stock
    )]
    async fn stock(&self, sku: &str) -> Result<u32, InventoryError> {
        let n = self.remote_stock(sku).await?;
        self.last_known.lock().unwrap().insert(sku.to_string(), n);
        Ok(n)
    }

    #[circuit_breaker(name = "inventory", threshold = 3, timeout_secs = 1)]
    async fn reserve(&self, sku: &str, n: u32) -> Result<u32, InventoryError> {
        let have = self.remote_stock(sku).await?;
        if have < n {
            return Err(InventoryError::NotFound(format!("{n} x {sku}")));
        }
        Ok(have - n)
    }
}

#[tokio::main]
async fn main() {
    let client = InventoryClient {
        healthy: AtomicBool::new(true),
        last_known: Mutex::new(HashMap::new()),
    };
    let show = |what: &str, r: Result<u32, InventoryError>| match r {
        Ok(n) => println!("{what:<28} -> {n}"),
        Err(e) => println!("{what:<28} -> error: {e}"),
    };
    let state = || registry().get("inventory").map(|b| b.state().to_string());

    show("stock(apple)", client.stock("apple").await);
    show("stock(kiwi)  [404, ignored]", client.stock("kiwi").await);
    show("stock(kiwi)  [404, ignored]", client.stock("kiwi").await);
    println!("breaker: {:?}", state());

    println!("--- the inventory service goes down");
    client.healthy.store(false, Ordering::SeqCst);
    for _ in 0..3 {
        show("stock(pear)", client.stock("pear").await);
    }
    println!("breaker: {:?}", state());
    show("stock(apple) [fallback]", client.stock("apple").await);
    show("reserve(apple, 2)", client.reserve("apple", 2).await);

    println!("--- the service recovers; wait out the open period");
    client.healthy.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    show("stock(pear)  [trial]", client.stock("pear").await);
    println!("breaker: {:?}", state());
    show("reserve(apple, 2)", client.reserve("apple", 2).await);

    let s = registry().get("inventory").unwrap().snapshot();
    println!(
        "inventory breaker: {} ok, {} failed, {} ignored, {} rejected",
        s.successful_calls, s.failed_calls, s.ignored_calls, s.rejected_calls
    );
}
