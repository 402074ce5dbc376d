//! Guest RAM, allocated through `vm-memory` and handed to harts as host memory.

use std::sync::Arc;

use polyhart_iss::Ram;
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

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

/// Allocates `size` bytes of zeroed guest RAM at guest physical address `base`.
pub fn allocate_ram(base: u64, size: u64) -> Result<Arc<Ram>, MemoryError> {
    if size == 0 || !size.is_multiple_of(4096) || base.checked_add(size).is_none() {
        return Err(MemoryError::BadSize(size));
    }
    let len = usize::try_from(size).map_err(|_| MemoryError::BadSize(size))?;
    let guest_memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(base), len)])
        .map_err(|source| MemoryError::Allocation { base, size, source })?;
    let host = guest_memory.get_host_address(GuestAddress(base)).map_err(|_| MemoryError::BadSize(size))?;
    let owner: Arc<GuestMemoryMmap> = Arc::new(guest_memory);
    // SAFETY: `host` is the start of one anonymous mapping of `size` bytes
    // made by `from_ranges` above (page-aligned, so 8-aligned); `owner` keeps
    // the mapping alive for as long as the `Ram` exists, and nothing else gets
    // a pointer into it: the machine reaches RAM only through this `Ram`.
    let ram = unsafe { Ram::new(base, host, size, owner) }?;
    Ok(Arc::new(ram))
}
