//! The scheduler's state: simulated time, the run queue, the next delta cycle
//! and the timed queue, and the steps that move processes between them.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use super::event::EventCell;
use super::process::{Inbox, ProcessId, ProcessTable};
use crate::time::SimTime;

/// What a kernel and all its handles, events and futures share.
pub(super) struct Shared {
    pub(super) scheduler: RefCell<Scheduler>,
    pub(super) inbox: Arc<Inbox>,
}

impl Shared {
    /// The process being polled, which a kernel future named `what` is
    /// about to park. Panics when polled outside a process of this kernel:
    /// such a future could never be woken.
    pub(super) fn current_process(&self, what: &str) -> ProcessId {
        self.scheduler.borrow().current.unwrap_or_else(|| outside_a_process(what))
    }
}

/// The panic of a kernel future polled outside a process of its kernel.
#[cold]
pub(super) fn outside_a_process(what: &str) -> ! {
    panic!("{what} was awaited outside a process of the kernel it belongs to")
}

/// Something due in a later delta cycle or at a later time.
pub(super) enum Activation {
    /// Make a process runnable (the end of a timed wait or a delta wait).
    Resume(ProcessId),
    /// Fire an event's pending notification, if `ticket` still names it
    /// (a cancelled or overridden notification leaves a stale entry behind).
    Fire(Rc<EventCell>, u64),
}

/// An activation in the timed queue, ordered by time, then by when it was
/// scheduled: equal times come out first-in first-out.
pub(super) struct Timed {
    time: SimTime,
    sequence: u64,
    activation: Activation,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Timed) -> bool {
        (self.time, self.sequence) == (other.time, other.sequence)
    }
}

impl Eq for Timed {}

impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Timed) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timed {
    /// Reversed, so that [`BinaryHeap`] (a max-heap) pops the earliest first.
    fn cmp(&self, other: &Timed) -> Ordering {
        (other.time, other.sequence).cmp(&(self.time, self.sequence))
    }
}

pub(super) struct Scheduler {
    /// Current simulated time.
    pub(super) now: SimTime,
    /// Delta cycles begun so far, time advances included: a wait that began
    /// in one delta cycle is over only in a later one.
    pub(super) delta: u64,
    /// Source of timed-queue sequence numbers and notification tickets.
    sequence: u64,
    /// The process being polled, which the kernel's futures park.
    pub(super) current: Option<ProcessId>,
    pub(super) run: RunQueue,
    /// What becomes runnable in the next delta cycle, in order.
    pub(super) next_delta: Vec<Activation>,
    timed: BinaryHeap<Timed>,
    /// Scratch for slot indices collected from the inbox.
    woken: Vec<u32>,
    /// Set when the kernel is dropped: nothing may be scheduled any more.
    pub(super) closed: bool,
}

impl Scheduler {
    pub(super) fn new() -> Scheduler {
        Scheduler {
            now: SimTime::ZERO,
            delta: 0,
            sequence: 0,
            current: None,
            run: RunQueue { processes: ProcessTable::new(), queue: VecDeque::new() },
            next_delta: Vec::new(),
            timed: BinaryHeap::new(),
            woken: Vec::new(),
            closed: false,
        }
    }

    /// A fresh number, unique within this kernel.
    pub(super) fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Schedules `activation` at `time`, after everything already scheduled then.
    pub(super) fn schedule_at(&mut self, time: SimTime, activation: Activation) {
        let sequence = self.next_sequence();
        self.schedule_with(time, sequence, activation);
    }

    /// Schedules `activation` at `time` with a sequence number already drawn.
    pub(super) fn schedule_with(&mut self, time: SimTime, sequence: u64, activation: Activation) {
        self.timed.push(Timed { time, sequence, activation });
    }

    /// Collects wakes that came through wakers: their processes run in the
    /// current evaluation phase.
    fn collect_inbox(&mut self, inbox: &Inbox) {
        if !inbox.is_pending() {
            return;
        }
        let mut woken = std::mem::take(&mut self.woken);
        inbox.drain_into(&mut woken);
        for index in woken.drain(..) {
            if let Some(id) = self.run.processes.idle_in(index) {
                self.run.make_runnable(id);
            }
        }
        self.woken = woken;
    }

    /// Starts the next delta cycle at the current time if anything is due in
    /// it. Returns whether any process is runnable now.
    pub(super) fn begin_delta(&mut self, inbox: &Inbox) -> bool {
        if self.next_delta.is_empty() && !inbox.is_pending() {
            return !self.run.queue.is_empty();
        }
        self.delta += 1;
        for activation in self.next_delta.drain(..) {
            self.run.activate(activation);
        }
        self.collect_inbox(inbox);
        !self.run.queue.is_empty()
    }

    /// The time of the earliest live timed activation, dropping stale ones.
    pub(super) fn next_timed(&mut self) -> Option<SimTime> {
        while let Some(top) = self.timed.peek() {
            let live = match &top.activation {
                Activation::Resume(id) => self.run.processes.is_live(*id),
                Activation::Fire(event, ticket) => event.is_pending_with(*ticket),
            };
            if live {
                return Some(top.time);
            }
            self.timed.pop();
        }
        None
    }

    /// Advances time to `time` and makes runnable everything due then.
    pub(super) fn advance_to(&mut self, time: SimTime) {
        self.now = time;
        self.delta += 1;
        while self.timed.peek().is_some_and(|top| top.time == time) {
            if let Some(Timed { activation, .. }) = self.timed.pop() {
                self.run.activate(activation);
            }
        }
    }

    /// When the next activity is: now if anything can run at the current
    /// time, else the earliest timed activation.
    pub(super) fn next_time(&mut self, inbox: &Inbox) -> Option<SimTime> {
        if !self.run.queue.is_empty() || !self.next_delta.is_empty() || inbox.is_pending() {
            return Some(self.now);
        }
        self.next_timed()
    }

    /// Empties every queue, for the kernel's drop: the bodies and the events
    /// they hold go out outside the scheduler's borrow.
    pub(super) fn close(&mut self) -> Closed {
        self.closed = true;
        self.run.queue.clear();
        Closed {
            bodies: self.run.processes.take_all(),
            _next_delta: std::mem::take(&mut self.next_delta),
            _timed: std::mem::take(&mut self.timed),
        }
    }
}

/// The processes, and those of them to run in the current evaluation phase:
/// what activations and event notifications act on.
pub(super) struct RunQueue {
    pub(super) processes: ProcessTable,
    /// Processes to run in the current evaluation phase, in order.
    pub(super) queue: VecDeque<ProcessId>,
}

impl RunQueue {
    /// Queues `id` to run in the current evaluation phase, unless it has
    /// finished or is queued already.
    pub(super) fn make_runnable(&mut self, id: ProcessId) {
        if self.processes.mark_queued(id) {
            self.queue.push_back(id);
        }
    }

    fn activate(&mut self, activation: Activation) {
        match activation {
            Activation::Resume(id) => self.make_runnable(id),
            Activation::Fire(event, ticket) => event.fire_pending(self, ticket),
        }
    }
}

/// What a closed scheduler held, to be dropped by the caller.
pub(super) struct Closed {
    pub(super) bodies: Vec<super::process::ProcessFuture>,
    _next_delta: Vec<Activation>,
    _timed: BinaryHeap<Timed>,
}
