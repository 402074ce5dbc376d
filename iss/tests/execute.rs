//! Instruction sequences run on a [`Hart`] against RAM, a small test bus and
//! a translation cache: what each instruction class does, how traps and
//! interrupts are taken, budgets, and self-modifying code.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use polyhart_iss::csr::{self, mstatus};
use polyhart_iss::decode::{Inst, Op};
use polyhart_iss::{
    AccessContext, Bus, BusError, Cause, Exception, Exit, Hart, HartControl, Interrupt, Privilege, Ram,
    TranslationCache,
};

const RAM_BASE: u64 = 0x8000_0000;
const RAM_SIZE: u64 = 64 * 1024;
/// Where tests put their trap handler (its own page).
const HANDLER: u64 = RAM_BASE + 0x1000;
/// Scratch data, on a page of its own.
const DATA: u64 = RAM_BASE + 0x2000;
/// Eight bytes of device registers.
const MMIO_BASE: u64 = 0x1000_0000;
const MMIO_SIZE: u64 = 8;
/// Read-only memory that can hold code.
const ROM_BASE: u64 = 0x2000_0000;
const ROM_SIZE: u64 = 0x100;
/// Nothing is mapped here.
const UNMAPPED: u64 = 0x4000_0000;
/// `pmpaddr` of a NAPOT entry that covers every physical address.
const ALL_MEMORY_NAPOT: u64 = (1 << 54) - 1;
/// `pmpcfg` byte of an unlocked NAPOT entry allowing reads, writes and fetches.
const PMP_NAPOT_RWX: u8 = 0x1f;
/// What `Bus::time` answers.
const TIME: u64 = 0x1234_5678_9abc;
const HART_ID: u64 = 3;

const ZERO: u8 = 0;
const RA: u8 = 1;
const SP: u8 = 2;
const T0: u8 = 5;
const T1: u8 = 6;
const T2: u8 = 7;
const A0: u8 = 10;
const A1: u8 = 11;
const A2: u8 = 12;
const A3: u8 = 13;
const A4: u8 = 14;
const A5: u8 = 15;
const T5: u8 = 30;
const T6: u8 = 31;

// Encoders, all through `Inst::encode`.

fn r(op: Op, rd: u8, rs1: u8, rs2: u8) -> u32 {
    Inst { rd, rs1, rs2, ..Inst::new(op, 4) }.encode()
}

/// I-type, loads, `jalr`, shifts by an immediate, and CSR instructions
/// (`imm` = CSR number, `rs1` = source register or 5-bit immediate).
fn i(op: Op, rd: u8, rs1: u8, imm: i32) -> u32 {
    Inst { rd, rs1, imm, ..Inst::new(op, 4) }.encode()
}

/// A store of `rs2` to `imm(rs1)`.
fn s(op: Op, rs2: u8, rs1: u8, imm: i32) -> u32 {
    Inst { rs1, rs2, imm, ..Inst::new(op, 4) }.encode()
}

fn b(op: Op, rs1: u8, rs2: u8, offset: i32) -> u32 {
    Inst { rs1, rs2, imm: offset, ..Inst::new(op, 4) }.encode()
}

fn u(op: Op, rd: u8, imm: i32) -> u32 {
    Inst { rd, imm, ..Inst::new(op, 4) }.encode()
}

fn jal(rd: u8, offset: i32) -> u32 {
    Inst { rd, imm: offset, ..Inst::new(Op::Jal, 4) }.encode()
}

fn amo(op: Op, rd: u8, rs1: u8, rs2: u8, aq_rl: u8) -> u32 {
    Inst { rd, rs1, rs2, aq_rl, ..Inst::new(op, 4) }.encode()
}

fn csr(op: Op, rd: u8, number: u16, rs1: u8) -> u32 {
    i(op, rd, rs1, i32::from(number))
}

fn sys(op: Op) -> u32 {
    Inst::new(op, 4).encode()
}

fn nop() -> u32 {
    i(Op::Addi, ZERO, ZERO, 0)
}

/// A bus with a few device bytes, a ROM that refuses writes, and a clock that
/// stands still.
struct TestBus {
    mmio: Mutex<[u8; MMIO_SIZE as usize]>,
    rom: Mutex<Vec<u8>>,
    last_context: Mutex<Option<AccessContext>>,
}

fn within(addr: u64, size: u64, base: u64, len: u64) -> Option<usize> {
    let offset = addr.checked_sub(base)?;
    (offset + size <= len).then_some(offset as usize)
}

fn little_endian(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0, |value, &byte| value << 8 | u64::from(byte))
}

impl Bus for TestBus {
    fn read(&self, ctx: &AccessContext, addr: u64, size: u8) -> Result<u64, BusError> {
        *self.last_context.lock().unwrap() = Some(*ctx);
        let size = u64::from(size);
        if let Some(offset) = within(addr, size, MMIO_BASE, MMIO_SIZE) {
            return Ok(little_endian(&self.mmio.lock().unwrap()[offset..offset + size as usize]));
        }
        if let Some(offset) = within(addr, size, ROM_BASE, ROM_SIZE) {
            return Ok(little_endian(&self.rom.lock().unwrap()[offset..offset + size as usize]));
        }
        Err(BusError::Unmapped(addr))
    }

    fn write(&self, ctx: &AccessContext, addr: u64, size: u8, value: u64) -> Result<(), BusError> {
        *self.last_context.lock().unwrap() = Some(*ctx);
        if let Some(offset) = within(addr, u64::from(size), MMIO_BASE, MMIO_SIZE) {
            let mut mmio = self.mmio.lock().unwrap();
            for (i, byte) in mmio[offset..offset + usize::from(size)].iter_mut().enumerate() {
                *byte = (value >> (8 * i)) as u8;
            }
            return Ok(());
        }
        if within(addr, u64::from(size), ROM_BASE, ROM_SIZE).is_some() {
            return Err(BusError::Denied(addr));
        }
        Err(BusError::Unmapped(addr))
    }

    fn fetch(&self, _ctx: &AccessContext, addr: u64) -> Result<u16, BusError> {
        match within(addr, 2, ROM_BASE, ROM_SIZE) {
            Some(offset) => Ok(little_endian(&self.rom.lock().unwrap()[offset..offset + 2]) as u16),
            None => Err(BusError::Unmapped(addr)),
        }
    }

    fn time(&self, _ctx: &AccessContext) -> u64 {
        TIME
    }
}

/// One hart with everything it runs against. The program is loaded at
/// `RAM_BASE`, where the hart starts; `mtvec` points at [`HANDLER`], whose
/// code saves `minstret` in t6 and waits (see [`Machine::run_to_trap`]).
struct Machine {
    hart: Hart,
    ram: Arc<Ram>,
    bus: Arc<TestBus>,
    cache: Arc<TranslationCache>,
    control: Arc<HartControl>,
}

impl Machine {
    fn new(program: &[u32]) -> Machine {
        Machine::at(RAM_BASE, program)
    }

    /// A machine whose RAM starts at `ram_base`, with `program` there.
    fn at(ram_base: u64, program: &[u32]) -> Machine {
        let ram = Arc::new(Ram::zeroed(ram_base, RAM_SIZE).expect("page-aligned RAM"));
        let bus = Arc::new(TestBus {
            mmio: Mutex::new([0; MMIO_SIZE as usize]),
            rom: Mutex::new(vec![0; ROM_SIZE as usize]),
            last_context: Mutex::new(None),
        });
        let cache = Arc::new(TranslationCache::new());
        let control = Arc::new(HartControl::new());
        let mut hart = Hart::new(HART_ID, ram.clone(), bus.clone(), cache.clone(), control.clone());
        hart.state_mut().pc = ram_base;
        hart.state_mut().csr.mtvec = HANDLER;
        // As firmware does, the last PMP entry gives S- and U-mode all memory;
        // without one they could not access any (see the `pmp_` tests).
        hart.state_mut().csr.pmpaddr[15] = ALL_MEMORY_NAPOT;
        hart.state_mut().csr.pmpcfg[1] = u64::from(PMP_NAPOT_RWX) << 56;
        let machine = Machine { hart, ram, bus, cache, control };
        machine.load(ram_base, program);
        // Other layouts bring their own code (and take no traps).
        if ram_base == RAM_BASE {
            machine.load(HANDLER, &[csr(Op::Csrrs, T6, csr::MINSTRET, ZERO), sys(Op::Wfi)]);
        }
        machine
    }

    fn offset(&self, addr: u64, len: u64) -> u64 {
        self.ram.offset(addr, len).unwrap_or_else(|| panic!("{addr:#x} is not RAM"))
    }

    fn load(&self, addr: u64, words: &[u32]) {
        let bytes: Vec<u8> = words.iter().flat_map(|word| word.to_le_bytes()).collect();
        self.load_bytes(addr, &bytes);
    }

    fn load_bytes(&self, addr: u64, bytes: &[u8]) {
        assert!(self.ram.write_bytes(self.offset(addr, bytes.len() as u64), bytes));
    }

    fn write(&self, addr: u64, size: u8, value: u64) {
        self.ram.write(self.offset(addr, u64::from(size)), size, value);
    }

    fn read(&self, addr: u64, size: u8) -> u64 {
        self.ram.read(self.offset(addr, u64::from(size)), size)
    }

    fn set(&mut self, reg: u8, value: u64) {
        self.hart.state_mut().set_reg(reg, value);
    }

    fn reg(&self, reg: u8) -> u64 {
        self.hart.state().reg(reg)
    }

    fn pc(&self) -> u64 {
        self.hart.state().pc
    }

    /// Runs exactly `n` instructions, which must all retire.
    fn run(&mut self, n: u64) {
        let before = self.hart.state().retired;
        assert_eq!(self.hart.run(n), Exit::BudgetSpent);
        assert_eq!(self.hart.state().retired, before + n);
    }

    /// Runs until the hart waits in [`HANDLER`]'s `wfi`; returns t6, the
    /// `minstret` the handler saw on entry.
    fn run_to_trap(&mut self) -> u64 {
        assert_eq!(self.hart.run(1000), Exit::WaitingForInterrupt, "{:?}", self.hart.state());
        assert_eq!(self.pc(), HANDLER + 8, "{:?}", self.hart.state());
        self.reg(T6)
    }

    /// Asserts the trap the handler was entered with.
    fn assert_trapped(&self, cause: Exception, tval: u64, epc: u64) {
        let csr = &self.hart.state().csr;
        assert_eq!(
            (csr.mcause, csr.mtval, csr.mepc),
            (cause as u64, tval, epc),
            "(mcause, mtval, mepc) after {cause:?}"
        );
    }
}

/// Runs one `op rd, rs1, rs2` with a1 = `a` and a2 = `b`; returns a0.
fn alu(op: Op, a: u64, b: u64) -> u64 {
    let mut m = Machine::new(&[r(op, A0, A1, A2)]);
    m.set(A1, a);
    m.set(A2, b);
    m.run(1);
    m.reg(A0)
}

/// Runs one `op a0, a1, imm` with a1 = `a`; returns a0.
fn alu_imm(op: Op, a: u64, imm: i32) -> u64 {
    let mut m = Machine::new(&[i(op, A0, A1, imm)]);
    m.set(A1, a);
    m.run(1);
    m.reg(A0)
}

const MIN: u64 = i64::MIN as u64;
const MAX: u64 = i64::MAX as u64;
const ALL: u64 = u64::MAX;

#[test]
fn register_register_arithmetic() {
    let cases: &[(Op, u64, u64, u64)] = &[
        (Op::Add, MAX, 1, MIN),
        (Op::Add, ALL, 1, 0),
        (Op::Sub, MIN, 1, MAX),
        (Op::Sub, 0, 1, ALL),
        (Op::Slt, ALL, 1, 1),
        (Op::Slt, 1, ALL, 0),
        (Op::Slt, 5, 5, 0),
        (Op::Sltu, ALL, 1, 0),
        (Op::Sltu, 1, ALL, 1),
        (Op::Sltu, MIN, MAX, 0),
        (Op::Xor, 0xff00, 0x0ff0, 0xf0f0),
        (Op::Or, 0xff00, 0x0ff0, 0xfff0),
        (Op::And, 0xff00, 0x0ff0, 0x0f00),
        (Op::Sll, 1, 0, 1),
        (Op::Sll, 1, 31, 1 << 31),
        (Op::Sll, 1, 32, 1 << 32),
        (Op::Sll, 1, 63, MIN),
        (Op::Sll, 1, 64, 1),
        (Op::Sll, 1, 65, 2),
        (Op::Sll, 1, ALL, MIN),
        (Op::Srl, MIN, 63, 1),
        (Op::Srl, MIN, 64 + 4, 0x0800_0000_0000_0000),
        (Op::Srl, ALL, 32, 0xffff_ffff),
        (Op::Sra, MIN, 63, ALL),
        (Op::Sra, MIN, 0, MIN),
        (Op::Sra, MIN, 128 + 60, 0xffff_ffff_ffff_fff8),
        (Op::Sra, MAX, 62, 1),
        (Op::Addw, 0x7fff_ffff, 1, 0xffff_ffff_8000_0000),
        (Op::Addw, 0xffff_ffff, 1, 0),
        (Op::Addw, 0x1_0000_0005, 0x2_0000_0003, 8),
        (Op::Subw, 0, 1, ALL),
        (Op::Subw, 0x8000_0000, 1, 0x7fff_ffff),
        (Op::Sllw, 1, 31, 0xffff_ffff_8000_0000),
        (Op::Sllw, 1, 32, 1),
        (Op::Sllw, 0xffff_ffff_0000_0003, 1, 6),
        (Op::Srlw, 0xffff_ffff_8000_0000, 0, 0xffff_ffff_8000_0000),
        (Op::Srlw, 0xffff_ffff_8000_0000, 1, 0x4000_0000),
        (Op::Srlw, 0x8000_0000, 31 + 32, 1),
        (Op::Sraw, 0x8000_0000, 31, ALL),
        (Op::Sraw, 0x0000_0001_7fff_ffff, 30, 1),
        (Op::Sraw, 0x8000_0000, 36, 0xffff_ffff_f800_0000),
    ];
    for &(op, a, b, expected) in cases {
        assert_eq!(alu(op, a, b), expected, "{op:?} {a:#x}, {b:#x}");
    }
}

#[test]
fn register_immediate_arithmetic() {
    let cases: &[(Op, u64, i32, u64)] = &[
        (Op::Addi, 5, -6, ALL),
        (Op::Addi, MAX, 1, MIN),
        (Op::Addi, 0, -2048, (-2048i64) as u64),
        (Op::Slti, ALL, 0, 1),
        (Op::Slti, 0, -1, 0),
        // sltiu compares with the sign-extended immediate as unsigned.
        (Op::Sltiu, 5, -1, 1),
        (Op::Sltiu, ALL, -1, 0),
        (Op::Sltiu, 0, 1, 1),
        (Op::Sltiu, 0x1000, -1, 1),
        (Op::Sltiu, MIN, -2048, 1),
        (Op::Sltiu, 0x7ff, 0x7ff, 0),
        (Op::Xori, 0x0f, -1, !0x0f),
        (Op::Ori, MIN, 0x7ff, MIN | 0x7ff),
        (Op::Andi, ALL, -256, !0xff),
        (Op::Slli, 1, 0, 1),
        (Op::Slli, 1, 31, 1 << 31),
        (Op::Slli, 1, 32, 1 << 32),
        (Op::Slli, 3, 63, MIN),
        (Op::Srli, MIN, 63, 1),
        (Op::Srli, ALL, 32, 0xffff_ffff),
        (Op::Srai, MIN, 32, 0xffff_ffff_8000_0000),
        (Op::Srai, MIN, 63, ALL),
        (Op::Addiw, 0x7fff_ffff, 1, 0xffff_ffff_8000_0000),
        (Op::Addiw, 0xffff_ffff_0000_0000, 0, 0),
        (Op::Addiw, 0x1_7fff_ffff, 0, 0x7fff_ffff),
        (Op::Addiw, 0, -1, ALL),
        (Op::Slliw, 1, 31, 0xffff_ffff_8000_0000),
        (Op::Slliw, 0xffff_ffff, 4, 0xffff_ffff_ffff_fff0),
        (Op::Srliw, 0xffff_ffff_8000_0000, 4, 0x0800_0000),
        (Op::Srliw, 0xffff_ffff_8000_0000, 0, 0xffff_ffff_8000_0000),
        (Op::Srliw, ALL, 31, 1),
        (Op::Sraiw, 0x8000_0000, 4, 0xffff_ffff_f800_0000),
        (Op::Sraiw, 0x1_7fff_ffff, 0, 0x7fff_ffff),
    ];
    for &(op, a, imm, expected) in cases {
        assert_eq!(alu_imm(op, a, imm), expected, "{op:?} {a:#x}, {imm}");
    }
}

