//! Timer deadlines, and when a hart waiting in `wfi` wakes: the one rule
//! every runner applies, whether it runs the hart itself, closes a round for
//! harts on other threads or parks a free-running hart.
//!
//! A hart has two timers: its board timer's `mtimecmp` and, under Sstc, its
//! own `stimecmp`. The runners never let a hart run past either deadline,
//! and a waiting hart's time may jump to the earlier one.

use polyhart_iss::{Hart, HartControl};

use crate::boards::Board;

/// When a hart waiting in `wfi` wakes, as far as it and its timers can say.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// An interrupt it enables is pending: it wakes at once.
    Now,
    /// Its first timer fires at this local cycle; it wakes then unless
    /// something else wakes it first.
    At(u64),
    /// Nothing it has armed wakes it: only an interrupt raised by another
    /// hart, a device or the host can.
    Never,
}

impl Wake {
    /// The earlier of two wake-ups: folded over harts, when the first of
    /// them wakes.
    pub(crate) fn earliest(self, other: Wake) -> Wake {
        match (self, other) {
            (Wake::Now, _) | (_, Wake::Now) => Wake::Now,
            (Wake::At(a), Wake::At(b)) => Wake::At(a.min(b)),
            (Wake::At(cycle), Wake::Never) | (Wake::Never, Wake::At(cycle)) => Wake::At(cycle),
            (Wake::Never, Wake::Never) => Wake::Never,
        }
    }
}

/// When a hart waiting in `wfi` at local time `cycle` wakes: at once if an
/// interrupt pending in `mip` or on its `lines` is enabled in `mie` (`wfi`
/// wakes whatever the global enables say), else when its first timer fires,
/// `deadline` cycles on ([`timer_deadline`]), else never by itself.
pub(crate) fn wake_up(mip: u64, mie: u64, lines: u64, cycle: u64, deadline: Option<u64>) -> Wake {
    if (mip | lines) & mie != 0 {
        return Wake::Now;
    }
    match deadline {
        Some(cycles) => Wake::At(cycle.saturating_add(cycles)),
        None => Wake::Never,
    }
}

/// Raises or lowers hart `index`'s MTIP for local time `cycle` and returns
/// how many cycles may pass before one of its timers fires: the board
/// timer's `mtimecmp`, or `stimecmp` (the `time` at which Sstc raises STIP,
/// when it does) (`None`: none armed that has not fired yet).
pub(crate) fn timer_deadline(board: &impl Board, index: usize, cycle: u64, stimecmp: Option<u64>) -> Option<u64> {
    let machine = board.sync_timer(index, cycle);
    let supervisor = stimecmp.and_then(|due| board.cycles_until(cycle, due));
    match (machine, supervisor) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What decides when a waiting hart wakes, besides its lines and the board's
/// timer. Only the hart itself changes these, so its thread can leave a copy
/// for another thread to judge.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WaitState {
    pub(crate) mip: u64,
    pub(crate) mie: u64,
    /// `stimecmp` while Sstc drives STIP with it.
    pub(crate) stimecmp: Option<u64>,
}

impl WaitState {
    /// The state of `hart`.
    pub(crate) fn of(hart: &Hart) -> WaitState {
        WaitState {
            mip: hart.state().csr.mip,
            mie: hart.state().csr.mie,
            stimecmp: hart.state().supervisor_timer_compare(),
        }
    }

