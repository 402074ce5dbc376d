//! Running a machine's harts: quanta, simulated time, and why a run stops.
//!
//! Simulated time is each hart's local cycle count. Harts run in quanta: a
//! round of the quantum runs every hart until its local time reaches the
//! round's end, so no hart is ever more than a quantum ahead of another.
//! Two runners do this, as [`Scheduling`] picks:
//!
//! - the deterministic runner (`runner/deterministic.rs`) runs the harts one
//!   after the other on the calling thread, in hart order;
//! - the parallel runner (`runner/parallel.rs`) runs each hart on its own
//!   host thread, the round's end a barrier; with [`UNBOUNDED_QUANTUM`] the
//!   harts run free of each other, with no rounds at all.
//!
//! Both run a hart through its part of a round the same way, and decide
//! when a hart waiting in `wfi` wakes by one rule (`runner/wake.rs`): at
//! once if an interrupt it enables is pending, else when its first timer
//! fires, its board timer's `mtimecmp` or, under Sstc, its own `stimecmp`.
//! No hart runs past a timer deadline, so timer interrupts are taken at the
//! exact cycle; a waiting hart's time jumps to its deadline, and when every
//! hart waits, time skips forward to the earliest (or, with
//! [`IdleTime::RealTime`], passes at the host's pace: `runner/pace.rs`). The runners reach the
//! board only through [`Board`]: its timer, its console's output and
//! whether host input may still come.

pub(crate) mod deterministic;
mod pace;
pub(crate) mod parallel;
mod stop;
mod wake;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use polyhart_iss::{Exit, Hart};

pub(crate) use self::pace::Pacer;
pub use self::pace::{IdleTime, MOST_LAG};
pub use self::stop::{StopReason, StopSignal};
use self::wake::{WaitState, Wake, timer_deadline};
use crate::boards::Board;

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

