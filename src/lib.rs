//! polyhart: an embeddable, multi-threaded RISC-V system emulator.
//!
//! This facade re-exports the three library crates:
//! - [`iss`]: one hart: decoder, interpreter, CSRs, traps, translation cache;
//! - [`machine`]: memory, devices, boards, loaders and the hart runner;
//! - [`cosim`]: simulated time and the interface to an outside simulator.
//!
//! ```no_run
//! use polyhart::machine::{build_virt, StopReason, VirtConfig};
//!
//! let kernel = std::fs::read("tests/guest/hello.elf").unwrap();
//! let mut machine = build_virt(VirtConfig { kernel: Some(kernel), ..VirtConfig::default() }).unwrap();
//! match machine.run(None) {
//!     StopReason::Exit(code) => println!("guest exited with {code}"),
//!     other => println!("stopped: {other:?}"),
//! }
//! ```

#![warn(missing_docs, missing_debug_implementations)]

pub use polyhart_cosim as cosim;
pub use polyhart_iss as iss;
pub use polyhart_machine as machine;
