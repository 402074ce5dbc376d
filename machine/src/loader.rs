//! Loading guest images into RAM: ELF executables and raw binaries.
//!
//! Everything is checked before a byte is written, so a bad image leaves RAM
//! as it was: the file must be a little-endian 64-bit RISC-V ELF, its
//! loadable segments must lie inside RAM, hold no more file bytes than the
//! file has, and not overlap each other.

use object::elf::{ELFCLASS64, ELFDATA2LSB, EM_RISCV, FileHeader64, PT_LOAD};
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectSymbol};
use polyhart_iss::Ram;

/// Why an image could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file starts with the ELF magic but is not a 64-bit ELF.
    #[error("not a 64-bit ELF file (ELF class {0})")]
    NotElf64(u8),
    /// Big-endian ELF.
    #[error("not a little-endian ELF file")]
    BigEndian,
    /// An ELF for another machine.
    #[error("ELF file is for machine type {0}, not RISC-V (243)")]
    WrongMachine(u16),
    /// The ELF structure is damaged or cut short.
    #[error("malformed ELF file: {0}")]
    Malformed(#[from] object::read::Error),
    /// A segment's file bytes lie beyond the end of the file.
    #[error("malformed ELF file: the segment at {0:#x} extends past the end of the file")]
    Truncated(u64),
    /// A segment does not fit in RAM.
    #[error("segment at {addr:#x} ({size} bytes) lies outside RAM [{ram_start:#x}, {ram_end:#x})")]
    OutsideRam {
        /// Segment's physical address.
        addr: u64,
        /// Segment's size in memory.
        size: u64,
        /// First RAM address.
        ram_start: u64,
        /// One past the last RAM address.
        ram_end: u64,
    },
    /// Two segments claim the same memory.
    #[error("segments at {first:#x} and {second:#x} overlap")]
    Overlap {
        /// Start of one segment.
        first: u64,
        /// Start of the other.
        second: u64,
    },
    /// A segment says it has more file bytes than it has memory.
    #[error("segment at {addr:#x} has {file_size} bytes in the file but only {mem_size} in memory")]
    FileLargerThanMemory {
        /// Segment's physical address.
        addr: u64,
        /// `p_filesz`.
        file_size: u64,
        /// `p_memsz`.
        mem_size: u64,
    },
    /// The ELF has nothing to load.
    #[error("ELF file has no loadable segments")]
    NothingToLoad,
    /// An empty file.
    #[error("the file is empty")]
    Empty,
}

/// What was loaded, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedImage {
    /// Where execution starts: the ELF entry point, or the load address of a raw image.
    pub entry: u64,
    /// `[start, end)` of each loaded segment.
    pub segments: Vec<(u64, u64)>,
    /// Address of the `tohost` symbol, if the ELF defines one (HTIF).
    pub tohost: Option<u64>,
    /// Address of the `fromhost` symbol, if the ELF defines one.
    pub fromhost: Option<u64>,
}

impl LoadedImage {
    /// One past the highest loaded address.
    pub fn end(&self) -> u64 {
        self.segments.iter().map(|&(_, end)| end).max().unwrap_or(self.entry)
    }
}

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// Whether `data` starts like an ELF file.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(ELF_MAGIC)
}

/// Loads an ELF if `data` is one, or else raw bytes at `raw_address`.
pub fn load_image(ram: &Ram, data: &[u8], raw_address: u64) -> Result<LoadedImage, LoadError> {
    if is_elf(data) { load_elf(ram, data) } else { load_raw(ram, data, raw_address) }
}

/// Copies a raw binary into RAM at `addr`.
pub fn load_raw(ram: &Ram, data: &[u8], addr: u64) -> Result<LoadedImage, LoadError> {
    if data.is_empty() {
        return Err(LoadError::Empty);
    }
    let size = data.len() as u64;
    let offset = ram.offset(addr, size).ok_or_else(|| outside(ram, addr, size))?;
    ram.write_bytes(offset, data);
    Ok(LoadedImage { entry: addr, segments: vec![(addr, addr + size)], tohost: None, fromhost: None })
}

fn outside(ram: &Ram, addr: u64, size: u64) -> LoadError {
    LoadError::OutsideRam { addr, size, ram_start: ram.base(), ram_end: ram.base() + ram.size() }
}

/// Loads the `PT_LOAD` segments of a RISC-V ELF at their physical addresses,
/// zero-filling the part of each segment beyond its file bytes.
pub fn load_elf(ram: &Ram, data: &[u8]) -> Result<LoadedImage, LoadError> {
    // Check the identification bytes first so that the errors name the real
    // problem rather than a parse failure.
    if data.len() >= 6 && is_elf(data) {
        if data[4] != ELFCLASS64.0 {
            return Err(LoadError::NotElf64(data[4]));
        }
        if data[5] != ELFDATA2LSB.0 {
            return Err(LoadError::BigEndian);
        }
    }
    let header = FileHeader64::<Endianness>::parse(data)?;
    let endian = header.endian()?;
    let machine = header.e_machine(endian);
    if machine != EM_RISCV {
        return Err(LoadError::WrongMachine(machine.0));
    }
    let mut segments = Vec::new();
    for ph in header.program_headers(endian, data)? {
        if ph.p_type(endian) != PT_LOAD || ph.p_memsz(endian) == 0 {
            continue;
        }
        let addr = ph.p_paddr(endian);
        let (file_size, mem_size) = (ph.p_filesz(endian), ph.p_memsz(endian));
        if file_size > mem_size {
            return Err(LoadError::FileLargerThanMemory { addr, file_size, mem_size });
        }
        let bytes = ph.data(endian, data).map_err(|()| LoadError::Truncated(addr))?;
        let offset = ram.offset(addr, mem_size).ok_or_else(|| outside(ram, addr, mem_size))?;
        segments.push((addr, mem_size, offset, bytes));
    }
    if segments.is_empty() {
        return Err(LoadError::NothingToLoad);
    }
    segments.sort_by_key(|s| s.0);
    if let Some(pair) = segments.windows(2).find(|w| w[0].0 + w[0].1 > w[1].0) {
        return Err(LoadError::Overlap { first: pair[0].0, second: pair[1].0 });
    }

    let file = ElfFile64::<Endianness>::parse(data)?;
    let symbol = |name: &str| file.symbols().find(|s| s.name() == Ok(name)).map(|s| s.address());
    let (tohost, fromhost) = (symbol("tohost"), symbol("fromhost"));

    for &(_, mem_size, offset, bytes) in &segments {
        ram.write_bytes(offset, bytes);
        ram.write_bytes(offset + bytes.len() as u64, &vec![0; (mem_size - bytes.len() as u64) as usize]);
    }
    Ok(LoadedImage {
        entry: header.e_entry(endian),
        segments: segments.iter().map(|&(addr, size, _, _)| (addr, addr + size)).collect(),
        tohost,
        fromhost,
    })
}
