//! `polyhart-iss`: one RISC-V hart, the instruction-set simulator at the
//! bottom of polyhart.
//!
//! It executes RV64GC (RV64IMAFDC with Zicsr and Zifencei) in M, S and U
//! modes, with Sv39, Sv48 and Sv57 paging, PMP and Sstc. It knows nothing of
//! boards or devices: RAM is handed in as host memory ([`Ram`]) and
//! everything else is reached through the [`Bus`] trait that a machine
//! implements (the `polyhart-machine` crate builds whole machines).
//!
//! # Concepts
//!
//! - **Decoding** ([`decode`]): one table of encodings drives the decoder,
//!   the disassembler, the test encoder and every fact the tiers need about
//!   an instruction ([`decode::Op::class`], [`decode::Op::memory`], ...).
//! - **State**: a hart's architectural state is [`HartState`], plain data
//!   that compares with `==`; what the engines keep beside it (the TLB,
//!   compiled code's frame) is private to the crate.
//! - **Blocks**: a hart decodes a basic block once into a pre-decoded form,
//!   kept in the [`TranslationCache`] that all harts of a machine share, and
//!   finds it again through a per-hart jump cache.
//! - **Two tiers**: the interpreter runs blocks in their pre-decoded form;
//!   the [`Jit`] compiles hot ones with Cranelift, and compiled blocks jump
//!   to each other directly. Both tiers take the same memory path (RAM, the
//!   TLB, PMP, the bus: [`memory`]) and agree bit for bit; lockstep mode
//!   ([`JitConfig::lockstep`]) proves it block by block.
//! - **Running**: [`Hart::run`] runs until a budget of instructions is spent
//!   or something needs the caller ([`Exit`]): `wfi`, an exit request from
//!   another thread through the hart's [`HartControl`], a trap loop.
//!
//! # Example
//!
//! A hart with 64 KiB of RAM runs `li a0, 5; li a1, 7; add a0, a0, a1`
//! and then waits in `wfi`:
//!
//! ```
//! use std::sync::Arc;
//! use polyhart_iss::{AccessContext, Bus, BusError, Exit, Hart, HartControl, Ram, TranslationCache};
//!
//! /// Nothing but RAM: every other address faults.
//! struct NoDevices;
//!
//! impl Bus for NoDevices {
//!     fn read(&self, _: &AccessContext, addr: u64, _: u8) -> Result<u64, BusError> {
//!         Err(BusError::Unmapped(addr))
//!     }
//!     fn write(&self, _: &AccessContext, addr: u64, _: u8, _: u64) -> Result<(), BusError> {
//!         Err(BusError::Unmapped(addr))
//!     }
//!     fn fetch(&self, _: &AccessContext, addr: u64) -> Result<u16, BusError> {
//!         Err(BusError::Unmapped(addr))
//!     }
//!     fn time(&self, ctx: &AccessContext) -> u64 {
//!         ctx.cycle
//!     }
//! }
//!
//! let base = 0x8000_0000;
//! let ram = Arc::new(Ram::zeroed(base, 64 * 1024).unwrap());
//! let program: [u32; 4] = [0x0050_0513, 0x0070_0593, 0x00b5_0533, 0x1050_0073];
//! let bytes: Vec<u8> = program.iter().flat_map(|word| word.to_le_bytes()).collect();
//! assert!(ram.write_bytes(0, &bytes));
//! let mut hart = Hart::new(
//!     0,
//!     ram,
//!     Arc::new(NoDevices),
//!     Arc::new(TranslationCache::new()),
//!     Arc::new(HartControl::new()),
//! );
//! hart.state_mut().pc = base;
//! assert_eq!(hart.run(1000), Exit::WaitingForInterrupt);
//! assert_eq!(hart.state().reg(10), 12);
//! ```

#![warn(missing_docs, missing_debug_implementations)]

pub mod cache;
mod control;
mod cpu;
pub mod csr;
pub mod debug;
pub mod decode;
mod env;
mod fetch;
mod fpu;
mod hart;
mod interp;
pub mod jit;
pub mod memory;
pub mod plugin;
mod privilege;
mod run;
pub mod snapshot;
mod state;
mod trap;
pub mod trigger;
mod zicsr;

pub use cache::TranslationCache;
pub use control::HartControl;
pub use hart::{Exit, Hart, HartStats};
pub use jit::{Divergence, Jit, JitConfig, JitStats, MemoryAccess};
pub use memory::{AccessContext, Bus, BusError, Ram, RamError};
pub use privilege::Privilege;
pub use state::HartState;
pub use trap::{Cause, Exception, Interrupt, Trap};
