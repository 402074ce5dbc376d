//! The instructions, written once.
//!
//! Every 32-bit instruction polyhart knows is one line of the table below: its
//! operation, assembler mnemonic, operand format, class, memory access,
//! floating-point precision, and the mask/match pair that recognises it. The
//! decoder, the disassembler, the encoder used by tests, the interpreter and
//! the JIT all read their facts about an instruction from this one table
//! (through [`Op`]'s methods), so they cannot disagree.

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

/// What kind of work an instruction does: the fact a timing model, a plugin
/// or a statistic sorts instructions by.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Integer arithmetic, logic, shifts, comparisons, `lui`, `auipc`.
    Alu,
    /// Integer multiplication (M).
    Mul,
    /// Integer division and remainder (M).
    Div,
    /// A conditional branch.
    Branch,
    /// An unconditional jump: `jal`, `jalr`.
    Jump,
    /// A load, integer or floating point.
    Load,
    /// A store, integer or floating point.
    Store,
    /// LR, SC or an AMO (A).
    Atomic,
    /// `fence`.
    Fence,
    /// A CSR instruction (Zicsr).
    Csr,
    /// Changes privilege, translation, code or the hart's run state:
    /// `ecall`, `ebreak`, `mret`, `sret`, `wfi`, `sfence.vma`, `fence.i`.
    System,
    /// Floating-point add and subtract.
    FpAdd,
    /// Floating-point multiply.
    FpMul,
    /// Fused multiply-add.
    FpFma,
    /// Floating-point divide.
    FpDiv,
    /// Floating-point square root.
    FpSqrt,
    /// Sign injection and moves between register files (exact, no flags).
    FpMove,
    /// Comparisons, minimum and maximum, classification.
    FpCompare,
    /// Conversions between formats and to and from integers.
    FpConvert,
    /// Not an instruction (see [`Op::Illegal`]).
    Illegal,
}

impl Class {
    /// Every class, in declaration order.
    pub const ALL: [Class; 20] = [
        Class::Alu,
        Class::Mul,
        Class::Div,
        Class::Branch,
        Class::Jump,
        Class::Load,
        Class::Store,
        Class::Atomic,
        Class::Fence,
        Class::Csr,
        Class::System,
        Class::FpAdd,
        Class::FpMul,
        Class::FpFma,
        Class::FpDiv,
        Class::FpSqrt,
        Class::FpMove,
        Class::FpCompare,
        Class::FpConvert,
        Class::Illegal,
    ];

    /// The class's place in [`Class::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A short lower-case name for reports: `alu`, `fp-fma`, ...
    pub const fn name(self) -> &'static str {
        match self {
            Class::Alu => "alu",
            Class::Mul => "mul",
            Class::Div => "div",
            Class::Branch => "branch",
            Class::Jump => "jump",
            Class::Load => "load",
            Class::Store => "store",
            Class::Atomic => "atomic",
            Class::Fence => "fence",
            Class::Csr => "csr",
            Class::System => "system",
            Class::FpAdd => "fp-add",
            Class::FpMul => "fp-mul",
            Class::FpFma => "fp-fma",
            Class::FpDiv => "fp-div",
            Class::FpSqrt => "fp-sqrt",
            Class::FpMove => "fp-move",
            Class::FpCompare => "fp-compare",
            Class::FpConvert => "fp-convert",
            Class::Illegal => "illegal",
        }
    }
}

/// The memory access an instruction makes at `x[rs1]` (plus `imm` for plain
/// loads and stores; LR, SC and AMOs take no immediate).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct MemoryOp {
    /// What it does to memory.
    pub kind: MemoryKind,
    /// Bytes accessed: 1, 2, 4 or 8.
    pub size: u8,
    /// A load's value is sign-extended to 64 bits (`lb`, `lh`, `lw`, `ld`).
    pub signed: bool,
}

/// What a [`MemoryOp`] does.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MemoryKind {
    /// A plain load.
    Load,
    /// A plain store.
    Store,
    /// `lr`: a load that registers a reservation.
    LoadReserved,
    /// `sc`: a store made only while the reservation holds.
    StoreConditional,
    /// An AMO: load, operate, store, as one indivisible step.
    Amo(AmoOp),
}

