//! Command-line parsing for the `polyhart` tool, kept apart from `main` so it
//! can be tested.

use std::ffi::OsString;
use std::ops::Range;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// polyhart: run RISC-V guests on an emulated board.
#[derive(Debug, Parser)]
#[command(name = "polyhart", version, about)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a guest on the virt board (QEMU's `-M virt` memory map and boot).
    Run(RunArgs),
}

/// Options of `polyhart run`, named after QEMU's where QEMU has one.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The kernel or bare-metal program: an ELF, or a raw binary.
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// Firmware loaded at the start of RAM: `none`, a path, or `--bios`
    /// alone for Debian's OpenSBI (`fw_dynamic`, QEMU's default). Without
    /// the option, a Linux kernel image gets Debian's OpenSBI, as on QEMU,
    /// and anything else none: a bare-metal program starts in M-mode.
    #[arg(long, value_name = "none|PATH", num_args = 0..=1, default_missing_value = DEFAULT_FIRMWARE)]
    pub bios: Option<String>,
    /// An initrd, loaded where QEMU's virt puts it (the kernel's address
    /// plus half of RAM, at most 128 MiB) and announced in the device tree.
    #[arg(long, value_name = "PATH")]
    pub initrd: Option<PathBuf>,
    /// Boot with this device tree blob instead of the generated one.
    #[arg(long, value_name = "PATH")]
    pub dtb: Option<PathBuf>,
    /// Write the device tree the harts would be handed to PATH and exit
    /// without running (QEMU's `-M virt,dumpdtb=PATH`).
    #[arg(long, value_name = "PATH")]
    pub dump_dtb: Option<PathBuf>,
    /// Exit when the guest asks for a reset instead of booting again
    /// (QEMU's `-no-reboot`).
    #[arg(long)]
    pub no_reboot: bool,
    /// Where the guest's serial console goes: `stdio` (the default: output
    /// to standard output, input from standard input), `file:PATH` (output
    /// to PATH, no input) or `none` (output dropped, no input), as QEMU's
    /// `-serial`.
    #[arg(long, value_name = "stdio|file:PATH|none", default_value = "stdio", value_parser = parse_serial)]
    pub serial: Serial,
    /// A disk image as a virtio-blk device, in QEMU's `-drive` spelling:
    /// `file=PATH[,format=raw][,readonly=on][,if=virtio|none][,id=NAME]`.
    /// A drive that a `--device virtio-blk-device,drive=NAME` names is that
    /// device; any other is a device of its own (with `if=none`, it is
    /// left out). May be given more than once.
    #[arg(long, value_name = "file=PATH[,...]", value_parser = parse_drive)]
    pub drive: Vec<Drive>,
    /// A virtio device, in QEMU's `-device` spelling:
    /// `virtio-blk-device,drive=NAME`, `virtio-rng-device` or
    /// `virtio-net-device,netdev=NAME[,mac=MAC]`. Devices take the board's
    /// eight virtio-mmio transports from the last (0x10008000) down, these
    /// first, then the `--drive`s no `--device` names, as on QEMU.
    #[arg(long, value_name = "DRIVER[,...]", value_parser = parse_device)]
    pub device: Vec<DeviceSpec>,
    /// A network backend for `virtio-net-device`, in QEMU's `-netdev`
    /// spelling: `socket,id=NAME,listen=[HOST]:PORT` or
    /// `socket,id=NAME,connect=HOST:PORT` (QEMU's framing, so a polyhart
    /// guest and a QEMU guest can share a wire).
    #[arg(long, value_name = "socket,id=NAME,...", value_parser = parse_netdev)]
    pub netdev: Vec<Netdev>,
    /// The board: only `virt` (accepted for QEMU's `-M virt`).
    #[arg(long, value_name = "NAME", default_value = "virt", value_parser = ["virt"])]
    pub machine: String,
    /// Number of harts.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub harts: usize,
    /// RAM size, with a K, M or G suffix; a bare number is bytes with
    /// `--ram` and MiB with `-m`, as QEMU's `-m`.
    #[arg(long, short = 'm', value_name = "SIZE", default_value = "128M", value_parser = parse_size)]
    pub ram: u64,
    /// Kernel command line, placed in the device tree's `/chosen/bootargs`.
    #[arg(long, value_name = "TEXT")]
    pub append: Option<String>,
    /// Print per-hart statistics to standard error at exit.
    #[arg(long)]
    pub stats: bool,
    /// Stop after the harts together retire this many instructions.
    #[arg(long, value_name = "N")]
    pub max_insns: Option<u64>,
    /// Quantum: cycles of simulated time harts run between synchronisations
    /// (no hart gets more than one quantum ahead of another); 0 lets them run
    /// free of each other, like QEMU's MTTCG (not with --deterministic).
    #[arg(long, value_name = "N", default_value_t = polyhart::machine::runner::DEFAULT_QUANTUM)]
    pub quantum: u64,
    /// Run all harts on one host thread, in turn, a quantum each: the same
    /// guest gives bit-identical output and instruction counts every run.
    /// Without it each hart has its own host thread.
    #[arg(long)]
    pub deterministic: bool,
    /// How simulated time passes while every hart waits for a timer:
    /// `real-time` (the default), at the host's pace as on QEMU, so sleeps
    /// and network timeouts last what they say; `skip`, at once to the
    /// timer, for the fastest run. `--deterministic` always skips.
    #[arg(long, value_name = "real-time|skip", default_value = "real-time", value_parser = ["real-time", "skip"])]
    pub idle: String,
    /// Execution engine: `jit` (hot blocks compiled to host code with
    /// Cranelift, cold ones interpreted) or `interp` (the interpreter alone).
    #[arg(long, value_name = "jit|interp", default_value = "jit", value_parser = ["jit", "interp"])]
    pub engine: String,
    /// With `--engine jit`: interpreted runs after which a block is compiled
    /// (0: every block at its first run).
    #[arg(long, value_name = "N", default_value_t = polyhart::iss::jit::DEFAULT_THRESHOLD)]
    pub jit_threshold: u32,
    /// With `--engine jit`: compile only blocks entered at a guest address
    /// in [LO, HI) (hex with 0x, or decimal), to bisect a miscompiled
    /// block; may be given more than once.
    #[arg(long, value_name = "LO-HI", value_parser = parse_range)]
    pub jit_range: Vec<Range<u64>>,
    /// With `--engine jit`: run each compiled block again in the
    /// interpreter and stop at the first difference (slow; for debugging
    /// the JIT).
    #[arg(long)]
    pub jit_lockstep: bool,
    /// With `--engine jit`: compile a hot block on the hart that found it
    /// and run the compiled code at once, instead of on the JIT's own
    /// thread while the hart goes on interpreting it.
    #[arg(long)]
    pub jit_sync: bool,
    /// With `--engine jit`: host code one generation of compiled code may
    /// hold (as QEMU's tb-size); a full generation is dropped, its blocks
    /// compiled again when hot and its memory freed once no hart runs it.
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    pub jit_code_limit: u64,
    /// Fault injection for testing --jit-lockstep: the compiled code of the
    /// instruction at this address adds one to its result.
    #[arg(long, value_name = "ADDR", value_parser = parse_address, hide = true)]
    pub jit_miscompile: Option<u64>,
    /// Log categories, comma-separated: in_asm (guest code as translated),
    /// out_asm (each compiled block: guest code and host code), exec (each
    /// block executed), int (traps and interrupts).
    #[arg(short = 'd', long = "log", value_name = "CATEGORIES", value_delimiter = ',', value_parser = ["in_asm", "out_asm", "exec", "int"])]
    pub log: Vec<String>,
    /// Write the log to this file instead of standard error (QEMU's `-D`).
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Serve GDB's remote protocol (QEMU's `-gdb`): `tcp::PORT` listens on
    /// localhost, `tcp:HOST:PORT` on HOST. GDB may connect at any time;
    /// the harts stop while it is attached and stopped.
    #[arg(long, value_name = "tcp::PORT", value_parser = parse_gdb)]
    pub gdb: Option<String>,
    /// Shorthand for `--gdb tcp::1234` (QEMU's `-s`).
    #[arg(short = 's')]
    pub gdb_default_port: bool,
    /// Hold the harts at their first instruction until GDB connects and
    /// continues them (QEMU's `-S`); needs `--gdb` or `-s`.
    #[arg(short = 'S')]
    pub wait_for_gdb: bool,
    /// With `--deterministic`: write the console input the guest gets, with
    /// the simulated time of each delivery, to PATH, for `--replay`.
    #[arg(long, value_name = "PATH", conflicts_with = "replay")]
    pub record: Option<PathBuf>,
    /// With `--deterministic`: give the guest the console input PATH
    /// recorded, at the same simulated times, instead of standard input:
    /// the run repeats the recorded one bit for bit.
    #[arg(long, value_name = "PATH")]
    pub replay: Option<PathBuf>,
    /// Save the whole machine to PATH when the run ends (the guest powers
    /// off, `--max-insns`, Ctrl-A x), or, with `--snapshot-when`, when the
    /// guest prints the marker. `--snapshot-load PATH` continues it.
    #[arg(long, value_name = "PATH")]
    pub snapshot_save: Option<PathBuf>,
    /// With `--snapshot-save`: stop and save as soon as the guest's console
    /// output contains TEXT (a line its init prints once booted, say), then
    /// exit with status 0.
    #[arg(long, value_name = "TEXT", requires = "snapshot_save")]
    pub snapshot_when: Option<String>,
    /// Instrument the run with a plugin: NAME is a bundled one (insn,
    /// hotblocks, mem, cache) or the path of a shared library built against
    /// polyhart-plugin.h, followed by its arguments as key=value
    /// (`--plugin cache,dcachesize=32K,out=cache.txt`). Repeat for several.
    /// Each reports when the run ends.
    #[arg(long, value_name = "NAME|PATH.so[,key=value...]")]
    pub plugin: Vec<String>,
    /// Time the guest with a model of a real in-order core instead of one
    /// cycle per instruction: mcycle, time and the timer interrupts follow
    /// its estimate (class latencies, dependency stalls, branch
    /// prediction, caches, TLBs). MODEL is `u54` (SiFive U54); any of its
    /// figures can be changed (`--timing u54,mispredict=4,dcachesize=16K`),
    /// and `out=PATH` takes its report. Runs in the interpreter;
    /// `--fast-forward` reaches the code of interest at full speed first.
    #[arg(long, value_name = "MODEL[,key=value...]")]
    pub timing: Option<String>,
    /// Reach the part of the run that matters at full speed: run without
    /// the plugins and the timing model for N instructions (all harts together), or until a hart
    /// executes the marker instruction `slti zero, zero, 1` (`marker`; a
    /// HINT with no effect on any RISC-V core), then switch them on. The
    /// guest's state is untouched by the switch.
    #[arg(long, value_name = "N|marker", value_parser = parse_fast_forward)]
    pub fast_forward: Option<FastForward>,
    /// Restore the machine `--snapshot-save` saved, and run on from there.
    /// The rest of the command line must build the same machine (the same
    /// -smp, -m, images and devices; the disks are yours to keep as they
    /// were), as QEMU's -loadvm asks.
    #[arg(long, value_name = "PATH")]
    pub snapshot_load: Option<PathBuf>,
}

