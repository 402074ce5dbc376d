//! Plugins written in C against `machine/include/polyhart-plugin.h`,
//! loaded from shared libraries: [`load`] opens one, and [`Native`] makes it
//! a [`Plugin`] like any other. The header's structures are mirrored here
//! field for field (`#[repr(C)]`); the function table a plugin calls back
//! through ([`Api`]) wraps the Rust API's handles.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::Path;

use polyhart_iss::Cause;
use polyhart_iss::decode::MemoryKind;
use polyhart_iss::plugin::{
    BlockInfo, Counter, Finished, HartView, MemoryEvent, Observer, Plan, Plugin, Setup, Target, TrapEvent,
};

use super::PluginError;

/// `POLYHART_PLUGIN_VERSION`.
const VERSION: u32 = 1;

/// `polyhart_insn_info`.
#[repr(C)]
struct InsnInfo {
    pc: u64,
    physical: u64,
    raw: u32,
    len: u32,
    insn_class: u32,
    memory_size: u32,
    disassembly: [c_char; 64],
}

/// `polyhart_memory_event`.
#[repr(C)]
struct MemoryEventC {
    vaddr: u64,
    paddr: u64,
    value: u64,
    size: u32,
    kind: u32,
    device: u32,
    reserved: u32,
}

/// `polyhart_trap_event`.
#[repr(C)]
struct TrapEventC {
    cause: u64,
    tval: u64,
    pc: u64,
}

/// The handles' types: each is a pointer to the Rust value it stands for,
/// valid during the callback it is passed to.
type SetupHandle = c_void;
type BlockHandle = c_void;
type PlanHandle = c_void;
type HartHandle = c_void;
type FinishedHandle = c_void;

/// `polyhart_plugin_api`.
#[repr(C)]
struct Api {
    version: u32,
    size: u32,
    setup_counter: unsafe extern "C" fn(*mut SetupHandle) -> i64,
    block_pc: unsafe extern "C" fn(*const BlockHandle) -> u64,
    block_physical: unsafe extern "C" fn(*const BlockHandle) -> u64,
    block_len: unsafe extern "C" fn(*const BlockHandle) -> usize,
    block_insn: unsafe extern "C" fn(*const BlockHandle, usize, *mut InsnInfo) -> c_int,
    plan_on_block: unsafe extern "C" fn(*mut PlanHandle, u64),
    plan_on_insn: unsafe extern "C" fn(*mut PlanHandle, usize, u64),
    plan_on_memory: unsafe extern "C" fn(*mut PlanHandle, usize, u64),
    plan_count_block: unsafe extern "C" fn(*mut PlanHandle, u32, u64),
    plan_count_insn: unsafe extern "C" fn(*mut PlanHandle, usize, u32, u64),
    plan_counter: unsafe extern "C" fn(*mut PlanHandle) -> i64,
    hart_id: unsafe extern "C" fn(*const HartHandle) -> u64,
    hart_pc: unsafe extern "C" fn(*const HartHandle) -> u64,
    hart_x: unsafe extern "C" fn(*const HartHandle, u32) -> u64,
    hart_f: unsafe extern "C" fn(*const HartHandle, u32) -> u64,
    hart_csr: unsafe extern "C" fn(*const HartHandle, u32, *mut u64) -> c_int,
    hart_privilege: unsafe extern "C" fn(*const HartHandle) -> u32,
    hart_retired: unsafe extern "C" fn(*const HartHandle) -> u64,
    hart_read_memory: unsafe extern "C" fn(*const HartHandle, u64, *mut c_void, usize) -> c_int,
    finished_hart: unsafe extern "C" fn(*const FinishedHandle, usize) -> u64,
    finished_user: unsafe extern "C" fn(*const FinishedHandle, usize) -> *mut c_void,
    finished_counter: unsafe extern "C" fn(*const FinishedHandle, usize, u32) -> u64,
    hart_cycle: unsafe extern "C" fn(*const HartHandle) -> u64,
    hart_add_cycles: unsafe extern "C" fn(*const HartHandle, u64),
}

