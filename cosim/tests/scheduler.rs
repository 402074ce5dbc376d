//! The embedded scheduler's scheduling rules, through its public API.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use polyhart_cosim::SimTime;
use polyhart_cosim::scheduler::{RunError, Scheduler, SchedulerHandle};

const NS: u64 = 1_000;

fn ns(n: u64) -> SimTime {
    SimTime(n * NS)
}

/// What processes did, and when.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<(SimTime, String)>>>);

impl Log {
    fn note(&self, sim: &SchedulerHandle, what: impl Into<String>) {
        self.0.borrow_mut().push((sim.now(), what.into()));
    }

    fn take(&self) -> Vec<(SimTime, String)> {
        std::mem::take(&mut self.0.borrow_mut())
    }

    fn names(&self) -> Vec<String> {
        self.take().into_iter().map(|(_, name)| name).collect()
    }
}

fn at(time: SimTime, what: &str) -> (SimTime, String) {
    (time, what.to_owned())
}

#[test]
fn processes_resume_in_time_order_whatever_their_spawn_order() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    for (name, delay) in [("c", 30), ("a", 10), ("d", 40), ("b", 20)] {
        let (sim, log) = (scheduler.handle(), log.clone());
        scheduler.spawn(async move {
            sim.wait(ns(delay)).await;
            log.note(&sim, name);
        });
    }
    scheduler.run().unwrap();
    assert_eq!(log.take(), [at(ns(10), "a"), at(ns(20), "b"), at(ns(30), "c"), at(ns(40), "d")]);
    assert_eq!(scheduler.now(), ns(40));
}

#[test]
fn processes_due_at_the_same_time_run_first_in_first_out() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    // Spawned in one order, but scheduled for 10 ns in another: the schedule order counts.
    for (name, first_wait) in [("late", 5), ("early", 0)] {
        let (sim, log) = (scheduler.handle(), log.clone());
        scheduler.spawn(async move {
            log.note(&sim, format!("{name} spawned"));
            sim.wait(ns(first_wait)).await;
            sim.wait(ns(10 - first_wait)).await;
            log.note(&sim, name);
        });
    }
    scheduler.run().unwrap();
    assert_eq!(
        log.take(),
        [at(ns(0), "late spawned"), at(ns(0), "early spawned"), at(ns(10), "early"), at(ns(10), "late")]
    );
}

#[test]
fn a_yield_lets_every_other_runnable_process_go_first() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    for name in ["p", "q"] {
        let (sim, log) = (scheduler.handle(), log.clone());
        scheduler.spawn(async move {
            log.note(&sim, format!("{name}1"));
            sim.yield_now().await;
            log.note(&sim, format!("{name}2"));
            // A zero wait is the same delta-cycle wait.
            sim.wait(SimTime::ZERO).await;
            log.note(&sim, format!("{name}3"));
        });
    }
    scheduler.run().unwrap();
    assert_eq!(log.names(), ["p1", "q1", "p2", "q2", "p3", "q3"]);
    assert_eq!(scheduler.now(), SimTime::ZERO);
}

/// A process that notes every time `event` fires, forever.
fn watch(scheduler: &Scheduler, event: &polyhart_cosim::Event, log: &Log, name: &'static str) {
    let (sim, event, log) = (scheduler.handle(), event.clone(), log.clone());
    scheduler.spawn(async move {
        loop {
            event.wait().await;
            log.note(&sim, name);
        }
    });
}

#[test]
fn an_immediate_notification_wakes_its_waiters_in_the_same_delta_cycle() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    let event = scheduler.event();
    watch(&scheduler, &event, &log, "woken");
    let (sim, notifier_log, e) = (scheduler.handle(), log.clone(), event.clone());
    scheduler.spawn(async move {
        e.notify();
        notifier_log.note(&sim, "notified");
        sim.yield_now().await;
        notifier_log.note(&sim, "next delta");
    });
    scheduler.run().unwrap();
    assert_eq!(log.names(), ["notified", "woken", "next delta"]);
}

