//! The C ABI: what `cosim/include/polyhart.h` declares.
//!
//! Every function returns a [`polyhart_status`]; none unwinds across the
//! boundary (a panic inside becomes [`polyhart_status::POLYHART_ERR_PANIC`]
//! and leaves the machine unusable: every later call on it answers
//! [`polyhart_status::POLYHART_ERR_POISONED`]). The thread rules are the
//! header's: a machine is driven from one thread at a time; transaction
//! callbacks run on the thread inside `polyhart_advance`; from inside one,
//! only the calls the header marks "callback-safe" may be made (lines,
//! resets, DMI, time queries), the others answer
//! [`polyhart_status::POLYHART_ERR_BUSY`].

#![allow(non_camel_case_types)]

use std::ffi::{CStr, c_char, c_void};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, TryLockError};

use polyhart_iss::{Interrupt, JitConfig};
use polyhart_machine::Engine;
use polyhart_machine::boards::virt::DeviceNode;
use polyhart_machine::{Scheduling, Snapshot, SnapshotError, StopReason, VirtConfig};

use crate::driver::{AdvanceEnd, Cosim, CosimBuilder, Interrupts, Line};
use crate::region::{DmiError, DmiGrant, Region, Status, Target, Transaction};
use crate::time::GlobalTime;
use crate::time::SimTime;

/// What every call answers.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum polyhart_status {
    /// Done.
    POLYHART_OK = 0,
    /// A pointer that must not be null was.
    POLYHART_ERR_NULL = 1,
    /// An argument is out of range: no such hart, line, region or register,
    /// memory outside RAM, a zero size.
    POLYHART_ERR_INVALID = 2,
    /// The machine could not be built; the message says why.
    POLYHART_ERR_BUILD = 3,
    /// A file could not be read.
    POLYHART_ERR_IO = 4,
    /// polyhart failed inside (a bug): the machine must be freed.
    POLYHART_ERR_PANIC = 5,
    /// The call needs the machine, which is busy in `polyhart_advance` (a
    /// call from inside a transaction callback that is not callback-safe).
    POLYHART_ERR_BUSY = 6,
    /// An earlier call failed inside; only `polyhart_free` is left.
    POLYHART_ERR_POISONED = 7,
}

use polyhart_status::*;

impl polyhart_status {
    /// The status whose value is `raw`, if there is one: C may pass any
    /// integer where its header says `polyhart_status`, and a Rust enum
    /// holding a value it does not list is undefined behaviour.
    pub fn from_raw(raw: i32) -> Option<polyhart_status> {
        [
            POLYHART_OK,
            POLYHART_ERR_NULL,
            POLYHART_ERR_INVALID,
            POLYHART_ERR_BUILD,
            POLYHART_ERR_IO,
            POLYHART_ERR_PANIC,
            POLYHART_ERR_BUSY,
            POLYHART_ERR_POISONED,
        ]
        .into_iter()
        .find(|status| *status as i32 == raw)
    }
}

/// How an advance ended (`polyhart_advance_result.end`).
pub const POLYHART_REACHED: u32 = 0;
/// A hart asked to synchronise.
pub const POLYHART_SYNC: u32 = 1;
/// The machine stopped; `stop` says why.
pub const POLYHART_STOPPED: u32 = 2;

/// Why the machine stopped (`polyhart_advance_result.stop`).
pub const POLYHART_STOP_EXIT: u32 = 0;
/// The guest asked for a reset (test finisher); polyhart stops instead.
pub const POLYHART_STOP_RESET: u32 = 1;
/// A hart traps forever without retiring.
pub const POLYHART_STOP_TRAP_LOOP: u32 = 2;
/// Every hart waits and nothing can wake one.
pub const POLYHART_STOP_DEADLOCK: u32 = 3;
/// Stopped from outside.
pub const POLYHART_STOP_STOPPED: u32 = 4;
/// Lockstep found the JIT and the interpreter disagreeing on a block
/// (`hart` says where).
pub const POLYHART_STOP_JIT_DIVERGENCE: u32 = 5;

/// The result of `polyhart_advance`.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct polyhart_advance_result {
    /// `POLYHART_REACHED`, `POLYHART_SYNC` or `POLYHART_STOPPED`.
    pub end: u32,
    /// With `POLYHART_SYNC` the hart that asked; with
    /// `POLYHART_STOP_TRAP_LOOP` the hart that loops.
    pub hart: u32,
    /// With `POLYHART_STOPPED`: one of `POLYHART_STOP_*`.
    pub stop: u32,
    /// With `POLYHART_STOP_EXIT`: the guest's exit status.
    pub exit_code: i32,
    /// The simulated time reached, in picoseconds: the outside should bring
    /// its time here before the next advance.
    pub time_ps: u64,
}

/// A transaction as the C side sees it.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct polyhart_transaction {
    /// 0: read, 1: write.
    pub command: u32,
    /// The issuing hart's `mhartid`.
    pub hart: u32,
    /// Guest physical address.
    pub address: u64,
    /// Data, little-endian; the first `size` bytes count.
    pub data: [u8; 8],
    /// 1, 2, 4 or 8.
    pub size: u8,
    /// Bit i: byte i takes part.
    pub byte_enables: u8,
    /// Out: non-zero makes the hart synchronise.
    pub sync: u8,
    /// Zero.
    pub reserved: u8,
    /// In: the annotated delay (the hart's local time offset), in ps. Out:
    /// plus the access's latency.
    pub delay_ps: u64,
}

/// Serves a transaction; returns 0 (ok), 1 (address error), 2 (command
/// error) or 3 (generic error).
pub type polyhart_transport_fn = unsafe extern "C" fn(user: *mut c_void, tx: *mut polyhart_transaction) -> i32;

/// Receives guest console (UART) output.
pub type polyhart_console_fn = unsafe extern "C" fn(user: *mut c_void, bytes: *const u8, len: usize);

