//! Instrumentation: plugins that watch what harts execute.
//!
//! A [`Plugin`] looks at each block when a hart translates it
//! ([`Plugin::translate`]) and decides there, once per block, what it wants
//! to see while the block runs ([`Plan`]):
//!
//! - **calls** before the block and before single instructions
//!   ([`Observer::block`], [`Observer::instruction`]), and after the memory
//!   accesses of single instructions ([`Observer::memory`]), each with a tag
//!   the plugin chose (a pc, an index into its own tables);
//! - **inline counters** ([`Counter`]): a number added to a per-hart counter
//!   before the block or an instruction runs, with no call at all. Compiled
//!   code adds them itself, so a plugin that only counts keeps the JIT's
//!   speed.
//!
//! Traps and interrupts ([`Observer::trap`]), and a hart's start and stop
//! under the plugin ([`Observer::start`], [`Observer::stop`]) come without
//! asking.
//!
//! Every hart has its own [`Observer`] per plugin and its own counters, so
//! callbacks take no lock and parallel harts stay parallel; a plugin gets
//! them back when it is removed or the machine ends ([`Plugin::finish`]),
//! which is where it reports. Inside a callback a plugin reads registers,
//! CSRs and guest memory through a [`HartView`].
//!
//! Both tiers give the same events: the interpreter makes the calls, and a
//! block that asks for calls is never compiled; compiled code adds inline
//! counters at the same points the interpreter does. Events come before the
//! instruction or block they belong to, so an instruction that traps still
//! had its instruction event (as in QEMU). While plugins are installed a
//! block ends after a branch back to its own start, the interpreter takes
//! the forward branches inside a block that compiled code takes, and a
//! block compiled code left for a slow access goes on in the interpreter,
//! so that "a block ran" means the same in both tiers. Without plugins
//! nothing of this costs anything.
//!
//! Installing or removing plugins drops every translated block of the
//! machine (the plans are part of each translation); see
//! `Machine::set_plugins` in `polyhart-machine`.
//!
//! # Example
//!
//! A plugin that counts the instructions of each class inline, on a lone
//! hart running `li a0, 5; li a1, 7; add a0, a0, a1; wfi`:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use polyhart_iss::decode::Class;
//! use polyhart_iss::plugin::{BlockInfo, Counter, Finished, Observer, Plan, Plugin, Plugins, Setup};
//! use polyhart_iss::{AccessContext, Bus, BusError, Exit, Hart, HartControl, Ram, TranslationCache};
//! # struct NoDevices;
//! # impl Bus for NoDevices {
//! #     fn read(&self, _: &AccessContext, addr: u64, _: u8) -> Result<u64, BusError> { Err(BusError::Unmapped(addr)) }
//! #     fn write(&self, _: &AccessContext, addr: u64, _: u8, _: u64) -> Result<(), BusError> { Err(BusError::Unmapped(addr)) }
//! #     fn fetch(&self, _: &AccessContext, addr: u64) -> Result<u16, BusError> { Err(BusError::Unmapped(addr)) }
//! #     fn time(&self, ctx: &AccessContext) -> u64 { ctx.cycle }
//! # }
//!
//! #[derive(Default)]
//! struct ByClass {
//!     counters: Mutex<Vec<Counter>>,
//!     totals: Mutex<Vec<u64>>,
//! }
//!
//! struct Nothing;
//! impl Observer for Nothing {}
//!
//! impl Plugin for ByClass {
//!     fn name(&self) -> &str {
//!         "by-class"
//!     }
//!     fn setup(&self, setup: &mut Setup<'_>) {
//!         *self.counters.lock().unwrap() = Class::ALL.iter().map(|_| setup.counter().unwrap()).collect();
//!     }
//!     fn translate(&self, block: &BlockInfo<'_>, plan: &mut Plan<'_>) {
//!         let counters = self.counters.lock().unwrap();
//!         for inst in block.instructions() {
//!             plan.count_instruction(inst.index(), counters[inst.class().index()], 1);
//!         }
//!     }
//!     fn observer(&self, _hart: u64) -> Box<dyn Observer> {
//!         Box::new(Nothing)
//!     }
//!     fn finish(&self, harts: Vec<Finished>) {
//!         let counters = self.counters.lock().unwrap();
//!         *self.totals.lock().unwrap() = counters.iter().map(|&c| harts.iter().map(|h| h.counter(c)).sum()).collect();
//!     }
//! }
//!
//! let base = 0x8000_0000;
//! let ram = Arc::new(Ram::zeroed(base, 64 * 1024).unwrap());
//! let program: [u32; 4] = [0x0050_0513, 0x0070_0593, 0x00b5_0533, 0x1050_0073];
//! let bytes: Vec<u8> = program.iter().flat_map(|word| word.to_le_bytes()).collect();
//! assert!(ram.write_bytes(0, &bytes));
//! let control = Arc::new(HartControl::new());
//! let mut hart = Hart::new(0, ram, Arc::new(NoDevices), Arc::new(TranslationCache::new()), control);
//! hart.state_mut().pc = base;
//!
//! let plugin = Arc::new(ByClass::default());
//! let plugins = Plugins::new(vec![plugin.clone()]);
//! hart.set_plugins(Some(plugins.clone()));
//! assert_eq!(hart.run(1000), Exit::WaitingForInterrupt);
//! plugins.finish(hart.set_plugins(None).into_iter().collect());
//!
//! let totals = plugin.totals.lock().unwrap();
//! assert_eq!(totals[Class::Alu.index()], 3);
//! assert_eq!(totals[Class::System.index()], 1);
//! ```

