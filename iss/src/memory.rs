//! How a hart reaches memory: RAM directly as host memory, everything else
//! through the [`Bus`] that the machine implements.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

/// Size of the pages that code tracking and watches work in.
pub const PAGE_SIZE: u64 = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

/// Whether `[addr, addr + size)` spans two pages.
pub(crate) fn crosses_page(addr: u64, size: u8) -> bool {
    (addr & (PAGE_SIZE - 1)) + u64::from(size) > PAGE_SIZE
}

/// Who makes an access: passed to devices so they can answer per hart
/// (CLINT registers, time) without global state.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AccessContext {
    /// The hart's `mhartid`.
    pub hart_id: usize,
    /// The hart's local time in cycles when it made the access.
    pub cycle: u64,
}

/// Why the bus refused an access; the hart turns it into an access fault.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// Nothing is mapped at the address.
    #[error("nothing is mapped at {0:#x}")]
    Unmapped(u64),
    /// A device is mapped there but does not accept this access.
    #[error("the device at {0:#x} does not accept this access")]
    Denied(u64),
}

/// The physical address space beyond RAM, as the machine presents it to a hart.
///
/// Called only on the slow path (device registers, ROM, watched RAM pages), so
/// it may be a trait object.
pub trait Bus: Send + Sync {
    /// Reads `size` bytes (1, 2, 4 or 8) at physical address `addr`,
    /// little-endian, zero-extended.
    fn read(&self, ctx: &AccessContext, addr: u64, size: u8) -> Result<u64, BusError>;

    /// Writes the low `size` bytes of `value` at physical address `addr`.
    fn write(&self, ctx: &AccessContext, addr: u64, size: u8, value: u64) -> Result<(), BusError>;

    /// Reads a 16-bit instruction parcel outside RAM; only memory that can
    /// hold code (ROM) answers, device registers are not executable.
    fn fetch(&self, ctx: &AccessContext, addr: u64) -> Result<u16, BusError>;

    /// The value of `mtime` as the hart making the access sees it.
    fn time(&self, ctx: &AccessContext) -> u64;

    /// An AMO outside RAM: reads `amo.size` bytes at `addr`, writes
    /// [`Amo::apply`] of them back as one indivisible step, and returns the
    /// old value. By default nothing outside RAM supports atomics (device
    /// registers do not), which the hart reports as a store/AMO access fault.
    fn atomic(&self, _ctx: &AccessContext, addr: u64, _amo: Amo) -> Result<u64, BusError> {
        Err(BusError::Denied(addr))
    }
}

/// What an AMO does to the value in memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AmoOp {
    /// `amoswap`: the operand.
    Swap,
    /// `amoadd`: old + operand.
    Add,
    /// `amoxor`.
    Xor,
    /// `amoand`.
    And,
    /// `amoor`.
    Or,
    /// `amomin`: signed minimum.
    Min,
    /// `amomax`: signed maximum.
    Max,
    /// `amominu`: unsigned minimum.
    MinU,
    /// `amomaxu`: unsigned maximum.
    MaxU,
}

/// An AMO as the bus sees it: the operation, its width and its operand.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Amo {
    /// The operation.
    pub op: AmoOp,
    /// 4 or 8 bytes.
    pub size: u8,
    /// The source register's value (its low 32 bits for a word AMO).
    pub operand: u64,
}

impl Amo {
    /// The value written back, given the old value (zero-extended from
    /// `size` bytes); a word AMO's result is zero-extended too.
    pub fn apply(&self, old: u64) -> u64 {
        let word = self.size == 4;
        let b = self.operand;
        let (sa, sb) = if word { (old as u32 as i32 as i64, b as u32 as i32 as i64) } else { (old as i64, b as i64) };
        let (ua, ub) = if word { (old & 0xffff_ffff, b & 0xffff_ffff) } else { (old, b) };
        let new = match self.op {
            AmoOp::Swap => ub,
            AmoOp::Add => ua.wrapping_add(ub),
            AmoOp::Xor => ua ^ ub,
            AmoOp::And => ua & ub,
            AmoOp::Or => ua | ub,
            AmoOp::Min => sa.min(sb) as u64,
            AmoOp::Max => sa.max(sb) as u64,
            AmoOp::MinU => ua.min(ub),
            AmoOp::MaxU => ua.max(ub),
        };
        if word { new & 0xffff_ffff } else { new }
    }
}

/// log2 of the granule in which RAM tracks code and watched bytes: 64-byte
/// lines, so one page's lines fit one `u64` mask.
pub const LINE_SHIFT: u32 = 6;

