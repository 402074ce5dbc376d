//! The JIT tier: Cranelift compiles hot blocks to host code.
//!
//! A block the interpreter has run `threshold` times is compiled once (by
//! the hart that finds it hot, or on the JIT's own thread) into a function
//! of the hart's state, whose `Frame` gives it the rest: environment,
//! run limit (the end of the run's `SLICE`), RAM. Inside
//! it the guest registers the block uses live in Cranelift variables (host
//! registers), loaded on entry (or first use) and written back at exits;
//! `pc` and `retired` are stored at the exit, so instruction counts stay
//! exact. An exit jumps straight into the next block's compiled code when
//! the hart's jump cache holds it. A branch back to the block's start loops
//! inside the function, and a branch forward to a later instruction of it
//! jumps there (see `Translator::skips`); other taken branches exit.
//!
//! Loads and stores reach RAM inline: physical addresses directly (those
//! off one base value checked together, see `RamGroup`), checked ones
//! (paging, PMP) through a TLB of the hart's that compiled code probes
//! itself (`crate::memory::mmu::FastEntry`) in blocks compiled for a checked data
//! context. A store checks its line's byte of marks (code, watched,
//! reserved: see `crate::Ram`). Everything else (devices, misses,
//! faults, lines holding code or reservations) is left to the interpreter's
//! memory path, which keeps paging, PMP, devices and code invalidation in
//! one place: the block exits before the access with the state of the
//! instructions before it (`SLOW`), the interpreter runs that instruction
//! (and takes its exception exactly as after any interpreted one), and
//! compiled code goes on after it. In lockstep such accesses call helpers
//! instead, which log them for the replay.
//!
//! Blocks made of RV64I, M, A, F and D operations (integer arithmetic,
//! branches, jumps, loads, stores, `fence`, atomics, floating point) are
//! compiled; a block with anything else (CSR and system instructions,
//! `fence.i`) stays interpreted. Floating point (`float`) runs on the host
//! FPU inline where that is provably exact and calls the interpreter's
//! exact code otherwise; AMOs on RAM (`atomic`) are host atomics.
//!
//! Code lives in generations: `cranelift-jit` cannot free single
//! functions, so each generation is a module of its own, and a block that
//! is invalidated leaves its code behind in it. Once a generation holds
//! [`JitConfig::code_limit`] bytes, the JIT retires it: every block compiled
//! into it is invalidated (harts translate and compile them again, into the
//! next generation), and its memory is freed as soon as no hart can still
//! be running it. Harts tell through their `Seat`: the generation count
//! they saw when they last entered compiled code, or none while they run
//! none.

use std::mem::offset_of;
use std::ops::{AddAssign, Range};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use cranelift_codegen::Context;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, BlockArg, InstBuilder, MemFlagsData, Signature, Type, UserFuncName, Value, types,
};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa, TargetFrontendConfig};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

use crate::cache::{Block, BlockCode, JumpCache};
use crate::cpu::Cpu;
use crate::decode::{Class, Inst, MemoryKind, Op};
use crate::env::Env;
use crate::memory::access;
use crate::memory::mmu::{self, FAST_TLB_ENTRIES, FastEntry};
use crate::memory::pmp::Pmp;
use crate::memory::{LINE_SHIFT, MARK_ANY, PAGE_SHIFT};
use crate::state::X0_SINK;

/// Defines a function that compiled code calls, in the calling convention
/// of [`helper_signature`]: `extern "win64"` on x86-64, `extern "C"`
/// elsewhere.
macro_rules! helper {
    ($(#[$attribute:meta])* unsafe fn $name:ident($($argument:ident: $type:ty),* $(,)?) $(-> $result:ty)? $body:block) => {
        $(#[$attribute])*
        #[cfg(target_arch = "x86_64")]
        unsafe extern "win64" fn $name($($argument: $type),*) $(-> $result)? $body

        $(#[$attribute])*
        #[cfg(not(target_arch = "x86_64"))]
        unsafe extern "C" fn $name($($argument: $type),*) $(-> $result)? $body
    };
}

mod atomic;
mod float;
pub(crate) mod frame;
mod listing;
pub(crate) mod lockstep;

pub use lockstep::{Divergence, MemoryAccess, MemoryOutcome};

use frame::{Frame, SLOW_STORE, SlowAccess};
use lockstep::Lockstep;

/// The trampoline from Rust into compiled code: the state and the block's
/// code, called in the `tail` convention.
type EnterFn = unsafe extern "C" fn(*mut Cpu, *const u8) -> u32;

/// The block ran to an exit; `pc` and `retired` say where and how far.
pub(crate) const DONE: u32 = 0;
/// An instruction raised an exception: it is in `Cpu::jit_trap`,
/// `pc` is the instruction's, `retired` counts those before it.
pub(crate) const TRAPPED: u32 = 1;
/// The block stopped at its own start, before a pass that would have gone
/// past the end of its slice (perhaps without running at all): the state is
/// as it was at that start.
pub(crate) const STOPPED: u32 = 2;
/// The block stopped before a load or store that compiled code does not
/// make itself (a device, a miss of the fast TLB, a misaligned checked
/// access or store, a line holding code, watched bytes or a reservation):
/// `pc` is the instruction's, `retired` counts those before it, and
/// [`Frame::slow_address`] and [`Frame::slow_kind`] say what the access is.
/// The run loop has the interpreter make it (see [`after_slow_access`]).
///
/// Leaving rather than calling the interpreter's memory path from the block
/// keeps calls out of most blocks: a value live across a call needs a
/// callee-saved register or a stack slot, and every block would save and
/// restore those around each chained jump. Compiled code made 6% fewer
/// host instructions on bench_int, and Cranelift took 17% less time.
pub(crate) const SLOW: u32 = 3;

/// The most instructions compiled code retires before it returns to the run
/// loop, which then looks at the attention flag (interrupt lines, exit
/// requests: [`crate::HartControl`]) and enters compiled code again.
/// Compiled code checks its budget against a limit in the hart's own state,
/// a plain load and compare; another thread's request waits for the slice
/// to end (a few microseconds of host time), as a request from the hart's
/// own thread (a device access) returns through the run loop at once.
pub(crate) const SLICE: u64 = 1 << 14;

/// The hart's lockstep log, in lockstep.
///
/// # Safety
/// `frame` was filled by [`Jit::enter`] for the call in progress, whose
/// contract keeps the log valid and used by nothing else meanwhile.
unsafe fn frame_lockstep(frame: &Frame) -> Option<&Lockstep> {
    // SAFETY: a non-zero `lockstep` is the address of the log `enter` was
    // given, valid for the call (the function's contract).
    (frame.lockstep != 0).then(|| unsafe { &*(frame.lockstep as *const Lockstep) })
}

/// A hart's place at the machine's JIT: the JIT, the hart's seat (see
/// [`Jit::sit`]) and, in lockstep, its log of compiled code's accesses.
#[derive(Debug)]
pub(crate) struct HartJit {
    pub(crate) jit: Arc<Jit>,
    pub(crate) seat: Arc<Seat>,
    pub(crate) lockstep: Option<Lockstep>,
}

impl HartJit {
    /// Seats a hart at `jit`.
    pub(crate) fn new(jit: Arc<Jit>) -> HartJit {
        let lockstep = jit.config().lockstep.then(Lockstep::default);
        HartJit { seat: jit.seat(), jit, lockstep }
    }
}

/// Interpreted runs after which a block is compiled, unless told otherwise.
pub const DEFAULT_THRESHOLD: u32 = 50;

/// How a [`Jit`] works: when it compiles a block, which blocks it may
/// compile, and whether it checks its code against the interpreter.
///
/// ```
/// use polyhart_iss::JitConfig;
///
/// // Compile at once, only the blocks of one function, and check them.
/// let config = JitConfig::new(0).range(0x8000_1000..0x8000_1400).lockstep(true);
/// assert!(config.compiles(0x8000_1000) && !config.compiles(0x8000_1400));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JitConfig {
    /// Interpreted runs after which a block is compiled (0: at its first run).
    pub threshold: u32,
    /// Only blocks entered at a guest address inside one of these ranges are
    /// compiled, the others stay interpreted; empty: every block. The address
    /// is the `pc` the hart enters the block at when it turns hot (virtual
    /// when paging is on), as `-d in_asm` prints it. To bisect a miscompiled
    /// block, halve the range until the fault follows one block.
    pub ranges: Vec<Range<u64>>,
    /// Lockstep: each time compiled code runs a block, the interpreter runs
    /// it again from the same state and the results must agree, or the hart
    /// stops with [`crate::Exit::JitDivergence`] (see [`Divergence`]). Slow:
    /// for debugging the JIT.
    pub lockstep: bool,
    /// Hot blocks are compiled on a thread of the JIT's own while the harts
    /// go on interpreting them, so that no hart waits for Cranelift (nor
    /// for another hart's compilation). Off, the hart that finds a block hot
    /// compiles it and runs the compiled code at once, which tests that
    /// count on "compiled at the first run" want. Ignored in lockstep.
    pub background: bool,
    /// Bytes of host memory one generation of compiled code takes before
    /// the JIT retires it (QEMU's `tb-size`): every block compiled into it
    /// is dropped, to be compiled again when hot, and its memory is freed
    /// once no hart runs it any more. Each block counts its code rounded up
    /// to whole 4 KiB pages, as `cranelift-jit` maps it. Code of blocks
    /// invalidated by stores counts until then, so a guest that keeps
    /// rewriting its code (a kernel loading programs) gets the memory back
    /// too.
    pub code_limit: u64,
    /// Fault injection for the tests of lockstep: the compiled code of the
    /// instruction at this guest address adds one to its result.
    #[doc(hidden)]
    pub miscompile_at: Option<u64>,
}

/// The default [`JitConfig::code_limit`]: 256 MiB.
pub const DEFAULT_CODE_LIMIT: u64 = 256 << 20;

/// What a block's code takes of [`JitConfig::code_limit`] is rounded up to
/// this: `cranelift-jit` maps each finalized function on pages of its own.
const CODE_PAGE: u64 = 4096;

impl Default for JitConfig {
    fn default() -> JitConfig {
        JitConfig::new(DEFAULT_THRESHOLD)
    }
}

impl JitConfig {
    /// Compiles every block after `threshold` interpreted runs, on the hart
    /// that finds it hot; no range limit, no lockstep.
    pub fn new(threshold: u32) -> JitConfig {
        JitConfig {
            threshold,
            ranges: Vec::new(),
            lockstep: false,
            background: false,
            code_limit: DEFAULT_CODE_LIMIT,
            miscompile_at: None,
        }
    }

    /// Sets the bytes of host code a generation holds before it is retired.
    pub fn code_limit(mut self, bytes: u64) -> JitConfig {
        self.code_limit = bytes;
        self
    }

    /// Adds `range` to the guest addresses whose blocks may be compiled.
    pub fn range(mut self, range: Range<u64>) -> JitConfig {
        self.ranges.push(range);
        self
    }

    /// Turns background compilation on or off.
    pub fn background(mut self, on: bool) -> JitConfig {
        self.background = on;
        self
    }

    /// Turns lockstep checking on or off.
    pub fn lockstep(mut self, on: bool) -> JitConfig {
        self.lockstep = on;
        self
    }

    /// Whether a block entered at `pc` may be compiled.
    pub fn compiles(&self, pc: u64) -> bool {
        self.ranges.is_empty() || self.ranges.iter().any(|range| range.contains(&pc))
    }
}

/// Counters of a JIT.
///
/// [`Jit::stats`] gives what is counted at compile time, over all harts;
/// [`crate::Hart::jit_stats`] what one hart counted running compiled code
/// (exits, loads and stores left to the interpreter, lockstep checks); a
/// machine adds them up.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct JitStats {
    /// Blocks compiled.
    pub blocks_compiled: u64,
    /// Hot blocks left to the interpreter (an operation the JIT lacks).
    pub blocks_rejected: u64,
    /// Hot blocks left to the interpreter because they lie outside
    /// [`JitConfig::ranges`].
    pub blocks_outside_range: u64,
    /// Time spent compiling, in microseconds.
    pub compile_micros: u64,
    /// Bytes of host code generated.
    pub code_bytes: u64,
    /// Generations of compiled code retired (see [`JitConfig::code_limit`]).
    pub generations_retired: u64,
    /// Retired generations whose memory is freed.
    pub generations_freed: u64,
    /// Runs of compiled code that returned to the run loop at the start of
    /// a block whose compiled code they could not jump to (not compiled
    /// yet or at all, or not in the hart's jump cache).
    pub exits_to_next_block: u64,
    /// Runs of compiled code that stopped at the start of a block because
    /// the budget, or the run's slice (see `SLICE` in the JIT's source),
    /// would not cover a pass through it (a loop cut short, or a block not
    /// entered).
    pub exits_stopped: u64,
    /// Compiled blocks that jumped straight into the next block's compiled
    /// code, without returning to the run loop.
    pub chain_hits: u64,
    /// Runs of compiled code that ended in an exception.
    pub exits_trapped: u64,
    /// Loads and stores that compiled code left to the interpreter (devices,
    /// misses of the TLB compiled code probes, misaligned checked accesses
    /// and stores, lines holding code, watched bytes or reservations; every
    /// access in lockstep): the block exits before each, the interpreter
    /// makes it and compiled code goes on after it (in lockstep, the block
    /// calls the interpreter's memory path instead).
    pub slow_accesses: u64,
    /// Runs of compiled code that lockstep checked against the interpreter.
    pub lockstep_checked: u64,
    /// Runs of compiled code lockstep could not check (their block holds
    /// atomics or CSR accesses, whose effects a second run would repeat).
    pub lockstep_unchecked: u64,
}

impl AddAssign for JitStats {
    fn add_assign(&mut self, other: JitStats) {
        self.blocks_compiled += other.blocks_compiled;
        self.blocks_rejected += other.blocks_rejected;
        self.blocks_outside_range += other.blocks_outside_range;
        self.compile_micros += other.compile_micros;
        self.code_bytes += other.code_bytes;
        self.generations_retired += other.generations_retired;
        self.generations_freed += other.generations_freed;
        self.exits_to_next_block += other.exits_to_next_block;
        self.exits_stopped += other.exits_stopped;
        self.chain_hits += other.chain_hits;
        self.exits_trapped += other.exits_trapped;
        self.slow_accesses += other.slow_accesses;
        self.lockstep_checked += other.lockstep_checked;
        self.lockstep_unchecked += other.lockstep_unchecked;
    }
}

/// The JIT of one machine, shared by its harts. Its code reaches the RAM
/// of the first hart given it directly, with RAM's base as a constant;
/// harts whose RAM starts elsewhere may share it, but all their accesses
/// then take the checked path.
pub struct Jit {
    core: Arc<Core>,
    /// Where hot blocks wait for the background thread to compile them
    /// ([`JitConfig::background`]), with the pc and data context they were
    /// found hot in; without it the hart that finds a block hot compiles it.
    queue: Option<mpsc::Sender<(Arc<Block>, u64, bool)>>,
    worker: Option<JoinHandle<()>>,
}

/// What the harts and the background compiler share.
struct Core {
    backend: Mutex<Backend>,
    config: JitConfig,
    /// The trampoline into compiled code.
    enter: EnterFn,
    compiled: AtomicU64,
    rejected: AtomicU64,
    outside_range: AtomicU64,
    compile_nanos: AtomicU64,
    code_bytes: AtomicU64,
    generations_retired: AtomicU64,
    generations_freed: AtomicU64,
    /// Generations retired so far: a hart entering compiled code notes it
    /// in its [`Seat`].
    epoch: AtomicU64,
    /// The harts' seats (a hart that is gone leaves a dead one).
    seats: Mutex<Vec<Weak<Seat>>>,
    /// The JIT is being dropped: the background thread compiles no more.
    closing: AtomicBool,
    /// The guest physical address of RAM's first byte, for the harts whose
    /// RAM starts there (the first hart given this JIT decides; see
    /// [`Jit::bind_ram`]): compiled code has it as a constant.
    ram_base: OnceLock<u64>,
}

impl std::fmt::Debug for Jit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jit").field("config", &self.core.config).field("stats", &self.stats()).finish()
    }
}

