//! Control and status registers: their numbers, names, and the M-mode CSR file.

use std::fmt;

use crate::privilege::Privilege;
use crate::snapshot::{Reader, SnapshotError, Writer};
use crate::trap::Interrupt;

macro_rules! csr_numbers {
    ($( $name:ident = $number:literal $text:literal; )*) => {
        $(
            #[doc = concat!("`", $text, "`")]
            pub const $name: u16 = $number;
        )*

        /// The assembler name of a CSR number with a fixed name; numbered families
        /// (`pmpaddr0..15`, the performance counters) print through [`CsrName`].
        pub fn name(number: u16) -> Option<&'static str> {
            match number {
                $($number => Some($text),)*
                _ => None,
            }
        }
    };
}

csr_numbers! {
    FFLAGS = 0x001 "fflags";
    FRM = 0x002 "frm";
    FCSR = 0x003 "fcsr";
    CYCLE = 0xc00 "cycle";
    TIME = 0xc01 "time";
    INSTRET = 0xc02 "instret";
    MVENDORID = 0xf11 "mvendorid";
    MARCHID = 0xf12 "marchid";
    MIMPID = 0xf13 "mimpid";
    MHARTID = 0xf14 "mhartid";
    MCONFIGPTR = 0xf15 "mconfigptr";
    SSTATUS = 0x100 "sstatus";
    SIE = 0x104 "sie";
    STVEC = 0x105 "stvec";
    SCOUNTEREN = 0x106 "scounteren";
    SENVCFG = 0x10a "senvcfg";
    SSCRATCH = 0x140 "sscratch";
    SEPC = 0x141 "sepc";
    SCAUSE = 0x142 "scause";
    STVAL = 0x143 "stval";
    SIP = 0x144 "sip";
    STIMECMP = 0x14d "stimecmp";
    SATP = 0x180 "satp";
    MSTATUS = 0x300 "mstatus";
    MISA = 0x301 "misa";
    MEDELEG = 0x302 "medeleg";
    MIDELEG = 0x303 "mideleg";
    MIE = 0x304 "mie";
    MTVEC = 0x305 "mtvec";
    MCOUNTEREN = 0x306 "mcounteren";
    MENVCFG = 0x30a "menvcfg";
    MSCRATCH = 0x340 "mscratch";
    MEPC = 0x341 "mepc";
    MCAUSE = 0x342 "mcause";
    MTVAL = 0x343 "mtval";
    MIP = 0x344 "mip";
    PMPCFG0 = 0x3a0 "pmpcfg0";
    PMPCFG2 = 0x3a2 "pmpcfg2";
    PMPADDR0 = 0x3b0 "pmpaddr0";
    MCOUNTINHIBIT = 0x320 "mcountinhibit";
    MCYCLE = 0xb00 "mcycle";
    MINSTRET = 0xb02 "minstret";
    TSELECT = 0x7a0 "tselect";
    TDATA1 = 0x7a1 "tdata1";
    TDATA2 = 0x7a2 "tdata2";
    TDATA3 = 0x7a3 "tdata3";
    TINFO = 0x7a4 "tinfo";
}

/// Numbered CSR families, `(first number, last number, name prefix, first index)`:
/// `0xc03` is `hpmcounter3`.
const NUMBERED: [(u16, u16, &str, u16); 4] = [
    (0xc03, 0xc1f, "hpmcounter", 3),
    (0xb03, 0xb1f, "mhpmcounter", 3),
    (0x323, 0x33f, "mhpmevent", 3),
    (PMPADDR0, PMPADDR0 + PMP_ENTRIES as u16 - 1, "pmpaddr", 0),
];

/// A CSR number that prints as its name when it has one (a fixed name from
/// [`name`], or a numbered one such as `pmpaddr3`), as hex otherwise.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CsrName(pub u16);

