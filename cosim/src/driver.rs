//! The machine as an outside simulator drives it: in quanta of simulated
//! time.
//!
//! [`Cosim::advance`] is the one call that runs guest code. It lets every
//! hart run, in parallel, until its local time reaches the outside's time
//! plus the duration asked for, and returns why it stopped and the time
//! reached. The outside's time stands still meanwhile (as SystemC's does
//! while a process runs); each hart's local time runs ahead of it, and that
//! offset is what external regions annotate their transactions with. This
//! is TLM-2.0's temporal decoupling with one quantum keeper per hart: the
//! machine's quantum bounds how far harts drift apart inside an advance,
//! [`Transaction::sync`](crate::Transaction::sync) is `need_sync()` turned
//! into a request, and the outside's `wait()` after an advance is `sync()`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use polyhart_iss::{HartControl, Interrupt};
use polyhart_machine::boards::virt::{BuildError, DeviceNode, VirtConfig};
use polyhart_machine::devices::Plic;
use polyhart_machine::driver_queue::DriverQueue;
use polyhart_machine::gdb::Debugger;
use polyhart_machine::snapshot::{Reader, Snapshot, SnapshotError, Writer};
use polyhart_machine::{Machine, StopReason, StopSignal};

use crate::region::{Link, Region, Target};
use crate::time::GlobalTime;
use crate::time::SimTime;

/// An interrupt input the outside drives.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// A source of the board's PLIC (1 to 95), except those the board's own
    /// devices drive (10 the UART's, 11 the RTC's, and those of the devices
    /// added to the board).
    Plic(u32),
    /// One of a hart's `mip` lines, driven directly, except those the board
    /// drives itself: the ACLINT the machine timer and software interrupts,
    /// the PLIC the machine and supervisor external ones. That leaves the
    /// supervisor software and timer lines.
    Hart {
        /// The hart.
        hart: usize,
        /// The line.
        irq: Interrupt,
    },
}

/// Something stamped with a time that takes effect when the machine gets
/// there.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Action {
    /// Drive a line (checked to exist).
    Line { line: Line, level: bool },
    /// Reset a hart.
    Reset(usize),
    /// End the advance that gets there ([`Interrupts::stop_at`]).
    Stop,
}

/// An action in the queue: ordered by time, then by when it was given.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct TimedAction {
    at: SimTime,
    seq: u64,
    action: Action,
}

impl Ord for TimedAction {
    fn cmp(&self, other: &TimedAction) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl PartialOrd for TimedAction {
    fn partial_cmp(&self, other: &TimedAction) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Timed actions, in time order and, at one time, in the order given.
#[derive(Debug, Default)]
struct TimedActions {
    queue: BinaryHeap<Reverse<TimedAction>>,
    next_seq: u64,
    /// The time the harts are running to, while they run.
    running_until: Option<SimTime>,
}

impl TimedActions {
    /// Queues `action` for `at`; true when the harts are running past `at`
    /// and must pause for it to be applied on time.
    fn push(&mut self, at: SimTime, action: Action) -> bool {
        self.next_seq += 1;
        self.queue.push(Reverse(TimedAction { at, seq: self.next_seq, action }));
        self.running_until.is_some_and(|until| at < until)
    }

    fn next_time(&self) -> Option<SimTime> {
        self.queue.peek().map(|Reverse(entry)| entry.at)
    }

    fn pop_due(&mut self, now: SimTime) -> Option<Action> {
        if self.next_time()? > now {
            return None;
        }
        self.queue.pop().map(|Reverse(entry)| entry.action)
    }
}

/// The handle through which the outside drives interrupt lines and hart
/// resets, from any thread, including from inside a transaction's target.
#[derive(Clone)]
pub struct Interrupts {
    plic: Arc<Plic>,
    stop: Arc<StopSignal>,
    controls: Vec<Arc<HartControl>>,
    timed_actions: Arc<Mutex<TimedActions>>,
    global_time: Arc<GlobalTime>,
}

impl fmt::Debug for Interrupts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interrupts").field("harts", &self.controls.len()).finish()
    }
}