/// What stores to a range of RAM must also do.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreMarks {
    /// The range overlaps translated code: invalidate it.
    pub code: bool,
    /// The range is watched by the machine: route the store through [`Bus::write`].
    pub watch: bool,
    /// The range may hold an LR reservation: break it.
    pub reserved: bool,
}

/// Per-page masks of 64-byte lines that a store must not write silently.
/// `repr(C)`: compiled code reads the masks of a page directly (see
/// [`Ram::raw_parts`]).
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct PageMarks {
    pub(crate) code: AtomicU64,
    pub(crate) watch: AtomicU64,
    /// Lines an LR reserved that no store has touched since.
    pub(crate) reserved: AtomicU64,
    /// Bumped by every store to a reserved line: an SC whose LR saw another
    /// value fails.
    generation: AtomicU64,
}

/// The bit of each 64-byte line that `[offset, offset + len)` touches within
/// its page; the range must not cross the page.
#[inline(always)]
fn line_bits(offset: u64, len: u64) -> u64 {
    let first = (offset >> LINE_SHIFT) & 63;
    let last = ((offset + len - 1) >> LINE_SHIFT) & 63;
    (u64::MAX >> (63 - last)) & (u64::MAX << first)
}

/// Why host memory cannot serve as guest RAM.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RamError {
    /// The base address is not page-aligned.
    #[error("RAM must start on a 4 KiB boundary, not at {0:#x}")]
    MisalignedBase(u64),
    /// `base + size` overflows the physical address space.
    #[error("RAM of {size} bytes at {base:#x} runs past the end of the address space")]
    BeyondAddressSpace {
        /// Base address.
        base: u64,
        /// Size in bytes.
        size: u64,
    },
}

/// Guest RAM as host memory: one contiguous range of guest physical addresses
/// backed by host memory that outlives this value, with masks per page of the
/// 64-byte lines that hold translated code or are watched. Tracking lines
/// rather than pages keeps stores to data that shares a page with code (as in
/// every small bare-metal program) on the fast path.
///
/// Accesses are made with atomic operations of the access size, so harts on
/// several host threads can share it without data races; on x86-64 an aligned
/// relaxed atomic load or store is a plain `mov`.
pub struct Ram {
    base: u64,
    size: u64,
    host: *mut u8,
    pages: Box<[PageMarks]>,
    _owner: Arc<dyn Any + Send + Sync>,
}

// SAFETY: `host` points into memory kept alive by `_owner` for as long as this
// value exists, and every access through it is an atomic operation, so sharing
// the pointer between threads introduces no data race.
unsafe impl Send for Ram {}
// SAFETY: as for `Send`: all access through `host` is atomic.
unsafe impl Sync for Ram {}

impl fmt::Debug for Ram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ram").field("base", &format_args!("{:#x}", self.base)).field("size", &self.size).finish()
    }
}

impl Ram {
    /// Wraps host memory as guest RAM at guest physical address `base`,
    /// which must be aligned to a page ([`PAGE_SIZE`]) so that RAM pages and
    /// guest physical pages coincide.
    ///
    /// # Safety
    /// `host` must point to `size` bytes, aligned to 8, readable and writable
    /// for as long as `owner` lives, and not accessed by anything else except
    /// through atomic operations or while no hart runs.
    pub unsafe fn new(base: u64, host: *mut u8, size: u64, owner: Arc<dyn Any + Send + Sync>) -> Result<Ram, RamError> {
        if !base.is_multiple_of(PAGE_SIZE) {
            return Err(RamError::MisalignedBase(base));
        }
        if base.checked_add(size).is_none() {
            return Err(RamError::BeyondAddressSpace { base, size });
        }
        let pages = (0..size.div_ceil(PAGE_SIZE)).map(|_| PageMarks::default()).collect();
        Ok(Ram { base, size, host, pages, _owner: owner })
    }

    /// What compiled code needs to reach RAM directly: the host address of
    /// its first byte, and that of the first page's [`PageMarks`].
    pub(crate) fn raw_parts(&self) -> (usize, usize) {
        (self.host as usize, self.pages.as_ptr() as usize)
    }

    /// First guest physical address.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The offset of `[addr, addr + len)` in RAM, if all of it is RAM.
    #[inline(always)]
    pub fn offset(&self, addr: u64, len: u64) -> Option<u64> {
        let offset = addr.wrapping_sub(self.base);
        (offset < self.size && len <= self.size - offset).then_some(offset)
    }

