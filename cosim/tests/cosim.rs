//! The cosimulation layer against an outside simulator modelled in Rust: the
//! devices of `tests/guest/cosim.c` (a console, a timer that interrupts
//! through the PLIC, scratch memory, a hole), served as transactions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;

use polyhart_cosim::{
    AdvanceEnd, Command, Cosim, CosimBuilder, DmiGrant, Interrupts, Line, Region, SimTime, Status, Transaction,
};
use polyhart_iss::JitConfig;
use polyhart_machine::Engine;
use polyhart_machine::{Scheduling, StopReason, VirtConfig};

mod common;
use common::{ALARM_IRQ, EXPECTED, EXT_BASE, GUEST};

const SCRATCH: u64 = EXT_BASE + 0x2000;

/// Something the model does once, given the transaction's time.
type Hook = Box<dyn FnOnce(SimTime) + Send>;

/// The outside simulator's devices and its own clock.
#[derive(Default)]
struct Model {
    /// The outside's time in ps, which the test loop moves after each advance.
    now: AtomicU64,
    /// Latency every transaction adds.
    latency: SimTime,
    console: Mutex<Vec<u8>>,
    scratch: Mutex<Vec<u8>>,
    interrupts: OnceLock<Interrupts>,
    /// When the alarm fires, once armed.
    alarm_at: Mutex<Option<SimTime>>,
    /// Times the timer's NOW register was read at.
    reads_of_now: Mutex<Vec<SimTime>>,
    /// The thread transactions must be served on.
    driver: OnceLock<ThreadId>,
    /// Ask for synchronisation when the alarm is armed.
    sync_on_alarm: bool,
    /// Called on the first console newline (on the driving thread).
    on_first_line: Mutex<Option<Hook>>,
    transactions: AtomicU64,
}

impl Model {
    fn new(latency: SimTime) -> Arc<Model> {
        Arc::new(Model { latency, scratch: Mutex::new(vec![0; 4096]), ..Model::default() })
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.console.lock().unwrap()).into_owned()
    }

    fn serve(&self, tx: &mut Transaction) -> Status {
        if let Some(driver) = self.driver.get() {
            assert_eq!(*driver, std::thread::current().id(), "served on the driving thread");
        }
        self.transactions.fetch_add(1, Ordering::Relaxed);
        let at = SimTime(self.now.load(Ordering::Relaxed)) + tx.delay;
        tx.delay = tx.delay + self.latency;
        let offset = tx.address - EXT_BASE;
        match (offset, tx.command) {
            (0x0000, Command::Write) => {
                self.console.lock().unwrap().push(tx.data[0]);
                if tx.data[0] == b'\n'
                    && let Some(hook) = self.on_first_line.lock().unwrap().take()
                {
                    hook(at);
                }
            }
            (0x1000, Command::Read) => {
                self.reads_of_now.lock().unwrap().push(at);
                tx.set_value(at.0 / 1000);
            }
            (0x1008, Command::Write) => {
                let fire = at + SimTime::from_nanos(tx.value());
                *self.alarm_at.lock().unwrap() = Some(fire);
                self.interrupts.get().unwrap().set_at(Line::Plic(ALARM_IRQ), true, fire).unwrap();
                tx.sync = self.sync_on_alarm;
            }
            (0x1010, Command::Write) => self.interrupts.get().unwrap().set(Line::Plic(ALARM_IRQ), false).unwrap(),
            (0x2000..0x3000, command) => {
                let start = (offset - 0x2000) as usize;
                let mut scratch = self.scratch.lock().unwrap();
                let bytes = &mut scratch[start..start + usize::from(tx.size)];
                match command {
                    Command::Read => tx.data[..bytes.len()].copy_from_slice(bytes),
                    Command::Write => bytes.copy_from_slice(&tx.data[..usize::from(tx.size)]),
                }
            }
            _ => return Status::AddressError,
        }
        Status::Ok
    }
}

