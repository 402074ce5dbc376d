//! Decoder, encoder and disassembler tests. Reference encodings and texts come
//! from GNU as/objdump 2.40 (`-march=rv64imafdc_zicsr_zifencei`,
//! `objdump -d -M no-aliases`), with objdump's spacing normalised to ours.

use super::compressed;
use super::table::TABLE;
use super::*;

/// xorshift64: enough randomness for operand values, and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    fn reg(&mut self) -> u8 {
        self.range(0, 31) as u8
    }
}

/// A random instruction of `op` with every operand its format encodes, in range.
fn random_inst(op: Op, rng: &mut Rng) -> Inst {
    let mut inst = Inst::new(op, 4);
    match op.format() {
        Format::R => (inst.rd, inst.rs1, inst.rs2) = (rng.reg(), rng.reg(), rng.reg()),
        Format::I | Format::Load => {
            (inst.rd, inst.rs1, inst.imm) = (rng.reg(), rng.reg(), rng.range(-2048, 2047) as i32)
        }
        Format::Store => (inst.rs1, inst.rs2, inst.imm) = (rng.reg(), rng.reg(), rng.range(-2048, 2047) as i32),
        Format::Branch => (inst.rs1, inst.rs2, inst.imm) = (rng.reg(), rng.reg(), rng.range(-2048, 2047) as i32 * 2),
        Format::Upper => (inst.rd, inst.imm) = (rng.reg(), (rng.next() as i32) & !0xfff),
        Format::Jump => (inst.rd, inst.imm) = (rng.reg(), rng.range(-(1 << 19), (1 << 19) - 1) as i32 * 2),
        Format::Shift64 => (inst.rd, inst.rs1, inst.imm) = (rng.reg(), rng.reg(), rng.range(0, 63) as i32),
        Format::Shift32 => (inst.rd, inst.rs1, inst.imm) = (rng.reg(), rng.reg(), rng.range(0, 31) as i32),
        Format::Amo => {
            (inst.rd, inst.rs1, inst.rs2, inst.aq_rl) = (rng.reg(), rng.reg(), rng.reg(), rng.range(0, 3) as u8)
        }
        Format::LoadReserved => (inst.rd, inst.rs1, inst.aq_rl) = (rng.reg(), rng.reg(), rng.range(0, 3) as u8),
        Format::Csr | Format::CsrImm => {
            (inst.rd, inst.rs1, inst.imm) = (rng.reg(), rng.reg(), rng.range(0, 4095) as i32)
        }
        Format::Fence => inst.imm = rng.range(0, 4095) as i32,
        Format::Sfence => (inst.rs1, inst.rs2) = (rng.reg(), rng.reg()),
        Format::Bare => {}
        Format::FpR | Format::FpUnary | Format::FpToInt | Format::IntToFp => {
            (inst.rd, inst.rs1, inst.imm) = (rng.reg(), rng.reg(), rng.range(0, 7) as i32);
            if op.format() == Format::FpR {
                inst.rs2 = rng.reg();
            }
        }
        Format::FpR4 => {
            (inst.rd, inst.rs1, inst.rs2) = (rng.reg(), rng.reg(), rng.reg());
            inst.imm = rng.range(0, 7) as i32 | i32::from(rng.reg()) << 3;
        }
        Format::FpR2 | Format::FpCmp => (inst.rd, inst.rs1, inst.rs2) = (rng.reg(), rng.reg(), rng.reg()),
        Format::FpToIntBits | Format::IntToFpBits => (inst.rd, inst.rs1) = (rng.reg(), rng.reg()),
        Format::FpLoad => (inst.rd, inst.rs1, inst.imm) = (rng.reg(), rng.reg(), rng.range(-2048, 2047) as i32),
        Format::FpStore => (inst.rs1, inst.rs2, inst.imm) = (rng.reg(), rng.reg(), rng.range(-2048, 2047) as i32),
    }
    inst
}

fn legal_ops() -> impl Iterator<Item = Op> {
    Op::ALL.iter().copied().filter(|&op| op != Op::Illegal)
}

#[test]
fn encode_then_decode_gives_the_same_instruction() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for op in legal_ops() {
        let (mask, bits) = op.encoding();
        for _ in 0..2000 {
            let inst = random_inst(op, &mut rng);
            let raw = inst.encode();
            assert_eq!(raw & mask, bits, "{inst:?} encodes as {raw:#010x}, which is not {op:?}");
            assert_eq!(decode(raw), inst, "{raw:#010x}");
        }
    }
}

#[test]
fn immediates_at_the_ends_of_their_ranges_survive_encoding() {
    let edges: &[(Op, &[i32])] = &[
        (Op::Addi, &[-2048, -1, 0, 1, 2047]),
        (Op::Jalr, &[-2048, 2047]),
        (Op::Ld, &[-2048, 2047]),
        (Op::Sd, &[-2048, -1, 31, 32, 2047]),
        (Op::Beq, &[-4096, -2, 2, 2046, 2048, 4094]),
        (Op::Jal, &[-(1 << 20), -2, 2, 2046, 2048, 4096, (1 << 20) - 2]),
        (Op::Lui, &[i32::MIN, -4096, 0, 4096, 0x7fff_f000]),
        (Op::Auipc, &[i32::MIN, 0x7fff_f000]),
        (Op::Slli, &[0, 31, 32, 63]),
        (Op::Srai, &[0, 63]),
        (Op::Sraiw, &[0, 31]),
        (Op::Csrrw, &[0, 0x7ff, 0x800, 0xfff]),
        (Op::Csrrci, &[0, 0xfff]),
        (Op::Fence, &[0, 0x0ff, 0x833, 0xfff]),
    ];
    for &(op, imms) in edges {
        for &imm in imms {
            let inst = Inst { rd: 31, rs1: 31, rs2: 31, imm, ..Inst::new(op, 4) };
            let inst = decode(inst.encode());
            assert_eq!((inst.op, inst.imm), (op, imm));
        }
    }
}

#[test]
fn no_two_table_entries_match_one_encoding() {
    assert_eq!(TABLE.len(), Op::ALL.len());
    for (&(mask, bits, op), &listed) in TABLE.iter().zip(Op::ALL) {
        assert_eq!(op, listed);
        assert_eq!(op.encoding(), (mask, bits));
        if op == Op::Illegal {
            assert_ne!(bits & mask, bits, "Illegal's pattern must never match");
            continue;
        }
        assert_eq!(bits & !mask, 0, "{op:?} requires bits its mask ignores, so it never matches");
        assert_eq!(bits & 3, 3, "{op:?} is not a 32-bit encoding");
    }
    // Two patterns share an encoding exactly when they agree on every bit both fix.
    for (i, &(mask_a, bits_a, a)) in TABLE.iter().enumerate() {
        for &(mask_b, bits_b, b) in &TABLE[i + 1..] {
            if a == Op::Illegal || b == Op::Illegal {
                continue;
            }
            assert_ne!((bits_a ^ bits_b) & mask_a & mask_b, 0, "{a:?} and {b:?} overlap");
        }
    }
}

#[test]
fn mnemonics_are_unique() {
    for (i, a) in Op::ALL.iter().enumerate() {
        for b in &Op::ALL[i + 1..] {
            assert_ne!(a.mnemonic(), b.mnemonic(), "{a:?} and {b:?}");
        }
    }
}

#[test]
fn unmatched_32_bit_encodings_are_illegal_with_their_bits() {
    let mut rng = Rng(12345);
    for _ in 0..100_000 {
        let raw = rng.next() as u32 | 3;
        let inst = decode(raw);
        let matching: Vec<Op> = legal_ops().filter(|op| raw & op.encoding().0 == op.encoding().1).collect();
        match matching[..] {
            [] => assert_eq!(inst, Inst::illegal(raw, 4), "{raw:#010x}"),
            [op] => assert_eq!((inst.op, inst.len), (op, 4), "{raw:#010x}"),
            _ => panic!("{raw:#010x} matches {matching:?}"),
        }
    }
}