/// Every hart waits and none will wake by itself ([`Wake::Never`]): returns
/// once `any_woken` says one will after all, or why the machine stops
/// instead. While the board's input is open ([`Board::input_open`]) the host
/// sleeps a millisecond at a time between looks; with it closed nothing can
/// ever wake a hart.
pub(crate) fn wait_for_wakeup(
    board: &impl Board,
    stop: &StopSignal,
    mut any_woken: impl FnMut() -> bool,
) -> Option<StopReason> {
    /// How long the host sleeps before looking again.
    const POLL: Duration = Duration::from_millis(1);
    loop {
        // Read before looking at the harts: input that arrived before it
        // closed has raised its interrupt by then.
        let input_open = board.input_open();
        if any_woken() {
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

/// How a hart's run through (its part of) a round ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum QuantumEnd {
    /// The hart's local time reached the end of the round.
    Reached,
    /// The hart waits in `wfi` and will not wake by itself ([`Wake::Never`]):
    /// only another hart, a device or the host can wake it.
    Asleep,
    /// The machine stops.
    Stop(StopReason),
    /// Another hart's thread ended the run (parallel runner only).
    Ended,
}

/// What running a hart through a round needs besides the hart: shared by
/// the deterministic and the parallel runner.
pub(crate) struct QuantumRunner<'a, B> {
    pub(crate) board: &'a B,
    pub(crate) stop: &'a StopSignal,
    /// Instructions retired by all harts.
    pub(crate) retired: &'a AtomicU64,
    /// Stop when `retired` reaches this.
    pub(crate) limit: Option<u64>,
    /// Set when some thread has ended the run.
    pub(crate) ending: &'a AtomicBool,
    /// With [`IdleTime::RealTime`]: what keeps a waiting hart's time at
    /// the host's pace.
    pub(crate) pacer: Option<&'a Pacer>,
}

impl<B: Board> QuantumRunner<'_, B> {
    /// Runs hart `index` until its local time reaches `end`, it falls
    /// asleep, or the machine stops. Timer deadlines cut the hart's runs so
    /// that timer interrupts land on their exact cycle; a hart waiting for
    /// its timer idles up to it.
    pub(crate) fn run(&self, hart: &mut Hart, index: usize, end: u64) -> QuantumEnd {
        while hart.state().cycle() < end {
            if self.ending.load(Ordering::Acquire) {
                return QuantumEnd::Ended;
            }
            if let Some(reason) = self.stop.reason() {
                return QuantumEnd::Stop(reason);
            }
            let deadline =
                timer_deadline(self.board, index, hart.state().cycle(), hart.state().supervisor_timer_compare());
            let mut budget = end - hart.state().cycle();
            if let Some(cycles) = deadline {
                budget = budget.min(cycles.max(1));
            }
            if let Some(limit) = self.limit {
                let retired = self.retired.load(Ordering::Relaxed);
                if retired >= limit {
                    return QuantumEnd::Stop(StopReason::InstructionLimit);
                }
                budget = budget.min(limit - retired);
            }
            let before = hart.state().retired;
            let exit = hart.run(budget);
            self.retired.fetch_add(hart.state().retired - before, Ordering::Relaxed);
            match exit {
                Exit::BudgetSpent => {}
                Exit::WaitingForInterrupt => {
                    match WaitState::of(hart).wake(self.board, index, hart.control(), hart.state().cycle()) {
                        // An interrupt became pending since the hart looked (a line
                        // rose, or its timer fired just now): it wakes when run again.
                        Wake::Now => {}
                        Wake::At(cycle) => {
                            let (now, to) = (hart.state().cycle(), cycle.min(end));
                            let reached = match self.pacer {
                                Some(pacer) => pacer.idle(hart.control(), now, to),
                                None => to,
                            };
                            hart.idle(reached.saturating_sub(now));
                        }
                        Wake::Never => return QuantumEnd::Asleep,
                    }
                }
                Exit::ExitRequested => {
                    hart.control().take_exit_request();
                }
                Exit::TrapLoop { pc, cause, origin } => {
                    return QuantumEnd::Stop(StopReason::TrapLoop { hart: index, pc, cause, origin });
                }
                Exit::JitDivergence { pc } => {
                    return QuantumEnd::Stop(StopReason::JitDivergence { hart: index, pc });
                }
                Exit::Breakpoint { pc } => return QuantumEnd::Stop(StopReason::Breakpoint { hart: index, pc }),
                Exit::Watchpoint { pc, hit } => {
                    return QuantumEnd::Stop(StopReason::Watchpoint { hart: index, pc, hit });
                }
            }
        }
        QuantumEnd::Reached
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use polyhart_iss::csr;
    use polyhart_iss::decode::{Inst, Op};

    use std::sync::Arc;

    use super::*;
    use crate::Machine;
    use crate::boards::virt::{self, VirtConfig};
    use crate::devices::{PlicLine, Uart};

    /// Waits in `wfi` for a console byte (UART interrupt through the PLIC)
    /// and exits with it as its status.
    const CONSOLE_INPUT: &[u8] = include_bytes!("../../../tests/guest/console_input.elf");
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
        let (uart, stop) = (machine.board().uart().clone(), machine.stop_signal().clone());
        std::thread::scope(|scope| {
            scope.spawn(move || host(uart, stop));
            machine.run(LIMIT)
        })
    }

    #[test]
    fn waiting_with_input_closed_is_a_deadlock() {
        let mut machine = waiting_machine();
        assert_eq!(machine.run(LIMIT), StopReason::Deadlock);
        assert!(machine.harts()[0].state().waiting);
        // Input that arrives before the next run is taken by it.
        machine.board().uart().receive(b"C");
        assert_eq!(machine.run(LIMIT), StopReason::Exit(i32::from(b'C')));
    }

    #[test]
    fn input_from_another_thread_wakes_a_waiting_hart() {
        let mut machine = waiting_machine();
        machine.board().uart().set_input_open(true);
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
        machine.board().uart().set_input_open(true);
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
        machine.board().uart().set_input_open(true);
        let reason = run_with(&mut machine, |_, stop| {
            std::thread::sleep(Duration::from_millis(20));
            stop.request(StopReason::Stopped);
        });
        assert_eq!(reason, StopReason::Stopped);
        assert!(machine.board().uart().input_open());
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
        let state = machine.harts()[0].state();
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
        let state = machine.harts()[0].state();
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
            let woken: Vec<_> = machine.harts().iter().filter(|h| h.state().reg(A4) != 0).collect();
            assert!(!woken.is_empty(), "quantum {quantum}");
            for hart in woken {
                assert_eq!(hart.state().reg(A4), hart.state().reg(T2), "quantum {quantum}: woken at its deadline");
                assert_eq!(hart.state().csr.mcause, 0);
            }
        }
    }
}
