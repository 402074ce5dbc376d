//! virtio-net (virtio 1.2, section 5.1) with a socket backend that speaks
//! QEMU's `-netdev socket` framing: each Ethernet frame as a 4-byte
//! big-endian length and the frame, over a TCP stream. Two polyhart
//! machines, or a polyhart machine and a QEMU one, share a wire this way,
//! without root and without a host network device.
//!
//! Frames cross threads so that a hart never waits on the network: the
//! guest's transmissions go to a sender thread through a bounded queue (a
//! full queue drops the frame, as a congested link would), and a receiver
//! thread reads frames into a bounded queue of its own and asks the
//! transport to hand them to the guest ([`DeviceEvents::signal`]), which
//! takes the transport's lock only briefly.
//!
//! A snapshot holds nothing of the card beyond its queues (which the
//! transport saves): its MAC address and link are configuration, given
//! again to the machine restored into, and frames waiting in the backend
//! in either direction are not saved. A restored card starts with no
//! frame received and not yet delivered, as if its cable had been out for
//! a moment; frames the restored-over machine had queued for sending may
//! still go out.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{Chain, DeviceEvents, ID_NET, Queues, VirtioDevice};

/// Queue indices.
const RX: usize = 0;
const TX: usize = 1;
/// Each queue's size.
const QUEUE_SIZE: u16 = 256;

// Feature bits (virtio 1.2, section 5.1.3).
const F_MAC: u64 = 1 << 5;
const F_STATUS: u64 = 1 << 16;
/// `status`: the link is up.
const S_LINK_UP: u16 = 1;

/// `struct virtio_net_hdr_v1`, which precedes every frame in the rings.
const HEADER_SIZE: usize = 12;
/// The largest frame carried: an Ethernet frame with a VLAN tag, with room
/// to spare (no segmentation offloads are offered, so the guest sends no
/// more).
const MAX_FRAME: usize = 9216;
/// Frames waiting in either direction before more are dropped.
const BACKLOG: usize = 256;

/// Why a network backend cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The address to listen on cannot be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// `HOST:PORT`.
        address: String,
        /// What the host said.
        #[source]
        source: std::io::Error,
    },
    /// Nothing listens at the address to connect to.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// `HOST:PORT`.
        address: String,
        /// What the host said.
        #[source]
        source: std::io::Error,
    },
    /// A helper thread could not be started.
    #[error("cannot start the network threads: {0}")]
    Thread(#[source] std::io::Error),
}

/// Where a virtio network card's frames go: QEMU's `-netdev socket`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetBackend {
    /// Waits for a peer to connect to `HOST:PORT` (an empty host: every
    /// address), and for another when it goes.
    Listen(String),
    /// Connects to a peer listening at `HOST:PORT`.
    Connect(String),
}

/// The stream to the peer, once there is one, and whether the device is
/// gone.
#[derive(Debug, Default)]
struct Link {
    stream: Mutex<Option<TcpStream>>,
    closed: AtomicBool,
}

