//! The instruction encodings, written once.
//!
//! Every 32-bit instruction polyhart knows is one line of the table below: its
//! operation, assembler mnemonic, operand format, and the mask/match pair that
//! recognises it. The decoder, the disassembler and the encoder used by tests
//! are all driven by this one table, so they cannot disagree.

/// How an instruction's operands are laid out in its encoding and printed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// `op rd, rs1, rs2`
    R,
    /// `op rd, rs1, imm` with a sign-extended 12-bit immediate.
    I,
    /// `op rd, imm(rs1)`: loads and `jalr`.
    Load,
    /// `op rs2, imm(rs1)`: stores.
    Store,
    /// `op rs1, rs2, target`: conditional branches.
    Branch,
    /// `op rd, imm`: `lui` and `auipc`, immediate already shifted into place.
    Upper,
    /// `op rd, target`: `jal`.
    Jump,
    /// `op rd, rs1, shamt` with a 6-bit shift amount.
    Shift64,
    /// `op rd, rs1, shamt` with a 5-bit shift amount (the W forms).
    Shift32,
    /// `op rd, rs2, (rs1)` with acquire/release bits: atomic memory operations.
    Amo,
    /// `op rd, (rs1)` with acquire/release bits: load-reserved.
    LoadReserved,
    /// `op rd, csr, rs1`
    Csr,
    /// `op rd, csr, uimm` with the 5-bit immediate held in `rs1`.
    CsrImm,
    /// `fence pred, succ`: the immediate holds `fm`, `pred` and `succ`.
    Fence,
    /// `op rs1, rs2`: `sfence.vma`.
    Sfence,
    /// No operands: `ecall`, `mret`, `fence.i`, ...
    Bare,
    /// `op fd, fs1, fs2, rm`: floating-point arithmetic; `imm` holds `rm`.
    FpR,
    /// `op fd, fs1, fs2`: sign injection, min and max.
    FpR2,
    /// `op fd, fs1, fs2, fs3, rm`: fused multiply-adds; `imm` holds `rm`
    /// in bits 2:0 and `rs3` in bits 7:3.
    FpR4,
    /// `op fd, fs1, rm`: square root and conversions between formats.
    FpUnary,
    /// `op rd, fs1, rm`: conversions to integers.
    FpToInt,
    /// `op fd, rs1, rm`: conversions from integers.
    IntToFp,
    /// `op rd, fs1, fs2`: comparisons.
    FpCmp,
    /// `op rd, fs1`: `fmv.x.w`, `fmv.x.d`, `fclass`.
    FpToIntBits,
    /// `op fd, rs1`: `fmv.w.x`, `fmv.d.x`.
    IntToFpBits,
    /// `op fd, imm(rs1)`: `flw`, `fld`.
    FpLoad,
    /// `op fs2, imm(rs1)`: `fsw`, `fsd`.
    FpStore,
}

impl Format {
    /// Whether `rd` names a floating-point register (so a zero `rd` is `f0`,
    /// not `x0`).
    pub const fn fp_destination(self) -> bool {
        matches!(
            self,
            Format::FpR
                | Format::FpR2
                | Format::FpR4
                | Format::FpUnary
                | Format::IntToFp
                | Format::IntToFpBits
                | Format::FpLoad
        )
    }

    /// Whether `rs1` names a floating-point register.
    pub const fn fp_source1(self) -> bool {
        matches!(
            self,
            Format::FpR
                | Format::FpR2
                | Format::FpR4
                | Format::FpUnary
                | Format::FpToInt
                | Format::FpCmp
                | Format::FpToIntBits
        )
    }

    /// Whether the encoding has a rounding-mode field.
    pub const fn has_rounding_mode(self) -> bool {
        matches!(self, Format::FpR | Format::FpR4 | Format::FpUnary | Format::FpToInt | Format::IntToFp)
    }
}

macro_rules! encodings {
    ($( $op:ident $mnemonic:literal $format:ident $mask:literal $bits:literal; )*) => {
        /// An operation: what an instruction does, independent of its encoding length.
        ///
        /// Compressed instructions decode to the operation of the 32-bit
        /// instruction they expand to.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Op {
            $(
                #[doc = concat!("`", $mnemonic, "`")]
                $op,
            )*
        }

        impl Op {
            /// Every operation, in table order.
            pub const ALL: &'static [Op] = &[$(Op::$op),*];

            /// The assembler mnemonic.
            pub const fn mnemonic(self) -> &'static str {
                match self { $(Op::$op => $mnemonic,)* }
            }

            /// The operand format.
            pub const fn format(self) -> Format {
                match self { $(Op::$op => Format::$format,)* }
            }

            /// The `(mask, match)` pair: `raw & mask == match` recognises the operation.
            pub const fn encoding(self) -> (u32, u32) {
                match self { $(Op::$op => ($mask, $bits),)* }
            }
        }

        /// `(mask, match, op)` for every 32-bit encoding, scanned by the decoder.
        pub(crate) const TABLE: &[(u32, u32, Op)] = &[$(($mask, $bits, Op::$op)),*];
    };
}