/// `polyhart_plugin`: what the plugin filled in.
#[repr(C)]
#[derive(Copy, Clone)]
struct Desc {
    name: *const c_char,
    user: *mut c_void,
    setup: Option<unsafe extern "C" fn(*mut c_void, *mut SetupHandle)>,
    translate: Option<unsafe extern "C" fn(*mut c_void, *const BlockHandle, *mut PlanHandle)>,
    hart_init: Option<unsafe extern "C" fn(*mut c_void, u64) -> *mut c_void>,
    hart_start: Option<unsafe extern "C" fn(*mut c_void, *const HartHandle)>,
    hart_stop: Option<unsafe extern "C" fn(*mut c_void, *const HartHandle)>,
    block: Option<unsafe extern "C" fn(*mut c_void, *const HartHandle, u64)>,
    insn: Option<unsafe extern "C" fn(*mut c_void, *const HartHandle, u64)>,
    memory: Option<unsafe extern "C" fn(*mut c_void, *const HartHandle, *const MemoryEventC, u64)>,
    trap: Option<unsafe extern "C" fn(*mut c_void, *const HartHandle, *const TrapEventC)>,
    finish: Option<unsafe extern "C" fn(*mut c_void, *const FinishedHandle, usize)>,
}

type Install = unsafe extern "C" fn(*const Api, *mut Desc, c_int, *const *const c_char, *mut c_char, usize) -> c_int;

// The handles, back to what they stand for. Each function below is called
// by a plugin with a handle polyhart passed to the callback in progress,
// which the header says is valid only during that callback.

/// # Safety
/// `handle` is a `Setup` polyhart passed to the callback in progress.
unsafe fn setup<'a>(handle: *mut SetupHandle) -> &'a mut Setup<'a> {
    // SAFETY: as the function's contract says.
    unsafe { &mut *handle.cast::<Setup<'a>>() }
}

/// # Safety
/// `handle` is a `BlockInfo` polyhart passed to the callback in progress.
unsafe fn block<'a>(handle: *const BlockHandle) -> &'a BlockInfo<'a> {
    // SAFETY: as the function's contract says.
    unsafe { &*handle.cast::<BlockInfo<'a>>() }
}

/// # Safety
/// `handle` is a `Plan` polyhart passed to the callback in progress.
unsafe fn plan<'a>(handle: *mut PlanHandle) -> &'a mut Plan<'a> {
    // SAFETY: as the function's contract says.
    unsafe { &mut *handle.cast::<Plan<'a>>() }
}

/// # Safety
/// `handle` is a `HartView` polyhart passed to the callback in progress.
unsafe fn hart<'a>(handle: *const HartHandle) -> &'a HartView<'a> {
    // SAFETY: as the function's contract says.
    unsafe { &*handle.cast::<HartView<'a>>() }
}

