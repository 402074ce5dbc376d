//! Breakpoints, watchpoints and single steps through the machine API, in
//! both engines and both runners: a breakpoint stops a hart before its
//! instruction even inside a block that compiled code runs in a loop, and
//! set after that code exists; a watchpoint stops it before the access,
//! which compiled code would otherwise make inline. Addresses come from the guest's ELF symbol table, and the
//! state at each stop is checked against what the instructions before it
//! compute (`tests/guest/debug.c`, disassembled in the comments).

use std::io::Write;
use std::sync::{Arc, Mutex};

use object::{Object, ObjectSymbol};
use polyhart::iss::debug::{WatchKind, Watchpoint};
use polyhart::machine::runner::Scheduling;
use polyhart::machine::{Engine, JitConfig, Machine, StopReason, VirtConfig, build_virt};

const DEBUG: &[u8] = include_bytes!("guest/debug.elf");
/// QEMU's output for the program (`tests/guest/debug.expected`).
const EXPECTED: &str = include_str!("guest/debug.expected");

/// The address of symbol `name` in the guest's ELF.
fn symbol(name: &str) -> u64 {
    let file = object::File::parse(DEBUG).expect("the guest is an ELF");
    file.symbols().find(|s| s.name() == Ok(name)).map(|s| s.address()).unwrap_or_else(|| panic!("no symbol {name}"))
}

const A0: u8 = 10;
const A4: u8 = 14;
const A5: u8 = 15;

/// Console output, shared with the machine.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every engine and runner, named, with `harts` harts.
fn machines(harts: usize) -> Vec<(String, Machine, Output)> {
    let engines = [
        ("the interpreter", Engine::Interpreter),
        ("the JIT compiling at once", Engine::Jit(JitConfig::new(0))),
        ("the JIT compiling in the background", Engine::default()),
    ];
    let mut all = Vec::new();
    for (engine_name, engine) in engines {
        for scheduling in [Scheduling::Deterministic, Scheduling::Parallel] {
            let output = Output::default();
            let config = VirtConfig::new()
                .kernel(DEBUG.to_vec())
                .harts(harts)
                .engine(engine.clone())
                .scheduling(scheduling)
                .console(output.clone());
            let machine = build_virt(config).expect("the machine builds");
            all.push((format!("{engine_name}, {scheduling:?}, {harts} harts"), machine, output));
        }
    }
    all
}

// mix:
//   8000076a: srli  a5, a0, 7
//   8000076e: xor   a5, a5, a0
//   80000770: auipc a4, 0x0        <- the breakpoint: inside mix's block
//   80000774: ld    a4, 320(a4)
//   ...
const BREAKPOINT_OFFSET: u64 = 6;

#[test]
fn a_breakpoint_inside_a_hot_compiled_block_stops_the_hart_before_its_instruction() {
    let mix = symbol("mix");
    let breakpoint = mix + BREAKPOINT_OFFSET;
    for (name, mut machine, output) in machines(2) {
        // Long enough for the JIT to compile the loop and mix, which hart 0
        // calls 20000 times.
        assert_eq!(machine.run(Some(100_000)), StopReason::InstructionLimit, "{name}");
        machine.set_breakpoints([breakpoint]);
        let mut last_retired = 0;
        for hit in 0..100 {
            let reason = machine.run(Some(10_000_000));
            assert_eq!(reason, StopReason::Breakpoint { hart: 0, pc: breakpoint }, "{name}: hit {hit}");
            let state = machine.harts()[0].state();
            assert_eq!(state.pc, breakpoint, "{name}");
            // The two instructions before the breakpoint ran, it did not.
            let a0 = state.reg(A0);
            assert_eq!(state.reg(A5), (a0 >> 7) ^ a0, "{name}: hit {hit}");
            // One pass of main's loop since the last hit: mix's eight
            // instructions and the loop's five or six.
            if hit > 0 {
                let since = state.retired - last_retired;
                assert!((13..=15).contains(&since), "{name}: hit {hit} came {since} instructions after the last");
            }
            last_retired = state.retired;
            // Resumed at a breakpoint, a hart stops there again at once: a
            // debugger steps past it first, as GDB does.
            assert_eq!(machine.run(Some(10_000_000)), reason, "{name}");
            assert_eq!(machine.harts()[0].state().retired, last_retired, "{name}");
            if hit < 99 {
                assert_eq!(machine.step_hart(0), None, "{name}");
            }
        }
        // A step runs the instruction at the breakpoint, and only it.
        let retired = machine.harts()[0].state().retired;
        assert_eq!(machine.step_hart(0), None, "{name}");
        let state = machine.harts()[0].state();
        assert_eq!((state.pc, state.retired), (breakpoint + 4, retired + 1), "{name}");
        assert_eq!(state.reg(A4), breakpoint, "{name}: auipc a4, 0 gives its own address");
        // Without breakpoints the program runs to its end, as on QEMU.
        machine.set_breakpoints([]);
        assert_eq!(machine.run(Some(100_000_000)), StopReason::Exit(0), "{name}");
        assert_eq!(String::from_utf8_lossy(&output.0.lock().unwrap()), EXPECTED, "{name}");
    }
}

