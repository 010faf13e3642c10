//! `#[circuit_breaker]` on every function shape the attribute supports. Each test trips the
//! breaker, checks that it fails fast without running the body, and recovers on paused time.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use plexspaces_circuit_breaker::{circuit_breaker, registry, CircuitBreakerError, State};

// ---- the scaffolding every shape is exercised with ---------------------------------------

#[derive(Debug, thiserror::Error)]
enum PaymentError {
    #[error("payment service unavailable: {0}")]
    Breaker(#[from] CircuitBreakerError),
    #[error("declined")]
    Declined,
}

/// A downstream service that fails while `down` is set and counts the calls reaching it.
#[derive(Default)]
struct Client {
    down: AtomicBool,
    calls: AtomicU32,
}

impl Client {
    async fn charge(&self, amount: u64) -> Result<u64, PaymentError> {
        self.calls.fetch_add(1, SeqCst);
        tokio::task::yield_now().await;
        if self.down.load(SeqCst) {
            Err(PaymentError::Declined)
        } else {
            Ok(amount)
        }
    }

    fn charge_sync(&self, amount: u64) -> Result<u64, PaymentError> {
        self.calls.fetch_add(1, SeqCst);
        if self.down.load(SeqCst) {
            Err(PaymentError::Declined)
        } else {
            Ok(amount)
        }
    }
}

#[derive(Debug, PartialEq)]
enum Seen {
    Ok,
    ServiceError,
    Rejected,
}

fn seen<T>(r: Result<T, PaymentError>) -> Seen {
    match r {
        Ok(_) => Seen::Ok,
        Err(PaymentError::Breaker(CircuitBreakerError::CircuitOpen)) => Seen::Rejected,
        Err(PaymentError::Breaker(e)) => panic!("unexpected breaker error {e}"),
        Err(PaymentError::Declined) => Seen::ServiceError,
    }
}

/// Trips the breaker `name` (threshold 2, open 5 s) through `call`, checks fail-fast, then
/// recovery. `call` runs the annotated function once against `client`.
async fn trip_fail_fast_recover<F, Fut>(name: &str, client: &Client, call: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Seen>,
{
    client.down.store(true, SeqCst);
    assert_eq!(call().await, Seen::ServiceError);
    assert_eq!(call().await, Seen::ServiceError);
    let breaker = registry()
        .get(name)
        .expect("the attribute registers its breaker");
    assert_eq!(
        breaker.state(),
        State::Open,
        "{name}: trips at the threshold"
    );

    client.down.store(false, SeqCst);
    let before = client.calls.load(SeqCst);
    assert_eq!(
        call().await,
        Seen::Rejected,
        "{name}: fails fast while open"
    );
    assert_eq!(
        client.calls.load(SeqCst),
        before,
        "{name}: the body must not run while open"
    );

    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(call().await, Seen::Ok, "{name}: the trial goes through");
    assert_eq!(breaker.state(), State::Closed, "{name}: recovers");
}

// ---- free functions and visibility -------------------------------------------------------

#[circuit_breaker(name = "shape-free", threshold = 2, timeout_secs = 5)]
async fn free(client: &Client, amount: u64) -> Result<u64, PaymentError> {
    client.charge(amount).await
}

#[tokio::test(start_paused = true)]
async fn free_function() {
    let client = Client::default();
    trip_fail_fast_recover("shape-free", &client, || async {
        seen(free(&client, 5).await)
    })
    .await;
}

mod visibility {
    use super::*;

    /// Doc comments and other attributes are kept.
    #[circuit_breaker(name = "shape-pub", threshold = 2, timeout_secs = 5)]
    #[inline]
    pub async fn public(client: &Client) -> Result<u64, PaymentError> {
        client.charge(1).await
    }

    #[circuit_breaker(name = "shape-pub-crate", threshold = 2, timeout_secs = 5)]
    pub(crate) async fn crate_visible(client: &Client) -> Result<u64, PaymentError> {
        client.charge(2).await
    }
}

#[tokio::test(start_paused = true)]
async fn pub_and_pub_crate_functions() {
    let client = Client::default();
    trip_fail_fast_recover("shape-pub", &client, || async {
        seen(visibility::public(&client).await)
    })
    .await;
    let client = Client::default();
    trip_fail_fast_recover("shape-pub-crate", &client, || async {
        seen(visibility::crate_visible(&client).await)
    })
    .await;
}

// ---- methods -----------------------------------------------------------------------------

struct Gateway<'c> {
    client: &'c Client,
    charged: u64,
}

impl Gateway<'_> {
    #[circuit_breaker(name = "shape-ref-self", threshold = 2, timeout_secs = 5)]
    async fn by_ref(&self, amount: u64) -> Result<u64, PaymentError> {
        self.client.charge(amount).await
    }