/// # Safety
/// `handle` is the `[Finished]` slice polyhart passed to `finish`.
unsafe fn finished<'a>(handle: *const FinishedHandle) -> &'a [Finished] {
    // SAFETY: as the function's contract says: `finish` is given a pointer
    // to the slice (a fat pointer, kept on polyhart's stack).
    unsafe { *handle.cast::<&'a [Finished]>() }
}

fn counter_number(counter: Option<Counter>) -> i64 {
    counter.map_or(-1, |counter| counter.index() as i64)
}

/// A counter from a plugin's number: `Plan` and `Finished` ignore one
/// never handed out, so any number is safe.
fn counter(number: u32) -> Counter {
    Counter::from_index(number as usize)
}

unsafe extern "C" fn api_setup_counter(handle: *mut SetupHandle) -> i64 {
    // SAFETY: the handle is the one setup() was given (the header's contract).
    counter_number(unsafe { setup(handle) }.counter())
}

unsafe extern "C" fn api_block_pc(handle: *const BlockHandle) -> u64 {
    // SAFETY: the handle is the one translate() was given.
    unsafe { block(handle) }.pc()
}

unsafe extern "C" fn api_block_physical(handle: *const BlockHandle) -> u64 {
    // SAFETY: as in `api_block_pc`.
    unsafe { block(handle) }.physical()
}

unsafe extern "C" fn api_block_len(handle: *const BlockHandle) -> usize {
    // SAFETY: as in `api_block_pc`.
    unsafe { block(handle) }.len()
}

unsafe extern "C" fn api_block_insn(handle: *const BlockHandle, index: usize, out: *mut InsnInfo) -> c_int {
    // SAFETY: as in `api_block_pc`.
    let block = unsafe { block(handle) };
    if index >= block.len() || out.is_null() {
        return 0;
    }
    let inst = block.instruction(index);
    let mut disassembly = [0 as c_char; 64];
    for (to, &byte) in disassembly.iter_mut().zip(inst.disassembly().as_bytes().iter().take(63)) {
        *to = byte as c_char;
    }
    let info = InsnInfo {
        pc: inst.pc(),
        physical: inst.physical(),
        raw: inst.raw(),
        len: u32::from(inst.len()),
        insn_class: inst.class().index() as u32,
        memory_size: inst.memory().map_or(0, |memory| u32::from(memory.size)),
        disassembly,
    };
    // SAFETY: `out` points at a `polyhart_insn_info` of the plugin's (the
    // header's contract), checked not null.
    unsafe { out.write(info) };
    1
}

unsafe extern "C" fn api_plan_on_block(handle: *mut PlanHandle, tag: u64) {
    // SAFETY: the handle is the one translate() was given.
    unsafe { plan(handle) }.on_block(tag);
}

unsafe extern "C" fn api_plan_on_insn(handle: *mut PlanHandle, index: usize, tag: u64) {
    // SAFETY: as in `api_plan_on_block`.
    unsafe { plan(handle) }.on_instruction(index, tag);
}

unsafe extern "C" fn api_plan_on_memory(handle: *mut PlanHandle, index: usize, tag: u64) {
    // SAFETY: as in `api_plan_on_block`.
    unsafe { plan(handle) }.on_memory(index, tag);
}

unsafe extern "C" fn api_plan_count_block(handle: *mut PlanHandle, number: u32, amount: u64) {
    // SAFETY: as in `api_plan_on_block`.
    unsafe { plan(handle) }.count_block(counter(number), amount);
}

unsafe extern "C" fn api_plan_count_insn(handle: *mut PlanHandle, index: usize, number: u32, amount: u64) {
    // SAFETY: as in `api_plan_on_block`.
    unsafe { plan(handle) }.count_instruction(index, counter(number), amount);
}

unsafe extern "C" fn api_plan_counter(handle: *mut PlanHandle) -> i64 {
    // SAFETY: as in `api_plan_on_block`.
    counter_number(unsafe { plan(handle) }.counter())
}

unsafe extern "C" fn api_hart_id(handle: *const HartHandle) -> u64 {
    // SAFETY: the handle is the one the per-hart callback was given.
    unsafe { hart(handle) }.hart_id()
}

unsafe extern "C" fn api_hart_pc(handle: *const HartHandle) -> u64 {
    // SAFETY: as in `api_hart_id`.
    unsafe { hart(handle) }.pc()
}

unsafe extern "C" fn api_hart_x(handle: *const HartHandle, reg: u32) -> u64 {
    // SAFETY: as in `api_hart_id`.
    unsafe { hart(handle) }.x((reg & 31) as u8)
}

unsafe extern "C" fn api_hart_f(handle: *const HartHandle, reg: u32) -> u64 {
    // SAFETY: as in `api_hart_id`.
    unsafe { hart(handle) }.f((reg & 31) as u8)
}

unsafe extern "C" fn api_hart_csr(handle: *const HartHandle, number: u32, value: *mut u64) -> c_int {
    // SAFETY: as in `api_hart_id`.
    let hart = unsafe { hart(handle) };
    let Some(read) = u16::try_from(number).ok().and_then(|number| hart.csr(number)) else { return 0 };
    if !value.is_null() {
        // SAFETY: `value` points at the plugin's u64 (the header's
        // contract), checked not null.
        unsafe { value.write(read) };
    }
    1
}

unsafe extern "C" fn api_hart_privilege(handle: *const HartHandle) -> u32 {
    // SAFETY: as in `api_hart_id`.
    unsafe { hart(handle) }.privilege() as u32
}

unsafe extern "C" fn api_hart_retired(handle: *const HartHandle) -> u64 {
    // SAFETY: as in `api_hart_id`.
    unsafe { hart(handle) }.retired()
}

unsafe extern "C" fn api_hart_cycle(handle: *const HartHandle) -> u64 {
    // SAFETY: as in `api_hart_id`.
    unsafe { hart(handle) }.cycle()
}

unsafe extern "C" fn api_hart_add_cycles(handle: *const HartHandle, cycles: u64) {
    // SAFETY: as in `api_hart_id`.
    unsafe { hart(handle) }.add_cycles(cycles)
}

unsafe extern "C" fn api_hart_read_memory(
    handle: *const HartHandle,
    vaddr: u64,
    buf: *mut c_void,
    len: usize,
) -> c_int {
    // SAFETY: as in `api_hart_id`.
    let hart = unsafe { hart(handle) };
    if len == 0 {
        return 1;
    }
    if buf.is_null() {
        return 0;
    }
    // SAFETY: `buf` holds `len` writable bytes of the plugin's (the
    // header's contract), checked not null.
    let buf = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    c_int::from(hart.read_memory(vaddr, buf))
}

unsafe extern "C" fn api_finished_hart(handle: *const FinishedHandle, index: usize) -> u64 {
    // SAFETY: the handle is the one finish() was given.
    unsafe { finished(handle) }.get(index).map_or(u64::MAX, |finished| finished.hart)
}

unsafe extern "C" fn api_finished_user(handle: *const FinishedHandle, index: usize) -> *mut c_void {
    // SAFETY: as in `api_finished_hart`.
    let finished = unsafe { finished(handle) };
    finished
        .get(index)
        .and_then(|finished| finished.observer::<NativeObserver>())
        .map_or(std::ptr::null_mut(), |observer| observer.user)
}

unsafe extern "C" fn api_finished_counter(handle: *const FinishedHandle, index: usize, number: u32) -> u64 {
    // SAFETY: as in `api_finished_hart`.
    unsafe { finished(handle) }.get(index).map_or(0, |finished| finished.counter(counter(number)))
}

static API: Api = Api {
    version: VERSION,
    size: std::mem::size_of::<Api>() as u32,
    setup_counter: api_setup_counter,
    block_pc: api_block_pc,
    block_physical: api_block_physical,
    block_len: api_block_len,
    block_insn: api_block_insn,
    plan_on_block: api_plan_on_block,
    plan_on_insn: api_plan_on_insn,
    plan_on_memory: api_plan_on_memory,
    plan_count_block: api_plan_count_block,
    plan_count_insn: api_plan_count_insn,
    plan_counter: api_plan_counter,
    hart_id: api_hart_id,
    hart_pc: api_hart_pc,
    hart_x: api_hart_x,
    hart_f: api_hart_f,
    hart_csr: api_hart_csr,
    hart_privilege: api_hart_privilege,
    hart_retired: api_hart_retired,
    hart_read_memory: api_hart_read_memory,
    finished_hart: api_finished_hart,
    finished_user: api_finished_user,
    finished_counter: api_finished_counter,
    hart_cycle: api_hart_cycle,
    hart_add_cycles: api_hart_add_cycles,
};

/// A plugin from a shared library. The library stays loaded for the rest
/// of the process (a plugin may have left threads or data behind).
pub struct Native {
    name: String,
    desc: Desc,
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Native").field("name", &self.name).finish_non_exhaustive()
    }
}

