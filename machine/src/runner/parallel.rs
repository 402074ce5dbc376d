//! The parallel runner: one host thread per hart.
//!
//! With a bounded quantum, harts run in rounds of `quantum` cycles of
//! simulated time, as in the deterministic runner, but at the same time on
//! their own threads: each runs its part of the round, then waits at the
//! round's end until every hart taking part has arrived, so no hart is ever
//! more than one quantum ahead of another. The last to arrive closes the
//! round: it decides which harts take part in the next one, skips simulated
//! time forward when all of them wait for a timer, and detects the end of
//! the run. The barrier takes no lock on its common path: an arrival is
//! one atomic subtraction, and the closer publishes the next round in
//! atomics that the waiting threads watch (see `Rounds`, which also says
//! why its memory orderings suffice).
//!
//! A hart asleep in `wfi` (nothing pending, no timer armed) does not take
//! part in rounds: its thread blocks on a condition variable, burning no host
//! core, and the hart's local time catches up with the round it is woken in.
//! The round's closer wakes it when an interrupt it enables becomes pending
//! (an IPI, an external interrupt) or its timer is armed, so it sees the
//! event at the next round boundary, at most one quantum late, exactly as in
//! the deterministic runner.
//!
//! With the unbounded quantum ([`UNBOUNDED_QUANTUM`]) harts
//! run free, like QEMU's MTTCG: no rounds, no bound on how far one hart's
//! local time runs ahead of another's. A hart waiting for its timer skips to
//! it at once; an asleep one parks its thread until an interrupt line or an
//! exit request unparks it ([`HartControl::set_waker`]).

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use polyhart_iss::{Hart, HartControl};

use super::wake::{WaitState, Wake};
use super::{QuantumEnd, QuantumRunner, StopReason, UNBOUNDED_QUANTUM, wait_for_wakeup};
use crate::Machine;
use crate::boards::Board;
use crate::driver_queue::DriverQueue;

/// How long a blocked thread waits before looking at the stop signal
/// itself; the usual wakeups are notifications.
const STOP_POLL: Duration = Duration::from_millis(10);

/// What a hart's thread leaves for the round's closer when it arrives.
#[derive(Copy, Clone, Debug)]
struct Arrival {
    /// The hart is asleep (see [`QuantumEnd::Asleep`]).
    asleep: bool,
    /// What decides when it wakes.
    wait: WaitState,
}

/// A parked free-running hart, as it parked.
#[derive(Copy, Clone, Debug)]
struct Parked {
    wait: WaitState,
    /// Its local time.
    cycle: u64,
}

/// A value on cache lines of its own, so that threads writing it do not
/// slow down threads reading its neighbours, and the other way round. Two
/// lines: x86 cores fetch lines in adjacent pairs.
#[derive(Debug, Default)]
#[repr(align(128))]
struct CachePadded<T>(T);

impl<T> Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A hart's latest [`Arrival`]: written only by the hart's thread when it
/// arrives, read only by the round's closer. Relaxed accesses: the arrival
/// count orders them (see [`Rounds`]).
#[derive(Debug, Default)]
struct ArrivalSlot {
    asleep: AtomicBool,
    mip: AtomicU64,
    mie: AtomicU64,
    /// Whether Sstc drives STIP, and `stimecmp` when it does.
    sstc: AtomicBool,
    stimecmp: AtomicU64,
}

impl ArrivalSlot {
    fn store(&self, arrival: Arrival) {
        let wait = arrival.wait;
        self.asleep.store(arrival.asleep, Ordering::Relaxed);
        self.mip.store(wait.mip, Ordering::Relaxed);
        self.mie.store(wait.mie, Ordering::Relaxed);
        self.sstc.store(wait.stimecmp.is_some(), Ordering::Relaxed);
        self.stimecmp.store(wait.stimecmp.unwrap_or(0), Ordering::Relaxed);
    }

    fn load(&self) -> Arrival {
        let stimecmp = self.stimecmp.load(Ordering::Relaxed);
        Arrival {
            asleep: self.asleep.load(Ordering::Relaxed),
            wait: WaitState {
                mip: self.mip.load(Ordering::Relaxed),
                mie: self.mie.load(Ordering::Relaxed),
                stimecmp: self.sstc.load(Ordering::Relaxed).then_some(stimecmp),
            },
        }
    }
}

