//! Differential test of the two tiers: random valid instruction sequences
//! (integer arithmetic with its edge values, branches, jumps, loads and
//! stores, some of them faulting; then floating point with its special
//! values and every rounding mode, and atomics) run on one hart that only
//! interprets and on one whose JIT compiles every block at once; registers
//! (integer and f), pc, instruction count, `fflags`, `frm`, `mstatus`, trap
//! CSRs and memory must agree after every run.

use std::sync::Arc;

use polyhart_iss::csr::{self, mstatus};
use polyhart_iss::decode::{Format, Inst, Op};
use polyhart_iss::memory::{AccessContext, Bus, BusError, Ram};
use polyhart_iss::{Hart, HartControl, Jit, JitConfig, TranslationCache};

const RAM_BASE: u64 = 0x8000_0000;
const RAM_SIZE: u64 = 64 * 1024;
const HANDLER: u64 = RAM_BASE + 0x8000;
const DATA: u64 = RAM_BASE + 0xc000;
const DATA_SIZE: u64 = 0x1000;
/// Programs that differ: each a few dozen instructions, run twice with
/// budgets of up to a few hundred instructions (loops included).
const PROGRAMS: u64 = 400;

/// Everything outside RAM is unmapped: loads and stores there fault.
struct NoDevices;

impl Bus for NoDevices {
    fn read(&self, _: &AccessContext, addr: u64, _: u8) -> Result<u64, BusError> {
        Err(BusError::Unmapped(addr))
    }
    fn write(&self, _: &AccessContext, addr: u64, _: u8, _: u64) -> Result<(), BusError> {
        Err(BusError::Unmapped(addr))
    }
    fn fetch(&self, _: &AccessContext, addr: u64) -> Result<u16, BusError> {
        Err(BusError::Unmapped(addr))
    }
    fn time(&self, _: &AccessContext) -> u64 {
        0
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Register values that reach the edge cases: zero, ±1, the extremes of
    /// 32 and 64 bits, and random bits.
    fn value(&mut self) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => 1,
            2 => u64::MAX,
            3 => i64::MIN as u64,
            4 => i32::MIN as i64 as u64,
            5 => 0x7fff_ffff,
            _ => self.next(),
        }
    }

    /// A register the program may write: not x31, which holds the data base.
    fn rd(&mut self) -> u8 {
        self.below(31) as u8
    }
}

const ARITHMETIC: &[Op] = &[
    Op::Add,
    Op::Sub,
    Op::Sll,
    Op::Slt,
    Op::Sltu,
    Op::Xor,
    Op::Srl,
    Op::Sra,
    Op::Or,
    Op::And,
    Op::Addw,
    Op::Subw,
    Op::Sllw,
    Op::Srlw,
    Op::Sraw,
    Op::Mul,
    Op::Mulh,
    Op::Mulhsu,
    Op::Mulhu,
    Op::Div,
    Op::Divu,
    Op::Rem,
    Op::Remu,
    Op::Mulw,
    Op::Divw,
    Op::Divuw,
    Op::Remw,
    Op::Remuw,
    Op::Addi,
    Op::Slti,
    Op::Sltiu,
    Op::Xori,
    Op::Ori,
    Op::Andi,
    Op::Slli,
    Op::Srli,
    Op::Srai,
    Op::Addiw,
    Op::Slliw,
    Op::Srliw,
    Op::Sraiw,
    Op::Lui,
    Op::Auipc,
];
const LOADS: &[Op] = &[Op::Lb, Op::Lh, Op::Lw, Op::Ld, Op::Lbu, Op::Lhu, Op::Lwu];
const STORES: &[Op] = &[Op::Sb, Op::Sh, Op::Sw, Op::Sd];
const BRANCHES: &[Op] = &[Op::Beq, Op::Bne, Op::Blt, Op::Bge, Op::Bltu, Op::Bgeu];