    #[circuit_breaker(name = "shape-mut-self", threshold = 2, timeout_secs = 5)]
    async fn by_mut(&mut self, amount: u64) -> Result<u64, PaymentError> {
        let charged = self.client.charge(amount).await?;
        self.charged += charged;
        Ok(self.charged)
    }

    #[circuit_breaker(name = "shape-owned-self", threshold = 2, timeout_secs = 5)]
    async fn by_value(self, amount: u64) -> Result<u64, PaymentError> {
        self.client.charge(amount).await?;
        Ok(self.charged + amount)
    }
}

#[tokio::test(start_paused = true)]
async fn methods_taking_ref_mut_and_owned_self() {
    let client = Client::default();
    let gw = Gateway {
        client: &client,
        charged: 0,
    };
    trip_fail_fast_recover("shape-ref-self", &client, || async {
        seen(gw.by_ref(3).await)
    })
    .await;

    let client = Client::default();
    let gw = tokio::sync::Mutex::new(Gateway {
        client: &client,
        charged: 0,
    });
    trip_fail_fast_recover("shape-mut-self", &client, || async {
        seen(gw.lock().await.by_mut(4).await)
    })
    .await;
    assert_eq!(
        gw.lock().await.charged,
        4,
        "only the one success was charged"
    );

    let client = Client::default();
    trip_fail_fast_recover("shape-owned-self", &client, || async {
        let gw = Gateway {
            client: &client,
            charged: 1,
        };
        seen(gw.by_value(5).await)
    })
    .await;
}

// ---- generics, lifetimes, where clauses, impl Trait ----------------------------------------

trait Amount {
    fn cents(&self) -> u64;
}

impl Amount for u64 {
    fn cents(&self) -> u64 {
        *self
    }
}

#[circuit_breaker(name = "shape-generic", threshold = 2, timeout_secs = 5)]
async fn generic<'a, A>(
    client: &'a Client,
    amount: A,
    memo: &'a str,
) -> Result<&'a str, PaymentError>
where
    A: Amount + Send,
{
    client.charge(amount.cents()).await?;
    Ok(memo)
}

#[circuit_breaker(name = "shape-impl-trait", threshold = 2, timeout_secs = 5)]
async fn impl_trait_arg(client: &Client, amount: impl Amount) -> Result<u64, PaymentError> {
    client.charge(amount.cents()).await
}

struct Ledger<T> {
    client: Client,
    entries: Vec<T>,
}

impl<T: Clone + Send + Sync> Ledger<T> {
    #[circuit_breaker(name = "shape-generic-type", threshold = 2, timeout_secs = 5)]
    async fn record(&self, entry: &T) -> Result<usize, PaymentError> {
        self.client.charge(1).await?;
        let mut all = self.entries.clone();
        all.push(entry.clone());
        Ok(all.len())
    }
}

#[tokio::test(start_paused = true)]
async fn generic_functions_lifetimes_where_clauses_and_impl_trait() {
    let client = Client::default();
    trip_fail_fast_recover("shape-generic", &client, || async {
        seen(generic(&client, 9u64, "memo").await)
    })
    .await;
    assert_eq!(generic(&client, 1u64, "kept").await.unwrap(), "kept");

    let client = Client::default();
    trip_fail_fast_recover("shape-impl-trait", &client, || async {
        seen(impl_trait_arg(&client, 7u64).await)
    })
    .await;

    let ledger = Ledger {
        client: Client::default(),
        entries: vec!["a".to_string()],
    };
    trip_fail_fast_recover("shape-generic-type", &ledger.client, || async {
        seen(ledger.record(&"b".to_string()).await)
    })
    .await;
}

// ---- `?` and early return ------------------------------------------------------------------

#[circuit_breaker(name = "shape-early-return", threshold = 2, timeout_secs = 5)]
async fn early_return(client: &Client, amount: u64) -> Result<u64, PaymentError> {
    if amount == 0 {
        return Ok(0);
    }
    let charged = client.charge(amount).await?;
    if charged > 1_000 {
        return Err(PaymentError::Declined);
    }
    Ok(charged)
}

