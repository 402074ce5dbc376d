//! The JIT tier: Cranelift compiles hot blocks to host code.
//!
//! A block the interpreter has run `threshold` times is compiled once (by
//! the hart that finds it hot, or on the JIT's own thread) into a function
//! of the hart's `Cpu`: its architectural state, and the frame beside it
//! that gives the rest (environment, run limit at the end of the run's
//! `SLICE`, RAM). Inside
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
//! instructions before it (`BlockExit::Slow`), the interpreter runs that instruction
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
//! The files follow the path of a block: `config` (how the JIT works and
//! what it counts), `generations` (where code lives, and compiling a block
//! into it), `analysis` (what the translator works out before emitting),
//! `translator` (the function builder), `memory`, `float` and `atomic`
//! (what the translator emits for accesses, F/D and A), `abi` and `frame`
//! (the interface between compiled code and Rust), `lockstep` (checking
//! compiled code against the interpreter) and `listing` (`-d out_asm`).
//!
//! Code lives in generations: `cranelift-jit` cannot free single
//! functions, so each generation is a module of its own, and a block that
//! is invalidated leaves its code behind in it. Once a generation holds
//! [`JitConfig::code_limit`] bytes, the JIT retires it: every block compiled
//! into it is invalidated (harts translate and compile them again, into the
//! next generation), and its memory is freed as soon as no hart can still
//! be running it. Harts tell through their `HartEpoch`: the generation count
//! they saw when they last entered compiled code, or none while they run
//! none.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_module::Module;

use crate::cache::{Block, BlockCode, JumpCache};
use crate::cpu::Cpu;
use crate::env::Env;
use crate::memory::mmu::{self};