#[test]
fn multiplication_and_division() {
    let minus = |v: i64| v as u64;
    let cases: &[(Op, u64, u64, u64)] = &[
        (Op::Mul, minus(-3), 5, minus(-15)),
        (Op::Mul, MIN, ALL, MIN),
        (Op::Mul, 1 << 32, 1 << 32, 0),
        (Op::Mulh, minus(-1), minus(-1), 0),
        (Op::Mulh, MIN, MIN, 0x4000_0000_0000_0000),
        (Op::Mulh, MIN, 1, ALL),
        (Op::Mulh, MAX, 2, 0),
        (Op::Mulhsu, minus(-1), ALL, ALL),
        (Op::Mulhsu, MIN, ALL, MIN),
        (Op::Mulhsu, 2, ALL, 1),
        (Op::Mulhsu, ALL, 1, ALL),
        (Op::Mulhu, ALL, ALL, 0xffff_ffff_ffff_fffe),
        (Op::Mulhu, MIN, 2, 1),
        (Op::Mulw, 0x7fff_ffff, 2, minus(-2)),
        (Op::Mulw, 0x1_0000_0003, 0x1_0000_0005, 15),
        (Op::Mulw, 0x8000_0000, 1, 0xffff_ffff_8000_0000),
        (Op::Div, minus(-7), 2, minus(-3)),
        (Op::Div, 7, minus(-2), minus(-3)),
        (Op::Div, 5, 0, ALL),
        (Op::Div, MIN, ALL, MIN),
        (Op::Divu, ALL, 2, MAX),
        (Op::Divu, 5, 0, ALL),
        (Op::Rem, minus(-7), 2, minus(-1)),
        (Op::Rem, 7, minus(-2), 1),
        (Op::Rem, minus(-5), 0, minus(-5)),
        (Op::Rem, MIN, ALL, 0),
        (Op::Remu, ALL, 10, 5),
        (Op::Remu, 5, 0, 5),
        (Op::Divw, 0xffff_ffff_8000_0000, 0xffff_ffff, 0xffff_ffff_8000_0000),
        (Op::Divw, 0x1_0000_0007, 0x2, 3),
        (Op::Divw, 7, 0, ALL),
        (Op::Divw, 7, 0x1_0000_0000, ALL),
        (Op::Divuw, 0x8000_0000, 1, 0xffff_ffff_8000_0000),
        (Op::Divuw, 0xffff_ffff, 2, 0x7fff_ffff),
        (Op::Divuw, 5, 0, ALL),
        (Op::Remw, 0x8000_0000, 0xffff_ffff, 0),
        (Op::Remw, minus(-7), 2, minus(-1)),
        (Op::Remw, 0x1_8000_0000, 0, 0xffff_ffff_8000_0000),
        (Op::Remuw, 0x1_8000_0000, 0, 0xffff_ffff_8000_0000),
        (Op::Remuw, 0xffff_ffff, 0x10, 0xf),
        (Op::Remuw, 0x8000_0005, 0x8000_0000, 5),
    ];
    for &(op, a, b, expected) in cases {
        assert_eq!(alu(op, a, b), expected, "{op:?} {a:#x}, {b:#x}");
    }
}

#[test]
fn lui_and_auipc_sign_extend() {
    let mut m = Machine::new(&[
        u(Op::Lui, A0, 0x8000_0000u32 as i32),
        u(Op::Lui, A1, 0x7ffff000),
        u(Op::Auipc, A2, -4096),
        u(Op::Auipc, A3, 0x8000_0000u32 as i32),
        u(Op::Lui, ZERO, 0x1000),
    ]);
    m.run(5);
    assert_eq!(m.reg(A0), 0xffff_ffff_8000_0000);
    assert_eq!(m.reg(A1), 0x7fff_f000);
    assert_eq!(m.reg(A2), RAM_BASE + 8 - 4096);
    assert_eq!(m.reg(A3), (RAM_BASE + 12).wrapping_sub(0x8000_0000));
    assert_eq!(m.reg(ZERO), 0);
}

#[test]
fn writes_to_x0_are_discarded() {
    let mut m = Machine::new(&[
        i(Op::Addi, ZERO, ZERO, 5),
        i(Op::Addi, A0, ZERO, 0),
        i(Op::Ld, ZERO, T0, 0),
        r(Op::Add, A1, ZERO, ZERO),
        amo(Op::AmoaddD, ZERO, T0, T0, 0),
        r(Op::Or, A2, ZERO, A3),
        jal(ZERO, 8),
        nop(),
        i(Op::Addi, A4, ZERO, 0),
    ]);
    m.set(T0, DATA);
    m.set(A3, 0x55);
    m.write(DATA, 8, 0x1234);
    m.run(8);
    assert_eq!(m.hart.state().regs()[0], 0);
    assert_eq!((m.reg(A0), m.reg(A1), m.reg(A2), m.reg(A4)), (0, 0, 0x55, 0));
    // The AMO still wrote memory.
    assert_eq!(m.read(DATA, 8), 0x1234 + DATA);
    assert_eq!(m.pc(), RAM_BASE + 36);
}

#[test]
fn jal_and_jalr_link_and_clear_bit_zero() {
    let mut m = Machine::new(&[jal(RA, 0x100)]);
    m.load(RAM_BASE + 0x100, &[i(Op::Jalr, A0, A0, 1)]);
    m.load(RAM_BASE + 0x200, &[i(Op::Jalr, T0, RA, 0x7ff)]);
    m.set(A0, RAM_BASE + 0x1ff);
    m.run(1);
    assert_eq!((m.pc(), m.reg(RA)), (RAM_BASE + 0x100, RAM_BASE + 4));
    // jalr a0, 1(a0): the target comes from the old a0, bit 0 cleared.
    m.run(1);
    assert_eq!((m.pc(), m.reg(A0)), (RAM_BASE + 0x200, RAM_BASE + 0x104));
    m.run(1);
    assert_eq!((m.pc(), m.reg(T0)), (RAM_BASE + 4 + 0x7fe, RAM_BASE + 0x204));
}

#[test]
fn jal_backwards_and_to_x0() {
    let mut m = Machine::new(&[nop(), jal(ZERO, -4)]);
    m.run(5);
    assert_eq!(m.pc(), RAM_BASE + 4);
    assert_eq!(m.hart.state().regs(), [0; 32]);
}

#[test]
fn branches_go_to_the_exact_target_or_fall_through() {
    let minus_one = u64::MAX;
    let cases: &[(Op, u64, u64, bool)] = &[
        (Op::Beq, 5, 5, true),
        (Op::Beq, 5, 6, false),
        (Op::Bne, 5, 6, true),
        (Op::Bne, minus_one, minus_one, false),
        (Op::Blt, minus_one, 1, true),
        (Op::Blt, 1, minus_one, false),
        (Op::Blt, 3, 3, false),
        (Op::Bge, 3, 3, true),
        (Op::Bge, minus_one, 1, false),
        (Op::Bge, 1, MIN, true),
        (Op::Bltu, 1, minus_one, true),
        (Op::Bltu, minus_one, 1, false),
        (Op::Bgeu, minus_one, 1, true),
        (Op::Bgeu, 1, minus_one, false),
        (Op::Bgeu, 0, 0, true),
    ];
    for &offset in &[-4096, -2, 8, 4094] {
        for &(op, a, b, taken) in cases {
            let start = RAM_BASE + 0x4000;
            let mut m = Machine::new(&[]);
            m.load(start, &[self::b(op, A0, A1, offset)]);
            m.hart.state_mut().pc = start;
            m.set(A0, a);
            m.set(A1, b);
            m.run(1);
            let expected = if taken { start.wrapping_add(offset as u64) } else { start + 4 };
            assert_eq!(m.pc(), expected, "{op:?} {a:#x}, {b:#x}, {offset}");
        }
    }
}

#[test]
fn a_taken_branch_leaves_the_block_and_a_fallthrough_continues_it() {
    // a0 counts down from 3 in a loop; a1 counts the iterations.
    let mut m = Machine::new(&[
        i(Op::Addi, A0, ZERO, 3),
        i(Op::Addi, A1, A1, 1),
        i(Op::Addi, A0, A0, -1),
        b(Op::Bne, A0, ZERO, -8),
        i(Op::Addi, A2, ZERO, 7),
    ]);
    m.run(1 + 3 * 3 + 1);
    assert_eq!((m.reg(A0), m.reg(A1), m.reg(A2), m.pc()), (0, 3, 7, RAM_BASE + 20));
}

#[test]
fn loads_extend_by_sign_or_zero() {
    let cases: &[(Op, u64)] = &[
        (Op::Lb, 0xffff_ffff_ffff_ff80),
        (Op::Lbu, 0x80),
        (Op::Lh, 0xffff_ffff_ffff_8080),
        (Op::Lhu, 0x8080),
        (Op::Lw, 0xffff_ffff_8080_8080),
        (Op::Lwu, 0x8080_8080),
        (Op::Ld, 0x7080_8080_8080_8080),
    ];
    for &(op, expected) in cases {
        let mut m = Machine::new(&[i(op, A0, T0, -8)]);
        m.write(DATA, 8, 0x7080_8080_8080_8080);
        m.set(T0, DATA + 8);
        m.run(1);
        assert_eq!(m.reg(A0), expected, "{op:?}");
    }
    let mut m = Machine::new(&[i(Op::Lb, A0, T0, 0), i(Op::Lh, A1, T0, 0), i(Op::Lw, A2, T0, 0)]);
    m.write(DATA, 8, 0x7f7f_7f7f);
    m.set(T0, DATA);
    m.run(3);
    assert_eq!((m.reg(A0), m.reg(A1), m.reg(A2)), (0x7f, 0x7f7f, 0x7f7f_7f7f));
}

#[test]
fn stores_write_only_their_bytes() {
    let mut m = Machine::new(&[
        s(Op::Sb, A0, T0, 0),
        s(Op::Sh, A0, T0, 2),
        s(Op::Sw, A0, T0, 4),
        s(Op::Sd, A0, T0, 8),
        s(Op::Sd, A0, T0, -8),
    ]);
    m.set(A0, 0x1122_3344_5566_7788);
    m.set(T0, DATA + 8);
    m.run(5);
    assert_eq!(m.read(DATA, 8), 0x1122_3344_5566_7788);
    assert_eq!(m.read(DATA + 8, 8), 0x5566_7788_7788_0088);
    assert_eq!(m.read(DATA + 16, 8), 0x1122_3344_5566_7788);
    assert_eq!(m.read(DATA + 24, 8), 0);
}

#[test]
fn misaligned_loads_and_stores_are_performed() {
    let mut m = Machine::new(&[
        s(Op::Sd, A0, T0, 3),
        i(Op::Ld, A1, T0, 3),
        i(Op::Lw, A2, T0, 5),
        i(Op::Lhu, A3, T0, 9),
        s(Op::Sw, A0, T1, 0),
        i(Op::Lwu, A4, T1, 0),
    ]);
    m.set(A0, 0x8877_6655_4433_2211);
    m.set(T0, DATA);
    // Across the end of the page.
    m.set(T1, DATA + 0xffe);
    m.run(6);
    assert_eq!(m.reg(A1), 0x8877_6655_4433_2211);
    assert_eq!(m.reg(A2), 0x0000_0000_6655_4433);
    assert_eq!(m.reg(A3), 0x8877);
    assert_eq!(m.read(DATA, 8), 0x5544_3322_1100_0000);
    assert_eq!(m.read(DATA + 8, 8), 0x0000_0000_0088_7766);
    assert_eq!(m.reg(A4), 0x4433_2211);
    assert_eq!(m.read(DATA + 0xff8, 8), 0x2211_0000_0000_0000);
    assert_eq!(m.read(DATA + 0x1000, 8), 0x4433);
}

#[test]
fn devices_are_reached_through_the_bus() {
    let mut m =
        Machine::new(&[s(Op::Sw, A0, T0, 0), i(Op::Lbu, A1, T0, 3), i(Op::Lw, A2, T0, 0), i(Op::Lhu, A3, T1, 2)]);
    m.set(A0, 0x8899_aabb);
    m.set(T0, MMIO_BASE);
    m.set(T1, ROM_BASE);
    m.bus.rom.lock().unwrap()[..4].copy_from_slice(&[1, 2, 3, 4]);
    m.run(4);
    assert_eq!(m.bus.mmio.lock().unwrap()[..4], [0xbb, 0xaa, 0x99, 0x88]);
    assert_eq!((m.reg(A1), m.reg(A2), m.reg(A3)), (0x88, 0xffff_ffff_8899_aabb, 0x0403));
    assert_eq!(m.bus.last_context.lock().unwrap().map(|ctx| ctx.hart_id), Some(HART_ID as usize));
}

#[test]
fn bus_accesses_carry_the_cycle_they_are_made_at() {
    // Devices such as the CLINT compute mtime and timer deadlines from it.
    let mut m = Machine::new(&[nop(), nop(), nop(), i(Op::Ld, A0, T0, 0), nop(), s(Op::Sd, A0, T0, 0)]);
    m.set(T0, MMIO_BASE);
    m.run(4);
    assert_eq!(*m.bus.last_context.lock().unwrap(), Some(AccessContext { hart_id: HART_ID as usize, cycle: 3 }));
    m.hart.idle(100);
    m.run(2);
    assert_eq!(m.bus.last_context.lock().unwrap().map(|ctx| ctx.cycle), Some(105));
}

#[test]
fn code_runs_from_rom() {
    let mut m = Machine::new(&[]);
    let code: Vec<u8> =
        [i(Op::Addi, A0, ZERO, 42), jal(ZERO, 0x20)].iter().flat_map(|word| word.to_le_bytes()).collect();
    m.bus.rom.lock().unwrap()[..8].copy_from_slice(&code);
    // c.addi a0, 1 at ROM + 0x24.
    m.bus.rom.lock().unwrap()[0x24..0x26].copy_from_slice(&0x0505u16.to_le_bytes());
    m.hart.state_mut().pc = ROM_BASE;
    m.run(3);
    assert_eq!((m.reg(A0), m.pc()), (43, ROM_BASE + 0x26));
}

#[test]
fn loads_outside_ram_and_bus_fault_with_the_address() {
    for &(op, addr) in &[
        (Op::Lw, UNMAPPED),
        (Op::Ld, 0),
        (Op::Lb, RAM_BASE - 1),
        (Op::Ld, RAM_BASE + RAM_SIZE - 4),
        (Op::Lh, RAM_BASE + RAM_SIZE),
        (Op::Lw, MMIO_BASE + MMIO_SIZE - 2),
    ] {
        let mut m = Machine::new(&[nop(), nop(), i(op, A0, T0, 0), nop()]);
        m.set(T0, addr);
        m.set(A0, 0x77);
        let minstret = m.run_to_trap();
        m.assert_trapped(Exception::LoadAccessFault, addr, RAM_BASE + 8);
        assert_eq!(minstret, 2, "the faulting load does not retire");
        assert_eq!(m.reg(A0), 0x77, "the faulting load writes nothing");
    }
}

#[test]
fn stores_outside_ram_or_to_rom_fault_with_the_address() {
    for &(op, addr) in &[
        (Op::Sw, UNMAPPED),
        (Op::Sb, ROM_BASE),
        (Op::Sd, RAM_BASE + RAM_SIZE - 4),
        (Op::Sh, MMIO_BASE + MMIO_SIZE - 1),
        (Op::Sd, u64::MAX - 3),
    ] {
        let mut m = Machine::new(&[nop(), s(op, A0, T0, 0)]);
        m.set(T0, addr);
        let minstret = m.run_to_trap();
        m.assert_trapped(Exception::StoreAccessFault, addr, RAM_BASE + 4);
        assert_eq!(minstret, 1);
    }
    // Nothing of the straddling store reached RAM.
    let mut m = Machine::new(&[s(Op::Sd, A0, T0, 0)]);
    m.set(A0, ALL);
    m.set(T0, RAM_BASE + RAM_SIZE - 4);
    m.run_to_trap();
    assert_eq!(m.read(RAM_BASE + RAM_SIZE - 8, 8), 0);
}

