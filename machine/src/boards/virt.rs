//! The `virt` board: the memory map and boot protocol of QEMU's riscv `virt`
//! machine, so one ELF runs unchanged on both.
//!
//! | what | address |
//! | --- | --- |
//! | test finisher (`sifive,test0`) | `0x0010_0000` |
//! | reset ROM (`mrom`) | `0x0000_1000` |
//! | CLINT (ACLINT MSWI + MTIMER) | `0x0200_0000` |
//! | UART (ns16550a) | `0x1000_0000` |
//! | RAM | `0x8000_0000` |
//!
//! Every hart starts in the reset ROM at `0x1000`, which, as on QEMU, loads
//! `a0` = `mhartid`, `a1` = the device tree address and `a2` = the OpenSBI
//! `fw_dynamic` information, and jumps to the firmware, or to the kernel when
//! there is no firmware.

use std::io::Write;
use std::sync::Arc;

use polyhart_iss::{Hart, HartControl, TranslationCache};

use crate::bus::{OverlapError, SystemBus};
use crate::console::Console;
use crate::devices::{Aclint, Htif, Rom, TestFinisher, Uart, Unconnected, aclint};
use crate::fdt::{self, FdtConfig};
use crate::loader::{self, LoadError, LoadedImage};
use crate::memory::{self, MemoryError};
use crate::runner::{DEFAULT_QUANTUM, Machine, StopSignal};

/// Base of the reset ROM.
pub const MROM_BASE: u64 = 0x1000;
/// Size of the reset ROM.
pub const MROM_SIZE: u64 = 0xf000;
/// Base of the SiFive test finisher.
pub const TEST_BASE: u64 = 0x10_0000;
/// Size of the test finisher window.
pub const TEST_SIZE: u64 = 0x1000;
/// Base of the CLINT.
pub const CLINT_BASE: u64 = 0x200_0000;
/// Base of the UART.
pub const UART_BASE: u64 = 0x1000_0000;
/// Size of the UART window.
pub const UART_SIZE: u64 = 0x100;
/// Base of RAM.
pub const RAM_BASE: u64 = 0x8000_0000;
/// Where a kernel goes when there is firmware (OpenSBI `fw_jump`'s default).
pub const KERNEL_BASE_WITH_FIRMWARE: u64 = 0x8020_0000;
/// `mtime` frequency, as QEMU's virt machine advertises.
pub const TIMEBASE_FREQUENCY: u64 = 10_000_000;
/// Default hart clock: one instruction per cycle at 1 GHz.
pub const DEFAULT_CPU_FREQUENCY: u64 = 1_000_000_000;
/// The most harts the board supports (QEMU virt allows up to 512 per socket;
/// the CLINT window holds 4095).
pub const MAX_HARTS: usize = 512;

/// `fw_dynamic_info` magic: "OSBI".
const FW_DYNAMIC_MAGIC: u64 = 0x4942_534f;
const FW_DYNAMIC_VERSION: u64 = 2;
/// `next_mode` S-mode.
const FW_DYNAMIC_NEXT_MODE_S: u64 = 1;

/// Why a virt machine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Zero harts, or more than the board supports.
    #[error("{0} harts requested: the virt board supports 1 to {MAX_HARTS}")]
    HartCount(usize),
    /// RAM could not be set up.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The firmware image could not be loaded.
    #[error("cannot load the firmware: {0}")]
    Firmware(#[source] LoadError),
    /// The kernel image could not be loaded.
    #[error("cannot load the kernel: {0}")]
    Kernel(#[source] LoadError),
    /// Neither firmware nor kernel.
    #[error("nothing to run: give a kernel, or firmware")]
    NothingToRun,
    /// The device tree could not be generated.
    #[error("cannot build the device tree: {0}")]
    DeviceTree(String),
    /// The device tree does not fit in RAM.
    #[error("the device tree does not fit in RAM")]
    DeviceTreeTooLarge,
    /// A board bug: two windows overlap.
    #[error(transparent)]
    Overlap(#[from] OverlapError),
}

/// How to build a virt machine.
pub struct VirtConfig {
    /// Number of harts.
    pub harts: usize,
    /// RAM size in bytes.
    pub ram_size: u64,
    /// Firmware image (ELF or raw binary) loaded at the start of RAM, if any.
    pub firmware: Option<Vec<u8>>,
    /// Kernel image (ELF or raw binary). Without firmware it runs directly at
    /// its entry point; with firmware it is loaded where the firmware expects
    /// the next stage.
    pub kernel: Option<Vec<u8>>,
    /// Kernel command line for the device tree.
    pub bootargs: Option<String>,
    /// Where guest console output goes (default: host standard output).
    pub console: Option<Box<dyn Write + Send>>,
    /// Hart clock in Hz: with one instruction per cycle, how fast simulated
    /// time passes per instruction.
    pub cpu_frequency: u64,
    /// Instructions a hart runs before the next hart's turn.
    pub quantum: u64,
}

impl std::fmt::Debug for VirtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtConfig")
            .field("harts", &self.harts)
            .field("ram_size", &self.ram_size)
            .field("firmware", &self.firmware.as_ref().map(Vec::len))
            .field("kernel", &self.kernel.as_ref().map(Vec::len))
            .field("cpu_frequency", &self.cpu_frequency)
            .field("quantum", &self.quantum)
            .finish()
    }
}

impl Default for VirtConfig {
    fn default() -> Self {
        VirtConfig {
            harts: 1,
            ram_size: 128 << 20,
            firmware: None,
            kernel: None,
            bootargs: None,
            console: None,
            cpu_frequency: DEFAULT_CPU_FREQUENCY,
            quantum: DEFAULT_QUANTUM,
        }
    }
}

