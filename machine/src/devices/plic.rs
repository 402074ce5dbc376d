//! The platform-level interrupt controller (`sifive,plic-1.0.0`), laid out
//! as on QEMU's virt machine at 0x0c00_0000.
//!
//! Devices drive interrupt sources 1 to 95 through a [`PlicLine`] (source 0
//! does not exist). Each hart has two contexts, in QEMU virt's order: context
//! `2 * hart` is the hart's M-mode context and drives its machine external
//! interrupt (MEIP), context `2 * hart + 1` is its S-mode context and drives
//! its supervisor external interrupt (SEIP). A context's output is high while
//! a source enabled for it is pending with a priority above its threshold.
//!
//! Sources are level-triggered, with the specification's gateway: a line
//! going high makes its source pending, and the request stays pending, even
//! if the device lowers the line, until a context claims it. A claimed
//! source takes no new request until the claim is completed; if the device
//! still holds its line high then, the source is pending again.
//!
//! QEMU 7.2 latches a request whenever a device drives its line high, even
//! while the source is claimed, and a completion does not look at the line.
//! Both models agree for a device that lowers its line when serviced and
//! raises it again for each new event, as the UART does; they differ in
//! whether the pending bit of a claimed source can be seen set. QEMU also
//! accepts a completion from a context that does not enable the source, and
//! looks at new enable bits only at the next PLIC event; here such a
//! completion is ignored (the specification allows either) and enable writes
//! take effect at once.
//!
//! Registers are 32 bits wide and only 32-bit aligned accesses reach them.
//! Writes to the read-only pending words are ignored, as QEMU does;
//! offsets that hold no register are refused.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use polyhart_iss::memory::AccessContext;
use polyhart_iss::snapshot::{Reader, SnapshotError, Writer};
use polyhart_iss::{HartControl, Interrupt};

use crate::bus::{Device, DeviceError};
use crate::devices::InterruptLine;

/// Interrupt sources, counting the nonexistent source 0 (QEMU virt's
/// `VIRT_IRQCHIP_NUM_SOURCES`). The device tree's `riscv,ndev` is one less.
pub const SOURCES: u32 = 96;
/// The highest priority; priority registers and thresholds keep 3 bits.
pub const MAX_PRIORITY: u32 = 7;
/// Offset of the priority registers, 4 bytes per source.
pub const PRIORITY_BASE: u64 = 0x0;
/// Offset of the pending bits, one bit per source.
pub const PENDING_BASE: u64 = 0x1000;
/// Offset of the enable bits of context 0.
pub const ENABLE_BASE: u64 = 0x2000;
/// Distance between the enable bits of consecutive contexts.
pub const ENABLE_STRIDE: u64 = 0x80;
/// Offset of context 0's priority threshold; its claim/complete register
/// follows at +4.
pub const CONTEXT_BASE: u64 = 0x20_0000;
/// Distance between the threshold registers of consecutive contexts.
pub const CONTEXT_STRIDE: u64 = 0x1000;
/// Size of the whole window: room for the contexts of 512 harts.
pub const SIZE: u64 = 0x60_0000;

/// 32-bit words of pending and enable bits.
const WORDS: usize = SOURCES.div_ceil(32) as usize;
/// Contexts whose registers fit in the window.
const MAX_CONTEXTS: u64 = (SIZE - CONTEXT_BASE) / CONTEXT_STRIDE;
const THRESHOLD: u64 = 0;
const CLAIM_COMPLETE: u64 = 4;

/// A source number outside 1 to `SOURCES - 1`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the PLIC has no interrupt source {0}: its sources are 1 to 95")]
pub struct NoSuchSource(pub u32);

#[derive(Clone, Debug, Default)]
struct Context {
    enable: [u32; WORDS],
    threshold: u32,
    /// The level last driven onto the hart's line.
    output: bool,
}

#[derive(Debug)]
struct State {
    priority: [u32; SOURCES as usize],
    /// Input line levels, a bit per source.
    level: [u32; WORDS],
    /// Requests waiting to be claimed.
    pending: [u32; WORDS],
    /// Sources claimed and not yet completed.
    claimed: [u32; WORDS],
    contexts: Vec<Context>,
}

impl State {
    /// The source a claim by `context` would take: the highest-priority
    /// pending, enabled source with a priority above the threshold, the
    /// lowest ID among equals.
    fn best(&self, context: usize) -> Option<u32> {
        let ctx = &self.contexts[context];
        let mut best = None;
        let mut best_priority = ctx.threshold;
        for word in 0..WORDS {
            let mut bits = self.pending[word] & ctx.enable[word];
            while bits != 0 {
                let source = 32 * word as u32 + bits.trailing_zeros();
                bits &= bits - 1;
                let priority = self.priority[source as usize];
                if priority > best_priority {
                    best = Some(source);
                    best_priority = priority;
                }
            }
        }
        best
    }
}

