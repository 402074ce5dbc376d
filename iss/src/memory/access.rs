//! The data path both tiers take to memory: loads, stores, LR/SC and AMOs
//! from a virtual address to RAM or the bus, through the TLB (paging and
//! PMP) when accesses are checked, with what stores to marked RAM lines
//! must also do (invalidate code, break reservations, reach a watching
//! device). The interpreter calls it for every access; compiled code makes
//! plain RAM accesses itself and leaves the rest to it.

use std::sync::atomic::{Ordering, fence};

use crate::cpu::Cpu;
use crate::decode::{AmoOp, Op};
use crate::env::Env;
use crate::memory::pmp::Access;
use crate::memory::pmp::Pmp;
use crate::memory::{Amo, PAGE_SHIFT, PhysAddr, StoreMarks, VirtAddr, crosses_page};
use crate::trap::{Exception, Trap};
use crate::trigger::Action;

/// Sign-extends the low word of `value`.
#[inline(always)]
pub(crate) fn sext32(value: u64) -> u64 {
    value as i32 as i64 as u64
}

/// Stops the hart before an access that reaches a debugger's watchpoint
/// (see [`crate::debug::Watchpoints`]; the trap returned is the
/// debugger's stop) or fires one of its triggers (a breakpoint exception
/// whose `tval` is the address, see [`crate::trigger`]): an address
/// trigger, or a data trigger on `stored`, a store's value.
#[cold]
fn watch(cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, action: Action, stored: Option<u64>) -> Result<(), Trap> {
    let (reads, writes) = match action {
        Action::Load => (true, false),
        Action::Store => (false, true),
        Action::Both | Action::Execute => (true, true),
    };
    if let Some(hit) = env.watchpoints.hit(vaddr, u64::from(size), reads, writes) {
        cpu.watch_hit = Some(hit);
        return Err(Trap::new(Exception::Breakpoint, vaddr));
    }
    let state = &cpu.arch;
    if cpu.triggers_armed
        && (state.trigger_fires(state.data_privilege(), action, vaddr, u64::from(size))
            || stored.is_some_and(|value| state.trigger_fires_on_data(Action::Store, value, size)))
    {
        return Err(Trap::new(Exception::Breakpoint, vaddr));
    }
    Ok(())
}

/// After a watched load of `value` from `vaddr`: a data trigger that
/// matches it raises its breakpoint exception once the instruction has
/// retired (see [`Cpu::trigger_after`]).
#[cold]
fn loaded(cpu: &mut Cpu, vaddr: u64, size: u8, value: u64) {
    if cpu.triggers_armed && cpu.arch.trigger_fires_on_data(Action::Load, value, size) {
        cpu.trigger_after = Some(vaddr);
    }
}

/// Whether [`watch`] has anything to look at.
#[inline(always)]
fn watched(cpu: &Cpu, env: &Env) -> bool {
    cpu.triggers_armed || !env.watchpoints.is_empty()
}

#[inline(always)]
pub(crate) fn load(cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, retired: u64) -> Result<u64, Trap> {
    if watched(cpu, env) {
        return load_watched(cpu, env, vaddr, size, retired);
    }
    load_unwatched(cpu, env, vaddr, size, retired)
}

#[inline(always)]
fn load_unwatched(cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, retired: u64) -> Result<u64, Trap> {
    if cpu.data_checked && !cpu.tlb.load_window.covers(vaddr, size) {
        return load_virtual(cpu, env, vaddr, size, retired);
    }
    load_physical(cpu, env, PhysAddr::identity(vaddr), size, retired, VirtAddr(vaddr))
}

/// A load while a watchpoint or trigger may look at it.
#[cold]
fn load_watched(cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, retired: u64) -> Result<u64, Trap> {
    watch(cpu, env, vaddr, size, Action::Load, None)?;
    let value = load_unwatched(cpu, env, vaddr, size, retired)?;
    loaded(cpu, vaddr, size, value);
    Ok(value)
}

/// The physical address of a data access of `size` bytes within one page,
/// through the TLB, which checks paging and PMP permissions.
fn translate_data(cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, access: Access) -> Result<PhysAddr, Trap> {
    let ctx = cpu.arch.data_context();
    cpu.tlb
        .translate(&env.ram, Pmp::new(&cpu.arch.csr), vaddr, size, access, &ctx)
        .map(|physical| PhysAddr(physical.addr))
}

