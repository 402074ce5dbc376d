//! Why a run stopped, as Python sees it: a plain value, as
//! [`polyhart_machine::StopReason`] is in Rust.

use polyhart_cosim::AdvanceEnd;
use polyhart_iss::Cause;
use polyhart_machine::StopReason as RustStopReason;
use pyo3::prelude::*;

/// What kind of stop a [`StopReason`] is.
#[pyclass(module = "polyhart", eq, eq_int, frozen, hash)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum StopKind {
    /// The guest exited (test finisher or HTIF); `exit_code` says with what.
    #[pyo3(name = "EXIT")]
    Exit,
    /// The guest asked for a system reset; the run stopped instead.
    #[pyo3(name = "RESET")]
    Reset,
    /// The instruction budget (`max_insns`) is spent.
    #[pyo3(name = "INSTRUCTION_LIMIT")]
    InstructionLimit,
    /// A hart's trap handler faults forever (`hart`, `pc`, `cause`).
    #[pyo3(name = "TRAP_LOOP")]
    TrapLoop,
    /// The JIT and the interpreter disagreed on a block (lockstep).
    #[pyo3(name = "JIT_DIVERGENCE")]
    JitDivergence,
    /// Every hart waits for an interrupt that nothing can raise.
    #[pyo3(name = "DEADLOCK")]
    Deadlock,
    /// `Machine.stop()` was called.
    #[pyo3(name = "STOPPED")]
    Stopped,
    /// Every hart reached the horizon of `run_until`, or an `advance`
    /// reached its end.
    #[pyo3(name = "HORIZON")]
    Horizon,
    /// A transaction asked hart `hart` to synchronise; the next run goes on.
    #[pyo3(name = "SYNC")]
    Sync,
    /// The run paused for a timed action; the next run goes on.
    #[pyo3(name = "PAUSED")]
    Paused,
    /// An `advance` reached a time given to `Machine.stop_at`.
    #[pyo3(name = "SCHEDULED")]
    Scheduled,
    /// Hart `hart` reached a breakpoint at `pc` (`Machine.set_breakpoints`),
    /// whose instruction has not run; the next run goes on.
    #[pyo3(name = "BREAKPOINT")]
    Breakpoint,
    /// An access of hart `hart`'s instruction at `pc` reached a watchpoint
    /// at `address` (`Machine.set_watchpoints`); the instruction has not
    /// run, the next run goes on.
    #[pyo3(name = "WATCHPOINT")]
    Watchpoint,
}

/// Why a run stopped.
#[pyclass(module = "polyhart", frozen, eq, get_all)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StopReason {
    /// What kind of stop it is.
    kind: StopKind,
    /// With `EXIT`: the guest's exit status.
    exit_code: Option<i32>,
    /// With `TRAP_LOOP`, `JIT_DIVERGENCE`, `SYNC` and `BREAKPOINT`: the hart.
    hart: Option<usize>,
    /// With `TRAP_LOOP`: where the repeating exception is raised; with
    /// `JIT_DIVERGENCE`: where the block was entered; with `BREAKPOINT`:
    /// the breakpoint.
    pc: Option<u64>,
    /// With `TRAP_LOOP`: the repeating exception, by name (for example
    /// `"InstructionAccessFault"`).
    cause: Option<String>,
    /// With `TRAP_LOOP`: the repeating exception's `mcause` value.
    mcause: Option<u64>,
    /// With `WATCHPOINT`: the address of the access that reached it.
    address: Option<u64>,
}

impl StopReason {
    fn of(kind: StopKind) -> StopReason {
        StopReason { kind, exit_code: None, hart: None, pc: None, cause: None, mcause: None, address: None }
    }
}

