//! External regions: physical address ranges an outside simulator serves.
//!
//! A guest load, store or AMO that lands in an external region becomes a
//! [`Transaction`] in the style of TLM-2.0's generic payload: command,
//! address, data, size, byte enables, the issuing hart, and the hart's local
//! time offset as the annotated delay. The outside's [`Target`] serves it the
//! way `b_transport` does and answers a [`Status`]; it may add to the delay
//! (the hart's local time moves on by what it added) and may ask the hart to
//! synchronise ([`Transaction::sync`]: the advance in progress returns at
//! the hart's local time). An error status makes the hart take an access
//! fault of the access's kind.
//!
//! Transactions are served on the thread that drives the machine (the one
//! that called [`crate::Cosim::advance`]), one at a time, whichever hart
//! thread issued them: an outside simulator such as SystemC is
//! single-threaded. An AMO is a read and a write served back to back as one
//! step, so no other transaction comes between them.
//!
//! DMI: the outside may grant a range of host memory for direct access
//! ([`Region::grant_dmi`]); accesses inside it then skip the transaction and
//! go straight to that memory, from the hart's own thread. Revoking
//! ([`Region::revoke_dmi`], the counterpart of `invalidate_direct_mem_ptr`)
//! waits for accesses in flight, so once it returns no hart touches the
//! memory again.

use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use polyhart_iss::HartControl;
use polyhart_iss::memory::{AccessContext, Amo};
use polyhart_machine::StopSignal;
use polyhart_machine::bus::{Device, DeviceError};
use polyhart_machine::driver_queue::DriverQueue;

use crate::time::GlobalTime;
use crate::time::SimTime;

/// What a transaction asks for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Command {
    /// Read `size` bytes into [`Transaction::data`].
    Read = 0,
    /// Write the first `size` bytes of [`Transaction::data`].
    Write = 1,
}

/// How the outside answers a transaction, as TLM-2.0's response status.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// Done.
    Ok = 0,
    /// Nothing answers at this address (`TLM_ADDRESS_ERROR_RESPONSE`).
    AddressError = 1,
    /// The target does not support this command (`TLM_COMMAND_ERROR_RESPONSE`).
    CommandError = 2,
    /// Any other failure (`TLM_GENERIC_ERROR_RESPONSE`).
    GenericError = 3,
}

/// One access to an external region, handed to its [`Target`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// Read or write.
    pub command: Command,
    /// The guest physical address.
    pub address: u64,
    /// The data, little-endian: filled by the target for a read, by the hart
    /// for a write; only the first `size` bytes count.
    pub data: [u8; 8],
    /// Bytes accessed: 1, 2, 4 or 8.
    pub size: u8,
    /// Bit *i* set: byte *i* of `data` takes part. A hart's access enables
    /// all of its `size` bytes.
    pub byte_enables: u8,
    /// The `mhartid` of the hart making the access.
    pub hart: usize,
    /// The annotated delay: how far the hart's local time is ahead of the
    /// outside's time when it makes the access. The target adds the
    /// access's latency to it.
    pub delay: SimTime,
    /// Set by the target to make the hart synchronise: the advance in
    /// progress ends at the hart's local time (after the delay).
    pub sync: bool,
}

impl Transaction {
    /// The data as a number: the first `size` bytes, little-endian.
    pub fn value(&self) -> u64 {
        let mut bytes = [0; 8];
        let n = usize::from(self.size.min(8));
        bytes[..n].copy_from_slice(&self.data[..n]);
        u64::from_le_bytes(bytes)
    }

    /// Sets the data from a number (its low `size` bytes).
    pub fn set_value(&mut self, value: u64) {
        self.data = value.to_le_bytes();
    }
}

/// What serves an external region's transactions: the outside simulator.
/// Called on the thread that drives the machine, one transaction at a time.
pub trait Target: Send + Sync + 'static {
    /// Serves `tx` (`b_transport`): fills the data of a read, may add to
    /// the delay and set `sync`.
    fn transport(&self, tx: &mut Transaction) -> Status;
}