/// The current round, as its opener published it.
#[derive(Debug)]
struct Round {
    /// Rounds closed so far, which is the current round's number; a
    /// waiting thread watches it change.
    closed: AtomicU64,
    /// The current round's start and end, in local cycles.
    start: AtomicU64,
    end: AtomicU64,
}

/// The rounds: a barrier whose common path takes no lock.
///
/// A thread arrives once a round, for all its harts that took part: it
/// stores their arrivals in their slots, then subtracts their number from
/// `remaining`; the thread that takes it to zero closes the round. The
/// closer opens the next round by storing its bounds, `awake_in` of the
/// harts taking part and `remaining`, then `closed`, which the waiting
/// threads watch. Locks are left to the rare paths: ending the run, and
/// putting a thread to sleep on [`Shared::turn`] and waking it.
///
/// Memory orderings, and why they suffice:
///
/// - Arrivals reach the closer. The slots are stored with Relaxed before
///   an AcqRel subtraction from `remaining`. The subtractions of a round
///   form one release sequence, and the one that reaches zero reads the
///   value left by all the others, so its Acquire half synchronises with
///   every arrival of the round: the closer sees every slot. Slots of harts
///   that sat the round out were stored in earlier rounds, before arrivals
///   that happen before this close (each round's threads acquired the
///   `closed` that the previous closer released).
/// - The next round reaches the waiting threads. The closer stores the
///   bounds, `awake_in` and `remaining` with Relaxed, then `closed` with
///   SeqCst (a release store); a thread that loads the new `closed` (Acquire
///   or SeqCst) sees them all, and its subtraction from `remaining` comes
///   after the closer's store of it. It may also see `awake_in` values of a
///   round not opened yet, since the closer stores them before `closed`:
///   such a value never equals the `closed` it loaded, so it waits on.
/// - What a thread reads holds still. A thread reads the bounds, and
///   `awake_in` of its harts, only once it saw that one of them takes part
///   in round `closed`. That round cannot close, so its closer cannot store
///   new ones, before this thread arrives, after it read them (the Release
///   half of its subtraction orders the reads first).
/// - No wakeup is lost. A thread going to sleep holds the `outcome` lock,
///   stores its `sleeping` flag (SeqCst), then loads `closed` (SeqCst) and
///   waits on `turn` (releasing the lock) only if its round has not come.
///   The closer stores `closed` (SeqCst), then loads the `sleeping` flags
///   (SeqCst) of the threads whose harts take part in the new round. In
///   the single order of all SeqCst operations, either the closer's load
///   comes after the thread's store, so it sees the flag and notifies under
///   the lock, which the thread holds until it waits; or the thread's load
///   comes after the closer's store, so it sees the new round and does not
///   sleep. Threads whose harts all sit the new round out are not woken:
///   they would only sleep again.
/// - The end reaches everyone. [`Shared::end`] records the outcome and sets
///   [`QuantumRunner::ending`] under the lock and notifies every sleeper; a thread
///   looks at the outcome under the lock before it sleeps, and at `ending`
///   as it spins.
#[derive(Debug)]
struct Rounds {
    /// Written by the closer once a round, read by every waiting thread.
    now: CachePadded<Round>,
    /// Harts of the current round that have not arrived yet: every arrival
    /// writes it, so it has lines of its own.
    remaining: CachePadded<AtomicUsize>,
    /// Per hart: the last round it takes part in, so round `closed` when it
    /// takes part in the current round.
    awake_in: Vec<AtomicU64>,
    /// Per hart: its latest arrival.
    arrivals: Vec<CachePadded<ArrivalSlot>>,
    /// Per thread: it sleeps on [`Shared::turn`], or is about to.
    sleeping: Vec<AtomicBool>,
}

impl Rounds {
    /// Rounds for `harts` harts on `threads` threads; the first, round 0,
    /// runs every hart from `start` to `end`.
    fn new(harts: usize, threads: usize, start: u64, end: u64) -> Rounds {
        Rounds {
            now: CachePadded(Round {
                closed: AtomicU64::new(0),
                start: AtomicU64::new(start),
                end: AtomicU64::new(end),
            }),
            remaining: CachePadded(AtomicUsize::new(harts)),
            awake_in: (0..harts).map(|_| AtomicU64::new(0)).collect(),
            arrivals: (0..harts).map(|_| CachePadded::default()).collect(),
            sleeping: (0..threads).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// The thread that runs hart `index`.
    fn thread_of(&self, index: usize) -> usize {
        index % self.sleeping.len()
    }
}

/// The state every hart thread shares.
struct Shared<'a, B> {
    machine: MachineParts<'a, B>,
    rounds: Rounds,
    /// Why the run ends, once decided. Its lock also keeps a thread going
    /// to sleep on `turn` and a thread waking it in step.
    outcome: Mutex<Option<StopReason>>,
    turn: Condvar,
    quantum: u64,
    /// No round ends past this local time ([`Machine::run_until`]).
    horizon: u64,
}

/// The host's cores, as far as this process may use them.
fn host_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get())
}

