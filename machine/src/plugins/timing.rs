//! `--timing MODEL[,key=value...]`: time that follows an estimate of the
//! cycles code takes on a real in-order core, instead of one cycle per
//! instruction.
//!
//! The model is a single-issue, fully bypassed, in-order pipeline: each
//! instruction issues one cycle after the one before it unless
//!
//! - one of its source registers is not ready yet: each instruction makes
//!   its destination ready its class's latency after it issues (a load two
//!   or three cycles, a multiply four, ...);
//! - the unit it needs is still busy: division and floating-point
//!   division and square root are not pipelined;
//! - the front end was redirected: a control transfer the branch predictor
//!   (a branch history table, a branch target buffer and a return-address
//!   stack) got wrong costs the mispredict penalty, a trap or a pipeline
//!   flush (`mret`, `fence.i`, a CSR write, ...) its own;
//! - a fetch or an access missed: set-associative L1 instruction and data
//!   caches, an L2 behind them, and instruction and data TLBs while the
//!   hart translates addresses, each miss with its cost.
//!
//! The cycles beyond one per instruction are added to the hart's local time
//! ([`HartView::add_cycles`]), so `mcycle`, the board's `time` and a
//! cosimulation's clock follow the estimate, and the runners end quanta and
//! meet timer deadlines on it. Each hart has its own model (its caches are
//! private, without coherence), fed only by its own instructions and
//! accesses: a run under `--deterministic` gives the same estimate every
//! time.
//!
//! Models ([`TimingConfig::model`]): `u54`, SiFive's U54, a five-stage
//! single-issue RV64GC core derived from Berkeley's Rocket (see
//! `docs/TIMING.md` for the sources of each figure and the calibration
//! against its published CoreMark/MHz).

use std::fmt;
use std::sync::Mutex;

use polyhart_iss::Privilege;
use polyhart_iss::csr;
use polyhart_iss::decode::{Class, Op, Precision};
use polyhart_iss::plugin::{BlockInfo, Finished, HartView, MemoryEvent, Observer, Plan, Plugin, Target, TrapEvent};

use super::cache::{Eviction, Geometry, Model as CacheModel};
use super::{Args, Output, PluginError};

/// What a timing model charges: latencies, penalties and the geometry of
/// its predictor, caches and TLBs. Every field can be set from the
/// command line by its name (`--timing u54,mispredict=4,dcachesize=16K`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimingConfig {
    /// The model's name.
    pub name: String,
    /// Cycles from a word or doubleword load (`lw`, `lwu`, `ld`, `flw`,
    /// `fld`) to its result, on a hit.
    pub load_word: u64,
    /// Cycles from a byte or halfword load to its result, on a hit.
    pub load_byte: u64,
    /// Integer multiplication's latency; the multiplier is iterative, shared
    /// with division, and takes no new operation meanwhile.
    pub mul: u64,
    /// Integer division and remainder's longest latency. The divider
    /// produces one bit a cycle and skips the dividend's leading zeros: an
    /// operation takes 2 cycles plus one per significant bit of the
    /// dividend's magnitude, at most this; it takes no new operation
    /// meanwhile.
    pub div: u64,
    /// Single-precision add, subtract, sign injection, minimum and maximum.
    pub fadd_s: u64,
    /// Double-precision add, subtract, sign injection, minimum and maximum.
    pub fadd_d: u64,
    /// Single-precision multiply and fused multiply-add.
    pub fmul_s: u64,
    /// Double-precision multiply and fused multiply-add.
    pub fmul_d: u64,
    /// Floating-point division and single-precision square root (not
    /// pipelined).
    pub fdiv: u64,
    /// Double-precision square root (not pipelined).
    pub fsqrt_d: u64,
    /// Conversions, comparisons, classification and moves between the
    /// register files.
    pub fconvert: u64,
    /// A CSR read's latency.
    pub csr_read: u64,
    /// Cycles lost when the pipeline is flushed: a trap, `mret`/`sret`,
    /// `ecall`, `fence.i`, `sfence.vma`, or a CSR write.
    pub flush: u64,
    /// Cycles lost to a mispredicted control transfer.
    pub mispredict: u64,
    /// Cycles lost to a taken transfer predicted right but only once
    /// fetched (a miss in the branch target buffer).
    pub redirect: u64,
    /// Branch history table entries (2-bit counters; a power of two).
    pub bht: u64,
    /// Bits of global history hashed into the table's index.
    pub history: u64,
    /// Branch target buffer entries (fully associative, LRU).
    pub btb: u64,
    /// Return-address stack entries.
    pub ras: u64,
    /// The L1 instruction cache.
    pub icache: Geometry,
    /// The L1 data cache.
    pub dcache: Geometry,
    /// The L2 behind both.
    pub l2: Geometry,
    /// Cycles an L1 miss that hits the L2 costs.
    pub l2_latency: u64,
    /// Cycles an L2 miss costs (memory).
    pub memory_latency: u64,
    /// Cycles a device (MMIO) access costs.
    pub io_latency: u64,
    /// Entries of each of the instruction and data TLBs (fully
    /// associative, LRU).
    pub tlb: u64,
    /// Cycles a TLB miss costs (the page walk).
    pub tlb_miss: u64,
}

