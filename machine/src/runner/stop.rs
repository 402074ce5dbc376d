//! Why a run stops, and the signal through which devices and other threads
//! stop it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use polyhart_iss::debug::WatchHit;
use polyhart_iss::{Cause, HartControl};

/// Why a machine stopped running.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The guest asked to exit with this status (test finisher or HTIF).
    Exit(i32),
    /// The guest asked for a reset (test finisher `0x7777`); polyhart stops
    /// instead of rebooting.
    Reset,
    /// The instruction limit given to [`crate::Machine::run`] was reached.
    InstructionLimit,
    /// A hart's trap handler faults identically each time without retiring
    /// an instruction, so it would trap forever (see
    /// [`polyhart_iss::Exit::TrapLoop`]).
    TrapLoop {
        /// The hart.
        hart: usize,
        /// Where the repeating exception is raised.
        pc: u64,
        /// The repeating exception.
        cause: Cause,
        /// The trap that sent the hart into the loop, and where it was raised.
        origin: Option<(Cause, u64)>,
    },
    /// Lockstep ([`polyhart_iss::JitConfig::lockstep`]) found the JIT's code
    /// for a block and the interpreter disagreeing;
    /// [`polyhart_iss::Hart::jit_divergence`] of the hart says how.
    JitDivergence {
        /// The hart.
        hart: usize,
        /// Where the block was entered.
        pc: u64,
    },
    /// Every hart waits in `wfi` and nothing can ever interrupt any of them:
    /// no timer is armed, no enabled interrupt is pending, and the console's
    /// input is closed.
    Deadlock,
    /// [`StopSignal::request`] was called from outside the guest.
    Stopped,
    /// Every hart reached the time [`crate::Machine::run_until`] was asked to run
    /// to.
    Horizon,
    /// Hart `hart` asked to synchronise with whoever drives the machine
    /// ([`StopSignal::request_sync`]), for example because an outside
    /// simulator served it an access that must be seen at the right time.
    /// The other harts stopped at their next block boundary. Unlike the other
    /// reasons this one is consumed: the next run goes on.
    Sync {
        /// The hart that asked.
        hart: usize,
    },
    /// Whoever drives the machine asked the harts to pause
    /// ([`StopSignal::request_pause`]), to act on the machine at a time the
    /// run was about to pass. Consumed like [`StopReason::Sync`].
    Paused,
    /// Hart `hart` reached a breakpoint ([`crate::Machine::set_breakpoints`])
    /// at `pc`, whose instruction has not run; the other harts stopped at
    /// their next block boundary. Consumed like [`StopReason::Sync`].
    Breakpoint {
        /// The hart.
        hart: usize,
        /// The breakpoint.
        pc: u64,
    },
    /// An access of hart `hart`'s instruction at `pc` reached a watchpoint
    /// ([`crate::Machine::set_watchpoints`]); the instruction has not run,
    /// the other harts stopped at their next block boundary. Consumed like
    /// [`StopReason::Sync`].
    Watchpoint {
        /// The hart.
        hart: usize,
        /// The instruction.
        pc: u64,
        /// What its access reached.
        hit: WatchHit,
    },
}

impl StopReason {
    /// Whether the reason ends only the run in progress ([`StopReason::Sync`],
    /// [`StopReason::Paused`], [`StopReason::Breakpoint`],
    /// [`StopReason::Watchpoint`]); the others stop
    /// the machine for good.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            StopReason::Sync { .. }
                | StopReason::Paused
                | StopReason::Breakpoint { .. }
                | StopReason::Watchpoint { .. }
        )
    }
}

/// The shared flag through which devices or other threads stop a machine.
/// The first request wins.
#[derive(Debug)]
pub struct StopSignal {
    requested: AtomicBool,
    reason: Mutex<Option<StopReason>>,
    harts: Vec<Arc<HartControl>>,
}

impl StopSignal {
    /// A signal that stops the harts reached through `harts`.
    pub fn new(harts: Vec<Arc<HartControl>>) -> StopSignal {
        StopSignal { requested: AtomicBool::new(false), reason: Mutex::new(None), harts }
    }

    /// Stops the machine for `reason`, unless it is already stopping.
    pub fn request(&self, reason: StopReason) {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        // A pause gives way to a synchronisation, and both to any reason
        // that stops the machine for good, so that, say, the guest's exit or
        // a hart's request to synchronise is not lost to them.
        let rank = |r: StopReason| match r {
            StopReason::Paused => 0,
            StopReason::Sync { .. } => 1,
            _ => 2,
        };
        if slot.is_none_or(|old| rank(reason) > rank(old)) {
            *slot = Some(reason);
            self.requested.store(true, Ordering::Release);
            for hart in &self.harts {
                hart.request_exit();
            }
        }
    }

    /// Asks the machine to stop for hart `hart` to synchronise with the
    /// driver ([`StopReason::Sync`]), unless it is already stopping. The run
    /// in progress returns; the request does not outlive it.
    pub fn request_sync(&self, hart: usize) {
        self.request(StopReason::Sync { hart });
    }

    /// Asks the harts to pause ([`StopReason::Paused`]) unless the machine
    /// is already stopping; the run in progress returns, the request does
    /// not outlive it.
    pub fn request_pause(&self) {
        self.request(StopReason::Paused);
    }

    /// Forgets a [`StopReason::Sync`] or [`StopReason::Paused`] once the run
    /// it ended has returned.
    pub(crate) fn clear_sync(&self) {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some_and(StopReason::is_transient) {
            *slot = None;
            self.requested.store(false, Ordering::Release);
        }
    }

    /// Forgets any stop request, once the machine was reset to run again
    /// (see [`crate::Machine::reboot`]).
    pub(crate) fn clear(&self) {
        *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.requested.store(false, Ordering::Release);
    }

    /// The reason, once a stop was requested.
    pub fn reason(&self) -> Option<StopReason> {
        if !self.requested.load(Ordering::Acquire) {
            return None;
        }
        *self.reason.lock().unwrap_or_else(|e| e.into_inner())
    }
}