/// The physical address of an access of `size` bytes at `vaddr` that just
/// went through (a plugin's memory event): the TLB holds its translation
/// now. The first byte's, for an access across two pages.
pub(crate) fn physical(cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, access: Access) -> u64 {
    if !cpu.data_checked {
        return vaddr;
    }
    let size = if crosses_page(vaddr, size) { 1 } else { size };
    translate_data(cpu, env, vaddr, size, access).map_or(vaddr, |physical| physical.0)
}

/// A load that paging or PMP checks; a misaligned one across two pages is
/// made of byte loads, since the pages need not be adjacent in physical memory.
#[inline(never)]
fn load_virtual(cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, retired: u64) -> Result<u64, Trap> {
    if !crosses_page(vaddr, size) {
        let addr = translate_data(cpu, env, vaddr, size, Access::Load)?;
        return load_physical(cpu, env, addr, size, retired, VirtAddr(vaddr));
    }
    let mut value = 0;
    for i in 0..u64::from(size) {
        let addr = translate_data(cpu, env, vaddr.wrapping_add(i), 1, Access::Load)?;
        value |= load_physical(cpu, env, addr, 1, retired, VirtAddr(vaddr.wrapping_add(i)))? << (8 * i);
    }
    Ok(value)
}

/// A load from physical address `addr`; a fault reports `vaddr`.
#[inline(always)]
fn load_physical(cpu: &Cpu, env: &Env, addr: PhysAddr, size: u8, retired: u64, vaddr: VirtAddr) -> Result<u64, Trap> {
    match env.ram.offset(addr.0, u64::from(size)) {
        Some(offset) => Ok(env.ram.read(offset, size)),
        None => load_bus(cpu, env, addr, size, retired, vaddr),
    }
}

#[cold]
fn load_bus(cpu: &Cpu, env: &Env, addr: PhysAddr, size: u8, retired: u64, vaddr: VirtAddr) -> Result<u64, Trap> {
    env.bus
        .read(&cpu.arch.access_context_at(retired), addr.0, size)
        .map_err(|_| Trap::new(Exception::LoadAccessFault, vaddr.0))
}

#[inline(always)]
pub(crate) fn store(cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, value: u64, retired: u64) -> Result<(), Trap> {
    if watched(cpu, env) {
        watch(cpu, env, vaddr, size, Action::Store, Some(value))?;
    }
    if cpu.data_checked && !cpu.tlb.store_window.covers(vaddr, size) {
        return store_virtual(cpu, env, vaddr, size, value, retired);
    }
    store_physical(cpu, env, PhysAddr::identity(vaddr), size, value, retired, VirtAddr(vaddr))
}

/// A store that paging or PMP checks. One across two pages translates both
/// before it writes a byte, so a fault leaves memory untouched.
#[inline(never)]
fn store_virtual(cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, value: u64, retired: u64) -> Result<(), Trap> {
    if !crosses_page(vaddr, size) {
        let addr = translate_data(cpu, env, vaddr, size, Access::Store)?;
        return store_physical(cpu, env, addr, size, value, retired, VirtAddr(vaddr));
    }
    let mut addrs = [PhysAddr(0); 8];
    for (i, addr) in addrs.iter_mut().enumerate().take(usize::from(size)) {
        *addr = translate_data(cpu, env, vaddr.wrapping_add(i as u64), 1, Access::Store)?;
    }
    for (i, &addr) in addrs.iter().enumerate().take(usize::from(size)) {
        store_physical(cpu, env, addr, 1, value >> (8 * i), retired, VirtAddr(vaddr.wrapping_add(i as u64)))?;
    }
    Ok(())
}

/// A store to physical address `addr`; a fault reports `vaddr`.
#[inline(always)]
fn store_physical(
    cpu: &Cpu,
    env: &Env,
    addr: PhysAddr,
    size: u8,
    value: u64,
    retired: u64,
    vaddr: VirtAddr,
) -> Result<(), Trap> {
    match env.ram.offset(addr.0, u64::from(size)) {
        Some(offset) => {
            if env.ram.store_is_plain(offset, u64::from(size)) {
                env.ram.write(offset, size, value);
                Ok(())
            } else {
                store_marked(cpu, env, addr, offset, size, value, retired, vaddr)
            }
        }
        None => store_bus(cpu, env, addr, size, value, retired, vaddr),
    }
}

