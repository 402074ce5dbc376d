//! How a JIT is configured, what it counts, and why a host may have none.

use std::ops::{AddAssign, Range};

/// The resolution of [`JitStats::median_compile_micros`].
pub const COMPILE_BUCKET_MICROS: u64 = 10;

/// Interpreted runs after which a block is compiled, unless told otherwise.
pub const DEFAULT_THRESHOLD: u32 = 50;

/// How a [`super::Jit`] works: when it compiles a block, which blocks it may
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
    /// stops with [`crate::Exit::JitDivergence`] (see [`super::Divergence`]). Slow:
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
pub(super) const CODE_PAGE: u64 = 4096;

/// What a user gets without asking: blocks compiled after
/// [`DEFAULT_THRESHOLD`] runs, on the JIT's own thread.
impl Default for JitConfig {
    fn default() -> JitConfig {
        JitConfig::new(DEFAULT_THRESHOLD).background(true)
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
/// [`super::Jit::stats`] gives what is counted at compile time, over all harts;
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
    /// The median time one block took to compile, in microseconds (to
    /// the [`COMPILE_BUCKET_MICROS`] below it).
    pub median_compile_micros: u64,
    /// Guest instructions in the blocks compiled (with `code_bytes`, the
    /// host code per guest instruction).
    pub guest_insts_compiled: u64,
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
        // Only the JIT's own counters carry a median (the harts' are 0).
        self.median_compile_micros = self.median_compile_micros.max(other.median_compile_micros);
        self.guest_insts_compiled += other.guest_insts_compiled;
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

/// Why the host cannot have a JIT.
#[derive(Debug, thiserror::Error)]
#[error("no JIT for this host: {0}")]
pub struct JitError(pub(super) String);