impl RunArgs {
    /// Where the GDB stub listens, if it is on.
    pub(crate) fn gdb_address(&self) -> Option<String> {
        self.gdb.clone().or_else(|| self.gdb_default_port.then(|| "127.0.0.1:1234".to_string()))
    }

    /// The first option given that only means something with `--engine
    /// jit`, when the engine is not the JIT.
    pub(crate) fn jit_option_without_jit(&self) -> Option<&'static str> {
        if self.engine == "jit" {
            return None;
        }
        [
            ("--jit-range", !self.jit_range.is_empty()),
            ("--jit-lockstep", self.jit_lockstep),
            ("--jit-code-limit", self.jit_code_limit != polyhart::iss::jit::DEFAULT_CODE_LIMIT),
            ("--jit-miscompile", self.jit_miscompile.is_some()),
            ("-d out_asm", self.log.iter().any(|category| category == "out_asm")),
        ]
        .into_iter()
        .find_map(|(option, given)| given.then_some(option))
    }
}

/// The firmware `--bios` with no value loads: Debian's OpenSBI (package
/// `opensbi`), the generic platform's `fw_dynamic`, which QEMU also loads by
/// default and which reads the next stage from the reset ROM's `a2`.
pub(crate) const DEFAULT_FIRMWARE: &str = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin";

