//! Debian's Linux kernel boots to a busybox shell through the flags a QEMU
//! user types (`-bios`, `-kernel`, `-initrd`, `-append`, `-smp`, `-m`,
//! `-drive`, `-device`), on one and four harts with both engines: the shell
//! runs the commands typed into the console, reads a virtio disk and writes
//! it (the host file has the write after exit), is refused a write to a
//! read-only disk, reads virtio-rng, `reboot` boots the machine again, and
//! `poweroff` ends polyhart with status 0. GDB (`gdb-multiarch`) stops the
//! kernel at its entry and at `start_kernel` (its address from the guest's
//! `/proc/kallsyms`), and reads it through its page tables.
//!
//! The guest is Debian trixie's riscv64 kernel, its virtio modules and
//! `busybox-static`, fetched once by `scripts/fetch-linux-guest.sh
//! target/linux-guest` (`.ci/run` does it); the initramfs is built here. Without them, or
//! without Debian's OpenSBI, the test says so and passes, except under
//! `CI`, where it fails (see `tests/prerequisites`).

mod gdb_client;
mod prerequisites;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const FW_JUMP: &str = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin";
/// What `init` prints once the shell is about to start.
const READY: &str = "polyhart-shell-ready 42";
/// Longest a boot may take (a debug build on a loaded two-core host).
const BOOT_LIMIT: Duration = Duration::from_secs(300);

/// What the guest reads at the start of its disk.
const DISK_IN: &[u8] = b"polyhart-disk-in-7\n";
/// What the guest writes at sector 8 of its disk: `$((3*5))` makes it 15.
const DISK_OUT: &[u8] = b"polyhart-disk-out-15\n";

/// The fetched guest: the kernel image, busybox and the virtio modules.
struct Guest {
    image: PathBuf,
    busybox: PathBuf,
    modules: PathBuf,
}

/// The fetched guest, if it is there.
fn guest_files() -> Option<Guest> {
    let dir = std::env::var_os("POLYHART_LINUX_GUEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/linux-guest"));
    let guest = Guest { image: dir.join("Image"), busybox: dir.join("busybox"), modules: dir.join("modules") };
    let how = "scripts/fetch-linux-guest.sh target/linux-guest fetches the guest; Debian's opensbi gives fw_jump";
    let order = guest.modules.join("order");
    let files = [guest.image.as_path(), guest.busybox.as_path(), order.as_path(), Path::new(FW_JUMP)];
    prerequisites::require_files(&files, how, "the Linux boot test").then_some(guest)
}