#[test]
fn disassembly_matches_objdump() {
    // (encoding, pc, text): objdump's text with its spacing normalised to
    // ours and `0x` before branch targets. Compressed instructions print as
    // their expansion; what objdump prints as `.4byte`/`.2byte` prints as
    // `.insn`. Where the texts differ otherwise, the comment gives objdump's.
    let cases: &[(u32, u64, &str)] = &[
        (0x12345537, 0x80000000, "lui a0, 0x12345"),
        (0xffffffb7, 0x80000004, "lui t6, 0xfffff"),
        (0x00000037, 0x80000008, "lui zero, 0x0"),
        (0x80000097, 0x8000000c, "auipc ra, 0x80000"),
        (0x00001117, 0x80000010, "auipc sp, 0x1"),
        (0x100000ef, 0x80000014, "jal ra, 0x80000114"),
        (0xffdff06f, 0x80000018, "jal zero, 0x80000014"),
        (0x7ffff2ef, 0x8000001c, "jal t0, 0x8010001a"),
        (0x8000046f, 0x80000020, "jal s0, 0x7ff00020"),
        (0x000500e7, 0x80000024, "jalr ra, 0(a0)"),
        (0x80030067, 0x80000028, "jalr zero, -2048(t1)"),
        (0x7ff087e7, 0x8000002c, "jalr a5, 2047(ra)"),
        (0x00b50463, 0x80000030, "beq a0, a1, 0x80000038"),
        (0xff249ce3, 0x80000034, "bne s1, s2, 0x8000002c"),
        (0x7e504fe3, 0x80000038, "blt zero, t0, 0x80001036"),
        (0x81b8d063, 0x8000003c, "bge a7, s11, 0x7ffff03c"),
        (0x01de60e3, 0x80000040, "bltu t3, t4, 0x80000840"),
        (0xfe41ffe3, 0x80000044, "bgeu gp, tp, 0x80000042"),
        (0xfff10503, 0x80000048, "lb a0, -1(sp)"),
        (0x7ff61583, 0x8000004c, "lh a1, 2047(a2)"),
        (0x80042283, 0x80000050, "lw t0, -2048(s0)"),
        (0xff813483, 0x80000054, "ld s1, -8(sp)"),
        (0x00054503, 0x80000058, "lbu a0, 0(a0)"),
        (0x004fd003, 0x8000005c, "lhu zero, 4(t6)"),
        (0x06476683, 0x80000060, "lwu a3, 100(a4)"),
        (0xfea10fa3, 0x80000064, "sb a0, -1(sp)"),
        (0x7eb99fa3, 0x80000068, "sh a1, 2047(s3)"),
        (0x805a2023, 0x8000006c, "sw t0, -2048(s4)"),
        (0x00113423, 0x80000070, "sd ra, 8(sp)"),
        (0x00150513, 0x80000074, "addi a0, a0, 1"),
        (0x00000013, 0x80000078, "addi zero, zero, 0"),
        (0x80010113, 0x8000007c, "addi sp, sp, -2048"),
        (0xfff5a513, 0x80000080, "slti a0, a1, -1"),
        (0x7ff5b513, 0x80000084, "sltiu a0, a1, 2047"),
        (0xfff5c513, 0x80000088, "xori a0, a1, -1"),
        (0x7ff36293, 0x8000008c, "ori t0, t1, 2047"),
        (0xf009f913, 0x80000090, "andi s2, s3, -256"),
        (0x00051513, 0x80000094, "slli a0, a0, 0x0"),
        (0x03f51513, 0x80000098, "slli a0, a0, 0x3f"),
        (0x02065593, 0x8000009c, "srli a1, a2, 0x20"),
        (0x40175693, 0x800000a0, "srai a3, a4, 0x1"),
        (0x00c58533, 0x800000a4, "add a0, a1, a2"),
        (0x407302b3, 0x800000a8, "sub t0, t1, t2"),
        (0x016a9a33, 0x800000ac, "sll s4, s5, s6"),
        (0x019c2bb3, 0x800000b0, "slt s7, s8, s9"),
        (0x01cdbd33, 0x800000b4, "sltu s10, s11, t3"),
        (0x01ff4eb3, 0x800000b8, "xor t4, t5, t6"),
        (0x00c5d533, 0x800000bc, "srl a0, a1, a2"),
        (0x40c5d533, 0x800000c0, "sra a0, a1, a2"),
        (0x00c5e533, 0x800000c4, "or a0, a1, a2"),
        (0x00c5f533, 0x800000c8, "and a0, a1, a2"),
        (0xfff5051b, 0x800000cc, "addiw a0, a0, -1"),
        (0x01f5951b, 0x800000d0, "slliw a0, a1, 0x1f"),
        (0x0005d51b, 0x800000d4, "srliw a0, a1, 0x0"),
        (0x4115d51b, 0x800000d8, "sraiw a0, a1, 0x11"),
        (0x00c5853b, 0x800000dc, "addw a0, a1, a2"),
        (0x40c5853b, 0x800000e0, "subw a0, a1, a2"),
        (0x00c5953b, 0x800000e4, "sllw a0, a1, a2"),
        (0x00c5d53b, 0x800000e8, "srlw a0, a1, a2"),
        (0x40c5d53b, 0x800000ec, "sraw a0, a1, a2"),
        (0x0ff0000f, 0x800000f0, "fence iorw, iorw"),
        (0x0210000f, 0x800000f4, "fence r, w"),
        (0x0840000f, 0x800000f8, "fence i, o"),
        (0x0130000f, 0x800000fc, "fence w, rw"),
        (0x8330000f, 0x80000100, "fence.tso"),
        (0x0000100f, 0x80000104, "fence.i"),
        (0x00000073, 0x80000108, "ecall"),
        (0x00100073, 0x8000010c, "ebreak"),
        (0x30059573, 0x80000110, "csrrw a0, mstatus, a1"),
        (0x34102573, 0x80000114, "csrrs a0, mepc, zero"),
        (0x3042b073, 0x80000118, "csrrc zero, mie, t0"),
        (0x7c059573, 0x8000011c, "csrrw a0, 0x7c0, a1"),
        (0xc0002573, 0x80000120, "csrrs a0, cycle, zero"),
        (0xc0102573, 0x80000124, "csrrs a0, time, zero"),
        (0xc0202573, 0x80000128, "csrrs a0, instret, zero"),
        (0xf1402573, 0x8000012c, "csrrs a0, mhartid, zero"),
        (0x30502573, 0x80000130, "csrrs a0, mtvec, zero"),
        (0x34002573, 0x80000134, "csrrs a0, mscratch, zero"),
        (0x34202573, 0x80000138, "csrrs a0, mcause, zero"),
        (0x34302573, 0x8000013c, "csrrs a0, mtval, zero"),
        (0x34402573, 0x80000140, "csrrs a0, mip, zero"),
        (0x30102573, 0x80000144, "csrrs a0, misa, zero"),
        (0xb0002573, 0x80000148, "csrrs a0, mcycle, zero"),
        (0xb0202573, 0x8000014c, "csrrs a0, minstret, zero"),
        (0x3a002573, 0x80000150, "csrrs a0, pmpcfg0, zero"),
        (0x3b002573, 0x80000154, "csrrs a0, pmpaddr0, zero"),
        (0x30602573, 0x80000158, "csrrs a0, mcounteren, zero"),
        (0xc0302573, 0x8000015c, "csrrs a0, hpmcounter3, zero"),
        (0xb1f02573, 0x80000160, "csrrs a0, mhpmcounter31, zero"),
        (0x80002573, 0x80000164, "csrrs a0, 0x800, zero"),
        (0xfff02573, 0x80000168, "csrrs a0, 0xfff, zero"),
        (0x3002d573, 0x8000016c, "csrrwi a0, mstatus, 5"),
        (0x304fe073, 0x80000170, "csrrsi zero, mie, 31"),
        (0x344072f3, 0x80000174, "csrrci t0, mip, 0"),
        (0x1230d573, 0x80000178, "csrrwi a0, 0x123, 1"),
        (0x10200073, 0x8000017c, "sret"),
        (0x30200073, 0x80000180, "mret"),
        (0x10500073, 0x80000184, "wfi"),
        (0x12000073, 0x80000188, "sfence.vma zero, zero"),
        (0x12b50073, 0x8000018c, "sfence.vma a0, a1"),
        (0x12050073, 0x80000190, "sfence.vma a0, zero"),
        (0x02c58533, 0x80000194, "mul a0, a1, a2"),
        (0x02c59533, 0x80000198, "mulh a0, a1, a2"),
        (0x02c5a533, 0x8000019c, "mulhsu a0, a1, a2"),
        (0x02c5b533, 0x800001a0, "mulhu a0, a1, a2"),
        (0x02c5c533, 0x800001a4, "div a0, a1, a2"),
        (0x02c5d533, 0x800001a8, "divu a0, a1, a2"),
        (0x02c5e533, 0x800001ac, "rem a0, a1, a2"),
        (0x02c5f533, 0x800001b0, "remu a0, a1, a2"),
        (0x02c5853b, 0x800001b4, "mulw a0, a1, a2"),
        (0x02c5c53b, 0x800001b8, "divw a0, a1, a2"),
        (0x02c5d53b, 0x800001bc, "divuw a0, a1, a2"),
        (0x02c5e53b, 0x800001c0, "remw a0, a1, a2"),
        (0x02c5f53b, 0x800001c4, "remuw a0, a1, a2"),
        (0x1005a52f, 0x800001c8, "lr.w a0, (a1)"),
        (0x1405a52f, 0x800001cc, "lr.w.aq a0, (a1)"),
        (0x120132af, 0x800001d0, "lr.d.rl t0, (sp)"),
        (0x1605302f, 0x800001d4, "lr.d.aqrl zero, (a0)"),
        (0x18b6252f, 0x800001d8, "sc.w a0, a1, (a2)"),
        (0x1eb6352f, 0x800001dc, "sc.d.aqrl a0, a1, (a2)"),
        (0x08b6252f, 0x800001e0, "amoswap.w a0, a1, (a2)"),
        (0x04b6252f, 0x800001e4, "amoadd.w.aq a0, a1, (a2)"),
        (0x22b6252f, 0x800001e8, "amoxor.w.rl a0, a1, (a2)"),
        (0x66b6252f, 0x800001ec, "amoand.w.aqrl a0, a1, (a2)"),
        (0x40b6252f, 0x800001f0, "amoor.w a0, a1, (a2)"),
        (0x80b6252f, 0x800001f4, "amomin.w a0, a1, (a2)"),
        (0xa0b6252f, 0x800001f8, "amomax.w a0, a1, (a2)"),
        (0xc0b6252f, 0x800001fc, "amominu.w a0, a1, (a2)"),
        (0xe0b6252f, 0x80000200, "amomaxu.w a0, a1, (a2)"),
        (0x08b6352f, 0x80000204, "amoswap.d a0, a1, (a2)"),
        (0x00b6352f, 0x80000208, "amoadd.d a0, a1, (a2)"),
        (0x20b6352f, 0x8000020c, "amoxor.d a0, a1, (a2)"),
        (0x60b6352f, 0x80000210, "amoand.d a0, a1, (a2)"),
        (0x40b6352f, 0x80000214, "amoor.d a0, a1, (a2)"),
        (0x84b6352f, 0x80000218, "amomin.d.aq a0, a1, (a2)"),
        (0xa2b6352f, 0x8000021c, "amomax.d.rl a0, a1, (a2)"),
        (0xc6b6352f, 0x80000220, "amominu.d.aqrl a0, a1, (a2)"),
        (0xe0b6352f, 0x80000224, "amomaxu.d a0, a1, (a2)"),
        (0x3bf02573, 0x80000228, "csrrs a0, pmpaddr15, zero"),
        (0x3a202573, 0x8000022c, "csrrs a0, pmpcfg2, zero"),
        (0x32351073, 0x80000230, "csrrw zero, mhpmevent3, a0"),
        (0x30202573, 0x80000234, "csrrs a0, medeleg, zero"),
        (0x30302573, 0x80000238, "csrrs a0, mideleg, zero"),
        (0x30a02573, 0x8000023c, "csrrs a0, menvcfg, zero"), // objdump 2.40 defaults to priv spec 1.11: 0x30a
        (0xf1502573, 0x80000240, "csrrs a0, mconfigptr, zero"), // objdump 2.40 defaults to priv spec 1.11: 0xf15
        (0xf1102573, 0x80000244, "csrrs a0, mvendorid, zero"),
        (0xc1f02573, 0x80000248, "csrrs a0, hpmcounter31, zero"),
        (0xb0302573, 0x8000024c, "csrrs a0, mhpmcounter3, zero"),
        (0x02008073, 0x80000250, ".insn 4, 0x02008073"),
        (0x00200073, 0x80000254, ".insn 4, 0x00200073"), // objdump: uret (N, not implemented)
        (0xfe000033, 0x80000258, ".insn 4, 0xfe000033"),
        (0x4000103b, 0x8000025c, ".insn 4, 0x4000103b"),
        (0x0200d03b, 0x80000260, "divuw zero, ra, zero"),
        (0x10002073, 0x80000264, "csrrs zero, sstatus, zero"),
        (0x18051073, 0x80000264, "csrrw zero, satp, a0"),
        (0x14102573, 0x80000264, "csrrs a0, sepc, zero"),
        (0x1fe0, 0x80000268, "addi s0, sp, 1020"),
        (0x5fe4, 0x8000026a, "lw s1, 124(a5)"),
        (0x6050, 0x8000026c, "ld a2, 128(s0)"),
        (0xdfe4, 0x8000026e, "sw s1, 124(a5)"),
        (0xffe4, 0x80000270, "sd s1, 248(a5)"),
        (0x0001, 0x80000272, "addi zero, zero, 0"),
        (0x1101, 0x80000274, "addi sp, sp, -32"),
        (0x3f81, 0x80000276, "addiw t6, t6, -32"),
        (0x5281, 0x80000278, "addi t0, zero, -32"),
        (0x7101, 0x8000027a, "addi sp, sp, -512"),
        (0x617d, 0x8000027c, "addi sp, sp, 496"),
        (0x7401, 0x8000027e, "lui s0, 0xfffe0"),
        (0x6ffd, 0x80000280, "lui t6, 0x1f"),
        (0x93fd, 0x80000282, "srli a5, a5, 0x3f"),
        (0x9401, 0x80000284, "srai s0, s0, 0x20"),
        (0x9b81, 0x80000286, "andi a5, a5, -32"),
        (0x8d0d, 0x80000288, "sub a0, a0, a1"),
        (0x9d0d, 0x8000028a, "subw a0, a0, a1"),
        (0x9cbd, 0x8000028c, "addw s1, s1, a5"),
        (0xb001, 0x8000028e, "jal zero, 0x7ffffa8e"),
        (0xaffd, 0x80000290, "jal zero, 0x80000a8e"),
        (0xd081, 0x80000292, "beq s1, zero, 0x80000192"),
        (0xeffd, 0x80000294, "bne a5, zero, 0x80000392"),
        (0x10fe, 0x80000296, "slli ra, ra, 0x3f"),
        (0x5ffe, 0x80000298, "lw t6, 252(sp)"),
        (0x7dfe, 0x8000029a, "ld s11, 504(sp)"),
        (0x8082, 0x8000029c, "jalr zero, 0(ra)"),
        (0x852e, 0x8000029e, "add a0, zero, a1"),
        (0x9002, 0x800002a0, "ebreak"),
        (0x9502, 0x800002a2, "jalr ra, 0(a0)"),
        (0x9f8a, 0x800002a4, "add t6, t6, sp"),
        (0xdffe, 0x800002a6, "sw t6, 252(sp)"),
        (0xff86, 0x800002a8, "sd ra, 504(sp)"),
        // F and D (objdump -march=rv64imafdc): the rounding mode prints
        // unless it is dynamic.
        (0x0085a507, 0x80000400, "flw fa0, 8(a1)"),
        (0xfeb12e27, 0x80000404, "fsw fa1, -4(sp)"),
        (0x7f82b407, 0x80000408, "fld fs0, 2040(t0)"),
        (0x81f7b027, 0x8000040c, "fsd ft11, -2048(a5)"),
        (0x68c5f543, 0x80000410, "fmadd.s fa0, fa1, fa2, fa3"),
        (0x1a209047, 0x80000414, "fmsub.d ft0, ft1, ft2, ft3, rtz"),
        (0xa13904cb, 0x80000418, "fnmsub.s fs1, fs2, fs3, fs4, rne"),
        (0xebcdc8cf, 0x8000041c, "fnmadd.d fa7, fs11, ft8, ft9, rmm"),
        (0x00c5f553, 0x80000420, "fadd.s fa0, fa1, fa2"),
        (0x0ac5a553, 0x80000424, "fsub.d fa0, fa1, fa2, rdn"),
        (0x1020b053, 0x80000428, "fmul.s ft0, ft1, ft2, rup"),
        (0x1ac5f553, 0x8000042c, "fdiv.d fa0, fa1, fa2"),
        (0x5805f553, 0x80000430, "fsqrt.s fa0, fa1"),
        (0x5a059553, 0x80000434, "fsqrt.d fa0, fa1, rtz"),
        (0x20c58553, 0x80000438, "fsgnj.s fa0, fa1, fa2"),
        (0x22c59553, 0x8000043c, "fsgnjn.d fa0, fa1, fa2"),
        (0x20c5a553, 0x80000440, "fsgnjx.s fa0, fa1, fa2"),
        (0x2ac58553, 0x80000444, "fmin.d fa0, fa1, fa2"),
        (0x28c59553, 0x80000448, "fmax.s fa0, fa1, fa2"),
        (0x4015f553, 0x8000044c, "fcvt.s.d fa0, fa1"),
        (0x42058553, 0x80000450, "fcvt.d.s fa0, fa1"),
        (0xc0059553, 0x80000454, "fcvt.w.s a0, fa1, rtz"),
        (0xc215f553, 0x80000458, "fcvt.wu.d a0, fa1"),
        (0xc02002d3, 0x8000045c, "fcvt.l.s t0, ft0, rne"),
        (0xc234c4d3, 0x80000460, "fcvt.lu.d s1, fs1, rmm"),
        (0xd0057553, 0x80000464, "fcvt.s.w fa0, a0"),
        (0xd2150553, 0x80000468, "fcvt.d.wu fa0, a0"),
        (0xd0252553, 0x8000046c, "fcvt.s.l fa0, a0, rdn"),
        (0xd2357553, 0x80000470, "fcvt.d.lu fa0, a0"),
        (0xe0050553, 0x80000474, "fmv.x.w a0, fa0"),
        (0xe2050553, 0x80000478, "fmv.x.d a0, fa0"),
        (0xf0050553, 0x8000047c, "fmv.w.x fa0, a0"),
        (0xf2050553, 0x80000480, "fmv.d.x fa0, a0"),
        (0xa0b52553, 0x80000484, "feq.s a0, fa0, fa1"),
        (0xa2b51553, 0x80000488, "flt.d a0, fa0, fa1"),
        (0xa0b50553, 0x8000048c, "fle.s a0, fa0, fa1"),
        (0xe2051553, 0x80000490, "fclass.d a0, fa0"),
        (0x2588, 0x80000494, "fld fa0, 8(a1)"),
        (0xbfe4, 0x80000496, "fsd fs1, 248(a5)"),
        (0x27c2, 0x80000498, "fld fa5, 16(sp)"),
        (0xbf82, 0x8000049a, "fsd ft0, 504(sp)"),
        (0x0000, 0x800002aa, ".insn 2, 0x0000"),
        (0x6101, 0x800002ac, ".insn 2, 0x6101"), // objdump: c.addi16sp sp,0 (reserved)
        (0x2000, 0x800002ae, "fld fs0, 0(s0)"),
        (0x8000, 0x800002b0, ".insn 2, 0x8000"),
        (0x9c41, 0x800002b2, ".insn 2, 0x9c41"),
        (0x4002, 0x800002b4, ".insn 2, 0x4002"),
        // One field away from an instruction: objdump prints these as `.4byte`.
        (0x12000173, 0x80000000, ".insn 4, 0x12000173"), // sfence.vma with rd
        (0x1015a52f, 0x80000000, ".insn 4, 0x1015a52f"), // lr.w with rs2
        (0x00000173, 0x80000000, ".insn 4, 0x00000173"), // ecall with rd
        (0x00108073, 0x80000000, ".insn 4, 0x00108073"), // ebreak with rs1
        (0x30200873, 0x80000000, ".insn 4, 0x30200873"), // mret with rd
        (0x10580073, 0x80000000, ".insn 4, 0x10580073"), // wfi with rs1
        (0x0600101b, 0x80000000, ".insn 4, 0x0600101b"), // slliw with shamt[5]
        (0x0200101b, 0x80000000, ".insn 4, 0x0200101b"), // slliw with funct7 1
        (0x4200503b, 0x80000000, ".insn 4, 0x4200503b"), // sraw with funct7 0x21
        (0x3c0035b3, 0x80000000, ".insn 4, 0x3c0035b3"), // sltu with funct7 0x1e
        (0x8000202f, 0x80000000, "amomin.w zero, zero, (zero)"),
        // Longer encodings than 32 bits are not implemented: 4-byte illegal.
        (0xffffffff, 0x80000000, ".insn 4, 0xffffffff"),
        (0x0000007f, 0x80000000, ".insn 4, 0x0000007f"),
        // Empty fence sets: objdump prints `unknown`.
        (0x0000000f, 0x80000000, "fence 0, 0"),
        (0x0090000f, 0x80000000, "fence 0, iw"),
        // Reserved fm, rd or rs1 execute as a plain fence (unprivileged spec
        // 2.7); objdump prints such encodings as `.4byte`.
        (0x8220000f, 0x80000000, "fence r, r"),
        (0x833a8a0f, 0x80000000, "fence.tso"),
        (0xdbc0100f, 0x80000000, "fence.i"),
        // Targets wrap around the address space.
        (0xff9ff06f, 0x0, "jal zero, 0xfffffffffffffff8"),
        (0x0000006f, 0xfffffffffffffffc, "jal zero, 0xfffffffffffffffc"),
        (0x00000463, 0xfffffffffffffffc, "beq zero, zero, 0x4"),
    ];
    for &(raw, pc, text) in cases {
        assert_eq!(Disassembly::new(decode(raw), pc).to_string(), text, "{raw:#010x} at {pc:#x}");
    }
}