/// The reset vector, as QEMU's virt machine lays it out: six instructions,
/// then the start address and the device tree address as 64-bit words, then
/// the `fw_dynamic_info` structure.
fn reset_rom(start: u64, fdt_addr: u64, next_addr: u64) -> Vec<u8> {
    let code: [u32; 6] = [
        0x0000_0297, // auipc t0, 0
        0x0282_8613, // addi  a2, t0, 40   (fw_dynamic_info)
        0xf140_2573, // csrr  a0, mhartid
        0x0202_b583, // ld    a1, 32(t0)   (device tree)
        0x0182_b283, // ld    t0, 24(t0)   (start address)
        0x0002_8067, // jr    t0
    ];
    let mut rom: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    for word in [start, fdt_addr, FW_DYNAMIC_MAGIC, FW_DYNAMIC_VERSION, next_addr, FW_DYNAMIC_NEXT_MODE_S, 0, 0] {
        rom.extend_from_slice(&word.to_le_bytes());
    }
    rom
}

/// Builds a virt machine.
pub fn build(config: VirtConfig) -> Result<Machine, BuildError> {
    if config.harts == 0 || config.harts > MAX_HARTS {
        return Err(BuildError::HartCount(config.harts));
    }
    let ram = memory::allocate_ram(RAM_BASE, config.ram_size)?;
    let console = Arc::new(match config.console {
        Some(out) => Console::new(out),
        None => Console::stdout(),
    });
    let controls: Vec<Arc<HartControl>> = (0..config.harts).map(|_| Arc::new(HartControl::new())).collect();
    let stop = Arc::new(StopSignal::new(controls.clone()));
    let cycles_per_tick = (config.cpu_frequency / TIMEBASE_FREQUENCY).max(1);
    let aclint = Arc::new(Aclint::new(controls.clone(), cycles_per_tick));

    let (start, next_stage, loaded) = match (&config.firmware, &config.kernel) {
        (Some(firmware), kernel) => {
            let fw = loader::load_image(&ram, firmware, RAM_BASE).map_err(BuildError::Firmware)?;
            let next = match kernel {
                Some(image) => {
                    loader::load_image(&ram, image, KERNEL_BASE_WITH_FIRMWARE).map_err(BuildError::Kernel)?.entry
                }
                None => KERNEL_BASE_WITH_FIRMWARE,
            };
            (fw.entry, next, fw)
        }
        (None, Some(kernel)) => {
            let image = loader::load_image(&ram, kernel, RAM_BASE).map_err(BuildError::Kernel)?;
            (image.entry, 0, image)
        }
        (None, None) => return Err(BuildError::NothingToRun),
    };

    let isa = "rv64imac_zicsr_zifencei".to_string();
    let dtb = fdt::build(&FdtConfig {
        harts: config.harts,
        isa,
        ram: (RAM_BASE, config.ram_size),
        timebase_frequency: TIMEBASE_FREQUENCY as u32,
        clint: (CLINT_BASE, aclint::SIZE),
        uart: (UART_BASE, UART_SIZE),
        uart_clock: 3_686_400,
        test: (TEST_BASE, TEST_SIZE),
        bootargs: config.bootargs.clone(),
    })
    .map_err(|e| BuildError::DeviceTree(e.to_string()))?;
    let fdt_addr = place_device_tree(config.ram_size, dtb.len() as u64).ok_or(BuildError::DeviceTreeTooLarge)?;
    if !ram.write_bytes(fdt_addr - RAM_BASE, &dtb) {
        return Err(BuildError::DeviceTreeTooLarge);
    }

    let mut bus = SystemBus::new(ram.clone(), aclint.clone());
    let uart = Arc::new(Uart::new(console.clone(), Unconnected));
    bus.map(
        "mrom",
        MROM_BASE,
        MROM_SIZE,
        Arc::new(Rom::new(&reset_rom(start, fdt_addr, next_stage), MROM_SIZE as usize)),
    )?;
    bus.map("test", TEST_BASE, TEST_SIZE, Arc::new(TestFinisher::new(stop.clone())))?;
    bus.map("clint", CLINT_BASE, aclint::SIZE, aclint.clone())?;
    bus.map("uart", UART_BASE, UART_SIZE, uart.clone())?;
    watch_htif(&mut bus, &loaded, &ram, &console, &stop);
    let bus = Arc::new(bus);

    let cache = Arc::new(TranslationCache::new());
    let harts = controls
        .iter()
        .enumerate()
        .map(|(id, control)| {
            let mut hart = Hart::new(id as u64, ram.clone(), bus.clone(), cache.clone(), control.clone());
            hart.state.pc = MROM_BASE;
            hart
        })
        .collect();
    Ok(Machine { harts, aclint, bus, uart, console, stop, cache, quantum: config.quantum.max(1) })
}

/// QEMU's placement: the highest 2 MiB-aligned address below the end of RAM
/// (or below 3 GiB, whichever is lower) that leaves room for the tree.
fn place_device_tree(ram_size: u64, fdt_size: u64) -> Option<u64> {
    const LIMIT: u64 = 3 << 30;
    let end = (RAM_BASE + ram_size).min(LIMIT.max(RAM_BASE + fdt_size));
    let addr = end.checked_sub(fdt_size)? & !((2 << 20) - 1);
    (addr >= RAM_BASE).then_some(addr)
}

fn watch_htif(
    bus: &mut SystemBus,
    image: &LoadedImage,
    ram: &Arc<polyhart_iss::Ram>,
    console: &Arc<Console>,
    stop: &Arc<StopSignal>,
) {
    if let Some(tohost) = image.tohost {
        let htif = Arc::new(Htif::new(tohost, image.fromhost, ram.clone(), console.clone(), stop.clone()));
        bus.watch(tohost, 8, htif);
    }
}
