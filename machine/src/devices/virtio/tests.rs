//! The virtio-mmio transport with virtio-blk and virtio-rng behind it,
//! driven as a driver would (virtio 1.2, section 4.2.3): registers, a
//! split queue laid out in guest RAM, requests, and what a hostile driver
//! can do.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use polyhart_iss::snapshot::{Reader, SnapshotError, Writer};
use polyhart_iss::{AccessContext, TranslationCache};

use super::*;
use crate::bus::Device;
use crate::devices::InterruptLine;
use crate::memory::{Dma, allocate_ram};

const CTX: AccessContext = AccessContext { hart_id: 0, cycle: 0 };
const RAM_BASE: u64 = 0x8000_0000;
/// Queue `q`'s descriptor table, available and used rings are at these
/// plus `q * QUEUE_STRIDE`.
const DESC: u64 = RAM_BASE + 0x1000;
const AVAIL: u64 = RAM_BASE + 0x2000;
const USED: u64 = RAM_BASE + 0x3000;
const QUEUE_STRIDE: u64 = 0x4000;
const DATA: u64 = RAM_BASE + 0x10_000;
const SIZE: u16 = 16;

/// An interrupt line that remembers its level.
#[derive(Clone, Default)]
struct Level(Arc<AtomicBool>);

impl InterruptLine for Level {
    fn set(&self, level: bool) {
        self.0.store(level, Ordering::SeqCst);
    }
}

struct Driver {
    transport: Arc<VirtioMmio>,
    dma: Dma,
    irq: Level,
    /// Per queue: the next available index, and the used entries seen.
    avail_idx: [u16; 2],
    used_seen: [u16; 2],
    /// The queue `submit` and `used` work on.
    queue: usize,
}

impl Driver {
    fn new(device: Box<dyn VirtioDevice>) -> Driver {
        let guest = allocate_ram(RAM_BASE, 1 << 20).expect("RAM");
        let dma = Dma::new(guest.ram.clone(), Arc::new(TranslationCache::new()));
        let irq = Level::default();
        let transport = VirtioMmio::new(Some(device), irq.clone(), guest.mapping, dma.clone());
        Driver { transport, dma, irq, avail_idx: [0; 2], used_seen: [0; 2], queue: 0 }
    }

    fn read(&self, offset: u64) -> u32 {
        self.transport.read(&CTX, offset, 4).expect("a register") as u32
    }

    fn write(&self, offset: u64, value: u32) {
        self.transport.write(&CTX, offset, 4, u64::from(value)).expect("a register");
    }

    /// Negotiates `features` and sets up the device's queues (at most
    /// two); returns the status read back after FEATURES_OK.
    fn set_up(&self, features: u64) -> u32 {
        self.write(0x70, 0);
        self.write(0x70, 1 | 2);
        self.write(0x24, 0);
        self.write(0x20, features as u32);
        self.write(0x24, 1);
        self.write(0x20, (features >> 32) as u32);
        self.write(0x70, 1 | 2 | 8);
        let status = self.read(0x70);
        for queue in 0..2 {
            self.write(0x30, queue);
            if self.read(0x34) == 0 {
                break;
            }
            self.write(0x38, u32::from(SIZE));
            let stride = u64::from(queue) * QUEUE_STRIDE;
            for (offset, addr) in [(0x80, DESC + stride), (0x90, AVAIL + stride), (0xa0, USED + stride)] {
                self.write(offset, addr as u32);
                self.write(offset + 4, (addr >> 32) as u32);
            }
            self.write(0x44, 1);
        }
        self.write(0x70, 1 | 2 | 8 | 4);
        status
    }