/// A random program of `len` instructions, followed by a landing pad of
/// `ebreak`s that branches may reach.
fn program(rng: &mut Rng, len: usize) -> Vec<u32> {
    let mut words = Vec::new();
    for index in 0..len {
        let pick = |rng: &mut Rng, ops: &[Op]| ops[rng.below(ops.len() as u64) as usize];
        let inst = match rng.below(10) {
            0..=4 => {
                let op = pick(rng, ARITHMETIC);
                let imm = match op.format() {
                    Format::Shift64 => rng.below(64) as i32,
                    Format::Shift32 => rng.below(32) as i32,
                    Format::Upper => (rng.next() as i32) & !0xfff,
                    _ => rng.below(4096) as i32 - 2048,
                };
                Inst { rd: rng.rd(), rs1: rng.below(32) as u8, rs2: rng.below(32) as u8, imm, ..Inst::new(op, 4) }
            }
            5 | 6 => {
                // Mostly inside the data page, sometimes misaligned, now and
                // then far outside RAM through a register (a fault).
                let ops = if rng.below(2) == 0 { LOADS } else { STORES };
                let op = pick(rng, ops);
                let base = if rng.below(16) == 0 { rng.below(31) as u8 } else { 31 };
                let imm = rng.below(DATA_SIZE / 2) as i32;
                Inst { rd: rng.rd(), rs1: base, rs2: rng.below(32) as u8, imm, ..Inst::new(op, 4) }
            }
            7 | 8 => {
                let op = pick(rng, BRANCHES);
                // Mostly forward; sometimes back to the start, a loop the
                // JIT runs inside the compiled block while the budget lasts;
                // sometimes back to an earlier instruction, a loop through
                // several blocks that compiled code chains around.
                let back = rng.below(8);
                let imm = if back < 2 {
                    -4 * index as i32
                } else if back == 2 && index > 0 {
                    -4 * (1 + rng.below(index as u64)) as i32
                } else {
                    4 * (1 + rng.below(((len - index) as u64).min(8)) as i32)
                };
                Inst { rs1: rng.below(32) as u8, rs2: rng.below(32) as u8, imm, ..Inst::new(op, 4) }
            }
            _ => {
                // A forward jump that links, or an indirect one that usually
                // leaves for the data page (which holds no code: it faults).
                if rng.below(2) == 0 {
                    let ahead = 1 + rng.below(((len - index) as u64).min(8)) as i32;
                    Inst { rd: rng.rd(), imm: 4 * ahead, ..Inst::new(Op::Jal, 4) }
                } else {
                    Inst { rd: rng.rd(), rs1: rng.below(32) as u8, imm: rng.below(64) as i32, ..Inst::new(Op::Jalr, 4) }
                }
            }
        };
        words.push(inst.encode());
    }
    words.extend([Inst::new(Op::Ebreak, 4).encode(); 9]);
    words
}

/// The floating-point state a program starts with.
#[derive(Clone)]
struct FloatState {
    f: [u64; 32],
    fflags: u8,
    frm: u8,
    /// `mstatus.FS`: 0 (Off) to 3 (Dirty).
    fs: u64,
}

impl FloatState {
    /// What the integer programs run with: FS Off, as at reset.
    const OFF: FloatState = FloatState { f: [0; 32], fflags: 0, frm: 0, fs: 0 };
}

/// A hart on its own RAM holding `words` at `RAM_BASE`, with `regs`.
fn hart(words: &[u32], regs: &[u64; 32], float: &FloatState, data: &[u8], jit: Option<Arc<Jit>>) -> (Hart, Arc<Ram>) {
    let ram = Arc::new(Ram::zeroed(RAM_BASE, RAM_SIZE).expect("page-aligned RAM"));
    let code: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    assert!(ram.write_bytes(0, &code));
    assert!(ram.write_bytes(DATA - RAM_BASE, data));
    // The handler: wfi, where the hart then waits.
    assert!(ram.write_bytes(HANDLER - RAM_BASE, &Inst::new(Op::Wfi, 4).encode().to_le_bytes()));
    let mut hart =
        Hart::new(0, ram.clone(), Arc::new(NoDevices), Arc::new(TranslationCache::new()), Arc::new(HartControl::new()));
    hart.set_jit(jit);
    hart.state_mut().pc = RAM_BASE;
    hart.state_mut().csr.mtvec = HANDLER;
    for (r, &value) in regs.iter().enumerate().skip(1) {
        hart.state_mut().set_reg(r as u8, value);
    }
    hart.state_mut().set_reg(31, DATA);
    for (r, &value) in float.f.iter().enumerate() {
        hart.state_mut().set_freg(r as u8, value);
    }
    hart.state_mut().fflags = float.fflags;
    hart.state_mut().frm = float.frm;
    hart.state_mut().csr.mstatus = mstatus::with_sd(hart.state().csr.mstatus & !mstatus::FS | float.fs << 13);
    (hart, ram)
}

