//! The guest programs of `tests/guest/manifest.txt`, run on the virt machine
//! through the library: each must print exactly its `NAME.expected` and exit
//! with the manifest's status. One test per program, so a failure names it.

use std::path::PathBuf;

use polyhart::machine::console::CapturedOutput;
use polyhart::machine::{Engine, JitConfig};
use polyhart::machine::{StopReason, VirtConfig, build_virt};

/// Instructions a program may retire before it counts as hung: a few times
/// what the largest needs (demo ~80 M, bench_int ~1.9 G).
const LIMIT: u64 = 400_000_000;
const BENCH_LIMIT: u64 = 3_000_000_000;

fn guest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest")
}

/// One line of the manifest.
#[derive(Debug)]
struct Program {
    name: String,
    status: i32,
    harts: usize,
}

fn manifest() -> Vec<Program> {
    let path = guest_dir().join("manifest.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, status, harts, qemu] = fields[..] else { panic!("manifest line '{line}': want 4 fields") };
            assert!(matches!(qemu, "yes" | "no"), "manifest line '{line}': QEMU must be yes or no");
            Program {
                name: name.to_string(),
                status: status.parse().unwrap_or_else(|_| panic!("manifest line '{line}': bad status")),
                harts: harts.parse().unwrap_or_else(|_| panic!("manifest line '{line}': bad hart count")),
            }
        })
        .collect()
}

fn run_program(name: &str, engine: Engine) {
    let program = manifest().into_iter().find(|p| p.name == name).unwrap_or_else(|| panic!("{name} not in manifest"));
    let dir = guest_dir();
    let kernel = std::fs::read(dir.join(format!("{name}.elf"))).expect("the ELF is committed");
    let expected = std::fs::read(dir.join(format!("{name}.expected"))).expect("the expected output is committed");
    let console = CapturedOutput::default();
    let mut machine = build_virt(VirtConfig {
        harts: program.harts,
        kernel: Some(kernel),
        console: Some(Box::new(console.clone())),
        engine,
        ..VirtConfig::default()
    })
    .expect("the virt machine builds");

    let limit = if name.starts_with("bench_") { BENCH_LIMIT } else { LIMIT };
    let reason = machine.run(Some(limit));

    let output = console.bytes();
    let shown = String::from_utf8_lossy(&output);
    assert_eq!(reason, StopReason::Exit(program.status), "{name} stopped wrongly; its output:\n{shown}");
    if output != expected {
        let expected_text = String::from_utf8_lossy(&expected);
        let line = shown.lines().zip(expected_text.lines()).position(|(a, b)| a != b);
        panic!(
            "{name}: output differs from {name}.expected (first differing line: {}):\n--- got\n{shown}\n--- expected\n{expected_text}",
            line.map_or("none; one is a prefix of the other".to_string(), |n| (n + 1).to_string())
        );
    }
    assert!(machine.instructions() > 0);
}

macro_rules! guest_programs {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_program(stringify!($name), Engine::Interpreter);
            }
        )*
        /// The same programs with every block compiled by the JIT at its
        /// first run (the blocks it cannot compile stay interpreted).
        mod jit {
            $(
                #[test]
                fn $name() {
                    super::run_program(stringify!($name), super::Engine::Jit(super::JitConfig::new(0)));
                }
            )*
        }
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

guest_programs!(
    hello, rv64i, rv64m, rv64a, compressed, csr, traps, smc, timer, uart, plic, smode, paging, pmp, sstc, exit_code,
    htif, amo_faults, multihart, demo, bench_int, fp_arith, fp_fma, fp_convert, fp_misc, fp_csr, bench_fp, atomics,
    litmus, bench_par, debug, triggers, marker,
);

/// Lockstep over real programs: every block the JIT compiles is run again
/// by the interpreter and compared, on every hart (parallel harts for the
/// SMP programs). Long programs run for a budget only.
mod jit_lockstep {
    use polyhart::machine::console::CapturedOutput;
    use polyhart::machine::{StopReason, VirtConfig, build_virt};

    use super::{Engine, JitConfig, guest_dir, manifest};

    fn run_checked(name: &str, budget: Option<u64>) {
        let program = manifest().into_iter().find(|p| p.name == name).expect("in the manifest");
        let dir = guest_dir();
        let console = CapturedOutput::default();
        let mut machine = build_virt(VirtConfig {
            harts: program.harts,
            kernel: Some(std::fs::read(dir.join(format!("{name}.elf"))).unwrap()),
            console: Some(Box::new(console.clone())),
            engine: Engine::Jit(JitConfig::new(0).lockstep(true)),
            ..VirtConfig::default()
        })
        .expect("the virt machine builds");
        let reason = machine.run(Some(budget.unwrap_or(super::LIMIT)));
        if let StopReason::JitDivergence { hart, .. } = reason {
            panic!("{name}: {}", machine.harts()[hart].jit_divergence().expect("a report"));
        }
        if budget.is_some() {
            assert_eq!(reason, StopReason::InstructionLimit, "{name}");
        } else {
            assert_eq!(reason, StopReason::Exit(program.status), "{name}");
            let expected = std::fs::read(dir.join(format!("{name}.expected"))).unwrap();
            assert!(console.bytes() == expected, "{name}: output differs from {name}.expected");
        }
        let stats = machine.jit_stats().expect("a JIT");
        assert!(stats.lockstep_checked > 100, "{name}: {stats:?}");
        let exits = stats.exits_to_next_block + stats.exits_stopped + stats.exits_trapped;
        assert_eq!(stats.lockstep_checked + stats.lockstep_unchecked, exits, "every compiled run counted: {stats:?}");
    }

    #[test]
    fn demo() {
        run_checked("demo", None);
    }

    #[test]
    fn bench_int() {
        run_checked("bench_int", Some(30_000_000));
    }

    #[test]
    fn atomics() {
        run_checked("atomics", None);
    }

    #[test]
    fn paging() {
        run_checked("paging", None);
    }

    #[test]
    fn smc() {
        run_checked("smc", None);
    }

    #[test]
    fn traps() {
        run_checked("traps", None);
    }

    #[test]
    fn compressed() {
        run_checked("compressed", None);
    }
}

#[test]
fn every_manifest_program_has_a_test() {
    let mut listed: Vec<String> = manifest().into_iter().map(|p| p.name).collect();
    let mut tested: Vec<String> = TESTED.iter().map(|s| s.to_string()).collect();
    listed.sort();
    tested.sort();
    assert_eq!(listed, tested, "add the program to guest_programs! in this file");
}

/// A machine runs again after an instruction limit stopped it, and the
/// limit counts instructions exactly.
#[test]
fn a_run_resumes_after_the_instruction_limit() {
    let kernel = std::fs::read(guest_dir().join("demo.elf")).unwrap();
    let console = CapturedOutput::default();
    let mut machine = build_virt(VirtConfig {
        kernel: Some(kernel),
        console: Some(Box::new(console.clone())),
        ..VirtConfig::default()
    })
    .unwrap();
    assert_eq!(machine.run(Some(1_000_000)), StopReason::InstructionLimit);
    assert_eq!(machine.instructions(), 1_000_000);
    assert_eq!(machine.run(Some(1)), StopReason::InstructionLimit);
    assert_eq!(machine.instructions(), 1_000_001);
    assert_eq!(machine.run(Some(LIMIT)), StopReason::Exit(0));
    let expected = std::fs::read(guest_dir().join("demo.expected")).unwrap();
    assert_eq!(console.bytes(), expected, "stopping and resuming changes nothing the guest sees");
}
