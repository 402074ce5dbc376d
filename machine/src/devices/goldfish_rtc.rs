//! The Goldfish real-time clock (`google,goldfish-rtc`), as on QEMU's virt
//! machine at `0x10_1000` (PLIC source 11): nanoseconds since the Unix
//! epoch, settable, with an alarm that raises the interrupt line.
//!
//! The clock counts host time by default ([`RtcClock::Host`]); under
//! [`RtcClock::Simulated`] it counts the machine's simulated time from a
//! fixed base, so that a deterministic run reads the same dates every time.
//!
//! Registers (32 bits each; other sizes fault, unknown offsets read 0 and
//! ignore writes, as on QEMU): `TIME_LOW` (reading it latches the high half
//! for `TIME_HIGH`), `TIME_HIGH`, `ALARM_LOW` (writing it arms the alarm),
//! `ALARM_HIGH`, `IRQ_ENABLED`, `CLEAR_ALARM`, `ALARM_STATUS` (armed and not
//! yet fired), `CLEAR_INTERRUPT`. An alarm that is due fires when it is
//! armed, or at the guest's next access to the clock: the device has no
//! timer of its own to fire it in between.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use polyhart_iss::memory::AccessContext;
use polyhart_iss::snapshot::{Reader, SnapshotError, Writer};

use crate::bus::{Device, DeviceError, TimeSource};
use crate::devices::InterruptLine;

const TIME_LOW: u64 = 0x00;
const TIME_HIGH: u64 = 0x04;
const ALARM_LOW: u64 = 0x08;
const ALARM_HIGH: u64 = 0x0c;
const IRQ_ENABLED: u64 = 0x10;
const CLEAR_ALARM: u64 = 0x14;
const ALARM_STATUS: u64 = 0x18;
const CLEAR_INTERRUPT: u64 = 0x1c;

/// What the clock counts.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RtcClock {
    /// The host's wall-clock time.
    Host,
    /// The machine's simulated time, from this many nanoseconds since the
    /// Unix epoch at simulated time zero.
    Simulated {
        /// The date at simulated time zero, in nanoseconds since the epoch.
        base_ns: u64,
    },
}

/// The RTC's registers.
#[derive(Debug, Default)]
struct State {
    /// Added to the clock's count: what the guest's writes of the time set.
    offset: u64,
    /// The high half latched by the last read of `TIME_LOW`.
    time_high: u32,
    alarm: u64,
    alarm_running: bool,
    irq_enabled: bool,
    irq_pending: bool,
}

/// The Goldfish RTC, its interrupt output on `L`.
pub struct GoldfishRtc<L: InterruptLine> {
    clock: RtcClock,
    /// `mtime` and its frequency: the simulated time under
    /// [`RtcClock::Simulated`].
    time_source: Arc<dyn TimeSource>,
    timebase_hz: u64,
    state: Mutex<State>,
    irq: L,
}

impl<L: InterruptLine> std::fmt::Debug for GoldfishRtc<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoldfishRtc").field("clock", &self.clock).finish()
    }
}

impl<L: InterruptLine> GoldfishRtc<L> {
    /// A clock counting `clock`, reading simulated time as `mtime` of
    /// `time_source` at `timebase_hz`, interrupting on `irq`.
    pub fn new(clock: RtcClock, time_source: Arc<dyn TimeSource>, timebase_hz: u64, irq: L) -> GoldfishRtc<L> {
        GoldfishRtc { clock, time_source, timebase_hz: timebase_hz.max(1), state: Mutex::new(State::default()), irq }
    }

    /// As a system reset leaves the clock: the alarm disarmed, interrupts
    /// disabled and none pending, the line low; the date runs on.
    pub fn reset(&self) {
        let mut state = self.state();
        (state.alarm, state.alarm_running, state.irq_enabled, state.irq_pending) = (0, false, false, false);
        self.irq.set(false);
    }

    /// Writes the registers (the clock itself is the host's or simulated
    /// time: a snapshot restored later under [`RtcClock::Host`] reads the
    /// date of the restore, as a guest resumed from suspend does).
    pub(crate) fn save(&self, out: &mut Writer) {
        let state = self.state();
        let State { offset, time_high, alarm, alarm_running, irq_enabled, irq_pending } = &*state;
        out.section("rtc", |out| {
            out.u64(*offset);
            out.u32(*time_high);
            out.u64(*alarm);
            [*alarm_running, *irq_enabled, *irq_pending].into_iter().for_each(|flag| out.bool(flag));
        });
    }

