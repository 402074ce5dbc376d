//! Snapshots: a machine saved in the middle of a run and restored into
//! another built the same way goes on exactly as the original does (the
//! same console output, instruction counts, registers and RAM), under both
//! engines and with one and four harts; clones of one snapshot do not
//! disturb each other or the snapshot; a snapshot that does not fit, or is
//! damaged, is refused with a clear error and the machine is left as it was.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use polyhart::iss::HartState;
use polyhart::machine::devices::RtcClock;
use polyhart::machine::runner::Scheduling;
use polyhart::machine::{Engine, JitConfig, Machine, Snapshot, SnapshotError, StopReason, VirtConfig, build_virt};

/// Guest RAM of the test machines: small, since the tests compare all of it.
const RAM: u64 = 16 << 20;

fn elf(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest").join(format!("{name}.elf"));
    std::fs::read(path).expect("the ELF is committed")
}

/// Console output, shared with the machine.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Output {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A deterministic machine running guest `name` on `harts` harts.
fn machine(name: &str, harts: usize, engine: &Engine) -> (Machine, Output) {
    let output = Output::default();
    let config = VirtConfig::new()
        .kernel(elf(name))
        .harts(harts)
        .ram_size(RAM)
        .engine(engine.clone())
        .scheduling(Scheduling::Deterministic)
        .console(output.clone());
    let config = VirtConfig { rtc: RtcClock::Simulated { base_ns: 0 }, ..config };
    (build_virt(config).expect("the machine builds"), output)
}

/// Everything that must match between two machines at the end of a run.
#[derive(Debug, PartialEq)]
struct End {
    reason: StopReason,
    harts: Vec<HartState>,
    ram: Vec<u8>,
}

fn end(machine: &mut Machine) -> End {
    let reason = machine.run(Some(200_000_000));
    let mut ram = vec![0; RAM as usize];
    assert!(machine.read_memory(0x8000_0000, &mut ram));
    End { reason, harts: machine.harts().iter().map(|hart| hart.state().clone()).collect(), ram }
}

