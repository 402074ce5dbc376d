//! Running a machine's harts: quanta, simulated time, and why a run stops.
//!
//! This runner interleaves all harts on the calling thread, quantum by
//! quantum, in hart order, so a run is deterministic: hart *n* runs until its
//! local time reaches the end of the quantum, then hart *n + 1*. Simulated time
//! is each hart's local cycle count; a hart waiting in `wfi` lets its time
//! jump to its next timer deadline, and when every hart waits, time skips
//! forward to the earliest deadline. A hart's timer deadlines are its
//! ACLINT `mtimecmp` and, under Sstc, its own `stimecmp`; a hart never runs
//! past one, so timer interrupts are taken at the exact cycle.
//!
//! When every hart waits and no timer is armed, only something outside the
//! harts can wake one: an interrupt already raised by a hart that ran later
//! in the round, or console input from the host. With the UART's input open
//! ([`Uart::set_input_open`]), the runner then sleeps on the host, a
//! millisecond at a time, until an enabled interrupt is pending, the machine
//! is stopped or input closes; simulated time stands still meanwhile. Only
//! with input closed and nothing pending is the machine deadlocked.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use polyhart_iss::memory::PAGE_SHIFT;
use polyhart_iss::{Cause, Exit, Hart, HartControl, HartStats, Jit, JitStats, TranslationCache};

use crate::bus::SystemBus;
use crate::console::Console;
use crate::devices::{Aclint, Plic, PlicLine, Uart};
use crate::driver_queue::DriverQueue;

/// Why a machine stopped running.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The guest asked to exit with this status (test finisher or HTIF).
    Exit(i32),
    /// The guest asked for a reset (test finisher `0x7777`); polyhart stops
    /// instead of rebooting.
    Reset,
    /// The instruction limit given to [`Machine::run`] was reached.
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
    /// [`Hart::jit_divergence`] of the hart says how.
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
    /// Every hart reached the time [`Machine::run_until`] was asked to run
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
}