    /// Makes the chain of `(addr, len, writable)` buffers available on
    /// [`Driver::queue`], starting at descriptor `first`, and notifies it.
    fn submit(&mut self, first: u16, buffers: &[(u64, u32, bool)]) {
        let (q, stride) = (self.queue, self.queue as u64 * QUEUE_STRIDE);
        for (i, &(addr, len, writable)) in buffers.iter().enumerate() {
            let index = first + i as u16;
            let last = i + 1 == buffers.len();
            let flags = u16::from(!last) | if writable { 2 } else { 0 };
            let mut desc = Vec::new();
            desc.extend_from_slice(&addr.to_le_bytes());
            desc.extend_from_slice(&len.to_le_bytes());
            desc.extend_from_slice(&flags.to_le_bytes());
            desc.extend_from_slice(&(index + 1).to_le_bytes());
            assert!(self.dma.write(DESC + stride + 16 * u64::from(index), &desc));
        }
        let slot = AVAIL + stride + 4 + 2 * u64::from(self.avail_idx[q] % SIZE);
        assert!(self.dma.write(slot, &first.to_le_bytes()));
        self.avail_idx[q] = self.avail_idx[q].wrapping_add(1);
        assert!(self.dma.write(AVAIL + stride + 2, &self.avail_idx[q].to_le_bytes()));
        self.write(0x50, q as u32);
    }

    /// The next used element: (head, len).
    fn used(&mut self) -> Option<(u32, u32)> {
        let (q, stride) = (self.queue, self.queue as u64 * QUEUE_STRIDE);
        let mut idx = [0; 2];
        self.dma.read(USED + stride + 2, &mut idx);
        if u16::from_le_bytes(idx) == self.used_seen[q] {
            return None;
        }
        let mut elem = [0; 8];
        self.dma.read(USED + stride + 4 + 8 * u64::from(self.used_seen[q] % SIZE), &mut elem);
        self.used_seen[q] = self.used_seen[q].wrapping_add(1);
        let word = |at: usize| u32::from_le_bytes(elem[at..at + 4].try_into().unwrap());
        Some((word(0), word(4)))
    }

    fn bytes(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        assert!(self.dma.read(addr, &mut buf));
        buf
    }

    /// A driver of `device` with a copy of this one's RAM and of what it
    /// knows of its rings, its transport restored from `snapshot`: the
    /// machine this one's snapshot restores into.
    fn restored(&self, device: Box<dyn VirtioDevice>, snapshot: &[u8]) -> Result<Driver, SnapshotError> {
        let mut copy = Driver::new(device);
        assert!(copy.dma.write(RAM_BASE, &self.bytes(RAM_BASE, 1 << 20)));
        (copy.avail_idx, copy.used_seen, copy.queue) = (self.avail_idx, self.used_seen, self.queue);
        restore(&copy.transport, snapshot)?;
        Ok(copy)
    }

    /// What a driver can read of the transport: the offered features, each
    /// queue's maximum and readiness, the interrupt, the status, the
    /// configuration space.
    fn registers(&self) -> Vec<u32> {
        let mut registers = Vec::new();
        for select in [0, 1] {
            self.write(0x14, select);
            registers.push(self.read(0x10));
            self.write(0x30, select);
            registers.extend([self.read(0x34), self.read(0x44)]);
        }
        registers.extend([0x60, 0x70, 0xfc, 0x100, 0x104, 0x108, 0x10c].map(|offset| self.read(offset)));
        registers
    }
}

/// The transport's saved state.
fn saved(transport: &VirtioMmio) -> Vec<u8> {
    let mut out = Writer::new();
    transport.save(&mut out);
    out.into_bytes()
}

/// Restores `transport` from all of `bytes`.
fn restore(transport: &VirtioMmio, bytes: &[u8]) -> Result<(), SnapshotError> {
    let mut input = Reader::new(bytes, "the test's snapshot");
    transport.restore(&mut input)?;
    input.finish()
}

fn header(kind: u32, sector: u64) -> Vec<u8> {
    let mut bytes = kind.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(&sector.to_le_bytes());
    bytes
}

/// A disk image of `sectors` sectors, sector `i` filled with byte `i`.
fn image(name: &str, sectors: u8) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("polyhart-virtio-{name}-{}.img", std::process::id()));
    let bytes: Vec<u8> = (0..sectors).flat_map(|i| [i; 512]).collect();
    std::fs::write(&path, bytes).expect("the image is written");
    path
}