struct Backend {
    /// The host, for the modules of new generations.
    isa: OwnedTargetIsa,
    /// Holds the trampoline, for as long as the JIT lives.
    entry: JITModule,
    /// The current generation's code.
    module: JITModule,
    /// Bytes of host code in it.
    bytes: u64,
    /// The blocks compiled into it, to invalidate when it is retired.
    blocks: Vec<Weak<Block>>,
    /// Retired generations whose memory harts may still be running.
    retired: Vec<Retired>,
    context: Context,
    builder: FunctionBuilderContext,
    next_name: u32,
    /// Compiled blocks jump to the next block's compiled code. Off in
    /// lockstep, which checks one block at a time, and while `-d exec`
    /// logs every block.
    chaining: bool,
    /// Lockstep: see [`Translator::log_accesses`].
    lockstep: bool,
}

/// A retired generation of code, freed once no hart runs it.
struct Retired {
    module: JITModule,
    /// The [`Core::epoch`] its retirement made: a hart that noted this or a
    /// later one when it entered compiled code cannot reach the generation.
    epoch: u64,
}

/// A hart's seat at the JIT: whether it runs compiled code, and since which
/// generation. Each hart has its own (a cache line of its own too, as the
/// hart writes it each time it enters compiled code).
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Seat {
    /// [`Core::epoch`] as the hart entered compiled code, or [`IDLE`].
    entered: AtomicU64,
}

/// In [`Seat::entered`]: the hart runs no compiled code.
const IDLE: u64 = u64::MAX;

impl Default for Seat {
    fn default() -> Seat {
        Seat { entered: AtomicU64::new(IDLE) }
    }
}

/// A hart runs compiled code while this lives (see [`Jit::sit`]).
pub(crate) struct Running<'a>(&'a Seat);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.entered.store(IDLE, Ordering::Release);
    }
}

/// A block's host code.
struct Compiled {
    code: BlockCode,
    /// Its size in bytes.
    size: usize,
}

/// Why the host cannot have a JIT.
#[derive(Debug, thiserror::Error)]
#[error("no JIT for this host: {0}")]
pub struct JitError(String);

impl Jit {
    /// A JIT for the host, compiling blocks after `threshold` interpreted
    /// runs (0: at the first).
    pub fn new(threshold: u32) -> Result<Jit, JitError> {
        Jit::with_config(JitConfig::new(threshold))
    }

    /// A JIT for the host that works as `config` says.
    pub fn with_config(config: JitConfig) -> Result<Jit, JitError> {
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, name: &str, value: &str| {
            flags.set(name, value).map_err(|e| JitError(format!("{name}={value}: {e}")))
        };
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        set(&mut flags, "is_pic", "false")?;
        // Blocks jump to each other with tail calls, which Cranelift's x64
        // backend implements only with frame pointers.
        set(&mut flags, "preserve_frame_pointers", "true")?;
        // Cranelift's IR verifier is a check of Cranelift itself (and of this
        // translator): worth its time in debug builds and tests only.
        set(&mut flags, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
        let isa = cranelift_native::builder()
            .map_err(|e| JitError(e.to_string()))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| JitError(e.to_string()))?;
        let module = new_module(&isa);
        let context = module.make_context();
        let chaining = !config.lockstep && !tracing::enabled!(target: "exec", tracing::Level::TRACE);
        let lockstep = config.lockstep;
        let mut backend = Backend {
            entry: new_module(&isa),
            isa,
            module,
            bytes: 0,
            blocks: Vec::new(),
            retired: Vec::new(),
            context,
            builder: FunctionBuilderContext::new(),
            next_name: 0,
            chaining,
            lockstep,
        };
        let enter = backend.trampoline().ok_or_else(|| JitError("cannot compile the trampoline".into()))?;
        // The trampoline stays; blocks go to generations of their own.
        std::mem::swap(&mut backend.entry, &mut backend.module);
        let background = config.background && !config.lockstep;
        let core = Arc::new(Core {
            backend: Mutex::new(backend),
            config,
            enter,
            compiled: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            outside_range: AtomicU64::new(0),
            compile_nanos: AtomicU64::new(0),
            code_bytes: AtomicU64::new(0),
            generations_retired: AtomicU64::new(0),
            generations_freed: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            seats: Mutex::new(Vec::new()),
            closing: AtomicBool::new(false),
            ram_base: OnceLock::new(),
        });
        let (queue, worker) = if background {
            let (queue, jobs) = mpsc::channel::<(Arc<Block>, u64, bool)>();
            let shared = core.clone();
            let worker = std::thread::Builder::new()
                .name("polyhart-jit".into())
                .spawn(move || {
                    // Ends when the JIT drops its end of the queue, without
                    // compiling what is left in it.
                    for (block, pc, checked) in jobs {
                        if shared.closing.load(Ordering::Relaxed) {
                            break;
                        }
                        if block.is_valid() {
                            block.compiled.get_or_init(|| shared.compile(&block, pc, checked));
                        }
                    }
                })
                .map_err(|e| JitError(format!("cannot start the compiler thread: {e}")))?;
            (Some(queue), Some(worker))
        } else {
            (None, None)
        };
        Ok(Jit { core, queue, worker })
    }

    /// How this JIT works.
    pub fn config(&self) -> &JitConfig {
        &self.core.config
    }

    /// The counters kept at compile time, over all harts (the others are
    /// zero here: see [`JitStats`]).
    pub fn stats(&self) -> JitStats {
        self.core.stats()
    }

    /// The compiled code of `block`, entered at `pc`, once it is hot and
    /// compiled. When it turns hot it is compiled at once, or queued for the
    /// background thread (the hart interprets it meanwhile). A run with
    /// `heat` false does not count towards making it hot. `checked` is the
    /// hart's data context: whether paging or PMP checks its loads and
    /// stores. The code is made for that context (see
    /// [`Translator::ram_access`]), and runs correctly in the other too.
    #[inline(always)]
    pub(crate) fn code(&self, block: &Arc<Block>, pc: u64, heat: bool, checked: bool) -> Option<BlockCode> {
        if let Some(code) = block.compiled.get() {
            return *code;
        }
        if !heat {
            return None;
        }
        let runs = block.heat.fetch_add(1, Ordering::Relaxed);
        if runs < self.core.config.threshold {
            return None;
        }
        match &self.queue {
            None => *block.compiled.get_or_init(|| self.core.compile(block, pc, checked)),
            Some(queue) => {
                if runs == self.core.config.threshold {
                    // Only a JIT being dropped has no worker to send to,
                    // and then nothing runs any more.
                    let _ = queue.send((block.clone(), pc, checked));
                }
                None
            }
        }
    }

    /// A seat for a hart that runs this JIT's code (see [`Jit::sit`]).
    pub(crate) fn seat(&self) -> Arc<Seat> {
        let seat = Arc::new(Seat::default());
        let mut seats = self.core.seats.lock().unwrap_or_else(|e| e.into_inner());
        seats.retain(|seat| seat.strong_count() > 0);
        seats.push(Arc::downgrade(&seat));
        seat
    }

