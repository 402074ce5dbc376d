//! The `polyhart` command as a user runs it: guest output and exit statuses,
//! and a one-line message with a non-zero status, never a panic or a hang,
//! for every bad input.

mod fdt;
mod prerequisites;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Exit statuses the tool documents (src/main.rs).
const STATUS_ERROR: i32 = 1;
const STATUS_USAGE: i32 = 2;
const STATUS_LIMIT: i32 = 124;
const STATUS_STUCK: i32 = 125;

/// Longer than any of these runs needs by far: past it the tool hangs.
const HANG: Duration = Duration::from_secs(60);

fn guest(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest").join(name)
}

struct Outcome {
    status: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "status {}\n--- stdout\n{}\n--- stderr\n{}", self.status, self.stdout, self.stderr)
    }
}

/// Runs `polyhart ARGS` with no input, killing it if it hangs.
fn polyhart(args: &[&str]) -> Outcome {
    run_polyhart(args, Vec::new())
}

/// Runs `polyhart ARGS`, writing `input` to its standard input after
/// `delay` and then closing it.
fn polyhart_with_input(args: &[&str], delay: Duration, input: &'static [u8]) -> Outcome {
    run_polyhart(args, vec![(delay, input)])
}

/// Runs `polyhart ARGS`, writing each piece of `input` to its standard
/// input after its delay, then closing it (no input: standard input is
/// closed from the start).
fn run_polyhart(args: &[&str], input: Vec<(Duration, &'static [u8])>) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyhart"))
        .args(args)
        .stdin(if input.is_empty() { Stdio::null() } else { Stdio::piped() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the polyhart binary starts");
    if !input.is_empty() {
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            for (delay, bytes) in input {
                std::thread::sleep(delay);
                // polyhart may have exited already: a broken pipe is fine.
                stdin.write_all(bytes).ok();
                stdin.flush().ok();
            }
        });
    }
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            pipe.read_to_end(&mut text).expect("read the pipe");
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for polyhart") {
            break status;
        }
        if started.elapsed() > HANG {
            child.kill().ok();
            child.wait().ok();
            panic!("polyhart {args:?} hung (killed after {HANG:?})");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let outcome = Outcome {
        status: status.code().unwrap_or_else(|| panic!("polyhart {args:?} was killed by a signal: {status}")),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    assert!(!outcome.stderr.contains("panicked"), "polyhart {args:?} panicked: {outcome:?}");
    assert_ne!(outcome.status, 101, "polyhart {args:?} panicked: {outcome:?}");
    outcome
}

/// Checks that the tool refused with exactly one line, `polyhart: ...`,
/// and returns that line.
fn one_line_error(outcome: &Outcome, status: i32) -> &str {
    assert_eq!(outcome.status, status, "{outcome:?}");
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line of explanation: {outcome:?}");
    assert!(lines[0].starts_with("polyhart: "), "{outcome:?}");
    lines[0]
}

/// A usage error from the argument parser: status 2, says what was wrong
/// on its first line, and where to look for help.
fn usage_error(outcome: &Outcome, complaint: &str) {
    assert_eq!(outcome.status, STATUS_USAGE, "{outcome:?}");
    let first = outcome.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: ") && first.contains(complaint), "expected '{complaint}' in: {outcome:?}");
    assert!(outcome.stderr.contains("--help"), "{outcome:?}");
    assert!(outcome.stdout.is_empty(), "{outcome:?}");
}

/// A file under the system's temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(what: &str, contents: &[u8]) -> TempFile {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("polyhart-cli-test-{}-{n}-{what}", std::process::id()));
        std::fs::write(&path, contents).expect("write a temporary file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn expected_output(name: &str) -> String {
    std::fs::read_to_string(guest(&format!("{name}.expected"))).expect("committed expected output")
}

#[test]
fn hello_prints_and_exits_0() {
    let out = polyhart(&["run", "--kernel", path(&guest("hello.elf"))]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(out.stdout, expected_output("hello"));
    assert_eq!(out.stdout, "hello\n");
    assert!(out.stderr.is_empty(), "{out:?}");
}

/// `-serial file:PATH` sends the console to a file, `-serial none` nowhere,
/// as QEMU's `-serial`; a file that cannot be made is a one-line error.
#[test]
fn the_serial_console_goes_where_it_is_told() {
    let file = std::env::temp_dir().join(format!("polyhart-serial-{}.txt", std::process::id()));
    let spec = format!("file:{}", file.display());
    let out = polyhart(&["run", "-serial", &spec, "-kernel", path(&guest("hello.elf"))]);
    assert_eq!((out.status, out.stdout.as_str()), (0, ""), "{out:?}");
    assert_eq!(std::fs::read_to_string(&file).expect("the serial output file"), expected_output("hello"));
    let _ = std::fs::remove_file(&file);
    let out = polyhart(&["run", "--serial", "none", "--kernel", path(&guest("hello.elf"))]);
    assert_eq!((out.status, out.stdout.as_str()), (0, ""), "{out:?}");
    let out = polyhart(&["run", "--serial", "file:/nonexistent-dir/out", "--kernel", path(&guest("hello.elf"))]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(out.stderr.starts_with("polyhart: cannot create the serial output"), "{out:?}");
}

/// A raw program that asks the test finisher for a reset at once:
/// `lui t0, 0x100; lui t1, 0x7; addi t1, t1, 0x777; sw t1, 0(t0); j .`.
const RESET_AT_ONCE: [u32; 5] = [0x0010_02b7, 0x0000_7337, 0x7773_0313, 0x0062_a023, 0x0000_006f];

/// A reset the guest asks for boots it again, as on QEMU: a program that
/// resets at once keeps booting until the instruction limit. With
/// `--no-reboot` (QEMU's `-no-reboot`) the reset ends the run, status 0.
#[test]
fn a_reset_reboots_unless_no_reboot() {
    let bytes: Vec<u8> = RESET_AT_ONCE.iter().flat_map(|word| word.to_le_bytes()).collect();
    let program = TempFile::new("reset.bin", &bytes);
    let out = polyhart(&["run", "--max-insns", "1000", "--kernel", program.path()]);
    assert_eq!(out.status, 124, "rebooted until the limit: {out:?}");
    for no_reboot in ["--no-reboot", "-no-reboot"] {
        let out = polyhart(&["run", no_reboot, "-kernel", program.path()]);
        assert_eq!(out.status, 0, "{out:?}");
        assert!(out.stderr.contains("asked for a reset"), "{out:?}");
    }
}

#[test]
fn the_guest_exit_code_is_the_status() {
    let out = polyhart(&["run", "--kernel", path(&guest("exit_code.elf"))]);
    assert_eq!(out.status, 42, "{out:?}");
    assert_eq!(out.stdout, expected_output("exit_code"));
    assert!(out.stderr.is_empty(), "a guest's own failure is not the tool's: {out:?}");
}

#[test]
fn htif_exit_is_the_status() {
    let out = polyhart(&["run", "--kernel", path(&guest("htif.elf"))]);
    assert_eq!(out.status, 13, "{out:?}");
    assert_eq!(out.stdout, expected_output("htif"));
}

#[test]
fn harts_option_runs_every_hart() {
    let out = polyhart(&["run", "--kernel", path(&guest("multihart.elf")), "--harts", "4", "--stats"]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(out.stdout, expected_output("multihart"));
    for hart in 0..4 {
        assert!(out.stderr.contains(&format!("hart {hart}: ")), "{out:?}");
    }
    assert!(!out.stderr.contains("hart 4: "), "{out:?}");
}

#[test]
fn stats_go_to_stderr() {
    let out = polyhart(&["run", "--kernel", path(&guest("hello.elf")), "--stats"]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(out.stdout, "hello\n", "statistics stay out of the guest's output");
    let hart0 = out.stderr.lines().find(|l| l.starts_with("hart 0: ")).unwrap_or_else(|| panic!("{out:?}"));
    let count: u64 = hart0["hart 0: ".len()..]
        .split_once(" instructions (")
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("'hart 0: N instructions (P% interpreted), ...' expected: {hart0}"));
    assert!(count > 20, "hello runs more than a few instructions: {hart0}");
    for what in ["% interpreted)", "blocks translated", "MIPS", "blocks executed", "jump cache hits", "traps"] {
        assert!(hart0.contains(what), "{what} missing: {hart0}");
    }
    // The interpreter alone retires everything; a JIT that compiles every
    // block at once leaves it what it cannot compile (the CSR accesses).
    let bench = guest("bench_int.elf");
    let share = |engine: &[&str]| {
        let mut args = vec!["run", "--kernel", path(&bench), "--stats"];
        args.extend_from_slice(engine);
        let out = polyhart(&args);
        let line = out.stderr.lines().find(|l| l.starts_with("hart 0: ")).map(str::to_string);
        let line = line.unwrap_or_else(|| panic!("{out:?}"));
        let percent = line.split_once(" instructions (").and_then(|(_, rest)| rest.split_once('%'));
        percent.and_then(|(p, _)| p.parse::<f64>().ok()).unwrap_or_else(|| panic!("{line}"))
    };
    assert_eq!(share(&["--engine", "interp"]), 100.0);
    assert!(share(&["--jit-threshold", "0", "--jit-sync"]) < 1.0);
    let total = out.stderr.lines().find(|l| l.starts_with("total: ")).unwrap_or_else(|| panic!("{out:?}"));
    assert!(total.starts_with(&format!("total: {count} instructions in ")), "one hart: {total}");
}

#[test]
fn instruction_limit_stops_with_124() {
    let out = polyhart(&["run", "--kernel", path(&guest("demo.elf")), "--max-insns", "1000"]);
    let line = one_line_error(&out, STATUS_LIMIT);
    assert_eq!(line, "polyhart: stopped after 1000 instructions (--max-insns)");
}

#[test]
fn a_trap_loop_stops_with_125_and_says_why() {
    let out = polyhart(&["run", "--kernel", path(&guest("jump_unmapped.elf"))]);
    assert_eq!(out.stdout, "jump_unmapped: jumping to 0x200 with mtvec = 0\n", "output before the loop is kept");
    let line = one_line_error(&out, STATUS_STUCK);
    assert_eq!(
        line,
        "polyhart: hart 0 is stuck: InstructionAccessFault (mcause 1) at 0x200 sent it to its trap handler, \
         which takes InstructionAccessFault (mcause 1) at 0x0 again and again, retiring nothing"
    );
}

/// The guest waits in `wfi` for console input, which arrives through the
/// UART's interrupt; its status is the byte it read.
#[test]
fn console_input_wakes_a_waiting_guest() {
    let kernel = guest("console_input.elf");
    let out = polyhart_with_input(&["run", "--kernel", path(&kernel)], Duration::ZERO, b"A");
    assert_eq!((out.status, out.stdout.as_str()), (65, "console_input: waiting for a byte\n"), "{out:?}");
    // Input that comes later, while every hart waits, still wakes it.
    let out = polyhart_with_input(&["run", "--kernel", path(&kernel)], Duration::from_millis(300), b"B");
    assert_eq!(out.status, 66, "{out:?}");
}

/// With no input to come, a guest waiting for it can never be woken.
#[test]
fn waiting_for_input_that_never_comes_is_a_deadlock() {
    for out in [
        polyhart(&["run", "--kernel", path(&guest("console_input.elf"))]),
        polyhart_with_input(&["run", "--kernel", path(&guest("console_input.elf"))], Duration::from_millis(200), b""),
    ] {
        assert_eq!(out.stdout, "console_input: waiting for a byte\n");
        let line = one_line_error(&out, STATUS_STUCK);
        assert_eq!(line, "polyhart: every hart waits for an interrupt that nothing can raise");
    }
}

/// A file that is not an ELF is a raw binary loaded at 0x8000_0000, as with
/// QEMU's `-kernel`: garbage runs as code and must end, not hang.
#[test]
fn a_raw_binary_of_illegal_instructions_ends_in_a_trap_loop() {
    let garbage = TempFile::new("ones.bin", &[0xff; 256]);
    let out = polyhart(&["run", "--kernel", garbage.path()]);
    let line = one_line_error(&out, STATUS_STUCK);
    // The illegal instruction sends it to mtvec = 0, where nothing is mapped.
    assert_eq!(
        line,
        "polyhart: hart 0 is stuck: IllegalInstruction (mcause 2) at 0x80000000 sent it to its trap handler, \
         which takes InstructionAccessFault (mcause 1) at 0x0 again and again, retiring nothing"
    );
}

#[test]
fn a_text_file_as_kernel_ends_and_says_why() {
    let text = TempFile::new("notes.txt", b"This is not a kernel, only some text.\n".repeat(20).as_slice());
    let out = polyhart(&["run", "--kernel", text.path(), "--max-insns", "10000000"]);
    assert!(matches!(out.status, STATUS_LIMIT | STATUS_STUCK), "{out:?}");
    let line = one_line_error(&out, out.status);
    assert!(line.contains("stuck") || line.contains("--max-insns"), "{line}");
}

#[test]
fn a_missing_kernel_file() {
    let out = polyhart(&["run", "--kernel", "/nonexistent/kernel.elf"]);
    let line = one_line_error(&out, STATUS_ERROR);
    assert!(line.starts_with("polyhart: cannot read the kernel '/nonexistent/kernel.elf': "), "{line}");
}

#[test]
fn a_missing_firmware_file() {
    let out = polyhart(&["run", "--bios", "/nonexistent", "--kernel", path(&guest("hello.elf"))]);
    let line = one_line_error(&out, STATUS_ERROR);
    assert!(line.starts_with("polyhart: cannot read the firmware '/nonexistent': "), "{line}");
}

#[test]
fn a_kernel_for_another_architecture() {
    // This test program is an ELF for the host (x86-64, aarch64, ...).
    let host_elf = std::env::current_exe().unwrap();
    let out = polyhart(&["run", "--kernel", path(&host_elf)]);
    let line = one_line_error(&out, STATUS_ERROR);
    assert!(line.starts_with("polyhart: cannot load the kernel: ELF file is for machine type "), "{line}");
    assert!(line.ends_with(", not RISC-V (243)"), "{line}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_truncated_elf() {
    let hello = std::fs::read(guest("hello.elf")).unwrap();
    let cut = TempFile::new("cut.elf", &hello[..100]);
    let out = polyhart(&["run", "--kernel", cut.path()]);
    let line = one_line_error(&out, STATUS_ERROR);
    assert!(line.starts_with("polyhart: cannot load the kernel: malformed ELF file: "), "{line}");
}

#[test]
fn an_elf_that_does_not_fit_in_ram() {
    let out = polyhart(&["run", "--kernel", path(&guest("hello.elf")), "--ram", "4K"]);
    let line = one_line_error(&out, STATUS_ERROR);
    assert!(
        line.starts_with("polyhart: cannot load the kernel: segment at 0x80000000 (")
            && line.ends_with("bytes) lies outside RAM [0x80000000, 0x80001000)"),
        "{line}"
    );
}

#[test]
fn a_device_tree_that_would_overwrite_the_kernel() {
    let out = polyhart(&["run", "--kernel", path(&guest("hello.elf")), "--ram", "2M"]);
    let line = one_line_error(&out, STATUS_ERROR);
    assert!(line.contains("the kernel at [0x80000000, ") && line.contains("overlap in RAM"), "{line}");
}

#[test]
fn nothing_to_run() {
    let out = polyhart(&["run"]);
    assert_eq!(one_line_error(&out, STATUS_ERROR), "polyhart: nothing to run: give a kernel, or firmware");
}

#[test]
fn zero_harts() {
    let out = polyhart(&["run", "--kernel", path(&guest("hello.elf")), "--harts", "0"]);
    let line = one_line_error(&out, STATUS_ERROR);
    assert_eq!(line, "polyhart: 0 harts requested: the virt board supports 1 to 512");
}

#[test]
fn a_ram_size_of_odd_bytes() {
    let out = polyhart(&["run", "--kernel", path(&guest("hello.elf")), "--ram", "1000"]);
    let line = one_line_error(&out, STATUS_ERROR);
    assert!(line.contains("1000 bytes is not usable") && line.contains("multiple of 4 KiB"), "{line}");
}

/// More RAM than the host lends: a one-line error, not an abort. Where the
/// host does lend it (RAM and its side tables are mapped lazily, so this
/// depends on its overcommit policy, not on its memory), the guest runs.
#[test]
fn a_ram_larger_than_the_host_can_provide() {
    for size in ["4T", "16T", "100000T"] {
        let out = polyhart(&["run", "--kernel", path(&guest("hello.elf")), "--ram", size]);
        if out.status == 0 {
            assert_eq!(out.stdout, "hello\n", "{out:?}");
            continue;
        }
        let line = one_line_error(&out, STATUS_ERROR);
        assert!(line.contains("RAM"), "{size}: {line}");
    }
}

#[test]
fn an_unknown_option() {
    usage_error(&polyhart(&["run", "--frobnicate"]), "unexpected argument '--frobnicate'");
}

#[test]
fn a_ram_size_that_is_not_a_size() {
    usage_error(&polyhart(&["run", "--kernel", "k.elf", "--ram", "big"]), "'big' is not a size (try 128M or 1G)");
}

#[test]
fn a_hart_count_that_is_not_a_number() {
    usage_error(&polyhart(&["run", "--kernel", "k.elf", "--harts", "two"]), "invalid value 'two' for '--harts <N>'");
}

#[test]
fn no_subcommand() {
    let out = polyhart(&[]);
    assert_eq!(out.status, STATUS_USAGE, "{out:?}");
    assert!(out.stderr.contains("Usage: polyhart"), "{out:?}");
}

/// The JIT's `--stats` line, where `--stats` printed one.
fn jit_stats_line(out: &Outcome) -> &str {
    out.stderr.lines().find(|l| l.starts_with("jit: ")).unwrap_or_else(|| panic!("no jit line: {out:?}"))
}

/// The number just before `what` in `line`.
fn count_before(line: &str, what: &str) -> u64 {
    let (head, _) = line.split_once(what).unwrap_or_else(|| panic!("'{what}' missing: {line}"));
    let number = head.trim_end().rsplit([' ', '(']).next().unwrap_or_default();
    number.parse().unwrap_or_else(|_| panic!("no count before '{what}': {line}"))
}

#[test]
fn jit_stats_count_compiled_code_and_its_exits() {
    // Compiled on the hart (--jit-sync), so that the counts do not depend on
    // how fast the compiler thread is on a loaded machine.
    let out = polyhart(&["run", "--kernel", path(&guest("demo.elf")), "--engine", "jit", "--jit-sync", "--stats"]);
    assert_eq!((out.status, out.stdout.as_str()), (0, expected_output("demo").as_str()), "{out:?}");
    let line = jit_stats_line(&out);
    assert!(count_before(line, "blocks compiled") > 10, "{line}");
    assert!(count_before(line, "bytes of host code") > 1000, "{line}");
    assert!(count_before(line, "chained to the next block") > 1000, "{line}");
    // Per block and per guest instruction: the median compile time, and
    // the host code one guest instruction became.
    let median = count_before(line, "us a block");
    let number_before = |what: &str| -> f64 {
        let (head, _) = line.split_once(what).unwrap_or_else(|| panic!("'{what}' missing: {line}"));
        head.trim_end().rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
    };
    let compiling = number_before("s compiling");
    assert!(median > 0 && median as f64 <= compiling * 1e6, "{line}");
    assert!(number_before("per guest instruction") > 1.0, "{line}");
    for what in [
        "left to the interpreter",
        "at a block",
        "stopped by the budget or an event",
        "traps",
        "loads and stores made by the interpreter",
    ] {
        count_before(line, what);
    }
    assert!(!line.contains("lockstep") && !line.contains("--jit-range"), "only when asked for: {line}");
}

#[test]
fn a_small_jit_code_limit_retires_generations_and_the_guest_runs_on() {
    // 16 KiB is four blocks' pages: demo's hot blocks fill generation after
    // generation, each dropped and its code freed, and the output stays
    // right.
    let demo = path(&guest("demo.elf")).to_string();
    let args = ["run", "--kernel", &demo, "--engine", "jit", "--jit-threshold", "0", "--jit-sync", "--stats"];
    let out = polyhart(&[&args[..], &["--jit-code-limit", "16K"]].concat());
    assert_eq!((out.status, out.stdout.as_str()), (0, expected_output("demo").as_str()), "{out:?}");
    let line = jit_stats_line(&out);
    let retired = count_before(line, "generations of code retired");
    assert!(retired > 10, "{line}");
    assert_eq!(count_before(line, "freed)"), retired, "a lone hart compiles outside compiled code: {line}");
    // The default limit retires none, and says nothing about it.
    let line = jit_stats_line(&polyhart(&args)).to_string();
    assert!(!line.contains("retired"), "{line}");
    usage_error(
        &polyhart(&["run", "--kernel", &demo, "--engine", "interp", "--jit-code-limit", "1M"]),
        "--jit-code-limit needs the JIT, not --engine interp",
    );
    usage_error(
        &polyhart(&["run", "--kernel", &demo, "--engine", "jit", "--jit-code-limit", "lots"]),
        "'lots' is not a size (try 128M or 1G)",
    );
}

#[test]
fn jit_range_compiles_only_blocks_inside_it() {
    // The reset ROM (at 0x1000) has blocks the JIT compiles (its own, and
    // those after its loads from ROM, which compiled code leaves to the
    // interpreter); hello's own code starts at 0x80000000. Compiled at once
    // (--jit-sync), a block run once is counted even if the program ends
    // right after.
    let hello = path(&guest("hello.elf")).to_string();
    let run = |ranges: &[&str]| {
        let mut args =
            vec!["run", "--kernel", &hello, "--engine", "jit", "--jit-threshold", "0", "--jit-sync", "--stats"];
        for range in ranges {
            args.extend(["--jit-range", range]);
        }
        let out = polyhart(&args);
        assert_eq!((out.status, out.stdout.as_str()), (0, "hello\n"), "{out:?}");
        let line = jit_stats_line(&out).to_string();
        (count_before(&line, "blocks compiled"), count_before(&line, "outside --jit-range"))
    };
    let (none, outside) = run(&["0x2000-0x3000"]);
    assert_eq!(none, 0);
    assert!(outside > 0);
    let (rom, _) = run(&["0x1000-0x2000"]);
    assert!(rom >= 1);
    let (program, outside) = run(&["0x80000000-0x90000000"]);
    assert!(program > 1 && outside > 0, "the reset ROM's block is outside");
    let (both, _) = run(&["0x1000-0x2000", "0x80000000-0x90000000"]);
    assert_eq!(both, rom + program, "ranges add up");
}

#[test]
fn bad_jit_ranges_are_usage_errors() {
    let hello = path(&guest("hello.elf")).to_string();
    for (range, complaint) in [
        ("0x80000000", "'0x80000000' is not a range LO-HI (try 0x80000000-0x80001000)"),
        ("0x2000-0x1000", "'0x2000-0x1000' is empty: LO must be below HI"),
        ("0x80000000-end", "'end' is not an address (try 0x80000000)"),
    ] {
        usage_error(&polyhart(&["run", "--kernel", &hello, "--engine", "jit", "--jit-range", range]), complaint);
    }
    let interp = |option: &[&'static str]| {
        let mut args = vec!["run", "--kernel", hello.as_str(), "--engine", "interp"];
        args.extend_from_slice(option);
        polyhart(&args)
    };
    usage_error(&interp(&["--jit-range", "0-16"]), "--jit-range needs the JIT, not --engine interp");
    usage_error(&interp(&["--jit-lockstep"]), "--jit-lockstep needs the JIT, not --engine interp");
    usage_error(&interp(&["-d", "out_asm"]), "-d out_asm needs the JIT, not --engine interp");
}

#[test]
fn out_asm_shows_guest_and_host_code_of_each_compiled_block() {
    let out = polyhart(&[
        "run",
        "--kernel",
        path(&guest("hello.elf")),
        "--engine",
        "jit",
        "--jit-threshold",
        "0",
        // Compiled before it runs: in the background, hello's blocks might
        // not be compiled before it ends.
        "--jit-sync",
        "-d",
        "out_asm",
    ]);
    assert_eq!((out.status, out.stdout.as_str()), (0, "hello\n"), "{out:?}");
    let header = out
        .stderr
        .lines()
        .find(|l| l.contains("block at 0x80000014: "))
        .unwrap_or_else(|| panic!("a block of hello's start-up code is listed: {out:?}"));
    assert!(header.contains(" guest instructions, ") && header.contains(" bytes of host code at 0x"), "{header}");
    assert!(out.stderr.contains("  0x0000000080000014: addi t0, zero, 8\n"), "guest instructions: {out:?}");
    if cfg!(target_arch = "x86_64") {
        assert!(out.stderr.lines().any(|l| l.trim_end().ends_with(" ret")), "host code, disassembled: {out:?}");
    }
}

#[test]
fn jit_lockstep_checks_blocks_and_finds_none_wrong() {
    let out = polyhart(&[
        "run",
        "--kernel",
        path(&guest("atomics.elf")),
        "--harts",
        "4",
        "--engine",
        "jit",
        "--jit-threshold",
        "0",
        "--jit-lockstep",
        "--stats",
    ]);
    assert_eq!((out.status, out.stdout.as_str()), (0, expected_output("atomics").as_str()), "{out:?}");
    let line = jit_stats_line(&out);
    assert!(count_before(line, "blocks checked") > 100, "{line}");
    count_before(line, "unchecked");
}

/// A block compiled wrong on purpose (the hidden fault injection): lockstep
/// stops the machine there with status 1 and says what differs.
#[test]
fn jit_lockstep_stops_at_a_miscompiled_block() {
    // In hello's start-up code (crt0), the block at 0x80000014 sets up the
    // stack pointer: `addi sp, sp, -2044` at 0x80000020 comes out wrong.
    let out = polyhart(&[
        "run",
        "--kernel",
        path(&guest("hello.elf")),
        "--engine",
        "jit",
        "--jit-threshold",
        "0",
        "--jit-lockstep",
        "--jit-miscompile",
        "0x80000020",
    ]);
    assert_eq!(out.status, STATUS_ERROR, "{out:?}");
    let mut lines = out.stderr.lines();
    assert_eq!(
        lines.next(),
        Some(
            "polyhart: hart 0: --jit-lockstep: the JIT's code for the block at 0x80000014 and the interpreter disagree:"
        ),
        "{out:?}"
    );
    assert!(lines.next().is_some_and(|l| l.starts_with("  sp (x2): compiled 0x")), "{out:?}");
    assert!(out.stderr.contains("block:\n  0x0000000080000014: addi t0, zero, 8\n"), "{out:?}");
    assert!(out.stderr.contains("state the compiled code left:") && out.stderr.contains("state the interpreter left:"));
}

/// The properties of a flattened device tree's `/chosen` node, as numbers
/// (one cell or two): enough to compare where an initrd was put.
fn chosen_numbers(blob: &[u8]) -> std::collections::BTreeMap<String, u64> {
    fdt::parse(blob)
        .into_iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix("/chosen/")?;
            let number = value.iter().fold(0u64, |n, &b| n << 8 | u64::from(b));
            matches!(value.len(), 4 | 8).then(|| (name.to_string(), number))
        })
        .collect()
}

const FW_JUMP: &str = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin";

#[test]
fn a_qemu_command_line_runs() {
    let hello = guest("hello.elf");
    let out = polyhart(&[
        "run",
        "-M",
        "virt",
        "-nographic",
        "-smp",
        "2",
        "-m",
        "256M",
        "-bios",
        "none",
        "-kernel",
        path(&hello),
    ]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(out.stdout, expected_output("hello"));
    let out = polyhart(&["run", "-machine", "type=virt", "-smp", "cpus=2", "-m", "size=64", "-kernel", path(&hello)]);
    assert_eq!(out.stdout, "hello\n", "{out:?}");
}

#[test]
fn other_machines_are_usage_errors() {
    let hello = guest("hello.elf");
    usage_error(&polyhart(&["run", "-M", "sifive_u", "-kernel", path(&hello)]), "invalid value 'sifive_u'");
    usage_error(&polyhart(&["run", "-machine", "virt,aclint=on", "-kernel", path(&hello)]), "invalid value");
}

#[test]
fn dump_dtb_writes_the_tree_with_the_initrd_and_runs_nothing() {
    let initrd = TempFile::new("initrd", &[0x5a; 5000]);
    let dtb = TempFile::new("dump.dtb", b"");
    let hello = guest("hello.elf");
    let out = polyhart(&[
        "run",
        "-M",
        &format!("virt,dumpdtb={}", dtb.path()),
        "-m",
        "256M",
        "-kernel",
        path(&hello),
        "-initrd",
        initrd.path(),
    ]);
    assert_eq!((out.status, out.stdout.as_str(), out.stderr.as_str()), (0, "", ""), "{out:?}");
    let blob = std::fs::read(&dtb.0).expect("the tree was written");
    let chosen = chosen_numbers(&blob);
    assert_eq!(chosen["linux,initrd-start"], 0x8800_0000, "{chosen:x?}");
    assert_eq!(chosen["linux,initrd-end"], 0x8800_0000 + 5000, "{chosen:x?}");

    // Booting with that tree as --dtb runs the guest.
    let tree = TempFile::new("tree.dtb", &std::fs::read(&dtb.0).unwrap());
    let out = polyhart(&["run", "--dtb", tree.path(), "-m", "256M", "--kernel", path(&hello)]);
    assert_eq!((out.status, out.stdout.as_str()), (0, "hello\n"), "{out:?}");
}

#[test]
fn initrds_and_device_trees_that_do_not_fit_or_are_not_are_one_line_errors() {
    let hello = guest("hello.elf");
    let refusal = |option: &str, file: &TempFile| {
        let out = polyhart(&["run", "-kernel", path(&hello), option, file.path()]);
        one_line_error(&out, STATUS_ERROR).to_string()
    };
    let line = refusal("-initrd", &TempFile::new("big-initrd", &vec![1; (64 << 20) + 1]));
    assert!(line.contains("does not fit in RAM at 0x84000000"), "{line}");
    let line = refusal("-initrd", &TempFile::new("initrd-on-the-tree", &vec![1; (62 << 20) + 1]));
    assert!(line.contains("the initrd at [0x84000000, 0x87e00001) and the device tree at [0x87e00000"), "{line}");
    let line = refusal("-dtb", &TempFile::new("not-a-tree.dtb", &[0x42; 100]));
    assert!(line.contains("not a device tree: it starts with 0x42424242"), "{line}");
}

/// polyhart places the initrd where the installed QEMU does, with its
/// `-M virt,dumpdtb` as the witness (QEMU 7.2 writes one cell, later ones
/// two: the numbers are compared).
#[test]
fn the_initrd_goes_where_qemu_puts_it() {
    let what = "the initrd placement comparison with QEMU";
    if !prerequisites::require_tool("qemu-system-riscv64", "Debian's qemu-system-misc", what) {
        return;
    }
    let initrd = TempFile::new("qemu-initrd", &[0xa5; 5000]);
    let raw_kernel = TempFile::new("raw-kernel", &[0x6f, 0, 0, 0]);
    let hello = guest("hello.elf");
    let mut cases = vec![("none", path(&hello))];
    if prerequisites::require_files(&[Path::new(FW_JUMP)], "Debian's opensbi", &format!("{what}, with firmware")) {
        cases.push((FW_JUMP, raw_kernel.path()));
    }
    for (bios, kernel) in cases {
        for ram in ["128M", "256M", "512M"] {
            let ours = TempFile::new("ours.dtb", b"");
            let theirs = TempFile::new("qemu.dtb", b"");
            let args = ["-m", ram, "-bios", bios, "-kernel", kernel, "-initrd", initrd.path()];
            let out = polyhart(&[&["run", "-M", &format!("virt,dumpdtb={}", ours.path())][..], &args].concat());
            assert_eq!(out.status, 0, "{out:?}");
            let qemu = Command::new("qemu-system-riscv64")
                .args(["-M", &format!("virt,dumpdtb={}", theirs.path()), "-nographic"])
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("QEMU runs");
            assert!(qemu.status.success(), "QEMU: {}", String::from_utf8_lossy(&qemu.stderr));
            let (ours, theirs) =
                (chosen_numbers(&std::fs::read(&ours.0).unwrap()), chosen_numbers(&std::fs::read(&theirs.0).unwrap()));
            for property in ["linux,initrd-start", "linux,initrd-end"] {
                assert_eq!(ours.get(property), theirs.get(property), "{property} with -m {ram} -bios {bios}");
            }
            assert!(ours.contains_key("linux,initrd-start"), "{ours:x?}");
        }
    }
}

/// The instruction count of `hart 0:` in `--stats` output.
fn instructions(stderr: &str) -> u64 {
    let line = stderr.lines().find(|l| l.starts_with("hart 0: ")).unwrap_or_else(|| panic!("{stderr}"));
    line["hart 0: ".len()..].split_once(' ').and_then(|(n, _)| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn a_recorded_deterministic_run_replays_bit_for_bit() {
    let log = TempFile::new("input.log", b"");
    let echo = guest("echo.elf");
    let args = |mode: &'static str| ["run", "--deterministic", "--stats", mode, log.path(), "--kernel", path(&echo)];
    // Typed with pauses: where the lines land in simulated time depends on
    // the host, and shows in the mcycle the guest prints.
    let typed: Vec<(Duration, &'static [u8])> = vec![
        (Duration::from_millis(100), b"hello\n"),
        (Duration::from_millis(150), b"world\n"),
        (Duration::from_millis(100), b"q"),
    ];
    let recorded = run_polyhart(&args("--record"), typed);
    assert_eq!(recorded.status, 0, "{recorded:?}");
    assert!(recorded.stdout.contains("hello @") && recorded.stdout.contains("world @"), "{recorded:?}");
    let recording = std::fs::read_to_string(log.path()).unwrap();
    assert!(recording.starts_with("polyhart console input 1\n"), "{recording}");
    // Replayed with no input at all: the same output, cycle for cycle, and
    // the same instruction count.
    let replayed = polyhart(&args("--replay"));
    assert_eq!(replayed.status, 0, "{replayed:?}");
    assert_eq!(replayed.stdout, recorded.stdout);
    assert_eq!(instructions(&replayed.stderr), instructions(&recorded.stderr));
}

#[test]
fn record_and_replay_refuse_what_they_cannot_repeat() {
    let echo = guest("echo.elf");
    let log = TempFile::new("input.log", b"not a recording\n");
    let outcome = polyhart(&["run", "--replay", log.path(), "--kernel", path(&echo)]);
    let line = one_line_error(&outcome, STATUS_ERROR);
    assert!(line.contains("--deterministic"), "{line}");
    let outcome = polyhart(&["run", "--deterministic", "--replay", log.path(), "--kernel", path(&echo)]);
    let line = one_line_error(&outcome, STATUS_ERROR);
    assert!(line.contains("line 1") && line.contains("--record"), "{line}");
    let missing = polyhart(&["run", "--deterministic", "--replay", "/nonexistent/input.log", "--kernel", path(&echo)]);
    assert!(one_line_error(&missing, STATUS_ERROR).contains("cannot read"), "{missing:?}");
    let both = polyhart(&["run", "--record", "a", "--replay", "b", "--kernel", path(&echo)]);
    usage_error(&both, "cannot be used with");
}

#[test]
fn a_run_saved_at_its_limit_or_at_a_marker_goes_on_from_the_snapshot() {
    let dir = std::env::temp_dir().join(format!("polyhart-cli-snapshot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let snapshot = dir.join("atomics.snap");
    let atomics = guest("atomics.elf");
    let base = ["run", "--kernel", path(&atomics), "-smp", "4", "--deterministic"];
    let whole = polyhart(&base);
    assert_eq!(whole.status, 0, "{whole:?}");
    assert_eq!(whole.stdout, expected_output("atomics"), "{whole:?}");
    let with = |extra: &[&str]| polyhart(&[&base[..], extra].concat());
    // Cut by the instruction limit, then by a line the guest prints.
    let marker = whole.stdout.lines().nth(2).expect("a third line").to_string();
    let cuts: [(Vec<&str>, i32); 2] =
        [(vec!["--max-insns", "6000000"], STATUS_LIMIT), (vec!["--snapshot-when", marker.as_str()], 0)];
    for (cut, status) in cuts {
        let first = with(&[&cut[..], &["--snapshot-save", path(&snapshot)]].concat());
        assert_eq!(first.status, status, "{first:?}");
        assert!(first.stderr.contains("saved the machine to"), "{first:?}");
        assert!(!first.stdout.is_empty() && first.stdout.len() < whole.stdout.len(), "{first:?}");
        let rest = with(&["--snapshot-load", path(&snapshot)]);
        assert_eq!(rest.status, 0, "{rest:?}");
        assert_eq!(format!("{}{}", first.stdout, rest.stdout), whole.stdout, "cut by {cut:?}: {first:?}\n{rest:?}");
    }
    // Another machine, or no snapshot at all: one line, status 1.
    let other = polyhart(&["run", "--kernel", path(&atomics), "-smp", "2", "--snapshot-load", path(&snapshot)]);
    assert!(one_line_error(&other, STATUS_ERROR).contains("2 harts"), "{other:?}");
    std::fs::write(&snapshot, b"not a snapshot").expect("written");
    let bad = with(&["--snapshot-load", path(&snapshot)]);
    assert!(one_line_error(&bad, STATUS_ERROR).contains("not a polyhart snapshot"), "{bad:?}");
    let _ = std::fs::remove_dir_all(dir);
}
