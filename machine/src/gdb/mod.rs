//! The GDB remote stub, on the `gdbstub` crate: each hart is a GDB thread
//! (thread ID = hart ID + 1) in all-stop mode.
//!
//! - **Breakpoints** (`break`, `hbreak`) never touch guest memory: both
//!   kinds go to [`Machine::set_breakpoints`], which makes blocks end
//!   before them in both engines (see [`polyhart_iss::debug`]).
//!   **Watchpoints** (`watch`, `rwatch`, `awatch`) go to
//!   [`Machine::set_watchpoints`]: the hart stops before the access, as a
//!   RISC-V trigger does, and GDB steps over it. Both are applied as a whole
//!   when the harts resume. (They are the debugger's own: the guest's Sdtrig
//!   triggers are separate.)
//! - **Stepping** a hart runs one instruction of it in the interpreter while
//!   the other harts hold (as GDB's `set scheduler-locking step` would),
//!   with interrupts held off as QEMU does; an instruction that traps ends
//!   the step at its handler.
//! - **Continuing** hands the machine back to whoever drives it (the CLI's
//!   run loop, or a cosimulation's `advance`), which runs it with its own
//!   runner until a hart reaches a breakpoint or watchpoint, GDB sends
//!   Ctrl-C, or the guest stops the machine; the other harts stop at their
//!   next block boundary.
//! - **Registers**: x, pc, f, the CSRs the hart has (read and written as
//!   M-mode would, whatever the hart's privilege) and `priv`, described to
//!   GDB by a target description built from the hart.
//! - **Memory** goes through the selected hart's current translation
//!   (`satp` walked without side effects); `monitor xp`/`monitor wp` reach
//!   physical memory. Only RAM is reached: device registers have side
//!   effects a debugger's look must not trigger.
//!
//! Two threads share the work. A thread of the stub's own speaks GDB's
//! protocol (`proxy.rs`): each request that needs the machine goes over a
//! channel to the thread that drives the machine, which serves requests
//! while the machine is stopped ([`DebugPort::stopped`]) and runs the
//! machine between them. The driver keeps the machine to itself, so the
//! same port serves the CLI, which runs the machine as fast as it goes,
//! and the cosimulation layer, where a stop freezes simulated time inside
//! the outside simulator's `advance`.

mod proxy;

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};

use polyhart_iss::Privilege;
use polyhart_iss::debug::Watchpoint;

use crate::Machine;
use crate::boards::Board;
use crate::runner::StopReason;

/// What a driver does after [`DebugPort::stopped`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Resumed {
    /// GDB resumed the machine: run it (the breakpoints and watchpoints
    /// GDB wants are set).
    Running,
    /// GDB detached, or its connection is gone: run on without it (its
    /// breakpoints and watchpoints are removed).
    Detached,
    /// GDB killed the target: end the machine.
    Killed,
}

/// A register as GDB numbers it: x0-x31 are 0-31, pc 32, f0-f31 33-64, CSR
/// `n` 65 + n, and `priv` 4161.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Reg {
    X(u8),
    Pc,
    F(u8),
    Csr(u16),
    Priv,
}

/// What the stub's thread asks of the machine's.
#[derive(Debug)]
enum Request {
    /// Hart `.0`'s x registers and pc.
    Registers(usize),
    SetRegisters(usize, Box<[u64; 32]>, u64),
    Register(usize, Reg),
    SetRegister(usize, Reg, u64),
    /// Bytes at a virtual address, through the hart's translation.
    Read(usize, u64, usize),
    Write(usize, u64, Vec<u8>),
    /// A `monitor` command line.
    Monitor(String),
    /// Run on with these breakpoints and watchpoints, stepping these harts
    /// first (a step is reported, and the machine stays stopped).
    Resume {
        breakpoints: Vec<u64>,
        watchpoints: Vec<Watchpoint>,
        steps: Vec<usize>,
    },
    Detach,
    Kill,
}

/// The machine's answer to a [`Request`].
#[derive(Debug)]
enum Reply {
    Registers(Box<[u64; 32]>, u64),
    /// A register's value, or none for one the hart does not have.
    Value(Option<u64>),
    /// The bytes read, as many as were mapped RAM.
    Bytes(Vec<u8>),
    /// Whether the request did what it asked.
    Done(bool),
    Text(String),
}

/// What the machine's thread tells the stub's, unasked.
#[derive(Debug)]
enum Event {
    /// The machine stopped (a breakpoint, a watchpoint, GDB's Ctrl-C, or
    /// for good).
    Stopped(StopReason),
    /// The harts GDB asked to step did, the first of them this one.
    Stepped(usize),
}

