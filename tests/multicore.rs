//! Multicore: the SMP guest programs on 1, 2, 4 and 8 harts in both
//! schedulings, the rounds' bound on how far harts drift apart, under
//! stress, bit-identical deterministic runs, and several machines running
//! at once in one process.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use polyhart::iss::JitConfig;
use polyhart::iss::jit::DEFAULT_CODE_LIMIT;
use polyhart::machine::Engine;
use polyhart::machine::console::CapturedOutput;
use polyhart::machine::runner::{Scheduling, UNBOUNDED_QUANTUM};
use polyhart::machine::{Machine, StopReason, VirtConfig, build_virt};

const LIMIT: u64 = 1_000_000_000;

/// How long a run may take before it counts as hung: far longer than any
/// of these runs takes, even unoptimized.
const HANG: Duration = Duration::from_secs(120);

/// The file `tests/guest/{name}.{extension}`.
fn guest_file(name: &str, extension: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/guest/{name}.{extension}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{} is committed: {e}", path.display()))
}

/// Guest program `name`'s expected console output.
fn expected(name: &str) -> Vec<u8> {
    guest_file(name, "expected")
}

/// Runs `name` to its end; returns the machine and its console output.
fn run(name: &str, harts: usize, scheduling: Scheduling, quantum: u64) -> (Machine, Vec<u8>) {
    run_on(name, harts, scheduling, quantum, Engine::Interpreter)
}

fn run_on(name: &str, harts: usize, scheduling: Scheduling, quantum: u64, engine: Engine) -> (Machine, Vec<u8>) {
    let kernel = guest_file(name, "elf");
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
    // A watchdog stops a run that hangs, so it fails instead.
    let (done, watch) = mpsc::channel::<()>();
    let stop = machine.stop_signal().clone();
    let watchdog = std::thread::spawn(move || {
        if watch.recv_timeout(HANG) == Err(mpsc::RecvTimeoutError::Timeout) {
            stop.request(StopReason::Stopped);
        }
    });
    let reason = machine.run(Some(LIMIT));
    drop(done);
    watchdog.join().expect("the watchdog does not panic");
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
    let expected = expected(name);
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
        let expected = expected(name);
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

/// The largest lead of one hart's local time over another's, in cycles,
/// and the longest step between a hart's looks, in instructions, as `skew`
/// prints them.
fn skew(output: &[u8]) -> (u64, u64) {
    let text = String::from_utf8_lossy(output);
    let figures = text
        .lines()
        .find_map(|line| line.strip_prefix("skew: lead "))
        .and_then(|rest| rest.split_once(" cycles, step "))
        .and_then(|(lead, rest)| Some((lead.parse().ok()?, rest.strip_suffix(" instructions")?.parse().ok()?)));
    figures.unwrap_or_else(|| panic!("skew printed no figures:\n{text}"))
}

/// Many short rounds, on more harts than the host has cores too, with
/// harts sleeping in `wfi` at every barrier of the guest and woken by IPIs:
/// the rounds never let a hart's local time get more than a quantum ahead
/// of another's, beyond the step the guest takes between looks (see
/// `tests/guest/skew.c`); they lose no hart and no wakeup (a hang ends at
/// the watchdog and fails); and the guests' shared counters come out exact.
/// The deterministic runner is held to the same bound.
#[test]
fn rounds_keep_harts_within_a_quantum_of_each_other() {
    let check = |harts: usize, scheduling: Scheduling, quantum: u64, engine: Engine| {
        let engine_name = format!("{engine:?}");
        let (_, output) = run_on("skew", harts, scheduling, quantum, engine);
        let (lead, step) = skew(&output);
        // One more: the instruction between reading `mcycle` and storing it.
        assert!(
            lead <= quantum + step + 1,
            "{harts} harts ({scheduling:?}, quantum {quantum}, {engine_name}): lead {lead} cycles, step {step} instructions"
        );
    };
    for harts in [2, 3, 5, 8] {
        for quantum in [1, 2, 7, 31, 100, 1000] {
            for scheduling in [Scheduling::Deterministic, Scheduling::Parallel] {
                check(harts, scheduling, quantum, Engine::Interpreter);
            }
        }
    }
    for (harts, quantum) in [(2, 1), (3, 7), (8, 100)] {
        check(harts, Scheduling::Parallel, quantum, Engine::Jit(JitConfig::new(0)));
    }
    for name in ["atomics", "litmus"] {
        let expected = expected(name);
        for (harts, quantum) in [(3, 13), (8, 50)] {
            let (_, output) = run(name, harts, Scheduling::Parallel, quantum);
            assert_eq!(
                String::from_utf8_lossy(&output),
                String::from_utf8_lossy(&expected),
                "{name} on {harts} harts, quantum {quantum}"
            );
        }
    }
}

/// Everything a deterministic run produces: output, and each hart's
/// instruction count, pc and registers.
type Fingerprint = (Vec<u8>, Vec<(u64, u64, [u64; 32])>);

fn fingerprint(machine: &Machine, output: Vec<u8>) -> Fingerprint {
    let harts = machine.harts().iter().map(|h| (h.state().retired, h.state().pc, h.state().regs())).collect();
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
        let expected = expected("atomics");
        for handle in parallel {
            assert_eq!(handle.join().unwrap(), expected);
        }
    });
}
