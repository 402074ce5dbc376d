//! Code generations: the Cranelift modules compiled code lives in, the
//! compilation of a block into the current one, and the retirement of a
//! full generation, whose memory is freed once no hart can be running it
//! (harts tell through their [`HartEpoch`]).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use cranelift_codegen::Context;
use cranelift_codegen::ir::{AbiParam, InstBuilder, UserFuncName, types};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

use super::abi::{EnterFn, block_signature};
use super::config::{CODE_PAGE, COMPILE_BUCKET_MICROS, JitConfig, JitStats};
use super::translator::{AccessMode, Exits, Translator};
use super::{float, listing};
use crate::cache::{Block, BlockCode};
use crate::decode::{Class, Inst, Op};
use crate::plugin::hooks::Hooks;

/// What the harts and the background compiler share.
pub(super) struct Compiler {
    pub(super) backend: Mutex<Backend>,
    pub(super) config: JitConfig,
    /// The trampoline into compiled code.
    pub(super) enter: EnterFn,
    pub(super) compiled: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) outside_range: AtomicU64,
    pub(super) compile_nanos: AtomicU64,
    /// Blocks by compile time, in buckets of [`COMPILE_BUCKET_MICROS`]
    /// (the last one for everything longer).
    pub(super) compile_times: Box<[AtomicU64]>,
    pub(super) guest_insts: AtomicU64,
    pub(super) code_bytes: AtomicU64,
    pub(super) generations_retired: AtomicU64,
    pub(super) generations_freed: AtomicU64,
    /// Generations retired so far: a hart entering compiled code notes it
    /// in its [`HartEpoch`].
    pub(super) retirements: AtomicU64,
    /// The harts' hart_epochs (a hart that is gone leaves a dead one).
    pub(super) hart_epochs: Mutex<Vec<Weak<HartEpoch>>>,
    /// The guest physical address of RAM's first byte, for the harts whose
    /// RAM starts there (the first hart given this JIT decides; see
    /// [`super::Jit::bind_ram`]): compiled code has it as a constant.
    pub(super) ram_base: OnceLock<u64>,
}

pub(super) struct Backend {
    /// The host, for the modules of new generations.
    pub(super) isa: OwnedTargetIsa,
    /// Holds the trampoline, for as long as the JIT lives.
    pub(super) entry: JITModule,
    /// The current generation's code.
    pub(super) module: JITModule,
    /// Bytes of host code in it.
    pub(super) bytes: u64,
    /// The blocks compiled into it, to invalidate when it is retired.
    pub(super) blocks: Vec<Weak<Block>>,
    /// Retired generations whose memory harts may still be running.
    pub(super) retired: Vec<Retired>,
    pub(super) context: Context,
    pub(super) builder: FunctionBuilderContext,
    pub(super) next_name: u32,
    /// Whether compiled blocks jump to the next block's compiled code: not
    /// in lockstep, which checks one block at a time, nor while `-d exec`
    /// logs every block.
    pub(super) exits: Exits,
    /// Lockstep: every block is compiled for [`AccessMode::Lockstep`].
    pub(super) lockstep: bool,
}

/// A retired generation of code, freed once no hart runs it.
pub(super) struct Retired {
    pub(super) module: JITModule,
    /// The [`Compiler::retirements`] its retirement made: a hart that noted this or a
    /// later one when it entered compiled code cannot reach the generation.
    pub(super) epoch: u64,
}

/// A hart's record for epoch-based reclamation of compiled code: whether
/// it runs compiled code, and the count of retired generations it saw when
/// it entered ([`super::Jit::pin`]). A retired generation is freed once
/// every hart is idle or entered after its retirement. Each hart has its
/// own (a cache line of its own too, as the hart writes it each time it
/// enters compiled code).
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct HartEpoch {
    /// [`Compiler::retirements`] as the hart entered compiled code, or [`IDLE`].
    pub(super) entered: AtomicU64,
}

/// In [`HartEpoch::entered`]: the hart runs no compiled code.
pub(super) const IDLE: u64 = u64::MAX;

impl Default for HartEpoch {
    fn default() -> HartEpoch {
        HartEpoch { entered: AtomicU64::new(IDLE) }
    }
}

/// A hart is pinned, running compiled code, while this lives (see
/// [`super::Jit::pin`]).
pub(crate) struct Pinned<'a>(pub(super) &'a HartEpoch);

impl Drop for Pinned<'_> {
    fn drop(&mut self) {
        self.0.entered.store(IDLE, Ordering::Release);
    }
}

/// A block's host code.
pub(super) struct Compiled {
    pub(super) code: BlockCode,
    /// Its size in bytes.
    pub(super) size: usize,
}

impl Compiler {
    pub(super) fn stats(&self) -> JitStats {
        JitStats {
            blocks_compiled: self.compiled.load(Ordering::Relaxed),
            blocks_rejected: self.rejected.load(Ordering::Relaxed),
            blocks_outside_range: self.outside_range.load(Ordering::Relaxed),
            compile_micros: self.compile_nanos.load(Ordering::Relaxed) / 1000,
            median_compile_micros: self.median_compile_micros(),
            guest_insts_compiled: self.guest_insts.load(Ordering::Relaxed),
            code_bytes: self.code_bytes.load(Ordering::Relaxed),
            generations_retired: self.generations_retired.load(Ordering::Relaxed),
            generations_freed: self.generations_freed.load(Ordering::Relaxed),
            ..JitStats::default()
        }
    }