    /// Notes in `seat` that its hart is about to run compiled code entered
    /// at `block`, which keeps the code the hart may reach from being freed
    /// until the guard drops. `None` when the block has just been
    /// invalidated (its code perhaps retired): the hart must not enter it.
    ///
    /// The generation count is noted before the block's validity is read,
    /// and a retirement invalidates its blocks before it counts itself, all
    /// sequentially consistent: a hart that noted an old count is waited
    /// for, and a hart that noted the new one sees the retired blocks
    /// invalid, here and in the jump-cache probes of compiled code.
    #[inline(always)]
    pub(crate) fn sit<'a>(&self, seat: &'a Seat, block: &Block) -> Option<Running<'a>> {
        seat.entered.store(self.core.epoch.load(Ordering::SeqCst), Ordering::SeqCst);
        let running = Running(seat);
        block.is_valid_now().then_some(running)
    }

    /// Whether this JIT's code may reach directly a RAM that starts at
    /// guest physical address `base`: compiled code has the base of the
    /// first RAM a hart brought as a constant, so a hart whose RAM starts
    /// elsewhere (one JIT shared by unlike machines) must take the checked
    /// path for every access ([`Frame::span`] 0).
    pub(crate) fn bind_ram(&self, base: u64) -> bool {
        *self.core.ram_base.get_or_init(|| base) == base
    }

    /// Runs compiled `code` on a hart: the block at `state.pc`, and those
    /// it chains to.
    ///
    /// # Safety
    /// `code` is this JIT's code for the block at `cpu.arch.pc` (in the
    /// hart's fetch context); `cpu`, `env`, `lockstep` and `jump_cache` are
    /// one hart's, and nothing else uses them during the call.
    #[inline(always)]
    pub(crate) unsafe fn enter(
        &self,
        code: BlockCode,
        cpu: &mut Cpu,
        env: &Env,
        lockstep: Option<&Lockstep>,
        stop_at: u64,
        jump_cache: &JumpCache,
    ) -> u32 {
        let direct = &env.direct;
        let jump_slots = jump_cache.slots_address();
        cpu.frame = Frame {
            env: env as *const Env as usize,
            lockstep: lockstep.map_or(0, |lockstep| lockstep as *const Lockstep as usize),
            jump_slots,
            ram_host: direct.ram_host,
            ram_marks: direct.ram_marks,
            ram_base: direct.ram_base,
            span: if cpu.data_checked { 0 } else { direct.span },
            limit: stop_at.min(cpu.arch.retired.saturating_add(SLICE)),
            tlb_load: cpu.tlb.fast_load.as_ptr() as usize,
            tlb_store: cpu.tlb.fast_store.as_ptr() as usize,
            tlb_context: if cpu.data_checked && lockstep.is_none() {
                mmu::fast_context(&cpu.arch.data_context())
            } else {
                mmu::FAST_NONE
            },
            helper_out: 0,
            helper_in: [0; 3],
            slow_address: 0,
            slow_kind: 0,
            chains: 0,
        };
        // SAFETY: `enter` is the trampoline of `Backend::trampoline`, with
        // this signature; the frame points at the caller's `env` and
        // `jump_cache`, which the caller's contract makes valid for the call.
        unsafe { (self.core.enter)(cpu, code.0.as_ptr()) }
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        // The worker leaves at its next job, or once the queue is closed.
        self.core.closing.store(true, Ordering::Relaxed);
        drop(self.queue.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl Core {
    fn stats(&self) -> JitStats {
        JitStats {
            blocks_compiled: self.compiled.load(Ordering::Relaxed),
            blocks_rejected: self.rejected.load(Ordering::Relaxed),
            blocks_outside_range: self.outside_range.load(Ordering::Relaxed),
            compile_micros: self.compile_nanos.load(Ordering::Relaxed) / 1000,
            code_bytes: self.code_bytes.load(Ordering::Relaxed),
            generations_retired: self.generations_retired.load(Ordering::Relaxed),
            generations_freed: self.generations_freed.load(Ordering::Relaxed),
            ..JitStats::default()
        }
    }

    /// Compiles `block` and makes its code reachable for chaining. When the
    /// current generation is full, retires it first.
    #[cold]
    fn compile(&self, block: &Arc<Block>, pc: u64, checked: bool) -> Option<BlockCode> {
        if !self.config.compiles(pc) {
            self.outside_range.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if !block.insts.iter().all(|inst| supported(inst.op)) {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let miscompile = self
            .config
            .miscompile_at
            .and_then(|at| block.insts.iter().position(|inst| pc.wrapping_add(u64::from(inst.offset)) == at));
        let started = Instant::now();
        let mut backend = self.backend.lock().unwrap_or_else(|e| e.into_inner());
        if backend.bytes >= self.config.code_limit {
            self.retire(&mut backend);
        }
        if !backend.retired.is_empty() {
            self.reclaim(&mut backend);
        }
        let compiled = backend.compile(&block.insts, miscompile, self.ram_base.get().copied(), checked);
        let Some(compiled) = compiled else {
            drop(backend);
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        // Under the lock, so that no retirement comes between: the code
        // becomes reachable only while its generation is current.
        block.set_code(compiled.code.0.as_ptr() as usize);
        backend.bytes += (compiled.size as u64).next_multiple_of(CODE_PAGE);
        backend.blocks.push(Arc::downgrade(block));
        if tracing::enabled!(target: "out_asm", tracing::Level::TRACE) {
            // SAFETY: the current generation's module keeps every function
            // it finalized mapped, readable and executable while the lock is
            // held (only a retirement, under it too, can lead to its being
            // freed); `size` is this function's length.
            let host = unsafe { std::slice::from_raw_parts(compiled.code.0.as_ptr(), compiled.size) };
            tracing::trace!(target: "out_asm", "{}", listing::Listing { pc, insts: &block.insts, host });
        }
        drop(backend);
        self.compile_nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.compiled.fetch_add(1, Ordering::Relaxed);
        self.code_bytes.fetch_add(compiled.size as u64, Ordering::Relaxed);
        Some(compiled.code)
    }

    /// Retires the current generation: invalidates its blocks (lookups
    /// skip them, compiled code no longer chains to them), then counts the
    /// retirement in [`Core::epoch`] (see [`Jit::sit`]) and starts a new
    /// generation.
    fn retire(&self, backend: &mut Backend) {
        for block in backend.blocks.drain(..) {
            if let Some(block) = block.upgrade() {
                block.invalidate();
            }
        }
        let module = std::mem::replace(&mut backend.module, new_module(&backend.isa));
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        backend.retired.push(Retired { module, epoch });
        backend.bytes = 0;
        self.generations_retired.fetch_add(1, Ordering::Relaxed);
    }

    /// Frees the retired generations no hart can be running: those retired
    /// before every hart that runs compiled code entered it.
    fn reclaim(&self, backend: &mut Backend) {
        let oldest = {
            let mut seats = self.seats.lock().unwrap_or_else(|e| e.into_inner());
            seats.retain(|seat| seat.strong_count() > 0);
            seats.iter().filter_map(Weak::upgrade).map(|seat| seat.entered.load(Ordering::SeqCst)).min()
        };
        let oldest = oldest.unwrap_or(IDLE);
        let (free, keep) = std::mem::take(&mut backend.retired).into_iter().partition(|r| r.epoch <= oldest);
        backend.retired = keep;
        for retired in free {
            // SAFETY: every hart entered compiled code, if it runs any,
            // after the generation's retirement, so it neither runs nor can
            // reach its code (see `Jit::sit`); and nothing else holds its
            // functions' addresses but blocks invalidated by `retire`.
            unsafe { retired.module.free_memory() };
            self.generations_freed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        let backend = self.backend.get_mut().unwrap_or_else(|e| e.into_inner());
        let modules = std::mem::take(&mut backend.retired).into_iter().map(|r| r.module);
        let current = std::mem::replace(&mut backend.module, new_module(&backend.isa));
        let entry = std::mem::replace(&mut backend.entry, new_module(&backend.isa));
        for module in modules.chain([current, entry]) {
            // SAFETY: the core goes with the last `Jit` (and its compiler
            // thread), and every hart that ran its code held that `Jit`:
            // nothing runs or enters the code any more.
            unsafe { module.free_memory() };
        }
    }
}

/// An empty module for a generation of code (or the trampoline).
fn new_module(isa: &OwnedTargetIsa) -> JITModule {
    JITModule::new(JITBuilder::with_isa(isa.clone(), default_libcall_names()))
}

/// Whether the JIT compiles `op`: everything but CSR and system
/// instructions (whose blocks stay interpreted) and the F/D operations
/// [`float`] has no code for.
fn supported(op: Op) -> bool {
    match op.class() {
        Class::Csr | Class::System | Class::Illegal => false,
        _ if op.precision().is_some() => float::supported(op),
        _ => true,
    }
}

/// The signature of the functions compiled code calls back into Rust
/// (defined with [`helper!`]), parameters and results yet to add. On
/// x86-64 their calling convention is Windows x64's rather than the host's
/// System V: it keeps xmm6-xmm15 (and rsi, rdi) across calls where System
/// V keeps no vector register at all, so the values a block holds in
/// registers, f registers above all, stay there across the call on a slow
/// path instead of living on the stack for the whole block (bench_fp ran
/// its compiled code 1.6 times faster). AArch64's own convention already
/// keeps the low halves of v8-v15.
fn helper_signature(module: &JITModule) -> Signature {
    let mut signature = module.make_signature();
    if cfg!(target_arch = "x86_64") {
        signature.call_conv = CallConv::WindowsFastcall;
    }
    signature
}

helper! {
    /// Called by compiled code for a load in lockstep, where a block does
    /// not leave for the access (see [`SLOW`]): the interpreter's load path,
    /// logged.
    ///
    /// # Safety
    /// `state` is the pointer the compiled block was called with and `env`
    /// the one its frame holds (see [`Jit::enter`]), valid and not otherwise
    /// in use during the call. The value goes to [`Frame::helper_out`].
    unsafe fn load_helper(
        cpu: *mut Cpu,
        env: *const Env,
        vaddr: u64,
        size: u64,
        retired: u64,
    ) -> u32 {
        // SAFETY: as the function's contract says.
        let (cpu, env) = unsafe { (&mut *cpu, &*env) };
        env.count_slow_access();
        let result = access::load(cpu, env, vaddr, size as u8, retired);
        // SAFETY: the frame holds the hart's lockstep log, if any, valid
        // for the call (see `Jit::enter`).
        if let Some(lockstep) = unsafe { frame_lockstep(&cpu.frame) } {
            lockstep.record(MemoryAccess::load(vaddr, size as u8, retired), result);
        }
        match result {
            Ok(value) => {
                cpu.frame.helper_out = value;
                DONE
            }
            Err(trap) => {
                cpu.jit_trap = Some(trap);
                TRAPPED
            }
        }
    }
}

helper! {
    /// Called by compiled code for a store in lockstep: the interpreter's
    /// store path, logged.
    ///
    /// # Safety
    /// As [`load_helper`].
    unsafe fn store_helper(
        cpu: *mut Cpu,
        env: *const Env,
        vaddr: u64,
        size: u64,
        value: u64,
        retired: u64,
    ) -> u32 {
        // SAFETY: as the function's contract says.
        let (cpu, env) = unsafe { (&mut *cpu, &*env) };
        env.count_slow_access();
        let result = access::store(cpu, env, vaddr, size as u8, value, retired);
        // SAFETY: as in `load_helper`.
        if let Some(lockstep) = unsafe { frame_lockstep(&cpu.frame) } {
            lockstep.record(MemoryAccess::store(vaddr, size as u8, value, retired), result.map(|()| 0));
        }
        match result {
            Ok(()) => DONE,
            Err(trap) => {
                cpu.jit_trap = Some(trap);
                TRAPPED
            }
        }
    }
}

/// After the interpreter made a checked access that compiled code left to
/// it (see [`SLOW`]): lets compiled code make the next ones to the same
/// page itself (see [`Tlb::fill_fast`]).
///
/// [`Tlb::fill_fast`]: crate::memory::mmu::Tlb::fill_fast
pub(crate) fn after_slow_access(cpu: &mut Cpu, env: &Env, slow: &SlowAccess) {
    if cpu.data_checked {
        let ctx = cpu.arch.data_context();
        cpu.tlb.fill_fast(&env.ram, Pmp::new(&cpu.arch.csr), slow.address, slow.size, slow.access, &ctx);
    }
}

const X_OFFSET: i32 = offset_of!(Cpu, arch.x) as i32;
const F_OFFSET: i32 = offset_of!(Cpu, arch.f) as i32;
const PC_OFFSET: i32 = offset_of!(Cpu, arch.pc) as i32;
const RETIRED_OFFSET: i32 = offset_of!(Cpu, arch.retired) as i32;
const FRAME_OFFSET: usize = offset_of!(Cpu, frame);
const ENV_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, env)) as i32;
const JUMP_SLOTS_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, jump_slots)) as i32;
const RAM_HOST_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, ram_host)) as i32;
const RAM_MARKS_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, ram_marks)) as i32;
const RAM_BASE_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, ram_base)) as i32;
const SPAN_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, span)) as i32;
const LIMIT_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, limit)) as i32;
const TLB_LOAD_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, tlb_load)) as i32;
const TLB_STORE_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, tlb_store)) as i32;
const TLB_CONTEXT_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, tlb_context)) as i32;
const HELPER_OUT_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, helper_out)) as i32;
const HELPER_IN_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, helper_in)) as i32;
const SLOW_ADDRESS_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, slow_address)) as i32;
const SLOW_KIND_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, slow_kind)) as i32;
const FAST_ENTRY_SIZE: i64 = std::mem::size_of::<FastEntry>() as i64;
const FAST_TAG: i32 = offset_of!(FastEntry, tag) as i32;
const FAST_ADDEND: i32 = offset_of!(FastEntry, addend) as i32;
const CHAINS_OFFSET: i32 = (FRAME_OFFSET + offset_of!(Frame, chains)) as i32;

