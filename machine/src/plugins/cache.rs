//! `cache`: set-associative L1 instruction and data caches and an L2,
//! simulated per hart, with their miss rates.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use polyhart_iss::plugin::{BlockInfo, Finished, HartView, MemoryEvent, Observer, Plan, Plugin};

use super::{Args, Output, PluginError};

/// The geometry of one cache.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes it holds.
    pub size: u64,
    /// Ways per set.
    pub assoc: u64,
    /// Bytes per line (block).
    pub line: u64,
}

impl Geometry {
    /// Sets in the cache.
    pub fn sets(&self) -> u64 {
        self.size / (self.assoc * self.line)
    }

    pub(crate) fn check(&self, name: &str) -> Result<(), String> {
        let per_set = self.assoc.checked_mul(self.line).filter(|&bytes| bytes > 0);
        let valid = self.line.is_power_of_two()
            && self.size <= 1 << 30
            && per_set.is_some_and(|bytes| self.size.is_multiple_of(bytes) && (self.size / bytes).is_power_of_two());
        if valid {
            Ok(())
        } else {
            Err(format!(
                "{name}: {} bytes, {}-way, {}-byte lines: the line size and the number of sets must be powers of \
                 two, and the size at most 1 GiB",
                self.size, self.assoc, self.line
            ))
        }
    }
}

/// Which line of a full set a miss replaces.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// The least recently used.
    Lru,
    /// The one filled first.
    Fifo,
}

/// What [`Cache`] simulates.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// The L1 instruction cache.
    pub icache: Geometry,
    /// The L1 data cache.
    pub dcache: Geometry,
    /// The unified L2 behind both, if any.
    pub l2: Option<Geometry>,
    /// The replacement policy of every cache.
    pub eviction: Eviction,
}

impl Default for CacheConfig {
    /// QEMU's `cache` plugin's defaults: 16 KiB 8-way L1s with 64-byte
    /// lines, and a 2 MiB 16-way L2.
    fn default() -> CacheConfig {
        let l1 = Geometry { size: 16 << 10, assoc: 8, line: 64 };
        CacheConfig {
            icache: l1,
            dcache: l1,
            l2: Some(Geometry { size: 2 << 20, assoc: 16, line: 64 }),
            eviction: Eviction::Lru,
        }
    }
}

/// Simulates a set-associative L1 instruction cache, an L1 data cache and
/// a unified L2 for each hart (private caches, without coherence between
/// harts), fed with every instruction fetch and data access by physical
/// address, and reports accesses, misses and miss rates per hart and in
/// total, and the instructions with the most data misses.
///
/// Arguments, named as QEMU's `cache` plugin names them:
/// `icachesize`, `iassoc`, `iblksize`, `dcachesize`, `dassoc`, `dblksize`,
/// `l2cachesize`, `l2assoc`, `l2blksize` (sizes take `K` and `M`), `l2=on|off`
/// (on), `evict=lru|fifo` (lru), `limit=N` (10 instructions), `out=PATH`.
///
/// A fetch counts once per instruction; an access across two lines counts
/// as one access to the first. Blocks run in the interpreter while the
/// plugin is installed (it calls back at every instruction).
#[derive(Debug)]
pub struct Cache {
    config: CacheConfig,
    limit: usize,
    output: Output,
    /// Per instruction with a data access, by physical address: its
    /// virtual address and disassembly, for the report.
    insts: Mutex<HashMap<u64, (u64, String)>>,
    report: Mutex<Option<CacheReport>>,
}

impl Cache {
    pub(crate) fn from_args(args: &mut Args) -> Result<Cache, PluginError> {
        let defaults = CacheConfig::default();
        let mut geometry = |prefix: &str, default: Geometry| -> Result<Geometry, PluginError> {
            Ok(Geometry {
                size: args.number(&format!("{prefix}cachesize"))?.unwrap_or(default.size),
                assoc: args.number(&format!("{prefix}assoc"))?.unwrap_or(default.assoc),
                line: args.number(&format!("{prefix}blksize"))?.unwrap_or(default.line),
            })
        };
        let icache = geometry("i", defaults.icache)?;
        let dcache = geometry("d", defaults.dcache)?;
        let l2 = geometry("l2", defaults.l2.expect("the default has an L2"))?;
        let l2 = args.switch("l2")?.unwrap_or(true).then_some(l2);
        let eviction = match args.take("evict").as_deref() {
            None | Some("lru") => Eviction::Lru,
            Some("fifo") => Eviction::Fifo,
            Some(other) => return Err(args.invalid(format!("evict={other}: expected lru or fifo"))),
        };
        let limit = args.number("limit")?.unwrap_or(10) as usize;
        let output = args.output()?;
        let config = CacheConfig { icache, dcache, l2, eviction };
        Cache::new(config, limit, output).map_err(|message| args.invalid(message))
    }