    /// The median of the blocks' compile times, to the bucket below it.
    fn median_compile_micros(&self) -> u64 {
        let counts: Vec<u64> = self.compile_times.iter().map(|count| count.load(Ordering::Relaxed)).collect();
        let half = counts.iter().sum::<u64>().div_ceil(2);
        let mut seen = 0;
        let bucket = counts.iter().position(|&count| {
            seen += count;
            seen >= half && seen > 0
        });
        bucket.map_or(0, |bucket| bucket as u64 * COMPILE_BUCKET_MICROS)
    }

    /// Compiles `block` and makes its code reachable for chaining. When the
    /// current generation is full, retires it first.
    #[cold]
    pub(super) fn compile(&self, block: &Arc<Block>, pc: u64, access: AccessMode) -> Option<BlockCode> {
        if !self.config.compiles(pc) {
            self.outside_range.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // A block a plugin wants calls in runs in the interpreter, which
        // makes them.
        if !block.insts.iter().all(|inst| supported(inst.op)) || block.hooks().is_some_and(Hooks::has_calls) {
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
        let compiled = backend.compile(&block.insts, block.hooks(), miscompile, self.ram_base.get().copied(), access);
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
        let nanos = started.elapsed().as_nanos() as u64;
        self.compile_nanos.fetch_add(nanos, Ordering::Relaxed);
        let bucket = ((nanos / 1000 / COMPILE_BUCKET_MICROS) as usize).min(self.compile_times.len() - 1);
        self.compile_times[bucket].fetch_add(1, Ordering::Relaxed);
        self.guest_insts.fetch_add(block.insts.len() as u64, Ordering::Relaxed);
        self.compiled.fetch_add(1, Ordering::Relaxed);
        self.code_bytes.fetch_add(compiled.size as u64, Ordering::Relaxed);
        Some(compiled.code)
    }

    /// Retires the current generation: invalidates its blocks (lookups
    /// skip them, compiled code no longer chains to them), then counts the
    /// retirement in [`Compiler::retirements`] (see [`super::Jit::pin`]) and starts a new
    /// generation.
    pub(super) fn retire(&self, backend: &mut Backend) {
        for block in backend.blocks.drain(..) {
            if let Some(block) = block.upgrade() {
                block.invalidate();
            }
        }
        let module = std::mem::replace(&mut backend.module, new_module(&backend.isa));
        let epoch = self.retirements.fetch_add(1, Ordering::SeqCst) + 1;
        backend.retired.push(Retired { module, epoch });
        backend.bytes = 0;
        self.generations_retired.fetch_add(1, Ordering::Relaxed);
    }

    /// Frees the retired generations no hart can be running: those retired
    /// before every hart that runs compiled code entered it.
    pub(super) fn reclaim(&self, backend: &mut Backend) {
        let oldest = {
            let mut hart_epochs = self.hart_epochs.lock().unwrap_or_else(|e| e.into_inner());
            hart_epochs.retain(|epoch| epoch.strong_count() > 0);
            hart_epochs.iter().filter_map(Weak::upgrade).map(|epoch| epoch.entered.load(Ordering::SeqCst)).min()
        };
        let oldest = oldest.unwrap_or(IDLE);
        let (free, keep) = std::mem::take(&mut backend.retired).into_iter().partition(|r| r.epoch <= oldest);
        backend.retired = keep;
        for retired in free {
            // SAFETY: every hart entered compiled code, if it runs any,
            // after the generation's retirement, so it neither runs nor can
            // reach its code (see `Jit::pin`); and nothing else holds its
            // functions' addresses but blocks invalidated by `retire`.
            unsafe { retired.module.free_memory() };
            self.generations_freed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Compiler {
    fn drop(&mut self) {
        let backend = self.backend.get_mut().unwrap_or_else(|e| e.into_inner());
        let modules = std::mem::take(&mut backend.retired).into_iter().map(|r| r.module);
        let current = std::mem::replace(&mut backend.module, new_module(&backend.isa));
        let entry = std::mem::replace(&mut backend.entry, new_module(&backend.isa));
        for module in modules.chain([current, entry]) {
            // SAFETY: the compiler goes with the last `Jit` (and its compiler
            // thread), and every hart that ran its code held that `Jit`:
            // nothing runs or enters the code any more.
            unsafe { module.free_memory() };
        }
    }
}

/// An empty module for a generation of code (or the trampoline).
pub(super) fn new_module(isa: &OwnedTargetIsa) -> JITModule {
    JITModule::new(JITBuilder::with_isa(isa.clone(), default_libcall_names()))
}

/// Whether the JIT compiles `op`: everything but CSR and system
/// instructions (whose blocks stay interpreted) and the F/D operations
/// [`float`] has no code for.
pub(super) fn supported(op: Op) -> bool {
    match op.class() {
        Class::Csr | Class::System | Class::Illegal => false,
        _ if op.precision().is_some() => float::supported(op),
        _ => true,
    }
}

impl Backend {
    /// Compiles the trampoline Rust enters compiled code through: a
    /// function in the host's calling convention ([`EnterFn`]) that calls
    /// its last argument, a block, in the `tail` convention.
    pub(super) fn trampoline(&mut self) -> Option<EnterFn> {
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
    pub(super) fn define(&mut self, id: FuncId) -> Option<(NonNull<u8>, usize)> {
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
    pub(super) fn compile(
        &mut self,
        insts: &[Inst],
        hooks: Option<&Hooks>,
        miscompile: Option<usize>,
        ram_base: Option<u64>,
        access: AccessMode,
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
            let access = if self.lockstep { AccessMode::Lockstep } else { access };
            let mut translator = Translator::new(builder, pointer, &self.module, self.exits, access, ram_base);
            translator.hooks = hooks;
            translator.translate(insts, self.module.target_config(), miscompile);
        }
        let (code, size) = self.define(id)?;
        Some(Compiled { code: BlockCode(code), size })
    }
}