    /// When hart `index`, in this state and with interrupt lines `control`,
    /// wakes if it waits at local time `cycle`. Its machine timer is brought
    /// up to `cycle` first, so that one already due is on its lines.
    pub(crate) fn wake(&self, board: &impl Board, index: usize, control: &HartControl, cycle: u64) -> Wake {
        let deadline = timer_deadline(board, index, cycle, self.stimecmp);
        wake_up(self.mip, self.mie, control.lines(), cycle, deadline)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use polyhart_iss::Interrupt;
    use polyhart_iss::memory::AccessContext;

    use super::*;
    use crate::bus::Device;
    use crate::devices::{Aclint, aclint};

    const MTIP: u64 = Interrupt::MachineTimer.mask();
    const MSIP: u64 = Interrupt::MachineSoftware.mask();
    const STIP: u64 = Interrupt::SupervisorTimer.mask();

    #[test]
    fn an_enabled_pending_interrupt_wakes_at_once_whatever_the_timers_say() {
        assert_eq!(wake_up(MSIP, MSIP, 0, 7, None), Wake::Now);
        assert_eq!(wake_up(0, MSIP, MSIP, 7, Some(3)), Wake::Now, "on a line, not yet in mip");
        assert_eq!(wake_up(STIP, STIP | MTIP, 0, 7, Some(3)), Wake::Now);
    }

    #[test]
    fn a_pending_interrupt_that_is_not_enabled_does_not_wake() {
        assert_eq!(wake_up(MSIP, MTIP, MSIP, 7, None), Wake::Never);
        assert_eq!(wake_up(MSIP, 0, 0, 7, Some(3)), Wake::At(10), "the timer still counts");
    }

    #[test]
    fn with_nothing_pending_the_first_timer_decides() {
        assert_eq!(wake_up(0, MTIP, 0, 100, Some(50)), Wake::At(150));
        assert_eq!(wake_up(0, MTIP, 0, 100, None), Wake::Never);
        assert_eq!(wake_up(0, MTIP, 0, u64::MAX - 1, Some(50)), Wake::At(u64::MAX), "saturates");
    }

    #[test]
    fn the_earliest_of_several_harts() {
        use Wake::{At, Never, Now};
        assert_eq!(At(5).earliest(At(3)), At(3));
        assert_eq!(Never.earliest(At(3)), At(3));
        assert_eq!(At(3).earliest(Never), At(3));
        assert_eq!(At(3).earliest(Now), Now);
        assert_eq!(Now.earliest(Never), Now);
        assert_eq!(Never.earliest(Never), Never);
        assert_eq!([Never, At(9), At(4), Never].into_iter().fold(Never, Wake::earliest), At(4));
        assert_eq!([At(9), Now, At(4)].into_iter().fold(Never, Wake::earliest), Now);
    }

    /// A board that is only a CLINT, at ten cycles per `mtime` tick.
    #[derive(Debug)]
    struct TimerOnly(Aclint);

    impl Board for TimerOnly {
        fn reset_pc(&self) -> u64 {
            0
        }

        fn reset(&self, _: &polyhart_iss::Ram) {}
        fn sync_timer(&self, hart: usize, cycle: u64) -> Option<u64> {
            self.0.sync_timer(hart, cycle)
        }
        fn cycles_until(&self, cycle: u64, time: u64) -> Option<u64> {
            self.0.cycles_until(cycle, time)
        }
        fn save(&self, _: &mut polyhart_iss::snapshot::Writer) {}
        fn restore(
            &self,
            _: &mut polyhart_iss::snapshot::Reader<'_>,
        ) -> Result<(), polyhart_iss::snapshot::SnapshotError> {
            Ok(())
        }
        fn flush_console(&self) {}
        fn input_open(&self) -> bool {
            false
        }
    }

    fn timer_only() -> (TimerOnly, Arc<HartControl>) {
        let control = Arc::new(HartControl::new());
        (TimerOnly(Aclint::new(vec![control.clone()], 10)), control)
    }

    fn set_mtimecmp(board: &TimerOnly, ticks: u64) {
        let ctx = AccessContext { hart_id: 0, cycle: 0 };
        board.0.write(&ctx, aclint::MTIMECMP_BASE, 8, ticks).unwrap();
    }

    #[test]
    fn a_machine_timer_wakes_when_it_fires_if_enabled() {
        let (board, control) = timer_only();
        let waiting = WaitState { mie: MTIP, ..WaitState::default() };
        assert_eq!(waiting.wake(&board, 0, &control, 20), Wake::Never, "mtimecmp not armed yet");
        set_mtimecmp(&board, 5);
        assert_eq!(waiting.wake(&board, 0, &control, 20), Wake::At(50));
        assert_eq!(control.lines() & MTIP, 0);
        // At the deadline the timer raises MTIP first, which then wakes the hart.
        assert_eq!(waiting.wake(&board, 0, &control, 50), Wake::Now);
        assert_eq!(control.lines() & MTIP, MTIP);
        let masked = WaitState { mie: 0, ..waiting };
        assert_eq!(masked.wake(&board, 0, &control, 60), Wake::Never, "firing, but not enabled");
    }

    #[test]
    fn stimecmp_is_a_deadline_too() {
        let (board, control) = timer_only();
        let waiting = WaitState { mie: STIP, stimecmp: Some(8), ..WaitState::default() };
        assert_eq!(waiting.wake(&board, 0, &control, 20), Wake::At(80), "no mtimecmp armed");
        set_mtimecmp(&board, 5);
        assert_eq!(waiting.wake(&board, 0, &control, 20), Wake::At(50), "the earlier of the two");
        assert_eq!(timer_deadline(&board, 0, 55, Some(8)), Some(25), "mtimecmp fired: stimecmp is left");
        // Past stimecmp the hart's own STIP (in mip) is what wakes it.
        assert_eq!(timer_deadline(&board, 0, 80, Some(8)), None);
        assert_eq!(WaitState { mip: STIP, ..waiting }.wake(&board, 0, &control, 80), Wake::Now);
    }
}