/// Defines a function that compiled code calls, in the calling convention
/// of [`abi::helper_signature`]: `extern "win64"` on x86-64, `extern "C"`
/// elsewhere.
macro_rules! helper {
    ($(#[$attribute:meta])* $vis:vis unsafe fn $name:ident($($argument:ident: $type:ty),* $(,)?) $(-> $result:ty)? $body:block) => {
        $(#[$attribute])*
        #[cfg(target_arch = "x86_64")]
        $vis unsafe extern "win64" fn $name($($argument: $type),*) $(-> $result)? $body

        $(#[$attribute])*
        #[cfg(not(target_arch = "x86_64"))]
        $vis unsafe extern "C" fn $name($($argument: $type),*) $(-> $result)? $body
    };
}

mod abi;
pub(crate) mod analysis;
mod atomic;
mod config;
mod float;
pub(crate) mod frame;
mod generations;
mod listing;
pub(crate) mod lockstep;
mod memory;
mod queue;
mod translator;

pub(crate) use abi::{BlockExit, SLICE, after_slow_access};
pub(crate) use translator::AccessMode;

pub use config::{COMPILE_BUCKET_MICROS, DEFAULT_CODE_LIMIT, DEFAULT_THRESHOLD, JitConfig, JitError, JitStats};
pub use lockstep::{Divergence, MemoryAccess, MemoryOutcome};
use translator::Exits;

use frame::Frame;
use generations::{Backend, Compiler, HartEpoch, Pinned, new_module};
use lockstep::Lockstep;
use queue::{CompileQueue, Job};

/// Buckets of the compile-time histogram (see [`JitStats::median_compile_micros`]):
/// up to 20 ms in steps of [`COMPILE_BUCKET_MICROS`].
const COMPILE_BUCKETS: usize = 2000;

/// Whether a run of a block counts towards making it hot.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Heat {
    /// It does.
    Counts,
    /// It does not: the run resumes a block the budget cut short (see
    /// `Dispatcher::resume_pc`).
    Ignored,
}

/// A hart's place at the machine's JIT: the JIT, the hart's epoch record (see
/// [`super::Jit::pin`]) and, in lockstep, its log of compiled code's accesses.
#[derive(Debug)]
pub(crate) struct HartJit {
    pub(crate) jit: Arc<Jit>,
    pub(crate) epoch: Arc<HartEpoch>,
    pub(crate) lockstep: Option<Lockstep>,
}

impl HartJit {
    /// Registers a hart with `jit`.
    pub(crate) fn new(jit: Arc<Jit>) -> HartJit {
        let lockstep = jit.config().lockstep.then(Lockstep::default);
        HartJit { epoch: jit.register_hart(), jit, lockstep }
    }
}

/// The JIT of one machine, shared by its harts. Its code reaches the RAM
/// of the first hart given it directly, with RAM's base as a constant;
/// harts whose RAM starts elsewhere may share it, but all their accesses
/// then take the checked path.
pub struct Jit {
    compiler: Arc<Compiler>,
    /// Where hot blocks wait for the background thread to compile them
    /// ([`JitConfig::background`]), with the pc and data context they were
    /// found hot in; without it the hart that finds a block hot compiles it.
    queue: Option<Arc<CompileQueue>>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Jit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jit").field("config", &self.compiler.config).field("stats", &self.stats()).finish()
    }
}

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
        let exits = if config.lockstep || tracing::enabled!(target: "exec", tracing::Level::TRACE) {
            Exits::Returned
        } else {
            Exits::Chained
        };
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
            exits,
            lockstep,
        };
        let enter = backend.trampoline().ok_or_else(|| JitError("cannot compile the trampoline".into()))?;
        // The trampoline stays; blocks go to generations of their own.
        std::mem::swap(&mut backend.entry, &mut backend.module);
        let background = config.background && !config.lockstep;
        let compiler = Arc::new(Compiler {
            backend: Mutex::new(backend),
            config,
            enter,
            compiled: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            outside_range: AtomicU64::new(0),
            compile_nanos: AtomicU64::new(0),
            compile_times: (0..COMPILE_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            guest_insts: AtomicU64::new(0),
            code_bytes: AtomicU64::new(0),
            generations_retired: AtomicU64::new(0),
            generations_freed: AtomicU64::new(0),
            retirements: AtomicU64::new(0),
            hart_epochs: Mutex::new(Vec::new()),
            ram_base: OnceLock::new(),
        });
        let (queue, worker) = if background {
            let queue = Arc::new(CompileQueue::default());
            let jobs = queue.clone();
            let shared = compiler.clone();
            let worker = std::thread::Builder::new()
                .name("polyhart-jit".into())
                .spawn(move || {
                    // Ends when the JIT closes the queue, without compiling
                    // what is left in it.
                    while let Some(Job { block, pc, access }) = jobs.pop() {
                        if block.is_valid() {
                            block.compiled.get_or_init(|| shared.compile(&block, pc, access));
                        }
                    }
                })
                .map_err(|e| JitError(format!("cannot start the compiler thread: {e}")))?;
            (Some(queue), Some(worker))
        } else {
            (None, None)
        };
        Ok(Jit { compiler, queue, worker })
    }

    /// How this JIT works.
    pub fn config(&self) -> &JitConfig {
        &self.compiler.config
    }

    /// The counters kept at compile time, over all harts (the others are
    /// zero here: see [`JitStats`]).
    pub fn stats(&self) -> JitStats {
        self.compiler.stats()
    }

    /// The compiled code of `block`, entered at `pc`, once it is hot and
    /// compiled. When it turns hot it is compiled at once, or queued for the
    /// background thread (the hart interprets it meanwhile). A run with
    /// [`Heat::Ignored`] does not count towards making it hot. `access` is
    /// the hart's data context ([`AccessMode::Plain`] or
    /// [`AccessMode::Checked`]: whether paging or PMP checks its loads and
    /// stores). The code is made for that context, and runs correctly in
    /// the other too.
    #[inline(always)]
    pub(crate) fn code(&self, block: &Arc<Block>, pc: u64, heat: Heat, access: AccessMode) -> Option<BlockCode> {
        if let Some(code) = block.compiled.get() {
            return *code;
        }
        if heat == Heat::Ignored {
            return None;
        }
        let runs = block.heat.fetch_add(1, Ordering::Relaxed);
        if runs < self.compiler.config.threshold {
            return None;
        }
        match &self.queue {
            None => *block.compiled.get_or_init(|| self.compiler.compile(block, pc, access)),
            Some(queue) => {
                if runs == self.compiler.config.threshold {
                    queue.push(Job { block: block.clone(), pc, access });
                }
                None
            }
        }
    }

    /// A epoch for a hart that runs this JIT's code (see [`super::Jit::pin`]).
    pub(crate) fn register_hart(&self) -> Arc<HartEpoch> {
        let epoch = Arc::new(HartEpoch::default());
        let mut hart_epochs = self.compiler.hart_epochs.lock().unwrap_or_else(|e| e.into_inner());
        hart_epochs.retain(|epoch| epoch.strong_count() > 0);
        hart_epochs.push(Arc::downgrade(&epoch));
        epoch
    }

    /// Notes in `epoch` that its hart is about to run compiled code entered
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
    pub(crate) fn pin<'a>(&self, epoch: &'a HartEpoch, block: &Block) -> Option<Pinned<'a>> {
        epoch.entered.store(self.compiler.retirements.load(Ordering::SeqCst), Ordering::SeqCst);
        let running = Pinned(epoch);
        block.is_valid_now().then_some(running)
    }

    /// Whether this JIT's code may reach directly a RAM that starts at
    /// guest physical address `base`: compiled code has the base of the
    /// first RAM a hart brought as a constant, so a hart whose RAM starts
    /// elsewhere (one JIT shared by unlike machines) must take the checked
    /// path for every access ([`frame::Frame::span`] 0).
    pub(crate) fn bind_ram(&self, base: u64) -> bool {
        *self.compiler.ram_base.get_or_init(|| base) == base
    }

    /// Runs compiled `code` on a hart: the block at `state.pc`, and those
    /// it chains to.
    ///
    /// # Safety
    /// `code` is this JIT's code for the block at `cpu.arch.pc` (in the
    /// hart's fetch context); `cpu`, `env` and what `seat` holds are one
    /// hart's, and nothing else uses them during the call (see [`Seat`]).
    #[inline(always)]
    pub(crate) unsafe fn enter(
        &self,
        code: BlockCode,
        cpu: &mut Cpu,
        env: &Env,
        stop_at: u64,
        seat: Seat<'_>,
    ) -> BlockExit {
        let Seat { lockstep, jump_cache, counters } = seat;
        let direct = &env.direct;
        let jump_slots = jump_cache.slots_address();
        cpu.frame = Frame {
            env: env as *const Env as usize,
            lockstep: lockstep.map_or(0, |lockstep| lockstep as *const Lockstep as usize),
            jump_slots,
            ram_host: direct.ram_host,
            ram_marks: direct.ram_marks,
            ram_base: direct.ram_base,
            // Watchpoints: every access to the interpreter, which looks.
            span: if cpu.data_checked || !env.watchpoints.is_empty() { 0 } else { direct.span },
            limit: stop_at.min(cpu.arch.retired.saturating_add(SLICE)),
            tlb_load: cpu.tlb.fast_load.as_ptr() as usize,
            tlb_store: cpu.tlb.fast_store.as_ptr() as usize,
            tlb_context: if cpu.data_checked && lockstep.is_none() && env.watchpoints.is_empty() {
                mmu::fast_context(&cpu.arch.data_context())
            } else {
                mmu::FAST_NONE
            },
            helper_out: 0,
            helper_in: [0; 3],
            slow_address: 0,
            slow_kind: 0,
            slow_block: 0,
            chains: 0,
            counters,
        };
        // SAFETY: `enter` is the trampoline of `Backend::trampoline`, with
        // this signature; the frame points at the caller's `env` and
        // `jump_cache`, which the caller's contract makes valid for the call.
        let status = unsafe { (self.compiler.enter)(cpu, code.0.as_ptr()) };
        BlockExit::from_status(status)
    }
}