/// Rewrites QEMU's single-dash spelling of `qemu-system-riscv64` options into
/// the long options clap parses, so that a QEMU command line runs with
/// `qemu-system-riscv64 -M virt` replaced by `polyhart run`: `-kernel`,
/// `-bios`, `-initrd`, `-dtb`, `-append`, `-D` become their long forms,
/// `-smp [cpus=]N` becomes `--harts N`, `-m [size=]SIZE` becomes `--ram SIZE`
/// (a bare number in MiB, as QEMU reads it), `-M`/`-machine virt[,dumpdtb=F]`
/// becomes `--machine virt [--dump-dtb F]` and `-nographic` goes (the
/// console is on standard I/O already). The value after one of these is
/// taken as is; everything else is left for clap to parse or reject.
pub(crate) fn qemu_spelling(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args = args.into_iter();
    let mut out = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(args.by_ref());
            break;
        }
        let Some(option) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        let long = match option {
            "-kernel" => "--kernel",
            "-bios" => "--bios",
            "-initrd" => "--initrd",
            "-dtb" => "--dtb",
            "-append" => "--append",
            "-smp" => "--harts",
            "-m" => "--ram",
            "-M" | "-machine" => "--machine",
            "-D" => "--log-file",
            "-serial" => "--serial",
            "-drive" => "--drive",
            "-device" => "--device",
            "-netdev" => "--netdev",
            "-gdb" => "--gdb",
            "-no-reboot" => {
                out.push("--no-reboot".into());
                continue;
            }
            "-nographic" => continue,
            _ => {
                out.push(arg);
                continue;
            }
        };
        out.push(long.into());
        let Some(value) = args.next() else { break };
        let Some(text) = value.to_str() else {
            out.push(value);
            continue;
        };
        match option {
            "-bios" if text == "default" => out.push(DEFAULT_FIRMWARE.into()),
            "-smp" => out.push(text.strip_prefix("cpus=").unwrap_or(text).into()),
            "-m" => {
                let size = text.strip_prefix("size=").unwrap_or(text);
                let bare_number = !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit());
                out.push(if bare_number { format!("{size}M") } else { size.to_string() }.into());
            }
            "-M" | "-machine" => {
                let mut name = Vec::new();
                let mut dump = None;
                for part in text.split(',') {
                    match part.strip_prefix("dumpdtb=") {
                        Some(path) => dump = Some(path),
                        None => name.push(part.strip_prefix("type=").unwrap_or(part)),
                    }
                }
                out.push(name.join(",").into());
                if let Some(path) = dump {
                    out.extend(["--dump-dtb".into(), path.into()]);
                }
            }
            _ => out.push(value),
        }
    }
    out
}

