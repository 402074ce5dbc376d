//! The `polyhart` command-line tool.

mod cli;
mod terminal;

use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{CommandFactory, Parser};
use polyhart::machine::devices::virtio::{Block, Entropy, Net, NetBackend, Rng, VirtioDevice};
use polyhart::machine::devices::{InterruptLine, RtcClock, Uart};
use polyhart::machine::gdb::Debugger;
use polyhart::machine::replay::ConsoleInput;
use polyhart::machine::runner::{IdleTime, Scheduling, UNBOUNDED_QUANTUM};
use polyhart::machine::{Engine, JitConfig, Machine, plugins};
use polyhart::machine::{Snapshot, StopReason, StopSignal, VirtConfig, build_virt};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use cli::{Cli, Command, DeviceSpec, Drive, FastForward, RunArgs, Serial};
use terminal::{Escapes, KeyCommand, RawMode};

/// Exit status when the instruction limit stops the guest (as `timeout` does).
const STATUS_LIMIT: u8 = 124;
/// Exit status when the guest can make no progress (trap loop, deadlock).
const STATUS_STUCK: u8 = 125;
/// Exit status for host-side failures: unreadable or invalid images, and
/// code the JIT got wrong (`--jit-lockstep`).
const STATUS_ERROR: u8 = 1;

fn main() -> ExitCode {
    let cli = Cli::parse_from(cli::qemu_spelling(std::env::args_os()));
    let Command::Run(args) = &cli.command;
    if let Some(option) = args.jit_option_without_jit() {
        Cli::command()
            .error(clap::error::ErrorKind::ArgumentConflict, format!("{option} needs the JIT, not --engine interp"))
            .exit();
    }
    match cli.command {
        Command::Run(args) => match run(&args) {
            Ok(status) => ExitCode::from(status),
            Err(message) => {
                eprintln!("polyhart: {message}");
                ExitCode::from(STATUS_ERROR)
            }
        },
    }
}

fn init_logging(categories: &[String], file: Option<&std::path::Path>) -> Result<(), String> {
    let mut filter =
        tracing_subscriber::EnvFilter::builder().with_default_directive(tracing::Level::WARN.into()).from_env_lossy();
    for category in categories {
        if let Ok(directive) = format!("{category}=trace").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let (writer, ansi) = match file {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| format!("cannot create the log file '{}': {e}", path.display()))?;
            (BoxMakeWriter::new(std::sync::Mutex::new(file)), false)
        }
        None => (BoxMakeWriter::new(std::io::stderr), std::io::stderr().is_terminal()),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(true)
        .without_time()
        .init();
    Ok(())
}