/// What of a hart, besides its state and environment, compiled code
/// reaches (see [`Jit::enter`]).
#[derive(Copy, Clone)]
pub(crate) struct Seat<'a> {
    /// The hart's lockstep log, in lockstep.
    pub(crate) lockstep: Option<&'a Lockstep>,
    /// The jump cache exits look the next block up in.
    pub(crate) jump_cache: &'a JumpCache,
    /// The address of the hart's plugin counters
    /// ([`crate::plugin::COUNTER_CAPACITY`] of them), or 0 when it has
    /// none: then no compiled code counts, since blocks are compiled with
    /// counts only while plugins are installed, and installing or removing
    /// them drops every block.
    pub(crate) counters: usize,
}

impl Drop for Jit {
    fn drop(&mut self) {
        // The worker leaves once the compile in hand (if any) is done.
        if let Some(queue) = self.queue.take() {
            queue.close();
        }
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::BlockKey;
    use crate::decode::{Inst, Op};
    use crate::state::X0_SINK;

    /// A block at `pc`: `a0 += 1`, then a jump back to it.
    fn block(pc: u64) -> Arc<Block> {
        let insts = [
            Inst { rd: 10, rs1: 10, imm: 1, ..Inst::new(Op::Addi, 4) },
            Inst { rd: X0_SINK, imm: -4, ..Inst::new(Op::Jal, 4) },
        ];
        Arc::new(Block::new(BlockKey::at(pc), Box::new(insts), Box::new([])))
    }

    /// Compiles a new block, which retires the generation before (the
    /// limit is a byte), and says how many generations are retired and
    /// freed by then.
    fn compile_next(jit: &Jit, pc: u64) -> (Arc<Block>, (u64, u64)) {
        let block = block(pc);
        assert!(jit.compiler.compile(&block, pc, AccessMode::Plain).is_some());
        let stats = jit.stats();
        (block, (stats.generations_retired, stats.generations_freed))
    }

    #[test]
    fn a_retired_generation_is_freed_once_no_hart_entered_compiled_code_before_it() {
        let jit = Jit::with_config(JitConfig::new(0).code_limit(1)).expect("a JIT for this host");
        let (epoch, other) = (jit.register_hart(), jit.register_hart());
        let (first, counts) = compile_next(&jit, 0x8000_0000);
        assert_eq!(counts, (0, 0));
        let running = jit.pin(&epoch, &first).expect("a valid block is entered");
        // The first generation is retired while a hart runs its code.
        let (second, counts) = compile_next(&jit, 0x8000_1000);
        assert!(!first.is_valid());
        assert_eq!(counts, (1, 0));
        // A hart entering compiled code now is kept out of the retired block,
        // and holds only the generations after it.
        assert!(jit.pin(&other, &first).is_none());
        let other_running = jit.pin(&other, &second).expect("a valid block is entered");
        drop(running);
        let (_, counts) = compile_next(&jit, 0x8000_2000);
        assert_eq!(counts, (2, 1), "the first generation is freed, the second is run");
        drop(other_running);
        let (_, counts) = compile_next(&jit, 0x8000_3000);
        assert_eq!(counts, (3, 3));
    }
}