#[test]
fn a_notification_nobody_waits_for_is_lost() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    let event = scheduler.event();
    event.notify();
    let e = event.clone();
    scheduler.spawn(async move { e.notify() });
    watch(&scheduler, &event, &log, "woken");
    scheduler.run().unwrap();
    assert_eq!(log.take(), []);
    assert_eq!((scheduler.process_count(), scheduler.next_time()), (1, None));
}

#[test]
fn a_delta_notification_wakes_whoever_waits_when_it_fires() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    let event = scheduler.event();
    let (sim, notifier_log, e) = (scheduler.handle(), log.clone(), event.clone());
    scheduler.spawn(async move {
        e.notify_after(SimTime::ZERO);
        notifier_log.note(&sim, "notified");
    });
    // Begins to wait after the notification was made, in the same delta cycle.
    watch(&scheduler, &event, &log, "woken");
    scheduler.run().unwrap();
    assert_eq!(log.take(), [at(SimTime::ZERO, "notified"), at(SimTime::ZERO, "woken")]);
}

#[test]
fn a_timed_notification_fires_at_exactly_its_time() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    let event = scheduler.event();
    watch(&scheduler, &event, &log, "woken");
    event.notify_after(ns(7));
    scheduler.run_until(SimTime(ns(7).0 - 1)).unwrap();
    assert_eq!(log.take(), []);
    assert_eq!(scheduler.next_time(), Some(ns(7)));
    scheduler.run_until(ns(7)).unwrap();
    assert_eq!(log.take(), [at(ns(7), "woken")]);
}

#[test]
fn of_two_pending_notifications_the_earlier_survives() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    let event = scheduler.event();
    watch(&scheduler, &event, &log, "fired");
    scheduler.run().unwrap();

    event.notify_after(ns(10));
    event.notify_after(ns(5));
    scheduler.run().unwrap();
    assert_eq!(log.take(), [at(ns(5), "fired")], "an earlier notification overrides a later one");

    event.notify_after(ns(5));
    event.notify_after(ns(10));
    event.notify_after(ns(5));
    scheduler.run().unwrap();
    assert_eq!(log.take(), [at(ns(10), "fired")], "a later or equal notification is dropped");

    event.notify_after(ns(5));
    event.notify_after(SimTime::ZERO);
    scheduler.run().unwrap();
    assert_eq!(log.take(), [at(ns(10), "fired")], "a delta notification overrides a timed one");
    assert_eq!(scheduler.next_time(), None);
}

#[test]
fn an_immediate_notification_or_a_cancel_drops_the_pending_one() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    let event = scheduler.event();
    watch(&scheduler, &event, &log, "fired");
    scheduler.run().unwrap();

    event.notify_after(ns(10));
    event.notify();
    scheduler.run().unwrap();
    assert_eq!(log.take(), [at(ns(0), "fired")]);

    event.notify_after(ns(10));
    event.cancel();
    assert_eq!(scheduler.next_time(), None, "a cancelled notification is not activity");
    scheduler.run().unwrap();
    assert_eq!(log.take(), []);

    // Moving a notification later: cancel, then notify again.
    event.notify_after(ns(10));
    event.cancel();
    event.notify_after(ns(20));
    scheduler.run().unwrap();
    assert_eq!(log.take(), [at(ns(20), "fired")]);
}

#[test]
fn a_hundred_thousand_processes_all_run_and_are_reclaimed() {
    const N: u64 = 100_000;
    let mut scheduler = Scheduler::new();
    let done = Rc::new(Cell::new(0u64));
    let last = Rc::new(Cell::new(SimTime::ZERO));
    for i in 0..N {
        let (sim, done, last) = (scheduler.handle(), Rc::clone(&done), Rc::clone(&last));
        scheduler.spawn(async move {
            sim.wait(ns(i % 1_000)).await;
            sim.yield_now().await;
            assert!(sim.now() >= last.get(), "time never goes back");
            last.set(sim.now());
            done.set(done.get() + 1);
        });
    }
    assert_eq!(scheduler.process_count(), N as usize);
    scheduler.run().unwrap();
    assert_eq!((done.get(), scheduler.process_count(), scheduler.now()), (N, 0, ns(999)));
}

