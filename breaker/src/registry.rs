//! The process-wide registry of named breakers.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use plexspaces_proto::circuitbreaker::prv::{CircuitBreakerConfig, CircuitBreakerSnapshot};

use crate::breaker::CircuitBreaker;
use crate::config::{validate, ConfigError};
use crate::events::{Hub, Subscription};

/// Named breakers, shared by name.
///
/// Code asks for a breaker with [`get_or_create`](Registry::get_or_create), passing its own
/// default config; an operator's [`configure`](Registry::configure) (from a file, a flag, an
/// admin call) beats that default, whether it comes before the breaker is created or after
/// (then the breaker is changed in place, keeping its state).
///
/// ```
/// use plexspaces_circuit_breaker::{registry, CircuitBreakerConfig};
///
/// // At start-up, from the operator's config file:
/// registry()
///     .configure(CircuitBreakerConfig {
///         name: "search".into(),
///         failure_threshold: 10,
///         ..Default::default()
///     })
///     .unwrap();
///
/// // Later, in code that only knows its own default:
/// let breaker = registry().get_or_create(CircuitBreakerConfig {
///     name: "search".into(),
///     failure_threshold: 3,
///     ..Default::default()
/// });
/// assert_eq!(breaker.config().failure_threshold, 10);
/// assert!(breaker.ptr_eq(&registry().get("search").unwrap()));
/// ```
#[derive(Default)]
pub struct Registry {
    entries: RwLock<HashMap<String, Entry>>,
    /// Where every breaker made here also publishes its events.
    hub: Arc<Hub>,
}

#[derive(Default)]
struct Entry {
    breaker: Option<CircuitBreaker>,
    /// An operator's config for this name; beats the config code passes.
    configured: Option<CircuitBreakerConfig>,
}

/// The process-wide registry, created on first use.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);
    &REGISTRY
}

impl Registry {
    /// An empty registry, for code that keeps its own (tests, dependency injection).
    pub fn new() -> Self {
        Registry::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The breaker named `config.name`, created on first use. The config used is the one set
    /// by [`configure`](Self::configure) for that name if any, else `config`. A breaker that
    /// exists already is returned as it is.
    ///
    /// # Panics
    /// If the breaker must be created and `config` is invalid. See
    /// [`try_get_or_create`](Self::try_get_or_create).
    #[track_caller]
    pub fn get_or_create(&self, config: CircuitBreakerConfig) -> CircuitBreaker {
        match self.try_get_or_create(config) {
            Ok(breaker) => breaker,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`get_or_create`](Self::get_or_create) that returns a [`ConfigError`] instead of
    /// panicking.
    ///
    /// # Errors
    /// When the breaker must be created and `config` is invalid.
    pub fn try_get_or_create(
        &self,
        config: CircuitBreakerConfig,
    ) -> Result<CircuitBreaker, ConfigError> {
        if let Some(breaker) = self.get(&config.name) {
            return Ok(breaker);
        }
        let mut entries = self.write();
        let entry = entries.entry(config.name.clone()).or_default();
        if let Some(breaker) = &entry.breaker {
            return Ok(breaker.clone());
        }
        let config = entry.configured.clone().unwrap_or(config);
        let breaker = CircuitBreaker::with_hub(config, Some(Arc::clone(&self.hub)))?;
        entry.breaker = Some(breaker.clone());
        Ok(breaker)
    }

    /// The breaker named `name`, if one was created.
    pub fn get(&self, name: &str) -> Option<CircuitBreaker> {
        self.read().get(name).and_then(|e| e.breaker.clone())
    }

    /// Sets the config the breaker `config.name` uses: it beats the config code passes to
    /// [`get_or_create`](Self::get_or_create) later, and a breaker that exists already is
    /// changed in place ([`CircuitBreaker::reconfigure`]).
    ///
    /// # Errors
    /// An invalid config is rejected, and whatever config was in force stays.
    pub fn configure(&self, config: CircuitBreakerConfig) -> Result<(), ConfigError> {
        let mut entries = self.write();
        match entries.get(&config.name).and_then(|e| e.breaker.as_ref()) {
            // Validated there, and applied in place.
            Some(breaker) => breaker.reconfigure(config.clone())?,
            None => drop(validate(&config)?),
        }
        let entry = entries.entry(config.name.clone()).or_default();
        entry.configured = Some(config);
        Ok(())
    }

    /// Forgets the breaker and any operator config named `name`, returning the breaker.
    /// Clones held elsewhere keep working; the next `get_or_create` makes a new breaker.
    pub fn remove(&self, name: &str) -> Option<CircuitBreaker> {
        self.write().remove(name).and_then(|e| e.breaker)
    }

    /// Subscribes to the state changes of every breaker this registry makes (now or later),
    /// in order per breaker; as [`CircuitBreaker::subscribe`].
    pub fn subscribe(&self) -> Subscription {
        self.hub.subscribe()
    }

    /// Subscribes to every event of every breaker this registry makes: state changes,
    /// rejections and call outcomes; as [`CircuitBreaker::subscribe_all`].
    pub fn subscribe_all(&self) -> Subscription {
        self.hub.subscribe_all()
    }

    /// The names of every breaker created, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .read()
            .iter()
            .filter(|(_, e)| e.breaker.is_some())
            .map(|(name, _)| name.clone())
            .collect();
        names.sort_unstable();
        names
    }

    /// A snapshot of every breaker, sorted by name.
    pub fn snapshots(&self) -> Vec<CircuitBreakerSnapshot> {
        let breakers: Vec<CircuitBreaker> = self
            .read()
            .values()
            .filter_map(|e| e.breaker.clone())
            .collect();
        let mut snapshots: Vec<_> = breakers.iter().map(CircuitBreaker::snapshot).collect();
        snapshots.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        snapshots
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("names", &self.names())
            .finish()
    }
}
