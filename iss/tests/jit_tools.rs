//! The JIT's debugging tools on small hand-written programs: `--jit-range`
//! ([`JitConfig::ranges`]), lockstep against the interpreter (passing on
//! right code, catching code made wrong on purpose, never repeating an
//! access to memory or a device) and the counters of [`JitStats`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use polyhart_iss::csr::mstatus;
use polyhart_iss::decode::{Inst, Op};
use polyhart_iss::memory::{AccessContext, Bus, BusError, Ram};
use polyhart_iss::{Exit, Hart, HartControl, Interrupt, Jit, JitConfig, JitStats, Privilege, TranslationCache};

const RAM_BASE: u64 = 0x8000_0000;
const RAM_SIZE: u64 = 64 * 1024;
const HANDLER: u64 = RAM_BASE + 0x8000;
const DATA: u64 = RAM_BASE + 0xc000;
/// A device: loads of its first word count up from 1, stores to its second
/// word are recorded; everything else there is unmapped.
const DEVICE: u64 = 0x1000_0000;

/// Registers, by ABI name.
const T0: u8 = 5;
const T1: u8 = 6;
const A0: u8 = 10;
const A1: u8 = 11;
const A2: u8 = 12;
/// Holds `DATA`.
const DATA_REG: u8 = 31;

#[derive(Default)]
struct Device {
    loads: AtomicU64,
    stores: Mutex<Vec<u64>>,
}