/// The driver's side of a GDB connection: what the thread that runs a
/// machine calls when the machine stops (see the module's documentation).
#[derive(Debug)]
pub struct DebugPort {
    requests: Receiver<Request>,
    replies: Sender<Reply>,
    events: Sender<Event>,
    /// Set by the stub's thread when GDB sent Ctrl-C, before it pauses the
    /// machine: a pause is then GDB's.
    interrupted: Arc<AtomicBool>,
    /// The stub's thread, to wait for at the end.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DebugPort {
    /// Starts serving GDB's protocol on `stream` for `machine`, from a
    /// thread of its own. The machine is GDB's to look at only inside
    /// [`DebugPort::stopped`]: call it at once to hold the machine until
    /// GDB continues it (QEMU's `-S`), or when the machine stops for GDB.
    pub fn start<B: Board>(machine: &Machine<B>, stream: TcpStream) -> io::Result<DebugPort> {
        let (request_sender, requests) = mpsc::channel();
        let (replies, reply_receiver) = mpsc::channel();
        let (events, event_receiver) = mpsc::channel();
        let interrupted = Arc::new(AtomicBool::new(false));
        let csrs: Vec<u16> = match machine.harts().first() {
            Some(hart) => (0..4096).filter(|&number| hart.debug_read_csr(number).is_some()).collect(),
            None => Vec::new(),
        };
        let proxy = proxy::Proxy::new(
            proxy::Channels { requests: request_sender, replies: reply_receiver, events: event_receiver },
            machine.harts().len(),
            &csrs,
            machine.stop_signal().clone(),
            interrupted.clone(),
        );
        let thread =
            std::thread::Builder::new().name("polyhart-gdb-session".into()).spawn(move || proxy.serve(stream))?;
        Ok(DebugPort { requests, replies, events, interrupted, thread: Some(thread) })
    }

    /// Whether GDB wants to hear of a run that stopped for `reason`: a
    /// breakpoint, a watchpoint, or the pause its Ctrl-C asked for.
    pub fn wants(&self, reason: StopReason) -> bool {
        match reason {
            StopReason::Breakpoint { .. } | StopReason::Watchpoint { .. } => true,
            StopReason::Paused => self.interrupted.load(Ordering::Acquire),
            _ => false,
        }
    }

    /// The machine stopped for `reason` (`None`: it has not run yet, or
    /// stopped for no reason GDB needs to hear): tells GDB, and serves its
    /// requests until it resumes the machine, detaches or kills it.
    pub fn stopped<B: Board>(&mut self, machine: &mut Machine<B>, reason: Option<StopReason>) -> Resumed {
        if let Some(reason) = reason {
            self.interrupted.store(false, Ordering::Release);
            // A stub gone already: the next request's absence says so.
            let _ = self.events.send(Event::Stopped(reason));
        }
        loop {
            // The stub's thread is gone (the connection failed): detached.
            let request = self.requests.recv().unwrap_or(Request::Detach);
            let reply = match request {
                Request::Resume { breakpoints, watchpoints, steps } => {
                    machine.set_breakpoints(breakpoints);
                    machine.set_watchpoints(watchpoints);
                    let Some(&first) = steps.first() else { return Resumed::Running };
                    let stop = steps.iter().find_map(|&hart| machine.step_hart(hart));
                    self.interrupted.store(false, Ordering::Release);
                    let _ = self.events.send(stop.map_or(Event::Stepped(first), Event::Stopped));
                    continue;
                }
                Request::Detach => {
                    machine.set_breakpoints([]);
                    machine.set_watchpoints([]);
                    return Resumed::Detached;
                }
                Request::Kill => return Resumed::Killed,
                request => answer(machine, request),
            };
            if self.replies.send(reply).is_err() {
                machine.set_breakpoints([]);
                machine.set_watchpoints([]);
                return Resumed::Detached;
            }
        }
    }

    /// Whether GDB has gone while the machine ran (its connection closed or
    /// failed): the driver drops the port, and the breakpoints and
    /// watchpoints GDB left.
    pub fn is_closed(&self) -> bool {
        self.thread.as_ref().is_none_or(|thread| thread.is_finished())
    }

