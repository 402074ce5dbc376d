//! Guest RAM, allocated through `vm-memory` and handed to harts as host
//! memory, and the way devices reach it ([`Dma`]).

use std::sync::Arc;

use polyhart_iss::memory::PAGE_SHIFT;
use polyhart_iss::{Ram, TranslationCache};
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

/// Why guest RAM could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The host would not give us the memory.
    #[error("cannot allocate {size} bytes of guest RAM at {base:#x}")]
    Allocation {
        /// Guest physical base address.
        base: u64,
        /// Requested size in bytes.
        size: u64,
        /// What the host said.
        #[source]
        source: vm_memory::mmap::FromRangesError,
    },
    /// The RAM window itself is unusable (misaligned base).
    #[error(transparent)]
    Window(#[from] polyhart_iss::RamError),
    /// Zero bytes, or a size that does not fit the address space.
    #[error("a RAM size of {0} bytes is not usable: it must be a non-zero multiple of 4 KiB")]
    BadSize(u64),
}

/// Guest RAM as the harts see it ([`Ram`]) and as rust-vmm's crates see it
/// (`vm-memory`'s [`GuestMemoryMmap`]): one mapping, two views.
#[derive(Clone, Debug)]
pub struct GuestRam {
    /// The harts' view.
    pub ram: Arc<Ram>,
    /// The same memory for crates built on `vm-memory` (`virtio-queue`
    /// reads and writes its rings through it).
    pub mapping: Arc<GuestMemoryMmap>,
}

/// Allocates `size` bytes of zeroed guest RAM at guest physical address `base`.
pub fn allocate_ram(base: u64, size: u64) -> Result<GuestRam, MemoryError> {
    if size == 0 || !size.is_multiple_of(4096) || base.checked_add(size).is_none() {
        return Err(MemoryError::BadSize(size));
    }
    let len = usize::try_from(size).map_err(|_| MemoryError::BadSize(size))?;
    let guest_memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(base), len)])
        .map_err(|source| MemoryError::Allocation { base, size, source })?;
    let host = guest_memory.get_host_address(GuestAddress(base)).map_err(|_| MemoryError::BadSize(size))?;
    let mapping: Arc<GuestMemoryMmap> = Arc::new(guest_memory);
    // SAFETY: `host` is the start of one anonymous mapping of `size` bytes
    // made by `from_ranges` above (page-aligned, so 8-aligned); `mapping`
    // keeps it alive for as long as the `Ram` exists. Besides the `Ram`,
    // only `vm-memory`'s accesses reach it: the virtio queues' atomic ring
    // indices and volatile copies of ring entries, at addresses the guest
    // handed the device and does not touch meanwhile (the virtio protocol);
    // device data goes through the `Ram`'s atomic accesses ([`Dma`]).
    let ram = unsafe { Ram::new(base, host, size, mapping.clone()) }?;
    Ok(GuestRam { ram: Arc::new(ram), mapping })
}

/// Makes the `size` bytes of guest RAM at `base` in `mapping` a private,
/// copy-on-write mapping of `file` from `offset` (page-aligned): the file's
/// pages are shared until the guest or a device writes one, and the file
/// is never written. Every pointer into the RAM stays valid. What was in
/// the RAM is gone; translated code and reservations on it are the
/// caller's to drop.
pub(crate) fn map_file_private(
    mapping: &GuestMemoryMmap,
    base: u64,
    size: u64,
    file: &std::fs::File,
    offset: u64,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let region = mapping
        .find_region(GuestAddress(base))
        .filter(|region| region.start_addr() == GuestAddress(base) && region.len() == size)
        .ok_or_else(|| std::io::Error::other(format!("no RAM region of {size} bytes at {base:#x}")))?;
    let host = region.as_ptr();
    let (Ok(len), Ok(file_offset)) = (usize::try_from(size), libc::off_t::try_from(offset)) else {
        return Err(std::io::Error::other("the RAM does not fit the host's address space"));
    };
    // SAFETY: a new mapping of the file, wherever the kernel puts it: it
    // touches no memory of ours, and its failure (a file that cannot be
    // mapped) leaves the RAM as it was.
    let fresh = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_NORESERVE,
            file.as_raw_fd(),
            file_offset,
        )
    };
    if fresh == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `host` and `len` are exactly one region that `vm-memory`
    // mapped (anonymous, private, readable and writable) and keeps mapped
    // for as long as `mapping` lives; `fresh` is the file's mapping of the
    // same length and protection made above, which nothing else knows.
    // MREMAP_FIXED moves it onto the region in one step, under the
    // kernel's lock on the address space, so no pointer into the region
    // (the `Ram`'s, `vm-memory`'s) ever dangles and no access faults: one
    // racing with the call (a network device's receive thread) lands in
    // the old pages or the new. Nothing else is mapped there.
    let moved = unsafe {
        libc::mremap(fresh, len, len, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, host.cast::<libc::c_void>())
    };
    if moved == libc::MAP_FAILED {
        let error = std::io::Error::last_os_error();
        // SAFETY: `fresh` is still the file's mapping made above, unused.
        unsafe { libc::munmap(fresh, len) };
        return Err(error);
    }
    Ok(())
}

/// How devices reach guest RAM (direct memory access), with what a hart's
/// store would also do: translated code on the pages written is dropped
/// and LR reservations on the lines written are broken. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Dma {
    ram: Arc<Ram>,
    cache: Arc<TranslationCache>,
}

impl Dma {
    /// DMA into `ram`, whose translations `cache` holds.
    pub fn new(ram: Arc<Ram>, cache: Arc<TranslationCache>) -> Dma {
        Dma { ram, cache }
    }

    /// The RAM devices reach.
    pub fn ram(&self) -> &Arc<Ram> {
        &self.ram
    }

    /// Reads guest RAM at physical `addr` into `buf`; false, reading
    /// nothing, if the range is not all RAM.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let ram = &self.ram;
        ram.offset(addr, buf.len() as u64).is_some_and(|offset| buf.is_empty() || ram.read_bytes(offset, buf))
    }

    /// Writes `bytes` into guest RAM at physical `addr`; false, writing
    /// nothing, if the range is not all RAM.
    pub fn write(&self, addr: u64, bytes: &[u8]) -> bool {
        let ram = &self.ram;
        let Some(offset) = ram.offset(addr, bytes.len() as u64) else { return false };
        if bytes.is_empty() || !ram.write_bytes(offset, bytes) {
            return bytes.is_empty();
        }
        self.written(addr, bytes.len() as u64);
        true
    }

    /// Does what a hart's store would after `[addr, addr + len)` was
    /// written by other means (through [`GuestRam::mapping`]): breaks LR
    /// reservations there and drops translations of the pages it touches.
    pub fn written(&self, addr: u64, len: u64) {
        let ram = &self.ram;
        let Some(offset) = ram.offset(addr, len) else { return };
        if len == 0 {
            return;
        }
        ram.break_reservations(offset, len);
        let (first, last) = (offset >> PAGE_SHIFT, (offset + len - 1) >> PAGE_SHIFT);
        for page in first..=last {
            if ram.take_code_marks(page << PAGE_SHIFT) {
                self.cache.invalidate_page((ram.base() >> PAGE_SHIFT) + page);
            }
        }
    }
}
