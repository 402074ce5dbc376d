//! Simulated time, in picoseconds as SystemC's default resolution allows,
//! and the global time the harts' local times are measured against.

use std::fmt;
use std::ops::{Add, Sub};
use std::sync::atomic::{AtomicU64, Ordering};

/// A point or span of simulated time in picoseconds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

impl SimTime {
    /// Zero.
    pub const ZERO: SimTime = SimTime(0);

    /// `ns` nanoseconds.
    pub const fn from_nanos(ns: u64) -> SimTime {
        SimTime(ns.saturating_mul(1_000))
    }

    /// `us` microseconds.
    pub const fn from_micros(us: u64) -> SimTime {
        SimTime(us.saturating_mul(1_000_000))
    }

    /// The time `cycles` cycles of a clock at `frequency_hz` take.
    pub fn from_cycles(cycles: u64, frequency_hz: u64) -> SimTime {
        let ps = u128::from(cycles) * 1_000_000_000_000 / u128::from(frequency_hz.max(1));
        SimTime(u64::try_from(ps).unwrap_or(u64::MAX))
    }

    /// How many whole cycles of a clock at `frequency_hz` fit in this time.
    pub fn to_cycles(self, frequency_hz: u64) -> u64 {
        let cycles = u128::from(self.0) * u128::from(frequency_hz) / 1_000_000_000_000;
        u64::try_from(cycles).unwrap_or(u64::MAX)
    }
}

impl Add for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimTime) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}

impl Sub for SimTime {
    type Output = SimTime;
    fn sub(self, rhs: SimTime) -> SimTime {
        SimTime(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ps if ps >= 1_000_000_000 => write!(f, "{:.3} ms", ps as f64 / 1e9),
            ps if ps >= 1_000_000 => write!(f, "{:.3} us", ps as f64 / 1e6),
            ps if ps >= 1_000 => write!(f, "{:.3} ns", ps as f64 / 1e3),
            ps => write!(f, "{ps} ps"),
        }
    }
}

/// The global time: the outside simulator's time, which every hart's local
/// time runs ahead of (what SystemC's `sc_time_stamp()` says while an
/// advance runs), with the harts' clock frequency that turns their cycles
/// into simulated time. Shared with the external regions so they can
/// annotate delays.
#[derive(Debug)]
pub(crate) struct GlobalTime {
    now: AtomicU64,
    frequency: u64,
}

impl GlobalTime {
    pub(crate) fn new(frequency: u64) -> GlobalTime {
        GlobalTime { now: AtomicU64::new(0), frequency: frequency.max(1) }
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
    fn cycles_round_trip_at_one_gigahertz() {
        let t = SimTime::from_cycles(1_500, 1_000_000_000);
        assert_eq!(t, SimTime(1_500_000));
        assert_eq!(t.to_cycles(1_000_000_000), 1_500);
        assert_eq!(t.to_string(), "1.500 us");
    }

    #[test]
    fn huge_values_saturate_instead_of_wrapping() {
        assert_eq!(SimTime::from_cycles(u64::MAX, 1), SimTime(u64::MAX));
        assert_eq!(SimTime(u64::MAX) + SimTime(1), SimTime(u64::MAX));
        assert_eq!(SimTime(1) - SimTime(2), SimTime::ZERO);
    }

    #[test]
    fn latency_rounds_up_to_whole_cycles() {
        let time = GlobalTime::new(300_000_000); // 3.333 ns per cycle
        assert_eq!(time.cycles_in(SimTime(0)), 0);
        assert_eq!(time.cycles_in(SimTime(1)), 1);
        assert_eq!(time.cycles_in(SimTime(10_000)), 3);
        assert_eq!(time.cycles_in(SimTime(10_001)), 4);
        assert_eq!(time.cycle_at(SimTime(10_001)), 3);
    }
}
