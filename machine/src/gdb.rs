//! The GDB remote stub, on the `gdbstub` crate: each hart is a GDB thread
//! (thread ID = hart ID + 1) in all-stop mode.
//!
//! - **Breakpoints** (`break`, `hbreak`) never touch guest memory: both
//!   kinds go to [`Machine::set_breakpoints`], which makes blocks end
//!   before them in both engines (see [`polyhart_iss::debug`]).
//!   **Watchpoints** (`watch`, `rwatch`, `awatch`) go to
//!   [`Machine::set_watchpoints`]: the hart stops before the access, as a
//!   RISC-V trigger does, and GDB steps over it. Both are applied as a whole
//!   when the harts resume. (The guest's own Sdtrig triggers are not built
//!   yet.)
//! - **Stepping** a hart runs one instruction of it in the interpreter while
//!   the other harts hold (as GDB's `set scheduler-locking step` would),
//!   with interrupts held off as QEMU does; an instruction that traps ends
//!   the step at its handler.
//! - **Continuing** runs the whole machine with its own runner (parallel or
//!   deterministic, either engine) until a hart reaches a breakpoint, the
//!   guest stops the machine, or GDB sends Ctrl-C; the other harts stop at
//!   their next block boundary.
//! - **Registers**: x, pc, f, the CSRs the hart has (read and written as
//!   M-mode would, whatever the hart's privilege) and `priv`, described to
//!   GDB by a target description built from the hart.
//! - **Memory** goes through the selected hart's current translation
//!   (`satp` walked without side effects); `monitor xp`/`monitor wp` reach
//!   physical memory. Only RAM is reached: device registers have side
//!   effects a debugger's look must not trigger.
//!
//! The stub drives the machine from the thread that called [`serve`]: the
//! machine runs inside it, and between runs it is stopped, which is what
//! the cosimulation layer's quanta would see too.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io;
use std::net::TcpStream;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gdbstub::arch::{Arch, RegId};
use gdbstub::common::{Signal, Tid};
use gdbstub::conn::ConnectionExt;
use gdbstub::outputln;
use gdbstub::stub::run_blocking::{self, BlockingEventLoop};
use gdbstub::stub::{DisconnectReason, GdbStub, MultiThreadStopReason};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadResume, MultiThreadResumeOps, MultiThreadSchedulerLocking,
    MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::base::single_register_access::{SingleRegisterAccess, SingleRegisterAccessOps};
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps, SwBreakpoint,
    SwBreakpointOps, WatchKind,
};
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::ext::target_description_xml_override::{
    TargetDescriptionXmlOverride, TargetDescriptionXmlOverrideOps,
};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::riscv::reg::RiscvCoreRegs;
use polyhart_iss::Privilege;
use polyhart_iss::csr::CsrName;
use polyhart_iss::debug::Watchpoint;

use crate::Machine;
use crate::boards::Board;
use crate::runner::StopReason;

/// How a debugging session ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// GDB detached, or its connection was lost: the machine may run on
    /// (its breakpoints are gone).
    Detached,
    /// GDB killed the target: the caller ends the machine.
    Killed,
    /// The machine stopped for good while GDB watched (the guest exited,
    /// say); GDB was told.
    Stopped(StopReason),
}

/// Serves GDB's remote protocol on `stream` for `machine`, which holds
/// until GDB resumes it. A guest reset ([`StopReason::Reset`]) reboots the
/// machine and goes on when `reboot` says so, as the CLI does without
/// `--no-reboot`.
pub fn serve<B: Board>(machine: &mut Machine<B>, stream: TcpStream, reboot: bool) -> io::Result<SessionEnd> {
    let mut debugged = Debugged::new(machine, reboot);
    let result = GdbStub::new(stream).run_blocking::<EventLoop<'_, B>>(&mut debugged);
    let end = match result {
        Ok(DisconnectReason::Disconnect) => SessionEnd::Detached,
        Ok(DisconnectReason::Kill) => SessionEnd::Killed,
        Ok(DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_)) => {
            SessionEnd::Stopped(debugged.ended.unwrap_or(StopReason::Stopped))
        }
        Err(error) if error.is_connection_error() => SessionEnd::Detached,
        Err(error) => {
            debugged.machine.set_breakpoints([]);
            return Err(io::Error::other(format!("the GDB session failed: {error}")));
        }
    };
    if end == SessionEnd::Detached {
        debugged.machine.set_breakpoints([]);
    }
    Ok(end)
}