/// Threads for `harts` harts in rounds on `cores` host cores: a thread per
/// hart while each can have a core. With more harts than cores, threads
/// take turns on the cores anyway, and a thread that loses its core to
/// another (the JIT's compiler, the console, another process) holds every
/// round up until it gets one back: then one core is left to the rest
/// (1 thread for 4 harts on 2 cores boots Debian in 8 s to the shell, 2
/// threads take 15 s).
fn round_threads(harts: usize, cores: usize) -> usize {
    if harts <= cores { harts } else { cores.saturating_sub(1).max(1) }
}

/// The longest an early arrival spins before it sleeps: long enough to
/// cover the spread of a round's arrivals on free cores, far shorter than
/// the host's wake-up latency it saves.
const SPIN: Duration = Duration::from_micros(200);

/// The shortest spin: the adaptive spin (see [`Spin`]) never goes below it,
/// so that it can grow again.
const MIN_SPIN: Duration = Duration::from_micros(2);

/// How long a thread spins at the barrier before it sleeps, adapted to how
/// its recent waits ended: a round that came while it spun doubles the
/// spin (up to [`SPIN`]), one it had to sleep for halves it. On a host
/// whose cores are busy elsewhere the round's last arrival is often off
/// its core, and a full spin is time taken from the thread that would
/// close the round.
#[derive(Copy, Clone, Debug)]
struct Spin(Duration);

impl Spin {
    fn new() -> Spin {
        Spin(SPIN)
    }

    /// Notes how a wait ended: within the spin, or asleep.
    fn note(&mut self, slept: bool) {
        self.0 = if slept { (self.0 / 2).max(MIN_SPIN) } else { (self.0 * 2).min(SPIN) };
    }
}

/// Spins between looks at the clock while spinning: reading it costs more
/// than a spin.
const SPINS_PER_CLOCK: u32 = 64;

/// The parts of the machine the threads use, borrowed while its harts are
/// lent out to them.
struct MachineParts<'a, B> {
    runner: QuantumRunner<'a, B>,
    controls: Vec<Arc<HartControl>>,
}

/// Runs every hart of `machine` on its own thread, in rounds of `quantum`
/// cycles, until the machine stops, the harts together retire about `limit`
/// instructions, or every hart's local time reaches `horizon`.
pub(crate) fn run<B: Board>(machine: &mut Machine<B>, limit: Option<u64>, horizon: u64, quantum: u64) -> StopReason {
    let retired = AtomicU64::new(machine.instructions());
    let ending = AtomicBool::new(false);
    let controls: Vec<Arc<HartControl>> = machine.harts.iter().map(|h| h.control().clone()).collect();
    let start = machine.time();
    if start >= horizon {
        return StopReason::Horizon;
    }
    let Machine { harts, board, stop, driver_queue, pacer, .. } = machine;
    let hart_count = harts.len();
    // Rounds: no more threads than host cores, each running its harts in
    // turn within a round (a hart per thread as long as there are cores
    // enough); more threads would only take turns on the cores, paying
    // a wake-up each round. Free-running harts each need a thread.
    let threads = if quantum == UNBOUNDED_QUANTUM { hart_count } else { round_threads(hart_count, host_cores()) };
    let shared = Shared {
        machine: MachineParts {
            runner: QuantumRunner {
                board: &*board,
                stop,
                retired: &retired,
                limit,
                ending: &ending,
                pacer: pacer.as_ref(),
            },
            controls,
        },
        rounds: Rounds::new(hart_count, threads, start, start.saturating_add(quantum).min(horizon)),
        outcome: Mutex::new(None),
        turn: Condvar::new(),
        quantum,
        horizon,
    };
    let parked = Mutex::new(vec![None; hart_count]);
    let mut groups: Vec<Vec<(usize, &mut Hart)>> = (0..threads).map(|_| Vec::new()).collect();
    for (index, hart) in harts.iter_mut().enumerate() {
        groups[shared.rounds.thread_of(index)].push((index, hart));
    }
    // This thread serves the work the hart threads queue for it until the
    // last of them leaves.
    let driver_queue = &**driver_queue;
    let running = AtomicUsize::new(threads);
    driver_queue.begin();
    std::thread::scope(|scope| {
        for (thread, group) in groups.into_iter().enumerate() {
            let shared = &shared;
            let parked = &parked;
            let running = &running;
            std::thread::Builder::new()
                .name(format!("harts{thread}"))
                .spawn_scoped(scope, move || {
                    /// Tells the driving thread when the last hart thread
                    /// leaves, even by a panic.
                    struct Leaving<'a>(&'a AtomicUsize, &'a DriverQueue);
                    impl Drop for Leaving<'_> {
                        fn drop(&mut self) {
                            if self.0.fetch_sub(1, Ordering::AcqRel) == 1 {
                                self.1.finish();
                            }
                        }
                    }
                    let _leaving = Leaving(running, driver_queue);
                    if shared.quantum == UNBOUNDED_QUANTUM {
                        for (index, hart) in group {
                            shared.run_free(hart, index, parked);
                        }
                    } else {
                        shared.run_rounds(thread, group);
                    }
                })
                .expect("spawning a hart thread");
        }
        driver_queue.serve();
    });
    let outcome = shared.outcome.into_inner().unwrap_or_else(|e| e.into_inner());
    // Every thread returns only once an outcome is recorded.
    outcome.unwrap_or(StopReason::Stopped)
}

