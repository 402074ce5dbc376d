//! The generated device tree matches QEMU 7.2's `-M virt` tree node for
//! node, for every device polyhart has: every node polyhart writes is in
//! QEMU's tree, with the same properties and values, phandles compared by
//! the node they name. The differences kept on purpose are listed in
//! `KNOWN_DIFFERENCES`. Without QEMU the test says so and passes, except
//! under `CI`, where it fails (see `tests/prerequisites`).

mod fdt;
mod prerequisites;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Properties whose values differ on purpose: the ISA string and MMU type
/// name what polyhart implements (no H, Zba/Zbb/Zbc/Zbs, Zihintpause; up to
/// Sv57), and polyhart's PLIC has 95 sources where QEMU 7.2 says 96.
const KNOWN_DIFFERENCES: [&str; 3] = ["riscv,isa", "mmu-type", "riscv,ndev"];

/// Properties whose cells are phandles (all of them, or the first of each
/// pair for `interrupts-extended`).
const PHANDLE_PROPERTIES: [&str; 4] = ["interrupt-parent", "regmap", "cpu", "interrupts-extended"];

fn cells(value: &[u8]) -> Vec<u32> {
    value.chunks(4).map(|c| u32::from_be_bytes(c.try_into().expect("whole cells"))).collect()
}

/// `property`'s value with phandles replaced by the paths of the nodes
/// they name, so that two trees numbering their phandles differently
/// compare equal.
fn resolved(tree: &BTreeMap<String, Vec<u8>>, property: &str, value: &[u8]) -> String {
    let name = property.rsplit('/').next().unwrap_or(property);
    if !PHANDLE_PROPERTIES.contains(&name) {
        return format!("{value:?}");
    }
    let node_of = |phandle: u32| {
        tree.iter()
            .find(|(key, v)| key.ends_with("/phandle") && cells(v) == [phandle])
            .map_or(format!("phandle {phandle}?"), |(key, _)| key.trim_end_matches("/phandle").to_string())
    };
    let cells = cells(value);
    let parts: Vec<String> = if name == "interrupts-extended" {
        cells.chunks(2).map(|pair| format!("{} {}", node_of(pair[0]), pair[1])).collect()
    } else {
        cells.iter().map(|&phandle| node_of(phandle)).collect()
    };
    parts.join(", ")
}

/// The tree `program` gives for `args` (after `prefix`, such as `run`).
fn dump(program: &str, prefix: &[&str], args: &[&str], out: &PathBuf) -> Vec<u8> {
    let machine = format!("virt,dumpdtb={}", out.display());
    let status = Command::new(program)
        .args(prefix)
        .args(["-M", &machine])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("the emulator runs");
    assert!(status.success(), "{program} -M {machine} {args:?}");
    std::fs::read(out).expect("the dumped tree")
}

#[test]
fn the_generated_tree_matches_qemus_for_the_devices_polyhart_has() {
    let qemu = "qemu-system-riscv64";
    if !prerequisites::require_tool(qemu, "Debian's qemu-system-misc", "the device-tree comparison with QEMU") {
        return;
    }
    let hello = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest/hello.elf");
    let hello = hello.to_str().expect("a UTF-8 path");
    for harts in ["1", "4"] {
        let args = ["-m", "256M", "-smp", harts, "-bios", "none", "-kernel", hello, "-append", "console=ttyS0"];
        let dir = std::env::temp_dir();
        let ours_path = dir.join(format!("polyhart-dt-{}-{harts}.dtb", std::process::id()));
        let theirs_path = dir.join(format!("qemu-dt-{}-{harts}.dtb", std::process::id()));
        let ours = fdt::parse(&dump(env!("CARGO_BIN_EXE_polyhart"), &["run"], &args, &ours_path));
        let theirs = fdt::parse(&dump(qemu, &["-nographic"], &args, &theirs_path));
        let _ = (std::fs::remove_file(ours_path), std::fs::remove_file(theirs_path));
        let mut compared = 0;
        for (property, value) in &ours {
            let name = property.rsplit('/').next().unwrap_or(property);
            if name == "phandle" || KNOWN_DIFFERENCES.contains(&name) {
                continue;
            }
            let theirs_value = theirs.get(property);
            assert!(theirs_value.is_some(), "{harts} harts: QEMU's tree has no {property}");
            assert_eq!(
                resolved(&ours, property, value),
                resolved(&theirs, property, theirs_value.expect("checked above")),
                "{harts} harts: {property}"
            );
            compared += 1;
        }
        // Every device node of ours was looked at: cpus and their map, memory,
        // chosen, the CLINT, PLIC, UART, RTC, test finisher, poweroff, reboot,
        // the eight virtio-mmio transports.
        for node in [
            "/cpus/cpu-map/cluster0/core0/cpu",
            "/soc/rtc@101000/reg",
            "/soc/serial@10000000/reg",
            "/soc/virtio_mmio@10001000/interrupts",
            "/soc/virtio_mmio@10008000/reg",
        ] {
            assert!(ours.contains_key(node), "{node}");
        }
        assert!(compared > 40, "{harts} harts: only {compared} properties compared");
    }
}

/// With `-dtb`, `-append` and `-initrd` go into the given tree's `/chosen`
/// as QEMU puts them there; the rest of the tree is the given one.
#[test]
fn a_given_tree_gets_the_command_line_and_initrd_as_on_qemu() {
    let qemu = "qemu-system-riscv64";
    if !prerequisites::require_tool(qemu, "Debian's qemu-system-misc", "the -dtb comparison with QEMU") {
        return;
    }
    let dir = std::env::temp_dir();
    let temp = |name: &str| dir.join(format!("polyhart-given-{}-{name}", std::process::id()));
    let hello = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest/hello.elf");
    let hello = hello.to_str().expect("a UTF-8 path");
    let base = ["-m", "256M", "-smp", "2", "-bios", "none", "-kernel", hello];
    // The given tree: QEMU's own for this machine, without a command line.
    let given = temp("given.dtb");
    dump(qemu, &["-nographic"], &base, &given);
    let initrd = temp("initrd");
    std::fs::write(&initrd, vec![0x5a; 5000]).expect("the initrd is written");
    let mut args = base.to_vec();
    let (given_path, initrd_path) = (given.to_str().expect("UTF-8"), initrd.to_str().expect("UTF-8"));
    args.extend(["-dtb", given_path, "-append", "console=ttyS0 root=/dev/vda", "-initrd", initrd_path]);
    let (ours_path, theirs_path) = (temp("ours.dtb"), temp("theirs.dtb"));
    let ours = fdt::parse(&dump(env!("CARGO_BIN_EXE_polyhart"), &["run"], &args, &ours_path));
    let theirs = fdt::parse(&dump(qemu, &["-nographic"], &args, &theirs_path));
    let original = fdt::parse(&std::fs::read(&given).expect("the given tree"));
    for path in [given, initrd, ours_path, theirs_path] {
        let _ = std::fs::remove_file(path);
    }
    for property in ["/chosen/bootargs", "/chosen/linux,initrd-start", "/chosen/linux,initrd-end"] {
        assert!(ours.contains_key(property), "ours has {property}");
        assert_eq!(ours.get(property), theirs.get(property), "{property}");
    }
    for (property, value) in &original {
        if !property.starts_with("/chosen/") {
            assert_eq!(ours.get(property), Some(value), "{property} is the given tree's");
        }
    }
}