    /// Reads what [`GoldfishRtc::save`] wrote and drives the line.
    pub(crate) fn restore(&self, input: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let mut input = input.section("rtc")?;
        let restored = State {
            offset: input.u64()?,
            time_high: input.u32()?,
            alarm: input.u64()?,
            alarm_running: input.bool()?,
            irq_enabled: input.bool()?,
            irq_pending: input.bool()?,
        };
        input.finish()?;
        let mut state = self.state();
        *state = restored;
        self.irq.set(state.irq_pending && state.irq_enabled);
        Ok(())
    }

    /// The clock's own count, in nanoseconds since the epoch, as the hart
    /// making the access sees it.
    fn count(&self, ctx: &AccessContext) -> u64 {
        match self.clock {
            RtcClock::Host => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64),
            RtcClock::Simulated { base_ns } => {
                let ticks = u128::from(self.time_source.mtime(ctx));
                let ns = ticks * 1_000_000_000 / u128::from(self.timebase_hz);
                base_ns.wrapping_add(ns as u64)
            }
        }
    }

    /// Fires a running alarm that is due at `now`, and drives the line.
    fn update(&self, state: &mut State, now: u64) {
        if state.alarm_running && state.alarm <= now {
            state.alarm_running = false;
            state.irq_pending = true;
        }
        self.irq.set(state.irq_pending && state.irq_enabled);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `value` with bits `[shift, shift + 32)` replaced by `field`.
fn deposit(value: u64, shift: u32, field: u64) -> u64 {
    value & !(0xffff_ffff << shift) | (field & 0xffff_ffff) << shift
}

impl<L: InterruptLine> Device for GoldfishRtc<L> {
    fn read(&self, ctx: &AccessContext, offset: u64, size: u8) -> Result<u64, DeviceError> {
        if size != 4 {
            return Err(DeviceError::NoRegister { offset, size });
        }
        let mut state = self.state();
        let now = self.count(ctx).wrapping_add(state.offset);
        self.update(&mut state, now);
        Ok(match offset {
            TIME_LOW => {
                state.time_high = (now >> 32) as u32;
                now & 0xffff_ffff
            }
            TIME_HIGH => u64::from(state.time_high),
            ALARM_LOW => state.alarm & 0xffff_ffff,
            ALARM_HIGH => state.alarm >> 32,
            IRQ_ENABLED => u64::from(state.irq_enabled),
            ALARM_STATUS => u64::from(state.alarm_running),
            _ => 0,
        })
    }

    fn write(&self, ctx: &AccessContext, offset: u64, size: u8, value: u64) -> Result<(), DeviceError> {
        if size != 4 {
            return Err(DeviceError::NoRegister { offset, size });
        }
        let mut state = self.state();
        let count = self.count(ctx);
        let now = count.wrapping_add(state.offset);
        match offset {
            TIME_LOW => state.offset = deposit(now, 0, value).wrapping_sub(count),
            TIME_HIGH => state.offset = deposit(now, 32, value).wrapping_sub(count),
            ALARM_LOW => {
                state.alarm = deposit(state.alarm, 0, value);
                state.alarm_running = true;
            }
            ALARM_HIGH => state.alarm = deposit(state.alarm, 32, value),
            IRQ_ENABLED => state.irq_enabled = value & 1 != 0,
            CLEAR_ALARM => state.alarm_running = false,
            CLEAR_INTERRUPT => state.irq_pending = false,
            _ => {}
        }
        let now = count.wrapping_add(state.offset);
        self.update(&mut state, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use super::*;

    /// `mtime` a test sets.
    #[derive(Default)]
    struct Mtime(AtomicU64);

    impl TimeSource for Mtime {
        fn mtime(&self, _: &AccessContext) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    #[derive(Clone, Default)]
    struct Line(Arc<AtomicBool>);

    impl InterruptLine for Line {
        fn set(&self, level: bool) {
            self.0.store(level, Ordering::Relaxed);
        }
    }

    const CTX: AccessContext = AccessContext { hart_id: 0, cycle: 0 };
    /// QEMU's virt timebase: 10 MHz, 100 ns a tick.
    const TIMEBASE: u64 = 10_000_000;

    fn simulated(base_ns: u64) -> (GoldfishRtc<Line>, Arc<Mtime>, Line) {
        let mtime = Arc::new(Mtime::default());
        let line = Line::default();
        (GoldfishRtc::new(RtcClock::Simulated { base_ns }, mtime.clone(), TIMEBASE, line.clone()), mtime, line)
    }

    fn time(rtc: &GoldfishRtc<Line>) -> u64 {
        let low = rtc.read(&CTX, TIME_LOW, 4).unwrap();
        rtc.read(&CTX, TIME_HIGH, 4).unwrap() << 32 | low
    }

    #[test]
    fn simulated_time_counts_nanoseconds_from_its_base() {
        let base = 1_700_000_000 * 1_000_000_000;
        let (rtc, mtime, _) = simulated(base);
        assert_eq!(time(&rtc), base);
        mtime.0.store(10_000_000, Ordering::Relaxed); // one simulated second
        assert_eq!(time(&rtc), base + 1_000_000_000);
    }

    #[test]
    fn reading_the_low_half_latches_the_high_half() {
        let (rtc, mtime, _) = simulated(0xffff_ff00);
        let low = rtc.read(&CTX, TIME_LOW, 4).unwrap();
        // The low half wraps before the high half is read: the latched high
        // half still goes with the low half read.
        mtime.0.store(100, Ordering::Relaxed);
        assert_eq!((rtc.read(&CTX, TIME_HIGH, 4).unwrap(), low), (0, 0xffff_ff00));
        assert_eq!(time(&rtc), 0xffff_ff00 + 10_000);
    }

    #[test]
    fn writing_the_time_sets_the_clock_which_runs_on() {
        let (rtc, mtime, _) = simulated(0);
        let date: u64 = 0x1234_5678_9abc_def0;
        rtc.write(&CTX, TIME_HIGH, 4, date >> 32).unwrap();
        rtc.write(&CTX, TIME_LOW, 4, date & 0xffff_ffff).unwrap();
        assert_eq!(time(&rtc), date);
        mtime.0.store(5, Ordering::Relaxed);
        assert_eq!(time(&rtc), date + 500);
    }

    #[test]
    fn host_time_is_the_hosts_date() {
        let rtc = GoldfishRtc::new(RtcClock::Host, Arc::new(Mtime::default()), TIMEBASE, Line::default());
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        let read = time(&rtc);
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        assert!((before..=after).contains(&read), "{before} <= {read} <= {after}");
    }

    #[test]
    fn an_alarm_fires_when_due_and_interrupts_while_enabled() {
        let (rtc, mtime, line) = simulated(0);
        rtc.write(&CTX, IRQ_ENABLED, 4, 1).unwrap();
        rtc.write(&CTX, ALARM_HIGH, 4, 0).unwrap();
        rtc.write(&CTX, ALARM_LOW, 4, 1_000).unwrap();
        assert_eq!(rtc.read(&CTX, ALARM_STATUS, 4), Ok(1), "armed, not due");
        assert!(!line.0.load(Ordering::Relaxed));
        mtime.0.store(10, Ordering::Relaxed); // 1000 ns
        assert_eq!(rtc.read(&CTX, ALARM_STATUS, 4), Ok(0), "fired");
        assert!(line.0.load(Ordering::Relaxed));
        rtc.write(&CTX, CLEAR_INTERRUPT, 4, 1).unwrap();
        assert!(!line.0.load(Ordering::Relaxed));
    }

    #[test]
    fn a_past_alarm_fires_at_once_and_a_cleared_one_never() {
        let (rtc, mtime, line) = simulated(0);
        mtime.0.store(100, Ordering::Relaxed);
        rtc.write(&CTX, IRQ_ENABLED, 4, 1).unwrap();
        rtc.write(&CTX, ALARM_LOW, 4, 5).unwrap();
        assert!(line.0.load(Ordering::Relaxed), "due when armed");
        rtc.write(&CTX, CLEAR_INTERRUPT, 4, 1).unwrap();
        rtc.write(&CTX, ALARM_LOW, 4, 1_000_000).unwrap();
        rtc.write(&CTX, CLEAR_ALARM, 4, 1).unwrap();
        mtime.0.store(1_000_000, Ordering::Relaxed);
        assert_eq!(rtc.read(&CTX, ALARM_STATUS, 4), Ok(0));
        assert!(!line.0.load(Ordering::Relaxed));
    }

    #[test]
    fn a_pending_interrupt_waits_for_irq_enabled() {
        let (rtc, _, line) = simulated(100);
        rtc.write(&CTX, ALARM_LOW, 4, 0).unwrap();
        assert!(!line.0.load(Ordering::Relaxed));
        rtc.write(&CTX, IRQ_ENABLED, 4, 1).unwrap();
        assert!(line.0.load(Ordering::Relaxed));
        assert_eq!(rtc.read(&CTX, IRQ_ENABLED, 4), Ok(1));
    }

    #[test]
    fn only_32_bit_accesses() {
        let (rtc, _, _) = simulated(0);
        for size in [1, 2, 8] {
            assert_eq!(rtc.read(&CTX, TIME_LOW, size), Err(DeviceError::NoRegister { offset: TIME_LOW, size }));
            assert!(rtc.write(&CTX, TIME_LOW, size, 0).is_err());
        }
        assert_eq!(rtc.read(&CTX, 0x20, 4), Ok(0), "unknown registers read 0");
        assert_eq!(rtc.write(&CTX, 0x20, 4, 1), Ok(()), "and ignore writes");
    }
}
