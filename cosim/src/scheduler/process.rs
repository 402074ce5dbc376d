//! Processes: their identities, the table that owns their futures, and the
//! one waker each table slot keeps for its whole life.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

/// A process's body: the state machine rustc compiled from its `async` code.
pub(super) type ProcessFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Names one process of one scheduler.
///
/// Ids are cheap to copy and compare. When a process finishes its slot is
/// reused, but with a new generation, so an old id never names the newcomer
/// (until the 2^32nd reuse of the same slot).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProcessId {
    pub(super) index: u32,
    pub(super) generation: u32,
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "process {}.{}", self.index, self.generation)
    }
}

/// One entry of the process table.
struct Slot {
    /// Bumped when the process in this slot finishes, so ids naming it go stale.
    generation: u32,
    /// Whether the process already sits in the run queue (it is never there twice).
    queued: bool,
    /// The process's body: `None` while the slot is free and while the process
    /// is being polled (the scheduler holds it then).
    future: Option<ProcessFuture>,
    /// The waker handed to the body when it is polled: made once per slot and
    /// reused by every process the slot holds. `None` only while polled.
    waker: Option<Waker>,
}

/// Every process of one scheduler, by slot index.
pub(super) struct ProcessTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

impl ProcessTable {
    pub(super) fn new() -> ProcessTable {
        ProcessTable { slots: Vec::new(), free: Vec::new(), live: 0 }
    }

    /// Stores a new process and returns its id. Allocates only when no slot is
    /// free (a new slot and its waker).
    pub(super) fn insert(&mut self, future: ProcessFuture, inbox: &Arc<Inbox>) -> ProcessId {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.future = Some(future);
            return ProcessId { index, generation: slot.generation };
        }
        let index = u32::try_from(self.slots.len())
            .expect("a scheduler holds fewer than 2^32 processes: each costs memory long before that");
        let waker = Waker::from(Arc::new(SlotWaker { index, inbox: Arc::clone(inbox) }));
        self.slots.push(Slot { generation: 0, queued: false, future: Some(future), waker: Some(waker) });
        ProcessId { index, generation: 0 }
    }

    fn slot_mut(&mut self, id: ProcessId) -> Option<&mut Slot> {
        self.slots.get_mut(id.index as usize).filter(|slot| slot.generation == id.generation)
    }

    /// Whether `id` names a process that has not finished.
    pub(super) fn is_live(&self, id: ProcessId) -> bool {
        self.slots.get(id.index as usize).is_some_and(|slot| slot.generation == id.generation)
    }

    /// Marks a live process as queued to run. Returns `false` if it has
    /// finished or is queued already, so that nobody queues it twice.
    pub(super) fn mark_queued(&mut self, id: ProcessId) -> bool {
        match self.slot_mut(id) {
            Some(slot) if !slot.queued => {
                slot.queued = true;
                true
            }
            _ => false,
        }
    }

    /// Takes out the body and waker of a process leaving the run queue to be
    /// polled, or `None` if it has finished since it was queued.
    pub(super) fn start(&mut self, id: ProcessId) -> Option<(ProcessFuture, Waker)> {
        let slot = self.slot_mut(id)?;
        slot.queued = false;
        slot.future.take().zip(slot.waker.take())
    }

    /// Puts back the body and waker of a process that is waiting again.
    pub(super) fn suspend(&mut self, id: ProcessId, future: ProcessFuture, waker: Waker) {
        let slot = &mut self.slots[id.index as usize];
        slot.future = Some(future);
        slot.waker = Some(waker);
    }

    /// Frees the slot of a finished process (whose body the caller drops),
    /// keeping the slot's waker for the next occupant.
    pub(super) fn finish(&mut self, id: ProcessId, waker: Waker) {
        let slot = &mut self.slots[id.index as usize];
        slot.waker = Some(waker);
        slot.generation = slot.generation.wrapping_add(1);
        slot.queued = false;
        self.free.push(id.index);
        self.live -= 1;
    }

    /// The id of whatever process lives in slot `index` and is not being
    /// polled: how a wake through a slot's waker finds its process.
    pub(super) fn idle_in(&self, index: u32) -> Option<ProcessId> {
        let slot = self.slots.get(index as usize)?;
        slot.future.as_ref().map(|_| ProcessId { index, generation: slot.generation })
    }

    /// How many processes have not finished.
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Takes every body out, for the scheduler to drop them outside its borrows.
    pub(super) fn take_all(&mut self) -> Vec<ProcessFuture> {
        self.live = 0;
        self.free.clear();
        self.slots.drain(..).filter_map(|slot| slot.future).collect()
    }
}

/// Wakes that came through [`Waker`]s (from futures that are not the scheduler's
/// own, possibly on other threads), waiting for the scheduler to collect them.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    pending: AtomicBool,
    slots: Mutex<Vec<u32>>,
}

impl Inbox {
    /// Whether a wake may be waiting: one load, cheap enough for every delta cycle.
    pub(super) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Moves the slot indices woken since the last call into `into`.
    pub(super) fn drain_into(&self, into: &mut Vec<u32>) {
        if self.pending.swap(false, Ordering::Acquire) {
            // A waker that panicked while pushing left a well-formed Vec behind.
            let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            into.append(&mut slots);
        }
    }

    fn push(&self, index: u32) {
        self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(index);
        self.pending.store(true, Ordering::Release);
    }
}

/// The waker of one process-table slot. It names the slot, not the process:
/// a wake that arrives after the process finished wakes the slot's next
/// occupant, which futures must tolerate anyway (spurious wakes are allowed).
struct SlotWaker {
    index: u32,
    inbox: Arc<Inbox>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.inbox.push(self.index);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.inbox.push(self.index);
    }
}
