//! The stub's side of a GDB session: GDB's remote protocol through
//! `gdbstub`, on a thread of its own, with a target that forwards what it
//! needs of the machine to the thread that drives it (see [`super`]).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io;
use std::net::TcpStream;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
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
use polyhart_iss::csr::CsrName;
use polyhart_iss::debug::Watchpoint;

use super::{Event, Reg, Reply, Request};
use crate::runner::{StopReason, StopSignal};

/// RV64GC as GDB numbers its registers: x0-x31 are 0-31, pc 32, f0-f31
/// 33-64, CSR `n` 65 + n, and `priv` 4161; every one 8 bytes.
#[derive(Debug)]
pub(super) enum Rv64 {}

impl Arch for Rv64 {
    type Usize = u64;
    type Registers = RiscvCoreRegs<u64>;
    type BreakpointKind = usize;
    type RegId = Reg;
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

/// The channels between the stub's thread and the machine's.
pub(super) struct Channels {
    pub(super) requests: Sender<Request>,
    pub(super) replies: Receiver<Reply>,
    pub(super) events: Receiver<Event>,
}

/// The target GDB sees: the machine, reached through [`Channels`].
pub(super) struct Proxy {
    channels: Channels,
    harts: usize,
    /// The target description.
    xml: String,
    /// To pause the machine for GDB's Ctrl-C.
    stop: Arc<StopSignal>,
    /// Set before that pause (see [`super::DebugPort::wants`]).
    interrupted: Arc<AtomicBool>,
    /// Breakpoints GDB inserted (both kinds), applied at each resume.
    breakpoints: BTreeSet<u64>,
    /// Watchpoints GDB inserted, applied at each resume.
    watchpoints: Vec<Watchpoint>,
    /// Harts GDB asked to step in the coming resume (none: continue).
    steps: Vec<usize>,
}

impl Proxy {
    pub(super) fn new(
        channels: Channels,
        harts: usize,
        csrs: &[u16],
        stop: Arc<StopSignal>,
        interrupted: Arc<AtomicBool>,
    ) -> Proxy {
        Proxy {
            channels,
            harts,
            xml: target_description(csrs),
            stop,
            interrupted,
            breakpoints: BTreeSet::new(),
            watchpoints: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Speaks GDB's protocol on `stream` until GDB goes; then tells the
    /// machine's thread how it went.
    pub(super) fn serve(mut self, stream: TcpStream) {
        let end = GdbStub::new(stream).run_blocking::<EventLoop>(&mut self);
        let last = match end {
            Ok(DisconnectReason::Kill) => Some(Request::Kill),
            // The machine ended: nobody serves requests any more.
            Ok(DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_)) => None,
            Ok(DisconnectReason::Disconnect) | Err(_) => Some(Request::Detach),
        };
        if let Some(request) = last {
            let _ = self.channels.requests.send(request);
        }
    }

    /// Asks the machine's thread, and waits for its answer.
    fn ask(&self, request: Request) -> Result<Reply, TargetError<String>> {
        self.channels.requests.send(request).map_err(|_| TargetError::Fatal("the machine is gone".to_string()))?;
        self.channels.replies.recv().map_err(|_| TargetError::Fatal("the machine is gone".to_string()))
    }

    /// The hart of GDB thread `tid`.
    fn hart(&self, tid: Tid) -> Result<usize, TargetError<String>> {
        let index = tid.get() - 1;
        if index < self.harts { Ok(index) } else { Err(TargetError::NonFatal) }
    }
}

/// GDB's thread of hart `hart`.
fn thread(hart: usize) -> Tid {
    Tid::new(hart + 1).expect("hart IDs start at 0")
}

/// What GDB hears of a stop for `reason`.
fn report(reason: StopReason) -> MultiThreadStopReason<u64> {
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
        StopReason::Exit(code) => MultiThreadStopReason::Exited(code as u8),
        StopReason::Reset => MultiThreadStopReason::Exited(0),
        StopReason::Stopped => MultiThreadStopReason::Terminated(Signal::SIGKILL),
    }
}

impl Target for Proxy {
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

impl MultiThreadBase for Proxy {
    fn read_registers(&mut self, regs: &mut RiscvCoreRegs<u64>, tid: Tid) -> TargetResult<(), Self> {
        match self.ask(Request::Registers(self.hart(tid)?))? {
            Reply::Registers(x, pc) => {
                regs.x = *x;
                regs.pc = pc;
                Ok(())
            }
            _ => Err(TargetError::NonFatal),
        }
    }