impl<F: Fn(&mut Transaction) -> Status + Send + Sync + 'static> Target for F {
    fn transport(&self, tx: &mut Transaction) -> Status {
        self(tx)
    }
}

/// Host memory granted for direct access to part of a region.
#[derive(Copy, Clone, Debug)]
pub struct DmiGrant {
    /// First guest physical address covered.
    pub start: u64,
    /// Bytes covered.
    pub len: u64,
    /// The host memory for `start`.
    pub host: *mut u8,
    /// Reads may use it.
    pub read: bool,
    /// Writes may use it.
    pub write: bool,
    /// Latency added to the hart's local time per read.
    pub read_latency: SimTime,
    /// Latency added per write.
    pub write_latency: SimTime,
}

/// A grant in force.
struct DmiWindow(DmiGrant);

// SAFETY: the pointer is only dereferenced under the region's DMI lock, and
// whoever granted it promised (`Region::grant_dmi`'s contract) that it stays
// valid for reads and writes from any thread until revoked.
unsafe impl Send for DmiWindow {}
// SAFETY: as above; accesses through it are atomic or volatile.
unsafe impl Sync for DmiWindow {}

impl DmiWindow {
    fn covers(&self, addr: u64, size: u8, write: bool) -> bool {
        let g = &self.0;
        (if write { g.write } else { g.read })
            && addr >= g.start
            && addr.checked_add(u64::from(size)).is_some_and(|end| end <= g.start.saturating_add(g.len))
    }

    /// Whether `newer`, put in front of this grant, leaves it unreachable:
    /// it covers all of this grant's range and allows all it allows, so
    /// every access this one would serve finds `newer` first.
    fn hidden_by(&self, newer: &DmiGrant) -> bool {
        let g = &self.0;
        newer.start <= g.start
            && g.start + g.len <= newer.start + newer.len
            && (newer.read || !g.read)
            && (newer.write || !g.write)
    }

    fn host(&self, addr: u64) -> *mut u8 {
        // In bounds: `covers` checked the access lies inside the grant.
        self.0.host.wrapping_add((addr - self.0.start) as usize)
    }
}

/// How one access to the host memory of a DMI window is made: naturally
/// aligned ones as host atomics (relaxed: an access is atomic, as on
/// hardware, and no data race is undefined behaviour), others byte by byte.
///
/// # Safety
/// `host` must be valid for `size` bytes of reads and writes.
unsafe fn dmi_read(host: *mut u8, size: u8) -> u64 {
    let aligned = (host as usize).is_multiple_of(usize::from(size));
    // SAFETY: the caller's contract; the atomic types' alignment is checked.
    unsafe {
        match size {
            1 => u64::from(AtomicU8::from_ptr(host).load(Ordering::Relaxed)),
            2 if aligned => u64::from(AtomicU16::from_ptr(host.cast()).load(Ordering::Relaxed)),
            4 if aligned => u64::from(AtomicU32::from_ptr(host.cast()).load(Ordering::Relaxed)),
            8 if aligned => AtomicU64::from_ptr(host.cast()).load(Ordering::Relaxed),
            _ => (0..usize::from(size)).fold(0, |v, i| v | u64::from(host.add(i).read_volatile()) << (8 * i)),
        }
    }
}

/// # Safety
/// As [`dmi_read`].
unsafe fn dmi_write(host: *mut u8, size: u8, value: u64) {
    let aligned = (host as usize).is_multiple_of(usize::from(size));
    // SAFETY: the caller's contract; the atomic types' alignment is checked.
    unsafe {
        match size {
            1 => AtomicU8::from_ptr(host).store(value as u8, Ordering::Relaxed),
            2 if aligned => AtomicU16::from_ptr(host.cast()).store(value as u16, Ordering::Relaxed),
            4 if aligned => AtomicU32::from_ptr(host.cast()).store(value as u32, Ordering::Relaxed),
            8 if aligned => AtomicU64::from_ptr(host.cast()).store(value, Ordering::Relaxed),
            _ => (0..usize::from(size)).for_each(|i| host.add(i).write_volatile((value >> (8 * i)) as u8)),
        }
    }
}

