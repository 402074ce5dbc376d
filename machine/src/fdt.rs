//! The flattened device tree a board hands its firmware or kernel in `a1`.

use vm_fdt::{FdtWriter, FdtWriterResult};

/// The node of a device added to the board (see
/// [`crate::boards::virt::DeviceNode`]): `NAME@BASE` under `/soc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraNode {
    /// The node's name before the `@`.
    pub name: String,
    /// `compatible`, most specific first.
    pub compatible: Vec<String>,
    /// `(base, size)` of its window.
    pub reg: (u64, u64),
    /// The PLIC source it drives, if any.
    pub interrupt: Option<u32>,
}

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
    /// `(base, size)` of the PLIC.
    pub plic: (u64, u64),
    /// The PLIC's highest source number (`riscv,ndev`).
    pub plic_ndev: u32,
    /// `(base, size)` of the UART.
    pub uart: (u64, u64),
    /// The PLIC source the UART drives.
    pub uart_irq: u32,
    /// UART input clock in Hz.
    pub uart_clock: u32,
    /// `(base, size)` of the test finisher.
    pub test: (u64, u64),
    /// `(base, size)` of the Goldfish RTC.
    pub rtc: (u64, u64),
    /// The PLIC source the RTC drives.
    pub rtc_irq: u32,
    /// Nodes of devices added to the board.
    pub extra: Vec<ExtraNode>,
    /// Kernel command line (`/chosen/bootargs`), if any.
    pub bootargs: Option<String>,
    /// `[start, end)` of the initrd in RAM (`/chosen/linux,initrd-start`
    /// and `-end`), if there is one.
    pub initrd: Option<(u64, u64)>,
}

/// The magic number a flattened device tree starts with.
const FDT_MAGIC: u32 = 0xd00d_feed;
/// The size of a flattened device tree's header (version 17).
const FDT_HEADER_SIZE: usize = 40;

/// Why a file is not a device tree blob.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Shorter than a device tree header.
    #[error("{0} bytes is too short for a device tree (its header alone is 40)")]
    TooShort(usize),
    /// The first word is not `0xd00dfeed`.
    #[error("not a device tree: it starts with {0:#010x}, not the magic 0xd00dfeed")]
    BadMagic(u32),
    /// The header's `totalsize` is more than the blob has, or less than a
    /// header.
    #[error("the device tree says it is {header} bytes long, but the file has {file}")]
    BadSize {
        /// `totalsize` from the header.
        header: u32,
        /// The blob's length.
        file: usize,
    },
}

/// Checks that `blob` looks like a flattened device tree, its magic and its
/// `totalsize`, and returns that size: the blob may have more bytes after
/// it (QEMU's `dumpdtb` writes the tree padded to 1 MiB). The structure
/// inside is the guest's business, as on QEMU.
pub fn check_blob(blob: &[u8]) -> Result<usize, BlobError> {
    if blob.len() < FDT_HEADER_SIZE {
        return Err(BlobError::TooShort(blob.len()));
    }
    let word = |at: usize| u32::from_be_bytes([blob[at], blob[at + 1], blob[at + 2], blob[at + 3]]);
    if word(0) != FDT_MAGIC {
        return Err(BlobError::BadMagic(word(0)));
    }
    let size = word(4) as usize;
    if size > blob.len() || size < FDT_HEADER_SIZE {
        return Err(BlobError::BadSize { header: word(4), file: blob.len() });
    }
    Ok(size)
}

/// `/chosen/linux,initrd-start` and `-end` for `initrd`, if any.
fn write_initrd(fdt: &mut FdtWriter, initrd: Option<(u64, u64)>) -> FdtWriterResult<()> {
    if let Some((start, end)) = initrd {
        // QEMU 7.2 writes one 32-bit cell each (newer QEMUs two); Linux
        // reads either, so two only where one cannot hold the address.
        for (name, value) in [("linux,initrd-start", start), ("linux,initrd-end", end)] {
            match u32::try_from(value) {
                Ok(cell) => fdt.property_u32(name, cell)?,
                Err(_) => fdt.property_u64(name, value)?,
            }
        }
    }
    Ok(())
}

