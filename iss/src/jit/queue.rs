//! Where hot blocks wait for the background compiler: the hottest first,
//! and never more than [`QUEUE_LIMIT`] of them.
//!
//! A block joins when it reaches the threshold, and its heat keeps counting
//! the runs the harts interpret while it waits. When blocks turn hot faster
//! than the compiler keeps up (a kernel booting turns thousands hot in a
//! second), a first-come order would spend the compiler on code that ran
//! its fifty times and went cold, while the loop the harts are in now
//! waits behind it. So the compiler takes the block with the most runs, and
//! a full queue gives up its coldest block, whose heat starts again from
//! zero so that it comes back if it turns hot again.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::cache::Block;
use crate::jit::translator::AccessMode;

/// Blocks that may wait at once.
pub(crate) const QUEUE_LIMIT: usize = 512;

/// A block to compile, with the pc and data context it was found hot in.
pub(crate) struct Job {
    pub(crate) block: Arc<Block>,
    pub(crate) pc: u64,
    pub(crate) access: AccessMode,
}

impl Job {
    fn heat(&self) -> u32 {
        self.block.heat.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct Waiting {
    jobs: Vec<Job>,
    closed: bool,
}

/// The queue between the harts and the compiler thread.
#[derive(Default)]
pub(crate) struct CompileQueue {
    waiting: Mutex<Waiting>,
    ready: Condvar,
}

impl CompileQueue {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // The queue's state is valid whenever the lock is free.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a block that turned hot; when the queue is full, the coldest
    /// of its blocks and this one is left out, its heat reset.
    pub(crate) fn push(&self, job: Job) {
        let mut waiting = self.lock();
        if waiting.closed {
            return;
        }
        waiting.jobs.push(job);
        if waiting.jobs.len() > QUEUE_LIMIT {
            let coldest = coldest(&waiting.jobs);
            let dropped = waiting.jobs.swap_remove(coldest);
            dropped.block.heat.store(0, Ordering::Relaxed);
        }
        drop(waiting);
        self.ready.notify_one();
    }

    /// The hottest waiting block, waiting for one if there is none; `None`
    /// once the queue is closed.
    pub(crate) fn pop(&self) -> Option<Job> {
        let mut waiting = self.lock();
        loop {
            if waiting.closed {
                return None;
            }
            if !waiting.jobs.is_empty() {
                let hottest = hottest(&waiting.jobs);
                return Some(waiting.jobs.swap_remove(hottest));
            }
            waiting = self.ready.wait(waiting).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Stops the queue: what waits is dropped, and `pop` returns `None`.
    pub(crate) fn close(&self) {
        let mut waiting = self.lock();
        waiting.closed = true;
        waiting.jobs.clear();
        drop(waiting);
        self.ready.notify_all();
    }
}

fn hottest(jobs: &[Job]) -> usize {
    jobs.iter().enumerate().max_by_key(|(_, job)| job.heat()).map_or(0, |(index, _)| index)
}

fn coldest(jobs: &[Job]) -> usize {
    jobs.iter().enumerate().min_by_key(|(_, job)| job.heat()).map_or(0, |(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::BlockKey;

    fn job(pc: u64, heat: u32) -> Job {
        let block = Arc::new(Block::new(BlockKey::at(pc), Box::new([]), Box::new([])));
        block.heat.store(heat, Ordering::Relaxed);
        Job { block, pc, access: AccessMode::Plain }
    }

    #[test]
    fn the_hottest_block_is_compiled_first() {
        let queue = CompileQueue::default();
        queue.push(job(0x100, 50));
        let later = job(0x200, 50);
        let block = later.block.clone();
        queue.push(later);
        queue.push(job(0x300, 60));
        // The second block ran most while it waited.
        block.heat.store(500, Ordering::Relaxed);
        let order: Vec<u64> = (0..3).filter_map(|_| queue.pop()).map(|job| job.pc).collect();
        assert_eq!(order, [0x200, 0x300, 0x100]);
    }

    #[test]
    fn a_full_queue_leaves_out_its_coldest_block_and_resets_its_heat() {
        let queue = CompileQueue::default();
        let cold = job(0x4, 50);
        let cold_block = cold.block.clone();
        queue.push(cold);
        for n in 1..=QUEUE_LIMIT as u64 {
            queue.push(job(0x4 + 4 * n, 51));
        }
        assert_eq!(cold_block.heat.load(Ordering::Relaxed), 0, "left out, to turn hot again");
        let mut popped = 0;
        queue.push(job(0, 1_000));
        assert_eq!(queue.pop().map(|job| job.pc), Some(0), "the hottest first");
        // The hot block pushed another 51 out: QUEUE_LIMIT - 1 remain.
        while let Some(job) = (popped < QUEUE_LIMIT - 1).then(|| queue.pop()).flatten() {
            assert_ne!(job.pc, 0x4);
            popped += 1;
        }
        queue.close();
        assert!(queue.pop().is_none(), "a closed queue gives nothing");
    }
}