#[test]
fn register_names_are_the_abi_names() {
    assert_eq!(register_name(0), "zero");
    assert_eq!(register_name(2), "sp");
    assert_eq!(register_name(8), "s0");
    assert_eq!(register_name(18), "s2");
    assert_eq!(register_name(31), "t6");
    // The scratch slot that writes to x0 are redirected to prints as x0.
    assert_eq!(register_name(32), "zero");
}

/// The instruction compressed `raw` should expand to.
fn c(op: Op, rd: u8, rs1: u8, rs2: u8, imm: i32) -> Inst {
    Inst { rd, rs1, rs2, imm, ..Inst::new(op, 2) }
}

#[test]
fn compressed_instructions_expand_as_the_spec_says() {
    use Op::*;
    // Encodings from `as` with explicit `c.` mnemonics; expansions from
    // objdump without `no-aliases` and the C chapter's table.
    let cases: &[(u16, &str, Inst)] = &[
        (0x0048, "c.addi4spn a0,sp,4", c(Addi, 10, 2, 0, 4)),
        (0x1fe0, "c.addi4spn s0,sp,1020", c(Addi, 8, 2, 0, 1020)),
        (0x041c, "c.addi4spn a5,sp,512", c(Addi, 15, 2, 0, 512)),
        (0x4188, "c.lw a0,0(a1)", c(Lw, 10, 11, 0, 0)),
        (0x5fe4, "c.lw s1,124(a5)", c(Lw, 9, 15, 0, 124)),
        (0x4030, "c.lw a2,64(s0)", c(Lw, 12, 8, 0, 64)),
        (0x4354, "c.lw a3,4(a4)", c(Lw, 13, 14, 0, 4)),
        (0x6188, "c.ld a0,0(a1)", c(Ld, 10, 11, 0, 0)),
        (0x7fe4, "c.ld s1,248(a5)", c(Ld, 9, 15, 0, 248)),
        (0x6050, "c.ld a2,128(s0)", c(Ld, 12, 8, 0, 128)),
        (0xc188, "c.sw a0,0(a1)", c(Sw, 0, 11, 10, 0)),
        (0xdfe4, "c.sw s1,124(a5)", c(Sw, 0, 15, 9, 124)),
        (0xe188, "c.sd a0,0(a1)", c(Sd, 0, 11, 10, 0)),
        (0xffe4, "c.sd s1,248(a5)", c(Sd, 0, 15, 9, 248)),
        (0x0001, "c.nop", c(Addi, 0, 0, 0, 0)),
        (0x0505, "c.addi a0,1", c(Addi, 10, 10, 0, 1)),
        (0x1101, "c.addi sp,-32", c(Addi, 2, 2, 0, -32)),
        (0x0ffd, "c.addi t6,31", c(Addi, 31, 31, 0, 31)),
        (0x0015, "c.addi zero,5 (hint)", c(Addi, 0, 0, 0, 5)),
        (0x0501, "c.addi a0,0 (hint)", c(Addi, 10, 10, 0, 0)),
        (0x2505, "c.addiw a0,1", c(Addiw, 10, 10, 0, 1)),
        (0x3f81, "c.addiw t6,-32", c(Addiw, 31, 31, 0, -32)),
        (0x2401, "c.addiw s0,0", c(Addiw, 8, 8, 0, 0)),
        (0x457d, "c.li a0,31", c(Addi, 10, 0, 0, 31)),
        (0x5281, "c.li t0,-32", c(Addi, 5, 0, 0, -32)),
        (0x4005, "c.li zero,1 (hint)", c(Addi, 0, 0, 0, 1)),
        (0x6141, "c.addi16sp sp,16", c(Addi, 2, 2, 0, 16)),
        (0x617d, "c.addi16sp sp,496", c(Addi, 2, 2, 0, 496)),
        (0x7101, "c.addi16sp sp,-512", c(Addi, 2, 2, 0, -512)),
        (0x717d, "c.addi16sp sp,-16", c(Addi, 2, 2, 0, -16)),
        (0x6505, "c.lui a0,0x1", c(Lui, 10, 0, 0, 0x1000)),
        (0x6ffd, "c.lui t6,0x1f", c(Lui, 31, 0, 0, 0x1f000)),
        (0x7401, "c.lui s0,0xfffe0", c(Lui, 8, 0, 0, -0x20000)),
        (0x70fd, "c.lui ra,0xfffff", c(Lui, 1, 0, 0, -0x1000)),
        (0x6005, "c.lui zero,0x1 (hint)", c(Lui, 0, 0, 0, 0x1000)),
        (0x8105, "c.srli a0,0x1", c(Srli, 10, 10, 0, 1)),
        (0x80fd, "c.srli s1,0x1f", c(Srli, 9, 9, 0, 31)),
        (0x9381, "c.srli a5,0x20", c(Srli, 15, 15, 0, 32)),
        (0x93fd, "c.srli a5,0x3f", c(Srli, 15, 15, 0, 63)),
        (0x8505, "c.srai a0,0x1", c(Srai, 10, 10, 0, 1)),
        (0x9401, "c.srai s0,0x20", c(Srai, 8, 8, 0, 32)),
        (0x977d, "c.srai a4,0x3f", c(Srai, 14, 14, 0, 63)),
        (0x8901, "c.andi a0,0", c(Andi, 10, 10, 0, 0)),
        (0x98fd, "c.andi s1,-1", c(Andi, 9, 9, 0, -1)),
        (0x9b81, "c.andi a5,-32", c(Andi, 15, 15, 0, -32)),
        (0x8bfd, "c.andi a5,31", c(Andi, 15, 15, 0, 31)),
        (0x8d0d, "c.sub a0,a1", c(Sub, 10, 10, 11, 0)),
        (0x8c3d, "c.xor s0,a5", c(Xor, 8, 8, 15, 0)),
        (0x8cd9, "c.or s1,a4", c(Or, 9, 9, 14, 0)),
        (0x8e75, "c.and a2,a3", c(And, 12, 12, 13, 0)),
        (0x9d0d, "c.subw a0,a1", c(Subw, 10, 10, 11, 0)),
        (0x9cbd, "c.addw s1,a5", c(Addw, 9, 9, 15, 0)),
        (0xa009, "c.j .+2", c(Jal, 0, 0, 0, 2)),
        (0xb001, "c.j .-2048", c(Jal, 0, 0, 0, -2048)),
        (0xaffd, "c.j .+2046", c(Jal, 0, 0, 0, 2046)),
        (0xbffd, "c.j .-2", c(Jal, 0, 0, 0, -2)),
        (0xc109, "c.beqz a0,.+2", c(Beq, 0, 10, 0, 2)),
        (0xd081, "c.beqz s1,.-256", c(Beq, 0, 9, 0, -256)),
        (0xcffd, "c.beqz a5,.+254", c(Beq, 0, 15, 0, 254)),
        (0xfc7d, "c.bnez s0,.-2", c(Bne, 0, 8, 0, -2)),
        (0xe341, "c.bnez a4,.+128", c(Bne, 0, 14, 0, 128)),
        (0x0506, "c.slli a0,0x1", c(Slli, 10, 10, 0, 1)),
        (0x0ffe, "c.slli t6,0x1f", c(Slli, 31, 31, 0, 31)),
        (0x1402, "c.slli s0,0x20", c(Slli, 8, 8, 0, 32)),
        (0x10fe, "c.slli ra,0x3f", c(Slli, 1, 1, 0, 63)),
        (0x4502, "c.lwsp a0,0(sp)", c(Lw, 10, 2, 0, 0)),
        (0x5ffe, "c.lwsp t6,252(sp)", c(Lw, 31, 2, 0, 252)),
        (0x4092, "c.lwsp ra,4(sp)", c(Lw, 1, 2, 0, 4)),
        (0x6502, "c.ldsp a0,0(sp)", c(Ld, 10, 2, 0, 0)),
        (0x7dfe, "c.ldsp s11,504(sp)", c(Ld, 27, 2, 0, 504)),
        (0x60a2, "c.ldsp ra,8(sp)", c(Ld, 1, 2, 0, 8)),
        (0x8082, "c.jr ra", c(Jalr, 0, 1, 0, 0)),
        (0x8f82, "c.jr t6", c(Jalr, 0, 31, 0, 0)),
        (0x852e, "c.mv a0,a1", c(Add, 10, 0, 11, 0)),
        (0x8f86, "c.mv t6,ra", c(Add, 31, 0, 1, 0)),
        (0x9002, "c.ebreak", c(Ebreak, 0, 0, 0, 0)),
        (0x9502, "c.jalr a0", c(Jalr, 1, 10, 0, 0)),
        (0x9082, "c.jalr ra", c(Jalr, 1, 1, 0, 0)),
        (0x952e, "c.add a0,a1", c(Add, 10, 10, 11, 0)),
        (0x9f8a, "c.add t6,sp", c(Add, 31, 31, 2, 0)),
        (0xc02a, "c.swsp a0,0(sp)", c(Sw, 0, 2, 10, 0)),
        (0xdffe, "c.swsp t6,252(sp)", c(Sw, 0, 2, 31, 252)),
        (0xe02a, "c.sdsp a0,0(sp)", c(Sd, 0, 2, 10, 0)),
        (0xff86, "c.sdsp ra,504(sp)", c(Sd, 0, 2, 1, 504)),
    ];
    for &(raw, text, expected) in cases {
        assert_eq!(decode(u32::from(raw)), expected, "{raw:#06x} {text}");
        // The upper half of the word a compressed instruction is fetched in
        // belongs to the next instruction.
        assert_eq!(decode(0xdead_0000 | u32::from(raw)), expected, "{raw:#06x} {text} with upper bits");
    }
}

