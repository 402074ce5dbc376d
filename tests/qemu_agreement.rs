//! polyhart and QEMU agree on every guest program marked `QEMU yes` in
//! `tests/guest/manifest.txt`: same output, same exit status. Runs
//! `scripts/compare-qemu.sh` on the built binary; without
//! `qemu-system-riscv64` (or `$QEMU`) it says so and passes, except under
//! `CI`, where it fails (see `tests/prerequisites`).

mod prerequisites;

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How many programs the script should compare.
fn programs_on_qemu() -> usize {
    let manifest = std::fs::read_to_string(root().join("tests/guest/manifest.txt")).unwrap();
    manifest
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter(|line| line.split_whitespace().nth(3) == Some("yes"))
        .count()
}

#[test]
fn polyhart_matches_qemu() {
    let qemu = std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-riscv64".into());
    if !prerequisites::require_tool(&qemu, "Debian's qemu-system-misc", "the comparison with QEMU") {
        return;
    }

    let output = Command::new("sh")
        .arg(root().join("scripts/compare-qemu.sh"))
        .arg(env!("CARGO_BIN_EXE_polyhart"))
        .stdin(Stdio::null())
        .output()
        .expect("sh runs the comparison script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}{stderr}");
    assert!(output.status.success(), "polyhart and QEMU differ:\n{stdout}{stderr}");
    let expected = format!("all {} program(s) match QEMU", programs_on_qemu());
    assert!(stdout.contains(&expected), "expected '{expected}':\n{stdout}");
}
