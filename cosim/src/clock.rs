//! The outside's clock as the harts see it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::time::SimTime;

/// The outside simulator's time (what SystemC's `sc_time_stamp()` says
/// while an advance runs) and the harts' clock frequency, shared with the
/// external regions so they can annotate delays.
#[derive(Debug)]
pub(crate) struct Clock {
    now: AtomicU64,
    frequency: u64,
}

impl Clock {
    pub(crate) fn new(frequency: u64) -> Clock {
        Clock { now: AtomicU64::new(0), frequency: frequency.max(1) }
    }

    /// The outside's time.
    pub(crate) fn now(&self) -> SimTime {
        SimTime(self.now.load(Ordering::Acquire))
    }

    pub(crate) fn set_now(&self, time: SimTime) {
        self.now.store(time.0, Ordering::Release);
    }

    /// The time at a hart's local cycle `cycle`.
    pub(crate) fn at_cycle(&self, cycle: u64) -> SimTime {
        SimTime::from_cycles(cycle, self.frequency)
    }

    /// The last cycle that starts no later than `time`.
    pub(crate) fn cycle_at(&self, time: SimTime) -> u64 {
        time.to_cycles(self.frequency)
    }

    /// Whole cycles that cover `span` (rounded up: latency is never lost).
    pub(crate) fn cycles_in(&self, span: SimTime) -> u64 {
        let cycles = (u128::from(span.0) * u128::from(self.frequency)).div_ceil(1_000_000_000_000);
        u64::try_from(cycles).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_rounds_up_to_whole_cycles() {
        let clock = Clock::new(300_000_000); // 3.333 ns per cycle
        assert_eq!(clock.cycles_in(SimTime(0)), 0);
        assert_eq!(clock.cycles_in(SimTime(1)), 1);
        assert_eq!(clock.cycles_in(SimTime(10_000)), 3);
        assert_eq!(clock.cycles_in(SimTime(10_001)), 4);
        assert_eq!(clock.cycle_at(SimTime(10_001)), 3);
    }
}
