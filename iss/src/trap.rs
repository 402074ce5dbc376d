//! Traps: the exceptions and interrupts of the privileged architecture, as values.

use std::fmt;

/// A synchronous exception, numbered as in `mcause`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exception {
    /// The target of a jump or branch is not aligned to an instruction boundary.
    InstructionAddressMisaligned = 0,
    /// An instruction fetch reached no memory, or memory that cannot execute.
    InstructionAccessFault = 1,
    /// The instruction is not one this hart implements, or not allowed here.
    IllegalInstruction = 2,
    /// `ebreak`.
    Breakpoint = 3,
    /// A load from a misaligned address that the hart does not perform.
    LoadAddressMisaligned = 4,
    /// A load reached no memory or a device refused it.
    LoadAccessFault = 5,
    /// A store or AMO to a misaligned address that the hart does not perform.
    StoreAddressMisaligned = 6,
    /// A store or AMO reached no memory or a device refused it.
    StoreAccessFault = 7,
    /// `ecall` in U-mode.
    EnvironmentCallFromU = 8,
    /// `ecall` in S-mode.
    EnvironmentCallFromS = 9,
    /// `ecall` in M-mode.
    EnvironmentCallFromM = 11,
    /// Instruction page fault.
    InstructionPageFault = 12,
    /// Load page fault.
    LoadPageFault = 13,
    /// Store/AMO page fault.
    StorePageFault = 15,
}

/// An interrupt, numbered as its bit in `mip`/`mie`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Interrupt {
    /// Supervisor software interrupt.
    SupervisorSoftware = 1,
    /// Machine software interrupt (ACLINT MSWI).
    MachineSoftware = 3,
    /// Supervisor timer interrupt.
    SupervisorTimer = 5,
    /// Machine timer interrupt (ACLINT MTIMER).
    MachineTimer = 7,
    /// Supervisor external interrupt.
    SupervisorExternal = 9,
    /// Machine external interrupt (PLIC).
    MachineExternal = 11,
}

impl Interrupt {
    /// Interrupts in the order the privileged spec gives them priority:
    /// MEI, MSI, MTI, SEI, SSI, STI.
    pub const BY_PRIORITY: [Interrupt; 6] = [
        Interrupt::MachineExternal,
        Interrupt::MachineSoftware,
        Interrupt::MachineTimer,
        Interrupt::SupervisorExternal,
        Interrupt::SupervisorSoftware,
        Interrupt::SupervisorTimer,
    ];

    /// This interrupt's bit in `mip` and `mie`.
    pub const fn mask(self) -> u64 {
        1 << self as u8
    }
}

/// Why a trap is taken: `mcause` without its interrupt bit.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// A synchronous exception.
    Exception(Exception),
    /// An asynchronous interrupt.
    Interrupt(Interrupt),
}

impl Cause {
    /// The value written to `mcause`/`scause`.
    pub const fn code(self) -> u64 {
        match self {
            Cause::Exception(e) => e as u64,
            Cause::Interrupt(i) => (1 << 63) | i as u64,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Exception(e) => write!(f, "{e:?} (mcause {})", *e as u8),
            Cause::Interrupt(i) => write!(f, "{i:?} interrupt (mcause {:#x})", self.code()),
        }
    }
}

/// An exception with the value it leaves in `mtval`/`stval`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Trap {
    /// What went wrong.
    pub exception: Exception,
    /// The faulting address, or instruction bits for an illegal instruction.
    pub tval: u64,
}

impl Trap {
    /// An exception with its trap value.
    pub const fn new(exception: Exception, tval: u64) -> Trap {
        Trap { exception, tval }
    }
}
