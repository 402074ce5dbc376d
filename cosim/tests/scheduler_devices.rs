//! Device models written as scheduler processes (those of the `async_devices`
//! example) keep their time exactly.

#[path = "../examples/async_devices.rs"]
#[allow(dead_code)]
mod async_devices;

use std::cell::RefCell;
use std::rc::Rc;

use async_devices::{CountdownTimer, Fifo, Level};
use polyhart_cosim::SimTime;
use polyhart_cosim::scheduler::Scheduler;

const NS: u64 = 1_000;

fn ns(n: u64) -> SimTime {
    SimTime(n * NS)
}

/// Whether the line is low just before `time` and high at `time`.
fn rises_at(scheduler: &mut Scheduler, line: &Level, time: SimTime) -> bool {
    scheduler.run_until(SimTime(time.0 - 1)).unwrap();
    let low_before = !line.is_high();
    scheduler.run_until(time).unwrap();
    low_before && line.is_high()
}

#[test]
fn the_timer_raises_its_interrupt_at_exactly_the_armed_time() {
    let mut scheduler = Scheduler::new();
    let line = Level::default();
    let timer = CountdownTimer::new(&scheduler.handle(), line.clone());
    scheduler.run_until(ns(5)).unwrap();

    timer.arm(ns(20), None);
    assert!(rises_at(&mut scheduler, &line, ns(25)));
    timer.acknowledge();

    // Re-armed while counting, to a later deadline: the later one holds.
    timer.arm(ns(10), None);
    scheduler.run_until(ns(30)).unwrap();
    timer.arm(ns(25), None);
    assert!(rises_at(&mut scheduler, &line, ns(55)));
    timer.acknowledge();
    scheduler.run_until(ns(100)).unwrap();
    assert!(!line.is_high(), "a one-shot timer fires once");
}

#[test]
fn a_periodic_timer_fires_every_period_until_disarmed() {
    let mut scheduler = Scheduler::new();
    let line = Level::default();
    let timer = CountdownTimer::new(&scheduler.handle(), line.clone());
    timer.arm(ns(7), Some(ns(10)));
    for expiry in [7, 17, 27] {
        assert!(rises_at(&mut scheduler, &line, ns(expiry)), "expiry at {expiry} ns");
        timer.acknowledge();
    }
    timer.disarm();
    assert_eq!(scheduler.next_time(), None);
    scheduler.run_until(ns(100)).unwrap();
    assert!(!line.is_high());
}

#[test]
fn a_fifo_holds_its_producer_back_to_its_consumers_pace() {
    let mut scheduler = Scheduler::new();
    let sim = scheduler.handle();
    let fifo = Rc::new(Fifo::new(&sim, 2));
    let log = Rc::new(RefCell::new(Vec::new()));

    let (producer_sim, producer_fifo, producer_log) = (sim.clone(), Rc::clone(&fifo), Rc::clone(&log));
    scheduler.spawn(async move {
        for value in 0..6 {
            producer_fifo.put(value).await;
            producer_log.borrow_mut().push(("put", value, producer_sim.now()));
            producer_sim.wait(ns(3)).await;
        }
    });
    let (consumer_sim, consumer_fifo, consumer_log) = (sim.clone(), Rc::clone(&fifo), Rc::clone(&log));
    scheduler.spawn(async move {
        for _ in 0..6 {
            let value = consumer_fifo.get().await;
            consumer_log.borrow_mut().push(("get", value, consumer_sim.now()));
            consumer_sim.wait(ns(8)).await;
        }
    });
    scheduler.run().unwrap();

    let log = log.take();
    let times =
        |what| log.iter().filter(|(op, ..)| *op == what).map(|&(_, value, time)| (value, time)).collect::<Vec<_>>();
    // Two values ahead at most: from the fifth on, each put waits for a get.
    assert_eq!(times("put"), [(0, ns(0)), (1, ns(3)), (2, ns(6)), (3, ns(9)), (4, ns(16)), (5, ns(24))]);
    assert_eq!(times("get"), [(0, ns(0)), (1, ns(8)), (2, ns(16)), (3, ns(24)), (4, ns(32)), (5, ns(40))]);
    assert_eq!((scheduler.now(), scheduler.process_count()), (ns(48), 0));
}