#[test]
fn fetch_faults_report_the_missing_part_and_the_instruction_start() {
    // A 32-bit instruction whose upper half lies beyond the end of RAM.
    let end = RAM_BASE + RAM_SIZE;
    let mut m = Machine::new(&[]);
    m.load_bytes(end - 2, &(nop() as u16).to_le_bytes());
    m.hart.state_mut().pc = end - 2;
    m.run_to_trap();
    m.assert_trapped(Exception::InstructionAccessFault, end, end - 2);

    // Device registers are not executable.
    let mut m = Machine::new(&[jal(ZERO, 0)]);
    m.hart.state_mut().pc = MMIO_BASE;
    m.run_to_trap();
    m.assert_trapped(Exception::InstructionAccessFault, MMIO_BASE, MMIO_BASE);
}

#[test]
fn ecall_cause_depends_on_privilege() {
    let mut m = Machine::new(&[nop(), sys(Op::Ecall)]);
    m.run_to_trap();
    m.assert_trapped(Exception::EnvironmentCallFromM, 0, RAM_BASE + 4);
    assert_eq!(m.hart.state().csr.mstatus & mstatus::MPP, mstatus::MPP);

    let mut m = Machine::new(&[sys(Op::Ecall)]);
    m.hart.state_mut().privilege = Privilege::User;
    m.run_to_trap();
    m.assert_trapped(Exception::EnvironmentCallFromU, 0, RAM_BASE);
    assert_eq!(m.hart.state().csr.mstatus & mstatus::MPP, 0);
    assert_eq!(m.hart.state().privilege, Privilege::Machine);
}

#[test]
fn ebreak_traps_with_zero_tval() {
    let mut m = Machine::new(&[nop(), sys(Op::Ebreak)]);
    m.run_to_trap();
    m.assert_trapped(Exception::Breakpoint, 0, RAM_BASE + 4);

    // c.ebreak
    let mut m = Machine::new(&[]);
    m.load_bytes(RAM_BASE, &[0x01, 0x00, 0x02, 0x90]);
    m.run_to_trap();
    m.assert_trapped(Exception::Breakpoint, 0, RAM_BASE + 2);
}

/// `tdata1` of an `mcontrol6` trigger (type 6) matching data (`select`)
/// in M-mode, on loads and stores as `kinds` (bit 0 load, bit 1 store)
/// say: Debug Specification 1.0, 5.7.17.
fn data_trigger(kinds: u64) -> u64 {
    6 << 60 | 1 << 21 | 1 << 6 | kinds
}

/// M-mode code with `mstatus.MIE` set (without `tcontrol`, M-mode triggers
/// fire only then) that arms trigger 0 from t0 (`tdata1`) and t1
/// (`tdata2`), then runs `access`.
fn with_trigger(access: u32) -> Vec<u32> {
    vec![
        csr(Op::Csrrsi, ZERO, csr::MSTATUS, 8),
        csr(Op::Csrrw, ZERO, csr::TDATA1, T0),
        csr(Op::Csrrw, ZERO, csr::TDATA2, T1),
        access,
        nop(),
    ]
}

#[test]
fn a_load_data_trigger_fires_after_the_load_retires() {
    // The specification's suggested timing for load data is "after": the
    // load writes its register and the exception names the next instruction.
    let mut m = Machine::new(&with_trigger(i(Op::Lbu, A0, A1, 1)));
    m.write(DATA, 8, 0x5a00);
    m.set(A1, DATA);
    m.set(T0, data_trigger(1));
    m.set(T1, 0x5a);
    assert_eq!(m.run_to_trap(), 4, "the load retired");
    m.assert_trapped(Exception::Breakpoint, DATA + 1, RAM_BASE + 16);
    assert_eq!(m.reg(A0), 0x5a);
    // Another value, or the address, does not fire it.
    for (value, tdata2) in [(0x5b00, 0x5a), (0x5a00, DATA + 1)] {
        let mut m = Machine::new(&with_trigger(i(Op::Lbu, A0, A1, 1)));
        m.write(DATA, 8, value);
        m.set(A1, DATA);
        m.set(T0, data_trigger(1));
        m.set(T1, tdata2);
        m.run(5);
        assert_eq!(m.pc(), RAM_BASE + 20);
    }
}

#[test]
fn a_store_data_trigger_fires_before_the_store() {
    // Stored data: "before", so memory keeps its old value. The value is
    // the access's bytes: a byte store of 0x1277 stores 0x77.
    let mut m = Machine::new(&with_trigger(s(Op::Sb, A2, A1, 0)));
    m.set(A1, DATA);
    m.set(A2, 0x1277);
    m.set(T0, data_trigger(2));
    m.set(T1, 0x77);
    assert_eq!(m.run_to_trap(), 3, "the store did not retire");
    m.assert_trapped(Exception::Breakpoint, DATA, RAM_BASE + 12);
    assert_eq!(m.read(DATA, 1), 0);
    // A load trigger on the same data leaves the store alone.
    let mut m = Machine::new(&with_trigger(s(Op::Sb, A2, A1, 0)));
    m.set(A1, DATA);
    m.set(A2, 0x77);
    m.set(T0, data_trigger(1));
    m.set(T1, 0x77);
    m.run(5);
    assert_eq!(m.read(DATA, 1), 0x77);
}

#[test]
fn illegal_instructions_trap_with_their_encoding() {
    for &bits in &[0xffff_ffffu32, 0x0000_007f, 0x0200_8073, 0x0020_0073, 0xfe00_0033] {
        let mut m = Machine::new(&[nop(), bits]);
        m.run_to_trap();
        m.assert_trapped(Exception::IllegalInstruction, u64::from(bits), RAM_BASE + 4);
    }
    // Implemented encodings that U-mode may not execute.
    for bits in [sys(Op::Sret), r(Op::SfenceVma, ZERO, A0, A1)] {
        let mut m = Machine::new(&[bits]);
        m.hart.state_mut().privilege = Privilege::User;
        m.run_to_trap();
        m.assert_trapped(Exception::IllegalInstruction, u64::from(bits), RAM_BASE);
    }
    // Compressed: the 16 bits, also when the next parcel is code.
    for &parcel in &[0x0000u16, 0x6101, 0x2588, 0x9c41] {
        let mut m = Machine::new(&[]);
        m.load_bytes(RAM_BASE, &[0x01, 0x00]);
        m.load_bytes(RAM_BASE + 2, &parcel.to_le_bytes());
        m.load_bytes(RAM_BASE + 4, &(nop() as u16).to_le_bytes());
        m.run_to_trap();
        m.assert_trapped(Exception::IllegalInstruction, u64::from(parcel), RAM_BASE + 2);
    }
}

#[test]
fn trap_entry_saves_state_and_masks_interrupts() {
    let mut m = Machine::new(&[sys(Op::Ecall)]);
    m.hart.state_mut().csr.mstatus |= mstatus::MIE;
    m.run_to_trap();
    let status = m.hart.state().csr.mstatus;
    assert_eq!(status & mstatus::MIE, 0);
    assert_eq!(status & mstatus::MPIE, mstatus::MPIE);
    assert_eq!(status & mstatus::MPP, mstatus::MPP);
    assert_eq!(m.hart.stats().traps, 1);

    // MIE clear: MPIE clear after the trap.
    let mut m = Machine::new(&[sys(Op::Ecall)]);
    m.hart.state_mut().csr.mstatus |= mstatus::MPIE;
    m.run_to_trap();
    assert_eq!(m.hart.state().csr.mstatus & (mstatus::MIE | mstatus::MPIE), 0);
}

#[test]
fn exceptions_ignore_vectored_mode() {
    let mut m = Machine::new(&[sys(Op::Ecall)]);
    m.hart.state_mut().csr.mtvec = HANDLER | 1;
    m.run_to_trap();
    m.assert_trapped(Exception::EnvironmentCallFromM, 0, RAM_BASE);
}

#[test]
fn mret_restores_privilege_and_interrupt_enable() {
    // M to U: MIE from MPIE, MPIE set, MPP cleared to U.
    let mut m = Machine::new(&[sys(Op::Mret)]);
    m.load(DATA, &[nop()]);
    m.hart.state_mut().csr.mepc = DATA;
    m.hart.state_mut().csr.mstatus = (m.hart.state().csr.mstatus & !mstatus::MPP) | mstatus::MPIE | mstatus::MPRV;
    m.run(1);
    assert_eq!((m.pc(), m.hart.state().privilege), (DATA, Privilege::User));
    let status = m.hart.state().csr.mstatus;
    assert_eq!(status & (mstatus::MIE | mstatus::MPIE | mstatus::MPP), mstatus::MIE | mstatus::MPIE);
    assert_eq!(status & mstatus::MPRV, 0, "leaving M-mode clears MPRV");
    m.run(1);
    assert_eq!(m.hart.state().privilege, Privilege::User);

    // M to M with MPIE clear.
    let mut m = Machine::new(&[sys(Op::Mret)]);
    m.hart.state_mut().csr.mepc = DATA;
    m.hart.state_mut().csr.mstatus |= mstatus::MPP | mstatus::MIE | mstatus::MPRV;
    m.run(1);
    assert_eq!((m.pc(), m.hart.state().privilege), (DATA, Privilege::Machine));
    let status = m.hart.state().csr.mstatus;
    assert_eq!(status & (mstatus::MIE | mstatus::MPIE | mstatus::MPP), mstatus::MPIE);
    assert_eq!(status & mstatus::MPRV, mstatus::MPRV, "staying in M-mode keeps MPRV");
}

#[test]
fn privileged_returns_and_wfi_are_illegal_where_the_spec_says() {
    let cases = [
        (sys(Op::Mret), Privilege::User, 0),
        (sys(Op::Mret), Privilege::Supervisor, 0),
        (sys(Op::Sret), Privilege::User, 0),
        (sys(Op::Sret), Privilege::Supervisor, mstatus::TSR),
        (sys(Op::Wfi), Privilege::User, 0),
        (sys(Op::Wfi), Privilege::Supervisor, mstatus::TW),
        (r(Op::SfenceVma, ZERO, ZERO, ZERO), Privilege::Supervisor, mstatus::TVM),
        (csr(Op::Csrrs, A0, csr::SATP, ZERO), Privilege::Supervisor, mstatus::TVM),
    ];
    for (bits, privilege, status) in cases {
        let mut m = Machine::new(&[bits]);
        m.hart.state_mut().privilege = privilege;
        m.hart.state_mut().csr.mstatus |= status;
        m.run_to_trap();
        m.assert_trapped(Exception::IllegalInstruction, u64::from(bits), RAM_BASE);
        assert_eq!(m.hart.state().privilege, Privilege::Machine);
    }
}

#[test]
fn wfi_waits_in_supervisor_mode_when_tw_is_clear() {
    let mut m = Machine::new(&[sys(Op::Wfi)]);
    m.hart.state_mut().privilege = Privilege::Supervisor;
    assert_eq!(m.hart.run(10), Exit::WaitingForInterrupt);
    assert_eq!((m.pc(), m.hart.state().privilege), (RAM_BASE + 4, Privilege::Supervisor));
}

#[test]
fn delegated_exceptions_go_to_supervisor_mode_and_sret_returns() {
    // U-mode: an illegal word, delegated; the S handler skips it with sret.
    let mut m = Machine::new(&[0xffff_ffff, i(Op::Addi, A0, A0, 1)]);
    m.hart.state_mut().privilege = Privilege::User;
    m.hart.state_mut().csr.medeleg = 1 << Exception::IllegalInstruction as u8;
    m.hart.state_mut().csr.stvec = DATA;
    m.hart.state_mut().csr.mstatus |= mstatus::SIE;
    m.load(
        DATA,
        &[
            csr(Op::Csrrs, T0, csr::SEPC, ZERO),
            i(Op::Addi, T0, T0, 4),
            csr(Op::Csrrw, ZERO, csr::SEPC, T0),
            csr(Op::Csrrs, T1, csr::SSTATUS, ZERO),
            sys(Op::Sret),
        ],
    );
    m.hart.run(4);
    let state = m.hart.state();
    assert_eq!(state.privilege, Privilege::Supervisor);
    assert_eq!((state.csr.scause, state.csr.stval, state.csr.mcause), (2, 0xffff_ffff, 0), "taken in S, not M");
    assert_eq!(m.reg(T1) & (mstatus::SIE | mstatus::SPIE | mstatus::SPP), mstatus::SPIE, "SPIE = old SIE, SPP = U");
    m.run(2);
    assert_eq!((m.hart.state().privilege, m.reg(A0), m.pc()), (Privilege::User, 1, RAM_BASE + 8));
    assert_eq!(m.hart.state().csr.mstatus & (mstatus::SIE | mstatus::SPIE), mstatus::SIE | mstatus::SPIE);
}

#[test]
fn delegated_interrupts_are_taken_in_supervisor_mode_and_machine_ones_first() {
    let mut m = Machine::new(&[nop(), nop()]);
    m.hart.state_mut().privilege = Privilege::Supervisor;
    m.hart.state_mut().csr.mideleg = csr::SUPERVISOR_INTERRUPTS;
    m.hart.state_mut().csr.mie = csr::SUPERVISOR_INTERRUPTS | Interrupt::MachineTimer.mask();
    m.hart.state_mut().csr.stvec = DATA;
    // Pending supervisor software interrupt, but SIE clear in S-mode: masked.
    m.hart.state_mut().csr.mip = Interrupt::SupervisorSoftware.mask();
    m.run(1);
    assert_eq!(m.pc(), RAM_BASE + 4);
    // A machine timer interrupt is taken in M even from S with MIE clear,
    // ahead of the supervisor one.
    m.control.set_interrupt(Interrupt::MachineTimer, true);
    m.run(0);
    assert_eq!((m.hart.state().privilege, m.hart.state().csr.mcause), (Privilege::Machine, TIMER_CAUSE));
    m.control.set_interrupt(Interrupt::MachineTimer, false);
    // Back in S with SIE set: the supervisor software interrupt goes to stvec.
    m.hart.state_mut().privilege = Privilege::Supervisor;
    m.hart.state_mut().pc = RAM_BASE + 4;
    m.hart.state_mut().csr.mstatus |= mstatus::SIE;
    m.run(0);
    assert_eq!((m.hart.state().privilege, m.pc()), (Privilege::Supervisor, DATA));
    assert_eq!(m.hart.state().csr.scause, (1 << 63) | 1);
}

#[test]
fn a_trap_round_trip_returns_to_user_mode() {
    // U-mode code ecalls; the handler advances mepc and returns.
    let mut m = Machine::new(&[sys(Op::Ecall), i(Op::Addi, A0, A0, 1)]);
    m.hart.state_mut().csr.mtvec = DATA;
    m.load(
        DATA,
        &[
            csr(Op::Csrrs, T0, csr::MEPC, ZERO),
            i(Op::Addi, T0, T0, 4),
            csr(Op::Csrrw, ZERO, csr::MEPC, T0),
            sys(Op::Mret),
        ],
    );
    m.hart.state_mut().privilege = Privilege::User;
    // The ecall does not retire: four handler instructions and the addi do.
    m.run(5);
    assert_eq!((m.pc(), m.reg(A0), m.hart.state().privilege), (RAM_BASE + 8, 1, Privilege::User));
    assert_eq!(m.hart.state().csr.mcause, Exception::EnvironmentCallFromU as u64);
}

