//! The GDB stub end to end: Debian's `gdb-multiarch` in batch mode drives
//! `polyhart run --gdb tcp::0 -S` on `tests/guest/debug.elf`. What GDB
//! prints is checked against the ELF (symbols and code bytes, read here
//! with the `object` crate), the ISA's semantics and QEMU's output for the
//! program (`tests/guest/debug.expected`). Without gdb-multiarch the tests
//! say so, and fail under `CI` (see `tests/prerequisites`).

mod gdb_client;
mod prerequisites;

use gdb_client::{have_gdb, hex, printed};

use std::io::Write;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use object::{Object, ObjectSection, ObjectSymbol};

fn guest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest/debug.elf")
}

fn elf() -> Vec<u8> {
    std::fs::read(guest()).expect("the guest ELF is committed")
}

/// The address of symbol `name` in the guest.
fn symbol(name: &str) -> u64 {
    let bytes = elf();
    let file = object::File::parse(&*bytes).expect("an ELF");
    file.symbols().find(|s| s.name() == Ok(name)).map(|s| s.address()).unwrap_or_else(|| panic!("no symbol {name}"))
}

/// The little-endian 32-bit word of code at `addr`.
fn code_word(addr: u64) -> u32 {
    let bytes = elf();
    let file = object::File::parse(&*bytes).expect("an ELF");
    let text = file.section_by_name(".text").expect("a .text section");
    let data = text.data().expect("its bytes");
    let at = (addr - text.address()) as usize;
    u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}

/// GDB in batch mode on the guest's ELF against `polyhart`: its output.
fn gdb(polyhart: &Polyhart, commands: &[&str]) -> String {
    gdb_client::run(&polyhart.address, Some(&guest()), commands, None)
}

/// [`gdb`], with Ctrl-C after `interrupt_after`.
fn gdb_interrupted(polyhart: &Polyhart, commands: &[&str], interrupt_after: Option<Duration>) -> String {
    gdb_client::run(&polyhart.address, Some(&guest()), commands, interrupt_after)
}

/// `polyhart run` holding the harts for GDB, and the address it listens on.
struct Polyhart {
    child: Child,
    address: String,
    stderr: BufReader<std::process::ChildStderr>,
}

impl Polyhart {
    fn start(harts: usize) -> Polyhart {
        Polyhart::start_with(&["-smp", &harts.to_string()], &guest())
    }

    /// `polyhart run ARGS --gdb tcp::0 -S -kernel KERNEL`.
    fn start_with(args: &[&str], kernel: &Path) -> Polyhart {
        let mut command = Command::new(env!("CARGO_BIN_EXE_polyhart"));
        command.arg("run").args(args).args(["--gdb", "tcp::0", "-S", "--serial", "stdio", "-kernel"]).arg(kernel);
        let (child, address, stderr) = gdb_client::start_held(command.stdout(Stdio::piped()));
        Polyhart { child, address, stderr }
    }

    /// Waits (at most a minute) for the process to end: its exit status,
    /// standard output and the rest of standard error.
    fn finish(mut self) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("polyhart did not end after the session");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        self.child.stdout.take().expect("piped").read_to_string(&mut out).expect("stdout");
        let mut err = String::new();
        self.stderr.read_to_string(&mut err).expect("stderr");
        (status, out, err)
    }
}

