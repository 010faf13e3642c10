//! The expansion compiles in a crate that shadows `Result`, `Ok`, `Some`, `core` and `std`,
//! and passes `clippy::all` and `clippy::pedantic` (CI runs clippy on this file with
//! `-D warnings`).
#![deny(clippy::all, clippy::pedantic, warnings)]
#![allow(dead_code, non_camel_case_types, clippy::unused_async)]

use plexspaces_circuit_breaker::{circuit_breaker, CircuitBreakerError};

/// Shadows the prelude's names the expansion could reach for.
mod core {}
mod std {}
struct Ok;
struct Err;
struct Some;
struct None;
struct Option;
struct String;
struct Box;

#[derive(Debug)]
enum MyError {
    Breaker(CircuitBreakerError),
    Io,
}

impl From<CircuitBreakerError> for MyError {
    fn from(e: CircuitBreakerError) -> Self {
        MyError::Breaker(e)
    }
}

type Result<T> = ::core::result::Result<T, MyError>;

#[circuit_breaker(name = "hygiene-async", threshold = 1, timeout_secs = 1)]
async fn fetch(fail: bool) -> Result<u32> {
    if fail {
        return ::core::result::Result::Err(MyError::Io);
    }
    ::core::result::Result::Ok(1)
}

#[circuit_breaker(name = "hygiene-sync", threshold = 1, call_timeout_ms = 10)]
fn fetch_sync(value: &str) -> Result<usize> {
    ::core::result::Result::Ok(value.len())
}

fn fallback_value(value: u32) -> u32 {
    value
}

#[circuit_breaker(name = "hygiene-fallback", fallback = fallback_value)]
fn doubled(value: u32) -> u32 {
    value * 2
}

#[tokio::test(start_paused = true)]
async fn expansion_ignores_shadowed_prelude_names() {
    assert_eq!(fetch(false).await.unwrap(), 1);
    assert!(matches!(
        fetch(true).await,
        ::core::result::Result::Err(MyError::Io)
    ));
    assert!(matches!(
        fetch(false).await,
        ::core::result::Result::Err(MyError::Breaker(CircuitBreakerError::CircuitOpen))
    ));
    assert_eq!(fetch_sync("four").unwrap(), 4);
    assert_eq!(doubled(4), 8);
}