#[test]
fn every_immediate_bit_of_compressed_forms_lands_in_place() {
    // One instruction per immediate bit (and the sign), from `as`.
    let cases: &[(u16, Op, i32)] = &[
        (0x0048, Op::Addi, 4),      // c.addi4spn a0, sp, 4
        (0x0028, Op::Addi, 8),      // c.addi4spn a0, sp, 8
        (0x0808, Op::Addi, 16),     // c.addi4spn a0, sp, 16
        (0x1008, Op::Addi, 32),     // c.addi4spn a0, sp, 32
        (0x0088, Op::Addi, 64),     // c.addi4spn a0, sp, 64
        (0x0108, Op::Addi, 128),    // c.addi4spn a0, sp, 128
        (0x0208, Op::Addi, 256),    // c.addi4spn a0, sp, 256
        (0x0408, Op::Addi, 512),    // c.addi4spn a0, sp, 512
        (0x41c8, Op::Lw, 4),        // c.lw a0, 4(a1)
        (0x4588, Op::Lw, 8),        // c.lw a0, 8(a1)
        (0x4988, Op::Lw, 16),       // c.lw a0, 16(a1)
        (0x5188, Op::Lw, 32),       // c.lw a0, 32(a1)
        (0x41a8, Op::Lw, 64),       // c.lw a0, 64(a1)
        (0x6588, Op::Ld, 8),        // c.ld a0, 8(a1)
        (0x6988, Op::Ld, 16),       // c.ld a0, 16(a1)
        (0x7188, Op::Ld, 32),       // c.ld a0, 32(a1)
        (0x61a8, Op::Ld, 64),       // c.ld a0, 64(a1)
        (0x61c8, Op::Ld, 128),      // c.ld a0, 128(a1)
        (0xc1c8, Op::Sw, 4),        // c.sw a0, 4(a1)
        (0xc588, Op::Sw, 8),        // c.sw a0, 8(a1)
        (0xc988, Op::Sw, 16),       // c.sw a0, 16(a1)
        (0xd188, Op::Sw, 32),       // c.sw a0, 32(a1)
        (0xc1a8, Op::Sw, 64),       // c.sw a0, 64(a1)
        (0xe588, Op::Sd, 8),        // c.sd a0, 8(a1)
        (0xe988, Op::Sd, 16),       // c.sd a0, 16(a1)
        (0xf188, Op::Sd, 32),       // c.sd a0, 32(a1)
        (0xe1a8, Op::Sd, 64),       // c.sd a0, 64(a1)
        (0xe1c8, Op::Sd, 128),      // c.sd a0, 128(a1)
        (0x0505, Op::Addi, 1),      // c.addi a0, 1
        (0x0509, Op::Addi, 2),      // c.addi a0, 2
        (0x0511, Op::Addi, 4),      // c.addi a0, 4
        (0x0521, Op::Addi, 8),      // c.addi a0, 8
        (0x0541, Op::Addi, 16),     // c.addi a0, 16
        (0x1501, Op::Addi, -32),    // c.addi a0, -32
        (0x6141, Op::Addi, 16),     // c.addi16sp sp, 16
        (0x6105, Op::Addi, 32),     // c.addi16sp sp, 32
        (0x6121, Op::Addi, 64),     // c.addi16sp sp, 64
        (0x6109, Op::Addi, 128),    // c.addi16sp sp, 128
        (0x6111, Op::Addi, 256),    // c.addi16sp sp, 256
        (0x7101, Op::Addi, -512),   // c.addi16sp sp, -512
        (0x6505, Op::Lui, 4096),    // c.lui a0, 0x1
        (0x6509, Op::Lui, 8192),    // c.lui a0, 0x2
        (0x6511, Op::Lui, 16384),   // c.lui a0, 0x4
        (0x6521, Op::Lui, 32768),   // c.lui a0, 0x8
        (0x6541, Op::Lui, 65536),   // c.lui a0, 0x10
        (0x7501, Op::Lui, -131072), // c.lui a0, 0xfffe0
        (0xa009, Op::Jal, 2),       // c.j .+2
        (0xa011, Op::Jal, 4),       // c.j .+4
        (0xa021, Op::Jal, 8),       // c.j .+8
        (0xa801, Op::Jal, 16),      // c.j .+16
        (0xa005, Op::Jal, 32),      // c.j .+32
        (0xa081, Op::Jal, 64),      // c.j .+64
        (0xa041, Op::Jal, 128),     // c.j .+128
        (0xa201, Op::Jal, 256),     // c.j .+256
        (0xa401, Op::Jal, 512),     // c.j .+512
        (0xa101, Op::Jal, 1024),    // c.j .+1024
        (0xb001, Op::Jal, -2048),   // c.j .+-2048
        (0xc109, Op::Beq, 2),       // c.beqz a0, .+2
        (0xc111, Op::Beq, 4),       // c.beqz a0, .+4
        (0xc501, Op::Beq, 8),       // c.beqz a0, .+8
        (0xc901, Op::Beq, 16),      // c.beqz a0, .+16
        (0xc105, Op::Beq, 32),      // c.beqz a0, .+32
        (0xc121, Op::Beq, 64),      // c.beqz a0, .+64
        (0xc141, Op::Beq, 128),     // c.beqz a0, .+128
        (0xd101, Op::Beq, -256),    // c.beqz a0, .+-256
        (0x4512, Op::Lw, 4),        // c.lwsp a0, 4(sp)
        (0x4522, Op::Lw, 8),        // c.lwsp a0, 8(sp)
        (0x4542, Op::Lw, 16),       // c.lwsp a0, 16(sp)
        (0x5502, Op::Lw, 32),       // c.lwsp a0, 32(sp)
        (0x4506, Op::Lw, 64),       // c.lwsp a0, 64(sp)
        (0x450a, Op::Lw, 128),      // c.lwsp a0, 128(sp)
        (0x6522, Op::Ld, 8),        // c.ldsp a0, 8(sp)
        (0x6542, Op::Ld, 16),       // c.ldsp a0, 16(sp)
        (0x7502, Op::Ld, 32),       // c.ldsp a0, 32(sp)
        (0x6506, Op::Ld, 64),       // c.ldsp a0, 64(sp)
        (0x650a, Op::Ld, 128),      // c.ldsp a0, 128(sp)
        (0x6512, Op::Ld, 256),      // c.ldsp a0, 256(sp)
        (0xc22a, Op::Sw, 4),        // c.swsp a0, 4(sp)
        (0xc42a, Op::Sw, 8),        // c.swsp a0, 8(sp)
        (0xc82a, Op::Sw, 16),       // c.swsp a0, 16(sp)
        (0xd02a, Op::Sw, 32),       // c.swsp a0, 32(sp)
        (0xc0aa, Op::Sw, 64),       // c.swsp a0, 64(sp)
        (0xc12a, Op::Sw, 128),      // c.swsp a0, 128(sp)
        (0xe42a, Op::Sd, 8),        // c.sdsp a0, 8(sp)
        (0xe82a, Op::Sd, 16),       // c.sdsp a0, 16(sp)
        (0xf02a, Op::Sd, 32),       // c.sdsp a0, 32(sp)
        (0xe0aa, Op::Sd, 64),       // c.sdsp a0, 64(sp)
        (0xe12a, Op::Sd, 128),      // c.sdsp a0, 128(sp)
        (0xe22a, Op::Sd, 256),      // c.sdsp a0, 256(sp)
        (0x0506, Op::Slli, 1),      // c.slli a0, 1
        (0x050a, Op::Slli, 2),      // c.slli a0, 2
        (0x0512, Op::Slli, 4),      // c.slli a0, 4
        (0x0522, Op::Slli, 8),      // c.slli a0, 8
        (0x0542, Op::Slli, 16),     // c.slli a0, 16
        (0x1502, Op::Slli, 32),     // c.slli a0, 32
    ];
    for &(raw, op, imm) in cases {
        let inst = decode(u32::from(raw));
        assert_eq!((inst.op, inst.imm, inst.len), (op, imm, 2), "{raw:#06x}");
    }
}

