//! The C extension: each 16-bit encoding expands to the 32-bit instruction it
//! stands for (RISC-V unprivileged spec, chapter "C" Standard Extension).

use super::inst::Inst;
use super::table::Op;

/// Bits `hi..=lo` of `raw`, shifted down.
const fn bits(raw: u16, hi: u32, lo: u32) -> u32 {
    (raw as u32 >> lo) & ((1 << (hi - lo + 1)) - 1)
}

/// A field scattered over `raw`: each `(bit_in_raw, bit_in_value)` pair
/// places one bit.
fn gather(raw: u16, places: &[(u32, u32)]) -> u32 {
    places.iter().fold(0, |value, &(from, to)| value | (bits(raw, from, from) << to))
}

fn sign_extend(value: u32, width: u32) -> i32 {
    let shift = 32 - width;
    ((value << shift) as i32) >> shift
}

/// The register named by a 3-bit `rd'`/`rs1'`/`rs2'` field: x8 to x15.
fn short_reg(raw: u16, lo: u32) -> u8 {
    8 + bits(raw, lo + 2, lo) as u8
}

fn full_reg(raw: u16, lo: u32) -> u8 {
    bits(raw, lo + 4, lo) as u8
}

fn inst(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> Inst {
    Inst { rd, rs1, rs2, imm, ..Inst::new(op, 2) }
}

/// 6-bit signed immediate of CI-format instructions: `imm[5]` = bit 12, `imm[4:0]` = bits 6:2.
fn ci_imm(raw: u16) -> i32 {
    sign_extend(bits(raw, 12, 12) << 5 | bits(raw, 6, 2), 6)
}

/// 6-bit shift amount of `c.slli`, `c.srli`, `c.srai`.
fn ci_shamt(raw: u16) -> i32 {
    (bits(raw, 12, 12) << 5 | bits(raw, 6, 2)) as i32
}

/// Offsets of `c.lw`/`c.sw`: `uimm[5:3]` = 12:10, `uimm[2]` = 6, `uimm[6]` = 5.
fn word_offset(raw: u16) -> i32 {
    gather(raw, &[(12, 5), (11, 4), (10, 3), (6, 2), (5, 6)]) as i32
}

/// Offsets of `c.ld`/`c.sd`: `uimm[5:3]` = 12:10, `uimm[7:6]` = 6:5.
fn double_offset(raw: u16) -> i32 {
    gather(raw, &[(12, 5), (11, 4), (10, 3), (6, 7), (5, 6)]) as i32
}

/// Expands one compressed instruction; reserved encodings become [`Op::Illegal`].
pub(super) fn expand(raw: u16) -> Inst {
    expand_valid(raw).unwrap_or(Inst::illegal(u32::from(raw), 2))
}

fn expand_valid(raw: u16) -> Option<Inst> {
    let funct3 = bits(raw, 15, 13);
    let inst = match (raw & 3, funct3) {
        // Quadrant 0
        (0, 0b000) => {
            let imm = gather(raw, &[(12, 5), (11, 4), (10, 9), (9, 8), (8, 7), (7, 6), (6, 2), (5, 3)]);
            if imm == 0 {
                return None; // includes the all-zero defined-illegal encoding
            }
            inst(Op::Addi, short_reg(raw, 2), 2, 0, imm as i32)
        }
        (0, 0b001) => inst(Op::Fld, short_reg(raw, 2), short_reg(raw, 7), 0, double_offset(raw)),
        (0, 0b010) => inst(Op::Lw, short_reg(raw, 2), short_reg(raw, 7), 0, word_offset(raw)),
        (0, 0b011) => inst(Op::Ld, short_reg(raw, 2), short_reg(raw, 7), 0, double_offset(raw)),
        (0, 0b101) => inst(Op::Fsd, 0, short_reg(raw, 7), short_reg(raw, 2), double_offset(raw)),
        (0, 0b110) => inst(Op::Sw, 0, short_reg(raw, 7), short_reg(raw, 2), word_offset(raw)),
        (0, 0b111) => inst(Op::Sd, 0, short_reg(raw, 7), short_reg(raw, 2), double_offset(raw)),
        // Quadrant 1
        (1, 0b000) => {
            let rd = full_reg(raw, 7);
            inst(Op::Addi, rd, rd, 0, ci_imm(raw))
        }
        (1, 0b001) => {
            let rd = full_reg(raw, 7);
            if rd == 0 {
                return None;
            }
            inst(Op::Addiw, rd, rd, 0, ci_imm(raw))
        }
        (1, 0b010) => inst(Op::Addi, full_reg(raw, 7), 0, 0, ci_imm(raw)),
        (1, 0b011) => {
            let rd = full_reg(raw, 7);
            if rd == 2 {
                let imm = gather(raw, &[(12, 9), (6, 4), (5, 6), (4, 8), (3, 7), (2, 5)]);
                if imm == 0 {
                    return None;
                }
                inst(Op::Addi, 2, 2, 0, sign_extend(imm, 10))
            } else {
                let imm = ci_imm(raw);
                if imm == 0 {
                    return None;
                }
                inst(Op::Lui, rd, 0, 0, imm << 12)
            }
        }
        (1, 0b100) => {
            let rd = short_reg(raw, 7);
            match bits(raw, 11, 10) {
                0b00 => inst(Op::Srli, rd, rd, 0, ci_shamt(raw)),
                0b01 => inst(Op::Srai, rd, rd, 0, ci_shamt(raw)),
                0b10 => inst(Op::Andi, rd, rd, 0, ci_imm(raw)),
                _ => {
                    let op = match (bits(raw, 12, 12), bits(raw, 6, 5)) {
                        (0, 0b00) => Op::Sub,
                        (0, 0b01) => Op::Xor,
                        (0, 0b10) => Op::Or,
                        (0, 0b11) => Op::And,
                        (1, 0b00) => Op::Subw,
                        (1, 0b01) => Op::Addw,
                        _ => return None,
                    };
                    inst(op, rd, rd, short_reg(raw, 2), 0)
                }
            }
        }
        (1, 0b101) => {
            let imm = gather(
                raw,
                &[(12, 11), (11, 4), (10, 9), (9, 8), (8, 10), (7, 6), (6, 7), (5, 3), (4, 2), (3, 1), (2, 5)],
            );
            inst(Op::Jal, 0, 0, 0, sign_extend(imm, 12))
        }
        (1, 0b110 | 0b111) => {
            let imm = gather(raw, &[(12, 8), (11, 4), (10, 3), (6, 7), (5, 6), (4, 2), (3, 1), (2, 5)]);
            let op = if funct3 == 0b110 { Op::Beq } else { Op::Bne };
            inst(op, 0, short_reg(raw, 7), 0, sign_extend(imm, 9))
        }
        // Quadrant 2
        (2, 0b000) => {
            let rd = full_reg(raw, 7);
            inst(Op::Slli, rd, rd, 0, ci_shamt(raw))
        }
        // c.fldsp: any f register, f0 included.
        (2, 0b001) => {
            let imm = gather(raw, &[(12, 5), (6, 4), (5, 3), (4, 8), (3, 7), (2, 6)]);
            inst(Op::Fld, full_reg(raw, 7), 2, 0, imm as i32)
        }
        (2, 0b010) => {
            let rd = full_reg(raw, 7);
            if rd == 0 {
                return None;
            }
            let imm = gather(raw, &[(12, 5), (6, 4), (5, 3), (4, 2), (3, 7), (2, 6)]);
            inst(Op::Lw, rd, 2, 0, imm as i32)
        }
        (2, 0b011) => {
            let rd = full_reg(raw, 7);
            if rd == 0 {
                return None;
            }
            let imm = gather(raw, &[(12, 5), (6, 4), (5, 3), (4, 8), (3, 7), (2, 6)]);
            inst(Op::Ld, rd, 2, 0, imm as i32)
        }
        (2, 0b100) => {
            let (rs1, rs2) = (full_reg(raw, 7), full_reg(raw, 2));
            match (bits(raw, 12, 12), rs1, rs2) {
                (0, 0, 0) => return None,
                (0, _, 0) => inst(Op::Jalr, 0, rs1, 0, 0),
                (0, _, _) => inst(Op::Add, rs1, 0, rs2, 0),
                (_, 0, 0) => Inst::new(Op::Ebreak, 2),
                (_, _, 0) => inst(Op::Jalr, 1, rs1, 0, 0),
                (_, _, _) => inst(Op::Add, rs1, rs1, rs2, 0),
            }
        }
        (2, 0b101) => {
            let imm = gather(raw, &[(12, 5), (11, 4), (10, 3), (9, 8), (8, 7), (7, 6)]);
            inst(Op::Fsd, 0, 2, full_reg(raw, 2), imm as i32)
        }
        (2, 0b110) => {
            let imm = gather(raw, &[(12, 5), (11, 4), (10, 3), (9, 2), (8, 7), (7, 6)]);
            inst(Op::Sw, 0, 2, full_reg(raw, 2), imm as i32)
        }
        (2, 0b111) => {
            let imm = gather(raw, &[(12, 5), (11, 4), (10, 3), (9, 8), (8, 7), (7, 6)]);
            inst(Op::Sd, 0, 2, full_reg(raw, 2), imm as i32)
        }
        // The reserved encodings.
        _ => return None,
    };
    Some(inst)
}

/// Places the bits of `value` given by `(bit_in_value, bit_in_raw)` pairs.
fn scatter(value: u32, places: &[(u32, u32)]) -> u16 {
    places.iter().fold(0, |raw, &(from, to)| raw | ((value >> from & 1) << to) as u16)
}

/// The compressed encoding of `c.fld`, `c.fsd`, `c.fldsp` or `c.fsdsp` (the
/// only compressed instructions that can be illegal after decoding). Which
/// form applies follows from the registers: `sp` is not one of the eight
/// registers the short forms reach.
pub(super) fn compress(inst: &Inst) -> Option<u16> {
    let imm = inst.imm as u32;
    let short = |reg: u8| u16::from(reg - 8);
    match (inst.op, inst.rs1) {
        (Op::Fld, 2) => Some(
            0b001 << 13
                | u16::from(inst.rd) << 7
                | 0b10
                | scatter(imm, &[(5, 12), (4, 6), (3, 5), (8, 4), (7, 3), (6, 2)]),
        ),
        (Op::Fsd, 2) => Some(
            0b101 << 13
                | u16::from(inst.rs2) << 2
                | 0b10
                | scatter(imm, &[(5, 12), (4, 11), (3, 10), (8, 9), (7, 8), (6, 7)]),
        ),
        (Op::Fld, 8..=15) => Some(
            0b001 << 13
                | short(inst.rs1) << 7
                | short(inst.rd) << 2
                | scatter(imm, &[(5, 12), (4, 11), (3, 10), (7, 6), (6, 5)]),
        ),
        (Op::Fsd, 8..=15) => Some(
            0b101 << 13
                | short(inst.rs1) << 7
                | short(inst.rs2) << 2
                | scatter(imm, &[(5, 12), (4, 11), (3, 10), (7, 6), (6, 5)]),
        ),
        _ => None,
    }
}