/// Where source `source`'s bit lies in the pending, claimed and enable words.
fn word_and_bit(source: u32) -> (usize, u32) {
    (source as usize / 32, 1 << (source % 32))
}

/// Which register an offset names.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Register {
    Priority(usize),
    Pending(usize),
    Enable { context: usize, word: usize },
    Threshold(usize),
    ClaimComplete(usize),
}

/// The PLIC of one machine.
pub struct Plic {
    harts: Vec<Arc<HartControl>>,
    state: Mutex<State>,
    /// A bit per source whose line [`Plic::line`] has handed to a device.
    wired: [AtomicU32; WORDS],
}

impl fmt::Debug for Plic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plic").field("harts", &self.harts.len()).finish_non_exhaustive()
    }
}

impl Plic {
    /// A PLIC with an M-mode and an S-mode context for each of `harts`
    /// (indexed by hart ID), all sources disabled at priority 0. The window
    /// holds the registers of 512 harts' contexts; a further hart's contexts
    /// cannot be reached.
    pub fn new(harts: Vec<Arc<HartControl>>) -> Plic {
        let state = State {
            priority: [0; SOURCES as usize],
            level: [0; WORDS],
            pending: [0; WORDS],
            claimed: [0; WORDS],
            contexts: vec![Context::default(); 2 * harts.len()],
        };
        Plic { harts, state: Mutex::new(state), wired: Default::default() }
    }

    /// Back to the power-on state, as a system reset leaves it: priorities,
    /// enables, thresholds, pending and claimed sources all zero, and the
    /// harts' external interrupt lines low. Input levels are kept: the
    /// devices driving them are reset too and lower their own lines.
    pub fn reset(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let level = state.level;
        *state = State {
            priority: [0; SOURCES as usize],
            level,
            pending: [0; WORDS],
            claimed: [0; WORDS],
            contexts: vec![Context::default(); 2 * self.harts.len()],
        };
        for hart in &self.harts {
            hart.set_interrupt(Interrupt::MachineExternal, false);
            hart.set_interrupt(Interrupt::SupervisorExternal, false);
        }
    }