/// Runs both harts twice (the second run from the first one's end state)
/// with random budgets and checks that they agree after each run.
fn run_and_compare(rng: &mut Rng, interp: (&mut Hart, &Ram), compiled: (&mut Hart, &Ram), context: &str) {
    let ((interp, interp_ram), (compiled, compiled_ram)) = (interp, compiled);
    for run in 0..2 {
        let budget = 1 + rng.below(600);
        let a = interp.run(budget);
        let b = compiled.run(budget);
        let context = format!("run {run} of {context}");
        assert_eq!(a, b, "exit, {context}");
        assert_eq!(interp.state().regs(), compiled.state().regs(), "registers, {context}");
        let fregs = |h: &Hart| -> Vec<u64> { (0..32).map(|r| h.state().freg(r)).collect() };
        assert_eq!(fregs(interp), fregs(compiled), "f registers, {context}");
        assert_eq!(interp.state().fflags, compiled.state().fflags, "fflags, {context}");
        assert_eq!(interp.state().frm, compiled.state().frm, "frm, {context}");
        assert_eq!(interp.state().csr.mstatus, compiled.state().csr.mstatus, "mstatus, {context}");
        assert_eq!(interp.state().pc, compiled.state().pc, "pc, {context}");
        assert_eq!(interp.state().retired, compiled.state().retired, "retired, {context}");
        let csrs = |h: &Hart| (h.state().csr.mcause, h.state().csr.mepc, h.state().csr.mtval, h.state().privilege);
        assert_eq!(csrs(interp), csrs(compiled), "trap CSRs, {context}");
        let memory = |ram: &Ram| {
            let mut bytes = vec![0; DATA_SIZE as usize];
            assert!(ram.read_bytes(DATA - RAM_BASE, &mut bytes));
            bytes
        };
        assert!(memory(interp_ram) == memory(compiled_ram), "memory, {context}");
    }
}

#[test]
fn the_jit_and_the_interpreter_agree_on_random_programs() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let jit = Arc::new(Jit::new(0).expect("a JIT for this host"));
    let mut chain_hits = 0;
    for program_index in 0..PROGRAMS {
        let len = 8 + rng.below(40) as usize;
        let words = program(&mut rng, len);
        let regs: [u64; 32] = std::array::from_fn(|_| rng.value());
        let data: Vec<u8> = (0..DATA_SIZE).map(|_| rng.next() as u8).collect();
        let (mut interp, interp_ram) = hart(&words, &regs, &FloatState::OFF, &data, None);
        let (mut compiled, compiled_ram) = hart(&words, &regs, &FloatState::OFF, &data, Some(jit.clone()));
        let context = format!("program {program_index}: {words:08x?}");
        run_and_compare(&mut rng, (&mut interp, &interp_ram), (&mut compiled, &compiled_ram), &context);
        chain_hits += compiled.jit_stats().chain_hits;
    }
    assert!(jit.stats().blocks_compiled > PROGRAMS, "the JIT compiled the blocks: {:?}", jit.stats());
    // Blocks jumped to each other in compiled code, loops through several
    // blocks included, so chaining was checked too.
    assert!(chain_hits > PROGRAMS, "{chain_hits} chain hits");
}

