//! `hotblocks`: the blocks run most often, counted inline.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use polyhart_iss::plugin::{BlockInfo, Counter, Finished, Observer, Plan, Plugin};

use super::Output;

/// Counts each block's runs with an inline counter per block (so compiled
/// code stays compiled) and reports the `limit` most run. A block is known
/// by its physical address: retranslated (after its code was written, or
/// the jump cache lost it) it keeps its counter. Arguments: `limit=N`
/// (20), `out=PATH`.
#[derive(Debug)]
pub struct HotBlocks {
    limit: usize,
    output: Output,
    blocks: Mutex<HashMap<u64, BlockEntry>>,
    report: Mutex<Option<Vec<HotBlock>>>,
}

#[derive(Debug)]
struct BlockEntry {
    counter: Counter,
    pc: u64,
    insts: usize,
    first: String,
}

/// One block of [`HotBlocks`]'s report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotBlock {
    /// The virtual address it was first translated at.
    pub pc: u64,
    /// Its physical address.
    pub physical: u64,
    /// Its runs, all harts together.
    pub runs: u64,
    /// Its instructions (as first translated).
    pub insts: usize,
    /// Its first instruction's disassembly.
    pub first: String,
}

struct Report<'a>(&'a [HotBlock], usize);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "hotblocks: {} blocks, the {} most run:", self.1, self.0.len())?;
        writeln!(f, "hotblocks: {:>18} {:>18} {:>14} {:>5}  first instruction", "pc", "physical", "runs", "insns")?;
        for block in self.0 {
            writeln!(
                f,
                "hotblocks: {:#018x} {:#018x} {:>14} {:>5}  {}",
                block.pc, block.physical, block.runs, block.insts, block.first
            )?;
        }
        Ok(())
    }
}

impl HotBlocks {
    /// Reports the `limit` most run blocks to `output`.
    pub fn new(limit: usize, output: Output) -> HotBlocks {
        HotBlocks { limit, output, blocks: Mutex::new(HashMap::new()), report: Mutex::new(None) }
    }

    /// The report of the last finish: the most run blocks, most run first.
    pub fn report(&self) -> Option<Vec<HotBlock>> {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

struct NoCalls;

impl Observer for NoCalls {}

impl Plugin for HotBlocks {
    fn name(&self) -> &str {
        "hotblocks"
    }

    fn setup(&self, _setup: &mut polyhart_iss::plugin::Setup<'_>) {
        // Counters are the new machine's: forget the old ones.
        self.blocks.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn translate(&self, block: &BlockInfo<'_>, plan: &mut Plan<'_>) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        let counter = match blocks.get(&block.physical()) {
            Some(entry) => entry.counter,
            None => {
                let Some(counter) = plan.counter() else { return };
                let first = block.instruction(0).disassembly();
                blocks.insert(block.physical(), BlockEntry { counter, pc: block.pc(), insts: block.len(), first });
                counter
            }
        };
        plan.count_block(counter, 1);
    }

    fn observer(&self, _hart: u64) -> Box<dyn Observer> {
        Box::new(NoCalls)
    }

    fn finish(&self, harts: Vec<Finished>) {
        let blocks = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        let mut hot: Vec<HotBlock> = blocks
            .iter()
            .map(|(&physical, entry)| HotBlock {
                pc: entry.pc,
                physical,
                runs: harts.iter().map(|hart| hart.counter(entry.counter)).sum(),
                insts: entry.insts,
                first: entry.first.clone(),
            })
            .filter(|block| block.runs > 0)
            .collect();
        let ran = hot.len();
        hot.sort_by(|a, b| b.runs.cmp(&a.runs).then(a.physical.cmp(&b.physical)));
        hot.truncate(self.limit);
        self.output.write(&Report(&hot, ran));
        *self.report.lock().unwrap_or_else(|e| e.into_inner()) = Some(hot);
    }
}