#[test]
fn csr_read_and_write_forms() {
    let mut m = Machine::new(&[
        csr(Op::Csrrw, A0, csr::MSCRATCH, A1),
        csr(Op::Csrrs, A2, csr::MSCRATCH, A3),
        csr(Op::Csrrc, A4, csr::MSCRATCH, A5),
        csr(Op::Csrrwi, T0, csr::MSCRATCH, 0x15),
        csr(Op::Csrrsi, T1, csr::MSCRATCH, 0x0a),
        csr(Op::Csrrci, T5, csr::MSCRATCH, 0x01),
    ]);
    m.hart.state_mut().csr.mscratch = 0x1111;
    m.set(A1, 0xf0f0);
    m.set(A3, 0x000f);
    m.set(A5, 0x00f0);
    m.run(6);
    assert_eq!((m.reg(A0), m.reg(A2), m.reg(A4)), (0x1111, 0xf0f0, 0xf0ff));
    assert_eq!((m.reg(T0), m.reg(T1), m.reg(T5)), (0xf00f, 0x15, 0x1f));
    assert_eq!(m.hart.state().csr.mscratch, 0x1e);
}

#[test]
fn csrrw_to_x0_writes_and_leaves_x0_alone() {
    let mut m = Machine::new(&[csr(Op::Csrrw, ZERO, csr::MSCRATCH, A1), r(Op::Add, A0, ZERO, ZERO)]);
    m.hart.state_mut().csr.mscratch = 7;
    m.set(A1, 9);
    m.run(2);
    assert_eq!((m.hart.state().csr.mscratch, m.reg(A0), m.reg(ZERO)), (9, 0, 0));
}

#[test]
fn read_only_csrs_can_be_read_but_not_written() {
    // Reads: csrrs/csrrc with x0 and the immediate forms with 0 do not write.
    let mut m = Machine::new(&[
        csr(Op::Csrrs, A0, csr::MHARTID, ZERO),
        csr(Op::Csrrc, A1, csr::MVENDORID, ZERO),
        csr(Op::Csrrsi, A2, csr::MHARTID, 0),
        csr(Op::Csrrci, A3, csr::MARCHID, 0),
        csr(Op::Csrrs, A4, csr::TIME, ZERO),
    ]);
    m.run(5);
    assert_eq!((m.reg(A0), m.reg(A1), m.reg(A2), m.reg(A3), m.reg(A4)), (HART_ID, 0, HART_ID, 0, TIME));

    // A write, even of a zero from a register other than x0, traps.
    for bits in [
        csr(Op::Csrrs, A0, csr::MHARTID, A1),
        csr(Op::Csrrw, ZERO, csr::MHARTID, ZERO),
        csr(Op::Csrrwi, A0, csr::CYCLE, 0),
        csr(Op::Csrrci, A0, csr::MIMPID, 1),
        csr(Op::Csrrc, A0, csr::INSTRET, A1),
    ] {
        let mut m = Machine::new(&[bits]);
        m.set(A0, 0x66);
        m.run_to_trap();
        m.assert_trapped(Exception::IllegalInstruction, u64::from(bits), RAM_BASE);
        assert_eq!(m.reg(A0), 0x66, "{bits:#010x} wrote rd");
    }
}

#[test]
fn unknown_csrs_trap() {
    for bits in [
        csr(Op::Csrrs, A0, 0x7c0, ZERO),
        csr(Op::Csrrw, ZERO, 0x7c0, A1),
        csr(Op::Csrrs, A0, 0x600, ZERO), // hstatus: no hypervisor extension
        csr(Op::Csrrs, A0, 0x3c0, ZERO), // pmpaddr16: 16 entries only
    ] {
        let mut m = Machine::new(&[bits]);
        m.run_to_trap();
        m.assert_trapped(Exception::IllegalInstruction, u64::from(bits), RAM_BASE);
    }
}

#[test]
fn user_mode_cannot_reach_machine_csrs() {
    for number in [csr::MSTATUS, csr::MSCRATCH, csr::MHARTID, csr::MCYCLE, csr::MINSTRET] {
        let bits = csr(Op::Csrrs, A0, number, ZERO);
        let mut m = Machine::new(&[bits]);
        m.hart.state_mut().privilege = Privilege::User;
        m.run_to_trap();
        m.assert_trapped(Exception::IllegalInstruction, u64::from(bits), RAM_BASE);
    }
}

#[test]
fn mcounteren_gates_user_counters() {
    let counters = [(csr::CYCLE, 0), (csr::TIME, 1), (csr::INSTRET, 2), (0xc03, 3), (0xc1f, 31)];
    for (number, bit) in counters {
        let bits = csr(Op::Csrrs, A0, number, ZERO);
        let mut m = Machine::new(&[bits]);
        m.hart.state_mut().privilege = Privilege::User;
        m.hart.state_mut().csr.mcounteren = !(1 << bit) & 0xffff_ffff;
        m.hart.state_mut().csr.scounteren = 0xffff_ffff;
        m.run_to_trap();
        m.assert_trapped(Exception::IllegalInstruction, u64::from(bits), RAM_BASE);

        let mut m = Machine::new(&[nop(), nop(), bits]);
        m.hart.state_mut().privilege = Privilege::User;
        m.hart.state_mut().csr.mcounteren = 1 << bit;
        m.hart.state_mut().csr.scounteren = 1 << bit;
        m.set(A0, 0x66);
        m.run(3);
        let expected = match number {
            csr::CYCLE | csr::INSTRET => 2,
            csr::TIME => TIME,
            _ => 0,
        };
        assert_eq!(m.reg(A0), expected, "{number:#x}");
    }
}

#[test]
fn counters_written_then_read_count_on_from_the_written_value() {
    let mut m = Machine::new(&[
        csr(Op::Csrrw, A0, csr::MINSTRET, A1),
        nop(),
        nop(),
        csr(Op::Csrrs, A2, csr::MINSTRET, ZERO),
        csr(Op::Csrrs, A3, csr::INSTRET, ZERO),
        csr(Op::Csrrw, ZERO, csr::MCYCLE, A1),
        nop(),
        csr(Op::Csrrs, A4, csr::MCYCLE, ZERO),
        csr(Op::Csrrs, A5, csr::CYCLE, ZERO),
    ]);
    m.set(A1, 1000);
    m.run(9);
    // minstret before the write counts the instructions retired before it.
    assert_eq!(m.reg(A0), 0);
    assert_eq!((m.reg(A2), m.reg(A3)), (1002, 1003));
    assert_eq!((m.reg(A4), m.reg(A5)), (1001, 1002));
    // Budgets keep counting real instructions.
    assert_eq!(m.hart.state().retired, 9);
    assert_eq!(m.hart.state().minstret(), 1008);
}

#[test]
fn csr_fields_keep_their_warl_rules() {
    let mut m = Machine::new(&[
        csr(Op::Csrrw, ZERO, csr::MSTATUS, A0),
        csr(Op::Csrrs, A1, csr::MSTATUS, ZERO),
        csr(Op::Csrrw, ZERO, csr::MISA, ZERO),
        csr(Op::Csrrs, A2, csr::MISA, ZERO),
        csr(Op::Csrrw, ZERO, csr::MEPC, A3),
        csr(Op::Csrrw, ZERO, csr::MTVEC, A4),
        csr(Op::Csrrw, ZERO, csr::MIP, A5),
        csr(Op::Csrrw, ZERO, csr::MIE, A5),
    ]);
    // MPP = 2 is reserved: MPP keeps its old value (U). MIE stays clear so
    // the interrupts enabled below are not taken.
    m.set(A0, ALL & !(1 << 11) & !mstatus::MIE);
    m.set(A3, RAM_BASE + 0x123);
    m.set(A4, DATA | 2);
    m.set(A5, ALL);
    m.run(8);
    let writable = mstatus::SIE
        | mstatus::MIE
        | mstatus::SPIE
        | mstatus::MPIE
        | mstatus::SPP
        | mstatus::MPRV
        | mstatus::SUM
        | mstatus::MXR
        | mstatus::TVM
        | mstatus::TW
        | mstatus::TSR
        | mstatus::FS;
    // FS = Dirty (all ones) makes SD read as set.
    assert_eq!(m.reg(A1), (writable & !mstatus::MIE) | mstatus::UXL_64 | mstatus::SXL_64 | mstatus::SD);
    assert_eq!(m.reg(A2), csr::MISA_RV64IMAFDCSU);
    let csr = &m.hart.state().csr;
    assert_eq!(csr.mepc, RAM_BASE + 0x122);
    assert_eq!(csr.mtvec, HANDLER, "mode 2 is reserved");
    assert_eq!(csr.mip, csr::SUPERVISOR_INTERRUPTS, "only the supervisor bits of mip are software's");
    assert_eq!(csr.mie, 0xaaa, "the machine and supervisor enables");
}

#[test]
fn lr_sc_pairs() {
    let run = |program: &[u32], value: u64| -> Machine {
        let mut m = Machine::new(program);
        m.write(DATA, 8, value);
        m.set(T0, DATA);
        m.set(T1, DATA + 8);
        m.set(A1, 0x1234_5678_9abc_def0);
        m.run(program.len() as u64);
        m
    };
    // LR then SC of the same size and address succeeds; LR.W sign-extends.
    let m = run(&[amo(Op::LrW, A0, T0, ZERO, 2), amo(Op::ScW, A2, T0, A1, 1)], 0x5555_5555_8000_0000);
    assert_eq!((m.reg(A0), m.reg(A2)), (0xffff_ffff_8000_0000, 0));
    assert_eq!(m.read(DATA, 8), 0x5555_5555_9abc_def0);
    let m = run(&[amo(Op::LrD, A0, T0, ZERO, 3), amo(Op::ScD, A2, T0, A1, 3)], 7);
    assert_eq!((m.reg(A0), m.reg(A2), m.read(DATA, 8)), (7, 0, 0x1234_5678_9abc_def0));
    // SC without LR fails and writes nothing.
    let m = run(&[amo(Op::ScD, A2, T0, A1, 0)], 7);
    assert_eq!((m.reg(A2), m.read(DATA, 8)), (1, 7));
    // Reservation of another size or address.
    let m = run(&[amo(Op::LrD, A0, T0, ZERO, 0), amo(Op::ScW, A2, T0, A1, 0)], 7);
    assert_eq!((m.reg(A2), m.read(DATA, 8)), (1, 7));
    let m = run(&[amo(Op::LrD, A0, T1, ZERO, 0), amo(Op::ScD, A2, T0, A1, 0)], 7);
    assert_eq!((m.reg(A2), m.read(DATA, 8)), (1, 7));
    // A second SC finds the reservation used up, even after a failed one.
    let m = run(&[amo(Op::LrD, A0, T0, ZERO, 0), amo(Op::ScD, A2, T0, A1, 0), amo(Op::ScD, A3, T0, T0, 0)], 7);
    assert_eq!((m.reg(A2), m.reg(A3), m.read(DATA, 8)), (0, 1, 0x1234_5678_9abc_def0));
    let m = run(&[amo(Op::LrD, A0, T0, ZERO, 0), amo(Op::ScD, A2, T1, A1, 0), amo(Op::ScD, A3, T0, A1, 0)], 7);
    assert_eq!((m.reg(A2), m.reg(A3), m.read(DATA, 8)), (1, 1, 7));
    // SC's result register may be its source.
    let m = run(&[amo(Op::LrW, A0, T0, ZERO, 0), amo(Op::ScW, A1, T0, A1, 0)], 0);
    assert_eq!((m.reg(A1), m.read(DATA, 8)), (0, 0x9abc_def0));
}

/// A store that slipped past the code marks (another hart's store racing
/// with the translation; here a raw RAM write, which skips them) leaves a
/// stale block, which `fence.i` catches: the next call runs the new code.
#[test]
fn fence_i_catches_code_changed_behind_the_translation() {
    let sub = RAM_BASE + 0x100;
    let mut m = Machine::new(&[jal(RA, 0x100), sys(Op::FenceI), jal(RA, 0xf8), jal(RA, 0xf4)]);
    m.load(sub, &[i(Op::Addi, A0, A0, 1), i(Op::Jalr, ZERO, RA, 0)]);
    m.run(3);
    assert_eq!(m.reg(A0), 1);
    m.write(sub, 4, u64::from(i(Op::Addi, A0, A0, 100)));
    // fence.i, the call, the new addi, the return.
    m.run(4);
    assert_eq!(m.reg(A0), 101);
    // The block translated anew stays in use.
    m.run(4);
    assert_eq!(m.reg(A0), 201);
}

/// Another hart's store to the reserved line makes the SC fail, even one
/// that writes the value the LR read (a compare-and-swap alone would miss
/// it); a store to another line does not.
#[test]
fn a_store_by_another_hart_breaks_the_reservation() {
    for (target, sc_result) in [(DATA, 1), (DATA + 64, 0)] {
        let mut m = Machine::new(&[amo(Op::LrD, A0, T0, ZERO, 0), amo(Op::ScD, A2, T0, A1, 0)]);
        m.write(DATA, 8, 7);
        m.set(T0, DATA);
        m.set(A1, 99);
        let other_code = RAM_BASE + 0x3000;
        m.load(other_code, &[s(Op::Sd, A1, T0, 0)]);
        let mut other = Hart::new(0, m.ram.clone(), m.bus.clone(), m.cache.clone(), Arc::new(HartControl::new()));
        other.state_mut().pc = other_code;
        other.state_mut().set_reg(T0, target);
        other.state_mut().set_reg(A1, 7);
        m.run(1);
        assert_eq!(other.run(1), Exit::BudgetSpent);
        m.run(1);
        assert_eq!(m.reg(A2), sc_result, "store to {target:#x}");
        assert_eq!(m.read(DATA, 8), if sc_result == 0 { 99 } else { 7 });
    }
}

#[test]
fn lr_sc_faults() {
    let cases = [
        (amo(Op::LrW, A0, T0, ZERO, 0), DATA + 2, Exception::LoadAddressMisaligned),
        (amo(Op::LrD, A0, T0, ZERO, 0), DATA + 4, Exception::LoadAddressMisaligned),
        (amo(Op::ScW, A0, T0, A1, 0), DATA + 1, Exception::StoreAddressMisaligned),
        (amo(Op::ScD, A0, T0, A1, 0), DATA + 4, Exception::StoreAddressMisaligned),
        (amo(Op::LrD, A0, T0, ZERO, 0), UNMAPPED, Exception::LoadAccessFault),
        (amo(Op::LrW, A0, T0, ZERO, 0), MMIO_BASE, Exception::LoadAccessFault),
        (amo(Op::ScW, A0, T0, A1, 0), MMIO_BASE, Exception::StoreAccessFault),
    ];
    for (bits, addr, exception) in cases {
        let mut m = Machine::new(&[bits]);
        m.set(T0, addr);
        m.run_to_trap();
        m.assert_trapped(exception, addr, RAM_BASE);
    }
}

#[test]
fn every_amo_returns_the_old_value_and_stores_the_result() {
    const UPPER: u64 = 0x1111_1111_0000_0000;
    let old_w: u64 = 0x8000_0001;
    let operand_w: u64 = 0xdead_beef_0000_0002; // only the low word counts
    let words: &[(Op, u64)] = &[
        (Op::AmoswapW, 2),
        (Op::AmoaddW, 0x8000_0003),
        (Op::AmoxorW, 0x8000_0003),
        (Op::AmoandW, 0),
        (Op::AmoorW, 0x8000_0003),
        (Op::AmominW, 0x8000_0001),
        (Op::AmomaxW, 2),
        (Op::AmominuW, 2),
        (Op::AmomaxuW, 0x8000_0001),
    ];
    for &(op, stored) in words {
        for aq_rl in 0..4 {
            let mut m = Machine::new(&[amo(op, A0, T0, A1, aq_rl)]);
            m.write(DATA, 8, UPPER | old_w);
            m.set(T0, DATA);
            m.set(A1, operand_w);
            m.run(1);
            assert_eq!(m.reg(A0), 0xffff_ffff_8000_0001, "{op:?} returns the old word sign-extended");
            assert_eq!(m.read(DATA, 8), UPPER | stored, "{op:?}");
        }
    }
    // A positive old word and a wrapping add.
    let mut m = Machine::new(&[amo(Op::AmoaddW, A0, T0, A1, 0)]);
    m.write(DATA + 4, 4, 0x7fff_ffff);
    m.set(T0, DATA + 4);
    m.set(A1, 0x8000_0001);
    m.run(1);
    assert_eq!((m.reg(A0), m.read(DATA, 8)), (0x7fff_ffff, 0));

    let old_d: u64 = 0x8000_0000_0000_0001;
    let doubles: &[(Op, u64)] = &[
        (Op::AmoswapD, 2),
        (Op::AmoaddD, 0x8000_0000_0000_0003),
        (Op::AmoxorD, 0x8000_0000_0000_0003),
        (Op::AmoandD, 0),
        (Op::AmoorD, 0x8000_0000_0000_0003),
        (Op::AmominD, old_d),
        (Op::AmomaxD, 2),
        (Op::AmominuD, 2),
        (Op::AmomaxuD, old_d),
    ];
    for &(op, stored) in doubles {
        let mut m = Machine::new(&[amo(op, A0, T0, A1, 3)]);
        m.write(DATA + 8, 8, old_d);
        m.set(T0, DATA + 8);
        m.set(A1, 2);
        m.run(1);
        assert_eq!((m.reg(A0), m.read(DATA + 8, 8)), (old_d, stored), "{op:?}");
        assert_eq!(m.read(DATA, 8), 0, "{op:?} wrote outside its doubleword");
    }
}

