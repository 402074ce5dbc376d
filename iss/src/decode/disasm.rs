//! The disassembler: standard assembly syntax with ABI register names.
//!
//! Compressed instructions print as the instruction they expand to, as GNU
//! objdump does; no pseudo-instructions are substituted, so the text always
//! names the operation that executes.

use std::fmt;

use super::inst::Inst;
use super::table::{Format, Op};
use crate::csr;

const ABI_NAMES: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "s2",
    "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
];

const FP_ABI_NAMES: [&str; 32] = [
    "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1", "fa2", "fa3", "fa4", "fa5",
    "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
];

/// The ABI name of integer register `index` (`x10` is `a0`).
pub fn register_name(index: u8) -> &'static str {
    ABI_NAMES[usize::from(index & 31)]
}

/// The ABI name of floating-point register `index` (`f10` is `fa0`).
pub fn fp_register_name(index: u8) -> &'static str {
    FP_ABI_NAMES[usize::from(index & 31)]
}

/// The rounding-mode operand as objdump prints it: nothing for dynamic.
fn rounding_suffix(rm: u8) -> &'static str {
    match rm {
        0 => ", rne",
        1 => ", rtz",
        2 => ", rdn",
        3 => ", rup",
        4 => ", rmm",
        5 => ", rm5",
        6 => ", rm6",
        _ => "",
    }
}

/// An instruction at an address, printable as assembly.
///
/// Branch and jump targets print as absolute addresses, which is why the
/// address is needed.
#[derive(Copy, Clone, Debug)]
pub struct Disassembly {
    /// The instruction.
    pub inst: Inst,
    /// Its address.
    pub pc: u64,
}

impl Disassembly {
    /// Pairs an instruction with its address.
    pub fn new(inst: Inst, pc: u64) -> Disassembly {
        Disassembly { inst, pc }
    }
}

fn ordering_suffix(aq_rl: u8) -> &'static str {
    match aq_rl & 3 {
        0 => "",
        1 => ".rl",
        2 => ".aq",
        _ => ".aqrl",
    }
}

fn fence_set(bits: i32) -> String {
    let set: String = "iorw".chars().enumerate().filter(|(i, _)| bits & (8 >> i) != 0).map(|(_, c)| c).collect();
    if set.is_empty() { "0".to_string() } else { set }
}

impl fmt::Display for Disassembly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Inst { op, rd: rd_index, rs1: rs1_index, rs2: rs2_index, aq_rl, imm, .. } = self.inst;
        let (rd, rs1, rs2) = (register_name(rd_index), register_name(rs1_index), register_name(rs2_index));
        let (frd, frs1, frs2) = (fp_register_name(rd_index), fp_register_name(rs1_index), fp_register_name(rs2_index));
        // Conversions that are always exact print no rounding mode for rne,
        // as objdump prints them.
        let exact = matches!(op, Op::FcvtDS | Op::FcvtDW | Op::FcvtDWu) && self.inst.rounding_mode() == 0;
        let rm = if exact { "" } else { rounding_suffix(self.inst.rounding_mode()) };
        let name = op.mnemonic();
        let target = self.pc.wrapping_add(imm as i64 as u64);
        match op.format() {
            Format::R => write!(f, "{name} {rd}, {rs1}, {rs2}"),
            Format::I => write!(f, "{name} {rd}, {rs1}, {imm}"),
            // Shift amounts in hex, as GNU objdump prints them.
            Format::Shift64 | Format::Shift32 => write!(f, "{name} {rd}, {rs1}, {imm:#x}"),
            Format::Load => write!(f, "{name} {rd}, {imm}({rs1})"),
            Format::Store => write!(f, "{name} {rs2}, {imm}({rs1})"),
            Format::Branch => write!(f, "{name} {rs1}, {rs2}, {target:#x}"),
            Format::Upper => write!(f, "{name} {rd}, {:#x}", (imm as u32) >> 12),
            Format::Jump => write!(f, "{name} {rd}, {target:#x}"),
            Format::Amo => write!(f, "{name}{} {rd}, {rs2}, ({rs1})", ordering_suffix(aq_rl)),
            Format::LoadReserved => write!(f, "{name}{} {rd}, ({rs1})", ordering_suffix(aq_rl)),
            Format::Csr => write!(f, "{name} {rd}, {}, {rs1}", csr::CsrName(imm as u16 & 0xfff)),
            Format::CsrImm => write!(f, "{name} {rd}, {}, {}", csr::CsrName(imm as u16 & 0xfff), self.inst.rs1),
            // Other `fm` values are reserved and execute as a plain fence.
            Format::Fence if imm == 0x833 => f.write_str("fence.tso"),
            Format::Fence => write!(f, "{name} {}, {}", fence_set(imm >> 4 & 15), fence_set(imm & 15)),
            Format::Sfence => write!(f, "{name} {rs1}, {rs2}"),
            Format::Bare if op == Op::Illegal => {
                if self.inst.len == 2 {
                    write!(f, ".insn 2, {:#06x}", imm as u32 & 0xffff)
                } else {
                    write!(f, ".insn 4, {:#010x}", imm as u32)
                }
            }
            Format::Bare => f.write_str(name),
            Format::FpR => write!(f, "{name} {frd}, {frs1}, {frs2}{rm}"),
            Format::FpR2 => write!(f, "{name} {frd}, {frs1}, {frs2}"),
            Format::FpR4 => write!(f, "{name} {frd}, {frs1}, {frs2}, {}{rm}", fp_register_name(self.inst.rs3())),
            Format::FpUnary => write!(f, "{name} {frd}, {frs1}{rm}"),
            Format::FpToInt => write!(f, "{name} {rd}, {frs1}{rm}"),
            Format::IntToFp => write!(f, "{name} {frd}, {rs1}{rm}"),
            Format::FpCmp => write!(f, "{name} {rd}, {frs1}, {frs2}"),
            Format::FpToIntBits => write!(f, "{name} {rd}, {frs1}"),
            Format::IntToFpBits => write!(f, "{name} {frd}, {rs1}"),
            Format::FpLoad => write!(f, "{name} {frd}, {imm}({rs1})"),
            Format::FpStore => write!(f, "{name} {frs2}, {imm}({rs1})"),
        }
    }
}