impl TimingConfig {
    /// The models polyhart knows.
    pub const MODELS: [&str; 1] = ["u54"];

    /// The model named `name`, if there is one.
    pub fn model(name: &str) -> Option<TimingConfig> {
        match name {
            // Figures and their sources: docs/TIMING.md.
            "u54" => Some(TimingConfig {
                name: "u54".to_string(),
                load_word: 2,
                load_byte: 3,
                mul: 5,
                div: 65,
                fadd_s: 4,
                fadd_d: 6,
                fmul_s: 5,
                fmul_d: 7,
                fdiv: 20,
                fsqrt_d: 25,
                fconvert: 2,
                csr_read: 3,
                flush: 5,
                mispredict: 3,
                redirect: 1,
                bht: 256,
                history: 8,
                btb: 30,
                ras: 6,
                icache: Geometry { size: 32 << 10, assoc: 8, line: 64 },
                dcache: Geometry { size: 32 << 10, assoc: 8, line: 64 },
                l2: Geometry { size: 2 << 20, assoc: 16, line: 64 },
                l2_latency: 20,
                memory_latency: 100,
                io_latency: 20,
                tlb: 32,
                tlb_miss: 20,
            }),
            _ => None,
        }
    }

    /// Sets the fields `args` names.
    fn apply(&mut self, args: &mut Args) -> Result<(), PluginError> {
        let numbers: [(&str, &mut u64); 26] = [
            ("load_word", &mut self.load_word),
            ("load_byte", &mut self.load_byte),
            ("mul", &mut self.mul),
            ("div", &mut self.div),
            ("fadd_s", &mut self.fadd_s),
            ("fadd_d", &mut self.fadd_d),
            ("fmul_s", &mut self.fmul_s),
            ("fmul_d", &mut self.fmul_d),
            ("fdiv", &mut self.fdiv),
            ("fsqrt_d", &mut self.fsqrt_d),
            ("fconvert", &mut self.fconvert),
            ("csr_read", &mut self.csr_read),
            ("flush", &mut self.flush),
            ("mispredict", &mut self.mispredict),
            ("redirect", &mut self.redirect),
            ("bht", &mut self.bht),
            ("history", &mut self.history),
            ("btb", &mut self.btb),
            ("ras", &mut self.ras),
            ("l2_latency", &mut self.l2_latency),
            ("memory_latency", &mut self.memory_latency),
            ("io_latency", &mut self.io_latency),
            ("tlb", &mut self.tlb),
            ("tlb_miss", &mut self.tlb_miss),
            ("icachesize", &mut self.icache.size),
            ("dcachesize", &mut self.dcache.size),
        ];
        for (key, field) in numbers {
            if let Some(value) = args.number(key)? {
                *field = value;
            }
        }
        let geometry: [(&str, &mut u64); 7] = [
            ("iassoc", &mut self.icache.assoc),
            ("iblksize", &mut self.icache.line),
            ("dassoc", &mut self.dcache.assoc),
            ("dblksize", &mut self.dcache.line),
            ("l2cachesize", &mut self.l2.size),
            ("l2assoc", &mut self.l2.assoc),
            ("l2blksize", &mut self.l2.line),
        ];
        for (key, field) in geometry {
            if let Some(value) = args.number(key)? {
                *field = value;
            }
        }
        self.check().map_err(|message| args.invalid(message))
    }

    fn check(&self) -> Result<(), String> {
        self.icache.check("icache")?;
        self.dcache.check("dcache")?;
        self.l2.check("l2")?;
        let latencies = [
            self.load_word,
            self.load_byte,
            self.mul,
            self.div,
            self.fadd_s,
            self.fadd_d,
            self.fmul_s,
            self.fmul_d,
            self.fdiv,
            self.fsqrt_d,
            self.fconvert,
            self.csr_read,
        ];
        if latencies.iter().any(|&latency| !(1..=255).contains(&latency)) {
            return Err("latencies must be 1 to 255 cycles".to_string());
        }
        if !self.bht.is_power_of_two() || self.bht > 1 << 20 || self.history > 32 {
            return Err(format!(
                "bht={} history={}: the table must be a power of two up to 1M, the history at most 32 bits",
                self.bht, self.history
            ));
        }
        if self.btb > 4096 || self.ras > 4096 || self.tlb > 4096 {
            return Err("btb, ras and tlb take at most 4096 entries".to_string());
        }
        let costs = [
            self.flush,
            self.mispredict,
            self.redirect,
            self.l2_latency,
            self.memory_latency,
            self.io_latency,
            self.tlb_miss,
        ];
        if costs.iter().any(|&cost| cost > 1 << 20) {
            return Err("penalties and latencies are at most 1M cycles".to_string());
        }
        Ok(())
    }
}

/// The `--timing` plugin: a [`TimingConfig`] simulated for each hart.
///
/// Arguments after the model's name: any [`TimingConfig`] field by name
/// (the cache geometries as the `cache` plugin names them: `icachesize`,
/// `iassoc`, `iblksize`, `dcachesize`, ..., `l2blksize`), and `out=PATH`
/// for the report (standard error otherwise).
#[derive(Debug)]
pub struct Timing {
    config: TimingConfig,
    output: Output,
    report: Mutex<Option<TimingReport>>,
}

