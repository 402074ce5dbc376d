//! The `virt` board: the memory map and boot protocol of QEMU's riscv `virt`
//! machine, so one ELF runs unchanged on both.
//!
//! | what | address |
//! | --- | --- |
//! | test finisher (`sifive,test0`) | `0x0010_0000` |
//! | reset ROM (`mrom`) | `0x0000_1000` |
//! | CLINT (ACLINT MSWI + MTIMER) | `0x0200_0000` |
//! | PLIC (`sifive,plic-1.0.0`) | `0x0c00_0000` |
//! | UART (ns16550a), PLIC source 10 | `0x1000_0000` |
//! | virtio-mmio transports 0-7, PLIC sources 1-8 | `0x1000_1000` + 0x1000 * i |
//! | RAM | `0x8000_0000` |
//!
//! Every hart starts in the reset ROM at `0x1000`, which, as on QEMU, loads
//! `a0` = `mhartid`, `a1` = the device tree address and `a2` = the OpenSBI
//! `fw_dynamic` information, and jumps to the firmware, or to the kernel when
//! there is no firmware.

use std::io::Write;
use std::sync::Arc;

use polyhart_iss::jit::JitError;
use polyhart_iss::snapshot::{Reader, SnapshotError, Writer};
use polyhart_iss::{HartControl, Ram, TranslationCache};

use super::Board;
use crate::Machine;
use crate::bus::{Device, OverlapError, SystemBus};
use crate::console::Console;
use crate::devices::plic::{self, NoSuchSource};
use crate::devices::virtio::{VirtioDevice, VirtioMmio, mmio};
use crate::devices::{Aclint, GoldfishRtc, Htif, Plic, PlicLine, Rom, RtcClock, TestFinisher, Uart, aclint};
use crate::driver_queue::DriverQueue;
use crate::fdt::{self, BlobError, FdtConfig};
use crate::loader::{self, LoadError, Segment};
use crate::machine::{Engine, Settings};
use crate::memory::{self, Dma, GuestRam, MemoryError};
use crate::replay::ConsoleInput;
use crate::runner::{DEFAULT_QUANTUM, IdleTime, Scheduling, StopSignal, UNBOUNDED_QUANTUM};
use crate::snapshot::{self, Snapshot};

/// Base of the reset ROM.
pub const MROM_BASE: u64 = 0x1000;
/// Size of the reset ROM.
pub const MROM_SIZE: u64 = 0xf000;
/// Base of the SiFive test finisher.
pub const TEST_BASE: u64 = 0x10_0000;
/// Goldfish RTC base address.
pub const RTC_BASE: u64 = 0x10_1000;
/// Size of the RTC's window.
pub const RTC_SIZE: u64 = 0x1000;
/// PLIC source of the RTC's alarm.
pub const RTC_IRQ: u32 = 11;
/// Size of the test finisher window.
pub const TEST_SIZE: u64 = 0x1000;
/// Base of the CLINT.
pub const CLINT_BASE: u64 = 0x200_0000;
/// Base of the PLIC.
pub const PLIC_BASE: u64 = 0xc00_0000;
/// The PLIC source the UART drives.
pub const UART_IRQ: u32 = 10;
/// Base of the UART.
pub const UART_BASE: u64 = 0x1000_0000;
/// Size of the UART window.
pub const UART_SIZE: u64 = 0x100;
/// Base of the first virtio-mmio transport; transport `i` is at
/// `VIRTIO_BASE + i * virtio::mmio::SIZE` and interrupts on PLIC source
/// `VIRTIO_IRQ + i`.
pub const VIRTIO_BASE: u64 = 0x1000_1000;
/// The PLIC source of the first virtio-mmio transport.
pub const VIRTIO_IRQ: u32 = 1;
/// How many virtio-mmio transports the board has (QEMU's `VIRTIO_COUNT`).
pub const VIRTIO_COUNT: usize = 8;
/// Base of RAM.
pub const RAM_BASE: u64 = 0x8000_0000;
/// Where a kernel goes when there is firmware (OpenSBI `fw_jump`'s default).
pub const KERNEL_BASE_WITH_FIRMWARE: u64 = 0x8020_0000;
/// How far above the kernel's lowest address the initrd goes, at most (as
/// QEMU 7.2's `riscv_load_initrd`: half of RAM, up to 128 MiB).
pub const INITRD_OFFSET_LIMIT: u64 = 128 << 20;
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
    /// A device's device-tree node names a PLIC source the board has not
    /// got, or one a device of the board's own drives.
    #[error(
        "device '{device}' cannot interrupt on PLIC source {irq}: the board's devices drive 1 to 8 (virtio), \
         10 (UART) and 11 (RTC), and there are 95"
    )]
    NodeInterrupt {
        /// The device's name.
        device: &'static str,
        /// The source its node names.
        irq: u32,
    },
    /// More virtio devices than the board has transports.
    #[error("{0} virtio devices: the virt board has {VIRTIO_COUNT} virtio-mmio transports")]
    VirtioCount(usize),
    /// Deterministic scheduling runs harts in turn, a quantum each: an
    /// unbounded quantum would never give the second hart a turn.
    #[error("an unbounded quantum needs parallel scheduling")]
    UnboundedDeterministic,
    /// The host has no JIT backend.
    #[error(transparent)]
    Jit(#[from] JitError),
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
    /// An initrd, but no kernel to place it after and hand it to.
    #[error("an initrd needs a kernel: it is placed after the kernel and announced to it")]
    InitrdWithoutKernel,
    /// The initrd is empty.
    #[error("the initrd is empty")]
    InitrdEmpty,
    /// The initrd does not fit between its address and the end of RAM.
    #[error(
        "the initrd ({size} bytes) does not fit in RAM at {start:#x}, where QEMU's virt puts it \
         (RAM ends at {ram_end:#x}): give the machine more RAM"
    )]
    InitrdTooLarge {
        /// Where it goes.
        start: u64,
        /// Its size in bytes.
        size: u64,
        /// One past the last RAM address.
        ram_end: u64,
    },
    /// The device tree blob given instead of the generated one is not one.
    #[error("the device tree blob is not usable: {0}")]
    DeviceTreeBlob(#[source] BlobError),
    /// The boot arguments or the initrd cannot be written into the
    /// `/chosen` node of the device tree given.
    #[error("cannot write the kernel command line or the initrd into the device tree given: {0}")]
    Chosen(#[source] fdt::ChosenError),
    /// The device tree could not be generated.
    #[error("cannot build the device tree: {0}")]
    DeviceTree(String),
    /// The device tree does not fit in RAM.
    #[error("the device tree does not fit in RAM")]
    DeviceTreeTooLarge,
    /// Two of firmware, kernel and device tree claim the same RAM (QEMU
    /// refuses this too): with little RAM, the device tree, which goes at the
    /// highest 2 MiB boundary below the end of RAM, lands on the image.
    #[error(
        "the {first} at [{:#x}, {:#x}) and the {second} at [{:#x}, {:#x}) overlap in RAM: \
         give the machine more RAM, or load the images at other addresses",
        .first_range.0, .first_range.1, .second_range.0, .second_range.1
    )]
    ImagesOverlap {
        /// What lies lower: "firmware", "kernel", "initrd" or "device tree".
        first: &'static str,
        /// Its `[start, end)`.
        first_range: (u64, u64),
        /// What it overlaps.
        second: &'static str,
        /// Its `[start, end)`.
        second_range: (u64, u64),
    },
    /// A board bug: two windows overlap.
    #[error(transparent)]
    Overlap(#[from] OverlapError),
    /// A board bug: a device is wired to a PLIC source that does not exist.
    #[error(transparent)]
    Interrupt(#[from] NoSuchSource),
    /// The snapshot to restore does not fit the machine, or is damaged.
    #[error("cannot restore the snapshot: {0}")]
    Snapshot(SnapshotError),
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
    /// An initrd (initial RAM disk), loaded as QEMU's virt does: at the
    /// kernel's lowest address plus half of RAM, or plus 128 MiB with 256
    /// MiB of RAM or more; its bounds go in the device tree's `/chosen`.
    pub initrd: Option<Vec<u8>>,
    /// A device tree blob to boot with instead of the generated one, placed
    /// where the generated one would go, with the boot arguments and the
    /// initrd written into its `/chosen` (as QEMU's `-dtb`).
    pub device_tree: Option<Vec<u8>>,
    /// Where guest console output goes (default: host standard output).
    pub console: Option<Box<dyn Write + Send>>,
    /// Hart clock in Hz: with one instruction per cycle, how fast simulated
    /// time passes per instruction.
    pub cpu_frequency: u64,
    /// The quantum in cycles of simulated time: how far harts may run
    /// before they synchronise ([`crate::runner::UNBOUNDED_QUANTUM`]: never,
    /// parallel scheduling only).
    pub quantum: u64,
    /// One host thread per hart, or all on one thread, deterministically.
    pub scheduling: Scheduling,
    /// How a hart waiting for its timer lets time pass: at once (the
    /// default), or at the host's pace, as QEMU does (with parallel
    /// scheduling: the deterministic runner never waits on the host).
    pub idle: IdleTime,
    /// Which tier runs guest code.
    pub engine: Engine,
    /// Devices added to the board's address map, beside its own.
    pub devices: Vec<ExtraDevice>,
    /// Devices behind the board's virtio-mmio transports, placed as QEMU
    /// places `-device virtio-*-device`: the first in the last transport
    /// (`0x1000_8000`), the next below it, and so on.
    pub virtio: Vec<Box<dyn VirtioDevice>>,
    /// The queue through which devices reach the thread that runs the
    /// machine (default: a new one).
    pub driver_queue: Option<Arc<DriverQueue>>,
    /// What the Goldfish RTC counts: the host's date (the default), or
    /// simulated time from a fixed date, for runs that repeat exactly.
    pub rtc: RtcClock,
    /// Console input recorded or replayed ([`ConsoleInput`]): the host's
    /// bytes reach the UART only where the deterministic runner delivers
    /// them. `None`: as they arrive ([`Virt::uart`]).
    pub console_input: Option<Arc<ConsoleInput>>,
    /// A snapshot of a machine built from this same configuration, which
    /// the machine is restored to as it is built ([`Machine::restore`]):
    /// its RAM is the snapshot's, so the images are not copied into RAM.
    pub snapshot: Option<Snapshot>,
}

/// A device an embedder adds to the board ([`VirtConfig::device`]).
#[derive(Clone)]
pub struct ExtraDevice {
    /// A name for error messages.
    pub name: &'static str,
    /// Its window's first address.
    pub base: u64,
    /// Its window's size in bytes.
    pub size: u64,
    /// The device.
    pub device: Arc<dyn Device>,
    /// Its node in the device tree, so that the guest (Linux, U-Boot) can
    /// find it; `None`: the guest is told nothing of it.
    pub node: Option<DeviceNode>,
}

/// How a device added to the board is announced in the device tree: a
/// node `/soc/NAME@BASE` with its `compatible` strings, its window as
/// `reg`, and its PLIC source as `interrupts` when it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceNode {
    /// The node's name before the `@` (for example `serial`, `rng`).
    pub name: String,
    /// The `compatible` strings, most specific first.
    pub compatible: Vec<String>,
    /// The PLIC source the device drives, if any.
    pub interrupt: Option<u32>,
}

