//! The parallel runner: one host thread per hart.
//!
//! With a bounded quantum, harts run in rounds of `quantum` cycles of
//! simulated time, as in the deterministic runner, but at the same time on
//! their own threads: each runs its slice of the round, then waits at the
//! round's end until every hart taking part has arrived, so no hart is ever
//! more than one quantum ahead of another. The last to arrive closes the
//! round: it decides which harts take part in the next one, skips simulated
//! time forward when all of them wait for a timer, and detects the end of
//! the run.
//!
//! A hart asleep in `wfi` (nothing pending, no timer armed) does not take
//! part in rounds: its thread blocks on a condition variable, burning no host
//! core, and the hart's local time catches up with the round it is woken in.
//! The round's closer wakes it when an interrupt it enables becomes pending
//! (an IPI, an external interrupt) or its timer is armed, so it sees the
//! event at the next round boundary, at most one quantum late, exactly as in
//! the deterministic runner.
//!
//! With the unbounded quantum ([`crate::runner::UNBOUNDED_QUANTUM`]) harts
//! run free, like QEMU's MTTCG: no rounds, no bound on how far one hart's
//! local time runs ahead of another's. A hart waiting for its timer skips to
//! it at once; an asleep one parks its thread until an interrupt line or an
//! exit request unparks it ([`HartControl::set_waker`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use polyhart_iss::{Hart, HartControl};

use crate::runner::{Machine, Slice, Slices, StopReason, UNBOUNDED_QUANTUM, wait_for_wakeup, wakeable};

/// How long a blocked thread waits before looking at the stop signal
/// itself; the usual wakeups are notifications.
const STOP_POLL: Duration = Duration::from_millis(10);

/// What a hart's thread leaves for the round's closer when it arrives.
#[derive(Copy, Clone, Debug, Default)]
struct Arrival {
    /// The hart is asleep (see [`Slice::Asleep`]).
    asleep: bool,
    /// Its `mip` and `mie`, which only the hart itself changes.
    mip: u64,
    mie: u64,
    /// Its local time.
    cycle: u64,
}

/// The rounds, under one lock.
#[derive(Debug)]
struct Rounds {
    /// Rounds closed so far; a waiting thread watches it change.
    closed: u64,
    /// The current round's start and end, in local cycles.
    round_start: u64,
    round_end: u64,
    /// Harts that take part in the current round.
    awake: Vec<bool>,
    /// How many of them have arrived at its end.
    arrived: usize,
    /// The latest arrival of each hart.
    arrivals: Vec<Arrival>,
    /// Why the run ends, once decided.
    outcome: Option<StopReason>,
    /// Threads asleep on [`Shared::turn`]: a round closes without waking
    /// anyone (a system call, slow on some hosts) when all of them spin.
    sleepers: usize,
}

/// The state every hart thread shares.
struct Shared<'a> {
    machine: MachineParts<'a>,
    rounds: Mutex<Rounds>,
    turn: Condvar,
    /// [`Rounds::closed`], readable without the lock: a hart that arrives
    /// early spins on it for a while before it sleeps on `turn`.
    closed: AtomicU64,
    quantum: u64,
    /// No round ends past this local time ([`Machine::run_until`]).
    horizon: u64,
}

/// The host's cores, as far as this process may use them.
fn host_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get())
}

/// How long an early arrival spins before it sleeps: long enough to cover
/// the spread of a round's arrivals on free cores, far shorter than the
/// host's wake-up latency it saves.
const SPIN: Duration = Duration::from_micros(200);

/// The parts of the machine the threads use, borrowed while its harts are
/// lent out to them.
struct MachineParts<'a> {
    slices: Slices<'a>,
    controls: Vec<Arc<HartControl>>,
    uart: &'a crate::devices::Uart<crate::devices::PlicLine>,
}

