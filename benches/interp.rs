//! Interpreter speed on the project's guest workloads.
//!
//! Each iteration builds a fresh virt machine (not timed) and runs a fixed
//! number of guest instructions; criterion's throughput is then guest
//! instructions per second (read "Melem/s" as MIPS). For the comparison with
//! QEMU on the same ELF, see `scripts/bench-vs-qemu.sh`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use polyhart::machine::{Machine, StopReason, VirtConfig, build_virt};

const GUEST_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/guest");

fn machine(program: &str) -> Machine {
    let path = format!("{GUEST_DIR}/{program}.elf");
    let kernel = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    build_virt(VirtConfig { kernel: Some(kernel), console: Some(Box::new(std::io::sink())), ..VirtConfig::default() })
        .expect("the virt board builds")
}

fn interpreter(c: &mut Criterion) {
    let mut group = c.benchmark_group("interpreter");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    // bench_int runs ~1.9 billion instructions; a slice of it keeps an
    // iteration near a tenth of a second.
    const SLICE: u64 = 50_000_000;
    for program in ["bench_int", "demo"] {
        group.throughput(Throughput::Elements(SLICE));
        group.bench_function(program, |b| {
            b.iter_batched(
                || machine(program),
                |mut m| {
                    let reason = m.run(Some(SLICE));
                    assert!(matches!(reason, StopReason::InstructionLimit | StopReason::Exit(0)), "{reason:?}");
                    black_box(m.instructions())
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, interpreter);
criterion_main!(benches);
