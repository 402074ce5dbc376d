//! virtio-blk (virtio 1.2, section 5.2) over a raw image file.
//!
//! Requests are served when the driver notifies the queue, on the hart's
//! thread, with positioned reads and writes of the file: a guest's write
//! has reached the file (the host's page cache) when the request
//! completes, and a flush request syncs it to the disk. A request that
//! reaches past the end of the disk, or whose length is not whole sectors,
//! fails with `VIRTIO_BLK_S_IOERR` before anything is written, so a
//! misbehaving guest cannot grow, truncate or scribble past the image. The
//! file is locked (exclusively when writable, shared when read-only), so
//! two machines cannot write one image.
//!
//! A snapshot holds no disk contents: the image is the user's, and a
//! snapshot is restored with the same images, as QEMU's `-loadvm` is. It
//! holds the disk's size and whether it is read-only, so that a snapshot
//! restored over another disk fails rather than show the guest a disk
//! other than the one it probed.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use polyhart_iss::snapshot::{Reader, SnapshotError, Writer};

use super::{ID_BLOCK, Queues, VirtioDevice};

/// Bytes per sector, the unit of a request's position.
pub const SECTOR_SIZE: u64 = 512;

/// The queue's size: requests the driver may have in flight.
const QUEUE_SIZE: u16 = 128;

// Feature bits (virtio 1.2, section 5.2.3).
const F_SEG_MAX: u64 = 1 << 2;
const F_RO: u64 = 1 << 5;
const F_BLK_SIZE: u64 = 1 << 6;
const F_FLUSH: u64 = 1 << 9;

// Request types.
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const T_GET_ID: u32 = 8;

// Request status.
const S_OK: u8 = 0;
const S_IOERR: u8 = 1;
const S_UNSUPP: u8 = 2;

/// The request header: type, reserved word, sector.
const HEADER_SIZE: u64 = 16;
/// The length of the ID string `GET_ID` returns.
const ID_SIZE: usize = 20;
/// Data moves between the file and guest memory in pieces of this size,
/// so a request of any length needs no more host memory than this.
const CHUNK: usize = 64 << 10;

/// Why a disk image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The file cannot be opened.
    #[error("cannot open the disk image {path}: {source}")]
    Open {
        /// The image's path.
        path: PathBuf,
        /// What the host said.
        #[source]
        source: std::io::Error,
    },
    /// Another process (or another drive of this machine) holds the image.
    #[error("the disk image {path} is in use by another process or drive (it is locked)")]
    Locked {
        /// The image's path.
        path: PathBuf,
    },
    /// The file holds less than a sector.
    #[error("the disk image {path} is {size} bytes: a disk holds at least one 512-byte sector")]
    TooSmall {
        /// The image's path.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
}

/// A virtio block device backed by a raw image file.
#[derive(Debug)]
pub struct Block {
    file: File,
    sectors: u64,
    read_only: bool,
    id: [u8; ID_SIZE],
}

impl Block {
    /// Opens the raw image at `path`, for reading only if `read_only`. The
    /// disk holds the file's whole sectors; a tail of less than a sector
    /// is left alone.
    pub fn open(path: &Path, read_only: bool) -> Result<Block, DiskError> {
        let open_error = |source| DiskError::Open { path: path.to_path_buf(), source };
        let file = OpenOptions::new().read(true).write(!read_only).open(path).map_err(open_error)?;
        let locked = if read_only { file.try_lock_shared() } else { file.try_lock() };
        match locked {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(DiskError::Locked { path: path.to_path_buf() }),
            Err(std::fs::TryLockError::Error(source)) => return Err(open_error(source)),
        }
        let size = file.metadata().map_err(open_error)?.len();
        if size < SECTOR_SIZE {
            return Err(DiskError::TooSmall { path: path.to_path_buf(), size });
        }
        if !size.is_multiple_of(SECTOR_SIZE) {
            tracing::warn!(
                "the disk image {} is not whole sectors: its last {} bytes are not part of the disk",
                path.display(),
                size % SECTOR_SIZE
            );
        }
        let mut id = [0; ID_SIZE];
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for (slot, byte) in id.iter_mut().zip(name.bytes()) {
            *slot = byte;
        }
        Ok(Block { file, sectors: size / SECTOR_SIZE, read_only, id })
    }

    /// The disk's size in sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// The byte range `[start, start + len)` of the disk a request at
    /// `sector` of `len` bytes covers, if it is whole sectors inside it.
    fn range(&self, sector: u64, len: u64) -> Option<u64> {
        let start = sector.checked_mul(SECTOR_SIZE)?;
        let end = start.checked_add(len)?;
        (len.is_multiple_of(SECTOR_SIZE) && end <= self.sectors * SECTOR_SIZE).then_some(start)
    }

