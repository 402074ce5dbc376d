//! Embeds a four-hart machine: each hart on its own host thread, run in
//! budgets of instructions, watched and stopped from another thread, its
//! harts' state read between runs.
//!
//! ```text
//! cargo run --release --example multicore -- tests/guest/atomics.elf
//! ```

use std::time::Duration;

use polyhart::machine::console::CapturedOutput;
use polyhart::machine::runner::Scheduling;
use polyhart::machine::{StopReason, VirtConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "tests/guest/atomics.elf".into());
    let kernel = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let console = CapturedOutput::new();
    let mut machine = VirtConfig::new()
        .harts(4)
        .kernel(kernel)
        .console(console.clone())
        .scheduling(Scheduling::Parallel)
        .quantum(10_000)
        .build()?;

    // A watchdog on another thread: stops the machine if it runs too long.
    let stop = machine.stop_signal().clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        stop.request(StopReason::Stopped);
    });

    // Run in budgets of 50 million instructions, looking at the harts
    // between budgets.
    let reason = loop {
        match machine.run(Some(50_000_000)) {
            StopReason::InstructionLimit => {
                let pcs: Vec<String> = machine.harts().iter().map(|h| format!("{:#x}", h.state().pc)).collect();
                println!("after {} instructions the harts are at {}", machine.instructions(), pcs.join(", "));
            }
            reason => break reason,
        }
    };

    print!("{}", String::from_utf8_lossy(&console.bytes()));
    for (id, hart) in machine.harts().iter().enumerate() {
        println!(
            "hart {id}: {} instructions, pc {:#x}, a0 {:#x}",
            hart.state().retired,
            hart.state().pc,
            hart.state().reg(10)
        );
    }
    println!("stopped: {reason:?}");
    Ok(())
}