/// Why `/chosen` cannot be written into a given device tree.
#[derive(Debug, thiserror::Error)]
pub enum ChosenError {
    /// The blob's header or memory reservations are unusable.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The structure block is cut short or holds an unknown token.
    #[error("the device tree's structure is malformed at byte {0:#x}")]
    Malformed(usize),
    /// The tree cannot be written again (a name the format forbids, a
    /// property given twice in a node).
    #[error("the device tree cannot be rewritten: {0}")]
    Rewrite(String),
}

// Tokens of the structure block.
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// A copy of the device tree `blob` with `bootargs` and `initrd` written
/// into its `/chosen` node (made if it has none), replacing what was there
/// for them, as QEMU does for `-dtb` with `-append` and `-initrd`.
/// Everything else, memory reservations and the boot CPU included, is
/// copied as it was.
pub fn write_chosen(blob: &[u8], bootargs: Option<&str>, initrd: Option<(u64, u64)>) -> Result<Vec<u8>, ChosenError> {
    let size = check_blob(blob)?;
    let blob = &blob[..size];
    let word = |at: usize| -> Result<u32, ChosenError> {
        blob.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok_or(ChosenError::Malformed(at))
    };
    let (structure, strings, reservations) = (word(8)? as usize, word(12)? as usize, word(16)? as usize);
    let boot_cpu = word(28)?;
    let rewrite = |e: vm_fdt::Error| ChosenError::Rewrite(e.to_string());

    let mut reserved = Vec::new();
    let mut at = reservations;
    loop {
        let pair = blob.get(at..at + 16).ok_or(ChosenError::Malformed(at))?;
        let address = u64::from_be_bytes(pair[..8].try_into().unwrap_or_default());
        let length = u64::from_be_bytes(pair[8..].try_into().unwrap_or_default());
        if address == 0 && length == 0 {
            break;
        }
        reserved.push(vm_fdt::FdtReserveEntry::new(address, length).map_err(rewrite)?);
        at += 16;
    }
    let mut fdt = FdtWriter::new_with_mem_reserv(&reserved).map_err(rewrite)?;
    fdt.set_boot_cpuid_phys(boot_cpu);

    let c_string = |at: usize| -> Result<&str, ChosenError> {
        let bytes = blob.get(at..).ok_or(ChosenError::Malformed(at))?;
        let end = bytes.iter().position(|&b| b == 0).ok_or(ChosenError::Malformed(at))?;
        std::str::from_utf8(&bytes[..end]).map_err(|_| ChosenError::Malformed(at))
    };
    let replaced = |name: &str| {
        (name == "bootargs" && bootargs.is_some()) || (name.starts_with("linux,initrd-") && initrd.is_some())
    };
    // The open nodes: the writer's handle, and whether it is /chosen.
    let mut open: Vec<(vm_fdt::FdtWriterNode, bool)> = Vec::new();
    let mut chosen_seen = false;
    let mut at = structure;
    loop {
        let token = word(at)?;
        at += 4;
        match token {
            FDT_BEGIN_NODE => {
                let name = c_string(at)?;
                at = (at + name.len() + 1).next_multiple_of(4);
                let is_chosen = open.len() == 1 && name == "chosen";
                chosen_seen |= is_chosen;
                open.push((fdt.begin_node(name).map_err(rewrite)?, is_chosen));
            }
            FDT_END_NODE => {
                let (node, is_chosen) = open.pop().ok_or(ChosenError::Malformed(at - 4))?;
                if is_chosen || (open.is_empty() && !chosen_seen) {
                    // The root ends without a /chosen: make one.
                    let made = (!is_chosen).then(|| fdt.begin_node("chosen")).transpose().map_err(rewrite)?;
                    if let Some(args) = bootargs {
                        fdt.property_string("bootargs", args).map_err(rewrite)?;
                    }
                    write_initrd(&mut fdt, initrd).map_err(rewrite)?;
                    if let Some(made) = made {
                        fdt.end_node(made).map_err(rewrite)?;
                    }
                }
                fdt.end_node(node).map_err(rewrite)?;
            }
            FDT_PROP => {
                let (len, name_offset) = (word(at)? as usize, word(at + 4)? as usize);
                let value = blob.get(at + 8..at + 8 + len).ok_or(ChosenError::Malformed(at))?;
                let name = c_string(strings + name_offset)?;
                at = (at + 8 + len).next_multiple_of(4);
                if !(open.last().is_some_and(|&(_, is_chosen)| is_chosen) && replaced(name)) {
                    fdt.property(name, value).map_err(rewrite)?;
                }
            }
            FDT_NOP => {}
            FDT_END if open.is_empty() => break,
            _ => return Err(ChosenError::Malformed(at - 4)),
        }
    }
    fdt.finish().map_err(rewrite)
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
    write_initrd(&mut fdt, config.initrd)?;
    fdt.end_node(chosen)?;

    let memory = fdt.begin_node(&format!("memory@{:x}", config.ram.0))?;
    fdt.property_string("device_type", "memory")?;
    fdt.property_array_u64("reg", &reg(config.ram.0, config.ram.1))?;
    fdt.end_node(memory)?;

    // phandle of hart N's interrupt controller is N + 1; the PLIC and the
    // test finisher (a syscon) follow, then the cpu nodes (for cpu-map).
    let cpu_phandle = |hart: usize| config.harts as u32 + 3 + hart as u32;
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
        fdt.property_string("mmu-type", "riscv,sv57")?;
        fdt.property_u32("phandle", cpu_phandle(hart))?;
        let intc = fdt.begin_node("interrupt-controller")?;
        fdt.property_u32("#interrupt-cells", 1)?;
        fdt.property_null("interrupt-controller")?;
        fdt.property_string("compatible", "riscv,cpu-intc")?;
        fdt.property_u32("phandle", hart as u32 + 1)?;
        fdt.end_node(intc)?;
        fdt.end_node(cpu)?;
    }
    // The topology, as QEMU's virt gives it: one cluster of one-hart cores.
    let cpu_map = fdt.begin_node("cpu-map")?;
    let cluster = fdt.begin_node("cluster0")?;
    for hart in 0..config.harts {
        let core = fdt.begin_node(&format!("core{hart}"))?;
        fdt.property_u32("cpu", cpu_phandle(hart))?;
        fdt.end_node(core)?;
    }
    fdt.end_node(cluster)?;
    fdt.end_node(cpu_map)?;
    fdt.end_node(cpus)?;

    let plic_phandle = config.harts as u32 + 1;
    let syscon_phandle = config.harts as u32 + 2;
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

    // As QEMU: context 2N is hart N's M-mode context, 2N + 1 its S-mode one.
    let plic = fdt.begin_node(&format!("plic@{:x}", config.plic.0))?;
    fdt.property_u32("#address-cells", 0)?;
    fdt.property_u32("#interrupt-cells", 1)?;
    fdt.property_string_list("compatible", vec!["sifive,plic-1.0.0".into(), "riscv,plic0".into()])?;
    fdt.property_null("interrupt-controller")?;
    let machine_external = 11;
    let supervisor_external = 9;
    let contexts: Vec<u32> =
        (0..config.harts as u32).flat_map(|h| [h + 1, machine_external, h + 1, supervisor_external]).collect();
    fdt.property_array_u32("interrupts-extended", &contexts)?;
    fdt.property_array_u64("reg", &reg(config.plic.0, config.plic.1))?;
    fdt.property_u32("riscv,ndev", config.plic_ndev)?;
    fdt.property_u32("phandle", plic_phandle)?;
    fdt.end_node(plic)?;

    let serial = fdt.begin_node(&format!("serial@{:x}", config.uart.0))?;
    fdt.property_string("compatible", "ns16550a")?;
    fdt.property_array_u64("reg", &reg(config.uart.0, config.uart.1))?;
    fdt.property_u32("clock-frequency", config.uart_clock)?;
    fdt.property_u32("interrupts", config.uart_irq)?;
    fdt.property_u32("interrupt-parent", plic_phandle)?;
    fdt.end_node(serial)?;

    let rtc = fdt.begin_node(&format!("rtc@{:x}", config.rtc.0))?;
    fdt.property_string("compatible", "google,goldfish-rtc")?;
    fdt.property_array_u64("reg", &reg(config.rtc.0, config.rtc.1))?;
    fdt.property_u32("interrupt-parent", plic_phandle)?;
    fdt.property_u32("interrupts", config.rtc_irq)?;
    fdt.end_node(rtc)?;

    for extra in &config.extra {
        let node = fdt.begin_node(&format!("{}@{:x}", extra.name, extra.reg.0))?;
        fdt.property_string_list("compatible", extra.compatible.clone())?;
        fdt.property_array_u64("reg", &reg(extra.reg.0, extra.reg.1))?;
        if let Some(source) = extra.interrupt {
            fdt.property_u32("interrupt-parent", plic_phandle)?;
            fdt.property_u32("interrupts", source)?;
        }
        fdt.end_node(node)?;
    }

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

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn config(harts: usize) -> FdtConfig {
        FdtConfig {
            harts,
            isa: "rv64imafdc_zicsr_zifencei".into(),
            ram: (0x8000_0000, 128 << 20),
            timebase_frequency: 10_000_000,
            clint: (0x200_0000, 0x10000),
            plic: (0xc00_0000, 0x60_0000),
            plic_ndev: 95,
            uart: (0x1000_0000, 0x100),
            uart_irq: 10,
            uart_clock: 3_686_400,
            test: (0x10_0000, 0x1000),
            rtc: (0x10_1000, 0x1000),
            rtc_irq: 11,
            extra: Vec::new(),
            bootargs: None,
            initrd: None,
        }
    }

    fn be32(blob: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(blob[at..at + 4].try_into().unwrap())
    }

    fn nul_terminated(bytes: &[u8]) -> &str {
        let end = bytes.iter().position(|&b| b == 0).expect("NUL-terminated");
        std::str::from_utf8(&bytes[..end]).expect("ASCII")
    }

    /// Reads a flattened device tree (version 17) into a map from property
    /// path (`/cpus/cpu@0/reg`) to value, checking its header on the way.
    pub(crate) fn parse(blob: &[u8]) -> BTreeMap<String, Vec<u8>> {
        assert_eq!(be32(blob, 0), 0xd00d_feed, "magic");
        assert_eq!(be32(blob, 4) as usize, blob.len(), "totalsize");
        let (structs, strings) = (be32(blob, 8) as usize, be32(blob, 12) as usize);
        assert_eq!(be32(blob, 20), 17, "version");
        let mut properties = BTreeMap::new();
        let mut path: Vec<String> = Vec::new();
        let mut at = structs;
        loop {
            let token = be32(blob, at);
            at += 4;
            match token {
                1 => {
                    let name = nul_terminated(&blob[at..]);
                    at += (name.len() + 1).next_multiple_of(4);
                    path.push(name.to_string());
                }
                2 => {
                    path.pop().expect("END_NODE matches a BEGIN_NODE");
                }
                3 => {
                    let len = be32(blob, at) as usize;
                    let name = nul_terminated(&blob[strings + be32(blob, at + 4) as usize..]);
                    let value = blob[at + 8..at + 8 + len].to_vec();
                    at += 8 + len.next_multiple_of(4);
                    let key = format!("{}/{name}", path.join("/"));
                    assert!(properties.insert(key.clone(), value).is_none(), "{key} twice");
                }
                4 => {}
                9 => break,
                other => panic!("bad token {other} at {at:#x}"),
            }
        }
        assert!(path.is_empty(), "every node is closed");
        properties
    }

    pub(crate) fn cells(value: &[u8]) -> Vec<u32> {
        value.chunks(4).map(|c| u32::from_be_bytes(c.try_into().unwrap())).collect()
    }

    fn u64s(value: &[u8]) -> Vec<u64> {
        value.chunks(8).map(|c| u64::from_be_bytes(c.try_into().unwrap())).collect()
    }

    fn string(value: &[u8]) -> &str {
        nul_terminated(value)
    }

    fn strings(value: &[u8]) -> Vec<&str> {
        value.split(|&b| b == 0).filter(|s| !s.is_empty()).map(|s| std::str::from_utf8(s).unwrap()).collect()
    }

    #[test]
    fn the_blob_is_a_device_tree() {
        let blob = build(&config(1)).unwrap();
        assert_eq!(blob[..4], [0xd0, 0x0d, 0xfe, 0xed]);
        let found = |needle: &[u8]| blob.windows(needle.len()).any(|w| w == needle);
        for name in
            ["cpu@0", "memory@80000000", "clint@2000000", "plic@c000000", "serial@10000000", "test@100000", "ns16550a"]
        {
            assert!(found(name.as_bytes()), "{name} missing");
        }
        assert!(!found(b"cpu@1"));
    }

    #[test]
    fn one_hart() {
        let tree = parse(&build(&config(1)).unwrap());
        assert_eq!(string(&tree["/compatible"]), "riscv-virtio");
        assert_eq!(cells(&tree["/#address-cells"]), [2]);
        assert_eq!(string(&tree["/chosen/stdout-path"]), "/soc/serial@10000000");
        assert!(!tree.contains_key("/chosen/bootargs"));
        assert!(!tree.contains_key("/chosen/linux,initrd-start"));
        assert_eq!(string(&tree["/memory@80000000/device_type"]), "memory");
        assert_eq!(u64s(&tree["/memory@80000000/reg"]), [0x8000_0000, 128 << 20]);
        assert_eq!(cells(&tree["/cpus/timebase-frequency"]), [10_000_000]);
        assert_eq!(cells(&tree["/cpus/cpu@0/reg"]), [0]);
        assert_eq!(string(&tree["/cpus/cpu@0/riscv,isa"]), "rv64imafdc_zicsr_zifencei");
        assert_eq!(string(&tree["/cpus/cpu@0/device_type"]), "cpu");
        assert_eq!(cells(&tree["/cpus/cpu@0/interrupt-controller/phandle"]), [1]);
        assert!(tree["/cpus/cpu@0/interrupt-controller/interrupt-controller"].is_empty());
        assert!(!tree.keys().any(|k| k.starts_with("/cpus/cpu@1")));
        assert_eq!(strings(&tree["/soc/clint@2000000/compatible"]), ["sifive,clint0", "riscv,clint0"]);
        assert_eq!(u64s(&tree["/soc/clint@2000000/reg"]), [0x200_0000, 0x10000]);
        assert_eq!(cells(&tree["/soc/clint@2000000/interrupts-extended"]), [1, 3, 1, 7]);
        assert_eq!(string(&tree["/soc/serial@10000000/compatible"]), "ns16550a");
        assert_eq!(u64s(&tree["/soc/serial@10000000/reg"]), [0x1000_0000, 0x100]);
        assert_eq!(cells(&tree["/soc/serial@10000000/clock-frequency"]), [3_686_400]);
        assert_eq!(strings(&tree["/soc/plic@c000000/compatible"]), ["sifive,plic-1.0.0", "riscv,plic0"]);
        // The RTC as QEMU 7.2's virt describes it (`-M virt,dumpdtb`).
        assert_eq!(string(&tree["/soc/rtc@101000/compatible"]), "google,goldfish-rtc");
        assert_eq!(u64s(&tree["/soc/rtc@101000/reg"]), [0x10_1000, 0x1000]);
        assert_eq!(cells(&tree["/soc/rtc@101000/interrupts"]), [11]);
        assert_eq!(tree["/soc/rtc@101000/interrupt-parent"], tree["/soc/plic@c000000/phandle"]);
        assert_eq!(u64s(&tree["/soc/plic@c000000/reg"]), [0xc00_0000, 0x60_0000]);
        assert_eq!(cells(&tree["/soc/plic@c000000/#address-cells"]), [0]);
        assert_eq!(cells(&tree["/soc/plic@c000000/#interrupt-cells"]), [1]);
        assert!(tree["/soc/plic@c000000/interrupt-controller"].is_empty());
        assert_eq!(cells(&tree["/soc/plic@c000000/riscv,ndev"]), [95]);
        assert_eq!(cells(&tree["/soc/plic@c000000/interrupts-extended"]), [1, 11, 1, 9]);
        let plic = cells(&tree["/soc/plic@c000000/phandle"]);
        assert_eq!(plic, [2], "after the one interrupt controller");
        assert_eq!(cells(&tree["/soc/serial@10000000/interrupt-parent"]), plic);
        assert_eq!(cells(&tree["/soc/serial@10000000/interrupts"]), [10]);
        assert_eq!(strings(&tree["/soc/test@100000/compatible"]), ["sifive,test1", "sifive,test0", "syscon"]);
        assert_eq!(u64s(&tree["/soc/test@100000/reg"]), [0x10_0000, 0x1000]);
        let syscon = cells(&tree["/soc/test@100000/phandle"]);
        assert_eq!(syscon, [3], "after the PLIC");
        assert_eq!(cells(&tree["/poweroff/regmap"]), syscon);
        assert_eq!(cells(&tree["/poweroff/value"]), [0x5555]);
        assert_eq!(cells(&tree["/reboot/regmap"]), syscon);
        assert_eq!(cells(&tree["/reboot/value"]), [0x7777]);
    }

    #[test]
    fn four_harts() {
        let tree = parse(&build(&config(4)).unwrap());
        for hart in 0..4u32 {
            let cpu = format!("/cpus/cpu@{hart}");
            assert_eq!(cells(&tree[&format!("{cpu}/reg")]), [hart]);
            assert_eq!(string(&tree[&format!("{cpu}/status")]), "okay");
            assert_eq!(cells(&tree[&format!("{cpu}/interrupt-controller/phandle")]), [hart + 1]);
        }
        assert!(!tree.keys().any(|k| k.starts_with("/cpus/cpu@4")));
        assert_eq!(
            cells(&tree["/soc/clint@2000000/interrupts-extended"]),
            [1, 3, 1, 7, 2, 3, 2, 7, 3, 3, 3, 7, 4, 3, 4, 7],
            "each hart's software (3) and timer (7) interrupt, through its controller's phandle"
        );
        assert_eq!(
            cells(&tree["/soc/plic@c000000/interrupts-extended"]),
            [1, 11, 1, 9, 2, 11, 2, 9, 3, 11, 3, 9, 4, 11, 4, 9],
            "each hart's M (11) and S (9) external interrupt: contexts 0 to 7"
        );
        let plic = cells(&tree["/soc/plic@c000000/phandle"]);
        assert_eq!(plic, [5]);
        assert_eq!(cells(&tree["/soc/serial@10000000/interrupt-parent"]), plic);
        let syscon = cells(&tree["/soc/test@100000/phandle"]);
        assert_eq!(syscon, [6]);
        assert_eq!(cells(&tree["/poweroff/regmap"]), syscon);
        // Every phandle is unique.
        let mut phandles: Vec<_> =
            tree.iter().filter(|(k, _)| k.ends_with("/phandle")).map(|(_, v)| cells(v)).collect();
        let count = phandles.len();
        assert_eq!(count, 10, "four cpus and their interrupt controllers, the PLIC, the syscon");
        phandles.sort();
        phandles.dedup();
        assert_eq!(phandles.len(), count);
    }

    /// `/cpus/cpu-map` as QEMU's virt writes it: one cluster, a core per
    /// hart, each naming its cpu node by phandle.
    #[test]
    fn the_cpu_map_names_each_hart() {
        let tree = parse(&build(&config(4)).unwrap());
        for hart in 0..4 {
            let cpu = cells(&tree[&format!("/cpus/cpu-map/cluster0/core{hart}/cpu")]);
            assert_eq!(cpu, cells(&tree[&format!("/cpus/cpu@{hart}/phandle")]), "core{hart}");
        }
        assert!(!tree.keys().any(|k| k.starts_with("/cpus/cpu-map/cluster0/core4")));
    }

    #[test]
    fn bootargs_go_to_chosen() {
        let tree = parse(&build(&FdtConfig { bootargs: Some("console=ttyS0 quiet".into()), ..config(1) }).unwrap());
        assert_eq!(string(&tree["/chosen/bootargs"]), "console=ttyS0 quiet");
    }

    #[test]
    fn the_initrd_goes_to_chosen_in_cells_as_qemu_writes_them() {
        let tree = parse(&build(&FdtConfig { initrd: Some((0x8820_0000, 0x8820_1388)), ..config(1) }).unwrap());
        assert_eq!(cells(&tree["/chosen/linux,initrd-start"]), [0x8820_0000], "one cell, as QEMU 7.2");
        assert_eq!(cells(&tree["/chosen/linux,initrd-end"]), [0x8820_1388]);
        let high = (0x1_0000_0000, 0x1_0000_1000);
        let tree = parse(&build(&FdtConfig { initrd: Some(high), ..config(1) }).unwrap());
        assert_eq!(cells(&tree["/chosen/linux,initrd-start"]), [1, 0], "two cells above 4 GiB");
        assert_eq!(cells(&tree["/chosen/linux,initrd-end"]), [1, 0x1000]);
    }

    #[test]
    fn chosen_is_written_into_a_given_tree_and_the_rest_kept() {
        let mut config = config(2);
        config.bootargs = Some("old".into());
        let given = build(&config).unwrap();
        let original = parse(&given);
        let rewritten = write_chosen(&given, Some("console=ttyS0 quiet"), Some((0x8800_0000, 0x8810_0000))).unwrap();
        let tree = parse(&rewritten);
        assert_eq!(string(&tree["/chosen/bootargs"]), "console=ttyS0 quiet");
        assert_eq!(cells(&tree["/chosen/linux,initrd-start"]), [0x8800_0000]);
        assert_eq!(cells(&tree["/chosen/linux,initrd-end"]), [0x8810_0000]);
        for (property, value) in &original {
            if !property.starts_with("/chosen/bootargs") {
                assert_eq!(tree.get(property), Some(value), "{property} is kept");
            }
        }
        assert_eq!(tree.len(), original.len() + 2);
        // Nothing to write: the same tree.
        assert_eq!(parse(&write_chosen(&given, None, None).unwrap()), original);
    }

    #[test]
    fn a_tree_without_chosen_gets_one() {
        let mut fdt =
            FdtWriter::new_with_mem_reserv(&[vm_fdt::FdtReserveEntry::new(0x8000_0000, 0x1000).unwrap()]).unwrap();
        let root = fdt.begin_node("").unwrap();
        fdt.property_u32("#address-cells", 2).unwrap();
        let cpus = fdt.begin_node("cpus").unwrap();
        fdt.end_node(cpus).unwrap();
        fdt.end_node(root).unwrap();
        let given = fdt.finish().unwrap();
        let rewritten = write_chosen(&given, Some("root=/dev/vda"), None).unwrap();
        let tree = parse(&rewritten);
        assert_eq!(string(&tree["/chosen/bootargs"]), "root=/dev/vda");
        assert!(tree.contains_key("/#address-cells"));
        // The memory reservation came along: the reservation block follows
        // the 40-byte header, as vm-fdt lays it out.
        assert_eq!(&rewritten[40..56], &[0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0]);
        // A cut tree is an error, not a panic.
        let mut cut = given.clone();
        let end = cut.len() - 16;
        cut.truncate(end);
        cut[4..8].copy_from_slice(&(end as u32).to_be_bytes());
        assert!(write_chosen(&cut, Some("x"), None).is_err());
    }

    #[test]
    fn blobs_are_checked() {
        let blob = build(&config(1)).unwrap();
        assert_eq!(check_blob(&blob).unwrap(), blob.len());
        let mut padded = blob.clone();
        padded.resize(1 << 20, 0);
        assert_eq!(check_blob(&padded).unwrap(), blob.len(), "QEMU's dumpdtb pads the tree to 1 MiB");
        assert!(matches!(check_blob(&blob[..39]), Err(BlobError::TooShort(39))));
        assert!(matches!(
            check_blob(b"\x7fELF and more bytes than a header has, surely"),
            Err(BlobError::BadMagic(0x7f45_4c46))
        ));
        let cut = &blob[..blob.len() - 1];
        assert_eq!(
            check_blob(cut).unwrap_err().to_string(),
            format!("the device tree says it is {} bytes long, but the file has {}", blob.len(), cut.len())
        );
        let mut tiny = blob[..64].to_vec();
        tiny[4..8].copy_from_slice(&8u32.to_be_bytes());
        assert!(matches!(check_blob(&tiny), Err(BlobError::BadSize { header: 8, file: 64 })));
        assert_eq!(
            check_blob(&[0; 64]).unwrap_err().to_string(),
            "not a device tree: it starts with 0x00000000, not the magic 0xd00dfeed"
        );
    }
}