impl Bus for Device {
    fn read(&self, _: &AccessContext, addr: u64, _: u8) -> Result<u64, BusError> {
        if addr != DEVICE {
            return Err(BusError::Unmapped(addr));
        }
        Ok(self.loads.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn write(&self, _: &AccessContext, addr: u64, _: u8, value: u64) -> Result<(), BusError> {
        if addr != DEVICE + 4 {
            return Err(BusError::Unmapped(addr));
        }
        self.stores.lock().unwrap().push(value);
        Ok(())
    }
    fn fetch(&self, _: &AccessContext, addr: u64) -> Result<u16, BusError> {
        Err(BusError::Unmapped(addr))
    }
    fn time(&self, _: &AccessContext) -> u64 {
        0
    }
}

fn i(op: Op, rd: u8, rs1: u8, imm: i32) -> Inst {
    Inst { rd, rs1, imm, ..Inst::new(op, 4) }
}

fn r(op: Op, rd: u8, rs1: u8, rs2: u8) -> Inst {
    Inst { rd, rs1, rs2, ..Inst::new(op, 4) }
}

/// A store of `rs2` to `imm(rs1)`, or a branch comparing `rs1` and `rs2`.
fn s(op: Op, rs1: u8, rs2: u8, imm: i32) -> Inst {
    Inst { rs1, rs2, imm, ..Inst::new(op, 4) }
}

/// `jal zero` from `from` to `to`.
fn jump(from: u64, to: u64) -> (u64, Inst) {
    (from, i(Op::Jal, 0, 0, (to as i64 - from as i64) as i32))
}

/// A hart on its own RAM and a [`Device`], with `code` placed at the
/// addresses given (one instruction after the other from each), `x31` =
/// `DATA`, and a trap handler that waits in `wfi`.
fn new_hart(code: &[(u64, &[Inst])], jit: Option<Arc<Jit>>) -> (Hart, Arc<Ram>, Arc<Device>) {
    new_hart_at(RAM_BASE, code, jit)
}

/// As [`new_hart`], with RAM starting at `base`: code is placed, and `pc`,
/// `mtvec` and `x31` set, `base - RAM_BASE` bytes further.
fn new_hart_at(base: u64, code: &[(u64, &[Inst])], jit: Option<Arc<Jit>>) -> (Hart, Arc<Ram>, Arc<Device>) {
    let ram = Arc::new(Ram::zeroed(base, RAM_SIZE).expect("page-aligned RAM"));
    for &(at, insts) in code {
        let bytes: Vec<u8> = insts.iter().flat_map(|inst| inst.encode().to_le_bytes()).collect();
        assert!(ram.write_bytes(at - RAM_BASE, &bytes));
    }
    assert!(ram.write_bytes(HANDLER - RAM_BASE, &Inst::new(Op::Wfi, 4).encode().to_le_bytes()));
    let device = Arc::new(Device::default());
    let mut hart =
        Hart::new(0, ram.clone(), device.clone(), Arc::new(TranslationCache::new()), Arc::new(HartControl::new()));
    hart.set_jit(jit);
    let moved = base - RAM_BASE;
    hart.state_mut().pc = RAM_BASE + moved;
    hart.state_mut().csr.mtvec = HANDLER + moved;
    hart.state_mut().set_reg(DATA_REG, DATA + moved);
    (hart, ram, device)
}

fn new_jit(config: JitConfig) -> Arc<Jit> {
    Arc::new(Jit::with_config(config).expect("a JIT for this host"))
}

fn read_u64(ram: &Ram, addr: u64) -> u64 {
    let mut bytes = [0; 8];
    assert!(ram.read_bytes(addr - RAM_BASE, &mut bytes));
    u64::from_le_bytes(bytes)
}

/// The JIT's counters and the hart's, added up.
fn all_stats(jit: &Jit, hart: &Hart) -> JitStats {
    let mut stats = jit.stats();
    stats += hart.jit_stats();
    stats
}

const B: u64 = RAM_BASE + 0x100;
const C: u64 = RAM_BASE + 0x200;

/// Block A sets a loop count and jumps to block B, which loops `a0 += 1`
/// that many times and jumps to C, which stops (`ebreak`).
fn counting_loop() -> Vec<(u64, Vec<Inst>)> {
    let (_, to_b) = jump(RAM_BASE + 4, B);
    let (_, to_c) = jump(B + 12, C);
    vec![
        (RAM_BASE, vec![i(Op::Addi, T0, 0, 100), to_b]),
        (B, vec![i(Op::Addi, A0, A0, 1), i(Op::Addi, T0, T0, -1), s(Op::Bne, T0, 0, -8), to_c]),
        (C, vec![Inst::new(Op::Ebreak, 4)]),
    ]
}

fn placed(code: &[(u64, Vec<Inst>)]) -> Vec<(u64, &[Inst])> {
    code.iter().map(|(at, insts)| (*at, insts.as_slice())).collect()
}

#[test]
fn only_blocks_inside_the_ranges_are_compiled() {
    let code = counting_loop();
    // B's compiled code ends at its loop's branch, so when B is compiled
    // the jump after the loop (at B + 12) is a block of its own: blocks
    // seen hot, compiled or not, are then 5 rather than 4.
    // (ranges, blocks compiled, blocks seen hot)
    type Case = (&'static [(u64, u64)], u64, u64);
    let cases: [Case; 5] = [
        (&[], 3, 5),
        (&[(B, B + 4)], 1, 5),
        (&[(B + 4, C)], 0, 4),
        (&[(RAM_BASE, RAM_BASE + 1)], 1, 4),
        (&[(RAM_BASE, RAM_BASE + 1), (B, B + 1)], 2, 5),
    ];
    for (ranges, compiled, hot) in cases {
        let config = ranges.iter().fold(JitConfig::new(0), |config, &(low, high)| config.range(low..high));
        let jit = new_jit(config);
        let (mut hart, _, _) = new_hart(&placed(&code), Some(jit.clone()));
        assert_eq!(hart.run(10_000), Exit::WaitingForInterrupt, "{ranges:x?}");
        assert_eq!(hart.state().reg(A0), 100, "{ranges:x?}");
        let stats = all_stats(&jit, &hart);
        assert_eq!(stats.blocks_compiled, compiled, "{ranges:x?}: {stats:?}");
        // C (ebreak) and the handler (wfi) cannot be compiled: outside a
        // range they count as outside, inside as rejected.
        assert_eq!(stats.blocks_compiled + stats.blocks_outside_range + stats.blocks_rejected, hot, "{stats:?}");
        if ranges.is_empty() {
            assert_eq!(stats.blocks_outside_range, 0);
        }
        // Compiled code ran exactly when something was compiled.
        assert_eq!(stats.exits_to_next_block > 0, compiled > 0, "{ranges:x?}: {stats:?}");
    }
}

#[test]
fn exits_are_counted_by_cause() {
    let code = counting_loop();
    let jit = new_jit(JitConfig::new(0));
    let (mut hart, _, _) = new_hart(&placed(&code), Some(jit.clone()));
    // A budget that ends inside B's loop: the compiled loop stops at B's
    // start when another pass would not fit.
    assert_eq!(hart.run(50), Exit::BudgetSpent);
    assert_eq!(hart.state().pc, B);
    let stats = all_stats(&jit, &hart);
    assert_eq!((stats.exits_stopped, stats.exits_to_next_block, stats.exits_trapped), (1, 1, 0), "{stats:?}");
    assert!(stats.code_bytes > 0 && stats.blocks_compiled == 2, "{stats:?}");

    // A load from an unmapped device address: the compiled block leaves it
    // to the interpreter, where it traps.
    let fault =
        vec![(RAM_BASE, vec![i(Op::Lui, T1, 0, DEVICE as i32), i(Op::Ld, A2, T1, 16), jump(RAM_BASE + 8, C).1])];
    let jit = Arc::new(Jit::new(0).unwrap());
    let (mut hart, _, _) = new_hart(&placed(&fault), Some(jit.clone()));
    assert_eq!(hart.run(100), Exit::WaitingForInterrupt);
    assert_eq!(hart.state().csr.mepc, RAM_BASE + 4);
    let stats = all_stats(&jit, &hart);
    assert_eq!((stats.exits_trapped, stats.slow_accesses), (0, 1), "{stats:?}");
}

/// Loads a device register and stores the running sum back (to the device
/// and to RAM), 50 times, then faults on an unmapped device address.
fn device_loop() -> Vec<(u64, Vec<Inst>)> {
    vec![
        (RAM_BASE, vec![i(Op::Lui, T1, 0, DEVICE as i32), i(Op::Addi, T0, 0, 50), jump(RAM_BASE + 8, B).1]),
        (
            B,
            vec![
                i(Op::Lw, A0, T1, 0),
                r(Op::Add, A1, A1, A0),
                s(Op::Sw, T1, A1, 4),
                s(Op::Sd, DATA_REG, A1, 0),
                i(Op::Addi, T0, T0, -1),
                s(Op::Bne, T0, 0, -20),
                i(Op::Ld, A2, T1, 16),
                jump(B + 28, C).1,
            ],
        ),
    ]
}

#[test]
fn lockstep_passes_right_code_and_touches_devices_once() {
    let code = device_loop();
    let (mut interpreted, interpreted_ram, interpreted_device) = new_hart(&placed(&code), None);
    assert_eq!(interpreted.run(10_000), Exit::WaitingForInterrupt);

    let jit = new_jit(JitConfig::new(0).lockstep(true));
    let (mut checked, checked_ram, checked_device) = new_hart(&placed(&code), Some(jit.clone()));
    assert_eq!(checked.run(10_000), Exit::WaitingForInterrupt);
    assert_eq!(checked.jit_divergence().map(ToString::to_string), None);

    assert_eq!(checked.state().regs(), interpreted.state().regs());
    assert_eq!(checked.state().csr.mepc, B + 24, "the last load faulted");
    assert_eq!(checked_device.loads.load(Ordering::Relaxed), 50, "each device load made once");
    assert_eq!(*checked_device.stores.lock().unwrap(), *interpreted_device.stores.lock().unwrap());
    assert_eq!(checked_device.stores.lock().unwrap().len(), 50, "each device store made once");
    assert_eq!(read_u64(&checked_ram, DATA), read_u64(&interpreted_ram, DATA));
    let stats = all_stats(&jit, &checked);
    assert!(stats.lockstep_checked >= 2 && stats.lockstep_unchecked == 0, "{stats:?}");
    assert_eq!(stats.exits_trapped, 1, "{stats:?}");
    assert!(stats.slow_accesses >= 150, "every access on the helper path: {stats:?}");
}

#[test]
fn device_accesses_leave_compiled_code_once_each() {
    // Compiled code leaves each device access to the interpreter: the block
    // exits before it, the interpreter makes it, and compiled code goes on
    // after it. Each access must reach the device exactly once, and the
    // loop must stay compiled around them.
    let code = device_loop();
    let (mut interpreted, interpreted_ram, interpreted_device) = new_hart(&placed(&code), None);
    assert_eq!(interpreted.run(10_000), Exit::WaitingForInterrupt);

    let jit = new_jit(JitConfig::new(0));
    let (mut compiled, compiled_ram, compiled_device) = new_hart(&placed(&code), Some(jit.clone()));
    assert_eq!(compiled.run(10_000), Exit::WaitingForInterrupt);
    assert_eq!(compiled.state().regs(), interpreted.state().regs());
    assert_eq!((compiled.state().csr.mepc, compiled.state().retired), (B + 24, interpreted.state().retired));
    assert_eq!(compiled_device.loads.load(Ordering::Relaxed), 50, "each device load made once");
    assert_eq!(*compiled_device.stores.lock().unwrap(), *interpreted_device.stores.lock().unwrap());
    assert_eq!(read_u64(&compiled_ram, DATA), read_u64(&interpreted_ram, DATA));
    let stats = all_stats(&jit, &compiled);
    // 50 loads, 50 stores and the faulting load.
    assert_eq!(stats.slow_accesses, 101, "{stats:?}");
    // The code between the accesses ran compiled: the blocks after the
    // load and after the store, which jumps back to the loop's start (the
    // load's block) on every pass but the last.
    assert!(stats.blocks_compiled >= 3 && stats.chain_hits >= 49, "{stats:?}");
}

#[test]
fn lockstep_stops_at_a_block_computed_wrong() {
    let program = |store_base| {
        vec![(
            RAM_BASE,
            vec![
                i(Op::Addi, A0, 0, 5),
                i(Op::Addi, A1, A0, 1),
                i(Op::Addi, A2, DATA_REG, 8),
                s(Op::Sd, store_base, A1, 0),
                jump(RAM_BASE + 16, C).1,
            ],
        )]
    };
    let code = program(DATA_REG);
    let wrong = JitConfig { miscompile_at: Some(RAM_BASE + 4), ..JitConfig::new(0) };

    // Without lockstep the wrong result goes unnoticed: the injection works.
    let (mut unchecked, ram, _) = new_hart(&placed(&code), Some(new_jit(wrong.clone())));
    assert_eq!(unchecked.run(100), Exit::WaitingForInterrupt);
    assert_eq!((unchecked.state().reg(A1), read_u64(&ram, DATA)), (7, 7));

    let jit = new_jit(wrong.clone().lockstep(true));
    let (mut checked, ram, _) = new_hart(&placed(&code), Some(jit.clone()));
    assert_eq!(checked.run(100), Exit::JitDivergence { pc: RAM_BASE });
    let divergence = checked.jit_divergence().expect("a report");
    assert_eq!(divergence.pc, RAM_BASE);
    assert_eq!((divergence.compiled.reg(A1), divergence.interpreted.reg(A1)), (7, 6));
    assert_eq!(divergence.compiled_accesses[0].0.stored, Some(7));
    assert_eq!(divergence.interpreted_accesses[0].stored, Some(6));
    assert_eq!(checked.state().reg(A1), 7, "the hart keeps what the compiled code did");
    assert_eq!(read_u64(&ram, DATA), 7, "the compiled code's store, made once; the interpreter's not at all");
    let report = divergence.to_string();
    for line in [
        "the JIT's code for the block at 0x80000000 and the interpreter disagree:",
        "  a1 (x11): compiled 0x7, interpreted 0x6 (before the block 0x0)",
        "  memory access 1: compiled store of 0x7 (8 bytes) at 0x8000c000 after 3 instructions, \
         interpreted store of 0x6 (8 bytes) at 0x8000c000 after 3 instructions",
        "  0x0000000080000004: addi a1, a0, 1",
    ] {
        assert!(report.lines().any(|l| l == line), "'{line}' missing from:\n{report}");
    }
    assert_eq!(all_stats(&jit, &checked).lockstep_checked, 0);

    // A wrong address: the store lands where the compiled code put it, and
    // the interpreter's right one is never made.
    let code = program(A2);
    let wrong_address = JitConfig { miscompile_at: Some(RAM_BASE + 8), ..JitConfig::new(0).lockstep(true) };
    let (mut checked, ram, _) = new_hart(&placed(&code), Some(new_jit(wrong_address)));
    assert_eq!(checked.run(100), Exit::JitDivergence { pc: RAM_BASE });
    let report = checked.jit_divergence().unwrap().to_string();
    assert!(report.contains("memory access 1: compiled store of 0x6 (8 bytes) at 0x8000c009"), "{report}");
    assert!(report.contains("interpreted store of 0x6 (8 bytes) at 0x8000c008"), "{report}");
    assert_eq!(read_u64(&ram, DATA + 8) & 0xff, 0);
    assert_eq!(read_u64(&ram, DATA + 9) & 0xff, 6);
}

/// A block compiled in the background reaches the hart while it runs: the
/// hart interprets the loop until the compiled code is there, then runs
/// it, and the loop's result is the same either way.
#[test]
fn background_compilation_hands_code_to_the_running_hart() {
    // A: t0 = 64 << 12; B: a0 += 1 while --t0; then C (ebreak). Long
    // enough for the compiler thread to finish first, most times, even in
    // a release build on a loaded host.
    let (_, to_b) = jump(RAM_BASE + 8, B);
    let (_, to_c) = jump(B + 12, C);
    let code = vec![
        (RAM_BASE, vec![i(Op::Lui, T0, 0, 64 << 12), i(Op::Addi, A0, 0, 0), to_b]),
        (B, vec![i(Op::Addi, A0, A0, 1), i(Op::Addi, T0, T0, -1), s(Op::Bne, T0, 0, -8), to_c]),
        (C, vec![Inst::new(Op::Ebreak, 4)]),
    ];
    let started = std::time::Instant::now();
    loop {
        let jit = new_jit(JitConfig::new(5).background(true));
        let (mut hart, _, _) = new_hart(&placed(&code), Some(jit.clone()));
        // Slices of 30 instructions, so that the loop comes back to the run
        // loop often enough to find its code.
        while hart.run(30) == Exit::BudgetSpent {}
        assert_eq!(hart.state().reg(A0), 64 << 12, "the loop ran to its end");
        let stats = all_stats(&jit, &hart);
        if stats.exits_stopped + stats.exits_to_next_block > 0 {
            assert!(stats.blocks_compiled >= 1, "{stats:?}");
            return;
        }
        // The compiler thread was slower than the whole loop: try again.
        assert!(started.elapsed().as_secs() < 60, "compiled code never ran: {stats:?}");
    }
}

/// Two compiled blocks that jump to each other run without the run loop:
/// each exit finds the other's code through the jump cache, and the
/// instruction count stays exact across the jumps.
#[test]
fn compiled_blocks_chain_to_each_other() {
    // A: a0 += 1, jump to B; B: a1 += 2, jump to A. 4 instructions a turn.
    let (_, to_b) = jump(RAM_BASE + 4, B);
    let (_, to_a) = jump(B + 4, RAM_BASE);
    let code = vec![(RAM_BASE, vec![i(Op::Addi, A0, A0, 1), to_b]), (B, vec![i(Op::Addi, A1, A1, 2), to_a])];
    let jit = new_jit(JitConfig::new(0));
    let (mut hart, _, _) = new_hart(&placed(&code), Some(jit.clone()));
    // The first turn fills the jump cache and compiles both blocks.
    assert_eq!(hart.run(4), Exit::BudgetSpent);
    let before = all_stats(&jit, &hart);
    assert_eq!(hart.run(4000), Exit::BudgetSpent);
    assert_eq!((hart.state().reg(A0), hart.state().reg(A1), hart.state().pc), (1001, 2002, RAM_BASE));
    assert_eq!(hart.state().retired, 4004);
    let stats = all_stats(&jit, &hart);
    // 2000 blocks ran: the run loop entered the first, a chain reached each
    // of the other 1999, and a last chain reached A, which found the budget
    // spent and stopped: the run loop saw that one return.
    assert_eq!(stats.chain_hits - before.chain_hits, 2000, "{stats:?}");
    let returns = stats.exits_to_next_block + stats.exits_stopped - before.exits_to_next_block - before.exits_stopped;
    assert_eq!(returns, 1, "{stats:?}");
}

/// `mstatus.SUM`.
const SUM: u64 = 1 << 18;

/// Sv39 page tables mapping RAM's 16 pages to themselves, the page of
/// `DATA` as a U page (read-write), the others as S pages (read, write,
/// execute); PMP lets S-mode reach everything. Returns `satp`.
fn map_ram_for_s_mode(hart: &mut Hart, ram: &Ram) -> u64 {
    let (root, l1, l0) = (RAM_BASE + 0xd000, RAM_BASE + 0xe000, RAM_BASE + 0xf000);
    let pointer = |table: u64| (table >> 12) << 10 | 1;
    let write = |at: u64, pte: u64| assert!(ram.write_bytes(at - RAM_BASE, &pte.to_le_bytes()));
    write(root + 8 * ((RAM_BASE >> 30) & 0x1ff), pointer(l1));
    write(l1 + 8 * ((RAM_BASE >> 21) & 0x1ff), pointer(l0));
    for page in 0..16 {
        let at = RAM_BASE + page * 0x1000;
        // V R W (X) (U) A D
        let flags = if at == DATA { 0xd7 } else { 0xcf };
        write(l0 + 8 * page, (at >> 12) << 10 | flags);
    }
    hart.state_mut().csr.pmpaddr[0] = u64::MAX >> 10;
    hart.state_mut().csr.pmpcfg[0] = 0x1f; // NAPOT, R W X
    8 << 60 | root >> 12
}

/// A loop that copies the word at `DATA` to `DATA + 8`, `t0` times, then
/// jumps to C, whose `ebreak` traps to M-mode.
fn copy_loop() -> Vec<(u64, Vec<Inst>)> {
    vec![
        (
            RAM_BASE,
            vec![
                i(Op::Ld, A0, DATA_REG, 0),
                s(Op::Sd, DATA_REG, A0, 8),
                i(Op::Addi, T0, T0, -1),
                s(Op::Bne, T0, 0, -12),
                jump(RAM_BASE + 16, C).1,
            ],
        ),
        (C, vec![Inst::new(Op::Ebreak, 4)]),
    ]
}

#[test]
fn compiled_code_reaches_checked_pages_through_its_tlb_in_their_context() {
    // S-mode with paging: the loop loads from and stores to a U page
    // (which SUM lets S-mode reach).
    let code = copy_loop();
    let jit = new_jit(JitConfig::new(0));
    let (mut hart, ram, _) = new_hart(&placed(&code), Some(jit.clone()));
    hart.state_mut().csr.satp = map_ram_for_s_mode(&mut hart, &ram);
    assert!(ram.write_bytes(DATA - RAM_BASE, &0x1234u64.to_le_bytes()));
    hart.state_mut().privilege = Privilege::Supervisor;
    hart.state_mut().csr.mstatus |= SUM;
    hart.state_mut().set_reg(T0, 20);
    assert_eq!(hart.run(1_000), Exit::WaitingForInterrupt);
    assert_eq!(hart.state().csr.mcause, 3, "ebreak");
    assert_eq!(read_u64(&ram, DATA + 8), 0x1234);
    // The first load and store were left to the interpreter, which let
    // compiled code make the other 19 of each itself.
    assert_eq!(all_stats(&jit, &hart).slow_accesses, 2);

    // Without SUM the same load faults, though the page is in the TLB of
    // compiled code: its entry holds for the context it was made in only.
    hart.state_mut().waiting = false;
    hart.state_mut().privilege = Privilege::Supervisor;
    hart.state_mut().csr.mstatus &= !SUM;
    hart.state_mut().pc = RAM_BASE;
    hart.state_mut().set_reg(T0, 20);
    assert_eq!(hart.run(1_000), Exit::WaitingForInterrupt);
    assert_eq!((hart.state().csr.mcause, hart.state().csr.mepc, hart.state().csr.mtval), (13, RAM_BASE, DATA));
    assert_eq!(all_stats(&jit, &hart).slow_accesses, 3);
}

#[test]
fn misaligned_accesses_stay_in_compiled_code_unless_a_store_crosses_a_line() {
    // The copy loop of the test above from `DATA + offset`: misaligned
    // loads are made inline anywhere in a page, misaligned stores inside
    // a 64-byte line (whose marks are the store's); a store across two
    // lines leaves the block each time. Linux copies memory with such
    // accesses once it has found them fast.
    for (offset, slow) in [(3u64, 2), (50, 21)] {
        let code = copy_loop();
        let jit = new_jit(JitConfig::new(0));
        let (mut hart, ram, _) = new_hart(&placed(&code), Some(jit.clone()));
        hart.state_mut().csr.satp = map_ram_for_s_mode(&mut hart, &ram);
        let value = 0x1122_3344_5566_7788u64;
        assert!(ram.write_bytes(DATA + offset - RAM_BASE, &value.to_le_bytes()));
        hart.state_mut().privilege = Privilege::Supervisor;
        hart.state_mut().csr.mstatus |= SUM;
        hart.state_mut().set_reg(DATA_REG, DATA + offset);
        hart.state_mut().set_reg(T0, 20);
        assert_eq!(hart.run(1_000), Exit::WaitingForInterrupt);
        assert_eq!(hart.state().csr.mcause, 3, "ebreak");
        assert_eq!(read_u64(&ram, DATA + offset + 8), value, "offset {offset}");
        assert_eq!(all_stats(&jit, &hart).slow_accesses, slow, "offset {offset}");
    }
}

#[test]
fn code_compiled_for_physical_accesses_stays_right_where_paging_checks_them() {
    // The loop of the test above, compiled while M-mode makes plain
    // physical accesses: it reaches RAM directly and has no TLB probe.
    let code = copy_loop();
    let jit = new_jit(JitConfig::new(0));
    let (mut hart, ram, _) = new_hart(&placed(&code), Some(jit.clone()));
    assert!(ram.write_bytes(DATA - RAM_BASE, &0x1234u64.to_le_bytes()));
    hart.state_mut().set_reg(T0, 20);
    assert_eq!(hart.run(1_000), Exit::WaitingForInterrupt);
    assert_eq!((hart.state().csr.mcause, read_u64(&ram, DATA + 8)), (3, 0x1234));
    assert_eq!(all_stats(&jit, &hart).slow_accesses, 0);

    // The same code in S-mode with paging: its compiled block cannot probe
    // the TLB, so each pass's load leaves it for the interpreter (and the
    // rest of the pass, a block of its own compiled in this context, finds
    // its store in the TLB). Slower, and still right.
    hart.state_mut().waiting = false;
    hart.state_mut().csr.satp = map_ram_for_s_mode(&mut hart, &ram);
    assert!(ram.write_bytes(DATA - RAM_BASE, &0x5678u64.to_le_bytes()));
    hart.state_mut().privilege = Privilege::Supervisor;
    hart.state_mut().csr.mstatus |= SUM;
    hart.state_mut().pc = RAM_BASE;
    hart.state_mut().set_reg(T0, 20);
    assert_eq!(hart.run(1_000), Exit::WaitingForInterrupt);
    assert_eq!((hart.state().csr.mcause, read_u64(&ram, DATA + 8)), (3, 0x5678));
    assert_eq!((hart.state().reg(T0), hart.state().reg(A0)), (0, 0x5678));
    let slow = all_stats(&jit, &hart).slow_accesses;
    assert!((20..=22).contains(&slow), "{slow} accesses left to the interpreter");
}

/// `first` and `second` at RAM's start, then a jump to C, which stops
/// (`ebreak`, to the handler, which waits).
fn two_then_stop(first: Inst, second: Inst) -> Vec<(u64, Vec<Inst>)> {
    vec![(RAM_BASE, vec![first, second, jump(RAM_BASE + 8, C).1]), (C, vec![Inst::new(Op::Ebreak, 4)])]
}

#[test]
fn accesses_checked_together_leave_before_the_first_when_one_is_outside_ram() {
    // Two loads off one base value: compiled code checks that both lie in
    // RAM once, before the first. With the second past RAM's end, the
    // block leaves before the first, which the interpreter makes; the
    // second then faults, as the interpreter alone would have it.
    let code = two_then_stop(i(Op::Ld, A0, T0, 0), i(Op::Ld, A1, T0, 8));
    let end = RAM_BASE + RAM_SIZE;
    for (t0, slow, cause) in [(end - 16, 0, 3), (end - 8, 2, 5)] {
        let jit = new_jit(JitConfig::new(0));
        let (mut hart, ram, _) = new_hart(&placed(&code), Some(jit.clone()));
        assert!(ram.write_bytes(RAM_SIZE - 16, &[0x11; 8]) && ram.write_bytes(RAM_SIZE - 8, &[0x22; 8]));
        hart.state_mut().set_reg(T0, t0);
        assert_eq!(hart.run(100), Exit::WaitingForInterrupt);
        assert_eq!(hart.state().csr.mcause, cause, "t0 = {t0:#x}");
        assert_eq!(hart.state().reg(A0), if slow == 0 { 0x1111_1111_1111_1111 } else { 0x2222_2222_2222_2222 });
        if cause == 5 {
            // The second load faulted on RAM's end, and `a1` kept its value.
            assert_eq!((hart.state().csr.mepc, hart.state().csr.mtval, hart.state().reg(A1)), (RAM_BASE + 4, end, 0));
        } else {
            assert_eq!(hart.state().reg(A1), 0x2222_2222_2222_2222);
        }
        assert_eq!(all_stats(&jit, &hart).slow_accesses, slow, "t0 = {t0:#x}");
    }
}

#[test]
fn stores_checked_together_leave_when_their_base_is_misaligned() {
    // Two stores off one base value, at multiples of their size: compiled
    // code checks the base's alignment once, before the first. Aligned,
    // both go straight to RAM; misaligned (so each could reach into a line
    // holding code), the block leaves before the first, and the second,
    // the start of a block of its own, checks itself: inside its line, it
    // goes straight to RAM; across two lines, it leaves too.
    let code = two_then_stop(s(Op::Sd, DATA_REG, A1, 0), s(Op::Sd, DATA_REG, A2, 8));
    for (offset, slow) in [(0, 0), (4, 1), (52, 2)] {
        let jit = new_jit(JitConfig::new(0));
        let (mut hart, ram, _) = new_hart(&placed(&code), Some(jit.clone()));
        hart.state_mut().set_reg(DATA_REG, DATA + offset);
        hart.state_mut().set_reg(A1, 0x1111);
        hart.state_mut().set_reg(A2, 0x2222);
        assert_eq!(hart.run(100), Exit::WaitingForInterrupt);
        assert_eq!(hart.state().csr.mcause, 3, "ebreak");
        assert_eq!((read_u64(&ram, DATA + offset), read_u64(&ram, DATA + offset + 8)), (0x1111, 0x2222));
        assert_eq!(all_stats(&jit, &hart).slow_accesses, slow, "base {offset} bytes past DATA");
    }
}

#[test]
fn stores_checked_together_leave_when_a_line_of_theirs_holds_code() {
    // Two stores off one base value within 64 bytes: compiled code tests
    // both lines' marks once, before the first. The second run points the
    // second store at C's code, which the first run translated: the block
    // must leave, so that the interpreter's store drops C's translation,
    // and C then runs its new instructions.
    let code = two_then_stop(s(Op::Sd, T1, A1, 0), s(Op::Sd, T1, A2, 8));
    let jit = new_jit(JitConfig::new(0));
    let (mut hart, ram, _) = new_hart(&placed(&code), Some(jit.clone()));
    let new_c = u64::from(i(Op::Addi, A0, 0, 42).encode()) | u64::from(Inst::new(Op::Ebreak, 4).encode()) << 32;
    for (t1, slow, a0) in [(DATA, 0, 0), (C - 8, 2, 42)] {
        let state = hart.state_mut();
        (state.pc, state.waiting) = (RAM_BASE, false);
        hart.state_mut().set_reg(T1, t1);
        hart.state_mut().set_reg(A2, new_c);
        let before = all_stats(&jit, &hart).slow_accesses;
        assert_eq!(hart.run(100), Exit::WaitingForInterrupt);
        assert_eq!((hart.state().csr.mcause, hart.state().reg(A0)), (3, a0), "t1 = {t1:#x}");
        assert_eq!(read_u64(&ram, t1 + 8), new_c);
        assert_eq!(all_stats(&jit, &hart).slow_accesses - before, slow, "t1 = {t1:#x}");
    }
}

#[test]
fn an_access_after_its_base_changed_is_checked_again() {
    // The first load replaces its own base register: the second load's
    // address is a new value, which compiled code must check on its own
    // (here it lies past RAM's end and faults).
    let code = two_then_stop(i(Op::Ld, T0, T0, 0), i(Op::Ld, A1, T0, 8));
    let jit = new_jit(JitConfig::new(0));
    let (mut hart, ram, _) = new_hart(&placed(&code), Some(jit.clone()));
    let beyond = RAM_BASE + RAM_SIZE + 0x1000;
    assert!(ram.write_bytes(RAM_SIZE - 16, &beyond.to_le_bytes()));
    hart.state_mut().set_reg(T0, RAM_BASE + RAM_SIZE - 16);
    assert_eq!(hart.run(100), Exit::WaitingForInterrupt);
    assert_eq!(hart.state().csr.mcause, 5);
    assert_eq!((hart.state().csr.mepc, hart.state().csr.mtval), (RAM_BASE + 4, beyond + 8));
    assert_eq!(hart.state().reg(T0), beyond);
}

#[test]
fn a_branch_forward_inside_a_block_stays_in_compiled_code() {
    // Counts the odd numbers from 100 down: `beq` skips the count for even
    // ones, a jump inside the block, not out of it.
    let code = vec![
        (
            RAM_BASE,
            vec![
                i(Op::Andi, T1, A0, 1),
                s(Op::Beq, T1, 0, 8),
                i(Op::Addi, A1, A1, 1),
                i(Op::Addi, A0, A0, -1),
                s(Op::Bne, A0, 0, -16),
                jump(RAM_BASE + 20, C).1,
            ],
        ),
        (C, vec![Inst::new(Op::Ebreak, 4)]),
    ];
    let run = |jit: Option<Arc<Jit>>| {
        let (mut hart, _, _) = new_hart(&placed(&code), jit);
        hart.state_mut().set_reg(A0, 100);
        assert_eq!(hart.run(10_000), Exit::WaitingForInterrupt);
        hart
    };
    let interpreted = run(None);
    let jit = new_jit(JitConfig::new(0));
    let compiled = run(Some(jit.clone()));
    assert_eq!((compiled.state().reg(A1), compiled.state().reg(A0)), (50, 0));
    // 50 passes of five instructions, 50 of four, the jump and `ebreak`.
    assert_eq!((interpreted.state().retired, compiled.state().retired), (452, 452));
    for r in 1..32 {
        assert_eq!(compiled.state().reg(r), interpreted.state().reg(r), "x{r}");
    }
    // The loop ran in one compiled function: no pass left it.
    let stats = all_stats(&jit, &compiled);
    assert!(stats.chain_hits + stats.exits_to_next_block <= 2, "{stats:?}");
}

#[test]
fn floating_point_after_a_forward_branch_checks_fs_again() {
    // FS is Off. The branch skips the block's first F instruction, where
    // compiled code would otherwise check FS once for the whole block: the
    // second must still be illegal, with the branch retired and nothing
    // else.
    let fadd = |rd: u8, rs1: u8, rs2: u8| Inst { rd, rs1, rs2, imm: 7, ..Inst::new(Op::FaddD, 4) };
    let code = vec![(RAM_BASE, vec![s(Op::Beq, A0, 0, 8), fadd(1, 2, 3), fadd(4, 5, 6), jump(RAM_BASE + 12, C).1])];
    let run = |jit: Option<Arc<Jit>>| {
        let (mut hart, _, _) = new_hart(&placed(&code), jit);
        assert_eq!(hart.state().csr.mstatus & mstatus::FS, 0);
        assert_eq!(hart.run(100), Exit::WaitingForInterrupt);
        assert_eq!((hart.state().csr.mcause, hart.state().csr.mepc), (2, RAM_BASE + 8));
        hart.state().retired
    };
    let jit = new_jit(JitConfig::new(0));
    assert_eq!(run(Some(jit.clone())), run(None));
    assert!(jit.stats().blocks_compiled >= 1);
}

/// More instructions than the hart runs in many seconds.
const LONG_BUDGET: u64 = 10_000_000_000;

/// Runs the endless compiled loop `a0 += 1` at `RAM_BASE` with a budget
/// it would need many seconds for, while another thread calls `poke` on
/// the hart's control after 20 ms; returns how the run ended.
fn poke_a_compiled_endless_loop(hart: &mut Hart, poke: fn(&HartControl)) -> Exit {
    let control = hart.control().clone();
    let poker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        poke(&control);
    });
    let exit = hart.run(LONG_BUDGET);
    poker.join().unwrap();
    exit
}

#[test]
fn compiled_code_notices_requests_from_other_threads() {
    // Compiled code runs in slices of bounded length, and the run loop
    // looks at the attention flag between them: an exit request or an
    // interrupt from another thread must stop a loop that would otherwise
    // never leave compiled code.
    let endless = [i(Op::Addi, A0, A0, 1), jump(RAM_BASE + 4, RAM_BASE).1];
    // An interrupt handler that masks interrupts in `mie` and waits.
    let handler = [i(Op::Csrrw, 0, 0, i32::from(polyhart_iss::csr::MIE)), Inst::new(Op::Wfi, 4)];
    let jit = new_jit(JitConfig::new(0));
    let (mut hart, _, _) = new_hart(&[(RAM_BASE, &endless), (B, &handler)], Some(jit.clone()));
    assert_eq!(poke_a_compiled_endless_loop(&mut hart, HartControl::request_exit), Exit::ExitRequested);
    assert!(hart.control().take_exit_request());
    let spun = hart.state().reg(A0);
    let retired = hart.state().retired;
    assert!(spun > 1000 && spun == retired / 2 && retired < LONG_BUDGET, "{spun} passes, {retired} retired");
    assert_eq!(jit.stats().blocks_compiled, 1);

    // The machine timer line rises: the hart takes the interrupt at a
    // block boundary, in the handler at B.
    hart.state_mut().csr.mtvec = B;
    hart.state_mut().csr.mie = Interrupt::MachineTimer.mask();
    hart.state_mut().csr.mstatus |= mstatus::MIE;
    let raise = |control: &HartControl| control.set_interrupt(Interrupt::MachineTimer, true);
    assert_eq!(poke_a_compiled_endless_loop(&mut hart, raise), Exit::WaitingForInterrupt);
    assert_eq!(hart.state().csr.mcause, 0x8000_0000_0000_0007);
    assert_eq!(hart.state().csr.mepc, RAM_BASE);
    assert!(hart.state().reg(A0) > spun && hart.state().retired < retired + LONG_BUDGET);
}

#[test]
fn harts_whose_ram_starts_elsewhere_share_a_jit_safely() {
    // Compiled code has the RAM base of the first hart given the JIT as a
    // constant. A hart whose RAM starts 8 KiB further shares the JIT: its
    // accesses must not be made relative to the first hart's base (they
    // would land 8 KiB off in its own memory), but take the checked path.
    // Stores `a1` and loads it back 100 times, then stops (`ebreak`, to the
    // handler, which waits).
    let code = [
        s(Op::Sd, DATA_REG, A1, 0),
        i(Op::Ld, A2, DATA_REG, 0),
        i(Op::Addi, A1, A1, 1),
        i(Op::Addi, T0, T0, -1),
        s(Op::Bne, T0, 0, -16),
        jump(RAM_BASE + 20, C).1,
    ];
    let stop = [Inst::new(Op::Ebreak, 4)];
    let jit = new_jit(JitConfig::new(0));
    for base in [RAM_BASE, RAM_BASE + 0x2000] {
        let (mut hart, ram, _) = new_hart_at(base, &[(RAM_BASE, &code), (C, &stop)], Some(jit.clone()));
        hart.state_mut().set_reg(T0, 100);
        assert_eq!(hart.run(10_000), Exit::WaitingForInterrupt, "RAM at {base:#x}");
        assert_eq!((hart.state().reg(A1), hart.state().reg(A2)), (100, 99), "RAM at {base:#x}");
        assert_eq!(read_u64(&ram, DATA), 99, "RAM at {base:#x}");
        // The first hart's 200 accesses go straight to RAM, the other's are
        // all left to the interpreter.
        let expected = if base == RAM_BASE { 0 } else { 200 };
        assert_eq!(hart.jit_stats().slow_accesses, expected, "RAM at {base:#x}");
    }
    let stats = jit.stats();
    assert!(stats.blocks_compiled >= 2, "{stats:?}");
}

/// A generation of code that is full is retired: its blocks are dropped and
/// compiled again when they run again, into a new generation, and its memory
/// is freed (here at once: the only hart runs no compiled code while it
/// compiles). Without the blocks dropped, the second run would run freed
/// code; without lookups skipping them, it would not find its blocks again.
#[test]
fn a_full_generation_is_retired_and_its_blocks_compiled_again() {
    let code = counting_loop();
    // Every compilation finds the generation full: each block gets one.
    let jit = new_jit(JitConfig::new(0).code_limit(1));
    let (mut hart, _, _) = new_hart(&placed(&code), Some(jit.clone()));
    for run in 1..=2u64 {
        let state = hart.state_mut();
        (state.pc, state.waiting) = (RAM_BASE, false);
        assert_eq!(hart.run(1_000), Exit::WaitingForInterrupt, "run {run}");
        assert_eq!(hart.state().reg(A0), 100 * run, "run {run}");
        // A, B and B's tail (the jump to C) are compiled each run (C,
        // `ebreak`, and the handler's `wfi` stay interpreted): the second
        // run finds the three dropped with their generations.
        let stats = all_stats(&jit, &hart);
        assert_eq!(stats.blocks_compiled, 3 * run, "run {run}: {stats:?}");
        assert_eq!(stats.generations_retired, 3 * run - 1, "run {run}: {stats:?}");
        assert_eq!(stats.generations_freed, stats.generations_retired, "run {run}: {stats:?}");
    }
}

/// Harts keep running compiled code while the JIT's thread fills and retires
/// generation after generation under them: a generation's memory (unmapped
/// when freed) is freed only once no hart can still run it, and every hart
/// counts exactly.
#[test]
fn harts_run_on_while_the_compiler_retires_and_frees_their_code() {
    // A ring of eight parts, each a block that sets a count and jumps to a
    // loop block adding 1 to `a0` that many times, then a block jumping to
    // the next part: the harts spend their time in compiled loops, while
    // every third compilation retires a generation.
    const PARTS: u64 = 8;
    const COUNT: u64 = 2000;
    const TURN: u64 = PARTS * (2 + 3 * COUNT + 1);
    let code: Vec<(u64, Vec<Inst>)> = (0..PARTS)
        .flat_map(|k| {
            let at = RAM_BASE + k * 0x100;
            let (count, loop_at, next) = (at, at + 0x40, RAM_BASE + (k + 1) % PARTS * 0x100);
            [
                (count, vec![i(Op::Addi, T0, 0, COUNT as i32), jump(count + 4, loop_at).1]),
                (
                    loop_at,
                    vec![
                        i(Op::Addi, A0, A0, 1),
                        i(Op::Addi, T0, T0, -1),
                        s(Op::Bne, T0, 0, -8),
                        jump(loop_at + 12, next).1,
                    ],
                ),
            ]
        })
        .collect();
    let jit = new_jit(JitConfig::new(0).background(true).code_limit(3 * 4096));
    // Each hart goes round at least TURNS times, and on until the compiler
    // has retired ten generations and freed one under the harts (how soon
    // depends on the threads' timing: a loaded host starves the compiler's
    // thread), at most a hundred times as long.
    const TURNS: u64 = 100;
    let enough = |jit: &Jit| {
        let stats = jit.stats();
        stats.generations_retired >= 10 && stats.generations_freed > 0
    };
    std::thread::scope(|scope| {
        for hart_index in 0..4 {
            let (code, jit) = (&code, jit.clone());
            scope.spawn(move || {
                let (mut hart, _, _) = new_hart(&placed(code), Some(jit.clone()));
                let mut turns = 0;
                while turns < TURNS || !enough(&jit) {
                    assert!(turns < 100 * TURNS, "hart {hart_index}: {:?}", jit.stats());
                    assert_eq!(hart.run(TURN), Exit::BudgetSpent, "hart {hart_index}");
                    turns += 1;
                }
                assert_eq!(
                    (hart.state().reg(A0), hart.state().pc),
                    (turns * PARTS * COUNT, RAM_BASE),
                    "hart {hart_index}"
                );
            });
        }
    });
    let stats = jit.stats();
    assert!(enough(&jit), "{stats:?}");
}