impl std::fmt::Debug for ExtraDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{:#x}, {:#x})", self.name, self.base, self.base.saturating_add(self.size))
    }
}

impl std::fmt::Debug for VirtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtConfig")
            .field("harts", &self.harts)
            .field("ram_size", &self.ram_size)
            .field("firmware", &self.firmware.as_ref().map(Vec::len))
            .field("kernel", &self.kernel.as_ref().map(Vec::len))
            .field("initrd", &self.initrd.as_ref().map(Vec::len))
            .field("device_tree", &self.device_tree.as_ref().map(Vec::len))
            .field("cpu_frequency", &self.cpu_frequency)
            .field("quantum", &self.quantum)
            .field("scheduling", &self.scheduling)
            .field("engine", &self.engine)
            .field("devices", &self.devices)
            .field("virtio", &self.virtio.iter().map(|d| d.device_id()).collect::<Vec<_>>())
            .finish()
    }
}

/// Builder-style setters: `VirtConfig::new().harts(4).kernel(elf).build()`.
impl VirtConfig {
    /// The default configuration (one hart, 128 MiB, parallel scheduling).
    pub fn new() -> VirtConfig {
        VirtConfig::default()
    }

    /// Sets the number of harts.
    pub fn harts(mut self, harts: usize) -> VirtConfig {
        self.harts = harts;
        self
    }

    /// Maps `device` at `[base, base + size)`; building fails if the window
    /// overlaps RAM or one of the board's devices.
    pub fn device(mut self, name: &'static str, base: u64, size: u64, device: Arc<dyn Device>) -> VirtConfig {
        self.devices.push(ExtraDevice { name, base, size, device, node: None });
        self
    }

    /// Adds a device as [`VirtConfig::device`] does, announced in the
    /// generated device tree by `node`.
    pub fn device_with_node(
        mut self,
        name: &'static str,
        base: u64,
        size: u64,
        device: Arc<dyn Device>,
        node: DeviceNode,
    ) -> VirtConfig {
        self.devices.push(ExtraDevice { name, base, size, device, node: Some(node) });
        self
    }

    /// Puts `device` behind the next free virtio-mmio transport (see
    /// [`VirtConfig::virtio`]).
    pub fn virtio_device(mut self, device: impl VirtioDevice + 'static) -> VirtConfig {
        self.virtio.push(Box::new(device));
        self
    }

    /// Sets the queue through which devices reach the thread that runs the
    /// machine.
    pub fn driver_queue(mut self, driver_queue: Arc<DriverQueue>) -> VirtConfig {
        self.driver_queue = Some(driver_queue);
        self
    }

    /// Sets the RAM size in bytes.
    pub fn ram_size(mut self, bytes: u64) -> VirtConfig {
        self.ram_size = bytes;
        self
    }

