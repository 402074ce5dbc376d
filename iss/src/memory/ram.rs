//! RAM as host memory, shared by the harts: each access an atomic operation
//! of its size, and a byte of marks per 64-byte line (code, watched,
//! reserved) that sends stores to marked lines off the fast path.

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

/// log2 of the granule in which RAM tracks code, watched bytes and
/// reservations: 64-byte lines, each with a byte of marks.
pub(crate) const LINE_SHIFT: u32 = 6;

/// What stores to a range of RAM must also do.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreMarks {
    /// The range overlaps translated code: invalidate it.
    pub code: bool,
    /// The range is watched by the machine: route the store through [`crate::Bus::write`].
    pub watch: bool,
    /// The range may hold an LR reservation: break it.
    pub reserved: bool,
}

/// Bits of a line's byte in [`LineMarks`]: the line holds translated code.
pub(crate) const MARK_CODE: u8 = 1;
/// The line is watched by the machine.
pub(crate) const MARK_WATCH: u8 = 2;
/// An LR reserved the line and no store has touched it since.
pub(crate) const MARK_RESERVED: u8 = 4;
/// Every mark.
pub(crate) const MARK_ANY: u8 = MARK_CODE | MARK_WATCH | MARK_RESERVED;

/// Lines (and so bytes of marks) per word of [`LineMarks`].
const LINES_PER_WORD: u64 = 8;

/// What a store to each 64-byte line of RAM must also do: one byte per line,
/// in RAM's order, its bits the marks ([`MARK_CODE`], [`MARK_WATCH`],
/// [`MARK_RESERVED`]). A store tests its line's byte for all of them at
/// once: compiled code with one byte load (see [`Ram::raw_parts`]). The
/// bytes change through atomic operations on the words that hold eight of
/// them, so concurrent marks of one line never lose each other.
struct LineMarks {
    words: Box<[AtomicU64]>,
}

impl LineMarks {
    /// No marks, for `pages` pages (see [`zeroed_words`]: a large RAM
    /// costs nothing here until its code runs); `None` if the host refuses
    /// the memory.
    fn new(pages: u64) -> Option<LineMarks> {
        let count = pages.checked_mul((PAGE_SIZE >> LINE_SHIFT) / LINES_PER_WORD)?;
        Some(LineMarks { words: zeroed_words(count)? })
    }

    /// Calls `visit` with each word holding the bytes of the lines that
    /// `[offset, offset + len)` touches, and the mask of those
    /// bytes in it.
    #[inline(always)]
    fn each_word(&self, offset: u64, len: u64, mut visit: impl FnMut(&AtomicU64, u64)) {
        if len == 0 {
            return;
        }
        let (first, last) = (offset >> LINE_SHIFT, (offset + len - 1) >> LINE_SHIFT);
        let mut line = first;
        loop {
            let word = line / LINES_PER_WORD;
            let end = last.min(word * LINES_PER_WORD + LINES_PER_WORD - 1);
            visit(&self.words[word as usize], byte_mask(line % LINES_PER_WORD, end % LINES_PER_WORD));
            if end == last {
                break;
            }
            line = end + 1;
        }
    }

    /// The marks of the lines `[offset, offset + len)` touches, or-ed as
    /// words: a mark is on one of them if its bit is set in any byte (see
    /// [`every_byte`]).
    #[inline(always)]
    fn get(&self, offset: u64, len: u64) -> u64 {
        let mut marks = 0;
        self.each_word(offset, len, |word, mask| marks |= word.load(Ordering::Acquire) & mask);
        marks
    }

    /// Sets `mark` on the lines `[offset, offset + len)` touches.
    fn set(&self, offset: u64, len: u64, mark: u8) {
        self.each_word(offset, len, |word, mask| {
            let bits = mask & every_byte(mark);
            if word.load(Ordering::Relaxed) & bits != bits {
                word.fetch_or(bits, Ordering::AcqRel);
            }
        });
    }

    /// Clears `mark` from the lines `[offset, offset + len)` touches;
    /// returns whether any of them had it.
    fn clear(&self, offset: u64, len: u64, mark: u8) -> bool {
        let mut had = false;
        self.each_word(offset, len, |word, mask| {
            let bits = mask & every_byte(mark);
            if word.load(Ordering::Acquire) & bits != 0 {
                had |= word.fetch_and(!bits, Ordering::AcqRel) & bits != 0;
            }
        });
        had
    }
}