fn cosim_with(model: &Arc<Model>, config: VirtConfig, quantum: SimTime) -> (Cosim, Arc<Region>) {
    let mut builder = CosimBuilder::new(config.kernel(GUEST.to_vec()).console(std::io::sink())).quantum(quantum);
    let target = model.clone();
    let region = builder.region("ext", EXT_BASE, 0x4000, move |tx: &mut Transaction| target.serve(tx));
    let cosim = builder.build().unwrap();
    let _ = model.interrupts.set(cosim.interrupts().clone());
    (cosim, region)
}

/// Advances in steps of `step` until the machine stops; returns why and
/// every advance's result.
fn run(cosim: &mut Cosim, model: &Model, step: SimTime) -> (StopReason, Vec<polyhart_cosim::Advance>) {
    let _ = model.driver.set(std::thread::current().id());
    let mut steps = Vec::new();
    for _ in 0..1_000_000 {
        let before = cosim.now();
        let advance = cosim.advance(step);
        assert!(advance.time >= before, "time never runs backwards");
        assert_eq!(advance.time, cosim.now());
        model.now.store(advance.time.0, Ordering::Relaxed);
        steps.push(advance);
        if let AdvanceEnd::Stopped(reason) = advance.end {
            return (reason, steps);
        }
    }
    panic!("the guest did not finish");
}

#[test]
fn the_guest_runs_against_the_outside_devices_at_several_quanta() {
    for (quantum, step) in [(1, 1), (10, 10), (100, 100), (10, 3)] {
        for scheduling in [Scheduling::Deterministic, Scheduling::Parallel] {
            let model = Model::new(SimTime::from_nanos(10));
            let config = VirtConfig::new().scheduling(scheduling);
            let (mut cosim, region) = cosim_with(&model, config, SimTime::from_micros(quantum));
            let (reason, steps) = run(&mut cosim, &model, SimTime::from_micros(step));
            let what = format!("quantum {quantum} us, steps of {step} us, {scheduling:?}");
            assert_eq!(reason, StopReason::Exit(0), "{what}: {}", model.output());
            assert_eq!(model.output(), EXPECTED, "{what}");
            // Every advance but the last reached its target exactly.
            for advance in &steps[..steps.len() - 1] {
                assert_eq!(advance.end, AdvanceEnd::Reached, "{what}");
                assert_eq!(advance.time.0 % SimTime::from_micros(step).0, 0, "{what}");
            }
            assert_eq!(region.stats().transactions, model.transactions.load(Ordering::Relaxed));
            // The quantum keeper's view after the last advance: the harts
            // stopped (exited) at or after the outside's time.
            let offset = cosim.local_offset(0).unwrap();
            assert_eq!(cosim.time_to_sync(0).unwrap(), cosim.quantum() - offset, "{what}");
            assert_eq!(cosim.need_sync(0).unwrap(), offset >= cosim.quantum(), "{what}");
            assert_eq!(region.stats().dmi_accesses, 0);
        }
    }
}

#[test]
fn compiled_code_reaches_the_outside_devices_the_same_way() {
    // Every block compiled at once: device loads and stores (which compiled
    // code leaves to the interpreter) and AMOs (which it makes through a
    // helper) reach the outside with exact time.
    let times: Vec<Vec<SimTime>> = [Engine::Interpreter, Engine::Jit(JitConfig::new(0))]
        .into_iter()
        .map(|engine| {
            let model = Model::new(SimTime::from_nanos(10));
            let config = VirtConfig::new().engine(engine).scheduling(Scheduling::Deterministic);
            let (mut cosim, _) = cosim_with(&model, config, SimTime::from_micros(10));
            let (reason, _) = run(&mut cosim, &model, SimTime::from_micros(10));
            assert_eq!(reason, StopReason::Exit(0));
            assert_eq!(model.output(), EXPECTED);
            model.reads_of_now.lock().unwrap().clone()
        })
        .collect();
    assert_eq!(times[0], times[1], "both tiers read the outside's clock at the same times");
}