    /// Writes every source's priority, line level, pending and claimed bit,
    /// and each context's enables, threshold and output.
    pub(crate) fn save(&self, out: &mut Writer) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State { priority, level, pending, claimed, contexts } = &*state;
        out.section("plic", |out| {
            priority.iter().chain(level).chain(pending).chain(claimed).for_each(|&word| out.u32(word));
            out.u64(contexts.len() as u64);
            for Context { enable, threshold, output } in contexts {
                enable.iter().for_each(|&word| out.u32(word));
                out.u32(*threshold);
                out.bool(*output);
            }
        });
    }

    /// Reads what [`Plic::save`] wrote, for as many harts.
    pub(crate) fn restore(&self, input: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let mut input = input.section("plic")?;
        let mut restored = State {
            priority: [0; SOURCES as usize],
            level: [0; WORDS],
            pending: [0; WORDS],
            claimed: [0; WORDS],
            contexts: Vec::new(),
        };
        let State { priority, level, pending, claimed, contexts } = &mut restored;
        for word in priority.iter_mut().chain(level.iter_mut()).chain(pending.iter_mut()).chain(claimed.iter_mut()) {
            *word = input.u32()?;
        }
        let count = input.count(usize::MAX)?;
        if count != 2 * self.harts.len() {
            return Err(SnapshotError::Mismatch(format!(
                "a PLIC of {count} contexts was saved, this one has {}",
                2 * self.harts.len()
            )));
        }
        for _ in 0..count {
            let mut context = Context::default();
            for word in &mut context.enable {
                *word = input.u32()?;
            }
            context.threshold = input.u32()?;
            context.output = input.bool()?;
            contexts.push(context);
        }
        input.finish()?;
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = restored;
        Ok(())
    }

    /// The input of source `source`, for the device that drives it.
    pub fn line(self: &Arc<Self>, source: u32) -> Result<PlicLine, NoSuchSource> {
        if source == 0 || source >= SOURCES {
            return Err(NoSuchSource(source));
        }
        let (word, bit) = word_and_bit(source);
        self.wired[word].fetch_or(bit, Ordering::Relaxed);
        Ok(PlicLine { plic: self.clone(), source })
    }

    /// Whether a device drives source `source`: [`Plic::line`] handed its
    /// line out. Whoever drives sources from outside keeps off those, or
    /// the two levels would overwrite each other.
    pub fn has_device(&self, source: u32) -> bool {
        let (word, bit) = word_and_bit(source);
        source < SOURCES && self.wired[word].load(Ordering::Relaxed) & bit != 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drives source `source`'s input line (0 and sources beyond the last
    /// are ignored).
    pub fn set_level(&self, source: u32, level: bool) {
        if source == 0 || source >= SOURCES {
            return;
        }
        let (word, bit) = word_and_bit(source);
        let mut state = self.lock();
        if (state.level[word] & bit != 0) == level {
            return;
        }
        state.level[word] ^= bit;
        if level && state.claimed[word] & bit == 0 {
            state.pending[word] |= bit;
            self.update(&mut state);
        }
    }

    /// Drives each context's line to its new level where it changed.
    fn update(&self, state: &mut State) {
        for context in 0..state.contexts.len() {
            let output = state.best(context).is_some();
            if state.contexts[context].output != output {
                state.contexts[context].output = output;
                let irq = if context % 2 == 0 { Interrupt::MachineExternal } else { Interrupt::SupervisorExternal };
                self.harts[context / 2].set_interrupt(irq, output);
            }
        }
    }

    fn decode(&self, offset: u64, size: u8) -> Result<Register, DeviceError> {
        let refused = DeviceError::NoRegister { offset, size };
        if size != 4 || !offset.is_multiple_of(4) {
            return Err(refused);
        }
        let contexts = (self.harts.len() as u64 * 2).min(MAX_CONTEXTS);
        let register = match offset {
            o if (PRIORITY_BASE..PRIORITY_BASE + 4 * u64::from(SOURCES)).contains(&o) => {
                Register::Priority(((o - PRIORITY_BASE) / 4) as usize)
            }
            o if (PENDING_BASE..PENDING_BASE + 4 * WORDS as u64).contains(&o) => {
                Register::Pending(((o - PENDING_BASE) / 4) as usize)
            }
            o if (ENABLE_BASE..ENABLE_BASE + ENABLE_STRIDE * contexts).contains(&o) => {
                let (context, word) = ((o - ENABLE_BASE) / ENABLE_STRIDE, (o - ENABLE_BASE) % ENABLE_STRIDE / 4);
                if word >= WORDS as u64 {
                    return Err(refused);
                }
                Register::Enable { context: context as usize, word: word as usize }
            }
            o if (CONTEXT_BASE..CONTEXT_BASE + CONTEXT_STRIDE * contexts).contains(&o) => {
                let context = ((o - CONTEXT_BASE) / CONTEXT_STRIDE) as usize;
                match (o - CONTEXT_BASE) % CONTEXT_STRIDE {
                    THRESHOLD => Register::Threshold(context),
                    CLAIM_COMPLETE => Register::ClaimComplete(context),
                    _ => return Err(refused),
                }
            }
            _ => return Err(refused),
        };
        Ok(register)
    }
}

impl Device for Plic {
    fn read(&self, _ctx: &AccessContext, offset: u64, size: u8) -> Result<u64, DeviceError> {
        let register = self.decode(offset, size)?;
        let mut state = self.lock();
        let value = match register {
            Register::Priority(source) => state.priority[source],
            Register::Pending(word) => state.pending[word],
            Register::Enable { context, word } => state.contexts[context].enable[word],
            Register::Threshold(context) => state.contexts[context].threshold,
            Register::ClaimComplete(context) => match state.best(context) {
                Some(source) => {
                    let (word, bit) = word_and_bit(source);
                    state.pending[word] &= !bit;
                    state.claimed[word] |= bit;
                    self.update(&mut state);
                    source
                }
                None => 0,
            },
        };
        Ok(u64::from(value))
    }

    fn write(&self, _ctx: &AccessContext, offset: u64, size: u8, value: u64) -> Result<(), DeviceError> {
        let register = self.decode(offset, size)?;
        let value = value as u32;
        let mut state = self.lock();
        match register {
            // Source 0 does not exist and the pending bits are read-only:
            // such writes are ignored, as QEMU does.
            Register::Priority(0) | Register::Pending(_) => return Ok(()),
            // Priorities and thresholds are WARL: the bits beyond 3 are dropped.
            Register::Priority(source) => state.priority[source] = value & MAX_PRIORITY,
            Register::Enable { context, word } => {
                let exists = if word == 0 { !1 } else { !0 };
                state.contexts[context].enable[word] = value & exists;
            }
            Register::Threshold(context) => state.contexts[context].threshold = value & MAX_PRIORITY,
            Register::ClaimComplete(context) => {
                // Completing a source that is not claimed, or not enabled for
                // this context, is ignored, as the specification allows.
                let (word, bit) = word_and_bit(value);
                let enabled = word < WORDS && state.contexts[context].enable[word] & bit != 0;
                if !enabled || state.claimed[word] & bit == 0 {
                    return Ok(());
                }
                state.claimed[word] &= !bit;
                // The gateway forwards a line still held high as a new request.
                state.pending[word] |= state.level[word] & bit;
            }
        }
        self.update(&mut state);
        Ok(())
    }
}