/// Guest console output on its way to the host, watched for the text of
/// `--snapshot-when`: the first time the guest prints it, the machine is
/// asked to stop (with [`StopReason::Stopped`]) so that it can be saved.
struct MarkerWatch {
    out: Box<dyn std::io::Write + Send>,
    marker: Vec<u8>,
    /// The last bytes seen, fewer than the marker's length.
    tail: Vec<u8>,
    /// The machine's stop signal, once it is built.
    stop: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<StopSignal>>>,
    seen: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::io::Write for MarkerWatch {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.out.write_all(bytes)?;
        if !self.seen.load(std::sync::atomic::Ordering::Acquire) {
            self.tail.extend_from_slice(bytes);
            if self.tail.windows(self.marker.len()).any(|window| window == self.marker) {
                self.seen.store(true, std::sync::atomic::Ordering::Release);
                if let Some(stop) = self.stop.get() {
                    stop.request(StopReason::Stopped);
                }
            }
            let keep = self.marker.len().saturating_sub(1);
            let drop = self.tail.len().saturating_sub(keep);
            self.tail.drain(..drop);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Where standard input goes: the guest's UART, or the recording of a
/// `--record` run, which hands it to the UART at deterministic points.
enum ConsoleFeed<L: InterruptLine> {
    Uart(std::sync::Arc<Uart<L>>),
    Record(std::sync::Arc<ConsoleInput>),
}

impl<L: InterruptLine> ConsoleFeed<L> {
    fn receive(&self, bytes: &[u8]) {
        match self {
            ConsoleFeed::Uart(uart) => uart.receive(bytes),
            ConsoleFeed::Record(input) => input.push(bytes),
        }
    }

    fn close(&self) {
        match self {
            ConsoleFeed::Uart(uart) => uart.set_input_open(false),
            ConsoleFeed::Record(input) => input.close(),
        }
    }
}

/// Feeds standard input to the guest until input ends, or until Ctrl-A x
/// when `escapes` interprets QEMU's escape keys (a terminal).
fn feed_console<L: InterruptLine>(feed: &ConsoleFeed<L>, stop: &StopSignal, mut escapes: Option<Escapes>) {
    let mut buf = [0u8; 256];
    let mut guest = Vec::with_capacity(buf.len());
    let mut stdin = std::io::stdin();
    while let Ok(n @ 1..) = stdin.read(&mut buf) {
        let Some(escapes) = escapes.as_mut() else {
            feed.receive(&buf[..n]);
            continue;
        };
        guest.clear();
        let commands = escapes.feed(&buf[..n], &mut guest);
        feed.receive(&guest);
        for command in commands {
            match command {
                KeyCommand::Help => eprint!("{}", terminal::HELP),
                KeyCommand::Quit => {
                    eprint!("\r\npolyhart: terminated (C-a x)\r\n");
                    stop.request(StopReason::Stopped);
                    return;
                }
            }
        }
    }
    feed.close();
}

/// Whether `image` is a RISC-V Linux kernel image: its header's second
/// magic, "RSC\x05", at byte 0x38 (Linux's `Documentation/arch/riscv/boot-image-header.rst`).
fn is_linux_image(image: &[u8]) -> bool {
    image.get(0x38..0x3c) == Some(b"RSC\x05")
}

fn read_image(what: &str, path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} '{}': {e}", path.display()))
}

/// The seed of virtio-rng under `--deterministic`.
const RNG_SEED: u64 = 0x706f_6c79_6861_7274;

/// The virtio devices `--device` and `--drive` ask for, in the order they
/// take the board's transports: the `--device`s, then the drives no
/// device names (unless `if=none`).
fn virtio_devices(args: &RunArgs) -> Result<Vec<Box<dyn VirtioDevice>>, String> {
    let mut used = vec![false; args.drive.len()];
    let open = |drive: &Drive| -> Result<Box<dyn VirtioDevice>, String> {
        Ok(Box::new(Block::open(&drive.file, drive.read_only).map_err(|e| e.to_string())?))
    };
    let mut devices: Vec<Box<dyn VirtioDevice>> = Vec::new();
    let mut cards = 0u8;
    for device in &args.device {
        match device {
            DeviceSpec::Block { drive: name } => {
                let index = args
                    .drive
                    .iter()
                    .position(|d| d.id.as_deref() == Some(name))
                    .ok_or_else(|| format!("virtio-blk-device: no --drive has id={name}"))?;
                if std::mem::replace(&mut used[index], true) || args.drive[index].attach == Some(true) {
                    return Err(format!("the drive {name} is already in use: give it if=none, and to one device"));
                }
                devices.push(open(&args.drive[index])?);
            }
            DeviceSpec::Rng => {
                let entropy = if args.deterministic {
                    Entropy::Seeded(RNG_SEED)
                } else {
                    Entropy::host().map_err(|e| format!("virtio-rng-device: cannot open /dev/urandom: {e}"))?
                };
                devices.push(Box::new(Rng::new(entropy)));
            }
            DeviceSpec::Net { netdev: name, mac } => {
                let netdev = args
                    .netdev
                    .iter()
                    .find(|n| &n.id == name)
                    .ok_or_else(|| format!("virtio-net-device: no --netdev has id={name}"))?;
                let backend = if netdev.listen {
                    NetBackend::Listen(netdev.address.clone())
                } else {
                    NetBackend::Connect(netdev.address.clone())
                };
                // QEMU's default addresses: 52:54:00:12:34:56, then :57...
                let mac = mac.unwrap_or([0x52, 0x54, 0, 0x12, 0x34, 0x56u8.wrapping_add(cards)]);
                cards += 1;
                devices.push(Box::new(Net::new(mac, &backend).map_err(|e| format!("netdev {name}: {e}"))?));
            }
        }
    }
    for (drive, used) in args.drive.iter().zip(&used) {
        if *used {
            continue;
        }
        if drive.attach != Some(false) {
            devices.push(open(drive)?);
        } else {
            eprintln!("polyhart: warning: the drive {} has if=none and no device uses it", drive.file.display());
        }
    }
    Ok(devices)
}

/// `--fast-forward`: runs the guest without plugins until the point it
/// names (instructions counted from `first`, or the marker). `None` when
/// that point was reached; the guest's reason when it stopped for good
/// before (a reset reboots it, as in the main run).
fn fast_forward(machine: &mut Machine, args: &RunArgs, first: u64) -> Option<StopReason> {
    let ahead = args.fast_forward?;
    let marker = (ahead == FastForward::Marker).then(|| Arc::new(plugins::Marker::new(machine.stop_signal().clone())));
    if let Some(marker) = &marker {
        machine.set_plugins(vec![marker.clone()]);
    }
    let reason = loop {
        let done = machine.instructions() - first;
        let until = match ahead {
            FastForward::Instructions(count) => Some(count.saturating_sub(done)),
            FastForward::Marker => None,
        };
        let limit = match (until, args.max_insns) {
            (Some(until), Some(max)) => Some(until.min(max.saturating_sub(done))),
            (until, max) => until.or(max.map(|max| max.saturating_sub(done))),
        };
        match machine.run(limit) {
            StopReason::Reset if !args.no_reboot => machine.reboot(),
            reason => break reason,
        }
    };
    machine.finish_plugins();
    let reached = match ahead {
        FastForward::Instructions(count) => {
            reason == StopReason::InstructionLimit && machine.instructions() - first >= count
        }
        FastForward::Marker => reason == StopReason::Paused && marker.is_some_and(|marker| marker.seen()),
    };
    if reached {
        eprintln!("polyhart: fast-forwarded {} instructions; plugins on", machine.instructions() - first);
        None
    } else {
        eprintln!("polyhart: the run ended during the fast-forward");
        Some(reason)
    }
}

fn run(args: &RunArgs) -> Result<u8, String> {
    init_logging(&args.log, args.log_file.as_deref())?;
    let kernel = args.kernel.as_deref().map(|p| read_image("kernel", p)).transpose()?;
    let firmware = match args.bios.as_deref() {
        Some("none") => None,
        Some(path) => Some(read_image("firmware", path.as_ref())?),
        // As QEMU: a Linux kernel runs behind OpenSBI.
        None if kernel.as_deref().is_some_and(is_linux_image) => Some(
            read_image("firmware", cli::DEFAULT_FIRMWARE.as_ref())
                .map_err(|e| format!("{e}: a Linux kernel needs SBI firmware (Debian's opensbi), or give -bios"))?,
        ),
        None => None,
    };
    let initrd = args.initrd.as_deref().map(|p| read_image("initrd", p)).transpose()?;
    // Console input recorded or replayed: the one input a deterministic run
    // takes from the host (a netdev's packets would be another).
    let console_input = match (&args.record, &args.replay) {
        (None, None) => None,
        _ if !args.deterministic => return Err("--record and --replay need --deterministic".to_string()),
        _ if !args.netdev.is_empty() => {
            return Err("--record and --replay cover console input, not a netdev's packets".to_string());
        }
        (Some(path), _) => Some(std::sync::Arc::new(
            ConsoleInput::record(path).map_err(|e| format!("cannot create the recording '{}': {e}", path.display()))?,
        )),
        (None, Some(path)) => Some(std::sync::Arc::new(ConsoleInput::replay(path).map_err(|e| e.to_string())?)),
    };
    let device_tree = args.dtb.as_deref().map(|p| read_image("device tree", p)).transpose()?;
    let console: Box<dyn std::io::Write + Send> = match &args.serial {
        Serial::Stdio => Box::new(std::io::BufWriter::new(std::io::stdout())),
        Serial::File(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot create the serial output '{}': {e}", path.display()))?,
        )),
        Serial::None => Box::new(std::io::sink()),
    };
    let marker = args.snapshot_when.clone().filter(|text| !text.is_empty());
    let marker_stop = std::sync::Arc::new(std::sync::OnceLock::new());
    let marker_seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let snapshot = match &args.snapshot_load {
        Some(path) => Some(Snapshot::open(path).map_err(|e| format!("cannot load the snapshot: {e}"))?),
        None => None,
    };
    let mut plugins = args
        .plugin
        .iter()
        .map(|spec| plugins::from_spec(spec).map_err(|e| format!("--plugin {spec}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(spec) = &args.timing {
        let timing = plugins::Timing::from_spec(spec).map_err(|e| format!("--timing {spec}: {e}"))?;
        plugins.push(std::sync::Arc::new(timing));
    }
    let config = VirtConfig {
        snapshot,
        harts: args.harts,
        ram_size: args.ram,
        firmware,
        kernel,
        bootargs: args.append.clone(),
        initrd,
        device_tree,
        quantum: if args.quantum == 0 { UNBOUNDED_QUANTUM } else { args.quantum },
        scheduling: if args.deterministic { Scheduling::Deterministic } else { Scheduling::Parallel },
        idle: if args.idle == "skip" || args.deterministic { IdleTime::Skip } else { IdleTime::RealTime },
        // A deterministic run reads the same dates every time: simulated
        // time from the Unix epoch.
        rtc: if args.deterministic { RtcClock::Simulated { base_ns: 0 } } else { RtcClock::Host },
        engine: match args.engine.as_str() {
            "jit" => Engine::Jit(JitConfig {
                threshold: args.jit_threshold,
                ranges: args.jit_range.clone(),
                lockstep: args.jit_lockstep,
                background: !args.jit_sync,
                code_limit: args.jit_code_limit,
                miscompile_at: args.jit_miscompile,
            }),
            _ => Engine::Interpreter,
        },
        virtio: virtio_devices(args)?,
        console_input: console_input.clone(),
        console: Some(match &marker {
            Some(text) => Box::new(MarkerWatch {
                out: console,
                marker: text.as_bytes().to_vec(),
                tail: Vec::new(),
                stop: marker_stop.clone(),
                seen: marker_seen.clone(),
            }),
            None => console,
        }),
        ..VirtConfig::default()
    };
    let mut machine = build_virt(config).map_err(|e| e.to_string())?;
    let _ = marker_stop.set(machine.stop_signal().clone());
    if let Some(path) = &args.dump_dtb {
        std::fs::write(path, machine.board().device_tree())
            .map_err(|e| format!("cannot write the device tree to '{}': {e}", path.display()))?;
        return Ok(0);
    }

    // The guest's console input: a host thread feeds standard input to the
    // UART; it ends at end of input and dies with the process otherwise.
    // While input is open, a guest waiting for it is not deadlocked. A
    // terminal is in raw mode meanwhile, with QEMU's Ctrl-A escapes; the
    // guard restores it when `run` returns.
    // With the serial console elsewhere, standard input is not the guest's;
    // a replay takes the guest's input from its file.
    let feeds_stdin = args.serial == Serial::Stdio && args.replay.is_none();
    let raw_mode = if feeds_stdin { RawMode::enter() } else { None };
    if feeds_stdin {
        let escapes = raw_mode.is_some().then(Escapes::default);
        let feed = match &console_input {
            Some(input) => ConsoleFeed::Record(input.clone()),
            None => ConsoleFeed::Uart(machine.board().uart().clone()),
        };
        let stop = machine.stop_signal().clone();
        machine.board().uart().set_input_open(true);
        std::thread::Builder::new()
            .name("polyhart-stdin".into())
            .spawn(move || feed_console(&feed, &stop, escapes))
            .map_err(|e| format!("cannot start the console input thread: {e}"))?;
    }

    let gdb = match args.gdb_address() {
        Some(address) => Some(GdbListener::start(&address, machine.stop_signal().clone())?),
        None if args.wait_for_gdb => return Err("-S waits for GDB: give --gdb tcp::PORT or -s too".to_string()),
        None => None,
    };
    if args.wait_for_gdb
        && let Some(gdb) = &gdb
    {
        eprintln!("polyhart: waiting for GDB on {}", gdb.address);
        gdb.wait();
    }

    let started = Instant::now();
    // A reset the guest asks for boots the machine again, as QEMU does,
    // unless --no-reboot; --max-insns counts across reboots. A debugger
    // that connects pauses the run and holds the machine until it resumes
    // it; one at a time (a second connection meanwhile is closed).
    let first = machine.instructions();
    let fast_forward = fast_forward(&mut machine, args, first);
    if fast_forward.is_none() {
        machine.set_plugins(plugins);
    }
    let mut debugger = Debugger::default();
    let reason = if let Some(reason) = fast_forward {
        reason
    } else {
        loop {
            if let Some(stream) = gdb.as_ref().and_then(GdbListener::take) {
                debugger.attach(&mut machine, stream).map_err(|e| format!("the GDB session: {e}"))?;
            }
            let reason = loop {
                let left = args.max_insns.map(|limit| limit.saturating_sub(machine.instructions() - first));
                match machine.run(left) {
                    StopReason::Reset if !args.no_reboot => machine.reboot(),
                    reason => break reason,
                }
            };
            match debugger.after_run(&mut machine, reason) {
                // GDB's stop: it held the machine and resumed it.
                None => {}
                // A connection came in (see above), or a stop of a GDB gone.
                Some(StopReason::Paused | StopReason::Breakpoint { .. } | StopReason::Watchpoint { .. })
                    if gdb.is_some() => {}
                Some(reason) => break reason,
            }
        }
    };
    let elapsed = started.elapsed().as_secs_f64();
    machine.finish_plugins();
    if let Some(input) = &console_input {
        input.finish().map_err(|e| format!("the recording is incomplete: {e}"))?;
    }
    if let Some(path) = &args.snapshot_save {
        let marked = marker_seen.load(std::sync::atomic::Ordering::Acquire);
        if marker.is_none() || marked {
            machine.save_snapshot(path).map_err(|e| format!("cannot save the snapshot: {e}"))?;
            eprintln!("polyhart: saved the machine to {}", path.display());
        } else {
            eprintln!(
                "polyhart: the guest never printed {:?}: no snapshot saved",
                args.snapshot_when.as_deref().unwrap_or_default()
            );
        }
    }

    if args.stats {
        for (id, hart) in machine.harts().iter().enumerate() {
            let stats = hart.stats();
            let instructions = hart.state().retired;
            let mips = instructions as f64 / elapsed.max(1e-9) / 1e6;
            let lookups = (stats.jump_cache_hits + stats.jump_cache_misses).max(1);
            eprintln!(
                "hart {id}: {instructions} instructions ({:.1}% interpreted), {} blocks translated, {mips:.1} MIPS, {} blocks executed, {:.2}% jump cache hits, {} traps",
                100.0 * stats.interpreted as f64 / instructions.max(1) as f64,
                stats.blocks_translated,
                lookups,
                100.0 * stats.jump_cache_hits as f64 / lookups as f64,
                stats.traps
            );
        }
        let cache = machine.translation_cache().stats();
        eprintln!(
            "total: {} instructions in {elapsed:.3} s; {} blocks cached, {} invalidated",
            machine.instructions(),
            cache.blocks_inserted,
            cache.blocks_invalidated
        );
        if let Some(jit) = machine.jit_stats() {
            let mut line = format!(
                "jit: {} blocks compiled ({} bytes of host code, {:.1} per guest instruction; {:.3} s compiling, \
                 median {} us a block), {} left to the interpreter",
                jit.blocks_compiled,
                jit.code_bytes,
                jit.code_bytes as f64 / jit.guest_insts_compiled.max(1) as f64,
                jit.compile_micros as f64 / 1e6,
                jit.median_compile_micros,
                jit.blocks_rejected,
            );
            if !args.jit_range.is_empty() {
                line += &format!(", {} outside --jit-range", jit.blocks_outside_range);
            }
            if jit.generations_retired > 0 {
                line += &format!(
                    ", {} generations of code retired ({} freed)",
                    jit.generations_retired, jit.generations_freed
                );
            }
            line += &format!(
                "; {} chained to the next block; exits to the run loop: {} at a block, {} stopped by the budget or an \
                 event, {} traps; {} loads and stores made by the interpreter",
                jit.chain_hits, jit.exits_to_next_block, jit.exits_stopped, jit.exits_trapped, jit.slow_accesses
            );
            if args.jit_lockstep {
                line += &format!(
                    "; lockstep: {} blocks checked, {} unchecked",
                    jit.lockstep_checked, jit.lockstep_unchecked
                );
            }
            eprintln!("{line}");
        }
    }

    Ok(match reason {
        StopReason::Exit(code) => (code & 0xff) as u8,
        StopReason::Reset => {
            eprintln!("polyhart: the guest asked for a reset; stopping");
            0
        }
        // The CLI runs to no horizon, nothing in it asks to synchronise, and
        // only a debugger sets breakpoints (and takes their stops).
        StopReason::Stopped
        | StopReason::Horizon
        | StopReason::Sync { .. }
        | StopReason::Paused
        | StopReason::Breakpoint { .. }
        | StopReason::Watchpoint { .. } => 0,
        StopReason::InstructionLimit => {
            eprintln!("polyhart: stopped after {} instructions (--max-insns)", machine.instructions());
            STATUS_LIMIT
        }
        StopReason::TrapLoop { hart, pc, cause, origin } => {
            let repeat = format!("takes {cause} at {pc:#x} again and again, retiring nothing");
            match origin {
                Some((first, at)) => eprintln!(
                    "polyhart: hart {hart} is stuck: {first} at {at:#x} sent it to its trap handler, which {repeat}"
                ),
                None => eprintln!("polyhart: hart {hart} is stuck: it {repeat}"),
            }
            STATUS_STUCK
        }
        StopReason::JitDivergence { hart, pc } => {
            match machine.harts()[hart].jit_divergence() {
                Some(divergence) => eprintln!("polyhart: hart {hart}: --jit-lockstep: {divergence}"),
                None => eprintln!("polyhart: hart {hart}: --jit-lockstep: the block at {pc:#x} diverged"),
            }
            STATUS_ERROR
        }
        StopReason::Deadlock => {
            eprintln!("polyhart: every hart waits for an interrupt that nothing can raise");
            STATUS_STUCK
        }
    })
}

/// The GDB stub's listening socket: a thread accepts connections and
/// pauses the running machine for each, which the run loop then serves.
struct GdbListener {
    /// Where it listens.
    address: std::net::SocketAddr,
    connections: std::sync::mpsc::Receiver<std::net::TcpStream>,
    /// The connection [`GdbListener::wait`] waited for.
    waited: std::cell::RefCell<Option<std::net::TcpStream>>,
}

impl GdbListener {
    /// Listens on `address` (`HOST:PORT`) for the machine stopped by `stop`.
    fn start(address: &str, stop: std::sync::Arc<StopSignal>) -> Result<GdbListener, String> {
        let listener = std::net::TcpListener::bind(address)
            .map_err(|e| format!("the GDB stub cannot listen on {address}: {e}"))?;
        let address = listener.local_addr().map_err(|e| format!("the GDB stub's socket: {e}"))?;
        let (sender, connections) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("polyhart-gdb".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    if sender.send(stream).is_err() {
                        return;
                    }
                    stop.request_pause();
                }
            })
            .map_err(|e| format!("cannot start the GDB stub's thread: {e}"))?;
        Ok(GdbListener { address, connections, waited: std::cell::RefCell::new(None) })
    }

    /// Blocks until GDB connects; [`GdbListener::take`] then gives the
    /// connection.
    fn wait(&self) {
        *self.waited.borrow_mut() = self.connections.recv().ok();
    }

    /// A connection that came in, if one did.
    fn take(&self) -> Option<std::net::TcpStream> {
        self.waited.borrow_mut().take().or_else(|| self.connections.try_recv().ok())
    }
}
