//! Device models written as processes of the embedded scheduler: a countdown
//! timer that raises an interrupt line, and a bounded FIFO between a producer
//! and a consumer. `main` drives them the way an outside simulator would,
//! stepping from one activity to the next with `next_time` and `run_until`.
//!
//! Run with `cargo run -p polyhart-cosim --example async_devices`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use polyhart_cosim::SimTime;
use polyhart_cosim::scheduler::{Event, Scheduler, SchedulerHandle};
use polyhart_machine::devices::InterruptLine;

/// A countdown timer: software arms it with a delay, and when the delay has
/// run out it raises its interrupt line, at exactly the time it was armed plus
/// the delay. Arming again restarts the countdown; a periodic timer re-arms
/// itself on expiry.
#[derive(Debug)]
pub(crate) struct CountdownTimer<L> {
    expiry: Event,
    period: Cell<Option<SimTime>>,
    line: L,
}

impl<L: InterruptLine + 'static> CountdownTimer<L> {
    /// A disarmed timer driving `line`, with its process started on `sim`.
    pub(crate) fn new(sim: &SchedulerHandle, line: L) -> Rc<CountdownTimer<L>> {
        let timer = Rc::new(CountdownTimer { expiry: sim.event(), period: Cell::new(None), line });
        let this = Rc::clone(&timer);
        sim.spawn(async move {
            loop {
                this.expiry.wait().await;
                this.line.set(true);
                if let Some(period) = this.period.get() {
                    this.expiry.notify_after(period);
                }
            }
        });
        timer
    }

    /// Expires `delay` from now, then every `period` if one is given.
    pub(crate) fn arm(&self, delay: SimTime, period: Option<SimTime>) {
        self.period.set(period);
        // An event keeps the earlier of two notifications: cancel first, so
        // that a later deadline replaces an earlier one.
        self.expiry.cancel();
        self.expiry.notify_after(delay);
    }

    /// Stops the countdown.
    pub(crate) fn disarm(&self) {
        self.period.set(None);
        self.expiry.cancel();
    }

    /// Lowers the interrupt line (the handler's write to a status register).
    pub(crate) fn acknowledge(&self) {
        self.line.set(false);
    }
}

/// An interrupt line that only remembers its level.
#[derive(Clone, Debug, Default)]
pub(crate) struct Level(Arc<AtomicBool>);

impl Level {
    /// Whether the line is raised.
    pub(crate) fn is_high(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl InterruptLine for Level {
    fn set(&self, level: bool) {
        self.0.store(level, Ordering::Relaxed);
    }
}

/// A bounded first-in first-out channel between processes, after SystemC's
/// `sc_fifo`: a writer waits while the FIFO is full, a reader while it is
/// empty, and each is woken in the delta cycle after the other made room or
/// wrote. (Unlike `sc_fifo`, a value is readable as soon as it is written.)
#[derive(Debug)]
pub(crate) struct Fifo<T> {
    items: RefCell<VecDeque<T>>,
    capacity: usize,
    written: Event,
    read: Event,
}

impl<T> Fifo<T> {
    /// An empty FIFO holding at most `capacity` values (at least one).
    pub(crate) fn new(sim: &SchedulerHandle, capacity: usize) -> Fifo<T> {
        let capacity = capacity.max(1);
        Fifo {
            items: RefCell::new(VecDeque::with_capacity(capacity)),
            capacity,
            written: sim.event(),
            read: sim.event(),
        }
    }

    /// Appends `item`, first waiting for room.
    pub(crate) async fn put(&self, item: T) {
        while self.items.borrow().len() == self.capacity {
            self.read.wait().await;
        }
        self.items.borrow_mut().push_back(item);
        self.written.notify_after(SimTime::ZERO);
    }

    /// Takes the oldest value, first waiting for one.
    pub(crate) async fn get(&self) -> T {
        loop {
            let item = self.items.borrow_mut().pop_front();
            if let Some(item) = item {
                self.read.notify_after(SimTime::ZERO);
                return item;
            }
            self.written.wait().await;
        }
    }
}

const NS: u64 = 1_000;

fn main() -> Result<(), polyhart_cosim::scheduler::RunError> {
    let mut scheduler = Scheduler::new();
    let sim = scheduler.handle();

    // The timer, armed at 0 for 25 ns then every 10 ns.
    let line = Level::default();
    let timer = CountdownTimer::new(&sim, line.clone());
    timer.arm(SimTime(25 * NS), Some(SimTime(10 * NS)));

    // A producer sending 0..6 every 3 ns into a FIFO of 2, and a consumer
    // taking one value every 8 ns: the producer is held back.
    let fifo = Rc::new(Fifo::new(&sim, 2));
    let (producer_sim, producer_fifo) = (sim.clone(), Rc::clone(&fifo));
    scheduler.spawn(async move {
        for value in 0..6 {
            producer_fifo.put(value).await;
            println!("{:>10}  produced {value}", producer_sim.now().to_string());
            producer_sim.wait(SimTime(3 * NS)).await;
        }
    });
    let (consumer_sim, consumer_fifo) = (sim.clone(), Rc::clone(&fifo));
    scheduler.spawn(async move {
        for _ in 0..6 {
            let value = consumer_fifo.get().await;
            println!("{:>10}  consumed {value}", consumer_sim.now().to_string());
            consumer_sim.wait(SimTime(8 * NS)).await;
        }
    });

    // The outside driver: step to each activity, watch the line between steps
    // and play the interrupt handler.
    let end = SimTime(60 * NS);
    while let Some(next) = scheduler.next_time().filter(|next| *next <= end) {
        scheduler.run_until(next)?;
        if line.is_high() {
            println!("{:>10}  timer interrupt", scheduler.now().to_string());
            timer.acknowledge();
        }
    }
    timer.disarm();
    scheduler.run_until(end)?;
    println!("{:>10}  end", scheduler.now().to_string());
    Ok(())
}