#[test]
fn reserved_and_unimplemented_compressed_encodings_are_illegal() {
    let cases: &[(u16, &str)] = &[
        (0x0000, "all zero: defined illegal"),
        (0x0004, "c.addi4spn a1,sp,0"),
        (0x001c, "c.addi4spn a5,sp,0"),
        (0x6101, "c.addi16sp sp,0"),
        (0x6501, "c.lui a0,0"),
        (0x6001, "c.lui zero,0"),
        (0x4002, "c.lwsp zero,0(sp)"),
        (0x507e, "c.lwsp zero,252(sp)"),
        (0x6002, "c.ldsp zero,0(sp)"),
        (0x8002, "c.jr zero"),
        (0x2001, "c.addiw zero,0"),
        (0x307d, "c.addiw zero,-1"),
        (0x9c41, "reserved in the c.subw/c.addw space (funct2 10)"),
        (0x9c61, "reserved in the c.subw/c.addw space (funct2 11)"),
        (0x9fed, "reserved in the c.subw/c.addw space, other registers"),
        (0x8000, "quadrant 0 funct3 100: reserved"),
    ];
    for &(raw, text) in cases {
        assert_eq!(decode(u32::from(raw)), Inst::illegal(u32::from(raw), 2), "{raw:#06x} {text}");
        let inst = decode(0xffff_0000 | u32::from(raw));
        assert_eq!((inst.op, inst.imm, inst.len), (Op::Illegal, i32::from(raw), 2), "{raw:#06x} with upper bits");
    }
}