/// A configuration being put together.
#[derive(Debug)]
pub struct polyhart_builder {
    config: VirtConfig,
    quantum: SimTime,
    regions: Vec<(&'static str, u64, u64, CTarget)>,
    /// Per region: its device-tree node, if described.
    nodes: Vec<Option<DeviceNode>>,
}

/// A cosimulated machine.
#[derive(Debug)]
pub struct polyhart_cosim {
    cosim: Mutex<Cosim>,
    interrupts: Interrupts,
    regions: Vec<Arc<Region>>,
    global_time: Arc<GlobalTime>,
}

#[derive(Copy, Clone, Debug)]
struct CTarget {
    serve: polyhart_transport_fn,
    user: *mut c_void,
}

// SAFETY: the callback is only ever called on the thread inside
// `polyhart_advance` (the machine's driver queue is served there), as the header
// promises the C side; the pointer itself is just carried between threads.
unsafe impl Send for CTarget {}
// SAFETY: as above: never called from two threads.
unsafe impl Sync for CTarget {}

impl Target for CTarget {
    fn transport(&self, tx: &mut Transaction) -> Status {
        let mut c = polyhart_transaction {
            command: tx.command as u32,
            hart: tx.hart as u32,
            address: tx.address,
            data: tx.data,
            size: tx.size,
            byte_enables: tx.byte_enables,
            sync: 0,
            reserved: 0,
            delay_ps: tx.delay.0,
        };
        // SAFETY: the C side registered `serve` for `user` and promised it
        // may be called with a valid transaction on the driving thread.
        let answer = unsafe { (self.serve)(self.user, &mut c) };
        tx.data = c.data;
        tx.delay = SimTime(c.delay_ps.max(tx.delay.0));
        tx.sync = c.sync != 0;
        match answer {
            0 => Status::Ok,
            1 => Status::AddressError,
            2 => Status::CommandError,
            _ => Status::GenericError,
        }
    }
}

/// Guest console output to a C callback.
struct CConsole {
    write: polyhart_console_fn,
    user: *mut c_void,
}

// SAFETY: the header tells the C side the console callback is called from
// hart threads, one call at a time (the console serialises its writes).
unsafe impl Send for CConsole {}

impl Write for CConsole {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // SAFETY: `buf` is valid for `buf.len()` bytes during the call.
        unsafe { (self.write)(self.user, buf.as_ptr(), buf.len()) };
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `body`, turning a panic into `POLYHART_ERR_PANIC`.
fn guarded(body: impl FnOnce() -> polyhart_status) -> polyhart_status {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(POLYHART_ERR_PANIC)
}

/// Runs `body` on the machine behind `m`, unless it is busy or poisoned.
///
/// # Safety
/// `m` must be null or a machine from `polyhart_build` not yet freed.
unsafe fn with_cosim(m: *const polyhart_cosim, body: impl FnOnce(&mut Cosim) -> polyhart_status) -> polyhart_status {
    // SAFETY: the caller's contract.
    let Some(m) = (unsafe { m.as_ref() }) else { return POLYHART_ERR_NULL };
    guarded(|| match m.cosim.try_lock() {
        Ok(mut cosim) => body(&mut cosim),
        Err(TryLockError::WouldBlock) => POLYHART_ERR_BUSY,
        Err(TryLockError::Poisoned(_)) => POLYHART_ERR_POISONED,
    })
}

/// Runs `body` on the builder behind `b`.
///
/// # Safety
/// `b` must be null or a builder from `polyhart_builder_new` not yet built
/// or freed.
unsafe fn with_builder(
    b: *mut polyhart_builder,
    body: impl FnOnce(&mut polyhart_builder) -> polyhart_status,
) -> polyhart_status {
    // SAFETY: the caller's contract.
    let Some(b) = (unsafe { b.as_mut() }) else { return POLYHART_ERR_NULL };
    guarded(|| body(b))
}

fn set(b: &mut polyhart_builder, change: impl FnOnce(VirtConfig) -> VirtConfig) -> polyhart_status {
    b.config = change(std::mem::take(&mut b.config));
    POLYHART_OK
}

/// Copies `message` into the caller's buffer, NUL-terminated and cut to fit.
///
/// # Safety
/// `buf` must be null or valid for `len` bytes of writes.
unsafe fn write_message(buf: *mut c_char, len: usize, message: &str) {
    if buf.is_null() || len == 0 {
        return;
    }
    let n = message.len().min(len - 1);
    // SAFETY: the caller's contract; `n + 1 <= len`.
    unsafe {
        std::ptr::copy_nonoverlapping(message.as_ptr(), buf.cast::<u8>(), n);
        *buf.add(n) = 0;
    }
}

/// Whether `len` bytes can be a slice: no object is larger than
/// `isize::MAX` bytes, and making a slice that claims to be is undefined
/// behaviour whatever the pointer.
fn fits_a_slice(len: usize) -> bool {
    isize::try_from(len).is_ok()
}

/// Reads a NUL-terminated path.
///
/// # Safety
/// `path` must be null or a valid C string.
unsafe fn read_file(path: *const c_char) -> Result<Vec<u8>, polyhart_status> {
    if path.is_null() {
        return Err(POLYHART_ERR_NULL);
    }
    // SAFETY: the caller's contract.
    let path = unsafe { CStr::from_ptr(path) };
    let path = path.to_str().map_err(|_| POLYHART_ERR_INVALID)?;
    std::fs::read(path).map_err(|_| POLYHART_ERR_IO)
}

/// Copies `len` bytes from `data`.
///
/// # Safety
/// `data` must be null or valid for `len` bytes of reads.
unsafe fn bytes(data: *const u8, len: usize) -> Result<Vec<u8>, polyhart_status> {
    if data.is_null() {
        return Err(POLYHART_ERR_NULL);
    }
    if !fits_a_slice(len) {
        return Err(POLYHART_ERR_INVALID);
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(data, len) }.to_vec())
}

/// A new configuration: one hart, 128 MiB of RAM, 1 GHz, a 10 µs quantum,
/// harts on their own threads, the interpreter, console to standard output.
///
/// # Safety
/// `out` must be null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_new(out: *mut *mut polyhart_builder) -> polyhart_status {
    if out.is_null() {
        return POLYHART_ERR_NULL;
    }
    let builder = polyhart_builder {
        config: VirtConfig::default(),
        quantum: SimTime::from_micros(10),
        regions: Vec::new(),
        nodes: Vec::new(),
    };
    // SAFETY: checked non-null; the caller's contract.
    unsafe { *out = Box::into_raw(Box::new(builder)) };
    POLYHART_OK
}

/// Frees a configuration that was not built.
///
/// # Safety
/// `b` must be null or a builder not yet built or freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_free(b: *mut polyhart_builder) {
    if !b.is_null() {
        // SAFETY: the caller's contract: it came from `Box::into_raw`.
        drop(unsafe { Box::from_raw(b) });
    }
}

/// Sets the number of harts (1 to 512).
///
/// # Safety
/// `b` must be null or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_set_harts(b: *mut polyhart_builder, harts: u32) -> polyhart_status {
    // SAFETY: the caller's contract.
    unsafe { with_builder(b, |b| set(b, |c| c.harts(harts as usize))) }
}

/// Sets the RAM size in bytes.
///
/// # Safety
/// `b` must be null or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_set_ram_size(b: *mut polyhart_builder, bytes: u64) -> polyhart_status {
    // SAFETY: the caller's contract.
    unsafe { with_builder(b, |b| set(b, |c| c.ram_size(bytes))) }
}

/// Sets the harts' clock in Hz (one instruction per cycle).
///
/// # Safety
/// `b` must be null or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_set_cpu_frequency(b: *mut polyhart_builder, hz: u64) -> polyhart_status {
    if hz == 0 {
        return POLYHART_ERR_INVALID;
    }
    // SAFETY: the caller's contract.
    unsafe {
        with_builder(b, |b| {
            b.config.cpu_frequency = hz;
            POLYHART_OK
        })
    }
}

/// Sets the quantum in picoseconds: how far harts may drift apart inside an
/// advance.
///
/// # Safety
/// `b` must be null or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_set_quantum(b: *mut polyhart_builder, quantum_ps: u64) -> polyhart_status {
    if quantum_ps == 0 {
        return POLYHART_ERR_INVALID;
    }
    // SAFETY: the caller's contract.
    unsafe {
        with_builder(b, |b| {
            b.quantum = SimTime(quantum_ps);
            POLYHART_OK
        })
    }
}

/// Non-zero: all harts on the thread calling `polyhart_advance`, in turn
/// (bit-identical runs); zero: a host thread per hart (the default).
///
/// # Safety
/// `b` must be null or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_set_deterministic(b: *mut polyhart_builder, on: i32) -> polyhart_status {
    let scheduling = if on != 0 { Scheduling::Deterministic } else { Scheduling::Parallel };
    // SAFETY: the caller's contract.
    unsafe { with_builder(b, |b| set(b, |c| c.scheduling(scheduling))) }
}