impl Timing {
    /// The model `spec` names: `MODEL[,key=value...]`, as `--timing` takes it.
    pub fn from_spec(spec: &str) -> Result<Timing, PluginError> {
        let mut args = Args::parse(spec)?;
        let mut config = TimingConfig::model(&args.plugin).ok_or_else(|| {
            args.invalid(format!(
                "no timing model is named `{}` (there is: {})",
                args.plugin,
                TimingConfig::MODELS.join(", ")
            ))
        })?;
        config.apply(&mut args)?;
        let output = args.output()?;
        args.finish()?;
        Ok(Timing::new(config, output))
    }

    /// Simulates `config` on every hart, reporting to `output`.
    pub fn new(config: TimingConfig, output: Output) -> Timing {
        Timing { config, output, report: Mutex::new(None) }
    }

    /// What it simulates.
    pub fn config(&self) -> &TimingConfig {
        &self.config
    }

    /// The report of the last finish.
    pub fn report(&self) -> Option<TimingReport> {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What the model needs to know of one instruction, packed into its
    /// callback's tag.
    fn describe(&self, info: &polyhart_iss::plugin::InstructionInfo<'_>, offset: u64) -> Static {
        let config = &self.config;
        let inst = info.inst();
        let op = inst.op;
        let registers = inst.registers();
        let double = op.precision() == Some(Precision::Double);
        let mut latency = 1;
        let mut unit = Unit::None;
        let mut control = Control::None;
        let mut flush = false;
        let mut tlb_flush = false;
        match info.class() {
            Class::Alu | Class::Store | Class::Fence => {}
            Class::Mul => {
                latency = config.mul;
                unit = Unit::Multiplier;
            }
            Class::Div => {
                // The latency depends on the dividend: the tag holds the
                // operation's width, plus one when it is unsigned; the
                // callback reads the value.
                let width = if matches!(op, Op::Divw | Op::Divuw | Op::Remw | Op::Remuw) { 32 } else { 64 };
                latency = width + u64::from(matches!(op, Op::Divu | Op::Remu | Op::Divuw | Op::Remuw));
                unit = Unit::Divider;
            }
            Class::Load | Class::Atomic => {
                let size = info.memory().map_or(8, |memory| memory.size);
                latency = if size >= 4 { config.load_word } else { config.load_byte };
            }
            Class::Branch => control = Control::Branch,
            Class::Jump => {
                let link = |r: u8| r == 1 || r == 5;
                control = match (op, link(inst.rd), link(inst.rs1)) {
                    (Op::Jal, true, _) => Control::Call,
                    (Op::Jal, false, _) => Control::Jump,
                    (_, true, true) if inst.rd != inst.rs1 => Control::CallReturn,
                    (_, true, _) => Control::IndirectCall,
                    (_, false, true) => Control::Return,
                    _ => Control::Indirect,
                };
            }
            Class::Csr => {
                latency = config.csr_read;
                if let Some(access) = inst.csr_access() {
                    flush = access.writes;
                    tlb_flush = access.writes && access.csr == csr::SATP;
                }
            }
            Class::System => {
                flush = true;
                tlb_flush = op == Op::SfenceVma;
            }
            Class::FpAdd => latency = if double { config.fadd_d } else { config.fadd_s },
            Class::FpMul | Class::FpFma => latency = if double { config.fmul_d } else { config.fmul_s },
            Class::FpDiv => {
                latency = config.fdiv;
                unit = Unit::FpDivider;
            }
            Class::FpSqrt => {
                latency = if double { config.fsqrt_d } else { config.fdiv };
                unit = Unit::FpDivider;
            }
            Class::FpMove | Class::FpCompare => {
                // Sign injection, minimum and maximum (the two-operand
                // format) run in the adder; moves between the register
                // files, comparisons and classification do not.
                let in_adder = matches!(op.format(), polyhart_iss::decode::Format::FpR2);
                latency = match (in_adder, double) {
                    (true, true) => config.fadd_d,
                    (true, false) => config.fadd_s,
                    (false, _) => config.fconvert,
                };
            }
            Class::FpConvert => latency = config.fconvert,
            Class::Illegal => flush = true,
        }
        let x = |r: u8| r & 31;
        let f = |r: Option<u8>| r.map_or(0, |r| 32 + (r & 31));
        let dst = match registers.f_written {
            Some(r) => 32 + (r & 31),
            None => x(registers.x_written),
        };
        // At most three registers are read (an FMA's three, a store's two).
        let mut sources = [0; 3];
        let read = [
            x(registers.x_read[0]),
            x(registers.x_read[1]),
            f(registers.f_read[0]),
            f(registers.f_read[1]),
            f(registers.f_read[2]),
        ];
        for (slot, register) in sources.iter_mut().zip(read.into_iter().filter(|&r| r != 0)) {
            *slot = register;
        }
        Static {
            offset,
            dst,
            sources,
            latency: latency as u8,
            unit,
            control,
            flush,
            tlb_flush,
            compressed: info.len() == 2,
        }
    }
}

/// A unit that takes no new operation while it works.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Unit {
    None = 0,
    Divider = 1,
    FpDivider = 2,
    Multiplier = 3,
}

