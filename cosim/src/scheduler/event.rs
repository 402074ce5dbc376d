//! Events: what processes wait on and notify, with SystemC's `sc_event` rules.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::process::ProcessId;
use super::queues::{Activation, RunQueue, Shared};
use crate::time::SimTime;

/// Something that happens at a point of simulated time, which processes can
/// wait for: an interrupt raised, data ready, a register written.
///
/// An event has no value and no memory: [`wait`](Event::wait) waits for the
/// next notification after the wait began; a notification nobody waits for is
/// lost. Clones are handles to the same event. Create events with
/// [`SchedulerHandle::event`](super::SchedulerHandle::event).
///
/// # Notifications
///
/// - [`notify`](Event::notify), *immediate*: the processes waiting now become
///   runnable in the current evaluation phase (after the processes already
///   queued in it). Called from outside a run, they run at the current time
///   when the scheduler next runs. Unlike SystemC, this includes the notifying
///   process itself if it waits on the event through a combinator (a
///   `select` over this event and something else): it is polled again.
/// - [`notify_after`](Event::notify_after)`(SimTime::ZERO)`, *delta*: the
///   event fires in the next delta cycle, at the same simulated time; it wakes
///   the processes waiting *then*, including those that began to wait after
///   the call.
/// - [`notify_after`](Event::notify_after)`(d)` with `d > 0`, *timed*: the
///   event fires at `now + d`.
///
/// An event holds at most one pending (delta or timed) notification. As in
/// IEEE 1666 (`sc_event`), when a second notification is asked for while one
/// is pending, the one that would fire earlier survives and the other is
/// dropped: a delta notification beats any timed one, an earlier time beats a
/// later one, and of two for the same time the first one stays. An immediate
/// `notify` cancels any pending notification (after firing, nothing is left
/// pending). [`cancel`](Event::cancel) drops the pending notification; to
/// move a notification later, cancel it and notify again.
pub struct Event {
    cell: Rc<EventCell>,
}

/// An event's state, shared by its handles and by the scheduler's queues.
pub(super) struct EventCell {
    shared: Rc<Shared>,
    state: RefCell<EventState>,
}

struct EventState {
    /// Processes waiting, in the order they began to wait.
    waiters: Vec<ProcessId>,
    /// How many times the event has fired: a wait is over once this moved.
    fired: u64,
    pending: Option<Pending>,
}

/// A notification scheduled for later.
#[derive(Copy, Clone, Debug)]
struct Pending {
    when: When,
    /// Names this notification in the scheduler's queues, so that entries of
    /// cancelled or overridden notifications are recognised as stale.
    ticket: u64,
}

/// When a pending notification fires. The derived order is the override
/// order: a delta notification comes before any timed one.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum When {
    Delta,
    At(SimTime),
}

impl Event {
    pub(super) fn new(shared: Rc<Shared>) -> Event {
        let state = EventState { waiters: Vec::new(), fired: 0, pending: None };
        Event { cell: Rc::new(EventCell { shared, state: RefCell::new(state) }) }
    }

    /// Waits until the event is next notified.
    ///
    /// The wait belongs to the process that first polls it, which must be a
    /// process of this event's scheduler: awaiting it anywhere else panics.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait { event: self, armed: None }
    }

    /// Fires the event now (immediate notification), cancelling any pending
    /// notification. See [the type's documentation](Event#notifications).
    pub fn notify(&self) {
        let mut queues = self.cell.shared.queues.borrow_mut();
        if queues.closed {
            return;
        }
        let mut state = self.cell.state.borrow_mut();
        state.pending = None;
        state.fire(&mut queues.run);
    }

    /// Fires the event `delay` from now: in the next delta cycle if `delay` is
    /// zero. Of two pending notifications the earlier wins; see [the type's
    /// documentation](Event#notifications).
    pub fn notify_after(&self, delay: SimTime) {
        let mut queues = self.cell.shared.queues.borrow_mut();
        if queues.closed {
            return;
        }
        let when = if delay == SimTime::ZERO { When::Delta } else { When::At(self.cell.shared.time.now.get() + delay) };
        let mut state = self.cell.state.borrow_mut();
        if state.pending.is_some_and(|pending| pending.when <= when) {
            return;
        }
        let ticket = queues.next_sequence();
        state.pending = Some(Pending { when, ticket });
        drop(state);
        let event = Rc::clone(&self.cell);
        match when {
            When::Delta => queues.fire_next_delta(event, ticket),
            When::At(time) => queues.schedule_with(time, ticket, Activation::Fire(event, ticket)),
        }
    }

    /// Drops the pending notification, if any. Processes keep waiting.
    pub fn cancel(&self) {
        self.cell.state.borrow_mut().pending = None;
    }
}

impl Clone for Event {
    fn clone(&self) -> Event {
        Event { cell: Rc::clone(&self.cell) }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.cell.state.borrow();
        f.debug_struct("Event")
            .field("waiters", &state.waiters.len())
            .field("fired", &state.fired)
            .field("pending", &state.pending.map(|pending| pending.when))
            .finish()
    }
}

impl EventCell {
    /// Fires the pending notification named by `ticket`; does nothing if it
    /// was cancelled or overridden since.
    pub(super) fn fire_pending(&self, run: &mut RunQueue, ticket: u64) {
        let mut state = self.state.borrow_mut();
        if state.pending.is_some_and(|pending| pending.ticket == ticket) {
            state.pending = None;
            state.fire(run);
        }
    }

    /// Whether the notification named by `ticket` is still pending.
    pub(super) fn is_pending_with(&self, ticket: u64) -> bool {
        self.state.borrow().pending.is_some_and(|pending| pending.ticket == ticket)
    }
}

impl EventState {
    fn fire(&mut self, run: &mut RunQueue) {
        self.fired += 1;
        for id in self.waiters.drain(..) {
            run.make_runnable(id);
        }
    }
}

/// The future of [`Event::wait`]: ready once the event has fired after the
/// wait began.
#[must_use = "a wait does nothing unless awaited"]
#[derive(Debug)]
pub struct EventWait<'a> {
    event: &'a Event,
    /// The waiting process and the event's fire count when it began to wait.
    armed: Option<(ProcessId, u64)>,
}

impl Future for EventWait<'_> {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        let cell = &self.event.cell;
        let mut state = cell.state.borrow_mut();
        if let Some((_, fired)) = self.armed {
            // Any other poll is a spurious wake: the process stays registered.
            return if state.fired != fired { Poll::Ready(()) } else { Poll::Pending };
        }
        let id = cell.shared.current_process("Event::wait");
        state.waiters.push(id);
        let fired = state.fired;
        drop(state);
        self.armed = Some((id, fired));
        Poll::Pending
    }
}

impl Drop for EventWait<'_> {
    /// A wait given up before the event fired (dropped by a `select`, say)
    /// unregisters, so that the event does not wake its process for nothing.
    fn drop(&mut self) {
        let Some((id, fired)) = self.armed else { return };
        let mut state = self.event.cell.state.borrow_mut();
        if state.fired == fired
            && let Some(at) = state.waiters.iter().position(|waiter| *waiter == id)
        {
            state.waiters.remove(at);
        }
    }
}