impl Machine {
    /// Runs every hart on its own thread until the machine stops.
    pub(crate) fn run_parallel(&mut self, limit: Option<u64>, horizon: u64, quantum: u64) -> StopReason {
        let retired = AtomicU64::new(self.instructions());
        let ending = AtomicBool::new(false);
        let controls: Vec<Arc<HartControl>> = self.harts.iter().map(|h| h.control().clone()).collect();
        let start = self.time();
        if start >= horizon {
            return StopReason::Horizon;
        }
        let harts = self.harts.len();
        let shared = Shared {
            machine: MachineParts {
                slices: Slices { aclint: &self.aclint, stop: &self.stop, retired: &retired, limit, ending: &ending },
                controls,
                uart: &self.uart,
            },
            rounds: Mutex::new(Rounds {
                closed: 0,
                round_start: start,
                round_end: start.saturating_add(quantum).min(horizon),
                awake: vec![true; harts],
                arrived: 0,
                arrivals: vec![Arrival::default(); harts],
                outcome: None,
                sleepers: 0,
            }),
            turn: Condvar::new(),
            closed: AtomicU64::new(0),
            quantum,
            horizon,
        };
        let parked = Mutex::new(vec![None; harts]);
        // Rounds: no more threads than host cores, each running its harts in
        // turn within a round (a hart per thread as long as there are cores
        // enough); more threads would only take turns on the cores, paying
        // a wake-up each round. Free-running harts each need a thread.
        let threads = if quantum == UNBOUNDED_QUANTUM { harts } else { harts.min(host_cores()) };
        let mut groups: Vec<Vec<(usize, &mut Hart)>> = (0..threads).map(|_| Vec::new()).collect();
        for (index, hart) in self.harts.iter_mut().enumerate() {
            groups[index % threads].push((index, hart));
        }
        // This thread does the errands the hart threads hand it until the
        // last of them leaves.
        let errands = &*self.errands;
        let running = std::sync::atomic::AtomicUsize::new(threads);
        errands.begin();
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
                        struct Leaving<'a>(&'a std::sync::atomic::AtomicUsize, &'a crate::errands::Errands);
                        impl Drop for Leaving<'_> {
                            fn drop(&mut self) {
                                if self.0.fetch_sub(1, Ordering::AcqRel) == 1 {
                                    self.1.finish();
                                }
                            }
                        }
                        let _leaving = Leaving(running, errands);
                        if shared.quantum == UNBOUNDED_QUANTUM {
                            for (index, hart) in group {
                                shared.run_free(hart, index, parked);
                            }
                        } else {
                            shared.run_rounds(group);
                        }
                    })
                    .expect("spawning a hart thread");
            }
            errands.serve();
        });
        let outcome = shared.rounds.into_inner().unwrap_or_else(|e| e.into_inner()).outcome;
        // Every thread returns only once an outcome is recorded.
        outcome.unwrap_or(StopReason::Stopped)
    }
}