#[test]
fn every_compressed_expansion_is_a_valid_32_bit_instruction() {
    let mut illegal = 0;
    for raw in (0..=u16::MAX).filter(|raw| raw & 3 != 3) {
        let inst = compressed::expand(raw);
        assert_eq!(inst.len, 2, "{raw:#06x}");
        assert_eq!(decode(u32::from(raw)), inst);
        if inst.op == Op::Illegal {
            assert_eq!(inst.imm, i32::from(raw), "{raw:#06x}");
            illegal += 1;
            continue;
        }
        assert_eq!(decode(inst.encode()), Inst { len: 4, ..inst }, "{raw:#06x}");
    }
    // objdump 2.40 (rv64imac) leaves 10599 encodings undecoded and prints two
    // more that are not instructions: c.unimp (0x0000) and c.addi16sp with a
    // zero immediate (0x6101, reserved); the D extension's c.fld, c.fsd,
    // c.fldsp and c.fsdsp take 4 × 2048 of those.
    assert_eq!(illegal, 10_601 - 4 * 2048);
}

#[test]
fn compressed_floating_point_loads_and_stores_compress_back() {
    let mut count = 0;
    for raw in (0..=u16::MAX).filter(|raw| raw & 3 != 3) {
        let inst = compressed::expand(raw);
        if matches!(inst.op, Op::Fld | Op::Fsd) {
            assert_eq!(compress(&inst), Some(raw), "{raw:#06x} {inst:?}");
            count += 1;
        } else {
            assert_eq!(compress(&inst), None, "{raw:#06x} {inst:?}");
        }
    }
    assert_eq!(count, 4 * 2048);
}