/// Non-zero: compile hot blocks with the JIT after `threshold` runs, on the
/// JIT's own thread (the default, with a threshold of 50); zero: the
/// interpreter alone.
///
/// # Safety
/// `b` must be null or a live builder.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_set_jit(
    b: *mut polyhart_builder,
    on: i32,
    threshold: u32,
) -> polyhart_status {
    let engine = if on != 0 { Engine::Jit(JitConfig::new(threshold).background(true)) } else { Engine::Interpreter };
    // SAFETY: the caller's contract.
    unsafe { with_builder(b, |b| set(b, |c| c.engine(engine))) }
}

/// The kernel image (ELF or raw binary), copied from `len` bytes at `data`.
///
/// # Safety
/// `b` must be null or a live builder; `data` null or valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_set_kernel(
    b: *mut polyhart_builder,
    data: *const u8,
    len: usize,
) -> polyhart_status {
    // SAFETY: the caller's contract.
    match unsafe { bytes(data, len) } {
        // SAFETY: the caller's contract.
        Ok(image) => unsafe { with_builder(b, |b| set(b, |c| c.kernel(image))) },
        Err(status) => status,
    }
}

/// The kernel image, read from the file at `path`.
///
/// # Safety
/// `b` must be null or a live builder; `path` null or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_set_kernel_file(
    b: *mut polyhart_builder,
    path: *const c_char,
) -> polyhart_status {
    // SAFETY: the caller's contract.
    match unsafe { read_file(path) } {
        // SAFETY: the caller's contract.
        Ok(image) => unsafe { with_builder(b, |b| set(b, |c| c.kernel(image))) },
        Err(status) => status,
    }
}

/// Firmware loaded at the start of RAM (e.g. OpenSBI), read from `path`.
///
/// # Safety
/// `b` must be null or a live builder; `path` null or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_set_firmware_file(
    b: *mut polyhart_builder,
    path: *const c_char,
) -> polyhart_status {
    // SAFETY: the caller's contract.
    match unsafe { read_file(path) } {
        // SAFETY: the caller's contract.
        Ok(image) => unsafe { with_builder(b, |b| set(b, |c| c.firmware(image))) },
        Err(status) => status,
    }
}

/// Sends the guest's console output to `write(user, bytes, len)` instead of
/// standard output. Called from hart threads, one call at a time.
///
/// # Safety
/// `b` must be null or a live builder; `write` and `user` must stay usable
/// from any thread for the machine's life.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_set_console(
    b: *mut polyhart_builder,
    write: Option<polyhart_console_fn>,
    user: *mut c_void,
) -> polyhart_status {
    let Some(write) = write else { return POLYHART_ERR_NULL };
    // SAFETY: the caller's contract.
    unsafe { with_builder(b, |b| set(b, |c| c.console(CConsole { write, user }))) }
}

/// Claims `[base, base + size)` as an external region served by
/// `serve(user, tx)` on the thread inside `polyhart_advance`. Its index
/// (0, 1, … in the order added) goes to `*index` if `index` is not null.
/// An empty region, or one that runs past the end of the address space,
/// is `POLYHART_ERR_INVALID`.
///
/// # Safety
/// `b` must be null or a live builder; `name` null or a C string; `serve`
/// and `user` usable on the thread that will call `polyhart_advance` for
/// the machine's life; `index` null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_add_region(
    b: *mut polyhart_builder,
    name: *const c_char,
    base: u64,
    size: u64,
    serve: Option<polyhart_transport_fn>,
    user: *mut c_void,
    index: *mut u32,
) -> polyhart_status {
    let Some(serve) = serve else { return POLYHART_ERR_NULL };
    if b.is_null() {
        return POLYHART_ERR_NULL;
    }
    if size == 0 || base.checked_add(size).is_none() {
        return POLYHART_ERR_INVALID;
    }
    let name: &'static str = if name.is_null() {
        "external"
    } else {
        // SAFETY: the caller's contract. The name lives as long as the
        // process (the bus keeps `'static` names for its error messages;
        // regions are few).
        match unsafe { CStr::from_ptr(name) }.to_str() {
            Ok(name) => Box::leak(name.to_owned().into_boxed_str()),
            Err(_) => return POLYHART_ERR_INVALID,
        }
    };
    // SAFETY: the caller's contract.
    unsafe {
        with_builder(b, |b| {
            if !index.is_null() {
                *index = b.regions.len() as u32;
            }
            b.regions.push((name, base, size, CTarget { serve, user }));
            b.nodes.push(None);
            POLYHART_OK
        })
    }
}

/// Announces region `index` (as `polyhart_builder_add_region` numbered it)
/// in the device tree the guest is handed: a node `/soc/NAME@BASE` with
/// `count` `compatible` strings, most specific first, its window as `reg`
/// and, when `irq` is not 0, PLIC source `irq` as its interrupt, so that
/// Linux or U-Boot find the device. A source the board's own devices drive
/// (1-8 virtio, 10 UART, 11 RTC) or beyond 95 fails the build. An unknown
/// region, an empty name or list, or text that is not UTF-8 is
/// `POLYHART_ERR_INVALID`.
///
/// # Safety
/// `b` must be null or a live builder; `name` null or a C string;
/// `compatible` null or `count` pointers, each null or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_builder_describe_region(
    b: *mut polyhart_builder,
    index: u32,
    name: *const c_char,
    compatible: *const *const c_char,
    count: usize,
    irq: u32,
) -> polyhart_status {
    if b.is_null() || name.is_null() || compatible.is_null() {
        return POLYHART_ERR_NULL;
    }
    // SAFETY: the caller's contract: a C string.
    let Ok(name) = unsafe { CStr::from_ptr(name) }.to_str() else { return POLYHART_ERR_INVALID };
    if name.is_empty() || count == 0 || count > 64 {
        return POLYHART_ERR_INVALID;
    }
    let mut strings = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: the caller's contract: `count` readable pointers.
        let entry = unsafe { *compatible.add(i) };
        if entry.is_null() {
            return POLYHART_ERR_NULL;
        }
        // SAFETY: the caller's contract: each a C string.
        match unsafe { CStr::from_ptr(entry) }.to_str() {
            Ok(text) if !text.is_empty() => strings.push(text.to_owned()),
            _ => return POLYHART_ERR_INVALID,
        }
    }
    let node = DeviceNode { name: name.to_owned(), compatible: strings, interrupt: (irq != 0).then_some(irq) };
    // SAFETY: the caller's contract.
    unsafe {
        with_builder(b, |b| match b.nodes.get_mut(index as usize) {
            Some(slot) => {
                *slot = Some(node);
                POLYHART_OK
            }
            None => POLYHART_ERR_INVALID,
        })
    }
}

/// Builds the machine from `b`, which is consumed (freed) whether or not
/// this succeeds. On failure, a message goes to `error` (NUL-terminated, cut
/// to `error_len` bytes) if it is not null.
///
/// # Safety
/// `b` must be null or a live builder; `out` null or valid for a write;
/// `error` null or valid for `error_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_build(
    b: *mut polyhart_builder,
    out: *mut *mut polyhart_cosim,
    error: *mut c_char,
    error_len: usize,
) -> polyhart_status {
    if b.is_null() || out.is_null() {
        // SAFETY: the caller's contract.
        unsafe { polyhart_builder_free(b) };
        return POLYHART_ERR_NULL;
    }
    // SAFETY: the caller's contract: it came from `Box::into_raw`.
    let builder = unsafe { Box::from_raw(b) };
    let built = catch_unwind(AssertUnwindSafe(move || {
        let polyhart_builder { config, quantum, regions, nodes } = *builder;
        let mut cosim = CosimBuilder::new(config).quantum(quantum);
        for (index, ((name, base, size, target), node)) in regions.into_iter().zip(nodes).enumerate() {
            cosim.region(name, base, size, target);
            if let Some(node) = node {
                cosim.describe_region(index, node);
            }
        }
        cosim.build()
    }));
    match built {
        Ok(Ok(cosim)) => {
            let interrupts = cosim.interrupts().clone();
            let regions = cosim.regions().to_vec();
            let global_time = cosim.global_time().clone();
            let machine = polyhart_cosim { cosim: Mutex::new(cosim), interrupts, regions, global_time };
            // SAFETY: checked non-null; the caller's contract.
            unsafe { *out = Box::into_raw(Box::new(machine)) };
            POLYHART_OK
        }
        Ok(Err(e)) => {
            // SAFETY: the caller's contract.
            unsafe { write_message(error, error_len, &e.to_string()) };
            POLYHART_ERR_BUILD
        }
        Err(_) => POLYHART_ERR_PANIC,
    }
}

