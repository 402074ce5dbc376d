//! Debian's Linux kernel boots to a busybox shell through the flags a QEMU
//! user types (`-bios`, `-kernel`, `-initrd`, `-append`, `-smp`, `-m`), on
//! one and four harts with both engines: the shell runs the commands typed
//! into the console, `reboot` boots the machine again, and `poweroff` ends
//! polyhart with status 0.
//!
//! The guest is Debian trixie's riscv64 kernel and `busybox-static`,
//! fetched once by `scripts/fetch-linux-guest.sh target/linux-guest`
//! (`.ci/run` does it); the initramfs is built here. Without them, or
//! without Debian's OpenSBI, the test says so and passes, except under
//! `CI`, where it fails (see `tests/prerequisites`).

mod prerequisites;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const FW_JUMP: &str = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin";
/// What `init` prints once the shell is about to start.
const READY: &str = "polyhart-shell-ready 42";
/// Longest a boot may take (a debug build on a loaded two-core host).
const BOOT_LIMIT: Duration = Duration::from_secs(300);

/// The fetched kernel image and busybox, if they are there.
fn guest_files() -> Option<(PathBuf, PathBuf)> {
    let dir = std::env::var_os("POLYHART_LINUX_GUEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/linux-guest"));
    let (image, busybox) = (dir.join("Image"), dir.join("busybox"));
    let how = "scripts/fetch-linux-guest.sh target/linux-guest fetches the guest; Debian's opensbi gives fw_jump";
    let files = [image.as_path(), busybox.as_path(), Path::new(FW_JUMP)];
    prerequisites::require_files(&files, how, "the Linux boot test").then_some((image, busybox))
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

/// An initramfs holding busybox and an `init` that mounts /proc and /sys,
/// says it is ready and starts a shell on the console.
fn initramfs(busybox: &[u8]) -> Vec<u8> {
    let init = "#!/bin/busybox sh\n/bin/busybox --install -s /bin\nmount -t proc proc /proc\nmount -t sysfs sys /sys\n\
                echo \"polyhart-shell-ready $((6*7))\"\nexec sh\n";
    cpio(&[
        ("bin", 0o040755, &[]),
        ("bin/busybox", 0o100755, busybox),
        ("proc", 0o040755, &[]),
        ("sys", 0o040755, &[]),
        ("dev", 0o040755, &[]),
        ("init", 0o100755, init.as_bytes()),
    ])
}

/// Boots `image` with `initrd` on `harts` harts and `engine`, types
/// commands at the shell, and returns the console output and exit status.
fn boot(image: &Path, initrd: &Path, harts: u32, engine: &str, reboot: bool) -> (String, Option<i32>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_polyhart"))
        .args(["run", "-M", "virt", "-nographic", "-m", "512M", "-smp", &harts.to_string(), "-bios", FW_JUMP])
        .arg("-kernel")
        .arg(image)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 quiet", "--engine", engine])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("polyhart starts");
    let mut stdin = child.stdin.take().expect("a piped stdin");
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
    let started = Instant::now();
    let wait_for = |text: &str| loop {
        let left = BOOT_LIMIT.saturating_sub(started.elapsed());
        match seen.recv_timeout(left) {
            Ok(line) if line.contains(text) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    };
    let ready = wait_for(READY);
    if ready {
        // The shell reads what is typed once it runs: type after the marker.
        let _ = stdin.write_all(b"echo typed-$((1+2)) on $(grep -c ^processor /proc/cpuinfo) harts\n");
        let _ = stdin.flush();
        let mut up = wait_for("typed-3");
        if up && reboot {
            // A reboot boots the same kernel and initramfs again.
            let _ = stdin.write_all(b"reboot -f\n");
            let _ = stdin.flush();
            up = wait_for(READY);
        }
        if up {
            let _ = stdin.write_all(b"poweroff -f\n");
            let _ = stdin.flush();
        }
    }
    let status = loop {
        match child.try_wait().expect("polyhart can be waited for") {
            Some(status) => break status.code(),
            None if started.elapsed() > BOOT_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    drop(stdin);
    (reader.join().expect("the reader thread ends with the output"), status)
}

#[test]
fn linux_boots_to_a_shell_that_runs_commands_and_powers_off() {
    let Some((image, busybox)) = guest_files() else { return };
    let initrd = std::env::temp_dir().join(format!("polyhart-initramfs-{}.cpio", std::process::id()));
    std::fs::write(&initrd, initramfs(&std::fs::read(busybox).expect("busybox is readable")))
        .expect("the initramfs is written");
    for (harts, engine, reboot) in [(1, "interp", false), (1, "jit", true), (4, "interp", true), (4, "jit", false)] {
        let (output, status) = boot(&image, &initrd, harts, engine, reboot);
        let what = format!("{harts} harts, {engine}");
        let boots = if reboot { 2 } else { 1 };
        assert_eq!(output.matches(READY).count(), boots, "{what}: shells started\n{output}");
        assert!(output.contains(&format!("typed-3 on {harts} harts")), "{what}: the typed command\n{output}");
        assert_eq!(status, Some(0), "{what}: power-off exits 0\n{output}");
    }
    let _ = std::fs::remove_file(initrd);
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