/// A `newc` cpio archive of `entries` (path, mode, contents): what the
/// kernel unpacks as its initramfs.
fn cpio(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let pad = |out: &mut Vec<u8>| out.resize(out.len().next_multiple_of(4), 0);
    let trailer: (&str, u32, &[u8]) = ("TRAILER!!!", 0, &[]);
    for (inode, &(name, mode, data)) in entries.iter().chain([&trailer]).enumerate() {
        let nlink = if mode & 0o040000 != 0 { 2 } else { 1 };
        let fields = [inode as u32 + 1, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
        out.extend_from_slice(b"070701");
        for field in fields {
            out.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        pad(&mut out);
        out.extend_from_slice(data);
        pad(&mut out);
    }
    out
}

/// An initramfs holding busybox, the virtio modules and an `init` that
/// mounts /proc, /sys and /dev, loads the modules, says it is ready and
/// starts a shell on the console.
fn initramfs(guest: &Guest) -> Vec<u8> {
    let read = |path: &Path| std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let order = String::from_utf8(read(&guest.modules.join("order"))).expect("a list of module names");
    let modules: Vec<(String, Vec<u8>)> = order
        .split_whitespace()
        .map(|name| (format!("lib/{name}.ko"), read(&guest.modules.join(format!("{name}.ko")))))
        .collect();
    let insmod: String = modules.iter().map(|(path, _)| format!("insmod /{path}\n")).collect();
    let init = format!(
        "#!/bin/busybox sh\n/bin/busybox --install -s /bin\nmount -t proc proc /proc\nmount -t sysfs sys /sys\n\
         mount -t devtmpfs dev /dev\n{insmod}echo \"polyhart-shell-ready $((6*7))\"\nexec sh\n"
    );
    let busybox = read(&guest.busybox);
    let mut entries: Vec<(&str, u32, &[u8])> = vec![
        ("bin", 0o040755, &[]),
        ("bin/busybox", 0o100755, &busybox),
        ("proc", 0o040755, &[]),
        ("sys", 0o040755, &[]),
        ("dev", 0o040755, &[]),
        ("lib", 0o040755, &[]),
        ("init", 0o100755, init.as_bytes()),
    ];
    entries.extend(modules.iter().map(|(path, bytes)| (path.as_str(), 0o100644, bytes.as_slice())));
    cpio(&entries)
}

/// A disk image of 1 MiB starting with [`DISK_IN`].
fn disk_image(path: &Path) {
    let mut bytes = vec![0; 1 << 20];
    bytes[..DISK_IN.len()].copy_from_slice(DISK_IN);
    std::fs::write(path, bytes).expect("the disk image is written");
}

/// A guest running in a child process (polyhart or QEMU), its console on
/// pipes: lines it prints arrive on a channel, commands are typed into it.
struct Console {
    child: Child,
    stdin: ChildStdin,
    seen: mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<String>,
    started: Instant,
}

impl Console {
    /// Starts `command` with its console on pipes.
    fn start(mut command: Command) -> Console {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the emulator starts");
        let stdin = child.stdin.take().expect("a piped stdin");
        let stdout = child.stdout.take().expect("a piped stdout");
        let (lines, seen) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line).into_owned();
                let _ = lines.send(line.clone());
                all += &line;
                all.push('\n');
            }
            all
        });
        Console { child, stdin, seen, reader, started: Instant::now() }
    }

    /// Waits for a line holding `text`; false if the guest ends or takes
    /// longer than [`BOOT_LIMIT`] from its start.
    fn wait_for(&self, text: &str) -> bool {
        loop {
            let left = BOOT_LIMIT.saturating_sub(self.started.elapsed());
            match self.seen.recv_timeout(left) {
                Ok(line) if line.contains(text) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    /// Types `line` at the shell and waits for `marker`, which the line
    /// prints when it is done.
    fn run(&mut self, line: &str, marker: &str) -> bool {
        let _ = self.stdin.write_all(line.as_bytes());
        let _ = self.stdin.write_all(b"\n");
        let _ = self.stdin.flush();
        self.wait_for(marker)
    }

    /// Waits for the guest to end (killing it past [`BOOT_LIMIT`]): its
    /// console output and exit status.
    fn finish(mut self) -> (String, Option<i32>) {
        let status = loop {
            match self.child.try_wait().expect("the emulator can be waited for") {
                Some(status) => break status.code(),
                None if self.started.elapsed() > BOOT_LIMIT => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        drop(self.stdin);
        (self.reader.join().expect("the reader thread ends with the output"), status)
    }
}

/// `program` (polyhart or QEMU) booting the guest with `initrd` from
/// QEMU's flags, on `harts` harts, behind `firmware` (`None`: the
/// emulator's default, OpenSBI's `fw_dynamic` on both for a Linux image).
fn guest_command(program: &str, image: &Path, initrd: &Path, harts: u32, firmware: Option<&str>) -> Command {
    let mut command = Command::new(program);
    if program == env!("CARGO_BIN_EXE_polyhart") {
        command.arg("run");
    }
    command
        .args(["-M", "virt", "-nographic", "-m", "512M", "-smp", &harts.to_string()])
        .args(firmware.map(|path| ["-bios", path]).into_iter().flatten())
        .arg("-kernel")
        .arg(image)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 quiet"]);
    command
}

/// QEMU's `-drive` value for `path` with `options` after it.
fn drive(path: &Path, options: &str) -> std::ffi::OsString {
    let mut value = std::ffi::OsString::from("file=");
    value.push(path);
    value.push(options);
    value
}

/// Boots `image` with `initrd` on `harts` harts and `engine`, with `disk`
/// as its first virtio disk and `read_only` as a read-only second, types
/// commands at the shell, and returns the console output and exit status.
fn boot(
    image: &Path,
    initrd: &Path,
    (disk, read_only): (&Path, &Path),
    harts: u32,
    engine: &str,
    reboot: bool,
) -> (String, Option<i32>) {
    // One run of four relies on the default firmware, as a QEMU user would.
    let firmware = if harts == 4 && engine == "jit" { None } else { Some(FW_JUMP) };
    let mut command = guest_command(env!("CARGO_BIN_EXE_polyhart"), image, initrd, harts, firmware);
    command
        .args(["--engine", engine])
        .args(["-device", "virtio-blk-device,drive=hd0", "-device", "virtio-rng-device", "-drive"])
        .arg(drive(read_only, ",format=raw,readonly=on"))
        .arg("-drive")
        .arg(drive(disk, ",format=raw,if=none,id=hd0"));
    let mut console = Console::start(command);
    // The shell reads what is typed once it runs: type after the marker.
    let mut up = console.wait_for(READY)
        && console.run("echo typed-$((1+2)) on $(grep -c ^processor /proc/cpuinfo) harts", "typed-3");
    if up {
        // vda (the first device) is read and written; vdb is read-only.
        let commands = "head -c 18 /dev/vda; echo; echo polyhart-disk-out-$((3*5)) | \
                        dd of=/dev/vda bs=512 seek=8 conv=notrunc,fsync 2>/dev/null && echo disk-write-$((2*3)); \
                        echo x | dd of=/dev/vdb conv=notrunc,fsync 2>/dev/null || echo read-only-refused-$((3*3)); \
                        echo rng-$(cat /sys/class/misc/hw_random/rng_current) $(head -c 16 /dev/hwrng | wc -c)";
        up = console.run(commands, "rng-");
    }
    if up && reboot {
        // A reboot boots the same kernel and initramfs again.
        up = console.run("reboot -f", READY);
    }
    if up {
        console.run("poweroff -f", "");
    }
    console.finish()
}

/// Boots a polyhart guest listening on a socket netdev and a `peer`
/// (polyhart or QEMU) connecting to it, gives them addresses, and pings
/// the peer from the first: returns the first's console output.
fn ping_over_a_socket(image: &Path, initrd: &Path, peer: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let polyhart = env!("CARGO_BIN_EXE_polyhart");
    let mut first = guest_command(polyhart, image, initrd, 1, Some(FW_JUMP));
    first.args(["-netdev", &format!("socket,id=n0,listen=127.0.0.1:{port}"), "-device", "virtio-net-device,netdev=n0"]);
    let first = Console::start(first);
    // The listener is bound before polyhart's build returns; give it that long.
    std::thread::sleep(Duration::from_millis(500));
    let mut second = guest_command(peer, image, initrd, 1, Some(FW_JUMP));
    second.args(["-netdev", &format!("socket,id=n0,connect=127.0.0.1:{port}")]);
    second.args(["-device", "virtio-net-device,netdev=n0,mac=52:54:00:12:34:57"]);
    let second = Console::start(second);
    let mut consoles = [first, second];
    let mut up = true;
    for (console, address) in consoles.iter_mut().zip(["10.0.2.1", "10.0.2.2"]) {
        up = up
            && console.wait_for(READY)
            && console
                .run(&format!("ip link set eth0 up && ip addr add {address}/24 dev eth0 && echo up-{address}"), "up-");
    }
    if up {
        consoles[0].run("ping -c 3 -W 5 10.0.2.2; echo pinged-$((2*4))", "pinged-8");
    }
    for console in &mut consoles {
        console.run("poweroff -f", "");
    }
    let [first, second] = consoles;
    let (peer_output, _) = second.finish();
    let (output, _) = first.finish();
    format!("{output}\n--- the peer ({peer}):\n{peer_output}")
}

#[test]
fn linux_boots_to_a_shell_that_runs_commands_and_powers_off() {
    let Some(guest) = guest_files() else { return };
    let temp = |name: &str| std::env::temp_dir().join(format!("polyhart-{name}-{}", std::process::id()));
    let (initrd, disk, read_only) = (temp("initramfs.cpio"), temp("disk.img"), temp("ro.img"));
    std::fs::write(&initrd, initramfs(&guest)).expect("the initramfs is written");
    disk_image(&read_only);
    let read_only_before = std::fs::read(&read_only).expect("the read-only image");
    for (harts, engine, reboot) in [(1, "interp", false), (1, "jit", true), (4, "interp", true), (4, "jit", false)] {
        disk_image(&disk);
        let (output, status) = boot(&guest.image, &initrd, (&disk, &read_only), harts, engine, reboot);
        let what = format!("{harts} harts, {engine}");
        let boots = if reboot { 2 } else { 1 };
        assert_eq!(output.matches(READY).count(), boots, "{what}: shells started\n{output}");
        assert!(output.contains(&format!("typed-3 on {harts} harts")), "{what}: the typed command\n{output}");
        for expected in ["polyhart-disk-in-7", "disk-write-6", "read-only-refused-9", "rng-virtio_rng.0 16"] {
            assert!(output.contains(expected), "{what}: {expected}\n{output}");
        }
        let written = std::fs::read(&disk).expect("the disk image");
        assert_eq!(&written[..DISK_IN.len()], DISK_IN, "{what}: the start of the disk is untouched");
        assert_eq!(&written[8 * 512..][..DISK_OUT.len()], DISK_OUT, "{what}: the guest's write is in the file");
        assert_eq!(written.len(), 1 << 20, "{what}: the image keeps its size");
        assert_eq!(std::fs::read(&read_only).expect("the read-only image"), read_only_before, "{what}: read-only");
        assert_eq!(status, Some(0), "{what}: power-off exits 0\n{output}");
    }
    for path in [initrd, disk, read_only] {
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn the_initramfs_is_a_newc_archive() {
    // The header of the first entry, as `cpio -o -H newc` writes it.
    let archive = cpio(&[("init", 0o100755, b"#!")]);
    assert!(archive.starts_with(b"07070100000001000081ED"), "{:?}", String::from_utf8_lossy(&archive[..22]));
    assert_eq!(archive.len() % 4, 0);
    let text = String::from_utf8_lossy(&archive);
    assert!(text.contains("init\0") && text.contains("TRAILER!!!\0"));
    // Name size 5 ("init" and its NUL), file size 2.
    assert_eq!(&archive[54..62], b"00000002");
    assert_eq!(&archive[94..102], b"00000005");
}

#[test]
fn two_guests_ping_each_other_over_a_socket_netdev() {
    let Some(guest) = guest_files() else { return };
    let initrd = std::env::temp_dir().join(format!("polyhart-net-initramfs-{}.cpio", std::process::id()));
    std::fs::write(&initrd, initramfs(&guest)).expect("the initramfs is written");
    let mut peers = vec![env!("CARGO_BIN_EXE_polyhart")];
    // QEMU speaks the same framing: a polyhart guest and a QEMU guest share
    // the wire.
    if prerequisites::require_tool("qemu-system-riscv64", "Debian's qemu-system-misc", "the ping of a QEMU guest") {
        peers.push("qemu-system-riscv64");
    }
    for peer in peers {
        let output = ping_over_a_socket(&guest.image, &initrd, peer);
        assert!(output.contains("3 packets transmitted, 3 packets received"), "ping of {peer}:\n{output}");
    }
    let _ = std::fs::remove_file(initrd);
}

/// Where the kernel's `symbol` lives, from its own `/proc/kallsyms`: the
/// kernel Debian ships has no symbols for GDB (they are in a 1 GiB `-dbg`
/// package), and without a KASLR seed its addresses are the same each boot.
fn kernel_symbol(guest: &Guest, initrd: &Path, symbol: &str) -> u64 {
    let command = guest_command(env!("CARGO_BIN_EXE_polyhart"), &guest.image, initrd, 1, Some(FW_JUMP));
    let mut console = Console::start(command);
    let up = console.wait_for(READY)
        && console.run(&format!("grep -w {symbol} /proc/kallsyms; echo symbols-$((2*5))"), "symbols-10");
    console.run("poweroff -f", "");
    let (output, _) = console.finish();
    assert!(up, "the guest lists its symbols:\n{output}");
    let line = output
        .lines()
        .find(|line| line.split_whitespace().nth(2) == Some(symbol) && !line.contains("grep"))
        .unwrap_or_else(|| panic!("no {symbol} in /proc/kallsyms:\n{output}"));
    u64::from_str_radix(line.split_whitespace().next().unwrap_or_default(), 16)
        .unwrap_or_else(|_| panic!("an address in {line:?}"))
}

#[test]
fn gdb_stops_linux_at_its_entry_and_at_start_kernel() {
    let Some(guest) = guest_files() else { return };
    if !gdb_client::have_gdb("the Linux GDB test") {
        return;
    }
    let initrd = std::env::temp_dir().join(format!("polyhart-gdb-initramfs-{}.cpio", std::process::id()));
    std::fs::write(&initrd, initramfs(&guest)).expect("the initramfs is written");
    let start_kernel = kernel_symbol(&guest, &initrd, "start_kernel");
    assert!(start_kernel >= 0xffff_ffff_8000_0000, "start_kernel at {start_kernel:#x}: in the kernel's map");
    let mut command = guest_command(env!("CARGO_BIN_EXE_polyhart"), &guest.image, &initrd, 2, Some(FW_JUMP));
    let (mut child, address, _stderr) =
        gdb_client::start_held(command.args(["--gdb", "tcp::0", "-S"]).stdout(Stdio::null()));
    let address = address.as_str();
    let break_start_kernel = format!("break *{start_kernel:#x}");
    // fw_jump enters the kernel at the start of RAM plus 2 MiB, in S-mode
    // with paging off; Linux maps its image at 0xffffffff80000000
    // (KERNEL_LINK_ADDR) once paging is on, and start_kernel runs there.
    let output = gdb_client::run(
        address,
        None,
        &[
            "break *0x80200000",
            "continue",
            "print/x $pc",
            "print $priv",
            "print/x $satp",
            "x/2xw 0x80200000",
            "delete",
            &break_start_kernel,
            "continue",
            "print/x $pc",
            "print/x $satp",
            "x/2xw 0xffffffff80000000",
            "delete",
            "continue",
            "print/x $satp",
            "kill",
        ],
        Some(Duration::from_secs(25)),
    );
    let image = std::fs::read(&guest.image).expect("the kernel image");
    let word = |at: usize| format!("0x{:08x}", u32::from_le_bytes(image[at..at + 4].try_into().expect("4 bytes")));
    let (first, second) = (word(0), word(4));
    assert_eq!(gdb_client::hex(&gdb_client::printed(&output, 1)), 0x8020_0000, "{output}");
    assert_eq!(gdb_client::printed(&output, 2), "1", "S-mode at the kernel's entry: {output}");
    assert_eq!(gdb_client::hex(&gdb_client::printed(&output, 3)), 0, "paging off: {output}");
    let read = |at: &str| output.lines().find(|l| l.starts_with(at)).map(str::to_string).unwrap_or_default();
    let physical = read("0x80200000:");
    assert!(physical.contains(&first) && physical.contains(&second), "the image at its entry:\n{output}");
    // At start_kernel: paging on (Sv39, Sv48 or Sv57), the image readable
    // through the kernel's page tables.
    assert_eq!(gdb_client::hex(&gdb_client::printed(&output, 4)), start_kernel, "stopped at start_kernel: {output}");
    let satp = gdb_client::hex(&gdb_client::printed(&output, 5));
    assert!((8..=10).contains(&(satp >> 60)), "satp {satp:#x}:\n{output}");
    let virtual_read = read("0xffffffff80000000:");
    assert!(virtual_read.contains(&first) && virtual_read.contains(&second), "the image through paging:\n{output}");
    // Interrupted while it runs on: still paging.
    assert!((8..=10).contains(&(gdb_client::hex(&gdb_client::printed(&output, 6)) >> 60)), "{output}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "polyhart ends when GDB kills it");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(initrd);
}

#[test]
fn linux_saved_at_its_shell_runs_commands_in_every_restored_copy() {
    let Some(guest) = guest_files() else { return };
    let temp = |name: &str| std::env::temp_dir().join(format!("polyhart-{name}-{}", std::process::id()));
    let (initrd, snapshot) = (temp("snapshot-initramfs.cpio"), temp("linux.snap"));
    std::fs::write(&initrd, initramfs(&guest)).expect("the initramfs is written");
    let polyhart = env!("CARGO_BIN_EXE_polyhart");
    // Booted once, saved as the shell is about to start.
    let mut boot = guest_command(polyhart, &guest.image, &initrd, 2, Some(FW_JUMP));
    boot.arg("--snapshot-save").arg(&snapshot).args(["--snapshot-when", READY]);
    let (output, status) = Console::start(boot).finish();
    assert_eq!(status, Some(0), "the boot stops with status 0 once saved:\n{output}");
    assert!(output.contains(READY) && output.contains("OpenSBI"), "{output}");
    // Each copy starts where the boot stopped: the shell, not a boot.
    for copy in 0..2 {
        let mut restore = guest_command(polyhart, &guest.image, &initrd, 2, Some(FW_JUMP));
        restore.arg("--snapshot-load").arg(&snapshot);
        let mut console = Console::start(restore);
        let ran =
            console.run(&format!("echo copy-{copy}-$((6*7)) on $(grep -c ^processor /proc/cpuinfo) harts"), "-42 ");
        console.run("poweroff -f", "");
        let (output, status) = console.finish();
        assert!(ran, "copy {copy} runs a command:\n{output}");
        assert!(output.contains(&format!("copy-{copy}-42 on 2 harts")), "{output}");
        assert!(!output.contains("OpenSBI"), "copy {copy} did not boot again:\n{output}");
        assert_eq!(status, Some(0), "{output}");
    }
    let _ = std::fs::remove_file(initrd);
    let _ = std::fs::remove_file(snapshot);
}