/// RV64GC as GDB numbers its registers: x0-x31 are 0-31, pc 32, f0-f31
/// 33-64, CSR `n` 65 + n, and `priv` 4161; every one 8 bytes.
#[derive(Debug)]
enum Rv64 {}

impl Arch for Rv64 {
    type Usize = u64;
    type Registers = RiscvCoreRegs<u64>;
    type BreakpointKind = usize;
    type RegId = Reg;
}

/// A register as GDB numbers it (see [`Rv64`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Reg {
    X(u8),
    Pc,
    F(u8),
    Csr(u16),
    Priv,
}

/// GDB's number of CSR 0.
const FIRST_CSR: usize = 65;
/// GDB's number of the `priv` register.
const PRIV: usize = FIRST_CSR + 4096;

impl RegId for Reg {
    fn from_raw_id(id: usize) -> Option<(Reg, Option<NonZeroUsize>)> {
        let reg = match id {
            0..=31 => Reg::X(id as u8),
            32 => Reg::Pc,
            33..=64 => Reg::F((id - 33) as u8),
            FIRST_CSR..PRIV => Reg::Csr((id - FIRST_CSR) as u16),
            PRIV => Reg::Priv,
            _ => return None,
        };
        Some((reg, NonZeroUsize::new(8)))
    }
}

/// GDB's names of the integer registers, by number.
const X_NAMES: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1", "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "s2",
    "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
];

/// GDB's names of the floating-point registers, by number.
const F_NAMES: [&str; 32] = [
    "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1", "fa2", "fa3", "fa4", "fa5",
    "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
];

/// The target description: GDB's RISC-V features (cpu, fpu, csr, virtual)
/// with the CSRs that `csrs` lists.
fn target_description(csrs: &[u16]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n\
         <architecture>riscv:rv64</architecture>\n<feature name=\"org.gnu.gdb.riscv.cpu\">\n",
    );
    for (number, name) in X_NAMES.iter().enumerate() {
        let kind = match number {
            2 => "data_ptr",
            _ => "int",
        };
        let _ = writeln!(xml, "<reg name=\"{name}\" bitsize=\"64\" type=\"{kind}\" regnum=\"{number}\"/>");
    }
    xml += "<reg name=\"pc\" bitsize=\"64\" type=\"code_ptr\" regnum=\"32\"/>\n</feature>\n";
    xml += "<feature name=\"org.gnu.gdb.riscv.fpu\">\n<union id=\"riscv_double\">\
            <field name=\"float\" type=\"ieee_single\"/><field name=\"double\" type=\"ieee_double\"/></union>\n";
    for (number, name) in F_NAMES.iter().enumerate() {
        let _ = writeln!(xml, "<reg name=\"{name}\" bitsize=\"64\" type=\"riscv_double\" regnum=\"{}\"/>", 33 + number);
    }
    let fp_csrs = [polyhart_iss::csr::FFLAGS, polyhart_iss::csr::FRM, polyhart_iss::csr::FCSR];
    for &number in &fp_csrs {
        let _ = writeln!(
            xml,
            "<reg name=\"{}\" bitsize=\"64\" type=\"int\" regnum=\"{}\"/>",
            CsrName(number),
            FIRST_CSR + usize::from(number)
        );
    }
    xml += "</feature>\n<feature name=\"org.gnu.gdb.riscv.csr\">\n";
    for &number in csrs.iter().filter(|number| !fp_csrs.contains(number)) {
        let _ = writeln!(
            xml,
            "<reg name=\"{}\" bitsize=\"64\" type=\"int\" regnum=\"{}\" group=\"csr\"/>",
            CsrName(number),
            FIRST_CSR + usize::from(number)
        );
    }
    let _ = write!(
        xml,
        "</feature>\n<feature name=\"org.gnu.gdb.riscv.virtual\">\n\
         <reg name=\"priv\" bitsize=\"64\" type=\"int\" regnum=\"{PRIV}\"/>\n</feature>\n</target>\n"
    );
    xml
}

