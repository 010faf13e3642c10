//! Time, read from tokio's clock so that tests run on paused time.
//!
//! A breaker keeps instants as whole milliseconds since its own creation, which fit in
//! atomics; wall-clock (Unix) times are derived only for snapshots.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// A breaker's time base.
#[derive(Debug)]
pub(crate) struct Clock {
    base: Instant,
    base_unix_ms: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let base_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, duration_ms);
        Clock {
            base: Instant::now(),
            base_unix_ms,
        }
    }

    /// Milliseconds since the breaker was created, on tokio's clock (paused in tests).
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        duration_ms(Instant::now().saturating_duration_since(self.base))
    }

    /// A breaker-relative instant on std's clock, for the timer thread. (Meaningful when tokio's
    /// clock is not paused, as it then is std's clock.)
    pub(crate) fn std_instant(&self, at_ms: u64) -> std::time::Instant {
        let base = self.base.into_std();
        base.checked_add(Duration::from_millis(at_ms))
            .unwrap_or(base)
    }

    /// A breaker-relative instant as milliseconds since the Unix epoch.
    pub(crate) fn unix_ms(&self, at_ms: u64) -> u64 {
        self.base_unix_ms.saturating_add(at_ms)
    }
}

/// A duration in whole milliseconds, saturating at `u64::MAX`.
#[inline]
pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whether the clock this thread reads may be tokio's paused clock (tokio's `test-util`:
/// `#[tokio::test(start_paused = true)]`, `tokio::time::pause`), so that time moves only
/// when a test moves it and no other thread can tell when a deadline is reached.
///
/// A paused clock does not move while synchronous code runs, and only a current-thread
/// runtime can pause it, so: wait for std's clock to move, and see whether tokio's moved too.
/// (Not paused, tokio's clock *is* std's clock.) A clock that does not move within the spin
/// counts as paused, which only costs speed: the breaker then reads the clock on every call.
pub(crate) fn paused() -> bool {
    let tokio_before = Instant::now();
    let std_before = std::time::Instant::now();
    let mut spins = 0u32;
    while std::time::Instant::now() == std_before {
        spins += 1;
        if spins > 10_000 {
            break;
        }
        std::hint::spin_loop();
    }
    Instant::now() == tokio_before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_clock_is_not_paused() {
        assert!(!paused());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        assert!(!rt.block_on(async { paused() }));
    }

    #[test]
    fn paused_clock_is_detected() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        assert!(rt.block_on(async {
            tokio::time::advance(Duration::from_secs(5)).await;
            paused()
        }));
        let _guard = rt.enter();
        assert!(paused(), "entered, not running");
    }
}