#[cold]
fn store_bus(
    cpu: &Cpu,
    env: &Env,
    addr: PhysAddr,
    size: u8,
    value: u64,
    retired: u64,
    vaddr: VirtAddr,
) -> Result<(), Trap> {
    env.bus
        .write(&cpu.arch.access_context_at(retired), addr.0, size, value)
        .map_err(|_| Trap::new(Exception::StoreAccessFault, vaddr.0))
}

/// A store to RAM lines that hold code or are watched by the machine.
#[cold]
#[allow(clippy::too_many_arguments)]
fn store_marked(
    cpu: &Cpu,
    env: &Env,
    addr: PhysAddr,
    offset: u64,
    size: u8,
    value: u64,
    retired: u64,
    vaddr: VirtAddr,
) -> Result<(), Trap> {
    let StoreMarks { code, watch, reserved } = env.ram.store_marks(offset, u64::from(size));
    if watch {
        store_bus(cpu, env, addr, size, value, retired, vaddr)?;
    } else {
        env.ram.write(offset, size, value);
    }
    if reserved {
        env.ram.break_reservations(offset, u64::from(size));
    }
    if code {
        invalidate_code(env, offset, u64::from(size));
    }
    Ok(())
}

/// Drops the translations of the pages `[offset, offset + len)` of RAM
/// touches (RAM starts on a page boundary, so RAM pages are guest pages). The marks go before the blocks do: a hart translating the page
/// meanwhile either marks it again after this or has its block refused by the
/// cache (see [`crate::cache::TranslationCache::insert`]).
#[cold]
fn invalidate_code(env: &Env, offset: u64, len: u64) {
    let first = offset >> PAGE_SHIFT;
    let last = (offset + len - 1) >> PAGE_SHIFT;
    for page in first..=last {
        if env.ram.take_code_marks(page << PAGE_SHIFT) {
            env.cache.invalidate_page((env.ram.base() >> PAGE_SHIFT) + page);
        }
    }
}

/// The physical address an LR, SC or AMO at `vaddr` works on: aligned
/// (checked first, as the spec's exception priority says) and translated.
fn atomic_address(cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, access: Access) -> Result<PhysAddr, Trap> {
    let misaligned = match access {
        Access::Load => Exception::LoadAddressMisaligned,
        _ => Exception::StoreAddressMisaligned,
    };
    if !vaddr.is_multiple_of(u64::from(size)) {
        return Err(Trap::new(misaligned, vaddr));
    }
    if cpu.data_checked { translate_data(cpu, env, vaddr, size, access) } else { Ok(PhysAddr::identity(vaddr)) }
}

/// The RAM offset an LR or SC at `vaddr` works on: reservations exist only
/// in RAM, so anything else is an access fault.
fn atomic_target(cpu: &mut Cpu, env: &Env, vaddr: u64, size: u8, access: Access) -> Result<u64, Trap> {
    let fault = match access {
        Access::Load => Exception::LoadAccessFault,
        _ => Exception::StoreAccessFault,
    };
    let addr = atomic_address(cpu, env, vaddr, size, access)?;
    env.ram.offset(addr.0, u64::from(size)).ok_or(Trap::new(fault, vaddr))
}

/// An AMO outside RAM: the bus performs it as one read-modify-write if the
/// device there supports atomics (an external region does), else it is a
/// store/AMO access fault.
#[cold]
fn amo_bus(cpu: &Cpu, env: &Env, amo: Amo, addr: PhysAddr, vaddr: VirtAddr, retired: u64) -> Result<u64, Trap> {
    env.bus
        .atomic(&cpu.arch.access_context_at(retired), addr.0, amo)
        .map_err(|_| Trap::new(Exception::StoreAccessFault, vaddr.0))
}

pub(crate) fn load_reserved(cpu: &mut Cpu, env: &Env, addr: u64, size: u8) -> Result<u64, Trap> {
    let watching = watched(cpu, env);
    if watching {
        watch(cpu, env, addr, size, Action::Load, None)?;
    }
    let offset = atomic_target(cpu, env, addr, size, Access::Load)?;
    let stamp = env.ram.reserve(offset);
    fence(Ordering::SeqCst);
    let value = env.ram.read(offset, size);
    cpu.arch.reservation = Some((addr, size, value, stamp));
    if watching {
        loaded(cpu, addr, size, value);
    }
    Ok(value)
}