// SAFETY: `Native` holds the plugin's callbacks and its `user` pointer. The
// header makes the plugin answer for them: translate() may run on several
// threads at once, setup() and finish() on the installing thread, and
// per-hart data is used by one hart's thread at a time.
unsafe impl Send for Native {}
// SAFETY: as above.
unsafe impl Sync for Native {}

/// Loads the plugin in the shared library at `path`, with `args`
/// (`key=value` each) as its arguments.
pub fn load(path: &Path, args: &[String]) -> Result<Native, PluginError> {
    let failed = |message: String| PluginError::Argument { plugin: path.display().to_string(), message };
    let path_c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| failed("a NUL in the path".into()))?;
    // SAFETY: `path_c` is a NUL-terminated path. Loading runs the
    // library's initializers: the user asked for this library.
    let handle = unsafe { libc::dlopen(path_c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(failed(dl_error()));
    }
    let symbol = |name: &CStr| {
        // SAFETY: `handle` is a library dlopen returned, and `name` a
        // NUL-terminated symbol name.
        let address = unsafe { libc::dlsym(handle, name.as_ptr()) };
        (!address.is_null()).then_some(address)
    };
    let (Some(version), Some(install)) = (symbol(c"polyhart_plugin_version"), symbol(c"polyhart_plugin_install"))
    else {
        return Err(failed(
            "not a polyhart plugin: polyhart_plugin_version or polyhart_plugin_install is missing".into(),
        ));
    };
    // SAFETY: the header declares `polyhart_plugin_version` a `const
    // uint32_t`, and dlsym gave its address.
    let version = unsafe { version.cast::<u32>().read() };
    if version != VERSION {
        return Err(failed(format!("built for plugin interface {version}; this polyhart has {VERSION}")));
    }
    // SAFETY: the header declares `polyhart_plugin_install` with this
    // signature (`Install`).
    let install = unsafe { std::mem::transmute::<*mut c_void, Install>(install) };
    let argv_owned: Vec<CString> = std::iter::once(Ok(path_c.clone()))
        .chain(args.iter().map(|arg| CString::new(arg.as_str())))
        .collect::<Result<_, _>>()
        .map_err(|_| failed("a NUL in an argument".into()))?;
    let argv: Vec<*const c_char> = argv_owned.iter().map(|arg| arg.as_ptr()).collect();
    // SAFETY: all-zero is a valid `Desc`: null pointers and `None`s.
    let mut desc: Desc = unsafe { std::mem::zeroed() };
    let mut error = [0 as c_char; 512];
    // SAFETY: `install` is the plugin's entry point; every pointer passed
    // is valid for the call (`API` for the process), `argv` holds `argc`
    // NUL-terminated strings, and `error` has the length given.
    let status =
        unsafe { install(&API, &mut desc, argv.len() as c_int, argv.as_ptr(), error.as_mut_ptr(), error.len()) };
    if status != 0 {
        error[error.len() - 1] = 0;
        // SAFETY: `error` is NUL-terminated (its last byte at least).
        let message = unsafe { CStr::from_ptr(error.as_ptr()) }.to_string_lossy().into_owned();
        return Err(failed(if message.is_empty() {
            format!("the plugin refused to install ({status})")
        } else {
            message
        }));
    }
    let name = if desc.name.is_null() {
        path.display().to_string()
    } else {
        // SAFETY: the plugin gave a NUL-terminated name (the header's
        // contract), checked not null.
        unsafe { CStr::from_ptr(desc.name) }.to_string_lossy().into_owned()
    };
    Ok(Native { name, desc })
}