#[test]
fn a_timed_interrupt_wakes_the_hart_at_its_time() {
    let model = Model::new(SimTime::ZERO);
    let (mut cosim, _) = cosim_with(&model, VirtConfig::new(), SimTime::from_micros(10));
    let (reason, _) = run(&mut cosim, &model, SimTime::from_micros(10));
    assert_eq!(reason, StopReason::Exit(0));
    let fire = model.alarm_at.lock().unwrap().expect("the alarm was armed");
    // The handler's read of NOW, a few instructions after the wake-up: the
    // hart slept in `wfi` until exactly `fire`, not to a quantum boundary.
    let woken = *model.reads_of_now.lock().unwrap().last().unwrap();
    assert!(woken >= fire, "not before the alarm: {woken} < {fire}");
    assert!(woken < fire + SimTime::from_nanos(100), "at the alarm, not a quantum later: {woken} vs {fire}");
}

#[test]
fn latency_the_outside_adds_moves_the_harts_local_time() {
    let end_time = |latency: SimTime| {
        let model = Model::new(latency);
        let (mut cosim, region) = cosim_with(&model, VirtConfig::new(), SimTime::from_micros(10));
        let (reason, _) = run(&mut cosim, &model, SimTime::from_nanos(500));
        assert_eq!(reason, StopReason::Exit(0));
        (cosim.local_time(0).unwrap(), region.stats().transactions, model.reads_of_now.lock().unwrap().clone())
    };
    let (fast, count, fast_reads) = end_time(SimTime::ZERO);
    let (slow, count_slow, slow_reads) = end_time(SimTime::from_nanos(100));
    assert_eq!(count, count_slow);
    // All but the alarm's wait (fixed in simulated time, from when it was
    // armed) is stretched by the latency of each transaction before it.
    let stretch = slow - fast;
    assert!(stretch.0 > 0);
    let before_alarm = SimTime::from_nanos(100).0 * (count - 8);
    assert!(stretch.0 >= before_alarm * 9 / 10, "{stretch} for {count} transactions");
    // NOW reads see the latency of the transactions before them.
    assert!(slow_reads[0] > fast_reads[0] + SimTime::from_nanos(100 * 100));
}

/// Grants `host` as the whole scratch memory, with `latency` per access.
///
/// # Safety
/// `host` must outlive the machine's use of it (4096 bytes).
unsafe fn grant_scratch(region: &Region, host: &mut [u8], latency: SimTime) {
    let grant = DmiGrant {
        start: SCRATCH,
        len: 4096,
        host: host.as_mut_ptr(),
        read: true,
        write: true,
        read_latency: latency,
        write_latency: latency,
    };
    // SAFETY: the caller's contract.
    unsafe { region.grant_dmi(grant) }.unwrap();
}