impl fmt::Display for CsrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(text) = name(self.0) {
            return f.write_str(text);
        }
        match NUMBERED.iter().find(|(first, last, _, _)| (*first..=*last).contains(&self.0)) {
            Some((first, _, prefix, index)) => write!(f, "{prefix}{}", self.0 - first + index),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

/// `mstatus` fields.
pub mod mstatus {
    /// Supervisor interrupt enable.
    pub const SIE: u64 = 1 << 1;
    /// Machine interrupt enable.
    pub const MIE: u64 = 1 << 3;
    /// SIE before the last trap into S-mode.
    pub const SPIE: u64 = 1 << 5;
    /// Privilege before the last trap into S-mode (0 = U, 1 = S).
    pub const SPP: u64 = 1 << 8;
    /// MIE before the last trap into M-mode.
    pub const MPIE: u64 = 1 << 7;
    /// Privilege before the last trap into M-mode (two bits).
    pub const MPP: u64 = 3 << 11;
    /// Shift of [`MPP`].
    pub const MPP_SHIFT: u32 = 11;
    /// Floating-point state: Off (0), Initial, Clean, Dirty (3). With Off, F
    /// and D instructions and the `fcsr` CSRs are illegal.
    pub const FS: u64 = 3 << 13;
    /// FS = Dirty: some instruction changed the floating-point state.
    pub const FS_DIRTY: u64 = 3 << 13;
    /// Loads and stores use the privilege in MPP.
    pub const MPRV: u64 = 1 << 17;
    /// Supervisor user-memory access.
    pub const SUM: u64 = 1 << 18;
    /// Make executable readable.
    pub const MXR: u64 = 1 << 19;
    /// Trap virtual memory: `satp` and `sfence.vma` trap in S-mode.
    pub const TVM: u64 = 1 << 20;
    /// Timeout wait: `wfi` in lower modes traps.
    pub const TW: u64 = 1 << 21;
    /// Trap `sret` in S-mode.
    pub const TSR: u64 = 1 << 22;
    /// S-mode XLEN (read-only 64-bit).
    pub const SXL: u64 = 3 << 34;
    /// The SXL value meaning 64 bits.
    pub const SXL_64: u64 = 2 << 34;
    /// U-mode XLEN (read-only 64-bit).
    pub const UXL: u64 = 3 << 32;
    /// The UXL value meaning 64 bits.
    pub const UXL_64: u64 = 2 << 32;
    /// State dirty: set exactly while FS (or XS or VS, which polyhart does not
    /// have) is Dirty.
    pub const SD: u64 = 1 << 63;

    /// `value` with SD made to agree with FS.
    pub const fn with_sd(value: u64) -> u64 {
        if value & FS == FS_DIRTY { value | SD } else { value & !SD }
    }
}

/// `menvcfg` fields.
pub mod menvcfg {
    /// Fence of I/O implies memory.
    pub const FIOM: u64 = 1 << 0;
    /// Sstc: `stimecmp` drives `mip.STIP` and S-mode may reach it.
    pub const STCE: u64 = 1 << 63;
}

/// Fields of one entry's byte in `pmpcfg`.
pub mod pmpcfg {
    /// Reads allowed.
    pub const R: u8 = 1 << 0;
    /// Writes allowed.
    pub const W: u8 = 1 << 1;
    /// Instruction fetches allowed.
    pub const X: u8 = 1 << 2;
    /// Shift of the address-matching mode A (two bits).
    pub const A_SHIFT: u32 = 3;
    /// A: the entry is off.
    pub const OFF: u8 = 0;
    /// A: top of range, from the previous entry's address to this one's.
    pub const TOR: u8 = 1;
    /// A: naturally aligned four bytes.
    pub const NA4: u8 = 2;
    /// A: naturally aligned power of two, eight bytes or more.
    pub const NAPOT: u8 = 3;
    /// Locked: writes are ignored and the permissions bind M-mode too.
    pub const L: u8 = 1 << 7;
}

/// `mcounteren`/`scounteren` bit of the `time` counter.
pub const COUNTEREN_TM: u64 = 1 << 1;

/// `misa` for RV64GC with S- and U-mode: MXL = 64, extensions A, C, D, F,
/// I, M, S, U.
pub const MISA_RV64IMAFDCSU: u64 = (2 << 62)
    | extension(b'A')
    | extension(b'C')
    | extension(b'D')
    | extension(b'F')
    | extension(b'I')
    | extension(b'M')
    | extension(b'S')
    | extension(b'U');

/// The `misa` bit of extension `letter`.
const fn extension(letter: u8) -> u64 {
    1 << (letter - b'A')
}

/// The supervisor-level interrupts: those `mideleg` can hand to S-mode.
pub const SUPERVISOR_INTERRUPTS: u64 =
    Interrupt::SupervisorSoftware.mask() | Interrupt::SupervisorTimer.mask() | Interrupt::SupervisorExternal.mask();

/// Interrupt bits software may enable in `mie`.
const MIE_WRITABLE: u64 = Interrupt::MachineSoftware.mask()
    | Interrupt::MachineTimer.mask()
    | Interrupt::MachineExternal.mask()
    | SUPERVISOR_INTERRUPTS;

/// `mip` bits M-mode software may write (STIP only while `menvcfg.STCE` is
/// clear: with it set, `stimecmp` drives STIP).
const MIP_WRITABLE: u64 = SUPERVISOR_INTERRUPTS;

/// Exceptions `medeleg` can delegate: all but ecall from M-mode (and the
/// reserved causes).
const MEDELEG_WRITABLE: u64 = 0xb3ff;

/// `mstatus` bits software may write; UXL and SXL are fixed.
const MSTATUS_WRITABLE: u64 = mstatus::SIE
    | mstatus::MIE
    | mstatus::SPIE
    | mstatus::MPIE
    | mstatus::SPP
    | mstatus::MPP
    | mstatus::FS
    | mstatus::MPRV
    | mstatus::SUM
    | mstatus::MXR
    | mstatus::TVM
    | mstatus::TW
    | mstatus::TSR;

/// The `mstatus` bits `sstatus` shows.
pub const SSTATUS_VISIBLE: u64 = mstatus::SIE
    | mstatus::SPIE
    | mstatus::SPP
    | mstatus::FS
    | mstatus::SUM
    | mstatus::MXR
    | mstatus::UXL
    | mstatus::SD;

/// The `mstatus` bits S-mode may write through `sstatus`.
const SSTATUS_WRITABLE: u64 = mstatus::SIE | mstatus::SPIE | mstatus::SPP | mstatus::FS | mstatus::SUM | mstatus::MXR;

/// Number of PMP entries, as on QEMU's virt machine.
pub const PMP_ENTRIES: usize = 16;

/// Why a CSR access is refused: the caller raises an illegal-instruction trap.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CsrAccessDenied;

/// The CSRs of one hart that are plain storage; counters and time, which depend
/// on the rest of the hart, are served by [`crate::Hart`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrFile {
    /// `mhartid`.
    pub mhartid: u64,
    /// `misa`.
    pub misa: u64,
    /// `mstatus`.
    pub mstatus: u64,
    /// `mtvec`.
    pub mtvec: u64,
    /// `medeleg`.
    pub medeleg: u64,
    /// `mideleg`.
    pub mideleg: u64,
    /// `mie`.
    pub mie: u64,
    /// The software-writable bits of `mip`; device-driven bits come from the
    /// hart's [`crate::HartControl`].
    pub mip: u64,
    /// `mcounteren`.
    pub mcounteren: u64,
    /// `menvcfg`.
    pub menvcfg: u64,
    /// `mscratch`.
    pub mscratch: u64,
    /// `mepc`.
    pub mepc: u64,
    /// `mcause`.
    pub mcause: u64,
    /// `mtval`.
    pub mtval: u64,
    /// `stvec`.
    pub stvec: u64,
    /// `scounteren`.
    pub scounteren: u64,
    /// `senvcfg`.
    pub senvcfg: u64,
    /// `sscratch`.
    pub sscratch: u64,
    /// `sepc`.
    pub sepc: u64,
    /// `scause`.
    pub scause: u64,
    /// `stval`.
    pub stval: u64,
    /// `satp`.
    pub satp: u64,
    /// `stimecmp` (Sstc).
    pub stimecmp: u64,
    /// `pmpcfg0` and `pmpcfg2` (RV64 has only the even ones).
    pub pmpcfg: [u64; PMP_ENTRIES / 8],
    /// `pmpaddr0..15`.
    pub pmpaddr: [u64; PMP_ENTRIES],
}