use std::any::Any;
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::cpu::Cpu;
use crate::decode::{self, Class, Disassembly, Inst, MemoryKind, Op};
use crate::env::Env;
use crate::privilege::Privilege;
use crate::trap::Cause;

pub(crate) mod hooks;

/// Inline counters a machine's plugins may hold, per hart: each hart
/// reserves this many 8-byte counters (8 MiB of address space, of which
/// only the pages counters touch take memory).
pub const COUNTER_CAPACITY: usize = 1 << 20;

/// A plugin: what it instruments at translation time, and an observer per
/// hart for the events it asked for.
pub trait Plugin: Send + Sync + 'static {
    /// Its name, for reports.
    fn name(&self) -> &str;

    /// Called once when the plugin is installed, before any hart runs
    /// under it: where it allocates the counters it needs from the start.
    fn setup(&self, _setup: &mut Setup<'_>) {}

    /// Called for each block a hart translates, on that hart's thread,
    /// before the block first runs: what the plugin wants to see while it
    /// runs. Blocks are shared by all harts of a machine, so what is
    /// planned here holds for every hart that runs the block.
    fn translate(&self, block: &BlockInfo<'_>, plan: &mut Plan<'_>);

    /// The observer of hart `hart`'s events (its `mhartid`).
    fn observer(&self, hart: u64) -> Box<dyn Observer>;

    /// The harts' observers and counters, handed back when the plugin is
    /// removed or its machine ends: where the plugin reports.
    fn finish(&self, _harts: Vec<Finished>) {}
}

