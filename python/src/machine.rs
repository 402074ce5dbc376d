//! `polyhart.Machine`: a virt machine built from keyword arguments, run
//! with the GIL released, its harts and memory read and written between
//! runs.

use polyhart_iss::debug::{WatchKind, Watchpoint};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use polyhart_cosim::{Cosim, CosimBuilder, Interrupts, Line, SimTime};
use polyhart_iss::csr::{self, CsrName};
use polyhart_iss::decode::{fp_register_name, register_name};
use polyhart_iss::{Bus, Hart};
use polyhart_machine::bus::SystemBus;
use polyhart_machine::devices::{PlicLine, RtcClock, Uart};
use polyhart_machine::memory::Dma;
use polyhart_machine::runner::{IdleTime, UNBOUNDED_QUANTUM};
use polyhart_machine::{Engine, JitConfig, Scheduling, StopReason as RustStopReason, StopSignal, VirtConfig};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList};

use crate::console::{Outbox, OutboxWriter, RunEnd};
use crate::errors::{
    BuildError, GuestMemoryError, InvalidArgumentError, MachineBusyError, MachinePanicError, PolyhartError,
};
use crate::failure::CallbackFailure;
use crate::region::{PythonTarget, Region};
use crate::snapshot::{Snapshot, snapshot_argument, snapshot_error};
use crate::stop::StopReason;
use crate::virtio;

/// How often the thread waiting for a run delivers console output and
/// looks for Ctrl-C.
const POLL: Duration = Duration::from_millis(20);