impl CsrFile {
    /// The CSRs of hart `hart_id` at reset.
    pub fn new(hart_id: u64) -> CsrFile {
        CsrFile {
            mhartid: hart_id,
            misa: MISA_RV64IMAFDCSU,
            mstatus: mstatus::UXL_64 | mstatus::SXL_64,
            mtvec: 0,
            medeleg: 0,
            mideleg: 0,
            mie: 0,
            mip: 0,
            mcounteren: 0,
            menvcfg: 0,
            mscratch: 0,
            mepc: 0,
            mcause: 0,
            mtval: 0,
            stvec: 0,
            scounteren: 0,
            senvcfg: 0,
            sscratch: 0,
            sepc: 0,
            scause: 0,
            stval: 0,
            satp: 0,
            stimecmp: 0,
            pmpcfg: [0; PMP_ENTRIES / 8],
            pmpaddr: [0; PMP_ENTRIES],
        }
    }

    /// Whether `privilege` may access CSR `number` at all, and may write it if
    /// `write` (the privilege and read-only fields of the number, §2.1).
    pub fn check_access(number: u16, privilege: Privilege, write: bool) -> Result<(), CsrAccessDenied> {
        let required = (number >> 8) & 3;
        let read_only = number >> 10 == 3;
        if (privilege as u16) < required || (write && read_only) { Err(CsrAccessDenied) } else { Ok(()) }
    }