/// What a plugin sees of one hart while it runs: its callbacks. Each runs on
/// the hart's own thread, with nothing shared with the other harts.
pub trait Observer: Any + Send {
    /// The hart runs under the plugin from now on (installation, or the
    /// machine's first run).
    fn start(&mut self, _hart: &HartView<'_>) {}

    /// The hart stops running under the plugin (removal, or the end).
    fn stop(&mut self, _hart: &HartView<'_>) {}

    /// Before a block the plugin asked for with [`Plan::on_block`] runs
    /// (again at each pass of a block that loops to its own start).
    fn block(&mut self, _hart: &HartView<'_>, _tag: u64) {}

    /// Before an instruction the plugin asked for with
    /// [`Plan::on_instruction`] runs.
    fn instruction(&mut self, _hart: &HartView<'_>, _tag: u64) {}

    /// After a memory access of an instruction the plugin asked for with
    /// [`Plan::on_memory`]. An access that faults makes none.
    fn memory(&mut self, _hart: &HartView<'_>, _access: &MemoryEvent, _tag: u64) {}

    /// Before the hart takes a trap: an exception or an interrupt.
    fn trap(&mut self, _hart: &HartView<'_>, _trap: &TrapEvent) {}
}

/// A per-hart counter that compiled code and the interpreter add to
/// inline ([`Plan::count_block`], [`Plan::count_instruction`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Counter(pub(crate) u32);

impl Counter {
    /// The counter with index `index` (for plugins behind a C ABI, which
    /// pass counters as numbers). One that was never handed out counts
    /// nothing and reads 0, or stands for another plugin's counter: a
    /// plugin uses the counters it took.
    pub fn from_index(index: usize) -> Counter {
        Counter(u32::try_from(index).unwrap_or(u32::MAX))
    }

    /// Its index among the machine's counters.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The counters a machine's plugins share: each takes its own, never
/// freed while the plugins stay installed.
#[derive(Debug, Default)]
pub(crate) struct CounterAllocator {
    next: AtomicU32,
}

impl CounterAllocator {
    /// A fresh counter, or `None` once [`COUNTER_CAPACITY`] are taken.
    fn take(&self) -> Option<Counter> {
        self.next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |next| {
                ((next as usize) < COUNTER_CAPACITY).then_some(next + 1)
            })
            .ok()
            .map(Counter)
    }

    /// How many were taken.
    pub(crate) fn taken(&self) -> usize {
        self.next.load(Ordering::Relaxed) as usize
    }
}

/// What [`Plugin::setup`] may do: take counters.
#[derive(Debug)]
pub struct Setup<'a> {
    pub(crate) counters: &'a CounterAllocator,
}

impl Setup<'_> {
    /// A fresh counter, zero on every hart; `None` once the machine's
    /// [`COUNTER_CAPACITY`] are taken.
    pub fn counter(&mut self) -> Option<Counter> {
        self.counters.take()
    }
}

/// A block as a plugin sees it at translation: where the translating hart
/// found it, and its instructions.
#[derive(Debug)]
pub struct BlockInfo<'a> {
    pub(crate) pc: u64,
    pub(crate) physical: u64,
    pub(crate) insts: &'a [Inst],
    pub(crate) code: &'a [u8],
}

impl<'a> BlockInfo<'a> {
    /// The virtual address the translating hart fetched it from (other
    /// harts may run it at another).
    pub fn pc(&self) -> u64 {
        self.pc
    }

    /// The physical address of its first byte: what identifies it.
    pub fn physical(&self) -> u64 {
        self.physical
    }

    /// How many instructions it holds.
    pub fn len(&self) -> usize {
        self.insts.len()
    }

    /// Whether it holds none (never: a block has at least one).
    pub fn is_empty(&self) -> bool {
        self.insts.is_empty()
    }

    /// Its code's size in bytes.
    pub fn size(&self) -> u64 {
        self.insts.last().map_or(0, |inst| u64::from(inst.offset) + u64::from(inst.len))
    }

    /// Instruction `index`.
    pub fn instruction(&self, index: usize) -> InstructionInfo<'a> {
        let inst = &self.insts[index];
        let start = usize::from(inst.offset);
        let bytes = self.code.get(start..start + usize::from(inst.len)).unwrap_or(&[]);
        let raw = bytes.iter().rev().fold(0u32, |raw, &byte| raw << 8 | u32::from(byte));
        InstructionInfo {
            index,
            pc: self.pc.wrapping_add(u64::from(inst.offset)),
            physical: self.physical.wrapping_add(u64::from(inst.offset)),
            raw,
            inst: decode::decode(raw),
            bytes,
        }
    }

    /// Its instructions, in order.
    pub fn instructions(&self) -> impl Iterator<Item = InstructionInfo<'a>> + '_ {
        (0..self.insts.len()).map(|index| self.instruction(index))
    }
}

/// One instruction of a block at translation.
#[derive(Copy, Clone, Debug)]
pub struct InstructionInfo<'a> {
    index: usize,
    pc: u64,
    physical: u64,
    raw: u32,
    inst: Inst,
    bytes: &'a [u8],
}

impl InstructionInfo<'_> {
    /// Its place in the block (what [`Plan`] takes).
    pub fn index(&self) -> usize {
        self.index
    }

    /// Its virtual address, as the translating hart fetched it.
    pub fn pc(&self) -> u64 {
        self.pc
    }

    /// Its physical address, as the translating hart fetched it (the
    /// first half's, for a 32-bit instruction across two pages).
    pub fn physical(&self) -> u64 {
        self.physical
    }