/// An error's message followed by those of its sources that it does not
/// already include.
pub(crate) fn message(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

/// A region name as the cosim crate keeps it (`&'static str`). Names are
/// interned, so that building many machines with the same regions leaks
/// each name once.
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// An image given as bytes, or as the path of a file to read.
fn image(what: &str, source: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<u8>>> {
    let Some(source) = source else { return Ok(None) };
    if source.is_none() {
        return Ok(None);
    }
    if let Ok(bytes) = source.cast::<PyBytes>() {
        return Ok(Some(bytes.as_bytes().to_vec()));
    }
    if let Ok(bytes) = source.cast::<PyByteArray>() {
        return Ok(Some(bytes.to_vec()));
    }
    let path: PathBuf = source
        .extract()
        .map_err(|_| InvalidArgumentError::new_err(format!("the {what} is a path (str or os.PathLike) or bytes")))?;
    std::fs::read(&path)
        .map(Some)
        .map_err(|e| BuildError::new_err(format!("cannot read the {what} {}: {e}", path.display())))
}

/// An integer register's index from its number or name (`10`, `"x10"`,
/// `"a0"`, `"fp"`).
fn x_index(register: &Bound<'_, PyAny>) -> PyResult<u8> {
    register_index(register, "integer", "x", register_name, &[("fp", 8)])
}

/// A floating-point register's index from its number or name (`10`,
/// `"f10"`, `"fa0"`).
fn f_index(register: &Bound<'_, PyAny>) -> PyResult<u8> {
    register_index(register, "floating-point", "f", fp_register_name, &[])
}

fn register_index(
    register: &Bound<'_, PyAny>,
    kind: &str,
    prefix: &str,
    abi_name: fn(u8) -> &'static str,
    aliases: &[(&str, u8)],
) -> PyResult<u8> {
    if let Ok(index) = register.extract::<i64>() {
        return u8::try_from(index).ok().filter(|&i| i < 32).ok_or_else(|| {
            InvalidArgumentError::new_err(format!("there is no {kind} register {index}: they are 0 to 31"))
        });
    }
    let name: String = register
        .extract()
        .map_err(|_| InvalidArgumentError::new_err(format!("a {kind} register is a number or a name")))?;
    (0..32u8)
        .find(|&i| abi_name(i) == name || format!("{prefix}{i}") == name)
        .or_else(|| aliases.iter().find(|(alias, _)| *alias == name).map(|&(_, i)| i))
        .ok_or_else(|| InvalidArgumentError::new_err(format!("there is no {kind} register named '{name}'")))
}

/// A CSR's number from itself or its name (`0x300`, `"mstatus"`).
fn csr_number(csr: &Bound<'_, PyAny>) -> PyResult<u16> {
    if let Ok(number) = csr.extract::<i64>() {
        return u16::try_from(number)
            .ok()
            .filter(|&n| n < 4096)
            .ok_or_else(|| InvalidArgumentError::new_err(format!("CSR numbers are 12 bits: {number:#x} is not one")));
    }
    let name: String = csr.extract().map_err(|_| InvalidArgumentError::new_err("a CSR is a number or a name"))?;
    (0..4096u16)
        .find(|&n| CsrName(n).to_string() == name)
        .ok_or_else(|| InvalidArgumentError::new_err(format!("there is no CSR named '{name}'")))
}

/// A RISC-V `virt` machine, as QEMU's `-M virt`: harts, RAM at
/// `0x8000_0000`, a UART console, CLINT, PLIC, virtio-mmio, and external
/// regions served by Python callbacks.
///
/// Keyword arguments (all optional, but a kernel or firmware is needed):
///
/// - `kernel`, `firmware`, `initrd`, `device_tree`: images, as paths or
///   bytes. An ELF loads at its physical addresses; a raw kernel at the
///   start of RAM (at `0x8020_0000` behind firmware). Without firmware
///   the kernel starts directly, as QEMU's `-bios none`.
/// - `bootargs`: the kernel command line (in the generated device tree).
/// - `harts` (1), `ram_size` in bytes (128 MiB), `cpu_frequency` in Hz
///   (1 GHz: one instruction per cycle).
/// - `engine`: `"jit"` (the default: hot blocks compiled on the JIT's own
///   thread) or `"interp"`; `jit_threshold`: interpreted runs before a
///   block is compiled (0: at once); given, the hart that finds a block
///   hot compiles it itself, so the compiled code runs from then on.
/// - `deterministic`: every hart on one thread, in turn, a quantum each:
///   runs repeat exactly (and idle time skips, the RTC and virtio-rng are
///   fixed). Otherwise each hart gets a host thread.
/// - `quantum`: cycles harts run between synchronisations (10000); `None`
///   or 0: none (parallel only).
/// - `idle`: `"skip"` (a waiting hart jumps to its timer) or `"real-time"`
///   (waits at the host's pace, as QEMU).
/// - `virtio`: `Block` and `Rng` devices, placed as QEMU places
///   `-device virtio-*-device`.
/// - `regions`: `Region`s whose accesses Python callbacks serve.
/// - `console`: a callable taking `bytes`, or a binary stream (`write`),
///   called on the thread that runs the machine; without one the output
///   is kept for `read_console()`.
/// - `snapshot`: a `Snapshot` (or a snapshot file's path) of a machine
///   built with these same arguments, which this one starts as: its RAM is
///   the snapshot's, shared copy-on-write, so the images are not copied in.
///
/// The machine runs with the GIL released: other Python threads run
/// meanwhile, and `stop()` from one of them ends the run. Ctrl-C in the
/// main thread pauses the run and raises `KeyboardInterrupt`; as after an
/// exception in a callback, the next run goes on from there.
#[pyclass(module = "polyhart", frozen)]
pub(crate) struct Machine {
    cosim: Mutex<Cosim>,
    /// A run failed inside polyhart: the machine is left unusable.
    poisoned: AtomicBool,
    stop: Arc<StopSignal>,
    uart: Arc<Uart<PlicLine>>,
    interrupts: Interrupts,
    dma: Dma,
    ram_size: u64,
    harts: usize,
    cpu_frequency: u64,
    outbox: Arc<Outbox>,
    /// Where console output goes: a callable, or an object with `write`;
    /// `None`: kept for `read_console`.
    console: Option<Py<PyAny>>,
    failure: Arc<CallbackFailure>,
    /// The outside's time in ps at the start of the run in progress, for
    /// transactions' `time_ps`.
    now: Arc<AtomicU64>,
    /// The arguments it was built with, for `clone`.
    recipe: Py<PyDict>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine").field("harts", &self.harts).field("ram_size", &self.ram_size).finish()
    }
}

impl Machine {
    /// The machine, unless it is running or poisoned.
    fn lock(&self) -> PyResult<MutexGuard<'_, Cosim>> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(MachinePanicError::new_err(
                "an earlier run failed inside polyhart (a bug); this machine cannot be used any more",
            ));
        }
        match self.cosim.try_lock() {
            Ok(cosim) => Ok(cosim),
            Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => {
                Err(MachineBusyError::new_err("the machine is running: wait for the run to return (stop() ends it)"))
            }
        }
    }

    /// Calls `f` on hart `hart` and the system bus, between runs.
    fn with_hart<R>(&self, hart: usize, f: impl FnOnce(&mut Hart, &SystemBus) -> PyResult<R>) -> PyResult<R> {
        let mut cosim = self.lock()?;
        let bus = cosim.machine().bus().clone();
        let harts = cosim.machine_mut().harts_mut();
        let count = harts.len();
        match harts.get_mut(hart) {
            Some(hart) => f(hart, &bus),
            None => Err(InvalidArgumentError::new_err(format!("there is no hart {hart}: the machine has {count}"))),
        }
    }

    /// Runs `work` on the machine on a thread of its own, while this thread
    /// (the GIL released between polls) delivers console output and watches
    /// for Ctrl-C. Raises what a callback raised during the run.
    fn drive<R: Send>(&self, py: Python<'_>, work: impl FnOnce(&mut Cosim) -> R + Send) -> PyResult<R> {
        let mut cosim = self.lock()?;
        self.now.store(cosim.now().0, Ordering::Relaxed);
        self.outbox.begin_run();
        let outbox = &*self.outbox;
        let joined = std::thread::scope(|scope| {
            let cosim = &mut *cosim;
            let runner = std::thread::Builder::new().name("polyhart-run".into()).spawn_scoped(scope, move || {
                let _end = RunEnd(outbox);
                work(cosim)
            });
            let runner = runner
                .map_err(|e| PolyhartError::new_err(format!("cannot start the thread that runs the machine: {e}")))?;
            loop {
                let done = py.detach(|| outbox.wait(POLL));
                self.deliver_console(py);
                if let Err(interrupt) = py.check_signals() {
                    self.failure.record(interrupt);
                }
                if done {
                    break;
                }
            }
            Ok::<_, PyErr>(py.detach(|| runner.join()))
        })?;
        drop(cosim);
        let result = joined.map_err(|_| {
            self.poisoned.store(true, Ordering::Release);
            MachinePanicError::new_err("polyhart failed inside while running (a bug); the machine is unusable")
        })?;
        match self.failure.take() {
            Some(error) => Err(error),
            None => Ok(result),
        }
    }

    /// Hands console output to the console callback or stream, if there is
    /// one; an exception it raises ends the run in progress (see
    /// `CallbackFailure`).
    fn deliver_console(&self, py: Python<'_>) {
        let Some(console) = &self.console else { return };
        let bytes = self.outbox.take_output();
        if bytes.is_empty() {
            return;
        }
        let console = console.bind(py);
        let data = PyBytes::new(py, &bytes);
        let delivered = if console.hasattr("write").unwrap_or(false) {
            console.call_method1("write", (data,)).map(drop)
        } else {
            console.call1((data,)).map(drop)
        };
        if let Err(error) = delivered {
            self.failure.record(error);
        }
    }
}

