//! `polyhart-cosim`: a polyhart machine driven by an outside simulator, in
//! simulated time.
//!
//! An outside simulator (SystemC, or any discrete-event simulator) owns
//! simulated time; polyhart is its CPU. The outside builds a machine with
//! [`CosimBuilder`], claiming address ranges as external [`Region`]s whose
//! accesses become [`Transaction`]s (TLM-2.0's generic payload, with the
//! hart's local time offset as the annotated delay) served by its
//! [`Target`]s, and may grant DMI into them. Then it calls
//! [`Cosim::advance`] once per quantum: the harts run in parallel up to the
//! time asked for, and the call says why it stopped and the time reached.
//! Interrupt lines and hart resets come from outside through
//! [`Interrupts`], stamped with simulated time.
//!
//! - [`time`]: [`SimTime`], simulated time in picoseconds;
//! - [`region`]: external regions, transactions, targets and DMI;
//! - [`Cosim`], [`CosimBuilder`], [`Interrupts`]: advancing a machine in
//!   quanta and driving its lines;
//! - [`scheduler`]: the embedded default, a discrete-event scheduler whose
//!   processes are Rust `async` device models, and [`embedded`], which steps
//!   it and a machine together when there is no outside simulator;
//! - [`capi`]: the C ABI over all this, declared in
//!   `cosim/include/polyhart.h`, with a SystemC bridge in
//!   `cosim/examples/systemc`.
//!
//! # Example
//!
//! A program loads a word from an external region, whose target answers
//! 42, and exits through the test finisher with it as its status.
//!
//! ```
//! use polyhart_cosim::{AdvanceEnd, CosimBuilder, SimTime, Status, Transaction};
//! use polyhart_machine::{StopReason, VirtConfig};
//!
//! let program: [u32; 9] = [
//!     0x2000_02b7, // lui  t0, 0x20000     the region, at 0x2000_0000
//!     0x0002_a503, // lw   a0, 0(t0)
//!     0x0105_1513, // slli a0, a0, 16
//!     0x0000_32b7, // lui  t0, 0x3
//!     0x3332_8293, // addi t0, t0, 0x333
//!     0x0055_6533, // or   a0, a0, t0      a0 << 16 | 0x3333: fail with a0
//!     0x0010_02b7, // lui  t0, 0x100       the test finisher
//!     0x00a2_a023, // sw   a0, 0(t0)
//!     0x0000_006f, // j    .
//! ];
//! let image = program.iter().flat_map(|word| word.to_le_bytes()).collect();
//! let mut builder = CosimBuilder::new(VirtConfig::new().kernel(image).console(std::io::sink()));
//! let region = builder.region("ext", 0x2000_0000, 0x1000, |tx: &mut Transaction| {
//!     tx.set_value(42);
//!     tx.delay = tx.delay + SimTime::from_nanos(20); // the access's latency
//!     Status::Ok
//! });
//! let mut cosim = builder.build()?;
//! let reason = loop {
//!     let step = cosim.advance(SimTime::from_micros(10));
//!     if let AdvanceEnd::Stopped(reason) = step.end {
//!         break reason;
//!     }
//! };
//! assert_eq!(reason, StopReason::Exit(42));
//! assert_eq!(region.stats().transactions, 1);
//! # Ok::<(), polyhart_machine::boards::virt::BuildError>(())
//! ```

#![warn(missing_docs, missing_debug_implementations)]

pub mod capi;
mod driver;
pub mod embedded;
pub mod region;
pub mod scheduler;
pub mod time;

pub use driver::{Advance, AdvanceEnd, Cosim, CosimBuilder, Interrupts, Line, LineError};
pub use embedded::{Embedded, OnDriver};
pub use region::{Command, DmiError, DmiGrant, Region, RegionStats, Status, Target, Transaction};
pub use scheduler::{Event, ProcessId, Scheduler, SchedulerHandle};
pub use time::SimTime;