    /// Its encoding: 16 or 32 bits.
    pub fn raw(&self) -> u32 {
        self.raw
    }

    /// Its bytes in memory order.
    pub fn bytes(&self) -> &[u8] {
        self.bytes
    }

    /// Its length in bytes: 2 or 4.
    pub fn len(&self) -> u8 {
        self.inst.len
    }

    /// Whether it has no bytes (never).
    pub fn is_empty(&self) -> bool {
        self.inst.len == 0
    }

    /// Its decoded form (a compressed instruction as the 32-bit one it
    /// stands for; `rd` as encoded).
    pub fn inst(&self) -> Inst {
        self.inst
    }

    /// Its operation.
    pub fn op(&self) -> Op {
        self.inst.op
    }

    /// What kind of work it does.
    pub fn class(&self) -> Class {
        self.inst.op.class()
    }

    /// The memory access it makes, if any.
    pub fn memory(&self) -> Option<decode::MemoryOp> {
        self.inst.op.memory()
    }

    /// Its disassembly, as objdump writes it.
    pub fn disassembly(&self) -> String {
        Disassembly::new(self.inst, self.pc).to_string()
    }
}

/// What a plugin asks for while a block runs, made at translation
/// ([`Plugin::translate`]); indices are instructions' places in the block.
#[derive(Debug)]
pub struct Plan<'a> {
    pub(crate) plugin: u16,
    pub(crate) hooks: &'a mut hooks::Hooks,
    pub(crate) counters: &'a CounterAllocator,
}

impl Plan<'_> {
    /// Calls [`Observer::block`] with `tag` before each run of the block.
    pub fn on_block(&mut self, tag: u64) {
        self.hooks.block.calls.push(hooks::Call { plugin: self.plugin, tag });
    }

    /// Calls [`Observer::instruction`] with `tag` before instruction
    /// `index` runs.
    pub fn on_instruction(&mut self, index: usize, tag: u64) {
        if let Some(at) = self.hooks.insts.get_mut(index) {
            at.calls.push(hooks::Call { plugin: self.plugin, tag });
        }
    }

    /// Calls [`Observer::memory`] with `tag` after each memory access of
    /// instruction `index` (an instruction without one makes no call).
    pub fn on_memory(&mut self, index: usize, tag: u64) {
        if let Some(at) = self.hooks.insts.get_mut(index) {
            at.memory.push(hooks::Call { plugin: self.plugin, tag });
        }
    }

    /// Adds `amount` to the hart's `counter` before each run of the block.
    /// A counter the machine never handed out is ignored.
    pub fn count_block(&mut self, counter: Counter, amount: u64) {
        if self.taken(counter) {
            self.hooks.block.counts.push(hooks::Count { counter: counter.0, amount });
        }
    }

    /// Adds `amount` to the hart's `counter` before instruction `index`
    /// runs. A counter the machine never handed out is ignored.
    pub fn count_instruction(&mut self, index: usize, counter: Counter, amount: u64) {
        if self.taken(counter)
            && let Some(at) = self.hooks.insts.get_mut(index)
        {
            at.counts.push(hooks::Count { counter: counter.0, amount });
        }
    }

    /// Whether `counter` was handed out: compiled code adds to the counters
    /// without a bounds check, so a plan names no other.
    fn taken(&self, counter: Counter) -> bool {
        counter.index() < self.counters.taken()
    }

    /// A fresh counter (see [`Setup::counter`]).
    pub fn counter(&mut self) -> Option<Counter> {
        self.counters.take()
    }
}

/// A memory access an instruction made (see [`Observer::memory`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MemoryEvent {
    /// The virtual address.
    pub vaddr: u64,
    /// The physical address (of the first byte).
    pub paddr: u64,
    /// Bytes accessed.
    pub size: u8,
    /// The value loaded, or stored (an AMO's: the value memory held before;
    /// a failed `sc` makes no access).
    pub value: u64,
    /// What it did.
    pub kind: MemoryKind,
    /// Where it went.
    pub target: Target,
}

/// Where a memory access went.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The machine's RAM.
    Ram,
    /// A device (or anything else on the bus).
    Device,
}