/// Frees a machine. From inside a transaction callback, while the advance
/// that called it still uses the machine, it does nothing.
///
/// # Safety
/// `m` must be null or a machine not yet freed, and no call on it in
/// progress on another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_free(m: *mut polyhart_cosim) {
    // SAFETY: the caller's contract: null or live.
    let Some(machine) = (unsafe { m.as_ref() }) else { return };
    if matches!(machine.cosim.try_lock(), Err(TryLockError::WouldBlock)) {
        // The advance in progress on this thread holds the lock: freeing
        // the machine would pull it from under that call and its harts.
        return;
    }
    // SAFETY: the caller's contract: it came from `Box::into_raw`, and no
    // call on it is in progress (checked above for this thread's own).
    let machine = unsafe { Box::from_raw(m) };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(machine)));
}

/// Runs every hart until its local time reaches the outside's time plus
/// `duration_ps`, a hart asks to synchronise, or the machine stops; the
/// result goes to `*result`. Transaction callbacks run on this thread
/// meanwhile.
///
/// # Safety
/// `m` must be null or a live machine; `result` null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_advance(
    m: *const polyhart_cosim,
    duration_ps: u64,
    result: *mut polyhart_advance_result,
) -> polyhart_status {
    if result.is_null() {
        return POLYHART_ERR_NULL;
    }
    // SAFETY: the caller's contract.
    unsafe {
        with_cosim(m, |cosim| {
            let advance = cosim.advance(SimTime(duration_ps));
            let mut r = polyhart_advance_result { time_ps: advance.time.0, ..Default::default() };
            match advance.end {
                AdvanceEnd::Reached | AdvanceEnd::Scheduled => r.end = POLYHART_REACHED,
                AdvanceEnd::Sync { hart } => {
                    r.end = POLYHART_SYNC;
                    r.hart = hart as u32;
                }
                AdvanceEnd::Stopped(reason) => {
                    r.end = POLYHART_STOPPED;
                    r.stop = match reason {
                        StopReason::Exit(code) => {
                            r.exit_code = code;
                            POLYHART_STOP_EXIT
                        }
                        StopReason::Reset => POLYHART_STOP_RESET,
                        StopReason::TrapLoop { hart, .. } => {
                            r.hart = hart as u32;
                            POLYHART_STOP_TRAP_LOOP
                        }
                        StopReason::Deadlock => POLYHART_STOP_DEADLOCK,
                        StopReason::JitDivergence { hart, .. } => {
                            r.hart = hart as u32;
                            POLYHART_STOP_JIT_DIVERGENCE
                        }
                        _ => POLYHART_STOP_STOPPED,
                    };
                }
            }
            *result = r;
            POLYHART_OK
        })
    }
}

/// The outside's time (where the last advance ended), in ps.
/// Callback-safe.
///
/// # Safety
/// `m` must be null or a live machine; `ps` null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_now(m: *const polyhart_cosim, ps: *mut u64) -> polyhart_status {
    // SAFETY: the caller's contract.
    let (Some(m), false) = (unsafe { m.as_ref() }, ps.is_null()) else { return POLYHART_ERR_NULL };
    // SAFETY: checked non-null; the caller's contract.
    guarded(|| unsafe {
        *ps = m.global_time.now().0;
        POLYHART_OK
    })
}

/// Hart `hart`'s local time in ps (between advances).
///
/// # Safety
/// `m` must be null or a live machine; `ps` null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_local_time(m: *const polyhart_cosim, hart: u32, ps: *mut u64) -> polyhart_status {
    if ps.is_null() {
        return POLYHART_ERR_NULL;
    }
    // SAFETY: the caller's contract.
    unsafe {
        with_cosim(m, |cosim| match cosim.local_time(hart as usize) {
            Some(t) => {
                *ps = t.0;
                POLYHART_OK
            }
            None => POLYHART_ERR_INVALID,
        })
    }
}

/// Drives PLIC source `source` (1 to 95, but for those the board's own
/// devices drive: 10 the UART's, 11 the RTC's) to `level` (non-zero: high)
/// at once. Callback-safe.
///
/// # Safety
/// `m` must be null or a live machine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_set_irq(m: *const polyhart_cosim, source: u32, level: i32) -> polyhart_status {
    // SAFETY: the caller's contract.
    unsafe { polyhart_set_irq_at(m, source, level, 0) }
}

/// Drives PLIC source `source` to `level` when simulated time reaches
/// `at_ps` (at once if it has). Callback-safe.
///
/// # Safety
/// `m` must be null or a live machine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_set_irq_at(
    m: *const polyhart_cosim,
    source: u32,
    level: i32,
    at_ps: u64,
) -> polyhart_status {
    // SAFETY: the caller's contract.
    let Some(m) = (unsafe { m.as_ref() }) else { return POLYHART_ERR_NULL };
    guarded(|| match m.interrupts.set_at(Line::Plic(source), level != 0, SimTime(at_ps)) {
        Ok(()) => POLYHART_OK,
        Err(_) => POLYHART_ERR_INVALID,
    })
}

/// Drives hart `hart`'s `mip` bit `irq` to `level` at once: 1 (SSIP) or 5
/// (STIP), the lines nothing on the board drives; the others (3 MSIP, 7
/// MTIP, 9 SEIP, 11 MEIP, which the ACLINT and the PLIC drive) are
/// `POLYHART_ERR_INVALID`. Callback-safe.
///
/// # Safety
/// `m` must be null or a live machine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_set_hart_irq(
    m: *const polyhart_cosim,
    hart: u32,
    irq: u32,
    level: i32,
) -> polyhart_status {
    // SAFETY: the caller's contract.
    let Some(m) = (unsafe { m.as_ref() }) else { return POLYHART_ERR_NULL };
    let Some(irq) = Interrupt::BY_PRIORITY.into_iter().find(|i| *i as u32 == irq) else { return POLYHART_ERR_INVALID };
    guarded(|| match m.interrupts.set(Line::Hart { hart: hart as usize, irq }, level != 0) {
        Ok(()) => POLYHART_OK,
        Err(_) => POLYHART_ERR_INVALID,
    })
}

/// Resets hart `hart` when simulated time reaches `at_ps`; it starts again
/// at the reset vector. Callback-safe.
///
/// # Safety
/// `m` must be null or a live machine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_reset_hart_at(m: *const polyhart_cosim, hart: u32, at_ps: u64) -> polyhart_status {
    // SAFETY: the caller's contract.
    let Some(m) = (unsafe { m.as_ref() }) else { return POLYHART_ERR_NULL };
    guarded(|| match m.interrupts.reset_at(hart as usize, SimTime(at_ps)) {
        Ok(()) => POLYHART_OK,
        Err(_) => POLYHART_ERR_INVALID,
    })
}

