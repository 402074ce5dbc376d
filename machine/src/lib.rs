//! `polyhart-machine`: whole RISC-V machines built around `polyhart-iss`
//! harts, and the runners that run them.
//!
//! A [`Machine`] is its harts, the system bus they reach devices through,
//! the translation cache they share and the board that put it together.
//! The crate holds:
//!
//! - guest physical memory ([`memory`]) and the address map ([`bus`]):
//!   harts reach RAM directly as host memory, devices through the small
//!   [`bus::Device`] trait, one model per file in [`devices`] (ACLINT, PLIC,
//!   ns16550a UART, SiFive test finisher, HTIF, ROM);
//! - boards ([`boards`]): a board owns its devices, maps them on the bus and
//!   builds the machine; [`boards::virt`] lays them out as QEMU's riscv
//!   `virt` machine does and boots the same way, so one ELF runs on both.
//!   The runners reach a board only through the [`Board`] trait;
//! - image loading ([`loader`]: ELF or raw binaries) and the device tree
//!   ([`fdt`]);
//! - the runners ([`runner`]): simulated time in quanta, the harts one after
//!   the other on the calling thread ([`Scheduling::Deterministic`]) or each
//!   on its own host thread ([`Scheduling::Parallel`]), and why a run stops
//!   ([`StopReason`]);
//! - the [`driver_queue`], through which hart threads hand work to the thread
//!   driving the machine (an outside simulator serving a transaction);
//! - the GDB remote stub ([`gdb`]): harts as GDB threads, breakpoints that
//!   write no guest memory, registers and CSRs, memory through a hart's
//!   translation.
//!
//! # Example
//!
//! A virt machine runs a program from RAM that exits through the test
//! finisher with status 42. Every hart starts in the board's reset ROM,
//! six instructions that jump to the kernel image.
//!
//! ```
//! use polyhart_machine::{StopReason, VirtConfig};
//!
//! let program: [u32; 8] = [
//!     0x02a0_0513, // li   a0, 42
//!     0x0105_1513, // slli a0, a0, 16
//!     0x0000_32b7, // lui  t0, 0x3
//!     0x3332_8293, // addi t0, t0, 0x333
//!     0x0055_6533, // or   a0, a0, t0      a0 = 42 << 16 | 0x3333: fail with 42
//!     0x0010_02b7, // lui  t0, 0x100       the test finisher
//!     0x00a2_a023, // sw   a0, 0(t0)
//!     0x0000_006f, // j    .
//! ];
//! let image = program.iter().flat_map(|word| word.to_le_bytes()).collect();
//! let mut machine = VirtConfig::new().kernel(image).console(std::io::sink()).build()?;
//!
//! // The reset ROM's six instructions, then the program's first two.
//! assert_eq!(machine.run(Some(8)), StopReason::InstructionLimit);
//! assert_eq!(machine.harts()[0].state().reg(10), 42 << 16);
//!
//! assert_eq!(machine.run(None), StopReason::Exit(42));
//! # Ok::<(), polyhart_machine::boards::virt::BuildError>(())
//! ```

#![warn(missing_docs, missing_debug_implementations)]

pub mod boards;
pub mod bus;
pub mod console;
pub mod devices;
pub mod driver_queue;
pub mod fdt;
pub mod gdb;
mod hex;
pub mod loader;
mod machine;
pub mod memory;
pub mod plugins;
pub mod replay;
pub mod runner;
pub mod snapshot;

pub use boards::Board;
pub use boards::virt::{Virt, VirtConfig, build as build_virt};
pub use machine::{Engine, JitConfig, Machine};
pub use runner::{Scheduling, StopReason, StopSignal};
pub use snapshot::{Snapshot, SnapshotError};