/// What dlerror says.
fn dl_error() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated message.
    let message = unsafe { libc::dlerror() };
    if message.is_null() {
        return "cannot load the library".into();
    }
    // SAFETY: checked not null above.
    unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
}

/// A hart's side of a native plugin: its user data.
struct NativeObserver {
    user: *mut c_void,
    desc: Desc,
}

// SAFETY: the hart's user data is used only by the hart's thread while it
// runs, and by finish() afterwards (the header's contract).
unsafe impl Send for NativeObserver {}

fn handle<T>(value: &T) -> *const c_void {
    (value as *const T).cast()
}

impl Observer for NativeObserver {
    fn start(&mut self, hart: &HartView<'_>) {
        if let Some(callback) = self.desc.hart_start {
            // SAFETY: the plugin's callback, given its hart data and a
            // handle valid for the call.
            unsafe { callback(self.user, handle(hart)) };
        }
    }

    fn stop(&mut self, hart: &HartView<'_>) {
        if let Some(callback) = self.desc.hart_stop {
            // SAFETY: as in `start`.
            unsafe { callback(self.user, handle(hart)) };
        }
    }

    fn block(&mut self, hart: &HartView<'_>, tag: u64) {
        if let Some(callback) = self.desc.block {
            // SAFETY: as in `start`.
            unsafe { callback(self.user, handle(hart), tag) };
        }
    }