/// The machine under GDB, with what the session keeps.
struct Debugged<'m, B> {
    machine: &'m mut Machine<B>,
    /// Breakpoints GDB inserted (both kinds), applied at each resume.
    breakpoints: BTreeSet<u64>,
    /// Watchpoints GDB inserted, applied at each resume.
    watchpoints: Vec<Watchpoint>,
    /// Harts GDB asked to step in the coming resume (none: continue).
    steps: Vec<usize>,
    reboot: bool,
    /// The target description.
    xml: String,
    /// Why the machine stopped for good, once it did.
    ended: Option<StopReason>,
}

impl<'m, B: Board> Debugged<'m, B> {
    fn new(machine: &'m mut Machine<B>, reboot: bool) -> Debugged<'m, B> {
        let csrs: Vec<u16> = match machine.harts().first() {
            Some(hart) => (0..4096).filter(|&number| hart.debug_read_csr(number).is_some()).collect(),
            None => Vec::new(),
        };
        Debugged {
            machine,
            breakpoints: BTreeSet::new(),
            watchpoints: Vec::new(),
            steps: Vec::new(),
            reboot,
            xml: target_description(&csrs),
            ended: None,
        }
    }

    /// The hart of GDB thread `tid`.
    fn hart(&self, tid: Tid) -> Result<usize, TargetError<String>> {
        let index = tid.get() - 1;
        if index < self.machine.harts().len() { Ok(index) } else { Err(TargetError::NonFatal) }
    }

    /// Runs the machine until it stops, a hart reaches a breakpoint, or GDB
    /// sends something (the run is then paused): which of these comes back.
    fn run(&mut self, conn: &TcpStream) -> io::Result<Option<StopReason>> {
        let watcher = conn.try_clone()?;
        watcher.set_nonblocking(false)?;
        watcher.set_read_timeout(Some(Duration::from_millis(20)))?;
        let done = AtomicBool::new(false);
        let stop = self.machine.stop_signal().clone();
        let reason = std::thread::scope(|scope| {
            let watch = scope.spawn(|| {
                let mut byte = [0];
                while !done.load(Ordering::Acquire) {
                    match watcher.peek(&mut byte) {
                        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                        // Data, the end of the connection or its failure:
                        // the session loop reads it.
                        _ => {
                            stop.request_pause();
                            return;
                        }
                    }
                }
            });
            let reason = loop {
                match self.machine.run(None) {
                    StopReason::Reset if self.reboot => self.machine.reboot(),
                    reason => break reason,
                }
            };
            done.store(true, Ordering::Release);
            let _ = watch.join();
            reason
        });
        watcher.set_read_timeout(None)?;
        Ok((reason != StopReason::Paused).then_some(reason))
    }

    /// What GDB hears of a stop for `reason`.
    fn report(&mut self, reason: StopReason) -> MultiThreadStopReason<u64> {
        let thread = |hart: usize| Tid::new(hart + 1).expect("hart IDs start at 0");
        match reason {
            StopReason::Breakpoint { hart, .. } => MultiThreadStopReason::SwBreak(thread(hart)),
            StopReason::Watchpoint { hart, hit, .. } => MultiThreadStopReason::Watch {
                tid: thread(hart),
                kind: [WatchKind::Read, WatchKind::Write, WatchKind::ReadWrite]
                    .into_iter()
                    .find(|&kind| watch_kind(kind) == hit.watchpoint.kind)
                    .unwrap_or(WatchKind::ReadWrite),
                // The first watched byte the access touches.
                addr: hit.addr.max(hit.watchpoint.addr),
            },
            StopReason::TrapLoop { hart, .. } => {
                MultiThreadStopReason::SignalWithThread { tid: thread(hart), signal: Signal::SIGSEGV }
            }
            StopReason::JitDivergence { hart, .. } => {
                MultiThreadStopReason::SignalWithThread { tid: thread(hart), signal: Signal::SIGILL }
            }
            StopReason::Sync { hart } => {
                MultiThreadStopReason::SignalWithThread { tid: thread(hart), signal: Signal::SIGTRAP }
            }
            StopReason::Paused | StopReason::Horizon | StopReason::InstructionLimit | StopReason::Deadlock => {
                MultiThreadStopReason::SignalWithThread { tid: thread(0), signal: Signal::SIGINT }
            }
            StopReason::Exit(code) => {
                self.ended = Some(reason);
                MultiThreadStopReason::Exited(code as u8)
            }
            StopReason::Reset => {
                self.ended = Some(reason);
                MultiThreadStopReason::Exited(0)
            }
            StopReason::Stopped => {
                self.ended = Some(reason);
                MultiThreadStopReason::Terminated(Signal::SIGKILL)
            }
        }
    }

    /// Reads or writes guest memory at virtual `addr` through hart `hart`'s
    /// translation, page by page: how many bytes it reached (it stops at the
    /// first that is not mapped RAM).
    fn access(&self, hart: usize, addr: u64, len: usize, mut each: impl FnMut(u64, usize, usize) -> bool) -> usize {
        let hart = &self.machine.harts()[hart];
        let mut done = 0;
        while done < len {
            let vaddr = addr.wrapping_add(done as u64);
            let in_page = (4096 - (vaddr & 4095)) as usize;
            let chunk = in_page.min(len - done);
            match hart.debug_translate(vaddr) {
                Some(physical) if each(physical, done, chunk) => done += chunk,
                _ => break,
            }
        }
        done
    }
}

impl<B: Board> Target for Debugged<'_, B> {
    type Arch = Rv64;
    type Error = String;