impl Shared<'_> {
    fn lock(&self) -> MutexGuard<'_, Rounds> {
        self.rounds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records why the run ends (the first reason wins) and makes every
    /// thread leave: running harts through their exit request, blocked
    /// threads through the condition variable.
    fn end(&self, rounds: &mut Rounds, reason: StopReason) {
        rounds.outcome.get_or_insert(reason);
        self.machine.slices.ending.store(true, Ordering::Release);
        for control in &self.machine.controls {
            control.request_exit();
        }
        self.turn.notify_all();
    }

    /// A thread running `group`'s harts with a bounded quantum: each round
    /// it runs the group's awake harts one after the other, each arriving at
    /// the round's end on its own.
    fn run_rounds(&self, mut group: Vec<(usize, &mut Hart)>) {
        let mut done = 0;
        loop {
            // Wait for a round some hart of the group takes part in; a thread
            // that arrives early spins a while first (it has a core).
            if done > 0 {
                let until = Instant::now() + SPIN;
                while self.closed.load(Ordering::Acquire) < done
                    && !self.machine.slices.ending.load(Ordering::Acquire)
                    && Instant::now() < until
                {
                    std::hint::spin_loop();
                }
            }
            let (round_start, round_end, awake) = {
                let mut rounds = self.lock();
                loop {
                    if rounds.outcome.is_some() {
                        return;
                    }
                    if rounds.closed >= done && group.iter().any(|(index, _)| rounds.awake[*index]) {
                        let awake: Vec<bool> = group.iter().map(|(index, _)| rounds.awake[*index]).collect();
                        break (rounds.round_start, rounds.round_end, awake);
                    }
                    rounds.sleepers += 1;
                    rounds = self.turn.wait_timeout(rounds, STOP_POLL).unwrap_or_else(|e| e.into_inner()).0;
                    rounds.sleepers -= 1;
                    if let Some(reason) = self.machine.slices.stop.reason() {
                        self.end(&mut rounds, reason);
                    }
                }
            };
            // An asleep hart's time stood still: it idled until this round.
            for ((index, hart), awake) in group.iter_mut().zip(awake) {
                if !awake {
                    continue;
                }
                let index = *index;
                if hart.state.cycle() < round_start {
                    hart.idle(round_start - hart.state.cycle());
                }
                let slice = self.machine.slices.run(hart, index, round_end);
                let mut rounds = self.lock();
                match slice {
                    Slice::Stop(reason) => return self.end(&mut rounds, reason),
                    Slice::Ended => return,
                    Slice::Done | Slice::Asleep => {
                        let (mip, mie, cycle) = (hart.state.csr.mip, hart.state.csr.mie, hart.state.cycle());
                        rounds.arrivals[index] = Arrival { asleep: slice == Slice::Asleep, mip, mie, cycle };
                    }
                }
                // The round cannot close before the group's last awake hart
                // arrives, so this is the same for all of them.
                done = rounds.closed + 1;
                rounds.arrived += 1;
                if rounds.arrived == rounds.awake.iter().filter(|&&a| a).count() {
                    self.close_round(&mut rounds);
                    if rounds.sleepers > 0 {
                        self.turn.notify_all();
                    }
                }
            }
        }
    }

    /// The last hart to arrive closes the round: picks the harts of the next
    /// one, skipping time forward if all of them sleep until a timer.
    fn close_round(&self, rounds: &mut Rounds) {
        rounds.arrived = 0;
        rounds.closed += 1;
        self.closed.store(rounds.closed, Ordering::Release);
        let slices = &self.machine.slices;
        if let Some(reason) = slices.stop.reason() {
            return self.end(rounds, reason);
        }
        if slices.limit.is_some_and(|limit| slices.retired.load(Ordering::Relaxed) >= limit) {
            return self.end(rounds, StopReason::InstructionLimit);
        }
        let mut start = rounds.round_end;
        loop {
            if start >= self.horizon {
                return self.end(rounds, StopReason::Horizon);
            }
            let end = start.saturating_add(self.quantum).min(self.horizon);
            let mut any = false;
            for (index, arrival) in rounds.arrivals.iter().enumerate() {
                let control = &self.machine.controls[index];
                // An asleep hart's time is `start` when it wakes; its timer
                // may have been armed by another hart meanwhile.
                let timer = if arrival.asleep { slices.aclint.sync_timer(index, start) } else { None };
                let awake = !arrival.asleep
                    || wakeable(control, arrival.mip, arrival.mie)
                    || timer.is_some_and(|cycles| cycles < self.quantum);
                rounds.awake[index] = awake;
                any |= awake;
            }
            if any {
                rounds.round_start = start;
                rounds.round_end = end;
                return;
            }
            // Everyone sleeps: jump to the first timer, or wait for the host.
            let first_timer = (0..rounds.arrivals.len()).filter_map(|i| slices.aclint.sync_timer(i, start)).min();
            match first_timer {
                Some(cycles) => start += cycles,
                // Something outside may still wake them before the horizon.
                None if self.horizon != u64::MAX => start = self.horizon,
                None => {
                    let arrivals = &rounds.arrivals;
                    let controls = &self.machine.controls;
                    let woken = wait_for_wakeup(self.machine.uart, slices.stop, || {
                        arrivals.iter().zip(controls).any(|(a, c)| wakeable(c, a.mip, a.mie))
                    });
                    if let Some(reason) = woken {
                        return self.end(rounds, reason);
                    }
                }
            }
        }
    }

    /// A hart's thread with the unbounded quantum: no rounds; an asleep hart
    /// parks until something wakes it.
    fn run_free(&self, hart: &mut Hart, index: usize, parked: &Mutex<Vec<Option<Arrival>>>) {
        let control = hart.control().clone();
        control.set_waker(Some(std::thread::current()));
        loop {
            match self.machine.slices.run(hart, index, u64::MAX) {
                Slice::Stop(reason) => {
                    let mut rounds = self.lock();
                    self.end(&mut rounds, reason);
                    break;
                }
                Slice::Ended => break,
                Slice::Done => unreachable!("a free-running slice has no end"),
                Slice::Asleep => {
                    if let Some(reason) = self.park(hart, index, parked) {
                        let mut rounds = self.lock();
                        self.end(&mut rounds, reason);
                        break;
                    }
                }
            }
        }
        control.set_waker(None);
    }

    /// Parks an asleep free-running hart until it can run again; `Some`
    /// when the run must end instead. While parked, the hart's `mip` and
    /// `mie` (which only it changes) stay in `parked`, so whichever hart
    /// parks last can tell for certain that nothing can wake any of them.
    fn park(&self, hart: &mut Hart, index: usize, parked: &Mutex<Vec<Option<Arrival>>>) -> Option<StopReason> {
        let slices = &self.machine.slices;
        let lock = || parked.lock().unwrap_or_else(|e| e.into_inner());
        let reason = loop {
            if slices.ending.load(Ordering::Acquire) {
                break None;
            }
            if let Some(reason) = slices.stop.reason() {
                break Some(reason);
            }
            let (mip, mie) = (hart.state.csr.mip, hart.state.csr.mie);
            let mut slots = lock();
            let timer = slices.aclint.sync_timer(index, hart.state.cycle());
            if timer.is_some() || wakeable(hart.control(), mip, mie) {
                break None;
            }
            slots[index] = Some(Arrival { asleep: true, mip, mie, cycle: hart.state.cycle() });
            // Read before looking at the harts: input that arrived before it
            // closed has raised its interrupt by then.
            let input_open = self.machine.uart.input_open();
            let all_stuck = slots
                .iter()
                .zip(&self.machine.controls)
                .all(|(slot, control)| slot.is_some_and(|a| !wakeable(control, a.mip, a.mie)));
            if all_stuck && !input_open && !self.any_timer_armed(&slots) {
                break Some(StopReason::Deadlock);
            }
            drop(slots);
            std::thread::park_timeout(STOP_POLL);
        };
        lock()[index] = None;
        reason
    }

    /// Whether some parked hart's timer was armed (by another hart) since
    /// it parked: that hart will see it when it next looks.
    fn any_timer_armed(&self, slots: &[Option<Arrival>]) -> bool {
        let aclint = self.machine.slices.aclint;
        slots.iter().enumerate().any(|(index, slot)| slot.is_some_and(|a| aclint.sync_timer(index, a.cycle).is_some()))
    }
}