/// `count` zeroed words, or `None` if the host refuses the memory. The
/// memory comes zeroed from the system allocator (`calloc`, whose large
/// blocks are fresh mappings the kernel zeroes page by page on first
/// touch), so a table sized by a large RAM costs host memory only where it
/// is written; and a refusal is an answer, not the abort of an infallible
/// allocation.
fn zeroed_words(count: u64) -> Option<Box<[AtomicU64]>> {
    if count == 0 {
        return Some(Box::new([]));
    }
    let count = usize::try_from(count).ok()?;
    let layout = std::alloc::Layout::array::<AtomicU64>(count).ok()?;
    // SAFETY: `layout` has a non-zero size (`count > 0` words of 8 bytes).
    let words = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<AtomicU64>();
    if words.is_null() {
        return None;
    }
    // SAFETY: `words` is a block from the global allocator with the layout
    // of `[AtomicU64; count]`, which is the layout `Box<[AtomicU64]>` of
    // `count` elements frees with; all-zero bytes are a valid `AtomicU64`
    // (zero); nothing else owns the block.
    Some(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(words, count)) })
}

/// The mask of bytes `first..=last` (in memory order) of a word.
#[inline(always)]
fn byte_mask(first: u64, last: u64) -> u64 {
    let ones = u64::MAX >> (8 * (7 - (last - first)));
    if cfg!(target_endian = "little") { ones << (8 * first) } else { ones << (8 * (7 - last)) }
}

/// `byte` in every byte of a word.
#[inline(always)]
fn every_byte(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
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
    /// The host cannot address that much memory.
    #[error("RAM of {0} bytes does not fit this host's address space")]
    TooLarge(u64),
    /// The host refused the memory: RAM itself ([`Ram::zeroed`]), or the
    /// tables that track its lines and pages (1/64 of its size and more).
    #[error("the host cannot provide the memory that RAM of {0} bytes needs (try a smaller RAM)")]
    HostMemory(u64),
}