/// Integer register `r` is a real register the block keeps in a variable.
fn is_reg(r: u8) -> bool {
    r != 0 && r < X0_SINK
}

/// The registers an instruction reads and writes: integer ones (0 for
/// none, [`X0_SINK`] for a write to `x0`) and f registers.
struct Operands {
    x_read: [u8; 2],
    x_written: u8,
    f_read: [Option<u8>; 3],
    f_written: Option<u8>,
}

fn operands(inst: &Inst) -> Operands {
    use crate::decode::Format::*;
    let format = inst.op.format();
    let x_read = match format {
        R | Branch | Store | Amo => [inst.rs1, inst.rs2],
        Upper | Jump | Fence | FpR | FpR2 | FpR4 | FpUnary | FpToInt | FpCmp | FpToIntBits => [0, 0],
        _ => [inst.rs1, 0],
    };
    let f_read = match format {
        FpR | FpR2 | FpCmp => [Some(inst.rs1), Some(inst.rs2), None],
        FpR4 => [Some(inst.rs1), Some(inst.rs2), Some(inst.rs3())],
        FpUnary | FpToInt | FpToIntBits => [Some(inst.rs1), None, None],
        FpStore => [Some(inst.rs2), None, None],
        _ => [None; 3],
    };
    let fp_destination = format.fp_destination();
    Operands {
        x_read,
        x_written: if fp_destination { 0 } else { inst.rd },
        f_read,
        f_written: fp_destination.then_some(inst.rd),
    }
}

/// The size of the load or store `inst` makes at `x[rs1] + imm` (LR, SC
/// and AMOs aside).
fn plain_access(inst: &Inst) -> Option<i64> {
    inst.op
        .memory()
        .filter(|memory| matches!(memory.kind, MemoryKind::Load | MemoryKind::Store))
        .map(|memory| i64::from(memory.size))
}

/// Loads and stores of a block compiled for plain physical accesses that
/// share one value of their base register: the first checks that all of
/// them lie in RAM's direct span (else the block leaves before it, see
/// [`SLOW`]), and the others then reach RAM with no check of their own.
/// The first checks the base's alignment too for the group's stores whose
/// immediate is a multiple of their size (most: fields of an aligned
/// struct, slots of a stack frame), which then need no check of their own;
/// and, where the group's stores lie within 64 bytes (two lines at most),
/// the marks of their lines, which the stores then do not test.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum RamGroup {
    /// The group's first access, the lowest and highest immediates of its
    /// accesses, the alignment (a power of two) it checks the base for, the
    /// stores' bytes (from the base) whose lines' marks it tests, and what
    /// it covers of its own checks.
    First { low: i64, high: i64, align: i64, marks: Option<(i64, i64)>, covered: Covered },
    /// Another access of the group, and what the first covers of its checks.
    Member(Covered),
}

/// The checks of a store that the first access of its [`RamGroup`] made.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Covered {
    /// Its alignment.
    aligned: bool,
    /// Its line's marks.
    marked: bool,
}

/// Whether `inst` is a store ([`plain_access`] covers its size).
fn is_store(inst: &Inst) -> bool {
    inst.op.memory().is_some_and(|memory| memory.kind == MemoryKind::Store)
}

/// Per instruction of `insts` (a function's), the index its taken branch
/// goes to when that is a later instruction of the function (see
/// [`Translator::skips`]).
fn forward_skips(insts: &[Inst]) -> Vec<Option<usize>> {
    let mut skips = vec![None; insts.len()];
    for (index, inst) in insts.iter().enumerate() {
        if inst.op.format() != crate::decode::Format::Branch || inst.imm <= 0 {
            continue;
        }
        let target = i64::from(inst.offset) + i64::from(inst.imm);
        skips[index] = insts[index + 1..]
            .iter()
            .position(|later| i64::from(later.offset) == target)
            .map(|after| index + 1 + after);
    }
    skips
}

/// The [`RamGroup`] of each instruction of `insts` that has one (two
/// accesses at least). A group does not reach past a place where forward
/// branches land (a block in `joins`): its first access might not have
/// run there.
fn ram_groups(insts: &[Inst], joins: &[Option<cranelift_codegen::ir::Block>]) -> Vec<Option<RamGroup>> {
    // (base register, its value's number, first access, low, high, members)
    let mut found: Vec<(u8, u32, usize, i64, i64, Vec<usize>)> = Vec::new();
    let mut versions = [0u32; 32];
    let mut groups = vec![None; insts.len()];
    for (index, inst) in insts.iter().enumerate() {
        if joins[index].is_some() {
            for version in &mut versions {
                *version += 1;
            }
        }
        if plain_access(inst).is_some() {
            let (base, version, imm) = (inst.rs1, versions[usize::from(inst.rs1)], i64::from(inst.imm));
            match found.iter_mut().find(|group| (group.0, group.1) == (base, version)) {
                Some(group) => {
                    (group.3, group.4) = (group.3.min(imm), group.4.max(imm));
                    group.5.push(index);
                }
                None => found.push((base, version, index, imm, imm, Vec::new())),
            }
        }
        let written = operands(inst).x_written;
        if is_reg(written) {
            versions[usize::from(written)] += 1;
        }
    }
    // A store whose immediate is a multiple of its size is aligned when the
    // base is aligned to that size.
    let alignable = |index: usize| {
        let inst = &insts[index];
        let size = plain_access(inst).unwrap_or(1);
        (is_store(inst) && i64::from(inst.imm) % size == 0).then_some(size)
    };
    // A store between the first access and a member could not change marks
    // the first tested, but an LR could (its reservation): no marks tested
    // together in blocks with atomics.
    let marks_hold = !insts.iter().any(|inst| atomic::is_atomic(inst.op));
    for (_, _, first, low, high, members) in found {
        if members.is_empty() {
            continue;
        }
        let accesses = || std::iter::once(first).chain(members.iter().copied());
        let align = accesses().filter_map(alignable).max().unwrap_or(1);
        let aligned = |index: usize| alignable(index).is_some_and(|size| size <= align && size > 1);
        // The bytes the stores write, from the base.
        let stores = accesses().filter(|&index| is_store(&insts[index])).map(|index| {
            let inst = &insts[index];
            let start = i64::from(inst.imm);
            (start, start + plain_access(inst).unwrap_or(1))
        });
        let (count, start, end) =
            stores.fold((0, i64::MAX, i64::MIN), |(count, start, end), (s, e)| (count + 1, start.min(s), end.max(e)));
        let marks = (marks_hold && count > 1 && end - start <= 1 << LINE_SHIFT).then_some((start, end));
        let covered = |index: usize| Covered { aligned: aligned(index), marked: marks.is_some() };
        groups[first] = Some(RamGroup::First { low, high, align, marks, covered: covered(first) });
        for member in members {
            groups[member] = Some(RamGroup::Member(covered(member)));
        }
    }
    groups
}

/// The signature of compiled blocks (see [`BlockCode`]).
fn block_signature(module: &JITModule) -> Signature {
    let pointer = module.target_config().pointer_type();
    let mut signature = module.make_signature();
    signature.call_conv = CallConv::Tail;
    signature.params.push(AbiParam::new(pointer));
    signature.returns.push(AbiParam::new(types::I32));
    signature
}

impl Backend {
    /// Compiles the trampoline Rust enters compiled code through: a
    /// function in the host's calling convention ([`EnterFn`]) that calls
    /// its last argument, a block, in the `tail` convention.
    fn trampoline(&mut self) -> Option<EnterFn> {
        let pointer = self.module.target_config().pointer_type();
        let mut signature = self.module.make_signature();
        signature.params.extend([pointer, pointer].map(AbiParam::new));
        signature.returns.push(AbiParam::new(types::I32));
        let id = self.module.declare_function("enter", Linkage::Local, &signature).ok()?;
        self.context.func.signature = signature;
        self.context.func.name = UserFuncName::user(0, id.as_u32());
        {
            let mut b = FunctionBuilder::new(&mut self.context.func, &mut self.builder);
            let entry = b.create_block();
            b.append_block_params_for_function_params(entry);
            b.switch_to_block(entry);
            let params = b.block_params(entry).to_vec();
            let block = b.import_signature(block_signature(&self.module));
            let call = b.ins().call_indirect(block, params[1], &params[..1]);
            let status = b.inst_results(call)[0];
            b.ins().return_(&[status]);
            b.seal_all_blocks();
            b.finalize(self.module.target_config());
        }
        let (code, _) = self.define(id)?;
        // SAFETY: `code` is the finalized function just defined with
        // `EnterFn`'s parameters and result in the host's calling convention.
        Some(unsafe { std::mem::transmute::<*const u8, EnterFn>(code.as_ptr()) })
    }

    /// Compiles the function built in the context as `id` and makes it
    /// executable: its address and size in bytes.
    fn define(&mut self, id: FuncId) -> Option<(NonNull<u8>, usize)> {
        let defined = self.module.define_function(id, &mut self.context);
        let size = self.context.compiled_code().map_or(0, |code| code.code_buffer().len());
        self.module.clear_context(&mut self.context);
        defined.ok()?;
        self.module.finalize_definitions().ok()?;
        Some((NonNull::new(self.module.get_finalized_function(id).cast_mut())?, size))
    }

    /// Compiles one block; `None` if Cranelift refuses it. With
    /// `miscompile`, that instruction's result is off by one (fault
    /// injection, see [`JitConfig::miscompile_at`]).
    fn compile(
        &mut self,
        insts: &[Inst],
        miscompile: Option<usize>,
        ram_base: Option<u64>,
        checked: bool,
    ) -> Option<Compiled> {
        let pointer = self.module.target_config().pointer_type();
        let signature = block_signature(&self.module);
        let name = format!("block{}", self.next_name);
        self.next_name += 1;
        let id = self.module.declare_function(&name, Linkage::Local, &signature).ok()?;
        self.context.func.signature = signature;
        self.context.func.name = UserFuncName::user(0, id.as_u32());
        {
            let builder = FunctionBuilder::new(&mut self.context.func, &mut self.builder);
            let tlb = checked && !self.lockstep;
            Translator::new(builder, pointer, &self.module, self.chaining, self.lockstep, ram_base, tlb).translate(
                insts,
                self.module.target_config(),
                miscompile,
            );
        }
        let (code, size) = self.define(id)?;
        Some(Compiled { code: BlockCode(code), size })
    }
}