/// Lockstep finds nothing wrong in the same random programs, and checks the
/// blocks it runs; the hart ends as the interpreter alone would.
#[test]
fn lockstep_finds_the_random_programs_right() {
    let mut rng = Rng(0x0bad_5eed_1234_5679);
    let jit = Arc::new(Jit::with_config(JitConfig::new(0).lockstep(true)).expect("a JIT for this host"));
    let mut checked = 0;
    for program_index in 0..PROGRAMS / 4 {
        let len = 8 + rng.below(40) as usize;
        let words = program(&mut rng, len);
        let regs: [u64; 32] = std::array::from_fn(|_| rng.value());
        let data: Vec<u8> = (0..DATA_SIZE).map(|_| rng.next() as u8).collect();
        let (mut interp, _) = hart(&words, &regs, &FloatState::OFF, &data, None);
        let (mut compiled, _) = hart(&words, &regs, &FloatState::OFF, &data, Some(jit.clone()));
        let budget = 1 + rng.below(600);
        let exit = compiled.run(budget);
        let context = format!("program {program_index}: {words:08x?}");
        if let Some(divergence) = compiled.jit_divergence() {
            panic!("{context}:\n{divergence}");
        }
        assert_eq!(interp.run(budget), exit, "{context}");
        assert_eq!(interp.state().regs(), compiled.state().regs(), "{context}");
        checked += compiled.jit_stats().lockstep_checked;
    }
    assert!(checked > PROGRAMS / 4, "lockstep checked the blocks: {checked}");
}

/// Programs of the floating-point and atomics test.
const FLOAT_PROGRAMS: u64 = 600;

/// Doubles at the edges: zeros, ±1, ties of rounding to integers,
/// infinities, quiet and signalling NaNs, the normal/subnormal boundary,
/// the largest finite value, 1 + ulp, half an ulp of 1 (a tie when added),
/// the bounds of conversions to 32- and 64-bit integers, near-overflow and
/// near-underflow magnitudes.
const DOUBLES: &[u64] = &[
    0x0000_0000_0000_0000,
    0x8000_0000_0000_0000,
    0x3ff0_0000_0000_0000,
    0xbff0_0000_0000_0000,
    0x3fe0_0000_0000_0000,
    0xbfe0_0000_0000_0000,
    0x3ff8_0000_0000_0000,
    0x4004_0000_0000_0000,
    0xc004_0000_0000_0000,
    0x7ff0_0000_0000_0000,
    0xfff0_0000_0000_0000,
    0x7ff8_0000_0000_0000,
    0xfff8_0000_0000_0000,
    0x7ff0_0000_0000_0001,
    0x7ff4_0000_0000_0000,
    0x0010_0000_0000_0000,
    0x0010_0000_0000_0001,
    0x000f_ffff_ffff_ffff,
    0x0000_0000_0000_0001,
    0x7fef_ffff_ffff_ffff,
    0xffef_ffff_ffff_ffff,
    0x3ff0_0000_0000_0001,
    0x3ca0_0000_0000_0000,
    0x3ca0_0000_0000_0001,
    0x41df_ffff_ffe0_0000,
    0x41e0_0000_0000_0000,
    0xc1e0_0000_0010_0000,
    0xc1e0_0000_0020_0000,
    0x41ef_ffff_fff0_0000,
    0x41f0_0000_0000_0000,
    0x43d0_0000_0000_0000,
    0x43cf_ffff_ffff_ffff,
    0x43e0_0000_0000_0000,
    0xc3e0_0000_0000_0000,
    0x43f0_0000_0000_0000,
    0x7fe1_ccf3_85eb_c8a0,
    0x0031_fa18_2c40_c60d,
    0x3ff6_a09e_667f_3bcd,
    0x3fd5_5555_5555_5555,
];

/// The same for singles.
const SINGLES: &[u32] = &[
    0x0000_0000,
    0x8000_0000,
    0x3f80_0000,
    0xbf80_0000,
    0x3f00_0000,
    0x3fc0_0000,
    0x4020_0000,
    0xc020_0000,
    0x7f80_0000,
    0xff80_0000,
    0x7fc0_0000,
    0xffc0_0000,
    0x7f80_0001,
    0x7fa0_0000,
    0x0080_0000,
    0x0080_0001,
    0x007f_ffff,
    0x0000_0001,
    0x7f7f_ffff,
    0xff7f_ffff,
    0x3f80_0001,
    0x3380_0000,
    0x4f00_0000,
    0xcf00_0000,
    0x4f80_0000,
    0x5e80_0000,
    0x5f00_0000,
    0x4b80_0001,
    0x3fb5_04f3,
];

