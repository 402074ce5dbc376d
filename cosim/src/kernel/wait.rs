//! Waiting for simulated time to pass.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::schedule::{Activation, Shared, outside_a_process};
use crate::time::SimTime;

/// The future of [`KernelHandle::wait`](super::KernelHandle::wait) and
/// [`KernelHandle::yield_now`](super::KernelHandle::yield_now): ready once
/// simulated time has advanced by the duration, or, for a zero duration, in
/// the next delta cycle.
///
/// The wait belongs to the process that first polls it, which must be a
/// process of the handle's kernel: awaiting it anywhere else panics.
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

    #[inline]
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if let Some((until, delta)) = self.armed {
            let scheduler = self.shared.scheduler.borrow();
            // Time and delta both move on before the process is resumed;
            // anything else is a spurious wake and the activation stays queued.
            return if scheduler.now >= until && scheduler.delta != delta { Poll::Ready(()) } else { Poll::Pending };
        }
        let mut scheduler = self.shared.scheduler.borrow_mut();
        let Some(id) = scheduler.current else {
            drop(scheduler);
            outside_a_process("KernelHandle::wait")
        };
        let until = scheduler.now + self.duration;
        if self.duration == SimTime::ZERO {
            scheduler.next_delta.push(Activation::Resume(id));
        } else {
            scheduler.schedule_at(until, Activation::Resume(id));
        }
        let delta = scheduler.delta;
        drop(scheduler);
        self.armed = Some((until, delta));
        Poll::Pending
    }
}