#[test]
fn gdb_breaks_steps_and_reads_registers_memory_and_threads_then_detaches() {
    if !have_gdb("the GDB session test") {
        return;
    }
    let (mix, spin) = (symbol("mix"), symbol("spin"));
    let polyhart = Polyhart::start(4);
    let output = gdb(
        &polyhart,
        &[
            "info threads",
            "break *mix",
            "continue",
            "print/x $pc",
            "print/x $a0",
            "stepi",
            "print/x $pc",
            "print/x $a5",
            "x/1xw mix",
            "print $priv",
            "print/x $mhartid",
            "print/x $misa",
            "set var $t6 = 0x1234",
            "print/x $t6",
            "print/x $ft0",
            "delete",
            "break *spin",
            "continue",
            "info threads",
            "monitor info harts",
            "monitor xp 0x80000000 4",
            "delete",
            "detach",
        ],
    );
    // Four harts, four threads, all held at the reset vector.
    let threads = output.lines().filter(|line| line.contains("Thread 1.")).count();
    assert!(threads >= 4, "four threads listed:\n{output}");
    assert!(output.contains("Breakpoint 1, 0x") && output.contains("in mix ()"), "stopped in mix:\n{output}");
    assert_eq!(hex(&printed(&output, 1)), mix, "{output}");
    let a0 = hex(&printed(&output, 2));
    // `srli a5, a0, 7` ran: one instruction, four bytes.
    assert_eq!(hex(&printed(&output, 3)), mix + 4, "{output}");
    assert_eq!(hex(&printed(&output, 4)), a0 >> 7, "{output}");
    let word = format!("0x{:08x}", code_word(mix));
    assert!(output.lines().any(|line| line.contains("<mix>:") && line.contains(&word)), "code {word}:\n{output}");
    assert_eq!(printed(&output, 5), "3", "M-mode: {output}");
    assert_eq!(hex(&printed(&output, 6)), 0, "{output}");
    let misa = hex(&printed(&output, 7));
    // RV64 (MXL 2) with I, M, A, F, D, C, S and U (the privileged spec's letters).
    let letters = "IMAFDCSU".bytes().map(|letter| 1u64 << (letter - b'A')).fold(0, |all, bit| all | bit);
    assert_eq!((misa >> 62, misa & letters), (2, letters), "misa {misa:#x}");
    assert_eq!(hex(&printed(&output, 8)), 0x1234, "{output}");
    assert!(printed(&output, 9).contains("double"), "f registers as GDB's riscv_double: {output}");
    // A secondary hart (one of 2-4, GDB threads 2-4) reached spin.
    let hit = output.lines().find(|line| line.contains("hit Breakpoint 2")).unwrap_or_else(|| panic!("{output}"));
    assert!(["Thread 2 ", "Thread 3 ", "Thread 4 "].iter().any(|t| hit.contains(t)), "{hit}");
    assert!(output.contains(&format!("{spin:#x}")) || output.contains(&format!("{spin:#018x}")), "{output}");
    assert!(output.contains("hart 3 (thread 4): pc 0x"), "monitor info harts:\n{output}");
    let first = code_word(0x8000_0000).to_le_bytes();
    let bytes = first.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
    assert!(output.contains(&format!("0x0000000080000000: {bytes}")), "monitor xp shows {bytes}:\n{output}");
    // Detached, the guest runs to its end as on QEMU; t6 was the debugger's
    // to change (a temporary the program does not read).
    let (status, out, err) = polyhart.finish();
    assert_eq!(status, Some(0), "{err}");
    assert_eq!(out, include_str!("guest/debug.expected"), "{err}");
}

#[test]
fn gdb_interrupts_a_running_guest_writes_its_memory_and_kills_it() {
    if !have_gdb("the GDB interrupt test") {
        return;
    }
    let polyhart = Polyhart::start(1);
    // The program has no debug information: variables are cast to their
    // type. Set after crt0 cleared .bss, `forever` keeps the guest looping.
    let output = gdb_interrupted(
        &polyhart,
        &[
            "break *main",
            "continue",
            "delete",
            "set var *(int *)&forever = 1",
            "print *(int *)&forever",
            "continue",
            "print *(unsigned long *)&progress > 20000",
            "kill",
        ],
        Some(Duration::from_secs(2)),
    );
    assert_eq!(printed(&output, 1), "1", "{output}");
    assert!(output.contains("received signal SIGINT"), "Ctrl-C stops the harts:\n{output}");
    assert_eq!(printed(&output, 2), "1", "the loop went past its 20000 rounds:\n{output}");
    let (status, out, err) = polyhart.finish();
    assert_eq!(status, Some(0), "{err}");
    assert!(out.is_empty(), "killed before its end: {out}");
}

#[test]
fn gdb_stops_at_a_watchpoint_and_runs_the_guest_to_its_exit() {
    if !have_gdb("the GDB watchpoint test") {
        return;
    }
    let polyhart = Polyhart::start(1);
    let output = gdb(
        &polyhart,
        &[
            "break *main",
            "continue",
            "watch *(unsigned long *)&progress",
            "continue",
            "print *(unsigned long *)&progress",
            "delete",
            "continue",
        ],
    );
    // The loop stores its counter at rounds 0, 1024, ...: 0 changes nothing
    // (GDB goes on), 1024 does.
    assert!(output.contains("Old value = 0") && output.contains("New value = 1024"), "{output}");
    assert_eq!(printed(&output, 1), "1024", "{output}");
    assert!(output.contains("exited normally"), "{output}");
    let (status, out, err) = polyhart.finish();
    assert_eq!(status, Some(0), "{err}");
    assert_eq!(out, include_str!("guest/debug.expected"));
}

