//! The scheduler's state: simulated time, the run queue, the next delta cycle
//! and the timed queue, and the steps that move processes between them.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::sync::Arc;

use super::event::EventCell;
use super::process::{Inbox, ProcessId, ProcessTable};
use crate::time::SimTime;

/// What a scheduler and all its handles, events and futures share.
///
/// What every wait reads (the time, the process being polled) sits in
/// `Cell`s beside the queues, so reading it takes no borrow.
pub(super) struct Shared {
    pub(super) time: CurrentTime,
    /// The process being polled, which the scheduler's futures park.
    pub(super) current: Cell<Option<ProcessId>>,
    pub(super) queues: RefCell<Queues>,
    pub(super) inbox: Arc<Inbox>,
}

impl Shared {
    pub(super) fn new() -> Shared {
        Shared {
            time: CurrentTime { now: Cell::new(SimTime::ZERO), delta: Cell::new(0) },
            current: Cell::new(None),
            queues: RefCell::new(Queues::new()),
            inbox: Arc::default(),
        }
    }

    /// The process being polled, which a scheduler future named `what` is
    /// about to park. Panics when polled outside a process of this scheduler:
    /// such a future could never be woken.
    pub(super) fn current_process(&self, what: &str) -> ProcessId {
        self.current.get().unwrap_or_else(|| outside_a_process(what))
    }
}

/// Where the scheduler is in simulated time.
pub(super) struct CurrentTime {
    /// Current simulated time.
    pub(super) now: Cell<SimTime>,
    /// Delta cycles begun so far, time advances included: a wait that began
    /// in one delta cycle is over only in a later one.
    pub(super) delta: Cell<u64>,
}

impl CurrentTime {
    fn next_delta(&self) {
        self.delta.set(self.delta.get() + 1);
    }
}

/// The panic of a scheduler future polled outside a process of its scheduler.
#[cold]
pub(super) fn outside_a_process(what: &str) -> ! {
    panic!("{what} was awaited outside a process of the scheduler it belongs to")
}

/// Something due in a later delta cycle or at a later time.
pub(super) enum Activation {
    /// Make a process runnable (the end of a timed wait or a delta wait).
    Resume(ProcessId),
    /// Fire an event's pending notification, if `ticket` still names it
    /// (a cancelled or overridden notification leaves a stale entry behind).
    Fire(Rc<EventCell>, u64),
}

/// An entry of the next delta cycle. Most are resumes, so entries are small
/// and copied: an event's notification names its place in `delta_events`.
#[derive(Copy, Clone)]
enum DeltaEntry {
    Resume(ProcessId),
    Fire(u32),
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

/// The queues: what runs now, in the next delta cycle, and later.
pub(super) struct Queues {
    /// Source of timed-queue sequence numbers and notification tickets.
    sequence: u64,
    pub(super) run: RunQueue,
    /// What becomes runnable in the next delta cycle, in order.
    next_delta: Vec<DeltaEntry>,
    /// The events notified for the next delta cycle, with their tickets.
    delta_events: Vec<(Rc<EventCell>, u64)>,
    timed: BinaryHeap<Timed>,
    /// Scratch for slot indices collected from the inbox.
    woken: Vec<u32>,
    /// Set when the scheduler is dropped: nothing may be scheduled any more.
    pub(super) closed: bool,
}

impl Queues {
    pub(super) fn new() -> Queues {
        Queues {
            sequence: 0,
            run: RunQueue { processes: ProcessTable::new(), queue: Vec::new(), head: 0 },
            next_delta: Vec::new(),
            delta_events: Vec::new(),
            timed: BinaryHeap::new(),
            woken: Vec::new(),
            closed: false,
        }
    }

    /// A fresh number, unique within this scheduler.
    pub(super) fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Resumes `id` in the next delta cycle.
    pub(super) fn resume_next_delta(&mut self, id: ProcessId) {
        self.next_delta.push(DeltaEntry::Resume(id));
    }