#[test]
fn processes_spawn_processes_that_run_in_the_same_evaluation_phase() {
    async fn tree(sim: SchedulerHandle, depth: u32, count: Rc<Cell<u32>>) {
        count.set(count.get() + 1);
        if depth > 0 {
            for _ in 0..2 {
                sim.spawn(tree(sim.clone(), depth - 1, Rc::clone(&count)));
            }
        }
    }
    let mut scheduler = Scheduler::new();
    let count = Rc::new(Cell::new(0));
    scheduler.spawn(tree(scheduler.handle(), 10, Rc::clone(&count)));
    scheduler.run().unwrap();
    assert_eq!((count.get(), scheduler.process_count()), ((1 << 11) - 1, 0));

    // A child runs after what was already runnable, before the next delta cycle.
    let log = Log::default();
    let (sim, parent_log) = (scheduler.handle(), log.clone());
    scheduler.spawn(async move {
        let (child_sim, child_log) = (sim.clone(), parent_log.clone());
        sim.spawn(async move { child_log.note(&child_sim, "child") });
        parent_log.note(&sim, "parent");
        sim.yield_now().await;
        parent_log.note(&sim, "parent after yield");
    });
    let (sim, other_log) = (scheduler.handle(), log.clone());
    scheduler.spawn(async move { other_log.note(&sim, "other") });
    scheduler.run().unwrap();
    assert_eq!(log.names(), ["parent", "other", "child", "parent after yield"]);
}

#[test]
fn run_until_stops_exactly_at_its_time() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    let (sim, l) = (scheduler.handle(), log.clone());
    let id = scheduler.spawn(async move {
        sim.wait(ns(10)).await;
        l.note(&sim, "at 10");
        sim.yield_now().await;
        l.note(&sim, "at 10, next delta");
    });
    assert_eq!(scheduler.next_time(), Some(SimTime::ZERO));
    scheduler.run_until(SimTime(ns(10).0 - 1)).unwrap();
    assert_eq!((scheduler.now(), log.take()), (SimTime(ns(10).0 - 1), vec![]));
    assert_eq!(scheduler.next_time(), Some(ns(10)));

    scheduler.run_until(ns(10)).unwrap();
    assert_eq!(log.take(), [at(ns(10), "at 10"), at(ns(10), "at 10, next delta")]);
    assert!(!scheduler.is_alive(id));
    assert_eq!((scheduler.now(), scheduler.next_time()), (ns(10), None));

    // With nothing scheduled, time still moves to the end; it never goes back.
    scheduler.run_until(ns(50)).unwrap();
    assert_eq!(scheduler.now(), ns(50));
    scheduler.run_until(ns(20)).unwrap();
    assert_eq!(scheduler.now(), ns(50));
}

#[test]
fn run_until_a_past_time_still_runs_what_is_due_now() {
    let mut scheduler = Scheduler::new();
    scheduler.run_until(ns(50)).unwrap();
    let log = Log::default();
    let (sim, l) = (scheduler.handle(), log.clone());
    scheduler.spawn(async move {
        l.note(&sim, "now");
        sim.wait(ns(1)).await;
        l.note(&sim, "later");
    });
    scheduler.run_until(ns(20)).unwrap();
    assert_eq!((scheduler.now(), log.take()), (ns(50), vec![at(ns(50), "now")]));
    assert_eq!(scheduler.next_time(), Some(ns(51)));
}

#[test]
fn two_schedulers_in_one_thread_do_not_see_each_other() {
    let mut schedulers = [Scheduler::new(), Scheduler::new()];
    let logs = [Log::default(), Log::default()];
    for (index, (scheduler, log)) in schedulers.iter().zip(&logs).enumerate() {
        let (sim, log) = (scheduler.handle(), log.clone());
        let period = ns(index as u64 + 1);
        scheduler.spawn(async move {
            for _ in 0..3 {
                sim.wait(period).await;
                log.note(&sim, "tick");
            }
        });
    }
    schedulers[0].run_until(ns(2)).unwrap();
    schedulers[1].run().unwrap();
    schedulers[0].run().unwrap();
    let times = |log: &Log| log.take().into_iter().map(|(time, _)| time).collect::<Vec<_>>();
    assert_eq!(times(&logs[0]), [ns(1), ns(2), ns(3)]);
    assert_eq!(times(&logs[1]), [ns(2), ns(4), ns(6)]);
    assert_eq!((schedulers[0].now(), schedulers[1].now()), (ns(3), ns(6)));
}

