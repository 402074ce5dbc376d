//! The fast-forward marker: an instruction a guest executes to say "the
//! interesting part starts here".

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use polyhart_iss::plugin::{BlockInfo, HartView, Observer, Plan, Plugin};

use crate::runner::StopSignal;

/// The marker's encoding: `slti zero, zero, 1`. It is one of the HINTs the
/// RISC-V base ISA leaves to custom use (an `slti` that writes `x0`): it
/// has no effect on any core, QEMU included, so a guest built with it runs
/// anywhere. In C: `__asm__ volatile("slti zero, zero, 1");`.
pub const MARKER: u32 = 0x0010_2013;

/// Pauses the machine ([`crate::runner::StopReason::Paused`]) right after a
/// hart executes the [`MARKER`]: `--fast-forward marker` runs the guest
/// with this plugin alone, then installs the real ones. Only blocks holding
/// the marker run in the interpreter (it calls back there).
#[derive(Debug)]
pub struct Marker {
    stop: Arc<StopSignal>,
    seen: Arc<AtomicBool>,
}

impl Marker {
    /// Pauses the machine `stop` belongs to.
    pub fn new(stop: Arc<StopSignal>) -> Marker {
        Marker { stop, seen: Arc::new(AtomicBool::new(false)) }
    }

    /// Whether a hart executed the marker.
    pub fn seen(&self) -> bool {
        self.seen.load(Ordering::Acquire)
    }
}

/// A hart's side: pauses the machine at the marker.
struct MarkerWatch {
    stop: Arc<StopSignal>,
    seen: Arc<AtomicBool>,
}

impl Observer for MarkerWatch {
    fn instruction(&mut self, _hart: &HartView<'_>, _tag: u64) {
        self.seen.store(true, Ordering::Release);
        self.stop.request_pause();
    }
}

impl Plugin for Marker {
    fn name(&self) -> &str {
        "marker"
    }

    fn translate(&self, block: &BlockInfo<'_>, plan: &mut Plan<'_>) {
        for inst in block.instructions() {
            if inst.raw() == MARKER {
                plan.on_instruction(inst.index(), 0);
            }
        }
    }

    fn observer(&self, _hart: u64) -> Box<dyn Observer> {
        Box::new(MarkerWatch { stop: self.stop.clone(), seen: self.seen.clone() })
    }
}