    /// Reads a storage CSR; `None` for a number this file does not hold.
    pub fn read(&self, number: u16) -> Option<u64> {
        Some(match number {
            MVENDORID | MARCHID | MIMPID | MCONFIGPTR => 0,
            MHARTID => self.mhartid,
            SSTATUS => self.mstatus & SSTATUS_VISIBLE,
            SIE => self.mie & self.mideleg,
            STVEC => self.stvec,
            SCOUNTEREN => self.scounteren,
            SENVCFG => self.senvcfg,
            SSCRATCH => self.sscratch,
            SEPC => self.sepc,
            SCAUSE => self.scause,
            STVAL => self.stval,
            SIP => self.mip & self.mideleg,
            SATP => self.satp,
            STIMECMP => self.stimecmp,
            MSTATUS => self.mstatus,
            MISA => self.misa,
            MEDELEG => self.medeleg,
            MIDELEG => self.mideleg,
            MIE => self.mie,
            MTVEC => self.mtvec,
            MCOUNTEREN => self.mcounteren,
            MENVCFG => self.menvcfg,
            MSCRATCH => self.mscratch,
            MEPC => self.mepc,
            MCAUSE => self.mcause,
            MTVAL => self.mtval,
            MIP => self.mip,
            PMPCFG0 | PMPCFG2 => self.pmpcfg[usize::from(number - PMPCFG0) / 2],
            0x3b0..=0x3bf => self.pmpaddr[usize::from(number - PMPADDR0)],
            // Hardware performance-monitor counters and events exist and read zero.
            0xb03..=0xb1f | 0x323..=0x33f => 0,
            _ => return None,
        })
    }