/// Parses a guest address: hex with `0x`, or decimal.
pub(crate) fn parse_address(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let parsed = match trimmed.strip_prefix("0x").or_else(|| trimmed.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => trimmed.replace('_', "").parse(),
    };
    parsed.map_err(|_| format!("'{text}' is not an address (try 0x80000000)"))
}

/// Parses an address range `LO-HI` (`HI` excluded), such as
/// `0x80000000-0x80001000`.
pub(crate) fn parse_range(text: &str) -> Result<Range<u64>, String> {
    let (low, high) =
        text.split_once('-').ok_or_else(|| format!("'{text}' is not a range LO-HI (try 0x80000000-0x80001000)"))?;
    let range = parse_address(low)?..parse_address(high)?;
    if range.is_empty() {
        return Err(format!("'{text}' is empty: LO must be below HI"));
    }
    Ok(range)
}

/// How far `--fast-forward` runs before the plugins go on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum FastForward {
    /// This many instructions, all harts together.
    Instructions(u64),
    /// Until a hart executes the marker instruction.
    Marker,
}

fn parse_fast_forward(text: &str) -> Result<FastForward, String> {
    if text == "marker" {
        return Ok(FastForward::Marker);
    }
    text.parse()
        .map(FastForward::Instructions)
        .map_err(|_| format!("'{text}' is neither a number of instructions nor `marker`"))
}

/// Where the guest's serial console goes (see [`RunArgs::serial`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Serial {
    /// Standard output and input.
    Stdio,
    /// Output to a file (created, or truncated), no input.
    File(PathBuf),
    /// Output dropped, no input.
    None,
}

/// A disk image given with `--drive`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Drive {
    /// The raw image.
    pub file: PathBuf,
    /// Whether the guest may only read it.
    pub read_only: bool,
    /// The name `--device virtio-blk-device,drive=NAME` refers to it by.
    pub id: Option<String>,
    /// `Some(true)` (`if=virtio`): a virtio-blk device of its own;
    /// `Some(false)` (`if=none`): only through a `--device`; `None`: through
    /// a `--device` that names it, else a device of its own.
    pub attach: Option<bool>,
}

/// A device given with `--device`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DeviceSpec {
    /// `virtio-blk-device,drive=NAME`.
    Block {
        /// The `--drive` it serves.
        drive: String,
    },
    /// `virtio-rng-device`.
    Rng,
    /// `virtio-net-device,netdev=NAME[,mac=MAC]`.
    Net {
        /// The `--netdev` it is wired to.
        netdev: String,
        /// Its MAC address, if given.
        mac: Option<[u8; 6]>,
    },
}

/// A network backend given with `--netdev`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Netdev {
    /// Its name.
    pub id: String,
    /// Whether it waits for a peer on the address or reaches one there.
    pub listen: bool,
    /// `HOST:PORT` (an empty host listens on every address).
    pub address: String,
}

/// A QEMU option string split up: its leading bare word (a driver name),
/// if any, and its `key=value` pairs.
type QemuOptions = (Option<String>, Vec<(String, String)>);