impl Link {
    fn stream(&self) -> MutexGuard<'_, Option<TcpStream>> {
        self.stream.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the connection (a broken frame or a write error).
    fn hang_up(&self) {
        if let Some(stream) = self.stream().take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// What the receiver thread shares with the device.
#[derive(Debug, Default)]
struct Inbox {
    frames: Mutex<VecDeque<Vec<u8>>>,
    events: Mutex<Option<DeviceEvents>>,
}

impl Inbox {
    fn frames(&self) -> MutexGuard<'_, VecDeque<Vec<u8>>> {
        self.frames.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn events(&self) -> MutexGuard<'_, Option<DeviceEvents>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A virtio network card on a socket backend.
#[derive(Debug)]
pub struct Net {
    mac: [u8; 6],
    link: Arc<Link>,
    inbox: Arc<Inbox>,
    outbox: SyncSender<Vec<u8>>,
}

impl Net {
    /// A card with address `mac` on `backend`: binds or connects now (so a
    /// bad address is an error here), and starts the threads that move its
    /// frames.
    pub fn new(mac: [u8; 6], backend: &NetBackend) -> Result<Net, NetError> {
        let link = Arc::new(Link::default());
        let inbox = Arc::new(Inbox::default());
        let listener = match backend {
            NetBackend::Listen(address) => {
                let bind = if address.starts_with(':') { format!("0.0.0.0{address}") } else { address.clone() };
                let listener = TcpListener::bind(&bind)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|source| NetError::Listen { address: address.clone(), source })?;
                Some(listener)
            }
            NetBackend::Connect(address) => {
                let stream = TcpStream::connect(address)
                    .map_err(|source| NetError::Connect { address: address.clone(), source })?;
                *link.stream() = Some(stream);
                None
            }
        };
        let (outbox, outgoing) = std::sync::mpsc::sync_channel(BACKLOG);
        let (rx_link, rx_inbox) = (link.clone(), inbox.clone());
        std::thread::Builder::new()
            .name("polyhart-net-rx".into())
            .spawn(move || receive(&rx_link, &rx_inbox, listener))
            .map_err(NetError::Thread)?;
        let tx_link = link.clone();
        std::thread::Builder::new()
            .name("polyhart-net-tx".into())
            .spawn(move || send(&tx_link, &outgoing))
            .map_err(NetError::Thread)?;
        Ok(Net { mac, link, inbox, outbox })
    }

    /// Hands waiting frames to the guest while it has buffers for them.
    fn deliver(&mut self, queues: &mut Queues<'_>) {
        loop {
            let Some(frame) = self.inbox.frames().pop_front() else { return };
            let Some(chain) = queues.pop(RX) else {
                self.inbox.frames().push_front(frame);
                return;
            };
            let mut header = [0u8; HEADER_SIZE];
            // num_buffers: the frame fits one chain.
            header[10] = 1;
            let fits = chain.writable_len() >= (HEADER_SIZE + frame.len()) as u64;
            let written =
                fits && chain.write(queues.dma(), 0, &header) && chain.write(queues.dma(), HEADER_SIZE as u64, &frame);
            if !written {
                tracing::warn!(len = frame.len(), "virtio-net: a receive buffer too small for a frame; dropped");
            }
            let len = if written { HEADER_SIZE + frame.len() } else { 0 };
            tracing::debug!(len = frame.len(), head = chain.head, "virtio-net: a frame to the guest");
            queues.push_used(RX, chain.head, len as u32);
        }
    }

    /// Sends what the guest transmitted.
    fn transmit(&mut self, queues: &mut Queues<'_>) {
        while let Some(chain) = queues.pop(TX) {
            if let Some(frame) = frame_of(&chain, queues) {
                tracing::debug!(len = frame.len(), head = chain.head, "virtio-net: a frame from the guest");
                match self.outbox.try_send(frame) {
                    Ok(()) | Err(TrySendError::Full(_)) => {}
                    Err(TrySendError::Disconnected(_)) => tracing::warn!("virtio-net: the sender thread is gone"),
                }
            }
            queues.push_used(TX, chain.head, 0);
        }
    }
}

/// The frame a transmit chain carries (after its header), if it is one.
fn frame_of(chain: &Chain, queues: &Queues<'_>) -> Option<Vec<u8>> {
    let len = chain.readable_len().checked_sub(HEADER_SIZE as u64)?;
    if len == 0 || len > MAX_FRAME as u64 {
        tracing::warn!(len, "virtio-net: a frame of no or too many bytes; dropped");
        return None;
    }
    let mut frame = vec![0; len as usize];
    chain.read(queues.dma(), HEADER_SIZE as u64, &mut frame).then_some(frame)
}

impl Drop for Net {
    fn drop(&mut self) {
        self.link.closed.store(true, Ordering::Release);
        self.link.hang_up();
    }
}

/// The sender thread: writes each frame with its length to the peer, or
/// drops it while there is none. Ends when the device is dropped.
fn send(link: &Link, outgoing: &Receiver<Vec<u8>>) {
    while let Ok(frame) = outgoing.recv() {
        let stream = link.stream().as_ref().and_then(|s| s.try_clone().ok());
        let Some(mut stream) = stream else { continue };
        let mut message = (frame.len() as u32).to_be_bytes().to_vec();
        message.extend_from_slice(&frame);
        if let Err(error) = stream.write_all(&message) {
            tracing::warn!(%error, "virtio-net: cannot send to the peer; hanging up");
            link.hang_up();
        }
    }
}

/// The receiver thread: waits for a peer (when listening), reads frames
/// into the inbox and signals the device, until the device is dropped.
fn receive(link: &Link, inbox: &Inbox, listener: Option<TcpListener>) {
    loop {
        if link.closed.load(Ordering::Acquire) {
            return;
        }
        let stream = link.stream().as_ref().and_then(|s| s.try_clone().ok());
        let stream = match (stream, &listener) {
            (Some(stream), _) => stream,
            (None, Some(listener)) => match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let Ok(reader) = stream.try_clone() else { continue };
                    *link.stream() = Some(stream);
                    reader
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            },
            // Connected once, and the peer went: nothing more will come.
            (None, None) => return,
        };
        read_frames(stream, inbox);
        link.hang_up();
    }
}

/// Reads frames from `stream` until it ends or breaks the framing.
fn read_frames(mut stream: TcpStream, inbox: &Inbox) {
    loop {
        let mut length = [0; 4];
        if let Err(error) = stream.read_exact(&mut length) {
            tracing::debug!(%error, "virtio-net: the peer is gone");
            return;
        }
        let len = u32::from_be_bytes(length) as usize;
        if len > MAX_FRAME {
            tracing::warn!(len, "virtio-net: the peer sent a frame too large; hanging up");
            return;
        }
        let mut frame = vec![0; len];
        if stream.read_exact(&mut frame).is_err() {
            return;
        }
        {
            let mut frames = inbox.frames();
            if frames.len() >= BACKLOG {
                tracing::debug!("virtio-net: the guest takes no frames; one dropped");
                continue;
            }
            frames.push_back(frame);
        }
        let events = inbox.events().clone();
        if let Some(events) = events {
            events.signal();
        }
    }
}

impl VirtioDevice for Net {
    fn device_id(&self) -> u32 {
        ID_NET
    }

    fn features(&self) -> u64 {
        F_MAC | F_STATUS
    }

    fn queue_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE, QUEUE_SIZE]
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // struct virtio_net_config up to status: mac, status.
        let mut config = [0u8; 8];
        config[..6].copy_from_slice(&self.mac);
        config[6..8].copy_from_slice(&S_LINK_UP.to_le_bytes());
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = usize::try_from(offset).ok().and_then(|o| config.get(o + i)).copied().unwrap_or(0);
        }
    }

    fn activate(&mut self, _features: u64, events: DeviceEvents) {
        *self.inbox.events() = Some(events);
    }

    fn notify(&mut self, queue: usize, queues: &mut Queues<'_>) {
        match queue {
            RX => self.deliver(queues),
            TX => self.transmit(queues),
            _ => {}
        }
    }

    fn poll(&mut self, queues: &mut Queues<'_>) {
        self.deliver(queues);
    }

    fn reset(&mut self) {
        *self.inbox.events() = None;
        self.inbox.frames().clear();
    }
}