/// `inst` is a jump or branch back to its block's start: a loop the
/// compiled function runs in place (see [`Translator::loop_back`]).
fn loops_to_start(inst: &Inst) -> bool {
    use crate::decode::Format;
    matches!(inst.op.format(), Format::Branch | Format::Jump) && i64::from(inst.offset) + i64::from(inst.imm) == 0
}

/// How a load's value comes back from [`Translator::load_as`].
#[derive(Copy, Clone, PartialEq, Eq)]
enum Loaded {
    /// An `i64`, zero-extended.
    Unsigned,
    /// An `i64`, sign-extended.
    Signed,
    /// An `f64` (an 8-byte load of an f register's bits, kept out of the
    /// integer registers).
    Float,
}

/// Where an exit leaves for.
#[derive(Copy, Clone)]
enum Target {
    /// This many bytes from the block's entry address.
    Offset(i64),
    /// A computed guest address.
    Address(Value),
}

/// Builds one block's function.
struct Translator<'a> {
    b: FunctionBuilder<'a>,
    /// Accesses to the hart's state: aligned and never trapping.
    flags: MemFlagsData,
    /// A variable per integer register (those the block uses are defined).
    vars: [Variable; 32],
    /// A variable per f register, its bits as an `f64` (a single NaN-boxed).
    fvars: [Variable; 32],
    /// f registers the block writes: stored back at every exit.
    fwritten: Vec<u8>,
    /// What the F and D instructions of the block share.
    float: float::BlockFloat,
    atomic_signatures: atomic::AtomicSignatures,
    pointer: Type,
    state: Value,
    /// Exits jump to the next block's compiled code when they find it.
    chaining: bool,
    /// Lockstep: loads and stores that compiled code does not make itself
    /// call the helpers, which log them for the interpreter's replay (else
    /// the block exits before them, see [`SLOW`]).
    log_accesses: bool,
    block_signature: Signature,
    /// In a block that loops back to its start: the instructions the run
    /// may still retire after the current pass, by the run's limit
    /// ([`Frame::limit`]). A loop back goes round again while a whole pass
    /// fits, and an exit works out `retired` from it.
    spare: Variable,
    /// Where a pass starts.
    header: cranelift_codegen::ir::Block,
    /// Per instruction, the index of the later instruction of the function
    /// its taken branch goes to, when it goes forward inside the function:
    /// such a branch jumps there in compiled code (an `if` without `else`)
    /// instead of leaving the function.
    skips: Vec<Option<usize>>,
    /// Where those branches land: the block for each instruction one goes
    /// to.
    joins: Vec<Option<cranelift_codegen::ir::Block>>,
    /// Instructions of the current pass that taken forward branches
    /// skipped: they did not retire (a variable only in a function that has
    /// such branches).
    skipped: Variable,
    has_skips: bool,
    /// Registers the block writes, in the order of their first writes, and
    /// the index of the instruction that first writes each.
    written: Vec<u8>,
    first_writes: Vec<usize>,
    /// Registers are loaded at their first use rather than all on entry,
    /// and an exit stores only those written before it (a block without a
    /// loop back to its start: its code runs once, in order).
    lazy: bool,
    /// The registers that have a value at the current point (lazy mode).
    loaded: [bool; 32],
    /// Instructions in the block.
    len: usize,
    /// The shared tails of the exits, two ladders: rung `k` stores
    /// `written[k - 1]` and goes down to rung `k - 1`; rung 0 stores the f
    /// registers, `pc` and `retired`. An exit enters at the rung of the
    /// registers written before it. Created as exits need them. With
    /// chaining, [`DONE`] exits take the second ladder, which ends in the
    /// jump-cache probe, and the others the first, which returns their
    /// status: no exit tests its status at run time.
    rungs: [Vec<Option<cranelift_codegen::ir::Block>>; 2],
    exit_pc: Variable,
    exit_retired: Variable,
    exit_status: Variable,
    load_sig: Signature,
    store_sig: Signature,
    /// RAM's guest base, when the JIT is bound to one (see
    /// [`Jit::bind_ram`]): a constant then, else read from the frame.
    ram_base: Option<u64>,
    /// Loads and stores outside RAM's direct span probe the fast TLB (the
    /// block is compiled for a checked data context), else leave the block.
    tlb: bool,
    /// Per instruction, the [`RamGroup`] of its access (none in blocks
    /// with a TLB probe, or in lockstep).
    ram_groups: Vec<Option<RamGroup>>,
}

