//! The pre-decoded instruction, and the encoder tests use to go back.

use super::table::{Format, Op};

/// One decoded instruction: the pre-decoded form the interpreter executes.
///
/// Field meaning depends on [`Op::format`]: `imm` is the sign-extended
/// immediate (the CSR number for CSR operations, the raw bits for
/// [`Op::Illegal`], the rounding mode and `rs3` of floating-point operations,
/// see [`Inst::rounding_mode`] and [`Inst::rs3`]); `rs1` holds the 5-bit
/// immediate of `csrr*i`; `aq_rl` holds the acquire (bit 1) and release
/// (bit 0) bits of atomics.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Inst {
    /// The operation.
    pub op: Op,
    /// Destination register.
    pub rd: u8,
    /// First source register.
    pub rs1: u8,
    /// Second source register.
    pub rs2: u8,
    /// Acquire/release bits of an atomic (`aq` = 2, `rl` = 1).
    pub aq_rl: u8,
    /// Length of the encoding in bytes: 2 or 4.
    pub len: u8,
    /// Byte offset from the start of the block holding the instruction (0
    /// outside a block), so the interpreter knows each instruction's address
    /// without counting.
    pub offset: u16,
    /// Immediate operand.
    pub imm: i32,
}

impl Inst {
    /// An instruction with every operand zero.
    pub const fn new(op: Op, len: u8) -> Inst {
        Inst { op, rd: 0, rs1: 0, rs2: 0, aq_rl: 0, len, offset: 0, imm: 0 }
    }

    /// The instruction that traps as illegal, remembering its encoding.
    pub const fn illegal(raw: u32, len: u8) -> Inst {
        Inst { imm: raw as i32, ..Inst::new(Op::Illegal, len) }
    }

    /// The `rm` field of a floating-point operation (7: dynamic, `frm`).
    pub const fn rounding_mode(&self) -> u8 {
        (self.imm & 7) as u8
    }

    /// The third source register of a fused multiply-add.
    pub const fn rs3(&self) -> u8 {
        (self.imm >> 3 & 31) as u8
    }

    /// The registers the instruction reads and writes, from its operand
    /// format.
    pub fn registers(&self) -> Registers {
        use Format::*;
        let format = self.op.format();
        let x_read = match format {
            R | Branch | Store | Amo | Sfence => [self.rs1, self.rs2],
            Upper | Jump | Fence | Bare | CsrImm | FpR | FpR2 | FpR4 | FpUnary | FpToInt | FpCmp | FpToIntBits => {
                [0, 0]
            }
            I | Load | Shift64 | Shift32 | LoadReserved | Csr | IntToFp | IntToFpBits | FpLoad | FpStore => {
                [self.rs1, 0]
            }
        };
        let f_read = match format {
            FpR | FpR2 | FpCmp => [Some(self.rs1), Some(self.rs2), None],
            FpR4 => [Some(self.rs1), Some(self.rs2), Some(self.rs3())],
            FpUnary | FpToInt | FpToIntBits => [Some(self.rs1), None, None],
            FpStore => [Some(self.rs2), None, None],
            _ => [None; 3],
        };
        let writes_x = !matches!(format, Store | Branch | Fence | Bare | Sfence | FpStore);
        let fp_destination = format.fp_destination();
        Registers {
            x_read,
            x_written: if writes_x && !fp_destination { self.rd } else { 0 },
            f_read,
            f_written: fp_destination.then_some(self.rd),
        }
    }

    /// What a CSR instruction does to its CSR: `csrrw`/`csrrwi` read
    /// nothing when `rd` is `x0`, and `csrrs`/`csrrc` and their immediate
    /// forms write nothing when their source is `x0` or zero (Zicsr); `None`
    /// for other instructions.
    pub const fn csr_access(&self) -> Option<CsrAccess> {
        let csr = (self.imm as u32 & 0xfff) as u16;
        // `& 31`: a write to `x0` may have been redirected to a scratch slot.
        let rd_is_x0 = self.rd & 31 == 0;
        match self.op {
            Op::Csrrw | Op::Csrrwi => Some(CsrAccess { csr, reads: !rd_is_x0, writes: true }),
            Op::Csrrs | Op::Csrrc | Op::Csrrsi | Op::Csrrci => {
                Some(CsrAccess { csr, reads: true, writes: self.rs1 != 0 })
            }
            _ => None,
        }
    }

    /// Encodes a 32-bit instruction; the inverse of [`super::decode`] for every
    /// operation but [`Op::Illegal`]. Compressed instructions encode as the
    /// 32-bit instruction they expand to.
    pub fn encode(&self) -> u32 {
        let (_, bits) = self.op.encoding();
        let rd = u32::from(self.rd & 31) << 7;
        let rs1 = u32::from(self.rs1 & 31) << 15;
        let rs2 = u32::from(self.rs2 & 31) << 20;
        let imm = self.imm as u32;
        let fields = match self.op.format() {
            Format::R => rd | rs1 | rs2,
            Format::I | Format::Load | Format::FpLoad => rd | rs1 | (imm << 20),
            Format::Store | Format::FpStore => rs1 | rs2 | ((imm & 0x1f) << 7) | ((imm >> 5 & 0x7f) << 25),
            Format::Branch => {
                rs1 | rs2
                    | ((imm >> 11 & 1) << 7)
                    | ((imm >> 1 & 0xf) << 8)
                    | ((imm >> 5 & 0x3f) << 25)
                    | ((imm >> 12 & 1) << 31)
            }
            Format::Upper => rd | (imm & 0xffff_f000),
            Format::Jump => {
                rd | (imm & 0x000f_f000)
                    | ((imm >> 11 & 1) << 20)
                    | ((imm >> 1 & 0x3ff) << 21)
                    | ((imm >> 20 & 1) << 31)
            }
            Format::Shift64 => rd | rs1 | ((imm & 0x3f) << 20),
            Format::Shift32 => rd | rs1 | ((imm & 0x1f) << 20),
            Format::Amo => rd | rs1 | rs2 | (u32::from(self.aq_rl & 3) << 25),
            Format::LoadReserved => rd | rs1 | (u32::from(self.aq_rl & 3) << 25),
            Format::Csr | Format::CsrImm => rd | rs1 | ((imm & 0xfff) << 20),
            Format::Fence => imm << 20,
            Format::Sfence => rs1 | rs2,
            Format::Bare => 0,
            Format::FpR => rd | rs1 | rs2 | ((imm & 7) << 12),
            Format::FpR4 => rd | rs1 | rs2 | ((imm & 7) << 12) | ((imm >> 3 & 31) << 27),
            Format::FpR2 | Format::FpCmp => rd | rs1 | rs2,
            Format::FpUnary | Format::FpToInt | Format::IntToFp => rd | rs1 | ((imm & 7) << 12),
            Format::FpToIntBits | Format::IntToFpBits => rd | rs1,
        };
        bits | fields
    }
}

/// What a CSR instruction does to its CSR (see [`Inst::csr_access`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct CsrAccess {
    /// The CSR's number.
    pub csr: u16,
    /// The instruction reads the CSR (and has its side effects on read).
    pub reads: bool,
    /// The instruction writes the CSR.
    pub writes: bool,
}

/// The registers an instruction reads and writes (see [`Inst::registers`]):
/// integer registers by number (0 for none: `x0` is never read as a
/// source and never written), f registers by number.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Registers {
    /// Integer source registers.
    pub x_read: [u8; 2],
    /// The integer register written.
    pub x_written: u8,
    /// Floating-point source registers.
    pub f_read: [Option<u8>; 3],
    /// The floating-point register written.
    pub f_written: Option<u8>,
}