/// Grants direct access to `[start, start + len)` of region `region`
/// through `host`: accesses there skip the transaction callback. `read` /
/// `write` non-zero allow them; the latencies are added per access. A
/// grant replaces the earlier ones it covers and allows as much as, so
/// granting the same range again adds nothing. Callback-safe.
///
/// # Safety
/// `m` must be null or a live machine; `host` must be valid for reads and
/// writes of `len` bytes from any thread until a revoke covering it returns
/// or the machine is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_grant_dmi(
    m: *const polyhart_cosim,
    region: u32,
    start: u64,
    len: u64,
    host: *mut u8,
    read: i32,
    write: i32,
    read_latency_ps: u64,
    write_latency_ps: u64,
) -> polyhart_status {
    // SAFETY: the caller's contract.
    let Some(m) = (unsafe { m.as_ref() }) else { return POLYHART_ERR_NULL };
    let Some(region) = m.regions.get(region as usize) else { return POLYHART_ERR_INVALID };
    let grant = DmiGrant {
        start,
        len,
        host,
        read: read != 0,
        write: write != 0,
        read_latency: SimTime(read_latency_ps),
        write_latency: SimTime(write_latency_ps),
    };
    // SAFETY: the caller's contract is `grant_dmi`'s.
    guarded(|| match unsafe { region.grant_dmi(grant) } {
        Ok(()) => POLYHART_OK,
        Err(DmiError::NullPointer) => POLYHART_ERR_NULL,
        Err(DmiError::OutsideRegion { .. }) => POLYHART_ERR_INVALID,
    })
}

/// Revokes every DMI grant of region `region` overlapping `[start, end)`;
/// returns once no hart can use them (`invalidate_direct_mem_ptr`). `end`
/// is exclusive, and 0 stands for 2^64, the end of the address space:
/// TLM's inclusive range for everything, 0 to `~0`, becomes `(0, ~0 + 1)`
/// = `(0, 0)` as an exclusive one, and revokes every grant. An empty or
/// inverted range otherwise (`start >= end`) is `POLYHART_ERR_INVALID`.
/// Callback-safe.
///
/// # Safety
/// `m` must be null or a live machine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_revoke_dmi(
    m: *const polyhart_cosim,
    region: u32,
    start: u64,
    end: u64,
) -> polyhart_status {
    // SAFETY: the caller's contract.
    let Some(m) = (unsafe { m.as_ref() }) else { return POLYHART_ERR_NULL };
    let Some(region) = m.regions.get(region as usize) else { return POLYHART_ERR_INVALID };
    guarded(|| match end {
        0 => {
            region.revoke_dmi(start..);
            POLYHART_OK
        }
        end if start < end => {
            region.revoke_dmi(start..end);
            POLYHART_OK
        }
        _ => POLYHART_ERR_INVALID,
    })
}

/// Reads integer register `index` (0 to 31) of hart `hart`.
///
/// # Safety
/// `m` must be null or a live machine; `value` null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_read_reg(
    m: *const polyhart_cosim,
    hart: u32,
    index: u32,
    value: *mut u64,
) -> polyhart_status {
    if value.is_null() {
        return POLYHART_ERR_NULL;
    }
    // SAFETY: the caller's contract.
    unsafe {
        with_cosim(m, |cosim| match cosim.machine().harts().get(hart as usize) {
            Some(h) if index < 32 => {
                *value = h.state().reg(index as u8);
                POLYHART_OK
            }
            _ => POLYHART_ERR_INVALID,
        })
    }
}

/// Writes integer register `index` (1 to 31; writes to 0 are ignored).
///
/// # Safety
/// `m` must be null or a live machine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_write_reg(
    m: *const polyhart_cosim,
    hart: u32,
    index: u32,
    value: u64,
) -> polyhart_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_cosim(m, |cosim| match cosim.machine_mut().harts_mut().get_mut(hart as usize) {
            Some(h) if index < 32 => {
                h.state_mut().set_reg(index as u8, value);
                POLYHART_OK
            }
            _ => POLYHART_ERR_INVALID,
        })
    }
}

/// Reads hart `hart`'s pc.
///
/// # Safety
/// `m` must be null or a live machine; `value` null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_read_pc(m: *const polyhart_cosim, hart: u32, value: *mut u64) -> polyhart_status {
    if value.is_null() {
        return POLYHART_ERR_NULL;
    }
    // SAFETY: the caller's contract.
    unsafe {
        with_cosim(m, |cosim| match cosim.machine().harts().get(hart as usize) {
            Some(h) => {
                *value = h.state().pc;
                POLYHART_OK
            }
            None => POLYHART_ERR_INVALID,
        })
    }
}

/// Sets hart `hart`'s pc; an odd one (no instruction starts there) is
/// `POLYHART_ERR_INVALID`.
///
/// # Safety
/// `m` must be null or a live machine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_write_pc(m: *const polyhart_cosim, hart: u32, value: u64) -> polyhart_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_cosim(m, |cosim| match cosim.machine_mut().harts_mut().get_mut(hart as usize) {
            Some(h) if value.is_multiple_of(2) => {
                h.state_mut().pc = value;
                POLYHART_OK
            }
            _ => POLYHART_ERR_INVALID,
        })
    }
}

/// Instructions retired by all harts together.
///
/// # Safety
/// `m` must be null or a live machine; `count` null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_instructions(m: *const polyhart_cosim, count: *mut u64) -> polyhart_status {
    if count.is_null() {
        return POLYHART_ERR_NULL;
    }
    // SAFETY: the caller's contract.
    unsafe {
        with_cosim(m, |cosim| {
            *count = cosim.machine().instructions();
            POLYHART_OK
        })
    }
}

/// Serves GDB: listens on `address` (`"127.0.0.1:1234"`; null: that),
/// waits for GDB to connect, and holds the machine until GDB continues it;
/// from then on GDB's stops happen inside `polyhart_advance`, with
/// simulated time standing still ([`Cosim::debug`]).
///
/// # Safety
/// `m` must be null or a live machine; `address` null or a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_debug(m: *const polyhart_cosim, address: *const c_char) -> polyhart_status {
    let address = if address.is_null() {
        "127.0.0.1:1234".to_string()
    } else {
        // SAFETY: the caller's contract: a C string.
        match unsafe { CStr::from_ptr(address) }.to_str() {
            Ok(text) => text.to_string(),
            Err(_) => return POLYHART_ERR_INVALID,
        }
    };
    // SAFETY: the caller's contract.
    unsafe {
        with_cosim(m, |cosim| {
            let Ok(listener) = std::net::TcpListener::bind(&address) else { return POLYHART_ERR_IO };
            let Ok((stream, _)) = listener.accept() else { return POLYHART_ERR_IO };
            match cosim.debug(stream) {
                Ok(()) => POLYHART_OK,
                Err(_) => POLYHART_ERR_IO,
            }
        })
    }
}

