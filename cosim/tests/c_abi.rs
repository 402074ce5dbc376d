//! The C ABI as C sees it: `cosim/include/polyhart.h` declares exactly the
//! functions `cosim/src/capi.rs` exports, lays out its structures the same
//! way, and a C program built against the header and the static library
//! runs the cosim guest program end to end. Without a C compiler the last
//! says so and passes, except under `CI`, where it fails.

#[path = "../../tests/prerequisites/mod.rs"]
mod prerequisites;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use polyhart_cosim::capi::{polyhart_advance_result, polyhart_transaction};

const HEADER: &str = include_str!("../include/polyhart.h");
const SOURCE: &str = include_str!("../src/capi.rs");

/// Names followed by `(` that start with `polyhart_`, in declarations.
fn declared(text: &str, marker: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| line.contains(marker))
        .filter_map(|line| {
            let at = line.find(marker)? + marker.len();
            let rest = &line[at..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            rest[name.len()..].starts_with('(').then(|| format!("polyhart_{name}"))
        })
        .collect()
}

#[test]
fn the_header_declares_exactly_the_exported_functions() {
    let exported = declared(SOURCE, "extern \"C\" fn polyhart_");
    // In the header, a declaration names the function after its return type.
    let in_header: BTreeSet<String> = declared(HEADER, " polyhart_")
        .into_iter()
        .chain(declared(HEADER, "*polyhart_"))
        .filter(|name| !name.ends_with("_fn"))
        .collect();
    assert!(exported.len() >= 25, "{exported:?}");
    assert_eq!(in_header, exported, "polyhart.h and capi.rs disagree");
    // Every status the Rust enum has, the header has, with its value.
    for (name, value) in [
        ("POLYHART_OK", 0),
        ("POLYHART_ERR_NULL", 1),
        ("POLYHART_ERR_INVALID", 2),
        ("POLYHART_ERR_BUILD", 3),
        ("POLYHART_ERR_IO", 4),
        ("POLYHART_ERR_PANIC", 5),
        ("POLYHART_ERR_BUSY", 6),
        ("POLYHART_ERR_POISONED", 7),
    ] {
        assert!(HEADER.contains(&format!("{name} = {value}")), "{name}");
        assert!(SOURCE.contains(&format!("{name} = {value}")), "{name}");
    }
}

fn target_dir() -> PathBuf {
    // target/debug/deps/c_abi-HASH: the libraries are in target/debug.
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

#[test]
fn a_c_program_runs_the_guest_through_the_header_and_the_static_library() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let profile = target_dir().file_name().unwrap().to_string_lossy().into_owned();
    let own_target = target_dir().parent().unwrap().join("c-abi");
    let library = own_target.join(&profile).join("libpolyhart_cosim.a");
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    if !prerequisites::require_tool(&compiler, "a C compiler: $CC, or cc", "the C program against the C ABI") {
        return;
    }
    // `cargo test` builds the crate as an rlib only: build the static
    // library of the same sources and profile, in a target directory of its
    // own (a build in the test run's own would replace artifacts the rest of
    // the run still uses; features unify differently without the tests).
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["build", "--quiet", "-p", "polyhart-cosim", "--lib"]).current_dir(manifest);
    cargo.env("CARGO_TARGET_DIR", &own_target);
    if profile == "release" {
        cargo.arg("--release");
    }
    let status = cargo.status().unwrap();
    assert!(status.success() && library.exists(), "building {} failed", library.display());
    let out = std::env::temp_dir().join(format!("polyhart-smoke-{}", std::process::id()));
    let built = Command::new(&compiler)
        .arg("-std=c11")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(manifest.join("include"))
        .arg(manifest.join("tests/c/smoke.c"))
        .arg(&library)
        .args(["-lpthread", "-ldl", "-lm", "-lrt", "-lutil", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let guest = manifest.join("../tests/guest/cosim.elf");
    let run = Command::new(&out).arg(&guest).output().unwrap();
    let _ = std::fs::remove_file(&out);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));

    let field = |prefix: &str| -> Vec<u64> {
        let line = stdout.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}: {stdout}"));
        line[prefix.len()..].split_whitespace().map(|n| n.parse().unwrap()).collect()
    };
    use std::mem::{offset_of, size_of};
    assert_eq!(
        field("layout advance_result "),
        [
            size_of::<polyhart_advance_result>(),
            offset_of!(polyhart_advance_result, end),
            offset_of!(polyhart_advance_result, hart),
            offset_of!(polyhart_advance_result, stop),
            offset_of!(polyhart_advance_result, exit_code),
            offset_of!(polyhart_advance_result, time_ps),
        ]
        .map(|n| n as u64)
    );
    assert_eq!(
        field("layout transaction "),
        [
            size_of::<polyhart_transaction>(),
            offset_of!(polyhart_transaction, command),
            offset_of!(polyhart_transaction, hart),
            offset_of!(polyhart_transaction, address),
            offset_of!(polyhart_transaction, data),
            offset_of!(polyhart_transaction, size),
            offset_of!(polyhart_transaction, byte_enables),
            offset_of!(polyhart_transaction, sync),
            offset_of!(polyhart_transaction, delay_ps),
        ]
        .map(|n| n as u64)
    );
    let summary = stdout.lines().find(|l| l.starts_with("stop ")).unwrap();
    assert!(summary.starts_with("stop 0 exit 0 "), "{summary}");
    assert!(summary.contains("now_matches 1"), "{summary}");
    let console = &stdout[stdout.find("console:\n").unwrap() + "console:\n".len()..];
    assert!(console.starts_with("cosim: hello from the guest\n"), "{console}");
    assert!(console.contains("load fault: cause 5 tval 0x20003000\n"), "{console}");
    assert!(console.contains("alarm: source 32, not early: yes\n"), "{console}");
    assert!(console.ends_with("cosim: done\n"), "{console}");
}