fn engines() -> [(&'static str, Engine); 2] {
    [("the interpreter", Engine::Interpreter), ("the JIT", Engine::Jit(JitConfig::new(0)))]
}

#[test]
fn a_restored_machine_goes_on_exactly_as_the_original() {
    let guests = [
        ("timer", 1),
        ("uart", 1),
        ("paging", 1),
        ("smode", 1),
        ("sstc", 1),
        ("plic", 1),
        ("litmus", 4),
        ("atomics", 4),
        ("multihart", 4),
    ];
    for (name, harts) in guests {
        for (engine_name, engine) in engines() {
            let what = format!("{name} on {harts} harts, {engine_name}");
            let (mut whole, _) = machine(name, harts, &engine);
            let total = whole.run(Some(200_000_000));
            assert!(matches!(total, StopReason::Exit(0)), "{what}: {total:?}");
            let (instructions, time) = (whole.instructions(), whole.time());
            // Cuts all along the run, by instructions retired and by
            // simulated time (which passes in `wfi` too), so that some fall
            // where a timer is armed, an interrupt is enabled or a hart
            // sleeps.
            let by_count = (1..6).map(|sixth| (sixth * instructions / 6, u64::MAX));
            let by_time = (1..6).map(|sixth| (u64::MAX, sixth * time / 6));
            for (index, (count, horizon)) in by_count.chain(by_time).enumerate() {
                let what = format!("{what}, cut at {count} instructions or cycle {horizon}");
                let (mut original, original_output) = machine(name, harts, &engine);
                let limit = (count != u64::MAX).then_some(count);
                let expected = if limit.is_some() { StopReason::InstructionLimit } else { StopReason::Horizon };
                assert_eq!(original.run_until(horizon, limit), expected, "{what}");
                let snapshot = original.snapshot().expect("saved");
                let before = original_output.text().len();
                let (mut restored, restored_output) = machine(name, harts, &engine);
                if index % 2 == 1 {
                    // This one ran to its end first: the restore replaces
                    // all it did.
                    restored.run(Some(200_000_000));
                }
                restored.restore(&snapshot).expect("restored");
                restored_output.0.lock().unwrap().clear();
                let original_end = end(&mut original);
                let restored_end = end(&mut restored);
                assert_eq!(original_end.reason, restored_end.reason, "{what}");
                assert_eq!(original_end.harts, restored_end.harts, "{what}");
                assert!(original_end.ram == restored_end.ram, "{what}: RAM differs");
                assert_eq!(original_output.text()[before..], restored_output.text(), "{what}");
            }
        }
    }
}

#[test]
fn clones_of_one_snapshot_share_nothing_they_write() {
    let dir = std::env::temp_dir().join(format!("polyhart-snapshot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("litmus.snap");
    let (mut original, _) = machine("litmus", 4, &Engine::default());
    original.run(Some(300_000));
    original.save_snapshot(&path).expect("saved");
    let saved = std::fs::read(&path).expect("the file");
    let snapshot = Snapshot::open(&path).expect("opened");
    let mut ends = Vec::new();
    let mut clones: Vec<(Machine, Output)> = (0..3).map(|_| machine("litmus", 4, &Engine::default())).collect();
    for (clone, _) in &mut clones {
        clone.restore(&snapshot).expect("restored");
    }
    // All three run at once, each writing its own copy of the pages.
    std::thread::scope(|scope| {
        let runs: Vec<_> = clones.iter_mut().map(|(clone, _)| scope.spawn(|| end(clone))).collect();
        ends.extend(runs.into_iter().map(|run| run.join().expect("the clone runs")));
    });
    assert!(ends.iter().all(|end| end.reason == StopReason::Exit(0)), "{:?}", ends[0].reason);
    let outputs: Vec<String> = clones.iter().map(|(_, output)| output.text()).collect();
    assert!(outputs.iter().all(|output| *output == outputs[0] && output.contains("litmus")), "{outputs:?}");
    assert!(std::fs::read(&path).expect("the file") == saved, "the clones wrote into the snapshot");
    // The file is sparse: most of RAM is zeros and takes no room.
    let metadata = std::fs::metadata(&path).expect("metadata");
    use std::os::unix::fs::MetadataExt;
    assert!(metadata.blocks() * 512 < metadata.len() / 2, "{} bytes in {} blocks", metadata.len(), metadata.blocks());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_snapshot_of_another_machine_is_refused_and_changes_nothing() {
    let (mut original, _) = machine("timer", 1, &Engine::Interpreter);
    original.run(Some(5000));
    let snapshot = original.snapshot().expect("saved");
    let check = |mut other: Machine, expected: &str| {
        other.run(Some(5000));
        let before = other.harts()[0].state().clone();
        let error = other.restore(&snapshot).expect_err("refused");
        assert!(matches!(error, SnapshotError::Mismatch(_)), "{error:?}");
        assert!(error.to_string().contains(expected), "{error}");
        assert_eq!(*other.harts()[0].state(), before, "the machine is as it was");
    };
    check(machine("timer", 2, &Engine::Interpreter).0, "1 harts");
    check(machine("paging", 1, &Engine::Interpreter).0, "other boot images");
    let output = Output::default();
    let bigger = VirtConfig::new().kernel(elf("timer")).ram_size(2 * RAM).console(output);
    check(build_virt(bigger).expect("builds"), "bytes of RAM");
}

#[test]
fn damaged_and_truncated_snapshot_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("polyhart-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("timer.snap");
    let (mut original, _) = machine("timer", 1, &Engine::Interpreter);
    original.run(Some(5000));
    original.save_snapshot(&path).expect("saved");
    let bytes = std::fs::read(&path).expect("the file");
    let refused = |bytes: &[u8]| {
        std::fs::write(&path, bytes).expect("written");
        Snapshot::open(&path).expect_err("refused").to_string()
    };
    let mut damaged = bytes.clone();
    damaged[100] ^= 1;
    assert!(refused(&damaged).contains("damaged"));
    assert!(refused(&bytes[..bytes.len() - 4096]).contains("truncated"));
    assert!(refused(&bytes[..40]).contains("truncated"));
    assert!(refused(b"#!/bin/sh\n").contains("not a polyhart snapshot"));
    assert!(Snapshot::open(dir.join("missing.snap")).expect_err("missing").to_string().contains("missing.snap"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_machine_built_restored_goes_on_and_reboots_from_its_own_images() {
    for (name, harts) in [("timer", 1), ("atomics", 4)] {
        let (mut whole, whole_output) = machine(name, harts, &Engine::default());
        assert_eq!(whole.run(Some(200_000_000)), StopReason::Exit(0));
        let expected = whole_output.text();
        let (mut original, original_output) = machine(name, harts, &Engine::default());
        original.run(Some(whole.instructions() / 2));
        let snapshot = original.snapshot().expect("saved");
        let before = original_output.text();
        // Built restored: the images never went into its RAM.
        let output = Output::default();
        let config = VirtConfig::new()
            .kernel(elf(name))
            .harts(harts)
            .ram_size(RAM)
            .scheduling(Scheduling::Deterministic)
            .console(output.clone())
            .restored_from(snapshot.clone());
        let config = VirtConfig { rtc: RtcClock::Simulated { base_ns: 0 }, ..config };
        let mut restored = build_virt(config).expect("built restored");
        assert_eq!(restored.run(Some(200_000_000)), StopReason::Exit(0), "{name}");
        assert_eq!(before.clone() + &output.text(), expected, "{name}: goes on from the snapshot");
        // A reboot loads the boot images, which the build kept.
        output.0.lock().unwrap().clear();
        restored.reboot();
        assert_eq!(restored.run(Some(200_000_000)), StopReason::Exit(0), "{name}");
        assert_eq!(output.text(), expected, "{name}: boots again from its images");
        // Another machine's snapshot is a build error that says why.
        let other = VirtConfig::new().kernel(elf("hello")).harts(harts).ram_size(RAM).restored_from(snapshot);
        let error = build_virt(other.console(std::io::sink())).expect_err("refused").to_string();
        assert!(error.contains("cannot restore the snapshot") && error.contains("boot images"), "{error}");
    }
}
