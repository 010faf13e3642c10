//! A future whose drop code is kept out of line.
//!
//! `execute_with` awaits `tokio::time::timeout` only when a call timeout is configured, but
//! the timer's drop code (deregistering it from tokio's wheel) is part of the drop code of
//! every `execute_with` future, which then grows too large for the compiler to inline where
//! the completed future is dropped: every call paid for an out-of-line call to it, about
//! 1 ns (`cargo bench -p plexspaces-circuit-breaker-bench`, `async_1_thread`: `execute`
//! 5.9 -> 4.8 ns, the attribute 7.0 -> 6.0 ns). Wrapping the timed future here leaves a
//! single call in that drop code, made only when the timed state is the one being dropped.
//!
//! This is the crate's only `unsafe` code: a [`ManuallyDrop`] that is dropped exactly once,
//! and the pin projection to the future inside it.

#![allow(unsafe_code)]

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

/// `F`, with its drop code behind one call that is never inlined.
pub(crate) struct OutlinedDrop<F>(ManuallyDrop<F>);

impl<F> OutlinedDrop<F> {
    #[inline]
    pub(crate) fn new(inner: F) -> Self {
        OutlinedDrop(ManuallyDrop::new(inner))
    }
}

impl<F> Drop for OutlinedDrop<F> {
    #[inline(never)]
    fn drop(&mut self) {
        // SAFETY: `self.0` is dropped here and only here: this is `OutlinedDrop`'s own drop,
        // which runs once, and nothing can use `self.0` after it. Dropping in place does not
        // move the value, so a pinned `F` is dropped where it was pinned, as `Pin` requires.
        unsafe { ManuallyDrop::drop(&mut self.0) }
    }
}

impl<F: Future> Future for OutlinedDrop<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: structural pinning of the one field. `OutlinedDrop` never moves `F` out of
        // `self.0` (there is no method that takes or replaces it), its `Drop` drops `F` in
        // place, and it is `Unpin` only when `F` is (the auto trait, through `ManuallyDrop`).
        unsafe { self.map_unchecked_mut(|this| &mut *this.0) }.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;

    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    #[test]
    fn the_inner_value_is_dropped_exactly_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let held = Counted(Arc::clone(&drops));
        let fut = OutlinedDrop::new(async move {
            let _held = &held;
            std::future::pending::<()>().await;
        });
        let mut fut = Box::pin(fut);
        let waker = std::task::Waker::noop();
        assert!(fut
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
        assert_eq!(drops.load(Relaxed), 0);
        drop(fut);
        assert_eq!(drops.load(Relaxed), 1);
    }

    #[test]
    fn it_polls_the_inner_future_to_completion() {
        let mut fut = std::pin::pin!(OutlinedDrop::new(async { 7 }));
        let waker = std::task::Waker::noop();
        assert_eq!(
            fut.as_mut().poll(&mut Context::from_waker(waker)),
            Poll::Ready(7)
        );
    }
}