/// Splits a QEMU option string (`driver,key=value,...`; `,,` is a comma
/// inside a value).
fn qemu_options(text: &str) -> Result<QemuOptions, String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ',' if chars.peek() == Some(&',') => {
                chars.next();
                current.push(',');
            }
            ',' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    let mut bare = None;
    let mut pairs = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        match part.split_once('=') {
            Some((key, value)) => pairs.push((key.to_string(), value.to_string())),
            None if i == 0 && !part.is_empty() => bare = Some(part),
            None => return Err(format!("'{part}' in '{text}' is not KEY=VALUE")),
        }
    }
    Ok((bare, pairs))
}

/// Parses QEMU's on/off spellings.
fn parse_switch(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "on" | "yes" | "true" => Ok(true),
        "off" | "no" | "false" => Ok(false),
        _ => Err(format!("{key}={value}: use on or off")),
    }
}

/// Parses `--drive`.
pub(crate) fn parse_drive(text: &str) -> Result<Drive, String> {
    let (bare, pairs) = qemu_options(text)?;
    if let Some(word) = bare {
        return Err(format!("'{word}' in '{text}' is not KEY=VALUE (try file={word})"));
    }
    let mut drive = Drive { file: PathBuf::new(), read_only: false, id: None, attach: None };
    for (key, value) in pairs {
        match key.as_str() {
            "file" => drive.file = PathBuf::from(value),
            "format" if value == "raw" => {}
            "format" => return Err(format!("format={value}: polyhart reads raw images only")),
            "readonly" => drive.read_only = parse_switch(&key, &value)?,
            "if" if value == "virtio" => drive.attach = Some(true),
            "if" if value == "none" => drive.attach = Some(false),
            "if" => return Err(format!("if={value}: the virt board has virtio disks only (if=virtio or if=none)")),
            "id" => drive.id = Some(value),
            "media" if value == "disk" => {}
            _ => {
                return Err(format!(
                    "{key}={value}: not a --drive option polyhart has (file, format, readonly, if, id)"
                ));
            }
        }
    }
    if drive.file.as_os_str().is_empty() {
        return Err(format!("'{text}' names no image: give file=PATH"));
    }
    Ok(drive)
}

/// Parses `--device`.
pub(crate) fn parse_device(text: &str) -> Result<DeviceSpec, String> {
    let (driver, pairs) = qemu_options(text)?;
    let driver = driver.ok_or_else(|| format!("'{text}' names no device (try virtio-rng-device)"))?;
    if let Some(mmio) = driver.strip_suffix("-pci") {
        return Err(format!("{driver}: the virt board here has no PCI bus; use the virtio-mmio form ({mmio}-device)"));
    }
    let mut drive = None;
    let mut netdev = None;
    let mut mac = None;
    for (key, value) in pairs {
        match (driver.as_str(), key.as_str()) {
            ("virtio-blk-device", "drive") => drive = Some(value),
            ("virtio-net-device", "netdev") => netdev = Some(value),
            ("virtio-net-device", "mac") => mac = Some(parse_mac(&value)?),
            _ => return Err(format!("{key}={value}: not an option of {driver}")),
        }
    }
    match driver.as_str() {
        "virtio-blk-device" => {
            Ok(DeviceSpec::Block { drive: drive.ok_or("virtio-blk-device needs drive=NAME, the id of a --drive")? })
        }
        "virtio-rng-device" => Ok(DeviceSpec::Rng),
        "virtio-net-device" => Ok(DeviceSpec::Net {
            netdev: netdev.ok_or("virtio-net-device needs netdev=NAME, the id of a --netdev")?,
            mac,
        }),
        other => Err(format!("{other}: polyhart has virtio-blk-device, virtio-rng-device and virtio-net-device")),
    }
}

/// Parses a MAC address such as `52:54:00:12:34:56`.
fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let bytes: Vec<u8> =
        text.split(':').filter_map(|b| u8::from_str_radix(b, 16).ok().filter(|_| b.len() == 2)).collect();
    bytes.try_into().map_err(|_| format!("'{text}' is not a MAC address (try 52:54:00:12:34:56)"))
}

/// Parses `--netdev`.
pub(crate) fn parse_netdev(text: &str) -> Result<Netdev, String> {
    let (kind, pairs) = qemu_options(text)?;
    match kind.as_deref() {
        Some("socket") => {}
        Some("user") => return Err("netdev user: polyhart has no user-mode network; use socket".to_string()),
        _ => return Err(format!("'{text}': polyhart's network backend is socket (socket,id=NAME,listen=:PORT)")),
    }
    let mut id = None;
    let mut endpoint = None;
    for (key, value) in pairs {
        match key.as_str() {
            "id" => id = Some(value),
            "listen" | "connect" if endpoint.is_none() => endpoint = Some((key == "listen", value)),
            "listen" | "connect" => return Err("give one of listen= and connect=".to_string()),
            _ => return Err(format!("{key}={value}: a socket netdev takes id, listen and connect")),
        }
    }
    let id = id.ok_or("a netdev needs id=NAME")?;
    let (listen, address) = endpoint.ok_or("a socket netdev needs listen=[HOST]:PORT or connect=HOST:PORT")?;
    if !address.contains(':') {
        return Err(format!("'{address}' is not HOST:PORT"));
    }
    Ok(Netdev { id, listen, address })
}