    /// Serves one request; returns its status and the bytes of data it
    /// wrote into the guest's buffers.
    fn serve(&self, queues: &Queues<'_>, chain: &super::Chain, kind: u32, sector: u64) -> (u8, u64) {
        let dma = queues.dma();
        // The status byte is the last writable one; the data lies between.
        let data_in = chain.writable_len() - 1;
        let data_out = chain.readable_len() - HEADER_SIZE;
        let mut buf = vec![0; CHUNK];
        match kind {
            T_IN => {
                let Some(start) = self.range(sector, data_in) else { return (S_IOERR, 0) };
                let mut done = 0;
                while done < data_in {
                    let piece = (data_in - done).min(CHUNK as u64) as usize;
                    let ok = self.file.read_exact_at(&mut buf[..piece], start + done).is_ok()
                        && chain.write(dma, done, &buf[..piece]);
                    if !ok {
                        return (S_IOERR, done);
                    }
                    done += piece as u64;
                }
                (S_OK, data_in)
            }
            T_OUT if self.read_only => (S_IOERR, 0),
            T_OUT => {
                let Some(start) = self.range(sector, data_out) else { return (S_IOERR, 0) };
                let mut done = 0;
                while done < data_out {
                    let piece = (data_out - done).min(CHUNK as u64) as usize;
                    let ok = chain.read(dma, HEADER_SIZE + done, &mut buf[..piece])
                        && self.file.write_all_at(&buf[..piece], start + done).is_ok();
                    if !ok {
                        return (S_IOERR, 0);
                    }
                    done += piece as u64;
                }
                (S_OK, 0)
            }
            T_FLUSH if self.read_only => (S_OK, 0),
            T_FLUSH => (if self.file.sync_data().is_ok() { S_OK } else { S_IOERR }, 0),
            T_GET_ID => {
                let len = (ID_SIZE as u64).min(data_in) as usize;
                if chain.write(dma, 0, &self.id[..len]) { (S_OK, len as u64) } else { (S_IOERR, 0) }
            }
            _ => (S_UNSUPP, 0),
        }
    }
}

impl VirtioDevice for Block {
    fn device_id(&self) -> u32 {
        ID_BLOCK
    }

    fn features(&self) -> u64 {
        let read_only = if self.read_only { F_RO } else { 0 };
        F_SEG_MAX | F_BLK_SIZE | F_FLUSH | read_only
    }

    fn queue_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // struct virtio_blk_config up to blk_size: capacity, size_max,
        // seg_max, geometry (cylinders, heads, sectors), blk_size.
        let mut config = [0u8; 24];
        config[0..8].copy_from_slice(&self.sectors.to_le_bytes());
        config[12..16].copy_from_slice(&u32::from(QUEUE_SIZE - 2).to_le_bytes());
        config[20..24].copy_from_slice(&(SECTOR_SIZE as u32).to_le_bytes());
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = usize::try_from(offset).ok().and_then(|o| config.get(o + i)).copied().unwrap_or(0);
        }
    }

    /// Writes the disk's size and whether it is read-only: what the driver
    /// learnt of it. Requests complete before the transport's lock is
    /// released, so none is in flight, and nothing is cached in front of
    /// the file. The image's name (the `GET_ID` string) is not checked: a
    /// copy of the image may be named otherwise.
    fn save(&self, out: &mut Writer) {
        out.section("virtio-blk", |out| {
            out.u64(self.sectors);
            out.bool(self.read_only);
        });
    }

    fn restore(&mut self, input: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let mut input = input.section("virtio-blk")?;
        let sectors = input.u64()?;
        let read_only = input.bool()?;
        input.finish()?;
        if (sectors, read_only) != (self.sectors, self.read_only) {
            let kind = |read_only| if read_only { "read-only" } else { "writable" };
            return Err(SnapshotError::Mismatch(format!(
                "a virtio disk was {} of {sectors} sectors when saved, and is {} of {} sectors here",
                kind(read_only),
                kind(self.read_only),
                self.sectors
            )));
        }
        Ok(())
    }

    fn notify(&mut self, queue: usize, queues: &mut Queues<'_>) {
        while let Some(chain) = queues.pop(queue) {
            let mut header = [0u8; HEADER_SIZE as usize];
            if chain.writable_len() == 0 || !chain.read(queues.dma(), 0, &mut header) {
                // No place for a status: nothing can be answered.
                tracing::warn!("virtio-blk: a request without a header or a status byte");
                queues.push_used(queue, chain.head, 0);
                continue;
            }
            let kind = u32::from_le_bytes(header[0..4].try_into().unwrap_or_default());
            let sector = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
            let (status, written) = self.serve(queues, &chain, kind, sector);
            let status_at = chain.writable_len() - 1;
            chain.write(queues.dma(), status_at, &[status]);
            queues.push_used(queue, chain.head, u32::try_from(written + 1).unwrap_or(u32::MAX));
        }
    }
}