    /// Writes a storage CSR, keeping each field's WARL rules; `false` for a
    /// number this file does not hold.
    pub fn write(&mut self, number: u16, value: u64) -> bool {
        match number {
            MSTATUS => {
                let mut next = (self.mstatus & !MSTATUS_WRITABLE) | (value & MSTATUS_WRITABLE);
                // MPP holds only implemented modes; an unsupported one keeps the old value.
                let mpp = (next & mstatus::MPP) >> mstatus::MPP_SHIFT;
                if Privilege::from_bits(mpp).is_none() {
                    next = (next & !mstatus::MPP) | (self.mstatus & mstatus::MPP);
                }
                self.mstatus = mstatus::with_sd(next);
            }
            // misa is fixed: the extensions cannot be switched off.
            MISA => {}
            SSTATUS => {
                self.mstatus = mstatus::with_sd((self.mstatus & !SSTATUS_WRITABLE) | (value & SSTATUS_WRITABLE));
            }
            SIE => self.mie = (self.mie & !self.mideleg) | (value & self.mideleg & MIE_WRITABLE),
            // Of the supervisor bits only SSIP is S-mode's to write.
            SIP => {
                let writable = self.mideleg & Interrupt::SupervisorSoftware.mask();
                self.mip = (self.mip & !writable) | (value & writable);
            }
            STVEC => {
                if value & 3 < 2 {
                    self.stvec = value;
                }
            }
            SCOUNTEREN => self.scounteren = value & 0xffff_ffff,
            SENVCFG => self.senvcfg = value & 1,
            SSCRATCH => self.sscratch = value,
            SEPC => self.sepc = value & !1,
            SCAUSE => self.scause = value,
            STVAL => self.stval = value,
            // Bare, Sv39, Sv48 and Sv57 are implemented; a write asking for
            // another mode has no effect at all, as the privileged spec requires.
            SATP => {
                if matches!(value >> 60, 0 | 8 | 9 | 10) {
                    self.satp = value;
                }
            }
            STIMECMP => self.stimecmp = value,
            MEDELEG => self.medeleg = value & MEDELEG_WRITABLE,
            MIDELEG => self.mideleg = value & SUPERVISOR_INTERRUPTS,
            MIE => self.mie = value & MIE_WRITABLE,
            // Modes 2 and 3 are reserved: such a write leaves mtvec as it was.
            MTVEC => {
                if value & 3 < 2 {
                    self.mtvec = value;
                }
            }
            MCOUNTEREN => self.mcounteren = value & 0xffff_ffff,
            MENVCFG => self.menvcfg = value & (menvcfg::FIOM | menvcfg::STCE),
            MSCRATCH => self.mscratch = value,
            // IALIGN is 16 with the C extension: only bit 0 is cleared.
            MEPC => self.mepc = value & !1,
            MCAUSE => self.mcause = value,
            MTVAL => self.mtval = value,
            MIP => {
                let writable = if self.menvcfg & menvcfg::STCE != 0 {
                    MIP_WRITABLE & !Interrupt::SupervisorTimer.mask()
                } else {
                    MIP_WRITABLE
                };
                self.mip = (self.mip & !writable) | (value & writable);
            }
            PMPCFG0 | PMPCFG2 => {
                let index = usize::from(number - PMPCFG0) / 2;
                self.pmpcfg[index] = legalize_pmpcfg(self.pmpcfg[index], value);
            }
            0x3b0..=0x3bf => {
                let index = usize::from(number - PMPADDR0);
                // A locked TOR entry locks the address below it too: its base.
                let base_of_locked_tor =
                    index + 1 < PMP_ENTRIES && self.pmp_locked(index + 1) && self.pmp_mode(index + 1) == pmpcfg::TOR;
                if !self.pmp_locked(index) && !base_of_locked_tor {
                    // Physical addresses are 56 bits: pmpaddr holds bits 55:2.
                    self.pmpaddr[index] = value & ((1 << 54) - 1);
                }
            }
            0xb03..=0xb1f | 0x323..=0x33f => {}
            _ => return false,
        }
        true
    }