/// SC succeeds when this hart holds a reservation for exactly this address and
/// size, no store has broken it since (stores to a reserved line leave the
/// fast path and break reservations: [`crate::Ram::break_reservations`]), and
/// memory still holds the value LR read; the compare-and-swap makes the last
/// check and the store one atomic step against other harts.
pub(crate) fn store_conditional(cpu: &mut Cpu, env: &Env, addr: u64, size: u8, value: u64) -> Result<bool, Trap> {
    if watched(cpu, env) {
        watch(cpu, env, addr, size, Action::Store, Some(value))?;
    }
    let offset = atomic_target(cpu, env, addr, size, Access::Store)?;
    let Some((reserved, reserved_size, expected, stamp)) = cpu.arch.reservation.take() else {
        return Ok(false);
    };
    if reserved != addr || reserved_size != size || !env.ram.reservation_intact(offset, stamp) {
        return Ok(false);
    }
    let ok = match size {
        4 => env.ram.atomic_u32(offset).is_some_and(|cell| {
            cell.compare_exchange(expected as u32, value as u32, Ordering::SeqCst, Ordering::SeqCst).is_ok()
        }),
        _ => env
            .ram
            .atomic_u64(offset)
            .is_some_and(|cell| cell.compare_exchange(expected, value, Ordering::SeqCst, Ordering::SeqCst).is_ok()),
    };
    if ok {
        after_atomic_store(env, offset, size);
    }
    Ok(ok)
}

pub(crate) fn after_atomic_store(env: &Env, offset: u64, size: u8) {
    let marks = env.ram.store_marks(offset, u64::from(size));
    if marks.reserved {
        env.ram.break_reservations(offset, u64::from(size));
    }
    if marks.code {
        invalidate_code(env, offset, u64::from(size));
    }
}

/// `amo` on the atomic `cell` (an `AtomicU32` or `AtomicU64`) with
/// `operand` of its width; the old value. Signed minimum and maximum have
/// no host instruction: a compare-and-swap loop applies [`Amo::apply`].
macro_rules! host_amo {
    ($cell:expr, $amo:expr, $operand:expr, $size:expr) => {{
        let (cell, b, order) = ($cell, $operand, Ordering::SeqCst);
        match $amo {
            AmoOp::Swap => cell.swap(b, order),
            AmoOp::Add => cell.fetch_add(b, order),
            AmoOp::Xor => cell.fetch_xor(b, order),
            AmoOp::And => cell.fetch_and(b, order),
            AmoOp::Or => cell.fetch_or(b, order),
            AmoOp::MinU => cell.fetch_min(b, order),
            AmoOp::MaxU => cell.fetch_max(b, order),
            AmoOp::Min | AmoOp::Max => {
                let amo = Amo { op: $amo, size: $size, operand: u64::from(b) };
                match cell.fetch_update(order, order, |old| Some(amo.apply(u64::from(old)) as _)) {
                    Ok(old) | Err(old) => old,
                }
            }
        }
    }};
}

/// The AMO `op` at `vaddr` with `operand` (`x[rs2]`), made once
/// `retired` instructions have retired: a host atomic read-modify-write on
/// RAM, or the bus's on a device. Returns the value for `rd`: the old
/// value, sign-extended from a word.
pub(crate) fn amo(cpu: &mut Cpu, env: &Env, op: Op, vaddr: u64, operand: u64, retired: u64) -> Result<u64, Trap> {
    let (Some(amo), Some(memory)) = (op.amo(), op.memory()) else {
        unreachable!("amo() is called for AMOs only");
    };
    let size = memory.size;
    let watching = watched(cpu, env);
    if watching {
        watch(cpu, env, vaddr, size, Action::Both, None)?;
    }
    let physical = atomic_address(cpu, env, vaddr, size, Access::Store)?;
    let old = match env.ram.offset(physical.0, u64::from(size)) {
        None => amo_bus(cpu, env, Amo { op: amo, size, operand }, physical, VirtAddr(vaddr), retired)?,
        Some(offset) => {
            let fault = Trap::new(Exception::StoreAccessFault, vaddr);
            let old = if size == 4 {
                let cell = env.ram.atomic_u32(offset).ok_or(fault)?;
                u64::from(host_amo!(cell, amo, operand as u32, size))
            } else {
                let cell = env.ram.atomic_u64(offset).ok_or(fault)?;
                host_amo!(cell, amo, operand, size)
            };
            after_atomic_store(env, offset, size);
            old
        }
    };
    if watching {
        loaded(cpu, vaddr, size, old);
    }
    Ok(if size == 4 { sext32(old) } else { old })
}
