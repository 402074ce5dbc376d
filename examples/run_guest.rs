//! Embeds polyhart: builds a virt machine around a guest ELF, captures the
//! guest's console in memory instead of printing it, runs it, and reports.
//!
//! ```text
//! cargo run --release --example run_guest -- tests/guest/hello.elf
//! ```

use std::io::Write;
use std::sync::{Arc, Mutex};

use polyhart::machine::{StopReason, VirtConfig, build_virt};

/// A console sink the embedding program can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "tests/guest/hello.elf".into());
    let kernel = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let console = Captured::default();
    let mut machine = build_virt(VirtConfig {
        kernel: Some(kernel),
        console: Some(Box::new(console.clone())),
        ..VirtConfig::default()
    })?;

    let reason = machine.run(Some(10_000_000_000));

    let output = console.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!("guest printed {} bytes:", output.len());
    println!("{}", String::from_utf8_lossy(&output).trim_end());
    let hart = &machine.harts()[0];
    println!(
        "stopped: {reason:?} after {} instructions; pc {:#x}, a0 {:#x}",
        machine.instructions(),
        hart.state.pc,
        hart.state.reg(10)
    );
    if let StopReason::Exit(code) = reason {
        std::process::exit(code);
    }
    Ok(())
}