/// # Safety
/// As [`dmi_read`], and `host` aligned to `amo.size` (4 or 8).
unsafe fn dmi_atomic(host: *mut u8, amo: Amo) -> u64 {
    let order = Ordering::SeqCst;
    // SAFETY: the caller's contract.
    unsafe {
        if amo.size == 4 {
            let cell = AtomicU32::from_ptr(host.cast());
            let old = cell.fetch_update(order, order, |v| Some(amo.apply(u64::from(v)) as u32));
            u64::from(old.unwrap_or_else(|v| v))
        } else {
            let cell = AtomicU64::from_ptr(host.cast());
            cell.fetch_update(order, order, |v| Some(amo.apply(v))).unwrap_or_else(|v| v)
        }
    }
}

/// The machine's parts a region reaches once the machine is built.
pub(crate) struct Link {
    pub(crate) controls: Vec<Arc<HartControl>>,
    pub(crate) stop: Arc<StopSignal>,
}

/// Counters of one region.
#[derive(Debug, Default)]
struct Counters {
    transactions: AtomicU64,
    dmi_accesses: AtomicU64,
}

/// Statistics of an external region.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionStats {
    /// Transactions handed to the target.
    pub transactions: u64,
    /// Accesses served through DMI.
    pub dmi_accesses: u64,
    /// DMI grants in force.
    pub dmi_grants: u64,
}

/// An external region: the device on the machine's bus that turns accesses
/// into transactions for its [`Target`].
pub struct Region {
    name: &'static str,
    base: u64,
    size: u64,
    target: Arc<dyn Target>,
    global_time: Arc<GlobalTime>,
    driver_queue: Arc<DriverQueue>,
    link: OnceLock<Link>,
    dmi: RwLock<Vec<DmiWindow>>,
    counters: Counters,
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Region")
            .field("name", &self.name)
            .field("base", &format_args!("{:#x}", self.base))
            .field("size", &format_args!("{:#x}", self.size))
            .finish()
    }
}

/// Why a DMI grant was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DmiError {
    /// The range is empty or not inside the region.
    #[error("the range [{start:#x}, +{len:#x}) is not inside the region")]
    OutsideRegion {
        /// First address of the range.
        start: u64,
        /// Its length.
        len: u64,
    },
    /// The host pointer is null.
    #[error("the host pointer is null")]
    NullPointer,
}

impl Region {
    pub(crate) fn new(
        name: &'static str,
        base: u64,
        size: u64,
        target: Arc<dyn Target>,
        global_time: Arc<GlobalTime>,
        driver_queue: Arc<DriverQueue>,
    ) -> Region {
        Region {
            name,
            base,
            size,
            target,
            global_time,
            driver_queue,
            link: OnceLock::new(),
            dmi: RwLock::new(Vec::new()),
            counters: Counters::default(),
        }
    }

    pub(crate) fn link(&self, link: Link) {
        let _ = self.link.set(link);
    }

    /// The region's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The region's first address.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The region's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its counters.
    pub fn stats(&self) -> RegionStats {
        RegionStats {
            transactions: self.counters.transactions.load(Ordering::Relaxed),
            dmi_accesses: self.counters.dmi_accesses.load(Ordering::Relaxed),
            dmi_grants: self.dmi.read().unwrap_or_else(|e| e.into_inner()).len() as u64,
        }
    }