/// Guest RAM as host memory: one contiguous range of guest physical addresses
/// backed by host memory that outlives this value, with marks on the 64-byte
/// lines that hold translated code, are watched or are reserved. Tracking
/// lines rather than pages keeps stores to data that shares a page with code
/// (as in every small bare-metal program) on the fast path.
///
/// Accesses are made with atomic operations of the access size, so harts on
/// several host threads can share it without data races; on x86-64 an aligned
/// relaxed atomic load or store is a plain `mov`.
pub struct Ram {
    base: u64,
    size: u64,
    host: *mut u8,
    lines: LineMarks,
    /// Per page: bumped by every store to a reserved line, so that an SC
    /// whose LR saw another value fails.
    generations: Box<[AtomicU64]>,
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
    /// `size` bytes of zeroed RAM at guest physical address `base`, in host
    /// memory of its own (allocated and zeroed here: for tests and small
    /// machines; a machine maps big RAM lazily and wraps it with
    /// [`Ram::new`]).
    pub fn zeroed(base: u64, size: u64) -> Result<Ram, RamError> {
        usize::try_from(size).map_err(|_| RamError::TooLarge(size))?;
        let host = Arc::new(zeroed_words(size.div_ceil(8)).ok_or(RamError::HostMemory(size))?);
        let pointer = host.as_ptr() as *mut u8;
        // SAFETY: `pointer` is the start of at least `size` bytes of
        // `AtomicU64`s (so 8-aligned, and writable through a shared pointer),
        // kept alive by `host`, which the `Ram` owns; nothing else can reach
        // them.
        unsafe { Ram::new(base, pointer, size, host) }
    }

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
        let pages = size.div_ceil(PAGE_SIZE);
        let lines = LineMarks::new(pages).ok_or(RamError::HostMemory(size))?;
        let generations = zeroed_words(pages).ok_or(RamError::HostMemory(size))?;
        Ok(Ram { base, size, host, lines, generations, _owner: owner })
    }

    /// What compiled code needs to reach RAM directly: the host address of
    /// its first byte, and that of its first line's marks (the marks of the
    /// line at RAM offset `o` are the byte at `o >> LINE_SHIFT` from there;
    /// bits [`MARK_CODE`], [`MARK_WATCH`], [`MARK_RESERVED`]).
    pub(crate) fn raw_parts(&self) -> (usize, usize) {
        (self.host as usize, self.lines.words.as_ptr() as usize)
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
        self.lines.get(offset, len) == 0
    }

    /// What a store to `[offset, offset + len)` touches.
    pub fn store_marks(&self, offset: u64, len: u64) -> StoreMarks {
        let marks = self.lines.get(offset, len);
        let has = |mark: u8| marks & every_byte(mark) != 0;
        StoreMarks { code: has(MARK_CODE), watch: has(MARK_WATCH), reserved: has(MARK_RESERVED) }
    }

    /// Marks the line holding `offset` as reserved by an LR, before the LR
    /// reads it, and returns the stamp [`Ram::reservation_intact`] checks:
    /// from then on stores to the line leave the fast path and break the
    /// reservation ([`Ram::break_reservations`]).
    pub fn reserve(&self, offset: u64) -> u64 {
        self.lines.set(offset, 1, MARK_RESERVED);
        self.generations[(offset >> PAGE_SHIFT) as usize].load(Ordering::Acquire)
    }

    /// Whether no store has broken a reservation on the page of `offset`
    /// since the LR that got `stamp`. A store to another reserved line of the
    /// same page counts too: the SC then fails spuriously, as it may.
    pub fn reservation_intact(&self, offset: u64, stamp: u64) -> bool {
        self.generations[(offset >> PAGE_SHIFT) as usize].load(Ordering::Acquire) == stamp
    }

    /// Breaks every reservation on the lines `[offset, offset + len)`
    /// touches; called after a store to them (including AMOs and SCs).
    pub fn break_reservations(&self, offset: u64, len: u64) {
        let mut at = offset;
        let end = offset + len;
        while at < end {
            let chunk_end = end.min((at | (PAGE_SIZE - 1)) + 1);
            if self.lines.clear(at, chunk_end - at, MARK_RESERVED) {
                self.generations[(at >> PAGE_SHIFT) as usize].fetch_add(1, Ordering::AcqRel);
            }
            at = chunk_end;
        }
    }

    /// Records that the line holding `offset` contains translated code.
    /// Translators call this before reading the code.
    pub fn mark_code(&self, offset: u64) {
        self.lines.set(offset, 1, MARK_CODE);
    }

    /// Forgets the code marks of the page holding `offset`; returns whether
    /// there were any. Done before the page's translations are dropped.
    pub fn take_code_marks(&self, offset: u64) -> bool {
        self.lines.clear(offset & !(PAGE_SIZE - 1), PAGE_SIZE, MARK_CODE)
    }

    /// Routes stores to `[offset, offset + len)` through the bus from now on.
    pub fn mark_watched(&self, offset: u64, len: u64) {
        self.lines.set(offset, len, MARK_WATCH);
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

    /// Copies `data` into RAM at `offset`, as a loader or a device's DMA
    /// does, without looking at marks (translated code and reservations on
    /// the lines are the caller's concern). Returns `false`, copying
    /// nothing, if it does not fit.
    pub fn write_bytes(&self, offset: u64, data: &[u8]) -> bool {
        if offset.checked_add(data.len() as u64).is_none_or(|end| end > self.size) {
            return false;
        }
        let mut at = offset;
        let end = offset + data.len() as u64;
        // Bytes up to an 8-aligned address, words, then the bytes left over.
        while at < end {
            let i = (at - offset) as usize;
            if at.is_multiple_of(8) && end - at >= 8 {
                let word = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7].map(|k| data[i + k]));
                self.write(at, 8, word);
                at += 8;
            } else {
                self.write(at, 1, u64::from(data[i]));
                at += 1;
            }
        }
        true
    }

    /// Copies RAM at `offset` into `buf`; `false` if the range is not all RAM.
    pub fn read_bytes(&self, offset: u64, buf: &mut [u8]) -> bool {
        if offset.checked_add(buf.len() as u64).is_none_or(|end| end > self.size) {
            return false;
        }
        let len = buf.len();
        let mut at = offset;
        let end = offset + len as u64;
        // Bytes up to an 8-aligned address, words, then the bytes left over.
        while at < end {
            let i = (at - offset) as usize;
            if at.is_multiple_of(8) && end - at >= 8 {
                buf[i..i + 8].copy_from_slice(&self.read(at, 8).to_le_bytes());
                at += 8;
            } else {
                buf[i] = self.read(at, 1) as u8;
                at += 1;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three pages of RAM at 0x8000_0000 (host memory of `u64`s, 8-aligned).
    fn three_pages() -> Ram {
        let memory = Arc::new(vec![0u64; 3 * PAGE_SIZE as usize / 8]);
        let pointer = memory.as_ptr() as *mut u8;
        // SAFETY: 12 KiB of `u64`s, 8-aligned, kept alive by `memory`, which
        // nothing else reaches; the tests only read and write marks.
        unsafe { Ram::new(0x8000_0000, pointer, 3 * PAGE_SIZE, memory) }.expect("page-aligned RAM")
    }

    #[test]
    fn marks_are_per_line_and_reach_across_words_and_pages() {
        let ram = three_pages();
        // Lines 7 and 8: the last byte of the first word of marks and the
        // first of the second.
        ram.mark_code(7 * 64 + 5);
        assert!(!ram.store_is_plain(7 * 64, 1) && ram.store_is_plain(6 * 64 + 56, 8));
        assert!(ram.store_is_plain(8 * 64, 8));
        assert_eq!(ram.store_marks(8 * 64 - 4, 8), StoreMarks { code: true, watch: false, reserved: false });
        ram.mark_code(8 * 64);
        assert!(!ram.store_is_plain(8 * 64 + 63, 1));

        // A watch over a page boundary marks the lines on both sides only.
        ram.mark_watched(PAGE_SIZE - 8, 16);
        assert!(ram.store_marks(PAGE_SIZE - 1, 1).watch && ram.store_marks(PAGE_SIZE + 7, 1).watch);
        assert!(!ram.store_marks(PAGE_SIZE - 65, 1).watch && !ram.store_marks(PAGE_SIZE + 64, 1).watch);
        // A store over the boundary is never plain (it crosses pages).
        assert!(!ram.store_is_plain(2 * PAGE_SIZE - 4, 8) && ram.store_is_plain(2 * PAGE_SIZE, 8));

        // Code marks go a page at a time, and leave other marks alone.
        assert!(ram.take_code_marks(123));
        assert!(!ram.take_code_marks(0) && ram.store_is_plain(7 * 64, 1) && ram.store_is_plain(8 * 64, 8));
        assert!(ram.store_marks(PAGE_SIZE - 1, 1).watch);
    }

    #[test]
    fn ram_the_host_cannot_provide_is_an_error_not_an_abort() {
        // Half the address space: no host has it, so every allocation
        // fails, and must fail as a value.
        assert_eq!(Ram::zeroed(0, 1 << 63).err(), Some(RamError::HostMemory(1 << 63)));
        // 4 TiB, with 64 GiB of line marks: lazily zeroed where the host
        // lends that much, refused where it does not; never an abort.
        match Ram::zeroed(0x8000_0000, 1 << 42) {
            Ok(ram) => {
                let last = ram.size() - 8;
                ram.write(last, 8, 0x1234);
                ram.mark_code(last);
                assert!(ram.read(last, 8) == 0x1234 && !ram.store_is_plain(last, 8));
            }
            Err(error) => assert_eq!(error, RamError::HostMemory(1 << 42)),
        }
    }

    #[test]
    fn a_store_to_a_reserved_line_breaks_the_reservation() {
        let ram = three_pages();
        let line = 2 * PAGE_SIZE + 3 * 64;
        let stamp = ram.reserve(line + 8);
        assert!(ram.store_marks(line + 63, 1).reserved && !ram.store_is_plain(line, 4));
        assert!(ram.store_is_plain(line + 64, 4) && ram.store_is_plain(line - 8, 8));
        // A store to another line of the page breaks nothing.
        ram.break_reservations(line + 64, 8);
        assert!(ram.reservation_intact(line + 8, stamp));
        ram.break_reservations(line + 60, 8);
        assert!(!ram.reservation_intact(line + 8, stamp));
        assert!(ram.store_is_plain(line, 8) && !ram.store_marks(line, 8).reserved);
    }

    #[test]
    fn byte_copies_of_any_alignment_land_where_single_bytes_would() {
        let ram = three_pages();
        let data: Vec<u8> = (0..40u8).map(|b| b.wrapping_mul(37) ^ 0x5a).collect();
        for start in [0u64, 3, 8, PAGE_SIZE - 13] {
            for len in [0usize, 1, 7, 8, 9, 23, 40] {
                assert!(ram.write_bytes(start, &data[..len]));
                for (i, &byte) in data[..len].iter().enumerate() {
                    assert_eq!(ram.read(start + i as u64, 1), u64::from(byte), "write at {start}+{i}");
                }
                let mut back = vec![0; len];
                assert!(ram.read_bytes(start, &mut back));
                assert_eq!(back, data[..len], "read at {start}, {len} bytes");
            }
        }
        assert_eq!(ram.read(PAGE_SIZE - 13, 8), u64::from_le_bytes(data[..8].try_into().unwrap()));
        let mut tail = [0; 4];
        assert!(!ram.write_bytes(3 * PAGE_SIZE - 2, &tail) && !ram.read_bytes(3 * PAGE_SIZE - 2, &mut tail));
        assert!(!ram.write_bytes(u64::MAX, &tail[..1]));
    }
}