/// How an instruction moves the pc, as the predictor sees it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Control {
    None = 0,
    /// A conditional branch.
    Branch = 1,
    /// `jal` that links nothing.
    Jump = 2,
    /// `jal` that links: pushes the return address.
    Call = 3,
    /// `jalr` that links nothing and returns nowhere.
    Indirect = 4,
    /// `jalr` that links.
    IndirectCall = 5,
    /// `jalr` through the link register: pops.
    Return = 6,
    /// `jalr` that returns and links another register: pops, then pushes.
    CallReturn = 7,
}

impl Control {
    fn from_bits(bits: u64) -> Control {
        match bits & 7 {
            1 => Control::Branch,
            2 => Control::Jump,
            3 => Control::Call,
            4 => Control::Indirect,
            5 => Control::IndirectCall,
            6 => Control::Return,
            7 => Control::CallReturn,
            _ => Control::None,
        }
    }

    fn pushes(self) -> bool {
        matches!(self, Control::Call | Control::IndirectCall | Control::CallReturn)
    }

    fn pops(self) -> bool {
        matches!(self, Control::Return | Control::CallReturn)
    }
}

/// One instruction as the model sees it, packed into its callbacks' tag.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Static {
    /// Bytes from its block's start (a block holds at most 64
    /// instructions, so below 4096).
    offset: u64,
    /// Register it writes: 1-31 integer, 32-63 floating point, 0 none.
    dst: u8,
    /// Registers it reads, numbered as `dst` (0: none).
    sources: [u8; 3],
    latency: u8,
    unit: Unit,
    control: Control,
    flush: bool,
    tlb_flush: bool,
    compressed: bool,
}

impl Static {
    // The tag's layout: offset (12 bits), destination (6), three sources
    // (18), latency (8), unit (2), control (3), three flags.
    fn pack(&self) -> u64 {
        let mut tag = self.offset & 0xfff;
        tag |= u64::from(self.dst & 63) << 12;
        for (index, &source) in self.sources.iter().enumerate() {
            tag |= u64::from(source & 63) << (18 + 6 * index);
        }
        tag |= u64::from(self.latency) << 36;
        tag |= (self.unit as u64) << 44;
        tag |= (self.control as u64) << 46;
        tag |= u64::from(self.flush) << 49 | u64::from(self.tlb_flush) << 50 | u64::from(self.compressed) << 51;
        tag
    }

    fn unpack(tag: u64) -> Static {
        let field = |at: u32, bits: u32| tag >> at & ((1 << bits) - 1);
        Static {
            offset: field(0, 12),
            dst: field(12, 6) as u8,
            sources: [field(18, 6) as u8, field(24, 6) as u8, field(30, 6) as u8],
            latency: field(36, 8) as u8,
            unit: match field(44, 2) {
                1 => Unit::Divider,
                2 => Unit::FpDivider,
                3 => Unit::Multiplier,
                _ => Unit::None,
            },
            control: Control::from_bits(field(46, 3)),
            flush: field(49, 1) == 1,
            tlb_flush: field(50, 1) == 1,
            compressed: field(51, 1) == 1,
        }
    }

    fn len(&self) -> u64 {
        if self.compressed { 2 } else { 4 }
    }
}

/// Tree pseudo-LRU replacement over `n` entries (Rocket's BTB policy): a
/// bit per inner node of a binary tree whose left subtrees hold the largest
/// power of two below their size, pointing away from the side used last.
#[derive(Debug)]
struct TreePlru {
    n: usize,
    /// Per inner node, in preorder: the last access went left.
    left: Vec<bool>,
}

impl TreePlru {
    fn new(n: usize) -> TreePlru {
        TreePlru { n, left: vec![false; n.saturating_sub(1)] }
    }

    /// How many of `size` entries the left subtree holds.
    fn split(size: usize) -> usize {
        1 << (usize::BITS - (size - 1).leading_zeros() - 1)
    }

    /// Marks `way` used.
    fn touch(&mut self, way: usize) {
        let (mut node, mut low, mut size) = (0, 0, self.n);
        while size > 1 {
            let left = TreePlru::split(size);
            let goes_left = way < low + left;
            self.left[node] = goes_left;
            if goes_left {
                node += 1;
                size = left;
            } else {
                node += left;
                low += left;
                size -= left;
            }
        }
    }

    /// The entry to replace.
    fn victim(&self) -> usize {
        let (mut node, mut low, mut size) = (0, 0, self.n);
        while size > 1 {
            let left = TreePlru::split(size);
            if self.left[node] {
                node += left;
                low += left;
                size -= left;
            } else {
                node += 1;
                size = left;
            }
        }
        low
    }
}

/// The branch predictor: a table of 2-bit counters indexed by the pc
/// hashed with the global history, a fully associative target buffer
/// with pseudo-LRU replacement, and a return-address stack.
#[derive(Debug)]
struct Predictor {
    counters: Vec<u8>,
    history: u64,
    history_mask: u64,
    /// (pc, target) per entry, `u64::MAX` while empty.
    targets: Vec<(u64, u64)>,
    replacement: TreePlru,
    stack: Vec<u64>,
    depth: usize,
}

