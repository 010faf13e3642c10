//! A crate that reaches the runtime under another name, and re-exports it the way a
//! framework would, so that the attribute's `crate = "..."` argument is tested both ways.
#![forbid(unsafe_code)]

/// The runtime, re-exported as a framework crate would.
pub mod framework {
    pub use cb as breaker;
}

/// An annotated function that reaches the runtime through the renamed dependency.
#[cb::circuit_breaker(name = "renamed-direct", threshold = 1, crate = "cb")]
pub async fn direct(fail: bool) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    if fail {
        Err("down".into())
    } else {
        Ok(1)
    }
}

/// An annotated function that reaches the runtime through a re-export.
#[framework::breaker::circuit_breaker(
    name = "renamed-reexport",
    threshold = 1,
    crate = "crate::framework::breaker"
)]
pub fn through_reexport(fail: bool) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    if fail {
        Err("down".into())
    } else {
        Ok(2)
    }
}
