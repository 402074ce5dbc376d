//! Waiting for simulated time to pass.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::queues::{Activation, Shared};
use crate::time::SimTime;

/// The future of [`SchedulerHandle::wait`](super::SchedulerHandle::wait) and
/// [`SchedulerHandle::yield_now`](super::SchedulerHandle::yield_now): ready once
/// simulated time has advanced by the duration, or, for a zero duration, in
/// the next delta cycle.
///
/// The wait belongs to the process that first polls it, which must be a
/// process of the handle's scheduler: awaiting it anywhere else panics.
#[must_use = "a wait does nothing unless awaited"]
pub struct Wait<'a> {
    shared: &'a Shared,
    duration: SimTime,
    /// When the wait is over, and the delta cycle in which it began.
    armed: Option<(SimTime, u64)>,
}

impl<'a> Wait<'a> {
    pub(super) fn new(shared: &'a Shared, duration: SimTime) -> Wait<'a> {
        Wait { shared, duration, armed: None }
    }
}

impl std::fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wait")
            .field("duration", &self.duration)
            .field("until", &self.armed.map(|(until, _)| until))
            .finish()
    }
}

impl Future for Wait<'_> {
    type Output = ();

    // Inlined into the process's state machine, where it runs on every wait.
    #[inline(always)]
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        let time = &self.shared.time;
        if let Some((until, delta)) = self.armed {
            // Time and delta both move on before the process is resumed;
            // anything else is a spurious wake and the activation stays queued.
            return if time.now.get() >= until && time.delta.get() != delta { Poll::Ready(()) } else { Poll::Pending };
        }
        let id = self.shared.current_process("SchedulerHandle::wait");
        let (until, delta) = (time.now.get() + self.duration, time.delta.get());
        let mut queues = self.shared.queues.borrow_mut();
        if self.duration == SimTime::ZERO {
            queues.resume_next_delta(id);
        } else {
            queues.schedule_at(until, Activation::Resume(id));
        }
        drop(queues);
        self.armed = Some((until, delta));
        Poll::Pending
    }
}