#[test]
fn amo_with_rd_equal_to_rs2_uses_the_old_source() {
    let mut m = Machine::new(&[amo(Op::AmoswapD, A1, T0, A1, 0)]);
    m.write(DATA, 8, 5);
    m.set(T0, DATA);
    m.set(A1, 9);
    m.run(1);
    assert_eq!((m.reg(A1), m.read(DATA, 8)), (5, 9));
}

#[test]
fn amo_faults() {
    let cases = [
        (Op::AmoaddW, DATA + 2, Exception::StoreAddressMisaligned),
        (Op::AmoswapD, DATA + 4, Exception::StoreAddressMisaligned),
        (Op::AmomaxuD, DATA + 7, Exception::StoreAddressMisaligned),
        (Op::AmoorW, UNMAPPED, Exception::StoreAccessFault),
        (Op::AmoandD, MMIO_BASE, Exception::StoreAccessFault),
        (Op::AmominW, ROM_BASE, Exception::StoreAccessFault),
        (Op::AmoxorD, RAM_BASE + RAM_SIZE, Exception::StoreAccessFault),
    ];
    for (op, addr, exception) in cases {
        let mut m = Machine::new(&[nop(), amo(op, A0, T0, A1, 0)]);
        m.set(T0, addr);
        m.set(A0, 0x66);
        let minstret = m.run_to_trap();
        m.assert_trapped(exception, addr, RAM_BASE + 4);
        assert_eq!((minstret, m.reg(A0)), (1, 0x66), "{op:?}");
    }
}

#[test]
fn compressed_instructions_execute() {
    let mut m = Machine::new(&[]);
    // c.li a0, 5; loop: c.addi a0, -1; c.bnez a0, loop; c.sdsp a1, 8(sp);
    // c.lwsp a2, 8(sp); addi a5, zero, 7 (at a 2-byte boundary); c.jalr a3;
    // c.beqz a0, done; c.li a0, 9; done: c.j done
    let program: [u16; 12] =
        [0x4515, 0x157d, 0xfd7d, 0xe42e, 0x4622, 0x0793, 0x0070, 0x9682, 0xc111, 0x4525, 0xa001, 0];
    let bytes: Vec<u8> = program.iter().flat_map(|parcel| parcel.to_le_bytes()).collect();
    m.load_bytes(RAM_BASE, &bytes);
    // At a3: c.mv a4, ra; c.jr ra
    m.load_bytes(RAM_BASE + 0x40, &[0x06, 0x87, 0x82, 0x80]);
    m.set(SP, DATA);
    m.set(A1, 0x0123_4567_89ab_cdef);
    m.set(A3, RAM_BASE + 0x40);
    m.run(1 + 5 * 2 + 4 + 2 + 1);
    assert_eq!(m.pc(), RAM_BASE + 0x14);
    assert_eq!(m.reg(A0), 0);
    assert_eq!(m.read(DATA + 8, 8), 0x0123_4567_89ab_cdef);
    assert_eq!(m.reg(A2), 0xffff_ffff_89ab_cdef);
    assert_eq!(m.reg(A5), 7);
    // c.jalr links to the next 2-byte instruction.
    assert_eq!((m.reg(RA), m.reg(A4)), (RAM_BASE + 0x10, RAM_BASE + 0x10));
    m.run(3);
    assert_eq!(m.pc(), RAM_BASE + 0x14);
}

#[test]
fn run_retires_exactly_its_budget_even_inside_a_block() {
    let program: Vec<u32> = (0..20).map(|_| i(Op::Addi, A0, A0, 1)).collect();
    let mut m = Machine::new(&program);
    for (budget, total) in [(3, 3), (1, 4), (0, 4), (10, 14)] {
        m.run(budget);
        assert_eq!((m.reg(A0), m.pc(), m.hart.state().minstret()), (total, RAM_BASE + 4 * total, total));
    }
}

#[test]
fn a_budget_counts_instructions_across_blocks_and_loops() {
    let mut m = Machine::new(&[i(Op::Addi, A0, A0, 1), i(Op::Addi, A1, A1, 2), jal(ZERO, -8)]);
    m.run(1000);
    assert_eq!((m.reg(A0), m.reg(A1), m.pc()), (334, 666, RAM_BASE + 4));
}

#[test]
fn an_exit_request_stops_the_run() {
    let mut m = Machine::new(&[jal(ZERO, 0)]);
    m.control.request_exit();
    assert_eq!(m.hart.run(10), Exit::ExitRequested);
    assert_eq!(m.hart.state().retired, 0);
    assert!(m.control.take_exit_request());
    m.run(10);
}

/// More instructions than the hart runs in many seconds.
const LONG_BUDGET: u64 = 10_000_000_000;

#[test]
fn an_exit_request_from_another_thread_stops_an_endless_loop() {
    let mut m = Machine::new(&[i(Op::Addi, A0, A0, 1), jal(ZERO, -4)]);
    let control = m.control.clone();
    let requester = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        control.request_exit();
    });
    // A budget the hart would need tens of seconds for: if the request were
    // only noticed when `run` returns, the test would fail rather than hang.
    assert_eq!(m.hart.run(LONG_BUDGET), Exit::ExitRequested);
    requester.join().unwrap();
    assert!(m.reg(A0) > 0 && m.hart.state().retired < LONG_BUDGET);
}

/// A loop incrementing a0 at `RAM_BASE`, with machine interrupts enabled in
/// `mie` and `mstatus`, and `mtvec` at `DATA`, where the handler records
/// `mcause` in t5, disables all interrupts in `mie`, and waits.
fn interrupt_machine() -> Machine {
    let mut m = Machine::new(&[i(Op::Addi, A0, A0, 1), jal(ZERO, -4)]);
    m.load(DATA, &[csr(Op::Csrrs, T5, csr::MCAUSE, ZERO), csr(Op::Csrrw, ZERO, csr::MIE, ZERO), sys(Op::Wfi)]);
    m.hart.state_mut().csr.mtvec = DATA;
    m.hart.state_mut().csr.mie = Interrupt::MachineTimer.mask();
    m.hart.state_mut().csr.mstatus |= mstatus::MIE;
    m
}

const TIMER_CAUSE: u64 = 0x8000_0000_0000_0007;

#[test]
fn a_raised_timer_interrupt_is_taken_at_the_next_instruction() {
    let mut m = interrupt_machine();
    m.run(5);
    assert_eq!(m.pc(), RAM_BASE + 4);
    m.control.set_interrupt(Interrupt::MachineTimer, true);
    m.run(0);
    let csr = &m.hart.state().csr;
    assert_eq!((m.pc(), csr.mcause, csr.mepc, csr.mtval), (DATA, TIMER_CAUSE, RAM_BASE + 4, 0));
    assert_eq!(csr.mstatus & (mstatus::MIE | mstatus::MPIE | mstatus::MPP), mstatus::MPIE | mstatus::MPP);
    assert_eq!(m.hart.run(10), Exit::WaitingForInterrupt);
    assert_eq!((m.reg(T5), m.reg(A0)), (TIMER_CAUSE, 3));
}

#[test]
fn interrupts_are_vectored_when_mtvec_says_so() {
    let mut m = interrupt_machine();
    m.hart.state_mut().csr.mtvec = DATA | 1;
    m.control.set_interrupt(Interrupt::MachineTimer, true);
    m.run(0);
    assert_eq!((m.pc(), m.hart.state().csr.mcause), (DATA + 4 * 7, TIMER_CAUSE));
}

#[test]
fn a_timer_interrupt_from_another_thread_interrupts_an_endless_loop() {
    let mut m = interrupt_machine();
    let control = m.control.clone();
    let raiser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        control.set_interrupt(Interrupt::MachineTimer, true);
    });
    // The interrupt arrives in the middle of the run.
    assert_eq!(m.hart.run(LONG_BUDGET), Exit::WaitingForInterrupt);
    raiser.join().unwrap();
    assert_eq!(m.reg(T5), TIMER_CAUSE);
    let mepc = m.hart.state().csr.mepc;
    assert!(mepc == RAM_BASE || mepc == RAM_BASE + 4, "mepc {mepc:#x}");
}

#[test]
fn machine_mode_masks_interrupts_with_mie_but_user_mode_does_not() {
    let mut m = interrupt_machine();
    m.hart.state_mut().csr.mstatus &= !mstatus::MIE;
    m.control.set_interrupt(Interrupt::MachineTimer, true);
    m.run(10);
    assert_eq!(m.reg(A0), 5, "masked in M-mode");

    // Enabling MIE takes it right after the CSR write.
    m.load(RAM_BASE + 0x40, &[csr(Op::Csrrsi, ZERO, csr::MSTATUS, 8), nop()]);
    m.hart.state_mut().pc = RAM_BASE + 0x40;
    m.run(1);
    let csr = &m.hart.state().csr;
    assert_eq!((m.pc(), csr.mcause, csr.mepc), (DATA, TIMER_CAUSE, RAM_BASE + 0x44));

    // U-mode with MIE clear.
    let mut m = interrupt_machine();
    m.hart.state_mut().csr.mstatus &= !mstatus::MIE;
    m.hart.state_mut().privilege = Privilege::User;
    m.run(3);
    m.control.set_interrupt(Interrupt::MachineTimer, true);
    m.run(0);
    let csr = &m.hart.state().csr;
    assert_eq!((m.pc(), csr.mcause, csr.mepc), (DATA, TIMER_CAUSE, RAM_BASE + 4));
    assert_eq!(csr.mstatus & (mstatus::MPIE | mstatus::MPP), 0, "MPIE from MIE (0), MPP = U");
    assert_eq!(m.hart.state().privilege, Privilege::Machine);
}

#[test]
fn an_interrupt_not_enabled_in_mie_is_not_taken() {
    let mut m = interrupt_machine();
    m.control.set_interrupt(Interrupt::MachineSoftware, true);
    m.control.set_interrupt(Interrupt::MachineExternal, true);
    m.run(4);
    assert_eq!((m.reg(A0), m.hart.state().csr.mcause), (2, 0));
    // Lowering a line withdraws the interrupt.
    m.control.set_interrupt(Interrupt::MachineTimer, true);
    m.control.set_interrupt(Interrupt::MachineTimer, false);
    m.run(4);
    assert_eq!((m.reg(A0), m.hart.state().csr.mcause), (4, 0));
}

#[test]
fn mret_into_pending_interrupt_takes_it_at_the_return_address() {
    let mut m = interrupt_machine();
    m.load(RAM_BASE + 0x40, &[sys(Op::Mret)]);
    m.hart.state_mut().pc = RAM_BASE + 0x40;
    m.hart.state_mut().csr.mstatus = (m.hart.state().csr.mstatus & !mstatus::MIE) | mstatus::MPIE | mstatus::MPP;
    m.hart.state_mut().csr.mepc = RAM_BASE + 4;
    m.control.set_interrupt(Interrupt::MachineTimer, true);
    m.run(1);
    let csr = &m.hart.state().csr;
    assert_eq!((m.pc(), csr.mcause, csr.mepc), (DATA, TIMER_CAUSE, RAM_BASE + 4));
}

#[test]
fn interrupt_priority_is_external_then_software_then_timer() {
    let all = Interrupt::MachineExternal.mask() | Interrupt::MachineSoftware.mask() | Interrupt::MachineTimer.mask();
    let order = [Interrupt::MachineExternal, Interrupt::MachineSoftware, Interrupt::MachineTimer];
    for (n, expected) in order.into_iter().enumerate() {
        let mut m = interrupt_machine();
        m.hart.state_mut().csr.mie = all;
        for irq in &order[n..] {
            m.control.set_interrupt(*irq, true);
        }
        m.run(0);
        assert_eq!(m.hart.state().csr.mcause, Cause::Interrupt(expected).code(), "{:?}", &order[n..]);
    }
}

#[test]
fn wfi_waits_until_an_interrupt_is_pending() {
    let mut m = interrupt_machine();
    m.load(RAM_BASE + 0x40, &[sys(Op::Wfi), i(Op::Addi, A1, A1, 1), jal(ZERO, 0)]);
    m.hart.state_mut().pc = RAM_BASE + 0x40;
    m.hart.state_mut().csr.mstatus &= !mstatus::MIE;
    assert_eq!(m.hart.run(10), Exit::WaitingForInterrupt);
    assert_eq!((m.pc(), m.hart.state().retired), (RAM_BASE + 0x44, 1));
    // Still waiting: nothing runs.
    assert_eq!(m.hart.run(10), Exit::WaitingForInterrupt);
    assert_eq!(m.hart.state().retired, 1);
    // Pending and enabled in mie, though masked by MIE: wfi resumes without a trap.
    m.control.set_interrupt(Interrupt::MachineTimer, true);
    m.run(2);
    assert_eq!((m.reg(A1), m.pc(), m.hart.state().csr.mcause), (1, RAM_BASE + 0x48, 0));
}

#[test]
fn wfi_with_interrupts_enabled_traps_after_the_wfi() {
    let mut m = interrupt_machine();
    m.load(RAM_BASE + 0x40, &[sys(Op::Wfi), nop()]);
    m.hart.state_mut().pc = RAM_BASE + 0x40;
    assert_eq!(m.hart.run(10), Exit::WaitingForInterrupt);
    m.control.set_interrupt(Interrupt::MachineTimer, true);
    m.run(0);
    let csr = &m.hart.state().csr;
    assert_eq!((m.pc(), csr.mcause, csr.mepc), (DATA, TIMER_CAUSE, RAM_BASE + 0x44));
    assert!(!m.hart.state().waiting);
}

#[test]
fn a_handler_that_cannot_be_fetched_is_a_trap_loop() {
    let mut m = Machine::new(&[0xffff_ffff]);
    m.hart.state_mut().csr.mtvec = UNMAPPED;
    let exit = m.hart.run(100);
    assert_eq!(
        exit,
        Exit::TrapLoop {
            pc: UNMAPPED,
            cause: Cause::Exception(Exception::InstructionAccessFault),
            origin: Some((Cause::Exception(Exception::IllegalInstruction), RAM_BASE)),
        }
    );
    m.assert_trapped(Exception::InstructionAccessFault, UNMAPPED, UNMAPPED);
    assert_eq!(m.hart.state().retired, 0);
}

#[test]
fn a_handler_whose_first_instruction_is_illegal_is_a_trap_loop() {
    // The handler is an ecall-free illegal word at DATA; ecall sends the hart there.
    let mut m = Machine::new(&[i(Op::Addi, A0, A0, 1), sys(Op::Ecall)]);
    m.hart.state_mut().csr.mtvec = DATA;
    m.hart.state_mut().csr.mstatus |= mstatus::MIE;
    m.load(DATA, &[0xffff_ffff]);
    let exit = m.hart.run(1000);
    assert_eq!(
        exit,
        Exit::TrapLoop {
            pc: DATA,
            cause: Cause::Exception(Exception::IllegalInstruction),
            origin: Some((Cause::Exception(Exception::EnvironmentCallFromM), RAM_BASE + 4)),
        }
    );
    assert_eq!(m.hart.state().retired, 1, "only the addi retired");
}

