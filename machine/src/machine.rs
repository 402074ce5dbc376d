//! The machine: harts, the bus they reach devices through, the translation
//! cache they share, and the board that put it together.

use std::sync::Arc;

/// How the JIT of [`Engine::Jit`] works.
pub use polyhart_iss::JitConfig;
use polyhart_iss::debug::{Breakpoints, Watchpoint, Watchpoints};
use polyhart_iss::jit::JitError;
use polyhart_iss::plugin::{Plugin, Plugins};
use polyhart_iss::{Exit, Hart, HartControl, HartStats, Jit, JitStats, TranslationCache};

use crate::boards::Board;
use crate::boards::virt::Virt;
use crate::bus::SystemBus;
use crate::driver_queue::DriverQueue;
use crate::memory::Dma;
use crate::runner::{self, IdleTime, Pacer, Scheduling, StopReason, StopSignal, UNBOUNDED_QUANTUM};
use vm_memory::GuestMemoryMmap;

/// Which tier runs guest code. The default is the JIT as
/// [`JitConfig::default`] configures it (compiled on the JIT's own thread).
///
/// ```
/// use polyhart_machine::{Engine, JitConfig};
///
/// // Compile blocks at their 10th run, and check each against the interpreter.
/// let engine = Engine::Jit(JitConfig::new(10).lockstep(true));
/// # assert_ne!(engine, Engine::Interpreter);
/// # assert_eq!(Engine::default(), Engine::Jit(JitConfig::default()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The interpreter only.
    Interpreter,
    /// The interpreter for cold code; blocks it has run
    /// [`JitConfig::threshold`] times are compiled to host code with
    /// Cranelift (0: every block, at once), with the debugging aids the
    /// configuration asks for.
    Jit(JitConfig),
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::Jit(JitConfig::default())
    }
}

/// How a machine's harts run, whatever its board: the settings a board
/// passes on from its configuration to [`Machine::new`].
#[derive(Debug)]
pub(crate) struct Settings {
    /// The quantum in cycles ([`UNBOUNDED_QUANTUM`]: none).
    pub(crate) quantum: u64,
    pub(crate) scheduling: Scheduling,
    pub(crate) engine: Engine,
    /// The harts' clock in Hz.
    pub(crate) cpu_frequency: u64,
    pub(crate) driver_queue: Arc<DriverQueue>,
    /// The translation cache the harts will share (devices' DMA drops
    /// translations from it, so the board makes it first).
    pub(crate) cache: Arc<TranslationCache>,
    /// How a waiting hart's time passes.
    pub(crate) idle: IdleTime,
    /// Guest RAM as `vm-memory` maps it, which a snapshot's restore maps
    /// anew.
    pub(crate) ram_mapping: Arc<GuestMemoryMmap>,
}

/// A machine ready to run: harts, the system bus, the translation cache
/// they share and the board `B` whose devices sit on the bus.
///
/// The runners reach the board only through [`Board`]; what else a board
/// offers (a console UART to feed, an interrupt controller to drive) is
/// reached through [`Machine::board`].
#[derive(Debug)]
pub struct Machine<B = Virt> {
    pub(crate) harts: Vec<Hart>,
    pub(crate) board: B,
    pub(crate) bus: Arc<SystemBus>,
    pub(crate) stop: Arc<StopSignal>,
    pub(crate) cache: Arc<TranslationCache>,
    pub(crate) jit: Option<Arc<Jit>>,
    pub(crate) quantum: u64,
    pub(crate) scheduling: Scheduling,
    pub(crate) driver_queue: Arc<DriverQueue>,
    pub(crate) cpu_frequency: u64,
    /// With [`IdleTime::RealTime`]: what paces waiting harts.
    pub(crate) pacer: Option<Pacer>,
    /// The end of the deterministic round the last run stopped in, which
    /// the next run finishes first (see `runner/deterministic.rs`).
    pub(crate) round: Option<u64>,
    /// Guest RAM's mapping ([`Settings::ram_mapping`]).
    pub(crate) ram_mapping: Arc<GuestMemoryMmap>,
    /// The installed instrumentation plugins ([`Machine::set_plugins`]).
    pub(crate) plugins: Option<Arc<Plugins>>,
}