/// A line or hart that does not exist.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// No such PLIC source.
    #[error("the PLIC has no source {0} (sources are 1 to {max})", max = polyhart_machine::devices::plic::SOURCES - 1)]
    NoSource(u32),
    /// No such hart.
    #[error("there is no hart {0}")]
    NoHart(usize),
    /// A PLIC source one of the board's devices drives: driven from
    /// outside as well, the two would overwrite each other's level.
    #[error("PLIC source {0} is driven by a device of the board")]
    BoardSource(u32),
    /// A hart line the board's ACLINT or PLIC drives.
    #[error("the board drives {0:?} itself")]
    BoardLine(Interrupt),
}

/// The hart lines the board drives: the ACLINT's and the PLIC's.
const BOARD_LINES: [Interrupt; 4] =
    [Interrupt::MachineSoftware, Interrupt::MachineTimer, Interrupt::MachineExternal, Interrupt::SupervisorExternal];

impl Interrupts {
    /// `line`, if it exists and nothing on the board drives it.
    fn check(&self, line: Line) -> Result<Line, LineError> {
        match line {
            Line::Plic(source) if source == 0 || source >= polyhart_machine::devices::plic::SOURCES => {
                Err(LineError::NoSource(source))
            }
            Line::Plic(source) if self.plic.has_device(source) => Err(LineError::BoardSource(source)),
            Line::Hart { hart, .. } if hart >= self.controls.len() => Err(LineError::NoHart(hart)),
            Line::Hart { irq, .. } if BOARD_LINES.contains(&irq) => Err(LineError::BoardLine(irq)),
            line => Ok(line),
        }
    }

    /// Drives a line [`Interrupts::check`] accepted.
    fn drive(&self, line: Line, level: bool) {
        match line {
            Line::Plic(source) => self.plic.set_level(source, level),
            Line::Hart { hart, irq } => self.controls[hart].set_interrupt(irq, level),
        }
    }

    /// Drives `line` to `level` now: the harts see it at their next block
    /// boundary (within an advance, at their own local time).
    pub fn set(&self, line: Line, level: bool) -> Result<(), LineError> {
        let line = self.check(line)?;
        self.drive(line, level);
        Ok(())
    }

    /// Drives `line` to `level` when simulated time reaches `at`: the
    /// advance that gets there runs the harts up to `at`, applies it, and
    /// goes on. A time already reached (the outside's time or earlier)
    /// applies at once. Scheduled while an advance runs (from inside a
    /// transaction's target), the harts pause at their next block boundary
    /// and the advance goes on from there as planned anew: harts whose local
    /// time is behind `at` see it on time, those already past it at once.
    pub fn set_at(&self, line: Line, level: bool, at: SimTime) -> Result<(), LineError> {
        let line = self.check(line)?;
        if at <= self.global_time.now() {
            self.drive(line, level);
            return Ok(());
        }
        self.schedule(at, Action::Line { line, level });
        Ok(())
    }

    /// Ends the advance that reaches `at` there ([`AdvanceEnd::Scheduled`]),
    /// so that whoever drives the machine can act at that time: an outside
    /// model that has just been told (by a transaction) of something it
    /// will do at `at` asks for this. A time already reached ends the next
    /// advance at once.
    pub fn stop_at(&self, at: SimTime) {
        self.schedule(at, Action::Stop);
    }

    /// Resets hart `hart` when simulated time reaches `at`, as [`Interrupts::set_at`]
    /// drives a line (a reset is applied between runs of the harts, so one
    /// for a time already reached waits for the next advance).
    pub fn reset_at(&self, hart: usize, at: SimTime) -> Result<(), LineError> {
        if hart >= self.controls.len() {
            return Err(LineError::NoHart(hart));
        }
        self.schedule(at, Action::Reset(hart));
        Ok(())
    }

    fn schedule(&self, at: SimTime, action: Action) {
        let pause = self.timed_actions.lock().unwrap_or_else(|e| e.into_inner()).push(at, action);
        if pause {
            self.stop.request_pause();
        }
    }
}