impl Rng {
    /// An f register's value: a special or random double, a special or
    /// random single NaN-boxed, now and then bits that are not a boxed single.
    fn f_value(&mut self) -> u64 {
        let pick = |rng: &mut Rng, values: &[u64]| values[rng.below(values.len() as u64) as usize];
        let single = |bits: u64| 0xffff_ffff_0000_0000 | bits;
        match self.below(12) {
            0..=2 => pick(self, DOUBLES),
            // Moderate exponents: products and sums mostly stay normal.
            3 | 4 => (self.next() & 0x800f_ffff_ffff_ffff) | (1023 - 40 + self.below(80)) << 52,
            // Any exponent: products and quotients overflow and underflow.
            5 => (self.next() & 0x800f_ffff_ffff_ffff) | self.below(2047) << 52,
            6 | 7 => single(u64::from(SINGLES[self.below(SINGLES.len() as u64) as usize])),
            8 | 9 => single((self.next() & 0x807f_ffff) | (127 - 20 + self.below(40)) << 23),
            10 => single((self.next() & 0x807f_ffff) | self.below(255) << 23),
            _ => self.next() & !(1 << (32 + self.below(32))),
        }
    }

    /// A rounding-mode field: mostly nearest-even and dynamic, sometimes the
    /// other modes, rarely a reserved one.
    fn rm(&mut self) -> i32 {
        match self.below(100) {
            0..=39 => 0,
            40..=74 => 7,
            75..=97 => 1 + self.below(4) as i32,
            _ => 5 + self.below(2) as i32,
        }
    }

    /// An f register: often one of the first eight, so results feed others.
    fn f(&mut self) -> u8 {
        if self.below(2) == 0 { self.below(8) as u8 } else { self.below(32) as u8 }
    }

    /// An integer register the floating-point programs may write: not x8
    /// (base of compressed loads and stores), x29 (the code's address), x30
    /// (the address of atomics) or x31.
    fn float_rd(&mut self) -> u8 {
        let r = self.below(28) as u8;
        if r >= 8 { r + 1 } else { r }
    }
}

/// F and D operations that round.
const ROUNDING: &[Op] = &[
    Op::FaddS,
    Op::FsubS,
    Op::FmulS,
    Op::FdivS,
    Op::FsqrtS,
    Op::FaddD,
    Op::FsubD,
    Op::FmulD,
    Op::FdivD,
    Op::FsqrtD,
    Op::FcvtSD,
    Op::FcvtDS,
    Op::FmaddS,
    Op::FmsubS,
    Op::FnmsubS,
    Op::FnmaddS,
    Op::FmaddD,
    Op::FmsubD,
    Op::FnmsubD,
    Op::FnmaddD,
];
const TO_INT: &[Op] =
    &[Op::FcvtWS, Op::FcvtWuS, Op::FcvtLS, Op::FcvtLuS, Op::FcvtWD, Op::FcvtWuD, Op::FcvtLD, Op::FcvtLuD];
const FROM_INT: &[Op] =
    &[Op::FcvtSW, Op::FcvtSWu, Op::FcvtSL, Op::FcvtSLu, Op::FcvtDW, Op::FcvtDWu, Op::FcvtDL, Op::FcvtDLu];
/// F and D operations without a rounding mode.
const UNROUNDED: &[Op] = &[
    Op::FsgnjS,
    Op::FsgnjnS,
    Op::FsgnjxS,
    Op::FsgnjD,
    Op::FsgnjnD,
    Op::FsgnjxD,
    Op::FminS,
    Op::FmaxS,
    Op::FminD,
    Op::FmaxD,
    Op::FeqS,
    Op::FltS,
    Op::FleS,
    Op::FeqD,
    Op::FltD,
    Op::FleD,
    Op::FclassS,
    Op::FclassD,
    Op::FmvXW,
    Op::FmvXD,
    Op::FmvWX,
    Op::FmvDX,
];
const ATOMICS: &[Op] = &[
    Op::LrW,
    Op::ScW,
    Op::AmoswapW,
    Op::AmoaddW,
    Op::AmoxorW,
    Op::AmoandW,
    Op::AmoorW,
    Op::AmominW,
    Op::AmomaxW,
    Op::AmominuW,
    Op::AmomaxuW,
    Op::LrD,
    Op::ScD,
    Op::AmoswapD,
    Op::AmoaddD,
    Op::AmoxorD,
    Op::AmoandD,
    Op::AmoorD,
    Op::AmominD,
    Op::AmomaxD,
    Op::AmominuD,
    Op::AmomaxuD,
];