impl<B: Board> Shared<'_, B> {
    fn lock(&self) -> MutexGuard<'_, Option<StopReason>> {
        self.outcome.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records why the run ends (the first reason wins) in `outcome`, held
    /// locked, and makes every thread leave: running harts through their
    /// exit request, waiting threads through [`QuantumRunner::ending`] and the
    /// condition variable.
    fn end(&self, outcome: &mut Option<StopReason>, reason: StopReason) {
        outcome.get_or_insert(reason);
        self.machine.runner.ending.store(true, Ordering::Release);
        for control in &self.machine.controls {
            control.request_exit();
        }
        self.turn.notify_all();
    }

    /// A thread running `group`'s harts with a bounded quantum: each round
    /// it runs the group's harts that take part one after the other, then
    /// arrives at the round's end for all of them.
    fn run_rounds(&self, thread: usize, mut group: Vec<(usize, &mut Hart)>) {
        let rounds = &self.rounds;
        // The first round this thread has not run.
        let mut next = 0;
        let mut spin = Spin::new();
        while let Some(round) = self.wait_for_round(thread, &group, next, &mut spin) {
            // The round cannot close before this thread arrives, below: its
            // bounds and the harts taking part hold still until then.
            let start = rounds.now.start.load(Ordering::Relaxed);
            let end = rounds.now.end.load(Ordering::Relaxed);
            let mut arrived = 0;
            for (index, hart) in &mut group {
                let index = *index;
                if rounds.awake_in[index].load(Ordering::Relaxed) != round {
                    continue;
                }
                // An asleep hart's time stood still: it idled until this round.
                if hart.state().cycle() < start {
                    hart.idle(start - hart.state().cycle());
                }
                let quantum_end = self.machine.runner.run(hart, index, end);
                match quantum_end {
                    QuantumEnd::Stop(reason) => return self.end(&mut self.lock(), reason),
                    QuantumEnd::Ended => return,
                    QuantumEnd::Reached | QuantumEnd::Asleep => {
                        let asleep = quantum_end == QuantumEnd::Asleep;
                        rounds.arrivals[index].store(Arrival { asleep, wait: WaitState::of(hart) });
                    }
                }
                arrived += 1;
            }
            next = round + 1;
            if rounds.remaining.fetch_sub(arrived, Ordering::AcqRel) == arrived {
                self.close_round(round);
            }
        }
    }

    /// Waits for a round at least `next` that some hart of `group` (the
    /// harts of thread `thread`) takes part in, and returns its number;
    /// `None` when the run ends instead. A thread waiting for the round it
    /// has just run to close spins a while first (it has a core); one whose
    /// harts all sit a round out sleeps at once.
    fn wait_for_round(&self, thread: usize, group: &[(usize, &mut Hart)], next: u64, spin: &mut Spin) -> Option<u64> {
        let rounds = &self.rounds;
        let ending = self.machine.runner.ending;
        // Whether round `round`, which must be the current one, is for us.
        let ours = |round: u64| {
            round >= next && group.iter().any(|(index, _)| rounds.awake_in[*index].load(Ordering::Relaxed) == round)
        };
        let mut spins = 0u32;
        let mut until = None;
        loop {
            if ending.load(Ordering::Acquire) {
                return None;
            }
            let round = rounds.now.closed.load(Ordering::Acquire);
            if round >= next {
                if ours(round) {
                    spin.note(false);
                    return Some(round);
                }
                break;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(SPINS_PER_CLOCK) {
                let now = Instant::now();
                if now >= *until.get_or_insert(now + spin.0) {
                    spin.note(true);
                    break;
                }
            }
            std::hint::spin_loop();
        }
        let sleeping = &rounds.sleeping[thread];
        let mut outcome = self.lock();
        let round = loop {
            if outcome.is_some() {
                break None;
            }
            // SeqCst, both: see "No wakeup is lost" on [`Rounds`].
            sleeping.store(true, Ordering::SeqCst);
            let round = rounds.now.closed.load(Ordering::SeqCst);
            if ours(round) {
                break Some(round);
            }
            outcome = self.turn.wait_timeout(outcome, STOP_POLL).unwrap_or_else(|e| e.into_inner()).0;
            if let Some(reason) = self.machine.runner.stop.reason() {
                self.end(&mut outcome, reason);
            }
        };
        sleeping.store(false, Ordering::Relaxed);
        round
    }

    /// The last hart to arrive closes round `round`: picks the harts of the
    /// next one, skipping time forward if all of them sleep until a timer,
    /// and opens it, unless the run ends.
    fn close_round(&self, round: u64) {
        let rounds = &self.rounds;
        let runner = &self.machine.runner;
        if let Some(reason) = runner.stop.reason() {
            return self.end(&mut self.lock(), reason);
        }
        if runner.limit.is_some_and(|limit| runner.retired.load(Ordering::Relaxed) >= limit) {
            return self.end(&mut self.lock(), StopReason::InstructionLimit);
        }
        let next = round + 1;
        let mut start = rounds.now.end.load(Ordering::Relaxed);
        loop {
            if start >= self.horizon {
                return self.end(&mut self.lock(), StopReason::Horizon);
            }
            let end = start.saturating_add(self.quantum).min(self.horizon);
            // An asleep hart's time is `start` when it wakes; its timer may
            // have been armed by another hart meanwhile.
            let wake =
                |index: usize, wait: &WaitState| wait.wake(runner.board, index, &self.machine.controls[index], start);
            let mut awake = 0;
            // When the first asleep hart wakes.
            let mut first = Wake::Never;
            for (index, slot) in rounds.arrivals.iter().enumerate() {
                let arrival = slot.load();
                let takes_part = !arrival.asleep || {
                    let wakes = wake(index, &arrival.wait);
                    first = first.earliest(wakes);
                    match wakes {
                        Wake::Now => true,
                        Wake::At(cycle) => cycle.saturating_sub(start) < self.quantum,
                        Wake::Never => false,
                    }
                };
                if takes_part {
                    rounds.awake_in[index].store(next, Ordering::Relaxed);
                    awake += 1;
                }
            }
            if awake > 0 {
                return self.open_round(next, start, end, awake);
            }
            // Everyone sleeps: jump to the first timer, or wait for the host.
            match first {
                Wake::Now => unreachable!("a hart that wakes now takes part in the next round"),
                Wake::At(cycle) => start = cycle,
                // Something outside may still wake them before the horizon.
                Wake::Never if self.horizon != u64::MAX => start = self.horizon,
                Wake::Never => {
                    let woken = wait_for_wakeup(runner.board, runner.stop, || {
                        rounds
                            .arrivals
                            .iter()
                            .enumerate()
                            .any(|(index, slot)| wake(index, &slot.load().wait) != Wake::Never)
                    });
                    if let Some(reason) = woken {
                        return self.end(&mut self.lock(), reason);
                    }
                }
            }
        }
    }

    /// Opens round `round`, from `start` to `end`, for the `awake` harts
    /// whose `awake_in` the closer set to it, and wakes the threads of
    /// those harts that sleep.
    fn open_round(&self, round: u64, start: u64, end: u64, awake: usize) {
        let rounds = &self.rounds;
        rounds.now.start.store(start, Ordering::Relaxed);
        rounds.now.end.store(end, Ordering::Relaxed);
        rounds.remaining.store(awake, Ordering::Relaxed);
        // Publishes all of the above; SeqCst for "No wakeup is lost" on
        // [`Rounds`], as is the load of the flags.
        rounds.now.closed.store(round, Ordering::SeqCst);
        let sleeper = rounds.awake_in.iter().enumerate().any(|(index, awake_in)| {
            awake_in.load(Ordering::Relaxed) == round && rounds.sleeping[rounds.thread_of(index)].load(Ordering::SeqCst)
        });
        if sleeper {
            let _outcome = self.lock();
            self.turn.notify_all();
        }
    }

    /// A hart's thread with the unbounded quantum: no rounds; an asleep hart
    /// parks until something wakes it.
    fn run_free(&self, hart: &mut Hart, index: usize, parked: &Mutex<Vec<Option<Parked>>>) {
        let control = hart.control().clone();
        control.set_waker(Some(std::thread::current()));
        loop {
            match self.machine.runner.run(hart, index, u64::MAX) {
                QuantumEnd::Stop(reason) => {
                    self.end(&mut self.lock(), reason);
                    break;
                }
                QuantumEnd::Ended => break,
                QuantumEnd::Reached => unreachable!("a free-running hart's quantum has no end"),
                QuantumEnd::Asleep => {
                    if let Some(reason) = self.park(hart, index, parked) {
                        self.end(&mut self.lock(), reason);
                        break;
                    }
                }
            }
        }
        control.set_waker(None);
    }

    /// Parks an asleep free-running hart until it can run again; `Some`
    /// when the run must end instead. While parked, what decides when the
    /// hart wakes (which only it changes) stays in `parked`, so whichever
    /// hart parks last can tell for certain that nothing can wake any of
    /// them.
    fn park(&self, hart: &mut Hart, index: usize, parked: &Mutex<Vec<Option<Parked>>>) -> Option<StopReason> {
        let runner = &self.machine.runner;
        let lock = || parked.lock().unwrap_or_else(|e| e.into_inner());
        let reason = loop {
            if runner.ending.load(Ordering::Acquire) {
                break None;
            }
            if let Some(reason) = runner.stop.reason() {
                break Some(reason);
            }
            let (wait, cycle) = (WaitState::of(hart), hart.state().cycle());
            let mut slots = lock();
            if wait.wake(runner.board, index, hart.control(), cycle) != Wake::Never {
                break None;
            }
            slots[index] = Some(Parked { wait, cycle });
            // Read before looking at the harts: input that arrived before it
            // closed has raised its interrupt by then.
            let input_open = runner.board.input_open();
            // Another hart may have raised a parked hart's line or armed its
            // timer since it parked: that hart will see it when it next looks.
            let all_stuck = slots.iter().zip(&self.machine.controls).enumerate().all(|(index, (slot, control))| {
                slot.is_some_and(|p| p.wait.wake(runner.board, index, control, p.cycle) == Wake::Never)
            });
            if all_stuck && !input_open {
                break Some(StopReason::Deadlock);
            }
            drop(slots);
            std::thread::park_timeout(STOP_POLL);
        };
        lock()[index] = None;
        reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_get_a_thread_per_hart_while_each_has_a_core() {
        assert_eq!(round_threads(1, 2), 1);
        assert_eq!(round_threads(2, 2), 2);
        assert_eq!(round_threads(8, 16), 8);
        assert_eq!(round_threads(16, 16), 16);
        // Oversubscribed: one core is left to the rest.
        assert_eq!(round_threads(4, 2), 1);
        assert_eq!(round_threads(3, 1), 1);
        assert_eq!(round_threads(32, 16), 15);
    }

    #[test]
    fn the_spin_halves_after_a_sleep_and_doubles_after_a_round_that_came_in_time() {
        let mut spin = Spin::new();
        assert_eq!(spin.0, SPIN);
        spin.note(true);
        assert_eq!(spin.0, SPIN / 2);
        for _ in 0..20 {
            spin.note(true);
        }
        assert_eq!(spin.0, MIN_SPIN, "never below the floor, so it can grow again");
        spin.note(false);
        assert_eq!(spin.0, MIN_SPIN * 2);
        for _ in 0..20 {
            spin.note(false);
        }
        assert_eq!(spin.0, SPIN, "never above the full spin");
    }
}