#[test]
fn dmi_memory_is_used_directly_and_revocation_takes_effect_at_once() {
    // Granted: scratch accesses go to host memory, not to the target.
    let model = Model::new(SimTime::from_nanos(10));
    let (mut cosim, region) = cosim_with(&model, VirtConfig::new(), SimTime::from_micros(10));
    let mut host = vec![0u8; 4096];
    // SAFETY: `host` outlives the machine's use of it: it is dropped after
    // `cosim`, which is dropped first at the end of this block.
    unsafe { grant_scratch(&region, &mut host, SimTime::from_nanos(1)) };
    let (reason, _) = run(&mut cosim, &model, SimTime::from_micros(10));
    assert_eq!(reason, StopReason::Exit(0));
    assert_eq!(model.output(), EXPECTED);
    assert!(region.stats().dmi_accesses >= 128 + 3, "{:?}", region.stats());
    assert_eq!(model.scratch.lock().unwrap().iter().filter(|&&b| b != 0).count(), 0, "the target saw none");
    drop(cosim);
    let word = |i: usize| u32::from_le_bytes(host[4 * i..4 * i + 4].try_into().unwrap());
    assert!((0..64).all(|i| word(i) == 3 * i as u32 + 1), "the guest's words are in host memory");
    assert_eq!(u64::from_le_bytes(host[0x800..0x808].try_into().unwrap()), 7);

    // Revoked by the target itself on the first console line, before any
    // scratch access: from then on the target serves them.
    let model = Model::new(SimTime::from_nanos(10));
    let (mut cosim, region) = cosim_with(&model, VirtConfig::new().harts(2), SimTime::from_micros(10));
    let mut host = vec![0u8; 4096];
    // SAFETY: as above.
    unsafe { grant_scratch(&region, &mut host, SimTime::ZERO) };
    let revoker = region.clone();
    *model.on_first_line.lock().unwrap() = Some(Box::new(move |_| revoker.revoke_dmi(SCRATCH..SCRATCH + 4096)));
    let (reason, _) = run(&mut cosim, &model, SimTime::from_micros(10));
    assert_eq!(reason, StopReason::Exit(0));
    assert_eq!(model.output(), EXPECTED);
    assert_eq!(region.stats().dmi_accesses, 0);
    drop(cosim);
    assert!(host.iter().all(|&b| b == 0), "no access reached the revoked memory");
}

#[test]
fn a_grant_outside_the_region_is_refused() {
    let model = Model::new(SimTime::ZERO);
    let (_cosim, region) = cosim_with(&model, VirtConfig::new(), SimTime::from_micros(10));
    let mut host = [0u8; 16];
    let grant = DmiGrant {
        start: EXT_BASE + 0x3ff8,
        len: 16,
        host: host.as_mut_ptr(),
        read: true,
        write: true,
        read_latency: SimTime::ZERO,
        write_latency: SimTime::ZERO,
    };
    // SAFETY: refused, so never used.
    assert!(unsafe { region.grant_dmi(grant) }.is_err());
    // SAFETY: refused, so never used.
    assert!(unsafe { region.grant_dmi(DmiGrant { host: std::ptr::null_mut(), start: SCRATCH, ..grant }) }.is_err());
}

#[test]
fn dmi_grants_do_not_pile_up_and_revokes_cover_what_they_say() {
    let model = Model::new(SimTime::ZERO);
    let (_cosim, region) = cosim_with(&model, VirtConfig::new(), SimTime::from_micros(10));
    let mut host = vec![0u8; 4096];
    let grants = || region.stats().dmi_grants;
    for _ in 0..100 {
        // SAFETY: `host` outlives the machine, which never runs here.
        unsafe { grant_scratch(&region, &mut host, SimTime::ZERO) };
    }
    assert_eq!(grants(), 1, "the same grant, again and again");
    let half = DmiGrant {
        start: SCRATCH + 2048,
        len: 2048,
        host: host[2048..].as_mut_ptr(),
        read: true,
        write: false,
        read_latency: SimTime::ZERO,
        write_latency: SimTime::ZERO,
    };
    // SAFETY: as above.
    unsafe { region.grant_dmi(half) }.unwrap();
    assert_eq!(grants(), 2, "a narrower grant hides nothing");
    // SAFETY: as above.
    unsafe { grant_scratch(&region, &mut host, SimTime::ZERO) };
    assert_eq!(grants(), 1, "a wider one, allowing more, hides both");

    // Ranges: ends are exclusive, or inclusive where the range says so.
    region.revoke_dmi(SCRATCH + 4096..);
    region.revoke_dmi(..SCRATCH);
    region.revoke_dmi(SCRATCH + 10..SCRATCH + 10);
    assert_eq!(grants(), 1, "no overlap, no revoke");
    region.revoke_dmi(SCRATCH + 4095..=SCRATCH + 4095);
    assert_eq!(grants(), 0, "the last byte overlaps");
    // SAFETY: as above.
    unsafe { grant_scratch(&region, &mut host, SimTime::ZERO) };
    region.revoke_dmi(..);
    assert_eq!(grants(), 0, "everything");
}