/// A random program of about `len` instructions of F, D and A mixed with
/// integer arithmetic, branches (loops included), jumps and writes of
/// `fflags` and `frm` (which end blocks, so later blocks start with other
/// flags and modes), then a landing pad of `ebreak`s.
fn float_program(rng: &mut Rng, len: usize) -> Vec<u32> {
    let pick = |rng: &mut Rng, ops: &[Op]| ops[rng.below(ops.len() as u64) as usize];
    let mut words = Vec::new();
    while words.len() < len {
        let at = words.len() as i32;
        let inst = match rng.below(40) / 2 {
            0..=5 => {
                let op = pick(rng, ROUNDING);
                let rm = rng.rm();
                let imm = if op.format() == Format::FpR4 { rm | i32::from(rng.f()) << 3 } else { rm };
                Inst { rd: rng.f(), rs1: rng.f(), rs2: rng.f(), imm, ..Inst::new(op, 4) }
            }
            6 | 7 => {
                let op = pick(rng, UNROUNDED);
                let (rd, rs1) = match op.format() {
                    Format::FpCmp | Format::FpToIntBits => (rng.float_rd(), rng.f()),
                    Format::IntToFpBits => (rng.f(), rng.below(32) as u8),
                    _ => (rng.f(), rng.f()),
                };
                // Both sources the same: fmv, fneg and fabs.
                let rs2 = if rng.below(4) == 0 { rs1 } else { rng.f() };
                Inst { rd, rs1, rs2, ..Inst::new(op, 4) }
            }
            8 => Inst { rd: rng.float_rd(), rs1: rng.f(), imm: rng.rm(), ..Inst::new(pick(rng, TO_INT), 4) },
            9 => Inst { rd: rng.f(), rs1: rng.below(32) as u8, imm: rng.rm(), ..Inst::new(pick(rng, FROM_INT), 4) },
            10 | 11 => {
                // Mostly inside the data page, sometimes misaligned, now and
                // then far outside RAM through a register (a fault).
                let op = pick(rng, &[Op::Flw, Op::Fld, Op::Fsw, Op::Fsd]);
                let base = if rng.below(16) == 0 { rng.below(31) as u8 } else { 31 };
                let imm = if rng.below(8) == 0 { rng.below(DATA_SIZE / 2) } else { 8 * rng.below(DATA_SIZE / 16) };
                Inst { rd: rng.f(), rs1: base, rs2: rng.f(), imm: imm as i32, ..Inst::new(op, 4) }
            }
            12 => {
                // c.fld or c.fsd off x8, then c.nop: compressed forms, whose
                // illegal-instruction traps report their 16 bits.
                let offset = rng.below(32) as u32;
                let funct = if rng.below(2) == 0 { 0b001 } else { 0b101 };
                let parcel = funct << 13 | (offset & 7) << 10 | (offset >> 3) << 5 | (rng.below(8) as u32) << 2;
                words.push(parcel | 0x0001 << 16);
                continue;
            }
            13 | 14 => {
                // The address: in x30, a word or doubleword of the data
                // page's first lines (so LR, SC and AMOs meet), sometimes
                // misaligned; or x29, the first code word, or'ed with zero
                // (it stays as it is, but the code on the line is
                // invalidated); or anything (mostly a fault).
                let (op, address, rs2) = match rng.below(16) {
                    0 => (pick(rng, ATOMICS), rng.below(31) as u8, rng.below(32) as u8),
                    1 => (Op::AmoorW, 29, 0),
                    _ => {
                        let offset = if rng.below(16) == 0 { 1 + rng.below(7) } else { 8 * rng.below(32) };
                        let addi = Inst { rd: 30, rs1: 31, imm: offset as i32, ..Inst::new(Op::Addi, 4) };
                        words.push(addi.encode());
                        (pick(rng, ATOMICS), 30, rng.below(32) as u8)
                    }
                };
                Inst { rd: rng.float_rd(), rs1: address, rs2, aq_rl: rng.below(4) as u8, ..Inst::new(op, 4) }
            }
            15 => {
                let op = pick(rng, ARITHMETIC);
                let imm = match op.format() {
                    Format::Shift64 => rng.below(64) as i32,
                    Format::Shift32 => rng.below(32) as i32,
                    Format::Upper => (rng.next() as i32) & !0xfff,
                    _ => rng.below(4096) as i32 - 2048,
                };
                Inst { rd: rng.float_rd(), rs1: rng.below(32) as u8, rs2: rng.below(32) as u8, imm, ..Inst::new(op, 4) }
            }
            16 | 17 => {
                let op = pick(rng, BRANCHES);
                let imm = if rng.below(3) == 0 { -4 * at } else { 4 * (1 + rng.below(8) as i32) };
                Inst { rs1: rng.below(32) as u8, rs2: rng.below(32) as u8, imm, ..Inst::new(op, 4) }
            }
            18 if rng.below(2) == 0 => {
                // csrrwi fflags (clearing NX or not), csrrsi fflags, or
                // csrrwi frm, reserved modes now and then.
                let (op, number, value) = match rng.below(4) {
                    0 => (Op::Csrrwi, csr::FFLAGS, rng.below(32)),
                    1 => (Op::Csrrsi, csr::FFLAGS, 1),
                    _ => (Op::Csrrwi, csr::FRM, if rng.below(8) == 0 { 5 + rng.below(3) } else { rng.below(5) }),
                };
                Inst { rs1: value as u8, imm: i32::from(number), ..Inst::new(op, 4) }
            }
            _ => {
                let ahead = 1 + rng.below(8) as i32;
                Inst { rd: rng.float_rd(), imm: 4 * ahead, ..Inst::new(Op::Jal, 4) }
            }
        };
        words.push(inst.encode());
    }
    words.extend([Inst::new(Op::Ebreak, 4).encode(); 9]);
    words
}