#[test]
fn an_empty_transport_is_found_and_passed_by() {
    let guest = allocate_ram(RAM_BASE, 1 << 16).expect("RAM");
    let dma = Dma::new(guest.ram.clone(), Arc::new(TranslationCache::new()));
    let transport = VirtioMmio::new(None, Level::default(), guest.mapping, dma);
    let read = |offset| transport.read(&CTX, offset, 4).expect("a register");
    assert_eq!((read(0), read(4), read(8)), (0x7472_6976, 2, 0));
    assert!(transport.read(&CTX, 0, 2).is_err(), "registers are 32-bit");
}

#[test]
fn the_disk_reads_writes_and_flushes_through_the_queue() {
    let path = image("rw", 8);
    let mut driver = Driver::new(Box::new(Block::open(&path, false).expect("the image opens")));
    assert_eq!((driver.read(0x8), driver.read(0x34)), (ID_BLOCK, 128));
    driver.write(0x14, 1);
    assert_eq!(driver.read(0x10), 1, "VERSION_1 is offered");
    driver.write(0x14, 0);
    let offered = driver.read(0x10);
    assert_eq!(offered & (1 << 5), 0, "a writable disk is not read-only");
    assert_ne!(offered & (1 << 9), 0, "flush is offered");
    let capacity = u64::from(driver.read(0x100)) | u64::from(driver.read(0x104)) << 32;
    assert_eq!(capacity, 8);
    assert_eq!(driver.set_up(F_VERSION_1) & 8, 8, "FEATURES_OK sticks");

    // Read sectors 2 and 3 into two buffers.
    assert!(driver.dma.write(DATA, &header(0, 2)));
    driver
        .submit(0, &[(DATA, 16, false), (DATA + 0x100, 512, true), (DATA + 0x400, 512, true), (DATA + 0x800, 1, true)]);
    assert_eq!(driver.used(), Some((0, 1025)));
    assert_eq!(driver.bytes(DATA + 0x100, 512), [2; 512]);
    assert_eq!(driver.bytes(DATA + 0x400, 512), [3; 512]);
    assert_eq!(driver.bytes(DATA + 0x800, 1), [0], "status OK");
    assert!(driver.irq.0.load(Ordering::SeqCst) && driver.read(0x60) == 1);
    driver.write(0x64, 1);
    assert!(!driver.irq.0.load(Ordering::SeqCst), "acknowledged");

    // Write sector 7, then flush: the file has it.
    assert!(driver.dma.write(DATA, &header(1, 7)));
    assert!(driver.dma.write(DATA + 0x100, &[0xab; 512]));
    driver.submit(4, &[(DATA, 16, false), (DATA + 0x100, 512, false), (DATA + 0x800, 1, true)]);
    assert_eq!(driver.used(), Some((4, 1)));
    assert_eq!(driver.bytes(DATA + 0x800, 1), [0]);
    assert!(driver.dma.write(DATA, &header(4, 0)));
    driver.submit(8, &[(DATA, 16, false), (DATA + 0x800, 1, true)]);
    assert_eq!(driver.used(), Some((8, 1)));
    assert_eq!(driver.bytes(DATA + 0x800, 1), [0]);
    let file = std::fs::read(&path).expect("the image");
    assert_eq!(&file[7 * 512..], &[0xab; 512][..]);
    assert_eq!(&file[6 * 512..7 * 512], &[6; 512][..]);

    // Past the end, or a part of a sector: an error, and the file unchanged.
    for (sector, len) in [(7, 1024), (8, 512), (u64::MAX / 256, 512), (0, 100)] {
        assert!(driver.dma.write(DATA, &header(1, sector)));
        driver.submit(0, &[(DATA, 16, false), (DATA + 0x100, len, false), (DATA + 0x800, 1, true)]);
        assert_eq!(driver.used(), Some((0, 1)));
        assert_eq!(driver.bytes(DATA + 0x800, 1), [1], "sector {sector}, {len} bytes: IOERR");
    }
    // An unknown request.
    assert!(driver.dma.write(DATA, &header(99, 0)));
    driver.submit(0, &[(DATA, 16, false), (DATA + 0x800, 1, true)]);
    assert_eq!(driver.used(), Some((0, 1)));
    assert_eq!(driver.bytes(DATA + 0x800, 1), [2], "UNSUPP");
    assert_eq!(std::fs::read(&path).expect("the image"), file, "nothing was written by failed requests");
    drop(driver);
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_read_only_disk_refuses_writes_and_says_so() {
    let path = image("ro", 2);
    let before = std::fs::read(&path).expect("the image");
    let mut driver = Driver::new(Box::new(Block::open(&path, true).expect("the image opens")));
    assert_ne!(driver.read(0x10) & (1 << 5), 0, "VIRTIO_BLK_F_RO");
    driver.set_up(F_VERSION_1 | 1 << 5);
    assert!(driver.dma.write(DATA, &header(1, 0)));
    driver.submit(0, &[(DATA, 16, false), (DATA + 0x100, 512, false), (DATA + 0x800, 1, true)]);
    assert_eq!(driver.used(), Some((0, 1)));
    assert_eq!(driver.bytes(DATA + 0x800, 1), [1], "IOERR");
    assert_eq!(std::fs::read(&path).expect("the image"), before);
    drop(driver);
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_writable_image_is_locked_against_a_second_user() {
    let path = image("lock", 1);
    let first = Block::open(&path, false).expect("the image opens");
    assert!(matches!(Block::open(&path, false), Err(DiskError::Locked { .. })));
    assert!(matches!(Block::open(&path, true), Err(DiskError::Locked { .. })));
    drop(first);
    assert!(Block::open(&path, true).is_ok());
    assert!(matches!(Block::open(Path::new("/nonexistent/disk.img"), false), Err(DiskError::Open { .. })));
    let _ = std::fs::remove_file(path);
}

#[test]
fn features_not_offered_or_without_version_1_are_refused() {
    let driver = Driver::new(Box::new(Rng::new(Entropy::Seeded(1))));
    assert_eq!(driver.set_up(0) & 8, 0, "legacy drivers are refused");
    assert_eq!(driver.set_up(F_VERSION_1 | 1 << 40) & 8, 0, "an unoffered feature is refused");
    assert_eq!(driver.set_up(F_VERSION_1) & 8, 8);
}

#[test]
fn hostile_chains_fail_cleanly() {
    let path = image("hostile", 4);
    let before = std::fs::read(&path).expect("the image");
    let mut driver = Driver::new(Box::new(Block::open(&path, false).expect("the image opens")));
    driver.set_up(F_VERSION_1);
    // A buffer outside RAM: returned unused, nothing read or written.
    assert!(driver.dma.write(DATA, &header(0, 0)));
    driver.submit(0, &[(DATA, 16, false), (0x1000, 512, true), (DATA + 0x800, 1, true)]);
    assert_eq!(driver.used(), Some((0, 0)));
    // A buffer that runs off the end of RAM.
    driver.submit(0, &[(DATA, 16, false), (RAM_BASE + (1 << 20) - 256, 512, true), (DATA + 0x800, 1, true)]);
    assert_eq!(driver.used(), Some((0, 0)));
    // A chain that loops back on itself ends at the queue's size.
    assert!(driver.dma.write(DATA, &header(1, 0)));
    driver.submit(0, &[(DATA, 16, false), (DATA + 0x100, 512, false)]);
    // Point the second descriptor back at the first: flags NEXT, next 0.
    assert!(driver.dma.write(DESC + 16 + 12, &[1, 0, 0, 0]));
    assert!(driver.dma.write(DESC + 16 + 14, &[0, 0]));
    driver.submit(0, &[(DATA, 16, false)]);
    while driver.used().is_some() {}
    // No status byte.
    driver.submit(0, &[(DATA, 16, false)]);
    assert_eq!(driver.used(), Some((0, 0)));
    // A notification for a queue that does not exist.
    driver.write(0x50, 7);
    assert_eq!(std::fs::read(&path).expect("the image"), before, "the image is untouched");
    drop(driver);
    let _ = std::fs::remove_file(path);
}

#[test]
fn entropy_fills_the_buffers_and_repeats_from_a_seed() {
    let run = || {
        let mut driver = Driver::new(Box::new(Rng::new(Entropy::Seeded(7))));
        assert_eq!(driver.read(0x8), ID_RNG);
        driver.set_up(F_VERSION_1);
        driver.submit(0, &[(DATA, 64, true)]);
        assert_eq!(driver.used(), Some((0, 64)));
        driver.bytes(DATA, 64)
    };
    let first = run();
    assert_eq!(first, run(), "seeded entropy repeats");
    assert!(first.iter().filter(|&&b| b == 0).count() < 8, "{first:?}");
    let mut host = Driver::new(Box::new(Rng::new(Entropy::host().expect("/dev/urandom"))));
    host.set_up(F_VERSION_1);
    host.submit(0, &[(DATA, 32, true)]);
    assert_eq!(host.used(), Some((0, 32)));
}

#[test]
fn a_reset_clears_the_device_and_its_interrupt() {
    let mut driver = Driver::new(Box::new(Rng::new(Entropy::Seeded(3))));
    driver.set_up(F_VERSION_1);
    driver.submit(0, &[(DATA, 8, true)]);
    assert!(driver.irq.0.load(Ordering::SeqCst));
    driver.transport.reset();
    assert!(!driver.irq.0.load(Ordering::SeqCst));
    assert_eq!((driver.read(0x70), driver.read(0x44), driver.read(0x60)), (0, 0, 0));
}

#[test]
fn dma_over_translated_code_drops_it() {
    let guest = allocate_ram(RAM_BASE, 1 << 16).expect("RAM");
    let dma = Dma::new(guest.ram.clone(), Arc::new(TranslationCache::new()));
    guest.ram.mark_code(0x1040);
    let stamp = guest.ram.reserve(0x2000);
    assert!(dma.write(RAM_BASE + 0x1000, &[0; 0x100]));
    assert!(!guest.ram.store_marks(0x1040, 1).code, "the code mark is taken");
    assert!(dma.write(RAM_BASE + 0x2000, &[1]));
    assert!(!guest.ram.reservation_intact(0x2000, stamp), "the reservation is broken");
    assert!(!dma.write(RAM_BASE + 0xfff0, &[0; 32]) && !dma.write(0, &[1]));
}

/// Waits up to two seconds for a used entry on the driver's queue.
fn used_soon(driver: &mut Driver) -> Option<(u32, u32)> {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(2) {
        if let Some(used) = driver.used() {
            return Some(used);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    None
}

#[test]
fn two_cards_on_a_socket_exchange_frames_in_qemus_framing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("its address").to_string();
    drop(listener);
    let a = Net::new([0x52, 0x54, 0, 0x12, 0x34, 0x56], &NetBackend::Listen(address.clone())).expect("listens");
    let b = Net::new([0x52, 0x54, 0, 0x12, 0x34, 0x57], &NetBackend::Connect(address)).expect("connects");
    let (mut a, mut b) = (Driver::new(Box::new(a)), Driver::new(Box::new(b)));
    // A's receiver thread looks for the connection every 20 ms; frames sent
    // before it takes it are dropped, as on a cable not yet plugged in.
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(a.read(0x8), ID_NET);
    assert_eq!((a.read(0x100), a.read(0x104) & 0xffff), (0x1200_5452, 0x5634), "MAC in the config space");
    assert_eq!(a.read(0x104) >> 16, 1, "link up");
    a.set_up(F_VERSION_1 | 1 << 5);
    b.set_up(F_VERSION_1 | 1 << 5);
    // B gives a receive buffer; A sends a frame after its 12-byte header.
    b.submit(0, &[(DATA, 2048, true)]);
    let frame: Vec<u8> = (0..60u8).collect();
    assert!(a.dma.write(DATA, &[0; 12]) && a.dma.write(DATA + 12, &frame));
    a.queue = 1;
    a.submit(0, &[(DATA, 12 + 60, false)]);
    assert_eq!(a.used(), Some((0, 0)), "sent");
    assert_eq!(used_soon(&mut b), Some((0, 72)), "received with its header");
    assert_eq!(b.bytes(DATA + 12, 60), frame);
    assert_eq!(b.bytes(DATA + 10, 2), [1, 0], "num_buffers");
    assert!(b.irq.0.load(Ordering::SeqCst), "the receiver interrupts the guest from its own thread");

    // A frame that arrives before there is a buffer waits for one.
    b.queue = 1;
    assert!(b.dma.write(DATA, &[0; 12]) && b.dma.write(DATA + 12, &[0xee; 42]));
    b.submit(0, &[(DATA, 12 + 42, false)]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    a.queue = 0;
    a.submit(4, &[(DATA + 0x1000, 2048, true)]);
    assert_eq!(used_soon(&mut a), Some((4, 54)));
    assert_eq!(a.bytes(DATA + 0x1000 + 12, 42), [0xee; 42]);
}

#[test]
fn the_framing_on_the_wire_is_a_big_endian_length_and_the_frame() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("its address").to_string();
    let card = Net::new([2, 0, 0, 0, 0, 1], &NetBackend::Connect(address)).expect("connects");
    let (mut peer, _) = listener.accept().expect("the card connects");
    let mut driver = Driver::new(Box::new(card));
    driver.set_up(F_VERSION_1);
    driver.queue = 1;
    assert!(driver.dma.write(DATA, &[0; 12]) && driver.dma.write(DATA + 12, b"hello, wire"));
    driver.submit(0, &[(DATA, 12 + 11, false)]);
    let mut got = [0u8; 15];
    std::io::Read::read_exact(&mut peer, &mut got).expect("a framed frame");
    assert_eq!(&got[..4], &11u32.to_be_bytes());
    assert_eq!(&got[4..], b"hello, wire");
    // The peer sends one back, as QEMU would.
    let mut message = 5u32.to_be_bytes().to_vec();
    message.extend_from_slice(b"howdy");
    std::io::Write::write_all(&mut peer, &message).expect("sent");
    driver.queue = 0;
    driver.submit(0, &[(DATA + 0x1000, 64, true)]);
    assert_eq!(used_soon(&mut driver), Some((0, 17)));
    assert_eq!(driver.bytes(DATA + 0x1000 + 12, 5), b"howdy");
    // A length beyond any frame: the card hangs up rather than allocate it.
    std::io::Write::write_all(&mut peer, &u32::MAX.to_be_bytes()).expect("sent");
    let mut rest = [0u8; 1];
    peer.set_read_timeout(Some(std::time::Duration::from_secs(2))).expect("a timeout");
    assert_eq!(std::io::Read::read(&mut peer, &mut rest).ok(), Some(0), "the card closed the connection");
}

#[test]
fn a_card_that_cannot_reach_its_peer_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("its address").to_string();
    drop(listener);
    assert!(matches!(Net::new([0; 6], &NetBackend::Connect(address)), Err(NetError::Connect { .. })));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = taken.local_addr().expect("its address").to_string();
    assert!(matches!(Net::new([0; 6], &NetBackend::Listen(address)), Err(NetError::Listen { .. })));
}

#[test]
fn a_restored_entropy_device_draws_what_the_saved_one_draws_next() {
    let mut driver = Driver::new(Box::new(Rng::new(Entropy::Seeded(11))));
    driver.set_up(F_VERSION_1);
    driver.submit(0, &[(DATA, 16, true)]);
    assert_eq!(driver.used(), Some((0, 16)));
    // Left unacknowledged: the restored line is high too.
    let snapshot = saved(&driver.transport);
    let mut copy = driver.restored(Box::new(Rng::new(Entropy::Seeded(11))), &snapshot).expect("restores");
    assert!(copy.irq.0.load(Ordering::SeqCst), "the interrupt line follows the interrupt status");
    assert_eq!(copy.registers(), driver.registers());
    for driver in [&mut driver, &mut copy] {
        driver.submit(1, &[(DATA + 0x100, 32, true)]);
        assert_eq!(driver.used(), Some((1, 32)));
    }
    assert_eq!(copy.bytes(DATA + 0x100, 32), driver.bytes(DATA + 0x100, 32));
    assert_ne!(copy.bytes(DATA + 0x100, 16), driver.bytes(DATA, 16), "the sequence goes on, not over");
    assert_eq!(saved(&copy.transport), saved(&driver.transport));
}

#[test]
fn a_restored_disk_serves_the_next_request_as_the_saved_one_does() {
    let (path, smaller, writable) = (image("snap", 4), image("snap-small", 2), image("snap-rw", 4));
    let open = |path: &Path, read_only| Box::new(Block::open(path, read_only).expect("the image opens"));
    let mut driver = Driver::new(open(&path, true));
    driver.set_up(F_VERSION_1);
    assert!(driver.dma.write(DATA, &header(0, 1)));
    driver.submit(0, &[(DATA, 16, false), (DATA + 0x100, 512, true), (DATA + 0x800, 1, true)]);
    assert_eq!(driver.used(), Some((0, 513)));
    driver.write(0x64, 1);
    let snapshot = saved(&driver.transport);
    let mut copy = driver.restored(open(&path, true), &snapshot).expect("restores");
    assert!(!copy.irq.0.load(Ordering::SeqCst), "the interrupt was acknowledged");
    assert_eq!(copy.registers(), driver.registers());
    for driver in [&mut driver, &mut copy] {
        assert!(driver.dma.write(DATA, &header(0, 3)));
        driver.submit(4, &[(DATA, 16, false), (DATA + 0x100, 512, true), (DATA + 0x800, 1, true)]);
        assert_eq!(driver.used(), Some((4, 513)));
        assert_eq!(driver.bytes(DATA + 0x100, 512), [3; 512]);
        assert!(driver.irq.0.load(Ordering::SeqCst));
    }
    assert_eq!(copy.bytes(RAM_BASE, 1 << 20), driver.bytes(RAM_BASE, 1 << 20), "the same RAM after");
    // Another disk's size, or a writable disk where a read-only one was.
    for other in [open(&smaller, true), open(&writable, false)] {
        let error = driver.restored(other, &snapshot).err();
        assert!(matches!(error, Some(SnapshotError::Mismatch(_))), "{error:?}");
    }
    drop((driver, copy));
    [path, smaller, writable].iter().for_each(|path| drop(std::fs::remove_file(path)));
}

#[test]
fn a_restored_card_is_activated_again_for_its_receiver_thread() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("its address").to_string();
    let card = |mac| Net::new([2, 0, 0, 0, 0, mac], &NetBackend::Connect(address.clone())).expect("connects");
    let mut driver = Driver::new(Box::new(card(1)));
    let _first_peer = listener.accept().expect("the card connects");
    driver.set_up(F_VERSION_1 | 1 << 5);
    // A receive buffer waits in the ring when the snapshot is taken.
    driver.submit(0, &[(DATA, 2048, true)]);
    let snapshot = saved(&driver.transport);
    let mut copy = driver.restored(Box::new(card(1)), &snapshot).expect("restores");
    let (mut peer, _) = listener.accept().expect("the copy connects");
    let mut message = 5u32.to_be_bytes().to_vec();
    message.extend_from_slice(b"again");
    std::io::Write::write_all(&mut peer, &message).expect("sent");
    // Nothing but the card's own thread hands the frame over.
    assert_eq!(used_soon(&mut copy), Some((0, 17)));
    assert_eq!(copy.bytes(DATA + 12, 5), b"again");
    assert!(copy.irq.0.load(Ordering::SeqCst));
}

#[test]
fn a_snapshot_of_another_device_or_source_does_not_restore() {
    let rng = Driver::new(Box::new(Rng::new(Entropy::Seeded(5))));
    rng.set_up(F_VERSION_1);
    let snapshot = saved(&rng.transport);
    let path = image("other", 2);
    let disk = Driver::new(Box::new(Block::open(&path, true).expect("the image opens")));
    let guest = allocate_ram(RAM_BASE, 1 << 16).expect("RAM");
    let dma = Dma::new(guest.ram.clone(), Arc::new(TranslationCache::new()));
    let empty = VirtioMmio::new(None, Level::default(), guest.mapping, dma);
    let host = Driver::new(Box::new(Rng::new(Entropy::host().expect("/dev/urandom"))));
    for transport in [&disk.transport, &empty, &host.transport] {
        let error = restore(transport, &snapshot).err();
        assert!(matches!(error, Some(SnapshotError::Mismatch(_))), "{error:?}");
    }
    assert_eq!(disk.read(0x70), 0, "a mismatch leaves the transport as it was");
    let nothing = saved(&empty);
    restore(&empty, &nothing).expect("an empty slot restores into an empty slot");
    assert!(matches!(restore(&rng.transport, &nothing), Err(SnapshotError::Mismatch(_))));
    assert_eq!(rng.read(0x70), 0xf);
    drop(disk);
    let _ = std::fs::remove_file(path);
}

#[test]
fn damaged_snapshots_are_errors_never_panics() {
    let mut driver = Driver::new(Box::new(Rng::new(Entropy::Seeded(9))));
    driver.set_up(F_VERSION_1);
    driver.submit(0, &[(DATA, 8, true)]);
    let snapshot = saved(&driver.transport);
    let target = Driver::new(Box::new(Rng::new(Entropy::Seeded(9))));
    for len in 0..snapshot.len() {
        assert!(restore(&target.transport, &snapshot[..len]).is_err(), "{len} bytes restore");
    }
    for at in 0..snapshot.len() {
        let mut damaged = snapshot.clone();
        damaged[at] ^= 0xff;
        let _ = restore(&target.transport, &damaged);
    }
    restore(&target.transport, &snapshot).expect("the whole snapshot restores");

    // Section "virtio-mmio" (a name of 8 + 11 bytes, a length of 8), the
    // device ID, selectors, features and registers (36 bytes), the count
    // of queues (8): then queue 0's maximum and size, each a u32.
    let queue = 19 + 8 + 36 + 8;
    let with = |at: usize, value: u32| {
        let mut bytes = snapshot.clone();
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        restore(&target.transport, &bytes)
    };
    for size in [0, 15, 128, 0x1_0000] {
        assert!(matches!(with(queue + 4, size), Err(SnapshotError::Invalid(_))), "queue size {size}");
    }
    assert!(matches!(with(queue, 32), Err(SnapshotError::Mismatch(_))), "another maximum");
    // The high half of the driver features (12 bytes into the fields)
    // cleared: FEATURES_OK without VERSION_1.
    assert!(matches!(with(19 + 8 + 12 + 4, 0), Err(SnapshotError::Invalid(_))));
    assert_eq!(target.read(0x70), 0xf, "a bad transport part leaves the transport as it was");

    // The entropy source's kind, 9 bytes from the end: a bad device part
    // leaves the transport reset.
    let mut bytes = snapshot.clone();
    let kind = bytes.len() - 9;
    bytes[kind] = 7;
    assert!(matches!(restore(&target.transport, &bytes), Err(SnapshotError::Invalid(_))));
    assert_eq!((target.read(0x70), target.read(0x44)), (0, 0));
    assert!(!target.irq.0.load(Ordering::SeqCst));
}