#[test]
fn every_hart_stops_at_a_breakpoint_and_the_first_one_there_is_reported() {
    // spin: the loop the other harts run until hart 0 is done.
    let spin = symbol("spin");
    for (name, mut machine, _) in machines(4) {
        machine.set_breakpoints([spin]);
        let mut seen = Vec::new();
        while seen.len() < 3 {
            match machine.run(Some(10_000_000)) {
                StopReason::Breakpoint { hart, pc } => {
                    assert_eq!(pc, spin, "{name}");
                    assert_ne!(hart, 0, "{name}: hart 0 never calls spin");
                    assert_eq!(machine.harts()[hart].state().pc, spin, "{name}");
                    assert!(!seen.contains(&hart), "{name}: hart {hart} reached spin's entry twice");
                    seen.push(hart);
                    // Past the entry (spin is called once per hart).
                    assert_eq!(machine.step_hart(hart), None, "{name}");
                }
                reason => panic!("{name}: {reason:?} after harts {seen:?} reached spin"),
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, [1, 2, 3], "{name}");
    }
}

#[test]
fn a_debugger_reads_csrs_whatever_the_mode_and_translates_nothing_in_m_mode() {
    let (name, mut machine, _) = machines(1).swap_remove(0);
    assert_eq!(machine.run(Some(1000)), StopReason::InstructionLimit, "{name}");
    let hart = &machine.harts()[0];
    assert_eq!(hart.debug_read_csr(polyhart::iss::csr::MHARTID), Some(0));
    assert_eq!(hart.debug_read_csr(polyhart::iss::csr::MISA), hart.state().csr.read(polyhart::iss::csr::MISA));
    assert_eq!(hart.debug_read_csr(0x7ff), None, "no such CSR");
    assert_eq!(hart.debug_translate(0x8000_1234), Some(0x8000_1234));
    let hart = &mut machine.harts_mut()[0];
    assert!(hart.debug_write_csr(polyhart::iss::csr::MSCRATCH, 0x1234));
    assert_eq!(hart.debug_read_csr(polyhart::iss::csr::MSCRATCH), Some(0x1234));
    assert!(!hart.debug_write_csr(polyhart::iss::csr::MHARTID, 1), "read-only");
    // A counter written by a debugger reads back what was written.
    assert!(hart.debug_write_csr(polyhart::iss::csr::MINSTRET, 500));
    assert_eq!(hart.debug_read_csr(polyhart::iss::csr::MINSTRET), Some(500));
}

#[test]
fn a_watchpoint_stops_the_hart_before_the_store_in_every_engine_and_runner() {
    let progress = symbol("progress");
    let watch = |kind| Watchpoint { addr: progress, len: 8, kind };
    for (name, mut machine, output) in machines(2) {
        // Let the JIT compile main's loop first: its stores then run inline.
        assert_eq!(machine.run(Some(50_000)), StopReason::InstructionLimit, "{name}");
        machine.set_watchpoints([watch(WatchKind::Write)]);
        let mut seen = 0;
        while seen < 3 {
            let reason = machine.run(Some(10_000_000));
            let StopReason::Watchpoint { hart: 0, pc, hit } = reason else { panic!("{name}: {reason:?}") };
            assert_eq!((hit.addr, hit.write, hit.watchpoint), (progress, true, watch(WatchKind::Write)), "{name}");
            assert_eq!(machine.harts()[0].state().pc, pc, "{name}");
            // Before the store: memory holds the last value stored, a
            // multiple of 1024 (`progress = i` every 1024 rounds).
            let mut before = [0; 8];
            assert!(machine.read_memory(progress, &mut before), "{name}");
            let before = u64::from_le_bytes(before);
            assert_eq!(before % 1024, 0, "{name}");
            // Stepped without the watchpoint (as GDB does), the store lands.
            machine.set_watchpoints([]);
            assert_eq!(machine.step_hart(0), None, "{name}");
            let mut after = [0; 8];
            assert!(machine.read_memory(progress, &mut after), "{name}");
            assert_eq!(u64::from_le_bytes(after), before + 1024, "{name}: the next multiple");
            machine.set_watchpoints([watch(WatchKind::Write)]);
            seen += 1;
        }
        // A read watchpoint on a variable only written passes every store.
        machine.set_watchpoints([watch(WatchKind::Read)]);
        assert_eq!(machine.run(Some(100_000_000)), StopReason::Exit(0), "{name}");
        assert_eq!(String::from_utf8_lossy(&output.0.lock().unwrap()), EXPECTED, "{name}");
    }
}