impl StopReason {
    /// Whether the reason ends only the run in progress ([`StopReason::Sync`],
    /// [`StopReason::Paused`]); the others stop the machine for good.
    pub fn is_transient(self) -> bool {
        matches!(self, StopReason::Sync { .. } | StopReason::Paused)
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
    fn clear_sync(&self) {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some_and(StopReason::is_transient) {
            *slot = None;
            self.requested.store(false, Ordering::Release);
        }
    }

    /// The reason, once a stop was requested.
    pub fn reason(&self) -> Option<StopReason> {
        if !self.requested.load(Ordering::Acquire) {
            return None;
        }
        *self.reason.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Default quantum: instructions a hart runs before the next hart's turn.
pub const DEFAULT_QUANTUM: u64 = 10_000;

/// The quantum that never ends: with [`Scheduling::Parallel`], harts run
/// free of each other, as QEMU's MTTCG does.
pub const UNBOUNDED_QUANTUM: u64 = u64::MAX;

/// How a machine's harts share the host.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Scheduling {
    /// Each hart on its own host thread, synchronised at quantum boundaries
    /// of simulated time (or not at all with [`UNBOUNDED_QUANTUM`]): for
    /// speed; runs of a multi-hart guest may interleave differently.
    #[default]
    Parallel,
    /// All harts on the calling thread, one after the other in hart order,
    /// a quantum each: two runs give bit-identical output, instruction counts
    /// and final state.
    Deterministic,
}

/// A machine: harts, memory and devices, ready to run.
#[derive(Debug)]
pub struct Machine {
    pub(crate) harts: Vec<Hart>,
    pub(crate) aclint: Arc<Aclint>,
    pub(crate) plic: Arc<Plic>,
    pub(crate) bus: Arc<SystemBus>,
    pub(crate) uart: Arc<Uart<PlicLine>>,
    pub(crate) console: Arc<Console>,
    pub(crate) stop: Arc<StopSignal>,
    pub(crate) cache: Arc<TranslationCache>,
    pub(crate) quantum: u64,
    pub(crate) scheduling: Scheduling,
    pub(crate) jit: Option<Arc<Jit>>,
    pub(crate) driver_queue: Arc<DriverQueue>,
    pub(crate) cpu_frequency: u64,
    /// Where a hart starts after reset.
    pub(crate) reset_pc: u64,
}

impl Machine {
    /// The harts, indexed by hart ID.
    pub fn harts(&self) -> &[Hart] {
        &self.harts
    }

    /// Mutable access to the harts, to set up or inspect state between runs.
    pub fn harts_mut(&mut self) -> &mut [Hart] {
        &mut self.harts
    }

    /// Per-hart counters.
    pub fn stats(&self) -> Vec<HartStats> {
        self.harts.iter().map(Hart::stats).collect()
    }

    /// Instructions retired by all harts together.
    pub fn instructions(&self) -> u64 {
        self.harts.iter().map(|h| h.state.retired).sum()
    }

    /// The handle that stops this machine from another thread or a device.
    pub fn stop_signal(&self) -> &Arc<StopSignal> {
        &self.stop
    }

    /// The console UART, to feed it input.
    pub fn uart(&self) -> &Arc<Uart<PlicLine>> {
        &self.uart
    }

    /// The interrupt controller, to drive its sources from outside.
    pub fn plic(&self) -> &Arc<Plic> {
        &self.plic
    }

    /// The translation cache the harts share.
    pub fn translation_cache(&self) -> &Arc<TranslationCache> {
        &self.cache
    }

    /// The system bus.
    pub fn bus(&self) -> &Arc<SystemBus> {
        &self.bus
    }

    /// The JIT's counters, when the machine has one: the JIT's own and
    /// those of every hart, added up.
    pub fn jit_stats(&self) -> Option<JitStats> {
        let mut stats = self.jit.as_ref()?.stats();
        for hart in &self.harts {
            stats += hart.jit_stats();
        }
        Some(stats)
    }

    /// The queue of work devices hand to the thread driving the machine.
    pub fn driver_queue(&self) -> &Arc<DriverQueue> {
        &self.driver_queue
    }

    /// The harts' clock in Hz: cycles of local time per second of simulated
    /// time.
    pub fn cpu_frequency(&self) -> u64 {
        self.cpu_frequency
    }

    /// The earliest local time, in cycles, of the harts: how far the whole
    /// machine has run.
    pub fn time(&self) -> u64 {
        self.harts.iter().map(|h| h.state.cycle()).min().unwrap_or(0)
    }

    /// Resets hart `index` as its reset line would ([`Hart::reset`]): it
    /// starts again at the board's reset vector, which boots it as at power
    /// on. Does nothing for a hart that does not exist.
    pub fn reset_hart(&mut self, index: usize) {
        let pc = self.reset_pc;
        if let Some(hart) = self.harts.get_mut(index) {
            hart.reset(pc);
        }
    }

    /// Writes `bytes` into guest RAM at physical `addr` from outside the
    /// guest (a debugger, a DMA model), between runs: translated code on the
    /// pages it touches is dropped and LR reservations there are broken, as
    /// a hart's store would. False if the range is not all RAM.
    pub fn write_memory(&self, addr: u64, bytes: &[u8]) -> bool {
        let ram = self.bus.ram();
        let Some(offset) = ram.offset(addr, bytes.len() as u64) else { return false };
        if bytes.is_empty() || !ram.write_bytes(offset, bytes) {
            return bytes.is_empty();
        }
        ram.break_reservations(offset, bytes.len() as u64);
        let (first, last) = (offset >> PAGE_SHIFT, (offset + bytes.len() as u64 - 1) >> PAGE_SHIFT);
        for page in first..=last {
            if ram.take_code_marks(page << PAGE_SHIFT) {
                self.cache.invalidate_page((ram.base() >> PAGE_SHIFT) + page);
            }
        }
        true
    }

    /// Reads guest RAM at physical `addr` into `buf`; false if the range is
    /// not all RAM.
    pub fn read_memory(&self, addr: u64, buf: &mut [u8]) -> bool {
        let ram = self.bus.ram();
        ram.offset(addr, buf.len() as u64).is_some_and(|offset| buf.is_empty() || ram.read_bytes(offset, buf))
    }

    /// How the harts share the host.
    pub fn scheduling(&self) -> Scheduling {
        self.scheduling
    }

    /// The quantum, in cycles of simulated time ([`UNBOUNDED_QUANTUM`]: none).
    pub fn quantum(&self) -> u64 {
        self.quantum
    }

    /// Runs until the guest or someone stops the machine, or until the harts
    /// together have retired `limit` more instructions. With
    /// [`Scheduling::Deterministic`] (or one hart) the limit is exact; in
    /// parallel each hart checks it between its slices, so the harts may
    /// together pass it by up to a quantum each.
    pub fn run(&mut self, limit: Option<u64>) -> StopReason {
        self.run_until(u64::MAX, limit)
    }

    /// Runs until every hart's local time reaches `horizon` cycles
    /// ([`StopReason::Horizon`]), or for the reasons [`Machine::run`] gives,
    /// or until a hart asks to synchronise ([`StopReason::Sync`]). Rounds of
    /// the quantum are cut at the horizon; a hart asleep with nothing to wake
    /// it before the horizon idles up to it (something outside may wake it
    /// later), so within a horizon there is no deadlock. Harts that ran past
    /// the horizon (an instruction never stops halfway, and a device may add
    /// latency) keep their local time.
    pub fn run_until(&mut self, horizon: u64, limit: Option<u64>) -> StopReason {
        let limit = limit.map(|n| self.instructions().saturating_add(n));
        let parallel =
            self.scheduling == Scheduling::Parallel && (self.harts.len() > 1 || self.quantum == UNBOUNDED_QUANTUM);
        let bounded = horizon != u64::MAX;
        // Within a horizon an unbounded quantum is one round to it.
        let quantum = if bounded && self.quantum == UNBOUNDED_QUANTUM {
            horizon.saturating_sub(self.time()).max(1)
        } else {
            self.quantum
        };
        let reason = if parallel {
            self.run_parallel(limit, horizon, quantum)
        } else {
            self.driver_queue.begin();
            let reason = self.run_rounds(limit, horizon);
            self.driver_queue.end();
            reason
        };
        if reason == StopReason::Horizon {
            for hart in &mut self.harts {
                let lag = horizon.saturating_sub(hart.state.cycle());
                hart.idle(lag);
            }
        }
        self.stop.clear_sync();
        self.console.flush();
        reason
    }

    fn run_rounds(&mut self, limit: Option<u64>, horizon: u64) -> StopReason {
        let mut now = self.time();
        let retired = AtomicU64::new(self.instructions());
        let ending = AtomicBool::new(false);
        let slices = Slices { aclint: &self.aclint, stop: &self.stop, retired: &retired, limit, ending: &ending };
        loop {
            if now >= horizon {
                return StopReason::Horizon;
            }
            let round_end = now.saturating_add(self.quantum).min(horizon);
            for (index, hart) in self.harts.iter_mut().enumerate() {
                match slices.run(hart, index, round_end) {
                    Slice::Done => {}
                    // Deterministic rounds idle a sleeping hart through the
                    // round, as the parallel runner does in effect.
                    Slice::Asleep => hart.idle(round_end.saturating_sub(hart.state.cycle())),
                    Slice::Stop(reason) => return reason,
                    Slice::Ended => unreachable!("only the parallel runner ends slices"),
                }
            }
            now = round_end;
            if self.harts.iter().all(|h| h.state.waiting) {
                self.console.flush();
                match self.earliest_deadline() {
                    Some(deadline) if deadline > now => {
                        let deadline = deadline.min(horizon);
                        for hart in &mut self.harts {
                            let lag = deadline.saturating_sub(hart.state.cycle());
                            hart.idle(lag);
                        }
                        now = deadline;
                    }
                    Some(_) => {}
                    None => {
                        let harts = &self.harts;
                        let any_wakeable =
                            || harts.iter().any(|h| wakeable(h.control(), h.state.csr.mip, h.state.csr.mie));
                        if horizon != u64::MAX {
                            // Something outside may still wake them before the horizon.
                            if !any_wakeable() {
                                return StopReason::Horizon;
                            }
                        } else if let Some(reason) = wait_for_wakeup(&self.uart, &self.stop, any_wakeable) {
                            return reason;
                        }
                    }
                }
            }
        }
    }

    /// The local time at which the first waiting hart's timer fires, if any.
    fn earliest_deadline(&self) -> Option<u64> {
        self.harts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| timer_deadline(&self.aclint, i, h).map(|d| h.state.cycle() + d))
            .min()
    }
}

/// Whether a waiting hart with these `mip` and `mie` would wake: an
/// interrupt pending and enabled in `mie` wakes `wfi` whatever the global
/// enables say.
pub(crate) fn wakeable(control: &HartControl, mip: u64, mie: u64) -> bool {
    (mip | control.lines()) & mie != 0
}

/// Every hart waits and no timer is armed: returns once `any_wakeable` says
/// a hart has an enabled interrupt pending, or why the machine stops instead.
/// With the UART's input open the host sleeps a millisecond at a time
/// between looks; with it closed nothing can ever wake a hart.
pub(crate) fn wait_for_wakeup(
    uart: &Uart<PlicLine>,
    stop: &StopSignal,
    mut any_wakeable: impl FnMut() -> bool,
) -> Option<StopReason> {
    /// How long the host sleeps before looking again.
    const POLL: Duration = Duration::from_millis(1);
    loop {
        // Read before looking at the harts: input that arrived before it
        // closed has raised its interrupt by then.
        let input_open = uart.input_open();
        if any_wakeable() {
            return None;
        }
        if let Some(reason) = stop.reason() {
            return Some(reason);
        }
        if !input_open {
            return Some(StopReason::Deadlock);
        }
        std::thread::sleep(POLL);
    }
}

/// How a hart's slice of a round ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Slice {
    /// The hart's local time reached the end of the round.
    Done,
    /// The hart waits in `wfi` with nothing pending and no timer armed: only
    /// another hart or a device can wake it.
    Asleep,
    /// The machine stops.
    Stop(StopReason),
    /// Another hart's thread ended the run (parallel runner only).
    Ended,
}