/// Runs `operation` on the machine behind `m` with the path in `path`;
/// an error's reason goes to `error` (up to `error_len` bytes) if it is
/// not null: `POLYHART_ERR_IO` for a file that cannot be read or written,
/// `POLYHART_ERR_INVALID` for another machine's snapshot or a damaged one.
///
/// # Safety
/// As for the snapshot functions below.
unsafe fn with_snapshot_file(
    m: *const polyhart_cosim,
    path: *const c_char,
    error: *mut c_char,
    error_len: usize,
    operation: impl FnOnce(&mut Cosim, &std::path::Path) -> Result<(), SnapshotError>,
) -> polyhart_status {
    if path.is_null() {
        return POLYHART_ERR_INVALID;
    }
    // SAFETY: the caller's contract: a C string.
    let Ok(path) = unsafe { CStr::from_ptr(path) }.to_str() else { return POLYHART_ERR_INVALID };
    // SAFETY: the caller's contract.
    unsafe {
        with_cosim(m, |cosim| match operation(cosim, std::path::Path::new(path)) {
            Ok(()) => POLYHART_OK,
            Err(e) => {
                // SAFETY: the caller's contract.
                write_message(error, error_len, &e.to_string());
                match e {
                    SnapshotError::Io(_) => POLYHART_ERR_IO,
                    _ => POLYHART_ERR_INVALID,
                }
            }
        })
    }
}

/// Saves the whole machine to the file at `path`, between advances
/// ([`Cosim::save_snapshot`]); on failure, the reason goes to `error` (up
/// to `error_len` bytes) if it is not null.
///
/// # Safety
/// `m` must be null or a live machine; `path` null or a C string; `error`
/// null or valid for `error_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_snapshot_save(
    m: *const polyhart_cosim,
    path: *const c_char,
    error: *mut c_char,
    error_len: usize,
) -> polyhart_status {
    // SAFETY: the caller's contract.
    unsafe { with_snapshot_file(m, path, error, error_len, |cosim, path| cosim.save_snapshot(path)) }
}

/// Makes the machine the one saved in the file at `path`, between
/// advances ([`Cosim::restore`]): it must have been built as the saved one
/// was. On failure the machine is as it was, and the reason goes to
/// `error` (up to `error_len` bytes) if it is not null.
///
/// # Safety
/// `m` must be null or a live machine; `path` null or a C string; `error`
/// null or valid for `error_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_snapshot_restore(
    m: *const polyhart_cosim,
    path: *const c_char,
    error: *mut c_char,
    error_len: usize,
) -> polyhart_status {
    // SAFETY: the caller's contract.
    unsafe {
        with_snapshot_file(m, path, error, error_len, |cosim, path| {
            Snapshot::open(path).and_then(|snapshot| cosim.restore(&snapshot))
        })
    }
}

/// Copies `len` bytes of guest RAM at physical `addr` to `buf`.
///
/// # Safety
/// `m` must be null or a live machine; `buf` null or valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_read_memory(
    m: *const polyhart_cosim,
    addr: u64,
    buf: *mut u8,
    len: usize,
) -> polyhart_status {
    if buf.is_null() {
        return POLYHART_ERR_NULL;
    }
    if !fits_a_slice(len) {
        return POLYHART_ERR_INVALID;
    }
    // SAFETY: the caller's contract; `len` fits a slice.
    unsafe {
        with_cosim(m, |cosim| {
            let out = std::slice::from_raw_parts_mut(buf, len);
            if cosim.machine().read_memory(addr, out) { POLYHART_OK } else { POLYHART_ERR_INVALID }
        })
    }
}

/// Copies `len` bytes from `data` into guest RAM at physical `addr`.
///
/// # Safety
/// `m` must be null or a live machine; `data` null or valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn polyhart_write_memory(
    m: *const polyhart_cosim,
    addr: u64,
    data: *const u8,
    len: usize,
) -> polyhart_status {
    if data.is_null() {
        return POLYHART_ERR_NULL;
    }
    if !fits_a_slice(len) {
        return POLYHART_ERR_INVALID;
    }
    // SAFETY: the caller's contract; `len` fits a slice.
    unsafe {
        with_cosim(m, |cosim| {
            let bytes = std::slice::from_raw_parts(data, len);
            if cosim.machine().write_memory(addr, bytes) { POLYHART_OK } else { POLYHART_ERR_INVALID }
        })
    }
}