#[test]
fn instruction_length_comes_from_the_low_two_bits() {
    assert_eq!(instruction_length(0x0000), 2);
    assert_eq!(instruction_length(0x0001), 2);
    assert_eq!(instruction_length(0x0002), 2);
    assert_eq!(instruction_length(0x0003), 4);
    assert_eq!(instruction_length(0xffff), 4);
}

/// The facts the table states, checked against what each mnemonic says (the
/// ISA manual's naming: `.w`/`.d`, `.s`/`.d`, `b`/`h`/`w`/`d` suffixes).
mod facts {
    use super::*;

    #[test]
    fn memory_sizes_follow_the_mnemonics() {
        for &op in Op::ALL {
            let name = op.mnemonic();
            let Some(memory) = op.memory() else {
                let accesses = ["lr.", "sc.", "amo"].iter().any(|p| name.starts_with(p))
                    || (matches!(op.format(), Format::Load | Format::Store | Format::FpLoad | Format::FpStore)
                        && op != Op::Jalr);
                assert!(!accesses, "{name} accesses memory");
                continue;
            };
            let suffix = name.trim_end_matches('u').chars().last().unwrap();
            let size = match suffix {
                'b' => 1,
                'h' => 2,
                'w' => 4,
                'd' => 8,
                other => panic!("{name}: unexpected suffix {other}"),
            };
            assert_eq!(memory.size, size, "{name}");
            let expected_kind = if name.starts_with("lr.") {
                MemoryKind::LoadReserved
            } else if name.starts_with("sc.") {
                MemoryKind::StoreConditional
            } else if name.starts_with("amo") {
                MemoryKind::Amo(op.amo().expect("an AMO names its operation"))
            } else if name.starts_with('l') || name.starts_with("fl") {
                MemoryKind::Load
            } else {
                MemoryKind::Store
            };
            assert_eq!(memory.kind, expected_kind, "{name}");
            let sign_extends = matches!(name, "lb" | "lh" | "lw" | "ld");
            if memory.kind == MemoryKind::Load {
                assert_eq!(memory.signed, sign_extends, "{name}");
            }
        }
    }

