//! Instrumentation plugins: both engines give a plugin the same events
//! (inline counts that compiled code adds itself, memory accesses, traps),
//! the counts agree with the harts' own instruction counts, plugins
//! installed or removed between runs count exactly the runs they were
//! installed for, and the bundled plugins report what the guest did.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

mod prerequisites;

use polyhart::iss::plugin::{BlockInfo, Counter, Finished, HartView, MemoryEvent, Observer, Plan, Plugin, TrapEvent};
use polyhart::iss::{Cause, Exception};
use polyhart::machine::devices::RtcClock;
use polyhart::machine::plugins::{self, Output};
use polyhart::machine::runner::Scheduling;
use polyhart::machine::{Engine, JitConfig, Machine, StopReason, VirtConfig, build_virt};

fn elf(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest").join(format!("{name}.elf"));
    std::fs::read(path).expect("the ELF is committed")
}

/// Console output, shared with the machine.
#[derive(Clone, Default)]
struct Console(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Console {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn machine(name: &str, harts: usize, engine: Engine, scheduling: Scheduling) -> (Machine, Console) {
    let console = Console::default();
    let config = VirtConfig::new()
        .kernel(elf(name))
        .harts(harts)
        .ram_size(16 << 20)
        .engine(engine)
        .scheduling(scheduling)
        .console(console.clone());
    let config = VirtConfig { rtc: RtcClock::Simulated { base_ns: 0 }, ..config };
    (build_virt(config).expect("the machine builds"), console)
}

/// The JIT, compiling every block at its first run, on the hart's thread.
fn jit() -> Engine {
    Engine::Jit(JitConfig::new(0))
}

/// What [`Recorder`] saw of one hart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct HartRecord {
    /// Runs of each instruction, by physical address (inline counters).
    insts: BTreeMap<u64, u64>,
    /// Runs of each block, by physical address (inline counters).
    blocks: BTreeMap<u64, u64>,
    /// Every memory access, with its instruction's pc.
    memory: Vec<(u64, MemoryEvent)>,
    /// Every trap.
    traps: Vec<TrapEvent>,
    started: bool,
    stopped: bool,
}

/// Counts every instruction and block inline and records every memory
/// access and trap.
#[derive(Default)]
struct Recorder {
    /// Whether to ask for memory callbacks (which keep blocks with
    /// accesses in the interpreter).
    memory: bool,
    insts: Mutex<HashMap<u64, Counter>>,
    blocks: Mutex<HashMap<u64, Counter>>,
    result: Mutex<BTreeMap<u64, HartRecord>>,
}

struct HartRecorder(HartRecord);

impl Observer for HartRecorder {
    fn start(&mut self, _: &HartView<'_>) {
        self.0.started = true;
    }
    fn stop(&mut self, _: &HartView<'_>) {
        self.0.stopped = true;
    }
    fn memory(&mut self, hart: &HartView<'_>, access: &MemoryEvent, _: u64) {
        self.0.memory.push((hart.pc(), *access));
    }
    fn trap(&mut self, _: &HartView<'_>, trap: &TrapEvent) {
        self.0.traps.push(*trap);
    }
}

impl Plugin for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    fn translate(&self, block: &BlockInfo<'_>, plan: &mut Plan<'_>) {
        let counter = |map: &Mutex<HashMap<u64, Counter>>, plan: &mut Plan<'_>, at: u64| {
            *map.lock().unwrap().entry(at).or_insert_with(|| plan.counter().expect("counters left"))
        };
        let block_counter = counter(&self.blocks, plan, block.physical());
        plan.count_block(block_counter, 1);
        for inst in block.instructions() {
            let insn_counter = counter(&self.insts, plan, inst.physical());
            plan.count_instruction(inst.index(), insn_counter, 1);
            if self.memory && inst.memory().is_some() {
                plan.on_memory(inst.index(), 0);
            }
        }
    }

    fn observer(&self, _hart: u64) -> Box<dyn Observer> {
        Box::new(HartRecorder(HartRecord::default()))
    }

    fn finish(&self, harts: Vec<Finished>) {
        let counts = |map: &Mutex<HashMap<u64, Counter>>, hart: &Finished| -> BTreeMap<u64, u64> {
            let map = map.lock().unwrap();
            map.iter().map(|(&at, &counter)| (at, hart.counter(counter))).filter(|&(_, runs)| runs > 0).collect()
        };
        let mut result = self.result.lock().unwrap();
        for hart in &harts {
            let mut record = hart.observer::<HartRecorder>().expect("the recorder's observer").0.clone();
            record.insts = counts(&self.insts, hart);
            record.blocks = counts(&self.blocks, hart);
            result.insert(hart.hart, record);
        }
    }
}

