//! The embedded default: `tests/guest/cosim.c`'s devices written as
//! processes of the embedded scheduler, driving the machine with no outside
//! simulator.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use polyhart_cosim::scheduler::{Event, SchedulerHandle};
use polyhart_cosim::{
    Command, CosimBuilder, Embedded, Interrupts, Line, OnDriver, Scheduler, SimTime, Status, Transaction,
};
use polyhart_machine::{Scheduling, StopReason, VirtConfig};

mod common;
use common::{ALARM_IRQ, EXPECTED, EXT_BASE, GUEST};

/// The devices: registers served synchronously, the timer's behaviour a
/// scheduler process.
struct Devices {
    sim: SchedulerHandle,
    interrupts: Interrupts,
    console: RefCell<Vec<u8>>,
    scratch: RefCell<Vec<u8>>,
    /// Notified when the guest arms the alarm.
    armed: Event,
    /// How long after the scheduler's time the alarm fires once armed.
    alarm_in: Cell<SimTime>,
    fired_at: Cell<Option<SimTime>>,
    /// When the guest's handler read NOW last.
    last_now_read: Cell<SimTime>,
}

impl Devices {
    fn serve(&self, tx: &mut Transaction) -> Status {
        // The scheduler stands at the outside's time; the hart is `delay` ahead.
        let at = self.sim.now() + tx.delay;
        tx.delay = tx.delay + SimTime::from_nanos(10);
        match (tx.address - EXT_BASE, tx.command) {
            (0x0000, Command::Write) => self.console.borrow_mut().push(tx.data[0]),
            (0x1000, Command::Read) => {
                self.last_now_read.set(at);
                tx.set_value(at.0 / 1000);
            }
            (0x1008, Command::Write) => {
                let fire = at + SimTime::from_nanos(tx.value());
                self.alarm_in.set(fire - self.sim.now());
                self.armed.notify();
                // The advance in progress must end there for the process
                // to raise the line on time.
                self.interrupts.stop_at(fire);
            }
            (0x1010, Command::Write) => self.interrupts.set(Line::Plic(ALARM_IRQ), false).unwrap(),
            (offset @ 0x2000..0x3000, command) => {
                let start = (offset - 0x2000) as usize;
                let mut scratch = self.scratch.borrow_mut();
                let cells = &mut scratch[start..start + usize::from(tx.size)];
                match command {
                    Command::Read => tx.data[..cells.len()].copy_from_slice(cells),
                    Command::Write => cells.copy_from_slice(&tx.data[..cells.len()]),
                }
            }
            _ => return Status::AddressError,
        }
        Status::Ok
    }

    /// The timer: waits to be armed, then for the alarm, then raises its line.
    async fn timer(self: Rc<Self>) {
        loop {
            self.armed.wait().await;
            self.sim.wait(self.alarm_in.get()).await;
            self.fired_at.set(Some(self.sim.now()));
            self.interrupts.set(Line::Plic(ALARM_IRQ), true).unwrap();
        }
    }
}

fn run(config: VirtConfig) -> (StopReason, Rc<Devices>) {
    let scheduler = Scheduler::new();
    let mut builder = CosimBuilder::new(config.kernel(GUEST.to_vec()).console(std::io::sink()));
    // The region is added before the machine exists; its target reaches the
    // devices once they do.
    let slot: Rc<RefCell<Option<Rc<Devices>>>> = Rc::new(RefCell::new(None));
    let target = OnDriver::new(slot.clone());
    builder.region("ext", EXT_BASE, 0x4000, move |tx: &mut Transaction| {
        target.get().borrow().as_ref().expect("devices built").serve(tx)
    });
    let cosim = builder.build().unwrap();
    let devices = Rc::new(Devices {
        sim: scheduler.handle(),
        interrupts: cosim.interrupts().clone(),
        console: RefCell::new(Vec::new()),
        scratch: RefCell::new(vec![0; 4096]),
        armed: scheduler.event(),
        alarm_in: Cell::new(SimTime::ZERO),
        fired_at: Cell::new(None),
        last_now_read: Cell::new(SimTime::ZERO),
    });
    *slot.borrow_mut() = Some(devices.clone());
    scheduler.spawn(devices.clone().timer());
    let mut embedded = Embedded::new(cosim, scheduler);
    let reason = embedded.run().unwrap();
    assert_eq!(embedded.scheduler().now(), embedded.cosim().now(), "the scheduler kept the machine's time");
    (reason, devices)
}

#[test]
fn device_processes_drive_the_guest_with_exact_timing() {
    for scheduling in [Scheduling::Deterministic, Scheduling::Parallel] {
        for harts in [1, 3] {
            let (reason, devices) = run(VirtConfig::new().harts(harts).scheduling(scheduling));
            let output = String::from_utf8_lossy(&devices.console.borrow()).into_owned();
            assert_eq!(reason, StopReason::Exit(0), "{scheduling:?}, {harts} harts: {output}");
            assert_eq!(output, EXPECTED, "{scheduling:?}, {harts} harts");
            // The process fired at the armed time, and the machine stopped
            // there for it: the handler's read of NOW comes right after.
            let fired = devices.fired_at.get().expect("the alarm fired");
            let woken = devices.last_now_read.get();
            assert!(woken >= fired && woken < fired + SimTime::from_nanos(200), "{woken} vs {fired}");
        }
    }
}

#[test]
fn driver_state_cannot_be_reached_from_another_thread() {
    let state = OnDriver::new(Rc::new(5));
    let state = &state;
    std::thread::scope(|scope| {
        let refused = scope
            .spawn(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| **state.get())).is_err())
            .join()
            .unwrap();
        assert!(refused, "reaching it elsewhere panics");
    });
    assert_eq!(**state.get(), 5);
}