impl Predictor {
    fn new(config: &TimingConfig) -> Predictor {
        Predictor {
            // Weakly not taken.
            counters: vec![1; config.bht as usize],
            history: 0,
            history_mask: (1u64 << config.history) - 1,
            targets: vec![(u64::MAX, 0); config.btb as usize],
            replacement: TreePlru::new(config.btb as usize),
            stack: Vec::with_capacity(config.ras as usize),
            depth: config.ras as usize,
        }
    }

    fn index(&self, pc: u64) -> usize {
        ((pc >> 1 ^ self.history) & (self.counters.len() as u64 - 1)) as usize
    }

    /// The target buffer's prediction for `pc`; a hit counts as a use.
    fn target(&mut self, pc: u64) -> Option<u64> {
        let way = self.targets.iter().position(|entry| entry.0 == pc)?;
        self.replacement.touch(way);
        Some(self.targets[way].1)
    }

    fn remember(&mut self, pc: u64, target: u64) {
        if self.targets.is_empty() {
            return;
        }
        let way = self.targets.iter().position(|entry| entry.0 == pc).unwrap_or_else(|| self.replacement.victim());
        self.targets[way] = (pc, target);
        self.replacement.touch(way);
    }

    /// What the front end guesses for the control transfer `control` at
    /// `pc`, `len` bytes long, as Rocket's does (the U54 derives from
    /// it): the target buffer answers at fetch; on a miss the fetch stage
    /// decodes the instruction and still predicts a direct jump, a branch
    /// the history table calls taken (both with their own target) and a
    /// return (the return-address stack), a cycle later.
    fn predict(&mut self, pc: u64, len: u64, control: Control) -> Guess {
        let next = pc.wrapping_add(len);
        let buffered = self.target(pc);
        let early = buffered.is_some();
        let guess = match control {
            Control::None => Guess { taken: false, target: None, early: true },
            Control::Branch => Guess { taken: self.counters[self.index(pc)] >= 2, target: None, early },
            Control::Jump | Control::Call => Guess { taken: true, target: None, early },
            Control::Return | Control::CallReturn => match self.stack.last() {
                Some(&top) => Guess { taken: true, target: Some(top), early },
                None => Guess { taken: early, target: buffered, early },
            },
            Control::Indirect | Control::IndirectCall => Guess { taken: early, target: buffered, early },
        };
        if control.pops() {
            self.stack.pop();
        }
        if control.pushes() && self.depth > 0 {
            if self.stack.len() == self.depth {
                self.stack.remove(0);
            }
            self.stack.push(next);
        }
        guess
    }

    /// Learns where the transfer at `pc` went.
    fn learn(&mut self, pc: u64, len: u64, control: Control, actual: u64) {
        let taken = actual != pc.wrapping_add(len);
        if control == Control::Branch {
            let index = self.index(pc);
            let counter = &mut self.counters[index];
            *counter = if taken { (*counter + 1).min(3) } else { counter.saturating_sub(1) };
            self.history = (self.history << 1 | u64::from(taken)) & self.history_mask;
        }
        if taken {
            self.remember(pc, actual);
        }
    }

    fn flush(&mut self) {
        self.stack.clear();
    }
}

/// A fully associative TLB of page numbers, LRU.
#[derive(Debug)]
struct Tlb {
    /// (page, last use).
    entries: Vec<(u64, u64)>,
    capacity: usize,
    clock: u64,
    last: Option<u64>,
    accesses: u64,
    misses: u64,
}

impl Tlb {
    fn new(capacity: u64) -> Tlb {
        Tlb { entries: Vec::new(), capacity: capacity as usize, clock: 0, last: None, accesses: 0, misses: 0 }
    }

    /// Looks `page` up: true on a hit. A miss fills it.
    fn access(&mut self, page: u64) -> bool {
        if self.last == Some(page) {
            return true;
        }
        self.last = Some(page);
        self.accesses += 1;
        self.clock += 1;
        let clock = self.clock;
        if let Some(entry) = self.entries.iter_mut().find(|entry| entry.0 == page) {
            entry.1 = clock;
            return true;
        }
        self.misses += 1;
        if self.entries.len() < self.capacity {
            self.entries.push((page, clock));
        } else if let Some(oldest) = self.entries.iter_mut().min_by_key(|entry| entry.1) {
            *oldest = (page, clock);
        }
        false
    }

    fn flush(&mut self) {
        self.entries.clear();
        self.last = None;
    }
}

/// What the front end guessed of a control transfer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Guess {
    /// Taken.
    taken: bool,
    /// Where to, for an indirect one (a direct one's target is in its
    /// encoding: always right).
    target: Option<u64>,
    /// Known at fetch (the target buffer hit), not a cycle later.
    early: bool,
}

impl Guess {
    /// The cycles the transfer costs once it went from `pc` (`len` bytes)
    /// to `actual`: none when guessed right at fetch, `redirect` when
    /// guessed right a cycle later, `mispredict` when guessed wrong.
    fn cost(&self, pc: u64, len: u64, actual: u64, config: &TimingConfig) -> (u64, bool) {
        let taken = actual != pc.wrapping_add(len);
        if taken != self.taken || self.target.is_some_and(|target| taken && target != actual) {
            (config.mispredict, true)
        } else if taken && !self.early {
            (config.redirect, false)
        } else {
            (0, false)
        }
    }
}

