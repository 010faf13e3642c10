use plexspaces_circuit_breaker::circuit_breaker;

fn cached(_: (u32, u32)) -> u32 {
    0
}

#[circuit_breaker(name = "ui", fallback = cached)]
fn sum((a, b): (u32, u32)) -> u32 {
    a + b
}

fn fallback_unit() {}

#[circuit_breaker(name = "ui-2", fallback = fallback_unit, is_failure = classify)]
fn notify() {}

fn main() {}
