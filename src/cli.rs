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
    /// Firmware loaded at the start of RAM: `none` (the default), a path, or
    /// `--bios` alone for Debian's OpenSBI (`fw_dynamic`, as QEMU's default).
    #[arg(long, value_name = "none|PATH", default_value = "none", num_args = 0..=1, default_missing_value = DEFAULT_FIRMWARE)]
    pub bios: String,
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
    /// Execution engine: `interp` (the interpreter alone) or `jit` (hot
    /// blocks compiled to host code with Cranelift).
    #[arg(long, value_name = "interp|jit", default_value = "interp", value_parser = ["interp", "jit"])]
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
}

impl RunArgs {
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
        assert_eq!(args.bios, "none");
        assert!(!args.deterministic);
    }

    #[test]
    fn bios_alone_means_debians_opensbi() {
        let cli = Cli::try_parse_from(["polyhart", "run", "--bios", "--kernel", "k.bin"]).expect("valid command line");
        let Command::Run(args) = cli.command;
        assert_eq!(args.bios, DEFAULT_FIRMWARE);
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
            let cli = Cli::try_parse_from(["polyhart", "run"].iter().chain(option)).expect("parses");
            let Command::Run(args) = cli.command;
            assert!(args.jit_option_without_jit().is_some(), "{option:?}");
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
        assert_eq!(args.bios, DEFAULT_FIRMWARE);
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