impl MemoryKind {
    /// Whether the access may write memory.
    pub const fn writes(self) -> bool {
        !matches!(self, MemoryKind::Load | MemoryKind::LoadReserved)
    }
}

/// What an AMO does to the value in memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum AmoOp {
    /// `amoswap`: the operand.
    Swap,
    /// `amoadd`: old + operand.
    Add,
    /// `amoxor`.
    Xor,
    /// `amoand`.
    And,
    /// `amoor`.
    Or,
    /// `amomin`: signed minimum.
    Min,
    /// `amomax`: signed maximum.
    Max,
    /// `amominu`: unsigned minimum.
    MinU,
    /// `amomaxu`: unsigned maximum.
    MaxU,
}

/// The floating-point format an F or D instruction computes in (for a
/// conversion between formats, the result's).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// IEEE 754 binary32 (F).
    Single,
    /// IEEE 754 binary64 (D).
    Double,
}

impl Op {
    /// The AMO's operation, for an AMO.
    pub const fn amo(self) -> Option<AmoOp> {
        match self.memory() {
            Some(MemoryOp { kind: MemoryKind::Amo(amo), .. }) => Some(amo),
            _ => None,
        }
    }

    /// Whether the operation ends a block: unconditional jumps (a
    /// taken conditional branch leaves its block early instead), and
    /// instructions that change state the run loop must look at
    /// (privilege, translation, interrupts, code, `wfi`).
    pub const fn ends_block(self) -> bool {
        matches!(self.class(), Class::Jump | Class::Csr | Class::System | Class::Illegal)
    }
}

/// A table cell of the memory column: `-` or `(Kind [AmoOp] size [signed])`.
macro_rules! memory_op {
    (-) => {
        None
    };
    ((Amo $amo:ident $size:literal)) => {
        Some(MemoryOp { kind: MemoryKind::Amo(AmoOp::$amo), size: $size, signed: true })
    };
    (($kind:ident $size:literal signed)) => {
        Some(MemoryOp { kind: MemoryKind::$kind, size: $size, signed: true })
    };
    (($kind:ident $size:literal unsigned)) => {
        Some(MemoryOp { kind: MemoryKind::$kind, size: $size, signed: false })
    };
    (($kind:ident $size:literal)) => {
        // Stores write no register; LR, SC and AMOs sign-extend a word.
        Some(MemoryOp { kind: MemoryKind::$kind, size: $size, signed: true })
    };
}

/// A table cell of the precision column: `-`, `S` or `D`.
macro_rules! precision {
    (-) => {
        None
    };
    (S) => {
        Some(Precision::Single)
    };
    (D) => {
        Some(Precision::Double)
    };
}