/// Exceptions raised by an instruction that began to run (and so had its
/// instruction event) without retiring: all but fetch faults.
fn raised_by_instructions(traps: &[TrapEvent]) -> u64 {
    traps
        .iter()
        .filter(|trap| match trap.cause {
            Cause::Exception(exception) => !matches!(
                exception,
                Exception::InstructionAccessFault
                    | Exception::InstructionPageFault
                    | Exception::InstructionAddressMisaligned
            ),
            Cause::Interrupt(_) => false,
        })
        .count() as u64
}

/// Runs `name` under `engine` with a [`Recorder`]: the stop reason, the
/// console, the records by hart, and the harts' retired counts.
fn record(
    name: &str,
    harts: usize,
    engine: Engine,
    scheduling: Scheduling,
    memory: bool,
) -> (StopReason, String, BTreeMap<u64, HartRecord>, Vec<u64>, u64) {
    let (mut machine, console) = machine(name, harts, engine, scheduling);
    let recorder = Arc::new(Recorder { memory, ..Recorder::default() });
    machine.set_plugins(vec![recorder.clone()]);
    let reason = machine.run(Some(2_000_000_000));
    let compiled = machine.jit_stats().map_or(0, |stats| stats.blocks_compiled);
    machine.finish_plugins();
    let retired = machine.harts().iter().map(|hart| hart.state().retired).collect();
    let console = String::from_utf8_lossy(&console.0.lock().unwrap()).into_owned();
    let records = recorder.result.lock().unwrap().clone();
    (reason, console, records, retired, compiled)
}

#[test]
fn both_engines_give_a_plugin_the_same_events() {
    let guests = [
        ("rv64i", 1),
        ("rv64m", 1),
        ("rv64a", 1),
        ("compressed", 1),
        ("traps", 1),
        ("smc", 1),
        ("timer", 1),
        ("smode", 1),
        ("paging", 1),
        ("pmp", 1),
        ("sstc", 1),
        ("uart", 1),
        ("fp_arith", 1),
        ("amo_faults", 1),
        ("multihart", 4),
        ("atomics", 4),
        ("litmus", 2),
    ];
    for (name, harts) in guests {
        for memory in [false, true] {
            let interpreted = record(name, harts, Engine::Interpreter, Scheduling::Deterministic, memory);
            let compiled = record(name, harts, jit(), Scheduling::Deterministic, memory);
            let what = format!("{name} on {harts} harts, memory callbacks {memory}");
            assert!(matches!(interpreted.0, StopReason::Exit(_)), "{what}: {:?}", interpreted.0);
            assert_eq!(interpreted.0, compiled.0, "{what}: stop reasons");
            assert_eq!(interpreted.1, compiled.1, "{what}: console");
            assert_eq!(interpreted.3, compiled.3, "{what}: retired instructions");
            assert!(compiled.4 > 0, "{what}: the JIT compiled nothing");
            assert_eq!(interpreted.2.len(), harts, "{what}: a record per hart");
            for (hart, record) in &interpreted.2 {
                let other = &compiled.2[hart];
                assert!(record.started && record.stopped, "{what}: hart {hart} started and stopped");
                assert_eq!(record.traps, other.traps, "{what}: hart {hart}'s traps");
                assert_eq!(record.blocks, other.blocks, "{what}: hart {hart}'s block counts");
                assert_eq!(record.insts, other.insts, "{what}: hart {hart}'s instruction counts");
                assert_eq!(record.memory, other.memory, "{what}: hart {hart}'s memory accesses");
                // Every instruction that began to run either retired or raised
                // an exception: the inline counts add up to the hart's own count.
                let counted: u64 = record.insts.values().sum();
                let retired = interpreted.3[*hart as usize];
                assert_eq!(counted, retired + raised_by_instructions(&record.traps), "{what}: hart {hart}'s total");
                if memory {
                    assert!(!record.memory.is_empty(), "{what}: no memory access seen");
                }
            }
        }
    }
}

