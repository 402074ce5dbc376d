//! Differential test of the two tiers: random valid instruction sequences
//! (integer arithmetic with its edge values, branches, jumps, loads and
//! stores, some of them faulting) run on one hart that only interprets and
//! on one whose JIT compiles every block at once; registers, pc, instruction
//! count, trap CSRs and memory must agree after every run.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

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
                // JIT runs inside the compiled block while the budget lasts.
                let imm = if rng.below(4) == 0 {
                    -4 * index as i32
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

/// A hart on its own RAM holding `words` at `RAM_BASE`, with `regs`.
fn hart(words: &[u32], regs: &[u64; 32], data: &[u8], jit: Option<Arc<Jit>>) -> (Hart, Arc<Ram>) {
    let host: Arc<Box<[AtomicU64]>> = Arc::new((0..RAM_SIZE / 8).map(|_| AtomicU64::new(0)).collect());
    let pointer = host.as_ptr() as *mut u8;
    // SAFETY: `pointer` is the start of `RAM_SIZE` bytes of `AtomicU64`s
    // (8-aligned, writable through a shared pointer), kept alive by `host`,
    // which the `Ram` owns; nothing else touches them.
    let ram = Arc::new(unsafe { Ram::new(RAM_BASE, pointer, RAM_SIZE, host) }.expect("page-aligned RAM"));
    let code: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    assert!(ram.write_bytes(0, &code));
    assert!(ram.write_bytes(DATA - RAM_BASE, data));
    // The handler: wfi, where the hart then waits.
    assert!(ram.write_bytes(HANDLER - RAM_BASE, &Inst::new(Op::Wfi, 4).encode().to_le_bytes()));
    let mut hart =
        Hart::new(0, ram.clone(), Arc::new(NoDevices), Arc::new(TranslationCache::new()), Arc::new(HartControl::new()));
    hart.set_jit(jit);
    hart.state.pc = RAM_BASE;
    hart.state.csr.mtvec = HANDLER;
    for (r, &value) in regs.iter().enumerate().skip(1) {
        hart.state.set_reg(r as u8, value);
    }
    hart.state.set_reg(31, DATA);
    (hart, ram)
}

#[test]
fn the_jit_and_the_interpreter_agree_on_random_programs() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let jit = Arc::new(Jit::new(0).expect("a JIT for this host"));
    for program_index in 0..PROGRAMS {
        let len = 8 + rng.below(40) as usize;
        let words = program(&mut rng, len);
        let regs: [u64; 32] = std::array::from_fn(|_| rng.value());
        let data: Vec<u8> = (0..DATA_SIZE).map(|_| rng.next() as u8).collect();
        let (mut interp, interp_ram) = hart(&words, &regs, &data, None);
        let (mut compiled, compiled_ram) = hart(&words, &regs, &data, Some(jit.clone()));
        // Twice: the second run starts from the first one's end state.
        for run in 0..2 {
            let budget = 1 + rng.below(600);
            let a = interp.run(budget);
            let b = compiled.run(budget);
            let context = format!("program {program_index} run {run}: {words:08x?}");
            assert_eq!(a, b, "exit, {context}");
            assert_eq!(interp.state.regs(), compiled.state.regs(), "registers, {context}");
            assert_eq!(interp.state.pc, compiled.state.pc, "pc, {context}");
            assert_eq!(interp.state.retired, compiled.state.retired, "retired, {context}");
            let csrs = |h: &Hart| (h.state.csr.mcause, h.state.csr.mepc, h.state.csr.mtval, h.state.privilege);
            assert_eq!(csrs(&interp), csrs(&compiled), "trap CSRs, {context}");
            let memory = |ram: &Ram| {
                let mut bytes = vec![0; DATA_SIZE as usize];
                assert!(ram.read_bytes(DATA - RAM_BASE, &mut bytes));
                bytes
            };
            assert!(memory(&interp_ram) == memory(&compiled_ram), "memory, {context}");
        }
    }
    assert!(jit.stats().blocks_compiled > PROGRAMS, "the JIT compiled the blocks: {:?}", jit.stats());
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
        let (mut interp, _) = hart(&words, &regs, &data, None);
        let (mut compiled, _) = hart(&words, &regs, &data, Some(jit.clone()));
        let budget = 1 + rng.below(600);
        let exit = compiled.run(budget);
        let context = format!("program {program_index}: {words:08x?}");
        if let Some(divergence) = compiled.jit_divergence() {
            panic!("{context}:\n{divergence}");
        }
        assert_eq!(interp.run(budget), exit, "{context}");
        assert_eq!(interp.state.regs(), compiled.state.regs(), "{context}");
        checked += compiled.jit_stats().lockstep_checked;
    }
    assert!(checked > PROGRAMS / 4, "lockstep checked the blocks: {checked}");
}