impl<B> Drop for Machine<B> {
    /// The plugins report (see [`Machine::finish_plugins`]).
    fn drop(&mut self) {
        finish_plugins(&mut self.harts, &mut self.plugins);
    }
}

/// Removes `plugins` from `harts` and hands each plugin its harts'
/// observers and counters.
fn finish_plugins(harts: &mut [Hart], plugins: &mut Option<Arc<Plugins>>) {
    if let Some(set) = plugins.take() {
        let parts = harts.iter_mut().filter_map(|hart| hart.set_plugins(None)).collect();
        set.finish(parts);
    }
}

impl<B: Board> Machine<B> {
    /// A machine of `board` with a hart per control in `controls` (hart ID =
    /// index), each starting at the board's reset vector and reaching memory
    /// through `bus`; `stop` must reach the same controls.
    pub(crate) fn new(
        board: B,
        bus: Arc<SystemBus>,
        controls: &[Arc<HartControl>],
        stop: Arc<StopSignal>,
        settings: Settings,
    ) -> Result<Machine<B>, JitError> {
        let cache = settings.cache;
        let jit = match settings.engine {
            Engine::Interpreter => None,
            Engine::Jit(config) => Some(Arc::new(Jit::with_config(config)?)),
        };
        let harts = controls
            .iter()
            .enumerate()
            .map(|(id, control)| {
                let mut hart = Hart::new(id as u64, bus.ram().clone(), bus.clone(), cache.clone(), control.clone());
                hart.state_mut().pc = board.reset_pc();
                hart.set_jit(jit.clone());
                hart
            })
            .collect();
        Ok(Machine {
            harts,
            board,
            bus,
            stop,
            cache,
            jit,
            quantum: settings.quantum.max(1),
            scheduling: settings.scheduling,
            driver_queue: settings.driver_queue,
            cpu_frequency: settings.cpu_frequency,
            // Deterministic runs never wait on the host.
            pacer: (settings.idle == IdleTime::RealTime && settings.scheduling == Scheduling::Parallel)
                .then(|| Pacer::new(settings.cpu_frequency)),
            round: None,
            ram_mapping: settings.ram_mapping,
            plugins: None,
        })
    }

    /// The harts, indexed by hart ID.
    pub fn harts(&self) -> &[Hart] {
        &self.harts
    }

    /// Mutable access to the harts, to set up or inspect state between runs.
    pub fn harts_mut(&mut self) -> &mut [Hart] {
        &mut self.harts
    }

    /// The board: its devices, to feed the console or drive interrupt
    /// sources from outside.
    pub fn board(&self) -> &B {
        &self.board
    }

    /// Per-hart counters.
    pub fn stats(&self) -> Vec<HartStats> {
        self.harts.iter().map(Hart::stats).collect()
    }

    /// Instructions retired by all harts together.
    pub fn instructions(&self) -> u64 {
        self.harts.iter().map(|h| h.state().retired).sum()
    }

    /// Resets the machine as a system reset would, after the guest asked
    /// for one ([`StopReason::Reset`]): the board's devices back to their
    /// reset state and its boot images loaded again, every translation
    /// dropped, every hart reset to the reset vector, and the stop request
    /// forgotten, so that the next run boots again. Simulated time goes on.
    pub fn reboot(&mut self) {
        self.board.reset(self.bus.ram());
        self.cache.flush();
        let reset_pc = self.board.reset_pc();
        for hart in &mut self.harts {
            hart.reset(reset_pc);
            hart.control().take_exit_request();
        }
        self.stop.clear();
        self.round = None;
    }

    /// The handle that stops this machine from another thread or a device.
    pub fn stop_signal(&self) -> &Arc<StopSignal> {
        &self.stop
    }

    /// The translation cache the harts share.
    pub fn translation_cache(&self) -> &Arc<TranslationCache> {
        &self.cache
    }

    /// The system bus.
    pub fn bus(&self) -> &Arc<SystemBus> {
        &self.bus
    }

    /// The JIT's counters, when the machine has one: the JIT's own and
    /// those of every hart, added up.
    pub fn jit_stats(&self) -> Option<JitStats> {
        let mut stats = self.jit.as_ref()?.stats();
        for hart in &self.harts {
            stats += hart.jit_stats();
        }
        Some(stats)
    }