#[test]
fn parallel_harts_count_their_own_instructions() {
    let (reason, console, records, retired, compiled) = record("bench_par", 4, jit(), Scheduling::Parallel, false);
    assert!(matches!(reason, StopReason::Exit(0)), "{reason:?}: {console}");
    assert!(compiled > 0);
    for (hart, record) in &records {
        let counted: u64 = record.insts.values().sum();
        assert_eq!(counted, retired[*hart as usize] + raised_by_instructions(&record.traps), "hart {hart}");
        assert!(counted > 1_000_000, "hart {hart} ran little: {counted}");
    }
}

#[test]
fn memory_events_say_what_the_access_did() {
    let (_, _, records, _, _) = record("rv64a", 1, jit(), Scheduling::Deterministic, true);
    let accesses = &records[&0].memory;
    use polyhart::iss::decode::MemoryKind;
    let kinds = |wanted: fn(&MemoryKind) -> bool| accesses.iter().filter(|(_, access)| wanted(&access.kind)).count();
    assert!(kinds(|kind| matches!(kind, MemoryKind::Amo(_))) > 0);
    assert!(kinds(|kind| matches!(kind, MemoryKind::LoadReserved)) > 0);
    assert!(kinds(|kind| matches!(kind, MemoryKind::StoreConditional)) > 0);
    for (pc, access) in accesses {
        assert!(matches!(access.size, 1 | 2 | 4 | 8), "{pc:#x}: {access:?}");
        // M-mode, no paging: physical is virtual.
        assert_eq!(access.vaddr, access.paddr, "{pc:#x}: {access:?}");
        let in_ram = (0x8000_0000..0x8000_0000 + (16 << 20)).contains(&access.paddr);
        let expected = if in_ram { polyhart::iss::plugin::Target::Ram } else { polyhart::iss::plugin::Target::Device };
        assert_eq!(access.target, expected, "{pc:#x}: {access:?}");
    }
    // The console's UART is a device.
    let uart = accesses.iter().filter(|(_, access)| access.paddr >> 12 == 0x1000_0000 >> 12).count();
    assert!(uart > 0, "no UART access seen");
}

#[test]
fn plugins_count_only_the_runs_they_are_installed_for() {
    for engine in [Engine::Interpreter, jit()] {
        let (mut machine, _) = machine("bench_int", 1, engine, Scheduling::Deterministic);
        assert_eq!(machine.run(Some(3_000_000)), StopReason::InstructionLimit);
        let recorder = Arc::new(Recorder::default());
        machine.set_plugins(vec![recorder.clone()]);
        let before = machine.harts()[0].state().retired;
        assert_eq!(machine.run(Some(5_000_000)), StopReason::InstructionLimit);
        let during = machine.harts()[0].state().retired - before;
        machine.finish_plugins();
        assert!(machine.plugins().is_none());
        // After removal nothing counts: a later run leaves the record alone.
        assert_eq!(machine.run(Some(1_000_000)), StopReason::InstructionLimit);
        let records = recorder.result.lock().unwrap();
        let counted: u64 = records[&0].insts.values().sum();
        assert_eq!(counted, during);
        assert!(records[&0].stopped);
    }
}