    /// Fires `event`'s notification `ticket` in the next delta cycle.
    pub(super) fn fire_next_delta(&mut self, event: Rc<EventCell>, ticket: u64) {
        let index = u32::try_from(self.delta_events.len()).expect("fewer than 2^32 notifications in one delta cycle");
        self.delta_events.push((event, ticket));
        self.next_delta.push(DeltaEntry::Fire(index));
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
        inbox.drain_into(&mut self.woken);
        for index in self.woken.drain(..) {
            if let Some(id) = self.run.processes.idle_in(index) {
                self.run.make_runnable(id);
            }
        }
    }

    /// Starts the next delta cycle at the current time if anything is due in
    /// it. Returns whether any process is runnable now.
    pub(super) fn begin_delta(&mut self, current: &CurrentTime, inbox: &Inbox) -> bool {
        if self.next_delta.is_empty() && !inbox.is_pending() {
            return !self.run.is_empty();
        }
        current.next_delta();
        let Queues { next_delta, delta_events, run, .. } = self;
        for entry in next_delta.iter() {
            match *entry {
                DeltaEntry::Resume(id) => run.make_runnable(id),
                DeltaEntry::Fire(index) => {
                    let (event, ticket) = &delta_events[index as usize];
                    event.fire_pending(run, *ticket);
                }
            }
        }
        next_delta.clear();
        delta_events.clear();
        self.collect_inbox(inbox);
        !self.run.is_empty()
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
    pub(super) fn advance_to(&mut self, current: &CurrentTime, time: SimTime) {
        current.now.set(time);
        current.next_delta();
        while self.timed.peek().is_some_and(|top| top.time == time) {
            if let Some(Timed { activation, .. }) = self.timed.pop() {
                self.run.activate(activation);
            }
        }
    }

    /// When the next activity is: now if anything can run at the current
    /// time, else the earliest timed activation.
    pub(super) fn next_time(&mut self, current: &CurrentTime, inbox: &Inbox) -> Option<SimTime> {
        if !self.run.is_empty() || !self.next_delta.is_empty() || inbox.is_pending() {
            return Some(current.now.get());
        }
        self.next_timed()
    }

    /// Empties every queue, for the scheduler's drop: the bodies and the events
    /// they hold go out outside the queues' borrow.
    pub(super) fn close(&mut self) -> Closed {
        self.closed = true;
        self.run.queue.clear();
        self.run.head = 0;
        self.next_delta.clear();
        Closed {
            bodies: self.run.processes.take_all(),
            _delta_events: std::mem::take(&mut self.delta_events),
            _timed: std::mem::take(&mut self.timed),
        }
    }
}

/// The processes, and those of them to run in the current evaluation phase:
/// what activations and event notifications act on.
pub(super) struct RunQueue {
    pub(super) processes: ProcessTable,
    /// Processes to run in the current evaluation phase, in order, from
    /// `head` on: a `Vec` emptied when the phase ends is cheaper than a ring.
    queue: Vec<ProcessId>,
    head: usize,
}

impl RunQueue {
    /// The next process to run in this evaluation phase.
    pub(super) fn pop(&mut self) -> Option<ProcessId> {
        let id = self.queue.get(self.head).copied();
        if id.is_some() {
            self.head += 1;
        } else {
            self.queue.clear();
            self.head = 0;
        }
        id
    }

    /// Whether no process is left to run in this evaluation phase.
    pub(super) fn is_empty(&self) -> bool {
        self.head == self.queue.len()
    }

    /// Queues `id` to run in the current evaluation phase, unless it has
    /// finished or is queued already.
    pub(super) fn make_runnable(&mut self, id: ProcessId) {
        if self.processes.mark_queued(id) {
            self.queue.push(id);
        }
    }

    fn activate(&mut self, activation: Activation) {
        match activation {
            Activation::Resume(id) => self.make_runnable(id),
            Activation::Fire(event, ticket) => event.fire_pending(self, ticket),
        }
    }
}

/// What a closed queues held, to be dropped by the caller.
pub(super) struct Closed {
    pub(super) bodies: Vec<super::process::ProcessFuture>,
    _delta_events: Vec<(Rc<EventCell>, u64)>,
    _timed: BinaryHeap<Timed>,
}
