//! Snapshots: a whole machine saved, and restored into a machine built
//! the same way.
//!
//! A snapshot holds every hart's architectural state and interrupt lines,
//! every device of the board (CLINT, PLIC, UART, RTC, the virtio
//! transports and their queues), simulated time and all of RAM. As with
//! QEMU's `-loadvm`, it is restored into a machine built from the same
//! configuration (the same harts, RAM, images and devices; the images are
//! what a reboot loads again, and disks stay the user's files): restoring
//! checks that the machine fits and says what differs. Translated and
//! compiled code is not saved.
//!
//! # The file
//!
//! | bytes | what |
//! | --- | --- |
//! | 0-15 | [`MAGIC`] |
//! | 16-19 | format version ([`VERSION`]), little-endian like every field |
//! | 20-23 | zero |
//! | 24-31 | length of the state |
//! | 32-39, 40-47 | RAM's base address and size |
//! | 48-55 | where RAM starts in the file (a multiple of 4 KiB) |
//! | 56-63 | FNV-1a hash of the state |
//! | 64- | the state: sections ([`polyhart_iss::snapshot`]) |
//! | RAM's offset- | RAM, byte for byte; pages of zeros are holes |
//!
//! RAM is the file's tail as it is in the guest, so restoring maps it
//! privately (copy-on-write): a restore reads nothing of RAM, clones of one
//! snapshot share the pages none of them wrote, and pages of zeros cost
//! neither disk (a sparse file) nor memory. [`Machine::snapshot`] keeps a
//! snapshot in an anonymous in-memory file the same way.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use polyhart_iss::memory::PAGE_SIZE;
pub use polyhart_iss::snapshot::{Reader, SnapshotError, Writer};

use crate::Machine;
use crate::boards::Board;
use crate::memory;
use crate::runner::Pacer;

/// The first bytes of every snapshot file.
pub const MAGIC: &[u8; 16] = b"polyhart-snap\0\0\0";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// The header's length.
const HEADER: u64 = 64;
/// RAM is read this much at a time to find its pages of zeros.
const CHUNK: usize = 1 << 20;

/// A saved machine, in a file on disk or in memory. Cheap to clone: clones
/// share the file.
#[derive(Clone, Debug)]
pub struct Snapshot {
    file: Arc<File>,
    state: Arc<[u8]>,
    ram_base: u64,
    ram_size: u64,
    ram_offset: u64,
}

impl Snapshot {
    /// Opens the snapshot in the file at `path`, checking its header and
    /// state (RAM is mapped when it is restored, not read).
    pub fn open(path: impl AsRef<Path>) -> Result<Snapshot, SnapshotError> {
        let path = path.as_ref();
        Snapshot::from_file(File::open(path).map_err(|e| naming(path, e))?)
    }

    /// The snapshot held by `file` (from its start, whatever its position).
    pub fn from_file(file: File) -> Result<Snapshot, SnapshotError> {
        let mut header = [0; HEADER as usize];
        let read = read_up_to(&file, &mut header)?;
        if read < MAGIC.len() || header[..MAGIC.len()] != MAGIC[..] {
            return Err(SnapshotError::Format("not a polyhart snapshot (its first bytes are not polyhart's)".into()));
        }
        let field = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or_default());
        let version = u32::from_le_bytes(header[16..20].try_into().unwrap_or_default());
        if version != VERSION {
            return Err(SnapshotError::Format(format!(
                "a snapshot of format version {version}; this build of polyhart reads version {VERSION}"
            )));
        }
        if read < header.len() {
            return Err(SnapshotError::Truncated("the header".into()));
        }
        let (state_len, ram_base, ram_size, ram_offset, hash) = (field(24), field(32), field(40), field(48), field(56));
        let file_len = file.metadata()?.len();
        let state_end = HEADER.checked_add(state_len);
        let ram_end = ram_offset.checked_add(ram_size);
        match (state_end, ram_end) {
            (Some(state_end), Some(ram_end))
                if state_end <= ram_offset
                    && ram_offset.is_multiple_of(PAGE_SIZE)
                    && ram_size.is_multiple_of(PAGE_SIZE) =>
            {
                if file_len < ram_end {
                    return Err(SnapshotError::Truncated(format!(
                        "RAM: the file has {file_len} bytes, its RAM ends at byte {ram_end}"
                    )));
                }
            }
            _ => return Err(SnapshotError::Invalid("header describes an impossible layout".into())),
        }
        let len = usize::try_from(state_len).map_err(|_| SnapshotError::Invalid("state length".into()))?;
        let mut state = vec![0; len];
        file.read_exact_at(&mut state, HEADER).map_err(|_| SnapshotError::Truncated("the state".into()))?;
        if fnv1a(&state) != hash {
            return Err(SnapshotError::Invalid("state does not match its hash: the file is damaged".into()));
        }
        Ok(Snapshot { file: Arc::new(file), state: state.into(), ram_base, ram_size, ram_offset })
    }

    /// Writes the snapshot to a file at `path` (what [`Machine::snapshot`]
    /// kept in memory, say), its pages of zeros as holes.
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<(), SnapshotError> {
        let out = create(path.as_ref())?;
        write_file(&out, &self.state, self.ram_base, self.ram_size, |at, buf| {
            self.file.read_exact_at(buf, self.ram_offset + at)
        })
    }

    /// Reads the embedder's state (see [`Machine::save_snapshot_with`]) with
    /// `read`, without restoring anything: for an embedder whose machine
    /// was built restored ([`crate::VirtConfig::snapshot`]).
    pub fn embedded<R>(
        &self,
        read: impl FnOnce(&mut Reader<'_>) -> Result<R, SnapshotError>,
    ) -> Result<R, SnapshotError> {
        read(&mut Reader::new(&self.state, "the snapshot").section("embedder")?)
    }

    /// The size of the guest RAM it holds, in bytes.
    pub fn ram_size(&self) -> u64 {
        self.ram_size
    }

    /// The size of everything but RAM (harts, devices), in bytes.
    pub fn state_size(&self) -> usize {
        self.state.len()
    }
}