/// Why an advance ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AdvanceEnd {
    /// Every hart reached the time asked for.
    Reached,
    /// A point scheduled with [`Interrupts::stop_at`] was reached.
    Scheduled,
    /// A hart's transaction asked it to synchronise; the advance ended at
    /// that hart's local time.
    Sync {
        /// The hart.
        hart: usize,
    },
    /// The machine stopped (the guest exited, a trap loop, a stop request,
    /// a panic in a hart thread is not caught here).
    Stopped(StopReason),
}

/// What an advance did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Advance {
    /// Why it ended.
    pub end: AdvanceEnd,
    /// The simulated time reached: the outside should bring its own time
    /// here (`wait(time - now)`) before the next advance.
    pub time: SimTime,
}

/// Builds a cosimulated machine: the board's configuration plus the
/// regions the outside serves.
#[derive(Debug)]
pub struct CosimBuilder {
    config: VirtConfig,
    global_time: Arc<GlobalTime>,
    driver_queue: Arc<DriverQueue>,
    regions: Vec<Arc<Region>>,
    /// Per region: its device-tree node, if the guest is told of it.
    nodes: Vec<Option<DeviceNode>>,
}

impl CosimBuilder {
    /// Starts from a board configuration. Its quantum (in cycles) is how far
    /// harts may drift apart inside an advance; see [`CosimBuilder::quantum`].
    pub fn new(config: VirtConfig) -> CosimBuilder {
        let global_time = Arc::new(GlobalTime::new(config.cpu_frequency));
        CosimBuilder {
            config,
            global_time,
            driver_queue: Arc::new(DriverQueue::new()),
            regions: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// Sets the quantum as simulated time: no hart runs more than this ahead
    /// of another inside an advance.
    pub fn quantum(mut self, quantum: SimTime) -> CosimBuilder {
        self.config.quantum = self.global_time.cycles_in(quantum).max(1);
        self
    }

    /// Adds an external region at `[base, base + size)` served by `target`.
    /// The returned handle grants and revokes DMI and reads its counters.
    pub fn region(&mut self, name: &'static str, base: u64, size: u64, target: impl Target) -> Arc<Region> {
        self.region_dyn(name, base, size, Arc::new(target))
    }

    /// [`CosimBuilder::region`] with a shared target.
    pub fn region_dyn(&mut self, name: &'static str, base: u64, size: u64, target: Arc<dyn Target>) -> Arc<Region> {
        let region =
            Arc::new(Region::new(name, base, size, target, self.global_time.clone(), self.driver_queue.clone()));
        self.regions.push(region.clone());
        self.nodes.push(None);
        region
    }

    /// Announces the region added `index`th (0 first) in the device tree
    /// the guest is handed, as `node` says (`/soc/NAME@BASE`, its
    /// `compatible` strings, its PLIC source), so that Linux or U-Boot
    /// find it. False, changing nothing, if there is no such region.
    pub fn describe_region(&mut self, index: usize, node: DeviceNode) -> bool {
        match self.nodes.get_mut(index) {
            Some(slot) => {
                *slot = Some(node);
                true
            }
            None => false,
        }
    }

    /// Builds the machine. Fails as [`VirtConfig::build`] does, and if a
    /// region overlaps RAM, a board device or another region.
    pub fn build(self) -> Result<Cosim, BuildError> {
        let mut config = self.config.driver_queue(self.driver_queue.clone());
        for (region, node) in self.regions.iter().zip(self.nodes) {
            config = match node {
                Some(node) => {
                    config.device_with_node(region.name(), region.base(), region.size(), region.clone(), node)
                }
                None => config.device(region.name(), region.base(), region.size(), region.clone()),
            };
        }
        let snapshot = config.snapshot.clone();
        let machine = config.build()?;
        let controls: Vec<Arc<HartControl>> = machine.harts().iter().map(|h| h.control().clone()).collect();
        for region in &self.regions {
            region.link(Link { controls: controls.clone(), stop: machine.stop_signal().clone() });
        }
        let interrupts = Interrupts {
            plic: machine.board().plic().clone(),
            stop: machine.stop_signal().clone(),
            controls,
            timed_actions: Arc::new(Mutex::new(TimedActions::default())),
            global_time: self.global_time.clone(),
        };
        let mut cosim = Cosim {
            machine,
            global_time: self.global_time,
            regions: self.regions,
            interrupts,
            debugger: Debugger::default(),
        };
        // The machine was restored as it was built; the outside's time and
        // the queued actions come back here.
        if let Some(snapshot) = snapshot {
            let harts = cosim.machine.harts().len();
            let restored = snapshot.embedded(|input| restore_timed(input, harts)).map_err(BuildError::Snapshot)?;
            cosim.set_timed(restored);
        }
        Ok(cosim)
    }
}

/// A machine driven by an outside simulator.
#[derive(Debug)]
pub struct Cosim {
    machine: Machine,
    global_time: Arc<GlobalTime>,
    regions: Vec<Arc<Region>>,
    interrupts: Interrupts,
    /// GDB, while one is attached ([`Cosim::debug`]).
    debugger: Debugger,
}

impl Cosim {
    /// The outside's time: where the last advance ended.
    pub fn now(&self) -> SimTime {
        self.global_time.now()
    }

    pub(crate) fn global_time(&self) -> &Arc<GlobalTime> {
        &self.global_time
    }

    /// The quantum: how far harts may drift apart inside an advance.
    pub fn quantum(&self) -> SimTime {
        self.global_time.at_cycle(self.machine.quantum())
    }

    /// Hart `hart`'s local time (`None`: no such hart).
    pub fn local_time(&self, hart: usize) -> Option<SimTime> {
        self.machine.harts().get(hart).map(|h| self.global_time.at_cycle(h.state().cycle()))
    }

    /// How far hart `hart`'s local time is ahead of the outside's: the
    /// quantum keeper's local offset.
    pub fn local_offset(&self, hart: usize) -> Option<SimTime> {
        self.local_time(hart).map(|t| t - self.now())
    }

    /// How much simulated time hart `hart` may still run before it must
    /// synchronise: what is left of one quantum past the outside's time.
    pub fn time_to_sync(&self, hart: usize) -> Option<SimTime> {
        self.local_time(hart).map(|t| (self.now() + self.quantum()) - t)
    }

    /// Whether hart `hart` has used up its quantum past the outside's time
    /// (the quantum keeper's `need_sync()`): the outside should bring its
    /// time up before the hart runs further.
    pub fn need_sync(&self, hart: usize) -> Option<bool> {
        self.time_to_sync(hart).map(|left| left == SimTime::ZERO)
    }

    /// The handle for interrupt lines and timed resets.
    pub fn interrupts(&self) -> &Interrupts {
        &self.interrupts
    }

    /// The external regions, in the order they were added.
    pub fn regions(&self) -> &[Arc<Region>] {
        &self.regions
    }

    /// The machine, to read or set up hart state and memory between advances.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// Mutable access to the machine between advances.
    pub fn machine_mut(&mut self) -> &mut Machine {
        &mut self.machine
    }

    /// Saves the machine to a file at `path` between advances, as
    /// [`Machine::save_snapshot`] does, with the outside's time and the
    /// interrupt changes, resets and stops queued for later times.
    pub fn save_snapshot(&mut self, path: impl AsRef<std::path::Path>) -> Result<(), SnapshotError> {
        let state = self.timed_state();
        self.machine.save_snapshot_with(path, &|out| save_timed(&state, out))
    }

    /// Saves the machine to a snapshot in memory (see [`Cosim::save_snapshot`]).
    pub fn snapshot(&mut self) -> Result<Snapshot, SnapshotError> {
        let state = self.timed_state();
        self.machine.snapshot_with(&|out| save_timed(&state, out))
    }

    /// Makes this machine the one `snapshot` saved, between advances: the
    /// machine ([`Machine::restore`]), the outside's time and the queued
    /// actions. The outside simulator must bring its own state (its time
    /// included) back to the same point; the external regions' targets are
    /// its own too.
    pub fn restore(&mut self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        let harts = self.machine.harts().len();
        let mut restored = None;
        self.machine.restore_with(snapshot, &mut |input| {
            restored = restore_timed(input, harts)?;
            Ok(())
        })?;
        self.set_timed(restored);
        Ok(())
    }

    /// Sets the outside's time and the queued actions as a snapshot had
    /// them; `None` (a plain machine's snapshot): the harts' earliest time,
    /// nothing queued.
    fn set_timed(&mut self, restored: Option<(SimTime, Vec<TimedAction>)>) {
        let (now, actions) = restored.unwrap_or_else(|| (self.global_time.at_cycle(self.machine.time()), Vec::new()));
        self.global_time.set_now(now);
        let mut timed = self.interrupts.timed_actions.lock().unwrap_or_else(|e| e.into_inner());
        timed.next_seq = actions.iter().map(|entry| entry.seq).max().unwrap_or(0);
        timed.queue = actions.into_iter().map(Reverse).collect();
        timed.running_until = None;
    }

    /// The outside's time and the queued actions, in time order.
    fn timed_state(&self) -> (SimTime, Vec<TimedAction>) {
        let timed = self.interrupts.timed_actions.lock().unwrap_or_else(|e| e.into_inner());
        let mut actions: Vec<TimedAction> = timed.queue.iter().map(|Reverse(entry)| *entry).collect();
        actions.sort();
        (self.global_time.now(), actions)
    }

    /// Resets hart `hart` now (between advances): it starts again from the
    /// board's reset vector.
    pub fn reset_hart(&mut self, hart: usize) -> Result<(), LineError> {
        if hart >= self.machine.harts().len() {
            return Err(LineError::NoHart(hart));
        }
        self.machine.reset_hart(hart);
        Ok(())
    }

    /// Applies the actions due at `now`; true if one of them ends the
    /// advance.
    fn apply_due(&mut self, now: SimTime) -> bool {
        let mut stop = false;
        loop {
            let action = self.interrupts.timed_actions.lock().unwrap_or_else(|e| e.into_inner()).pop_due(now);
            match action {
                Some(Action::Line { line, level }) => self.interrupts.drive(line, level),
                Some(Action::Reset(hart)) => self.machine.reset_hart(hart),
                Some(Action::Stop) => stop = true,
                None => return stop,
            }
        }
    }

    /// Runs the machine as [`Machine::run`] does, serving GDB's stops (see
    /// [`Cosim::run_until`]).
    pub fn run(&mut self, limit: Option<u64>) -> StopReason {
        self.run_until(u64::MAX, limit)
    }

    /// Serves GDB's remote protocol on `stream` (see
    /// [`polyhart_machine::gdb`]): holds the machine until GDB continues it,
    /// then returns. From then on a breakpoint, a watchpoint or GDB's Ctrl-C
    /// stops the machine inside [`Cosim::advance`], which serves GDB there
    /// and goes on when GDB resumes the machine: simulated time, the
    /// outside's included, stands still while GDB holds the machine, and the
    /// advance ends where it would have. A kill ends the machine
    /// ([`StopReason::Stopped`]); a detach lets it run on.
    pub fn debug(&mut self, stream: TcpStream) -> std::io::Result<()> {
        self.debugger.attach(&mut self.machine, stream)
    }

    /// Runs the machine as [`Machine::run_until`] does (no outside time: the
    /// horizon is in cycles, `limit` counts instructions), serving GDB's
    /// stops when one is attached ([`Cosim::debug`]) and going on when it
    /// resumes the machine.
    pub fn run_until(&mut self, horizon: u64, limit: Option<u64>) -> StopReason {
        let first = self.machine.instructions();
        loop {
            let left = limit.map(|limit| limit.saturating_sub(self.machine.instructions() - first));
            let reason = self.machine.run_until(horizon, left);
            if let Some(reason) = self.debugger.after_run(&mut self.machine, reason) {
                return reason;
            }
        }
    }

    /// Runs every hart until its local time reaches the outside's time plus
    /// `duration`, a hart asks to synchronise, or the machine stops. Timed
    /// line changes and resets that fall inside take effect on time: the
    /// harts run up to them, they are applied, the harts go on. Transactions
    /// are served on the calling thread meanwhile. On return the outside's
    /// time ([`Cosim::now`]) is [`Advance::time`].
    pub fn advance(&mut self, duration: SimTime) -> Advance {
        let start = self.global_time.now();
        let target = start + duration;
        let mut reached = start;
        let end = loop {
            if self.apply_due(reached) {
                break AdvanceEnd::Scheduled;
            }
            let next = {
                let mut timed_actions = self.interrupts.timed_actions.lock().unwrap_or_else(|e| e.into_inner());
                let next = timed_actions.next_time().map_or(target, |at| at.min(target));
                timed_actions.running_until = Some(next);
                next
            };
            let reason = self.machine.run_until(self.global_time.cycle_at(next), None);
            self.interrupts.timed_actions.lock().unwrap_or_else(|e| e.into_inner()).running_until = None;
            // A stop GDB took held the machine, and the outside's time, in
            // this call until GDB resumed it.
            let Some(reason) = self.debugger.after_run(&mut self.machine, reason) else { continue };
            match reason {
                // Something was scheduled before `next`: plan again.
                StopReason::Paused => {}
                StopReason::Horizon => {
                    reached = next;
                    if reached >= target {
                        break AdvanceEnd::Reached;
                    }
                }
                StopReason::Sync { hart } => {
                    reached = self.local_time(hart).unwrap_or(reached).clamp(reached, target);
                    break AdvanceEnd::Sync { hart };
                }
                reason => {
                    reached = self.global_time.at_cycle(self.machine.time()).clamp(reached, target);
                    break AdvanceEnd::Stopped(reason);
                }
            }
        };
        self.global_time.set_now(reached);
        Advance { end, time: reached }
    }
}

/// Writes the outside's time and the queued actions (see [`Cosim::save_snapshot`]).
fn save_timed((now, actions): &(SimTime, Vec<TimedAction>), out: &mut Writer) {
    out.section("cosim", |out| {
        out.u64(now.0);
        out.u64(actions.len() as u64);
        for TimedAction { at, seq, action } in actions {
            out.u64(at.0);
            out.u64(*seq);
            let (kind, index, irq, level) = match *action {
                Action::Line { line: Line::Plic(source), level } => (0, u64::from(source), 0, level),
                Action::Line { line: Line::Hart { hart, irq }, level } => (1, hart as u64, irq.mask(), level),
                Action::Reset(hart) => (2, hart as u64, 0, false),
                Action::Stop => (3, 0, 0, false),
            };
            out.u8(kind);
            out.u64(index);
            out.u64(irq);
            out.bool(level);
        }
    });
}

/// Reads what [`save_timed`] wrote, for a machine of `harts` harts. A
/// plain machine's snapshot has none: the outside's time is then the
/// harts' earliest, and nothing is queued.
fn restore_timed(input: &mut Reader<'_>, harts: usize) -> Result<Option<(SimTime, Vec<TimedAction>)>, SnapshotError> {
    if input.is_empty() {
        return Ok(None);
    }
    let mut input = input.section("cosim")?;
    let now = SimTime(input.u64()?);
    let count = input.count(1 << 20)?;
    let mut actions = Vec::with_capacity(count);
    for _ in 0..count {
        let (at, seq) = (SimTime(input.u64()?), input.u64()?);
        let (kind, index, irq, level) = (input.u8()?, input.u64()?, input.u64()?, input.bool()?);
        let hart = usize::try_from(index).ok().filter(|&hart| hart < harts);
        let action = match (kind, hart) {
            (0, _) => match u32::try_from(index) {
                Ok(source) => Action::Line { line: Line::Plic(source), level },
                Err(_) => return Err(input.invalid(format_args!("PLIC source {index}"))),
            },
            (1, Some(hart)) => match Interrupt::BY_PRIORITY.into_iter().find(|i| i.mask() == irq) {
                Some(irq) => Action::Line { line: Line::Hart { hart, irq }, level },
                None => return Err(input.invalid(format_args!("interrupt {irq}"))),
            },
            (2, Some(hart)) => Action::Reset(hart),
            (3, _) => Action::Stop,
            _ => return Err(input.invalid(format_args!("timed action {kind} for hart {index}"))),
        };
        actions.push(TimedAction { at, seq, action });
    }
    input.finish()?;
    Ok(Some((now, actions)))
}
