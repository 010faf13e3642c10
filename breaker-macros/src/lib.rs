//! The `#[circuit_breaker]` attribute of
//! [`plexspaces-circuit-breaker`](https://docs.rs/plexspaces-circuit-breaker).
//!
//! Use it through the runtime crate, which re-exports it and documents every argument:
//! `plexspaces_circuit_breaker::circuit_breaker`. This crate turns syntax into calls of the
//! runtime and holds no behaviour of its own.
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

mod attr;
mod expand;

/// Runs every call of the annotated function through a named circuit breaker.
///
/// See `plexspaces_circuit_breaker::circuit_breaker` for the arguments and examples.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::circuit_breaker(args.into(), item.into()).into()
}
