//! The flattened device tree a board hands its firmware or kernel in `a1`.

use vm_fdt::{FdtWriter, FdtWriterResult};

/// What the tree describes: the parts of a virt board that exist.
#[derive(Clone, Debug)]
pub struct FdtConfig {
    /// Number of harts.
    pub harts: usize,
    /// `riscv,isa` string for every hart.
    pub isa: String,
    /// `(base, size)` of RAM.
    pub ram: (u64, u64),
    /// `mtime` frequency in Hz.
    pub timebase_frequency: u32,
    /// `(base, size)` of the CLINT.
    pub clint: (u64, u64),
    /// `(base, size)` of the UART.
    pub uart: (u64, u64),
    /// UART input clock in Hz.
    pub uart_clock: u32,
    /// `(base, size)` of the test finisher.
    pub test: (u64, u64),
    /// Kernel command line (`/chosen/bootargs`), if any.
    pub bootargs: Option<String>,
}

fn reg(base: u64, size: u64) -> [u64; 2] {
    [base, size]
}

/// Builds the device tree blob.
pub fn build(config: &FdtConfig) -> FdtWriterResult<Vec<u8>> {
    let mut fdt = FdtWriter::new()?;
    let root = fdt.begin_node("")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_string("compatible", "riscv-virtio")?;
    fdt.property_string("model", "riscv-virtio,qemu")?;

    let uart_path = format!("/soc/serial@{:x}", config.uart.0);
    let chosen = fdt.begin_node("chosen")?;
    fdt.property_string("stdout-path", &uart_path)?;
    if let Some(args) = &config.bootargs {
        fdt.property_string("bootargs", args)?;
    }
    fdt.end_node(chosen)?;

    let memory = fdt.begin_node(&format!("memory@{:x}", config.ram.0))?;
    fdt.property_string("device_type", "memory")?;
    fdt.property_array_u64("reg", &reg(config.ram.0, config.ram.1))?;
    fdt.end_node(memory)?;

    // phandle of hart N's interrupt controller is N + 1.
    let cpus = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 0)?;
    fdt.property_u32("timebase-frequency", config.timebase_frequency)?;
    for hart in 0..config.harts {
        let cpu = fdt.begin_node(&format!("cpu@{hart}"))?;
        fdt.property_string("device_type", "cpu")?;
        fdt.property_u32("reg", hart as u32)?;
        fdt.property_string("status", "okay")?;
        fdt.property_string("compatible", "riscv")?;
        fdt.property_string("riscv,isa", &config.isa)?;
        let intc = fdt.begin_node("interrupt-controller")?;
        fdt.property_u32("#interrupt-cells", 1)?;
        fdt.property_null("interrupt-controller")?;
        fdt.property_string("compatible", "riscv,cpu-intc")?;
        fdt.property_u32("phandle", hart as u32 + 1)?;
        fdt.end_node(intc)?;
        fdt.end_node(cpu)?;
    }
    fdt.end_node(cpus)?;

    let syscon_phandle = config.harts as u32 + 1;
    let soc = fdt.begin_node("soc")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_string("compatible", "simple-bus")?;
    fdt.property_null("ranges")?;

    let clint = fdt.begin_node(&format!("clint@{:x}", config.clint.0))?;
    fdt.property_string_list("compatible", vec!["sifive,clint0".into(), "riscv,clint0".into()])?;
    fdt.property_array_u64("reg", &reg(config.clint.0, config.clint.1))?;
    let machine_software = 3;
    let machine_timer = 7;
    let lines: Vec<u32> =
        (0..config.harts as u32).flat_map(|h| [h + 1, machine_software, h + 1, machine_timer]).collect();
    fdt.property_array_u32("interrupts-extended", &lines)?;
    fdt.end_node(clint)?;

    let serial = fdt.begin_node(&format!("serial@{:x}", config.uart.0))?;
    fdt.property_string("compatible", "ns16550a")?;
    fdt.property_array_u64("reg", &reg(config.uart.0, config.uart.1))?;
    fdt.property_u32("clock-frequency", config.uart_clock)?;
    fdt.end_node(serial)?;

    let test = fdt.begin_node(&format!("test@{:x}", config.test.0))?;
    fdt.property_string_list("compatible", vec!["sifive,test1".into(), "sifive,test0".into(), "syscon".into()])?;
    fdt.property_array_u64("reg", &reg(config.test.0, config.test.1))?;
    fdt.property_u32("phandle", syscon_phandle)?;
    fdt.end_node(test)?;
    fdt.end_node(soc)?;

    for (name, compatible, value) in [("poweroff", "syscon-poweroff", 0x5555), ("reboot", "syscon-reboot", 0x7777)] {
        let node = fdt.begin_node(name)?;
        fdt.property_string("compatible", compatible)?;
        fdt.property_u32("regmap", syscon_phandle)?;
        fdt.property_u32("offset", 0)?;
        fdt.property_u32("value", value)?;
        fdt.end_node(node)?;
    }

    fdt.end_node(root)?;
    fdt.finish()
}