/// A trap a hart takes (see [`Observer::trap`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TrapEvent {
    /// The exception or interrupt.
    pub cause: Cause,
    /// The trap value (`mtval`/`stval`).
    pub tval: u64,
    /// Where it was raised: the instruction that raised the exception, or
    /// the next one to run for an interrupt.
    pub pc: u64,
}

/// A hart as a callback sees it: registers, CSRs and memory, read only.
#[derive(Copy, Clone)]
pub struct HartView<'a> {
    pub(crate) cpu: &'a Cpu,
    pub(crate) env: &'a Env,
    pub(crate) pc: u64,
    pub(crate) retired: u64,
    /// Cycles the callbacks added ([`HartView::add_cycles`]), charged to
    /// the hart once they return.
    pub(crate) added: &'a Cell<u64>,
}

impl std::fmt::Debug for HartView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HartView").field("hart", &self.hart_id()).field("pc", &format_args!("{:#x}", self.pc)).finish()
    }
}

impl HartView<'_> {
    /// The hart's `mhartid`.
    pub fn hart_id(&self) -> u64 {
        self.cpu.arch.csr.mhartid
    }

    /// The pc of the event: the instruction or block about to run, the
    /// instruction that accessed memory, or where a trap was raised.
    pub fn pc(&self) -> u64 {
        self.pc
    }

    /// Integer register `r` (0 to 31). Before an instruction: the values it
    /// will read; after an access: those its instruction left.
    pub fn x(&self, r: u8) -> u64 {
        self.cpu.arch.reg(r)
    }

    /// Floating-point register `r` (0 to 31), all 64 bits.
    pub fn f(&self, r: u8) -> u64 {
        self.cpu.arch.f[usize::from(r & 31)]
    }

    /// CSR `number` as a debugger reads it; `None` for one the hart lacks.
    pub fn csr(&self, number: u16) -> Option<u64> {
        crate::zicsr::debug_read(self.cpu, self.env, number)
    }

    /// The privilege the hart runs at.
    pub fn privilege(&self) -> Privilege {
        self.cpu.arch.privilege
    }

    /// Instructions the hart retired before the event.
    pub fn retired(&self) -> u64 {
        self.retired
    }

    /// The hart's local time in cycles before the event (see
    /// [`crate::HartState::cycle`]).
    pub fn cycle(&self) -> u64 {
        self.retired + self.cpu.arch.idle_cycles + self.added.get()
    }

    /// Adds `cycles` to the hart's local time, beyond the one cycle every
    /// instruction takes: the stalls a timing model estimates. `mcycle`,
    /// the board's `time` and a cosimulation's clock follow, and the
    /// runners end the hart's quantum and meet its timer deadlines on this
    /// time, to the instruction.
    pub fn add_cycles(&self, cycles: u64) {
        self.added.set(self.added.get().saturating_add(cycles));
    }

    /// The physical address virtual `vaddr` maps to for the hart's loads
    /// now, changing nothing; `None` where nothing is mapped.
    pub fn translate(&self, vaddr: u64) -> Option<u64> {
        let state = &self.cpu.arch;
        crate::debug::translate(&self.env.ram, state.data_privilege(), state.csr.satp, vaddr)
    }

    /// Reads guest RAM at virtual address `vaddr` through the hart's
    /// current translation, without side effects: false (and `buf`
    /// partly filled) where an address is unmapped or not RAM.
    pub fn read_memory(&self, vaddr: u64, buf: &mut [u8]) -> bool {
        let mut done = 0;
        while done < buf.len() {
            let at = vaddr.wrapping_add(done as u64);
            let in_page = (crate::memory::PAGE_SIZE - (at & (crate::memory::PAGE_SIZE - 1))) as usize;
            let chunk = in_page.min(buf.len() - done);
            let Some(physical) = self.translate(at) else { return false };
            if !self.read_physical(physical, &mut buf[done..done + chunk]) {
                return false;
            }
            done += chunk;
        }
        true
    }

    /// Reads guest RAM at physical address `paddr`: false where it is not RAM.
    pub fn read_physical(&self, paddr: u64, buf: &mut [u8]) -> bool {
        let ram = &self.env.ram;
        ram.offset(paddr, buf.len() as u64).is_some_and(|offset| ram.read_bytes(offset, buf))
    }
}

