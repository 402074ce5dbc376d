//! What driving a machine in quanta costs, without any outside simulator:
//! the same guest run to its end by `Machine::run` and by `Cosim::advance`
//! in steps of several sizes, best of a few runs each, printed as ratios.
//!
//!     cargo run --release -p polyhart-cosim --example advance_cost [GUEST.elf] [jit]

use std::time::Instant;

use polyhart_cosim::{AdvanceEnd, CosimBuilder, SimTime};
use polyhart_iss::JitConfig;
use polyhart_machine::Engine;
use polyhart_machine::{StopReason, VirtConfig};

fn config(elf: &[u8], jit: bool) -> VirtConfig {
    let engine = if jit { Engine::Jit(JitConfig::new(50)) } else { Engine::Interpreter };
    VirtConfig::new().kernel(elf.to_vec()).console(std::io::sink()).engine(engine)
}

fn best(runs: usize, mut once: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| once()).fold(f64::INFINITY, f64::min)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "tests/guest/demo.elf".into());
    let jit = args.next().as_deref() == Some("jit");
    let elf = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let runs = 3;
    let alone = best(runs, || {
        let mut machine = config(&elf, jit).build().unwrap();
        let start = Instant::now();
        assert!(matches!(machine.run(None), StopReason::Exit(_)));
        start.elapsed().as_secs_f64()
    });
    println!("{path} ({}): Machine::run {alone:.3} s", if jit { "jit" } else { "interpreter" });
    for step_us in [1, 10, 100] {
        let mut advances = 0;
        let t = best(runs, || {
            let mut cosim =
                CosimBuilder::new(config(&elf, jit)).quantum(SimTime::from_micros(step_us)).build().unwrap();
            let start = Instant::now();
            advances = 0;
            while !matches!(cosim.advance(SimTime::from_micros(step_us)).end, AdvanceEnd::Stopped(_)) {
                advances += 1;
            }
            start.elapsed().as_secs_f64()
        });
        println!(
            "advance in {step_us:>3} us steps: {t:.3} s, {:.3}x ({advances} advances, {:.0} ns each over Machine::run)",
            t / alone,
            (t - alone) / advances.max(1) as f64 * 1e9
        );
    }
}