#[test]
fn a_transaction_can_make_the_hart_synchronise() {
    let model = Arc::new(Model { sync_on_alarm: true, scratch: Mutex::new(vec![0; 4096]), ..Model::default() });
    let (mut cosim, _) = cosim_with(&model, VirtConfig::new(), SimTime::from_micros(100));
    let (reason, steps) = run(&mut cosim, &model, SimTime::from_micros(100));
    assert_eq!(reason, StopReason::Exit(0));
    assert_eq!(model.output(), EXPECTED);
    let (index, synced) = steps.iter().enumerate().find(|(_, a)| a.end == AdvanceEnd::Sync { hart: 0 }).unwrap();
    let start = if index == 0 { SimTime::ZERO } else { steps[index - 1].time };
    assert!(synced.time > start && synced.time < start + SimTime::from_micros(100), "ended early, at the hart's time");
    // The advance ended where the hart armed the alarm (the NOW read just
    // before it, plus a few instructions).
    let armed = model.reads_of_now.lock().unwrap()[2];
    assert!(synced.time >= armed && synced.time < armed + SimTime::from_nanos(100), "{} vs {armed}", synced.time);
}

#[test]
fn a_hart_reset_from_outside_restarts_it() {
    let model = Model::new(SimTime::ZERO);
    let (mut cosim, _) = cosim_with(&model, VirtConfig::new(), SimTime::from_micros(10));
    let interrupts = cosim.interrupts().clone();
    // While the guest fills the scratch memory, before it arms the alarm
    // (the PLIC keeps its state across a hart reset).
    *model.on_first_line.lock().unwrap() =
        Some(Box::new(move |at| interrupts.reset_at(0, at + SimTime::from_nanos(300)).unwrap()));
    let (reason, _) = run(&mut cosim, &model, SimTime::from_micros(10));
    let output = model.output();
    assert_eq!(reason, StopReason::Exit(0), "{output}");
    assert!(output.starts_with("cosim: hello from the guest\n"), "{output}");
    assert_eq!(output.matches("cosim: hello").count(), 2, "restarted once: {output}");
    assert!(output.ends_with(EXPECTED), "{output}");
}

#[test]
fn transactions_from_parallel_harts_are_served_on_the_driving_thread() {
    // Four harts on their own threads; the model asserts the thread.
    let model = Model::new(SimTime::from_nanos(5));
    let config = VirtConfig::new().harts(4).scheduling(Scheduling::Parallel);
    let (mut cosim, _) = cosim_with(&model, config, SimTime::from_micros(1));
    let (reason, _) = run(&mut cosim, &model, SimTime::from_micros(5));
    assert_eq!(reason, StopReason::Exit(0));
    assert_eq!(model.output(), EXPECTED);
}