    fn instruction(&mut self, hart: &HartView<'_>, tag: u64) {
        if let Some(callback) = self.desc.insn {
            // SAFETY: as in `start`.
            unsafe { callback(self.user, handle(hart), tag) };
        }
    }

    fn memory(&mut self, hart: &HartView<'_>, access: &MemoryEvent, tag: u64) {
        let Some(callback) = self.desc.memory else { return };
        let kind = match access.kind {
            MemoryKind::Load => 0,
            MemoryKind::Store => 1,
            MemoryKind::LoadReserved => 2,
            MemoryKind::StoreConditional => 3,
            MemoryKind::Amo(_) => 4,
        };
        let event = MemoryEventC {
            vaddr: access.vaddr,
            paddr: access.paddr,
            value: access.value,
            size: u32::from(access.size),
            kind,
            device: u32::from(access.target == Target::Device),
            reserved: 0,
        };
        // SAFETY: as in `start`; `event` lives through the call.
        unsafe { callback(self.user, handle(hart), &event, tag) };
    }

    fn trap(&mut self, hart: &HartView<'_>, trap: &TrapEvent) {
        let Some(callback) = self.desc.trap else { return };
        let cause = match trap.cause {
            Cause::Exception(exception) => exception as u64,
            Cause::Interrupt(interrupt) => 1 << 63 | interrupt as u64,
        };
        let event = TrapEventC { cause, tval: trap.tval, pc: trap.pc };
        // SAFETY: as in `start`; `event` lives through the call.
        unsafe { callback(self.user, handle(hart), &event) };
    }
}

impl Plugin for Native {
    fn name(&self) -> &str {
        &self.name
    }

    fn setup(&self, setup: &mut Setup<'_>) {
        if let Some(callback) = self.desc.setup {
            // SAFETY: the plugin's callback, given its user pointer and a
            // handle valid for the call.
            unsafe { callback(self.desc.user, (setup as *mut Setup<'_>).cast()) };
        }
    }

    fn translate(&self, block: &BlockInfo<'_>, plan: &mut Plan<'_>) {
        if let Some(callback) = self.desc.translate {
            // SAFETY: as in `setup`.
            unsafe { callback(self.desc.user, handle(block), (plan as *mut Plan<'_>).cast()) };
        }
    }

    fn observer(&self, hart: u64) -> Box<dyn Observer> {
        let user = match self.desc.hart_init {
            // SAFETY: as in `setup`.
            Some(callback) => unsafe { callback(self.desc.user, hart) },
            None => std::ptr::null_mut(),
        };
        Box::new(NativeObserver { user, desc: self.desc })
    }

    fn finish(&self, harts: Vec<Finished>) {
        if let Some(callback) = self.desc.finish {
            let slice: &[Finished] = &harts;
            // SAFETY: as in `setup`; the handle points at `slice`, which
            // lives through the call.
            unsafe { callback(self.desc.user, handle(&slice), harts.len()) };
        }
    }
}
