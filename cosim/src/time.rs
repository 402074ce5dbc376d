//! Simulated time, in picoseconds as SystemC's default resolution allows.

use std::fmt;
use std::ops::{Add, Sub};

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
}
