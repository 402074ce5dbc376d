//! `polyhart-cosim`: a polyhart machine driven by an outside simulator.
//!
//! An outside simulator (SystemC, or any discrete-event simulator) owns
//! simulated time. It builds a machine with [`CosimBuilder`], claiming
//! address ranges as external [`Region`]s whose accesses become
//! [`Transaction`]s served by its [`Target`]s, then calls [`Cosim::advance`]
//! once per quantum: the harts run in parallel up to the time asked for,
//! and the call says why it stopped and the time reached. Interrupt lines
//! and hart resets come from outside through [`Interrupts`], stamped with
//! simulated time. The C ABI over all this is in [`capi`], declared in
//! `cosim/include/polyhart.h`. Without an outside simulator, device models
//! written in Rust can be `async` processes on the embedded discrete-event
//! [`scheduler`].
//!
//! ```
//! use polyhart_cosim::{AdvanceEnd, CosimBuilder, SimTime, Status, Transaction};
//! use polyhart_machine::VirtConfig;
//!
//! let elf = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/guest/hello.elf")).unwrap();
//! let config = VirtConfig::new().kernel(elf).console(std::io::sink());
//! let mut builder = CosimBuilder::new(config);
//! builder.region("ext", 0x2000_0000, 0x1000, |tx: &mut Transaction| {
//!     tx.set_value(0);
//!     Status::Ok
//! });
//! let mut cosim = builder.build().unwrap();
//! loop {
//!     let step = cosim.advance(SimTime::from_micros(10));
//!     if let AdvanceEnd::Stopped(_) = step.end {
//!         break;
//!     }
//! }
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
