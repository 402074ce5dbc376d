//! Machines are created, run, stopped and dropped again and again without
//! leaking host threads or memory. Alone in its test binary, so no other
//! test's threads come and go meanwhile.

use std::path::PathBuf;
use std::time::Duration;

use polyhart::machine::runner::Scheduling;
use polyhart::machine::{StopReason, VirtConfig, build_virt};

/// Guest RAM per machine: mapped lazily, so it costs address space only,
/// and a leaked machine shows as a gigabyte more of it, far above what the
/// host allocator's per-thread arenas can add.
const GUEST_RAM: u64 = 1 << 30;

fn elf(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest").join(format!("{name}.elf"));
    std::fs::read(path).expect("the ELF is committed")
}

/// A field of `/proc/self/status` (Linux), as a number.
fn status_field(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// The host threads of this process once those that are ending have gone:
/// a scoped thread counts as joined when its closure returns, a moment
/// before the system lets the thread go.
fn settled_threads(at_most: Option<u64>) -> Option<u64> {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut threads = status_field("Threads:");
    while threads > at_most.or(Some(1)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        threads = status_field("Threads:");
    }
    threads
}

fn one_lifecycle(round: usize) {
    // A run to the guest's exit, on four threads.
    let mut machine = build_virt(VirtConfig {
        harts: 4,
        ram_size: GUEST_RAM,
        kernel: Some(elf("multihart")),
        console: Some(Box::new(std::io::sink())),
        scheduling: Scheduling::Parallel,
        ..VirtConfig::default()
    })
    .unwrap();
    assert_eq!(machine.run(Some(100_000_000)), StopReason::Exit(0), "round {round}");
    drop(machine);

    // A run that only a stop from another thread ends: the guest waits for
    // console input that never comes.
    let mut machine = build_virt(VirtConfig {
        harts: 2,
        ram_size: GUEST_RAM,
        kernel: Some(elf("console_input")),
        console: Some(Box::new(std::io::sink())),
        scheduling: Scheduling::Parallel,
        ..VirtConfig::default()
    })
    .unwrap();
    machine.board().uart().set_input_open(true);
    let stop = machine.stop_signal().clone();
    let reason = std::thread::scope(|scope| {
        scope.spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            stop.request(StopReason::Stopped);
        });
        machine.run(None)
    });
    assert_eq!(reason, StopReason::Stopped, "round {round}");
}

#[test]
fn machines_come_and_go_without_leaking_threads_or_memory() {
    for round in 0..3 {
        one_lifecycle(round);
    }
    let threads = settled_threads(None);
    let memory = status_field("VmSize:");
    for round in 1..=20 {
        one_lifecycle(round);
    }
    assert_eq!(settled_threads(threads), threads, "host threads left behind");
    if let (Some(before), Some(after)) = (memory, status_field("VmSize:")) {
        // Forty machines come and go below; leaked, they would hold 40 GiB.
        assert!(after < before + 2 * 1024 * 1024, "address space grew from {before} kB to {after} kB");
    }
}