/// The transfer the last instruction made, waiting for the next one to
/// show where it went.
#[derive(Copy, Clone, Debug)]
struct Pending {
    pc: u64,
    len: u64,
    control: Control,
    guess: Guess,
    issued: u64,
}

/// One hart's model.
struct Core {
    config: TimingConfig,
    /// When the last instruction issued (the model's own clock).
    now: u64,
    /// When each register's value is ready (1-31 integer, 32-63 FP).
    ready: [u64; 64],
    /// When each [`Unit`] takes a new operation.
    free: [u64; 4],
    /// The earliest the next instruction can issue (redirects, misses).
    fetch_ready: u64,
    pending: Option<Pending>,
    /// The running block: its virtual and physical address.
    block: (u64, u64),
    last_line: u64,
    last_page: u64,
    predictor: Predictor,
    icache: CacheModel,
    dcache: CacheModel,
    l2: CacheModel,
    itlb: Tlb,
    dtlb: Tlb,
    stats: HartTiming,
}

impl Core {
    fn new(config: &TimingConfig) -> Core {
        Core {
            config: config.clone(),
            now: 0,
            ready: [0; 64],
            free: [0; 4],
            fetch_ready: 0,
            pending: None,
            block: (u64::MAX, 0),
            last_line: u64::MAX,
            last_page: u64::MAX,
            predictor: Predictor::new(config),
            icache: CacheModel::new(config.icache, Eviction::Lru),
            dcache: CacheModel::new(config.dcache, Eviction::Lru),
            l2: CacheModel::new(config.l2, Eviction::Lru),
            itlb: Tlb::new(config.tlb),
            dtlb: Tlb::new(config.tlb),
            stats: HartTiming::default(),
        }
    }

    /// What a miss of an L1 costs: the L2's latency, and memory's too when
    /// the L2 misses.
    fn miss(&mut self, paddr: u64) -> u64 {
        if self.l2.access(paddr) { self.config.l2_latency } else { self.config.l2_latency + self.config.memory_latency }
    }

    /// Whether the hart's accesses go through page tables now.
    fn translating(hart: &HartView<'_>) -> bool {
        hart.privilege() != Privilege::Machine && hart.csr(csr::SATP).is_some_and(|satp| satp >> 60 != 0)
    }

    fn instruction(&mut self, hart: &HartView<'_>, tag: u64) {
        let inst = Static::unpack(tag);
        let pc = hart.pc();
        self.stats.instructions += 1;
        // The transfer before this instruction shows where it went.
        if let Some(pending) = self.pending.take() {
            self.predictor.learn(pending.pc, pending.len, pending.control, pc);
            let (cost, mispredicted) = pending.guess.cost(pending.pc, pending.len, pc, &self.config);
            self.stats.mispredicts += u64::from(mispredicted);
            self.fetch_ready = self.fetch_ready.max(pending.issued + 1 + cost);
        }
        // The fetch: its TLB and cache line.
        let page = pc >> 12;
        if page != self.last_page {
            self.last_page = page;
            if Core::translating(hart) && !self.itlb.access(page) {
                self.fetch_ready = self.fetch_ready.max(self.now + 1 + self.config.tlb_miss);
            }
        }
        let physical = match self.block {
            (block_pc, block_physical) if pc.wrapping_sub(inst.offset) == block_pc => {
                block_physical.wrapping_add(inst.offset)
            }
            _ => pc,
        };
        let line = physical >> self.config.icache.line.trailing_zeros();
        if line != self.last_line {
            self.last_line = line;
            if !self.icache.access(physical) {
                let cost = self.miss(physical);
                self.fetch_ready = self.fetch_ready.max(self.now + 1 + cost);
            }
        }
        // Issue: after the previous instruction, the front end, the
        // sources, and a free unit.
        let front = (self.now + 1).max(self.fetch_ready);
        let mut issue = front;
        for source in inst.sources {
            issue = issue.max(self.ready[usize::from(source)]);
        }
        self.stats.front_end_stalls += front - (self.now + 1);
        self.stats.data_stalls += issue - front;
        let mut latency = u64::from(inst.latency);
        if inst.unit == Unit::Divider {
            latency = self.division(hart, inst.sources[0], latency & !1, latency & 1 == 1);
        }
        if inst.unit != Unit::None {
            // Multiplication and division share one iterative unit.
            let unit = if inst.unit == Unit::Multiplier { Unit::Divider as usize } else { inst.unit as usize };
            self.stats.unit_stalls += self.free[unit].saturating_sub(issue);
            issue = issue.max(self.free[unit]);
            self.free[unit] = issue + latency;
        }
        if inst.dst != 0 {
            self.ready[usize::from(inst.dst)] = issue + latency;
        }
        if inst.flush {
            self.fetch_ready = issue + 1 + self.config.flush;
            self.predictor.flush();
        }
        if inst.tlb_flush {
            self.itlb.flush();
            self.dtlb.flush();
        }
        if inst.control != Control::None {
            self.stats.transfers += 1;
            let guess = self.predictor.predict(pc, inst.len(), inst.control);
            self.pending = Some(Pending { pc, len: inst.len(), control: inst.control, guess, issued: issue });
        }
        self.charge(hart, issue);
    }

