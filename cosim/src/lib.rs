//! `polyhart-cosim`: simulated time and its synchronisation with an outside
//! simulator.
//!
//! For now this crate holds the time base that the rest of the cosimulation
//! layer (quantum keeper, external regions, DMI, the C ABI) will build on; the
//! embedded default scheduler is the runner in `polyhart-machine`.

#![warn(missing_docs, missing_debug_implementations)]

pub mod kernel;
pub mod time;

pub use kernel::{Event, Kernel, KernelHandle, ProcessId};
pub use time::SimTime;
