//! `polyhart-iss`: one RISC-V hart.
//!
//! This crate executes RV64IMAC with Zicsr and Zifencei, in M, S and U modes
//! with Sv39, Sv48 and Sv57 paging: the decoder and
//! disassembler ([`decode`]), the hart's state and CSRs ([`hart`], [`csr`]),
//! traps ([`trap`]), address translation ([`mmu`]), physical memory
//! protection ([`pmp`]), the interpreter, and the [`cache::TranslationCache`] of
//! decoded blocks that all harts of a machine share. It knows nothing of boards
//! or devices: RAM is handed in as host memory ([`memory::Ram`]) and everything
//! else is reached through the [`memory::Bus`] trait the machine implements.
//!
//! ```
//! use polyhart_iss::decode::{decode, Disassembly};
//!
//! let inst = decode(0x00a50533); // add a0, a0, a0
//! assert_eq!(Disassembly::new(inst, 0x8000_0000).to_string(), "add a0, a0, a0");
//! ```
//!
//! A [`Hart`] runs against a [`memory::Ram`] and a [`memory::Bus`]; see the
//! `polyhart-machine` crate for a whole machine.

#![warn(missing_docs, missing_debug_implementations)]

pub mod cache;
pub mod csr;
pub mod decode;
pub mod fpu;
pub mod hart;
mod interp;
pub mod jit;
pub mod memory;
pub mod mmu;
pub mod pmp;
pub mod trap;

pub use cache::TranslationCache;
pub use hart::{Exit, Hart, HartControl, HartState, HartStats, Privilege};
pub use jit::{Divergence, Jit, JitConfig, JitStats, MemoryAccess};
pub use memory::{AccessContext, Bus, BusError, Ram, RamError};
pub use trap::{Cause, Exception, Interrupt, Trap};