    /// The `pmpcfg` byte of PMP entry `index`.
    pub fn pmp_config(&self, index: usize) -> u8 {
        (self.pmpcfg[index / 8] >> (8 * (index % 8))) as u8
    }

    fn pmp_locked(&self, index: usize) -> bool {
        self.pmp_config(index) & pmpcfg::L != 0
    }

    /// The address-matching mode (`pmpcfg.A`) of PMP entry `index`.
    pub fn pmp_mode(&self, index: usize) -> u8 {
        (self.pmp_config(index) >> pmpcfg::A_SHIFT) & 3
    }
}

/// Whether CSR `number` is one of the PMP registers, whose writes change
/// what every cached translation and fetch check depends on.
pub fn is_pmp(number: u16) -> bool {
    matches!(number, PMPCFG0 | PMPCFG2) || (PMPADDR0..PMPADDR0 + PMP_ENTRIES as u16).contains(&number)
}

/// Applies the WARL rules of each byte of a `pmpcfg` register: locked entries
/// keep their value, and the reserved R=0/W=1 combination is not stored.
fn legalize_pmpcfg(old: u64, value: u64) -> u64 {
    (0..8).fold(0, |acc, byte| {
        let previous = (old >> (8 * byte)) as u8;
        let mut next = (value >> (8 * byte)) as u8 & 0x9f;
        if previous & 0x80 != 0 || next & 0b11 == 0b10 {
            next = previous;
        }
        acc | u64::from(next) << (8 * byte)
    })
}

impl CsrFile {
    /// Writes every CSR kept here.
    pub(crate) fn save(&self, out: &mut Writer) {
        let csr = self;
        let CsrFile {
            mhartid,
            misa,
            mstatus,
            mtvec,
            medeleg,
            mideleg,
            mie,
            mip,
            mcounteren,
            menvcfg,
            mscratch,
            mepc,
            mcause,
            mtval,
            stvec,
            scounteren,
            senvcfg,
            sscratch,
            sepc,
            scause,
            stval,
            satp,
            stimecmp,
            pmpcfg,
            pmpaddr,
        } = csr;
        let plain = [
            mhartid, misa, mstatus, mtvec, medeleg, mideleg, mie, mip, mcounteren, menvcfg, mscratch, mepc, mcause,
            mtval, stvec, scounteren, senvcfg, sscratch, sepc, scause, stval, satp, stimecmp,
        ];
        plain.into_iter().chain(pmpcfg).chain(pmpaddr).for_each(|&value| out.u64(value));
    }

    /// Reads what [`CsrFile::save`] wrote.
    pub(crate) fn restore(input: &mut Reader<'_>) -> Result<CsrFile, SnapshotError> {
        let mut csr = CsrFile::new(0);
        let CsrFile {
            mhartid,
            misa,
            mstatus,
            mtvec,
            medeleg,
            mideleg,
            mie,
            mip,
            mcounteren,
            menvcfg,
            mscratch,
            mepc,
            mcause,
            mtval,
            stvec,
            scounteren,
            senvcfg,
            sscratch,
            sepc,
            scause,
            stval,
            satp,
            stimecmp,
            pmpcfg,
            pmpaddr,
        } = &mut csr;
        let plain = [
            mhartid, misa, mstatus, mtvec, medeleg, mideleg, mie, mip, mcounteren, menvcfg, mscratch, mepc, mcause,
            mtval, stvec, scounteren, senvcfg, sscratch, sepc, scause, stval, satp, stimecmp,
        ];
        for slot in plain.into_iter().chain(pmpcfg.iter_mut()).chain(pmpaddr.iter_mut()) {
            *slot = input.u64()?;
        }
        Ok(csr)
    }
}
