//! The driver queue: work that must run on the thread driving a machine.
//!
//! Harts run on their own host threads, but some things they reach may only
//! be touched from one thread: an outside simulator (SystemC's kernel is
//! single-threaded) serves transactions on the thread that called
//! [`crate::Machine::run`]. A hart thread hands such work to
//! [`DriverQueue::call`] and blocks until the driving thread has done it;
//! the driving thread serves the queue while it waits for the hart threads.
//! On the driving thread itself (the deterministic runner, or a one-hart
//! machine) `call` runs the work at once.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// The thread that serves the queue, while a run is in progress.
    driver: Option<ThreadId>,
    /// Set when the driving thread should stop serving.
    finished: bool,
}

/// A queue of work for the thread driving a machine; one per machine,
/// shared by whatever devices need it.
#[derive(Default)]
pub struct DriverQueue {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl fmt::Debug for DriverQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let queue = self.lock();
        f.debug_struct("DriverQueue").field("queued", &queue.jobs.len()).field("driver", &queue.driver).finish()
    }
}

/// A result slot a hart thread waits on.
struct Reply<R> {
    value: Mutex<Option<R>>,
    done: Condvar,
}

impl DriverQueue {
    /// An empty queue.
    pub fn new() -> DriverQueue {
        DriverQueue::default()
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `work` on the driving thread and returns its result: at once
    /// when called on that thread or when no run is in progress, otherwise
    /// by queueing it and blocking until the driving thread has run it.
    pub fn call<R: Send + 'static>(&self, work: impl FnOnce() -> R + Send + 'static) -> R {
        let reply = {
            let mut queue = self.lock();
            match queue.driver {
                Some(driver) if driver != std::thread::current().id() => {
                    let reply = Arc::new(Reply { value: Mutex::new(None), done: Condvar::new() });
                    let slot = reply.clone();
                    queue.jobs.push_back(Box::new(move || {
                        let value = work();
                        *slot.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
                        slot.done.notify_one();
                    }));
                    self.ready.notify_one();
                    reply
                }
                _ => {
                    drop(queue);
                    return work();
                }
            }
        };
        let mut value = reply.value.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(value) = value.take() {
                return value;
            }
            value = reply.done.wait(value).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Makes the calling thread the driving thread until [`DriverQueue::finish`]
    /// ends the matching [`DriverQueue::serve`].
    pub(crate) fn begin(&self) {
        let mut queue = self.lock();
        queue.driver = Some(std::thread::current().id());
        queue.finished = false;
    }

    /// Runs queued work on the driving thread until `finish` is called.
    pub(crate) fn serve(&self) {
        /// A backstop only: `finish` and `call` notify.
        const POLL: Duration = Duration::from_millis(50);
        let mut queue = self.lock();
        loop {
            if let Some(job) = queue.jobs.pop_front() {
                drop(queue);
                job();
                queue = self.lock();
                continue;
            }
            if queue.finished {
                queue.driver = None;
                return;
            }
            queue = self.ready.wait_timeout(queue, POLL).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Ends [`DriverQueue::serve`] once the queue is empty; called when every
    /// thread that could queue work has stopped.
    pub(crate) fn finish(&self) {
        let mut queue = self.lock();
        queue.finished = true;
        self.ready.notify_all();
    }

    /// Ends a run driven without serving (all harts ran on the driving
    /// thread).
    pub(crate) fn end(&self) {
        let mut queue = self.lock();
        queue.driver = None;
        queue.finished = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_from_other_threads_runs_on_the_driving_thread() {
        let queue = Arc::new(DriverQueue::new());
        let driver = std::thread::current().id();
        queue.begin();
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let queue = queue.clone();
                std::thread::spawn(move || queue.call(move || (i, std::thread::current().id())))
            })
            .collect();
        let finisher = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
                queue.finish();
                results
            })
        };
        queue.serve();
        let results = finisher.join().unwrap();
        assert_eq!(results.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert!(results.iter().all(|r| r.1 == driver), "all work ran on the driving thread");
    }

    #[test]
    fn without_a_run_work_runs_where_it_is_called() {
        let queue = DriverQueue::new();
        assert_eq!(queue.call(|| 7), 7);
        queue.begin();
        // On the driving thread itself.
        assert_eq!(queue.call(|| 8), 8);
        queue.end();
    }
}