    /// A division's latency: 2 cycles and one per significant bit of the
    /// magnitude of its dividend (register `source`, `width` bits wide,
    /// `unsigned` or not), at most the configured latency.
    fn division(&self, hart: &HartView<'_>, source: u8, width: u64, unsigned: bool) -> u64 {
        let dividend = if source == 0 || source >= 32 { 0 } else { hart.x(source) };
        let magnitude = match (width, unsigned) {
            (32, true) => dividend & 0xffff_ffff,
            (32, false) => u64::from((dividend as i32).unsigned_abs()),
            (_, true) => dividend,
            (_, false) => (dividend as i64).unsigned_abs(),
        };
        (2 + u64::from(u64::BITS - magnitude.leading_zeros())).min(self.config.div)
    }

    /// Moves the model's clock to `issue`, charging the hart the cycles
    /// beyond one per instruction.
    fn charge(&mut self, hart: &HartView<'_>, issue: u64) {
        let stall = issue - (self.now + 1);
        self.now = issue;
        self.stats.cycles += 1 + stall;
        if stall > 0 {
            hart.add_cycles(stall);
        }
    }

    fn memory(&mut self, hart: &HartView<'_>, access: &MemoryEvent, tag: u64) {
        let mut cost = 0;
        let page = access.vaddr >> 12;
        // The same page as the last access hits: no need to read `satp`.
        if self.dtlb.last != Some(page) && Core::translating(hart) && !self.dtlb.access(page) {
            cost += self.config.tlb_miss;
        }
        if access.target == Target::Device {
            cost += self.config.io_latency;
        } else if !self.dcache.access(access.paddr) {
            cost += self.miss(access.paddr);
        }
        if cost > 0 {
            // A blocking cache: the pipeline waits for the access.
            self.stats.cycles += cost;
            self.stats.memory_stalls += cost;
            self.now += cost;
            let inst = Static::unpack(tag);
            if inst.dst != 0 {
                let dst = &mut self.ready[usize::from(inst.dst)];
                *dst = (*dst).max(self.now + u64::from(inst.latency));
            }
            hart.add_cycles(cost);
        }
    }

    fn trap(&mut self) {
        // The instruction after the trap is the handler's first: whatever
        // was predicted, the pipeline refills from there.
        self.pending = None;
        self.fetch_ready = self.now + 1 + self.config.flush;
        self.stats.traps += 1;
    }

    fn report(&self) -> HartTiming {
        HartTiming {
            icache_misses: self.icache.misses,
            dcache_misses: self.dcache.misses,
            l2_misses: self.l2.misses,
            tlb_misses: self.itlb.misses + self.dtlb.misses,
            ..self.stats
        }
    }
}

/// One hart's observer: its [`Core`].
struct HartModel(Core);

impl Observer for HartModel {
    fn block(&mut self, hart: &HartView<'_>, physical: u64) {
        self.0.block = (hart.pc(), physical);
    }

    fn instruction(&mut self, hart: &HartView<'_>, tag: u64) {
        self.0.instruction(hart, tag);
    }

    fn memory(&mut self, hart: &HartView<'_>, access: &MemoryEvent, tag: u64) {
        self.0.memory(hart, access, tag);
    }

    fn trap(&mut self, _hart: &HartView<'_>, _trap: &TrapEvent) {
        self.0.trap();
    }
}

impl Plugin for Timing {
    fn name(&self) -> &str {
        "timing"
    }

    fn translate(&self, block: &BlockInfo<'_>, plan: &mut Plan<'_>) {
        plan.on_block(block.physical());
        for info in block.instructions() {
            let offset = info.pc().wrapping_sub(block.pc());
            let tag = self.describe(&info, offset).pack();
            plan.on_instruction(info.index(), tag);
            if info.memory().is_some() {
                plan.on_memory(info.index(), tag);
            }
        }
    }

    fn observer(&self, _hart: u64) -> Box<dyn Observer> {
        Box::new(HartModel(Core::new(&self.config)))
    }

    fn finish(&self, harts: Vec<Finished>) {
        let harts: Vec<(u64, HartTiming)> = harts
            .iter()
            .filter_map(|finished| Some((finished.hart, finished.observer::<HartModel>()?.0.report())))
            .collect();
        let report = TimingReport { model: self.config.name.clone(), harts };
        self.output.write(&report);
        *self.report.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
    }
}

/// What one hart's model counted.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct HartTiming {
    /// Instructions it timed.
    pub instructions: u64,
    /// Cycles it estimated for them (idle time in `wfi` aside).
    pub cycles: u64,
    /// Control transfers (branches and jumps).
    pub transfers: u64,
    /// Transfers the predictor got wrong.
    pub mispredicts: u64,
    /// Traps taken.
    pub traps: u64,
    /// Cycles instructions waited for the front end: mispredictions,
    /// flushes, instruction cache and TLB misses.
    pub front_end_stalls: u64,
    /// Cycles instructions waited for their operands.
    pub data_stalls: u64,
    /// Cycles instructions waited for a busy multiplier or divider.
    pub unit_stalls: u64,
    /// Cycles the pipeline waited for data cache, TLB and device accesses.
    pub memory_stalls: u64,
    /// L1 instruction cache misses.
    pub icache_misses: u64,
    /// L1 data cache misses.
    pub dcache_misses: u64,
    /// L2 misses.
    pub l2_misses: u64,
    /// Instruction and data TLB misses.
    pub tlb_misses: u64,
}