/// What running a hart's slice needs besides the hart: shared by the
/// deterministic and the parallel runner.
pub(crate) struct Slices<'a> {
    pub(crate) aclint: &'a Aclint,
    pub(crate) stop: &'a StopSignal,
    /// Instructions retired by all harts.
    pub(crate) retired: &'a AtomicU64,
    /// Stop when `retired` reaches this.
    pub(crate) limit: Option<u64>,
    /// Set when some thread has ended the run.
    pub(crate) ending: &'a AtomicBool,
}

impl Slices<'_> {
    /// Runs hart `index` until its local time reaches `round_end`, it falls
    /// asleep, or the machine stops. Timer deadlines cut the slices so that
    /// timer interrupts land on their exact cycle; a hart waiting for its
    /// timer idles up to it.
    pub(crate) fn run(&self, hart: &mut Hart, index: usize, round_end: u64) -> Slice {
        while hart.state.cycle() < round_end {
            if self.ending.load(Ordering::Acquire) {
                return Slice::Ended;
            }
            if let Some(reason) = self.stop.reason() {
                return Slice::Stop(reason);
            }
            let deadline = timer_deadline(self.aclint, index, hart);
            let mut budget = round_end - hart.state.cycle();
            if let Some(cycles) = deadline {
                budget = budget.min(cycles.max(1));
            }
            if let Some(limit) = self.limit {
                let retired = self.retired.load(Ordering::Relaxed);
                if retired >= limit {
                    return Slice::Stop(StopReason::InstructionLimit);
                }
                budget = budget.min(limit - retired);
            }
            let before = hart.state.retired;
            let exit = hart.run(budget);
            self.retired.fetch_add(hart.state.retired - before, Ordering::Relaxed);
            match exit {
                Exit::BudgetSpent => {}
                Exit::WaitingForInterrupt => match deadline {
                    Some(d) => {
                        let wake = hart.state.cycle().saturating_add(d.max(1)).min(round_end);
                        let lag = wake - hart.state.cycle();
                        hart.idle(lag);
                    }
                    None => return Slice::Asleep,
                },
                Exit::ExitRequested => {
                    hart.control().take_exit_request();
                }
                Exit::TrapLoop { pc, cause, origin } => {
                    return Slice::Stop(StopReason::TrapLoop { hart: index, pc, cause, origin });
                }
                Exit::JitDivergence { pc } => {
                    return Slice::Stop(StopReason::JitDivergence { hart: index, pc });
                }
            }
        }
        Slice::Done
    }
}