/// The instruction count of `hart 0:` in `--stats` output.
fn instructions(stderr: &str) -> u64 {
    let line = stderr.lines().find(|l| l.starts_with("hart 0: ")).unwrap_or_else(|| panic!("{stderr}"));
    line["hart 0: ".len()..].split_once(' ').and_then(|(n, _)| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn a_replay_under_gdb_repeats_the_recorded_run() {
    if !have_gdb("the GDB replay test") {
        return;
    }
    let echo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest/echo.elf");
    let log = std::env::temp_dir().join(format!("polyhart-gdb-replay-{}.log", std::process::id()));
    // Recorded with lines typed at host-chosen moments.
    let mut recording = Command::new(env!("CARGO_BIN_EXE_polyhart"))
        .args(["run", "--deterministic", "--stats", "--record"])
        .arg(&log)
        .arg("-kernel")
        .arg(&echo)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("polyhart starts");
    let mut stdin = recording.stdin.take().expect("piped");
    for line in ["one\n", "two\n", "three\n", "q"] {
        std::thread::sleep(Duration::from_millis(80));
        stdin.write_all(line.as_bytes()).expect("polyhart reads its input");
    }
    drop(stdin);
    let recorded = recording.wait_with_output().expect("the recording ends");
    assert!(recorded.status.success(), "{recorded:?}");
    let recorded_out = String::from_utf8_lossy(&recorded.stdout).to_string();
    assert!(recorded_out.contains("three @"), "{recorded_out}");
    // Replayed with GDB stopping the machine at every line the guest
    // prints: the same output, cycle for cycle, and instruction count.
    let log_arg = log.to_str().expect("a UTF-8 path");
    let polyhart = Polyhart::start_with(&["--deterministic", "--stats", "--replay", log_arg], &echo);
    let output = gdb_client::run(
        &polyhart.address,
        Some(&echo),
        &["break *printf", "continue", "continue", "continue", "info registers pc", "delete", "continue"],
        None,
    );
    assert_eq!(output.matches("Breakpoint 1, ").count(), 3, "{output}");
    assert!(output.contains("exited normally"), "{output}");
    let (status, out, err) = polyhart.finish();
    assert_eq!(status, Some(0), "{err}");
    assert_eq!(out, recorded_out, "{err}");
    assert_eq!(instructions(&err), instructions(&String::from_utf8_lossy(&recorded.stderr)));
    let _ = std::fs::remove_file(log);
}

#[test]
fn gdb_debugs_a_guest_while_the_cosimulation_drives_time() {
    use polyhart::cosim::{AdvanceEnd, CosimBuilder, SimTime};
    use polyhart::machine::{StopReason, VirtConfig};
    if !have_gdb("the GDB cosimulation test") {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("its address").to_string();
    let (mix, path) = (symbol("mix"), guest());
    let session = std::thread::spawn(move || {
        gdb_client::run(
            &address,
            Some(&path),
            &["break *mix", "continue", "print/x $pc", "continue", "print/x $pc", "delete", "continue"],
            None,
        )
    });
    let (stream, _) = listener.accept().expect("GDB connects");
    let config = VirtConfig::new().kernel(elf()).console(std::io::sink());
    let mut cosim = CosimBuilder::new(config).build().expect("the machine builds");
    // Held until GDB continues.
    cosim.debug(stream).expect("the session starts");
    assert_eq!(cosim.machine().instructions(), 0, "held at the reset vector");
    // The outside drives time in quanta of 10 us; GDB's stops happen
    // inside them, and each advance still ends where it should.
    let quantum = SimTime::from_micros(10);
    let mut advances = 0;
    let end = loop {
        let before = cosim.now();
        let advance = cosim.advance(quantum);
        advances += 1;
        match advance.end {
            AdvanceEnd::Reached => assert_eq!(advance.time, before + quantum, "advance {advances}"),
            end => break end,
        }
        assert!(advances < 100_000, "the guest ends");
    };
    assert_eq!(end, AdvanceEnd::Stopped(StopReason::Exit(0)));
    let output = session.join().expect("the GDB thread");
    assert_eq!(output.matches("Breakpoint 1, ").count(), 2, "{output}");
    assert_eq!(hex(&printed(&output, 1)), mix, "{output}");
    assert_eq!(hex(&printed(&output, 2)), mix, "{output}");
    assert!(output.contains("exited normally"), "{output}");
}
