//! Debian's `gdb-multiarch` in batch mode against polyhart's GDB stub,
//! for the test crates that `mod gdb_client;` it (`tests/gdb.rs`,
//! `tests/linux_boot.rs`).

// Each test crate that includes this uses only some of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

use crate::prerequisites;

const GDB: &str = "gdb-multiarch";

/// Runs GDB in batch mode against the stub at `address` (with `elf`'s
/// symbols), with `commands`, and Ctrl-C (SIGINT, which GDB sends on to the
/// stub) after `interrupt_after` if given: its output.
pub(crate) fn run(address: &str, elf: Option<&Path>, commands: &[&str], interrupt_after: Option<Duration>) -> String {
    let mut command = Command::new(GDB);
    command.args(["-batch", "-nx", "-ex", "set confirm off", "-ex", "set pagination off"]);
    if let Some(elf) = elf {
        command.arg("-ex").arg(format!("file {}", elf.display()));
    }
    command.arg("-ex").arg(format!("target remote {address}"));
    for line in commands {
        command.args(["-ex", line]);
    }
    let child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("gdb runs");
    if let Some(delay) = interrupt_after {
        std::thread::sleep(delay);
        let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
        assert!(status.success(), "GDB got its Ctrl-C");
    }
    let output = child.wait_with_output().expect("gdb ends");
    let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    // A command cut short by Ctrl-C makes GDB's batch status a failure.
    assert!(output.status.success() || interrupt_after.is_some(), "gdb failed:\n{text}");
    text
}

/// The value GDB printed for history entry `$n` (`$n = VALUE`).
pub(crate) fn printed(output: &str, n: usize) -> String {
    let prefix = format!("${n} = ");
    let line =
        output.lines().find(|line| line.starts_with(&prefix)).unwrap_or_else(|| panic!("no {prefix} in:\n{output}"));
    line[prefix.len()..].trim().to_string()
}

pub(crate) fn hex(text: &str) -> u64 {
    u64::from_str_radix(text.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("{text} is not hex"))
}

pub(crate) fn have_gdb(test: &str) -> bool {
    prerequisites::require_tool(GDB, "Debian package gdb-multiarch", test)
}

/// Starts `command` (`polyhart run ... --gdb tcp::0 -S`) with its standard
/// error piped: the process, where it listens (its first line says), and
/// the rest of its standard error.
pub(crate) fn start_held(command: &mut Command) -> (Child, String, BufReader<ChildStderr>) {
    let mut child = command.stdin(Stdio::null()).stderr(Stdio::piped()).spawn().expect("polyhart starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("polyhart says where it listens");
    let address = line
        .trim()
        .strip_prefix("polyhart: waiting for GDB on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    (child, address, stderr)
}
