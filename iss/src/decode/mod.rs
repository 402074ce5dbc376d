//! Decoding: raw instruction bits to [`Inst`], and back for tests.
//!
//! 32-bit encodings come from the table in [`table`]; compressed (16-bit)
//! encodings are expanded to the 32-bit instruction they stand for, as the C
//! extension defines them, so everything after the decoder sees one form.
//! What an instruction is and does (its class, memory access, AMO operation,
//! floating-point precision, whether it ends a block, its CSR access) is
//! read from the same table, through [`Op`]'s methods.
//!
//! ```
//! use polyhart_iss::decode::{Class, Disassembly, MemoryKind, decode};
//!
//! let inst = decode(0xfe843783); // ld a5, -24(s0)
//! assert_eq!(Disassembly::new(inst, 0x8000_0000).to_string(), "ld a5, -24(s0)");
//! assert_eq!(inst.op.class(), Class::Load);
//! let memory = inst.op.memory().unwrap();
//! assert_eq!((memory.kind, memory.size, memory.signed), (MemoryKind::Load, 8, true));
//! assert!(!inst.op.ends_block());
//! ```

mod compressed;
pub mod disasm;
mod inst;
pub mod table;

pub use disasm::{Disassembly, fp_register_name, register_name};

use crate::trap::{Exception, Trap};
pub use inst::{CsrAccess, Inst, Registers};
pub use table::{AmoOp, Class, Format, MemoryKind, MemoryOp, Op, Precision};

/// The length in bytes of the instruction whose low 16 bits are `low`.
///
/// polyhart implements no encodings longer than 32 bits; longer ones report 4
/// and then decode as illegal.
pub const fn instruction_length(low: u16) -> u8 {
    if low & 3 == 3 { 4 } else { 2 }
}

/// The 16-bit encoding of a compressed instruction that can trap as illegal
/// once decoded (the floating-point loads and stores, when `mstatus.FS` is
/// Off), so the trap can report the bits that were fetched; `None` for other
/// instructions.
pub fn compress(inst: &Inst) -> Option<u16> {
    compressed::compress(inst)
}

/// Decodes one instruction. `raw` holds its bits in the low 16 or 32 bits;
/// for a compressed instruction the upper half is ignored.
pub fn decode(raw: u32) -> Inst {
    if raw & 3 == 3 { decode32(raw) } else { compressed::expand(raw as u16) }
}

fn decode32(raw: u32) -> Inst {
    let Some(&(_, _, op)) = table::TABLE.iter().find(|(mask, bits, _)| raw & mask == *bits) else {
        return Inst::illegal(raw, 4);
    };
    let rd = (raw >> 7 & 31) as u8;
    let rs1 = (raw >> 15 & 31) as u8;
    let rs2 = (raw >> 20 & 31) as u8;
    let signed = raw as i32;
    let mut inst = Inst::new(op, 4);
    match op.format() {
        Format::R => (inst.rd, inst.rs1, inst.rs2) = (rd, rs1, rs2),
        Format::I | Format::Load | Format::FpLoad => (inst.rd, inst.rs1, inst.imm) = (rd, rs1, signed >> 20),
        Format::Store | Format::FpStore => {
            (inst.rs1, inst.rs2) = (rs1, rs2);
            inst.imm = (signed >> 25 << 5) | (raw >> 7 & 0x1f) as i32;
        }
        Format::Branch => {
            (inst.rs1, inst.rs2) = (rs1, rs2);
            inst.imm = (signed >> 31 << 12)
                | ((raw >> 7 & 1) << 11) as i32
                | ((raw >> 25 & 0x3f) << 5) as i32
                | ((raw >> 8 & 0xf) << 1) as i32;
        }
        Format::Upper => (inst.rd, inst.imm) = (rd, (raw & 0xffff_f000) as i32),
        Format::Jump => {
            inst.rd = rd;
            inst.imm = (signed >> 31 << 20)
                | (raw & 0x000f_f000) as i32
                | ((raw >> 20 & 1) << 11) as i32
                | ((raw >> 21 & 0x3ff) << 1) as i32;
        }
        Format::Shift64 => (inst.rd, inst.rs1, inst.imm) = (rd, rs1, (raw >> 20 & 0x3f) as i32),
        Format::Shift32 => (inst.rd, inst.rs1, inst.imm) = (rd, rs1, (raw >> 20 & 0x1f) as i32),
        Format::Amo => {
            (inst.rd, inst.rs1, inst.rs2) = (rd, rs1, rs2);
            inst.aq_rl = (raw >> 25 & 3) as u8;
        }
        Format::LoadReserved => {
            (inst.rd, inst.rs1) = (rd, rs1);
            inst.aq_rl = (raw >> 25 & 3) as u8;
        }
        Format::Csr | Format::CsrImm => (inst.rd, inst.rs1, inst.imm) = (rd, rs1, (raw >> 20) as i32),
        Format::Fence => inst.imm = (raw >> 20) as i32,
        Format::Sfence => (inst.rs1, inst.rs2) = (rs1, rs2),
        Format::Bare => {}
        Format::FpR => (inst.rd, inst.rs1, inst.rs2, inst.imm) = (rd, rs1, rs2, (raw >> 12 & 7) as i32),
        Format::FpR4 => {
            (inst.rd, inst.rs1, inst.rs2) = (rd, rs1, rs2);
            inst.imm = (raw >> 12 & 7 | (raw >> 27) << 3) as i32;
        }
        Format::FpR2 | Format::FpCmp => (inst.rd, inst.rs1, inst.rs2) = (rd, rs1, rs2),
        Format::FpUnary | Format::FpToInt | Format::IntToFp => {
            (inst.rd, inst.rs1, inst.imm) = (rd, rs1, (raw >> 12 & 7) as i32);
        }
        Format::FpToIntBits | Format::IntToFpBits => (inst.rd, inst.rs1) = (rd, rs1),
    }
    inst
}

/// The illegal-instruction trap for `inst`, with its encoding in `tval`
/// (the 16-bit one for a compressed instruction).
#[cold]
pub(crate) fn illegal(inst: &Inst) -> Trap {
    let bits = match inst.op {
        Op::Illegal => inst.imm as u32,
        _ if inst.len == 2 => u32::from(compress(inst).unwrap_or(0)),
        _ => inst.encode(),
    };
    Trap::new(Exception::IllegalInstruction, u64::from(bits))
}

#[cfg(test)]
mod tests;