    /// The queue of work devices hand to the thread driving the machine.
    pub fn driver_queue(&self) -> &Arc<DriverQueue> {
        &self.driver_queue
    }

    /// The harts' clock in Hz: cycles of local time per second of simulated
    /// time.
    pub fn cpu_frequency(&self) -> u64 {
        self.cpu_frequency
    }

    /// How the harts share the host.
    pub fn scheduling(&self) -> Scheduling {
        self.scheduling
    }

    /// The quantum, in cycles of simulated time ([`UNBOUNDED_QUANTUM`]: none).
    pub fn quantum(&self) -> u64 {
        self.quantum
    }

    /// The earliest local time, in cycles, of the harts: how far the whole
    /// machine has run.
    pub fn time(&self) -> u64 {
        self.harts.iter().map(|h| h.state().cycle()).min().unwrap_or(0)
    }

    /// Resets hart `index` as its reset line would ([`Hart::reset`]): it
    /// starts again at the board's reset vector, which boots it as at power
    /// on. Does nothing for a hart that does not exist.
    pub fn reset_hart(&mut self, index: usize) {
        let pc = self.board.reset_pc();
        if let Some(hart) = self.harts.get_mut(index) {
            hart.reset(pc);
        }
    }

    /// Installs instrumentation `plugins` on every hart (see
    /// [`polyhart_iss::plugin`]), after finishing any installed before
    /// ([`Machine::finish_plugins`]). Every translation goes, so that each
    /// block is translated again with the plugins' plans: install plugins
    /// before a run, not during one. An empty list installs nothing.
    pub fn set_plugins(&mut self, plugins: Vec<Arc<dyn Plugin>>) {
        self.finish_plugins();
        if plugins.is_empty() {
            return;
        }
        let set = Plugins::new(plugins);
        for hart in &mut self.harts {
            hart.set_plugins(Some(set.clone()));
        }
        self.plugins = Some(set);
    }

    /// The installed plugins.
    pub fn plugins(&self) -> Option<&Arc<Plugins>> {
        self.plugins.as_ref()
    }

    /// Removes the installed plugins and hands each its harts' observers
    /// and counters ([`polyhart_iss::plugin::Plugin::finish`]), which is
    /// where plugins report; dropping the machine does the same. Every
    /// translation goes, so that compiled code counts no more.
    pub fn finish_plugins(&mut self) {
        finish_plugins(&mut self.harts, &mut self.plugins);
    }

    /// Sets the virtual addresses where every hart stops before running the
    /// instruction there, with [`StopReason::Breakpoint`]; no guest memory
    /// is written. A set that differs from the last drops every translation,
    /// so that blocks end before the new breakpoints (see
    /// [`polyhart_iss::debug`]): set them all at once, before a run.
    pub fn set_breakpoints(&mut self, addresses: impl IntoIterator<Item = u64>) {
        let breakpoints = Breakpoints::new(addresses);
        if self.harts.first().is_some_and(|hart| *hart.breakpoints() == breakpoints) {
            return;
        }
        self.cache.flush();
        for hart in &mut self.harts {
            hart.set_breakpoints(breakpoints.clone());
        }
    }

    /// Sets where every hart stops before a load or store
    /// ([`StopReason::Watchpoint`]); while there are any, every access
    /// takes the interpreter's path (see [`polyhart_iss::debug::Watchpoints`]).
    pub fn set_watchpoints(&mut self, watchpoints: impl IntoIterator<Item = Watchpoint>) {
        let watchpoints = Watchpoints::new(watchpoints);
        for hart in &mut self.harts {
            hart.set_watchpoints(watchpoints.clone());
        }
    }

    /// The watchpoints ([`Machine::set_watchpoints`]).
    pub fn watchpoints(&self) -> Watchpoints {
        self.harts.first().map(|hart| hart.watchpoints().clone()).unwrap_or_default()
    }

    /// The breakpoints ([`Machine::set_breakpoints`]).
    pub fn breakpoints(&self) -> Breakpoints {
        self.harts.first().map(|hart| hart.breakpoints().clone()).unwrap_or_default()
    }