/// Raises or lowers hart `index`'s MTIP for its local time and returns how
/// many cycles it may run before one of its timers fires: the ACLINT's
/// `mtimecmp`, or `stimecmp` while Sstc drives STIP with it (`None`: none
/// armed that has not fired yet).
fn timer_deadline(aclint: &Aclint, index: usize, hart: &Hart) -> Option<u64> {
    let cycle = hart.state.cycle();
    let machine = aclint.sync_timer(index, cycle);
    let supervisor = hart.state.supervisor_timer_compare().and_then(|due| aclint.cycles_until(cycle, due));
    match (machine, supervisor) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use polyhart_iss::csr;
    use polyhart_iss::decode::{Inst, Op};

    use super::*;
    use crate::boards::virt::{self, VirtConfig};

    /// Waits in `wfi` for a console byte (UART interrupt through the PLIC)
    /// and exits with it as its status.
    const CONSOLE_INPUT: &[u8] = include_bytes!("../../tests/guest/console_input.elf");
    const LIMIT: Option<u64> = Some(10_000_000);

    fn waiting_machine() -> Machine {
        virt::build(VirtConfig {
            kernel: Some(CONSOLE_INPUT.to_vec()),
            console: Some(Box::new(std::io::sink())),
            ..VirtConfig::default()
        })
        .unwrap()
    }

    /// Runs `machine` while `host` acts on it from another thread.
    fn run_with(machine: &mut Machine, host: impl FnOnce(Arc<Uart<PlicLine>>, Arc<StopSignal>) + Send) -> StopReason {
        let (uart, stop) = (machine.uart().clone(), machine.stop_signal().clone());
        std::thread::scope(|scope| {
            scope.spawn(move || host(uart, stop));
            machine.run(LIMIT)
        })
    }

    #[test]
    fn waiting_with_input_closed_is_a_deadlock() {
        let mut machine = waiting_machine();
        assert_eq!(machine.run(LIMIT), StopReason::Deadlock);
        assert!(machine.harts()[0].state.waiting);
        // Input that arrives before the next run is taken by it.
        machine.uart().receive(b"C");
        assert_eq!(machine.run(LIMIT), StopReason::Exit(i32::from(b'C')));
    }

    #[test]
    fn input_from_another_thread_wakes_a_waiting_hart() {
        let mut machine = waiting_machine();
        machine.uart().set_input_open(true);
        let reason = run_with(&mut machine, |uart, _| {
            std::thread::sleep(Duration::from_millis(50));
            uart.receive(b"A");
            uart.set_input_open(false);
        });
        assert_eq!(reason, StopReason::Exit(i32::from(b'A')));
    }

    #[test]
    fn input_that_closes_without_a_byte_ends_in_a_deadlock() {
        let mut machine = waiting_machine();
        machine.uart().set_input_open(true);
        let started = Instant::now();
        let reason = run_with(&mut machine, |uart, _| {
            std::thread::sleep(Duration::from_millis(50));
            uart.set_input_open(false);
        });
        assert_eq!(reason, StopReason::Deadlock);
        assert!(started.elapsed() >= Duration::from_millis(50), "the runner waited for the input to close");
    }

    #[test]
    fn a_stop_request_ends_the_wait_for_input() {
        let mut machine = waiting_machine();
        machine.uart().set_input_open(true);
        let reason = run_with(&mut machine, |_, stop| {
            std::thread::sleep(Duration::from_millis(20));
            stop.request(StopReason::Stopped);
        });
        assert_eq!(reason, StopReason::Stopped);
        assert!(machine.uart().input_open());
    }

    const T0: u8 = 5;
    const T1: u8 = 6;
    const T2: u8 = 7;
    const A0: u8 = 10;
    const A3: u8 = 13;
    const A4: u8 = 14;

    fn inst(op: Op, rd: u8, rs1: u8, imm: i32) -> u32 {
        Inst { rd, rs1, imm, ..Inst::new(op, 4) }.encode()
    }

    /// `csrr rd, number`.
    fn csrr(rd: u8, number: u16) -> u32 {
        inst(Op::Csrrs, rd, 0, i32::from(number))
    }

    /// `csrw number, rs1`.
    fn csrw(number: u16, rs1: u8) -> u32 {
        inst(Op::Csrrw, 0, rs1, i32::from(number))
    }

    /// A raw M-mode program that enables Sstc, sets `stimecmp` to the time
    /// now plus `ticks` (in t2), enables STIE, runs `wait` and then records
    /// `minstret` in a3 and `time` in a4 (both zero at reset) and exits through the test
    /// finisher (and spins until the machine stops). `wait` either loops counting in a0 with interrupts on
    /// (the handler is what follows) or waits in `wfi` with them off.
    fn sstc_program(ticks: i32, wait: &[u32]) -> Vec<u8> {
        let mut code = vec![
            inst(Op::Addi, T1, 0, -1),
            inst(Op::Slli, T1, T1, 63),
            csrw(csr::MENVCFG, T1),
            inst(Op::Addi, T1, 0, 1 << 1),
            csrw(csr::MCOUNTEREN, T1),
            csrr(T2, csr::TIME),
            inst(Op::Addi, T2, T2, ticks),
            csrw(csr::STIMECMP, T2),
            inst(Op::Addi, T1, 0, 1 << 5),
            csrw(csr::MIE, T1),
        ];
        // mtvec: the instruction after `wait`.
        let handler = 4 * (code.len() + 3 + wait.len()) as i32;
        code.extend([inst(Op::Auipc, T0, 0, 0), inst(Op::Addi, T0, T0, handler - 4 * code.len() as i32)]);
        code.push(csrw(csr::MTVEC, T0));
        code.extend_from_slice(wait);
        code.extend([
            csrr(A3, csr::MINSTRET),
            csrr(A4, csr::TIME),
            inst(Op::Lui, T0, 0, 0x10_0000),
            inst(Op::Lui, T1, 0, 0x5000),
            inst(Op::Addi, T1, T1, 0x555),
            Inst { rs1: T0, rs2: T1, ..Inst::new(Op::Sw, 4) }.encode(),
            inst(Op::Jal, 0, 0, 0),
        ]);
        code.iter().flat_map(|word| word.to_le_bytes()).collect()
    }

    fn run_raw(program: Vec<u8>) -> Machine {
        run_raw_with(program, VirtConfig::default())
    }

    fn run_raw_with(program: Vec<u8>, config: VirtConfig) -> Machine {
        let mut machine =
            virt::build(VirtConfig { kernel: Some(program), console: Some(Box::new(std::io::sink())), ..config })
                .unwrap();
        assert_eq!(machine.run(LIMIT), StopReason::Exit(0));
        machine
    }

    #[test]
    fn an_sstc_timer_interrupt_is_taken_at_the_exact_cycle() {
        // 100 cycles per tick: the interrupt comes at the cycle where time
        // reaches stimecmp, before the instruction that would run then.
        let machine = run_raw(sstc_program(
            50,
            &[inst(Op::Csrrsi, 0, 8, i32::from(csr::MSTATUS)), inst(Op::Addi, A0, A0, 1), inst(Op::Jal, 0, 0, -4)],
        ));
        let state = &machine.harts()[0].state;
        let stimecmp = state.reg(T2);
        assert_eq!(state.csr.mcause, (1 << 63) | 5);
        assert_eq!(state.reg(A3), 100 * stimecmp, "retired before the handler");
        assert_eq!(state.reg(A4), stimecmp);
        assert!(state.reg(A0) > 2000, "the loop ran meanwhile");
    }

    #[test]
    fn a_hart_waiting_for_its_sstc_timer_wakes_at_the_deadline() {
        // No mtimecmp is armed: only stimecmp can wake the hart, and the
        // runner must let time reach it rather than report a deadlock.
        let machine = run_raw(sstc_program(1000, &[inst(Op::Wfi, 0, 0, 0)]));
        let state = &machine.harts()[0].state;
        let stimecmp = state.reg(T2);
        assert_eq!(state.csr.mcause, 0, "woken, not interrupted");
        // Idle until the deadline; then the six instructions after `wfi` and
        // the jump that was in flight when the finisher stopped the machine.
        assert_eq!(state.cycle(), 100 * stimecmp + 7);
        assert_eq!(state.reg(A4), stimecmp);
    }

    #[test]
    fn harts_waiting_for_their_sstc_timers_wake_in_the_parallel_runner() {
        // Two harts run the program on their own threads, in rounds and
        // free-running; whichever reaches the finisher first ends the run.
        for quantum in [DEFAULT_QUANTUM, UNBOUNDED_QUANTUM] {
            let config = VirtConfig::default().harts(2).quantum(quantum).scheduling(Scheduling::Parallel);
            let machine = run_raw_with(sstc_program(1000, &[inst(Op::Wfi, 0, 0, 0)]), config);
            let woken: Vec<_> = machine.harts().iter().filter(|h| h.state.reg(A4) != 0).collect();
            assert!(!woken.is_empty(), "quantum {quantum}");
            for hart in woken {
                assert_eq!(hart.state.reg(A4), hart.state.reg(T2), "quantum {quantum}: woken at its deadline");
                assert_eq!(hart.state.csr.mcause, 0);
            }
        }
    }
}
