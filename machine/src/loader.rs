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
    /// The lowest loaded address (QEMU's `kernel_start`, from which it
    /// places the initrd).
    pub fn start(&self) -> u64 {
        self.segments.iter().map(|&(start, _)| start).min().unwrap_or(self.entry)
    }

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

/// A piece of an image as it goes into RAM: the image's bytes `file` at
/// `addr`, then zeros up to `mem_size` bytes (an ELF segment's `.bss`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Guest physical address.
    pub addr: u64,
    /// Which bytes of the image.
    pub file: std::ops::Range<usize>,
    /// Bytes it takes in RAM, at least the file bytes'.
    pub mem_size: u64,
}

/// Loads an ELF if `data` is one, or else raw bytes at `raw_address`.
pub fn load_image(ram: &Ram, data: &[u8], raw_address: u64) -> Result<LoadedImage, LoadError> {
    let (image, segments) = plan_image(ram, data, raw_address)?;
    write_segments(ram, data, &segments);
    Ok(image)
}

/// Where `data` (an ELF, or else raw bytes at `raw_address`) goes in
/// `ram`, checked, without writing anything: what [`write_segments`]
/// then copies.
pub fn plan_image(ram: &Ram, data: &[u8], raw_address: u64) -> Result<(LoadedImage, Vec<Segment>), LoadError> {
    if is_elf(data) { plan_elf(ram, data) } else { plan_raw(ram, data, raw_address) }
}

/// Copies `segments` of `data` (from [`plan_image`]) into `ram`.
pub fn write_segments(ram: &Ram, data: &[u8], segments: &[Segment]) {
    for segment in segments {
        let Some(offset) = ram.offset(segment.addr, segment.mem_size) else { continue };
        let Some(bytes) = data.get(segment.file.clone()) else { continue };
        ram.write_bytes(offset, bytes);
        zero(ram, offset + bytes.len() as u64, offset + segment.mem_size);
    }
}

/// Copies a raw binary into RAM at `addr`.
pub fn load_raw(ram: &Ram, data: &[u8], addr: u64) -> Result<LoadedImage, LoadError> {
    let (image, segments) = plan_raw(ram, data, addr)?;
    write_segments(ram, data, &segments);
    Ok(image)
}

fn plan_raw(ram: &Ram, data: &[u8], addr: u64) -> Result<(LoadedImage, Vec<Segment>), LoadError> {
    if data.is_empty() {
        return Err(LoadError::Empty);
    }
    let size = data.len() as u64;
    ram.offset(addr, size).ok_or_else(|| outside(ram, addr, size))?;
    let image = LoadedImage { entry: addr, segments: vec![(addr, addr + size)], tohost: None, fromhost: None };
    Ok((image, vec![Segment { addr, file: 0..data.len(), mem_size: size }]))
}

fn outside(ram: &Ram, addr: u64, size: u64) -> LoadError {
    LoadError::OutsideRam { addr, size, ram_start: ram.base(), ram_end: ram.base() + ram.size() }
}

/// Loads the `PT_LOAD` segments of a RISC-V ELF at their physical addresses,
/// zero-filling the part of each segment beyond its file bytes.
pub fn load_elf(ram: &Ram, data: &[u8]) -> Result<LoadedImage, LoadError> {
    let (image, segments) = plan_elf(ram, data)?;
    write_segments(ram, data, &segments);
    Ok(image)
}

fn plan_elf(ram: &Ram, data: &[u8]) -> Result<(LoadedImage, Vec<Segment>), LoadError> {
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
        ram.offset(addr, mem_size).ok_or_else(|| outside(ram, addr, mem_size))?;
        // `bytes` lies inside `data` (the parser checked the range); an
        // empty one may point anywhere.
        let start = if bytes.is_empty() { 0 } else { bytes.as_ptr() as usize - data.as_ptr() as usize };
        segments.push(Segment { addr, file: start..start + bytes.len(), mem_size });
    }
    if segments.is_empty() {
        return Err(LoadError::NothingToLoad);
    }
    segments.sort_by_key(|s| s.addr);
    if let Some(pair) = segments.windows(2).find(|w| w[0].addr + w[0].mem_size > w[1].addr) {
        return Err(LoadError::Overlap { first: pair[0].addr, second: pair[1].addr });
    }

    let file = ElfFile64::<Endianness>::parse(data)?;
    let symbol = |name: &str| file.symbols().find(|s| s.name() == Ok(name)).map(|s| s.address());
    let (tohost, fromhost) = (symbol("tohost"), symbol("fromhost"));
    let image = LoadedImage {
        entry: header.e_entry(endian),
        segments: segments.iter().map(|s| (s.addr, s.addr + s.mem_size)).collect(),
        tohost,
        fromhost,
    };
    Ok((image, segments))
}