    fn base_ops(&mut self) -> BaseOps<'_, Rv64, String> {
        BaseOps::MultiThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }

    fn support_target_description_xml_override(&mut self) -> Option<TargetDescriptionXmlOverrideOps<'_, Self>> {
        Some(self)
    }
}

impl<B: Board> MultiThreadBase for Debugged<'_, B> {
    fn read_registers(&mut self, regs: &mut RiscvCoreRegs<u64>, tid: Tid) -> TargetResult<(), Self> {
        let state = self.machine.harts()[self.hart(tid)?].state();
        regs.x = state.regs();
        regs.pc = state.pc;
        Ok(())
    }

    fn write_registers(&mut self, regs: &RiscvCoreRegs<u64>, tid: Tid) -> TargetResult<(), Self> {
        let index = self.hart(tid)?;
        let state = self.machine.harts_mut()[index].state_mut();
        for (number, &value) in regs.x.iter().enumerate().skip(1) {
            state.set_reg(number as u8, value);
        }
        state.pc = regs.pc;
        Ok(())
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, Tid, Self>> {
        Some(self)
    }

    fn read_addrs(&mut self, start_addr: u64, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        let hart = self.hart(tid)?;
        let machine = &*self.machine;
        let len = data.len();
        let done = self.access(hart, start_addr, len, |physical, at, chunk| {
            machine.read_memory(physical, &mut data[at..at + chunk])
        });
        if done == 0 && len > 0 { Err(TargetError::NonFatal) } else { Ok(done) }
    }

    fn write_addrs(&mut self, start_addr: u64, data: &[u8], tid: Tid) -> TargetResult<(), Self> {
        let hart = self.hart(tid)?;
        let machine = &*self.machine;
        let done = self.access(hart, start_addr, data.len(), |physical, at, chunk| {
            machine.write_memory(physical, &data[at..at + chunk])
        });
        if done == data.len() { Ok(()) } else { Err(TargetError::NonFatal) }
    }

    fn list_active_threads(&mut self, register_thread: &mut dyn FnMut(Tid)) -> Result<(), String> {
        for index in 0..self.machine.harts().len() {
            register_thread(Tid::new(index + 1).expect("hart IDs start at 0"));
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl<B: Board> SingleRegisterAccess<Tid> for Debugged<'_, B> {
    fn read_register(&mut self, tid: Tid, reg: Reg, buf: &mut [u8]) -> TargetResult<usize, Self> {
        let hart = &self.machine.harts()[self.hart(tid)?];
        let state = hart.state();
        let value = match reg {
            Reg::X(number) => state.reg(number),
            Reg::Pc => state.pc,
            Reg::F(number) => state.freg(number),
            Reg::Csr(number) => hart.debug_read_csr(number).ok_or(TargetError::NonFatal)?,
            Reg::Priv => state.privilege as u64,
        };
        let bytes = value.to_le_bytes();
        let len = buf.len().min(8);
        buf[..len].copy_from_slice(&bytes[..len]);
        Ok(len)
    }

    fn write_register(&mut self, tid: Tid, reg: Reg, val: &[u8]) -> TargetResult<(), Self> {
        let index = self.hart(tid)?;
        let mut bytes = [0; 8];
        let len = val.len().min(8);
        bytes[..len].copy_from_slice(&val[..len]);
        let value = u64::from_le_bytes(bytes);
        let hart = &mut self.machine.harts_mut()[index];
        match reg {
            Reg::X(number) => hart.state_mut().set_reg(number, value),
            Reg::Pc => hart.state_mut().pc = value,
            Reg::F(number) => hart.state_mut().set_freg(number, value),
            Reg::Csr(number) => {
                if !hart.debug_write_csr(number, value) {
                    return Err(TargetError::NonFatal);
                }
            }
            Reg::Priv => {
                let privilege = Privilege::from_bits(value).ok_or(TargetError::NonFatal)?;
                hart.debug_set_privilege(privilege);
            }
        }
        Ok(())
    }
}

impl<B: Board> MultiThreadResume for Debugged<'_, B> {
    fn resume(&mut self) -> Result<(), String> {
        self.machine.set_breakpoints(self.breakpoints.iter().copied());
        self.machine.set_watchpoints(self.watchpoints.iter().copied());
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), String> {
        self.steps.clear();
        Ok(())
    }

    // Signals GDB passes on are not delivered: a hart has no signals, and
    // GDB passes none of its own stops' (SIGTRAP, SIGINT) by default.
    fn set_resume_action_continue(&mut self, _tid: Tid, _signal: Option<Signal>) -> Result<(), String> {
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }
}

// The harts GDB does not name hold: a step moves its own hart alone
// anyway, and a continue runs the whole machine (its runner has no way to
// run some harts and hold others).
impl<B: Board> MultiThreadSchedulerLocking for Debugged<'_, B> {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), String> {
        Ok(())
    }
}

