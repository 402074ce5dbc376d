//! Virtio devices (virtio 1.2) behind the virtio-mmio transport
//! ([`VirtioMmio`]), their rings read and written by rust-vmm's
//! `virtio-queue`.
//!
//! A device model implements [`VirtioDevice`]: its ID, features, queue
//! sizes and configuration space, and what it does when the driver
//! notifies a queue. It sees its queues through a [`Queues`], which pops
//! descriptor chains as [`Chain`]s (the buffers of one request, checked to
//! lie in RAM) and returns them used. Device data moves through [`Dma`], so
//! that a device writing over translated code or a reservation has the
//! effect a hart's store would.

pub mod blk;
pub mod mmio;
pub mod net;
pub mod rng;
#[cfg(test)]
mod tests;

use std::sync::Weak;

use polyhart_iss::snapshot::{Reader, SnapshotError, Writer};
use virtio_queue::{Queue, QueueT};
use vm_memory::GuestMemoryMmap;

pub use blk::{Block, DiskError};
pub use mmio::VirtioMmio;
pub use net::{Net, NetBackend, NetError};
pub use rng::{Entropy, Rng};

use crate::memory::Dma;

/// Device ID of a network card (virtio 1.2, section 5).
pub const ID_NET: u32 = 1;
/// Device ID of a block device.
pub const ID_BLOCK: u32 = 2;
/// Device ID of an entropy source.
pub const ID_RNG: u32 = 4;

/// Feature bit: the device follows virtio 1.0 or later (not legacy).
pub const F_VERSION_1: u64 = 1 << 32;
/// Feature bit: descriptors may point to tables of descriptors.
pub const F_INDIRECT_DESC: u64 = 1 << 28;

/// What a device behind a virtio transport does. The transport calls it
/// with its lock held, from a hart's thread (a register access) or from the
/// device's own thread ([`DeviceEvents::signal`]).
pub trait VirtioDevice: Send {
    /// The device ID (virtio 1.2, section 5): [`ID_BLOCK`], [`ID_RNG`]...
    fn device_id(&self) -> u32;
    /// The device-specific feature bits it offers; the transport adds
    /// [`F_VERSION_1`] and [`F_INDIRECT_DESC`].
    fn features(&self) -> u64;
    /// The largest size of each of its queues (a power of two, at most
    /// 32768).
    fn queue_sizes(&self) -> &[u16];
    /// Reads its configuration space at `offset` into `data`; bytes past
    /// its end read as zero.
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// A driver's write to its configuration space (ignored by default:
    /// most fields are read-only).
    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}
    /// The driver finished setting the device up (`DRIVER_OK`) and accepted
    /// `features`; `events` lets the device's own thread hand it work
    /// later.
    fn activate(&mut self, _features: u64, _events: DeviceEvents) {}
    /// The driver notified queue `queue` of new buffers.
    fn notify(&mut self, queue: usize, queues: &mut Queues<'_>);
    /// Work the device's own thread signalled ([`DeviceEvents::signal`]).
    fn poll(&mut self, _queues: &mut Queues<'_>) {}
    /// Back to the state before the driver found it.
    fn reset(&mut self) {}
    /// Writes what a snapshot must hold of the device beyond its
    /// configuration and its queues (which the transport saves): state a
    /// driver can observe that changes as the device runs. Nothing by
    /// default.
    fn save(&self, _out: &mut Writer) {}
    /// Reads what [`VirtioDevice::save`] wrote. The transport calls it on a
    /// device it has just reset, before activating it again if the driver
    /// had set it up, and checks afterwards that every byte was read. A
    /// snapshot of a device configured otherwise (another disk size, say) is
    /// a [`SnapshotError::Mismatch`]. Reads nothing by default.
    fn restore(&mut self, _input: &mut Reader<'_>) -> Result<(), SnapshotError> {
        Ok(())
    }
}

/// A handle through which a device's own thread (a network backend's
/// receiver) asks for [`VirtioDevice::poll`] to be called.
#[derive(Clone, Debug)]
pub struct DeviceEvents {
    transport: Weak<VirtioMmio>,
}

impl DeviceEvents {
    /// Calls the device's [`VirtioDevice::poll`] now, on this thread, with
    /// the transport locked, and interrupts the guest if it used buffers.
    /// Returns false once the transport is gone.
    pub fn signal(&self) -> bool {
        match self.transport.upgrade() {
            Some(transport) => {
                transport.poll();
                true
            }
            None => false,
        }
    }
}

/// One buffer of a descriptor chain: `len` bytes of guest memory at `addr`,
/// which the device reads (`writable` false) or writes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Guest physical address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
    /// Whether the device writes it (the driver reads it back).
    pub writable: bool,
}