/// Zeroes RAM offsets `[start, end)` (a segment's part beyond its file
/// data), a page at a time: the size comes from the file and may be as
/// large as RAM, so nothing of that size is allocated, and pages already
/// zero (all of a fresh RAM) are only read, so they stay untouched.
fn zero(ram: &Ram, start: u64, end: u64) {
    const ZEROS: [u8; 4096] = [0; 4096];
    let mut page = [0; 4096];
    let mut at = start;
    while at < end {
        let len = (end - at).min(ZEROS.len() as u64) as usize;
        if ram.read_bytes(at, &mut page[..len]) && page[..len] != ZEROS[..len] {
            ram.write_bytes(at, &ZEROS[..len]);
        }
        at += len as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::memory::allocate_ram;

    const BASE: u64 = 0x8000_0000;
    const RAM_SIZE: u64 = 0x10000;
    /// What RAM holds before a load, so a load that fails can be seen to
    /// have written nothing.
    const FILL: u8 = 0xa5;

    const PT_NOTE: u32 = 4;
    const EM_X86_64: u16 = 62;
    const HEADER_SIZE: usize = 64;
    const PHDR_SIZE: usize = 56;

    /// One program header; `data` is placed in the file after the headers.
    #[derive(Clone)]
    struct Segment {
        kind: u32,
        paddr: u64,
        data: Vec<u8>,
        mem_size: u64,
        /// Overrides `p_filesz` (default: `data.len()`).
        file_size: Option<u64>,
        /// Overrides `p_offset` (default: where `data` is put).
        file_offset: Option<u64>,
    }

    fn load(paddr: u64, data: &[u8], mem_size: u64) -> Segment {
        Segment { kind: PT_LOAD.0, paddr, data: data.to_vec(), mem_size, file_size: None, file_offset: None }
    }

    /// A minimal ELF64 image: header, program headers, segment data.
    struct ElfImage {
        class: u8,
        encoding: u8,
        machine: u16,
        entry: u64,
        segments: Vec<Segment>,
    }

    impl ElfImage {
        fn riscv(entry: u64, segments: Vec<Segment>) -> ElfImage {
            ElfImage { class: 2, encoding: 1, machine: EM_RISCV.0, entry, segments }
        }

        fn bytes(&self) -> Vec<u8> {
            let phoff = HEADER_SIZE;
            let mut data_at = phoff + PHDR_SIZE * self.segments.len();
            let mut out = Vec::new();
            out.extend_from_slice(b"\x7fELF");
            out.extend_from_slice(&[self.class, self.encoding, 1, 0]);
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
            out.extend_from_slice(&self.machine.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
            out.extend_from_slice(&self.entry.to_le_bytes());
            out.extend_from_slice(&(phoff as u64).to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes()); // no section headers
            out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
            out.extend_from_slice(&(HEADER_SIZE as u16).to_le_bytes());
            out.extend_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
            out.extend_from_slice(&(self.segments.len() as u16).to_le_bytes());
            out.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
            out.extend_from_slice(&[0; 4]); // e_shnum, e_shstrndx
            assert_eq!(out.len(), HEADER_SIZE);
            for s in &self.segments {
                let offset = s.file_offset.unwrap_or(data_at as u64);
                data_at += s.data.len();
                out.extend_from_slice(&s.kind.to_le_bytes());
                out.extend_from_slice(&7u32.to_le_bytes()); // RWX
                out.extend_from_slice(&offset.to_le_bytes());
                out.extend_from_slice(&s.paddr.to_le_bytes()); // p_vaddr
                out.extend_from_slice(&s.paddr.to_le_bytes());
                out.extend_from_slice(&s.file_size.unwrap_or(s.data.len() as u64).to_le_bytes());
                out.extend_from_slice(&s.mem_size.to_le_bytes());
                out.extend_from_slice(&8u64.to_le_bytes());
            }
            for s in &self.segments {
                out.extend_from_slice(&s.data);
            }
            out
        }
    }

    fn ram() -> Arc<Ram> {
        let ram = allocate_ram(BASE, RAM_SIZE).unwrap().ram;
        assert!(ram.write_bytes(0, &vec![FILL; RAM_SIZE as usize]));
        ram
    }

    fn contents(ram: &Ram) -> Vec<u8> {
        let mut bytes = vec![0; ram.size() as usize];
        assert!(ram.read_bytes(0, &mut bytes));
        bytes
    }

    fn bytes_at(ram: &Ram, addr: u64, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        assert!(ram.read_bytes(addr - ram.base(), &mut bytes));
        bytes
    }

    /// Loads `image` (with `load_image`, which checks as the boards' plans do) into fresh RAM
    /// and checks that it failed without touching RAM.
    fn refused(image: &[u8]) -> LoadError {
        let ram = ram();
        let error = load_image(&ram, image, BASE).expect_err("the image must be refused");
        assert!(contents(&ram).iter().all(|&b| b == FILL), "{error}: RAM was written");
        error
    }

    fn valid() -> ElfImage {
        ElfImage::riscv(
            BASE + 4,
            vec![load(BASE, &[0x13, 0, 0, 0, 0x6f, 0, 0, 0], 8), load(BASE + 0x100, &[1, 2, 3, 4], 4)],
        )
    }

    #[test]
    fn a_valid_elf_loads_at_its_physical_addresses() {
        let ram = ram();
        let image = load_image(&ram, &valid().bytes(), 0x8000_8000).unwrap();
        assert_eq!(
            image,
            LoadedImage {
                entry: BASE + 4,
                segments: vec![(BASE, BASE + 8), (BASE + 0x100, BASE + 0x104)],
                tohost: None,
                fromhost: None,
            }
        );
        assert_eq!(image.end(), BASE + 0x104);
        assert_eq!(image.start(), BASE);
        assert_eq!(bytes_at(&ram, BASE, 8), [0x13, 0, 0, 0, 0x6f, 0, 0, 0]);
        assert_eq!(bytes_at(&ram, BASE + 0x100, 4), [1, 2, 3, 4]);
        assert_eq!(bytes_at(&ram, BASE + 8, 1), [FILL], "nothing written between segments");
        assert_eq!(bytes_at(&ram, BASE + 0x104, 1), [FILL]);
    }

    #[test]
    fn the_bss_part_of_a_segment_is_zeroed() {
        let ram = ram();
        let elf = ElfImage::riscv(BASE, vec![load(BASE + 0x200, &[9; 16], 0x1000)]);
        let image = load_elf(&ram, &elf.bytes()).unwrap();
        assert_eq!(image.segments, [(BASE + 0x200, BASE + 0x1200)]);
        assert_eq!(bytes_at(&ram, BASE + 0x200, 16), [9; 16]);
        assert!(bytes_at(&ram, BASE + 0x210, 0x1000 - 16).iter().all(|&b| b == 0));
        assert_eq!(bytes_at(&ram, BASE + 0x1200, 1), [FILL]);
    }

    #[test]
    fn segments_in_any_order_and_non_load_headers_are_skipped() {
        let ram = ram();
        let note = Segment { kind: PT_NOTE, ..load(0x1000, &[0xee; 4], 4) };
        let empty = load(0x1234, &[], 0);
        let elf = ElfImage::riscv(BASE, vec![load(BASE + 0x800, &[2; 4], 4), note, empty, load(BASE, &[1; 4], 4)]);
        let image = load_elf(&ram, &elf.bytes()).unwrap();
        assert_eq!(image.segments, [(BASE, BASE + 4), (BASE + 0x800, BASE + 0x804)]);
        assert_eq!(bytes_at(&ram, BASE, 4), [1; 4]);
        assert_eq!(bytes_at(&ram, BASE + 0x800, 4), [2; 4]);
    }

    #[test]
    fn a_segment_may_end_exactly_at_the_end_of_ram() {
        let ram = ram();
        let elf = ElfImage::riscv(BASE, vec![load(BASE + RAM_SIZE - 4, &[7; 4], 4)]);
        load_elf(&ram, &elf.bytes()).unwrap();
        assert_eq!(bytes_at(&ram, BASE + RAM_SIZE - 4, 4), [7; 4]);
    }

    #[test]
    fn the_guest_programs_load() {
        let hello = include_bytes!("../../tests/guest/hello.elf");
        let ram = allocate_ram(BASE, 128 << 20).unwrap().ram;
        let image = load_image(&ram, hello, 0).unwrap();
        assert_eq!(image.entry, BASE, "crt0's _start is first");
        assert_eq!(image.segments.first().map(|s| s.0), Some(BASE));
        assert_eq!((image.tohost, image.fromhost), (None, None), "only htif.elf talks HTIF");
        // The first instruction of crt0: csrr s0, mhartid.
        assert_eq!(bytes_at(&ram, BASE, 4), 0xf140_2473u32.to_le_bytes());
    }

    #[test]
    fn tohost_and_fromhost_are_found() {
        let htif = include_bytes!("../../tests/guest/htif.elf");
        let ram = allocate_ram(BASE, 128 << 20).unwrap().ram;
        let image = load_elf(&ram, htif).unwrap();
        let tohost = image.tohost.expect("htif.elf defines tohost");
        assert_eq!(tohost % 64, 0, "htif.S aligns it to 64 bytes");
        assert_eq!(image.fromhost, Some(tohost + 64), "htif.S puts fromhost 64 bytes after tohost");
        assert!(image.segments.iter().any(|&(start, end)| (start..end).contains(&tohost)), "tohost is loaded");
        assert_eq!(bytes_at(&ram, tohost, 8), [0; 8]);
    }

    #[test]
    fn a_raw_image_is_copied_as_is() {
        let ram = ram();
        let raw = b"not an ELF, just bytes";
        let image = load_image(&ram, raw, BASE + 0x40).unwrap();
        assert_eq!(
            image,
            LoadedImage {
                entry: BASE + 0x40,
                segments: vec![(BASE + 0x40, BASE + 0x40 + raw.len() as u64)],
                tohost: None,
                fromhost: None
            }
        );
        assert_eq!(bytes_at(&ram, BASE + 0x40, raw.len()), raw);
        assert_eq!(bytes_at(&ram, BASE + 0x3f, 1), [FILL]);
    }

    #[test]
    fn an_empty_file_is_refused() {
        assert!(matches!(refused(&[]), LoadError::Empty));
        // Through load_elf directly it is not an ELF header at all.
        assert!(matches!(load_elf(&ram(), &[]), Err(LoadError::Malformed(_))));
    }

    #[test]
    fn a_raw_image_outside_ram_is_refused() {
        let ram = ram();
        let error = load_raw(&ram, &[1; 16], BASE + RAM_SIZE - 8).unwrap_err();
        assert!(
            matches!(error, LoadError::OutsideRam { addr, size: 16, ram_start: BASE, ram_end }
                if addr == BASE + RAM_SIZE - 8 && ram_end == BASE + RAM_SIZE),
            "{error:?}"
        );
        assert!(matches!(load_raw(&ram, &[1], 0x1000), Err(LoadError::OutsideRam { .. })));
        assert!(contents(&ram).iter().all(|&b| b == FILL));
    }

    #[test]
    fn a_32_bit_elf_is_refused() {
        let elf = ElfImage { class: 1, ..valid() };
        assert!(matches!(refused(&elf.bytes()), LoadError::NotElf64(1)));
    }

    #[test]
    fn a_big_endian_elf_is_refused() {
        let elf = ElfImage { encoding: 2, ..valid() };
        assert!(matches!(refused(&elf.bytes()), LoadError::BigEndian));
    }

    #[test]
    fn an_elf_for_another_machine_is_refused() {
        let elf = ElfImage { machine: EM_X86_64, ..valid() };
        assert!(matches!(refused(&elf.bytes()), LoadError::WrongMachine(62)));
    }

    #[test]
    fn a_truncated_header_is_malformed() {
        let bytes = valid().bytes();
        for len in [4, 5, 6, 16, 40, HEADER_SIZE - 1] {
            assert!(matches!(refused(&bytes[..len]), LoadError::Malformed(_)), "cut at {len}");
        }
    }

    #[test]
    fn program_headers_beyond_the_end_of_the_file_are_malformed() {
        let bytes = valid().bytes();
        assert!(matches!(refused(&bytes[..HEADER_SIZE + PHDR_SIZE + 10]), LoadError::Malformed(_)));
        let hello = include_bytes!("../../tests/guest/hello.elf");
        assert!(matches!(refused(&hello[..100]), LoadError::Malformed(_)));
    }

    #[test]
    fn segment_data_beyond_the_end_of_the_file_is_truncated() {
        // Headers complete, the last segment's bytes cut short.
        let bytes = valid().bytes();
        assert!(matches!(refused(&bytes[..bytes.len() - 1]), LoadError::Truncated(a) if a == BASE + 0x100));
        // A file offset pointing past the end.
        let mut far = load(BASE + 0x100, &[1; 4], 4);
        far.file_offset = Some(1 << 40);
        let elf = ElfImage::riscv(BASE, vec![load(BASE, &[1; 4], 4), far]);
        assert!(matches!(refused(&elf.bytes()), LoadError::Truncated(a) if a == BASE + 0x100));
    }

    #[test]
    fn a_segment_outside_ram_is_refused() {
        for (paddr, mem_size) in [(0x1000, 4), (BASE - 4, 8), (BASE + RAM_SIZE - 4, 8), (BASE + RAM_SIZE, 1)] {
            let elf = ElfImage::riscv(BASE, vec![load(BASE, &[1; 4], 4), load(paddr, &[2; 1], mem_size)]);
            let error = refused(&elf.bytes());
            assert!(
                matches!(error, LoadError::OutsideRam { addr, size, ram_start: BASE, ram_end }
                    if addr == paddr && size == mem_size && ram_end == BASE + RAM_SIZE),
                "{paddr:#x}+{mem_size}: {error:?}"
            );
        }
        // The zero-filled part counts: file bytes fit, memory size does not.
        let elf = ElfImage::riscv(BASE, vec![load(BASE + RAM_SIZE - 0x10, &[3; 4], 0x20)]);
        assert!(matches!(refused(&elf.bytes()), LoadError::OutsideRam { size: 0x20, .. }));
        // A segment whose end wraps around the address space.
        let elf = ElfImage::riscv(BASE, vec![load(BASE, &[3; 4], u64::MAX)]);
        assert!(matches!(refused(&elf.bytes()), LoadError::OutsideRam { .. }));
    }

    #[test]
    fn overlapping_segments_are_refused() {
        let elf = ElfImage::riscv(
            BASE,
            vec![load(BASE + 0x200, &[1; 4], 0x10), load(BASE + 0x100, &[2; 4], 0x101), load(BASE, &[3; 4], 4)],
        );
        let error = refused(&elf.bytes());
        assert!(
            matches!(error, LoadError::Overlap { first, second } if first == BASE + 0x100 && second == BASE + 0x200),
            "{error:?}"
        );
        // Touching is not overlapping.
        let ram = ram();
        let elf = ElfImage::riscv(BASE, vec![load(BASE, &[1; 4], 0x100), load(BASE + 0x100, &[2; 4], 4)]);
        load_elf(&ram, &elf.bytes()).unwrap();
    }

    #[test]
    fn more_file_bytes_than_memory_is_refused() {
        let elf = ElfImage::riscv(BASE, vec![load(BASE, &[1; 4], 4), load(BASE + 0x100, &[2; 8], 4)]);
        let error = refused(&elf.bytes());
        assert!(
            matches!(error, LoadError::FileLargerThanMemory { addr, file_size: 8, mem_size: 4 } if addr == BASE + 0x100),
            "{error:?}"
        );
    }

    #[test]
    fn an_elf_without_loadable_segments_is_refused() {
        assert!(matches!(refused(&ElfImage::riscv(BASE, vec![]).bytes()), LoadError::NothingToLoad));
        let note = Segment { kind: PT_NOTE, ..load(BASE, &[1; 4], 4) };
        let empty = load(BASE, &[], 0);
        assert!(matches!(refused(&ElfImage::riscv(BASE, vec![note, empty]).bytes()), LoadError::NothingToLoad));
    }

    #[test]
    fn errors_read_as_sentences() {
        let error = refused(&ElfImage { machine: EM_X86_64, ..valid() }.bytes());
        assert_eq!(error.to_string(), "ELF file is for machine type 62, not RISC-V (243)");
        let elf = ElfImage::riscv(BASE, vec![load(0x1000, &[1; 4], 4)]);
        assert_eq!(
            refused(&elf.bytes()).to_string(),
            "segment at 0x1000 (4 bytes) lies outside RAM [0x80000000, 0x80010000)"
        );
    }
}