impl<B: Board> MultiThreadSingleStep for Debugged<'_, B> {
    fn set_resume_action_step(&mut self, tid: Tid, _signal: Option<Signal>) -> Result<(), String> {
        let hart = self.hart(tid).map_err(|_| format!("no hart for thread {tid}"))?;
        self.steps.push(hart);
        Ok(())
    }
}

impl<B: Board> Breakpoints for Debugged<'_, B> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl<B: Board> HwWatchpoint for Debugged<'_, B> {
    fn add_hw_watchpoint(&mut self, addr: u64, len: u64, kind: WatchKind) -> TargetResult<bool, Self> {
        self.watchpoints.push(Watchpoint { addr, len: len.max(1), kind: watch_kind(kind) });
        Ok(true)
    }

    fn remove_hw_watchpoint(&mut self, addr: u64, len: u64, kind: WatchKind) -> TargetResult<bool, Self> {
        let wanted = Watchpoint { addr, len: len.max(1), kind: watch_kind(kind) };
        match self.watchpoints.iter().position(|&w| w == wanted) {
            Some(at) => {
                self.watchpoints.remove(at);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl<B: Board> SwBreakpoint for Debugged<'_, B> {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.breakpoints.insert(addr);
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.breakpoints.remove(&addr))
    }
}

impl<B: Board> HwBreakpoint for Debugged<'_, B> {
    fn add_hw_breakpoint(&mut self, addr: u64, kind: usize) -> TargetResult<bool, Self> {
        self.add_sw_breakpoint(addr, kind)
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, kind: usize) -> TargetResult<bool, Self> {
        self.remove_sw_breakpoint(addr, kind)
    }
}