    /// Sets the firmware image (ELF or raw binary).
    pub fn firmware(mut self, image: Vec<u8>) -> VirtConfig {
        self.firmware = Some(image);
        self
    }

    /// Sets the kernel image (ELF or raw binary).
    pub fn kernel(mut self, image: Vec<u8>) -> VirtConfig {
        self.kernel = Some(image);
        self
    }

    /// Sets the initrd.
    pub fn initrd(mut self, image: Vec<u8>) -> VirtConfig {
        self.initrd = Some(image);
        self
    }

    /// Boots with this device tree blob instead of the generated one.
    pub fn device_tree(mut self, blob: Vec<u8>) -> VirtConfig {
        self.device_tree = Some(blob);
        self
    }

    /// Sets the kernel command line.
    pub fn bootargs(mut self, text: impl Into<String>) -> VirtConfig {
        self.bootargs = Some(text.into());
        self
    }

    /// Sends guest console output to `out` instead of standard output.
    pub fn console(mut self, out: impl Write + Send + 'static) -> VirtConfig {
        self.console = Some(Box::new(out));
        self
    }

    /// Sets the quantum in cycles ([`UNBOUNDED_QUANTUM`]: free-running).
    pub fn quantum(mut self, cycles: u64) -> VirtConfig {
        self.quantum = cycles;
        self
    }

    /// Sets how harts share the host.
    pub fn scheduling(mut self, scheduling: Scheduling) -> VirtConfig {
        self.scheduling = scheduling;
        self
    }

    /// A snapshot to restore the machine to as it is built (see
    /// [`VirtConfig::snapshot`]).
    pub fn restored_from(mut self, snapshot: Snapshot) -> VirtConfig {
        self.snapshot = Some(snapshot);
        self
    }

    /// Sets which tier runs guest code.
    pub fn engine(mut self, engine: Engine) -> VirtConfig {
        self.engine = engine;
        self
    }

    /// Builds the machine ([`build`]).
    pub fn build(self) -> Result<Machine<Virt>, BuildError> {
        build(self)
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
            initrd: None,
            device_tree: None,
            console: None,
            cpu_frequency: DEFAULT_CPU_FREQUENCY,
            quantum: DEFAULT_QUANTUM,
            scheduling: Scheduling::default(),
            idle: IdleTime::default(),
            engine: Engine::default(),
            devices: Vec::new(),
            virtio: Vec::new(),
            driver_queue: None,
            rtc: RtcClock::Host,
            console_input: None,
            snapshot: None,
        }
    }
}

/// The virt board: its devices, which it maps on the machine's bus and
/// owns. The runners reach it through [`Board`]; its accessors are for
/// whoever drives the machine from outside (feeding the console, driving
/// PLIC sources).
#[derive(Debug)]
pub struct Virt {
    aclint: Arc<Aclint>,
    plic: Arc<Plic>,
    uart: Arc<Uart<PlicLine>>,
    console: Arc<Console>,
    mrom: Arc<Rom>,
    test_finisher: Arc<TestFinisher>,
    rtc: Arc<GoldfishRtc<PlicLine>>,
    virtio: Vec<Arc<VirtioMmio>>,
    htif: Option<Arc<Htif>>,
    device_tree: Arc<Vec<u8>>,
    /// The boot images: firmware, kernel, initrd and device tree, which a
    /// reset loads again.
    boot_images: Vec<BootImage>,
    console_input: Option<Arc<ConsoleInput>>,
    /// What identifies how the board was built beyond its devices' state,
    /// for snapshots: a hash of its boot images as loaded (they hold the
    /// device tree and the command line) and of where HTIF listens.
    build_hash: u64,
}

impl Virt {
    /// The CLINT: software interrupts and the machine timer.
    pub fn aclint(&self) -> &Arc<Aclint> {
        &self.aclint
    }

    /// The interrupt controller, to drive its sources from outside.
    pub fn plic(&self) -> &Arc<Plic> {
        &self.plic
    }

    /// The console UART, to feed it input.
    pub fn uart(&self) -> &Arc<Uart<PlicLine>> {
        &self.uart
    }

    /// Where guest console output (UART and HTIF) goes.
    pub fn console(&self) -> &Arc<Console> {
        &self.console
    }

    /// The reset ROM every hart starts in.
    pub fn mrom(&self) -> &Arc<Rom> {
        &self.mrom
    }

    /// The test finisher, through which the guest exits or asks for a reset.
    pub fn test_finisher(&self) -> &Arc<TestFinisher> {
        &self.test_finisher
    }

    /// The device tree the harts were handed in `a1`, as it was placed in
    /// RAM (QEMU's `dumpdtb`).
    pub fn device_tree(&self) -> &[u8] {
        &self.device_tree
    }

    /// The virtio-mmio transports, the one at [`VIRTIO_BASE`] first.
    pub fn virtio(&self) -> &[Arc<VirtioMmio>] {
        &self.virtio
    }

    /// HTIF, when the guest's ELF defines `tohost`.
    pub fn htif(&self) -> Option<&Arc<Htif>> {
        self.htif.as_ref()
    }
}

impl Board for Virt {
    fn reset_pc(&self) -> u64 {
        MROM_BASE
    }

    fn reset(&self, ram: &Ram) {
        self.aclint.reset();
        self.uart.reset();
        self.rtc.reset();
        self.plic.reset();
        for transport in &self.virtio {
            transport.reset();
        }
        for image in &self.boot_images {
            image.load(ram);
        }
    }

    fn sync_timer(&self, hart: usize, cycle: u64) -> Option<u64> {
        self.aclint.sync_timer(hart, cycle)
    }

    fn cycles_until(&self, cycle: u64, time: u64) -> Option<u64> {
        self.aclint.cycles_until(cycle, time)
    }

    fn save(&self, out: &mut Writer) {
        out.section("virt", |out| {
            out.u64(self.build_hash);
            out.u32(self.virtio.len() as u32);
        });
        // The PLIC last: restoring the devices that drive its sources sets
        // their lines, and then the PLIC is as it was.
        self.aclint.save(out);
        self.uart.save(out);
        self.rtc.save(out);
        for transport in &self.virtio {
            transport.save(out);
        }
        self.plic.save(out);
    }

    fn restore(&self, input: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let mut virt = input.section("virt")?;
        let (hash, transports) = (virt.u64()?, virt.u32()?);
        virt.finish()?;
        if hash != self.build_hash {
            return Err(SnapshotError::Mismatch(
                "it was saved from a virt machine with other boot images (firmware, kernel, initrd, device tree or \
                 command line) or another HTIF"
                    .into(),
            ));
        }
        if transports as usize != self.virtio.len() {
            return Err(SnapshotError::Mismatch(format!("it has {transports} virtio transports")));
        }
        self.aclint.restore(input)?;
        self.uart.restore(input)?;
        self.rtc.restore(input)?;
        for transport in &self.virtio {
            transport.restore(input)?;
        }
        self.plic.restore(input)?;
        Ok(())
    }

    fn flush_console(&self) {
        self.console.flush();
    }