    /// Grants direct access to `[grant.start, grant.start + grant.len)`
    /// through `grant.host`: accesses there no longer become transactions.
    /// A later grant covering the same addresses takes precedence, and
    /// replaces the earlier grants it hides entirely (inside its range,
    /// allowing no more than it does), so that granting the same range
    /// again and again, as TLM initiators do, does not pile grants up.
    ///
    /// # Safety
    /// `grant.host` must be valid for reads and writes of `grant.len` bytes,
    /// from any thread, until a [`Region::revoke_dmi`] covering any part of
    /// it returns or the machine is dropped. The outside may access the
    /// memory meanwhile; each hart access is atomic when naturally aligned.
    pub unsafe fn grant_dmi(&self, grant: DmiGrant) -> Result<(), DmiError> {
        let inside = grant.len != 0
            && grant.start >= self.base
            && grant.start.checked_add(grant.len).is_some_and(|end| end <= self.base.saturating_add(self.size));
        if !inside {
            return Err(DmiError::OutsideRegion { start: grant.start, len: grant.len });
        }
        if grant.host.is_null() {
            return Err(DmiError::NullPointer);
        }
        let mut windows = self.dmi.write().unwrap_or_else(|e| e.into_inner());
        windows.retain(|w| !w.hidden_by(&grant));
        windows.insert(0, DmiWindow(grant));
        Ok(())
    }

    /// Revokes every grant overlapping `range` (`..` revokes them all);
    /// returns once no hart can use them any more.
    pub fn revoke_dmi(&self, range: impl RangeBounds<u64>) {
        let first = match range.start_bound() {
            Bound::Included(&start) => start,
            Bound::Excluded(&start) => match start.checked_add(1) {
                Some(first) => first,
                None => return,
            },
            Bound::Unbounded => 0,
        };
        let last = match range.end_bound() {
            Bound::Included(&end) => end,
            Bound::Excluded(&end) => match end.checked_sub(1) {
                Some(last) => last,
                None => return,
            },
            Bound::Unbounded => u64::MAX,
        };
        if first > last {
            return;
        }
        let mut windows = self.dmi.write().unwrap_or_else(|e| e.into_inner());
        // A grant covers `[start, start + len - 1]`, `len > 0`, without wrapping.
        windows.retain(|w| w.0.start + (w.0.len - 1) < first || w.0.start > last);
    }

    /// Serves an access from a DMI window if one covers it; `f` does the
    /// access on the host memory. Returns `None` when none does.
    fn direct<R>(
        &self,
        ctx: &AccessContext,
        addr: u64,
        size: u8,
        write: bool,
        f: impl FnOnce(*mut u8) -> R,
    ) -> Option<R> {
        let windows = self.dmi.read().unwrap_or_else(|e| e.into_inner());
        let window = windows.iter().find(|w| w.covers(addr, size, write))?;
        let result = f(window.host(addr));
        let latency = if write { window.0.write_latency } else { window.0.read_latency };
        drop(windows);
        self.counters.dmi_accesses.fetch_add(1, Ordering::Relaxed);
        self.stall(ctx.hart_id, latency);
        Some(result)
    }

    /// Hart `hart`'s control, once the machine is built.
    fn control(&self, hart: usize) -> Option<&HartControl> {
        self.link.get().and_then(|link| link.controls.get(hart)).map(|c| &**c)
    }

    /// Adds `latency` to hart `hart`'s local time.
    fn stall(&self, hart: usize, latency: SimTime) {
        if latency == SimTime::ZERO {
            return;
        }
        if let Some(control) = self.control(hart) {
            control.stall(self.global_time.cycles_in(latency));
        }
    }

    /// The annotated delay of an access `ctx` makes: the hart's local time
    /// (with latency already added in its current block) less the outside's.
    fn delay(&self, ctx: &AccessContext) -> SimTime {
        let pending = self.control(ctx.hart_id).map_or(0, HartControl::pending_stall);
        self.global_time.at_cycle(ctx.cycle + pending) - self.global_time.now()
    }

