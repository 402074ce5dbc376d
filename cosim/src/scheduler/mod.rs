//! The embedded default scheduler: discrete-event simulation in the manner
//! of SystemC's simulation kernel, whose processes are Rust `async` code.
//!
//! When no outside simulator drives time, a machine drives itself, and device
//! models written in Rust run as *processes* of a [`Scheduler`]. A process is a
//! future: rustc compiles its `async` body into a state machine (a stackless
//! coroutine, the compile-time form of a CPS conversion), so a process costs
//! one allocation when it is spawned and none when it waits, and it can only
//! wait at an `.await`: where its type says it may.
//!
//! # Concepts
//!
//! - **Simulated time** is a [`SimTime`] in picoseconds. It only moves when
//!   the scheduler is run, and only forward.
//! - **Processes** are spawned with [`Scheduler::spawn`] or
//!   [`SchedulerHandle::spawn`] and reach their scheduler through a
//!   [`SchedulerHandle`], a cheap clone, to read [`now`](SchedulerHandle::now),
//!   [`wait`](SchedulerHandle::wait) for a duration,
//!   [`yield_now`](SchedulerHandle::yield_now), spawn more processes and make
//!   [`Event`]s. A process that returns is reclaimed; its [`ProcessId`] goes
//!   stale.
//! - **Delta cycles**: many things can happen at one simulated time, in
//!   order. Each *evaluation phase* runs the runnable processes one at a time
//!   in first-in first-out order, each until it waits again. Then the next
//!   delta cycle begins at the same time with what was scheduled for it
//!   (`yield_now`, `wait(SimTime::ZERO)`, delta notifications), until
//!   nothing is left at this time; then time advances to the earliest timed
//!   activation. Activations at one time keep the order in which they were
//!   scheduled, so a run is deterministic.
//! - **Events** are waited on with [`Event::wait`] and notified immediately,
//!   in the next delta cycle or after a delay; the rules for a second
//!   notification while one is pending are those of IEEE 1666, given on
//!   [`Event`].
//!
//! # Driving the scheduler
//!
//! [`Scheduler::run_until`]`(t)` runs everything due up to and including time
//! `t` (every delta cycle at `t` too) and leaves the scheduler at `t`.
//! [`Scheduler::run`] runs until nothing is scheduled. [`Scheduler::next_time`]
//! says when the next activity is, so that an outside driver (a quantum
//! keeper, a SystemC module) can step the scheduler between its own events.
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use polyhart_cosim::SimTime;
//! use polyhart_cosim::scheduler::Scheduler;
//!
//! let mut scheduler = Scheduler::new();
//! let irq = scheduler.event();
//! let taken_at = Rc::new(Cell::new(None));
//!
//! // A device that raises its interrupt 10 ns after it starts.
//! let sim = scheduler.handle();
//! let raise = irq.clone();
//! scheduler.spawn(async move {
//!     sim.wait(SimTime(10_000)).await;
//!     raise.notify();
//! });
//!
//! // A handler that waits for it.
//! let sim = scheduler.handle();
//! let taken = Rc::clone(&taken_at);
//! scheduler.spawn(async move {
//!     irq.wait().await;
//!     taken.set(Some(sim.now()));
//! });
//!
//! assert_eq!(scheduler.next_time(), Some(SimTime::ZERO));
//! scheduler.run_until(SimTime(5_000))?;
//! assert_eq!((scheduler.now(), taken_at.get()), (SimTime(5_000), None));
//! assert_eq!(scheduler.next_time(), Some(SimTime(10_000)));
//! scheduler.run_until(SimTime(20_000))?;
//! assert_eq!(taken_at.get(), Some(SimTime(10_000)));
//! assert_eq!((scheduler.now(), scheduler.process_count()), (SimTime(20_000), 0));
//! # Ok::<(), polyhart_cosim::scheduler::RunError>(())
//! ```
//!
//! # Threads
//!
//! A scheduler, its handles and its events are `!Send` and `!Sync`: one
//! simulation runs on one thread, the one that made it, and its processes need
//! not be `Send`. Schedulers share nothing, so any number of them can run in one
//! program, on one thread or on many. The [`Waker`](std::task::Waker) a
//! process is polled with does work from any thread, for futures that are
//! not the scheduler's own: a wake queues the process for the next delta cycle
//! at the time the scheduler notices it (at its next delta cycle, or its next
//! run if it had gone idle), which depends on the host's timing. A
//! deterministic model waits only on the scheduler's own futures.
//!
//! ```compile_fail
//! fn send<T: Send>(_: T) {}
//! send(polyhart_cosim::scheduler::Scheduler::new()); // a scheduler stays on its thread
//! ```
//!
//! # Panics
//!
//! A process that panics is caught: it is dropped, the run stops right after
//! it at the time it panicked, and the run returns
//! [`RunError::ProcessPanicked`] with the process and the panic's message. The
//! scheduler stays usable and a later run continues with the other processes.
//! Awaiting a scheduler's future outside one of its processes is such a panic.
//!
//! # Cost
//!
//! Spawning allocates the process's box (and, the first time a slot is used,
//! its waker); waiting, yielding, notifying and resuming allocate nothing once
//! the queues have grown to their working size. The run queue and the next
//! delta cycle are vectors of process ids, the timed queue a binary heap
//! keyed by (time, sequence number); the time and the running process sit in
//! `Cell`s, and the scheduler's futures park their process directly, without
//! going through a waker. Waits given up early (a future dropped by a
//! `select`) may leave an activation behind that resumes its process once for
//! nothing, which futures tolerate. `benches/coroutines.rs` measures all of
//! this.