#[test]
fn a_fault_that_the_handler_repairs_is_no_trap_loop() {
    // A load faults twice at the same place with nothing retired in between
    // except the handler's work: the handler fixes the address and returns.
    let mut m = Machine::new(&[i(Op::Ld, A1, A0, 0), i(Op::Addi, A2, A2, 1)]);
    m.set(A0, UNMAPPED);
    m.set(A4, DATA);
    m.hart.state_mut().csr.mtvec = DATA;
    m.load(
        DATA,
        &[
            i(Op::Addi, A3, A3, 1),
            // After the second fault, point a0 at RAM.
            i(Op::Slti, T0, A3, 2),
            b(Op::Bne, T0, ZERO, 8),
            i(Op::Addi, A0, A4, 0),
            sys(Op::Mret),
        ],
    );
    // Handler rounds of 4 and 5 instructions, then the load and the addi.
    m.run(11);
    assert_eq!((m.reg(A3), m.reg(A2), m.pc()), (2, 1, RAM_BASE + 8), "two faults, then the load succeeded");
}

#[test]
fn stored_code_runs_after_fence_i() {
    // main: call f; overwrite f's first instruction; fence.i; call f.
    let mut m = Machine::new(&[jal(RA, 0x100), s(Op::Sw, T1, T0, 0), sys(Op::FenceI), jal(RA, 0x100 - 12)]);
    m.load(RAM_BASE + 0x100, &[i(Op::Addi, A0, A0, 1), i(Op::Jalr, ZERO, RA, 0)]);
    m.set(T0, RAM_BASE + 0x100);
    m.set(T1, u64::from(i(Op::Addi, A0, A0, 100)));
    m.run(8);
    assert_eq!((m.reg(A0), m.pc()), (101, RAM_BASE + 16));
    assert!(m.cache.stats().blocks_invalidated > 0);
}

#[test]
fn an_amo_or_sc_on_code_invalidates_it() {
    // f: addi a0, a0, 1; ret. amoadd adds 99 << 20 to its immediate, sc.w
    // then writes `addi a0, a0, 1000`.
    let mut m = Machine::new(&[
        jal(RA, 0x100),
        amo(Op::AmoaddW, ZERO, T0, T1, 0),
        jal(RA, 0x100 - 8),
        amo(Op::LrW, A5, T0, ZERO, 0),
        amo(Op::ScW, A4, T0, A3, 0),
        jal(RA, 0x100 - 20),
    ]);
    m.load(RAM_BASE + 0x100, &[i(Op::Addi, A0, A0, 1), i(Op::Jalr, ZERO, RA, 0)]);
    m.set(T0, RAM_BASE + 0x100);
    m.set(T1, 99 << 20);
    m.set(A3, u64::from(i(Op::Addi, A0, A0, 1000)));
    m.run(3 + 1 + 3 + 2 + 3);
    assert_eq!(m.reg(A4), 0, "sc succeeded");
    assert_eq!((m.reg(A0), m.pc()), (1 + 100 + 1000, RAM_BASE + 24));
}

#[test]
fn stores_invalidate_code_only_in_its_own_lines() {
    let mut m = Machine::new(&[s(Op::Sw, T1, T0, 0x7c0), s(Op::Sw, T1, T0, 0x38), jal(ZERO, 0)]);
    m.set(T0, RAM_BASE);
    m.set(T1, 0x5a5a);
    m.run(1);
    // Same page as the code, another 64-byte line: the fast path.
    assert_eq!(m.read(RAM_BASE + 0x7c0, 4), 0x5a5a);
    assert_eq!(m.cache.stats().blocks_invalidated, 0);
    // The line holding the code.
    m.run(1);
    assert_eq!(m.read(RAM_BASE + 0x38, 4), 0x5a5a);
    assert!(m.cache.stats().blocks_invalidated > 0);
    // The code still runs, translated again.
    let inserted = m.cache.stats().blocks_inserted;
    m.run(3);
    assert_eq!(m.pc(), RAM_BASE + 8);
    assert_eq!(m.cache.stats().blocks_inserted, inserted + 1);
}

#[test]
fn a_store_that_misses_code_keeps_translations() {
    let mut m = Machine::new(&[s(Op::Sd, T1, T0, 0), i(Op::Addi, A0, A0, 1), jal(ZERO, -8)]);
    m.set(T0, DATA);
    m.run(300);
    let stats = m.cache.stats();
    assert_eq!((stats.blocks_inserted, stats.blocks_invalidated), (1, 0));
    assert_eq!(m.hart.stats().blocks_translated, 1);
}

#[test]
fn a_misaligned_store_across_a_page_invalidates_code_on_the_next_page() {
    let f = RAM_BASE + 0x3000;
    let mut m = Machine::new(&[jal(RA, 0x3000), s(Op::Sd, T1, T0, 0), sys(Op::FenceI), jal(RA, 0x3000 - 12)]);
    m.load(f, &[i(Op::Addi, A0, A0, 1), i(Op::Jalr, ZERO, RA, 0)]);
    // Four bytes of data on the page before, then f's first instruction.
    m.set(T0, f - 4);
    m.set(T1, u64::from(i(Op::Addi, A0, A0, 100)) << 32 | 0x5a5a_5a5a);
    m.run(8);
    assert_eq!((m.read(f - 4, 4), m.read(f, 4)), (0x5a5a_5a5a, u64::from(i(Op::Addi, A0, A0, 100))));
    assert_eq!((m.reg(A0), m.pc()), (101, RAM_BASE + 16));
}

#[test]
fn stored_code_straddling_a_page_runs_after_fence_i() {
    // f at the last two bytes of a page: addi a0, a0, 1 (32-bit); ret.
    let f = RAM_BASE + 0x1ffe;
    let mut m = Machine::new(&[
        jal(RA, 0x1ffe),
        s(Op::Sw, T1, T0, 0), // misaligned, across the page boundary
        sys(Op::FenceI),
        jal(RA, 0x1ffe - 12),
    ]);
    m.load_bytes(f, &i(Op::Addi, A0, A0, 1).to_le_bytes());
    m.load(f + 4, &[i(Op::Jalr, ZERO, RA, 0)]);
    m.set(T0, f);
    m.set(T1, u64::from(i(Op::Addi, A0, A0, 100)));
    m.run(8);
    assert_eq!(m.read(f, 4), u64::from(i(Op::Addi, A0, A0, 100)));
    assert_eq!((m.reg(A0), m.pc()), (101, RAM_BASE + 16));
}

#[test]
fn ram_that_does_not_start_on_a_page_is_refused() {
    let memory = Arc::new(vec![0u64; 1024]);
    let pointer = memory.as_ptr() as *mut u8;
    // SAFETY: 8 KiB of `u64`s, 8-aligned, kept alive by `memory`; the `Ram` is
    // refused, so nothing ever accesses it.
    let refused = unsafe { Ram::new(RAM_BASE + 0x800, pointer, 8192, memory.clone()) };
    assert_eq!(refused.err(), Some(polyhart_iss::RamError::MisalignedBase(RAM_BASE + 0x800)));
    // SAFETY: as above; this one is only checked for acceptance.
    let accepted = unsafe { Ram::new(RAM_BASE + 0x1000, pointer, 8192, memory) };
    assert!(accepted.is_ok());
}

/// Random words run as code, with traps sent back into the same random code:
/// whatever the guest does, the hart keeps to its budget and the host never
/// panics. Also a check that random code cannot corrupt the hart's own
/// bookkeeping: `retired` and `minstret` stay consistent.
#[test]
fn random_code_never_panics_the_host() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..40 {
        let words: Vec<u32> = (0..1024).map(|_| next() as u32).collect();
        let mut m = Machine::new(&words);
        // Traps land in the random code too; registers point into RAM half of
        // the time so that loads and stores hit memory, code included.
        m.hart.state_mut().csr.mtvec = RAM_BASE + 4 * (next() % 1024);
        for reg in 1..32 {
            let value = if next() % 2 == 0 { RAM_BASE + next() % RAM_SIZE } else { next() };
            m.set(reg, value);
        }
        let budget = 20_000;
        let exit = m.hart.run(budget);
        let retired = m.hart.state().retired;
        assert!(retired <= budget, "round {round}: {retired} instructions retired for a budget of {budget}");
        assert!(
            matches!(exit, Exit::BudgetSpent | Exit::WaitingForInterrupt | Exit::TrapLoop { .. }),
            "round {round}: {exit:?}"
        );
        if exit == Exit::BudgetSpent {
            assert_eq!(retired, budget, "round {round}: a spent budget means exactly the budget retired");
        }
    }
}

/// A block that branches back to its own start runs again without leaving the
/// interpreter; budgets stay exact inside such a loop.
#[test]
fn a_self_loop_keeps_exact_budgets() {
    let mut m = Machine::new(&[i(Op::Addi, A0, A0, 1), b(Op::Bne, A0, A1, -4), i(Op::Addi, A2, A2, 7)]);
    m.set(A1, 100);
    m.run(37);
    assert_eq!((m.reg(A0), m.pc()), (19, RAM_BASE + 4), "18 rounds and one addi");
    m.run(163);
    assert_eq!((m.reg(A0), m.reg(A2), m.pc()), (100, 0, RAM_BASE + 8), "the loop ran out; the addi after it is next");
    m.run(1);
    assert_eq!(m.reg(A2), 7);
}

/// Page tables for the paging tests, in the test RAM: a root table whose
/// entry 2 maps VA 0x8000_0000.. to itself with a 1 GiB page (so the code runs
/// in S-mode), and whose entry 1 leads, through two more levels, to 4 KiB
/// pages at VA 0x4000_0000 (`DATA`, read-write, A and D clear) and
/// 0x4000_1000 (`DATA`, read-only).
const ROOT: u64 = RAM_BASE + 0x8000;
const VA_RW: u64 = 0x4000_0000;
const VA_RO: u64 = 0x4000_1000;

fn paging_machine(program: &[u32]) -> Machine {
    const V: u64 = 1;
    const R: u64 = 2;
    const W: u64 = 4;
    const X: u64 = 8;
    const A: u64 = 0x40;
    const D: u64 = 0x80;
    let pte = |addr: u64, flags: u64| (addr >> 12) << 10 | flags;
    let (level1, level0) = (ROOT + 0x1000, ROOT + 0x2000);
    let mut m = Machine::new(program);
    m.write(ROOT + 2 * 8, 8, pte(0x8000_0000, V | R | W | X | A | D));
    m.write(ROOT + 8, 8, pte(level1, V));
    m.write(level1, 8, pte(level0, V));
    m.write(level0, 8, pte(DATA, V | R | W));
    m.write(level0 + 8, 8, pte(DATA, V | R | A));
    m.hart.state_mut().csr.satp = 8 << 60 | ROOT >> 12;
    m.hart.state_mut().privilege = Privilege::Supervisor;
    m
}

#[test]
fn sv39_translates_loads_and_stores_and_sets_accessed_and_dirty() {
    let mut m = paging_machine(&[
        u(Op::Lui, T0, 0x4000_0000),
        i(Op::Ld, A0, T0, 0),
        s(Op::Sd, A1, T0, 8),
        u(Op::Lui, T1, 0x4000_1000),
        i(Op::Ld, A2, T1, 8),
    ]);
    m.write(DATA, 8, 0x1111);
    m.set(A1, 0x2222);
    let level0 = ROOT + 0x2000;
    m.run(2);
    assert_eq!(m.reg(A0), 0x1111);
    assert_eq!(m.read(level0, 8) & 0xc0, 0x40, "a load sets A only");
    m.run(3);
    assert_eq!(m.read(DATA + 8, 8), 0x2222, "the store went through the mapping");
    assert_eq!(m.read(level0, 8) & 0xc0, 0xc0, "a store sets D too");
    assert_eq!(m.reg(A2), 0x2222, "the read-only alias sees it");
}

#[test]
fn sv39_page_faults_carry_the_virtual_address() {
    // A store to the read-only page, a load from an unmapped page, and a
    // non-canonical address, each taken in M with mtval = the address.
    let cases: [(u32, u64, Exception); 3] = [
        (s(Op::Sd, A1, T1, 0), VA_RO, Exception::StorePageFault),
        (i(Op::Ld, A0, T1, 0), VA_RW + 0x2000, Exception::LoadPageFault),
        (i(Op::Ld, A0, T1, 0), 1 << 40, Exception::LoadPageFault),
    ];
    for (bits, address, cause) in cases {
        let mut m = paging_machine(&[bits]);
        m.set(T1, address);
        m.run_to_trap();
        m.assert_trapped(cause, address, RAM_BASE);
        assert_eq!(m.read(DATA, 8), 0, "nothing was written");
    }
}

#[test]
fn sv39_fetch_needs_execute_permission() {
    // Jump to the data page, which is not executable: an instruction page
    // fault at the target.
    let mut m = paging_machine(&[u(Op::Lui, T0, 0x4000_0000), i(Op::Jalr, ZERO, T0, 0)]);
    m.run_to_trap();
    m.assert_trapped(Exception::InstructionPageFault, VA_RW, VA_RW);
}

#[test]
fn sv39_remapping_is_seen_after_sfence_vma() {
    let level0 = ROOT + 0x2000;
    let mut m = paging_machine(&[
        u(Op::Lui, T0, 0x4000_0000),
        i(Op::Ld, A0, T0, 0),
        r(Op::SfenceVma, ZERO, ZERO, ZERO),
        i(Op::Ld, A1, T0, 0),
    ]);
    m.write(DATA, 8, 1);
    m.write(DATA + 0x1000, 8, 2);
    m.run(2);
    // Point VA_RW at the next page.
    m.write(level0, 8, ((DATA + 0x1000) >> 12) << 10 | 0xc7);
    m.run(2);
    assert_eq!((m.reg(A0), m.reg(A1)), (1, 2));
}

#[test]
fn sfence_vma_for_one_address_is_enough_for_its_page() {
    let level0 = ROOT + 0x2000;
    let mut m = paging_machine(&[
        u(Op::Lui, T0, 0x4000_0000),
        i(Op::Ld, A0, T0, 0),
        r(Op::SfenceVma, ZERO, T0, ZERO),
        i(Op::Ld, A1, T0, 0),
        r(Op::SfenceVma, ZERO, T0, A2),
        i(Op::Ld, A3, T0, 0),
    ]);
    m.write(DATA, 8, 1);
    m.write(DATA + 0x1000, 8, 2);
    m.write(DATA + 0x2000, 8, 3);
    m.run(2);
    m.write(level0, 8, ((DATA + 0x1000) >> 12) << 10 | 0xc7);
    m.run(2);
    assert_eq!((m.reg(A0), m.reg(A1)), (1, 2), "sfence.vma t0 drops VA_RW's translation");
    // The same with the current address space's ASID (0) in rs2.
    m.write(level0, 8, ((DATA + 0x2000) >> 12) << 10 | 0xc7);
    m.run(2);
    assert_eq!(m.reg(A3), 3, "sfence.vma t0, a2 (ASID 0) drops it too");
}

/// `sfence.vma` with any address inside a superpage drops what the whole
/// superpage gave, not only the 4 KiB page of that address.
#[test]
fn sfence_vma_for_an_address_in_a_superpage_drops_all_of_it() {
    let level1 = ROOT + 0x1000;
    // VA 0x4020_0000: a 2 MiB page onto RAM_BASE (where DATA lies).
    let megapage = 0x4020_0000;
    let mut m = paging_machine(&[
        u(Op::Lui, T0, (megapage + (DATA - RAM_BASE)) as i32),
        i(Op::Ld, A0, T0, 0),
        u(Op::Lui, T1, (megapage + 0x10_0000) as i32),
        r(Op::SfenceVma, ZERO, T1, ZERO),
        i(Op::Ld, A1, T0, 0),
    ]);
    m.write(level1 + 8, 8, (RAM_BASE >> 12) << 10 | 0xc7);
    m.write(DATA, 8, 0x55);
    m.run(2);
    assert_eq!(m.reg(A0), 0x55);
    // Unmap the megapage, and fence another address inside it.
    m.write(level1 + 8, 8, 0);
    m.run(2);
    m.run_to_trap();
    m.assert_trapped(Exception::LoadPageFault, megapage + (DATA - RAM_BASE), RAM_BASE + 16);
}

