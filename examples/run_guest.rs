//! Embeds polyhart: builds a virt machine around a guest ELF, captures the
//! guest's console in memory instead of printing it, runs it, and reports.
//!
//! ```text
//! cargo run --release --example run_guest -- tests/guest/hello.elf
//! ```

use polyhart::machine::console::CapturedOutput;
use polyhart::machine::{StopReason, VirtConfig, build_virt};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "tests/guest/hello.elf".into());
    let kernel = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let console = CapturedOutput::new();
    let mut machine = build_virt(VirtConfig {
        kernel: Some(kernel),
        console: Some(Box::new(console.clone())),
        ..VirtConfig::default()
    })?;

    let reason = machine.run(Some(10_000_000_000));

    let output = console.bytes();
    println!("guest printed {} bytes:", output.len());
    println!("{}", String::from_utf8_lossy(&output).trim_end());
    let hart = &machine.harts()[0];
    println!(
        "stopped: {reason:?} after {} instructions; pc {:#x}, a0 {:#x}",
        machine.instructions(),
        hart.state().pc,
        hart.state().reg(10)
    );
    if let StopReason::Exit(code) = reason {
        std::process::exit(code);
    }
    Ok(())
}