mod event;
mod process;
mod queues;
mod wait;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::task::{Context, Poll};

pub use event::{Event, EventWait};
pub use process::ProcessId;
pub use wait::Wait;

use crate::time::SimTime;
use queues::Shared;

/// Why a run stopped before it was done.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A process panicked; it has been dropped. Running again continues with
    /// the other processes.
    #[error("{process} panicked at simulated time {time}: {message}")]
    ProcessPanicked {
        /// The process that panicked.
        process: ProcessId,
        /// The simulated time at which it panicked.
        time: SimTime,
        /// The panic's message, if it was a string.
        message: String,
    },
}

/// One simulation: simulated time and the processes that live in it.
///
/// See [the module documentation](self) for the scheduling rules.
pub struct Scheduler {
    handle: SchedulerHandle,
}

/// A cheap, cloneable handle to a [`Scheduler`], through which processes (and
/// anyone else) read the time, wait, spawn processes and make events.
///
/// It cannot run the scheduler: only the [`Scheduler`]'s owner does that.
#[derive(Clone)]
pub struct SchedulerHandle {
    shared: Rc<Shared>,
}

impl Scheduler {
    /// A scheduler at time zero with no processes.
    pub fn new() -> Scheduler {
        Scheduler { handle: SchedulerHandle { shared: Rc::new(Shared::new()) } }
    }

    /// A handle for processes and devices to reach this scheduler.
    pub fn handle(&self) -> SchedulerHandle {
        self.handle.clone()
    }

    /// Current simulated time.
    pub fn now(&self) -> SimTime {
        self.handle.now()
    }

    /// Starts a process; see [`SchedulerHandle::spawn`].
    pub fn spawn(&self, process: impl Future<Output = ()> + 'static) -> ProcessId {
        self.handle.spawn(process)
    }

    /// A new event of this scheduler.
    pub fn event(&self) -> Event {
        self.handle.event()
    }

    /// Whether process `id` (of this scheduler) has not finished.
    pub fn is_alive(&self, id: ProcessId) -> bool {
        self.handle.is_alive(id)
    }

    /// How many processes have not finished (waiting ones included).
    pub fn process_count(&self) -> usize {
        self.handle.shared.queues.borrow().run.processes.live()
    }

    /// When the next activity is: the current time if a process can run now
    /// or a delta cycle is due, else the time of the earliest timed wait or
    /// notification, or `None` when nothing is scheduled (processes may still
    /// wait on events nobody has notified).
    pub fn next_time(&self) -> Option<SimTime> {
        let shared = &*self.handle.shared;
        shared.queues.borrow_mut().next_time(&shared.time, &shared.inbox)
    }

    /// Runs every process due up to and including `time`, in time order, and
    /// leaves the scheduler at `time` (or at the current time if `time` is
    /// earlier: time never goes back; what is due now still runs).
    ///
    /// # Errors
    ///
    /// [`RunError::ProcessPanicked`] if a process panicked; the scheduler then
    /// stays at the time of the panic.
    pub fn run_until(&mut self, time: SimTime) -> Result<(), RunError> {
        self.run_to(Some(time))
    }

    /// Runs until nothing is scheduled, and stays at the time of the last
    /// activity. A process that waits in a loop forever (a clock) makes this
    /// run forever: use [`run_until`](Scheduler::run_until) then.
    ///
    /// # Errors
    ///
    /// [`RunError::ProcessPanicked`] if a process panicked.
    pub fn run(&mut self) -> Result<(), RunError> {
        self.run_to(None)
    }

    fn run_to(&mut self, limit: Option<SimTime>) -> Result<(), RunError> {
        let shared = &*self.handle.shared;
        loop {
            evaluate(shared)?;
            let mut queues = shared.queues.borrow_mut();
            if queues.begin_delta(&shared.time, &shared.inbox) {
                continue;
            }
            match queues.next_timed() {
                Some(next) if limit.is_none_or(|limit| next <= limit) => queues.advance_to(&shared.time, next),
                _ => {
                    if let Some(limit) = limit
                        && limit > shared.time.now.get()
                    {
                        queues.advance_to(&shared.time, limit);
                    }
                    return Ok(());
                }
            }
        }
    }
}