#[test]
fn schedulers_on_many_threads_run_independently() {
    let threads: Vec<_> = (1..=4u64)
        .map(|period| {
            std::thread::spawn(move || {
                let mut scheduler = Scheduler::new();
                let sim = scheduler.handle();
                scheduler.spawn(async move {
                    for _ in 0..1_000 {
                        sim.wait(ns(period)).await;
                    }
                });
                scheduler.run().unwrap();
                scheduler.now()
            })
        })
        .collect();
    let ends: Vec<_> = threads.into_iter().map(|thread| thread.join().unwrap()).collect();
    assert_eq!(ends, [ns(1_000), ns(2_000), ns(3_000), ns(4_000)]);
}

#[test]
fn a_panicking_process_is_reported_and_the_others_go_on() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    let sim = scheduler.handle();
    let culprit = scheduler.spawn(async move {
        sim.wait(ns(5)).await;
        panic!("device model bug");
    });
    let (sim, l) = (scheduler.handle(), log.clone());
    scheduler.spawn(async move {
        sim.wait(ns(5)).await;
        l.note(&sim, "same time, later in the queue");
        sim.wait(ns(5)).await;
        l.note(&sim, "afterwards");
    });

    let error = scheduler.run_until(ns(100)).unwrap_err();
    let RunError::ProcessPanicked { process, time, message } = &error;
    assert_eq!((*process, *time, message.as_str()), (culprit, ns(5), "device model bug"));
    assert_eq!(error.to_string(), format!("{culprit} panicked at simulated time 5.000 ns: device model bug"));
    assert!(!scheduler.is_alive(culprit));
    assert_eq!((scheduler.now(), log.take()), (ns(5), vec![]), "the run stops right after the panic");

    scheduler.run_until(ns(100)).unwrap();
    assert_eq!(log.take(), [at(ns(5), "same time, later in the queue"), at(ns(10), "afterwards")]);
    assert_eq!((scheduler.now(), scheduler.process_count()), (ns(100), 0));
}

#[test]
fn awaiting_a_scheduler_future_outside_its_scheduler_is_a_reported_panic() {
    let mut this = Scheduler::new();
    let other = Scheduler::new();
    let foreign = other.event();
    this.spawn(async move { foreign.wait().await });
    let RunError::ProcessPanicked { message, .. } = this.run().unwrap_err();
    assert_eq!(message, "Event::wait was awaited outside a process of the scheduler it belongs to");

    let foreign = other.handle();
    this.spawn(async move { foreign.wait(ns(1)).await });
    let RunError::ProcessPanicked { message, .. } = this.run().unwrap_err();
    assert!(message.starts_with("SchedulerHandle::wait was awaited outside"), "{message}");
}

#[test]
fn a_finished_processs_id_goes_stale_when_its_slot_is_reused() {
    let mut scheduler = Scheduler::new();
    let first = scheduler.spawn(async {});
    scheduler.run().unwrap();
    let second = scheduler.spawn(async {});
    assert_ne!(first, second);
    assert!(!scheduler.is_alive(first));
    assert!(scheduler.is_alive(second));
}

/// The first of two futures to finish, dropping the other: what a `select`
/// does to the scheduler's futures.
async fn first_of(a: impl Future<Output = ()>, b: impl Future<Output = ()>) -> &'static str {
    let (mut a, mut b) = (pin!(a), pin!(b));
    poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() {
            Poll::Ready("first")
        } else if b.as_mut().poll(cx).is_ready() {
            Poll::Ready("second")
        } else {
            Poll::Pending
        }
    })
    .await
}