impl HartTiming {
    /// Cycles per instruction.
    pub fn cpi(&self) -> f64 {
        self.cycles as f64 / self.instructions.max(1) as f64
    }
}

/// What a [`Timing`] model estimated, per hart.
#[derive(Clone, Debug, PartialEq)]
pub struct TimingReport {
    /// The model's name.
    pub model: String,
    /// Per hart (`mhartid`).
    pub harts: Vec<(u64, HartTiming)>,
}

impl fmt::Display for TimingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "timing: model {}", self.model)?;
        writeln!(
            f,
            "hart  instructions        cycles    CPI  mispredicts  I$ misses  D$ misses  L2 misses  TLB misses"
        )?;
        for (hart, t) in &self.harts {
            writeln!(
                f,
                "{hart:4}  {:12}  {:12}  {:5.3}  {:11}  {:9}  {:9}  {:9}  {:10}",
                t.instructions,
                t.cycles,
                t.cpi(),
                t.mispredicts,
                t.icache_misses,
                t.dcache_misses,
                t.l2_misses,
                t.tlb_misses
            )?;
        }
        writeln!(f, "hart  stall cycles: front end   operands      units     memory")?;
        for (hart, t) in &self.harts {
            writeln!(
                f,
                "{hart:4}                {:10} {:10} {:10} {:10}",
                t.front_end_stalls, t.data_stalls, t.unit_stalls, t.memory_stalls
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        let inst = Static {
            offset: 252,
            dst: 63,
            sources: [1, 32, 45],
            latency: 255,
            unit: Unit::FpDivider,
            control: Control::CallReturn,
            flush: true,
            tlb_flush: false,
            compressed: true,
        };
        assert_eq!(Static::unpack(inst.pack()), inst);
        let plain = Static { flush: false, tlb_flush: true, compressed: false, control: Control::Branch, ..inst };
        assert_eq!(Static::unpack(plain.pack()), plain);
    }

    #[test]
    fn specs_parse_and_refuse_what_they_should() {
        let timing = Timing::from_spec("u54,mispredict=4,dcachesize=16K").expect("valid");
        assert_eq!(timing.config().mispredict, 4);
        assert_eq!(timing.config().dcache.size, 16 << 10);
        assert!(Timing::from_spec("u54").is_ok());
        assert!(matches!(Timing::from_spec("pentium"), Err(PluginError::Argument { .. })));
        assert!(matches!(Timing::from_spec("u54,bogus=1"), Err(PluginError::Argument { .. })));
        assert!(matches!(Timing::from_spec("u54,bht=1000"), Err(PluginError::Argument { .. })));
        assert!(matches!(Timing::from_spec("u54,mul=0"), Err(PluginError::Argument { .. })));
        assert!(matches!(Timing::from_spec("u54,dassoc=3,dcachesize=1000"), Err(PluginError::Argument { .. })));
    }

    #[test]
    fn pseudo_lru_replaces_an_entry_not_used_lately() {
        for n in [1, 2, 3, 8, 28, 30] {
            let mut plru = TreePlru::new(n);
            // Fill in order: the victim is always one not touched since.
            for way in 0..n {
                plru.touch(way);
            }
            let victim = plru.victim();
            assert!(victim < n);
            plru.touch(victim);
            if n > 1 {
                assert_ne!(plru.victim(), victim, "n = {n}");
            }
            // The most recently used entry is never the victim.
            for way in 0..n {
                plru.touch(way);
                if n > 1 {
                    assert_ne!(plru.victim(), way, "n = {n}");
                }
            }
        }
    }

    #[test]
    fn a_loop_branch_is_learned_and_a_return_predicted() {
        let config = TimingConfig::model("u54").expect("a model");
        let mut predictor = Predictor::new(&config);
        // A backward branch taken 20 times: the first times miss, then the
        // counters and the target buffer know it.
        let mut misses = 0;
        for _ in 0..20 {
            let guess = predictor.predict(0x1010, 4, Control::Branch);
            misses += u32::from(guess.cost(0x1010, 4, 0x1000, &config).1);
            predictor.learn(0x1010, 4, Control::Branch, 0x1000);
        }
        assert!(misses <= 10, "{misses} misses");
        let guess = predictor.predict(0x1010, 4, Control::Branch);
        assert_eq!(guess, Guess { taken: true, target: None, early: true });
        assert_eq!(guess.cost(0x1010, 4, 0x1000, &config), (0, false));
        assert_eq!(guess.cost(0x1010, 4, 0x1014, &config), (config.mispredict, true));
        // A call pushes its return address, which the return pops: right,
        // but a cycle late while the target buffer does not know the return.
        predictor.predict(0x2000, 4, Control::Call);
        let guess = predictor.predict(0x3000, 2, Control::Return);
        assert_eq!(guess.cost(0x3000, 2, 0x2004, &config), (config.redirect, false));
        assert_eq!(guess.cost(0x3000, 2, 0x2008, &config), (config.mispredict, true));
    }
}
