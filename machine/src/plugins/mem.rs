//! `mem`: a trace of memory accesses to a file.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use polyhart_iss::decode::MemoryKind;
use polyhart_iss::plugin::{BlockInfo, Finished, HartView, MemoryEvent, Observer, Plan, Plugin, Target};

use super::{Args, PluginError};

/// Writes every load, store, LR, SC and AMO whose address falls in a range
/// to a text file, a line per access:
///
/// ```text
/// # hart pc kind size vaddr paddr value target
/// 0 0x80000014 store 8 0x80001000 0x80001000 0x2a ram
/// ```
///
/// `kind` is `load`, `store`, `lr`, `sc` or `amo` (an AMO's value is what
/// memory held before it; a failed `sc` is no access). Each hart buffers its
/// own lines and writes them in whole chunks, so lines never mix, but the
/// harts' chunks interleave in the order they were written. Arguments:
/// `file=PATH` (required), `range=START-END` (end excluded; all addresses
/// when absent), `physical=on` to match the range against physical
/// addresses instead of virtual ones, `out=PATH` for the summary.
///
/// Accesses are seen by callbacks: blocks with loads or stores run in the
/// interpreter while the plugin is installed.
#[derive(Debug)]
pub struct MemTrace {
    path: PathBuf,
    file: Arc<Mutex<File>>,
    range: (u64, u64),
    physical: bool,
    output: super::Output,
    /// Accesses traced, all harts together, as of the last finish.
    traced: AtomicU64,
}

/// Lines a hart buffers before writing them.
const CHUNK: usize = 64 * 1024;

impl MemTrace {
    pub(crate) fn from_args(args: &mut Args) -> Result<MemTrace, PluginError> {
        let path = PathBuf::from(args.take("file").ok_or_else(|| args.invalid("file=PATH is required".into()))?);
        let range = match args.take("range") {
            None => (0, u64::MAX),
            Some(text) => {
                let parsed = text.split_once('-').and_then(|(start, end)| {
                    Some((super::parse_number(start.trim())?, super::parse_number(end.trim())?))
                });
                match parsed {
                    Some((start, end)) if start < end => (start, end),
                    _ => return Err(args.invalid(format!("range={text}: expected START-END with START < END"))),
                }
            }
        };
        let physical = args.switch("physical")?.unwrap_or(false);
        let output = args.output()?;
        MemTrace::new(path, range, physical, output)
    }

    /// Traces accesses in `[range.0, range.1)` (physical addresses if
    /// `physical`, else virtual) to the file at `path`; the summary goes to
    /// `output`.
    pub fn new(
        path: PathBuf,
        range: (u64, u64),
        physical: bool,
        output: super::Output,
    ) -> Result<MemTrace, PluginError> {
        let mut file = File::create(&path).map_err(|source| PluginError::File {
            plugin: "mem".into(),
            path: path.clone(),
            source,
        })?;
        let header = writeln!(file, "# hart pc kind size vaddr paddr value target");
        header.map_err(|source| PluginError::File { plugin: "mem".into(), path: path.clone(), source })?;
        Ok(MemTrace { path, file: Arc::new(Mutex::new(file)), range, physical, output, traced: AtomicU64::new(0) })
    }

    /// Accesses traced, as of the last finish.
    pub fn traced(&self) -> u64 {
        self.traced.load(Ordering::Relaxed)
    }
}

/// A hart's side: its buffer.
struct HartTrace {
    hart: u64,
    file: Arc<Mutex<File>>,
    range: (u64, u64),
    physical: bool,
    buffer: Vec<u8>,
    /// Accesses this hart traced.
    traced: u64,
}

impl HartTrace {
    fn flush(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = file.write_all(&self.buffer) {
            eprintln!("polyhart: mem plugin: {error}");
        }
        self.buffer.clear();
    }
}

impl Observer for HartTrace {
    fn memory(&mut self, hart: &HartView<'_>, access: &MemoryEvent, _tag: u64) {
        let address = if self.physical { access.paddr } else { access.vaddr };
        if address < self.range.0 || address >= self.range.1 {
            return;
        }
        let kind = match access.kind {
            MemoryKind::Load => "load",
            MemoryKind::Store => "store",
            MemoryKind::LoadReserved => "lr",
            MemoryKind::StoreConditional => "sc",
            MemoryKind::Amo(_) => "amo",
        };
        let target = match access.target {
            Target::Ram => "ram",
            Target::Device => "device",
        };
        let _ = writeln!(
            self.buffer,
            "{} {:#x} {kind} {} {:#x} {:#x} {:#x} {target}",
            self.hart,
            hart.pc(),
            access.size,
            access.vaddr,
            access.paddr,
            access.value
        );
        self.traced += 1;
        if self.buffer.len() >= CHUNK {
            self.flush();
        }
    }

    fn stop(&mut self, _hart: &HartView<'_>) {
        self.flush();
    }
}

impl Drop for HartTrace {
    fn drop(&mut self) {
        self.flush();
    }
}

impl Plugin for MemTrace {
    fn name(&self) -> &str {
        "mem"
    }

    fn translate(&self, block: &BlockInfo<'_>, plan: &mut Plan<'_>) {
        for inst in block.instructions() {
            if inst.memory().is_some() {
                plan.on_memory(inst.index(), 0);
            }
        }
    }

    fn observer(&self, hart: u64) -> Box<dyn Observer> {
        Box::new(HartTrace {
            hart,
            file: self.file.clone(),
            range: self.range,
            physical: self.physical,
            buffer: Vec::with_capacity(CHUNK + 256),
            traced: 0,
        })
    }

    fn finish(&self, harts: Vec<Finished>) {
        let traced = harts.iter().filter_map(|hart| hart.observer::<HartTrace>()).map(|trace| trace.traced).sum();
        self.traced.store(traced, Ordering::Relaxed);
        // Dropping the observers writes what they still hold.
        drop(harts);
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = file.flush();
        let summary = format!("mem: {} accesses traced to {}\n", self.traced(), self.path.display());
        self.output.write(&summary);
    }
}