#[test]
fn waits_given_up_early_leave_nothing_that_resumes_too_soon() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    let event = scheduler.event();
    let (sim, l, e) = (scheduler.handle(), log.clone(), event.clone());
    scheduler.spawn(async move {
        // The event comes first: the 10 ns timeout is dropped but stays queued.
        let won = first_of(e.wait(), sim.wait(ns(10))).await;
        l.note(&sim, won);
        // The stale timeout resumes this wait at 10 ns; it must not end it.
        sim.wait(ns(12)).await;
        l.note(&sim, "waited 12 ns");
        // Times out: the event wait dropped here must unregister.
        let won = first_of(e.wait(), sim.wait(ns(1))).await;
        l.note(&sim, won);
        sim.wait(ns(10)).await;
        l.note(&sim, "done");
    });
    let e = event.clone();
    let sim = scheduler.handle();
    scheduler.spawn(async move {
        sim.wait(ns(3)).await;
        e.notify();
        sim.wait(ns(14)).await;
        // At 17 ns, while the first process sits in its last wait.
        e.notify();
    });
    scheduler.run_until(ns(16)).unwrap();
    assert!(format!("{event:?}").contains("waiters: 0"), "the timed-out wait unregistered: {event:?}");
    scheduler.run().unwrap();
    assert_eq!(log.take(), [at(ns(3), "first"), at(ns(15), "waited 12 ns"), at(ns(16), "second"), at(ns(26), "done")]);
}

/// A future that is not the scheduler's: it completes once another thread has
/// set its flag, and is woken through the process's [`Waker`].
struct Flag {
    state: Arc<Mutex<(bool, Option<Waker>)>>,
}

impl Future for Flag {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut state = self.state.lock().unwrap();
        if state.0 {
            return Poll::Ready(());
        }
        state.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn a_waker_works_from_another_thread() {
    let mut scheduler = Scheduler::new();
    let state = Arc::new(Mutex::new((false, None::<Waker>)));
    let done = Rc::new(Cell::new(None));
    let (sim, flag, d) = (scheduler.handle(), Flag { state: Arc::clone(&state) }, Rc::clone(&done));
    scheduler.spawn(async move {
        flag.await;
        d.set(Some(sim.now()));
    });
    scheduler.run_until(ns(5)).unwrap();
    assert_eq!((done.get(), scheduler.next_time()), (None, None));

    std::thread::spawn(move || {
        let waker = {
            let mut state = state.lock().unwrap();
            state.0 = true;
            state.1.take().unwrap()
        };
        waker.wake();
    })
    .join()
    .unwrap();
    assert_eq!(scheduler.next_time(), Some(ns(5)));
    scheduler.run().unwrap();
    assert_eq!((done.get(), scheduler.process_count()), (Some(ns(5)), 0));
}

#[test]
fn dropping_the_scheduler_drops_its_processes_and_what_they_hold() {
    struct SetOnDrop(Rc<Cell<bool>>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Rc::new(Cell::new(false));
    let scheduler = Scheduler::new();
    let event = scheduler.event();
    let (sim, guard, e) = (scheduler.handle(), SetOnDrop(Rc::clone(&dropped)), event.clone());
    scheduler.spawn(async move {
        let _guard = guard;
        e.wait().await;
        sim.wait(ns(1)).await;
    });
    event.notify_after(ns(1));
    let sim = scheduler.handle();
    drop(scheduler);
    assert!(dropped.get());
    // What outlives the scheduler is inert.
    event.notify();
    event.notify_after(ns(1));
    assert!(!sim.is_alive(sim.spawn(async {})));
}

#[test]
fn a_yield_resumed_early_by_something_else_is_not_over_yet() {
    let mut scheduler = Scheduler::new();
    let log = Log::default();
    let event = scheduler.event();
    let (sim, l, e) = (scheduler.handle(), log.clone(), event.clone());
    scheduler.spawn(async move {
        let won = first_of(sim.yield_now(), e.wait()).await;
        l.note(&sim, won);
    });
    let e = event.clone();
    // Resumes the first process in the same delta cycle as its yield began.
    scheduler.spawn(async move { e.notify() });
    scheduler.run().unwrap();
    assert_eq!(log.take(), [at(SimTime::ZERO, "second")]);
}
