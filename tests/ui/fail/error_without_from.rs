use plexspaces_circuit_breaker::circuit_breaker;

#[derive(Debug)]
enum PaymentError {
    Declined,
}

#[circuit_breaker(name = "ui")]
async fn charge() -> Result<u64, PaymentError> {
    Err(PaymentError::Declined)
}

fn main() {}