/// A 32-bit instruction whose halves lie in two virtual pages runs from
/// whatever the second page maps to now: after the second page is mapped
/// elsewhere and fenced, the new second half is what executes.
#[test]
fn an_instruction_across_pages_follows_a_remapped_second_page() {
    let level0 = ROOT + 0x2000;
    // VA 0x4000_2000 -> RAM_BASE + 0x4000 and VA 0x4000_3000 -> RAM_BASE +
    // 0x5000, later RAM_BASE + 0x6000, all executable.
    let (first, second, other) = (RAM_BASE + 0x4000, RAM_BASE + 0x5000, RAM_BASE + 0x6000);
    let exec = |pa: u64| (pa >> 12) << 10 | 0xcb;
    let mut m = paging_machine(&[
        u(Op::Lui, T0, 0x4000_3000),
        i(Op::Addi, T0, T0, -2),
        i(Op::Jalr, RA, T0, 0),
        u(Op::Lui, T1, 0x4000_3000),
        r(Op::SfenceVma, ZERO, T1, ZERO),
        i(Op::Jalr, RA, T0, 0),
    ]);
    m.write(level0 + 2 * 8, 8, exec(first));
    m.write(level0 + 3 * 8, 8, exec(second));
    let add = |imm: i32| i(Op::Addi, A0, A0, imm).to_le_bytes();
    let ret = i(Op::Jalr, ZERO, RA, 0).to_le_bytes();
    m.load_bytes(first + 0xffe, &add(1)[..2]);
    m.load_bytes(second, &[&add(1)[2..], &ret[..]].concat());
    m.load_bytes(other, &[&add(0x10)[2..], &ret[..]].concat());
    assert_eq!(add(1)[..2], add(0x10)[..2], "the two adds differ in their second half only");
    m.run(5);
    assert_eq!((m.reg(A0), m.pc()), (1, RAM_BASE + 12));
    m.write(level0 + 3 * 8, 8, exec(other));
    m.run(5);
    assert_eq!((m.reg(A0), m.pc()), (0x11, RAM_BASE + 24), "the second half came from the page mapped now");
}

#[test]
fn satp_takes_sv39_sv48_and_sv57_and_ignores_other_modes() {
    let mut m = Machine::new(&[
        csr(Op::Csrrw, ZERO, csr::SATP, A0),
        csr(Op::Csrrs, A3, csr::SATP, ZERO),
        csr(Op::Csrrw, ZERO, csr::SATP, A1),
        csr(Op::Csrrs, A4, csr::SATP, ZERO),
        csr(Op::Csrrw, ZERO, csr::SATP, A2),
        csr(Op::Csrrs, A5, csr::SATP, ZERO),
    ]);
    m.set(A0, 8 << 60 | 0x1234);
    m.set(A1, 9 << 60 | 0x5678);
    m.set(A2, 11 << 60 | 0x9abc);
    m.run(6);
    assert_eq!((m.reg(A3), m.reg(A4), m.reg(A5)), (8 << 60 | 0x1234, 9 << 60 | 0x5678, 9 << 60 | 0x5678));
    let mut m = Machine::new(&[csr(Op::Csrrw, ZERO, csr::SATP, A0), csr(Op::Csrrs, A3, csr::SATP, ZERO)]);
    m.set(A0, 10 << 60 | 0x4321);
    m.run(2);
    assert_eq!(m.reg(A3), 10 << 60 | 0x4321, "Sv57");
}

#[test]
fn sv48_and_sv57_walk_their_extra_levels() {
    // Tables above the Sv39 root: each level's entry 0 points one level down,
    // so VA 0x4000_0000 and the code's identity gigapage resolve the same way.
    let (sv48_root, sv57_root) = (RAM_BASE + 0xb000, RAM_BASE + 0xc000);
    for (mode, root) in [(9u64, sv48_root), (10, sv57_root)] {
        let mut m = paging_machine(&[u(Op::Lui, T0, 0x4000_0000), i(Op::Ld, A0, T0, 0)]);
        m.write(sv48_root, 8, (ROOT >> 12) << 10 | 1);
        m.write(sv57_root, 8, (sv48_root >> 12) << 10 | 1);
        m.write(DATA, 8, 0x5757);
        m.hart.state_mut().csr.satp = mode << 60 | root >> 12;
        m.run(2);
        assert_eq!(m.reg(A0), 0x5757, "mode {mode}");
    }
}

#[test]
fn mcountinhibit_stops_and_resumes_minstret() {
    let mut m = Machine::new(&[
        csr(Op::Csrrs, A0, csr::MINSTRET, ZERO),
        csr(Op::Csrrwi, ZERO, csr::MCOUNTINHIBIT, 4),
        nop(),
        nop(),
        csr(Op::Csrrs, A1, csr::MINSTRET, ZERO),
        csr(Op::Csrrwi, ZERO, csr::MCOUNTINHIBIT, 0),
        nop(),
        csr(Op::Csrrs, A2, csr::MINSTRET, ZERO),
        csr(Op::Csrrs, A3, csr::MCOUNTINHIBIT, ZERO),
    ]);
    m.run(9);
    let (before, stopped, resumed) = (m.reg(A0), m.reg(A1), m.reg(A2));
    assert_eq!(stopped, before + 1, "frozen when IR was set, after the csrr retired");
    assert_eq!(resumed, stopped + 1, "counting again from the frozen value: the nop in between");
    assert_eq!(m.reg(A3), 0);
}

// Physical memory protection.

const PMP_R: u8 = csr::pmpcfg::R;
const PMP_W: u8 = csr::pmpcfg::W;
const PMP_X: u8 = csr::pmpcfg::X;
const PMP_L: u8 = csr::pmpcfg::L;
const PMP_TOR: u8 = csr::pmpcfg::TOR << csr::pmpcfg::A_SHIFT;
const PMP_NA4: u8 = csr::pmpcfg::NA4 << csr::pmpcfg::A_SHIFT;
const PMP_NAPOT: u8 = csr::pmpcfg::NAPOT << csr::pmpcfg::A_SHIFT;

/// The `pmpaddr` of a NAPOT entry for the `size` bytes at `base`.
fn napot(base: u64, size: u64) -> u64 {
    (base | (size / 2 - 1)) >> 2
}

/// Gives `m` exactly the PMP entries `(index, pmpaddr, pmpcfg byte)`.
fn set_pmp(m: &mut Machine, entries: &[(usize, u64, u8)]) {
    let csr = &mut m.hart.state_mut().csr;
    csr.pmpcfg = [0; 2];
    csr.pmpaddr = [0; 16];
    for &(index, address, config) in entries {
        csr.pmpaddr[index] = address;
        csr.pmpcfg[index / 8] |= u64::from(config) << (8 * (index % 8));
    }
}

/// S-mode code at `RAM_BASE` may execute (entry 14), and entry 15 gives all
/// memory to S and U; `entries` come first.
fn supervisor_pmp_machine(program: &[u32], entries: &[(usize, u64, u8)]) -> Machine {
    let mut m = Machine::new(program);
    let mut all = entries.to_vec();
    all.push((14, napot(RAM_BASE, 0x1000), PMP_NAPOT | PMP_X));
    all.push((15, ALL_MEMORY_NAPOT, PMP_NAPOT_RWX));
    set_pmp(&mut m, &all);
    m.hart.state_mut().privilege = Privilege::Supervisor;
    m
}

#[test]
fn pmp_tor_na4_and_napot_entries_grant_their_permissions() {
    let entries = [
        // 0 is off and only the base of 1: [DATA + 0x100, DATA + 0x200), RW.
        (0, (DATA + 0x100) >> 2, 0),
        (1, (DATA + 0x200) >> 2, PMP_TOR | PMP_R | PMP_W),
        // Four read-only bytes.
        (2, DATA >> 2, PMP_NA4 | PMP_R),
        // The rest of the data page: nothing.
        (3, napot(DATA, 0x1000), PMP_NAPOT),
    ];
    let ld = i(Op::Ld, A0, T1, 0);
    let lw = i(Op::Lw, A0, T1, 0);
    let sw = s(Op::Sw, A1, T1, 0);
    let sd = s(Op::Sd, A1, T1, 0);
    let cases: [(u32, u64, Option<Exception>); 9] = [
        (lw, DATA, None),
        (sw, DATA, Some(Exception::StoreAccessFault)),
        (ld, DATA, Some(Exception::LoadAccessFault)),
        (lw, DATA + 4, Some(Exception::LoadAccessFault)),
        (ld, DATA + 0x100, None),
        (sd, DATA + 0x1f8, None),
        (sd, DATA + 0x200, Some(Exception::StoreAccessFault)),
        (lw, DATA + 0xfc, Some(Exception::LoadAccessFault)),
        (sw, DATA + 0x1000, None),
    ];
    for (bits, address, fault) in cases {
        let mut m = supervisor_pmp_machine(&[bits, sys(Op::Ecall)], &entries);
        m.write(DATA, 4, 0x1234);
        m.set(T1, address);
        m.run_to_trap();
        match fault {
            None => m.assert_trapped(Exception::EnvironmentCallFromS, 0, RAM_BASE + 4),
            Some(cause) => m.assert_trapped(cause, address, RAM_BASE),
        }
        if bits == lw && address == DATA {
            assert_eq!(m.reg(A0), 0x1234);
        }
    }
}

#[test]
fn pmp_the_lowest_numbered_matching_entry_decides() {
    // Entry 0 refuses the first 256 bytes of DATA that entry 1 allows; entry
    // 2 allows what entry 3 refuses.
    let entries = [
        (0, napot(DATA, 0x100), PMP_NAPOT | PMP_R),
        (1, napot(DATA, 0x1000), PMP_NAPOT | PMP_R | PMP_W),
        (2, napot(DATA + 0x1000, 0x100), PMP_NAPOT | PMP_R | PMP_W),
        (3, napot(DATA + 0x1000, 0x1000), PMP_NAPOT),
    ];
    for (address, fault) in [
        (DATA, Some(Exception::StoreAccessFault)),
        (DATA + 0x100, None),
        (DATA + 0x1000, None),
        (DATA + 0x1100, Some(Exception::StoreAccessFault)),
    ] {
        let mut m = supervisor_pmp_machine(&[s(Op::Sd, A1, T1, 0), sys(Op::Ecall)], &entries);
        m.set(T1, address);
        m.set(A1, 7);
        m.run_to_trap();
        match fault {
            None => {
                m.assert_trapped(Exception::EnvironmentCallFromS, 0, RAM_BASE + 4);
                assert_eq!(m.read(address, 8), 7);
            }
            Some(cause) => m.assert_trapped(cause, address, RAM_BASE),
        }
    }
}

#[test]
fn pmp_an_access_partly_inside_its_first_entry_fails() {
    // Entry 0 holds the upper four bytes of a doubleword; entry 15 would
    // allow all of it, but entry 0 matches first and only in part.
    let entries = [(0, (DATA + 4) >> 2, PMP_NA4 | PMP_R | PMP_W)];
    let mut m = supervisor_pmp_machine(&[i(Op::Ld, A0, T1, 0)], &entries);
    m.set(T1, DATA);
    m.run_to_trap();
    m.assert_trapped(Exception::LoadAccessFault, DATA, RAM_BASE);
    // The same bytes as a word each are fine.
    let mut m = supervisor_pmp_machine(&[i(Op::Lw, A0, T1, 0), i(Op::Lw, A0, T1, 4)], &entries);
    m.set(T1, DATA);
    m.run(2);
}

#[test]
fn pmp_supervisor_and_user_accesses_that_no_entry_matches_fail() {
    // No entry at all: S-mode cannot even fetch.
    for privilege in [Privilege::Supervisor, Privilege::User] {
        let mut m = Machine::new(&[nop()]);
        set_pmp(&mut m, &[]);
        m.hart.state_mut().privilege = privilege;
        m.run_to_trap();
        m.assert_trapped(Exception::InstructionAccessFault, RAM_BASE, RAM_BASE);
    }
    // With an entry for the code only, data accesses fail; M-mode's do not.
    let mut m = Machine::new(&[i(Op::Ld, A0, T1, 0), sys(Op::Ecall)]);
    set_pmp(&mut m, &[(0, napot(RAM_BASE, 0x1000), PMP_NAPOT | PMP_X)]);
    m.set(T1, DATA);
    m.run(1);
    m.hart.state_mut().pc = RAM_BASE;
    m.hart.state_mut().privilege = Privilege::User;
    m.run_to_trap();
    m.assert_trapped(Exception::LoadAccessFault, DATA, RAM_BASE);
}

#[test]
fn pmp_locked_entries_bind_machine_mode() {
    // M-mode stores to DATA, then locks a read-only entry over it: the
    // next store faults, a load still works, and the lock holds the entry.
    let mut m = Machine::new(&[
        s(Op::Sd, A1, T1, 0),
        csr(Op::Csrrw, ZERO, 0x3b0, A2), // pmpaddr0
        csr(Op::Csrrw, ZERO, csr::PMPCFG0, A3),
        i(Op::Ld, A0, T1, 0),
        csr(Op::Csrrw, ZERO, csr::PMPCFG0, ZERO),
        s(Op::Sd, A1, T1, 8),
    ]);
    set_pmp(&mut m, &[]);
    m.set(T1, DATA);
    m.set(A1, 0x55);
    m.set(A2, napot(DATA, 0x1000));
    m.set(A3, u64::from(PMP_NAPOT | PMP_L | PMP_R));
    m.run(5);
    assert_eq!(m.reg(A0), 0x55);
    assert_eq!(
        m.hart.state().csr.pmpcfg[0],
        u64::from(PMP_NAPOT | PMP_L | PMP_R),
        "the write to a locked entry is ignored"
    );
    m.run_to_trap();
    m.assert_trapped(Exception::StoreAccessFault, DATA + 8, RAM_BASE + 20);

    // A locked entry without X stops M-mode fetches; other pages still run.
    let mut m =
        Machine::new(&[u(Op::Lui, T0, (DATA - RAM_BASE) as i32), r(Op::Add, T0, T0, T1), i(Op::Jalr, ZERO, T0, 0)]);
    set_pmp(&mut m, &[(0, napot(DATA, 0x1000), PMP_NAPOT | PMP_L | PMP_R | PMP_W)]);
    m.set(T1, RAM_BASE);
    m.run_to_trap();
    m.assert_trapped(Exception::InstructionAccessFault, DATA, DATA);

    // Locked, M-mode accesses partly inside an entry fail too.
    let mut m = Machine::new(&[i(Op::Ld, A0, T1, 0)]);
    set_pmp(&mut m, &[(0, (DATA + 4) >> 2, PMP_NA4 | PMP_L | PMP_R)]);
    m.set(T1, DATA);
    m.run_to_trap();
    m.assert_trapped(Exception::LoadAccessFault, DATA, RAM_BASE);
}

#[test]
fn pmp_writes_to_locked_entries_and_to_the_base_of_a_locked_tor_are_ignored() {
    let mut m = Machine::new(&[
        csr(Op::Csrrw, ZERO, 0x3b0, A0), // pmpaddr0
        csr(Op::Csrrw, ZERO, 0x3b1, A1), // pmpaddr1
        csr(Op::Csrrw, ZERO, csr::PMPCFG0, A2),
        csr(Op::Csrrw, ZERO, 0x3b0, A3),
        csr(Op::Csrrw, ZERO, 0x3b1, A3),
        csr(Op::Csrrw, ZERO, 0x3b2, A3), // pmpaddr2: free
        csr(Op::Csrrw, ZERO, csr::PMPCFG0, ZERO),
        csr(Op::Csrrs, A4, csr::PMPCFG0, ZERO),
    ]);
    set_pmp(&mut m, &[]);
    m.set(A0, 0x100);
    m.set(A1, 0x200);
    // Entry 1: locked TOR; entry 0 off and unlocked.
    m.set(A2, u64::from(PMP_TOR | PMP_L | PMP_R) << 8);
    m.set(A3, 0x999);
    m.run(8);
    let csr = &m.hart.state().csr;
    assert_eq!(&csr.pmpaddr[..3], &[0x100, 0x200, 0x999]);
    assert_eq!(m.reg(A4), u64::from(PMP_TOR | PMP_L | PMP_R) << 8, "entry 1 kept its byte; entry 0 took zero");
}

