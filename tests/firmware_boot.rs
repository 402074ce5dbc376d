//! Debian's OpenSBI and U-Boot boot on the virt board, as they do on QEMU:
//! OpenSBI's banner names every hart, U-Boot reaches its prompt and answers
//! commands typed on the UART, interpreted and with every block compiled.
//! Runs when the `opensbi` and `u-boot-qemu` packages are installed
//! (`.ci/run` installs them); otherwise says so and passes, except under
//! `CI`, where it fails (see `tests/prerequisites`).

mod prerequisites;

use std::path::Path;

use polyhart::machine::console::CapturedOutput;
use polyhart::machine::runner::Scheduling;
use polyhart::machine::{Engine, JitConfig};
use polyhart::machine::{Machine, StopReason, VirtConfig, build_virt};

const OPENSBI: &str = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin";
const UBOOT: &str = "/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin";

/// Instructions per slice between looks at the console.
const SLICE: u64 = 20_000_000;

struct Session {
    machine: Machine,
    console: CapturedOutput,
    /// How much of the output the last wait consumed.
    seen: usize,
}

impl Session {
    /// Runs until `needle` appears in output not seen before, within
    /// `budget` instructions in all harts.
    fn wait_for(&mut self, needle: &str, budget: u64) -> String {
        let mut spent = 0;
        loop {
            let output = String::from_utf8_lossy(&self.console.bytes()).into_owned();
            if let Some(at) = output[self.seen..].find(needle) {
                let end = self.seen + at + needle.len();
                let text = output[self.seen..end].to_string();
                self.seen = end;
                return text;
            }
            let tail: String = output.chars().rev().take(2000).collect::<Vec<_>>().into_iter().rev().collect();
            assert!(spent < budget, "no '{needle}' after {spent} instructions; output ends with:\n{tail}");
            let reason = self.machine.run(Some(SLICE));
            assert_eq!(reason, StopReason::InstructionLimit, "the machine stopped; output ends with:\n{tail}");
            spent += SLICE;
        }
    }

    fn type_line(&mut self, line: &str) {
        self.machine.board().uart().receive(format!("{line}\n").as_bytes());
    }
}

fn boot(harts: usize) {
    boot_with(VirtConfig { harts, ..VirtConfig::default() });
}

/// Boots to U-Boot's prompt, runs a few commands and checks their output;
/// returns the whole console output and the number of blocks compiled
/// (`None` when the firmware is missing).
fn boot_with(config: VirtConfig) -> Option<(Vec<u8>, u64)> {
    let firmware = [Path::new(OPENSBI), Path::new(UBOOT)];
    if !prerequisites::require_files(&firmware, "Debian's opensbi and u-boot-qemu", "the firmware boot test") {
        return None;
    }
    let harts = config.harts;
    let console = CapturedOutput::new();
    let machine = build_virt(VirtConfig {
        ram_size: 256 << 20,
        firmware: Some(std::fs::read(OPENSBI).expect("OpenSBI is readable")),
        kernel: Some(std::fs::read(UBOOT).expect("U-Boot is readable")),
        console: Some(Box::new(console.clone())),
        ..config
    })
    .expect("the board builds");
    let mut session = Session { machine, console, seen: 0 };
    // Spinning secondary harts share the host thread, so more harts need
    // proportionally more instructions.
    let budget = 1_500_000_000 * harts as u64;

    let banner = session.wait_for("Boot HART MEDELEG", budget);
    assert!(banner.contains("OpenSBI v"), "{banner}");
    assert!(banner.contains(&format!("Platform HART Count       : {harts}")), "{banner}");
    assert!(banner.contains("Domain0 Next Mode         : S-mode"), "{banner}");

    session.wait_for("Hit any key to stop autoboot", budget);
    session.type_line("");
    session.wait_for("=> ", budget);

    session.type_line("version");
    let version = session.wait_for("=> ", budget);
    assert!(version.contains("U-Boot 20"), "{version}");

    session.type_line("bdinfo");
    let info = session.wait_for("=> ", budget);
    assert!(info.contains("-> start    = 0x0000000080000000"), "{info}");
    assert!(info.contains("-> size     = 0x0000000010000000"), "{info}");

    // U-Boot was loaded at 0x8020_0000; its first word is code it did not
    // overwrite (it relocates itself to the end of RAM).
    session.type_line("md.l 0x80200000 4");
    let dump = session.wait_for("=> ", budget);
    assert!(dump.contains("80200000:"), "{dump}");
    let stats = session.machine.jit_stats().unwrap_or_default();
    Some((session.console.bytes(), stats.blocks_compiled))
}

/// The JIT compiles every block at its first run (OpenSBI's M-mode code,
/// U-Boot's S-mode code with PMP checking its accesses, the trap handlers)
/// and the boot is the same to the byte as the interpreter's: in
/// deterministic mode each run is one exact sequence of instructions, so
/// any difference in a single result would show in the output or its timing.
#[test]
fn opensbi_and_u_boot_compiled_agree_with_the_interpreter() {
    let config =
        |engine| VirtConfig { harts: 2, scheduling: Scheduling::Deterministic, engine, ..VirtConfig::default() };
    let Some((interpreted, _)) = boot_with(config(Engine::Interpreter)) else { return };
    let (compiled, blocks) = boot_with(config(Engine::Jit(JitConfig::new(0)))).expect("the firmware is there");
    assert!(blocks > 1000, "{blocks} blocks compiled");
    assert!(compiled == interpreted, "the compiled boot's output differs:\n{}", String::from_utf8_lossy(&compiled));
}

#[test]
fn opensbi_and_u_boot_on_one_hart() {
    boot(1);
}

#[test]
fn opensbi_and_u_boot_on_two_harts() {
    boot(2);
}

#[test]
fn opensbi_and_u_boot_on_four_harts() {
    boot(4);
}

#[test]
fn opensbi_and_u_boot_on_eight_harts() {
    boot(8);
}
