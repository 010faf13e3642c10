//! The state of a circuit, and the single atomic word that holds it.

use std::fmt;

use plexspaces_proto::circuitbreaker::prv::CircuitState;

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls flow; failures are counted against the threshold.
    Closed,
    /// Calls are rejected at once until the open period elapses; the first call after it is
    /// admitted as a trial (the move to half-open is lazy: the first call makes it, no timer
    /// or task does).
    Open,
    /// A limited number of trial calls are in flight; their outcomes close or reopen the circuit.
    HalfOpen,
    /// Manually disabled: every call flows and nothing is recorded, until a reset.
    Disabled,
    /// Manually forced open: every call is rejected, until a reset.
    ForcedOpen,
}

impl State {
    /// The state's name as used in logs: `closed`, `open`, `half_open`, `disabled`,
    /// `forced_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::Disabled => "disabled",
            State::ForcedOpen => "forced_open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<State> for CircuitState {
    fn from(state: State) -> Self {
        match state {
            State::Closed => CircuitState::CircuitStateClosed,
            State::Open => CircuitState::CircuitStateOpen,
            State::HalfOpen => CircuitState::CircuitStateHalfOpen,
            State::Disabled => CircuitState::CircuitStateDisabled,
            State::ForcedOpen => CircuitState::CircuitStateForcedOpen,
        }
    }
}

/// Everything a transition decides on, packed into one `u64` so that every transition is a
/// single compare-and-swap:
///
/// ```text
/// bits  0..3   state tag
/// bits  3..32  generation (29 bits, wrapping): bumped at every state change; a permit
///              remembers it, so a result from an older generation changes nothing
/// bits 32..64  payload: closed (consecutive strategy) -> consecutive failures
///                       otherwise -> 0
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

const TAG_MASK: u64 = 0b111;
const GEN_SHIFT: u32 = 3;
pub(crate) const GEN_MASK: u32 = (1 << 29) - 1;

impl Word {
    #[inline]
    pub(crate) fn new(state: State, gen: u32, payload: u32) -> Word {
        let tag = match state {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::Disabled => 3,
            State::ForcedOpen => 4,
        };
        Word(tag | (u64::from(gen & GEN_MASK) << GEN_SHIFT) | (u64::from(payload) << 32))
    }

    #[inline]
    pub(crate) fn is_closed(self) -> bool {
        self.0 & TAG_MASK == 0
    }

    #[inline]
    pub(crate) fn state(self) -> State {
        match self.0 & TAG_MASK {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            3 => State::Disabled,
            _ => State::ForcedOpen,
        }
    }

    #[inline]
    pub(crate) fn gen(self) -> u32 {
        (self.0 >> GEN_SHIFT) as u32 & GEN_MASK
    }

    /// The generation that follows this word's.
    #[inline]
    pub(crate) fn next_gen(self) -> u32 {
        self.gen().wrapping_add(1) & GEN_MASK
    }

    #[inline]
    pub(crate) fn payload(self) -> u32 {
        (self.0 >> 32) as u32
    }

    #[inline]
    pub(crate) fn with_payload(self, payload: u32) -> Word {
        Word((self.0 & 0xFFFF_FFFF) | (u64::from(payload) << 32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_round_trips_every_field() {
        for state in [
            State::Closed,
            State::Open,
            State::HalfOpen,
            State::Disabled,
            State::ForcedOpen,
        ] {
            let w = Word::new(state, GEN_MASK, u32::MAX);
            assert_eq!(w.state(), state);
            assert_eq!(w.gen(), GEN_MASK);
            assert_eq!(w.payload(), u32::MAX);
            assert_eq!(w.is_closed(), state == State::Closed);
        }
        let w = Word::new(State::HalfOpen, 7, 9_999);
        assert_eq!((w.payload(), w.gen()), (9_999, 7));
        assert_eq!(w.with_payload(3).payload(), 3);
        assert_eq!(w.with_payload(3).gen(), 7);
        assert_eq!(Word::new(State::Open, GEN_MASK, 0).next_gen(), 0);
    }
}
