//! Helpers shared by the integration tests (each test file includes this as `mod common;`).
#![allow(dead_code)]

/// A current-thread tokio runtime whose clock starts paused: tests move time with
/// `tokio::time::advance`, never with real sleeps. Enter it (`rt.enter()`) before creating a
/// breaker that synchronous code will use, so that the breaker reads this paused clock.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}