    /// The machine stopped for good (`reason`, say the guest's exit): GDB is
    /// told, and the session ends (this waits until GDB has heard).
    pub fn ended(&mut self, reason: StopReason) {
        let _ = self.events.send(Event::Stopped(reason));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A driver's GDB session, if one is attached: what the CLI's run loop and
/// the cosimulation keep beside their machine, so that each run's stop goes
/// through [`Debugger::after_run`].
#[derive(Debug, Default)]
pub struct Debugger {
    port: Option<DebugPort>,
}

impl Debugger {
    /// Whether a live session is attached.
    pub fn is_attached(&self) -> bool {
        self.port.as_ref().is_some_and(|port| !port.is_closed())
    }

    /// Attaches GDB on `stream` and holds `machine` until GDB continues it.
    /// A session already attached keeps the machine: the newcomer's
    /// connection is closed. A kill stops the machine
    /// ([`StopReason::Stopped`] at its next run).
    pub fn attach<B: Board>(&mut self, machine: &mut Machine<B>, stream: TcpStream) -> io::Result<()> {
        if self.is_attached() {
            return Ok(());
        }
        self.forget_closed(machine);
        let mut port = DebugPort::start(machine, stream)?;
        let resumed = port.stopped(machine, None);
        self.resumed(machine, resumed, port);
        Ok(())
    }

    /// What a run that stopped for `reason` is to the driver: `None` when
    /// the stop was GDB's (it held the machine, and resumed it: run again);
    /// else `reason`, and GDB hears of it when it ends the machine.
    pub fn after_run<B: Board>(&mut self, machine: &mut Machine<B>, reason: StopReason) -> Option<StopReason> {
        self.forget_closed(machine);
        let Some(mut port) = self.port.take() else { return Some(reason) };
        if port.wants(reason) {
            let resumed = port.stopped(machine, Some(reason));
            self.resumed(machine, resumed, port);
            return None;
        }
        // The machine may run on after these: the session stays.
        if reason.is_transient() || matches!(reason, StopReason::Horizon | StopReason::InstructionLimit) {
            self.port = Some(port);
        } else {
            port.ended(reason);
        }
        Some(reason)
    }

    /// Keeps `port` if GDB resumed the machine; a kill stops it.
    fn resumed<B: Board>(&mut self, machine: &Machine<B>, resumed: Resumed, port: DebugPort) {
        match resumed {
            Resumed::Running => self.port = Some(port),
            Resumed::Detached => {}
            Resumed::Killed => machine.stop_signal().request(StopReason::Stopped),
        }
    }

    /// Drops a session whose GDB went away while the machine ran, with the
    /// breakpoints and watchpoints it left.
    fn forget_closed<B: Board>(&mut self, machine: &mut Machine<B>) {
        if self.port.as_ref().is_some_and(DebugPort::is_closed) {
            self.port = None;
            machine.set_breakpoints([]);
            machine.set_watchpoints([]);
        }
    }
}

/// Does what `request` asks of `machine`'s harts and memory.
fn answer<B: Board>(machine: &mut Machine<B>, request: Request) -> Reply {
    match request {
        Request::Registers(hart) => {
            let state = machine.harts()[hart].state();
            Reply::Registers(Box::new(state.regs()), state.pc)
        }
        Request::SetRegisters(hart, x, pc) => {
            let state = machine.harts_mut()[hart].state_mut();
            for (number, &value) in x.iter().enumerate().skip(1) {
                state.set_reg(number as u8, value);
            }
            state.pc = pc;
            Reply::Done(true)
        }
        Request::Register(hart, reg) => {
            let hart = &machine.harts()[hart];
            let state = hart.state();
            Reply::Value(match reg {
                Reg::X(number) => Some(state.reg(number)),
                Reg::Pc => Some(state.pc),
                Reg::F(number) => Some(state.freg(number)),
                Reg::Csr(number) => hart.debug_read_csr(number),
                Reg::Priv => Some(state.privilege as u64),
            })
        }
        Request::SetRegister(hart, reg, value) => {
            let hart = &mut machine.harts_mut()[hart];
            Reply::Done(match reg {
                Reg::X(number) => {
                    hart.state_mut().set_reg(number, value);
                    true
                }
                Reg::Pc => {
                    hart.state_mut().pc = value;
                    true
                }
                Reg::F(number) => {
                    hart.state_mut().set_freg(number, value);
                    true
                }
                Reg::Csr(number) => hart.debug_write_csr(number, value),
                Reg::Priv => match Privilege::from_bits(value) {
                    Some(privilege) => {
                        hart.debug_set_privilege(privilege);
                        true
                    }
                    None => false,
                },
            })
        }
        Request::Read(hart, addr, len) => {
            let mut bytes = vec![0; len];
            let done = through_translation(machine, hart, addr, len, |machine, physical, at, chunk| {
                machine.read_memory(physical, &mut bytes[at..at + chunk])
            });
            bytes.truncate(done);
            Reply::Bytes(bytes)
        }
        Request::Write(hart, addr, bytes) => {
            let done = through_translation(machine, hart, addr, bytes.len(), |machine, physical, at, chunk| {
                machine.write_memory(physical, &bytes[at..at + chunk])
            });
            Reply::Done(done == bytes.len())
        }
        Request::Monitor(line) => Reply::Text(monitor(machine, &line)),
        Request::Resume { .. } | Request::Detach | Request::Kill => unreachable!("handled by the port"),
    }
}

/// Reaches guest memory at virtual `addr` through hart `hart`'s
/// translation, page by page: how many bytes `each` reached (it stops at
/// the first page that is not mapped RAM).
fn through_translation<B: Board>(
    machine: &Machine<B>,
    hart: usize,
    addr: u64,
    len: usize,
    mut each: impl FnMut(&Machine<B>, u64, usize, usize) -> bool,
) -> usize {
    let mut done = 0;
    while done < len {
        let vaddr = addr.wrapping_add(done as u64);
        let in_page = (4096 - (vaddr & 4095)) as usize;
        let chunk = in_page.min(len - done);
        match machine.harts()[hart].debug_translate(vaddr) {
            Some(physical) if each(machine, physical, done, chunk) => done += chunk,
            _ => break,
        }
    }
    done
}

/// What `monitor help` prints.
const MONITOR_HELP: &str = "polyhart monitor commands:\n\
    \x20 info harts          each hart's pc, privilege and state\n\
    \x20 reset               reset the machine (devices, images, every hart)\n\
    \x20 xp ADDR [LEN]       read LEN bytes (default 16) of physical memory\n\
    \x20 wp ADDR HEXBYTES    write bytes to physical memory\n";

/// Runs the `monitor` command `line`: what it prints.
fn monitor<B: Board>(machine: &mut Machine<B>, line: &str) -> String {
    use std::fmt::Write as _;
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = String::new();
    match words.as_slice() {
        ["info", "harts"] => {
            for (index, hart) in machine.harts().iter().enumerate() {
                let state = hart.state();
                let activity = if state.waiting { "waiting in wfi" } else { "running" };
                let _ = writeln!(
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
            machine.reboot();
            out += "the machine was reset\n";
        }
        ["xp", addr, rest @ ..] if rest.len() <= 1 => {
            let (Some(addr), Some(len)) = (parse_number(addr), rest.first().map_or(Some(16), |len| parse_number(len)))
            else {
                return "usage: xp ADDR [LEN]\n".to_string();
            };
            let len = len.min(4096) as usize;
            let mut bytes = vec![0; len];
            if !machine.read_memory(addr, &mut bytes) {
                return format!("{addr:#x}..+{len:#x} is not all RAM\n");
            }
            for (row, chunk) in bytes.chunks(16).enumerate() {
                let hex: Vec<String> = chunk.iter().map(|byte| format!("{byte:02x}")).collect();
                let _ = writeln!(out, "{:#018x}: {}", addr + 16 * row as u64, hex.join(" "));
            }
        }
        ["wp", addr, hex] => match (parse_number(addr), parse_hex(hex)) {
            (Some(addr), Some(bytes)) if machine.write_memory(addr, &bytes) => {
                let _ = writeln!(out, "wrote {} bytes at {addr:#x}", bytes.len());
            }
            (Some(addr), Some(bytes)) => {
                let _ = writeln!(out, "{addr:#x}..+{:#x} is not all RAM", bytes.len());
            }
            _ => out += "usage: wp ADDR HEXBYTES (say, wp 0x80001000 deadbeef)\n",
        },
        _ => out += MONITOR_HELP,
    }
    out
}

/// A number as GDB users write them: decimal, or hexadecimal after `0x`.
fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Bytes written as hexadecimal digits, two a byte, after an optional `0x`.
fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    if text.is_empty() { None } else { crate::hex::decode(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_numbers_and_bytes_parse() {
        assert_eq!(parse_number("0x80000000"), Some(0x8000_0000));
        assert_eq!(parse_number("16"), Some(16));
        assert_eq!(parse_number("zz"), None);
        assert_eq!(parse_hex("deadbeef"), Some(vec![0xde, 0xad, 0xbe, 0xef]));
        assert_eq!(parse_hex("abc"), None);
    }
}