    #[test]
    fn amo_operations_follow_the_mnemonics() {
        for &op in Op::ALL {
            let name = op.mnemonic();
            let Some(operation) = name.strip_prefix("amo").and_then(|rest| rest.split('.').next()) else {
                assert_eq!(op.amo(), None, "{name}");
                continue;
            };
            let expected = match operation {
                "swap" => AmoOp::Swap,
                "add" => AmoOp::Add,
                "xor" => AmoOp::Xor,
                "and" => AmoOp::And,
                "or" => AmoOp::Or,
                "min" => AmoOp::Min,
                "max" => AmoOp::Max,
                "minu" => AmoOp::MinU,
                "maxu" => AmoOp::MaxU,
                other => panic!("unknown AMO {other}"),
            };
            assert_eq!(op.amo(), Some(expected), "{name}");
            assert_eq!(op.class(), Class::Atomic, "{name}");
        }
    }

    #[test]
    fn precision_follows_the_mnemonics() {
        for &op in Op::ALL {
            let name = op.mnemonic();
            let floating = name.starts_with('f') && !name.starts_with("fence");
            let expected = if !floating {
                None
            } else if let Some(conversion) = name.strip_prefix("fcvt.") {
                // The result's format when converting between formats, else
                // the floating-point side's.
                let (to, from) = conversion.split_once('.').unwrap();
                let fp_side = if matches!(to, "s" | "d") { to } else { from };
                Some(if fp_side == "s" { Precision::Single } else { Precision::Double })
            } else if let Some(moved) = name.strip_prefix("fmv.") {
                Some(if moved.contains('w') { Precision::Single } else { Precision::Double })
            } else if matches!(name, "flw" | "fsw") || name.ends_with(".s") {
                Some(Precision::Single)
            } else {
                assert!(matches!(name, "fld" | "fsd") || name.ends_with(".d"), "{name}");
                Some(Precision::Double)
            };
            assert_eq!(op.precision(), expected, "{name}");
        }
    }

    #[test]
    fn blocks_end_at_jumps_and_system_instructions() {
        let ending = [
            "jal",
            "jalr",
            "ecall",
            "ebreak",
            "mret",
            "sret",
            "wfi",
            "fence.i",
            "sfence.vma",
            "csrrw",
            "csrrs",
            "csrrc",
            "csrrwi",
            "csrrsi",
            "csrrci",
            ".illegal",
        ];
        for &op in Op::ALL {
            assert_eq!(op.ends_block(), ending.contains(&op.mnemonic()), "{}", op.mnemonic());
        }
    }

    #[test]
    fn classes_group_the_extensions() {
        for &op in Op::ALL {
            let name = op.mnemonic();
            let class = op.class();
            match name {
                "mul" | "mulh" | "mulhsu" | "mulhu" | "mulw" => assert_eq!(class, Class::Mul),
                "div" | "divu" | "rem" | "remu" | "divw" | "divuw" | "remw" | "remuw" => assert_eq!(class, Class::Div),
                _ if op.format() == Format::Branch => assert_eq!(class, Class::Branch, "{name}"),
                _ if name.starts_with("csr") => assert_eq!(class, Class::Csr),
                _ if name.starts_with("fmadd") || name.starts_with("fmsub") || name.starts_with("fnm") => {
                    assert_eq!(class, Class::FpFma, "{name}")
                }
                _ if name.starts_with("fdiv") => assert_eq!(class, Class::FpDiv),
                _ if name.starts_with("fsqrt") => assert_eq!(class, Class::FpSqrt),
                _ if name.starts_with("fcvt") => assert_eq!(class, Class::FpConvert),
                _ => {}
            }
            assert_eq!(class == Class::Load, op.memory().is_some_and(|m| m.kind == MemoryKind::Load), "{name}");
            assert_eq!(class == Class::Store, op.memory().is_some_and(|m| m.kind == MemoryKind::Store), "{name}");
        }
    }

    #[test]
    fn csr_access_follows_zicsr() {
        let csr = |op, rd, rs1| Inst { rd, rs1, imm: 0x300, ..Inst::new(op, 4) }.csr_access().unwrap();
        // csrrw with rd = x0 (or its redirected scratch slot) reads nothing.
        assert!(!csr(Op::Csrrw, 0, 5).reads);
        assert!(!csr(Op::Csrrw, 32, 5).reads);
        assert!(csr(Op::Csrrw, 1, 0).writes);
        assert!(!csr(Op::Csrrwi, 0, 0).reads);
        // csrrs/csrrc with rs1 = x0 (or uimm 0) write nothing but read.
        for op in [Op::Csrrs, Op::Csrrc, Op::Csrrsi, Op::Csrrci] {
            let access = csr(op, 0, 0);
            assert!(access.reads && !access.writes, "{op:?}");
            assert!(csr(op, 0, 1).writes, "{op:?}");
        }
        assert_eq!(csr(Op::Csrrs, 1, 0).csr, 0x300);
        assert_eq!(Inst::new(Op::Add, 4).csr_access(), None);
    }

    #[test]
    fn registers_follow_each_operand_role() {
        // (instruction, x read, x written, f read, f written), by the
        // roles the ISA manual gives each operand.
        let inst = |op, rd, rs1, rs2, imm| Inst { rd, rs1, rs2, imm, ..Inst::new(op, 4) };
        let cases = [
            (inst(Op::Add, 1, 2, 3, 0), [2, 3], 1, [None; 3], None),
            (inst(Op::Addi, 1, 2, 0, 5), [2, 0], 1, [None; 3], None),
            (inst(Op::Sw, 0, 2, 3, 8), [2, 3], 0, [None; 3], None),
            (inst(Op::Beq, 0, 4, 5, 16), [4, 5], 0, [None; 3], None),
            (inst(Op::Jal, 1, 0, 0, 16), [0, 0], 1, [None; 3], None),
            (inst(Op::Jalr, 1, 6, 0, 0), [6, 0], 1, [None; 3], None),
            (inst(Op::Lui, 7, 0, 0, 0x1000), [0, 0], 7, [None; 3], None),
            (inst(Op::LrW, 8, 9, 0, 0), [9, 0], 8, [None; 3], None),
            (inst(Op::ScD, 8, 9, 10, 0), [9, 10], 8, [None; 3], None),
            (inst(Op::Csrrw, 11, 12, 0, 0x300), [12, 0], 11, [None; 3], None),
            // The 5-bit immediate of csrrwi sits in rs1 but is no register.
            (inst(Op::Csrrwi, 11, 12, 0, 0x300), [0, 0], 11, [None; 3], None),
            (inst(Op::Fence, 0, 0, 0, 0xff), [0, 0], 0, [None; 3], None),
            (inst(Op::SfenceVma, 0, 13, 14, 0), [13, 14], 0, [None; 3], None),
            (inst(Op::Flw, 3, 2, 0, 4), [2, 0], 0, [None; 3], Some(3)),
            (inst(Op::Fsd, 0, 2, 3, 4), [2, 0], 0, [Some(3), None, None], None),
            (inst(Op::FmaddD, 1, 2, 3, 7 | 4 << 3), [0, 0], 0, [Some(2), Some(3), Some(4)], Some(1)),
            (inst(Op::FcvtWD, 5, 6, 0, 7), [0, 0], 5, [Some(6), None, None], None),
            (inst(Op::FcvtDW, 5, 6, 0, 7), [6, 0], 0, [None; 3], Some(5)),
            (inst(Op::FmvXD, 5, 6, 0, 0), [0, 0], 5, [Some(6), None, None], None),
            (inst(Op::FmvDX, 5, 6, 0, 0), [6, 0], 0, [None; 3], Some(5)),
            (inst(Op::FeqS, 5, 6, 7, 0), [0, 0], 5, [Some(6), Some(7), None], None),
        ];
        for (inst, x_read, x_written, f_read, f_written) in cases {
            let expected = Registers { x_read, x_written, f_read, f_written };
            assert_eq!(inst.registers(), expected, "{:?}", inst.op);
        }
    }
}