/// One hart's observer and counters, handed back to a plugin at the end
/// ([`Plugin::finish`]).
pub struct Finished {
    /// The hart's `mhartid`.
    pub hart: u64,
    /// The observer [`Plugin::observer`] made for it.
    pub observer: Box<dyn Observer>,
    counters: Arc<[u64]>,
}

impl std::fmt::Debug for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finished").field("hart", &self.hart).finish_non_exhaustive()
    }
}

impl Finished {
    /// What the hart's `counter` holds.
    pub fn counter(&self, counter: Counter) -> u64 {
        self.counters.get(counter.index()).copied().unwrap_or(0)
    }

    /// The observer as the plugin's own type, if it is one.
    pub fn observer<T: Observer>(&self) -> Option<&T> {
        (self.observer.as_ref() as &dyn Any).downcast_ref::<T>()
    }
}

/// The plugins installed on a machine: shared by its harts, and consulted
/// by every translation.
pub struct Plugins {
    list: Vec<Arc<dyn Plugin>>,
    counters: CounterAllocator,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.list.iter().map(|plugin| plugin.name()).collect();
        f.debug_struct("Plugins").field("list", &names).finish()
    }
}

impl Plugins {
    /// Installs `list` (at most 65536 plugins), calling each one's
    /// [`Plugin::setup`].
    pub fn new(list: Vec<Arc<dyn Plugin>>) -> Arc<Plugins> {
        let counters = CounterAllocator::default();
        for plugin in &list {
            plugin.setup(&mut Setup { counters: &counters });
        }
        Arc::new(Plugins { list, counters })
    }

    /// The installed plugins, in order.
    pub fn list(&self) -> &[Arc<dyn Plugin>] {
        &self.list
    }

    /// Each plugin's plan for the block of `insts` (decoded from `code`)
    /// found at `pc`, physical `physical`.
    pub(crate) fn instrument(&self, pc: u64, physical: u64, insts: &[Inst], code: &[u8]) -> Box<hooks::Hooks> {
        let mut hooks = Box::new(hooks::Hooks::new(insts));
        let info = BlockInfo { pc, physical, insts, code };
        for (index, plugin) in self.list.iter().enumerate() {
            let mut plan = Plan { plugin: index as u16, hooks: &mut hooks, counters: &self.counters };
            plugin.translate(&info, &mut plan);
        }
        hooks.calls = hooks.block.has_calls() || hooks.insts.iter().any(hooks::At::has_calls);
        hooks
    }

    /// Hart `hart`'s side: an observer per plugin, and zeroed counters.
    pub(crate) fn attach(self: &Arc<Plugins>, hart: u64) -> HartPlugins {
        HartPlugins {
            hart,
            plugins: self.clone(),
            observers: self.list.iter().map(|plugin| plugin.observer(hart)).collect(),
            counters: vec![0; COUNTER_CAPACITY].into_boxed_slice(),
            added: Cell::new(0),
            cycle_stop: u64::MAX,
        }
    }

    /// Hands the harts' observers and counters back to the plugins
    /// ([`Plugin::finish`]), each plugin its own; parts of other machines'
    /// plugins are left out.
    pub fn finish(&self, harts: Vec<HartPlugins>) {
        let taken = self.counters.taken();
        // Each hart's counters in use, shared by its plugins' reports.
        let mut harts: Vec<(HartPlugins, Arc<[u64]>)> = harts
            .into_iter()
            .filter(|part| std::ptr::eq(Arc::as_ptr(&part.plugins), self))
            .map(|part| {
                let counters = Arc::from(&part.counters[..taken]);
                (part, counters)
            })
            .collect();
        for (index, plugin) in self.list.iter().enumerate().rev() {
            let finished = harts
                .iter_mut()
                .filter_map(|(part, counters)| {
                    (part.observers.len() > index).then(|| Finished {
                        hart: part.hart,
                        observer: part.observers.pop().expect("one observer per plugin"),
                        counters: counters.clone(),
                    })
                })
                .collect();
            plugin.finish(finished);
        }
    }
}