impl<'a> Translator<'a> {
    fn new(
        mut b: FunctionBuilder<'a>,
        pointer: Type,
        module: &JITModule,
        chaining: bool,
        log_accesses: bool,
        ram_base: Option<u64>,
        tlb: bool,
    ) -> Translator<'a> {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let state = params[0];
        let flags = MemFlagsData::trusted();
        let vars = std::array::from_fn(|_| b.declare_var(types::I64));
        let fvars = std::array::from_fn(|_| b.declare_var(types::F64));
        let float = float::BlockFloat::new(module);
        let atomic_signatures = atomic::AtomicSignatures::new(module);
        let spare = b.declare_var(types::I64);
        let skipped = b.declare_var(types::I64);
        let (exit_pc, exit_retired) = (b.declare_var(types::I64), b.declare_var(types::I64));
        let header = b.create_block();
        let exit_status = b.declare_var(types::I32);
        let mut load_sig = helper_signature(module);
        load_sig.params.extend([pointer, pointer, types::I64, types::I64, types::I64].map(AbiParam::new));
        load_sig.returns.push(AbiParam::new(types::I32));
        let mut store_sig = helper_signature(module);
        store_sig.params.extend([pointer, pointer, types::I64, types::I64, types::I64, types::I64].map(AbiParam::new));
        store_sig.returns.push(AbiParam::new(types::I32));
        Translator {
            b,
            flags,
            vars,
            fvars,
            fwritten: Vec::new(),
            float,
            atomic_signatures,
            pointer,
            state,
            chaining,
            log_accesses,
            block_signature: block_signature(module),
            spare,
            header,
            skips: Vec::new(),
            joins: Vec::new(),
            skipped,
            has_skips: false,
            len: 0,
            rungs: [Vec::new(), Vec::new()],
            exit_pc,
            exit_retired,
            exit_status,
            written: Vec::new(),
            first_writes: Vec::new(),
            lazy: false,
            loaded: [false; 32],
            load_sig,
            store_sig,
            ram_base,
            tlb,
            ram_groups: Vec::new(),
        }
    }

    /// The hart's `Env`, for a helper (read from the frame where needed:
    /// helpers are called on slow paths).
    fn env(&mut self) -> Value {
        self.b.ins().load(self.pointer, self.flags, self.state, ENV_OFFSET)
    }

    /// Loads integer register `r` from the state into its variable.
    fn load_register(&mut self, r: u8) {
        let value = self.b.ins().load(types::I64, self.flags, self.state, X_OFFSET + 8 * i32::from(r));
        self.b.def_var(self.vars[usize::from(r)], value);
        self.loaded[usize::from(r)] = true;
    }

    fn read(&mut self, r: u8) -> Value {
        if is_reg(r) { self.b.use_var(self.vars[usize::from(r)]) } else { self.b.ins().iconst(types::I64, 0) }
    }

    fn write(&mut self, r: u8, value: Value) {
        if is_reg(r) {
            self.loaded[usize::from(r)] = true;
            self.b.def_var(self.vars[usize::from(r)], value);
        }
    }

    /// The guest address `offset` bytes from where the block was entered.
    /// `pc` in the state holds that entry address until an exit stores
    /// another, so it is read where needed rather than kept in a host
    /// register for the whole block (as is `retired`).
    fn pc_at(&mut self, offset: i64) -> Value {
        let entry = self.b.ins().load(types::I64, self.flags, self.state, PC_OFFSET);
        self.b.ins().iadd_imm_s(entry, offset)
    }

    /// A jump's link: `rd` gets the address `offset` bytes from the entry,
    /// unless `rd` is `x0` (a plain jump or return reads no `pc` for it).
    fn link(&mut self, rd: u8, offset: i64) {
        if is_reg(rd) {
            let link = self.pc_at(offset);
            self.write(rd, link);
        }
    }

    /// Leaves the block for `target`: registers back to the state, `pc`,
    /// `retired`.
    fn exit(&mut self, target: Target, completed: usize, status: u32) {
        // Every exit jumps to one shared tail that stores the registers: the
        // SSA builder merges each register's values there, instead of each
        // exit storing all of them (which made functions large and slow to
        // compile).
        let pc = match target {
            Target::Offset(offset) => self.pc_at(offset),
            Target::Address(pc) => pc,
        };
        let retired = self.retired_at(completed);
        let status_value = self.b.ins().iconst(types::I32, i64::from(status));
        self.b.def_var(self.exit_pc, pc);
        self.b.def_var(self.exit_retired, retired);
        self.b.def_var(self.exit_status, status_value);
        let rung = if self.lazy {
            self.first_writes.iter().take_while(|&&first| first < completed).count()
        } else {
            self.written.len()
        };
        let ladder = usize::from(self.chaining && status == DONE);
        let rung = self.rung(ladder, rung);
        self.b.ins().jump(rung, &[]);
    }

    /// Rung `k` of exit ladder `ladder` (see [`Translator::rungs`]).
    fn rung(&mut self, ladder: usize, k: usize) -> cranelift_codegen::ir::Block {
        let rungs = &mut self.rungs[ladder];
        if rungs.len() <= k {
            rungs.resize(k + 1, None);
        }
        match rungs[k] {
            Some(block) => block,
            None => {
                let block = self.b.create_block();
                self.rungs[ladder][k] = Some(block);
                block
            }
        }
    }

    /// The shared tails of the exits, the ladders of [`Translator::rungs`]:
    /// registers, `pc` and `retired` back to the state, then the next
    /// block's code or the status returned.
    fn emit_exit_block(&mut self) {
        let flags = self.flags;
        for ladder in 0..2 {
            if self.rungs[ladder].is_empty() {
                continue;
            }
            for k in (1..self.rungs[ladder].len()).rev() {
                let (this, below) = (self.rung(ladder, k), self.rung(ladder, k - 1));
                self.b.switch_to_block(this);
                let r = self.written[k - 1];
                let value = self.b.use_var(self.vars[usize::from(r)]);
                self.b.ins().store(flags, value, self.state, X_OFFSET + 8 * i32::from(r));
                self.b.ins().jump(below, &[]);
            }
            let bottom = self.rung(ladder, 0);
            self.b.switch_to_block(bottom);
            let pc = self.b.use_var(self.exit_pc);
            for r in self.fwritten.clone() {
                let value = self.b.use_var(self.fvars[usize::from(r)]);
                self.b.ins().store(flags, value, self.state, F_OFFSET + 8 * i32::from(r));
            }
            self.b.ins().store(flags, pc, self.state, PC_OFFSET);
            let retired = self.b.use_var(self.exit_retired);
            self.b.ins().store(flags, retired, self.state, RETIRED_OFFSET);
            if ladder == 1 {
                self.chain(pc);
            } else {
                let status = self.b.use_var(self.exit_status);
                self.b.ins().return_(&[status]);
            }
        }
    }

    /// After a [`DONE`] exit to `pc`: jumps to the compiled code of the
    /// block the hart's jump cache holds for `pc`, if any (it then decides
    /// itself whether it may run), else returns to the run loop. The probe
    /// is [`JumpCache::contains`] in host code: the slot's tag, and the
    /// block's code, which is 0 unless it is compiled and valid.
    fn chain(&mut self, pc: Value) {
        let flags = self.flags;
        let layout = JumpCache::layout();
        let (found, leave) = (self.b.create_block(), self.b.create_block());
        let slot = self.probe(pc, leave);
        let block = self.b.ins().load(self.pointer, flags, slot, layout.slot_block);
        let code_at = self.b.ins().iadd_imm_s(block, i64::from(layout.block_code));
        let code = self.b.ins().atomic_load(self.pointer, flags, code_at);
        self.b.ins().brif(code, found, &[], leave, &[]);

        self.b.switch_to_block(found);
        let chains = self.b.ins().load(types::I64, flags, self.state, CHAINS_OFFSET);
        let chains = self.b.ins().iadd_imm_s(chains, 1);
        self.b.ins().store(flags, chains, self.state, CHAINS_OFFSET);
        let signature = self.b.import_signature(self.block_signature.clone());
        self.b.ins().return_call_indirect(signature, code, &[self.state]);

        self.b.switch_to_block(leave);
        let done = self.b.ins().iconst(types::I32, i64::from(DONE));
        self.b.ins().return_(&[done]);
    }

    /// Goes on with the address of the slot of the hart's jump cache that
    /// holds a block for `pc`, else jumps to `miss`: [`JumpCache::contains`]
    /// in host code, less the block's validity.
    fn probe(&mut self, pc: Value, miss: cranelift_codegen::ir::Block) -> Value {
        let (flags, layout) = (self.flags, JumpCache::layout());
        // The slot's offset, ((pc >> 1) & mask) << shift, in two steps: pc
        // has no bit 0.
        let shifted = self.b.ins().ishl_imm_u(pc, i64::from(layout.slot_shift) - 1);
        let offset = self.b.ins().band_imm_s(shifted, (layout.index_mask << layout.slot_shift) as i64);
        let base = self.b.ins().load(self.pointer, flags, self.state, JUMP_SLOTS_OFFSET);
        let slot = self.b.ins().iadd(base, offset);
        let tag = self.b.ins().load(types::I64, flags, slot, layout.slot_tag);
        let hit = self.b.create_block();
        let other_pc = self.b.ins().icmp(IntCC::NotEqual, tag, pc);
        self.b.ins().brif(other_pc, miss, &[], hit, &[]);
        self.b.switch_to_block(hit);
        slot
    }

    /// Exits to `target` when `condition` holds, else carries on.
    fn exit_if(&mut self, condition: Value, target: Target, completed: usize, status: u32) {
        let (leave, stay) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(condition, leave, &[], stay, &[]);
        if status == TRAPPED {
            self.b.set_cold_block(leave);
        }
        self.b.switch_to_block(leave);
        self.exit(target, completed, status);
        self.b.switch_to_block(stay);
    }

    fn sext32(&mut self, value: Value) -> Value {
        let narrow = self.b.ins().ireduce(types::I32, value);
        self.b.ins().sextend(types::I64, narrow)
    }

    fn bool_to_reg(&mut self, condition: Value) -> Value {
        self.b.ins().uextend(types::I64, condition)
    }

    fn translate(mut self, insts: &[Inst], target: TargetFrontendConfig, miscompile: Option<usize>) {
        // A loop back to the block's start ends the compiled function there:
        // the code after it runs as the next block, so the registers it alone
        // uses do not stay live (and spilled) through the loop.
        let insts = match insts
            .iter()
            .position(|inst| inst.op.format() == crate::decode::Format::Branch && loops_to_start(inst))
        {
            Some(index) => &insts[..=index],
            None => insts,
        };
        // Every register the block touches gets a variable, loaded on entry
        // or (lazy mode) before its first use.
        let (mut used, mut fused): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
        for (index, inst) in insts.iter().enumerate() {
            let operands = operands(inst);
            for r in operands.x_read.into_iter().chain([operands.x_written]) {
                if is_reg(r) && !used.contains(&r) {
                    used.push(r);
                }
            }
            if is_reg(operands.x_written) && !self.written.contains(&operands.x_written) {
                self.written.push(operands.x_written);
                self.first_writes.push(index);
            }
            for r in operands.f_read.into_iter().chain([operands.f_written]).flatten() {
                if !fused.contains(&r) {
                    fused.push(r);
                }
            }
            if let Some(r) = operands.f_written
                && !self.fwritten.contains(&r)
            {
                self.fwritten.push(r);
            }
        }
        self.len = insts.len();
        self.skips = forward_skips(insts);
        self.has_skips = self.skips.iter().any(Option::is_some);
        self.joins = vec![None; insts.len()];
        for &target in self.skips.iter().flatten() {
            if self.joins[target].is_none() {
                self.joins[target] = Some(self.b.create_block());
            }
        }
        if !self.tlb && !self.log_accesses {
            self.ram_groups = ram_groups(insts, &self.joins);
        }
        // A jump or branch back to the start loops inside the function: then
        // every register the block uses is loaded on entry, since a later
        // pass may leave through any exit with any register written.
        // So is every register of a function with forward branches inside
        // it: a register first read in the code such a branch skips would
        // have no value on the branch's path.
        self.lazy = !insts.iter().any(loops_to_start) && !self.has_skips;
        // A block runs only if a whole pass fits the budget and nobody asks
        // for attention: that is checked here rather than by the caller, so
        // that other blocks can jump straight in.
        let (refuse, body) = (self.b.create_block(), self.b.create_block());
        let retired = self.b.ins().load(types::I64, self.flags, self.state, RETIRED_OFFSET);
        let limit = self.b.ins().load(types::I64, self.flags, self.state, LIMIT_OFFSET);
        // The run loop enters compiled code with `retired` at most the limit.
        let room = self.b.ins().isub(limit, retired);
        let fits = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, room, self.len as i64);
        self.b.ins().brif(fits, body, &[], refuse, &[]);
        self.b.switch_to_block(refuse);
        self.b.set_cold_block(refuse);
        let stopped = self.b.ins().iconst(types::I32, i64::from(STOPPED));
        self.b.ins().return_(&[stopped]);
        self.b.switch_to_block(body);
        if !self.lazy {
            let spare = self.b.ins().iadd_imm_s(room, -(self.len as i64));
            self.b.def_var(self.spare, spare);
            for &r in &used {
                self.load_register(r);
            }
        }
        for &r in &fused {
            let value = self.b.ins().load(types::F64, self.flags, self.state, F_OFFSET + 8 * i32::from(r));
            self.b.def_var(self.fvars[usize::from(r)], value);
        }
        self.block_entry_float(insts);
        self.b.ins().jump(self.header, &[]);
        self.b.switch_to_block(self.header);
        if self.has_skips {
            let none = self.b.ins().iconst(types::I64, 0);
            self.b.def_var(self.skipped, none);
        }
        self.pass_start_float();
        let mut ended = false;
        for (index, inst) in insts.iter().enumerate() {
            if let Some(join) = self.joins[index].take() {
                self.b.ins().jump(join, &[]);
                self.b.switch_to_block(join);
                self.join_float();
            }
            // In lazy mode a register gets its value here, on the straight
            // path every later instruction and exit comes after.
            for r in operands(inst).x_read {
                if is_reg(r) && !self.loaded[usize::from(r)] {
                    self.load_register(r);
                }
            }
            ended = self.instruction(index, inst);
            if ended {
                break;
            }
            if miscompile == Some(index) && is_reg(inst.rd) && !inst.op.format().fp_destination() {
                let right = self.b.use_var(self.vars[usize::from(inst.rd)]);
                let wrong = self.b.ins().iadd_imm_s(right, 1);
                self.b.def_var(self.vars[usize::from(inst.rd)], wrong);
            }
        }
        if !ended {
            let last = &insts[insts.len() - 1];
            self.exit(Target::Offset(i64::from(last.offset) + i64::from(last.len)), insts.len(), DONE);
        }
        // An instruction that always traps ended the function early: a
        // forward branch over it leaves the function where it lands.
        for (index, inst) in insts.iter().enumerate() {
            if let Some(join) = self.joins[index].take() {
                self.b.switch_to_block(join);
                self.exit(Target::Offset(i64::from(inst.offset)), index, DONE);
            }
        }
        self.emit_exit_block();
        self.b.seal_all_blocks();
        self.b.finalize(target);
    }

    /// Emits one instruction; `true` if it ends the block.
    fn instruction(&mut self, index: usize, inst: &Inst) -> bool {
        use Op::*;
        let imm = i64::from(inst.imm);
        let rd = inst.rd;
        let at = i64::from(inst.offset);
        if float::is_float(inst.op) {
            return self.float(index, inst, at);
        }
        if atomic::is_atomic(inst.op) {
            let value = self.atomic(index, inst, at);
            self.write(rd, value);
            return false;
        }
        let a = self.read(inst.rs1);
        // Read lazily: only R-type, branches and stores have rs2.
        let b_of = |this: &mut Self| this.read(inst.rs2);
        let value = match inst.op {
            Lui => self.b.ins().iconst(types::I64, imm),
            Auipc => self.pc_at(at + imm),
            Jal => {
                self.link(rd, at + i64::from(inst.len));
                if loops_to_start(inst) {
                    self.loop_back(index);
                } else {
                    self.exit(Target::Offset(at + imm), index + 1, DONE);
                }
                return true;
            }
            Jalr => {
                let sum = self.b.ins().iadd_imm_s(a, imm);
                let target = self.b.ins().band_imm_s(sum, !1);
                self.link(rd, at + i64::from(inst.len));
                self.exit(Target::Address(target), index + 1, DONE);
                return true;
            }
            Beq | Bne | Blt | Bge | Bltu | Bgeu => {
                let cc = match inst.op {
                    Beq => IntCC::Equal,
                    Bne => IntCC::NotEqual,
                    Blt => IntCC::SignedLessThan,
                    Bge => IntCC::SignedGreaterThanOrEqual,
                    Bltu => IntCC::UnsignedLessThan,
                    _ => IntCC::UnsignedGreaterThanOrEqual,
                };
                let b = b_of(self);
                let taken = self.b.ins().icmp(cc, a, b);
                if loops_to_start(inst) {
                    let (back, on) = (self.b.create_block(), self.b.create_block());
                    self.b.ins().brif(taken, back, &[], on, &[]);
                    self.b.switch_to_block(back);
                    self.loop_back(index);
                    self.b.switch_to_block(on);
                } else if let Some(target) = self.skips[index] {
                    let (skip, on) = (self.b.create_block(), self.b.create_block());
                    self.b.ins().brif(taken, skip, &[], on, &[]);
                    self.b.switch_to_block(skip);
                    let skipped = self.b.use_var(self.skipped);
                    let skipped = self.b.ins().iadd_imm_s(skipped, (target - index - 1) as i64);
                    self.b.def_var(self.skipped, skipped);
                    let join = self.joins[target].expect("a forward branch's target has its block");
                    self.b.ins().jump(join, &[]);
                    self.b.switch_to_block(on);
                } else {
                    self.exit_if(taken, Target::Offset(at + imm), index + 1, DONE);
                }
                return false;
            }
            Lb | Lh | Lw | Ld | Lbu | Lhu | Lwu => {
                let memory = inst.op.memory().expect("a load accesses memory");
                let loaded = if memory.signed { Loaded::Signed } else { Loaded::Unsigned };
                self.load_as(index, at, a, imm, i64::from(memory.size), loaded)
            }
            Sb | Sh | Sw | Sd => {
                let size = inst.op.memory().expect("a store accesses memory").size;
                let b = b_of(self);
                self.store(index, at, a, imm, i64::from(size), b);
                return false;
            }
            Fence => {
                self.b.ins().fence();
                return false;
            }
            Addi => self.b.ins().iadd_imm_s(a, imm),
            Slti => {
                let c = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, a, imm);
                self.bool_to_reg(c)
            }
            Sltiu => {
                let c = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, a, imm);
                self.bool_to_reg(c)
            }
            Xori => self.b.ins().bxor_imm_s(a, imm),
            Ori => self.b.ins().bor_imm_s(a, imm),
            Andi => self.b.ins().band_imm_s(a, imm),
            Slli => self.b.ins().ishl_imm_u(a, imm & 63),
            Srli => self.b.ins().ushr_imm_u(a, imm & 63),
            Srai => self.b.ins().sshr_imm_u(a, imm & 63),
            Addiw => {
                let sum = self.b.ins().iadd_imm_s(a, imm);
                self.sext32(sum)
            }
            Slliw | Srliw | Sraiw => {
                let narrow = self.b.ins().ireduce(types::I32, a);
                let shifted = match inst.op {
                    Slliw => self.b.ins().ishl_imm_u(narrow, imm & 31),
                    Srliw => self.b.ins().ushr_imm_u(narrow, imm & 31),
                    _ => self.b.ins().sshr_imm_u(narrow, imm & 31),
                };
                self.b.ins().sextend(types::I64, shifted)
            }
            _ => {
                let b = b_of(self);
                self.register_op(inst.op, a, b)
            }
        };
        self.write(rd, value);
        false
    }

    /// A jump from instruction `index`, the block's last, back to its
    /// start: runs the block again in compiled code when another whole pass
    /// fits the run's slice, else exits there.
    fn loop_back(&mut self, index: usize) {
        debug_assert_eq!(index + 1, self.len, "a loop back ends the block");
        let (again, leave) = (self.b.create_block(), self.b.create_block());
        let spare = self.b.use_var(self.spare);
        // Instructions a forward branch skipped did not retire: the slice
        // has them left too.
        let spare = if self.has_skips {
            let skipped = self.b.use_var(self.skipped);
            self.b.ins().iadd(spare, skipped)
        } else {
            spare
        };
        let fits = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, spare, self.len as i64);
        self.b.ins().brif(fits, again, &[], leave, &[]);
        self.b.switch_to_block(again);
        let spare = self.b.ins().iadd_imm_s(spare, -(self.len as i64));
        self.b.def_var(self.spare, spare);
        self.b.ins().jump(self.header, &[]);
        self.b.switch_to_block(leave);
        self.exit(Target::Offset(0), index + 1, STOPPED);
    }

    fn sign_extend(&mut self, value: Value, from: Type) -> Value {
        let narrow = self.b.ins().ireduce(from, value);
        self.b.ins().sextend(types::I64, narrow)
    }

    /// R-type arithmetic, RV64I and M.
    fn register_op(&mut self, op: Op, a: Value, b: Value) -> Value {
        use Op::*;
        match op {
            Add => self.b.ins().iadd(a, b),
            Sub => self.b.ins().isub(a, b),
            Sll => self.b.ins().ishl(a, b),
            Srl => self.b.ins().ushr(a, b),
            Sra => self.b.ins().sshr(a, b),
            Xor => self.b.ins().bxor(a, b),
            Or => self.b.ins().bor(a, b),
            And => self.b.ins().band(a, b),
            Slt | Sltu => {
                let cc = if op == Slt { IntCC::SignedLessThan } else { IntCC::UnsignedLessThan };
                let c = self.b.ins().icmp(cc, a, b);
                self.bool_to_reg(c)
            }
            Addw | Subw | Mulw => {
                let r = match op {
                    Addw => self.b.ins().iadd(a, b),
                    Subw => self.b.ins().isub(a, b),
                    _ => self.b.ins().imul(a, b),
                };
                self.sext32(r)
            }
            Sllw | Srlw | Sraw => {
                let (a32, b32) = (self.b.ins().ireduce(types::I32, a), self.b.ins().ireduce(types::I32, b));
                let r = match op {
                    Sllw => self.b.ins().ishl(a32, b32),
                    Srlw => self.b.ins().ushr(a32, b32),
                    _ => self.b.ins().sshr(a32, b32),
                };
                self.b.ins().sextend(types::I64, r)
            }
            Mul => self.b.ins().imul(a, b),
            Mulh => self.b.ins().smulhi(a, b),
            Mulhu => self.b.ins().umulhi(a, b),
            Mulhsu => {
                // a × b with a signed: the unsigned high half, less b when a < 0.
                let high = self.b.ins().umulhi(a, b);
                let negative = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, a, 0);
                let zero = self.b.ins().iconst(types::I64, 0);
                let correction = self.b.ins().select(negative, b, zero);
                self.b.ins().isub(high, correction)
            }
            Div | Divu | Rem | Remu => self.divide(op, a, b, types::I64),
            _ => {
                let (a32, b32) = (self.b.ins().ireduce(types::I32, a), self.b.ins().ireduce(types::I32, b));
                let r = self.divide(op, a32, b32, types::I32);
                self.b.ins().sextend(types::I64, r)
            }
        }
    }

    /// Division with RISC-V's results where the host would trap: x / 0 is
    /// all ones, x % 0 is x, MIN / -1 is MIN and MIN % -1 is 0.
    fn divide(&mut self, op: Op, a: Value, b: Value, ty: Type) -> Value {
        use Op::*;
        let zero = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
        let signed = matches!(op, Div | Rem | Divw | Remw);
        let unsafe_divisor = if signed {
            let min = if ty == types::I32 { i64::from(i32::MIN) } else { i64::MIN };
            let a_min = self.b.ins().icmp_imm_s(IntCC::Equal, a, min);
            let b_minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
            let overflow = self.b.ins().band(a_min, b_minus_one);
            self.b.ins().bor(zero, overflow)
        } else {
            zero
        };
        let one = self.b.ins().iconst(ty, 1);
        // Dividing by 1 instead gives MIN / 1 = MIN and MIN % 1 = 0, as wanted.
        let divisor = self.b.ins().select(unsafe_divisor, one, b);
        let (quotient_or_rest, on_zero) = match op {
            Div | Divw => (self.b.ins().sdiv(a, divisor), self.b.ins().iconst(ty, -1)),
            Divu | Divuw => (self.b.ins().udiv(a, divisor), self.b.ins().iconst(ty, -1)),
            Rem | Remw => (self.b.ins().srem(a, divisor), a),
            _ => (self.b.ins().urem(a, divisor), a),
        };
        self.b.ins().select(zero, on_zero, quotient_or_rest)
    }

    /// Goes on, with the host address of a `size`-byte access (a load, or
    /// a store or AMO if `store`) at `address` and, for a store, its RAM
    /// offset (which its marks are found by; none when its [`RamGroup`]
    /// tested them already), when compiled code may make it directly, else
    /// jumps to `slow`.
    ///
    /// Two ways lead there. Inside RAM's direct span ([`Frame::span`], 0
    /// while addresses are checked by paging or PMP) the address is
    /// physical; misaligned loads are fine there, stores and AMOs must be
    /// aligned. Outside it, in a block compiled for a checked data context
    /// ([`Translator::tlb`]), the hart's fast TLB for the access
    /// ([`crate::memory::mmu::FastEntry`]) may hold the page in the current data
    /// context ([`Frame::tlb_context`]); the access must then be aligned, so
    /// that it stays in the page. In a block compiled for plain physical
    /// accesses the probe would never hit, and its temporaries would take
    /// callee-saved registers, saved and restored at every chained jump:
    /// such a block leaves for the run loop instead. What this needs is read
    /// from the frame at each access rather than held in host registers for
    /// the whole block, where it would crowd out the guest's.
    fn ram_access(
        &mut self,
        index: usize,
        base: Value,
        address: Value,
        size: i64,
        store: bool,
        slow: cranelift_codegen::ir::Block,
    ) -> (Value, Option<Value>) {
        if let Some(covered) = self.in_checked_group(index, base, slow) {
            let ram_offset = self.ram_offset(address);
            if store && !covered.aligned {
                self.unless_misaligned(address, size, slow);
            }
            let ram_host = self.b.ins().load(self.pointer, self.flags, self.state, RAM_HOST_OFFSET);
            let host = self.b.ins().iadd(ram_host, ram_offset);
            return (host, (store && !covered.marked).then_some(ram_offset));
        }
        let (direct, probe, go) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        let host = self.b.append_block_param(go, self.pointer);
        // A load needs no offset: an unused block parameter would still cost
        // a register and a move on the way in.
        let offset = store.then(|| self.b.append_block_param(go, types::I64));
        let go_args = |host: Value, offset: Option<Value>| -> Vec<BlockArg> {
            [Some(host), offset].into_iter().flatten().map(BlockArg::Value).collect()
        };
        let ram_offset = self.ram_offset(address);
        let span = self.b.ins().load(types::I64, self.flags, self.state, SPAN_OFFSET);
        let in_ram = self.b.ins().icmp(IntCC::UnsignedLessThan, ram_offset, span);
        self.b.ins().brif(in_ram, direct, &[], probe, &[]);

        self.b.switch_to_block(direct);
        if store {
            self.unless_misaligned(address, size, slow);
        }
        let ram_host = self.b.ins().load(self.pointer, self.flags, self.state, RAM_HOST_OFFSET);
        let direct_host = self.b.ins().iadd(ram_host, ram_offset);
        self.b.ins().jump(go, &go_args(direct_host, store.then_some(ram_offset)));

        self.b.switch_to_block(probe);
        if !self.tlb {
            self.b.ins().jump(slow, &[]);
            self.b.switch_to_block(go);
            return (host, offset);
        }
        self.unless_misaligned(address, size, slow);
        let vpn = self.b.ins().ushr_imm_u(address, i64::from(PAGE_SHIFT));
        let index = self.b.ins().band_imm_s(vpn, (FAST_TLB_ENTRIES - 1) as i64);
        let entry_offset = self.b.ins().imul_imm_s(index, FAST_ENTRY_SIZE);
        let table = self.b.ins().load(
            self.pointer,
            self.flags,
            self.state,
            if store { TLB_STORE_OFFSET } else { TLB_LOAD_OFFSET },
        );
        let entry = self.b.ins().iadd(table, entry_offset);
        let tag = self.b.ins().load(types::I64, self.flags, entry, FAST_TAG);
        let context = self.b.ins().load(types::I64, self.flags, self.state, TLB_CONTEXT_OFFSET);
        let key = self.b.ins().bor(vpn, context);
        let miss = self.b.ins().icmp(IntCC::NotEqual, tag, key);
        let hit = self.b.create_block();
        self.b.ins().brif(miss, slow, &[], hit, &[]);
        self.b.switch_to_block(hit);
        let addend = self.b.ins().load(types::I64, self.flags, entry, FAST_ADDEND);
        let tlb_host = self.b.ins().iadd(address, addend);
        let tlb_offset = store.then(|| {
            let ram_host = self.b.ins().load(self.pointer, self.flags, self.state, RAM_HOST_OFFSET);
            self.b.ins().isub(tlb_host, ram_host)
        });
        self.b.ins().jump(go, &go_args(tlb_host, tlb_offset));

        self.b.switch_to_block(go);
        (host, offset)
    }

    /// The offset of guest physical `address` from RAM's base.
    fn ram_offset(&mut self, address: Value) -> Value {
        match self.ram_base {
            Some(base) => self.b.ins().iadd_imm_s(address, base.wrapping_neg() as i64),
            None => {
                let base = self.b.ins().load(types::I64, self.flags, self.state, RAM_BASE_OFFSET);
                self.b.ins().isub(address, base)
            }
        }
    }

    /// Whether the access of instruction `index`, at `base` plus its
    /// immediate, is known to lie in RAM's direct span: it belongs to a
    /// [`RamGroup`], whose first access checks (here) that every access of
    /// the group does, and else jumps to `slow`. The group's accesses lie
    /// between its lowest and highest address, less than a page apart, so
    /// both in the span means all are. What else the group's first access
    /// checked comes back (see [`RamGroup`]).
    fn in_checked_group(&mut self, index: usize, base: Value, slow: cranelift_codegen::ir::Block) -> Option<Covered> {
        match self.ram_groups.get(index).copied().flatten() {
            None => None,
            Some(RamGroup::Member(covered)) => Some(covered),
            Some(RamGroup::First { low, high, align, marks, covered }) => {
                self.unless_misaligned(base, align, slow);
                for imm in [low, high] {
                    let address = self.b.ins().iadd_imm_s(base, imm);
                    let ram_offset = self.ram_offset(address);
                    let span = self.b.ins().load(types::I64, self.flags, self.state, SPAN_OFFSET);
                    let in_ram = self.b.ins().icmp(IntCC::UnsignedLessThan, ram_offset, span);
                    let next = self.b.create_block();
                    self.b.ins().brif(in_ram, next, &[], slow, &[]);
                    self.b.switch_to_block(next);
                }
                if let Some((start, end)) = marks {
                    // Within 64 bytes: the lines of the first and last byte.
                    let mut touched = None;
                    for imm in [start, end - 1] {
                        let address = self.b.ins().iadd_imm_s(base, imm);
                        let ram_offset = self.ram_offset(address);
                        let marked = self.line_marked(ram_offset, MARK_ANY);
                        touched = Some(touched.map_or(marked, |other| self.b.ins().bor(other, marked)));
                    }
                    let next = self.b.create_block();
                    self.b.ins().brif(touched.expect("two lines"), slow, &[], next, &[]);
                    self.b.switch_to_block(next);
                }
                Some(covered)
            }
        }
    }

    /// Goes on when a `size`-byte access at `address` is aligned, else
    /// jumps to `slow`.
    fn unless_misaligned(&mut self, address: Value, size: i64, slow: cranelift_codegen::ir::Block) {
        if size > 1 {
            let misaligned_bits = self.b.ins().band_imm_s(address, size - 1);
            let aligned = self.b.create_block();
            self.b.ins().brif(misaligned_bits, slow, &[], aligned, &[]);
            self.b.switch_to_block(aligned);
        }
    }

    /// A load: straight from host memory when [`Translator::ram_access`]
    /// allows (misaligned too: RAM answers those as the interpreter would),
    /// else the block leaves for the run loop to make it ([`SLOW`]; in
    /// lockstep through [`load_helper`], which exits with the trap if it
    /// faults). The value comes back zero-extended.
    fn load(&mut self, index: usize, at: i64, base: Value, imm: i64, size: i64) -> Value {
        self.load_as(index, at, base, imm, size, Loaded::Unsigned)
    }

    /// A load whose value comes back as `loaded` says (the extension is
    /// part of the host load).
    fn load_as(&mut self, index: usize, at: i64, base: Value, imm: i64, size: i64, loaded: Loaded) -> Value {
        let address = self.b.ins().iadd_imm_s(base, imm);
        let (slow, merge) = (self.b.create_block(), self.b.create_block());
        let ty = if loaded == Loaded::Float { types::F64 } else { types::I64 };
        let result = self.b.append_block_param(merge, ty);
        let (host, _) = self.ram_access(index, base, address, size, false, slow);
        let signed = loaded == Loaded::Signed;
        let value = match size {
            1 if signed => self.b.ins().sload8(types::I64, self.flags, host, 0),
            2 if signed => self.b.ins().sload16(types::I64, self.flags, host, 0),
            4 if signed => self.b.ins().sload32(self.flags, host, 0),
            1 => self.b.ins().uload8(types::I64, self.flags, host, 0),
            2 => self.b.ins().uload16(types::I64, self.flags, host, 0),
            4 => self.b.ins().uload32(self.flags, host, 0),
            _ => self.b.ins().load(ty, self.flags, host, 0),
        };
        self.b.ins().jump(merge, &[BlockArg::Value(value)]);

        self.b.set_cold_block(slow);
        self.b.switch_to_block(slow);
        if !self.log_accesses {
            self.slow_exit(index, at, address, size, false);
            self.b.switch_to_block(merge);
            return result;
        }
        let bytes = self.b.ins().iconst(types::I64, size);
        let retired = self.retired_at(index);
        let helper = self.b.ins().iconst(self.pointer, load_helper as *const () as usize as i64);
        let signature = self.b.import_signature(self.load_sig.clone());
        let env = self.env();
        let call = self.b.ins().call_indirect(signature, helper, &[self.state, env, address, bytes, retired]);
        let status = self.b.inst_results(call)[0];
        self.exit_if(status, Target::Offset(at), index, TRAPPED);
        let value = self.b.ins().load(ty, self.flags, self.state, HELPER_OUT_OFFSET);
        let value = match size {
            1 if signed => self.sign_extend(value, types::I8),
            2 if signed => self.sign_extend(value, types::I16),
            4 if signed => self.sign_extend(value, types::I32),
            _ => value,
        };
        self.b.ins().jump(merge, &[BlockArg::Value(value)]);

        self.b.switch_to_block(merge);
        result
    }

    /// A store: straight to host memory when [`Translator::ram_access`]
    /// allows and the line holds no code, no watched bytes and no
    /// reservation, else the block leaves for the run loop to make it
    /// ([`SLOW`]; in lockstep through [`store_helper`], which exits with the
    /// trap if it faults). `value` is an `i64`, or an `f64` for an 8-byte
    /// store.
    fn store(&mut self, index: usize, at: i64, base: Value, imm: i64, size: i64, value: Value) {
        let address = self.b.ins().iadd_imm_s(base, imm);
        let (fast, slow, done) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        let (host, offset) = self.ram_access(index, base, address, size, true, slow);
        match offset {
            Some(offset) => {
                let touched = self.line_marked(offset, MARK_ANY);
                self.b.ins().brif(touched, slow, &[], fast, &[]);
            }
            None => {
                self.b.ins().jump(fast, &[]);
            }
        }

        self.b.switch_to_block(fast);
        match size {
            1 => self.b.ins().istore8(self.flags, value, host, 0),
            2 => self.b.ins().istore16(self.flags, value, host, 0),
            4 => self.b.ins().istore32(self.flags, value, host, 0),
            _ => self.b.ins().store(self.flags, value, host, 0),
        };
        self.b.ins().jump(done, &[]);

        self.b.set_cold_block(slow);
        self.b.switch_to_block(slow);
        if !self.log_accesses {
            self.slow_exit(index, at, address, size, true);
            self.b.switch_to_block(done);
            return;
        }
        let size = self.b.ins().iconst(types::I64, size);
        let retired = self.retired_at(index);
        let value = match self.b.func.dfg.value_type(value) {
            types::F64 => self.b.ins().bitcast(types::I64, MemFlagsData::new(), value),
            _ => value,
        };
        let env = self.env();
        let helper = self.b.ins().iconst(self.pointer, store_helper as *const () as usize as i64);
        let signature = self.b.import_signature(self.store_sig.clone());
        let call = self.b.ins().call_indirect(signature, helper, &[self.state, env, address, size, value, retired]);
        let status = self.b.inst_results(call)[0];
        self.exit_if(status, Target::Offset(at), index, TRAPPED);
        self.b.ins().jump(done, &[]);

        self.b.switch_to_block(done);
    }

    /// Leaves the block before instruction `index` (at `at`), a `size`-byte
    /// load or store at `address`, for the run loop to make (see [`SLOW`]).
    fn slow_exit(&mut self, index: usize, at: i64, address: Value, size: i64, store: bool) {
        let kind = self.b.ins().iconst(types::I64, size | if store { SLOW_STORE as i64 } else { 0 });
        self.b.ins().store(self.flags, address, self.state, SLOW_ADDRESS_OFFSET);
        self.b.ins().store(self.flags, kind, self.state, SLOW_KIND_OFFSET);
        self.exit(Target::Offset(at), index, SLOW);
    }

    /// Nonzero when the 64-byte line holding RAM offset `offset` carries one
    /// of `marks` (bits of its byte of marks, see [`crate::Ram`]'s
    /// `raw_parts`). An aligned access of up to 8 bytes lies inside one
    /// line: its byte says it all. A plain load: another thread may mark
    /// the line at any time, but each store that this check guards comes
    /// between it and the next, so Cranelift cannot reuse an earlier value.
    fn line_marked(&mut self, offset: Value, marks: u8) -> Value {
        let line = self.b.ins().ushr_imm_u(offset, i64::from(LINE_SHIFT));
        let ram_marks = self.b.ins().load(self.pointer, self.flags, self.state, RAM_MARKS_OFFSET);
        let at = self.b.ins().iadd(ram_marks, line);
        let byte = self.b.ins().uload8(types::I32, self.flags, at, 0);
        if marks == MARK_ANY { byte } else { self.b.ins().band_imm_u(byte, i64::from(marks)) }
    }

    /// `retired` before instruction `index` of the current pass: the time a
    /// device sees for its access.
    fn retired_at(&mut self, index: usize) -> Value {
        if self.lazy {
            // One pass: `retired` in the state is the count at its start.
            let entry = self.b.ins().load(types::I64, self.flags, self.state, RETIRED_OFFSET);
            return self.b.ins().iadd_imm_s(entry, index as i64);
        }
        // The pass ends `spare` short of the limit. An atomic load, which
        // Cranelift never merges with the entry's: a merged one would hold
        // the limit in a host register through the whole loop.
        let at = self.b.ins().iadd_imm_s(self.state, i64::from(LIMIT_OFFSET));
        let limit = self.b.ins().atomic_load(types::I64, self.flags, at);
        let spare = self.b.use_var(self.spare);
        let pass_end = self.b.ins().isub(limit, spare);
        let retired = self.b.ins().iadd_imm_s(pass_end, index as i64 - self.len as i64);
        if self.has_skips {
            let skipped = self.b.use_var(self.skipped);
            return self.b.ins().isub(retired, skipped);
        }
        retired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::BlockKey;

    /// A block at `pc`: `a0 += 1`, then a jump back to it.
    fn block(pc: u64) -> Arc<Block> {
        let insts = [
            Inst { rd: 10, rs1: 10, imm: 1, ..Inst::new(Op::Addi, 4) },
            Inst { rd: X0_SINK, imm: -4, ..Inst::new(Op::Jal, 4) },
        ];
        Arc::new(Block::new(BlockKey { pc, mode: 0 }, Box::new(insts), Box::new([])))
    }

    /// Compiles a new block, which retires the generation before (the
    /// limit is a byte), and says how many generations are retired and
    /// freed by then.
    fn compile_next(jit: &Jit, pc: u64) -> (Arc<Block>, (u64, u64)) {
        let block = block(pc);
        assert!(jit.core.compile(&block, pc, false).is_some());
        let stats = jit.stats();
        (block, (stats.generations_retired, stats.generations_freed))
    }

    #[test]
    fn a_retired_generation_is_freed_once_no_hart_entered_compiled_code_before_it() {
        let jit = Jit::with_config(JitConfig::new(0).code_limit(1)).expect("a JIT for this host");
        let (seat, other) = (jit.seat(), jit.seat());
        let (first, counts) = compile_next(&jit, 0x8000_0000);
        assert_eq!(counts, (0, 0));
        let running = jit.sit(&seat, &first).expect("a valid block is entered");
        // The first generation is retired while a hart runs its code.
        let (second, counts) = compile_next(&jit, 0x8000_1000);
        assert!(!first.is_valid());
        assert_eq!(counts, (1, 0));
        // A hart entering compiled code now is kept out of the retired block,
        // and holds only the generations after it.
        assert!(jit.sit(&other, &first).is_none());
        let other_running = jit.sit(&other, &second).expect("a valid block is entered");
        drop(running);
        let (_, counts) = compile_next(&jit, 0x8000_2000);
        assert_eq!(counts, (2, 1), "the first generation is freed, the second is run");
        drop(other_running);
        let (_, counts) = compile_next(&jit, 0x8000_3000);
        assert_eq!(counts, (3, 3));
    }
}
