//! What tests that need something from outside the repository (QEMU, a C
//! compiler, Debian's firmware, a fetched Linux guest) do when it is
//! missing: say so where a plain `cargo test` shows it, and pass, except
//! under `CI` (set: any value), where it is a failure, since CI installs
//! everything. Shared by the test crates that `mod prerequisites;` it (and
//! by `cosim/tests/c_abi.rs` by path), so that no test skips its own way.

// Each test crate that includes this uses only some of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Whether `tool --version` runs and succeeds.
pub(crate) fn tool_runs(tool: &str) -> bool {
    let status =
        Command::new(tool).arg("--version").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    status.is_ok_and(|status| status.success())
}

/// `test` cannot run because of `why`: under `CI` the test fails here;
/// otherwise a line goes to standard error. It is written to the stream
/// itself, not through `eprintln!`, which the test harness captures and
/// drops for a test that passes.
pub(crate) fn skip(test: &str, why: &str) {
    assert!(std::env::var_os("CI").is_none(), "{test} cannot run on CI: {why}");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Whether `tool` runs; if not, [`skip`]s `test`, saying what provides it.
pub(crate) fn require_tool(tool: &str, provided_by: &str, test: &str) -> bool {
    let runs = tool_runs(tool);
    if !runs {
        skip(test, &format!("{tool} is not installed ({provided_by})"));
    }
    runs
}

/// Whether every file in `paths` exists; if not, [`skip`]s `test`, naming
/// the first one missing and how to get it.
pub(crate) fn require_files(paths: &[&Path], how_to_get_them: &str, test: &str) -> bool {
    match paths.iter().find(|path| !path.exists()) {
        None => true,
        Some(missing) => {
            skip(test, &format!("{} is missing ({how_to_get_them})", missing.display()));
            false
        }
    }
}