/// One input of a [`Plic`], driven by a device.
#[derive(Clone)]
pub struct PlicLine {
    plic: Arc<Plic>,
    source: u32,
}

impl PlicLine {
    /// The source number this line drives.
    pub fn source(&self) -> u32 {
        self.source
    }
}

impl fmt::Debug for PlicLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlicLine").field("source", &self.source).finish()
    }
}

impl InterruptLine for PlicLine {
    fn set(&self, level: bool) {
        self.plic.set_level(self.source, level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: AccessContext = AccessContext { hart_id: 0, cycle: 0 };
    const MEIP: u64 = Interrupt::MachineExternal.mask();
    const SEIP: u64 = Interrupt::SupervisorExternal.mask();

    fn plic(harts: usize) -> (Arc<Plic>, Vec<Arc<HartControl>>) {
        let controls: Vec<_> = (0..harts).map(|_| Arc::new(HartControl::new())).collect();
        (Arc::new(Plic::new(controls.clone())), controls)
    }

    fn priority(source: u32) -> u64 {
        PRIORITY_BASE + 4 * u64::from(source)
    }

    fn pending(word: u64) -> u64 {
        PENDING_BASE + 4 * word
    }

    fn enable(context: u64, word: u64) -> u64 {
        ENABLE_BASE + ENABLE_STRIDE * context + 4 * word
    }

    fn threshold(context: u64) -> u64 {
        CONTEXT_BASE + CONTEXT_STRIDE * context
    }

    fn claim(context: u64) -> u64 {
        threshold(context) + 4
    }

    fn read(plic: &Plic, offset: u64) -> u32 {
        let value = plic.read(&CTX, offset, 4).expect("register exists");
        u32::try_from(value).expect("PLIC registers are 32 bits wide")
    }

    fn write(plic: &Plic, offset: u64, value: u32) {
        plic.write(&CTX, offset, 4, u64::from(value)).expect("register exists");
    }

    /// Enables `source` for `context`, keeping the other enables.
    fn enable_source(plic: &Plic, context: u64, source: u32) {
        let at = enable(context, u64::from(source / 32));
        write(plic, at, read(plic, at) | 1 << (source % 32));
    }

    fn is_pending(plic: &Plic, source: u32) -> bool {
        read(plic, pending(u64::from(source / 32))) & 1 << (source % 32) != 0
    }

    fn refused(offset: u64, size: u8) -> DeviceError {
        DeviceError::NoRegister { offset, size }
    }

    #[test]
    fn registers_start_at_zero_and_keep_what_is_written() {
        let (plic, harts) = plic(2);
        for offset in [priority(1), priority(95), pending(0), pending(2), enable(3, 2), threshold(3), claim(3)] {
            assert_eq!(read(&plic, offset), 0, "{offset:#x}");
        }
        write(&plic, priority(10), 5);
        write(&plic, priority(95), 7);
        assert_eq!((read(&plic, priority(10)), read(&plic, priority(95))), (5, 7));
        assert_eq!(read(&plic, priority(11)), 0, "each source has its own priority");
        write(&plic, threshold(3), 6);
        assert_eq!(read(&plic, threshold(3)), 6);
        assert_eq!(read(&plic, threshold(2)), 0, "each context has its own threshold");
        write(&plic, enable(1, 1), 0x8000_0001);
        write(&plic, enable(1, 2), 0xffff_ffff);
        assert_eq!((read(&plic, enable(1, 1)), read(&plic, enable(1, 2))), (0x8000_0001, 0xffff_ffff));
        assert_eq!(read(&plic, enable(0, 1)), 0, "each context has its own enables");
        assert!(harts.iter().all(|h| h.lines() == 0), "no line is high, so nothing is signalled");
    }

    #[test]
    fn priorities_and_thresholds_keep_three_bits() {
        let (plic, _) = plic(1);
        for (written, kept) in [(8, 0), (9, 1), (0xff, 7), (0xffff_fffa, 2)] {
            write(&plic, priority(3), written);
            assert_eq!(read(&plic, priority(3)), kept, "priority {written:#x}");
            write(&plic, threshold(1), written);
            assert_eq!(read(&plic, threshold(1)), kept, "threshold {written:#x}");
        }
    }

    #[test]
    fn source_zero_does_not_exist() {
        let (plic, _) = plic(1);
        write(&plic, priority(0), 7);
        assert_eq!(read(&plic, priority(0)), 0, "its priority is hardwired to 0");
        write(&plic, enable(0, 0), 0xffff_ffff);
        assert_eq!(read(&plic, enable(0, 0)), 0xffff_fffe, "its enable bit is hardwired to 0");
        assert_eq!(plic.line(0).unwrap_err(), NoSuchSource(0));
        assert_eq!(plic.line(SOURCES).unwrap_err(), NoSuchSource(96));
        assert_eq!(plic.line(u32::MAX).unwrap_err(), NoSuchSource(u32::MAX));
        assert!(!plic.has_device(95));
        assert_eq!(plic.line(95).unwrap().source(), 95);
        assert!(plic.has_device(95) && !plic.has_device(94) && !plic.has_device(0) && !plic.has_device(u32::MAX));
        assert_eq!(NoSuchSource(0).to_string(), "the PLIC has no interrupt source 0: its sources are 1 to 95");
    }

    #[test]
    fn a_rising_line_makes_its_source_pending_until_claimed() {
        let (plic, harts) = plic(1);
        let (uart, last) = (plic.line(10).unwrap(), plic.line(95).unwrap());
        uart.set(true);
        assert_eq!(read(&plic, pending(0)), 1 << 10, "pending even though no context enables it");
        last.set(true);
        assert_eq!(read(&plic, pending(2)), 1 << 31);
        uart.set(true);
        assert_eq!(read(&plic, pending(0)), 1 << 10, "raising a high line again changes nothing");
        uart.set(false);
        last.set(false);
        assert_eq!(read(&plic, pending(0)), 1 << 10, "lowering the line does not withdraw the request");
        assert!(is_pending(&plic, 95));
        assert_eq!(harts[0].lines(), 0, "nothing is enabled");
        // Writes to the pending bits are ignored.
        write(&plic, pending(0), 0);
        write(&plic, pending(2), 0);
        assert_eq!((read(&plic, pending(0)), read(&plic, pending(2))), (1 << 10, 1 << 31));
        write(&plic, pending(1), 0xffff_ffff);
        assert_eq!(read(&plic, pending(1)), 0);
        // Only a claim takes the request; with the line low, it ends there.
        write(&plic, priority(10), 1);
        enable_source(&plic, 0, 10);
        assert_eq!(harts[0].lines(), MEIP, "a request made before its source was enabled");
        assert_eq!(read(&plic, claim(0)), 10);
        write(&plic, claim(0), 10);
        assert!(!is_pending(&plic, 10));
        assert_eq!(harts[0].lines(), 0);
    }

    #[test]
    fn a_pulse_while_claimed_is_not_a_new_request() {
        let (plic, harts) = plic(1);
        let line = plic.line(10).unwrap();
        write(&plic, priority(10), 1);
        enable_source(&plic, 0, 10);
        line.set(true);
        assert_eq!(read(&plic, claim(0)), 10);
        line.set(false);
        line.set(true);
        line.set(false);
        assert!(!is_pending(&plic, 10), "the gateway holds requests back while one is in flight");
        write(&plic, claim(0), 10);
        assert!(!is_pending(&plic, 10), "and the line is low at the completion");
        assert_eq!(harts[0].lines(), 0);
    }

    #[test]
    fn the_m_context_drives_meip_and_the_s_context_seip_of_their_own_hart() {
        let (plic, harts) = plic(2);
        let line = plic.line(7).unwrap();
        write(&plic, priority(7), 1);
        line.set(true);
        for (context, hart, mask) in [(0, 0, MEIP), (1, 0, SEIP), (2, 1, MEIP), (3, 1, SEIP)] {
            enable_source(&plic, context, 7);
            assert_eq!(harts[hart].lines(), mask, "context {context}");
            assert_eq!(harts[1 - hart].lines(), 0, "context {context}: the other hart is untouched");
            write(&plic, enable(context, 0), 0);
            assert_eq!(harts[hart].lines(), 0, "context {context}: disabling lowers it");
        }
        // Enabled first, then the line rises.
        enable_source(&plic, 1, 7);
        enable_source(&plic, 2, 7);
        assert_eq!((harts[0].lines(), harts[1].lines()), (SEIP, MEIP), "still pending from before");
        assert_eq!(read(&plic, claim(1)), 7);
        line.set(false);
        write(&plic, claim(1), 7);
        assert!(harts.iter().all(|h| h.lines() == 0));
        line.set(true);
        assert_eq!((harts[0].lines(), harts[1].lines()), (SEIP, MEIP));
        assert_eq!(read(&plic, claim(2)), 7);
        assert!(harts.iter().all(|h| h.lines() == 0), "one claim serves every context");
    }

    #[test]
    fn claim_takes_the_highest_priority_and_the_lowest_id_among_equals() {
        let (plic, harts) = plic(1);
        for (source, prio) in [(3, 2), (5, 6), (40, 6), (70, 1), (90, 7)] {
            write(&plic, priority(source), prio);
            enable_source(&plic, 0, source);
            plic.line(source).unwrap().set(true);
        }
        assert_eq!(read(&plic, claim(0)), 90);
        assert_eq!(read(&plic, claim(0)), 5, "priority 6: the lower ID first");
        assert_eq!(read(&plic, claim(0)), 40);
        assert_eq!(harts[0].lines(), MEIP, "3 and 70 still wait");
        assert_eq!(read(&plic, claim(0)), 3);
        assert_eq!(read(&plic, claim(0)), 70);
        assert_eq!(harts[0].lines(), 0, "everything is claimed");
        assert_eq!(read(&plic, claim(0)), 0, "nothing left to claim");
        assert_eq!(read(&plic, pending(0)) | read(&plic, pending(1)) | read(&plic, pending(2)), 0);
    }

    #[test]
    fn claim_with_nothing_pending_returns_zero_and_changes_nothing() {
        let (plic, harts) = plic(1);
        write(&plic, priority(4), 3);
        enable_source(&plic, 0, 4);
        assert_eq!(read(&plic, claim(0)), 0);
        plic.line(4).unwrap().set(true);
        assert_eq!(read(&plic, claim(1)), 0, "not enabled for the S context");
        assert!(is_pending(&plic, 4));
        assert_eq!(harts[0].lines(), MEIP);
        assert_eq!(read(&plic, claim(0)), 4);
    }

    #[test]
    fn a_threshold_masks_priorities_up_to_it() {
        let (plic, harts) = plic(1);
        let line = plic.line(10).unwrap();
        write(&plic, priority(10), 3);
        enable_source(&plic, 0, 10);
        write(&plic, threshold(0), 3);
        line.set(true);
        assert!(is_pending(&plic, 10), "pending, and visible as such");
        assert_eq!(harts[0].lines(), 0, "priority 3 does not exceed threshold 3");
        assert_eq!(read(&plic, claim(0)), 0, "nor can it be claimed");
        assert!(is_pending(&plic, 10), "a refused claim leaves it pending");
        write(&plic, threshold(0), 2);
        assert_eq!(harts[0].lines(), MEIP, "lowering the threshold lets it through");
        write(&plic, threshold(0), 7);
        assert_eq!(harts[0].lines(), 0, "raising it masks it again");
        write(&plic, priority(10), 7);
        assert_eq!(harts[0].lines(), 0, "7 does not exceed 7");
        write(&plic, threshold(0), 6);
        assert_eq!(harts[0].lines(), MEIP);
        // Another context's threshold is its own.
        enable_source(&plic, 1, 10);
        assert_eq!(harts[0].lines(), MEIP | SEIP);
        write(&plic, threshold(1), 7);
        assert_eq!(harts[0].lines(), MEIP);
        assert_eq!(read(&plic, claim(0)), 10);
    }

    #[test]
    fn priority_zero_never_interrupts() {
        let (plic, harts) = plic(1);
        enable_source(&plic, 0, 12);
        enable_source(&plic, 1, 12);
        plic.line(12).unwrap().set(true);
        assert!(is_pending(&plic, 12));
        assert_eq!(harts[0].lines(), 0, "priority 0 with threshold 0");
        assert_eq!(read(&plic, claim(0)), 0);
        assert_eq!(read(&plic, claim(1)), 0);
        write(&plic, priority(12), 1);
        assert_eq!(harts[0].lines(), MEIP | SEIP, "raising the priority delivers it");
        write(&plic, priority(12), 0);
        assert_eq!(harts[0].lines(), 0, "and setting it to 0 takes it back");
    }

    #[test]
    fn a_line_held_high_is_pending_again_after_completion() {
        let (plic, harts) = plic(1);
        let line = plic.line(10).unwrap();
        write(&plic, priority(10), 1);
        enable_source(&plic, 0, 10);
        line.set(true);
        for round in 0..3 {
            assert_eq!(harts[0].lines(), MEIP, "round {round}");
            assert_eq!(read(&plic, claim(0)), 10, "round {round}");
            assert!(!is_pending(&plic, 10), "round {round}: the claim took the request");
            assert_eq!(harts[0].lines(), 0, "round {round}: in flight, so not signalled");
            assert_eq!(read(&plic, claim(0)), 0, "round {round}: a claimed source is not claimed twice");
            line.set(true);
            assert!(!is_pending(&plic, 10), "round {round}: nor re-pending while in flight");
            write(&plic, claim(0), 10);
            assert!(is_pending(&plic, 10), "round {round}: the line is still high");
        }
        // This time the device is serviced before the completion.
        assert_eq!(read(&plic, claim(0)), 10);
        line.set(false);
        write(&plic, claim(0), 10);
        assert!(!is_pending(&plic, 10));
        assert_eq!(harts[0].lines(), 0);
        assert_eq!(read(&plic, claim(0)), 0);
        // And it can fire again later.
        line.set(true);
        assert_eq!(harts[0].lines(), MEIP);
        assert_eq!(read(&plic, claim(0)), 10);
    }

    #[test]
    fn a_claimed_source_is_held_from_every_context_until_completed() {
        let (plic, harts) = plic(2);
        write(&plic, priority(33), 2);
        write(&plic, priority(34), 1);
        for context in [0, 2] {
            enable_source(&plic, context, 33);
        }
        enable_source(&plic, 2, 34);
        plic.line(33).unwrap().set(true);
        plic.line(34).unwrap().set(true);
        assert_eq!((harts[0].lines(), harts[1].lines()), (MEIP, MEIP));
        assert_eq!(read(&plic, claim(2)), 33, "hart 1 takes it");
        assert_eq!(harts[0].lines(), 0, "so hart 0 has nothing left");
        assert_eq!(harts[1].lines(), MEIP, "hart 1 still has 34");
        assert_eq!(read(&plic, claim(0)), 0);
        write(&plic, claim(2), 33);
        assert_eq!((harts[0].lines(), harts[1].lines()), (MEIP, MEIP), "completed with its line still high");
        assert_eq!(read(&plic, claim(0)), 33, "now hart 0 takes it");
        assert_eq!(read(&plic, claim(2)), 34);
        assert_eq!(read(&plic, claim(2)), 0);
    }

    #[test]
    fn completions_that_match_no_claim_are_ignored() {
        let (plic, harts) = plic(2);
        let line = plic.line(20).unwrap();
        write(&plic, priority(20), 1);
        enable_source(&plic, 0, 20);
        line.set(true);
        assert_eq!(read(&plic, claim(0)), 20);
        // Contexts that do not enable source 20 cannot complete it.
        for context in [1, 2, 3] {
            write(&plic, claim(context), 20);
            assert!(!is_pending(&plic, 20), "completion by context {context} ignored");
        }
        // IDs that are not claimed, or do not exist.
        enable_source(&plic, 0, 21);
        for id in [0, 19, 21, 95, 96, 0x7fff_ffff, u32::MAX] {
            write(&plic, claim(0), id);
            assert!(!is_pending(&plic, 20), "completion of {id:#x} ignored");
        }
        assert_eq!(harts[0].lines(), 0);
        // Completing an unclaimed source leaves its request alone.
        write(&plic, priority(21), 1);
        plic.line(21).unwrap().set(true);
        write(&plic, claim(0), 21);
        assert!(is_pending(&plic, 21));
        assert_eq!(read(&plic, claim(0)), 21);
        // A source disabled after its claim can no longer be completed
        // through that context (the specification leaves this to the
        // implementation; ignoring it is allowed).
        write(&plic, enable(0, 0), 0);
        write(&plic, claim(0), 20);
        write(&plic, enable(0, 0), 1 << 20);
        assert!(!is_pending(&plic, 20), "still claimed");
        write(&plic, claim(0), 20);
        assert!(is_pending(&plic, 20));
        assert_eq!(harts[0].lines(), MEIP);
    }

    #[test]
    fn each_context_has_its_own_enables() {
        let (plic, harts) = plic(2);
        for source in [1, 2, 3, 4] {
            write(&plic, priority(source), 1);
        }
        for (context, source) in [(0, 1), (1, 2), (2, 3), (3, 4)] {
            enable_source(&plic, context, source);
        }
        plic.line(3).unwrap().set(true);
        assert_eq!((harts[0].lines(), harts[1].lines()), (0, MEIP), "only hart 1's M context enables 3");
        plic.line(2).unwrap().set(true);
        assert_eq!((harts[0].lines(), harts[1].lines()), (SEIP, MEIP));
        for context in [0, 1, 3] {
            assert_ne!(read(&plic, claim(context)), 3, "context {context}");
        }
        assert_eq!(read(&plic, claim(2)), 3);
        assert_eq!(read(&plic, claim(0)), 0);
        assert_eq!(read(&plic, claim(3)), 0);
        assert_eq!((harts[0].lines(), harts[1].lines()), (0, 0), "claims by 1 and 2 took everything");
    }

    #[test]
    fn bad_sizes_and_offsets_are_refused() {
        let (plic, harts) = plic(2);
        write(&plic, priority(10), 1);
        enable_source(&plic, 0, 10);
        plic.line(10).unwrap().set(true);
        for (offset, size) in [
            (priority(1), 1),
            (priority(1), 2),
            (priority(1), 8),
            (priority(1) + 2, 4),
            (priority(1) + 1, 1),
            (claim(0), 8),
            (claim(0), 2),
            (threshold(0) + 1, 4),
            (priority(SOURCES), 4),
            (pending(3), 4),
            (PENDING_BASE - 4, 4),
            (enable(0, 3), 4),
            (enable(0, 31), 4),
            (enable(4, 0), 4),
            (ENABLE_BASE - 4, 4),
            (CONTEXT_BASE - 4, 4),
            (threshold(0) + 8, 4),
            (threshold(0) + CONTEXT_STRIDE - 4, 4),
            (threshold(4), 4),
            (claim(4), 4),
            (SIZE - 4, 4),
            (SIZE, 4),
            (u64::MAX - 3, 4),
        ] {
            assert_eq!(plic.read(&CTX, offset, size), Err(refused(offset, size)), "read {offset:#x}/{size}");
            assert_eq!(plic.write(&CTX, offset, size, 0), Err(refused(offset, size)), "write {offset:#x}/{size}");
        }
        assert_eq!(read(&plic, priority(10)), 1, "refused writes changed nothing");
        assert_eq!(harts[0].lines(), MEIP, "and a refused claim claimed nothing");
        assert_eq!(read(&plic, claim(0)), 10);
    }

    #[test]
    fn the_window_reaches_the_contexts_of_512_harts() {
        let (plic, harts) = plic(512);
        let last = 1023;
        assert_eq!(CONTEXT_BASE + CONTEXT_STRIDE * (last + 1), SIZE);
        write(&plic, priority(50), 2);
        write(&plic, enable(last, 1), 1 << 18);
        write(&plic, threshold(last), 1);
        plic.line(50).unwrap().set(true);
        assert_eq!(harts[511].lines(), SEIP);
        assert!(harts[..511].iter().all(|h| h.lines() == 0));
        assert_eq!(read(&plic, claim(last)), 50);
        assert_eq!(harts[511].lines(), 0);
    }

    #[test]
    fn lines_driven_from_many_threads_end_consistent() {
        let (plic, harts) = plic(1);
        let sources: Vec<u32> = (1..SOURCES).collect();
        for &source in &sources {
            write(&plic, priority(source), 1);
            enable_source(&plic, 0, source);
        }
        std::thread::scope(|scope| {
            for chunk in sources.chunks(24) {
                let lines: Vec<PlicLine> = chunk.iter().map(|&s| plic.line(s).unwrap()).collect();
                scope.spawn(move || {
                    for round in 0..200 {
                        for line in &lines {
                            // Odd sources end high, even ones low.
                            line.set(round % 2 == 0 || line.source() % 2 == 1);
                        }
                    }
                });
            }
        });
        assert!(sources.iter().all(|&s| is_pending(&plic, s)), "every line was high once");
        assert_eq!(harts[0].lines(), MEIP);
        let claim_all =
            || -> Vec<u32> { std::iter::from_fn(|| Some(read(&plic, claim(0))).filter(|&s| s != 0)).collect() };
        let claimed = claim_all();
        assert_eq!(claimed, sources, "equal priorities come out lowest ID first");
        assert_eq!(harts[0].lines(), 0);
        for source in claimed {
            write(&plic, claim(0), source);
        }
        let odd: Vec<u32> = sources.iter().copied().filter(|s| s % 2 == 1).collect();
        assert_eq!(claim_all(), odd, "the lines still high are pending again");
    }

    #[test]
    fn a_reset_clears_everything_but_the_input_levels() {
        let (plic, harts) = plic(1);
        write(&plic, priority(10), 5);
        enable_source(&plic, 1, 10);
        plic.line(10).unwrap().set(true);
        assert_eq!(harts[0].lines(), SEIP, "source 10 interrupts S-mode");
        plic.reset();
        assert_eq!(harts[0].lines(), 0, "the line to the hart is low");
        for offset in [priority(10), enable(1, 0), threshold(1), claim(1)] {
            assert_eq!(read(&plic, offset), 0, "{offset:#x}");
        }
        // The source is still high: once set up again it interrupts at once.
        write(&plic, priority(10), 1);
        enable_source(&plic, 1, 10);
        plic.line(10).unwrap().set(false);
        plic.line(10).unwrap().set(true);
        assert_eq!(harts[0].lines(), SEIP);
    }
}