/// Parses QEMU's `-gdb` forms that polyhart has: `tcp::PORT` (localhost),
/// `tcp:HOST:PORT`, or a bare port; the address to listen on.
pub(crate) fn parse_gdb(text: &str) -> Result<String, String> {
    let address = text.strip_prefix("tcp:").unwrap_or(text);
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, port),
        None if !text.starts_with("tcp:") => ("", address),
        None => return Err(format!("'{text}' is not tcp::PORT or tcp:HOST:PORT")),
    };
    let port: u16 = port.parse().map_err(|_| format!("'{text}': '{port}' is not a TCP port (try tcp::1234)"))?;
    // Only an explicit host opens the stub beyond this machine.
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    Ok(format!("{host}:{port}"))
}

/// Parses QEMU's `-serial` forms that polyhart has.
pub(crate) fn parse_serial(text: &str) -> Result<Serial, String> {
    match text {
        "stdio" | "mon:stdio" => Ok(Serial::Stdio),
        "none" | "null" => Ok(Serial::None),
        _ => match text.strip_prefix("file:") {
            Some(path) if !path.is_empty() => Ok(Serial::File(PathBuf::from(path))),
            _ => Err(format!("'{text}' is not stdio, file:PATH or none")),
        },
    }
}

/// Parses a size such as `128M`, `1G`, `65536` or `512KiB`.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits_end = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (digits, suffix) = trimmed.split_at(digits_end);
    let number: u64 = digits.parse().map_err(|_| format!("'{text}' is not a size (try 128M or 1G)"))?;
    let shift = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("'{text}' has an unknown size suffix '{suffix}' (use K, M or G)")),
    };
    number.checked_mul(1 << shift).ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_suffixes() {
        assert_eq!(parse_size("128M"), Ok(128 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
    }

    #[test]
    fn gdb_endpoints_in_qemus_spelling_listen_on_localhost_unless_a_host_is_given() {
        assert_eq!(parse_gdb("tcp::1234"), Ok("127.0.0.1:1234".to_string()));
        assert_eq!(parse_gdb("tcp:0.0.0.0:4000"), Ok("0.0.0.0:4000".to_string()));
        assert_eq!(parse_gdb("5555"), Ok("127.0.0.1:5555".to_string()));
        assert!(parse_gdb("tcp::99999").is_err() && parse_gdb("tcp:1234").is_err() && parse_gdb("unix:x").is_err());
        let parsed = Cli::try_parse_from(qemu_spelling(
            ["polyhart", "run", "-gdb", "tcp::2345", "-S", "-kernel", "k"].map(OsString::from),
        ))
        .expect("parses");
        let Command::Run(args) = parsed.command;
        assert_eq!(args.gdb_address().as_deref(), Some("127.0.0.1:2345"));
        assert!(args.wait_for_gdb);
        let Command::Run(args) = Cli::try_parse_from(["polyhart", "run", "-s"]).expect("parses").command;
        assert_eq!(args.gdb_address().as_deref(), Some("127.0.0.1:1234"));
    }

    #[test]
    fn drives_devices_and_netdevs_in_qemus_spelling() {
        let drive = parse_drive("file=disk,,1.img,format=raw,readonly=on,if=none,id=hd0").expect("a drive");
        assert_eq!(
            drive,
            Drive { file: "disk,1.img".into(), read_only: true, id: Some("hd0".into()), attach: Some(false) }
        );
        assert_eq!(parse_drive("file=d.img").expect("a drive").attach, None);
        assert!(parse_drive("file=d.qcow2,format=qcow2").unwrap_err().contains("raw images only"));
        assert!(parse_drive("format=raw").unwrap_err().contains("file=PATH"));
        assert!(parse_drive("d.img").unwrap_err().contains("try file=d.img"));
        assert!(parse_drive("file=d.img,if=ide").is_err() && parse_drive("file=d.img,cache=none").is_err());

        assert_eq!(parse_device("virtio-blk-device,drive=hd0"), Ok(DeviceSpec::Block { drive: "hd0".into() }));
        assert_eq!(parse_device("virtio-rng-device"), Ok(DeviceSpec::Rng));
        assert_eq!(
            parse_device("virtio-net-device,netdev=n0,mac=52:54:00:12:34:56"),
            Ok(DeviceSpec::Net { netdev: "n0".into(), mac: Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]) })
        );
        assert!(parse_device("virtio-blk-pci,drive=hd0").unwrap_err().contains("no PCI"));
        assert!(parse_device("virtio-blk-device").is_err() && parse_device("e1000").is_err());
        assert!(parse_device("virtio-net-device,netdev=n0,mac=52:54").is_err());

        assert_eq!(
            parse_netdev("socket,id=n0,listen=:1234"),
            Ok(Netdev { id: "n0".into(), listen: true, address: ":1234".into() })
        );
        assert!(!parse_netdev("socket,id=n0,connect=127.0.0.1:1234").expect("a netdev").listen);
        assert!(parse_netdev("user,id=n0").unwrap_err().contains("socket"));
        assert!(parse_netdev("socket,listen=:1").is_err() && parse_netdev("socket,id=n").is_err());

        let line = "polyhart run -drive file=d.img,if=none,id=hd0 -device virtio-blk-device,drive=hd0 \
                    -netdev socket,id=n0,listen=:5555 -device virtio-net-device,netdev=n0";
        let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
        let Command::Run(args) = Cli::try_parse_from(qemu_spelling(args)).expect("a QEMU line").command;
        assert_eq!((args.drive.len(), args.device.len(), args.netdev.len()), (1, 2, 1));
    }

    #[test]
    fn sizes_that_are_not_sizes() {
        assert!(parse_size("lots").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999T").is_err());
        assert!(parse_size("-1M").is_err());
    }

    #[test]
    fn run_options_parse_like_qemu() {
        let cli = Cli::try_parse_from([
            "polyhart",
            "run",
            "--kernel",
            "k.elf",
            "--harts",
            "4",
            "-m",
            "256M",
            "-d",
            "in_asm,int",
        ])
        .expect("valid command line");
        let Command::Run(args) = cli.command;
        assert_eq!(args.harts, 4);
        assert_eq!(args.ram, 256 << 20);
        assert_eq!(args.log, ["in_asm", "int"]);
        assert_eq!(args.bios, None);
        assert!(!args.deterministic);
    }

    #[test]
    fn bios_alone_means_debians_opensbi() {
        let cli = Cli::try_parse_from(["polyhart", "run", "--bios", "--kernel", "k.bin"]).expect("valid command line");
        let Command::Run(args) = cli.command;
        assert_eq!(args.bios.as_deref(), Some(DEFAULT_FIRMWARE));
        assert_eq!(args.kernel.as_deref(), Some(std::path::Path::new("k.bin")));
    }

    #[test]
    fn addresses_and_ranges() {
        assert_eq!(parse_address("0x8000_1000"), Ok(0x8000_1000));
        assert_eq!(parse_address("4096"), Ok(4096));
        assert_eq!(parse_range("0x80000000-0x80001000"), Ok(0x8000_0000..0x8000_1000));
        assert_eq!(parse_range("16-0x20"), Ok(16..32));
        for bad in ["0x1000", "0x2000-0x1000", "0x1000-0x1000", "zz-0x10", "0x10-", "-0x10", "0x10-0x20-0x30"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
        let cli = Cli::try_parse_from([
            "polyhart",
            "run",
            "--engine",
            "jit",
            "--jit-range",
            "0x80000000-0x80000100",
            "--jit-range",
            "0x80002000-0x80003000",
            "--jit-lockstep",
            "-d",
            "out_asm",
        ])
        .expect("valid command line");
        let Command::Run(args) = cli.command;
        assert_eq!(args.jit_range, [0x8000_0000..0x8000_0100, 0x8000_2000..0x8000_3000]);
        assert!(args.jit_lockstep);
        assert_eq!(args.jit_option_without_jit(), None);
    }

    #[test]
    fn jit_options_need_the_jit() {
        for option in [&["--jit-range", "0-16"][..], &["--jit-lockstep"], &["-d", "in_asm,out_asm"]] {
            let interp = ["polyhart", "run", "--engine", "interp"];
            let cli = Cli::try_parse_from(interp.iter().chain(option)).expect("parses");
            let Command::Run(args) = cli.command;
            assert!(args.jit_option_without_jit().is_some(), "{option:?}");
            // The JIT is the default engine.
            let cli = Cli::try_parse_from(["polyhart", "run"].iter().chain(option)).expect("parses");
            let Command::Run(args) = cli.command;
            assert_eq!(args.jit_option_without_jit(), None, "{option:?}");
        }
        let cli = Cli::try_parse_from(["polyhart", "run", "-d", "in_asm"]).expect("parses");
        let Command::Run(args) = cli.command;
        assert_eq!(args.jit_option_without_jit(), None);
    }

    #[test]
    fn unknown_options_and_categories_are_rejected() {
        assert!(Cli::try_parse_from(["polyhart", "run", "--frobnicate"]).is_err());
        assert!(Cli::try_parse_from(["polyhart", "run", "-d", "everything"]).is_err());
        assert!(Cli::try_parse_from(["polyhart", "run", "--ram", "big"]).is_err());
    }

    fn qemu(args: &[&str]) -> Vec<String> {
        let os = args.iter().map(OsString::from);
        qemu_spelling(os).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn qemu_spelling_becomes_long_options() {
        let line = "polyhart run -M virt -nographic -smp 2 -m 256M -bios none -kernel k.elf -initrd rd -dtb t.dtb \
                    -append console=ttyS0 -d int -D log.txt";
        assert_eq!(
            qemu(&line.split_whitespace().collect::<Vec<_>>()),
            [
                "polyhart",
                "run",
                "--machine",
                "virt",
                "--harts",
                "2",
                "--ram",
                "256M",
                "--bios",
                "none",
                "--kernel",
                "k.elf",
                "--initrd",
                "rd",
                "--dtb",
                "t.dtb",
                "--append",
                "console=ttyS0",
                "-d",
                "int",
                "--log-file",
                "log.txt"
            ]
        );
        assert_eq!(
            qemu(&["-smp", "cpus=4", "-m", "size=1G", "-m", "512"]),
            ["--harts", "4", "--ram", "1G", "--ram", "512M"]
        );
        assert_eq!(
            qemu(&["-machine", "virt,dumpdtb=q.dtb", "-M", "type=virt"]),
            ["--machine", "virt", "--dump-dtb", "q.dtb", "--machine", "virt"]
        );
        assert_eq!(qemu(&["-bios", "default"]), ["--bios", DEFAULT_FIRMWARE]);
        // Values are taken as they are, even when they look like options.
        assert_eq!(qemu(&["-append", "-kernel", "-kernel", "-m"]), ["--append", "-kernel", "--kernel", "-m"]);
        // Everything else is clap's to parse or reject.
        for untouched in [&["--kernel", "k", "-d", "in_asm", "--harts", "2"][..], &["-vga", "std"], &["--", "-smp"]] {
            assert_eq!(qemu(untouched), untouched, "{untouched:?}");
        }
        assert_eq!(qemu(&["-kernel"]), ["--kernel"], "a missing value is clap's to report");
    }

    #[test]
    fn a_qemu_command_line_parses() {
        let line = "polyhart run -M virt -nographic -smp cpus=2 -m 512 -bios default -kernel Image -initrd rootfs.cpio \
                    -append root=/dev/ram -D qemu.log";
        let cli = Cli::try_parse_from(qemu_spelling(line.split_whitespace().map(OsString::from))).expect("parses");
        let Command::Run(args) = cli.command;
        assert_eq!(args.harts, 2);
        assert_eq!(args.ram, 512 << 20);
        assert_eq!(args.bios.as_deref(), Some(DEFAULT_FIRMWARE));
        assert_eq!(args.initrd.as_deref(), Some(std::path::Path::new("rootfs.cpio")));
        assert_eq!(args.append.as_deref(), Some("root=/dev/ram"));
        assert_eq!(args.log_file.as_deref(), Some(std::path::Path::new("qemu.log")));
        assert_eq!(args.machine, "virt");
        for other in [&["-M", "sifive_u"][..], &["-machine", "virt,aclint=on"], &["-smp", "sockets=2"], &["-m", "lots"]]
        {
            let line = ["polyhart", "run"].iter().chain(other).map(OsString::from);
            assert!(Cli::try_parse_from(qemu_spelling(line)).is_err(), "{other:?}");
        }
    }

    #[test]
    fn serial_forms_are_qemus() {
        assert_eq!(parse_serial("stdio"), Ok(Serial::Stdio));
        assert_eq!(parse_serial("mon:stdio"), Ok(Serial::Stdio));
        assert_eq!(parse_serial("none"), Ok(Serial::None));
        assert_eq!(parse_serial("file:/tmp/out.txt"), Ok(Serial::File(PathBuf::from("/tmp/out.txt"))));
        for bad in ["file:", "tcp::4444", "pty", ""] {
            assert!(parse_serial(bad).is_err(), "{bad}");
        }
        let line = ["polyhart", "run", "-serial", "file:log.txt", "-kernel", "k"];
        let cli = Cli::try_parse_from(qemu_spelling(line.map(OsString::from))).expect("parses");
        let Command::Run(args) = cli.command;
        assert_eq!(args.serial, Serial::File(PathBuf::from("log.txt")));
    }
}