/// Runs the current evaluation phase: every runnable process, in order, each
/// until it waits or returns, including processes made runnable meanwhile.
fn evaluate(shared: &Shared) -> Result<(), RunError> {
    let mut queues = shared.queues.borrow_mut();
    while let Some(id) = queues.run.pop() {
        let Some((mut body, waker)) = queues.run.processes.start(id) else { continue };
        shared.current.set(Some(id));
        drop(queues);
        // Unwind safety: after a panic the body is dropped, never polled
        // again, and the queues are only reached through `RefCell` guards
        // that are released while unwinding; none of its invariants spans a
        // call into a process.
        let polled = panic::catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(&mut Context::from_waker(&waker))));
        shared.current.set(None);
        queues = shared.queues.borrow_mut();
        let time = shared.time.now.get();
        match polled {
            Ok(Poll::Pending) => queues.run.processes.suspend(id, body, waker),
            Ok(Poll::Ready(())) => {
                queues.run.processes.finish(id, waker);
                drop(queues);
                // The body's destructors are the process's code too.
                panic::catch_unwind(AssertUnwindSafe(|| drop(body)))
                    .map_err(|payload| RunError::panicked(id, time, payload))?;
                queues = shared.queues.borrow_mut();
            }
            Err(payload) => {
                queues.run.processes.finish(id, waker);
                drop(queues);
                // A destructor that panics again while the body unwinds its
                // state is the same failure: the first message is the one to keep.
                let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(body)));
                return Err(RunError::panicked(id, time, payload));
            }
        }
    }
    Ok(())
}

impl RunError {
    fn panicked(process: ProcessId, time: SimTime, payload: Box<dyn Any + Send>) -> RunError {
        let message = match payload.downcast::<String>() {
            Ok(message) => *message,
            Err(payload) => match payload.downcast::<&'static str>() {
                Ok(message) => (*message).to_owned(),
                Err(_) => "(a panic whose payload is not a string)".to_owned(),
            },
        };
        RunError::ProcessPanicked { process, time, message }
    }
}

impl Default for Scheduler {
    fn default() -> Scheduler {
        Scheduler::new()
    }
}

impl Drop for Scheduler {
    /// Drops every process, so that processes holding handles to the scheduler
    /// (as most do) do not keep it alive in a cycle. Handles that outlive the
    /// scheduler still read the time, but can no longer schedule anything.
    fn drop(&mut self) {
        let closed = self.handle.shared.queues.borrow_mut().close();
        for body in closed.bodies {
            // Nobody is left to report a panicking destructor to.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(body)));
        }
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("now", &self.now())
            .field("processes", &self.process_count())
            .finish_non_exhaustive()
    }
}

impl SchedulerHandle {
    /// Current simulated time.
    pub fn now(&self) -> SimTime {
        self.shared.time.now.get()
    }

    /// Waits for `duration` of simulated time: the process resumes at
    /// `now + duration`, after the processes scheduled earlier for that time.
    /// A zero duration waits for the next delta cycle, as
    /// [`yield_now`](SchedulerHandle::yield_now) does.
    pub fn wait(&self, duration: SimTime) -> Wait<'_> {
        Wait::new(&self.shared, duration)
    }

    /// Lets every other process runnable at this time run first: the process
    /// resumes in the next delta cycle, at the same simulated time (SystemC's
    /// `wait(SC_ZERO_TIME)`).
    pub fn yield_now(&self) -> Wait<'_> {
        self.wait(SimTime::ZERO)
    }

    /// Starts a process that runs `process` to its end, and returns its id.
    ///
    /// The process is runnable at once: called from a process, it runs in the
    /// current evaluation phase after those already queued; called from
    /// outside, when the scheduler next runs. Spawning through a handle whose
    /// scheduler was dropped drops `process` and returns an id that is never
    /// alive.
    pub fn spawn(&self, process: impl Future<Output = ()> + 'static) -> ProcessId {
        let mut queues = self.shared.queues.borrow_mut();
        if queues.closed {
            drop(queues);
            drop(process);
            return ProcessId { index: u32::MAX, generation: u32::MAX };
        }
        let id = queues.run.processes.insert(Box::pin(process), &self.shared.inbox);
        queues.run.make_runnable(id);
        id
    }

    /// A new event of this scheduler, with nobody waiting and nothing pending.
    pub fn event(&self) -> Event {
        Event::new(Rc::clone(&self.shared))
    }

    /// Whether process `id` (of this scheduler) has not finished.
    pub fn is_alive(&self, id: ProcessId) -> bool {
        self.shared.queues.borrow().run.processes.is_live(id)
    }

    /// The process being run, when called from one.
    pub fn current(&self) -> Option<ProcessId> {
        self.shared.current.get()
    }
}

impl fmt::Debug for SchedulerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerHandle").field("now", &self.now()).finish_non_exhaustive()
    }
}