    fn write_registers(&mut self, regs: &RiscvCoreRegs<u64>, tid: Tid) -> TargetResult<(), Self> {
        match self.ask(Request::SetRegisters(self.hart(tid)?, Box::new(regs.x), regs.pc))? {
            Reply::Done(true) => Ok(()),
            _ => Err(TargetError::NonFatal),
        }
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, Tid, Self>> {
        Some(self)
    }

    fn read_addrs(&mut self, start_addr: u64, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        match self.ask(Request::Read(self.hart(tid)?, start_addr, data.len()))? {
            Reply::Bytes(bytes) if !bytes.is_empty() || data.is_empty() => {
                data[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            _ => Err(TargetError::NonFatal),
        }
    }

    fn write_addrs(&mut self, start_addr: u64, data: &[u8], tid: Tid) -> TargetResult<(), Self> {
        match self.ask(Request::Write(self.hart(tid)?, start_addr, data.to_vec()))? {
            Reply::Done(true) => Ok(()),
            _ => Err(TargetError::NonFatal),
        }
    }

    fn list_active_threads(&mut self, register_thread: &mut dyn FnMut(Tid)) -> Result<(), String> {
        for hart in 0..self.harts {
            register_thread(thread(hart));
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleRegisterAccess<Tid> for Proxy {
    fn read_register(&mut self, tid: Tid, reg: Reg, buf: &mut [u8]) -> TargetResult<usize, Self> {
        match self.ask(Request::Register(self.hart(tid)?, reg))? {
            Reply::Value(Some(value)) => {
                let len = buf.len().min(8);
                buf[..len].copy_from_slice(&value.to_le_bytes()[..len]);
                Ok(len)
            }
            _ => Err(TargetError::NonFatal),
        }
    }

    fn write_register(&mut self, tid: Tid, reg: Reg, val: &[u8]) -> TargetResult<(), Self> {
        let mut bytes = [0; 8];
        let len = val.len().min(8);
        bytes[..len].copy_from_slice(&val[..len]);
        match self.ask(Request::SetRegister(self.hart(tid)?, reg, u64::from_le_bytes(bytes)))? {
            Reply::Done(true) => Ok(()),
            _ => Err(TargetError::NonFatal),
        }
    }
}

impl MultiThreadResume for Proxy {
    fn resume(&mut self) -> Result<(), String> {
        let request = Request::Resume {
            breakpoints: self.breakpoints.iter().copied().collect(),
            watchpoints: self.watchpoints.clone(),
            steps: std::mem::take(&mut self.steps),
        };
        self.channels.requests.send(request).map_err(|_| "the machine is gone".to_string())
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
impl MultiThreadSchedulerLocking for Proxy {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), String> {
        Ok(())
    }
}

impl MultiThreadSingleStep for Proxy {
    fn set_resume_action_step(&mut self, tid: Tid, _signal: Option<Signal>) -> Result<(), String> {
        let hart = self.hart(tid).map_err(|_| format!("no hart for thread {tid}"))?;
        self.steps.push(hart);
        Ok(())
    }
}

impl Breakpoints for Proxy {
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

impl SwBreakpoint for Proxy {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.breakpoints.insert(addr);
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.breakpoints.remove(&addr))
    }
}

impl HwBreakpoint for Proxy {
    fn add_hw_breakpoint(&mut self, addr: u64, kind: usize) -> TargetResult<bool, Self> {
        self.add_sw_breakpoint(addr, kind)
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, kind: usize) -> TargetResult<bool, Self> {
        self.remove_sw_breakpoint(addr, kind)
    }
}

impl HwWatchpoint for Proxy {
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

/// polyhart's kind of watchpoint for GDB's.
fn watch_kind(kind: WatchKind) -> polyhart_iss::debug::WatchKind {
    match kind {
        WatchKind::Read => polyhart_iss::debug::WatchKind::Read,
        WatchKind::Write => polyhart_iss::debug::WatchKind::Write,
        WatchKind::ReadWrite => polyhart_iss::debug::WatchKind::Access,
    }
}

impl TargetDescriptionXmlOverride for Proxy {
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

impl MonitorCmd for Proxy {
    fn handle_monitor_cmd(&mut self, cmd: &[u8], mut out: ConsoleOutput<'_>) -> Result<(), String> {
        let line = String::from_utf8_lossy(cmd).into_owned();
        match self.ask(Request::Monitor(line)) {
            Ok(Reply::Text(text)) => {
                for line in text.lines() {
                    outputln!(out, "{line}");
                }
                Ok(())
            }
            _ => Err("the machine is gone".to_string()),
        }
    }
}

/// The session's event loop: waits for the machine's thread to report a
/// stop, and turns GDB's Ctrl-C into a pause of the machine.
enum EventLoop {}

impl BlockingEventLoop for EventLoop {
    type Target = Proxy;
    type Connection = TcpStream;
    type StopReason = MultiThreadStopReason<u64>;

    #[allow(clippy::type_complexity)]
    fn wait_for_stop_reason(
        target: &mut Proxy,
        conn: &mut TcpStream,
    ) -> Result<run_blocking::Event<MultiThreadStopReason<u64>>, run_blocking::WaitForStopReasonError<String, io::Error>>
    {
        use run_blocking::{Event as Loop, WaitForStopReasonError};
        /// How often the connection is looked at while the machine runs.
        const POLL: Duration = Duration::from_millis(20);
        loop {
            match target.channels.events.recv_timeout(POLL) {
                Ok(Event::Stepped(hart)) => {
                    let stop = MultiThreadStopReason::SignalWithThread { tid: thread(hart), signal: Signal::SIGTRAP };
                    return Ok(Loop::TargetStopped(stop));
                }
                // The pause GDB's Ctrl-C asked for: its byte, for gdbstub.
                Ok(Event::Stopped(StopReason::Paused))
                    if conn.peek().map_err(WaitForStopReasonError::Connection)?.is_some() =>
                {
                    let byte = conn.read().map_err(WaitForStopReasonError::Connection)?;
                    return Ok(Loop::IncomingData(byte));
                }
                Ok(Event::Stopped(reason)) => return Ok(Loop::TargetStopped(report(reason))),
                Err(RecvTimeoutError::Timeout) => {
                    if !target.interrupted.load(Ordering::Acquire)
                        && conn.peek().map_err(WaitForStopReasonError::Connection)?.is_some()
                    {
                        target.interrupted.store(true, Ordering::Release);
                        target.stop.request_pause();
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(WaitForStopReasonError::Target("the machine is gone".to_string()));
                }
            }
        }
    }

    fn on_interrupt(_target: &mut Proxy) -> Result<Option<MultiThreadStopReason<u64>>, String> {
        Ok(Some(MultiThreadStopReason::SignalWithThread { tid: thread(0), signal: Signal::SIGINT }))
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
    fn the_target_description_names_the_csrs_it_is_given() {
        let xml = target_description(&[0x300, 0x7a0]);
        assert!(xml.contains("name=\"mstatus\"") && xml.contains(&format!("regnum=\"{}\"", 65 + 0x300)));
        assert!(xml.contains("name=\"tselect\"") && xml.contains("name=\"priv\""));
        assert!(xml.contains("name=\"fcsr\"") && xml.contains("org.gnu.gdb.riscv.fpu"));
    }
}