#[test]
fn the_jit_and_the_interpreter_agree_on_floating_point_and_atomics() {
    let mut rng = Rng(0x0fed_cba9_8765_4321);
    let jit = Arc::new(Jit::new(0).expect("a JIT for this host"));
    for program_index in 0..FLOAT_PROGRAMS {
        let len = 8 + rng.below(40) as usize;
        let words = float_program(&mut rng, len);
        let mut regs: [u64; 32] = std::array::from_fn(|_| rng.value());
        regs[8] = DATA;
        regs[29] = RAM_BASE;
        regs[30] = DATA;
        let float = FloatState {
            f: std::array::from_fn(|_| rng.f_value()),
            fflags: rng.below(32) as u8 | if rng.below(2) == 0 { 1 } else { 0 },
            frm: match rng.below(10) {
                0..=5 => 0,
                6..=8 => 1 + rng.below(4) as u8,
                _ => 5 + rng.below(3) as u8,
            },
            fs: if rng.below(16) == 0 { 0 } else { 1 + rng.below(3) },
        };
        let data: Vec<u8> = (0..DATA_SIZE / 8)
            .flat_map(|_| if rng.below(2) == 0 { rng.f_value() } else { rng.next() }.to_le_bytes())
            .collect();
        let (mut interp, interp_ram) = hart(&words, &regs, &float, &data, None);
        let (mut compiled, compiled_ram) = hart(&words, &regs, &float, &data, Some(jit.clone()));
        let context = format!("program {program_index}: {words:08x?}");
        run_and_compare(&mut rng, (&mut interp, &interp_ram), (&mut compiled, &compiled_ram), &context);
    }
    assert!(jit.stats().blocks_compiled > FLOAT_PROGRAMS, "the JIT compiled the blocks: {:?}", jit.stats());
}