/// One hart's side of a machine's plugins: an observer per plugin, and the
/// hart's inline counters.
pub struct HartPlugins {
    hart: u64,
    plugins: Arc<Plugins>,
    observers: Vec<Box<dyn Observer>>,
    /// Indexed by [`Counter`]; compiled code adds to them in place.
    counters: Box<[u64]>,
    /// Cycles the running callbacks added.
    added: Cell<u64>,
    /// Where the current run stops in local time (see `Hart::run`): the
    /// interpreter leaves a block there, as callbacks may add cycles.
    pub(crate) cycle_stop: u64,
}

impl std::fmt::Debug for HartPlugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HartPlugins").field("hart", &self.hart).field("plugins", &self.plugins).finish()
    }
}

impl HartPlugins {
    /// Where compiled code finds the counters.
    pub(crate) fn counters_address(&mut self) -> usize {
        self.counters.as_mut_ptr() as usize
    }

    /// What the hart's `counter` holds now.
    pub fn counter(&self, counter: Counter) -> u64 {
        self.counters.get(counter.index()).copied().unwrap_or(0)
    }

    #[inline(always)]
    fn count(&mut self, counts: &[hooks::Count]) {
        for count in counts {
            if let Some(value) = self.counters.get_mut(count.counter as usize) {
                *value = value.wrapping_add(count.amount);
            }
        }
    }

    /// Before the point `at` at `pc`, the block's start (`block`) or an
    /// instruction: its counts and calls.
    #[inline(always)]
    pub(crate) fn before(&mut self, cpu: &mut Cpu, env: &Env, at: &hooks::At, pc: u64, block: bool) {
        self.count(&at.counts);
        if at.calls.is_empty() {
            return;
        }
        let view = HartView { cpu, env, pc, retired: cpu.arch.retired, added: &self.added };
        for call in &at.calls {
            if let Some(observer) = self.observers.get_mut(usize::from(call.plugin)) {
                if block {
                    observer.block(&view, call.tag);
                } else {
                    observer.instruction(&view, call.tag);
                }
            }
        }
        self.charge(cpu);
    }

    /// After the memory access `event` of the instruction at `pc`.
    pub(crate) fn accessed(&mut self, cpu: &mut Cpu, env: &Env, at: &hooks::At, pc: u64, event: &MemoryEvent) {
        let view = HartView { cpu, env, pc, retired: cpu.arch.retired, added: &self.added };
        for call in &at.memory {
            if let Some(observer) = self.observers.get_mut(usize::from(call.plugin)) {
                observer.memory(&view, event, call.tag);
            }
        }
        self.charge(cpu);
    }

    /// Before the hart takes a trap.
    pub(crate) fn trap(&mut self, cpu: &mut Cpu, env: &Env, cause: Cause, tval: u64, pc: u64) {
        let view = HartView { cpu, env, pc, retired: cpu.arch.retired, added: &self.added };
        let event = TrapEvent { cause, tval, pc };
        for observer in &mut self.observers {
            observer.trap(&view, &event);
        }
        self.charge(cpu);
    }

    /// The hart starts (`true`) or stops running under the plugins.
    pub(crate) fn run_state(&mut self, cpu: &mut Cpu, env: &Env, start: bool) {
        let view = HartView { cpu, env, pc: cpu.arch.pc, retired: cpu.arch.retired, added: &self.added };
        for observer in &mut self.observers {
            if start { observer.start(&view) } else { observer.stop(&view) }
        }
        self.charge(cpu);
    }

    /// Charges the cycles the callbacks added to the hart's local time;
    /// once that reaches the end of the run, the dispatcher hands back to
    /// `Hart::run` (which ends the run) before the next block.
    #[inline(always)]
    fn charge(&mut self, cpu: &mut Cpu) {
        let added = self.added.take();
        if added > 0 {
            cpu.arch.idle_cycles = cpu.arch.idle_cycles.saturating_add(added);
            if self.cycle_reached(cpu, cpu.arch.retired) {
                cpu.recheck = true;
            }
        }
    }

    /// Whether the hart's local time has reached where the current run
    /// stops, with `retired` instructions retired.
    #[inline(always)]
    pub(crate) fn cycle_reached(&self, cpu: &Cpu, retired: u64) -> bool {
        retired + cpu.arch.idle_cycles >= self.cycle_stop
    }
}