#[test]
fn dropping_a_machine_finishes_its_plugins() {
    let (mut machine, _) = machine("hello", 1, jit(), Scheduling::Deterministic);
    let recorder = Arc::new(Recorder::default());
    machine.set_plugins(vec![recorder.clone()]);
    machine.run(Some(10_000_000));
    let retired = machine.harts()[0].state().retired;
    drop(machine);
    let counted: u64 = recorder.result.lock().unwrap()[&0].insts.values().sum();
    assert_eq!(counted, retired);
}

#[test]
fn the_bundled_plugins_report_what_the_guest_did() {
    let dir = std::env::temp_dir().join(format!("polyhart-plugins-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("mem.trace");
    let insn = Arc::new(plugins::Insn::new(Output::File(dir.join("insn.txt"))));
    let hot = Arc::new(plugins::HotBlocks::new(3, Output::File(dir.join("hot.txt"))));
    let mem = Arc::new(
        plugins::MemTrace::new(trace.clone(), (0x8000_0000, 0x9000_0000), false, Output::File(dir.join("mem.txt")))
            .unwrap(),
    );
    let cache = Arc::new(plugins::Cache::new(Default::default(), 5, Output::File(dir.join("cache.txt"))).unwrap());
    let called = Arc::new(plugins::Insn::with_callbacks(Output::File(dir.join("called.txt"))));
    let (mut machine, _) = machine("rv64i", 1, jit(), Scheduling::Deterministic);
    machine.set_plugins(vec![insn.clone(), hot.clone(), mem.clone(), cache.clone(), called.clone()]);
    assert!(matches!(machine.run(Some(100_000_000)), StopReason::Exit(0)));
    let retired = machine.harts()[0].state().retired;
    machine.finish_plugins();

    let insn = insn.report().expect("insn reported");
    assert_eq!(insn.total(), retired, "rv64i raises no exception");
    assert_eq!(called.report(), Some(insn.clone()), "callbacks count as the inline counters do");
    let text = std::fs::read_to_string(dir.join("insn.txt")).unwrap();
    assert!(text.starts_with(&format!("insn: {retired} instructions\n")), "{text}");

    let hot = hot.report().expect("hotblocks reported");
    assert_eq!(hot.len(), 3);
    assert!(hot.windows(2).all(|pair| pair[0].runs >= pair[1].runs));

    // The trace has a line per access in the range, each well formed.
    let lines: Vec<String> = std::fs::read_to_string(&trace).unwrap().lines().map(str::to_string).collect();
    assert_eq!(lines[0], "# hart pc kind size vaddr paddr value target");
    assert_eq!(lines.len() as u64 - 1, mem.traced());
    for line in &lines[1..] {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 8, "{line}");
        assert!(matches!(fields[2], "load" | "store" | "lr" | "sc" | "amo"), "{line}");
        let vaddr = u64::from_str_radix(fields[4].trim_start_matches("0x"), 16).unwrap();
        assert!((0x8000_0000..0x9000_0000).contains(&vaddr), "{line}");
        assert_eq!(fields[7], "ram", "{line}");
    }

    // Every instruction fetch and data access reached the caches.
    let cache = cache.report().expect("cache reported");
    let (icache, dcache, l2) = cache.total();
    assert_eq!(icache.accesses, retired);
    let data = insn.class(polyhart::iss::decode::Class::Load)
        + insn.class(polyhart::iss::decode::Class::Store)
        + insn.class(polyhart::iss::decode::Class::Atomic);
    assert_eq!(dcache.accesses, data);
    assert_eq!(l2.expect("an L2 by default").accesses, icache.misses + dcache.misses);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `tests/plugin/count.c` built into a shared library, when a C compiler
/// runs.
fn c_plugin(test: &str) -> Option<PathBuf> {
    if !prerequisites::require_tool("cc", "Debian's gcc", test) {
        return None;
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("count-{}.so", std::process::id()));
    let status = Command::new("cc")
        .args([
            "-shared",
            "-fPIC",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-I",
            "machine/include",
            "tests/plugin/count.c",
        ])
        .arg("-o")
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cc runs");
    assert!(status.success(), "tests/plugin/count.c does not build");
    Some(out)
}

/// `key value` lines of the C plugin's report.
fn report(path: &Path) -> HashMap<String, u64> {
    std::fs::read_to_string(path)
        .expect("the C plugin wrote its report")
        .lines()
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn a_plugin_in_c_sees_what_rust_plugins_see() {
    let Some(library) = c_plugin("the C plugin test") else { return };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    for (name, engine) in [("interp", Engine::Interpreter), ("jit", jit())] {
        for guest in ["traps", "rv64a", "smode"] {
            let out = dir.join(format!("count-{guest}-{name}-{}.txt", std::process::id()));
            let args = [format!("out={}", out.display()), "memory=on".into(), "stall=3".into()];
            let native = plugins::load(&library, &args).expect("the C plugin loads");
            let insn = Arc::new(plugins::Insn::new(Output::File(dir.join("insn-unused.txt"))));
            let recorder = Arc::new(Recorder { memory: true, ..Recorder::default() });
            let (mut machine, _) = machine(guest, 1, engine.clone(), Scheduling::Deterministic);
            machine.set_plugins(vec![Arc::new(native), insn.clone(), recorder.clone()]);
            assert!(matches!(machine.run(Some(100_000_000)), StopReason::Exit(0)), "{guest}");
            let a0 = machine.harts()[0].state().reg(10);
            let (cycle, retired) = (machine.harts()[0].state().cycle(), machine.harts()[0].state().retired);
            machine.finish_plugins();

            let what = format!("{guest} under {name}");
            let counted = report(&out);
            let insn = insn.report().expect("insn reported");
            for class in polyhart::iss::decode::Class::ALL {
                assert_eq!(counted[&format!("class {}", class.index())], insn.class(class), "{what}: {class:?}");
            }
            let records = recorder.result.lock().unwrap();
            let record = &records[&0];
            let loads = record
                .memory
                .iter()
                .filter(|(_, access)| {
                    matches!(
                        access.kind,
                        polyhart::iss::decode::MemoryKind::Load | polyhart::iss::decode::MemoryKind::LoadReserved
                    )
                })
                .count() as u64;
            assert_eq!(counted["loads"], loads, "{what}");
            assert_eq!(counted["stores"], record.memory.len() as u64 - loads, "{what}");
            assert_eq!(counted["traps"], record.traps.len() as u64, "{what}");
            assert!(counted["traps"] > 0 || guest == "rv64a", "{what}: no trap seen");
            assert_eq!(counted["hart 0 a0"], a0, "{what}: a0 read through the C API at the stop");
            let accesses = counted["loads"] + counted["stores"];
            assert_eq!(cycle - retired, 3 * accesses, "{what}: 3 cycles added at each access");
            std::fs::remove_file(out).unwrap();
        }
    }
}

#[test]
fn the_cli_loads_plugins_and_refuses_bad_ones() {
    let polyhart = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_polyhart")).args(args).output().expect("polyhart runs");
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let kernel = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest/hello.elf");
    let kernel = kernel.to_str().unwrap();
    let (status, stderr) = polyhart(&["run", "--kernel", kernel, "--plugin", "insn", "--plugin", "hotblocks,limit=2"]);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(stderr.contains("insn: hart 0:"), "{stderr}");
    assert!(stderr.contains("hotblocks: "), "{stderr}");
    for (spec, says) in [
        ("nosuch", "no bundled plugin is named `nosuch`"),
        ("insn,colour=red", "unknown argument `colour`"),
        ("cache,dassoc=3", "powers of two"),
        ("mem", "file=PATH is required"),
        ("/nonexistent/plugin.so", "/nonexistent/plugin.so"),
    ] {
        let (status, stderr) = polyhart(&["run", "--kernel", kernel, "--plugin", spec]);
        assert_ne!(status, Some(0), "--plugin {spec} was accepted");
        assert!(stderr.contains(says), "--plugin {spec}: {stderr}");
    }
    let Some(library) = c_plugin("the CLI's C plugin test") else { return };
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("count-cli-{}.txt", std::process::id()));
    let spec = format!("{},out={}", library.display(), out.display());
    let (status, stderr) = polyhart(&["run", "--kernel", kernel, "--plugin", &spec]);
    assert_eq!(status, Some(0), "{stderr}");
    let counted = report(&out);
    assert!(counted["class 0"] > 0, "{counted:?}");
    let spec = format!("{},colour=red", library.display());
    let (status, stderr) = polyhart(&["run", "--kernel", kernel, "--plugin", &spec]);
    assert_ne!(status, Some(0));
    assert!(stderr.contains("unknown argument colour=red"), "{stderr}");
    std::fs::remove_file(out).unwrap();
}

/// Per instruction address: runs, loads, stores.
type PerPc = BTreeMap<u64, (u64, u64, u64)>;

/// What QEMU's plugin interface says guest `name` did, through
/// `tests/plugin/qemu_trace.c` (QEMU's own translation and callbacks: an
/// oracle independent of polyhart's).
fn qemu_trace(name: &str, library: &Path) -> PerPc {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("qemu-{name}-{}.txt", std::process::id()));
    let kernel = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/guest/{name}.elf"));
    let status = Command::new("timeout")
        .arg("120")
        .arg(std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-riscv64".into()))
        .args(["-M", "virt", "-bios", "none", "-nographic", "-m", "128M", "-kernel"])
        .arg(&kernel)
        .arg("-plugin")
        .arg(format!("{},out={}", library.display(), out.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("QEMU runs");
    assert!(status.code().is_some(), "QEMU died on {name}");
    let text = std::fs::read_to_string(&out).expect("QEMU's plugin wrote its trace");
    std::fs::remove_file(&out).unwrap();
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let number = |at: usize| fields[at].parse::<u64>().unwrap();
            (u64::from_str_radix(fields[0], 16).unwrap(), (number(1), number(2), number(3)))
        })
        .collect()
}

/// The same from polyhart, through the [`Recorder`]: inline counts per
/// instruction (compiled code's, under the JIT) and its memory callbacks;
/// `qemu` is what QEMU saw (for the end of the run, see below).
fn polyhart_trace(name: &str, engine: Engine, qemu: &PerPc) -> PerPc {
    let (reason, _, records, _, _) = record(name, 1, engine, Scheduling::Deterministic, true);
    assert!(matches!(reason, StopReason::Exit(_)), "{name}: {reason:?}");
    let record = &records[&0];
    let mut trace: PerPc = record.insts.iter().map(|(&pc, &runs)| (pc, (runs, 0, 0))).collect();
    // QEMU's process exits inside the guest's store to the test finisher,
    // before its memory callback, and runs nothing after it; polyhart
    // completes the store and stops at the end of its block. That store's
    // access, and the instructions after it that QEMU never ran, are left
    // out of the comparison.
    let (last_pc, last) = record.memory.last().expect("the guest accessed memory");
    assert_eq!(last.paddr, 0x10_0000, "{name}: the last access is the test finisher's");
    let after: Vec<u64> = trace.range(last_pc + 1..last_pc + 16).map(|(&pc, _)| pc).collect();
    for pc in after {
        if trace[&pc].0 == 1 && !qemu.contains_key(&pc) {
            trace.remove(&pc);
        }
    }
    let memory = &record.memory[..record.memory.len() - 1];
    // QEMU reports an AMO, and an SC (a compare-and-swap there), as a read
    // and a write; polyhart as one access of its kind.
    use polyhart::iss::decode::MemoryKind;
    for (pc, access) in memory {
        let entry = trace.entry(*pc).or_default();
        let (reads, writes) = match access.kind {
            MemoryKind::Load | MemoryKind::LoadReserved => (1, 0),
            MemoryKind::Store => (0, 1),
            MemoryKind::StoreConditional | MemoryKind::Amo(_) => (1, 1),
        };
        entry.1 += reads;
        entry.2 += writes;
    }
    trace
}

#[test]
fn plugins_see_what_qemus_plugins_see() {
    let qemu = std::env::var("QEMU").unwrap_or_else(|_| "qemu-system-riscv64".into());
    if !prerequisites::require_tool(&qemu, "Debian's qemu-system-misc", "the plugin comparison with QEMU")
        || !prerequisites::require_tool("cc", "Debian's gcc", "the plugin comparison with QEMU")
    {
        return;
    }
    let library = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("qemu-trace-{}.so", std::process::id()));
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "tests/plugin/qemu_trace.c", "-o"])
        .arg(&library)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cc runs");
    assert!(status.success(), "tests/plugin/qemu_trace.c does not build");
    // Single-hart guests whose course does not depend on the host's time
    // (QEMU's timer follows it: timer, sstc), that do not page (QEMU names
    // instructions by virtual address, the recorder by physical: paging),
    // and that do not use Sdtrig (QEMU 7.2 takes another path: triggers).
    let guests = [
        "rv64i",
        "rv64m",
        "rv64a",
        "compressed",
        "traps",
        "smc",
        "csr",
        "smode",
        "pmp",
        "uart",
        "plic",
        "fp_arith",
        "fp_fma",
        "fp_convert",
        "fp_misc",
        "fp_csr",
        "exit_code",
        "hello",
        "demo",
        "bench_fp",
    ];
    for name in guests {
        let expected = qemu_trace(name, &library);
        for engine in [Engine::Interpreter, jit()] {
            let seen = polyhart_trace(name, engine.clone(), &expected);
            let differ: Vec<_> = expected
                .iter()
                .filter(|(pc, counts)| seen.get(pc) != Some(counts))
                .map(|(pc, counts)| (*pc, *counts, seen.get(pc).copied()))
                .chain(
                    seen.iter().filter(|(pc, _)| !expected.contains_key(pc)).map(|(pc, c)| (*pc, (0, 0, 0), Some(*c))),
                )
                .take(10)
                .collect();
            assert!(differ.is_empty(), "{name} under {engine:?}: (pc, QEMU's, polyhart's) {differ:x?}");
        }
    }
    std::fs::remove_file(library).unwrap();
}