    /// Simulates `config`, reporting the `limit` instructions with the
    /// most data misses, to `output`. An error names a geometry whose line
    /// size or number of sets is not a power of two.
    pub fn new(config: CacheConfig, limit: usize, output: Output) -> Result<Cache, String> {
        config.icache.check("icache")?;
        config.dcache.check("dcache")?;
        if let Some(l2) = config.l2 {
            l2.check("l2")?;
        }
        Ok(Cache { config, limit, output, insts: Mutex::new(HashMap::new()), report: Mutex::new(None) })
    }

    /// The report of the last finish.
    pub fn report(&self) -> Option<CacheReport> {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One simulated cache.
#[derive(Debug)]
pub(crate) struct Model {
    sets: u64,
    assoc: usize,
    line_shift: u32,
    /// Per line (set-major): its tag, or `u64::MAX` while empty.
    tags: Vec<u64>,
    /// Per line: when it was last used (LRU) or filled (FIFO).
    stamps: Vec<u64>,
    clock: u64,
    eviction: Eviction,
    pub(crate) accesses: u64,
    pub(crate) misses: u64,
}

impl Model {
    pub(crate) fn new(geometry: Geometry, eviction: Eviction) -> Model {
        let lines = (geometry.sets() * geometry.assoc) as usize;
        Model {
            sets: geometry.sets(),
            assoc: geometry.assoc as usize,
            line_shift: geometry.line.trailing_zeros(),
            tags: vec![u64::MAX; lines],
            stamps: vec![0; lines],
            clock: 0,
            eviction,
            accesses: 0,
            misses: 0,
        }
    }

    /// Accesses the line holding `addr`: true on a hit. A miss fills it.
    pub(crate) fn access(&mut self, addr: u64) -> bool {
        self.accesses += 1;
        self.clock += 1;
        let line = addr >> self.line_shift;
        let set = (line & (self.sets - 1)) as usize;
        let tag = line >> self.sets.trailing_zeros();
        let ways = set * self.assoc..(set + 1) * self.assoc;
        if let Some(way) = ways.clone().find(|&way| self.tags[way] == tag) {
            if self.eviction == Eviction::Lru {
                self.stamps[way] = self.clock;
            }
            return true;
        }
        self.misses += 1;
        // An empty line has stamp 0, older than any filled one.
        let victim = ways.min_by_key(|&way| self.stamps[way]).expect("a set has ways");
        self.tags[victim] = tag;
        self.stamps[victim] = self.clock;
        false
    }
}

/// A hart's caches.
struct HartCaches {
    icache: Model,
    dcache: Model,
    l2: Option<Model>,
    /// Data misses per instruction, by its physical address.
    data_misses: HashMap<u64, u64>,
}

impl Observer for HartCaches {
    fn instruction(&mut self, _hart: &HartView<'_>, physical: u64) {
        if !self.icache.access(physical)
            && let Some(l2) = &mut self.l2
        {
            l2.access(physical);
        }
    }

    fn memory(&mut self, _hart: &HartView<'_>, access: &MemoryEvent, physical: u64) {
        if !self.dcache.access(access.paddr) {
            *self.data_misses.entry(physical).or_default() += 1;
            if let Some(l2) = &mut self.l2 {
                l2.access(access.paddr);
            }
        }
    }
}

/// Accesses and misses of one cache.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Rate {
    /// Accesses.
    pub accesses: u64,
    /// Misses.
    pub misses: u64,
}

impl Rate {
    /// Misses per access, in percent.
    pub fn percent(&self) -> f64 {
        100.0 * self.misses as f64 / self.accesses.max(1) as f64
    }

    fn of(model: &Model) -> Rate {
        Rate { accesses: model.accesses, misses: model.misses }
    }

    fn add(&mut self, other: Rate) {
        self.accesses += other.accesses;
        self.misses += other.misses;
    }
}

/// What [`Cache`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CacheReport {
    /// Per hart: its `mhartid`, and its L1I, L1D and L2 (if simulated).
    pub harts: Vec<(u64, Rate, Rate, Option<Rate>)>,
    /// The instructions with the most L1 data misses: pc, disassembly,
    /// misses (all harts).
    pub worst: Vec<(u64, String, u64)>,
}

impl CacheReport {
    /// All harts' L1I, L1D and L2 together.
    pub fn total(&self) -> (Rate, Rate, Option<Rate>) {
        let (mut i, mut d, mut l2) = (Rate::default(), Rate::default(), None::<Rate>);
        for &(_, hi, hd, hl2) in &self.harts {
            i.add(hi);
            d.add(hd);
            if let Some(hl2) = hl2 {
                l2.get_or_insert_default().add(hl2);
            }
        }
        (i, d, l2)
    }
}

