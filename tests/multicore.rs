//! Multicore: the SMP guest programs on 1, 2, 4 and 8 harts in both
//! schedulings, bit-identical deterministic runs, and several machines
//! running at once in one process.

use std::path::PathBuf;

use polyhart::iss::JitConfig;
use polyhart::iss::jit::DEFAULT_CODE_LIMIT;
use polyhart::machine::boards::virt::Engine;
use polyhart::machine::console::CapturedOutput;
use polyhart::machine::runner::{Scheduling, UNBOUNDED_QUANTUM};
use polyhart::machine::{Machine, StopReason, VirtConfig, build_virt};

const LIMIT: u64 = 1_000_000_000;

fn guest(name: &str) -> (Vec<u8>, Vec<u8>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest");
    let elf = std::fs::read(dir.join(format!("{name}.elf"))).expect("the ELF is committed");
    let expected = std::fs::read(dir.join(format!("{name}.expected"))).expect("the expected output is committed");
    (elf, expected)
}

/// Runs `name` to its end; returns the machine and its console output.
fn run(name: &str, harts: usize, scheduling: Scheduling, quantum: u64) -> (Machine, Vec<u8>) {
    run_on(name, harts, scheduling, quantum, Engine::Interpreter)
}

fn run_on(name: &str, harts: usize, scheduling: Scheduling, quantum: u64, engine: Engine) -> (Machine, Vec<u8>) {
    let (kernel, _) = guest(name);
    let console = CapturedOutput::default();
    let engine_name = format!("{engine:?}");
    let mut machine = build_virt(VirtConfig {
        harts,
        kernel: Some(kernel),
        console: Some(Box::new(console.clone())),
        scheduling,
        quantum,
        engine,
        ..VirtConfig::default()
    })
    .expect("the virt machine builds");
    let reason = machine.run(Some(LIMIT));
    let output = console.bytes();
    assert_eq!(
        reason,
        StopReason::Exit(0),
        "{name} on {harts} harts ({scheduling:?}, quantum {quantum}, {engine_name}):\n{}",
        String::from_utf8_lossy(&output)
    );
    (machine, output)
}

fn check_everywhere(name: &str) {
    let (_, expected) = guest(name);
    for harts in [1, 2, 4, 8] {
        for scheduling in [Scheduling::Deterministic, Scheduling::Parallel] {
            let (_, output) = run(name, harts, scheduling, 10_000);
            assert_eq!(
                String::from_utf8_lossy(&output),
                String::from_utf8_lossy(&expected),
                "{name} on {harts} harts, {scheduling:?}"
            );
        }
    }
    // Free-running harts, and a quantum small enough to switch often.
    for (harts, quantum) in [(2, UNBOUNDED_QUANTUM), (4, UNBOUNDED_QUANTUM), (4, 97)] {
        let (_, output) = run(name, harts, Scheduling::Parallel, quantum);
        assert_eq!(output, expected, "{name} on {harts} harts, quantum {quantum}");
    }
}

/// N harts × M amoadd and LR/SC increments give exactly N × M; a spinlock
/// keeps a plain read-modify-write exact.
#[test]
fn atomics_on_1_to_8_harts_in_both_schedulings() {
    check_everywhere("atomics");
}

/// Message passing and store buffering with fences never show an outcome
/// RVWMO forbids.
#[test]
fn litmus_tests_on_1_to_8_harts_in_both_schedulings() {
    check_everywhere("litmus");
}

/// The same with every block compiled at once: AMOs as host atomics on
/// harts that really run at the same time, against LR/SC and plain stores
/// from compiled code and the interpreter's.
#[test]
fn atomics_and_litmus_tests_in_compiled_code() {
    for name in ["atomics", "litmus"] {
        let (_, expected) = guest(name);
        let mut runs = vec![
            (2, 10_000, DEFAULT_CODE_LIMIT),
            (4, 10_000, DEFAULT_CODE_LIMIT),
            (4, UNBOUNDED_QUANTUM, DEFAULT_CODE_LIMIT),
        ];
        if name == "atomics" {
            // Generations of code retired under the running harts (16
            // blocks' pages each: atomics retires some 40). The litmus
            // tests' spinning harts would thrash such a small limit, each
            // retirement slowing the spins that keep the working set hot.
            runs.push((4, UNBOUNDED_QUANTUM, 64 << 10));
        }
        for (harts, quantum, code_limit) in runs {
            let config = JitConfig::new(0).code_limit(code_limit);
            let (machine, output) = run_on(name, harts, Scheduling::Parallel, quantum, Engine::Jit(config));
            assert_eq!(
                String::from_utf8_lossy(&output),
                String::from_utf8_lossy(&expected),
                "{name} on {harts} harts, quantum {quantum}, JIT, code limit {code_limit}"
            );
            let retired = machine.jit_stats().expect("a JIT").generations_retired;
            assert_eq!(retired > 0, code_limit < DEFAULT_CODE_LIMIT, "{name}: {retired} generations retired");
        }
    }
}

/// Everything a deterministic run produces: output, and each hart's
/// instruction count, pc and registers.
type Fingerprint = (Vec<u8>, Vec<(u64, u64, [u64; 32])>);

fn fingerprint(machine: &Machine, output: Vec<u8>) -> Fingerprint {
    let harts = machine.harts().iter().map(|h| (h.state.retired, h.state.pc, h.state.regs())).collect();
    (output, harts)
}

#[test]
fn deterministic_runs_are_bit_identical() {
    for name in ["atomics", "multihart"] {
        let (machine, output) = run(name, 4, Scheduling::Deterministic, 1000);
        let first = fingerprint(&machine, output);
        let (machine, output) = run(name, 4, Scheduling::Deterministic, 1000);
        assert_eq!(first, fingerprint(&machine, output), "{name}");
    }
}

/// Machines share nothing: several running at once, each on its own
/// threads, each give exactly what they give alone.
#[test]
fn machines_running_at_once_give_what_they_give_alone() {
    let (machine, output) = run("multihart", 4, Scheduling::Deterministic, 1000);
    let alone = fingerprint(&machine, output);
    std::thread::scope(|scope| {
        let deterministic: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let (machine, output) = run("multihart", 4, Scheduling::Deterministic, 1000);
                    fingerprint(&machine, output)
                })
            })
            .collect();
        let parallel: Vec<_> =
            (0..2).map(|_| scope.spawn(|| run("atomics", 4, Scheduling::Parallel, 10_000).1)).collect();
        for handle in deterministic {
            assert_eq!(handle.join().unwrap(), alone);
        }
        let (_, expected) = guest("atomics");
        for handle in parallel {
            assert_eq!(handle.join().unwrap(), expected);
        }
    });
}