/// A short name for a status, e.g. "POLYHART_ERR_BUSY", or
/// "POLYHART_UNKNOWN_STATUS" for a value that is none. Takes the status as
/// the integer C passes.
#[unsafe(no_mangle)]
pub extern "C" fn polyhart_status_name(status: i32) -> *const c_char {
    let Some(status) = polyhart_status::from_raw(status) else { return c"POLYHART_UNKNOWN_STATUS".as_ptr() };
    let name: &'static CStr = match status {
        POLYHART_OK => c"POLYHART_OK",
        POLYHART_ERR_NULL => c"POLYHART_ERR_NULL",
        POLYHART_ERR_INVALID => c"POLYHART_ERR_INVALID",
        POLYHART_ERR_BUILD => c"POLYHART_ERR_BUILD",
        POLYHART_ERR_IO => c"POLYHART_ERR_IO",
        POLYHART_ERR_PANIC => c"POLYHART_ERR_PANIC",
        POLYHART_ERR_BUSY => c"POLYHART_ERR_BUSY",
        POLYHART_ERR_POISONED => c"POLYHART_ERR_POISONED",
    };
    name.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_pointers_are_refused_not_dereferenced() {
        // SAFETY: null is allowed for every pointer argument.
        unsafe {
            assert_eq!(polyhart_builder_new(std::ptr::null_mut()), POLYHART_ERR_NULL);
            assert_eq!(polyhart_builder_set_harts(std::ptr::null_mut(), 2), POLYHART_ERR_NULL);
            assert_eq!(polyhart_advance(std::ptr::null(), 1, std::ptr::null_mut()), POLYHART_ERR_NULL);
            let mut r = polyhart_advance_result::default();
            assert_eq!(polyhart_advance(std::ptr::null(), 1, &mut r), POLYHART_ERR_NULL);
            assert_eq!(polyhart_set_irq(std::ptr::null(), 3, 1), POLYHART_ERR_NULL);
            assert_eq!(
                polyhart_build(std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut(), 0),
                POLYHART_ERR_NULL
            );
            polyhart_free(std::ptr::null_mut());
            polyhart_builder_free(std::ptr::null_mut());
        }
    }

    /// `tests/guest/cosim.c`, which talks to a region at 0x2000_0000.
    const GUEST: &[u8] = include_bytes!("../../tests/guest/cosim.elf");
    const EXT_BASE: u64 = 0x2000_0000;

    unsafe extern "C" fn no_device(_user: *mut c_void, _tx: *mut polyhart_transaction) -> i32 {
        1
    }

    /// A machine running `GUEST`, with its region of 16 KiB at `EXT_BASE`.
    fn machine() -> *mut polyhart_cosim {
        let mut b = std::ptr::null_mut();
        let mut m = std::ptr::null_mut();
        // SAFETY: valid pointers throughout; the builder is consumed.
        unsafe {
            assert_eq!(polyhart_builder_new(&mut b), POLYHART_OK);
            assert_eq!(polyhart_builder_set_kernel(b, GUEST.as_ptr(), GUEST.len()), POLYHART_OK);
            let name = c"devices".as_ptr();
            let serve = Some(no_device as polyhart_transport_fn);
            let mut index = 9;
            assert_eq!(
                polyhart_builder_add_region(b, name, EXT_BASE, 0x4000, serve, std::ptr::null_mut(), &mut index),
                POLYHART_OK
            );
            assert_eq!(index, 0);
            assert_eq!(polyhart_build(b, &mut m, std::ptr::null_mut(), 0), POLYHART_OK);
        }
        m
    }

    #[test]
    fn a_status_c_made_up_has_a_name_and_no_crash() {
        for raw in [8, 42, -1, i32::MIN, i32::MAX] {
            assert_eq!(polyhart_status::from_raw(raw), None);
            // SAFETY: the name is a static C string.
            assert_eq!(unsafe { CStr::from_ptr(polyhart_status_name(raw)) }, c"POLYHART_UNKNOWN_STATUS");
        }
        for status in [POLYHART_OK, POLYHART_ERR_BUSY, POLYHART_ERR_POISONED] {
            assert_eq!(polyhart_status::from_raw(status as i32), Some(status));
        }
        // SAFETY: as above.
        assert_eq!(unsafe { CStr::from_ptr(polyhart_status_name(6)) }, c"POLYHART_ERR_BUSY");
    }

    #[test]
    fn a_described_region_is_in_the_guests_device_tree() {
        let build = |irq: u32| {
            let mut b = std::ptr::null_mut();
            let mut m = std::ptr::null_mut();
            let serve = Some(no_device as polyhart_transport_fn);
            let compatible = [c"acme,widget-2".as_ptr(), c"acme,widget".as_ptr()];
            let none = std::ptr::null_mut();
            // SAFETY: valid pointers throughout; the builder is consumed.
            unsafe {
                assert_eq!(polyhart_builder_new(&mut b), POLYHART_OK);
                assert_eq!(polyhart_builder_set_kernel(b, GUEST.as_ptr(), GUEST.len()), POLYHART_OK);
                assert_eq!(
                    polyhart_builder_add_region(b, c"widget".as_ptr(), EXT_BASE, 0x4000, serve, none, none.cast()),
                    POLYHART_OK
                );
                let describe = |index, name: *const c_char, list: *const *const c_char, count| {
                    polyhart_builder_describe_region(b, index, name, list, count, irq)
                };
                assert_eq!(describe(1, c"widget".as_ptr(), compatible.as_ptr(), 2), POLYHART_ERR_INVALID);
                assert_eq!(describe(0, c"".as_ptr(), compatible.as_ptr(), 2), POLYHART_ERR_INVALID);
                assert_eq!(describe(0, c"widget".as_ptr(), compatible.as_ptr(), 0), POLYHART_ERR_INVALID);
                assert_eq!(describe(0, std::ptr::null(), compatible.as_ptr(), 2), POLYHART_ERR_NULL);
                assert_eq!(describe(0, c"widget".as_ptr(), compatible.as_ptr(), 2), POLYHART_OK);
                let status = polyhart_build(b, &mut m, std::ptr::null_mut(), 0);
                (status, m)
            }
        };
        let (status, m) = build(12);
        assert_eq!(status, POLYHART_OK);
        // SAFETY: a live machine, freed below.
        let tree = unsafe { m.as_ref() }.unwrap().cosim.lock().unwrap().machine().board().device_tree().to_vec();
        // SAFETY: a live machine, not used after.
        unsafe { polyhart_free(m) };
        let contains = |needle: &[u8]| tree.windows(needle.len()).any(|w| w == needle);
        assert!(contains(b"widget@20000000\0"), "the node");
        assert!(contains(b"acme,widget-2\0acme,widget\0"), "its compatible list");
        // A source the board's own devices drive fails the build.
        assert_eq!(build(3).0, POLYHART_ERR_BUILD);
    }

    #[test]
    fn regions_that_wrap_past_the_address_space_are_refused() {
        let mut b = std::ptr::null_mut();
        let serve = Some(no_device as polyhart_transport_fn);
        let none = std::ptr::null_mut();
        // SAFETY: valid pointers throughout.
        unsafe {
            assert_eq!(polyhart_builder_new(&mut b), POLYHART_OK);
            let add =
                |base, size| polyhart_builder_add_region(b, std::ptr::null(), base, size, serve, none, none.cast());
            assert_eq!(add(u64::MAX - 0xfff, 0x2000), POLYHART_ERR_INVALID);
            assert_eq!(add(1 << 40, u64::MAX), POLYHART_ERR_INVALID);
            assert_eq!(add(0x4000_0000, 0), POLYHART_ERR_INVALID);
            assert_eq!(add(u64::MAX - 0xfff, 0xfff), POLYHART_OK, "ends at 2^64 - 1");
            assert_eq!(b.as_ref().unwrap().regions.len(), 1);
            polyhart_builder_free(b);
            let no_builder = std::ptr::null_mut();
            assert_eq!(
                polyhart_builder_add_region(
                    no_builder,
                    std::ptr::null(),
                    0x4000_0000,
                    0x1000,
                    serve,
                    none,
                    none.cast()
                ),
                POLYHART_ERR_NULL
            );
        }
    }

    #[test]
    fn dmi_revokes_cover_their_range_and_grants_do_not_pile_up() {
        let m = machine();
        let mut host = vec![0u8; 0x4000];
        let grants = || {
            // SAFETY: `m` is live until freed below.
            unsafe { m.as_ref().unwrap() }.regions[0].stats().dmi_grants
        };
        // SAFETY: `host` outlives the machine, which never runs; `m` is
        // live until freed at the end.
        unsafe {
            let grant = |start: u64, len, host: *mut u8| polyhart_grant_dmi(m, 0, start, len, host, 1, 1, 0, 0);
            for _ in 0..10 {
                assert_eq!(grant(EXT_BASE, 0x4000, host.as_mut_ptr()), POLYHART_OK);
            }
            assert_eq!(grants(), 1, "the same grant ten times");
            assert_eq!(grant(EXT_BASE, 0x4000, std::ptr::null_mut()), POLYHART_ERR_NULL);
            assert_eq!(grant(EXT_BASE + 0x3000, 0x2000, host.as_mut_ptr()), POLYHART_ERR_INVALID);
            assert_eq!(grant(u64::MAX - 4, 8, host.as_mut_ptr()), POLYHART_ERR_INVALID);
            assert_eq!(polyhart_grant_dmi(m, 1, EXT_BASE, 8, host.as_mut_ptr(), 1, 1, 0, 0), POLYHART_ERR_INVALID);

            // Empty or inverted ranges say so, and revoke nothing.
            assert_eq!(polyhart_revoke_dmi(m, 0, EXT_BASE + 8, EXT_BASE + 8), POLYHART_ERR_INVALID);
            assert_eq!(polyhart_revoke_dmi(m, 0, EXT_BASE + 8, EXT_BASE), POLYHART_ERR_INVALID);
            assert_eq!(polyhart_revoke_dmi(m, 1, 0, 0), POLYHART_ERR_INVALID);
            // Ranges beside the grant revoke nothing either.
            assert_eq!(polyhart_revoke_dmi(m, 0, EXT_BASE + 0x4000, 0), POLYHART_OK);
            assert_eq!(polyhart_revoke_dmi(m, 0, 0, EXT_BASE), POLYHART_OK);
            assert_eq!(grants(), 1);
            // TLM's "everything", 0 to ~0 inclusive, made exclusive: ~0 + 1 = 0.
            let everything_end = u64::MAX.wrapping_add(1);
            assert_eq!(polyhart_revoke_dmi(m, 0, 0, everything_end), POLYHART_OK);
            assert_eq!(grants(), 0, "(0, 0) revokes everything");
            // And TLM's inclusive range passed as it is.
            assert_eq!(grant(EXT_BASE, 0x4000, host.as_mut_ptr()), POLYHART_OK);
            assert_eq!(polyhart_revoke_dmi(m, 0, 0, u64::MAX), POLYHART_OK);
            assert_eq!(grants(), 0, "(0, ~0) revokes everything");
            assert_eq!(grant(EXT_BASE, 0x4000, host.as_mut_ptr()), POLYHART_OK);
            assert_eq!(polyhart_revoke_dmi(m, 0, EXT_BASE + 0x3fff, EXT_BASE + 0x4000), POLYHART_OK);
            assert_eq!(grants(), 0, "the last byte overlaps");
            polyhart_free(m);
        }
    }

    #[test]
    fn lines_the_board_drives_and_odd_pcs_are_refused() {
        let m = machine();
        // SAFETY: `m` is live until freed at the end.
        unsafe {
            assert_eq!(polyhart_set_irq(m, 10, 1), POLYHART_ERR_INVALID, "the UART's");
            assert_eq!(polyhart_set_irq_at(m, 11, 1, 5), POLYHART_ERR_INVALID, "the RTC's");
            for source in [0, 96, u32::MAX] {
                assert_eq!(polyhart_set_irq(m, source, 1), POLYHART_ERR_INVALID, "{source}");
            }
            assert_eq!(polyhart_set_irq(m, 32, 0), POLYHART_OK);
            for irq in [3, 7, 9, 11, 0, 2, 64, u32::MAX] {
                assert_eq!(polyhart_set_hart_irq(m, 0, irq, 1), POLYHART_ERR_INVALID, "{irq}");
            }
            assert_eq!(polyhart_set_hart_irq(m, 0, 1, 0), POLYHART_OK);
            assert_eq!(polyhart_set_hart_irq(m, 0, 5, 0), POLYHART_OK);
            assert_eq!(polyhart_set_hart_irq(m, 1, 1, 0), POLYHART_ERR_INVALID, "one hart");
            assert_eq!(polyhart_reset_hart_at(m, 1, 0), POLYHART_ERR_INVALID);

            assert_eq!(polyhart_write_pc(m, 0, 0x8000_0001), POLYHART_ERR_INVALID);
            assert_eq!(polyhart_write_pc(m, 0, 0x8000_0002), POLYHART_OK);
            let mut pc = 0;
            assert_eq!(polyhart_read_pc(m, 0, &mut pc), POLYHART_OK);
            assert_eq!(pc, 0x8000_0002);
            assert_eq!(polyhart_read_reg(m, 0, 32, &mut pc), POLYHART_ERR_INVALID);
            assert_eq!(polyhart_write_reg(m, 0, 32, 0), POLYHART_ERR_INVALID);

            // Lengths no object can have are refused before any slice is
            // made of them; ranges past RAM are refused too.
            let mut byte = [0u8; 1];
            assert_eq!(polyhart_read_memory(m, 0x8000_0000, byte.as_mut_ptr(), usize::MAX), POLYHART_ERR_INVALID);
            assert_eq!(polyhart_write_memory(m, 0x8000_0000, byte.as_ptr(), usize::MAX), POLYHART_ERR_INVALID);
            assert_eq!(polyhart_read_memory(m, u64::MAX, byte.as_mut_ptr(), 1), POLYHART_ERR_INVALID);
            assert_eq!(polyhart_write_memory(m, 0x8000_0000 + (128 << 20), byte.as_ptr(), 1), POLYHART_ERR_INVALID);
            polyhart_free(m);
        }
    }

    #[test]
    fn a_ram_the_host_cannot_provide_is_a_build_error_not_an_abort() {
        for bytes in [1u64 << 42, 1 << 46, 1 << 63] {
            let mut b = std::ptr::null_mut();
            let mut m = std::ptr::null_mut();
            let mut message = [0 as c_char; 256];
            // SAFETY: valid pointers throughout; the builder is consumed.
            unsafe {
                assert_eq!(polyhart_builder_new(&mut b), POLYHART_OK);
                assert_eq!(polyhart_builder_set_kernel(b, GUEST.as_ptr(), GUEST.len()), POLYHART_OK);
                assert_eq!(polyhart_builder_set_ram_size(b, bytes), POLYHART_OK);
                match polyhart_build(b, &mut m, message.as_mut_ptr(), message.len()) {
                    // Lent lazily by a host that overcommits.
                    POLYHART_OK => polyhart_free(m),
                    status => {
                        assert_eq!(status, POLYHART_ERR_BUILD);
                        let text = CStr::from_ptr(message.as_ptr()).to_str().unwrap();
                        assert!(text.contains(&bytes.to_string()) || text.contains("not usable"), "{bytes}: {text}");
                    }
                }
            }
        }
    }

    /// Tries to free the machine in `user` from inside its own advance.
    unsafe extern "C" fn free_the_machine(user: *mut c_void, _tx: *mut polyhart_transaction) -> i32 {
        // SAFETY: `user` is the test's `AtomicPtr`, which outlives the machine.
        let machine = unsafe { &*user.cast::<std::sync::atomic::AtomicPtr<polyhart_cosim>>() };
        // SAFETY: the machine is live: its advance is calling us.
        unsafe { polyhart_free(machine.load(std::sync::atomic::Ordering::Relaxed)) };
        0
    }

    #[test]
    fn a_machine_freed_from_inside_its_advance_lives_on() {
        let slot = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
        let mut b = std::ptr::null_mut();
        let mut m = std::ptr::null_mut();
        let user = (&slot as *const std::sync::atomic::AtomicPtr<polyhart_cosim>).cast_mut().cast::<c_void>();
        // SAFETY: valid pointers throughout; `slot` outlives the machine.
        unsafe {
            assert_eq!(polyhart_builder_new(&mut b), POLYHART_OK);
            assert_eq!(polyhart_builder_set_deterministic(b, 1), POLYHART_OK);
            assert_eq!(polyhart_builder_set_kernel(b, GUEST.as_ptr(), GUEST.len()), POLYHART_OK);
            let serve = Some(free_the_machine as polyhart_transport_fn);
            let none = std::ptr::null_mut();
            assert_eq!(
                polyhart_builder_add_region(b, std::ptr::null(), EXT_BASE, 0x4000, serve, user, none),
                POLYHART_OK
            );
            assert_eq!(polyhart_build(b, &mut m, std::ptr::null_mut(), 0), POLYHART_OK);
            slot.store(m, std::sync::atomic::Ordering::Relaxed);
            let mut result = polyhart_advance_result::default();
            assert_eq!(polyhart_advance(m, 100_000_000, &mut result), POLYHART_OK);
            assert!(m.as_ref().unwrap().regions[0].stats().transactions > 0, "the callback ran");
            let mut count = 0;
            assert_eq!(polyhart_instructions(m, &mut count), POLYHART_OK);
            assert!(count > 0);
            polyhart_free(m);
        }
    }

    #[test]
    fn a_build_failure_is_reported_with_its_message() {
        let mut b = std::ptr::null_mut();
        let mut m = std::ptr::null_mut();
        let mut message = [0 as c_char; 64];
        // SAFETY: valid pointers throughout; the builder is consumed.
        unsafe {
            assert_eq!(polyhart_builder_new(&mut b), POLYHART_OK);
            assert_eq!(polyhart_builder_set_harts(b, 0), POLYHART_OK);
            assert_eq!(polyhart_build(b, &mut m, message.as_mut_ptr(), message.len()), POLYHART_ERR_BUILD);
            let text = CStr::from_ptr(message.as_ptr()).to_str().unwrap();
            assert!(text.starts_with("0 harts requested"), "{text}");
            assert!(m.is_null());
            assert_eq!(CStr::from_ptr(polyhart_status_name(POLYHART_ERR_BUILD as i32)), c"POLYHART_ERR_BUILD");
        }
    }
}