impl fmt::Display for CacheReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = |f: &mut fmt::Formatter<'_>, who: &str, name: &str, rate: Rate| {
            writeln!(f, "cache: {who:<7} {name:<3} {:>14} {:>12} {:>8.4}%", rate.accesses, rate.misses, rate.percent())
        };
        writeln!(f, "cache: {:<7} {:<3} {:>14} {:>12} {:>9}", "hart", "", "accesses", "misses", "miss rate")?;
        for &(hart, i, d, l2) in &self.harts {
            let who = hart.to_string();
            line(f, &who, "L1I", i)?;
            line(f, &who, "L1D", d)?;
            if let Some(l2) = l2 {
                line(f, &who, "L2", l2)?;
            }
        }
        if self.harts.len() > 1 {
            let (i, d, l2) = self.total();
            line(f, "all", "L1I", i)?;
            line(f, "all", "L1D", d)?;
            if let Some(l2) = l2 {
                line(f, "all", "L2", l2)?;
            }
        }
        if !self.worst.is_empty() {
            writeln!(f, "cache: instructions with the most L1D misses:")?;
            for (pc, disassembly, misses) in &self.worst {
                writeln!(f, "cache: {pc:#018x} {misses:>12}  {disassembly}")?;
            }
        }
        Ok(())
    }
}

impl Plugin for Cache {
    fn name(&self) -> &str {
        "cache"
    }

    fn translate(&self, block: &BlockInfo<'_>, plan: &mut Plan<'_>) {
        let mut insts = self.insts.lock().unwrap_or_else(|e| e.into_inner());
        for inst in block.instructions() {
            plan.on_instruction(inst.index(), inst.physical());
            if inst.memory().is_some() {
                plan.on_memory(inst.index(), inst.physical());
                insts.entry(inst.physical()).or_insert_with(|| (inst.pc(), inst.disassembly()));
            }
        }
    }

    fn observer(&self, _hart: u64) -> Box<dyn Observer> {
        let CacheConfig { icache, dcache, l2, eviction } = self.config;
        Box::new(HartCaches {
            icache: Model::new(icache, eviction),
            dcache: Model::new(dcache, eviction),
            l2: l2.map(|l2| Model::new(l2, eviction)),
            data_misses: HashMap::new(),
        })
    }

    fn finish(&self, harts: Vec<Finished>) {
        let mut report = CacheReport::default();
        let mut misses: HashMap<u64, u64> = HashMap::new();
        for hart in &harts {
            let Some(caches) = hart.observer::<HartCaches>() else { continue };
            report.harts.push((
                hart.hart,
                Rate::of(&caches.icache),
                Rate::of(&caches.dcache),
                caches.l2.as_ref().map(Rate::of),
            ));
            for (&physical, &count) in &caches.data_misses {
                *misses.entry(physical).or_default() += count;
            }
        }
        report.harts.sort_by_key(|&(hart, ..)| hart);
        let insts = self.insts.lock().unwrap_or_else(|e| e.into_inner());
        let mut worst: Vec<(u64, String, u64)> = misses
            .into_iter()
            .map(|(physical, count)| {
                let (pc, disassembly) = insts.get(&physical).cloned().unwrap_or((physical, String::new()));
                (pc, disassembly, count)
            })
            .collect();
        worst.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
        worst.truncate(self.limit);
        report.worst = worst;
        self.output.write(&report);
        *self.report.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2-set, 2-way cache of 16-byte lines, worked by hand.
    #[test]
    fn lru_and_fifo_evict_as_defined() {
        let geometry = Geometry { size: 64, assoc: 2, line: 16 };
        let mut lru = Model::new(geometry, Eviction::Lru);
        // Lines 0, 2, 4 all map to set 0.
        assert!(!lru.access(0x00));
        assert!(!lru.access(0x20));
        assert!(lru.access(0x0f)); // line 0 again: now most recent
        assert!(!lru.access(0x40)); // evicts line 2, the least recent
        assert!(lru.access(0x00));
        assert!(!lru.access(0x20));
        assert_eq!((lru.accesses, lru.misses), (6, 4));
        // Set 1 is untouched by all that.
        assert!(!lru.access(0x10));
        assert!(lru.access(0x1c));

        let mut fifo = Model::new(geometry, Eviction::Fifo);
        assert!(!fifo.access(0x00));
        assert!(!fifo.access(0x20));
        assert!(fifo.access(0x00)); // a hit does not refresh it
        assert!(!fifo.access(0x40)); // evicts line 0, filled first
        assert!(!fifo.access(0x00));
    }

    #[test]
    fn geometries_must_be_powers_of_two() {
        assert!(Geometry { size: 16 << 10, assoc: 8, line: 64 }.check("d").is_ok());
        assert!(Geometry { size: 3 << 10, assoc: 3, line: 64 }.check("d").is_ok(), "16 sets of 3 ways");
        assert!(Geometry { size: 3 << 10, assoc: 4, line: 64 }.check("d").is_err(), "12 sets");
        assert!(Geometry { size: 16 << 10, assoc: 8, line: 48 }.check("d").is_err());
        assert!(Geometry { size: 0, assoc: 8, line: 64 }.check("d").is_err());
        assert!(Geometry { size: 16 << 10, assoc: 0, line: 64 }.check("d").is_err());
    }
}
