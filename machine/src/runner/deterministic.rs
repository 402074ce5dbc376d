//! The deterministic runner: every hart on the calling thread.
//!
//! It interleaves the harts quantum by quantum, in hart order, so a run is
//! deterministic: hart *n* runs until its local time reaches the end of the
//! round, then hart *n + 1*. When every hart waits in `wfi` and none has an
//! interrupt pending, time skips forward to the earliest timer deadline.
//!
//! When every hart waits and no timer is armed, only something outside the
//! harts can wake one: an interrupt already raised by a hart that ran later
//! in the round, or console input from the host. While the board's input is
//! open ([`Board::input_open`]), the runner then sleeps on the host, a
//! millisecond at a time, until an enabled interrupt is pending, the machine
//! is stopped or input closes; simulated time stands still meanwhile. Only
//! with input closed and nothing pending is the machine deadlocked.

use std::sync::atomic::{AtomicBool, AtomicU64};

use polyhart_iss::Hart;

use super::wake::{WaitState, Wake};
use super::{QuantumEnd, QuantumRunner, StopReason, wait_for_wakeup};
use crate::Machine;
use crate::boards::Board;

/// Runs `machine`'s harts in turn on this thread until the machine stops,
/// the harts together retire up to `limit` instructions, or every hart's
/// local time reaches `horizon`.
pub(crate) fn run<B: Board>(machine: &mut Machine<B>, limit: Option<u64>, horizon: u64) -> StopReason {
    let mut now = machine.time();
    let retired = AtomicU64::new(machine.instructions());
    let ending = AtomicBool::new(false);
    // A machine with deterministic scheduling has no pacer (a wait cut
    // short by the host would make runs differ); a parallel one with one
    // hart runs here too.
    let Machine { harts, board, stop, quantum, pacer, round, .. } = machine;
    let runner =
        QuantumRunner { board: &*board, stop, retired: &retired, limit, ending: &ending, pacer: pacer.as_ref() };
    // A round the last run stopped in (a breakpoint, a pause, the
    // instruction limit) goes on as if nothing had happened: same end, no
    // second start (input is delivered at a round's start).
    let mut unfinished = round.take();
    loop {
        if now >= horizon {
            return StopReason::Horizon;
        }
        let round_end = match unfinished.take() {
            Some(end) if end > now => end.min(horizon),
            _ => {
                board.deliver_input(now);
                now.saturating_add(*quantum).min(horizon)
            }
        };
        for (index, hart) in harts.iter_mut().enumerate() {
            match runner.run(hart, index, round_end) {
                QuantumEnd::Reached => {}
                // Deterministic rounds idle a sleeping hart through the
                // round, as the parallel runner does in effect.
                QuantumEnd::Asleep => hart.idle(round_end.saturating_sub(hart.state().cycle())),
                QuantumEnd::Stop(reason) => {
                    *round = Some(round_end);
                    return reason;
                }
                QuantumEnd::Ended => unreachable!("only the parallel runner ends a run from another thread"),
            }
        }
        now = round_end;
        if harts.iter().all(|h| h.state().waiting) {
            board.flush_console();
            let board = &*board;
            let wake = |(index, hart): (usize, &Hart)| {
                WaitState::of(hart).wake(board, index, hart.control(), hart.state().cycle())
            };
            match harts.iter().enumerate().map(wake).fold(Wake::Never, Wake::earliest) {
                // A hart raised an interrupt for one that ran before it in
                // the round: that one wakes in the next round.
                Wake::Now => {}
                Wake::At(cycle) if cycle > now => {
                    let until = cycle.min(horizon);
                    for hart in harts.iter_mut() {
                        let lag = until.saturating_sub(hart.state().cycle());
                        hart.idle(lag);
                    }
                    now = until;
                }
                Wake::At(_) => {}
                // Something outside may still wake them before the horizon.
                Wake::Never if horizon != u64::MAX => return StopReason::Horizon,
                Wake::Never => {
                    let harts = &*harts;
                    // Recorded or replayed input arrives while time stands still.
                    let any_woken = || {
                        board.deliver_input(now);
                        harts.iter().enumerate().map(wake).any(|w| w != Wake::Never)
                    };
                    if let Some(reason) = wait_for_wakeup(board, stop, any_woken) {
                        return reason;
                    }
                }
            }
        }
    }
}
