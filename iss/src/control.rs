//! How other threads and devices reach a running hart: interrupt lines,
//! exit requests, latency stalls and the wake-up of a parked hart.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::Thread;

use crate::trap::Interrupt;

/// What other threads and devices use to reach a running hart: interrupt
/// lines and the exit request. Both raise an attention flag, which the run
/// loop checks before every block it interprets and between slices of
/// compiled code, and unpark the hart's thread if it parked while asleep in
/// `wfi` (see [`HartControl::set_waker`]).
#[derive(Debug, Default)]
pub struct HartControl {
    lines: AtomicU64,
    exit: AtomicBool,
    attention: AtomicBool,
    /// Cycles of simulated time the hart must add to its local time, set
    /// by devices that model an access's latency (see [`HartControl::stall`]).
    stall: AtomicU64,
    /// The thread to unpark when the hart is wanted.
    waker: Mutex<Option<Thread>>,
}

impl HartControl {
    /// Lines all low, no request.
    pub fn new() -> HartControl {
        HartControl::default()
    }

    /// Drives interrupt line `irq` (its `mip` bit) high or low. Raising a line
    /// also asks the hart to leave its current block so it notices (compiled
    /// code, at the end of its run's slice).
    pub fn set_interrupt(&self, irq: Interrupt, level: bool) {
        if level {
            if self.lines.fetch_or(irq.mask(), Ordering::AcqRel) & irq.mask() == 0 {
                self.raise_attention();
                self.wake();
            }
        } else {
            self.lines.fetch_and(!irq.mask(), Ordering::AcqRel);
        }
    }

    /// The `mip` bits driven by devices.
    #[inline(always)]
    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::Acquire)
    }

    /// Sets every interrupt line at once to `lines` (`mip` bits), as a
    /// restored snapshot had them, and has the hart look.
    pub fn set_lines(&self, lines: u64) {
        self.lines.store(lines, Ordering::Release);
        self.raise_attention();
        self.wake();
    }

    /// Asks the hart to return from [`crate::Hart::run`] at its next block boundary
    /// (in compiled code, where its run's slice ends: within some ten
    /// thousand instructions).
    pub fn request_exit(&self) {
        self.exit.store(true, Ordering::Release);
        self.raise_attention();
        self.wake();
    }

    /// Raises the attention flag. The interpreter looks at it before every
    /// block; compiled code runs in slices (see [`crate::jit::SLICE`]) and
    /// the run loop looks at it between them.
    fn raise_attention(&self) {
        self.attention.store(true, Ordering::Release);
    }

    /// Adds `cycles` to the hart's local time once the current instruction
    /// completes, as the latency of an access a device has just served for
    /// it; the hart then returns from [`crate::Hart::run`] (as for an exit request)
    /// so whoever runs it can recompute how far it may still go. Meant to be
    /// called from within a device access on the hart's own thread, or while
    /// the hart is not running.
    pub fn stall(&self, cycles: u64) {
        if cycles != 0 {
            self.stall.fetch_add(cycles, Ordering::AcqRel);
            self.request_exit();
        }
    }

    /// Stall cycles added by [`HartControl::stall`] and not yet applied to
    /// the hart's local time: a device serving a later access of the same
    /// block adds them to the access's cycle to know the hart's time.
    pub fn pending_stall(&self) -> u64 {
        self.stall.load(Ordering::Acquire)
    }

    pub(crate) fn take_stall(&self) -> u64 {
        if self.stall.load(Ordering::Acquire) == 0 { 0 } else { self.stall.swap(0, Ordering::AcqRel) }
    }

    /// Names the thread that parks while the hart sleeps in `wfi`, to be
    /// unparked when a line rises or an exit is requested; `None` when no
    /// thread parks for it.
    pub fn set_waker(&self, thread: Option<Thread>) {
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = thread;
    }

    /// Names the thread to unpark as [`HartControl::set_waker`] does, and
    /// returns the one named before, to be named again afterwards.
    pub fn replace_waker(&self, thread: Option<Thread>) -> Option<Thread> {
        std::mem::replace(&mut *self.waker.lock().unwrap_or_else(|e| e.into_inner()), thread)
    }

    fn wake(&self) {
        if let Some(thread) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            thread.unpark();
        }
    }

    /// Whether the attention flag is set.
    #[inline(always)]
    pub(crate) fn attention_pending(&self) -> bool {
        self.attention.load(Ordering::Acquire)
    }

    /// Clears the attention flag; returns whether it was set.
    #[inline(always)]
    pub(crate) fn take_attention(&self) -> bool {
        // A plain load first keeps the common case free of a locked operation.
        self.attention.load(Ordering::Acquire) && self.attention.swap(false, Ordering::AcqRel)
    }

    /// Whether an exit was requested.
    #[inline(always)]
    pub fn exit_requested(&self) -> bool {
        self.exit.load(Ordering::Acquire)
    }

    /// Clears the request; returns whether there was one.
    pub fn take_exit_request(&self) -> bool {
        self.exit.swap(false, Ordering::AcqRel)
    }
}