/// Runs `insts` (then a jump to an `ebreak`, so that their block ends
/// without it) with `regs` on an interpreting hart and on one that compiles
/// every block, until the `ebreak` traps; checks they agree and returns the
/// compiled run's registers.
fn run_directed(insts: &[Inst], regs: &[u64; 32]) -> [u64; 32] {
    let mut words: Vec<u32> = insts.iter().map(Inst::encode).collect();
    words.push(Inst { imm: 4, ..Inst::new(Op::Jal, 4) }.encode());
    words.push(Inst::new(Op::Ebreak, 4).encode());
    let jit = Arc::new(Jit::new(0).expect("a JIT for this host"));
    let data = vec![0; DATA_SIZE as usize];
    let (mut interp, _) = hart(&words, regs, &FloatState::OFF, &data, None);
    let (mut compiled, _) = hart(&words, regs, &FloatState::OFF, &data, Some(jit.clone()));
    interp.run(10_000);
    compiled.run(10_000);
    let ebreak = RAM_BASE + 4 * (insts.len() as u64 + 1);
    assert_eq!(interp.state().csr.mepc, ebreak, "the interpreted run reached the ebreak");
    assert_eq!(compiled.state().csr.mepc, ebreak, "the compiled run reached the ebreak");
    assert_eq!(interp.state().regs(), compiled.state().regs(), "registers of {words:08x?}");
    assert!(jit.stats().blocks_compiled > 0, "the JIT compiled the blocks: {:?}", jit.stats());
    compiled.state().regs()
}

/// An AMO that leaves a reserved word as it is still breaks the
/// reservation, in compiled code as in the interpreter: the SC fails.
#[test]
fn an_amo_breaks_a_reservation_in_compiled_code() {
    let mut regs = [0; 32];
    regs[30] = DATA;
    for (op, size) in [(Op::AmoorW, 4), (Op::AmoaddD, 8)] {
        let (lr, sc) = if size == 4 { (Op::LrW, Op::ScW) } else { (Op::LrD, Op::ScD) };
        for offset in [0, 16] {
            let insts = [
                Inst { rd: 7, rs1: 30, ..Inst::new(lr, 4) },
                // Another word of the same line, or the reserved one.
                Inst { rd: 29, rs1: 30, imm: offset, ..Inst::new(Op::Addi, 4) },
                Inst { rd: 6, rs1: 29, rs2: 0, ..Inst::new(op, 4) },
                Inst { rd: 8, rs1: 30, rs2: 9, ..Inst::new(sc, 4) },
            ];
            assert_eq!(run_directed(&insts, &regs)[8], 1, "{op:?} at offset {offset}: the SC failed");
        }
    }
}

/// An AMO on code invalidates it, in compiled code as in the
/// interpreter: a loop calls a function whose `addi` immediate an
/// `amoxor.w` toggles between 1 and 3 after each call, so ten calls add
/// 1 + 3 + 1 + ... = 20.
#[test]
fn an_amo_on_code_invalidates_it_in_compiled_code() {
    let mut regs = [0; 32];
    regs[5] = 10;
    // The immediate's bit 1: 1 becomes 3 and back.
    regs[27] = 2 << 20;
    regs[29] = RAM_BASE + 4 * 5;
    let insts = [
        Inst { rd: 1, imm: 4 * 5, ..Inst::new(Op::Jal, 4) },
        Inst { rs1: 29, rs2: 27, ..Inst::new(Op::AmoxorW, 4) },
        Inst { rd: 5, rs1: 5, imm: -1, ..Inst::new(Op::Addi, 4) },
        Inst { rs1: 5, rs2: 0, imm: -12, ..Inst::new(Op::Bne, 4) },
        Inst { imm: 4 * 3, ..Inst::new(Op::Jal, 4) },
        // The function: addi x6, x6, 1; ret.
        Inst { rd: 6, rs1: 6, imm: 1, ..Inst::new(Op::Addi, 4) },
        Inst { rs1: 1, ..Inst::new(Op::Jalr, 4) },
    ];
    assert_eq!(run_directed(&insts, &regs)[6], 20);
}
