//! Generic methods, where clauses and a re-used breaker name compile in a fresh crate.
#![deny(warnings)]

use plexspaces_circuit_breaker::{circuit_breaker, CircuitBreakerError};

struct Repo<T> {
    items: Vec<T>,
}

impl<T: Clone + Send + Sync> Repo<T> {
    #[circuit_breaker(name = "ui-pass-repo", threshold = 3)]
    async fn first<'a, K>(&'a self, key: K) -> Result<Option<T>, CircuitBreakerError>
    where
        K: Into<usize> + Send,
    {
        Ok(self.items.get(key.into()).cloned())
    }

    #[circuit_breaker(name = "ui-pass-repo", threshold = 3)]
    fn len(&self) -> Result<usize, CircuitBreakerError> {
        Ok(self.items.len())
    }
}

fn main() {
    let repo = Repo { items: vec![1u8] };
    assert_eq!(repo.len(), Ok(1));
    drop(repo.first(0u8));
}