#[pymethods]
impl Machine {
    /// Builds a machine. Images are paths or bytes: an ELF (loaded at its
    /// physical addresses) or a raw binary.
    #[new]
    #[pyo3(signature = (
        *,
        kernel = None,
        firmware = None,
        initrd = None,
        device_tree = None,
        bootargs = None,
        harts = 1,
        ram_size = 128 << 20,
        engine = "jit",
        jit_threshold = None,
        deterministic = false,
        quantum = Some(polyhart_machine::runner::DEFAULT_QUANTUM),
        cpu_frequency = polyhart_machine::boards::virt::DEFAULT_CPU_FREQUENCY,
        idle = "skip",
        virtio = Vec::new(),
        regions = Vec::new(),
        console = None,
        snapshot = None,
    ))]
    #[pyo3(text_signature = "(*, kernel=None, firmware=None, initrd=None, device_tree=None, bootargs=None, \
        harts=1, ram_size=134217728, engine='jit', jit_threshold=None, deterministic=False, quantum=10000, \
        cpu_frequency=1000000000, idle='skip', virtio=(), regions=(), console=None, snapshot=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        kernel: Option<Bound<'_, PyAny>>,
        firmware: Option<Bound<'_, PyAny>>,
        initrd: Option<Bound<'_, PyAny>>,
        device_tree: Option<Bound<'_, PyAny>>,
        bootargs: Option<String>,
        harts: usize,
        ram_size: u64,
        engine: &str,
        jit_threshold: Option<u32>,
        deterministic: bool,
        quantum: Option<u64>,
        cpu_frequency: u64,
        idle: &str,
        virtio: Vec<Bound<'_, PyAny>>,
        regions: Vec<Bound<'_, Region>>,
        console: Option<Py<PyAny>>,
        snapshot: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Machine> {
        let recipe = PyDict::new(py);
        recipe.set_item("kernel", &kernel)?;
        recipe.set_item("firmware", &firmware)?;
        recipe.set_item("initrd", &initrd)?;
        recipe.set_item("device_tree", &device_tree)?;
        recipe.set_item("bootargs", &bootargs)?;
        recipe.set_item("harts", harts)?;
        recipe.set_item("ram_size", ram_size)?;
        recipe.set_item("engine", engine)?;
        recipe.set_item("jit_threshold", jit_threshold)?;
        recipe.set_item("deterministic", deterministic)?;
        recipe.set_item("quantum", quantum)?;
        recipe.set_item("cpu_frequency", cpu_frequency)?;
        recipe.set_item("idle", idle)?;
        recipe.set_item("virtio", PyList::new(py, &virtio)?)?;
        recipe.set_item("regions", PyList::new(py, &regions)?)?;
        recipe.set_item("console", &console)?;
        let engine = match (engine, jit_threshold) {
            ("interp", None) => Engine::Interpreter,
            ("interp", Some(_)) => {
                return Err(InvalidArgumentError::new_err("jit_threshold needs engine='jit'"));
            }
            ("jit", threshold) => Engine::Jit(threshold.map_or_else(JitConfig::default, JitConfig::new)),
            (other, _) => {
                return Err(InvalidArgumentError::new_err(format!(
                    "engine '{other}' does not exist: it is 'interp' or 'jit'"
                )));
            }
        };
        let idle = match idle {
            _ if deterministic => IdleTime::Skip,
            "skip" => IdleTime::Skip,
            "real-time" => IdleTime::RealTime,
            other => {
                return Err(InvalidArgumentError::new_err(format!(
                    "idle '{other}' does not exist: it is 'skip' or 'real-time'"
                )));
            }
        };
        if cpu_frequency == 0 {
            return Err(InvalidArgumentError::new_err("cpu_frequency is in Hz and cannot be 0"));
        }
        if let Some(console) = &console {
            let console = console.bind(py);
            if !console.is_callable() && !console.hasattr("write")? {
                return Err(InvalidArgumentError::new_err(
                    "console is a callable taking bytes, or a binary stream with write()",
                ));
            }
        }
        let outbox = Arc::new(Outbox::default());
        let mut config = VirtConfig::new()
            .harts(harts)
            .ram_size(ram_size)
            .engine(engine)
            .quantum(match quantum {
                Some(0) | None => UNBOUNDED_QUANTUM,
                Some(cycles) => cycles,
            })
            .scheduling(if deterministic { Scheduling::Deterministic } else { Scheduling::Parallel })
            .console(OutboxWriter(outbox.clone()));
        config.cpu_frequency = cpu_frequency;
        config.idle = idle;
        // A deterministic run reads the same dates every time.
        config.rtc = if deterministic { RtcClock::Simulated { base_ns: 0 } } else { RtcClock::Host };
        config.kernel = image("kernel", kernel.as_ref())?;
        config.firmware = image("firmware", firmware.as_ref())?;
        config.initrd = image("initrd", initrd.as_ref())?;
        config.device_tree = image("device tree", device_tree.as_ref())?;
        config.bootargs = bootargs;
        for spec in &virtio {
            config.virtio.push(virtio::open(spec, deterministic)?);
        }
        config.snapshot = snapshot.as_ref().map(|snapshot| snapshot_argument(py, snapshot)).transpose()?;
        let failure = Arc::new(CallbackFailure::default());
        let now = Arc::new(AtomicU64::new(0));
        let mut builder = CosimBuilder::new(config);
        for region in &regions {
            let region = region.get();
            let target = PythonTarget {
                base: region.base,
                callback: region.callback.clone_ref(py),
                failure: failure.clone(),
                now: now.clone(),
            };
            builder.region(intern(&region.name), region.base, region.size, target);
        }
        let cosim = py.detach(|| builder.build()).map_err(|e| match e {
            polyhart_machine::boards::virt::BuildError::Snapshot(e) => snapshot_error(e),
            e => BuildError::new_err(message(&e)),
        })?;
        let machine = cosim.machine();
        let stop = machine.stop_signal().clone();
        failure.connect(stop.clone());
        Ok(Machine {
            stop,
            uart: machine.board().uart().clone(),
            interrupts: cosim.interrupts().clone(),
            dma: machine.dma(),
            ram_size,
            harts,
            cpu_frequency,
            outbox,
            console,
            failure,
            now,
            poisoned: AtomicBool::new(false),
            cosim: Mutex::new(cosim),
            recipe: recipe.unbind(),
        })
    }

    /// Runs until the guest stops the machine (exit, reset, trap loop,
    /// deadlock), `stop()` is called, or the harts together have retired
    /// `max_insns` more instructions.
    #[pyo3(signature = (max_insns = None))]
    fn run(&self, py: Python<'_>, max_insns: Option<u64>) -> PyResult<StopReason> {
        self.drive(py, |cosim| cosim.run(max_insns)).map(StopReason::from)
    }

    /// Runs until every hart's local time reaches `horizon` cycles
    /// (`StopKind.HORIZON`), or for the reasons `run` stops.
    #[pyo3(signature = (horizon, max_insns = None))]
    fn run_until(&self, py: Python<'_>, horizon: u64, max_insns: Option<u64>) -> PyResult<StopReason> {
        self.drive(py, |cosim| cosim.run_until(horizon, max_insns)).map(StopReason::from)
    }

    /// Advances simulated time by `cycles` as an outside simulator does
    /// (`polyhart_cosim::Cosim::advance`): every hart runs to the outside's
    /// time plus `cycles`, interrupts given with `at_ps` take effect on
    /// time, and a transaction may end it early (`SYNC`). `HORIZON` when
    /// the time was reached; `now_ps` is where it ended.
    fn advance(&self, py: Python<'_>, cycles: u64) -> PyResult<StopReason> {
        let duration = SimTime::from_cycles(cycles, self.cpu_frequency);
        self.drive(py, |cosim| cosim.advance(duration).end).map(StopReason::from)
    }

    /// Stops the run in progress (`StopKind.STOPPED`), from any thread or
    /// callback; called between runs, the next run stops at once. Stopping
    /// is for good: `reboot()` clears it.
    fn stop(&self) {
        self.stop.request(RustStopReason::Stopped);
    }

    /// Resets the machine as a system reset does (devices, boot images,
    /// harts, and a stop request forgotten); simulated time goes on.
    fn reboot(&self) -> PyResult<()> {
        self.lock()?.machine_mut().reboot();
        Ok(())
    }

    /// Saves the whole machine, between runs, to a snapshot kept in memory
    /// (see `Snapshot`); the GIL is released meanwhile.
    fn snapshot(&self, py: Python<'_>) -> PyResult<Snapshot> {
        let mut guard = self.lock()?;
        let cosim = &mut *guard;
        let inner = py.detach(|| cosim.snapshot()).map_err(snapshot_error)?;
        Ok(Snapshot { inner })
    }

    /// A new machine built with the arguments this one was built with
    /// (`overrides` replace some: give each clone disks of its own with
    /// `virtio=[...]`, or its own `console`), made this one as it is now:
    /// a snapshot restored, its RAM shared copy-on-write. Regions and a
    /// console not overridden are shared with this machine.
    #[pyo3(signature = (**overrides))]
    fn clone(&self, py: Python<'_>, overrides: Option<&Bound<'_, PyDict>>) -> PyResult<Py<Machine>> {
        let kwargs = self.recipe.bind(py).copy()?;
        if let Some(overrides) = overrides {
            kwargs.update(overrides.as_mapping())?;
        }
        kwargs.set_item("snapshot", Bound::new(py, self.snapshot(py)?)?)?;
        let clone = py.get_type::<Machine>().call((), Some(&kwargs))?;
        Ok(clone.cast_into::<Machine>()?.unbind())
    }

    /// Installs instrumentation plugins, between runs, each named as
    /// `--plugin` names it: a bundled one (`"insn"`, `"hotblocks,limit=5"`,
    /// `"mem,file=trace.txt"`, `"cache,dcachesize=32K,out=cache.txt"`) or
    /// the path of a C plugin's shared library, with its `key=value`
    /// arguments. Plugins installed before finish first. They report when
    /// `finish_plugins()` is called or the machine goes (to standard error,
    /// or to the file their `out=` names). A spec that names no plugin, or
    /// gives it a wrong argument, raises `ValueError` and installs nothing.
    /// `timing` installs a timing model as `--timing` names it (`"u54"`,
    /// `"u54,mispredict=4,out=t.txt"`): `mcycle` and time then follow its
    /// estimate of the cycles a real core takes.
    #[pyo3(signature = (specs, timing = None))]
    fn set_plugins(&self, py: Python<'_>, specs: Vec<String>, timing: Option<String>) -> PyResult<()> {
        let mut plugins = specs
            .iter()
            .map(|spec| polyhart_machine::plugins::from_spec(spec).map_err(|e| PyValueError::new_err(e.to_string())))
            .collect::<PyResult<Vec<_>>>()?;
        if let Some(spec) = timing {
            let model = polyhart_machine::plugins::Timing::from_spec(&spec)
                .map_err(|e| PyValueError::new_err(format!("timing {spec}: {e}")))?;
            plugins.push(std::sync::Arc::new(model));
        }
        let mut guard = self.lock()?;
        let cosim = &mut *guard;
        py.detach(|| cosim.machine_mut().set_plugins(plugins));
        Ok(())
    }

    /// Removes the installed plugins, which report now.
    fn finish_plugins(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = self.lock()?;
        let cosim = &mut *guard;
        py.detach(|| cosim.machine_mut().finish_plugins());
        Ok(())
    }

    /// Saves the whole machine, between runs, to a file at `path` (pages of
    /// zeros as holes).
    fn save_snapshot(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let mut guard = self.lock()?;
        let cosim = &mut *guard;
        py.detach(|| cosim.save_snapshot(&path)).map_err(snapshot_error)
    }

    /// Makes this machine the one `snapshot` (a `Snapshot`, or the path of
    /// a snapshot file) saved: harts, devices, RAM and simulated time. It
    /// must be built as the saved machine was (the same harts, RAM, images
    /// and devices); if not, `SnapshotError` says what differs and the
    /// machine is left as it was. Console output already produced stays in
    /// `read_console()`.
    fn restore(&self, py: Python<'_>, snapshot: &Bound<'_, PyAny>) -> PyResult<()> {
        let snapshot = snapshot_argument(py, snapshot)?;
        let mut guard = self.lock()?;
        let cosim = &mut *guard;
        py.detach(|| cosim.restore(&snapshot)).map_err(snapshot_error)
    }

    /// Serves GDB's remote protocol: listens on `address` (`"HOST:PORT"`),
    /// waits for GDB to connect and holds the machine until GDB continues
    /// it (the GIL is released meanwhile). From then on `run`, `run_until`
    /// and `advance` serve GDB's stops (breakpoints, watchpoints, Ctrl-C)
    /// inside the call and go on when GDB resumes the machine.
    #[pyo3(signature = (address = "127.0.0.1:1234"))]
    fn debug(&self, py: Python<'_>, address: &str) -> PyResult<()> {
        let address = address.to_string();
        self.drive(py, move |cosim| {
            let listener = std::net::TcpListener::bind(&address)?;
            let (stream, _) = listener.accept()?;
            cosim.debug(stream)
        })?
        .map_err(|e| PolyhartError::new_err(format!("the GDB session: {e}")))
    }

    /// Sets the virtual addresses where every hart stops before running
    /// the instruction there (`StopKind.BREAKPOINT`); guest memory is not
    /// written. An empty list removes them all.
    fn set_breakpoints(&self, addresses: Vec<u64>) -> PyResult<()> {
        self.lock()?.machine_mut().set_breakpoints(addresses);
        Ok(())
    }

    /// Sets where every hart stops before a load or store
    /// (`StopKind.WATCHPOINT`): `(address, length, kind)` tuples, kind
    /// `"read"`, `"write"` or `"access"`. While there are any, every access
    /// takes the interpreter's path. An empty list removes them all.
    fn set_watchpoints(&self, watchpoints: Vec<(u64, u64, String)>) -> PyResult<()> {
        let mut list = Vec::new();
        for (addr, len, kind) in watchpoints {
            let kind = match kind.as_str() {
                "read" => WatchKind::Read,
                "write" => WatchKind::Write,
                "access" => WatchKind::Access,
                _ => {
                    return Err(InvalidArgumentError::new_err(format!(
                        "watchpoint kind '{kind}': read, write or access"
                    )));
                }
            };
            if len == 0 {
                return Err(InvalidArgumentError::new_err("a watchpoint watches at least one byte"));
            }
            list.push(Watchpoint { addr, len, kind });
        }
        self.lock()?.machine_mut().set_watchpoints(list);
        Ok(())
    }

    /// The breakpoints, in ascending order.
    #[getter]
    fn breakpoints(&self) -> PyResult<Vec<u64>> {
        Ok(self.lock()?.machine().breakpoints().addresses().to_vec())
    }

    /// Runs one instruction of hart `hart` while the others hold: at a
    /// breakpoint too, with interrupts held off; a trap ends the step at its
    /// handler. `None`, or why the machine stopped meanwhile.
    #[pyo3(signature = (hart = 0))]
    fn step(&self, py: Python<'_>, hart: usize) -> PyResult<Option<StopReason>> {
        if hart >= self.harts {
            return Err(InvalidArgumentError::new_err(format!("no hart {hart}: the machine has {}", self.harts)));
        }
        self.drive(py, |cosim| cosim.machine_mut().step_hart(hart)).map(|reason| reason.map(StopReason::from))
    }

    /// Resets hart `hart` to the reset vector.
    fn reset_hart(&self, hart: usize) -> PyResult<()> {
        self.lock()?.reset_hart(hart).map_err(|e| InvalidArgumentError::new_err(e.to_string()))
    }

    /// The number of harts.
    #[getter]
    fn harts(&self) -> usize {
        self.harts
    }

    /// RAM size in bytes.
    #[getter]
    fn ram_size(&self) -> u64 {
        self.ram_size
    }

    /// The harts' clock in Hz.
    #[getter]
    fn cpu_frequency(&self) -> u64 {
        self.cpu_frequency
    }

    /// Instructions retired by all harts together.
    #[getter]
    fn instructions(&self) -> PyResult<u64> {
        Ok(self.lock()?.machine().instructions())
    }

    /// The earliest local time of the harts, in cycles: how far the whole
    /// machine has run.
    #[getter]
    fn time(&self) -> PyResult<u64> {
        Ok(self.lock()?.machine().time())
    }

    /// The outside's time in picoseconds: where the last `advance` ended.
    #[getter]
    fn now_ps(&self) -> PyResult<u64> {
        Ok(self.lock()?.now().0)
    }

    /// The device tree the harts were handed (QEMU's `dumpdtb`).
    fn device_tree(&self) -> PyResult<Vec<u8>> {
        Ok(self.lock()?.machine().board().device_tree().to_vec())
    }

    /// Integer register `register` (a number 0-31 or a name: `"x10"`,
    /// `"a0"`) of hart `hart`.
    #[pyo3(signature = (register, hart = 0))]
    fn read_x(&self, register: &Bound<'_, PyAny>, hart: usize) -> PyResult<u64> {
        let index = x_index(register)?;
        self.with_hart(hart, |h, _| Ok(h.state().reg(index)))
    }

    /// Sets integer register `register` of hart `hart` (writes to `x0` are
    /// ignored, as the hardware ignores them).
    #[pyo3(signature = (register, value, hart = 0))]
    fn write_x(&self, register: &Bound<'_, PyAny>, value: u64, hart: usize) -> PyResult<()> {
        let index = x_index(register)?;
        self.with_hart(hart, |h, _| {
            h.state_mut().set_reg(index, value);
            Ok(())
        })
    }

    /// The 32 integer registers of hart `hart`.
    #[pyo3(signature = (hart = 0))]
    fn read_xs(&self, hart: usize) -> PyResult<Vec<u64>> {
        self.with_hart(hart, |h, _| Ok(h.state().regs().to_vec()))
    }

    /// Floating-point register `register` (0-31, `"f10"`, `"fa0"`), all 64
    /// bits (a single is NaN-boxed).
    #[pyo3(signature = (register, hart = 0))]
    fn read_f(&self, register: &Bound<'_, PyAny>, hart: usize) -> PyResult<u64> {
        let index = f_index(register)?;
        self.with_hart(hart, |h, _| Ok(h.state().freg(index)))
    }

    /// Sets floating-point register `register` (all 64 bits).
    #[pyo3(signature = (register, value, hart = 0))]
    fn write_f(&self, register: &Bound<'_, PyAny>, value: u64, hart: usize) -> PyResult<()> {
        let index = f_index(register)?;
        self.with_hart(hart, |h, _| {
            h.state_mut().set_freg(index, value);
            Ok(())
        })
    }

    /// The address of hart `hart`'s next instruction.
    #[pyo3(signature = (hart = 0))]
    fn read_pc(&self, hart: usize) -> PyResult<u64> {
        self.with_hart(hart, |h, _| Ok(h.state().pc))
    }

    /// Makes hart `hart` continue at `value`.
    #[pyo3(signature = (value, hart = 0))]
    fn write_pc(&self, value: u64, hart: usize) -> PyResult<()> {
        self.with_hart(hart, |h, _| {
            h.state_mut().pc = value;
            Ok(())
        })
    }

    /// CSR `csr` (a number or a name: `"mstatus"`, `0x300`) of hart `hart`,
    /// as a debugger sees it: whatever the hart's privilege, and `fflags`,
    /// `frm`, `fcsr` even while `mstatus.FS` is Off.
    #[pyo3(signature = (csr, hart = 0))]
    fn read_csr(&self, csr: &Bound<'_, PyAny>, hart: usize) -> PyResult<u64> {
        let number = csr_number(csr)?;
        self.with_hart(hart, |h, bus| {
            let state = h.state();
            let value = match number {
                csr::FFLAGS => Some(u64::from(state.fflags)),
                csr::FRM => Some(u64::from(state.frm)),
                csr::FCSR => Some(u64::from(state.frm) << 5 | u64::from(state.fflags)),
                csr::CYCLE | csr::MCYCLE => Some(state.mcycle()),
                csr::INSTRET | csr::MINSTRET => Some(state.minstret()),
                csr::TIME => Some(bus.time(&h.access_context())),
                csr::MIP => Some(state.csr.mip | h.control().lines()),
                number => state.csr.read(number),
            };
            value.ok_or_else(|| InvalidArgumentError::new_err(format!("hart {hart} has no CSR {}", CsrName(number))))
        })
    }

    /// Sets CSR `csr` of hart `hart`, with each field's WARL rules (a write
    /// to a read-only field leaves it). The counters and `time` cannot be
    /// set from outside.
    #[pyo3(signature = (csr, value, hart = 0))]
    fn write_csr(&self, csr: &Bound<'_, PyAny>, value: u64, hart: usize) -> PyResult<()> {
        let number = csr_number(csr)?;
        self.with_hart(hart, |h, _| {
            let state = h.state_mut();
            let written = match number {
                csr::FFLAGS => {
                    state.fflags = value as u8 & 0x1f;
                    true
                }
                csr::FRM => {
                    state.frm = value as u8 & 7;
                    true
                }
                csr::FCSR => {
                    state.fflags = value as u8 & 0x1f;
                    state.frm = (value >> 5) as u8 & 7;
                    true
                }
                csr::CYCLE | csr::MCYCLE | csr::INSTRET | csr::MINSTRET | csr::TIME | csr::MCOUNTINHIBIT => {
                    return Err(InvalidArgumentError::new_err(format!(
                        "{} cannot be written from outside the guest",
                        CsrName(number)
                    )));
                }
                number => state.csr.write(number, value),
            };
            if written {
                Ok(())
            } else {
                Err(InvalidArgumentError::new_err(format!("hart {hart} has no writable CSR {}", CsrName(number))))
            }
        })
    }

    /// `size` bytes of guest physical memory at `address` (RAM only). Works
    /// during a run too, from a callback.
    fn read_memory(&self, address: u64, size: u64) -> PyResult<Vec<u8>> {
        let len = usize::try_from(size).ok().filter(|_| size <= self.ram_size);
        let Some(len) = len else {
            return Err(GuestMemoryError::new_err(format!("{size} bytes: more than the machine's RAM")));
        };
        let mut buf = vec![0; len];
        if self.dma.read(address, &mut buf) {
            Ok(buf)
        } else {
            Err(GuestMemoryError::new_err(format!("[{address:#x}, +{size:#x}) is not all guest RAM")))
        }
    }

    /// Writes `data` into guest physical memory at `address` (RAM only), as
    /// a device's DMA would: translated code there is dropped and LR
    /// reservations broken. Works during a run too, from a callback.
    fn write_memory(&self, address: u64, data: Vec<u8>) -> PyResult<()> {
        if self.dma.write(address, &data) {
            Ok(())
        } else {
            Err(GuestMemoryError::new_err(format!("[{address:#x}, +{:#x}) is not all guest RAM", data.len())))
        }
    }

    /// Console output not yet read, when the machine has no `console`
    /// callback or stream (with one, it went there).
    fn read_console(&self) -> Vec<u8> {
        self.outbox.take_output()
    }

    /// Sends `data` to the guest's console input (the UART's receiver).
    /// Works during a run too, from a callback or another thread.
    fn send_console(&self, data: Vec<u8>) {
        self.uart.receive(&data);
    }

    /// Whether more console input may come. While it may, harts that all
    /// wait for an interrupt wait for input instead of stopping with
    /// `DEADLOCK`. False by default.
    #[getter]
    fn get_console_input_open(&self) -> bool {
        self.uart.input_open()
    }

    #[setter]
    fn set_console_input_open(&self, open: bool) {
        self.uart.set_input_open(open);
    }

    /// Drives PLIC source `source` to `level`, now or, with `at_ps`, when
    /// an `advance` reaches that simulated time. Sources the board's devices
    /// drive (the UART's 10, the RTC's 11, virtio's 1-8) are refused. Works
    /// during a run too, from a callback.
    #[pyo3(signature = (source, level, at_ps = None))]
    fn set_irq(&self, source: u32, level: bool, at_ps: Option<u64>) -> PyResult<()> {
        let line = Line::Plic(source);
        match at_ps {
            None => self.interrupts.set(line, level),
            Some(at) => self.interrupts.set_at(line, level, SimTime(at)),
        }
        .map_err(|e| InvalidArgumentError::new_err(e.to_string()))
    }

    /// Ends the `advance` that reaches simulated time `at_ps` there
    /// (`StopKind.SCHEDULED`). Works during a run too, from a callback.
    fn stop_at(&self, at_ps: u64) {
        self.interrupts.stop_at(SimTime(at_ps));
    }

    fn __repr__(&self) -> String {
        format!("Machine(harts={}, ram_size={:#x})", self.harts, self.ram_size)
    }
}