/// `insn`'s total in the CLI's report.
fn insn_total(stderr: &str) -> u64 {
    let line = stderr.lines().find(|line| line.starts_with("insn: ") && line.ends_with(" instructions")).unwrap();
    line.trim_start_matches("insn: ").trim_end_matches(" instructions").parse().unwrap()
}

#[test]
fn fast_forward_switches_the_plugins_on_at_the_marker_or_the_count() {
    let guest = |name: &str| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/guest/{name}.elf"));
    let polyhart = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_polyhart")).args(args).output().expect("polyhart runs");
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let marker = guest("marker");
    for engine in ["jit", "interp"] {
        // marker.S runs 2006 instructions after the marker (see its comment).
        let args = ["run", "--kernel", marker.to_str().unwrap(), "--engine", engine];
        let (stdout, stderr) = polyhart(&[&args[..], &["--fast-forward", "marker", "--plugin", "insn"]].concat());
        assert_eq!(stdout, "marker: before the marker\n");
        assert_eq!(insn_total(&stderr), 2006, "{engine}: {stderr}");
        // Without the fast-forward the plugin sees the whole run.
        let (_, whole) = polyhart(&[&args[..], &["--plugin", "insn", "--stats"]].concat());
        let total = insn_total(&whole);
        assert!(total > 2006 + 100, "{whole}");
        // A count: the plugin sees the rest exactly.
        let (_, stderr) =
            polyhart(&[&args[..], &["--fast-forward", "1000", "--plugin", "insn", "--deterministic"]].concat());
        assert_eq!(insn_total(&stderr), total - 1000, "{engine}: {stderr}");
    }
    // A guest without the marker runs to its end, without the plugins.
    let hello = guest("hello");
    let (stdout, stderr) =
        polyhart(&["run", "--kernel", hello.to_str().unwrap(), "--fast-forward", "marker", "--plugin", "insn"]);
    assert_eq!(stdout, "hello\n");
    assert!(stderr.contains("the run ended during the fast-forward"), "{stderr}");
    assert!(!stderr.contains("insn: "), "{stderr}");
}