impl From<RustStopReason> for StopReason {
    fn from(reason: RustStopReason) -> StopReason {
        match reason {
            RustStopReason::Exit(code) => StopReason { exit_code: Some(code), ..StopReason::of(StopKind::Exit) },
            RustStopReason::Reset => StopReason::of(StopKind::Reset),
            RustStopReason::InstructionLimit => StopReason::of(StopKind::InstructionLimit),
            RustStopReason::TrapLoop { hart, pc, cause, .. } => StopReason {
                hart: Some(hart),
                pc: Some(pc),
                cause: Some(match cause {
                    Cause::Exception(exception) => format!("{exception:?}"),
                    Cause::Interrupt(interrupt) => format!("{interrupt:?} interrupt"),
                }),
                mcause: Some(cause.code()),
                ..StopReason::of(StopKind::TrapLoop)
            },
            RustStopReason::JitDivergence { hart, pc } => {
                StopReason { hart: Some(hart), pc: Some(pc), ..StopReason::of(StopKind::JitDivergence) }
            }
            RustStopReason::Deadlock => StopReason::of(StopKind::Deadlock),
            RustStopReason::Stopped => StopReason::of(StopKind::Stopped),
            RustStopReason::Horizon => StopReason::of(StopKind::Horizon),
            RustStopReason::Sync { hart } => StopReason { hart: Some(hart), ..StopReason::of(StopKind::Sync) },
            RustStopReason::Paused => StopReason::of(StopKind::Paused),
            RustStopReason::Breakpoint { hart, pc } => {
                StopReason { hart: Some(hart), pc: Some(pc), ..StopReason::of(StopKind::Breakpoint) }
            }
            RustStopReason::Watchpoint { hart, pc, hit } => StopReason {
                hart: Some(hart),
                pc: Some(pc),
                address: Some(hit.addr),
                ..StopReason::of(StopKind::Watchpoint)
            },
        }
    }
}

impl From<AdvanceEnd> for StopReason {
    fn from(end: AdvanceEnd) -> StopReason {
        match end {
            AdvanceEnd::Reached => StopReason::of(StopKind::Horizon),
            AdvanceEnd::Scheduled => StopReason::of(StopKind::Scheduled),
            AdvanceEnd::Sync { hart } => StopReason { hart: Some(hart), ..StopReason::of(StopKind::Sync) },
            AdvanceEnd::Stopped(reason) => reason.into(),
        }
    }
}

#[pymethods]
impl StopReason {
    /// True if the guest exited (with any status).
    #[getter]
    fn exited(&self) -> bool {
        self.kind == StopKind::Exit
    }

    /// True if the machine can run on: the run was cut by a budget, a
    /// horizon, a synchronisation, a pause, a breakpoint or a watchpoint,
    /// not ended by the guest or a failure.
    #[getter]
    fn resumable(&self) -> bool {
        matches!(
            self.kind,
            StopKind::InstructionLimit
                | StopKind::Horizon
                | StopKind::Sync
                | StopKind::Paused
                | StopKind::Scheduled
                | StopKind::Breakpoint
                | StopKind::Watchpoint
        )
    }

    fn __repr__(&self) -> String {
        let mut fields = Vec::new();
        if let Some(code) = self.exit_code {
            fields.push(format!("exit_code={code}"));
        }
        if let Some(hart) = self.hart {
            fields.push(format!("hart={hart}"));
        }
        if let Some(pc) = self.pc {
            fields.push(format!("pc={pc:#x}"));
        }
        if let Some(cause) = &self.cause {
            fields.push(format!("cause='{cause}'"));
        }
        if let Some(address) = self.address {
            fields.push(format!("address={address:#x}"));
        }
        let kind = format!("{:?}", self.kind);
        let name: String = kind
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let sep = (i > 0 && c.is_uppercase()).then_some('_');
                sep.into_iter().chain(c.to_uppercase())
            })
            .collect();
        if fields.is_empty() {
            format!("StopReason(StopKind.{name})")
        } else {
            format!("StopReason(StopKind.{name}, {})", fields.join(", "))
        }
    }
}
