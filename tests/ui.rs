//! Compile-time behaviour of `#[circuit_breaker]`: every bad attribute gives a spanned
//! error (committed `.stderr` files; refresh with `TRYBUILD=overwrite cargo test --test ui`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