#[test]
fn pmp_mprv_checks_machine_mode_data_at_mpp() {
    // DATA's page refuses S and U; M-mode may, until MPRV makes its loads U's.
    let mut m = Machine::new(&[i(Op::Ld, A0, T1, 0), csr(Op::Csrrs, ZERO, csr::MSTATUS, T0), i(Op::Ld, A0, T1, 0)]);
    set_pmp(&mut m, &[(0, napot(DATA, 0x1000), PMP_NAPOT), (15, ALL_MEMORY_NAPOT, PMP_NAPOT_RWX)]);
    m.set(T1, DATA);
    m.set(T0, mstatus::MPRV);
    m.run(2);
    m.run_to_trap();
    m.assert_trapped(Exception::LoadAccessFault, DATA, RAM_BASE + 8);
    // With MPP = M the loads are M-mode's again.
    let mut m = Machine::new(&[csr(Op::Csrrs, ZERO, csr::MSTATUS, T0), i(Op::Ld, A0, T1, 0)]);
    set_pmp(&mut m, &[(0, napot(DATA, 0x1000), PMP_NAPOT)]);
    m.set(T1, DATA);
    m.set(T0, mstatus::MPRV | mstatus::MPP);
    m.run(2);
}

#[test]
fn pmp_register_writes_apply_to_translations_already_cached() {
    // S-mode loads from DATA (now in the TLB), ecalls; the M handler takes
    // read permission away and returns; the same load then faults.
    let entries = [(0, napot(DATA, 0x1000), PMP_NAPOT | PMP_R)];
    let mut m = supervisor_pmp_machine(&[i(Op::Ld, A0, T1, 0), sys(Op::Ecall), i(Op::Ld, A0, T1, 0)], &entries);
    let handler = RAM_BASE + 0x4000;
    m.hart.state_mut().csr.mtvec = handler;
    m.load(
        handler,
        &[
            csr(Op::Csrrw, ZERO, csr::PMPCFG0, A1),
            csr(Op::Csrrw, ZERO, csr::MTVEC, A3),
            csr(Op::Csrrs, T0, csr::MEPC, ZERO),
            i(Op::Addi, T0, T0, 4),
            csr(Op::Csrrw, ZERO, csr::MEPC, T0),
            sys(Op::Mret),
        ],
    );
    m.set(T1, DATA);
    m.set(A1, u64::from(PMP_NAPOT));
    m.set(A3, HANDLER);
    m.run_to_trap();
    m.assert_trapped(Exception::LoadAccessFault, DATA, RAM_BASE + 8);
}

#[test]
fn pmp_fetch_faults_are_access_faults_at_the_instruction() {
    // A jump to a page PMP does not let S execute.
    let target = RAM_BASE + 0x3000;
    let entries = [(0, napot(target, 0x1000), PMP_NAPOT | PMP_R | PMP_W)];
    let mut m = supervisor_pmp_machine(&[i(Op::Jalr, ZERO, T1, 0)], &entries);
    m.load(target, &[nop()]);
    m.set(T1, target);
    m.run_to_trap();
    m.assert_trapped(Exception::InstructionAccessFault, target, target);
}

#[test]
fn pmp_fetch_stops_where_an_entry_splits_a_code_page() {
    // M-mode runs the page's first block (so it is cached), then returns to
    // S at its start; entry 0 refuses S the third instruction.
    let mut m = Machine::new(&[
        nop(),
        nop(),
        nop(),
        csr(Op::Csrrw, ZERO, csr::MEPC, T1),
        csr(Op::Csrrs, ZERO, csr::MSTATUS, T0),
        sys(Op::Mret),
    ]);
    set_pmp(&mut m, &[(0, (RAM_BASE + 8) >> 2, PMP_NA4), (15, ALL_MEMORY_NAPOT, PMP_NAPOT_RWX)]);
    m.set(T1, RAM_BASE);
    m.set(T0, 1 << 11); // MPP = S
    m.run(6);
    assert_eq!((m.pc(), m.hart.state().privilege), (RAM_BASE, Privilege::Supervisor));
    assert_eq!(m.run_to_trap(), 8, "two nops ran in S");
    m.assert_trapped(Exception::InstructionAccessFault, RAM_BASE + 8, RAM_BASE + 8);
}

#[test]
fn pmp_checks_page_table_walks_as_supervisor_reads_and_writes() {
    let level0 = ROOT + 0x2000;
    // The leaf table's page cannot be read: an access fault, not a page fault.
    let mut m = paging_machine(&[u(Op::Lui, T0, 0x4000_1000), i(Op::Ld, A0, T0, 0)]);
    set_pmp(&mut m, &[(0, napot(level0, 0x1000), PMP_NAPOT), (15, ALL_MEMORY_NAPOT, PMP_NAPOT_RWX)]);
    m.run_to_trap();
    m.assert_trapped(Exception::LoadAccessFault, VA_RO, RAM_BASE + 4);

    // Read-only: walks that need not set A or D work; setting A is a store.
    let entries = [(0, napot(level0, 0x1000), PMP_NAPOT | PMP_R), (15, ALL_MEMORY_NAPOT, PMP_NAPOT_RWX)];
    let mut m = paging_machine(&[
        u(Op::Lui, T0, 0x4000_1000),
        i(Op::Ld, A0, T0, 0),
        u(Op::Lui, T0, 0x4000_0000),
        i(Op::Ld, A0, T0, 0),
    ]);
    set_pmp(&mut m, &entries);
    m.write(DATA, 8, 0x77);
    m.run(3);
    assert_eq!(m.reg(A0), 0x77);
    m.run_to_trap();
    m.assert_trapped(Exception::LoadAccessFault, VA_RW, RAM_BASE + 12);
    assert_eq!(m.read(level0, 8) & 0x40, 0, "A was not set");
}

#[test]
fn pmp_checks_the_physical_address_a_page_maps_to() {
    let entries = [(0, napot(DATA, 0x1000), PMP_NAPOT | PMP_R), (15, ALL_MEMORY_NAPOT, PMP_NAPOT_RWX)];
    let mut m = paging_machine(&[u(Op::Lui, T0, 0x4000_0000), i(Op::Ld, A0, T0, 0), s(Op::Sd, A0, T0, 0)]);
    set_pmp(&mut m, &entries);
    m.run(2);
    m.run_to_trap();
    m.assert_trapped(Exception::StoreAccessFault, VA_RW, RAM_BASE + 8);
}

#[test]
fn pmp_applies_to_lr_sc_and_amos() {
    let entries = [(0, napot(DATA, 0x1000), PMP_NAPOT | PMP_R)];
    let mut m = supervisor_pmp_machine(&[amo(Op::LrD, A0, T1, ZERO, 0), amo(Op::ScD, A2, T1, A1, 0)], &entries);
    m.set(T1, DATA);
    m.run(1);
    m.run_to_trap();
    m.assert_trapped(Exception::StoreAccessFault, DATA, RAM_BASE + 4);
    let mut m = supervisor_pmp_machine(&[amo(Op::AmoaddW, A0, T1, A1, 0)], &entries);
    m.set(T1, DATA);
    m.run_to_trap();
    m.assert_trapped(Exception::StoreAccessFault, DATA, RAM_BASE);
    let mut m = supervisor_pmp_machine(&[amo(Op::LrW, A0, T1, ZERO, 0)], &[(0, napot(DATA, 0x1000), PMP_NAPOT)]);
    m.set(T1, DATA);
    m.run_to_trap();
    m.assert_trapped(Exception::LoadAccessFault, DATA, RAM_BASE);
}

// Sstc: stimecmp and menvcfg.STCE.

const STIP: u64 = Interrupt::SupervisorTimer.mask();

/// Runs `n` instructions, going on after each exit request (a write that
/// moves the Sstc deadline makes one); returns how many there were.
fn run_through_exit_requests(m: &mut Machine, n: u64) -> usize {
    let stop = m.hart.state().retired + n;
    let mut requests = 0;
    while m.hart.state().retired < stop {
        match m.hart.run(stop - m.hart.state().retired) {
            Exit::ExitRequested => {
                assert!(m.control.take_exit_request());
                requests += 1;
            }
            exit => assert_eq!(exit, Exit::BudgetSpent, "{:?}", m.hart.state()),
        }
    }
    requests
}

#[test]
fn sstc_stimecmp_drives_stip_which_software_cannot_write() {
    let mut m = Machine::new(&[
        csr(Op::Csrrw, ZERO, csr::MENVCFG, A0),
        csr(Op::Csrrw, ZERO, csr::STIMECMP, A1),
        csr(Op::Csrrs, A2, csr::MIP, ZERO),
        csr(Op::Csrrs, ZERO, csr::MIP, A3),
        csr(Op::Csrrs, A4, csr::MIP, ZERO),
        csr(Op::Csrrw, ZERO, csr::STIMECMP, A5),
        csr(Op::Csrrs, T0, csr::MIP, ZERO),
        csr(Op::Csrrs, T1, csr::MENVCFG, ZERO),
        csr(Op::Csrrw, ZERO, csr::MIE, A3),
        nop(),
    ]);
    m.load(DATA, &[csr(Op::Csrrs, T5, csr::MCAUSE, ZERO), csr(Op::Csrrw, ZERO, csr::MIE, ZERO), sys(Op::Wfi)]);
    m.hart.state_mut().csr.mtvec = DATA;
    m.hart.state_mut().csr.mstatus |= mstatus::MIE;
    m.set(A0, ALL);
    m.set(A1, TIME + 1);
    m.set(A3, STIP);
    m.set(A5, TIME);
    assert_eq!(run_through_exit_requests(&mut m, 9), 3, "STCE set, then two stimecmp writes");
    assert_eq!((m.reg(A2), m.reg(A4)), (0, 0), "time < stimecmp; software cannot set STIP");
    assert_eq!(m.reg(T0), STIP, "time >= stimecmp");
    assert_eq!(m.reg(T1), csr::menvcfg::FIOM | csr::menvcfg::STCE);
    // Enabling STIE makes the pending interrupt be taken before the nop.
    assert_eq!(m.hart.run(10), Exit::WaitingForInterrupt);
    assert_eq!((m.reg(T5), m.hart.state().csr.mepc), ((1 << 63) | 5, RAM_BASE + 36));
}

#[test]
fn sstc_moving_stimecmp_lowers_stip_again() {
    let mut m = Machine::new(&[
        csr(Op::Csrrw, ZERO, csr::STIMECMP, A1),
        csr(Op::Csrrs, A2, csr::MIP, ZERO),
        csr(Op::Csrrw, ZERO, csr::STIMECMP, A3),
        csr(Op::Csrrs, A4, csr::SIP, ZERO),
    ]);
    m.hart.state_mut().csr.menvcfg = csr::menvcfg::STCE;
    m.hart.state_mut().csr.mideleg = STIP;
    m.set(A1, 0);
    m.set(A3, u64::MAX);
    run_through_exit_requests(&mut m, 4);
    assert_eq!((m.reg(A2), m.reg(A4)), (STIP, 0));
}

#[test]
fn sstc_off_leaves_stip_to_software_and_stimecmp_drives_nothing() {
    let mut m = Machine::new(&[
        csr(Op::Csrrw, ZERO, csr::STIMECMP, ZERO),
        csr(Op::Csrrs, A2, csr::MIP, ZERO),
        csr(Op::Csrrs, ZERO, csr::MIP, A3),
        csr(Op::Csrrs, A4, csr::MIP, ZERO),
        csr(Op::Csrrs, A5, csr::STIMECMP, ZERO),
    ]);
    m.set(A3, STIP);
    // No exit request: the deadline did not move.
    m.run(5);
    assert_eq!((m.reg(A2), m.reg(A4), m.reg(A5)), (0, STIP, 0), "M-mode reaches stimecmp without STCE");
}

#[test]
fn sstc_stimecmp_below_machine_mode_needs_mcounteren_tm_and_stce() {
    let read = csr(Op::Csrrs, A0, csr::STIMECMP, ZERO);
    let write = csr(Op::Csrrw, ZERO, csr::STIMECMP, A1);
    let (tm, stce) = (csr::COUNTEREN_TM, csr::menvcfg::STCE);
    for (privilege, mcounteren, menvcfg, allowed) in [
        (Privilege::Supervisor, 0, 0, false),
        (Privilege::Supervisor, tm, 0, false),
        (Privilege::Supervisor, 0, stce, false),
        (Privilege::Supervisor, tm, stce, true),
        (Privilege::User, tm, stce, false),
    ] {
        for bits in [read, write] {
            let mut m = Machine::new(&[bits, sys(Op::Ecall)]);
            m.hart.state_mut().privilege = privilege;
            m.hart.state_mut().csr.mcounteren = mcounteren;
            m.hart.state_mut().csr.scounteren = u64::MAX;
            m.hart.state_mut().csr.menvcfg = menvcfg;
            m.hart.state_mut().csr.stimecmp = 0x77;
            m.set(A1, u64::MAX);
            while m.hart.run(1000) == Exit::ExitRequested {
                m.control.take_exit_request();
            }
            assert_eq!(m.pc(), HANDLER + 8, "{:?}", m.hart.state());
            let case = format!("{privilege:?} mcounteren {mcounteren} menvcfg {menvcfg:#x}");
            if allowed {
                let ecall = if privilege == Privilege::User { 8 } else { 9 };
                assert_eq!(m.hart.state().csr.mcause, ecall, "{case}");
                let expected = if bits == read { (0x77, 0x77) } else { (0, u64::MAX) };
                assert_eq!((m.reg(A0), m.hart.state().csr.stimecmp), expected, "{case}");
            } else {
                m.assert_trapped(Exception::IllegalInstruction, u64::from(bits), RAM_BASE);
            }
        }
    }
}

#[test]
fn pmp_accesses_with_paging_off_do_not_outlive_it() {
    // S-mode loads with paging off (unchecked from then on, since entry 15
    // allows everything), ecalls; the M handler turns Sv39 on and returns;
    // the next load must go through the page table: VA_RW is DATA there,
    // and nothing at all as a physical address.
    let mut m = paging_machine(&[i(Op::Ld, A0, T1, 0), sys(Op::Ecall), i(Op::Ld, A1, T2, 0), sys(Op::Ecall)]);
    let satp = m.hart.state().csr.satp;
    m.hart.state_mut().csr.satp = 0;
    let handler = RAM_BASE + 0x4000;
    m.hart.state_mut().csr.mtvec = handler;
    m.load(
        handler,
        &[
            csr(Op::Csrrw, ZERO, csr::SATP, A3),
            csr(Op::Csrrw, ZERO, csr::MTVEC, A4),
            csr(Op::Csrrs, T0, csr::MEPC, ZERO),
            i(Op::Addi, T0, T0, 4),
            csr(Op::Csrrw, ZERO, csr::MEPC, T0),
            sys(Op::Mret),
        ],
    );
    m.write(DATA, 8, 0x4242);
    m.set(T1, DATA);
    m.set(T2, VA_RW);
    m.set(A3, satp);
    m.set(A4, HANDLER);
    m.run_to_trap();
    m.assert_trapped(Exception::EnvironmentCallFromS, 0, RAM_BASE + 12);
    assert_eq!((m.reg(A0), m.reg(A1)), (0x4242, 0x4242));
}

#[test]
fn pmp_what_machine_mode_may_store_to_is_checked_again_in_supervisor_mode() {
    // A locked entry makes M-mode accesses checked; M stores to DATA, which
    // an unlocked read-only entry covers, then returns to S, whose store
    // there must fault.
    let mut m = Machine::new(&[
        s(Op::Sd, A1, T1, 0),
        csr(Op::Csrrw, ZERO, csr::MEPC, A2),
        csr(Op::Csrrs, ZERO, csr::MSTATUS, T0),
        sys(Op::Mret),
        s(Op::Sd, A1, T1, 8),
    ]);
    set_pmp(
        &mut m,
        &[
            (0, napot(HANDLER, 0x1000), PMP_NAPOT | PMP_L | PMP_R | PMP_X),
            (1, napot(DATA, 0x1000), PMP_NAPOT | PMP_R),
            (15, ALL_MEMORY_NAPOT, PMP_NAPOT_RWX),
        ],
    );
    m.set(T1, DATA);
    m.set(A1, 9);
    m.set(A2, RAM_BASE + 16);
    m.set(T0, 1 << 11); // MPP = S
    m.run_to_trap();
    m.assert_trapped(Exception::StoreAccessFault, DATA + 8, RAM_BASE + 16);
    assert_eq!(m.read(DATA, 8), 9, "M-mode's store went through");
}
