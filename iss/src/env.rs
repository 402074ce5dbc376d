//! What a hart executes against, shared with the machine and the other
//! harts: RAM, the bus, the translation cache and the hart's control block.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cache::TranslationCache;
use crate::control::HartControl;
use crate::debug::{Breakpoints, Watchpoints};
use crate::memory::{Bus, Ram};

/// What a hart executes against: shared with the machine and the other harts.
pub(crate) struct Env {
    pub(crate) ram: Arc<Ram>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) cache: Arc<TranslationCache>,
    pub(crate) control: Arc<HartControl>,
    /// Loads and stores that compiled code left to the interpreter (see
    /// [`crate::JitStats::slow_accesses`]). Only the hart's own thread writes it.
    pub(crate) slow_accesses: AtomicU64,
    /// For compiled code, which reaches RAM itself (copied into
    /// [`crate::cpu::Cpu::frame`] for each run): addresses of RAM's first byte and
    /// first line's marks, RAM's guest base and the span of offsets it
    /// reaches directly. Plain numbers, kept valid by `ram` above.
    pub(crate) direct: Direct,
    /// Where the hart stops before running the instruction (see
    /// [`crate::debug`]); blocks end before each.
    pub(crate) breakpoints: Breakpoints,
    /// Where the hart stops before an access (see [`crate::debug`]).
    pub(crate) watchpoints: Watchpoints,
}

/// See [`Env::direct`].
#[derive(Copy, Clone, Debug)]
pub(crate) struct Direct {
    pub(crate) ram_host: usize,
    pub(crate) ram_marks: usize,
    pub(crate) ram_base: u64,
    /// Compiled code accesses RAM directly at offsets (from `ram_base`)
    /// below this: RAM's size less 7, so that 8 bytes fit; 0 in lockstep,
    /// where every load and store takes the helper path, which logs it.
    pub(crate) span: u64,
}

impl Env {
    /// Counts a load or store that compiled code left to the interpreter.
    #[inline(always)]
    pub(crate) fn count_slow_access(&self) {
        // Only this hart's thread writes the counter: no atomic add needed.
        let count = self.slow_accesses.load(Ordering::Relaxed);
        self.slow_accesses.store(count + 1, Ordering::Relaxed);
    }
}

impl Direct {
    pub(crate) fn new(ram: &Ram) -> Direct {
        let (ram_host, ram_marks) = ram.raw_parts();
        let span = ram.size().saturating_sub(7);
        Direct { ram_host, ram_marks, ram_base: ram.base(), span }
    }
}