impl<B: Board> TargetDescriptionXmlOverride for Debugged<'_, B> {
    fn target_description_xml(
        &self,
        annex: &[u8],
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        if annex != b"target.xml" {
            return Err(TargetError::NonFatal);
        }
        let xml = self.xml.as_bytes();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(xml.len());
        let len = length.min(buf.len()).min(xml.len() - start);
        buf[..len].copy_from_slice(&xml[start..start + len]);
        Ok(len)
    }
}

/// polyhart's kind of watchpoint for GDB's.
fn watch_kind(kind: WatchKind) -> polyhart_iss::debug::WatchKind {
    match kind {
        WatchKind::Read => polyhart_iss::debug::WatchKind::Read,
        WatchKind::Write => polyhart_iss::debug::WatchKind::Write,
        WatchKind::ReadWrite => polyhart_iss::debug::WatchKind::Access,
    }
}

/// What `monitor help` prints.
const MONITOR_HELP: &str = "polyhart monitor commands:\n\
    \x20 info harts          each hart's pc, privilege and state\n\
    \x20 reset               reset the machine (devices, images, every hart)\n\
    \x20 xp ADDR [LEN]       read LEN bytes (default 16) of physical memory\n\
    \x20 wp ADDR HEXBYTES    write bytes to physical memory";

impl<B: Board> MonitorCmd for Debugged<'_, B> {
    fn handle_monitor_cmd(&mut self, cmd: &[u8], mut out: ConsoleOutput<'_>) -> Result<(), String> {
        let text = String::from_utf8_lossy(cmd);
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["info", "harts"] => {
                for (index, hart) in self.machine.harts().iter().enumerate() {
                    let state = hart.state();
                    let activity = if state.waiting { "waiting in wfi" } else { "running" };
                    outputln!(
                        out,
                        "hart {index} (thread {}): pc {:#x}, {:?} mode, {activity}, {} instructions retired",
                        index + 1,
                        state.pc,
                        state.privilege,
                        state.retired
                    );
                }
            }
            ["reset"] => {
                self.machine.reboot();
                outputln!(out, "the machine was reset");
            }
            ["xp", addr, rest @ ..] if rest.len() <= 1 => {
                let (Some(addr), Some(len)) =
                    (parse_number(addr), rest.first().map_or(Some(16), |len| parse_number(len)))
                else {
                    outputln!(out, "usage: xp ADDR [LEN]");
                    return Ok(());
                };
                let len = len.min(4096) as usize;
                let mut bytes = vec![0; len];
                if !self.machine.read_memory(addr, &mut bytes) {
                    outputln!(out, "{addr:#x}..+{len:#x} is not all RAM");
                    return Ok(());
                }
                for (row, chunk) in bytes.chunks(16).enumerate() {
                    let hex: Vec<String> = chunk.iter().map(|byte| format!("{byte:02x}")).collect();
                    outputln!(out, "{:#018x}: {}", addr + 16 * row as u64, hex.join(" "));
                }
            }
            ["wp", addr, hex] => {
                let bytes = parse_hex(hex);
                match (parse_number(addr), bytes) {
                    (Some(addr), Some(bytes)) if self.machine.write_memory(addr, &bytes) => {
                        outputln!(out, "wrote {} bytes at {addr:#x}", bytes.len());
                    }
                    (Some(addr), Some(bytes)) => outputln!(out, "{addr:#x}..+{:#x} is not all RAM", bytes.len()),
                    _ => outputln!(out, "usage: wp ADDR HEXBYTES (say, wp 0x80001000 deadbeef)"),
                }
            }
            _ => outputln!(out, "{MONITOR_HELP}"),
        }
        Ok(())
    }
}