#[tokio::test(start_paused = true)]
async fn question_mark_and_early_return() {
    let client = Client::default();
    assert_eq!(early_return(&client, 0).await.unwrap(), 0);
    assert!(matches!(
        early_return(&client, 5_000).await,
        Err(PaymentError::Declined)
    ));
    assert!(early_return(&client, 10).await.is_ok());
    trip_fail_fast_recover("shape-early-return", &client, || async {
        seen(early_return(&client, 10).await)
    })
    .await;
}

// ---- #[async_trait] --------------------------------------------------------------------------

#[async_trait::async_trait]
trait Payments {
    async fn pay(&self, amount: u64) -> Result<u64, PaymentError>;
}

struct AsyncTraitGateway {
    client: Client,
}

#[async_trait::async_trait]
impl Payments for AsyncTraitGateway {
    #[circuit_breaker(name = "shape-async-trait", threshold = 2, timeout_secs = 5)]
    async fn pay(&self, amount: u64) -> Result<u64, PaymentError> {
        self.client.charge(amount).await
    }
}

#[tokio::test(start_paused = true)]
async fn inside_an_async_trait_impl() {
    let gw = AsyncTraitGateway {
        client: Client::default(),
    };
    let dynamic: &dyn Payments = &gw;
    trip_fail_fast_recover("shape-async-trait", &gw.client, || async {
        seen(dynamic.pay(8).await)
    })
    .await;
}

// ---- stacked with #[tracing::instrument], either order ------------------------------------

#[circuit_breaker(name = "shape-instrument-inner", threshold = 2, timeout_secs = 5)]
#[tracing::instrument(skip(client))]
async fn breaker_then_instrument(client: &Client, amount: u64) -> Result<u64, PaymentError> {
    client.charge(amount).await
}

#[tracing::instrument(skip(client))]
#[circuit_breaker(name = "shape-instrument-outer", threshold = 2, timeout_secs = 5)]
async fn instrument_then_breaker(client: &Client, amount: u64) -> Result<u64, PaymentError> {
    client.charge(amount).await
}

#[tokio::test(start_paused = true)]
async fn stacked_with_tracing_instrument_in_either_order() {
    let client = Client::default();
    trip_fail_fast_recover("shape-instrument-inner", &client, || async {
        seen(breaker_then_instrument(&client, 1).await)
    })
    .await;
    let client = Client::default();
    trip_fail_fast_recover("shape-instrument-outer", &client, || async {
        seen(instrument_then_breaker(&client, 1).await)
    })
    .await;
}

// ---- synchronous functions ------------------------------------------------------------------

#[circuit_breaker(name = "shape-sync", threshold = 2, timeout_secs = 5)]
fn sync_charge(client: &Client, amount: u64) -> Result<u64, PaymentError> {
    let charged = client.charge_sync(amount)?;
    Ok(charged)
}

#[tokio::test(start_paused = true)]
async fn non_async_function_returning_result() {
    let client = Client::default();
    trip_fail_fast_recover("shape-sync", &client, || async {
        seen(sync_charge(&client, 2))
    })
    .await;
}

// ---- two functions naming one breaker --------------------------------------------------------

#[circuit_breaker(name = "shape-shared", threshold = 2, timeout_secs = 5)]
async fn shared_charge(client: &Client) -> Result<u64, PaymentError> {
    client.charge(1).await
}

#[circuit_breaker(name = "shape-shared", threshold = 2, timeout_secs = 5)]
async fn shared_refund(client: &Client) -> Result<u64, PaymentError> {
    client.charge(2).await
}

#[tokio::test(start_paused = true)]
async fn two_functions_naming_one_breaker_share_its_state() {
    let client = Client::default();
    client.down.store(true, SeqCst);
    assert_eq!(seen(shared_charge(&client).await), Seen::ServiceError);
    assert_eq!(seen(shared_refund(&client).await), Seen::ServiceError);
    assert_eq!(registry().get("shape-shared").unwrap().state(), State::Open);
    client.down.store(false, SeqCst);
    assert_eq!(seen(shared_charge(&client).await), Seen::Rejected);
    assert_eq!(seen(shared_refund(&client).await), Seen::Rejected);
    assert_eq!(client.calls.load(SeqCst), 2);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(seen(shared_refund(&client).await), Seen::Ok);
    assert_eq!(seen(shared_charge(&client).await), Seen::Ok);
}