    fn input_open(&self) -> bool {
        match &self.console_input {
            Some(input) => input.open(),
            None => self.uart.input_open(),
        }
    }

    fn deliver_input(&self, now: u64) {
        if let Some(input) = &self.console_input {
            input.deliver(now, &*self.uart);
        }
    }
}

/// An image the board puts in RAM at boot and at each reset: its bytes
/// (shared, not copied) and where they go.
#[derive(Debug)]
struct BootImage {
    /// What it is, for errors.
    what: &'static str,
    source: Arc<Vec<u8>>,
    segments: Vec<Segment>,
}

impl BootImage {
    /// Copies the image into `ram`, zeros after each segment's bytes.
    fn load(&self, ram: &Ram) {
        loader::write_segments(ram, &self.source, &self.segments);
    }

    /// `hash` (see [`snapshot::fnv1a`]) followed by where the image goes and
    /// its bytes.
    fn hash(&self, mut hash: u64) -> u64 {
        for segment in &self.segments {
            hash = snapshot::fnv1a_more(hash, &segment.addr.to_le_bytes());
            hash = snapshot::fnv1a_more(hash, &segment.mem_size.to_le_bytes());
            hash = snapshot::fnv1a_more(hash, self.source.get(segment.file.clone()).unwrap_or_default());
        }
        hash
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
pub fn build(config: VirtConfig) -> Result<Machine<Virt>, BuildError> {
    if config.harts == 0 || config.harts > MAX_HARTS {
        return Err(BuildError::HartCount(config.harts));
    }
    if config.quantum == UNBOUNDED_QUANTUM && config.scheduling == Scheduling::Deterministic {
        return Err(BuildError::UnboundedDeterministic);
    }
    if config.virtio.len() > VIRTIO_COUNT {
        return Err(BuildError::VirtioCount(config.virtio.len()));
    }
    let GuestRam { ram, mapping } = memory::allocate_ram(RAM_BASE, config.ram_size)?;
    let cache = Arc::new(TranslationCache::new());
    let console = Arc::new(match config.console {
        Some(out) => Console::new(out),
        None => Console::stdout(),
    });
    let controls: Vec<Arc<HartControl>> = (0..config.harts).map(|_| Arc::new(HartControl::new())).collect();
    let stop = Arc::new(StopSignal::new(controls.clone()));
    let cycles_per_tick = (config.cpu_frequency / TIMEBASE_FREQUENCY).max(1);
    let aclint = Arc::new(Aclint::new(controls.clone(), cycles_per_tick));

    // What goes into RAM, which a reset loads again (QEMU copies its boot
    // images anew); a restored snapshot brings its own RAM instead.
    let mut boot_images: Vec<BootImage> = Vec::new();
    let mut plan = |what: &'static str, image: &Arc<Vec<u8>>, raw_address: u64, error: fn(LoadError) -> BuildError| {
        let (loaded, segments) = loader::plan_image(&ram, image, raw_address).map_err(error)?;
        boot_images.push(BootImage { what, source: image.clone(), segments });
        Ok::<_, BuildError>(loaded)
    };
    let firmware = config.firmware.map(Arc::new);
    let kernel = config.kernel.map(Arc::new);
    let mut kernel_start = None;
    let (start, next_stage, loaded) = match (&firmware, &kernel) {
        (Some(firmware), kernel) => {
            let fw = plan("firmware", firmware, RAM_BASE, BuildError::Firmware)?;
            let next = match kernel {
                Some(image) => {
                    let image = plan("kernel", image, KERNEL_BASE_WITH_FIRMWARE, BuildError::Kernel)?;
                    kernel_start = Some(image.start());
                    image.entry
                }
                None => KERNEL_BASE_WITH_FIRMWARE,
            };
            (fw.entry, next, fw)
        }
        (None, Some(kernel)) => {
            let image = plan("kernel", kernel, RAM_BASE, BuildError::Kernel)?;
            kernel_start = Some(image.start());
            (image.entry, 0, image)
        }
        (None, None) => return Err(BuildError::NothingToRun),
    };

    let initrd = match (config.initrd, kernel_start) {
        (None, _) => None,
        (Some(_), None) => return Err(BuildError::InitrdWithoutKernel),
        (Some(image), Some(kernel_start)) => {
            let range = place_initrd(&image, kernel_start, config.ram_size)?;
            let segment = Segment { addr: range.0, file: 0..image.len(), mem_size: range.1 - range.0 };
            boot_images.push(BootImage { what: "initrd", source: Arc::new(image), segments: vec![segment] });
            Some(range)
        }
    };

    let dtb = match config.device_tree {
        Some(mut blob) => {
            let size = fdt::check_blob(&blob).map_err(BuildError::DeviceTreeBlob)?;
            blob.truncate(size);
            if config.bootargs.is_none() && initrd.is_none() {
                blob
            } else {
                // As QEMU: the command line and the initrd go into its /chosen.
                fdt::write_chosen(&blob, config.bootargs.as_deref(), initrd).map_err(BuildError::Chosen)?
            }
        }
        None => {
            let mut extra = virtio_nodes();
            extra.extend(extra_nodes(&config.devices)?);
            generated_device_tree(config.harts, config.ram_size, config.bootargs.clone(), initrd, extra)?
        }
    };
    let fdt_addr = place_device_tree(config.ram_size, dtb.len() as u64).ok_or(BuildError::DeviceTreeTooLarge)?;
    let dtb = Arc::new(dtb);
    let segment = Segment { addr: fdt_addr, file: 0..dtb.len(), mem_size: dtb.len() as u64 };
    boot_images.push(BootImage { what: "device tree", source: dtb.clone(), segments: vec![segment] });
    // Nothing put in RAM may overwrite anything else.
    let mut placed: Vec<(&'static str, (u64, u64))> = boot_images
        .iter()
        .flat_map(|image| image.segments.iter().map(|s| (image.what, (s.addr, s.addr + s.mem_size))))
        .collect();
    check_disjoint(&mut placed)?;
    if config.snapshot.is_none() {
        for image in &boot_images {
            image.load(&ram);
        }
    }

    let mut bus = SystemBus::new(ram.clone(), aclint.clone());
    let plic = Arc::new(Plic::new(controls.clone()));
    let uart = Arc::new(Uart::new(console.clone(), plic.line(UART_IRQ)?));
    let mrom = Arc::new(Rom::new(&reset_rom(start, fdt_addr, next_stage), MROM_SIZE as usize));
    let test_finisher = Arc::new(TestFinisher::new(stop.clone()));
    bus.map("mrom", MROM_BASE, MROM_SIZE, mrom.clone())?;
    bus.map("test", TEST_BASE, TEST_SIZE, test_finisher.clone())?;
    let rtc = Arc::new(GoldfishRtc::new(config.rtc, aclint.clone(), TIMEBASE_FREQUENCY, plic.line(RTC_IRQ)?));
    bus.map("rtc", RTC_BASE, RTC_SIZE, rtc.clone())?;
    // As QEMU: the first device in the last transport.
    let mut devices: Vec<Option<Box<dyn VirtioDevice>>> = (0..VIRTIO_COUNT).map(|_| None).collect();
    for (slot, device) in devices.iter_mut().rev().zip(config.virtio) {
        *slot = Some(device);
    }
    let dma = Dma::new(ram.clone(), cache.clone());
    let mut virtio = Vec::with_capacity(VIRTIO_COUNT);
    for (i, device) in devices.into_iter().enumerate() {
        let line = plic.line(VIRTIO_IRQ + i as u32)?;
        let transport = VirtioMmio::new(device, line, mapping.clone(), dma.clone());
        bus.map("virtio-mmio", VIRTIO_BASE + i as u64 * mmio::SIZE, mmio::SIZE, transport.clone())?;
        virtio.push(transport);
    }
    bus.map("clint", CLINT_BASE, aclint::SIZE, aclint.clone())?;
    bus.map("plic", PLIC_BASE, plic::SIZE, plic.clone())?;
    bus.map("uart", UART_BASE, UART_SIZE, uart.clone())?;
    for extra in &config.devices {
        bus.map(extra.name, extra.base, extra.size, extra.device.clone())?;
    }
    let htif = loaded.tohost.map(|tohost| {
        let htif = Arc::new(Htif::new(tohost, loaded.fromhost, ram.clone(), console.clone(), stop.clone()));
        bus.watch(tohost, 8, htif.clone());
        htif
    });

    let build_hash = boot_images
        .iter()
        .fold(snapshot::fnv1a(&loaded.tohost.unwrap_or_default().to_le_bytes()), |hash, image| image.hash(hash));
    let board = Virt {
        build_hash,
        aclint,
        plic,
        uart,
        rtc,
        virtio,
        console,
        mrom,
        test_finisher,
        htif,
        device_tree: dtb,
        boot_images,
        console_input: config.console_input,
    };
    let settings = Settings {
        quantum: config.quantum,
        scheduling: config.scheduling,
        engine: config.engine,
        cpu_frequency: config.cpu_frequency,
        driver_queue: config.driver_queue.unwrap_or_default(),
        cache,
        idle: config.idle,
        ram_mapping: mapping,
    };
    let mut machine = Machine::new(board, Arc::new(bus), &controls, stop, settings)?;
    if let Some(snapshot) = &config.snapshot {
        machine.restore(snapshot).map_err(BuildError::Snapshot)?;
    }
    Ok(machine)
}

/// The device tree of the board, announcing `bootargs` and `initrd`.
fn generated_device_tree(
    harts: usize,
    ram_size: u64,
    bootargs: Option<String>,
    initrd: Option<(u64, u64)>,
    extra: Vec<fdt::ExtraNode>,
) -> Result<Vec<u8>, BuildError> {
    fdt::build(&FdtConfig {
        harts,
        isa: "rv64imafdc_zicsr_zifencei_sstc".to_string(),
        ram: (RAM_BASE, ram_size),
        timebase_frequency: TIMEBASE_FREQUENCY as u32,
        clint: (CLINT_BASE, aclint::SIZE),
        plic: (PLIC_BASE, plic::SIZE),
        plic_ndev: plic::SOURCES - 1,
        uart: (UART_BASE, UART_SIZE),
        uart_irq: UART_IRQ,
        uart_clock: 3_686_400,
        test: (TEST_BASE, TEST_SIZE),
        rtc: (RTC_BASE, RTC_SIZE),
        rtc_irq: RTC_IRQ,
        bootargs,
        initrd,
        extra,
    })
    .map_err(|e| BuildError::DeviceTree(e.to_string()))
}

/// The nodes of the virtio-mmio transports as QEMU writes them: every
/// transport, a device behind it or not, the last first, so that Linux
/// probes the first device given first (it becomes `vda`).
fn virtio_nodes() -> Vec<fdt::ExtraNode> {
    (0..VIRTIO_COUNT)
        .rev()
        .map(|i| fdt::ExtraNode {
            name: "virtio_mmio".to_string(),
            compatible: vec!["virtio,mmio".to_string()],
            reg: (VIRTIO_BASE + i as u64 * mmio::SIZE, mmio::SIZE),
            interrupt: Some(VIRTIO_IRQ + i as u32),
        })
        .collect()
}

/// The device-tree nodes of the devices added to the board that have one.
fn extra_nodes(devices: &[ExtraDevice]) -> Result<Vec<fdt::ExtraNode>, BuildError> {
    devices
        .iter()
        .filter_map(|device| device.node.as_ref().map(|node| (device, node)))
        .map(|(device, node)| {
            if let Some(source) = node.interrupt
                && (source < VIRTIO_IRQ + VIRTIO_COUNT as u32
                    || source >= plic::SOURCES
                    || source == UART_IRQ
                    || source == RTC_IRQ)
            {
                return Err(BuildError::NodeInterrupt { device: device.name, irq: source });
            }
            Ok(fdt::ExtraNode {
                name: node.name.clone(),
                compatible: node.compatible.clone(),
                reg: (device.base, device.size),
                interrupt: node.interrupt,
            })
        })
        .collect()
}

/// Where the initrd goes, as QEMU 7.2's virt places it (`riscv_load_initrd`):
/// the kernel's lowest address plus half of RAM, at most 128 MiB, so that a
/// kernel decompressing itself does not clobber it. Returns `[start, end)`.
fn place_initrd(image: &[u8], kernel_start: u64, ram_size: u64) -> Result<(u64, u64), BuildError> {
    if image.is_empty() {
        return Err(BuildError::InitrdEmpty);
    }
    let start = kernel_start + (ram_size / 2).min(INITRD_OFFSET_LIMIT);
    let size = image.len() as u64;
    let ram_end = RAM_BASE + ram_size;
    match start.checked_add(size) {
        Some(end) if start >= RAM_BASE && end <= ram_end => Ok((start, end)),
        _ => Err(BuildError::InitrdTooLarge { start, size, ram_end }),
    }
}

/// QEMU's placement: the highest 2 MiB-aligned address below the end of RAM
/// (or below 3 GiB, whichever is lower) that leaves room for the tree.
fn place_device_tree(ram_size: u64, fdt_size: u64) -> Option<u64> {
    const LIMIT: u64 = 3 << 30;
    let end = (RAM_BASE + ram_size).min(LIMIT.max(RAM_BASE + fdt_size));
    let addr = end.checked_sub(fdt_size)? & !((2 << 20) - 1);
    (addr >= RAM_BASE).then_some(addr)
}

/// Fails if any two of `placed` overlap. The segments of one image never
/// overlap each other (the loader checks), so a clash is between images.
fn check_disjoint(placed: &mut [(&'static str, (u64, u64))]) -> Result<(), BuildError> {
    placed.sort_by_key(|&(_, (start, _))| start);
    match placed.windows(2).find(|pair| pair[0].1.1 > pair[1].1.0) {
        Some(&[(first, first_range), (second, second_range)]) => {
            Err(BuildError::ImagesOverlap { first, first_range, second, second_range })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use polyhart_iss::decode::{Disassembly, decode};
    use polyhart_iss::{AccessContext, Bus, BusError, Interrupt};

    use super::*;
    use crate::runner::StopReason;

    const CTX: AccessContext = AccessContext { hart_id: 0, cycle: 0 };
    const HELLO: &[u8] = include_bytes!("../../../tests/guest/hello.elf");
    const HTIF: &[u8] = include_bytes!("../../../tests/guest/htif.elf");

    fn kernel(image: &[u8]) -> VirtConfig {
        VirtConfig { kernel: Some(image.to_vec()), console: Some(Box::new(std::io::sink())), ..VirtConfig::default() }
    }

    fn word(bytes: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn reset_rom_code_is_qemus() {
        let rom = reset_rom(0x8000_0000, 0x87e0_0000, 0);
        let code: Vec<String> = rom[..24]
            .chunks(4)
            .enumerate()
            .map(|(i, w)| {
                let raw = u32::from_le_bytes(w.try_into().unwrap());
                Disassembly::new(decode(raw), MROM_BASE + 4 * i as u64).to_string()
            })
            .collect();
        assert_eq!(
            code,
            [
                "auipc t0, 0x0",
                "addi a2, t0, 40",
                "csrrs a0, mhartid, zero",
                "ld a1, 32(t0)",
                "ld t0, 24(t0)",
                "jalr zero, 0(t0)"
            ]
        );
        // The words of QEMU's hw/riscv/boot.c reset_vec for RV64.
        let words: Vec<u32> = rom[..24].chunks(4).map(|w| u32::from_le_bytes(w.try_into().unwrap())).collect();
        assert_eq!(words, [0x0000_0297, 0x0282_8613, 0xf140_2573, 0x0202_b583, 0x0182_b283, 0x0002_8067]);
    }

    #[test]
    fn reset_rom_data_follows_the_code() {
        let rom = reset_rom(0x8000_1234, 0x87e0_0000, 0x8020_0000);
        assert_eq!(rom.len(), 24 + 8 * 8);
        assert_eq!(word(&rom, 24), 0x8000_1234, "start address, loaded by `ld t0, 24(t0)`");
        assert_eq!(word(&rom, 32), 0x87e0_0000, "device tree, loaded by `ld a1, 32(t0)`");
        // fw_dynamic_info at 40, a2's value.
        assert_eq!(word(&rom, 40), 0x4942_534f, "magic \"OSBI\"");
        assert_eq!(word(&rom, 48), 2, "version");
        assert_eq!(word(&rom, 56), 0x8020_0000, "next_addr");
        assert_eq!(word(&rom, 64), 1, "next_mode: S");
        assert_eq!((word(&rom, 72), word(&rom, 80)), (0, 0), "options, boot_hart");
    }

    #[test]
    fn the_device_tree_goes_where_qemu_puts_it() {
        assert_eq!(place_device_tree(128 << 20, 0x1000), Some(0x87e0_0000));
        assert_eq!(place_device_tree(128 << 20, 2 << 20), Some(0x87e0_0000), "exactly 2 MiB still fits");
        assert_eq!(place_device_tree(128 << 20, (2 << 20) + 1), Some(0x87c0_0000));
        assert_eq!(place_device_tree(256 << 20, 0x1000), Some(0x8fe0_0000));
        // Below 3 GiB however much RAM there is.
        assert_eq!(place_device_tree(4 << 30, 0x1000), Some(0xbfe0_0000));
        assert_eq!(place_device_tree(1 << 20, 0x1000), Some(RAM_BASE));
        assert_eq!(place_device_tree(0x1000, 0x2000), None);
    }

    #[test]
    fn a_built_machine_boots_from_the_reset_rom() {
        let machine = build(kernel(HELLO)).unwrap();
        let bus = machine.bus();
        assert!(machine.harts().iter().all(|h| h.state().pc == MROM_BASE));
        assert_eq!(bus.read(&CTX, MROM_BASE, 4), Ok(0x0000_0297));
        assert_eq!(bus.read(&CTX, MROM_BASE + 24, 8), Ok(RAM_BASE), "hello.elf's entry");
        assert_eq!(bus.read(&CTX, MROM_BASE + 32, 8), Ok(0x87e0_0000));
        assert_eq!(bus.read(&CTX, MROM_BASE + 56, 8), Ok(0), "no next stage without firmware");
        assert_eq!(bus.read(&CTX, 0x87e0_0000, 4), Ok(0xedfe_0dd0), "the FDT magic, big-endian in memory");
        assert!(bus.fetch(&CTX, MROM_BASE).is_ok());
        assert_eq!(bus.read(&CTX, UART_BASE + 5, 1), Ok(0x60), "UART LSR");
        assert!(bus.read(&CTX, CLINT_BASE + aclint::MTIME, 8).is_ok());
        assert_eq!(bus.read(&CTX, TEST_BASE, 4), Ok(0));
        assert_eq!(bus.read(&CTX, 0x0, 4), Err(polyhart_iss::BusError::Unmapped(0)));
    }

    #[test]
    fn the_uart_interrupts_through_plic_source_10() {
        let machine = build(VirtConfig { harts: 2, ..kernel(HELLO) }).unwrap();
        let (bus, meip, seip) =
            (machine.bus(), Interrupt::MachineExternal.mask(), Interrupt::SupervisorExternal.mask());
        let lines = || -> Vec<u64> { machine.harts().iter().map(|h| h.control().lines()).collect() };
        bus.write(&CTX, PLIC_BASE + 4 * 10, 4, 1).unwrap();
        // Hart 1's S context (3) enables source 10.
        bus.write(&CTX, PLIC_BASE + plic::ENABLE_BASE + 3 * plic::ENABLE_STRIDE, 4, 1 << 10).unwrap();
        bus.write(&CTX, UART_BASE + 1, 1, 0x02).unwrap();
        assert_eq!(bus.read(&CTX, PLIC_BASE + plic::PENDING_BASE, 4), Ok(1 << 10), "THR empty is pending");
        assert_eq!(lines(), [0, seip]);
        // Hart 0's M context (0) too.
        bus.write(&CTX, PLIC_BASE + plic::ENABLE_BASE, 4, 1 << 10).unwrap();
        assert_eq!(lines(), [meip, seip]);
        assert_eq!(bus.read(&CTX, PLIC_BASE + plic::CONTEXT_BASE + 4, 4), Ok(10), "hart 0 claims it");
        assert_eq!(lines(), [0, 0]);
        assert_eq!(bus.read(&CTX, UART_BASE + 2, 1), Ok(0x02), "IIR: THR empty; reading it lowers the line");
        bus.write(&CTX, PLIC_BASE + plic::CONTEXT_BASE + 4, 4, 10).unwrap();
        assert_eq!(lines(), [0, 0]);
        assert_eq!(bus.read(&CTX, PLIC_BASE + plic::PENDING_BASE, 4), Ok(0));
        // Received bytes raise it again; hart 1 serves them this time.
        bus.write(&CTX, UART_BASE + 1, 1, 0x01).unwrap();
        machine.board().uart().receive(b"x");
        assert_eq!(lines(), [meip, seip]);
        assert_eq!(bus.read(&CTX, PLIC_BASE + plic::CONTEXT_BASE + 3 * plic::CONTEXT_STRIDE + 4, 4), Ok(10));
        assert_eq!(lines(), [0, 0]);
        assert_eq!(bus.read(&CTX, UART_BASE, 1), Ok(u64::from(b'x')));
        bus.write(&CTX, PLIC_BASE + plic::CONTEXT_BASE + 3 * plic::CONTEXT_STRIDE + 4, 4, 10).unwrap();
        assert_eq!(lines(), [0, 0], "the byte was read before the completion");
        // Only 32-bit accesses reach the PLIC.
        assert!(bus.read(&CTX, PLIC_BASE + 4 * 10, 8).is_err());
        let end = PLIC_BASE + plic::SIZE;
        assert_eq!(bus.read(&CTX, end - 4, 4), Err(BusError::Denied(end - 4)), "in the window, no such context");
        assert_eq!(bus.read(&CTX, end, 4), Err(BusError::Unmapped(end)));
    }

    #[test]
    fn every_hart_gets_the_same_rom_and_its_own_control() {
        let machine = build(VirtConfig { harts: 4, ..kernel(HELLO) }).unwrap();
        assert_eq!(machine.harts().len(), 4);
        assert!(machine.harts().iter().all(|h| h.state().pc == MROM_BASE));
        let dtb_addr = machine.bus().read(&CTX, MROM_BASE + 32, 8).unwrap();
        let mut dtb = vec![0; 4096];
        assert!(machine.bus().ram().read_bytes(dtb_addr - RAM_BASE, &mut dtb));
        let found = |needle: &[u8]| dtb.windows(needle.len()).any(|w| w == needle);
        assert!(found(b"cpu@3") && !found(b"cpu@4"));
    }

    #[test]
    fn with_firmware_the_kernel_goes_at_2_mib() {
        // A raw "firmware" and a raw kernel: both are loaded as given.
        let firmware = vec![0x13, 0, 0, 0];
        let image = vec![0x6f, 0, 0, 0];
        let machine = build(VirtConfig {
            firmware: Some(firmware),
            kernel: Some(image),
            console: Some(Box::new(std::io::sink())),
            ..VirtConfig::default()
        })
        .unwrap();
        let bus = machine.bus();
        assert_eq!(bus.read(&CTX, MROM_BASE + 24, 8), Ok(RAM_BASE), "the firmware starts");
        assert_eq!(bus.read(&CTX, MROM_BASE + 56, 8), Ok(KERNEL_BASE_WITH_FIRMWARE), "fw_dynamic next_addr");
        assert_eq!(bus.read(&CTX, RAM_BASE, 4), Ok(0x13));
        assert_eq!(bus.read(&CTX, KERNEL_BASE_WITH_FIRMWARE, 4), Ok(0x6f));
    }

    #[test]
    fn htif_is_watched_only_when_the_elf_has_tohost() {
        let mut machine = build(kernel(HTIF)).unwrap();
        assert_eq!(machine.run(Some(1_000_000)), StopReason::Exit(13));
    }

    #[test]
    fn hart_counts_outside_the_board_are_refused() {
        for harts in [0, MAX_HARTS + 1, usize::MAX] {
            let error = build(VirtConfig { harts, ..kernel(HELLO) }).unwrap_err();
            assert!(matches!(error, BuildError::HartCount(n) if n == harts), "{harts}: {error:?}");
        }
        assert_eq!(BuildError::HartCount(0).to_string(), "0 harts requested: the virt board supports 1 to 512");
        assert!(build(VirtConfig { harts: MAX_HARTS, ..kernel(HELLO) }).is_ok());
    }

    #[test]
    fn nothing_to_run_is_refused() {
        let error = build(VirtConfig { console: Some(Box::new(std::io::sink())), ..VirtConfig::default() });
        assert!(matches!(error, Err(BuildError::NothingToRun)), "{error:?}");
    }

    #[test]
    fn ram_sizes_that_are_not_whole_pages_are_refused() {
        for ram_size in [0, 4095, (128 << 20) + 1, (128 << 20) + 2048] {
            let error = build(VirtConfig { ram_size, ..kernel(HELLO) }).unwrap_err();
            assert!(
                matches!(error, BuildError::Memory(MemoryError::BadSize(n)) if n == ram_size),
                "{ram_size}: {error:?}"
            );
        }
    }

    #[test]
    fn images_that_do_not_fit_are_refused() {
        let error = build(VirtConfig { ram_size: 4096, ..kernel(HELLO) }).unwrap_err();
        assert!(matches!(error, BuildError::Kernel(LoadError::OutsideRam { .. })), "{error:?}");
        let error = build(VirtConfig { firmware: Some(b"\x7fELF".to_vec()), ..kernel(HELLO) }).unwrap_err();
        assert!(matches!(error, BuildError::Firmware(LoadError::Malformed(_))), "{error:?}");
    }

    /// With 2 MiB of RAM or less, QEMU's placement puts the device tree at
    /// the start of RAM, on top of the kernel: refused, as QEMU does.
    #[test]
    fn a_device_tree_on_top_of_the_kernel_is_refused() {
        let error = build(VirtConfig { ram_size: 2 << 20, ..kernel(HELLO) }).unwrap_err();
        let BuildError::ImagesOverlap { first, first_range, second, second_range } = error else { panic!("{error:?}") };
        assert_eq!((first, second), ("kernel", "device tree"));
        assert_eq!(first_range.0, RAM_BASE);
        assert_eq!(second_range.0, RAM_BASE);
        // With room above the kernel it runs.
        let mut machine = build(VirtConfig { ram_size: 3 << 20, ..kernel(HELLO) }).unwrap();
        assert_eq!(machine.run(Some(1_000_000)), StopReason::Exit(0));
    }

    #[test]
    fn a_kernel_on_top_of_the_firmware_is_refused() {
        let firmware = vec![0x13; (2 << 20) + 8];
        let error = build(VirtConfig { firmware: Some(firmware), ..kernel(&[0x6f, 0, 0, 0]) }).unwrap_err();
        assert!(matches!(error, BuildError::ImagesOverlap { first: "firmware", second: "kernel", .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "the firmware at [0x80000000, 0x80200008) and the kernel at [0x80200000, 0x80200004) overlap in RAM: \
             give the machine more RAM, or load the images at other addresses"
        );
    }

    /// The `/chosen` initrd bounds of the tree the machine was handed.
    fn initrd_in_tree(machine: &Machine<Virt>) -> Option<(u32, u32)> {
        let tree = crate::fdt::tests::parse(machine.board().device_tree());
        let cell = |name: &str| tree.get(&format!("/chosen/linux,initrd-{name}")).map(|v| crate::fdt::tests::cells(v));
        match (cell("start"), cell("end")) {
            (Some(start), Some(end)) => Some((start[0], end[0])),
            (None, None) => None,
            other => panic!("one bound without the other: {other:?}"),
        }
    }

    /// Addresses checked against QEMU 7.2's `-M virt,dumpdtb` (see
    /// tests/cli.rs for the comparison with whichever QEMU is installed).
    #[test]
    fn the_initrd_goes_where_qemu_puts_it() {
        let initrd: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        for (ram_size, start) in [(128 << 20, 0x8400_0000u64), (256 << 20, 0x8800_0000), (512 << 20, 0x8800_0000)] {
            let machine = build(VirtConfig { ram_size, initrd: Some(initrd.clone()), ..kernel(HELLO) }).unwrap();
            assert_eq!(initrd_in_tree(&machine), Some((start as u32, start as u32 + 5000)), "{ram_size:#x}");
            let mut bytes = vec![0; initrd.len()];
            assert!(machine.bus().ram().read_bytes(start - RAM_BASE, &mut bytes));
            assert_eq!(bytes, initrd);
        }
        // Behind firmware the kernel, and so the initrd, is 2 MiB further.
        let machine = build(VirtConfig {
            firmware: Some(vec![0x13, 0, 0, 0]),
            initrd: Some(initrd.clone()),
            ..kernel(&[0x6f, 0, 0, 0])
        })
        .unwrap();
        assert_eq!(initrd_in_tree(&machine), Some((0x8420_0000, 0x8420_0000 + 5000)));
        assert_eq!(initrd_in_tree(&build(kernel(HELLO)).unwrap()), None);
    }

    #[test]
    fn initrds_that_do_not_fit_are_refused() {
        let error = build(VirtConfig { initrd: Some(vec![1; (64 << 20) + 1]), ..kernel(HELLO) }).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the initrd (67108865 bytes) does not fit in RAM at 0x84000000, where QEMU's virt puts it \
             (RAM ends at 0x88000000): give the machine more RAM"
        );
        // Up to the device tree, then on top of it.
        let error = build(VirtConfig { initrd: Some(vec![1; (62 << 20) + 1]), ..kernel(HELLO) }).unwrap_err();
        assert!(matches!(error, BuildError::ImagesOverlap { first: "initrd", second: "device tree", .. }), "{error:?}");
        assert!(build(VirtConfig { initrd: Some(vec![1; 62 << 20]), ..kernel(HELLO) }).is_ok());
        // A kernel reaching past the middle of RAM lies under the initrd.
        let big_kernel = vec![0x6f; (64 << 20) + 4];
        let error = build(VirtConfig { initrd: Some(vec![1; 16]), ..kernel(&big_kernel) }).unwrap_err();
        assert!(matches!(error, BuildError::ImagesOverlap { first: "kernel", second: "initrd", .. }), "{error:?}");
        let error = build(VirtConfig { initrd: Some(Vec::new()), ..kernel(HELLO) }).unwrap_err();
        assert!(matches!(error, BuildError::InitrdEmpty), "{error:?}");
        let firmware_alone = VirtConfig {
            firmware: Some(vec![0x13, 0, 0, 0]),
            initrd: Some(vec![1; 16]),
            console: Some(Box::new(std::io::sink())),
            ..VirtConfig::default()
        };
        assert!(matches!(build(firmware_alone), Err(BuildError::InitrdWithoutKernel)));
    }

    #[test]
    fn a_given_device_tree_replaces_the_generated_one() {
        let generated = build(VirtConfig { harts: 3, ..kernel(HELLO) }).unwrap().board().device_tree().to_vec();
        let mut machine = build(VirtConfig { device_tree: Some(generated.clone()), ..kernel(HELLO) }).unwrap();
        assert_eq!(machine.board().device_tree(), generated);
        let mut in_ram = vec![0; generated.len()];
        assert!(machine.bus().ram().read_bytes(0x87e0_0000 - RAM_BASE, &mut in_ram));
        assert_eq!(in_ram, generated, "placed where the generated one goes");
        assert_eq!(machine.run(Some(1_000_000)), StopReason::Exit(0));
        // Bytes after the tree (QEMU's dumpdtb pads to 1 MiB) stay behind.
        let mut padded = generated.clone();
        padded.resize(1 << 20, 0);
        let machine = build(VirtConfig { device_tree: Some(padded), ..kernel(HELLO) }).unwrap();
        assert_eq!(machine.board().device_tree(), generated);

        let error = build(VirtConfig { device_tree: Some(b"not a tree".repeat(8)), ..kernel(HELLO) }).unwrap_err();
        assert!(matches!(error, BuildError::DeviceTreeBlob(BlobError::BadMagic(_))), "{error:?}");
        // The command line goes into the given tree's /chosen, as on QEMU.
        let with_chosen = VirtConfig { device_tree: Some(generated), bootargs: Some("quiet".into()), ..kernel(HELLO) };
        let tree = crate::fdt::tests::parse(build(with_chosen).unwrap().board().device_tree());
        assert_eq!(tree["/chosen/bootargs"], b"quiet\0");
        assert_eq!(tree["/cpus/cpu@2/reg"], 2u32.to_be_bytes(), "the given tree's three harts");
    }

    /// A device added with a node is announced under `/soc`, so Linux and
    /// U-Boot can find it; one whose node names a taken or missing PLIC
    /// source is refused.
    #[test]
    fn added_devices_get_their_device_tree_nodes() {
        let node = |interrupt| DeviceNode {
            name: "rng".into(),
            compatible: vec!["example,rng".into(), "generic-rng".into()],
            interrupt,
        };
        let device: Arc<dyn Device> = Arc::new(Rom::new(&[0; 16], 0x1000));
        let config = kernel(HELLO).device_with_node("rng", 0x1100_0000, 0x1000, device.clone(), node(Some(12)));
        let machine = build(config).expect("builds");
        let tree = crate::fdt::tests::parse(machine.board().device_tree());
        let cells = crate::fdt::tests::cells;
        assert_eq!(tree["/soc/rng@11000000/compatible"], b"example,rng\0generic-rng\0");
        assert_eq!(cells(&tree["/soc/rng@11000000/reg"]), [0, 0x1100_0000, 0, 0x1000]);
        assert_eq!(cells(&tree["/soc/rng@11000000/interrupts"]), [12]);
        assert_eq!(tree["/soc/rng@11000000/interrupt-parent"], tree["/soc/plic@c000000/phandle"]);
        // Without an interrupt, no interrupt properties; without a node, no node.
        let config = kernel(HELLO).device_with_node("rng", 0x1100_0000, 0x1000, device.clone(), node(None));
        let tree = crate::fdt::tests::parse(build(config).expect("builds").board().device_tree());
        assert!(tree.contains_key("/soc/rng@11000000/reg") && !tree.contains_key("/soc/rng@11000000/interrupts"));
        let tree = crate::fdt::tests::parse(
            build(kernel(HELLO).device("rng", 0x1100_0000, 0x1000, device.clone())).unwrap().board().device_tree(),
        );
        assert!(!tree.keys().any(|key| key.starts_with("/soc/rng@")));
        for irq in [0, 10, 11, 96] {
            let config = kernel(HELLO).device_with_node("rng", 0x1100_0000, 0x1000, device.clone(), node(Some(irq)));
            let refused = build(config).err().map(|e| e.to_string());
            assert!(
                refused.as_deref().is_some_and(|e| e.contains("cannot interrupt on PLIC source")),
                "{irq}: {refused:?}"
            );
        }
    }
}
