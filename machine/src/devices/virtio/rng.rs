//! virtio-rng (virtio 1.2, section 5.4): fills the driver's buffers with
//! entropy from the host, or, for runs that must repeat exactly, with a
//! sequence from a seed.
//!
//! A snapshot of a seeded device holds where it is in its sequence, so that
//! a restored run draws the bytes the saved one would have drawn next.

use std::fs::File;
use std::io::Read;

use polyhart_iss::snapshot::{Reader, SnapshotError, Writer};

use super::{ID_RNG, Queues, VirtioDevice};

/// The queue's size.
const QUEUE_SIZE: u16 = 64;
/// At most this many bytes per request (Linux asks for 64 at a time).
const MOST_PER_REQUEST: usize = 4096;

/// Where the bytes come from.
#[derive(Debug)]
pub enum Entropy {
    /// The host's `/dev/urandom`.
    Host(File),
    /// A fixed sequence from a seed (SplitMix64), the same every run: not
    /// for guests that need secrets, for runs that must repeat.
    Seeded(u64),
}

impl Entropy {
    /// The host's entropy source.
    pub fn host() -> std::io::Result<Entropy> {
        File::open("/dev/urandom").map(Entropy::Host)
    }

    fn fill(&mut self, buf: &mut [u8]) -> bool {
        match self {
            Entropy::Host(file) => file.read_exact(buf).is_ok(),
            Entropy::Seeded(state) => {
                for chunk in buf.chunks_mut(8) {
                    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    let mut z = *state;
                    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                    z ^= z >> 31;
                    chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
                }
                true
            }
        }
    }
}

/// A virtio entropy device.
#[derive(Debug)]
pub struct Rng {
    entropy: Entropy,
}

impl Rng {
    /// An entropy device drawing from `entropy`.
    pub fn new(entropy: Entropy) -> Rng {
        Rng { entropy }
    }
}

impl VirtioDevice for Rng {
    fn device_id(&self) -> u32 {
        ID_RNG
    }

    fn features(&self) -> u64 {
        0
    }

    fn queue_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }

    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    /// Writes the source's kind and, for a seeded one, its place in the
    /// sequence. A snapshot restores only into a source of the same kind:
    /// host entropy is not a sequence to continue, and a seeded run resumed
    /// from the host's would no longer repeat.
    fn save(&self, out: &mut Writer) {
        out.section("virtio-rng", |out| match &self.entropy {
            Entropy::Host(_) => out.u8(0),
            Entropy::Seeded(state) => {
                out.u8(1);
                out.u64(*state);
            }
        });
    }

    fn restore(&mut self, input: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let mut input = input.section("virtio-rng")?;
        let seeded = match input.u8()? {
            0 => None,
            1 => Some(input.u64()?),
            other => return Err(input.invalid(format_args!("entropy source kind {other}"))),
        };
        input.finish()?;
        match (&mut self.entropy, seeded) {
            (Entropy::Host(_), None) => Ok(()),
            (Entropy::Seeded(state), Some(saved)) => {
                *state = saved;
                Ok(())
            }
            (Entropy::Host(_), Some(_)) => Err(SnapshotError::Mismatch(
                "the virtio entropy source was seeded when saved, and is the host's here".into(),
            )),
            (Entropy::Seeded(_), None) => Err(SnapshotError::Mismatch(
                "the virtio entropy source was the host's when saved, and is seeded here".into(),
            )),
        }
    }

    fn notify(&mut self, queue: usize, queues: &mut Queues<'_>) {
        let mut buf = [0; MOST_PER_REQUEST];
        while let Some(chain) = queues.pop(queue) {
            let len = (chain.writable_len() as usize).min(MOST_PER_REQUEST);
            let written = self.entropy.fill(&mut buf[..len]) && chain.write(queues.dma(), 0, &buf[..len]);
            queues.push_used(queue, chain.head, if written { len as u32 } else { 0 });
        }
    }
}
