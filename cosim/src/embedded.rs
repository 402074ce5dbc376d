//! The embedded default: a machine and Rust device models stepped together
//! with no outside simulator.
//!
//! Device models are processes of a [`Scheduler`]; [`Embedded`] plays the
//! outside simulator's part: it runs the processes due, advances the
//! machine to the scheduler's next activity (or by a quantum), runs the
//! processes up to the time reached, and so on. The models' register
//! interface is a [`Target`](crate::Target) like any other; since scheduler
//! state is single-threaded (`Rc`), wrap it in [`OnDriver`] to hand it to
//! a region: transactions are served on the driving thread, the one that
//! steps the scheduler, so the models never leave it.
//!
//! A model told during an advance of something it will do at a later time
//! (a timer being armed) calls [`Interrupts::stop_at`](crate::Interrupts::stop_at)
//! for that time, so the advance ends there and the scheduler gets to act on
//! time.

use std::fmt;

use polyhart_machine::StopReason;
use send_wrapper::SendWrapper;

use crate::driver::{Advance, AdvanceEnd, Cosim};
use crate::scheduler::{RunError, Scheduler};
use crate::time::SimTime;

/// State that lives on the driving thread but must sit in something
/// `Send + Sync`, such as a region's target: it can be moved between
/// threads, but reached (and dropped) only on the thread that made it;
/// anywhere else is a panic, never a data race.
pub struct OnDriver<T>(SendWrapper<T>);

impl<T> OnDriver<T> {
    /// Binds `value` to the calling thread.
    pub fn new(value: T) -> OnDriver<T> {
        OnDriver(SendWrapper::new(value))
    }

    /// The value; panics off the thread that made it.
    pub fn get(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for OnDriver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnDriver")
    }
}

/// A machine and a scheduler of device processes, driven together.
#[derive(Debug)]
pub struct Embedded {
    cosim: Cosim,
    scheduler: Scheduler,
    quantum: SimTime,
}

impl Embedded {
    /// Drives `cosim` with `scheduler`'s processes; an advance covers at most
    /// the machine's quantum. The scheduler's time must be the machine's.
    pub fn new(cosim: Cosim, scheduler: Scheduler) -> Embedded {
        let quantum = cosim.quantum();
        Embedded { cosim, scheduler, quantum }
    }

    /// The machine.
    pub fn cosim(&self) -> &Cosim {
        &self.cosim
    }

    /// The machine, mutably.
    pub fn cosim_mut(&mut self) -> &mut Cosim {
        &mut self.cosim
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// One step: the processes due now run, the machine advances to the
    /// scheduler's next activity or by a quantum, whichever comes first, and
    /// the processes due up to the time reached run.
    pub fn step(&mut self) -> Result<Advance, RunError> {
        let now = self.cosim.now();
        self.scheduler.run_until(now)?;
        let until = match self.scheduler.next_time() {
            Some(next) if next > now => (next - now).min(self.quantum),
            // Something is due now: let the machine move at least a cycle.
            Some(_) => SimTime(1),
            None => self.quantum,
        };
        let advance = self.cosim.advance(until);
        self.scheduler.run_until(advance.time)?;
        Ok(advance)
    }

    /// Steps until the machine stops, and says why.
    pub fn run(&mut self) -> Result<StopReason, RunError> {
        loop {
            if let AdvanceEnd::Stopped(reason) = self.step()?.end {
                return Ok(reason);
            }
        }
    }
}