    /// Runs one instruction of hart `index` for a debugger while the others
    /// hold ([`Hart::step`]: breakpoints ignored, interrupts held off, a
    /// trap ends the step at its handler; a watchpoint stops it before the
    /// instruction). A hart waiting in `wfi` stays
    /// waiting. The guest may stop the machine meanwhile (its exit, say):
    /// that comes back; `None` otherwise, or when there is no such hart.
    pub fn step_hart(&mut self, index: usize) -> Option<StopReason> {
        let hart = self.harts.get_mut(index)?;
        // The last run's stop asked every hart to leave; this step is new.
        hart.control().take_exit_request();
        let reason = match hart.step() {
            Exit::TrapLoop { pc, cause, origin } => Some(StopReason::TrapLoop { hart: index, pc, cause, origin }),
            Exit::JitDivergence { pc } => Some(StopReason::JitDivergence { hart: index, pc }),
            Exit::Watchpoint { pc, hit } => Some(StopReason::Watchpoint { hart: index, pc, hit }),
            Exit::BudgetSpent | Exit::WaitingForInterrupt | Exit::ExitRequested | Exit::Breakpoint { .. } => None,
        };
        hart.control().take_exit_request();
        self.board.flush_console();
        let stop = self.stop.reason().filter(|reason| !reason.is_transient());
        self.stop.clear_sync();
        reason.or(stop)
    }

    /// Writes `bytes` into guest RAM at physical `addr` from outside the
    /// guest (a debugger, a DMA model), between runs: translated code on the
    /// pages it touches is dropped and LR reservations there are broken, as
    /// a hart's store would. False if the range is not all RAM.
    pub fn write_memory(&self, addr: u64, bytes: &[u8]) -> bool {
        self.dma().write(addr, bytes)
    }

    /// Reads guest RAM at physical `addr` into `buf`; false if the range is
    /// not all RAM.
    pub fn read_memory(&self, addr: u64, buf: &mut [u8]) -> bool {
        self.dma().read(addr, buf)
    }

    /// Guest RAM as devices reach it, with what a hart's store would also
    /// do ([`Dma`]).
    pub fn dma(&self) -> Dma {
        Dma::new(self.bus.ram().clone(), self.cache.clone())
    }

    /// Runs until the guest or someone stops the machine, or until the harts
    /// together have retired `limit` more instructions. With
    /// [`Scheduling::Deterministic`] (or one hart) the limit is exact; in
    /// parallel each hart checks it between its runs, so the harts may
    /// together pass it by up to a quantum each.
    pub fn run(&mut self, limit: Option<u64>) -> StopReason {
        self.run_until(u64::MAX, limit)
    }

    /// Runs until every hart's local time reaches `horizon` cycles
    /// ([`StopReason::Horizon`]), or for the reasons [`Machine::run`] gives,
    /// or until a hart asks to synchronise ([`StopReason::Sync`]). Rounds of
    /// the quantum are cut at the horizon; a hart asleep with nothing to wake
    /// it before the horizon idles up to it (something outside may wake it
    /// later), so within a horizon there is no deadlock. Harts that ran past
    /// the horizon (an instruction never stops halfway, and a device may add
    /// latency) keep their local time.
    pub fn run_until(&mut self, horizon: u64, limit: Option<u64>) -> StopReason {
        let limit = limit.map(|n| self.instructions().saturating_add(n));
        let parallel =
            self.scheduling == Scheduling::Parallel && (self.harts.len() > 1 || self.quantum == UNBOUNDED_QUANTUM);
        let bounded = horizon != u64::MAX;
        // Within a horizon an unbounded quantum is one round to it.
        let quantum = if bounded && self.quantum == UNBOUNDED_QUANTUM {
            horizon.saturating_sub(self.time()).max(1)
        } else {
            self.quantum
        };
        let reason = if parallel {
            runner::parallel::run(self, limit, horizon, quantum)
        } else {
            self.driver_queue.begin();
            let reason = runner::deterministic::run(self, limit, horizon);
            self.driver_queue.end();
            reason
        };
        if reason == StopReason::Horizon {
            for hart in &mut self.harts {
                let lag = horizon.saturating_sub(hart.state().cycle());
                hart.idle(lag);
            }
        }
        self.stop.clear_sync();
        self.board.flush_console();
        reason
    }
}
