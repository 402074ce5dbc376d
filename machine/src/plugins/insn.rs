//! `insn`: instructions retired, per hart and by class, counted inline.

use std::fmt;
use std::sync::Mutex;

use polyhart_iss::decode::Class;
use polyhart_iss::plugin::{BlockInfo, Counter, Finished, HartView, Observer, Plan, Plugin, Setup};

use super::Output;

/// Counts the instructions each hart runs, by [`Class`], with an inline
/// counter per class: no callback, so compiled code keeps running
/// compiled. With `inline=off` it counts in a callback before each
/// instruction instead (as QEMU's `insn` plugin without `inline=on`): the
/// same counts, at the cost of a call per instruction in the interpreter,
/// which is what the overhead benchmark measures. Arguments: `inline=on|off`
/// (on), `out=PATH`.
///
/// The count is of instructions that began to run: one that traps counts
/// (as in QEMU's `insn` plugin), so it can exceed `minstret`'s count by the
/// exceptions taken.
#[derive(Debug)]
pub struct Insn {
    /// Counting with inline counters, not callbacks.
    inline: bool,
    /// A counter per class, taken at setup.
    counters: Mutex<Vec<Counter>>,
    output: Output,
    report: Mutex<Option<InsnReport>>,
}

/// What [`Insn`] counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InsnReport {
    /// Per hart (by `mhartid`), instructions of each class, indexed by
    /// [`Class::index`].
    pub harts: Vec<(u64, Vec<u64>)>,
}

impl InsnReport {
    /// All harts' instructions.
    pub fn total(&self) -> u64 {
        self.harts.iter().flat_map(|(_, classes)| classes).sum()
    }

    /// All harts' instructions of `class`.
    pub fn class(&self, class: Class) -> u64 {
        self.harts.iter().map(|(_, classes)| classes[class.index()]).sum()
    }
}

impl fmt::Display for InsnReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        writeln!(f, "insn: {total} instructions")?;
        for (hart, classes) in &self.harts {
            writeln!(f, "insn: hart {hart}: {}", classes.iter().sum::<u64>())?;
        }
        for class in Class::ALL {
            let count = self.class(class);
            if count > 0 {
                let share = 100.0 * count as f64 / total.max(1) as f64;
                writeln!(f, "insn: {:<11} {count:>14} {share:6.2}%", class.name())?;
            }
        }
        Ok(())
    }
}

impl Insn {
    /// Counts with inline counters, and reports to `output`.
    pub fn new(output: Output) -> Insn {
        Insn { inline: true, counters: Mutex::new(Vec::new()), output, report: Mutex::new(None) }
    }

    /// Counts in a callback before each instruction instead.
    pub fn with_callbacks(output: Output) -> Insn {
        Insn { inline: false, ..Insn::new(output) }
    }

    /// The report of the last finish, if any.
    pub fn report(&self) -> Option<InsnReport> {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A hart's counts by class, in callback mode (unused inline).
struct Callbacks([u64; Class::ALL.len()]);

impl Observer for Callbacks {
    fn instruction(&mut self, _hart: &HartView<'_>, class: u64) {
        self.0[class as usize] += 1;
    }
}

impl Plugin for Insn {
    fn name(&self) -> &str {
        "insn"
    }

    fn setup(&self, setup: &mut Setup<'_>) {
        let counters: Option<Vec<Counter>> = Class::ALL.iter().map(|_| setup.counter()).collect();
        *self.counters.lock().unwrap_or_else(|e| e.into_inner()) = counters.unwrap_or_default();
    }

    fn translate(&self, block: &BlockInfo<'_>, plan: &mut Plan<'_>) {
        if !self.inline {
            for inst in block.instructions() {
                plan.on_instruction(inst.index(), inst.class().index() as u64);
            }
            return;
        }
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        if counters.is_empty() {
            return;
        }
        for inst in block.instructions() {
            plan.count_instruction(inst.index(), counters[inst.class().index()], 1);
        }
    }

    fn observer(&self, _hart: u64) -> Box<dyn Observer> {
        Box::new(Callbacks([0; Class::ALL.len()]))
    }

    fn finish(&self, harts: Vec<Finished>) {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut report = InsnReport::default();
        for hart in &harts {
            let classes = match hart.observer::<Callbacks>() {
                Some(callbacks) if !self.inline => callbacks.0.to_vec(),
                _ => counters.iter().map(|&counter| hart.counter(counter)).collect(),
            };
            report.harts.push((hart.hart, classes));
        }
        report.harts.sort_by_key(|(hart, _)| *hart);
        self.output.write(&report);
        *self.report.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
    }
}
