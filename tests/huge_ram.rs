//! A machine with a huge RAM costs little host memory until the guest
//! touches it, and one the host cannot lend is an error, never an abort.
//! Alone in its test binary, so that no other test's allocations move the
//! resident size it measures.

use std::path::PathBuf;

use polyhart::machine::boards::virt::BuildError;
use polyhart::machine::{StopReason, VirtConfig, build_virt};

fn elf(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest").join(format!("{name}.elf"));
    std::fs::read(path).expect("the ELF is committed")
}

/// This process's resident memory in kB (Linux), from `/proc/self/status`.
fn resident_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..].split_whitespace().next()?.parse().ok()
}

/// Builds and runs `hello` with `ram_size` bytes of RAM; returns the build
/// error if there was one, and checks the resident size otherwise.
fn hello_with_ram(ram_size: u64) -> Option<BuildError> {
    let before = resident_kb();
    let config = VirtConfig {
        ram_size,
        kernel: Some(elf("hello")),
        console: Some(Box::new(std::io::sink())),
        ..Default::default()
    };
    let mut machine = match build_virt(config) {
        Ok(machine) => machine,
        Err(error) => return Some(error),
    };
    assert_eq!(machine.run(Some(10_000_000)), StopReason::Exit(0));
    if let (Some(before), Some(after)) = (before, resident_kb()) {
        // Eagerly built, the side tables alone would be RAM / 64 and
        // 8 bytes a page: 18 GiB for 1 TiB.
        assert!(after < before + 256 * 1024, "{ram_size} bytes of RAM: resident {before} kB, then {after} kB");
    }
    None
}

#[test]
fn a_huge_ram_costs_little_until_touched_or_is_refused() {
    for ram_size in [1 << 40, 1 << 42, 1 << 46] {
        if let Some(error) = hello_with_ram(ram_size) {
            let message = error.to_string();
            assert!(message.contains(&ram_size.to_string()), "{ram_size}: {message}");
        }
    }
}