/// A number as GDB users write them: decimal, or hexadecimal after `0x`.
fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Bytes written as hexadecimal digits, two a byte.
fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok()).collect()
}

/// The session's event loop: runs the machine between GDB's commands.
struct EventLoop<'m, B>(std::marker::PhantomData<&'m mut B>);

impl<'m, B: Board> BlockingEventLoop for EventLoop<'m, B> {
    type Target = Debugged<'m, B>;
    type Connection = TcpStream;
    type StopReason = MultiThreadStopReason<u64>;

    #[allow(clippy::type_complexity)]
    fn wait_for_stop_reason(
        target: &mut Debugged<'m, B>,
        conn: &mut TcpStream,
    ) -> Result<run_blocking::Event<MultiThreadStopReason<u64>>, run_blocking::WaitForStopReasonError<String, io::Error>>
    {
        use run_blocking::{Event, WaitForStopReasonError};
        let steps = std::mem::take(&mut target.steps);
        if let Some(&first) = steps.first() {
            for &hart in &steps {
                if let Some(reason) = target.machine.step_hart(hart) {
                    return Ok(Event::TargetStopped(target.report(reason)));
                }
            }
            let tid = Tid::new(first + 1).expect("hart IDs start at 0");
            return Ok(Event::TargetStopped(MultiThreadStopReason::SignalWithThread { tid, signal: Signal::SIGTRAP }));
        }
        loop {
            match target.run(conn).map_err(WaitForStopReasonError::Connection)? {
                Some(reason) => return Ok(Event::TargetStopped(target.report(reason))),
                None => {
                    if conn.peek().map_err(WaitForStopReasonError::Connection)?.is_some() {
                        let byte = conn.read().map_err(WaitForStopReasonError::Connection)?;
                        return Ok(Event::IncomingData(byte));
                    }
                }
            }
        }
    }

    fn on_interrupt(_target: &mut Debugged<'m, B>) -> Result<Option<MultiThreadStopReason<u64>>, String> {
        let tid = Tid::new(1).expect("nonzero");
        Ok(Some(MultiThreadStopReason::SignalWithThread { tid, signal: Signal::SIGINT }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_numbered_as_gdb_numbers_them() {
        let reg = |id| Reg::from_raw_id(id).map(|(reg, _)| reg);
        assert_eq!(reg(0), Some(Reg::X(0)));
        assert_eq!(reg(32), Some(Reg::Pc));
        assert_eq!(reg(33), Some(Reg::F(0)));
        assert_eq!(reg(64), Some(Reg::F(31)));
        assert_eq!(reg(65 + 0x300), Some(Reg::Csr(0x300)));
        assert_eq!(reg(4161), Some(Reg::Priv));
        assert_eq!(reg(4162), None);
    }

    #[test]
    fn monitor_numbers_and_bytes_parse() {
        assert_eq!(parse_number("0x80000000"), Some(0x8000_0000));
        assert_eq!(parse_number("16"), Some(16));
        assert_eq!(parse_number("zz"), None);
        assert_eq!(parse_hex("deadbeef"), Some(vec![0xde, 0xad, 0xbe, 0xef]));
        assert_eq!(parse_hex("abc"), None);
    }
}