#[test]
fn several_cosimulated_machines_run_at_once_in_one_process() {
    let outputs: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4)
            .map(|i| {
                scope.spawn(move || {
                    let model = Model::new(SimTime::from_nanos(i * 7));
                    let config = VirtConfig::new().harts(1 + i as usize % 2);
                    let (mut cosim, _) = cosim_with(&model, config, SimTime::from_micros(1 + i));
                    let (reason, _) = run(&mut cosim, &model, SimTime::from_micros(3 + i));
                    assert_eq!(reason, StopReason::Exit(0));
                    model.output()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(outputs.iter().all(|o| o == EXPECTED), "{outputs:?}");
}

#[test]
fn lines_that_do_not_exist_are_refused() {
    let model = Model::new(SimTime::ZERO);
    let (cosim, _) = cosim_with(&model, VirtConfig::new(), SimTime::from_micros(10));
    let lines = cosim.interrupts();
    assert!(lines.set(Line::Plic(0), true).is_err());
    assert!(lines.set(Line::Plic(96), true).is_err());
    assert!(lines.set(Line::Hart { hart: 1, irq: polyhart_iss::Interrupt::SupervisorExternal }, true).is_err());
    assert!(lines.reset_at(3, SimTime::ZERO).is_err());
    assert!(lines.set(Line::Plic(95), true).is_ok());
}

#[test]
fn lines_the_board_drives_are_refused() {
    use polyhart_cosim::LineError;
    use polyhart_iss::Interrupt;
    let model = Model::new(SimTime::ZERO);
    let (cosim, _) = cosim_with(&model, VirtConfig::new(), SimTime::from_micros(10));
    let lines = cosim.interrupts();
    assert_eq!(lines.set(Line::Plic(10), true), Err(LineError::BoardSource(10)));
    assert_eq!(lines.set_at(Line::Plic(11), true, SimTime::ZERO), Err(LineError::BoardSource(11)));
    for irq in
        [Interrupt::MachineSoftware, Interrupt::MachineTimer, Interrupt::MachineExternal, Interrupt::SupervisorExternal]
    {
        assert_eq!(lines.set(Line::Hart { hart: 0, irq }, true), Err(LineError::BoardLine(irq)));
    }
    assert!(lines.set(Line::Hart { hart: 0, irq: Interrupt::SupervisorSoftware }, false).is_ok());
    assert!(lines.set(Line::Plic(9), false).is_ok() && lines.set(Line::Plic(12), false).is_ok());
}

#[test]
fn a_restored_cosimulation_goes_on_as_the_saved_one_with_its_time_and_queued_interrupts() {
    let quantum = SimTime::from_micros(1);
    let model = Model::new(SimTime::from_nanos(10));
    let (mut original, _) = cosim_with(&model, VirtConfig::new(), quantum);
    let _ = model.driver.set(std::thread::current().id());
    // Advance until the guest has armed the outside's alarm, whose
    // interrupt is queued for a later time.
    let armed = (0..100_000).find(|_| {
        let advance = original.advance(SimTime::from_nanos(500));
        model.now.store(advance.time.0, Ordering::Relaxed);
        model.alarm_at.lock().unwrap().is_some_and(|at| at > advance.time)
    });
    assert!(armed.is_some(), "the guest arms the alarm");
    let snapshot = original.snapshot().expect("saved");
    // The outside's side of the copy: its devices as they are now.
    let copy = Model::new(SimTime::from_nanos(10));
    *copy.console.lock().unwrap() = model.console.lock().unwrap().clone();
    *copy.scratch.lock().unwrap() = model.scratch.lock().unwrap().clone();
    *copy.alarm_at.lock().unwrap() = *model.alarm_at.lock().unwrap();
    copy.now.store(model.now.load(Ordering::Relaxed), Ordering::Relaxed);
    let (mut restored, _) = cosim_with(&copy, VirtConfig::new(), quantum);
    restored.restore(&snapshot).expect("restored");
    assert_eq!(restored.now(), original.now(), "the outside's time comes back");
    // Built restored, the outside's time comes back too.
    let (built, _) = cosim_with(&Model::new(SimTime::ZERO), VirtConfig::new().restored_from(snapshot.clone()), quantum);
    assert_eq!(built.now(), original.now(), "built restored");
    assert_eq!(built.machine().instructions(), original.machine().instructions());
    let (original_end, _) = run(&mut original, &model, SimTime::from_micros(1));
    let (restored_end, _) = run(&mut restored, &copy, SimTime::from_micros(1));
    assert_eq!(original_end, StopReason::Exit(0));
    assert_eq!(restored_end, original_end);
    assert_eq!(copy.output(), model.output(), "the same console output");
    assert_eq!(restored.now(), original.now(), "the same end time");
    assert_eq!(restored.machine().instructions(), original.machine().instructions());
    assert_eq!(*copy.reads_of_now.lock().unwrap().last().unwrap(), *model.reads_of_now.lock().unwrap().last().unwrap());
}
