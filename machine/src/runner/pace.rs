//! Idle time at the host's pace ([`IdleTime::RealTime`]): a hart waiting
//! for its timer lets simulated time pass no faster than host time, as on
//! QEMU, so that a guest's sleeps and timeouts last as long as a person or
//! a peer across a network expects. Busy, simulated time passes at the
//! engine's speed (slower than the host's); the debt is forgiven beyond
//! [`MOST_LAG`], so that after a busy stretch timers do not fire in a burst
//! to catch up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use polyhart_iss::HartControl;

/// How a waiting hart's simulated time passes.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum IdleTime {
    /// At once: a hart waiting for its timer jumps to it. Fastest, and
    /// independent of the host, as the deterministic runner needs.
    #[default]
    Skip,
    /// At the host's pace: the hart's thread sleeps until host time
    /// catches up with the timer, or an interrupt wakes it.
    RealTime,
}

/// How far simulated time may lag host time, in host time, before the
/// difference is forgiven.
pub const MOST_LAG: Duration = Duration::from_millis(10);

/// The longest one sleep lasts before the hart looks again (a stop
/// request that raises no line is noticed within it).
const LONGEST_SLEEP: Duration = Duration::from_millis(10);

/// The relation between host time and simulated time that paced idling
/// keeps: simulated cycle `c` is due at host time `start + (c - origin +
/// shift) / frequency`. Shared by a machine's harts.
#[derive(Debug)]
pub(crate) struct Pacer {
    start: Instant,
    /// The cycle due at `start`.
    origin: u64,
    /// Cycles per second of simulated time.
    frequency: u64,
    /// Cycles of lag forgiven so far.
    shift: AtomicU64,
}

impl Pacer {
    /// A pacer for harts clocked at `frequency` Hz, simulated cycle 0 due
    /// now.
    pub(crate) fn new(frequency: u64) -> Pacer {
        Pacer::starting_at(frequency, 0)
    }

    /// A pacer for harts clocked at `frequency` Hz, simulated cycle
    /// `origin` due now (a machine restored from a snapshot goes on from
    /// its time).
    pub(crate) fn starting_at(frequency: u64, origin: u64) -> Pacer {
        Pacer { start: Instant::now(), origin, frequency: frequency.max(1), shift: AtomicU64::new(0) }
    }

    /// The simulated cycle due at host time `now`.
    fn due(&self, now: Instant) -> u64 {
        let nanos = now.duration_since(self.start).as_nanos();
        let cycles = nanos * u128::from(self.frequency) / 1_000_000_000;
        let cycles = u64::try_from(cycles).unwrap_or(u64::MAX).saturating_add(self.origin);
        cycles.saturating_sub(self.shift.load(Ordering::Relaxed))
    }

    /// Host time from now until simulated cycle `cycle` is due, when `due`
    /// is due now.
    fn until(&self, cycle: u64, due: u64) -> Duration {
        let cycles = cycle.saturating_sub(due);
        Duration::from_nanos(
            u64::try_from(u128::from(cycles) * 1_000_000_000 / u128::from(self.frequency)).unwrap_or(u64::MAX),
        )
    }

    /// A hart of `control` at cycle `from` waits for cycle `to`: sleeps
    /// until host time catches up with `to` or a line of the hart changes
    /// or an exit is asked of it, and returns the cycle it reached (`to`,
    /// or the cycle due when it woke).
    pub(crate) fn idle(&self, control: &HartControl, from: u64, to: u64) -> u64 {
        let lag_cycles =
            u64::try_from(MOST_LAG.as_nanos() * u128::from(self.frequency) / 1_000_000_000).unwrap_or(u64::MAX);
        let due = self.due(Instant::now());
        if due > from.saturating_add(lag_cycles) {
            // Behind by more than the lag allowed: forgive the rest.
            self.shift.fetch_add(due - from - lag_cycles, Ordering::Relaxed);
        }
        if self.due(Instant::now()) >= to {
            return to;
        }
        let lines = control.lines();
        let previous = control.replace_waker(Some(std::thread::current()));
        let reached = loop {
            let due = self.due(Instant::now());
            if due >= to {
                break to;
            }
            if control.lines() != lines || control.exit_requested() {
                break due.clamp(from, to);
            }
            std::thread::park_timeout(self.until(to, due).min(LONGEST_SLEEP));
        };
        control.replace_waker(previous);
        reached
    }
}

#[cfg(test)]
mod tests {
    use polyhart_iss::Interrupt;

    use super::*;

    #[test]
    fn idling_takes_host_time_and_an_interrupt_cuts_it_short() {
        // 1 MHz: a cycle is a microsecond.
        let pacer = Pacer::new(1_000_000);
        let control = std::sync::Arc::new(HartControl::new());
        let started = Instant::now();
        let reached = pacer.idle(&control, 0, 30_000);
        assert_eq!(reached, 30_000);
        assert!(started.elapsed() >= Duration::from_millis(30), "{:?}", started.elapsed());

        // A line rising 20 ms into a 1 s wait wakes the hart about then.
        let raiser = control.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            raiser.set_interrupt(Interrupt::SupervisorExternal, true);
        });
        let from = pacer.due(Instant::now());
        let started = Instant::now();
        let reached = pacer.idle(&control, from, from + 1_000_000);
        thread.join().expect("the raiser");
        let slept = started.elapsed();
        assert!(slept >= Duration::from_millis(20) && slept < Duration::from_millis(500), "{slept:?}");
        assert!(reached > from && reached < from + 1_000_000, "{reached} from {from}");
    }

    #[test]
    fn a_hart_far_behind_skips_ahead_and_is_forgiven() {
        let pacer = Pacer::new(1_000_000);
        std::thread::sleep(Duration::from_millis(50));
        // Behind by 50 ms: a wait of 1 ms that ends long before host time
        // returns at once.
        let started = Instant::now();
        assert_eq!(pacer.idle(&HartControl::new(), 0, 1_000), 1_000);
        assert!(started.elapsed() < Duration::from_millis(5));
        // The lag beyond MOST_LAG was forgiven: a wait to 20 ms past the
        // cycle it was at sleeps about 10 ms, not nothing.
        let started = Instant::now();
        assert_eq!(pacer.idle(&HartControl::new(), 1_000, 21_000), 21_000);
        let slept = started.elapsed();
        assert!(slept >= Duration::from_millis(5) && slept < Duration::from_millis(40), "{slept:?}");
    }
}