    /// Whether a store to `[offset, offset + len)` (at most 8 bytes) may
    /// simply be written: it touches no code and nothing watched.
    #[inline(always)]
    pub fn store_is_plain(&self, offset: u64, len: u64) -> bool {
        let page = (offset >> PAGE_SHIFT) as usize;
        if (offset + len - 1) >> PAGE_SHIFT != page as u64 {
            return false;
        }
        let marks = &self.pages[page];
        let bits = line_bits(offset, len);
        let special = marks.code.load(Ordering::Acquire)
            | marks.watch.load(Ordering::Acquire)
            | marks.reserved.load(Ordering::Acquire);
        special & bits == 0
    }

    /// What a store to `[offset, offset + len)` touches.
    pub fn store_marks(&self, offset: u64, len: u64) -> StoreMarks {
        let mut marks = StoreMarks::default();
        let mut at = offset;
        let end = offset + len;
        while at < end {
            let page_end = (at | (PAGE_SIZE - 1)) + 1;
            let chunk_end = end.min(page_end);
            let page = &self.pages[(at >> PAGE_SHIFT) as usize];
            let bits = line_bits(at, chunk_end - at);
            marks.code |= page.code.load(Ordering::Acquire) & bits != 0;
            marks.watch |= page.watch.load(Ordering::Acquire) & bits != 0;
            marks.reserved |= page.reserved.load(Ordering::Acquire) & bits != 0;
            at = chunk_end;
        }
        marks
    }

    /// Marks the line holding `offset` as reserved by an LR, before the LR
    /// reads it, and returns the stamp [`Ram::reservation_intact`] checks:
    /// from then on stores to the line leave the fast path and break the
    /// reservation ([`Ram::break_reservations`]).
    pub fn reserve(&self, offset: u64) -> u64 {
        let marks = &self.pages[(offset >> PAGE_SHIFT) as usize];
        marks.reserved.fetch_or(line_bits(offset, 1), Ordering::AcqRel);
        marks.generation.load(Ordering::Acquire)
    }

    /// Whether no store has broken a reservation on the page of `offset`
    /// since the LR that got `stamp`. A store to another reserved line of the
    /// same page counts too: the SC then fails spuriously, as it may.
    pub fn reservation_intact(&self, offset: u64, stamp: u64) -> bool {
        self.pages[(offset >> PAGE_SHIFT) as usize].generation.load(Ordering::Acquire) == stamp
    }

    /// Breaks every reservation on the lines `[offset, offset + len)`
    /// touches; called after a store to them (including AMOs and SCs).
    pub fn break_reservations(&self, offset: u64, len: u64) {
        let mut at = offset;
        let end = offset + len;
        while at < end {
            let chunk_end = end.min((at | (PAGE_SIZE - 1)) + 1);
            let page = &self.pages[(at >> PAGE_SHIFT) as usize];
            let bits = line_bits(at, chunk_end - at);
            if page.reserved.load(Ordering::Acquire) & bits != 0 {
                page.reserved.fetch_and(!bits, Ordering::AcqRel);
                page.generation.fetch_add(1, Ordering::AcqRel);
            }
            at = chunk_end;
        }
    }

    /// Records that the line holding `offset` contains translated code.
    /// Translators call this before reading the code.
    pub fn mark_code(&self, offset: u64) {
        let bit = line_bits(offset, 1);
        let marks = &self.pages[(offset >> PAGE_SHIFT) as usize];
        if marks.code.load(Ordering::Relaxed) & bit == 0 {
            marks.code.fetch_or(bit, Ordering::AcqRel);
        }
    }

    /// Forgets the code marks of the page holding `offset`; returns whether
    /// there were any. Done before the page's translations are dropped.
    pub fn take_code_marks(&self, offset: u64) -> bool {
        self.pages[(offset >> PAGE_SHIFT) as usize].code.swap(0, Ordering::AcqRel) != 0
    }

    /// Routes stores to `[offset, offset + len)` through the bus from now on.
    pub fn mark_watched(&self, offset: u64, len: u64) {
        let mut at = offset;
        let end = offset + len;
        while at < end {
            let chunk_end = end.min((at | (PAGE_SIZE - 1)) + 1);
            self.pages[(at >> PAGE_SHIFT) as usize].watch.fetch_or(line_bits(at, chunk_end - at), Ordering::AcqRel);
            at = chunk_end;
        }
    }