encodings! {
    // RV64I
    Lui     "lui"     Upper   0x0000007f 0x00000037;
    Auipc   "auipc"   Upper   0x0000007f 0x00000017;
    Jal     "jal"     Jump    0x0000007f 0x0000006f;
    Jalr    "jalr"    Load    0x0000707f 0x00000067;
    Beq     "beq"     Branch  0x0000707f 0x00000063;
    Bne     "bne"     Branch  0x0000707f 0x00001063;
    Blt     "blt"     Branch  0x0000707f 0x00004063;
    Bge     "bge"     Branch  0x0000707f 0x00005063;
    Bltu    "bltu"    Branch  0x0000707f 0x00006063;
    Bgeu    "bgeu"    Branch  0x0000707f 0x00007063;
    Lb      "lb"      Load    0x0000707f 0x00000003;
    Lh      "lh"      Load    0x0000707f 0x00001003;
    Lw      "lw"      Load    0x0000707f 0x00002003;
    Ld      "ld"      Load    0x0000707f 0x00003003;
    Lbu     "lbu"     Load    0x0000707f 0x00004003;
    Lhu     "lhu"     Load    0x0000707f 0x00005003;
    Lwu     "lwu"     Load    0x0000707f 0x00006003;
    Sb      "sb"      Store   0x0000707f 0x00000023;
    Sh      "sh"      Store   0x0000707f 0x00001023;
    Sw      "sw"      Store   0x0000707f 0x00002023;
    Sd      "sd"      Store   0x0000707f 0x00003023;
    Addi    "addi"    I       0x0000707f 0x00000013;
    Slti    "slti"    I       0x0000707f 0x00002013;
    Sltiu   "sltiu"   I       0x0000707f 0x00003013;
    Xori    "xori"    I       0x0000707f 0x00004013;
    Ori     "ori"     I       0x0000707f 0x00006013;
    Andi    "andi"    I       0x0000707f 0x00007013;
    Slli    "slli"    Shift64 0xfc00707f 0x00001013;
    Srli    "srli"    Shift64 0xfc00707f 0x00005013;
    Srai    "srai"    Shift64 0xfc00707f 0x40005013;
    Add     "add"     R       0xfe00707f 0x00000033;
    Sub     "sub"     R       0xfe00707f 0x40000033;
    Sll     "sll"     R       0xfe00707f 0x00001033;
    Slt     "slt"     R       0xfe00707f 0x00002033;
    Sltu    "sltu"    R       0xfe00707f 0x00003033;
    Xor     "xor"     R       0xfe00707f 0x00004033;
    Srl     "srl"     R       0xfe00707f 0x00005033;
    Sra     "sra"     R       0xfe00707f 0x40005033;
    Or      "or"      R       0xfe00707f 0x00006033;
    And     "and"     R       0xfe00707f 0x00007033;
    Addiw   "addiw"   I       0x0000707f 0x0000001b;
    Slliw   "slliw"   Shift32 0xfe00707f 0x0000101b;
    Srliw   "srliw"   Shift32 0xfe00707f 0x0000501b;
    Sraiw   "sraiw"   Shift32 0xfe00707f 0x4000501b;
    Addw    "addw"    R       0xfe00707f 0x0000003b;
    Subw    "subw"    R       0xfe00707f 0x4000003b;
    Sllw    "sllw"    R       0xfe00707f 0x0000103b;
    Srlw    "srlw"    R       0xfe00707f 0x0000503b;
    Sraw    "sraw"    R       0xfe00707f 0x4000503b;
    Fence   "fence"   Fence   0x0000707f 0x0000000f;
    Ecall   "ecall"   Bare    0xffffffff 0x00000073;
    Ebreak  "ebreak"  Bare    0xffffffff 0x00100073;
    // Zifencei
    FenceI  "fence.i" Bare    0x0000707f 0x0000100f;
    // Zicsr
    Csrrw   "csrrw"   Csr     0x0000707f 0x00001073;
    Csrrs   "csrrs"   Csr     0x0000707f 0x00002073;
    Csrrc   "csrrc"   Csr     0x0000707f 0x00003073;
    Csrrwi  "csrrwi"  CsrImm  0x0000707f 0x00005073;
    Csrrsi  "csrrsi"  CsrImm  0x0000707f 0x00006073;
    Csrrci  "csrrci"  CsrImm  0x0000707f 0x00007073;
    // Privileged
    Sret    "sret"    Bare    0xffffffff 0x10200073;
    Mret    "mret"    Bare    0xffffffff 0x30200073;
    Wfi     "wfi"     Bare    0xffffffff 0x10500073;
    SfenceVma "sfence.vma" Sfence 0xfe007fff 0x12000073;
    // M
    Mul     "mul"     R       0xfe00707f 0x02000033;
    Mulh    "mulh"    R       0xfe00707f 0x02001033;
    Mulhsu  "mulhsu"  R       0xfe00707f 0x02002033;
    Mulhu   "mulhu"   R       0xfe00707f 0x02003033;
    Div     "div"     R       0xfe00707f 0x02004033;
    Divu    "divu"    R       0xfe00707f 0x02005033;
    Rem     "rem"     R       0xfe00707f 0x02006033;
    Remu    "remu"    R       0xfe00707f 0x02007033;
    Mulw    "mulw"    R       0xfe00707f 0x0200003b;
    Divw    "divw"    R       0xfe00707f 0x0200403b;
    Divuw   "divuw"   R       0xfe00707f 0x0200503b;
    Remw    "remw"    R       0xfe00707f 0x0200603b;
    Remuw   "remuw"   R       0xfe00707f 0x0200703b;
    // A
    LrW     "lr.w"      LoadReserved 0xf9f0707f 0x1000202f;
    ScW     "sc.w"      Amo     0xf800707f 0x1800202f;
    AmoswapW "amoswap.w" Amo    0xf800707f 0x0800202f;
    AmoaddW "amoadd.w"  Amo     0xf800707f 0x0000202f;
    AmoxorW "amoxor.w"  Amo     0xf800707f 0x2000202f;
    AmoandW "amoand.w"  Amo     0xf800707f 0x6000202f;
    AmoorW  "amoor.w"   Amo     0xf800707f 0x4000202f;
    AmominW "amomin.w"  Amo     0xf800707f 0x8000202f;
    AmomaxW "amomax.w"  Amo     0xf800707f 0xa000202f;
    AmominuW "amominu.w" Amo    0xf800707f 0xc000202f;
    AmomaxuW "amomaxu.w" Amo    0xf800707f 0xe000202f;
    LrD     "lr.d"      LoadReserved 0xf9f0707f 0x1000302f;
    ScD     "sc.d"      Amo     0xf800707f 0x1800302f;
    AmoswapD "amoswap.d" Amo    0xf800707f 0x0800302f;
    AmoaddD "amoadd.d"  Amo     0xf800707f 0x0000302f;
    AmoxorD "amoxor.d"  Amo     0xf800707f 0x2000302f;
    AmoandD "amoand.d"  Amo     0xf800707f 0x6000302f;
    AmoorD  "amoor.d"   Amo     0xf800707f 0x4000302f;
    AmominD "amomin.d"  Amo     0xf800707f 0x8000302f;
    AmomaxD "amomax.d"  Amo     0xf800707f 0xa000302f;
    AmominuD "amominu.d" Amo    0xf800707f 0xc000302f;
    AmomaxuD "amomaxu.d" Amo    0xf800707f 0xe000302f;
    // F
    Flw     "flw"       FpLoad  0x0000707f 0x00002007;
    Fsw     "fsw"       FpStore 0x0000707f 0x00002027;
    FmaddS  "fmadd.s"   FpR4    0x0600007f 0x00000043;
    FmsubS  "fmsub.s"   FpR4    0x0600007f 0x00000047;
    FnmsubS "fnmsub.s"  FpR4    0x0600007f 0x0000004b;
    FnmaddS "fnmadd.s"  FpR4    0x0600007f 0x0000004f;
    FaddS   "fadd.s"    FpR     0xfe00007f 0x00000053;
    FsubS   "fsub.s"    FpR     0xfe00007f 0x08000053;
    FmulS   "fmul.s"    FpR     0xfe00007f 0x10000053;
    FdivS   "fdiv.s"    FpR     0xfe00007f 0x18000053;
    FsqrtS  "fsqrt.s"   FpUnary 0xfff0007f 0x58000053;
    FsgnjS  "fsgnj.s"   FpR2    0xfe00707f 0x20000053;
    FsgnjnS "fsgnjn.s"  FpR2    0xfe00707f 0x20001053;
    FsgnjxS "fsgnjx.s"  FpR2    0xfe00707f 0x20002053;
    FminS   "fmin.s"    FpR2    0xfe00707f 0x28000053;
    FmaxS   "fmax.s"    FpR2    0xfe00707f 0x28001053;
    FcvtWS  "fcvt.w.s"  FpToInt 0xfff0007f 0xc0000053;
    FcvtWuS "fcvt.wu.s" FpToInt 0xfff0007f 0xc0100053;
    FcvtLS  "fcvt.l.s"  FpToInt 0xfff0007f 0xc0200053;
    FcvtLuS "fcvt.lu.s" FpToInt 0xfff0007f 0xc0300053;
    FmvXW   "fmv.x.w"   FpToIntBits 0xfff0707f 0xe0000053;
    FeqS    "feq.s"     FpCmp   0xfe00707f 0xa0002053;
    FltS    "flt.s"     FpCmp   0xfe00707f 0xa0001053;
    FleS    "fle.s"     FpCmp   0xfe00707f 0xa0000053;
    FclassS "fclass.s"  FpToIntBits 0xfff0707f 0xe0001053;
    FcvtSW  "fcvt.s.w"  IntToFp 0xfff0007f 0xd0000053;
    FcvtSWu "fcvt.s.wu" IntToFp 0xfff0007f 0xd0100053;
    FcvtSL  "fcvt.s.l"  IntToFp 0xfff0007f 0xd0200053;
    FcvtSLu "fcvt.s.lu" IntToFp 0xfff0007f 0xd0300053;
    FmvWX   "fmv.w.x"   IntToFpBits 0xfff0707f 0xf0000053;
    // D
    Fld     "fld"       FpLoad  0x0000707f 0x00003007;
    Fsd     "fsd"       FpStore 0x0000707f 0x00003027;
    FmaddD  "fmadd.d"   FpR4    0x0600007f 0x02000043;
    FmsubD  "fmsub.d"   FpR4    0x0600007f 0x02000047;
    FnmsubD "fnmsub.d"  FpR4    0x0600007f 0x0200004b;
    FnmaddD "fnmadd.d"  FpR4    0x0600007f 0x0200004f;
    FaddD   "fadd.d"    FpR     0xfe00007f 0x02000053;
    FsubD   "fsub.d"    FpR     0xfe00007f 0x0a000053;
    FmulD   "fmul.d"    FpR     0xfe00007f 0x12000053;
    FdivD   "fdiv.d"    FpR     0xfe00007f 0x1a000053;
    FsqrtD  "fsqrt.d"   FpUnary 0xfff0007f 0x5a000053;
    FsgnjD  "fsgnj.d"   FpR2    0xfe00707f 0x22000053;
    FsgnjnD "fsgnjn.d"  FpR2    0xfe00707f 0x22001053;
    FsgnjxD "fsgnjx.d"  FpR2    0xfe00707f 0x22002053;
    FminD   "fmin.d"    FpR2    0xfe00707f 0x2a000053;
    FmaxD   "fmax.d"    FpR2    0xfe00707f 0x2a001053;
    FcvtSD  "fcvt.s.d"  FpUnary 0xfff0007f 0x40100053;
    FcvtDS  "fcvt.d.s"  FpUnary 0xfff0007f 0x42000053;
    FeqD    "feq.d"     FpCmp   0xfe00707f 0xa2002053;
    FltD    "flt.d"     FpCmp   0xfe00707f 0xa2001053;
    FleD    "fle.d"     FpCmp   0xfe00707f 0xa2000053;
    FclassD "fclass.d"  FpToIntBits 0xfff0707f 0xe2001053;
    FcvtWD  "fcvt.w.d"  FpToInt 0xfff0007f 0xc2000053;
    FcvtWuD "fcvt.wu.d" FpToInt 0xfff0007f 0xc2100053;
    FcvtLD  "fcvt.l.d"  FpToInt 0xfff0007f 0xc2200053;
    FcvtLuD "fcvt.lu.d" FpToInt 0xfff0007f 0xc2300053;
    FmvXD   "fmv.x.d"   FpToIntBits 0xfff0707f 0xe2000053;
    FcvtDW  "fcvt.d.w"  IntToFp 0xfff0007f 0xd2000053;
    FcvtDWu "fcvt.d.wu" IntToFp 0xfff0007f 0xd2100053;
    FcvtDL  "fcvt.d.l"  IntToFp 0xfff0007f 0xd2200053;
    FcvtDLu "fcvt.d.lu" IntToFp 0xfff0007f 0xd2300053;
    FmvDX   "fmv.d.x"   IntToFpBits 0xfff0707f 0xf2000053;
    // Not an instruction: what the decoder yields for an encoding no line above
    // matches. Its mask/match pair can never match, and the raw bits travel in
    // the immediate so the trap can report them in `mtval`.
    Illegal ".illegal" Bare     0x00000000 0xffffffff;
}