/// The buffers of one request: a descriptor chain the driver made
/// available, every buffer of which lies in RAM.
#[derive(Clone, Debug)]
pub struct Chain {
    /// The index of its head descriptor, by which it is returned used.
    pub head: u16,
    /// Its buffers in chain order.
    pub segments: Vec<Segment>,
}

impl Chain {
    /// Bytes the device may read.
    pub fn readable_len(&self) -> u64 {
        self.segments.iter().filter(|s| !s.writable).map(|s| u64::from(s.len)).sum()
    }

    /// Bytes the device may write.
    pub fn writable_len(&self) -> u64 {
        self.segments.iter().filter(|s| s.writable).map(|s| u64::from(s.len)).sum()
    }

    /// Reads `buf.len()` bytes starting `skip` bytes into the readable
    /// buffers; false if they hold fewer.
    pub fn read(&self, dma: &Dma, skip: u64, buf: &mut [u8]) -> bool {
        let mut done = 0;
        self.each_piece(false, skip, buf.len(), |addr, at, len| {
            done += len;
            dma.read(addr, &mut buf[at..at + len])
        }) && done == buf.len()
    }

    /// Writes `data` starting `skip` bytes into the writable buffers;
    /// false if they hold fewer bytes.
    pub fn write(&self, dma: &Dma, skip: u64, data: &[u8]) -> bool {
        let mut done = 0;
        self.each_piece(true, skip, data.len(), |addr, at, len| {
            done += len;
            dma.write(addr, &data[at..at + len])
        }) && done == data.len()
    }

    /// Calls `visit(addr, at, len)` for the pieces of the readable or
    /// writable buffers that hold bytes `skip..skip + len` of them, `at`
    /// being the piece's place in those bytes; stops at the first false.
    fn each_piece(
        &self,
        writable: bool,
        skip: u64,
        len: usize,
        mut visit: impl FnMut(u64, usize, usize) -> bool,
    ) -> bool {
        let mut skip = skip;
        let mut at = 0;
        for segment in self.segments.iter().filter(|s| s.writable == writable) {
            if at == len {
                break;
            }
            let seg_len = u64::from(segment.len);
            if skip >= seg_len {
                skip -= seg_len;
                continue;
            }
            let piece = ((seg_len - skip) as usize).min(len - at);
            if !visit(segment.addr + skip, at, piece) {
                return false;
            }
            at += piece;
            skip = 0;
        }
        true
    }
}

/// A device's queues while it serves a notification: chains to take,
/// chains to give back used, and guest memory.
#[derive(Debug)]
pub struct Queues<'a> {
    queues: &'a mut [Queue],
    mapping: &'a GuestMemoryMmap,
    dma: &'a Dma,
    /// Whether the guest must be interrupted for buffers used.
    interrupt: bool,
}

impl<'a> Queues<'a> {
    pub(crate) fn new(queues: &'a mut [Queue], mapping: &'a GuestMemoryMmap, dma: &'a Dma) -> Queues<'a> {
        Queues { queues, mapping, dma, interrupt: false }
    }

    /// Guest RAM, to move a request's data.
    pub fn dma(&self) -> &Dma {
        self.dma
    }

    /// The next chain the driver made available on queue `queue`, if any
    /// and if the queue is ready. A chain with a buffer outside RAM is
    /// returned used at once, with nothing written, and skipped.
    pub fn pop(&mut self, queue: usize) -> Option<Chain> {
        loop {
            let q = self.queues.get_mut(queue).filter(|q| q.ready())?;
            let chain = q.pop_descriptor_chain(self.mapping)?;
            let head = chain.head_index();
            let segments: Vec<Segment> =
                chain.map(|d| Segment { addr: d.addr().0, len: d.len(), writable: d.is_write_only() }).collect();
            let in_ram = segments.iter().all(|s| self.dma.ram().offset(s.addr, u64::from(s.len)).is_some());
            if in_ram {
                return Some(Chain { head, segments });
            }
            tracing::warn!(queue, head, "virtio: a descriptor chain points outside RAM; returned unused");
            self.push_used(queue, head, 0);
        }
    }

    /// Returns the chain whose head is `head` to the driver, `len` bytes
    /// written into its writable buffers.
    pub fn push_used(&mut self, queue: usize, head: u16, len: u32) {
        let Some(q) = self.queues.get_mut(queue) else { return };
        if let Err(error) = q.add_used(self.mapping, head, len) {
            tracing::warn!(queue, head, %error, "virtio: cannot return a chain used");
            return;
        }
        // The used ring was written through `vm-memory`: break reservations
        // and drop code there as a hart's store would.
        let used_len = 6 + 8 * u64::from(q.size());
        self.dma.written(q.used_ring(), used_len);
        if q.needs_notification(self.mapping).unwrap_or(true) {
            self.interrupt = true;
        }
    }

    /// Whether buffers were used and the driver wants to hear of it.
    pub(crate) fn interrupt(&self) -> bool {
        self.interrupt
    }
}
