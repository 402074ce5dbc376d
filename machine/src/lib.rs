//! `polyhart-machine`: whole RISC-V machines built around `polyhart-iss` harts.
//!
//! This crate owns guest physical memory ([`memory`]), the address map
//! ([`bus`]), the device models ([`devices`]), boards ([`boards`]), image
//! loading ([`loader`]), the device tree ([`fdt`]) and the loop that runs the
//! harts ([`runner`]).
//!
//! ```no_run
//! use polyhart_machine::boards::virt::{self, VirtConfig};
//! use polyhart_machine::runner::StopReason;
//!
//! let kernel = std::fs::read("tests/guest/hello.elf").unwrap();
//! let mut machine = virt::build(VirtConfig { kernel: Some(kernel), ..VirtConfig::default() }).unwrap();
//! assert_eq!(machine.run(Some(1_000_000)), StopReason::Exit(0));
//! ```

#![warn(missing_docs, missing_debug_implementations)]

pub mod boards;
pub mod bus;
pub mod console;
pub mod devices;
pub mod driver_queue;
pub mod fdt;
pub mod loader;
mod machine;
pub mod memory;
pub mod runner;

pub use boards::Board;
pub use boards::virt::{Virt, VirtConfig, build as build_virt};
pub use machine::{Engine, JitConfig, Machine};
pub use runner::{Scheduling, StopReason, StopSignal};