/// Reads the file's first bytes into `buf` until it is full or the file
/// ends (whatever the file's position): the bytes read.
fn read_up_to(file: &File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut read = 0;
    while read < buf.len() {
        match file.read_at(&mut buf[read..], read as u64)? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read)
}

/// A 64-bit hash of `bytes`: FNV-1a's steps over 8-byte words (the last
/// one zero-padded) rather than bytes, 8 times faster over a kernel image.
/// It tells a damaged state or other boot images apart, not an attacker's.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_more(0xcbf2_9ce4_8422_2325, bytes)
}

/// [`fnv1a`] of what gave `hash`, followed by `bytes`.
pub(crate) fn fnv1a_more(hash: u64, bytes: &[u8]) -> u64 {
    let words = bytes.chunks_exact(8);
    let tail = words.remainder();
    let mut hash = words.fold(hash, |hash, word| {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
        (hash ^ word).wrapping_mul(0x0100_0000_01b3)
    });
    if !tail.is_empty() {
        let mut last = [0; 8];
        last[..tail.len()].copy_from_slice(tail);
        hash = (hash ^ u64::from_le_bytes(last) ^ (tail.len() as u64) << 56).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Where RAM starts in a file whose state is `state_len` bytes.
fn ram_offset(state_len: usize) -> u64 {
    (HEADER + state_len as u64).next_multiple_of(PAGE_SIZE)
}

/// Writes the header and the state into `out`, emptied first.
fn write_header(out: &File, state: &[u8], ram_base: u64, ram_size: u64) -> std::io::Result<()> {
    out.set_len(0)?;
    let mut header = Vec::with_capacity(HEADER as usize);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    for field in [state.len() as u64, ram_base, ram_size, ram_offset(state.len()), fnv1a(state)] {
        header.extend_from_slice(&field.to_le_bytes());
    }
    out.write_all_at(&header, 0)?;
    out.write_all_at(state, HEADER)
}

/// A whole snapshot file in `out`: the header and `state`, then the
/// `ram_size` bytes of RAM that `read_ram(offset, buf)` gives, a chunk at a
/// time, its pages of zeros as holes.
fn write_file(
    out: &File,
    state: &[u8],
    ram_base: u64,
    ram_size: u64,
    mut read_ram: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>,
) -> Result<(), SnapshotError> {
    write_header(out, state, ram_base, ram_size)?;
    let offset = ram_offset(state.len());
    let mut buf = vec![0; CHUNK];
    let mut done = 0;
    while done < ram_size {
        let len = (ram_size - done).min(CHUNK as u64) as usize;
        read_ram(done, &mut buf[..len])?;
        write_pages(out, offset + done, &buf[..len])?;
        done += len as u64;
    }
    out.set_len(offset + ram_size)?;
    Ok(())
}

/// Creates (or empties) the file at `path`.
fn create(path: &Path) -> Result<File, SnapshotError> {
    File::create(path).map_err(|e| naming(path, e))
}

/// An I/O error about the file at `path` that says which file.
fn naming(path: &Path, error: std::io::Error) -> SnapshotError {
    SnapshotError::Io(std::io::Error::new(error.kind(), format!("{}: {error}", path.display())))
}

/// Writes the pages of `bytes` that are not all zeros at `at` in `out`:
/// the others stay holes.
fn write_pages(out: &File, at: u64, bytes: &[u8]) -> std::io::Result<()> {
    let page = PAGE_SIZE as usize;
    let mut run: Option<usize> = None;
    for (i, chunk) in bytes.chunks(page).enumerate() {
        let zero = chunk.iter().all(|&byte| byte == 0);
        match (zero, run) {
            (false, None) => run = Some(i),
            (true, Some(first)) => {
                out.write_all_at(&bytes[first * page..i * page], at + (first * page) as u64)?;
                run = None;
            }
            _ => {}
        }
    }
    if let Some(first) = run {
        out.write_all_at(&bytes[first * page..], at + (first * page) as u64)?;
    }
    Ok(())
}

/// An anonymous file in memory (`memfd_create`), for snapshots that never
/// reach a disk.
fn memory_file() -> std::io::Result<File> {
    use std::os::fd::FromRawFd;
    // SAFETY: the name is a NUL-terminated string; the call creates a new
    // file descriptor or fails, touching no memory of ours.
    let fd = unsafe { libc::memfd_create(c"polyhart-snapshot".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a file descriptor just created and owned by nothing
    // else; the `File` takes it over and closes it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

impl<B: Board> Machine<B> {
    /// Saves the machine to a file at `path` (see [`crate::snapshot`]),
    /// between runs. Console output buffered on the host is flushed.
    pub fn save_snapshot(&mut self, path: impl AsRef<Path>) -> Result<(), SnapshotError> {
        self.save_snapshot_with(path, &|_| {})
    }

    /// Saves as [`Machine::save_snapshot`] does, with what `embedder`
    /// writes: the state of whoever drives the machine (the cosimulation's
    /// time), which [`Machine::restore_with`] hands back.
    pub fn save_snapshot_with(
        &mut self,
        path: impl AsRef<Path>,
        embedder: &dyn Fn(&mut Writer),
    ) -> Result<(), SnapshotError> {
        self.write_snapshot(&create(path.as_ref())?, embedder)
    }

    /// Saves the machine to a snapshot kept in memory, as
    /// [`Machine::save_snapshot`] would to a file: what clones restore from.
    pub fn snapshot(&mut self) -> Result<Snapshot, SnapshotError> {
        self.snapshot_with(&|_| {})
    }

    /// [`Machine::snapshot`] with the embedder's state (see
    /// [`Machine::save_snapshot_with`]).
    pub fn snapshot_with(&mut self, embedder: &dyn Fn(&mut Writer)) -> Result<Snapshot, SnapshotError> {
        let file = memory_file()?;
        self.write_snapshot(&file, embedder)?;
        Snapshot::from_file(file)
    }

    fn write_snapshot(&mut self, file: &File, embedder: &dyn Fn(&mut Writer)) -> Result<(), SnapshotError> {
        self.board.flush_console();
        let state = self.save_state(embedder);
        let ram = self.bus.ram();
        write_file(file, &state, ram.base(), ram.size(), |at, buf| {
            ram.read_bytes(at, buf);
            Ok(())
        })
    }

    /// Everything but RAM, as sections, the embedder's first (so that
    /// [`Snapshot::embedded`] finds it without reading the rest).
    fn save_state(&self, embedder: &dyn Fn(&mut Writer)) -> Vec<u8> {
        let mut out = Writer::new();
        out.section("embedder", embedder);
        let ram = self.bus.ram();
        out.section("machine", |out| {
            out.u64(self.harts.len() as u64);
            out.u64(ram.base());
            out.u64(ram.size());
            out.u64(self.cpu_frequency);
            out.u64(self.quantum);
            out.bool(self.round.is_some());
            out.u64(self.round.unwrap_or_default());
        });
        // The board first: restoring its devices drives interrupt lines,
        // which the harts' restore then sets as they were.
        self.board.save(&mut out);
        for hart in &self.harts {
            hart.save(&mut out);
        }
        out.into_bytes()
    }

    /// Makes this machine the one `snapshot` saved, between runs: every
    /// hart, device and byte of RAM, and simulated time. The machine must
    /// be built as the saved one was (see [`crate::snapshot`]); if it is
    /// not, or the snapshot is damaged, the error says why and the machine
    /// is left as it was. Breakpoints and watchpoints stay; translated code
    /// is dropped.
    pub fn restore(&mut self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        self.restore_with(snapshot, &mut |_| Ok(()))
    }

    /// Restores as [`Machine::restore`] does, handing `embedder` what
    /// [`Machine::save_snapshot_with`]'s writer wrote (empty for a plain
    /// snapshot), once the machine's part has been read: if `embedder`
    /// fails, it must leave its state as it was, and the machine goes back
    /// to its own.
    pub fn restore_with(
        &mut self,
        snapshot: &Snapshot,
        embedder: &mut dyn FnMut(&mut Reader<'_>) -> Result<(), SnapshotError>,
    ) -> Result<(), SnapshotError> {
        let ram = self.bus.ram().clone();
        if (snapshot.ram_base, snapshot.ram_size) != (ram.base(), ram.size()) {
            return Err(SnapshotError::Mismatch(format!(
                "it holds {} bytes of RAM at {:#x}; this machine has {} at {:#x}",
                snapshot.ram_size,
                snapshot.ram_base,
                ram.size(),
                ram.base()
            )));
        }
        // What to go back to if a section fails halfway. The embedder's
        // state from before is the plain machine's: nothing.
        let before = self.save_state(&|_| {});
        if let Err(error) = self.restore_state(&snapshot.state, embedder) {
            self.restore_state(&before, &mut |_| Ok(())).map_err(|undo| {
                SnapshotError::Invalid(format!("restore failed ({error}), and so did undoing it ({undo})"))
            })?;
            return Err(error);
        }
        memory::map_file_private(&self.ram_mapping, ram.base(), ram.size(), &snapshot.file, snapshot.ram_offset)?;
        self.cache.flush();
        self.stop.clear();
        // Paced idling goes on from the restored time.
        if self.pacer.is_some() {
            self.pacer = Some(Pacer::starting_at(self.cpu_frequency, self.time()));
        }
        Ok(())
    }

    fn restore_state(
        &mut self,
        state: &[u8],
        embedder: &mut dyn FnMut(&mut Reader<'_>) -> Result<(), SnapshotError>,
    ) -> Result<(), SnapshotError> {
        let mut input = Reader::new(state, "the snapshot");
        let mut embedded = input.section("embedder")?;
        let mut machine = input.section("machine")?;
        let harts = machine.u64()?;
        let (ram_base, ram_size) = (machine.u64()?, machine.u64()?);
        let (cpu_frequency, quantum) = (machine.u64()?, machine.u64()?);
        let in_round = machine.bool()?;
        let round = machine.u64()?;
        machine.finish()?;
        let ram = self.bus.ram();
        let saved = (harts, ram_base, ram_size, cpu_frequency, quantum);
        let here = (self.harts.len() as u64, ram.base(), ram.size(), self.cpu_frequency, self.quantum);
        if saved != here {
            return Err(SnapshotError::Mismatch(format!(
                "it was saved from {harts} harts, {ram_size} bytes of RAM at {ram_base:#x}, {cpu_frequency} Hz and a \
                 quantum of {quantum} cycles; this machine has {} harts, {} bytes at {:#x}, {} Hz and {} cycles",
                here.0, here.2, here.1, here.3, here.4
            )));
        }
        self.board.restore(&mut input)?;
        for hart in &mut self.harts {
            hart.restore(&mut input)?;
        }
        input.finish()?;
        embedder(&mut embedded)?;
        self.round = in_round.then_some(round);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_pages_are_left_as_holes() {
        let file = memory_file().expect("a memory file");
        let page = PAGE_SIZE as usize;
        let mut bytes = vec![0u8; 4 * page];
        bytes[page + 5] = 1;
        bytes[3 * page] = 2;
        write_pages(&file, 0, &bytes).expect("written");
        file.set_len(bytes.len() as u64).expect("sized");
        let mut back = vec![0xffu8; bytes.len()];
        file.read_exact_at(&mut back, 0).expect("read");
        assert_eq!(back, bytes);
    }

    #[test]
    fn damaged_headers_are_refused() {
        let write = |bytes: &[u8]| {
            let file = memory_file().expect("a memory file");
            file.write_all_at(bytes, 0).expect("written");
            Snapshot::from_file(file).expect_err("refused").to_string()
        };
        assert!(write(b"hello").contains("not a polyhart snapshot"));
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&7u32.to_le_bytes());
        assert!(write(&header).contains("format version 7"));
        let file = memory_file().expect("a memory file");
        write_header(&file, b"state", 0x8000_0000, 1 << 20).expect("written");
        file.set_len(ram_offset(5) + (1 << 20)).expect("sized");
        assert_eq!(&*Snapshot::from_file(file.try_clone().expect("clone")).expect("whole").state, b"state");
        file.write_all_at(b"X", HEADER).expect("damaged");
        assert!(
            Snapshot::from_file(file.try_clone().expect("clone")).expect_err("damaged").to_string().contains("hash")
        );
        file.set_len(ram_offset(5) + 4096).expect("cut");
        assert!(Snapshot::from_file(file).expect_err("short").to_string().contains("truncated"));
    }
}
