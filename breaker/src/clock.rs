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

/// Whether the clock this thread reads is std's clock, which the timer thread also reads;
/// `false` for tokio's paused clock (tokio's `test-util`: `#[tokio::test(start_paused =
/// true)]`, `tokio::time::pause`), where time moves only when a test moves it, and for a
/// clock that was paused, advanced and resumed, which runs ahead of std's.
///
/// A paused clock does not move while synchronous code runs, and running, tokio's clock *is*
/// std's clock plus what was advanced while paused. So: read both, wait for std's to move,
/// read tokio's again; std's time must lie between the two tokio readings. A clock that does
/// not move within the spin also answers `false`, which only costs speed: the breaker then
/// reads the clock on every call.
pub(crate) fn is_std() -> bool {
    let tokio_before = Instant::now().into_std();
    let std_before = std::time::Instant::now();
    let mut std_after = std_before;
    let mut spins = 0u32;
    while std_after == std_before && spins <= 10_000 {
        spins += 1;
        std::hint::spin_loop();
        std_after = std::time::Instant::now();
    }
    let tokio_after = Instant::now().into_std();
    tokio_before <= std_before && std_before < std_after && std_after <= tokio_after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_clock_is_std_time() {
        assert!(is_std());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        assert!(rt.block_on(async { is_std() }));
    }

    #[test]
    fn a_paused_or_advanced_clock_is_not() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        assert!(!rt.block_on(async { is_std() }));
        {
            let _guard = rt.enter();
            assert!(!is_std(), "entered, not running");
        }
        rt.block_on(async {
            tokio::time::advance(Duration::from_secs(5)).await;
            assert!(!is_std());
            // Resumed, it runs again, 5 s ahead of std's clock.
            tokio::time::resume();
            assert!(!is_std());
        });
    }
}