    /// Reads `size` bytes at `offset`, little-endian, zero-extended.
    /// The caller has checked the range with [`Ram::offset`].
    #[inline(always)]
    pub fn read(&self, offset: u64, size: u8) -> u64 {
        debug_assert!(offset + u64::from(size) <= self.size);
        if offset & (u64::from(size) - 1) != 0 {
            return self.read_misaligned(offset, size);
        }
        // SAFETY: `offset + size <= self.size` (checked by the caller through
        // `offset`), so the pointer is inside the host block `new` was given;
        // the block is 8-aligned and `offset` is a multiple of `size`, so the
        // atomic type's alignment holds.
        unsafe {
            let p = self.host.add(offset as usize);
            match size {
                1 => u64::from((*p.cast::<AtomicU8>()).load(Ordering::Relaxed)),
                2 => u64::from((*p.cast::<AtomicU16>()).load(Ordering::Relaxed)),
                4 => u64::from((*p.cast::<AtomicU32>()).load(Ordering::Relaxed)),
                _ => (*p.cast::<AtomicU64>()).load(Ordering::Relaxed),
            }
        }
    }

    /// Writes the low `size` bytes of `value` at `offset`. This does not look at
    /// page flags: translated code on the page is the caller's concern.
    #[inline(always)]
    pub fn write(&self, offset: u64, size: u8, value: u64) {
        debug_assert!(offset + u64::from(size) <= self.size);
        if offset & (u64::from(size) - 1) != 0 {
            self.write_misaligned(offset, size, value);
            return;
        }
        // SAFETY: as in `read`: in bounds and aligned for the atomic type.
        unsafe {
            let p = self.host.add(offset as usize);
            match size {
                1 => (*p.cast::<AtomicU8>()).store(value as u8, Ordering::Relaxed),
                2 => (*p.cast::<AtomicU16>()).store(value as u16, Ordering::Relaxed),
                4 => (*p.cast::<AtomicU32>()).store(value as u32, Ordering::Relaxed),
                _ => (*p.cast::<AtomicU64>()).store(value, Ordering::Relaxed),
            }
        }
    }

    /// A misaligned access is made of byte accesses: RISC-V guarantees no
    /// atomicity for it.
    #[cold]
    fn read_misaligned(&self, offset: u64, size: u8) -> u64 {
        (0..u64::from(size)).fold(0, |v, i| v | self.read(offset + i, 1) << (8 * i))
    }

    #[cold]
    fn write_misaligned(&self, offset: u64, size: u8, value: u64) {
        for i in 0..u64::from(size) {
            self.write(offset + i, 1, value >> (8 * i));
        }
    }

    /// The 32-bit word at `offset` as an atomic, for AMOs and LR/SC.
    /// `None` unless `offset` is 4-aligned and inside RAM.
    pub fn atomic_u32(&self, offset: u64) -> Option<&AtomicU32> {
        (offset.is_multiple_of(4) && offset + 4 <= self.size).then(|| {
            // SAFETY: in bounds and 4-aligned (checked above) within the
            // 8-aligned host block, which lives as long as `self`.
            unsafe { &*self.host.add(offset as usize).cast::<AtomicU32>() }
        })
    }

    /// The 64-bit word at `offset` as an atomic. `None` unless 8-aligned and inside RAM.
    pub fn atomic_u64(&self, offset: u64) -> Option<&AtomicU64> {
        (offset.is_multiple_of(8) && offset + 8 <= self.size).then(|| {
            // SAFETY: in bounds and 8-aligned (checked above) within the
            // 8-aligned host block, which lives as long as `self`.
            unsafe { &*self.host.add(offset as usize).cast::<AtomicU64>() }
        })
    }

    /// Copies `data` into RAM at `offset`, as a loader does before harts run.
    /// Returns `false`, copying nothing, if it does not fit.
    pub fn write_bytes(&self, offset: u64, data: &[u8]) -> bool {
        if offset.checked_add(data.len() as u64).is_none_or(|end| end > self.size) {
            return false;
        }
        for (i, &byte) in data.iter().enumerate() {
            self.write(offset + i as u64, 1, u64::from(byte));
        }
        true
    }

    /// Copies RAM at `offset` into `buf`; `false` if the range is not all RAM.
    pub fn read_bytes(&self, offset: u64, buf: &mut [u8]) -> bool {
        if offset.checked_add(buf.len() as u64).is_none_or(|end| end > self.size) {
            return false;
        }
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte = self.read(offset + i as u64, 1) as u8;
        }
        true
    }
}