macro_rules! encodings {
    ($( $op:ident $mnemonic:literal $format:ident $class:ident $memory:tt $precision:tt $mask:literal $bits:literal; )*) => {
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

            /// What kind of work the operation does.
            pub const fn class(self) -> Class {
                match self { $(Op::$op => Class::$class,)* }
            }

            /// The memory access the operation makes, if any.
            pub const fn memory(self) -> Option<MemoryOp> {
                match self { $(Op::$op => memory_op!($memory),)* }
            }

            /// The floating-point format of an F or D operation.
            pub const fn precision(self) -> Option<Precision> {
                match self { $(Op::$op => precision!($precision),)* }
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

// op, mnemonic, operand format, class, memory access, precision, mask, match.
encodings! {
    // RV64I
    Lui       "lui"        Upper        Alu       -                    - 0x0000007f 0x00000037;
    Auipc     "auipc"      Upper        Alu       -                    - 0x0000007f 0x00000017;
    Jal       "jal"        Jump         Jump      -                    - 0x0000007f 0x0000006f;
    Jalr      "jalr"       Load         Jump      -                    - 0x0000707f 0x00000067;
    Beq       "beq"        Branch       Branch    -                    - 0x0000707f 0x00000063;
    Bne       "bne"        Branch       Branch    -                    - 0x0000707f 0x00001063;
    Blt       "blt"        Branch       Branch    -                    - 0x0000707f 0x00004063;
    Bge       "bge"        Branch       Branch    -                    - 0x0000707f 0x00005063;
    Bltu      "bltu"       Branch       Branch    -                    - 0x0000707f 0x00006063;
    Bgeu      "bgeu"       Branch       Branch    -                    - 0x0000707f 0x00007063;
    Lb        "lb"         Load         Load      (Load 1 signed)      - 0x0000707f 0x00000003;
    Lh        "lh"         Load         Load      (Load 2 signed)      - 0x0000707f 0x00001003;
    Lw        "lw"         Load         Load      (Load 4 signed)      - 0x0000707f 0x00002003;
    Ld        "ld"         Load         Load      (Load 8 signed)      - 0x0000707f 0x00003003;
    Lbu       "lbu"        Load         Load      (Load 1 unsigned)    - 0x0000707f 0x00004003;
    Lhu       "lhu"        Load         Load      (Load 2 unsigned)    - 0x0000707f 0x00005003;
    Lwu       "lwu"        Load         Load      (Load 4 unsigned)    - 0x0000707f 0x00006003;
    Sb        "sb"         Store        Store     (Store 1)            - 0x0000707f 0x00000023;
    Sh        "sh"         Store        Store     (Store 2)            - 0x0000707f 0x00001023;
    Sw        "sw"         Store        Store     (Store 4)            - 0x0000707f 0x00002023;
    Sd        "sd"         Store        Store     (Store 8)            - 0x0000707f 0x00003023;
    Addi      "addi"       I            Alu       -                    - 0x0000707f 0x00000013;
    Slti      "slti"       I            Alu       -                    - 0x0000707f 0x00002013;
    Sltiu     "sltiu"      I            Alu       -                    - 0x0000707f 0x00003013;
    Xori      "xori"       I            Alu       -                    - 0x0000707f 0x00004013;
    Ori       "ori"        I            Alu       -                    - 0x0000707f 0x00006013;
    Andi      "andi"       I            Alu       -                    - 0x0000707f 0x00007013;
    Slli      "slli"       Shift64      Alu       -                    - 0xfc00707f 0x00001013;
    Srli      "srli"       Shift64      Alu       -                    - 0xfc00707f 0x00005013;
    Srai      "srai"       Shift64      Alu       -                    - 0xfc00707f 0x40005013;
    Add       "add"        R            Alu       -                    - 0xfe00707f 0x00000033;
    Sub       "sub"        R            Alu       -                    - 0xfe00707f 0x40000033;
    Sll       "sll"        R            Alu       -                    - 0xfe00707f 0x00001033;
    Slt       "slt"        R            Alu       -                    - 0xfe00707f 0x00002033;
    Sltu      "sltu"       R            Alu       -                    - 0xfe00707f 0x00003033;
    Xor       "xor"        R            Alu       -                    - 0xfe00707f 0x00004033;
    Srl       "srl"        R            Alu       -                    - 0xfe00707f 0x00005033;
    Sra       "sra"        R            Alu       -                    - 0xfe00707f 0x40005033;
    Or        "or"         R            Alu       -                    - 0xfe00707f 0x00006033;
    And       "and"        R            Alu       -                    - 0xfe00707f 0x00007033;
    Addiw     "addiw"      I            Alu       -                    - 0x0000707f 0x0000001b;
    Slliw     "slliw"      Shift32      Alu       -                    - 0xfe00707f 0x0000101b;
    Srliw     "srliw"      Shift32      Alu       -                    - 0xfe00707f 0x0000501b;
    Sraiw     "sraiw"      Shift32      Alu       -                    - 0xfe00707f 0x4000501b;
    Addw      "addw"       R            Alu       -                    - 0xfe00707f 0x0000003b;
    Subw      "subw"       R            Alu       -                    - 0xfe00707f 0x4000003b;
    Sllw      "sllw"       R            Alu       -                    - 0xfe00707f 0x0000103b;
    Srlw      "srlw"       R            Alu       -                    - 0xfe00707f 0x0000503b;
    Sraw      "sraw"       R            Alu       -                    - 0xfe00707f 0x4000503b;
    Fence     "fence"      Fence        Fence     -                    - 0x0000707f 0x0000000f;
    Ecall     "ecall"      Bare         System    -                    - 0xffffffff 0x00000073;
    Ebreak    "ebreak"     Bare         System    -                    - 0xffffffff 0x00100073;
    // Zifencei
    FenceI    "fence.i"    Bare         System    -                    - 0x0000707f 0x0000100f;
    // Zicsr
    Csrrw     "csrrw"      Csr          Csr       -                    - 0x0000707f 0x00001073;
    Csrrs     "csrrs"      Csr          Csr       -                    - 0x0000707f 0x00002073;
    Csrrc     "csrrc"      Csr          Csr       -                    - 0x0000707f 0x00003073;
    Csrrwi    "csrrwi"     CsrImm       Csr       -                    - 0x0000707f 0x00005073;
    Csrrsi    "csrrsi"     CsrImm       Csr       -                    - 0x0000707f 0x00006073;
    Csrrci    "csrrci"     CsrImm       Csr       -                    - 0x0000707f 0x00007073;
    // Privileged
    Sret      "sret"       Bare         System    -                    - 0xffffffff 0x10200073;
    Mret      "mret"       Bare         System    -                    - 0xffffffff 0x30200073;
    Wfi       "wfi"        Bare         System    -                    - 0xffffffff 0x10500073;
    SfenceVma "sfence.vma" Sfence       System    -                    - 0xfe007fff 0x12000073;
    // M
    Mul       "mul"        R            Mul       -                    - 0xfe00707f 0x02000033;
    Mulh      "mulh"       R            Mul       -                    - 0xfe00707f 0x02001033;
    Mulhsu    "mulhsu"     R            Mul       -                    - 0xfe00707f 0x02002033;
    Mulhu     "mulhu"      R            Mul       -                    - 0xfe00707f 0x02003033;
    Div       "div"        R            Div       -                    - 0xfe00707f 0x02004033;
    Divu      "divu"       R            Div       -                    - 0xfe00707f 0x02005033;
    Rem       "rem"        R            Div       -                    - 0xfe00707f 0x02006033;
    Remu      "remu"       R            Div       -                    - 0xfe00707f 0x02007033;
    Mulw      "mulw"       R            Mul       -                    - 0xfe00707f 0x0200003b;
    Divw      "divw"       R            Div       -                    - 0xfe00707f 0x0200403b;
    Divuw     "divuw"      R            Div       -                    - 0xfe00707f 0x0200503b;
    Remw      "remw"       R            Div       -                    - 0xfe00707f 0x0200603b;
    Remuw     "remuw"      R            Div       -                    - 0xfe00707f 0x0200703b;
    // A
    LrW       "lr.w"       LoadReserved Atomic    (LoadReserved 4)     - 0xf9f0707f 0x1000202f;
    ScW       "sc.w"       Amo          Atomic    (StoreConditional 4) - 0xf800707f 0x1800202f;
    AmoswapW  "amoswap.w"  Amo          Atomic    (Amo Swap 4)         - 0xf800707f 0x0800202f;
    AmoaddW   "amoadd.w"   Amo          Atomic    (Amo Add 4)          - 0xf800707f 0x0000202f;
    AmoxorW   "amoxor.w"   Amo          Atomic    (Amo Xor 4)          - 0xf800707f 0x2000202f;
    AmoandW   "amoand.w"   Amo          Atomic    (Amo And 4)          - 0xf800707f 0x6000202f;
    AmoorW    "amoor.w"    Amo          Atomic    (Amo Or 4)           - 0xf800707f 0x4000202f;
    AmominW   "amomin.w"   Amo          Atomic    (Amo Min 4)          - 0xf800707f 0x8000202f;
    AmomaxW   "amomax.w"   Amo          Atomic    (Amo Max 4)          - 0xf800707f 0xa000202f;
    AmominuW  "amominu.w"  Amo          Atomic    (Amo MinU 4)         - 0xf800707f 0xc000202f;
    AmomaxuW  "amomaxu.w"  Amo          Atomic    (Amo MaxU 4)         - 0xf800707f 0xe000202f;
    LrD       "lr.d"       LoadReserved Atomic    (LoadReserved 8)     - 0xf9f0707f 0x1000302f;
    ScD       "sc.d"       Amo          Atomic    (StoreConditional 8) - 0xf800707f 0x1800302f;
    AmoswapD  "amoswap.d"  Amo          Atomic    (Amo Swap 8)         - 0xf800707f 0x0800302f;
    AmoaddD   "amoadd.d"   Amo          Atomic    (Amo Add 8)          - 0xf800707f 0x0000302f;
    AmoxorD   "amoxor.d"   Amo          Atomic    (Amo Xor 8)          - 0xf800707f 0x2000302f;
    AmoandD   "amoand.d"   Amo          Atomic    (Amo And 8)          - 0xf800707f 0x6000302f;
    AmoorD    "amoor.d"    Amo          Atomic    (Amo Or 8)           - 0xf800707f 0x4000302f;
    AmominD   "amomin.d"   Amo          Atomic    (Amo Min 8)          - 0xf800707f 0x8000302f;
    AmomaxD   "amomax.d"   Amo          Atomic    (Amo Max 8)          - 0xf800707f 0xa000302f;
    AmominuD  "amominu.d"  Amo          Atomic    (Amo MinU 8)         - 0xf800707f 0xc000302f;
    AmomaxuD  "amomaxu.d"  Amo          Atomic    (Amo MaxU 8)         - 0xf800707f 0xe000302f;
    // F
    Flw       "flw"        FpLoad       Load      (Load 4 unsigned)    S 0x0000707f 0x00002007;
    Fsw       "fsw"        FpStore      Store     (Store 4)            S 0x0000707f 0x00002027;
    FmaddS    "fmadd.s"    FpR4         FpFma     -                    S 0x0600007f 0x00000043;
    FmsubS    "fmsub.s"    FpR4         FpFma     -                    S 0x0600007f 0x00000047;
    FnmsubS   "fnmsub.s"   FpR4         FpFma     -                    S 0x0600007f 0x0000004b;
    FnmaddS   "fnmadd.s"   FpR4         FpFma     -                    S 0x0600007f 0x0000004f;
    FaddS     "fadd.s"     FpR          FpAdd     -                    S 0xfe00007f 0x00000053;
    FsubS     "fsub.s"     FpR          FpAdd     -                    S 0xfe00007f 0x08000053;
    FmulS     "fmul.s"     FpR          FpMul     -                    S 0xfe00007f 0x10000053;
    FdivS     "fdiv.s"     FpR          FpDiv     -                    S 0xfe00007f 0x18000053;
    FsqrtS    "fsqrt.s"    FpUnary      FpSqrt    -                    S 0xfff0007f 0x58000053;
    FsgnjS    "fsgnj.s"    FpR2         FpMove    -                    S 0xfe00707f 0x20000053;
    FsgnjnS   "fsgnjn.s"   FpR2         FpMove    -                    S 0xfe00707f 0x20001053;
    FsgnjxS   "fsgnjx.s"   FpR2         FpMove    -                    S 0xfe00707f 0x20002053;
    FminS     "fmin.s"     FpR2         FpCompare -                    S 0xfe00707f 0x28000053;
    FmaxS     "fmax.s"     FpR2         FpCompare -                    S 0xfe00707f 0x28001053;
    FcvtWS    "fcvt.w.s"   FpToInt      FpConvert -                    S 0xfff0007f 0xc0000053;
    FcvtWuS   "fcvt.wu.s"  FpToInt      FpConvert -                    S 0xfff0007f 0xc0100053;
    FcvtLS    "fcvt.l.s"   FpToInt      FpConvert -                    S 0xfff0007f 0xc0200053;
    FcvtLuS   "fcvt.lu.s"  FpToInt      FpConvert -                    S 0xfff0007f 0xc0300053;
    FmvXW     "fmv.x.w"    FpToIntBits  FpMove    -                    S 0xfff0707f 0xe0000053;
    FeqS      "feq.s"      FpCmp        FpCompare -                    S 0xfe00707f 0xa0002053;
    FltS      "flt.s"      FpCmp        FpCompare -                    S 0xfe00707f 0xa0001053;
    FleS      "fle.s"      FpCmp        FpCompare -                    S 0xfe00707f 0xa0000053;
    FclassS   "fclass.s"   FpToIntBits  FpCompare -                    S 0xfff0707f 0xe0001053;
    FcvtSW    "fcvt.s.w"   IntToFp      FpConvert -                    S 0xfff0007f 0xd0000053;
    FcvtSWu   "fcvt.s.wu"  IntToFp      FpConvert -                    S 0xfff0007f 0xd0100053;
    FcvtSL    "fcvt.s.l"   IntToFp      FpConvert -                    S 0xfff0007f 0xd0200053;
    FcvtSLu   "fcvt.s.lu"  IntToFp      FpConvert -                    S 0xfff0007f 0xd0300053;
    FmvWX     "fmv.w.x"    IntToFpBits  FpMove    -                    S 0xfff0707f 0xf0000053;
    // D
    Fld       "fld"        FpLoad       Load      (Load 8 unsigned)    D 0x0000707f 0x00003007;
    Fsd       "fsd"        FpStore      Store     (Store 8)            D 0x0000707f 0x00003027;
    FmaddD    "fmadd.d"    FpR4         FpFma     -                    D 0x0600007f 0x02000043;
    FmsubD    "fmsub.d"    FpR4         FpFma     -                    D 0x0600007f 0x02000047;
    FnmsubD   "fnmsub.d"   FpR4         FpFma     -                    D 0x0600007f 0x0200004b;
    FnmaddD   "fnmadd.d"   FpR4         FpFma     -                    D 0x0600007f 0x0200004f;
    FaddD     "fadd.d"     FpR          FpAdd     -                    D 0xfe00007f 0x02000053;
    FsubD     "fsub.d"     FpR          FpAdd     -                    D 0xfe00007f 0x0a000053;
    FmulD     "fmul.d"     FpR          FpMul     -                    D 0xfe00007f 0x12000053;
    FdivD     "fdiv.d"     FpR          FpDiv     -                    D 0xfe00007f 0x1a000053;
    FsqrtD    "fsqrt.d"    FpUnary      FpSqrt    -                    D 0xfff0007f 0x5a000053;
    FsgnjD    "fsgnj.d"    FpR2         FpMove    -                    D 0xfe00707f 0x22000053;
    FsgnjnD   "fsgnjn.d"   FpR2         FpMove    -                    D 0xfe00707f 0x22001053;
    FsgnjxD   "fsgnjx.d"   FpR2         FpMove    -                    D 0xfe00707f 0x22002053;
    FminD     "fmin.d"     FpR2         FpCompare -                    D 0xfe00707f 0x2a000053;
    FmaxD     "fmax.d"     FpR2         FpCompare -                    D 0xfe00707f 0x2a001053;
    FcvtSD    "fcvt.s.d"   FpUnary      FpConvert -                    S 0xfff0007f 0x40100053;
    FcvtDS    "fcvt.d.s"   FpUnary      FpConvert -                    D 0xfff0007f 0x42000053;
    FeqD      "feq.d"      FpCmp        FpCompare -                    D 0xfe00707f 0xa2002053;
    FltD      "flt.d"      FpCmp        FpCompare -                    D 0xfe00707f 0xa2001053;
    FleD      "fle.d"      FpCmp        FpCompare -                    D 0xfe00707f 0xa2000053;
    FclassD   "fclass.d"   FpToIntBits  FpCompare -                    D 0xfff0707f 0xe2001053;
    FcvtWD    "fcvt.w.d"   FpToInt      FpConvert -                    D 0xfff0007f 0xc2000053;
    FcvtWuD   "fcvt.wu.d"  FpToInt      FpConvert -                    D 0xfff0007f 0xc2100053;
    FcvtLD    "fcvt.l.d"   FpToInt      FpConvert -                    D 0xfff0007f 0xc2200053;
    FcvtLuD   "fcvt.lu.d"  FpToInt      FpConvert -                    D 0xfff0007f 0xc2300053;
    FmvXD     "fmv.x.d"    FpToIntBits  FpMove    -                    D 0xfff0707f 0xe2000053;
    FcvtDW    "fcvt.d.w"   IntToFp      FpConvert -                    D 0xfff0007f 0xd2000053;
    FcvtDWu   "fcvt.d.wu"  IntToFp      FpConvert -                    D 0xfff0007f 0xd2100053;
    FcvtDL    "fcvt.d.l"   IntToFp      FpConvert -                    D 0xfff0007f 0xd2200053;
    FcvtDLu   "fcvt.d.lu"  IntToFp      FpConvert -                    D 0xfff0007f 0xd2300053;
    FmvDX     "fmv.d.x"    IntToFpBits  FpMove    -                    D 0xfff0707f 0xf2000053;
    // Not an instruction: what the decoder yields for an encoding no line above
    // matches. Its mask/match pair can never match, and the raw bits travel in
    // the immediate so the trap can report them in `mtval`.
    Illegal   ".illegal"   Bare         Illegal   -                    - 0x00000000 0xffffffff;
}