    /// Hands transactions to the target on the driving thread (with `amo`,
    /// a read and the write of its result) and applies what it answers to
    /// the hart: added delay, synchronisation. Returns the last one.
    fn transport(&self, ctx: &AccessContext, tx: Transaction, amo: Option<Amo>) -> Result<Transaction, DeviceError> {
        let (offset, size, delay) = (tx.address - self.base, tx.size, tx.delay);
        let target = self.target.clone();
        let (status, served, last) = self.driver_queue.call(move || serve(&*target, tx, amo));
        self.counters.transactions.fetch_add(served, Ordering::Relaxed);
        self.stall(ctx.hart_id, last.delay - delay);
        if last.sync
            && let Some(link) = self.link.get()
        {
            link.stop.request_sync(ctx.hart_id);
        }
        match status {
            Status::Ok => Ok(last),
            _ => Err(DeviceError::NoRegister { offset, size }),
        }
    }

    fn transaction(&self, ctx: &AccessContext, command: Command, addr: u64, size: u8, value: u64) -> Transaction {
        Transaction {
            command,
            address: addr,
            data: value.to_le_bytes(),
            size,
            byte_enables: ((1u16 << size) - 1) as u8,
            hart: ctx.hart_id,
            delay: self.delay(ctx),
            sync: false,
        }
    }
}

/// Runs on the driving thread: serves `tx`; with `amo`, `tx` is the read
/// and a write of [`Amo::apply`] of what it returned follows at once,
/// starting from the delay the read ended with (a failed read skips it).
/// Returns the status, how many transactions were served, and the last.
fn serve(target: &dyn Target, mut tx: Transaction, amo: Option<Amo>) -> (Status, u64, Transaction) {
    let status = target.transport(&mut tx);
    let Some(amo) = amo.filter(|_| status == Status::Ok) else { return (status, 1, tx) };
    let old = tx.value();
    let mut write = Transaction { command: Command::Write, sync: false, ..tx.clone() };
    write.set_value(amo.apply(old));
    let status = target.transport(&mut write);
    write.sync |= tx.sync;
    // The hart gets the old value back in the write's data slot's place.
    let result = Transaction { data: old.to_le_bytes(), ..write };
    (status, 2, result)
}

impl Device for Region {
    fn read(&self, ctx: &AccessContext, offset: u64, size: u8) -> Result<u64, DeviceError> {
        let addr = self.base + offset;
        // SAFETY: `direct` passes a pointer inside a live grant, valid for
        // the access's `size` bytes (`DmiWindow::covers`).
        if let Some(value) = self.direct(ctx, addr, size, false, |host| unsafe { dmi_read(host, size) }) {
            return Ok(value);
        }
        let tx = self.transaction(ctx, Command::Read, addr, size, 0);
        Ok(self.transport(ctx, tx, None)?.value())
    }

    fn write(&self, ctx: &AccessContext, offset: u64, size: u8, value: u64) -> Result<(), DeviceError> {
        let addr = self.base + offset;
        // SAFETY: as in `read`.
        if self.direct(ctx, addr, size, true, |host| unsafe { dmi_write(host, size, value) }).is_some() {
            return Ok(());
        }
        let tx = self.transaction(ctx, Command::Write, addr, size, value);
        self.transport(ctx, tx, None).map(|_| ())
    }

    fn atomic(&self, ctx: &AccessContext, offset: u64, amo: Amo) -> Result<u64, DeviceError> {
        let (addr, size) = (self.base + offset, amo.size);
        {
            let windows = self.dmi.read().unwrap_or_else(|e| e.into_inner());
            let window = windows.iter().find(|w| w.covers(addr, size, false) && w.covers(addr, size, true));
            if let Some(window) = window
                && (window.host(addr) as usize).is_multiple_of(usize::from(size))
            {
                // SAFETY: inside a live grant (`covers`), aligned as checked.
                let old = unsafe { dmi_atomic(window.host(addr), amo) };
                let latency = window.0.read_latency + window.0.write_latency;
                drop(windows);
                self.counters.dmi_accesses.fetch_add(1, Ordering::Relaxed);
                self.stall(ctx.hart_id, latency);
                return Ok(old);
            }
        }
        let tx = self.transaction(ctx, Command::Read, addr, size, 0);
        Ok(self.transport(ctx, tx, Some(amo))?.value())
    }
}
